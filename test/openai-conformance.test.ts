import OpenAI from "openai";
import { zodResponseFormat } from "openai/helpers/zod";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { type AskResult, type AskStreamEvent, type ClientGone, type ServeProxyOptions } from "../client/serve";
import { anAnswer, caps, closeProxies, startFakedProxy } from "./fixtures/serve-proxy";
import { pollUntil } from "./helpers";

/**
 * `cocoon serve` against the OpenAI API as an existing app sees it: the official `openai` npm
 * client and plain fetch (curl's view) on a proxy whose network is faked (loopback only, no
 * coordinator), so each check is about the proxy's OpenAI surface: which request fields are
 * taken, the answer's shape, SSE framing, error shape and status, /v1/models and embeddings.
 * Differences the README documents (402 for funds, `dimensions`, no CORS, any API key) are
 * checked as documented, not as bugs. The full network path is test/openai-serve.test.ts.
 */

const CHAT = "chat-tools";
const PLAIN = "chat-only";
const EMBED = "embed";

const MODELS = [
  { id: CHAT, capabilities: caps({ tools: true, jsonSchema: true, completions: true, contextLength: 4096 }) },
  { id: PLAIN, capabilities: caps({}) },
  { id: EMBED, capabilities: caps({ chat: false, embeddings: true }) },
];

afterEach(closeProxies);

/** A proxy over MODELS' faked network (test/fixtures/serve-proxy.ts). */
const start = (o: Partial<ServeProxyOptions> = {}) => startFakedProxy(MODELS, o);

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

const chat = (over: Record<string, unknown> = {}) => ({
  model: CHAT,
  messages: [{ role: "user", content: "Capital of France?" }],
  ...over,
});

/** The `error` object of an OpenAI-shaped error answer. */
const errorOf = async (r: Response) => ((await r.json()) as { error: Record<string, unknown> }).error;

/** The SSE body as OpenAI frames it: only `data: <payload>\n\n` events, nothing between them. */
function frames(text: string): string[] {
  expect(text.endsWith("\n\n")).toBe(true);
  const events = text.slice(0, -2).split("\n\n");
  for (const e of events) expect(e).toMatch(/^data: [^\n]+$/);
  return events.map((e) => e.slice("data: ".length));
}

/** The error an API call rejected with. */
const failure = (p: Promise<unknown>) =>
  p.then(
    () => expect.unreachable("the call should have failed"),
    (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
  );

class SdkError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

describe("request fields: what OpenAI accepts is accepted", () => {
  it("takes the fields SDKs and LangChain send, reads stop, seed, user, n and max_completion_tokens over max_tokens, and passes the rest on", async () => {
    // Prepare
    const { url, calls } = await start();
    // Act
    const res = await post(
      `${url}/v1/chat/completions`,
      chat({
        stop: "END",
        seed: 7,
        user: "user-1234",
        n: 1,
        max_tokens: 10,
        max_completion_tokens: 20,
        temperature: 0,
        top_p: 1,
        frequency_penalty: 0,
        presence_penalty: 0,
        logit_bias: { "50256": -100 },
        metadata: { app: "x" },
        store: false,
        service_tier: "auto",
        prompt_cache_key: "k",
        safety_identifier: "s",
        logprobs: false,
        stream: false,
      }),
    );
    // Assess
    expect(res.status).toBe(200);
    expect(calls[0]).toMatchObject({ stop: ["END"], seed: 7, user: "user-1234", maxTokens: 20, temperature: 0, topP: 1 });
    expect(calls[0]!.extra).toEqual({
      frequency_penalty: 0,
      presence_penalty: 0,
      logit_bias: { "50256": -100 },
      metadata: { app: "x" },
      store: false,
      service_tier: "auto",
      prompt_cache_key: "k",
      safety_identifier: "s",
    });
  });

  it("names max_completion_tokens, not max_tokens, when the budget it sets does not fit the model's context", async () => {
    // Prepare
    const { url, calls } = await start();
    // Act
    const res = await post(`${url}/v1/chat/completions`, chat({ max_completion_tokens: 5000 }));
    // Assess: OpenAI's param is the field the request named
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ param: "max_completion_tokens", code: "unsupported_parameter" });
    expect(calls).toHaveLength(0);
  });

  it("refuses the deprecated functions and function_call with a 400 naming them, rather than answering as if they were not sent", async () => {
    // Prepare: no engine acts on them (the OpenAI engine adapter drops them), so a model would never call one
    const { url, calls } = await start();
    const functions = [{ name: "get_weather", parameters: { type: "object", properties: {} } }];
    // Act
    const withFunctions = await post(`${url}/v1/chat/completions`, chat({ functions }));
    const withCall = await post(`${url}/v1/chat/completions`, chat({ function_call: "auto" }));
    // Assess
    expect(withFunctions.status).toBe(400);
    expect(await errorOf(withFunctions)).toMatchObject({
      type: "invalid_request_error",
      param: "functions",
      code: "unsupported_parameter",
      message: expect.stringMatching(/tools/),
    });
    expect(withCall.status).toBe(400);
    expect(await errorOf(withCall)).toMatchObject({ param: "function_call", code: "unsupported_parameter" });
    expect(calls).toHaveLength(0);
  });

  it("takes an assistant message whose content is a refusal part, as OpenAI's API does, as what the assistant said", async () => {
    // Prepare
    const { url, calls } = await start();
    const messages = [
      { role: "user", content: "Do something bad." },
      { role: "assistant", content: [{ type: "refusal", refusal: "I can't help with that." }] },
      { role: "user", content: "Then the capital of France?" },
    ];
    // Act
    const res = await post(`${url}/v1/chat/completions`, chat({ messages }));
    // Assess
    expect(res.status).toBe(200);
    expect(calls[0]!.messages![1]).toEqual({ role: "assistant", content: "I can't help with that." });
  });

  it("takes a replayed assistant message as this proxy answered it (refusal: null, tool_calls) and the tool's answer", async () => {
    // Prepare
    const call = { id: "call_1", type: "function" as const, function: { name: "get_weather", arguments: '{"city":"Paris"}' } };
    const { openai, calls } = await start({ ask: async () => anAnswer(CHAT, { text: "", toolCalls: [call], finishReason: "tool_calls" }) });
    const tools = [{ type: "function" as const, function: { name: "get_weather", parameters: { type: "object", properties: {} } } }];
    const first = await openai.chat.completions.create({ model: CHAT, messages: [{ role: "user", content: "Weather?" }], tools });
    // Act
    await openai.chat.completions.create({
      model: CHAT,
      tools,
      messages: [
        { role: "user", content: "Weather?" },
        first.choices[0]!.message,
        { role: "tool", tool_call_id: "call_1", content: "sunny" },
      ],
    });
    // Assess
    expect(first.choices[0]).toMatchObject({ finish_reason: "tool_calls", message: { content: null, refusal: null, tool_calls: [call] } });
    expect(calls[1]!.messages).toEqual([
      { role: "user", content: "Weather?" },
      { role: "assistant", content: "", toolCalls: [call] },
      { role: "tool", content: "sunny", toolCallId: "call_1" },
    ]);
  });

  it("refuses what the README says it refuses, each a 400 naming the parameter (dimensions, suffix, n past the network's cap)", async () => {
    // Prepare
    const { url } = await start({ embed: async () => ({ ...anAnswer(CHAT), vectors: [[1]], usage: { promptTokens: 1 } }) });
    // Act
    const answers = await Promise.all([
      post(`${url}/v1/embeddings`, { model: EMBED, input: "x", dimensions: 256 }),
      post(`${url}/v1/completions`, { model: CHAT, prompt: "x", suffix: "y" }),
      post(`${url}/v1/chat/completions`, chat({ n: 9 })),
    ]);
    // Assess
    const errors = await Promise.all(answers.map(async (r) => ({ status: r.status, param: (await errorOf(r)).param })));
    expect(errors).toEqual([
      { status: 400, param: "dimensions" },
      { status: 400, param: "suffix" },
      { status: 400, param: "n" },
    ]);
  });
});

describe("answers in OpenAI's shape, through the official client", () => {
  it("answers a chat completion and a text completion with OpenAI's fields", async () => {
    // Prepare
    const { openai } = await start({ now: () => 1_700_000_000_123 });
    // Act
    const c = await openai.chat.completions.create({ model: CHAT, messages: [{ role: "user", content: "hi" }] });
    const t = await openai.completions.create({ model: CHAT, prompt: "Once upon", max_tokens: 5 });
    // Assess
    expect(c).toEqual({
      id: "chatcmpl-job_0123456789abcdefghijklmnop",
      object: "chat.completion",
      created: 1_700_000_000,
      model: CHAT,
      system_fingerprint: null,
      choices: [{ index: 0, message: { role: "assistant", content: "Paris.", refusal: null }, logprobs: null, finish_reason: "stop" }],
      // an answer without thinking: 0, as OpenAI says of a model that did not reason
      usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11, completion_tokens_details: { reasoning_tokens: 0 } },
    });
    expect(t).toEqual({
      id: "cmpl-job_0123456789abcdefghijklmnop",
      object: "text_completion",
      created: 1_700_000_000,
      model: CHAT,
      system_fingerprint: null,
      choices: [{ index: 0, text: "Paris.", logprobs: null, finish_reason: "stop" }],
      usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 },
    });
  });

  it("serves the client's structured-output helper (.parse with a zod response_format)", async () => {
    // Prepare
    const { openai, calls } = await start({ ask: async () => anAnswer(CHAT, { text: '{"city":"Paris","population":2100000}' }) });
    const City = z.object({ city: z.string(), population: z.number() });
    // Act
    const r = await openai.chat.completions.parse({
      model: CHAT,
      messages: [{ role: "user", content: "Capital of France?" }],
      response_format: zodResponseFormat(City, "city"),
    });
    // Assess
    expect(r.choices[0]!.message.parsed).toEqual({ city: "Paris", population: 2_100_000 });
    expect(calls[0]!.responseFormat).toMatchObject({ type: "json_schema", json_schema: { name: "city", strict: true } });
  });
});

describe("SSE as OpenAI streams it", () => {
  it("frames every chunk as `data: {...}\\n\\n`: role first, tool-call deltas by index, finish_reason last, usage: null then the usage chunk, then [DONE]", async () => {
    // Prepare
    const call = { id: "call_9", type: "function" as const, function: { name: "get_weather", arguments: "" } };
    const { url } = await start({
      askStream: async function* (): AsyncGenerator<AskStreamEvent> {
        yield { type: "delta", text: "Let me look.", jobId: "job_s" };
        yield { type: "delta", toolCalls: [{ index: 0, ...call }] };
        yield { type: "delta", toolCalls: [{ index: 0, function: { arguments: '{"city":' } }] };
        yield { type: "delta", toolCalls: [{ index: 0, function: { arguments: '"Paris"}' } }] };
        yield { type: "done", ...anAnswer(CHAT, { jobId: "job_s", text: "Let me look.", finishReason: "tool_calls" }) };
      },
    });
    // Act
    const res = await post(`${url}/v1/chat/completions`, chat({ stream: true, stream_options: { include_usage: true } }));
    const events = frames(await res.text());
    // Assess
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    for (const c of chunks) {
      expect(c).toMatchObject({ id: "chatcmpl-job_s", object: "chat.completion.chunk", model: CHAT, system_fingerprint: null });
      expect(Number.isInteger(c.created)).toBe(true);
    }
    const [role, text, firstCall, ...rest] = chunks;
    expect(role.choices).toEqual([
      { index: 0, delta: { role: "assistant", content: "", refusal: null }, logprobs: null, finish_reason: null },
    ]);
    expect(text.choices[0].delta).toEqual({ content: "Let me look." });
    expect(firstCall.choices[0].delta).toEqual({
      tool_calls: [{ index: 0, id: "call_9", type: "function", function: { name: "get_weather", arguments: "" } }],
    });
    expect(rest.slice(0, 2).map((c) => c.choices[0].delta.tool_calls[0])).toEqual([
      { index: 0, function: { arguments: '{"city":' } },
      { index: 0, function: { arguments: '"Paris"}' } },
    ]);
    expect(chunks.at(-2).choices[0]).toMatchObject({ delta: {}, finish_reason: "tool_calls" });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 } });
  });

  it("a failure mid-stream is an SSE error event the official client raises, never a clean [DONE]", async () => {
    // Prepare
    const { openai } = await start({
      askStream: async function* (): AsyncGenerator<AskStreamEvent> {
        yield { type: "delta", text: "Par", jobId: "job_f" };
        throw new SdkError("stream_tampered", "a chunk did not open");
      },
    });
    // Act
    let text = "";
    const err = await failure(
      (async () => {
        const stream = await openai.chat.completions.create({ model: CHAT, messages: [{ role: "user", content: "hi" }], stream: true });
        for await (const c of stream) text += c.choices[0]?.delta.content ?? "";
      })(),
    );
    // Assess
    expect(text).toBe("Par");
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.error).toMatchObject({ code: "stream_tampered", type: "upstream_verification_error", param: null });
  });

  it("an app that goes away mid-stream is told to onClientGone once, is no error, and the proxy serves the next request", async () => {
    // Prepare: a stream that sends one delta, then waits for the next chunk
    const gone: ClientGone[] = [];
    const errors: unknown[] = [];
    let closed = false;
    const { url } = await start({
      onClientGone: (g) => gone.push(g),
      onError: (e) => errors.push(e),
      askStream: async function* (req): AsyncGenerator<AskStreamEvent> {
        try {
          yield { type: "delta", text: "Par", jobId: "job_g" };
          // as the SDK does: its wait for the next chunk ends when the app's request is aborted
          await new Promise((_, reject) => req.signal?.addEventListener("abort", () => reject(new SdkError("aborted", "gone"))));
        } finally {
          closed = true;
        }
      },
    });
    const ctl = new AbortController();
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(chat({ stream: true })),
      signal: ctl.signal,
    });
    const reader = res.body!.getReader();
    let seen = "";
    while (!seen.includes("Par")) seen += new TextDecoder().decode((await reader.read()).value);
    // Act
    ctl.abort();
    // Assess
    await pollUntil("the network's stream to be closed", () => (closed && gone.length ? true : undefined), 5000, 10);
    expect(gone).toEqual([expect.objectContaining({ method: "POST", path: "/v1/chat/completions" })]);
    expect(errors).toEqual([]);
    expect((await post(`${url}/v1/chat/completions`, chat())).status).toBe(200);
  });
});

describe("errors: OpenAI's {error:{message,type,param,code}} with the matching status", () => {
  const cases: Array<[string, number, () => Promise<AskResult>]> = [
    ["missing funds (402, README)", 402, async () => Promise.reject(new SdkError("insufficient_funds", "top up"))],
    ["a rate limit", 429, async () => Promise.reject(new SdkError("rate_limited", "slow down", 429, { retryAfterSeconds: 7 }))],
    ["a bug", 500, async () => Promise.reject(new Error("boom"))],
    ["no worker free", 503, async () => Promise.reject(new SdkError("no_workers", "busy"))],
  ];
  for (const [what, status, ask] of cases) {
    it(`answers ${status} for ${what}, which the official client raises as its status class`, async () => {
      // Prepare
      const { openai } = await start({ ask });
      // Act
      const err = await failure(openai.chat.completions.create({ model: CHAT, messages: [{ role: "user", content: "hi" }] }));
      // Assess
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect(err.status).toBe(status);
      expect(Object.keys(err.error as object).sort()).toEqual(["code", "message", "param", "type"]);
      if (status === 429) expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      if (status === 500) expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    });
  }

  it("passes the network's retry time on a 429 as retry-after, which the openai clients wait for", async () => {
    // Prepare: the coordinator's RateLimitedError as the SDK surfaces it (ApiError with details)
    const { url } = await start({
      ask: async () => Promise.reject(new SdkError("rate_limited", "slow down", 429, { retryAfterSeconds: 7 })),
    });
    // Act
    const res = await post(`${url}/v1/chat/completions`, chat());
    // Assess
    expect(res.status).toBe(429);
    expect(await errorOf(res)).toMatchObject({ type: "rate_limit_error", code: "rate_limited" });
    expect(res.headers.get("retry-after")).toBe("7");
    expect(res.headers.get("x-should-retry")).toBeNull();
  });

  it("answers 400, 404, 405 and 415 in the same shape; any API key or none is taken (README: no 401); no CORS headers", async () => {
    // Prepare
    const { url } = await start();
    // Act
    const answers = await Promise.all([
      post(`${url}/v1/chat/completions`, chat({ temperature: 3 }), { authorization: "Bearer sk-whatever" }),
      post(`${url}/v1/chat/completions`, chat({ model: "gpt-4o" })),
      fetch(`${url}/v1/chat/completions`),
      fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" }),
      post(`${url}/v1/chat/completions`, chat()),
      fetch(`${url}/v1/chat/completions`, { method: "OPTIONS", headers: { origin: "https://evil.example" } }),
    ]);
    // Assess
    expect(answers.map((r) => r.status)).toEqual([400, 404, 405, 415, 200, 405]);
    for (const r of answers.filter((a) => a.status !== 200)) {
      const error = await errorOf(r);
      expect(Object.keys(error).sort()).toEqual(["code", "message", "param", "type"]);
      expect(r.headers.get("access-control-allow-origin")).toBeNull();
    }
  });
});

describe("/v1/models and /v1/embeddings", () => {
  it("lists and retrieves models as OpenAI's model objects; an unknown id is a 404 the client raises as NotFoundError", async () => {
    // Prepare
    const { openai } = await start({ listModels: async () => [...MODELS, "qwen/qwen2-7b"] });
    // Act
    const list = await openai.models.list();
    const one = await openai.models.retrieve("qwen/qwen2-7b");
    const missing = await failure(openai.models.retrieve("gpt-4o"));
    // Assess
    expect(list.data.map((m) => m.id)).toEqual([CHAT, PLAIN, EMBED, "qwen/qwen2-7b"]);
    for (const m of [...list.data, one]) {
      expect(m).toMatchObject({ object: "model", owned_by: expect.any(String) });
      expect(Number.isInteger(m.created)).toBe(true);
    }
    expect(one.id).toBe("qwen/qwen2-7b");
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect(missing.code).toBe("model_not_found");
  });

  it("embeds strings, token ids and lists of token ids; the client's default base64 decodes to the worker's floats", async () => {
    // Prepare
    const seen: unknown[] = [];
    const { openai } = await start({
      embed: async (r) => (
        seen.push(r.input),
        {
          vectors: r.input.map((_, i) => [0.25 * (i + 1), -1]),
          usage: { promptTokens: 5 },
          model: EMBED,
          workerId: "W",
          tier: "dev",
          cost: "5",
          jobId: "job_e",
        }
      ),
    });
    // Act
    const strings = await openai.embeddings.create({ model: EMBED, input: ["a", "b"] });
    const floats = await openai.embeddings.create({ model: EMBED, input: "a", encoding_format: "float" });
    await openai.embeddings.create({ model: EMBED, input: [1, 2, 3] });
    await openai.embeddings.create({ model: EMBED, input: [[1], [2, 3]] });
    // Assess
    expect(strings).toMatchObject({
      object: "list",
      model: EMBED,
      data: [
        { object: "embedding", index: 0, embedding: [0.25, -1] },
        { object: "embedding", index: 1, embedding: [0.5, -1] },
      ],
      usage: { prompt_tokens: 5, total_tokens: 5 },
    });
    expect(floats.data[0]!.embedding).toEqual([0.25, -1]);
    expect(seen).toEqual([["a", "b"], ["a"], [[1, 2, 3]], [[1], [2, 3]]]);
  });
});
