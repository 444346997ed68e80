import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import type { AskOptions, AskResult, EmbedOptions, EmbedResult, StreamEvent } from "../sdk";
import { startServeProxy, type ServeProxy } from "../serve";
import { serveBackend, type NetworkClient } from "./sdk-backend";

/**
 * The proxy over the SDK (serveBackend): what the SDK is asked for a request an app sends
 * through the official openai client.
 */

const MODEL = "llama-3-8b";
/** The SDK's own wait on a job when none is given (client/sdk.ts AskOptions.timeoutMs). */
const SDK_DEFAULT_WAIT_MS = 120_000;

let proxy: ServeProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

/** A finished job of the SDK, as far as the proxy reads it. */
const anSdkAnswer = (): AskResult =>
  ({
    jobId: "job_0123456789abcdefghijklmnop",
    text: "Paris.",
    usage: { promptTokens: 9, completionTokens: 2 },
    finishReason: "stop",
    model: MODEL,
    workerId: "W".repeat(43),
    tier: "dev",
    cost: "110",
  }) as AskResult;

/** A proxy over an SDK that records the options of each call; `openai` is the official client on it. `o`: serveBackend's options. */
async function startRecording(o: Parameters<typeof serveBackend>[1] = {}) {
  const seen: Array<{ call: string; o: AskOptions | EmbedOptions }> = [];
  const client: NetworkClient = {
    ask: async (o) => (seen.push({ call: "ask", o }), anSdkAnswer()),
    askStream: (o) =>
      (async function* (): AsyncGenerator<StreamEvent> {
        seen.push({ call: "askStream", o });
        yield { type: "delta", text: "Paris.", jobId: "job_0123456789abcdefghijklmnop" } as StreamEvent;
        yield { type: "done", ...anSdkAnswer() } as StreamEvent;
      })(),
    embed: async (o) => {
      seen.push({ call: "embed", o });
      return { ...anSdkAnswer(), vectors: [[0.5, 0.25]], usage: { promptTokens: 1, completionTokens: 0 } } as unknown as EmbedResult;
    },
    models: async () => ({ models: [{ model: MODEL, workers: 1 }] }),
  };
  proxy = await startServeProxy({ port: 0, ...serveBackend(client, o) });
  const openai = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "unused", maxRetries: 0 });
  return { seen, openai };
}

describe("how long the proxy waits on a job", () => {
  it("longer than the SDK's 120 s default, which cut long answers (a stream mid-answer) while the job ran on and was billed, yet within the openai client's own timeout", async () => {
    // Prepare: a 1,024-token answer from a CPU engine at 8 tokens/s takes past 120 s
    const { seen, openai } = await startRecording();
    const messages = [{ role: "user" as const, content: "Write a long story." }];
    // Act
    await openai.chat.completions.create({ model: MODEL, messages });
    const stream = await openai.chat.completions.create({ model: MODEL, messages, stream: true });
    for await (const _ of stream);
    await openai.responses.create({ model: MODEL, input: "Write a long story." });
    await openai.completions.create({ model: MODEL, prompt: "Once upon a time" });
    await openai.embeddings.create({ model: MODEL, input: "a long document" });
    // Assess: the app's timeout ends the wait (its disconnect aborts the SDK's call), and the
    // proxy's 504 (x-should-retry: false) comes before the client's timeout, which it would retry
    expect(seen.map((s) => s.call)).toEqual(["ask", "askStream", "ask", "ask", "embed"]);
    for (const { o } of seen) {
      expect(o.timeoutMs).toBeGreaterThan(SDK_DEFAULT_WAIT_MS);
      expect(o.timeoutMs).toBeLessThan(openai.timeout);
    }
  });
});

describe("cocoon serve --max-price", () => {
  /** One request on each route, streamed chat too, through the official client. */
  async function askEveryRoute(openai: OpenAI) {
    const messages = [{ role: "user" as const, content: "hi" }];
    await openai.chat.completions.create({ model: MODEL, messages });
    const stream = await openai.chat.completions.create({ model: MODEL, messages, stream: true });
    for await (const _ of stream);
    await openai.responses.create({ model: MODEL, input: "hi" });
    await openai.completions.create({ model: MODEL, prompt: "Once" });
    await openai.embeddings.create({ model: MODEL, input: "a document" });
  }

  it("caps the price of every job the proxy asks, on every route: an OpenAI request has no field for it", async () => {
    // Prepare
    const { seen, openai } = await startRecording({ maxPricePerToken: 150n });
    // Act
    await askEveryRoute(openai);
    // Assess
    expect(seen.map((s) => s.call)).toEqual(["ask", "askStream", "ask", "ask", "embed"]);
    for (const { o } of seen) expect(o.maxPricePerToken).toBe(150n);
  });

  it("without it, no job is capped", async () => {
    // Prepare
    const { seen, openai } = await startRecording();
    // Act
    await askEveryRoute(openai);
    // Assess
    expect(seen).toHaveLength(5);
    for (const { o } of seen) expect(o).not.toHaveProperty("maxPricePerToken");
  });
});
