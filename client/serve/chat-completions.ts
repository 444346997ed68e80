import type { HttpRequest, HttpResponse } from "../../edge/http";
import {
  chatUsageOf,
  choicesOf,
  firstJobId,
  jsonAnswer,
  openAiFinishReason,
  openStream,
  streamOf,
  streamResponse,
  type ChunkItem,
} from "./answer";
import { promptTokenBound } from "../sdk";
import { checkChat, checkJobPromptTokens, checkJobTokens, defaultBudget, type ChatNeeds } from "./capabilities";
import { customInputOf } from "./custom-tools";
import { invalid, unsupported } from "./errors";
import { asResponseFormat, asStop, askMessages, ChatBody, ChatPassedOn, chatTools, extraFields, readJson } from "./schemas";
import type { AskChoice, AskRequest, ProxyContext, TokenLogprob } from "./types";

/**
 * POST /v1/chat/completions. Everything OpenAI defines is accepted: tools, tool_choice,
 * parallel_tool_calls, response_format, stop, seed, user and unknown fields travel to the
 * worker inside the sealed request; what the model cannot do is a 400 naming the parameter;
 * n > 1 is one job with n choices. `stream: true` relays the network's stream as it comes.
 */
export async function chatCompletions(req: HttpRequest, ctx: ProxyContext): Promise<HttpResponse> {
  const { body, raw } = readJson(req, ChatBody);
  refuseUnanswered(body);
  const messages = askMessages(body.messages);
  const { tools, toolChoice, custom } = chatTools(body);
  const responseFormat = asResponseFormat(body.response_format);
  const explicitMax = body.max_completion_tokens ?? body.max_tokens ?? undefined;
  const stop = asStop(body.stop);
  const extra = extraFields(raw, ChatBody, ChatPassedOn);
  const n = body.n ?? 1;
  const ask = await chatAsk(
    {
      model: body.model,
      messages,
      ...(tools ? { tools } : {}),
      ...(toolChoice !== undefined ? { toolChoice } : {}),
      ...(body.parallel_tool_calls !== undefined ? { parallelToolCalls: body.parallel_tool_calls } : {}),
      ...(responseFormat ? { responseFormat } : {}),
      ...(explicitMax !== undefined ? { maxTokens: explicitMax } : {}),
      maxTokensParam: body.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens",
      n,
      ...(body.temperature != null ? { temperature: body.temperature } : {}),
      ...(body.top_p != null ? { topP: body.top_p } : {}),
      ...(body.seed != null ? { seed: body.seed } : {}),
      ...(stop ? { stop } : {}),
      ...(body.logprobs != null ? { logprobs: body.logprobs } : {}),
      ...(body.top_logprobs != null ? { topLogprobs: body.top_logprobs } : {}),
      ...(body.user !== undefined ? { user: body.user } : {}),
      ...(extra ? { extra } : {}),
    },
    ctx,
    req.signal,
  );
  const created = Math.floor(ctx.now() / 1000);

  if (body.stream === true) {
    const stream = await openStream(streamOf(ctx.ask, ctx.askStream, ask));
    return streamResponse(
      {
        id: `chatcmpl-${firstJobId(stream) ?? ctx.requestId}`,
        object: "chat.completion.chunk",
        created,
        model: body.model,
        includeUsage: body.stream_options?.include_usage === true,
        n,
        choice: chatChunkChoices(custom),
        usage: chatUsageOf,
      },
      [stream],
      {
        ...(req.signal ? { signal: req.signal } : {}),
        mapError: ctx.mapError,
        ...(ctx.onError ? { onError: ctx.onError } : {}),
        onGone: ctx.clientGone,
      },
    );
  }

  const result = await ctx.ask(ask);
  return jsonAnswer([result], {
    id: `chatcmpl-${result.jobId}`,
    object: "chat.completion",
    created,
    model: body.model,
    system_fingerprint: null,
    choices: choicesOf(result).map((c) => ({
      index: c.index,
      message: chatMessage(c, custom),
      logprobs: openAiLogprobs(c.logprobs),
      finish_reason: openAiFinishReason(c),
    })),
    usage: chatUsageOf([result]),
  });
}

/**
 * What no Cocoon answer can hold, refused with a 400 naming it rather than answered without it.
 * Passed on, each came back a plain text answer that looked like what was asked: OpenAI's
 * deprecated function calling (no engine acts on it: the OpenAI engine adapter drops it, and no
 * answer carries a function_call), spoken audio (the answer's message has no `audio`; no engine
 * speaks) and OpenAI's web search (Cocoon runs no hosted tools, as /v1/responses refuses its
 * web_search tool). A null is none of them (nullsAsAbsent).
 */
function refuseUnanswered(body: ChatBody): void {
  for (const param of ["functions", "function_call"] as const)
    if (body[param] !== undefined)
      throw unsupported(param, `${param} (OpenAI's deprecated function calling) is not supported by Cocoon: use tools and tool_choice`);
  if (body.modalities?.includes("audio"))
    throw unsupported("modalities", 'modalities "audio" is not supported by Cocoon: answers are text (modalities ["text"])');
  if (body.audio !== undefined) throw unsupported("audio", "audio output is not supported by Cocoon: answers are text");
  if (body.web_search_options !== undefined)
    throw unsupported(
      "web_search_options",
      "web_search_options is not supported: Cocoon runs no hosted tools; give a search function (tools) that your app runs",
    );
}

/** A choice's message; a call of a custom tool (`custom`: their names) as a custom tool call with the text it was given. */
function chatMessage(r: AskChoice, custom: ReadonlySet<string>) {
  const calls = r.toolCalls?.length ? r.toolCalls : undefined;
  return {
    role: "assistant",
    // OpenAI sends null content beside tool calls when the model wrote no text.
    content: calls && r.text === "" ? null : r.text,
    // The de facto field for a reasoning model's thinking (DeepSeek, vLLM, llama-server), which
    // many clients read; only when there is some, so other answers look as before.
    ...(r.reasoning ? { reasoning_content: r.reasoning } : {}),
    refusal: null,
    ...(calls
      ? {
          tool_calls: calls.map((c) =>
            custom.has(c.function.name)
              ? { id: c.id, type: "custom", custom: { name: c.function.name, input: customInputOf(c.function.arguments) } }
              : { id: c.id, type: "function", function: { name: c.function.name, arguments: c.function.arguments } },
          ),
        }
      : {}),
  };
}

/** OpenAI's `logprobs` of a choice (null when they were not asked for). */
function openAiLogprobs(lps: TokenLogprob[] | undefined) {
  if (!lps) return null;
  const one = (t: { token: string; logprob: number; bytes?: number[] | null }) => ({
    token: t.token,
    logprob: t.logprob,
    bytes: t.bytes ?? [...Buffer.from(t.token, "utf8")],
  });
  return { content: lps.map((t) => ({ ...one(t), top_logprobs: (t.topLogprobs ?? []).map(one) })), refusal: null };
}

/**
 * The chunks' choices of one streamed answer (`custom`: the custom tools' names). A custom tool's
 * call travels as the JSON object its input is written in, and a piece of JSON is not a piece of
 * the text it holds: its pieces are held and the call given whole, in one piece, just before its
 * choice's finish, as /v1/responses tells a custom call's input whole at its end. The piece is
 * `{index, id, type: "custom", custom: {name, input}}`, the shape OpenAI's API is reported to
 * stream (openai/openai-openapi#576; the published chunk schema still names functions only). One
 * whole piece reads the same to an app that concatenates `input` and to one that overwrites it.
 */
function chatChunkChoices(custom: ReadonlySet<string>) {
  /** The custom calls being written, by the answer's choice, then by the call's index: their arguments so far. */
  const held = new Map<number, Map<number, { id: string; name: string; args: string }>>();
  return (index: number, item: ChunkItem): Record<string, unknown> | Record<string, unknown>[] => {
    if (!custom.size) return chatChunkChoice(index, item);
    if (item.kind === "tool") {
      const calls = held.get(index) ?? held.set(index, new Map()).get(index)!;
      const d = item.delta;
      const call = calls.get(d.index);
      if (call) call.args += d.function?.arguments ?? "";
      // jobItems completes a call's first piece: its id and name are there.
      else if (d.function?.name && custom.has(d.function.name))
        calls.set(d.index, { id: d.id!, name: d.function.name, args: d.function.arguments ?? "" });
      else return chatChunkChoice(index, item);
      return [];
    }
    if (item.kind !== "finish") return chatChunkChoice(index, item);
    const calls = [...(held.get(index) ?? new Map<number, { id: string; name: string; args: string }>())];
    held.delete(index);
    return [
      ...calls.map(([i, c]) => ({
        index,
        delta: { tool_calls: [{ index: i, id: c.id, type: "custom", custom: { name: c.name, input: customInputOf(c.args) } }] },
        logprobs: null,
        finish_reason: null,
      })),
      chatChunkChoice(index, item),
    ];
  };
}

/** One chat chunk's choice: role first, then content or tool-call pieces, then the finish reason. */
function chatChunkChoice(index: number, item: ChunkItem): Record<string, unknown> {
  const choice = (delta: Record<string, unknown>, finish: string | null = null, logprobs: TokenLogprob[] | undefined = undefined) => ({
    index,
    delta,
    logprobs: openAiLogprobs(logprobs),
    finish_reason: finish,
  });
  switch (item.kind) {
    case "start":
      return choice({ role: "assistant", content: "", refusal: null });
    case "text":
      // Thinking alone (no text yet) is a delta without content, as vLLM and llama-server send it.
      return choice(
        {
          ...(item.reasoning ? { reasoning_content: item.reasoning } : {}),
          ...(item.text || !item.reasoning ? { content: item.text } : {}),
        },
        null,
        item.logprobs,
      );
    case "tool":
      return choice({ tool_calls: [item.delta] });
    case "finish":
      return choice({}, item.reason);
  }
}

/**
 * One chat job as the network takes it, read from /v1/chat/completions or /v1/responses: the
 * job's fields under AskRequest's names, what checkChat reads (ChatNeeds: the request's own names
 * of its fields, for a 400's `param`), and the budget only when the request named it.
 */
export type ChatSpec = ChatNeeds &
  Omit<AskRequest, "prompt" | "n" | "signal" | keyof ChatNeeds> & {
    /** the field that names the budget, for a 400's `param` */
    maxTokensParam: string;
    n: number;
  };

/**
 * The checks every chat job passes before it is asked (the model is on offer and can do what is
 * asked, tool_choice names a given tool, the budget fits one job), and the job itself.
 */
export async function chatAsk(spec: ChatSpec, ctx: ProxyContext, signal: AbortSignal | undefined): Promise<AskRequest> {
  // what only the checks read, and what the job takes as the checks leave it; the rest is the job's as given
  const { maxTokensParam, messagesParam, messageParam, responseFormatParam, n, maxTokens: asked, tools, toolChoice: choice, ...job } = spec;
  const model = await ctx.model(spec.model);
  // As OpenAI answers: alternatives per token only come with the tokens' own log probabilities.
  if ((spec.topLogprobs ?? 0) > 0 && spec.logprobs !== true)
    throw invalid("invalid_request", "top_logprobs requires logprobs: true", "top_logprobs");
  // As OpenAI answers: a tool_choice that makes the model call a tool needs that tool among `tools`.
  if (choice === "required" && !tools?.length)
    throw invalid("invalid_request", 'tool_choice "required" needs tools to call', "tool_choice");
  if (typeof choice === "object" && !tools?.some((t) => t.function.name === choice.function.name))
    throw invalid(
      "invalid_request",
      `tool_choice names the function ${JSON.stringify(choice.function.name)}, which is not in tools`,
      "tool_choice",
    );
  checkChat(model, spec);
  // A model without function calling may still be sent tools it is told not to use: they are dropped.
  const dropTools = model?.capabilities?.tools === false && choice === "none";
  const maxTokens = asked ?? defaultBudget(model, ctx.defaultMaxTokens);
  checkJobTokens(n, maxTokens, maxTokensParam);
  const sentTools = tools?.length && !dropTools ? tools : undefined;
  // the bound of the job as it is sent (dropped tools count nothing), as the SDK reckons it
  checkJobPromptTokens(n, promptTokenBound(job.messages, sentTools), messagesParam ?? "messages");
  // A request whose images carry it past the envelope's cap is the SDK's to refuse (AskInputError
  // request_too_large, before anything is quoted or held; app.ts names the route's field): it
  // checks the request on the bytes it seals, so the request is serialised once (session 42).
  return {
    ...job,
    // a model alias runs on its target; the answer names the model as the app asked (body.model)
    model: ctx.target?.(spec.model) ?? spec.model,
    maxTokens,
    ...(n > 1 ? { n } : {}),
    ...(sentTools ? { tools: sentTools } : {}),
    // Without tools, "auto" and "none" change nothing, and a vLLM worker refuses a tool_choice
    // without tools: the job would fail after it was paid for instead of being answered.
    ...(choice !== undefined && sentTools ? { toolChoice: choice } : {}),
    ...(signal ? { signal } : {}),
  };
}
