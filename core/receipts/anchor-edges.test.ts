/**
 * Edges of core/receipts/anchor.ts that anchor.test.ts, proof.test.ts and merkle-edges.test.ts
 * leave open (the survivors of its mutation run): known-answer vectors for an anchor's history
 * hash, built here byte by byte from the documented 120-byte layout and hashed with node:crypto
 * (never through the code under test), so every field of the preimage is pinned, ledgerSeqno and
 * ledgerHash included; sameAnchor field by field; the exact codes and messages of every refusal
 * (the seqs they name are what an operator acts on); the range and hex checks of anchor fields
 * and proof paths at their boundaries; MAX_BATCH; and the verdicts of the movement-log replay.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { makeWorker } from "../crypto/testing";
import {
  AnchorError,
  anchorHistory,
  anchorHistoryPreimage,
  applyAnchor,
  buildAnchorBatch,
  chainLedger,
  checkLedgerAgainstAnchors,
  GENESIS_HEAD,
  MAX_BATCH,
  prepareAnchor,
  proveReceipt,
  replayAnchors,
  sameAnchor,
  verifyReceiptProof,
  type Anchor,
  type AnchorBatch,
  type AnchorHead,
  type MovementLogEntry,
  type ReceiptLogEntry,
} from "./anchor";
import { EMPTY_ROOT } from "./merkle";
import { verifyProofAgainstChain } from "./proof";
import { fakeAnchorContract, movementLog, signedReceipt } from "./testing";

// ---------------------------------------------------------------- independent reference
const ZERO32 = "00".repeat(32);
const sha256Hex = (hexBytes: string) => createHash("sha256").update(Buffer.from(hexBytes, "hex")).digest("hex");
const u32Hex = (n: number) => n.toString(16).padStart(8, "0");
const u64Hex = (n: number) => BigInt(n).toString(16).padStart(16, "0");
/** The documented preimage as hex, written out field by field: history | seqno u32 | root | firstSeq u64 | count u32 | ledgerSeqno u64 | ledgerHash. */
const refPreimageHex = (prevHistory: string, a: Anchor) =>
  prevHistory + u32Hex(a.seqno) + a.root + u64Hex(a.firstSeq) + u32Hex(a.count) + u64Hex(a.ledgerSeqno) + a.ledgerHash;
const refHistory = (prevHistory: string, a: Anchor) => sha256Hex(refPreimageHex(prevHistory, a));

// ---------------------------------------------------------------- factories
const worker = makeWorker();

function receiptLog(from: number, n: number): ReceiptLogEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    seq: from + i,
    receipt: signedReceipt(worker, `job_${String(from + i).padStart(26, "0")}`, 1_764_000_000_000 + from + i),
  }));
}

/** Two anchors: receipts 1..5 with movements 1..4, then receipts 6..8 with movements 5..7. The log holds movements 1..9. */
function twoAnchors(): { batches: AnchorBatch[]; receipts: ReceiptLogEntry[]; movements: MovementLogEntry[] } {
  const receipts = receiptLog(1, 8);
  const movements = movementLog(1, 9);
  const b1 = buildAnchorBatch(GENESIS_HEAD, receipts.slice(0, 5), movements.slice(0, 4));
  const b2 = buildAnchorBatch(b1.head, receipts.slice(5), movements.slice(4, 7));
  return { batches: [b1, b2], receipts, movements };
}

/** What `act` threw, in the shape the assertions compare; a sentinel when it did not throw. */
function refusal(act: () => unknown): { anchorError: boolean; code: unknown; message: string } {
  try {
    act();
  } catch (e) {
    return { anchorError: e instanceof AnchorError, code: (e as { code?: unknown }).code, message: (e as Error).message };
  }
  return { anchorError: false, code: "none", message: "did not throw" };
}

const upper = (h: string) => h.toUpperCase();
const HEX_MSG = (what: string) => `${what} must be 32 bytes of lower-case hex`;

// ---------------------------------------------------------------- sameAnchor
describe("sameAnchor compares every field the anchor message carries", () => {
  const a: Anchor = { seqno: 2, root: "aa".repeat(32), firstSeq: 6, count: 3, ledgerSeqno: 7, ledgerHash: "bb".repeat(32) };

  it("a copy with the same six fields is the same anchor, whatever else it carries (a getter's lastSeq, history, postedAt)", () => {
    // Prepare
    const chain = { ...a, lastSeq: 8, history: "cc".repeat(32), postedAt: 1 };

    // Act
    const same = [sameAnchor(a, { ...a }), sameAnchor(a, chain)];

    // Assess
    expect(same).toEqual([true, true]);
  });

  it.each<[keyof Anchor, Anchor[keyof Anchor]]>([
    ["seqno", 3],
    ["root", "ab".repeat(32)],
    ["firstSeq", 7],
    ["count", 4],
    ["ledgerSeqno", 8],
    ["ledgerHash", "bc".repeat(32)],
  ])("an anchor that differs only in %s is not the same anchor", (field, value) => {
    // Prepare
    const other = { ...a, [field]: value };

    // Act
    const same = sameAnchor(a, other);

    // Assess
    expect(same).toBe(false);
  });

  it("a proof whose last anchor differs from the contract's getter only in ledgerSeqno is refused with latest_mismatch", async () => {
    // Prepare: the contract holds both anchors; its getter is read back with another ledgerSeqno, history unchanged
    const { batches, receipts } = twoAnchors();
    const contract = fakeAnchorContract();
    await contract.post(batches.map((b) => b.anchor));
    const real = await contract.latest();
    const chain = { ...real, ledgerSeqno: real.ledgerSeqno + 1 };
    const e = receipts[6]!;
    const proof = proveReceipt(batches[1]!, e.seq);
    const bundle = {
      jobId: e.receipt.body.jobId,
      receipt: e.receipt,
      seq: e.seq,
      anchorSeqno: 2,
      leafIndex: e.seq - 6,
      treeSize: 3,
      path: proof.path,
      prevHistory: batches[0]!.head.history,
      anchors: [batches[1]!.anchor],
    };

    // Act
    const v = verifyProofAgainstChain(bundle, chain);

    // Assess
    expect(verifyProofAgainstChain(bundle, real)).toEqual({ ok: true, anchor: batches[1]!.anchor, chain: real }); // control
    expect(v).toEqual({ ok: false, code: "latest_mismatch", message: "the proof's anchor 2 differs from the contract's latest" });
  });
});

// ---------------------------------------------------------------- history known answers
describe("anchor history: known-answer vectors from the documented byte layout", () => {
  // Every field distinct and firstSeq / ledgerSeqno wider than 32 bits, so each byte of the preimage is pinned.
  const PREV = "11".repeat(32);
  const A: Anchor = {
    seqno: 0x01020304,
    root: "22".repeat(32),
    firstSeq: 0x05_0607_0809,
    count: 0x0a0b0c0d,
    ledgerSeqno: 0x0e_0f10_1112,
    ledgerHash: "33".repeat(32),
  };
  const PREIMAGE_HEX =
    "11".repeat(32) + "01020304" + "22".repeat(32) + "0000000506070809" + "0a0b0c0d" + "0000000e0f101112" + "33".repeat(32);
  // Pinned once from PREIMAGE_HEX: the contract hashes the same bytes, so a change here breaks every anchored history.
  const KAT_HISTORY = "5ed616ede0e20a35d64b67542d6670454c8d7c761aad3be8d3037b1753dfeeea";

  it("the preimage is the 120 bytes history | seqno u32 | root | firstSeq u64 | count u32 | ledgerSeqno u64 | ledgerHash, big-endian", () => {
    // Act
    const pre = anchorHistoryPreimage(PREV, A);

    // Assess
    expect(PREIMAGE_HEX.length).toBe(240);
    expect(Buffer.from(pre).toString("hex")).toBe(PREIMAGE_HEX);
  });

  it("the history is SHA-256 of that preimage, equal to the pinned vector (ledgerSeqno and ledgerHash included)", () => {
    // Act
    const history = anchorHistory(PREV, A);

    // Assess
    expect(sha256Hex(PREIMAGE_HEX)).toBe(KAT_HISTORY);
    expect(history).toBe(KAT_HISTORY);
  });

  it.each<[string, string, Anchor]>([
    ["the previous history", "12".repeat(32), A],
    ["seqno", PREV, { ...A, seqno: A.seqno + 1 }],
    ["root", PREV, { ...A, root: "23".repeat(32) }],
    ["firstSeq", PREV, { ...A, firstSeq: A.firstSeq + 1 }],
    ["count", PREV, { ...A, count: A.count + 1 }],
    ["ledgerSeqno", PREV, { ...A, ledgerSeqno: A.ledgerSeqno + 1 }],
    ["ledgerHash", PREV, { ...A, ledgerHash: "34".repeat(32) }],
  ])("the history commits to %s: changing it alone gives the reference hash of the changed bytes, not the pinned one", (_f, prev, a) => {
    // Act
    const history = anchorHistory(prev, a);

    // Assess
    expect(history).toBe(refHistory(prev, a));
    expect(history).not.toBe(KAT_HISTORY);
  });

  it("replaying two anchors from genesis chains the history: H2 = SHA-256(H1 | a2), H1 = SHA-256(zeros | a1)", () => {
    // Prepare
    const a1: Anchor = { seqno: 1, root: "aa".repeat(32), firstSeq: 1, count: 5, ledgerSeqno: 4, ledgerHash: "bb".repeat(32) };
    const a2: Anchor = { seqno: 2, root: "cc".repeat(32), firstSeq: 6, count: 3, ledgerSeqno: 7, ledgerHash: "dd".repeat(32) };
    const h1 = refHistory(ZERO32, a1);

    // Act
    const head = replayAnchors([a1, a2]);

    // Assess
    expect(h1).toBe("bcee7046b0436a2863df73e6b4a97b1337d9d8b55916e9760e459c3ef1cccbe1");
    expect(head).toEqual({
      seqno: 2,
      lastSeq: 8,
      ledgerSeqno: 7,
      ledgerHash: "dd".repeat(32),
      history: "7cdbb3afe5ba8f2000da4fdaf6d6429cde6f5215d8e6208cd1899fc08a7702a5",
    });
    expect(head.history).toBe(refHistory(h1, a2));
  });

  it("an anchor with every field at its maximum (seqno and count 2^32 − 1, firstSeq and ledgerSeqno 2^53 − 1) is accepted and hashes to the pinned vector", () => {
    // Prepare
    const max = 0xffff_ffff;
    const prev: AnchorHead = {
      seqno: max - 1,
      lastSeq: Number.MAX_SAFE_INTEGER - 1,
      ledgerSeqno: Number.MAX_SAFE_INTEGER,
      ledgerHash: "66".repeat(32),
      history: "44".repeat(32),
    };
    const a: Anchor = {
      seqno: max,
      root: "55".repeat(32),
      firstSeq: Number.MAX_SAFE_INTEGER,
      count: MAX_BATCH,
      ledgerSeqno: Number.MAX_SAFE_INTEGER,
      ledgerHash: "66".repeat(32),
    };

    // Act
    const head = applyAnchor(prev, a);

    // Assess
    expect(MAX_BATCH).toBe(max);
    expect(refPreimageHex(prev.history, a)).toBe(
      "44".repeat(32) + "ffffffff" + "55".repeat(32) + "001fffffffffffff" + "ffffffff" + "001fffffffffffff" + "66".repeat(32),
    );
    expect(head).toMatchObject({ seqno: max, ledgerSeqno: Number.MAX_SAFE_INTEGER, ledgerHash: "66".repeat(32) });
    expect(head.history).toBe("f14223ba11041ad0593170cd1db0597e7632e20fd1f7f48767ee2c6cd4e7245c");
    expect(head.history).toBe(refHistory(prev.history, a));
  });

  it.each<[string, string, Partial<Anchor>]>([
    ["history", "zz", {}],
    ["root", ZERO32, { root: ZERO32.slice(2) }],
    ["ledger hash", ZERO32, { ledgerHash: upper("ab".repeat(32)) }],
  ])("a malformed %s is refused with bad_anchor, naming it", (what, prev, over) => {
    // Prepare
    const a = { ...A, ...over };

    // Act
    const r = refusal(() => anchorHistory(prev, a));

    // Assess
    expect(r).toEqual({ anchorError: true, code: "bad_anchor", message: HEX_MSG(what) });
  });
});

// ---------------------------------------------------------------- applyAnchor
describe("applyAnchor: each refusal's code and the seqs its message names", () => {
  const { batches } = twoAnchors();
  const prev = batches[0]!.head; // seqno 1, lastSeq 5, ledgerSeqno 4
  const a2 = batches[1]!.anchor; // seqno 2, firstSeq 6, count 3, ledgerSeqno 7

  it.each<[string, Partial<Anchor>, string, string]>([
    ["a skipped seqno", { seqno: 3 }, "anchor_gap", "anchor 3 follows anchor 1"],
    ["a receipt range that skips one", { firstSeq: 7 }, "range_gap", "anchor 2 starts at receipt 7, the previous one ended at 5"],
    ["a rewound ledger", { ledgerSeqno: 3 }, "ledger_rewound", "anchor 2 commits to 3 movements, the previous one to 4"],
    [
      "a ledger hash changed without movements",
      { ledgerSeqno: 4, ledgerHash: "11".repeat(32) },
      "ledger_fork",
      "anchor 2 changes the ledger hash without new movements",
    ],
    [
      "a negative count",
      { count: -1 },
      "bad_anchor",
      'anchor fields must be non-negative integers in range: {"seqno":2,"firstSeq":6,"count":-1,"ledgerSeqno":7}',
    ],
    [
      "a fractional ledgerSeqno",
      { ledgerSeqno: 7.5 },
      "bad_anchor",
      'anchor fields must be non-negative integers in range: {"seqno":2,"firstSeq":6,"count":3,"ledgerSeqno":7.5}',
    ],
  ])("%s is refused with the exact code and message", (_what, over, code, message) => {
    // Act
    const r = refusal(() => applyAnchor(prev, { ...a2, ...over }));

    // Assess
    expect(r).toEqual({ anchorError: true, code, message });
    expect(applyAnchor(prev, a2).seqno).toBe(2); // control
  });

  it.each<[string, Partial<Anchor>, string]>([
    ["a root with a 65th hex digit after it", { root: a2.root + "0" }, "root"],
    ["a root with a 65th hex digit before it", { root: "0" + a2.root }, "root"],
    ["an upper-case root", { root: upper(a2.root) }, "root"],
    ["a root that is an array whose text is the hash", { root: [a2.root] as unknown as string }, "root"],
    ["a ledger hash with a 65th hex digit after it", { ledgerHash: a2.ledgerHash + "0" }, "ledger hash"],
    ["a ledger hash with a 65th hex digit before it", { ledgerHash: "0" + a2.ledgerHash }, "ledger hash"],
  ])("%s is bad_anchor: hashes are exactly 64 lower-case hex digits", (_what, over, what) => {
    // Act
    const r = refusal(() => applyAnchor(prev, { ...a2, ...over }));

    // Assess
    expect(r).toEqual({ anchorError: true, code: "bad_anchor", message: HEX_MSG(what) });
  });

  it.each<[string, Partial<AnchorHead>, Partial<Anchor>, string]>([
    [
      "seqno 2^32 after 2^32 − 1 (the contract stores uint32)",
      { seqno: 0xffff_ffff },
      { seqno: 2 ** 32 },
      '{"seqno":4294967296,"firstSeq":6,"count":3,"ledgerSeqno":7}',
    ],
    ["count 2^32 (MAX_BATCH + 1)", {}, { count: MAX_BATCH + 1 }, '{"seqno":2,"firstSeq":6,"count":4294967296,"ledgerSeqno":7}'],
  ])("%s is out of range: bad_anchor", (_what, prevOver, over, fields) => {
    // Act
    const r = refusal(() => applyAnchor({ ...prev, ...prevOver }, { ...a2, ...over }));

    // Assess
    expect(r).toEqual({
      anchorError: true,
      code: "bad_anchor",
      message: `anchor fields must be non-negative integers in range: ${fields}`,
    });
  });
});

// ---------------------------------------------------------------- ledger chain
describe("chainLedger refusals", () => {
  it("a previous hash that is not 64 lower-case hex digits is bad_anchor, naming the ledger hash", () => {
    // Act
    const r = refusal(() => chainLedger({ seqno: 0, hash: ZERO32 + "0" }, movementLog(1, 1)));

    // Assess
    expect(r).toEqual({ anchorError: true, code: "bad_anchor", message: HEX_MSG("ledger hash") });
  });

  it("a gap is movement_gap, naming the entry and the position it follows", () => {
    // Prepare
    const log = movementLog(3, 3);

    // Act
    const r = refusal(() => chainLedger({ seqno: 2, hash: ZERO32 }, [log[0]!, log[2]!]));

    // Assess
    expect(r).toEqual({ anchorError: true, code: "movement_gap", message: "movement log entry 5 follows 3; the log must be contiguous" });
  });
});

// ---------------------------------------------------------------- building a batch
describe("buildAnchorBatch: MAX_BATCH and receipt gaps", () => {
  /** A receipt list claiming `length` entries while holding `entries` (no test can hold 2^32 − 1 receipts). */
  function claiming(entries: ReceiptLogEntry[], length: number): ReceiptLogEntry[] {
    return {
      length,
      forEach: (fn: (e: ReceiptLogEntry, i: number) => void) => entries.forEach((e, i) => fn(e, i)),
      map: <T>(fn: (e: ReceiptLogEntry, i: number) => T) => entries.map((e, i) => fn(e, i)),
    } as unknown as ReceiptLogEntry[];
  }

  it("a batch of MAX_BATCH + 1 receipts is refused with bad_anchor before any receipt is read", () => {
    // Prepare
    const unread = {
      length: MAX_BATCH + 1,
      forEach: () => {
        throw new Error("a receipt was read");
      },
      map: () => {
        throw new Error("a receipt was read");
      },
    } as unknown as ReceiptLogEntry[];

    // Act
    const r = refusal(() => buildAnchorBatch(GENESIS_HEAD, unread, []));

    // Assess
    expect(r).toEqual({ anchorError: true, code: "bad_anchor", message: "a batch holds at most 4294967295 receipts" });
  });

  it("a batch of exactly MAX_BATCH receipts is allowed: its anchor's count is 2^32 − 1", () => {
    // Prepare
    const receipts = claiming(receiptLog(1, 1), MAX_BATCH);

    // Act
    const b = buildAnchorBatch(GENESIS_HEAD, receipts, []);

    // Assess
    expect(b.anchor).toMatchObject({ seqno: 1, firstSeq: 1, count: MAX_BATCH, ledgerSeqno: 0, ledgerHash: ZERO32 });
    expect(b.head).toMatchObject({ seqno: 1, lastSeq: MAX_BATCH });
  });

  it.each<[string, AnchorHead, number[], string]>([
    ["from genesis", GENESIS_HEAD, [1, 2, 4], "receipt log entry 4 where 3 was due; the log must be contiguous"],
    [
      "after receipt 5",
      { ...GENESIS_HEAD, seqno: 1, lastSeq: 5 },
      [6, 7, 9],
      "receipt log entry 9 where 8 was due; the log must be contiguous",
    ],
  ])("a gap after the batch's first receipt (%s) is receipt_gap, naming the seq that was due", (_what, prev, seqs, message) => {
    // Prepare
    const receipts = seqs.map((seq) => ({ ...receiptLog(seq, 1)[0]! }));

    // Act
    const r = refusal(() => buildAnchorBatch(prev, receipts, []));

    // Assess
    expect(r).toEqual({ anchorError: true, code: "receipt_gap", message });
  });
});

// ---------------------------------------------------------------- proofs
describe("proveReceipt and verifyReceiptProof at their edges", () => {
  const { batches, receipts } = twoAnchors();
  const b1 = batches[0]!; // receipts 1..5
  const e = receipts[2]!; // seq 3: leaf 2 of 5, a path of 3 hashes
  const proof = proveReceipt(b1, e.seq);

  it.each([
    [5, "receipt 5 is not in anchor 2 (receipts 6..8)"],
    [9, "receipt 9 is not in anchor 2 (receipts 6..8)"],
  ])("receipt %i outside anchor 2 is not_in_batch, naming the batch's range", (seq, message) => {
    // Act
    const r = refusal(() => proveReceipt(batches[1]!, seq));

    // Assess
    expect(r).toEqual({ anchorError: true, code: "not_in_batch", message });
  });

  it.each<[string, (p: string[]) => string[], (root: string) => string]>([
    ["one path element upper-cased (the same bytes)", (p) => [p[0]!, upper(p[1]!), p[2]!], (r) => r],
    ["one path element with a 65th hex digit", (p) => [p[0]!, p[1]! + "0", p[2]!], (r) => r],
    ["the anchor's root upper-cased", (p) => p, upper],
    ["the anchor's root with a 65th hex digit", (p) => p, (r) => r + "0"],
  ])("a proof with %s is refused: hashes are exactly 64 lower-case hex digits", (_what, alterPath, alterRoot) => {
    // Prepare
    const path = alterPath(proof.path);
    const anchor = { ...b1.anchor, root: alterRoot(b1.anchor.root) };

    // Act
    const ok = verifyReceiptProof(e.receipt, { ...proof, path }, anchor);

    // Assess
    expect(proof.path).toHaveLength(3);
    expect(upper(proof.path[1]!)).not.toBe(proof.path[1]);
    expect(upper(b1.anchor.root)).not.toBe(b1.anchor.root);
    expect(verifyReceiptProof(e.receipt, proof, b1.anchor)).toBe(true); // control
    expect(ok).toBe(false);
  });

  it("a proof whose path is not an array (null in a JSON body) answers false, never throws", () => {
    // Prepare
    const bad = { ...proof, path: null as unknown as string[] };

    // Act
    const ok = verifyReceiptProof(e.receipt, bad, b1.anchor);

    // Assess
    expect(ok).toBe(false);
  });
});

// ---------------------------------------------------------------- the movement log against the anchors
describe("checkLedgerAgainstAnchors: exact verdicts", () => {
  const anchorsOf = (batches: AnchorBatch[]) => batches.map((b) => b.anchor);

  it("a log that runs ahead of the anchors (movements 8, 9 not anchored yet) matches them", () => {
    // Prepare
    const { batches, movements } = twoAnchors();

    // Act
    const v = checkLedgerAgainstAnchors(anchorsOf(batches), movements);

    // Assess
    expect(movements).toHaveLength(9);
    expect(v).toEqual({ ok: true, checked: 2 });
  });

  it("a log restored from a backup holding movements 1..5 is ledger_rewound at anchor 2, naming what it commits to and what the log holds", () => {
    // Prepare
    const { batches, movements } = twoAnchors();

    // Act
    const v = checkLedgerAgainstAnchors(anchorsOf(batches), movements.slice(0, 5));

    // Assess
    expect(v).toEqual({ ok: false, anchorSeqno: 2, code: "ledger_rewound", message: "anchor 2 commits to 7 movements, the log holds 5" });
  });

  it("a log missing movement 3 (not renumbered) is movement_gap at anchor 1, a verdict rather than a throw", () => {
    // Prepare
    const { batches, movements } = twoAnchors();

    // Act
    const v = checkLedgerAgainstAnchors(
      anchorsOf(batches),
      movements.filter((m) => m.seq !== 3),
    );

    // Assess
    expect(v).toEqual({
      ok: false,
      anchorSeqno: 1,
      code: "movement_gap",
      message: "movement log entry 4 follows 2; the log must be contiguous",
    });
  });

  it("a movement the replay cannot hash (at: NaN) is a movement_gap verdict at its anchor carrying the hashing error, never a throw", () => {
    // Prepare
    const { batches, movements } = twoAnchors();
    const broken = movements.map((m) => (m.seq === 6 ? { ...m, movement: { ...m.movement, at: Number.NaN } } : m));

    // Act
    const v = checkLedgerAgainstAnchors(anchorsOf(batches), broken);

    // Assess
    expect(v).toEqual({
      ok: false,
      anchorSeqno: 2,
      code: "movement_gap",
      message: "$.at is NaN; canonical JSON only holds finite numbers",
    });
  });

  it("a movement edited in anchor 2's range is ledger_fork at anchor 2, naming the ledger seqno", () => {
    // Prepare
    const { batches, movements } = twoAnchors();
    const edited = movements.map((m) => (m.seq === 6 ? { ...m, movement: { ...m.movement, at: m.movement.at + 1 } } : m));

    // Act
    const v = checkLedgerAgainstAnchors(anchorsOf(batches), edited);

    // Assess
    expect(v).toEqual({
      ok: false,
      anchorSeqno: 2,
      code: "ledger_fork",
      message: "the movement log up to 7 does not hash to what anchor 2 committed",
    });
  });
});

// ---------------------------------------------------------------- prepareAnchor
describe("prepareAnchor", () => {
  it("new movements without new receipts still make a batch: count 0, the empty root, the ledger advanced", async () => {
    // Prepare
    const movements = movementLog(1, 3);
    const logs = {
      receipts: { receiptsAfter: async () => [] },
      movements: { movementsAfter: async (after: number, limit: number) => movements.filter((e) => e.seq > after).slice(0, limit) },
    };

    // Act
    const b = await prepareAnchor(logs, GENESIS_HEAD);

    // Assess
    expect(b?.anchor).toEqual({
      seqno: 1,
      root: Buffer.from(EMPTY_ROOT).toString("hex"),
      firstSeq: 1,
      count: 0,
      ledgerSeqno: 3,
      ledgerHash: chainLedger({ seqno: 0, hash: ZERO32 }, movements).hash,
    });
  });
});
