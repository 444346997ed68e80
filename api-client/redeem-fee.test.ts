import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Address, Cell, internal, SendMode } from "@ton/core";
import { keyPairFromSeed } from "@ton/crypto";
import { Blockchain } from "@ton/sandbox";
import { WalletContractV5R1 } from "@ton/ton";
import { describe, expect, it } from "vitest";
import { WALLET_STORAGE } from "../contracts/vault";
import { standInVoucher } from "./stand-in-testing";
import {
  PAYOUT_WALLET_RESERVE,
  REDEEM_FEES,
  REDEEM_SENDER_FEE,
  redeemCost,
  redeemFeeWarning,
  redeemMessage,
  VAULT_MESSAGE_VALUE,
} from "./vault-messages";

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

describe("what a Redeem costs besides the vault's fees", () => {
  it("a first Redeem leaves the new payout wallet's storage reserve (contracts/vault.tact WALLET_STORAGE, checked there against the source)", () => {
    expect(PAYOUT_WALLET_RESERVE).toBe(WALLET_STORAGE);
    expect(redeemCost(true) - redeemCost(false)).toBe(WALLET_STORAGE);
  });

  it("REDEEM_SENDER_FEE is what a deployed wallet v5r1 pays to send the Redeem with its gas attached (measured in @ton/sandbox)", async () => {
    // Prepare: a deployed wallet v5r1 (its first transfer deploys it, and costs more), and a vault that takes anything
    const blockchain = await Blockchain.create();
    blockchain.now = 1_750_000_000;
    const key = keyPairFromSeed(Buffer.alloc(32, 7));
    const wallet = blockchain.openContract(WalletContractV5R1.create({ workchain: 0, publicKey: key.publicKey }));
    const funder = await blockchain.treasury("funder");
    const vault = await blockchain.treasury("vault");
    await funder.send({ to: wallet.address, value: 10_000_000_000n, bounce: false });
    const payee = new Address(0, randomBytes(32)).toString({ bounceable: false });
    const m = redeemMessage({ ...standInVoucher(payee, 5_000_000_000n), vault: vault.address.toString() });
    const send = async () => {
      const before = (await blockchain.getContract(wallet.address)).balance;
      await wallet.sendTransfer({
        seqno: await wallet.getSeqno(),
        secretKey: key.secretKey,
        sendMode: SendMode.PAY_GAS_SEPARATELY | SendMode.IGNORE_ERRORS,
        messages: [internal({ to: vault.address, value: BigInt(m.amount), body: Cell.fromBase64(m.body), bounce: true })],
      });
      return before - (await blockchain.getContract(wallet.address)).balance - VAULT_MESSAGE_VALUE;
    };
    await send(); // deploys the wallet
    // Act: in the same second (no storage rent)
    const fee = await send();
    // Assess
    expect(fee).toBe(REDEEM_SENDER_FEE);
  });
});

describe("redeemFeeWarning", () => {
  it("warns below what a later Redeem costs (the vault's fees and the sending wallet's), nothing due and enough due get none", () => {
    // Act
    const below = redeemFeeWarning(redeemCost(false) - 1n, { sent: false, first: false });
    // Assess
    expect(below).toMatchObject({
      code: "redeem_below_fee",
      due: (redeemCost(false) - 1n).toString(),
      fees: redeemCost(false).toString(),
      first: false,
    });
    expect(below?.message).toContain("loses money; wait until more is due");
    expect(redeemFeeWarning(0n, { sent: false, first: false })).toBeUndefined();
    expect(redeemFeeWarning(redeemCost(false), { sent: false, first: false })).toBeUndefined();
  });

  it("counts the sending wallet's fee: a Redeem paying just the vault's fees loses money", () => {
    // Act
    const w = redeemFeeWarning(REDEEM_FEES, { sent: false, first: false });
    // Assess
    expect(w?.message).toBe(
      "this Redeem pays 0.010725316 TON due, less than the ≈ 0.014877716 TON it costs (0.010725316 TON of network fees and ≈ 0.0041524 TON for the sending wallet): sending it loses money; wait until more is due (vouchers are cumulative: a later one pays everything due then, in one Redeem)",
    );
  });

  it("a first Redeem to the address (it deploys the payout wallet) costs the wallet's reserve more, and says so", () => {
    // Act
    const first = redeemFeeWarning(redeemCost(false), { sent: false, first: true });
    // Assess
    expect(first).toMatchObject({ due: redeemCost(false).toString(), fees: redeemCost(true).toString(), first: true });
    expect(first?.message).toMatch(
      /^this Redeem pays 0\.014877716 TON due, less than the ≈ 0\.016877716 TON it costs \(a first Redeem to this address: .*, and 0\.002 TON kept by the payout wallet it deploys\): sending it loses money/,
    );
    expect(redeemFeeWarning(redeemCost(true), { sent: false, first: true })).toBeUndefined();
  });

  it("where the CLI cannot tell whether it is the first: a later Redeem's figure, saying what a first one costs more", () => {
    // Act
    const unknown = redeemFeeWarning(1_000_000n, { sent: false });
    // Assess
    expect(unknown).toMatchObject({ fees: redeemCost(false).toString() });
    expect(unknown).not.toHaveProperty("first");
    expect(unknown?.message).toContain("it costs (a later Redeem's: ");
    expect(unknown?.message).toContain("a first one to this address costs 0.002 TON more, kept by the payout wallet it deploys");
  });

  it.each([true, false, undefined])("is one line (first: %s), sent or not", (first) => {
    for (const sent of [true, false])
      expect(redeemFeeWarning(1n, { sent, ...(first !== undefined ? { first } : {}) })?.message).not.toContain("\n");
  });
});
