/**
 * The reply as a chunk sequence (docs/architecture.md §6, "Streaming").
 *
 * Built only from the primitives the envelope already uses (hpke.ts, keys.ts):
 *
 *   setup   (enc, ctx) = SetupBaseS(header.replyKey, info)
 *           info = "cocoon/v1/reply-stream\n" + canonicalJson(header) + "\n" + workerId
 *   keys    key       = ctx.export("cocoon/v1/reply-stream/key", 32)
 *           baseNonce = ctx.export("cocoon/v1/reply-stream/nonce", 12)
 *   chunk i ct_i = ChaCha20-Poly1305(key, baseNonce XOR be96(i), pt_i, aad_i)
 *           aad_i = "cocoon/v1/reply-chunk\n" + jobId + "\n" + i + "\n" + (final ? "1" : "0")
 *   opener  sig = Ed25519(worker, "cocoon/v1/reply-stream\n" + canonicalJson({ enc, headerHash, workerId }))
 *
 * What each part stops:
 *  - The key is known to the worker (it chose the ephemeral key) and to the requester (who
 *    holds the reply key), nobody else: the coordinator and the relay cannot read a chunk.
 *  - The sequence number and the final flag are in every chunk's AAD, and the nonce is derived
 *    from the sequence number: a chunk moved to another position, a copy of one, or a chunk
 *    relabelled final (a truncation) does not open. A chunk of another job does not open
 *    either: another job means another header, another HPKE setup, another key; the jobId in
 *    the AAD names it once more.
 *  - Base-mode HPKE does not authenticate the sender: anyone who read the header (the
 *    coordinator) could set up a stream to our reply key and feed us text. The opener
 *    signature closes that before the first delta is shown: only the worker's Ed25519 key
 *    can bind an `enc` to this header, and the requester checks it with the key the worker
 *    attested.
 *  - A stream cut short has no final chunk; the worker's receipt commits to the hash of the
 *    whole ChunkedReply (replyHash), so the stored answer cannot be shortened either.
 */
import type { ChunkedReply, EnvelopeHeader } from "../../events/envelope";
import { b64u, canonicalJson, sha256Hex } from "./encoding";
import { CryptoInputError, EnvelopeError, HpkeOpenError } from "./errors";
import { aeadOpen, aeadSeal, setupBaseR, setupBaseS, type HpkeSenderOptions } from "./hpke";
import { sign, verifySignature, type KemKeyPair, type SigningKeyPair } from "./keys";

export const REPLY_STREAM_INFO = "cocoon/v1/reply-stream";
export const REPLY_STREAM_KEY_LABEL = "cocoon/v1/reply-stream/key";
export const REPLY_STREAM_NONCE_LABEL = "cocoon/v1/reply-stream/nonce";
export const REPLY_CHUNK_AAD_PREFIX = "cocoon/v1/reply-chunk";
export const REPLY_STREAM_SIG_PREFIX = "cocoon/v1/reply-stream\n";

/** Largest plaintext of one chunk: a relay message stays well inside every pub/sub's size limit. */
export const MAX_CHUNK_PLAINTEXT = 96 * 1024;

const NONCE_LEN = 12;
const KEY_LEN = 32;

function streamInfo(header: EnvelopeHeader, workerId: string): Buffer {
  return Buffer.from(`${REPLY_STREAM_INFO}\n${canonicalJson(header)}\n${workerId}`, "utf8");
}

/** The associated data of chunk `seq`: the job, the position and whether it is the last. */
export function chunkAad(jobId: string, seq: number, final: boolean): Buffer {
  return Buffer.from(`${REPLY_CHUNK_AAD_PREFIX}\n${jobId}\n${seq}\n${final ? "1" : "0"}`, "utf8");
}

/** baseNonce XOR the big-endian sequence number (RFC 9180's ComputeNonce). */
export function chunkNonce(baseNonce: Uint8Array, seq: number): Buffer {
  if (!Number.isSafeInteger(seq) || seq < 0)
    throw new CryptoInputError("invalid_length", `chunk sequence number must be a non-negative integer, got ${seq}`);
  const n = Buffer.from(baseNonce);
  let s = seq;
  for (let i = NONCE_LEN - 1; i >= 0 && s > 0; i--) {
    n[i]! ^= s & 0xff;
    s = Math.floor(s / 256);
  }
  return n;
}

/** What the worker signs to bind its HPKE encapsulation to this job header. */
export function openerMessage(header: EnvelopeHeader, workerId: string, enc: string): string {
  return REPLY_STREAM_SIG_PREFIX + canonicalJson({ enc, headerHash: sha256Hex(canonicalJson(header)), workerId });
}

/** The start of a stream as the requester receives it: the encapsulation and the worker's signature over it. */
export interface StreamOpener {
  enc: string;
  sig: string;
}

/**
 * The worker's side: one per reply. Seal chunks in order; the last one with `final`. Holds
 * the stream key, so it lives only inside the agent.
 */
export class ReplyStreamSealer {
  readonly opener: StreamOpener;
  private readonly key: Uint8Array;
  private readonly baseNonce: Uint8Array;
  private readonly chunks: string[] = [];
  private finished = false;

  constructor(
    private readonly header: EnvelopeHeader,
    workerId: string,
    signingKey: SigningKeyPair,
    opts: HpkeSenderOptions = {},
  ) {
    let replyKey: Uint8Array;
    try {
      replyKey = b64u.decode(header.replyKey);
    } catch (e) {
      throw new CryptoInputError("invalid_key", `header.replyKey is not base64url: ${(e as Error).message}`);
    }
    if (signingKey.id !== workerId)
      throw new CryptoInputError("invalid_key", "the signing key is not this worker's (its id differs from workerId)");
    const { enc, context } = setupBaseS(replyKey, streamInfo(header, workerId), { ...opts, aead: "chacha20-poly1305" });
    this.key = context.export(REPLY_STREAM_KEY_LABEL, KEY_LEN);
    this.baseNonce = context.export(REPLY_STREAM_NONCE_LABEL, NONCE_LEN);
    const encS = b64u.encode(enc);
    this.opener = { enc: encS, sig: b64u.encode(sign(signingKey, openerMessage(header, workerId, encS))) };
  }

  /** Chunks sealed so far (the next one's sequence number). */
  get seq(): number {
    return this.chunks.length;
  }

  /** Seals the next chunk; returns it (base64url) with its sequence number. */
  seal(plaintext: Uint8Array, final: boolean): { seq: number; data: string } {
    if (this.finished) throw new CryptoInputError("sequence_overflow", "the stream already has its final chunk");
    if (plaintext.length > MAX_CHUNK_PLAINTEXT)
      throw new CryptoInputError("invalid_length", `a chunk holds at most ${MAX_CHUNK_PLAINTEXT} bytes, got ${plaintext.length}`);
    const seq = this.chunks.length;
    const ct = aeadSeal("chacha20-poly1305", this.key, chunkNonce(this.baseNonce, seq), chunkAad(this.header.jobId, seq, final), plaintext);
    const data = b64u.encode(ct);
    this.chunks.push(data);
    if (final) this.finished = true;
    return { seq, data };
  }

  /** The whole reply, once the final chunk is sealed: what the receipt's replyHash covers. */
  reply(): ChunkedReply {
    if (!this.finished) throw new CryptoInputError("sequence_overflow", "the stream has no final chunk yet");
    return { v: 2, enc: this.opener.enc, sig: this.opener.sig, chunks: [...this.chunks] };
  }
}

/**
 * The requester's side: checks the opener's signature with the worker's attested Ed25519 key
 * (its id) before anything else, then opens chunks by position. Throws EnvelopeError
 * `reply_auth_failed` for a forged opener or a chunk that does not open where it is claimed.
 */
export class ReplyStreamOpener {
  private readonly key: Uint8Array;
  private readonly baseNonce: Uint8Array;

  constructor(
    private readonly header: EnvelopeHeader,
    readonly workerId: string,
    opener: StreamOpener,
    replyKey: KemKeyPair,
  ) {
    let enc: Uint8Array;
    let sig: Uint8Array;
    let workerKey: Uint8Array;
    try {
      enc = b64u.decode(opener.enc);
      sig = b64u.decode(opener.sig);
      workerKey = b64u.decode(workerId);
    } catch (e) {
      throw new EnvelopeError("reply_auth_failed", `the stream opener is not valid base64url: ${(e as Error).message}`);
    }
    if (!verifySignature(workerKey, openerMessage(header, workerId, opener.enc), sig)) {
      throw new EnvelopeError(
        "reply_auth_failed",
        `the stream opener is not signed by worker ${workerId.slice(0, 8)} for this job: someone else started this stream`,
      );
    }
    try {
      const ctx = setupBaseR(replyKey, enc, streamInfo(header, workerId), { aead: "chacha20-poly1305" });
      this.key = ctx.export(REPLY_STREAM_KEY_LABEL, KEY_LEN);
      this.baseNonce = ctx.export(REPLY_STREAM_NONCE_LABEL, NONCE_LEN);
    } catch (e) {
      if (e instanceof HpkeOpenError)
        throw new EnvelopeError("reply_auth_failed", `the stream's encapsulation does not open: ${e.message}`);
      throw e;
    }
  }

  /** Opens the chunk claimed to be at `seq` (final or not); throws if it was sealed for anything else. */
  open(seq: number, final: boolean, data: string): Uint8Array {
    let ct: Uint8Array;
    try {
      ct = b64u.decode(data);
    } catch (e) {
      throw new EnvelopeError("reply_auth_failed", `chunk ${seq} is not valid base64url: ${(e as Error).message}`);
    }
    const pt = aeadOpen("chacha20-poly1305", this.key, chunkNonce(this.baseNonce, seq), chunkAad(this.header.jobId, seq, final), ct);
    if (!pt) {
      throw new EnvelopeError(
        "reply_auth_failed",
        `chunk ${seq}${final ? " (final)" : ""} does not open: it was changed, moved, copied, relabelled or belongs to another job or stream`,
      );
    }
    return pt;
  }
}

/** Opens a whole ChunkedReply: every chunk in order, the last one final. Returns the plaintexts. */
export function openChunkedReply(reply: ChunkedReply, header: EnvelopeHeader, workerId: string, replyKey: KemKeyPair): Uint8Array[] {
  const o = new ReplyStreamOpener(header, workerId, { enc: reply.enc, sig: reply.sig }, replyKey);
  // a reply with no chunk has no final chunk: it is cut short, whatever signed its opener (the
  // schema says min 1, but a caller may hand us a reply it did not parse)
  if (reply.chunks.length === 0)
    throw new EnvelopeError("reply_auth_failed", "the reply has no chunks, so no final chunk: it was cut short");
  return reply.chunks.map((c, i) => o.open(i, i === reply.chunks.length - 1, c));
}
