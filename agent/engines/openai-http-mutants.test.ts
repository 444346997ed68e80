import { getEventListeners } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import { EngineError, type EngineResult, type EngineStreamEvent } from "./engine";
import { createOpenAiEngine, type OpenAiEngineOptions } from "./openai-http";
import { aRequest, errorOf } from "./engine-testing";

/**
 * What a Stryker run on openai-http.ts showed no test to pin: the exact request bodies and
 * headers, the parse of every answer shape (usage, finish reasons, log probabilities, tool calls,
 * embeddings, text completions), model discovery, timeouts and aborts with their clean-up, and the
 * exact error codes, messages and details. Everything goes through an injected fetch (no socket).
 */

const BASE = "http://127.0.0.1:9/v1";
const NAME = `openai-compatible:${BASE}`;
const CHAT = `${BASE}/chat/completions`;
const enc = new TextEncoder();

interface Call {
  url: string;
  init: RequestInit;
}

/** A fetch answering every call with `answer(call)`; it records each call. */
function fakeFetch(answer: (call: Call) => Response | Promise<Response>) {
  const calls: Call[] = [];
  const fetchImpl = (async (url: string | URL | Request, init?: RequestInit) => {
    const call = { url: String(url), init: init ?? {} };
    calls.push(call);
    return answer(call);
  }) as typeof fetch;
  return { fetchImpl, calls, bodyOf: (i = 0) => JSON.parse(String(calls[i]!.init.body)) as Record<string, unknown> };
}

/** A fetch answering this JSON (an object is serialized, a string sent as it is). */
const jsonFetch = (body: unknown, status = 200, contentType = "application/json") =>
  fakeFetch(
    () => new Response(typeof body === "string" ? body : JSON.stringify(body), { status, headers: { "content-type": contentType } }),
  );

/** A fetch answering this SSE text. */
const sseFetch = (text: string, contentType = "text/event-stream") =>
  fakeFetch(() => new Response(enc.encode(text), { status: 200, headers: { "content-type": contentType } }));

/** A fetch that never answers and rejects with the signal's reason once its signal fires, as undici does. */
const hangingFetch = () =>
  fakeFetch(
    ({ init }) =>
      new Promise<Response>((_resolve, reject) => {
        init.signal!.addEventListener("abort", () => reject(init.signal!.reason), { once: true });
      }),
  );

/** A fetch that fails like undici does when nothing listens: a TypeError, with this cause. */
const failingFetch = (cause?: unknown) =>
  fakeFetch(() => Promise.reject(cause === undefined ? new TypeError("fetch failed") : new TypeError("fetch failed", { cause })));

const engineWith = (fetchImpl: typeof fetch, over: Partial<OpenAiEngineOptions> = {}) =>
  createOpenAiEngine({ baseUrl: BASE, fetchImpl, ...over });

/** A whole chat answer; `choice` and `top` override its first choice and its top-level fields. */
const chatAnswer = (choice: Record<string, unknown> = {}, top: Record<string, unknown> = {}) => ({
  choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop", ...choice }],
  usage: { prompt_tokens: 3, completion_tokens: 1 },
  ...top,
});

/** A whole text-completion answer. */
const textAnswer = (choice: Record<string, unknown> = {}, top: Record<string, unknown> = {}) => ({
  choices: [{ index: 0, text: "on", finish_reason: "stop", ...choice }],
  usage: { prompt_tokens: 2, completion_tokens: 1 },
  ...top,
});

/** A chat stream event with one choice (index 0). */
const delta = (d: Record<string, unknown>, finish: string | null = null, over: Record<string, unknown> = {}) => ({
  choices: [{ index: 0, delta: d, finish_reason: finish, ...over }],
});
const usageEvent = (prompt: number, completion: number) => ({
  choices: [],
  usage: { prompt_tokens: prompt, completion_tokens: completion },
});
/** SSE text of these events (objects as JSON, strings as they are), then [DONE]. */
const sseOf = (events: unknown[], done = true) =>
  [...events, ...(done ? ["[DONE]"] : [])].map((e) => `data: ${typeof e === "string" ? e : JSON.stringify(e)}\n\n`).join("");

async function collect(stream: AsyncIterable<EngineStreamEvent>): Promise<{ events: EngineStreamEvent[]; result: EngineResult }> {
  const events: EngineStreamEvent[] = [];
  for await (const ev of stream) {
    events.push(ev);
    if (ev.type === "done") return { events, result: ev.result };
  }
  throw new Error("stream ended without done");
}

function syncErrorOf(f: () => unknown): EngineError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(EngineError);
    return err as EngineError;
  }
  throw new Error("expected an EngineError, got a result");
}

afterEach(() => {
  vi.useRealTimers();
});

describe("the request body sent", () => {
  it("never lets a requester's extra set a field the adapter owns, chat or text completion, and sends the rest as given", async () => {
    // Prepare: every reserved name, with values that would be noticed
    const extra = {
      model: "x",
      messages: [{ role: "user", content: "injected" }],
      prompt: "injected",
      input: ["injected"],
      stream: true,
      stream_options: { include_usage: false },
      max_tokens: 9999,
      max_completion_tokens: 9999,
      n: 4,
      best_of: 4,
      echo: true,
      suffix: "s",
      logprobs: true,
      top_logprobs: 5,
      tools: [{ type: "function", function: { name: "t" } }],
      tool_choice: "required",
      functions: [{ name: "f" }],
      function_call: "auto",
      parallel_tool_calls: true,
      response_format: { type: "json_object" },
      temperature: 2,
      top_p: 0.1,
      seed: 7,
      stop: ["x"],
      user: "u",
      top_k: 40,
    };
    const chat = jsonFetch(chatAnswer());
    const text = jsonFetch(textAnswer());
    // Act
    await engineWith(chat.fetchImpl).generate(aRequest({ extra }));
    await engineWith(text.fetchImpl).complete!({ model: "m", prompt: "p", maxTokens: 8, extra });
    // Assess
    expect(chat.bodyOf()).toStrictEqual({
      top_k: 40,
      model: "m",
      max_tokens: 64,
      messages: [{ role: "user", content: "hi" }],
      stream: false,
    });
    expect(text.bodyOf()).toStrictEqual({ top_k: 40, model: "m", max_tokens: 8, prompt: "p", stream: false });
  });

  it("sends a text completion's response_format, and parallel_tool_calls only with tools (no tools at all is no error)", async () => {
    // Prepare
    const text = jsonFetch(textAnswer());
    const chat = jsonFetch(chatAnswer());
    // Act
    await engineWith(text.fetchImpl).complete!({ model: "m", prompt: "p", maxTokens: 8, responseFormat: { type: "json_object" } });
    await engineWith(chat.fetchImpl).generate(aRequest({ parallelToolCalls: true }));
    // Assess
    expect(text.bodyOf()).toStrictEqual({
      model: "m",
      max_tokens: 8,
      prompt: "p",
      stream: false,
      response_format: { type: "json_object" },
    });
    expect(chat.bodyOf()).toStrictEqual({ model: "m", max_tokens: 64, messages: [{ role: "user", content: "hi" }], stream: false });
  });

  it("sends exactly the JSON accept and content-type headers on a POST, and only accept on GET /models", async () => {
    // Prepare
    const chat = jsonFetch(chatAnswer());
    const list = jsonFetch({ data: [{ id: "m" }] });
    // Act
    await engineWith(chat.fetchImpl).generate(aRequest());
    await engineWith(list.fetchImpl).models();
    // Assess
    expect(chat.calls[0]!.init.headers).toStrictEqual({ accept: "application/json", "content-type": "application/json" });
    expect(list.calls[0]!.init).toMatchObject({ method: "GET", headers: { accept: "application/json" } });
    expect(list.calls[0]!.init.headers).toStrictEqual({ accept: "application/json" });
  });
});

describe("requests refused before anything is sent", () => {
  it("refuses an invalid request on each entry point with invalid_request, sending nothing (streams refuse at the call)", async () => {
    // Prepare
    const { fetchImpl, calls } = jsonFetch(chatAnswer());
    const engine = engineWith(fetchImpl);
    // Act
    const errs = [
      await errorOf(engine.generate(aRequest({ maxTokens: 0 }))),
      syncErrorOf(() => engine.stream!(aRequest({ maxTokens: 0 }))),
      await errorOf(engine.complete!({ model: "m", prompt: "p", maxTokens: 0 })),
      syncErrorOf(() => engine.streamCompletion!({ model: "m", prompt: "p", maxTokens: 0 })),
    ];
    // Assess
    for (const e of errs) expect(e).toMatchObject({ code: "invalid_request", details: { engine: NAME, param: "max_tokens" } });
    expect(calls).toHaveLength(0);
  });

  it.each([
    ["an empty list", []],
    ["a string", "text"],
  ])("refuses to embed %s with invalid_request naming input, sending nothing", async (_what, input) => {
    // Prepare
    const { fetchImpl, calls } = jsonFetch({ data: [], usage: { prompt_tokens: 0 } });
    // Act
    const err = await errorOf(engineWith(fetchImpl).embed!({ model: "m", input: input as string[] }));
    // Assess
    expect(err.code).toBe("invalid_request");
    expect(err.message).toBe("input must hold at least one text or token list");
    expect(err.details).toStrictEqual({ engine: NAME, param: "input" });
    expect(calls).toHaveLength(0);
  });

  it("refuses a baseUrl that is not a URL or not http(s) with invalid_request, and takes https", () => {
    // Act
    const notUrl = syncErrorOf(() => createOpenAiEngine({ baseUrl: "not a url" }));
    const ftp = syncErrorOf(() => createOpenAiEngine({ baseUrl: "ftp://127.0.0.1/v1" }));
    const https = createOpenAiEngine({ baseUrl: "https://127.0.0.1:8443/v1" });
    // Assess
    expect(notUrl.code).toBe("invalid_request");
    expect(notUrl.message).toBe('baseUrl "not a url" is not a URL; use e.g. http://127.0.0.1:8000/v1');
    expect(notUrl.cause).toBeInstanceOf(TypeError);
    expect(ftp.code).toBe("invalid_request");
    expect(ftp.message).toBe("baseUrl must be http(s), got ftp:");
    expect(https.name).toBe("openai-compatible:https://127.0.0.1:8443/v1");
  });
});

describe("whole answers: what is read from them", () => {
  it.each([
    ["end_turn", 1, "stop"],
    ["stop_sequence", 1, "stop"],
    ["function_call", 1, "stop"],
    ["max_tokens", 1, "length"],
    ["model_length", 1, "length"],
    [null, 1, "stop"],
    [null, 64, "length"],
  ] as const)("maps finish_reason %s with %i completion tokens of 64 to %s", async (reason, completion, expected) => {
    // Prepare
    const { fetchImpl } = jsonFetch(chatAnswer({ finish_reason: reason }, { usage: { prompt_tokens: 3, completion_tokens: completion } }));
    // Act
    const result = await engineWith(fetchImpl).generate(aRequest());
    // Assess
    expect(result.finishReason).toBe(expected);
  });

  it("returns each token's log probability with its bytes and alternatives, exactly as the server gave them", async () => {
    // Prepare
    const content = [
      {
        token: "Hi",
        logprob: -0.1,
        bytes: [72, 105],
        top_logprobs: [
          { token: "Hi", logprob: -0.1, bytes: [72, 105] },
          { token: "Hey", logprob: -2.5, bytes: null },
          { token: "Yo", logprob: -3 },
        ],
      },
      { token: "!", logprob: -0.5, bytes: null, top_logprobs: [] },
      { token: "?", logprob: -1, extra: "ignored" },
    ];
    const { fetchImpl } = jsonFetch(chatAnswer({ message: { content: "Hi!?" }, logprobs: { content } }));
    // Act
    const result = await engineWith(fetchImpl, { capabilities: { logprobs: true } }).generate(aRequest({ logprobs: true }));
    // Assess
    expect(result.logprobs).toStrictEqual([
      {
        token: "Hi",
        logprob: -0.1,
        bytes: [72, 105],
        topLogprobs: [
          { token: "Hi", logprob: -0.1, bytes: [72, 105] },
          { token: "Hey", logprob: -2.5, bytes: null },
          { token: "Yo", logprob: -3 },
        ],
      },
      { token: "!", logprob: -0.5, bytes: null, topLogprobs: [] },
      { token: "?", logprob: -1 },
    ]);
  });

  it("takes an answer without text and without log probabilities when they were asked (a tool call only)", async () => {
    // Prepare
    const call = { id: "c1", type: "function", function: { name: "f", arguments: "{}" } };
    const { fetchImpl } = jsonFetch(chatAnswer({ message: { content: null, tool_calls: [call] }, finish_reason: "tool_calls" }));
    // Act
    const result = await engineWith(fetchImpl).generate(aRequest({ logprobs: true }));
    // Assess
    expect(result).toStrictEqual({
      text: "",
      usage: { promptTokens: 3, completionTokens: 1 },
      finishReason: "stop",
      toolCalls: [call],
      logprobs: [],
      engine: NAME,
    });
  });

  it("fails text without log probabilities, when asked, with engine_bad_response and the engine in its details", async () => {
    // Prepare
    const { fetchImpl } = jsonFetch(chatAnswer());
    // Act
    const err = await errorOf(engineWith(fetchImpl).generate(aRequest({ logprobs: true })));
    // Assess
    expect(err.code).toBe("engine_bad_response");
    expect(err.details).toStrictEqual({ engine: NAME });
  });

  it("reads a text completion whose text is null as empty text", async () => {
    // Prepare
    const { fetchImpl } = jsonFetch(textAnswer({ text: null }, { usage: { prompt_tokens: 2, completion_tokens: 0 } }));
    // Act
    const result = await engineWith(fetchImpl).complete!({ model: "m", prompt: "p", maxTokens: 8 });
    // Assess
    expect(result).toStrictEqual({ text: "", usage: { promptTokens: 2, completionTokens: 0 }, finishReason: "stop", engine: NAME });
  });

  it("answers 299 as a success on every endpoint (2xx ends at 299)", async () => {
    // Prepare
    const chat = jsonFetch(chatAnswer(), 299);
    const list = jsonFetch({ data: [{ id: "m" }] }, 299);
    const stream = fakeFetch(
      () =>
        new Response(sseOf([delta({ content: "x" }, "stop"), usageEvent(1, 1)]), {
          status: 299,
          headers: { "content-type": "text/event-stream" },
        }),
    );
    // Act
    const whole = await engineWith(chat.fetchImpl).generate(aRequest());
    const models = await engineWith(list.fetchImpl).models();
    const streamed = await collect(engineWith(stream.fetchImpl).stream!(aRequest()));
    // Assess
    expect(whole.text).toBe("hi");
    expect(models).toEqual(["m"]);
    expect(streamed.result.text).toBe("x");
  });
});

describe("usage: required and exact", () => {
  it("fails a null usage as a missing one, with the whole message", async () => {
    // Prepare
    const { fetchImpl } = jsonFetch(chatAnswer({}, { usage: null }));
    // Act
    const err = await errorOf(engineWith(fetchImpl).generate(aRequest()));
    // Assess
    expect(err.code).toBe("engine_bad_response");
    expect(err.message).toBe(
      `POST ${CHAT} answered without a "usage" object (usage.prompt_tokens and usage.completion_tokens are required: ` +
        `Cocoon bills from the engine's own token counts and never estimates them)`,
    );
    expect(err.details).toStrictEqual({ engine: NAME });
  });

  it.each([
    ["an unusable usage", { prompt_tokens: -1, completion_tokens: 1 }],
    ["more completion tokens than max_tokens", { prompt_tokens: 1, completion_tokens: 65 }],
  ])("fails %s with engine_bad_response and the engine in its details", async (_what, usage) => {
    // Prepare
    const { fetchImpl } = jsonFetch(chatAnswer({}, { usage }));
    // Act
    const err = await errorOf(engineWith(fetchImpl).generate(aRequest()));
    // Assess
    expect(err.code).toBe("engine_bad_response");
    expect(err.details).toStrictEqual({ engine: NAME });
  });

  it("fails an unknown finish_reason with the engine in its details", async () => {
    // Prepare
    const { fetchImpl } = jsonFetch(chatAnswer({ finish_reason: "exploded" }));
    // Act
    const err = await errorOf(engineWith(fetchImpl).generate(aRequest()));
    // Assess
    expect(err.message).toBe(`POST ${CHAT} answered an unknown finish_reason "exploded"`);
    expect(err.details).toStrictEqual({ engine: NAME });
  });
});

describe("answers of the wrong shape fail with engine_bad_response naming what is wrong", () => {
  const chatShape = (what: string) => `POST ${CHAT} is not an OpenAI chat completion: ${what}`;
  it.each([
    ["no choice", { choices: [], usage: {} }, chatShape("choices: choices is empty")],
    ["not an object", [], chatShape("(root): Invalid input: expected object, received array")],
    [
      "a choice without message",
      { choices: [{ finish_reason: "stop" }] },
      chatShape("choices.0.message: Invalid input: expected object, received undefined"),
    ],
    [
      "content that is not text",
      chatAnswer({ message: { content: 5 } }),
      chatShape("choices.0.message.content: Invalid input: expected string, received number"),
    ],
    [
      "a tool call without id",
      chatAnswer({ message: { content: null, tool_calls: [{ type: "function", function: { name: "f", arguments: "{}" } }] } }),
      chatShape("choices.0.message.tool_calls.0.id: Invalid input: expected string, received undefined"),
    ],
    [
      "two faults",
      chatAnswer({ message: { content: 5 }, finish_reason: 7 }),
      chatShape(
        "choices.0.message.content: Invalid input: expected string, received number; choices.0.finish_reason: Invalid input: expected string, received number",
      ),
    ],
    [
      "a log probability without its number",
      chatAnswer({ logprobs: { content: [{ token: "hi" }] } }),
      chatShape("choices.0.logprobs.content.0.logprob: Invalid input: expected number, received undefined"),
    ],
    [
      "an alternative without its number",
      chatAnswer({ logprobs: { content: [{ token: "hi", logprob: -1, top_logprobs: [{ token: "yo" }] }] } }),
      chatShape("choices.0.logprobs.content.0.top_logprobs.0.logprob: Invalid input: expected number, received undefined"),
    ],
  ])("a chat answer with %s", async (_what, body, message) => {
    // Prepare
    const { fetchImpl } = jsonFetch(body);
    // Act
    const err = await errorOf(engineWith(fetchImpl).generate(aRequest({ logprobs: true })));
    // Assess
    expect(err.code).toBe("engine_bad_response");
    expect(err.message).toBe(message);
    expect(err.details).toStrictEqual({ engine: NAME });
  });

  it.each([
    ["no choice", { choices: [], usage: {} }, "choices: choices is empty"],
    ["text that is not text", textAnswer({ text: 5 }), "choices.0.text: Invalid input: expected string, received number"],
  ])("a text completion with %s", async (_what, body, issue) => {
    // Prepare
    const { fetchImpl } = jsonFetch(body);
    // Act
    const err = await errorOf(engineWith(fetchImpl).complete!({ model: "m", prompt: "p", maxTokens: 8 }));
    // Assess
    expect(err.code).toBe("engine_bad_response");
    expect(err.message).toBe(`POST ${BASE}/completions is not an OpenAI text completion: ${issue}`);
  });

  it.each([
    [
      "a vector that is not numbers",
      { data: [{ index: 0, embedding: "x" }], usage: { prompt_tokens: 1 } },
      "data.0.embedding: Invalid input: expected array, received string",
    ],
    [
      "a vector without index",
      { data: [{ embedding: [1] }], usage: { prompt_tokens: 1 } },
      "data.0.index: Invalid input: expected number, received undefined",
    ],
    [
      "usage without prompt_tokens",
      { data: [{ index: 0, embedding: [1] }], usage: {} },
      "usage.prompt_tokens: Invalid input: expected number, received undefined",
    ],
  ])("an embedding list with %s", async (_what, body, issue) => {
    // Prepare
    const { fetchImpl } = jsonFetch(body);
    // Act
    const err = await errorOf(engineWith(fetchImpl).embed!({ model: "m", input: ["a"] }));
    // Assess
    expect(err.code).toBe("engine_bad_response");
    expect(err.message).toBe(`POST ${BASE}/embeddings is not an OpenAI embedding list: ${issue}`);
  });

  it.each([
    ["an empty id", { data: [{ id: "" }] }, "data.0.id: Too small: expected string to have >=1 characters"],
    ["no id", { data: [{ object: "model" }] }, "data.0.id: Invalid input: expected string, received undefined"],
  ])("a model list with %s", async (_what, body, issue) => {
    // Prepare
    const { fetchImpl } = jsonFetch(body);
    // Act
    const err = await errorOf(engineWith(fetchImpl).models());
    // Assess
    expect(err.code).toBe("engine_bad_response");
    expect(err.message).toBe(`GET ${BASE}/models is not an OpenAI model list ({data:[{id}]}): ${issue}`);
  });
});

it("fails a 200 that is not JSON (a proxy's page) with engine_bad_response, an excerpt, and the parse error as cause", async () => {
  // Prepare
  const { fetchImpl } = jsonFetch("<html>\n  <body>It works!</body>\n</html>", 200, "text/html");
  // Act
  const err = await errorOf(engineWith(fetchImpl).models());
  // Assess
  expect(err.code).toBe("engine_bad_response");
  expect(err.message).toBe(`GET ${BASE}/models did not answer JSON: "<html> <body>It works!</body> </html>"`);
  expect(err.details).toStrictEqual({ engine: NAME });
  expect(err.cause).toBeInstanceOf(SyntaxError);
});

describe("embeddings", () => {
  it("returns the vectors in input order whatever order the server lists them in", async () => {
    // Prepare
    const data = [
      { index: 2, embedding: [3] },
      { index: 0, embedding: [1] },
      { index: 1, embedding: [2] },
    ];
    const { fetchImpl } = jsonFetch({ data, usage: { prompt_tokens: 3 } });
    // Act
    const result = await engineWith(fetchImpl).embed!({ model: "m", input: ["a", "b", "c"] });
    // Assess
    expect(result).toStrictEqual({ vectors: [[1], [2], [3]], usage: { promptTokens: 3 }, engine: NAME });
  });

  it("fails a list without usage, and one with a gap in its indexes, with the whole message", async () => {
    // Prepare
    const noUsage = jsonFetch({ data: [{ index: 0, embedding: [1] }] });
    const gap = jsonFetch({
      data: [
        { index: 0, embedding: [1] },
        { index: 2, embedding: [2] },
      ],
      usage: { prompt_tokens: 2 },
    });
    // Act
    const errs = [
      await errorOf(engineWith(noUsage.fetchImpl).embed!({ model: "m", input: ["a"] })),
      await errorOf(engineWith(gap.fetchImpl).embed!({ model: "m", input: ["a", "b"] })),
    ];
    // Assess
    expect(errs.map((e) => [e.code, e.message, e.details])).toStrictEqual([
      [
        "engine_bad_response",
        `POST ${BASE}/embeddings answered without usage.prompt_tokens (Cocoon bills from the engine's own token count)`,
        { engine: NAME },
      ],
      ["engine_bad_response", `POST ${BASE}/embeddings answered 2 vectors (indexes 0,2) for 2 inputs`, { engine: NAME }],
    ]);
  });
});

describe("a caller abort that lands while the answer is read", () => {
  it.each(["complete", "embed"] as const)("fails %s with engine_aborted", async (entry) => {
    // Prepare: the fetch aborts the caller's signal while answering
    const ctl = new AbortController();
    const body = entry === "complete" ? textAnswer() : { data: [{ index: 0, embedding: [1] }], usage: { prompt_tokens: 1 } };
    const { fetchImpl } = fakeFetch(() => {
      ctl.abort();
      return new Response(JSON.stringify(body));
    });
    const engine = engineWith(fetchImpl);
    // Act
    const err = await errorOf(
      entry === "complete"
        ? engine.complete!({ model: "m", prompt: "p", maxTokens: 8, signal: ctl.signal })
        : engine.embed!({ model: "m", input: ["a"], signal: ctl.signal }),
    );
    // Assess
    expect(err.code).toBe("engine_aborted");
  });

  it("fails a stream with engine_aborted when the caller aborts after a delta, though the server goes on to [DONE]", async () => {
    // Prepare: an injected fetch whose body ignores the abort, so the whole stream still arrives
    const { fetchImpl } = sseFetch(sseOf([delta({ content: "a" }), delta({ content: "b" }, "stop"), usageEvent(1, 2)]));
    const ctl = new AbortController();
    // Act
    const err = await errorOf(
      (async () => {
        for await (const ev of engineWith(fetchImpl).stream!(aRequest({ signal: ctl.signal }))) if (ev.type === "delta") ctl.abort();
      })(),
    );
    // Assess
    expect(err.code).toBe("engine_aborted");
  });
});

describe("server error bodies: the message kept", () => {
  it.each([
    ["an error object whose message is not text", '{"error":{"message":5}}', '{"error":{"message":5}}'],
    ["an error object without message", '{"error":{"type":"x"}}', '{"error":{"type":"x"}}'],
    ["a bare message without object: error", '{"message":"m"}', '{"message":"m"}'],
    ["a flat error whose message is not text", '{"object":"error","message":5}', '{"object":"error","message":5}'],
    ["JSON null", "null", "null"],
    ["text padded with blank space", "  Bad \n\t gateway \n", "Bad gateway"],
    ["200 characters exactly", "x".repeat(200), "x".repeat(200)],
  ])("keeps %s as the raw excerpt", async (_what, body, serverMessage) => {
    // Prepare
    const { fetchImpl } = jsonFetch(body, 500, "text/plain");
    // Act
    const err = await errorOf(engineWith(fetchImpl).generate(aRequest()));
    // Assess
    expect(err.code).toBe("engine_unavailable");
    expect(err.details).toStrictEqual({ engine: NAME, status: 500, serverMessage });
  });

  it("names the method and the URL of the failed call: POST for a chat whole or streamed, GET for the model list", async () => {
    // Prepare
    const { fetchImpl } = jsonFetch({ error: { message: "bad" } }, 400);
    const engine = engineWith(fetchImpl);
    // Act
    const errs = [
      await errorOf(engine.generate(aRequest())),
      await errorOf(collect(engine.stream!(aRequest()))),
      await errorOf(engine.models()),
    ];
    // Assess
    expect(errs.map((e) => e.message)).toEqual([
      `POST ${CHAT} answered HTTP 400: bad`,
      `POST ${CHAT} answered HTTP 400: bad`,
      `GET ${BASE}/models answered HTTP 400: bad`,
    ]);
  });

  it("fails a streamed request whose error body cannot be read with the status and an empty server message", async () => {
    // Prepare: the connection breaks while the 503's body is read
    const { fetchImpl } = fakeFetch(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(ctl) {
              ctl.error(new Error("socket hang up"));
            },
          }),
          { status: 503 },
        ),
    );
    // Act
    const err = await errorOf(collect(engineWith(fetchImpl).stream!(aRequest())));
    // Assess
    expect(err.code).toBe("engine_unavailable");
    expect(err.message).toBe(`POST ${CHAT} answered HTTP 503: `);
    expect(err.details).toStrictEqual({ engine: NAME, status: 503, serverMessage: "" });
  });

  it("fails a streamed 200 without a body with engine_bad_response", async () => {
    // Prepare
    const { fetchImpl } = fakeFetch(() => new Response(null, { status: 200, headers: { "content-type": "text/event-stream" } }));
    // Act
    const err = await errorOf(collect(engineWith(fetchImpl).stream!(aRequest())));
    // Assess
    expect(err.code).toBe("engine_bad_response");
    expect(err.message).toBe(`POST ${CHAT} answered without a body`);
    expect(err.details).toStrictEqual({ engine: NAME });
  });
});

describe("an engine that cannot be reached", () => {
  it.each([
    [
      "no cause",
      undefined,
      ": the connection to 127.0.0.1:9 failed: is the server running, and is the engine URL (--engine-url, engineUrl) right?",
    ],
    [
      "a cause with a code",
      { code: "ECONNREFUSED" },
      ": nothing is listening on 127.0.0.1:9 (ECONNREFUSED): is the server running, on that port?",
    ],
    [
      "a cause whose code is not text",
      { code: 111 },
      ": the connection to 127.0.0.1:9 failed: is the server running, and is the engine URL (--engine-url, engineUrl) right?",
    ],
  ])("fails with engine_unavailable and the whole message, whole and streamed, for a fetch error with %s", async (_what, cause, shown) => {
    // Prepare
    const { fetchImpl } = failingFetch(cause);
    const engine = engineWith(fetchImpl);
    // Act
    const errs = [await errorOf(engine.generate(aRequest())), await errorOf(collect(engine.stream!(aRequest())))];
    // Assess
    for (const e of errs) {
      expect(e.code).toBe("engine_unavailable");
      expect(e.message).toBe(`cannot reach the engine at ${CHAT}${shown}`);
      expect(e.details).toStrictEqual({ engine: NAME });
      expect(e.cause).toBeInstanceOf(TypeError);
    }
  });

  it("fails with engine_unavailable for a fetch that rejects with nothing", async () => {
    // Prepare
    const { fetchImpl } = fakeFetch(() => Promise.reject(undefined));
    // Act
    const err = await errorOf(engineWith(fetchImpl).generate(aRequest()));
    // Assess
    expect(err.code).toBe("engine_unavailable");
  });

  it("passes an EngineError thrown by a wrapping fetch through a stream unchanged", async () => {
    // Prepare
    const own = new EngineError("engine_rejected", "refused by the wrapper");
    const { fetchImpl } = fakeFetch(() => Promise.reject(own));
    // Act
    const err = await errorOf(collect(engineWith(fetchImpl).stream!(aRequest())));
    // Assess
    expect(err).toBe(own);
  });
});

describe("timeouts and aborts: codes, messages, causes, and nothing left behind", () => {
  it("times out each call with engine_timeout, naming method, URL and limit, the timeout as its cause", async () => {
    // Prepare
    const { fetchImpl } = hangingFetch();
    const engine = engineWith(fetchImpl, { timeoutMs: 30 });
    // Act
    const errs = [
      await errorOf(engine.generate(aRequest())),
      await errorOf(engine.models()),
      await errorOf(collect(engine.stream!(aRequest()))),
    ];
    // Assess
    expect(errs.map((e) => [e.code, e.message, e.details, (e.cause as Error).message])).toStrictEqual([
      ["engine_timeout", `POST ${CHAT} got no complete answer within 30 ms`, { engine: NAME }, "timeout after 30 ms"],
      ["engine_timeout", `GET ${BASE}/models got no complete answer within 30 ms`, { engine: NAME }, "timeout after 30 ms"],
      ["engine_timeout", `POST ${CHAT} sent nothing for 30 ms`, { engine: NAME }, "timeout after 30 ms"],
    ]);
  });

  it("fails with engine_aborted, naming the call, with the caller's reason as its cause, whole and streamed", async () => {
    // Prepare
    const { fetchImpl, calls } = hangingFetch();
    const engine = engineWith(fetchImpl);
    const reason = new Error("requester left");
    const abortedRun = async (run: (signal: AbortSignal) => Promise<unknown>) => {
      const ctl = new AbortController();
      const before = calls.length;
      const pending = errorOf(run(ctl.signal));
      while (calls.length === before) await new Promise((r) => setTimeout(r, 1));
      ctl.abort(reason);
      return pending;
    };
    // Act
    const errs = [
      await abortedRun((signal) => engine.generate(aRequest({ signal }))),
      await abortedRun((signal) => collect(engine.stream!(aRequest({ signal })))),
    ];
    // Assess
    for (const e of errs) {
      expect(e.code).toBe("engine_aborted");
      expect(e.message).toBe(`POST ${CHAT} aborted by the caller`);
      expect(e.details).toStrictEqual({ engine: NAME });
      expect(e.cause).toBe(reason);
    }
  });

  it("leaves no timer and no abort listener behind after a whole answer or a stream", async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const ctl = new AbortController();
    const whole = jsonFetch(chatAnswer());
    const streamed = sseFetch(sseOf([delta({ content: "x" }, "stop"), usageEvent(1, 1)]));
    // Act
    await engineWith(whole.fetchImpl).generate(aRequest({ signal: ctl.signal }));
    await collect(engineWith(streamed.fetchImpl).stream!(aRequest({ signal: ctl.signal })));
    // Assess
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(ctl.signal, "abort")).toHaveLength(0);
    expect(whole.calls[0]!.init.signal!.aborted).toBe(false);
  });

  it("closes the fetch's signal with 'stream closed' once a stream is done", async () => {
    // Prepare
    const { fetchImpl, calls } = sseFetch(sseOf([delta({ content: "x" }, "stop"), usageEvent(1, 1)]));
    // Act
    await collect(engineWith(fetchImpl).stream!(aRequest()));
    // Assess
    const signal = calls[0]!.init.signal!;
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).message).toBe("stream closed");
  });

  it("cancels the response body when the caller stops reading a stream early", async () => {
    // Prepare: a body that ignores the fetch's signal, as a proxy's may
    let cancelled = 0;
    const { fetchImpl } = fakeFetch(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(ctl) {
              ctl.enqueue(enc.encode(sseOf([delta({ content: "a" })], false)));
            },
            cancel() {
              cancelled += 1;
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        ),
    );
    // Act
    for await (const ev of engineWith(fetchImpl).stream!(aRequest())) if (ev.type === "delta") break;
    // Assess
    expect(cancelled).toBe(1);
  });
});

describe("streams: framing, chunks and failures", () => {
  it("reads events after blank keepalive lines, and data: without a space keeps the spaces of its JSON", async () => {
    // Prepare
    const body =
      "\n\n" + 'data:{"choices":[{"index":0,"delta":{"content":"a b"}}]}\n\n' + "\n\n\n\n" + sseOf([delta({}, "stop"), usageEvent(1, 2)]);
    const { fetchImpl } = sseFetch(body);
    // Act
    const { result } = await collect(engineWith(fetchImpl).stream!(aRequest()));
    // Assess
    expect(result.text).toBe("a b");
  });

  it("fails an event that is not JSON with its data lines joined by a newline, the parse error as cause", async () => {
    // Prepare
    const { fetchImpl } = sseFetch("data: {oops\ndata: more\n\n" + sseOf([]));
    // Act
    const err = await errorOf(collect(engineWith(fetchImpl).stream!(aRequest())));
    // Assess
    expect(err.code).toBe("engine_bad_response");
    expect(err.message).toBe(`POST ${CHAT} streamed an event that is not JSON: "{oops more"`);
    expect(err.details).toStrictEqual({ engine: NAME });
    expect(err.cause).toBeInstanceOf(SyntaxError);
  });

  it.each([
    [
      "a finish_reason that is not text",
      { choices: [{ index: 0, finish_reason: 5 }] },
      "choices.0.finish_reason: Invalid input: expected string, received number",
    ],
    ["content that is not text", delta({ content: 5 }), "choices.0.delta.content: Invalid input: expected string, received number"],
    [
      "a tool call without index",
      delta({ tool_calls: [{ function: { name: "f" } }] }),
      "choices.0.delta.tool_calls.0.index: Invalid input: expected number, received undefined",
    ],
    [
      "a tool name that is not text",
      delta({ tool_calls: [{ index: 0, function: { name: 5 } }] }),
      "choices.0.delta.tool_calls.0.function.name: Invalid input: expected string, received number",
    ],
  ])("fails an event with %s as unusable, naming the field", async (_what, event, issue) => {
    // Prepare
    const { fetchImpl } = sseFetch(sseOf([event, usageEvent(1, 1)]));
    // Act
    const err = await errorOf(collect(engineWith(fetchImpl).stream!(aRequest())));
    // Assess
    expect(err.code).toBe("engine_bad_response");
    expect(err.message).toBe(`POST ${CHAT} streamed an unusable event: ${issue}`);
    expect(err.details).toStrictEqual({ engine: NAME });
  });

  it("fails a stream without [DONE], and a tool call without a name, with the engine in the details", async () => {
    // Prepare
    const noDone = sseFetch(sseOf([delta({ content: "a" }, "stop"), usageEvent(1, 1)], false));
    const noName = sseFetch(sseOf([delta({ tool_calls: [{ index: 0, function: { arguments: "{}" } }] }), usageEvent(1, 1)]));
    // Act
    const errs = [
      await errorOf(collect(engineWith(noDone.fetchImpl).stream!(aRequest()))),
      await errorOf(collect(engineWith(noName.fetchImpl).stream!(aRequest()))),
    ];
    // Assess
    expect(errs.map((e) => [e.code, e.message, e.details])).toStrictEqual([
      ["engine_bad_response", `POST ${CHAT} ended its stream without "data: [DONE]": the answer may be cut`, { engine: NAME }],
      ["engine_bad_response", `POST ${CHAT} streamed a tool call without a function name`, { engine: NAME }],
    ]);
  });

  it("keeps the usage when a later event has none, and reads a usage-only event without choices", async () => {
    // Prepare
    const laterWithout = sseFetch(sseOf([delta({ content: "a" }), usageEvent(2, 1), delta({}, "stop")]));
    const noChoices = sseFetch(sseOf([delta({ content: "a" }, "stop"), { usage: { prompt_tokens: 4, completion_tokens: 1 } }]));
    // Act
    const first = await collect(engineWith(laterWithout.fetchImpl).stream!(aRequest()));
    const second = await collect(engineWith(noChoices.fetchImpl).stream!(aRequest()));
    // Assess
    expect(first.result.usage).toEqual({ promptTokens: 2, completionTokens: 1 });
    expect(second.result.usage).toEqual({ promptTokens: 4, completionTokens: 1 });
  });

  it("reads a tool-call delta that carries no function part (id and type first, the function after)", async () => {
    // Prepare
    const { fetchImpl } = sseFetch(
      sseOf([
        delta({ tool_calls: [{ index: 0, id: "c1", type: "function" }] }),
        delta({ tool_calls: [{ index: 0, function: { name: "f", arguments: "{}" } }] }),
        delta({}, "tool_calls"),
        usageEvent(1, 2),
      ]),
    );
    // Act
    const { result } = await collect(engineWith(fetchImpl).stream!(aRequest()));
    // Assess
    expect(result.toolCalls).toStrictEqual([{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }]);
  });

  it("streams log probabilities with each delta and gathers them all in the result", async () => {
    // Prepare
    const lp = (token: string, logprob: number) => ({ content: [{ token, logprob }] });
    const { fetchImpl } = sseFetch(
      sseOf([
        delta({ content: "a" }, null, { logprobs: lp("a", -1) }),
        delta({ content: "b" }, null, { logprobs: lp("b", -2) }),
        delta({}, "stop"),
        usageEvent(1, 2),
      ]),
    );
    // Act
    const { events, result } = await collect(engineWith(fetchImpl).stream!(aRequest({ logprobs: true })));
    // Assess
    expect(events.slice(0, -1)).toStrictEqual([
      { type: "delta", text: "a", logprobs: [{ token: "a", logprob: -1 }] },
      { type: "delta", text: "b", logprobs: [{ token: "b", logprob: -2 }] },
    ]);
    expect(result.logprobs).toStrictEqual([
      { token: "a", logprob: -1 },
      { token: "b", logprob: -2 },
    ]);
  });

  it("reads a stream event whose error is null as no error", async () => {
    // Prepare
    const { fetchImpl } = sseFetch(sseOf([{ ...delta({ content: "a" }, "stop"), error: null }, usageEvent(1, 1)]));
    // Act
    const { result } = await collect(engineWith(fetchImpl).stream!(aRequest()));
    // Assess
    expect(result.text).toBe("a");
  });

  it.each([
    ["an error object without message", { error: { code: 503 } }, '{"error":{"code":503}}', { status: 503 }, "engine_unavailable"],
    ["an error that is a number", { error: 42 }, '{"error":42}', {}, "engine_unavailable"],
    ["a code under 400", { error: { message: "odd", code: 399 } }, "odd", { status: 399 }, "engine_unavailable"],
    ["a 422", { error: { message: "bad schema", code: 422 } }, "bad schema", { status: 422 }, "engine_rejected"],
    ["no code", { error: { message: "boom" } }, "boom", {}, "engine_unavailable"],
  ])("fails mid-stream on %s with the right code, message and details", async (_what, event, serverMessage, status, code) => {
    // Prepare
    const { fetchImpl } = sseFetch(sseOf([event]));
    // Act
    const err = await errorOf(collect(engineWith(fetchImpl).stream!(aRequest())));
    // Assess
    expect(err.code).toBe(code);
    expect(err.message).toBe(`POST ${CHAT} failed mid-stream: ${serverMessage}`);
    expect(err.details).toStrictEqual({ engine: NAME, serverMessage, ...status });
  });

  it("surfaces llama-server's `error:` line that is plain text, trimmed", async () => {
    // Prepare
    const { fetchImpl } = sseFetch("error: model crashed  \n\n" + sseOf([]));
    // Act
    const err = await errorOf(collect(engineWith(fetchImpl).stream!(aRequest())));
    // Assess
    expect(err.code).toBe("engine_unavailable");
    expect(err.details).toStrictEqual({ engine: NAME, serverMessage: "model crashed" });
  });

  it("reads a stream answered as SSE whose content type merely mentions application/json", async () => {
    // Prepare
    const { fetchImpl } = sseFetch(
      sseOf([delta({ content: "x" }, "stop"), usageEvent(1, 1)]),
      "text/event-stream; profile=application/json",
    );
    // Act
    const { result } = await collect(engineWith(fetchImpl).stream!(aRequest()));
    // Assess
    expect(result.text).toBe("x");
  });
});

describe("streams answered whole (stream: true ignored)", () => {
  it("reads a text completion answered whole as one delta and its result", async () => {
    // Prepare
    const { fetchImpl } = jsonFetch(textAnswer({ text: "upon" }));
    // Act
    const { events } = await collect(engineWith(fetchImpl).streamCompletion!({ model: "m", prompt: "p", maxTokens: 8 }));
    // Assess
    expect(events).toStrictEqual([
      { type: "delta", text: "upon" },
      { type: "done", result: { text: "upon", usage: { promptTokens: 2, completionTokens: 1 }, finishReason: "stop", engine: NAME } },
    ]);
  });

  it("yields no delta for a whole answer without text, and the log probabilities with the delta of one with text", async () => {
    // Prepare
    const call = { id: "c1", type: "function", function: { name: "f", arguments: "{}" } };
    const toolOnly = jsonFetch(chatAnswer({ message: { content: null, tool_calls: [call] } }));
    const withLogprobs = jsonFetch(chatAnswer({ logprobs: { content: [{ token: "hi", logprob: -1 }] } }));
    // Act
    const first = await collect(engineWith(toolOnly.fetchImpl).stream!(aRequest()));
    const second = await collect(engineWith(withLogprobs.fetchImpl).stream!(aRequest({ logprobs: true })));
    // Assess
    expect(first.events.map((e) => e.type)).toEqual(["done"]);
    expect(second.events[0]).toStrictEqual({ type: "delta", text: "hi", logprobs: [{ token: "hi", logprob: -1 }] });
  });
});

describe("capabilities from the model list", () => {
  it("gives each model its own context length, none for a model the list does not hold", async () => {
    // Prepare
    const { fetchImpl } = jsonFetch({ data: [{ id: "a", max_model_len: 4096 }, { id: "b", context_length: 8192 }, { id: "c" }] });
    const engine = engineWith(fetchImpl);
    // Act
    const [a, b, c, unknown] = await Promise.all(["a", "b", "c", "zz"].map((m) => engine.capabilities!(m)));
    // Assess
    expect([a!.contextLength, b!.contextLength, c!.contextLength, unknown!.contextLength]).toEqual([4096, 8192, undefined, undefined]);
    expect(unknown).toStrictEqual({ chat: true, completions: true, embeddings: false, streaming: true, tools: true, jsonSchema: true });
  });

  it("asks for the model list again after it failed once, and then only once", async () => {
    // Prepare: the server is still loading on the first call
    let n = 0;
    const { fetchImpl, calls } = fakeFetch(() => {
      n += 1;
      return n === 1
        ? new Response('{"error":{"message":"Loading model"}}', { status: 503 })
        : new Response(JSON.stringify({ data: [{ id: "m", max_model_len: 2048 }] }));
    });
    const engine = engineWith(fetchImpl);
    // Act
    const first = await errorOf(engine.capabilities!("m"));
    const second = await engine.capabilities!("m");
    const third = await engine.capabilities!("m");
    // Assess
    expect(first.code).toBe("engine_unavailable");
    expect(second.contextLength).toBe(2048);
    expect(third.contextLength).toBe(2048);
    expect(calls).toHaveLength(2);
  });
});
