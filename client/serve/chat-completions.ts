import type { HttpRequest, HttpResponse } from "../../edge/http";
import { choicesOf, finishReasonOf, firstJobId, jsonAnswer, openStream, streamOf, streamResponse, usageOf, type ChunkItem } from "./answer";
import { checkChat, checkJobTokens, defaultBudget } from "./capabilities";
import { invalid, unsupported } from "./errors";
import { asResponseFormat, asStop, asTools, askMessages, ChatBody, extraFields, readJson } from "./schemas";
import type { AskChoice, AskRequest, ProxyContext, TokenLogprob } from "./types";

/**
 * POST /v1/chat/completions. Everything OpenAI defines is accepted: tools, tool_choice,
 * parallel_tool_calls, response_format, stop, seed, user and unknown fields travel to the
 * worker inside the sealed request; what the model cannot do is a 400 naming the parameter;
 * n > 1 is one job with n choices. `stream: true` relays the network's stream as it comes.
 */
export async function chatCompletions(req: HttpRequest, ctx: ProxyContext): Promise<HttpResponse> {
  const { body, raw } = readJson(req, ChatBody);
  // OpenAI's deprecated function calling: no engine acts on it (the OpenAI engine adapter drops
  // it) and no answer carries a function_call, so passed on it would be answered as if unsent.
  for (const param of ["functions", "function_call"] as const)
    if (raw[param] != null)
      throw unsupported(param, `${param} (OpenAI's deprecated function calling) is not supported by Cocoon: use tools and tool_choice`);
  const messages = askMessages(body.messages);
  const tools = asTools(body.tools);
  const responseFormat = asResponseFormat(body.response_format);
  const model = await ctx.model(body.model);
  const explicitMax = body.max_completion_tokens ?? body.max_tokens ?? undefined;
  const maxParam = body.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens";
  // As OpenAI answers: alternatives per token only come with the tokens' own log probabilities.
  if ((body.top_logprobs ?? 0) > 0 && body.logprobs !== true)
    throw invalid("invalid_request", "top_logprobs requires logprobs: true", "top_logprobs");
  // As OpenAI answers: a tool_choice that makes the model call a tool needs that tool among `tools`.
  const choice = body.tool_choice;
  if (choice === "required" && !tools?.length)
    throw invalid("invalid_request", 'tool_choice "required" needs tools to call', "tool_choice");
  if (typeof choice === "object" && !tools?.some((t) => t.function.name === choice.function.name))
    throw invalid(
      "invalid_request",
      `tool_choice names the function ${JSON.stringify(choice.function.name)}, which is not in tools`,
      "tool_choice",
    );
  checkChat(model, {
    messages,
    ...(tools ? { tools } : {}),
    ...(body.tool_choice !== undefined ? { toolChoice: body.tool_choice } : {}),
    ...(responseFormat ? { responseFormat } : {}),
    ...(body.logprobs != null ? { logprobs: body.logprobs } : {}),
    ...(body.top_logprobs != null ? { topLogprobs: body.top_logprobs } : {}),
    ...(explicitMax !== undefined ? { maxTokens: explicitMax, maxTokensParam: maxParam } : {}),
  });
  // A model without function calling may still be sent tools it is told not to use: they are dropped.
  const dropTools = model?.capabilities?.tools === false && body.tool_choice === "none";
  const n = body.n ?? 1;
  const maxTokens = explicitMax ?? defaultBudget(model, ctx.defaultMaxTokens);
  checkJobTokens(n, maxTokens, maxParam);
  const stop = asStop(body.stop);
  const extra = extraFields(raw, ChatBody);
  const ask: AskRequest = {
    model: body.model,
    messages,
    maxTokens,
    ...(body.temperature != null ? { temperature: body.temperature } : {}),
    ...(body.top_p != null ? { topP: body.top_p } : {}),
    ...(body.seed != null ? { seed: body.seed } : {}),
    ...(stop ? { stop } : {}),
    ...(tools?.length && !dropTools ? { tools } : {}),
    ...(body.tool_choice !== undefined && !dropTools ? { toolChoice: body.tool_choice } : {}),
    ...(body.parallel_tool_calls !== undefined ? { parallelToolCalls: body.parallel_tool_calls } : {}),
    ...(responseFormat ? { responseFormat } : {}),
    ...(body.logprobs != null ? { logprobs: body.logprobs } : {}),
    ...(body.top_logprobs != null ? { topLogprobs: body.top_logprobs } : {}),
    ...(body.user !== undefined ? { user: body.user } : {}),
    ...(extra ? { extra } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
  };
  if (n > 1) ask.n = n;
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
        choice: chatChunkChoice,
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
      message: chatMessage(c),
      logprobs: openAiLogprobs(c.logprobs),
      finish_reason: finishReasonOf(c),
    })),
    usage: usageOf([result]),
  });
}

function chatMessage(r: AskChoice) {
  const calls = r.toolCalls?.length ? r.toolCalls : undefined;
  return {
    role: "assistant",
    // OpenAI sends null content beside tool calls when the model wrote no text.
    content: calls && r.text === "" ? null : r.text,
    refusal: null,
    ...(calls
      ? {
          tool_calls: calls.map((c) => ({
            id: c.id,
            type: "function",
            function: { name: c.function.name, arguments: c.function.arguments },
          })),
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
      return choice({ content: item.text }, null, item.logprobs);
    case "tool":
      return choice({ tool_calls: [item.delta] });
    case "finish":
      return choice({}, item.reason);
  }
}
