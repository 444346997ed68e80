import { describe, expect, it } from "vitest";
import { NanoTon, NanoTonString } from "./common";
import { Voucher } from "./money";
import { SignedWithdrawalView } from "./withdrawals";

const SIGNATURE = Buffer.alloc(64, 7).toString("base64");
const ADDRESS = "0:" + "ab".repeat(32);
const voucher = {
  vault: ADDRESS,
  payee: "5e".repeat(32),
  worker: "EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2N",
  cumulative: "123",
  expiry: 1_800_000_000,
  signature: SIGNATURE,
};
const withdrawal = {
  vault: ADDRESS,
  account: "8Jk3n6vB0cQ1yZ2xW4tR5sP7oN9mL0kJ3hG5fD1sA2q",
  to: ADDRESS,
  amount: "5",
  seqno: 0,
  expiry: 1_800_000_000,
  signature: SIGNATURE,
};

describe("issue 10: the voucher and withdrawal shapes, checked once by their schema", () => {
  it("accept what the coordinator signs (raw or user-friendly addresses, 64-byte base64 signatures)", () => {
    expect(Voucher.parse(voucher)).toEqual(voucher);
    expect(SignedWithdrawalView.parse(withdrawal)).toEqual(withdrawal);
  });

  it.each([
    ["a short signature", { signature: "AAAA" }],
    ["a 65-byte signature", { signature: Buffer.alloc(65).toString("base64") }],
    ["a negative amount", { cumulative: "-1" }],
    ["an amount as a number", { cumulative: 123 }],
    ["an address that is none", { worker: "nope" }],
    ["a payee that is not 64 lowercase hex", { payee: "5E".repeat(32) }],
    ["a short payee", { payee: "5e".repeat(31) }],
    ["no payee (a vault v1 voucher)", { payee: undefined }],
    ["a fractional expiry", { expiry: 1.5 }],
  ])("a voucher with %s is refused", (_what, change) => {
    expect(Voucher.safeParse({ ...voucher, ...change }).success).toBe(false);
  });

  it.each([
    ["a short signature", { signature: "AAAA" }],
    ["an account that is not a key", { account: "alice" }],
    ["a decimal amount", { amount: "1.5" }],
    ["a negative seqno", { seqno: -1 }],
  ])("a withdrawal with %s is refused", (_what, change) => {
    expect(SignedWithdrawalView.safeParse({ ...withdrawal, ...change }).success).toBe(false);
  });

  it("one nanoTON schema: decimal strings on the wire, read into bigints", () => {
    expect(NanoTonString.safeParse("1000000000").success).toBe(true);
    for (const bad of ["1.5", "-1", "1e9", "", " 1", "1".repeat(31)]) expect(NanoTonString.safeParse(bad).success, bad).toBe(false);
    expect(NanoTon.parse("42")).toBe(42n);
    expect(NanoTon.parse(42n)).toBe(42n);
    expect(NanoTon.safeParse(42).success).toBe(false);
  });
});
