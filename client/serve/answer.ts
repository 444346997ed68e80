import { jsonResponse, type HttpResponse } from "../../edge/http";
import type { AskResult } from "./types";

/** How a finished answer goes back to the app: OpenAI JSON, or server-sent events. */

export function cocoonHeaders(r: AskResult): Record<string, string> {
  return {
    "x-cocoon-job-id": r.jobId,
    "x-cocoon-worker": r.workerId,
    "x-cocoon-tier": r.tier,
    "x-cocoon-cost-nanoton": r.cost,
  };
}

export function usageOf(r: AskResult) {
  return {
    prompt_tokens: r.usage.promptTokens,
    completion_tokens: r.usage.completionTokens,
    total_tokens: r.usage.promptTokens + r.usage.completionTokens,
  };
}

export function jsonAnswer(r: AskResult, body: unknown): HttpResponse {
  return jsonResponse(200, body, cocoonHeaders(r));
}

/** Splits finished text into word-sized pieces (whitespace kept), so that joining them gives it back. */
export function streamPieces(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [];
}

/**
 * Server-sent events: each frame is written as it is yielded (edge/node.ts writes chunked
 * bodies as they come), then `data: [DONE]`. THE STREAMING SEAM: today `frames` is built from
 * the finished answer; a streaming SDK call hands an async iterable of deltas here instead,
 * and nothing else in the proxy changes.
 */
export function sseResponse(headers: Record<string, string>, frames: Iterable<unknown> | AsyncIterable<unknown>): HttpResponse {
  async function* events() {
    for await (const data of frames) yield `data: ${JSON.stringify(data)}\n\n`;
    yield "data: [DONE]\n\n";
  }
  return {
    status: 200,
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive", ...headers },
    body: events(),
  };
}

/** An answer's choices as chunks of one object kind, then its usage when asked for. */
export function streamedAnswer(
  result: AskResult,
  o: { id: string; object: string; created: number; includeUsage: boolean; choices: Array<Record<string, unknown>> },
): HttpResponse {
  const frame = { id: o.id, object: o.object, created: o.created, model: result.model };
  const frames = o.choices.map((choice) => ({ ...frame, choices: [{ index: 0, ...choice, logprobs: null }] }));
  return sseResponse(cocoonHeaders(result), o.includeUsage ? [...frames, { ...frame, choices: [], usage: usageOf(result) }] : frames);
}
