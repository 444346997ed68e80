import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { createBuiltinEngine } from "../agent/engines/builtin";
import { createOpenAiEngine } from "../agent/engines/openai-http";
import type { RunningAgent } from "../agent/runtime";
import { CocoonClient } from "../client/sdk";
import { generateSigningKey } from "../core/crypto/keys";
import { commonCapabilities } from "../core/workers";
import type { ModelCapabilities } from "../events/api";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { startFakeOpenAiServer, type FakeOpenAiServer } from "./fixtures/openai-server";

/**
 * Issue 11: agents advertise what their engine can do per model at registration; the
 * coordinator's GET /v1/models lists, per model, what every live worker of it can do, so a
 * request `cocoon serve` lets through is one any candidate can serve.
 */

const all: ModelCapabilities = {
  chat: true,
  completions: true,
  embeddings: true,
  streaming: true,
  tools: true,
  jsonSchema: true,
  contextLength: 8192,
};

describe("commonCapabilities", () => {
  it("is true only where every offer is, with the smallest context length", () => {
    // Act
    const c = commonCapabilities([
      { capabilities: all },
      { capabilities: { ...all, tools: false, contextLength: 2048 } },
      { capabilities: { ...all, embeddings: false, contextLength: 4096 } },
    ]);
    // Assess
    expect(c).toEqual({ ...all, tools: false, embeddings: false, contextLength: 2048 });
  });

  it("leaves out offers that advertised nothing, and is undefined when none did", () => {
    expect(commonCapabilities([{}, { capabilities: all }])).toEqual(all);
    expect(commonCapabilities([{}, {}])).toBeUndefined();
    expect(commonCapabilities([])).toBeUndefined();
  });

  it("drops the context length when one offer does not know it", () => {
    const { contextLength: _none, ...noLength } = all;
    expect(commonCapabilities([{ capabilities: all }, { capabilities: noLength }])).toEqual(noLength);
  });
});

describe("GET /v1/models with capabilities from the agents' registrations", () => {
  let engine: FakeOpenAiServer | undefined;
  let net: LocalNetwork | undefined;
  let agents: RunningAgent[] = [];
  afterEach(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await net?.stop();
    await engine?.close();
    agents = [];
  });

  it("lists what every live worker of a model can do, and more once the weaker one leaves", async () => {
    // Prepare: two workers of one model, one with tools and a known context, one without either
    engine = await startFakeOpenAiServer({ models: ["shared"], modelFields: { max_model_len: 4096 } });
    net = await startNetwork({ chain: false });
    agents = await startLocalAgents(net.url, tempDir("cocoon-caps-"), [
      { name: "strong", priceBps: 10_000, engine: createOpenAiEngine({ baseUrl: engine.url }), models: ["shared"] },
      { name: "weak", priceBps: 10_000, engine: createBuiltinEngine({ models: ["shared"] }), models: ["shared"] },
    ]);
    const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
    // Act
    const both = (await client.models()).models.find((m) => m.model === "shared");
    await agents[1]!.stop();
    const strongOnly = (await client.models()).models.find((m) => m.model === "shared");
    // Assess
    expect(both).toMatchObject({
      workers: 2,
      capabilities: { chat: true, completions: false, embeddings: false, streaming: true, tools: false, jsonSchema: false },
    });
    expect(both?.capabilities?.contextLength).toBeUndefined();
    expect(strongOnly).toMatchObject({
      workers: 1,
      capabilities: { chat: true, completions: true, tools: true, jsonSchema: true, contextLength: 4096 },
    });
  });
});
