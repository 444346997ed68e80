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
 *   rlog:w<minute>#<s> / <jobId>      the time-windowed receipt log (issue 12): a settled receipt, and
 *                                     the job's settlement and hold with it, under the minute of the
 *                                     settlement's time `at` (the job item's updatedAt, or its tab's
 *                                     closedAt, written in the same transaction); never deleted: it is
 *                                     the receipt's record, so the anchorer writes nothing per job
 *   rlog:pending#<s> / <jobId>        legacy receipt inbox (before the time-windowed log): drained the old way
 *   mlog:pending#<s> / <movementId>   inbox: any other movement without a sequence number yet
 *     (s = a hash of the sk mod INBOX_SHARDS: every settlement and every movement of the network
 *     appends here, so one partition key would take ~1,000 jobs/s × 2 WCU of receipts and twice
 *     that of movements, past DynamoDB's ~1,000 WCU/s per key; bench/sim measured it, issue 16)
 *   anchor:head  / h              { seqno, windowFrom, passes }: the latest batch cut (the one
 *                                 writer's guard), where the next range starts, the straggler passes' progress
 *   anchor:list  / <seqno, 10 d>  AnchorRecord: one batch, its anchor fields and state, its range
 *                                 [wFrom, upTo) and running maximum maxSoFar
 *   anchor:<seqno>:<cut> / r#<chunk>   the batch's receipts in order: job ids + leaf hashes (legacy
 *                                 and late ones named apart)
 *   anchor:<seqno>:<cut> / m#<chunk>   the batch's movements in order: movement ids
 *   rlog:<jobId> / r              { seq, anchorSeqno, receipt }: where a receipt went, for a legacy
 *                                 inbox entry or a straggler taken late (a windowed one is found
 *                                 from its entry: indexOf)
 *
 * Cutting a batch (crash-safe, idempotent): (1) chunk items, plain puts that a retry simply
 * overwrites; (2) one transaction: the record (status "prepared") and the head, conditioned on
 * the head not having moved, which fixes the batch and the next range's start; (3) index items
 * for legacy entries and stragglers only, then the legacy and movement inbox deletes (a retry
 * after a crash redoes both from the chunks); (4) status "indexed". No next batch is cut before
 * the previous one is indexed. Which windowed entries a batch takes: core/receipts/window.ts
 * (planCut) and prepareNext; the straggler passes: WINDOW_PASSES_MS.
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
import { cmpPos, planCut, posOf, type Pos } from "./window";
import type { ReceiptProofBundle } from "./proof";

export const RECEIPT_INBOX_PK = "rlog:pending";
export const MOVEMENT_INBOX_PK = "mlog:pending";
/** Partition keys per inbox (issue 16): appends spread over them; the anchorer reads them all. */
export const INBOX_SHARDS = 16;
/** The shard a sort key (job id or movement id) goes to: FNV-1a of it, mod INBOX_SHARDS. */
const shardOf = (sk: string) => {
  let h = 0x811c9dc5;
  for (let i = 0; i < sk.length; i++) h = Math.imul(h ^ sk.charCodeAt(i), 0x01000193);
  return (h >>> 0) % INBOX_SHARDS;
};
/** The inbox partition an entry goes to: its sort key's shard. */
export function inboxPk(inbox: typeof RECEIPT_INBOX_PK | typeof MOVEMENT_INBOX_PK, sk: string): string {
  return `${inbox}#${shardOf(sk)}`;
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

/** The time-windowed receipt log's partitions: rlog:w<minute of at>#<shard>. */
export const WINDOW_PK = "rlog:w";
const MINUTE = 60_000;
const windowPk = (minute: number, shard: number) => `${WINDOW_PK}${minute}#${shard}`;
/** Where a receipt settled at `at` (ms) lives for good: its minute's partition, spread over INBOX_SHARDS by job id. */
export const windowEntryKey = (at: number, jobId: string) => ({ pk: windowPk(Math.floor(at / MINUTE), shardOf(jobId)), sk: jobId });
/**
 * ms a batch's range stays behind the anchorer's clock: longer than a settling function runs
 * after taking its `now` (the route's 29 s timeout, the matching consumer's 60 s) plus the
 * clocks' skew, so every position before it has committed (core/receipts/window.ts).
 */
export const WINDOW_LAG_MS = 120_000;
/** ms before its first cut where the time-windowed log's first range starts (a fresh table, or the deploy that brings it). */
export const WINDOW_SWEEP_MS = 30 * 60_000;
/**
 * The straggler passes: ms each stays behind the range's start. A straggler is an entry that
 * committed after a range covering its position was cut (its settling function stalled past
 * WINDOW_LAG_MS, or a clock ran far behind). Each pass re-reads every position once (eventually
 * consistent, in whole minutes as the range's start moves on) and takes what no batch took: the
 * first soon (a stall of minutes is anchored within minutes), the second past Lambda's 15 minute
 * longest run (on AWS no settlement commits later than that), the third, the deep sweep, a day
 * behind (a coordinator paused or a clock wrong for up to a day). An entry committed later than a
 * day after its time is in no batch: the receipt log's audit (a full read) is then the only check.
 */
export const WINDOW_PASSES_MS = [5 * 60_000, 30 * 60_000, 24 * 60 * 60_000] as const;
/**
 * Most minutes of positions one pass reads in one cut: twice the 300 s interval, so a pass behind
 * (after an outage) catches up over several cuts without one run reading an hour of entries.
 */
const PASS_MAX_MINUTES = 10;
/** Legacy (pre-window) records a walk back over the batches steps over before it stops: a deploy's mix of old and new cuts. */
export const LEGACY_STEPS = 10;
const posKey = (p: Pos) => `${p[0]}|${p[1]}`;

// ---------------------------------------------------------------- appending

/**
 * The op a settlement adds to its transaction: the job's receipt into the time-windowed log
 * (windowEntryKey), where it stays for good. Unconditional: the settlement's own movement
 * (`settle:<jobId>`, written notExists) or the job item's condition already makes the
 * transaction commit at most once per job. `at` must be the time the same transaction writes
 * on the job item (updatedAt) or its tab (closedAt): a proof finds the entry from it. One item
 * of about 0.7 KB: 1 WRU, 2 inside a transaction.
 */
export function appendReceiptOp(jobId: string, receipt: Receipt, at: number, hold?: Movement, settlement?: Movement): WriteOp {
  return {
    op: "put",
    table: "chain",
    item: {
      ...windowEntryKey(at, jobId),
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
  return op.op === "put" &&
    op.table === "chain" &&
    typeof op.item.pk === "string" &&
    (op.item.pk.startsWith(`${RECEIPT_INBOX_PK}#`) || op.item.pk.startsWith(WINDOW_PK))
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
  /**
   * The time-windowed log's range this batch covers, [wFrom, upTo) in (at, jobId) positions
   * (absent on records cut before it, which took only inbox entries), and the running maximum
   * of the positions taken by it and the windowed batches before it (absent while none took one).
   */
  wFrom?: Pos;
  upTo?: Pos;
  maxSoFar?: Pos;
  /** receipts it took from behind its range's start (a straggler pass's) */
  late?: number;
  /** the straggler passes' progress after it (the head's), kept so a head rewritten by an older anchorer recovers it */
  passes?: number[];
}

/** anchor:head / h: the latest batch's seqno and where the next range begins. */
interface HeadItem extends Item {
  seqno: number;
  /** start of the next batch's range; absent on a head written before the time-windowed log */
  windowFrom?: Pos;
  /** posKey(windowFrom), what the head's condition compares */
  wfKey?: string;
  /** each straggler pass's progress (WINDOW_PASSES_MS): it has read every position before this time (ms) */
  passes?: number[];
}
/** The head every writer of the time-windowed log writes: after batch `seqno`, the next range from `windowFrom`. */
const headItemOf = (seqno: number, windowFrom: Pos, passes: number[]): HeadItem => ({
  ...HEAD_KEY,
  seqno,
  windowFrom,
  wfKey: posKey(windowFrom),
  passes,
});
/** A batch cut with a range (the time-windowed log's). */
type WindowedRecord = AnchorRecord & { upTo: Pos };

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
  /** among them, those taken from the legacy inbox (rlog:pending#<s>): indexed and deleted the old way */
  legacy?: string[];
  /** among them, a sweep's stragglers with their `at`: indexed (rlog:<jobId>/r), so a proof needs no search for them */
  late?: Array<[string, number]>;
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

  /**
   * How late anchoring is: the oldest time (ms) of what waits to be cut, or undefined when
   * nothing waits. The inboxes' oldest entries (the legacy receipt inbox and the movement inbox,
   * whatever their age), and, given `before` (ms), the oldest entry of the time-windowed log
   * older than it that waits: at or past the next range's start (the head's windowFrom; before
   * the first cut of that log, the half hour behind `before`, where that cut will start) and
   * taken by no batch (the last ones may have taken entries beyond their range's end, up to their
   * running maximum). checkAnchors passes its clock less the overdue bound: while the range's
   * start is younger than that (every run on time) it reads nothing from the window; else it
   * reads the minutes from the range's start to the bound, and stops at the first that holds a
   * waiting entry. A straggler behind the range's start (committed after its range was cut) is
   * not seen here: the sweeps take it (prepareNext), and its batch records it (`late`).
   */
  async oldestPending(before?: number): Promise<number | undefined> {
    // The receipt inbox is keyed by job id (time-ordered ULIDs): each partition's first entry is about its oldest.
    const [r, m, w] = await Promise.all([
      Promise.all(inboxPks(RECEIPT_INBOX_PK).map((pk) => this.store.query<InboxReceipt>("chain", pk, { limit: 1 }))),
      Promise.all(inboxPks(MOVEMENT_INBOX_PK).map((pk) => this.store.query<InboxMovement>("chain", pk, { limit: 50 }))),
      before === undefined ? undefined : this.oldestWindowed(before),
    ]);
    const ats = [...r.flat(), ...m.flat()].map((e) => e.at);
    if (w !== undefined) ats.push(w);
    return ats.length ? Math.min(...ats) : undefined;
  }

  private async oldestWindowed(before: number): Promise<number | undefined> {
    const head = await this.headItem();
    const from: Pos = head?.windowFrom && head.wfKey === posKey(head.windowFrom) ? head.windowFrom : [before - WINDOW_SWEEP_MS, ""];
    if (from[0] >= before) return undefined; // the range starts after the bound: nothing in it waited that long
    let taken: Set<string> | undefined;
    // at most a day of minutes (the alarm needs only the oldest; a longer stall has raised it for a day)
    const first = Math.floor(from[0] / MINUTE);
    const last = Math.min(Math.floor((before - 1) / MINUTE), first + 24 * 60);
    for (let minute = first; minute <= last; minute++) {
      const found = (await this.readMinute(minute, false)).filter((e) => e.at < before && cmpPos(posOf(e), from) >= 0);
      if (!found.length) continue;
      taken ??= head ? await this.takenBy(head.seqno, (r) => r.maxSoFar !== undefined && cmpPos(r.maxSoFar, from) >= 0) : new Set();
      const waiting = found.filter((e) => !taken!.has(e.sk));
      if (waiting.length) return Math.min(...waiting.map((e) => e.at));
    }
    return undefined;
  }

  private headItem(): Promise<HeadItem | undefined> {
    return this.store.get<HeadItem>("chain", HEAD_KEY);
  }

  /** The 16 partitions of one minute of the time-windowed log, entries in any order. */
  private async readMinute(minute: number, eventual: boolean): Promise<InboxReceipt[]> {
    const parts = await Promise.all(
      Array.from({ length: INBOX_SHARDS }, (_, s) =>
        this.store.query<InboxReceipt>("chain", windowPk(minute, s), eventual ? { eventual: true } : {}),
      ),
    );
    return parts.flat();
  }

  /**
   * Where the next range begins: the head's windowFrom. A head without one (a fresh table, a
   * table anchored before the time-windowed log, or an old anchorer's head write during a
   * deploy) gets it: the last windowed batch's range end and passes, else WINDOW_SWEEP_MS before
   * now, written to the head on its own.
   */
  private async windowStart(head: HeadItem | undefined, now: number): Promise<HeadItem> {
    if (head?.windowFrom && head.wfKey === posKey(head.windowFrom)) return head;
    const seqno = head?.seqno ?? 0;
    const last = await this.lastWindowed(seqno);
    const from: Pos = last?.upTo ?? [now - WINDOW_SWEEP_MS, ""];
    // the passes start where the first range does (nothing was written to the time-windowed log before it)
    const passes = last?.passes ?? WINDOW_PASSES_MS.map(() => from[0]);
    const item = headItemOf(seqno, from, passes);
    try {
      await this.store.transact([
        { op: "put", table: "chain", item, when: head ? { kind: "cmp", attr: "seqno", op: "=", value: seqno } : { kind: "notExists" } },
      ]);
    } catch (e) {
      if (e instanceof ConditionFailedError) throw new AnchorConcurrencyError("the anchor head moved while its window start was set");
      throw e;
    }
    return item;
  }

  /** The head's condition: nobody cut a batch or moved the range's start since `head` was read. */
  private headUnmoved(head: HeadItem): WriteOp["when"] {
    return {
      kind: "and",
      all: [
        { kind: "cmp", attr: "seqno", op: "=", value: head.seqno },
        { kind: "cmp", attr: "wfKey", op: "=", value: head.wfKey! },
      ],
    };
  }

  /**
   * The batches cut with a range, from `seqno` back, newest first: the walk back every reader of
   * the time-windowed log makes. It steps over up to LEGACY_STEPS records cut without a range (a
   * deploy's mix of old and new cuts) and ends at the first record missing. Each record is read
   * when the caller asks for it, so a caller that stops early reads no further.
   */
  private async *windowedBack(seqno: number): AsyncGenerator<WindowedRecord> {
    for (let s = seqno, legacy = 0; s >= 1; s--) {
      const r = await this.record(s);
      if (!r) return;
      if (r.upTo) yield r as WindowedRecord;
      else if (++legacy > LEGACY_STEPS) return;
    }
  }

  /** The latest batch at or below `seqno` cut with a range. */
  private async lastWindowed(seqno: number): Promise<WindowedRecord | undefined> {
    for await (const r of this.windowedBack(seqno)) return r;
    return undefined;
  }

  /**
   * The last batch (at or below `latest`) whose range starts before `pos`, or cut without a range:
   * a binary search over the records (the ranges' starts grow with the seqno; records without one
   * come before the first with one, but for a deploy's few, which the walks back step over). 0: none.
   */
  private async lastStartingBefore(pos: Pos, latest: number, inclusive: boolean): Promise<number> {
    let lo = 0;
    let hi = latest;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      const r = await this.record(mid);
      const c = r?.wFrom ? cmpPos(r.wFrom, pos) : -1;
      if (c < 0 || (inclusive && c === 0)) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * A pass's slice: the entries of positions in [start, end) (ms) that no batch took. The batches
   * that took them in their ranges are those from the last whose range starts before `end` back
   * while their range's end or running maximum reaches `start`; one taken late by an earlier pass
   * has its index item. What is left committed after every cut and pass that covered it.
   */
  private async stragglers(start: number, end: number, latest: number): Promise<InboxReceipt[]> {
    const startPos: Pos = [start, ""];
    let taken: Set<string> | undefined;
    const left: InboxReceipt[] = [];
    // minute by minute, keeping only what no batch took (at 1,000 jobs/s a minute is 60,000 entries)
    for (let minute = Math.floor(start / MINUTE); minute < Math.ceil(end / MINUTE); minute++) {
      const inSlice = (await this.readMinute(minute, true)).filter((e) => e.at >= start && e.at < end);
      if (!inSlice.length) continue;
      taken ??= await this.takenBy(
        await this.lastStartingBefore([end, ""], latest, false),
        (r) => cmpPos(r.upTo, startPos) > 0 || (r.maxSoFar !== undefined && cmpPos(r.maxSoFar, startPos) >= 0),
      );
      for (const e of inSlice) if (!taken.has(e.sk)) left.push(e);
    }
    // taken late by an earlier pass: indexed
    const indexed = await Promise.all(left.map((e) => this.store.get("chain", receiptIndexKey(e.sk))));
    return left.filter((_, i) => indexed[i] === undefined);
  }

  /**
   * The windowed batches from the latest back, while `keep` holds (the running maxima and the
   * range ends only grow with the seqno, so the first that fails ends the walk), stepping over
   * up to LEGACY_STEPS records cut without a range. Their receipt chunks' job ids.
   */
  private async takenBy(latest: number, keep: (r: WindowedRecord) => boolean): Promise<Set<string>> {
    const out = new Set<string>();
    for await (const r of this.windowedBack(latest)) {
      if (!keep(r)) break;
      for (const c of await this.chunks<ReceiptChunk>(r, "r", r.receiptChunks)) for (const id of c.jobIds) out.add(id);
    }
    return out;
  }

  /**
   * Cuts the next batch, or returns null when nothing waits. Receipts come from the time-windowed
   * log (a range of positions after the previous batch's, core/receipts/window.ts planCut, plus a
   * sweep's stragglers) and, until it is empty, the legacy inbox; movements from the movement
   * inbox. Finishes a batch left "prepared" by a crash first. Throws AnchorConcurrencyError when
   * another writer moved the head.
   */
  async prepareNext(now: number, limits: AnchorLimits = DEFAULT_ANCHOR_LIMITS): Promise<AnchorRecord | null> {
    let latest = await this.latest();
    if (latest?.status === "prepared") await this.finishIndexing(latest);
    const head = await this.windowStart(await this.headItem(), now);
    if (head.seqno !== (latest?.seqno ?? 0)) {
      latest = await this.record(head.seqno); // a cut landed between the two reads
      if (latest?.status === "prepared") throw new AnchorConcurrencyError(`anchor ${head.seqno} is being cut by another writer`);
    }
    const prev = latest ? headOf(latest) : GENESIS_HEAD;
    const from = head.windowFrom!;
    // Each inbox partition up to the batch's limit, then the oldest entries across them; the rest wait for the next batch.
    const [legacyR, allM] = await Promise.all([
      Promise.all(inboxPks(RECEIPT_INBOX_PK).map((pk) => this.store.query<InboxReceipt>("chain", pk, { limit: limits.maxReceipts }))),
      Promise.all(inboxPks(MOVEMENT_INBOX_PK).map((pk) => this.store.query<InboxMovement>("chain", pk, { limit: limits.maxMovements }))),
    ]);
    const legacy = legacyR.flat();
    // the range: minute by minute (strongly consistent) from its start, until a batch's worth is read
    const taken = await this.takenBy(prev.seqno, (r) => r.maxSoFar !== undefined && cmpPos(r.maxSoFar, from) >= 0);
    const entries: InboxReceipt[] = [];
    let fresh = 0;
    let readEnd = now;
    for (let minute = Math.floor(from[0] / MINUTE); minute <= Math.floor(now / MINUTE); minute++) {
      for (const e of await this.readMinute(minute, false)) {
        entries.push(e);
        if (cmpPos(posOf(e), from) >= 0 && !taken.has(e.sk)) fresh++;
      }
      if (fresh > limits.maxReceipts) {
        readEnd = (minute + 1) * MINUTE; // the range ends inside what was read
        break;
      }
    }
    // the straggler passes: each reads the whole minutes it has not read up to its distance behind the range's start
    const cursors = WINDOW_PASSES_MS.map((_, i) => head.passes?.[i] ?? from[0]);
    const slices = cursors.map((c, i) => {
      const end = Math.min(Math.floor((from[0] - WINDOW_PASSES_MS[i]!) / MINUTE) * MINUTE, c + PASS_MAX_MINUTES * MINUTE);
      return end > c ? { start: c, end } : undefined;
    });
    const found = await Promise.all(slices.map((sl) => (sl ? this.stragglers(sl.start, sl.end, prev.seqno) : [])));
    const swept = { entries: found.flat(), anchored: new Set<string>() };
    const plan = planCut({ from, cutoff: Math.min(now - WINDOW_LAG_MS, readEnd), entries, taken, max: limits.maxReceipts, swept });
    const lateIds = new Set(plan.late.map((e) => e.sk));
    const legacyIds = new Set(legacy.map((e) => e.sk));
    const { inR, inM, inReceipts } = selectEntries([...legacy, ...plan.late, ...plan.take], allM.flat(), limits);
    // what the limits left out of the range's entries (a suffix: selectEntries takes a prefix in time) ends the range there
    const inSet = new Set(inR.map((e) => e.sk));
    const firstLeft = plan.take.find((e) => !inSet.has(e.sk));
    const upTo: Pos = firstLeft && cmpPos(posOf(firstLeft), plan.upTo) < 0 ? posOf(firstLeft) : plan.upTo;
    const takenNow = plan.take.filter((e) => inSet.has(e.sk));
    const maxPos = takenNow.length ? posOf(takenNow[takenNow.length - 1]!) : undefined;
    // `latest` is prev.seqno's record: read again only when it has no range (a deploy's old records)
    const before = (latest?.upTo ? latest : await this.lastWindowed(prev.seqno))?.maxSoFar;
    const maxSoFar = maxPos && (!before || cmpPos(maxPos, before) > 0) ? maxPos : before;
    // a pass moves on only when this batch takes every straggler it found (else it reads the same minutes again)
    const passes = cursors.map((c, i) => (slices[i] && found[i]!.every((e) => inSet.has(e.sk)) ? slices[i].end : c));
    if (inR.length === 0 && inM.length === 0) {
      // nothing to cut: the range's start still moves up to the cutoff, so the next read starts there
      if (cmpPos(upTo, from) > 0 || passes.some((p, i) => p !== cursors[i])) await this.moveWindow(head, upTo, passes);
      return null;
    }
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
      const part = inR.slice(i, i + this.chunk);
      const old = part.filter((e) => legacyIds.has(e.sk)).map((e) => e.sk);
      const late = part.filter((e) => lateIds.has(e.sk)).map((e): [string, number] => [e.sk, e.at]);
      chunks.push({
        ...chunkKey({ seqno, cut }, "r", c),
        jobIds: part.map((e) => e.sk),
        ...(old.length ? { legacy: old } : {}),
        ...(late.length ? { late } : {}),
        leaves: Buffer.concat(leaves.slice(i, i + this.chunk)).toString("base64"),
      } satisfies ReceiptChunk);
    }
    const receiptChunks = chunks.length;
    for (let i = 0, c = 0; i < inM.length; i += this.chunk, c++) {
      const ids = inM.slice(i, i + this.chunk).map((e) => e.sk);
      const carried = ids.filter((id) => inReceipts.has(id));
      chunks.push({ ...chunkKey({ seqno, cut }, "m", c), ids, ...(carried.length ? { inReceipts: carried } : {}) } satisfies MovementChunk);
    }
    await eachLimited(chunks, this.opts.concurrency ?? 8, (item) => this.store.transact([{ op: "put", table: "chain", item }]));

    // (2) the batch is fixed: record + head (with the next range's start), only if nobody else cut it
    const late = inR.filter((e) => lateIds.has(e.sk)).length;
    const record: AnchorRecord = {
      ...recordKey(seqno),
      ...batch.anchor,
      history: batch.head.history,
      status: "prepared",
      cut,
      receiptChunks,
      movementChunks: chunks.length - receiptChunks,
      preparedAt: now,
      wFrom: from,
      upTo,
      passes,
      ...(maxSoFar ? { maxSoFar } : {}),
      ...(late ? { late } : {}),
    };
    const next = headItemOf(seqno, upTo, passes);
    try {
      await this.store.transact([
        { op: "put", table: "chain", item: record, when: { kind: "notExists" } },
        { op: "put", table: "chain", item: next, when: this.headUnmoved(head) },
      ]);
    } catch (e) {
      if (e instanceof ConditionFailedError) throw new AnchorConcurrencyError(`anchor ${seqno} was cut by another writer`);
      throw e;
    }
    // (3) + (4): only the legacy inbox's entries and the stragglers are written per job
    await this.finishIndexing(record, new Map(inR.map((e) => [e.sk, e.receipt])));
    return { ...record, status: "indexed" };
  }

  /** An empty cut's head write: the next range starts at `upTo`. */
  private async moveWindow(head: HeadItem, upTo: Pos, passes: number[]): Promise<void> {
    try {
      await this.store.transact([
        {
          op: "put",
          table: "chain",
          item: headItemOf(head.seqno, upTo, passes),
          when: this.headUnmoved(head),
        },
      ]);
    } catch (e) {
      if (e instanceof ConditionFailedError) throw new AnchorConcurrencyError("the anchor head moved during an empty cut");
      throw e;
    }
  }

  /**
   * The writes a batch makes per job, for its legacy inbox entries and its stragglers only: the
   * index items (rlog:<jobId>/r), then the legacy and movement inbox deletes, then status
   * "indexed". Idempotent; `receipts` saves re-reading the entries when the caller still has them.
   * A batch cut before the time-windowed log (no range) took only inbox entries.
   */
  async finishIndexing(r: AnchorRecord, receipts?: Map<string, Receipt>): Promise<void> {
    const rChunks = await this.chunks<ReceiptChunk>(r, "r", r.receiptChunks);
    const mChunks = await this.chunks<MovementChunk>(r, "m", r.movementChunks);
    const windowed = r.upTo !== undefined;
    const legacyIds = rChunks.flatMap((c) => (windowed ? (c.legacy ?? []) : c.jobIds));
    const late = new Map(rChunks.flatMap((c) => c.late ?? []));
    const conc = this.opts.concurrency ?? 8;
    const legacy = new Set(legacyIds);
    const indexed = rChunks
      .flatMap((c) => c.jobIds)
      .map((jobId, i) => ({ jobId, seq: r.firstSeq + i }))
      .filter(({ jobId }) => late.has(jobId) || !windowed || legacy.has(jobId));
    await eachLimited(indexed, conc, async ({ jobId, seq }) => {
      const lateAt = legacy.has(jobId) ? undefined : late.get(jobId);
      let receipt: Receipt | undefined;
      if (lateAt !== undefined) {
        // a straggler's entry stays where it is: its index saves a proof searching for it
        receipt = receipts?.get(jobId) ?? (await this.store.get<InboxReceipt>("chain", windowEntryKey(lateAt, jobId)))?.receipt;
        if (!receipt) throw new Error(`anchor ${r.seqno}: the entry of straggler ${jobId} is missing`);
      } else {
        // After a crash (no map) each entry is read back from the inbox: rare, so one read each is fine.
        receipt = receipts
          ? receipts.get(jobId)
          : (await this.store.get<InboxReceipt>("chain", { pk: inboxPk(RECEIPT_INBOX_PK, jobId), sk: jobId }))?.receipt;
        // Absent from the inbox: its index was written before its inbox entry was deleted (by an earlier try).
        if (!receipt) return;
      }
      const item: ReceiptIndexItem = { ...receiptIndexKey(jobId), seq, anchorSeqno: r.seqno, receipt };
      await this.store.transact([{ op: "put", table: "chain", item }]);
    });
    const deletes = [
      ...legacyIds.map((sk) => ({ pk: inboxPk(RECEIPT_INBOX_PK, sk), sk })),
      ...mChunks.flatMap((c) => {
        // a movement that rode in a receipt's entry goes with that entry (deleted, or kept for good in the time-windowed log)
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

  /**
   * Where a job's receipt went: undefined while it waits (or when the job never settled). Its
   * index item when it has one (taken from the legacy inbox, or a straggler); else, given the
   * time its settlement wrote on the job item or its tab (`at`), its entry in the time-windowed
   * log and the batch whose range holds that position (a binary search over the records), or an
   * earlier batch whose running maximum reaches it (it took the entry beyond its range's end).
   */
  async indexOf(jobId: string, at?: number): Promise<ReceiptIndexItem | undefined> {
    const index = await this.store.get<ReceiptIndexItem>("chain", receiptIndexKey(jobId));
    if (index || at === undefined) return index;
    const entry = await this.store.get<InboxReceipt>("chain", windowEntryKey(at, jobId));
    if (!entry) return undefined;
    const pos: Pos = [entry.at, jobId];
    // the last batch whose range starts at or before pos (records cut before the window count as before it)
    const lo = await this.lastStartingBefore(pos, await this.latestSeqno(), true);
    // from there back: the first windowed batch (a record cut by an older anchorer during a deploy
    // may lie between) if its range holds pos, then those whose running maximum reaches it
    let first = true;
    for await (const r of this.windowedBack(lo)) {
      const holds = first && cmpPos(pos, r.upTo) < 0;
      first = false;
      if (!holds && !(r.maxSoFar && cmpPos(r.maxSoFar, pos) >= 0)) break;
      let offset = 0;
      for (const c of await this.chunks<ReceiptChunk>(r, "r", r.receiptChunks)) {
        const i = c.jobIds.indexOf(jobId);
        if (i >= 0) return { ...receiptIndexKey(jobId), seq: r.firstSeq + offset + i, anchorSeqno: r.seqno, receipt: entry.receipt };
        offset += c.jobIds.length;
      }
    }
    return undefined;
  }

  /** True while the job's receipt waits for the next batch (`at`: as indexOf's; without it only the legacy inbox is looked at). */
  async isPending(jobId: string, at?: number): Promise<boolean> {
    if ((await this.store.get("chain", { pk: inboxPk(RECEIPT_INBOX_PK, jobId), sk: jobId })) !== undefined) return true;
    if (at === undefined || (await this.store.get("chain", windowEntryKey(at, jobId))) === undefined) return false;
    return (await this.indexOf(jobId, at)) === undefined;
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
