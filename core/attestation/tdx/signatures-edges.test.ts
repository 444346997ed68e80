/**
 * The quote's own evidence (signatures.ts), rule by rule. A mutation run (session 16) found that
 * no test failed with the TD-attributes check removed: a TD in DEBUG mode — whose host, the GPU
 * owner, can read its memory and so every prompt — would have passed. The attribute rules now run
 * before the signatures (a debug TD is refused whether or not it is genuine), so each is seen here
 * on the genuine sample quote with one bit changed; MRSERVICETD (TD report 1.5 only, the sample is
 * 1.0) through checkTdAttributes itself.
 */
import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { IN_WINDOW, SAMPLE_QUOTE, flip } from "../../../test/fixtures/attestation/helpers";
import { TEST_NOW, makeTestPlatform } from "../../../test/fixtures/attestation/test-pki";
import { parseTdxQuote } from "./quote";
import { checkTdAttributes } from "./signatures";
import { verifyTdxQuote } from "./verify";

/** Where the sample's TDATTRIBUTES (8 bytes, little-endian) and its QE report's ATTRIBUTES start. */
const TD_ATTRIBUTES = 168;
const QE_ATTRIBUTES = 818;

/** The verdict on the sample with `mask` flipped in byte `pos` (no collateral: the quote's own evidence). */
const verdictWithFlip = (pos: number, mask: number) => verifyTdxQuote(flip(SAMPLE_QUOTE, pos, mask), { now: IN_WINDOW });

describe("TD attributes: the sample's are 00 00 00 10 00 00 00 00 (SEPT_VE_DISABLE alone)", () => {
  it("the sample's offsets are where the parser reads them", () => {
    const q = parseTdxQuote(SAMPLE_QUOTE);
    expect(q.body.tdAttributes.byteOffset).toBe(TD_ATTRIBUTES);
    expect(Buffer.from(q.body.tdAttributes).toString("hex")).toBe("0000001000000000");
    expect(q.qeReport.attributes.byteOffset).toBe(QE_ATTRIBUTES);
  });

  it("DEBUG (bit 0) → td_debug_mode: the host could read the TD's memory", async () => {
    // Act
    const v = await verdictWithFlip(TD_ATTRIBUTES, 0x01);
    // Assess
    expect(v).toMatchObject({ genuine: false, code: "td_debug_mode", measurements: undefined });
    expect(v.reason).toContain("DEBUG");
  });

  // Reserved bits (TDX module spec, TDATTRIBUTES): 1–3 and 8–27 (TUD and SEC reserved), 29, 32–62
  const reserved: Array<[number, number]> = [
    ...[1, 2, 3, 4, 5, 6, 7].map((b): [number, number] => [0, 1 << b]),
    ...[0, 1, 2, 3, 4, 5, 6, 7].flatMap((b): Array<[number, number]> => [
      [1, 1 << b],
      [2, 1 << b],
    ]),
    ...[0, 1, 2, 3, 5].map((b): [number, number] => [3, 1 << b]),
    ...[4, 5, 6].flatMap((byte) => [0, 1, 2, 3, 4, 5, 6, 7].map((b): [number, number] => [byte, 1 << b])),
    ...[0, 1, 2, 3, 4, 5, 6].map((b): [number, number] => [7, 1 << b]),
  ];
  it.each(reserved)("a reserved bit (byte %i, mask %i) → td_attributes_insecure, naming the attributes", async (byte, mask) => {
    const v = await verdictWithFlip(TD_ATTRIBUTES + byte, mask);
    expect(v).toMatchObject({ genuine: false, code: "td_attributes_insecure" });
    expect(v.reason).toContain("reserved bits");
  });

  it("SEPT_VE_DISABLE (bit 28) cleared → td_attributes_insecure", async () => {
    const v = await verdictWithFlip(TD_ATTRIBUTES + 3, 0x10);
    expect(v).toMatchObject({ genuine: false, code: "td_attributes_insecure" });
    expect(v.reason).toContain("0000000000000000 do not set SEPT_VE_DISABLE");
  });

  it.each([
    ["PKS (bit 30)", 3, 0x40],
    ["KL (bit 31)", 3, 0x80],
    ["PERFMON (bit 63)", 7, 0x80],
  ])("%s is allowed: the attributes pass, and the changed body fails its signature", async (_name, byte, mask) => {
    expect(await verdictWithFlip(TD_ATTRIBUTES + byte, mask)).toMatchObject({ genuine: false, code: "quote_signature_invalid" });
  });
});

describe("checkTdAttributes: MRSERVICETD (TD report 1.5)", () => {
  const body = (mrServiceTd?: Uint8Array) => ({
    body: { ...parseTdxQuote(SAMPLE_QUOTE).body, ...(mrServiceTd ? { mrServiceTd } : {}) },
  });

  it("absent (TD report 1.0) or all zero: accepted", () => {
    expect(() => checkTdAttributes(body())).not.toThrow();
    expect(() => checkTdAttributes(body(new Uint8Array(48)))).not.toThrow();
  });

  it.each([0, 47])("one non-zero byte (at %i) → td_attributes_insecure: service-TD binding is not supported", (at) => {
    const m = new Uint8Array(48);
    m[at] = 1;
    expect(() => checkTdAttributes(body(m))).toThrow(expect.objectContaining({ code: "td_attributes_insecure" }));
  });
});

describe("the quoting enclave's attributes", () => {
  it("DEBUG (attributes bit 1) → qe_debug_mode", async () => {
    const v = await verdictWithFlip(QE_ATTRIBUTES, 0x02);
    expect(v).toMatchObject({ genuine: false, code: "qe_debug_mode" });
    expect(v.reason).toContain("DEBUG");
  });

  it("another attribute bit is not a debug QE: the changed report fails its signature instead", async () => {
    expect(await verdictWithFlip(QE_ATTRIBUTES, 0x01)).toMatchObject({ genuine: false, code: "qe_report_signature_invalid" });
  });
});

describe("the PCK chain's validity, at its edges", () => {
  // The sample's PCK leaf is valid from 2025-02-06T23:25:51Z to 2032-02-06T23:25:51Z (the CA and root longer)
  const leaf = new X509Certificate(Buffer.from(parseTdxQuote(SAMPLE_QUOTE).pckChainDer[0]!));
  const from = Date.parse(leaf.validFrom);
  const to = Date.parse(leaf.validTo);
  const at = (ms: number) => verifyTdxQuote(SAMPLE_QUOTE, { now: new Date(ms) });

  it("its first and last second are inside: genuine", async () => {
    expect(await at(from)).toMatchObject({ genuine: true, code: "ok" });
    expect(await at(to)).toMatchObject({ genuine: true, code: "ok" });
  });

  it("a millisecond before or after → pck_cert_expired, the reason naming the certificate and its window", async () => {
    for (const ms of [from - 1, to + 1]) {
      const v = await at(ms);
      expect(v).toMatchObject({ genuine: false, code: "pck_cert_expired" });
      expect(v.reason).toContain('"Intel SGX PCK Certificate" is valid');
      expect(v.reason).toContain(
        `from ${new Date(from).toISOString()} to ${new Date(to).toISOString()}, not at ${new Date(ms).toISOString()}`,
      );
    }
  });
});

describe("refusal reasons carry what failed", () => {
  it("an unknown QE vendor is named", async () => {
    const v = await verdictWithFlip(20, 0x01);
    expect(v.code).toBe("qe_vendor_unknown");
    expect(v.reason).toMatch(/^QE vendor id [0-9a-f]{32} is not Intel's$/);
  });

  it.each([
    [900, "qe_report_signature_invalid", "the QE report signature does not verify with the PCK certificate key"],
    [650, "quote_signature_invalid", "the quote signature over header and TD report does not verify with the attestation key"],
    [1230, "qe_report_data_mismatch", "the QE report data is not SHA-256(attestation key || QE auth data)"],
  ])("a flip at %i → %s, saying so", async (pos, code, reason) => {
    const v = await verdictWithFlip(pos, 0x01);
    expect(v.code).toBe(code);
    expect(v.reason).toContain(reason);
  });
});

describe("the QE report data: SHA-256(attestation key || QE auth data), then 32 zero bytes", () => {
  // The QE signs its report, so these need a re-signed one: the stand-in Intel PKI makes it
  const verdictWith = async (edit?: (reportData: Uint8Array) => void) => {
    const p = await makeTestPlatform(edit ? { editQeReportData: edit } : {});
    return verifyTdxQuote(p.quote, { now: TEST_NOW, rootCaPem: p.rootPem });
  };

  it("as Intel makes it: genuine", async () => {
    expect(await verdictWith()).toMatchObject({ genuine: true, code: "ok" });
  });

  it.each([32, 63])("a non-zero byte in the upper half (at %i) → qe_report_data_mismatch", async (at) => {
    expect(await verdictWith((d) => (d[at] = 1))).toMatchObject({ genuine: false, code: "qe_report_data_mismatch" });
  });

  it("every upper byte non-zero → qe_report_data_mismatch", async () => {
    expect(await verdictWith((d) => d.fill(1, 32))).toMatchObject({ genuine: false, code: "qe_report_data_mismatch" });
  });
});
