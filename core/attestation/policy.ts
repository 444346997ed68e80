/**
 * Attestation policy: the versioned allow-list the coordinator checks at worker registration
 * and the requester SDK checks again before it encrypts to a worker. The default lives in
 * policy.json next to this file (reviewed like code; bump `version` on every change).
 *
 * Test images (issue 9 #4): the production policy lists no image anyone can boot. The public
 * sample image the tests verify lives in test-images.json, marked `testOnly`; `localPolicy`
 * adds it for the local default and tests. A `testOnly` entry (from there or from an
 * operator's policy) matches only where the verifier is told `allowTestImages` (CoreConfig /
 * AttestationContext); it is off by default, on the AWS prod stage it cannot be switched on,
 * and the SDK never switches it on by itself.
 */
import { z } from "zod";
import { TcbStatus } from "./tdx/collateral";
import defaultPolicyJson from "./policy.json";
import testImagesJson from "./test-images.json";

const Hex48 = z.string().regex(/^[0-9a-f]{96}$/, "must be 48 bytes of lower-case hex");

export const AllowedMeasurement = z.object({
  /** Human name of the image, e.g. "cocoon-worker-ubuntu24-vllm-0.6". */
  name: z.string().min(1).max(128),
  /** true for images that exist only for tests: refused unless the verifier allows test images. */
  testOnly: z.boolean().optional(),
  comment: z.string().optional(),
  mrtd: Hex48,
  /** Fields left out are not checked; pin RTMR3 when the image measures its run-time config there. */
  rtmr0: Hex48.optional(),
  rtmr1: Hex48.optional(),
  rtmr2: Hex48.optional(),
  rtmr3: Hex48.optional(),
  /** MRCONFIGID: set by the host at TD launch (e.g. a hash of the worker's config); pin it when the image uses it. */
  mrconfigid: Hex48.optional(),
});
export type AllowedMeasurement = z.infer<typeof AllowedMeasurement>;

export const Policy = z.object({
  version: z.number().int().positive(),
  /** TCB statuses accepted for tdx evidence (e.g. ["UpToDate","SWHardeningNeeded"]). */
  minTcbStatus: z.array(TcbStatus).min(1),
  /** Evidence older than this (issuedAt vs now) is refused; workers re-attest before. */
  maxEvidenceAgeSeconds: z.number().int().positive(),
  measurements: z.array(AllowedMeasurement),
  /** model name → accepted weight digests (lower-case hex). A model not listed is not digest-checked. */
  models: z.record(z.string(), z.array(z.string().regex(/^[0-9a-f]{64,128}$/, "must be a lower-case hex digest"))),
  /** When true, tdx evidence must carry GPU evidence (e.g. NVIDIA CC) that a registered verifier accepts. */
  requireGpuEvidence: z.boolean(),
  /**
   * When true, tdx and dev evidence must use report data v2 (core/attestation/report-data.ts:
   * the quote binds issuedAt and the model digests too); v1 is refused (report_data_v1_not_allowed).
   * Absent = false: images built before v2 send v1, whose digests and issuedAt the relaying
   * coordinator could change. Switch it on (and bump `version`) once every listed image sends v2.
   * A v2 document is checked as v2 whatever this says, and cannot pass as v1 (its quote binds v2).
   */
  requireReportDataV2: z.boolean().optional(),
  /**
   * tdx: collateral whose TCB info or QE identity Intel issued longer ago than this is refused
   * (collateral_too_old). The collateral travels in the worker's document, so the worker picks it:
   * Intel's stays valid for 30 days, and without this bound a platform that a TCB recovery made
   * OutOfDate (or whose PCK was revoked since) passes as UpToDate on the collateral from before it.
   * Absent = only Intel's own nextUpdate bounds it. Set it (and bump `version`) with the first
   * listed image, above how often the agents fetch fresh collateral.
   */
  maxCollateralAgeSeconds: z.number().int().positive().optional(),
});
export type Policy = z.infer<typeof Policy>;

export class PolicyError extends Error {
  override readonly name = "PolicyError";
  readonly code = "policy_invalid";
}

/** Validates a policy object (e.g. read from an operator's file); throws PolicyError saying what to fix. */
export function parsePolicy(v: unknown): Policy {
  const r = Policy.safeParse(v);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new PolicyError(`attestation policy is invalid at ${i?.path.join(".") || "(root)"}: ${i?.message}`);
  }
  return r.data;
}

/** The repository's production policy (core/attestation/policy.json): no test image. */
export const defaultPolicy: Policy = parsePolicy(defaultPolicyJson);

/** Images that exist only for tests (core/attestation/test-images.json), each marked testOnly. */
export const testImages: readonly AllowedMeasurement[] = z
  .array(AllowedMeasurement.extend({ testOnly: z.literal(true) }))
  .parse(testImagesJson.measurements);

/** `policy` plus the test images (still refused unless the verifier allows test images). */
export function withTestImages(policy: Policy): Policy {
  return { ...policy, measurements: [...policy.measurements, ...testImages] };
}

/** The policy of the local default and tests: the production one plus the test images. */
export const localPolicy: Policy = withTestImages(defaultPolicy);

/** What the quote measured; the fields an allow-list entry may pin. */
export interface Measured {
  mrtd: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
  mrConfigId: string;
}

const matches = (a: AllowedMeasurement, m: Measured) =>
  a.mrtd === m.mrtd &&
  (a.rtmr0 === undefined || a.rtmr0 === m.rtmr0) &&
  (a.rtmr1 === undefined || a.rtmr1 === m.rtmr1) &&
  (a.rtmr2 === undefined || a.rtmr2 === m.rtmr2) &&
  (a.rtmr3 === undefined || a.rtmr3 === m.rtmr3) &&
  (a.mrconfigid === undefined || a.mrconfigid === m.mrConfigId);

export type MeasurementMatch =
  { ok: true; entry: AllowedMeasurement } | { ok: false; code: "measurement_not_allowed" | "test_image_not_allowed"; reason: string };

/**
 * The allow-list entry whose MRTD and every pinned field equal the evidence's. A `testOnly`
 * entry counts only with `allowTestImages`; matching nothing but test entries has its own code.
 */
export function matchMeasurement(policy: Policy, m: Measured, allowTestImages = false): MeasurementMatch {
  const all = policy.measurements.filter((a) => matches(a, m));
  const entry = all.find((a) => allowTestImages || !a.testOnly);
  if (entry) return { ok: true, entry };
  if (all.length > 0) {
    return {
      ok: false,
      code: "test_image_not_allowed",
      reason: `MRTD ${m.mrtd} is the TEST image "${all[0]!.name}" (testOnly in policy v${policy.version}): it is accepted only where test images are allowed (tests, the local default), never in production`,
    };
  }
  return {
    ok: false,
    code: "measurement_not_allowed",
    reason: `MRTD ${m.mrtd} (with its RTMRs and MRCONFIGID) is not on policy v${policy.version}'s allow-list`,
  };
}

/** The permitted allow-list entry for the evidence, if any (see matchMeasurement). */
export function findAllowedMeasurement(policy: Policy, m: Measured, allowTestImages = false): AllowedMeasurement | undefined {
  const r = matchMeasurement(policy, m, allowTestImages);
  return r.ok ? r.entry : undefined;
}

/** The repository's policy, or `override` validated (e.g. an operator's JSON object). */
export function loadPolicy(override?: unknown): Policy {
  return override === undefined ? defaultPolicy : parsePolicy(override);
}
