/**
 * init --force keeps the old file's settings that it does not give (agent/config-rewrite.ts): it
 * used to put every one back to its default, so changing the payout address (as start's warning
 * says to) also pointed the agent at the local network, the builtin engine and tier tdx.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { runAgentCli, statusDoc } from "./cli-testing";
import { json, standIn } from "./engines/stand-in-testing";
import { givenSettings, keptSettings, settingChanges } from "./config-rewrite";

/** Factory: an agent.json as init writes it for an OpenAI-compatible engine (every default spelled out). */
function openAiFile(over: Record<string, unknown> = {}) {
  return {
    apiUrl: "https://coordinator.example",
    engine: "openai",
    engineUrl: "http://127.0.0.1:8000/v1",
    engineKey: "k-old",
    engineLogprobs: "on",
    engineVision: "auto",
    gpu: "auto",
    models: ["my-model"],
    priceBps: 10000,
    maxConcurrentJobs: 4,
    tier: "none",
    redeemThresholdTon: "10",
    metricsPort: 9471,
    payoutAddress: "0:" + "1".repeat(64),
    ...over,
  };
}

describe("keptSettings", () => {
  it("keeps every setting this init does not give, and none it gives", () => {
    // Act
    const r = keptSettings(openAiFile(), { maxConcurrentJobs: 8 });
    // Assess
    expect(r.kept).toEqual(Object.fromEntries(Object.entries(openAiFile()).filter(([k]) => k !== "maxConcurrentJobs")));
    expect(r.dropped).toEqual([]);
  });

  it("another engine URL drops the old server's models, key and abilities; the same URL keeps them", () => {
    // Act
    const moved = keptSettings(openAiFile(), { engineUrl: "http://127.0.0.1:9000/v1" });
    const same = keptSettings(openAiFile(), { engineUrl: "http://127.0.0.1:8000/v1" });
    // Assess
    expect(moved.dropped.sort()).toEqual(["engineKey", "engineLogprobs", "engineVision", "models"]);
    expect(moved.kept).not.toHaveProperty("engineKey");
    expect(moved.kept).toMatchObject({ engine: "openai", tier: "none", metricsPort: 9471 });
    expect(same.dropped).toEqual([]);
    expect(same.kept).toMatchObject({ engineKey: "k-old", models: ["my-model"] });
  });

  it("a model file given drops an engine other than llama; an engine other than llama drops the model file", () => {
    // Act
    const toFile = keptSettings(openAiFile(), { modelFile: "/m/x.gguf" });
    const toBuiltin = keptSettings({ engine: "llama", modelFile: "/m/x.gguf", threads: 4 }, { engine: "builtin" });
    const stillLlama = keptSettings({ engine: "llama", modelFile: "/m/x.gguf" }, { engine: "llama" });
    // Assess
    expect(toFile.kept).not.toHaveProperty("engine");
    expect(toFile.kept).not.toHaveProperty("models");
    expect(toBuiltin.kept).toEqual({ threads: 4 });
    expect(stillLlama.kept).toEqual({ modelFile: "/m/x.gguf" });
  });
});

describe("givenSettings", () => {
  it("reads flags over COCOON_* variables as resolveConfig does: paths absolute, numbers, lists; an empty list is not given", () => {
    // Act
    const g = givenSettings(
      { maxConcurrentJobs: 2, models: [], tier: "dev" },
      { COCOON_MODEL_FILE: "m.gguf", COCOON_METRICS_PORT: "9480", COCOON_MODELS: "a, b", COCOON_TIER: "none" },
    );
    // Assess
    expect(g).toEqual({
      modelFile: join(process.cwd(), "m.gguf"),
      metricsPort: 9480,
      models: ["a", "b"],
      tier: "dev",
      maxConcurrentJobs: 2,
    });
  });
});

describe("settingChanges", () => {
  it("names each changed setting with both values, a secret without its value; nothing when none changed", () => {
    // Act
    const changes = settingChanges(openAiFile(), openAiFile({ metricsPort: 9464, engineKey: "k-new", models: [] }));
    // Assess
    expect(changes).toEqual(["engineKey (changed)", 'models ["my-model"] → (none)', "metricsPort 9471 → 9464"]);
    expect(changes.join()).not.toContain("k-new");
    expect(settingChanges(openAiFile(), openAiFile())).toEqual([]);
  });
});

describe("cocoon-agent init --force", () => {
  it("changes the payout address alone: API, engine, tier, capacity and metrics port stay, and the change is listed", async () => {
    // Prepare
    const home = tempDir("cocoon-agent-init-force-");
    const first = ["init", "--api", "https://coordinator.example", "--tier", "none", "--engine", "openai", "--model", "my-model"];
    await runAgentCli([...first, "--capacity", "4", "--metrics-port", "9471"], { COCOON_HOME: home });
    const payout = "0:" + "2".repeat(64);
    // Act
    const r = await runAgentCli(["init", "--force", "--payout-address", payout], { COCOON_HOME: home });
    // Assess
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(join(home, "agent.json"), "utf8"))).toMatchObject({
      apiUrl: "https://coordinator.example",
      engine: "openai",
      models: ["my-model"],
      tier: "none",
      maxConcurrentJobs: 4,
      metricsPort: 9471,
      payoutAddress: payout,
    });
    expect(r.out).toContain(`changed: payoutAddress (unset) → "${payout}"\n`);
  });

  it("a file that is no valid config is rewritten from this init's settings alone, and says so", async () => {
    // Prepare
    const home = tempDir("cocoon-agent-init-force-bad-");
    await runAgentCli(["init", "--api", "https://coordinator.example", "--tier", "none"], { COCOON_HOME: home });
    const file = join(home, "agent.json");
    writeFileSync(file, "{not json");
    // Act
    const r = await runAgentCli(["init", "--force", "--tier", "none", "--capacity", "2"], { COCOON_HOME: home });
    // Assess
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/the old file could not be read \(.*is not JSON.*\): written from this init's settings and the defaults only/);
    expect(JSON.parse(readFileSync(file, "utf8"))).toMatchObject({ tier: "none", maxConcurrentJobs: 2 });
  });
});

describe("cocoon-agent init without a payout address", () => {
  it("says the first payout binds the worker to its address, and how to set one before it", async () => {
    // Prepare: it used to name `redeem --payout-address` for later, which the bound address then refused
    const home = tempDir("cocoon-agent-init-no-payout-");
    // Act
    const r = await runAgentCli(["init", "--api", "http://127.0.0.1:1", "--tier", "dev"], { COCOON_HOME: home });
    // Assess
    expect(r.code).toBe(0);
    expect(r.out).toContain("which its first payout binds it to; set yours before that: init --force --payout-address <wallet>");
    expect(r.out).not.toContain("or cocoon-agent redeem --payout-address");
  });
});

describe("cocoon-agent init with a metrics port another agent holds", () => {
  it("warns, naming the other worker and --metrics-port; not for the port its own worker's agent holds", async () => {
    // Prepare: an agent serving /status on a port (a first agent on the machine, one per GPU)
    const home = tempDir("cocoon-agent-init-port-");
    const first = await runAgentCli(["init", "--api", "http://127.0.0.1:1", "--tier", "dev", "--metrics-port", "0"], { COCOON_HOME: home });
    const ownId = /worker id (\S+)/.exec(first.out)![1]!;
    const ids = { holder: "x".repeat(43) };
    const agent = await standIn((_req, res) => json(res, 200, statusDoc(ids.holder)));
    const port = new URL(agent.url).port;
    try {
      // Act
      const other = await runAgentCli(["init", "--force", "--metrics-port", port], { COCOON_HOME: home });
      ids.holder = ownId;
      const own = await runAgentCli(["init", "--force", "--metrics-port", port], { COCOON_HOME: home });
      // Assess
      expect(other.code).toBe(0);
      expect(other.out).toContain(`WARNING: metrics port ${port} is held by another agent on this machine (worker ${"x".repeat(43)})`);
      expect(other.out).toContain("give it its own: init --force --metrics-port <port>");
      expect(own.out).not.toContain("is held by another agent");
    } finally {
      await agent.close();
    }
  });
});
