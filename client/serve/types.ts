/** The public shapes of `cocoon serve` (re-exported by client/serve.ts). */

import type { ModelCapabilities } from "../../events/api";
import type { TokenLogprob, ToolCall } from "../../events/envelope";
import type { AskChoice, ToolCallDelta } from "../sdk";
import type { ItemStore } from "./items";

/**
 * Declared once where the network defines them: a tool call and a token's log probability as the
 * sealed reply carries them, a model's capabilities as the agent registers them, a streamed tool
 * call piece and one of n choices as the SDK yields them.
 */
export type { AskChoice, ModelCapabilities, TokenLogprob, ToolCall, ToolCallDelta };

/** A function the model may call (OpenAI's `tools[]` entry); `parameters` is a JSON Schema. */
export interface Tool {
  type: "function";
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean | null };
}

export type ToolChoice = "auto" | "none" | "required" | { type: "function"; function: { name: string } };

export type ResponseFormat =
  | { type: "text" }
  | { type: "json_object" }
  | { type: "json_schema"; json_schema: { name: string; description?: string; schema?: Record<string, unknown>; strict?: boolean | null } };

/**
 * A content part as the network seals it (OpenAI's chat shape): text, or an image as a
 * data:image/(png|jpeg|webp|gif);base64 URL. Only user messages hold parts, and only when they hold an image.
 */
export type AskContentPart =
  { type: "text"; text: string } | { type: "image_url"; image_url: { url: string; detail?: "auto" | "low" | "high" } };

export interface AskMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string | AskContentPart[];
  /** assistant: the calls it made */
  toolCalls?: ToolCall[];
  /** tool: the call this message answers */
  toolCallId?: string;
  name?: string;
}

/** One job's worth of an OpenAI request, as the proxy hands it to the network. */
export interface AskRequest {
  model: string;
  /** A chat, through the model's chat template. Exactly one of `messages` and `prompt`. */
  messages?: AskMessage[];
  /** /v1/completions for a model that advertises plain completions: the prompt, continued as is. */
  prompt?: string;
  /** Completion tokens per choice. */
  maxTokens: number;
  /** Choices (default 1): one job generates them all. */
  n?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  /** at most 4 */
  stop?: string[];
  tools?: Tool[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  responseFormat?: ResponseFormat;
  logprobs?: boolean;
  topLogprobs?: number;
  /** OpenAI's end-user id, passed on as sent. */
  user?: string;
  /** Fields this proxy does not know, passed on under their OpenAI names as sent. */
  extra?: Record<string, unknown>;
  /** Fires when the HTTP client goes away before the answer is complete. */
  signal?: AbortSignal;
}

export interface AskResult {
  /** choice 0 */
  text: string;
  /** reasoningTokens: of the completion tokens, the thinking (all choices), where the worker's engine counted it; information only */
  usage: { promptTokens: number; completionTokens: number; reasoningTokens?: number };
  /** A stop that produced tool calls is OpenAI's "tool_calls" (also when only `toolCalls` says so). */
  finishReason: "stop" | "length" | "tool_calls" | "cancelled";
  toolCalls?: ToolCall[];
  /** choice 0's tokens with their log probabilities, when asked for */
  logprobs?: TokenLogprob[];
  /** choice 0's thinking, apart from `text` (a reasoning model whose engine separates it): `reasoning_content` */
  reasoning?: string;
  /** n > 1: every choice, choice 0 first. */
  choices?: AskChoice[];
  model: string;
  workerId: string;
  tier: string;
  cost: string /* nanoTON */;
  jobId: string;
}

export type AskFn = (req: AskRequest) => Promise<AskResult>;

/**
 * What a streamed ask yields: deltas as the network delivers them (text, and tool-call pieces or
 * whole calls; `index` is the choice, default 0), then exactly one "done" with the whole answer,
 * its usage and cost. "restart": the worker failed mid-stream and the next one starts over, so
 * what was shown is not part of the answer.
 */
export type AskStreamEvent =
  | {
      type: "delta";
      text?: string;
      toolCalls?: Array<ToolCallDelta | ToolCall>;
      index?: number;
      jobId?: string;
      /** the log probabilities of this delta's tokens, when asked for */
      logprobs?: TokenLogprob[];
      /** the model's thinking before this delta's text (`text` may then be empty) */
      reasoning?: string;
    }
  | { type: "restart" }
  | ({ type: "done" } & AskResult);

export type AskStreamFn = (req: AskRequest) => AsyncIterable<AskStreamEvent>;

export interface EmbedRequest {
  model: string;
  /** texts, or token ids of the model's vocabulary */
  input: string[] | number[][];
  signal?: AbortSignal;
}

export interface EmbedResult {
  /** one per input, in input order */
  vectors: number[][];
  usage: { promptTokens: number };
  model: string;
  workerId: string;
  tier: string;
  cost: string /* nanoTON */;
  jobId: string;
}

export type EmbedFn = (req: EmbedRequest) => Promise<EmbedResult>;

/** A model on offer; without capabilities the proxy checks nothing and lets the worker decide. */
export interface ModelInfo {
  id: string;
  capabilities?: ModelCapabilities;
}

/** A model as GET /v1/models lists it: a model alias (--model-alias) names the network model it stands for. */
export interface ListedModel extends ModelInfo {
  aliasOf?: string;
}

/** An OpenAI-shaped error answer. */
export interface OpenAiErrorMapping {
  status: number;
  type: string;
  code: string;
  message: string;
  /** the request field at fault, when one is */
  param?: string | null;
  /** false: a retry cannot help (sent as `x-should-retry: false`, which the openai clients obey) */
  retryable?: boolean;
  /** when a retry may succeed (the coordinator's rate limit says): sent as `retry-after`, which the openai clients wait for */
  retryAfterSeconds?: number;
}

export interface ServeProxyOptions {
  /** Default 8788; 0 picks a free port. */
  port?: number;
  /** Loopback only: "127.0.0.1" (default), "::1" or "localhost". */
  host?: string;
  ask: AskFn;
  /** Streams `stream: true` requests as the network delivers them; without it the finished answer is sent as chunks. */
  askStream?: AskStreamFn;
  /** Answers POST /v1/embeddings; without it that route answers 501. */
  embed?: EmbedFn;
  /**
   * Answers GET /v1/models, and tells which models exist and what each can do: a request for a
   * model not listed is a 404, one a model cannot honour a 400 naming the parameter. Without it
   * /v1/models answers 501 and requests go to the network unchecked.
   */
  listModels?: () => Promise<Array<string | ModelInfo>>;
  /**
   * OpenAI model names answered by Cocoon models (`cocoon serve --model-alias gpt-4o-mini=qwen2-7b`):
   * a request naming an alias runs on its target, checked against the target's capabilities, and
   * its answer names the alias as the app asked. An alias wins over a network model of its name;
   * an alias of an alias is refused (ServeProxyError invalid_model_alias).
   */
  modelAliases?: Readonly<Record<string, string>>;
  /** How long a model list is reused (default 10 s; an unknown model refetches it once). */
  modelsTtlMs?: number;
  /** Used when a request names neither max_tokens nor max_completion_tokens. Default 1024. */
  defaultMaxTokens?: number;
  /** Largest accepted request body. Default 4 MiB. */
  maxBodyBytes?: number;
  /** Overrides the built-in error mapping for errors thrown by ask/listModels; return undefined to fall back. */
  mapError?: (err: unknown) => OpenAiErrorMapping | undefined;
  /** Called with every error that reaches a 5xx answer, or that breaks a stream already under way. */
  onError?: (err: unknown) => void;
  /**
   * Told once when the app closed its connection before its answer was whole (a killed curl, an
   * aborted fetch): the proxy stopped waiting on the network and writes nothing more. Not an
   * error (onError is not called for it). A job already submitted is cancelled by the backend
   * where it can (serveBackend over CocoonClient: the aborted signal cancels it, billed for what was
   * generated); a backend that cannot cancel leaves it to run on and be billed.
   */
  onClientGone?: (info: ClientGone) => void;
  now?: () => number;
}

/** A request whose app went away before its answer was whole. */
export interface ClientGone {
  requestId: string;
  method: string;
  path: string;
}

export interface ServeProxy {
  /** e.g. http://127.0.0.1:8788 (append /v1 for an OpenAI base URL). */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** What every route of the proxy is given besides the request. */
export interface ProxyContext {
  ask: AskFn;
  askStream?: AskStreamFn;
  embed?: EmbedFn;
  /** The model's entry when the proxy has a model list (throws 404 for a model not on offer); undefined without one. */
  model(id: string): Promise<ModelInfo | undefined>;
  /** The network's name of the model a request names: its target for a model alias; without one the name itself. */
  target?: (id: string) => string;
  listModels?: () => Promise<ListedModel[]>;
  defaultMaxTokens: number;
  /** The /v1/responses output items this proxy answered, for a later item_reference (items.ts); without it none is kept. */
  items?: ItemStore;
  /** This request's id (x-request-id), also the id of a stream that has no job id yet. */
  requestId: string;
  mapError(err: unknown): OpenAiErrorMapping;
  onError?: (err: unknown) => void;
  /** The app went away mid-answer (a stream's end): tells onClientGone, once a request. */
  clientGone(): void;
  now(): number;
}
