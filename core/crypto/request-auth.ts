/**
 * Signed REST requests (DESIGN.md "Identity and authentication").
 *
 *   x-cocoon-auth: v1 key=<b64u Ed25519 public key>,ts=<unix ms>,nonce=<16..128 b64u chars>,sig=<b64u>
 *
 * sig = Ed25519 over ["cocoon/v1/request", METHOD, path-with-query exactly as sent,
 * sha256Hex(body bytes, or "" when there is none), ts, nonce].join("\n").
 * Staleness of ts and replay of nonce are the caller's checks (core/auth.ts).
 */
import { b64u, randomBytes, sha256Hex } from "./encoding";
import { AuthError, CryptoInputError } from "./errors";
import { sign, verifySignature, type SigningKeyPair } from "./keys";

export const AUTH_HEADER = "x-cocoon-auth";
export const AUTH_SCHEME = "v1";
const SIGNED_PREFIX = "cocoon/v1/request";
const FORMAT = "v1 key=<b64u public key>,ts=<unix ms>,nonce=<16-128 base64url chars>,sig=<b64u signature>";

const NONCE_RE = /^[A-Za-z0-9_-]{16,128}$/;
const KEY_RE = /^[A-Za-z0-9_-]{43}$/;
const SIG_RE = /^[A-Za-z0-9_-]{86}$/;
const TS_RE = /^(0|[1-9]\d{0,15})$/;

export interface SignableRequest {
  method: string;
  /** path with query string, exactly as sent */
  path: string;
  body?: string | Uint8Array;
}

export interface AuthClaims {
  /** b64u of the signer's Ed25519 public key (the account / worker id) */
  keyId: string;
  ts: number;
  nonce: string;
}

/** The exact string that is signed. */
export function requestSigningString(req: SignableRequest, ts: number, nonce: string): string {
  return [SIGNED_PREFIX, req.method.toUpperCase(), req.path, sha256Hex(req.body ?? ""), String(ts), nonce].join("\n");
}

/** Returns the x-cocoon-auth header value for this request. */
export function signRequest(kp: SigningKeyPair, req: SignableRequest & { now?: number; nonce?: string }): string {
  const ts = req.now ?? Date.now();
  if (!Number.isSafeInteger(ts) || ts < 0) throw new CryptoInputError("unsupported_value", `request timestamp must be a non-negative integer of unix ms, got ${ts}`);
  const nonce = req.nonce ?? b64u.encode(randomBytes(16));
  if (!NONCE_RE.test(nonce)) throw new CryptoInputError("unsupported_value", "request nonce must be 16 to 128 base64url characters");
  const sig = sign(kp, requestSigningString(req, ts, nonce));
  return `${AUTH_SCHEME} key=${kp.id},ts=${ts},nonce=${nonce},sig=${b64u.encode(sig)}`;
}

function malformed(what: string): AuthError {
  return new AuthError("malformed_auth", `${AUTH_HEADER} header is malformed: ${what}; expected "${FORMAT}"`);
}

/** Parses the header value without checking the signature. */
export function parseAuthHeader(headerValue: string | undefined): { key: string; ts: number; nonce: string; sig: string } {
  if (headerValue === undefined || headerValue === null || headerValue.trim() === "") {
    throw new AuthError("missing_auth", `missing ${AUTH_HEADER} header: sign every request with your Ed25519 key ("${FORMAT}")`);
  }
  if (typeof headerValue !== "string") throw malformed("not a string");
  if (headerValue.length > 512) throw malformed(`${headerValue.length} characters is too long`);
  const value = headerValue.trim();
  if (!value.startsWith(`${AUTH_SCHEME} `)) throw malformed(`scheme must be "${AUTH_SCHEME}"`);
  const fields = new Map<string, string>();
  for (const part of value.slice(AUTH_SCHEME.length + 1).trim().split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw malformed(`"${part.slice(0, 20)}" is not name=value`);
    const name = part.slice(0, eq).trim();
    if (fields.has(name)) throw malformed(`field "${name}" appears twice`);
    fields.set(name, part.slice(eq + 1).trim());
  }
  for (const name of fields.keys()) {
    if (!["key", "ts", "nonce", "sig"].includes(name)) throw malformed(`unknown field "${name.slice(0, 20)}"`);
  }
  const key = fields.get("key");
  const tsStr = fields.get("ts");
  const nonce = fields.get("nonce");
  const sig = fields.get("sig");
  if (key === undefined || tsStr === undefined || nonce === undefined || sig === undefined) {
    throw malformed(`missing field(s) ${["key", "ts", "nonce", "sig"].filter((n) => !fields.has(n)).join(", ")}`);
  }
  if (!KEY_RE.test(key)) throw malformed("key must be a 32-byte Ed25519 public key in base64url (43 chars)");
  if (!TS_RE.test(tsStr) || !Number.isSafeInteger(Number(tsStr))) throw malformed("ts must be unix time in milliseconds (decimal integer)");
  if (!NONCE_RE.test(nonce)) throw malformed("nonce must be 16 to 128 base64url characters");
  if (!SIG_RE.test(sig)) throw malformed("sig must be a 64-byte Ed25519 signature in base64url (86 chars)");
  return { key, ts: Number(tsStr), nonce, sig };
}

/**
 * Verifies the header against the request as received. Throws AuthError with code
 * missing_auth | malformed_auth | bad_signature. Does not check staleness or replay.
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
  if (!verifySignature(pub, requestSigningString(req, h.ts, h.nonce), sig)) {
    throw new AuthError(
      "bad_signature",
      `${AUTH_HEADER} signature does not verify: sign "${SIGNED_PREFIX}\\nMETHOD\\npath?query\\nsha256hex(body)\\nts\\nnonce" with the key in the header, using the exact method, path with query, and body bytes that are sent`,
    );
  }
  return { keyId: h.key, ts: h.ts, nonce: h.nonce };
}
