/**
 * A reasoning model's thinking-token count, as OpenAI-shaped servers report it
 * (usage.completion_tokens_details.reasoning_tokens: OpenAI, DeepSeek, vLLM and SGLang with a
 * reasoning parser), is read into the engine's usage as `reasoningTokens`: information only, never
 * billed, so a detail that is missing or unusable is left out and never fails the job. Before,
 * it was dropped and `cocoon serve` told apps 0.
 */
import { describe, expect, it } from "vitest";
import { collectStream } from "./engine";
import { aRequest } from "./engine-testing";
import { createOpenAiEngine } from "./openai-http";

/** A whole chat answer with thinking, and this `usage` object. */
const wholeAnswer = (usage: unknown) => ({
  choices: [{ index: 0, message: { role: "assistant", content: "42", reasoning_content: "Let me think." }, finish_reason: "stop" }],
  usage,
});

/** The same answer streamed: a thought, the text, then the usage-only event, then [DONE]. */
const streamedAnswer = (usage: unknown) =>
  [
    { choices: [{ index: 0, delta: { reasoning_content: "Let me think." }, finish_reason: null }] },
    { choices: [{ index: 0, delta: { content: "42" }, finish_reason: "stop" }] },
    { choices: [], usage },
    "[DONE]",
  ]
    .map((e) => `data: ${typeof e === "string" ? e : JSON.stringify(e)}\n\n`)
    .join("");

/** An engine whose server answers every call with this body (JSON whole, or SSE text streamed). */
function engineAnswering(body: unknown) {
  const fetchImpl = (async () =>
    typeof body === "string"
      ? new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } })
      : new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } })) as typeof fetch;
  return createOpenAiEngine({ baseUrl: "http://127.0.0.1:9/v1", fetchImpl });
}

const usage = (details?: unknown) => ({
  prompt_tokens: 5,
  completion_tokens: 10,
  total_tokens: 15,
  ...(details !== undefined ? { completion_tokens_details: details } : {}),
});

/** Both ways the agent asks: whole (generate) and streamed (stream, drained to its result). */
const ways = [
  { way: "whole", result: (u: unknown) => engineAnswering(wholeAnswer(u)).generate(aRequest()) },
  {
    way: "streamed",
    result: async (u: unknown) => (await collectStream(engineAnswering(streamedAnswer(u)).stream!(aRequest()))).result,
  },
];

describe.each(ways)("the OpenAI-compatible engine's reasoning-token count ($way)", ({ result }) => {
  it("is read from usage.completion_tokens_details.reasoning_tokens", async () => {
    // Act
    const r = await result(usage({ reasoning_tokens: 7, accepted_prediction_tokens: 0 }));
    // Assess
    expect(r.usage).toEqual({ promptTokens: 5, completionTokens: 10, reasoningTokens: 7 });
  });

  it("is all of the completion when the server says so (the bound is inclusive)", async () => {
    // Act
    const r = await result(usage({ reasoning_tokens: 10 }));
    // Assess
    expect(r.usage.reasoningTokens).toBe(10);
  });

  it("is 0 when the server counted no thinking", async () => {
    // Act
    const r = await result(usage({ reasoning_tokens: 0 }));
    // Assess
    expect(r.usage).toEqual({ promptTokens: 5, completionTokens: 10, reasoningTokens: 0 });
  });

  it.each([
    ["no details (llama-server, older vLLM)", undefined],
    ["details null", null],
    ["details without reasoning_tokens", { audio_tokens: 0 }],
    ["reasoning_tokens null", { reasoning_tokens: null }],
  ])("is left out, not guessed from the streamed thinking, with %s", async (_, details) => {
    // Act
    const r = await result(usage(details));
    // Assess: the answer is whole and billed as before
    expect(r.usage).toEqual({ promptTokens: 5, completionTokens: 10 });
    expect(r).toMatchObject({ text: "42", reasoning: "Let me think." });
  });

  it.each([
    ["above completion_tokens", { reasoning_tokens: 11 }],
    ["negative", { reasoning_tokens: -1 }],
    ["fractional", { reasoning_tokens: 2.5 }],
    ["a string", { reasoning_tokens: "7" }],
  ])("is never trusted %s: left out, and the job is not failed for it", async (_, details) => {
    // Act
    const r = await result(usage(details));
    // Assess
    expect(r.usage).toEqual({ promptTokens: 5, completionTokens: 10 });
    expect(r.text).toBe("42");
  });
});
