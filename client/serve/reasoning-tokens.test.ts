/**
 * What `cocoon serve` tells apps of a reasoning model's thinking tokens, read with the official
 * OpenAI client: /v1/chat/completions' usage.completion_tokens_details.reasoning_tokens (whole,
 * and in the last streamed chunk with stream_options.include_usage) and /v1/responses'
 * usage.output_tokens_details.reasoning_tokens (whole, and in response.completed). The number
 * is the worker's engine's own count (AskResult.usage.reasoningTokens); 0 for an answer that did
 * not think; left out where the answer thought and no count came with it. Before, chat said
 * nothing and /v1/responses said 0 for every answer.
 */
import { afterEach, describe, expect, it } from "vitest";
import { anAnswer, caps, closeProxies, startFakedProxy } from "../../test/fixtures/serve-proxy";
import type { AskResult, AskStreamEvent } from "./types";

const MODEL = "thinking-model";
const MODELS = [{ id: MODEL, capabilities: caps({ contextLength: 4096 }) }];

afterEach(closeProxies);

/** The three kinds of answer: thinking with its count, thinking without one, and no thinking. */
const COUNTED: Partial<AskResult> = {
  text: "42",
  reasoning: "Let me think.",
  usage: { promptTokens: 9, completionTokens: 30, reasoningTokens: 20 },
};
const UNCOUNTED: Partial<AskResult> = { text: "42", reasoning: "Let me think.", usage: { promptTokens: 9, completionTokens: 30 } };
const PLAIN: Partial<AskResult> = { text: "42", usage: { promptTokens: 9, completionTokens: 2 } };

/** A proxy whose network answers `over`, whole and streamed (its thinking, its text, then done). */
function start(over: Partial<AskResult>) {
  const result = anAnswer(MODEL, over);
  return startFakedProxy(MODELS, {
    ask: async () => result,
    askStream: () =>
      (async function* (): AsyncGenerator<AskStreamEvent> {
        if (result.reasoning) yield { type: "delta", text: "", reasoning: result.reasoning, jobId: result.jobId };
        yield { type: "delta", text: result.text, jobId: result.jobId };
        yield { type: "done", ...result };
      })(),
  });
}

const messages = [{ role: "user" as const, content: "What is 6 × 7?" }];

describe("/v1/chat/completions: usage.completion_tokens_details.reasoning_tokens", () => {
  it.each([
    ["the engine's count for an answer that thought", COUNTED, { reasoning_tokens: 20 }],
    ["0 for an answer that did not think", PLAIN, { reasoning_tokens: 0 }],
    ["left out for an answer that thought without a count", UNCOUNTED, undefined],
  ])("is %s (whole)", async (_, over, details) => {
    // Prepare
    const { openai } = await start(over);
    // Act
    const r = await openai.chat.completions.create({ model: MODEL, messages });
    // Assess
    expect(r.usage!.completion_tokens_details).toEqual(details);
    expect(r.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: over.usage!.completionTokens });
  });

  it.each([
    ["the engine's count for an answer that thought", COUNTED, { reasoning_tokens: 20 }],
    ["0 for an answer that did not think", PLAIN, { reasoning_tokens: 0 }],
    ["left out for an answer that thought without a count", UNCOUNTED, undefined],
  ])("is %s, in the last chunk of a stream asked with include_usage", async (_, over, details) => {
    // Prepare
    const { openai } = await start(over);
    // Act
    const stream = await openai.chat.completions.create({ model: MODEL, messages, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    // Assess
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage!.completion_tokens_details).toEqual(details);
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });
});

describe("/v1/responses: usage.output_tokens_details.reasoning_tokens", () => {
  it.each([
    ["the engine's count for an answer that thought", COUNTED, { reasoning_tokens: 20 }],
    ["0 for an answer that did not think", PLAIN, { reasoning_tokens: 0 }],
    [
      "null for an answer that thought without a count (never a made-up 0; the object stays, as OpenAI's schema has it)",
      UNCOUNTED,
      { reasoning_tokens: null },
    ],
  ])("is %s (whole)", async (_, over, details) => {
    // Prepare
    const { openai } = await start(over);
    // Act
    const r = await openai.responses.create({ model: MODEL, input: "What is 6 × 7?" });
    // Assess
    expect(r.usage!.output_tokens_details).toEqual(details);
    expect(r.usage).toMatchObject({ input_tokens: 9, output_tokens: over.usage!.completionTokens });
  });

  it.each([
    ["the engine's count for an answer that thought", COUNTED, { reasoning_tokens: 20 }],
    ["0 for an answer that did not think", PLAIN, { reasoning_tokens: 0 }],
    ["null for an answer that thought without a count", UNCOUNTED, { reasoning_tokens: null }],
  ])("is %s, in the streamed response.completed", async (_, over, details) => {
    // Prepare
    const { openai } = await start(over);
    // Act
    const stream = await openai.responses.create({ model: MODEL, input: "What is 6 × 7?", stream: true });
    let completed: { usage?: { output_tokens_details?: unknown } | null } | undefined;
    for await (const e of stream) if (e.type === "response.completed") completed = e.response;
    // Assess
    expect(completed!.usage!.output_tokens_details).toEqual(details);
  });
});
