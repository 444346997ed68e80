import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_PRICING, jobCost, maxJobCost, pricePerToken } from "./pricing";

describe("pricing", () => {
  it("applies the worker coefficient and the prompt/completion multipliers, rounding up", () => {
    const cfg = { ...DEFAULT_PRICING, basePerToken: { big: 1_000n }, defaultBasePerToken: 100n, promptBps: 2_500, completionBps: 10_000 };
    expect(pricePerToken(cfg, "big", 15_000)).toBe(1_500n);
    expect(pricePerToken(cfg, "other", 10_001)).toBe(101n); // 100.01 → 101
    expect(jobCost(cfg, 100n, { promptTokens: 10, completionTokens: 5 })).toBe(750n); // 10×25 + 5×100
    expect(jobCost(cfg, 3n, { promptTokens: 1, completionTokens: 0 })).toBe(1n); // 0.75 → 1
  });

  it("never charges more than the quote for usage within the maxima (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt(1n, 10_000n), { minLength: 1, maxLength: 5 }),
        fc.nat(5000),
        fc.nat(5000),
        fc.nat(5000),
        fc.nat(5000),
        (prices, mp, mt, p, c) => {
          const quote = maxJobCost(DEFAULT_PRICING, prices, mp, mt);
          const usage = { promptTokens: Math.min(p, mp), completionTokens: Math.min(c, mt) };
          for (const price of prices) expect(jobCost(DEFAULT_PRICING, price, usage) <= quote).toBe(true);
        },
      ),
    );
  });
});
