import { z } from "zod";
import type { HttpRequest } from "../../edge/http";
import { EngineExtra, extraRefusal, isExtraParam } from "../../events/engine-extra";
import { MessageName } from "../../events/envelope";
import { imageUrlProblem } from "../../events/images";
import { CustomFormatSchema, customAsFunction, customCall } from "./custom-tools";
import { invalid, OpenAiError, parseHuman, unsupported, zodMessage, zodParam } from "./errors";
import type { AskContentPart, AskMessage, ResponseFormat, Tool, ToolChoice } from "./types";

/**
 * The OpenAI request bodies the proxy accepts, and how they are read. Every field OpenAI
 * defines is read; those the proxy does not act on itself are checked as OpenAI bounds them
 * (ChatPassedOn) and travel on to the worker under their own names (`extra`), as do fields
 * OpenAI does not define (vLLM's top_k and the like). What no Cocoon answer can hold (spoken
 * audio, hosted tools) is refused by its route. Whether the model can honour a field is decided
 * per model (capabilities.ts), not here.
 */

/** Choices per request: chat asks for them in one job (n), completions run one job per prompt × n. */
export const MAX_CHOICES = 8;
/** Inputs per embeddings request (OpenAI's limit). */
export const MAX_EMBEDDING_INPUTS = 2048;

const TextPart = z.object({ type: z.literal("text"), text: z.string() });
const Part = z.union([TextPart, z.object({ type: z.string() }).loose()]);
const Content = z.union([z.string(), z.array(Part).min(1)]);

/** A call an assistant message made: of a function (JSON arguments) or of a custom tool (free-form input). */
const ToolCallSchema = z.discriminatedUnion(
  "type",
  [
    z.object({
      id: z.string().min(1),
      type: z.literal("function"),
      function: z.object({ name: z.string().min(1), arguments: z.string() }).loose(),
    }),
    z.object({
      id: z.string().min(1),
      type: z.literal("custom"),
      custom: z.object({ name: z.string().min(1), input: z.string() }).loose(),
    }),
  ],
  { error: 'a tool call\'s type must be "function" or "custom"' },
);

/**
 * An optional field inside a message, where an explicit null is the field not given (as for the
 * body's own fields, nullsAsAbsent): clients replaying a conversation send `"name": null`, `"tool_calls": null`.
 */
const nullAsAbsent = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? undefined);

/** A message's participant name, by the sealed message's rule (events/envelope.ts), refused here with its param. */
const Name = nullAsAbsent(MessageName);

const ChatMessage = z.discriminatedUnion(
  "role",
  [
    // "developer" is OpenAI's newer name for the system role.
    z.object({ role: z.enum(["system", "developer"]), content: Content, name: Name }).loose(),
    z.object({ role: z.literal("user"), content: Content, name: Name }).loose(),
    z
      .object({
        role: z.literal("assistant"),
        content: Content.nullable().optional(),
        // OpenAI's answer to a request it refused: content null, the refusal here (replayed as is).
        refusal: z.string().nullable().optional(),
        tool_calls: nullAsAbsent(z.array(ToolCallSchema)),
        name: Name,
      })
      .loose(),
    z
      .object({
        role: z.literal("tool"),
        content: Content,
        tool_call_id: z.string().min(1, "tool_call_id must name the call this answers").max(256),
      })
      .loose(),
  ],
  { error: "role must be system, developer, user, assistant or tool" },
);

const ToolSchema = z.discriminatedUnion(
  "type",
  [
    z.object({
      type: z.literal("function"),
      function: z
        .object({
          name: z.string().min(1).max(256),
          description: z.string().max(8192).optional(),
          parameters: z.record(z.string(), z.unknown()).optional(),
          strict: z.boolean().nullable().optional(),
        })
        .loose(),
    }),
    // free-form text input (custom-tools.ts): run as a function of one string argument
    z.object({
      type: z.literal("custom"),
      custom: z
        .object({
          name: z.string().min(1).max(256),
          description: z.string().max(8192).optional(),
          format: CustomFormatSchema.optional(),
        })
        .loose(),
    }),
  ],
  { error: 'only tools of type "function" or "custom" are supported' },
);

/** A tool named inside tool_choice (allowed_tools' entries, a named choice), in chat's shape. */
const ChatToolRef = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("function"), function: z.object({ name: z.string().min(1) }).loose() }).loose(),
    z.object({ type: z.literal("custom"), custom: z.object({ name: z.string().min(1) }).loose() }).loose(),
  ],
  { error: 'type must be "function" or "custom"' },
);
const refName = (r: z.infer<typeof ChatToolRef>) => (r.type === "function" ? r.function.name : r.custom.name);

/**
 * tool_choice allowed_tools (chat's shape): the model may use only these of `tools`, "auto" (call
 * one or answer) or "required" (call at least one). Each entry names a tool as chat does.
 */
const AllowedToolsChoice = z.object({
  type: z.literal("allowed_tools"),
  allowed_tools: z.object({
    mode: z.enum(["auto", "required"]),
    tools: z.array(ChatToolRef).min(1, "tool_choice.allowed_tools.tools must name at least one tool").max(128),
  }),
});

/**
 * Read as far as its `type` here; chatTools then reads an object by the schema of its type, so
 * that a refusal names the field inside it (tool_choice.allowed_tools.mode) rather than a union's
 * "must be auto, none or required".
 */
const ToolChoiceSchema = z.union([z.enum(["auto", "none", "required"]), z.object({ type: z.string() }).loose()]);

const ResponseFormatSchema = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("text") }),
    z.object({ type: z.literal("json_object") }),
    z.object({
      type: z.literal("json_schema"),
      json_schema: z
        .object({
          name: z.string().min(1).max(256),
          description: z.string().max(8192).optional(),
          schema: z.record(z.string(), z.unknown()).optional(),
          strict: z.boolean().nullable().optional(),
        })
        .loose(),
    }),
  ],
  { error: 'response_format.type must be "text", "json_object" or "json_schema"' },
);

const Stop = z
  .union([z.string().min(1), z.array(z.string().min(1)).max(4)], { error: "stop must be a non-empty string or at most 4 of them" })
  .nullable()
  .optional();

const Common = {
  model: z
    .string({ error: (i) => (i.input === undefined ? "model is required" : "model must be a string: a model id from GET /v1/models") })
    .min(1, "model must not be empty"),
  max_tokens: z.number().int().positive().nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  n: z
    .number()
    .int()
    .min(1)
    .max(MAX_CHOICES, `n is at most ${MAX_CHOICES} (the choices of one request, held and paid for together)`)
    .nullable()
    .optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).loose().nullable().optional(),
  stop: Stop,
  seed: z.number().int().nullable().optional(),
  user: z.string().max(256, "user is at most 256 characters").optional(),
};

/** Keys at most 64 characters, string values at most 512, at most 16 of them: OpenAI's limits, also on /v1/responses. */
const Metadata = z
  .record(z.string().max(64, "metadata keys are at most 64 characters"), z.string().max(512, "metadata values are at most 512 characters"))
  .refine((m) => Object.keys(m).length <= 16, "metadata holds at most 16 keys")
  .nullable()
  .optional();

const Penalty = z.number().min(-2).max(2).nullable().optional();

/**
 * OpenAI's sampling fields the proxy does not act on itself, shared by chat and text completions:
 * checked as OpenAI checks them, and passed on to the worker as sent (extraFields). Unchecked, a
 * value OpenAI refuses (a penalty of 5, a bias keyed by a word) went to the worker, where an
 * engine refused it only after the job was held (vLLM; the embedded engine, which applies them)
 * or answered as if it were fine (the built-in engine, which ignores them).
 */
export const SamplingPassedOn = {
  frequency_penalty: Penalty,
  presence_penalty: Penalty,
  logit_bias: z
    .record(z.string(), z.number().min(-100).max(100))
    .refine((b) => Object.keys(b).every((k) => /^\d+$/.test(k)), "logit_bias keys must be token ids (integers, as strings)")
    .nullable()
    .optional(),
} satisfies z.ZodRawShape;

/**
 * Chat's further fields that the proxy checks but does not act on, passed on as sent. Their
 * values are not narrowed further where OpenAI adds new ones (reasoning_effort, service_tier,
 * verbosity): the worker's engine judges those. `modalities` may name "audio" here: it is refused
 * in chat-completions.ts with what it asks for, rather than as a malformed value.
 */
export const ChatPassedOn = {
  ...SamplingPassedOn,
  metadata: Metadata,
  store: z.boolean().nullable().optional(),
  reasoning_effort: z.string().nullable().optional(),
  service_tier: z.string().nullable().optional(),
  verbosity: z.string().nullable().optional(),
  prompt_cache_key: z.string().nullable().optional(),
  safety_identifier: z.string().nullable().optional(),
  modalities: z
    .array(z.enum(["text", "audio"]))
    .nullable()
    .optional(),
  prediction: z
    .object({ type: z.literal("content"), content: z.union([z.string(), z.array(TextPart).min(1)]) })
    .nullable()
    .optional(),
} satisfies z.ZodRawShape;

export const ChatBody = z
  .object({
    ...Common,
    ...ChatPassedOn,
    messages: z.array(ChatMessage).min(1, "messages must hold at least one message"),
    max_completion_tokens: z.number().int().positive().nullable().optional(),
    // The sealed request's limits (events/envelope.ts), so a request past them is a 400 here, not a failed job.
    tools: z.array(ToolSchema).max(128, "at most 128 tools").optional(),
    tool_choice: ToolChoiceSchema.optional(),
    parallel_tool_calls: z.boolean().optional(),
    response_format: ResponseFormatSchema.optional(),
    logprobs: z.boolean().nullable().optional(),
    top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
    // Refused when given (chat-completions.ts refuseUnanswered); named here so that a null is not given.
    functions: z.unknown().optional(),
    function_call: z.unknown().optional(),
    audio: z.unknown().optional(),
    web_search_options: z.unknown().optional(),
  })
  .loose();
export type ChatBody = z.infer<typeof ChatBody>;

const TokenIds = z.array(z.number().int().nonnegative());

export const CompletionBody = z
  .object({
    ...Common,
    // No cap on the strings here: past the cap the shape is right and the count is wrong, which
    // completions.ts says (a union's failure would call the array malformed).
    prompt: z.union([z.string(), z.array(z.string()).min(1), TokenIds.min(1), z.array(TokenIds.min(1)).min(1)], {
      error: "prompt must be a string, an array of strings, or token ids",
    }),
    echo: z.boolean().nullable().optional(),
    suffix: z.string().nullable().optional(),
    best_of: z.number().int().min(1).nullable().optional(),
    logprobs: z.number().int().min(0).max(5).nullable().optional(),
    ...SamplingPassedOn,
  })
  .loose();
export type CompletionBody = z.infer<typeof CompletionBody>;

export const EmbeddingsBody = z
  .object({
    model: Common.model,
    input: z.union(
      [
        z.string().min(1, "input must not be an empty string"),
        z.array(z.string().min(1, "input must not hold an empty string")).min(1).max(MAX_EMBEDDING_INPUTS),
        TokenIds.min(1),
        z.array(TokenIds.min(1)).min(1).max(MAX_EMBEDDING_INPUTS),
      ],
      {
        error: `input must be a string, an array of strings, an array of token ids or an array of such arrays (none empty), at most ${MAX_EMBEDDING_INPUTS} inputs`,
      },
    ),
    encoding_format: z.enum(["float", "base64"], { error: 'encoding_format must be "float" or "base64"' }).optional(),
    dimensions: z.number().int().positive().optional(),
    user: z.string().optional(),
  })
  .loose();
export type EmbeddingsBody = z.infer<typeof EmbeddingsBody>;

/**
 * The fields of `body` the proxy does not act on itself: they go to the worker as sent, those of
 * `passedOn` too (fields the schema checks but the proxy does not act on). review41: only the
 * engine parameters the network passes on (events/engine-extra.ts); any other is a 400 naming it
 * here, before a quote (the SDK and the worker would refuse it too, the worker after the job was
 * held). OpenAI itself refuses a field it does not know with a 400.
 */
export function extraFields(
  body: Record<string, unknown>,
  schema: z.ZodObject,
  passedOn: z.ZodRawShape = {},
): Record<string, unknown> | undefined {
  const known = new Set(Object.keys(schema.shape).filter((k) => !Object.hasOwn(passedOn, k)));
  const extra = Object.fromEntries(Object.entries(body).filter(([k]) => !known.has(k)));
  refuseUnpassed(extra);
  return Object.keys(extra).length ? extra : undefined;
}

/** A 400 naming the first field of `extra` the network does not pass on to engines, or of a type it does not take. */
function refuseUnpassed(extra: Record<string, unknown>): void {
  const checked = EngineExtra.safeParse(extra);
  if (checked.success) return;
  const issue = checked.error.issues[0]!;
  const name = String(issue.path[0] ?? "");
  if (!isExtraParam(name)) throw unsupported(name, extraRefusal(name));
  throw invalid("invalid_request", issue.message, name);
}

/**
 * The text of a message's content (text parts only; for an assistant, also `refusal` parts: an
 * answer the model refused comes back that way when an app replays the conversation, as OpenAI
 * takes it; its other shape, a `refusal` field beside null content, is read in askMessages).
 */
export function contentText(content: z.infer<typeof Content> | null | undefined, at: string, assistant = false): string {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  return partsText(content, `${at}.content`, assistant, ["text"]);
}

/** A user message's content: its text, or with images its parts (chat's image_url parts). */
function userContent(content: z.infer<typeof Content>, at: string): string | AskContentPart[] {
  return typeof content === "string" ? content : contentParts(content, `${at}.content`, ["text"], "image_url");
}

/**
 * The text of a list of content parts, `at` the list's path: parts of the text types given (chat's
 * "text", the Responses API's "input_text" and "output_text"), and for an assistant its `refusal`
 * parts; any other part (an image outside a user message, a file, audio) is a 400 naming it.
 */
export function partsText(
  parts: ReadonlyArray<{ type: string; text?: unknown; refusal?: unknown }>,
  at: string,
  assistant: boolean,
  textTypes: readonly string[],
): string {
  return parts
    .map((part, i) => {
      if (textTypes.includes(part.type) && typeof part.text === "string") return part.text;
      if (assistant && part.type === "refusal" && typeof part.refusal === "string") return part.refusal;
      const image = part.type === "image_url" || part.type === "input_image";
      throw invalid(
        "unsupported_content",
        `${at}.${i}: content part type "${part.type}" is not supported ${image ? "here (images are taken in user messages only)" : "(text and images only)"}`,
        `${at}.${i}`,
      );
    })
    .join("");
}

/**
 * A user message's parts, `at` the list's path: its text when it holds no image (the sealed
 * request is then as before images), else each part as the network seals it, in order (so a
 * part's index is the request's own, for a 400's `param`). `imageType`: chat's "image_url"
 * ({image_url: {url, detail}}, or a bare URL string as some clients send) or the Responses
 * API's "input_image" ({image_url, detail}). Only data: URLs are taken (events/envelope.ts
 * imageUrlProblem): a remote one is 400 remote_image_url, a malformed one 400 invalid_image_url.
 * Whether the model reads images is checked with the rest of its capabilities (checkChat).
 */
export function contentParts(
  parts: ReadonlyArray<Record<string, unknown> & { type: string }>,
  at: string,
  textTypes: readonly string[],
  imageType: "image_url" | "input_image",
): string | AskContentPart[] {
  if (!parts.some((p) => p.type === imageType)) return partsText(parts, at, false, textTypes);
  return parts.map((part, i): AskContentPart => {
    const where = `${at}.${i}`;
    if (part.type !== imageType) return { type: "text", text: partsText([part], where, false, textTypes) };
    const raw = part.image_url;
    const { url, detail } = (
      typeof raw === "string" ? { url: raw, detail: part.detail } : typeof raw === "object" && raw !== null ? raw : {}
    ) as { url?: unknown; detail?: unknown };
    if (typeof url !== "string") {
      const file = imageType === "input_image" && part.file_id != null;
      throw invalid(
        file ? "unsupported_content" : "invalid_request",
        file
          ? `${where}: file_id is not supported: Cocoon stores no files; send the image as a data: URL in image_url`
          : `${where}: an ${imageType} part needs image_url${imageType === "image_url" ? ".url" : ""}: a data:image/(png|jpeg|webp|gif);base64 URL`,
        where,
      );
    }
    const problem = imageUrlProblem(url);
    if (problem) throw invalid(problem.code, `${where}: ${problem.message}`, where);
    if (detail != null && detail !== "auto" && detail !== "low" && detail !== "high")
      throw invalid("invalid_request", `${where}: detail must be "auto", "low" or "high"`, where);
    return { type: "image_url", image_url: { url, ...(detail != null ? { detail } : {}) } };
  });
}

/** The conversation in the network's terms. */
export function askMessages(messages: ChatBody["messages"]): AskMessage[] {
  return messages.map((m, i) => {
    const at = `messages.${i}`;
    switch (m.role) {
      case "system":
      case "developer":
        return { role: "system", content: contentText(m.content, at), ...(m.name ? { name: m.name } : {}) };
      case "user":
        return { role: "user", content: userContent(m.content, at), ...(m.name ? { name: m.name } : {}) };
      case "assistant":
        return {
          role: "assistant",
          content: contentText(m.content, at, true) || (m.refusal ?? ""),
          ...(m.tool_calls?.length
            ? {
                toolCalls: m.tool_calls.map((c) =>
                  c.type === "custom"
                    ? customCall(c.id, c.custom.name, c.custom.input)
                    : { id: c.id, type: "function" as const, function: { name: c.function.name, arguments: c.function.arguments } },
                ),
              }
            : {}),
          ...(m.name ? { name: m.name } : {}),
        };
      case "tool":
        return { role: "tool", content: contentText(m.content, at), toolCallId: m.tool_call_id };
    }
  });
}

export const asTools = (tools: ChatBody["tools"]): Tool[] | undefined =>
  tools?.map((t, i) =>
    t.type === "custom"
      ? customAsFunction(t.custom, `tools.${i}.custom.format`)
      : {
          type: "function",
          function: {
            name: t.function.name,
            ...(t.function.description !== undefined ? { description: t.function.description } : {}),
            ...(t.function.parameters !== undefined ? { parameters: t.function.parameters } : {}),
            ...(t.function.strict !== undefined ? { strict: t.function.strict } : {}),
          },
        },
  );

/**
 * The names of a request's custom tools, whose calls are answered as custom tool calls. A custom
 * tool's name given to another tool too is a 400 naming the second: a call of it could not be told
 * apart (function names given twice stay the engine's to judge, as before custom tools).
 */
export function customNames(tools: ReadonlyArray<{ name: string; custom: boolean }>, param: (i: number) => string): Set<string> {
  const seen = new Map<string, boolean>();
  tools.forEach((t, i) => {
    const before = seen.get(t.name);
    if (before !== undefined && (before || t.custom))
      throw invalid(
        "invalid_request",
        `${param(i)}: the name ${JSON.stringify(t.name)} is given to a custom tool and another tool`,
        param(i),
      );
    seen.set(t.name, t.custom);
  });
  return new Set(tools.filter((t) => t.custom).map((t) => t.name));
}

/**
 * The tools a job is given and its tool_choice, from the request's tools and tool_choice: an
 * allowed_tools choice (chat's or the Responses API's, read to `allowed`) narrows the tools to the
 * ones it names and becomes its mode ("auto" or "required"), so that the engine, which knows no
 * allowed_tools, can only call those. A name that is not among `tools` is a 400 naming its entry
 * (`at(i)`), as OpenAI answers a tool_choice naming a function that is not in tools.
 */
export function allowedTools(
  tools: Tool[] | undefined,
  allowed: { mode: "auto" | "required"; names: string[] },
  at: (i: number) => string,
): { tools: Tool[]; toolChoice: "auto" | "required" } {
  const given = new Set((tools ?? []).map((t) => t.function.name));
  allowed.names.forEach((name, i) => {
    if (!given.has(name)) throw invalid("invalid_request", `${at(i)} names the tool ${JSON.stringify(name)}, which is not in tools`, at(i));
  });
  const names = new Set(allowed.names);
  return { tools: (tools ?? []).filter((t) => names.has(t.function.name)), toolChoice: allowed.mode };
}

/**
 * Chat's tools and tool_choice as the job takes them (allowedTools for an allowed_tools choice; a
 * custom tool as a function, custom-tools.ts), and the names of the custom tools among them.
 */
export function chatTools(body: Pick<ChatBody, "tools" | "tool_choice">): {
  tools?: Tool[];
  toolChoice?: ToolChoice;
  custom: Set<string>;
} {
  const custom = customNames(
    (body.tools ?? []).map((t) => ({ name: t.type === "custom" ? t.custom.name : t.function.name, custom: t.type === "custom" })),
    (i) => `tools.${i}`,
  );
  const tools = asTools(body.tools);
  const given = { ...(tools ? { tools } : {}), custom };
  const c = body.tool_choice;
  if (c === undefined || typeof c === "string") return { ...given, ...(c !== undefined ? { toolChoice: c } : {}) };
  if (c.type === "allowed_tools") {
    const { allowed_tools: a } = parseAt(AllowedToolsChoice, c, "tool_choice");
    return { ...allowedTools(tools, { mode: a.mode, names: a.tools.map(refName) }, (i) => `tool_choice.allowed_tools.tools.${i}`), custom };
  }
  if (c.type !== "function" && c.type !== "custom")
    throw unsupported(
      "tool_choice",
      `tool_choice of type ${JSON.stringify(c.type)} is not supported: name a function or a custom tool, use allowed_tools, or auto, none or required`,
    );
  // a named custom tool is called as the function it travels as
  const name = refName(parseAt(ChatToolRef, c, "tool_choice"));
  return { ...given, toolChoice: { type: "function", function: { name } } };
}

/** A value inside the body read by its own schema; a refusal names the field inside it (input.2.call_id, tool_choice.mode). */
export function parseAt<S extends z.ZodType>(schema: S, value: unknown, at: string): z.infer<S> {
  const r = parseHuman(schema, value);
  if (r.success) return r.data;
  throw invalid("invalid_request", zodMessage(r.error, at), zodParam(r.error, at));
}

export const asResponseFormat = (f: ChatBody["response_format"]): ResponseFormat | undefined => f as ResponseFormat | undefined;

export const asStop = (stop: string | string[] | null | undefined): string[] | undefined =>
  stop === null || stop === undefined ? undefined : typeof stop === "string" ? [stop] : stop.length ? stop : undefined;

/** Levels of objects and arrays a request body may have (a tool's JSON schema needs a few dozen at most). */
export const MAX_JSON_DEPTH = 256;

/** Whether a parsed JSON value nests objects and arrays more than `max` levels deep (walked without recursion). */
function deeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth > max) return true;
    for (const child of Object.values(v)) if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * The request's JSON body checked against `schema`. Only `Content-Type: application/json` is
 * read: a web page can send other types cross-site without a CORS preflight.
 */
export function readJson<S extends z.ZodType>(req: HttpRequest, schema: S): { body: z.infer<S>; raw: Record<string, unknown> } {
  const type = req.headers["content-type"] ?? "";
  if (!/^application\/json\b/.test(type.toLowerCase())) {
    // the media type as sent, without its parameters and at most 64 characters, so the app sees what it sent
    const sent = type.split(";")[0]!.trim().slice(0, 64);
    throw new OpenAiError(
      415,
      "invalid_request_error",
      "unsupported_media_type",
      `${sent ? `Content-Type "${sent}" is not JSON` : "the request has no Content-Type"}: send the body as JSON with header "Content-Type: application/json"`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(req.body);
  } catch {
    throw invalid("invalid_json", "request body is not valid JSON");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw invalid("invalid_request", "request body must be a JSON object");
  // JSON.parse takes any depth, but the SDK serialises what it sends (tool schemas, response
  // formats: z.unknown() inside), and JSON.stringify overflows the stack on a value thousands deep:
  // a 500 of "the proxy's own" for what is the request's fault.
  if (deeperThan(raw, MAX_JSON_DEPTH))
    throw invalid("invalid_request", `request body is nested too deeply: at most ${MAX_JSON_DEPTH} levels of objects and arrays`);
  const body = nullsAsAbsent(raw as Record<string, unknown>, schema);
  const r = parseHuman(schema, body);
  if (!r.success) throw invalid("invalid_request", zodMessage(r.error), zodParam(r.error));
  return { body: r.data, raw: body };
}

/**
 * `body` without the explicit nulls on its optional fields: client libraries (LangChain, LiteLLM,
 * older openai-python, the Vercel AI SDK) send `"stop": null`, `"user": null` and the like for a
 * field left unset, and api.openai.com takes them as not given, so the proxy does too, in this one
 * place, before the schema reads the body, so that a null reaches neither the job nor the worker
 * (`extra`) and behaves exactly as an absent field. A required field keeps its null (still a 400
 * naming it), as does a field the schema does not define (sent on as is).
 */
export function nullsAsAbsent(body: Record<string, unknown>, schema: z.ZodType): Record<string, unknown> {
  if (!(schema instanceof z.ZodObject)) return body;
  const shape = schema.shape as Record<string, z.ZodType>;
  const optional = (k: string) => Object.hasOwn(shape, k) && shape[k]!.safeParse(undefined).success;
  return Object.fromEntries(Object.entries(body).filter(([k, v]) => !(v === null && optional(k))));
}

/**
 * /v1/responses (OpenAI's Responses API, the default of the openai-agents SDK and of the Vercel
 * AI SDK's openai provider). `input` items, `tools` and `tool_choice` are read here only as far
 * as their `type`: each item is then read by the schema of its type (responses.ts), so that a
 * refusal names the item and what is wrong with it rather than a union's "invalid input".
 */
const TextFormatSchema = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("text") }),
    z.object({ type: z.literal("json_object") }),
    z.object({
      type: z.literal("json_schema"),
      name: z.string().min(1).max(64),
      description: z.string().max(8192).optional(),
      schema: z.record(z.string(), z.unknown()),
      strict: z.boolean().nullable().optional(),
    }),
  ],
  { error: 'text.format.type must be "text", "json_object" or "json_schema"' },
);

const Typed = z.object({ type: z.string() }).loose();

export const ResponsesBody = z
  .object({
    model: Common.model,
    input: z.union([z.string(), z.array(z.record(z.string(), z.unknown())).min(1, "input must hold at least one item")], {
      error: "input is required: a string, or an array of input items",
    }),
    instructions: z.string().nullable().optional(),
    max_output_tokens: z.number().int().positive().nullable().optional(),
    temperature: Common.temperature,
    top_p: Common.top_p,
    tools: z.array(Typed).max(128, "at most 128 tools").optional(),
    tool_choice: z
      .union([z.enum(["auto", "none", "required"]), Typed], {
        error: 'tool_choice must be "auto", "none", "required" or {"type":"function","name":…}',
      })
      .optional(),
    parallel_tool_calls: z.boolean().nullable().optional(),
    stream: z.boolean().nullable().optional(),
    // include_obfuscation pads deltas against length side channels of OpenAI's own network; nothing to pad here.
    stream_options: z.object({}).loose().nullable().optional(),
    metadata: Metadata,
    user: z.string().max(256, "user is at most 256 characters").optional(),
    store: z.boolean().nullable().optional(),
    previous_response_id: z.string().nullable().optional(),
    conversation: z.unknown().optional(),
    prompt: z.unknown().optional(),
    background: z.boolean().nullable().optional(),
    include: z.array(z.string()).nullable().optional(),
    text: z
      .object({ format: TextFormatSchema.optional(), verbosity: z.enum(["low", "medium", "high"]).nullable().optional() })
      .loose()
      .nullable()
      .optional(),
    truncation: z.enum(["auto", "disabled"]).nullable().optional(),
    reasoning: z.object({ effort: z.string().nullable().optional() }).loose().nullable().optional(),
    top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  })
  .loose();
export type ResponsesBody = z.infer<typeof ResponsesBody>;

/** A message item's content: text, or parts whose kind responses.ts checks (text kinds only). */
const ItemContent = z.union(
  [z.string(), z.array(z.object({ type: z.string(), text: z.string().optional(), refusal: z.string().optional() }).loose())],
  {
    error: "content must be a string or an array of content parts",
  },
);

/** One schema per input item type the proxy reads; `type` is optional on messages (OpenAI's EasyInputMessage). */
export const InputItems = {
  message: z
    .object({
      type: z.literal("message").optional(),
      role: z.enum(["user", "assistant", "system", "developer"], { error: "role must be user, assistant, system or developer" }),
      content: ItemContent,
    })
    .loose(),
  function_call: z
    .object({
      type: z.literal("function_call"),
      call_id: z.string().min(1, "call_id must not be empty").max(256),
      name: z.string().min(1, "name must not be empty").max(256),
      arguments: z.string(),
    })
    .loose(),
  item_reference: z
    .object({
      type: z.literal("item_reference"),
      id: z.string().min(1, "id must name an item").max(256),
    })
    .loose(),
  function_call_output: z
    .object({
      type: z.literal("function_call_output"),
      call_id: z.string().min(1, "call_id must name the call this answers").max(256),
      output: ItemContent,
    })
    .loose(),
  // a custom tool's call and its answer (custom-tools.ts): the function call and tool message they travel as
  custom_tool_call: z
    .object({
      type: z.literal("custom_tool_call"),
      call_id: z.string().min(1, "call_id must not be empty").max(256),
      name: z.string().min(1, "name must not be empty").max(256),
      input: z.string(),
    })
    .loose(),
  custom_tool_call_output: z
    .object({
      type: z.literal("custom_tool_call_output"),
      call_id: z.string().min(1, "call_id must name the call this answers").max(256),
      output: ItemContent,
    })
    .loose(),
} as const;

/** A custom tool (free-form text input), in the Responses API's flat shape. */
export const CustomToolSchema = z
  .object({
    type: z.literal("custom"),
    name: z.string().min(1).max(256),
    description: z.string().max(8192).nullable().optional(),
    format: CustomFormatSchema.nullable().optional(),
  })
  .loose();

/** A function the model may call, in the Responses API's flat shape (chat nests it under `function`). */
export const FunctionToolSchema = z
  .object({
    type: z.literal("function"),
    name: z.string().min(1).max(256),
    description: z.string().max(8192).nullable().optional(),
    parameters: z.record(z.string(), z.unknown()).nullable().optional(),
    strict: z.boolean().nullable().optional(),
  })
  .loose();

/** The Responses API's tool_choice allowed_tools: flat (mode and tools beside type), each tool named as its tools are. */
export const AllowedToolsChoiceSchema = z
  .object({
    type: z.literal("allowed_tools"),
    mode: z.enum(["auto", "required"]),
    tools: z
      .array(z.object({ type: z.enum(["function", "custom"]), name: z.string().min(1) }).loose())
      .min(1, "tool_choice.tools must name at least one tool")
      .max(128),
  })
  .loose();

/** tool_choice naming one function or custom tool (the Responses API's flat shape). */
export const FunctionChoiceSchema = z
  .object({ type: z.enum(["function", "custom"]), name: z.string().min(1, "tool_choice.name must name a tool") })
  .loose();
