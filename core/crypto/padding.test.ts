import { describe, expect, it } from "vitest";
import { padJson, paddedLength, PaddingInputError } from "./padding";

/** Every bucket from `floor` up to `cap`, computed the slow way: ⌈floor · 2^(k/4)⌉. */
function buckets(floor: number, cap: number): number[] {
  const out = new Set<number>();
  for (let k = 0; floor * 2 ** (k / 4) < cap; k++) out.add(Math.ceil(floor * 2 ** (k / 4)));
  out.add(cap);
  return [...out].sort((a, b) => a - b);
}

describe("paddedLength: the smallest bucket that holds a length", () => {
  it("is, for every length up to the cap, the smallest of ⌈floor · 2^(k/4)⌉ (or the cap) not below it", () => {
    // Prepare
    const o = { floor: 256, cap: 70_000 };
    const all = buckets(o.floor, o.cap);
    // Act + Assess
    for (let n = 0; n <= o.cap; n++) {
      const want = all.find((b) => b >= n)!;
      if (paddedLength(n, o) !== want) expect({ n, got: paddedLength(n, o) }).toEqual({ n, got: want });
    }
  });

  it("gives a guess good to 2^(1/4): a bucket is never more than ~19 % past what it holds, above the floor", () => {
    const o = { floor: 1024, cap: 8 * 1024 * 1024 };
    for (let n = o.floor + 1; n < o.cap; n = Math.ceil(n * 1.003)) expect(paddedLength(n, o) / n).toBeLessThan(2 ** 0.25 + 0.001);
  });

  it("lengths in one bucket pad alike; the next length past a bucket pads to the next", () => {
    const o = { floor: 256, cap: 1 << 20 };
    expect(paddedLength(1, o)).toBe(256);
    expect(paddedLength(256, o)).toBe(256);
    expect(paddedLength(257, o)).toBe(Math.ceil(256 * 2 ** 0.25)); // 305
    expect(paddedLength(305, o)).toBe(305);
    expect(paddedLength(306, o)).toBe(Math.ceil(256 * 2 ** 0.5)); // 363
    expect(paddedLength(512, o)).toBe(512);
  });

  it("never pads past the cap, and leaves a length at or past it alone", () => {
    const o = { floor: 256, cap: 1000 };
    expect(paddedLength(900, o)).toBe(1000);
    expect(paddedLength(1000, o)).toBe(1000);
    expect(paddedLength(5000, o)).toBe(5000);
  });

  it.each([
    ["a negative length", -1, { floor: 1, cap: 2 }],
    ["a fractional length", 1.5, { floor: 1, cap: 2 }],
    ["a floor of 0", 1, { floor: 0, cap: 2 }],
    ["a cap below the floor", 1, { floor: 4, cap: 2 }],
  ])("refuses %s", (_what, n, o) => {
    expect(() => paddedLength(n, o)).toThrow(PaddingInputError);
  });

  it("names what it refuses", () => {
    const e = (() => {
      try {
        paddedLength(-1, { floor: 1, cap: 2 });
      } catch (x) {
        return x as Error;
      }
    })();
    expect(e?.name).toBe("PaddingInputError");
    expect(e?.message).toBe("a length must be a non-negative integer, got -1");
    expect(() => paddedLength(1, { floor: 4, cap: 2 })).toThrow("padding needs 1 ≤ floor ≤ cap, got floor 4, cap 2");
  });

  it("takes a floor of 1 and a cap equal to the floor", () => {
    expect(paddedLength(3, { floor: 1, cap: 100 })).toBe(3); // 1, 2 (⌈1.19⌉), 2, 2, 2, 3, …
    expect(paddedLength(1, { floor: 8, cap: 8 })).toBe(8);
  });
});

describe("padJson: JSON followed by spaces to its bucket", () => {
  it("reads back as the same value, and is exactly its bucket long", () => {
    // Prepare
    const value = { text: "héllo", usage: { completionTokens: 3 } };
    const json = new TextEncoder().encode(JSON.stringify(value));
    // Act
    const padded = padJson(json, { floor: 256, cap: 4096 });
    // Assess
    expect(padded.length).toBe(256);
    expect(JSON.parse(new TextDecoder().decode(padded))).toEqual(value);
    expect(padded.subarray(0, json.length)).toEqual(json);
    expect(new Set(padded.subarray(json.length))).toEqual(new Set([0x20]));
  });

  it("returns a JSON text already at its bucket as it is", () => {
    const json = new TextEncoder().encode(`"${"a".repeat(254)}"`);
    expect(padJson(json, { floor: 256, cap: 4096 })).toBe(json);
  });
});
