import type { CoreDeps } from "../core/deps";

/**
 * Where a handler gets its adapters. On Lambda: built once per cold start from env
 * (COCOON_RUNTIME=aws). The local server passes its own provider instead, so one process
 * can host the same handlers over embedded adapters.
 */
export type DepsProvider = () => Promise<CoreDeps>;

let cached: Promise<CoreDeps> | undefined;

export const lambdaDeps: DepsProvider = () => {
  cached ??= (async () => {
    const { loadAwsConfig } = await import("./config");
    const { createAwsDeps } = await import("./adapters/aws-deps");
    return createAwsDeps(loadAwsConfig());
  })();
  return cached;
};
