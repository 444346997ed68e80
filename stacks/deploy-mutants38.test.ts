/**
 * Mutants of the deploy checks written in session 38 (stacks/Cocoon.ts missingRequiredSettings,
 * the deploy script's deps; helper mut38) that stacks/deploy.test.ts, test/stacks-ops.test.ts and
 * test/stacks-warnings.test.ts left alive: the anchor seed named in its stage's form, a plain
 * setting given as a `_PARAM` name, and the script dropping its action. (The IoT endpoint's
 * length bound, which lived too, is among stacks/deploy.test.ts's endpoints.)
 */
import { describe, expect, it } from "vitest";
import { missingRequiredSettings } from "./Cocoon";
import { deployCommand, scriptDeps } from "./deploy";
import { COMPLETE_PROD_SETTINGS } from "./settings-testing";

const complete = COMPLETE_PROD_SETTINGS;

describe("missingRequiredSettings: each setting in the form its stage takes", () => {
  it("a dev stage names the secrets as values (it reads no SSM parameter), a production stage by their parameters", () => {
    // Act
    const dev = missingRequiredSettings("dev", {});
    const prod = missingRequiredSettings("prod", {});
    // Assess
    expect(dev.flatMap((m) => m.variables)).toEqual([
      "COCOON_QUOTE_KEY",
      "COCOON_SESSION_KEY",
      "COCOON_TON_ENDPOINT",
      "COCOON_VAULT_ADDRESS",
      "COCOON_COORDINATOR_SEED",
      "COCOON_ANCHOR_ADDRESS",
      "COCOON_ANCHOR_SEED",
    ]);
    expect(dev.map((m) => m.warning.split(" is")[0]!.split(" are")[0])).toEqual([
      "COCOON_QUOTE_KEY",
      "COCOON_SESSION_KEY",
      "COCOON_TON_ENDPOINT / COCOON_VAULT_ADDRESS",
      "COCOON_COORDINATOR_SEED",
      "COCOON_ANCHOR_ADDRESS / COCOON_ANCHOR_SEED",
    ]);
    expect(prod.map((m) => m.warning.split(" is")[0]!.split(" are")[0])).toEqual([
      "COCOON_QUOTE_KEY",
      "COCOON_SESSION_KEY",
      "COCOON_TON_ENDPOINT / COCOON_VAULT_ADDRESS",
      "COCOON_COORDINATOR_SEED_PARAM",
      "COCOON_ANCHOR_ADDRESS / COCOON_ANCHOR_SEED_PARAM",
    ]);
    expect(dev[0]!.warning).toMatch(/; set it \(openssl rand -hex 32\) and redeploy$/);
    expect(prod[0]!.warning).toMatch(/as an SSM SecureString, set COCOON_QUOTE_KEY_PARAM to the parameter's name and redeploy$/);
  });
});

describe("missingRequiredSettings: only a secret is read from SSM", () => {
  it("a plain setting given as <name>_PARAM is missing (the functions read no parameter for it)", () => {
    // Prepare
    const { COCOON_VAULT_ADDRESS: vault, ...rest } = complete;
    // Act
    const missing = missingRequiredSettings("prod", { ...rest, COCOON_VAULT_ADDRESS_PARAM: vault });
    // Assess
    expect(missing.flatMap((m) => m.variables)).toEqual(["COCOON_VAULT_ADDRESS"]);
    expect(missingRequiredSettings("prod", complete)).toEqual([]);
  });
});

describe("the script's own deps (npm run deploy)", () => {
  it("hand the action to the settings preflight: a production deploy from a shell without the required settings is refused, missing_settings, before any AWS call", async () => {
    // Prepare: the script's deps as they are, but no COCOON_* setting in the shell and an STS that must not be asked
    const err: string[] = [];
    const saved = { ...process.env };
    for (const k of Object.keys(process.env)) if (k.startsWith("COCOON_")) delete process.env[k];
    let asked = false;
    try {
      // Act
      const code = await deployCommand("deploy", ["--stage", "prod"], {
        ...scriptDeps,
        whoAmI: async () => {
          asked = true;
          throw new Error("STS must not be asked");
        },
        sst: async () => 0,
        out: () => undefined,
        err: (l) => err.push(l),
      });
      // Assess
      expect(code).toBe(2);
      expect(asked).toBe(false);
      expect(err.join("\n")).toMatch(/^error \[missing_settings\]: the production stage prod would be deployed without /);
    } finally {
      process.env = saved;
    }
  });
});
