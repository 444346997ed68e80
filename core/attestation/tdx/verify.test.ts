import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import {
  AFTER_WINDOW,
  IN_WINDOW,
  LAYOUT,
  SAMPLE_QUOTE,
  flip,
  flipChar,
  makeForeignRootPem,
  sampleCollateral,
} from "../../../test/fixtures/attestation/helpers";
import { INTEL_SGX_ROOT_CA_PEM } from "./intel-root";
import { pemCertificates } from "./quote";
import { TdxVerifierCache, mergeTcbStatus, verifyTdxQuote } from "./verify";

// dcap-qvl is a devDependency used ONLY here, as an independent oracle.
const require = createRequire(import.meta.url);
const dcap = require("@phala/dcap-qvl") as {
  verify(q: Buffer, c: unknown, nowSecs: number): { status: string; advisory_ids: string[]; report: { data: Record<string, Uint8Array> } };
  constants: { TRUSTED_ROOT_CA_DER: Buffer };
};
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
function oracle(quote: Uint8Array, collateral: unknown, at: Date): { genuine: boolean; status?: string; error?: string } {
  try {
    const r = dcap.verify(Buffer.from(quote), collateral, at.getTime() / 1000);
    return { genuine: true, status: r.status };
  } catch (e) {
    return { genuine: false, error: (e as Error).message };
  }
}

const SAMPLE_MEASUREMENTS = {
  mrtd: "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7",
  rtmr0: "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0",
  rtmr1: "0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378",
  rtmr2: "d833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733642e01d48c3132",
  rtmr3: "0".repeat(96),
  reportData:
    "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20",
  mrSeam: "5b38e33a6487958b72c3c12a938eaa5e3fd4510c51aeeab58c7d5ecee41d7c436489d6c8e4f92f160b7cad34207b00c1",
  tdAttributes: "0000001000000000",
  xfam: "e702060000000000",
  teeTcbSvn: "06010300000000000000000000000000",
};

describe("verifyTdxQuote: the genuine sample", () => {
  it("verifies at a time inside the collateral window: UpToDate, exact measurements", async () => {
    // Prepare
    const collateral = sampleCollateral();
    // Act
    const v = await verifyTdxQuote(SAMPLE_QUOTE, { now: IN_WINDOW, collateral });
    // Assess
    expect(v).toMatchObject({ genuine: true, status: "UpToDate", code: "ok", fmspc: "b0c06f000000", advisoryIds: [] });
    expect(v.measurements).toMatchObject(SAMPLE_MEASUREMENTS);
  });

  it("agrees with dcap-qvl on status and every measurement", async () => {
    const v = await verifyTdxQuote(SAMPLE_QUOTE, { now: IN_WINDOW, collateral: sampleCollateral() });
    const r = dcap.verify(Buffer.from(SAMPLE_QUOTE), sampleCollateral(), IN_WINDOW.getTime() / 1000);
    expect(v.status).toBe(r.status);
    expect(v.advisoryIds).toEqual(r.advisory_ids);
    const td = r.report.data;
    expect(v.measurements).toMatchObject({
      mrtd: hex(td.mrTd!),
      rtmr0: hex(td.rtMr0!),
      rtmr1: hex(td.rtMr1!),
      rtmr2: hex(td.rtMr2!),
      rtmr3: hex(td.rtMr3!),
      reportData: hex(td.reportData!),
      mrSeam: hex(td.mrSeam!),
      tdAttributes: hex(td.tdAttributes!),
      xfam: hex(td.xfam!),
      teeTcbSvn: hex(td.teeTcbSvn!),
    });
  });

  it("pins the same Intel SGX Root CA as dcap-qvl", () => {
    expect(Buffer.from(pemCertificates(INTEL_SGX_ROOT_CA_PEM)[0]!).equals(dcap.constants.TRUSTED_ROOT_CA_DER)).toBe(true);
  });

  it("without collateral: signatures and chain checked, status Unknown", async () => {
    const v = await verifyTdxQuote(SAMPLE_QUOTE, { now: IN_WINDOW });
    expect(v).toMatchObject({ genuine: true, status: "Unknown", code: "ok" });
    expect(v.measurements?.mrtd).toBe(SAMPLE_MEASUREMENTS.mrtd);
  });

  it("expired collateral is its own verdict: CollateralExpired, still genuine", async () => {
    const v = await verifyTdxQuote(SAMPLE_QUOTE, { now: AFTER_WINDOW, collateral: sampleCollateral() });
    expect(v).toMatchObject({ genuine: true, status: "CollateralExpired", code: "collateral_expired" });
    expect(v.reason).toContain("TCB info");
  });

  it("collateral not yet issued at `now` is reported, not trusted", async () => {
    const v = await verifyTdxQuote(SAMPLE_QUOTE, { now: new Date("2025-06-01T00:00:00Z"), collateral: sampleCollateral() });
    expect(v).toMatchObject({ genuine: true, status: "Unknown", code: "collateral_not_yet_valid" });
  });

  it("a wrong pinned root fails with untrusted_root (with and without collateral)", async () => {
    const foreign = await makeForeignRootPem();
    const a = await verifyTdxQuote(SAMPLE_QUOTE, { now: IN_WINDOW, rootCaPem: foreign });
    const b = await verifyTdxQuote(SAMPLE_QUOTE, { now: IN_WINDOW, rootCaPem: foreign, collateral: sampleCollateral() });
    expect(a).toMatchObject({ genuine: false, code: "untrusted_root", measurements: undefined });
    expect(b).toMatchObject({ genuine: false, code: "untrusted_root" });
  });

  it("a PCK certificate outside its validity period fails (pck_cert_expired)", async () => {
    const v = await verifyTdxQuote(SAMPLE_QUOTE, { now: new Date("2040-01-01T00:00:00Z") });
    expect(v).toMatchObject({ genuine: false, code: "pck_cert_expired" });
  });

  it("an unusable `now` and a malformed pinned root give codes, not exceptions", async () => {
    expect((await verifyTdxQuote(SAMPLE_QUOTE, { now: new Date("nope") })).code).toBe("invalid_time");
    expect((await verifyTdxQuote(SAMPLE_QUOTE, { now: IN_WINDOW, rootCaPem: "not a pem" })).code).toBe("root_ca_invalid");
  });

  it("a shared cache gives the same verdicts and does not leak across roots or times", async () => {
    const cache = new TdxVerifierCache();
    const collateral = sampleCollateral();
    const first = await verifyTdxQuote(SAMPLE_QUOTE, { now: IN_WINDOW, collateral, cache });
    const warm = await verifyTdxQuote(SAMPLE_QUOTE, { now: IN_WINDOW, collateral, cache });
    const later = await verifyTdxQuote(SAMPLE_QUOTE, { now: AFTER_WINDOW, collateral, cache });
    const foreign = await verifyTdxQuote(SAMPLE_QUOTE, { now: IN_WINDOW, collateral, cache, rootCaPem: await makeForeignRootPem() });
    const tampered = await verifyTdxQuote(flip(SAMPLE_QUOTE, 100), { now: IN_WINDOW, collateral, cache });
    expect(warm).toEqual(first);
    expect(later.status).toBe("CollateralExpired");
    expect(foreign.code).toBe("untrusted_root");
    expect(tampered.code).toBe("quote_signature_invalid");
  });
});

describe("verifyTdxQuote: tampered evidence fails with a precise code", () => {
  const at = { now: IN_WINDOW };
  const cases: Array<[string, number, string]> = [
    ["TD report body (MRTD)", 184, "quote_signature_invalid"],
    ["TD report body (report data)", 600, "quote_signature_invalid"],
    ["header (user data, signed)", 40, "quote_signature_invalid"],
    ["header (version)", 0, "quote_unsupported_body_type"], // 4 → 5: a v5 body descriptor that is not a TD report
    ["header (attestation key type)", 2, "quote_unsupported_att_key_type"],
    ["header (TEE type)", 4, "quote_unsupported_tee_type"],
    ["header (QE vendor id)", 20, "qe_vendor_unknown"],
    ["quote signature", 650, "quote_signature_invalid"],
    ["attestation key", 720, "qe_report_data_mismatch"],
    ["QE report", 900, "qe_report_signature_invalid"],
    ["QE report signature", 1180, "qe_report_signature_invalid"],
    ["QE auth data", 1230, "qe_report_data_mismatch"],
    ["PCK leaf certificate", 3000, "pck_chain_invalid"],
    // Chains are checked from the pinned root down (nothing below is parsed before its issuer
    // verified), so a tampered CA certificate right under the root fails as untrusted_root.
    ["PCK platform CA certificate", 3500, "untrusted_root"],
    ["root certificate carried in the quote", 4500, "untrusted_root"],
    ["signature data length (unsigned framing)", 632, "quote_sig_data_size_mismatch"],
    ["outer certification data type", 764, "quote_unsupported_cert_type"],
    ["inner certification data type", 1252, "quote_unsupported_cert_type"],
  ];
  it.each(cases)("a flipped byte in the %s (offset %i) → %s", async (_what, pos, code) => {
    const v = await verifyTdxQuote(flip(SAMPLE_QUOTE, pos), { ...at, collateral: sampleCollateral() });
    expect(v).toMatchObject({ genuine: false, code, measurements: undefined });
  });

  it("a flipped character in the TCB info JSON → tcb_info_signature_invalid", async () => {
    const c = sampleCollateral();
    c.tcb_info = flipChar(c.tcb_info, c.tcb_info.indexOf('"UpToDate"') + 3);
    expect(await verifyTdxQuote(SAMPLE_QUOTE, { ...at, collateral: c })).toMatchObject({
      genuine: false,
      code: "tcb_info_signature_invalid",
    });
  });

  it("a flipped byte in the TCB info signature → tcb_info_signature_invalid", async () => {
    const c = sampleCollateral();
    c.tcb_info_signature = flipChar(c.tcb_info_signature, 10);
    expect((await verifyTdxQuote(SAMPLE_QUOTE, { ...at, collateral: c })).code).toBe("tcb_info_signature_invalid");
  });

  it("a flipped character in the QE identity JSON → qe_identity_signature_invalid", async () => {
    const c = sampleCollateral();
    c.qe_identity = flipChar(c.qe_identity, c.qe_identity.indexOf("isvprodid") + 11);
    expect(await verifyTdxQuote(SAMPLE_QUOTE, { ...at, collateral: c })).toMatchObject({
      genuine: false,
      code: "qe_identity_signature_invalid",
    });
  });

  it("a flipped byte in the PCK CRL → pck_crl_signature_invalid (or malformed)", async () => {
    const c = sampleCollateral();
    c.pck_crl = c.pck_crl.slice(0, 400) + (c.pck_crl[400] === "0" ? "1" : "0") + c.pck_crl.slice(401);
    expect((await verifyTdxQuote(SAMPLE_QUOTE, { ...at, collateral: c })).code).toBe("pck_crl_signature_invalid");
  });

  it("a flipped byte in the root CA CRL → root_ca_crl_signature_invalid", async () => {
    const c = sampleCollateral();
    c.root_ca_crl = c.root_ca_crl.slice(0, 200) + (c.root_ca_crl[200] === "0" ? "1" : "0") + c.root_ca_crl.slice(201);
    expect((await verifyTdxQuote(SAMPLE_QUOTE, { ...at, collateral: c })).code).toBe("root_ca_crl_signature_invalid");
  });

  it("a tampered TCB signing chain → tcb_signing_chain_invalid; QE identity chain → qe_identity_chain_invalid", async () => {
    const c = sampleCollateral();
    const at1 = c.tcb_info_issuer_chain.indexOf("\n", 400) - 5;
    c.tcb_info_issuer_chain = flipChar(c.tcb_info_issuer_chain, at1);
    const d = sampleCollateral();
    d.qe_identity_issuer_chain = flipChar(d.qe_identity_issuer_chain, at1);
    expect((await verifyTdxQuote(SAMPLE_QUOTE, { ...at, collateral: c })).code).toBe("tcb_signing_chain_invalid");
    expect((await verifyTdxQuote(SAMPLE_QUOTE, { ...at, collateral: d })).code).toBe("qe_identity_chain_invalid");
  });

  it("collateral that is not in the PCS layout → collateral_malformed", async () => {
    const { tcb_info: _drop, ...rest } = sampleCollateral();
    expect((await verifyTdxQuote(SAMPLE_QUOTE, { ...at, collateral: rest })).code).toBe("collateral_malformed");
  });
});

describe("verifyTdxQuote vs dcap-qvl (differential)", () => {
  // ~40 positions across every region of the quote; each flipped (xor 0x01) separately.
  const positions = [
    0,
    2,
    4,
    8,
    10,
    12,
    20,
    28,
    40,
    47, // header
    48,
    50,
    70,
    100,
    168,
    176,
    184,
    232,
    376,
    424,
    472,
    520,
    568,
    631, // TD report body
    636,
    668,
    699,
    700,
    731,
    763, // quote signature, attestation key
    766,
    770,
    900,
    1100,
    1154,
    1200,
    1218,
    1220,
    1251,
    1252,
    1254, // QE report certification data
    1258,
    1300,
    1500,
    2000,
    2500,
    3000,
    3500,
    4000,
    4500,
    4900, // PCK chain PEM
    4950, // zero padding after the quote (unsigned, unused)
  ];
  it.each(positions)("flip at offset %i: our verdict equals dcap-qvl's", async (pos) => {
    const t = flip(SAMPLE_QUOTE, pos);
    const ours = await verifyTdxQuote(t, { now: IN_WINDOW, collateral: sampleCollateral() });
    const theirs = oracle(t, sampleCollateral(), IN_WINDOW);
    expect({ pos, genuine: ours.genuine }).toEqual({ pos, genuine: theirs.genuine });
    if (ours.genuine) expect(ours.status).toBe(theirs.status);
  });

  it("collateral flips: our verdict equals dcap-qvl's", async () => {
    const c0 = sampleCollateral();
    const variants = [
      { ...c0, tcb_info: flipChar(c0.tcb_info, 50) },
      { ...c0, tcb_info: flipChar(c0.tcb_info, 500) },
      { ...c0, qe_identity: flipChar(c0.qe_identity, 60) },
      { ...c0, tcb_info_signature: flipChar(c0.tcb_info_signature, 100) },
      { ...c0, qe_identity_signature: flipChar(c0.qe_identity_signature, 3) },
    ];
    for (const c of variants) {
      const ours = await verifyTdxQuote(SAMPLE_QUOTE, { now: IN_WINDOW, collateral: c });
      expect(ours.genuine).toBe(oracle(SAMPLE_QUOTE, c, IN_WINDOW).genuine);
    }
  });

  it("documented divergence: we are stricter on unsigned framing fields dcap-qvl ignores", async () => {
    // dcap-qvl accepts a signature-data length that leaves a stray byte and an outer
    // certification type other than 6; Intel's layout forbids both, so we refuse them.
    for (const [pos, code] of [
      [632, "quote_sig_data_size_mismatch"],
      [764, "quote_unsupported_cert_type"],
    ] as const) {
      const t = flip(SAMPLE_QUOTE, pos);
      expect(oracle(t, sampleCollateral(), IN_WINDOW).genuine).toBe(true);
      expect((await verifyTdxQuote(t, { now: IN_WINDOW, collateral: sampleCollateral() })).code).toBe(code);
    }
  });
});

describe("mergeTcbStatus", () => {
  it.each([
    ["UpToDate", "UpToDate", "UpToDate"],
    ["UpToDate", "SWHardeningNeeded", "SWHardeningNeeded"],
    ["ConfigurationNeeded", "SWHardeningNeeded", "ConfigurationAndSWHardeningNeeded"],
    ["ConfigurationNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"],
    ["SWHardeningNeeded", "OutOfDate", "OutOfDate"],
    ["OutOfDate", "Revoked", "Revoked"],
  ] as const)("%s + %s → %s", (a, b, want) => {
    expect(mergeTcbStatus(a, b)).toBe(want);
    expect(mergeTcbStatus(b, a)).toBe(want);
  });
});

it("LAYOUT matches the sample", () => {
  expect(LAYOUT.pckChainPem[1]).toBeLessThan(SAMPLE_QUOTE.length);
});
