export { AuthError, CryptoInputError, EnvelopeError, HpkeOpenError } from "./errors";
export type { AuthErrorCode, CryptoInputErrorCode, EnvelopeErrorCode, HpkeOpenErrorCode } from "./errors";
export { b64u, bytesEqual, canonicalJson, randomBytes, sha256, sha256Hex, sha512 } from "./encoding";
export {
  ed25519PublicKeyProblem,
  ed25519SignatureProblem,
  generateKemKey,
  generateSigningKey,
  kemKeyFromPrivate,
  kemPrivateRaw,
  sign,
  signingKeyFromSeed,
  signingSeed,
  verifySignature,
} from "./keys";
export type { KemKeyPair, SigningKeyPair } from "./keys";
export { AEAD_IDS, DEFAULT_AEAD, aeadFromId, hpkeOpen, hpkeSeal, setupBaseR, setupBaseS } from "./hpke";
export type { HpkeAead, HpkeContext, HpkeOptions, HpkeSenderOptions } from "./hpke";
export { MAX_RECIPIENTS, REPLY_INFO, REQUEST_KEY_INFO, openReply, openRequest, replyHash, requestHash, sealReply, sealRequest } from "./envelope";
export type { Recipient } from "./envelope";
export { RECEIPT_PREFIX, signReceipt, verifyReceipt } from "./receipt";
export { AUTH_HEADER, AUTH_SCHEME, apiHostOf, parseAuthHeader, requestSigningString, signRequest, verifyRequestAuth } from "./request-auth";
export type { AuthClaims, SignableRequest } from "./request-auth";
