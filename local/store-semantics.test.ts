import { describe, expect, it } from "vitest";
import { applyUpdate, compareValues, evalCondition, isExpired, StoreValidationError } from "./store-semantics";

describe("store semantics", () => {
  it("orders strings by UTF-8 bytes like DynamoDB (astral after U+FFFF)", () => {
    expect(compareValues("\u{1F600}", "\uffff")).toBe(1);
    expect("\u{1F600}" < "\uffff").toBe(true); // JS's UTF-16 order differs
  });

  it("compares numbers and bigints exactly, and nothing across types", () => {
    expect(compareValues(2n ** 64n + 1n, 2 ** 64)).toBe(1); // Number(2n ** 64n + 1n) would tie
    expect(compareValues(10n, 10)).toBe(0);
    expect(compareValues("10", 10)).toBeUndefined();
    expect(evalCondition({ kind: "cmp", attr: "a", op: "<>", value: 1 }, { pk: "p", sk: "s", a: "1" })).toBe(false);
  });

  it("in matches a bigint attribute against number values", () => {
    expect(evalCondition({ kind: "in", attr: "a", values: [1, 2] }, { pk: "p", sk: "s", a: 2n })).toBe(true);
    expect(evalCondition({ kind: "in", attr: "a", values: ["2"] }, { pk: "p", sk: "s", a: 2n })).toBe(false);
  });

  it("an empty and holds", () => {
    expect(evalCondition({ kind: "and", all: [] }, undefined)).toBe(true);
  });

  it("applyUpdate does not mutate the current item", () => {
    const current = { pk: "p", sk: "s", n: 1, gone: "x" };
    const next = applyUpdate(current, { key: current, set: { gone: undefined }, add: { n: 2 } });
    expect(next).toEqual({ pk: "p", sk: "s", n: 3 });
    expect(current).toEqual({ pk: "p", sk: "s", n: 1, gone: "x" });
  });

  it("refuses to add a fractional number to a bigint with STORE_NOT_A_NUMBER", () => {
    const call = () => applyUpdate({ pk: "p", sk: "s", n: 1n }, { key: { pk: "p", sk: "s" }, add: { n: 0.5 } }, 3);
    expect(call).toThrow(StoreValidationError);
    expect(call).toThrow(expect.objectContaining({ code: "STORE_NOT_A_NUMBER", index: 3 }));
  });

  it("expires at the ttl second, not after it", () => {
    expect(isExpired({ pk: "p", sk: "s", ttl: 100 }, 99_999)).toBe(false);
    expect(isExpired({ pk: "p", sk: "s", ttl: 100 }, 100_000)).toBe(true);
    expect(isExpired({ pk: "p", sk: "s" }, Number.MAX_SAFE_INTEGER)).toBe(false);
  });
});
