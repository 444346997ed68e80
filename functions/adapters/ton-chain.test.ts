import { describe, expect, it } from "vitest";
import { type Address, toNano, type Transaction } from "@ton/core";
import { keyPairFromSeed } from "@ton/crypto";
import { startLocalChain, type LocalChain } from "../../local/chain";
import { accountIdFromUint } from "../../core/chain/account";
import { collectingAlerts } from "../../core/chain/dedup";
import { StoreChainLedger } from "../../core/chain/store-ledger";
import { TestStore } from "../../test/fixtures/faulty-store";
import { runWatcher } from "../../core/chain/watcher";
import type { ChainReader } from "../../core/chain/ports";
import {
  InvalidVoucherError,
  normalizeVaultTx,
  SandboxChainReader,
  TonClientChainReader,
  type TonClientLike,
  voucherFromJson,
  voucherToJson,
} from "./ton-chain";

const NOW = 1_750_000_000;
const seed = (label: string) => {
  const b = Buffer.alloc(32);
  Buffer.from(label).copy(b);
  return b;
};
const requesterId = keyPairFromSeed(seed("requester-key")).publicKey.toString("base64url");

async function chainWithWatcher(opts: { reserve?: bigint } = {}) {
  const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator"), ...opts });
  const store = new TestStore();
  const ledger = new StoreChainLedger(store);
  const alerts = collectingAlerts();
  const watch = (o: { pageSize?: number; maxPages?: number; reader?: ChainReader } = {}) =>
    runWatcher({ reader: o.reader ?? chain.reader, ledger, alerts, now: () => NOW * 1000 + 60_000, lagThresholdSeconds: 600, pageSize: o.pageSize, maxPages: o.maxPages });
  return { chain, store, ledger, alerts, watch };
}

function vaultTxs(chain: LocalChain, txs: Transaction[]): Transaction[] {
  const h = BigInt("0x" + chain.vaultAddress.hash.toString("hex"));
  return txs.filter((t) => t.address === h);
}

describe("normalizeVaultTx on real sandbox transactions", () => {
  it("decodes every kind of vault message", async () => {
    const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    const worker = await chain.wallet("worker");
    const stranger = await chain.wallet("stranger");

    const dep = await chain.deposit(requesterId, 5n);
    const depC = await chain.depositNano(requesterId, toNano("1"), { comment: true });
    const w = await chain.withdraw(chain.requesterWallet, await chain.signWithdrawal(requesterId, chain.requesterWallet.address, toNano("2")));
    const red = await chain.redeem(worker, chain.signVoucher(worker.address, toNano("1")));
    const top = (await chain.vault.sendTopUp(chain.owner.getSender(), toNano("1"))).transactions;
    const bounce = (await chain.vault.sendTopUp(stranger.getSender(), toNano("1"))).transactions;
    const refund = (await chain.vault.sendTopUp(stranger.getSender(), toNano("1"), { bounce: false })).transactions;
    const admin = (await chain.vault.sendSetCoordinatorKey(chain.owner.getSender(), toNano("0.05"), chain.coordinator.publicKey)).transactions;

    const n = (txs: Transaction[]) => normalizeVaultTx(vaultTxs(chain, txs)[0]!);
    expect(n(dep.transactions)).toMatchObject({ kind: "deposit", account: requesterId, amount: toNano("5"), inValue: toNano("5"), outValue: 0n, aborted: false, bounced: false });
    expect(n(depC.transactions)).toMatchObject({ kind: "deposit", account: requesterId, amount: toNano("1") });
    const wd = n(w.transactions);
    expect(wd).toMatchObject({ kind: "withdraw", account: requesterId, amount: toNano("2"), seqno: 0, to: chain.requesterWallet.address.toRawString(), aborted: false });
    expect(wd.outValue > toNano("2") && wd.outValue <= toNano("2") + wd.inValue).toBe(true);
    expect(n(red.transactions)).toMatchObject({ kind: "redeem", worker: worker.address.toRawString(), amount: toNano("1"), aborted: false });
    expect(n(top)).toMatchObject({ kind: "topup", amount: toNano("1"), outValue: 0n });
    expect(n(bounce)).toMatchObject({ kind: "bounce", aborted: true, exitCode: 1006 });
    expect(n(refund)).toMatchObject({ kind: "bounce", aborted: false });
    expect(n(admin)).toMatchObject({ kind: "admin" });
    expect(dep.txHash).toBe(n(dep.transactions).hash);
  });
});

describe("chain watcher on the sandbox", () => {
  it("deposit is credited once even when the watcher restarts after every transaction or reads a page twice", async () => {
    const { chain, ledger, watch } = await chainWithWatcher();
    await chain.deposit(requesterId, 5n);
    await chain.depositNano(requesterId, 1_234_567_891n, { comment: true });

    for (let i = 0; i < 6; i++) await watch({ pageSize: 1, maxPages: 1 }); // a "restart" per transaction
    await ledger.setCursor({ lt: "0", hash: "" }, 0); // forget the cursor: re-read everything
    const again = await watch();

    expect(again.duplicates).toBeGreaterThanOrEqual(2);
    const onChain = await chain.accountBalance(requesterId);
    expect(onChain).toBe(toNano("5") + 1_234_567_891n);
    expect((await ledger.balance(`req:${requesterId}`)).available).toBe(onChain);
  });

  it("deposit -> worker earns -> voucher -> redeem -> withdrawal: chain and ledger agree to the nanoTON", async () => {
    const { chain, store, ledger, alerts, watch } = await chainWithWatcher();
    const worker = await chain.wallet("worker-1");
    await chain.deposit(requesterId, 5n);
    await watch();

    // a job settles 1.5 TON from the requester to the worker (what core/ledger.ts does)
    const cost = toNano("1.5");
    await store.transact([
      { op: "update", table: "accounts", key: { pk: `req:${requesterId}`, sk: "balance" }, add: { available: -cost } },
      { op: "update", table: "accounts", key: { pk: "wrk:worker-1", sk: "balance" }, add: { available: cost } },
    ]);
    const voucher = chain.signVoucher(worker.address, cost);
    await ledger.recordIssuedVoucher({ workerId: "worker-1", worker: worker.address.toRawString(), cumulative: cost, expiry: voucher.expiry }, 0);
    const before = await chain.walletBalance(worker.address);
    const red = await chain.redeem(worker, voucher);
    expect(red.success).toBe(true);

    const wd = await chain.signWithdrawal(requesterId, chain.requesterWallet.address, toNano("1"));
    await ledger.recordIssuedWithdrawal({ account: requesterId, seqno: wd.seqno, amount: wd.amount, to: wd.to.toRawString(), expiry: wd.expiry }, 0);
    expect((await chain.withdraw(chain.requesterWallet, wd)).success).toBe(true);

    const r = await watch();

    expect({ redemptions: r.redemptions, withdrawals: r.withdrawals }).toEqual({ redemptions: 1, withdrawals: 1 });
    expect(alerts.raised).toEqual([]);
    expect(await chain.paid(worker.address)).toBe(cost);
    expect(await ledger.redeemed(worker.address.toRawString())).toBe(cost);
    expect((await ledger.balance("wrk:worker-1")).available).toBe(0n);
    expect(await chain.walletBalance(worker.address)).toBeGreaterThan(before + cost - toNano("0.05"));
    // requester: 5 deposited - 1.5 spent - 1 withdrawn
    expect((await ledger.balance(`req:${requesterId}`)).available).toBe(toNano("2.5"));
    // the vault holds its reserve plus exactly what the ledger owes, minus the gas it paid for deposits
    const totals = await chain.vault.getTotals();
    expect(totals.deposited - totals.withdrawn - totals.paid).toBe(await ledger.liabilities());
    expect(r.vaultBalance! >= r.liabilities!).toBe(true);
  });

  it("raises the under-collateral alert when the vault is drained on chain behind the ledger's back", async () => {
    const { chain, alerts, watch } = await chainWithWatcher({ reserve: toNano("0.5") });
    const thief = await chain.wallet("thief");
    await chain.deposit(requesterId, 5n);
    await watch();
    expect(alerts.raised).toEqual([]);

    // a leaked coordinator key signs a voucher the ledger never issued
    const res = await chain.redeem(thief, chain.signVoucher(thief.address, toNano("4")));
    expect(res.success).toBe(true);
    const r = await watch();

    const keys = alerts.raised.map((a) => a.key);
    expect(keys).toContain("chain.undercollateral");
    expect(keys).toContain(`chain.unmatched-outflow:redeem:${res.txHash}`);
    expect(r.liabilities).toBe(toNano("5"));
  });

  it("an unattributable transfer bounces on chain and raises a bounce alert; nothing is credited", async () => {
    const { chain, ledger, alerts, watch } = await chainWithWatcher();
    const stranger = await chain.wallet("stranger");
    const res = await chain.vault.sendComment(stranger.getSender(), toNano("3"), "for the GPU folks");
    const vtx = normalizeVaultTx(vaultTxs(chain, res.transactions)[0]!);
    expect({ aborted: vtx.aborted, exitCode: vtx.exitCode }).toEqual({ aborted: true, exitCode: 1006 });

    await watch();

    expect(alerts.raised.map((a) => a.key)).toEqual(["chain.bounce:bounce"]);
    expect(await ledger.liabilities()).toBe(0n);
  });
});

// ---------------------------------------------------------------- TonClient paging
/** Emulates toncenter's getTransactions (newest first; lt/hash start, inclusive, to_lt) over sandbox history. */
function fakeToncenter(chain: LocalChain): TonClientLike & { calls: number } {
  const fake = {
    calls: 0,
    async getTransactions(address: Address, opts: { limit: number; lt?: string; hash?: string; to_lt?: string; inclusive?: boolean }) {
      fake.calls++;
      const h = BigInt("0x" + address.hash.toString("hex"));
      const all = ((chain.blockchain as unknown as { transactions: Transaction[] }).transactions ?? [])
        .filter((t) => t.address === h)
        .sort((a, b) => (a.lt > b.lt ? -1 : 1));
      let start = 0;
      if (opts.lt && opts.hash) {
        start = all.findIndex((t) => t.lt === BigInt(opts.lt!) && t.hash().toString("base64") === opts.hash);
        if (start < 0) throw new Error("lt/hash not found");
        if (opts.inclusive === false) start++;
      }
      let page = all.slice(start, start + opts.limit);
      if (opts.to_lt) page = page.filter((t) => t.lt > BigInt(opts.to_lt!));
      return page;
    },
    async getBalance(address: Address) {
      return (await chain.blockchain.getContract(address)).balance;
    },
  };
  return fake;
}

describe("TonClientChainReader", () => {
  it("pages the history back to the cursor and returns it oldest first, in pages of `limit`", async () => {
    const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    for (let i = 0; i < 7; i++) await chain.depositNano(requesterId, toNano("1") + BigInt(i));
    const sandbox = new SandboxChainReader(chain.blockchain, chain.vaultAddress);
    const client = fakeToncenter(chain);
    const reader = new TonClientChainReader(client, chain.vaultAddress, { pageSize: 3 });

    const seen: string[] = [];
    let cursor = null;
    for (;;) {
      const { txs, cursor: next } = await reader.getVaultTransactions(cursor, 2);
      if (txs.length === 0) break;
      seen.push(...txs.map((t) => t.hash));
      cursor = next;
    }
    const expected: string[] = [];
    let c = null;
    for (;;) {
      const { txs, cursor: next } = await sandbox.getVaultTransactions(c, 100);
      if (txs.length === 0) break;
      expected.push(...txs.map((t) => t.hash));
      c = next;
    }
    expect(seen).toEqual(expected);
    expect(seen).toHaveLength(8); // deploy + 7 deposits
    expect(await reader.getVaultBalance()).toBe(await chain.vaultBalance());
  });

  it("returns nothing new and keeps the cursor at the head", async () => {
    const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    const reader = new TonClientChainReader(fakeToncenter(chain), chain.vaultAddress);
    const first = await reader.getVaultTransactions(null, 10);
    const again = await reader.getVaultTransactions(first.cursor, 10);
    expect({ n: again.txs.length, cursor: again.cursor }).toEqual({ n: 0, cursor: first.cursor });
  });
});

describe("voucher JSON", () => {
  it("round-trips and rejects malformed vouchers with code invalid_voucher", async () => {
    const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    const worker = await chain.wallet("w");
    const v = chain.signVoucher(worker.address, 123n);
    const j = voucherToJson(chain.vaultAddress, v);
    const back = voucherFromJson(j);
    expect(back.vault.equals(chain.vaultAddress)).toBe(true);
    expect({ ...back.voucher, worker: back.voucher.worker.toRawString() }).toEqual({ ...v, worker: v.worker.toRawString() });
    for (const bad of [{ ...j, signature: "AAAA" }, { ...j, cumulative: "-1" }, { ...j, worker: "nope" }]) {
      expect(() => voucherFromJson(bad)).toThrow(InvalidVoucherError);
    }
    expect(accountIdFromUint(1n)).toHaveLength(43);
  });
});
