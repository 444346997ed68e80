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
 * On AWS the request routes do not read the chain themselves: the chain watcher reads the
 * registry each pass and keeps the reading in the store (publishPolicySnapshot), and the routes
 * read that (StorePolicySource) through the same PolicyCache and the same age bound, measured
 * on the chain time of the watcher's read. So no request handler carries a TON client.
 *
 * Pure core: no TON client here (the readers live in ton/registry.ts and local/).
 */
import { createHash } from "node:crypto";
import type { AttestationTier } from "../events/attestation";
import { RegistryPolicyBody } from "../events/receipts";
import { DEV_MEASUREMENT } from "./attestation/dev";
import type { Policy as AttestationPolicy } from "./attestation/policy";
import { CocoonError, UnavailableError } from "./errors";
import { ConditionFailedError, type Item, type Store } from "./ports";
import { pricePerTokenFromBase, type PricingConfig } from "./pricing";

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

export class PolicyStaleError extends UnavailableError {
  constructor(message: string) {
    super("policy_stale", message, 1);
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
    // its age when it is handed over, not when the call began: a refresh waited on (a reader's
    // timeout) and then failed may have let the reading grow past the bound meanwhile
    const age = this.opts.now() / 1000 - r.readAt;
    if (age > this.opts.maxAgeSeconds) {
      throw new PolicyStaleError(
        `the newest policy read from the registry is ${Math.round(age)} s old (limit ${this.opts.maxAgeSeconds} s); nothing is matched or accepted until a fresh read`,
      );
    }
    return r;
  }

  /**
   * Reads the chain now (concurrent callers share one read). A reading older than the one held
   * (a lagging reader) never replaces it; one already past the age bound does not count as a
   * refresh, so the next call reads again rather than answering policy_stale for `refreshSeconds`
   * after the reader caught up (found by the fault simulation: seed 35250, a registry read frozen
   * at an outage's start, then refused for good while the drain's clock stood still).
   */
  refresh(): Promise<PolicyReading> {
    this.inflight ??= this.source
      .read()
      .then((r) => {
        const now = this.opts.now();
        if (!this.reading || r.readAt >= this.reading.readAt) this.reading = r;
        if (now / 1000 - this.reading.readAt <= this.opts.maxAgeSeconds) this.fetchedAt = now;
        return this.reading;
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

// ---------------------------------------------------------------- models (issue 15)

/**
 * Whether the registry holds a model allow-list at all: a policy that lists no model digest
 * (the local default's first one, seeded from an empty policy.json) checks no model, as the
 * attestation policy checks no model it does not name. Once it lists one, every model a worker
 * offers must carry a listed digest.
 */
export const modelListInForce = (reading: PolicyReading): boolean => Object.keys(reading.policy.models).length > 0;

/**
 * Whether a worker that attests `digest` for a model may serve it under `reading`: with the
 * allow-list in force the digest must be listed (a model offered without one is refused, every
 * tier alike: the list names weights, not images).
 */
export function modelAllowed(reading: PolicyReading, digest: string | undefined): boolean {
  if (!modelListInForce(reading)) return true;
  return digest !== undefined && Object.hasOwn(reading.policy.models, digest.toLowerCase());
}

export class ModelNotAllowedError extends CocoonError {
  constructor(model: string, digest: string | undefined, version: number) {
    super(
      403,
      "model_not_in_registry",
      digest === undefined
        ? `model "${model}" is offered without a weight digest, and the policy registry's model allow-list is in force (policy v${version}): attest the digest of the weights served (modelDigests)`
        : `model "${model}" digest ${digest} is not on the policy registry's model allow-list (policy v${version})`,
    );
    this.name = "ModelNotAllowedError";
  }
}

/** The first model of `models` a worker attesting `digests` may not serve under `reading` (undefined: all allowed). */
export function refusedModel(
  reading: PolicyReading,
  models: string[],
  digests: Record<string, string> | undefined,
): { model: string; digest: string | undefined } | undefined {
  for (const model of models) {
    const digest = digests && Object.hasOwn(digests, model) ? digests[model] : undefined;
    if (!modelAllowed(reading, digest)) return { model, digest };
  }
  return undefined;
}

/**
 * What matching and the listing ask of an offer under `reading` (one rule for both, so
 * GET /v1/models counts exactly the workers that could be matched): its image on the image
 * allow-list (tier none: no image), its model's digest on the model allow-list when in force.
 */
export function offerAllowed(
  reading: PolicyReading,
  o: { tier: AttestationTier; image?: string | undefined; modelDigest?: string | undefined },
): boolean {
  return imageAllowed(reading, o.tier, o.image) && modelAllowed(reading, o.modelDigest);
}

// ---------------------------------------------------------------- fees (issue 15)

/**
 * The pricing the coordinator bills with under `reading`: the registry's default price per
 * token and weights replace the configured ones (a model's own base price is by digest, see
 * registryPricePerToken, not by name). Nothing of `base` survives but the shape.
 */
export function registryPricing(reading: PolicyReading): PricingConfig {
  const f = reading.policy.fees;
  return { basePerToken: {}, defaultBasePerToken: f.pricePerToken, promptBps: f.promptBps, completionBps: f.completionBps };
}

/** A worker's price per token for a model whose weights hash to `digest`: the registry's base for that digest (0 or unlisted: the default), times the worker's coefficient. */
export function registryPricePerToken(reading: PolicyReading, digest: string | undefined, workerPriceBps: number): bigint {
  // lower-cased as modelAllowed does: a digest the allow-list admits is priced at its listed base
  const key = digest?.toLowerCase();
  const listed = key !== undefined && Object.hasOwn(reading.policy.models, key) ? reading.policy.models[key]! : 0n;
  return pricePerTokenFromBase(listed > 0n ? listed : reading.policy.fees.pricePerToken, workerPriceBps);
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

// ---------------------------------------------------------------- the store snapshot (AWS)

/** Where the newest reading of the registry is kept (table "chain": what the chain watcher writes). */
export const POLICY_SNAPSHOT_KEY = { pk: "policy-registry", sk: "snapshot" } as const;

interface SnapshotItem extends Item {
  /** the registry's address as configured (the watcher's and the routes' COCOON_REGISTRY_ADDRESS) */
  registry: string;
  version: number;
  updatedAt: number;
  readAt: number;
  policy: RegistryPolicyBody;
}

export class PolicySnapshotError extends Error {
  override readonly name = "PolicySnapshotError";
  readonly code = "policy_snapshot_unusable";
}

/**
 * The registry's reading as the chain watcher last stored it: what the AWS request routes read
 * instead of the chain. A missing, malformed or other registry's snapshot throws, so the
 * PolicyCache over it answers 503 policy_stale exactly as over an unreachable chain; an old one
 * is refused by the cache's age bound on its `readAt` (the chain time of the watcher's read).
 */
export class StorePolicySource implements PolicySource {
  constructor(
    private readonly store: Store,
    /** the registry the routes are configured with; a snapshot of another is not used */
    readonly registry: string,
  ) {}

  async read(): Promise<PolicyReading> {
    const it = await this.store.get<SnapshotItem>("chain", POLICY_SNAPSHOT_KEY);
    if (!it) throw new PolicySnapshotError("no policy snapshot in the store yet: the chain watcher writes one on each pass");
    if (it.registry !== this.registry) {
      throw new PolicySnapshotError(`the policy snapshot is of registry ${it.registry}, not of the configured ${this.registry}`);
    }
    const policy = RegistryPolicyBody.safeParse(it.policy);
    const n = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
    if (!policy.success || !n(it.version) || !n(it.updatedAt) || !n(it.readAt)) {
      throw new PolicySnapshotError("the policy snapshot in the store is malformed");
    }
    return { version: it.version, updatedAt: it.updatedAt, readAt: it.readAt, policy: policyFromBody(policy.data) };
  }
}

/**
 * Stores `reading` of `registry` as the snapshot the routes read, unless the store already holds
 * one of the same registry read at the same chain time or later (two overlapping watcher passes
 * never move it back to an older state). Returns whether it was written.
 */
export async function publishPolicySnapshot(store: Store, registry: string, reading: PolicyReading): Promise<boolean> {
  const item: SnapshotItem = {
    ...POLICY_SNAPSHOT_KEY,
    registry,
    version: reading.version,
    updatedAt: reading.updatedAt,
    readAt: reading.readAt,
    policy: policyToBody(reading.policy),
  };
  // A write that lost a race to another pass reads again: it wins only over an older snapshot.
  for (let attempt = 0; attempt < 3; attempt++) {
    const current = await store.get<SnapshotItem>("chain", POLICY_SNAPSHOT_KEY);
    if (current && current.registry === registry && current.readAt >= reading.readAt) return false;
    try {
      await store.transact([
        {
          op: "put",
          table: "chain",
          item,
          // what was read above, still there: a snapshot written meanwhile is compared again
          when: current
            ? {
                kind: "and",
                all: [
                  { kind: "cmp", attr: "readAt", op: "=", value: current.readAt },
                  { kind: "cmp", attr: "registry", op: "=", value: current.registry },
                ],
              }
            : { kind: "notExists" },
        },
      ]);
      return true;
    } catch (e) {
      if (!(e instanceof ConditionFailedError)) throw e;
    }
  }
  return false;
}
