/**
 * Session 40 (helper chain40): a pass vouches only for what its reader's view of the chain shows.
 * toncenter's history can lag the chain by minutes (its `sync_utime`); a pass that read all of a
 * lagging view used to mark itself caught up as of its wall-clock start, so core/withdrawals.ts
 * released a withdrawal that had landed inside the lag as expired and unspent: its amount came
 * back to `available` (to be spent again) and the landing, once seen, became a debt.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../local/memory-store";
import type { CoreDeps } from "../deps";
import { getBalance, requesterAccount } from "../ledger";
import {
  DEFAULT_RELEASE_GRACE_SECONDS,
  getWithdrawal,
  releaseExpiredWithdrawals,
  requestWithdrawal,
  type WithdrawalDeps,
} from "../withdrawals";
import { fakeSigner } from "../withdrawals-testing";
import { collectingAlerts } from "./dedup";
import { accountId, deposit as depositTx, ScriptedReader, withdraw as withdrawTx } from "./fixtures";
import type { ChainView } from "./ports";
import { StoreChainLedger } from "./store-ledger";
import { runWatcher } from "./watcher";

const TON = 1_000_000_000n;
const NOW = 1_760_000_000_000;
const A = accountId(1);
const TO = "0:" + "c".repeat(64);

/**
 * A scripted vault history seen through toncenter synced up to `syncedAt` (ms): its state shows the
 * vault's last transaction up to then, its history serves nothing newer than `historyAt` (an
 * archival node; by default as synced as the state).
 */
class LaggingReader extends ScriptedReader {
  override balance = 100n * TON; // covers the liabilities: no collateral alert in the way
  syncedAt = 0;
  historyAt: number | null = null;
  viewReads = 0;
  private upTo = (ms: number) => this.txs.filter((t) => t.utime * 1000 <= ms);
  override async getVaultTransactions(after: Parameters<ScriptedReader["getVaultTransactions"]>[0], limit: number) {
    const all = this.txs;
    this.txs = this.upTo(this.historyAt ?? this.syncedAt);
    try {
      return await super.getVaultTransactions(after, limit);
    } finally {
      this.txs = all;
    }
  }
  chainView = async (): Promise<ChainView> => {
    this.viewReads++;
    return { at: this.syncedAt, lastLt: this.upTo(this.syncedAt).at(-1)?.lt ?? null };
  };
}

/** Factory: a store with the requester A's deposit, a withdrawal signer with no seqno getter, and a watcher pass at a given time. */
async function world(o: { deposit: bigint }) {
  const store = createMemoryStore();
  const signer = fakeSigner({ chain: false });
  let now = NOW;
  const deps = {
    store,
    clock: { now: () => now },
    log: { info() {}, warn() {}, error() {} },
    withdrawalSigner: signer,
  } as unknown as CoreDeps & WithdrawalDeps;
  const ledger = new StoreChainLedger(store);
  await ledger.creditDeposit("d1".padEnd(64, "0"), A, o.deposit, NOW);
  const alerts = collectingAlerts();
  const pass = (reader: ScriptedReader, at: number, lagThresholdSeconds = 600_000) =>
    runWatcher({ reader, ledger, alerts, now: () => at, lagThresholdSeconds, vault: signer.vault });
  return { store, deps, ledger, alerts, pass, setNow: (ms: number) => (now = ms) };
}

describe("session 40: a watcher pass vouches for no more than its reader's view of the chain", () => {
  it("a withdrawal that landed while toncenter lagged is not released as expired: it lands, no debt, nothing to spend twice", async () => {
    // Prepare: A withdraws all 5 TON; it lands one second before its expiry, while toncenter is
    // 10 minutes behind; the pass runs past expiry + grace
    const t = await world({ deposit: 5n * TON });
    const w = await requestWithdrawal(t.deps, A, { amount: 5n * TON, to: TO });
    const reader = new LaggingReader([withdrawTx(A, 5n * TON, w.seqno, TO, { expiry: w.expiry, utime: w.expiry - 1 })]);
    reader.balance = 0n;
    const passAt = (w.expiry + DEFAULT_RELEASE_GRACE_SECONDS + 1) * 1000;
    reader.syncedAt = passAt - 600_000;
    t.setNow(passAt);

    // Act: a pass over the lagging view, the release A asks for (GET /v1/account/withdrawals/0),
    // then toncenter catches up
    const lagging = await t.pass(reader, passAt);
    const release = await releaseExpiredWithdrawals(t.deps, A);
    reader.syncedAt = passAt + 60_000;
    const caughtUp = await t.pass(reader, passAt + 60_000);

    // Assess
    expect(lagging.hasMore).toBe(false);
    expect(await t.ledger.lastCaughtUpAt()).toBe(passAt + 60_000);
    expect(release.released).toBe(0);
    expect(caughtUp.withdrawals).toBe(1);
    expect(await getWithdrawal(t.store, A, w.seqno)).toMatchObject({ status: "landed" });
    expect((await getBalance(t.store, requesterAccount(A))).available).toBe(0n);
    expect(t.alerts.raised.map((a) => a.key)).not.toContainEqual(expect.stringMatching(/^chain\.withdrawal-after-release/));
  });

  it("a history behind the state (an archival node lagging the node that answered the state) vouches for nothing", async () => {
    // Prepare: the state (synced past expiry + grace) shows the withdrawal landed; the history
    // serving the pass stops 10 minutes earlier
    const t = await world({ deposit: 5n * TON });
    const w = await requestWithdrawal(t.deps, A, { amount: 5n * TON, to: TO });
    const reader = new LaggingReader([withdrawTx(A, 5n * TON, w.seqno, TO, { expiry: w.expiry, utime: w.expiry - 1 })]);
    const passAt = (w.expiry + DEFAULT_RELEASE_GRACE_SECONDS + 1) * 1000;
    reader.syncedAt = passAt;
    reader.historyAt = passAt - 600_000;
    t.setNow(passAt);

    // Act
    const pass = await t.pass(reader, passAt);
    const release = await releaseExpiredWithdrawals(t.deps, A);

    // Assess
    expect([pass.hasMore, pass.withdrawals]).toEqual([false, 0]);
    expect(await t.ledger.lastCaughtUpAt()).toBeNull();
    expect(release.released).toBe(0);
    expect(await getWithdrawal(t.store, A, w.seqno)).toMatchObject({ status: "pending" });
    expect(t.alerts.raised.map((a) => a.key)).toEqual(["chain.lag"]);
  });

  it("caught up as of the earlier of the pass's start and the reader's chain time", async () => {
    // Prepare
    const t = await world({ deposit: TON });
    const reader = new LaggingReader([]);
    reader.syncedAt = NOW - 30_000;
    const ahead = new LaggingReader([]);
    ahead.syncedAt = NOW + 5_000; // a node whose clock runs ahead vouches for no more than the pass's start

    // Act
    await t.pass(reader, NOW);
    const behind = await t.ledger.lastCaughtUpAt();
    await t.pass(ahead, NOW + 1_000);
    const later = await t.ledger.lastCaughtUpAt();

    // Assess
    expect([behind, later]).toEqual([NOW - 30_000, NOW + 1_000]);
    expect([reader.viewReads, ahead.viewReads]).toEqual([1, 1]);
  });

  it("a reader view behind by more than the lag threshold raises chain.lag; within it, nothing", async () => {
    // Prepare
    const t = await world({ deposit: TON });
    const reader = new LaggingReader([]);

    // Act
    reader.syncedAt = NOW - 600_000;
    await t.pass(reader, NOW, 600);
    const within = t.alerts.raised.map((a) => a.key);
    reader.syncedAt = NOW - 601_000;
    await t.pass(reader, NOW, 600);

    // Assess
    expect(within).toEqual([]);
    expect(t.alerts.raised).toEqual([
      expect.objectContaining({ key: "chain.lag", details: { readerBehindSeconds: 601, thresholdSeconds: 600 } }),
    ]);
  });

  it("an unreadable view of the chain: the pass still credits deposits, but vouches for nothing", async () => {
    // Prepare
    const t = await world({ deposit: TON });
    const B = accountId(2);
    const reader = new LaggingReader([depositTx(B, 2n * TON, { utime: NOW / 1000 - 5 })]);
    reader.syncedAt = NOW;
    reader.chainView = async () => Promise.reject(new Error("toncenter: HTTP 502"));
    const nan = new LaggingReader([]);
    nan.chainView = async () => ({ at: NaN, lastLt: null });

    // Act
    const failed = await t.pass(reader, NOW);
    const garbled = await t.pass(nan, NOW);

    // Assess
    expect([failed.deposits, garbled.processed]).toEqual([1, 0]);
    expect((await getBalance(t.store, requesterAccount(B))).available).toBe(2n * TON);
    expect(await t.ledger.lastCaughtUpAt()).toBeNull();
    expect(t.alerts.raised.map((a) => [a.key, a.details.error])).toEqual([
      ["chain.reader-error", "toncenter: HTTP 502"],
      ["chain.reader-error", "not a time: NaN"],
    ]);
  });
});
