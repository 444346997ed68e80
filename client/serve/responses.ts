import { randomBytes } from "node:crypto";
import type { HttpRequest, HttpResponse } from "../../edge/http";
import {
  cocoonFacts,
  jobItems,
  jsonAnswer,
  openStream,
  reasoningTokensOf,
  streamHeaders,
  streamOf,
  type JobItem,
  type OpenedStream,
} from "./answer";
import { chatAsk } from "./chat-completions";
import { customAsFunction, customCall, customInputOf } from "./custom-tools";
import { invalid, unsupported } from "./errors";
import type { ItemStore, StoredItem } from "./items";
import {
  allowedTools,
  AllowedToolsChoiceSchema,
  contentParts,
  customNames,
  CustomToolSchema,
  extraFields,
  FunctionChoiceSchema,
  FunctionToolSchema,
  InputItems,
  parseAt,
  partsText,
  readJson,
  ResponsesBody,
} from "./schemas";
import type { AskMessage, AskResult, OpenAiErrorMapping, ProxyContext, ResponseFormat, Tool, ToolCall, ToolChoice } from "./types";

/**
 * POST /v1/responses: OpenAI's Responses API over the chat path. One request is one chat job:
 * `instructions` and the `input` items become the conversation (function_call and
 * function_call_output items the tool round trip), function `tools` the chat's tools,
 * `text.format` its response_format. Only this process's memory keeps what it answered (items.ts),
 * for a later item_reference or previous_response_id; what would need storage at OpenAI
 * (conversation objects, prompt templates, background runs) is a 400 naming it. Hosted tools (web_search, file_search…)
 * have nothing to run them here and are refused likewise. `stream: true` relays the network's
 * stream as the Responses API's semantic events.
 */
export async function responses(req: HttpRequest, ctx: ProxyContext): Promise<HttpResponse> {
  const { body, raw } = readJson(req, ResponsesBody);
  refuseStored(body);
  refuseUnreturned(body);
  refuseOversizedReferences(body, ctx.items);
  // `input`: the request's items as read, references replaced by what they named, kept for a later
  // previous_response_id (read now: by the time the answer comes, other requests may have pushed
  // what they name out, and a chain must not depend on them).
  const { messages, params, input } = conversation(body, ctx.items, earlier(body, ctx.items));
  // every tool is echoed as the app gave it; the job gets those an allowed_tools choice leaves
  const { tools: given, custom, echo } = toolsOf(body.tools);
  const { tools, toolChoice } = toolsAndChoice(given, body.tool_choice);
  const responseFormat = formatOf(body.text?.format);
  const extra = { ...extraFields(raw, ResponsesBody), ...chatNamed(body) };
  const ask = await chatAsk(
    {
      model: body.model,
      messages,
      ...(tools ? { tools } : {}),
      ...(toolChoice !== undefined ? { toolChoice } : {}),
      ...(body.parallel_tool_calls != null ? { parallelToolCalls: body.parallel_tool_calls } : {}),
      ...(responseFormat ? { responseFormat } : {}),
      ...(body.max_output_tokens != null ? { maxTokens: body.max_output_tokens } : {}),
      maxTokensParam: "max_output_tokens",
      n: 1,
      ...(body.temperature != null ? { temperature: body.temperature } : {}),
      ...(body.top_p != null ? { topP: body.top_p } : {}),
      ...(body.user !== undefined ? { user: body.user } : {}),
      ...(Object.keys(extra).length ? { extra } : {}),
      messagesParam: "input",
      messageParam: (i) => params[i]!,
      responseFormatParam: "text.format",
    },
    ctx,
    req.signal,
  );
  const head = echoOf(body, echo, Math.floor(ctx.now() / 1000));

  // The answer's items, kept for a later item_reference, and the response itself (what was asked
  // and answered) for a later previous_response_id, unless the app said not to store them.
  const remember = (id: string, output: Item[]) => {
    if (body.store === false || !ctx.items) return;
    ctx.items.remember(output);
    ctx.items.remember([{ id, type: "response", previous: body.previous_response_id ?? null, input, output }]);
  };
  if (body.stream === true) {
    const stream = await openStream(streamOf(ctx.ask, ctx.askStream, ask));
    const id = newId("resp");
    return eventStream(head, id, stream, ctx, req.signal, custom, (output) => remember(id, output));
  }
  const result = await ctx.ask(ask);
  const status = statusOf(result);
  const done = Math.floor(ctx.now() / 1000);
  const output = outputOf(result, itemStatusOf(status), custom);
  const id = newId("resp");
  remember(id, output);
  return jsonAnswer([result], finished(head, id, status, output, result, done));
}

/**
 * The items of the responses a previous_response_id chains to, oldest first: each one's input and
 * output, as OpenAI carries them over (not their instructions). Only responses this proxy answered
 * and keeps (items.ts); one it does not keep is a 400 naming it, as OpenAI answers an unknown one.
 */
function earlier(body: ResponsesBody, items: ItemStore | undefined): Array<Record<string, unknown>> {
  const chain: StoredItem[] = [];
  for (let id = body.previous_response_id ?? null; id !== null;) {
    const r = items?.recall(id);
    if (r?.type !== "response")
      throw invalid(
        "previous_response_not_found",
        `previous_response_id: the response ${JSON.stringify(id)} is no response this proxy answered since it started (it keeps the latest in memory only, and none of a request with store: false): send the whole conversation in input`,
        "previous_response_id",
      );
    chain.unshift(r);
    id = typeof r.previous === "string" ? r.previous : null;
  }
  return chain.flatMap((r) => [...(r.input as Array<Record<string, unknown>>), ...(r.output as Array<Record<string, unknown>>)]);
}

/**
 * What a request's item_references may add to it once read, bytes: the proxy's whole body cap.
 * Each reference is copied where it stands, so a 4 MiB body could name one large answer tens of
 * thousands of times and take gigabytes before the prompt's cap (a few hundred KB) is checked.
 */
export const MAX_REFERENCED_BYTES = 4 * 1024 * 1024;

/** A 400 context_length_exceeded (the conversation is too long, as OpenAI answers it) before any reference is copied. */
function refuseOversizedReferences(body: ResponsesBody, items: ItemStore | undefined) {
  if (typeof body.input === "string" || !items) return;
  let bytes = 0;
  for (const i of body.input) {
    if (i.type !== "item_reference" || typeof i.id !== "string") continue;
    bytes += items.bytesOf(i.id) ?? 0;
    if (bytes > MAX_REFERENCED_BYTES)
      throw invalid(
        "context_length_exceeded",
        `input: its item_references name more than ${MAX_REFERENCED_BYTES} bytes of earlier items, far past the Cocoon network's cap on one job's prompt; send a shorter conversation`,
        "input",
      );
  }
}

/** The app's conversation lives at OpenAI when it names a stored one; Cocoon stores none, so that would be answered without it. */
function refuseStored(body: ResponsesBody) {
  const stored =
    "Cocoon stores no conversations: send the whole conversation in `input`, or chain responses of this proxy with previous_response_id";
  if (body.conversation != null) throw unsupported("conversation", `conversation is not supported: ${stored}`);
  if (body.prompt != null)
    throw unsupported("prompt", "prompt (a template stored at OpenAI) is not supported: send instructions and input");
  if (body.background === true)
    throw unsupported("background", `background is not supported: a background response is fetched later from storage, and ${stored}`);
}

/** Log probabilities are not carried into Responses output: asked for, they would silently be missing. */
function refuseUnreturned(body: ResponsesBody) {
  if (body.include?.includes("message.output_text.logprobs"))
    throw unsupported("include", "message.output_text.logprobs is not supported on /v1/responses (use /v1/chat/completions with logprobs)");
  if ((body.top_logprobs ?? 0) > 0)
    throw unsupported("top_logprobs", "top_logprobs is not supported on /v1/responses (use /v1/chat/completions with logprobs)");
}

/** Responses fields that are chat fields under another name: passed on as the engine (a chat API) knows them. */
function chatNamed(body: ResponsesBody): Record<string, unknown> {
  return {
    ...(body.reasoning?.effort != null ? { reasoning_effort: body.reasoning.effort } : {}),
    ...(body.text?.verbosity != null ? { verbosity: body.text.verbosity } : {}),
  };
}

/** The text of an item's content: the Responses API's text parts (schemas.ts partsText). */
function textOf(content: string | Array<{ type: string; text?: string; refusal?: string }>, at: string, assistant = false): string {
  return typeof content === "string" ? content : partsText(content, at, assistant, ["input_text", "output_text"]);
}

/**
 * The chat conversation of a request, for each message the request field it came from (a
 * capability refusal names that), and the request's input items as read (each item_reference
 * replaced by the item it names). Function calls join the assistant turn before them: chat
 * templates hold a turn's text and its parallel calls in one assistant message.
 */
function conversation(
  body: ResponsesBody,
  items: ItemStore | undefined,
  history: Array<Record<string, unknown>>,
): { messages: AskMessage[]; params: string[]; input: Array<Record<string, unknown>> } {
  const messages: AskMessage[] = [];
  const params: string[] = [];
  const push = (m: AskMessage, param: string) => (messages.push(m), params.push(param));
  if (body.instructions) push({ role: "system", content: body.instructions }, "instructions");
  /** Reads one item into the conversation; returns it (for a reference, the item it named). */
  const read = (raw: Record<string, unknown>, at: string): Record<string, unknown> => {
    const type = raw.type ?? "message";
    if (type === "item_reference") {
      // An item this proxy answered (the Vercel AI SDK sends earlier assistant text so unless told
      // store: false), read as if the app had sent it again; one it does not keep is refused.
      const ref = parseAt(InputItems.item_reference, raw, at);
      const item = items?.recall(ref.id);
      if (!item)
        throw invalid(
          "item_not_found",
          `${at}: item_reference ${JSON.stringify(ref.id)} is no item this proxy answered since it started (it keeps the latest in memory only, and none of a request with store: false); send the item itself (Vercel AI SDK: providerOptions { openai: { store: false } })`,
          `${at}.id`,
        );
      return read(item, at);
    }
    if (type === "message") {
      const m = parseAt(InputItems.message, raw, at);
      const role = m.role === "developer" ? "system" : m.role;
      // A user's input_image parts (data: URLs) travel as chat image parts; its text as before.
      const content =
        role === "user" && typeof m.content !== "string"
          ? contentParts(m.content, `${at}.content`, ["input_text", "output_text"], "input_image")
          : textOf(m.content, `${at}.content`, role === "assistant");
      push({ role, content }, at);
    } else if (type === "function_call") {
      const c = parseAt(InputItems.function_call, raw, at);
      const call: ToolCall = { id: c.call_id, type: "function", function: { name: c.name, arguments: c.arguments } };
      const last = messages.at(-1);
      if (last?.role === "assistant") last.toolCalls = [...(last.toolCalls ?? []), call];
      else push({ role: "assistant", content: "", toolCalls: [call] }, at);
    } else if (type === "function_call_output") {
      const o = parseAt(InputItems.function_call_output, raw, at);
      push({ role: "tool", content: textOf(o.output, `${at}.output`), toolCallId: o.call_id }, at);
    } else if (type === "custom_tool_call") {
      const c = parseAt(InputItems.custom_tool_call, raw, at);
      const call = customCall(c.call_id, c.name, c.input);
      const last = messages.at(-1);
      if (last?.role === "assistant") last.toolCalls = [...(last.toolCalls ?? []), call];
      else push({ role: "assistant", content: "", toolCalls: [call] }, at);
    } else if (type === "custom_tool_call_output") {
      const o = parseAt(InputItems.custom_tool_call_output, raw, at);
      push({ role: "tool", content: textOf(o.output, `${at}.output`), toolCallId: o.call_id }, at);
    } else if (type === "reasoning") {
      // An earlier answer's thinking, sent back with its output (as this proxy returns it): left
      // out, as reasoning models' chat templates leave out earlier turns' thinking.
    } else {
      throw unsupported(
        `${at}.type`,
        `${at}: input items of type ${JSON.stringify(type)} are not supported (messages, function_call, function_call_output, custom_tool_call, custom_tool_call_output, reasoning and item_reference only)`,
      );
    }
    return raw;
  };
  for (const raw of history) read(raw, "previous_response_id");
  if (typeof body.input === "string") {
    push({ role: "user", content: body.input }, "input");
    return { messages, params, input: [{ role: "user", content: body.input }] };
  }
  return { messages, params, input: body.input.map((raw, i) => read(raw, `input.${i}`)) };
}

/** A tool as the response echoes it: as the app gave it (the Responses API's flat shape). */
type EchoedTool =
  | { type: "function"; name: string; description: string | null; parameters: Record<string, unknown> | null; strict: boolean | null }
  | { type: "custom"; name: string; description: string | null; format: Record<string, unknown> };

/**
 * The request's tools in chat's shape (a custom tool as a function of one string, custom-tools.ts),
 * the names of its custom tools, and each as the response echoes it. A hosted tool (web_search,
 * file_search, mcp…) has nothing to run it here.
 */
function toolsOf(raw: ResponsesBody["tools"]): { tools?: Tool[]; custom: Set<string>; echo: EchoedTool[] } {
  const echo: EchoedTool[] = [];
  const tools = raw?.map((r, i): Tool => {
    if (r.type === "custom") {
      const t = parseAt(CustomToolSchema, r, `tools.${i}`);
      const tool = customAsFunction(t, `tools.${i}.format`);
      echo.push({ type: "custom", name: t.name, description: t.description ?? null, format: t.format ?? { type: "text" } });
      return tool;
    }
    if (r.type !== "function")
      throw unsupported(
        `tools.${i}.type`,
        `tools.${i}: tool type ${JSON.stringify(r.type)} is not supported: Cocoon runs no hosted tools; give functions (type "function") or custom tools (type "custom") that your app runs`,
      );
    const t = parseAt(FunctionToolSchema, r, `tools.${i}`);
    echo.push({
      type: "function",
      name: t.name,
      description: t.description ?? null,
      parameters: t.parameters ?? null,
      strict: t.strict ?? null,
    });
    return {
      type: "function",
      function: {
        name: t.name,
        ...(t.description != null ? { description: t.description } : {}),
        ...(t.parameters != null ? { parameters: t.parameters } : {}),
        ...(t.strict != null ? { strict: t.strict } : {}),
      },
    };
  });
  const custom = customNames(
    echo.map((t) => ({ name: t.name, custom: t.type === "custom" })),
    (i) => `tools.${i}`,
  );
  return { ...(tools ? { tools } : {}), custom, echo };
}

/** The job's tools and tool_choice: an allowed_tools choice narrows the tools (schemas.ts allowedTools). */
function toolsAndChoice(tools: Tool[] | undefined, choice: ResponsesBody["tool_choice"]): { tools?: Tool[]; toolChoice?: ToolChoice } {
  const given = tools ? { tools } : {};
  if (choice === undefined || typeof choice === "string") return { ...given, ...(choice !== undefined ? { toolChoice: choice } : {}) };
  if (choice.type === "allowed_tools") {
    const c = parseAt(AllowedToolsChoiceSchema, choice, "tool_choice");
    return allowedTools(tools, { mode: c.mode, names: c.tools.map((t) => t.name) }, (i) => `tool_choice.tools.${i}`);
  }
  if (choice.type !== "function" && choice.type !== "custom")
    throw unsupported(
      "tool_choice",
      `tool_choice of type ${JSON.stringify(choice.type)} is not supported: name a function, use allowed_tools, or auto, none or required`,
    );
  return { ...given, toolChoice: { type: "function", function: { name: parseAt(FunctionChoiceSchema, choice, "tool_choice").name } } };
}

function formatOf(format: NonNullable<ResponsesBody["text"]>["format"]): ResponseFormat | undefined {
  if (format?.type !== "json_schema") return format;
  const { type, name, description, schema, strict } = format;
  return {
    type,
    json_schema: { name, schema, ...(description !== undefined ? { description } : {}), ...(strict != null ? { strict } : {}) },
  };
}

/**
 * An id of the proxy's own, 96 random bits: an output item's, and a response's. A response id is
 * what previous_response_id names to have the proxy replay a kept conversation, so it is not the
 * job's id (which the coordinator and the worker know): the job stays in x-cocoon-job-id and the
 * stream's `cocoon.job_ids`, where receipts and `cocoon cancel` read it.
 */
const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString("hex")}`;

type Status = "completed" | "incomplete";
/**
 * A response's status. A budget cut is "length" also beside tool calls: the call being written is
 * cut (its arguments broken JSON). A job its requester cancelled (finishReason "cancelled") is
 * "cancelled", one of the Responses API's documented statuses (OpenAI's for a cancelled
 * background response), where chat and completions, whose finish_reason has no such value, say "stop".
 */
type ResponseStatus = Status | "cancelled";
const statusOf = (r: AskResult): ResponseStatus =>
  r.finishReason === "length" ? "incomplete" : r.finishReason === "cancelled" ? "cancelled" : "completed";
/** An output item has no "cancelled": the item a cancel cut is incomplete, as one the budget cut. */
const itemStatusOf = (s: ResponseStatus): Status => (s === "cancelled" ? "incomplete" : s);

/** What the request set, echoed on every response object as OpenAI does (the spec requires most of it). */
function echoOf(body: ResponsesBody, tools: EchoedTool[], createdAt: number) {
  return {
    object: "response",
    created_at: createdAt,
    background: false,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    metadata: body.metadata ?? {},
    model: body.model,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    // Whatever the app asked: nothing can be fetched back (no GET /v1/responses/{id}); what this
    // proxy keeps for a later previous_response_id or item_reference is in its memory only (items.ts).
    store: false,
    temperature: body.temperature ?? null,
    text: { format: body.text?.format ?? { type: "text" }, ...(body.text?.verbosity ? { verbosity: body.text.verbosity } : {}) },
    tool_choice: body.tool_choice ?? "auto",
    tools,
    top_p: body.top_p ?? null,
    truncation: body.truncation ?? "disabled",
    user: body.user ?? null,
  };
}
type Echo = ReturnType<typeof echoOf>;

/**
 * The Responses API's usage. output_tokens_details.reasoning_tokens is the worker's engine's count
 * of the thinking (0 for an answer without any); where the answer thought and no count came with
 * it, null rather than a made-up number (it was always 0 before: wrong for every reasoning model).
 * The object itself is always there (OpenAI's schema requires it): an app reading
 * usage.output_tokens_details.reasoning_tokens gets null, not a TypeError.
 */
const usageOf = (r: AskResult) => ({
  input_tokens: r.usage.promptTokens,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: r.usage.completionTokens,
  output_tokens_details: { reasoning_tokens: reasoningTokensOf([r]) ?? null },
  total_tokens: r.usage.promptTokens + r.usage.completionTokens,
});

const textPart = (text: string) => ({ type: "output_text", text, annotations: [], logprobs: [] });

type ItemStatus = "in_progress" | Status;
const messageItem = (id: string, text: string | undefined, status: ItemStatus) => ({
  id,
  type: "message",
  status,
  role: "assistant",
  content: text === undefined ? [] : [textPart(text)],
});
const callItem = (id: string, call: { id: string; name: string; arguments: string }, status: ItemStatus) => ({
  id,
  type: "function_call",
  status,
  call_id: call.id,
  name: call.name,
  arguments: call.arguments,
});
/** A call of a custom tool: the text it was given (custom-tools.ts customInputOf). */
const customCallItem = (id: string, call: { id: string; name: string; input: string }, status: ItemStatus) => ({
  id,
  type: "custom_tool_call",
  status,
  call_id: call.id,
  name: call.name,
  input: call.input,
});
/** A reasoning model's thinking (the engine's `reasoning_content`), as the Responses API gives open models' reasoning text. */
const reasoningItem = (id: string, text: string | undefined, status: ItemStatus) => ({
  id,
  type: "reasoning",
  status,
  summary: [] as Array<{ type: "summary_text"; text: string }>,
  content: text === undefined ? [] : [reasoningPart(text)],
});
const reasoningPart = (text: string) => ({ type: "reasoning_text", text });
type Item =
  ReturnType<typeof messageItem> | ReturnType<typeof callItem> | ReturnType<typeof customCallItem> | ReturnType<typeof reasoningItem>;

/** One call of the answer as its output item: a custom tool's (`custom`: their names) or a function's. */
const outputCall = (c: ToolCall, status: ItemStatus, custom: ReadonlySet<string>) =>
  custom.has(c.function.name)
    ? customCallItem(newId("ctc"), { id: c.id, name: c.function.name, input: customInputOf(c.function.arguments) }, status)
    : callItem(newId("fc"), { id: c.id, name: c.function.name, arguments: c.function.arguments }, status);

/**
 * A whole answer's output: its thinking (when the engine separated it) as a reasoning item, its
 * text as one message (also when empty, unless it only thought or called), then its calls. A
 * budget cut stops the item written last: that one has the answer's status, the others are completed.
 */
function outputOf(r: AskResult, status: Status, custom: ReadonlySet<string>): Item[] {
  const calls = r.toolCalls ?? [];
  const items: Item[] = [
    ...(r.reasoning ? [reasoningItem(newId("rs"), r.reasoning, "completed")] : []),
    ...(r.text !== "" || (!calls.length && !r.reasoning) ? [messageItem(newId("msg"), r.text, "completed")] : []),
    ...calls.map((c) => outputCall(c, "completed", custom)),
  ];
  items.at(-1)!.status = status;
  return items;
}

function finished(head: Echo, id: string, status: ResponseStatus, output: Item[], r: AskResult, completedAt: number) {
  return {
    id,
    ...head,
    status,
    ...(status === "completed" ? { completed_at: completedAt } : {}),
    error: null,
    incomplete_details: status === "incomplete" ? { reason: "max_output_tokens" } : null,
    output,
    usage: usageOf(r),
  };
}

/**
 * The Responses API's stream of one job: response.created and .in_progress, then per output item
 * its added / delta / done events as the network delivers text and tool-call pieces, then
 * response.completed (or .incomplete) with the whole response. Every event is named on its
 * `event:` line and numbered (`sequence_number`); there is no `[DONE]`, the terminal event ends
 * it. A failure after the head went out is an `error` event and response.failed, never a
 * silently shortened answer; an app that went away is sent nothing more.
 */
function eventStream(
  head: Echo,
  id: string,
  stream: OpenedStream,
  ctx: ProxyContext,
  signal: AbortSignal | undefined,
  custom: ReadonlySet<string>,
  remember: (output: Item[]) => void,
): HttpResponse {
  const live = liveResponse(head, id, () => Math.floor(ctx.now() / 1000), custom, remember);
  async function* events() {
    let seq = 0;
    const frame = (e: Record<string, unknown>) => `event: ${String(e.type)}\ndata: ${JSON.stringify({ ...e, sequence_number: seq++ })}\n\n`;
    try {
      for await (const e of live.events(jobItems(stream, signal))) yield frame(e);
    } catch (err) {
      if (signal?.aborted) return ctx.clientGone();
      ctx.onError?.(err);
      for (const e of live.failed(ctx.mapError(err))) yield frame(e);
      return;
    }
    if (signal?.aborted) ctx.clientGone();
  }
  return {
    status: 200,
    headers: streamHeaders([stream]),
    body: events(),
  };
}

/** A response being streamed: its output items as they grow, and the events that tell the app of each step. */
function liveResponse(
  head: Echo,
  id: string,
  now: () => number,
  custom: ReadonlySet<string> = new Set(),
  remember: (output: Item[]) => void = () => {},
) {
  const output: Item[] = [];
  /** The message item being written, and its one text part. */
  let text: { index: number; item: ReturnType<typeof messageItem>; part: ReturnType<typeof textPart> } | undefined;
  /** The reasoning item being written, and its one reasoning text part. */
  let thought: { index: number; item: ReturnType<typeof reasoningItem>; part: ReturnType<typeof reasoningPart> } | undefined;
  /**
   * The calls being written, by their index in the answer. A custom tool's arguments (the JSON
   * object its input travels in) are held in `args` and its input told whole at its end: a piece of
   * JSON is not a piece of the text it holds.
   */
  const calls = new Map<
    number,
    { index: number; item: ReturnType<typeof callItem> } | { index: number; item: ReturnType<typeof customCallItem>; args: string }
  >();
  /** A custom call's input as far as it was written. */
  const settle = (call: { item: ReturnType<typeof customCallItem>; args: string }) => void (call.item.input = customInputOf(call.args));
  const snapshot = (status: string, more: Record<string, unknown> = {}) => ({
    id,
    ...head,
    status,
    error: null,
    incomplete_details: null,
    output: structuredClone(output),
    usage: null,
    ...more,
  });

  function* openText() {
    const item = messageItem(newId("msg"), undefined, "in_progress");
    const index = output.push(item) - 1;
    yield { type: "response.output_item.added", output_index: index, item: structuredClone(item) };
    const part = textPart("");
    yield { type: "response.content_part.added", item_id: item.id, output_index: index, content_index: 0, part: structuredClone(part) };
    item.content.push(part);
    text = { index, item, part };
  }
  function* closeText(status: Status) {
    if (!text) return;
    const { index, item, part } = text;
    const where = { item_id: item.id, output_index: index, content_index: 0 };
    yield { type: "response.output_text.done", ...where, text: part.text, logprobs: [] };
    yield { type: "response.content_part.done", ...where, part: structuredClone(part) };
    item.status = status;
    yield { type: "response.output_item.done", output_index: index, item: structuredClone(item) };
    text = undefined;
  }
  function* openThought() {
    const item = reasoningItem(newId("rs"), undefined, "in_progress");
    const index = output.push(item) - 1;
    yield { type: "response.output_item.added", output_index: index, item: structuredClone(item) };
    const part = reasoningPart("");
    yield { type: "response.content_part.added", item_id: item.id, output_index: index, content_index: 0, part: structuredClone(part) };
    item.content.push(part);
    thought = { index, item, part };
  }
  function* closeThought(status: Status) {
    if (!thought) return;
    const { index, item, part } = thought;
    const where = { item_id: item.id, output_index: index, content_index: 0 };
    yield { type: "response.reasoning_text.done", ...where, text: part.text };
    yield { type: "response.content_part.done", ...where, part: structuredClone(part) };
    item.status = status;
    yield { type: "response.output_item.done", output_index: index, item: structuredClone(item) };
    thought = undefined;
  }
  function* onItem(v: Exclude<JobItem, { kind: "result" | "finish" }>): Generator<Record<string, unknown>> {
    if (v.kind === "text") {
      if (v.reasoning) {
        // Thinking after text began (rare) starts an item of its own, as the answer's order is.
        yield* closeText("completed");
        if (!thought) yield* openThought();
        thought!.part.text += v.reasoning;
        yield {
          type: "response.reasoning_text.delta",
          item_id: thought!.item.id,
          output_index: thought!.index,
          content_index: 0,
          delta: v.reasoning,
        };
      }
      if (!v.text) return;
      yield* closeThought("completed");
      if (!text) yield* openText();
      text!.part.text += v.text;
      yield {
        type: "response.output_text.delta",
        item_id: text!.item.id,
        output_index: text!.index,
        content_index: 0,
        delta: v.text,
        logprobs: [],
      };
    } else {
      yield* closeThought("completed");
      yield* closeText("completed");
      let call = calls.get(v.delta.index);
      if (!call) {
        // jobItems completes a call's first piece: its id and name are there.
        const name = v.delta.function!.name!;
        if (custom.has(name)) {
          const item = customCallItem(newId("ctc"), { id: v.delta.id!, name, input: "" }, "in_progress");
          call = { index: output.push(item) - 1, item, args: "" };
        } else {
          const item = callItem(newId("fc"), { id: v.delta.id!, name, arguments: "" }, "in_progress");
          call = { index: output.push(item) - 1, item };
        }
        calls.set(v.delta.index, call);
        yield { type: "response.output_item.added", output_index: call.index, item: structuredClone(call.item) };
      }
      const piece = v.delta.function?.arguments ?? "";
      if ("args" in call) call.args += piece;
      else if (piece) {
        call.item.arguments += piece;
        yield { type: "response.function_call_arguments.delta", item_id: call.item.id, output_index: call.index, delta: piece };
      }
    }
  }
  /**
   * The end of the answer, told by its result (a finish's reason says "tool_calls" also for calls
   * the budget cut): the open text and every call done, the item written last with the answer's status.
   */
  function* close(status: Status) {
    // As a whole answer: an answer of no text and no calls is one empty message.
    if (!output.length) yield* openText();
    const last = output.at(-1);
    yield* closeThought(thought?.item === last ? status : "completed");
    yield* closeText(text?.item === last ? status : "completed");
    for (const call of calls.values()) {
      const { index, item } = call;
      if ("args" in call) {
        settle(call);
        const where = { item_id: item.id, output_index: index };
        if (call.item.input) yield { type: "response.custom_tool_call_input.delta", ...where, delta: call.item.input };
        yield { type: "response.custom_tool_call_input.done", ...where, input: call.item.input };
      } else
        yield {
          type: "response.function_call_arguments.done",
          item_id: item.id,
          output_index: index,
          name: call.item.name,
          arguments: call.item.arguments,
        };
      item.status = item === last ? status : "completed";
      yield { type: "response.output_item.done", output_index: index, item: structuredClone(item) };
    }
  }

  return {
    async *events(items: AsyncIterable<JobItem>): AsyncGenerator<Record<string, unknown>> {
      yield { type: "response.created", response: snapshot("in_progress") };
      yield { type: "response.in_progress", response: snapshot("in_progress") };
      for await (const v of items) {
        if (v.kind === "finish") continue;
        if (v.kind !== "result") {
          yield* onItem(v);
          continue;
        }
        const status = statusOf(v.result);
        yield* close(itemStatusOf(status));
        const response = finished(head, id, status, structuredClone(output), v.result, now());
        remember(output);
        // The Responses API streams no event of its own for a cancelled response: it ends, cut
        // short, as an incomplete one does (the openai clients take its response as the final one).
        yield { type: status === "completed" ? "response.completed" : "response.incomplete", response, cocoon: cocoonFacts([v.result]) };
      }
    },
    /** The events that end a stream broken by `e`: OpenAI's error event, then the response as far as it got, failed. */
    failed(e: OpenAiErrorMapping): Record<string, unknown>[] {
      // What was being written stays unfinished (a custom call with the input written so far).
      for (const call of calls.values()) if ("args" in call && call.item.status === "in_progress") settle(call);
      for (const item of output) if (item.status === "in_progress") item.status = "incomplete";
      const param = e.param ?? null;
      return [
        // The spec's error event is flat (code, message, param); OpenAI itself also nests them
        // under `error`, which is what makes the openai clients raise it, as they do a chat stream's.
        { type: "error", code: e.code, message: e.message, param, error: { type: e.type, code: e.code, message: e.message, param } },
        { type: "response.failed", response: snapshot("failed", { error: { code: e.code, message: e.message } }) },
      ];
    },
  };
}
