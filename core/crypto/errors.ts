/**
 * Error classes of core/crypto. Each carries a machine-readable `code`; the message says
 * what was wrong and what to fix. None of them ever includes key material or plaintext.
 */

export type CryptoInputErrorCode =
  "invalid_base64url" | "invalid_key" | "invalid_length" | "unsupported_value" | "unsupported_aead" | "sequence_overflow";

/** Bad input to a crypto helper (wrong length, bad encoding, value that cannot be canonicalised). */
export class CryptoInputError extends Error {
  constructor(
    readonly code: CryptoInputErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "CryptoInputError";
  }
}

export type HpkeOpenErrorCode = "open_failed" | "invalid_enc";

/** An HPKE ciphertext did not authenticate (wrong key, enc, info, aad or tampered ciphertext). */
export class HpkeOpenError extends Error {
  constructor(
    readonly code: HpkeOpenErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "HpkeOpenError";
  }
}

export type EnvelopeErrorCode =
  "not_a_recipient" | "key_unwrap_failed" | "payload_auth_failed" | "reply_auth_failed" | "invalid_recipients";

/** A request or reply envelope could not be opened (or, for `invalid_recipients`, sealed). */
export class EnvelopeError extends Error {
  constructor(
    readonly code: EnvelopeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "EnvelopeError";
  }
}

export type AuthErrorCode =
  | "missing_auth"
  | "malformed_auth"
  | "unsupported_auth_version"
  | "bad_signature"
  | "session_expired"
  | "bad_session"
  | "session_not_accepted"
  | "sessions_unavailable";

/** The signed-request header is missing, malformed, or its signature does not verify. */
export class AuthError extends Error {
  constructor(
    readonly code: AuthErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "AuthError";
  }
}
