import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CUT_PROMPT,
  OLLAMA_MODEL,
  startReasoningServer,
  THOUGHTS,
  VLLM_MODEL,
  WORDS,
  type ReasoningServer,
} from "../../test/fixtures/reasoning-server";
import { streamOf, type EngineStreamEvent } from "./engine";
import { createOpenAiEngine } from "./openai-http";
import { aRequest } from "./engine-testing";

/**
 * A reasoning model's thinking, as the OpenAI-compatible servers send it apart from the answer
 * (llama-server, vLLM, SGLang: `reasoning_content`; Ollama: `reasoning`), is read into the
 * engine's result and deltas. Dropped, a job came back with empty text, cut at max_tokens, and
 * billed for every thinking token.
 */

let server: ReasoningServer;
beforeAll(async () => {
  server = await startReasoningServer();
});
afterAll(async () => {
  await server?.close();
});

const engine = () => createOpenAiEngine({ baseUrl: server.url });

async function drain(stream: AsyncIterable<EngineStreamEvent>) {
  const deltas: Array<Extract<EngineStreamEvent, { type: "delta" }>> = [];
  for await (const ev of stream) {
    if (ev.type === "delta") deltas.push(ev);
    else return { deltas, result: ev.result };
  }
  throw new Error("stream ended without done");
}

describe.each([
  { dialect: "reasoning_content (llama-server, vLLM, SGLang)", model: VLLM_MODEL },
  { dialect: "reasoning (Ollama)", model: OLLAMA_MODEL },
])("the OpenAI-compatible engine reads a reasoning model's thinking: $dialect", ({ model }) => {
  it("from a whole answer, apart from its text", async () => {
    // Act
    const r = await engine().generate(aRequest({ model }));
    // Assess
    expect(r).toMatchObject({ text: WORDS.join(""), reasoning: THOUGHTS.join(""), finishReason: "stop" });
  });

  it("from a streamed answer: each thought as its own delta before the text, and whole in the result", async () => {
    // Act
    const { deltas, result } = await drain(engine().stream!(aRequest({ model })));
    // Assess
    expect(deltas.map((d) => d.reasoning ?? "")).toEqual([...THOUGHTS, ...WORDS.map(() => "")]);
    expect(deltas.map((d) => d.text)).toEqual([...THOUGHTS.map(() => ""), ...WORDS]);
    expect(result).toMatchObject({ text: WORDS.join(""), reasoning: THOUGHTS.join(""), usage: { completionTokens: 6 } });
  });

  it("from an answer cut at max_tokens while it thought: no text, all of it billed, the thinking kept", async () => {
    // Prepare
    const req = aRequest({ model, maxTokens: 50, messages: [{ role: "user", content: CUT_PROMPT }] });
    // Act
    const streamed = await drain(engine().stream!(req));
    const whole = await engine().generate(req);
    // Assess
    for (const r of [streamed.result, whole])
      expect(r).toMatchObject({ text: "", reasoning: THOUGHTS.join(""), finishReason: "length", usage: { completionTokens: 50 } });
  });

  it("into the one delta of an engine asked whole (streamOf over generate)", async () => {
    // Prepare
    const e = engine();
    // Act
    const { deltas } = await drain(streamOf({ name: e.name, models: e.models, generate: e.generate }, aRequest({ model })));
    // Assess
    expect(deltas).toEqual([{ type: "delta", text: WORDS.join(""), reasoning: THOUGHTS.join("") }]);
  });
});

describe("an answer without thinking", () => {
  it("has no reasoning field (results look as before)", async () => {
    // Prepare: a server that answers only text, as a model without a reasoning parser does
    const fetchImpl = (async () =>
      new Response(
        JSON.stringify({
          choices: [{ index: 0, message: { role: "assistant", content: "hi", reasoning_content: null }, finish_reason: "stop" }],
          usage: { prompt_tokens: 1, completion_tokens: 1 },
        }),
        { status: 200, headers: { "content-type": "application/json" } },
      )) as typeof fetch;
    // Act
    const r = await createOpenAiEngine({ baseUrl: "http://127.0.0.1:9/v1", fetchImpl }).generate(aRequest());
    // Assess
    expect(r).not.toHaveProperty("reasoning");
    expect(r.text).toBe("hi");
  });
});
