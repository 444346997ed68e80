/**
 * Review, session 22 (fixed): the AWS watcher's reader (VaultHistoryReader over toncenter) walked
 * the vault's whole unread history, newest to cursor, for EVERY page it returned. A stranger who
 * floods the vault with cheap rejected transfers (each one a vault transaction) made each page
 * cost backlog/100 toncenter requests, so a pass (a 55 s Lambda, a bounded request budget) first
 * crawled, then made no progress at all: deposits behind the flood were never credited. The
 * reader then walked the backlog once and kept it, but in the warm Lambda only: with Lambdas
 * recycled between passes, a backlog longer than one pass's walk still stalled it (session 23).
 * The walk's progress is now kept in the store (core/chain/vault-walk.ts), and any process
 * resumes it.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { type Address, type Transaction, type TupleItem } from "@ton/core";
import { startLocalChain, type LocalChain } from "../../local/chain";
import { collectingAlerts } from "../../core/chain/dedup";
import { StoreChainLedger } from "../../core/chain/store-ledger";
import { StoreVaultWalk } from "../../core/chain/vault-walk";
import { runWatcher } from "../../core/chain/watcher";
import type { Alert, Alerts, Store } from "../../core/ports";
import { normalizeVaultTx, TonClientChainReader, type TonClientLike } from "./ton-chain";
import { NOW, accountOf, floodVault, seed, vaultHistory } from "./ton-chain-testing";
import type { Cursor } from "../../core/chain/types";
import { createMemoryStore } from "../../local/memory-store";
import { DEPOSIT_FEE } from "../../contracts/vault";
import { requesterAccount } from "../../core/ledger";

const requesterId = accountOf("requester-key");

type HistoryOpts = { limit: number; lt?: string; hash?: string; to_lt?: string; inclusive?: boolean; archival?: boolean };

/**
 * toncenter's getTransactions over the sandbox (as in ton-chain.test.ts), with a per-pass request
 * budget; like toncenter v2 it refuses a limit over 100.
 */
function fakeToncenter(chain: LocalChain, budget: { left: number }): TonClientLike & { calls: number; asked: HistoryOpts[] } {
  let cache: Transaction[] | null = null;
  let seen = -1;
  const fake = {
    calls: 0,
    asked: [] as HistoryOpts[],
    async getTransactions(_a: Address, opts: HistoryOpts) {
      fake.calls++;
      fake.asked.push(opts);
      if (budget.left-- <= 0) throw new Error("toncenter: 429 / Lambda timeout (request budget of the pass spent)");
      if (opts.limit > 100) throw new Error("toncenter: 422 limit: ensure this value is less than or equal to 100");
      const count = chain.txCount();
      if (count !== seen) [cache, seen] = [vaultHistory(chain), count];
      const all = cache!;
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
    async getContractState() {
      return { state: "active" as const };
    },
    async runMethod(_a: Address, _n: string, _s: TupleItem[] = []): Promise<never> {
      throw new Error("unused");
    },
  };
  return fake;
}

/**
 * A store whose writes fail around some of the calls (`fate` by call number): before anything is
 * written, or after it was (a reply lost: the process does not know its write landed).
 */
function flakyStore(inner: Store, fate: (n: number) => "ok" | "before" | "after"): Store {
  let n = 0;
  return {
    get: (t, k, o) => inner.get(t, k, o),
    query: (t, pk, o) => inner.query(t, pk, o),
    async transact(ops) {
      const f = fate(n++);
      if (f === "before") throw new Error("store: throttled (nothing written)");
      await inner.transact(ops);
      if (f === "after") throw new Error("store: reply lost (written)");
    },
  };
}

const watcherPass = (reader: TonClientChainReader, vault: Address, store: Store, alerts: Alerts = collectingAlerts()) =>
  runWatcher({
    reader,
    ledger: new StoreChainLedger(store),
    alerts,
    now: () => NOW * 1000 + 60_000,
    lagThresholdSeconds: 600,
    vault: vault.toRawString(),
  });

describe("a flood of rejected transfers does not stall the toncenter watcher (the reader walks the backlog once, and any process resumes it)", () => {
  const FLOOD = 1200;
  let chain: LocalChain;
  beforeAll(async () => {
    chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    await floodVault(chain, FLOOD);
    await chain.deposit(requesterId, 5n); // a genuine deposit after the flood
  }, 240_000);
  const newest = () => String(vaultHistory(chain)[0]!.lt);
  const credited = async (store: Store) => (await store.get("accounts", { pk: requesterAccount(requesterId), sk: "balance" }))?.available;

  it("a pass walks the backlog at most once, and reads each page once more to hand it over (the old reader re-walked it for every page: 20 x 13 requests)", async () => {
    // Prepare
    const client = fakeToncenter(chain, { left: Number.MAX_SAFE_INTEGER });
    const reader = new TonClientChainReader(client, chain.vaultAddress);
    const ledger = new StoreChainLedger(createMemoryStore());
    // Act: 1000 transactions read (20 pages of 50)
    const pass = await runWatcher({
      reader,
      ledger,
      alerts: collectingAlerts(),
      now: () => NOW * 1000 + 60_000,
      lagThresholdSeconds: 600,
      vault: chain.vaultAddress.toRawString(),
    });
    // Assess: walking the whole backlog once takes 13 requests of 100, handing 1000 over 11 more
    expect(pass.processed).toBe(1000);
    expect(client.calls).toBeLessThanOrEqual(2 * (FLOOD / 99 + 1) + 6);
    expect(client.asked.every((o) => o.limit <= 100)).toBe(true);
  });

  it("behind the flood, a deposit is credited though each pass may make fewer requests than one walk takes", async () => {
    // Prepare: 20 passes (20 minutes of the 1-minute schedule), each allowed 10 toncenter requests:
    // the old reader spent them all re-walking the backlog for its first page, every pass
    const store = createMemoryStore();
    const budget = { left: 0 };
    const reader = new TonClientChainReader(fakeToncenter(chain, budget), chain.vaultAddress);
    // Act
    for (let i = 0; i < 20; i++) {
      budget.left = 10;
      await watcherPass(reader, chain.vaultAddress, store).catch(() => undefined);
    }
    // Assess
    expect(await credited(store)).toBe(5n * 1_000_000_000n - DEPOSIT_FEE);
  });

  it("behind the flood, a deposit is credited though every pass is a new process allowed fewer requests than one walk takes", async () => {
    // Prepare: 30 passes, each a fresh reader (nothing kept in memory) allowed 10 toncenter requests;
    // the walk alone takes 13: a reader that keeps it in memory only walks 10 of them, every pass
    const store = createMemoryStore();
    const budget = { left: 0 };
    const fake = fakeToncenter(chain, budget);
    // Act
    for (let i = 0; i < 30; i++) {
      budget.left = 10;
      const reader = new TonClientChainReader(fake, chain.vaultAddress, { walk: new StoreVaultWalk(store) });
      await watcherPass(reader, chain.vaultAddress, store).catch(() => undefined);
    }
    // Assess: credited once, every transaction read (the cursor at the newest), no request over 100
    expect(await credited(store)).toBe(5n * 1_000_000_000n - DEPOSIT_FEE);
    expect((await new StoreChainLedger(store).getCursor())?.lt).toBe(newest());
    expect(fake.asked.every((o) => o.limit <= 100)).toBe(true);
  });

  it("a crash anywhere (toncenter cut off, a store write lost before or after it landed, a pass stopped mid-page) re-reads, never skips or credits twice", async () => {
    // Prepare: a fresh reader every pass, each allowed 3 to 12 requests, and 2 store writes in 7
    // failing: one before it is written, one after (the process never learns that it landed);
    const store = createMemoryStore();
    const flaky = flakyStore(store, (n) => (n % 7 === 2 ? "before" : n % 7 === 5 ? "after" : "ok"));
    const budget = { left: 0 };
    const fake = fakeToncenter(chain, budget);
    // and an alert channel failing now and then: the pass stops in the middle of a page
    const alerts = collectingAlerts();
    let raised = 0;
    const flakyAlerts = {
      raise: async (a: Alert) => {
        if (raised++ % 97 === 50) throw new Error("alerts: SNS throttled");
        await alerts.raise(a);
      },
    };
    let passes = 0;
    // Act
    for (; passes < 300 && (await new StoreChainLedger(store).getCursor())?.lt !== newest(); passes++) {
      budget.left = 3 + ((passes * 5) % 10);
      const reader = new TonClientChainReader(fake, chain.vaultAddress, { walk: new StoreVaultWalk(flaky) });
      await watcherPass(reader, chain.vaultAddress, flaky, flakyAlerts).catch(() => undefined);
    }
    // Assess: caught up, the deposit credited once, and every rejected transfer of the flood was
    // processed (its bounce alert raised): none skipped
    const bounced = new Set(alerts.raised.filter((a) => a.key.startsWith("chain.bounce")).map((a) => a.details?.lt));
    const flood = vaultHistory(chain).filter((t) => normalizeVaultTx(t).kind === "bounce");
    expect(passes).toBeLessThan(300);
    expect(await credited(store)).toBe(5n * 1_000_000_000n - DEPOSIT_FEE);
    expect(flood.length).toBeGreaterThanOrEqual(FLOOD);
    expect(flood.filter((t) => !bounced.has(String(t.lt)))).toEqual([]);
  });
});

describe("the reader's kept walk: pages exactly after their cursor, whatever the cursor does", () => {
  it("pages are contiguous and at most `limit`; a cursor moved back, or ahead of the walk, and new transactions are all served right", async () => {
    // Prepare: a small vault history, pages of 3 from toncenter, 4 a page to the watcher
    const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    for (let i = 0; i < 4; i++) await chain.deposit(accountOf(`r${i}`), 1n);
    const fake = fakeToncenter(chain, { left: Number.MAX_SAFE_INTEGER });
    const reader = new TonClientChainReader(fake, chain.vaultAddress, { pageSize: 3 });
    const lts = () =>
      vaultHistory(chain)
        .map((t) => String(t.lt))
        .reverse();
    const readAll = async (from: Cursor | null) => {
      const pages: string[][] = [];
      for (let cursor = from; ;) {
        const page = await reader.getVaultTransactions(cursor, 4);
        if (page.txs.length === 0) return pages;
        pages.push(page.txs.map((t) => t.lt));
        cursor = page.cursor;
      }
    };

    // Act: the whole history, then again from the start (a cursor moved back), then from its middle
    const p1 = await reader.getVaultTransactions(null, 4);
    await reader.getVaultTransactions(p1.cursor, 4); // the kept walk now starts past page 1
    const back = await reader.getVaultTransactions(null, 4); // a cursor moved back while the walk holds more
    const first = await readAll(null);
    const again = await readAll(null);
    const middle = { lt: lts()[5]!, hash: "" };
    const fromMiddle = await readAll(middle as Cursor);
    const history = lts();
    await chain.deposit(accountOf("late"), 1n); // new transactions after the walk
    const newer = await reader.getVaultTransactions({ lt: first.flat().at(-1)!, hash: "" } as Cursor, 4);

    // Assess
    expect(first.flat()).toEqual(history);
    expect(first.every((p) => p.length <= 4)).toBe(true);
    expect(again).toEqual(first);
    expect(back.txs.map((t) => t.lt)).toEqual(first[0]);
    expect(fromMiddle.flat()).toEqual(first.flat().slice(6));
    expect(newer.txs.map((t) => t.lt)).toEqual(lts().slice(history.length, history.length + 4));
    expect(lts().length).toBeGreaterThan(history.length);
    // toncenter was asked for archival history, bounded by the cursor whenever there was one
    expect(fake.asked.every((o) => o.archival === true)).toBe(true);
    expect(fake.asked.filter((o) => o.to_lt !== undefined).length).toBeGreaterThan(0);
    expect(fake.asked.every((o) => o.limit === 3)).toBe(true);
  }, 60_000);
});
