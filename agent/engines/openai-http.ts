import { z } from "zod";
import { passableExtra } from "../../events/engine-extra";
import {
  assertValidCompletionRequest,
  assertValidEngineRequest,
  type Engine,
  type EngineCapabilities,
  type EngineCompletionRequest,
  type EngineEmbedRequest,
  type EngineEmbedResult,
  EngineError,
  type EngineRequest,
  type EngineResult,
  type EngineSampling,
  type EngineTokenLogprob,
  type EngineStreamEvent,
  type EngineToolCall,
  throwIfAborted,
} from "./engine";

/**
 * Adapter for any OpenAI-compatible server (vLLM, llama.cpp server, Ollama's /v1):
 *   models()           → GET  {baseUrl}/models
 *   health()           → GET  {baseUrl without /v1}/health (llama-server, vLLM, SGLang, TGI), short
 *                         timeout; where that route is missing (404: Ollama, LM Studio) GET {baseUrl}/models;
 *                         with an apiKey also GET {baseUrl}/models and /props, to check the key is taken
 *   generate()/stream() → POST {baseUrl}/chat/completions (tools, tool_choice, stop, seed, top_p
 *                         and response_format passed through; tool_calls returned; the stream
 *                         asks for usage with stream_options.include_usage)
 *   complete()/streamCompletion() → POST {baseUrl}/completions
 *   embed()            → POST {baseUrl}/embeddings (float vectors)
 * Token usage is taken from the server's `usage` object and never estimated: a server
 * that omits it fails with 'engine_bad_response', because the requester is billed from it.
 * Each requester's prompts stay in a prompt-cache scope of their own: vLLM's (and recent
 * SGLang's) `cache_salt`; on llama-server, a slot per job (`id_slot`) whose cached prompt is
 * reused (`cache_prompt`) only by the requester who left it (slotsFromProps).
 */

export interface OpenAiEngineOptions {
  /** The API root including the version segment, e.g. "http://127.0.0.1:8000/v1" (vLLM), "http://127.0.0.1:11434/v1" (Ollama). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string;
  /** Whole-request timeout (headers and body), default 120 s; for a stream, the longest wait for its head or its next event. */
  timeoutMs?: number;
  /** health()'s own timeout, default 5 s: a probe of a hung engine must not wait as long as a job does. */
  healthTimeoutMs?: number;
  fetchImpl?: typeof fetch;
  /**
   * What the server can do, as advertised to requesters (cocoon serve refuses what a model
   * cannot do). A generic server cannot tell, so the default says chat, completions, streaming,
   * tools and JSON schema (vLLM, llama.cpp server and Ollama have them; a model that cannot
   * answers 4xx, which reaches the requester as a refusal) and no embeddings; the context
   * length comes from the model list when the server reports it (vLLM's max_model_len).
   * Log probabilities are off unless set here (the agent's `--engine-logprobs on`): a server
   * that ignores `logprobs` would otherwise fail every job that asks for them.
   */
  capabilities?: Partial<EngineCapabilities>;
  /**
   * Where `capabilities.vision` is not set: ask the server's GET /props (beside /v1, as /health)
   * whether it reads images. llama-server started with a multimodal projector (--mmproj) answers
   * `"modalities": {"vision": true}`; a server without that route (vLLM, Ollama) or without that
   * field (an older llama-server) is taken as not reading them. Read once; a failed read is
   * taken as no and asked again once `propsRetryMs` (default 60 s) passed: capabilities() is
   * asked on jobs with tools or log probabilities too, which must not each wait on a hung /props.
   */
  visionFromProps?: boolean;
  propsRetryMs?: number;
  /**
   * Keep each requester's prompts in llama-server slots of their own (the agent's default,
   * agent/cli.ts; off here, so a stand-in server that answers any route is not asked /props).
   * llama-server ignores `cache_salt`: it gives a job the idle slot whose cached prompt shares the
   * longest prefix with it and reuses that prefix (or its host-memory prompt cache's best match),
   * so a requester could time whether a guess at another's prompt is cached. Where GET /props
   * (beside /v1) says `total_slots`, every job is pinned to one slot (`id_slot`), one job a slot
   * at a time (more wait here for a free one), and sent with `cache_prompt: true` only where that
   * slot last held the same requester's prompt (`cacheScope`); otherwise `cache_prompt: false`
   * makes the server evaluate the whole prompt, reusing nothing. A server without that answer
   * (vLLM, Ollama, SGLang, TGI: 404) is sent neither field. Read once, before the first job; a
   * read that gets no answer fails that job (engine_unavailable) and is asked again by the next.
   */
  slotsFromProps?: boolean;
}

/** The part of llama-server's GET /props read here. */
const Props = z.object({ modalities: z.object({ vision: z.boolean().optional() }).loose().nullish() }).loose();

/** llama-server's slot count in GET /props (its --parallel); a server without it is not pinned. */
export const SlotProps = z.object({ total_slots: z.number().int().min(1).max(4096) }).loose();

/** One job's hold on a llama-server slot: which slot, whether it may reuse the slot's cached prompt, and its end. */
export interface SlotLease {
  slot: number;
  /** true only where the slot last held this job's own cache scope */
  cachePrompt: boolean;
  /**
   * ok: the server ran the job on the slot (it answered, or streamed part of an answer), so the slot
   * holds its scope's prompt. Otherwise the slot's content is unknown, unless it held this scope's
   * before: a job the server did not run there left it as it was.
   */
  release(ok: boolean): void;
}

export interface SlotPool {
  /** A free slot for a job of `scope` (undefined: its own, shared with no one); waits in turn while none is free. */
  acquire(scope: string | undefined, signal: AbortSignal | undefined, engine: string): Promise<SlotLease>;
  /**
   * Every slot's content unknown from now, and that of jobs in flight when they end: a request
   * the server placed itself (an embedding, which takes no slot of ours) may have written any idle slot.
   */
  forget(): void;
  /**
   * The server now has `count` slots (read again after it was seen down: it may be another
   * process): forget(), and from now on only slots below `count` are handed out (jobs waiting
   * take any free one at once). A slot above it still held is never handed out again (the server
   * would take its id modulo its count).
   */
  resize(count: number): void;
}

/**
 * The agent's record of a llama-server's `count` slots: which are in use, and whose prompt each
 * last held (unknown at first: the server may have served others before the agent started; and
 * after a job the server may not have run, on a slot that held someone else's). A job takes a
 * free slot that holds its own scope (the latest), else the free slot longest unused (another
 * requester's cache there is the stalest); it may reuse the cache only in the first case. No two
 * jobs hold one slot: a job with none free waits, in arrival order (the server could not run it
 * sooner: it has no other slot). Sound only while the agent is the server's one client.
 */
export function createSlotPool(count: number): SlotPool {
  const holds: Array<string | undefined> = Array.from({ length: count }, () => undefined);
  const busy: boolean[] = Array.from({ length: count }, () => false);
  const usedAt: number[] = Array.from({ length: count }, () => 0);
  let clock = 0;
  let epoch = 0;
  /** slots below this are handed out (resize) */
  let live = count;
  const waiting: Array<{ scope: string | undefined; grant: (lease: SlotLease) => void }> = [];

  function pick(scope: string | undefined): number | undefined {
    let own: number | undefined;
    let stalest: number | undefined;
    for (let i = 0; i < live; i++) {
      if (busy[i]) continue;
      if (scope !== undefined && holds[i] === scope && (own === undefined || usedAt[i]! > usedAt[own]!)) own = i;
      if (stalest === undefined || usedAt[i]! < usedAt[stalest]!) stalest = i;
    }
    return own ?? stalest;
  }

  /**
   * A job still out on a slot at or above `live` (resize): the server runs it on the slot its id
   * modulo the server's count names, one of ours, so while it is out no slot's content is known.
   */
  const retiredOut = () => busy.slice(live).some(Boolean);

  function lease(slot: number, scope: string | undefined): SlotLease {
    // (while a job is out on a slot above `live` nothing is recorded, so holds names no scope then)
    const cachePrompt = scope !== undefined && holds[slot] === scope;
    busy[slot] = true;
    // Unknown until the job ends: one the server did not run there left the slot's old prompt.
    holds[slot] = undefined;
    usedAt[slot] = ++clock;
    const from = epoch;
    let released = false;
    return {
      slot,
      cachePrompt,
      release(ok) {
        if (released) return;
        released = true;
        busy[slot] = false;
        if ((ok || cachePrompt) && scope !== undefined && epoch === from && !retiredOut()) holds[slot] = scope;
        grantWaiting();
      },
    };
  }

  function grantWaiting() {
    while (waiting.length > 0) {
      const free = pick(waiting[0]!.scope);
      if (free === undefined) return;
      const next = waiting.shift()!;
      next.grant(lease(free, next.scope));
    }
  }

  function forget() {
    epoch++;
    holds.fill(undefined);
  }

  return {
    acquire(scope, signal, engine) {
      throwIfAborted(signal, engine);
      const free = waiting.length === 0 ? pick(scope) : undefined;
      if (free !== undefined) return Promise.resolve(lease(free, scope));
      return new Promise<SlotLease>((resolve, reject) => {
        const entry = {
          scope,
          grant: (l: SlotLease) => {
            signal?.removeEventListener("abort", onAbort);
            resolve(l);
          },
        };
        const onAbort = () => {
          waiting.splice(waiting.indexOf(entry), 1);
          reject(new EngineError("engine_aborted", "generation aborted by the caller while it waited for a free slot", { engine }));
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        waiting.push(entry);
      });
    },
    forget,
    resize(n) {
      forget();
      for (let i = holds.length; i < n; i++) {
        holds.push(undefined);
        busy.push(false);
        usedAt.push(0);
      }
      live = n;
      grantWaiting(); // a larger count frees slots now: jobs queued meanwhile take them, not the next release
    },
  };
}

const ModelList = z.object({
  // Ollama with no model pulled answers {"object":"list","data":null}: read as no models (cli.ts says to pull one).
  data: z
    .array(
      z
        .object({
          id: z.string().min(1),
          max_model_len: z.number().int().positive().optional(),
          context_length: z.number().int().positive().optional(),
        })
        .loose(),
    )
    .nullable(),
});

const TextCompletion = z.object({
  choices: z
    .array(z.object({ text: z.string().nullable().optional(), finish_reason: z.string().nullable().optional() }).loose())
    .min(1, "choices is empty"),
  usage: z.unknown().optional(),
});

const Embeddings = z.object({
  data: z.array(z.object({ index: z.number().int().nonnegative(), embedding: z.array(z.number()) }).loose()),
  usage: z.object({ prompt_tokens: z.number().int().nonnegative() }).loose().optional(),
});

/** vLLM's POST /tokenize answer: `count` is the prompt's tokens (also `tokens`, `max_model_len`). */
const VllmTokenized = z.object({ count: z.number().int().nonnegative() }).loose();
/** llama-server's POST /tokenize answer: the ids (or {id, piece} with with_pieces); it has no `count`. */
const LlamaTokenized = z.object({ tokens: z.array(z.unknown()) }).loose();
/** llama-server's POST /apply-template answer: the prompt a chat request renders to, as text. */
const AppliedTemplate = z.object({ prompt: z.string() }).loose();

/**
 * Request fields that change the rendered prompt in a way the tokenizer routes are not known to
 * apply (vLLM passes reasoning_effort to a chat template that /tokenize is not given): a request
 * with one is not counted by them (countPromptTokens answers undefined; the agent asks the request again).
 */
const UNCOUNTABLE_EXTRA = ["reasoning_effort"];

/** One event of an OpenAI stream (chat or text completion); only what the adapter reads is checked. */
/** OpenAI's `choices[].logprobs` of a chat answer or stream chunk: the tokens with their log probabilities. */
const TokenLogprobShape = z
  .object({ token: z.string(), logprob: z.number(), bytes: z.array(z.number().int()).nullable().optional() })
  .loose();
const LogprobsShape = z
  .object({
    content: z
      .array(TokenLogprobShape.extend({ top_logprobs: z.array(TokenLogprobShape).optional() }))
      .nullable()
      .optional(),
  })
  .loose()
  .nullable()
  .optional();

const logprobsOf = (l: z.infer<typeof LogprobsShape>): EngineTokenLogprob[] =>
  (l?.content ?? []).map((t) => ({
    token: t.token,
    logprob: t.logprob,
    ...(t.bytes !== undefined ? { bytes: t.bytes } : {}),
    ...(t.top_logprobs
      ? {
          topLogprobs: t.top_logprobs.map((a) => ({
            token: a.token,
            logprob: a.logprob,
            ...(a.bytes !== undefined ? { bytes: a.bytes } : {}),
          })),
        }
      : {}),
  }));

/**
 * The model's thinking, apart from its answer: llama-server, vLLM and SGLang with a reasoning
 * parser send it as `reasoning_content` (DeepSeek's name), Ollama's /v1 and newer vLLM as
 * `reasoning`. Its tokens count in usage.completion_tokens: dropped, a thinking model's job came
 * back empty (often cut at max_tokens mid-thought) and billed for every token.
 */
const ReasoningFields = {
  reasoning_content: z.string().nullable().optional(),
  reasoning: z.string().nullable().optional(),
};

/** A message's or delta's thinking; one name only, for servers that send both (vLLM while it renames the field). */
const reasoningOf = (m: { reasoning_content?: string | null | undefined; reasoning?: string | null | undefined } | undefined) =>
  m?.reasoning_content || m?.reasoning || "";

const StreamChunk = z
  .object({
    choices: z
      .array(
        z
          .object({
            index: z.number().int().optional(),
            text: z.string().nullable().optional(),
            delta: z
              .object({
                content: z.string().nullable().optional(),
                ...ReasoningFields,
                tool_calls: z
                  .array(
                    z
                      .object({
                        index: z.number().int().nonnegative(),
                        // nullish: some servers (SGLang) send null for what a continuation delta leaves out
                        id: z.string().nullish(),
                        type: z.string().nullish(),
                        function: z.object({ name: z.string().nullish(), arguments: z.string().nullish() }).loose().nullish(),
                      })
                      .loose(),
                  )
                  .nullable()
                  .optional(),
              })
              .loose()
              .optional(),
            finish_reason: z.string().nullable().optional(),
            logprobs: LogprobsShape,
          })
          .loose(),
      )
      .optional(),
    usage: z.unknown().optional(),
    error: z.unknown().optional(),
    object: z.unknown().optional(),
  })
  .loose();

const DEFAULT_CAPABILITIES: EngineCapabilities = {
  chat: true,
  completions: true,
  embeddings: false,
  streaming: true,
  tools: true,
  jsonSchema: true,
};

const ChatCompletion = z.object({
  choices: z
    .array(
      z
        .object({
          message: z
            .object({
              content: z.string().nullable().optional(),
              ...ReasoningFields,
              tool_calls: z
                .array(
                  z
                    .object({
                      id: z.string(),
                      type: z.literal("function"),
                      function: z.object({ name: z.string(), arguments: z.string() }),
                    })
                    .loose(),
                )
                .nullable()
                .optional(),
            })
            .loose(),
          finish_reason: z.string().nullable().optional(),
          logprobs: LogprobsShape,
        })
        .loose(),
    )
    .min(1, "choices is empty"),
  usage: z.unknown().optional(),
});

const UsageShape = z.object({
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
  // Read on its own (reasoningTokensOf): information only, so a server's odd detail never fails a job.
  completion_tokens_details: z.unknown().optional(),
});

/**
 * How many of the completion tokens were thinking, as OpenAI-shaped servers report it
 * (usage.completion_tokens_details.reasoning_tokens: OpenAI, DeepSeek, vLLM and SGLang with a
 * reasoning parser). Information only, never billed: a detail that is missing, null, not a
 * non-negative integer, or above completion_tokens (thinking is part of the completion) is left
 * out rather than trusted or clamped. Where the server does not report it, the adapter does not
 * count it either: streamed reasoning deltas are not one token each (servers join tokens into a
 * delta and hold back partial characters), so their number would be a lower bound passed off as
 * the count.
 */
const ReasoningDetail = z.object({ reasoning_tokens: z.number().int().nonnegative() });
function reasoningTokensOf(details: unknown, completionTokens: number): number | undefined {
  const d = ReasoningDetail.safeParse(details);
  return d.success && d.data.reasoning_tokens <= completionTokens ? d.data.reasoning_tokens : undefined;
}

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
    const body: unknown = JSON.parse(bodyText);
    const parsed = ServerError.safeParse(body);
    if (parsed.success) {
      const e = parsed.data.error;
      if (typeof e === "string") return e;
      if (e.message) return e.message;
    }
    // Older vLLM answers a flat {"object": "error", "message": …, "code": …}.
    const flat = body as { object?: unknown; message?: unknown } | null;
    if (flat?.object === "error" && typeof flat.message === "string") return flat.message;
  } catch {
    // not JSON: fall through to the raw excerpt
  }
  return excerpt(bodyText);
}

/**
 * An HTTP error status as a failure code (a 404 for a named model is model_not_served, decided by
 * the caller): the engine's key refused (401, 403), its path wrong (404) or its load (429, 5xx) is
 * engine_unavailable, which marks the engine down; any other status is this request's fault.
 */
function codeOfStatus(status: number): "engine_unavailable" | "engine_rejected" {
  return status === 401 || status === 403 || status === 404 || status === 429 || status >= 500 ? "engine_unavailable" : "engine_rejected";
}

function causeCode(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause;
  return typeof cause?.code === "string" ? cause.code : undefined;
}

/**
 * What went wrong when a request to `url` got no HTTP answer at all, said of the host and port
 * it went to: no path was looked at (a wrong path is an HTTP 404, which httpError reads), so
 * this never blames the URL's /v1.
 */
export function unreachableWhy(url: string, code: string | undefined): string {
  let host = url;
  let hostname = url;
  try {
    ({ host, hostname } = new URL(url));
  } catch {
    // the URL was checked when configured; a malformed one is shown as it is
  }
  const shown = code ? ` (${code})` : "";
  if (code === "ECONNREFUSED") return `nothing is listening on ${host} (ECONNREFUSED): is the server running, on that port?`;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `the host name ${hostname} does not resolve${shown}`;
  if (code && /^(ETIMEDOUT|UND_ERR_CONNECT_TIMEOUT|EHOSTUNREACH|ENETUNREACH|EHOSTDOWN)$/.test(code))
    return `${host} did not accept a connection${shown}: is the address right, and open to this machine (a firewall)?`;
  if (code && /^(ECONNRESET|EPIPE|UND_ERR_SOCKET|UND_ERR_CLOSED)$/.test(code))
    return `${host} closed the connection before answering${shown}: is it an HTTP server, and does the URL say http or https as it expects?`;
  if (code?.startsWith("HPE_")) return `${host} did not answer HTTP${shown}: is this the server's HTTP port?`;
  if (code && /SSL|TLS|CERT|EPROTO|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code))
    return `TLS to ${host} failed${shown}: https to a plain-http server, or a certificate this machine does not trust?`;
  return `the connection to ${host} failed${shown}: is the server running, and is the engine URL (--engine-url, engineUrl) right?`;
}

/**
 * Fields of a requester's `extra` the adapter sends: the network's allow-list only
 * (events/engine-extra.ts; review41). The schema the agent parses a job with refuses any other
 * name already (bad_request); this is the same rule where the body is built, for a caller that
 * did not parse it. None of them is a field the adapter sets itself, and those the job's limits,
 * its bill and the answer's shape depend on are not on it: model, messages, prompt, stream,
 * max_tokens, llama.cpp's n_predict (read before max_tokens), n, n_cmpl and best_of (more
 * generations than were paid for), logprobs and n_probs (behind the capability check), tools,
 * response_format and the sampling the request names, and the server's prompt cache and slots,
 * which are every requester's (cache_salt, id_slot, slot_id, cache_prompt: session 31 privacy
 * review). Nor what makes an engine compute more than it bills: chat_template, grammar,
 * json_schema, guided_* and structured_outputs, prompt_logprobs, lora.
 */
/** The request fields shared by chat and text completion, under OpenAI's names. */
function samplingFields(req: EngineSampling): Record<string, unknown> {
  // The requester's other allowed fields first (frequency_penalty, logit_bias, top_k…), as sent:
  // the server decides; a server that cannot honour one answers 4xx (engine_rejected).
  const body: Record<string, unknown> = { ...passableExtra(req.extra), model: req.model, max_tokens: req.maxTokens };
  // Passed through as OpenAI names them; a server that cannot honour one answers 4xx (engine_rejected).
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.topP !== undefined) body.top_p = req.topP;
  if (req.seed !== undefined) body.seed = req.seed;
  if (req.stop !== undefined) body.stop = req.stop;
  if (req.user !== undefined) body.user = req.user;
  return body;
}

function chatBody(req: EngineRequest, stream: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {
    ...samplingFields(req),
    messages: req.messages.map((m) => ({
      role: m.role,
      content: m.content,
      ...(m.name !== undefined ? { name: m.name } : {}),
      ...(m.toolCalls?.length ? { tool_calls: m.toolCalls } : {}),
      ...(m.toolCallId !== undefined ? { tool_call_id: m.toolCallId } : {}),
    })),
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
  };
  if (req.responseFormat !== undefined) body.response_format = req.responseFormat;
  if (req.tools !== undefined) body.tools = req.tools;
  // vLLM refuses a tool_choice without tools (400), so a requester's stray one would fail the job
  if (req.toolChoice !== undefined && req.tools?.length) body.tool_choice = req.toolChoice;
  if (req.parallelToolCalls !== undefined && req.tools?.length) body.parallel_tool_calls = req.parallelToolCalls;
  // Asked only where the engine's capabilities say logprobs (agent/execute.ts refuses otherwise).
  if (req.logprobs) body.logprobs = true;
  if (req.logprobs && req.topLogprobs !== undefined) body.top_logprobs = req.topLogprobs;
  return body;
}

/**
 * What of a chat request makes its prompt (countPromptTokens): the messages as chatBody sends
 * them, the tools with their choice, and the template's own arguments (chat_template_kwargs:
 * enable_thinking); no sampling, which the tokenizer routes do not read. vLLM's /tokenize and
 * llama-server's /apply-template render it with the chat template the chat route uses, and add
 * the generation prompt as it does.
 */
function templateBody(req: EngineRequest): Record<string, unknown> {
  const chat = chatBody(req, false);
  const kwargs = passableExtra(req.extra).chat_template_kwargs;
  return {
    model: chat.model,
    messages: chat.messages,
    ...(kwargs !== undefined ? { chat_template_kwargs: kwargs } : {}),
    ...Object.fromEntries(Object.entries(chat).filter(([k]) => k === "tools" || k === "tool_choice" || k === "parallel_tool_calls")),
  };
}

function completionBody(req: EngineCompletionRequest, stream: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {
    ...samplingFields(req),
    prompt: req.prompt,
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
  };
  if (req.responseFormat !== undefined) body.response_format = req.responseFormat;
  return body;
}

/** A JSON body with an `error` field: a server's "no such route" dressed as a 200 (LM Studio). */
function hasErrorField(bodyText: string): boolean {
  const body = jsonOrText(bodyText);
  return typeof body === "object" && body !== null && "error" in body;
}

function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Splits an SSE byte stream into the data of its events. */
async function* sseData(body: ReadableStream<Uint8Array>, onChunk: () => void): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      onChunk();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      for (let end = buffer.search(/\r?\n\r?\n/); end >= 0; end = buffer.search(/\r?\n\r?\n/)) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
        const lines = block.split(/\r?\n/);
        const data = lines
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).replace(/^ /, ""))
          .join("\n");
        // llama-server streams an error as an `error: {...}` field, not as data.
        const error = lines.find((l) => l.startsWith("error:"));
        if (data) yield data;
        else if (error !== undefined) yield JSON.stringify({ error: jsonOrText(error.slice(6).trim()) });
      }
    }
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => {});
  }
}

/**
 * An HTTP 404 for a route of the API (GET /models at start, or a POST without the model named)
 * under an engine URL that does not end in a version segment (/v1): the URL lacks the server's
 * API root (http://host:8000 for http://host:8000/v1). Its code stays engine_unavailable (what a
 * running agent makes of it is unchanged); `cocoon-agent start` refuses it as a settings error
 * rather than waiting for the engine forever. A URL that ends in /v1 (a proxy's
 * http://host/llm/v1 included) is never this error.
 */
export class EngineUrlError extends EngineError {
  constructor(
    message: string,
    /** the engine URL with /v1 appended: what the owner most likely meant */
    readonly suggestedUrl: string,
    details: EngineError["details"],
  ) {
    super("engine_unavailable", message, details);
  }
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
  const defaultTimeoutMs = opts.timeoutMs ?? 120_000;
  const fetchImpl = opts.fetchImpl ?? fetch;
  const healthTimeoutMs = opts.healthTimeoutMs ?? 5_000;
  /**
   * llama-server, vLLM, SGLang and TGI serve /health beside /v1, not under it (at the origin for
   * the usual http://host:port/v1; under the prefix for a proxy's http://host/llm/v1).
   */
  const healthUrl = `${baseUrl.replace(/\/v1$/, "")}/health`;
  const propsUrl = `${baseUrl.replace(/\/v1$/, "")}/props`;

  /**
   * One HTTP exchange with timeout + caller abort covering headers AND body; `at` overrides the
   * URL (health) and the timeout (probes).
   */
  async function exchange(
    path: string,
    init: { method: "GET" | "POST"; body?: unknown },
    signal: AbortSignal | undefined,
    at: { url?: string; timeoutMs?: number } = {},
  ): Promise<{ status: number; bodyText: string }> {
    const timeoutMs = at.timeoutMs ?? defaultTimeoutMs;
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
    const url = at.url ?? `${baseUrl}${path}`;
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
        throw new EngineError(
          "engine_timeout",
          `${init.method} ${url} got no complete answer within ${timeoutMs} ms`,
          { engine: name },
          {
            cause: err,
          },
        );
      }
      if (signal?.aborted) {
        throw new EngineError("engine_aborted", `${init.method} ${url} aborted by the caller`, { engine: name }, { cause: err });
      }
      throw new EngineError(
        "engine_unavailable",
        `cannot reach the engine at ${url}: ${unreachableWhy(url, causeCode(err))}`,
        { engine: name },
        {
          cause: err,
        },
      );
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * A streamed POST: the data of each SSE event as it arrives. The timeout bounds the wait for
   * the head and for each next event (a long generation is fine, a stalled one is not).
   */
  async function* streamExchange(
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
    model: string,
  ): AsyncGenerator<{ data: string } | { whole: string }> {
    throwIfAborted(signal, name);
    const timeoutMs = defaultTimeoutMs;
    const ctl = new AbortController();
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        ctl.abort(new Error(`timeout after ${timeoutMs} ms`));
      }, timeoutMs);
    };
    const onAbort = () => ctl.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const headers: Record<string, string> = { accept: "text/event-stream", "content-type": "application/json" };
    if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;
    const url = `${baseUrl}${path}`;
    const failed = (err: unknown): EngineError => {
      if (err instanceof EngineError) return err;
      if (timedOut)
        return new EngineError("engine_timeout", `POST ${url} sent nothing for ${timeoutMs} ms`, { engine: name }, { cause: err });
      if (signal?.aborted) return new EngineError("engine_aborted", `POST ${url} aborted by the caller`, { engine: name }, { cause: err });
      return new EngineError(
        "engine_unavailable",
        `cannot reach the engine at ${url}: ${unreachableWhy(url, causeCode(err))}`,
        { engine: name },
        {
          cause: err,
        },
      );
    };
    arm();
    try {
      let res: Response;
      try {
        res = await fetchImpl(url, { method: "POST", headers, body: JSON.stringify(body), signal: ctl.signal });
      } catch (err) {
        throw failed(err);
      }
      if (res.status < 200 || res.status > 299) throw httpError("POST", path, res.status, await res.text().catch(() => ""), model);
      if (!res.body) throw new EngineError("engine_bad_response", `POST ${url} answered without a body`, { engine: name });
      try {
        // A server (or a proxy in front of it) that ignores `stream: true` answers whole.
        if (/^application\/json\b/i.test(res.headers.get("content-type") ?? "")) yield { whole: await res.text() };
        else for await (const data of sseData(res.body, arm)) yield { data };
      } catch (err) {
        throw failed(err);
      }
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (!ctl.signal.aborted) ctl.abort(new Error("stream closed"));
    }
  }

  function httpError(method: string, path: string, status: number, bodyText: string, model?: string): EngineError {
    const serverMessage = serverMessageOf(bodyText);
    const said = `${method} ${baseUrl}${path} answered HTTP ${status}`;
    const where = `${said}: ${serverMessage}`;
    // The owner's hint goes before the server's own words, which can be a whole HTML page (200
    // characters of it are kept): the agent's log cuts a field at 300 (agent/log.ts), and cut the
    // hint off the "engine not answering yet" lines of a wrong engine URL (session 38).
    const hinted = (hint: string) => `${said}; ${hint}; the server said: ${serverMessage}`;
    const details = { engine: name, status, serverMessage };
    // A 404 that names the model is the server's "no such model" (vLLM, Ollama, OpenAI); one that
    // does not is a route the server lacks, most often a baseUrl without its /v1 segment.
    if (status === 404 && model !== undefined && serverMessage.includes(model)) {
      return new EngineError("model_not_served", `model "${model}" is not served by ${baseUrl} (${where})`, details);
    }
    // No /v1 (or other version) at the end of the URL, and the server has no such route: the
    // owner's engine URL is missing its API root, which no wait or restart mends (EngineUrlError).
    if (status === 404 && !/\/v\d+$/.test(baseUrl))
      return new EngineUrlError(
        hinted(
          `does the engine URL (--engine-url, engineUrl) include the /v1 segment? OpenAI-compatible servers (vLLM, llama-server, Ollama) serve their API under /v1: try --engine-url ${baseUrl}/v1`,
        ),
        `${baseUrl}/v1`,
        details,
      );
    const hint =
      status === 401 || status === 403
        ? "check the engine's API key (--engine-key, COCOON_ENGINE_KEY)"
        : status === 404
          ? // the route is missing under a URL that has its /v1: the wrong server (or prefix)
            `the server has no ${path} under ${baseUrl}: is it an OpenAI-compatible server (vLLM, llama-server, Ollama), and is the engine URL (--engine-url, engineUrl) its API root?`
          : undefined;
    return new EngineError(codeOfStatus(status), hint ? hinted(hint) : where, details);
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

  /** The answer's JSON checked against the shape the adapter reads (`what` names it); anything else is engine_bad_response. */
  function parseAs<S extends z.ZodType>(schema: S, what: string, method: string, path: string, bodyText: string): z.output<S> {
    const parsed = schema.safeParse(parseJson(method, path, bodyText));
    if (!parsed.success) {
      throw new EngineError("engine_bad_response", `${method} ${baseUrl}${path} is not ${what}: ${describeIssues(parsed.error)}`, {
        engine: name,
      });
    }
    return parsed.data;
  }

  /** GET /models, checked against OpenAI's model list shape (models() and modelList() both read it). */
  async function fetchModels(at: { timeoutMs?: number } = {}): Promise<NonNullable<z.infer<typeof ModelList>["data"]>> {
    const path = "/models";
    const { status, bodyText } = await exchange(path, { method: "GET" }, undefined, at);
    if (status < 200 || status > 299) throw httpError("GET", path, status, bodyText);
    const models = parseAs(ModelList, "an OpenAI model list ({data:[{id}]})", "GET", path, bodyText).data ?? [];
    // llama-server answers GET /v1/models while it still loads its model (every other route
    // answers 503 "Loading model"), with `"meta": null` until the model is ready. Read as up,
    // the agent registered (or came back from engine_down) and failed jobs until the load ended.
    if (models.length > 0 && models.every((m) => "meta" in m && m.meta === null))
      throw new EngineError("engine_unavailable", `GET ${baseUrl}${path}: the server is still loading its model ("meta": null)`, {
        engine: name,
      });
    return models;
  }

  /**
   * Where health() asks: unknown until the first answer; "models" once /health proved missing.
   * GET /v1/models is answered by the HTTP layer even while the engine behind it is hung or dead
   * (vLLM, llama-server), so /health is preferred wherever the server has one.
   */
  let healthRoute: "health" | "models" | undefined;

  /** The engine's own health (see health() below), and with a key, that the engine still takes it; throws EngineError. */
  async function checkHealth(): Promise<void> {
    await serverHealth();
    if (opts.apiKey) await checkKey();
  }

  /**
   * With a key: whether the engine still takes it. vLLM's /health and llama-server's /health and
   * /v1/models need no key, so an owner who changed the engine's --api-key left a worker whose
   * probe said ok and whose every job failed 401. vLLM guards its /v1 routes (the model list);
   * llama-server guards /props. A 401 or 403 from either is a key refusal (isKeyRefusal); any
   * other answer is the health route's business (404: a server without /props).
   */
  async function checkKey(): Promise<void> {
    const urls = healthRoute === "models" ? [propsUrl] : [`${baseUrl}/models`, propsUrl];
    for (const url of urls) {
      const { status, bodyText } = await exchange("", { method: "GET" }, undefined, { url, timeoutMs: healthTimeoutMs });
      if (status !== 401 && status !== 403) continue;
      const serverMessage = serverMessageOf(bodyText);
      throw new EngineError(
        "engine_unavailable",
        `GET ${url} answered HTTP ${status}${serverMessage ? `: ${serverMessage}` : ""}: the engine refuses the agent's key; check the engine's API key (--engine-key, COCOON_ENGINE_KEY)`,
        { engine: name, status, serverMessage },
      );
    }
  }

  /** The server's own health route (GET /health, or its model list where it has none). */
  async function serverHealth(): Promise<void> {
    if (healthRoute !== "models") {
      const { status, bodyText } = await exchange("/health", { method: "GET" }, undefined, {
        url: healthUrl,
        timeoutMs: healthTimeoutMs,
      });
      // LM Studio answers any unknown route 200 {"error":"Unexpected endpoint or method. … Returning 200 anyway"}
      const missing = status === 404 || (status >= 200 && status <= 299 && hasErrorField(bodyText));
      if (!missing || healthRoute === "health") {
        if (status >= 200 && status <= 299) {
          healthRoute = "health";
          return;
        }
        // llama-server 503 "Loading model", vLLM 500/503 once its engine died, TGI 503: not up,
        // whatever the status (a 4xx here is no request of ours at fault).
        const serverMessage = serverMessageOf(bodyText);
        throw new EngineError(
          "engine_unavailable",
          `GET ${healthUrl} answered HTTP ${status}${serverMessage ? `: ${serverMessage}` : ""}: the engine is not ready`,
          { engine: name, status, serverMessage },
        );
      }
      healthRoute = "models"; // no /health on this server (Ollama, LM Studio): its model list is the probe
    }
    await fetchModels({ timeoutMs: healthTimeoutMs });
  }

  /**
   * One non-streamed POST (generate, complete, embed): the body of a 2xx answer; any other
   * status is the engine's HTTP error, with the model for a 404.
   */
  async function post(path: string, body: unknown, req: { model: string; signal?: AbortSignal }): Promise<string> {
    const { status, bodyText } = await exchange(path, { method: "POST", body }, req.signal);
    if (status < 200 || status > 299) throw httpError("POST", path, status, bodyText, req.model);
    return bodyText;
  }

  /**
   * False once the server refused `cache_salt` (a 4xx naming it: vLLM's V0 engine, a server that
   * refuses fields it does not know): it is then left out, and the refused request sent again
   * without it. A server that ignores it keeps one cache for all (docs/security.md, session 31).
   */
  let saltTaken = true;
  const salted = (body: Record<string, unknown>, req: EngineSampling): Record<string, unknown> =>
    saltTaken && req.cacheScope !== undefined ? { ...body, cache_salt: req.cacheScope } : body;
  const saltRefused = (e: unknown, sent: Record<string, unknown>): boolean => {
    if (!("cache_salt" in sent) || !(e instanceof EngineError)) return false;
    const status = e.details?.status;
    return status !== undefined && status >= 400 && status < 500 && /cache_salt/i.test(e.details?.serverMessage ?? "");
  };

  /**
   * llama-server's slots, where slotsFromProps and its GET /props says how many (undefined: a
   * server that does not, which is sent no slot fields). Read once, and again after the server
   * was seen down (seenDown); a read that got no answer (or a status that says the server is not
   * ready) throws and is asked again by the next job.
   */
  let slotPool: Promise<SlotPool | undefined> | undefined;
  /** The pool as read, and whether the next job reads /props again for it (seenDown). */
  let readPool: SlotPool | undefined;
  let recount = false;
  function slotCount(): Promise<number | undefined> {
    return exchange("/props", { method: "GET" }, undefined, { url: propsUrl, timeoutMs: healthTimeoutMs }).then(({ status, bodyText }) => {
      // 404 (vLLM, Ollama, SGLang, TGI) or another refusal of the route: not llama-server, for good.
      // 401/403/429/5xx: llama-server too may answer so (a wrong key, still loading); asked again.
      if (status !== 404 && codeOfStatus(status) === "engine_unavailable") {
        const serverMessage = serverMessageOf(bodyText);
        throw new EngineError(
          "engine_unavailable",
          `GET ${propsUrl} answered HTTP ${status}${serverMessage ? `: ${serverMessage}` : ""}: ` +
            `the agent reads llama-server's slot count there before a job (to keep requesters' prompt caches apart)`,
          { engine: name, status, serverMessage },
        );
      }
      if (status < 200 || status > 299) return undefined;
      return SlotProps.safeParse(jsonOrText(bodyText)).data?.total_slots;
    });
  }
  function slots(): Promise<SlotPool | undefined> {
    if (!opts.slotsFromProps) return Promise.resolve(undefined);
    if (recount && readPool) {
      // the same pool, resized: a slot still held stays held, so no two jobs ever share a slot id
      const pool = readPool;
      recount = false;
      slotPool = slotCount().then(
        (n) => {
          if (n === undefined) return (readPool = undefined); // no longer llama-server: no slot fields
          pool.resize(n);
          return pool;
        },
        (err: unknown) => {
          recount = true; // the next job asks again; meanwhile nothing is known of any slot
          throw err;
        },
      );
    }
    slotPool ??= slotCount()
      .then((n) => (readPool = n === undefined ? undefined : createSlotPool(n)))
      .catch((err: unknown) => {
        slotPool = undefined;
        throw err;
      });
    return slotPool;
  }

  /**
   * The pool is the record of one llama-server process. One that stopped answering may come back
   * restarted with fewer slots, and llama-server takes id_slot modulo its own count
   * (server-context.cpp get_slot_by_id): two of the pool's slots would be one of its, and a job
   * sent cache_prompt for its requester's slot could reuse the prompt another requester just left
   * there. So after no answer at all (a connection refused or cut) or a 503 (llama-server loading
   * its model), of a job or of the health probe, no slot's content is known from then on and the
   * next job reads /props again, resizing the same pool (a second pool would hand out slots the
   * first still holds). A restart between two jobs that nothing saw fail is not caught.
   */
  function seenDown(e: unknown): void {
    const status = e instanceof EngineError && e.code === "engine_unavailable" ? e.details?.status : 0;
    if (status !== undefined && status !== 503) return;
    readPool?.forget();
    recount = true;
  }

  /** A job's hold on a slot of its own, where the server has slots (undefined: it has none). */
  async function slotLease(req: EngineSampling): Promise<SlotLease | undefined> {
    const pool = await slots();
    return pool?.acquire(req.cacheScope, req.signal, name);
  }

  /** The body pinned to the lease's slot, reusing its cached prompt only where the slot last held this requester's. */
  const pinned = (body: Record<string, unknown>, lease: SlotLease | undefined): Record<string, unknown> =>
    lease ? { ...body, id_slot: lease.slot, cache_prompt: lease.cachePrompt } : body;

  /** A job's POST, with the requester's cache scope where the server takes it, on a slot of its own where the server has slots. */
  async function postJob(path: string, unpinned: Record<string, unknown>, req: EngineSampling): Promise<string> {
    const lease = await slotLease(req);
    const body = pinned(unpinned, lease);
    let answered = false;
    try {
      const sent = salted(body, req);
      let bodyText: string;
      try {
        bodyText = await post(path, sent, req);
      } catch (e) {
        if (!saltRefused(e, sent)) throw e;
        saltTaken = false;
        bodyText = await post(path, body, req);
      }
      answered = true;
      return bodyText;
    } catch (e) {
      seenDown(e);
      throw e;
    } finally {
      lease?.release(answered);
    }
  }

  /**
   * A job's stream, with the requester's cache scope where the server takes it (refused before any
   * event: sent again without), on a slot of its own where the server has slots: held until the
   * stream ends, or is left (an abort, a consumer that stopped reading). Once a delta came the
   * server ran the job on the slot, which then holds this requester's prompt even if the stream is
   * cut: a cancelled job's prompt re-count (agent/execute.ts) finds it there.
   */
  async function* streamedJob(path: string, unpinned: Record<string, unknown>, req: EngineSampling): AsyncGenerator<EngineStreamEvent> {
    const lease = await slotLease(req);
    const body = pinned(unpinned, lease);
    let started = false;
    try {
      const sent = salted(body, req);
      try {
        for await (const ev of streamed(path, sent, req)) {
          started = true;
          yield ev;
        }
      } catch (e) {
        if (started || !saltRefused(e, sent)) throw e;
        saltTaken = false;
        for await (const ev of streamed(path, body, req)) {
          started = true;
          yield ev;
        }
      }
    } catch (e) {
      seenDown(e);
      throw e;
    } finally {
      lease?.release(started);
    }
  }

  /**
   * Which tokenizer routes the server has, learnt from its first answer (countPromptTokens): vLLM's
   * POST /tokenize counts a chat's messages itself (`count`); llama-server's ignores them and
   * answers `tokens` of no content, so a chat is rendered by POST /apply-template first; "none": a
   * server without /tokenize (404: Ollama, SGLang, TGI), not asked again.
   */
  let tokenizer: "vllm" | "llama" | "none" | undefined;
  const tokenizeUrl = `${baseUrl.replace(/\/v1$/, "")}/tokenize`;
  const applyTemplateUrl = `${baseUrl.replace(/\/v1$/, "")}/apply-template`;

  /** A POST to a tokenizer route beside /v1, within healthTimeoutMs (it runs no model); undefined: the route is missing. */
  async function tokenizerPost(url: string, body: unknown, signal: AbortSignal | undefined): Promise<unknown> {
    const { status, bodyText } = await exchange(url, { method: "POST", body }, signal, { url, timeoutMs: healthTimeoutMs });
    if (status === 404 || status === 405 || status === 501) return undefined;
    if (status < 200 || status > 299) {
      const serverMessage = serverMessageOf(bodyText);
      throw new EngineError(codeOfStatus(status), `POST ${url} answered HTTP ${status}: ${serverMessage}`, {
        engine: name,
        status,
        serverMessage,
      });
    }
    if (hasErrorField(bodyText)) return undefined; // LM Studio's "no such route", dressed as a 200
    const answer = jsonOrText(bodyText);
    if (typeof answer !== "object" || answer === null)
      throw new EngineError("engine_bad_response", `POST ${url} did not answer JSON: "${excerpt(bodyText, 80)}"`, { engine: name });
    return answer;
  }

  /** llama-server's count of `content` as its completion routes tokenize a prompt (add_special, parse_special). */
  async function llamaTokens(content: string, signal: AbortSignal | undefined): Promise<number> {
    const answer = await tokenizerPost(tokenizeUrl, { content, add_special: true, parse_special: true }, signal);
    const parsed = LlamaTokenized.safeParse(answer);
    if (!parsed.success) throw new EngineError("engine_bad_response", `POST ${tokenizeUrl} answered no token list`, { engine: name });
    return parsed.data.tokens.length;
  }

  async function countPromptTokens(req: EngineRequest | EngineCompletionRequest): Promise<number | undefined> {
    if (tokenizer === "none") return undefined;
    if ("messages" in req) {
      // An image's tokens are the vision encoder's, which neither server's /tokenize counts.
      if (req.messages.some((m) => typeof m.content !== "string" && m.content.some((p) => p.type !== "text"))) return undefined;
      if (UNCOUNTABLE_EXTRA.some((k) => req.extra?.[k] !== undefined)) return undefined;
    }
    const chat = "messages" in req ? templateBody(req) : undefined;
    if (tokenizer !== "llama") {
      // vLLM's shape: a chat's messages (its template applied, add_special_tokens off as in chat),
      // or a completion's prompt (add_special_tokens on, as in completions). Its answer says which server this is.
      const answer = await tokenizerPost(
        tokenizeUrl,
        chat ?? { model: req.model, prompt: (req as EngineCompletionRequest).prompt },
        req.signal,
      );
      if (answer === undefined) {
        tokenizer = "none";
        return undefined;
      }
      const vllm = VllmTokenized.safeParse(answer);
      if (vllm.success) {
        tokenizer = "vllm";
        return vllm.data.count;
      }
      if (!LlamaTokenized.safeParse(answer).success)
        throw new EngineError("engine_bad_response", `POST ${tokenizeUrl} answered neither vLLM's count nor llama-server's tokens`, {
          engine: name,
        });
      tokenizer = "llama"; // it read no `content`: the count of nothing, never taken as the prompt's
    }
    if (!chat) return llamaTokens((req as EngineCompletionRequest).prompt, req.signal);
    const rendered = await tokenizerPost(applyTemplateUrl, chat, req.signal);
    if (rendered === undefined) return undefined; // an older llama-server: no /apply-template
    const applied = AppliedTemplate.safeParse(rendered);
    if (!applied.success) throw new EngineError("engine_bad_response", `POST ${applyTemplateUrl} answered no prompt`, { engine: name });
    return llamaTokens(applied.data.prompt, req.signal);
  }

  /** Whether llama-server's GET /props says it reads images (visionFromProps); read once, a failure asked again. */
  let props: Promise<boolean> | undefined;
  let propsRetryAt = 0;
  function propsVision(): Promise<boolean> {
    if (props === undefined && Date.now() < propsRetryAt) return Promise.resolve(false);
    props ??= exchange("/props", { method: "GET" }, undefined, { url: propsUrl, timeoutMs: healthTimeoutMs }).then(
      ({ status, bodyText }) => status >= 200 && status <= 299 && Props.safeParse(jsonOrText(bodyText)).data?.modalities?.vision === true,
      () => {
        props = undefined;
        propsRetryAt = Date.now() + (opts.propsRetryMs ?? 60_000);
        return false;
      },
    );
    return props;
  }

  /** The server's models with their context length when it says (vLLM: max_model_len); read once. */
  let listed: Promise<Array<{ id: string; contextLength?: number }>> | undefined;
  function modelList() {
    listed ??= fetchModels()
      .then((models) =>
        models.map((m) => ({
          id: m.id,
          ...((m.max_model_len ?? m.context_length) ? { contextLength: m.max_model_len ?? m.context_length } : {}),
        })),
      )
      .catch((err: unknown) => {
        listed = undefined; // a later call asks again
        throw err;
      });
    return listed;
  }

  /** The server's usage, required and within the job's maxima. */
  function usageOf(path: string, rawUsage: unknown, maxTokens: number) {
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
    if (completionTokens > maxTokens) {
      throw new EngineError(
        "engine_bad_response",
        `POST ${baseUrl}${path} reported usage.completion_tokens = ${completionTokens}, more than max_tokens = ${maxTokens}`,
        { engine: name },
      );
    }
    const reasoningTokens = reasoningTokensOf(usage.data.completion_tokens_details, completionTokens);
    return { promptTokens, completionTokens, ...(reasoningTokens !== undefined ? { reasoningTokens } : {}) };
  }

  function finishOf(path: string, reason: string | null | undefined, completionTokens: number, maxTokens: number): "stop" | "length" {
    // Some servers leave it out; with exact usage in hand the cut-off is a fact, not a guess.
    if (reason === null || reason === undefined) return completionTokens >= maxTokens ? "length" : "stop";
    if (LENGTH_REASONS.has(reason)) return "length";
    if (STOP_REASONS.has(reason)) return "stop";
    throw new EngineError("engine_bad_response", `POST ${baseUrl}${path} answered an unknown finish_reason "${excerpt(reason, 40)}"`, {
      engine: name,
    });
  }

  function chatResult(path: string, bodyText: string, req: EngineSampling): EngineResult {
    const answer = parseAs(ChatCompletion, "an OpenAI chat completion", "POST", path, bodyText);
    const choice = answer.choices[0]!;
    const usage = usageOf(path, answer.usage, req.maxTokens);
    throwIfAborted(req.signal, name);
    const toolCalls = (choice.message.tool_calls ?? []).map((c) => ({
      id: c.id,
      type: "function" as const,
      function: { name: c.function.name, arguments: c.function.arguments },
    }));
    const logprobs = logprobsOf(choice.logprobs);
    const text = choice.message.content ?? "";
    const reasoning = reasoningOf(choice.message);
    if (req.logprobs) assertLogprobs(path, text, logprobs);
    return {
      text,
      ...(reasoning ? { reasoning } : {}),
      usage,
      finishReason: finishOf(path, choice.finish_reason, usage.completionTokens, req.maxTokens),
      ...(toolCalls.length ? { toolCalls } : {}),
      ...(req.logprobs ? { logprobs } : {}),
      engine: name,
    };
  }

  /** Log probabilities were asked for: an answer with text but none is not passed off as one with them. */
  function assertLogprobs(path: string, text: string, logprobs: EngineTokenLogprob[]) {
    if (text !== "" && logprobs.length === 0)
      throw new EngineError(
        "engine_bad_response",
        `POST ${baseUrl}${path} answered without log probabilities though they were asked for (logprobs: true): does this server return them?`,
        { engine: name },
      );
  }

  function completionResult(path: string, bodyText: string, req: EngineSampling): EngineResult {
    const answer = parseAs(TextCompletion, "an OpenAI text completion", "POST", path, bodyText);
    const choice = answer.choices[0]!;
    const usage = usageOf(path, answer.usage, req.maxTokens);
    throwIfAborted(req.signal, name);
    return {
      text: choice.text ?? "",
      usage,
      finishReason: finishOf(path, choice.finish_reason, usage.completionTokens, req.maxTokens),
      engine: name,
    };
  }

  /**
   * False once the server ended a stream without usage: every stream would fail unbilled (the
   * agent streams every job, and a streamed requester read the answer before it failed), so
   * streams are then asked whole, whose answers carry usage (one delta, then done).
   */
  let streamsUsage = true;

  /** A whole answer's one delta: its thinking, text and log probabilities. */
  const wholeDelta = (result: EngineResult): EngineStreamEvent => ({
    type: "delta",
    text: result.text,
    ...(result.reasoning ? { reasoning: result.reasoning } : {}),
    ...(result.logprobs?.length ? { logprobs: result.logprobs } : {}),
  });

  /** A whole answer as a stream: its text as one delta (with its thinking and log probabilities), then done. */
  async function* wholeStream(answer: () => Promise<EngineResult>): AsyncGenerator<EngineStreamEvent> {
    const result = await answer();
    if (result.text || result.reasoning) yield wholeDelta(result);
    yield { type: "done", result };
  }

  /**
   * A chat or text completion streamed from the server: text deltas as they come, tool-call
   * pieces gathered by index into whole calls, then "done" with the server's usage (asked for
   * with stream_options.include_usage) and finish reason.
   */
  async function* streamed(path: string, body: Record<string, unknown>, req: EngineSampling): AsyncGenerator<EngineStreamEvent> {
    let text = "";
    let reasoning = "";
    let reason: string | null | undefined;
    let rawUsage: unknown;
    const logprobs: EngineTokenLogprob[] = [];
    const calls = new Map<number, { id?: string; name: string; arguments: string }>();
    let ended = false;
    for await (const event of streamExchange(path, body, req.signal, req.model)) {
      if ("whole" in event) {
        // The server answered whole (it ignored `stream: true`): one delta, then the result.
        const result = path === "/completions" ? completionResult(path, event.whole, req) : chatResult(path, event.whole, req);
        if (result.text || result.reasoning) yield wholeDelta(result);
        yield { type: "done", result };
        return;
      }
      const data = event.data;
      if (data === "[DONE]") {
        ended = true;
        break;
      }
      let json: unknown;
      try {
        json = JSON.parse(data);
      } catch (err) {
        throw new EngineError(
          "engine_bad_response",
          `POST ${baseUrl}${path} streamed an event that is not JSON: "${excerpt(data, 80)}"`,
          { engine: name },
          { cause: err },
        );
      }
      const chunk = StreamChunk.safeParse(json);
      if (!chunk.success)
        throw new EngineError("engine_bad_response", `POST ${baseUrl}${path} streamed an unusable event: ${describeIssues(chunk.error)}`, {
          engine: name,
        });
      // vLLM streams {"error": {message, code}}, then [DONE]; servers built on older vLLM code stream it flat ({"object": "error", …}).
      const failure = chunk.data.error ?? (chunk.data.object === "error" ? chunk.data : undefined);
      if (failure !== undefined && failure !== null) {
        const f = typeof failure === "object" ? (failure as { message?: unknown; code?: unknown }) : undefined;
        const serverMessage = typeof failure === "string" ? failure : typeof f?.message === "string" ? f.message : excerpt(data);
        const status = typeof f?.code === "number" ? f.code : undefined;
        // A 4xx code is read as the same status unstreamed (this request's fault, unless it names the
        // engine's key, path or load); anything else is the engine's.
        const code = status !== undefined && status >= 400 && status < 500 ? codeOfStatus(status) : "engine_unavailable";
        throw new EngineError(code, `POST ${baseUrl}${path} failed mid-stream: ${serverMessage}`, {
          engine: name,
          serverMessage,
          ...(status !== undefined ? { status } : {}),
        });
      }
      if (chunk.data.usage !== undefined && chunk.data.usage !== null) rawUsage = chunk.data.usage;
      const choice = chunk.data.choices?.find((c) => (c.index ?? 0) === 0);
      if (!choice) continue;
      const piece = choice.delta?.content ?? choice.text ?? "";
      const thought = reasoningOf(choice.delta);
      const lps = req.logprobs ? logprobsOf(choice.logprobs) : [];
      logprobs.push(...lps);
      if (piece || thought || lps.length) {
        text += piece;
        reasoning += thought;
        yield { type: "delta", text: piece, ...(thought ? { reasoning: thought } : {}), ...(lps.length ? { logprobs: lps } : {}) };
      }
      let fragments = 0;
      for (const c of choice.delta?.tool_calls ?? []) {
        const call = calls.get(c.index) ?? { name: "", arguments: "" };
        if (c.id) call.id = c.id;
        // Pieces of a name are joined; a name sent again whole on each delta (older vLLM, named tool_choice) is kept once.
        if (c.function?.name && c.function.name !== call.name) call.name += c.function.name;
        if (c.function?.arguments) {
          call.arguments += c.function.arguments;
          fragments++;
        }
        calls.set(c.index, call);
      }
      // review41: arguments are gathered, not streamed, so a cancel saw no piece of them and billed a
      // cut tool call 0 completion tokens. An event that streamed arguments and no text counts one
      // piece (servers stream at least a token an event), shown to no one (EngineStreamEvent.hidden).
      if (fragments > 0 && !(piece || thought || lps.length)) yield { type: "delta", text: "", hidden: 1 };
      if (choice.finish_reason) reason = choice.finish_reason;
    }
    if (!ended)
      throw new EngineError(
        "engine_bad_response",
        `POST ${baseUrl}${path} ended its stream without "data: [DONE]": the answer may be cut`,
        { engine: name },
      );
    // A whole stream without usage: this server ignores stream_options.include_usage (TGI, older
    // Ollama and llamafile). This job cannot be billed and fails; the next ones are asked whole.
    if (rawUsage === undefined || rawUsage === null) streamsUsage = false;
    const usage = usageOf(path, rawUsage, req.maxTokens);
    const toolCalls: EngineToolCall[] = [...calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([i, c]) => ({ id: c.id ?? `call_${i}`, type: "function", function: { name: c.name, arguments: c.arguments } }));
    if (toolCalls.some((c) => c.function.name === ""))
      throw new EngineError("engine_bad_response", `POST ${baseUrl}${path} streamed a tool call without a function name`, { engine: name });
    throwIfAborted(req.signal, name);
    if (req.logprobs) assertLogprobs(path, text, logprobs);
    yield {
      type: "done",
      result: {
        text,
        ...(reasoning ? { reasoning } : {}),
        usage,
        finishReason: finishOf(path, reason, usage.completionTokens, req.maxTokens),
        ...(toolCalls.length ? { toolCalls } : {}),
        ...(req.logprobs ? { logprobs } : {}),
        engine: name,
      },
    };
  }

  return {
    name,

    async models(): Promise<string[]> {
      // Not cached like modelList(): each call asks the server again.
      return (await fetchModels()).map((m) => m.id);
    },

    /**
     * GET /health with its own short timeout (healthTimeoutMs, 5 s): llama-server answers 503
     * while it loads and 200 {"status":"ok"} once ready; vLLM 200 while its engine loop lives and
     * 500/503 once it died; SGLang and TGI 200 when ready. A server without it (404: Ollama, whose
     * /health is "404 page not found") is asked GET /models instead, from then on. With an apiKey,
     * also that the engine still takes it (checkKey: GET /models and /props with the key).
     */
    health: () =>
      checkHealth().catch((e: unknown) => {
        seenDown(e);
        throw e;
      }),

    async capabilities(model: string): Promise<EngineCapabilities> {
      const contextLength = (await modelList()).find((m) => m.id === model)?.contextLength;
      return {
        ...DEFAULT_CAPABILITIES,
        ...(contextLength ? { contextLength } : {}),
        ...(opts.visionFromProps && opts.capabilities?.vision === undefined ? { vision: await propsVision() } : {}),
        // Log probabilities and images only when the owner says the server takes them (opts.capabilities).
        ...opts.capabilities,
      };
    },

    async generate(req: EngineRequest): Promise<EngineResult> {
      assertValidEngineRequest(req, name);
      const path = "/chat/completions";
      return chatResult(path, await postJob(path, chatBody(req, false), req), req);
    },

    stream(req: EngineRequest): AsyncIterable<EngineStreamEvent> {
      assertValidEngineRequest(req, name);
      const path = "/chat/completions";
      if (!streamsUsage) return wholeStream(async () => chatResult(path, await postJob(path, chatBody(req, false), req), req));
      return streamedJob(path, chatBody(req, true), req);
    },

    async complete(req: EngineCompletionRequest): Promise<EngineResult> {
      assertValidCompletionRequest(req, name);
      const path = "/completions";
      return completionResult(path, await postJob(path, completionBody(req, false), req), req);
    },

    streamCompletion(req: EngineCompletionRequest): AsyncIterable<EngineStreamEvent> {
      assertValidCompletionRequest(req, name);
      const path = "/completions";
      if (!streamsUsage) return wholeStream(async () => completionResult(path, await postJob(path, completionBody(req, false), req), req));
      return streamedJob(path, completionBody(req, true), req);
    },

    /**
     * The prompt's tokens as the server counts them, without generation: vLLM's POST /tokenize, or
     * llama-server's POST /apply-template then POST /tokenize (both beside /v1). Undefined for a
     * server without them and for a prompt they cannot count (images; reasoning_effort).
     */
    countPromptTokens,

    async embed(req: EngineEmbedRequest): Promise<EngineEmbedResult> {
      if (!Array.isArray(req.input) || req.input.length === 0)
        throw new EngineError("invalid_request", "input must hold at least one text or token list", { engine: name, param: "input" });
      const path = "/embeddings";
      // llama-server places an embedding on an idle slot of its choosing, over the prompt a job left
      // there: no slot's content is known while it runs (one server rarely does both: --embeddings).
      const pool = await slots().catch(() => undefined);
      pool?.forget();
      let bodyText: string;
      try {
        bodyText = await post(path, { model: req.model, input: req.input, encoding_format: "float" }, req);
      } catch (e) {
        seenDown(e);
        throw e;
      } finally {
        pool?.forget();
      }
      const { data, usage } = parseAs(Embeddings, "an OpenAI embedding list", "POST", path, bodyText);
      if (!usage) {
        throw new EngineError(
          "engine_bad_response",
          `POST ${baseUrl}${path} answered without usage.prompt_tokens (Cocoon bills from the engine's own token count)`,
          { engine: name },
        );
      }
      const vectors = [...data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
      if (vectors.length !== req.input.length || data.some((d, i) => [...data].sort((a, b) => a.index - b.index)[i]!.index !== i)) {
        throw new EngineError(
          "engine_bad_response",
          `POST ${baseUrl}${path} answered ${vectors.length} vectors (indexes ${data.map((d) => d.index).join(",")}) for ${req.input.length} inputs`,
          { engine: name },
        );
      }
      throwIfAborted(req.signal, name);
      return { vectors, usage: { promptTokens: usage.prompt_tokens }, engine: name };
    },
  };
}
