/**
 * Vault v2, end to end on the sandbox vault: the vault keeps what it paid per payee (a worker's
 * or the operator's id, hashed: core/chain/payee.ts), not per payout address. Before, a GPU owner
 * with two agents needed two TON addresses, and a worker could squat an address before its
 * owner's first voucher (409 payout_address_taken). Here two workers share one address through
 * the coordinator (core/payouts.ts), the real vault and the watcher: each is paid exactly its
 * own cumulative, a replay pays nothing, and each redemption is booked against its own payee.
 */
import { describe, expect, it } from "vitest";
import { toNano } from "@ton/core";
import { payeeUint } from "../../core/chain/payee";
import type { CoreDeps } from "../../core/deps";
import { applyMovement, requesterAccount, workerAccount } from "../../core/ledger";
import { issueVoucher, payoutTotals, type PayoutDeps } from "../../core/payouts";
import { voucherFromJson } from "./ton-chain";
import { NOW, twoFundedRequesters } from "./ton-chain-testing";
import { tonVoucherSigner } from "./ton-voucher-signer";

describe("vault v2: two workers paid to one payout address", () => {
  it("each is vouchered and paid exactly its own cumulative, a replay pays nothing, and the watcher books each against its own earnings", async () => {
    // Prepare: Alice's deposit settled to two workers of one owner (2 and 3 TON); the owner's one wallet
    const f = await twoFundedRequesters();
    const { chain, store, alerts, alice } = f;
    const deps = { ...f.deps, voucherSigner: tonVoucherSigner(chain.coordinator.secretKey, chain.vaultAddress) } as CoreDeps & PayoutDeps;
    const owner = await chain.wallet("gpu-owner");
    const shared = owner.address.toRawString();
    const earned = { w1: toNano("2"), w2: toNano("3") } as const;
    for (const [id, amount] of Object.entries(earned)) {
      await store.transact([{ op: "put", table: "workers", item: { pk: id, sk: "worker", workerId: id } }]);
      await applyMovement(store, {
        id: `settle:job-${id}`,
        kind: "settle",
        at: NOW * 1000,
        postings: [
          { account: requesterAccount(alice), field: "available", delta: -amount },
          { account: workerAccount(id), field: "available", delta: amount },
        ],
      });
    }
    const before = await chain.walletBalance(owner.address);

    // Act: both vouchered to the shared address, both redeemed, the first one again
    const v1 = voucherFromJson(await issueVoucher(deps, "w1", shared)).voucher;
    const v2 = voucherFromJson(await issueVoucher(deps, "w2", shared)).voucher;
    const r1 = await chain.redeem(owner, v1);
    const r2 = await chain.redeem(owner, v2);
    const replay = await chain.redeem(owner, v1);
    const pass = await f.watch();

    // Assess: the vault paid each payee its own cumulative, into the one wallet
    expect([r1.success, r2.success, replay.success]).toEqual([true, true, false]);
    expect(replay.error).toBe("ERR_NOTHING_TO_PAY");
    expect(await chain.paid(payeeUint("w1"))).toBe(earned.w1);
    expect(await chain.paid(payeeUint("w2"))).toBe(earned.w2);
    expect((await chain.vault.getTotals()).paid).toBe(earned.w1 + earned.w2);
    const got = (await chain.walletBalance(owner.address)) - before;
    expect(got).toBeGreaterThan(earned.w1 + earned.w2 - toNano("0.1")); // less the Redeems' fees
    expect(got).toBeLessThan(earned.w1 + earned.w2);
    // and the watcher booked each redemption against its own payee's vouchers, nothing unmatched
    expect(pass.redemptions).toBe(2);
    expect(alerts.raised.filter((a) => a.severity === "critical")).toEqual([]);
    expect(await payoutTotals(store, "w1")).toMatchObject({
      earned: earned.w1,
      redeemed: earned.w1,
      unredeemed: 0n,
      payoutAddress: shared,
    });
    expect(await payoutTotals(store, "w2")).toMatchObject({
      earned: earned.w2,
      redeemed: earned.w2,
      unredeemed: 0n,
      payoutAddress: shared,
    });
    const totals = await chain.vault.getTotals();
    expect(await f.ledger.liabilities()).toBe(totals.deposited - totals.withdrawn - totals.paid);
  });
});
