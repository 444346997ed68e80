import { AuthError } from "./crypto/errors";
import { verifyRequestAuth } from "./crypto/request-auth";
import { ConditionFailedError, type Clock, type Store } from "./ports";
import { UnauthenticatedError } from "./errors";

export interface SignedRequest {
  method: string;
  /** path with query string, exactly as sent */
  path: string;
  body: string;
  authHeader: string | undefined;
}

/**
 * Checks a signed request: signature, freshness (±window) and that the nonce was never
 * seen (one conditional write with a TTL). Returns the caller's key id = account / worker id.
 */
export async function authenticate(
  deps: { store: Store; clock: Clock; config: { authWindowMs: number } },
  req: SignedRequest,
): Promise<string> {
  let claims: { keyId: string; ts: number; nonce: string };
  try {
    claims = verifyRequestAuth(req.authHeader, { method: req.method, path: req.path, body: req.body });
  } catch (e) {
    if (e instanceof AuthError) throw new UnauthenticatedError(e.code, e.message);
    throw e;
  }
  const now = deps.clock.now();
  const window = deps.config.authWindowMs;
  if (Math.abs(now - claims.ts) > window) {
    throw new UnauthenticatedError(
      "stale_request",
      `request timestamp is ${Math.round((now - claims.ts) / 1000)} s away from server time; sign with the current time (window ±${window / 1000} s)`,
    );
  }
  try {
    await deps.store.transact([
      {
        op: "put",
        table: "nonces",
        item: { pk: `${claims.keyId}#${claims.nonce}`, sk: "n", ttl: Math.ceil((claims.ts + 2 * window) / 1000) },
        when: { kind: "notExists" },
      },
    ]);
  } catch (e) {
    if (e instanceof ConditionFailedError) {
      throw new UnauthenticatedError("replayed_request", "this request nonce was already used; sign every request with a fresh nonce");
    }
    throw e;
  }
  return claims.keyId;
}
