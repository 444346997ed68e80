/**
 * The lean AWS deps (aws-lean-deps.ts) plus, where the environment names one, the on-chain
 * policy registry (issue 15): what the routes that register and match workers build
 * (functions/deps-registry.ts). They read the registry's snapshot that the chain watcher keeps
 * in the store (core/policy-registry.ts StorePolicySource), not the chain: no request handler
 * carries a TON client (issue 12: TON code was 700 KB of each of these bundles).
 */
import { PolicyCache, StorePolicySource } from "../../core/policy-registry";
import type { Store } from "../../core/ports";
import { awsConfig, type AwsConfig } from "../config";
import { createAwsLeanDeps, type AwsCoreDeps } from "./aws-lean-deps";

export { assembleAwsDeps, createAwsLeanDeps, type AwsAdapterMakers, type AwsCoreDeps, type AwsQueues } from "./aws-lean-deps";

/**
 * issue 15: the registry's PolicyCache over the store's snapshot: re-read every refreshSeconds,
 * and a reading whose chain time is older than maxAgeSeconds refused (503 policy_stale), as
 * when the routes read the chain themselves.
 */
export function registryCache(store: Store, r: NonNullable<AwsConfig["registry"]>): PolicyCache {
  return new PolicyCache(new StorePolicySource(store, r.address), {
    refreshSeconds: r.refreshSeconds,
    maxAgeSeconds: r.maxAgeSeconds,
    now: () => Date.now(),
  });
}

/** Adds the policy registry when the configuration names one (COCOON_REGISTRY_ADDRESS). */
export function withRegistry<D extends AwsCoreDeps>(deps: D, config: AwsConfig): D {
  return config.registry ? { ...deps, policyRegistry: registryCache(deps.store, config.registry) } : deps;
}

/** The lean deps and the registry where configured. */
export async function createAwsCoreDeps(config: AwsConfig = awsConfig()): Promise<AwsCoreDeps> {
  return withRegistry(await createAwsLeanDeps(config), config);
}
