import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { BUILTIN_DEFAULT_MODEL, builtinAnswer, createBuiltinEngine, truncateToTokens } from "../agent/engines/builtin";
import { createOpenAiEngine } from "../agent/engines/openai-http";
import type { RunningAgent } from "../agent/runtime";
import { AskInputError, CocoonClient } from "../client/sdk";
import { type ServeProxy } from "../client/serve";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { fakeCompletion, fakeEmbedding, fakeToolCall, startFakeOpenAiServer, type FakeOpenAiServer } from "./fixtures/openai-server";
import { serveOverNetwork } from "./fixtures/serve-proxy";

/**
 * Issue 11, "an OpenAI drop-in": the official openai npm client, unchanged, against
 * `cocoon serve` on the local network (coordinator, dev agents, sealed jobs), as an app would
 * use it: streaming, the .stream() helper, a tool-call round trip through an OpenAI-shaped
 * engine, embeddings with the client's default (base64) encoding, and OpenAI's error shape.
 */

const SLOW = "slow-echo";
const SLOW_MS_PER_TOKEN = 50;
const TOOLS = "fake-tools";
const EMBED = "fake-embed";

let engine: FakeOpenAiServer;
let net: LocalNetwork;
let agents: RunningAgent[];
let proxy: ServeProxy;
let openai: OpenAI;
/** What the network itself answered, to compare with what came through the proxy. */
let sdk: CocoonClient;

beforeAll(async () => {
  engine = await startFakeOpenAiServer({ models: [TOOLS, EMBED], modelFields: { max_model_len: 4096 } });
  net = await startNetwork({ chain: false });
  agents = await startLocalAgents(net.url, tempDir("cocoon-openai-"), [
    { name: "echo", priceBps: 10_000 },
    { name: "slow", priceBps: 10_000, engine: createBuiltinEngine({ models: [SLOW], delayMsPerToken: SLOW_MS_PER_TOKEN }), models: [SLOW] },
    { name: "tools", priceBps: 10_000, engine: createOpenAiEngine({ baseUrl: engine.url }), models: [TOOLS] },
    {
      name: "embed",
      priceBps: 10_000,
      engine: createOpenAiEngine({
        baseUrl: engine.url,
        capabilities: { chat: false, completions: false, tools: false, jsonSchema: false, embeddings: true },
      }),
      models: [EMBED],
    },
  ]);
  ({ sdk, proxy, openai } = await serveOverNetwork(net.url));
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await Promise.all((agents ?? []).map((a) => a.stop()));
  await net?.stop();
  await engine?.close();
});

const ask = (content: string) => [{ role: "user" as const, content }];

describe("openai client → cocoon serve → local network", () => {
  it("lists the network's models with what each can do", async () => {
    // Act
    const models = (await openai.models.list()).data as Array<OpenAI.Models.Model & { capabilities?: Record<string, unknown> }>;
    // Assess
    const of = (id: string) => models.find((m) => m.id === id)?.capabilities;
    expect(of(BUILTIN_DEFAULT_MODEL)).toMatchObject({ chat: true, tools: false, json_schema: false, embeddings: false, streaming: true });
    expect(of(TOOLS)).toMatchObject({ chat: true, tools: true, json_schema: true, context_length: 4096 });
    expect(of(EMBED)).toMatchObject({ chat: false, embeddings: true });
    // No engine of this network returns log probabilities yet: said, not left to guess.
    for (const id of [BUILTIN_DEFAULT_MODEL, TOOLS, EMBED]) expect(of(id)).toMatchObject({ logprobs: false });
  });

  it("refuses logprobs and top_logprobs with a 400 naming the parameter where the model cannot return them (chat and completions)", async () => {
    // Prepare
    const requestsBefore = engine.requests.length;
    // Act
    const chat = await openai.chat.completions.create({ model: TOOLS, messages: ask("hi"), logprobs: true }).catch((e: unknown) => e);
    const top = await openai.chat.completions.create({ model: TOOLS, messages: ask("hi"), top_logprobs: 2 }).catch((e: unknown) => e);
    const streamed = await openai.chat.completions
      .create({ model: SLOW, messages: ask("hi"), logprobs: true, stream: true })
      .catch((e: unknown) => e);
    const completion = await openai.completions.create({ model: TOOLS, prompt: "Once", logprobs: 1 }).catch((e: unknown) => e);
    // Assess: refused before any job (nothing reached the engine, nothing was held)
    expect(chat).toBeInstanceOf(OpenAI.BadRequestError);
    expect(chat).toMatchObject({ status: 400, param: "logprobs", code: "unsupported_parameter", type: "invalid_request_error" });
    expect(top).toMatchObject({ status: 400, param: "top_logprobs" });
    expect(streamed).toMatchObject({ status: 400, param: "logprobs" });
    expect(completion).toMatchObject({ status: 400, param: "logprobs" });
    expect(engine.requests.length).toBe(requestsBefore);
  });

  it("answers a chat completion with usage, and x-request-id on the response", async () => {
    // Act
    const { data, response, request_id } = await openai.chat.completions
      .create({ model: BUILTIN_DEFAULT_MODEL, messages: ask("Capital of France?"), max_tokens: 64 })
      .withResponse();
    // Assess
    const expected = truncateToTokens(builtinAnswer(ask("Capital of France?")), 64);
    expect(data.choices[0]).toMatchObject({ index: 0, message: { role: "assistant", content: expected.text }, finish_reason: "stop" });
    expect(data.usage).toMatchObject({ completion_tokens: expected.tokens });
    expect(response.headers.get("x-request-id")).toMatch(/^req_/);
    expect(request_id).toBe(response.headers.get("x-request-id"));
    expect(response.headers.get("x-cocoon-job-id")).toBe(data.id.replace(/^chatcmpl-/, ""));
  });

  it("refuses a bad parameter with 400 naming it, and an unknown model with 404, in OpenAI's error shape", async () => {
    // Act
    const bad = await openai.chat.completions
      .create({ model: BUILTIN_DEFAULT_MODEL, messages: ask("hi"), temperature: 7 })
      .catch((e: unknown) => e);
    const unknown = await openai.chat.completions.create({ model: "gpt-9-not-here", messages: ask("hi") }).catch((e: unknown) => e);
    const cannot = await openai.chat.completions
      .create({
        model: BUILTIN_DEFAULT_MODEL,
        messages: ask("hi"),
        tools: [{ type: "function", function: { name: "lookup", parameters: { type: "object" } } }],
      })
      .catch((e: unknown) => e);
    // Assess
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad).toMatchObject({ status: 400, param: "temperature", type: "invalid_request_error", code: "invalid_request" });
    expect((bad as InstanceType<typeof OpenAI.APIError>).requestID).toMatch(/^req_/);
    expect((bad as InstanceType<typeof OpenAI.APIError>).headers?.get("x-should-retry")).toBe("false");
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect(unknown).toMatchObject({ status: 404, param: "model", code: "model_not_found", type: "invalid_request_error" });
    expect(cannot).toBeInstanceOf(OpenAI.BadRequestError);
    expect(cannot).toMatchObject({ param: "tools", code: "unsupported_parameter" });
  });

  it("refuses a tool_choice that calls a tool not given (required without tools, a function not in tools) with 400 tool_choice, before any job", async () => {
    // Prepare
    const tools: OpenAI.Chat.ChatCompletionTool[] = [{ type: "function", function: { name: "lookup", parameters: { type: "object" } } }];
    // Act
    const required = await openai.chat.completions
      .create({ model: TOOLS, messages: ask("hi"), tool_choice: "required" })
      .catch((e: unknown) => e);
    const named = await openai.chat.completions
      .create({ model: TOOLS, messages: ask("hi"), tools, tool_choice: { type: "function", function: { name: "other" } } })
      .catch((e: unknown) => e);
    // Assess
    expect(required).toMatchObject({ status: 400, param: "tool_choice", code: "invalid_request" });
    expect(named).toMatchObject({ status: 400, param: "tool_choice", code: "invalid_request" });
  });

  it("streams a chat: the first chunk arrives while the engine is still generating", async () => {
    // Prepare
    const messages = ask("Tell me something long enough to take a while");
    const expected = truncateToTokens(builtinAnswer(messages), 64);
    const generationMs = expected.tokens * SLOW_MS_PER_TOKEN;
    // Act
    const started = Date.now();
    const stream = await openai.chat.completions.create({
      model: SLOW,
      messages,
      max_tokens: 64,
      stream: true,
      stream_options: { include_usage: true },
    });
    let firstAt: number | undefined;
    let lastAt = 0;
    let text = "";
    const ids = new Set<string>();
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      ids.add(chunk.id);
      const piece = chunk.choices[0]?.delta?.content;
      if (piece) {
        firstAt ??= Date.now() - started;
        lastAt = Date.now() - started;
        text += piece;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    // Assess
    expect(text).toBe(expected.text);
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^chatcmpl-job_[0-9a-z]{26}$/); // the job's id, as a non-streamed answer's: its receipt can be found
    expect(usage).toMatchObject({ completion_tokens: expected.tokens });
    // Emulated streaming would deliver all text at once, after the whole generation.
    expect(lastAt - firstAt!).toBeGreaterThan(generationMs / 2);
  });

  it("is accepted by the client's .stream() helper (role first, finish_reason last, usage chunk)", async () => {
    // Prepare
    const messages = ask("Stream me");
    const expected = truncateToTokens(builtinAnswer(messages), 64);
    // Act
    const stream = openai.chat.completions.stream({
      model: BUILTIN_DEFAULT_MODEL,
      messages,
      max_tokens: 64,
      stream_options: { include_usage: true },
    });
    const pieces: string[] = [];
    stream.on("content", (delta) => pieces.push(delta));
    const final = await stream.finalChatCompletion();
    // Assess
    expect(final.choices[0]).toMatchObject({ message: { role: "assistant", content: expected.text }, finish_reason: "stop" });
    expect(final.usage).toMatchObject({ completion_tokens: expected.tokens });
    expect(pieces.join("")).toBe(expected.text);
  });

  it("runs a tool-call round trip through an OpenAI-shaped engine", async () => {
    // Prepare
    const tools: OpenAI.Chat.ChatCompletionTool[] = [
      {
        type: "function",
        function: {
          name: "lookup_weather",
          description: "weather by city",
          parameters: { type: "object", properties: { question: { type: "string" } } },
        },
      },
    ];
    const question: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: "user", content: "Weather in Paris?" }];
    // Act 1: the model calls the tool
    const first = await openai.chat.completions.create({ model: TOOLS, messages: question, tools, tool_choice: "auto", max_tokens: 32 });
    const call = first.choices[0]!.message.tool_calls![0]! as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
    // Act 2: the app answers the call; the model answers from the result
    const second = await openai.chat.completions.create({
      model: TOOLS,
      messages: [...question, first.choices[0]!.message, { role: "tool", tool_call_id: call.id, content: "sunny, 21 C" }],
      tools,
      max_tokens: 32,
    });
    // Assess
    expect(first.choices[0]!.finish_reason).toBe("tool_calls");
    expect(call.function).toEqual(fakeToolCall(question as never, tools as never, "auto", 0).function);
    expect(second.choices[0]!.message.content).toBe(fakeCompletion([{ role: "tool", content: "sunny, 21 C" }], 32).text);
    // The engine got the tools, and then the call and its result, as OpenAI shapes them.
    expect(engine.requests.at(-1)?.body).toMatchObject({
      tools,
      messages: [
        { role: "user" },
        { role: "assistant", tool_calls: [{ id: call.id, function: call.function }] },
        { role: "tool", tool_call_id: call.id, content: "sunny, 21 C" },
      ],
    });
  });

  it("streams a custom tool's call through the network as one custom piece whose input is the unstreamed answer's", async () => {
    // Prepare: the engine streams the call's arguments in pieces (test/fixtures/openai-server.ts)
    const body = {
      model: TOOLS,
      messages: ask("Run it"),
      tools: [
        { type: "custom" as const, custom: { name: "run_python", description: "Runs Python code", format: { type: "text" as const } } },
      ],
      tool_choice: { type: "custom" as const, custom: { name: "run_python" } },
      max_tokens: 32,
    };
    // Act
    const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
    for await (const c of await openai.chat.completions.create({ ...body, stream: true })) chunks.push(c);
    const whole = await openai.chat.completions.create(body);
    // Assess
    const pieces = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []) as unknown as Array<Record<string, unknown>>;
    const call = whole.choices[0]!.message.tool_calls![0]! as OpenAI.Chat.ChatCompletionMessageCustomToolCall;
    // The fake engine ignores the one-string schema: its arguments are given as written, in both answers.
    const written = fakeToolCall(body.messages as never, [{ type: "function", function: { name: "run_python" } }], "required", 0);
    expect(call).toMatchObject({ type: "custom", custom: { name: "run_python", input: written.function.arguments } });
    expect(pieces).toEqual([
      { index: 0, id: expect.any(String), type: "custom", custom: { name: "run_python", input: call.custom.input } },
    ]);
    expect(chunks.at(-1)!.choices[0]).toMatchObject({ delta: {}, finish_reason: "tool_calls" });
  });

  it("passes unknown fields, user and parallel_tool_calls through to the engine (sealed), never over a field the network sets", async () => {
    // Prepare: fields OpenAI's types do not name (vLLM's top_k, min_p), one the proxy does not act on
    // (frequency_penalty), and an attempt to widen the paid budget through an unknown-field path
    const tools: OpenAI.Chat.ChatCompletionTool[] = [{ type: "function", function: { name: "noop", parameters: { type: "object" } } }];
    const body = {
      model: TOOLS,
      messages: ask("Weather in Oslo?"),
      tools,
      parallel_tool_calls: false,
      user: "app-user-7",
      max_tokens: 16,
      frequency_penalty: 0.5,
      top_k: 7,
      min_p: 0.05,
      logit_bias: { "42": -100 },
      // OpenAI fields the proxy checks (client/serve/passed-on.test.ts) and passes on as sent
      presence_penalty: -0.5,
      reasoning_effort: "low",
      metadata: { app: "x" },
      prediction: { type: "content", content: "It is sunny." },
    };
    // Act
    const r = await openai.chat.completions.create(body as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);
    // Assess
    expect(r.choices[0]!.finish_reason).toBe("tool_calls");
    const got = engine.requests.at(-1)!.body as Record<string, unknown>;
    expect(got).toMatchObject({
      top_k: 7,
      min_p: 0.05,
      frequency_penalty: 0.5,
      logit_bias: { "42": -100 },
      presence_penalty: -0.5,
      reasoning_effort: "low",
      metadata: { app: "x" },
      prediction: { type: "content", content: "It is sunny." },
      user: "app-user-7",
      parallel_tool_calls: false,
      max_tokens: 16,
      model: TOOLS,
    });
  });

  it("a field the network sets cannot travel in extra: the SDK refuses it before a quote; an allowed one goes on, under what the network set", async () => {
    // Prepare: the SDK itself (no proxy in between) puts reserved names in `extra`
    const asked = engine.requests.length;
    // Act
    const refused = await sdk
      .ask({
        model: TOOLS,
        messages: ask("hello"),
        maxTokens: 8,
        tiers: ["dev"],
        extra: { max_tokens: 100_000, n: 5, stream: false, stream_options: { include_usage: false }, model: "another", top_k: 3 },
      })
      .catch((e: unknown) => e);
    const r = await sdk.ask({ model: TOOLS, messages: ask("hello"), maxTokens: 8, tiers: ["dev"], extra: { top_k: 3 } });
    // Assess: review41 (extra is an allow-list, events/engine-extra.ts): refused naming the first
    // field, with no request to the engine; before, the reserved names were dropped by the adapter
    expect(refused).toBeInstanceOf(AskInputError);
    expect(refused).toMatchObject({ param: "extra.max_tokens" });
    expect(engine.requests).toHaveLength(asked + 1);
    const got = engine.requests.at(-1)!.body as Record<string, unknown>;
    expect(r.text.length).toBeGreaterThan(0);
    // (the agent streams from the engine and needs its usage: stream and stream_options are its own)
    expect(got).toMatchObject({ max_tokens: 8, model: TOOLS, stream: true, stream_options: { include_usage: true }, top_k: 3 });
    expect(got.n).toBeUndefined();
  });

  it("streams tool-call deltas the .stream() helper assembles", async () => {
    // Prepare
    const tools: OpenAI.Chat.ChatCompletionTool[] = [
      { type: "function", function: { name: "lookup_weather", parameters: { type: "object" } } },
    ];
    // Act
    const final = await openai.chat.completions
      .stream({ model: TOOLS, messages: ask("Weather in Oslo?"), tools, max_tokens: 32 })
      .finalChatCompletion();
    // Assess
    const call = final.choices[0]!.message.tool_calls![0]! as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
    expect(final.choices[0]!.finish_reason).toBe("tool_calls");
    expect(call).toMatchObject({
      type: "function",
      function: { name: "lookup_weather", arguments: JSON.stringify({ question: "Weather in Oslo?" }) },
    });
    expect(call.id).toBeTruthy();
  });

  it("continues a prompt with /v1/completions, whole and streamed, on a model that advertises plain completions", async () => {
    // Prepare
    const expected = fakeCompletion([{ role: "user", content: "Once upon a time" }], 6);
    // Act
    const whole = await openai.completions.create({ model: TOOLS, prompt: "Once upon a time", max_tokens: 6 });
    const stream = await openai.completions.create({ model: TOOLS, prompt: "Once upon a time", max_tokens: 6, stream: true });
    let streamed = "";
    for await (const chunk of stream) streamed += chunk.choices[0]?.text ?? "";
    // Assess
    expect(whole.choices[0]).toMatchObject({ text: expected.text, finish_reason: expected.finishReason });
    expect(streamed).toBe(expected.text);
    expect(engine.requests.at(-1)).toMatchObject({ path: "/v1/completions", body: { prompt: "Once upon a time" } });
  });

  it("answers n choices from one job", async () => {
    // Act
    const { data, response } = await openai.chat.completions
      .create({ model: BUILTIN_DEFAULT_MODEL, messages: ask("Two answers please"), max_tokens: 64, n: 2 })
      .withResponse();
    // Assess
    const expected = truncateToTokens(builtinAnswer(ask("Two answers please")), 64).text;
    expect(data.choices.map((c) => [c.index, c.message.content])).toEqual([
      [0, expected],
      [1, expected],
    ]);
    expect(response.headers.get("x-cocoon-job-id")!.split(",")).toHaveLength(1);
  });

  it("refuses more embedding inputs than MAX_EMBEDDING_INPUTS with a 400 naming input and the limit", async () => {
    // Act
    const tooMany = await openai.embeddings
      .create({ model: EMBED, input: Array.from({ length: 2049 }, () => "x") })
      .catch((e: unknown) => e);
    // Assess
    expect(tooMany).toMatchObject({ status: 400, param: "input" });
    expect((tooMany as Error).message).toContain("at most 2048 inputs");
  });

  it("answers embeddings in the client's default encoding (base64), billed per input token", async () => {
    // Act
    const { data, response } = await openai.embeddings.create({ model: EMBED, input: ["one two", "three"] }).withResponse();
    // Assess: the client asked for base64 and decoded little-endian float32
    expect(data.data.map((d) => d.index)).toEqual([0, 1]);
    expect(data.data.map((d) => d.embedding)).toEqual([fakeEmbedding("one two"), fakeEmbedding("three")].map((v) => v.map(Math.fround)));
    expect(data.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
    expect(BigInt(response.headers.get("x-cocoon-cost-nanoton")!)).toBeGreaterThan(0n);
  });
});
