import type { HttpRequest, HttpResponse } from "../../edge/http";
import { jsonAnswer, streamedAnswer, streamPieces, usageOf } from "./answer";
import { ChatBody, contentText, readJson } from "./schemas";
import type { ProxyContext } from "./types";

/** POST /v1/chat/completions */
export async function chatCompletions(req: HttpRequest, ctx: ProxyContext): Promise<HttpResponse> {
  const body = readJson(req, ChatBody);
  const messages = body.messages.map((m, i) => ({
    role: m.role === "developer" ? ("system" as const) : m.role,
    content: contentText(m.content, `messages.${i}`),
  }));
  const result = await ctx.ask({
    model: body.model,
    messages,
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? ctx.defaultMaxTokens,
    ...(body.temperature !== undefined ? { temperature: body.temperature } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
  });
  const id = `chatcmpl-${result.jobId}`;
  const created = Math.floor(Date.now() / 1000);
  if (body.stream === true) {
    // Cocoon replies are sealed to the requester as one whole envelope, so nothing exists to
    // stream until the job is done: streaming is emulated by sending the finished answer as
    // SSE chunks in the OpenAI chunk format, then `data: [DONE]`.
    return streamedAnswer(result, {
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
  }
  return jsonAnswer(result, {
    id,
    object: "chat.completion",
    created,
    model: result.model,
    choices: [{ index: 0, message: { role: "assistant", content: result.text }, logprobs: null, finish_reason: result.finishReason }],
    usage: usageOf(result),
  });
}
