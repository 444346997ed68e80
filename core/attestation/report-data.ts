import { createHash } from "node:crypto";

/**
 * The 64 bytes of TDX REPORTDATA a worker puts in its quote (and a dev report in its `reportData`):
 * what ties the evidence to the worker's keys, the verifier's nonce and, from v2 on, the rest of
 * the attestation document.
 *
 * v1: SHA-512(hpkePublicKey || signingPublicKey || nonce). Binds the worker's X25519 (HPKE) and
 *     Ed25519 keys to the coordinator's (or requester's) nonce. Keys are fixed-size (32 bytes
 *     each) and the nonce is last, so the concatenation is unambiguous. The document's `issuedAt`
 *     and `modelDigests` are outside it: whoever relays the document (the coordinator) can change
 *     them.
 * v2: SHA-512 over REPORT_DATA_V2_TAG and those three, plus `issuedAt` and the model digests, in
 *     the encoding of {@link reportDataV2Preimage}. A document saying `reportDataVersion: 2` whose
 *     digests or issuedAt were changed after quoting no longer matches its quote.
 *
 * v1 and v2 cannot be confused: a v2 preimage starts with the 26-byte tag, so read as v1 its
 * "HPKE key" would be the tag and 6 bytes after it — a key no worker generated (an honest key is
 * 32 random bytes) and whose private key nobody knows; and a v1 preimage read as v2 would need an
 * honest HPKE key to begin with the tag. Either way the verifier recomputes the hash of the version
 * the document names, so a document relabelled to the other version fails `report_data_mismatch`.
 */

/** Domain tag of report data v2 (NUL-terminated: no other tag of ours is a prefix of it or has it as one). */
export const REPORT_DATA_V2_TAG: Uint8Array = new TextEncoder().encode("cocoon/tdx-report-data/v2\u0000");

/** The report data versions this code produces and verifies (AttestationDoc.reportDataVersion; absent = 1). */
export const REPORT_DATA_VERSIONS = [1, 2] as const;
export type ReportDataVersion = (typeof REPORT_DATA_VERSIONS)[number];

/** Inputs the report data cannot be computed from (wrong key size, an issuedAt outside u64, a name that is not well-formed UTF-16). */
export class ReportDataError extends RangeError {
  override readonly name = "ReportDataError";
  readonly code = "report_data_input_invalid";
}

function checkKeys(hpkePublicKey: Uint8Array, signingPublicKey: Uint8Array): void {
  if (hpkePublicKey.length !== 32 || signingPublicKey.length !== 32) {
    throw new ReportDataError("reportData: hpkePublicKey and signingPublicKey must be 32 bytes each");
  }
}

/** v1: SHA-512(hpkePublicKey || signingPublicKey || nonce), 64 bytes. */
export function reportData(hpkePublicKey: Uint8Array, signingPublicKey: Uint8Array, nonce: Uint8Array): Uint8Array {
  checkKeys(hpkePublicKey, signingPublicKey);
  return new Uint8Array(createHash("sha512").update(hpkePublicKey).update(signingPublicKey).update(nonce).digest());
}

export interface ReportDataV2Input {
  hpkePublicKey: Uint8Array;
  signingPublicKey: Uint8Array;
  nonce: Uint8Array;
  /** ms since epoch, as the document states it */
  issuedAt: number;
  /** model name → weight digest, exactly as the document states them; absent and {} encode alike (the verifier treats them alike) */
  modelDigests?: Record<string, string>;
}

/** A lone surrogate: with the u flag a well-formed pair is one code point, so only unpaired halves match. */
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * UTF-8 of `s`, refusing strings that are not well-formed UTF-16: UTF-8 encoders turn every lone
 * surrogate into U+FFFD, so "\uD800" and "\uDBFF" would encode alike and the encoding would not
 * be injective.
 */
function strictUtf8(s: string, what: string): Uint8Array {
  if (LONE_SURROGATE.test(s)) throw new ReportDataError(`reportData: ${what} is not well-formed UTF-16 (a lone surrogate)`);
  return Buffer.from(s, "utf8");
}

/**
 * The bytes v2 hashes:
 *
 *   REPORT_DATA_V2_TAG (26 bytes, "cocoon/tdx-report-data/v2\0")
 *   || hpkePublicKey (32) || signingPublicKey (32)
 *   || u32be(len nonce) || nonce
 *   || u64be(issuedAt)
 *   || u32be(N) || N × ( u32be(len name) || name || u32be(len digest) || digest )
 *
 * names and digests as UTF-8, the entries sorted by the bytes of their name (unsigned, shorter
 * first on a common prefix). Why this is unambiguous (one byte string ↔ one input): the tag and
 * the keys are fixed-width; every variable-length field is preceded by its length, and the number
 * of entries precedes them, so a reader going left to right knows where each field ends and where
 * the string ends. Each field maps back to exactly one value: UTF-8 of well-formed strings is
 * injective (lone surrogates are refused, see strictUtf8), issuedAt is a safe non-negative
 * integer, and the names of a map are distinct, so sorting them gives one order whatever order
 * the object lists them in. Nothing is lower-cased or trimmed: a digest changed only in case is
 * a change.
 */
export function reportDataV2Preimage(i: ReportDataV2Input): Uint8Array {
  checkKeys(i.hpkePublicKey, i.signingPublicKey);
  if (!Number.isSafeInteger(i.issuedAt) || i.issuedAt < 0) {
    throw new ReportDataError(`reportData: issuedAt must be a non-negative safe integer (ms since epoch), got ${i.issuedAt}`);
  }
  const entries = Object.entries(i.modelDigests ?? {}).map(([name, digest]) => ({
    name: strictUtf8(name, "a model name"),
    digest: strictUtf8(digest, `the digest of model ${JSON.stringify(name)}`),
  }));
  entries.sort((a, b) => Buffer.compare(a.name, b.name));
  // One buffer of the exact size, written in place: this runs on every verification.
  let size = REPORT_DATA_V2_TAG.length + 32 + 32 + 4 + i.nonce.length + 8 + 4;
  for (const e of entries) size += 4 + e.name.length + 4 + e.digest.length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let at = 0;
  const put = (b: Uint8Array) => {
    out.set(b, at);
    at += b.length;
  };
  const u32 = (n: number) => {
    dv.setUint32(at, n, false);
    at += 4;
  };
  put(REPORT_DATA_V2_TAG);
  put(i.hpkePublicKey);
  put(i.signingPublicKey);
  u32(i.nonce.length);
  put(i.nonce);
  dv.setBigUint64(at, BigInt(i.issuedAt), false);
  at += 8;
  u32(entries.length);
  for (const e of entries) {
    u32(e.name.length);
    put(e.name);
    u32(e.digest.length);
    put(e.digest);
  }
  return out;
}

/** v2: SHA-512(reportDataV2Preimage(input)), 64 bytes. */
export function reportDataV2(i: ReportDataV2Input): Uint8Array {
  return new Uint8Array(createHash("sha512").update(reportDataV2Preimage(i)).digest());
}

/** The report data of `version` for a document's fields (v1 ignores issuedAt and the digests). */
export function reportDataFor(version: ReportDataVersion, i: ReportDataV2Input): Uint8Array {
  return version === 2 ? reportDataV2(i) : reportData(i.hpkePublicKey, i.signingPublicKey, i.nonce);
}
