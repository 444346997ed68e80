/**
 * Certificates, CRLs and the Intel SGX PCK extension on node:crypto. OpenSSL (through
 * X509Certificate) parses every certificate and checks every certificate signature; ECDSA
 * signatures over quotes, collateral JSON and CRLs go through crypto.verify. What node:crypto
 * does not expose (raw names, serial, validity, basic constraints, the SGX extension, CRLs)
 * is read with the strict DER reader in der.ts. No curve math here.
 *
 * (This replaced pkijs/asn1js/WebCrypto: about 4x less time per cold verification, and
 * ~400 KB less in every bundle that reaches the verifier.)
 */
import { X509Certificate, createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { Lru } from "../lru";
import { bytesEqual } from "../../crypto/encoding";
import {
  DerError,
  TAG,
  bits,
  boolean,
  children,
  der,
  expectTag,
  integerBytes,
  isContext,
  octets,
  oid,
  seq,
  time,
  uint,
  type Der,
} from "./der";

/** A failed check: a machine-readable code and a message that says what is wrong. */
export class TdxCheckError extends Error {
  override readonly name = "TdxCheckError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type PublicKey = KeyObject;

export function hex(b: Uint8Array | ArrayBuffer): string {
  return Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)).toString("hex");
}

/**
 * The one place a certificate is parsed (OpenSSL). An object so tests can count parses
 * (vi.spyOn(X509, "parse")): nothing an attacker makes up may be parsed before its caps.
 */
export const X509 = {
  parse(der: Uint8Array): X509Certificate {
    return new X509Certificate(der);
  },
};

export interface Extension {
  oid: string;
  critical: boolean;
  value: Uint8Array;
}

/** A parsed certificate: OpenSSL's object for keys and signatures, plus the fields we compare. */
export interface Cert {
  der: Uint8Array;
  /** SHA-256 of the DER (base64): the cache key of this certificate. */
  id: string;
  x509: X509Certificate;
  /** DER of the issuer and subject Names: chaining compares these bytes. */
  issuer: Uint8Array;
  subject: Uint8Array;
  /** The serial number's INTEGER content bytes, lower-case hex (what a CRL lists). */
  serial: string;
  notBefore: number;
  notAfter: number;
  /** basicConstraints cA. */
  isCa: boolean;
  /** basicConstraints pathLenConstraint: how many intermediate CAs may follow this one (RFC 5280 §4.2.1.9). */
  pathLen: number | undefined;
  /** keyUsage keyCertSign; undefined without a keyUsage extension (RFC 5280 §4.2.1.3). */
  keyCertSign: boolean | undefined;
  /** critical extensions this verifier does not process: such a certificate is refused (RFC 5280 §4.2) */
  unknownCritical: string[];
  cn: string;
  extensions: Extension[];
}

const OID_CN = "2.5.4.3";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";
const OID_KEY_USAGE = "2.5.29.15";
/** The extensions whose meaning the chain walk enforces; any other marked critical is refused. */
const PROCESSED_EXTENSIONS = new Set([OID_BASIC_CONSTRAINTS, OID_KEY_USAGE]);
const OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2";

function commonNameOf(name: Der): string {
  for (const rdn of children(expectTag(name, TAG.SEQUENCE, "name"))) {
    for (const atv of children(expectTag(rdn, TAG.SET, "RDN"))) {
      const [type, value] = seq(atv, "attribute");
      if (oid(type, "attribute type") === OID_CN && value) return Buffer.from(value.value).toString("utf8");
    }
  }
  return "(no CN)";
}

function extensionsOf(el: Der | undefined): Extension[] {
  if (!el) return [];
  const [list] = children(el);
  return seq(list, "extensions").map((e) => {
    const parts = seq(e, "extension");
    const critical = parts.length === 3 ? boolean(parts[1], "extension critical") : false;
    return { oid: oid(parts[0], "extension id"), critical, value: octets(parts[parts.length - 1], "extension value") };
  });
}

function basicConstraints(exts: Extension[]): { isCa: boolean; pathLen: number | undefined } {
  const bc = exts.filter((e) => e.oid === OID_BASIC_CONSTRAINTS);
  if (bc.length > 1) throw new DerError("more than one basicConstraints extension");
  if (bc.length === 0) return { isCa: false, pathLen: undefined };
  const fields = seq(der(bc[0]!.value), "basicConstraints");
  const isCa = fields[0]?.tag === TAG.BOOLEAN ? boolean(fields[0], "cA") : false;
  const last = fields[fields.length - 1];
  return { isCa, pathLen: last?.tag === TAG.INTEGER ? uint(last, "pathLenConstraint") : undefined };
}

/** keyUsage's keyCertSign bit (bit 5: 0x04 of the first byte), or undefined without the extension. */
function keyCertSign(exts: Extension[]): boolean | undefined {
  const ku = exts.filter((e) => e.oid === OID_KEY_USAGE);
  if (ku.length > 1) throw new DerError("more than one keyUsage extension");
  if (ku.length === 0) return undefined;
  const v = expectTag(der(ku[0]!.value), TAG.BIT_STRING, "keyUsage").value;
  return v.length > 1 && (v[1]! & 0x04) !== 0;
}

/** Parses one DER certificate; any malformation becomes `code`. */
export function parseCertificate(bytes: Uint8Array, code: string, what: string): Cert {
  try {
    const x509 = X509.parse(bytes);
    const [tbs] = seq(der(bytes), "certificate");
    const f = seq(tbs, "tbsCertificate");
    let i = isContext(f[0], 0) ? 1 : 0; // version [0], absent for v1
    const serial = hex(integerBytes(f[i++], "serial number"));
    i++; // signature algorithm (OpenSSL checks it equals the outer one when verifying)
    const issuer = expectTag(f[i++], TAG.SEQUENCE, "issuer");
    const [nb, na] = seq(f[i++], "validity");
    const subject = expectTag(f[i++], TAG.SEQUENCE, "subject");
    i++; // subjectPublicKeyInfo (x509.publicKey)
    while (i < f.length && !isContext(f[i], 3)) i++; // issuer/subject unique ids
    const extensions = extensionsOf(f[i]);
    return {
      der: bytes,
      id: CertMemo.id(bytes),
      x509,
      issuer: issuer.raw,
      subject: subject.raw,
      serial,
      notBefore: time(nb, "notBefore"),
      notAfter: time(na, "notAfter"),
      ...basicConstraints(extensions),
      keyCertSign: keyCertSign(extensions),
      unknownCritical: extensions.filter((e) => e.critical && !PROCESSED_EXTENSIONS.has(e.oid)).map((e) => e.oid),
      cn: commonNameOf(subject),
      extensions,
    };
  } catch (e) {
    throw new TdxCheckError(code, `${what}: certificate is not valid DER X.509 (${(e as Error).message})`);
  }
}

export interface Crl {
  issuer: Uint8Array;
  thisUpdate: number;
  nextUpdate: number | undefined;
  /** Serial numbers (INTEGER content bytes, lower-case hex) of the revoked certificates. */
  revoked: Set<string>;
  /** What the signature covers, the algorithm (inner and outer must agree) and the DER signature. */
  tbs: Uint8Array;
  algorithm: string;
  signature: Uint8Array;
}

export function parseCrl(bytes: Uint8Array, code: string, what: string): Crl {
  try {
    const [tbs, outerAlg, sig] = seq(der(bytes), "CRL");
    const f = seq(tbs, "tbsCertList");
    let i = f[0]?.tag === TAG.INTEGER ? 1 : 0;
    if (i === 1 && uint(f[0], "CRL version") !== 1) throw new DerError("CRL version is not v2");
    const innerAlg = f[i++]!;
    if (!outerAlg || !bytesEqual(innerAlg.raw, outerAlg.raw)) throw new DerError("inner and outer signature algorithms differ");
    const issuer = expectTag(f[i++], TAG.SEQUENCE, "issuer");
    const thisUpdate = time(f[i++], "thisUpdate");
    const nextUpdate = f[i] && (f[i]!.tag === TAG.UTC_TIME || f[i]!.tag === TAG.GENERALIZED_TIME) ? time(f[i++], "nextUpdate") : undefined;
    const revoked = new Set<string>();
    if (f[i]?.tag === TAG.SEQUENCE) {
      for (const entry of seq(f[i++], "revokedCertificates"))
        revoked.add(hex(integerBytes(seq(entry, "revoked entry")[0], "revoked serial")));
    }
    if (i < f.length && !isContext(f[i], 0)) throw new DerError("unexpected field in tbsCertList");
    return {
      issuer: issuer.raw,
      thisUpdate,
      nextUpdate,
      revoked,
      tbs: tbs!.raw,
      algorithm: oid(seq(innerAlg, "algorithm")[0], "algorithm"),
      signature: bits(sig, "signature"),
    };
  } catch (e) {
    throw new TdxCheckError(code, `${what}: not a valid DER CRL (${(e as Error).message})`);
  }
}

/** The CRL's ECDSA-P256-SHA256 signature checked with the issuer's key (Intel's PKI signs nothing else). */
export function verifyCrlSignature(crl: Crl, issuer: Cert): boolean {
  if (crl.algorithm !== OID_ECDSA_SHA256) return false;
  try {
    return cryptoVerify("sha256", crl.tbs, issuer.x509.publicKey, crl.signature);
  } catch {
    return false;
  }
}

/** Imports a raw x||y (64 bytes) P-256 point, as carried in quotes (OpenSSL checks it is on the curve). */
export function importP256Raw(xy: Uint8Array, code: string, what: string): PublicKey {
  try {
    if (xy.length !== 64) throw new Error(`${xy.length} bytes, expected 64`);
    const b = Buffer.from(xy.buffer, xy.byteOffset, xy.byteLength);
    return createPublicKey({
      key: { kty: "EC", crv: "P-256", x: b.subarray(0, 32).toString("base64url"), y: b.subarray(32).toString("base64url") },
      format: "jwk",
    });
  } catch (e) {
    throw new TdxCheckError(code, `${what}: not a valid P-256 point (${(e as Error).message})`);
  }
}

/** The P-256 public key of a certificate (refused unless it is one). */
export function p256KeyOf(cert: Cert, code: string, what: string): PublicKey {
  const key = cert.x509.publicKey;
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new TdxCheckError(code, `${what}: public key is not an ECDSA P-256 key`);
  }
  return key;
}

/** Verifies a raw r||s ECDSA-P256-SHA256 signature (IEEE P1363, as quotes and Intel's JSON carry them). */
export function verifyRawEcdsa(key: PublicKey, sig: Uint8Array, data: Uint8Array): boolean {
  if (sig.length !== 64) return false;
  try {
    return cryptoVerify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, sig);
  } catch {
    return false;
  }
}

const selfIssued = (cert: Cert) => bytesEqual(cert.issuer, cert.subject);

/**
 * Parsed certificates and signature results by content hash: certificates recur across the
 * PCK chain and the collateral chains (root, platform CA, TCB signing cert). Bounded (LRU),
 * and it keeps only what verified: a certificate is remembered once its whole chain reached
 * the pinned root, a signature only when it held, so made-up certificates leave nothing
 * behind (issue 9 #5).
 */
export class CertMemo {
  private readonly parsed: Lru<string, Cert>;
  private readonly sigs: Lru<string, true>;
  constructor(maxEntries = 256) {
    this.parsed = new Lru(maxEntries);
    this.sigs = new Lru(maxEntries);
  }
  static id(der: Uint8Array): string {
    return createHash("sha256").update(der).digest("base64");
  }
  /** The remembered parse of `der`, else a fresh parse that is NOT remembered (see remember). */
  parse(der: Uint8Array, code: string, what: string): Cert {
    return this.parsed.get(CertMemo.id(der)) ?? parseCertificate(der, code, what);
  }
  /** Keeps the parse of a certificate whose chain verified. */
  remember(der: Uint8Array, cert: Cert) {
    this.parsed.set(CertMemo.id(der), cert);
  }
  verify(child: Cert, issuer: Cert): boolean {
    const k = `${child.id}<${issuer.id}`;
    if (this.sigs.get(k)) return true;
    let ok: boolean;
    try {
      ok = child.x509.verify(issuer.x509.publicKey);
    } catch {
      ok = false;
    }
    if (ok) this.sigs.set(k, true);
    return ok;
  }
  sizes() {
    return { parsedCerts: this.parsed.size, signatures: this.sigs.size };
  }
  clear() {
    this.parsed.clear();
    this.sigs.clear();
  }
}

export interface VerifiedChain {
  /** Certificates below the pinned root, leaf first (the evidence's copy of the root removed). */
  certs: Cert[];
  /** Validity windows of `certs` (time checks happen per call, the chain result is cacheable). */
  validity: Array<{ subject: string; notBefore: number; notAfter: number }>;
}

export function commonName(cert: Cert): string {
  return cert.cn;
}

/**
 * Verifies a certificate chain (leaf first) up to the pinned root. Signatures, name chaining and
 * CA flags only; validity periods and revocation are checked by the caller at `now`.
 * - a self-issued certificate at the top must equal the pinned root byte for byte ('untrusted_root');
 * - the top certificate below it must be signed by the pinned root ('untrusted_root');
 * - every other link must verify, and issuers must be CAs, the leaf not (`chainCode`).
 */
export function verifyChainToRoot(
  ders: Uint8Array[],
  root: { cert: Cert; der: Uint8Array; key: string },
  chainCode: string,
  what: string,
  /** true when the first certificate is itself a CA (a CRL issuer chain). */
  leafIsCa = false,
  memo: CertMemo = new CertMemo(),
): VerifiedChain {
  if (ders.length === 0) throw new TdxCheckError(chainCode, `${what}: empty certificate chain`);
  ders = [...ders];
  // The evidence may carry a copy of the root: it must be the pinned one, byte for byte.
  if (bytesEqual(ders[ders.length - 1]!, root.der)) ders.pop();
  if (ders.length === 0) throw new TdxCheckError(chainCode, `${what}: the chain holds only the root certificate`);
  // Walk down from the pinned root: a certificate is parsed only once the one above it has
  // verified, so a chain of made-up certificates costs one parse and stops at its top.
  const certs: Cert[] = new Array(ders.length);
  let issuer = root.cert;
  for (let i = ders.length - 1; i >= 0; i--) {
    const isTop = i === ders.length - 1;
    const cert = memo.parse(ders[i]!, chainCode, `${what} certificate #${i}`);
    if (isTop && selfIssued(cert)) {
      throw new TdxCheckError("untrusted_root", `${what}: the chain ends at "${cert.cn}", which is not the pinned Intel SGX Root CA`);
    }
    const code = isTop ? "untrusted_root" : chainCode;
    if (!bytesEqual(cert.issuer, issuer.subject)) {
      throw new TdxCheckError(
        code,
        `${what}: "${cert.cn}" names an issuer that is not ${isTop ? "the pinned Intel SGX Root CA" : `"${issuer.cn}"`}`,
      );
    }
    if (!memo.verify(cert, issuer)) {
      throw new TdxCheckError(code, `${what}: the signature of "${cert.cn}" does not verify with the key of "${issuer.cn}"`);
    }
    if (i > 0 && !cert.isCa) {
      throw new TdxCheckError(chainCode, `${what}: "${cert.cn}" issues certificates but is not a CA`);
    }
    // RFC 5280: an issuer's key must be allowed to sign certificates (keyUsage), and no CA may
    // have more intermediate CAs below it than its pathLenConstraint; a critical extension we do
    // not process is refused. The pinned root's own constraints count too (Intel's: pathLen 1).
    if (i > 0 && cert.keyCertSign === false) {
      throw new TdxCheckError(chainCode, `${what}: "${cert.cn}" issues certificates but its keyUsage lacks keyCertSign`);
    }
    if (cert.unknownCritical.length > 0) {
      throw new TdxCheckError(
        chainCode,
        `${what}: "${cert.cn}" carries critical extensions this verifier does not process (${cert.unknownCritical.join(", ")})`,
      );
    }
    // the issuer has `i` intermediate CAs below it in this chain (every certificate but the last)
    if (issuer.pathLen !== undefined && i > issuer.pathLen) {
      throw new TdxCheckError(
        chainCode,
        `${what}: "${issuer.cn}" allows ${issuer.pathLen} intermediate CA(s) below it (pathLenConstraint), the chain has ${i}`,
      );
    }
    if (i === 0 && cert.isCa !== leafIsCa) {
      throw new TdxCheckError(
        chainCode,
        `${what}: "${cert.cn}" ${leafIsCa ? "must be a CA (it signs a CRL)" : "is a CA certificate, not an end entity"}`,
      );
    }
    certs[i] = cert;
    issuer = cert;
  }
  for (const [i, der] of ders.entries()) memo.remember(der, certs[i]!);
  return { certs, validity: certs.map((c) => ({ subject: c.cn, notBefore: c.notBefore, notAfter: c.notAfter })) };
}

export function serialHex(cert: Cert): string {
  return cert.serial;
}

// ------------------------------------------------------------ Intel SGX PCK extension
const SGX_EXT = "1.2.840.113741.1.13.1";
const SGX_TCB = `${SGX_EXT}.2`;
const SGX_PCEID = `${SGX_EXT}.3`;
const SGX_FMSPC = `${SGX_EXT}.4`;

export interface PckExtension {
  /** SGX TCB components comp01..comp16 (the CPUSVN components). */
  sgxTcbComponents: number[];
  pceSvn: number;
  cpuSvn: Uint8Array;
  fmspc: string; // lower-case hex, 6 bytes
  pceId: string; // lower-case hex, 2 bytes
}

/** SEQUENCE OF SEQUENCE { OID, value }, as a map (a repeated OID is refused). */
function oidMap(el: Der | undefined, what: string): Map<string, Der> {
  const m = new Map<string, Der>();
  for (const item of seq(el, what)) {
    const [id, value, ...rest] = seq(item, `${what} item`);
    if (!value || rest.length) throw new Error(`${what} item has no OID/value`);
    const k = oid(id, `${what} item OID`);
    if (m.has(k)) throw new Error(`${what} repeats ${k}`);
    m.set(k, value);
  }
  return m;
}

function fixedOctets(el: Der | undefined, len: number, what: string): Uint8Array {
  const v = octets(el, what);
  if (v.length !== len) throw new Error(`${what} has ${v.length} bytes, expected ${len}`);
  return v;
}

function svn(el: Der | undefined, what: string): number {
  const n = uint(el, what);
  if (n > 0xffff) throw new Error(`${what} is out of range`);
  return n;
}

/** Reads FMSPC, PCE-ID, PCESVN and the SGX TCB components from a PCK certificate. */
export function pckExtension(cert: Cert): PckExtension {
  const exts = cert.extensions.filter((e) => e.oid === SGX_EXT);
  if (exts.length !== 1) {
    throw new TdxCheckError("pck_extension_invalid", `PCK certificate has ${exts.length} Intel SGX extensions, expected 1`);
  }
  try {
    const top = oidMap(der(exts[0]!.value), "SGX extension");
    const tcb = top.get(SGX_TCB);
    if (!tcb) throw new Error("TCB entry missing");
    const tcbItems = oidMap(tcb, "SGX TCB");
    const sgxTcbComponents: number[] = [];
    for (let i = 1; i <= 16; i++) sgxTcbComponents.push(svn(tcbItems.get(`${SGX_TCB}.${i}`), `SGX TCB comp${i}`));
    const pceSvn = svn(tcbItems.get(`${SGX_TCB}.17`), "PCESVN");
    const cpuSvn = fixedOctets(tcbItems.get(`${SGX_TCB}.18`), 16, "CPUSVN");
    const fmspc = hex(fixedOctets(top.get(SGX_FMSPC), 6, "FMSPC"));
    const pceId = hex(fixedOctets(top.get(SGX_PCEID), 2, "PCE-ID"));
    return { sgxTcbComponents, pceSvn, cpuSvn, fmspc, pceId };
  } catch (e) {
    throw new TdxCheckError("pck_extension_invalid", `PCK certificate Intel SGX extension: ${(e as Error).message}`);
  }
}
