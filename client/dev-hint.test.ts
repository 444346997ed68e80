/**
 * devHintFor: which commands' refusals for want of a tdx worker may name the dev opt-in, and which
 * opt-in. `cocoon ask` had none (only `cocoon serve` named --allow-dev); both share this one now.
 */
import { describe, expect, it } from "vitest";
import { ALLOW_DEV_OPT_IN, devHintFor } from "./dev-hint";

const retry = "run cocoon ask again";

describe("devHintFor", () => {
  it.each(["http://127.0.0.1:8787", "http://127.0.0.2:8790", "http://localhost:8787", "http://[::1]:8787"])(
    "on loopback %s without dev allowed: --allow-dev",
    (apiUrl) => {
      expect(devHintFor({ apiUrl, allowDev: false, retry })).toEqual({ optIn: ALLOW_DEV_OPT_IN, retry });
    },
  );

  it.each(["https://api.cocoon.example", "http://10.0.0.5:8787", "not a url"])("off loopback (%s): never, whatever the tiers", (apiUrl) => {
    expect(devHintFor({ apiUrl, allowDev: false, retry })).toBeUndefined();
    expect(devHintFor({ apiUrl, allowDev: false, tiers: ["tdx"], retry })).toBeUndefined();
  });

  it("dev allowed already, with the default tiers: none (dev was accepted, and refused for another reason)", () => {
    expect(devHintFor({ apiUrl: "http://127.0.0.1:8787", allowDev: true, retry })).toBeUndefined();
  });

  it("tiers named (ask --tier) without dev: that list with dev added, and --allow-dev where it is not given", () => {
    const apiUrl = "http://127.0.0.1:8787";
    expect(devHintFor({ apiUrl, allowDev: false, tiers: ["tdx"], retry })?.optIn).toBe("--allow-dev --tier tdx,dev");
    expect(devHintFor({ apiUrl, allowDev: true, tiers: ["tdx", "none"], retry })?.optIn).toBe("--tier tdx,none,dev");
    expect(devHintFor({ apiUrl, allowDev: false, tiers: ["dev"], retry })).toBeUndefined();
  });
});
