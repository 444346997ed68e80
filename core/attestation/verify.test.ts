import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ed25519 } from "@noble/curves/ed25519.js";
import type { AttestationDoc } from "../../events/attestation";
import {
  IN_WINDOW,
  SAMPLE_QUOTE,
  keys,
  sampleCollateral,
  tdxDoc,
  tdxVerdict,
  type AttestedKeys,
} from "../../test/fixtures/attestation/helpers";
import { DEV_ATTESTATION_PUBLIC_KEY, DEV_ATTESTATION_SEED, b64u, createDevAttestation, createNoneAttestation } from "./dev";
import { defaultPolicy, loadPolicy, localPolicy, parsePolicy, testImages, type Policy } from "./policy";
import { reportData } from "./report-data";
import type { TdxVerdict } from "./tdx/verify";
import { verifyAttestation, type AttestationContext } from "./verify";

// ---------------------------------------------------------------- factories
/** 2025-06-25, inside the sample collateral's window; tdxDoc's documents are issued a second before */
const NOW = IN_WINDOW.getTime();
/** The tests' context: the local policy (production + the public sample image) with test images allowed. */
function ctx(over: Partial<AttestationContext> = {}): AttestationContext {
  return { policy: localPolicy, now: NOW, allowDev: false, allowNone: false, allowTestImages: true, ...over };
}
const SAMPLE = testImages.find((m) => m.name === "sample-dcap-qvl-tdx")!;
/** A stub TDX verdict for a quote whose report data binds `k` (no real quote can). */
function stubVerdict(k: AttestedKeys, over: Partial<TdxVerdict> = {}, measured: Partial<NonNullable<TdxVerdict["measurements"]>> = {}) {
  const reportDataHex = Buffer.from(reportData(k.hpkePublicKey, k.signingPublicKey, k.nonce)).toString("hex");
  const registers = { mrtd: SAMPLE.mrtd, rtmr0: SAMPLE.rtmr0!, rtmr1: SAMPLE.rtmr1!, rtmr2: SAMPLE.rtmr2! };
  return async (): Promise<TdxVerdict> => tdxVerdict({ ...registers, reportData: reportDataHex, ...measured }, over);
}

describe("reportData", () => {
  it("is SHA-512(hpke || signing || nonce), 64 bytes", () => {
    const k = keys();
    const want = createHash("sha512")
      .update(Buffer.concat([k.hpkePublicKey, k.signingPublicKey, k.nonce]))
      .digest();
    expect(Buffer.from(reportData(k.hpkePublicKey, k.signingPublicKey, k.nonce)).equals(want)).toBe(true);
    expect(reportData(k.hpkePublicKey, k.signingPublicKey, k.nonce)).toHaveLength(64);
  });
  it("refuses keys that are not 32 bytes", () => {
    expect(() => reportData(new Uint8Array(31), new Uint8Array(32), new Uint8Array(0))).toThrow(RangeError);
  });
});

describe("policy", () => {
  it("the repository policy validates; the sample is a TEST image kept out of it, in the local policy only", () => {
    expect(loadPolicy()).toBe(defaultPolicy);
    expect(SAMPLE).toMatchObject({ testOnly: true, mrtd: expect.stringMatching(/^91eb2b44/) });
    expect(defaultPolicy.measurements.some((m) => m.mrtd === SAMPLE.mrtd)).toBe(false);
    expect(localPolicy.measurements).toContainEqual(SAMPLE);
    expect(defaultPolicy.minTcbStatus).toContain("UpToDate");
  });
  it.each([
    [{ ...defaultPolicy, version: 0 }, "version"],
    [{ ...defaultPolicy, minTcbStatus: ["Whatever"] }, "minTcbStatus.0"],
    [{ ...defaultPolicy, measurements: [{ name: "x", mrtd: "ABC" }] }, "measurements.0.mrtd"],
    [{ ...defaultPolicy, models: { m: ["not-hex"] } }, "models.m.0"],
  ])("an invalid policy fails with policy_invalid naming the field (%#)", (p, field) => {
    expect(() => parsePolicy(p)).toThrow(expect.objectContaining({ code: "policy_invalid", message: expect.stringContaining(field) }));
  });
});

describe("issue 9 #4: test images are refused in production; RTMR3 and MRCONFIGID can be pinned", () => {
  const RTMR3 = "ab".repeat(48);
  const CONFIG_ID = "cd".repeat(48);
  const production = (): AttestationContext => ({ policy: defaultPolicy, now: NOW, allowDev: false, allowNone: false });

  it("issue 9 #4: the production policy (coordinator and SDK default) refuses the public sample image", async () => {
    // Prepare: evidence of the public sample image that binds this worker's keys (what anyone
    // booting that image on TDX hardware can produce)
    const k = keys();
    // Act
    const r = await verifyAttestation(tdxDoc(k), { ...production(), expectedNonce: k.nonce, verifyTdx: stubVerdict(k) });
    // Assess
    expect(r).toMatchObject({ ok: false, code: "measurement_not_allowed" });
  });

  it("issue 9 #4: a testOnly entry is refused unless the setting allows test images", async () => {
    // Prepare: an operator policy that lists the sample, marked testOnly
    const k = keys();
    const policy = parsePolicy({ ...defaultPolicy, measurements: [SAMPLE] });
    const base = { ...production(), policy, expectedNonce: k.nonce, verifyTdx: stubVerdict(k) };
    // Act
    const refused = await verifyAttestation(tdxDoc(k), base);
    const allowed = await verifyAttestation(tdxDoc(k), { ...base, allowTestImages: true });
    // Assess
    expect(refused).toMatchObject({ ok: false, code: "test_image_not_allowed", reason: expect.stringContaining("sample-dcap-qvl-tdx") });
    expect(allowed).toMatchObject({ ok: true, tier: "tdx", imageName: "sample-dcap-qvl-tdx" });
  });

  it("issue 9 #4: a non-test entry that matches wins over a test entry for the same image", async () => {
    const k = keys();
    const { testOnly: _t, ...release } = { ...SAMPLE, name: "release-image" };
    const policy = parsePolicy({ ...defaultPolicy, measurements: [SAMPLE, release] });
    const r = await verifyAttestation(tdxDoc(k), { ...production(), policy, verifyTdx: stubVerdict(k) });
    expect(r).toMatchObject({ ok: true, imageName: "release-image" });
  });

  it("issue 9 #4: an entry that pins RTMR3 and MRCONFIGID accepts only evidence with both", async () => {
    // Prepare
    const k = keys();
    const { testOnly: _t, ...image } = SAMPLE;
    const policy = parsePolicy({ ...defaultPolicy, measurements: [{ ...image, name: "pinned", rtmr3: RTMR3, mrconfigid: CONFIG_ID }] });
    const run = (measured: { rtmr3: string; mrConfigId: string }) =>
      verifyAttestation(tdxDoc(k), { ...production(), policy, verifyTdx: stubVerdict(k, {}, measured) });
    // Act
    const both = await run({ rtmr3: RTMR3, mrConfigId: CONFIG_ID });
    const otherRtmr3 = await run({ rtmr3: "00".repeat(48), mrConfigId: CONFIG_ID });
    const otherConfig = await run({ rtmr3: RTMR3, mrConfigId: "00".repeat(48) });
    // Assess
    expect(both).toMatchObject({ ok: true, imageName: "pinned" });
    expect(otherRtmr3).toMatchObject({ ok: false, code: "measurement_not_allowed" });
    expect(otherConfig).toMatchObject({ ok: false, code: "measurement_not_allowed" });
  });

  it("issue 9 #4: a pinned MRCONFIGID must be 48 bytes of hex", () => {
    const { testOnly: _t, ...image } = SAMPLE;
    expect(() => parsePolicy({ ...defaultPolicy, measurements: [{ ...image, mrconfigid: "xyz" }] })).toThrow(
      expect.objectContaining({ code: "policy_invalid", message: expect.stringContaining("measurements.0.mrconfigid") }),
    );
  });
});

describe("dev tier (SIMULATED)", () => {
  it("the dev key is derived from the published sentence", () => {
    const seed = createHash("sha256").update("cocoon dev attestation key - NOT SECRET - simulated TEE").digest();
    expect(Buffer.from(DEV_ATTESTATION_SEED).equals(seed)).toBe(true);
    expect(Buffer.from(ed25519.getPublicKey(seed)).equals(DEV_ATTESTATION_PUBLIC_KEY)).toBe(true);
  });

  it("is rejected by default (dev_not_allowed) and accepted with opt-in", async () => {
    const k = keys();
    const doc = createDevAttestation({ ...k, now: NOW });
    expect(await verifyAttestation(doc, ctx({ expectedNonce: k.nonce }))).toMatchObject({ ok: false, code: "dev_not_allowed" });
    expect(await verifyAttestation(doc, ctx({ expectedNonce: k.nonce, allowDev: true }))).toEqual({
      ok: true,
      tier: "dev",
      measurement: "dev-simulated",
      expiresAt: NOW + defaultPolicy.maxEvidenceAgeSeconds * 1000,
    });
  });

  it("a report bound to other keys fails with report_data_mismatch", async () => {
    const k = keys();
    const doc = createDevAttestation({ ...k, now: NOW });
    const other = { ...doc, hpkePublicKey: b64u.encode(new Uint8Array(randomBytes(32))) };
    expect(await verifyAttestation(other, ctx({ allowDev: true }))).toMatchObject({ ok: false, code: "report_data_mismatch" });
  });

  it("a forged dev report fails with dev_signature_invalid", async () => {
    const k = keys();
    const doc = createDevAttestation({ ...k, now: NOW });
    const report = JSON.parse(Buffer.from(doc.quote!, "base64url").toString());
    report.measurement = "dev-simulated ";
    const forged = { ...doc, quote: Buffer.from(JSON.stringify(report)).toString("base64url") };
    expect(await verifyAttestation(forged, ctx({ allowDev: true }))).toMatchObject({ ok: false, code: "dev_signature_invalid" });
  });

  it("nonce, age and model digests are checked", async () => {
    const k = keys();
    const doc = createDevAttestation({ ...k, now: NOW, modelDigests: { "llama-3": "ab".repeat(32) } });
    const c = ctx({ allowDev: true });
    expect(await verifyAttestation(doc, { ...c, expectedNonce: new Uint8Array(32) })).toMatchObject({ code: "nonce_mismatch" });
    expect(await verifyAttestation(doc, { ...c, now: NOW + 86_401_000 })).toMatchObject({ code: "evidence_expired" });
    expect(await verifyAttestation(doc, { ...c, now: NOW - 3_600_000 })).toMatchObject({ code: "evidence_from_future" });
    const strict: Policy = { ...localPolicy, models: { "llama-3": ["cd".repeat(32)] } };
    expect(await verifyAttestation(doc, { ...c, policy: strict })).toMatchObject({ code: "model_not_allowed" });
    const listed: Policy = { ...localPolicy, models: { "llama-3": ["ab".repeat(32)] } };
    expect(await verifyAttestation(doc, { ...c, policy: listed })).toMatchObject({ ok: true });
  });
});

describe("none tier (not confidential)", () => {
  it("is rejected unless asked for, then labelled 'none'", async () => {
    const doc = createNoneAttestation({ ...keys(), now: NOW });
    expect(doc.quote).toBeUndefined();
    expect(await verifyAttestation(doc, ctx())).toMatchObject({ ok: false, code: "not_confidential_not_allowed" });
    expect(await verifyAttestation(doc, ctx({ allowNone: true }))).toMatchObject({ ok: true, tier: "none", measurement: "none" });
  });
});

describe("tdx tier", () => {
  it("the genuine sample quote passes TCB and allow-list, then fails the key binding (report_data_mismatch)", async () => {
    // The sample's report data binds someone else's keys: exactly what a replayed quote looks like.
    const r = await verifyAttestation(tdxDoc(), ctx({ collateral: sampleCollateral() }));
    expect(r).toMatchObject({ ok: false, code: "report_data_mismatch" });
  });

  it("the doc's own collateral is used when the context has none", async () => {
    const r = await verifyAttestation(tdxDoc(keys(), { collateral: sampleCollateral() }), ctx());
    expect(r).toMatchObject({ ok: false, code: "report_data_mismatch" });
  });

  it("without collateral the TCB status is Unknown and refused", async () => {
    expect(await verifyAttestation(tdxDoc(), ctx())).toMatchObject({ ok: false, code: "tcb_status_not_accepted" });
  });

  it("expired collateral → collateral_expired", async () => {
    const later = Date.parse("2026-01-01T00:00:00Z");
    const doc = tdxDoc(keys(), { issuedAt: later - 1000 });
    expect(await verifyAttestation(doc, ctx({ now: later, collateral: sampleCollateral() }))).toMatchObject({
      ok: false,
      code: "collateral_expired",
    });
  });

  it("a measurement not on the allow-list → measurement_not_allowed", async () => {
    const policy: Policy = { ...localPolicy, measurements: [] };
    expect(await verifyAttestation(tdxDoc(), ctx({ policy, collateral: sampleCollateral() }))).toMatchObject({
      ok: false,
      code: "measurement_not_allowed",
    });
  });

  it("a tampered quote → the verifier's precise code", async () => {
    const q = SAMPLE_QUOTE.slice();
    q[200] = q[200]! ^ 1;
    const r = await verifyAttestation(tdxDoc(keys(), { quote: b64u.encode(q) }), ctx({ collateral: sampleCollateral() }));
    expect(r).toMatchObject({ ok: false, code: "quote_signature_invalid" });
  });

  it("a quote whose report data binds the keys and nonce is accepted (stubbed verdict)", async () => {
    const k = keys();
    const r = await verifyAttestation(tdxDoc(k), ctx({ expectedNonce: k.nonce, verifyTdx: stubVerdict(k) }));
    expect(r).toEqual({
      ok: true,
      tier: "tdx",
      measurement: SAMPLE.mrtd,
      expiresAt: NOW - 1000 + 86_400_000,
      tcbStatus: "UpToDate",
      imageName: "sample-dcap-qvl-tdx",
      registers: { mrtd: SAMPLE.mrtd, rtmr0: SAMPLE.rtmr0, rtmr1: SAMPLE.rtmr1, rtmr2: SAMPLE.rtmr2 }, // what the policy registry names the image by
    });
  });

  it("a TCB status outside the policy → tcb_status_not_accepted", async () => {
    const k = keys();
    const r = await verifyAttestation(tdxDoc(k), ctx({ verifyTdx: stubVerdict(k, { status: "OutOfDate" }) }));
    expect(r).toMatchObject({ ok: false, code: "tcb_status_not_accepted" });
  });

  it("GPU evidence: missing when required → gpu_evidence_missing; pluggable verifiers decide", async () => {
    const k = keys();
    const policy: Policy = { ...localPolicy, requireGpuEvidence: true };
    const base = ctx({ policy, verifyTdx: stubVerdict(k) });
    expect(await verifyAttestation(tdxDoc(k), base)).toMatchObject({ ok: false, code: "gpu_evidence_missing" });
    const withGpu = tdxDoc(k, { gpu: { format: "nvidia-cc-v1", document: b64u.encode(new Uint8Array([1, 2, 3])) } });
    expect(await verifyAttestation(withGpu, base)).toMatchObject({ ok: false, code: "gpu_format_unsupported" });
    const seen: Uint8Array[] = [];
    const gpuVerifiers = {
      "nvidia-cc-v1": async (d: Uint8Array, c: { reportData: Uint8Array }) => {
        seen.push(c.reportData);
        return d[0] === 1 ? ({ ok: true } as const) : ({ ok: false, code: "gpu_evidence_invalid", reason: "bad" } as const);
      },
    };
    expect(await verifyAttestation(withGpu, { ...base, gpuVerifiers })).toMatchObject({ ok: true, tier: "tdx" });
    expect(Buffer.from(seen[0]!).equals(Buffer.from(reportData(k.hpkePublicKey, k.signingPublicKey, k.nonce)))).toBe(true);
    const badGpu = tdxDoc(k, { gpu: { format: "nvidia-cc-v1", document: b64u.encode(new Uint8Array([9])) } });
    expect(await verifyAttestation(badGpu, { ...base, gpuVerifiers })).toMatchObject({ ok: false, code: "gpu_evidence_invalid" });
  });

  it("a tdx doc without a quote → quote_missing; a malformed doc → malformed", async () => {
    const { quote: _q, ...noQuote } = tdxDoc();
    expect(await verifyAttestation(noQuote as AttestationDoc, ctx())).toMatchObject({ code: "quote_missing" });
    expect(await verifyAttestation({ ...tdxDoc(), tier: "sgx" } as unknown as AttestationDoc, ctx())).toMatchObject({ code: "malformed" });
  });

  it("IN_WINDOW is the NOW these tests use", () => {
    expect(IN_WINDOW.getTime()).toBe(NOW);
  });
});
