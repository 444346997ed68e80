import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { engineSeed, SEED_SPAN } from "./engine";

describe("engineSeed: a request's seed, as engines are handed it", () => {
  it("keeps 0 … 2^32 − 2 as they are, so the seeds that worked before give the same text", () => {
    expect([0, 1, 7, 2 ** 31, 2 ** 32 - 2].map((s) => engineSeed(s))).toEqual([0, 1, 7, 2 ** 31, 2 ** 32 - 2]);
  });

  it("folds the rest in modulo 2^32 − 1: −1, 2^40 and 2^32 − 1 are not seed 0, and never llama.cpp's random seed", () => {
    expect(engineSeed(-1)).toBe(2 ** 32 - 2);
    expect(engineSeed(2 ** 40)).toBe(256);
    // 2^32 − 1 is llama.cpp's "draw a random seed": handed on, the same request gave another text each time
    expect(engineSeed(2 ** 32 - 1)).toBe(0);
    expect(engineSeed(-(2 ** 31) + 1)).toBe(2 ** 31);
    expect(engineSeed(2 ** 31 - 1)).toBe(2 ** 31 - 1);
  });

  it("maps the seed before it adds the choice: the n choices of one request get n seeds, at the range's edges too", () => {
    expect([0, 1].map((i) => engineSeed(-1, i))).toEqual([2 ** 32 - 2, 0]);
    expect([0, 1, 2].map((i) => engineSeed(2 ** 32 - 2, i))).toEqual([2 ** 32 - 2, 0, 1]);
    expect([0, 1].map((i) => engineSeed(2 ** 40, i))).toEqual([256, 257]);
  });

  it("any safe integer: a whole number below 2^32 − 1, congruent to seed + choice (so any 2^32 − 1 consecutive seeds stay distinct)", () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), fc.integer({ min: 0, max: 127 }), (seed, choice) => {
        const e = engineSeed(seed, choice);
        expect(Number.isSafeInteger(e) && e >= 0 && e < SEED_SPAN).toBe(true);
        expect((BigInt(seed) + BigInt(choice) - BigInt(e)) % BigInt(SEED_SPAN)).toBe(0n);
      }),
    );
  });
});
