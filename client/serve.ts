import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";

/**
 * `cocoon serve`: an OpenAI-compatible proxy on the requester's own machine. Existing apps
 * point their OpenAI base URL at it; every request becomes a Cocoon job through the
 * injected `ask` (the SDK: it holds the requester key, verifies attestations, seals and
 * opens envelopes). This module holds no keys.
 *
 * Routes: GET /v1/models, GET /v1/models/{id}, POST /v1/chat/completions, POST /v1/completions.
 *
 * Safety of a local money-spending endpoint:
 * - binds to a loopback address only;
 * - refuses Host headers that are not loopback (DNS rebinding from a web page);
 * - requires `Content-Type: application/json` on POST and sends no CORS headers, so a web
 *   page cannot make a browser spend the requester's funds with a "simple" cross-site POST.
 */

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

export class ServeProxyError extends Error {
  override readonly name = "ServeProxyError";
  constructor(
    readonly code: "non_loopback_host" | "listen_failed",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "::1", "localhost"]);

// ---------------------------------------------------------------- request schemas

const TextPart = z.object({ type: z.literal("text"), text: z.string() });
const Content = z.union([
  z.string(),
  z.array(z.union([TextPart, z.object({ type: z.string() }).loose()])).min(1),
]);

const ChatMessage = z.object({
  // "developer" is OpenAI's newer name for the system role.
  role: z.enum(["system", "developer", "user", "assistant"], {
    error: "role must be system, developer, user or assistant (tool messages are not supported)",
  }),
  content: Content,
});

const Sampling = {
  model: z.string({ error: "model is required" }).min(1, "model must not be empty"),
  max_tokens: z.number().int().positive().optional(),
  max_completion_tokens: z.number().int().positive().optional(),
  temperature: z.number().min(0).max(2).optional(),
  n: z.literal(1, { error: "only n = 1 is supported" }).optional(),
  stream: z.boolean().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).loose().nullable().optional(),
};

const ChatBody = z
  .object({
    ...Sampling,
    messages: z.array(ChatMessage).min(1, "messages must hold at least one message"),
    tools: z.undefined({ error: "tools are not supported by Cocoon" }).optional(),
    functions: z.undefined({ error: "functions are not supported by Cocoon" }).optional(),
  })
  .loose();

const CompletionBody = z
  .object({
    ...Sampling,
    prompt: z.union([z.string(), z.array(z.string()).length(1, "only one prompt per request is supported")]),
    echo: z.literal(false, { error: "echo is not supported" }).optional(),
    suffix: z.null({ error: "suffix is not supported" }).optional(),
  })
  .loose();

// ---------------------------------------------------------------- errors

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const invalid = (code: string, message: string) => new HttpError(400, "invalid_request_error", code, message);

function zodMessage(err: z.ZodError): string {
  return err.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message)).join("; ");
}

/**
 * Built-in mapping of SDK errors (anything with a string `code`, optionally an HTTP `status`)
 * to OpenAI-shaped answers. 402 (not OpenAI's 429) for missing funds, so that OpenAI clients
 * do not retry a request that cannot succeed.
 */
export function mapAskError(err: unknown): OpenAiErrorMapping {
  const e = (typeof err === "object" && err !== null ? err : {}) as { code?: unknown; status?: unknown; message?: unknown };
  const code = typeof e.code === "string" ? e.code : "internal_error";
  const message = typeof e.message === "string" && e.message.length > 0 ? e.message : String(err);
  const c = code.toLowerCase();
  const pick = (status: number, type: string): OpenAiErrorMapping => ({ status, type, code, message });

  if (/model_not_(served|found)|unknown_model/.test(c)) return pick(404, "invalid_request_error");
  if (/insufficient_(funds|balance)|balance_too_low/.test(c)) return pick(402, "insufficient_quota");
  if (/rate_limit|too_many/.test(c)) return pick(429, "rate_limit_error");
  if (/timeout|expired/.test(c)) return pick(504, "timeout_error");
  if (/no_(worker|candidate)|unavailable|no_capacity/.test(c)) return pick(503, "service_unavailable");
  if (/attestation|untrusted|measurement|receipt|signature|decrypt/.test(c)) return pick(502, "upstream_verification_error");
  if (/^(invalid|validation|bad_request)|too_long|too_large/.test(c)) return pick(400, "invalid_request_error");
  if (typeof e.status === "number" && e.status >= 400 && e.status <= 599) {
    // An API error the SDK passed through: a 4xx from the coordinator is a problem of this proxy's
    // account or configuration, not of the local app, so it is reported as a bad gateway.
    return pick(e.status >= 500 ? 502 : e.status === 404 ? 404 : 502, "upstream_error");
  }
  if (typeof e.code === "string") return pick(502, "upstream_error");
  return { status: 500, type: "server_error", code: "internal_error", message };
}

// ---------------------------------------------------------------- helpers

function contentText(content: z.infer<typeof Content>, at: string): string {
  if (typeof content === "string") return content;
  return content
    .map((part, i) => {
      if (part.type === "text" && typeof (part as { text?: unknown }).text === "string") return (part as { text: string }).text;
      throw invalid("unsupported_content", `${at}.content.${i}: content part type "${part.type}" is not supported (text only)`);
    })
    .join("");
}

function hostIsLoopback(hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  let h = hostHeader.toLowerCase();
  if (h.startsWith("[")) h = h.slice(1, h.indexOf("]"));
  else h = h.replace(/:\d+$/, "");
  return LOOPBACK_HOSTS.has(h) || /^127\.\d+\.\d+\.\d+$/.test(h);
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new HttpError(413, "invalid_request_error", "body_too_large", `request body is larger than ${limit} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, e: { status: number; type: string; code: string; message: string }): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  send(res, e.status, { error: { message: e.message, type: e.type, param: null, code: e.code } });
}

function cocoonHeaders(r: AskResult): Record<string, string> {
  return {
    "x-cocoon-job-id": r.jobId,
    "x-cocoon-worker": r.workerId,
    "x-cocoon-tier": r.tier,
    "x-cocoon-cost-nanoton": r.cost,
  };
}

function usageOf(r: AskResult) {
  return {
    prompt_tokens: r.usage.promptTokens,
    completion_tokens: r.usage.completionTokens,
    total_tokens: r.usage.promptTokens + r.usage.completionTokens,
  };
}

/** Splits finished text into word-sized pieces (whitespace kept), so that joining them gives it back. */
export function streamPieces(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [];
}

function openSse(res: ServerResponse, headers: Record<string, string>): (data: unknown) => void {
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
    ...headers,
  });
  return (data) => res.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
}

// ---------------------------------------------------------------- server

export async function startServeProxy(opts: ServeProxyOptions): Promise<ServeProxy> {
  const host = opts.host ?? "127.0.0.1";
  if (!LOOPBACK_HOSTS.has(host)) {
    throw new ServeProxyError(
      "non_loopback_host",
      `cocoon serve spends your funds for anyone who can reach it, so it binds to loopback only; host "${host}" is not 127.0.0.1, ::1 or localhost`,
    );
  }
  const defaultMaxTokens = opts.defaultMaxTokens ?? 1024;
  const maxBodyBytes = opts.maxBodyBytes ?? 4 * 1024 * 1024;
  const mapError = (err: unknown): OpenAiErrorMapping => opts.mapError?.(err) ?? mapAskError(err);

  async function readJson(req: IncomingMessage): Promise<unknown> {
    const ct = (req.headers["content-type"] ?? "").toLowerCase();
    if (!/^application\/json\b/.test(ct)) {
      throw new HttpError(
        415,
        "invalid_request_error",
        "unsupported_media_type",
        'send the body as JSON with header "Content-Type: application/json"',
      );
    }
    const raw = await readBody(req, maxBodyBytes);
    try {
      return JSON.parse(raw);
    } catch {
      throw invalid("invalid_json", "request body is not valid JSON");
    }
  }

  function parse<T>(schema: z.ZodType<T>, body: unknown): T {
    const r = schema.safeParse(body);
    if (!r.success) throw invalid("invalid_request", zodMessage(r.error));
    return r.data;
  }

  /** Calls ask with a signal that fires if the HTTP client disconnects first. */
  async function callAsk(res: ServerResponse, q: Parameters<AskFn>[0]): Promise<AskResult> {
    const ctl = new AbortController();
    const onClose = () => {
      if (!res.writableEnded) ctl.abort(new Error("client disconnected"));
    };
    res.on("close", onClose);
    try {
      return await opts.ask({ ...q, signal: ctl.signal });
    } finally {
      res.off("close", onClose);
    }
  }

  /** Writes prepared choices as SSE chunks of one object kind, then usage (when asked for) and [DONE]. */
  function streamAnswer(
    res: ServerResponse,
    result: AskResult,
    o: { id: string; object: string; created: number; includeUsage: boolean; choices: Array<Record<string, unknown>> },
  ) {
    const write = openSse(res, cocoonHeaders(result));
    const frame = { id: o.id, object: o.object, created: o.created, model: result.model };
    for (const choice of o.choices) write({ ...frame, choices: [{ index: 0, ...choice, logprobs: null }] });
    if (o.includeUsage) write({ ...frame, choices: [], usage: usageOf(result) });
    write("[DONE]");
    res.end();
  }

  async function chatCompletions(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parse(ChatBody, await readJson(req));
    const messages = body.messages.map((m, i) => ({
      role: m.role === "developer" ? ("system" as const) : m.role,
      content: contentText(m.content, `messages.${i}`),
    }));
    const result = await callAsk(res, {
      model: body.model,
      messages,
      maxTokens: body.max_completion_tokens ?? body.max_tokens ?? defaultMaxTokens,
      ...(body.temperature !== undefined ? { temperature: body.temperature } : {}),
    });
    const id = `chatcmpl-${result.jobId}`;
    const created = Math.floor(Date.now() / 1000);
    if (body.stream === true) {
      // Cocoon replies are sealed to the requester as one whole envelope, so nothing exists to
      // stream until the job is done: streaming is emulated by sending the finished answer as
      // SSE chunks in the OpenAI chunk format, then `data: [DONE]`.
      streamAnswer(res, result, {
        id,
        object: "chat.completion.chunk",
        created,
        includeUsage: body.stream_options?.include_usage === true,
        choices: [
          { delta: { role: "assistant", content: "" }, finish_reason: null },
          ...streamPieces(result.text).map((piece) => ({ delta: { content: piece }, finish_reason: null })),
          { delta: {}, finish_reason: result.finishReason },
        ],
      });
      return;
    }
    send(
      res,
      200,
      {
        id,
        object: "chat.completion",
        created,
        model: result.model,
        choices: [
          { index: 0, message: { role: "assistant", content: result.text }, logprobs: null, finish_reason: result.finishReason },
        ],
        usage: usageOf(result),
      },
      cocoonHeaders(result),
    );
  }

  async function completions(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parse(CompletionBody, await readJson(req));
    const prompt = typeof body.prompt === "string" ? body.prompt : body.prompt[0]!;
    const result = await callAsk(res, {
      model: body.model,
      messages: [{ role: "user", content: prompt }],
      maxTokens: body.max_completion_tokens ?? body.max_tokens ?? defaultMaxTokens,
      ...(body.temperature !== undefined ? { temperature: body.temperature } : {}),
    });
    const id = `cmpl-${result.jobId}`;
    const created = Math.floor(Date.now() / 1000);
    if (body.stream === true) {
      // Emulated streaming, as for chat completions: the sealed reply arrives whole.
      streamAnswer(res, result, {
        id,
        object: "text_completion",
        created,
        includeUsage: body.stream_options?.include_usage === true,
        choices: [
          ...streamPieces(result.text).map((text) => ({ text, finish_reason: null })),
          { text: "", finish_reason: result.finishReason },
        ],
      });
      return;
    }
    send(
      res,
      200,
      {
        id,
        object: "text_completion",
        created,
        model: result.model,
        choices: [{ index: 0, text: result.text, logprobs: null, finish_reason: result.finishReason }],
        usage: usageOf(result),
      },
      cocoonHeaders(result),
    );
  }

  async function models(res: ServerResponse, id?: string): Promise<void> {
    if (!opts.listModels) {
      throw new HttpError(501, "server_error", "not_implemented", "this proxy was started without a model list (listModels)");
    }
    const list = await opts.listModels();
    const card = (m: string) => ({ id: m, object: "model", created: 0, owned_by: "cocoon" });
    if (id === undefined) return send(res, 200, { object: "list", data: list.map(card) });
    if (!list.includes(id)) {
      throw new HttpError(404, "invalid_request_error", "model_not_found", `model "${id}" is not offered by any Cocoon worker right now`);
    }
    send(res, 200, card(id));
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hostIsLoopback(req.headers.host)) {
      throw new HttpError(403, "invalid_request_error", "forbidden_host", "Host header must name a loopback address (127.0.0.1 or localhost)");
    }
    const path = (req.url ?? "/").split("?")[0]!.replace(/\/+$/, "");
    const method = req.method ?? "GET";
    const only = (m: string) => {
      if (method !== m) throw new HttpError(405, "invalid_request_error", "method_not_allowed", `${path} accepts ${m} only`);
    };
    if (path === "/v1/chat/completions") {
      only("POST");
      return chatCompletions(req, res);
    }
    if (path === "/v1/completions") {
      only("POST");
      return completions(req, res);
    }
    if (path === "/v1/models") {
      only("GET");
      return models(res);
    }
    if (path.startsWith("/v1/models/")) {
      only("GET");
      let id: string;
      try {
        id = decodeURIComponent(path.slice("/v1/models/".length));
      } catch {
        throw invalid("invalid_path", "model id in the path is not valid percent-encoding");
      }
      return models(res, id);
    }
    throw new HttpError(404, "invalid_request_error", "not_found", `no route ${method} ${path}; this proxy serves /v1/chat/completions, /v1/completions and /v1/models`);
  }

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) return sendError(res, err);
      const mapped = mapError(err);
      if (mapped.status >= 500) opts.onError?.(err);
      sendError(res, mapped);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) =>
      reject(new ServeProxyError("listen_failed", `cannot listen on ${host}:${opts.port ?? 8788}: ${err.message}`, { cause: err })),
    );
    server.listen(opts.port ?? 8788, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host === "::1" ? "[::1]" : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
