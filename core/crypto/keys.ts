import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from "node:crypto";
import { asBuffer, b64u, toBytes } from "./encoding";
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

/** Small LRU of public KeyObjects keyed by the raw key (verify and HPKE seal are hot). */
class KeyCache {
  private readonly map = new Map<string, KeyObject>();
  constructor(
    private readonly crv: Crv,
    private readonly max: number,
  ) {}
  get(raw: Uint8Array): KeyObject {
    const id = asBuffer(raw).toString("latin1");
    const hit = this.map.get(id);
    if (hit) {
      this.map.delete(id);
      this.map.set(id, hit);
      return hit;
    }
    const key = importPublic(this.crv, raw);
    if (this.map.size >= this.max) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    this.map.set(id, key);
    return key;
  }
}

const ed25519Publics = new KeyCache("Ed25519", 1024);
const x25519Publics = new KeyCache("X25519", 1024);

/** Cached X25519 public KeyObject for a raw 32-byte key (throws CryptoInputError on bad length). */
export function x25519PublicKeyObject(raw: Uint8Array): KeyObject {
  return x25519Publics.get(raw);
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

export function generateSigningKey(): SigningKeyPair {
  return signingPair(generateKeyPairSync("ed25519").privateKey);
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

/** Ed25519 verification. Never throws: any malformed key, message or signature gives false. */
export function verifySignature(publicKey: Uint8Array, msg: Uint8Array | string, sig: Uint8Array): boolean {
  try {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
    if (!(sig instanceof Uint8Array) || sig.length !== 64) return false;
    if (typeof msg !== "string" && !(msg instanceof Uint8Array)) return false;
    return nodeVerify(null, toBytes(msg), ed25519Publics.get(publicKey), asBuffer(sig));
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

export function generateKemKey(): KemKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  return { publicKey: rawPublicKey(publicKey), privateKey };
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
