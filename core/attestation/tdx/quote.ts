/**
 * Byte-layout parser for Intel TDX DCAP quotes, version 4 and version 5 (Intel "TDX DCAP
 * Quote Generation Library and Quote Verification Library" data structures, ch. A.3/A.4).
 *
 *   v4: Header(48) | TD report body 1.0 (584)                          | u32 sigDataLen | sig data
 *   v5: Header(48) | u16 bodyType | u32 bodySize | TD report 1.0/1.5   | u32 sigDataLen | sig data
 *
 *   sig data = ECDSA sig r||s (64) | attestation pubkey x||y (64) | certification data
 *   certification data = u16 type | u32 size | body; type 6 = QE report certification data:
 *     QE report (384, SGX enclave report) | QE report sig (64) | u16 authLen | QE auth data |
 *     inner certification data (u16 type 5 = PCK cert chain, PEM, leaf first)
 *
 * The ECDSA signature covers header + (v5 body descriptor) + report body. Pure: no crypto here,
 * no ASN.1: the PEM chain is split into DER blobs for the verifier.
 * Malformed input raises {@link QuoteParseError} with a precise `code`, never a RangeError.
 */

export const TEE_TYPE_TDX = 0x81;
export const ATT_KEY_TYPE_ECDSA_P256 = 2;
export const CERT_TYPE_PCK_CHAIN = 5;
export const CERT_TYPE_QE_REPORT = 6;
/** Intel's QE vendor id 939A7233-F79C-4CA9-940A-0DB3957F0607. */
export const INTEL_QE_VENDOR_ID = "939a7233f79c4ca9940a0db3957f0607";

/**
 * Size caps, checked before anything is decoded or parsed (issue 9 #5: a quote carrying
 * hundreds of made-up certificates made the coordinator parse and keep all of them). Intel's
 * quotes are about 5 KB with a 3-certificate PCK chain (leaf, platform/processor CA, root) of
 * about 1.2 KB per certificate; the caps leave room for growth, not for abuse.
 */
export const MAX_QUOTE_BYTES = 16 * 1024;
/** The outer (QE report) certification data and the PEM PCK chain inside it. */
export const MAX_CERT_DATA_BYTES = 12 * 1024;
/** Certificates in one PEM chain (the quote's PCK chain, a collateral issuer chain). */
export const MAX_CHAIN_CERTS = 4;
/** One DER certificate. */
export const MAX_CERT_BYTES = 4 * 1024;

const TD_REPORT10_LEN = 584;
const TD_REPORT15_LEN = 648;
const ENCLAVE_REPORT_LEN = 384;

export type QuoteParseCode =
  | "quote_truncated"
  | "quote_unsupported_version"
  | "quote_unsupported_tee_type"
  | "quote_unsupported_att_key_type"
  | "quote_unsupported_body_type"
  | "quote_body_size_mismatch"
  | "quote_sig_data_size_mismatch"
  | "quote_unsupported_cert_type"
  | "quote_cert_data_size_mismatch"
  | "quote_pck_chain_missing"
  | "quote_too_large"
  | "quote_cert_data_too_large"
  | "cert_chain_too_long"
  | "cert_too_large";

export class QuoteParseError extends Error {
  override readonly name = "QuoteParseError";
  constructor(
    readonly code: QuoteParseCode,
    message: string,
  ) {
    super(message);
  }
}

export interface QuoteHeader {
  version: number;
  attestationKeyType: number;
  teeType: number;
  qeSvn: number;
  pceSvn: number;
  qeVendorId: Uint8Array; // 16
  userData: Uint8Array; // 20
}

export interface TdReportBody {
  kind: "td10" | "td15";
  teeTcbSvn: Uint8Array; // 16
  mrSeam: Uint8Array; // 48
  mrSignerSeam: Uint8Array; // 48
  seamAttributes: Uint8Array; // 8
  tdAttributes: Uint8Array; // 8
  xfam: Uint8Array; // 8
  mrTd: Uint8Array; // 48
  mrConfigId: Uint8Array; // 48
  mrOwner: Uint8Array; // 48
  mrOwnerConfig: Uint8Array; // 48
  rtmr0: Uint8Array; // 48
  rtmr1: Uint8Array;
  rtmr2: Uint8Array;
  rtmr3: Uint8Array;
  reportData: Uint8Array; // 64
  /** TD report 1.5 (v5 body type 3) only. */
  teeTcbSvn2?: Uint8Array; // 16
  mrServiceTd?: Uint8Array; // 48
}

/** SGX enclave report (the QE's report). */
export interface EnclaveReport {
  raw: Uint8Array; // 384, what the QE report signature covers
  cpuSvn: Uint8Array;
  miscSelect: number;
  attributes: Uint8Array; // 16
  mrEnclave: Uint8Array;
  mrSigner: Uint8Array;
  isvProdId: number;
  isvSvn: number;
  reportData: Uint8Array; // 64
}

export interface TdxQuote {
  header: QuoteHeader;
  body: TdReportBody;
  /** The bytes the attestation key signed: header (+ v5 body descriptor) + report body. */
  signedBytes: Uint8Array;
  quoteSignature: Uint8Array; // r||s, 64
  attestationKey: Uint8Array; // x||y, 64
  qeReport: EnclaveReport;
  qeReportSignature: Uint8Array; // r||s, 64
  qeAuthData: Uint8Array;
  /** PCK certificate chain as carried in the quote: PEM text and DER blobs, leaf first. */
  pckChainPem: string;
  pckChainDer: Uint8Array[];
  /** Bytes after the signature data (Intel's tooling often pads quotes with zeros); not signed, not used. */
  trailingBytes: number;
}

class Reader {
  private off = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {}
  get offset() {
    return this.off;
  }
  get remaining() {
    return this.buf.length - this.off;
  }
  bytes(n: number, field: string): Uint8Array {
    if (n < 0 || this.off + n > this.buf.length) {
      throw new QuoteParseError(
        "quote_truncated",
        `${this.what}: ${field} needs ${n} bytes at offset ${this.off} but only ${this.remaining} remain`,
      );
    }
    const out = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return out;
  }
  u16(field: string): number {
    const b = this.bytes(2, field);
    return b[0]! | (b[1]! << 8);
  }
  u32(field: string): number {
    const b = this.bytes(4, field);
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  }
}

function parseHeader(r: Reader): QuoteHeader {
  const version = r.u16("header.version");
  const attestationKeyType = r.u16("header.attestationKeyType");
  const teeType = r.u32("header.teeType");
  const qeSvn = r.u16("header.qeSvn");
  const pceSvn = r.u16("header.pceSvn");
  const qeVendorId = r.bytes(16, "header.qeVendorId");
  const userData = r.bytes(20, "header.userData");
  return { version, attestationKeyType, teeType, qeSvn, pceSvn, qeVendorId, userData };
}

function parseTdReport(r: Reader, kind: "td10" | "td15"): TdReportBody {
  const body: TdReportBody = {
    kind,
    teeTcbSvn: r.bytes(16, "body.teeTcbSvn"),
    mrSeam: r.bytes(48, "body.mrSeam"),
    mrSignerSeam: r.bytes(48, "body.mrSignerSeam"),
    seamAttributes: r.bytes(8, "body.seamAttributes"),
    tdAttributes: r.bytes(8, "body.tdAttributes"),
    xfam: r.bytes(8, "body.xfam"),
    mrTd: r.bytes(48, "body.mrTd"),
    mrConfigId: r.bytes(48, "body.mrConfigId"),
    mrOwner: r.bytes(48, "body.mrOwner"),
    mrOwnerConfig: r.bytes(48, "body.mrOwnerConfig"),
    rtmr0: r.bytes(48, "body.rtmr0"),
    rtmr1: r.bytes(48, "body.rtmr1"),
    rtmr2: r.bytes(48, "body.rtmr2"),
    rtmr3: r.bytes(48, "body.rtmr3"),
    reportData: r.bytes(64, "body.reportData"),
  };
  if (kind === "td15") {
    body.teeTcbSvn2 = r.bytes(16, "body.teeTcbSvn2");
    body.mrServiceTd = r.bytes(48, "body.mrServiceTd");
  }
  return body;
}

export function parseEnclaveReport(raw: Uint8Array): EnclaveReport {
  const r = new Reader(raw, "QE report");
  const cpuSvn = r.bytes(16, "qeReport.cpuSvn");
  const miscSelect = r.u32("qeReport.miscSelect");
  r.bytes(28, "qeReport.reserved1");
  const attributes = r.bytes(16, "qeReport.attributes");
  const mrEnclave = r.bytes(32, "qeReport.mrEnclave");
  r.bytes(32, "qeReport.reserved2");
  const mrSigner = r.bytes(32, "qeReport.mrSigner");
  r.bytes(96, "qeReport.reserved3");
  const isvProdId = r.u16("qeReport.isvProdId");
  const isvSvn = r.u16("qeReport.isvSvn");
  r.bytes(60, "qeReport.reserved4");
  const reportData = r.bytes(64, "qeReport.reportData");
  return { raw, cpuSvn, miscSelect, attributes, mrEnclave, mrSigner, isvProdId, isvSvn, reportData };
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----\r?\n?([A-Za-z0-9+/=\r\n]+)\r?\n?-----END CERTIFICATE-----/g;
const BEGIN = "-----BEGIN CERTIFICATE-----";

/**
 * Splits PEM text into DER certificates (leaf first, as carried). Only well-formed blocks count.
 * Refuses (QuoteParseError) more than MAX_CHAIN_CERTS blocks, counted before any is decoded,
 * and a certificate over MAX_CERT_BYTES, before it is parsed.
 */
export function pemCertificates(pem: string, what = "certificate chain"): Uint8Array[] {
  let blocks = 0;
  for (let i = pem.indexOf(BEGIN); i !== -1; i = pem.indexOf(BEGIN, i + BEGIN.length)) {
    if (++blocks > MAX_CHAIN_CERTS) {
      throw new QuoteParseError("cert_chain_too_long", `${what}: more than ${MAX_CHAIN_CERTS} PEM certificates; an Intel chain has 3`);
    }
  }
  const out: Uint8Array[] = [];
  for (const m of pem.matchAll(PEM_CERT)) {
    const b64 = m[1]!.replace(/[\r\n]/g, "");
    if (Math.floor((b64.length * 3) / 4) > MAX_CERT_BYTES + 2) {
      throw new QuoteParseError(
        "cert_too_large",
        `${what}: certificate #${out.length} is larger than ${MAX_CERT_BYTES} bytes; Intel's are about 1.2 KB`,
      );
    }
    const der = new Uint8Array(Buffer.from(b64, "base64"));
    if (der.length > MAX_CERT_BYTES) {
      throw new QuoteParseError(
        "cert_too_large",
        `${what}: certificate #${out.length} is ${der.length} bytes, more than ${MAX_CERT_BYTES}`,
      );
    }
    out.push(der);
  }
  return out;
}

/**
 * Parses a TDX quote. Checks only structure (sizes, version, TEE type, key type, cert types);
 * every cryptographic check lives in verify.ts.
 */
export function parseTdxQuote(quote: Uint8Array): TdxQuote {
  if (quote.length > MAX_QUOTE_BYTES) {
    throw new QuoteParseError(
      "quote_too_large",
      `the quote is ${quote.length} bytes, more than ${MAX_QUOTE_BYTES}; a TDX quote is about 5 KB`,
    );
  }
  const r = new Reader(quote, "quote");
  const header = parseHeader(r);
  if (header.version !== 4 && header.version !== 5) {
    throw new QuoteParseError(
      "quote_unsupported_version",
      `quote version ${header.version} is not supported: only TDX DCAP quotes version 4 and 5 are`,
    );
  }
  if (header.teeType !== TEE_TYPE_TDX) {
    throw new QuoteParseError(
      "quote_unsupported_tee_type",
      `TEE type 0x${header.teeType.toString(16)} is not TDX (0x81): this verifier accepts TDX quotes only`,
    );
  }
  if (header.attestationKeyType !== ATT_KEY_TYPE_ECDSA_P256) {
    throw new QuoteParseError(
      "quote_unsupported_att_key_type",
      `attestation key type ${header.attestationKeyType} is not ECDSA-256-with-P-256 (2)`,
    );
  }
  let kind: "td10" | "td15" = "td10";
  if (header.version === 5) {
    const bodyType = r.u16("body.type");
    const bodySize = r.u32("body.size");
    if (bodyType === 2) kind = "td10";
    else if (bodyType === 3) kind = "td15";
    else {
      throw new QuoteParseError(
        "quote_unsupported_body_type",
        `quote v5 body type ${bodyType} is not a TD report (2 = TDX 1.0, 3 = TDX 1.5)`,
      );
    }
    const expected = kind === "td10" ? TD_REPORT10_LEN : TD_REPORT15_LEN;
    if (bodySize !== expected) {
      throw new QuoteParseError(
        "quote_body_size_mismatch",
        `quote v5 body size ${bodySize} does not match body type ${bodyType} (${expected} bytes)`,
      );
    }
  }
  const body = parseTdReport(r, kind);
  const signedLen = r.offset;
  const signedBytes = quote.subarray(0, signedLen);

  const sigDataLen = r.u32("sigDataLen");
  const sigData = new Reader(r.bytes(sigDataLen, "signature data"), "signature data");
  const trailingBytes = r.remaining;

  const quoteSignature = sigData.bytes(64, "quoteSignature");
  const attestationKey = sigData.bytes(64, "attestationKey");
  const certType = sigData.u16("certData.type");
  const certSize = sigData.u32("certData.size");
  if (certType !== CERT_TYPE_QE_REPORT) {
    throw new QuoteParseError(
      "quote_unsupported_cert_type",
      `outer certification data type ${certType} is not 6 (QE report certification data)`,
    );
  }
  if (certSize > MAX_CERT_DATA_BYTES) {
    throw new QuoteParseError(
      "quote_cert_data_too_large",
      `the quote's certification data is ${certSize} bytes, more than ${MAX_CERT_DATA_BYTES}`,
    );
  }
  const certBody = sigData.bytes(certSize, "certData.body");
  if (sigData.remaining !== 0) {
    throw new QuoteParseError(
      "quote_sig_data_size_mismatch",
      `signature data length ${sigDataLen} leaves ${sigData.remaining} unexplained bytes after the certification data`,
    );
  }

  const qe = new Reader(certBody, "QE report certification data");
  const qeReportRaw = qe.bytes(ENCLAVE_REPORT_LEN, "qeReport");
  const qeReportSignature = qe.bytes(64, "qeReportSignature");
  const authLen = qe.u16("qeAuthData.size");
  const qeAuthData = qe.bytes(authLen, "qeAuthData");
  const innerType = qe.u16("innerCertData.type");
  const innerSize = qe.u32("innerCertData.size");
  if (innerType !== CERT_TYPE_PCK_CHAIN) {
    throw new QuoteParseError(
      "quote_unsupported_cert_type",
      `inner certification data type ${innerType} is not 5 (PCK certificate chain); fetch the PCK certificate from PCS instead`,
    );
  }
  const chainBytes = qe.bytes(innerSize, "innerCertData.body");
  if (qe.remaining !== 0) {
    throw new QuoteParseError(
      "quote_cert_data_size_mismatch",
      `QE report certification data size ${certSize} leaves ${qe.remaining} unexplained bytes`,
    );
  }
  const pckChainPem = new TextDecoder("utf-8", { fatal: false }).decode(chainBytes);
  const pckChainDer = pemCertificates(pckChainPem, "PCK certificate chain");
  if (pckChainDer.length === 0) {
    throw new QuoteParseError("quote_pck_chain_missing", "the quote carries no PEM certificate in its PCK chain");
  }

  return {
    header,
    body,
    signedBytes,
    quoteSignature,
    attestationKey,
    qeReport: parseEnclaveReport(qeReportRaw),
    qeReportSignature,
    qeAuthData,
    pckChainPem,
    pckChainDer,
    trailingBytes,
  };
}
