/**
 * Review (session 27, chain): the watcher booked a redemption as `cumulative − what the ledger
 * saw redeemed before`, but the vault pays the payout wallet's `due` (cumulative − its mark), and
 * the two differ once the vault refused a claim at payment: the wallet lowers its mark by that
 * claim's due (contracts/README.md, "redeem"). Two vouchers of one worker in flight on an
 * under-collateralised vault, cumulative 6 and then 7 TON: the vault refuses the first (6 due)
 * and pays the second (1 due). The ledger drained all 7 from vch:<id> for 1 TON paid (the
 * ledger's liabilities 6 TON below what the vault owes), and when the worker redeemed the
 * 7 TON voucher again (the wallet's mark was 1: 6 due) it booked 0 and raised a critical
 * chain.unmatched-outflow for the worker's own money. The ledger now books the ClaimApproved's
 * due, what the vault paid.
 */
import { describe, expect, it } from "vitest";
import { internal, toNano } from "@ton/core";
import { startLocalChain, testPayee } from "../../local/chain";
import { payeeUintToHex } from "../../core/chain/payee";
import { collectingAlerts } from "../../core/chain/dedup";
import { StoreChainLedger, voucherAccount } from "../../core/chain/store-ledger";
import { runWatcher } from "../../core/chain/watcher";
import { TestStore } from "../../test/fixtures/faulty-store";
import { redeemBody } from "../../contracts/vault";
import { NOW, accountOf, seed } from "./ton-chain-testing";

describe("a voucher the vault refused at payment while a later one of the same worker was paid", () => {
  it("the ledger books what the vault paid (the due), mirrors the vault's totals, and a second redemption raises no false alarm", async () => {
    // Prepare: Alice deposits 10 TON; 7 TON of it settled to worker-1 and vouchered (cumulative 6, then 7)
    const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    const store = new TestStore();
    const ledger = new StoreChainLedger(store);
    const alerts = collectingAlerts();
    const watch = () =>
      runWatcher({
        reader: chain.reader,
        ledger,
        alerts,
        now: () => NOW * 1000,
        lagThresholdSeconds: 600_000,
        vault: chain.vaultAddress.toRawString(),
      });
    const alice = accountOf("alice");
    await chain.depositNano(alice, toNano("10"), { from: await chain.wallet("alice") });
    await watch();
    const worker = await chain.wallet("worker-1");
    const address = worker.address.toRawString();
    const payee = payeeUintToHex(testPayee(worker.address));
    await store.transact([
      { op: "update", table: "accounts", key: { pk: `req:${alice}`, sk: "balance" }, add: { available: -toNano("7") } },
      { op: "update", table: "accounts", key: { pk: voucherAccount("worker-1"), sk: "balance" }, add: { available: toNano("7") } },
    ]);
    const vouchers = [chain.signVoucher(worker.address, toNano("6")), chain.signVoucher(worker.address, toNano("7"))];
    await ledger.recordIssuedVoucher(
      { workerId: "worker-1", payee, worker: address, cumulative: toNano("7"), expiry: vouchers[1]!.expiry },
      0,
    );
    // the vault's reserve gone and more (docs/security.md, "Under-collateral from gas"): 3 TON left
    (await chain.blockchain.getContract(chain.vaultAddress)).balance = toNano("3");

    // Act: both vouchers in flight together
    await worker.sendMessages(vouchers.map((v) => internal({ to: chain.vaultAddress, value: toNano("0.05"), body: redeemBody(v) })));
    await watch();

    // Assess: the vault paid the second voucher's due only (1 TON); the wallet's mark is 1 TON
    expect(await chain.paid(testPayee(worker.address))).toBe(toNano("1"));
    let totals = await chain.vault.getTotals();
    expect(totals.paid).toBe(toNano("1"));
    // the ledger booked that, no more: 6 TON still owed to the worker, as on chain
    expect((await ledger.balance(voucherAccount("worker-1"))).available).toBe(toNano("6"));
    expect(await ledger.liabilities()).toBe(totals.deposited - totals.withdrawn - totals.paid);

    // Act: the owner tops the vault up; the worker redeems its 7 TON voucher again (6 due)
    await chain.owner.send({ to: chain.vaultAddress, value: toNano("20") });
    expect((await chain.redeem(worker, vouchers[1]!)).success).toBe(true);
    const last = await watch();

    // Assess
    expect(last.redemptions).toBe(1);
    expect(await chain.paid(testPayee(worker.address))).toBe(toNano("7"));
    totals = await chain.vault.getTotals();
    expect(totals.paid).toBe(toNano("7"));
    expect((await ledger.balance(voucherAccount("worker-1"))).available).toBe(0n);
    expect(await ledger.redeemed(payee)).toBe(toNano("7"));
    expect(await ledger.liabilities()).toBe(totals.deposited - totals.withdrawn - totals.paid);
    // the insolvent refusal is critical (one alert per transaction), as was the shortfall while it lasted; no unmatched outflow
    expect([...new Set(alerts.raised.map((a) => a.key.replace(/:[0-9a-f]{64}$/, "")))].sort()).toEqual([
      "chain.insolvent-refusal",
      "chain.undercollateral",
    ]);
  }, 60_000);
});
