/**
 * Edges of core/receipts/merkle.ts that merkle.test.ts leaves open: known-answer vectors for the
 * receipt leaf (domain string and byte layout) and for small receipt trees, computed here with
 * node:crypto straight from the documented layout (never through the code under test), and the
 * refusals of audit-path verification and construction (index range, hash lengths, path length).
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Receipt } from "../../events/envelope";
import {
  auditPath,
  auditPathFromLevels,
  auditPathLength,
  EMPTY_ROOT,
  HASH_BYTES,
  leafHash,
  MerkleInputError,
  merkleLevels,
  merkleRoot,
  nodeHash,
  receiptLeafData,
  receiptLeafHash,
  RECEIPT_LEAF_PREFIX,
  rootFromAuditPath,
  verifyInclusion,
} from "./merkle";

// ---------------------------------------------------------------- independent reference
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
/** RFC 6962 leaf: SHA-256(0x00 || data). */
const refLeaf = (data: Uint8Array) => sha256(Uint8Array.of(0x00), data);
/** RFC 6962 interior node: SHA-256(0x01 || left || right). */
const refNode = (l: Uint8Array, r: Uint8Array) => sha256(Uint8Array.of(0x01), l, r);
const utf8 = (s: string) => new Uint8Array(Buffer.from(s, "utf8"));
/** 32 bytes, every one `b`. */
const filled = (b: number, n: number = HASH_BYTES) => new Uint8Array(n).fill(b);

function someLeaves(n: number, salt = 0): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => refLeaf(Uint8Array.of(salt, i)));
}

// ---------------------------------------------------------------- fixed receipts
const WORKER_ID = "A".repeat(42) + "E"; // 43 base64url chars: a 32-byte key's id (never verified here)
function fixedReceipt(finishedAt: number): Receipt {
  return {
    body: {
      v: 1,
      jobId: "job_0123456789abcdefghjkmnpqrs",
      workerId: WORKER_ID,
      model: "qwen/qwen2-7b-é",
      requestHash: "a".repeat(64),
      replyHash: "b".repeat(64),
      usage: { promptTokens: 12, completionTokens: 34 },
      measurement: "dev",
      finishedAt,
    },
    signature: "c2lnbmF0dXJl",
  };
}
/** The canonical JSON of fixedReceipt(finishedAt), written by hand: keys sorted at every depth, no whitespace. */
const fixedCanonical = (finishedAt: number) =>
  `{"body":{"finishedAt":${finishedAt},"jobId":"job_0123456789abcdefghjkmnpqrs","measurement":"dev","model":"qwen/qwen2-7b-é",` +
  `"replyHash":"${"b".repeat(64)}","requestHash":"${"a".repeat(64)}","usage":{"completionTokens":34,"promptTokens":12},` +
  `"v":1,"workerId":"${WORKER_ID}"},"signature":"c2lnbmF0dXJl"}`;
const DOMAIN = "cocoon/v1/receipt-leaf\n";

// Pinned once from the layout above (sha256(0x00 || utf8(DOMAIN + canonical))): a change of the
// domain string, the encoding or the field set changes every anchored root and must be deliberate.
const KAT_LEAF_0 = "4aa1f5b2613f5f4572b9e21873d8b4ea576d9ee5d813a28cd7728379157e5178";
const KAT_ROOT_3 = "275b2620475ecba071a179936e62d75f379b8ba61cde94a7cda5d6d88db9a522";
const KAT_ROOT_5 = "a20a4e819cf62ce2791d02f1a2a50316ca4b35e5e17d15d120b2018f3247106e";

describe("receipt leaf: known-answer vectors", () => {
  it("the leaf data is the domain string 'cocoon/v1/receipt-leaf\\n' then canonical JSON of {body, signature}, UTF-8", () => {
    // Prepare
    const receipt = fixedReceipt(1_764_000_000_000);

    // Act
    const data = receiptLeafData(receipt);

    // Assess
    expect(RECEIPT_LEAF_PREFIX).toBe(DOMAIN);
    expect(hex(data)).toBe(hex(utf8(DOMAIN + fixedCanonical(1_764_000_000_000))));
  });

  it("the leaf hash is SHA-256(0x00 || leaf data), equal to the pinned vector", () => {
    // Prepare
    const receipt = fixedReceipt(1_764_000_000_000);
    const expected = refLeaf(utf8(DOMAIN + fixedCanonical(1_764_000_000_000)));

    // Act
    const leaf = receiptLeafHash(receipt);

    // Assess
    expect(hex(leaf)).toBe(hex(expected));
    expect(hex(leaf)).toBe(KAT_LEAF_0);
  });

  it("a receipt leaf hash differs from the bare canonical JSON's leaf hash (the domain string is in the preimage)", () => {
    // Prepare
    const receipt = fixedReceipt(1_764_000_000_000);

    // Act
    const leaf = receiptLeafHash(receipt);

    // Assess
    expect(hex(leaf)).not.toBe(hex(refLeaf(utf8(fixedCanonical(1_764_000_000_000)))));
  });

  it("the root of 3 receipts is node(node(l0, l1), l2) and of 5 is node(node(node(l0,l1), node(l2,l3)), l4), equal to the pinned vectors", () => {
    // Prepare
    const receipts = [0, 1, 2, 3, 4].map((i) => fixedReceipt(1_764_000_000_000 + i));
    const l = receipts.map((r) => refLeaf(utf8(DOMAIN + fixedCanonical(r.body.finishedAt))));
    const expected3 = refNode(refNode(l[0]!, l[1]!), l[2]!);
    const expected5 = refNode(refNode(refNode(l[0]!, l[1]!), refNode(l[2]!, l[3]!)), l[4]!);

    // Act
    const root3 = merkleRoot(receipts.slice(0, 3).map(receiptLeafHash));
    const root5 = merkleRoot(receipts.map(receiptLeafHash));

    // Assess
    expect(hex(root3)).toBe(hex(expected3));
    expect(hex(root5)).toBe(hex(expected5));
    expect(hex(root3)).toBe(KAT_ROOT_3);
    expect(hex(root5)).toBe(KAT_ROOT_5);
  });

  it("leafHash is SHA-256(0x00 || data), nodeHash SHA-256(0x01 || left || right), the empty root SHA-256 of nothing", () => {
    // Prepare
    const a = filled(0x11);
    const b = filled(0x22);

    // Act
    const leaf = leafHash(utf8("abc"));
    const node = nodeHash(a, b);

    // Assess
    expect(hex(leaf)).toBe(hex(refLeaf(utf8("abc"))));
    expect(hex(node)).toBe(hex(refNode(a, b)));
    expect(hex(node)).not.toBe(hex(refNode(b, a)));
    expect(hex(EMPTY_ROOT)).toBe(hex(sha256()));
  });
});

// ---------------------------------------------------------------- verification refusals
describe("audit-path verification refuses what cannot be leaf `index` of a tree of `treeSize`", () => {
  const leaves = someLeaves(6, 1);
  const root = merkleRoot(leaves);
  const index = 2;
  const path = auditPath(leaves, index);
  const leaf = leaves[index]!;

  it("control: the honest path of leaf 2 in a tree of 6 leads to the root", () => {
    // Act
    const r = rootFromAuditPath(leaf, index, 6, path);

    // Assess
    expect(r && hex(r)).toBe(hex(root));
    expect(verifyInclusion(leaf, index, 6, path, root)).toBe(true);
  });

  it.each([
    ["negative", -1, 6],
    ["non-integer", 1.5, 6],
    ["NaN", Number.NaN, 6],
    ["equal to the tree size", 6, 6],
    ["beyond the tree size", 7, 6],
    ["in a tree of non-integer size", 2, 6.5],
    ["in an empty tree", 0, 0],
  ])("refuses an index that is %s", (_what, i, size) => {
    // Act
    const r = rootFromAuditPath(leaf, i, size, path);

    // Assess
    expect(r).toBeNull();
    expect(verifyInclusion(leaf, i, size, path, root)).toBe(false);
  });

  it.each([31, 33, 0])("refuses a path element of %i bytes, even against the root it would lead to", (n) => {
    // Prepare: replace the first sibling with one of the wrong length, and compute the root that
    // sibling would give if it were hashed in anyway (leaf 2 is a left child: node(leaf, sibling)).
    const bad = filled(0x5a, n);
    const forged = [bad, ...path.slice(1)];
    const forgedRoot = refNode(refNode(path[1]!, refNode(leaf, bad)), path[2]!);

    // Act
    const r = rootFromAuditPath(leaf, index, 6, forged);

    // Assess
    expect(path).toHaveLength(3);
    expect(r).toBeNull();
    expect(verifyInclusion(leaf, index, 6, forged, forgedRoot)).toBe(false);
  });

  it.each([31, 33])("refuses a leaf of %i bytes, even against the root it would lead to", (n) => {
    // Prepare: a two-leaf tree whose first "leaf" has the wrong length
    const bad = filled(0x3c, n);
    const sibling = filled(0x4d);
    const forgedRoot = refNode(bad, sibling);

    // Act
    const r = rootFromAuditPath(bad, 0, 2, [sibling]);

    // Assess
    expect(r).toBeNull();
    expect(verifyInclusion(bad, 0, 2, [sibling], forgedRoot)).toBe(false);
  });

  it("refuses a path one element too long, even against the root that extra element leads to", () => {
    // Prepare: the extra element is a left sibling of the true root
    const extra = filled(0x77);
    const longer = [...path, extra];
    const forgedRoot = refNode(extra, root);

    // Act
    const r = rootFromAuditPath(leaf, index, 6, longer);

    // Assess
    expect(r).toBeNull();
    expect(verifyInclusion(leaf, index, 6, longer, forgedRoot)).toBe(false);
  });

  it("refuses a path one element too short, even against the subtree root it leads to", () => {
    // Prepare: without its last element the path stops at the root of leaves 0..3
    const shorter = path.slice(0, -1);
    const subRoot = merkleRoot(leaves.slice(0, 4));

    // Act
    const r = rootFromAuditPath(leaf, index, 6, shorter);

    // Assess
    expect(r).toBeNull();
    expect(verifyInclusion(leaf, index, 6, shorter, subRoot)).toBe(false);
  });

  it.each([31, 33, 0])("refuses a root of %i bytes", (n) => {
    // Prepare: a root that starts with the true root's bytes
    const bad = new Uint8Array(n);
    bad.set(root.subarray(0, Math.min(n, HASH_BYTES)));

    // Act
    const ok = verifyInclusion(leaf, index, 6, path, bad);

    // Assess
    expect(ok).toBe(false);
  });
});

describe("boundary tree shapes", () => {
  it("every leaf of trees of 1..9 leaves verifies, and the same path with one element more or less does not", () => {
    for (let n = 1; n <= 9; n++) {
      // Prepare
      const leaves = someLeaves(n, 2);
      const root = merkleRoot(leaves);
      for (let i = 0; i < n; i++) {
        const path = auditPath(leaves, i);

        // Act
        const r = rootFromAuditPath(leaves[i]!, i, n, path);
        const longer = rootFromAuditPath(leaves[i]!, i, n, [...path, root]);
        const shorter = path.length > 0 ? rootFromAuditPath(leaves[i]!, i, n, path.slice(0, -1)) : null;

        // Assess
        expect(r && hex(r), `size ${n} index ${i}`).toBe(hex(root));
        expect(verifyInclusion(leaves[i]!, i, n, path, root), `size ${n} index ${i}`).toBe(true);
        expect(path.length, `size ${n} index ${i}`).toBe(auditPathLength(i, n));
        expect(longer, `size ${n} index ${i} longer`).toBeNull();
        expect(shorter, `size ${n} index ${i} shorter`).toBeNull();
      }
    }
  });

  it("a one-leaf tree's root is its leaf, with an empty path; any path element is refused", () => {
    // Prepare
    const [leaf] = someLeaves(1, 3);

    // Act
    const r = rootFromAuditPath(leaf!, 0, 1, []);
    const extra = rootFromAuditPath(leaf!, 0, 1, [filled(0x01)]);

    // Assess
    expect(hex(merkleRoot([leaf!]))).toBe(hex(leaf!));
    expect(r && hex(r)).toBe(hex(leaf!));
    expect(extra).toBeNull();
    expect(verifyInclusion(leaf!, 0, 1, [filled(0x01)], refNode(filled(0x01), leaf!))).toBe(false);
  });
});

// ---------------------------------------------------------------- construction refusals
describe("building audit paths refuses positions outside the tree", () => {
  it.each([
    ["negative", -1],
    ["non-integer", 1.5],
    ["equal to the size", 4],
  ])("auditPathFromLevels refuses an index that is %s with index_out_of_range", (_what, i) => {
    // Prepare
    const levels = merkleLevels(someLeaves(4, 4));

    // Act
    const act = () => auditPathFromLevels(levels, i);

    // Assess
    expect(act).toThrow(MerkleInputError);
    expect(act).toThrow(expect.objectContaining({ code: "index_out_of_range", message: `leaf index ${i} is outside a tree of 4 leaves` }));
  });

  it("auditPathFromLevels over no levels at all refuses with index_out_of_range (size 0), not a TypeError", () => {
    // Act
    const act = () => auditPathFromLevels([], 0);

    // Assess
    expect(act).toThrow(expect.objectContaining({ code: "index_out_of_range", message: "leaf index 0 is outside a tree of 0 leaves" }));
  });

  it.each([
    ["negative", -1, 4],
    ["non-integer", 1.5, 4],
    ["equal to the size", 4, 4],
    ["beyond the size", 5, 4],
    ["in an empty tree", 0, 0],
  ])("auditPathLength refuses an index that is %s with index_out_of_range", (_what, i, size) => {
    // Act
    const act = () => auditPathLength(i, size);

    // Assess
    expect(act).toThrow(MerkleInputError);
    expect(act).toThrow(
      expect.objectContaining({ code: "index_out_of_range", message: `leaf index ${i} is outside a tree of ${size} leaves` }),
    );
  });

  it("auditPathLength of the last index is the path's length (the boundary just inside)", () => {
    // Act
    const n = auditPathLength(3, 4);
    const m = auditPathLength(4, 5);

    // Assess
    expect(n).toBe(2);
    expect(m).toBe(1);
  });
});

describe("tree levels", () => {
  it("levels[0] is a copy: changing the caller's array afterwards leaves the tree as built", () => {
    // Prepare
    const leaves = someLeaves(3, 5);
    const levels = merkleLevels(leaves);
    const before = levels[0]!.map(hex);

    // Act
    leaves.push(filled(0x99));
    leaves[0] = filled(0x98);

    // Assess
    expect(levels[0]).not.toBe(leaves);
    expect(levels[0]!.map(hex)).toEqual(before);
  });

  it("a node that is not a 32-byte hash is refused with bad_hash_length, naming its length", () => {
    // Act
    const short = () => merkleLevels([filled(0x01), filled(0x02, 31)]);
    const missing = () => merkleRoot([undefined as unknown as Uint8Array]);

    // Assess
    expect(short).toThrow(
      expect.objectContaining({ code: "bad_hash_length", message: "a tree node is a 32-byte SHA-256 hash, got 31 bytes" }),
    );
    expect(missing).toThrow(MerkleInputError);
    expect(missing).toThrow(expect.objectContaining({ code: "bad_hash_length" }));
  });
});
