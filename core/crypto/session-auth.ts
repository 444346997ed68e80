/**
 * Session-authenticated requests (issue 12: coordinator CPU per job). A signed request costs
 * the coordinator an Ed25519 verification, ~145 µs here, twice per job (the submit and the
 * worker's result): about a tenth of its CPU per job. A client signs one handshake instead
 * (POST /v1/sessions, Ed25519, replay-guarded) and gets a session: a token naming its key and
 * an expiry, and the session's key. It then authenticates each request on the hot path with an
 * HMAC-SHA256 under that key (~2 µs to check), over the same string a signature would cover
 * (core/crypto/request-auth.ts requestSigningString: host, method, path, body hash,
 * Idempotency-Key, ts, nonce), so freshness and replay are what they are for signed requests.
 *
 *   x-cocoon-auth: s1 token=<keyId>.<expires unix ms>.<22 b64u chars>,ts=<unix ms>,nonce=<…>,mac=<b64u>
 *
 * key = HMAC-SHA256(sessionSecret, "cocoon/v1/session-key\n" ‖ token)
 * mac = HMAC-SHA256(key, "cocoon/v1/session-request\n" ‖ requestSigningString)
 *
 * Stateless, like the quotes: the coordinator derives the key again from the token, so nothing
 * is stored per session and every Lambda that holds the secret (COCOON_SESSION_KEY) checks it.
 * Someone who edits the token (another key id, a later expiry) cannot know the key it would
 * derive to. The key travels once, in the handshake's answer, over TLS, to the client that
 * signed the handshake; a replayed handshake is refused (the guard), so a captured handshake
 * cannot be replayed to obtain a key. The key is not even readable on the wire: the handshake
 * names a fresh X25519 key of the client's, and the answer carries the session key HPKE-sealed
 * to it (info "cocoon/v1/session", the token as AAD), so a TLS-terminating proxy or a logged
 * response body learns nothing it can use. Rotating the secret ends every session at once.
 * Only HMAC-SHA256 from node:crypto is used; session-auth.test.ts checks the composition against
 * a vector computed with Python's hmac.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { b64u, randomBytes } from "./encoding";
import { AuthError, CryptoInputError } from "./errors";
import { hpkeOpen, hpkeSeal } from "./hpke";
import { hmacKey, type KemKeyPair } from "./keys";
import { authFields, NONCE_RE, requestSigningString, TS_RE, type AuthClaims, type SignableRequest } from "./request-auth";

export const SESSION_SCHEME = "s1";
/** How long a session lasts; the client opens the next one when less than SESSION_RENEW_MS is left. */
export const SESSION_TTL_MS = 60 * 60 * 1000;
export const SESSION_RENEW_MS = 5 * 60 * 1000;

const KEY_DOMAIN = "cocoon/v1/session-key\n";
const REQUEST_DOMAIN = "cocoon/v1/session-request\n";
const FORMAT = "s1 token=<session token>,ts=<unix ms>,nonce=<16-128 base64url chars>,mac=<b64u HMAC-SHA256>";

const TOKEN_RE = /^([A-Za-z0-9_-]{43})\.([1-9]\d{12})\.[A-Za-z0-9_-]{22}$/;
const MAC_RE = /^[A-Za-z0-9_-]{43}$/;

/** The key id and expiry (unix ms) a session token carries, or undefined if it is not one openSession makes. */
function parseToken(token: string): { keyId: string; expiresAt: number } | undefined {
  const t = TOKEN_RE.exec(token);
  return t ? { keyId: t[1]!, expiresAt: Number(t[2]) } : undefined;
}

export interface Session {
  token: string;
  /** b64u of the 32-byte session key: a secret, given only to the client that opened it */
  key: string;
  /** unix ms */
  expiresAt: number;
}

function sessionKeyOf(secret: string, token: string): Buffer {
  return createHmac("sha256", hmacKey(secret)).update(KEY_DOMAIN).update(token).digest();
}

/**
 * Session keys already derived, by token: a client authenticates every request on the hot path
 * with one session for up to an hour, and deriving its key again is one HMAC per request. Only
 * a token whose request verified is kept (a stranger's junk tokens never displace a real one),
 * with the secret it was derived under (a rotated secret derives anew, and ends the session as
 * before). Bounded: past SESSION_KEY_CACHE the oldest goes.
 */
const SESSION_KEY_CACHE = 4096;
const sessionKeys = new Map<string, { secret: string; key: Buffer }>();

function cachedSessionKey(secret: string, token: string): Buffer | undefined {
  const hit = sessionKeys.get(token);
  return hit !== undefined && hit.secret === secret ? hit.key : undefined;
}

function keepSessionKey(secret: string, token: string, key: Buffer): void {
  sessionKeys.delete(token); // one kept under a secret since rotated
  if (sessionKeys.size >= SESSION_KEY_CACHE) sessionKeys.delete(sessionKeys.keys().next().value!);
  sessionKeys.set(token, { secret, key });
}

/** A new session for `keyId` (an Ed25519 public key, b64u, that signed the handshake). */
export function openSession(secret: string, keyId: string, now: number, ttlMs = SESSION_TTL_MS): Session {
  const expiresAt = now + ttlMs;
  const token = `${keyId}.${expiresAt}.${b64u.encode(randomBytes(16))}`;
  if (!TOKEN_RE.test(token)) throw new CryptoInputError("unsupported_value", `cannot open a session for key ${JSON.stringify(keyId)}`);
  return { token, key: b64u.encode(sessionKeyOf(secret, token)), expiresAt };
}

const SEAL_INFO = "cocoon/v1/session";

/** A session as the handshake answers it: its key HPKE-sealed to the client's handshake key `kem`. */
export interface SealedSession {
  token: string;
  expiresAt: number;
  /** HPKE encapsulation (b64u) and the sealed 32-byte key (b64u), AAD = the token */
  enc: string;
  sealedKey: string;
}

export function sealSession(session: Session, kem: Uint8Array): SealedSession {
  const { enc, ct } = hpkeSeal(kem, SEAL_INFO, session.token, b64u.decode(session.key));
  return { token: session.token, expiresAt: session.expiresAt, enc: b64u.encode(enc), sealedKey: b64u.encode(ct) };
}

/**
 * The session a handshake answered, opened with the client's handshake key; throws HpkeOpenError
 * if it was not sealed to it. Its expiry is the token's own (the token is the seal's AAD, so it
 * is authenticated; the answer's `expiresAt` beside it is not, and a proxy could change it).
 *
 * The token must name `keyId`, the key that signed the handshake (session 31): Base-mode HPKE
 * does not say who sealed, so anyone who holds a session of their own (token and key) can seal it
 * to our handshake key; taken as ours, our requests would run as that key's (its jobs, its
 * cancels, its tabs), and the seal alone would never tell.
 */
export function openSealedSession(sealed: SealedSession, kem: KemKeyPair, keyId: string): Session {
  const key = hpkeOpen(kem, b64u.decode(sealed.enc), SEAL_INFO, sealed.token, b64u.decode(sealed.sealedKey));
  const t = parseToken(sealed.token);
  if (!t) throw new CryptoInputError("unsupported_value", "the session token is not one POST /v1/sessions makes");
  if (t.keyId !== keyId)
    throw new CryptoInputError("invalid_key", "the session token names another key than the one that signed the handshake");
  return { token: sealed.token, key: b64u.encode(key), expiresAt: t.expiresAt };
}

function macOf(key: Uint8Array, req: SignableRequest, ts: number, nonce: string): Buffer {
  return createHmac("sha256", key)
    .update(REQUEST_DOMAIN)
    .update(requestSigningString(req, ts, nonce))
    .digest();
}

/** The x-cocoon-auth header value authenticating this request under `session`. */
export function sessionAuthHeader(
  session: Pick<Session, "token" | "key">,
  req: SignableRequest & { now?: number; nonce?: string },
): string {
  const ts = req.now ?? Date.now();
  const nonce = req.nonce ?? b64u.encode(randomBytes(16));
  const mac = macOf(b64u.decode(session.key), req, ts, nonce);
  return `${SESSION_SCHEME} token=${session.token},ts=${ts},nonce=${nonce},mac=${b64u.encode(mac)}`;
}

/** Whether a header value is session-authenticated (the caller then uses verifySessionAuth). */
export const isSessionAuth = (headerValue: string | undefined): boolean =>
  typeof headerValue === "string" && headerValue.trimStart().startsWith(`${SESSION_SCHEME} `);

function malformed(what: string): AuthError {
  return new AuthError("malformed_auth", `x-cocoon-auth session header is malformed: ${what}; expected "${FORMAT}"`);
}

/** A session header's fields as parseSessionAuth reads them (its MAC and expiry unchecked). */
export interface SessionAuthFields {
  token: string;
  keyId: string;
  expiresAt: number;
  ts: number;
  nonce: string;
  mac: Uint8Array;
}

/** Parses a session header without checking its MAC or expiry (shape, ts, nonce): throws AuthError malformed_auth. */
export function parseSessionAuth(headerValue: string): SessionAuthFields {
  if (headerValue.length > 512) throw malformed(`${headerValue.length} characters is too long`);
  // checked here too, not only by the caller's isSessionAuth: a verifier must not take any scheme
  if (!isSessionAuth(headerValue)) throw malformed(`the scheme must be "${SESSION_SCHEME}"`);
  const { token, ts, nonce, mac } = authFields(headerValue.trim().slice(SESSION_SCHEME.length), ["token", "ts", "nonce", "mac"], malformed);
  const t = parseToken(token);
  if (!t) throw malformed("token is not a session token from POST /v1/sessions");
  if (!TS_RE.test(ts) || !Number.isSafeInteger(Number(ts))) throw malformed("ts must be unix time in milliseconds (decimal integer)");
  if (!NONCE_RE.test(nonce)) throw malformed("nonce must be 16 to 128 base64url characters");
  if (!MAC_RE.test(mac)) throw malformed("mac must be a 32-byte HMAC-SHA256 in base64url (43 chars)");
  let macBytes: Uint8Array;
  try {
    macBytes = b64u.decode(mac);
  } catch (e) {
    throw malformed(`mac: ${(e as Error).message}`);
  }
  return { token, ...t, ts: Number(ts), nonce, mac: macBytes };
}

/**
 * Verifies a session header against the request as received. Throws AuthError: malformed_auth,
 * session_expired (the session ended: open another), bad_session (the MAC does not verify: a
 * token this deployment did not issue or that was edited, a secret rotated since, or a request
 * altered after it was authenticated). Staleness of ts and replay are the caller's checks, as for
 * signatures (core/auth.ts).
 */
export function verifySessionAuth(
  /** the header's value, or its fields as parseSessionAuth read them already (core/auth.ts: read once per request) */
  header: string | SessionAuthFields,
  req: SignableRequest,
  secret: string,
  now: number,
): AuthClaims & { expiresAt: number } {
  const h = typeof header === "string" ? parseSessionAuth(header) : header;
  if (h.expiresAt <= now) {
    throw new AuthError(
      "session_expired",
      `the session ended ${Math.round((now - h.expiresAt) / 1000)} s ago: open a new one (POST /v1/sessions, signed) and authenticate with it`,
    );
  }
  const cached = cachedSessionKey(secret, h.token);
  const key = cached ?? sessionKeyOf(secret, h.token);
  let want: Buffer;
  try {
    want = macOf(key, req, h.ts, h.nonce);
  } catch (e) {
    if (e instanceof CryptoInputError) throw malformed(e.message);
    throw e;
  }
  if (h.mac.length !== want.length || !timingSafeEqual(want, h.mac)) {
    throw new AuthError(
      "bad_session",
      `x-cocoon-auth session MAC does not verify: use a token and key from this API's POST /v1/sessions (a rotated secret ends every session: open a new one), over the exact host (${req.host}), method, path with query, body bytes and Idempotency-Key that are sent`,
    );
  }
  if (!cached) keepSessionKey(secret, h.token, key);
  return { keyId: h.keyId, ts: h.ts, nonce: h.nonce, expiresAt: h.expiresAt };
}
