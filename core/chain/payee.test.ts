import { describe, expect, it } from "vitest";
import { OPERATOR_PAYEE_ID } from "./store-ledger";
import { payeeHex, payeeHexToUint, payeeUint, payeeUintToHex } from "./payee";

describe("on-chain payee ids (vault v2: the voucher high-water mark is per payee)", () => {
  it("is SHA-256 over a domain tag and the id: fixed for an id, 64 lowercase hex, and the uint256 the vault keys its payout wallet by", () => {
    // Prepare
    const id = "pfHGf0Q0JS0JqYfDzjGR4r5dQ6b9t3wZr0b8dD1lT2A";
    // Act
    const hex = payeeHex(id);
    // Assess (the vectors below: a change of the derivation moves every payout wallet, and fails here)
    expect(hex).toMatch(/^[0-9a-f]{64}$/);
    expect(payeeUint(id)).toBe(BigInt("0x" + hex));
    expect(payeeUintToHex(payeeUint(id))).toBe(hex);
    expect(payeeHexToUint(hex)).toBe(payeeUint(id));
    expect(payeeHex("w1")).toBe("bcf2c2a10aae57572df8af6cc4da810cf36c75d8dee4b66bb9a1146f8bb8379e");
    expect(payeeHex(OPERATOR_PAYEE_ID)).toBe("a539a7aed9fc6fdf76d91d0a652eb3d28ea817006f9ba67dc68a52a09a6e30e5");
  });

  it("two ids never share a payee: the operator's, a worker's and near-identical ids all differ", () => {
    const ids = [OPERATOR_PAYEE_ID, "w1", "w2", "w1 ", "W1", "opr:operator\0"];
    expect(new Set(ids.map(payeeHex)).size).toBe(ids.length);
  });

  it("a payee that is not 64 lowercase hex digits is refused before it reaches a cell", () => {
    for (const bad of ["", "ab", "AB".repeat(32), "g".repeat(64), "a".repeat(65)])
      expect(() => payeeHexToUint(bad)).toThrow(/64 lowercase hex/);
  });
});
