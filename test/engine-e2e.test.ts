import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { createOpenAiEngine } from "../agent/engines/openai-http";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import type { RunningAgent } from "../agent/runtime";
import { CocoonClient } from "../client/sdk";
import { generateSigningKey } from "../core/crypto/keys";
import { getBalance, workerAccount } from "../core/ledger";
import { DEFAULT_PRICING, jobCost } from "../core/pricing";
import { fakeCompletion, startFakeOpenAiServer, type FakeOpenAiServer } from "./fixtures/openai-server";

/** An agent in front of an OpenAI-compatible server (vLLM, llama.cpp server, Ollama), all on 127.0.0.1. */
describe("agent with an OpenAI-compatible engine", () => {
  let engine: FakeOpenAiServer;
  let net: LocalNetwork;
  let agents: RunningAgent[];

  beforeAll(async () => {
    engine = await startFakeOpenAiServer({ models: ["llama-3-8b-instruct"] });
    net = await startNetwork({ chain: false });
    agents = await startLocalAgents(net.url, tempDir("cocoon-engine-"), [
      { name: "gpu-1", priceBps: 10_000, engine: createOpenAiEngine({ baseUrl: engine.url }), models: ["llama-3-8b-instruct"] },
    ]);
  });
  afterAll(async () => {
    await Promise.all((agents ?? []).map((a) => a.stop()));
    await net?.stop();
    await engine?.close();
  });

  it("answers with the engine's text, and bills exactly the usage the engine reported", async () => {
    // Prepare
    const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
    await client.faucet(1_000_000_000n);
    const messages = [{ role: "user" as const, content: "what is a TEE?" }];
    const expected = fakeCompletion(messages, 64);

    // Act
    const r = await client.ask({ model: "llama-3-8b-instruct", messages, maxTokens: 64, tiers: ["dev"] });

    // Assess
    expect(r.text).toBe(expected.text);
    expect(r.usage).toEqual({ promptTokens: expected.promptTokens, completionTokens: expected.completionTokens });
    expect(r.engine).toBe(`openai-compatible:${engine.url}`);
    const price = 100n; // default base price × 10,000 bps
    expect(BigInt(r.cost)).toBe(jobCost(DEFAULT_PRICING, price, r.usage));
    expect((await getBalance(net.store, workerAccount(r.workerId))).available).toBe(BigInt(r.cost));
    // the engine saw the plaintext prompt (it runs inside the worker's TEE); the coordinator never did
    expect(engine.requests.at(-1)?.body).toMatchObject({ model: "llama-3-8b-instruct", messages });
  });

  it("an engine failure is reported by the worker and the job is refunded, not charged", async () => {
    const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
    await client.faucet(1_000_000_000n);
    engine.setBehaviour("error-500");
    try {
      const err = await client
        .ask({ model: "llama-3-8b-instruct", messages: [{ role: "user", content: "hi" }], maxTokens: 8, tiers: ["dev"], candidates: 1 })
        .catch((e) => e);
      expect((err as { code?: string }).code).toBe("job_failed");
      expect(await client.balance()).toMatchObject({ available: "1000000000", held: "0" });
    } finally {
      engine.setBehaviour("ok");
    }
  });
});
