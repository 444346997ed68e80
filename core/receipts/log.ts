/**
 * The receipt log and the ledger's movement log in the Store, and the anchor batches built
 * from them (docs/architecture.md §4b). Pure core over the Store port.
 *
 * Why an inbox and not a counter: a sequence number taken inside the settlement would make
 * every settlement in the network write one counter item, so concurrent settlements would
 * conflict with each other (DynamoDB cancels a transaction that touches an item another one
 * is writing). Instead each settlement appends its receipt to an inbox item of its own, in the
 * same transaction (so a settled job always has its receipt logged, whatever crashes), and
 * the anchorer, the log's only writer, gives the inbox entries their sequence numbers when it
 * cuts the next batch. Every movement of the ledger is appended the same way by
 * `withMovementLog`, a Store wrapper that adds one inbox put to each transaction that writes a
 * ledger movement (core/ledger.ts and core/chain/store-ledger.ts both write them as a
 * `notExists` put of `ledger/<id>/tx`), so no caller of the ledger has to remember it.
 *
 * Layout, all in the logical table "chain":
 *   rlog:pending#<s> / <jobId>        inbox: a settled receipt without a sequence number yet, and
 *                                     the job's settlement movement with it (issue 12: one item, not two)
 *   mlog:pending#<s> / <movementId>   inbox: any other movement without a sequence number yet
 *     (s = a hash of the sk mod INBOX_SHARDS: every settlement and every movement of the network
 *     appends here, so one partition key would take ~1,000 jobs/s × 2 WCU of receipts and twice
 *     that of movements, past DynamoDB's ~1,000 WCU/s per key; bench/sim measured it, issue 16)
 *   anchor:head  / h              { seqno }: the latest batch cut (the one writer's guard)
 *   anchor:list  / <seqno, 10 d>  AnchorRecord: one batch, its anchor fields and state
 *   anchor:<seqno> / r#<chunk>    the batch's receipts in order: job ids + leaf hashes
 *   anchor:<seqno> / m#<chunk>    the batch's movements in order: movement ids
 *   rlog:<jobId> / r              { seq, anchorSeqno, receipt }: where a receipt went (proofs)
 *
 * Cutting a batch (crash-safe, idempotent): (1) chunk items, plain puts that a retry simply
 * overwrites; (2) one transaction: the record (status "prepared") and the head, conditioned on
 * the head not having moved, which fixes the batch; (3) the per-job index items, then the
 * inbox deletes (a retry after a crash redoes both from the chunks); (4) status "indexed".
 * No next batch is cut before the previous one is indexed, so the inbox never holds an entry
 * that was already given a number.
 */
import type { Receipt } from "../../events/envelope";
import { holdMovement, ledgerItem, settleMovement, type Movement } from "../ledger";
import { ConditionFailedError, type Item, type Store, type WriteOp } from "../ports";
import { jobHoldMovement, type JobItem } from "../jobs/items";
import {
  GENESIS_HEAD,
  buildAnchorBatch,
  type Anchor,
  type AnchorHead,
  type AnchorLimits,
  type MovementLogEntry,
  type ReceiptLogEntry,
  DEFAULT_ANCHOR_LIMITS,
} from "./anchor";
import { auditPathFromLevels, HASH_BYTES, merkleLevels } from "./merkle";
import type { ReceiptProofBundle } from "./proof";

export const RECEIPT_INBOX_PK = "rlog:pending";
export const MOVEMENT_INBOX_PK = "mlog:pending";
/** Partition keys per inbox (issue 16): appends spread over them; the anchorer reads them all. */
export const INBOX_SHARDS = 16;
/** The inbox partition an entry goes to: FNV-1a of its sort key (job id or movement id). */
export function inboxPk(inbox: typeof RECEIPT_INBOX_PK | typeof MOVEMENT_INBOX_PK, sk: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < sk.length; i++) h = Math.imul(h ^ sk.charCodeAt(i), 0x01000193);
  return `${inbox}#${(h >>> 0) % INBOX_SHARDS}`;
}
/** Every partition of an inbox. */
export const inboxPks = (inbox: typeof RECEIPT_INBOX_PK | typeof MOVEMENT_INBOX_PK) =>
  Array.from({ length: INBOX_SHARDS }, (_, i) => `${inbox}#${i}`);
const HEAD_KEY = { pk: "anchor:head", sk: "h" };
const LIST_PK = "anchor:list";
/** Receipts (or movements) per chunk item: 1000 leaves are ~43 KB of base64 plus the ids, far below DynamoDB's 400 KB item. */
export const CHUNK = 1000;
/** Most anchors a proof carries from its own to the coordinator's latest (about 3.5 days at the 300 s default). */
export const MAX_PROOF_ANCHORS = 1000;

const pad = (n: number) => String(n).padStart(10, "0");
const recordKey = (seqno: number) => ({ pk: LIST_PK, sk: pad(seqno) });
/**
 * Where a batch's chunks live. `cut` names one writer's cut of the batch (its history's prefix),
 * so that a second writer's chunks for the same seqno never overwrite the winner's; a record cut
 * before it has none, and its chunks are under anchor:<seqno>.
 */
export const anchorChunkPk = (r: { seqno: number; cut?: string }) => (r.cut ? `anchor:${r.seqno}:${r.cut}` : `anchor:${r.seqno}`);
const chunkKey = (r: { seqno: number; cut?: string }, kind: "r" | "m", i: number) => ({
  pk: anchorChunkPk(r),
  sk: `${kind}#${String(i).padStart(6, "0")}`,
});
export const receiptIndexKey = (jobId: string) => ({ pk: `rlog:${jobId}`, sk: "r" });

// ---------------------------------------------------------------- appending

/**
 * The op a settlement adds to its transaction: the job's receipt into the inbox. Unconditional:
 * the settlement's own movement (`settle:<jobId>`, written notExists) already makes the
 * transaction commit at most once per job. One item of about 0.7 KB: 1 WRU, 2 inside a transaction.
 */
export function appendReceiptOp(jobId: string, receipt: Receipt, at: number, hold?: Movement, settlement?: Movement): WriteOp {
  return {
    op: "put",
    table: "chain",
    item: {
      pk: inboxPk(RECEIPT_INBOX_PK, jobId),
      sk: jobId,
      receipt: { body: receipt.body, signature: receipt.signature },
      at,
      ...(settlement ? settlementForm(settlement, receipt.body.workerId, hold) : hold ? { hold: compactHold(hold) } : {}),
    },
  };
}

/** A hold (core/ledger.ts holdMovement) in the short form a receipt entry carries: [requester, amount, at]. */
const compactHold = (m: Movement): CompactHold => [m.postings[1]!.account.slice("req:".length), m.postings[1]!.delta.toString(), m.at];

/**
 * The settlement (and the job's hold) as a receipt entry carries them when the job item, not a
 * ledger item, records the settlement (issue 12), so withMovementLog finds no movement to carry:
 * `mid` and the short form `ms` when it rebuilds exactly (else the stored form in full), and the
 * hold as only its time when `ms` names its requester and amount.
 */
function settlementForm(m: Movement, worker: string, hold: Movement | undefined): Record<string, unknown> {
  const { id, ...rest } = storedForm(m);
  const compact = compactSettle(id, rest, worker);
  const h = hold ? compactHold(hold) : undefined;
  return {
    mid: id,
    ...(compact ? { ms: compact } : { movement: rest }),
    ...(h === undefined ? {} : compact && compact[0] === h[0] && compact[1] === h[1] ? { ha: h[2] } : { hold: h }),
  };
}

/**
 * issue 12: a job's hold is logged with the job's end, not at submit. Its record is the job item
 * itself (JobItem.holdInJob: no ledger item, so withMovementLog sees no movement to log at
 * submit: 2 WRU fewer a job on DynamoDB, and one inbox entry fewer for the anchorer to read and
 * delete); the transaction that ends the job logs it (core/jobs/items.ts jobHoldMovement): a
 * settlement in its receipt's entry (appendReceiptOp's `hold`), a refund with an entry of its own
 * (holdLogOps). Every job ends in exactly one of the two (leases), so every hold is logged exactly
 * once. A job submitted before this (no mark) had a ledger item for its hold, logged at submit,
 * and is not logged again.
 */
export function holdLogOps(job: Pick<JobItem, "jobId" | "holdInJob" | "requester" | "maxCost" | "createdAt">): WriteOp[] {
  const hold = jobHoldMovement(job);
  if (!hold) return [];
  const { id, ...movement } = storedForm(hold);
  return [{ op: "put", table: "chain", item: { pk: inboxPk(MOVEMENT_INBOX_PK, id), sk: id, movement, at: hold.at } }];
}

/** A movement as the ledger item stores it (core/ledger.ts ledgerItem), keyed by its id. */
function storedForm(m: Movement): { id: string } & Omit<Movement, "id" | "postings"> & { postings: unknown } {
  const { pk, sk: _sk, ...rest } = ledgerItem(m);
  return { id: pk, ...rest } as { id: string } & Omit<Movement, "id" | "postings"> & { postings: unknown };
}

/** A ledger movement as the ledgers write it: a notExists put of ledger/<id>/tx. */
function movementPut(op: WriteOp): Item | undefined {
  return op.op === "put" && op.table === "ledger" && op.item.sk === "tx" && op.when?.kind === "notExists" ? op.item : undefined;
}

/** A receipt inbox put (appendReceiptOp's): the job id it logs, or undefined. */
function receiptPutJob(op: WriteOp): string | undefined {
  return op.op === "put" && op.table === "chain" && typeof op.item.pk === "string" && op.item.pk.startsWith(`${RECEIPT_INBOX_PK}#`)
    ? String(op.item.sk)
    : undefined;
}

/**
 * The Store, with every transaction that writes a ledger movement also logging that movement
 * (other methods pass through untouched; a Proxy keeps adapter extras such as LMDB's scan and
 * close). A movement of a job whose receipt the same transaction appends (a settlement) rides
 * in that receipt's inbox entry (`mid` + `movement`): one item of < 1 KB instead of two, so a
 * settlement writes 2 WRU fewer (an item inside a transaction bills 2 WRU per started KB). Any
 * other movement gets an inbox put of its own, added at the end of the transaction without a
 * condition, so the indices of the caller's conditions are unchanged.
 */
export function withMovementLog<S extends Store>(store: S): S {
  const transact = async (ops: WriteOp[]) => {
    const extra: WriteOp[] = [];
    let out = ops;
    const receipts = new Map<string, number>();
    ops.forEach((op, i) => {
      const jobId = receiptPutJob(op);
      if (jobId !== undefined && !(op.op === "put" && "mid" in op.item)) receipts.set(jobId, i);
    });
    for (const op of ops) {
      const m = movementPut(op);
      if (!m) continue;
      const { pk, sk: _sk, ...rest } = m;
      const at = typeof m.at === "number" ? m.at : 0;
      const jobId = (m.meta as Record<string, unknown> | undefined)?.jobId;
      const carrier = typeof jobId === "string" ? receipts.get(jobId) : undefined;
      if (carrier !== undefined) {
        receipts.delete(jobId as string); // one movement per receipt entry
        if (out === ops) out = [...ops];
        const r = out[carrier] as Extract<WriteOp, { op: "put" }>;
        const compact = compactSettle(pk, rest, (r.item.receipt as Receipt | undefined)?.body.workerId);
        out[carrier] = { ...r, item: { ...r.item, mid: pk, ...(compact ? { ms: compact } : { movement: rest }) } };
        continue;
      }
      extra.push({ op: "put", table: "chain", item: { pk: inboxPk(MOVEMENT_INBOX_PK, pk), sk: pk, movement: rest, at } });
    }
    return store.transact(extra.length ? [...out, ...extra] : out);
  };
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === "transact") return transact;
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

// ---------------------------------------------------------------- batches

export type AnchorStatus = "prepared" | "indexed";

/** One batch as the coordinator keeps it (anchor:list/<seqno>). */
export interface AnchorRecord extends Item, Anchor {
  /** History after this anchor (what the contract's getter shows once it is posted). */
  history: string;
  status: AnchorStatus;
  /** which writer's chunks are the batch's (absent on records cut before: chunks under anchor:<seqno>) */
  cut?: string;
  receiptChunks: number;
  movementChunks: number;
  /** ms */
  preparedAt: number;
  /** ms of the last time it was sent to the chain (absent before the first send) */
  sentAt?: number;
  /** how many times it was sent (absent on records sent before the count was kept: read as 1); the resend backoff */
  sends?: number;
  /** chain time (s) it was seen on chain (absent until then) */
  postedAt?: number;
}

interface InboxReceipt extends Item {
  receipt: Receipt;
  at: number;
  /** the id of the job's movement (its settlement) when it rides in this entry (withMovementLog) */
  mid?: string;
  movement?: Omit<Movement, "id">;
  /** or, for a settlement that rebuilds exactly from it, the short form (compactSettle) */
  ms?: CompactSettle;
  /** the job's hold when its end logs it: in full, or only its time when `ms` names its requester and amount */
  hold?: CompactHold;
  ha?: number;
}

/** A job's hold as its receipt entry carries it: [requester, amount, at]. */
type CompactHold = [string, string, number];

/**
 * A settlement's movement in the short form it rides in with its receipt: [requester, held,
 * cost, at], and the operator fee's bps fifth when the settlement took one. The rest (job id, worker, postings, meta) follows from the movement id and the
 * receipt's worker. Used only when it rebuilds to exactly the stored movement (checked here,
 * as the canonical JSON would compare them: sameJson), so the log holds the same movement either way; it keeps the shared
 * entry well under DynamoDB's 1 KB write unit with a real model name and measurement.
 */
type CompactSettle = [string, string, string, number] | [string, string, string, number, number];
const SETTLE = "settle:";
function compactSettle(id: string, rest: Record<string, unknown>, worker: string | undefined): CompactSettle | undefined {
  if (!id.startsWith(SETTLE) || rest.kind !== "settle" || worker === undefined || typeof rest.at !== "number") return undefined;
  const first = (rest.postings as Array<{ account?: unknown; delta?: unknown }> | undefined)?.[0];
  // the requester's release (held − cost): the worker's posting is cost less the operator fee
  const back = (rest.postings as Array<{ account?: unknown; delta?: unknown }> | undefined)?.[1];
  const last = (rest.postings as Array<{ account?: unknown; delta?: unknown }> | undefined)?.[2];
  if (
    typeof first?.account !== "string" ||
    !first.account.startsWith("req:") ||
    typeof first.delta !== "string" ||
    typeof back?.delta !== "string" ||
    typeof last?.delta !== "string"
  )
    return undefined;
  try {
    const held = -BigInt(first.delta);
    // the operator fee (bps), when the settlement took one: the meta names it (core/ledger.ts settleMovement)
    const bps = Number((rest.meta as Record<string, unknown> | undefined)?.operatorFeeBps ?? 0);
    const base: [string, string, string, number] = [
      first.account.slice(4),
      held.toString(),
      (held - BigInt(back.delta)).toString(),
      rest.at,
    ];
    const c: CompactSettle = bps > 0 ? [...base, bps] : base;
    return sameJson(expandSettle(id, worker, c), rest) ? c : undefined;
  } catch {
    return undefined; // not a settlement this form can carry
  }
}
/**
 * Whether two stored movements are the same data, compared as canonicalJson would write them
 * (an attribute holding undefined is absent), without writing either: compactSettle's check runs
 * on every settlement, and two canonical forms were most of its cost. Strict where that is
 * cheaper: only strings, finite numbers, booleans, null, arrays and plain objects compare (a
 * bigint, for one, never equals anything here, where canonicalJson would write it as a string),
 * and a false only keeps the movement in full, which is always correct.
 */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return typeof a === "string" || typeof a === "boolean" || a === null || (typeof a === "number" && Number.isFinite(a));
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b) || Object.getPrototypeOf(a) !== Object.prototype || Object.getPrototypeOf(b) !== Object.prototype) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const k of Object.keys(x)) {
    if (x[k] === undefined) continue;
    n++;
    if (!Object.prototype.hasOwnProperty.call(y, k) || !sameJson(x[k], y[k])) return false;
  }
  for (const k of Object.keys(y)) if (y[k] !== undefined) n--;
  return n === 0;
}
/** The stored form (ledger item less its key) of the settlement a CompactSettle names (a fifth element: the operator fee's bps). */
function expandSettle(id: string, worker: string, [requester, held, cost, at, bps]: CompactSettle): Omit<Movement, "id"> {
  const { id: _id, ...m } = storedForm(
    settleMovement(id.slice(SETTLE.length), requester, worker, BigInt(held), BigInt(cost), at, bps ?? 0),
  );
  return m as unknown as Omit<Movement, "id">;
}
/** The hold a receipt entry carries (its job's end logs it), as an inbox movement entry; undefined when it carries none. */
function carriedHold(r: InboxReceipt): InboxMovement | undefined {
  const h: CompactHold | undefined = r.hold ?? (r.ha !== undefined && r.ms ? [r.ms[0], r.ms[1], r.ha] : undefined);
  if (!h) return undefined;
  const { id, ...movement } = storedForm(holdMovement(r.sk, h[0], BigInt(h[1]), h[2]));
  return { pk: r.pk, sk: id, movement: movement as unknown as Omit<Movement, "id">, at: h[2] };
}
interface InboxMovement extends Item {
  movement: Omit<Movement, "id">;
  at: number;
}
interface ReceiptChunk extends Item {
  jobIds: string[];
  /** the leaf hashes, 32 bytes each, concatenated, base64 */
  leaves: string;
}
interface MovementChunk extends Item {
  ids: string[];
  /** the ids among them that rode in a receipt's inbox entry (no movement inbox entry of their own to delete) */
  inReceipts?: string[];
}
export interface ReceiptIndexItem extends Item {
  seq: number;
  anchorSeqno: number;
  receipt: Receipt;
}

export const anchorOf = (r: Anchor): Anchor => ({
  seqno: r.seqno,
  root: r.root,
  firstSeq: r.firstSeq,
  count: r.count,
  ledgerSeqno: r.ledgerSeqno,
  ledgerHash: r.ledgerHash,
});
const headOf = (r: AnchorRecord): AnchorHead => ({
  seqno: r.seqno,
  lastSeq: r.firstSeq + r.count - 1,
  ledgerSeqno: r.ledgerSeqno,
  ledgerHash: r.ledgerHash,
  history: r.history,
});
const byAtThenKey = (a: { at: number; sk: string }, b: { at: number; sk: string }) =>
  a.at - b.at || (a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0);

/**
 * The entries of the next batch: the oldest receipts (up to maxReceipts) and the oldest
 * movements (up to maxMovements), each log a prefix in time as before. A receipt entry that
 * carries its job's movement (withMovementLog) goes in with that movement or not at all, so
 * once either log is full, neither takes an entry younger than the first one left out that
 * touches it: no settlement is logged before an older movement left for the next batch.
 */
function selectEntries(
  receipts: InboxReceipt[],
  movements: InboxMovement[],
  limits: AnchorLimits,
): { inR: InboxReceipt[]; inM: InboxMovement[]; inReceipts: Set<string> } {
  type Ev = { r?: InboxReceipt; m?: InboxMovement; at: number; sk: string };
  const evs: Ev[] = [...receipts.map((r) => ({ r, at: r.at, sk: r.sk })), ...movements.map((m) => ({ m, at: m.at, sk: m.sk }))].sort(
    byAtThenKey,
  );
  const inR: InboxReceipt[] = [];
  const inM: InboxMovement[] = [];
  const inReceipts = new Set<string>();
  let rOpen = true;
  let mOpen = true;
  for (const e of evs) {
    const takesR = e.r !== undefined;
    const carried = e.r?.mid !== undefined && (e.r.movement !== undefined || e.r.ms !== undefined);
    const hold = e.r ? carriedHold(e.r) : undefined;
    const mCount = (e.m !== undefined || carried ? 1 : 0) + (hold ? 1 : 0);
    const takesM = mCount > 0;
    const fits =
      (!takesR || (rOpen && inR.length < limits.maxReceipts)) && (!takesM || (mOpen && inM.length + mCount <= limits.maxMovements));
    if (!fits) {
      // left for the next batch: each log it touches takes nothing younger in this one
      if (takesR) rOpen = false;
      if (takesM) mOpen = false;
      if (!rOpen && !mOpen) break;
      continue;
    }
    if (e.r) inR.push(e.r);
    if (hold) {
      // older than the job's settlement (and maybe than movements already anchored): the log
      // lists it just before its job's end, in the batch that logs that end
      inM.push(hold);
      inReceipts.add(hold.sk);
    }
    if (e.m) inM.push(e.m);
    else if (carried) {
      const r = e.r!;
      const movement = r.movement ?? expandSettle(r.mid!, r.receipt.body.workerId, r.ms!);
      inM.push({ pk: r.pk, sk: r.mid!, movement, at: typeof movement.at === "number" ? movement.at : r.at });
      inReceipts.add(e.r!.mid!);
    }
  }
  inM.sort(byAtThenKey);
  return { inR, inM, inReceipts };
}

/** Another anchorer cut the batch first (the head moved): this run stops; the next one continues. */
export class AnchorConcurrencyError extends Error {
  override readonly name = "AnchorConcurrencyError";
  readonly code = "anchor_concurrent_writer";
}

/** Runs `f` over `items` with at most `n` in flight (plain writes: DynamoDB bills each alike, and they are independent). */
async function eachLimited<T>(items: readonly T[], n: number, f: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await f(items[next++]!);
    }),
  );
}

export class StoreAnchorLog {
  constructor(
    readonly store: Store,
    private readonly opts: { chunk?: number; concurrency?: number } = {},
  ) {}

  private get chunk() {
    return this.opts.chunk ?? CHUNK;
  }

  async latestSeqno(): Promise<number> {
    const h = await this.store.get("chain", HEAD_KEY);
    return typeof h?.seqno === "number" ? h.seqno : 0;
  }

  record(seqno: number): Promise<AnchorRecord | undefined> {
    return seqno < 1 ? Promise.resolve(undefined) : this.store.get<AnchorRecord>("chain", recordKey(seqno));
  }

  async latest(): Promise<AnchorRecord | undefined> {
    return this.record(await this.latestSeqno());
  }

  /** Records from..to (inclusive), ascending; one query per 1000 seqnos. */
  async records(from: number, to: number): Promise<AnchorRecord[]> {
    const out: AnchorRecord[] = [];
    for (let bucket = Math.floor(Math.max(1, from) / 1000); bucket <= Math.floor(to / 1000); bucket++) {
      const prefix = pad(bucket * 1000).slice(0, 7);
      for (const r of await this.store.query<AnchorRecord>("chain", LIST_PK, { skPrefix: prefix }))
        if (r.seqno >= from && r.seqno <= to) out.push(r);
    }
    return out;
  }

  /** Head after the latest batch (GENESIS_HEAD before the first). */
  async head(): Promise<AnchorHead> {
    const r = await this.latest();
    return r ? headOf(r) : GENESIS_HEAD;
  }

  /** The oldest inbox entry's time (ms), or undefined when nothing waits: how late anchoring is. */
  async oldestPending(): Promise<number | undefined> {
    // The receipt inbox is keyed by job id (time-ordered ULIDs): each partition's first entry is about its oldest.
    const [r, m] = await Promise.all([
      Promise.all(inboxPks(RECEIPT_INBOX_PK).map((pk) => this.store.query<InboxReceipt>("chain", pk, { limit: 1 }))),
      Promise.all(inboxPks(MOVEMENT_INBOX_PK).map((pk) => this.store.query<InboxMovement>("chain", pk, { limit: 50 }))),
    ]);
    const ats = [...r.flat(), ...m.flat()].map((e) => e.at);
    return ats.length ? Math.min(...ats) : undefined;
  }

  /**
   * Cuts the next batch from the inboxes, or returns null when they are empty. Finishes a batch
   * left "prepared" by a crash first. Throws AnchorConcurrencyError when another writer moved the head.
   */
  async prepareNext(now: number, limits: AnchorLimits = DEFAULT_ANCHOR_LIMITS): Promise<AnchorRecord | null> {
    const latest = await this.latest();
    if (latest?.status === "prepared") await this.finishIndexing(latest);
    const prev = latest ? headOf(latest) : GENESIS_HEAD;
    // Each inbox partition up to the batch's limit, then the oldest entries across them; the rest wait for the next batch.
    const [allR, allM] = await Promise.all([
      Promise.all(inboxPks(RECEIPT_INBOX_PK).map((pk) => this.store.query<InboxReceipt>("chain", pk, { limit: limits.maxReceipts }))),
      Promise.all(inboxPks(MOVEMENT_INBOX_PK).map((pk) => this.store.query<InboxMovement>("chain", pk, { limit: limits.maxMovements }))),
    ]);
    const { inR, inM, inReceipts } = selectEntries(allR.flat(), allM.flat(), limits);
    if (inR.length === 0 && inM.length === 0) return null;
    const receipts: ReceiptLogEntry[] = inR.map((e, i) => ({ seq: prev.lastSeq + 1 + i, receipt: e.receipt }));
    const movements: MovementLogEntry[] = inM.map((e, i) => ({
      seq: prev.ledgerSeqno + 1 + i,
      movement: { id: e.sk, ...e.movement } as Movement,
    }));
    const batch = buildAnchorBatch(prev, receipts, movements);
    const seqno = batch.anchor.seqno;
    const cut = batch.head.history.slice(0, 16);

    // (1) chunks: plain puts, overwritten by a retry that cuts this seqno again
    const leaves = batch.levels[0] ?? [];
    const chunks: Item[] = [];
    for (let i = 0, c = 0; i < inR.length; i += this.chunk, c++) {
      const part = leaves.slice(i, i + this.chunk);
      chunks.push({
        ...chunkKey({ seqno, cut }, "r", c),
        jobIds: inR.slice(i, i + this.chunk).map((e) => e.sk),
        leaves: Buffer.concat(part).toString("base64"),
      } satisfies ReceiptChunk);
    }
    const receiptChunks = chunks.length;
    for (let i = 0, c = 0; i < inM.length; i += this.chunk, c++) {
      const ids = inM.slice(i, i + this.chunk).map((e) => e.sk);
      const carried = ids.filter((id) => inReceipts.has(id));
      chunks.push({ ...chunkKey({ seqno, cut }, "m", c), ids, ...(carried.length ? { inReceipts: carried } : {}) } satisfies MovementChunk);
    }
    await eachLimited(chunks, this.opts.concurrency ?? 8, (item) => this.store.transact([{ op: "put", table: "chain", item }]));

    // (2) the batch is fixed: record + head, only if nobody else cut it
    const record: AnchorRecord = {
      ...recordKey(seqno),
      ...batch.anchor,
      history: batch.head.history,
      status: "prepared",
      cut,
      receiptChunks,
      movementChunks: chunks.length - receiptChunks,
      preparedAt: now,
    };
    try {
      await this.store.transact([
        { op: "put", table: "chain", item: record, when: { kind: "notExists" } },
        {
          op: "put",
          table: "chain",
          item: { ...HEAD_KEY, seqno },
          when: seqno === 1 ? { kind: "notExists" } : { kind: "cmp", attr: "seqno", op: "=", value: seqno - 1 },
        },
      ]);
    } catch (e) {
      if (e instanceof ConditionFailedError) throw new AnchorConcurrencyError(`anchor ${seqno} was cut by another writer`);
      throw e;
    }
    // (3) + (4)
    await this.finishIndexing(record, new Map(inR.map((e) => [e.sk, e.receipt])));
    return { ...record, status: "indexed" };
  }

  /**
   * Index items for the batch's receipts, then the inbox deletes, then status "indexed".
   * Idempotent; `receipts` saves re-reading the inbox when the caller still has it.
   */
  async finishIndexing(r: AnchorRecord, receipts?: Map<string, Receipt>): Promise<void> {
    const rChunks = await this.chunks<ReceiptChunk>(r, "r", r.receiptChunks);
    const mChunks = await this.chunks<MovementChunk>(r, "m", r.movementChunks);
    const jobIds = rChunks.flatMap((c) => c.jobIds);
    const conc = this.opts.concurrency ?? 8;
    await eachLimited(
      jobIds.map((jobId, i) => ({ jobId, seq: r.firstSeq + i })),
      conc,
      async ({ jobId, seq }) => {
        // After a crash (no map) each entry is read back from the inbox: rare, so one read each is fine.
        const receipt = receipts
          ? receipts.get(jobId)
          : (await this.store.get<InboxReceipt>("chain", { pk: inboxPk(RECEIPT_INBOX_PK, jobId), sk: jobId }))?.receipt;
        // Absent from the inbox: its index was written before its inbox entry was deleted (by an earlier try).
        if (!receipt) return;
        const item: ReceiptIndexItem = { ...receiptIndexKey(jobId), seq, anchorSeqno: r.seqno, receipt };
        await this.store.transact([{ op: "put", table: "chain", item }]);
      },
    );
    const deletes = [
      ...jobIds.map((sk) => ({ pk: inboxPk(RECEIPT_INBOX_PK, sk), sk })),
      ...mChunks.flatMap((c) => {
        // a movement that rode in a receipt's entry goes with that entry's delete
        const carried = new Set(c.inReceipts ?? []);
        return c.ids.filter((sk) => !carried.has(sk)).map((sk) => ({ pk: inboxPk(MOVEMENT_INBOX_PK, sk), sk }));
      }),
    ];
    await eachLimited(deletes, conc, (key) => this.store.transact([{ op: "delete", table: "chain", key }]));
    try {
      await this.store.transact([
        {
          op: "update",
          table: "chain",
          key: recordKey(r.seqno),
          set: { status: "indexed" },
          when: { kind: "cmp", attr: "status", op: "=", value: "prepared" },
        },
      ]);
    } catch (e) {
      if (!(e instanceof ConditionFailedError)) throw e; // indexed already
    }
  }

  async markSent(seqno: number, at: number): Promise<void> {
    await this.store.transact([
      { op: "update", table: "chain", key: recordKey(seqno), set: { sentAt: at }, add: { sends: 1 }, when: { kind: "exists" } },
    ]);
  }

  /**
   * A send that never reached the chain (the post threw: toncenter down) takes its count back, so
   * an outage does not grow the backoff meant for anchors the contract refuses. The first send
   * stays counted: the batch is still resent resendAfterSeconds after it.
   */
  async unmarkSent(seqno: number): Promise<void> {
    try {
      await this.store.transact([
        {
          op: "update",
          table: "chain",
          key: recordKey(seqno),
          add: { sends: -1 },
          when: { kind: "cmp", attr: "sends", op: ">", value: 1 },
        },
      ]);
    } catch (e) {
      if (!(e instanceof ConditionFailedError)) throw e;
    }
  }

  async markPosted(seqno: number, chainTime: number): Promise<void> {
    await this.store.transact([
      { op: "update", table: "chain", key: recordKey(seqno), set: { postedAt: chainTime }, when: { kind: "exists" } },
    ]);
  }

  private async chunks<T extends Item>(r: Pick<AnchorRecord, "seqno" | "cut">, kind: "r" | "m", n: number): Promise<T[]> {
    const out = await Promise.all(Array.from({ length: n }, (_, i) => this.store.get<T>("chain", chunkKey(r, kind, i))));
    return out.map((c, i) => {
      if (!c) throw new Error(`anchor ${r.seqno}: chunk ${kind}#${i} is missing from the store`);
      return c;
    });
  }

  /** Movement ids of batch `seqno`, in log order (for replaying the ledger against the anchors). */
  async movementIds(seqno: number): Promise<string[]> {
    const r = await this.record(seqno);
    if (!r) return [];
    return (await this.chunks<MovementChunk>(r, "m", r.movementChunks)).flatMap((c) => c.ids);
  }

  /** Where a job's receipt went: undefined while it waits in the inbox (or when the job never settled). */
  indexOf(jobId: string): Promise<ReceiptIndexItem | undefined> {
    return this.store.get<ReceiptIndexItem>("chain", receiptIndexKey(jobId));
  }

  /** True while the job's receipt waits for the next batch. */
  async isPending(jobId: string): Promise<boolean> {
    return (await this.store.get("chain", { pk: inboxPk(RECEIPT_INBOX_PK, jobId), sk: jobId })) !== undefined;
  }

  /**
   * The inclusion proof of a sequenced receipt: its audit path in its batch, and the anchors
   * from its batch to the latest the coordinator cut (at most MAX_PROOF_ANCHORS), with the
   * history before its batch, so a verifier can tie it to the contract's one getter.
   */
  async proof(index: ReceiptIndexItem): Promise<StoredProof> {
    const r = await this.record(index.anchorSeqno);
    if (!r) throw new Error(`anchor ${index.anchorSeqno} is missing from the store`);
    const chunks = await this.chunks<ReceiptChunk>(r, "r", r.receiptChunks);
    const leaves: Uint8Array[] = [];
    for (const c of chunks) {
      const buf = Buffer.from(c.leaves, "base64");
      for (let o = 0; o < buf.length; o += HASH_BYTES) leaves.push(buf.subarray(o, o + HASH_BYTES));
    }
    if (leaves.length !== r.count) throw new Error(`anchor ${r.seqno}: ${leaves.length} leaves stored for ${r.count} receipts`);
    const leafIndex = index.seq - r.firstSeq;
    const path = auditPathFromLevels(merkleLevels(leaves), leafIndex).map((h) => Buffer.from(h).toString("hex"));
    const last = Math.min(await this.latestSeqno(), r.seqno + MAX_PROOF_ANCHORS - 1);
    const [prev, anchors] = await Promise.all([this.record(r.seqno - 1), this.records(r.seqno, last)]);
    return {
      receipt: index.receipt,
      seq: index.seq,
      anchorSeqno: r.seqno,
      leafIndex,
      treeSize: r.count,
      path,
      prevHistory: prev?.history ?? GENESIS_HEAD.history,
      anchors: anchors.map(anchorOf),
    };
  }
}

/** A receipt's proof as the log holds it: the bundle GET /v1/receipts/{jobId}/proof answers, less the job id the caller asked with. */
export type StoredProof = Omit<ReceiptProofBundle, "jobId">;
