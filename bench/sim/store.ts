/**
 * The simulator's Store: in memory, with the local adapters' semantics (validation,
 * conditions, updates and TTL all come from local/store-semantics.ts, as in
 * local/memory-store.ts), instrumented the way DynamoDB meters and partitions traffic:
 *
 * - every get / query / transact is counted, and metered in DynamoDB units: strongly
 *   consistent reads (the adapter sets ConsistentRead) 1 RRU per started 4 KB of the items
 *   read (a query: of all items it read, at least 1); writes 1 WRU per started KB of the larger
 *   of the old and new item, at least 1, twice that inside a multi-item transaction; a
 *   ConditionCheck 2 RRU per started 4 KB (as bench/cost.ts meters them). Item size is the
 *   JSON length of the item with its physical key (`<table>#<pk>`, as
 *   functions/adapters/dynamo-store.ts writes it): close to DynamoDB's own rule (attribute
 *   names + values) and a little above it.
 * - traffic is attributed to the physical partition key (`<table>#<pk>`) per simulated
 *   second, so the busiest key's read and write units per second can be held against
 *   DynamoDB's per-partition limits (3,000 RCU/s, 1,000 WCU/s).
 * - each request is attributed to the route the simulator says is running (`ctx`), so
 *   per-job counts and fixed per-agent counts (heartbeats, registrations) are kept apart.
 *
 * Not DynamoDB: reads here are exact and instantaneous, transactions never conflict (the
 * simulator runs one handler at a time), and nothing is throttled: the counts say where
 * DynamoDB WOULD throttle, they do not make it happen.
 *
 * Items are copied and deep-frozen when written, so point reads can hand them out without
 * copying; a core function that tried to mutate what it read would throw (strict mode)
 * instead of silently corrupting the simulation. Query results are cloned (structuredClone),
 * like any real adapter that decodes its answer, so a read of many items costs CPU in proportion.
 */
import { ConditionFailedError, type Item, type Key, type Store, type TableName, type WriteOp } from "../../core/ports";
import { conditionFailedMessage, isExpired, keyOf, planTransaction, updatedBytesBound, validateOps } from "../../local/store-semantics";

export interface RouteCounts {
  gets: number;
  queries: number;
  /** items returned by queries */
  queryItems: number;
  /** transact() calls: 1 op → a plain write, more → TransactWriteItems */
  transacts: number;
  /** items written (put/update/delete ops) */
  writeItems: number;
  rru: number;
  wru: number;
  /** CPU ms this store spent serving the route (a simulation artifact, reported apart) */
  storeMs: number;
}
const zeroCounts = (): RouteCounts => ({ gets: 0, queries: 0, queryItems: 0, transacts: 0, writeItems: 0, rru: 0, wru: 0, storeMs: 0 });

interface PartitionStat {
  r: number;
  w: number;
  peakR: number;
  peakW: number;
  lastSec: number;
}

export interface PartitionRow {
  key: string;
  readUnits: number;
  writeUnits: number;
  peakReadUnitsPerSec: number;
  peakWriteUnitsPerSec: number;
}

const TRACK_FROM = 20;

/** A stored item's metered size, kept on the item itself (non-enumerable: no spread, clone or JSON sees it). */
const SIZE = Symbol("size");
type Sized = Item & { [SIZE]?: number };
/** JSON size of one `"name":value,` for a primitive value; undefined for objects (measured whole). */
function attrSize(name: string, v: unknown): number | undefined {
  switch (typeof v) {
    case "undefined":
      return 0;
    case "number":
    case "bigint":
    case "boolean":
      return name.length + 4 + String(v).length;
    case "string":
      return name.length + 6 + v.length; // ASCII in practice; escapes ignored
    default:
      return v === null ? name.length + 8 : undefined;
  }
}
/**
 * The length JSON.stringify would give (bigints as bare digits), without building the string:
 * items carry kilobytes of base64, and the simulation sizes every item it writes.
 */
export function jsonSize(v: unknown): number {
  switch (typeof v) {
    case "string":
      return v.length + 2; // ASCII in practice; escapes ignored
    case "number":
      return Number.isFinite(v) ? String(v).length : 4;
    case "bigint":
      return String(v).length;
    case "boolean":
      return v ? 4 : 5;
    case "object": {
      if (v === null) return 4;
      if (Array.isArray(v)) {
        let n = 2 + Math.max(0, v.length - 1);
        for (const x of v) n += x === undefined ? 4 : jsonSize(x);
        return n;
      }
      let n = 2;
      let first = true;
      for (const k in v) {
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined || typeof x === "function") continue;
        n += (first ? 0 : 1) + k.length + 3 + jsonSize(x);
        first = false;
      }
      return n;
    }
    default:
      return 0;
  }
}

/**
 * A deep copy of a stored value, frozen as it is made (plain objects, arrays, primitives and
 * bigints: what items hold; bytes copied, not frozen). Values already frozen are stored items' own
 * parts and are shared.
 */
function frozenCopy<T>(v: T): T {
  if (v === null || typeof v !== "object" || Object.isFrozen(v)) return v;
  if (Array.isArray(v)) return Object.freeze(v.map(frozenCopy)) as T;
  // bytes (a packed reply item's) cannot be frozen with elements in them (TypeError): a copy,
  // so a caller's later change of its own array cannot reach the stored item
  if (v instanceof Uint8Array) return new Uint8Array(v) as unknown as T;
  const out: Record<string, unknown> = {};
  for (const k in v) out[k] = frozenCopy((v as Record<string, unknown>)[k]);
  return Object.freeze(out) as T;
}

/** The item to store: its nested values frozen copies (or shared frozen parts), the top level a fresh object, not yet frozen. */
function storedCopy(item: Item): Sized {
  const out: Record<string, unknown> = {};
  for (const k in item) out[k] = frozenCopy(item[k]);
  return out as Sized;
}

/** Sorted array helpers for one partition's sort keys (UTF-16 order equals UTF-8 order for the ASCII keys the core writes). */
function lowerBound(a: string[], x: string) {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

interface Partition {
  items: Map<string, Item>;
  sks: string[];
}

export class SimStore implements Store {
  private readonly tables = new Map<TableName, Map<string, Partition>>();
  /** Upper bounds of each stored item's itemBytes, as local/memory-store.ts keeps them: an update's item is measured against 400 KB only near it. */
  private readonly bytesOf = new WeakMap<Item, number>();
  /** route → counts; `ctx` names the route now running. */
  readonly routes = new Map<string, RouteCounts>();
  ctx = "setup";
  private readonly parts = new Map<string, PartitionStat>();
  private second = 0;
  /** this second's traffic: table → pk → units */
  private cur = new Map<TableName, Map<string, { r: number; w: number }>>();
  readonly totals = { rru: 0, wru: 0 };
  /** Per-second totals of the whole table, for the peak aggregate rate. */
  peakTotalWruPerSec = 0;
  peakTotalRruPerSec = 0;
  private secW = 0;
  private secR = 0;

  constructor(private readonly clock: { now(): number }) {}

  private counts(): RouteCounts {
    let c = this.routes.get(this.ctx);
    if (!c) this.routes.set(this.ctx, (c = zeroCounts()));
    return c;
  }

  private traffic(table: TableName, pk: string, r: number, w: number) {
    const sec = Math.floor(this.clock.now() / 1000);
    if (sec !== this.second) this.flush(sec);
    let t = this.cur.get(table);
    if (!t) this.cur.set(table, (t = new Map()));
    let e = t.get(pk);
    if (!e) t.set(pk, (e = { r: 0, w: 0 }));
    e.r += r;
    e.w += w;
    this.secR += r;
    this.secW += w;
    this.totals.rru += r;
    this.totals.wru += w;
  }

  /** Closes the current simulated second: per-key peaks, and forgets keys quiet for 30 s that never mattered. */
  flush(nextSecond = Math.floor(this.clock.now() / 1000)) {
    for (const [table, t] of this.cur)
      for (const [pk, e] of t) {
        const k = `${table}#${pk}`;
        let p = this.parts.get(k);
        // A key is followed once it had TRACK_FROM units in one second: the busiest keys have
        // hundreds; the millions of per-job keys (a job, its movements) never get there.
        if (!p && e.r + e.w < TRACK_FROM) continue;
        if (!p) this.parts.set(k, (p = { r: 0, w: 0, peakR: 0, peakW: 0, lastSec: this.second }));
        p.r += e.r;
        p.w += e.w;
        if (e.r > p.peakR) p.peakR = e.r;
        if (e.w > p.peakW) p.peakW = e.w;
        p.lastSec = this.second;
      }
    if (this.secW > this.peakTotalWruPerSec) this.peakTotalWruPerSec = this.secW;
    if (this.secR > this.peakTotalRruPerSec) this.peakTotalRruPerSec = this.secR;
    this.secW = 0;
    this.secR = 0;
    this.cur.clear();
    // Per-job keys (a job, its ledger movements, its idempotency record) see a few units in
    // their life and are never the busiest: drop them once quiet, or memory grows with jobs.
    if (nextSecond % 30 === 0) {
      for (const [k, p] of this.parts) if (p.lastSec < nextSecond - 30 && p.r + p.w < 500) this.parts.delete(k);
    }
    this.second = nextSecond;
  }

  /** The busiest partition keys by write units and by read units (after a flush). */
  busiest(n = 5): { byWrites: PartitionRow[]; byReads: PartitionRow[] } {
    this.flush();
    const rows: PartitionRow[] = [...this.parts].map(([key, p]) => ({
      key,
      readUnits: p.r,
      writeUnits: p.w,
      peakReadUnitsPerSec: p.peakR,
      peakWriteUnitsPerSec: p.peakW,
    }));
    return {
      byWrites: [...rows].sort((a, b) => b.peakWriteUnitsPerSec - a.peakWriteUnitsPerSec || b.writeUnits - a.writeUnits).slice(0, n),
      byReads: [...rows].sort((a, b) => b.peakReadUnitsPerSec - a.peakReadUnitsPerSec || b.readUnits - a.readUnits).slice(0, n),
    };
  }

  resetMeters() {
    this.flush();
    this.routes.clear();
    this.parts.clear();
    this.totals.rru = 0;
    this.totals.wru = 0;
    this.peakTotalRruPerSec = 0;
    this.peakTotalWruPerSec = 0;
  }

  private sizeOf(table: TableName, item: Sized | undefined): number {
    if (!item) return 0;
    return item[SIZE] ?? jsonSize(item) + table.length + 1;
  }

  private part(table: TableName, pk: string, create: boolean): Partition | undefined {
    let t = this.tables.get(table);
    if (!t) {
      if (!create) return undefined;
      this.tables.set(table, (t = new Map()));
    }
    let p = t.get(pk);
    if (!p && create) t.set(pk, (p = { items: new Map(), sks: [] }));
    return p;
  }

  private read(table: TableName, key: Key): Item | undefined {
    const item = this.part(table, key.pk, false)?.items.get(key.sk);
    return item === undefined || isExpired(item, this.clock.now()) ? undefined : item;
  }

  private write(table: TableName, key: Key, item: Item | null) {
    if (item === null) {
      const p = this.part(table, key.pk, false);
      if (!p || !p.items.delete(key.sk)) return;
      const i = lowerBound(p.sks, key.sk);
      if (p.sks[i] === key.sk) p.sks.splice(i, 1);
      if (p.items.size === 0) this.tables.get(table)!.delete(key.pk);
      return;
    }
    const p = this.part(table, key.pk, true)!;
    if (!p.items.has(key.sk)) {
      const i = lowerBound(p.sks, key.sk);
      p.sks.splice(i, 0, key.sk);
    }
    p.items.set(key.sk, item);
  }

  async get<T extends Item = Item>(table: TableName, key: Key): Promise<T | undefined> {
    const t0 = performance.now();
    const item = this.read(table, key);
    const c = this.counts();
    const units = Math.max(1, Math.ceil(this.sizeOf(table, item) / 4096));
    c.gets++;
    c.rru += units;
    this.traffic(table, key.pk, units, 0);
    c.storeMs += performance.now() - t0;
    return item as T | undefined;
  }

  async query<T extends Item = Item>(table: TableName, pk: string, q: { skPrefix?: string; limit?: number } = {}): Promise<T[]> {
    const t0 = performance.now();
    const p = this.part(table, pk, false);
    const out: T[] = [];
    let bytes = 0;
    if (p) {
      const prefix = q.skPrefix ?? "";
      const limit = q.limit ?? Infinity;
      const now = this.clock.now();
      for (let i = prefix ? lowerBound(p.sks, prefix) : 0; i < p.sks.length && out.length < limit; i++) {
        const sk = p.sks[i]!;
        if (prefix && !sk.startsWith(prefix)) break;
        const item = p.items.get(sk)!;
        if (isExpired(item, now)) continue;
        bytes += this.sizeOf(table, item);
        out.push(structuredClone(item) as T);
      }
    }
    const c = this.counts();
    const units = Math.max(1, Math.ceil(bytes / 4096));
    c.queries++;
    c.queryItems += out.length;
    c.rru += units;
    this.traffic(table, pk, units, 0);
    c.storeMs += performance.now() - t0;
    return out;
  }

  async transact(ops: WriteOp[]): Promise<void> {
    const t0 = performance.now();
    const measured = validateOps(ops);
    const current = ops.map((op) => this.read(op.table, keyOf(op)));
    const plan = planTransaction(ops, (table, key) => this.read(table, key), {
      measured,
      bound: (op, i, cur) => updatedBytesBound(op, measured[i]!, cur ? this.bytesOf.get(cur) : 0),
    });
    const transactional = ops.length > 1 || ops[0]?.op === "check";
    const c = this.counts();
    c.transacts++;
    // Copies: the caller keeps its objects mutable, as with any adapter that serialises. An
    // update made a fresh top-level object over the stored (frozen) parts, so it is used as is
    // when it set only primitives (heartbeats, counters, status).
    const writes: Array<{ table: TableName; key: Key; item: Sized | null; bytes: number | undefined }> = [];
    const next = new Map<string, Sized>();
    if (plan.failed === undefined) {
      for (const w of plan.writes) {
        if (w.item === null) {
          writes.push({ ...w, item: null });
          continue;
        }
        const op = ops.find((o) => o.op !== "check" && o.table === w.table && keyOf(o).pk === w.key.pk && keyOf(o).sk === w.key.sk);
        const shallow = op?.op === "update" && Object.values(op.set ?? {}).every((v) => v === null || typeof v !== "object");
        const item = shallow ? (w.item as Sized) : storedCopy(w.item);
        writes.push({ ...w, item });
        next.set(`${w.table}\u0000${w.key.pk}\u0000${w.key.sk}`, item);
      }
    }
    // Units per item, from the larger of old and new (DynamoDB bills a failed conditional write too).
    ops.forEach((op, i) => {
      const k = keyOf(op);
      const cur = current[i] as Sized | undefined;
      const old = this.sizeOf(op.table, cur);
      if (op.op === "check") {
        const r = 2 * Math.max(1, Math.ceil(old / 4096));
        c.rru += r;
        this.traffic(op.table, k.pk, r, 0);
        return;
      }
      const after = next.get(`${op.table}\u0000${k.pk}\u0000${k.sk}`);
      let newSize = 0;
      if (after) {
        let size: number | undefined;
        if (op.op === "update" && cur) {
          // An update of primitives: the new size from the old, without walking the item.
          let delta = 0;
          for (const attr of [...Object.keys(op.set ?? {}), ...Object.keys(op.add ?? {})]) {
            const a = attrSize(attr, after[attr]);
            const b = attrSize(attr, cur[attr]);
            if (a === undefined || b === undefined) {
              delta = NaN;
              break;
            }
            delta += a - b;
          }
          if (Number.isFinite(delta)) size = old + delta;
        }
        newSize = size ?? jsonSize(after) + op.table.length + 1;
        Object.defineProperty(after, SIZE, { value: newSize, enumerable: false });
      } else if (op.op === "put") newSize = jsonSize(op.item) + op.table.length + 1;
      const w = Math.max(1, Math.ceil(Math.max(old, newSize) / 1024)) * (transactional ? 2 : 1);
      c.wru += w;
      c.writeItems++;
      this.traffic(op.table, k.pk, 0, w);
    });
    for (const w of writes) if (w.item) Object.freeze(w.item);
    if (plan.failed !== undefined) {
      c.storeMs += performance.now() - t0;
      throw new ConditionFailedError(plan.failed, conditionFailedMessage(ops, plan.failed));
    }
    for (const w of writes) {
      this.write(w.table, w.key, w.item);
      if (w.item && w.bytes !== undefined) this.bytesOf.set(w.item, w.bytes);
    }
    c.storeMs += performance.now() - t0;
  }

  /**
   * Uncounted removal of every item under a pk: the simulator forgets a finished job's items
   * (on DynamoDB they stay, or a TTL removes them for free) so memory does not grow with jobs.
   */
  forget(table: TableName, pk: string) {
    this.tables.get(table)?.delete(pk);
  }
  /** Uncounted removal of one item (same purpose as forget). */
  forgetItem(table: TableName, key: Key) {
    this.write(table, key, null);
  }

  /** Items under a pk, uncounted (the simulator's own bookkeeping and checks). */
  peek(table: TableName, pk: string): Item[] {
    const p = this.part(table, pk, false);
    return p ? p.sks.map((sk) => p.items.get(sk)!) : [];
  }
  peekItem(table: TableName, key: Key): Item | undefined {
    return this.read(table, key);
  }
  /** Every item of a table, uncounted. */
  *scan(table: TableName): Generator<Item> {
    for (const p of this.tables.get(table)?.values() ?? []) yield* p.items.values();
  }
  /** Number of partitions of a table whose pk starts with `prefix`, and their item counts. */
  partitionSizes(table: TableName, prefix: string): number[] {
    const out: number[] = [];
    for (const [pk, p] of this.tables.get(table) ?? []) if (pk.startsWith(prefix)) out.push(p.items.size);
    return out;
  }
}
