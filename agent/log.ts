/**
 * The agent's structured log: one JSON object per line (time, level, msg, fields), for
 * journald, Docker or any collector. The host reads this log, so it must never carry a prompt
 * or an answer: callers log ids, codes and counts only, and as a second line of defence the
 * fields that could hold request or reply text are replaced and long strings are cut.
 */
import type { AgentLog } from "./execute";

export type LogLevel = "info" | "warn" | "error";

export interface StructuredLog extends AgentLog {
  error(msg: string, data?: Record<string, unknown>): void;
}

/** Field names that could carry a request's or a reply's text: never written. */
const TEXT_FIELDS = new Set([
  "prompt",
  "messages",
  "message_content",
  "content",
  "text",
  "answer",
  "reply",
  "plaintext",
  "completion",
  "output",
  "input",
  // What later work carried in the same requests and answers (session 31 privacy review): the
  // model's thinking, tool calls' arguments, stream deltas, the Responses API's instructions,
  // stop strings, log probabilities (each names its token), and OpenAI's end-user id.
  "reasoning",
  "reasoning_content",
  "arguments",
  "tool_calls",
  "toolcalls",
  "delta",
  "instructions",
  "system",
  "stop",
  "logprobs",
  "user",
  // And what came after it (session 42 privacy review): tool definitions, embedding vectors (which
  // can be inverted back to their text), images, response schemas and the pass-through fields a
  // requester fills with their own text or ids.
  "tools",
  "embedding",
  "embeddings",
  "vectors",
  "image_url",
  "response_format",
  "metadata",
  "safety_identifier",
  "prompt_cache_key",
]);
/** Longer strings are cut: an id, a code or an error message fits; a pasted document does not. */
const MAX_STRING = 300;

function clean(v: unknown, depth = 0): unknown {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "string") return v.length > MAX_STRING ? `${v.slice(0, MAX_STRING)}…` : v;
  if (v instanceof Error) return clean(v.message, depth);
  if (v === null || typeof v !== "object") return v;
  // Bytes (a Buffer, a plaintext before it is parsed) would be written out one number a key:
  // their count is all a log line needs (session 23 privacy review).
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return `[${v.byteLength} bytes withheld]`;
  // Deeper than any field a caller means to log: not walked, so not written (it was written whole,
  // text fields and long strings included).
  if (depth > 3) return "[nested: withheld]";
  if (Array.isArray(v)) return v.slice(0, 20).map((x) => clean(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = TEXT_FIELDS.has(k.toLowerCase()) ? "[withheld]" : clean(x, depth + 1);
  return out;
}

/**
 * A StructuredLog writing JSON lines to `write` (process.stdout by default). `onWarn` sees every
 * warn and error (the status's "last error").
 */
export function jsonLog(
  o: { write?: (line: string) => void; now?: () => number; onWarn?: (msg: string, data: Record<string, unknown>) => void } = {},
): StructuredLog {
  const write = o.write ?? ((line: string) => void process.stdout.write(line));
  const now = o.now ?? Date.now;
  const put =
    (level: LogLevel) =>
    (msg: string, data: Record<string, unknown> = {}) => {
      const fields = clean(data) as Record<string, unknown>;
      if (level !== "info") o.onWarn?.(msg, fields);
      write(JSON.stringify({ time: new Date(now()).toISOString(), level, msg, ...fields }) + "\n");
    };
  return { info: put("info"), warn: put("warn"), error: put("error") };
}
