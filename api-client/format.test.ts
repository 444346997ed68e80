import { describe, expect, it } from "vitest";
import { formatTon, parseTon } from "./format";

describe("TON amounts (issue 10: money is never a float)", () => {
  it.each([
    ["5", 5_000_000_000n],
    ["0.25", 250_000_000n],
    ["12.000000001", 12_000_000_001n],
    [" 7 ", 7_000_000_000n],
    // past 2^53 nanoTON: a float would round this to …784
    ["123456789.123456789", 123_456_789_123_456_789n],
  ])("parseTon(%j) is exactly %s nanoTON", (text, nano) => {
    expect(parseTon(text)).toBe(nano);
  });

  it.each(["abc", "-1", "1e3", ".5", "5.", "1.0000000001", "", "0x10"])("parseTon(%j) is refused with invalid_amount", (text) => {
    expect(() => parseTon(text)).toThrow(expect.objectContaining({ code: "invalid_amount" }));
  });

  it.each(["0", "0.000000000", " 0 "])(
    "parseTon(%j, { positive }) is refused in TON, as typed: the commands that move money take no zero",
    (text) => {
      expect(parseTon(text)).toBe(0n);
      expect(() => parseTon(text, { positive: true })).toThrow(
        expect.objectContaining({ code: "invalid_amount", message: `the amount must be more than 0 TON (e.g. 5 or 0.25), got "${text}"` }),
      );
    },
  );

  it("formatTon prints nanoTON as TON without losing a digit", () => {
    expect(formatTon(0n)).toBe("0 TON");
    expect(formatTon("1500000000")).toBe("1.5 TON");
    expect(formatTon(1n)).toBe("0.000000001 TON");
    expect(formatTon(123_456_789_123_456_789n)).toBe("123456789.123456789 TON");
  });
});
