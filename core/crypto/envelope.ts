/**
 * The request / reply envelope (docs/architecture.md §6, "Envelope").
 *
 * Request: one random 32-byte data key; payload = ChaCha20-Poly1305(dataKey, nonce,
 * plaintext, aad = canonicalJson(header)), stored as ct || tag. The data key is HPKE-sealed
 * (Base mode, DHKEM(X25519), HKDF-SHA256, ChaCha20-Poly1305) to each candidate worker with
 * info "cocoon/v1/request-key" and aad = canonicalJson(header) + "\n" + workerId, so the
 * coordinator can route and bill by the header but cannot alter it, and cannot move a
 * wrapped key from one worker to another.
 *
 * Reply: HPKE-sealed to header.replyKey with info "cocoon/v1/reply" and
 * aad = canonicalJson(header) + "\n" + workerId.
 */
import type { EnvelopeHeader, ReplyEnvelope, RequestEnvelope, SealedReply, WrappedKey } from "../../events/envelope";
import { b64u, canonicalJson, randomBytes, sha256Hex } from "./encoding";
import { CryptoInputError, EnvelopeError, HpkeOpenError } from "./errors";
import { aeadOpen, aeadSeal, hpkeOpen, hpkeSeal } from "./hpke";
import type { KemKeyPair } from "./keys";

export const REQUEST_KEY_INFO = "cocoon/v1/request-key";
export const REPLY_INFO = "cocoon/v1/reply";
export const MAX_RECIPIENTS = 8;

const INFO_REQUEST = Buffer.from(REQUEST_KEY_INFO, "utf8");
const INFO_REPLY = Buffer.from(REPLY_INFO, "utf8");
const DATA_KEY_LEN = 32;
const NONCE_LEN = 12;
const TAG_LEN = 16;

/*
 * One staging buffer for the payload's ciphertext, reused by every seal and open in this
 * process. The ciphertext exists only to be base64url-encoded (seal) or decrypted (open); a
 * fresh buffer per call, at 1 MB, costs page faults and, through V8's external-memory
 * accounting, extra GCs: about a third of the envelope's overhead over raw ChaCha20-Poly1305
 * in bench/envelope.ts. Both functions are synchronous and no view of it escapes them. It
 * holds ciphertext only (public on the wire), never a key or plaintext. Payloads above
 * STAGE_MAX get their own buffers, so a rare huge job does not pin its size in memory.
 */
const STAGE_MAX = 8 * 1024 * 1024;
let stage = Buffer.alloc(0);
function staging(n: number): Buffer | undefined {
  if (n > STAGE_MAX) return undefined;
  if (stage.length < n) stage = Buffer.allocUnsafe(Math.min(STAGE_MAX, Math.max(n, 2 * stage.length)));
  return stage;
}

function headerAad(header: EnvelopeHeader): Buffer {
  return Buffer.from(canonicalJson(header), "utf8");
}

function workerAad(headerJson: Buffer, workerId: string): Buffer {
  const id = Buffer.from(`\n${workerId}`, "utf8");
  return Buffer.concat([headerJson, id], headerJson.length + id.length);
}

export interface Recipient {
  workerId: string;
  /** raw 32-byte X25519 public key */
  hpkePublicKey: Uint8Array;
}

export function sealRequest(o: { header: EnvelopeHeader; plaintext: Uint8Array; recipients: Recipient[] }): RequestEnvelope {
  const { header, plaintext, recipients } = o;
  if (recipients.length < 1 || recipients.length > MAX_RECIPIENTS) {
    throw new EnvelopeError("invalid_recipients", `a request needs 1 to ${MAX_RECIPIENTS} recipients, got ${recipients.length}`);
  }
  const seen = new Set<string>();
  for (const r of recipients) {
    if (seen.has(r.workerId))
      throw new EnvelopeError("invalid_recipients", `worker ${r.workerId} is listed twice; list each candidate once`);
    seen.add(r.workerId);
    if (r.hpkePublicKey.length !== 32) {
      throw new EnvelopeError(
        "invalid_recipients",
        `worker ${r.workerId} has a ${r.hpkePublicKey.length}-byte HPKE key; X25519 keys are 32 bytes`,
      );
    }
  }
  const aad = headerAad(header);
  const dataKey = randomBytes(DATA_KEY_LEN);
  const nonce = randomBytes(NONCE_LEN);
  try {
    const payload = b64u.encode(aeadSeal("chacha20-poly1305", dataKey, nonce, aad, plaintext, staging(plaintext.length + TAG_LEN)));
    const keys: WrappedKey[] = recipients.map((r) => {
      let sealed: { enc: Uint8Array; ct: Uint8Array };
      try {
        sealed = hpkeSeal(r.hpkePublicKey, INFO_REQUEST, workerAad(aad, r.workerId), dataKey);
      } catch (e) {
        if (e instanceof CryptoInputError) throw new EnvelopeError("invalid_recipients", `worker ${r.workerId}: ${e.message}`);
        throw e;
      }
      return { workerId: r.workerId, enc: b64u.encode(sealed.enc), ct: b64u.encode(sealed.ct) };
    });
    return { header, nonce: b64u.encode(nonce), payload, keys };
  } finally {
    dataKey.fill(0);
  }
}

function decodeOr(
  s: string,
  code: "key_unwrap_failed" | "payload_auth_failed" | "reply_auth_failed",
  what: string,
  into?: Buffer,
): Uint8Array {
  try {
    return b64u.decode(s, into);
  } catch (e) {
    throw new EnvelopeError(code, `${what} is not valid base64url: ${(e as Error).message}`);
  }
}

export function openRequest(env: RequestEnvelope, me: { workerId: string; kem: KemKeyPair }): Uint8Array {
  const wrapped = env.keys.find((k) => k.workerId === me.workerId);
  if (!wrapped) {
    throw new EnvelopeError(
      "not_a_recipient",
      `this envelope has no key for worker ${me.workerId}; it was sealed to ${env.keys.length} other worker(s)`,
    );
  }
  const aad = headerAad(env.header);
  const enc = decodeOr(wrapped.enc, "key_unwrap_failed", "wrapped key enc");
  const ct = decodeOr(wrapped.ct, "key_unwrap_failed", "wrapped key ct");
  let dataKey: Uint8Array;
  try {
    dataKey = hpkeOpen(me.kem, enc, INFO_REQUEST, workerAad(aad, me.workerId), ct);
  } catch (e) {
    if (e instanceof HpkeOpenError) {
      throw new EnvelopeError(
        "key_unwrap_failed",
        "the data key did not open with this worker's HPKE key: the header or wrapped key was changed, or it was sealed to another key",
      );
    }
    throw e;
  }
  try {
    if (dataKey.length !== DATA_KEY_LEN) {
      throw new EnvelopeError("key_unwrap_failed", `unwrapped data key is ${dataKey.length} bytes, expected ${DATA_KEY_LEN}`);
    }
    const nonce = decodeOr(env.nonce, "payload_auth_failed", "payload nonce");
    if (nonce.length !== NONCE_LEN)
      throw new EnvelopeError("payload_auth_failed", `payload nonce is ${nonce.length} bytes, expected ${NONCE_LEN}`);
    const payload = decodeOr(
      env.payload,
      "payload_auth_failed",
      "payload",
      typeof env.payload === "string" ? staging(Buffer.byteLength(env.payload, "base64url")) : undefined,
    );
    const pt = aeadOpen("chacha20-poly1305", dataKey, nonce, aad, payload);
    if (!pt)
      throw new EnvelopeError(
        "payload_auth_failed",
        "the payload did not authenticate under the data key: the header, nonce or payload was changed",
      );
    return pt;
  } finally {
    dataKey.fill(0);
  }
}

export function sealReply(header: EnvelopeHeader, workerId: string, plaintext: Uint8Array): SealedReply {
  let replyKey: Uint8Array;
  try {
    replyKey = b64u.decode(header.replyKey);
  } catch (e) {
    throw new CryptoInputError("invalid_key", `header.replyKey is not base64url: ${(e as Error).message}`);
  }
  const { enc, ct } = hpkeSeal(replyKey, INFO_REPLY, workerAad(headerAad(header), workerId), plaintext);
  return { enc: b64u.encode(enc), ct: b64u.encode(ct) };
}

export function openReply(reply: SealedReply, header: EnvelopeHeader, workerId: string, replyKey: KemKeyPair): Uint8Array {
  const enc = decodeOr(reply.enc, "reply_auth_failed", "reply enc");
  const ct = decodeOr(reply.ct, "reply_auth_failed", "reply ct");
  try {
    return hpkeOpen(replyKey, enc, INFO_REPLY, workerAad(headerAad(header), workerId), ct);
  } catch (e) {
    if (e instanceof HpkeOpenError) {
      throw new EnvelopeError(
        "reply_auth_failed",
        "the reply did not open with this reply key: it was changed, sealed for another job header or worker, or to another key",
      );
    }
    throw e;
  }
}

/** sha256Hex(canonicalJson(env)): the request hash a receipt commits to. */
export function requestHash(env: RequestEnvelope): string {
  return sha256Hex(canonicalJson(env));
}

/**
 * What a stream's chunk 0 names its request by (ChunkPlaintext.req): the first 128 bits of its
 * request hash, base64url (22 characters). It must resist a second preimage, not a collision (the
 * requester's envelope is fixed before anyone else sees it), and each byte counts: chunk 0 is
 * stored with the job, and the full 64-hex hash added a DynamoDB write unit a job in the bench.
 */
export function requestTag(requestHashHex: string): string {
  return b64u.encode(Buffer.from(requestHashHex.slice(0, 32), "hex"));
}

/** sha256Hex(canonicalJson(reply)): the reply hash a receipt commits to. */
export function replyHash(reply: ReplyEnvelope): string {
  return sha256Hex(canonicalJson(reply));
}
