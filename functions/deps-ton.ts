import type { DepsProvider } from "./deps";
import { lambdaSecretDeps } from "./deps-secrets";
import type { CoreDeps } from "../core/deps";

let cached: Promise<CoreDeps> | undefined;

/**
 * lambdaSecretDeps plus the TON signers (payout vouchers, withdrawals). Only the handlers that sign
 * pass this to lambdaHandler, so @ton/* is bundled into those three functions and no other.
 */
export const lambdaTonDeps: DepsProvider = () => {
  cached ??= (async () => {
    const [core, { lambdaConfig }, { tonSigners }] = await Promise.all([
      lambdaSecretDeps(),
      import("./secrets"),
      import("./adapters/aws-ton-deps"),
    ]);
    // the coordinator's seed, from its SSM parameter where the stack names one (read once per container)
    return { ...core, ...tonSigners(await lambdaConfig()) };
  })().catch((e) => ((cached = undefined), Promise.reject(e)));
  return cached;
};

let cachedReader: Promise<CoreDeps> | undefined;
/**
 * lambdaSecretDeps plus the vault's seqno getter and no key (GET /v1/account/withdrawals/{seqno}):
 * the toncenter key from its SSM parameter where the stack names one (COCOON_TON_API_KEY_PARAM).
 */
export const lambdaTonSeqnoDeps: DepsProvider = () => {
  cachedReader ??= (async () => {
    const [core, { loadLambdaEnv, lambdaConfig }, { vaultSeqnoReader }] = await Promise.all([
      lambdaSecretDeps(),
      import("./secrets"),
      import("./adapters/aws-ton-deps"),
    ]);
    await lambdaConfig(); // validates the vault address, the endpoint and the key
    return { ...core, ...vaultSeqnoReader(await loadLambdaEnv()) };
  })().catch((e) => ((cachedReader = undefined), Promise.reject(e)));
  return cachedReader;
};
