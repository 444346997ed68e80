/** Test helpers for client/reply.ts (tests only). */
import { StreamCheckFailure } from "./reply";

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
