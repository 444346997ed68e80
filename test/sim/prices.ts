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
 * offer's coefficient then, times the registry's base of a reading the cache handed a request
 * meanwhile), and weights of such a reading too.
 *
 * The registry is not always readable: during an outage (SimPrices.startOutage) its reads fail,
 * hang until they time out, or answer a state frozen at the outage's start. Every request's deps
 * carry a view of the process's real PolicyCache (RequestPolicyView) that tells the simulator each
 * reading handed over and each refusal (503 policy_stale), which ./checks.ts holds to the cache's
 * age bound (by the simulated chain's clock) and to recovery (a refusal only when a read went
 * wrong and no young enough reading had been answered).
 */
import {
  DEV_IMAGE_DIGEST,
  PolicyCache,
  PolicyStaleError,
  registryPricePerToken,
  type PolicyCacheOptions,
  type PolicyReading,
  type PolicySource,
  type RegistryPolicy,
} from "../../core/policy-registry";
import { pricePerToken, type PricingConfig } from "../../core/pricing";
import type { Prng } from "./prng";

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

/** What an offer of the model holds as committed, of what matching reads: the coefficient, the heartbeat, the evidence's expiry. */
export interface OfferState {
  priceBps: number;
  lastHeartbeat: number;
  attestationExpiresAt: number;
}

/**
 * How a read of the registry goes wrong during an outage (SimPrices.startOutage): it fails at once
 * (the reader's error), hangs until it times out, or answers the state frozen at the outage's start
 * (on AWS the routes read the chain watcher's snapshot, core/policy-registry.ts StorePolicySource: a
 * watcher that stops passing leaves it as it was, never older than what it served before, while
 * its chain time grows old).
 */
export type RegistryFault = "fail" | "slow" | "frozen";

/** The longest a slow read of the registry hangs before it fails (simulated ms). */
const REGISTRY_READ_TIMEOUT_MS = 20_000;

/** What the coordinator's PolicyCache did with a request's call (ObservedPolicyCache). */
export interface PolicyCacheHooks {
  /** it handed the request `reading` to act on (the request called at `began`) */
  acted: (reading: PolicyReading, began: number) => void;
  /** it refused the request: 503 policy_stale */
  refused: () => void;
}

/**
 * The coordinator process's PolicyCache: the real one, told each state a read of the registry
 * answered it (after it kept it).
 */
class DeliveredPolicyCache extends PolicyCache {
  constructor(
    source: PolicySource,
    opts: PolicyCacheOptions,
    private readonly delivered: (r: PolicyReading) => void,
  ) {
    super(source, opts);
  }

  override refresh(): Promise<PolicyReading> {
    const p = super.refresh();
    // attached after the cache's own `then`: runs once it has kept the reading
    p.then(this.delivered, () => {});
    return p;
  }
}

/**
 * One request's view of its process's cache (what its deps carry): each reading the cache hands
 * it to act on, and each refusal, is told to the simulator while the request lives (a request its
 * runtime killed, or a crash cut, still runs on in the simulator's microtasks, answering nobody).
 */
class RequestPolicyView extends PolicyCache {
  constructor(
    private readonly shared: PolicyCache,
    private readonly alive: () => boolean,
    private readonly hooks: PolicyCacheHooks,
  ) {
    super(shared.source, shared.opts);
  }

  override async current(): Promise<PolicyReading> {
    const began = this.opts.now();
    try {
      const r = await this.shared.current();
      if (this.alive()) this.hooks.acted(r, began);
      return r;
    } catch (e) {
      if (e instanceof PolicyStaleError && this.alive()) this.hooks.refused();
      throw e;
    }
  }

  override refresh(): Promise<PolicyReading> {
    return this.shared.refresh();
  }

  override peek(): PolicyReading | undefined {
    return this.shared.peek();
  }
}

export class SimPrices {
  /** workerId → its offer of the model as committed (undefined: the offer was deleted) */
  private readonly offers = new Map<string, Array<Version<OfferState | undefined>>>();
  /** the registry's policy, version by version (empty: the seed runs without a registry) */
  private readonly policies: Array<Version<RegistryPolicy>> = [];
  /** each reading the simulated registry answered → the chain time (ms) of the state it holds, whatever its readAt says */
  private readonly dataAt = new WeakMap<PolicyReading, number>();
  /** the coordinator process's cache (a crash starts a new, empty one) */
  private gen = 0;
  /** what this process's cache handed requests to act on, oldest first */
  private acted: Array<{ t: number; policy: RegistryPolicy }> = [];
  /** the chain time (ms) of the newest state this process's cache was answered */
  private newestDelivered: number | undefined;
  /** the registry's latest outage: reads go wrong from `from` until `until` */
  private outage: { from: number; until: number; faults: Array<readonly [RegistryFault, number]> } | undefined;
  /** slow reads in flight, each failing at `at` */
  private slow: Array<{ at: number; fail: (e: Error) => void }> = [];
  /** when a read last went wrong (failed, timed out, or was answered a frozen state) */
  private wrongAt = -Infinity;

  constructor(
    private readonly o: {
      pricing: PricingConfig;
      model: string;
      now: () => number;
      /** the registry's first policy (absent: no registry) */
      policy?: RegistryPolicy;
      /** the coordinator's PolicyCache refresh interval */
      refreshMs: number;
      /** the registry's faults' draws (which fault a read during an outage meets, how long a slow one hangs) */
      rng?: Prng;
      count?: (what: string) => void;
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

  /** The owners change the registry's policy (takes effect at once on chain; the coordinator sees it at its next read). */
  setPolicy(p: RegistryPolicy) {
    this.policies.push({ t: this.o.now(), v: p });
  }

  /** A new coordinator process's PolicyCache over the simulated registry (empty; the last process's is dropped). */
  newCache(opts: PolicyCacheOptions): PolicyCache {
    const gen = ++this.gen;
    this.acted = [];
    this.newestDelivered = undefined;
    return new DeliveredPolicyCache(this.source(), opts, (r) => {
      const at = this.dataAt.get(r);
      if (gen === this.gen && at !== undefined && (this.newestDelivered ?? -Infinity) < at) this.newestDelivered = at;
    });
  }

  /** A request's view of `cache` (its deps' policyRegistry): what it is handed while it lives is logged, then told to `hooks`. */
  view(cache: PolicyCache, alive: () => boolean, hooks: PolicyCacheHooks): PolicyCache {
    return new RequestPolicyView(cache, alive, {
      acted: (r, began) => {
        this.acted.push({ t: this.o.now(), policy: r.policy });
        hooks.acted(r, began);
      },
      refused: hooks.refused,
    });
  }

  /** The chain reader: the policy of the moment, read now; during an outage a read fails, hangs, or answers a frozen state. */
  private source(): PolicySource {
    return {
      read: (): Promise<PolicyReading> => {
        const now = this.o.now();
        const out = this.outage && now < this.outage.until ? this.outage : undefined;
        const fault = out ? this.o.rng!.weighted(out.faults) : undefined;
        if (fault) this.o.count?.(`registry reads ${fault}`);
        if (fault === "fail" || fault === "frozen") this.wrongAt = now;
        if (fault === "fail") return Promise.reject(new Error("the policy registry could not be read (simulated outage)"));
        if (fault === "slow") {
          const at = now + this.o.rng!.range(1_000, REGISTRY_READ_TIMEOUT_MS);
          return new Promise((_, fail) => this.slow.push({ at, fail }));
        }
        const at = fault === "frozen" ? out!.from : now;
        let i = this.policies.length - 1;
        while (i > 0 && this.policies[i]!.t > at) i--;
        const reading: PolicyReading = {
          version: i + 1,
          updatedAt: Math.floor(this.policies[i]!.t / 1000),
          policy: this.policies[i]!.v,
          readAt: Math.floor(at / 1000),
        };
        this.dataAt.set(reading, at);
        return Promise.resolve(reading);
      },
    };
  }

  /** The chain time (ms) of the state a reading holds (undefined: the simulated registry never answered it). */
  dataAtOf(r: PolicyReading): number | undefined {
    return this.dataAt.get(r);
  }

  /** The chain time (ms) of the newest state the current process's cache was answered (undefined: none yet). */
  get newest(): number | undefined {
    return this.newestDelivered;
  }

  /** The registry's reads go wrong for `ms` from now (one outage at a time). */
  startOutage(ms: number, faults: Array<readonly [RegistryFault, number]>) {
    const now = this.o.now();
    this.outage = { from: now, until: now + ms, faults };
  }

  /** whether an outage is in force now */
  get down(): boolean {
    return this.outage !== undefined && this.o.now() < this.outage.until;
  }

  /** The outage (if any) ends now. */
  endOutage() {
    if (this.outage && this.outage.until > this.o.now()) this.outage.until = this.o.now();
  }

  /** When a read of the registry last went wrong (failed, timed out, or was answered a frozen state). */
  get lastWrong(): number {
    return this.wrongAt;
  }

  /** Slow reads whose time has come fail (the reader's timeout). */
  tick() {
    const now = this.o.now();
    const due = this.slow.filter((s) => s.at <= now);
    if (!due.length) return;
    this.slow = this.slow.filter((s) => s.at > now);
    this.wrongAt = now;
    for (const s of due) s.fail(new Error("the policy registry's read timed out (simulated outage)"));
  }

  /** when the next slow read fails (undefined: none in flight) */
  get nextSlow(): number | undefined {
    return this.slow.length ? Math.min(...this.slow.map((s) => s.at)) : undefined;
  }

  /** An offer of the model committed (or deleted) in the store. */
  offerCommitted(workerId: string, state: OfferState | undefined) {
    const h = this.offers.get(workerId) ?? [];
    if (h.length === 0 || JSON.stringify(h.at(-1)!.v) !== JSON.stringify(state)) h.push({ t: this.o.now(), v: state });
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
    const bps = this.offers.get(workerId)?.at(-1)?.v?.priceBps;
    return bps === undefined ? undefined : this.priceOf(this.policy, bps);
  }

  /** The policies a request that ran from `from` until now could have acted on: those the cache handed a request meanwhile. */
  private policiesSince(from: number): Array<RegistryPolicy | undefined> {
    if (!this.registry) return [undefined];
    const out = new Set<RegistryPolicy>();
    for (let i = this.acted.length - 1; i >= 0 && this.acted[i]!.t >= from; i--) out.add(this.acted[i]!.policy);
    return [...out];
  }

  /** The offer's states committed at some moment of [from, now] (undefined: no offer then). */
  offerSince(workerId: string, from: number): Array<OfferState | undefined> {
    const h = this.offers.get(workerId);
    return h ? inForceSince(h, from) : [undefined];
  }

  /** Every price the worker could be quoted at by a prepare that ran from `from` until now. */
  pricesSince(workerId: string, from: number): Set<string> {
    const out = new Set<string>();
    const policies = this.policiesSince(from);
    for (const s of this.offerSince(workerId, from)) {
      if (s === undefined) continue;
      for (const p of policies) out.add(this.priceOf(p, s.priceBps).toString());
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
