/**
 * Verifies a worker's AttestationDoc against the policy: used by the coordinator at
 * registration / re-attestation and by the requester SDK before it encrypts to a worker.
 * Pure: no I/O (the policy JSON is loaded by import in policy.ts).
 *
 * Order of checks (each failure has its own code):
 *   schema → tier allowed → nonce → evidence age → report data version → evidence (tdx:
 *   genuine quote, TCB status, collateral age, measurement allow-list; dev: dev signature) → report data binds
 *   both keys + nonce (v2: + issuedAt + model digests) → model digests → GPU evidence.
 *
 * Report data version (core/attestation/report-data.ts): the document names it
 * (`reportDataVersion`, absent = 1) and exactly that version's hash is compared, one hash either
 * way. A relay cannot relabel a v2 document as v1 to escape the digest binding (its quote holds
 * the v2 hash, so v1's comparison fails); `policy.requireReportDataV2` refuses v1 outright.
 */
import { bytesEqual } from "../crypto/encoding";
import { recipientKeyProblem } from "../crypto/hpke";
import { verifySignature } from "../crypto/keys";
import { z } from "zod";
import { AttestationDoc, ModelDigests, type AttestationTier } from "../../events/attestation";
import { DEV_ATTESTATION_PUBLIC_KEY, DEV_MEASUREMENT, b64u, devSignedMessage } from "./dev";
import { matchMeasurement, type Policy } from "./policy";
import { REPORT_DATA_VERSIONS, ReportDataError, reportDataFor, type ReportDataVersion } from "./report-data";
import type { TdxCollateral } from "./tdx/collateral";
import { MAX_QUOTE_BYTES } from "./tdx/quote";
import { TdxVerifierCache, verifyTdxQuote, type TdxVerdict } from "./tdx/verify";

export type AttestationResult =
  | {
      ok: true;
      tier: AttestationTier;
      measurement: string;
      expiresAt: number;
      tcbStatus?: string;
      imageName?: string;
      /** tdx: the registers the policy registry names an image by (core/policy-registry.ts measurementDigest) */
      registers?: { mrtd: string; rtmr0: string; rtmr1: string; rtmr2: string };
      /**
       * model name → weight digest (lower-case hex) as the evidence states it (dev: the signed
       * report's); what the policy registry's model allow-list is checked against (issue 15).
       */
      modelDigests?: Record<string, string>;
    }
  | { ok: false; code: string; reason: string };

/** Result of a GPU evidence verifier (e.g. NVIDIA CC). */
export type GpuVerdict = { ok: true } | { ok: false; code: string; reason: string };
/** Verifies one GPU evidence document; must bind `reportData` (the worker's keys + nonce; v2: the document too). */
export type GpuVerifier = (document: Uint8Array, ctx: { reportData: Uint8Array; now: number }) => Promise<GpuVerdict>;

/** Pluggable GPU evidence formats, by `GpuEvidence.format`. Empty by default: register real verifiers here. */
export const gpuVerifiers: Record<string, GpuVerifier> = {};

export interface AttestationContext {
  policy: Policy;
  /** ms since epoch */
  now: number;
  expectedNonce?: Uint8Array;
  allowDev: boolean;
  allowNone: boolean;
  /**
   * Accept allow-list entries marked `testOnly` (public sample images anyone can boot).
   * Tests and the local default only; absent = refused (code test_image_not_allowed).
   */
  allowTestImages?: boolean;
  /** Collateral to use for tdx quotes; falls back to the doc's own `collateral` (Intel-signed either way). */
  collateral?: TdxCollateral;
  /** Overrides the global GPU verifier registry. */
  gpuVerifiers?: Record<string, GpuVerifier>;
  /** Cache of verified collateral and chains (speeds up repeated verification); default: one per process, bounded. */
  tdxCache?: TdxVerifierCache;
  /** Injection point for tests; defaults to verifyTdxQuote. */
  verifyTdx?: typeof verifyTdxQuote;
}

/** Clock skew tolerated for evidence issued "in the future". */
const MAX_SKEW_MS = 5 * 60_000;
/**
 * One per process, shared by every registration: bounded (LRU) and it keeps only results that
 * verified, so evidence an attacker makes up cannot grow it (issue 9 #5).
 */
const sharedCache = new TdxVerifierCache();
/** Entry counts of the process-wide TDX cache (tests and diagnostics). */
export const sharedTdxCacheSizes = () => sharedCache.sizes();

const no = (code: string, reason: string): AttestationResult => ({ ok: false, code, reason });

/** A dev report (core/attestation/dev.ts) as far as the checks below read it; its other fields are compared, not typed. */
const DevReport = z.object({
  reportData: z.unknown(),
  measurement: z.unknown(),
  issuedAt: z.unknown(),
  modelDigests: ModelDigests.optional(),
});

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** The digests a verdict carries, lower-cased (schema-checked strings); absent when the evidence names none. */
const digestsOf = (d: Record<string, string> | undefined): { modelDigests?: Record<string, string> } =>
  d && Object.keys(d).length ? { modelDigests: Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v.toLowerCase()])) } : {};

/** Same names and the same digests, exactly (absent and {} alike, as everywhere in the verdict). */
function sameDigests(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ea = Object.entries(a ?? {});
  return ea.length === Object.keys(b ?? {}).length && ea.every(([k, v]) => Object.hasOwn(b ?? {}, k) && b![k] === v);
}

/** What a report_data_mismatch says, by version: what the hash must have covered. */
const RD_WHAT: Record<ReportDataVersion, string> = {
  1: "SHA-512(hpkePublicKey || signingPublicKey || nonce)",
  2: "report data v2 of this document (tag, both keys, nonce, issuedAt, model digests)",
};

function checkModels(policy: Policy, digests: Record<string, string> | undefined): AttestationResult | undefined {
  for (const [model, digest] of Object.entries(digests ?? {})) {
    // own keys only: a model named "constructor" must not find Object.prototype's
    const allowed = Object.hasOwn(policy.models, model) ? policy.models[model] : undefined;
    if (allowed && !allowed.includes(digest.toLowerCase())) {
      return no("model_not_allowed", `model ${model} digest ${digest} is not in policy v${policy.version}'s allow-list`);
    }
  }
  return undefined;
}

export async function verifyAttestation(docIn: AttestationDoc, ctx: AttestationContext): Promise<AttestationResult> {
  const parsed = AttestationDoc.safeParse(docIn);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    return no("malformed", `attestation document is invalid at ${i?.path.join(".")}: ${i?.message}`);
  }
  const doc = parsed.data;
  const { policy, now } = ctx;

  if (doc.tier === "dev" && !ctx.allowDev) {
    return no(
      "dev_not_allowed",
      "this is a SIMULATED (dev) attestation; accept it only with explicit opt-in (allowDev / --allow-dev-attestation)",
    );
  }
  if (doc.tier === "none" && !ctx.allowNone) {
    return no(
      "not_confidential_not_allowed",
      "this worker runs outside any TEE (tier none); ask for not-confidential workers explicitly to use it",
    );
  }

  // Session 31: a key nothing can be sealed to (small order) would fail the seal of every
  // request whose candidates include this worker, not only the seal to it.
  const hpkeProblem = recipientKeyProblem(b64u.decode(doc.hpkePublicKey));
  if (hpkeProblem) return no("hpke_key_invalid", `the HPKE public key is unusable: ${hpkeProblem}`);

  const nonce = b64u.decode(doc.nonce);
  if (ctx.expectedNonce && !bytesEqual(nonce, ctx.expectedNonce)) {
    return no("nonce_mismatch", "the attestation binds another nonce than the one issued: re-attest with the fresh nonce");
  }
  const maxAgeMs = policy.maxEvidenceAgeSeconds * 1000;
  if (now - doc.issuedAt > maxAgeMs) {
    return no(
      "evidence_expired",
      `evidence issued at ${new Date(doc.issuedAt).toISOString()} is older than ${policy.maxEvidenceAgeSeconds} s: re-attest`,
    );
  }
  if (doc.issuedAt - now > MAX_SKEW_MS) {
    return no(
      "evidence_from_future",
      `evidence issued at ${new Date(doc.issuedAt).toISOString()} is in the future: check the worker's clock`,
    );
  }
  const expiresAt = doc.issuedAt + maxAgeMs;

  if (doc.tier === "none") {
    const m = checkModels(policy, doc.modelDigests);
    if (m) return m;
    return { ok: true, tier: "none", measurement: "none", expiresAt, ...digestsOf(doc.modelDigests) };
  }

  const version = doc.reportDataVersion ?? 1;
  if (!(REPORT_DATA_VERSIONS as readonly number[]).includes(version)) {
    return no(
      "report_data_version_unsupported",
      `report data version ${version} is not one this verifier knows (${REPORT_DATA_VERSIONS.join(", ")}): update the SDK / coordinator`,
    );
  }
  if (version === 1 && policy.requireReportDataV2) {
    return no(
      "report_data_v1_not_allowed",
      `policy v${policy.version} requires report data v2 (binding issuedAt and the model digests); this evidence uses v1: run an image that sends reportDataVersion 2`,
    );
  }
  const rdVersion = version as ReportDataVersion;
  let expectedRd: Uint8Array;
  try {
    expectedRd = reportDataFor(rdVersion, {
      hpkePublicKey: b64u.decode(doc.hpkePublicKey),
      signingPublicKey: b64u.decode(doc.signingPublicKey),
      nonce,
      issuedAt: doc.issuedAt,
      ...(doc.modelDigests ? { modelDigests: doc.modelDigests } : {}),
    });
  } catch (e) {
    // v2 only: a model name or digest with a lone surrogate has no unambiguous encoding
    if (e instanceof ReportDataError) return no("malformed", `the document cannot be bound by report data v${rdVersion}: ${e.message}`);
    throw e;
  }

  if (!doc.quote) return no("quote_missing", `a ${doc.tier} attestation must carry a quote`);
  // Bounded before decoding: a real quote is about 5 KB (the schema bounds the text as well).
  if (Math.floor((doc.quote.length * 3) / 4) > MAX_QUOTE_BYTES)
    return no("quote_too_large", `the quote is larger than ${MAX_QUOTE_BYTES} bytes; a TDX quote is about 5 KB`);
  const quote = b64u.decode(doc.quote);

  if (doc.tier === "dev") {
    const sig = doc.devSignature ? b64u.decode(doc.devSignature) : undefined;
    let sigOk: boolean;
    try {
      sigOk = !!sig && verifySignature(DEV_ATTESTATION_PUBLIC_KEY, devSignedMessage(quote), sig);
    } catch {
      sigOk = false;
    }
    if (!sigOk) return no("dev_signature_invalid", "the dev report is not signed by the (published) dev attestation key");
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(quote));
    } catch {
      return no("malformed", "the dev report is not JSON");
    }
    // Parsed as any other input: anyone can sign a dev report (its key is published), so a
    // report that is null, or whose digests are not strings, is refused rather than thrown on.
    const parsedReport = DevReport.safeParse(json);
    if (!parsedReport.success) return no("malformed", "the dev report is not an object with string model digests");
    const report = parsedReport.data;
    if (report.measurement !== DEV_MEASUREMENT || report.issuedAt !== doc.issuedAt) {
      return no("malformed", "the dev report's measurement/issuedAt do not match the document");
    }
    if (report.reportData !== hex(expectedRd)) {
      return no("report_data_mismatch", `report data is not ${RD_WHAT[rdVersion]}`);
    }
    // v2 binds the document's digests; the signed report's own copy, when it names one, must agree
    if (rdVersion === 2 && report.modelDigests !== undefined && !sameDigests(report.modelDigests, doc.modelDigests)) {
      return no("malformed", "the dev report's model digests differ from the document's");
    }
    const digests = report.modelDigests ?? doc.modelDigests;
    const m = checkModels(policy, digests);
    if (m) return m;
    return { ok: true, tier: "dev", measurement: DEV_MEASUREMENT, expiresAt, ...digestsOf(digests) };
  }

  // tdx
  const verify = ctx.verifyTdx ?? verifyTdxQuote;
  const verdict: TdxVerdict = await verify(quote, {
    now: new Date(now),
    collateral: ctx.collateral ?? doc.collateral,
    cache: ctx.tdxCache ?? sharedCache,
  });
  if (!verdict.genuine || !verdict.measurements) return no(verdict.code, `TDX quote refused: ${verdict.reason}`);
  if (verdict.status === "CollateralExpired") return no("collateral_expired", verdict.reason);
  // named as such, not as an Unknown TCB status ("attach Intel PCS collateral"): the worker did,
  // and its PCCS or a clock is what is wrong (session 41: the agent logs the coordinator's code)
  if (verdict.code === "collateral_not_yet_valid") return no("collateral_not_yet_valid", verdict.reason);
  if (!(policy.minTcbStatus as string[]).includes(verdict.status)) {
    return no(
      "tcb_status_not_accepted",
      `TCB status ${verdict.status} is not accepted by policy v${policy.version} (${policy.minTcbStatus.join(", ")})${verdict.status === "Unknown" ? ": attach Intel PCS collateral" : ""}`,
    );
  }
  // Intel's nextUpdate alone lets the worker keep the 30-day-old evaluation that suits it best
  const maxCollateralMs = policy.maxCollateralAgeSeconds === undefined ? undefined : policy.maxCollateralAgeSeconds * 1000;
  if (maxCollateralMs !== undefined && verdict.collateralIssuedAt !== undefined && now - verdict.collateralIssuedAt > maxCollateralMs) {
    return no(
      "collateral_too_old",
      `the collateral's TCB evaluation was issued at ${new Date(verdict.collateralIssuedAt).toISOString()}, more than policy v${policy.version}'s ${policy.maxCollateralAgeSeconds} s ago: attach fresh Intel PCS collateral`,
    );
  }
  const match = matchMeasurement(policy, verdict.measurements, ctx.allowTestImages === true);
  if (!match.ok) return no(match.code, match.reason);
  const allowed = match.entry;
  if (verdict.measurements.reportData !== hex(expectedRd)) {
    return no(
      "report_data_mismatch",
      `the quote's report data is not ${RD_WHAT[rdVersion]}: the keys are not bound to this TD${rdVersion === 2 ? ", or the document was changed after quoting" : ""}`,
    );
  }
  const m = checkModels(policy, doc.modelDigests);
  if (m) return m;

  const registry = ctx.gpuVerifiers ?? gpuVerifiers;
  if (doc.gpu) {
    const v = registry[doc.gpu.format];
    if (v) {
      const g = await v(b64u.decode(doc.gpu.document), { reportData: expectedRd, now });
      if (!g.ok) return no(g.code, g.reason);
    } else if (policy.requireGpuEvidence) {
      return no("gpu_format_unsupported", `no verifier is registered for GPU evidence format ${doc.gpu.format}`);
    }
  } else if (policy.requireGpuEvidence) {
    return no("gpu_evidence_missing", `policy v${policy.version} requires GPU evidence (e.g. NVIDIA CC) next to the TDX quote`);
  }
  const { mrtd, rtmr0, rtmr1, rtmr2 } = verdict.measurements;
  // The verdict lasts no longer than its collateral may: the worker leaves the lists (and its agent
  // re-attests) then, and a verifier's cached verdict does not outlive the bound either.
  const collateralUntil =
    maxCollateralMs !== undefined && verdict.collateralIssuedAt !== undefined ? verdict.collateralIssuedAt + maxCollateralMs : Infinity;
  return {
    ok: true,
    tier: "tdx",
    measurement: mrtd,
    expiresAt: Math.min(expiresAt, collateralUntil),
    tcbStatus: verdict.status,
    imageName: allowed.name,
    registers: { mrtd, rtmr0, rtmr1, rtmr2 },
    ...digestsOf(doc.modelDigests),
  };
}
