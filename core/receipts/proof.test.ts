/**
 * core/receipts/proof.ts verifyProofAgainstChain: every refusal with its code (and the facts its
 * message names, which `cocoon receipts verify` prints), and what it accepts. The log is built in
 * memory (anchor.ts buildAnchorBatch / proveReceipt) and the chain is the contract stand-in of
 * testing.ts, fed the same anchors, so the getter's history is the contract's own computation.
 */
import { describe, expect, it } from "vitest";
import type { Receipt } from "../../events/envelope";
import { signReceipt } from "../crypto/receipt";
import { makeReceiptBody, makeWorker } from "../crypto/testing";
import { buildAnchorBatch, GENESIS_HEAD, proveReceipt, type Anchor, type AnchorBatch, type AnchorHead } from "./anchor";
import { verifyProofAgainstChain, type ChainAnchor, type ReceiptProofBundle } from "./proof";
import { fakeAnchorContract, signedReceipt } from "./testing";

// ---------------------------------------------------------------- factories
const worker = makeWorker();
const otherWorker = makeWorker();

interface Log {
  batches: AnchorBatch[];
  /** head before batch i (heads[0] = genesis) */
  heads: AnchorHead[];
  receipts: Array<{ seq: number; receipt: Receipt }>;
}

/** A receipt log cut into anchors of the given sizes: receipt seqs from 1, anchors from seqno 1. */
function logOf(sizes: number[]): Log {
  const batches: AnchorBatch[] = [];
  const heads: AnchorHead[] = [GENESIS_HEAD];
  const receipts: Log["receipts"] = [];
  let seq = 1;
  for (const size of sizes) {
    const entries = Array.from({ length: size }, (_, i) => ({
      seq: seq + i,
      receipt: signedReceipt(worker, `job_${String(seq + i).padStart(26, "0")}`, 1_764_000_000_000 + seq + i),
    }));
    const batch = buildAnchorBatch(heads[heads.length - 1]!, entries, []);
    batches.push(batch);
    heads.push(batch.head);
    receipts.push(...entries);
    seq += size;
  }
  return { batches, heads, receipts };
}

/** The contract's getter after it accepted the first `seqno` anchors of the log. */
async function chainAt(log: Log, seqno: number): Promise<ChainAnchor> {
  const contract = fakeAnchorContract();
  await contract.post(log.batches.slice(0, seqno).map((b) => b.anchor));
  expect(contract.refused).toEqual([]);
  return contract.latest();
}

/** The bundle the coordinator answers for receipt `seq`, carrying its anchor and the later ones up to anchor `lastSeqno`. */
function proofOf(log: Log, seq: number, lastSeqno = log.batches.length): ReceiptProofBundle {
  const i = log.batches.findIndex((b) => seq >= b.anchor.firstSeq && seq < b.anchor.firstSeq + b.anchor.count);
  const batch = log.batches[i]!;
  const { receipt } = log.receipts.find((r) => r.seq === seq)!;
  const proof = proveReceipt(batch, seq);
  return {
    jobId: receipt.body.jobId,
    receipt,
    seq,
    anchorSeqno: batch.anchor.seqno,
    leafIndex: seq - batch.anchor.firstSeq,
    treeSize: batch.anchor.count,
    path: proof.path,
    prevHistory: log.heads[i]!.history,
    anchors: log.batches.slice(i, lastSeqno).map((b) => b.anchor),
  };
}

const anchor = (log: Log, seqno: number): Anchor => log.batches[seqno - 1]!.anchor;
/** Flips the last hex digit of a 64-digit hash. */
const flipHex = (h: string) => h.slice(0, -1) + (h.endsWith("0") ? "1" : "0");

// Anchors 1..4 over receipts 1-3, 4-8, 9-10, 11-14; receipt 6 is leaf 2 of anchor 2's 5.
const SIZES = [3, 5, 2, 4];

// ---------------------------------------------------------------- accepted
describe("a valid proof is accepted", () => {
  it("a receipt of an older anchor verifies through the later anchors up to the contract's latest, naming its own anchor", async () => {
    // Prepare
    const log = logOf(SIZES);
    const chain = await chainAt(log, 4);
    const p = proofOf(log, 6);

    // Act
    const v = verifyProofAgainstChain(p, chain);

    // Assess
    expect(v).toEqual({ ok: true, anchor: anchor(log, 2), chain });
  });

  it("every receipt of every anchor verifies against the contract at its latest anchor", async () => {
    // Prepare
    const log = logOf(SIZES);
    const chain = await chainAt(log, 4);

    for (const { seq } of log.receipts) {
      // Act
      const v = verifyProofAgainstChain(proofOf(log, seq), chain);

      // Assess
      expect(v.ok, `receipt ${seq}`).toBe(true);
    }
  });

  it("anchors the proof carries beyond the contract's seqno (cut, not yet landed) are ignored, not refused", async () => {
    // Prepare: the coordinator cut anchors 3 and 4, the contract holds 1..2
    const log = logOf(SIZES);
    const chain = await chainAt(log, 2);
    const p = proofOf(log, 6);

    // Act
    const v = verifyProofAgainstChain(p, chain);

    // Assess
    expect(p.anchors.map((a) => a.seqno)).toEqual([2, 3, 4]);
    expect(v).toEqual({ ok: true, anchor: anchor(log, 2), chain });
  });

  it("anchors beyond the contract's seqno are ignored even when they are garbage", async () => {
    // Prepare
    const log = logOf(SIZES);
    const chain = await chainAt(log, 2);
    const p = proofOf(log, 6, 2);
    const garbage: Anchor = { seqno: 9, root: "zz", firstSeq: -1, count: 2 ** 40, ledgerSeqno: 0, ledgerHash: "" };

    // Act
    const v = verifyProofAgainstChain({ ...p, anchors: [...p.anchors, garbage] }, chain);

    // Assess
    expect(v).toMatchObject({ ok: true, anchor: anchor(log, 2) });
  });
});

// ---------------------------------------------------------------- the receipt
describe("the receipt itself", () => {
  it("a receipt of another job is refused with receipt_mismatch, naming both jobs", async () => {
    // Prepare
    const log = logOf(SIZES);
    const chain = await chainAt(log, 4);
    const p = proofOf(log, 6);
    const asked = log.receipts[0]!.receipt.body.jobId;

    // Act
    const v = verifyProofAgainstChain({ ...p, jobId: asked }, chain);

    // Assess
    expect(v).toMatchObject({ ok: false, code: "receipt_mismatch" });
    expect(!v.ok && v.message).toBe(`the receipt is for job ${p.receipt.body.jobId}, not ${asked}`);
  });

  it("a receipt not signed by the worker it names is refused with bad_receipt_signature, naming the worker", async () => {
    // Prepare: another worker signs a body that names our worker
    const log = logOf(SIZES);
    const chain = await chainAt(log, 4);
    const p = proofOf(log, 6);
    const forged = signReceipt(p.receipt.body, otherWorker.signing);

    // Act
    const v = verifyProofAgainstChain({ ...p, receipt: forged }, chain);

    // Assess
    expect(v).toMatchObject({ ok: false, code: "bad_receipt_signature" });
    expect(!v.ok && v.message).toBe(`the receipt is not signed by the worker it names (${worker.workerId})`);
  });

  it("a validly signed receipt of the same job that is not the anchored one is refused with not_included", async () => {
    // Prepare
    const log = logOf(SIZES);
    const chain = await chainAt(log, 4);
    const p = proofOf(log, 6);
    const other = signReceipt(makeReceiptBody(worker, { jobId: p.jobId, finishedAt: 1 }), worker.signing);

    // Act
    const v = verifyProofAgainstChain({ ...p, receipt: other }, chain);

    // Assess
    expect(v).toMatchObject({ ok: false, code: "not_included" });
  });
});

// ---------------------------------------------------------------- the anchors
describe("the anchors must run from the proof's anchor to the contract's latest", () => {
  it("a receipt whose anchor the contract has not reached is not_anchored_yet, naming both seqnos", async () => {
    // Prepare
    const log = logOf(SIZES);
    const chain = await chainAt(log, 1);
    const p = proofOf(log, 6);

    // Act
    const v = verifyProofAgainstChain(p, chain);

    // Assess
    expect(v).toMatchObject({ ok: false, code: "not_anchored_yet" });
    expect(!v.ok && v.message).toContain("the receipt is in anchor 2; the contract holds anchors up to 1");
  });

  it("anchors that skip a seqno are refused with anchors_incomplete (even though the last is the contract's)", async () => {
    // Prepare: anchors 2 and 4, the contract at 4
    const log = logOf(SIZES);
    const chain = await chainAt(log, 4);
    const p = proofOf(log, 6);

    // Act
    const v = verifyProofAgainstChain({ ...p, anchors: [anchor(log, 2), anchor(log, 4)] }, chain);

    // Assess
    expect(v).toMatchObject({ ok: false, code: "anchors_incomplete" });
    expect(!v.ok && v.message).toBe("the proof carries anchors 2..4, the contract is at 4: fetch the proof again");
  });

  it("anchors that do not start at the proof's anchor are refused with anchors_incomplete", async () => {
    // Prepare: the receipt is in anchor 2, the proof carries 3..4 only
    const log = logOf(SIZES);
    const chain = await chainAt(log, 4);
    const p = proofOf(log, 6);

    // Act
    const v = verifyProofAgainstChain({ ...p, anchors: [anchor(log, 3), anchor(log, 4)] }, chain);

    // Assess
    expect(v).toMatchObject({ ok: false, code: "anchors_incomplete" });
    expect(!v.ok && v.message).toContain("anchors 3..4");
  });

  it("anchors that start one before the proof's anchor are refused with anchors_incomplete", async () => {
    // Prepare: the receipt is in anchor 2, the proof carries 1..4
    const log = logOf(SIZES);
    const chain = await chainAt(log, 4);
    const p = proofOf(log, 6);

    // Act
    const v = verifyProofAgainstChain({ ...p, anchors: log.batches.map((b) => b.anchor) }, chain);

    // Assess
    expect(v).toMatchObject({ ok: false, code: "anchors_incomplete" });
  });

  it("anchors that stop before the contract's latest are refused with anchors_incomplete, naming first, last and the contract's", async () => {
    // Prepare: the receipt is in anchor 1, the proof carries 1..3, the contract is at 4
    const log = logOf(SIZES);
    const chain = await chainAt(log, 4);
    const p = proofOf(log, 2, 3);

    // Act
    const v = verifyProofAgainstChain(p, chain);

    // Assess
    expect(p.anchors.map((a) => a.seqno)).toEqual([1, 2, 3]);
    expect(v).toMatchObject({ ok: false, code: "anchors_incomplete" });
    expect(!v.ok && v.message).toBe("the proof carries anchors 1..3, the contract is at 4: fetch the proof again");
  });

  it("the receipt's own anchor alone, when the contract is one further, is refused with anchors_incomplete", async () => {
    // Prepare
    const log = logOf(SIZES);
    const chain = await chainAt(log, 3);
    const p = proofOf(log, 6, 2);

    // Act
    const v = verifyProofAgainstChain(p, chain);

    // Assess
    expect(v).toMatchObject({ ok: false, code: "anchors_incomplete" });
    expect(!v.ok && v.message).toContain("anchors 2..2, the contract is at 3");
  });

  it("an empty anchor list is refused with anchors_incomplete, shown as '-..-'", async () => {
    // Prepare
    const log = logOf(SIZES);
    const chain = await chainAt(log, 4);
    const p = proofOf(log, 6);

    // Act
    const v = verifyProofAgainstChain({ ...p, anchors: [] }, chain);

    // Assess
    expect(v).toMatchObject({ ok: false, code: "anchors_incomplete" });
    expect(!v.ok && v.message).toBe("the proof carries anchors -..-, the contract is at 4: fetch the proof again");
  });

  it("anchors whose fields were altered are refused with history_mismatch, naming the range replayed", async () => {
    // Prepare: anchor 3's root forged (the receipt's anchor 2 untouched)
    const log = logOf(SIZES);
    const chain = await chainAt(log, 4);
    const p = proofOf(log, 6);
    const forged = p.anchors.map((a) => (a.seqno === 3 ? { ...a, root: flipHex(a.root) } : a));

    // Act
    const v = verifyProofAgainstChain({ ...p, anchors: forged }, chain);

    // Assess
    expect(v).toMatchObject({ ok: false, code: "history_mismatch" });
    expect(!v.ok && v.message).toContain("the proof's anchors 2..4 do not reproduce the contract's history");
  });

  it.each([
    ["root", (c: ChainAnchor) => ({ ...c, root: flipHex(c.root) })],
    ["count", (c: ChainAnchor) => ({ ...c, count: c.count + 1 })],
    ["firstSeq", (c: ChainAnchor) => ({ ...c, firstSeq: c.firstSeq + 1 })],
    ["ledgerHash", (c: ChainAnchor) => ({ ...c, ledgerHash: flipHex(c.ledgerHash) })],
  ])(
    "a last anchor that differs from the getter's fields (%s) is refused with latest_mismatch, though the history matches",
    async (_f, alter) => {
      // Prepare
      const log = logOf(SIZES);
      const chain = alter(await chainAt(log, 4));
      const p = proofOf(log, 6);

      // Act
      const v = verifyProofAgainstChain(p, chain);

      // Assess
      expect(v).toMatchObject({ ok: false, code: "latest_mismatch" });
      expect(!v.ok && v.message).toBe("the proof's anchor 4 differs from the contract's latest");
    },
  );

  it("the getter's fields are checked also when the receipt is in the latest anchor itself (latest_mismatch)", async () => {
    // Prepare
    const log = logOf(SIZES);
    const real = await chainAt(log, 4);
    const p = proofOf(log, 12);

    // Act
    const v = verifyProofAgainstChain(p, { ...real, root: flipHex(real.root) });

    // Assess
    expect(verifyProofAgainstChain(p, real)).toMatchObject({ ok: true, anchor: anchor(log, 4) });
    expect(v).toMatchObject({ ok: false, code: "latest_mismatch" });
  });
});

// ---------------------------------------------------------------- the leaf
describe("the leaf must be where the proof says, in its anchor's tree", () => {
  it.each([
    ["leafIndex one more than seq − firstSeq", { leafIndex: 3 }],
    ["leafIndex one less than seq − firstSeq", { leafIndex: 1 }],
    ["treeSize one more than the anchor's count", { treeSize: 6 }],
    ["treeSize one less than the anchor's count", { treeSize: 4 }],
    ["both off", { leafIndex: 0, treeSize: 1 }],
  ])("a proof whose %s is refused with not_included", async (_what, over) => {
    // Prepare
    const log = logOf(SIZES);
    const chain = await chainAt(log, 4);
    const p = { ...proofOf(log, 6), ...over };

    // Act
    const v = verifyProofAgainstChain(p, chain);

    // Assess
    expect(v).toMatchObject({ ok: false, code: "not_included" });
    expect(!v.ok && v.message).toBe(`receipt 6 is not leaf ${p.leafIndex} of anchor 2's 5 receipts`);
  });

  it("a seq moved with its leafIndex (the receipt claimed at another position) fails the audit path with not_included", async () => {
    // Prepare
    const log = logOf(SIZES);
    const chain = await chainAt(log, 4);
    const p = proofOf(log, 6);

    // Act
    const v = verifyProofAgainstChain({ ...p, seq: 7, leafIndex: 3 }, chain);

    // Assess
    expect(v).toMatchObject({ ok: false, code: "not_included" });
    expect(!v.ok && v.message).toContain("the audit path does not lead from the receipt to the root anchor 2 put on chain");
  });

  it.each([
    ["a flipped element", (path: string[]) => [path[0]!, flipHex(path[1]!), ...path.slice(2)]],
    ["an element removed", (path: string[]) => path.slice(0, -1)],
    ["an element added", (path: string[]) => [...path, "00".repeat(32)]],
    ["another receipt's path", () => proveReceipt(logOf(SIZES).batches[1]!, 7).path],
  ])("an audit path with %s does not lead to the root: not_included", async (_what, alter) => {
    // Prepare
    const log = logOf(SIZES);
    const chain = await chainAt(log, 4);
    const p = proofOf(log, 6);

    // Act
    const v = verifyProofAgainstChain({ ...p, path: alter(p.path) }, chain);

    // Assess
    expect(v).toMatchObject({ ok: false, code: "not_included" });
    expect(!v.ok && v.message).toBe(
      "the audit path does not lead from the receipt to the root anchor 2 put on chain: the receipt was altered or is not in the batch",
    );
  });

  it("a path element that is not 32 bytes of hex is the audit-path refusal (verifyReceiptProof swallows it), not 'malformed proof'", async () => {
    // Prepare
    const log = logOf(SIZES);
    const chain = await chainAt(log, 4);
    const p = proofOf(log, 6);

    // Act
    const v = verifyProofAgainstChain({ ...p, path: ["zz", ...p.path.slice(1)] }, chain);

    // Assess
    expect(v).toMatchObject({ ok: false, code: "not_included" });
    expect(!v.ok && v.message).toContain("the audit path does not lead");
  });
});

// ---------------------------------------------------------------- malformed
describe("a malformed proof is a verdict, never a throw", () => {
  it.each([
    ["a prevHistory that is not hex", (p: ReceiptProofBundle) => ({ ...p, prevHistory: "zz" })],
    [
      "an anchor count beyond uint32",
      (p: ReceiptProofBundle) => ({ ...p, anchors: [{ ...p.anchors[0]!, count: 2 ** 32 }, ...p.anchors.slice(1)] }),
    ],
    [
      "an anchor root that is not hex",
      (p: ReceiptProofBundle) => ({ ...p, anchors: [{ ...p.anchors[0]!, root: "zz" }, ...p.anchors.slice(1)] }),
    ],
    [
      "a workerId that is not base64url",
      (p: ReceiptProofBundle) => ({ ...p, receipt: { ...p.receipt, body: { ...p.receipt.body, workerId: "*" } } }),
    ],
    ["no anchors array at all", (p: ReceiptProofBundle) => ({ ...p, anchors: undefined as unknown as Anchor[] })],
  ])("%s is refused with not_included and a 'malformed proof' message", async (_what, alter) => {
    // Prepare
    const log = logOf(SIZES);
    const chain = await chainAt(log, 4);
    const p = alter(proofOf(log, 6));

    // Act
    const v = verifyProofAgainstChain(p, chain);

    // Assess
    expect(v).toMatchObject({ ok: false, code: "not_included" });
    expect(!v.ok && v.message).toMatch(/^malformed proof: \S/);
  });
});
