/**
 * attest39: the worker chooses the collateral its TDX quote is judged by (it travels in the
 * document; neither the coordinator nor the SDK fetches its own), and Intel's collateral stays
 * valid for 30 days. A platform a TCB recovery made OutOfDate kept passing as UpToDate on the
 * collateral from before the recovery, for up to those 30 days. Policy.maxCollateralAgeSeconds
 * bounds how old the TCB evaluation may be (collateral_too_old).
 */
import { describe, expect, it } from "vitest";
import { IN_WINDOW, keys, sampleCollateral, tdxDoc, tdxVerdict } from "../../test/fixtures/attestation/helpers";
import { localPolicy, parsePolicy, testImages, type Policy } from "./policy";
import { reportData } from "./report-data";
import { verifyTdxQuote } from "./tdx/verify";
import { b64u } from "./dev";
import { verifyAttestation, type AttestationContext } from "./verify";

/** The sample's TCB info was issued 2025-06-19T10:16:03Z, its QE identity 10:32:27Z; both valid until 2025-07-19. */
const TCB_INFO_ISSUED = Date.parse("2025-06-19T10:16:03Z");
const DAY_S = 86_400;
/** 20 days after the sample's issue: its collateral is still within Intel's nextUpdate. */
const LATE = Date.parse("2025-07-09T10:16:03Z");
const SAMPLE = testImages.find((m) => m.name === "sample-dcap-qvl-tdx")!;

const withMaxAge = (seconds?: number): Policy =>
  parsePolicy({ ...localPolicy, ...(seconds === undefined ? {} : { maxCollateralAgeSeconds: seconds }) });
const ctx = (policy: Policy, now: number, over: Partial<AttestationContext> = {}): AttestationContext => ({
  policy,
  now,
  allowDev: false,
  allowNone: false,
  allowTestImages: true,
  ...over,
});

describe("collateral age (attest39)", () => {
  it("the genuine sample quote with its 20-day-old collateral: refused under a 7-day bound, judged on under a 30-day one and with none", async () => {
    // Prepare: a document of the sample issued just before LATE, carrying the sample's (still unexpired) collateral
    const doc = tdxDoc(keys(), { issuedAt: LATE - 1000, collateral: sampleCollateral() });
    // Act
    const bounded = await verifyAttestation(doc, ctx(withMaxAge(7 * DAY_S), LATE));
    const loose = await verifyAttestation(doc, ctx(withMaxAge(30 * DAY_S), LATE));
    const unbounded = await verifyAttestation(doc, ctx(withMaxAge(), LATE));
    // Assess: past the age check, the sample fails only its key binding (it binds someone else's keys)
    expect(bounded).toMatchObject({ ok: false, code: "collateral_too_old", reason: expect.stringContaining("2025-06-19T10:16:03.000Z") });
    expect(loose).toMatchObject({ ok: false, code: "report_data_mismatch" });
    expect(unbounded).toMatchObject({ ok: false, code: "report_data_mismatch" });
  });

  it("verifyTdxQuote states when the older of the TCB info and QE identity was issued; nothing without collateral", async () => {
    // Act
    const quote = b64u.decode(tdxDoc().quote!);
    const withCollateral = await verifyTdxQuote(quote, { now: IN_WINDOW, collateral: sampleCollateral() });
    const without = await verifyTdxQuote(quote, { now: IN_WINDOW });
    // Assess
    expect(withCollateral).toMatchObject({ genuine: true, status: "UpToDate", collateralIssuedAt: TCB_INFO_ISSUED });
    expect(without.collateralIssuedAt).toBeUndefined();
  });

  it("at its edge: evidence otherwise accepted passes with collateral exactly the bound old, and is refused 1 ms later", async () => {
    // Prepare: a stub verdict binding the document's keys (no real quote can), its collateral issued at TCB_INFO_ISSUED
    const k = keys();
    const doc = tdxDoc(k);
    const rd = Buffer.from(reportData(k.hpkePublicKey, k.signingPublicKey, k.nonce)).toString("hex");
    const registers = { mrtd: SAMPLE.mrtd, rtmr0: SAMPLE.rtmr0!, rtmr1: SAMPLE.rtmr1!, rtmr2: SAMPLE.rtmr2! };
    const verifyTdx = async () => tdxVerdict({ ...registers, reportData: rd }, { collateralIssuedAt: TCB_INFO_ISSUED });
    const maxAge = (IN_WINDOW.getTime() - TCB_INFO_ISSUED) / 1000;
    // Act
    const atBound = await verifyAttestation(doc, ctx(withMaxAge(maxAge), IN_WINDOW.getTime(), { verifyTdx }));
    const past = await verifyAttestation(doc, ctx(withMaxAge(maxAge), IN_WINDOW.getTime() + 1, { verifyTdx }));
    // Assess
    expect(atBound).toMatchObject({ ok: true, tier: "tdx", imageName: SAMPLE.name });
    expect(past).toMatchObject({ ok: false, code: "collateral_too_old" });
  });

  it("the verdict expires when its collateral reaches the bound, if that comes before the evidence's own expiry", async () => {
    // Prepare: the same stub; evidence issued a second before IN_WINDOW expires a day after that (maxEvidenceAgeSeconds)
    const k = keys();
    const doc = tdxDoc(k);
    const rd = Buffer.from(reportData(k.hpkePublicKey, k.signingPublicKey, k.nonce)).toString("hex");
    const registers = { mrtd: SAMPLE.mrtd, rtmr0: SAMPLE.rtmr0!, rtmr1: SAMPLE.rtmr1!, rtmr2: SAMPLE.rtmr2! };
    const verifyTdx = async () => tdxVerdict({ ...registers, reportData: rd }, { collateralIssuedAt: TCB_INFO_ISSUED });
    const evidenceExpiry = doc.issuedAt + localPolicy.maxEvidenceAgeSeconds * 1000;
    // Act
    const tight = await verifyAttestation(doc, ctx(withMaxAge(6 * DAY_S), IN_WINDOW.getTime(), { verifyTdx }));
    const loose = await verifyAttestation(doc, ctx(withMaxAge(30 * DAY_S), IN_WINDOW.getTime(), { verifyTdx }));
    const none = await verifyAttestation(doc, ctx(withMaxAge(), IN_WINDOW.getTime(), { verifyTdx }));
    // Assess: 6 days after 2025-06-19T10:16:03Z is before the evidence's expiry (2025-06-25T23:59:59Z); 30 days is not
    expect(tight).toMatchObject({ ok: true, expiresAt: TCB_INFO_ISSUED + 6 * DAY_S * 1000 });
    expect(TCB_INFO_ISSUED + 6 * DAY_S * 1000).toBeLessThan(evidenceExpiry);
    expect(loose).toMatchObject({ ok: true, expiresAt: evidenceExpiry });
    expect(none).toMatchObject({ ok: true, expiresAt: evidenceExpiry });
  });

  it("the policy refuses a bound that is not a positive whole number of seconds", () => {
    for (const bad of [0, -1, 1.5, "7d"])
      expect(() => parsePolicy({ ...localPolicy, maxCollateralAgeSeconds: bad })).toThrow(/maxCollateralAgeSeconds/);
  });
});
