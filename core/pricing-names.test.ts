/**
 * Issue 14 (found by the handler fuzz): model names are free text within ModelName's alphabet,
 * so a worker could register "constructor" or "toString". The per-model price table is a plain
 * object; looking such a name up read an inherited function and POST /v1/agents answered 500.
 */
import { describe, expect, it } from "vitest";
import { makeJobWorld, registered } from "./jobs/testing";
import { DEFAULT_PRICING, pricePerToken } from "./pricing";

const PROTOTYPE_NAMES = ["constructor", "toString", "valueOf", "hasOwnProperty", "__proto__", "isPrototypeOf"];

describe("issue 14 (fuzz): model names that are Object.prototype members", () => {
  it.each(PROTOTYPE_NAMES)("issue 14: %s is priced at the default base price (an inherited function was read)", (model) => {
    expect(pricePerToken(DEFAULT_PRICING, model, 10_000)).toBe(DEFAULT_PRICING.defaultBasePerToken);
  });

  it("a listed model still gets its own price", () => {
    expect(pricePerToken({ ...DEFAULT_PRICING, basePerToken: { "big/model": 1_000n } }, "big/model", 15_000)).toBe(1_500n);
  });

  it("issue 14: a worker offering a model named constructor registers (it was a 500)", async () => {
    const w = makeJobWorld();
    const { out } = await registered(w, { models: [{ model: "constructor", priceBps: 10_000 }], capacity: 1 });
    expect(out.models).toEqual(["constructor"]);
  });
});
