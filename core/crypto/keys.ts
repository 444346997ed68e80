import {
  createHmac,
  createPrivateKey,
  createSecretKey,
  createPublicKey,
  diffieHellman,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from "node:crypto";
import { ED25519_TORSION_SUBGROUP, ed25519 } from "@noble/curves/ed25519.js";
import { asBuffer, b64u, bytesEqual, canonicalJson, toBytes } from "./encoding";
import { CryptoInputError } from "./errors";

/*
 * Key import/export goes through JWK: on Node 20 (OpenSSL 3) DER/PKCS#8 decoding costs
 * 100-500 µs per key, JWK about 10 µs. For private keys Node derives the public half from
 * `d` itself (it ignores `x`), so we pass a placeholder `x` and read the real public key
 * back from the KeyObject; if a future Node rejects that, we fall back to PKCS#8.
 */

const PKCS8_PREFIX = {
  X25519: Buffer.from("302e020100300506032b656e04220420", "hex"),
  Ed25519: Buffer.from("302e020100300506032b657004220420", "hex"),
} as const;
const PLACEHOLDER_X = "A".repeat(43);

type Crv = "X25519" | "Ed25519";

function importPrivate(crv: Crv, raw: Uint8Array): KeyObject {
  if (raw.length !== 32) {
    throw new CryptoInputError("invalid_length", `${crv} private key must be 32 bytes, got ${raw.length}`);
  }
  const d = asBuffer(raw).toString("base64url");
  try {
    return createPrivateKey({ key: { kty: "OKP", crv, d, x: PLACEHOLDER_X }, format: "jwk" });
  } catch {
    return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX[crv], raw]), format: "der", type: "pkcs8" });
  }
}

function importPublic(crv: Crv, raw: Uint8Array): KeyObject {
  if (raw.length !== 32) {
    throw new CryptoInputError("invalid_length", `${crv} public key must be 32 bytes, got ${raw.length}`);
  }
  return createPublicKey({ key: { kty: "OKP", crv, x: asBuffer(raw).toString("base64url") }, format: "jwk" });
}

/** Raw 32-byte public key of an OKP KeyObject (public or private). */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  const x = pub.export({ format: "jwk" }).x;
  if (typeof x !== "string") throw new CryptoInputError("invalid_key", "key is not an OKP (X25519/Ed25519) key");
  return Buffer.from(x, "base64url");
}

function rawPrivateKey(key: KeyObject): Uint8Array {
  const d = key.export({ format: "jwk" }).d;
  if (typeof d !== "string") throw new CryptoInputError("invalid_key", "key is not an OKP private key");
  return Buffer.from(d, "base64url");
}

/** Small LRU keyed by raw bytes (verify and HPKE seal are hot). */
class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(raw: Uint8Array): V | undefined {
    const id = asBuffer(raw).toString("latin1");
    const hit = this.map.get(id);
    if (hit !== undefined) {
      this.map.delete(id);
      this.map.set(id, hit);
    }
    return hit;
  }
  set(raw: Uint8Array, value: V): void {
    if (this.map.size >= this.max) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    this.map.set(asBuffer(raw).toString("latin1"), value);
  }
}

const x25519Publics = new Lru<KeyObject>(1024);
// Ed25519 public keys that passed ed25519PublicKeyProblem, and those that did not: the full
// check costs a scalar multiplication (~0.8 ms, against ~60 µs for a verify), so each key
// pays it once while it stays among the 8192 most recent (a KeyObject is a few hundred bytes).
const ed25519Publics = new Lru<KeyObject>(8192);
const ed25519Refused = new Lru<true>(1024);

/** Cached X25519 public KeyObject for a raw 32-byte key (throws CryptoInputError on bad length). */
export function x25519PublicKeyObject(raw: Uint8Array): KeyObject {
  const hit = x25519Publics.get(raw);
  if (hit) return hit;
  const key = importPublic("X25519", raw);
  x25519Publics.set(raw, key);
  return key;
}

/** Uncached: for keys seen once (e.g. an HPKE `enc`). */
export function x25519PublicKeyObjectOnce(raw: Uint8Array): KeyObject {
  return importPublic("X25519", raw);
}

// ---------------------------------------------------------------------------------------
// Ed25519 signing keys
// ---------------------------------------------------------------------------------------

export interface SigningKeyPair {
  /** base64url of the raw 32-byte public key: the account / worker id. */
  id: string;
  publicKey: Uint8Array;
  privateKey: KeyObject;
}

function signingPair(privateKey: KeyObject): SigningKeyPair {
  const publicKey = rawPublicKey(privateKey);
  return { id: b64u.encode(publicKey), publicKey, privateKey };
}

/**
 * A fresh key from 32 random bytes, imported: never node:crypto's key generation. On Node 20 a
 * generated pair's KeyGenJob, collected by a GC that runs while the key is exported as JWK
 * (rawPublicKey), locks the mutex that export holds: the process hangs for good (issue 14,
 * found by the handler fuzz; any process that makes keys often, like an agent sealing replies,
 * could hang). Any 32 bytes are a valid Ed25519 seed and a valid X25519 private key.
 */
export function generateSigningKey(): SigningKeyPair {
  return signingKeyFromSeed(randomBytes(32));
}

/** Deterministic key pair from a 32-byte Ed25519 seed (RFC 8032 private key). */
export function signingKeyFromSeed(seed: Uint8Array): SigningKeyPair {
  return signingPair(importPrivate("Ed25519", seed));
}

/** The 32-byte seed of a signing key (to store it; keep it secret). */
export function signingSeed(kp: SigningKeyPair): Uint8Array {
  return rawPrivateKey(kp.privateKey);
}

/** Ed25519 signature (64 bytes); strings are signed as UTF-8. */
export function sign(kp: SigningKeyPair, msg: Uint8Array | string): Uint8Array {
  return nodeSign(null, toBytes(msg), kp.privateKey);
}

// ---------------------------------------------------------------------------------------
// Strict Ed25519 verification (issue 9 #9)
//
// OpenSSL's Ed25519 verify (RFC 8032, cofactorless) accepts public keys of small order: with
// the identity point as key, R = identity and S = 0 verify for EVERY message, so anyone can
// act as that account or worker. Keys and signatures are therefore checked here, in the one
// function every signature in the system goes through (signed requests, worker registration
// and challenge answers, which are signed requests, receipts, dev attestations, the SDK):
//  - the public key must be the canonical encoding of a point of prime order L: not one of
//    the 8 small-order points, nor a point with a small-order component (not torsion-free),
//    nor a non-canonical encoding (y >= p, or x = 0 with the sign bit set);
//  - S must be canonical (S < L), so a signature cannot be re-encoded into another valid one;
//  - R must be a canonical encoding and not a small-order point.
// Point decoding and the order checks are @noble/curves'; verification stays node:crypto.
// ---------------------------------------------------------------------------------------

/** L, the order of the Ed25519 base point (RFC 8032 §5.1). */
const ED25519_L = ed25519.Point.Fn.ORDER;
/** p = 2^255 - 19, the field prime. */
const ED25519_P = ed25519.Point.Fp.ORDER;

/** `n` as 32 little-endian bytes (n < 2^256). */
const le32 = (n: bigint): Uint8Array => {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
};
const ED25519_L_LE = le32(ED25519_L);
const ED25519_P_LE = le32(ED25519_P);

/**
 * Whether the 32-byte little-endian number `b` is at least `limit` (32 bytes, little-endian),
 * `b`'s top bit taken as `topBit`: byte by byte from the most significant, with no BigInt made
 * (two per byte of every signature verified, before).
 */
function leAtLeast(b: Uint8Array, limit: Uint8Array, topBit = true): boolean {
  for (let i = 31; i >= 0; i--) {
    const x = i === 31 && !topBit ? b[i]! & 0x7f : b[i]!;
    if (x !== limit[i]!) return x > limit[i]!;
  }
  return true;
}

/**
 * Encodings of small-order points an R may have once y < p is checked: the 8 canonical ones
 * (@noble/curves' ED25519_TORSION_SUBGROUP) plus the x = 0 points (the identity, y = 1, and
 * (0, -1), y = p - 1) with the sign bit set, the only other encodings with y < p (RFC 8032
 * §5.1.3 step 4 refuses them). Byte comparisons: decoding R would double the cost of every
 * verification. The two x = 0 points are named by their encodings rather than found by
 * decoding all 8 at load: that decoding was about 5 ms of every handler's cold start.
 */
const X_ZERO_POINTS = [
  "0100000000000000000000000000000000000000000000000000000000000000", // the identity (0, 1)
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // (0, -1)
];
const SMALL_ORDER_R = new Set<string>([
  ...ED25519_TORSION_SUBGROUP,
  ...X_ZERO_POINTS.map((h) => h.slice(0, 62) + (parseInt(h.slice(62), 16) | 0x80).toString(16)),
]);

/** Why the (R, S) encoding of a 64-byte signature is refused, or undefined when it is canonical. */
export function ed25519SignatureProblem(sig: Uint8Array): string | undefined {
  if (!(sig instanceof Uint8Array) || sig.length !== 64) return "an Ed25519 signature is 64 bytes";
  if (leAtLeast(sig.subarray(32), ED25519_L_LE)) return "S is not below the group order (non-canonical signature)";
  const r = sig.subarray(0, 32);
  if (leAtLeast(r, ED25519_P_LE, false)) return "R is a non-canonical point encoding (y >= p)";
  if (SMALL_ORDER_R.has(asBuffer(r).toString("hex"))) return "R is a small-order point";
  return undefined;
}

/**
 * Why an Ed25519 public key is refused, or undefined when it is the canonical encoding of a
 * point of prime order. Costs a scalar multiplication: verifySignature caches the verdict.
 */
export function ed25519PublicKeyProblem(raw: Uint8Array): string | undefined {
  if (!(raw instanceof Uint8Array) || raw.length !== 32) return "an Ed25519 public key is 32 bytes";
  let point: ReturnType<typeof ed25519.Point.fromBytes>;
  try {
    point = ed25519.Point.fromBytes(raw, false); // RFC 8032 decoding: refuses y >= p and x = 0 with the sign bit
  } catch {
    return "not a valid point encoding";
  }
  if (!Buffer.from(point.toBytes()).equals(asBuffer(raw))) return "non-canonical point encoding";
  if (point.isSmallOrder()) return "a small-order point (such a key verifies forged signatures)";
  if (!point.isTorsionFree()) return "not in the prime-order subgroup (has a small-order component)";
  return undefined;
}

/**
 * Ed25519 verification, strict (see above). Never throws: any malformed, small-order or
 * non-canonical key, message or signature gives false. The only signature check in the code.
 */
export function verifySignature(publicKey: Uint8Array, msg: Uint8Array | string, sig: Uint8Array): boolean {
  try {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
    if (!(sig instanceof Uint8Array) || sig.length !== 64) return false;
    if (typeof msg !== "string" && !(msg instanceof Uint8Array)) return false;
    if (ed25519SignatureProblem(sig) !== undefined) return false;
    if (ed25519Refused.get(publicKey)) return false;
    const known = ed25519Publics.get(publicKey);
    if (known) return nodeVerify(null, toBytes(msg), known, asBuffer(sig));
    // An unknown key: verify first (cheap), and pay for the key's order check only when the
    // signature holds, so a flood of random keys costs no more than a flood of bad signatures.
    const key = importPublic("Ed25519", publicKey);
    if (!nodeVerify(null, toBytes(msg), key, asBuffer(sig))) return false;
    if (ed25519PublicKeyProblem(publicKey) !== undefined) {
      ed25519Refused.set(publicKey, true);
      return false;
    }
    ed25519Publics.set(publicKey, key);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// X25519 KEM keys (HPKE)
// ---------------------------------------------------------------------------------------

export interface KemKeyPair {
  /** raw 32-byte X25519 public key */
  publicKey: Uint8Array;
  privateKey: KeyObject;
}

/** A fresh X25519 key (see generateSigningKey for why it is imported, not generated). */
export function generateKemKey(): KemKeyPair {
  return kemKeyFromPrivate(randomBytes(32));
}

/** Key pair from a raw 32-byte X25519 private key. */
export function kemKeyFromPrivate(raw: Uint8Array): KemKeyPair {
  const privateKey = importPrivate("X25519", raw);
  return { publicKey: rawPublicKey(privateKey), privateKey };
}

/** The raw 32-byte X25519 private key (keep it secret). */
export function kemPrivateRaw(kp: KemKeyPair): Uint8Array {
  return rawPrivateKey(kp.privateKey);
}

/** X25519(sk, pk) via node:crypto. */
export function x25519(privateKey: KeyObject, publicKey: KeyObject): Buffer {
  return diffieHellman({ privateKey, publicKey });
}

/**
 * A configured secret (COCOON_QUOTE_KEY, COCOON_SESSION_KEY) as an HMAC key: 64 hex chars as
 * their 32 bytes, any other string as its UTF-8. Made once per secret: a request checks a quote
 * and a session under two of them, and a KeyObject per call costs more than the HMAC.
 */
const hmacKeys = new Map<string, KeyObject>();
export function hmacKey(secret: string): KeyObject {
  let key = hmacKeys.get(secret);
  if (!key) {
    if (hmacKeys.size >= 16) hmacKeys.clear(); // a few per process; rotated ones are not kept
    key = createSecretKey(/^[0-9a-f]{64}$/i.test(secret) ? Buffer.from(secret, "hex") : Buffer.from(secret, "utf8"));
    hmacKeys.set(secret, key);
  }
  return key;
}

/**
 * The MAC of a stateless token the coordinator hands out and checks when it comes back (a
 * quote, a tab): HMAC-SHA256 under a configured secret over a domain line and the canonical
 * JSON of the token's fields, so no token of one kind verifies as another.
 */
export const tokenMac = (secret: string, domain: string, body: unknown): Buffer =>
  createHmac("sha256", hmacKey(secret)).update(domain).update(canonicalJson(body)).digest();

/** Whether `mac` (base64url) is tokenMac of this body, compared in constant time; false for one that does not decode. */
export function tokenMacMatches(secret: string, domain: string, body: unknown, mac: string): boolean {
  let got: Uint8Array;
  try {
    got = b64u.decode(mac);
  } catch {
    return false;
  }
  return bytesEqual(got, tokenMac(secret, domain, body));
}
