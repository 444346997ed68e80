import type { DepsProvider } from "./deps";
import { lambdaDeps } from "./deps";
import type { CoreDeps } from "../core/deps";
import type { AwsCoreDeps } from "./adapters/aws-lean-deps";

let cached: Promise<CoreDeps> | undefined;

/**
 * lambdaDeps plus the on-chain policy registry (issue 15) where COCOON_REGISTRY_ADDRESS names
 * one: for the routes that register and match workers (POST /v1/agents, POST /v1/jobs/prepare,
 * the ones the stack gives the registry's environment). Only they carry its TON reader.
 */
export const lambdaRegistryDeps: DepsProvider = () => {
  cached ??= (async () => {
    const [core, { loadAwsConfig }, { withRegistry }] = await Promise.all([
      lambdaDeps(),
      import("./config"),
      import("./adapters/aws-core-deps"),
    ]);
    return withRegistry(core as AwsCoreDeps, loadAwsConfig());
  })().catch((e) => ((cached = undefined), Promise.reject(e)));
  return cached;
};
