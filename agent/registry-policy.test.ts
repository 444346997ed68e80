/**
 * issue 15: the agent acts on the registry's policy as the coordinator and the SDK do: its image
 * and each served model's attested digest (agent/attest.ts policyRefusal, which the runtime asks
 * before running a job), and its settings name the registry it reads itself (agent/config.ts).
 */
import { describe, expect, it } from "vitest";
import { DEV_IMAGE_DIGEST, type PolicyReading } from "../core/policy-registry";
import { ownImageDigest, policyRefusal } from "./attest";
import { ConfigError, resolveConfig } from "./config";

const LISTED = "1a".repeat(32);
const OTHER = "2b".repeat(32);

/** A reading of a registry listing `images` and `models` (digest → base price). */
const reading = (images: string[], models: Record<string, bigint>): PolicyReading => ({
  version: 4,
  updatedAt: 1,
  readAt: 1,
  policy: {
    coordinatorKey: "11".repeat(32),
    fees: { pricePerToken: 100n, promptBps: 2_500, completionBps: 10_000, operatorFeeBps: 0 },
    images,
    models,
  },
});

describe("issue 15: the agent's own check against the registry", () => {
  it("a served model whose attested digest the registry does not list is refused; a listed one passes", () => {
    // Prepare
    const r = reading([DEV_IMAGE_DIGEST], { [LISTED]: 0n });
    const self = (digest?: string) => ({
      tier: "dev" as const,
      image: DEV_IMAGE_DIGEST,
      models: ["m"],
      ...(digest ? { modelDigests: { m: digest } } : {}),
    });

    // Act / Assess
    expect(policyRefusal(r, self(LISTED))).toBeUndefined();
    expect(policyRefusal(r, self(OTHER))).toMatch(/model m digest 2b2b.* is not on the policy registry's allow-list \(policy v4\)/);
    expect(policyRefusal(r, self())).toMatch(/model m is served without an attested digest/);
  });

  it("a registry that lists no model digest checks no model", () => {
    expect(policyRefusal(reading([DEV_IMAGE_DIGEST], {}), { tier: "dev", image: DEV_IMAGE_DIGEST, models: ["m"] })).toBeUndefined();
  });

  it("a delisted image is refused; an agent that cannot name its image (tdx without registers) is checked on its models only", () => {
    const r = reading([], {});
    expect(policyRefusal(r, { tier: "dev", image: DEV_IMAGE_DIGEST, models: ["m"] })).toMatch(/image is not on the policy registry/);
    expect(policyRefusal(r, { tier: "tdx", models: ["m"] })).toBeUndefined();
  });

  it("a dev agent names its image as the registry does; tdx and none name none by themselves", () => {
    expect(ownImageDigest("dev")).toBe(DEV_IMAGE_DIGEST);
    expect(ownImageDigest("tdx")).toBeUndefined();
    expect(ownImageDigest("none")).toBeUndefined();
  });
});

describe("issue 15: the agent's registry settings", () => {
  const file = "/nonexistent/agent.json";

  it("from the environment, with a default age bound of 600 s", () => {
    // Act
    const { config } = resolveConfig({
      file,
      env: { COCOON_REGISTRY_ADDRESS: "0:" + "cd".repeat(32), COCOON_TON_ENDPOINT: "https://toncenter.com/api/v2/jsonRPC" },
    });

    // Assess
    expect(config).toMatchObject({
      registryAddress: "0:" + "cd".repeat(32),
      tonEndpoint: "https://toncenter.com/api/v2/jsonRPC",
      policyMaxAgeSeconds: 600,
    });
  });

  it("a registry without a toncenter endpoint is refused, naming the setting", () => {
    const attempt = () => resolveConfig({ file, env: {}, flags: { registryAddress: "0:" + "cd".repeat(32) } });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/tonEndpoint.*toncenter endpoint/);
  });

  it("the age bound is a whole number of seconds, at least 10", () => {
    expect(() => resolveConfig({ file, env: { COCOON_POLICY_MAX_AGE_SECONDS: "5" } })).toThrow(
      /policyMaxAgeSeconds \(COCOON_POLICY_MAX_AGE_SECONDS\)/,
    );
  });
});
