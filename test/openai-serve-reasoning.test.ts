import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { createOpenAiEngine } from "../agent/engines/openai-http";
import type { RunningAgent } from "../agent/runtime";
import type { CocoonClient } from "../client/sdk";
import type { ServeProxy } from "../client/serve";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { collectStream } from "./helpers";
import {
  CUT_PROMPT,
  OLLAMA_MODEL,
  startReasoningServer,
  THOUGHTS,
  VLLM_MODEL,
  WORDS,
  type ReasoningServer,
} from "./fixtures/reasoning-server";
import { serveOverNetwork } from "./fixtures/serve-proxy";

/**
 * A reasoning model's thinking reaches the requester. llama-server, vLLM and SGLang (with a
 * reasoning parser) send it as `reasoning_content`, Ollama as `reasoning`; the worker's engine
 * adapter dropped it, so a job could come back with empty text, finish_reason "length" and every
 * completion token billed. It now travels sealed beside the text (ChunkPlaintext.reasoning),
 * through the real agent, network and SDK, and `cocoon serve` returns it as `reasoning_content`
 * (chat completions) and as a reasoning item (Responses API).
 */

let upstream: ReasoningServer;
let net: LocalNetwork;
let agents: RunningAgent[];
let sdk: CocoonClient;
let proxy: ServeProxy;
let openai: OpenAI;

beforeAll(async () => {
  upstream = await startReasoningServer();
  net = await startNetwork({ chain: false });
  agents = await startLocalAgents(net.url, tempDir("cocoon-reasoning-"), [
    { name: "think", priceBps: 10_000, engine: createOpenAiEngine({ baseUrl: upstream.url }), models: [VLLM_MODEL, OLLAMA_MODEL] },
  ]);
  ({ sdk, proxy, openai } = await serveOverNetwork(net.url));
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await Promise.all((agents ?? []).map((a) => a.stop()));
  await net?.stop();
  await upstream?.close();
});

const THOUGHT = THOUGHTS.join("");
const ANSWER = WORDS.join("");
const hi = [{ role: "user" as const, content: "hi" }];
const cut = [{ role: "user" as const, content: CUT_PROMPT }];
const dialects = [
  { dialect: "reasoning_content (llama-server, vLLM, SGLang)", model: VLLM_MODEL },
  { dialect: "reasoning (Ollama)", model: OLLAMA_MODEL },
];

describe.each(dialects)("the SDK gets a reasoning model's thinking: $dialect", ({ model }) => {
  it("on the answer, apart from its text", async () => {
    // Act
    const r = await sdk.ask({ model, messages: hi, maxTokens: 64 });
    // Assess
    expect(r).toMatchObject({ text: ANSWER, reasoning: THOUGHT, finishReason: "stop", usage: { completionTokens: 6 } });
  });

  it("on an answer cut at max_tokens mid-thought: what the tokens bought is delivered, not an empty text", async () => {
    // Act
    const r = await sdk.ask({ model, messages: cut, maxTokens: 40 });
    // Assess
    expect(r).toMatchObject({ text: "", reasoning: THOUGHT, finishReason: "length", usage: { completionTokens: 40 } });
  });

  it("on the stream's deltas, as they come, and whole on done", async () => {
    // Act
    const { events, done } = await collectStream(sdk.askStream({ model, messages: hi, maxTokens: 64 }));
    // Assess
    const deltas = events.filter((e) => e.type === "delta");
    expect(deltas.map((e) => e.reasoning ?? "").join("")).toBe(THOUGHT);
    expect(deltas.map((e) => e.text ?? "").join("")).toBe(ANSWER);
    expect(done).toMatchObject({ text: ANSWER, reasoning: THOUGHT });
  });
});

describe.each(dialects)("cocoon serve returns it as reasoning_content: $dialect", ({ model }) => {
  it("on a chat completion's message", async () => {
    // Act
    const r = await openai.chat.completions.create({ model, messages: hi, max_tokens: 64 });
    // Assess
    const message = r.choices[0]!.message as OpenAI.Chat.ChatCompletionMessage & { reasoning_content?: string };
    expect(message.content).toBe(ANSWER);
    expect(message.reasoning_content).toBe(THOUGHT);
    expect(r.usage?.completion_tokens).toBe(6);
  });

  it("on a chat completion cut mid-thought (finish_reason length, content empty)", async () => {
    // Act
    const r = await openai.chat.completions.create({ model, messages: cut, max_tokens: 40 });
    // Assess
    const message = r.choices[0]!.message as OpenAI.Chat.ChatCompletionMessage & { reasoning_content?: string };
    expect(r.choices[0]!.finish_reason).toBe("length");
    expect(message).toMatchObject({ content: "", reasoning_content: THOUGHT });
  });

  it("on streamed deltas, thinking first", async () => {
    // Act
    const stream = await openai.chat.completions.create({ model, messages: hi, max_tokens: 64, stream: true });
    const deltas: Array<Record<string, unknown>> = [];
    for await (const chunk of stream) if (chunk.choices[0]) deltas.push(chunk.choices[0].delta as Record<string, unknown>);
    // Assess
    const thinking = deltas.filter((d) => d.reasoning_content !== undefined);
    expect(thinking.map((d) => d.reasoning_content).join("")).toBe(THOUGHT);
    expect(deltas.map((d) => d.content ?? "").join("")).toBe(ANSWER);
    // a chunk may hold thinking and the text after it: then both are on one delta
    expect(deltas.findIndex((d) => d.reasoning_content !== undefined)).toBeLessThanOrEqual(deltas.findIndex((d) => d.content));
  });
});

describe("cocoon serve's Responses API returns it as a reasoning item", () => {
  it("before the message of a whole response", async () => {
    // Act
    const r = await openai.responses.create({ model: VLLM_MODEL, input: "hi", max_output_tokens: 64 });
    // Assess
    expect(r.output.map((i) => i.type)).toEqual(["reasoning", "message"]);
    expect(r.output[0]).toMatchObject({ type: "reasoning", status: "completed", content: [{ type: "reasoning_text", text: THOUGHT }] });
    expect(r.output_text).toBe(ANSWER);
  });

  it("alone, incomplete, on a response cut mid-thought", async () => {
    // Act
    const r = await openai.responses.create({ model: OLLAMA_MODEL, input: CUT_PROMPT, max_output_tokens: 40 });
    // Assess
    expect(r.status).toBe("incomplete");
    expect(r.output).toMatchObject([{ type: "reasoning", status: "incomplete", content: [{ type: "reasoning_text", text: THOUGHT }] }]);
  });

  it("streamed as reasoning_text events, closed before the text begins", async () => {
    // Act
    const stream = await openai.responses.create({ model: OLLAMA_MODEL, input: "hi", max_output_tokens: 64, stream: true });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const e of stream) events.push(e);
    // Assess
    const types = events.map((e) => e.type);
    const deltas = events.filter((e) => e.type === "response.reasoning_text.delta");
    expect(deltas.map((e) => e.delta).join("")).toBe(THOUGHT);
    expect(types.indexOf("response.reasoning_text.done")).toBeLessThan(types.indexOf("response.output_text.delta"));
    const completed = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    expect(completed.type).toBe("response.completed");
    expect(completed.response.output.map((i) => i.type)).toEqual(["reasoning", "message"]);
    expect(completed.response.output[0]).toMatchObject({ content: [{ type: "reasoning_text", text: THOUGHT }] });
  });

  it("takes a reasoning item sent back in a later turn's input (and leaves it out of the conversation)", async () => {
    // Prepare: the first turn's answer as the proxy returns it: its thinking, then its message
    const first = await openai.responses.create({ model: VLLM_MODEL, input: "hi", max_output_tokens: 64, store: false });
    const thought = { type: "reasoning", id: "rs_1", summary: [], content: [{ type: "reasoning_text", text: THOUGHT }] };
    const said = first.output.filter((i) => i.type === "message") as OpenAI.Responses.ResponseInputItem[];
    // Act
    const r = await openai.responses.create({
      model: VLLM_MODEL,
      input: [{ role: "user", content: "hi" }, thought as OpenAI.Responses.ResponseInputItem, ...said, { role: "user", content: "again" }],
      max_output_tokens: 64,
      store: false,
    });
    // Assess
    expect(r.output_text).toBe(ANSWER);
    expect(upstream.seen.at(-1)!.messages).toEqual([
      { role: "user", content: "hi" },
      { role: "assistant", content: ANSWER },
      { role: "user", content: "again" },
    ]);
  });
});
