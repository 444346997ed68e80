/**
 * The durable progress of the AWS chain watcher's walk down the vault's history
 * (functions/adapters/ton-vault-tx.ts VaultHistoryReader). toncenter pages an account's history
 * newest-first only, so the transactions after the watcher's cursor are reached by walking down
 * from the newest one; under a flood of cheap vault transactions that walk takes more requests
 * than one pass (one Lambda) may make. Its progress is kept here, in the store, so that any
 * later process resumes it where the last one stopped, instead of walking again from scratch
 * (review, session 22, item 1).
 *
 * Only boundaries are kept, never transactions: the walk (`lo`, `head`, `from`, `floor`) and, per
 * toncenter request of the walk, the newest transaction of the page it read (a page top). The
 * reader re-reads a page by its top (lt, hash, inclusive, `to_lt`) when it hands it to the watcher,
 * oldest page first, so its memory holds one page whatever the backlog. A page is dropped once
 * the watcher's cursor (itself saved only after the page was processed) is at or past its top.
 *
 * Store layout, table "chain": pk="walk" sk="walk" the walk; pk=`walk:<id>` sk=<lt, 20 digits>
 * its page tops (with a ttl: a new walk leaves the old one's pages to expire). Every write is
 * conditional on the walk's `version`, so two overlapping passes cannot interleave their walks.
 */
import { ConditionFailedError, type Condition, type Store, type WriteOp } from "../ports";

/** A transaction of the vault by (lt, hash as base64: what toncenter's paging takes). */
export interface WalkPoint {
  lt: string;
  hash: string;
}

export interface VaultWalk {
  /** names this walk's pages: a new walk, new pages */
  id: string;
  /** bumped by every write; each write is conditional on the one it read */
  version: number;
  /** the walk reads the transactions after this lt (the cursor it began at; "-1": from the first) */
  lo: string;
  /** the newest transaction of the walk: a cursor at or past it needs a new walk */
  head: WalkPoint;
  /** the oldest transaction walked so far: an unfinished walk goes on below it */
  from: WalkPoint;
  /** the walk reached `lo`: its pages may be handed to the watcher */
  done: boolean;
  /** pages at or below this lt were dropped: a cursor below it needs a new walk */
  floor: string;
}

/** Where the walk is kept. Writes throw VaultWalkConflictError when the stored walk is no longer at `expected`. */
export interface VaultWalkStore {
  load(): Promise<VaultWalk | null>;
  /** Writes `next` (expected: the version stored, null for none) with the top of the page just walked. */
  save(next: VaultWalk, expected: number | null, page?: WalkPoint): Promise<void>;
  /** Up to `limit` page tops of walk `id`, lowest first. */
  pages(id: string, limit: number): Promise<WalkPoint[]>;
  /** Drops these pages of `next.id` and writes `next` (its floor raised to them). At most 99 pages. */
  drop(next: VaultWalk, expected: number, pages: WalkPoint[]): Promise<void>;
}

/** Another pass moved the walk since this one read it: nothing was written; the next pass reads it again. */
export class VaultWalkConflictError extends Error {
  override readonly name = "VaultWalkConflictError";
  readonly code = "walk_conflict";
}

/** The sort key of a page top: its lt, zero-padded to a uint64's 20 digits so the store's sk order is lt order. */
export const walkPageSk = (lt: string) => lt.padStart(20, "0");
export const WALK_KEY = { pk: "walk", sk: "walk" } as const;
const pagesPk = (id: string) => `walk:${id}`;
/** A walk's pages outlive any walk the watcher finishes; those of a replaced walk expire with this. */
const PAGE_TTL_SECONDS = 30 * 24 * 3600;

const isPoint = (v: unknown): v is WalkPoint =>
  typeof v === "object" && v !== null && typeof (v as WalkPoint).lt === "string" && typeof (v as WalkPoint).hash === "string";

export class StoreVaultWalk implements VaultWalkStore {
  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  async load(): Promise<VaultWalk | null> {
    const it = await this.store.get("chain", WALK_KEY);
    if (!it || typeof it.id !== "string" || typeof it.version !== "number" || !isPoint(it.head) || !isPoint(it.from)) return null;
    return {
      id: it.id,
      version: it.version,
      lo: String(it.lo),
      head: it.head,
      from: it.from,
      done: it.done === true,
      floor: String(it.floor),
    };
  }

  async save(next: VaultWalk, expected: number | null, page?: WalkPoint): Promise<void> {
    const ops: WriteOp[] = [this.walkOp(next, expected)];
    if (page) {
      const ttl = Math.ceil(this.now() / 1000) + PAGE_TTL_SECONDS;
      ops.push({ op: "put", table: "chain", item: { pk: pagesPk(next.id), sk: walkPageSk(page.lt), lt: page.lt, hash: page.hash, ttl } });
    }
    await this.write(ops);
  }

  async pages(id: string, limit: number): Promise<WalkPoint[]> {
    const items = await this.store.query("chain", pagesPk(id), { limit });
    return items.flatMap((p) => (isPoint(p) ? [{ lt: p.lt, hash: p.hash }] : []));
  }

  async drop(next: VaultWalk, expected: number, pages: WalkPoint[]): Promise<void> {
    await this.write([
      this.walkOp(next, expected),
      ...pages.map((p): WriteOp => ({ op: "delete", table: "chain", key: { pk: pagesPk(next.id), sk: walkPageSk(p.lt) } })),
    ]);
  }

  private walkOp(next: VaultWalk, expected: number | null): WriteOp {
    const when: Condition = expected === null ? { kind: "notExists" } : { kind: "cmp", attr: "version", op: "=", value: expected };
    return { op: "put", table: "chain", item: { ...WALK_KEY, ...next }, when };
  }

  private async write(ops: WriteOp[]): Promise<void> {
    try {
      await this.store.transact(ops);
    } catch (e) {
      if (e instanceof ConditionFailedError) throw new VaultWalkConflictError("the vault walk was moved by another pass");
      throw e;
    }
  }
}

/** The walk kept in this process only (tests, and a reader built without a store). */
export function memoryVaultWalk(): VaultWalkStore {
  let walk: VaultWalk | null = null;
  const pages = new Map<string, Map<string, WalkPoint>>();
  const check = (expected: number | null) => {
    if ((walk?.version ?? null) !== expected) throw new VaultWalkConflictError("the vault walk was moved by another pass");
  };
  return {
    load: async () => (walk ? { ...walk } : null),
    save: async (next, expected, page) => {
      check(expected);
      walk = { ...next };
      if (page) {
        const m = pages.get(next.id) ?? new Map<string, WalkPoint>();
        m.set(walkPageSk(page.lt), page);
        pages.set(next.id, m);
      }
    },
    pages: async (id, limit) =>
      [...(pages.get(id) ?? new Map<string, WalkPoint>()).entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .slice(0, limit)
        .map(([, p]) => p),
    drop: async (next, expected, dropped) => {
      check(expected);
      walk = { ...next };
      for (const p of dropped) pages.get(next.id)?.delete(walkPageSk(p.lt));
    },
  };
}
