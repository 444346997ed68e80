/**
 * The requester's side of a reply: opening a stored reply (either form) into an answer, and
 * checking a streamed one chunk by chunk (docs/architecture.md §3, "Streaming"). Everything
 * here trusts only what authenticates under a stream opened by a worker we encrypted to.
 */
import {
  ChunkPlaintext,
  MAX_REPLY_BYTES,
  ReplyPlaintext,
  type ChunkedReply,
  type EnvelopeHeader,
  type ReplyEnvelope,
  type TokenLogprob,
  type ToolCall,
} from "../events/envelope";
import type { RelayChunk } from "../events/relay";
import { b64u, canonicalJson } from "../core/crypto/encoding";
import { openReply, replyProofMatches, requestTag } from "../core/crypto/envelope";
import { EnvelopeError } from "../core/crypto/errors";
import type { KemKeyPair } from "../core/crypto/keys";
import { ReplyStreamOpener } from "../core/crypto/reply-stream";

export type StreamIntegrityCode =
  | "stream_tampered"
  | "stream_reordered"
  | "stream_duplicate"
  | "stream_gap"
  | "stream_truncated"
  | "stream_cross_job"
  | "stream_mismatch"
  | "stream_too_long"
  | "reply_unbound";

/** Raised by the stream checks; client/sdk.ts maps it onto StreamIntegrityError. */
export class StreamCheckFailure extends Error {
  constructor(
    readonly code: StreamIntegrityCode,
    message: string,
  ) {
    super(message);
  }
}

export interface AnswerChoice {
  index: number;
  text: string;
  toolCalls?: ToolCall[];
  finishReason: "stop" | "length" | "cancelled";
  /** each generated token's log probability, when the request asked for them (logprobs) */
  logprobs?: TokenLogprob[];
  /** the model's thinking, apart from `text`, when its engine separates it (absent when none) */
  reasoning?: string;
}

/** A reply, opened. */
export interface Answer {
  choices: AnswerChoice[];
  /** reasoningTokens: how many of the completion tokens were thinking, where the worker's engine counted them (never billed) */
  usage: { promptTokens: number; completionTokens: number; reasoningTokens?: number };
  engine: string;
  /** embedding jobs: one vector per input */
  embeddings?: number[][];
}

/** Little-endian float32 (how vectors travel sealed) back to numbers. */
export function decodeVector(s: string): number[] {
  const bytes = b64u.decode(s);
  if (bytes.length % 4 !== 0)
    throw new StreamCheckFailure("stream_tampered", "an embedding vector is not a whole number of float32 values");
  const copy = new Uint8Array(bytes); // aligned
  return Array.from(new Float32Array(copy.buffer, 0, copy.length / 4));
}

/** Accumulates opened chunks into an answer; the final chunk, and only it, carries the end. */
export class AnswerBuilder {
  private readonly texts: string[] = [];
  private readonly reasonings: string[] = [];
  private readonly logprobs: TokenLogprob[][] = [];
  private readonly vectors: string[] = [];
  private end: ChunkPlaintext["end"];

  add(p: ChunkPlaintext, final: boolean): void {
    if (this.end) throw new StreamCheckFailure("stream_too_long", "a chunk came after the final one");
    if (final !== (p.end !== undefined))
      throw new StreamCheckFailure("stream_tampered", final ? "the final chunk carries no end" : "a chunk before the last carries an end");
    const i = p.i ?? 0;
    if (p.text !== undefined) this.texts[i] = (this.texts[i] ?? "") + p.text;
    if (p.reasoning) this.reasonings[i] = (this.reasonings[i] ?? "") + p.reasoning;
    if (p.logprobs?.length) (this.logprobs[i] ??= []).push(...p.logprobs);
    if (p.embeddings) this.vectors.push(...p.embeddings);
    if (p.end) this.end = p.end;
  }

  get done(): boolean {
    return this.end !== undefined;
  }

  answer(): Answer {
    const end = this.end;
    if (!end) throw new StreamCheckFailure("stream_truncated", "the reply has no final chunk");
    if (this.texts.length > end.choices.length || this.reasonings.length > end.choices.length || this.logprobs.length > end.choices.length)
      throw new StreamCheckFailure("stream_tampered", "text for a choice the end does not list");
    return {
      choices: end.choices.map((c, index) => ({
        index,
        text: this.texts[index] ?? "",
        finishReason: c.finishReason,
        ...(c.toolCalls ? { toolCalls: c.toolCalls } : {}),
        ...(this.logprobs[index] ? { logprobs: this.logprobs[index] } : {}),
        ...(this.reasonings[index] ? { reasoning: this.reasonings[index] } : {}),
      })),
      usage: end.usage,
      engine: end.engine,
      ...(this.vectors.length ? { embeddings: this.vectors.map(decodeVector) } : {}),
    };
  }
}

/**
 * What a reply's proof (ChunkPlaintext.proof, session 39) is checked against: our request's hash
 * and the proof key of each worker we encrypted to (sealRequestBound), and which of them must
 * send one. A proof shows the reply was written by whoever unwrapped our data key with that
 * worker's HPKE key; the opener and the receipt show only its Ed25519 key, which a tdx worker
 * keeps on its host's disk. So the tdx workers must send one: without it anything on the host
 * could answer in the TD's name, at whatever usage it likes.
 */
export interface ReplyBinding {
  requestHash: string;
  proofKeys: ReadonlyMap<string, Uint8Array>;
  /** the workers whose replies must carry a proof (the tdx ones); any other's is checked when present */
  required: ReadonlySet<string>;
}

/** Refuses (reply_unbound) a reply whose proof is wrong, or missing where `binding` requires one. */
function checkProof(binding: ReplyBinding, workerId: string, proof: string | undefined): void {
  if (proof === undefined && !binding.required.has(workerId)) return;
  const key = binding.proofKeys.get(workerId);
  if (!key || !replyProofMatches(key, binding.requestHash, proof))
    throw new StreamCheckFailure(
      "reply_unbound",
      proof === undefined
        ? `worker ${workerId.slice(0, 8)}'s reply carries no proof that it unwrapped our request: whatever holds its signing key could have written it`
        : `worker ${workerId.slice(0, 8)}'s reply proof does not match our request: it was not written by whoever unwrapped our data key`,
    );
}

function parseChunk(pt: Uint8Array, seq: number): ChunkPlaintext {
  try {
    return ChunkPlaintext.parse(JSON.parse(new TextDecoder().decode(pt)));
  } catch {
    throw new StreamCheckFailure("stream_tampered", `chunk ${seq} opened but holds no chunk`);
  }
}

function openStream(
  header: EnvelopeHeader,
  workerId: string,
  opener: { enc: string; sig: string },
  replyKey: KemKeyPair,
): ReplyStreamOpener {
  try {
    return new ReplyStreamOpener(header, workerId, opener, replyKey);
  } catch (e) {
    if (e instanceof EnvelopeError) throw new StreamCheckFailure("stream_tampered", e.message);
    throw e;
  }
}

function openChunk(o: ReplyStreamOpener, seq: number, final: boolean, data: string): ChunkPlaintext {
  try {
    return parseChunk(o.open(seq, final, data), seq);
  } catch (e) {
    if (e instanceof EnvelopeError) throw new StreamCheckFailure("stream_tampered", e.message);
    throw e;
  }
}

/**
 * A stored ChunkedReply, opened. A last chunk that opens only as a non-final one means the
 * stored sequence was cut short (stream_truncated); anything else that does not open is
 * stream_tampered.
 */
export function openChunked(
  reply: ChunkedReply,
  header: EnvelopeHeader,
  workerId: string,
  replyKey: KemKeyPair,
  binding: ReplyBinding,
): Answer {
  const o = openStream(header, workerId, reply, replyKey);
  const b = new AnswerBuilder();
  const last = reply.chunks.length - 1;
  reply.chunks.forEach((c, i) => {
    const add = (p: ChunkPlaintext, final: boolean) => {
      if (i === 0) checkProof(binding, workerId, p.proof);
      b.add(p, final);
    };
    if (i === last) {
      let pt: Uint8Array | undefined;
      try {
        pt = o.open(i, true, c);
      } catch {
        pt = undefined;
      }
      if (!pt) {
        try {
          o.open(i, false, c);
        } catch {
          throw new StreamCheckFailure("stream_tampered", `chunk ${i} of the stored reply does not open`);
        }
        throw new StreamCheckFailure(
          "stream_truncated",
          `the stored reply ends at chunk ${i}, which is not the worker's final chunk: it was cut short`,
        );
      }
      add(parseChunk(pt, i), true);
    } else add(openChunk(o, i, false, c), false);
  });
  return b.answer();
}

/**
 * Either stored form, opened (a SealedReply is an answer from an agent before streaming). A reply
 * whose proof is wrong, or missing where `binding` requires one, is refused (reply_unbound): a
 * SealedReply has no proof, so a worker that must prove cannot answer with one. The binding is
 * not optional (session 40): a caller that forgot it skipped the check without a word.
 */
export function openAnswer(
  reply: ReplyEnvelope,
  header: EnvelopeHeader,
  workerId: string,
  replyKey: KemKeyPair,
  binding: ReplyBinding,
): Answer {
  if ("chunks" in reply) return openChunked(reply, header, workerId, replyKey, binding);
  checkProof(binding, workerId, undefined);
  const a = ReplyPlaintext.parse(JSON.parse(new TextDecoder().decode(openReply(reply, header, workerId, replyKey))));
  return { choices: [{ index: 0, text: a.text, finishReason: a.finishReason }], usage: a.usage, engine: a.engine };
}

/** One verified piece of a stream, ready to show. */
export type StreamPiece =
  | { kind: "text"; index: number; text: string; logprobs?: TokenLogprob[]; /** the model's thinking before `text` */ reasoning?: string }
  | { kind: "tools"; index: number; toolCalls: ToolCall[] }
  | { kind: "restart"; attempt: number; workerId: string };

interface AttemptStream {
  attempt: number;
  workerId: string;
  opener: ReplyStreamOpener;
  enc: string;
  sig: string;
  /** sealed chunks accepted so far, in order */
  chunks: string[];
  /** `chunks` as a stored reply's canonical JSON weighs them (replyBytes) */
  bytes: number;
  builder: AnswerBuilder;
}

/**
 * What a stored reply of this opener and `chunks` weighs as canonical JSON
 * (`{"chunks":["…",…],"enc":"…","sig":"…","v":2}`, all ASCII), the measure the coordinator caps
 * at MAX_REPLY_BYTES (core/jobs/results.ts) and the agent counts as it seals (agent/execute.ts).
 */
const replyShellBytes = (enc: string, sig: string) => canonicalJson({ v: 2, enc, sig, chunks: [] }).length;
const chunkBytes = (data: string, seq: number) => data.length + 2 + (seq > 0 ? 1 : 0);

/**
 * Checks a job's relayed chunks as they arrive: right job, one attempt at a time, positions
 * 0, 1, 2… with nothing missing, repeated or moved, every chunk opening under a stream whose
 * opener the worker signed, nothing after the final chunk. Each chunk that passes gives its
 * pieces to show. `settle` then checks the stored reply against what was shown and gives the
 * pieces the relay never delivered (from the stored reply, which the receipt covers).
 */
export class StreamVerifier {
  private cur: AttemptStream | undefined;
  private shown = false;
  /** chunks taken from the stored reply rather than the relay */
  recovered = 0;
  /** chunks accepted from the relay */
  relayed = 0;

  constructor(
    private readonly jobId: string,
    private readonly header: EnvelopeHeader,
    private readonly replyKey: KemKeyPair,
    /** workers we encrypted to: only their streams are opened */
    private readonly workers: ReadonlySet<string>,
    /**
     * Our request's hash and reply-proof keys. The hash: chunk 0 of a stream names the envelope
     * its worker opened (ChunkPlaintext.req), and a stream that answers another request (the
     * coordinator wrapped a data key of its own to our worker under our header: the opener's
     * signature covers only the header) is refused before any of it is shown; agents from before
     * session 31 name none. The keys: chunk 0 without a valid proof is refused where they require one.
     */
    private readonly binding: ReplyBinding,
  ) {}

  /** Checks a batch of relayed chunks (in the relay's order); returns what to show. */
  accept(batch: RelayChunk[]): StreamPiece[] {
    const out: StreamPiece[] = [];
    batch.forEach((c, k) => {
      if (c.jobId !== this.jobId)
        throw new StreamCheckFailure("stream_cross_job", `the relay delivered a chunk of job ${c.jobId} in the stream of ${this.jobId}`);
      const cur = this.cur;
      if (!cur || c.attempt !== cur.attempt) {
        if (cur && c.attempt < cur.attempt)
          throw new StreamCheckFailure(
            "stream_reordered",
            `a chunk of attempt ${c.attempt} came after attempt ${cur.attempt}'s stream began`,
          );
        if (c.seq !== 0 || !c.opener)
          throw new StreamCheckFailure("stream_gap", `attempt ${c.attempt}'s stream starts at chunk ${c.seq}: its start is missing`);
        if (!this.workers.has(c.opener.workerId))
          throw new StreamCheckFailure(
            "stream_tampered",
            `a stream opened by worker ${c.opener.workerId.slice(0, 8)}, which we did not encrypt to`,
          );
        const opener = openStream(this.header, c.opener.workerId, c.opener, this.replyKey);
        if (cur && this.shown) out.push({ kind: "restart", attempt: c.attempt, workerId: c.opener.workerId });
        this.cur = {
          attempt: c.attempt,
          workerId: c.opener.workerId,
          opener,
          enc: c.opener.enc,
          sig: c.opener.sig,
          chunks: [],
          bytes: replyShellBytes(c.opener.enc, c.opener.sig),
          builder: new AnswerBuilder(),
        };
      }
      const s = this.cur!;
      const next = s.chunks.length;
      if (c.seq < next) {
        throw s.chunks[c.seq] === c.data
          ? new StreamCheckFailure("stream_duplicate", `chunk ${c.seq} came twice`)
          : new StreamCheckFailure("stream_reordered", `chunk ${c.seq} came after chunk ${next - 1}`);
      }
      if (c.seq > next) {
        const later = batch.slice(k + 1).some((d) => d.jobId === c.jobId && d.attempt === c.attempt && d.seq === next);
        throw later
          ? new StreamCheckFailure("stream_reordered", `chunk ${c.seq} came before chunk ${next}`)
          : new StreamCheckFailure("stream_gap", `chunk ${next} is missing: the relay went on with chunk ${c.seq}`);
      }
      if (s.builder.done) throw new StreamCheckFailure("stream_too_long", `chunk ${c.seq} came after the final chunk`);
      // Relay39 #1: no honest stream outgrows what the coordinator stores, and a worker's
      // credentials reach the relay with nobody between (SQS, IoT Core): without this one
      // could make us hold MAX_REPLY_CHUNKS chunks of 132 KiB (over 500 MB) of one job.
      const bytes = s.bytes + chunkBytes(c.data, c.seq);
      if (bytes > MAX_REPLY_BYTES)
        throw new StreamCheckFailure(
          "stream_too_long",
          `chunk ${c.seq} carries the reply past ${MAX_REPLY_BYTES} bytes as JSON, more than the network stores: no worker can be paid for it`,
        );
      const p = openChunk(s.opener, c.seq, c.final, c.data);
      if (c.seq === 0 && p.req !== undefined && p.req !== requestTag(this.binding.requestHash))
        throw new StreamCheckFailure(
          "stream_tampered",
          `worker ${s.workerId.slice(0, 8)} answers another request than ours (it opened an envelope that is not the one we sealed)`,
        );
      if (c.seq === 0) checkProof(this.binding, s.workerId, p.proof);
      s.builder.add(p, c.final);
      s.chunks.push(c.data);
      s.bytes = bytes;
      this.relayed++;
      out.push(...this.pieces(p));
    });
    if (out.some((p) => p.kind !== "restart")) this.shown = true;
    return out;
  }

  /** The attempt the relay delivered whole, from its opener to its final chunk: its sealed reply as the worker posts it. */
  relayedReply(): { reply: ChunkedReply; attempt: number; workerId: string } | undefined {
    const s = this.cur;
    if (!s?.builder.done) return undefined;
    return { reply: { v: 2, enc: s.enc, sig: s.sig, chunks: [...s.chunks] }, attempt: s.attempt, workerId: s.workerId };
  }

  private pieces(p: ChunkPlaintext): StreamPiece[] {
    const out: StreamPiece[] = [];
    if (p.text || p.reasoning || p.logprobs?.length)
      out.push({
        kind: "text",
        index: p.i ?? 0,
        text: p.text ?? "",
        ...(p.reasoning ? { reasoning: p.reasoning } : {}),
        ...(p.logprobs?.length ? { logprobs: p.logprobs } : {}),
      });
    p.end?.choices.forEach((c, index) => {
      if (c.toolCalls?.length) out.push({ kind: "tools", index, toolCalls: c.toolCalls });
    });
    return out;
  }

  /**
   * The job completed with `reply` from `workerId` at `attempt` (its receipt is checked by the
   * caller against this very reply). What the relay delivered must be the start of it, chunk
   * for chunk; the rest is opened from it. Returns the pieces not shown yet and the answer.
   */
  settle(reply: ReplyEnvelope, attempt: number, workerId: string): { pieces: StreamPiece[]; answer: Answer } {
    const pieces: StreamPiece[] = [];
    const cur = this.cur;
    const same = cur !== undefined && cur.attempt === attempt;
    if (!("chunks" in reply)) {
      // An agent from before streaming: nothing was relayed for it.
      if (same && cur.chunks.length > 0)
        throw new StreamCheckFailure("stream_mismatch", "the stored reply is not the stream that was relayed");
      const answer = openAnswer(reply, this.header, workerId, this.replyKey, this.binding);
      if (this.shown) pieces.push({ kind: "restart", attempt, workerId });
      answer.choices.forEach((c) => c.text && pieces.push({ kind: "text", index: c.index, text: c.text }));
      this.recovered++;
      return { pieces, answer };
    }
    if (same) {
      if (cur.workerId !== workerId || cur.enc !== reply.enc || cur.sig !== reply.sig)
        throw new StreamCheckFailure("stream_mismatch", "the stored reply was not sealed by the stream that was relayed");
      if (reply.chunks.length < cur.chunks.length || cur.chunks.some((c, i) => reply.chunks[i] !== c)) {
        throw new StreamCheckFailure("stream_mismatch", "the stored reply differs from the chunks the relay delivered");
      }
    } else if (this.shown) pieces.push({ kind: "restart", attempt, workerId });
    // Check the stored sequence whole (its last chunk final), then show what the relay missed.
    const answer = openChunked(reply, this.header, workerId, this.replyKey, this.binding);
    const opener = same ? cur.opener : openStream(this.header, workerId, reply, this.replyKey);
    const from = same ? cur.chunks.length : 0;
    for (let i = from; i < reply.chunks.length; i++) {
      const p = openChunk(opener, i, i === reply.chunks.length - 1, reply.chunks[i]!);
      pieces.push(...this.pieces(p));
      this.recovered++;
    }
    return { pieces, answer };
  }
}
