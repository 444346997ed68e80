/**
 * A tiny in-memory Store for the chain watcher's tests: conditions, ADD upserts and
 * all-or-nothing transactions, values deep-copied in and out. `failNextTransacts` lets a
 * test crash the store mid-run (to prove restarts are safe).
 */
import { ConditionFailedError, type Condition, type Item, type Key, type Store, type TableName, type WriteOp } from "../ports";

export class TestStore implements Store {
  readonly tables = new Map<string, Map<string, Item>>();
  transacts = 0;
  /** throw this many times on the next transact calls (after counting them) */
  failNextTransacts = 0;

  private k(table: TableName, key: Key) {
    return `${table}\u0000${key.pk}\u0000${key.sk}`;
  }
  private read(table: TableName, key: Key): Item | undefined {
    return this.tables.get("all")?.get(this.k(table, key));
  }

  async get<T extends Item = Item>(table: TableName, key: Key): Promise<T | undefined> {
    const it = this.read(table, key);
    return it === undefined ? undefined : (structuredClone(it) as T);
  }

  async query<T extends Item = Item>(table: TableName, pk: string, opts: { skPrefix?: string; limit?: number } = {}): Promise<T[]> {
    const prefix = `${table}\u0000${pk}\u0000`;
    const out: Item[] = [];
    for (const [k, v] of this.tables.get("all") ?? []) {
      if (k.startsWith(prefix) && v.sk.startsWith(opts.skPrefix ?? "")) out.push(structuredClone(v));
    }
    out.sort((a, b) => (a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0));
    return (opts.limit ? out.slice(0, opts.limit) : out) as T[];
  }

  async transact(ops: WriteOp[]): Promise<void> {
    this.transacts++;
    if (this.failNextTransacts > 0) {
      this.failNextTransacts--;
      throw new Error("injected store failure");
    }
    const all = this.tables.get("all") ?? new Map<string, Item>();
    const staged = new Map<string, Item | null>();
    const cur = (table: TableName, key: Key) => {
      const k = this.k(table, key);
      return staged.has(k) ? (staged.get(k) ?? undefined) : all.get(k);
    };
    ops.forEach((op, i) => {
      const key = op.op === "put" ? { pk: op.item.pk, sk: op.item.sk } : op.key;
      const item = cur(op.table, key);
      if (op.when && !holds(op.when, item)) throw new ConditionFailedError(i);
      const k = this.k(op.table, key);
      if (op.op === "put") staged.set(k, structuredClone(op.item));
      else if (op.op === "delete") staged.set(k, null);
      else if (op.op === "update") {
        const next: Item = item ? structuredClone(item) : { pk: key.pk, sk: key.sk };
        for (const [a, v] of Object.entries(op.set ?? {})) {
          if (v === undefined) delete next[a];
          else next[a] = structuredClone(v);
        }
        for (const [a, d] of Object.entries(op.add ?? {})) {
          const prev = next[a];
          next[a] = typeof d === "bigint" ? BigInt((prev as bigint | number | undefined) ?? 0) + d : Number(prev ?? 0) + d;
        }
        staged.set(k, next);
      }
    });
    for (const [k, v] of staged) {
      if (v === null) all.delete(k);
      else all.set(k, v);
    }
    this.tables.set("all", all);
  }
}

function holds(c: Condition, item: Item | undefined): boolean {
  switch (c.kind) {
    case "exists":
      return item !== undefined;
    case "notExists":
      return item === undefined;
    case "and":
      return c.all.every((x) => holds(x, item));
    case "in":
      return item !== undefined && c.values.includes(item[c.attr] as string | number);
    case "cmp": {
      if (item === undefined || item[c.attr] === undefined) return false;
      const a = item[c.attr] as string | number | bigint | boolean;
      const b = c.value;
      const num = (x: unknown) => (typeof x === "bigint" || typeof x === "number" ? BigInt(x) : x);
      const [x, y] = [num(a), num(b)] as [string | bigint | boolean, string | bigint | boolean];
      switch (c.op) {
        case "=":
          return x === y;
        case "<>":
          return x !== y;
        case "<":
          return x < y;
        case "<=":
          return x <= y;
        case ">":
          return x > y;
        case ">=":
          return x >= y;
      }
    }
  }
}
