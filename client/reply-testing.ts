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
