/**
 * Signed REST requests (docs/architecture.md §6, "Identity and requests").
 *
 *   x-cocoon-auth: v2 key=<b64u Ed25519 public key>,ts=<unix ms>,nonce=<16..128 b64u chars>,sig=<b64u>
 *
 * sig = Ed25519 over ["cocoon/v2/request", host, METHOD, path-with-query exactly as sent,
 * sha256Hex(body bytes, or "" when there is none), Idempotency-Key header (or ""), ts, nonce]
 * .join("\n").
 *
 * `host` is the API host the request is addressed to (the authority of the API URL, lower
 * case, with the port unless it is the scheme's default): it names the deployment, so a
 * request signed for one deployment (testnet, a local network) is refused by every other
 * (issue 9 #12). The Idempotency-Key is signed because it decides which money movement a
 * request is: swapping it on a captured request would make a retry a second movement.
 * v1 (neither covered) is refused. Staleness of ts and replay of nonce are the caller's
 * checks (core/auth.ts).
 */
import { b64u, randomBytes, sha256Hex } from "./encoding";
import { AuthError, CryptoInputError } from "./errors";
import { sign, verifySignature, type SigningKeyPair } from "./keys";

export const AUTH_HEADER = "x-cocoon-auth";
export const AUTH_SCHEME = "v2";
const SIGNED_PREFIX = "cocoon/v2/request";
const FORMAT = "v2 key=<b64u public key>,ts=<unix ms>,nonce=<16-128 base64url chars>,sig=<b64u signature>";
const SIGNED_FORMAT = `${SIGNED_PREFIX}\\nhost\\nMETHOD\\npath?query\\nsha256hex(body)\\nidempotency-key\\nts\\nnonce`;

export const NONCE_RE = /^[A-Za-z0-9_-]{16,128}$/;
const KEY_RE = /^[A-Za-z0-9_-]{43}$/;
const SIG_RE = /^[A-Za-z0-9_-]{86}$/;
export const TS_RE = /^(0|[1-9]\d{0,15})$/;
/** host[:port] as URL.host writes it (an IPv6 literal in brackets), lower case. */
const HOST_RE = /^[a-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9a-f:.]{2,45}\](:\d{1,5})?$/;
/** Header values cannot hold line breaks; refusing control characters keeps the string one line per field. */
const IDEMPOTENCY_RE = /^[\x20-\x7e]{0,256}$/;

export interface SignableRequest {
  method: string;
  /** path with query string, exactly as sent */
  path: string;
  body?: string | Uint8Array;
  /** the API host the request is addressed to: apiHostOf(the API URL) */
  host: string;
  /** the Idempotency-Key header as sent, if any */
  idempotencyKey?: string | undefined;
}

export interface AuthClaims {
  /** b64u of the signer's Ed25519 public key (the account / worker id) */
  keyId: string;
  ts: number;
  nonce: string;
}

/** The host a client signs for, from its API base URL: "https://API.example.com:443/x" → "api.example.com". */
export function apiHostOf(apiUrl: string): string {
  return new URL(apiUrl).host.toLowerCase();
}

/** The exact string that is signed. Throws CryptoInputError for a host or Idempotency-Key that cannot be signed unambiguously. */
export function requestSigningString(req: SignableRequest, ts: number, nonce: string): string {
  const host = typeof req.host === "string" ? req.host.toLowerCase() : "";
  if (!HOST_RE.test(host))
    throw new CryptoInputError("unsupported_value", `request host must be the API URL's host[:port], got ${JSON.stringify(req.host)}`);
  const idem = req.idempotencyKey ?? "";
  if (typeof idem !== "string" || !IDEMPOTENCY_RE.test(idem))
    throw new CryptoInputError("unsupported_value", "Idempotency-Key must be at most 256 printable ASCII characters");
  return [SIGNED_PREFIX, host, req.method.toUpperCase(), req.path, sha256Hex(req.body ?? ""), idem, String(ts), nonce].join("\n");
}

/** Returns the x-cocoon-auth header value for this request. */
export function signRequest(kp: SigningKeyPair, req: SignableRequest & { now?: number; nonce?: string }): string {
  const ts = req.now ?? Date.now();
  if (!Number.isSafeInteger(ts) || ts < 0)
    throw new CryptoInputError("unsupported_value", `request timestamp must be a non-negative integer of unix ms, got ${ts}`);
  const nonce = req.nonce ?? b64u.encode(randomBytes(16));
  if (!NONCE_RE.test(nonce)) throw new CryptoInputError("unsupported_value", "request nonce must be 16 to 128 base64url characters");
  const sig = sign(kp, requestSigningString(req, ts, nonce));
  return `${AUTH_SCHEME} key=${kp.id},ts=${ts},nonce=${nonce},sig=${b64u.encode(sig)}`;
}

function malformed(what: string): AuthError {
  return new AuthError("malformed_auth", `${AUTH_HEADER} header is malformed: ${what}; expected "${FORMAT}"`);
}

/**
 * The comma-separated name=value fields after an x-cocoon-auth scheme (v2 here, the session's s1
 * in session-auth.ts): each of `names` exactly once, no other; `malformed` makes the refusal.
 */
export function authFields<N extends string>(rest: string, names: readonly N[], malformed: (what: string) => AuthError): Record<N, string> {
  const fields = new Map<string, string>();
  for (const part of rest.trim().split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw malformed(`"${part.slice(0, 20)}" is not name=value`);
    const name = part.slice(0, eq).trim();
    if (fields.has(name)) throw malformed(`field "${name}" appears twice`);
    fields.set(name, part.slice(eq + 1).trim());
  }
  for (const name of fields.keys()) {
    if (!(names as readonly string[]).includes(name)) throw malformed(`unknown field "${name.slice(0, 20)}"`);
  }
  const missing = names.filter((n) => !fields.has(n));
  if (missing.length) throw malformed(`missing field(s) ${missing.join(", ")}`);
  return Object.fromEntries(fields) as Record<N, string>;
}

/** Parses the header value without checking the signature. */
export function parseAuthHeader(headerValue: string | undefined): { key: string; ts: number; nonce: string; sig: string } {
  // typeof first: a non-string (a transport bug) is refused as malformed below, not a TypeError here
  if (headerValue === undefined || headerValue === null || (typeof headerValue === "string" && headerValue.trim() === "")) {
    throw new AuthError("missing_auth", `missing ${AUTH_HEADER} header: sign every request with your Ed25519 key ("${FORMAT}")`);
  }
  if (typeof headerValue !== "string") throw malformed("not a string");
  if (headerValue.length > 512) throw malformed(`${headerValue.length} characters is too long`);
  const value = headerValue.trim();
  if (value.startsWith("v1 ")) {
    throw new AuthError(
      "unsupported_auth_version",
      `${AUTH_HEADER} v1 is no longer accepted: its signature covers neither the API host nor the Idempotency-Key; upgrade the client to sign "${FORMAT}"`,
    );
  }
  if (!value.startsWith(`${AUTH_SCHEME} `)) throw malformed(`scheme must be "${AUTH_SCHEME}"`);
  const { key, ts: tsStr, nonce, sig } = authFields(value.slice(AUTH_SCHEME.length + 1), ["key", "ts", "nonce", "sig"], malformed);
  if (!KEY_RE.test(key)) throw malformed("key must be a 32-byte Ed25519 public key in base64url (43 chars)");
  if (!TS_RE.test(tsStr) || !Number.isSafeInteger(Number(tsStr))) throw malformed("ts must be unix time in milliseconds (decimal integer)");
  if (!NONCE_RE.test(nonce)) throw malformed("nonce must be 16 to 128 base64url characters");
  if (!SIG_RE.test(sig)) throw malformed("sig must be a 64-byte Ed25519 signature in base64url (86 chars)");
  return { key, ts: Number(tsStr), nonce, sig };
}

/**
 * Verifies the header against the request as received, for this deployment's host. Throws
 * AuthError with code missing_auth | malformed_auth | unsupported_auth_version |
 * bad_signature. Does not check staleness or replay.
 */
export function verifyRequestAuth(headerValue: string | undefined, req: SignableRequest): AuthClaims {
  const h = parseAuthHeader(headerValue);
  let pub: Uint8Array;
  let sig: Uint8Array;
  try {
    pub = b64u.decode(h.key);
    sig = b64u.decode(h.sig);
  } catch (e) {
    throw malformed((e as Error).message);
  }
  let signed: string;
  try {
    signed = requestSigningString(req, h.ts, h.nonce);
  } catch (e) {
    if (e instanceof CryptoInputError) throw malformed(e.message);
    throw e;
  }
  if (!verifySignature(pub, signed, sig)) {
    throw new AuthError(
      "bad_signature",
      `${AUTH_HEADER} signature does not verify: sign "${SIGNED_FORMAT}" with the key in the header, using this API's host (${req.host}), the exact method, path with query, body bytes and Idempotency-Key that are sent (small-order or non-canonical Ed25519 keys and signatures are refused)`,
    );
  }
  return { keyId: h.key, ts: h.ts, nonce: h.nonce };
}
