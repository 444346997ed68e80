import type { AttestationDoc, AttestationTier } from "../events/attestation";
import { createDevAttestation, createNoneAttestation } from "../core/attestation/dev";
import { reportDataFor, type ReportDataVersion } from "../core/attestation/report-data";
import { b64u } from "../core/crypto/encoding";
import { DEV_IMAGE_DIGEST, imageAllowed, refusedModel, type PolicyCache, type PolicyReading } from "../core/policy-registry";
import type { Voucher } from "../events/money";
import type { KemKeyPair, SigningKeyPair } from "../core/crypto/keys";
import type { CollateralSource } from "./collateral";
import type { QuoteProvider } from "./quote-provider";

/**
 * Builds the evidence an agent registers with: a TDX quote from the platform (configfs-tsm)
 * whose report data binds our keys to the coordinator's nonce and (report data v2) the
 * document's issuedAt and model digests, so the coordinator that relays it to requesters cannot
 * change what model we claim to serve; or, only when chosen explicitly, SIMULATED dev evidence
 * (same binding) or the "none" (not confidential) tier.
 */
export function makeAttester(o: {
  tier: AttestationTier;
  signingKey: SigningKeyPair;
  kemKey: KemKeyPair;
  quoteProvider?: QuoteProvider;
  /**
   * tdx: the Intel collateral attached to each document (agent/collateral.ts), which the
   * verifier judges the quote's TCB status by; without it the status is Unknown and the default
   * policy refuses the worker. Its CollateralError (collateral_stale, collateral_not_yet_valid)
   * is thrown as it is: no evidence is made that the coordinator would refuse. The runtime waits it
   * out off the candidate lists (agent/runtime.ts cannotAttest), a first start included.
   */
  collateral?: CollateralSource;
  now?: () => number;
  /** model name → SHA-256 (hex) of the weights served, checked against the policy's model allow-list */
  modelDigests?: Record<string, string>;
  /** Report data version (default 2); 1 only for tests of verifiers against evidence from before v2. */
  reportDataVersion?: ReportDataVersion;
}) {
  const version = o.reportDataVersion ?? 2;
  const now = o.now ?? Date.now;
  /** `at`: the time to stamp the evidence with (the agent passes the coordinator's, which judges it); default our clock. */
  return async (nonce: Uint8Array, at?: number): Promise<AttestationDoc> => {
    const input = {
      hpkePublicKey: o.kemKey.publicKey,
      signingPublicKey: o.signingKey.publicKey,
      nonce,
      now: at ?? now(),
      ...(o.modelDigests ? { modelDigests: o.modelDigests } : {}),
      reportDataVersion: version,
    };
    if (o.tier === "dev") return createDevAttestation(input);
    if (o.tier === "none") return createNoneAttestation(input);
    if (!o.quoteProvider) throw new Error("tier tdx needs a quote provider (configfs-tsm)");
    // The document below must state exactly these fields: the verifier recomputes the hash from it.
    const quote = await o.quoteProvider.quote(reportDataFor(version, { ...input, issuedAt: input.now }));
    // judged at issuedAt's clock (the coordinator's), which also counts the collateral's age out
    const collateral = o.collateral ? await o.collateral.forQuote(quote, input.now) : undefined;
    return {
      tier: "tdx",
      hpkePublicKey: b64u.encode(o.kemKey.publicKey),
      signingPublicKey: o.signingKey.id,
      nonce: b64u.encode(nonce),
      quote: b64u.encode(quote),
      ...(collateral ? { collateral } : {}),
      ...(o.modelDigests ? { modelDigests: o.modelDigests } : {}),
      ...(version === 2 ? { reportDataVersion: 2 } : {}),
      issuedAt: input.now,
    };
  };
}

/** What an agent knows of itself that the policy registry names: its tier, image digest and the weight digest of each model it serves. */
export interface AgentSelf {
  tier: AttestationTier;
  /** core/policy-registry.ts imageDigestOf (dev: DEV_IMAGE_DIGEST; tdx: from its registers when known); absent: not checked */
  image?: string;
  models: string[];
  /** model name → SHA-256 (hex) of the weights served, as attested */
  modelDigests?: Record<string, string>;
}

/** The image digest an agent of `tier` can name for itself without a quote: dev only (tdx needs its registers, none has no image). */
export const ownImageDigest = (tier: AttestationTier): string | undefined => (tier === "dev" ? DEV_IMAGE_DIGEST : undefined);

/**
 * issue 15: why this agent may not serve under `reading` (undefined: it may). The same lists
 * the coordinator and the SDK apply: its image on the image allow-list, and, where the
 * registry lists models, every model it serves with an attested digest on that list. An agent
 * that is not allowed leaves its jobs to their lease instead of running them.
 */
export function policyRefusal(reading: PolicyReading, self: AgentSelf): string | undefined {
  if (self.image !== undefined && !imageAllowed(reading, self.tier, self.image))
    return `this worker's image is not on the policy registry's allow-list (policy v${reading.version})`;
  const refused = refusedModel(reading, self.models, self.modelDigests);
  if (refused)
    return refused.digest === undefined
      ? `model ${refused.model} is served without an attested digest while the policy registry lists models (policy v${reading.version})`
      : `model ${refused.model} digest ${refused.digest} is not on the policy registry's allow-list (policy v${reading.version})`;
  return undefined;
}

export class CoordinatorKeyError extends Error {
  override readonly name = "CoordinatorKeyError";
  readonly code = "coordinator_key_not_on_chain";
}

/**
 * issue 15: a payout voucher is the coordinator's signature a worker handles; it must verify
 * under the coordinator key on the registry (a fresh reading: a stale one throws
 * PolicyStaleError) before the agent sends or shows it. A voucher signed by any other key throws
 * CoordinatorKeyError, and nothing is sent.
 */
export const voucherCheck =
  (registry: PolicyCache) =>
  async (v: Voucher): Promise<void> => {
    const r = await registry.current();
    // The vault's hashing carries @ton/core: loaded only when a registry is configured.
    const { voucherSignedBy } = await import("../ton/registry");
    if (!voucherSignedBy(v, r.policy.coordinatorKey))
      throw new CoordinatorKeyError(
        `the payout voucher for ${v.cumulative} nanoTON is not signed by the coordinator key on the policy registry (v${r.version}, ${r.policy.coordinatorKey.slice(0, 16)}…): not sent`,
      );
  };
