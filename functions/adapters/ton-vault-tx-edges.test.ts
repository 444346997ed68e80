/**
 * The reader's walk down the vault's history (VaultHistoryReader, session 23), edge by edge, over
 * a toncenter double of synthetic transactions (no sandbox chain: each case is milliseconds).
 * The double pages as toncenter v2 does: newest first from (lt, hash), `inclusive: false`
 * leaving that one out, `to_lt` exclusive, and it refuses a limit over 100 as toncenter does.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../local/memory-store";
import { memoryVaultWalk, StoreVaultWalk, type VaultWalkStore } from "../../core/chain/vault-walk";
import type { Cursor } from "../../core/chain/types";
import { VaultHistoryGapError, VaultHistoryReader, type HistoryClient, type TransactionLike } from "./ton-vault-tx";

type Asked = Parameters<HistoryClient<string, TransactionLike>["getTransactions"]>[1];

/** A vault transaction the reader reads as "unknown" (no message): only its lt and hash matter here. */
const txAt = (lt: number): TransactionLike => ({
  lt: BigInt(lt),
  now: 0,
  hash: () => createHash("sha256").update(String(lt)).digest(),
  description: { type: "storage" },
  inMessage: null,
  outMessages: { values: () => [] },
});

/**
 * Factory: a toncenter double over a history of `n` transactions at lt 10, 20, … (newest first),
 * and what it was asked; past `budget` requests it fails (a pass's request budget: a reader that
 * walks without end fails here instead of hanging the test).
 */
function historyOf(n: number, budget = 200, opts: { ignoresToLt?: boolean; byLtOnly?: boolean } = {}) {
  const all = Array.from({ length: n }, (_, i) => txAt(10 * (n - i)));
  const asked: Asked[] = [];
  const client: HistoryClient<string, TransactionLike> & { asked: Asked[]; all: TransactionLike[]; drop?: bigint } = {
    asked,
    all,
    getTransactions: async (_vault, o) => {
      asked.push(o);
      if (asked.length > budget) throw new Error("toncenter: 429 (request budget of the pass spent)");
      if (o.limit > 100) throw new Error("toncenter: 422 limit: ensure this value is less than or equal to 100");
      let start = 0;
      if (o.lt && o.hash) {
        // byLtOnly: an indexer that answers from the newest transaction at or below lt, whatever the hash
        start = opts.byLtOnly
          ? client.all.findIndex((t) => t.lt <= BigInt(o.lt!))
          : client.all.findIndex((t) => t.lt === BigInt(o.lt!) && t.hash().toString("base64") === o.hash);
        if (start < 0) return [];
        if (o.inclusive === false) start++;
      }
      let page = client.all.slice(start, start + o.limit);
      if (o.to_lt && !opts.ignoresToLt) page = page.filter((t) => t.lt > BigInt(o.to_lt!));
      return page;
    },
    getBalance: async () => 0n,
  };
  /** `count` more transactions after the newest */
  const grow = (count: number) => {
    const top = Number(client.all[0]?.lt ?? 0n);
    for (let i = 1; i <= count; i++) client.all.unshift(txAt(top + 10 * i));
  };
  return { client, asked, grow };
}

const lts = (txs: { lt: string }[]) => txs.map((t) => Number(t.lt));
const range = (from: number, to: number) => Array.from({ length: (to - from) / 10 + 1 }, (_, i) => from + 10 * i);
const cursorAt = (lt: number): Cursor => ({ lt: String(lt), hash: "" });

/** Every transaction after `from`, `limit` a page, as the watcher reads them. */
async function readAll(reader: VaultHistoryReader<string, TransactionLike>, limit: number, from: Cursor | null = null) {
  const out: number[] = [];
  for (let cursor = from; ;) {
    const page = await reader.getVaultTransactions(cursor, limit);
    if (page.txs.length === 0) return out;
    out.push(...lts(page.txs));
    cursor = page.cursor;
  }
}

describe("the reader's walk, edge by edge", () => {
  it("a full page that one toncenter page holds costs one request (no look past it for more)", async () => {
    // Prepare
    const { client, asked } = historyOf(5);
    const reader = new VaultHistoryReader(client, "vault");
    // Act
    const page = await reader.getVaultTransactions(null, 5);
    // Assess
    expect(lts(page.txs)).toEqual(range(10, 50));
    expect(asked).toHaveLength(1);
  });

  it("a cursor inside the page read last is served from it without asking toncenter again", async () => {
    // Prepare
    const { client, asked } = historyOf(10);
    const reader = new VaultHistoryReader(client, "vault");
    // Act
    const read = await readAll(reader, 4);
    // Assess: one request read all ten; the pages after the first came from memory (the last two
    // reads, past the page's newest, ask for anything newer: one request each)
    expect(read).toEqual(range(10, 100));
    expect(asked).toHaveLength(3);
  });

  it("a kept walk whose page tops expired (a month without a pass) is walked again from the cursor", async () => {
    // Prepare: one process walked 10 transactions (pages of 3) and served two; a month later another resumes
    const clock = { t: 1_750_000_000_000, now: () => clock.t };
    const store = createMemoryStore({ clock });
    const { client } = historyOf(10);
    const first = new VaultHistoryReader(client, "vault", { pageSize: 3, walk: new StoreVaultWalk(store, clock.now) });
    await first.getVaultTransactions(null, 2);
    clock.t += 31 * 24 * 3600 * 1000;
    const later = new VaultHistoryReader(client, "vault", { pageSize: 3, walk: new StoreVaultWalk(store, clock.now) });
    // Act
    const page = await later.getVaultTransactions(cursorAt(20), 4);
    // Assess
    expect(lts(page.txs)).toEqual([30, 40, 50, 60]);
  });

  it("a walk whose page tops cannot be read back answers nothing this pass rather than walking again and again", async () => {
    // Prepare: 9 transactions in pages of 3 end on a request that finds nothing new (no bottom page
    // kept in memory), and a walk store that loses every page top
    const { client, asked } = historyOf(9);
    const kept = memoryVaultWalk();
    const lossy: VaultWalkStore = { ...kept, pages: async () => [] };
    const reader = new VaultHistoryReader(client, "vault", { pageSize: 3, walk: lossy });
    // Act
    const page = await reader.getVaultTransactions(null, 4);
    // Assess: one walk of five requests, then nothing
    expect(page.txs).toEqual([]);
    expect(asked).toHaveLength(5);
  });

  it("a flood after the watcher caught up with a kept walk is walked afresh, not through the old walk", async () => {
    // Prepare: a walk of 10 kept in the store, read to its newest transaction; then 7 more arrive
    const store = createMemoryStore();
    const { client, grow } = historyOf(10);
    const reader = new VaultHistoryReader(client, "vault", { pageSize: 3, walk: new StoreVaultWalk(store) });
    expect(await readAll(reader, 4)).toEqual(range(10, 100));
    grow(7);
    // Act
    const read = await readAll(reader, 4, cursorAt(100));
    // Assess
    expect(read).toEqual(range(110, 170));
  });

  it("a walk of one request writes nothing; a longer one keeps its boundaries, finished, and one page top per request", async () => {
    // Prepare
    const short = memoryVaultWalk();
    const long = memoryVaultWalk();
    // Act: 2 transactions (one request), then 10 in pages of 3 (five requests)
    await new VaultHistoryReader(historyOf(2).client, "vault", { walk: short }).getVaultTransactions(null, 4);
    await new VaultHistoryReader(historyOf(10).client, "vault", { pageSize: 3, walk: long }).getVaultTransactions(null, 4);
    // Assess: each top is the newest transaction its request added (a page asked from (lt, hash) inclusive repeats that one)
    expect(await short.load()).toBeNull();
    expect(await long.load()).toEqual({
      id: "-1.1",
      version: 5,
      lo: "-1",
      head: { lt: "100", hash: txAt(100).hash().toString("base64") },
      from: { lt: "10", hash: txAt(10).hash().toString("base64") },
      done: true,
      floor: "-1",
    });
    expect((await long.pages("-1.1", 10)).map((p) => Number(p.lt))).toEqual([10, 30, 50, 70, 100]);
  });

  it("a walk resumed by another process that finishes in one request is kept finished", async () => {
    // Prepare: the first process is cut off at its fifth request (the walk's last)
    const walk = memoryVaultWalk();
    const cut = new VaultHistoryReader(historyOf(10, 4).client, "vault", { pageSize: 3, walk });
    await cut.getVaultTransactions(null, 4).catch(() => undefined);
    const before = await walk.load();
    // Act
    const page = await new VaultHistoryReader(historyOf(10).client, "vault", { pageSize: 3, walk }).getVaultTransactions(null, 4);
    // Assess
    expect(before).toMatchObject({ version: 4, done: false });
    expect(lts(page.txs)).toEqual([10, 20, 30, 40]);
    expect(await walk.load()).toMatchObject({ version: 5, done: true });
  });

  it("every request of a walk from a cursor is bounded by it (to_lt); a read from the start asks no bound", async () => {
    // Prepare
    const fromStart = historyOf(10);
    const fromCursor = historyOf(10);
    // Act
    await new VaultHistoryReader(fromStart.client, "vault", { pageSize: 3 }).getVaultTransactions(null, 1);
    await new VaultHistoryReader(fromCursor.client, "vault", { pageSize: 3 }).getVaultTransactions(cursorAt(20), 1);
    // Assess: the walk from 20 is four requests (100-80, 80-60, 60-40, 40-30), each bounded by 20, and its bottom page serves the one asked for
    expect(fromStart.asked.map((o) => o.to_lt)).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(fromCursor.asked.map((o) => o.to_lt)).toEqual(["20", "20", "20", "20"]);
  });

  it("a toncenter answer with rows at or below the cursor (to_lt not honoured) ends the walk there, not at the history's start", async () => {
    // Prepare
    const { client, asked } = historyOf(10, 200, { ignoresToLt: true });
    const reader = new VaultHistoryReader(client, "vault", { pageSize: 3 });
    // Act
    const read = await readAll(reader, 4, cursorAt(60));
    // Assess: the walk to 60 ends at the request whose rows reach it (80, 70, 60): two requests, not three
    expect(read).toEqual(range(70, 100));
    expect(asked.filter((o) => o.to_lt === "60")).toHaveLength(2);
  });

  it("pages the watcher's cursor passed are dropped, the walk's floor raised to them", async () => {
    // Prepare
    const walk = memoryVaultWalk();
    const reader = new VaultHistoryReader(historyOf(10).client, "vault", { pageSize: 3, walk });
    // Act
    expect(await readAll(reader, 4)).toEqual(range(10, 100));
    // Assess: the tops 10 and 30 (passed at cursor 40) went in one drop; the pages above 40 were
    // served from memory or by a read past them (no lookup of the tops, so nothing dropped then)
    expect((await walk.pages("-1.1", 10)).map((p) => Number(p.lt))).toEqual([50, 70, 100]);
    expect(await walk.load()).toMatchObject({ version: 6, floor: "30" });
  });

  it("one read through more than 16 pages of a walk finds each next page (the tops are looked up further)", async () => {
    // Prepare: 40 transactions in pages of 2 (one new transaction a request): a walk of 40 pages
    const { client, asked } = historyOf(40);
    const reader = new VaultHistoryReader(client, "vault", { pageSize: 2 });
    // Act
    const page = await reader.getVaultTransactions(null, 40);
    // Assess: one walk (40 requests), each page above the bottom read back once (39)
    expect(lts(page.txs)).toEqual(range(10, 400));
    expect(asked).toHaveLength(79);
  });

  it.each([
    ["no longer answers it (nothing from its top)", false, (t: TransactionLike) => t.lt !== 30n],
    ["answers from an older transaction in its place", true, (t: TransactionLike) => t.lt !== 30n],
  ])("a page whose top toncenter %s is a history_gap error, nothing served from it", async (_what, byLtOnly, keep) => {
    // Prepare: a walk of 10 in pages of 3 served its bottom page (10); then toncenter loses 30, a page's top
    const { client } = historyOf(10, 200, { byLtOnly });
    const reader = new VaultHistoryReader(client, "vault", { pageSize: 3 });
    await reader.getVaultTransactions(null, 1);
    client.all = client.all.filter(keep);
    // Act
    const e = await reader.getVaultTransactions(cursorAt(10), 4).catch((x: unknown) => x);
    // Assess
    expect(e).toBeInstanceOf(VaultHistoryGapError);
    expect(e).toMatchObject({ code: "history_gap", message: "toncenter did not answer the page of transaction 30 from it" });
  });

  it("a page whose top toncenter answers with another transaction at its lt (another hash) is a history_gap error", async () => {
    // Prepare
    const { client } = historyOf(10, 200, { byLtOnly: true });
    const reader = new VaultHistoryReader(client, "vault", { pageSize: 3 });
    await reader.getVaultTransactions(null, 1);
    client.all = client.all.map((t) => (t.lt === 30n ? { ...t, hash: () => Buffer.alloc(32, 1) } : t));
    // Act
    const e = await reader.getVaultTransactions(cursorAt(10), 4).catch((x: unknown) => x);
    // Assess
    expect(e).toBeInstanceOf(VaultHistoryGapError);
  });

  it("a page is read back bounded by the cursor (to_lt), from its top inclusive", async () => {
    // Prepare: a walk of 10 in pages of 3; its bottom page (10) served
    const { client, asked } = historyOf(10);
    const reader = new VaultHistoryReader(client, "vault", { pageSize: 3 });
    await reader.getVaultTransactions(null, 1);
    asked.length = 0;
    // Act
    await reader.getVaultTransactions(cursorAt(10), 2);
    // Assess
    expect(asked).toEqual([{ limit: 3, lt: "30", hash: txAt(30).hash().toString("base64"), inclusive: true, to_lt: "10", archival: true }]);
  });
});

describe("session 40: the reader's view of the chain (ChainReader.chainView)", () => {
  it("is toncenter's state when given (sync time in ms, the vault's last transaction), and absent otherwise", async () => {
    // Prepare
    const { client } = historyOf(3);
    const states = [
      { timestampt: 1_750_000_321, lastTransaction: { lt: "42" } },
      { timestampt: 1_750_000_400, lastTransaction: null },
    ];
    const reader = new VaultHistoryReader(client, "vault", { chainState: async () => states.shift()! });
    const plain = new VaultHistoryReader(client, "vault");

    // Act
    const views = [await reader.chainView!(), await reader.chainView!()];

    // Assess
    expect(views).toEqual([
      { at: 1_750_000_321_000, lastLt: "42" },
      { at: 1_750_000_400_000, lastLt: null },
    ]);
    expect(plain.chainView).toBeUndefined();
  });
});
