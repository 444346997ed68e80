/**
 * The lean AWS deps (aws-lean-deps.ts) plus, where the environment names one, the on-chain
 * policy registry (issue 15) read through toncenter: what the routes that register and match
 * workers build (functions/deps-registry.ts). A module of its own because the registry's
 * reader is TON code: only the functions that import this module carry it in their bundle,
 * and even they load it on the first read.
 */
import { PolicyCache, type PolicySource } from "../../core/policy-registry";
import { awsConfig, type AwsConfig } from "../config";
import { createAwsLeanDeps, type AwsCoreDeps } from "./aws-lean-deps";

export { assembleAwsDeps, createAwsLeanDeps, type AwsAdapterMakers, type AwsCoreDeps, type AwsQueues } from "./aws-lean-deps";

/** issue 15: the registry's PolicyCache; the toncenter reader is imported on the first read. */
export function registryCache(r: NonNullable<AwsConfig["registry"]>): PolicyCache {
  let source: Promise<PolicySource> | undefined;
  const lazy: PolicySource = {
    read: async () => (await (source ??= import("../../ton/registry").then((m) => m.toncenterPolicySource(r)))).read(),
  };
  return new PolicyCache(lazy, { refreshSeconds: r.refreshSeconds, maxAgeSeconds: r.maxAgeSeconds, now: () => Date.now() });
}

/** Adds the policy registry when the configuration names one (COCOON_REGISTRY_ADDRESS). */
export function withRegistry<D extends AwsCoreDeps>(deps: D, config: AwsConfig): D {
  return config.registry ? { ...deps, policyRegistry: registryCache(config.registry) } : deps;
}

/** The lean deps and the registry where configured. */
export async function createAwsCoreDeps(config: AwsConfig = awsConfig()): Promise<AwsCoreDeps> {
  return withRegistry(await createAwsLeanDeps(config), config);
}
