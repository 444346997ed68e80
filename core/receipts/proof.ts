/**
 * Checking a receipt's inclusion proof against the anchor contract, trusting nothing the
 * coordinator says: the only trusted input is what a chain reader got from the contract's
 * `latest` getter (ChainAnchor). The coordinator hands over the receipt, its audit path, and
 * the anchors from the receipt's batch to its latest, with the history before them; the
 * history is a hash chain the contract computes itself, so those anchors are authentic exactly
 * when replaying them from the given history reproduces the getter's history and the last one
 * equals the getter's fields (forging any of them means a SHA-256 collision). Then the audit
 * path must lead from the receipt's leaf to the root of its own anchor, and the receipt must be
 * signed by the worker it names, for the job asked about.
 *
 * Pure; never throws (a verdict with a code instead).
 */
import type { Receipt } from "../../events/envelope";
import { b64u, canonicalJson } from "../crypto/encoding";
import { verifyReceipt } from "../crypto/receipt";
import { anchorHistory, sameAnchor, verifyReceiptProof, type Anchor } from "./anchor";

/** The contract's `latest` getter, as any chain reader returns it (contracts/anchor.ts AnchorOnChain). */
export interface ChainAnchor extends Anchor {
  lastSeq: number;
  history: string;
  /** chain time (s) of the latest anchor, 0 before the first */
  postedAt: number;
}

/** The anchor contract as a verifier (CLI, watcher) reads it: through a chain reader, never through the coordinator's database. */
export interface AnchorReader {
  latest(): Promise<ChainAnchor>;
}

/** What GET /v1/receipts/{jobId}/proof carries (events/receipts.ts has the wire schema). */
export interface ReceiptProofBundle {
  jobId: string;
  receipt: Receipt;
  seq: number;
  anchorSeqno: number;
  leafIndex: number;
  treeSize: number;
  path: string[];
  /** History before the receipt's anchor (32 zero bytes before the first). */
  prevHistory: string;
  /** The receipt's anchor first, then every later one the coordinator cut, ascending. */
  anchors: Anchor[];
}

export type ProofFailure =
  | "not_anchored_yet" // the chain has not reached the receipt's anchor
  | "anchors_incomplete" // the proof's anchors do not reach the chain's latest
  | "history_mismatch" // replaying the proof's anchors does not give the contract's history
  | "latest_mismatch" // the proof's anchor at the chain's seqno differs from the getter
  | "not_included" // the audit path does not lead to the anchored root
  | "receipt_mismatch" // the receipt is for another job
  | "receipt_differs" // the anchored receipt is not the one the verifier holds for the job
  | "bad_receipt_signature"; // the named worker did not sign it

export type ProofVerdict = { ok: true; anchor: Anchor; chain: ChainAnchor } | { ok: false; code: ProofFailure; message: string };

export function verifyProofAgainstChain(p: ReceiptProofBundle, chain: ChainAnchor, expected?: Receipt): ProofVerdict {
  const no = (code: ProofFailure, message: string): ProofVerdict => ({ ok: false, code, message });
  try {
    if (p.receipt.body.jobId !== p.jobId) return no("receipt_mismatch", `the receipt is for job ${p.receipt.body.jobId}, not ${p.jobId}`);
    if (
      expected !== undefined &&
      canonicalJson({ body: expected.body, signature: expected.signature }) !==
        canonicalJson({ body: p.receipt.body, signature: p.receipt.signature })
    )
      return no(
        "receipt_differs",
        `the anchored receipt (worker ${p.receipt.body.workerId}) is not the receipt this job was answered and billed with`,
      );
    if (!verifyReceipt(p.receipt, b64u.decode(p.receipt.body.workerId)))
      return no("bad_receipt_signature", `the receipt is not signed by the worker it names (${p.receipt.body.workerId})`);
    if (chain.seqno < p.anchorSeqno)
      return no(
        "not_anchored_yet",
        `the receipt is in anchor ${p.anchorSeqno}; the contract holds anchors up to ${chain.seqno}: try again after the next anchor`,
      );
    const upTo = p.anchors.filter((a) => a.seqno <= chain.seqno);
    const contiguous = upTo.every((a, i) => a.seqno === p.anchorSeqno + i);
    if (!contiguous || upTo.length === 0 || upTo[upTo.length - 1]!.seqno !== chain.seqno) {
      return no(
        "anchors_incomplete",
        `the proof carries anchors ${p.anchors[0]?.seqno ?? "-"}..${p.anchors.at(-1)?.seqno ?? "-"}, the contract is at ${chain.seqno}: fetch the proof again`,
      );
    }
    let history = p.prevHistory;
    for (const a of upTo) history = anchorHistory(history, a);
    if (history !== chain.history)
      return no(
        "history_mismatch",
        `the proof's anchors ${p.anchorSeqno}..${chain.seqno} do not reproduce the contract's history: they are not the anchors on chain`,
      );
    if (!sameAnchor(upTo[upTo.length - 1]!, chain))
      return no("latest_mismatch", `the proof's anchor ${chain.seqno} differs from the contract's latest`);
    const anchor = upTo[0]!;
    if (p.leafIndex !== p.seq - anchor.firstSeq || p.treeSize !== anchor.count)
      return no("not_included", `receipt ${p.seq} is not leaf ${p.leafIndex} of anchor ${anchor.seqno}'s ${anchor.count} receipts`);
    if (!verifyReceiptProof(p.receipt, { anchorSeqno: p.anchorSeqno, seq: p.seq, path: p.path }, anchor)) {
      return no(
        "not_included",
        `the audit path does not lead from the receipt to the root anchor ${anchor.seqno} put on chain: the receipt was altered or is not in the batch`,
      );
    }
    return { ok: true, anchor, chain };
  } catch (e) {
    return no("not_included", `malformed proof: ${(e as Error).message}`);
  }
}
