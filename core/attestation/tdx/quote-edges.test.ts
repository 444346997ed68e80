/**
 * parseTdxQuote at its edges: the byte reader's bounds (every field named in the truncation
 * message), quote v5 with a TD report 1.5 body (MRSERVICETD), the v5 body size, the size caps
 * (MAX_QUOTE_BYTES, MAX_CERT_DATA_BYTES, MAX_CHAIN_CERTS, MAX_CERT_BYTES before and after
 * decoding) exactly at the limit and one past, and unexplained bytes inside the signature data.
 *
 * Quotes are reassembled from the sample's parts (Intel DCAP quote format, v4 and v5): no
 * signature verifies, which is fine, this is the parser alone.
 */
import { describe, expect, it } from "vitest";
import { LAYOUT, SAMPLE_QUOTE, thrownBy } from "../../../test/fixtures/attestation/helpers";
import {
  MAX_CERT_BYTES,
  MAX_CERT_DATA_BYTES,
  MAX_CHAIN_CERTS,
  MAX_QUOTE_BYTES,
  QuoteParseError,
  parseEnclaveReport,
  parseTdxQuote,
  pemCertificates,
  type QuoteParseCode,
} from "./quote";

const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? new Uint8Array()).toString("hex");
const part = ([start, end]: readonly [number, number]) => SAMPLE_QUOTE.slice(start, end);
const SAMPLE_PEM = new TextDecoder().decode(part(LAYOUT.pckChainPem));
const SAMPLE_DER = pemCertificates(SAMPLE_PEM);

const TD10 = 584;
const TD15 = 648;
/** TEE_TCB_SVN2 (16) and MRSERVICETD (48), appended to a TD report 1.0 to make a 1.5 one. */
const TD15_EXTRA = Uint8Array.from({ length: TD15 - TD10 }, (_, i) => 0xa0 + (i % 0x50));

const u16 = (v: number) => Uint8Array.of(v & 0xff, (v >> 8) & 0xff);
const u32 = (v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
};
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
};
const ascii = (s: string) => new TextEncoder().encode(s);

interface QuoteParts {
  version?: number;
  /** v5 only: body descriptor. */
  bodyType?: number;
  bodySize?: number;
  body?: Uint8Array;
  certType?: number;
  /** Outer certification data size; by default the real one. */
  certSize?: number;
  authData?: Uint8Array;
  innerType?: number;
  pem?: string | Uint8Array;
  /** Bytes after the PCK chain inside the QE report certification data (counted in certSize). */
  qeExtra?: Uint8Array;
  /** Bytes after the certification data inside the signature data (counted in sigDataLen). */
  sigExtra?: Uint8Array;
  /** Bytes after the signature data. */
  trailing?: Uint8Array;
}

/**
 * The sample quote reassembled from its parts, every length field consistent unless overridden:
 * header | [v5: u16 bodyType | u32 bodySize] | body | u32 sigDataLen | sig | key |
 * u16 certType | u32 certSize | QE report | QE report sig | u16 authLen | auth | u16 innerType | u32 innerSize | PEM.
 */
function buildQuote(p: QuoteParts = {}): Uint8Array {
  const version = p.version ?? 4;
  const header = part(LAYOUT.header);
  header.set(u16(version), 0);
  const body = p.body ?? part(LAYOUT.body);
  const descriptor = version === 5 ? concat(u16(p.bodyType ?? 2), u32(p.bodySize ?? body.length)) : new Uint8Array();
  const pem = typeof p.pem === "string" ? ascii(p.pem) : (p.pem ?? part(LAYOUT.pckChainPem));
  const auth = p.authData ?? part(LAYOUT.qeAuthData);
  const qeCertData = concat(
    part(LAYOUT.qeReport),
    part(LAYOUT.qeReportSignature),
    u16(auth.length),
    auth,
    u16(p.innerType ?? 5),
    u32(pem.length),
    pem,
    p.qeExtra ?? new Uint8Array(),
  );
  const sigData = concat(
    part(LAYOUT.quoteSignature),
    part(LAYOUT.attestationKey),
    u16(p.certType ?? 6),
    u32(p.certSize ?? qeCertData.length),
    qeCertData,
    p.sigExtra ?? new Uint8Array(),
  );
  return concat(header, descriptor, body, u32(sigData.length), sigData, p.trailing ?? new Uint8Array());
}

/** The sample as quote v5 with a TD report 1.5 body (TD report 1.0 + TEE_TCB_SVN2 + MRSERVICETD). */
const td15Quote = (p: QuoteParts = {}) => buildQuote({ version: 5, bodyType: 3, body: concat(part(LAYOUT.body), TD15_EXTRA), ...p });

/** `quote` with the u32 at `offset` set to `value`. */
function withU32(quote: Uint8Array, offset: number, value: number): Uint8Array {
  const t = quote.slice();
  t.set(u32(value), offset);
  return t;
}

/** DER → PEM; `eol` between lines, `width` characters a line (0: a single line, no line breaks at all). */
function toPem(der: Uint8Array, { eol = "\n", width = 64 } = {}): string {
  const b64 = Buffer.from(der).toString("base64");
  if (width === 0) return `-----BEGIN CERTIFICATE-----${b64}-----END CERTIFICATE-----`;
  const lines = b64.match(new RegExp(`.{1,${width}}`, "g"))!;
  return `-----BEGIN CERTIFICATE-----${eol}${lines.join(eol)}${eol}-----END CERTIFICATE-----${eol}`;
}
/** A PEM block around raw base64 text (any content, not necessarily valid DER). */
const pemBlock = (b64: string) => `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;

const parseError = (act: () => unknown): QuoteParseError => thrownBy(QuoteParseError, act);
function expectParseError(f: () => unknown, code: QuoteParseCode, message?: string | RegExp): QuoteParseError {
  const e = parseError(f);
  expect(e.code).toBe(code);
  if (typeof message === "string") expect(e.message).toBe(message);
  else if (message) expect(e.message).toMatch(message);
  return e;
}

describe("the quote builder", () => {
  it("reassembles the sample byte for byte (less its 70 bytes of zero padding)", () => {
    const rebuilt = buildQuote();
    expect(hex(rebuilt)).toBe(hex(SAMPLE_QUOTE.subarray(0, SAMPLE_QUOTE.length - 70)));
    expect(hex(buildQuote({ trailing: new Uint8Array(70) }))).toBe(hex(SAMPLE_QUOTE));
  });
});

describe("QuoteParseError", () => {
  it("is named QuoteParseError and carries its code", () => {
    const e = expectParseError(() => parseTdxQuote(new Uint8Array(10)), "quote_truncated");
    expect(e.name).toBe("QuoteParseError");
    expect(e).toBeInstanceOf(Error);
  });
});

describe("the byte reader's bounds: quote_truncated names the reader, the field, its size, offset and what remains", () => {
  // [field, offset where it starts, its size]
  const header: Array<[string, number, number]> = [
    ["header.version", 0, 2],
    ["header.attestationKeyType", 2, 2],
    ["header.teeType", 4, 4],
    ["header.qeSvn", 8, 2],
    ["header.pceSvn", 10, 2],
    ["header.qeVendorId", 12, 16],
    ["header.userData", 28, 20],
  ];
  const body: Array<[string, number, number]> = [
    ["body.teeTcbSvn", 48, 16],
    ["body.mrSeam", 64, 48],
    ["body.mrSignerSeam", 112, 48],
    ["body.seamAttributes", 160, 8],
    ["body.tdAttributes", 168, 8],
    ["body.xfam", 176, 8],
    ["body.mrTd", 184, 48],
    ["body.mrConfigId", 232, 48],
    ["body.mrOwner", 280, 48],
    ["body.mrOwnerConfig", 328, 48],
    ["body.rtmr0", 376, 48],
    ["body.rtmr1", 424, 48],
    ["body.rtmr2", 472, 48],
    ["body.rtmr3", 520, 48],
    ["body.reportData", 568, 64],
    ["sigDataLen", 632, 4],
  ];

  it.each([...header, ...body])("%s: cut one byte into it (at offset %i, %i bytes)", (field, offset, size) => {
    const cut = SAMPLE_QUOTE.subarray(0, offset + 1);
    expectParseError(
      () => parseTdxQuote(cut),
      "quote_truncated",
      `quote: ${field} needs ${size} bytes at offset ${offset} but only 1 remain`,
    );
  });

  it("a field that ends exactly at the end of the buffer is read (off + n === length), one byte less is not", () => {
    // the header ends at 48: a 48-byte quote fails at the body, not in the header
    expectParseError(
      () => parseTdxQuote(SAMPLE_QUOTE.subarray(0, 48)),
      "quote_truncated",
      /^quote: body\.teeTcbSvn needs 16 bytes at offset 48 but only 0 remain$/,
    );
    expectParseError(
      () => parseTdxQuote(SAMPLE_QUOTE.subarray(0, 47)),
      "quote_truncated",
      /^quote: header\.userData needs 20 bytes at offset 28 but only 19 remain$/,
    );
  });

  it("the signature data longer than the quote: its length is checked against what remains", () => {
    const q = buildQuote();
    const cut = q.subarray(0, q.length - 1);
    expectParseError(
      () => parseTdxQuote(cut),
      "quote_truncated",
      `quote: signature data needs ${q.length - 636} bytes at offset 636 but only ${q.length - 637} remain`,
    );
  });

  /** The sample with its signature data cut to `n` bytes (sigDataLen = n), so the inner reader runs short. */
  const cutSigData = (n: number) => withU32(buildQuote().subarray(0, 636 + n), 632, n);
  it.each([
    ["quoteSignature", 10, 64, 0],
    ["attestationKey", 100, 64, 64],
    ["certData.type", 129, 2, 128],
    ["certData.size", 133, 4, 130],
    ["certData.body", 140, LAYOUT.pckChainPem[1] - 770, 134],
  ] as const)("signature data: %s (sigDataLen %i)", (field, n, size, offset) => {
    expectParseError(
      () => parseTdxQuote(cutSigData(n)),
      "quote_truncated",
      `signature data: ${field} needs ${size} bytes at offset ${offset} but only ${n - offset} remain`,
    );
  });

  /** The sample with its QE report certification data cut to `m` bytes (certSize and sigDataLen fixed up). */
  const cutQeData = (m: number) => withU32(withU32(buildQuote().subarray(0, 770 + m), 632, 134 + m), 766, m);
  it.each([
    ["qeReport", 100, 384, 0],
    ["qeReportSignature", 400, 64, 384],
    ["qeAuthData.size", 449, 2, 448],
    ["qeAuthData", 460, 32, 450],
    ["innerCertData.type", 483, 2, 482],
    ["innerCertData.size", 487, 4, 484],
    ["innerCertData.body", 500, 3678, 488],
  ] as const)("QE report certification data: %s (certSize %i)", (field, m, size, offset) => {
    expectParseError(
      () => parseTdxQuote(cutQeData(m)),
      "quote_truncated",
      `QE report certification data: ${field} needs ${size} bytes at offset ${offset} but only ${m - offset} remain`,
    );
  });

  it("an empty QE authentication data (a zero-length read) is fine", () => {
    const q = parseTdxQuote(buildQuote({ authData: new Uint8Array() }));
    expect(q.qeAuthData.length).toBe(0);
    expect(q.pckChainDer).toHaveLength(3);
  });

  it("v5: the body descriptor's type and size are bounded too", () => {
    const v5 = buildQuote({ version: 5 });
    expectParseError(
      () => parseTdxQuote(v5.subarray(0, 49)),
      "quote_truncated",
      "quote: body.type needs 2 bytes at offset 48 but only 1 remain",
    );
    expectParseError(
      () => parseTdxQuote(v5.subarray(0, 51)),
      "quote_truncated",
      "quote: body.size needs 4 bytes at offset 50 but only 1 remain",
    );
  });

  it("v5 TD report 1.5: TEE_TCB_SVN2 and MRSERVICETD are bounded too", () => {
    const q = td15Quote();
    expectParseError(
      () => parseTdxQuote(q.subarray(0, 54 + TD10 + 1)),
      "quote_truncated",
      `quote: body.teeTcbSvn2 needs 16 bytes at offset ${54 + TD10} but only 1 remain`,
    );
    expectParseError(
      () => parseTdxQuote(q.subarray(0, 54 + TD10 + 17)),
      "quote_truncated",
      `quote: body.mrServiceTd needs 48 bytes at offset ${54 + TD10 + 16} but only 1 remain`,
    );
  });
});

describe("parseEnclaveReport (the QE's SGX report) names every field it runs short of", () => {
  const fields: Array<[string, number, number]> = [
    ["qeReport.cpuSvn", 0, 16],
    ["qeReport.miscSelect", 16, 4],
    ["qeReport.reserved1", 20, 28],
    ["qeReport.attributes", 48, 16],
    ["qeReport.mrEnclave", 64, 32],
    ["qeReport.reserved2", 96, 32],
    ["qeReport.mrSigner", 128, 32],
    ["qeReport.reserved3", 160, 96],
    ["qeReport.isvProdId", 256, 2],
    ["qeReport.isvSvn", 258, 2],
    ["qeReport.reserved4", 260, 60],
    ["qeReport.reportData", 320, 64],
  ];
  it.each(fields)("%s at offset %i (%i bytes)", (field, offset, size) => {
    const raw = part(LAYOUT.qeReport).subarray(0, offset);
    expectParseError(
      () => parseEnclaveReport(raw),
      "quote_truncated",
      `QE report: ${field} needs ${size} bytes at offset ${offset} but only 0 remain`,
    );
  });

  it("reads a whole 384-byte report", () => {
    const r = parseEnclaveReport(part(LAYOUT.qeReport));
    expect(r.reportData.length).toBe(64);
    expect(r.reportData.byteOffset).toBe(320);
  });
});

describe("quote v5", () => {
  it("TD report 1.5 (body type 3, 648 bytes): kind td15 with TEE_TCB_SVN2 and MRSERVICETD", () => {
    // Act
    const q = parseTdxQuote(td15Quote());
    // Assess
    const v4 = parseTdxQuote(SAMPLE_QUOTE);
    expect(q.header.version).toBe(5);
    expect(q.body.kind).toBe("td15");
    expect(hex(q.body.mrTd)).toBe(hex(v4.body.mrTd));
    expect(hex(q.body.reportData)).toBe(hex(v4.body.reportData));
    expect(hex(q.body.teeTcbSvn2)).toBe(hex(TD15_EXTRA.subarray(0, 16)));
    expect(hex(q.body.mrServiceTd)).toBe(hex(TD15_EXTRA.subarray(16)));
    expect(q.signedBytes.length).toBe(48 + 6 + TD15);
    expect(q.pckChainDer).toHaveLength(3);
    expect(q.trailingBytes).toBe(0);
  });

  it("TD report 1.0 (body type 2) has no TD 1.5 fields", () => {
    const q = parseTdxQuote(buildQuote({ version: 5, bodyType: 2 }));
    expect(q.body.kind).toBe("td10");
    expect(q.body.teeTcbSvn2).toBeUndefined();
    expect(q.body.mrServiceTd).toBeUndefined();
    expect(q.signedBytes.length).toBe(48 + 6 + TD10);
  });

  it.each([
    [2, TD15, TD10],
    [2, TD10 - 1, TD10],
    [3, TD10, TD15],
    [3, TD15 + 1, TD15],
  ])("body type %i with body size %i → quote_body_size_mismatch (expects %i)", (bodyType, bodySize, expected) => {
    const q = bodyType === 3 ? td15Quote({ bodySize }) : buildQuote({ version: 5, bodyType, bodySize });
    expectParseError(
      () => parseTdxQuote(q),
      "quote_body_size_mismatch",
      `quote v5 body size ${bodySize} does not match body type ${bodyType} (${expected} bytes)`,
    );
  });

  it.each([0, 1, 4])("body type %i is not a TD report", (bodyType) => {
    expectParseError(
      () => parseTdxQuote(buildQuote({ version: 5, bodyType })),
      "quote_unsupported_body_type",
      `quote v5 body type ${bodyType} is not a TD report (2 = TDX 1.0, 3 = TDX 1.5)`,
    );
  });
});

describe("header checks: the message carries the value found", () => {
  it("version", () => {
    expectParseError(
      () => parseTdxQuote(buildQuote({ version: 3 })),
      "quote_unsupported_version",
      "quote version 3 is not supported: only TDX DCAP quotes version 4 and 5 are",
    );
  });
  it("TEE type (hex)", () => {
    const t = SAMPLE_QUOTE.slice();
    t[4] = 0x00;
    expectParseError(
      () => parseTdxQuote(t),
      "quote_unsupported_tee_type",
      "TEE type 0x0 is not TDX (0x81): this verifier accepts TDX quotes only",
    );
    t[4] = 0xab;
    expect(parseError(() => parseTdxQuote(t)).message).toMatch(/^TEE type 0xab is not TDX/);
  });
  it("attestation key type", () => {
    const t = SAMPLE_QUOTE.slice();
    t[2] = 3;
    expectParseError(() => parseTdxQuote(t), "quote_unsupported_att_key_type", "attestation key type 3 is not ECDSA-256-with-P-256 (2)");
  });
});

describe("certification data framing", () => {
  it("outer certification data type other than 6", () => {
    expectParseError(
      () => parseTdxQuote(buildQuote({ certType: 5 })),
      "quote_unsupported_cert_type",
      "outer certification data type 5 is not 6 (QE report certification data)",
    );
  });

  it("inner certification data type other than 5", () => {
    expectParseError(
      () => parseTdxQuote(buildQuote({ innerType: 3 })),
      "quote_unsupported_cert_type",
      "inner certification data type 3 is not 5 (PCK certificate chain); fetch the PCK certificate from PCS instead",
    );
  });

  it("bytes after the certification data inside the signature data → quote_sig_data_size_mismatch", () => {
    const q = buildQuote({ sigExtra: new Uint8Array(3) });
    const sigDataLen = q.length - 636;
    expectParseError(
      () => parseTdxQuote(q),
      "quote_sig_data_size_mismatch",
      `signature data length ${sigDataLen} leaves 3 unexplained bytes after the certification data`,
    );
  });

  it("bytes after the PCK chain inside the QE report certification data → quote_cert_data_size_mismatch", () => {
    const q = buildQuote({ qeExtra: Uint8Array.of(1, 2) });
    const certSize = q.length - 770;
    expect(certSize).toBe(LAYOUT.pckChainPem[1] - 770 + 2);
    expectParseError(
      () => parseTdxQuote(q),
      "quote_cert_data_size_mismatch",
      `QE report certification data size ${certSize} leaves 2 unexplained bytes`,
    );
  });

  it("bytes after the signature data are counted, not refused", () => {
    expect(parseTdxQuote(buildQuote({ trailing: new Uint8Array(5) })).trailingBytes).toBe(5);
  });

  it("a chain without a PEM block → quote_pck_chain_missing", () => {
    expectParseError(
      () => parseTdxQuote(buildQuote({ pem: "no certificates here\n" })),
      "quote_pck_chain_missing",
      "the quote carries no PEM certificate in its PCK chain",
    );
  });

  it("a chain that is not UTF-8 is decoded leniently (no throw from the decoder)", () => {
    const pem = concat(Uint8Array.of(0xff, 0xfe, 0x0a), ascii(SAMPLE_PEM));
    expect(parseTdxQuote(buildQuote({ pem })).pckChainDer).toHaveLength(3);
  });
});

describe("size caps, exactly at the limit and one past", () => {
  it("MAX_QUOTE_BYTES: a quote of exactly that size is parsed (zero padding), one byte more is refused", () => {
    const base = buildQuote();
    const atLimit = buildQuote({ trailing: new Uint8Array(MAX_QUOTE_BYTES - base.length) });
    expect(atLimit.length).toBe(MAX_QUOTE_BYTES);
    expect(parseTdxQuote(atLimit).trailingBytes).toBe(MAX_QUOTE_BYTES - base.length);
    const over = buildQuote({ trailing: new Uint8Array(MAX_QUOTE_BYTES + 1 - base.length) });
    expectParseError(
      () => parseTdxQuote(over),
      "quote_too_large",
      `the quote is ${MAX_QUOTE_BYTES + 1} bytes, more than ${MAX_QUOTE_BYTES}; a TDX quote is about 5 KB`,
    );
  });

  /** The sample whose QE report certification data is exactly `size` bytes (the PEM text padded with newlines). */
  const withCertDataSize = (size: number) => buildQuote({ pem: SAMPLE_PEM + "\n".repeat(size - (LAYOUT.pckChainPem[1] - 770)) });

  it("MAX_CERT_DATA_BYTES: certification data of exactly that size is parsed, one byte more is refused", () => {
    const atLimit = withCertDataSize(MAX_CERT_DATA_BYTES);
    expect(atLimit.length - 770).toBe(MAX_CERT_DATA_BYTES);
    expect(parseTdxQuote(atLimit).pckChainDer).toHaveLength(3);
    expectParseError(
      () => parseTdxQuote(withCertDataSize(MAX_CERT_DATA_BYTES + 1)),
      "quote_cert_data_too_large",
      `the quote's certification data is ${MAX_CERT_DATA_BYTES + 1} bytes, more than ${MAX_CERT_DATA_BYTES}`,
    );
  });

  it("MAX_CERT_DATA_BYTES is checked on the declared size, before the bytes are read", () => {
    expectParseError(
      () => parseTdxQuote(buildQuote({ certSize: 0xffffffff })),
      "quote_cert_data_too_large",
      `the quote's certification data is ${0xffffffff} bytes, more than ${MAX_CERT_DATA_BYTES}`,
    );
  });
});

describe("PEM chains: MAX_CHAIN_CERTS", () => {
  const chainOf = (n: number) => Array.from({ length: n }, (_, i) => toPem(SAMPLE_DER[i % 3]!)).join("");

  it("exactly MAX_CHAIN_CERTS certificates are accepted, in the quote and alone", () => {
    expect(pemCertificates(chainOf(MAX_CHAIN_CERTS))).toHaveLength(MAX_CHAIN_CERTS);
    expect(parseTdxQuote(buildQuote({ pem: chainOf(MAX_CHAIN_CERTS) })).pckChainDer).toHaveLength(MAX_CHAIN_CERTS);
  });

  it("one more is refused, named by the caller (default: certificate chain)", () => {
    expectParseError(
      () => pemCertificates(chainOf(MAX_CHAIN_CERTS + 1)),
      "cert_chain_too_long",
      `certificate chain: more than ${MAX_CHAIN_CERTS} PEM certificates; an Intel chain has 3`,
    );
    expectParseError(
      () => pemCertificates(chainOf(MAX_CHAIN_CERTS + 1), "issuer chain"),
      "cert_chain_too_long",
      `issuer chain: more than ${MAX_CHAIN_CERTS} PEM certificates; an Intel chain has 3`,
    );
    expectParseError(
      () => parseTdxQuote(buildQuote({ pem: chainOf(MAX_CHAIN_CERTS + 1) })),
      "cert_chain_too_long",
      `PCK certificate chain: more than ${MAX_CHAIN_CERTS} PEM certificates; an Intel chain has 3`,
    );
  });

  it("the blocks are counted before any is decoded: BEGIN lines alone are enough", () => {
    const begins = "-----BEGIN CERTIFICATE-----\n".repeat(MAX_CHAIN_CERTS + 1);
    expectParseError(() => pemCertificates(begins), "cert_chain_too_long");
    expect(pemCertificates("-----BEGIN CERTIFICATE-----\n".repeat(MAX_CHAIN_CERTS))).toHaveLength(0);
  });
});

describe("PEM chains: MAX_CERT_BYTES", () => {
  /** `n` bytes of DER-like content (pemCertificates splits, it does not parse). */
  const blob = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);

  it("a certificate of exactly MAX_CERT_BYTES is accepted (base64 with == padding), in the quote too", () => {
    const der = blob(MAX_CERT_BYTES);
    expect(Buffer.from(der).toString("base64")).toMatch(/[^=]==$/);
    const out = pemCertificates(toPem(der));
    expect(out).toHaveLength(1);
    expect(hex(out[0])).toBe(hex(der));
    expect(parseTdxQuote(buildQuote({ pem: toPem(SAMPLE_DER[0]!) + toPem(der) })).pckChainDer[1]!.length).toBe(MAX_CERT_BYTES);
  });

  it("one byte more (decoded size) is refused after decoding, with its size and index", () => {
    const der = blob(MAX_CERT_BYTES + 1);
    expectParseError(
      () => pemCertificates(toPem(SAMPLE_DER[0]!) + toPem(der), "issuer chain"),
      "cert_too_large",
      `issuer chain: certificate #1 is ${MAX_CERT_BYTES + 1} bytes, more than ${MAX_CERT_BYTES}`,
    );
  });

  it("before decoding: base64 text worth MAX_CERT_BYTES + 2 bytes passes the text check (then fails on the decoded size)", () => {
    // 4 base64 characters = 3 bytes; without padding, floor(len * 3 / 4) is the decoded size
    const len = ((MAX_CERT_BYTES + 2) * 4) / 3;
    expect(Number.isInteger(len)).toBe(true);
    expectParseError(
      () => pemCertificates(pemBlock("A".repeat(len))),
      "cert_too_large",
      `certificate chain: certificate #0 is ${MAX_CERT_BYTES + 2} bytes, more than ${MAX_CERT_BYTES}`,
    );
  });

  it("before decoding: base64 text worth more than MAX_CERT_BYTES + 2 bytes is refused on its length alone", () => {
    const len = ((MAX_CERT_BYTES + 2) * 4) / 3 + 2; // floor(len * 3 / 4) = MAX_CERT_BYTES + 3
    expectParseError(
      () => pemCertificates(pemBlock("A".repeat(len))),
      "cert_too_large",
      `certificate chain: certificate #0 is larger than ${MAX_CERT_BYTES} bytes; Intel's are about 1.2 KB`,
    );
  });

  it("a far larger certificate is refused before decoding, in the quote with the chain's name", () => {
    const pem = toPem(SAMPLE_DER[0]!) + toPem(blob(MAX_CERT_BYTES + MAX_CERT_BYTES / 2));
    expectParseError(
      () => parseTdxQuote(buildQuote({ pem })),
      "cert_too_large",
      `PCK certificate chain: certificate #1 is larger than ${MAX_CERT_BYTES} bytes; Intel's are about 1.2 KB`,
    );
  });
});

describe("PEM forms", () => {
  const sameAsSample = (pem: string) => {
    const out = pemCertificates(pem);
    expect(out.map(hex)).toEqual(SAMPLE_DER.map(hex));
  };

  it("LF line breaks (the sample's form)", () => {
    expect(SAMPLE_PEM).not.toContain("\r");
    sameAsSample(SAMPLE_DER.map((d) => toPem(d)).join(""));
  });

  it("CRLF line breaks", () => {
    sameAsSample(SAMPLE_DER.map((d) => toPem(d, { eol: "\r\n" })).join(""));
    expect(parseTdxQuote(buildQuote({ pem: SAMPLE_DER.map((d) => toPem(d, { eol: "\r\n" })).join("") })).pckChainDer).toHaveLength(3);
  });

  it("no line breaks at all: base64 right after BEGIN and right before END", () => {
    sameAsSample(SAMPLE_DER.map((d) => toPem(d, { width: 0 })).join(""));
    expect(parseTdxQuote(buildQuote({ pem: SAMPLE_DER.map((d) => toPem(d, { width: 0 })).join("") })).pckChainDer).toHaveLength(3);
  });

  it("a line break after BEGIN only, or before END only", () => {
    const b64 = Buffer.from(SAMPLE_DER[0]!).toString("base64");
    expect(pemCertificates(`-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----`).map(hex)).toEqual([hex(SAMPLE_DER[0]!)]);
    expect(pemCertificates(`-----BEGIN CERTIFICATE-----${b64}\r\n-----END CERTIFICATE-----`).map(hex)).toEqual([hex(SAMPLE_DER[0]!)]);
  });
});
