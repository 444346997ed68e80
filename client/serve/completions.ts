import type { HttpRequest, HttpResponse } from "../../edge/http";
import { jsonAnswer, streamedAnswer, streamPieces, usageOf } from "./answer";
import { CompletionBody, readJson } from "./schemas";
import type { ProxyContext } from "./types";

/** POST /v1/completions (legacy): the prompt becomes one user message. */
export async function completions(req: HttpRequest, ctx: ProxyContext): Promise<HttpResponse> {
  const body = readJson(req, CompletionBody);
  const prompt = typeof body.prompt === "string" ? body.prompt : body.prompt[0]!;
  const result = await ctx.ask({
    model: body.model,
    messages: [{ role: "user", content: prompt }],
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? ctx.defaultMaxTokens,
    ...(body.temperature !== undefined ? { temperature: body.temperature } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
  });
  const id = `cmpl-${result.jobId}`;
  const created = Math.floor(Date.now() / 1000);
  if (body.stream === true) {
    // Emulated streaming, as for chat completions: the sealed reply arrives whole.
    return streamedAnswer(result, {
      id,
      object: "text_completion",
      created,
      includeUsage: body.stream_options?.include_usage === true,
      choices: [...streamPieces(result.text).map((text) => ({ text, finish_reason: null })), { text: "", finish_reason: result.finishReason }],
    });
  }
  return jsonAnswer(result, {
    id,
    object: "text_completion",
    created,
    model: result.model,
    choices: [{ index: 0, text: result.text, logprobs: null, finish_reason: result.finishReason }],
    usage: usageOf(result),
  });
}
