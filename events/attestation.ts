import { z } from "zod";
import { B64u, Key32 } from "./common";

/**
 * Evidence a worker presents for its keys.
 * - tdx: an Intel TDX DCAP quote whose report data = SHA-512(hpkePublicKey || signingPublicKey || nonce).
 * - dev: SIMULATED evidence signed by a local dev key; accepted only with explicit opt-in.
 * - none: a non-TEE consumer GPU; "not confidential", chosen only when the requester asks for it.
 */
export const AttestationTier = z.enum(["tdx", "dev", "none"]);
export type AttestationTier = z.infer<typeof AttestationTier>;

export const GpuEvidence = z.object({
  format: z.string().min(1).max(64), // e.g. "nvidia-cc-v1"; pluggable
  document: B64u,
});

export const AttestationDoc = z.object({
  tier: AttestationTier,
  hpkePublicKey: Key32,
  signingPublicKey: Key32,
  /** Coordinator (or requester) nonce the report data binds, base64url. */
  nonce: B64u,
  /** tdx: the raw quote; dev: the simulated report (see core/attestation/dev). */
  quote: B64u.optional(),
  /** dev only: Ed25519 signature by the dev attestation key over the report. */
  devSignature: B64u.optional(),
  /** JSON collateral in the layout of Intel PCS (optional: the coordinator may attach cached collateral). */
  collateral: z.unknown().optional(),
  gpu: GpuEvidence.optional(),
  /** Digest of the model weights the worker serves, hex. */
  modelDigests: z.record(z.string(), z.string()).optional(),
  issuedAt: z.number().int(),
});
export type AttestationDoc = z.infer<typeof AttestationDoc>;
