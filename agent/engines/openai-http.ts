import { z } from "zod";
import {
  assertValidEngineRequest,
  type Engine,
  EngineError,
  type EngineRequest,
  type EngineResult,
  throwIfAborted,
} from "./engine";

/**
 * Adapter for any OpenAI-compatible server (vLLM, llama.cpp server, Ollama's /v1):
 *   models()   → GET  {baseUrl}/models
 *   generate() → POST {baseUrl}/chat/completions   (non-streaming; tools, tool_choice, stop,
 *                seed, top_p and response_format passed through; tool_calls returned)
 * Token usage is taken from the server's `usage` object and never estimated: a server
 * that omits it fails with 'engine_bad_response', because the requester is billed from it.
 */

export interface OpenAiEngineOptions {
  /** The API root including the version segment, e.g. "http://127.0.0.1:8000/v1" (vLLM), "http://127.0.0.1:11434/v1" (Ollama). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string;
  /** Whole-request timeout (headers and body), default 120 s. */
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
}

const ModelList = z.object({
  data: z.array(z.object({ id: z.string().min(1) }).loose()),
});

const ChatCompletion = z.object({
  choices: z
    .array(
      z
        .object({
          message: z
            .object({
              content: z.string().nullable().optional(),
              tool_calls: z
                .array(z.object({ id: z.string(), type: z.literal("function"), function: z.object({ name: z.string(), arguments: z.string() }) }).loose())
                .nullable()
                .optional(),
            })
            .loose(),
          finish_reason: z.string().nullable().optional(),
        })
        .loose(),
    )
    .min(1, "choices is empty"),
  usage: z.unknown().optional(),
});

const UsageShape = z.object({
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
});

const ServerError = z.object({
  error: z.union([z.string(), z.object({ message: z.string().optional() }).loose()]),
});

const STOP_REASONS = new Set(["stop", "eos", "end_turn", "stop_sequence", "content_filter", "tool_calls", "function_call"]);
const LENGTH_REASONS = new Set(["length", "max_tokens", "model_length"]);

function describeIssues(err: z.ZodError, prefix = ""): string {
  return err.issues.map((i) => `${prefix}${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
}

function excerpt(text: string, max = 200): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

function serverMessageOf(bodyText: string): string {
  try {
    const parsed = ServerError.safeParse(JSON.parse(bodyText));
    if (parsed.success) {
      const e = parsed.data.error;
      if (typeof e === "string") return e;
      if (e.message) return e.message;
    }
  } catch {
    // not JSON: fall through to the raw excerpt
  }
  return excerpt(bodyText);
}

function causeCode(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause;
  return typeof cause?.code === "string" ? cause.code : undefined;
}

export function createOpenAiEngine(opts: OpenAiEngineOptions): Engine {
  let base: URL;
  try {
    base = new URL(opts.baseUrl);
  } catch (err) {
    throw new EngineError("invalid_request", `baseUrl "${opts.baseUrl}" is not a URL; use e.g. http://127.0.0.1:8000/v1`, undefined, {
      cause: err,
    });
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new EngineError("invalid_request", `baseUrl must be http(s), got ${base.protocol}`);
  }
  const baseUrl = opts.baseUrl.replace(/\/+$/, "");
  const name = `openai-compatible:${baseUrl}`;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const fetchImpl = opts.fetchImpl ?? fetch;

  /** One HTTP exchange with timeout + caller abort covering headers AND body. */
  async function exchange(
    path: string,
    init: { method: "GET" | "POST"; body?: unknown },
    signal: AbortSignal | undefined,
  ): Promise<{ status: number; bodyText: string }> {
    throwIfAborted(signal, name);
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort(new Error(`timeout after ${timeoutMs} ms`));
    }, timeoutMs);
    const onAbort = () => ctl.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const headers: Record<string, string> = { accept: "application/json" };
    if (init.body !== undefined) headers["content-type"] = "application/json";
    if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;
    const url = `${baseUrl}${path}`;
    try {
      const res = await fetchImpl(url, {
        method: init.method,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: ctl.signal,
      });
      const bodyText = await res.text();
      return { status: res.status, bodyText };
    } catch (err) {
      if (timedOut) {
        throw new EngineError("engine_timeout", `${init.method} ${url} got no complete answer within ${timeoutMs} ms`, { engine: name }, {
          cause: err,
        });
      }
      if (signal?.aborted) {
        throw new EngineError("engine_aborted", `${init.method} ${url} aborted by the caller`, { engine: name }, { cause: err });
      }
      const code = causeCode(err);
      throw new EngineError(
        "engine_unavailable",
        `cannot reach the engine at ${url}${code ? ` (${code})` : ""}: is the server running and is baseUrl right (it must include /v1)?`,
        { engine: name },
        { cause: err },
      );
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  function httpError(method: string, path: string, status: number, bodyText: string, model?: string): EngineError {
    const serverMessage = serverMessageOf(bodyText);
    const where = `${method} ${baseUrl}${path} answered HTTP ${status}: ${serverMessage}`;
    const details = { engine: name, status, serverMessage };
    if (status === 404 && model !== undefined) {
      return new EngineError("model_not_served", `model "${model}" is not served by ${baseUrl} (${where})`, details);
    }
    if (status === 401 || status === 403) {
      return new EngineError("engine_unavailable", `${where}; check the engine apiKey`, details);
    }
    if (status === 429 || status >= 500) {
      return new EngineError("engine_unavailable", where, details);
    }
    if (status === 404) {
      return new EngineError("engine_unavailable", `${where}; does baseUrl include the /v1 segment?`, details);
    }
    return new EngineError("engine_rejected", where, details);
  }

  function parseJson(method: string, path: string, bodyText: string): unknown {
    try {
      return JSON.parse(bodyText);
    } catch (err) {
      throw new EngineError(
        "engine_bad_response",
        `${method} ${baseUrl}${path} did not answer JSON: "${excerpt(bodyText, 80)}"`,
        { engine: name },
        { cause: err },
      );
    }
  }

  return {
    name,

    async models(): Promise<string[]> {
      const path = "/models";
      const { status, bodyText } = await exchange(path, { method: "GET" }, undefined);
      if (status < 200 || status > 299) throw httpError("GET", path, status, bodyText);
      const parsed = ModelList.safeParse(parseJson("GET", path, bodyText));
      if (!parsed.success) {
        throw new EngineError(
          "engine_bad_response",
          `GET ${baseUrl}${path} is not an OpenAI model list ({data:[{id}]}): ${describeIssues(parsed.error)}`,
          { engine: name },
        );
      }
      return parsed.data.data.map((m) => m.id);
    },

    async generate(req: EngineRequest): Promise<EngineResult> {
      assertValidEngineRequest(req, name);
      const path = "/chat/completions";
      const body: Record<string, unknown> = {
        model: req.model,
        messages: req.messages.map((m) => ({
          role: m.role,
          content: m.content,
          ...(m.toolCalls?.length ? { tool_calls: m.toolCalls } : {}),
          ...(m.toolCallId !== undefined ? { tool_call_id: m.toolCallId } : {}),
        })),
        max_tokens: req.maxTokens,
        stream: false,
      };
      // Passed through as OpenAI names them; a server that cannot honour one answers 4xx (engine_rejected).
      if (req.temperature !== undefined) body.temperature = req.temperature;
      if (req.topP !== undefined) body.top_p = req.topP;
      if (req.seed !== undefined) body.seed = req.seed;
      if (req.stop !== undefined) body.stop = req.stop;
      if (req.responseFormat !== undefined) body.response_format = req.responseFormat;
      if (req.tools !== undefined) body.tools = req.tools;
      if (req.toolChoice !== undefined) body.tool_choice = req.toolChoice;
      const { status, bodyText } = await exchange(path, { method: "POST", body }, req.signal);
      if (status < 200 || status > 299) throw httpError("POST", path, status, bodyText, req.model);

      const parsed = ChatCompletion.safeParse(parseJson("POST", path, bodyText));
      if (!parsed.success) {
        throw new EngineError(
          "engine_bad_response",
          `POST ${baseUrl}${path} is not an OpenAI chat completion: ${describeIssues(parsed.error)}`,
          { engine: name },
        );
      }
      const { choices, usage: rawUsage } = parsed.data;
      if (rawUsage === undefined || rawUsage === null) {
        throw new EngineError(
          "engine_bad_response",
          `POST ${baseUrl}${path} answered without a "usage" object (usage.prompt_tokens and usage.completion_tokens are required: ` +
            `Cocoon bills from the engine's own token counts and never estimates them)`,
          { engine: name },
        );
      }
      const usage = UsageShape.safeParse(rawUsage);
      if (!usage.success) {
        throw new EngineError(
          "engine_bad_response",
          `POST ${baseUrl}${path} answered an unusable "usage" object: ${describeIssues(usage.error, "usage.")}`,
          { engine: name },
        );
      }
      const { prompt_tokens: promptTokens, completion_tokens: completionTokens } = usage.data;
      if (completionTokens > req.maxTokens) {
        throw new EngineError(
          "engine_bad_response",
          `POST ${baseUrl}${path} reported usage.completion_tokens = ${completionTokens}, more than max_tokens = ${req.maxTokens}`,
          { engine: name },
        );
      }

      const choice = choices[0]!;
      const reason = choice.finish_reason;
      let finishReason: "stop" | "length";
      if (reason === null || reason === undefined) {
        // Some servers leave it out; with exact usage in hand the cut-off is a fact, not a guess.
        finishReason = completionTokens >= req.maxTokens ? "length" : "stop";
      } else if (LENGTH_REASONS.has(reason)) {
        finishReason = "length";
      } else if (STOP_REASONS.has(reason)) {
        finishReason = "stop";
      } else {
        throw new EngineError("engine_bad_response", `POST ${baseUrl}${path} answered an unknown finish_reason "${excerpt(reason, 40)}"`, {
          engine: name,
        });
      }
      throwIfAborted(req.signal, name);
      const toolCalls = (choice.message.tool_calls ?? []).map((c) => ({ id: c.id, type: "function" as const, function: { name: c.function.name, arguments: c.function.arguments } }));
      return {
        text: choice.message.content ?? "",
        usage: { promptTokens, completionTokens },
        finishReason,
        ...(toolCalls.length ? { toolCalls } : {}),
        engine: name,
      };
    },
  };
}
