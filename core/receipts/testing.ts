/**
 * Test factories for the receipt log and anchoring: a stand-in for the anchor contract that
 * makes the contract's checks (core/receipts/anchor.ts applyAnchor is the same rule set the
 * Tact contract enforces; contracts/anchor.test.ts holds the two together) and a signed receipt.
 */
import type { Receipt } from "../../events/envelope";
import { signReceipt } from "../crypto/receipt";
import { makeReceiptBody, type TestWorker } from "../crypto/testing";
import { holdMovement, settleMovement, type Movement } from "../ledger";
import { applyAnchor, buildAnchorBatch, GENESIS_HEAD, proveReceipt, type Anchor, type AnchorHead, type MovementLogEntry } from "./anchor";
import type { AnchorPoster } from "./anchoring";
import type { AnchorReader, ChainAnchor, ReceiptProofBundle } from "./proof";
import type { MemoryStore } from "../../local/memory-store";
import { inboxPk, RECEIPT_INBOX_PK, WINDOW_PK, type StoreAnchorLog } from "./log";
import type { Store, WriteOp } from "../ports";

export interface FakeAnchorContract extends AnchorReader, AnchorPoster {
  /** every anchor accepted, in order */
  accepted: Anchor[];
  /** every anchor refused, with the reason's code */
  refused: Array<{ anchor: Anchor; code: string }>;
  /** chain time (s) */
  time: number;
  /** when true, post() loses the message (a send that never lands) */
  dropSends: boolean;
}

export function fakeAnchorContract(o: { time?: number } = {}): FakeAnchorContract {
  let head: AnchorHead = GENESIS_HEAD;
  let last: Anchor | undefined;
  let postedAt = 0;
  const c: FakeAnchorContract = {
    accepted: [],
    refused: [],
    time: o.time ?? 1_750_000_000,
    dropSends: false,
    async latest(): Promise<ChainAnchor> {
      return {
        seqno: head.seqno,
        root: last?.root ?? "00".repeat(32),
        firstSeq: last?.firstSeq ?? 0,
        count: last?.count ?? 0,
        lastSeq: head.lastSeq,
        ledgerSeqno: head.ledgerSeqno,
        ledgerHash: head.ledgerHash,
        history: head.history,
        postedAt,
      };
    },
    async post(anchors) {
      if (c.dropSends) return;
      for (const a of anchors) {
        try {
          head = applyAnchor(head, a);
          last = a;
          postedAt = c.time;
          c.accepted.push(a);
        } catch (e) {
          c.refused.push({ anchor: a, code: (e as { code?: string }).code ?? "error" });
        }
      }
    },
  };
  return c;
}

export function signedReceipt(worker: TestWorker, jobId: string, finishedAt = 1_764_000_000_000): Receipt {
  return signReceipt(makeReceiptBody(worker, { jobId, finishedAt }), worker.signing);
}

/** `receipt` as the sole leaf of anchor 1 (not posted anywhere: `post([batch.anchor])` where a test wants it on chain), and its genuine proof bundle for `jobId`. */
export function soleReceiptProof(receipt: Receipt, jobId = receipt.body.jobId) {
  const batch = buildAnchorBatch(GENESIS_HEAD, [{ seq: 1, receipt }], []);
  const bundle: ReceiptProofBundle = {
    jobId,
    receipt,
    seq: 1,
    anchorSeqno: 1,
    leafIndex: 0,
    treeSize: 1,
    path: proveReceipt(batch, 1).path,
    prevHistory: GENESIS_HEAD.history,
    anchors: [batch.anchor],
  };
  return { batch, bundle };
}

/** Movements seq from..from+n-1: holds (odd) and settlements (even) of one requester and worker. */
export function movementLog(from: number, n: number): MovementLogEntry[] {
  return Array.from({ length: n }, (_, i) => {
    const k = from + i;
    const m: Movement =
      k % 2 === 1
        ? holdMovement(`job_${k}`, "req:a", 100n + BigInt(k), 1_764_000_000_000 + k)
        : settleMovement(`job_${k}`, "req:a", "wrk:b", 100n, 60n, 1_764_000_000_000 + k);
    return { seq: k, movement: m };
  });
}

/**
 * The `at` of a job's receipt entry in the time-windowed log, found by scanning a memory store
 * (tests only: a proof takes it from the job item, core/receipts/read.ts).
 */
export function receiptAt(store: Store, jobId: string): number | undefined {
  const scan = (store as Partial<Pick<MemoryStore, "scan">>).scan;
  const e = scan?.("chain").find((i) => String(i.pk).startsWith(WINDOW_PK) && i.sk === jobId);
  return typeof e?.at === "number" ? e.at : undefined;
}
/** log.indexOf with the entry's `at` from a memory store's scan. */
export const indexed = (log: StoreAnchorLog, jobId: string) => log.indexOf(jobId, receiptAt(log.store, jobId));
/** log.isPending with the entry's `at` from a memory store's scan. */
export const pending = (log: StoreAnchorLog, jobId: string) => log.isPending(jobId, receiptAt(log.store, jobId));
/** Every receipt entry of the time-windowed log in a memory store (tests only). */
export const windowEntries = (store: Store) =>
  ((store as Partial<Pick<MemoryStore, "scan">>).scan?.("chain") ?? []).filter((i) => String(i.pk).startsWith(WINDOW_PK));

/**
 * appendReceiptOp's put moved to the legacy inbox key (rlog:pending#<s> / <jobId>), as a
 * coordinator before the time-windowed log wrote it: the fixtures of the tests that guard how
 * those entries still drain (index items, deletes, crash reruns) during and after the migration.
 */
export function legacyInboxOp(op: WriteOp): WriteOp {
  if (op.op !== "put") throw new Error("legacyInboxOp: not a put");
  const jobId = String(op.item.sk);
  return { ...op, item: { ...op.item, pk: inboxPk(RECEIPT_INBOX_PK, jobId), sk: jobId } };
}
