/**
 * The embedded engine's countPromptTokens (tokenize42): a cancelled job's prompt counted in the
 * child without evaluating it (agent/execute.ts promptTokensOf asked the request again for one
 * token, a second prefill). On the tiny GGUF: the count is what generate and complete bill (the
 * chat template with its tools, the BOS the library adds), and it does not wait for a slot that a
 * generation holds.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EngineTool } from "./engine";
import { aRequest, TINY_LLAMA, tinyLlama } from "./engine-testing";
import type { LlamaEngine } from "./llama";
import { tinyVocabulary } from "./tiny-gguf";

let engine: LlamaEngine;
beforeAll(async () => {
  engine = await tinyLlama();
}, 60_000);
afterAll(async () => {
  await engine?.close();
});

const weather: EngineTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } } },
  },
};

describe("the embedded engine counts a prompt without running it", () => {
  it("a chat, with and without tools: the prompt tokens generate bills", async () => {
    // Prepare
    const plain = aRequest({
      model: TINY_LLAMA,
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hello world" },
      ],
      maxTokens: 1,
    });
    const withTools = { ...plain, tools: [weather] };
    // Act
    const counted = [await engine.countPromptTokens(plain), await engine.countPromptTokens(withTools)];
    const billed = [(await engine.generate(plain)).usage.promptTokens, (await engine.generate(withTools)).usage.promptTokens];
    // Assess: the same, and the tools' documentation counted
    expect(counted).toEqual(billed);
    expect(counted[1]!).toBeGreaterThan(counted[0]!);
  }, 60_000);

  it("a text completion: the prompt tokens complete bills (its BOS included)", async () => {
    // Prepare
    const req = { model: TINY_LLAMA, prompt: "hello world hello", maxTokens: 1 };
    // Act
    const counted = await engine.countPromptTokens(req);
    const billed = (await engine.complete(req)).usage.promptTokens;
    // Assess
    expect(counted).toBe(billed);
  }, 60_000);

  it("answers while a generation holds the engine's one slot (a cancelled job's own, still stopping)", async () => {
    // Prepare: a long generation on the only slot (every token forced to ▁cocoon, so it runs to max_tokens)
    const cocoon = String(tinyVocabulary().tokens.indexOf("▁cocoon"));
    const long = engine.generate(
      aRequest({ model: TINY_LLAMA, maxTokens: 2000, temperature: 0, extra: { logit_bias: { [cocoon]: 100 } } }),
    );
    // Act: counted after it started
    const first = await Promise.race([
      engine.countPromptTokens(aRequest({ model: TINY_LLAMA })).then((n) => ({ counted: n })),
      long.then(() => "the generation ended first"),
    ]);
    await long;
    // Assess: the count came back while the generation ran
    expect(first).toEqual({ counted: expect.any(Number) as unknown as number });
  }, 60_000);
});
