/**
 * Review (session 27, chain): a withdrawal seqno can die on chain with nothing paid. Two
 * withdrawals of ONE account in flight on an under-collateralised vault (docs/security.md,
 * "Under-collateral from gas"): the account wallet approves seqno 0 and then seqno 1; the vault
 * refuses 0 at payment (its balance went to another payment meanwhile) and pays the smaller 1.
 * The refusal bounces to the wallet, which rolls its debit back but not its seqno (1 was used
 * after it): seqno 0 can never be accepted again. The coordinator kept 0's reservation in
 * wdr:<id> for good: releaseExpiredWithdrawals only rewinds a suffix of pending seqnos (1 landed)
 * and never one below the vault's counter (2), so the requester lost that money in the ledger
 * while the wallet on chain still holds it. A landing of seqno k proves every seqno below k
 * was consumed before it, and a payment of one of them reaches the vault before k's (same
 * wallet, same vault: messages between two accounts keep their order), so a lower seqno still
 * pending when k lands can never land: StoreChainLedger.recordWithdrawal gives its reservation back.
 */
import { describe, expect, it } from "vitest";
import { internal, toNano } from "@ton/core";
import { accountIdToUint } from "../../core/chain/account";
import { getBalance, requesterAccount } from "../../core/ledger";
import { getWithdrawal, releaseExpiredWithdrawals, requestWithdrawal, DEFAULT_RELEASE_GRACE_SECONDS } from "../../core/withdrawals";
import { pendingWithdrawalAccount } from "../../core/chain/store-ledger";
import { withdrawBody } from "../../contracts/vault";
import { withdrawalFromJson } from "./ton-withdrawal-signer";
import { twoFundedRequesters } from "./ton-chain-testing";

describe("a withdrawal seqno that died on chain unpaid (a later seqno of the account was paid)", () => {
  it("its reservation comes back to the requester when the later seqno lands; value is conserved", async () => {
    // Prepare: Alice and Bob with 10 TON each, credited by the watcher
    const { chain, store, deps, ledger, watch, at, alice, bob, aliceWallet, bobWallet } = await twoFundedRequesters();
    const credited = (await getBalance(store, requesterAccount(alice))).available;
    // Bob's 6 TON first, then Alice's seqno 0 (6 TON) and seqno 1 (1 TON)
    const views = [
      await requestWithdrawal(deps, bob, { amount: toNano("6"), to: bobWallet.address.toRawString() }),
      await requestWithdrawal(deps, alice, { amount: toNano("6"), to: aliceWallet.address.toRawString() }),
      await requestWithdrawal(deps, alice, { amount: toNano("1"), to: aliceWallet.address.toRawString() }),
    ];
    expect(views.map((v) => v.seqno)).toEqual([0, 0, 1]);
    // the vault's reserve gone and more: 8 TON left, enough for any one first check, not for all payments
    (await chain.blockchain.getContract(chain.vaultAddress)).balance = toNano("8");
    const relayer = await chain.wallet("relayer");

    // Act: all three in flight together (anyone may relay signed withdrawals)
    await relayer.sendMessages(
      views.map((v) => internal({ to: chain.vaultAddress, value: toNano("0.05"), body: withdrawBody(withdrawalFromJson(v).withdrawal) })),
    );
    await watch();

    // Assess, on chain: Bob's and Alice's seqno 1 paid, Alice's seqno 0 refused and dead
    expect(await getWithdrawal(store, bob, 0)).toMatchObject({ status: "landed" });
    expect(await getWithdrawal(store, alice, 1)).toMatchObject({ status: "landed" });
    expect(await chain.vault.getWithdrawSeqno(accountIdToUint(alice)), "seqno 0 can never be accepted again").toBe(2);
    expect(await chain.accountBalance(alice), "the wallet rolled 0's debit back").toBe(credited - toNano("1"));

    // Assess, in the ledger: seqno 0's reservation is back in Alice's available, never stuck in wdr:
    expect(await getWithdrawal(store, alice, 0)).toMatchObject({ status: "released" });
    expect((await getBalance(store, pendingWithdrawalAccount(alice))).available).toBe(0n);
    expect((await getBalance(store, requesterAccount(alice))).available).toBe(credited - toNano("1"));
    // the ledger mirrors the vault's totals (what it owes)
    const totals = await chain.vault.getTotals();
    expect(await ledger.liabilities()).toBe(totals.deposited - totals.withdrawn - totals.paid);

    // Act: past every expiry, the release finds nothing more to give back (no double return)
    at((views[2]!.expiry + DEFAULT_RELEASE_GRACE_SECONDS + 1) * 1000);
    await watch();
    expect((await releaseExpiredWithdrawals(deps, alice)).released).toBe(0);
    expect((await getBalance(store, requesterAccount(alice))).available).toBe(credited - toNano("1"));

    // Act: the owner tops the vault up; Alice withdraws the rest with a new seqno (2)
    await chain.owner.send({ to: chain.vaultAddress, value: toNano("20") });
    const again = await requestWithdrawal(deps, alice, { amount: credited - toNano("1"), to: aliceWallet.address.toRawString() });
    const paid = await chain.withdraw(aliceWallet, withdrawalFromJson(again).withdrawal);
    await watch();

    // Assess
    expect(again.seqno).toBe(2);
    expect(paid.success).toBe(true);
    expect(await getWithdrawal(store, alice, 2)).toMatchObject({ status: "landed" });
    expect(await chain.accountBalance(alice)).toBe(0n);
    expect((await getBalance(store, requesterAccount(alice))).available).toBe(0n);
  }, 60_000);
});
