/**
 * agent41: collateral that is not valid yet, a refetch after the coordinator's refusal, and a
 * refusal logged once per change.
 *
 * - A PCCS serving collateral whose dates start in the future (a PCCS serving test or forged
 *   collateral, a clock far off) had it cached and attached: the agent judged only its end, and
 *   the verifier refused the evidence (collateral_not_yet_valid). Now such collateral is neither
 *   used nor cached, and the agent says why (`collateral_not_yet_valid`, naming the part and its date).
 * - After the coordinator refused evidence made with the copy held, the next attestation sent the
 *   same copy again (until its refresh, up to 12 h away). `refetch()` has it fetched afresh, at
 *   most once per `retryMs`.
 * - A starting agent waiting for its PCCS retries every few seconds; `collateral_stale: not
 *   attesting` was logged at each try. Now once per change.
 *
 * Offline: the PCCS is a stand-in on 127.0.0.1 serving stand-in platforms' collateral
 * (test/fixtures/attestation/test-pki.ts, dated around TEST_NOW) in Intel PCS's shapes.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { verifyTdxQuote } from "../core/attestation/tdx/verify";
import { TEST_NOW, makeTestPlatform, type TestPlatform, type TestPlatformOptions } from "../test/fixtures/attestation/test-pki";
import { tempDir } from "../test/temp-dir";
import { NOT_YET_VALID_SKEW_MS, collateralSource, type CollateralSourceOptions } from "./collateral";
import {
  HOUR,
  SAMPLE_FILE,
  closeStandInPccses,
  collateralRefusal,
  pcsAnswers,
  recordingLog,
  standInPccs,
  type StandInPccs,
} from "./collateral-testing";

// ---------------------------------------------------------------- factories

afterEach(closeStandInPccses);

const NOW = TEST_NOW.getTime();
const MIN = 60_000;
const DAY = 24 * HOUR;

/** A stand-in platform whose TCB info Intel "issued" `startsIn` ms after TEST_NOW (default: the usual window, valid at TEST_NOW). */
function platform(startsIn?: number): Promise<TestPlatform> {
  if (startsIn === undefined) return makeTestPlatform();
  const from = new Date(NOW + startsIn);
  return makeTestPlatform({ tcbInfoWindow: { from, until: new Date(from.getTime() + 30 * DAY) } });
}

/** A collateral source on `pccs`, caching in a fresh state directory, logging to a recording log. */
function sourceOn(pccs: StandInPccs, over: Partial<CollateralSourceOptions> = {}) {
  const stateDir = tempDir("cocoon-collateral-agent41-");
  const rec = recordingLog();
  const source = collateralSource({ stateDir, pccsUrl: pccs.url, log: rec.log, ...over });
  return { source, stateDir, lines: rec.lines };
}

/** The TCB info issueDate of the collateral cached in `stateDir` (undefined: nothing cached). */
function cachedTcbIssueDate(stateDir: string): string | undefined {
  const file = join(stateDir, SAMPLE_FILE);
  if (!existsSync(file)) return undefined;
  const f = JSON.parse(readFileSync(file, "utf8")) as { collateral: { tcb_info: string } };
  return (JSON.parse(f.collateral.tcb_info) as { issueDate: string }).issueDate;
}

// ---------------------------------------------------------------- tests

describe("collateral not valid yet (agent41)", () => {
  it("is neither used nor cached: collateral_not_yet_valid names the part and its date, as the verifier would refuse it", async () => {
    // Prepare: a PCCS serving collateral whose TCB info starts 5 days after the coordinator's time
    const future = await platform(5 * DAY);
    const pccs = await standInPccs(pcsAnswers(future.collateral));
    const { source, stateDir, lines } = sourceOn(pccs);
    // Act
    const e = await collateralRefusal(source.forQuote(future.quote, NOW));
    const verdict = await verifyTdxQuote(future.quote, { now: TEST_NOW, collateral: future.collateral, rootCaPem: future.rootPem });
    // Assess
    expect(e.code).toBe("collateral_not_yet_valid");
    expect(e.message).toContain("TCB info issueDate is 2030-06-20T00:00:00.000Z");
    expect(e.message).toContain("check that the PCCS serves Intel's collateral, and the clocks");
    expect(verdict.code).toBe("collateral_not_yet_valid");
    expect(cachedTcbIssueDate(stateDir)).toBeUndefined();
    expect(lines.filter((l) => l.msg === "collateral_not_yet_valid: not attesting")).toHaveLength(1);
    expect(lines.filter((l) => l.msg === "tdx collateral fetched")).toEqual([]);
  });

  it("is used within NOT_YET_VALID_SKEW_MS of the coordinator's time (collateral Intel issued a moment ago, clocks apart)", async () => {
    // Prepare: TCB info issued 2 minutes after the time the agent reckons is the coordinator's
    const fresh = await platform(2 * MIN);
    const pccs = await standInPccs(pcsAnswers(fresh.collateral));
    const { source, stateDir } = sourceOn(pccs);
    // Act
    const c = await source.forQuote(fresh.quote, NOW);
    // Assess
    expect(2 * MIN).toBeLessThan(NOT_YET_VALID_SKEW_MS);
    expect(c.tcb_info).toBe(fresh.collateral.tcb_info);
    expect(cachedTcbIssueDate(stateDir)).toBe("2030-06-15T00:02:00Z");
  });

  it("does not replace a held copy that passes: the held one is attached, the refresh's failure logged with its code", async () => {
    // Prepare: a copy fetched at TEST_NOW; 13 hours later (past its refresh) the PCCS serves collateral dated 5 days ahead
    const held = await platform();
    const future = await platform(5 * DAY);
    let serving = held;
    const pccs = await standInPccs(() => pcsAnswers(serving.collateral));
    const { source, stateDir, lines } = sourceOn(pccs);
    await source.forQuote(held.quote, NOW);
    serving = future;
    // Act
    const c = await source.forQuote(held.quote, NOW + 13 * HOUR);
    // Assess
    expect(c.tcb_info).toBe(held.collateral.tcb_info);
    expect(cachedTcbIssueDate(stateDir)).toBe("2030-06-01T00:00:00Z");
    expect(lines.find((l) => l.msg === "tdx collateral refresh failed: using the cached copy")?.data).toMatchObject({
      code: "collateral_not_yet_valid",
    });
  });
});

describe("collateral not valid yet: the part named is the one the verifier names (reread42)", () => {
  // each part in turn starting 5 days after the coordinator's time, the others valid (core/attestation/tdx/collateral.ts collateralWindows)
  const from = new Date(NOW + 5 * DAY);
  const window = { from, until: new Date(from.getTime() + 30 * DAY) };
  it.each<[string, string, TestPlatformOptions]>([
    ["QE identity issueDate", "QE identity", { qeIdentityWindow: window }],
    ["PCK CRL thisUpdate", "PCK CRL", { pckCrl: { thisUpdate: window.from, nextUpdate: window.until } }],
    ["root CA CRL thisUpdate", "root CA CRL", { rootCrl: { thisUpdate: window.from, nextUpdate: window.until } }],
    ['certificate "Intel SGX TCB Signing" notBefore', 'certificate "Intel SGX TCB Signing"', { tcbSigningValidity: window }],
  ])("its %s", async (agentPart, verifierPart, opts) => {
    // Prepare
    const future = await makeTestPlatform(opts);
    const pccs = await standInPccs(pcsAnswers(future.collateral));
    const { source } = sourceOn(pccs);
    // Act
    const e = await collateralRefusal(source.forQuote(future.quote, NOW));
    const verdict = await verifyTdxQuote(future.quote, { now: TEST_NOW, collateral: future.collateral, rootCaPem: future.rootPem });
    // Assess
    expect(e.code).toBe("collateral_not_yet_valid");
    expect(e.message).toContain(`its ${agentPart} is ${from.toISOString()}`);
    expect(verdict.code).toBe("collateral_not_yet_valid");
    expect(verdict.reason).toContain(`${verifierPart} is valid from ${from.toISOString()}`);
  });
});

describe("refetch after the coordinator refused the evidence (agent41)", () => {
  it("has the next attestation fetch afresh, at most once per retryMs after the last fetch", async () => {
    // Prepare: a copy fetched at TEST_NOW, due for refresh only 12 hours later
    const p = await platform();
    const pccs = await standInPccs(pcsAnswers(p.collateral));
    const { source } = sourceOn(pccs, { retryMs: MIN });
    await source.forQuote(p.quote, NOW);
    const fetches = () => pccs.requests.length / 4;
    // Act: refused at once (within retryMs of the fetch), then again a minute later
    source.refetch();
    await source.forQuote(p.quote, NOW + 30_000);
    const withinRetry = fetches();
    await source.forQuote(p.quote, NOW + MIN + 1);
    const afterRetry = fetches();
    await source.forQuote(p.quote, NOW + MIN + 2);
    const noRefusalSince = fetches();
    // Assess: 1 fetch, then one more only past retryMs, then none without a new refusal
    expect([withinRetry, afterRetry, noRefusalSince]).toEqual([1, 2, 2]);
  });
});

describe("a refusal logged once per change (agent41)", () => {
  it("logs collateral_stale once over retries with the PCCS down, and again when the reason changes", async () => {
    // Prepare: a PCCS down, nothing cached
    const p = await platform(5 * DAY);
    const pccs = await standInPccs(undefined);
    const { source, lines } = sourceOn(pccs);
    // Act: three tries while it is down, then it serves collateral not valid yet
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) codes.push((await collateralRefusal(source.forQuote(p.quote, NOW + i * 1_000))).code);
    pccs.answers = pcsAnswers(p.collateral);
    codes.push((await collateralRefusal(source.forQuote(p.quote, NOW + 3_000))).code);
    // Assess
    expect(codes).toEqual(["collateral_stale", "collateral_stale", "collateral_stale", "collateral_not_yet_valid"]);
    expect(lines.filter((l) => l.level === "error").map((l) => l.msg)).toEqual([
      "collateral_stale: not attesting",
      "collateral_not_yet_valid: not attesting",
    ]);
  });
});
