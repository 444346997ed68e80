/**
 * Certificate, CRL and Intel SGX-extension helpers on top of pkijs / asn1js / WebCrypto.
 * No hand-written ASN.1 or curve math: pkijs parses and verifies, asn1js decodes the
 * Intel extension, WebCrypto verifies raw r||s ECDSA signatures.
 */
import { createHash } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { Lru } from "../lru";
import { bytesEqual } from "../../crypto/encoding";

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

export type CryptoKey = import("node:crypto").webcrypto.CryptoKey;
const subtle = globalThis.crypto.subtle;

export function hex(b: Uint8Array | ArrayBuffer): string {
  return Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)).toString("hex");
}

/** Parses one DER certificate; any malformation becomes `code`. */
export function parseCertificate(der: Uint8Array, code: string, what: string): pkijs.Certificate {
  try {
    const c = pkijs.Certificate.fromBER(der);
    // Touch the fields we rely on so a half-parsed certificate fails here, not later.
    void c.notBefore.value.getTime();
    void c.notAfter.value.getTime();
    return c;
  } catch (e) {
    throw new TdxCheckError(code, `${what}: certificate is not valid DER X.509 (${(e as Error).message})`);
  }
}

export function parseCrl(der: Uint8Array, code: string, what: string): pkijs.CertificateRevocationList {
  try {
    const crl = pkijs.CertificateRevocationList.fromBER(der);
    void crl.thisUpdate.value.getTime();
    return crl;
  } catch (e) {
    throw new TdxCheckError(code, `${what}: not a valid DER CRL (${(e as Error).message})`);
  }
}

export function spkiOf(cert: pkijs.Certificate): ArrayBuffer {
  return cert.subjectPublicKeyInfo.toSchema().toBER(false);
}

export async function importP256Spki(spki: ArrayBuffer, code: string, what: string): Promise<CryptoKey> {
  try {
    return await subtle.importKey("spki", spki, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  } catch (e) {
    throw new TdxCheckError(code, `${what}: public key is not a valid ECDSA P-256 key (${(e as Error).message})`);
  }
}

/** Imports a raw x||y (64 bytes) P-256 point, as carried in quotes. */
export async function importP256Raw(xy: Uint8Array, code: string, what: string): Promise<CryptoKey> {
  const raw = new Uint8Array(65);
  raw[0] = 0x04;
  raw.set(xy, 1);
  try {
    return await subtle.importKey("raw", raw, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  } catch (e) {
    throw new TdxCheckError(code, `${what}: not a valid P-256 point (${(e as Error).message})`);
  }
}

/** Verifies a raw r||s ECDSA-P256-SHA256 signature (IEEE P1363, what WebCrypto takes). */
export async function verifyRawEcdsa(key: CryptoKey, sig: Uint8Array, data: Uint8Array): Promise<boolean> {
  if (sig.length !== 64) return false;
  return subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, sig, data);
}

function isCa(cert: pkijs.Certificate): boolean {
  const ext = cert.extensions?.find((e) => e.extnID === "2.5.29.19");
  const bc = ext?.parsedValue as pkijs.BasicConstraints | undefined;
  return !!bc?.cA;
}

function selfIssued(cert: pkijs.Certificate): boolean {
  return cert.issuer.isEqual(cert.subject);
}

/**
 * Parsed certificates and signature results by content hash: certificates recur across the
 * PCK chain and the collateral chains (root, platform CA, TCB signing cert), and pkijs
 * parsing costs milliseconds each. Bounded (LRU), and it keeps only what verified: a
 * certificate is remembered once its whole chain reached the pinned root, a signature only
 * when it held, so made-up certificates leave nothing behind (issue 9 #5).
 */
export class CertMemo {
  private readonly parsed: Lru<string, pkijs.Certificate>;
  private readonly sigs: Lru<string, true>;
  constructor(maxEntries = 256) {
    this.parsed = new Lru(maxEntries);
    this.sigs = new Lru(maxEntries);
  }
  static id(der: Uint8Array): string {
    return createHash("sha256").update(der).digest("base64");
  }
  /** The remembered parse of `der`, else a fresh parse that is NOT remembered (see remember). */
  parse(der: Uint8Array, code: string, what: string): pkijs.Certificate {
    return this.parsed.get(CertMemo.id(der)) ?? parseCertificate(der, code, what);
  }
  /** Keeps the parse of a certificate whose chain verified. */
  remember(der: Uint8Array, cert: pkijs.Certificate) {
    this.parsed.set(CertMemo.id(der), cert);
  }
  async verify(childDer: Uint8Array, child: pkijs.Certificate, issuerId: string, issuer: pkijs.Certificate): Promise<boolean> {
    const k = `${CertMemo.id(childDer)}<${issuerId}`;
    if (this.sigs.get(k)) return true;
    const ok = await child.verify(issuer).catch(() => false);
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
  certs: pkijs.Certificate[];
  /** Validity windows of `certs` (time checks happen per call, the chain result is cacheable). */
  validity: Array<{ subject: string; notBefore: number; notAfter: number }>;
}

export function commonName(cert: pkijs.Certificate): string {
  const cn = cert.subject.typesAndValues.find((t) => t.type === "2.5.4.3");
  return cn ? String(cn.value.valueBlock.value) : "(no CN)";
}

/**
 * Verifies a certificate chain (leaf first) up to the pinned root. Signatures, name chaining and
 * CA flags only; validity periods and revocation are checked by the caller at `now`.
 * - a self-issued certificate at the top must equal the pinned root byte for byte ('untrusted_root');
 * - the top certificate below it must be signed by the pinned root ('untrusted_root');
 * - every other link must verify, and issuers must be CAs, the leaf not (`chainCode`).
 */
export async function verifyChainToRoot(
  ders: Uint8Array[],
  root: { cert: pkijs.Certificate; der: Uint8Array; key: string },
  chainCode: string,
  what: string,
  /** true when the first certificate is itself a CA (a CRL issuer chain). */
  leafIsCa = false,
  memo: CertMemo = new CertMemo(),
): Promise<VerifiedChain> {
  if (ders.length === 0) throw new TdxCheckError(chainCode, `${what}: empty certificate chain`);
  ders = [...ders];
  // The evidence may carry a copy of the root: it must be the pinned one, byte for byte.
  if (bytesEqual(ders[ders.length - 1]!, root.der)) ders.pop();
  if (ders.length === 0) throw new TdxCheckError(chainCode, `${what}: the chain holds only the root certificate`);
  // Walk down from the pinned root: a certificate is parsed only once the one above it has
  // verified, so a chain of made-up certificates costs one parse and stops at its top.
  const certs: pkijs.Certificate[] = new Array(ders.length);
  let issuer = root.cert;
  let issuerId = root.key;
  for (let i = ders.length - 1; i >= 0; i--) {
    const isTop = i === ders.length - 1;
    const cert = memo.parse(ders[i]!, chainCode, `${what} certificate #${i}`);
    if (isTop && selfIssued(cert)) {
      throw new TdxCheckError(
        "untrusted_root",
        `${what}: the chain ends at "${commonName(cert)}", which is not the pinned Intel SGX Root CA`,
      );
    }
    const code = isTop ? "untrusted_root" : chainCode;
    if (!cert.issuer.isEqual(issuer.subject)) {
      throw new TdxCheckError(
        code,
        `${what}: "${commonName(cert)}" names an issuer that is not ${isTop ? "the pinned Intel SGX Root CA" : `"${commonName(issuer)}"`}`,
      );
    }
    const ok = await memo.verify(ders[i]!, cert, issuerId, issuer);
    if (!ok) {
      throw new TdxCheckError(
        code,
        `${what}: the signature of "${commonName(cert)}" does not verify with the key of "${commonName(issuer)}"`,
      );
    }
    if (i > 0 && !isCa(cert)) {
      throw new TdxCheckError(chainCode, `${what}: "${commonName(cert)}" issues certificates but is not a CA`);
    }
    if (i === 0 && isCa(cert) !== leafIsCa) {
      throw new TdxCheckError(
        chainCode,
        `${what}: "${commonName(cert)}" ${leafIsCa ? "must be a CA (it signs a CRL)" : "is a CA certificate, not an end entity"}`,
      );
    }
    certs[i] = cert;
    issuer = cert;
    issuerId = CertMemo.id(ders[i]!);
  }
  for (const [i, der] of ders.entries()) memo.remember(der, certs[i]!);
  return {
    certs,
    validity: certs.map((c) => ({
      subject: commonName(c),
      notBefore: c.notBefore.value.getTime(),
      notAfter: c.notAfter.value.getTime(),
    })),
  };
}

export function serialHex(cert: pkijs.Certificate): string {
  return hex(cert.serialNumber.valueBlock.valueHexView);
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

type Asn1Any = asn1js.AsnType;

function seqItems(node: Asn1Any, what: string): Array<{ oid: string; value: Asn1Any }> {
  if (!(node instanceof asn1js.Sequence)) throw new Error(`${what} is not a SEQUENCE`);
  return node.valueBlock.value.map((item) => {
    if (!(item instanceof asn1js.Sequence)) throw new Error(`${what} item is not a SEQUENCE`);
    const [oid, value] = item.valueBlock.value;
    if (!(oid instanceof asn1js.ObjectIdentifier) || !value) throw new Error(`${what} item has no OID/value`);
    return { oid: oid.valueBlock.toString(), value };
  });
}

function octets(node: Asn1Any | undefined, len: number, what: string): Uint8Array {
  if (!(node instanceof asn1js.OctetString)) throw new Error(`${what} is not an OCTET STRING`);
  const v = new Uint8Array(node.valueBlock.valueHexView);
  if (v.length !== len) throw new Error(`${what} has ${v.length} bytes, expected ${len}`);
  return v;
}

function int(node: Asn1Any | undefined, what: string): number {
  if (!(node instanceof asn1js.Integer)) throw new Error(`${what} is not an INTEGER`);
  const n = node.valueBlock.valueDec;
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffff) throw new Error(`${what} is out of range`);
  return n;
}

/** Reads FMSPC, PCE-ID, PCESVN and the SGX TCB components from a PCK certificate. */
export function pckExtension(cert: pkijs.Certificate): PckExtension {
  const exts = (cert.extensions ?? []).filter((e) => e.extnID === SGX_EXT);
  if (exts.length !== 1) {
    throw new TdxCheckError("pck_extension_invalid", `PCK certificate has ${exts.length} Intel SGX extensions, expected 1`);
  }
  try {
    const parsed = asn1js.fromBER(exts[0]!.extnValue.valueBlock.valueHexView);
    if (parsed.offset === -1) throw new Error("extension value is not DER");
    const top = new Map(seqItems(parsed.result, "SGX extension").map((i) => [i.oid, i.value]));
    const tcb = top.get(SGX_TCB);
    if (!tcb) throw new Error("TCB entry missing");
    const tcbItems = new Map(seqItems(tcb, "SGX TCB").map((i) => [i.oid, i.value]));
    const sgxTcbComponents: number[] = [];
    for (let i = 1; i <= 16; i++) sgxTcbComponents.push(int(tcbItems.get(`${SGX_TCB}.${i}`), `SGX TCB comp${i}`));
    const pceSvn = int(tcbItems.get(`${SGX_TCB}.17`), "PCESVN");
    const cpuSvn = octets(tcbItems.get(`${SGX_TCB}.18`), 16, "CPUSVN");
    const fmspc = hex(octets(top.get(SGX_FMSPC), 6, "FMSPC"));
    const pceId = hex(octets(top.get(SGX_PCEID), 2, "PCE-ID"));
    return { sgxTcbComponents, pceSvn, cpuSvn, fmspc, pceId };
  } catch (e) {
    throw new TdxCheckError("pck_extension_invalid", `PCK certificate Intel SGX extension: ${(e as Error).message}`);
  }
}
