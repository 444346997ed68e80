/**
 * core/chain/watcher.ts paging and the collateral snapshot (issue 14, mutation-checked): a
 * pass reads page after page until a short page (one request per page, none wasted), takes
 * ONE collateral snapshot when the chain stood still, retries at most three times while the
 * chain keeps moving and then gives no verdict, does not take an indexer that serves the
 * cursor's own transaction again for a newer one, reads a first transaction that appears on
 * an empty chain, and asks nothing of the balance when the pass was left behind.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../local/memory-store";
import { collectingAlerts } from "./dedup";
import { accountId, deposit, SCRIPTED_VAULT, ScriptedReader } from "./fixtures";
import type { Cursor, VaultTx } from "./types";
import { StoreChainLedger } from "./store-ledger";
import { runWatcher, type WatcherOptions } from "./watcher";

const TON = 1_000_000_000n;
const NOW_MS = 1_750_000_100_000;
const A = accountId(21);

/** A scripted vault that counts its page requests and balance reads; `onBalance` runs at each balance read. */
class CountingReader extends ScriptedReader {
  pages = 0;
  balances = 0;
  onBalance: (() => void) | undefined;
  override async getVaultTransactions(after: Cursor | null, limit: number) {
    this.pages++;
    return super.getVaultTransactions(after, limit);
  }
  override async getVaultBalance() {
    this.balances++;
    this.onBalance?.();
    return super.getVaultBalance();
  }
}

function setup(txs: VaultTx[]) {
  const ledger = new StoreChainLedger(createMemoryStore());
  const reader = new CountingReader(txs);
  reader.balance = 1_000n * TON;
  const alerts = collectingAlerts();
  const opts = (p: Partial<WatcherOptions> = {}): WatcherOptions => ({
    reader,
    vault: SCRIPTED_VAULT,
    ledger,
    alerts,
    now: () => NOW_MS,
    lagThresholdSeconds: 600,
    ...p,
  });
  return { ledger, reader, alerts, opts };
}

const deposits = (n: number) => Array.from({ length: n }, () => deposit(A, TON));

describe("runWatcher: paging", () => {
  it("seven transactions in pages of two: four page requests (the last one short ends the pass) and one to check nothing newer came", async () => {
    // Prepare
    const s = setup(deposits(7));
    // Act
    const pass = await runWatcher(s.opts({ pageSize: 2 }));
    // Assess
    expect(pass).toMatchObject({ processed: 7, deposits: 7, hasMore: false, vaultBalance: 1_000n * TON, liabilities: 7n * TON });
    expect(s.reader.pages).toBe(5);
    expect(s.reader.balances).toBe(1);
  });

  it("eight transactions in full pages of two: read to the end in the first sweep, then an empty page, then one snapshot", async () => {
    const s = setup(deposits(8));
    const pass = await runWatcher(s.opts({ pageSize: 2 }));
    expect(pass).toMatchObject({ processed: 8, deposits: 8, vaultBalance: 1_000n * TON, liabilities: 8n * TON });
    expect(s.reader.pages).toBe(6);
    expect(s.reader.balances).toBe(1);
  });

  it("a pass left behind at its page limit reads no balance (it gives no collateral verdict)", async () => {
    const s = setup(deposits(5));
    const pass = await runWatcher(s.opts({ pageSize: 2, maxPages: 1 }));
    expect(pass).toMatchObject({ processed: 2, hasMore: true, vaultBalance: null, liabilities: null });
    expect(s.reader.balances).toBe(0);
  });
});

describe("runWatcher: the collateral snapshot", () => {
  it("a chain that moves at every balance read: three tries, each reading on, then no verdict and no alert", async () => {
    // Prepare: every balance read is followed by a new deposit
    const s = setup(deposits(1));
    s.reader.balance = 0n; // would be a shortfall if it were ever compared
    s.reader.onBalance = () => s.reader.txs.push(deposit(A, TON));
    // Act
    const pass = await runWatcher(s.opts());
    // Assess
    expect(s.reader.balances).toBe(3);
    expect(pass).toMatchObject({ processed: 4, vaultBalance: null, liabilities: null });
    expect(s.alerts.raised).toEqual([]);
  });

  it("a chain that moved once during the snapshot: read on, and the second snapshot stands", async () => {
    const s = setup(deposits(2));
    s.reader.onBalance = () => {
      s.reader.onBalance = undefined;
      s.reader.txs.push(deposit(A, TON));
    };
    const pass = await runWatcher(s.opts());
    expect(s.reader.balances).toBe(2);
    expect(pass).toMatchObject({ processed: 3, vaultBalance: 1_000n * TON, liabilities: 3n * TON });
  });

  it("an indexer that serves the cursor's own transaction again (inclusive cursor) does not make the chain look moving", async () => {
    // Prepare: pages start AT the cursor's transaction, not after it
    const s = setup(deposits(3));
    s.reader.getVaultTransactions = async (after: Cursor | null, limit: number) => {
      s.reader.pages++;
      const from = after ? s.reader.txs.findIndex((t) => BigInt(t.lt) >= BigInt(after.lt)) : 0;
      const page = from < 0 ? [] : s.reader.txs.slice(from, from + limit);
      const last = page.at(-1);
      return { txs: page, cursor: last ? { lt: last.lt, hash: last.hash } : after };
    };
    // Act
    const pass = await runWatcher(s.opts({ pageSize: 10 }));
    // Assess
    expect(pass).toMatchObject({ deposits: 3, vaultBalance: 1_000n * TON, liabilities: 3n * TON });
    expect(s.reader.balances).toBe(1);
  });

  it("a first transaction that appears on an empty chain during the snapshot is read and credited before the verdict", async () => {
    // Prepare: nothing on chain when the pass starts; a deposit lands right after the balance read
    const s = setup([]);
    s.reader.onBalance = () => {
      s.reader.onBalance = undefined;
      s.reader.txs.push(deposit(A, 2n * TON));
    };
    // Act
    const pass = await runWatcher(s.opts());
    // Assess
    expect(pass).toMatchObject({ deposits: 1, vaultBalance: 1_000n * TON, liabilities: 2n * TON });
    expect(await s.ledger.liabilities()).toBe(2n * TON);
  });
});
