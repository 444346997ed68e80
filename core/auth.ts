import { AuthError } from "./crypto/errors";
import { parseAuthHeader, verifyRequestAuth } from "./crypto/request-auth";
import { isSessionAuth, parseSessionAuth, verifySessionAuth } from "./crypto/session-auth";
import { ConditionFailedError, type Clock, type ReplayGuard, type Store } from "./ports";
import { CocoonError, UnauthenticatedError } from "./errors";

export interface SignedRequest {
  method: string;
  /** path with query string, exactly as sent */
  path: string;
  body: string;
  authHeader: string | undefined;
  /**
   * The API host this deployment was reached at, as the transport (not the client) reports it:
   * API Gateway's requestContext.domainName on AWS, the server's own address locally. The
   * client signs the host of its API URL, so a request made for another deployment fails.
   */
  host: string;
  /** The Idempotency-Key header, if any: signed, so it cannot be swapped on a captured request. */
  idempotencyKey?: string | undefined;
}

/**
 * How far ahead of the server's clock a signed request may be (issue 9 #10). The past window
 * (config.authWindowMs) absorbs slow networks and retries; a request from the future only
 * absorbs clock drift, and each second allowed here is a second in which a request accepted
 * just before a restart could still be fresh after it (see local/replay-guard.ts).
 */
export const AUTH_FUTURE_SKEW_MS = 5_000;

/**
 * A replay guard with no room for another nonce (local/replay-guard.ts, capped in memory): 503
 * server_busy, reason replay_guard_full, retry after `retryAfterSeconds` (when its soonest entry
 * expires). Nothing was done; the request, signed anew, may be sent again. The guard refuses
 * rather than forget a nonce early, which would let a captured request be replayed.
 */
export class ReplayGuardFullError extends CocoonError {
  constructor(
    readonly limit: number,
    readonly retryAfterSeconds: number,
  ) {
    super(503, "server_busy", `the coordinator holds ${limit} recent request nonces, its limit; sign the request again and retry`, {
      reason: "replay_guard_full",
      limit,
      retryAfterSeconds,
    });
  }
}

/** Refuses a request timestamp more than `window` behind `now` or AUTH_FUTURE_SKEW_MS ahead of it. */
function checkFresh(ts: number, now: number, window: number): void {
  if (now - ts > window) {
    throw new UnauthenticatedError(
      "stale_request",
      `request timestamp is ${Math.round((now - ts) / 1000)} s behind server time; sign with the current time (at most ${window / 1000} s old)`,
    );
  }
  if (ts - now > AUTH_FUTURE_SKEW_MS) {
    throw new UnauthenticatedError(
      "future_request",
      `request timestamp is ${Math.round((ts - now) / 1000)} s ahead of server time; at most ${AUTH_FUTURE_SKEW_MS / 1000} s is accepted: sync your clock (NTP) and sign with the current time`,
    );
  }
}

/** Nonces as items with a TTL, claimed with a conditional put (works on DynamoDB and LMDB alike). */
export function storeReplayGuard(store: Store): ReplayGuard {
  return {
    async claim(id, _signedAt, expiresAt) {
      try {
        await store.transact([
          { op: "put", table: "nonces", item: { pk: id, sk: "n", ttl: Math.ceil(expiresAt / 1000) }, when: { kind: "notExists" } },
        ]);
        return true;
      } catch (e) {
        if (e instanceof ConditionFailedError) return false;
        throw e;
      }
    },
  };
}

/**
 * How a route stands against a replayed request (one the signer sent once, sent again verbatim
 * inside the freshness window):
 *  - "guard": its nonce is claimed in the replay guard (a conditional store write per request
 *    on AWS), so the copy is refused with 401 replayed_request;
 *  - "idempotent": the request is safe to run twice, so no nonce is claimed: it is a read, or
 *    its effect is keyed by its own identity (job id, Idempotency-Key, seqno, cumulative
 *    amount, or the signed nonce itself), so a replay changes nothing (test/replay.test.ts).
 *    The replayer can learn the answer, which is the signer's own (TLS keeps it from anyone
 *    who could not read the request in the first place).
 */
export type ReplayPolicy = "guard" | "idempotent";

export interface Authenticated {
  /** the caller's key id = account / worker id */
  keyId: string;
  /** the request's signed nonce: unique per request, so a route may key an effect by it */
  nonce: string;
  ts: number;
}

/**
 * Which credentials a route takes: "signed" only an Ed25519 signature (the session handshake,
 * and routes that vend credentials or move money off the network); "session" a signature or a
 * session's MAC (core/crypto/session-auth.ts: the hot path, where the signature's verification
 * was a tenth of the coordinator's CPU per job).
 */
export type AuthMode = "signed" | "session";

type AuthDeps = { store: Store; clock: Clock; config: { authWindowMs: number; sessionKey?: string | undefined }; replay?: ReplayGuard };

/**
 * Checks a signed or session-authenticated request: signature or session MAC (for this host,
 * with its Idempotency-Key), freshness (at most authWindowMs old, at most AUTH_FUTURE_SKEW_MS
 * ahead) and, unless the route is idempotent, that the nonce was never seen. A session is
 * refused (401 session_not_accepted) on a route that takes only signatures.
 *
 * The cheap checks come first: the header's shape (key, ts, nonce formats) and the freshness of
 * the ts it claims, before the signature is verified (an Ed25519 verification) or the body hashed
 * (up to 6 MB, both covered by the signature and the MAC). A stale or malformed request costs
 * neither: a replay of a captured request after its window, or junk, is refused for the price of
 * parsing 512 characters. The claimed ts is unauthenticated until the signature is checked, but
 * it only ever refuses here.
 */
export async function authenticateRequest(
  deps: AuthDeps,
  req: SignedRequest,
  replay: ReplayPolicy = "guard",
  mode: AuthMode = "signed",
): Promise<Authenticated> {
  let claims: { keyId: string; ts: number; nonce: string };
  const now = deps.clock.now();
  try {
    const signable = { method: req.method, path: req.path, body: req.body, host: req.host, idempotencyKey: req.idempotencyKey };
    if (isSessionAuth(req.authHeader)) {
      if (mode !== "session")
        throw new AuthError("session_not_accepted", "this route takes only a request signed with your Ed25519 key, not a session");
      if (!deps.config.sessionKey)
        throw new AuthError(
          "sessions_unavailable",
          "this deployment has no sessions (COCOON_SESSION_KEY is not set): sign the request with your Ed25519 key",
        );
      const fields = parseSessionAuth(req.authHeader!);
      checkFresh(fields.ts, now, deps.config.authWindowMs);
      claims = verifySessionAuth(fields, signable, deps.config.sessionKey, now);
    } else {
      checkFresh(parseAuthHeader(req.authHeader).ts, now, deps.config.authWindowMs);
      claims = verifyRequestAuth(req.authHeader, signable);
    }
  } catch (e) {
    if (e instanceof AuthError) throw new UnauthenticatedError(e.code, e.message);
    throw e;
  }
  if (replay === "idempotent") return claims;
  const window = deps.config.authWindowMs;
  const guard = deps.replay ?? storeReplayGuard(deps.store);
  // Kept until the request is stale everywhere: ts + window, doubled for clock drift between
  // Lambda instances. An item past its ttl counts as absent, and by then the request is stale.
  if (!(await guard.claim(`${claims.keyId}#${claims.nonce}`, claims.ts, claims.ts + 2 * window))) {
    throw new UnauthenticatedError(
      "replayed_request",
      "this request nonce was already used (or was signed before the coordinator restarted); sign every request with a fresh nonce and the current time",
    );
  }
  return claims;
}

/** authenticateRequest with the replay guard: the caller's key id. */
export async function authenticate(deps: AuthDeps, req: SignedRequest, replay: ReplayPolicy = "guard"): Promise<string> {
  return (await authenticateRequest(deps, req, replay)).keyId;
}
