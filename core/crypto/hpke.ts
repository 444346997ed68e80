/**
 * RFC 9180 HPKE, Base mode only, composed from node:crypto primitives:
 *   KEM  DHKEM(X25519, HKDF-SHA256)  0x0020  (X25519 via crypto.diffieHellman)
 *   KDF  HKDF-SHA256                 0x0001  (HMAC-SHA256 via crypto.createHmac)
 *   AEAD AES-128-GCM                 0x0001  (crypto.createCipheriv)
 *        ChaCha20-Poly1305           0x0003  (crypto.createCipheriv)
 * Checked against every RFC 9180 Appendix A vector for these suites and differentially
 * against @hpke/core (see hpke.test.ts).
 */
import { createCipheriv, createDecipheriv, createHmac, type KeyObject } from "node:crypto";
import { asBuffer, bytesEqual, toBytes } from "./encoding";
import { CryptoInputError, HpkeOpenError } from "./errors";
import { generateKemKey, kemKeyFromPrivate, x25519, x25519PublicKeyObject, x25519PublicKeyObjectOnce, type KemKeyPair } from "./keys";

export type HpkeAead = "chacha20-poly1305" | "aes-128-gcm";
export const DEFAULT_AEAD: HpkeAead = "chacha20-poly1305";

export const KEM_ID = 0x0020;
export const KDF_ID = 0x0001;
export const AEAD_IDS: Record<HpkeAead, number> = { "aes-128-gcm": 0x0001, "chacha20-poly1305": 0x0003 };

/** The AEAD name for an RFC 9180 AEAD id (1 or 3). */
export function aeadFromId(id: number): HpkeAead {
  if (id === 0x0001) return "aes-128-gcm";
  if (id === 0x0003) return "chacha20-poly1305";
  throw new CryptoInputError("unsupported_aead", `AEAD id ${id} is not supported; use 1 (AES-128-GCM) or 3 (ChaCha20-Poly1305)`);
}

interface AeadParams {
  readonly id: number;
  readonly nk: number;
  readonly cipher: "aes-128-gcm" | "chacha20-poly1305";
  /** suite_id = "HPKE" || kem_id || kdf_id || aead_id */
  readonly suiteId: Buffer;
}
const AEADS: Record<HpkeAead, AeadParams> = {
  "aes-128-gcm": { id: 0x0001, nk: 16, cipher: "aes-128-gcm", suiteId: hpkeSuiteId(0x0001) },
  "chacha20-poly1305": { id: 0x0003, nk: 32, cipher: "chacha20-poly1305", suiteId: hpkeSuiteId(0x0003) },
};
function aeadParams(aead: HpkeAead | undefined): AeadParams {
  const p = AEADS[aead ?? DEFAULT_AEAD];
  if (!p) throw new CryptoInputError("unsupported_aead", `AEAD ${String(aead)} is not supported; use "chacha20-poly1305" or "aes-128-gcm"`);
  return p;
}

const NN = 12; // nonce length, both AEADs
const NT = 16; // tag length, both AEADs
const NH = 32; // SHA-256 output
const NPK = 32; // X25519 public key / enc length
const MODE_BASE = 0x00;

// ---------------------------------------------------------------------------------------
// Labeled HKDF (RFC 9180 §4)
// ---------------------------------------------------------------------------------------

const HPKE_V1 = Buffer.from("HPKE-v1", "latin1");
const EMPTY = Buffer.alloc(0);
const ONE = Buffer.of(1);

function i2osp2(n: number): Buffer {
  return Buffer.of(n >> 8, n & 0xff);
}

const KEM_SUITE_ID = Buffer.concat([Buffer.from("KEM", "latin1"), i2osp2(KEM_ID)]);
function hpkeSuiteId(aeadId: number): Buffer {
  return Buffer.concat([Buffer.from("HPKE", "latin1"), i2osp2(KEM_ID), i2osp2(KDF_ID), i2osp2(aeadId)]);
}

const labelCache = new Map<string, Buffer>();
function labelBytes(label: string): Buffer {
  let b = labelCache.get(label);
  if (!b) {
    b = Buffer.from(label, "latin1");
    labelCache.set(label, b);
  }
  return b;
}

const ZERO_SALT = Buffer.alloc(NH);

/** HKDF-Extract(salt, ikm) = HMAC-SHA256(salt, ikm); ikm given in parts (one native update). */
function extract(salt: Uint8Array, ikm: Uint8Array[]): Buffer {
  return createHmac("sha256", salt.length === 0 ? ZERO_SALT : salt)
    .update(Buffer.concat(ikm))
    .digest();
}

/** HKDF-Expand(prk, info, L) with info given in parts. */
function expand(prk: Uint8Array, info: Uint8Array[], length: number): Buffer {
  if (length > 255 * NH) throw new CryptoInputError("invalid_length", `HKDF-Expand length ${length} exceeds ${255 * NH}`);
  const n = Math.ceil(length / NH);
  if (n === 1) {
    const out = createHmac("sha256", prk)
      .update(Buffer.concat([...info, ONE]))
      .digest();
    return length === NH ? out : out.subarray(0, length);
  }
  const out = Buffer.alloc(n * NH);
  let prev: Buffer = EMPTY;
  for (let i = 1; i <= n; i++) {
    prev = createHmac("sha256", prk)
      .update(Buffer.concat([prev, ...info, Buffer.of(i)]))
      .digest();
    prev.copy(out, (i - 1) * NH);
  }
  return out.subarray(0, length);
}

function labeledExtract(suiteId: Buffer, salt: Uint8Array, label: string, ikm: Uint8Array): Buffer {
  return extract(salt, [HPKE_V1, suiteId, labelBytes(label), ikm]);
}

function labeledExpand(suiteId: Buffer, prk: Uint8Array, label: string, info: Uint8Array, length: number): Buffer {
  return expand(prk, [i2osp2(length), HPKE_V1, suiteId, labelBytes(label), info], length);
}

// ---------------------------------------------------------------------------------------
// DHKEM(X25519, HKDF-SHA256) (RFC 9180 §4.1, §7.1.3)
// ---------------------------------------------------------------------------------------

/** DeriveKeyPair(ikm) for X25519: sk = LabeledExpand(LabeledExtract("", "dkp_prk", ikm), "sk", "", 32). */
export function deriveKeyPair(ikm: Uint8Array): KemKeyPair {
  const dkpPrk = labeledExtract(KEM_SUITE_ID, EMPTY, "dkp_prk", ikm);
  const sk = labeledExpand(KEM_SUITE_ID, dkpPrk, "sk", EMPTY, 32);
  return kemKeyFromPrivate(sk);
}

const isAllZero = (b: Uint8Array) => bytesEqual(b, new Uint8Array(b.length));

/**
 * DHKEM's DH(sk, pk) (RFC 9180 §4.1) for encap, decap and recipientKeyProblem: X25519 with
 * node:crypto, refusing a low-order public key (the all-zero secret, RFC 9180 §7.1.4 and
 * RFC 7748 §6.1) with HpkeOpenError invalid_enc. Internal, exported for the Wycheproof X25519
 * vector tests (hpke-x25519-vectors.test.ts).
 */
export function dh(sk: KeyObject, pk: KeyObject): Buffer {
  let z: Buffer;
  try {
    z = x25519(sk, pk);
  } catch {
    throw new HpkeOpenError("invalid_enc", "X25519 failed: the public key is a low-order point; the sender or recipient key is invalid");
  }
  if (isAllZero(z)) {
    throw new HpkeOpenError("invalid_enc", "X25519 produced an all-zero secret: the public key is a low-order point");
  }
  return z;
}

/** A fixed key to probe recipient keys with (any scalar does: clamping clears the cofactor). */
let probeKey: KemKeyPair | undefined;

/**
 * Why a raw X25519 public key cannot be sealed to, or undefined when it can: encap's own rule (dh),
 * tried with a fixed key. The wrong length, or a point of small order (the all-zero secret, which
 * RFC 9180 §7.1.4 forbids). Such a key in a worker's attestation would make every seal to a
 * candidate list that includes it throw (sealRequest seals to all candidates at once).
 */
export function recipientKeyProblem(pkR: Uint8Array): string | undefined {
  if (!(pkR instanceof Uint8Array) || pkR.length !== NPK) return "an X25519 public key is 32 bytes";
  probeKey ??= kemKeyFromPrivate(Buffer.alloc(32, 0x42));
  let pk: KeyObject;
  try {
    pk = x25519PublicKeyObject(pkR);
  } catch {
    // node reads every 32-byte string today (core/crypto/hpke-x25519-vectors.test.ts); say so if that ever changes
    return "not an X25519 public key this runtime can read";
  }
  try {
    dh(probeKey.privateKey, pk);
    return undefined;
  } catch {
    return "a small-order X25519 point (no shared secret)";
  }
}

function extractAndExpand(dhOut: Uint8Array, enc: Uint8Array, pkR: Uint8Array): Buffer {
  const eaePrk = labeledExtract(KEM_SUITE_ID, EMPTY, "eae_prk", dhOut);
  const kemContext = Buffer.concat([enc, pkR]);
  return labeledExpand(KEM_SUITE_ID, eaePrk, "shared_secret", kemContext, NH);
}

function encap(pkR: Uint8Array, ikmE?: Uint8Array): { sharedSecret: Buffer; enc: Uint8Array } {
  if (pkR.length !== NPK) throw new CryptoInputError("invalid_length", `HPKE recipient public key must be 32 bytes, got ${pkR.length}`);
  let skE: KeyObject;
  let enc: Uint8Array;
  if (ikmE) {
    const kp = deriveKeyPair(ikmE);
    skE = kp.privateKey;
    enc = kp.publicKey;
  } else {
    const kp = generateKemKey(); // imported random bytes, never a KeyGenJob: see generateKemKey
    skE = kp.privateKey;
    enc = kp.publicKey;
  }
  let z: Buffer;
  try {
    z = dh(skE, x25519PublicKeyObject(pkR));
  } catch (e) {
    if (e instanceof HpkeOpenError)
      throw new CryptoInputError("invalid_key", "HPKE recipient public key is a low-order X25519 point; use the worker's real key");
    throw e;
  }
  return { sharedSecret: extractAndExpand(z, enc, pkR), enc };
}

function decap(enc: Uint8Array, skR: KemKeyPair): Buffer {
  if (enc.length !== NPK) throw new HpkeOpenError("invalid_enc", `HPKE enc must be 32 bytes, got ${enc.length}`);
  let pkE: KeyObject;
  try {
    pkE = x25519PublicKeyObjectOnce(enc);
  } catch {
    throw new HpkeOpenError("invalid_enc", "HPKE enc is not a valid X25519 public key");
  }
  return extractAndExpand(dh(skR.privateKey, pkE), enc, skR.publicKey);
}

// ---------------------------------------------------------------------------------------
// Key schedule (RFC 9180 §5.1), Base mode
// ---------------------------------------------------------------------------------------

export interface KeyScheduleResult {
  keyScheduleContext: Uint8Array;
  secret: Uint8Array;
  key: Uint8Array;
  baseNonce: Uint8Array;
  exporterSecret: Uint8Array;
}

const pskIdHashCache = new Map<number, Buffer>();
const infoHashCache = new Map<string, Buffer>();
const INFO_CACHE_MAX = 64;

function infoHash(suiteId: Buffer, aeadId: number, info: Uint8Array): Buffer {
  // Protocol infos are a handful of constant strings: cache their hashes.
  if (info.length > 128) return labeledExtract(suiteId, EMPTY, "info_hash", info);
  const k = `${aeadId}:${asBuffer(info).toString("latin1")}`;
  let h = infoHashCache.get(k);
  if (!h) {
    h = labeledExtract(suiteId, EMPTY, "info_hash", info);
    if (infoHashCache.size >= INFO_CACHE_MAX) infoHashCache.clear();
    infoHashCache.set(k, h);
  }
  return h;
}

function contextBytes(p: AeadParams, info: Uint8Array): { suiteId: Buffer; ksc: Buffer } {
  const suiteId = p.suiteId;
  let pskIdHash = pskIdHashCache.get(p.id);
  if (!pskIdHash) {
    pskIdHash = labeledExtract(suiteId, EMPTY, "psk_id_hash", EMPTY);
    pskIdHashCache.set(p.id, pskIdHash);
  }
  const ksc = Buffer.concat([Buffer.of(MODE_BASE), pskIdHash, infoHash(suiteId, p.id, info)]);
  return { suiteId, ksc };
}

/** Internal, exported for the RFC vector tests: the full Base-mode key schedule. */
export function keySchedule(aead: HpkeAead, sharedSecret: Uint8Array, info: Uint8Array): KeyScheduleResult {
  const p = aeadParams(aead);
  const { suiteId, ksc } = contextBytes(p, info);
  const secret = labeledExtract(suiteId, sharedSecret, "secret", EMPTY);
  return {
    keyScheduleContext: ksc,
    secret,
    key: labeledExpand(suiteId, secret, "key", ksc, p.nk),
    baseNonce: labeledExpand(suiteId, secret, "base_nonce", ksc, NN),
    exporterSecret: labeledExpand(suiteId, secret, "exp", ksc, NH),
  };
}

/** Internal, exported for the RFC vector tests: the shared secret a recipient derives from enc. */
export function decapsulate(enc: Uint8Array, skR: KemKeyPair): Uint8Array {
  return decap(enc, skR);
}

// ---------------------------------------------------------------------------------------
// Contexts
// ---------------------------------------------------------------------------------------

export interface HpkeContext {
  readonly aead: HpkeAead;
  /** Next sequence number (incremented after every successful seal/open). */
  readonly seq: number;
  /** Seal with the next nonce; returns ct || tag. */
  seal(aad: Uint8Array | string, pt: Uint8Array): Uint8Array;
  /** Open with the next nonce; throws HpkeOpenError('open_failed') and keeps seq on failure. */
  open(aad: Uint8Array | string, ct: Uint8Array): Uint8Array;
  /** Secret export: LabeledExpand(exporter_secret, "sec", exporterContext, L). */
  export(exporterContext: Uint8Array | string, length: number): Uint8Array;
}

class Context implements HpkeContext {
  seq = 0;
  private exporterSecret: Buffer | undefined;
  private readonly key: Buffer;
  private readonly baseNonce: Buffer;

  constructor(
    private readonly p: AeadParams,
    readonly aead: HpkeAead,
    private readonly suiteId: Buffer,
    private readonly ksc: Buffer,
    private readonly secret: Buffer,
  ) {
    this.key = labeledExpand(suiteId, secret, "key", ksc, p.nk);
    this.baseNonce = labeledExpand(suiteId, secret, "base_nonce", ksc, NN);
  }

  private nonce(): Buffer {
    if (this.seq === 0) return this.baseNonce;
    const n = Buffer.from(this.baseNonce);
    // XOR the big-endian sequence number into the last bytes (seq < 2^53).
    let s = this.seq;
    for (let i = NN - 1; i >= 0 && s > 0; i--) {
      n[i]! ^= s & 0xff;
      s = Math.floor(s / 256);
    }
    return n;
  }

  private bump(): void {
    if (this.seq >= Number.MAX_SAFE_INTEGER)
      throw new CryptoInputError("sequence_overflow", "HPKE context sequence number exhausted; set up a new context");
    this.seq++;
  }

  seal(aad: Uint8Array | string, pt: Uint8Array): Uint8Array {
    const out = aeadSeal(this.p.cipher, this.key, this.nonce(), toBytes(aad), pt);
    this.bump();
    return out;
  }

  open(aad: Uint8Array | string, ct: Uint8Array): Uint8Array {
    const out = aeadOpen(this.p.cipher, this.key, this.nonce(), toBytes(aad), ct);
    if (!out)
      throw new HpkeOpenError(
        "open_failed",
        "HPKE ciphertext did not authenticate: wrong recipient key, enc, info or aad, or the ciphertext was changed",
      );
    this.bump();
    return out;
  }

  export(exporterContext: Uint8Array | string, length: number): Uint8Array {
    if (!Number.isInteger(length) || length < 0)
      throw new CryptoInputError("invalid_length", `export length must be a non-negative integer, got ${length}`);
    if (!this.exporterSecret) this.exporterSecret = labeledExpand(this.suiteId, this.secret, "exp", this.ksc, NH);
    return labeledExpand(this.suiteId, this.exporterSecret, "sec", toBytes(exporterContext), length);
  }
}

function makeContext(aead: HpkeAead | undefined, sharedSecret: Uint8Array, info: Uint8Array): Context {
  const name = aead ?? DEFAULT_AEAD;
  const p = aeadParams(name);
  const { suiteId, ksc } = contextBytes(p, info);
  const secret = labeledExtract(suiteId, sharedSecret, "secret", EMPTY);
  return new Context(p, name, suiteId, ksc, secret);
}

export interface HpkeOptions {
  aead?: HpkeAead;
}
export interface HpkeSenderOptions extends HpkeOptions {
  /** Deterministic ephemeral key (tests / RFC vectors only). */
  ikmE?: Uint8Array;
}

/** SetupBaseS: encapsulate to pkR and return enc with a sender context. */
export function setupBaseS(
  pkR: Uint8Array,
  info: Uint8Array | string,
  opts: HpkeSenderOptions = {},
): { enc: Uint8Array; context: HpkeContext } {
  const { sharedSecret, enc } = encap(pkR, opts.ikmE);
  return { enc, context: makeContext(opts.aead, sharedSecret, toBytes(info)) };
}

function recipientKey(skR: KemKeyPair | Uint8Array): KemKeyPair {
  return skR instanceof Uint8Array ? kemKeyFromPrivate(skR) : skR;
}

/** SetupBaseR: decapsulate enc with the recipient's key (pair or raw 32-byte private key). */
export function setupBaseR(skR: KemKeyPair | Uint8Array, enc: Uint8Array, info: Uint8Array | string, opts: HpkeOptions = {}): HpkeContext {
  const sharedSecret = decap(enc, recipientKey(skR));
  return makeContext(opts.aead, sharedSecret, toBytes(info));
}

/** Single-shot seal (sequence number 0). */
export function hpkeSeal(
  pkR: Uint8Array,
  info: Uint8Array | string,
  aad: Uint8Array | string,
  pt: Uint8Array,
  opts: HpkeSenderOptions = {},
): { enc: Uint8Array; ct: Uint8Array } {
  const { enc, context } = setupBaseS(pkR, info, opts);
  return { enc, ct: context.seal(aad, pt) };
}

/** Single-shot open; throws HpkeOpenError on any mismatch. */
export function hpkeOpen(
  skR: KemKeyPair | Uint8Array,
  enc: Uint8Array,
  info: Uint8Array | string,
  aad: Uint8Array | string,
  ct: Uint8Array,
  opts: HpkeOptions = {},
): Uint8Array {
  return setupBaseR(skR, enc, info, opts).open(aad, ct);
}

// ---------------------------------------------------------------------------------------
// AEAD helpers (also used for the envelope payload)
// ---------------------------------------------------------------------------------------

// node:crypto returns a fresh buffer per update; sealing in chunks of this size and copying
// each into the output spares a second whole-payload allocation (ct, then ct || tag).
const SEAL_CHUNK = 64 * 1024;

/**
 * AEAD seal with node:crypto; returns ct || 16-byte tag, written into `out` when given (it must
 * hold pt.length + 16 bytes; the result is a view of its start) or into a new buffer.
 */
export function aeadSeal(
  cipher: "aes-128-gcm" | "chacha20-poly1305",
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  pt: Uint8Array,
  out?: Buffer,
): Uint8Array {
  const n = pt.length + NT;
  if (out && out.length < n) throw new CryptoInputError("invalid_length", `AEAD output buffer holds ${out.length} bytes, needs ${n}`);
  const dst = out ? out.subarray(0, n) : Buffer.allocUnsafe(n);
  // Both AEADs share the GCM-style cipher interface (setAAD / getAuthTag).
  const c = createCipheriv(cipher as "aes-128-gcm", key, nonce, { authTagLength: NT });
  c.setAAD(aad, { plaintextLength: pt.length });
  const src = asBuffer(pt);
  let w = 0;
  for (let off = 0; off < src.length; off += SEAL_CHUNK) w += c.update(src.subarray(off, off + SEAL_CHUNK)).copy(dst, w);
  w += c.final().copy(dst, w);
  if (w !== pt.length) throw new Error(`${cipher} produced ${w} bytes of ciphertext for ${pt.length} of plaintext`);
  c.getAuthTag().copy(dst, w);
  return dst;
}

/** AEAD open with node:crypto; returns the plaintext, or null when it does not authenticate. */
export function aeadOpen(
  cipher: "aes-128-gcm" | "chacha20-poly1305",
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  ct: Uint8Array,
): Uint8Array | null {
  if (ct.length < NT) return null;
  const ctb = asBuffer(ct);
  const d = createDecipheriv(cipher as "aes-128-gcm", key, nonce, { authTagLength: NT });
  d.setAuthTag(ctb.subarray(ctb.length - NT));
  d.setAAD(aad, { plaintextLength: ctb.length - NT });
  const pt = d.update(ctb.subarray(0, ctb.length - NT));
  try {
    d.final();
  } catch {
    pt.fill(0);
    return null;
  }
  return pt;
}
