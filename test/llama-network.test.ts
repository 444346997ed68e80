/**
 * The embedded llama.cpp engine on the project's tiny random-weight GGUF, through the whole
 * network (issue 11): chat (streamed and whole), text completion, embeddings and a forced tool
 * call, each sealed, relayed, verified and billed; and a model file that goes bad under a
 * running agent fails that job over to the next candidate while the agent keeps running.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { tempDir } from "./temp-dir";
import { API } from "../api-client/api";
import { generateSigningKey } from "../core/crypto/keys";
import { startNetwork, type LocalNetwork } from "../local/network";
import { LOCAL_TINY_MODEL as MODEL, startModelFileAgent, type ModelFileAgent } from "../local/agents";
import { buildTinyGguf, writeTinyGguf } from "../agent/engines/tiny-gguf";
import { CocoonClient, type StreamEvent } from "../client/sdk";

const dir = tempDir("cocoon-llama-net-");
let net: LocalNetwork;
let first: ModelFileAgent; // its file goes bad in the last test
let second: ModelFileAgent;
let client: CocoonClient;

beforeAll(async () => {
  net = await startNetwork({ chain: false, dataDir: join(dir, "data") });
  const good = writeTinyGguf(join(dir, "good.gguf")).path;
  copyFileSync(good, join(dir, "first.gguf"));
  // Both serve the same model (same file bytes, same digest) under one name; the first is cheaper, so it is tried first.
  first = await startModelFileAgent(net.url, dir, {
    modelFile: join(dir, "first.gguf"),
    modelName: MODEL,
    name: "first",
    priceBps: 10_000,
  });
  // The second serves the default: the tiny model generated under this network's home (the same bytes as `good`).
  second = await startModelFileAgent(net.url, dir, { name: "second", priceBps: 12_000 });
  client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
  await client.faucet(50_000_000_000n);
}, 120_000);

afterAll(async () => {
  for (const a of [first, second]) {
    await a?.agent.stop();
    await a?.engine.close();
  }
  await net?.stop();
});

const model = () => MODEL; // served by both

describe("the default model file", () => {
  // It was written to ./.cocoon/models whatever the network's home (COCOON_HOME) was.
  it("is the tiny model, generated under the network's home", () => {
    // Assess
    const file = join(dir, "models", "tiny-random.gguf");
    expect(second.tiny).toBe(true);
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(file).equals(readFileSync(join(dir, "good.gguf")))).toBe(true);
  });
});

describe("the tiny GGUF through the network", () => {
  it("/v1/models lists it with the engine's capabilities", async () => {
    const { models } = await client.models();
    const m = models.find((x) => x.model === model())!;
    expect(m.workers).toBe(2);
    expect(m.capabilities).toMatchObject({ chat: true, completions: true, embeddings: true, streaming: true, jsonSchema: true });
  });

  it("chat, streamed: deltas as the model generates, then the receipt; the engine says its weights are random; usage from its tokenizer", async () => {
    // Act
    const events: StreamEvent[] = [];
    for await (const ev of client.askStream({
      model: model(),
      messages: [{ role: "user", content: "hello world" }],
      maxTokens: 24,
      temperature: 0,
      tiers: ["dev"],
    }))
      events.push(ev);
    const whole = await client.ask({
      model: model(),
      messages: [{ role: "user", content: "hello world" }],
      maxTokens: 24,
      temperature: 0,
      tiers: ["dev"],
    });
    // Assess
    const done = events.at(-1)!;
    if (done.type !== "done") throw new Error("no done");
    expect(
      events
        .filter((e) => e.type === "delta")
        .map((e) => (e.type === "delta" ? e.text : ""))
        .join(""),
    ).toBe(done.text);
    expect(done.text).toBe(whole.text); // temperature 0: the same text either way
    expect(done.engine).toMatch(/random weights/);
    expect(done.usage.completionTokens).toBeGreaterThan(0);
    expect(done.usage.completionTokens).toBeLessThanOrEqual(24);
    // the receipt signs the billed counts; the thinking's count (none: the tiny model does not think) is information only
    const { reasoningTokens, ...billed } = done.usage;
    expect(done.receipt.body.usage).toEqual(billed);
    expect(reasoningTokens).toBe(0);
  });

  it("text completion (no chat template) and a forced tool call, sealed in the reply", async () => {
    // Act
    const completion = await client.ask({ model: model(), prompt: "hello world", maxTokens: 12, temperature: 0, tiers: ["dev"] });
    const call = await client.ask({
      model: model(),
      messages: [{ role: "user", content: "hello world" }],
      maxTokens: 300,
      temperature: 0,
      tools: [
        {
          type: "function",
          function: {
            name: "get_weather",
            description: "Current weather",
            parameters: { type: "object", properties: { unit: { enum: ["c", "f"] } }, required: ["unit"] },
          },
        },
      ],
      toolChoice: { type: "function", function: { name: "get_weather" } },
      tiers: ["dev"],
    });
    // Assess
    expect(completion.usage.completionTokens).toBeGreaterThan(0);
    expect(call.finishReason).toBe("tool_calls");
    expect(call.toolCalls).toHaveLength(1);
    expect(call.toolCalls![0]).toMatchObject({ type: "function", function: { name: "get_weather" } });
    expect(["c", "f"]).toContain((JSON.parse(call.toolCalls![0]!.function.arguments) as { unit: string }).unit);
  }, 60_000);

  it("embeddings: one float vector per input (strings or token ids), billed per input token", async () => {
    // Act
    const r = await client.embed({ model: model(), input: ["hello world", "the answer", "hello world"], tiers: ["dev"] });
    const one = await client.embed({ model: model(), input: "hello world", tiers: ["dev"] });
    // Assess
    expect(r.vectors).toHaveLength(3);
    expect(r.vectors.every((v) => v.length === 64 && v.every(Number.isFinite))).toBe(true);
    expect(r.vectors[2]).toEqual(r.vectors[0]);
    expect(one.vectors[0]).toEqual(r.vectors[0]);
    expect(r.usage).toEqual({ promptTokens: 9, completionTokens: 0 });
    expect(BigInt(r.cost)).toBeGreaterThan(0n);
    expect(r.receipt.body.usage).toEqual(r.usage);
  });

  it("a model file that goes bad under a running agent fails that job over to the next candidate; the agent keeps running", async () => {
    // Prepare: the first agent's file is replaced by one llama.cpp aborts on, and its child dies,
    // so the next job makes it load the file again
    writeFileSync(join(dir, "first.gguf"), buildTinyGguf({ byteFallback: false }));
    process.kill(first.engine.workerPid!, "SIGKILL");
    await vi.waitFor(() => expect(first.engine.workerPid).toBeUndefined(), { timeout: 5000 });
    const failedBefore = first.agent.stats.failed;
    // Act: matching samples candidates at random, and an agent whose engine went down leaves the
    // candidate lists until a probe finds it back: a job either fails over from it or never
    // reaches it
    for (let i = 0; i < 3; i++) {
      const r = await client.ask({ model: model(), messages: [{ role: "user", content: "hello again" }], maxTokens: 8, tiers: ["dev"] });
      // Assess: every answer comes from the healthy agent, at most after one failover
      expect(r.workerId).toBe(second.agent.workerId);
      expect(r.attempt).toBeLessThanOrEqual(1);
    }
    // a job the broken agent took was reported failed (never answered with a broken model)
    expect(first.agent.stats.failed).toBeGreaterThanOrEqual(failedBefore);
    // the first agent still runs: it heartbeats, and its own status call answers
    const status = await first.agent.api.request(API.workerStatus);
    expect(status.workerId).toBe(first.agent.workerId);
  }, 60_000);
});
