import type { CoreDeps } from "../core/deps";
import type { DepsProvider } from "./deps";
import { lazyRelaySessionsFromEnv } from "./adapters/relay-sessions";

/**
 * A provider's deps plus the relay's session vendor where the stack gives this function the relay
 * environment (issue 12): the two relay session routes, and the functions that dispatch jobs
 * (POST /v1/jobs, the matching consumer), which put the worker's relay session into each job they
 * send, so the agent asks the coordinator nothing per job. The vendor and its SDK clients load on
 * its first call (adapters/relay-sessions.ts), not at cold start. Without the environment: the
 * deps as they were (the HTTP relay; nothing rides in the dispatch).
 */
export function withRelaySessions(provider: DepsProvider, env: Record<string, string | undefined> = process.env): DepsProvider {
  let cached: Promise<CoreDeps> | undefined;
  return () => {
    cached ??= provider()
      .then((core) => {
        if (core.relaySessions) return core;
        const relaySessions = lazyRelaySessionsFromEnv(env);
        return relaySessions ? { ...core, relaySessions } : core;
      })
      .catch((e) => ((cached = undefined), Promise.reject(e)));
    return cached;
  };
}
