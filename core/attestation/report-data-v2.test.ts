/**
 * Report data v2 (session 32, the Session 31 crypto review's open item): the quote's REPORTDATA
 * binds, besides the two keys and the nonce, the document's issuedAt and model digests under a
 * domain tag. Before it a tdx document's digests and issuedAt were outside the quote, so the
 * coordinator relaying a worker's evidence to the SDK could change which model it claims to serve.
 *
 * The tdx cases use quotes genuinely signed by the stand-in TDX platform of
 * test/fixtures/attestation/test-pki.ts (the real Intel sample's report data is fixed): its root
 * is trusted only through `rootCaPem`, every signature, chain and collateral check runs for real.
 */
import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { AttestationDoc } from "../../events/attestation";
import { keys, thrownBy, type AttestedKeys } from "../../test/fixtures/attestation/helpers";
import { makeTestPlatform, TEST_NOW, type TestPlatform } from "../../test/fixtures/attestation/test-pki";
import { b64u, createDevAttestation, devSignedMessage, DEV_ATTESTATION_SEED, DEV_MEASUREMENT } from "./dev";
import { sign, signingKeyFromSeed } from "../crypto/keys";
import { localPolicy, testImages, type Policy } from "./policy";
import { REPORT_DATA_V2_TAG, ReportDataError, reportData, reportDataV2, reportDataV2Preimage, type ReportDataV2Input } from "./report-data";
import { TdxVerifierCache, verifyTdxQuote } from "./tdx/verify";
import { verifyAttestation, type AttestationContext } from "./verify";

// ---------------------------------------------------------------- factories
const NOW = TEST_NOW.getTime();
const ISSUED = NOW - 1000;
const DIGEST_AB = "ab".repeat(32);
const DIGEST_CD = "cd".repeat(32);
const SAMPLE = testImages.find((m) => m.name === "sample-dcap-qvl-tdx")!;

const input = (k: AttestedKeys = keys(), over: Partial<ReportDataV2Input> = {}): ReportDataV2Input => ({
  ...k,
  issuedAt: ISSUED,
  modelDigests: { "llama-3": DIGEST_AB, qwen: DIGEST_CD },
  ...over,
});
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** A quote of the sample image from the stand-in platform whose REPORTDATA is `rd`: genuinely signed under its own test root. */
const quoting = (rd: Uint8Array) => makeTestPlatform({ reportData: rd });

/** The tdx document a worker would send for `i`, its quote from `p`, stating `version` when given. */
function tdxDoc(p: TestPlatform, i: ReportDataV2Input, version?: number): AttestationDoc {
  return {
    tier: "tdx",
    hpkePublicKey: b64u.encode(i.hpkePublicKey),
    signingPublicKey: b64u.encode(i.signingPublicKey),
    nonce: b64u.encode(i.nonce),
    quote: b64u.encode(p.quote),
    ...(i.modelDigests ? { modelDigests: i.modelDigests } : {}),
    ...(version !== undefined ? { reportDataVersion: version } : {}),
    issuedAt: i.issuedAt,
  };
}

/** A verifier trusting the stand-in platform's root (and nothing else different from production), with a spy on the TDX check. */
function ctxFor(p: TestPlatform, over: Partial<AttestationContext> = {}) {
  const verifyTdx = vi.fn((q: Uint8Array, o: Parameters<typeof verifyTdxQuote>[1]) => verifyTdxQuote(q, { ...o, rootCaPem: p.rootPem }));
  const ctx: AttestationContext = {
    policy: localPolicy,
    now: NOW,
    allowDev: true,
    allowNone: false,
    allowTestImages: true,
    collateral: p.collateral,
    tdxCache: new TdxVerifierCache(),
    verifyTdx,
    ...over,
  };
  return { ctx, verifyTdx };
}
const requiringV2 = (over: Partial<Policy> = {}): Policy => ({ ...localPolicy, requireReportDataV2: true, ...over });

/** Reads a v2 preimage back: if every preimage parses back to its input, two inputs never share one (the encoding is injective). */
function decodePreimage(b: Uint8Array): ReportDataV2Input {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let at = 0;
  const take = (n: number) => {
    if (at + n > b.length) throw new Error("truncated");
    const out = b.slice(at, at + n);
    at += n;
    return out;
  };
  const u32 = () => dv.getUint32((at += 4) - 4, false);
  const str = () => new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(take(u32()));
  expect(hex(take(REPORT_DATA_V2_TAG.length))).toBe(hex(REPORT_DATA_V2_TAG));
  const hpkePublicKey = take(32);
  const signingPublicKey = take(32);
  const nonce = take(u32());
  const issuedAt = Number(dv.getBigUint64((at += 8) - 8, false));
  const modelDigests: Record<string, string> = {};
  for (let n = u32(); n > 0; n--) {
    const name = str();
    modelDigests[name] = str();
  }
  expect(at).toBe(b.length); // nothing left over
  return { hpkePublicKey, signingPublicKey, nonce, issuedAt, modelDigests };
}

// ================================================================ the encoding
describe("report data v2: the encoding", () => {
  it("known answer: SHA-512(tag || hpke || signing || u32 len nonce || nonce || u64 issuedAt || u32 N || sorted (u32 len name || name || u32 len digest || digest))", () => {
    // Prepare: the vector was computed independently (Python hashlib/struct, names sorted by their UTF-8 bytes)
    const i: ReportDataV2Input = {
      hpkePublicKey: new Uint8Array(32).fill(1),
      signingPublicKey: new Uint8Array(32).fill(2),
      nonce: new Uint8Array(32).fill(3),
      issuedAt: 1_750_000_000_000,
      modelDigests: { "llama-3": DIGEST_AB, é: "00", Qwen: "CD".repeat(32) },
    };
    // Act
    const rd = reportDataV2(i);
    // Assess: a deployed image and every verifier must agree on these bytes; a change is a v3
    expect(hex(rd)).toBe(
      "478b5628a0072579a7d3cc3d96cc78adbdcc0a3d3a3c5e3376bdc848b9bf0ddd082691c12605215ae9a2c3f29494241c17554814e278d760861bb801dc8646e9",
    );
    expect(new TextDecoder().decode(REPORT_DATA_V2_TAG)).toBe("cocoon/tdx-report-data/v2\u0000");
    expect(hex(rd)).toBe(createHash("sha512").update(reportDataV2Preimage(i)).digest("hex"));
  });

  it("is unambiguous: every preimage reads back to exactly its input (odd names, empty strings, empty and long nonces)", () => {
    const cases: ReportDataV2Input[] = [
      input(),
      input(keys(), { nonce: new Uint8Array(0), modelDigests: {} }),
      input(keys(), { nonce: new Uint8Array(300).fill(7), issuedAt: 0 }),
      input(keys(), {
        issuedAt: Number.MAX_SAFE_INTEGER,
        modelDigests: { "": "", a: "bc", ab: "c", "\u0000": "\u0000\u0000\u0000\u0001" },
      }),
      input(keys(), { modelDigests: { "\uFEFFbom": "x", bom: "x", "𝔘nicode": "ü", "\uFFFD": "y" } }),
    ];
    for (const c of cases) {
      const back = decodePreimage(reportDataV2Preimage(c));
      expect({
        ...back,
        hpkePublicKey: hex(back.hpkePublicKey),
        signingPublicKey: hex(back.signingPublicKey),
        nonce: hex(back.nonce),
      }).toEqual({
        ...c,
        hpkePublicKey: hex(c.hpkePublicKey),
        signingPublicKey: hex(c.signingPublicKey),
        nonce: hex(c.nonce),
      });
    }
  });

  it("does not depend on the order the document lists its models in", () => {
    const k = keys();
    const a = reportDataV2(input(k, { modelDigests: { b: "2", a: "1", é: "3", Z: "4" } }));
    const b = reportDataV2(input(k, { modelDigests: { Z: "4", é: "3", a: "1", b: "2" } }));
    expect(hex(a)).toBe(hex(b));
  });

  it.each<[string, Partial<ReportDataV2Input>]>([
    ["issuedAt 1 ms earlier", { issuedAt: ISSUED - 1 }],
    ["another digest", { modelDigests: { "llama-3": DIGEST_CD, qwen: DIGEST_CD } }],
    ["a digest changed only in case", { modelDigests: { "llama-3": DIGEST_AB.toUpperCase(), qwen: DIGEST_CD } }],
    ["a model renamed", { modelDigests: { "llama-3.1": DIGEST_AB, qwen: DIGEST_CD } }],
    ["a model added", { modelDigests: { "llama-3": DIGEST_AB, qwen: DIGEST_CD, extra: DIGEST_AB } }],
    ["a model dropped", { modelDigests: { "llama-3": DIGEST_AB } }],
    ["bytes moved from a name into its digest", { modelDigests: { "llama-": "3" + DIGEST_AB, qwen: DIGEST_CD } }],
    ["another nonce", { nonce: new Uint8Array(32) }],
  ])("every bound field changes it: %s", (_what, over) => {
    const k = keys();
    expect(hex(reportDataV2(input(k, over)))).not.toBe(hex(reportDataV2(input(k))));
  });

  it("absent and empty model digests bind alike (the verifier's verdict treats them alike)", () => {
    const k = keys();
    const { modelDigests: _m, ...none } = input(k);
    expect(hex(reportDataV2(none))).toBe(hex(reportDataV2(input(k, { modelDigests: {} }))));
  });

  it("is domain-separated from v1: another hash of the same keys and nonce, and its preimage starts with the tag", () => {
    const k = keys();
    expect(hex(reportDataV2(input(k)))).not.toBe(hex(reportData(k.hpkePublicKey, k.signingPublicKey, k.nonce)));
    expect(hex(reportDataV2Preimage(input(k)).subarray(0, 26))).toBe(hex(REPORT_DATA_V2_TAG));
  });

  it.each<[string, Partial<ReportDataV2Input>, string]>([
    [
      "a lone high surrogate in a name (UTF-8 would make it U+FFFD, like any other)",
      { modelDigests: { "m\uD800": "x" } },
      "reportData: a model name is not well-formed UTF-16 (a lone surrogate)",
    ],
    [
      "a lone low surrogate in a digest",
      { modelDigests: { m: "\uDC00" } },
      'reportData: the digest of model "m" is not well-formed UTF-16 (a lone surrogate)',
    ],
    ["a negative issuedAt", { issuedAt: -1 }, "reportData: issuedAt must be a non-negative safe integer (ms since epoch), got -1"],
    ["a fractional issuedAt", { issuedAt: 1.5 }, "got 1.5"],
    ["an issuedAt past 2^53", { issuedAt: 2 ** 60 }, `got ${2 ** 60}`],
    ["a 31-byte HPKE key", { hpkePublicKey: new Uint8Array(31) }, "reportData: hpkePublicKey and signingPublicKey must be 32 bytes each"],
    ["a 33-byte signing key", { signingPublicKey: new Uint8Array(33) }, "must be 32 bytes each"],
  ])("refuses what it cannot encode unambiguously (ReportDataError, a RangeError): %s", (_what, over, message) => {
    const e = thrownBy(ReportDataError, () => reportDataV2(input(keys(), over)));
    expect(e).toBeInstanceOf(RangeError);
    expect(e).toMatchObject({ name: "ReportDataError", code: "report_data_input_invalid", message: expect.stringContaining(message) });
  });
});

// ================================================================ tdx, genuinely signed quotes
describe("report data v2: tdx evidence from the stand-in platform", () => {
  const k = keys();
  const honest = input(k, { modelDigests: { "llama-3": DIGEST_AB.toUpperCase(), qwen: DIGEST_CD } });
  let v2: TestPlatform;
  let v1: TestPlatform;
  beforeAll(async () => {
    [v2, v1] = await Promise.all([quoting(reportDataV2(honest)), quoting(reportData(k.hpkePublicKey, k.signingPublicKey, k.nonce))]);
  });

  it("a v2 document as quoted is accepted, its digests carried (lower-cased) in the verdict", async () => {
    // Act
    const { ctx, verifyTdx } = ctxFor(v2);
    const r = await verifyAttestation(tdxDoc(v2, honest, 2), { ...ctx, expectedNonce: k.nonce });
    // Assess
    expect(r).toMatchObject({
      ok: true,
      tier: "tdx",
      measurement: SAMPLE.mrtd,
      imageName: "sample-dcap-qvl-tdx",
      tcbStatus: "UpToDate",
      modelDigests: { "llama-3": DIGEST_AB, qwen: DIGEST_CD },
    });
    expect(verifyTdx).toHaveBeenCalledTimes(1);
  });

  it.each<[string, (d: AttestationDoc) => AttestationDoc]>([
    ["a digest swapped for another", (d) => ({ ...d, modelDigests: { ...d.modelDigests, "llama-3": DIGEST_CD } })],
    ["a model added", (d) => ({ ...d, modelDigests: { ...d.modelDigests, "mixtral-8x7b": DIGEST_AB } })],
    ["a model dropped", (d) => ({ ...d, modelDigests: { qwen: DIGEST_CD } })],
    ["every digest removed", ({ modelDigests: _m, ...d }) => d],
    ["a model renamed", (d) => ({ ...d, modelDigests: { "llama-3.1": DIGEST_AB, qwen: DIGEST_CD } })],
    ["issuedAt moved 1 ms (still inside the age limit)", (d) => ({ ...d, issuedAt: d.issuedAt - 1 })],
    [
      "issuedAt moved 4 minutes later (evidence kept alive longer; inside the clock skew tolerated)",
      (d) => ({ ...d, issuedAt: d.issuedAt + 240_000 }),
    ],
  ])("a v2 document changed after quoting is refused (report_data_mismatch): %s", async (_what, edit) => {
    // Prepare
    const { ctx } = ctxFor(v2);
    // Act
    const r = await verifyAttestation(edit(tdxDoc(v2, honest, 2)), ctx);
    // Assess
    expect(r).toEqual({
      ok: false,
      code: "report_data_mismatch",
      reason:
        "the quote's report data is not report data v2 of this document (tag, both keys, nonce, issuedAt, model digests): the keys are not bound to this TD, or the document was changed after quoting",
    });
  });

  it.each([
    ["reportDataVersion removed", undefined],
    ["reportDataVersion set to 1", 1],
  ])("a v2 quote relabelled as v1 (%s) cannot escape the binding: report_data_mismatch", async (_what, version) => {
    // Prepare: a relay that drops the version and swaps a digest, hoping for the v1 check
    const { ctx } = ctxFor(v2);
    const doc = { ...tdxDoc(v2, honest, version), modelDigests: { "llama-3": DIGEST_CD } };
    // Act
    const r = await verifyAttestation(doc, ctx);
    // Assess
    expect(r).toMatchObject({ ok: false, code: "report_data_mismatch", reason: expect.stringContaining("SHA-512(hpkePublicKey") });
  });

  it("a v1 document is still accepted while the policy does not require v2 (images from before v2)", async () => {
    const { ctx } = ctxFor(v1);
    const r = await verifyAttestation(tdxDoc(v1, honest), ctx);
    expect(r).toMatchObject({ ok: true, tier: "tdx", modelDigests: { "llama-3": DIGEST_AB, qwen: DIGEST_CD } });
  });

  it("requireReportDataV2 refuses v1 evidence (report_data_v1_not_allowed) before the quote is verified, and accepts v2", async () => {
    // Prepare
    const { ctx, verifyTdx } = ctxFor(v1, { policy: requiringV2({ version: 9 }) });
    const { ctx: ctx2 } = ctxFor(v2, { policy: requiringV2() });
    // Act
    const old = await verifyAttestation(tdxDoc(v1, honest), ctx);
    const explicitOld = await verifyAttestation(tdxDoc(v1, honest, 1), ctx);
    const current = await verifyAttestation(tdxDoc(v2, honest, 2), ctx2);
    // Assess
    const refusal = {
      ok: false,
      code: "report_data_v1_not_allowed",
      reason:
        "policy v9 requires report data v2 (binding issuedAt and the model digests); this evidence uses v1: run an image that sends reportDataVersion 2",
    };
    expect(old).toEqual(refusal);
    expect(explicitOld).toEqual(refusal);
    expect(verifyTdx).not.toHaveBeenCalled();
    expect(current).toMatchObject({ ok: true, tier: "tdx" });
  });

  it.each([0, 3, 255])(
    "report data version %i is refused (report_data_version_unsupported) before the quote is verified",
    async (version) => {
      const { ctx, verifyTdx } = ctxFor(v2);
      const r = await verifyAttestation(tdxDoc(v2, honest, version), ctx);
      expect(r).toEqual(
        version === 0
          ? expect.objectContaining({ ok: false, code: "malformed" })
          : {
              ok: false,
              code: "report_data_version_unsupported",
              reason: `report data version ${version} is not one this verifier knows (1, 2): update the SDK / coordinator`,
            },
      );
      expect(verifyTdx).not.toHaveBeenCalled();
    },
  );

  it("a v2 document naming a model with a lone surrogate is refused as malformed, not thrown on", async () => {
    const { ctx } = ctxFor(v2);
    const doc = { ...tdxDoc(v2, honest, 2), modelDigests: { "llama\uD800": DIGEST_AB } };
    await expect(verifyAttestation(doc, ctx)).resolves.toMatchObject({
      ok: false,
      code: "malformed",
      reason: expect.stringContaining("not well-formed UTF-16"),
    });
  });

  it("GPU verifiers are handed the v2 report data (what the quote binds)", async () => {
    // Prepare
    const seen: Uint8Array[] = [];
    const gpuVerifiers = {
      "nvidia-cc-v1": async (_d: Uint8Array, c: { reportData: Uint8Array }) => (seen.push(c.reportData), { ok: true } as const),
    };
    const { ctx } = ctxFor(v2, { gpuVerifiers });
    const doc = { ...tdxDoc(v2, honest, 2), gpu: { format: "nvidia-cc-v1", document: b64u.encode(new Uint8Array([1])) } };
    // Act
    const r = await verifyAttestation(doc, ctx);
    // Assess
    expect(r).toMatchObject({ ok: true });
    expect(seen.map(hex)).toEqual([hex(reportDataV2(honest))]);
  });
});

// ================================================================ dev: the same binding, simulated
describe("report data v2: dev evidence binds the same way (it exercises the tdx checks)", () => {
  const ctx = (over: Partial<AttestationContext> = {}): AttestationContext => ({
    policy: localPolicy,
    now: NOW,
    allowDev: true,
    allowNone: false,
    ...over,
  });
  const report = (d: AttestationDoc) => JSON.parse(Buffer.from(d.quote!, "base64url").toString()) as Record<string, unknown>;

  it("createDevAttestation writes v2 by default: the report's reportData is reportDataV2 of the document", async () => {
    // Prepare
    const k = keys();
    // Act
    const doc = createDevAttestation({ ...k, now: ISSUED, modelDigests: { "llama-3": DIGEST_AB } });
    // Assess
    expect(doc.reportDataVersion).toBe(2);
    expect(report(doc).reportData).toBe(hex(reportDataV2(input(k, { modelDigests: { "llama-3": DIGEST_AB } }))));
    await expect(verifyAttestation(doc, ctx({ expectedNonce: k.nonce }))).resolves.toMatchObject({
      ok: true,
      tier: "dev",
      measurement: DEV_MEASUREMENT,
      modelDigests: { "llama-3": DIGEST_AB },
    });
  });

  it.each<[string, Record<string, string> | undefined, Record<string, string>]>([
    ["swaps a digest the report names", { "llama-3": DIGEST_AB }, { "llama-3": DIGEST_CD }],
    ["adds digests to a report that names none", undefined, { "llama-3": DIGEST_CD }],
  ])("a relay that %s in the document is refused (report_data_mismatch)", async (_what, signed, relayed) => {
    const k = keys();
    const doc = createDevAttestation({ ...k, now: ISSUED, ...(signed ? { modelDigests: signed } : {}) });
    const r = await verifyAttestation({ ...doc, modelDigests: relayed }, ctx());
    expect(r).toEqual({
      ok: false,
      code: "report_data_mismatch",
      reason: "report data is not report data v2 of this document (tag, both keys, nonce, issuedAt, model digests)",
    });
  });

  it.each<[string, Record<string, string>, Record<string, string> | undefined]>([
    ["another digest", { "llama-3": DIGEST_CD }, { "llama-3": DIGEST_AB }],
    ["fewer models", { "llama-3": DIGEST_AB }, { "llama-3": DIGEST_AB, qwen: DIGEST_CD }],
    ["more models", { "llama-3": DIGEST_AB, qwen: DIGEST_CD }, { "llama-3": DIGEST_AB }],
    ["one of two digests changed", { "llama-3": DIGEST_AB, qwen: DIGEST_AB }, { "llama-3": DIGEST_AB, qwen: DIGEST_CD }],
    ["models where the document names none", { "llama-3": DIGEST_AB }, undefined],
  ])(
    "a v2 dev report whose signed digests differ from the (bound) document's is refused as malformed: %s",
    async (_what, signed, bound) => {
      // Prepare: anyone can sign a dev report; this one binds the document's digests but lists others
      const k = keys();
      const body = {
        v: 1,
        kind: "cocoon-dev-attestation",
        warning: "SIMULATED TEE",
        reportData: hex(reportDataV2(input(k, { modelDigests: bound ?? {} }))),
        measurement: DEV_MEASUREMENT,
        issuedAt: ISSUED,
        modelDigests: signed,
      };
      const quote = new TextEncoder().encode(JSON.stringify(body));
      const doc: AttestationDoc = {
        tier: "dev",
        hpkePublicKey: b64u.encode(k.hpkePublicKey),
        signingPublicKey: b64u.encode(k.signingPublicKey),
        nonce: b64u.encode(k.nonce),
        quote: b64u.encode(quote),
        devSignature: b64u.encode(sign(signingKeyFromSeed(DEV_ATTESTATION_SEED), devSignedMessage(quote))),
        ...(bound ? { modelDigests: bound } : {}),
        reportDataVersion: 2,
        issuedAt: ISSUED,
      };
      // Act
      const r = await verifyAttestation(doc, ctx());
      const relayedAsSigned = await verifyAttestation({ ...doc, modelDigests: signed }, ctx());
      // Assess: the report data binds the document's digests, so only the disagreement refuses the first
      expect(r).toEqual({ ok: false, code: "malformed", reason: "the dev report's model digests differ from the document's" });
      expect(relayedAsSigned).toMatchObject({ ok: false, code: "report_data_mismatch" });
    },
  );

  it("requireReportDataV2 refuses v1 dev evidence and accepts v2; tier none has no report data and is not affected", async () => {
    const k = keys();
    const policy = requiringV2();
    const v1 = createDevAttestation({ ...k, now: ISSUED, reportDataVersion: 1 });
    const v2 = createDevAttestation({ ...k, now: ISSUED });
    expect(v1.reportDataVersion).toBeUndefined();
    expect(await verifyAttestation(v1, ctx({ policy }))).toMatchObject({ ok: false, code: "report_data_v1_not_allowed" });
    expect(await verifyAttestation(v1, ctx())).toMatchObject({ ok: true, tier: "dev" });
    expect(await verifyAttestation(v2, ctx({ policy }))).toMatchObject({ ok: true, tier: "dev" });
    const none: AttestationDoc = { ...v1, tier: "none" };
    delete none.quote;
    delete none.devSignature;
    expect(await verifyAttestation(none, ctx({ policy, allowNone: true }))).toMatchObject({ ok: true, tier: "none" });
  });
});
