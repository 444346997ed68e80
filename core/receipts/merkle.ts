/**
 * Merkle tree over receipts, exactly as RFC 6962 §2.1 (Certificate Transparency) defines it,
 * so any CT tooling can check our proofs:
 *
 *   MTH({})      = SHA-256()
 *   leaf hash    = SHA-256(0x00 || data)
 *   node hash    = SHA-256(0x01 || left || right)
 *   MTH(D[n])    = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n
 *
 * The 0x00/0x01 prefixes keep a leaf from ever passing for an inner node (second-preimage),
 * and an odd node is carried up a level unchanged instead of being paired with a copy of
 * itself, so [a, b, c] and [a, b, c, c] have different roots (the duplication attack on
 * Bitcoin-style trees does not apply).
 *
 * Proofs are audit paths (RFC 6962 §2.1.1) and verification is RFC 9162 §2.1.3.2, which binds
 * the leaf index and the tree size: a proof for one position never verifies at another.
 *
 * Pure functions over bytes; node:crypto only for SHA-256.
 */
import { createHash } from "node:crypto";
import type { Receipt } from "../../events/envelope";
import { canonicalJson } from "../crypto/encoding";

export const HASH_BYTES = 32;

/** Why a proof could not be built (never thrown by verification, which answers false). */
export class MerkleInputError extends Error {
  constructor(
    readonly code: "index_out_of_range" | "bad_hash_length",
    message: string,
  ) {
    super(message);
    this.name = "MerkleInputError";
  }
}

const LEAF = Uint8Array.of(0x00);
const NODE = Uint8Array.of(0x01);

export function leafHash(data: Uint8Array): Uint8Array {
  return createHash("sha256").update(LEAF).update(data).digest();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return createHash("sha256").update(NODE).update(left).update(right).digest();
}

/** Root of the empty tree: SHA-256 of the empty string. */
export const EMPTY_ROOT: Uint8Array = createHash("sha256").digest();

/**
 * All levels of the tree, bottom-up: levels[0] are the leaf hashes, the last level holds the
 * root alone. An odd last node moves up unchanged, which yields exactly RFC 6962's split at
 * the largest power of two (the tests check this against the recursive definition).
 */
export function merkleLevels(leafHashes: readonly Uint8Array[]): Uint8Array[][] {
  for (const h of leafHashes) assertHash(h);
  const levels: Uint8Array[][] = [leafHashes.slice()];
  let cur = levels[0]!;
  while (cur.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < cur.length; i += 2) next.push(i + 1 < cur.length ? nodeHash(cur[i]!, cur[i + 1]!) : cur[i]!);
    levels.push(next);
    cur = next;
  }
  return levels;
}

export function merkleRoot(leafHashes: readonly Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return EMPTY_ROOT;
  const levels = merkleLevels(leafHashes);
  return levels[levels.length - 1]![0]!;
}

/** Audit path of leaf `index` from precomputed levels (siblings bottom-up). */
export function auditPathFromLevels(levels: readonly (readonly Uint8Array[])[], index: number): Uint8Array[] {
  const size = levels[0]?.length ?? 0;
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new MerkleInputError("index_out_of_range", `leaf index ${index} is outside a tree of ${size} leaves`);
  }
  const path: Uint8Array[] = [];
  let i = index;
  for (let l = 0; l < levels.length - 1; l++) {
    const level = levels[l]!;
    const sibling = i ^ 1;
    if (sibling < level.length) path.push(level[sibling]!);
    i = Math.floor(i / 2);
  }
  return path;
}

/** Audit path of leaf `index` in the tree over `leafHashes` (RFC 6962 PATH(m, D[n])). */
export function auditPath(leafHashes: readonly Uint8Array[], index: number): Uint8Array[] {
  return auditPathFromLevels(merkleLevels(leafHashes), index);
}

/**
 * The root an audit path leads to (RFC 9162 §2.1.3.2), or null when the path cannot belong to
 * leaf `index` of a tree of `treeSize` leaves (wrong length, index out of range, bad hash size).
 */
export function rootFromAuditPath(leaf: Uint8Array, index: number, treeSize: number, path: readonly Uint8Array[]): Uint8Array | null {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(treeSize) || index < 0 || index >= treeSize) return null;
  if (leaf.length !== HASH_BYTES) return null;
  let fn = index;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of path) {
    if (p.length !== HASH_BYTES || sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        // fn is the last node of its level and has no right sibling: climb until it is a right child.
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

/** True when `path` proves that `leaf` is leaf `index` of the tree of `treeSize` leaves with root `root`. */
export function verifyInclusion(leaf: Uint8Array, index: number, treeSize: number, path: readonly Uint8Array[], root: Uint8Array): boolean {
  const r = rootFromAuditPath(leaf, index, treeSize, path);
  return r !== null && root.length === HASH_BYTES && Buffer.from(r).equals(Buffer.from(root));
}

/** Number of hashes in the audit path of `index` in a tree of `treeSize` leaves (without building it). */
export function auditPathLength(index: number, treeSize: number): number {
  if (!Number.isSafeInteger(index) || index < 0 || index >= treeSize) {
    throw new MerkleInputError("index_out_of_range", `leaf index ${index} is outside a tree of ${treeSize} leaves`);
  }
  let n = 0;
  let i = index;
  let size = treeSize;
  while (size > 1) {
    if ((i ^ 1) < size) n++;
    i = Math.floor(i / 2);
    size = Math.ceil(size / 2);
  }
  return n;
}

// ---------------------------------------------------------------- receipts as leaves
/** Domain tag in front of the canonical receipt, so a receipt leaf cannot be confused with any other hashed object of ours. */
export const RECEIPT_LEAF_PREFIX = "cocoon/v1/receipt-leaf\n";

/**
 * Leaf data of a receipt: the tag, then canonical JSON of exactly {body, signature} (the
 * worker-signed receipt; other properties an object may carry are not part of it). The
 * signature is inside, so a leaf proves the worker signed this body, not only that the
 * coordinator logged it.
 */
export function receiptLeafData(receipt: Receipt): Uint8Array {
  return Buffer.from(RECEIPT_LEAF_PREFIX + canonicalJson({ body: receipt.body, signature: receipt.signature }), "utf8");
}

export function receiptLeafHash(receipt: Receipt): Uint8Array {
  return leafHash(receiptLeafData(receipt));
}

function assertHash(h: Uint8Array): void {
  if (!(h instanceof Uint8Array) || h.length !== HASH_BYTES) {
    throw new MerkleInputError("bad_hash_length", `a tree node is a ${HASH_BYTES}-byte SHA-256 hash, got ${h?.length ?? typeof h} bytes`);
  }
}
