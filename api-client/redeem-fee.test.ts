import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REDEEM_FEES, redeemFeeWarning } from "./vault-messages";

describe("REDEEM_FEES: what the vault's Redeem costs in network fees", () => {
  it("is the gas table's (contracts/gas.json redeemFirst and redeemNext), so the CLIs' warning follows the contract", () => {
    // Prepare
    const gas = JSON.parse(readFileSync(join(import.meta.dirname, "..", "contracts", "gas.json"), "utf8")) as {
      ops: Record<string, { fees: string }>;
    };
    // Assess
    expect(REDEEM_FEES.toString()).toBe(gas.ops.redeemNext!.fees);
    expect(REDEEM_FEES.toString()).toBe(gas.ops.redeemFirst!.fees);
  });
});

describe("redeemFeeWarning", () => {
  it("warns below the fees only: nothing due and enough due get none", () => {
    // Act
    const below = redeemFeeWarning(REDEEM_FEES - 1n, { sent: false });
    // Assess
    expect(below).toMatchObject({ code: "redeem_below_fee", due: (REDEEM_FEES - 1n).toString(), fees: REDEEM_FEES.toString() });
    expect(below?.message).toContain("loses money; wait until more is due");
    expect(redeemFeeWarning(0n, { sent: false })).toBeUndefined();
    expect(redeemFeeWarning(REDEEM_FEES, { sent: false })).toBeUndefined();
  });
});
