/**
 * issue 12: the functions that dispatch jobs (POST /v1/jobs, the matching consumer) get the relay's
 * session vendor in their deps where the stack gives them the relay environment, and only there.
 */
import { describe, expect, it } from "vitest";
import type { CoreDeps } from "../core/deps";
import type { RelaySessionVendor } from "../core/relay-access";
import { makeJobWorld } from "../core/jobs/testing";
import { withRelaySessions } from "./deps-relay";

const RELAY_ENV = {
  COCOON_RELAY_TRANSPORT: "sqs",
  COCOON_RELAY_ROLE_ARN: "arn:aws:iam::210987654321:role/prod-cocoon-Cocoon-RelayRole-1A2B3C",
  COCOON_RELAY_PREFIX: "cocoon-prod",
};

/** Factory: a provider of fresh core deps that counts its builds. */
function countingProvider(extra: Partial<CoreDeps> = {}) {
  let builds = 0;
  const provider = () => {
    builds++;
    return Promise.resolve({ ...makeJobWorld().deps, ...extra });
  };
  return { provider, builds: () => builds };
}

describe("withRelaySessions", () => {
  it("with the relay environment: the deps carry a vendor, built once per container", async () => {
    // Prepare
    const { provider, builds } = countingProvider();
    const withVendor = withRelaySessions(provider, RELAY_ENV);
    // Act
    const [a, b] = await Promise.all([withVendor(), withVendor()]);
    // Assess
    expect(a.relaySessions).toBeDefined();
    expect(typeof a.relaySessions?.forWorker).toBe("function");
    expect(b).toBe(a);
    expect(builds()).toBe(1);
  });

  it("without it: the deps as they were (nothing rides in the dispatch); deps that bring their own vendor keep it", async () => {
    // Prepare
    const own: RelaySessionVendor = {
      forWorker: () => Promise.reject(new Error("unused")),
      forRequester: () => Promise.reject(new Error("unused")),
      forAccount: () => Promise.reject(new Error("unused")),
    };
    // Act
    const plain = await withRelaySessions(countingProvider().provider, {})();
    const kept = await withRelaySessions(countingProvider({ relaySessions: own }).provider, RELAY_ENV)();
    // Assess
    expect(plain.relaySessions).toBeUndefined();
    expect(kept.relaySessions).toBe(own);
  });
});
