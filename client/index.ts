/**
 * The requester SDK as a package (`npm run build:client` → dist/client-package, installable
 * with `npm install`): CocoonClient and its types, and the key helpers an app needs to make
 * or load its Ed25519 identity.
 */
export * from "./sdk";
export { generateSigningKey, signingKeyFromSeed, type SigningKeyPair } from "../core/crypto/keys";
export { loadOrCreateKey } from "../api-client/keys";
export { ApiError } from "../api-client/api";
export { formatTon, parseTon } from "../api-client/format";
