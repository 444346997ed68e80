/**
 * What `npm run synth` / `sst deploy` warns of before it builds (stacks/Cocoon.ts
 * missingSettingWarnings), without synthesizing (test/stacks.test.ts does, in about a minute).
 */
import { describe, expect, it } from "vitest";
import { missingSettingWarnings } from "../stacks/Cocoon";
import { COMPLETE_PROD_SETTINGS } from "../stacks/settings-testing";

const complete = COMPLETE_PROD_SETTINGS;

describe("deploy warnings of settings left out", () => {
  it("every setting the README calls required (and the route concurrency on prod) given: none", () => {
    expect(missingSettingWarnings("prod", complete)).toEqual([]);
  });

  it("nothing set: the anchor and the coordinator's seed are named too, not only the keys and the chain", () => {
    // Regression: with nothing set, synth said nothing of COCOON_ANCHOR_ADDRESS, COCOON_ANCHOR_SEED_PARAM or the coordinator's seed.
    // Act
    const w = missingSettingWarnings("dev", {});
    // Assess
    expect(w.map((x) => x.split(" ")[0])).toEqual([
      "COCOON_QUOTE_KEY",
      "COCOON_SESSION_KEY",
      "COCOON_TON_ENDPOINT",
      "COCOON_COORDINATOR_SEED",
      "COCOON_ANCHOR_ADDRESS",
    ]);
    expect(w[4]).toMatch(/^COCOON_ANCHOR_ADDRESS \/ COCOON_ANCHOR_SEED are not set: the receipt anchorer will fail/);
  });

  it("a secret left out is advised in its stage's form: a value on dev, its SSM parameter (_PARAM) on prod", () => {
    // Regression: prod was told "set it (openssl rand -hex 32)", a plain value the production stage warns of.
    // Act
    const dev = missingSettingWarnings("dev", {});
    const prod = missingSettingWarnings("prod", {});
    // Assess
    expect(dev.find((w) => w.startsWith("COCOON_QUOTE_KEY "))).toContain("set it (openssl rand -hex 32) and redeploy");
    expect(prod.find((w) => w.startsWith("COCOON_QUOTE_KEY "))).toContain(
      "store it (openssl rand -hex 32) as an SSM SecureString, set COCOON_QUOTE_KEY_PARAM to the parameter's name and redeploy",
    );
    expect(prod.map((w) => w.split(" ")[0])).toEqual([
      "COCOON_ROUTE_CONCURRENCY",
      "COCOON_QUOTE_KEY",
      "COCOON_SESSION_KEY",
      "COCOON_TON_ENDPOINT",
      "COCOON_COORDINATOR_SEED_PARAM",
      "COCOON_ANCHOR_ADDRESS",
    ]);
  });

  it("COCOON_FAUCET and COCOON_ALLOW_DEV_ATTESTATION on a production stage are said to be ignored, not dropped in silence; a dev stage takes them", () => {
    // Prepare
    const dev = { COCOON_FAUCET: "true", COCOON_ALLOW_DEV_ATTESTATION: "true" };
    // Act
    const onProd = missingSettingWarnings("prod", { ...complete, ...dev });
    const onDev = missingSettingWarnings("dev", { ...complete, ...dev });
    // Assess
    expect(onProd).toEqual([
      "COCOON_FAUCET=true is ignored on the production stage prod: no faucet, no SIMULATED (dev) attestations there; unset it",
      "COCOON_ALLOW_DEV_ATTESTATION=true is ignored on the production stage prod: no faucet, no SIMULATED (dev) attestations there; unset it",
    ]);
    expect(onDev).toEqual([]);
  });
});
