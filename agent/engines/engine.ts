import type { ModelCapabilities } from "../../events/api";
import type { Usage } from "../../events/common";
import type { ContentPart } from "../../events/envelope";

/**
 * The engine port: how the agent turns a decrypted request into an answer. Adapters:
 * builtin.ts (deterministic, simulated, no weights), openai-http.ts (any OpenAI-compatible
 * server: vLLM, llama.cpp server, Ollama) and llama.ts (a GGUF file run by llama.cpp in a
 * child process).
 *
 * `generate` is the one method every engine has. `stream`, `complete`, `embed` and the rest
 * are optional: a caller checks for them (or uses `streamOf`, which falls back to generate).
 */

/** A tool call in OpenAI's shape; `arguments` is the JSON text the model wrote. */
export interface EngineToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/**
 * One chat message. The requester's envelope carries system/user/assistant text today; the
 * tool fields are for OpenAI-style function calling (an assistant turn that called tools,
 * and the tool results that answer those calls).
 */
export interface EngineMessage {
  role: "system" | "user" | "assistant" | "tool";
  /**
   * Text, or OpenAI's content parts when a user message holds images (data URLs only, checked by
   * the sealed schema): the agent hands parts only to an engine whose capabilities say `vision`
   * (agent/execute.ts); a message of text parts only reaches every engine as its text.
   */
  content: string | EngineContentPart[];
  /**
   * system, user, assistant: OpenAI's participant name (1-64 letters, digits, _ or -), when the
   * requester gave one. The OpenAI-compatible engine sends it on; the embedded llama.cpp engine's
   * chat history has no place for it and leaves it out; the built-in engine ignores it.
   */
  name?: string;
  /** assistant only: the calls it made */
  toolCalls?: EngineToolCall[];
  /** tool only: which call this is the result of */
  toolCallId?: string;
}

/** A content part in OpenAI's shape: `{type:"text",text}` or `{type:"image_url",image_url:{url,detail?}}`. */
export type EngineContentPart = ContentPart;

/** A function the model may call (OpenAI's `tools[]` entry). `parameters` is a JSON Schema. */
export interface EngineTool {
  type: "function";
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

/** OpenAI's `tool_choice`: "auto" (default), "none", "required", or one named function. */
export type EngineToolChoice = "auto" | "none" | "required" | { type: "function"; function: { name: string } };

/** OpenAI's `response_format`. */
export type EngineResponseFormat =
  | { type: "text" }
  | { type: "json_object" }
  | { type: "json_schema"; json_schema: { name?: string; schema?: Record<string, unknown>; strict?: boolean | null } };

/** Sampling and stopping, shared by chat and text completion. */
export interface EngineSampling {
  model: string;
  /** Upper bound on completion tokens; the requester pays for at most this many. */
  maxTokens: number;
  temperature?: number;
  topP?: number;
  /**
   * Sampling seed: the same seed, prompt and settings give the same text. The agent hands engines
   * engineSeed's values (0 … 2^32 − 2); an engine takes any safe integer.
   */
  seed?: number;
  /** Up to 4 strings; the text ends before the first one generated (not included). */
  stop?: string[];
  responseFormat?: EngineResponseFormat;
  /** OpenAI's end-user id, as the requester sent it (sealed: only this worker saw it). */
  user?: string;
  /** Return each token's log probability (and the `topLogprobs` likeliest alternatives); only for engines whose capabilities say logprobs. */
  logprobs?: boolean;
  topLogprobs?: number;
  /**
   * Request fields the network does not name (frequency_penalty, logit_bias, top_k…), as the
   * requester sent them under OpenAI's names: those of the allow-list only (events/engine-extra.ts,
   * review41), as the sealed request's schema refuses any other. An engine that can pass them on
   * does (the OpenAI-compatible adapter, never over a field it sets itself, and never a name off
   * the list even when handed one: passableExtra); the embedded llama.cpp engine
   * applies logit_bias and the penalties and refuses reasoning_effort (llama.ts extraSampling);
   * the built-in engine ignores them.
   */
  extra?: Record<string, unknown>;
  /**
   * Whose prompt this is, as an opaque token (the same for every job of one requester, another
   * for each other requester). A server that keeps one prompt cache for every request answers a
   * prefix it already holds sooner, so a requester who lands on the same worker could time a
   * guess at the start of another requester's prompt (session 31 privacy review). An engine that
   * can keep its cache apart by it does (vLLM's `cache_salt`); the others ignore it.
   */
  cacheScope?: string;
  /** Aborts the generation (EngineError 'engine_aborted'). */
  signal?: AbortSignal;
}

export interface EngineRequest extends EngineSampling {
  messages: EngineMessage[];
  tools?: EngineTool[];
  toolChoice?: EngineToolChoice;
  /** OpenAI's parallel_tool_calls, as sent. */
  parallelToolCalls?: boolean;
}

/** A plain text completion (OpenAI's /v1/completions): the prompt is continued as is, no chat template. */
export interface EngineCompletionRequest extends EngineSampling {
  prompt: string;
}

export interface EngineResult {
  text: string;
  /**
   * The model's thinking, apart from its answer, where the server parses it out (llama-server,
   * vLLM and SGLang with a reasoning parser: `reasoning_content`; Ollama: `reasoning`); absent
   * when none. Its tokens are billed in `usage.completionTokens` like the answer's.
   */
  reasoning?: string;
  /** Token counts as the engine itself counted them: never estimated by the adapter. */
  usage: Usage;
  /**
   * Why generation ended. A stop that produced tool calls is "stop" with `toolCalls` set
   * (OpenAI's "tool_calls" finish reason is derived from that).
   */
  finishReason: "stop" | "length";
  /** Calls the model made instead of (or after) text; absent when none. */
  toolCalls?: EngineToolCall[];
  /** Every generated token's log probability, when asked for (`logprobs`) and the engine returns them. */
  logprobs?: EngineTokenLogprob[];
  /** Human-readable engine name, shown to the requester (ReplyPlaintext.engine). */
  engine: string;
}

/**
 * What `stream` yields: text deltas as they are generated, then exactly one "done" whose
 * result holds the whole text (the deltas concatenated), the usage and the finish reason.
 */
/** One generated token's log probability, and the likeliest alternatives when asked (OpenAI's logprobs.content[]). */
export interface EngineTokenLogprob {
  token: string;
  logprob: number;
  bytes?: number[] | null;
  topLogprobs?: Array<{ token: string; logprob: number; bytes?: number[] | null }>;
}

export type EngineStreamEvent =
  | {
      type: "delta";
      text: string;
      /** the tokens of this delta, when log probabilities were asked for */
      logprobs?: EngineTokenLogprob[];
      /** thinking generated with (before) this delta's text, when the server separates it (EngineResult.reasoning) */
      reasoning?: string;
      /**
       * Output the engine generated that this delta's text does not show, as a count of pieces (each
       * at least one token): a fragment of a tool call's arguments, which an adapter gathers into
       * the final result's toolCalls rather than streaming it. Sent on a delta with empty text, so
       * a consumer that reads only text passes it by; agent/execute.ts counts it like a streamed
       * piece when a cancel cuts the choice (review41: a tool call cut by a cancel billed 0
       * completion tokens), and never publishes or logs it.
       */
      hidden?: number;
    }
  | { type: "done"; result: EngineResult };

export interface EngineEmbedRequest {
  model: string;
  /** Texts, or already tokenized inputs (token ids of this model's vocabulary). */
  input: string[] | number[][];
  signal?: AbortSignal;
}

export interface EngineEmbedResult {
  /** One vector per input, in input order. */
  vectors: number[][];
  usage: { promptTokens: number };
  engine: string;
}

/**
 * What a model can do, for /v1/models and for 400s that name the parameter a model cannot honour:
 * what the agent advertises at registration, so the wire schema's type (events/api.ts).
 */
export type EngineCapabilities = ModelCapabilities;

export interface Engine {
  readonly name: string;
  /** Model names this engine can serve right now. */
  models(): Promise<string[]>;
  /**
   * A cheap check that the engine itself works, not only its HTTP layer: resolves when it does,
   * throws EngineError (engine_unavailable, engine_timeout) when not. The agent probes with it
   * while idle and while the engine is down; an engine without it is probed with models().
   */
  health?(): Promise<void>;
  generate(req: EngineRequest): Promise<EngineResult>;
  /** Chat, streamed: deltas, then "done". */
  stream?(req: EngineRequest): AsyncIterable<EngineStreamEvent>;
  /** Plain text completion. */
  complete?(req: EngineCompletionRequest): Promise<EngineResult>;
  /** Plain text completion, streamed. */
  streamCompletion?(req: EngineCompletionRequest): AsyncIterable<EngineStreamEvent>;
  embed?(req: EngineEmbedRequest): Promise<EngineEmbedResult>;
  /**
   * The engine's own count of the prompt tokens `req` would be billed, made without running it (no
   * prefill): the same template, tools and special tokens as generate/complete apply. The agent
   * asks it for a cancelled job's prompt (agent/execute.ts promptTokensOf), whose usage a stopped
   * generation never reports: asking the request again for one token redoes a prefill that may
   * outlast the lease. Undefined where the engine cannot count it so (no tokenizer route, images,
   * a field that changes the template it cannot pass on): the caller then asks the request again.
   */
  countPromptTokens?(req: EngineRequest | EngineCompletionRequest): Promise<number | undefined>;
  capabilities?(model: string): Promise<EngineCapabilities>;
  /** SHA-256 (hex) of the weights of each model, for the attestation's model allow-list. */
  modelDigests?(): Promise<Record<string, string>>;
  /** Releases processes and memory the engine holds. */
  close?(): Promise<void>;
}

export type EngineErrorCode =
  /** The engine cannot be reached or refuses to work (connection refused, 5xx, 401/403, 429). */
  | "engine_unavailable"
  /** The engine answered something we cannot use (not JSON, wrong shape, no usage). */
  | "engine_bad_response"
  /** The requested model is not served by this engine. */
  | "model_not_served"
  /** The engine did not answer within the adapter's timeout. */
  | "engine_timeout"
  /** The caller's AbortSignal fired. */
  | "engine_aborted"
  /** The engine refused this particular request (4xx other than auth/404/429, e.g. prompt too long). */
  | "engine_rejected"
  /** The request never reached the engine because it is invalid (e.g. maxTokens not a positive integer). */
  | "invalid_request"
  /** The model file is missing, malformed or not loadable (checked before loading, or the loader refused or died). */
  | "model_invalid"
  /** The engine process died while it ran this job (the job fails; the next job gets a fresh process). */
  | "engine_crashed";

export class EngineError extends Error {
  override readonly name = "EngineError";
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    /** Extra facts for logs: HTTP status, engine name, server's own error message; `param`: the request field at fault. */
    readonly details?: { engine?: string; status?: number; serverMessage?: string; param?: string },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The engine refused the agent's own key (HTTP 401 or 403, engine_unavailable): no request of a
 * requester's is at fault and none will succeed until the key and the engine's agree again.
 */
export function isKeyRefusal(e: unknown): boolean {
  const status = e instanceof EngineError && e.code === "engine_unavailable" ? e.details?.status : undefined;
  return status === 401 || status === 403;
}

/**
 * How many seeds engines are handed: 0 … 2^32 − 2. llama.cpp (embedded, and llama-server) samples
 * with a 32-bit seed and reads 2^32 − 1 (LLAMA_DEFAULT_SEED) as "draw a random one"; node-llama-cpp
 * clamps a negative seed to 0 and cuts a larger one to its low 32 bits, so −1, 0 and 2^40 were one seed.
 */
export const SEED_SPAN = 2 ** 32 - 1;

/**
 * The engine seed of choice `choice` (0 … n − 1) of a request with `seed` (any safe integer, as
 * OpenAI takes it): the seed modulo SEED_SPAN, taken non-negative (−1 → 4294967294), then plus the
 * choice, modulo SEED_SPAN again. Fixed, so the same seed always gives the same text; seeds 0 …
 * 2^32 − 2 are themselves; any 2^32 − 1 consecutive seeds stay distinct (every one from −2^31 + 1
 * to 2^31 − 1); and the n choices of one request get n different seeds. The seed is mapped before
 * the choice is added: added after, the range's edges folded choices onto one seed (−1 + 1 = 0).
 */
export function engineSeed(seed: number, choice = 0): number {
  return ((seed % SEED_SPAN) + SEED_SPAN + choice) % SEED_SPAN;
}

/** Checks the parts of an EngineRequest every adapter relies on. Throws EngineError('invalid_request'). */
export function assertValidEngineRequest(req: EngineRequest, engine: string): void {
  assertValidSampling(req, engine);
  if (!Array.isArray(req.messages) || req.messages.length === 0) {
    throw new EngineError("invalid_request", "messages must hold at least one message", { engine, param: "messages" });
  }
}

/** Throws EngineError('engine_aborted') if the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, engine: string): void {
  if (signal?.aborted) {
    throw new EngineError("engine_aborted", "generation aborted by the caller", { engine }, { cause: signal.reason });
  }
}

/** The shared checks of sampling fields. Throws EngineError('invalid_request') naming the field. */
export function assertValidSampling(req: EngineSampling, engine: string): void {
  if (!Number.isSafeInteger(req.maxTokens) || req.maxTokens < 1) {
    throw new EngineError("invalid_request", `maxTokens must be a positive integer, got ${String(req.maxTokens)}`, {
      engine,
      param: "max_tokens",
    });
  }
  if (typeof req.model !== "string" || req.model.length === 0) {
    throw new EngineError("invalid_request", "model must be a non-empty string", { engine, param: "model" });
  }
  if (req.temperature !== undefined && !(Number.isFinite(req.temperature) && req.temperature >= 0 && req.temperature <= 2)) {
    throw new EngineError("invalid_request", `temperature must be between 0 and 2, got ${String(req.temperature)}`, {
      engine,
      param: "temperature",
    });
  }
  if (req.topP !== undefined && !(Number.isFinite(req.topP) && req.topP > 0 && req.topP <= 1)) {
    throw new EngineError("invalid_request", `top_p must be in (0, 1], got ${String(req.topP)}`, { engine, param: "top_p" });
  }
  if (req.seed !== undefined && !Number.isSafeInteger(req.seed)) {
    throw new EngineError("invalid_request", `seed must be an integer, got ${String(req.seed)}`, { engine, param: "seed" });
  }
  if (
    req.stop !== undefined &&
    (!Array.isArray(req.stop) || req.stop.length > 4 || req.stop.some((s) => typeof s !== "string" || s.length === 0))
  ) {
    throw new EngineError("invalid_request", "stop must be at most 4 non-empty strings", { engine, param: "stop" });
  }
}

/** Checks a text completion request. Throws EngineError('invalid_request'). */
export function assertValidCompletionRequest(req: EngineCompletionRequest, engine: string): void {
  assertValidSampling(req, engine);
  if (typeof req.prompt !== "string") throw new EngineError("invalid_request", "prompt must be a string", { engine, param: "prompt" });
}

/**
 * The engine's chat stream, or for an engine that cannot stream, its whole answer as one
 * delta followed by "done": callers handle every engine the same way.
 */
export function streamOf(engine: Engine, req: EngineRequest): AsyncIterable<EngineStreamEvent> {
  if (engine.stream) return engine.stream(req);
  return (async function* () {
    const result = await engine.generate(req);
    if (result.text !== "" || result.reasoning)
      yield { type: "delta" as const, text: result.text, ...(result.reasoning ? { reasoning: result.reasoning } : {}) };
    yield { type: "done" as const, result };
  })();
}

/** Drains a stream: the final result, plus the deltas it was made of (for checks and tests). */
export async function collectStream(stream: AsyncIterable<EngineStreamEvent>): Promise<{ result: EngineResult; deltas: string[] }> {
  const deltas: string[] = [];
  for await (const ev of stream) {
    // a delta of hidden pieces only (a tool call's arguments) holds none of the text
    if (ev.type === "delta") {
      if (ev.text !== "" || !ev.hidden) deltas.push(ev.text);
    } else return { result: ev.result, deltas };
  }
  throw new EngineError("engine_bad_response", "the engine's stream ended without a final result");
}
