import { z } from "zod";
import { B64u, Key32 } from "./common";

// Module-level schemas are built in /* @__PURE__ */ IIFEs so that bundles drop unused ones (see events/api.ts).

/**
 * Evidence a worker presents for its keys.
 * - tdx: an Intel TDX DCAP quote whose report data binds the keys and the nonce (v2: also issuedAt and
 *   the model digests; core/attestation/report-data.ts).
 * - dev: SIMULATED evidence signed by a local dev key; accepted only with explicit opt-in.
 * - none: a non-TEE consumer GPU; "not confidential", chosen only when the requester asks for it.
 */
export const AttestationTier = /* @__PURE__ */ (() => z.enum(["tdx", "dev", "none"]))();
export type AttestationTier = z.infer<typeof AttestationTier>;

/**
 * Size caps (issue 9 #5): evidence is parsed by the coordinator for anyone holding a key, so
 * every field is bounded before anything looks inside it. A TDX quote is about 5 KB
 * (core/attestation/tdx/quote.ts caps the decoded quote at 16 KiB); the text caps here are
 * that in base64url, with room for what other formats carry.
 */
const b64uChars = (bytes: number) => Math.ceil((bytes * 4) / 3);
export const MAX_QUOTE_CHARS = /* @__PURE__ */ (() => b64uChars(16 * 1024))();
export const MAX_GPU_EVIDENCE_CHARS = /* @__PURE__ */ (() => b64uChars(64 * 1024))();
export const MAX_MODEL_DIGESTS = 64;
/**
 * The whole document at most, as UTF-8 bytes of its JSON: the worker item (core/workers.ts) and a
 * challenge's answer (core/challenges.ts) store it, and a store item holds at most 400 KiB
 * (DynamoDB; core/store-rules.ts MAX_ITEM_BYTES). The fields' own caps do not bound it:
 * `collateral` is checked only by a TDX verification, and Intel PCS's layout alone allows about
 * 800 KB (core/attestation/tdx/collateral.ts). DynamoDB may count a document at up to 1.75× its
 * JSON (the worst: a list of {"$obj":0}, 11 bytes of JSON, 19 as the DynamoDB adapter stores it,
 * wrapped; a list of one-digit numbers is 1.5×), so 192 KiB is at most 336 KiB there, and the
 * rest of the worker item (up to 32 model names, keys, counters: under 8 KiB) keeps it under
 * 400 KiB. Real evidence is far smaller: a TDX quote about 5 KB, its collateral some 30 KB; the
 * largest quote, GPU evidence and digests the fields allow are together about 135 KB.
 */
export const MAX_ATTESTATION_BYTES = 192 * 1024;
const utf8 = new TextEncoder(); // not Buffer: these schemas also run in the SDK

/** Model name → digest of the weights a worker serves (hex): in the document, and in a dev report. */
export const ModelDigests = /* @__PURE__ */ (() =>
  z
    .record(z.string().max(128), z.string().max(256))
    .refine((d) => Object.keys(d).length <= MAX_MODEL_DIGESTS, `at most ${MAX_MODEL_DIGESTS} model digests`))();

export const GpuEvidence = /* @__PURE__ */ (() =>
  z.object({
    format: z.string().min(1).max(64), // e.g. "nvidia-cc-v1"; pluggable
    document: B64u.max(MAX_GPU_EVIDENCE_CHARS),
  }))();

export const AttestationDoc = /* @__PURE__ */ (() =>
  z
    .object({
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
      modelDigests: ModelDigests.optional(),
      /**
       * tdx and dev: how the report data binds this document (core/attestation/report-data.ts).
       * Absent or 1: SHA-512(hpke || signing || nonce); 2: also `issuedAt` and `modelDigests`,
       * domain-tagged. Any other number is refused by the verifier (report_data_version_unsupported).
       */
      reportDataVersion: z.number().int().positive().optional(),
      issuedAt: z.number().int(),
    })
    .superRefine((doc, ctx) => {
      let bytes: number;
      try {
        bytes = utf8.encode(JSON.stringify(doc)).length;
      } catch {
        // a collateral (unknown-typed) nested thousands deep overflows JSON.stringify's stack
        ctx.addIssue({ code: "custom", message: "the attestation document is nested too deeply to serialise" });
        return;
      }
      if (bytes > MAX_ATTESTATION_BYTES) {
        ctx.addIssue({
          code: "custom",
          message: `the attestation document is ${bytes} bytes as JSON; at most ${MAX_ATTESTATION_BYTES} bytes (192 KiB) are accepted`,
        });
      }
    }))();
export type AttestationDoc = z.infer<typeof AttestationDoc>;
