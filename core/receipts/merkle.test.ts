import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { signReceipt } from "../crypto/receipt";
import { makeReceiptBody, makeWorker } from "../crypto/testing";
import {
  auditPath,
  auditPathLength,
  EMPTY_ROOT,
  leafHash,
  MerkleInputError,
  merkleRoot,
  nodeHash,
  receiptLeafHash,
  rootFromAuditPath,
  verifyInclusion,
} from "./merkle";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));

// ---------------------------------------------------------------- published RFC 6962 vectors
// Source: the Certificate Transparency reference test vectors, as carried by
// github.com/transparency-dev/merkle proof/verify_test.go (`leaves`, `roots`,
// `inclusionProofs`; originally google/certificate-transparency cpp merkle_tree_test.cc).
// The inclusion vectors there use 1-based leaf numbers; they are converted to 0-based here.
const CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"].map(unhex);
const CT_EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const CT_ROOTS = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
const CT_INCLUSION: Array<{ index: number; size: number; path: string[] }> = [
  { index: 0, size: 1, path: [] },
  {
    index: 0,
    size: 8,
    path: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  },
  {
    index: 5,
    size: 8,
    path: [
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
  { index: 2, size: 3, path: ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"] },
  {
    index: 1,
    size: 5,
    path: [
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  },
];
const CT_LEAF_HASHES = CT_LEAVES.map(leafHash);

/** RFC 6962 MTH written straight from the recursive definition, as an independent reference. */
function referenceRoot(d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return createHash("sha256").digest();
  if (d.length === 1) return d[0]!;
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return nodeHash(referenceRoot(d.slice(0, k)), referenceRoot(d.slice(k)));
}

function someLeaves(n: number, salt = 0): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => leafHash(Uint8Array.of(salt, i & 0xff, i >> 8)));
}

describe("merkle tree (RFC 6962)", () => {
  it("matches the published CT roots for trees of 0..8 leaves", () => {
    // Act
    const roots = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((n) => hex(merkleRoot(CT_LEAF_HASHES.slice(0, n))));
    // Assess
    expect(roots).toEqual([CT_EMPTY_ROOT, ...CT_ROOTS]);
    expect(hex(EMPTY_ROOT)).toBe(CT_EMPTY_ROOT);
  });

  it.each(CT_INCLUSION)("builds and verifies the published audit path of leaf $index in a tree of $size", ({ index, size, path }) => {
    // Prepare
    const leaves = CT_LEAF_HASHES.slice(0, size);
    const root = unhex(CT_ROOTS[size - 1]!);
    // Act
    const built = auditPath(leaves, index);
    // Assess
    expect(built.map(hex)).toEqual(path);
    expect(verifyInclusion(CT_LEAF_HASHES[index]!, index, size, path.map(unhex), root)).toBe(true);
  });

  it("equals the recursive RFC 6962 definition for every size 1..70, and every leaf's proof verifies", () => {
    for (let n = 1; n <= 70; n++) {
      const leaves = someLeaves(n);
      const root = merkleRoot(leaves);
      expect(hex(root), `size ${n}`).toBe(hex(referenceRoot(leaves)));
      for (let i = 0; i < n; i++) {
        const path = auditPath(leaves, i);
        expect(path.length, `size ${n} index ${i}`).toBe(auditPathLength(i, n));
        expect(verifyInclusion(leaves[i]!, i, n, path, root), `size ${n} index ${i}`).toBe(true);
      }
    }
  });

  it("a proof is bound to its leaf position (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.nat(), fc.integer({ min: -3, max: 3 }), (n, rawIndex, di) => {
        fc.pre(di !== 0);
        const leaves = someLeaves(n, 7);
        const index = rawIndex % n;
        // The same leaf and proof claimed at another position of the same tree never verify.
        // (Tree size is not re-checked here: it comes from the same anchor as the root.)
        expect(verifyInclusion(leaves[index]!, index + di, n, auditPath(leaves, index), merkleRoot(leaves))).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  describe("tampering fails (the CT verifier's corruption probes)", () => {
    const leaves = someLeaves(13, 3);
    const root = merkleRoot(leaves);
    const index = 6;
    const path = auditPath(leaves, index);
    const leaf = leaves[index]!;
    const flip = (b: Uint8Array) => {
      const c = Uint8Array.from(b);
      c[0]! ^= 8;
      return c;
    };
    const probes: Array<[string, () => boolean]> = [
      ["wrong leaf", () => verifyInclusion(flip(leaf), index, 13, path, root)],
      ["wrong root", () => verifyInclusion(leaf, index, 13, path, flip(root))],
      ["empty root", () => verifyInclusion(leaf, index, 13, path, EMPTY_ROOT)],
      ["short root", () => verifyInclusion(leaf, index, 13, path, root.subarray(0, 31))],
      ["trailing element", () => verifyInclusion(leaf, index, 13, [...path, root], root)],
      ["preceding element", () => verifyInclusion(leaf, index, 13, [root, ...path], root)],
      ["removed element", () => verifyInclusion(leaf, index, 13, path.slice(0, -1), root)],
      ["flipped element", () => verifyInclusion(leaf, index, 13, [path[0]!, flip(path[1]!), ...path.slice(2)], root)],
      ["element of wrong size", () => verifyInclusion(leaf, index, 13, [path[0]!.subarray(0, 31), ...path.slice(1)], root)],
      ["index beyond size", () => verifyInclusion(leaf, 13, 13, path, root)],
      ["size * 2", () => verifyInclusion(leaf, index, 26, path, root)],
      ["size / 2", () => verifyInclusion(leaf, index, 6, path, root)],
      ["negative index", () => verifyInclusion(leaf, -1, 13, path, root)],
      ["size 0", () => verifyInclusion(leaf, 0, 0, [], EMPTY_ROOT)],
      ["fractional index", () => verifyInclusion(leaf, 6.5, 13, path, root)],
    ];
    it.each(probes)("%s", (_name, probe) => {
      expect(probe()).toBe(false);
    });

    it("control: the untampered proof verifies", () => {
      expect(verifyInclusion(leaf, index, 13, path, root)).toBe(true);
    });

    it("an inner node's children cannot be passed off as one leaf's data (second preimage)", () => {
      // Without the 0x00/0x01 prefixes, the data leaf0||leaf1 would hash to the inner node
      // above leaves 0 and 1, and would verify as leaf 0 of the 7-node level above.
      const data = Buffer.concat([leaves[0]!, leaves[1]!]);
      const pathAbove = auditPath(leaves, 0).slice(1);
      expect(rootFromAuditPath(nodeHash(leaves[0]!, leaves[1]!), 0, 7, pathAbove)).toEqual(root); // control: the inner node does lead to the root
      expect(verifyInclusion(leafHash(data), 0, 7, pathAbove, root)).toBe(false);
    });
  });

  it("an odd leaf is not duplicated: [a,b,c] and [a,b,c,c] have different roots", () => {
    const [a, b, c] = someLeaves(3);
    expect(hex(merkleRoot([a!, b!, c!]))).not.toBe(hex(merkleRoot([a!, b!, c!, c!])));
  });

  it("refuses to build a proof outside the tree, and hashes that are not 32 bytes", () => {
    expect(() => auditPath(someLeaves(4), 4)).toThrow(MerkleInputError);
    expect(() => auditPath([], 0)).toThrow(expect.objectContaining({ code: "index_out_of_range" }));
    expect(() => merkleRoot([new Uint8Array(31)])).toThrow(expect.objectContaining({ code: "bad_hash_length" }));
  });
});

describe("receipts as leaves", () => {
  const worker = makeWorker();
  const receipts = Array.from({ length: 11 }, (_, i) =>
    signReceipt(makeReceiptBody(worker, { finishedAt: 1_764_000_000_000 + i }), worker.signing),
  );
  const leaves = receipts.map(receiptLeafHash);
  const root = merkleRoot(leaves);

  it("every receipt's inclusion proof verifies against the batch root", () => {
    for (let i = 0; i < receipts.length; i++) {
      expect(verifyInclusion(receiptLeafHash(receipts[i]!), i, receipts.length, auditPath(leaves, i), root)).toBe(true);
    }
  });

  it("the leaf does not depend on key order, nor on extra properties of the object", () => {
    const r = receipts[3]!;
    const reordered = { signature: r.signature, body: Object.fromEntries(Object.entries(r.body).reverse()) as typeof r.body, extra: "x" };
    expect(hex(receiptLeafHash(reordered))).toBe(hex(leaves[3]!));
  });

  const alterations: Array<[string, (r: (typeof receipts)[number]) => (typeof receipts)[number]]> = [
    ["usage", (r) => ({ ...r, body: { ...r.body, usage: { ...r.body.usage, completionTokens: r.body.usage.completionTokens + 1 } } })],
    ["jobId", (r) => ({ ...r, body: { ...r.body, jobId: receipts[0]!.body.jobId } })],
    ["replyHash", (r) => ({ ...r, body: { ...r.body, replyHash: "c".repeat(64) } })],
    ["signature", (r) => ({ ...r, signature: receipts[0]!.signature })],
  ];
  it.each(alterations)("an altered receipt (%s) fails against the anchored root", (_what, alter) => {
    const i = 4;
    // Even with the honest proof of its position, the altered receipt does not verify.
    expect(verifyInclusion(receiptLeafHash(alter(receipts[i]!)), i, receipts.length, auditPath(leaves, i), root)).toBe(false);
  });

  it("dropping a receipt changes the root: proofs from the shortened batch fail against the anchored root", () => {
    for (let drop = 0; drop < receipts.length; drop++) {
      const shortened = leaves.filter((_, i) => i !== drop);
      expect(hex(merkleRoot(shortened))).not.toBe(hex(root));
      for (let i = 0; i < shortened.length; i++) {
        expect(verifyInclusion(shortened[i]!, i, shortened.length, auditPath(shortened, i), root)).toBe(false);
      }
    }
  });

  it("reordering two receipts changes the root, and neither moved receipt verifies at its new position", () => {
    const swapped = leaves.slice();
    [swapped[2], swapped[7]] = [swapped[7]!, swapped[2]!];
    expect(hex(merkleRoot(swapped))).not.toBe(hex(root));
    expect(verifyInclusion(swapped[2]!, 2, swapped.length, auditPath(swapped, 2), root)).toBe(false);
    expect(verifyInclusion(swapped[7]!, 7, swapped.length, auditPath(swapped, 7), root)).toBe(false);
  });
});
