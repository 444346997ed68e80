import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { API } from "../../api-client/api";
import type { AskResult, StreamEvent } from "../sdk";
import type { ApiRoute } from "../../api-client/routes";
import { cancelRig, pending, until, type Handler } from "../sdk-cancel-testing";
import { MODEL } from "../sdk-stub-testing";
import { startServeProxy, type ServeProxy } from "../serve";
import { serveBackend, type NetworkClient } from "./sdk-backend";

/**
 * `cocoon serve` and cancelled jobs, through the official openai client: an app that hangs up
 * mid-request has its job cancelled (the proxy's SDK call is aborted, and the SDK cancels the
 * submitted job), and a job cancelled while it ran is answered in OpenAI's own values.
 */

let proxy: ServeProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

// ---------------------------------------------------------------- factories
/** A proxy over a real SDK client whose coordinator is stubbed (cancelRig): the job's submit is held open. */
async function proxyOverStubbedNetwork() {
  const x = cancelRig(
    new Map<ApiRoute, Handler>([
      [
        API.models,
        () =>
          Promise.resolve({ models: [{ model: MODEL, workers: 1, tiers: { dev: 1 }, price: { min: "100", median: "100", max: "100" } }] }),
      ],
      [API.readChunks, pending],
    ]),
  );
  proxy = await startServeProxy({ port: 0, ...serveBackend(x.c) });
  const openai = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "unused", maxRetries: 0 });
  return { x, openai };
}

/** A job of the SDK its requester cancelled after `text` was generated. */
const cancelledAnswer = (text = "Paris is the cap"): AskResult => ({
  jobId: "job_0123456789abcdefghijklmnop",
  text,
  usage: { promptTokens: 9, completionTokens: 4 },
  finishReason: "cancelled",
  engine: "test",
  model: MODEL,
  workerId: "W".repeat(43),
  tier: "dev",
  cost: "130",
  maxCost: "1000",
  attempt: 0,
});

/** A proxy over an SDK whose every job comes back cancelled. */
async function proxyOverCancelledJobs() {
  const client: NetworkClient = {
    ask: async () => cancelledAnswer(),
    askStream: () =>
      (async function* (): AsyncGenerator<StreamEvent> {
        yield { type: "delta", text: "Paris is the cap", jobId: cancelledAnswer().jobId };
        yield { type: "done", ...cancelledAnswer(), receipt: {} as never, relay: { chunks: 1, recovered: 0 } };
      })(),
    embed: async () => {
      throw new Error("not used");
    },
    models: async () => ({ models: [{ model: MODEL, workers: 1 }] }),
  };
  proxy = await startServeProxy({ port: 0, ...serveBackend(client) });
  return new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "unused", maxRetries: 0 });
}

const question = [{ role: "user" as const, content: "capital of France?" }];

// ---------------------------------------------------------------- an app that hangs up
describe("an app that hangs up mid-request has its job cancelled", () => {
  it.each([
    ["chat, whole", { stream: false }],
    ["chat, streamed", { stream: true }],
  ])("%s: one cancel, for the job the proxy submitted", async (_name, o) => {
    // Prepare: the app's request is on its way and its job submitted
    const { x, openai } = await proxyOverStubbedNetwork();
    const app = new AbortController();
    const asked = openai.chat.completions.create({ model: MODEL, messages: question, ...o }, { signal: app.signal }).then(
      () => "answered",
      (e: unknown) => (e instanceof OpenAI.APIUserAbortError ? "aborted by the app" : String(e)),
    );
    await until(() => x.submittedIds.length === 1);
    // Act: the app hangs up
    app.abort();
    const seen = await asked;
    await until(() => x.cancels().length > 0);
    await x.c.settleCancels();
    // Assess
    expect(seen).toBe("aborted by the app");
    expect(x.cancels()).toEqual(x.submittedIds);
    expect(x.outcomes).toEqual([{ jobId: x.submittedIds[0], ok: true }]);
  });

  it("completions and embeddings too", async () => {
    // Prepare
    const { x, openai } = await proxyOverStubbedNetwork();
    const a1 = new AbortController();
    const a2 = new AbortController();
    const completion = openai.completions.create({ model: MODEL, prompt: "capital of France?" }, { signal: a1.signal }).catch(() => {});
    const embedding = openai.embeddings.create({ model: MODEL, input: "Paris" }, { signal: a2.signal }).catch(() => {});
    await until(() => x.submittedIds.length === 2);
    // Act
    a1.abort();
    a2.abort();
    await Promise.all([completion, embedding]);
    await until(() => x.cancels().length >= 2);
    await x.c.settleCancels();
    // Assess
    expect([...x.cancels()].sort()).toEqual([...x.submittedIds].sort());
  });
});

// ---------------------------------------------------------------- a cancelled job's answer
describe("a job cancelled while it ran, in OpenAI's values", () => {
  it('chat and completions: finish_reason "stop" (OpenAI has no "cancelled"), whole and streamed; the text is what was generated', async () => {
    // Prepare
    const openai = await proxyOverCancelledJobs();
    // Act
    const chat = await openai.chat.completions.create({ model: MODEL, messages: question });
    const completion = await openai.completions.create({ model: MODEL, prompt: "capital?" });
    const streamed: Array<string | null | undefined> = [];
    for await (const c of await openai.chat.completions.create({ model: MODEL, messages: question, stream: true }))
      streamed.push(c.choices[0]?.finish_reason);
    // Assess
    expect(chat.choices[0]).toMatchObject({ finish_reason: "stop", message: { content: "Paris is the cap" } });
    expect(completion.choices[0]).toMatchObject({ finish_reason: "stop", text: "Paris is the cap" });
    expect(streamed.filter((f) => f)).toEqual(["stop"]);
  });

  it('responses: status "cancelled" (a documented Response status), its message item incomplete; streamed, the final response says the same', async () => {
    // Prepare
    const openai = await proxyOverCancelledJobs();
    // Act
    const whole = await openai.responses.create({ model: MODEL, input: "capital of France?" });
    const stream = openai.responses.stream({ model: MODEL, input: "capital of France?" });
    for await (const _ of stream);
    const final = await stream.finalResponse();
    // Assess
    for (const r of [whole, final]) {
      expect(r).toMatchObject({ status: "cancelled", output_text: "Paris is the cap", incomplete_details: null });
      expect(r.output.map((i) => ("status" in i ? i.status : undefined))).toEqual(["incomplete"]);
    }
  });
});
