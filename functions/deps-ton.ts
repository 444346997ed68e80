import type { DepsProvider } from "./deps";
import { lambdaDeps } from "./deps";
import type { CoreDeps } from "../core/deps";

let cached: Promise<CoreDeps> | undefined;

/**
 * lambdaDeps plus the TON signers (payout vouchers, withdrawals). Only the handlers that sign
 * pass this to lambdaHandler, so @ton/* is bundled into those three functions and no other.
 */
export const lambdaTonDeps: DepsProvider = () => {
  cached ??= (async () => {
    const [core, { loadAwsConfig }, { tonSigners }] = await Promise.all([
      lambdaDeps(),
      import("./config"),
      import("./adapters/aws-ton-deps"),
    ]);
    return { ...core, ...tonSigners(loadAwsConfig()) };
  })().catch((e) => ((cached = undefined), Promise.reject(e)));
  return cached;
};

let cachedReader: Promise<CoreDeps> | undefined;
/** lambdaDeps plus the vault's seqno getter and no key (GET /v1/account/withdrawals/{seqno}). */
export const lambdaTonSeqnoDeps: DepsProvider = () => {
  cachedReader ??= (async () => {
    const [core, { loadAwsConfig }, { vaultSeqnoReader }] = await Promise.all([
      lambdaDeps(),
      import("./config"),
      import("./adapters/aws-ton-deps"),
    ]);
    loadAwsConfig(); // validates the vault address and the endpoint
    return { ...core, ...vaultSeqnoReader() };
  })().catch((e) => ((cachedReader = undefined), Promise.reject(e)));
  return cachedReader;
};
