import { afterEach, describe, expect, it } from "vitest";
import { type ModelInfo } from "../client/serve";
import { caps, closeProxies, startFakedProxy } from "./fixtures/serve-proxy";

/**
 * Edges of `cocoon serve`'s OpenAI surface that real apps reach and the other suites do not:
 * each case is a request the OpenAI API reference (openai/openai-openapi) takes, sent as the
 * app sends it, against a proxy over a faked network (loopback only).
 */

const MODEL = "chat-model";

const MODELS = [{ id: MODEL, capabilities: caps({ completions: true, tools: true, jsonSchema: true, contextLength: 8192 }) }];

afterEach(closeProxies);

/** A proxy over a faked network listing `models` (test/fixtures/serve-proxy.ts); `calls` is what reached the network. */
const start = (models: Array<string | ModelInfo> = MODELS) => startFakedProxy(models);

const post = (url: string, body: unknown) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** The `error` object of an OpenAI-shaped error answer. */
const errorOf = async (r: Response) => ((await r.json()) as { error: Record<string, unknown> }).error;

describe("/v1/completions", () => {
  it("refuses more prompts than one request runs with a 400 that names the limit, not one that calls the array malformed", async () => {
    // Prepare: LangChain's OpenAI LLM sends up to 20 prompts in one request (its batch_size)
    const { url, calls } = await start();
    const prompt = Array.from({ length: 9 }, (_, i) => `Prompt ${i}:`);
    // Act
    const res = await post(`${url}/v1/completions`, { model: MODEL, prompt, max_tokens: 5 });
    // Assess
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error).toMatchObject({ type: "invalid_request_error", param: "prompt" });
    expect(error.message).toMatch(/at most 8/);
    expect(calls).toHaveLength(0);
  });

  it("refuses logprobs with a 400 naming it also for a model whose workers advertise no capabilities, rather than answer without them", async () => {
    // Prepare: an older coordinator or agent lists the model bare; the proxy never passes a
    // completion's logprobs on (README: always a 400 on /v1/completions)
    const { url, calls } = await start([MODEL]);
    // Act
    const res = await post(`${url}/v1/completions`, { model: MODEL, prompt: "Once upon a time", logprobs: 2 });
    // Assess
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ type: "invalid_request_error", param: "logprobs", code: "unsupported_parameter" });
    expect(calls).toHaveLength(0);
  });
});

describe("/v1/chat/completions: a replayed conversation", () => {
  it("takes an assistant message's refusal field (OpenAI's shape of a refused answer) as what the assistant said", async () => {
    // Prepare: an app replays OpenAI's own answer message, `{content: null, refusal: "…"}`
    const { url, calls } = await start();
    const messages = [
      { role: "user", content: "Do something bad." },
      { role: "assistant", content: null, refusal: "I can't help with that." },
      { role: "user", content: "Then the capital of France?" },
    ];
    // Act
    const res = await post(`${url}/v1/chat/completions`, { model: MODEL, messages });
    // Assess
    expect(res.status).toBe(200);
    expect(calls[0]!.messages![1]).toEqual({ role: "assistant", content: "I can't help with that." });
  });

  it("refuses a speaker name OpenAI refuses (AutoGen's names: 1-64 of A-Z a-z 0-9 _ -) with a 400 naming it, whatever the backend", async () => {
    // Prepare: a group chat whose speaker is named with a space, as OpenAI's API refuses it
    const { url, calls } = await start();
    const messages = [
      { role: "user", content: "Tabs or spaces?", name: "host" },
      { role: "assistant", content: "Tabs.", name: "Alice Smith" },
    ];
    // Act
    const res = await post(`${url}/v1/chat/completions`, { model: MODEL, messages });
    // Assess
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error).toMatchObject({ type: "invalid_request_error", param: "messages.1.name" });
    expect(error.message).toMatch(/name must be 1 to 64 letters, digits, _ or -/);
    expect(calls).toHaveLength(0);
  });
});
