import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signReceipt } from "../crypto/receipt";
import { makeReceiptBody, makeWorker } from "../crypto/testing";
import type { Movement } from "../ledger";
import {
  anchorHistory,
  anchorHistoryPreimage,
  applyAnchor,
  buildAnchorBatch,
  chainLedger,
  checkLedgerAgainstAnchors,
  GENESIS_HEAD,
  ledgerStep,
  prepareAnchor,
  proofBytes,
  proveReceipt,
  replayAnchors,
  verifyReceiptProof,
  type Anchor,
  type AnchorBatch,
  type AnchorHead,
  type MovementLogEntry,
  type ReceiptLogEntry,
} from "./anchor";
import { EMPTY_ROOT } from "./merkle";
import { movementLog } from "./testing";

// ---------------------------------------------------------------- factories
const worker = makeWorker();

function receiptLog(from: number, n: number): ReceiptLogEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    seq: from + i,
    receipt: signReceipt(makeReceiptBody(worker, { finishedAt: 1_764_000_000_000 + from + i }), worker.signing),
  }));
}

/** Three anchors over 5, 0 and 8 receipts and 4, 3, 0 movements. */
function threeAnchors(): { batches: AnchorBatch[]; receipts: ReceiptLogEntry[]; movements: MovementLogEntry[] } {
  const receipts = receiptLog(1, 13);
  const movements = movementLog(1, 7);
  const b1 = buildAnchorBatch(GENESIS_HEAD, receipts.slice(0, 5), movements.slice(0, 4));
  const b2 = buildAnchorBatch(b1.head, [], movements.slice(4, 7));
  const b3 = buildAnchorBatch(b2.head, receipts.slice(5), []);
  return { batches: [b1, b2, b3], receipts, movements };
}

describe("ledger hash chain", () => {
  it("hash_n = SHA-256(hash_{n-1} || canonical(movement_n)), from 32 zero bytes", () => {
    // Prepare
    const [e1, e2] = movementLog(1, 2);
    const h1 = createHash("sha256")
      .update(Buffer.alloc(32))
      .update(JSON.stringify(canonicalMovement(e1!.movement)))
      .digest();
    const h2 = createHash("sha256")
      .update(h1)
      .update(JSON.stringify(canonicalMovement(e2!.movement)))
      .digest();
    // Act
    const out = chainLedger({ seqno: 0, hash: "00".repeat(32) }, [e1!, e2!]);
    // Assess
    expect(out).toEqual({ seqno: 2, hash: h2.toString("hex") });
  });

  it("a movement read back with string deltas (as the ledger table stores them) hashes the same", () => {
    const m = movementLog(1, 1)[0]!.movement;
    const stored = { ...m, postings: m.postings.map((p) => ({ ...p, delta: p.delta.toString() })) } as unknown as Movement;
    expect(ledgerStep(Buffer.alloc(32), stored)).toEqual(ledgerStep(Buffer.alloc(32), m));
  });

  it("refuses a log with a gap", () => {
    const log = movementLog(1, 4);
    expect(() => chainLedger({ seqno: 0, hash: "00".repeat(32) }, [log[0]!, log[2]!])).toThrow(
      expect.objectContaining({ code: "movement_gap" }),
    );
  });
});

describe("anchor batches", () => {
  it("commit to the receipts' root, the contiguous range and the count, and chain the ledger across anchors", () => {
    // Act
    const { batches, movements } = threeAnchors();
    const [a1, a2, a3] = batches.map((b) => b.anchor);
    // Assess
    expect([a1, a2, a3].map((a) => ({ seqno: a!.seqno, firstSeq: a!.firstSeq, count: a!.count, ledgerSeqno: a!.ledgerSeqno }))).toEqual([
      { seqno: 1, firstSeq: 1, count: 5, ledgerSeqno: 4 },
      { seqno: 2, firstSeq: 6, count: 0, ledgerSeqno: 7 },
      { seqno: 3, firstSeq: 6, count: 8, ledgerSeqno: 7 },
    ]);
    expect(a2!.root).toBe(Buffer.from(EMPTY_ROOT).toString("hex"));
    expect(a3!.ledgerHash).toBe(a2!.ledgerHash);
    expect(a2!.ledgerHash).toBe(chainLedger({ seqno: 0, hash: "00".repeat(32) }, movements).hash);
    expect(batches[2]!.head).toMatchObject({ seqno: 3, lastSeq: 13, ledgerSeqno: 7 });
  });

  it("refuse receipts that do not continue the previous anchor", () => {
    const { batches } = threeAnchors();
    expect(() => buildAnchorBatch(batches[0]!.head, receiptLog(7, 2), [])).toThrow(expect.objectContaining({ code: "receipt_gap" }));
    expect(() => buildAnchorBatch(GENESIS_HEAD, [...receiptLog(1, 2), ...receiptLog(4, 1)], [])).toThrow(
      expect.objectContaining({ code: "receipt_gap" }),
    );
  });

  it("history is SHA-256 over the 120-byte packing of the previous history and the anchor's fields", () => {
    const { batches } = threeAnchors();
    const a1 = batches[0]!.anchor;
    const pre = anchorHistoryPreimage(GENESIS_HEAD.history, a1);
    expect(pre.length).toBe(120);
    expect(Buffer.from(pre.subarray(32, 36)).readUInt32BE(0)).toBe(1);
    expect(Buffer.from(pre.subarray(36, 68)).toString("hex")).toBe(a1.root);
    expect(batches[0]!.head.history).toBe(createHash("sha256").update(pre).digest("hex"));
    expect(batches[1]!.head.history).toBe(anchorHistory(batches[0]!.head.history, batches[1]!.anchor));
  });
});

describe("receipt inclusion proofs against the anchor", () => {
  const { batches, receipts } = threeAnchors();
  const b3 = batches[2]!;

  it("every receipt of a batch proves against its anchor; proof size is log2(count) hashes", () => {
    for (const e of receipts.slice(5)) {
      const proof = proveReceipt(b3, e.seq);
      expect(verifyReceiptProof(e.receipt, proof, b3.anchor), `seq ${e.seq}`).toBe(true);
      expect(proofBytes(proof)).toBe(3 * 32 + 12); // 8 leaves: 3 hashes
    }
  });

  it("an altered receipt fails", () => {
    const e = receipts[8]!;
    const proof = proveReceipt(b3, e.seq);
    const altered = { ...e.receipt, body: { ...e.receipt.body, usage: { promptTokens: 1, completionTokens: 1 } } };
    expect(verifyReceiptProof(altered, proof, b3.anchor)).toBe(false);
  });

  it("a receipt dropped from the batch: the coordinator cannot prove the rest against the anchored root", () => {
    // Prepare: the coordinator rebuilds batch 3 without receipt 9 and renumbers the rest (6..12).
    const kept = receipts.slice(5).filter((e) => e.seq !== 9);
    const tampered = buildAnchorBatch(
      batches[1]!.head,
      kept.map((e, i) => ({ ...e, seq: 6 + i })),
      [],
    );
    // Act / Assess: none of the kept receipts proves against the anchor that is on chain.
    kept.forEach((e, i) => {
      expect(verifyReceiptProof(e.receipt, proveReceipt(tampered, 6 + i), b3.anchor), `kept receipt ${e.seq}`).toBe(false);
    });
    expect(tampered.anchor.count).toBe(b3.anchor.count - 1); // and the count on chain says one is missing
  });

  it("a proof does not transfer to another position, anchor or root", () => {
    const e = receipts[6]!;
    const proof = proveReceipt(b3, e.seq);
    expect(verifyReceiptProof(e.receipt, { ...proof, seq: e.seq + 1 }, b3.anchor)).toBe(false);
    expect(verifyReceiptProof(e.receipt, { ...proof, anchorSeqno: 2 }, b3.anchor)).toBe(false);
    expect(verifyReceiptProof(e.receipt, proof, { ...b3.anchor, root: batches[0]!.anchor.root })).toBe(false);
    expect(verifyReceiptProof(e.receipt, proof, { ...b3.anchor, count: 9 })).toBe(false);
    expect(verifyReceiptProof(e.receipt, { ...proof, path: ["zz", ...proof.path.slice(1)] }, b3.anchor)).toBe(false);
  });

  it("a seq outside the batch has no proof (an unknown receipt is an error, never a pass)", () => {
    expect(() => proveReceipt(b3, 5)).toThrow(expect.objectContaining({ code: "not_in_batch" }));
    expect(() => proveReceipt(b3, 14)).toThrow(expect.objectContaining({ code: "not_in_batch" }));
  });
});

describe("replaying anchors", () => {
  it("reproduces the head (and its history) from the anchors alone", () => {
    const { batches } = threeAnchors();
    expect(replayAnchors(batches.map((b) => b.anchor))).toEqual(batches[2]!.head);
  });

  const bad: Array<[string, (a: Anchor, prev: AnchorHead) => Anchor, string]> = [
    ["skipped seqno", (a) => ({ ...a, seqno: a.seqno + 1 }), "anchor_gap"],
    ["repeated seqno", (a) => ({ ...a, seqno: a.seqno - 1 }), "anchor_gap"],
    ["gap in the receipt range", (a) => ({ ...a, firstSeq: a.firstSeq + 1 }), "range_gap"],
    ["overlapping receipt range", (a) => ({ ...a, firstSeq: a.firstSeq - 1 }), "range_gap"],
    ["ledger rewound", (_a, prev) => ({ ..._a, ledgerSeqno: prev.ledgerSeqno - 1 }), "ledger_rewound"],
    [
      "ledger hash changed without movements",
      (a, prev) => ({ ...a, ledgerSeqno: prev.ledgerSeqno, ledgerHash: "11".repeat(32) }),
      "ledger_fork",
    ],
    ["malformed root", (a) => ({ ...a, root: "AB".repeat(32) }), "bad_anchor"],
    ["negative count", (a) => ({ ...a, count: -1 }), "bad_anchor"],
  ];
  it.each(bad)("refuses an anchor with %s", (_what, change, code) => {
    const { batches } = threeAnchors();
    const prev = batches[0]!.head;
    expect(() => applyAnchor(prev, change(batches[1]!.anchor, prev))).toThrow(expect.objectContaining({ code }));
    expect(() => applyAnchor(prev, batches[1]!.anchor)).not.toThrow(); // control
  });
});

describe("checking the ledger against the anchors (restored or edited database)", () => {
  it("the honest movement log matches every anchor", () => {
    const { batches, movements } = threeAnchors();
    expect(
      checkLedgerAgainstAnchors(
        batches.map((b) => b.anchor),
        movements,
      ),
    ).toEqual({ ok: true, checked: 3 });
  });

  it("a log restored from an old backup (movements 5..7 lost) fails at the anchor that committed them", () => {
    const { batches, movements } = threeAnchors();
    const r = checkLedgerAgainstAnchors(
      batches.map((b) => b.anchor),
      movements.slice(0, 4),
    );
    expect(r).toMatchObject({ ok: false, anchorSeqno: 2, code: "ledger_rewound" });
  });

  it("a movement edited by hand fails at the first anchor covering it", () => {
    const { batches, movements } = threeAnchors();
    const edited = movements.map((e) =>
      e.seq === 3 ? { ...e, movement: { ...e.movement, postings: e.movement.postings.map((p) => ({ ...p, delta: p.delta * 2n })) } } : e,
    );
    expect(
      checkLedgerAgainstAnchors(
        batches.map((b) => b.anchor),
        edited,
      ),
    ).toMatchObject({ ok: false, anchorSeqno: 1, code: "ledger_fork" });
  });

  it("a removed movement (log renumbered) fails", () => {
    const { batches, movements } = threeAnchors();
    const removed = movements.filter((e) => e.seq !== 6).map((e, i) => ({ ...e, seq: i + 1 }));
    expect(
      checkLedgerAgainstAnchors(
        batches.map((b) => b.anchor),
        removed,
      ),
    ).toMatchObject({ ok: false, anchorSeqno: 2 });
  });
});

describe("prepareAnchor over the log ports", () => {
  function ports(receipts: ReceiptLogEntry[], movements: MovementLogEntry[]) {
    return {
      receipts: { receiptsAfter: async (after: number, limit: number) => receipts.filter((e) => e.seq > after).slice(0, limit) },
      movements: { movementsAfter: async (after: number, limit: number) => movements.filter((e) => e.seq > after).slice(0, limit) },
    };
  }

  it("batches what is new since the head, up to the limits", async () => {
    const logs = ports(receiptLog(1, 10), movementLog(1, 3));
    const b = await prepareAnchor(logs, GENESIS_HEAD, { maxReceipts: 4, maxMovements: 10 });
    expect(b!.anchor).toMatchObject({ seqno: 1, firstSeq: 1, count: 4, ledgerSeqno: 3 });
    const next = await prepareAnchor(logs, b!.head, { maxReceipts: 100, maxMovements: 10 });
    expect(next!.anchor).toMatchObject({ seqno: 2, firstSeq: 5, count: 6, ledgerSeqno: 3 });
  });

  it("answers null when nothing happened", async () => {
    const logs = ports(receiptLog(1, 2), []);
    const b = await prepareAnchor(logs, GENESIS_HEAD);
    expect(await prepareAnchor(logs, b!.head)).toBeNull();
  });
});

function canonicalMovement(m: Movement): unknown {
  // Keys in sorted order, deltas as decimal strings: canonical JSON by hand, as an independent check.
  const meta = m.meta ? Object.fromEntries(Object.entries(m.meta).sort(([a], [b]) => (a < b ? -1 : 1))) : undefined;
  return {
    at: m.at,
    id: m.id,
    kind: m.kind,
    meta,
    postings: m.postings.map((p) => ({ account: p.account, delta: p.delta.toString(), field: p.field })),
  };
}
