/**
 * The TDX verifier's cache of time-independent work (parsed, signature-checked certificate
 * chains, prepared collateral, imported keys), keyed by content hashes, and the helpers that
 * share one verification among concurrent callers. Validity periods and freshness are never
 * cached: verify.ts re-checks them against `now` on every call.
 */
import { createHash } from "node:crypto";
import type { QeIdentityJson, TcbInfoJson } from "./collateral";
import { Lru } from "../lru";
import { pemCertificates } from "./quote";
import {
  CertMemo,
  TdxCheckError,
  p256KeyOf,
  parseCertificate,
  verifyChainToRoot,
  type Cert,
  type Crl,
  type PublicKey,
  type VerifiedChain,
} from "./x509";

export interface Root {
  cert: Cert;
  der: Uint8Array;
  key: string; // sha256 of der
}

export interface PreparedCrl {
  what: string;
  /** DER of the issuer Name (compared with a certificate's issuer). */
  issuer: Uint8Array;
  revoked: Crl["revoked"];
  thisUpdate: number;
  nextUpdate: number;
}

export interface PreparedCollateral {
  tcbInfo: TcbInfoJson;
  qeIdentity: QeIdentityJson;
  crls: PreparedCrl[];
  /** Validity windows of the collateral signing certificates (TCB signing, PCK CRL issuer). */
  validity: VerifiedChain["validity"];
}

/** Entries kept per map of a {@link TdxVerifierCache} unless told otherwise. */
export const TDX_CACHE_MAX_ENTRIES = 256;

/**
 * Time-independent results, keyed by content hashes. Safe to share between calls and roots.
 * Every map is a bounded LRU and holds only results that verified: the keys are hashes of what
 * the evidence carries, so a failure cached under them would let anyone grow the cache at will
 * (issue 9 #5). Verified results exist only for Intel-signed material, a handful of entries.
 */
export class TdxVerifierCache {
  readonly roots: Lru<string, Root>;
  readonly chains: Lru<string, Promise<VerifiedChain>>;
  readonly collateral: Lru<string, Promise<PreparedCollateral>>;
  readonly keys: Lru<string, Promise<PublicKey>>;
  readonly certs: CertMemo;
  constructor(readonly maxEntries = TDX_CACHE_MAX_ENTRIES) {
    this.roots = new Lru(Math.min(maxEntries, 8));
    this.chains = new Lru(maxEntries);
    this.collateral = new Lru(Math.min(maxEntries, 32)); // a prepared collateral holds parsed CRLs: the largest entry
    this.keys = new Lru(maxEntries);
    this.certs = new CertMemo(maxEntries);
  }
  /** Entry counts (tests and diagnostics). */
  sizes() {
    return {
      roots: this.roots.size,
      chains: this.chains.size,
      collateral: this.collateral.size,
      keys: this.keys.size,
      ...this.certs.sizes(),
    };
  }
  clear() {
    this.certs.clear();
    this.roots.clear();
    this.chains.clear();
    this.collateral.clear();
    this.keys.clear();
  }
}

/**
 * A cache key: SHA-256 over each part preceded by its byte length, so that no two lists of
 * parts share a key. A separator byte would not do: DER is full of zero bytes, and with one
 * ["a\0", "b"] and ["a", "\0b"] hashed the same.
 */
export function cacheKey(...parts: Array<Uint8Array | string>): string {
  const h = createHash("sha256");
  const length = Buffer.alloc(4);
  for (const p of parts) {
    const bytes = typeof p === "string" ? Buffer.from(p, "utf8") : p;
    length.writeUInt32BE(bytes.length);
    h.update(length);
    h.update(bytes);
  }
  return h.digest("hex");
}

/**
 * Shares one verification per key among concurrent callers and keeps it once it succeeded.
 * A failure is dropped as soon as it settles: its key is a hash of attacker-chosen bytes.
 */
export function memo<T>(map: Lru<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let p = map.get(key);
  if (!p) {
    const made = make();
    p = made;
    map.set(key, made);
    made.catch(() => {
      if (map.get(key) === made) map.delete(key);
    });
  }
  return p;
}

export function loadRoot(pem: string, cache: TdxVerifierCache): Root {
  const hit = cache.roots.get(pem);
  if (hit) return hit;
  const ders = pemCertificates(pem, "pinned root CA");
  if (ders.length !== 1) {
    throw new TdxCheckError("root_ca_invalid", `the pinned root PEM must hold exactly one certificate, found ${ders.length}`);
  }
  const der = ders[0]!;
  const root = { cert: parseCertificate(der, "root_ca_invalid", "pinned root CA"), der, key: CertMemo.id(der) };
  cache.roots.set(pem, root);
  return root;
}

export function chain(cache: TdxVerifierCache, ders: Uint8Array[], root: Root, code: string, what: string, leafIsCa = false) {
  return memo(cache.chains, cacheKey(root.key, code, ...ders), async () =>
    verifyChainToRoot(ders, root, code, what, leafIsCa, cache.certs),
  );
}

/** The P-256 key of a verified chain's leaf, kept per certificate. */
export function leafKey(cache: TdxVerifierCache, cert: Cert, code: string, what: string) {
  return memo(cache.keys, cert.id, async () => p256KeyOf(cert, code, what));
}
