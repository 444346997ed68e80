import type { AttestationDoc, AttestationTier } from "../events/attestation";
import { createDevAttestation, createNoneAttestation } from "../core/attestation/dev";
import { reportData } from "../core/attestation/report-data";
import { b64u } from "../core/crypto/encoding";
import type { KemKeyPair, SigningKeyPair } from "../core/crypto/keys";
import type { QuoteProvider } from "./quote-provider";

/**
 * Builds the evidence an agent registers with: a TDX quote from the platform (configfs-tsm)
 * whose report data binds our keys to the coordinator's nonce; or, only when chosen
 * explicitly, SIMULATED dev evidence or the "none" (not confidential) tier.
 */
export function makeAttester(o: {
  tier: AttestationTier;
  signingKey: SigningKeyPair;
  kemKey: KemKeyPair;
  quoteProvider?: QuoteProvider;
  now?: () => number;
  /** model name → SHA-256 (hex) of the weights served, checked against the policy's model allow-list */
  modelDigests?: Record<string, string>;
}) {
  const now = o.now ?? Date.now;
  return async (nonce: Uint8Array): Promise<AttestationDoc> => {
    const input = {
      hpkePublicKey: o.kemKey.publicKey,
      signingPublicKey: o.signingKey.publicKey,
      nonce,
      now: now(),
      ...(o.modelDigests ? { modelDigests: o.modelDigests } : {}),
    };
    if (o.tier === "dev") return createDevAttestation(input);
    if (o.tier === "none") return createNoneAttestation(input);
    if (!o.quoteProvider) throw new Error("tier tdx needs a quote provider (configfs-tsm)");
    const quote = await o.quoteProvider.quote(reportData(input.hpkePublicKey, input.signingPublicKey, nonce));
    return {
      tier: "tdx",
      hpkePublicKey: b64u.encode(o.kemKey.publicKey),
      signingPublicKey: o.signingKey.id,
      nonce: b64u.encode(nonce),
      quote: b64u.encode(quote),
      ...(o.modelDigests ? { modelDigests: o.modelDigests } : {}),
      issuedAt: input.now,
    };
  };
}
