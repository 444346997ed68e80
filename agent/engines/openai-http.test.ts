import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  fakeCompletion,
  fakeEmbedding,
  type FakeOpenAiServer,
  fakeToolCall,
  startFakeOpenAiServer,
} from "../../test/fixtures/openai-server";
import { EngineError, type EngineRequest } from "./engine";
import { createOpenAiEngine } from "./openai-http";
import { errorOf } from "./engine-testing";

const aRequest = (over: Partial<EngineRequest> = {}): EngineRequest => ({
  model: "fake-model",
  messages: [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Tell me about the moon" },
  ],
  maxTokens: 64,
  ...over,
});

describe("createOpenAiEngine against a fake OpenAI server", () => {
  let server: FakeOpenAiServer;
  beforeEach(async () => {
    server = await startFakeOpenAiServer({ models: ["fake-model", "other-model"] });
  });
  afterEach(async () => {
    await server.close();
  });

  it("generates with the server's exact usage and sends the OpenAI request shape", async () => {
    // Prepare
    const engine = createOpenAiEngine({ baseUrl: server.url, apiKey: "sk-local" });
    // Act
    const result = await engine.generate(aRequest({ temperature: 0.2 }));
    // Assess: prompt = (2+1) + (5+1) words, answer = "Fake answer to: Tell me about the moon"
    expect(result).toEqual({
      text: "Fake answer to: Tell me about the moon",
      usage: { promptTokens: 9, completionTokens: 8 },
      finishReason: "stop",
      engine: `openai-compatible:${server.url}`,
    });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]).toMatchObject({
      method: "POST",
      path: "/v1/chat/completions",
      headers: { authorization: "Bearer sk-local", "content-type": "application/json" },
      body: { model: "fake-model", messages: aRequest().messages, max_tokens: 64, temperature: 0.2, stream: false },
    });
  });

  it("sends each message's name (OpenAI's participant name) to the server, whole and streamed, and no name key where none was given", async () => {
    // Prepare: an AutoGen group chat
    const engine = createOpenAiEngine({ baseUrl: server.url });
    const messages: EngineRequest["messages"] = [
      { role: "system", content: "Debate.", name: "chair" },
      { role: "user", content: "Tabs or spaces?" },
      { role: "assistant", content: "Tabs.", name: "alice" },
      { role: "assistant", content: "Spaces.", name: "bob" },
    ];
    // Act
    await engine.generate(aRequest({ messages }));
    for await (const ev of engine.stream!(aRequest({ messages }))) void ev;
    // Assess
    expect(server.requests).toHaveLength(2);
    for (const r of server.requests) expect((r.body as { messages: unknown }).messages).toStrictEqual(messages);
  });

  it("maps finish_reason length when the server cuts the answer", async () => {
    // Prepare
    const engine = createOpenAiEngine({ baseUrl: server.url });
    const expected = fakeCompletion(aRequest().messages, 3);
    // Act
    const result = await engine.generate(aRequest({ maxTokens: 3 }));
    // Assess
    expect(result.text).toBe("Fake answer to:");
    expect(result.usage).toEqual({ promptTokens: expected.promptTokens, completionTokens: 3 });
    expect(result.finishReason).toBe("length");
  });

  it("lists the server's models", async () => {
    // Prepare
    const engine = createOpenAiEngine({ baseUrl: `${server.url}/` });
    // Act
    const models = await engine.models();
    // Assess
    expect(models).toEqual(["fake-model", "other-model"]);
    expect(server.requests[0]).toMatchObject({ method: "GET", path: "/v1/models" });
    expect(engine.name).toBe(`openai-compatible:${server.url}`);
  });

  it("fails with engine_bad_response naming usage when the server omits it", async () => {
    // Prepare
    server.setBehaviour("omit-usage");
    // Act
    const err = await errorOf(createOpenAiEngine({ baseUrl: server.url }).generate(aRequest()));
    // Assess
    expect(err.code).toBe("engine_bad_response");
    expect(err.message).toMatch(/without a "usage" object/);
    expect(err.message).toMatch(/usage\.prompt_tokens/);
  });

  it("asks for log probabilities as sent, and fails with engine_bad_response when a server answers text without them (whole and streamed)", async () => {
    // Prepare: this fake server never returns log probabilities
    const engine = createOpenAiEngine({ baseUrl: server.url, capabilities: { logprobs: true } });
    // Act
    const whole = await errorOf(engine.generate(aRequest({ logprobs: true, topLogprobs: 3 })));
    const streamed = await errorOf(
      (async () => {
        for await (const _ of engine.stream!(aRequest({ logprobs: true }))) void _;
      })(),
    );
    // Assess
    expect(server.requests.at(-2)?.body).toMatchObject({ logprobs: true, top_logprobs: 3 });
    for (const err of [whole, streamed]) {
      expect(err.code).toBe("engine_bad_response");
      expect(err.message).toMatch(/without log probabilities though they were asked for/);
    }
    expect((await engine.capabilities!("fake-model")).logprobs).toBe(true);
  });

  it("fails with engine_unavailable and the server's message on HTTP 500", async () => {
    // Prepare
    server.setBehaviour("error-500");
    // Act
    const err = await errorOf(createOpenAiEngine({ baseUrl: server.url }).generate(aRequest()));
    // Assess
    expect(err.code).toBe("engine_unavailable");
    expect(err.details?.status).toBe(500);
    expect(err.message).toContain("The fake server had an internal error.");
  });

  it("fails with engine_timeout when the server hangs", async () => {
    // Prepare
    server.setBehaviour("hang");
    // Act
    const err = await errorOf(createOpenAiEngine({ baseUrl: server.url, timeoutMs: 50 }).generate(aRequest()));
    // Assess
    expect(err.code).toBe("engine_timeout");
    expect(err.message).toMatch(/within 50 ms/);
  });

  it("fails with engine_aborted when the caller aborts a hanging request", async () => {
    // Prepare
    server.setBehaviour("hang");
    const ctl = new AbortController();
    // Act
    const pending = errorOf(createOpenAiEngine({ baseUrl: server.url }).generate(aRequest({ signal: ctl.signal })));
    while (server.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    ctl.abort();
    // Assess
    expect((await pending).code).toBe("engine_aborted");
  });

  it("fails with engine_bad_response on a non-JSON body", async () => {
    // Prepare
    server.setBehaviour("garbage");
    // Act
    const err = await errorOf(createOpenAiEngine({ baseUrl: server.url }).generate(aRequest()));
    const listErr = await errorOf(createOpenAiEngine({ baseUrl: server.url }).models());
    // Assess
    expect(err.code).toBe("engine_bad_response");
    expect(err.message).toMatch(/did not answer JSON/);
    expect(listErr.code).toBe("engine_bad_response");
  });

  it("fails with engine_bad_response when choices are missing", async () => {
    // Prepare
    server.setBehaviour("no-choices");
    // Act
    const err = await errorOf(createOpenAiEngine({ baseUrl: server.url }).generate(aRequest()));
    // Assess
    expect(err.code).toBe("engine_bad_response");
    expect(err.message).toMatch(/choices/);
  });

  it("fails with model_not_served when the server does not know the model", async () => {
    // Act
    const err = await errorOf(createOpenAiEngine({ baseUrl: server.url }).generate(aRequest({ model: "gpt-unknown" })));
    // Assess
    expect(err.code).toBe("model_not_served");
    expect(err.details?.status).toBe(404);
  });

  it("fails with engine_unavailable on a wrong api key", async () => {
    // Prepare
    const locked = await startFakeOpenAiServer({ apiKey: "right" });
    // Act
    const err = await errorOf(createOpenAiEngine({ baseUrl: locked.url, apiKey: "wrong" }).generate(aRequest()));
    await locked.close();
    // Assess
    expect(err.code).toBe("engine_unavailable");
    expect(err.details?.status).toBe(401);
    expect(err.message).toMatch(/API key \(--engine-key, COCOON_ENGINE_KEY\)/);
  });

  it("fixture: streams SSE chunks that join to the non-streaming answer, with usage on request", async () => {
    // Act
    const res = await fetch(`${server.url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...aRequest(), max_tokens: 64, stream: true, stream_options: { include_usage: true } }),
    });
    const events = (await res.text())
      .split("\n\n")
      .filter((b) => b.length > 0)
      .map((b) => b.replace(/^data: /, ""));
    // Assess
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe("Fake answer to: Tell me about the moon");
    expect(chunks.at(-1).usage).toEqual({ prompt_tokens: 9, completion_tokens: 8, total_tokens: 17 });
  });

  it("fails with engine_unavailable when nothing listens", async () => {
    // Prepare
    const gone = await startFakeOpenAiServer();
    await gone.close();
    // Act
    const err = await errorOf(createOpenAiEngine({ baseUrl: gone.url }).models());
    // Assess
    expect(err.code).toBe("engine_unavailable");
    expect(err.message).toMatch(/ECONNREFUSED/);
  });
});

describe("createOpenAiEngine response checks (injected fetch)", () => {
  const answering = (body: unknown, status = 200): typeof fetch =>
    (async () => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } })) as typeof fetch;
  const completion = (over: Record<string, unknown> = {}) => ({
    choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 4, completion_tokens: 1 },
    ...over,
  });

  it("names the missing usage field", async () => {
    // Act
    const err = await errorOf(
      createOpenAiEngine({ baseUrl: "http://127.0.0.1:9/v1", fetchImpl: answering(completion({ usage: { prompt_tokens: 4 } })) }).generate(
        aRequest(),
      ),
    );
    // Assess
    expect(err.code).toBe("engine_bad_response");
    expect(err.message).toMatch(/usage\.completion_tokens/);
  });

  it("refuses completion_tokens above max_tokens", async () => {
    // Act
    const err = await errorOf(
      createOpenAiEngine({
        baseUrl: "http://127.0.0.1:9/v1",
        fetchImpl: answering(completion({ usage: { prompt_tokens: 4, completion_tokens: 65 } })),
      }).generate(aRequest()),
    );
    // Assess
    expect(err.code).toBe("engine_bad_response");
    expect(err.message).toMatch(/65, more than max_tokens = 64/);
  });

  it("refuses an unknown finish_reason", async () => {
    // Act
    const err = await errorOf(
      createOpenAiEngine({
        baseUrl: "http://127.0.0.1:9/v1",
        fetchImpl: answering(completion({ choices: [{ message: { content: "x" }, finish_reason: "exploded" }] })),
      }).generate(aRequest()),
    );
    // Assess
    expect(err.code).toBe("engine_bad_response");
    expect(err.message).toMatch(/exploded/);
  });

  it("maps a 400 from the server to engine_rejected", async () => {
    // Act
    const err = await errorOf(
      createOpenAiEngine({
        baseUrl: "http://127.0.0.1:9/v1",
        fetchImpl: answering({ error: { message: "prompt is too long", type: "BadRequestError" } }, 400),
      }).generate(aRequest()),
    );
    // Assess
    expect(err.code).toBe("engine_rejected");
    expect(err.message).toContain("prompt is too long");
  });

  it("refuses an invalid baseUrl at construction", () => {
    expect(() => createOpenAiEngine({ baseUrl: "not a url" })).toThrow(EngineError);
    expect(() => createOpenAiEngine({ baseUrl: "ftp://127.0.0.1/v1" })).toThrow(/http\(s\)/);
  });
});

describe("createOpenAiEngine passes OpenAI fields through", () => {
  it("sends tools, tool messages and sampling fields, and returns the server's tool calls", async () => {
    // Prepare: a server answering with a tool call
    const seen: unknown[] = [];
    const fetchImpl: typeof fetch = async (_url, init) => {
      seen.push(JSON.parse(String(init?.body)));
      const call = { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } };
      return new Response(
        JSON.stringify({
          choices: [{ message: { content: null, tool_calls: [call] }, finish_reason: "tool_calls" }],
          usage: { prompt_tokens: 5, completion_tokens: 7 },
        }),
      );
    };
    const engine = createOpenAiEngine({ baseUrl: "http://127.0.0.1:9/v1", fetchImpl });
    const tools = [{ type: "function" as const, function: { name: "get_weather", parameters: { type: "object" } } }];
    const earlier = { id: "call_0", type: "function" as const, function: { name: "get_weather", arguments: "{}" } };
    // Act
    const r = await engine.generate(
      aRequest({
        messages: [
          { role: "user", content: "weather?" },
          { role: "assistant", content: "", toolCalls: [earlier] },
          { role: "tool", content: '{"t":20}', toolCallId: "call_0" },
        ],
        tools,
        toolChoice: "auto",
        stop: ["\n\n"],
        seed: 3,
        topP: 0.5,
        responseFormat: { type: "text" },
      }),
    );
    // Assess
    expect(r.toolCalls).toEqual([{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }]);
    expect(r).toMatchObject({ text: "", finishReason: "stop", usage: { promptTokens: 5, completionTokens: 7 } });
    expect(seen[0]).toMatchObject({
      messages: [
        { role: "user", content: "weather?" },
        { role: "assistant", content: "", tool_calls: [earlier] },
        { role: "tool", content: '{"t":20}', tool_call_id: "call_0" },
      ],
      tools,
      tool_choice: "auto",
      stop: ["\n\n"],
      seed: 3,
      top_p: 0.5,
      response_format: { type: "text" },
    });
  });
});

describe("issue 11: createOpenAiEngine streams, completes, embeds and tells its capabilities", () => {
  let server: FakeOpenAiServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  const tools = [{ type: "function" as const, function: { name: "lookup", parameters: { type: "object" } } }];

  it("streams text deltas as the server sends them, then done with the server's usage", async () => {
    // Prepare
    server = await startFakeOpenAiServer({ delayMsPerChunk: 40 });
    const engine = createOpenAiEngine({ baseUrl: server!.url });
    const expected = fakeCompletion(aRequest().messages, 64);
    // Act
    const started = Date.now();
    const arrivals: number[] = [];
    const events = [];
    for await (const ev of engine.stream!(aRequest())) {
      arrivals.push(Date.now() - started);
      events.push(ev);
    }
    // Assess
    const deltas = events.flatMap((e) => (e.type === "delta" ? [e.text] : []));
    expect(deltas.join("")).toBe(expected.text);
    expect(deltas.length).toBe(expected.completionTokens);
    expect(events.at(-1)).toEqual({
      type: "done",
      result: {
        text: expected.text,
        usage: { promptTokens: expected.promptTokens, completionTokens: expected.completionTokens },
        finishReason: "stop",
        engine: `openai-compatible:${server!.url}`,
      },
    });
    // The first delta came while the server was still generating (chunks are 40 ms apart).
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(40 * (deltas.length - 1) * 0.8);
    expect(server!.requests[0]?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it("gathers streamed tool-call pieces into whole calls", async () => {
    // Prepare
    server = await startFakeOpenAiServer();
    const engine = createOpenAiEngine({ baseUrl: server!.url });
    const request = aRequest({ tools, toolChoice: "auto" });
    // Act
    const events = [];
    for await (const ev of engine.stream!(request)) events.push(ev);
    // Assess
    const done = events.at(-1);
    expect(done?.type).toBe("done");
    expect(done?.type === "done" && done.result.toolCalls).toEqual([fakeToolCall(request.messages, tools, "auto", 1)]);
    expect(done?.type === "done" && done.result.finishReason).toBe("stop");
    expect(server!.requests[0]?.body).toMatchObject({ tools, tool_choice: "auto" });
  });

  it("fails a stream without usage (billing needs the engine's count), without [DONE], or with a mid-stream error", async () => {
    // Prepare
    server = await startFakeOpenAiServer({ behaviour: "omit-usage" });
    const cut = (body: string): typeof fetch =>
      (async () => new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } })) as typeof fetch;
    const drain = async (it: AsyncIterable<unknown>) => {
      for await (const _ of it);
    };
    // Act
    const noUsage = await errorOf(drain(createOpenAiEngine({ baseUrl: server!.url }).stream!(aRequest())));
    const noDone = await errorOf(
      drain(
        createOpenAiEngine({ baseUrl: "http://127.0.0.1:9/v1", fetchImpl: cut('data: {"choices":[{"delta":{"content":"hi"}}]}\n\n') })
          .stream!(aRequest()),
      ),
    );
    const midError = await errorOf(
      drain(
        createOpenAiEngine({ baseUrl: "http://127.0.0.1:9/v1", fetchImpl: cut('data: {"error":{"message":"CUDA out of memory"}}\n\n') })
          .stream!(aRequest()),
      ),
    );
    // Assess
    expect(noUsage.code).toBe("engine_bad_response");
    expect(noUsage.message).toMatch(/usage/);
    expect(noDone.code).toBe("engine_bad_response");
    expect(noDone.message).toMatch(/\[DONE\]/);
    expect(midError.code).toBe("engine_unavailable");
    expect(midError.message).toMatch(/CUDA out of memory/);
  });

  it("reads a server that ignores stream: true and answers whole as one delta and the result", async () => {
    // Prepare
    const whole: typeof fetch = (async () =>
      new Response(
        JSON.stringify({
          choices: [{ message: { content: "all at once" }, finish_reason: "stop" }],
          usage: { prompt_tokens: 3, completion_tokens: 3 },
        }),
        {
          headers: { "content-type": "application/json" },
        },
      )) as typeof fetch;
    // Act
    const events = [];
    for await (const ev of createOpenAiEngine({ baseUrl: "http://127.0.0.1:9/v1", fetchImpl: whole }).stream!(aRequest())) events.push(ev);
    // Assess
    expect(events).toEqual([
      { type: "delta", text: "all at once" },
      {
        type: "done",
        result: {
          text: "all at once",
          usage: { promptTokens: 3, completionTokens: 3 },
          finishReason: "stop",
          engine: "openai-compatible:http://127.0.0.1:9/v1",
        },
      },
    ]);
  });

  it("times out a stream that stalls, and stops when the caller aborts", async () => {
    // Prepare
    server = await startFakeOpenAiServer({ behaviour: "hang" });
    const drain = async (it: AsyncIterable<unknown>) => {
      for await (const _ of it);
    };
    const ctl = new AbortController();
    // Act
    const stalled = await errorOf(drain(createOpenAiEngine({ baseUrl: server!.url, timeoutMs: 100 }).stream!(aRequest())));
    const aborting = errorOf(drain(createOpenAiEngine({ baseUrl: server!.url }).stream!(aRequest({ signal: ctl.signal }))));
    ctl.abort();
    const aborted = await aborting;
    // Assess
    expect(stalled.code).toBe("engine_timeout");
    expect(aborted.code).toBe("engine_aborted");
  });

  it("continues a prompt with /v1/completions, whole and streamed", async () => {
    // Prepare
    server = await startFakeOpenAiServer();
    const engine = createOpenAiEngine({ baseUrl: server!.url });
    const expected = fakeCompletion([{ role: "user", content: "Once upon" }], 5);
    // Act
    const whole = await engine.complete!({ model: "fake-model", prompt: "Once upon", maxTokens: 5, stop: ["\n"] });
    const events = [];
    for await (const ev of engine.streamCompletion!({ model: "fake-model", prompt: "Once upon", maxTokens: 5 })) events.push(ev);
    // Assess
    expect(whole).toMatchObject({
      text: expected.text,
      usage: { promptTokens: expected.promptTokens, completionTokens: expected.completionTokens },
      finishReason: "stop",
    });
    expect(events.flatMap((e) => (e.type === "delta" ? [e.text] : [])).join("")).toBe(expected.text);
    expect(events.at(-1)).toMatchObject({ type: "done", result: { text: expected.text } });
    expect(server!.requests[0]).toMatchObject({
      path: "/v1/completions",
      body: { prompt: "Once upon", max_tokens: 5, stop: ["\n"], stream: false },
    });
  });

  it("embeds texts and token ids with the server's usage, vectors in input order", async () => {
    // Prepare
    server = await startFakeOpenAiServer();
    const engine = createOpenAiEngine({ baseUrl: server!.url });
    // Act
    const texts = await engine.embed!({ model: "fake-model", input: ["one two", "three"] });
    const ids = await engine.embed!({ model: "fake-model", input: [[1, 2, 3]] });
    // Assess
    expect(texts).toEqual({
      vectors: [fakeEmbedding("one two"), fakeEmbedding("three")],
      usage: { promptTokens: 3 },
      engine: `openai-compatible:${server!.url}`,
    });
    expect(ids.vectors).toEqual([fakeEmbedding([1, 2, 3])]);
    expect(server!.requests[0]?.body).toEqual({ model: "fake-model", input: ["one two", "three"], encoding_format: "float" });
  });

  it("refuses embeddings that come out of order or short", async () => {
    // Prepare
    const answering = (data: unknown): typeof fetch =>
      (async () => new Response(JSON.stringify({ data, usage: { prompt_tokens: 2 } }))) as typeof fetch;
    // Act
    const short = await errorOf(
      createOpenAiEngine({ baseUrl: "http://127.0.0.1:9/v1", fetchImpl: answering([{ index: 0, embedding: [1] }]) }).embed!({
        model: "m",
        input: ["a", "b"],
      }),
    );
    const gap = await errorOf(
      createOpenAiEngine({
        baseUrl: "http://127.0.0.1:9/v1",
        fetchImpl: answering([
          { index: 0, embedding: [1] },
          { index: 2, embedding: [2] },
        ]),
      }).embed!({ model: "m", input: ["a", "b"] }),
    );
    // Assess
    expect(short.code).toBe("engine_bad_response");
    expect(gap.code).toBe("engine_bad_response");
  });

  it("advertises capabilities: defaults, the context length the server reports, and the operator's overrides", async () => {
    // Prepare
    server = await startFakeOpenAiServer({ modelFields: { max_model_len: 8192 } });
    // Act
    const plain = await createOpenAiEngine({ baseUrl: server!.url }).capabilities!("fake-model");
    const set = await createOpenAiEngine({ baseUrl: server!.url, capabilities: { tools: false, embeddings: true } }).capabilities!(
      "fake-model",
    );
    // Assess
    expect(plain).toEqual({
      chat: true,
      completions: true,
      embeddings: false,
      streaming: true,
      tools: true,
      jsonSchema: true,
      contextLength: 8192,
    });
    expect(set).toMatchObject({ tools: false, embeddings: true, contextLength: 8192 });
  });
});
