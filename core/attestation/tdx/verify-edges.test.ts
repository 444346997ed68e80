/**
 * The collateral checks of verifyTdxQuote that the genuine Intel sample cannot reach (its CRLs
 * revoke nothing, its TCB is UpToDate, its windows are fixed): revocation of the PCK chain, a
 * CRL set without the PCK issuer's CRL, a Revoked TCB level, every freshness window at its
 * edges, and the two catch-all codes. Platforms come from the TEST stand-in PKI
 * (test/fixtures/attestation/test-pki.ts), trusted only through `rootCaPem`.
 */
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { TEST_NOW, makeTestPlatform, type TestPlatform, type TestPlatformOptions } from "../../../test/fixtures/attestation/test-pki";
import { verifyTdxQuote, type TdxVerdict } from "./verify";

// dcap-qvl (devDependency) as an independent oracle: it accepts a trusted root other than Intel's.
const require = createRequire(import.meta.url);
const dcap = require("@phala/dcap-qvl") as {
  QuoteVerifier: {
    newWithRootCa(der: Buffer): { verify(q: Buffer, c: unknown, nowSecs: number): { status: string; advisory_ids: string[] } };
  };
};
function oracle(p: TestPlatform, at: Date): { status?: string; advisoryIds?: string[]; error?: string } {
  try {
    const r = dcap.QuoteVerifier.newWithRootCa(Buffer.from(p.rootDer)).verify(Buffer.from(p.quote), p.collateral, at.getTime() / 1000);
    return { status: r.status, advisoryIds: r.advisory_ids };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

const verify = (p: TestPlatform, now: Date = TEST_NOW) => verifyTdxQuote(p.quote, { now, rootCaPem: p.rootPem, collateral: p.collateral });
const ms = (d: Date, delta: number) => new Date(d.getTime() + delta);

describe("the stand-in PKI (fixture check)", () => {
  it("makes a platform that verifies as genuine UpToDate under its own root, as dcap-qvl agrees", async () => {
    // Prepare
    const p = await makeTestPlatform();
    // Act
    const v = await verify(p);
    // Assess
    expect(v).toMatchObject({
      genuine: true,
      status: "UpToDate",
      code: "ok",
      reason: "genuine TDX quote, TCB UpToDate",
      fmspc: "b0c06f000000",
      advisoryIds: [],
    });
    expect(v.measurements?.tdAttributes).toBe("0000001000000000");
    expect(oracle(p, TEST_NOW)).toEqual({ status: "UpToDate", advisoryIds: [] });
  });

  it("without collateral: genuine, status Unknown, the exact reason", async () => {
    const p = await makeTestPlatform();
    const v = await verifyTdxQuote(p.quote, { now: TEST_NOW, rootCaPem: p.rootPem });
    expect(v).toMatchObject({
      genuine: true,
      status: "Unknown",
      code: "ok",
      reason: "signatures and PCK chain to the pinned Intel root verified; no collateral, so the TCB status is unknown",
    });
  });

  it("is refused under the pinned Intel root (the stand-in is trusted only through rootCaPem)", async () => {
    const p = await makeTestPlatform();
    const v = await verifyTdxQuote(p.quote, { now: TEST_NOW, collateral: p.collateral });
    expect(v).toMatchObject({ genuine: false, code: "untrusted_root" });
  });

  it("signs body edits: a debug TD with valid signatures is still refused (td_debug_mode), as by dcap-qvl", async () => {
    const p = await makeTestPlatform({ editBody: (b) => (b[120] = b[120]! | 0x01) }); // tdAttributes[0] bit 0 = DEBUG
    expect(await verify(p)).toMatchObject({ genuine: false, code: "td_debug_mode" });
    expect(oracle(p, TEST_NOW).error).toBeDefined();
  });
});

describe("revocation of the PCK chain", () => {
  it("a PCK leaf revoked by the PCK CRL → pck_revoked, status Revoked, not genuine", async () => {
    // Prepare
    const p = await makeTestPlatform({ pckCrl: { revoke: ["pckLeaf"] } });
    // Act
    const v = await verify(p);
    // Assess
    expect(v).toEqual({
      genuine: false,
      status: "Revoked",
      code: "pck_revoked",
      reason: `PCK chain certificate #0 (serial ${p.pckSerial}) is revoked by the PCK CRL`,
      measurements: undefined,
    });
    expect(oracle(p, TEST_NOW).error).toMatch(/revoked/);
  });

  it("the PCK Platform CA revoked by the root CA CRL → pck_revoked (certificate #1)", async () => {
    // The PCK CRL comes from the same CA under a re-issued certificate (same name and key, another
    // serial), so the collateral's own chain is not the revoked certificate.
    const p = await makeTestPlatform({ pckCrlIssuer: "reissuedPlatformCa", rootCrl: { revoke: ["platformCa"] } });
    const v = await verify(p);
    expect(v).toMatchObject({
      genuine: false,
      status: "Revoked",
      code: "pck_revoked",
      reason: `PCK chain certificate #1 (serial ${p.serials.platformCa}) is revoked by the root CA CRL`,
    });
    expect(oracle(p, TEST_NOW).error).toMatch(/revoked/);
  });

  it("the re-issued Platform CA certificate verifies like the original when nothing is revoked", async () => {
    const p = await makeTestPlatform({ pckCrlIssuer: "reissuedPlatformCa" });
    expect(await verify(p)).toMatchObject({ genuine: true, status: "UpToDate", code: "ok" });
  });

  it("the Platform CA revoked while it also signs the PCK CRL → the collateral chain is refused first", async () => {
    const p = await makeTestPlatform({ rootCrl: { revoke: ["platformCa"] } });
    const v = await verify(p);
    expect(v).toMatchObject({ genuine: false, code: "collateral_cert_revoked" });
    expect(v.reason).toContain(p.serials.platformCa);
  });

  it("a serial counts only in the CRL of the certificate's issuer (the leaf's serial in the root CA CRL)", async () => {
    const p = await makeTestPlatform({ rootCrl: { revoke: ["pckLeaf"] } });
    expect(await verify(p)).toMatchObject({ genuine: true, status: "UpToDate", code: "ok" });
  });

  it("no CRL from the PCK leaf's issuer (a Processor CA CRL instead) → pck_crl_issuer_mismatch, status Unknown", async () => {
    const p = await makeTestPlatform({ pckCrlIssuer: "processorCa" });
    const v = await verify(p);
    expect(v).toMatchObject({ genuine: false, status: "Unknown", code: "pck_crl_issuer_mismatch", measurements: undefined });
    expect(v.reason).toContain("issuer of PCK chain certificate #0");
  });
});

describe("TCB status from the stand-in's TCB info", () => {
  it("the matched TCB level Revoked → tcb_revoked, status Revoked, fmspc and advisories kept", async () => {
    const p = await makeTestPlatform({
      editTcbInfo: (t) => Object.assign(t.tcbLevels[0], { tcbStatus: "Revoked", advisoryIDs: ["INTEL-SA-99999"] }),
    });
    const v = await verify(p);
    expect(v).toEqual({
      genuine: false,
      status: "Revoked",
      code: "tcb_revoked",
      reason: "the platform TCB level is Revoked in Intel's TCB info",
      measurements: undefined,
      fmspc: "b0c06f000000",
      advisoryIds: ["INTEL-SA-99999"],
    });
    expect(oracle(p, TEST_NOW).error).toMatch(/Revoked/);
  });

  it("the matched level OutOfDate → genuine, OutOfDate with its advisories, as dcap-qvl says", async () => {
    const p = await makeTestPlatform({
      editTcbInfo: (t) => Object.assign(t.tcbLevels[0], { tcbStatus: "OutOfDate", advisoryIDs: ["INTEL-SA-00001"] }),
    });
    const v = await verify(p);
    expect(v).toMatchObject({ genuine: true, status: "OutOfDate", code: "ok", advisoryIds: ["INTEL-SA-00001"] });
    expect(oracle(p, TEST_NOW)).toEqual({ status: "OutOfDate", advisoryIds: ["INTEL-SA-00001"] });
  });
});

describe("collateral freshness windows, at their edges", () => {
  // One window at a time is narrowed to [FROM, UNTIL]; every other one spans it.
  const FROM = new Date("2030-06-10T00:00:00Z");
  const UNTIL = new Date("2030-06-20T00:00:00Z");
  const W = { from: FROM, until: UNTIL };
  const cases: Array<[label: string, opts: TestPlatformOptions, oracleChecks: boolean]> = [
    ["TCB info", { tcbInfoWindow: W }, true],
    ["QE identity", { qeIdentityWindow: W }, true],
    ["root CA CRL", { rootCrl: { thisUpdate: FROM, nextUpdate: UNTIL } }, false],
    ["PCK CRL", { pckCrl: { thisUpdate: FROM, nextUpdate: UNTIL } }, false],
    ['certificate "Intel SGX TCB Signing"', { tcbSigningValidity: W }, true],
  ];

  it.each(cases)("%s: accepted at from and at until, refused 1 ms outside", async (label, opts, oracleChecks) => {
    // Prepare
    const p = await makeTestPlatform(opts);
    // Act
    const at = async (now: Date): Promise<TdxVerdict> => verify(p, now);
    const [atFrom, atUntil, before, after] = await Promise.all([at(FROM), at(UNTIL), at(ms(FROM, -1)), at(ms(UNTIL, 1))]);
    // Assess
    expect(atFrom).toMatchObject({ genuine: true, status: "UpToDate", code: "ok" });
    expect(atUntil).toMatchObject({ genuine: true, status: "UpToDate", code: "ok" });
    expect(before).toMatchObject({
      genuine: true,
      status: "Unknown",
      code: "collateral_not_yet_valid",
      reason: `${label} is valid from ${FROM.toISOString()}, after ${ms(FROM, -1).toISOString()}: check the clock`,
      fmspc: "b0c06f000000",
      advisoryIds: [],
    });
    expect(before.measurements?.tdAttributes).toBe("0000001000000000");
    expect(after).toMatchObject({ genuine: true, status: "CollateralExpired", code: "collateral_expired", fmspc: "b0c06f000000" });
    expect(after.reason).toMatch(new RegExp(`^collateral expired: ${label.replace(/"/g, '\\"')} \\(next update ${UNTIL.toISOString()}\\)`));
    expect(after.measurements?.mrtd).toHaveLength(96);
    // dcap-qvl accepts at both edges; it checks TCB info, QE identity and certificate windows (not CRLs').
    expect(oracle(p, FROM).status).toBe("UpToDate");
    expect(oracle(p, UNTIL).status).toBe("UpToDate");
    if (oracleChecks) {
      expect(oracle(p, ms(FROM, -1)).error).toBeDefined();
      expect(oracle(p, ms(UNTIL, 1)).error).toBeDefined();
    }
  });

  it.each([
    ["root CA CRL", "rootCrl", "root_ca_crl_malformed"],
    ["PCK CRL", "pckCrl", "pck_crl_malformed"],
  ] as const)("a %s without nextUpdate is refused (it would never expire)", async (label, option, code) => {
    // Prepare: a CRL signed by its genuine issuer, only its nextUpdate left out
    const p = await makeTestPlatform({ [option]: { nextUpdate: null } });
    // Act: long after any nextUpdate it could have had
    const v = await verify(p, new Date("2039-01-01T00:00:00Z"));
    // Assess
    expect(v).toMatchObject({ genuine: false, code, reason: `the ${label} has no nextUpdate, so it would never expire` });
  });

  it("several expired windows are all listed, separated by ', '", async () => {
    const p = await makeTestPlatform({ tcbInfoWindow: W, qeIdentityWindow: W, pckCrl: { thisUpdate: FROM, nextUpdate: UNTIL } });
    const v = await verify(p, ms(UNTIL, 1));
    const u = UNTIL.toISOString();
    expect(v).toMatchObject({
      genuine: true,
      status: "CollateralExpired",
      code: "collateral_expired",
      reason: `collateral expired: TCB info (next update ${u}), QE identity (next update ${u}), PCK CRL (next update ${u}); fetch fresh collateral from Intel PCS`,
    });
  });

  it("a not-yet-valid window wins over an expired one", async () => {
    const p = await makeTestPlatform({ tcbInfoWindow: { from: ms(UNTIL, 2000), until: ms(UNTIL, 10_000) }, qeIdentityWindow: W });
    const v = await verify(p, ms(UNTIL, 1000));
    expect(v).toMatchObject({ code: "collateral_not_yet_valid", status: "Unknown" });
    expect(v.reason).toMatch(/^TCB info is valid from/);
  });
});

describe("the catch-all verdicts", () => {
  it("a quote that is not bytes (untyped caller) → quote_malformed, never a throw", async () => {
    const v = await verifyTdxQuote(null as unknown as Uint8Array, { now: TEST_NOW });
    expect(v).toMatchObject({ genuine: false, status: "Unknown", code: "quote_malformed", measurements: undefined });
    expect(v.reason).toMatch(/null/);
  });

  it("an unexpected error inside verification (a rootCaPem that is not a string) → verification_error", async () => {
    const p = await makeTestPlatform();
    const v = await verifyTdxQuote(p.quote, { now: TEST_NOW, rootCaPem: 42 as unknown as string, collateral: p.collateral });
    expect(v).toMatchObject({ genuine: false, status: "Unknown", code: "verification_error" });
    expect(v.reason).toMatch(/^unexpected verification error: .+/);
  });

  it("an invalid `now` → invalid_time with its reason", async () => {
    const p = await makeTestPlatform();
    const v = await verifyTdxQuote(p.quote, { now: new Date(Number.NaN), rootCaPem: p.rootPem });
    expect(v).toEqual({
      genuine: false,
      status: "Unknown",
      code: "invalid_time",
      reason: "`now` is not a valid date",
      measurements: undefined,
    });
  });
});
