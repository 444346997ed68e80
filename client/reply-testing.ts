/** Test helpers for client/reply.ts (tests only). */
import { requestHash } from "../core/crypto/envelope";
import type { RequestEnvelope } from "../events/envelope";
import { StreamCheckFailure, type ReplyBinding } from "./reply";

/** The StreamCheckFailure code `f` throws, or "accepted"; any other error propagates. */
export function streamCheckCode(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof StreamCheckFailure) return e.code;
    throw e;
  }
  return "accepted";
}

/**
 * The request hash a StreamVerifier expects, for streams whose chunks name no request (sealed by
 * hand here, as agents before session 31 sealed them): any value, never compared.
 */
export const UNNAMED_REQUEST = "0".repeat(64);

/**
 * Factory: the ReplyBinding of a request a test sealed with sealRequestBound, as the SDK builds
 * its own (client/sdk.ts streamVerifierOf): the envelope's hash, the proof key of each worker it
 * was sealed to, and the workers whose replies must carry a proof: by default all of them (every
 * agent sends one since session 39).
 */
export function bindingOf(
  sealed: { envelope: RequestEnvelope; proofKeys: ReadonlyMap<string, Uint8Array> },
  required: Iterable<string> = sealed.proofKeys.keys(),
): ReplyBinding {
  return { requestHash: requestHash(sealed.envelope), proofKeys: sealed.proofKeys, required: new Set(required) };
}

/**
 * Factory: the ReplyBinding of a stream sealed by hand, answering no request (`requestHash`
 * defaults to UNNAMED_REQUEST): no proof keys and none required, so only a chunk that carries a
 * proof is refused (nothing can check it).
 */
export const unboundBinding = (requestHashHex: string = UNNAMED_REQUEST): ReplyBinding => ({
  requestHash: requestHashHex,
  proofKeys: new Map(),
  required: new Set(),
});
