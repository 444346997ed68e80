/**
 * The local Store: one LMDB environment (lmdb 3.5.6) in a directory.
 *
 * - Keys are lmdb array keys [table, pk, sk], ordered by UTF-8 bytes like DynamoDB, so
 *   `query(table, pk, { skPrefix, limit })` is one range scan.
 * - Values are msgpack (lmdb's encoder) with msgpackr's bigint extension, so every bigint
 *   (not only 64-bit ones) round-trips as a bigint and numbers stay numbers; objects are plain
 *   msgpack maps (no records).
 * - `transact` is one callback of lmdb's batched async transaction: lmdb runs the callbacks
 *   of many concurrent transactions one after another inside a single write transaction
 *   (single writer, so read-check-write is isolated, also against other processes) and
 *   commits them with one fsync. Inside a callback all conditions are read and evaluated
 *   first, then every new value is computed and encoded, and only then written, so nothing
 *   can throw after the first write (lmdb's async transaction keeps writes made before a
 *   throw). A failed condition is returned from the callback, not thrown. An updated item's
 *   size (400 KB at most, as on DynamoDB) is bounded by the length of its encoding, which is
 *   made anyway, and measured only when that bound is over the limit (msgpackItemBytesBound).
 * - Durability: a transaction resolves once its commit is flushed to disk (fdatasync). With
 *   `durable: false` it resolves once committed and visible (other processes see it), and a
 *   power loss may lose the last commits (a process crash loses nothing).
 * - Items whose `ttl` (unix seconds) is at or before now are absent for get/query/conditions;
 *   `purgeExpired()` removes them from disk.
 * - A second process may open the same directory (LMDB's lock file coordinates writers).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { asBinary, open, type RootDatabase } from "lmdb";
import { ConditionFailedError, type Clock, type Item, type Key, type Store, type TableName, type WriteOp } from "../core/ports";
import {
  conditionFailedMessage,
  isExpired,
  live,
  planTransaction,
  StoreValidationError,
  systemClock,
  validateKey,
  validateOps,
} from "./store-semantics";

export interface LmdbStore extends Store {
  /** The directory holding the database files. */
  readonly dir: string;
  /** Removes expired items from disk; returns how many. Reads already ignore them. */
  purgeExpired(): Promise<number>;
  /** Every live item of a table (local recovery after a restart; DynamoDB needs no such scan). */
  scan<T extends Item = Item>(table: TableName): T[];
  /** Waits for pending writes and closes the environment. */
  close(): Promise<void>;
}

export interface LmdbStoreOptions {
  clock?: Clock;
  /** Resolve transactions only once flushed to disk (default true). */
  durable?: boolean;
}

type LmdbKey = [string, string, string];

/**
 * An upper bound of itemBytes (core/store-rules.ts: DynamoDB's count) of an item from the length
 * of its msgpack encoding as this store writes it (plain maps, no records): at most 4 × the
 * length + 32. Why: for every value, itemBytes' count D and its msgpack bytes m have D + 1 ≤ 4m.
 * A string is its UTF-8 bytes either way, plus msgpack's header; a number is at most 3 where
 * msgpack takes 1 byte (fixint, ≤ 127) and at most 13 in 9; a boolean or null 1 in 1; a bigint
 * nested in a map or list at most 31 ({"$bigint": 20 digits}) in an int64's 9, and bigger ones
 * fewer per byte; a list or map counts 3, plus 1 per element and each entry's name, where
 * msgpack has at least a 1-byte header and a name's header (a tag-like map's 8 more are covered
 * by its 4- or 7-byte name). At the top, the adapter's 32 bytes are the constant and a bigint's
 * marker (5 + its name) fits in its 9 bytes. So a job item (under 1 KB) is never measured;
 * an item is when its encoding is over 100 KB.
 */
export const msgpackItemBytesBound = (encodedBytes: number) => 4 * encodedBytes + 32;

/**
 * How values are encoded: msgpack with msgpackr's bigint extension, plain maps, not msgpackr's
 * records: with no shared structures (none are stored) every item carried its record definition
 * and every read rebuilt a reader for it, about a fifth of the store's encode and decode time
 * per job (issue 12). Items written as records (before this) still decode: a record definition
 * inside a value is read as such. (msgpackItemBytesBound holds for this encoding.)
 */
export const LMDB_ENCODER = { useBigIntExtension: true, useRecords: false } as const;

/** The database file inside `dir` (plus data.mdb-lock). */
export const LMDB_FILE = "data.mdb";

export async function openLmdbStore(dir: string, opts: LmdbStoreOptions = {}): Promise<LmdbStore> {
  const clock = opts.clock ?? systemClock;
  const durable = opts.durable ?? true;
  mkdirSync(dir, { recursive: true });
  const db: RootDatabase<Item, LmdbKey> = open<Item, LmdbKey>({
    path: join(dir, LMDB_FILE),
    compression: false,
    encoder: LMDB_ENCODER,
  });
  // lmdb's own msgpackr instance, used to encode values before the write phase
  const encoder = (db as unknown as { encoder: { encode(v: unknown): Uint8Array } }).encoder;
  let closed = false;

  const assertOpen = () => {
    if (closed) throw new Error(`lmdb store at ${dir} is closed; open it again`);
  };
  const read = (table: TableName, key: Key): Item | undefined => live(db.get([table, key.pk, key.sk]), clock.now());
  // a copy: msgpackr reuses its buffer for the next encoding
  const encode = (item: Item) => Buffer.from(encoder.encode(item));

  async function transact(ops: WriteOp[]): Promise<void> {
    assertOpen();
    validateOps(ops);
    if (ops.length === 0) return;
    const outcome = await db.transaction((): { failed: number } | { error: unknown } | undefined => {
      let writes: Array<{ key: LmdbKey; value: Buffer | null }>;
      try {
        // An updated item is encoded while it is planned: the encoding's length bounds its size
        // (measured only past 100 KB), and it is the value written below.
        const encoded = new Map<Item, Buffer>();
        const plan = planTransaction(ops, read, {
          bound: (_op, _i, _current, next) => {
            const value = encode(next);
            encoded.set(next, value);
            return msgpackItemBytesBound(value.length);
          },
        });
        if (plan.failed !== undefined) return { failed: plan.failed };
        writes = plan.writes.map((w) => ({
          key: [w.table, w.key.pk, w.key.sk] as LmdbKey,
          value: w.item === null ? null : (encoded.get(w.item) ?? encode(w.item)),
        }));
      } catch (error) {
        return { error }; // nothing written yet: reject without throwing inside lmdb's batch
      }
      for (const w of writes) {
        if (w.value === null) db.remove(w.key);
        else db.put(w.key, asBinary(w.value) as unknown as Item);
      }
      return undefined;
    });
    if (outcome && "failed" in outcome) throw new ConditionFailedError(outcome.failed, conditionFailedMessage(ops, outcome.failed));
    if (outcome && "error" in outcome) throw outcome.error;
    if (durable) await db.flushed;
  }

  return {
    dir,
    // a write costs the same inside a transaction, and every durable commit waits for a disk flush
    cheapTransactions: true,

    async get<T extends Item = Item>(table: TableName, key: Key): Promise<T | undefined> {
      assertOpen();
      validateKey(key);
      return read(table, key) as T | undefined;
    },

    async query<T extends Item = Item>(table: TableName, pk: string, q: { skPrefix?: string; limit?: number } = {}): Promise<T[]> {
      assertOpen();
      const prefix = q.skPrefix ?? "";
      const limit = q.limit ?? Infinity;
      if (limit <= 0) return [];
      const now = clock.now();
      const out: T[] = [];
      for (const { key, value } of db.getRange({ start: [table, pk, prefix] })) {
        if (key[0] !== table || key[1] !== pk || !key[2].startsWith(prefix)) break;
        if (isExpired(value, now)) continue;
        out.push(value as T);
        if (out.length >= limit) break;
      }
      return out;
    },

    transact,

    scan<T extends Item = Item>(table: TableName): T[] {
      assertOpen();
      const now = clock.now();
      const out: T[] = [];
      for (const { key, value } of db.getRange({ start: [table] })) {
        if (key[0] !== table) break;
        if (!isExpired(value, now)) out.push(value as T);
      }
      return out;
    },

    async purgeExpired(): Promise<number> {
      assertOpen();
      const now = clock.now();
      const expired: LmdbKey[] = [];
      for (const { key, value } of db.getRange({})) {
        if (Array.isArray(key) && key.length === 3 && isExpired(value, now)) expired.push(key);
      }
      let removed = 0;
      // re-check inside the write transaction: the item may have been replaced since the scan
      for (let i = 0; i < expired.length; i += 1000) {
        const chunk = expired.slice(i, i + 1000);
        removed += await db.transaction(() => {
          let n = 0;
          for (const key of chunk) {
            const item = db.get(key);
            if (item !== undefined && isExpired(item, now)) {
              db.remove(key);
              n++;
            }
          }
          return n;
        });
      }
      if (durable) await db.flushed;
      return removed;
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await db.close();
    },
  };
}

export { StoreValidationError };
