import { createHmac, randomBytes } from "node:crypto";
import { z } from "zod";
import {
  RequestPlaintext,
  type ChunkPlaintext,
  type TokenLogprob,
  type EnvelopeHeader,
  type Receipt,
  type RequestPlaintextParsed,
  type SealedReply,
  type ToolCall,
} from "../events/envelope";
import type { AgentJob, FailureCode, FailurePlaintext, ResultRequest } from "../events/api";
import type { RelayChunk } from "../events/relay";
import type { BilledUsage } from "../events/common";
import { b64u, canonicalJson, sha256Hex } from "../core/crypto/encoding";
import { MAX_REPLY_BYTES, MAX_REPLY_CHUNKS } from "../events/envelope";
import { contentText, firstImageProblem, IMAGE_PROMPT_TOKENS, imageCount } from "../events/images";
import type { KemKeyPair, SigningKeyPair } from "../core/crypto/keys";
import { HPKE_OPEN_FAILED, openRequestBound, replyProof, requestHash, requestTag, sealReply } from "../core/crypto/envelope";
import { EnvelopeError } from "../core/crypto/errors";
import { MAX_CHUNK_PLAINTEXT, ReplyStreamSealer } from "../core/crypto/reply-stream";
import { CHUNK_PADDING, padJson } from "../core/crypto/padding";
import { signReceipt } from "../core/crypto/receipt";
import { API, ApiClient, ApiError } from "../api-client/api";
import {
  collectStream,
  EngineError,
  engineSeed,
  streamOf,
  type Engine,
  type EngineCompletionRequest,
  type EngineRequest,
  type EngineResult,
  type EngineSampling,
  type EngineStreamEvent,
} from "./engines/engine";
import { createRelayPublisher, type ExternalRelayPublisher, type RelayPublisher } from "./relay";

/** What the agent's log must offer; the host can read it, so nothing sealed goes in. */
export interface AgentLog {
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
}

export interface AgentStats {
  jobs: number;
  failed: number;
  promptTokens: number;
  completionTokens: number;
  /** attestation challenges answered with fresh evidence */
  challenges: number;
}

/** A failure of our own making, with the code the coordinator gets. */
export class JobFailure extends Error {
  constructor(
    readonly code: FailureCode,
    message: string,
  ) {
    super(message);
  }
}

/** The code reported for a failed job; never its text. */
export function failureCode(e: unknown): FailureCode {
  if (e instanceof JobFailure) return e.code;
  if (e instanceof ApiError) return e.code === "reply_too_large" ? "reply_too_large" : "result_refused";
  if (e instanceof EngineError) {
    switch (e.code) {
      case "engine_unavailable":
      case "engine_timeout":
      case "engine_aborted":
        return "engine_unavailable";
      case "engine_rejected":
      case "invalid_request":
        return "engine_rejected";
      case "model_not_served":
        return "model_not_served";
      default:
        return "engine_error";
    }
  }
  return "internal_error";
}

/** What the coordinator answered a completed result with, as the final relayed chunk carries it: its bill and its settlement token. */
type Settled = { cost?: string; settlement?: string };

/**
 * When a streamed answer is cut into relay messages: the first delta at once (time to first
 * token), then at most one message every `intervalMs`, sooner only when `maxTokens` deltas or
 * `maxBytes` of text are waiting. The default, one per second, keeps relay messages per job
 * near the seconds of generation (AWS bills pub/sub per message).
 */
export interface ChunkingOptions {
  intervalMs: number;
  maxTokens: number;
  maxBytes: number;
}

const envInt = (name: string, fallback: number) => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};

export function defaultChunking(): ChunkingOptions {
  return {
    intervalMs: envInt("COCOON_STREAM_INTERVAL_MS", 1000),
    maxTokens: envInt("COCOON_STREAM_MAX_TOKENS", 4096),
    maxBytes: Math.min(envInt("COCOON_STREAM_MAX_BYTES", 32 * 1024), MAX_CHUNK_PLAINTEXT - 4096),
  };
}

/** Everything one job's execution needs from the agent around it (the loop lives in runtime.ts). */
export interface ExecuteContext {
  api: ApiClient;
  workerId: string;
  signingKey: SigningKeyPair;
  kemKey: KemKeyPair;
  engine: Engine;
  /** the measurement the coordinator registered for us (it changes on re-registration) */
  measurement: () => string;
  now: () => number;
  log: AgentLog;
  stats: AgentStats;
  /** how streamed answers are cut into relay messages (default: defaultChunking()) */
  chunking?: Partial<ChunkingOptions>;
  /** publishes to a pub/sub relay (default: AWS IoT Core over SigV4-signed HTTPS, agent/relay-iot.ts) */
  relayPublisher?: ExternalRelayPublisher;
  /** told after each job how it streamed (bench: relay messages per streamed job) */
  onStreamed?: (s: { jobId: string; chunks: number; messages: number; published: number }) => void;
  /**
   * Fires when the job is no longer ours (the coordinator answered stale_attempt: it moved the job
   * to another worker): the engine stops generating and nothing is posted.
   */
  signal?: AbortSignal;
  /**
   * Fires when the requester cancelled the job (an AgentCancel on our queue, or a lease extension
   * answered job_cancelled): the engine stops generating and the job ends as a completed result
   * billing what was generated (finishReason "cancelled"); before the engine was called, it fails
   * with code "cancelled" (refunded in full).
   */
  cancel?: AbortSignal;
  /**
   * What is left of a stopped job's lease, in ms, less the margin its result's post keeps: its
   * prompt re-count (promptTokensOf) or its embedding call may take half of it (recountWithin), at
   * least PROMPT_RECOUNT_MS; that alone without it.
   */
  recountWithinMs?: () => number;
}

const encoder = new TextEncoder();

/** A chunk's plaintext at most, less room for its JSON around the text (the end, usage, a choice index). */
const CHUNK_BUDGET = MAX_CHUNK_PLAINTEXT - 8192;
/** A chunk's size in the reply's canonical JSON: base64url of its plaintext and 16-byte tag, quotes, and a comma after the first. */
const sealedSize = (plaintextBytes: number, seq: number) => Math.ceil(((plaintextBytes + 16) * 4) / 3) + 2 + (seq > 0 ? 1 : 0);
/**
 * What a reply keeps free for its final chunk while it grows (review41): a whole chunk. A chunk
 * that would leave less is not sealed; the answer is cut there instead (ChunkWriter.full), and the
 * final chunk, with the end, always fits under MAX_REPLY_BYTES.
 */
const FINAL_RESERVE = sealedSize(MAX_CHUNK_PLAINTEXT, 1);
/** The longest piece of a text delta: a chunk's budget at 3 UTF-8 bytes per UTF-16 unit, the worst case. */
const PIECE_CHARS = Math.floor(CHUNK_BUDGET / 3);
const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;

/** An engine that streamed more pieces than its max_tokens allows (run, below). */
const ignoresMaxTokens = (perChoice: number) =>
  new JobFailure("limits_exceeded", `the engine streamed more than the job's ${perChoice} completion tokens: it ignores max_tokens`);

/** A text cut into pieces of at most PIECE_CHARS, never inside a surrogate pair. */
function* pieces(text: string): Generator<string> {
  for (let k = 0; k < text.length;) {
    let end = Math.min(k + PIECE_CHARS, text.length);
    if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1))) end--;
    yield text.slice(k, end);
    k = end;
  }
}

/** Log probabilities' bytes in a chunk: their JSON in UTF-8 and a comma each. */
const logprobsBytes = (lps: TokenLogprob[]): number => lps.reduce((n, t) => n + logprobBytes(t), 0);
const logprobBytes = (t: TokenLogprob): number => Buffer.byteLength(JSON.stringify(t)) + 1;

/**
 * Log probabilities cut into groups that each fit a chunk. The schema lets one token's entry
 * outgrow a chunk (a 1024-character token with 4096 bytes, and 20 alternatives alike), which no
 * real engine sends: such an entry goes alone and the sealer refuses it (the job fails).
 */
function logprobGroups(lps: TokenLogprob[]): { logprobs: TokenLogprob[]; bytes: number }[] {
  const groups: { logprobs: TokenLogprob[]; bytes: number }[] = [];
  let cur: { logprobs: TokenLogprob[]; bytes: number } | undefined;
  for (const t of lps) {
    const b = logprobBytes(t);
    if (!cur || cur.bytes + b > CHUNK_BUDGET) groups.push((cur = { logprobs: [], bytes: 0 }));
    cur.logprobs.push(t);
    cur.bytes += b;
  }
  return groups;
}

/**
 * Seals the answer as it comes: text deltas are gathered into chunks (adaptive, above), each
 * sealed under the reply-stream key with its position and published at once when the
 * requester asked for a stream; the final chunk carries the usage, the finish reasons and any
 * tool calls. `reply()` is the whole sequence, which the receipt covers.
 */
class ChunkWriter {
  private pending: ChunkPlaintext | undefined;
  private pendingTokens = 0;
  private pendingBytes = 0;
  private lastFlush = 0;
  private flushedOnce = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private ended = false;
  private readonly workerId: string;
  private sealerOf: ReplyStreamSealer | undefined;
  /** the reply's canonical JSON size so far (what the coordinator measures): see flush */
  private replyBytes = 0;
  /** a failure raised where nothing could throw it (the interval timer's flush); thrown on the next delta */
  private failure: JobFailure | undefined;
  private fullOf = false;
  /**
   * The reply reached the network's cap (MAX_REPLY_BYTES, or MAX_REPLY_CHUNKS) but for the room kept
   * for its end: nothing more is sealed, and the answer ends here as at max_tokens (finish "length"),
   * billed by the engine's own count of what it generated (run lets it finish). Before review41 the
   * job failed reply_too_large: a streamed requester, who had read everything up to the cap, was
   * refunded, and the next candidate asked to do it again.
   */
  get full(): boolean {
    return this.fullOf;
  }

  constructor(
    private readonly job: AgentJob,
    private readonly ctx: ExecuteContext,
    private readonly relay: RelayPublisher | undefined,
    private readonly chunking: ChunkingOptions,
    private readonly now: () => number,
    /** publish only full chunks and the last (the requester waits for the whole answer): RequestPlaintext.relayWhole */
    private readonly whole: boolean,
    /** this worker's reply-proof key of the job's envelope (openRequestBound): see `proof` */
    private readonly proofKey: Uint8Array,
  ) {
    this.workerId = ctx.workerId;
  }

  /**
   * The stream's key setup and signed opener (an X25519 exchange and an Ed25519 signature,
   * ~0.6 ms): made once the engine was asked (prime), so it runs while the engine works
   * towards its first token instead of before it (time to first token, issue 11).
   */
  get sealer(): ReplyStreamSealer {
    return (this.sealerOf ??= new ReplyStreamSealer(this.job.envelope.header, this.workerId, this.ctx.signingKey));
  }

  private requestHashOf: string | undefined;
  /**
   * The hash of the envelope this worker opened, which chunk 0 carries (ChunkPlaintext.req): the
   * opener's signature binds the header only, and anyone who read it (the coordinator) could wrap
   * a data key of its own to us under it; the requester refuses a stream naming another request.
   */
  get requestHash(): string {
    return (this.requestHashOf ??= requestHash(this.job.envelope));
  }

  private proofOf: string | undefined;
  /**
   * What chunk 0 carries to show the requester that this reply comes from whoever unwrapped its
   * data key (ChunkPlaintext.proof): the receipt and the opener need only the Ed25519 key, which
   * a tdx worker keeps on its host's disk; the proof key comes from the HPKE key, which only the
   * TD holds. The key is wiped once the proof is made: nothing else needs it.
   */
  get proof(): string {
    if (this.proofOf === undefined) {
      this.proofOf = replyProof(this.proofKey, this.requestHash);
      this.proofKey.fill(0);
    }
    return this.proofOf;
  }

  prime(): void {
    void this.sealer;
    void this.proof;
  }

  /**
   * A text delta of choice `i` (with its tokens' log probabilities when the request asked for
   * them, and the model's thinking when the engine separates it: counted like text, since the
   * requester pays for its tokens all the same).
   */
  text(i: number, text: string, logprobs?: TokenLogprob[], reasoning = ""): void {
    if (text === "" && reasoning === "" && !logprobs?.length) return;
    const lpBytes = logprobs?.length ? logprobsBytes(logprobs) : 0;
    const chars = text.length + reasoning.length;
    // A delta larger than a chunk holds (an engine without streaming answers in one) goes in
    // pieces, never cutting a surrogate pair; before, it failed the job (the sealer's limit).
    // Its thinking goes first, as it was generated. Its log probabilities follow in text-less
    // pieces of their own where they do not fit beside the text: the requester joins a choice's
    // log probabilities in order, whatever chunk they came in.
    if (chars > PIECE_CHARS || chars * 3 + lpBytes > CHUNK_BUDGET) {
      for (const piece of pieces(reasoning)) this.add(i, "", undefined, 0, piece);
      for (const piece of pieces(text)) this.add(i, piece, undefined, 0);
      for (const group of logprobGroups(logprobs ?? [])) this.add(i, "", group.logprobs, group.bytes);
      return;
    }
    this.add(i, text, logprobs, lpBytes, reasoning);
  }

  /** One delta that fits a chunk (text and thinking at most PIECE_CHARS, with log probabilities at most CHUNK_BUDGET). */
  private add(i: number, text: string, logprobs: TokenLogprob[] | undefined, lpBytes: number, reasoning = ""): void {
    if (this.failure) throw this.failure;
    if (this.fullOf) return; // no room: the run cuts the answer here
    if (this.pending && (this.pending.i ?? 0) !== i) this.flush(false);
    const bytes = (text.length + reasoning.length) * 3 + lpBytes;
    // what waits goes out first where this delta would take it past what a chunk holds, or where
    // thinking follows text (a chunk's thinking came before its text: the requester shows it so)
    if (this.pending && (this.pendingBytes + bytes > CHUNK_BUDGET || (reasoning !== "" && this.pending.text))) this.flush(false);
    const p = (this.pending ??= i ? { i } : {});
    if (reasoning !== "") p.reasoning = (p.reasoning ?? "") + reasoning;
    if (text !== "") p.text = (p.text ?? "") + text;
    this.pendingTokens++;
    this.pendingBytes += bytes;
    if (logprobs?.length) (p.logprobs ??= []).push(...logprobs);
    if (!this.relay || this.whole) {
      if (this.pendingBytes >= CHUNK_BUDGET) this.flush(false);
      return;
    }
    const due =
      !this.flushedOnce ||
      this.pendingTokens >= this.chunking.maxTokens ||
      this.pendingBytes >= this.chunking.maxBytes ||
      this.now() - this.lastFlush >= this.chunking.intervalMs;
    if (due) this.flush(false);
    else {
      // Nothing more may come for a while (a slow engine): what waits goes out when the interval is up.
      this.timer ??= setTimeout(
        () => {
          this.timer = undefined;
          try {
            if (this.pending && !this.ended) this.flush(false);
          } catch (e) {
            this.failure = e instanceof JobFailure ? e : new JobFailure("engine_error", (e as Error).message);
          }
        },
        Math.max(0, this.lastFlush + this.chunking.intervalMs - this.now()),
      );
    }
  }

  /** Embedding vectors go in the final chunk(s), split where one would grow too large. */
  embeddings(vectors: string[]): void {
    for (const v of vectors) {
      if (this.pending && this.pendingBytes + v.length > CHUNK_BUDGET) this.flush(false);
      // a batch of vectors is not cut (each input needs its own): too many fail the job as before
      if (this.fullOf) throw this.tooLarge(this.replyBytes + FINAL_RESERVE);
      const p = (this.pending ??= {});
      (p.embeddings ??= []).push(v);
      this.pendingBytes += v.length + 3;
    }
  }

  /** The final chunk: what is pending plus the end. Returns the whole reply. */
  end(end: NonNullable<ChunkPlaintext["end"]>) {
    if (this.failure) throw this.failure;
    const p = (this.pending ??= {});
    p.end = end;
    this.ended = true;
    this.flush(true);
    return this.sealer.reply();
  }

  private flush(final: boolean): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    this.pendingTokens = 0;
    this.pendingBytes = 0;
    this.flushedOnce = true;
    this.lastFlush = this.now();
    // The coordinator takes no reply over MAX_REPLY_BYTES as canonical JSON, nor over
    // MAX_REPLY_CHUNKS chunks: counted as each chunk is sealed, so that a stream stops (and
    // the engine with it) before it publishes what could never be billed, rather than
    // streaming a whole over-long answer (top_logprobs inflate one ~20-fold) and failing it
    // at the end. Canonical JSON is {"chunks":["…",…],"enc":"…","sig":"…","v":2}, all ASCII.
    this.replyBytes ||= Buffer.byteLength(canonicalJson({ v: 2, enc: this.sealer.opener.enc, sig: this.sealer.opener.sig, chunks: [] }));
    if (this.sealer.seq === 0) {
      p.req = requestTag(this.requestHash);
      p.proof = this.proof;
    }
    const plaintext = this.padded(encoder.encode(JSON.stringify(p)));
    if (!final) {
      // Room for this chunk and, after it, a final one: else the answer is cut before it (full).
      const next = this.sealer.seq;
      if (this.replyBytes + sealedSize(plaintext.length, next) + FINAL_RESERVE > MAX_REPLY_BYTES || next + 1 >= MAX_REPLY_CHUNKS) {
        this.fullOf = true;
        return;
      }
    }
    const { seq, data } = this.sealer.seal(plaintext, final);
    this.replyBytes += data.length + 2 + (seq > 0 ? 1 : 0);
    if (this.replyBytes > MAX_REPLY_BYTES || seq >= MAX_REPLY_CHUNKS) throw this.tooLarge(this.replyBytes, seq >= MAX_REPLY_CHUNKS);
    if (!this.relay || final) {
      // The final chunk goes out with the receipt, once it is signed (finishRelay).
      if (final) this.finalChunk = { seq, data };
      return;
    }
    this.relay.publish(this.relayChunk(seq, data, false));
  }

  private tooLarge(bytes: number, chunks = false): JobFailure {
    return new JobFailure(
      "reply_too_large",
      chunks
        ? `the answer needs more than ${MAX_REPLY_CHUNKS} chunks; the network carries at most ${MAX_REPLY_CHUNKS}`
        : `the answer is at least ${bytes} bytes as JSON; the network carries at most ${MAX_REPLY_BYTES}`,
    );
  }

  /**
   * A chunk's plaintext padded to its size's bucket (core/crypto/padding.ts): whoever sees the
   * relay's or the coordinator's TLS records (the network, this machine's host on the tdx tier)
   * reads each chunk's size to ~19 % only, not the lengths of the words in it. Unpadded where the
   * padding would carry the reply past MAX_REPLY_BYTES (an answer that close to the cap shows its size).
   */
  private padded(json: Uint8Array): Uint8Array {
    const padded = padJson(json, { floor: CHUNK_PADDING.floor, cap: MAX_CHUNK_PLAINTEXT });
    // the sealed chunk in the reply's JSON: base64url of the plaintext and its 16-byte tag, quotes and a comma
    const inReply = Math.ceil(((padded.length + 16) * 4) / 3) + 3;
    return this.replyBytes + inReply <= MAX_REPLY_BYTES ? padded : json;
  }

  finalChunk: { seq: number; data: string } | undefined;

  relayChunk(seq: number, data: string, final: boolean, receipt?: Receipt, settled?: Settled): RelayChunk {
    return {
      jobId: this.job.jobId,
      attempt: this.job.attempt,
      seq,
      final,
      data,
      ...(seq === 0 ? { opener: { workerId: this.workerId, ...this.sealer.opener } } : {}),
      ...(receipt ? { receipt } : {}),
      ...(settled?.cost !== undefined ? { billed: settled.cost } : {}),
      ...(settled?.settlement !== undefined ? { settlement: settled.settlement } : {}),
    };
  }

  /**
   * Publishes the final chunk with the receipt (and, after the result post, the coordinator's bill
   * and settlement token, which the SDK checks) and waits until everything reached the relay.
   */
  async finishRelay(receipt: Receipt, settled?: Settled): Promise<void> {
    if (!this.relay || !this.finalChunk) return;
    this.relay.publish(this.relayChunk(this.finalChunk.seq, this.finalChunk.data, true, receipt, settled));
    await this.relay.flush();
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * The key of this process's cache scopes: made at start, held in memory only (session 42 privacy
 * review). A scope that was a plain hash of the account id could be recomputed by anyone from the
 * public id, so an engine-side record carrying it (a request log, an LMCache object keyed by the
 * salt, a remote cache store) named the requester, and the same on every worker.
 */
const CACHE_SCOPE_KEY = randomBytes(32);

/**
 * The engine's prompt-cache scope for a requester's jobs (EngineSampling.cacheScope): one per
 * requester, so its own conversations still hit the cache (and a cancel's prompt re-count is
 * answered from it), while no requester's prompt answers another's sooner. Keyed (CACHE_SCOPE_KEY):
 * nobody outside this agent can compute it, and it links nothing across workers or restarts.
 * 32 hex characters, which every salt-taking server accepts (no account id's `-` or `_`).
 */
export const cacheScopeOf = (requester: string): string =>
  createHmac("sha256", CACHE_SCOPE_KEY).update(`cocoon-cache-scope:${requester}`).digest("hex").slice(0, 32);

/** The sampling fields of a request, as the engine takes them. */
function sampling(
  header: EnvelopeHeader,
  p: RequestPlaintextParsed,
  maxTokens: number,
  i: number,
  signal: AbortSignal | undefined,
): EngineSampling {
  return {
    model: header.model,
    cacheScope: cacheScopeOf(header.requester),
    ...(signal ? { signal } : {}),
    maxTokens,
    ...(p.temperature !== undefined ? { temperature: p.temperature } : {}),
    ...(p.topP !== undefined ? { topP: p.topP } : {}),
    // n > 1 with a seed: each choice its own seed, so choices differ yet stay reproducible.
    ...(p.seed !== undefined ? { seed: engineSeed(p.seed, i) } : {}),
    ...(p.stop !== undefined ? { stop: p.stop } : {}),
    ...(p.responseFormat !== undefined ? { responseFormat: p.responseFormat } : {}),
    ...(p.user !== undefined ? { user: p.user } : {}),
    ...(p.extra !== undefined ? { extra: p.extra } : {}),
    ...(p.logprobs ? { logprobs: true, ...(p.topLogprobs !== undefined ? { topLogprobs: p.topLogprobs } : {}) } : {}),
  };
}

/** What the engine is asked for choice `i` of a chat or completion request. */
function engineRequest(
  header: EnvelopeHeader,
  p: RequestPlaintextParsed,
  maxTokens: number,
  i: number,
  signal: AbortSignal | undefined,
): { completion: EngineCompletionRequest } | { chat: EngineRequest } {
  const s = sampling(header, p, maxTokens, i, signal);
  if (p.kind === "completion") return { completion: { ...s, prompt: p.prompt! } };
  return {
    chat: {
      ...s,
      messages: p.messages!.map((m) => ({
        role: m.role,
        // Parts only where there is an image (run() checked the engine reads them); text parts are the message's text.
        content: imageCount(m.content) > 0 ? m.content : contentText(m.content),
        ...(m.name !== undefined ? { name: m.name } : {}),
        ...(m.toolCalls ? { toolCalls: m.toolCalls } : {}),
        ...(m.toolCallId ? { toolCallId: m.toolCallId } : {}),
      })),
      ...(p.tools ? { tools: p.tools } : {}),
      ...(p.toolChoice ? { toolChoice: p.toolChoice } : {}),
      ...(p.parallelToolCalls !== undefined ? { parallelToolCalls: p.parallelToolCalls } : {}),
    },
  };
}

/** The engine's stream for choice `i` of a chat or completion request. */
function engineStream(
  engine: Engine,
  header: EnvelopeHeader,
  p: RequestPlaintextParsed,
  maxTokens: number,
  i: number,
  signal: AbortSignal | undefined,
): AsyncIterable<EngineStreamEvent> {
  const r = engineRequest(header, p, maxTokens, i, signal);
  if ("completion" in r) {
    if (engine.streamCompletion) return engine.streamCompletion(r.completion);
    const complete = engine.complete?.bind(engine);
    if (!complete) throw new JobFailure("engine_rejected", `this worker's engine (${engine.name}) cannot do plain text completions`);
    return (async function* () {
      const result = await complete(r.completion);
      if (result.text !== "" || result.reasoning)
        yield { type: "delta" as const, text: result.text, ...(result.reasoning ? { reasoning: result.reasoning } : {}) };
      yield { type: "done" as const, result };
    })();
  }
  return streamOf(engine, r.chat);
}

/**
 * The engine's own count of the prompt's tokens for a cancelled choice: the engine reports usage
 * only with its final result, which a stopped generation never sends. Where the engine counts a
 * prompt without running it (Engine.countPromptTokens: vLLM's and llama-server's tokenizer routes),
 * that count: asked again, the engine redoes the prefill, and a prefill longer than what is left
 * of the lease (a cancel early in a huge prompt's) was billed 0 (tokenize42). Otherwise, or where
 * it cannot count this prompt (images) or fails, the same request is asked again for one token,
 * not streamed, without log probabilities (engines keep the prompt's prefix cached, so its prefill
 * mostly costs little). With the engine's name for the reply. Undefined when both fail (the caller
 * bills 0).
 */
async function promptTokensOf(
  ctx: ExecuteContext,
  header: EnvelopeHeader,
  p: RequestPlaintextParsed,
  i: number,
): Promise<{ promptTokens: number; engine: string } | undefined> {
  const engine = ctx.engine;
  // A requester's lower bound on the length (vLLM's min_tokens, SGLang's min_new_tokens) above the
  // one token asked here is refused by the engine: kept, it would let any requester make its
  // cancelled prompts free. It does not change the prompt, so its count is the same without it.
  const extra = p.extra ? Object.fromEntries(Object.entries(p.extra).filter(([k]) => !MIN_LENGTH_KEYS.has(k))) : undefined;
  const within = AbortSignal.timeout(recountWithin(ctx));
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, within]) : within;
  const r = engineRequest(header, { ...p, extra, logprobs: undefined, topLogprobs: undefined }, 1, i, signal);
  if (engine.countPromptTokens) {
    const counted = await engine.countPromptTokens("chat" in r ? r.chat : r.completion).catch((e: unknown) => {
      ctx.log.warn("the engine's tokenizer did not count a cancelled job's prompt: asking the request again", {
        jobId: header.jobId,
        code: e instanceof EngineError ? e.code : "error",
      });
      return undefined;
    });
    if (Number.isSafeInteger(counted) && counted! >= 0) return { promptTokens: counted!, engine: engine.name };
  }
  try {
    let result: EngineResult;
    if ("chat" in r) result = await engine.generate(r.chat);
    else if (engine.complete) result = await engine.complete(r.completion);
    else if (engine.streamCompletion) result = (await collectStream(engine.streamCompletion(r.completion))).result;
    else return undefined;
    return { promptTokens: result.usage.promptTokens, engine: result.engine };
  } catch (e) {
    ctx.log.warn("the engine did not count a cancelled job's prompt: billed 0 prompt tokens for it", {
      jobId: header.jobId,
      code: e instanceof EngineError ? e.code : "error",
    });
    return undefined;
  }
}

/**
 * How long work for a cancelled job may still take: half of what is left of its lease (the other
 * half is the post's: a cancelled job's lease is not extended, and one that runs out marks the
 * worker suspect; session 42 review), at least PROMPT_RECOUNT_MS (an integer, or
 * AbortSignal.timeout throws).
 */
export const recountWithin = (ctx: Pick<ExecuteContext, "recountWithinMs">) =>
  Math.floor(Math.max(PROMPT_RECOUNT_MS, (ctx.recountWithinMs?.() ?? 0) / 2));

/** Fields of a request's `extra` that ask for at least so many tokens (promptTokensOf drops them). */
const MIN_LENGTH_KEYS = new Set(["min_tokens", "min_new_tokens"]);

/**
 * How long a cancelled job's prompt re-count may take (promptTokensOf) at least: its lease is no
 * longer extended, so an engine that hangs on it (the HTTP adapter waits 120 s) would let the lease
 * run out: the job refunded after its text was shown, the worker unpaid and marked suspect. Where
 * the runtime says more of the lease is left (ExecuteContext.recountWithinMs), the re-count may take
 * that (agent42): a cancel during a long prefill (a huge prompt, before its first token) leaves the
 * re-count most of that prefill to do again, and at 5 s it failed, billing the prompt 0.
 */
export const PROMPT_RECOUNT_MS = 5_000;

/** What a race with a cancel yields when the cancel came first. */
const CANCELLED: unique symbol = Symbol("cancelled");

/**
 * `p`, or CANCELLED as soon as `cancel` fires, whichever comes first. Its listener goes with `p`
 * (a Promise.race with one long-lived promise would keep a reaction for every token of a stream).
 */
function orCancel<T>(p: Promise<T>, cancel: AbortSignal | undefined): Promise<T | typeof CANCELLED> {
  if (!cancel) return p;
  if (cancel.aborted) return Promise.resolve(CANCELLED);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(CANCELLED);
    cancel.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => (cancel.removeEventListener("abort", onAbort), resolve(v)),
      (e: unknown) => (cancel.removeEventListener("abort", onAbort), reject(e)),
    );
  });
}
/**
 * The reason a job's cancel signal carries when the agent stops it at its longest life (runtime's
 * timeUp: the coordinator extends no lease past an hour after submit), not for its requester: the
 * answer ends as at max_tokens (finish "length"), billed like a cancel. Ended "cancelled", the
 * SDK told a requester who never cancelled that it had (AskCancelledError).
 */
export class LongestLifeReached extends EngineError {
  constructor(engine: string) {
    super("engine_aborted", "the job reached its longest life (no more lease)", { engine });
  }
}

/**
 * Why a job ends before its engine made anything to bill (before it started, or during an
 * embedding call that a cancel let run past what was left of the lease): its requester's cancel
 * (code "cancelled", refunded in full), or its longest
 * life, which is no cancel of the requester's (runtime's timeUp: the job waited here past an hour
 * after submit). That one was reported "cancelled" too, and the requester's `cocoon job` read
 * "reported cancelled" for a job it never cancelled; it is a worker that could not get to it in
 * time, as a job given back for want of a slot is (runtime reportNotRun): engine_unavailable.
 */
function stoppedBefore(cancel: AbortSignal | undefined, what: string): JobFailure {
  return cancel?.reason instanceof LongestLifeReached
    ? new JobFailure("engine_unavailable", `the job reached its longest life (an hour after submit) ${what}: not billed`)
    : new JobFailure("cancelled", `the requester cancelled the job ${what}`);
}
const cancelledBeforeStart = (cancel: AbortSignal | undefined) => stoppedBefore(cancel, "before the engine started on it");

/** Little-endian float32, base64url: how vectors travel sealed (4 bytes a dimension, not ~20 of JSON). */
export function encodeVector(v: number[]): string {
  const f = new Float32Array(v);
  return b64u.encode(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
}

async function run(
  ctx: ExecuteContext,
  job: AgentJob,
  p: RequestPlaintextParsed,
  writer: ChunkWriter,
): Promise<{ reply: ReturnType<ChunkWriter["end"]>; usage: BilledUsage }> {
  const header = job.envelope.header;
  const engine = ctx.engine;
  // The prompt's usage is known only once the answer is made, when a stream has gone out: a
  // requester who held fewer prompt tokens than it sent read the answer, and the job was
  // refunded (limits_exceeded) and moved on to the next worker to do the same.
  const floor = promptFloor(p);
  if (floor > header.maxPromptTokens)
    throw new JobFailure(
      "limits_exceeded",
      `the prompt takes at least ${floor} tokens (one for each UTF-8 byte or token id${(p.n ?? 1) > 1 ? `, times n = ${p.n}` : ""}), ` +
        `more than the job's maxPromptTokens ${header.maxPromptTokens}`,
    );
  // Images only to an engine that says it reads them (cocoon serve refuses them for a model whose
  // listing lacks vision): refused before the engine runs, so the job fails over or is refunded
  // rather than answered without its images, or failed by the engine after the work.
  const images = imagesOf(p);
  if (images > 0) {
    const caps = await engine.capabilities?.(header.model).catch(() => undefined);
    if (caps?.vision !== true)
      throw new JobFailure(
        "engine_rejected",
        `image input: this worker's engine (${engine.name}) does not read images for ${header.model}`,
      );
  }
  // issue 11: log probabilities only from an engine that says it returns them, for chat only
  // (cocoon serve refuses the others up front with a 400 naming the parameter).
  if (p.logprobs || (p.topLogprobs ?? 0) > 0) {
    const param = p.logprobs ? "logprobs" : "top_logprobs";
    if (p.kind !== "chat") throw new JobFailure("engine_rejected", `${param}: log probabilities are returned for chat completions only`);
    const caps = await engine.capabilities?.(header.model).catch(() => undefined);
    if (caps?.logprobs !== true)
      throw new JobFailure("engine_rejected", `${param}: this worker's engine (${engine.name}) does not return log probabilities`);
  }
  // Tools for an engine that says it cannot call them: refused (the job fails over to a worker
  // that can, or is refunded) rather than answered as plain text and billed as if they were used.
  if (p.tools?.length && p.toolChoice !== "none") {
    const caps = await engine.capabilities?.(header.model).catch(() => undefined);
    if (caps?.tools === false)
      throw new JobFailure("engine_rejected", `tools: this worker's engine (${engine.name}) cannot call functions for ${header.model}`);
  }
  // The engine's signal: the job moved to another worker (ctx.signal), or its requester cancelled it (ctx.cancel).
  const signals = [ctx.signal, ctx.cancel].filter((x): x is AbortSignal => x !== undefined);
  const engineSignal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
  const cancelled = () => ctx.cancel?.aborted === true;
  if (p.kind === "embedding") {
    if (!engine.embed) throw new JobFailure("engine_rejected", `this worker's engine (${engine.name}) cannot make embeddings`);
    if (cancelled()) throw cancelledBeforeStart(ctx.cancel);
    // Embeddings are one call with nothing to show before it ends, and all of it is the prompt's
    // work: a requester's cancel does not stop it (stopped, it failed "cancelled" and was refunded
    // in full though the engine had done nearly all the work). It is let finish within what is left
    // of the lease (as a cancelled prompt's re-count is: recountWithin) and billed as the engine
    // counted it, the vectors sent; past that, or at the job's longest life (no lease left), it is
    // stopped and the job fails as before. A move to another worker (ctx.signal) stops it at once.
    const stop = new AbortController();
    const embedSignals = [ctx.signal, ctx.cancel && stop.signal].filter((x): x is AbortSignal => x !== undefined);
    const embedSignal = embedSignals.length > 1 ? AbortSignal.any(embedSignals) : embedSignals[0];
    const embedding = engine.embed({ model: header.model, input: p.input!, ...(embedSignal ? { signal: embedSignal } : {}) });
    embedding.catch(() => {}); // awaited below; a failed prime must not leave it unhandled
    writer.prime();
    const stopped = () => stoppedBefore(ctx.cancel, "while the engine made its embeddings");
    let bound: ReturnType<typeof setTimeout> | undefined;
    const onCancel = () => {
      if (ctx.cancel?.reason instanceof LongestLifeReached) stop.abort(ctx.cancel.reason);
      else bound = setTimeout(() => stop.abort(ctx.cancel?.reason), recountWithin(ctx));
    };
    ctx.cancel?.addEventListener("abort", onCancel, { once: true });
    // raced with the stop too: an engine that ignores its signal must not hold the result past the lease
    const r = await orCancel(embedding, stop.signal)
      .catch((e: unknown): never => {
        throw stop.signal.aborted && !ctx.signal?.aborted ? stopped() : e;
      })
      .finally(() => {
        ctx.cancel?.removeEventListener("abort", onCancel);
        clearTimeout(bound);
      });
    if (r === CANCELLED) throw stopped();
    if (cancelled())
      ctx.log.info("job cancelled by its requester while the engine made its embeddings: billed them", { jobId: header.jobId });
    const usage = { promptTokens: r.usage.promptTokens, completionTokens: 0 };
    capPrompt(ctx, header, usage);
    checkLimits(header, usage);
    if (r.vectors.length !== p.input!.length)
      throw new JobFailure("engine_error", `the engine returned ${r.vectors.length} vectors for ${p.input!.length} inputs`);
    writer.embeddings(r.vectors.map(encodeVector));
    return { reply: writer.end({ usage, engine: r.engine, choices: [{ finishReason: "stop" }] }), usage };
  }
  const n = p.n ?? 1;
  // The hold covers header.maxTokens completion tokens in all; each choice gets its share.
  const perChoice = Math.floor(header.maxTokens / n);
  if (perChoice < 1) throw new JobFailure("bad_request", `maxTokens ${header.maxTokens} cannot be shared by ${n} choices`);
  const usage = { promptTokens: 0, completionTokens: 0 };
  /**
   * The choices' thinking tokens summed, for the sealed answer only (information: never billed,
   * never in the receipt); undefined once a choice's count is unknown (its engine did not report
   * one, or a cancel cut it), as a partial sum would pass for the whole.
   */
  let reasoningTokens: number | undefined = 0;
  const choices: Array<{ finishReason: "stop" | "length" | "cancelled"; toolCalls?: ToolCall[] }> = [];
  /** Each finished choice's prompt tokens as the engine counted them (the same prompt for every choice). */
  const prompts: number[] = [];
  let engineName = engine.name;
  /** Where a cancel stopped the job: the choice the engine was generating, and its streamed pieces so far. */
  let cut: { i: number; pieces: number } | undefined;
  for (let i = 0; i < n && !cut; i++) {
    if (cancelled()) {
      if (i === 0) throw cancelledBeforeStart(ctx.cancel); // nothing generated: refunded in full
      break; // between choices: the ones not started are not run
    }
    let done = false;
    let pieces = 0;
    /** Pieces the engine generated but did not stream as text (EngineStreamEvent.hidden): a cancel bills them too. */
    let unseen = 0;
    /** One piece past the choice's share, kept unpublished until the engine's end says whether it was within it. */
    let held: Extract<EngineStreamEvent, { type: "delta" }> | undefined;
    const it = engineStream(engine, header, p, perChoice, i, engineSignal)[Symbol.asyncIterator]();
    try {
      let next = it.next(); // the engine starts on this call
      next.catch(() => {}); // awaited below; a failed prime must not leave it unhandled
      writer.prime(); // while the engine works towards its first token
      for (;;) {
        const r = await orCancel(next, ctx.cancel);
        if (r === CANCELLED) {
          cut = { i, pieces: pieces + unseen };
          break;
        }
        if (r.done) break;
        const ev = r.value;
        if (ev.type === "delta") {
          // A piece is at least one token, but for one: the tail an engine held back because it
          // could begin a stop string, streamed as a piece of its own when max_tokens ends the
          // generation (llama.cpp does: N tokens, N + 1 pieces). So the first piece past the
          // choice's share is kept back until the engine's end states its count, and a second
          // one means an engine that ignores max_tokens: stopped before the requester reads it
          // (the job is not billed past its hold, so all it streamed beyond would be free text).
          const counts = ev.text !== "" || Boolean(ev.reasoning);
          if (!counts && ev.hidden) {
            // review41: output the engine generated unshown (a tool call's arguments): billed by a
            // cancel like a streamed piece (the cut is capped at the share), never published or logged
            if (Number.isSafeInteger(ev.hidden) && ev.hidden > 0) unseen += ev.hidden;
          } else if (counts && pieces === perChoice) {
            if (held) throw ignoresMaxTokens(perChoice);
            held = ev;
          } else {
            if (counts) pieces++;
            // once the reply is full (review41: ChunkWriter.full) the rest is not sealed, but the
            // engine is let finish: its own count bills what it generated, not a count of pieces
            // (an engine answering whole sends one piece of every token)
            writer.text(i, ev.text, ev.logprobs, ev.reasoning);
          }
        } else {
          const r = ev.result;
          if (held) {
            if (r.usage.completionTokens > perChoice) throw ignoresMaxTokens(perChoice);
            writer.text(i, held.text, held.logprobs, held.reasoning);
          }
          usage.promptTokens += r.usage.promptTokens;
          usage.completionTokens += r.usage.completionTokens;
          // An engine's count above its completion would make the sealed end malformed (the SDK refuses
          // the whole, paid answer): taken as unknown instead, as every adapter should have.
          const thought = r.usage.reasoningTokens;
          reasoningTokens =
            reasoningTokens !== undefined && thought !== undefined && thought <= r.usage.completionTokens
              ? reasoningTokens + thought
              : undefined;
          prompts.push(r.usage.promptTokens);
          engineName = r.engine;
          // cut at the reply's cap: it ends as at max_tokens (the reply had no room for the rest)
          choices.push({
            finishReason: writer.full ? "length" : r.finishReason,
            ...(r.toolCalls?.length ? { toolCalls: r.toolCalls } : {}),
          });
          done = true;
          break;
        }
        next = it.next();
        next.catch(() => {}); // a cancel may leave it unawaited
      }
    } catch (e) {
      // the engine answered the cancel's abort (engine_aborted) before the race saw it
      if (!(cancelled() && e instanceof EngineError)) throw e;
      cut = { i, pieces: pieces + unseen };
    } finally {
      // As for-await does on break or throw: the engine's stream is closed (a generation stops).
      // After a cancel it is not waited for: the abort already stops the engine, and a stream
      // that ignored it would hold the requester's answer.
      if (cut) void Promise.resolve(it.return?.(undefined)).catch(() => {});
      else if (!done) await it.return?.(undefined).catch(() => {});
      else await it.return?.(undefined);
    }
    if (cut) break;
    if (!done) throw new JobFailure("engine_error", "the engine's stream ended without a final result");
    capPrompt(ctx, header, usage);
    checkLimits(header, usage);
    if (writer.full) {
      // no room for more choices either: those not started are not run, and end as the cut one
      while (choices.length < n) choices.push({ finishReason: "length" });
      ctx.log.info("answer cut at the network's reply cap: billed what the engine generated", { jobId: header.jobId });
      break;
    }
  }
  if (cut || choices.length < n) {
    // ---- Billing a cancelled job. The requester pays for what the GPU did up to the cancel:
    // - completion tokens: the finished choices' as the engine counted them, plus one per
    //   streamed piece (a delta with text or thinking) of the choice it was generating. An engine
    //   never streams less than one token a piece, so this never bills more than was generated
    //   (it may bill less: a piece of several tokens counts one); capped at the choice's share.
    // - prompt tokens: the engine's own count, never an estimate. It reports it only with its
    //   final result, which a stopped generation never sends: taken from a finished choice of
    //   the same request where there is one, else asked of the engine again (promptTokensOf: the
    //   same request for one token). If that fails, the prompt is billed 0 (and logged): the
    //   worker loses it rather than guess at the requester's cost.
    // - choices never started cost nothing, and are ended "cancelled" with no text.
    // Then checked against the job's limits like any answer (checkLimits).
    if (ctx.signal?.aborted) throw new EngineError("engine_aborted", "the job was moved to another worker", { engine: engine.name });
    if (cut) {
      reasoningTokens = undefined; // the engine never reported the cut choice's counts
      usage.completionTokens += Math.min(cut.pieces, perChoice);
      if (prompts.length > 0) usage.promptTokens += prompts[0]!;
      else {
        const counted = await promptTokensOf(ctx, header, p, cut.i);
        usage.promptTokens += counted?.promptTokens ?? 0;
        if (counted) engineName = counted.engine;
      }
    }
    const timeUp = ctx.cancel?.reason instanceof LongestLifeReached;
    while (choices.length < n) choices.push({ finishReason: timeUp ? "length" : "cancelled" });
    capPrompt(ctx, header, usage);
    checkLimits(header, usage);
    // No counts here: the host reads this log, and a job's token counts are its prompt's and its
    // answer's lengths, which padding keeps from the host (session 31 privacy review).
    ctx.log.info(
      timeUp ? "job stopped at its longest life: billed what was generated" : "job cancelled by its requester: billed what was generated",
      {
        jobId: header.jobId,
      },
    );
  }
  // A sum of counts each within its choice's completion is within the total: the bound holds.
  const answered = { ...usage, ...(reasoningTokens !== undefined ? { reasoningTokens } : {}) };
  return { reply: writer.end({ usage: answered, engine: engineName, choices }), usage };
}

/**
 * What the requester must have held prompt tokens for at least: the UTF-8 bytes of the texts the
 * engine reads (a token is at least one byte; the SDK's bound, client/sdk.ts promptTokenBound and
 * textTokenBound, adds framing on top), token ids one each, n times for n choices (each choice is
 * one engine call). A requester that follows the SDK's bound is never refused by it.
 *
 * Every text the engine is given counts, not the message's content alone (review41): a speaker's
 * name, a tool call's id and function name beside its arguments. And a turn, or an embedding
 * input, is at least one token even when empty (its role marker; the model's special tokens): 7,000
 * empty turns fit a 200 KiB envelope and were a prompt of 0. What no byte count can bound (the
 * template's framing) is billed at the hold when the engine counts past it (capPrompt).
 */
export function promptFloor(p: RequestPlaintextParsed): number {
  const bytes = (s: string | undefined) => (s ? Buffer.byteLength(s) : 0);
  if (p.kind === "embedding")
    return (p.input ?? []).reduce<number>((n, x) => n + (typeof x === "string" ? Math.max(1, bytes(x)) : x.length), 0);
  const n = p.n ?? 1;
  if (p.kind === "completion") return bytes(p.prompt) * n;
  // An image: the allowance the SDK holds for it (IMAGE_PROMPT_TOKENS), its base64 being no text the model reads.
  const messages = (p.messages ?? []).reduce(
    (sum, m) =>
      sum +
      Math.max(
        1,
        bytes(contentText(m.content)) +
          imageCount(m.content) * IMAGE_PROMPT_TOKENS +
          bytes(m.name) +
          (m.toolCalls ?? []).reduce((k, c) => k + bytes(c.id) + bytes(c.function.name) + bytes(c.function.arguments), 0),
      ),
    0,
  );
  return (messages + (p.tools?.length ? bytes(JSON.stringify(p.tools)) : 0)) * n;
}

/**
 * Each image's data URL decoded strictly and of the type it names (events/images.ts), as the SDK
 * and cocoon serve check it: the sealed schema checks only its form. An engine is never handed
 * bytes its decoder may read otherwise than ours (or fail on after the work).
 */
function checkImageUrls(p: RequestPlaintextParsed): void {
  const problem = firstImageProblem(p.messages);
  if (problem) throw new JobFailure("bad_request", `${problem.path}: ${problem.message}`);
}

/** The images of a request (chat messages' image parts). */
const imagesOf = (p: RequestPlaintextParsed) => (p.messages ?? []).reduce((n, m) => n + imageCount(m.content), 0);

/**
 * A job whose engine counted more prompt tokens than the requester held: billed at the hold
 * (header.maxPromptTokens), never above it, and said in the worker's log. promptFloor refuses,
 * before the engine runs, a hold below what the prompt's text bounds; what it cannot bound is
 * the engine's alone and known only after the answer was made (and, streamed, read): an image's
 * count, the chat template's framing of each turn, a model's special tokens around each embedding
 * input. Failing the job then (limits_exceeded) refunded the requester an answer it may already
 * have read, paid the worker nothing, and handed the same job to the next worker to do again
 * (review41: a requester padding its prompt with what the floor does not count got every
 * candidate's streamed answer free). The requester agreed to pay the hold; what the worker forgoes
 * is only the count's excess over it. The completion side is never capped: the engine was asked
 * for at most the hold's tokens, so a count past it is an engine ignoring max_tokens.
 */
function capPrompt(ctx: ExecuteContext, header: EnvelopeHeader, usage: BilledUsage): void {
  if (usage.promptTokens <= header.maxPromptTokens) return;
  // No counts: the host reads this log and knows the hold (the header), so what the worker forwent
  // would give the prompt's token count, its length, which padding keeps from the host (session 31).
  ctx.log.warn("the engine counted more prompt tokens than the job held: billed the hold's prompt tokens", {
    jobId: header.jobId,
  });
  usage.promptTokens = header.maxPromptTokens;
}

function checkLimits(header: EnvelopeHeader, usage: BilledUsage): void {
  if (usage.promptTokens > header.maxPromptTokens || usage.completionTokens > header.maxTokens) {
    throw new JobFailure("limits_exceeded", `engine usage ${usage.promptTokens}+${usage.completionTokens} exceeds the job's limits`);
  }
}

/**
 * One job: open the envelope (plaintext exists only here, inside the TEE), run the engine and
 * seal its answer chunk by chunk to the requester's one-time key (publishing each chunk on
 * the relay as it is sealed when the requester asked for a stream), sign a receipt over the
 * whole chunk sequence and post both; on any failure post a code to the coordinator and the
 * text sealed to the requester.
 */
/**
 * The failure report of `job`, whichever part of the agent gives it back: with the envelope it came
 * with, which the coordinator hands to the next candidate (on DynamoDB it keeps no copy).
 */
export function failureReport(job: AgentJob, code: FailureCode, reply?: SealedReply): ResultRequest {
  return { kind: "failed", jobId: job.jobId, attempt: job.attempt, code, ...(reply ? { reply } : {}), envelope: job.envelope };
}

/**
 * The text sealed to the requester for an envelope that did not open. A data key that fails its
 * HPKE open here is most often sealed to this worker's previous key: the agent's HPKE key lives in
 * memory only, so after a kill -9 and a restart (a new key, registered again) the jobs already
 * sealed to the old one cannot open. That reads as tampering no more than it must: the open fails
 * the same way for a changed header or wrapped key (the header is the open's AAD), so that cause
 * is still named. The code stays bad_request: the coordinator moves every failed job to its next
 * candidate (refunds it at the last), whatever the code, and a new code would break the schemas
 * of coordinators that do not know it.
 */
function unopenedWhy(e: unknown): string {
  if (e instanceof EnvelopeError && e.code === "key_unwrap_failed" && e.message.startsWith(HPKE_OPEN_FAILED)) {
    return `${HPKE_OPEN_FAILED}: sealed to another key of this worker (a restarted agent), or its header or wrapped key was changed on the way: given back for the next candidate`;
  }
  // A plaintext the sealed schema refuses: one line naming the field, as the SDK's AskInputError and
  // `cocoon serve`'s 400 put it (an `extra` off the allow-list: "extra.grammar: grammar is not an
  // engine parameter …"). zod's own message is its issues as pretty-printed JSON.
  if (e instanceof z.ZodError) {
    const first = e.issues[0];
    const where = first?.path.map(String).join(".") || "request";
    const more = e.issues.length > 1 ? ` (and ${e.issues.length - 1} more)` : "";
    return `${where}: ${first?.message ?? "malformed"}${more}`;
  }
  return (e as Error).message;
}

export async function executeJob(ctx: ExecuteContext, job: AgentJob): Promise<void> {
  const { api, workerId, stats, log } = ctx;
  const header = job.envelope.header;
  const startedAt = ctx.now();
  let writer: ChunkWriter | undefined;
  try {
    let plain: RequestPlaintextParsed;
    let proofKey: Uint8Array;
    try {
      const opened = openRequestBound(job.envelope, { workerId, kem: ctx.kemKey });
      proofKey = opened.proofKey;
      plain = RequestPlaintext.parse(JSON.parse(new TextDecoder().decode(opened.plaintext)));
    } catch (e) {
      throw new JobFailure("bad_request", unopenedWhy(e));
    }
    checkImageUrls(plain);
    const relay = plain.stream
      ? createRelayPublisher({
          api,
          jobId: job.jobId,
          attempt: job.attempt,
          log,
          now: ctx.now,
          // issue 12: the session that came with the job, so the agent asks the coordinator nothing for it
          ...(job.relay ? { dispatched: job.relay } : {}),
          ...(ctx.relayPublisher ? { external: ctx.relayPublisher } : {}),
        })
      : undefined;
    writer = new ChunkWriter(job, ctx, relay, { ...defaultChunking(), ...ctx.chunking }, ctx.now, plain.relayWhole === true, proofKey);
    const { reply, usage } = await run(ctx, job, plain, writer).catch((e: unknown) =>
      Promise.reject(
        e instanceof EngineError || e instanceof JobFailure
          ? e
          : new JobFailure("engine_error", e instanceof Error ? e.message : String(e)),
      ),
    );
    // Its size was counted chunk by chunk (ChunkWriter.flush): within MAX_REPLY_BYTES here.
    const canonicalReply = canonicalJson(reply);
    const receipt = signReceipt(
      {
        v: 1,
        jobId: job.jobId,
        workerId,
        model: header.model,
        requestHash: requestHash(job.envelope),
        replyHash: sha256Hex(canonicalReply),
        // The billed counts only, named one by one: the receipt's signed bytes are as before (no reasoningTokens).
        usage: { promptTokens: usage.promptTokens, completionTokens: usage.completionTokens },
        measurement: ctx.measurement(),
        finishedAt: ctx.now(),
      },
      ctx.signingKey,
    );
    // On the HTTP relay the last chunk goes out before the result, so that the requester's stream
    // ends with it rather than with a recovery from the stored reply. On a pub/sub relay it goes
    // out after the coordinator took the result (a stale attempt never publishes one), with the
    // bill and the settlement token the coordinator answered (session 40: only the coordinator
    // can make one, only the requester can check it): the SDK then takes the final chunk as the
    // job's end and reads nothing more (issue 12: two requests a job). A retried post answered as a
    // duplicate carries the same bill and token as the first answer (session 41): relayed alike.
    const resultFirst = relay !== undefined && (await relay.pubsub());
    if (!resultFirst) await writer.finishRelay(receipt);
    const taken = await api.request(API.postResult, {
      body: { kind: "completed", jobId: job.jobId, attempt: job.attempt, reply, receipt },
    });
    if (resultFirst) await writer.finishRelay(receipt, taken);
    if (relay) ctx.onStreamed?.({ jobId: job.jobId, chunks: reply.chunks.length, messages: relay.messages, published: relay.published });
    stats.jobs++;
    stats.promptTokens += usage.promptTokens;
    stats.completionTokens += usage.completionTokens;
    // An owner watching the log sees each job it served (owner40: only failures were logged).
    // The job's id, model and time only: not its token counts, nor what it earned (the count
    // times the price), which would give the host each job's lengths that padding keeps from it
    // (session 31; the host reads the log). `status` and /metrics show the totals.
    log.info("job done", {
      jobId: job.jobId,
      model: header.model,
      ms: ctx.now() - startedAt,
      ...(taken.duplicate ? { duplicate: true } : {}),
    });
  } catch (e) {
    writer?.cancel();
    stats.failed++;
    if ((e instanceof ApiError && e.code === "stale_attempt") || ctx.signal?.aborted) {
      log.warn("job failed", { jobId: job.jobId, code: "stale_attempt" });
      return;
    }
    // The coordinator (and this log, which the host can read) get a code only: an engine's
    // error text can echo the prompt (issue 9 #12). The text goes sealed to the requester.
    const code = failureCode(e);
    log.warn("job failed", { jobId: job.jobId, code, ...(e instanceof ApiError ? { api: e.code } : {}) });
    const text: FailurePlaintext = { error: { code, message: ((e as Error)?.message ?? String(e)).slice(0, 2000) } };
    let reply: SealedReply | undefined;
    try {
      // padded as chunks are: the message's length would tell the host how much of it there is
      reply = sealReply(header, workerId, padJson(new TextEncoder().encode(JSON.stringify(text)), CHUNK_PADDING));
    } catch {
      reply = undefined; // no usable reply key: the code alone goes back
    }
    await api.request(API.postResult, { body: failureReport(job, code, reply) }).catch(() => {});
  }
}
