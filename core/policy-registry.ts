/**
 * Policy read from the PolicyRegistry contract (contracts/registry.tact): allowed image
 * measurement digests, allowed model digests, fees and the coordinator's key, changed only by
 * the contract's m-of-n multisig with a time lock. The coordinator, the agent and the SDK read
 * it through a PolicySource (a chain reader: the sandbox locally, toncenter on AWS), keep it in
 * a PolicyCache with the chain time of the read, and refuse to act on a reading older than a
 * bound (PolicyStaleError, 503 `policy_stale`): a coordinator cut off from the chain must not
 * keep matching workers the owners may have removed since.
 *
 * How a worker's image is named on chain: tdx: measurementDigest (SHA-256 over mrtd | rtmr0 |
 * rtmr1 | rtmr2, the same function as contracts/registry.ts); dev (SIMULATED, local default
 * only): DEV_IMAGE_DIGEST, so the local registry can list and delist simulated workers like
 * real images; none: no image, not on any allow-list (openly not confidential, chosen only by
 * requesters who ask for tier none).
 *
 * Pure core: no TON client here (the readers live in ton/registry.ts and local/).
 */
import { createHash } from "node:crypto";
import type { AttestationTier } from "../events/attestation";
import type { RegistryPolicyBody } from "../events/receipts";
import { DEV_MEASUREMENT } from "./attestation/dev";
import type { Policy as AttestationPolicy } from "./attestation/policy";
import { CocoonError } from "./errors";
import type { PricingConfig } from "./pricing";

export interface RegistryFees {
  /** default base price per token, nanoTON */
  pricePerToken: bigint;
  promptBps: number;
  completionBps: number;
  /** share of each job's cost the operator keeps, 0..10_000 */
  operatorFeeBps: number;
}

/** The registry's policy in plain TS (hex strings, bigints): what contracts/registry.ts Policy holds. */
export interface RegistryPolicy {
  /** 64 lower-case hex: the coordinator's Ed25519 public key */
  coordinatorKey: string;
  fees: RegistryFees;
  /** allowed image measurement digests, 64 lower-case hex, ascending */
  images: string[];
  /** allowed model digests → base price per token (0n: fees.pricePerToken) */
  models: Record<string, bigint>;
}

export interface PolicyReading {
  version: number;
  /** chain time (s) of the last executed change */
  updatedAt: number;
  policy: RegistryPolicy;
  /** chain time (s) of the state this reading comes from */
  readAt: number;
}

/** A chain reader of the registry's `policyState` getter (sandbox, toncenter, or a test's). */
export interface PolicySource {
  read(): Promise<PolicyReading>;
}

export class PolicyStaleError extends CocoonError {
  constructor(message: string) {
    super(503, "policy_stale", message);
    this.name = "PolicyStaleError";
  }
}

export interface PolicyCacheOptions {
  /** Re-read the chain when the cached reading is older than this (s). */
  refreshSeconds: number;
  /** Refuse to act on a reading whose chain time is older than this (s). */
  maxAgeSeconds: number;
  /** ms */
  now: () => number;
  /** told when a refresh fails (the cached reading is used while it is young enough) */
  onError?: (e: unknown) => void;
}

/** Local default: refresh every 2 s, act on nothing older than 60 s. */
export const LOCAL_POLICY_CACHE = { refreshSeconds: 2, maxAgeSeconds: 60 } as const;
/** AWS: one toncenter read per minute per container at most, and nothing older than 10 minutes. */
export const DEFAULT_POLICY_CACHE = { refreshSeconds: 60, maxAgeSeconds: 600 } as const;

/** The latest reading of a PolicySource, refreshed every `refreshSeconds`, never served past `maxAgeSeconds`. */
export class PolicyCache {
  private reading: PolicyReading | undefined;
  private fetchedAt = -Infinity;
  private inflight: Promise<PolicyReading> | undefined;

  constructor(
    readonly source: PolicySource,
    readonly opts: PolicyCacheOptions,
  ) {}

  /** The reading to act on; throws PolicyStaleError when no reading young enough can be had. */
  async current(): Promise<PolicyReading> {
    const now = this.opts.now();
    if (!this.reading || now - this.fetchedAt >= this.opts.refreshSeconds * 1000) {
      try {
        await this.refresh();
      } catch (e) {
        this.opts.onError?.(e);
      }
    }
    const r = this.reading;
    if (!r) throw new PolicyStaleError("the policy registry could not be read; nothing is matched or accepted until it can");
    const age = now / 1000 - r.readAt;
    if (age > this.opts.maxAgeSeconds) {
      throw new PolicyStaleError(
        `the newest policy read from the registry is ${Math.round(age)} s old (limit ${this.opts.maxAgeSeconds} s); nothing is matched or accepted until a fresh read`,
      );
    }
    return r;
  }

  /** Reads the chain now (concurrent callers share one read). */
  refresh(): Promise<PolicyReading> {
    this.inflight ??= this.source
      .read()
      .then((r) => {
        this.reading = r;
        this.fetchedAt = this.opts.now();
        return r;
      })
      .finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  /** The cached reading, without refreshing or checking its age (status displays). */
  peek(): PolicyReading | undefined {
    return this.reading;
  }
}

// ---------------------------------------------------------------- images

const HEX48 = /^[0-9a-f]{96}$/;

/** SHA-256 over mrtd | rtmr0 | rtmr1 | rtmr2 (48 bytes each): the registry's image digest (= contracts/registry.ts measurementDigest). */
export function measurementDigest(m: { mrtd: string; rtmr0: string; rtmr1: string; rtmr2: string }): string {
  const parts = [m.mrtd, m.rtmr0, m.rtmr1, m.rtmr2].map((h) => {
    if (!HEX48.test(h)) throw new Error("each TDX measurement register is 48 bytes of lower-case hex");
    return Buffer.from(h, "hex");
  });
  return createHash("sha256").update(Buffer.concat(parts)).digest("hex");
}

/** The image digest of SIMULATED (dev) workers: listed by the local default's registry, never by a production one. */
export const DEV_IMAGE_DIGEST = createHash("sha256").update(`cocoon/v1/dev-image\n${DEV_MEASUREMENT}`).digest("hex");

/** The on-chain name of a worker's image (undefined for tier none, or a tdx verdict without its registers). */
export function imageDigestOf(v: {
  tier: AttestationTier;
  registers?: { mrtd: string; rtmr0: string; rtmr1: string; rtmr2: string };
}): string | undefined {
  if (v.tier === "dev") return DEV_IMAGE_DIGEST;
  if (v.tier === "tdx" && v.registers) return measurementDigest(v.registers);
  return undefined;
}

/** Whether an offer or worker of this tier and image may be matched under `reading`. */
export function imageAllowed(reading: PolicyReading, tier: AttestationTier, image: string | undefined): boolean {
  if (tier === "none") return true; // no image claimed; requesters opt into it explicitly
  return image !== undefined && reading.policy.images.includes(image);
}

export class ImageNotAllowedError extends CocoonError {
  constructor(image: string | undefined, version: number) {
    super(
      403,
      "attestation_image_not_in_registry",
      `the worker's image ${image ?? "(unknown)"} is not on the policy registry's allow-list (policy v${version})`,
    );
    this.name = "ImageNotAllowedError";
  }
}

// ---------------------------------------------------------------- the local default's first policy

/**
 * A registry policy seeded from the repository's attestation policy (images that pin
 * rtmr0..rtmr2, model digests of 32 bytes), the pricing config and the coordinator's key;
 * `devImage` adds DEV_IMAGE_DIGEST (local default only).
 */
export function seedRegistryPolicy(o: {
  attestation: AttestationPolicy;
  pricing: PricingConfig;
  coordinatorKey: string;
  devImage?: boolean;
  operatorFeeBps?: number;
}): RegistryPolicy {
  const images = new Set<string>();
  for (const m of o.attestation.measurements) {
    if (m.rtmr0 && m.rtmr1 && m.rtmr2) images.add(measurementDigest({ mrtd: m.mrtd, rtmr0: m.rtmr0, rtmr1: m.rtmr1, rtmr2: m.rtmr2 }));
  }
  if (o.devImage) images.add(DEV_IMAGE_DIGEST);
  const models: Record<string, bigint> = {};
  for (const [name, digests] of Object.entries(o.attestation.models)) {
    for (const d of digests) if (/^[0-9a-f]{64}$/.test(d)) models[d] = o.pricing.basePerToken[name] ?? 0n;
  }
  if (!/^[0-9a-f]{64}$/.test(o.coordinatorKey)) throw new Error("coordinatorKey must be 32 bytes of lower-case hex");
  return {
    coordinatorKey: o.coordinatorKey,
    fees: {
      pricePerToken: o.pricing.defaultBasePerToken,
      promptBps: o.pricing.promptBps,
      completionBps: o.pricing.completionBps,
      operatorFeeBps: o.operatorFeeBps ?? 0,
    },
    images: [...images].sort(),
    models,
  };
}

/** The registry policy on the wire (amounts as decimal strings) and back. */
export const policyToBody = (p: RegistryPolicy): RegistryPolicyBody => ({
  coordinatorKey: p.coordinatorKey,
  fees: { ...p.fees, pricePerToken: p.fees.pricePerToken.toString() },
  images: [...p.images],
  models: Object.fromEntries(Object.entries(p.models).map(([k, v]) => [k, v.toString()])),
});
export const policyFromBody = (b: RegistryPolicyBody): RegistryPolicy => ({
  coordinatorKey: b.coordinatorKey,
  fees: { ...b.fees, pricePerToken: BigInt(b.fees.pricePerToken) },
  images: [...new Set(b.images)].sort(),
  models: Object.fromEntries(Object.entries(b.models).map(([k, v]) => [k, BigInt(v)])),
});
