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

/**
 * Size caps (issue 9 #5): evidence is parsed by the coordinator for anyone holding a key, so
 * every field is bounded before anything looks inside it. A TDX quote is about 5 KB
 * (core/attestation/tdx/quote.ts caps the decoded quote at 16 KiB); the text caps here are
 * that in base64url, with room for what other formats carry.
 */
const b64uChars = (bytes: number) => Math.ceil((bytes * 4) / 3);
export const MAX_QUOTE_CHARS = b64uChars(16 * 1024);
export const MAX_GPU_EVIDENCE_CHARS = b64uChars(64 * 1024);
export const MAX_MODEL_DIGESTS = 64;

export const GpuEvidence = z.object({
  format: z.string().min(1).max(64), // e.g. "nvidia-cc-v1"; pluggable
  document: B64u.max(MAX_GPU_EVIDENCE_CHARS),
});

export const AttestationDoc = z.object({
  tier: AttestationTier,
  hpkePublicKey: Key32,
  signingPublicKey: Key32,
  /** Coordinator (or requester) nonce the report data binds, base64url. */
  nonce: B64u,
  /** tdx: the raw quote; dev: the simulated report (see core/attestation/dev). */
  quote: B64u.max(MAX_QUOTE_CHARS).optional(),
  /** dev only: Ed25519 signature by the dev attestation key over the report. */
  devSignature: B64u.max(128).optional(),
  /** JSON collateral in the layout of Intel PCS (optional: the coordinator may attach cached collateral). */
  collateral: z.unknown().optional(),
  gpu: GpuEvidence.optional(),
  /** Digest of the model weights the worker serves, hex. */
  modelDigests: z
    .record(z.string().max(128), z.string().max(256))
    .refine((d) => Object.keys(d).length <= MAX_MODEL_DIGESTS, `at most ${MAX_MODEL_DIGESTS} model digests`)
    .optional(),
  issuedAt: z.number().int(),
});
export type AttestationDoc = z.infer<typeof AttestationDoc>;
