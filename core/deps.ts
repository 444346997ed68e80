import type { CoreConfig } from "./config";
import type { Clock, Log, Notifier, Queues, Random, ReplayGuard, Store } from "./ports";
import type { Policy } from "./attestation/policy";
import type { PolicyCache } from "./policy-registry";
import type { RelaySessionVendor } from "./relay-access";

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
  /**
   * Vends relay credentials where the relay is not the coordinator's own (AWS: SQS or IoT Core,
   * functions/adapters/relay-sessions.ts): the relay session routes, and dispatch, which puts the
   * worker's session into the job it sends (issue 12: no session request per job). Absent: the
   * HTTP relay (locally), and nothing rides in the dispatch.
   */
  relaySessions?: RelaySessionVendor;
}
