import type { Usage } from "../../events/common";
import type { RequestPlaintext } from "../../events/envelope";

/**
 * The engine port: how the agent turns a decrypted request into an answer. Adapters:
 * builtin.ts (deterministic, simulated, no weights) and openai-http.ts (any
 * OpenAI-compatible server: vLLM, llama.cpp server, Ollama).
 */

export type EngineMessage = RequestPlaintext["messages"][number];

export interface EngineRequest {
  model: string;
  messages: RequestPlaintext["messages"];
  /** Upper bound on completion tokens; the requester pays for at most this many. */
  maxTokens: number;
  temperature?: number;
  /** Aborts the generation (EngineError 'engine_aborted'). */
  signal?: AbortSignal;
}

export interface EngineResult {
  text: string;
  /** Token counts as the engine itself counted them: never estimated by the adapter. */
  usage: Usage;
  finishReason: "stop" | "length";
  /** Human-readable engine name, shown to the requester (ReplyPlaintext.engine). */
  engine: string;
}

export interface Engine {
  readonly name: string;
  /** Model names this engine can serve right now. */
  models(): Promise<string[]>;
  generate(req: EngineRequest): Promise<EngineResult>;
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
  | "invalid_request";

export class EngineError extends Error {
  override readonly name = "EngineError";
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    /** Extra facts for logs: HTTP status, engine name, server's own error message. */
    readonly details?: { engine?: string; status?: number; serverMessage?: string },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Checks the parts of an EngineRequest every adapter relies on. Throws EngineError('invalid_request'). */
export function assertValidEngineRequest(req: EngineRequest, engine: string): void {
  if (!Number.isSafeInteger(req.maxTokens) || req.maxTokens < 1) {
    throw new EngineError("invalid_request", `maxTokens must be a positive integer, got ${String(req.maxTokens)}`, { engine });
  }
  if (!Array.isArray(req.messages) || req.messages.length === 0) {
    throw new EngineError("invalid_request", "messages must hold at least one message", { engine });
  }
  if (typeof req.model !== "string" || req.model.length === 0) {
    throw new EngineError("invalid_request", "model must be a non-empty string", { engine });
  }
}

/** Throws EngineError('engine_aborted') if the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, engine: string): void {
  if (signal?.aborted) {
    throw new EngineError("engine_aborted", "generation aborted by the caller", { engine }, { cause: signal.reason });
  }
}
