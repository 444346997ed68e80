/**
 * mut40: the hand mutants of agent/collateral.ts (session 40) that agent/collateral.test.ts let
 * live, each pinned here: the PCS shapes a PCCS may answer in (v3 header names, a missing or
 * broken issuer chain, an error status, an endless or slow answer, JSON without its signed member),
 * which collateral dates the agent counts (the older issueDate, a chain certificate that expires
 * first, a CRL without nextUpdate, the exact millisecond it stops passing), and how the cache
 * behaves (the defaults, a refresh under way shared, a file for another platform, its mode, a
 * state directory it cannot write, a same-dated or older copy from the PCCS, the retry after a
 * failure that a later success clears).
 *
 * Offline: every PCCS here is a stand-in on 127.0.0.1 (node:http).
 */
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SAMPLE_QUOTE, sampleCollateral } from "../test/fixtures/attestation/helpers";
import { makeTestPlatform, TEST_NOW } from "../test/fixtures/attestation/test-pki";
import { tempDir } from "../test/temp-dir";
import {
  CollateralError,
  collateralKeyOf,
  collateralSource,
  crlHex,
  fetchCollateral,
  pckCaOf,
  pcsUrls,
  rawMember,
  type CollateralSourceOptions,
} from "./collateral";
import {
  DAY,
  HOUR,
  SAMPLE_FILE as FILE,
  SAMPLE_ISSUED,
  SAMPLE_KEY as KEY,
  SAMPLE_UNTIL,
  closeStandInPccses,
  collateralRefusal as refusal,
  pcsAnswers,
  recordingLog,
  standInPccs,
  type PcsAnswers,
  type StandInPccs,
} from "./collateral-testing";

// ---------------------------------------------------------------- factories
const T0 = Date.parse("2025-06-25T00:00:00Z");

afterEach(closeStandInPccses);

/** A PCCS answering PCS v4 paths with `answers` (a PCS serving the sample, to any FMSPC and CA, by default). */
const pccs = (answers: PcsAnswers = pcsAnswers(sampleCollateral())) => standInPccs(answers);

const source = (p: StandInPccs, over: Partial<CollateralSourceOptions> = {}) =>
  collateralSource({ stateDir: tempDir("cocoon-collateral-mut40-"), pccsUrl: p.url, ...over });

/** The sample quote with its PCK CA certificate's CN edited (same length): nothing is verified when the key is read. */
function quoteWithCaCn(from: string, to: string): Uint8Array {
  const text = Buffer.from(SAMPLE_QUOTE).toString("latin1");
  const blocks = [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/g)];
  const ca = blocks[1]!;
  const der = Buffer.from(ca[1]!.replace(/\s+/g, ""), "base64");
  // the issuer's name comes first in the certificate: the subject's CN is the last occurrence
  const last = der.lastIndexOf(from, undefined, "latin1");
  if (last < 0) throw new Error(`no "${from}" in the PCK CA certificate`);
  der.write(to, last, "latin1");
  const b64 = der.toString("base64");
  // the same line breaks as before (the same length: a same-length edit keeps the base64's length)
  let k = 0;
  const edited = ca[1]!.replace(/[^\s]/g, () => b64[k++]!);
  const out = Buffer.from(
    text.slice(0, ca.index! + "-----BEGIN CERTIFICATE-----".length) +
      edited +
      text.slice(ca.index! + "-----BEGIN CERTIFICATE-----".length + ca[1]!.length),
    "latin1",
  );
  return new Uint8Array(out);
}

// ---------------------------------------------------------------- pure parts
describe("mut40: the quote's key, the URLs and the shapes, at their edges", () => {
  it("a PCK CA that is neither Intel's Platform nor Processor CA: quote_unreadable, naming the CN", () => {
    // Prepare
    const quote = quoteWithCaCn("Intel SGX PCK Platform CA", "Intel SGX PCK Plotform CA");
    // Act
    const e = (() => {
      try {
        collateralKeyOf(quote);
      } catch (x) {
        return x;
      }
    })();
    // Assess
    expect(e).toBeInstanceOf(CollateralError);
    expect(e).toMatchObject({ code: "quote_unreadable", message: expect.stringContaining('"Intel SGX PCK Plotform CA"') });
  });

  it("a CA is named by the end of its CN only; trailing slashes and Intel QCNL's /tdx form are dropped from a PCCS URL", () => {
    expect(pckCaOf("Intel SGX PCK Processor CA 2")).toBeUndefined();
    expect(pckCaOf("Intel SGX PCK Platform CA (old)")).toBeUndefined();
    expect(pcsUrls("https://pccs.example//", KEY).tcb).toBe("https://pccs.example/tdx/certification/v4/tcb?fmspc=B0C06F000000");
    expect(pcsUrls("https://pccs.example/tdx/certification/v4", KEY).qeIdentity).toBe(
      "https://pccs.example/tdx/certification/v4/qe/identity",
    );
  });

  it("rawMember: a non-object has no members, a member named twice is refused, spaces before a comma are skipped", () => {
    expect(rawMember("[1]", "tcbInfo")).toBeUndefined();
    expect(() => rawMember('{"tcbInfo":{"a":1},"tcbInfo":{"a":2}}', "tcbInfo")).toThrow(/"tcbInfo" appears twice/);
    expect(rawMember('{"a" : 1 , "tcbInfo" : {"b" : 2} }', "tcbInfo")).toBe('{"b" : 2}');
  });

  it("crlHex: odd-length hex is not a CRL", () => {
    expect(() => crlHex(Buffer.from("abc"), "GET /rootcacrl")).toThrow(CollateralError);
  });
});

// ---------------------------------------------------------------- fetching
describe("mut40: what a PCCS may answer", () => {
  it("the TCB info's issuer chain under v3's header name (SGX-TCB-Info-Issuer-Chain) is taken", async () => {
    // Prepare
    const c = sampleCollateral();
    const a = pcsAnswers(c);
    a.tcb.headers = { "SGX-TCB-Info-Issuer-Chain": encodeURIComponent(c.tcb_info_issuer_chain) };
    const p = await pccs(a);
    // Act
    const got = await fetchCollateral(p.url, KEY);
    // Assess
    expect(got).toEqual(c);
  });

  it.each([
    ["no PCK CRL issuer chain header", (a: PcsAnswers) => void (a.pckcrl.headers = {}), /no SGX-PCK-CRL-Issuer-Chain header/],
    [
      "an issuer chain that is not URL-encoded",
      (a: PcsAnswers) => void (a.qe.headers = { "SGX-Enclave-Identity-Issuer-Chain": "%E0%A4%A" }),
      /header SGX-Enclave-Identity-Issuer-Chain is not URL-encoded PEM/,
    ],
    ["an HTTP error", (a: PcsAnswers) => void (a.tcb = { status: 404 }), /tcb\?fmspc=B0C06F000000: HTTP 404/],
    ["JSON without the signed member", (a: PcsAnswers) => void (a.tcb.body = '{"signature":"ab"}'), /not Intel PCS JSON \(no "tcbInfo"/],
    [
      "JSON without the signature",
      (a: PcsAnswers) => void (a.qe.body = `{"enclaveIdentity":${sampleCollateral().qe_identity}}`),
      /not Intel PCS JSON \(no "enclaveIdentity" and "signature"\)/,
    ],
    [
      "a signature that is not hex",
      (a: PcsAnswers) => void (a.tcb.body = `{"tcbInfo":${sampleCollateral().tcb_info},"signature":"zz"}`),
      /served collateral the verifier cannot read: tcb_info_signature/,
    ],
    ["an answer past 512 KiB", (a: PcsAnswers) => void (a.qe.body = "x".repeat(512 * 1024 + 1)), /larger than 524288 bytes/],
  ])("%s: pccs_unavailable, saying which", async (_name, edit, why) => {
    // Prepare
    const a = pcsAnswers(sampleCollateral());
    edit(a);
    const p = await pccs(a);
    // Act
    const e = await refusal(fetchCollateral(p.url, KEY));
    // Assess
    expect(e.code).toBe("pccs_unavailable");
    expect(e.message).toMatch(why);
  });

  it("an answer of exactly 512 KiB is read (the cap is on what is past it)", async () => {
    // Prepare: the QE identity's JSON padded with spaces to the cap
    const c = sampleCollateral();
    const a = pcsAnswers(c);
    const body = a.qe.body as string;
    a.qe.body = body + " ".repeat(512 * 1024 - Buffer.byteLength(body));
    const p = await pccs(a);
    // Act
    const got = await fetchCollateral(p.url, KEY);
    // Assess
    expect(got.qe_identity).toBe(c.qe_identity);
  });

  it("a PCCS that never answers: given up after timeoutMs, saying so; the source passes its timeoutMs on", async () => {
    // Prepare
    const a = pcsAnswers(sampleCollateral());
    a.tcb.hang = true;
    const p = await pccs(a);
    // Act
    const direct = await refusal(fetchCollateral(p.url, KEY, { timeoutMs: 200 }));
    const viaSource = await refusal(source(p, { timeoutMs: 250 }).forQuote(SAMPLE_QUOTE, T0));
    // Assess
    expect(direct).toMatchObject({ code: "pccs_unavailable", message: expect.stringMatching(/no answer in 200 ms/) });
    expect(viaSource).toMatchObject({ code: "collateral_stale", message: expect.stringMatching(/no answer in 250 ms/) });
  });
});

// ---------------------------------------------------------------- dates
describe("mut40: the dates the agent counts, as the verifier does", () => {
  it("the older of the TCB info's and the QE identity's issueDate is the age the policy bounds", async () => {
    // Prepare: TCB info issued 2030-06-01, QE identity 2030-06-10; a 7-day bound at 2030-06-15
    const platform = await makeTestPlatform({
      qeIdentityWindow: { from: new Date("2030-06-10T00:00:00Z"), until: new Date("2030-07-01T00:00:00Z") },
    });
    const p = await pccs(pcsAnswers(platform.collateral));
    // Act
    const e = await refusal(source(p, { maxAgeSeconds: 7 * 86_400 }).forQuote(platform.quote, TEST_NOW.getTime()));
    // Assess
    expect(e.code).toBe("collateral_stale");
    expect(e.message).toMatch(/issued 2030-06-01T00:00:00.000Z, too old to pass/);
  });

  it("an issuer chain certificate that expires before every nextUpdate ends the collateral's use there", async () => {
    // Prepare: the TCB signing certificate expires 2030-06-20, the rest passes until 2030-07-01; fetched, then the PCCS goes down
    const until = Date.parse("2030-06-20T00:00:00Z");
    const platform = await makeTestPlatform({ tcbSigningValidity: { from: new Date("2025-01-01T00:00:00Z"), until: new Date(until) } });
    const stateDir = tempDir("cocoon-collateral-mut40-");
    const p = await pccs(pcsAnswers(platform.collateral));
    await source(p, { stateDir }).forQuote(platform.quote, TEST_NOW.getTime());
    p.answers = undefined;
    // Act
    const e = await refusal(source(p, { stateDir }).forQuote(platform.quote, until + 1));
    // Assess
    expect(e.code).toBe("collateral_stale");
    expect(e.message).toMatch(/passed until 2030-06-20T00:00:00.000Z/);
  });

  it("a PCK CRL without nextUpdate (the verifier refuses it): nothing attached, the PCCS named as serving unreadable dates", async () => {
    // Prepare
    const platform = await makeTestPlatform({ pckCrl: { nextUpdate: null } });
    const p = await pccs(pcsAnswers(platform.collateral));
    // Act
    const e = await refusal(source(p).forQuote(platform.quote, TEST_NOW.getTime()));
    // Assess
    expect(e.code).toBe("collateral_stale");
    expect(e.message).toMatch(/served collateral without readable dates: a date is missing or not a date/);
  });

  it("it stops passing at usableUntil exactly: from the cache after a failed refresh, and as the PCCS serves it", async () => {
    // Prepare: cached at T0; the PCCS down a minute before the sample's first nextUpdate (the refresh fails, its retry is 5 minutes off)
    const stateDir = tempDir("cocoon-collateral-mut40-");
    const p = await pccs();
    const s = source(p, { stateDir });
    await s.forQuote(SAMPLE_QUOTE, T0);
    p.answers = undefined;
    // Act
    const before = await s.forQuote(SAMPLE_QUOTE, SAMPLE_UNTIL - 60_000);
    const atEdge = await refusal(s.forQuote(SAMPLE_QUOTE, SAMPLE_UNTIL));
    p.answers = pcsAnswers(sampleCollateral());
    const served = await refusal(source(p).forQuote(SAMPLE_QUOTE, SAMPLE_UNTIL));
    // Assess
    expect(before).toEqual(sampleCollateral());
    expect(atEdge.code).toBe("collateral_stale");
    expect(served).toMatchObject({ code: "collateral_stale", message: expect.stringMatching(/too old to pass/) });
  });
});

// ---------------------------------------------------------------- the cache
describe("mut40: the cache", () => {
  it("by default fetched again every 12 hours, and a failed refresh retried 5 minutes later, not sooner", async () => {
    // Prepare
    const p = await pccs();
    const s = source(p);
    // Act + Assess, in steps
    await s.forQuote(SAMPLE_QUOTE, T0);
    await s.forQuote(SAMPLE_QUOTE, T0 + 12 * HOUR - 1);
    expect(p.requests.length).toBe(4);
    await s.forQuote(SAMPLE_QUOTE, T0 + 12 * HOUR);
    expect(p.requests.length).toBe(8);
    p.answers = undefined;
    await s.forQuote(SAMPLE_QUOTE, T0 + 24 * HOUR);
    const failed = p.requests.length;
    await s.forQuote(SAMPLE_QUOTE, T0 + 24 * HOUR + 5 * 60_000 - 1);
    expect(p.requests.length).toBe(failed);
    await s.forQuote(SAMPLE_QUOTE, T0 + 24 * HOUR + 5 * 60_000);
    expect(p.requests.length).toBeGreaterThan(failed);
  });

  it("two attestations at once share one fetch", async () => {
    // Prepare
    const p = await pccs();
    const s = source(p);
    // Act
    const [a, b] = await Promise.all([s.forQuote(SAMPLE_QUOTE, T0), s.forQuote(SAMPLE_QUOTE, T0)]);
    // Assess
    expect(a).toEqual(b);
    expect(p.requests.length).toBe(4);
  });

  it("written readable by the agent only (0600), with the fetch logged", async () => {
    // Prepare
    const stateDir = tempDir("cocoon-collateral-mut40-");
    const p = await pccs();
    const { lines, log } = recordingLog();
    // Act
    await source(p, { stateDir, log }).forQuote(SAMPLE_QUOTE, T0);
    // Assess
    expect(statSync(join(stateDir, FILE)).mode & 0o777).toBe(0o600);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: "info",
        msg: "tdx collateral fetched",
        data: expect.objectContaining({ fmspc: "B0C06F000000", usableUntil: new Date(SAMPLE_UNTIL).toISOString() }),
      }),
    );
  });

  it("a cache file under this platform's name but for another FMSPC is not used: fetched afresh, and said", async () => {
    // Prepare: the file holds collateral that would pass, labelled for another platform
    const stateDir = tempDir("cocoon-collateral-mut40-");
    writeFileSync(
      join(stateDir, FILE),
      JSON.stringify({ version: 1, fmspc: "00906ED50000", ca: "platform", fetchedAt: T0, collateral: sampleCollateral() }),
    );
    const p = await pccs();
    const { lines, log } = recordingLog();
    // Act
    await source(p, { stateDir, log }).forQuote(SAMPLE_QUOTE, T0 + HOUR);
    // Assess
    expect(p.requests.length).toBe(4);
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: "tdx collateral cache unreadable: ignored, fetching afresh",
        data: expect.objectContaining({ error: "it is for another platform" }),
      }),
    );
  });

  it("a state directory it cannot write: the fetched collateral still serves, and the failure is said", async () => {
    // Prepare: the state directory is below a plain file
    const base = tempDir("cocoon-collateral-mut40-");
    writeFileSync(join(base, "file"), "");
    const p = await pccs();
    const { lines, log } = recordingLog();
    // Act
    const got = await source(p, { stateDir: join(base, "file", "state"), log }).forQuote(SAMPLE_QUOTE, T0);
    // Assess
    expect(got).toEqual(sampleCollateral());
    expect(lines).toContainEqual(expect.objectContaining({ level: "warn", msg: "tdx collateral fetched but not cached" }));
  });

  it("collateral_stale is logged as a warning where the log has no error level, with how long the cached copy passed", async () => {
    // Prepare
    const stateDir = tempDir("cocoon-collateral-mut40-");
    const p = await pccs();
    await source(p, { stateDir }).forQuote(SAMPLE_QUOTE, T0);
    p.answers = undefined;
    const { lines, log } = recordingLog(false);
    // Act
    await refusal(source(p, { stateDir, log }).forQuote(SAMPLE_QUOTE, SAMPLE_UNTIL + 1));
    // Assess
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: "warn",
        msg: "collateral_stale: not attesting",
        data: expect.objectContaining({ usableUntil: new Date(SAMPLE_UNTIL).toISOString() }),
      }),
    );
  });

  it("a refresh that brings the same collateral moves the next refresh on: nothing is asked again straight after", async () => {
    // Prepare
    const p = await pccs();
    const s = source(p);
    await s.forQuote(SAMPLE_QUOTE, T0);
    await s.forQuote(SAMPLE_QUOTE, T0 + 12 * HOUR);
    // Act
    await s.forQuote(SAMPLE_QUOTE, T0 + 12 * HOUR + 60_000);
    // Assess
    expect(p.requests.length).toBe(8);
  });

  it("a PCCS that falls behind (collateral passing less long than the copy held) does not replace the copy, and is asked again only after retryMs", async () => {
    // Prepare: a platform's collateral passing until 2030-07-01, then the PCCS serves its copy whose TCB info ends 2030-06-20
    const good = await makeTestPlatform();
    const behind = await makeTestPlatform({
      tcbInfoWindow: { from: new Date("2030-05-20T00:00:00Z"), until: new Date("2030-06-20T00:00:00Z") },
    });
    const p = await pccs(pcsAnswers(good.collateral));
    const s = source(p);
    const now = TEST_NOW.getTime();
    await s.forQuote(good.quote, now);
    p.answers = pcsAnswers(behind.collateral);
    // Act
    const got = await s.forQuote(good.quote, now + 12 * HOUR);
    const minuteOn = p.requests.length;
    await s.forQuote(good.quote, now + 12 * HOUR + 60_000);
    const asked = p.requests.length - minuteOn;
    await s.forQuote(good.quote, now + 12 * HOUR + 5 * 60_000);
    // Assess: kept, and the lagging PCCS asked again only after retryMs (it was asked at every attestation)
    expect(minuteOn).toBe(8);
    expect(got).toEqual(good.collateral);
    expect(asked).toBe(0);
    expect(p.requests.length).toBe(12);
  });

  it("a success after a failed fetch clears the retry wait: a refresh due before it is made", async () => {
    // Prepare: a day after issue under a bound that ends 5 minutes later; nothing cached and the PCCS down
    const t = SAMPLE_ISSUED + DAY;
    const p = await pccs();
    p.answers = undefined;
    const s = source(p, { maxAgeSeconds: 86_400 + 300 });
    await refusal(s.forQuote(SAMPLE_QUOTE, t)); // failed: the next try waits until t + 5 min while a copy passes
    p.answers = pcsAnswers(sampleCollateral());
    await s.forQuote(SAMPLE_QUOTE, t + 60_000); // fetched: 4 minutes left, so due again 2 minutes on
    const fetched = p.requests.length;
    // Act
    await s.forQuote(SAMPLE_QUOTE, t + 3 * 60_000);
    // Assess
    expect(p.requests.length).toBe(fetched + 4);
  });
});
