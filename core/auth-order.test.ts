/**
 * Session 23 review (resource exhaustion), a lead: core/auth.ts checks the cheap things (the
 * header's shape, the freshness of its ts) before the expensive ones (hashing a body of up to
 * 6 MB, an Ed25519 verification or a session MAC). Which refusal a request gets shows the order:
 * a signature that does not verify can only be found by verifying it.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../local/memory-store";
import { AUTH_FUTURE_SKEW_MS, authenticateRequest, type SignedRequest } from "./auth";
import { generateSigningKey } from "./crypto/keys";
import { signRequest } from "./crypto/request-auth";
import { openSession, sessionAuthHeader } from "./crypto/session-auth";
import { UnauthenticatedError } from "./errors";

const HOST = "api.test";
const T0 = 1_760_000_000_000;
const WINDOW = 60_000;
const SESSION_SECRET = "5e".repeat(32);
/** The largest body a route takes (functions/http/middleware.ts MAX_PAYLOAD_BYTES). */
const BIG_BODY = "x".repeat(6 * 1024 * 1024 - 1);

/** Factory: auth deps over a fresh memory store at T0, taking sessions. */
function makeDeps() {
  const clock = { now: () => T0 };
  return { store: createMemoryStore({ clock }), clock, config: { authWindowMs: WINDOW, sessionKey: SESSION_SECRET } };
}

/**
 * Factory: a request whose credentials (a signature, or a session's MAC with `session`) were made
 * at `ts` over a small body, and which carries BIG_BODY instead: nothing about it verifies.
 */
function swappedBody(ts: number, o: { session?: boolean } = {}): SignedRequest {
  const key = generateSigningKey();
  const req = { method: "POST", path: "/v1/jobs", body: '{"x":1}', host: HOST };
  const authHeader = o.session
    ? sessionAuthHeader(openSession(SESSION_SECRET, key.id, T0), { ...req, now: ts })
    : signRequest(key, { ...req, now: ts });
  return { ...req, body: BIG_BODY, authHeader };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (x) => x,
  );
  expect(e).toBeInstanceOf(UnauthenticatedError);
  return (e as UnauthenticatedError).code;
}

describe("session 23 leads: freshness is checked before the signature and the body", () => {
  it("a stale signed request carrying 6 MB and a signature that does not verify is refused stale_request, unverified", async () => {
    // Prepare
    const deps = makeDeps();
    // Act
    const code = await codeOf(authenticateRequest(deps, swappedBody(T0 - WINDOW - 1)));
    // Assess: the old order hashed the 6 MB, verified, and answered bad_signature
    expect(code).toBe("stale_request");
  });

  it("a signed request from too far ahead is refused future_request, unverified", async () => {
    // Prepare
    const deps = makeDeps();
    // Act
    const code = await codeOf(authenticateRequest(deps, swappedBody(T0 + AUTH_FUTURE_SKEW_MS + 1)));
    // Assess
    expect(code).toBe("future_request");
  });

  it("a stale session request carrying 6 MB and a MAC that does not match is refused stale_request, unhashed", async () => {
    // Prepare
    const deps = makeDeps();
    // Act
    const code = await codeOf(authenticateRequest(deps, swappedBody(T0 - WINDOW - 1, { session: true }), "guard", "session"));
    // Assess: the old order hashed the body for the MAC first and answered bad_session
    expect(code).toBe("stale_request");
  });

  it("a fresh request whose body was swapped is still refused by its signature or MAC", async () => {
    // Prepare
    const deps = makeDeps();
    // Act
    const signed = await codeOf(authenticateRequest(deps, swappedBody(T0)));
    const sessioned = await codeOf(authenticateRequest(deps, swappedBody(T0, { session: true }), "guard", "session"));
    // Assess
    expect(signed).toBe("bad_signature");
    expect(sessioned).toBe("bad_session");
  });

  it("a malformed header is refused malformed_auth whatever its ts", async () => {
    // Prepare: a stale ts in a header whose nonce is too short
    const deps = makeDeps();
    const req = swappedBody(T0 - WINDOW - 1);
    const broken = { ...req, authHeader: req.authHeader!.replace(/nonce=[^,]+/, "nonce=short") };
    // Act
    const code = await codeOf(authenticateRequest(deps, broken));
    // Assess: the shape is checked first
    expect(code).toBe("malformed_auth");
  });
});
