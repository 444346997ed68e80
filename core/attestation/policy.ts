/**
 * Attestation policy: the versioned allow-list the coordinator checks at worker registration
 * and the requester SDK checks again before it encrypts to a worker. The default lives in
 * policy.json next to this file (reviewed like code; bump `version` on every change).
 */
import { z } from "zod";
import { TcbStatus } from "./tdx/collateral";
import defaultPolicyJson from "./policy.json";

const Hex48 = z
  .string()
  .regex(/^[0-9a-f]{96}$/, "must be 48 bytes of lower-case hex");

export const AllowedMeasurement = z.object({
  /** Human name of the image, e.g. "cocoon-worker-ubuntu24-vllm-0.6". */
  name: z.string().min(1).max(128),
  /** true for images that exist only for tests (never a production worker). */
  testOnly: z.boolean().optional(),
  comment: z.string().optional(),
  mrtd: Hex48,
  /** RTMRs left out are not checked (e.g. RTMR3, extended at run time). */
  rtmr0: Hex48.optional(),
  rtmr1: Hex48.optional(),
  rtmr2: Hex48.optional(),
  rtmr3: Hex48.optional(),
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

/** The repository's policy (core/attestation/policy.json). */
export const defaultPolicy: Policy = parsePolicy(defaultPolicyJson);

/** The allow-list entry whose MRTD and listed RTMRs all equal the evidence's, if any. */
export function findAllowedMeasurement(
  policy: Policy,
  m: { mrtd: string; rtmr0: string; rtmr1: string; rtmr2: string; rtmr3: string },
): AllowedMeasurement | undefined {
  return policy.measurements.find(
    (a) =>
      a.mrtd === m.mrtd &&
      (a.rtmr0 === undefined || a.rtmr0 === m.rtmr0) &&
      (a.rtmr1 === undefined || a.rtmr1 === m.rtmr1) &&
      (a.rtmr2 === undefined || a.rtmr2 === m.rtmr2) &&
      (a.rtmr3 === undefined || a.rtmr3 === m.rtmr3),
  );
}

/** The repository's policy, or `override` validated (e.g. an operator's JSON object). */
export function loadPolicy(override?: unknown): Policy {
  return override === undefined ? defaultPolicy : parsePolicy(override);
}
