/**
 * A coordinator store belongs to one vault (core/chain/vault-binding.ts). Its balances, withdrawal
 * seqnos and voucher marks are that vault's; a vault deployed afresh (same owner and key, another
 * nonce) starts its account wallets at seqno 0 and its payout wallets at 0 paid. Before the
 * binding, pointing the coordinator at the new vault with the old store went on silently: the
 * watcher credited the new vault's deposits on top of the old balances, the worker's old
 * cumulative was signed again for the new vault (which would pay it a second time), and
 * withdrawals were issued seqnos its wallets refuse. Every chain operation under another
 * vault is now refused, 503 `vault_mismatch`, and writes nothing; the watcher raises
 * `chain.vault-changed`. The real vault in the sandbox, the watcher, core/withdrawals and
 * core/payouts.
 */
import { payeeUint } from "../../core/chain/payee";
import { describe, expect, it } from "vitest";
import { toNano } from "@ton/core";
import { GLOBAL_ID, Vault } from "../../contracts/vault";
import { collectingAlerts } from "../../core/chain/dedup";
import { runWatcher } from "../../core/chain/watcher";
import { boundVault, VaultMismatchError } from "../../core/chain/vault-binding";
import { accountIdToUint } from "../../core/chain/account";
import type { CoreDeps } from "../../core/deps";
import { applyMovement, requesterAccount, workerAccount } from "../../core/ledger";
import { issueVoucher, type PayoutDeps } from "../../core/payouts";
import {
  DEFAULT_RELEASE_GRACE_SECONDS,
  getWithdrawal,
  releaseExpiredWithdrawals,
  requestWithdrawal,
  type WithdrawalDeps,
} from "../../core/withdrawals";
import type { TestStore } from "../../test/fixtures/faulty-store";
import { SandboxChainReader, voucherFromJson } from "./ton-chain";
import { twoFundedRequesters, NOW } from "./ton-chain-testing";
import { tonVoucherSigner } from "./ton-voucher-signer";
import { tonWithdrawalSigner, withdrawalFromJson } from "./ton-withdrawal-signer";

/** Everything the store holds, bigints as strings: to see that a refusal wrote nothing. */
const dump = (store: TestStore) =>
  JSON.stringify(
    (["chain", "ledger", "accounts", "idempotency", "workers"] as const).map((t) => store.scan(t)),
    (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v),
  );

describe("a second vault deployment under a store that belongs to the first", () => {
  it("watcher pass, withdrawal, release and voucher are all refused with vault_mismatch; nothing is written; the first vault goes on", async () => {
    // Prepare: vault A with Alice and Bob funded (the watcher bound the store to A); worker w1
    // earned 2 TON, had its voucher paid by A, and Alice's withdrawal seqno 0 landed on A
    const f = await twoFundedRequesters();
    const { chain, store, alerts, alice, aliceWallet } = f;
    const vaultA = chain.vaultAddress.toRawString();
    const worker = await chain.wallet("worker-1");
    const depsA = { ...f.deps, voucherSigner: tonVoucherSigner(chain.coordinator.secretKey, chain.vaultAddress) } as CoreDeps &
      WithdrawalDeps &
      PayoutDeps;
    await store.transact([{ op: "put", table: "workers", item: { pk: "w1", sk: "worker", workerId: "w1" } }]);
    await applyMovement(store, {
      id: "settle:job-1",
      kind: "settle",
      at: NOW * 1000,
      postings: [
        { account: requesterAccount(alice), field: "available", delta: -toNano("2") },
        { account: workerAccount("w1"), field: "available", delta: toNano("2") },
      ],
    });
    const voucherA = await issueVoucher(depsA, "w1", worker.address.toRawString());
    expect((await chain.redeem(worker, voucherFromJson(voucherA).voucher)).success).toBe(true);
    const wA = await requestWithdrawal(depsA, alice, { amount: toNano("1"), to: aliceWallet.address.toRawString() });
    expect((await chain.withdraw(aliceWallet, withdrawalFromJson(wA).withdrawal)).success).toBe(true);
    await f.watch();
    expect(await getWithdrawal(store, alice, 0)).toMatchObject({ status: "landed" });
    expect(await boundVault(store)).toBe(vaultA);
    // ...and her seqno 1, never sent, expired: a release would read the configured vault's seqno
    const expired = await requestWithdrawal(depsA, alice, { amount: toNano("1"), to: aliceWallet.address.toRawString() });
    f.at((expired.expiry + DEFAULT_RELEASE_GRACE_SECONDS + 1) * 1000);
    await f.watch();

    // Prepare: the owner deploys vault B (same owner and coordinator key, nonce 1) and Alice
    // deposits into it; the coordinator is configured with B, the store kept
    const b = chain.blockchain.openContract(
      await Vault.createFromConfig({
        owner: chain.owner.address,
        coordinatorKey: chain.coordinator.publicKey,
        nonce: 1n,
        network: GLOBAL_ID.mainnet,
      }),
    );
    await b.sendDeploy(chain.owner.getSender(), toNano("10"));
    await b.sendDeposit(aliceWallet.getSender(), toNano("5"), accountIdToUint(alice));
    const vaultB = b.address.toRawString();
    expect(vaultB).not.toBe(vaultA);
    const depsB = {
      ...f.deps,
      withdrawalSigner: tonWithdrawalSigner(chain.coordinator.secretKey, b.address, (a) => b.getWithdrawSeqno(a)),
      voucherSigner: tonVoucherSigner(chain.coordinator.secretKey, b.address),
    } as CoreDeps & WithdrawalDeps & PayoutDeps;
    const alertsB = collectingAlerts();
    const before = dump(store);
    const cursor = await f.ledger.getCursor();

    // Act
    const refusals = await Promise.all([
      runWatcher({
        reader: new SandboxChainReader(chain.blockchain, b.address),
        ledger: f.ledger,
        alerts: alertsB,
        now: () => (expired.expiry + DEFAULT_RELEASE_GRACE_SECONDS + 1) * 1000,
        lagThresholdSeconds: 600_000,
        vault: vaultB,
      }).catch((e: unknown) => e),
      requestWithdrawal(depsB, alice, { amount: toNano("1"), to: aliceWallet.address.toRawString() }).catch((e: unknown) => e),
      releaseExpiredWithdrawals(depsB, alice).catch((e: unknown) => e),
      // the old cumulative, signed again for B, is what B would pay a second time
      issueVoucher(depsB, "w1", worker.address.toRawString()).catch((e: unknown) => e),
    ]);

    // Assess: each refused by name, 503 vault_mismatch, naming both vaults
    for (const e of refusals) {
      expect(e).toBeInstanceOf(VaultMismatchError);
      expect(e).toMatchObject({ status: 503, code: "vault_mismatch", details: { bound: vaultA, configured: vaultB } });
    }
    expect(alertsB.raised).toEqual([
      expect.objectContaining({ key: "chain.vault-changed", severity: "critical", details: { bound: vaultA, configured: vaultB } }),
    ]);
    // nothing written: no cursor moved, B's deposit credited to nobody, no seqno or voucher issued
    expect(dump(store)).toBe(before);
    expect(await f.ledger.getCursor()).toEqual(cursor);
    expect(await b.getPaid(payeeUint("w1")), "B paid no voucher").toBe(0n);

    // Act: the coordinator configured with A again goes on where it was (seqno 1 released, issued again)
    const w1 = await requestWithdrawal(depsA, alice, { amount: toNano("1"), to: aliceWallet.address.toRawString() });
    const report = await f.watch();

    // Assess
    expect(w1.seqno).toBe(1);
    expect(w1.expiry).toBeGreaterThan(expired.expiry);
    expect(report.alerts.filter((k) => k.startsWith("chain.vault-changed"))).toEqual([]);
    expect(alerts.raised.filter((a) => a.key === "chain.vault-changed")).toEqual([]);
  }, 60_000);
});
