/**
 * POST /v1/chat/completions (chat-completions.ts) at its edges, called as a route with a faked
 * network: which fields of the request reach the network (exactly those the app named; null is
 * unsent), the assistant message's content beside tool calls, the logprobs of a token without
 * alternatives, and the refusals of tool_choice and top_logprobs (status, code, param, message)
 * before any job is asked.
 */
import { describe, expect, it } from "vitest";
import { MAX_JOB_PROMPT_TOKENS } from "../../events/api";
import { anAnswer as answerFrom, aRouteContext, routeRequest, caps } from "../../test/fixtures/serve-proxy";
import { chatCompletions } from "./chat-completions";
import { mapAskError, OpenAiError } from "./errors";
import type { AskRequest, AskResult, ModelCapabilities, ProxyContext } from "./types";

const MODEL = "llama-3-8b";
const USER = [{ role: "user", content: "Capital of France?" }];
const LOOKUP = { type: "function", function: { name: "lookup" } };
const WEATHER = { type: "function", function: { name: "get_weather" } };

/** A chat body: the model, one user message and `over`. */
const aChat = (over: Record<string, unknown> = {}) => ({ model: MODEL, messages: USER, ...over });

/** The route's request for a JSON `body`. */
const aRequest = (body: unknown) => routeRequest("/v1/chat/completions", body);

/** A worker's finished answer; `over` sets only what a test looks at. */
const anAnswer = (over: Partial<AskResult> = {}): AskResult => answerFrom(MODEL, over);

/**
 * The route's context over a faked network answering `answer`; `calls` is every AskRequest it
 * received. With `capabilities` the model is listed with them; without, no model list (nothing checked).
 */
function aNetwork(o: { answer?: Partial<AskResult>; capabilities?: ModelCapabilities } = {}) {
  const { ctx, calls } = aRouteContext({
    ask: async () => anAnswer(o.answer),
    model: async (id) => (o.capabilities ? { id, capabilities: o.capabilities } : undefined),
    mapError: mapAskError,
    now: () => 1_700_000_000_000,
  });
  return { ctx, calls: calls as AskRequest[] };
}

/** The JSON answer of the route for `body`. */
async function chat(body: unknown, ctx: ProxyContext) {
  const res = await chatCompletions(aRequest(body), ctx);
  return { status: res.status, body: JSON.parse(res.body as string) };
}

/** The refusal the route throws for `body` (what errorResponse turns into OpenAI's error body). */
async function refusal(body: unknown, ctx: ProxyContext): Promise<OpenAiError> {
  const err = await chatCompletions(aRequest(body), ctx).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpenAiError);
  return err as OpenAiError;
}

describe("chat completions: the fields that reach the network", () => {
  it("sends only the model, the messages and the budget when the request names nothing else", async () => {
    // Prepare
    const { ctx, calls } = aNetwork();
    // Act
    await chat(aChat({ max_tokens: 50 }), ctx);
    // Assess: no key for what was not sent, not even one holding undefined
    expect(calls).toHaveLength(1);
    expect(calls[0]).toStrictEqual({ model: MODEL, messages: USER, maxTokens: 50 });
  });

  it("treats null sampling and logprobs fields as unsent", async () => {
    // Prepare
    const { ctx, calls } = aNetwork();
    const nulls = { temperature: null, top_p: null, seed: null, logprobs: null, top_logprobs: null };
    // Act
    await chat(aChat({ max_completion_tokens: 40, ...nulls }), ctx);
    // Assess
    expect(calls[0]).toStrictEqual({ model: MODEL, messages: USER, maxTokens: 40 });
  });

  it("passes falsy values the app named (0, false, empty user) under the network's names", async () => {
    // Prepare
    const { ctx, calls } = aNetwork({ capabilities: caps({ tools: true, logprobs: true }) });
    const named = {
      temperature: 0,
      top_p: 1,
      seed: 0,
      logprobs: false,
      top_logprobs: 0,
      user: "",
      tools: [LOOKUP],
      tool_choice: "auto",
      parallel_tool_calls: false,
    };
    // Act
    await chat(aChat({ max_tokens: 8, ...named }), ctx);
    // Assess
    expect(calls[0]).toStrictEqual({
      model: MODEL,
      messages: USER,
      maxTokens: 8,
      temperature: 0,
      topP: 1,
      seed: 0,
      logprobs: false,
      topLogprobs: 0,
      user: "",
      tools: [LOOKUP],
      toolChoice: "auto",
      parallelToolCalls: false,
    });
  });

  it("sends tools without a tool_choice when the app named none (the model decides)", async () => {
    // Prepare
    const { ctx, calls } = aNetwork({ capabilities: caps({ tools: true }) });
    // Act
    await chat(aChat({ max_tokens: 8, tools: [LOOKUP] }), ctx);
    // Assess
    expect(calls[0]).toStrictEqual({ model: MODEL, messages: USER, maxTokens: 8, tools: [LOOKUP] });
  });

  it("sends a named tool_choice that names any of the tools, not only the first", async () => {
    // Prepare
    const { ctx, calls } = aNetwork();
    const choice = { type: "function", function: { name: "get_weather" } };
    // Act
    const res = await chat(aChat({ tools: [LOOKUP, WEATHER], tool_choice: choice }), ctx);
    // Assess
    expect(res.status).toBe(200);
    expect(calls[0]).toMatchObject({ tools: [LOOKUP, WEATHER], toolChoice: choice });
  });

  // BUG: tool_choice without tools reached the network; a vLLM worker refuses it ("When using
  // `tool_choice`, `tools` must be set"), so the job failed after it was submitted, where
  // api.openai.com answers before any generation. Without tools "auto" and "none" change nothing.
  it.each([
    ["a model that calls functions", caps({ tools: true })],
    ["a model without function calling", caps()],
  ])('does not send tool_choice "auto" without tools to %s', async (_what, capabilities) => {
    // Prepare
    const { ctx, calls } = aNetwork({ capabilities });
    // Act
    const res = await chat(aChat({ max_tokens: 8, tool_choice: "auto" }), ctx);
    // Assess
    expect(res.status).toBe(200);
    expect(calls[0]).toStrictEqual({ model: MODEL, messages: USER, maxTokens: 8 });
  });

  // BUG: as above, with an empty tools array (no tool reaches the network, so neither may tool_choice).
  it('does not send tool_choice "auto" when tools is an empty array', async () => {
    // Prepare
    const { ctx, calls } = aNetwork({ capabilities: caps({ tools: true }) });
    // Act
    await chat(aChat({ max_tokens: 8, tools: [], tool_choice: "auto" }), ctx);
    // Assess
    expect(calls[0]).toStrictEqual({ model: MODEL, messages: USER, maxTokens: 8 });
  });
});

describe("chat completions: the assistant message", () => {
  it("answers content null beside tool calls when the model wrote no text", async () => {
    // Prepare
    const call = { id: "call_1", type: "function" as const, function: { name: "lookup", arguments: "{}" } };
    const { ctx } = aNetwork({ answer: { text: "", toolCalls: [call], finishReason: "tool_calls" } });
    // Act
    const res = await chat(aChat({ tools: [LOOKUP] }), ctx);
    // Assess
    expect(res.body.choices[0].message).toStrictEqual({ role: "assistant", content: null, refusal: null, tool_calls: [call] });
  });

  // BUG (fixed): "tool_calls" hid the cut, so an app ran a call whose arguments are broken JSON.
  it.each([
    ["length", "length"],
    ["stop", "tool_calls"],
    ["tool_calls", "tool_calls"],
  ] as const)(
    "answers finish_reason %s beside tool calls as %s (a budget cut stays length, as OpenAI answers)",
    async (reason, expected) => {
      // Prepare
      const call = { id: "call_1", type: "function" as const, function: { name: "lookup", arguments: '{"q": "Par' } };
      const { ctx } = aNetwork({ answer: { text: "", toolCalls: [call], finishReason: reason } });
      // Act
      const res = await chat(aChat({ tools: [LOOKUP] }), ctx);
      // Assess
      expect(res.body.choices[0].finish_reason).toBe(expected);
    },
  );

  it("keeps the text the model wrote beside its tool calls", async () => {
    // Prepare
    const call = { id: "call_1", type: "function" as const, function: { name: "lookup", arguments: '{"q":"x"}' } };
    const { ctx } = aNetwork({ answer: { text: "Let me look.", toolCalls: [call], finishReason: "tool_calls" } });
    // Act
    const res = await chat(aChat({ tools: [LOOKUP] }), ctx);
    // Assess
    expect(res.body.choices[0].message).toMatchObject({ content: "Let me look.", tool_calls: [call] });
  });

  it('answers an empty text as content "" (not null) when there are no tool calls', async () => {
    // Prepare
    const { ctx } = aNetwork({ answer: { text: "", finishReason: "length" } });
    // Act
    const res = await chat(aChat(), ctx);
    // Assess
    expect(res.body.choices[0].message).toStrictEqual({ role: "assistant", content: "", refusal: null });
    expect(res.body.choices[0].finish_reason).toBe("length");
  });

  it("answers top_logprobs [] and the token's UTF-8 bytes for a token the worker gave no alternatives", async () => {
    // Prepare
    const { ctx } = aNetwork({ answer: { text: "é", logprobs: [{ token: "é", logprob: -0.25 }] } });
    // Act
    const res = await chat(aChat({ logprobs: true }), ctx);
    // Assess
    expect(res.body.choices[0].logprobs).toStrictEqual({
      content: [{ token: "é", logprob: -0.25, bytes: [195, 169], top_logprobs: [] }],
      refusal: null,
    });
  });
});

describe("chat completions: refusals before any job", () => {
  it("refuses top_logprobs without logprobs: true with 400 invalid_request naming top_logprobs", async () => {
    // Prepare
    const { ctx, calls } = aNetwork();
    // Act
    const err = await refusal(aChat({ top_logprobs: 3 }), ctx);
    // Assess
    expect(err).toMatchObject({
      status: 400,
      type: "invalid_request_error",
      code: "invalid_request",
      param: "top_logprobs",
      message: "top_logprobs requires logprobs: true",
    });
    expect(calls).toHaveLength(0);
  });

  it('refuses tool_choice "required" without tools with 400 naming tool_choice and saying why', async () => {
    // Prepare
    const { ctx, calls } = aNetwork();
    // Act
    const err = await refusal(aChat({ tool_choice: "required" }), ctx);
    // Assess
    expect(err).toMatchObject({
      status: 400,
      code: "invalid_request",
      param: "tool_choice",
      message: 'tool_choice "required" needs tools to call',
    });
    expect(calls).toHaveLength(0);
  });

  it("refuses a named tool_choice when the request has no tools with 400 naming the function (not a 500)", async () => {
    // Prepare
    const { ctx, calls } = aNetwork();
    // Act
    const err = await refusal(aChat({ tool_choice: { type: "function", function: { name: "lookup" } } }), ctx);
    // Assess
    expect(err).toMatchObject({
      status: 400,
      type: "invalid_request_error",
      code: "invalid_request",
      param: "tool_choice",
      message: 'tool_choice names the function "lookup", which is not in tools',
    });
    expect(calls).toHaveLength(0);
  });
});

describe("chat completions: a prompt past the network's cap on one job's prompt tokens", () => {
  /** One user message whose token bound (bytes + 8 + 16, client/sdk.ts promptTokenBound) is `bound`. */
  const ofBound = (bound: number) => [{ role: "user", content: "m".repeat(bound - 24) }];

  it("without max_tokens: 400 context_length_exceeded naming messages, as OpenAI answers, and no job asked", async () => {
    // Prepare
    const { ctx, calls } = aNetwork();
    // Act
    const err = await refusal(aChat({ messages: ofBound(MAX_JOB_PROMPT_TOKENS + 1) }), ctx);
    // Assess
    expect(err).toMatchObject({
      status: 400,
      type: "invalid_request_error",
      code: "context_length_exceeded",
      param: "messages",
      message: `messages may take up to ${MAX_JOB_PROMPT_TOKENS + 1} tokens (one per byte), past ${MAX_JOB_PROMPT_TOKENS} (the Cocoon network's cap on one job's prompt tokens); shorten it`,
    });
    expect(calls).toHaveLength(0);
  });

  it("n choices count the prompt n times: n × the bound past the cap is refused, naming n", async () => {
    // Prepare
    const { ctx, calls } = aNetwork();
    const half = MAX_JOB_PROMPT_TOKENS / 2;
    // Act
    const err = await refusal(aChat({ n: 2, messages: ofBound(half + 1) }), ctx);
    // Assess
    expect(err).toMatchObject({ code: "context_length_exceeded", param: "messages" });
    expect(err.message).toBe(
      `n × messages may take up to 2 × ${half + 1} = ${MAX_JOB_PROMPT_TOKENS + 2} tokens (one per byte), past ${MAX_JOB_PROMPT_TOKENS} (the Cocoon network's cap on one job's prompt tokens); shorten it or lower n`,
    );
    expect(calls).toHaveLength(0);
  });

  it("a prompt exactly at the cap is asked, and tools dropped for a model without function calling count nothing", async () => {
    // Prepare: tool_choice "none" to a model without tools: the proxy drops the tools, so they are not in the prompt
    const { ctx, calls } = aNetwork({ capabilities: caps({ tools: false }) });
    const messages = ofBound(MAX_JOB_PROMPT_TOKENS);
    // Act
    const plain = await chat(aChat({ messages }), ctx);
    const dropped = await chat(aChat({ messages, tools: [LOOKUP], tool_choice: "none" }), ctx);
    // Assess
    expect([plain.status, dropped.status]).toEqual([200, 200]);
    expect(calls).toHaveLength(2);
    expect(calls[1]).not.toHaveProperty("tools");
  });
});
