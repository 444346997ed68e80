/**
 * The simulation's store: the in-memory store (local/memory-store.ts, the same semantics as
 * LMDB) behind a scheduler. Every get, query and transact a task makes becomes a pending
 * operation; the simulator picks which pending operation runs next (so concurrent requests
 * interleave at store-operation granularity, as they do against DynamoDB), and it can "crash
 * the process" between any two of them: the pending operations are dropped, their tasks never
 * resume, and only what the inner store committed survives. A crash may also come right after
 * an operation committed, before its caller heard back (an ambiguous commit).
 *
 * After each committed transaction the items it touched are read back into a shadow copy
 * (what the invariant checks read, without cloning the whole store at every step) and handed
 * to `onCommit` (the canary scan of every byte written).
 */
import type { Item, Key, Store, TableName, WriteOp } from "../../core/ports";
import type { MemoryStore } from "../../local/memory-store";

export interface Task {
  id: number;
  name: string;
  epoch: number;
}

export interface PendingOp {
  seq: number;
  task: Task;
  kind: "get" | "query" | "transact";
  describe: () => string;
  ops?: WriteOp[];
  exec: () => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  /** simulated time before which it cannot run (a stalled request: a slow store call, a paused runtime); 0 for none */
  notBefore: number;
}

const keyOf = (op: WriteOp): Key => (op.op === "put" ? { pk: op.item.pk, sk: op.item.sk } : op.key);
export const shadowKey = (k: Key) => `${k.pk}\u0000${k.sk}`;

export type Shadow = Map<TableName, Map<string, Item>>;

export class SimStore {
  pending: PendingOp[] = [];
  /** bumps on every committed transaction */
  version = 0;
  readonly shadow: Shadow = new Map();
  private seq = 0;
  /** the store bills writes, as DynamoDB does (Store.billedWrites): a job's envelope is then kept in its messages only */
  billedWrites = false;

  constructor(
    readonly inner: MemoryStore,
    private readonly onCommit: (table: TableName, key: Key, item: Item | undefined) => void,
    /** deliberate breakage (the checks' positive controls): rewrites a transaction before it commits */
    private readonly rewrite?: (ops: WriteOp[]) => WriteOp[],
    /** when a new operation may run at the earliest (simulated ms; the seed's stalls), 0 for at once */
    private readonly notBefore: () => number = () => 0,
  ) {}

  /** Indexes of the pending operations that may run at `now` (all of them when nothing stalls). */
  ready(now: number): number[] {
    const out: number[] = [];
    this.pending.forEach((p, i) => {
      if (p.notBefore <= now) out.push(i);
    });
    return out;
  }

  /** The earliest time a stalled operation may run (Infinity when none waits). */
  nextReady(): number {
    return this.pending.reduce((t, p) => Math.min(t, p.notBefore), Infinity);
  }

  /**
   * Whether a task still runs: one a crash or its runtime's timeout ended that resumes on
   * something else than the store (a read of the policy registry) gets no store operation
   * again, as its process is gone.
   */
  live: (task: Task) => boolean = () => true;

  /** The Store port as one task sees it: each call waits for the simulator to run it. */
  forTask(task: Task): Store {
    const enqueue = <T>(kind: PendingOp["kind"], describe: () => string, exec: () => Promise<T>, ops?: WriteOp[]) =>
      new Promise<T>((resolve, reject) => {
        if (!this.live(task)) return; // never answered: the task ends here
        this.pending.push({
          seq: ++this.seq,
          task,
          kind,
          describe,
          exec,
          resolve: resolve as (v: unknown) => void,
          reject,
          notBefore: this.notBefore(),
          ...(ops ? { ops } : {}),
        });
      });
    return {
      ...(this.billedWrites ? { billedWrites: true } : {}),
      get: <T extends Item = Item>(table: TableName, key: Key) =>
        enqueue<T | undefined>(
          "get",
          () => `get ${table} ${key.pk}/${key.sk}`,
          () => this.inner.get<T>(table, key),
        ),
      query: <T extends Item = Item>(table: TableName, pk: string, opts?: { skPrefix?: string; limit?: number }) =>
        enqueue<T[]>(
          "query",
          () => `query ${table} ${pk}${opts?.skPrefix ? ` ${opts.skPrefix}*` : ""}`,
          () => this.inner.query<T>(table, pk, opts),
        ),
      transact: (ops: WriteOp[]) =>
        enqueue<void>(
          "transact",
          () => `transact ${describeOps(ops)}`,
          () => this.commit(ops),
          ops,
        ),
    };
  }

  /**
   * Run pending operation `i`. `crashAfter`: it commits, but its task never hears back (the
   * caller crashes the process right after).
   */
  run(i: number, o: { crashAfter?: boolean } = {}): PendingOp {
    const [op] = this.pending.splice(i, 1);
    if (!op) throw new Error(`no pending operation ${i}`);
    const p = op.exec();
    if (o.crashAfter) p.catch(() => {});
    else p.then(op.resolve, op.reject);
    return op;
  }

  /** The process died: nothing pending ever runs or answers. */
  dropPending(): PendingOp[] {
    const dropped = this.pending;
    this.pending = [];
    return dropped;
  }

  private async commit(asked: WriteOp[]): Promise<void> {
    const ops = this.rewrite ? this.rewrite(asked) : asked;
    await this.inner.transact(ops); // throws (writing nothing) on a failed condition
    this.version++;
    for (const op of ops) {
      if (op.op === "check") continue;
      const key = keyOf(op);
      const item = await this.inner.get(op.table, key);
      let table = this.shadow.get(op.table);
      if (!table) this.shadow.set(op.table, (table = new Map()));
      if (item) table.set(shadowKey(key), item);
      else table.delete(shadowKey(key));
      this.onCommit(op.table, key, item);
    }
  }

  /** Items of a table as the invariant checks see them (committed state; no TTLs expire in a simulated run). */
  items(table: TableName): Iterable<Item> {
    return this.shadow.get(table)?.values() ?? [];
  }

  item(table: TableName, key: Key): Item | undefined {
    return this.shadow.get(table)?.get(shadowKey(key));
  }
}

function describeOps(ops: WriteOp[]): string {
  return ops
    .map((o) => {
      const k = keyOf(o);
      const what =
        o.op === "put"
          ? "put"
          : o.op === "update"
            ? `update${
                o.add
                  ? `(+${Object.entries(o.add)
                      .map(([a, d]) => `${a}:${d}`)
                      .join(",")})`
                  : ""
              }`
            : o.op;
      return `${what} ${o.table} ${k.pk}/${k.sk}`;
    })
    .join("; ");
}
