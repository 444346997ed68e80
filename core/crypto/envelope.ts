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
 *
 * Reply proof (session 39): proofKey = Export(ctx, "cocoon/v1/reply-proof", 32) of the HPKE
 * context that wrapped the data key to this worker, proof = base64url(HMAC-SHA256(proofKey,
 * requestHash bytes)). Only the requester (it chose the ephemeral key) and the holder of the
 * worker's HPKE private key (a tdx worker's: inside its TD only) can compute it; a reply that
 * carries it (ChunkPlaintext.proof) was written by whoever unwrapped our data key, not merely by
 * whoever holds the worker's Ed25519 key (which a tdx worker keeps on the host's disk).
 */
import { createHmac } from "node:crypto";
import type { EnvelopeHeader, ReplyEnvelope, RequestEnvelope, SealedReply, WrappedKey } from "../../events/envelope";
import { b64u, bytesEqual, canonicalJson, randomBytes, sha256Hex } from "./encoding";
import { CryptoInputError, EnvelopeError, HpkeOpenError } from "./errors";
import { aeadOpen, aeadSeal, hpkeOpen, hpkeSeal, setupBaseR, setupBaseS, type HpkeContext } from "./hpke";
import type { KemKeyPair } from "./keys";

/** How a wrapped data key that fails its HPKE open is refused (EnvelopeError key_unwrap_failed): the agent tells its requester more (agent/execute.ts). */
export const HPKE_OPEN_FAILED = "the data key did not open with this worker's HPKE key";

export const REQUEST_KEY_INFO = "cocoon/v1/request-key";
export const REPLY_INFO = "cocoon/v1/reply";
export const REPLY_PROOF_LABEL = "cocoon/v1/reply-proof";
export const MAX_RECIPIENTS = 8;

const INFO_REQUEST = Buffer.from(REQUEST_KEY_INFO, "utf8");
const INFO_REPLY = Buffer.from(REPLY_INFO, "utf8");
const DATA_KEY_LEN = 32;
const NONCE_LEN = 12;
const TAG_LEN = 16;
const PROOF_KEY_LEN = 32;

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

export interface SealRequestInput {
  header: EnvelopeHeader;
  plaintext: Uint8Array;
  recipients: Recipient[];
}

export function sealRequest(o: SealRequestInput): RequestEnvelope {
  return seal(o, undefined);
}

/**
 * sealRequest, also returning each recipient's reply-proof key (by workerId): what the requester
 * keeps, in memory next to its reply key, to check that a reply came from a worker that unwrapped
 * our data key (replyProofMatches).
 */
export function sealRequestBound(o: SealRequestInput): { envelope: RequestEnvelope; proofKeys: Map<string, Uint8Array> } {
  const proofKeys = new Map<string, Uint8Array>();
  return { envelope: seal(o, proofKeys), proofKeys };
}

/**
 * The proof key of one wrapped data key: an RFC 9180 export of the HPKE context that wrapped it.
 * Per recipient, unlike the data key: a co-candidate that unwrapped the same data key (a dev
 * worker, whose owner reads everything) cannot compute another worker's proof.
 */
function proofKeyOf(ctx: HpkeContext): Uint8Array {
  return ctx.export(REPLY_PROOF_LABEL, PROOF_KEY_LEN);
}

function seal(o: SealRequestInput, proofKeys: Map<string, Uint8Array> | undefined): RequestEnvelope {
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
        // hpkeSeal's single shot, spelled out so that the same context also gives the proof key
        const { enc, context } = setupBaseS(r.hpkePublicKey, INFO_REQUEST);
        sealed = { enc, ct: context.seal(workerAad(aad, r.workerId), dataKey) };
        proofKeys?.set(r.workerId, proofKeyOf(context));
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
  return openRequestBound(env, me).plaintext;
}

/**
 * openRequest, also returning this worker's reply-proof key: the worker proves with it
 * (replyProof) that its reply comes from whoever unwrapped this data key, which for a tdx worker
 * is its TD and nothing outside it.
 */
export function openRequestBound(
  env: RequestEnvelope,
  me: { workerId: string; kem: KemKeyPair },
): { plaintext: Uint8Array; proofKey: Uint8Array } {
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
  let proofKey: Uint8Array;
  try {
    const ctx = setupBaseR(me.kem, enc, INFO_REQUEST);
    dataKey = ctx.open(workerAad(aad, me.workerId), ct);
    proofKey = proofKeyOf(ctx);
  } catch (e) {
    if (e instanceof HpkeOpenError) {
      throw new EnvelopeError(
        "key_unwrap_failed",
        `${HPKE_OPEN_FAILED}: the header or wrapped key was changed, or it was sealed to another key`,
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
    return { plaintext: pt, proofKey };
  } catch (e) {
    proofKey.fill(0); // nothing was opened: nothing to prove
    throw e;
  } finally {
    dataKey.fill(0);
  }
}

function proofMac(proofKey: Uint8Array, requestHashHex: string): Buffer {
  if (!/^[0-9a-f]{64}$/.test(requestHashHex))
    throw new CryptoInputError("invalid_length", "a request hash is 64 lowercase hex digits (requestHash)");
  return createHmac("sha256", proofKey).update(Buffer.from(requestHashHex, "hex")).digest();
}

/**
 * What a reply carries to show it answers the envelope of `requestHashHex` (ChunkPlaintext.proof):
 * base64url(HMAC-SHA256(proofKey, requestHash bytes)), 43 characters. The request hash, not the
 * job id: it commits to the whole envelope (the header with the job id and reply key, the payload,
 * every wrapped key), is what the receipt signs, and a proof key is per wrapped key already.
 */
export function replyProof(proofKey: Uint8Array, requestHashHex: string): string {
  return b64u.encode(proofMac(proofKey, requestHashHex));
}

/** Whether `proof` is the reply proof of `proofKey` for `requestHashHex` (compared in constant time). */
export function replyProofMatches(proofKey: Uint8Array, requestHashHex: string, proof: string | undefined): boolean {
  if (proof === undefined) return false;
  let got: Uint8Array;
  try {
    got = b64u.decode(proof);
  } catch {
    return false;
  }
  return bytesEqual(proofMac(proofKey, requestHashHex), got);
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
