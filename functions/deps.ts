import type { CoreDeps } from "../core/deps";

/**
 * Where a handler gets its adapters. On Lambda: built once per cold start from env
 * (COCOON_RUNTIME=aws). The local server passes its own provider instead, so one process
 * can host the same handlers over embedded adapters.
 */
export type DepsProvider = () => Promise<CoreDeps>;

let cached: Promise<CoreDeps> | undefined;

/**
 * The lean AWS set (store now; SQS, SNS, STS on first use; no TON): what every route needs.
 * The signing routes use lambdaTonDeps (deps-ton.ts), the routes that register and match
 * workers lambdaRegistryDeps (deps-registry.ts): modules of their own, because a dynamic
 * import here would put their TON chunks into every split bundle.
 */
export const lambdaDeps: DepsProvider = () => {
  cached ??= (async () => {
    const [{ loadAwsConfig }, { createAwsLeanDeps }] = await Promise.all([import("./config"), import("./adapters/aws-lean-deps")]);
    return createAwsLeanDeps(loadAwsConfig());
  })().catch((e) => ((cached = undefined), Promise.reject(e)));
  return cached;
};
