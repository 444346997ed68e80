/**
 * Prices that change during a run (test/sim/sim.ts): the simulator's own record of every price
 * the coordinator could quote, to hold quotes, jobs and settlements against.
 *
 * Where a price comes from in the real code: a worker's offer keeps the coefficient it registered
 * (`priceBps`; a worker changes its price only by registering again, a heartbeat carries none),
 * and prepare quotes `ceil(base × priceBps / 10 000)` with the configured base (no registry: the
 * offer's own pricePerToken, computed at its registration) or, with a policy registry, the
 * registry's base for the model's attested weight digest and its weights of the moment, read
 * through a PolicyCache (core/policy-registry.ts). The quote, MAC'd, is the job's price: submit
 * copies its candidates' prices and weights onto the job and settlement bills them.
 *
 * So a quote must name, for each candidate, a price in force at some moment of its prepare (the
 * offer's coefficient then, times the registry's base at a reading the cache could have served
 * then: no older than its refresh interval), and weights in force then too.
 */
import {
  DEV_IMAGE_DIGEST,
  registryPricePerToken,
  type PolicyReading,
  type PolicySource,
  type RegistryPolicy,
} from "../../core/policy-registry";
import { pricePerToken, type PricingConfig } from "../../core/pricing";

/** The weight digest sim agents attest for the model in seeds with a registry (its allow-list names it, at a base of its own). */
export const SIM_MODEL_DIGEST = "5a".repeat(32);

interface Version<T> {
  /** simulated time it came into force */
  t: number;
  v: T;
}

/** The versions of a history in force at some moment of [from, now]: the last one from before, and every one since. */
function inForceSince<T>(history: Array<Version<T>>, from: number): T[] {
  let first = 0;
  for (let i = 0; i < history.length; i++) if (history[i]!.t < from) first = i;
  return history.slice(first).map((x) => x.v);
}

export class SimPrices {
  /** workerId → its offer's committed coefficient for the model (undefined: the offer was deleted) */
  private readonly offers = new Map<string, Array<Version<number | undefined>>>();
  /** the registry's policy, version by version (empty: the seed runs without a registry) */
  private readonly policies: Array<Version<RegistryPolicy>> = [];

  constructor(
    private readonly o: {
      pricing: PricingConfig;
      model: string;
      now: () => number;
      /** the registry's first policy (absent: no registry) */
      policy?: RegistryPolicy;
      /** the coordinator's PolicyCache refresh interval (a reading it acts on is at most this old) */
      refreshMs: number;
    },
  ) {
    if (o.policy) this.policies.push({ t: o.now(), v: o.policy });
  }

  /** the coordinator's PolicyCache refresh interval, ms */
  get refreshMs(): number {
    return this.o.refreshMs;
  }

  get registry(): boolean {
    return this.policies.length > 0;
  }

  /** The registry's policy now (undefined without a registry). */
  get policy(): RegistryPolicy | undefined {
    return this.policies.at(-1)?.v;
  }

  /** The owners change the registry's policy (takes effect at once on chain; the coordinator sees it at its next refresh). */
  setPolicy(p: RegistryPolicy) {
    this.policies.push({ t: this.o.now(), v: p });
  }

  /** The chain reader the coordinator's PolicyCache reads: the policy of the moment, read now. */
  source(): PolicySource {
    return {
      read: async (): Promise<PolicyReading> => ({
        version: this.policies.length,
        updatedAt: Math.floor(this.policies.at(-1)!.t / 1000),
        policy: this.policy!,
        readAt: Math.floor(this.o.now() / 1000),
      }),
    };
  }

  /** An offer of the model committed (or deleted) in the store. */
  offerCommitted(workerId: string, priceBps: number | undefined) {
    const h = this.offers.get(workerId) ?? [];
    if (h.at(-1)?.v !== priceBps || h.length === 0) h.push({ t: this.o.now(), v: priceBps });
    this.offers.set(workerId, h);
  }

  /** The price a prepare quotes for a coefficient under a policy (none: the configured base). */
  private priceOf(policy: RegistryPolicy | undefined, priceBps: number): bigint {
    return policy
      ? registryPricePerToken({ version: 0, updatedAt: 0, readAt: 0, policy }, SIM_MODEL_DIGEST, priceBps)
      : pricePerToken(this.o.pricing, this.o.model, priceBps);
  }

  /** The price a prepare would quote the worker at now (undefined: no offer). */
  priceNow(workerId: string): bigint | undefined {
    const bps = this.offers.get(workerId)?.at(-1)?.v;
    return bps === undefined ? undefined : this.priceOf(this.policy, bps);
  }

  /** The policies a reading used between `from` and now could hold (the cache serves one up to refreshMs old). */
  private policiesSince(from: number): Array<RegistryPolicy | undefined> {
    return this.registry ? inForceSince(this.policies, from - this.o.refreshMs) : [undefined];
  }

  /** Every price the worker could be quoted at by a prepare that ran from `from` until now. */
  pricesSince(workerId: string, from: number): Set<string> {
    const out = new Set<string>();
    const policies = this.policiesSince(from);
    for (const bps of inForceSince(this.offers.get(workerId) ?? [], from)) {
      if (bps === undefined) continue;
      for (const p of policies) out.add(this.priceOf(p, bps).toString());
    }
    return out;
  }

  /** The weights (promptBps/completionBps) a request that ran from `from` until now could have read. */
  weightsSince(from: number): Set<string> {
    return new Set(
      this.policiesSince(from).map((p) =>
        p ? `${p.fees.promptBps}/${p.fees.completionBps}` : `${this.o.pricing.promptBps}/${this.o.pricing.completionBps}`,
      ),
    );
  }

  /** With a registry: the operator fees a request that ran from `from` until now could have read. */
  feesSince(from: number): number[] {
    return this.registry ? this.policiesSince(from).map((p) => p!.fees.operatorFeeBps) : [];
  }
}

/** The registry's first policy in a seed with one: the dev image, the model's digest at its own base, the configured weights. */
export function simRegistryPolicy(pricing: PricingConfig, operatorFeeBps: number, modelBase: bigint): RegistryPolicy {
  return {
    coordinatorKey: "00".repeat(32),
    fees: {
      pricePerToken: pricing.defaultBasePerToken,
      promptBps: pricing.promptBps,
      completionBps: pricing.completionBps,
      operatorFeeBps,
    },
    images: [DEV_IMAGE_DIGEST],
    models: { [SIM_MODEL_DIGEST]: modelBase },
  };
}
