import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { BUILTIN_DEFAULT_MODEL, builtinAnswer, truncateToTokens } from "../agent/engines/builtin";
import { createOpenAiEngine } from "../agent/engines/openai-http";
import type { RunningAgent } from "../agent/runtime";
import { type AskStreamEvent, type ServeProxy, type ServeProxyOptions } from "../client/serve";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { anAnswer, caps, closeProxies, serveOverNetwork, startFakedProxy } from "./fixtures/serve-proxy";
import { fakeCompletion, fakeToolCall, startFakeOpenAiServer, type FakeOpenAiServer } from "./fixtures/openai-server";

/**
 * POST /v1/responses (OpenAI's Responses API, the default of the openai-agents SDK and of the
 * Vercel AI SDK's openai provider) on `cocoon serve`, through the official openai npm client's
 * `responses.create` and `responses.stream`: first over the local network (coordinator, dev
 * agents, sealed jobs; a tool round trip through an OpenAI-shaped engine), then over a faked
 * network for what reaches the network, the SSE framing, failures and every refusal.
 */

const ask = (content: string) => [{ role: "user" as const, content }];
const TOOLS = "fake-tools";

const weather: OpenAI.Responses.FunctionTool = {
  type: "function",
  name: "lookup_weather",
  description: "weather by city",
  parameters: { type: "object", properties: { question: { type: "string" } } },
  strict: false,
};

describe("openai client → /v1/responses → local network", () => {
  let engine: FakeOpenAiServer;
  let net: LocalNetwork;
  let agents: RunningAgent[];
  let proxy: ServeProxy;
  let openai: OpenAI;

  beforeAll(async () => {
    engine = await startFakeOpenAiServer({ models: [TOOLS], modelFields: { max_model_len: 4096 } });
    net = await startNetwork({ chain: false });
    agents = await startLocalAgents(net.url, tempDir("cocoon-responses-"), [
      { name: "echo", priceBps: 10_000 },
      { name: "tools", priceBps: 10_000, engine: createOpenAiEngine({ baseUrl: engine.url }), models: [TOOLS] },
    ]);
    ({ proxy, openai } = await serveOverNetwork(net.url));
  }, 60_000);

  afterAll(async () => {
    await proxy?.close();
    await Promise.all((agents ?? []).map((a) => a.stop()));
    await net?.stop();
    await engine?.close();
  });

  it("answers a response whose output_text is the model's answer, with usage and the Cocoon headers", async () => {
    // Prepare
    const expected = truncateToTokens(builtinAnswer(ask("Capital of France?")), 64);
    // Act
    const { data, response } = await openai.responses
      .create({ model: BUILTIN_DEFAULT_MODEL, input: "Capital of France?", max_output_tokens: 64, store: false })
      .withResponse();
    // Assess
    expect(data.output_text).toBe(expected.text);
    expect(data).toMatchObject({
      object: "response",
      status: "completed",
      model: BUILTIN_DEFAULT_MODEL,
      error: null,
      incomplete_details: null,
      output: [
        {
          type: "message",
          role: "assistant",
          status: "completed",
          content: [{ type: "output_text", text: expected.text, annotations: [] }],
        },
      ],
      usage: { output_tokens: expected.tokens, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } },
    });
    expect(data.usage!.total_tokens).toBe(data.usage!.input_tokens + data.usage!.output_tokens);
    expect(data.output[0]!.id).toMatch(/^msg_/);
    // The id is the proxy's own (previous_response_id names it); the job, whose receipt backs the answer, is in x-cocoon-job-id.
    expect(data.id).toMatch(/^resp_[0-9a-f]{24}$/);
    expect(response.headers.get("x-cocoon-job-id")).toMatch(/^job_/);
    expect(data.id).not.toContain(response.headers.get("x-cocoon-job-id")!.slice(4));
    expect(BigInt(response.headers.get("x-cocoon-cost-nanoton")!)).toBeGreaterThan(0n);
    expect(response.headers.get("x-request-id")).toMatch(/^req_/);
  });

  it("puts instructions first, as a system message", async () => {
    // Prepare
    const messages = [
      { role: "system" as const, content: "Answer briefly." },
      { role: "user" as const, content: "hello" },
    ];
    // Act
    const r = await openai.responses.create({
      model: BUILTIN_DEFAULT_MODEL,
      instructions: "Answer briefly.",
      input: "hello",
      max_output_tokens: 64,
    });
    // Assess
    expect(r.output_text).toBe(truncateToTokens(builtinAnswer(messages), 64).text);
    expect(r.instructions).toBe("Answer briefly.");
  });

  it("streams the semantic events in order, numbered, and the .stream() helper assembles the same text", async () => {
    // Prepare
    const expected = truncateToTokens(builtinAnswer(ask("Stream me")), 64).text;
    // Act
    const stream = await openai.responses.create({ model: BUILTIN_DEFAULT_MODEL, input: "Stream me", max_output_tokens: 64, stream: true });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const e of stream) events.push(e);
    const helper = openai.responses.stream({ model: BUILTIN_DEFAULT_MODEL, input: "Stream me", max_output_tokens: 64 });
    const pieces: string[] = [];
    helper.on("response.output_text.delta", (e) => pieces.push(e.delta));
    const final = await helper.finalResponse();
    // Assess
    const types = events.map((e) => e.type);
    expect(types.slice(0, 5)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
    ]);
    expect(types.slice(-4)).toEqual([
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const deltas = events.filter((e) => e.type === "response.output_text.delta");
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.map((e) => e.delta).join("")).toBe(expected);
    const completed = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    expect(completed.response).toMatchObject({ status: "completed", output: [{ type: "message", content: [{ text: expected }] }] });
    expect(completed.response.id).toMatch(/^resp_[0-9a-f]{24}$/);
    expect(final.output_text).toBe(expected);
    expect(pieces.join("")).toBe(expected);
  });

  it("reports a budget cut as status incomplete (max_output_tokens), whole and streamed", async () => {
    // Act
    const whole = await openai.responses.create({
      model: BUILTIN_DEFAULT_MODEL,
      input: "Tell me a long story please",
      max_output_tokens: 2,
    });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const e of await openai.responses.create({
      model: BUILTIN_DEFAULT_MODEL,
      input: "Tell me a long story please",
      max_output_tokens: 2,
      stream: true,
    }))
      events.push(e);
    // Assess
    expect(whole).toMatchObject({
      status: "incomplete",
      incomplete_details: { reason: "max_output_tokens" },
      output: [{ status: "incomplete" }],
    });
    expect(whole.usage!.output_tokens).toBe(2);
    expect(events.at(-1)).toMatchObject({
      type: "response.incomplete",
      response: { status: "incomplete", incomplete_details: { reason: "max_output_tokens" } },
    });
  });

  it("runs a function tool round trip: the call comes as a function_call item, its output goes back as function_call_output", async () => {
    // Act 1: the model calls the tool
    const first = await openai.responses.create({ model: TOOLS, input: "Weather in Paris?", tools: [weather], max_output_tokens: 32 });
    const call = first.output.find((o): o is OpenAI.Responses.ResponseFunctionToolCall => o.type === "function_call")!;
    // Act 2: the app runs it and sends the whole conversation back (nothing is stored)
    const second = await openai.responses.create({
      model: TOOLS,
      input: [
        { role: "user", content: "Weather in Paris?" },
        ...first.output.map((o) => o as OpenAI.Responses.ResponseInputItem),
        { type: "function_call_output", call_id: call.call_id, output: "sunny, 21 C" },
      ],
      tools: [weather],
      max_output_tokens: 32,
      store: false,
    });
    // Assess
    const expectedCall = fakeToolCall(
      ask("Weather in Paris?") as never,
      [{ type: "function", function: { name: weather.name } }],
      "auto",
      0,
    );
    expect(first.status).toBe("completed");
    expect(first.output).toHaveLength(1);
    expect(call).toMatchObject({
      type: "function_call",
      status: "completed",
      name: "lookup_weather",
      arguments: expectedCall.function.arguments,
    });
    expect(call.id).toMatch(/^fc_/);
    expect(call.call_id).toBeTruthy();
    expect(first.tools).toEqual([weather]);
    expect(second.output_text).toBe(fakeCompletion([{ role: "tool", content: "sunny, 21 C" }], 32).text);
    // The engine got the tools in chat's shape, and then the call and its result as chat messages.
    expect(engine.requests.at(-1)?.body).toMatchObject({
      tools: [{ type: "function", function: { name: weather.name, description: weather.description, parameters: weather.parameters } }],
      messages: [
        { role: "user", content: "Weather in Paris?" },
        {
          role: "assistant",
          tool_calls: [{ id: call.call_id, type: "function", function: { name: call.name, arguments: call.arguments } }],
        },
        { role: "tool", tool_call_id: call.call_id, content: "sunny, 21 C" },
      ],
    });
  });

  it("streams a function call's arguments, and the helper's final response holds the call", async () => {
    // Act
    const helper = openai.responses.stream({ model: TOOLS, input: "Weather in Oslo?", tools: [weather], max_output_tokens: 32 });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    helper.on("event", (e) => events.push(e));
    const final = await helper.finalResponse();
    // Assess
    const args = JSON.stringify({ question: "Weather in Oslo?" });
    // (however the network cut them: the faked network below checks the pieces one by one)
    const pieces = events.filter((e) => e.type === "response.function_call_arguments.delta");
    expect(pieces.map((e) => e.delta).join("")).toBe(args);
    expect(events.find((e) => e.type === "response.function_call_arguments.done")).toMatchObject({
      name: "lookup_weather",
      arguments: args,
    });
    expect(final.output).toEqual([
      expect.objectContaining({ type: "function_call", status: "completed", name: "lookup_weather", arguments: args }),
    ]);
    expect(final.status).toBe("completed");
  });

  it("passes text.format, user, parallel_tool_calls and unknown fields to the engine (sealed)", async () => {
    // Act
    await openai.responses.create({
      model: TOOLS,
      input: "hello",
      user: "app-user-7",
      parallel_tool_calls: false,
      tools: [weather],
      tool_choice: "none",
      text: { format: { type: "json_schema", name: "answer", schema: { type: "object" }, strict: true } },
      max_output_tokens: 16,
      top_k: 7,
    } as OpenAI.Responses.ResponseCreateParamsNonStreaming);
    // Assess
    expect(engine.requests.at(-1)?.body).toMatchObject({
      user: "app-user-7",
      parallel_tool_calls: false,
      tool_choice: "none",
      response_format: { type: "json_schema", json_schema: { name: "answer", schema: { type: "object" }, strict: true } },
      max_tokens: 16,
      top_k: 7,
    });
  });

  it("refuses what the model cannot do with a 400 naming the Responses field, and an unknown model with 404", async () => {
    // Act
    const tools = await openai.responses.create({ model: BUILTIN_DEFAULT_MODEL, input: "hi", tools: [weather] }).catch((e: unknown) => e);
    const format = await openai.responses
      .create({ model: BUILTIN_DEFAULT_MODEL, input: "hi", text: { format: { type: "json_object" } } })
      .catch((e: unknown) => e);
    const unknown = await openai.responses.create({ model: "gpt-9-not-here", input: "hi" }).catch((e: unknown) => e);
    // Assess
    expect(tools).toBeInstanceOf(OpenAI.BadRequestError);
    expect(tools).toMatchObject({ status: 400, param: "tools", code: "unsupported_parameter" });
    expect(format).toMatchObject({ status: 400, param: "text.format", code: "unsupported_parameter" });
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect(unknown).toMatchObject({ status: 404, param: "model", code: "model_not_found" });
  });
});

describe("/v1/responses over a faked network", () => {
  const CHAT = "chat-tools";
  const PLAIN = "chat-only";
  const MODELS = [
    { id: CHAT, capabilities: caps({ tools: true, jsonSchema: true, contextLength: 4096 }) },
    { id: PLAIN, capabilities: caps({}) },
  ];

  afterEach(closeProxies);

  /** A proxy over MODELS' faked network (test/fixtures/serve-proxy.ts). */
  const start = (o: Partial<ServeProxyOptions> = {}) => startFakedProxy(MODELS, o);

  const post = (url: string, body: unknown) =>
    fetch(`${url}/v1/responses`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

  /** The SSE body as the Responses API frames it: `event: <type>` and `data: <payload of that type>` per event. */
  function sse(text: string): Array<Record<string, unknown>> {
    expect(text.endsWith("\n\n")).toBe(true);
    return text
      .slice(0, -2)
      .split("\n\n")
      .map((e) => {
        const m = /^event: ([^\n]+)\ndata: ([^\n]+)$/.exec(e);
        expect(m, e).not.toBeNull();
        const data = JSON.parse(m![2]!) as Record<string, unknown>;
        expect(data.type).toBe(m![1]);
        return data;
      });
  }

  it("reads instructions, every input item kind, function tools, tool_choice, text.format and the budget into one chat job", async () => {
    // Prepare
    const { url, calls } = await start();
    // Act
    const r = await post(url, {
      model: CHAT,
      instructions: "Be brief.",
      input: [
        { role: "developer", content: "Use metric units." },
        {
          type: "message",
          role: "user",
          content: [
            { type: "input_text", text: "Weather in " },
            { type: "input_text", text: "Paris?" },
          ],
        },
        {
          type: "message",
          role: "assistant",
          content: [{ type: "output_text", text: "Checking.", annotations: [] }],
          id: "msg_1",
          status: "completed",
        },
        { type: "function_call", call_id: "call_a", name: "lookup", arguments: '{"city":"Paris"}', id: "fc_1", status: "completed" },
        { type: "function_call", call_id: "call_b", name: "lookup", arguments: '{"city":"Lyon"}' },
        { type: "function_call_output", call_id: "call_a", output: "sunny" },
        { type: "function_call_output", call_id: "call_b", output: [{ type: "input_text", text: "rain" }] },
      ],
      tools: [{ type: "function", name: "lookup", description: "weather", parameters: { type: "object" }, strict: true }],
      tool_choice: { type: "function", name: "lookup" },
      parallel_tool_calls: true,
      text: { format: { type: "json_schema", name: "w", schema: { type: "object" }, strict: true }, verbosity: "low" },
      reasoning: { effort: "low" },
      max_output_tokens: 100,
      temperature: 0.2,
      top_p: 0.9,
      user: "u-1",
      store: true,
      metadata: { app: "demo" },
      include: ["reasoning.encrypted_content"],
      truncation: "disabled",
      stream_options: { include_obfuscation: false },
      top_k: 5,
    });
    const body = (await r.json()) as Record<string, unknown>;
    // Assess
    expect(r.status).toBe(200);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toEqual({
      model: CHAT,
      messages: [
        { role: "system", content: "Be brief." },
        { role: "system", content: "Use metric units." },
        { role: "user", content: "Weather in Paris?" },
        {
          role: "assistant",
          content: "Checking.",
          toolCalls: [
            { id: "call_a", type: "function", function: { name: "lookup", arguments: '{"city":"Paris"}' } },
            { id: "call_b", type: "function", function: { name: "lookup", arguments: '{"city":"Lyon"}' } },
          ],
        },
        { role: "tool", content: "sunny", toolCallId: "call_a" },
        { role: "tool", content: "rain", toolCallId: "call_b" },
      ],
      maxTokens: 100,
      temperature: 0.2,
      topP: 0.9,
      tools: [{ type: "function", function: { name: "lookup", description: "weather", parameters: { type: "object" }, strict: true } }],
      toolChoice: { type: "function", function: { name: "lookup" } },
      parallelToolCalls: true,
      responseFormat: { type: "json_schema", json_schema: { name: "w", schema: { type: "object" }, strict: true } },
      user: "u-1",
      // Unknown fields travel as chat does; reasoning.effort and text.verbosity under chat's names.
      extra: { top_k: 5, reasoning_effort: "low", verbosity: "low" },
      signal: expect.any(AbortSignal),
    });
    // The echo OpenAI's Response requires; nothing is stored, and the answer says so.
    expect(body).toMatchObject({
      object: "response",
      status: "completed",
      instructions: "Be brief.",
      metadata: { app: "demo" },
      temperature: 0.2,
      top_p: 0.9,
      max_output_tokens: 100,
      parallel_tool_calls: true,
      tool_choice: { type: "function", name: "lookup" },
      tools: [{ type: "function", name: "lookup", description: "weather", parameters: { type: "object" }, strict: true }],
      text: { format: { type: "json_schema", name: "w" } },
      previous_response_id: null,
      store: false,
      error: null,
      user: "u-1",
      usage: { input_tokens: 9, output_tokens: 2, total_tokens: 11 },
    });
    expect(body.id).toMatch(/^resp_[0-9a-f]{24}$/);
    expect(r.headers.get("x-cocoon-job-id")).toBe("job_0123456789abcdefghijklmnop");
    expect(r.headers.get("x-cocoon-worker")).toBe("W".repeat(43));
    expect(r.headers.get("x-cocoon-tier")).toBe("dev");
    expect(r.headers.get("x-cocoon-cost-nanoton")).toBe("110");
  });

  it("answers text and tool calls as a message item then function_call items; calls alone without a message", async () => {
    // Prepare
    const call = { id: "call_x", type: "function" as const, function: { name: "lookup", arguments: "{}" } };
    const answers = [
      anAnswer(CHAT, { text: "Let me look.", toolCalls: [call], finishReason: "tool_calls" }),
      anAnswer(CHAT, { text: "", toolCalls: [call] }),
    ];
    const { openai } = await start({ ask: async () => answers.shift()! });
    const tools: OpenAI.Responses.FunctionTool[] = [{ type: "function", name: "lookup", parameters: null, strict: null }];
    // Act
    const both = await openai.responses.create({ model: CHAT, input: "hi", tools });
    const only = await openai.responses.create({ model: CHAT, input: "hi", tools });
    // Assess
    expect(both.output.map((o) => o.type)).toEqual(["message", "function_call"]);
    expect(both.output_text).toBe("Let me look.");
    expect(both.output[1]).toMatchObject({ call_id: "call_x", name: "lookup", arguments: "{}", status: "completed" });
    expect(only.output.map((o) => o.type)).toEqual(["function_call"]);
    expect(only.status).toBe("completed");
  });

  it("streams text then tool-call pieces as their own items, with the Cocoon facts on the terminal event and no [DONE]", async () => {
    // Prepare
    const askStream = async function* (): AsyncGenerator<AskStreamEvent> {
      yield { type: "delta", text: "Let", jobId: "job_s" };
      yield { type: "delta", text: " me look." };
      yield { type: "delta", toolCalls: [{ index: 0, id: "call_1", type: "function", function: { name: "lookup", arguments: '{"ci' } }] };
      yield { type: "delta", toolCalls: [{ index: 0, function: { arguments: 'ty":"Oslo"}' } }] };
      yield { type: "delta", toolCalls: [{ index: 1, id: "call_2", type: "function", function: { name: "lookup", arguments: "{}" } }] };
      const call = (id: string, args: string) => ({ id, type: "function" as const, function: { name: "lookup", arguments: args } });
      yield {
        type: "done",
        ...anAnswer(CHAT, {
          text: "Let me look.",
          jobId: "job_s",
          finishReason: "tool_calls",
          toolCalls: [call("call_1", '{"city":"Oslo"}'), call("call_2", "{}")],
        }),
      };
    };
    const { url } = await start({ askStream });
    // Act
    const r = await post(url, {
      model: CHAT,
      input: "Weather?",
      tools: [{ type: "function", name: "lookup", parameters: { type: "object" } }],
      stream: true,
    });
    const text = await r.text();
    const events = sse(text);
    // Assess
    expect(r.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(text).not.toContain("[DONE]");
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events.map((e) => [e.type, e.output_index ?? null])).toEqual([
      ["response.created", null],
      ["response.in_progress", null],
      ["response.output_item.added", 0],
      ["response.content_part.added", 0],
      ["response.output_text.delta", 0],
      ["response.output_text.delta", 0],
      ["response.output_text.done", 0],
      ["response.content_part.done", 0],
      ["response.output_item.done", 0],
      ["response.output_item.added", 1],
      ["response.function_call_arguments.delta", 1],
      ["response.function_call_arguments.delta", 1],
      ["response.output_item.added", 2],
      ["response.function_call_arguments.delta", 2],
      ["response.function_call_arguments.done", 1],
      ["response.output_item.done", 1],
      ["response.function_call_arguments.done", 2],
      ["response.output_item.done", 2],
      ["response.completed", null],
    ]);
    const id = (events[0] as { response: { id: string } }).response.id;
    expect(id).toMatch(/^resp_[0-9a-f]{24}$/);
    expect(events[0]).toMatchObject({ response: { status: "in_progress", output: [], usage: null } });
    expect(events[9]).toMatchObject({
      item: { type: "function_call", call_id: "call_1", name: "lookup", arguments: "", status: "in_progress" },
    });
    expect(events[14]).toMatchObject({ name: "lookup", arguments: '{"city":"Oslo"}' });
    const last = events.at(-1)!;
    expect(last).toMatchObject({
      response: {
        id,
        status: "completed",
        output: [
          { type: "message", status: "completed", content: [{ type: "output_text", text: "Let me look." }] },
          { type: "function_call", call_id: "call_1", arguments: '{"city":"Oslo"}', status: "completed" },
          { type: "function_call", call_id: "call_2", arguments: "{}", status: "completed" },
        ],
        usage: { input_tokens: 9, output_tokens: 2 },
      },
      cocoon: { job_ids: ["job_s"], workers: ["W".repeat(43)], tiers: ["dev"], cost_nanoton: "110" },
    });
  });

  it("streams an empty answer as one empty message, as a whole answer has", async () => {
    // Prepare
    const { openai } = await start({ ask: async () => anAnswer(CHAT, { text: "" }) });
    // Act
    const final = await openai.responses.stream({ model: CHAT, input: "hi" }).finalResponse();
    const whole = await openai.responses.create({ model: CHAT, input: "hi" });
    // Assess
    expect(final.output).toEqual([expect.objectContaining({ type: "message", content: [expect.objectContaining({ text: "" })] })]);
    expect(whole.output).toEqual([expect.objectContaining({ type: "message", content: [expect.objectContaining({ text: "" })] })]);
    expect(final.output_text).toBe("");
  });

  it("ends a stream broken after its head with an error event the openai client raises, then response.failed carrying the error", async () => {
    // Prepare
    class Restarted extends Error {
      readonly code = "stream_restarted";
    }
    const askStream = async function* (): AsyncGenerator<AskStreamEvent> {
      yield { type: "delta", text: "Half", jobId: "job_f" };
      throw new Restarted("the worker failed mid-answer");
    };
    const errors: unknown[] = [];
    const { url, openai } = await start({ askStream, onError: (e) => errors.push(e) });
    // Act
    const seen: OpenAI.Responses.ResponseStreamEvent[] = [];
    const raised = await (async () => {
      for await (const e of await openai.responses.create({ model: CHAT, input: "hi", stream: true })) seen.push(e);
    })().catch((e: unknown) => e);
    const events = sse(await (await post(url, { model: CHAT, input: "hi", stream: true })).text());
    // Assess: the client got the text so far, then raised the error
    expect(seen.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta)).toEqual(["Half"]);
    expect(raised).toBeInstanceOf(OpenAI.APIError);
    expect(raised).toMatchObject({ message: expect.stringContaining("the worker failed mid-answer") });
    // On the wire: the spec's flat fields and OpenAI's nested error, then the failed response as far as it got
    const error = { code: "stream_restarted", message: "the worker failed mid-answer", param: null };
    expect(events.slice(-2)).toMatchObject([
      { type: "error", ...error, error: { type: "upstream_error", ...error } },
      {
        type: "response.failed",
        response: {
          id: expect.stringMatching(/^resp_[0-9a-f]{24}$/),
          status: "failed",
          error: { code: "stream_restarted", message: "the worker failed mid-answer" },
          output: [{ type: "message", status: "incomplete", content: [{ type: "output_text", text: "Half" }] }],
        },
      },
    ]);
    expect(errors).toHaveLength(2);
  });

  it("answers a failure before the first event with its HTTP status, as chat does", async () => {
    // Prepare
    const askStream = async function* (): AsyncGenerator<AskStreamEvent> {
      yield* [];
      throw Object.assign(new Error("no worker free"), { code: "no_worker_available" });
    };
    const { openai } = await start({
      askStream,
      ask: async () => {
        throw Object.assign(new Error("no funds"), { code: "insufficient_funds" });
      },
    });
    // Act
    const streamed = await openai.responses.create({ model: CHAT, input: "hi", stream: true }).catch((e: unknown) => e);
    const whole = await openai.responses.create({ model: CHAT, input: "hi" }).catch((e: unknown) => e);
    // Assess
    expect(streamed).toMatchObject({ status: 503, type: "service_unavailable", code: "no_worker_available" });
    expect(whole).toMatchObject({ status: 402, type: "insufficient_quota", code: "insufficient_funds" });
  });

  const tool = { type: "function", name: "lookup", parameters: { type: "object" } };
  const refusals: Array<[string, Record<string, unknown>, number, string, string | RegExp]> = [
    [
      "previous_response_id of a response this proxy does not keep",
      { previous_response_id: "resp_1" },
      400,
      "previous_response_not_found",
      "previous_response_id",
    ],
    ["conversation (nothing is stored)", { conversation: "conv_1" }, 400, "unsupported_parameter", "conversation"],
    ["a stored prompt template", { prompt: { id: "pmpt_1" } }, 400, "unsupported_parameter", "prompt"],
    ["background: true", { background: true }, 400, "unsupported_parameter", "background"],
    ["a hosted tool (web_search)", { tools: [tool, { type: "web_search" }] }, 400, "unsupported_parameter", "tools.1.type"],
    [
      "a hosted tool (file_search)",
      { tools: [{ type: "file_search", vector_store_ids: ["vs"] }] },
      400,
      "unsupported_parameter",
      "tools.0.type",
    ],
    ["a function tool without a name", { tools: [{ type: "function", parameters: {} }] }, 400, "invalid_request", "tools.0.name"],
    ["a hosted tool_choice", { tools: [tool], tool_choice: { type: "web_search_preview" } }, 400, "unsupported_parameter", "tool_choice"],
    ["tool_choice required without tools", { tool_choice: "required" }, 400, "invalid_request", "tool_choice"],
    [
      "tool_choice naming a function not in tools",
      { tools: [tool], tool_choice: { type: "function", name: "other" } },
      400,
      "invalid_request",
      "tool_choice",
    ],
    [
      "an item_reference to an item this proxy does not keep",
      { input: [{ type: "item_reference", id: "msg_1" }] },
      400,
      "item_not_found",
      "input.0.id",
    ],
    [
      "an input item of a hosted tool's call (web_search_call)",
      {
        input: [
          { role: "user", content: "hi" },
          { type: "web_search_call", id: "ws_1", status: "completed" },
        ],
      },
      400,
      "unsupported_parameter",
      "input.1.type",
    ],
    [
      // images are taken inline only (client/serve/images.test.ts)
      "an image part at a remote URL",
      { input: [{ role: "user", content: [{ type: "input_image", image_url: "https://x/y.png" }] }] },
      400,
      "remote_image_url",
      "input.0.content.0",
    ],
    [
      "a refusal part on a user message (only an assistant's answer is replayed that way)",
      { input: [{ role: "user", content: [{ type: "refusal", refusal: "no" }] }] },
      400,
      "unsupported_content",
      "input.0.content.0",
    ],
    ["a message with a bad role", { input: [{ role: "tool", content: "x" }] }, 400, "invalid_request", "input.0.role"],
    [
      "a function_call_output without call_id",
      { input: [{ type: "function_call_output", output: "x" }] },
      400,
      "invalid_request",
      "input.0.call_id",
    ],
    ["no input", { input: undefined }, 400, "invalid_request", "input"],
    ["an empty input list", { input: [] }, 400, "invalid_request", "input"],
    ["temperature out of range", { temperature: 3 }, 400, "invalid_request", "temperature"],
    ["an unknown text.format type", { text: { format: { type: "yaml" } } }, 400, "invalid_request", "text.format.type"],
    ["logprobs asked through include", { include: ["message.output_text.logprobs"] }, 400, "unsupported_parameter", "include"],
    ["top_logprobs", { top_logprobs: 3 }, 400, "unsupported_parameter", "top_logprobs"],
    [
      "metadata past 16 keys",
      { metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"])) },
      400,
      "invalid_request",
      "metadata",
    ],
    ["max_output_tokens past the model's context", { max_output_tokens: 5000 }, 400, "unsupported_parameter", "max_output_tokens"],
    ["max_output_tokens past one job's cap", { model: PLAIN, max_output_tokens: 10_000_000 }, 400, "invalid_request", "max_output_tokens"],
    ["tools on a model without function calling", { model: PLAIN, tools: [tool] }, 400, "unsupported_parameter", "tools"],
    [
      "a tool result on a model without function calling",
      {
        model: PLAIN,
        input: [
          { role: "user", content: "hi" },
          { type: "function_call_output", call_id: "c", output: "x" },
        ],
      },
      400,
      "unsupported_parameter",
      "input.1",
    ],
    [
      "json_object on a model that cannot enforce it",
      { model: PLAIN, text: { format: { type: "json_object" } } },
      400,
      "unsupported_parameter",
      "text.format",
    ],
    ["a model nobody offers", { model: "nope" }, 404, "model_not_found", "model"],
  ];

  it.each(refusals)(
    "refuses %s before any job, with its status, code and param, whole and streamed",
    async (_what, over, status, code, param) => {
      // Prepare
      const { openai, calls } = await start();
      const body = { model: CHAT, input: "hi", ...over } as OpenAI.Responses.ResponseCreateParamsNonStreaming;
      // Act
      const whole = await openai.responses.create(body).catch((e: unknown) => e);
      const streamed = await openai.responses.create({ ...body, stream: true }).catch((e: unknown) => e);
      // Assess
      for (const e of [whole, streamed]) {
        expect(e).toBeInstanceOf(OpenAI.APIError);
        expect(e).toMatchObject({ status, code, param });
      }
      expect((whole as Error).message.length).toBeGreaterThan(0);
      expect(calls).toHaveLength(0);
    },
  );

  it("says in the refusal of an unknown previous_response_id what is kept, and a retry is not advised", async () => {
    // Prepare
    const { openai } = await start();
    // Act
    const e = (await openai.responses
      .create({ model: CHAT, input: "hi", previous_response_id: "resp_1" })
      .catch((x: unknown) => x)) as InstanceType<typeof OpenAI.APIError>;
    // Assess
    expect(e.message).toMatch(/is no response this proxy answered since it started/);
    expect(e.headers?.get("x-should-retry")).toBe("false");
  });

  it("drops tools a model without function calling is told not to use (tool_choice none), as chat does", async () => {
    // Prepare
    const { openai, calls } = await start();
    // Act
    await openai.responses.create({ model: PLAIN, input: "hi", tools: [weather], tool_choice: "none" });
    // Assess
    expect(calls[0]!.tools).toBeUndefined();
    expect(calls[0]!.toolChoice).toBeUndefined();
  });
});
