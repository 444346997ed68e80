/**
 * Edges of the LMDB store (local/store-lmdb.ts) that the shared store contract does not reach:
 * durability (a transaction and a sweep wait for the disk flush unless `durable: false`),
 * uncompressed values, use after close, an empty transaction, the size bound of an update,
 * the key guard of `get`, `query` at a table's end and with limit 0, the table scan, and the
 * expired-item sweep (foreign keys, batches of 1000, the re-check inside the write).
 *
 * The real lmdb runs in a temp dir; `open` is wrapped only to hand the test the environment
 * the store opened (to watch its flush, transactions and encoder), and validateItemSize only
 * to count how often an updated item is measured.
 */
import { join } from "node:path";
import { open, type RootDatabase } from "lmdb";
import { afterEach, describe, expect, it, vi } from "vitest";
import { tempDir } from "../test/temp-dir";
import type { Clock, Item, TableName, WriteOp } from "../core/ports";
import { validateItemSize } from "../core/store-rules";
import { LMDB_ENCODER, LMDB_FILE, openLmdbStore, StoreValidationError, type LmdbStore, type LmdbStoreOptions } from "./store-lmdb";

type Db = RootDatabase<Item, string | string[]>;

const lmdbSpy = vi.hoisted(() => ({ opened: [] as unknown[] }));

vi.mock("lmdb", async (importOriginal) => {
  const actual = await importOriginal<typeof import("lmdb")>();
  const realOpen = actual.open as (...args: unknown[]) => unknown;
  return {
    ...actual,
    open: (...args: unknown[]) => {
      const db = realOpen(...args);
      lmdbSpy.opened.push(db);
      return db;
    },
  };
});

vi.mock("../core/store-rules", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../core/store-rules")>();
  return { ...actual, validateItemSize: vi.fn(actual.validateItemSize) };
});

const storeDir = () => tempDir("cocoon-lmdb-edges-");
const stores: LmdbStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  vi.mocked(validateItemSize).mockClear();
});

const START_MS = Date.UTC(2025, 0, 1);
const fakeClock = (startMs = START_MS) => {
  let now = startMs;
  return { now: () => now, advance: (ms: number) => void (now += ms) } satisfies Clock & { advance(ms: number): void };
};

/** A store in a fresh temp dir, and the lmdb environment it opened. */
const openStore = async (opts: LmdbStoreOptions = {}, dir = storeDir()) => {
  const before = lmdbSpy.opened.length;
  const store = await openLmdbStore(dir, opts);
  stores.push(store);
  expect(lmdbSpy.opened.length).toBe(before + 1);
  return { store, db: lmdbSpy.opened[before] as Db, dir };
};

/** Counts reads of `db.flushed`; while held, the flush it hands out resolves only on release(). */
const watchFlush = (db: Db) => {
  const real = db.flushed;
  let reads = 0;
  let gate: Promise<void> | undefined;
  let release = () => {};
  Object.defineProperty(db, "flushed", {
    configurable: true,
    get: () => {
      reads++;
      return gate ? gate.then(() => real) : real;
    },
  });
  return {
    reads: () => reads,
    hold: () => {
      gate = new Promise<void>((resolve) => (release = resolve));
    },
    release: () => release(),
  };
};

/** Every write transaction's callback result, in order. */
const watchTransactions = (db: Db) => {
  const results: unknown[] = [];
  const real = db.transaction.bind(db);
  vi.spyOn(db, "transaction").mockImplementation(<T>(action: () => T) =>
    real(() => {
      const result = action();
      results.push(result);
      return result;
    }),
  );
  return results;
};

const put = (table: TableName, pk: string, sk = "s", extra: Record<string, unknown> = {}): WriteOp => ({
  op: "put",
  table,
  item: { pk, sk, ...extra },
});
const settledFlag = (promise: Promise<unknown>) => {
  const state = { settled: false };
  void promise.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
};
const ticks = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};
const CLOSED = /lmdb store at .* is closed; open it again/;

describe("lmdb store: durability", () => {
  it("waits for the disk flush after a transaction by default", async () => {
    // Prepare
    const { store, db } = await openStore();
    const flush = watchFlush(db);
    // Act
    await store.transact([put("jobs", "a")]);
    // Assess
    expect(flush.reads()).toBe(1);
  });

  it("resolves a default transaction only once the flush resolves", async () => {
    // Prepare
    const { store, db } = await openStore({ durable: true });
    const flush = watchFlush(db);
    flush.hold();
    // Act
    const pending = store.transact([put("jobs", "a")]);
    const state = settledFlag(pending);
    await vi.waitFor(() => expect(flush.reads()).toBe(1));
    await ticks();
    const beforeRelease = state.settled;
    flush.release();
    await pending;
    // Assess
    expect(beforeRelease).toBe(false);
    expect(await store.get("jobs", { pk: "a", sk: "s" })).toEqual({ pk: "a", sk: "s" });
  });

  it("does not wait for the flush with durable: false, yet the write is visible", async () => {
    // Prepare
    const { store, db } = await openStore({ durable: false });
    const flush = watchFlush(db);
    // Act
    await store.transact([put("jobs", "a")]);
    const swept = await store.purgeExpired();
    // Assess
    expect(flush.reads()).toBe(0);
    expect(swept).toBe(0);
    expect(await store.get("jobs", { pk: "a", sk: "s" })).toEqual({ pk: "a", sk: "s" });
  });

  it("waits for the disk flush after a sweep by default", async () => {
    // Prepare
    const { store, db } = await openStore();
    const flush = watchFlush(db);
    // Act
    await store.purgeExpired();
    // Assess
    expect(flush.reads()).toBe(1);
  });

  it("reports that a transaction costs the same as a lone write (cheapTransactions)", async () => {
    // Prepare
    const { store } = await openStore();
    // Act
    const cheap = store.cheapTransactions;
    // Assess
    expect(cheap).toBe(true);
  });

  it("stores a large value uncompressed (its msgpack bytes as written)", async () => {
    // Prepare
    const text = "cocoon ".repeat(3000); // 21 KB, very compressible
    const { store, dir } = await openStore({ durable: false });
    await store.transact([put("jobs", "big", "s", { text })]);
    await store.close();
    // Act
    const raw = open({ path: join(dir, LMDB_FILE), compression: false });
    const bytes = raw.getBinary(["jobs", "big", "s"]);
    await raw.close();
    // Assess
    expect(bytes).toBeDefined();
    expect(Buffer.from(bytes!).includes(Buffer.from(text))).toBe(true);
  });
});

describe("lmdb store: close", () => {
  it("refuses every call after close with the store's own error, not lmdb's", async () => {
    // Prepare
    const { store } = await openStore();
    await store.transact([put("jobs", "a")]);
    await store.close();
    // Act
    const calls = [
      store.transact([put("jobs", "b")]),
      store.get("jobs", { pk: "a", sk: "s" }),
      store.query("jobs", "a"),
      store.purgeExpired(),
    ];
    // Assess
    for (const call of calls) await expect(call).rejects.toThrow(CLOSED);
    expect(() => store.scan("jobs")).toThrow(CLOSED);
  });

  it("closes the environment once, however often close is called", async () => {
    // Prepare
    const { store, db } = await openStore();
    const close = vi.spyOn(db, "close");
    // Act
    await store.close();
    await store.close();
    // Assess
    expect(close).toHaveBeenCalledTimes(1);
  });
});

describe("lmdb store: transact", () => {
  it("resolves an empty transaction without a write transaction or a flush", async () => {
    // Prepare
    const { store, db } = await openStore();
    const flush = watchFlush(db);
    const transactions = watchTransactions(db);
    // Act
    await store.transact([]);
    // Assess
    expect(transactions).toEqual([]);
    expect(vi.mocked(db.transaction)).not.toHaveBeenCalled();
    expect(flush.reads()).toBe(0);
  });

  it("encodes an updated item once and does not measure it when its encoding bounds it under 400 KB", async () => {
    // Prepare
    const { store, db } = await openStore({ durable: false });
    const key = { pk: "acct", sk: "balance" };
    await store.transact([{ op: "put", table: "accounts", item: { ...key, available: 10n } }]);
    const encoder = (db as unknown as { encoder: { encode(v: unknown): Uint8Array } }).encoder;
    const encode = vi.spyOn(encoder, "encode");
    vi.mocked(validateItemSize).mockClear();
    // Act
    await store.transact([{ op: "update", table: "accounts", key, add: { available: 5n }, set: { note: "x" } }]);
    // Assess
    expect(encode).toHaveBeenCalledTimes(1);
    expect(vi.mocked(validateItemSize)).not.toHaveBeenCalled();
    expect(await store.get("accounts", key)).toEqual({ ...key, available: 15n, note: "x" });
  });

  it("measures an updated item whose encoding is too long to bound it under 400 KB", async () => {
    // Prepare
    const { store } = await openStore({ durable: false });
    const key = { pk: "job", sk: "job" };
    await store.transact([{ op: "put", table: "jobs", item: { ...key, reply: "r".repeat(150_000), attempt: 1 } }]);
    vi.mocked(validateItemSize).mockClear();
    // Act
    await store.transact([{ op: "update", table: "jobs", key, add: { attempt: 1 } }]);
    // Assess
    expect(vi.mocked(validateItemSize)).toHaveBeenCalledTimes(1);
    expect((await store.get("jobs", key))?.attempt).toBe(2);
  });
});

describe("lmdb store: get and query", () => {
  it("refuses a get with an empty pk with STORE_BAD_KEY", async () => {
    // Prepare
    const { store } = await openStore();
    // Act
    const error = await store.get("jobs", { pk: "", sk: "s" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Assess
    expect(error).toBeInstanceOf(StoreValidationError);
    expect((error as StoreValidationError).code).toBe("STORE_BAD_KEY");
  });

  it("returns nothing for limit 0 or below, without reading", async () => {
    // Prepare
    const { store, db } = await openStore({ durable: false });
    await store.transact([put("jobs", "p", "a"), put("jobs", "p", "b")]);
    const getRange = vi.spyOn(db, "getRange");
    // Act
    const zero = await store.query("jobs", "p", { limit: 0 });
    const negative = await store.query("jobs", "p", { limit: -1 });
    const one = await store.query("jobs", "p", { limit: 1 });
    // Assess
    expect(zero).toEqual([]);
    expect(negative).toEqual([]);
    expect(one).toEqual([{ pk: "p", sk: "a" }]);
    expect(getRange).toHaveBeenCalledTimes(1);
  });

  it("stops a query at the end of its table, even where the next table holds the same pk", async () => {
    // Prepare: nothing in accounts sorts after "p", and chain (the next table) holds pk "p"
    const { store } = await openStore({ durable: false });
    await store.transact([put("accounts", "a"), put("chain", "p", "s"), put("chain", "p", "t")]);
    // Act
    const got = await store.query("accounts", "p");
    const withPrefix = await store.query("accounts", "p", { skPrefix: "s" });
    // Assess
    expect(got).toEqual([]);
    expect(withPrefix).toEqual([]);
    expect(await store.query("chain", "p")).toEqual([
      { pk: "p", sk: "s" },
      { pk: "p", sk: "t" },
    ]);
  });
});

describe("lmdb store: scan", () => {
  it("returns every live item of one table, not of the tables around it, and skips expired ones", async () => {
    // Prepare
    const clock = fakeClock();
    const { store } = await openStore({ clock, durable: false });
    const past = START_MS / 1000 - 1;
    const future = START_MS / 1000 + 60;
    await store.transact([
      put("accounts", "z"),
      put("chain", "a", "1"),
      put("chain", "b", "1", { ttl: future }),
      put("chain", "c", "1", { ttl: past }),
      put("chain", "d", "1"),
      put("idempotency", "a"),
    ]);
    // Act
    const chain = store.scan("chain");
    const accounts = store.scan("accounts");
    const empty = store.scan("ledger");
    // Assess
    expect(chain).toEqual([
      { pk: "a", sk: "1" },
      { pk: "b", sk: "1", ttl: future },
      { pk: "d", sk: "1" },
    ]);
    expect(accounts).toEqual([{ pk: "z", sk: "s" }]);
    expect(empty).toEqual([]);
  });
});

describe("lmdb store: purgeExpired", () => {
  it("removes only expired items and leaves live ones", async () => {
    // Prepare
    const clock = fakeClock();
    const { store } = await openStore({ clock, durable: false });
    const ttl = START_MS / 1000 + 10;
    await store.transact([put("nonces", "old", "n", { ttl }), put("nonces", "new", "n", { ttl: ttl + 60 }), put("jobs", "j")]);
    clock.advance(10_000);
    // Act
    const removed = await store.purgeExpired();
    clock.advance(-10_000);
    // Assess
    expect(removed).toBe(1);
    expect(await store.get("nonces", { pk: "old", sk: "n" })).toBeUndefined(); // live on the earlier clock, so gone from disk
    expect(await store.get("nonces", { pk: "new", sk: "n" })).toEqual({ pk: "new", sk: "n", ttl: ttl + 60 });
    expect(await store.get("jobs", { pk: "j", sk: "s" })).toEqual({ pk: "j", sk: "s" });
  });

  it("leaves keys that are not the store's [table, pk, sk] alone, expired values or not", async () => {
    // Prepare: another writer left a string key of length 3 and arrays of other lengths
    const dir = storeDir();
    const raw = open({ path: join(dir, LMDB_FILE), compression: false, encoder: LMDB_ENCODER });
    const expired = { pk: "x", sk: "y", ttl: 1 };
    await raw.put("abc", expired);
    await raw.put(["jobs", "x"], expired);
    await raw.put(["jobs", "x", "y", "z"], expired);
    await raw.close();
    const { store } = await openStore({ durable: false }, dir);
    await store.transact([put("nonces", "k", "n", { ttl: 1 })]);
    // Act
    const removed = await store.purgeExpired();
    await store.close();
    // Assess
    const check = open({ path: join(dir, LMDB_FILE), compression: false, encoder: LMDB_ENCODER });
    const left = [check.get("abc"), check.get(["jobs", "x"]), check.get(["jobs", "x", "y", "z"]), check.get(["nonces", "k", "n"])];
    await check.close();
    expect(removed).toBe(1);
    expect(left).toEqual([expired, expired, expired, undefined]);
  });

  it("opens no write transaction when nothing has expired", async () => {
    // Prepare
    const clock = fakeClock();
    const { store, db } = await openStore({ clock, durable: false });
    await store.transact([put("nonces", "k", "n", { ttl: START_MS / 1000 + 60 }), put("jobs", "j")]);
    const transactions = watchTransactions(db);
    // Act
    const removed = await store.purgeExpired();
    // Assess
    expect(removed).toBe(0);
    expect(transactions).toEqual([]);
    expect(store.scan("nonces")).toHaveLength(1);
  });

  it("removes many expired items in write transactions of at most 1000", async () => {
    // Prepare
    const clock = fakeClock();
    const { store, db } = await openStore({ clock, durable: false });
    const ttl = START_MS / 1000 + 1;
    const writes: Array<Promise<void>> = [];
    for (let b = 0; b < 11; b++) {
      const ops = Array.from({ length: 100 }, (_, i) => put("nonces", `k${String(b * 100 + i).padStart(4, "0")}`, "n", { ttl }));
      if (b === 10) ops.length = 1; // 1001 in all
      writes.push(store.transact(ops));
    }
    await Promise.all(writes);
    await store.transact([put("nonces", "live", "n", { ttl: ttl + 60 })]);
    clock.advance(1000);
    const transactions = watchTransactions(db);
    // Act
    const removed = await store.purgeExpired();
    // Assess
    expect(removed).toBe(1001);
    expect(transactions).toEqual([1000, 1]);
    expect(store.scan("nonces")).toEqual([{ pk: "live", sk: "n", ttl: ttl + 60 }]);
    expect(await store.purgeExpired()).toBe(0);
  });

  it("keeps an expired item that a transaction queued before the sweep replaced with a live one", async () => {
    // Prepare
    const clock = fakeClock();
    const { store } = await openStore({ clock, durable: false });
    const key = { pk: "k", sk: "n" };
    await store.transact([put("nonces", key.pk, key.sk, { ttl: START_MS / 1000 - 1 })]);
    // Act: the put is queued first, the sweep scans before it commits, then re-checks in its write
    const replace = store.transact([put("nonces", key.pk, key.sk, { fresh: true })]);
    const sweep = store.purgeExpired();
    await replace;
    const removed = await sweep;
    // Assess
    expect(removed).toBe(0);
    expect(await store.get("nonces", key)).toEqual({ ...key, fresh: true });
  });

  it("skips an expired item that a transaction queued before the sweep deleted", async () => {
    // Prepare
    const clock = fakeClock();
    const { store } = await openStore({ clock, durable: false });
    const key = { pk: "k", sk: "n" };
    await store.transact([put("nonces", key.pk, key.sk, { ttl: START_MS / 1000 - 1 })]);
    // Act
    const remove = store.transact([{ op: "delete", table: "nonces", key }]);
    const sweep = store.purgeExpired();
    await remove;
    const removed = await sweep;
    // Assess
    expect(removed).toBe(0);
    expect(store.scan("nonces")).toEqual([]);
  });
});
