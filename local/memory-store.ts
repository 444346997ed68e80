/**
 * An in-memory Store with exactly the LMDB store's semantics (both use store-semantics.ts),
 * for unit tests of core. A transaction runs synchronously inside one call, so it is
 * trivially isolated. Values are deep-copied on the way in and out, like a real store.
 */
import { ConditionFailedError, type Clock, type Item, type Key, type Store, type TableName, type WriteOp } from "../core/ports";
import {
  compareValues,
  conditionFailedMessage,
  isExpired,
  live,
  planTransaction,
  systemClock,
  updatedBytesBound,
  validateKey,
  validateOps,
} from "./store-semantics";

export interface MemoryStore extends Store {
  /** Removes expired items; returns how many. Reads already ignore them. */
  purgeExpired(): Promise<number>;
  /** Number of stored items (expired ones included until purged). */
  size(): number;
  /** Every live item of a table, like LmdbStore.scan. */
  scan<T extends Item = Item>(table: TableName): T[];
  close(): Promise<void>;
}

export function createMemoryStore(opts: { clock?: Clock } = {}): MemoryStore {
  const clock = opts.clock ?? systemClock;
  /** table -> pk -> sk -> item */
  const tables = new Map<TableName, Map<string, Map<string, Item>>>();
  /**
   * An upper bound of itemBytes for each stored item (the object in `tables`): a put's size as
   * validateOps measured it, an update's bound from the item before. An update's item is then
   * measured only when the bound has grown near 400 KB (each update adds its own size to it),
   * not at every write (store-semantics.ts planTransaction).
   */
  const bytesOf = new WeakMap<Item, number>();
  let closed = false;

  const assertOpen = () => {
    if (closed) throw new Error("memory store is closed; create a new one");
  };
  const read = (table: TableName, key: Key): Item | undefined => live(tables.get(table)?.get(key.pk)?.get(key.sk), clock.now());

  const write = (table: TableName, key: Key, item: Item | null) => {
    let byPk = tables.get(table);
    if (!byPk) tables.set(table, (byPk = new Map()));
    let bySk = byPk.get(key.pk);
    if (item === null) {
      bySk?.delete(key.sk);
      if (bySk && bySk.size === 0) byPk.delete(key.pk);
      return;
    }
    if (!bySk) byPk.set(key.pk, (bySk = new Map()));
    bySk.set(key.sk, item);
  };

  return {
    async get<T extends Item = Item>(table: TableName, key: Key): Promise<T | undefined> {
      assertOpen();
      validateKey(key);
      const item = read(table, key);
      return item === undefined ? undefined : (structuredClone(item) as T);
    },

    async query<T extends Item = Item>(table: TableName, pk: string, q: { skPrefix?: string; limit?: number } = {}): Promise<T[]> {
      assertOpen();
      const bySk = tables.get(table)?.get(pk);
      if (!bySk) return [];
      const prefix = q.skPrefix ?? "";
      const limit = q.limit ?? Infinity;
      const now = clock.now();
      const sks = [...bySk.keys()].filter((sk) => sk.startsWith(prefix)).sort((a, b) => compareValues(a, b) ?? 0);
      const out: T[] = [];
      for (const sk of sks) {
        if (out.length >= limit) break;
        const item = bySk.get(sk)!;
        if (!isExpired(item, now)) out.push(structuredClone(item) as T);
      }
      return out;
    },

    async transact(ops: WriteOp[]): Promise<void> {
      assertOpen();
      const measured = validateOps(ops);
      const plan = planTransaction(ops, read, {
        measured,
        bound: (op, i, current) => updatedBytesBound(op, measured[i]!, current ? bytesOf.get(current) : 0),
      });
      if (plan.failed !== undefined) throw new ConditionFailedError(plan.failed, conditionFailedMessage(ops, plan.failed));
      // structuredClone throws for an uncloneable value: clone everything before the first write
      const cloned = plan.writes.map((w) => ({ ...w, item: w.item === null ? null : structuredClone(w.item) }));
      for (const w of cloned) {
        write(w.table, w.key, w.item);
        if (w.item !== null && w.bytes !== undefined) bytesOf.set(w.item, w.bytes);
      }
    },

    async purgeExpired(): Promise<number> {
      const now = clock.now();
      let n = 0;
      for (const [table, byPk] of tables) {
        for (const [pk, bySk] of byPk) {
          for (const [sk, item] of bySk) {
            if (isExpired(item, now)) {
              write(table, { pk, sk }, null);
              n++;
            }
          }
        }
      }
      return n;
    },

    size(): number {
      let n = 0;
      for (const byPk of tables.values()) for (const bySk of byPk.values()) n += bySk.size;
      return n;
    },

    scan<T extends Item = Item>(table: TableName): T[] {
      assertOpen();
      const now = clock.now();
      const out: T[] = [];
      for (const bySk of tables.get(table)?.values() ?? [])
        for (const item of bySk.values()) if (!isExpired(item, now)) out.push(structuredClone(item) as T);
      return out;
    },

    async close(): Promise<void> {
      closed = true;
    },
  };
}
