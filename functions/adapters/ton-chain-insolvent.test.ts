/**
 * The vault's refusal at payment (session 22: a withdrawal is checked for solvency where it pays,
 * and a refused payment bounces to the account wallet, which rolls its debit and seqno back),
 * through the coordinator's side: the real vault in the sandbox, the chain watcher over the
 * real ledger, and core/withdrawals' reservation and release. Two withdrawals in flight on an
 * under-collateralised vault: the one paid is recorded as landed; the refused one is never
 * booked, is released at its expiry (its seqno came back, so the vault's getter allows it), and
 * its requester can withdraw again once the vault is topped up. Value is conserved at each step.
 */
import { describe, expect, it } from "vitest";
import { internal, toNano } from "@ton/core";
import { accountIdToUint } from "../../core/chain/account";
import { getBalance, requesterAccount } from "../../core/ledger";
import { DEFAULT_RELEASE_GRACE_SECONDS, getWithdrawal, releaseExpiredWithdrawals, requestWithdrawal } from "../../core/withdrawals";
import { withdrawBody } from "../../contracts/vault";
import { withdrawalFromJson } from "./ton-withdrawal-signer";
import { twoFundedRequesters } from "./ton-chain-testing";

describe("a withdrawal the vault refuses at payment, seen by the coordinator", () => {
  it("the paid one lands, the refused one is released at its expiry and can be withdrawn again; the ledger never books what was not paid", async () => {
    // Prepare: two requesters with 10 TON each, credited by the watcher
    const { chain, store, deps, ledger, alerts, watch, at, alice, bob, aliceWallet, bobWallet } = await twoFundedRequesters();
    const credited = (await getBalance(store, requesterAccount(bob))).available;
    const views = [
      await requestWithdrawal(deps, alice, { amount: credited, to: aliceWallet.address.toRawString() }),
      await requestWithdrawal(deps, bob, { amount: credited, to: bobWallet.address.toRawString() }),
    ];
    // the vault's reserve gone and more (what docs/security.md calls under-collateral from gas)
    const owed = await ledger.liabilities();
    (await chain.blockchain.getContract(chain.vaultAddress)).balance = owed - toNano("8");
    const relayer = await chain.wallet("relayer");
    const bobBefore = await chain.walletBalance(bobWallet.address);

    // Act: both in flight together, one relayer's transfer
    await relayer.sendMessages(
      views.map((v) => internal({ to: chain.vaultAddress, value: toNano("0.05"), body: withdrawBody(withdrawalFromJson(v).withdrawal) })),
    );
    const pass = await watch();

    // Assess: Alice's landed; Bob's was refused at payment and rolled back on chain, never booked
    expect(pass.withdrawals).toBe(1);
    expect(await getWithdrawal(store, alice, 0)).toMatchObject({ status: "landed" });
    expect(await getWithdrawal(store, bob, 0)).toMatchObject({ status: "pending" });
    expect((await chain.walletBalance(bobWallet.address)) - bobBefore).toBe(0n);
    expect(await chain.accountBalance(bob)).toBe(credited);
    expect(await chain.vault.getWithdrawSeqno(accountIdToUint(bob))).toBe(0);
    expect(await ledger.liabilities()).toBe(credited); // Bob's, reserved
    const totals = await chain.vault.getTotals();
    expect(totals.deposited - totals.withdrawn - totals.paid).toBe(await ledger.liabilities());

    // Act: past Bob's expiry, the watcher caught up, the release
    at((views[1]!.expiry + DEFAULT_RELEASE_GRACE_SECONDS + 1) * 1000);
    await watch();
    const released = await releaseExpiredWithdrawals(deps, bob);

    // Assess: Bob has his money back in the ledger
    expect(released.released).toBe(1);
    expect((await getBalance(store, requesterAccount(bob))).available).toBe(credited);

    // Act: the owner tops the vault up; Bob withdraws again (the same seqno, re-signed)
    await chain.owner.send({ to: chain.vaultAddress, value: toNano("20") });
    const again = await requestWithdrawal(deps, bob, { amount: credited, to: bobWallet.address.toRawString() });
    const before = await chain.walletBalance(bobWallet.address);
    const paid = await chain.withdraw(bobWallet, withdrawalFromJson(again).withdrawal);
    const last = await watch();

    // Assess
    expect(again.seqno).toBe(0);
    expect(paid.success).toBe(true);
    expect(last.withdrawals).toBe(1);
    expect((await chain.walletBalance(bobWallet.address)) - before).toBeGreaterThan(credited - toNano("0.1"));
    expect(await ledger.liabilities()).toBe(0n);
    // the insolvent refusal is critical (one alert per transaction), as is the shortfall while it lasts; no unmatched outflow
    expect([...new Set(alerts.raised.map((a) => a.key.replace(/:[0-9a-f]{64}$/, "")))].sort()).toEqual([
      "chain.insolvent-refusal",
      "chain.undercollateral",
    ]);
  }, 60_000);
});
