/**
 * SIMULATED attestation tier ("dev") and the opt-in "not confidential" tier ("none").
 *
 * The dev attestation key below is derived from a PUBLISHED string: anyone can sign with it.
 * A dev attestation therefore PROVES NOTHING about where a key lives; it only exercises the
 * same code paths as real evidence (report data binding, nonce, age, policy). Verifiers
 * accept it only with explicit opt-in (`allowDev`), which the local default network sets.
 */
import { createHash } from "node:crypto";
import { sign, signingKeyFromSeed } from "../crypto/keys";
import type { AttestationDoc } from "../../events/attestation";
import { reportDataFor, type ReportDataVersion } from "./report-data";

/** Seed = sha256 of a public sentence. NOT SECRET: this key proves nothing. */
export const DEV_ATTESTATION_SEED: Uint8Array = new Uint8Array(
  createHash("sha256").update("cocoon dev attestation key - NOT SECRET - simulated TEE").digest(),
);
const DEV_KEY = signingKeyFromSeed(DEV_ATTESTATION_SEED);
export const DEV_ATTESTATION_PUBLIC_KEY: Uint8Array = DEV_KEY.publicKey;

export const DEV_MEASUREMENT = "dev-simulated";
/** Domain separation for dev signatures. */
const DEV_SIG_DOMAIN = new TextEncoder().encode("cocoon-dev-attestation-v1\u0000");

/** The simulated report that travels (base64url JSON) in `AttestationDoc.quote` for tier "dev". */
export interface DevReport {
  v: 1;
  kind: "cocoon-dev-attestation";
  warning: string;
  /**
   * hex report data of the document's `reportDataVersion` (core/attestation/report-data.ts), as a
   * TDX quote's REPORTDATA: v1 SHA-512(hpke || signing || nonce); v2 also binds issuedAt and the
   * document's model digests, so dev exercises the same binding the tdx verifier checks.
   */
  reportData: string;
  measurement: typeof DEV_MEASUREMENT;
  issuedAt: number;
  modelDigests?: Record<string, string>;
}

export interface AttestationInput {
  hpkePublicKey: Uint8Array;
  signingPublicKey: Uint8Array;
  nonce: Uint8Array;
  /** ms since epoch */
  now: number;
  modelDigests?: Record<string, string>;
  /** Report data version to produce (default 2; 1 only to test verifiers against evidence from before v2). */
  reportDataVersion?: ReportDataVersion;
}

export const b64u = {
  encode: (b: Uint8Array) => Buffer.from(b).toString("base64url"),
  decode: (s: string) => new Uint8Array(Buffer.from(s, "base64url")),
};

export function devSignedMessage(quote: Uint8Array): Uint8Array {
  const m = new Uint8Array(DEV_SIG_DOMAIN.length + quote.length);
  m.set(DEV_SIG_DOMAIN);
  m.set(quote, DEV_SIG_DOMAIN.length);
  return m;
}

/** Builds a SIMULATED attestation (tier "dev"). It proves nothing; see the module comment. */
export function createDevAttestation(input: AttestationInput): AttestationDoc {
  const version = input.reportDataVersion ?? 2;
  const rd = reportDataFor(version, { ...input, issuedAt: input.now });
  const report: DevReport = {
    v: 1,
    kind: "cocoon-dev-attestation",
    warning: "SIMULATED TEE: signed with a published key, proves nothing",
    reportData: Buffer.from(rd).toString("hex"),
    measurement: DEV_MEASUREMENT,
    issuedAt: input.now,
    ...(input.modelDigests ? { modelDigests: input.modelDigests } : {}),
  };
  const quote = new TextEncoder().encode(JSON.stringify(report));
  const sig = sign(DEV_KEY, devSignedMessage(quote));
  return {
    tier: "dev",
    hpkePublicKey: b64u.encode(input.hpkePublicKey),
    signingPublicKey: b64u.encode(input.signingPublicKey),
    nonce: b64u.encode(input.nonce),
    quote: b64u.encode(quote),
    devSignature: b64u.encode(sig),
    ...(input.modelDigests ? { modelDigests: input.modelDigests } : {}),
    ...(version === 2 ? { reportDataVersion: 2 } : {}),
    issuedAt: input.now,
  };
}

/**
 * The opt-in "not confidential" tier for non-TEE consumer GPUs: no evidence at all. The GPU
 * owner can read every prompt. Listed as such and chosen only when a requester asks for it.
 */
export function createNoneAttestation(input: AttestationInput): AttestationDoc {
  return {
    tier: "none",
    hpkePublicKey: b64u.encode(input.hpkePublicKey),
    signingPublicKey: b64u.encode(input.signingPublicKey),
    nonce: b64u.encode(input.nonce),
    ...(input.modelDigests ? { modelDigests: input.modelDigests } : {}),
    issuedAt: input.now,
  };
}
