import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { BUILTIN_DEFAULT_MODEL, createBuiltinEngine } from "../agent/engines/builtin";
import type { RunningAgent } from "../agent/runtime";
import { AskInputError, CocoonClient, VerificationError, type AskOptions } from "../client/sdk";
import { type ServeProxy } from "../client/serve";
import { mapAskError } from "../client/serve/errors";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { serveOverNetwork } from "./fixtures/serve-proxy";
import { startSilentAgent } from "./helpers";

/**
 * ask() over the local HTTP relay keeps to its timeoutMs and signal as askStream does (the SDK
 * stops waiting; the submitted job runs on at the network), and maxTokens (n × maxTokens) and the
 * prompt's bound are refused before anything is sent when outside the network's caps on a job,
 * as a 400 naming the parameter through the OpenAI proxy.
 */

/** ~25 tokens for "hi" at 200 ms each: about 5 s of generation. */
const SLOW = "slow-echo";
/** A worker that registers and stays live but never takes a job off its queue (test/helpers.ts startSilentAgent, its own model). */
const STUCK = "stuck-echo";
const CAP = 32_768;

let net: LocalNetwork;
let agents: RunningAgent[];
let sdk: CocoonClient;
let proxy: ServeProxy;
let openai: OpenAI;

beforeAll(async () => {
  net = await startNetwork({ chain: false });
  agents = await startLocalAgents(net.url, tempDir("cocoon-deadline-"), [
    { name: "echo", priceBps: 10_000 },
    { name: "slow", priceBps: 10_000, engine: createBuiltinEngine({ models: [SLOW], delayMsPerToken: 200 }), models: [SLOW] },
  ]);
  agents.push(await startSilentAgent(net.url, 10_000, undefined, STUCK));
  ({ sdk, proxy, openai } = await serveOverNetwork(net.url));
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await Promise.all((agents ?? []).map((a) => a.stop()));
  await net?.stop();
});

const chat = (model: string, o: Partial<AskOptions> = {}): AskOptions => ({
  model,
  messages: [{ role: "user", content: "hi" }],
  maxTokens: 50,
  ...o,
});

/** What a call settled with, and how long it took. */
async function timed<T>(call: () => Promise<T>): Promise<{ outcome: T | unknown; ms: number }> {
  const started = Date.now();
  const outcome = await call().catch((e: unknown) => e);
  return { outcome, ms: Date.now() - started };
}

describe("ask() keeps to timeoutMs and signal over the HTTP relay", () => {
  it("rejects with a timeout at timeoutMs while a slow worker is still generating", async () => {
    // Act
    const { outcome, ms } = await timed(() => sdk.ask(chat(SLOW, { timeoutMs: 1000 })));
    // Assess
    expect(outcome).toBeInstanceOf(VerificationError);
    expect(outcome).toMatchObject({ code: "timeout", message: expect.stringContaining("did not finish within 1000 ms") });
    expect(ms).toBeLessThan(2500);
  });

  it("rejects with the abort when its signal aborts while a slow worker is still generating", async () => {
    // Prepare
    const aborter = new AbortController();
    setTimeout(() => aborter.abort(), 1000);
    // Act
    const { outcome, ms } = await timed(() => sdk.ask(chat(SLOW, { signal: aborter.signal })));
    // Assess
    expect(outcome).toMatchObject({ name: "AbortError" });
    expect(ms).toBeLessThan(2500);
  });

  it("rejects at timeoutMs against a worker that never answers, not after the coordinator's 20 s wait", async () => {
    // Act
    const { outcome, ms } = await timed(() => sdk.ask(chat(STUCK, { timeoutMs: 2000 })));
    // Assess
    expect(outcome).toMatchObject({ name: "JobTimeoutError", code: "timeout" });
    expect(ms).toBeLessThan(3500);
  }, 15_000);

  it("still answers a job that finishes within timeoutMs", async () => {
    // Act
    const r = await sdk.ask(chat(BUILTIN_DEFAULT_MODEL, { timeoutMs: 10_000 }));
    // Assess
    expect(r.text).toContain("You said: hi");
  });
});

describe("maxTokens and the prompt's bound are checked against the network's caps before anything is sent", () => {
  it.each([0, -5, Number.NaN, 1.5])("refuses maxTokens %s as an AskInputError naming maxTokens", async (maxTokens) => {
    // Act
    const err = await sdk.ask(chat(BUILTIN_DEFAULT_MODEL, { maxTokens })).catch((e: unknown) => e);
    // Assess
    expect(err).toBeInstanceOf(AskInputError);
    expect(err).toMatchObject({ param: "maxTokens", message: expect.stringContaining("positive integer") });
  });

  it("refuses maxTokens over the cap, naming the cap", async () => {
    // Act
    const err = await sdk.ask(chat(BUILTIN_DEFAULT_MODEL, { maxTokens: 1e9 })).catch((e: unknown) => e);
    // Assess
    expect(err).toBeInstanceOf(AskInputError);
    expect(err).toMatchObject({ param: "maxTokens", message: expect.stringContaining(`maxTokens must be at most ${CAP}`) });
    expect((err as Error).message).not.toMatch(/envelope|header|body\./);
  });

  it("refuses n × maxTokens over the cap as n × maxTokens (askStream too)", async () => {
    // Prepare
    const o = chat(BUILTIN_DEFAULT_MODEL, { n: 8, maxTokens: 4097 });
    // Act
    const asked = await sdk.ask(o).catch((e: unknown) => e);
    const streamed = await (async () => {
      for await (const _ of sdk.askStream(o));
    })().catch((e: unknown) => e);
    // Assess
    for (const err of [asked, streamed]) {
      expect(err).toBeInstanceOf(AskInputError);
      expect(err).toMatchObject({
        param: "maxTokens",
        message: expect.stringMatching(/^n × maxTokens must be at most 32768 .*: 8 × 4097 = 32776$/),
      });
    }
  });

  it("refuses n × the prompt's bound over the prompt-token cap rather than sending it", async () => {
    // Prepare: 40 kB is one envelope well under its size limit, but n = 8 quotes it 8 times
    const o = chat(BUILTIN_DEFAULT_MODEL, { n: 8, maxTokens: 1, messages: [{ role: "user", content: "a".repeat(40_000) }] });
    // Act
    const err = await sdk.ask(o).catch((e: unknown) => e);
    // Assess
    expect(err).toBeInstanceOf(AskInputError);
    expect(err).toMatchObject({ param: "messages", message: expect.stringContaining("must be at most 262144") });
  });
});

describe("the OpenAI proxy refuses n × max_tokens over the network's cap as a 400 naming the parameter", () => {
  it("chat: n × max_tokens, and max_completion_tokens under its own name", async () => {
    // Act
    const maxTokens = await openai.chat.completions
      .create({ model: BUILTIN_DEFAULT_MODEL, messages: [{ role: "user", content: "hi" }], n: 8, max_tokens: 4097 })
      .catch((e: unknown) => e);
    const maxCompletion = await openai.chat.completions
      .create({ model: BUILTIN_DEFAULT_MODEL, messages: [{ role: "user", content: "hi" }], max_completion_tokens: CAP + 1 })
      .catch((e: unknown) => e);
    // Assess
    expect(maxTokens).toBeInstanceOf(OpenAI.BadRequestError);
    expect(maxTokens).toMatchObject({ status: 400, type: "invalid_request_error", param: "max_tokens" });
    expect((maxTokens as Error).message).toContain(`n × max_tokens must be at most ${CAP}`);
    expect(maxCompletion).toMatchObject({ status: 400, type: "invalid_request_error", param: "max_completion_tokens" });
    expect((maxCompletion as Error).message).toContain(`max_completion_tokens must be at most ${CAP}`);
  });

  it("completions: n × max_tokens per prompt", async () => {
    // Act
    const err = await openai.completions
      .create({ model: BUILTIN_DEFAULT_MODEL, prompt: "hi", n: 2, max_tokens: 20_000 })
      .catch((e: unknown) => e);
    // Assess
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err).toMatchObject({ status: 400, type: "invalid_request_error", param: "max_tokens" });
    expect((err as Error).message).toMatch(/n × max_tokens must be at most 32768 .*: 2 × 20000 = 40000$/);
  });

  it("chat without max_tokens: a prompt past the prompt-token cap is 400 context_length_exceeded (OpenAI's code), nothing held", async () => {
    // Prepare: one message whose bound (bytes + 24) is one past MAX_JOB_PROMPT_TOKENS (262144)
    const before = await sdk.balance();
    // Act
    const err = await openai.chat.completions
      .create({ model: BUILTIN_DEFAULT_MODEL, messages: [{ role: "user", content: "a".repeat(262_144 - 24 + 1) }] })
      .catch((e: unknown) => e);
    // Assess
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err).toMatchObject({ status: 400, type: "invalid_request_error", code: "context_length_exceeded", param: "messages" });
    expect((err as Error).message).toContain("past 262144 (the Cocoon network's cap on one job's prompt tokens)");
    expect(await sdk.balance()).toMatchObject({ available: before.available, held: before.held });
  });

  it("maps an AskInputError's param to OpenAI's name", () => {
    // Act
    const mapped = mapAskError(new AskInputError("maxTokens", "maxTokens must be a positive integer, got 0"));
    // Assess
    expect(mapped).toMatchObject({ status: 400, type: "invalid_request_error", param: "max_tokens" });
  });
});
