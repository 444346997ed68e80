/**
 * Request sessions (core/crypto/session-auth.ts): the composition checked against a vector
 * computed with Python's hmac (independently of this code), then what a session MAC covers,
 * expiry, forgery and malformed headers.
 */
import { describe, expect, it } from "vitest";
import { generateSigningKey } from "./keys";
import { AuthError } from "./errors";
import { generateKemKey } from "./keys";
import { CryptoInputError, HpkeOpenError } from "./errors";
import { openSealedSession, openSession, sealSession, SESSION_TTL_MS, sessionAuthHeader, verifySessionAuth } from "./session-auth";
import type { SignableRequest } from "./request-auth";

const SECRET = Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString("hex"); // 00 01 … 1f
const T0 = 1_699_999_990_000;

/**
 * python3: key = hmac(secret, b"cocoon/v1/session-key\n" + token, sha256);
 * mac = hmac(key, b"cocoon/v1/session-request\n" + "\n".join(["cocoon/v2/request", host, "POST",
 * "/v1/jobs?wait=20", sha256hex(body), "idem-1", ts, nonce]), sha256), base64url without padding.
 */
const VECTOR = {
  token: "ERERERERERERERERERERERERERERERERERERERERERE.1700000000000.IiIiIiIiIiIiIiIiIiIiIg",
  key: "amD4gtA12LE0GI8MYXLsdgQXtPEBzP3sP2AJFdjuwd4",
  mac: "OIElQe3LNlo0iCb4yWh1PL6gM0K0Ivn5gUooupOnPWQ",
  req: { method: "POST", path: "/v1/jobs?wait=20", body: '{"a":1}', host: "api.cocoon.example", idempotencyKey: "idem-1" },
  ts: 1_699_999_990_000,
  nonce: "n".repeat(22),
};

/** Factory: a fresh session and a request authenticated with it. */
function prepared(req: SignableRequest = VECTOR.req, o: { now?: number; nonce?: string } = {}) {
  const key = generateSigningKey();
  const session = openSession(SECRET, key.id, T0);
  const header = sessionAuthHeader(session, { ...req, now: o.now ?? T0, nonce: o.nonce ?? "a".repeat(22) });
  return { key, session, header };
}

const refusal = (f: () => unknown): { code: string; message: string } => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(AuthError);
    return { code: (e as AuthError).code, message: (e as AuthError).message };
  }
  throw new Error("expected a refusal");
};

describe("session-auth: the composition against an independent vector", () => {
  it("the session key derived from the token and the request MAC match Python's hmac", () => {
    // Prepare
    const header = `s1 token=${VECTOR.token},ts=${VECTOR.ts},nonce=${VECTOR.nonce},mac=${VECTOR.mac}`;
    // Act
    const made = sessionAuthHeader({ token: VECTOR.token, key: VECTOR.key }, { ...VECTOR.req, now: VECTOR.ts, nonce: VECTOR.nonce });
    const claims = verifySessionAuth(header, VECTOR.req, SECRET, VECTOR.ts);
    // Assess
    expect(made).toBe(header);
    expect(claims).toEqual({ keyId: VECTOR.token.split(".")[0], ts: VECTOR.ts, nonce: VECTOR.nonce, expiresAt: 1_700_000_000_000 });
  });
});

describe("session-auth: open, authenticate, verify", () => {
  it("a session names its key and lasts SESSION_TTL_MS; its requests verify as that key", () => {
    // Prepare
    const { key, session, header } = prepared();
    // Act
    const claims = verifySessionAuth(header, VECTOR.req, SECRET, T0 + 1);
    // Assess
    expect(session.token.startsWith(`${key.id}.`)).toBe(true);
    expect(session.expiresAt).toBe(T0 + SESSION_TTL_MS);
    expect(Buffer.from(session.key, "base64url")).toHaveLength(32);
    expect(claims).toMatchObject({ keyId: key.id, ts: T0 });
  });

  it.each([
    ["host", { host: "api.other.example" }],
    ["method", { method: "GET" }],
    ["path", { path: "/v1/jobs?wait=0" }],
    ["body", { body: '{"a":2}' }],
    ["Idempotency-Key", { idempotencyKey: "idem-2" }],
  ])("a request whose %s differs from what was authenticated is bad_session", (_what, change) => {
    // Prepare
    const { header } = prepared();
    // Act
    const r = refusal(() => verifySessionAuth(header, { ...VECTOR.req, ...change }, SECRET, T0));
    // Assess
    expect(r.code).toBe("bad_session");
  });

  it("the header's ts or nonce changed after the MAC is bad_session", () => {
    // Prepare
    const { header } = prepared();
    // Act
    const ts = refusal(() => verifySessionAuth(header.replace(`ts=${T0}`, `ts=${T0 + 1}`), VECTOR.req, SECRET, T0));
    const nonce = refusal(() => verifySessionAuth(header.replace("a".repeat(22), "b".repeat(22)), VECTOR.req, SECRET, T0));
    // Assess
    expect([ts.code, nonce.code]).toEqual(["bad_session", "bad_session"]);
  });

  it("a token edited to name another key, or to last longer, derives another key: bad_session", () => {
    // Prepare
    const { key, session, header } = prepared();
    const other = generateSigningKey();
    const later = String(session.expiresAt + SESSION_TTL_MS);
    // Act
    const asOther = refusal(() => verifySessionAuth(header.replace(key.id, other.id), VECTOR.req, SECRET, T0));
    const longer = refusal(() => verifySessionAuth(header.replace(String(session.expiresAt), later), VECTOR.req, SECRET, T0));
    // Assess
    expect([asOther.code, longer.code]).toEqual(["bad_session", "bad_session"]);
  });

  it("a session under another secret (another deployment, a rotated secret) is bad_session", () => {
    // Prepare
    const { header } = prepared();
    // Act
    const r = refusal(() => verifySessionAuth(header, VECTOR.req, "ff".repeat(32), T0));
    // Assess
    expect(r.code).toBe("bad_session");
  });

  it("a session is accepted until its expiry and is session_expired from it on", () => {
    // Prepare
    const { session, header } = prepared();
    // Act
    const before = verifySessionAuth(header, VECTOR.req, SECRET, session.expiresAt - 1);
    const at = refusal(() => verifySessionAuth(header, VECTOR.req, SECRET, session.expiresAt));
    // Assess
    expect(before.expiresAt).toBe(session.expiresAt);
    expect(at.code).toBe("session_expired");
    expect(at.message).toContain("POST /v1/sessions");
  });

  it.each([
    ["a missing field", (h: string) => h.replace(/,mac=.*$/, "")],
    ["an unknown field", (h: string) => `${h},sig=x`],
    ["a field twice", (h: string) => `${h},ts=1`],
    ["a token not from POST /v1/sessions", (h: string) => h.replace(/token=[^,]+/, "token=abc")],
    ["a mac of the wrong length", (h: string) => h.replace(/mac=.*$/, "mac=AAAA")],
    ["a mac that is not base64url", (h: string) => h.replace(/mac=.*$/, `mac=${"+".repeat(43)}`)],
    ["an over-long header", (h: string) => `${h}${" ".repeat(600)}`],
    ["a mac that is not canonical base64url (trailing bits set)", (h: string) => h.replace(/.$/, "B")],
  ])("%s is malformed_auth", (_what, edit) => {
    // Prepare
    const { header } = prepared();
    // Act
    const r = refusal(() => verifySessionAuth(edit(header), VECTOR.req, SECRET, T0));
    // Assess
    expect(r.code).toBe("malformed_auth");
  });
});

describe("session-auth: the key travels sealed to the client's handshake key", () => {
  it("opens to the same session with that key, with no other, and not under another token", () => {
    // Prepare
    const keyId = generateSigningKey().id;
    const session = openSession(SECRET, keyId, T0);
    const kem = generateKemKey();
    // Act
    const sealed = sealSession(session, kem.publicKey);
    // Assess
    expect(openSealedSession(sealed, kem, keyId)).toEqual(session);
    expect(JSON.stringify(sealed)).not.toContain(session.key);
    expect(() => openSealedSession(sealed, generateKemKey(), keyId)).toThrow(HpkeOpenError);
    const other = openSession(SECRET, generateSigningKey().id, T0);
    expect(() => openSealedSession({ ...sealed, token: other.token }, kem, keyId)).toThrow(HpkeOpenError);
  });

  it("session 31 #3: a session of another key, sealed to our handshake key by its holder (Base-mode HPKE names no sender), is refused", () => {
    // Prepare: the attacker opened a session of its own and holds its token and key
    const ours = generateSigningKey();
    const theirs = openSession(SECRET, generateSigningKey().id, T0);
    const kem = generateKemKey();
    const sealed = sealSession(theirs, kem.publicKey); // needs only our public handshake key
    // Act
    const opened = (() => {
      try {
        return openSealedSession(sealed, kem, ours.id);
      } catch (e) {
        return e;
      }
    })();
    // Assess: taken as ours, our requests would run as the attacker's key
    expect(opened).toBeInstanceOf(CryptoInputError);
    expect((opened as CryptoInputError).code).toBe("invalid_key");
  });
});
