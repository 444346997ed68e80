import { b64u } from "../../core/crypto/encoding";
import { openSession, sealSession } from "../../core/crypto/session-auth";
import { CocoonError, ValidationError } from "../../core/errors";
import { SessionRequest, SessionResponse } from "../../events/api";
import { lambdaHandler } from "./lambda";
import { lambdaSecretDeps } from "../deps-secrets";
import { defineRoute } from "./middleware";

/**
 * A request session for the signing key (core/crypto/session-auth.ts): its requests on the hot
 * path (routes with auth "session") are then authenticated by an HMAC instead of an Ed25519
 * verification. Signed only, never by a session (a stolen session cannot extend itself), and
 * replay-guarded. The key is sealed to the request's X25519 key, so the answer is of use only to
 * the client that made it. Nothing is stored but the nonce.
 */
export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/sessions",
    summary: "Open a request session: an HMAC key for the hot path instead of a signature per request",
    auth: "signed",
    body: SessionRequest,
    response: SessionResponse,
  },
  async ({ deps, caller, body }) => {
    const secret = deps.config.sessionKey;
    if (!secret) {
      throw new CocoonError(
        404,
        "sessions_unavailable",
        "this deployment has no sessions (COCOON_SESSION_KEY is not set): sign every request",
      );
    }
    const session = openSession(secret, caller, deps.clock.now());
    try {
      return sealSession(session, b64u.decode(body.kem));
    } catch (e) {
      // a non-canonical encoding, or a point X25519 refuses (small order: no shared secret)
      throw new ValidationError(`kem is not a usable X25519 public key: ${(e as Error).message}`, { fields: ["kem"] });
    }
  },
);
// the session key (and the quote key) from SSM where the stack names their parameters
export const handler = lambdaHandler(route, lambdaSecretDeps);
