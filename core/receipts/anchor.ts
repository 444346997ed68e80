/**
 * Anchor batches: what the coordinator posts on TON so that anyone can check, without trusting
 * its database, that (a) a receipt was logged and has not been altered or dropped since, and
 * (b) the ledger's movement log was not rewound or edited.
 *
 * One anchor commits to:
 *   - the receipts appended since the previous anchor: their RFC 6962 root (merkle.ts), the
 *     batch range [firstSeq, firstSeq + count) and the count. Receipt sequence numbers are
 *     contiguous from 1 across all anchors, so a dropped batch leaves a visible gap;
 *   - the ledger: ledgerSeqno (movements in the log so far) and ledgerHash, a hash chain over
 *     the movement log, hash_n = SHA-256(hash_{n-1} || canonical(movement_n)), hash_0 = 32
 *     zero bytes. The chain continues across anchors, so each anchor commits to the whole log
 *     up to ledgerSeqno: a database restored from an old backup or edited by hand no longer
 *     reproduces the anchored hashes;
 *   - history: SHA-256 over the previous history and this anchor's fields. The anchor contract
 *     computes the same value, so one getter commits to every anchor ever posted (a verifier
 *     handed a list of anchors can check it is complete even where old transactions were
 *     pruned from the liteservers).
 *
 * Everything here is pure; ReceiptLog and MovementLog are the ports for where the logs live.
 */
import { createHash } from "node:crypto";
import type { Receipt } from "../../events/envelope";
import { canonicalJson } from "../crypto/encoding";
import type { Movement } from "../ledger";
import { auditPathFromLevels, EMPTY_ROOT, HASH_BYTES, merkleLevels, receiptLeafHash, verifyInclusion } from "./merkle";

// ---------------------------------------------------------------- shapes
export interface ReceiptLogEntry {
  /** Position in the receipt log, contiguous from 1. */
  seq: number;
  receipt: Receipt;
}

export interface MovementLogEntry {
  /** Position in the ledger's movement log, contiguous from 1. */
  seq: number;
  movement: Movement;
}

/** The fields one anchor message carries (hashes as lower-case hex). */
export interface Anchor {
  /** 1, 2, 3, ...: the contract refuses anything but the next one. */
  seqno: number;
  /** RFC 6962 root of receipts [firstSeq, firstSeq + count); EMPTY_ROOT when count is 0. */
  root: string;
  firstSeq: number;
  count: number;
  /** Movements chained so far (the ledger log's length at this anchor). */
  ledgerSeqno: number;
  ledgerHash: string;
}

/** The same anchor: every field the message carries is equal. */
export const sameAnchor = (a: Anchor, b: Anchor) =>
  a.seqno === b.seqno &&
  a.root === b.root &&
  a.firstSeq === b.firstSeq &&
  a.count === b.count &&
  a.ledgerSeqno === b.ledgerSeqno &&
  a.ledgerHash === b.ledgerHash;

/** State after the latest anchor: what the next anchor must continue from. */
export interface AnchorHead {
  seqno: number;
  /** Last receipt seq covered (0 before the first anchor). */
  lastSeq: number;
  ledgerSeqno: number;
  ledgerHash: string;
  history: string;
}

const ZERO32 = "00".repeat(32);
export const GENESIS_HEAD: AnchorHead = Object.freeze({ seqno: 0, lastSeq: 0, ledgerSeqno: 0, ledgerHash: ZERO32, history: ZERO32 });

/** Largest batch one anchor may carry (the contract stores count as uint32). */
export const MAX_BATCH = 0xffff_ffff;

export type AnchorErrorCode =
  | "receipt_gap" // receipts do not continue from the previous anchor
  | "movement_gap" // movements do not continue from the previous anchor
  | "anchor_gap" // anchor seqno is not the previous one + 1
  | "range_gap" // anchor's firstSeq is not the previous lastSeq + 1
  | "ledger_rewound" // ledgerSeqno went down
  | "ledger_fork" // same ledgerSeqno, different hash; or a replayed log disagrees with an anchor
  | "bad_anchor" // malformed field (negative, not an integer, hash not 32 bytes)
  | "not_in_batch"; // no receipt with this seq in the batch

export class AnchorError extends Error {
  constructor(
    readonly code: AnchorErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "AnchorError";
  }
}

// ---------------------------------------------------------------- ledger hash chain
/**
 * Canonical bytes of a movement: canonical JSON of exactly its defined fields. Deltas are
 * bigints in memory and decimal strings in the store; canonical JSON writes both the same way,
 * so a movement read back from the ledger table hashes like the one that was applied.
 */
export function movementBytes(m: Movement): Uint8Array {
  const value = {
    id: m.id,
    kind: m.kind,
    at: m.at,
    postings: m.postings.map((p) => ({ account: p.account, field: p.field, delta: p.delta })),
    meta: m.meta,
  };
  return Buffer.from(canonicalJson(value), "utf8");
}

export function ledgerStep(prevHash: Uint8Array, m: Movement): Uint8Array {
  return createHash("sha256").update(prevHash).update(movementBytes(m)).digest();
}

/** Extends the ledger chain from `prev` over `entries`, which must be positions prev.seqno + 1, + 2, ... */
export function chainLedger(prev: { seqno: number; hash: string }, entries: readonly MovementLogEntry[]): { seqno: number; hash: string } {
  let h: Uint8Array = hexBytes(prev.hash, "ledger hash");
  let seqno = prev.seqno;
  for (const e of entries) {
    if (e.seq !== seqno + 1)
      throw new AnchorError("movement_gap", `movement log entry ${e.seq} follows ${seqno}; the log must be contiguous`);
    h = ledgerStep(h, e.movement);
    seqno = e.seq;
  }
  return { seqno, hash: Buffer.from(h).toString("hex") };
}

// ---------------------------------------------------------------- anchor history
/** 120 bytes: history | seqno u32 | root | firstSeq u64 | count u32 | ledgerSeqno u64 | ledgerHash (big-endian; the contract hashes the same). */
export function anchorHistoryPreimage(prevHistory: string, a: Anchor): Uint8Array {
  const b = Buffer.alloc(120);
  let o = 0;
  b.set(hexBytes(prevHistory, "history"), o);
  o += 32;
  b.writeUInt32BE(a.seqno, o);
  o += 4;
  b.set(hexBytes(a.root, "root"), o);
  o += 32;
  b.writeBigUInt64BE(BigInt(a.firstSeq), o);
  o += 8;
  b.writeUInt32BE(a.count, o);
  o += 4;
  b.writeBigUInt64BE(BigInt(a.ledgerSeqno), o);
  o += 8;
  b.set(hexBytes(a.ledgerHash, "ledger hash"), o);
  return b;
}

export function anchorHistory(prevHistory: string, a: Anchor): string {
  return createHash("sha256").update(anchorHistoryPreimage(prevHistory, a)).digest("hex");
}

/**
 * The head after `a`, or AnchorError when `a` does not continue `prev` (the same checks the
 * contract makes, plus what only an off-chain verifier can see: none here needs the receipts).
 */
export function applyAnchor(prev: AnchorHead, a: Anchor): AnchorHead {
  assertAnchorShape(a);
  if (a.seqno !== prev.seqno + 1) throw new AnchorError("anchor_gap", `anchor ${a.seqno} follows anchor ${prev.seqno}`);
  if (a.firstSeq !== prev.lastSeq + 1)
    throw new AnchorError("range_gap", `anchor ${a.seqno} starts at receipt ${a.firstSeq}, the previous one ended at ${prev.lastSeq}`);
  if (a.ledgerSeqno < prev.ledgerSeqno)
    throw new AnchorError(
      "ledger_rewound",
      `anchor ${a.seqno} commits to ${a.ledgerSeqno} movements, the previous one to ${prev.ledgerSeqno}`,
    );
  if (a.ledgerSeqno === prev.ledgerSeqno && a.ledgerHash !== prev.ledgerHash) {
    throw new AnchorError("ledger_fork", `anchor ${a.seqno} changes the ledger hash without new movements`);
  }
  return {
    seqno: a.seqno,
    lastSeq: a.firstSeq + a.count - 1,
    ledgerSeqno: a.ledgerSeqno,
    ledgerHash: a.ledgerHash,
    history: anchorHistory(prev.history, a),
  };
}

/** Replays anchors from `from`; the result's history must equal the contract's. */
export function replayAnchors(anchors: readonly Anchor[], from: AnchorHead = GENESIS_HEAD): AnchorHead {
  let head = from;
  for (const a of anchors) head = applyAnchor(head, a);
  return head;
}

// ---------------------------------------------------------------- building a batch
export interface AnchorBatch {
  anchor: Anchor;
  head: AnchorHead;
  /** Tree levels over the batch's receipt leaves (levels[0] = leaves): what the ledger keeps to answer proofs. */
  levels: Uint8Array[][];
}

/**
 * The next anchor after `prev`: receipts must be prev.lastSeq + 1, + 2, ... and movements
 * prev.ledgerSeqno + 1, + 2, ...; either list may be empty.
 */
export function buildAnchorBatch(
  prev: AnchorHead,
  receipts: readonly ReceiptLogEntry[],
  movements: readonly MovementLogEntry[],
): AnchorBatch {
  if (receipts.length > MAX_BATCH) throw new AnchorError("bad_anchor", `a batch holds at most ${MAX_BATCH} receipts`);
  receipts.forEach((e, i) => {
    if (e.seq !== prev.lastSeq + 1 + i)
      throw new AnchorError("receipt_gap", `receipt log entry ${e.seq} where ${prev.lastSeq + 1 + i} was due; the log must be contiguous`);
  });
  const levels = merkleLevels(receipts.map((e) => receiptLeafHash(e.receipt)));
  const root = receipts.length === 0 ? EMPTY_ROOT : levels[levels.length - 1]![0]!;
  const ledger = chainLedger({ seqno: prev.ledgerSeqno, hash: prev.ledgerHash }, movements);
  const anchor: Anchor = {
    seqno: prev.seqno + 1,
    root: Buffer.from(root).toString("hex"),
    firstSeq: prev.lastSeq + 1,
    count: receipts.length,
    ledgerSeqno: ledger.seqno,
    ledgerHash: ledger.hash,
  };
  return { anchor, head: applyAnchor(prev, anchor), levels };
}

// ---------------------------------------------------------------- inclusion proofs
export interface ReceiptProof {
  anchorSeqno: number;
  /** The receipt's position in the log; its leaf index is seq - anchor.firstSeq. */
  seq: number;
  /** Audit path, leaf to root, lower-case hex. */
  path: string[];
}

export function proveReceipt(batch: Pick<AnchorBatch, "anchor" | "levels">, seq: number): ReceiptProof {
  const { anchor, levels } = batch;
  const index = seq - anchor.firstSeq;
  if (!Number.isSafeInteger(index) || index < 0 || index >= anchor.count) {
    throw new AnchorError(
      "not_in_batch",
      `receipt ${seq} is not in anchor ${anchor.seqno} (receipts ${anchor.firstSeq}..${anchor.firstSeq + anchor.count - 1})`,
    );
  }
  return { anchorSeqno: anchor.seqno, seq, path: auditPathFromLevels(levels, index).map((h) => Buffer.from(h).toString("hex")) };
}

/**
 * True when `proof` shows `receipt` at position proof.seq of the batch `anchor` commits to.
 * The anchor must come from the chain (the contract's getter or its transactions), never from
 * the party that produced the proof. Never throws.
 */
export function verifyReceiptProof(receipt: Receipt, proof: ReceiptProof, anchor: Anchor): boolean {
  try {
    if (proof.anchorSeqno !== anchor.seqno) return false;
    if (!proof.path.every((h) => /^[0-9a-f]{64}$/.test(h)) || !/^[0-9a-f]{64}$/.test(anchor.root)) return false;
    const index = proof.seq - anchor.firstSeq;
    return verifyInclusion(
      receiptLeafHash(receipt),
      index,
      anchor.count,
      proof.path.map((h) => Buffer.from(h, "hex")),
      Buffer.from(anchor.root, "hex"),
    );
  } catch {
    return false;
  }
}

/** Bytes a proof adds on the wire beyond the receipt: the path plus seq and anchor seqno (8 + 4 bytes). */
export function proofBytes(proof: ReceiptProof): number {
  return proof.path.length * HASH_BYTES + 12;
}

// ---------------------------------------------------------------- checking the ledger against the anchors
export type LedgerCheck = { ok: true; checked: number } | { ok: false; anchorSeqno: number; code: AnchorErrorCode; message: string };

/**
 * Replays the movement log (from position 1) and checks every anchor's ledger commitment
 * against it. A log restored from an old backup (shorter than an anchored ledgerSeqno) or
 * edited anywhere before the last anchor fails, naming the first anchor that disagrees.
 */
export function checkLedgerAgainstAnchors(anchors: readonly Anchor[], movements: readonly MovementLogEntry[]): LedgerCheck {
  let state = { seqno: 0, hash: ZERO32 };
  let next = 0;
  for (const a of anchors) {
    const upTo = movements.slice(next, next + (a.ledgerSeqno - state.seqno));
    if (upTo.length !== a.ledgerSeqno - state.seqno) {
      return {
        ok: false,
        anchorSeqno: a.seqno,
        code: "ledger_rewound",
        message: `anchor ${a.seqno} commits to ${a.ledgerSeqno} movements, the log holds ${state.seqno + upTo.length}`,
      };
    }
    try {
      state = chainLedger(state, upTo);
    } catch (e) {
      return { ok: false, anchorSeqno: a.seqno, code: e instanceof AnchorError ? e.code : "movement_gap", message: (e as Error).message };
    }
    next += upTo.length;
    if (state.hash !== a.ledgerHash) {
      return {
        ok: false,
        anchorSeqno: a.seqno,
        code: "ledger_fork",
        message: `the movement log up to ${a.ledgerSeqno} does not hash to what anchor ${a.seqno} committed`,
      };
    }
  }
  return { ok: true, checked: anchors.length };
}

// ---------------------------------------------------------------- ports
/** Where the receipt log lives (the coordinator's store). */
export interface ReceiptLog {
  /** Entries with seq > `after`, ascending, at most `limit`. */
  receiptsAfter(after: number, limit: number): Promise<ReceiptLogEntry[]>;
}

/** Where the ledger's movement log lives. */
export interface MovementLog {
  /** Entries with seq > `after`, ascending, at most `limit`. */
  movementsAfter(after: number, limit: number): Promise<MovementLogEntry[]>;
}

export interface AnchorLimits {
  maxReceipts: number;
  maxMovements: number;
}

/** Production defaults: one anchor every 5 minutes or every 100k receipts, whichever comes first. */
export const DEFAULT_ANCHOR_INTERVAL_SECONDS = 300;
export const DEFAULT_ANCHOR_LIMITS: AnchorLimits = { maxReceipts: 100_000, maxMovements: 1_000_000 };

/** The next batch from the logs, or null when nothing happened since `prev`. */
export async function prepareAnchor(
  logs: { receipts: ReceiptLog; movements: MovementLog },
  prev: AnchorHead,
  limits: AnchorLimits = DEFAULT_ANCHOR_LIMITS,
): Promise<AnchorBatch | null> {
  const [receipts, movements] = await Promise.all([
    logs.receipts.receiptsAfter(prev.lastSeq, limits.maxReceipts),
    logs.movements.movementsAfter(prev.ledgerSeqno, limits.maxMovements),
  ]);
  if (receipts.length === 0 && movements.length === 0) return null;
  return buildAnchorBatch(prev, receipts, movements);
}

// ---------------------------------------------------------------- helpers
function hexBytes(h: string, what: string): Uint8Array {
  if (typeof h !== "string" || !/^[0-9a-f]{64}$/.test(h))
    throw new AnchorError("bad_anchor", `${what} must be ${HASH_BYTES} bytes of lower-case hex`);
  return Buffer.from(h, "hex");
}

function assertAnchorShape(a: Anchor): void {
  const u = (n: number, max: number) => Number.isSafeInteger(n) && n >= 0 && n <= max;
  if (
    !u(a.seqno, 0xffff_ffff) ||
    !u(a.count, MAX_BATCH) ||
    !u(a.firstSeq, Number.MAX_SAFE_INTEGER) ||
    !u(a.ledgerSeqno, Number.MAX_SAFE_INTEGER)
  ) {
    throw new AnchorError(
      "bad_anchor",
      `anchor fields must be non-negative integers in range: ${JSON.stringify({ seqno: a.seqno, firstSeq: a.firstSeq, count: a.count, ledgerSeqno: a.ledgerSeqno })}`,
    );
  }
  hexBytes(a.root, "root");
  hexBytes(a.ledgerHash, "ledger hash");
}
