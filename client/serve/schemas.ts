import { z } from "zod";
import type { HttpRequest } from "../../edge/http";
import { invalid, OpenAiError, zodMessage } from "./errors";

/** The OpenAI request bodies the proxy accepts, and how they are read. */

const TextPart = z.object({ type: z.literal("text"), text: z.string() });
const Content = z.union([z.string(), z.array(z.union([TextPart, z.object({ type: z.string() }).loose()])).min(1)]);

const ChatMessage = z.object({
  // "developer" is OpenAI's newer name for the system role.
  role: z.enum(["system", "developer", "user", "assistant"], {
    error: "role must be system, developer, user or assistant (tool messages are not supported)",
  }),
  content: Content,
});

const Sampling = {
  model: z.string({ error: "model is required" }).min(1, "model must not be empty"),
  max_tokens: z.number().int().positive().optional(),
  max_completion_tokens: z.number().int().positive().optional(),
  temperature: z.number().min(0).max(2).optional(),
  n: z.literal(1, { error: "only n = 1 is supported" }).optional(),
  stream: z.boolean().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).loose().nullable().optional(),
};

export const ChatBody = z
  .object({
    ...Sampling,
    messages: z.array(ChatMessage).min(1, "messages must hold at least one message"),
    tools: z.undefined({ error: "tools are not supported by Cocoon" }).optional(),
    functions: z.undefined({ error: "functions are not supported by Cocoon" }).optional(),
  })
  .loose();

export const CompletionBody = z
  .object({
    ...Sampling,
    prompt: z.union([z.string(), z.array(z.string()).length(1, "only one prompt per request is supported")]),
    echo: z.literal(false, { error: "echo is not supported" }).optional(),
    suffix: z.null({ error: "suffix is not supported" }).optional(),
  })
  .loose();

/** The text of a message's content (text parts only). */
export function contentText(content: z.infer<typeof Content>, at: string): string {
  if (typeof content === "string") return content;
  return content
    .map((part, i) => {
      if (part.type === "text" && typeof (part as { text?: unknown }).text === "string") return (part as { text: string }).text;
      throw invalid("unsupported_content", `${at}.content.${i}: content part type "${part.type}" is not supported (text only)`);
    })
    .join("");
}

/**
 * The request's JSON body checked against `schema`. Only `Content-Type: application/json` is
 * read: a web page can send other types cross-site without a CORS preflight.
 */
export function readJson<T>(req: HttpRequest, schema: z.ZodType<T>): T {
  if (!/^application\/json\b/.test((req.headers["content-type"] ?? "").toLowerCase())) {
    throw new OpenAiError(415, "invalid_request_error", "unsupported_media_type", 'send the body as JSON with header "Content-Type: application/json"');
  }
  let body: unknown;
  try {
    body = JSON.parse(req.body);
  } catch {
    throw invalid("invalid_json", "request body is not valid JSON");
  }
  const r = schema.safeParse(body);
  if (!r.success) throw invalid("invalid_request", zodMessage(r.error));
  return r.data;
}
