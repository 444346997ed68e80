/**
 * The edges of the attestation verifier and of its policy: exact boundaries (evidence age,
 * clock skew, quote size), every pinned allow-list field, the policy's regexes, the dev
 * report's own checks, the model digests the verdict carries, and the reasons' wording where
 * it carries data. verify.test.ts covers the main paths; this file pins what it leaves loose.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_QUOTE_CHARS, type AttestationDoc } from "../../events/attestation";
import { IN_WINDOW, keys, sampleCollateral, tdxDoc, tdxVerdict, type AttestedKeys } from "../../test/fixtures/attestation/helpers";
import { sign, signingKeyFromSeed } from "../crypto/keys";
import { DEV_ATTESTATION_SEED, DEV_MEASUREMENT, b64u, createDevAttestation, createNoneAttestation, devSignedMessage } from "./dev";
import {
  PolicyError,
  defaultPolicy,
  findAllowedMeasurement,
  loadPolicy,
  localPolicy,
  matchMeasurement,
  parsePolicy,
  testImages,
  type AllowedMeasurement,
  type Measured,
  type Policy,
} from "./policy";
import { reportData } from "./report-data";
import { MAX_QUOTE_BYTES } from "./tdx/quote";
import { TdxVerifierCache, type TdxVerdict } from "./tdx/verify";
import { sharedTdxCacheSizes, verifyAttestation, type AttestationContext } from "./verify";

// ---------------------------------------------------------------- factories
/** 2025-06-25, inside the sample collateral's window; tdxDoc's documents are issued a second before */
const NOW = IN_WINDOW.getTime();
const FIVE_MINUTES_MS = 5 * 60_000;
/** 48 bytes of lower-case hex made of one repeated digit: easy to tell apart in a failure. */
const hex48 = (digit: string) => digit.repeat(96);
const DIGEST_AB = "ab".repeat(32);
const DIGEST_CD = "cd".repeat(32);
const SAMPLE = testImages.find((m) => m.name === "sample-dcap-qvl-tdx")!;

const rdHex = (k: AttestedKeys) => Buffer.from(reportData(k.hpkePublicKey, k.signingPublicKey, k.nonce)).toString("hex");

/** A policy for verifier tests: the local one (test images listed) under a version no other file uses. */
function policy(over: Partial<Policy> = {}): Policy {
  return { ...localPolicy, version: 7, ...over };
}
function ctx(over: Partial<AttestationContext> = {}): AttestationContext {
  return { policy: policy(), now: NOW, allowDev: true, allowNone: true, allowTestImages: true, ...over };
}
/** An injected TDX verifier (a spy) answering a verdict for the sample image whose report data binds `k`. */
function stubTdx(k: AttestedKeys, over: Partial<TdxVerdict> = {}) {
  const registers = { mrtd: SAMPLE.mrtd, rtmr0: SAMPLE.rtmr0!, rtmr1: SAMPLE.rtmr1!, rtmr2: SAMPLE.rtmr2! };
  return vi.fn(async (): Promise<TdxVerdict> => tdxVerdict({ ...registers, rtmr3: hex48("0"), reportData: rdHex(k) }, over));
}

const DEV_KEY = signingKeyFromSeed(DEV_ATTESTATION_SEED);
/** The report createDevAttestation would write for `k` at NOW, with `over` on top. */
function devReport(k: AttestedKeys, over: Record<string, unknown> = {}) {
  return {
    v: 1,
    kind: "cocoon-dev-attestation",
    warning: "SIMULATED TEE",
    reportData: rdHex(k),
    measurement: DEV_MEASUREMENT,
    issuedAt: NOW,
    ...over,
  };
}
/**
 * A dev doc whose quote is exactly `report` (JSON-encoded unless it is text already), properly
 * signed with the published dev key: what anyone can make, so every check after the signature
 * must hold on its own.
 */
function signedDevDoc(k: AttestedKeys, report: unknown, over: Partial<AttestationDoc> = {}): AttestationDoc {
  const quote = new TextEncoder().encode(typeof report === "string" ? report : JSON.stringify(report));
  return {
    tier: "dev",
    hpkePublicKey: b64u.encode(k.hpkePublicKey),
    signingPublicKey: b64u.encode(k.signingPublicKey),
    nonce: b64u.encode(k.nonce),
    quote: b64u.encode(quote),
    devSignature: b64u.encode(sign(DEV_KEY, devSignedMessage(quote))),
    issuedAt: NOW,
    ...over,
  };
}
const noneDoc = (k: AttestedKeys, issuedAt: number, modelDigests?: Record<string, string>) =>
  createNoneAttestation({ ...k, now: issuedAt, ...(modelDigests ? { modelDigests } : {}) });

// ================================================================ policy.ts
describe("policy: an allow-list entry matches only when the MRTD and every field it pins are equal", () => {
  const MEASURED: Measured = {
    mrtd: hex48("1"),
    rtmr0: hex48("2"),
    rtmr1: hex48("3"),
    rtmr2: hex48("4"),
    rtmr3: hex48("5"),
    mrConfigId: hex48("6"),
  };
  const PINS_ALL: AllowedMeasurement = {
    name: "pins-all",
    mrtd: MEASURED.mrtd,
    rtmr0: MEASURED.rtmr0,
    rtmr1: MEASURED.rtmr1,
    rtmr2: MEASURED.rtmr2,
    rtmr3: MEASURED.rtmr3,
    mrconfigid: MEASURED.mrConfigId,
  };
  const allowing = (...measurements: AllowedMeasurement[]) => parsePolicy({ ...defaultPolicy, version: 7, measurements });
  /** `MEASURED` with one field replaced by a value no entry uses. */
  const differingIn = (field: keyof Measured): Measured => ({ ...MEASURED, [field]: hex48("f") });

  it("an entry pinning every field accepts the evidence that equals it", () => {
    // Act
    const r = matchMeasurement(allowing(PINS_ALL), MEASURED);
    // Assess
    expect(r).toEqual({ ok: true, entry: PINS_ALL });
  });

  it.each(["mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "mrConfigId"] as const)(
    "evidence that differs from a fully pinned entry only in %s is refused",
    (field) => {
      // Prepare: every other field equal, so only this field's own check can refuse it
      const m = differingIn(field);
      // Act
      const r = matchMeasurement(allowing(PINS_ALL), m);
      // Assess
      expect(r).toEqual({
        ok: false,
        code: "measurement_not_allowed",
        reason: `MRTD ${m.mrtd} (with its RTMRs and MRCONFIGID) is not on policy v7's allow-list`,
      });
    },
  );

  /** An entry pinning the MRTD and the first `n` of RTMR0..2. */
  const pinning = (n: number): AllowedMeasurement => ({
    name: "e",
    mrtd: MEASURED.mrtd,
    ...(n > 0 ? { rtmr0: MEASURED.rtmr0 } : {}),
    ...(n > 1 ? { rtmr1: MEASURED.rtmr1 } : {}),
    ...(n > 2 ? { rtmr2: MEASURED.rtmr2 } : {}),
  });
  it.each([
    { pins: "MRTD only", n: 0, field: "rtmr0" },
    { pins: "MRTD only", n: 0, field: "rtmr1" },
    { pins: "MRTD only", n: 0, field: "rtmr2" },
    { pins: "MRTD + RTMR0", n: 1, field: "rtmr1" },
    { pins: "MRTD + RTMR0..1", n: 2, field: "rtmr2" },
    { pins: "MRTD + RTMR0..2", n: 3, field: "rtmr3" },
    { pins: "MRTD + RTMR0..2", n: 3, field: "mrConfigId" },
  ] as const)("an entry pinning $pins does not check $field: any value there matches", ({ n, field }) => {
    // Prepare
    const entry = pinning(n);
    // Act
    const r = matchMeasurement(allowing(entry), differingIn(field));
    // Assess
    expect(r).toEqual({ ok: true, entry });
  });

  it.each([
    ["rtmr0", { name: "e", mrtd: MEASURED.mrtd, rtmr0: MEASURED.rtmr0 }],
    ["rtmr1", { name: "e", mrtd: MEASURED.mrtd, rtmr1: MEASURED.rtmr1 }],
    ["rtmr2", { name: "e", mrtd: MEASURED.mrtd, rtmr2: MEASURED.rtmr2 }],
  ] as const)("an entry pinning MRTD and %s alone refuses evidence with another %s", (field, entry) => {
    // Act
    const wrong = matchMeasurement(allowing(entry), differingIn(field));
    const right = matchMeasurement(allowing(entry), MEASURED);
    // Assess
    expect(wrong).toMatchObject({ ok: false, code: "measurement_not_allowed" });
    expect(right).toEqual({ ok: true, entry });
  });

  it("an entry pinning only the MRTD refuses another MRTD, however the rest is measured", () => {
    // Prepare: the entry pins nothing but the MRTD, so the MRTD check is the only guard
    const entry = { name: "mrtd-only", mrtd: MEASURED.mrtd };
    // Act
    const r = matchMeasurement(allowing(entry), differingIn("mrtd"));
    // Assess
    expect(r).toMatchObject({ ok: false, code: "measurement_not_allowed" });
  });

  it("a testOnly entry is refused when allowTestImages is left out (the default is off)", () => {
    // Prepare
    const testEntry = { ...PINS_ALL, name: "a-test-image", testOnly: true };
    const p = allowing(testEntry);
    // Act
    const defaulted = matchMeasurement(p, MEASURED);
    const found = findAllowedMeasurement(p, MEASURED);
    const allowed = findAllowedMeasurement(p, MEASURED, true);
    // Assess
    expect(defaulted).toMatchObject({ ok: false, code: "test_image_not_allowed", reason: expect.stringContaining('"a-test-image"') });
    expect(found).toBeUndefined();
    expect(allowed).toEqual(testEntry);
  });

  it("findAllowedMeasurement returns the matching entry, and undefined when none matches", () => {
    // Act
    const found = findAllowedMeasurement(allowing(PINS_ALL), MEASURED);
    const missing = findAllowedMeasurement(allowing(PINS_ALL), differingIn("rtmr1"));
    // Assess
    expect(found).toEqual(PINS_ALL);
    expect(missing).toBeUndefined();
  });
});

describe("policy: register values must be exactly 48 bytes of lower-case hex", () => {
  const withMrtd = (mrtd: string) => () => parsePolicy({ ...defaultPolicy, measurements: [{ name: "x", mrtd }] });

  it("exactly 96 lower-case hex digits are accepted", () => {
    expect(withMrtd(hex48("a"))().measurements[0]!.mrtd).toBe(hex48("a"));
  });

  it.each([
    ["a character before the 96 digits", "x" + hex48("a")],
    ["a hex digit before the 96 digits (97)", "0" + hex48("a")],
    ["a character after the 96 digits", hex48("a") + "x"],
    ["a hex digit after the 96 digits (97)", hex48("a") + "0"],
    ["upper case", hex48("A")],
  ])("%s is refused, naming the field and the rule", (_what, mrtd) => {
    expect(withMrtd(mrtd)).toThrow(
      expect.objectContaining({
        code: "policy_invalid",
        message: "attestation policy is invalid at measurements.0.mrtd: must be 48 bytes of lower-case hex",
      }),
    );
  });
});

describe("policy: model digests must be 64 to 128 lower-case hex digits", () => {
  const withDigest = (d: string) => () => parsePolicy({ ...defaultPolicy, models: { m: [d] } });

  it.each([64, 128])("%i hex digits are accepted", (n) => {
    expect(withDigest("a".repeat(n))().models).toEqual({ m: ["a".repeat(n)] });
  });

  it.each([
    ["63 digits", "a".repeat(63)],
    ["129 digits", "a".repeat(129)],
    ["a character before 64 digits", "x" + "a".repeat(64)],
    ["a character after 64 digits", "a".repeat(64) + "x"],
    ["upper case", "A".repeat(64)],
    ["non-hex letters", "g".repeat(64)],
  ])("%s are refused, naming the field and the rule", (_what, d) => {
    expect(withDigest(d)).toThrow(
      expect.objectContaining({
        code: "policy_invalid",
        message: "attestation policy is invalid at models.m.0: must be a lower-case hex digest",
      }),
    );
  });
});

describe("policy: parsePolicy and loadPolicy", () => {
  it("an invalid policy throws a PolicyError by name; a problem at the top level is reported at (root)", () => {
    // Act
    let thrown: unknown;
    try {
      parsePolicy(null);
    } catch (e) {
      thrown = e;
    }
    // Assess: the error is identifiable by name (it crosses process boundaries as JSON)
    expect(thrown).toBeInstanceOf(PolicyError);
    expect(thrown).toMatchObject({
      name: "PolicyError",
      code: "policy_invalid",
      message: expect.stringMatching(/^attestation policy is invalid at \(root\): /),
    });
  });

  it("loadPolicy validates and returns an override instead of the default", () => {
    // Prepare
    const override = { ...defaultPolicy, version: 42 };
    // Act
    const loaded = loadPolicy(override);
    // Assess
    expect(loaded).toEqual(override);
    expect(loaded).not.toBe(defaultPolicy);
    expect(() => loadPolicy({ ...defaultPolicy, version: -1 })).toThrow(PolicyError);
  });

  it("loadPolicy without an override is the repository's policy", () => {
    expect(loadPolicy()).toBe(defaultPolicy);
  });
});

describe("policy: test-images.json may only hold entries marked testOnly", () => {
  afterEach(() => {
    vi.doUnmock("./test-images.json");
    vi.resetModules();
  });

  it("an entry there without testOnly: true makes the module refuse to load", async () => {
    // Prepare: what an edit that forgot the mark would ship (the image would then count in production)
    vi.resetModules();
    vi.doMock("./test-images.json", () => ({ default: { measurements: [{ name: "unmarked", mrtd: hex48("a") }] } }));
    // Act
    const loading = import("./policy");
    // Assess
    await expect(loading).rejects.toThrow();
  });
});

// ================================================================ verify.ts
describe("verify: schema, tier and nonce refusals say why", () => {
  it("a malformed document names the path of the first problem, dotted", async () => {
    // Prepare: a nested field, so the path has two parts
    const k = keys();
    const doc = tdxDoc(k, { gpu: { format: "", document: "" } });
    // Act
    const r = await verifyAttestation(doc, ctx());
    // Assess
    expect(r).toMatchObject({
      ok: false,
      code: "malformed",
      reason: expect.stringMatching(/^attestation document is invalid at gpu\.format: \S/),
    });
  });

  it("dev evidence without opt-in is refused with the opt-in to use", async () => {
    const k = keys();
    const r = await verifyAttestation(createDevAttestation({ ...k, now: NOW }), ctx({ allowDev: false }));
    expect(r).toEqual({
      ok: false,
      code: "dev_not_allowed",
      reason: "this is a SIMULATED (dev) attestation; accept it only with explicit opt-in (allowDev / --allow-dev-attestation)",
    });
  });

  it("tier none without opt-in is refused, saying it is not confidential", async () => {
    const r = await verifyAttestation(noneDoc(keys(), NOW), ctx({ allowNone: false }));
    expect(r).toEqual({
      ok: false,
      code: "not_confidential_not_allowed",
      reason: "this worker runs outside any TEE (tier none); ask for not-confidential workers explicitly to use it",
    });
  });

  it("another nonce than the one issued is refused, asking to re-attest", async () => {
    const r = await verifyAttestation(noneDoc(keys(), NOW), ctx({ expectedNonce: new Uint8Array(32) }));
    expect(r).toEqual({
      ok: false,
      code: "nonce_mismatch",
      reason: "the attestation binds another nonce than the one issued: re-attest with the fresh nonce",
    });
  });
});

describe("verify: evidence age and clock skew boundaries", () => {
  const maxAgeMs = policy().maxEvidenceAgeSeconds * 1000;

  it("evidence exactly maxEvidenceAgeSeconds old is accepted and expires now", async () => {
    // Prepare
    const k = keys();
    // Act
    const r = await verifyAttestation(noneDoc(k, NOW - maxAgeMs), ctx());
    // Assess
    expect(r).toEqual({ ok: true, tier: "none", measurement: "none", expiresAt: NOW });
  });

  it("evidence 1 ms older than that is refused (evidence_expired), naming when it was issued and the limit", async () => {
    // Prepare
    const issuedAt = NOW - maxAgeMs - 1;
    // Act
    const r = await verifyAttestation(noneDoc(keys(), issuedAt), ctx());
    // Assess
    expect(r).toEqual({
      ok: false,
      code: "evidence_expired",
      reason: `evidence issued at ${new Date(issuedAt).toISOString()} is older than ${policy().maxEvidenceAgeSeconds} s: re-attest`,
    });
  });

  it("evidence issued exactly 5 minutes in the future is accepted (tolerated clock skew)", async () => {
    const r = await verifyAttestation(noneDoc(keys(), NOW + FIVE_MINUTES_MS), ctx());
    expect(r).toMatchObject({ ok: true, tier: "none", expiresAt: NOW + FIVE_MINUTES_MS + maxAgeMs });
  });

  it("evidence issued 1 ms further in the future is refused (evidence_from_future), naming when it was issued", async () => {
    // Prepare
    const issuedAt = NOW + FIVE_MINUTES_MS + 1;
    // Act
    const r = await verifyAttestation(noneDoc(keys(), issuedAt), ctx());
    // Assess
    expect(r).toEqual({
      ok: false,
      code: "evidence_from_future",
      reason: `evidence issued at ${new Date(issuedAt).toISOString()} is in the future: check the worker's clock`,
    });
  });
});

describe("verify: the quote must be present and bounded before anything decodes it", () => {
  it.each(["tdx", "dev"] as const)("a %s document without a quote is refused (quote_missing) naming its tier", async (tier) => {
    // Prepare
    const { quote: _q, ...doc } = tdxDoc(keys(), { tier });
    // Act
    const r = await verifyAttestation(doc, ctx());
    // Assess
    expect(r).toEqual({ ok: false, code: "quote_missing", reason: `a ${tier} attestation must carry a quote` });
  });

  it("a quote of the largest length the schema allows (decoding to exactly MAX_QUOTE_BYTES) reaches the TDX verifier", async () => {
    // Prepare: floor(MAX_QUOTE_CHARS * 3 / 4) is exactly MAX_QUOTE_BYTES: the size check must let it through
    const k = keys();
    expect(Math.floor((MAX_QUOTE_CHARS * 3) / 4)).toBe(MAX_QUOTE_BYTES);
    const verifyTdx = stubTdx(k, { genuine: false, code: "quote_malformed", reason: "stub", measurements: undefined });
    // Act
    const r = await verifyAttestation(tdxDoc(k, { quote: "A".repeat(MAX_QUOTE_CHARS) }), ctx({ verifyTdx }));
    // Assess
    expect(verifyTdx).toHaveBeenCalledTimes(1);
    expect((verifyTdx.mock.calls[0] as unknown as [Uint8Array])[0]).toHaveLength(MAX_QUOTE_BYTES);
    expect(r).toMatchObject({ ok: false, code: "quote_malformed" });
  });

  describe("with the schema's own cap on the quote lifted (the verifier's bound must hold by itself)", () => {
    afterEach(() => {
      vi.doUnmock("../../events/attestation");
      vi.resetModules();
    });

    /** verify.ts loaded against the real schema less its length cap on `quote`. */
    async function verifierWithoutSchemaCap() {
      vi.resetModules();
      vi.doMock("../../events/attestation", async (importOriginal) => {
        const orig = await importOriginal<typeof import("../../events/attestation")>();
        const safeParse = (d: AttestationDoc) => {
          const r = orig.AttestationDoc.safeParse({ ...d, quote: d.quote === undefined ? undefined : "" });
          return r.success ? { success: true as const, data: { ...r.data, quote: d.quote } } : r;
        };
        return { ...orig, AttestationDoc: { safeParse } };
      });
      return (await import("./verify")).verifyAttestation;
    }

    it("a quote one character longer (decoding past MAX_QUOTE_BYTES) is refused (quote_too_large) before the TDX verifier runs", async () => {
      // Prepare
      const verify = await verifierWithoutSchemaCap();
      const k = keys();
      const verifyTdx = stubTdx(k);
      const quote = "A".repeat(MAX_QUOTE_CHARS + 1);
      expect(Math.floor((quote.length * 3) / 4)).toBe(MAX_QUOTE_BYTES + 1);
      // Act
      const r = await verify(tdxDoc(k, { quote }), ctx({ verifyTdx }));
      // Assess
      expect(r).toEqual({
        ok: false,
        code: "quote_too_large",
        reason: `the quote is larger than ${MAX_QUOTE_BYTES} bytes; a TDX quote is about 5 KB`,
      });
      expect(verifyTdx).not.toHaveBeenCalled();
    });

    it("the lifted cap alone changes nothing for a quote within the bound", async () => {
      const verify = await verifierWithoutSchemaCap();
      const k = keys();
      expect(await verify(tdxDoc(k), ctx({ verifyTdx: stubTdx(k) }))).toMatchObject({ ok: true, tier: "tdx" });
    });
  });
});

describe("verify: the dev report's own checks (anyone can sign with the published dev key)", () => {
  it("a correctly signed report is accepted with the dev measurement", async () => {
    const k = keys();
    const r = await verifyAttestation(signedDevDoc(k, devReport(k)), ctx({ expectedNonce: k.nonce }));
    expect(r).toEqual({ ok: true, tier: "dev", measurement: DEV_MEASUREMENT, expiresAt: NOW + policy().maxEvidenceAgeSeconds * 1000 });
  });

  it("a report without a dev signature is refused (dev_signature_invalid)", async () => {
    // Prepare
    const k = keys();
    const { devSignature: _s, ...unsigned } = signedDevDoc(k, devReport(k));
    // Act
    const r = await verifyAttestation(unsigned, ctx());
    // Assess
    expect(r).toEqual({
      ok: false,
      code: "dev_signature_invalid",
      reason: "the dev report is not signed by the (published) dev attestation key",
    });
  });

  it("a signed report that is not JSON is refused as malformed", async () => {
    const k = keys();
    const r = await verifyAttestation(signedDevDoc(k, "this is not { JSON"), ctx());
    expect(r).toEqual({ ok: false, code: "malformed", reason: "the dev report is not JSON" });
  });

  it.each([
    ["another measurement", { measurement: "tdx-real" }, {}],
    ["another issuedAt than the document's", { issuedAt: NOW - 1 }, {}],
    ["an issuedAt the document does not state", {}, { issuedAt: NOW - 1 }],
  ])("a signed report with %s is refused as malformed", async (_what, reportOver, docOver) => {
    // Prepare: everything else (signature, report data) is right, so only this check can refuse it
    const k = keys();
    const doc = signedDevDoc(k, devReport(k, reportOver), docOver);
    // Act
    const r = await verifyAttestation(doc, ctx());
    // Assess
    expect(r).toEqual({ ok: false, code: "malformed", reason: "the dev report's measurement/issuedAt do not match the document" });
  });

  it("a report whose report data binds other keys is refused, saying what it must be", async () => {
    const k = keys();
    const r = await verifyAttestation(signedDevDoc(k, devReport(keys())), ctx());
    expect(r).toEqual({
      ok: false,
      code: "report_data_mismatch",
      reason: "report data is not SHA-512(hpkePublicKey || signingPublicKey || nonce)",
    });
  });

  it("a signed report that is JSON null → malformed (session 16: it threw a TypeError)", async () => {
    // `JSON.parse("null")` succeeds, then `report.measurement` threw: anyone holding the
    // published dev key made a verifier (e.g. the coordinator's registration) throw instead of answer.
    const k = keys();
    await expect(verifyAttestation(signedDevDoc(k, "null"), ctx())).resolves.toMatchObject({ ok: false, code: "malformed" });
  });

  describe("when the signature check itself throws", () => {
    afterEach(() => {
      vi.doUnmock("../crypto/keys");
      vi.resetModules();
    });

    it("the report is refused (fails closed), not accepted", async () => {
      // Prepare: verify.ts loaded with a signature check that throws
      vi.resetModules();
      vi.doMock("../crypto/keys", async (importOriginal) => ({
        ...(await importOriginal<typeof import("../crypto/keys")>()),
        verifySignature: () => {
          throw new Error("boom");
        },
      }));
      const { verifyAttestation: verify } = await import("./verify");
      const k = keys();
      // Act
      const r = await verify(signedDevDoc(k, devReport(k)), ctx());
      // Assess
      expect(r).toMatchObject({ ok: false, code: "dev_signature_invalid" });
    });
  });
});

describe("verify: model digests (checked against the policy, carried lower-cased in the verdict)", () => {
  const strict = (digests: string[] = [DIGEST_CD]) => policy({ models: { "llama-3": digests } });

  it("dev: the report's digests are checked, not the document's (unsigned) ones", async () => {
    // Prepare: the report names an allowed digest, the unsigned doc field a refused one
    const k = keys();
    const doc = signedDevDoc(k, devReport(k, { modelDigests: { "llama-3": DIGEST_CD } }), { modelDigests: { "llama-3": DIGEST_AB } });
    // Act
    const r = await verifyAttestation(doc, ctx({ policy: strict() }));
    // Assess
    expect(r).toMatchObject({ ok: true, tier: "dev", modelDigests: { "llama-3": DIGEST_CD } });
  });

  it("dev: a report naming no digests falls back to the document's, which are then checked", async () => {
    // Prepare
    const k = keys();
    const doc = signedDevDoc(k, devReport(k), { modelDigests: { "llama-3": DIGEST_AB } });
    // Act
    const r = await verifyAttestation(doc, ctx({ policy: strict() }));
    // Assess
    expect(r).toEqual({
      ok: false,
      code: "model_not_allowed",
      reason: `model llama-3 digest ${DIGEST_AB} is not in policy v7's allow-list`,
    });
  });

  it("dev: upper-case digests match the policy and are carried lower-cased", async () => {
    // Prepare
    const k = keys();
    const report = devReport(k, { modelDigests: { "llama-3": DIGEST_CD.toUpperCase() } });
    // Act
    const r = await verifyAttestation(signedDevDoc(k, report), ctx({ policy: strict() }));
    // Assess
    expect(r).toEqual({
      ok: true,
      tier: "dev",
      measurement: DEV_MEASUREMENT,
      expiresAt: NOW + policy().maxEvidenceAgeSeconds * 1000,
      modelDigests: { "llama-3": DIGEST_CD },
    });
  });

  // Session 16: the report's digests were not schema-checked; a non-string digest for a listed
  // model made checkModels throw (digest.toLowerCase). The report is now parsed like any input.
  it.each([
    ["not an object", "abc"],
    ["a non-string digest of an unlisted model", { other: 5 }],
    ["a non-string digest of a listed model", { "llama-3": 5 }],
  ])("dev: report digests that are %s → malformed, not thrown on", async (_what, modelDigests) => {
    const k = keys();
    const doc = signedDevDoc(k, devReport(k, { modelDigests }));
    await expect(verifyAttestation(doc, ctx({ policy: strict() }))).resolves.toEqual({
      ok: false,
      code: "malformed",
      reason: "the dev report is not an object with string model digests",
    });
  });

  it("none: a digest not on the policy's list is refused (model_not_allowed) with the model, digest and policy version", async () => {
    const r = await verifyAttestation(noneDoc(keys(), NOW, { "llama-3": DIGEST_AB }), ctx({ policy: strict() }));
    expect(r).toEqual({
      ok: false,
      code: "model_not_allowed",
      reason: `model llama-3 digest ${DIGEST_AB} is not in policy v7's allow-list`,
    });
  });

  it("none: an allowed digest is accepted and carried lower-cased", async () => {
    const r = await verifyAttestation(noneDoc(keys(), NOW, { "llama-3": DIGEST_CD.toUpperCase() }), ctx({ policy: strict() }));
    expect(r).toMatchObject({ ok: true, tier: "none", modelDigests: { "llama-3": DIGEST_CD } });
  });

  it("tdx: a digest not on the policy's list is refused; the reason quotes the digest as sent", async () => {
    // Prepare
    const k = keys();
    const sent = DIGEST_AB.toUpperCase();
    // Act
    const r = await verifyAttestation(tdxDoc(k, { modelDigests: { "llama-3": sent } }), ctx({ policy: strict(), verifyTdx: stubTdx(k) }));
    // Assess
    expect(r).toEqual({ ok: false, code: "model_not_allowed", reason: `model llama-3 digest ${sent} is not in policy v7's allow-list` });
  });

  it("tdx: an allowed digest is accepted and carried lower-cased next to the registers", async () => {
    const k = keys();
    const doc = tdxDoc(k, { modelDigests: { "llama-3": DIGEST_CD.toUpperCase() } });
    const r = await verifyAttestation(doc, ctx({ policy: strict(), verifyTdx: stubTdx(k) }));
    expect(r).toMatchObject({ ok: true, tier: "tdx", modelDigests: { "llama-3": DIGEST_CD } });
  });

  it("a model named like an Object.prototype member ('constructor') is simply not digest-checked (session 16: it threw)", async () => {
    // policy.models is a plain object: policy.models["constructor"] is Object, and
    // Object.includes is not a function. ModelName allows the name; any worker can send it.
    const k = keys();
    const doc = tdxDoc(k, { modelDigests: { constructor: DIGEST_AB } });
    await expect(verifyAttestation(doc, ctx({ verifyTdx: stubTdx(k) }))).resolves.toMatchObject({
      ok: true,
      modelDigests: { constructor: DIGEST_AB },
    });
  });
});

describe("verify: the TDX verdict", () => {
  it("a verdict that is not genuine is refused with its code, even when it carries measurements", async () => {
    // Prepare: measurements that would pass every later check
    const k = keys();
    const verifyTdx = stubTdx(k, { genuine: false, code: "quote_signature_invalid", reason: "the QE signature does not verify" });
    // Act
    const r = await verifyAttestation(tdxDoc(k), ctx({ verifyTdx }));
    // Assess
    expect(r).toEqual({ ok: false, code: "quote_signature_invalid", reason: "TDX quote refused: the QE signature does not verify" });
  });

  it("a genuine verdict without measurements is refused with its code", async () => {
    const k = keys();
    const r = await verifyAttestation(tdxDoc(k), ctx({ verifyTdx: stubTdx(k, { code: "odd", reason: "none", measurements: undefined }) }));
    expect(r).toEqual({ ok: false, code: "odd", reason: "TDX quote refused: none" });
  });

  it("a TCB status outside the policy is refused, naming the status, the policy version and the accepted statuses", async () => {
    const k = keys();
    const r = await verifyAttestation(tdxDoc(k), ctx({ verifyTdx: stubTdx(k, { status: "OutOfDate" }) }));
    expect(r).toEqual({
      ok: false,
      code: "tcb_status_not_accepted",
      reason: "TCB status OutOfDate is not accepted by policy v7 (UpToDate, SWHardeningNeeded)",
    });
  });

  it("status Unknown (no collateral) is refused with the advice to attach Intel PCS collateral", async () => {
    const k = keys();
    const r = await verifyAttestation(tdxDoc(k), ctx({ verifyTdx: stubTdx(k, { status: "Unknown" }) }));
    expect(r).toEqual({
      ok: false,
      code: "tcb_status_not_accepted",
      reason: "TCB status Unknown is not accepted by policy v7 (UpToDate, SWHardeningNeeded): attach Intel PCS collateral",
    });
  });

  it("collateral not valid yet is refused as collateral_not_yet_valid with the verifier's reason, not as an Unknown status (session 41)", async () => {
    const k = keys();
    const reason = "TCB info is valid from 2027-01-01T00:00:00.000Z, after 2026-12-07T00:00:00.000Z: check the clock";
    const r = await verifyAttestation(
      tdxDoc(k),
      ctx({ verifyTdx: stubTdx(k, { status: "Unknown", code: "collateral_not_yet_valid", reason }) }),
    );
    expect(r).toEqual({ ok: false, code: "collateral_not_yet_valid", reason });
  });

  it("a quote whose report data binds other keys is refused, saying the keys are not bound to the TD", async () => {
    const k = keys();
    const r = await verifyAttestation(tdxDoc(k), ctx({ verifyTdx: stubTdx(keys()) }));
    expect(r).toEqual({
      ok: false,
      code: "report_data_mismatch",
      reason: "the quote's report data is not SHA-512(hpkePublicKey || signingPublicKey || nonce): the keys are not bound to this TD",
    });
  });
});

describe("verify: GPU evidence", () => {
  const gpu = { format: "vendor-x-v1", document: b64u.encode(new Uint8Array([1])) };

  it("GPU evidence in a format nobody verifies is ignored when the policy does not require GPU evidence", async () => {
    const k = keys();
    const r = await verifyAttestation(tdxDoc(k, { gpu }), ctx({ verifyTdx: stubTdx(k), gpuVerifiers: {} }));
    expect(r).toMatchObject({ ok: true, tier: "tdx" });
  });

  it("when required, GPU evidence in an unverifiable format is refused, naming the format", async () => {
    const k = keys();
    const r = await verifyAttestation(
      tdxDoc(k, { gpu }),
      ctx({ policy: policy({ requireGpuEvidence: true }), verifyTdx: stubTdx(k), gpuVerifiers: {} }),
    );
    expect(r).toEqual({
      ok: false,
      code: "gpu_format_unsupported",
      reason: "no verifier is registered for GPU evidence format vendor-x-v1",
    });
  });

  it("when required, missing GPU evidence is refused, naming the policy version", async () => {
    const k = keys();
    const r = await verifyAttestation(tdxDoc(k), ctx({ policy: policy({ requireGpuEvidence: true }), verifyTdx: stubTdx(k) }));
    expect(r).toEqual({
      ok: false,
      code: "gpu_evidence_missing",
      reason: "policy v7 requires GPU evidence (e.g. NVIDIA CC) next to the TDX quote",
    });
  });
});

describe("verify: the TDX verifier cache (real verification of the public sample quote)", () => {
  it("a cache given in the context is the one filled; the process-wide one is left alone", async () => {
    // Prepare
    const mine = new TdxVerifierCache();
    const sharedBefore = sharedTdxCacheSizes();
    // Act: the sample verifies, then fails the key binding (it binds someone else's keys)
    const r = await verifyAttestation(tdxDoc(keys()), ctx({ collateral: sampleCollateral(), tdxCache: mine }));
    // Assess
    expect(r).toMatchObject({ ok: false, code: "report_data_mismatch" });
    expect(mine.sizes().chains).toBeGreaterThan(0);
    expect(sharedTdxCacheSizes()).toEqual(sharedBefore);
  });

  it("without a cache in the context the process-wide one is used, and sharedTdxCacheSizes reports it", async () => {
    // Prepare
    const before = sharedTdxCacheSizes();
    // Act
    const r = await verifyAttestation(tdxDoc(keys()), ctx({ collateral: sampleCollateral() }));
    // Assess
    expect(r).toMatchObject({ ok: false, code: "report_data_mismatch" });
    const after = sharedTdxCacheSizes();
    expect(before).toMatchObject({ chains: 0, collateral: 0 });
    expect(after.chains).toBeGreaterThan(0);
    expect(after.collateral).toBeGreaterThan(0);
  });
});
