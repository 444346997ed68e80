import type { CoreConfig } from "./config";
import type { Clock, Log, Notifier, Queues, Random, ReplayGuard, Store } from "./ports";
import type { Policy } from "./attestation/policy";
import type { PolicyCache } from "./policy-registry";

/** Everything a core use case needs from the world, passed explicitly. */
export interface CoreDeps {
  store: Store;
  queues: Queues;
  notifier: Notifier;
  clock: Clock;
  log: Log;
  config: CoreConfig;
  policy: Policy;
  /** Where request nonces are remembered; default: the store (one conditional write per request). */
  replay?: ReplayGuard;
  /** The on-chain policy registry (issue 15): when set, only workers whose image it lists are registered and matched. */
  policyRegistry?: PolicyCache;
  /** Randomness for ids and matching samples; default node:crypto (the simulation seeds it). */
  random?: Random;
}
