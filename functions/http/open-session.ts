import { openSession } from "../../core/crypto/session-auth";
import { CocoonError } from "../../core/errors";
import { SessionResponse } from "../../events/api";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

/**
 * A request session for the signing key (core/crypto/session-auth.ts): its requests on the hot
 * path (routes with auth "session") are then authenticated by an HMAC instead of an Ed25519
 * verification. Signed only, never by a session (a stolen session cannot extend itself), and
 * replay-guarded: a captured handshake sent again would hand its sender a key. Nothing is stored
 * but that nonce.
 */
export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/sessions",
    summary: "Open a request session: an HMAC key for the hot path instead of a signature per request",
    auth: "signed",
    response: SessionResponse,
  },
  async ({ deps, caller }) => {
    const secret = deps.config.sessionKey;
    if (!secret) {
      throw new CocoonError(
        404,
        "sessions_unavailable",
        "this deployment has no sessions (COCOON_SESSION_KEY is not set): sign every request",
      );
    }
    return openSession(secret, caller, deps.clock.now());
  },
);
export const handler = lambdaHandler(route);
