/**
 * collat40: a tdx agent attached no collateral, so the verifier judged its quote `Unknown` and
 * the default policy refused every real tdx worker. The agent now fetches Intel's collateral from
 * a PCCS (Intel PCS API v4 shapes), caches it in its state directory and attaches it.
 *
 * Offline: the PCCS is a stand-in on 127.0.0.1 (node:http) serving, in PCS's shapes, the genuine
 * sample collateral (test/fixtures/attestation, from ../shared/attestation) or the stand-in
 * platform's (test/fixtures/attestation/test-pki.ts). Intel's PCS is never asked: every source
 * here names the stand-in.
 */
import { readdirSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { localPolicy, parsePolicy, type Policy } from "../core/attestation/policy";
import type { TdxCollateral } from "../core/attestation/tdx/collateral";
import { TdxVerifierCache, verifyTdxQuote } from "../core/attestation/tdx/verify";
import { verifyAttestation, type AttestationContext } from "../core/attestation/verify";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { b64u } from "../core/crypto/encoding";
import { IN_WINDOW, SAMPLE_QUOTE, flipChar, sampleCollateral } from "../test/fixtures/attestation/helpers";
import { TEST_NOW, type TestPlatform } from "../test/fixtures/attestation/test-pki";
import { tempDir } from "../test/temp-dir";
import { resolveConfig } from "./config";
import { makeAttester } from "./attest";
import {
  CollateralError,
  INTEL_PCS_URL,
  INTEL_ROOT_CA_CRL_URL,
  collateralKeyOf,
  collateralSource,
  crlHex,
  pckCaOf,
  pcsUrls,
  rawMember,
  type CollateralSourceOptions,
} from "./collateral";
import {
  DAY,
  HOUR,
  SAMPLE_FILE,
  SAMPLE_ISSUED,
  SAMPLE_KEY,
  SAMPLE_UNTIL,
  closeStandInPccses,
  collateralRefusal,
  pcsAnswers,
  recordingLog,
  standInPccs as standInPcs,
  standInTdx,
} from "./collateral-testing";
import type { QuoteProvider } from "./quote-provider";

// ---------------------------------------------------------------- factories

afterEach(closeStandInPccses);

/** Every URL the agent asked for: none but the stand-ins' (Intel's PCS, the default, is never asked from a test). */
const asked: string[] = [];
const realFetch = globalThis.fetch;
beforeAll(() => {
  vi.spyOn(globalThis, "fetch").mockImplementation((input, init) => {
    asked.push(String(input instanceof Request ? input.url : input));
    return realFetch(input, init);
  });
});
afterAll(() => {
  vi.restoreAllMocks();
  expect(asked.length).toBeGreaterThan(0);
  expect(asked.filter((u) => !u.startsWith("http://127.0.0.1:"))).toEqual([]);
});

/**
 * A PCCS serving `collateral` (a function: asked at each request, for a platform made after the
 * stand-in; undefined: down) in PCS's shapes, 404 for another FMSPC or PCK CA than the sample's
 * (so the agent is seen to ask for its quote's).
 */
const standInPccs = (collateral: TdxCollateral | (() => TdxCollateral) | undefined) =>
  standInPcs(
    typeof collateral === "function" ? () => pcsAnswers(collateral(), SAMPLE_KEY) : collateral && pcsAnswers(collateral, SAMPLE_KEY),
  );

/** A collateral source on the stand-in, caching in `stateDir` (a fresh one by default), logging to `log`. */
function source(pccs: { url: string }, over: Partial<CollateralSourceOptions> = {}) {
  return collateralSource({ stateDir: tempDir("cocoon-collateral-"), pccsUrl: pccs.url, ...over });
}

/** A configfs-tsm stand-in answering every report data with the genuine sample quote (which binds another TD's keys). */
const sampleProvider: QuoteProvider = { tier: "tdx", quote: async () => SAMPLE_QUOTE };

function tdxAttester(provider: QuoteProvider, collateral: ReturnType<typeof collateralSource> | undefined, at: number) {
  return makeAttester({
    tier: "tdx",
    signingKey: generateSigningKey(),
    kemKey: generateKemKey(),
    quoteProvider: provider,
    ...(collateral ? { collateral } : {}),
    now: () => at,
  });
}

const verifierCtx = (now: number, over: Partial<AttestationContext> = {}): AttestationContext => ({
  policy: localPolicy,
  now,
  allowDev: false,
  allowNone: false,
  allowTestImages: true,
  tdxCache: new TdxVerifierCache(),
  ...over,
});

const withMaxAge = (seconds: number): Policy => parsePolicy({ ...localPolicy, maxCollateralAgeSeconds: seconds });

/** The stand-in platform's verifier: the real one, trusting only the test root (never Intel's). */
const standInVerifier = (p: TestPlatform) => ({
  verifyTdx: (q: Uint8Array, o: Parameters<typeof verifyTdxQuote>[1]) => verifyTdxQuote(q, { ...o, rootCaPem: p.rootPem }),
});

// ---------------------------------------------------------------- tests
describe("the agent attaches the collateral a PCCS serves (collat40)", () => {
  it("the document made from tdx_quote.bin carries the sample collateral byte for byte, and the real verifier judges it by it", async () => {
    // Prepare: a PCCS serving the genuine sample collateral; an agent whose platform quotes with the sample quote
    const pccs = await standInPccs(sampleCollateral());
    const at = IN_WINDOW.getTime() - 1000;
    // Act
    const doc = await tdxAttester(sampleProvider, source(pccs), at)(new Uint8Array(32).fill(7));
    const bare = await tdxAttester(sampleProvider, undefined, at)(new Uint8Array(32).fill(7));
    const verdict = await verifyTdxQuote(b64u.decode(doc.quote!), { now: IN_WINDOW, collateral: doc.collateral });
    const judged = await verifyAttestation(doc, verifierCtx(IN_WINDOW.getTime()));
    const judgedBare = await verifyAttestation(bare, verifierCtx(IN_WINDOW.getTime()));
    // Assess: the signed texts survived the PCS shapes exactly (Intel's signatures are over them);
    // under Intel's pinned root the quote is genuine and UpToDate, and the document passes every
    // check up to its key binding (the sample binds another TD's keys, which no test can change);
    // without collateral it stopped at the TCB status, as every real tdx worker did
    expect(doc.collateral).toEqual(sampleCollateral());
    expect(pccs.requests).toEqual(
      expect.arrayContaining([
        "/sgx/certification/v4/pckcrl?ca=platform&encoding=der",
        "/tdx/certification/v4/tcb?fmspc=B0C06F000000",
        "/tdx/certification/v4/qe/identity",
        "/sgx/certification/v4/rootcacrl",
      ]),
    );
    expect(verdict).toMatchObject({ genuine: true, status: "UpToDate", code: "ok" });
    expect(judged).toMatchObject({ ok: false, code: "report_data_mismatch" });
    expect(judgedBare).toMatchObject({ ok: false, code: "tcb_status_not_accepted" });
  });

  it("a stand-in TD's document with fetched collateral is accepted by the real verifier, under a collateral-age bound", async () => {
    // Prepare: a TD whose quotes bind the agent's keys (each signed under its own test root); the
    // PCCS serves that platform's collateral, issued 2030-06-01: 14 days old at TEST_NOW
    const tdx = standInTdx();
    const pccs = await standInPccs(() => tdx.last().collateral);
    const attest = tdxAttester(tdx.provider, source(pccs, { maxAgeSeconds: 30 * 86_400 }), TEST_NOW.getTime() - 1000);
    // Act
    const doc = await attest(new Uint8Array(32).fill(8));
    const p = tdx.last();
    const result = await verifyAttestation(
      doc,
      verifierCtx(TEST_NOW.getTime(), { policy: withMaxAge(30 * 86_400), ...standInVerifier(p) }),
    );
    // Assess
    expect(doc.collateral).toEqual(p.collateral);
    expect(result).toMatchObject({ ok: true, tier: "tdx", tcbStatus: "UpToDate" });
  });

  it("collateral too old for the policy: the agent refuses to attest with a named error and log line, as the verifier would refuse it", async () => {
    // Prepare: the same TD and PCCS, under a 7-day bound (the collateral is 14 days old)
    const tdx = standInTdx();
    const pccs = await standInPccs(() => tdx.last().collateral);
    const { lines, log } = recordingLog();
    const at = TEST_NOW.getTime() - 1000;
    // Act
    const refused = await collateralRefusal(
      tdxAttester(tdx.provider, source(pccs, { maxAgeSeconds: 7 * 86_400, log }), at)(new Uint8Array(32)),
    );
    const unbound = await tdxAttester(tdx.provider, source(pccs), at)(new Uint8Array(32));
    const judged = await verifyAttestation(
      unbound,
      verifierCtx(TEST_NOW.getTime(), { policy: withMaxAge(7 * 86_400), ...standInVerifier(tdx.last()) }),
    );
    // Assess
    expect(refused.code).toBe("collateral_stale");
    expect(refused.message).toMatch(/too old to pass/);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: "error",
        msg: "collateral_stale: not attesting",
        data: expect.objectContaining({ code: "collateral_stale" }),
      }),
    );
    expect(judged).toMatchObject({ ok: false, code: "collateral_too_old" });
  });
});

describe("the collateral cache (collat40)", () => {
  const T0 = IN_WINDOW.getTime();

  it("the PCCS down after a restart, the cached copy still passing: the agent attests from its state directory, and says the refresh failed", async () => {
    // Prepare: one agent fetched at T0 and cached; the PCCS goes down; the agent restarts two days later (past its 12-hour refresh)
    const stateDir = tempDir("cocoon-collateral-");
    const pccs = await standInPccs(sampleCollateral());
    await source(pccs, { stateDir }).forQuote(SAMPLE_QUOTE, T0);
    pccs.answers = undefined;
    const { lines, log } = recordingLog();
    const later = T0 + 2 * DAY;
    // Act
    const doc = await tdxAttester(sampleProvider, source(pccs, { stateDir, log }), later)(new Uint8Array(32));
    const judged = await verifyAttestation(doc, verifierCtx(later + 1000));
    // Assess: it asked, was not answered, and attached the cached copy, which the verifier still takes (up to the key binding)
    expect(readdirSync(stateDir)).toContain(SAMPLE_FILE);
    expect(doc.collateral).toEqual(sampleCollateral());
    expect(pccs.requests.length).toBeGreaterThan(4);
    expect(lines).toContainEqual(expect.objectContaining({ level: "warn", msg: "tdx collateral refresh failed: using the cached copy" }));
    expect(judged).toMatchObject({ ok: false, code: "report_data_mismatch" });
  });

  it("the PCCS down and nothing cached: collateral_stale, named in the error and in an error log line", async () => {
    // Prepare
    const pccs = await standInPccs(undefined);
    const { lines, log } = recordingLog();
    // Act
    const e = await collateralRefusal(tdxAttester(sampleProvider, source(pccs, { log }), T0)(new Uint8Array(32)));
    // Assess
    expect(e.code).toBe("collateral_stale");
    expect(e.message).toMatch(/nothing cached for FMSPC B0C06F000000/);
    expect(e.message).toMatch(/COCOON_PCCS_URL/);
    expect(lines).toEqual([
      expect.objectContaining({
        level: "error",
        msg: "collateral_stale: not attesting",
        data: expect.objectContaining({ code: "collateral_stale", fmspc: "B0C06F000000" }),
      }),
    ]);
  });

  it("the PCCS down and the cached copy past its nextUpdate: collateral_stale, where the verifier would say collateral_expired", async () => {
    // Prepare: cached at T0; down; a millisecond past the sample's first nextUpdate
    const stateDir = tempDir("cocoon-collateral-");
    const pccs = await standInPccs(sampleCollateral());
    await source(pccs, { stateDir }).forQuote(SAMPLE_QUOTE, T0);
    pccs.answers = undefined;
    const { lines, log } = recordingLog();
    const past = SAMPLE_UNTIL + 1;
    // Act
    const e = await collateralRefusal(tdxAttester(sampleProvider, source(pccs, { stateDir, log }), past)(new Uint8Array(32)));
    const verdict = await verifyTdxQuote(SAMPLE_QUOTE, { now: new Date(past), collateral: sampleCollateral() });
    // Assess
    expect(e.code).toBe("collateral_stale");
    expect(e.message).toMatch(/passed until 2025-07-19T10:00:35.000Z/);
    expect(lines).toContainEqual(expect.objectContaining({ level: "error", msg: "collateral_stale: not attesting" }));
    expect(verdict).toMatchObject({ genuine: true, status: "CollateralExpired" });
  });

  it("a cached copy is used as it is until its refresh is due, then fetched again; a failed refresh is retried after retryMs, not on every call", async () => {
    // Prepare
    const pccs = await standInPccs(sampleCollateral());
    const s = source(pccs, { refreshEveryMs: 12 * HOUR, retryMs: 5 * 60_000 });
    const asked = () => pccs.requests.length;
    // Act + Assess, in steps
    await s.forQuote(SAMPLE_QUOTE, T0);
    expect(asked()).toBe(4);
    await s.forQuote(SAMPLE_QUOTE, T0 + 11 * HOUR);
    expect(asked()).toBe(4); // not due yet
    await s.forQuote(SAMPLE_QUOTE, T0 + 12 * HOUR);
    expect(asked()).toBe(8); // due: fetched again
    pccs.answers = undefined;
    await s.forQuote(SAMPLE_QUOTE, T0 + 24 * HOUR);
    const afterFailure = asked();
    expect(afterFailure).toBeGreaterThan(8); // tried, failed, served from the cache
    await s.forQuote(SAMPLE_QUOTE, T0 + 24 * HOUR + 60_000);
    expect(asked()).toBe(afterFailure); // within retryMs: not asked again
    await s.forQuote(SAMPLE_QUOTE, T0 + 24 * HOUR + 5 * 60_000);
    expect(asked()).toBeGreaterThan(afterFailure);
  });

  it("the policy's age bound brings the refresh forward: half of what is left before the collateral gets too old", async () => {
    // Prepare: a 36-hour bound from the TCB info's issueDate (2025-06-19T10:16:03Z); fetched a day
    // later, 12 hours are left, so it is due 6 hours after (before the 12-hour default)
    const pccs = await standInPccs(sampleCollateral());
    const s = source(pccs, { maxAgeSeconds: 36 * 3600 });
    // Act + Assess
    await s.forQuote(SAMPLE_QUOTE, SAMPLE_ISSUED + DAY);
    await s.forQuote(SAMPLE_QUOTE, SAMPLE_ISSUED + DAY + 6 * HOUR - 1);
    expect(pccs.requests.length).toBe(4);
    await s.forQuote(SAMPLE_QUOTE, SAMPLE_ISSUED + DAY + 6 * HOUR);
    expect(pccs.requests.length).toBe(8);
  });

  it("an unreadable cache file is ignored (logged) and the collateral fetched afresh", async () => {
    // Prepare
    const stateDir = tempDir("cocoon-collateral-");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(`${stateDir}/${SAMPLE_FILE}`, "{ not json");
    const pccs = await standInPccs(sampleCollateral());
    const { lines, log } = recordingLog();
    // Act
    const c = await source(pccs, { stateDir, log }).forQuote(SAMPLE_QUOTE, T0);
    // Assess
    expect(c).toEqual(sampleCollateral());
    expect(lines).toContainEqual(
      expect.objectContaining({ level: "warn", msg: "tdx collateral cache unreadable: ignored, fetching afresh" }),
    );
  });
});

describe("a PCCS that serves tampered collateral (collat40)", () => {
  it("the agent attaches what it was served, and the verifier refuses it by Intel's signature", async () => {
    // Prepare: the TCB info's evaluation number changed (17 → 16): still JSON, no longer what Intel signed
    const tampered = sampleCollateral();
    const at = tampered.tcb_info.indexOf('"tcbEvaluationDataNumber":17') + '"tcbEvaluationDataNumber":1'.length;
    tampered.tcb_info = flipChar(tampered.tcb_info, at);
    const pccs = await standInPccs(tampered);
    // Act
    const doc = await tdxAttester(sampleProvider, source(pccs), IN_WINDOW.getTime() - 1000)(new Uint8Array(32));
    const judged = await verifyAttestation(doc, verifierCtx(IN_WINDOW.getTime()));
    // Assess
    expect(doc.collateral).toMatchObject({ tcb_info: expect.stringContaining('"tcbEvaluationDataNumber":16') });
    expect(judged).toMatchObject({ ok: false, code: "tcb_info_signature_invalid" });
  });
});

describe("PCS requests and shapes (collat40)", () => {
  it("the quote's FMSPC and PCK CA, read from its PCK certificate; the CA named by its certificate's CN", () => {
    expect(collateralKeyOf(SAMPLE_QUOTE)).toEqual({ fmspc: "B0C06F000000", ca: "platform" });
    expect(pckCaOf("Intel SGX PCK Processor CA")).toBe("processor");
    expect(pckCaOf("Intel SGX PCK Platform CA")).toBe("platform");
    expect(pckCaOf("Intel SGX Root CA")).toBeUndefined();
  });

  it("Intel's PCS by default, its root CA CRL from the root's distribution point; a PCCS URL in Intel QCNL's form is taken too", () => {
    const key = { fmspc: "B0C06F000000", ca: "processor" } as const;
    expect(pcsUrls(INTEL_PCS_URL, key)).toEqual({
      pckCrl: `${INTEL_PCS_URL}/sgx/certification/v4/pckcrl?ca=processor&encoding=der`,
      tcb: `${INTEL_PCS_URL}/tdx/certification/v4/tcb?fmspc=B0C06F000000`,
      qeIdentity: `${INTEL_PCS_URL}/tdx/certification/v4/qe/identity`,
      rootCaCrl: INTEL_ROOT_CA_CRL_URL,
    });
    expect(pcsUrls("https://pccs.example:8081/sgx/certification/v4/", key)).toMatchObject({
      tcb: "https://pccs.example:8081/tdx/certification/v4/tcb?fmspc=B0C06F000000",
      rootCaCrl: "https://pccs.example:8081/sgx/certification/v4/rootcacrl",
    });
  });

  it("the signed member is cut out as served: spacing, key order and strings holding brackets kept", () => {
    const body = '{ "signature" : "ab", "x":"}\\"{[", "tcbInfo" : {"b": 1,  "a":[1, {"c":"]"}]} }';
    expect(rawMember(body, "tcbInfo")).toBe('{"b": 1,  "a":[1, {"c":"]"}]}');
    expect(rawMember(body, "signature")).toBe('"ab"');
    expect(rawMember(body, "enclaveIdentity")).toBeUndefined();
  });

  it("a CRL is taken as DER, PEM or hex (Intel's PCCS serves its root CA CRL as hex), and anything else is refused", () => {
    const hex = sampleCollateral().root_ca_crl;
    const b64 = Buffer.from(hex, "hex").toString("base64");
    const pem = `-----BEGIN X509 CRL-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END X509 CRL-----\n`;
    expect(crlHex(Buffer.from(hex, "hex"), "der")).toBe(hex);
    expect(crlHex(Buffer.from(pem), "pem")).toBe(hex);
    expect(crlHex(Buffer.from(hex.toUpperCase() + "\n"), "hex")).toBe(hex);
    expect(() => crlHex(Buffer.from("<html>maintenance</html>"), "GET /rootcacrl")).toThrow(CollateralError);
  });

  it("pccsUrl: COCOON_PCCS_URL sets it; a URL that is not http(s) is refused naming the variable", () => {
    const at = (v: string) => resolveConfig({ readFile: false, env: { COCOON_PCCS_URL: v } });
    expect(at("https://pccs.example:8081").config.pccsUrl).toBe("https://pccs.example:8081");
    expect(resolveConfig({ readFile: false, env: {} }).config.pccsUrl).toBeUndefined();
    expect(() => at("ftp://pccs.example")).toThrow(/pccsUrl \(COCOON_PCCS_URL\): must be an http\(s\) URL/);
  });
});
