import type { CoreConfig } from "./config";
import type { Clock, Log, Notifier, Queues, Store } from "./ports";
import type { Policy } from "./attestation/policy";

/** Everything a core use case needs from the world, passed explicitly. */
export interface CoreDeps {
  store: Store;
  queues: Queues;
  notifier: Notifier;
  clock: Clock;
  log: Log;
  config: CoreConfig;
  policy: Policy;
}
