import type { CoreDeps } from "../core/deps";
import type { AwsConfig } from "./config";

/**
 * Where a handler gets its adapters. On Lambda: built once per cold start from env
 * (COCOON_RUNTIME=aws). The local server passes its own provider instead, so one process
 * can host the same handlers over embedded adapters.
 */
export type DepsProvider = () => Promise<CoreDeps>;

let cached: Promise<CoreDeps> | undefined;

/**
 * The container's lean AWS set, built once from the config `load` gives: the environment
 * (lambdaDeps), or the environment with its secrets read from SSM (deps-secrets.ts, which the
 * functions given secrets use). One set per container, whichever provider asks first: the
 * providers built on it (TON signers, registry, relay) share its store and clients.
 */
export function lambdaDepsFrom(load: () => Promise<AwsConfig>): Promise<CoreDeps> {
  cached ??= (async () => {
    const [config, { createAwsLeanDeps }] = await Promise.all([load(), import("./adapters/aws-lean-deps")]);
    return createAwsLeanDeps(config);
  })().catch((e) => ((cached = undefined), Promise.reject(e)));
  return cached;
}

/**
 * The lean AWS set (store now; SQS, SNS, STS on first use; no TON): what every route needs.
 * The signing routes use lambdaTonDeps (deps-ton.ts), the routes that register and match
 * workers lambdaRegistryDeps (deps-registry.ts): modules of their own, because a dynamic
 * import here would put their TON chunks into every split bundle.
 */
export const lambdaDeps: DepsProvider = () => lambdaDepsFrom(async () => (await import("./config")).loadAwsConfig());
