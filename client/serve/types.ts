/** The public shapes of `cocoon serve` (re-exported by client/serve.ts). */

export type AskFn = (req: {
  model: string;
  messages: { role: "system" | "user" | "assistant"; content: string }[];
  maxTokens: number;
  temperature?: number;
  /** Fires when the HTTP client goes away before the answer is ready. */
  signal?: AbortSignal;
}) => Promise<{
  text: string;
  usage: { promptTokens: number; completionTokens: number };
  finishReason: "stop" | "length";
  model: string;
  workerId: string;
  tier: string;
  cost: string /* nanoTON */;
  jobId: string;
}>;

export type AskResult = Awaited<ReturnType<AskFn>>;

/** An OpenAI-shaped error answer. */
export interface OpenAiErrorMapping {
  status: number;
  type: string;
  code: string;
  message: string;
}

export interface ServeProxyOptions {
  /** Default 8788; 0 picks a free port. */
  port?: number;
  /** Loopback only: "127.0.0.1" (default), "::1" or "localhost". */
  host?: string;
  ask: AskFn;
  /** Answers GET /v1/models; without it that route answers 501. */
  listModels?: () => Promise<string[]>;
  /** Used when a request names neither max_tokens nor max_completion_tokens. Default 1024. */
  defaultMaxTokens?: number;
  /** Largest accepted request body. Default 4 MiB. */
  maxBodyBytes?: number;
  /** Overrides the built-in error mapping for errors thrown by ask/listModels; return undefined to fall back. */
  mapError?: (err: unknown) => OpenAiErrorMapping | undefined;
  /** Called with every error that reaches a 5xx answer. */
  onError?: (err: unknown) => void;
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
  listModels?: () => Promise<string[]>;
  defaultMaxTokens: number;
}
