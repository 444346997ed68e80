/**
 * Review, session 22 (fixed): the AWS watcher's reader (VaultHistoryReader over toncenter) walked
 * the vault's whole unread history, newest to cursor, for EVERY page it returned. A stranger who
 * floods the vault with cheap rejected transfers (each one a vault transaction) made each page
 * cost backlog/100 toncenter requests, so a pass (a 55 s Lambda, a bounded request budget) first
 * crawled, then made no progress at all: deposits behind the flood were never credited. The
 * reader now walks the backlog once, keeps it, and resumes a walk that was cut short (on a warm
 * instance: a cold start walks again).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { type Address, toNano, type Transaction, type TupleItem } from "@ton/core";
import { internal } from "@ton/sandbox";
import { startLocalChain, type LocalChain } from "../../local/chain";
import { collectingAlerts } from "../../core/chain/dedup";
import { StoreChainLedger } from "../../core/chain/store-ledger";
import { runWatcher } from "../../core/chain/watcher";
import { TonClientChainReader, type TonClientLike } from "./ton-chain";
import { NOW, accountOf, seed } from "./ton-chain-testing";
import type { Cursor } from "../../core/chain/types";
import { createMemoryStore } from "../../local/memory-store";
import { DEPOSIT_FEE } from "../../contracts/vault";
import { requesterAccount } from "../../core/ledger";

const requesterId = accountOf("requester-key");

/** toncenter's getTransactions over the sandbox (as in ton-chain.test.ts), with a per-pass request budget. */
type HistoryOpts = { limit: number; lt?: string; hash?: string; to_lt?: string; inclusive?: boolean; archival?: boolean };

/** The vault's transactions in the sandbox so far, newest first (toncenter's order). */
const vaultHistory = (chain: LocalChain) => {
  const h = BigInt("0x" + chain.vaultAddress.hash.toString("hex"));
  return ((chain.blockchain as unknown as { transactions: Transaction[] }).transactions ?? [])
    .filter((t) => t.address === h)
    .sort((a, b) => (a.lt > b.lt ? -1 : 1));
};

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
      const count = chain.txCount();
      if (count !== seen) [cache, seen] = [vaultHistory(chain), count];
      const all = cache!;
      let start = 0;
      if (opts.lt && opts.hash) {
        start = all.findIndex((t) => t.lt === BigInt(opts.lt!) && t.hash().toString("base64") === opts.hash);
        if (start < 0) throw new Error("lt/hash not found");
        if (opts.inclusive === false) start++;
      }
      let page = all.slice(start, start + Math.min(opts.limit, 100));
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

async function flood(chain: LocalChain, n: number) {
  const attacker = await chain.wallet("flooder");
  for (let i = 0; i < n; i++) {
    // a non-bounceable plain transfer from a stranger: the vault sends it back (one vault transaction each)
    await chain.blockchain.sendMessage(internal({ from: attacker.address, to: chain.vaultAddress, value: toNano("0.01"), bounce: false }));
  }
}

describe("a flood of rejected transfers does not stall the toncenter watcher (the reader walks the backlog once)", () => {
  const FLOOD = 1200;
  let chain: LocalChain;
  beforeAll(async () => {
    chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    await flood(chain, FLOOD);
    await chain.deposit(requesterId, 5n); // a genuine deposit after the flood
  }, 240_000);

  it("a pass walks the backlog at most once (the old reader re-walked it for every page: 20 x 13 requests)", async () => {
    // Prepare
    const client = fakeToncenter(chain, { left: Number.MAX_SAFE_INTEGER });
    const reader = new TonClientChainReader(client, chain.vaultAddress);
    const ledger = new StoreChainLedger(createMemoryStore());
    // Act: 1000 transactions read (20 pages of 50)
    const pass = await runWatcher({ reader, ledger, alerts: collectingAlerts(), now: () => NOW * 1000 + 60_000, lagThresholdSeconds: 600 });
    // Assess: walking the whole backlog once takes 13 requests of 100
    expect(pass.processed).toBe(1000);
    expect(client.calls).toBeLessThanOrEqual(FLOOD / 100 + 10);
  });

  it("behind the flood, a deposit is credited though each pass may make fewer requests than one walk takes", async () => {
    // Prepare: 20 passes (20 minutes of the 1-minute schedule), each allowed 10 toncenter requests:
    // the old reader spent them all re-walking the backlog for its first page, every pass
    const store = createMemoryStore();
    const ledger = new StoreChainLedger(store);
    const budget = { left: 0 };
    const reader = new TonClientChainReader(fakeToncenter(chain, budget), chain.vaultAddress);
    // Act
    for (let i = 0; i < 20; i++) {
      budget.left = 10;
      await runWatcher({ reader, ledger, alerts: collectingAlerts(), now: () => NOW * 1000 + 60_000, lagThresholdSeconds: 600 }).catch(
        () => undefined,
      );
    }
    // Assess
    const bal = await store.get("accounts", { pk: requesterAccount(requesterId), sk: "balance" });
    expect(bal?.available).toBe(5n * 1_000_000_000n - DEPOSIT_FEE);
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
