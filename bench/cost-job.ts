/**
 * The cost model's measured job at the workload's sizes (issue 12, cost honesty): DynamoDB bills
 * a write per started KB of the item, so the items that carry the sealed prompt (the envelope)
 * and the sealed answer (the reply) are priced only as large as the measured job makes them.
 * Before this, the job asked a 47-character question of the null engine, which answers "": both
 * items were priced at their framing alone.
 *
 * - measuredMessages(): a chat request of WORKLOAD.promptBytes of text, shaped as a chat client
 *   sends one (a short system message, one earlier exchange, the new question).
 * - sizedEngine(): a bench-only engine (not a model) that answers WORKLOAD.answerBytes of text
 *   through the real agent path, streamed in pieces of one chunk's worth of text
 *   (textBytesPerSecond × chunkSeconds: what the agent sends as one relay chunk).
 */
import { EngineError, type Engine, type EngineRequest, type EngineResult } from "../agent/engines/engine";

/** What the engine's name says: bench only, not a model. */
export const SIZED_ENGINE_NAME = "bench sized answer (not a model)";

/** Bytes a token of English text takes, about: the engine's usage, and so the job's bill (not its item sizes). */
const BYTES_PER_TOKEN = 4;

/** ASCII text of exactly `bytes` bytes (words, so a tokenizer sees words): deterministic. */
export function filler(bytes: number, words = "the quick brown fox jumps over the lazy dog and asks again "): string {
  return words.repeat(Math.ceil(bytes / words.length)).slice(0, bytes);
}

/** UTF-8 bytes of a request's message texts (what WORKLOAD.promptBytes counts). */
export const promptBytesOf = (messages: Array<{ content: string }>) => messages.reduce((n, m) => n + Buffer.byteLength(m.content), 0);

/**
 * A chat request of `promptBytes` bytes of text: a system message (400 B), an earlier question
 * (300 B) and its answer (the rest, less the new question), the new question (300 B).
 */
export function measuredMessages(promptBytes: number): Array<{ role: "system" | "user" | "assistant"; content: string }> {
  const system = 400;
  const question = 300;
  const earlier = promptBytes - system - 2 * question;
  if (earlier < 0) throw new Error(`a prompt of ${promptBytes} bytes is smaller than its system message and two questions`);
  return [
    { role: "system", content: filler(system, "You are a concise assistant. Answer in plain prose. ") },
    { role: "user", content: filler(question, "What happens in the first act of Hamlet? ") },
    { role: "assistant", content: filler(earlier) },
    { role: "user", content: filler(question, "Summarise the plot of Hamlet in two sentences. ") },
  ];
}

/**
 * An engine (bench only, not a model) that answers `answerBytes` bytes of text, at most its
 * request's maxTokens (BYTES_PER_TOKEN a token), streamed `chunkBytes` at a time: the agent's
 * chunk writer then cuts the streamed answer as it would a real engine's of that pace.
 */
export function sizedEngine(o: { answerBytes: number; chunkBytes: number; models: string[] }): Engine {
  if (!(o.chunkBytes > 0)) throw new Error(`chunkBytes must be positive, got ${o.chunkBytes}`);
  const answer = (req: EngineRequest): EngineResult => {
    if (!o.models.includes(req.model)) throw new EngineError("model_not_served", `model "${req.model}" is not served`);
    const bytes = Math.min(o.answerBytes, req.maxTokens * BYTES_PER_TOKEN);
    const prompt = req.messages.reduce((n, m) => n + Buffer.byteLength(typeof m.content === "string" ? m.content : ""), 0);
    return {
      text: filler(bytes),
      usage: { promptTokens: Math.ceil(prompt / BYTES_PER_TOKEN), completionTokens: Math.ceil(bytes / BYTES_PER_TOKEN) },
      finishReason: bytes < o.answerBytes ? "length" : "stop",
      engine: SIZED_ENGINE_NAME,
    };
  };
  return {
    name: SIZED_ENGINE_NAME,
    models: async () => [...o.models],
    generate: async (req) => answer(req),
    async *stream(req) {
      const result = answer(req);
      for (let i = 0; i < result.text.length; i += o.chunkBytes) yield { type: "delta", text: result.text.slice(i, i + o.chunkBytes) };
      yield { type: "done", result };
    },
  };
}
