import type { HttpRequest, HttpResponse } from "../../edge/http";
import {
  choicesOf,
  firstJobId,
  jsonAnswer,
  openAiFinishReason,
  openAll,
  streamOf,
  streamResponse,
  usageOf,
  type ChunkItem,
} from "./answer";
import { promptTokenBound, textTokenBound } from "../sdk";
import { checkCompletion, checkJobPromptTokens, checkJobTokens, defaultBudget } from "./capabilities";
import { unsupported, invalid } from "./errors";
import { asStop, CompletionBody, extraFields, MAX_CHOICES, readJson, SamplingPassedOn } from "./schemas";
import type { AskRequest, ProxyContext } from "./types";

/**
 * POST /v1/completions (legacy). A model that advertises plain completions continues the
 * prompt as is; one that only chats gets it as one user message. Several prompts and n > 1
 * run one job each (choice index = prompt × n + j, as OpenAI orders them); `echo` puts the
 * prompt before the text.
 */
export async function completions(req: HttpRequest, ctx: ProxyContext): Promise<HttpResponse> {
  const { body, raw } = readJson(req, CompletionBody);
  if (typeof body.prompt !== "string" && typeof body.prompt[0] !== "string") {
    throw unsupported("prompt", "token-id prompts are not supported by Cocoon: send the prompt as text");
  }
  const prompts = typeof body.prompt === "string" ? [body.prompt] : (body.prompt as string[]);
  if (body.suffix) throw unsupported("suffix", "suffix (fill-in-the-middle) is not supported by Cocoon");
  const n = body.n ?? 1;
  // OpenAI answers best_of below n with a 400: it is the candidates n is chosen from
  if (body.best_of != null && body.best_of < n)
    throw invalid("invalid_request", `best_of (${body.best_of}) must be at least n (${n})`, "best_of");
  if (body.best_of != null && body.best_of > n)
    throw unsupported("best_of", "best_of is not supported by Cocoon (the choices are not ranked by log probability): use n");
  checkBatch(prompts.length, n);
  const model = await ctx.model(body.model);
  const explicitMax = body.max_tokens ?? undefined;
  const { raw: rawPrompt } = checkCompletion(model, {
    ...(body.logprobs != null ? { logprobs: body.logprobs } : {}),
    ...(explicitMax !== undefined ? { maxTokens: explicitMax } : {}),
  });
  const maxTokens = explicitMax ?? defaultBudget(model, ctx.defaultMaxTokens);
  checkJobTokens(n, maxTokens, "max_tokens"); // per prompt: each is one job of n choices
  for (const prompt of prompts)
    checkJobPromptTokens(n, rawPrompt ? textTokenBound(prompt) : promptTokenBound([{ role: "user", content: prompt }]), "prompt");
  const stop = asStop(body.stop);
  const extra = extraFields(raw, CompletionBody, SamplingPassedOn);
  const asks: AskRequest[] = prompts.map((prompt) => ({
    // a model alias runs on its target; the answer names the model as the app asked
    model: ctx.target?.(body.model) ?? body.model,
    ...(rawPrompt ? { prompt } : { messages: [{ role: "user" as const, content: prompt }] }),
    ...(n > 1 ? { n } : {}),
    maxTokens,
    ...(body.temperature != null ? { temperature: body.temperature } : {}),
    ...(body.top_p != null ? { topP: body.top_p } : {}),
    ...(body.seed != null ? { seed: body.seed } : {}),
    ...(stop ? { stop } : {}),
    ...(body.user !== undefined ? { user: body.user } : {}),
    ...(extra ? { extra } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
  }));
  const echoed = (index: number) => (body.echo ? prompts[Math.floor(index / n)]! : "");
  const created = Math.floor(ctx.now() / 1000);

  if (body.stream === true) {
    const streams = await openAll(asks.map((a) => streamOf(ctx.ask, ctx.askStream, a)));
    return streamResponse(
      {
        id: `cmpl-${firstJobId(streams[0]) ?? ctx.requestId}`,
        object: "text_completion",
        created,
        model: body.model,
        includeUsage: body.stream_options?.include_usage === true,
        n,
        choice: (index, item) => completionChunkChoice(index, item, echoed(index)),
      },
      streams,
      {
        ...(req.signal ? { signal: req.signal } : {}),
        mapError: ctx.mapError,
        ...(ctx.onError ? { onError: ctx.onError } : {}),
        onGone: ctx.clientGone,
      },
    );
  }

  const results = await Promise.all(asks.map((a) => ctx.ask(a)));
  return jsonAnswer(results, {
    id: `cmpl-${results[0]!.jobId}`,
    object: "text_completion",
    created,
    model: body.model,
    system_fingerprint: null,
    choices: results.flatMap((r, j) =>
      choicesOf(r).map((c) => ({
        index: j * n + c.index,
        text: echoed(j * n + c.index) + c.text,
        logprobs: null,
        finish_reason: openAiFinishReason(c),
      })),
    ),
    usage: usageOf(results),
  });
}

/**
 * Prompts × n within MAX_CHOICES: each prompt is a sealed job of its own, held and paid for
 * with the others. `param` is the field to lower: the prompts when they alone are too many
 * (LangChain's OpenAI LLM sends up to 20 in one request), else n.
 */
function checkBatch(prompts: number, n: number): void {
  if (prompts * n <= MAX_CHOICES) return;
  throw invalid(
    "invalid_request",
    `prompts × n must be at most ${MAX_CHOICES} (each prompt is a separate sealed job of n choices), got ${prompts} × ${n}; send fewer prompts per request or a lower n`,
    prompts > MAX_CHOICES ? "prompt" : "n",
  );
}

function completionChunkChoice(index: number, item: ChunkItem, echo: string): Record<string, unknown> | undefined {
  const choice = (text: string, finish: string | null = null) => ({ index, text, logprobs: null, finish_reason: finish });
  switch (item.kind) {
    case "start":
      return echo ? choice(echo) : undefined;
    case "text":
      // A text completion has no place for a model's thinking: thinking alone sends nothing.
      return item.text || !item.reasoning ? choice(item.text) : undefined;
    case "tool":
      return undefined;
    case "finish":
      return choice("", item.reason);
  }
}
