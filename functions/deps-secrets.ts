import { lambdaDepsFrom, type DepsProvider } from "./deps";

/**
 * lambdaDeps with the config's secrets (the quote and session keys, the coordinator's seed, the
 * toncenter key) read from their SSM parameters where the stack names them (functions/secrets.ts),
 * once per container. For the functions the stack gives a secret: the routes that take sessions,
 * the quote and tab routes, (through deps-ton.ts and deps-registry.ts) the signing, withdrawal and
 * registry routes, and the chain watcher and the anchorer. A module of its own,
 * as deps-ton.ts is, so the SSM code is in no other handler's bundle; another handler given a
 * parameter fails its cold start (functions/config.ts refuses a `_PARAM` that was not read).
 */
export const lambdaSecretDeps: DepsProvider = () => lambdaDepsFrom(async () => (await import("./secrets")).lambdaConfig());
