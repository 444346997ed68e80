import type { DepsProvider } from "./deps";
import { lambdaSecretDeps } from "./deps-secrets";
import type { CoreDeps } from "../core/deps";
import type { AwsCoreDeps } from "./adapters/aws-lean-deps";

let cached: Promise<CoreDeps> | undefined;

/**
 * lambdaSecretDeps (prepare and submit take the quote and session keys) plus the on-chain policy
 * registry (issue 15) where COCOON_REGISTRY_ADDRESS names one: for the routes that register and
 * match workers (POST /v1/agents, POST /v1/jobs/prepare, the ones the stack gives the registry's
 * environment). Only they carry its TON reader.
 */
export const lambdaRegistryDeps: DepsProvider = () => {
  cached ??= (async () => {
    const [core, { lambdaConfig }, { withRegistry }] = await Promise.all([
      lambdaSecretDeps(),
      import("./secrets"),
      import("./adapters/aws-core-deps"),
    ]);
    return withRegistry(core as AwsCoreDeps, await lambdaConfig());
  })().catch((e) => ((cached = undefined), Promise.reject(e)));
  return cached;
};
