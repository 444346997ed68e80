/**
 * What the embedded engine does at max_tokens with text node-llama-cpp held back, under a
 * reasoning model's chat template (llama-usage.test.ts has the tiny model's ChatML): the template
 * opens a thought (`<think>`) for every answer, and ends a turn with plain text rather than an end
 * token, as the General and Alpaca templates end theirs ("### Human:"). A logit_bias of +100 on one
 * token makes every greedy token that token (llama-extra.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EngineRequest, EngineResult, EngineStreamEvent } from "./engine";
import { TINY_LLAMA, tinyLlama } from "./engine-testing";
import type { LlamaEngine } from "./llama";
import { tinyVocabulary } from "./tiny-gguf";

/**
 * ChatML whose assistant turn opens a thought (`<think>\n`, closed by `\n</think>\n\n`) in its
 * generation prompt, as Qwen3's does: node-llama-cpp reads the thought segment out of it and opens
 * it at the answer's start, so every token the model samples is thinking until it closes it. Turns
 * end with the text "oon cocoon" (node-llama-cpp stops the answer on it: a stop-generation
 * trigger), which forced " cocoon" tokens complete on their second: " coc" is then the answer.
 */
const TEMPLATE = `{%- for message in messages %}
{%- if message.role == "assistant" %}
{{- '<|im_start|>assistant\\n' }}{%- if message.reasoning_content %}{{- '<think>\\n' + message.reasoning_content + '\\n</think>\\n\\n' }}{%- endif %}{{- message.content + 'oon cocoon' }}
{%- else %}
{{- '<|im_start|>' + message.role + '\\n' + message.content + 'oon cocoon' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n<think>\\n' }}{%- endif %}`;

let engine: LlamaEngine;

beforeAll(async () => {
  engine = await tinyLlama({ chatTemplate: TEMPLATE });
}, 60_000);

afterAll(async () => {
  await engine?.close();
});

/** A greedy chat request whose every token is `piece`. */
const forced = (piece: string, maxTokens: number): EngineRequest => ({
  model: TINY_LLAMA,
  messages: [{ role: "user", content: "hello world" }],
  maxTokens,
  temperature: 0,
  extra: { logit_bias: { [String(tinyVocabulary().tokens.indexOf(piece))]: 100 } },
});

/** A stream's result and its text and reasoning pieces. */
async function streamed(s: AsyncIterable<EngineStreamEvent>): Promise<{ result: EngineResult; text: string[]; reasoning: string[] }> {
  const text: string[] = [];
  const reasoning: string[] = [];
  for await (const ev of s) {
    if (ev.type !== "delta") return { result: ev.result, text, reasoning };
    text.push(ev.text);
    if (ev.reasoning) reasoning.push(ev.reasoning);
  }
  throw new Error("the stream ended without a result");
}

describe("a reasoning model cut by max_tokens while it thinks", () => {
  // BUG: the text node-llama-cpp held back inside a thought (here an unfinished UTF-8 character's
  // bytes) was dropped at the limit though billed, or came back as the answer's content where the
  // thought had delivered no token yet: max_tokens 3 answered "���" as content, no reasoning.
  it.each([1, 3])("delivers the held thought as reasoning, its last piece, streamed or not (max_tokens %i)", async (n) => {
    // Arrange: every greedy token a lone UTF-8 lead byte (byte fallback), held while it waits for the rest
    const req = forced("<0xE2>", n);
    // Act
    const plain = await engine.generate(req);
    const stream = await streamed(engine.stream(req));
    // Assess: one U+FFFD per billed byte token, all of them thinking
    for (const r of [plain, stream.result]) {
      expect([r.text, r.reasoning, r.finishReason]).toEqual(["", "\uFFFD".repeat(n), "length"]);
      expect(r.usage).toMatchObject({ completionTokens: n, reasoningTokens: n });
    }
    expect([stream.text.join(""), stream.reasoning.join("")]).toEqual(["", "\uFFFD".repeat(n)]);
  });

  it("leaves a thought that closed as it was: its text as reasoning, the answer after it as content", async () => {
    // Act: the thought closes at its token budget, the job's (node-llama-cpp counts " water" as 5), and the answer goes on
    const r = await engine.generate(forced("▁water", 3));
    // Assess
    expect([r.reasoning, r.text, r.finishReason, r.usage.completionTokens]).toEqual(["water", " water water", "length", 3]);
  });
});

describe("a thought its template's end text ends on the budget's last token", () => {
  // BUG: it said "length": the thought tally saw the budget spent with the text handed over at the
  // end, and took the end for the budget's. (In an answer, the end text the library held back was
  // then released as the answer's too: "cocoon cocoon" for "coc".)
  it.each([2, 3])('is the thinking before the end, finish "stop", streamed or not (max_tokens %i)', async (n) => {
    // Act
    const plain = await engine.generate(forced("▁cocoon", n));
    const stream = await streamed(engine.stream(forced("▁cocoon", n)));
    // Assess: two tokens sampled, the second completing the end text
    for (const r of [plain, stream.result])
      expect([r.text, r.reasoning, r.finishReason, r.usage.completionTokens]).toEqual(["", "coc", "stop", 2]);
    expect([stream.text.join(""), stream.reasoning.join("")]).toEqual(["", "coc"]);
  });
});
