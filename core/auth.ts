import { AuthError } from "./crypto/errors";
import { verifyRequestAuth } from "./crypto/request-auth";
import { ConditionFailedError, type Clock, type ReplayGuard, type Store } from "./ports";
import { UnauthenticatedError } from "./errors";

export interface SignedRequest {
  method: string;
  /** path with query string, exactly as sent */
  path: string;
  body: string;
  authHeader: string | undefined;
}

/** Nonces as items with a TTL, claimed with a conditional put (works on DynamoDB and LMDB alike). */
export function storeReplayGuard(store: Store): ReplayGuard {
  return {
    async claim(id, _signedAt, expiresAt) {
      try {
        await store.transact([{ op: "put", table: "nonces", item: { pk: id, sk: "n", ttl: Math.ceil(expiresAt / 1000) }, when: { kind: "notExists" } }]);
        return true;
      } catch (e) {
        if (e instanceof ConditionFailedError) return false;
        throw e;
      }
    },
  };
}

/**
 * Checks a signed request: signature, freshness (±window) and that the nonce was never
 * seen. Returns the caller's key id = account / worker id.
 */
export async function authenticate(
  deps: { store: Store; clock: Clock; config: { authWindowMs: number }; replay?: ReplayGuard },
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
  const guard = deps.replay ?? storeReplayGuard(deps.store);
  if (!(await guard.claim(`${claims.keyId}#${claims.nonce}`, claims.ts, claims.ts + 2 * window))) {
    throw new UnauthenticatedError("replayed_request", "this request nonce was already used (or was signed before the coordinator restarted); sign every request with a fresh nonce and the current time");
  }
  return claims.keyId;
}
