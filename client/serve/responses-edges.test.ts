/**
 * POST /v1/responses (responses.ts) at its edges, called as a route with a faked network: which
 * fields of the request reach the network (exactly those the app named; null is unsent), the
 * tools and text.format passed on with or without their optional parts, the defaults echoed on
 * the response object, the timestamps (seconds, completed_at only on a completed response), the
 * refusals' messages and params, and the streamed events: item ids and statuses from in_progress
 * to completed or incomplete, tool-call argument pieces, the error event's param, and an app that
 * went away.
 */
import { afterEach, describe, expect, it } from "vitest";
import { anAnswer as answerFrom, aRouteContext, closeProxies, routeRequest, startFakedProxy } from "../../test/fixtures/serve-proxy";
import type { HttpResponse } from "../../edge/http";
import { MAX_JOB_PROMPT_TOKENS } from "../../events/api";
import { invalid, OpenAiError } from "./errors";
import { itemStore, type ItemStore } from "./items";
import { MAX_REFERENCED_BYTES, responses } from "./responses";
import type { AskRequest, AskResult, AskStreamEvent, OpenAiErrorMapping, ProxyContext } from "./types";

const MODEL = "chat-tools";

afterEach(closeProxies);
/** The faked clock: 1 700 000 000.123 s, in milliseconds as Date.now counts. */
const NOW_MS = 1_700_000_000_123;
const NOW_S = 1_700_000_000;
const LOOKUP = { type: "function", name: "lookup", parameters: { type: "object" } };

/** A Responses body: the model, a string input and `over`. */
const aBody = (over: Record<string, unknown> = {}) => ({ model: MODEL, input: "hi", ...over });

/** The route's request for a JSON `body`. */
const aRequest = (body: unknown, signal?: AbortSignal) => routeRequest("/v1/responses", body, signal);

/** A worker's finished answer; `over` sets only what a test looks at. */
const anAnswer = (over: Partial<AskResult> = {}): AskResult => answerFrom(MODEL, over);

const aCall = (id: string, args: string) => ({ id, type: "function" as const, function: { name: "lookup", arguments: args } });

interface NetworkOptions {
  answer?: Partial<AskResult>;
  askStream?: (req: AskRequest) => AsyncIterable<AskStreamEvent>;
  /** false: a context without onError (the route must not need one) */
  onError?: false;
  mapError?: (err: unknown) => OpenAiErrorMapping;
  /** the proxy's kept items (items.ts); none kept without */
  items?: ItemStore;
}

/**
 * The route's context over a faked network (no model list: nothing is checked against a model);
 * `calls` is every AskRequest it received, `errors` what reached onError, `gone` how often the
 * app was said to have gone away.
 */
function aNetwork(o: NetworkOptions = {}) {
  const r = aRouteContext({
    ask: async () => anAnswer(o.answer),
    ...(o.askStream ? { askStream: o.askStream } : {}),
    ...(o.mapError ? { mapError: o.mapError } : {}),
    ...(o.onError === false ? { onError: false as const } : {}),
    ...(o.items ? { items: o.items } : {}),
    now: () => NOW_MS,
  });
  return { ...r, calls: r.calls as AskRequest[] };
}

/** The whole (non-streamed) answer of the route for `body`. */
async function whole(body: unknown, ctx: ProxyContext) {
  const res = await responses(aRequest(body), ctx);
  return JSON.parse(res.body as string) as Record<string, unknown>;
}

/** The refusal the route throws for `body` (what errorResponse turns into OpenAI's error body). */
async function refusal(body: unknown, ctx: ProxyContext = aNetwork().ctx): Promise<OpenAiError> {
  const err = await responses(aRequest(body), ctx).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpenAiError);
  return err as OpenAiError;
}

/** Every SSE frame of a streamed answer, each `event: <type>` line checked against its data's type. */
async function frames(res: HttpResponse): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for await (const f of res.body as AsyncIterable<string>) {
    const m = /^event: ([^\n]+)\ndata: ([^\n]+)\n\n$/.exec(f);
    expect(m, f).not.toBeNull();
    const data = JSON.parse(m![2]!) as Record<string, unknown>;
    expect(data.type).toBe(m![1]);
    out.push(data);
  }
  return out;
}

/** The events of the route's stream for `body` over `ctx`. */
const streamed = async (ctx: ProxyContext, body: Record<string, unknown> = aBody(), signal?: AbortSignal) =>
  frames(await responses(aRequest({ ...body, stream: true }, signal), ctx));

/** A network stream of `events`, in order. */
const aStream = (...events: AskStreamEvent[]) =>
  async function* (): AsyncGenerator<AskStreamEvent> {
    yield* events;
  };

const done = (over: Partial<AskResult> = {}): AskStreamEvent => ({ type: "done", ...anAnswer(over) });
const typeOf = (e: Record<string, unknown>) => e.type;
const ofType = (events: Array<Record<string, unknown>>, type: string) => events.filter((e) => e.type === type);

describe("/v1/responses: what reaches the network", () => {
  it("asks with only the fields the app named: no key for an absent or null sampling, tool or user field", async () => {
    // Prepare
    const { ctx, calls } = aNetwork();
    // Act
    await whole(aBody({ parallel_tool_calls: null, max_output_tokens: null, temperature: null, top_p: null }), ctx);
    await whole(aBody(), ctx);
    // Assess
    for (const call of calls) expect(Object.keys(call).sort()).toEqual(["maxTokens", "messages", "model"]);
    expect(calls[0]!.maxTokens).toBe(1024);
  });

  it("asks with each named field under the network's name", async () => {
    // Prepare
    const { ctx, calls } = aNetwork();
    // Act
    await whole(aBody({ parallel_tool_calls: false, temperature: 0, top_p: 0.5, user: "", max_output_tokens: 7 }), ctx);
    // Assess
    expect(calls[0]).toStrictEqual({
      model: MODEL,
      messages: [{ role: "user", content: "hi" }],
      parallelToolCalls: false,
      temperature: 0,
      topP: 0.5,
      user: "",
      maxTokens: 7,
    });
  });

  it("passes a function tool's description, parameters and strict only when they are set (null is unset)", async () => {
    // Prepare
    const { ctx, calls } = aNetwork();
    const tools = [
      { type: "function", name: "bare" },
      { type: "function", name: "nulls", description: null, parameters: null, strict: null },
      { type: "function", name: "full", description: "weather", parameters: { type: "object" }, strict: false },
    ];
    // Act
    const body = await whole(aBody({ tools }), ctx);
    // Assess
    expect(calls[0]!.tools).toStrictEqual([
      { type: "function", function: { name: "bare" } },
      { type: "function", function: { name: "nulls" } },
      { type: "function", function: { name: "full", description: "weather", parameters: { type: "object" }, strict: false } },
    ]);
    // The echo names every field, null where unset.
    expect(body.tools).toStrictEqual([
      { type: "function", name: "bare", description: null, parameters: null, strict: null },
      { type: "function", name: "nulls", description: null, parameters: null, strict: null },
      { type: "function", name: "full", description: "weather", parameters: { type: "object" }, strict: false },
    ]);
  });

  it("passes a json_schema text.format's description and strict only when they are set", async () => {
    // Prepare
    const { ctx, calls } = aNetwork();
    const schema = { type: "object" };
    // Act
    await whole(aBody({ text: { format: { type: "json_schema", name: "a", schema } } }), ctx);
    await whole(aBody({ text: { format: { type: "json_schema", name: "b", schema, description: "an answer", strict: null } } }), ctx);
    await whole(aBody({ text: { format: { type: "json_schema", name: "c", schema, description: "", strict: false } } }), ctx);
    // Assess
    expect(calls.map((c) => c.responseFormat)).toStrictEqual([
      { type: "json_schema", json_schema: { name: "a", schema } },
      { type: "json_schema", json_schema: { name: "b", schema, description: "an answer" } },
      { type: "json_schema", json_schema: { name: "c", schema, description: "", strict: false } },
    ]);
  });

  it("opens the conversation with the calls of a function_call item that has no assistant turn before it", async () => {
    // Prepare
    const { ctx, calls } = aNetwork();
    // Act
    await whole(
      aBody({
        input: [
          { type: "function_call", call_id: "call_a", name: "lookup", arguments: "{}" },
          { type: "function_call_output", call_id: "call_a", output: "sunny" },
        ],
        tools: [LOOKUP],
      }),
      ctx,
    );
    // Assess
    expect(calls[0]!.messages).toStrictEqual([
      { role: "assistant", content: "", toolCalls: [{ id: "call_a", type: "function", function: { name: "lookup", arguments: "{}" } }] },
      { role: "tool", content: "sunny", toolCallId: "call_a" },
    ]);
  });

  it("reads an assistant message's refusal part as its text, as OpenAI replays a refused answer", async () => {
    // Prepare
    const { ctx, calls } = aNetwork();
    // Act
    await whole(
      aBody({
        input: [
          { role: "user", content: "hi" },
          { role: "assistant", content: [{ type: "refusal", refusal: "I cannot help with that." }] },
          { role: "user", content: "why?" },
        ],
      }),
      ctx,
    );
    // Assess
    expect(calls[0]!.messages![1]).toStrictEqual({ role: "assistant", content: "I cannot help with that." });
  });
});

describe("/v1/responses: the response object", () => {
  it("echoes OpenAI's defaults for what the app left out", async () => {
    // Prepare
    const { ctx } = aNetwork();
    // Act
    const body = await whole(aBody(), ctx);
    // Assess
    expect(body).toMatchObject({
      background: false,
      parallel_tool_calls: true,
      text: { format: { type: "text" } },
      tool_choice: "auto",
      truncation: "disabled",
      tools: [],
    });
    expect(body.text).toStrictEqual({ format: { type: "text" } });
  });

  it("echoes what the app set: parallel_tool_calls false, truncation auto, text.verbosity", async () => {
    // Prepare
    const { ctx } = aNetwork();
    // Act
    const body = await whole(aBody({ parallel_tool_calls: false, truncation: "auto", text: { verbosity: "low" } }), ctx);
    // Assess
    expect(body).toMatchObject({ parallel_tool_calls: false, truncation: "auto", text: { format: { type: "text" }, verbosity: "low" } });
  });

  it("stamps created_at and completed_at in seconds, and a completed message's text part with empty logprobs", async () => {
    // Prepare
    const { ctx } = aNetwork();
    // Act
    const body = await whole(aBody(), ctx);
    // Assess
    expect(body).toMatchObject({ status: "completed", created_at: NOW_S, completed_at: NOW_S, incomplete_details: null });
    expect((body.output as Array<{ content: unknown }>)[0]!.content).toStrictEqual([
      { type: "output_text", text: "Paris.", annotations: [], logprobs: [] },
    ]);
  });

  it("gives an answer cut at max_output_tokens no completed_at: status incomplete, reason max_output_tokens", async () => {
    // Prepare
    const { ctx } = aNetwork({ answer: { finishReason: "length" } });
    // Act
    const body = await whole(aBody({ max_output_tokens: 2 }), ctx);
    // Assess
    expect(body).toMatchObject({
      status: "incomplete",
      incomplete_details: { reason: "max_output_tokens" },
      output: [{ status: "incomplete" }],
    });
    expect(body).not.toHaveProperty("completed_at");
  });
});

describe("regression: a response's id is the proxy's own, not its job's", () => {
  // BUG: a response was named resp_<job id>, and the job id is known to the coordinator and the
  // worker: previous_response_id by that name replays the conversation the proxy keeps. Its id is
  // now 96 random bits of the proxy's; the job stays in x-cocoon-job-id and cocoon.job_ids.
  const JOB = "job_0123456789abcdefghijklmnop";

  it("names a whole response by an id of its own, the job in x-cocoon-job-id", async () => {
    // Prepare
    const { ctx } = aNetwork({ answer: { jobId: JOB } });
    // Act
    const res = await responses(aRequest(aBody()), ctx);
    const again = await whole(aBody(), ctx);
    // Assess
    const body = JSON.parse(res.body as string) as { id: string };
    expect(body.id).toMatch(/^resp_[0-9a-f]{24}$/);
    expect(body.id).not.toContain(JOB.slice(4));
    expect(again.id).not.toBe(body.id);
    expect(res.headers["x-cocoon-job-id"]).toBe(JOB);
  });

  it("names a streamed response by an id of its own on every event, the job in cocoon.job_ids", async () => {
    // Prepare
    const { ctx } = aNetwork({ askStream: aStream({ type: "delta", text: "Paris.", jobId: JOB }, done({ jobId: JOB })) });
    // Act
    const events = await streamed(ctx);
    // Assess
    const ids = new Set(events.filter((e) => e.response).map((e) => (e.response as { id: string }).id));
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    expect(id).toMatch(/^resp_[0-9a-f]{24}$/);
    expect(id).not.toContain(JOB.slice(4));
    expect(events.at(-1)).toMatchObject({ cocoon: { job_ids: [JOB] } });
  });

  it("does not replay a kept conversation for previous_response_id named after its job", async () => {
    // Prepare
    const items = itemStore();
    const { ctx } = aNetwork({ answer: { jobId: JOB }, items });
    const first = await whole(aBody({ input: "my secret" }), ctx);
    // Act
    const err = await refusal(aBody({ previous_response_id: `resp_${JOB.slice(4)}` }), ctx);
    const chained = await whole(aBody({ previous_response_id: first.id }), ctx);
    // Assess
    expect(err).toMatchObject({ status: 400, code: "previous_response_not_found" });
    expect(chained.previous_response_id).toBe(first.id);
  });
});

describe("/v1/responses: refusals name the field and say why", () => {
  const refusals: Array<[string, Record<string, unknown>, string, string, RegExp]> = [
    [
      "a stored conversation",
      { conversation: "conv_1" },
      "unsupported_parameter",
      "conversation",
      /^conversation is not supported: Cocoon stores no conversations/,
    ],
    [
      "a stored prompt",
      { prompt: { id: "pmpt_1" } },
      "unsupported_parameter",
      "prompt",
      /^prompt \(a template stored at OpenAI\) is not supported/,
    ],
    [
      "a background run",
      { background: true },
      "unsupported_parameter",
      "background",
      /^background is not supported: a background response is fetched later from storage, and Cocoon stores no/,
    ],
    [
      "logprobs through include",
      { include: ["message.output_text.logprobs"] },
      "unsupported_parameter",
      "include",
      /^message\.output_text\.logprobs is not supported on \/v1\/responses \(use \/v1\/chat\/completions/,
    ],
    ["top_logprobs", { top_logprobs: 2 }, "unsupported_parameter", "top_logprobs", /^top_logprobs is not supported on \/v1\/responses/],
    [
      "an item's bad field, by its path",
      { input: [{ type: "function_call_output", call_id: "", output: "x" }] },
      "invalid_request",
      "input.0.call_id",
      /^input\.0\.call_id: call_id must name the call this answers$/,
    ],
    [
      "an item_reference to an item it does not keep",
      { input: [{ type: "item_reference", id: "msg_1" }] },
      "item_not_found",
      "input.0.id",
      /^input\.0: item_reference "msg_1" is no item this proxy answered since it started/,
    ],
    [
      "an input item of another type",
      { input: [{ type: "web_search_call", id: "ws_1", status: "completed" }] },
      "unsupported_parameter",
      "input.0.type",
      /^input\.0: input items of type "web_search_call" are not supported \(messages, function_call, function_call_output, custom_tool_call, custom_tool_call_output, reasoning and item_reference only\)$/,
    ],
    [
      "a hosted tool",
      { tools: [{ type: "web_search" }] },
      "unsupported_parameter",
      "tools.0.type",
      /^tools\.0: tool type "web_search" is not supported: Cocoon runs no hosted tools/,
    ],
    [
      "a hosted tool_choice",
      { tools: [LOOKUP], tool_choice: { type: "file_search" } },
      "unsupported_parameter",
      "tool_choice",
      /^tool_choice of type "file_search" is not supported: name a function, use allowed_tools, or auto, none or required$/,
    ],
    [
      "a function tool_choice without a name",
      { tools: [LOOKUP], tool_choice: { type: "function" } },
      "invalid_request",
      "tool_choice.name",
      /^tool_choice\.name is required$/,
    ],
    [
      "a refusal part in a function_call_output (only an assistant's answer is replayed that way)",
      { input: [{ type: "function_call_output", call_id: "c", output: [{ type: "refusal", refusal: "no" }] }] },
      "unsupported_content",
      "input.0.output.0",
      /^input\.0\.output\.0: content part type "refusal" is not supported/,
    ],
  ];

  it.each(refusals)("refuses %s with a 400 naming its param, before any job", async (_what, over, code, param, message) => {
    // Prepare
    const { ctx, calls } = aNetwork();
    // Act
    const e = await refusal(aBody(over), ctx);
    // Assess
    expect(e).toMatchObject({ status: 400, code, param });
    expect(e.message).toMatch(message);
    expect(calls).toHaveLength(0);
  });
});

describe("/v1/responses: the event stream", () => {
  it("frames a text answer as OpenAI does: SSE headers, in_progress snapshots, msg_ item in_progress then completed, completed_at in seconds", async () => {
    // Prepare
    const { ctx } = aNetwork({
      askStream: aStream({ type: "delta", text: "Par", jobId: "job_t" }, { type: "delta", text: "is." }, done()),
    });
    // Act
    const res = await responses(aRequest({ ...aBody(), stream: true }), ctx);
    const events = await frames(res);
    // Assess
    expect(res.headers).toMatchObject({ "cache-control": "no-cache", connection: "keep-alive" });
    expect(events.map(typeOf)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(events[1]).toMatchObject({ response: { status: "in_progress", created_at: NOW_S } });
    const added = events[2] as { item: { id: string; status: string } };
    expect(added.item.id).toMatch(/^msg_[0-9a-f]{24}$/);
    expect(added.item.status).toBe("in_progress");
    expect(events[4]).toStrictEqual({
      type: "response.output_text.delta",
      item_id: added.item.id,
      output_index: 0,
      content_index: 0,
      delta: "Par",
      logprobs: [],
      sequence_number: 4,
    });
    expect(events[6]).toMatchObject({ text: "Paris.", logprobs: [] });
    expect(events[8]).toMatchObject({ item: { id: added.item.id, status: "completed" } });
    expect(events[9]).toMatchObject({
      response: {
        id: expect.stringMatching(/^resp_[0-9a-f]{24}$/),
        status: "completed",
        created_at: NOW_S,
        completed_at: NOW_S,
        incomplete_details: null,
      },
    });
  });

  it("ends an answer cut at max_output_tokens with its message incomplete and response.incomplete, without completed_at", async () => {
    // Prepare
    const { ctx } = aNetwork({
      askStream: aStream({ type: "delta", text: "Once upon", jobId: "job_l" }, done({ finishReason: "length" })),
    });
    // Act
    const events = await streamed(ctx, aBody({ max_output_tokens: 2 }));
    // Assess
    expect(ofType(events, "response.output_item.done")).toMatchObject([{ item: { type: "message", status: "incomplete" } }]);
    const last = events.at(-1)!;
    expect(last).toMatchObject({
      type: "response.incomplete",
      response: { status: "incomplete", incomplete_details: { reason: "max_output_tokens" }, output: [{ status: "incomplete" }] },
    });
    expect(last.response).not.toHaveProperty("completed_at");
  });

  it("streams a call as an fc_ item whose arguments come only in non-empty pieces, also when a piece has no function", async () => {
    // Prepare
    const { ctx } = aNetwork({
      askStream: aStream(
        { type: "delta", toolCalls: [{ index: 0, id: "call_1", type: "function", function: { name: "lookup" } }], jobId: "job_c" },
        { type: "delta", toolCalls: [{ index: 0 }] },
        { type: "delta", toolCalls: [{ index: 0, function: { arguments: '{"city":"Oslo"}' } }] },
        done({ text: "", toolCalls: [aCall("call_1", '{"city":"Oslo"}')] }),
      ),
    });
    // Act
    const events = await streamed(ctx, aBody({ tools: [LOOKUP] }));
    // Assess
    expect(events.map(typeOf)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const item = (events[2] as { item: { id: string } }).item;
    expect(item).toMatchObject({ type: "function_call", status: "in_progress", call_id: "call_1", name: "lookup", arguments: "" });
    expect(item.id).toMatch(/^fc_[0-9a-f]{24}$/);
    expect(events[3]).toMatchObject({ item_id: item.id, output_index: 0, delta: '{"city":"Oslo"}' });
    expect(events[5]).toMatchObject({ item: { id: item.id, status: "completed", arguments: '{"city":"Oslo"}' } });
  });

  it("opens no message for a text delta that carries no text (only log probabilities)", async () => {
    // Prepare
    const { ctx } = aNetwork({
      askStream: aStream(
        { type: "delta", text: "", logprobs: [{ token: "", logprob: 0 }], jobId: "job_e" },
        { type: "delta", toolCalls: [aCall("call_1", "{}")] },
        done({ text: "", toolCalls: [aCall("call_1", "{}")] }),
      ),
    });
    // Act
    const events = await streamed(ctx, aBody({ tools: [LOOKUP] }));
    // Assess
    expect(ofType(events, "response.output_item.added")).toMatchObject([{ output_index: 0, item: { type: "function_call" } }]);
    expect(events.at(-1)).toMatchObject({ response: { output: [{ type: "function_call" }] } });
    expect((events.at(-1)!.response as { output: unknown[] }).output).toHaveLength(1);
  });

  it("closes each call once, even when the network's result lists a second choice", async () => {
    // Prepare
    const call = aCall("call_1", "{}");
    const { ctx } = aNetwork({
      askStream: aStream(
        { type: "delta", toolCalls: [call], jobId: "job_2" },
        done({
          text: "",
          toolCalls: [call],
          choices: [
            { index: 0, text: "", toolCalls: [call], finishReason: "stop" },
            { index: 1, text: "", finishReason: "stop" },
          ],
        }),
      ),
    });
    // Act
    const events = await streamed(ctx, aBody({ tools: [LOOKUP] }));
    // Assess
    expect(ofType(events, "response.function_call_arguments.done")).toHaveLength(1);
    expect(ofType(events, "response.output_item.done")).toHaveLength(1);
  });

  it("on a failure after a finished message, leaves that message completed and marks only the call being written incomplete", async () => {
    // Prepare
    const askStream = async function* (): AsyncGenerator<AskStreamEvent> {
      yield { type: "delta", text: "Let me look.", jobId: "job_f" };
      yield { type: "delta", toolCalls: [{ index: 0, id: "call_1", type: "function", function: { name: "lookup", arguments: '{"ci' } }] };
      throw invalid("invalid_request", "the worker refused the tool result", "input.2");
    };
    const { ctx, errors } = aNetwork({ askStream });
    // Act
    const events = await streamed(ctx, aBody({ tools: [LOOKUP] }));
    // Assess
    expect(events.slice(-2)).toMatchObject([
      {
        type: "error",
        code: "invalid_request",
        param: "input.2",
        error: { type: "invalid_request_error", code: "invalid_request", message: "the worker refused the tool result", param: "input.2" },
      },
      {
        type: "response.failed",
        response: {
          status: "failed",
          output: [
            { type: "message", status: "completed", content: [{ text: "Let me look." }] },
            { type: "function_call", status: "incomplete", arguments: '{"ci' },
          ],
        },
      },
    ]);
    expect(errors).toHaveLength(1);
  });

  it("ends a stream broken after its head with the error events also without a signal or an onError", async () => {
    // Prepare
    const askStream = async function* (): AsyncGenerator<AskStreamEvent> {
      yield { type: "delta", text: "Half", jobId: "job_n" };
      throw Object.assign(new Error("the worker went away"), { code: "stream_restarted" });
    };
    const { ctx, gone } = aNetwork({ askStream, onError: false });
    // Act
    const events = await streamed(ctx);
    // Assess
    expect(events.slice(-2).map(typeOf)).toEqual(["error", "response.failed"]);
    expect(events.at(-2)).toMatchObject({ code: "stream_restarted", param: null, error: { param: null } });
    expect(gone()).toBe(0);
  });

  it("tells nothing of an app that stayed, with or without a signal", async () => {
    // Prepare
    const { ctx, gone } = aNetwork({ askStream: aStream({ type: "delta", text: "Hi", jobId: "job_s" }, done()) });
    // Act
    const withSignal = await streamed(ctx, aBody(), new AbortController().signal);
    const without = await streamed(ctx);
    // Assess
    expect(withSignal.at(-1)!.type).toBe("response.completed");
    expect(without.at(-1)!.type).toBe("response.completed");
    expect(gone()).toBe(0);
  });

  it("sends nothing more to an app that went away mid-stream, and says it went once", async () => {
    // Prepare
    const app = new AbortController();
    let release: () => void = () => {};
    const askStream = async function* (): AsyncGenerator<AskStreamEvent> {
      yield { type: "delta", text: "Hi", jobId: "job_g" };
      await new Promise<void>((resolve) => (release = resolve));
      yield done();
    };
    const { ctx, errors, gone } = aNetwork({ askStream });
    const res = await responses(aRequest({ ...aBody(), stream: true }, app.signal), ctx);
    // Act
    const seen: string[] = [];
    for await (const f of res.body as AsyncIterable<string>) {
      seen.push(f);
      if (f.startsWith("event: response.output_text.delta")) app.abort();
    }
    release();
    // Assess
    expect(seen.at(-1)).toMatch(/^event: response\.output_text\.delta/);
    expect(gone()).toBe(1);
    expect(errors).toHaveLength(0);
  });

  it("is no error when the network fails because the app went away", async () => {
    // Prepare
    const app = new AbortController();
    const askStream = async function* (): AsyncGenerator<AskStreamEvent> {
      yield { type: "delta", text: "Hi", jobId: "job_a" };
      app.abort();
      throw Object.assign(new Error("aborted"), { name: "AbortError" });
    };
    const { ctx, errors, gone } = aNetwork({ askStream });
    // Act
    const events = await streamed(ctx, aBody(), app.signal);
    // Assess
    expect(events.map(typeOf)).not.toContain("error");
    expect(events.map(typeOf)).not.toContain("response.failed");
    expect(errors).toHaveLength(0);
    expect(gone()).toBe(1);
  });
});

describe("/v1/responses: an answer cut at max_output_tokens while it called a function", () => {
  const cut = aCall("call_1", '{"city":"Os');

  // BUG: an answer the budget cut in the middle of a call (finishReason "length" beside toolCalls)
  // came back status "completed", incomplete_details null and a "completed" function_call whose
  // arguments are broken JSON: an openai-agents or AI SDK app runs the call. OpenAI answers it
  // status "incomplete" (reason max_output_tokens), the cut item "incomplete".
  it("answers it incomplete, with the call the budget cut incomplete and the message before it completed", async () => {
    // Prepare
    const { ctx } = aNetwork({ answer: { text: "Let me look.", toolCalls: [cut], finishReason: "length" } });
    // Act
    const body = await whole(aBody({ tools: [LOOKUP], max_output_tokens: 8 }), ctx);
    // Assess
    expect(body).toMatchObject({
      status: "incomplete",
      incomplete_details: { reason: "max_output_tokens" },
      output: [
        { type: "message", status: "completed" },
        { type: "function_call", status: "incomplete", arguments: '{"city":"Os' },
      ],
    });
    expect(body).not.toHaveProperty("completed_at");
  });

  // BUG: streamed, the same answer ended with response.completed and the call's output_item.done
  // "completed" (the finish the stream closes items by says "tool_calls", hiding the cut).
  it("streams it as response.incomplete, the cut call's output_item.done incomplete", async () => {
    // Prepare
    const { ctx } = aNetwork({
      askStream: aStream(
        { type: "delta", text: "Let me look.", jobId: "job_x" },
        { type: "delta", toolCalls: [cut] },
        done({ text: "Let me look.", toolCalls: [cut], finishReason: "length" }),
      ),
    });
    // Act
    const events = await streamed(ctx, aBody({ tools: [LOOKUP], max_output_tokens: 8 }));
    // Assess
    expect(ofType(events, "response.output_item.done")).toMatchObject([
      { output_index: 0, item: { type: "message", status: "completed" } },
      { output_index: 1, item: { type: "function_call", status: "incomplete" } },
    ]);
    expect(ofType(events, "response.function_call_arguments.done")).toMatchObject([{ arguments: '{"city":"Os' }]);
    const last = events.at(-1)!;
    expect(last).toMatchObject({
      type: "response.incomplete",
      response: {
        status: "incomplete",
        incomplete_details: { reason: "max_output_tokens" },
        output: [{ status: "completed" }, { status: "incomplete" }],
      },
    });
    expect(last.response).not.toHaveProperty("completed_at");
  });
});

describe("/v1/responses: an input past the network's cap on one job's prompt tokens", () => {
  it("is 400 context_length_exceeded naming input, and no job is asked", async () => {
    // Prepare: the input as one user message, its bound its bytes + 8 + 16 (client/sdk.ts promptTokenBound)
    const { ctx, calls } = aNetwork();
    // Act
    const err = await refusal(aBody({ input: "i".repeat(MAX_JOB_PROMPT_TOKENS - 24 + 1) }), ctx);
    // Assess
    expect(err).toMatchObject({ status: 400, type: "invalid_request_error", code: "context_length_exceeded", param: "input" });
    expect(calls).toHaveLength(0);
  });
});

describe("regression: an item_reference to an item this proxy answered is read as that item", () => {
  // Regression: the Vercel AI SDK's openai() provider (its `store` option true by default) sends an
  // earlier assistant text it got from /v1/responses back as {"type":"item_reference","id":"msg_…"}:
  // a chat's second turn, an agent's second step. The proxy kept nothing and refused it 400, so
  // such an app broke on its second request unless it was changed to say store: false.
  const followUp = (...refs: string[]) =>
    aBody({
      input: [{ role: "user", content: "hi" }, ...refs.map((id) => ({ type: "item_reference", id })), { role: "user", content: "and?" }],
    });
  const outputOfAnswer = (body: Record<string, unknown>) => body.output as Array<{ id: string; type: string }>;

  it("reads a reference to a whole answer's message as that assistant text", async () => {
    // Prepare
    const items = itemStore();
    const first = aRouteContext({ ask: async () => anAnswer({ text: "Paris." }), items });
    const msg = outputOfAnswer(await whole(aBody(), first.ctx))[0]!;
    const { ctx, calls } = aNetwork({ items });
    // Act
    await whole(followUp(msg.id), ctx);
    // Assess
    expect(msg.type).toBe("message");
    expect(calls[0]!.messages).toStrictEqual([
      { role: "user", content: "hi" },
      { role: "assistant", content: "Paris." },
      { role: "user", content: "and?" },
    ]);
  });

  it("reads a reference to a streamed answer's call as that call", async () => {
    // Prepare
    const items = itemStore();
    const first = aRouteContext({
      askStream: aStream(done({ text: "", toolCalls: [aCall("call_1", '{"q":"x"}')], finishReason: "tool_calls" })),
      items,
    });
    const events = await streamed(first.ctx);
    const completed = ofType(events, "response.completed")[0]!.response as Record<string, unknown>;
    const fc = outputOfAnswer(completed).find((i) => i.type === "function_call")!;
    const { ctx, calls } = aNetwork({ items });
    // Act
    await whole(followUp(fc.id), ctx);
    // Assess
    expect(calls[0]!.messages?.[1]).toStrictEqual({ role: "assistant", content: "", toolCalls: [aCall("call_1", '{"q":"x"}')] });
  });

  it("keeps nothing of a request that said store: false", async () => {
    // Prepare
    const items = itemStore();
    const first = aRouteContext({ ask: async () => anAnswer({ text: "Paris." }), items });
    const msg = outputOfAnswer(await whole(aBody({ store: false }), first.ctx))[0]!;
    // Act
    const err = await refusal(followUp(msg.id), aNetwork({ items }).ctx);
    // Assess
    expect(items.size.items).toBe(0);
    expect(err).toMatchObject({ status: 400, code: "item_not_found", param: "input.1.id" });
  });

  it("refuses references naming more than MAX_REFERENCED_BYTES of kept items 400 context_length_exceeded, before copying any", async () => {
    // Regression: each reference was copied where it stood, so a 4 MiB body naming one large kept
    // answer tens of thousands of times took gigabytes before the prompt's cap was checked.
    // Prepare: one kept answer of ~100 KB, named enough times to pass the budget
    const items = itemStore();
    const first = aRouteContext({ ask: async () => anAnswer({ text: "x".repeat(100_000) }), items });
    const msg = outputOfAnswer(await whole(aBody(), first.ctx))[0]!;
    const times = Math.ceil(MAX_REFERENCED_BYTES / items.bytesOf(msg.id)!) + 1;
    const { ctx, calls } = aNetwork({ items });
    let recalls = 0;
    const recall = items.recall.bind(items);
    items.recall = (id) => (recalls++, recall(id));
    // Act
    const err = await refusal(followUp(...Array.from({ length: times }, () => msg.id)), ctx);
    // Assess
    expect(err).toMatchObject({ status: 400, code: "context_length_exceeded", param: "input" });
    expect(recalls).toBe(0);
    expect(calls).toHaveLength(0);
  });

  it("refuses a reference to an item it does not keep 400 item_not_found, naming the reference and store: false", async () => {
    // Prepare
    const ctx = aNetwork({ items: itemStore() }).ctx;
    // Act
    const err = await refusal(followUp("msg_1"), ctx);
    // Assess
    expect(err).toMatchObject({ status: 400, type: "invalid_request_error", code: "item_not_found", param: "input.1.id" });
    expect(err.message).toMatch(/^input\.1: item_reference "msg_1" is no item this proxy answered since it started/);
    expect(err.message).toContain("store: false");
  });

  it("keeps an item the app goes on naming while other requests fill the store (the least recently used go first)", async () => {
    // Regression: the store forgot its items oldest first, however often they were named since:
    // an app that sends its earlier assistant text by reference each turn (the Vercel AI SDK) was
    // refused 400 item_not_found once the proxy's other requests (another conversation, its own
    // kept responses, which hold each turn's whole input) had filled the store since its first answer.
    // Prepare: room for a few requests of 1 KB, and a first answer the app names on every turn
    const items = itemStore(8 * 1024);
    const first = aRouteContext({ ask: async () => anAnswer({ text: "Paris." }), items });
    const msg = outputOfAnswer(await whole(aBody(), first.ctx))[0]!;
    const { ctx, calls } = aNetwork({ items });
    // Act: twenty turns of the app, each after another conversation's request of 1 KB
    for (let turn = 0; turn < 20; turn++) {
      await whole(aBody({ input: "x".repeat(1024) }), ctx);
      await whole(followUp(msg.id), ctx);
    }
    // Assess
    expect(calls.filter((c) => c.messages?.length === 3)).toHaveLength(20);
    expect(items.recall(msg.id)).toMatchObject({ id: msg.id, type: "message" });
  });

  it("keeps the items over the proxy's requests: the official client's second turn by reference", async () => {
    // Prepare
    const { openai, calls } = await startFakedProxy([MODEL], { ask: async () => anAnswer({ text: "Paris." }) });
    const first = await openai.responses.create({ model: MODEL, input: "capital of France?" });
    // Act
    await openai.responses.create({
      model: MODEL,
      input: [
        { role: "user", content: "capital of France?" },
        { type: "item_reference", id: first.output[0]!.id! },
        { role: "user", content: "and of Italy?" },
      ],
    });
    // Assess
    expect((calls[1] as AskRequest).messages?.[1]).toStrictEqual({ role: "assistant", content: "Paris." });
  });
});

describe("regression: previous_response_id chains to responses this proxy answered", () => {
  // Regression: previous_response_id, the Responses API's own way to hold a conversation (OpenAI's
  // guide, the openai-agents SDK's previousResponseId), was refused 400 on every second turn:
  // apps written for the Responses API broke unless rewritten to resend the whole conversation.
  const idOf = (body: Record<string, unknown>) => body.id as string;

  it("asks with the earlier input and answer before the new input, and this request's instructions only", async () => {
    // Prepare
    const items = itemStore();
    const first = aRouteContext({ ask: async () => anAnswer({ text: "Paris." }), items });
    const prev = await whole(aBody({ instructions: "be brief", input: "capital of France?" }), first.ctx);
    const { ctx, calls } = aNetwork({ items });
    // Act
    const next = await whole(aBody({ instructions: "be kind", input: "and of Italy?", previous_response_id: idOf(prev) }), ctx);
    // Assess
    expect(calls[0]!.messages).toStrictEqual([
      { role: "system", content: "be kind" },
      { role: "user", content: "capital of France?" },
      { role: "assistant", content: "Paris." },
      { role: "user", content: "and of Italy?" },
    ]);
    expect(next.previous_response_id).toBe(idOf(prev));
  });

  it("follows a chain of three, the middle one streamed, with its function call and output", async () => {
    // Prepare
    const items = itemStore();
    const one = await whole(aBody({ input: "look it up" }), aRouteContext({ ask: async () => anAnswer({ text: "On it." }), items }).ctx);
    const streamedTwo = await streamed(
      aRouteContext({
        askStream: aStream(done({ text: "", toolCalls: [aCall("call_1", "{}")], finishReason: "tool_calls" })),
        items,
      }).ctx,
      aBody({ input: "go", previous_response_id: idOf(one) }),
    );
    const two = ofType(streamedTwo, "response.completed")[0]!.response as Record<string, unknown>;
    const { ctx, calls } = aNetwork({ items });
    // Act
    await whole(
      aBody({ input: [{ type: "function_call_output", call_id: "call_1", output: "42" }], previous_response_id: idOf(two) }),
      ctx,
    );
    // Assess
    expect(calls[0]!.messages).toStrictEqual([
      { role: "user", content: "look it up" },
      { role: "assistant", content: "On it." },
      { role: "user", content: "go" },
      { role: "assistant", content: "", toolCalls: [aCall("call_1", "{}")] },
      { role: "tool", content: "42", toolCallId: "call_1" },
    ]);
  });

  it("counts the earlier responses toward the network's cap on a job's prompt: a short input after a long one is 400, no job asked", async () => {
    // Guard (passes on the code as it landed): what previous_response_id brings is sent, so it is counted.
    // Prepare: a first response whose input alone is just under the cap
    const items = itemStore();
    const prev = await whole(aBody({ input: "i".repeat(MAX_JOB_PROMPT_TOKENS - 24 - 4) }), aRouteContext({ items }).ctx);
    const { ctx, calls } = aNetwork({ items });
    // Act
    const err = await refusal(aBody({ input: "and?", previous_response_id: idOf(prev) }), ctx);
    // Assess
    expect(err).toMatchObject({ status: 400, code: "context_length_exceeded", param: "input" });
    expect(calls).toHaveLength(0);
  });

  it("keeps a response's input with its references read when it was asked, not after its answer", async () => {
    // Regression: the kept input's references were read once the answer came, and only then: an
    // item pushed out of the store meanwhile (other requests answered while this one waited for its
    // model or its answer) was kept as the bare reference, and every later previous_response_id
    // through this response was refused 400 item_not_found for an item the app never named again.
    // Prepare: a first answer, then a request naming it by reference, during whose wait another
    // request's answer fills the store
    const items = itemStore(4 * 1024);
    const msg = (
      (await whole(aBody(), aRouteContext({ ask: async () => anAnswer({ text: "Paris." }), items }).ctx)).output as Array<{
        id: string;
      }>
    )[0]!;
    const busy = aRouteContext({
      items,
      ask: async () => anAnswer({ text: "Rome." }),
      model: async () => {
        items.remember([{ id: "msg_other", type: "message", role: "assistant", content: "y".repeat(4000) }]);
        return undefined;
      },
    });
    const second = await whole(
      aBody({
        input: [
          { role: "user", content: "hi" },
          { type: "item_reference", id: msg.id },
        ],
      }),
      busy.ctx,
    );
    const { ctx, calls } = aNetwork({ items });
    // Act
    await whole(aBody({ input: "and?", previous_response_id: idOf(second) }), ctx);
    // Assess
    expect(calls[0]!.messages).toStrictEqual([
      { role: "user", content: "hi" },
      { role: "assistant", content: "Paris." },
      { role: "assistant", content: "Rome." },
      { role: "user", content: "and?" },
    ]);
  });

  it("refuses a response it does not keep, or one asked with store: false, 400 previous_response_not_found", async () => {
    // Prepare
    const items = itemStore();
    const unstored = await whole(aBody({ store: false }), aRouteContext({ items }).ctx);
    const ctx = aNetwork({ items }).ctx;
    // Act
    const unknown = await refusal(aBody({ previous_response_id: "resp_1" }), ctx);
    const notKept = await refusal(aBody({ previous_response_id: idOf(unstored) }), ctx);
    // Assess
    for (const err of [unknown, notKept])
      expect(err).toMatchObject({
        status: 400,
        type: "invalid_request_error",
        code: "previous_response_not_found",
        param: "previous_response_id",
      });
    expect(unknown.message).toMatch(/^previous_response_id: the response "resp_1" is no response this proxy answered since it started/);
  });

  it("keeps the conversation over the proxy's requests: the official client's second turn by previous_response_id", async () => {
    // Prepare
    const { openai, calls } = await startFakedProxy([MODEL], { ask: async () => anAnswer({ text: "Paris." }) });
    const first = await openai.responses.create({ model: MODEL, input: "capital of France?" });
    // Act
    const second = await openai.responses.create({ model: MODEL, input: "and of Italy?", previous_response_id: first.id });
    // Assess
    expect((calls[1] as AskRequest).messages).toStrictEqual([
      { role: "user", content: "capital of France?" },
      { role: "assistant", content: "Paris." },
      { role: "user", content: "and of Italy?" },
    ]);
    expect(second.previous_response_id).toBe(first.id);
  });
});
