import { invalid, modelNotFound, OpenAiError, unsupported } from "./errors";
import { MAX_JOB_PROMPT_TOKENS, MAX_JOB_TOKENS } from "../../events/api";
import type { AskMessage, ModelCapabilities, ModelInfo, ResponseFormat, Tool, ToolChoice } from "./types";

/**
 * Which models are on offer and what each can do, from the coordinator's GET /v1/models
 * (which lists, per model, what every live worker advertised). The list is reused for `ttlMs`;
 * a model missing from a list older than a second refetches it once, so a worker that just
 * registered is found at once.
 */
export function modelCatalog(list: (() => Promise<Array<string | ModelInfo>>) | undefined, ttlMs: number, now: () => number) {
  let cached: { at: number; models: Map<string, ModelInfo> } | undefined;
  let pending: Promise<Map<string, ModelInfo>> | undefined;

  const fetchList = (): Promise<Map<string, ModelInfo>> => {
    // `.finally` clears `pending` only after it is stored, also when list() throws before it returns a promise.
    pending ??= (async () => {
      const models = new Map((await list!()).map((m) => (typeof m === "string" ? { id: m } : m)).map((m) => [m.id, m] as const));
      cached = { at: now(), models };
      return models;
    })().finally(() => {
      pending = undefined;
    });
    return pending;
  };

  return {
    available: list !== undefined,
    async all(): Promise<ModelInfo[]> {
      if (!list) return [];
      return [...(cached && now() - cached.at < ttlMs ? cached.models : await fetchList()).values()];
    },
    /** The model's entry; 404 model_not_found when the list does not hold it; undefined when there is no list. */
    async model(id: string): Promise<ModelInfo | undefined> {
      if (!list) return undefined;
      let models = cached && now() - cached.at < ttlMs ? cached.models : await fetchList();
      if (!models.has(id) && cached && now() - cached.at >= 1000) models = await fetchList();
      const m = models.get(id);
      if (!m) throw modelNotFound(id);
      return m;
    },
  };
}

export type ModelCatalog = ReturnType<typeof modelCatalog>;

/** What a chat request asks of its model. */
export interface ChatNeeds {
  messages: AskMessage[];
  tools?: Tool[];
  toolChoice?: ToolChoice;
  responseFormat?: ResponseFormat;
  logprobs?: boolean;
  topLogprobs?: number;
  /** only when the request named it */
  maxTokens?: number;
  /** the field that set `maxTokens` (max_tokens or max_completion_tokens): the 400's `param` */
  maxTokensParam?: string;
  /** The request's name for the whole conversation (messages; /v1/responses: input), for a 400's `param`. */
  messagesParam?: string;
  /** The request's name for message i and for the response format, for a 400's `param` (/v1/responses names them otherwise). */
  messageParam?: (i: number) => string;
  responseFormatParam?: string;
}

/**
 * 400 naming the parameter for what the model cannot do (OpenAI answers the same for a model
 * without tool support or JSON mode). Without capabilities (an older coordinator or agent)
 * nothing is refused here: the worker decides.
 */
export function checkChat(model: ModelInfo | undefined, need: ChatNeeds): void {
  const caps = model?.capabilities;
  checkImages(model, need);
  if (!caps) return;
  const id = model!.id;
  if (!caps.chat) throw unsupported("model", `model "${id}" does not serve chat completions (it serves:${served(caps)})`);
  if (need.tools?.length && need.toolChoice !== "none" && !caps.tools)
    throw unsupported("tools", `model "${id}" does not support function calling (tools)`);
  if (!caps.tools) {
    const i = need.messages.findIndex((m) => m.role === "tool" || m.toolCalls?.length);
    if (i >= 0)
      throw unsupported(
        need.messageParam?.(i) ?? `messages.${i}`,
        `model "${id}" does not support function calling: its chat template cannot hold tool calls or tool results`,
      );
  }
  if (need.responseFormat && need.responseFormat.type !== "text" && !caps.jsonSchema) {
    const param = need.responseFormatParam ?? "response_format";
    throw unsupported(param, `model "${id}" cannot enforce ${param} ${need.responseFormat.type}`);
  }
  checkLogprobs(id, caps, need.logprobs === true, need.topLogprobs);
  checkMaxTokens(id, caps, need.maxTokens, need.maxTokensParam);
}

/**
 * Images only for a model whose listing says vision: every live worker of it reads them (an older
 * agent, which never says so, cannot open a request that holds them). Refused too where the
 * listing has no capabilities at all, unlike the other checks: such a worker would fail the job
 * after the hold. Without a model list (undefined) the worker decides.
 */
function checkImages(model: ModelInfo | undefined, need: ChatNeeds): void {
  if (!model || model.capabilities?.vision === true) return;
  for (const [i, m] of need.messages.entries()) {
    if (typeof m.content === "string") continue;
    const j = m.content.findIndex((p) => p.type === "image_url");
    if (j < 0) continue;
    const param = `${need.messageParam?.(i) ?? `messages.${i}`}.content.${j}`;
    throw new OpenAiError(
      400,
      "invalid_request_error",
      "unsupported_content",
      `${param}: model "${model.id}" does not read images (not every worker serving it says vision; see GET /v1/models)`,
      { param },
    );
  }
}

/** For /v1/completions: whether the model continues a raw prompt; else the prompt goes through its chat template. */
export function checkCompletion(model: ModelInfo | undefined, need: { logprobs?: number | null; maxTokens?: number }): { raw: boolean } {
  const caps = model?.capabilities;
  if (caps && !caps.completions && !caps.chat)
    throw unsupported("model", `model "${model!.id}" does not serve text completions (it serves:${served(caps)})`);
  // Log probabilities travel for chat answers only (OpenAI's legacy completions shape them
  // otherwise): a completion's are never passed on, so they are refused whatever the model
  // advertises, or when it advertises nothing, rather than answered with logprobs: null.
  if (need.logprobs !== null && need.logprobs !== undefined)
    throw unsupported(
      "logprobs",
      caps?.logprobs === true
        ? `model "${model!.id}" returns log probabilities for chat completions only, not for /v1/completions`
        : "log probabilities are not returned for /v1/completions (Cocoon returns them for chat completions, on models whose workers say so)",
    );
  if (!caps) return { raw: true };
  checkMaxTokens(model!.id, caps, need.maxTokens);
  return { raw: caps.completions };
}

export function checkEmbeddings(model: ModelInfo | undefined): void {
  const caps = model?.capabilities;
  if (caps && !caps.embeddings) throw unsupported("model", `model "${model!.id}" does not serve embeddings (it serves:${served(caps)})`);
}

/** The default completion budget, cut to what fits the model's context. */
export const defaultBudget = (model: ModelInfo | undefined, fallback: number) => {
  const ctx = model?.capabilities?.contextLength;
  return ctx !== undefined ? Math.max(1, Math.min(fallback, Math.floor(ctx / 2))) : fallback;
};

function checkLogprobs(id: string, caps: ModelCapabilities, asked: boolean, top: number | undefined) {
  if (asked && caps.logprobs !== true) throw unsupported("logprobs", `model "${id}" does not return log probabilities`);
  if (top !== undefined && top > 0 && caps.logprobs !== true)
    throw unsupported("top_logprobs", `model "${id}" does not return log probabilities`);
}

/**
 * n × max_tokens of one job within the network's cap (MAX_JOB_TOKENS): a 400 naming `param`
 * (max_tokens or max_completion_tokens, as the request named it) rather than the coordinator's refusal.
 */
export function checkJobTokens(n: number, maxTokens: number, param: string): void {
  if (n * maxTokens <= MAX_JOB_TOKENS) return;
  throw invalid(
    "invalid_request",
    n > 1
      ? `n × ${param} must be at most ${MAX_JOB_TOKENS} (the Cocoon network's cap on one job's completion tokens): ${n} × ${maxTokens} = ${n * maxTokens}`
      : `${param} must be at most ${MAX_JOB_TOKENS} (the Cocoon network's cap on one job's completion tokens), got ${maxTokens}`,
    param,
  );
}

/**
 * n × the prompt's token bound of one job within the network's cap (MAX_JOB_PROMPT_TOKENS),
 * `bound` as the SDK reckons it (client/sdk.ts promptTokenBound, textTokenBound). The SDK refuses
 * such a job too, before anything is held, but as a generic invalid_request: OpenAI answers a
 * prompt past the context with code context_length_exceeded, which apps and their frameworks read
 * to trim the conversation and ask again.
 */
export function checkJobPromptTokens(n: number, bound: number, param: string): void {
  if (n * bound <= MAX_JOB_PROMPT_TOKENS) return;
  const cap = `past ${MAX_JOB_PROMPT_TOKENS} (the Cocoon network's cap on one job's prompt tokens)`;
  throw invalid(
    "context_length_exceeded",
    n > 1
      ? `n × ${param} may take up to ${n} × ${bound} = ${n * bound} tokens (one per byte), ${cap}; shorten it or lower n`
      : `${param} may take up to ${bound} tokens (one per byte), ${cap}; shorten it`,
    param,
  );
}

/** `param`: as the request named the budget, which OpenAI's answer names too (max_completion_tokens on newer apps). */
function checkMaxTokens(id: string, caps: ModelCapabilities, maxTokens: number | undefined, param = "max_tokens") {
  if (maxTokens !== undefined && caps.contextLength !== undefined && maxTokens >= caps.contextLength) {
    throw unsupported(
      param,
      `${param} ${maxTokens} does not fit model "${id}"'s context of ${caps.contextLength} tokens (prompt included)`,
    );
  }
}

function served(caps: ModelCapabilities): string {
  const list = (["chat", "completions", "embeddings"] as const).filter((k) => caps[k]);
  return list.length ? ` ${list.join(", ")}` : " nothing";
}
