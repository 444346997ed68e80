/**
 * Issue 13: the agent's settings. The file `init` writes, then COCOON_* variables, then flags;
 * a wrong value is refused with a message naming the setting and where it came from; `init`
 * makes the key in place and never prints its secret.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { tempDir } from "../test/temp-dir";
import { durableIo } from "../api-client/durable-file";
import { configuredEngine } from "./cli";
import { runAgentCli } from "./cli-testing";
import { ConfigError, EX_CONFIG, resolveConfig, writeConfig } from "./config";

const dir = () => tempDir("cocoon-agent-config-");
const fileWith = (settings: Record<string, unknown>) => {
  const f = join(dir(), "agent.json");
  writeFileSync(f, JSON.stringify(settings));
  return f;
};
const messageOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  return "no error";
};

describe("issue 13: agent configuration", () => {
  it("flags override the environment, which overrides the file; unset settings take their defaults", () => {
    // Prepare
    const file = fileWith({ apiUrl: "https://file.example", priceBps: 9000, maxConcurrentJobs: 2, tier: "none", models: ["a"] });
    // Act
    const { config } = resolveConfig({
      file,
      env: { COCOON_PRICE_BPS: "11000", COCOON_MAX_JOBS: "3", COCOON_MODELS: "b, c" },
      flags: { maxConcurrentJobs: 4 },
    });
    // Assess
    expect(config).toMatchObject({
      apiUrl: "https://file.example",
      priceBps: 11_000,
      maxConcurrentJobs: 4,
      tier: "none",
      models: ["b", "c"],
      engine: "builtin",
      redeemThresholdTon: "10",
      metricsPort: 9464,
    });
  });

  it("a wrong value names the setting and its source: the file's key, the variable, or the flag", () => {
    // Act
    const fromFile = messageOf(() => resolveConfig({ file: fileWith({ priceBps: 0, colour: "red" }), env: {} }));
    const fromEnv = messageOf(() => resolveConfig({ file: join(dir(), "none.json"), env: { COCOON_MAX_JOBS: "many" } }));
    const fromFlag = messageOf(() => resolveConfig({ file: join(dir(), "none.json"), env: {}, flags: { payoutAddress: "my wallet" } }));
    const tierFromEnv = messageOf(() => resolveConfig({ file: join(dir(), "none.json"), env: { COCOON_TIER: "sgx" } }));
    const llama = messageOf(() => resolveConfig({ file: join(dir(), "none.json"), env: {}, flags: { engine: "llama" } }));
    // Assess
    expect(fromFile).toMatch(/agent\.json: priceBps: .*>=1/);
    expect(fromFile).toMatch(/unknown setting colour/);
    expect(fromEnv).toMatch(/maxConcurrentJobs \(COCOON_MAX_JOBS\): must be a whole number, got "many"/);
    expect(fromFlag).toMatch(/payoutAddress \(--payout-address\): must be a TON address/);
    expect(tierFromEnv).toMatch(/tier \(COCOON_TIER\): /);
    expect(llama).toMatch(/modelFile.*needs a GGUF model file/);
  });

  it("a model file given to start after init wrote the builtin engine says where the engine was set and what to add", () => {
    // Prepare: what init writes by default ("engine": "builtin" spelled out); start given --model-file
    // (agent/engines/README.md's usage), found walking the README in session 38
    const file = fileWith({ engine: "builtin" });
    // Act
    const refused = messageOf(() => resolveConfig({ file, env: {}, flags: { modelFile: "/models/m.gguf" } }));
    const byEnv = messageOf(() =>
      resolveConfig({ file: join(dir(), "none.json"), env: { COCOON_ENGINE: "openai" }, flags: { modelFile: "/m.gguf" } }),
    );
    // Assess
    expect(refused).toContain(
      `modelFile (--model-file): serves a GGUF file with the llama engine; the engine is set to builtin (by ${file}: engine): add --engine llama to serve the file`,
    );
    expect(refused).toContain("cocoon-agent init --force --model-file <file>");
    expect(byEnv).toContain("the engine is set to openai (by engine (COCOON_ENGINE)): add --engine llama");
    expect(resolveConfig({ file, env: {}, flags: { modelFile: "/models/m.gguf", engine: "llama" } }).config.engine).toBe("llama");
  });

  it("a payout address of the wrong shape is named once, by its shape; a 48-character one with a bad checksum, by its checksum", () => {
    // Prepare
    const none = join(dir(), "none.json");
    const friendly = "EQ" + "A".repeat(46); // the friendly form's shape, a checksum that does not match
    // Act
    const short = messageOf(() => resolveConfig({ file: none, env: {}, flags: { payoutAddress: "EQfoo" } }));
    const typo = messageOf(() => resolveConfig({ file: none, env: {}, flags: { payoutAddress: friendly } }));
    // Assess
    expect(short).toMatch(/payoutAddress \(--payout-address\): must be a TON address/);
    expect(short).not.toContain("checksum");
    expect(typo).toContain("its checksum does not match");
    expect(typo).not.toContain("must be a TON address");
  });

  // The agent follows the policy registry toncenter reports (which jobs it accepts, at what fee):
  // over plain http whoever is on the path could rewrite it. http stays for a stand-in on loopback.
  it("tonEndpoint: https, or http only on loopback; a plain-http endpoint elsewhere is refused by name", () => {
    // Prepare
    const none = join(dir(), "none.json");
    const registry = { COCOON_REGISTRY_ADDRESS: "0:" + "cd".repeat(32) };
    const withEndpoint = (url: string) => resolveConfig({ file: none, env: { ...registry, COCOON_TON_ENDPOINT: url } }).config.tonEndpoint;
    // Act
    const remoteHttp = messageOf(() => withEndpoint("http://toncenter.com/api/v2/jsonRPC"));
    // Assess
    expect(remoteHttp).toMatch(/tonEndpoint \(COCOON_TON_ENDPOINT\): must be an https:\/\/ URL/);
    expect(withEndpoint("https://toncenter.com/api/v2/jsonRPC")).toBe("https://toncenter.com/api/v2/jsonRPC");
    expect(withEndpoint("http://127.0.0.1:8081/jsonRPC")).toBe("http://127.0.0.1:8081/jsonRPC");
  });

  it("engineLogprobs: off by default, on from the environment or the flag, anything else refused by name", () => {
    // Act
    const none = join(dir(), "none.json");
    const byDefault = resolveConfig({ file: none, env: {} }).config.engineLogprobs;
    const fromEnv = resolveConfig({ file: none, env: { COCOON_ENGINE_LOGPROBS: "on" } }).config.engineLogprobs;
    const fromFlag = resolveConfig({ file: none, env: { COCOON_ENGINE_LOGPROBS: "on" }, flags: { engineLogprobs: "off" } }).config
      .engineLogprobs;
    const wrong = messageOf(() => resolveConfig({ file: none, env: { COCOON_ENGINE_LOGPROBS: "1" } }));
    // Assess
    expect([byDefault, fromEnv, fromFlag]).toEqual(["off", "on", "off"]);
    expect(wrong).toMatch(/engineLogprobs \(COCOON_ENGINE_LOGPROBS\): must be "on" or "off"/);
  });

  it("engineLogprobs reaches the engine: an OpenAI-compatible engine says it returns log probabilities only when the setting is on", async () => {
    // Prepare: an OpenAI-shaped server that lists one model (the engine asks it for the context length)
    const server = createServer((_req, res) => res.end(JSON.stringify({ object: "list", data: [{ id: "any-model", object: "model" }] })));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const none = join(dir(), "none.json");
    const env = { COCOON_ENGINE: "openai", COCOON_ENGINE_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` };
    try {
      // Act
      const on = configuredEngine(resolveConfig({ file: none, env, flags: { engineLogprobs: "on" } }).config);
      const off = configuredEngine(resolveConfig({ file: none, env }).config);
      // Assess
      expect((await on.capabilities!("any-model")).logprobs).toBe(true);
      expect((await off.capabilities!("any-model")).logprobs ?? false).toBe(false);
    } finally {
      server.close();
    }
  });

  it("engineVision: auto by default (llama-server's /props decides), on or off from the environment or the flag, reaching the engine", async () => {
    // Prepare: an OpenAI-shaped server that lists one model and says vision in its /props
    const server = createServer((req, res) =>
      res.end(JSON.stringify(req.url === "/props" ? { modalities: { vision: true } } : { object: "list", data: [{ id: "any-model" }] })),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const none = join(dir(), "none.json");
    const env = { COCOON_ENGINE: "openai", COCOON_ENGINE_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` };
    try {
      // Act
      const auto = resolveConfig({ file: none, env }).config;
      const off = resolveConfig({ file: none, env: { ...env, COCOON_ENGINE_VISION: "off" } }).config;
      const on = resolveConfig({ file: none, env: { ...env, COCOON_ENGINE_VISION: "off" }, flags: { engineVision: "on" } }).config;
      const wrong = messageOf(() => resolveConfig({ file: none, env: { ...env, COCOON_ENGINE_VISION: "yes" } }));
      // Assess
      expect([auto.engineVision, off.engineVision, on.engineVision]).toEqual(["auto", "off", "on"]);
      expect(wrong).toMatch(/engineVision \(COCOON_ENGINE_VISION\): must be "auto", "on" or "off"/);
      expect((await configuredEngine(auto).capabilities!("any-model")).vision).toBe(true);
      expect((await configuredEngine(off).capabilities!("any-model")).vision).toBe(false);
      expect((await configuredEngine(on).capabilities!("any-model")).vision).toBe(true);
    } finally {
      server.close();
    }
  });

  it("engineKey reaches the OpenAI-compatible server as a Bearer token (from the environment or the flag); none is sent without it or with an empty variable", async () => {
    // Prepare: a server that records each request's Authorization header
    const seen: Array<string | undefined> = [];
    const server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.end(JSON.stringify({ object: "list", data: [{ id: "any-model", object: "model" }] }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const none = join(dir(), "none.json");
    const env = { COCOON_ENGINE: "openai", COCOON_ENGINE_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` };
    try {
      // Act
      await configuredEngine(resolveConfig({ file: none, env: { ...env, COCOON_ENGINE_KEY: "sk-env" } }).config).models();
      await configuredEngine(resolveConfig({ file: none, env, flags: { engineKey: "sk-flag" } }).config).models();
      await configuredEngine(resolveConfig({ file: none, env }).config).models();
      await configuredEngine(resolveConfig({ file: none, env: { ...env, COCOON_ENGINE_KEY: "" } }).config).models();
      // Assess: an empty variable is no key
      expect(seen).toEqual(["Bearer sk-env", "Bearer sk-flag", undefined, undefined]);
    } finally {
      server.close();
    }
  });

  it("init writes a checked config with every setting, makes the key there (0600) and never prints its secret; start refuses a wrong value with exit 78", async () => {
    // Prepare
    const home = dir();
    // Act
    const init = await runAgentCli(
      ["init", "--api", "https://api.example", "--tier", "none", "--capacity", "3", "--price-bps", "12000", "--redeem-threshold", "2.5"],
      { COCOON_HOME: home },
    );
    const again = await runAgentCli(["init"], { COCOON_HOME: home });
    const bad = await runAgentCli(["start"], { COCOON_HOME: home, COCOON_PRICE_BPS: "free" });
    // Assess
    expect(init.code).toBe(0);
    const written = JSON.parse(readFileSync(join(home, "agent.json"), "utf8")) as Record<string, unknown>;
    expect(written).toMatchObject({
      apiUrl: "https://api.example",
      tier: "none",
      maxConcurrentJobs: 3,
      priceBps: 12_000,
      redeemThresholdTon: "2.5",
      engine: "builtin",
      metricsPort: 9464,
    });
    const seed = readFileSync(join(home, "worker.key"), "utf8").trim();
    expect(statSync(join(home, "worker.key")).mode & 0o777).toBe(0o600);
    expect(init.out + init.err).not.toContain(seed);
    expect(init.out).toMatch(/NOT confidential/);
    expect(again.code).toBe(EX_CONFIG);
    expect(again.err).toMatch(/exists already/);
    expect(bad.code).toBe(EX_CONFIG);
    expect(bad.err).toMatch(/priceBps \(COCOON_PRICE_BPS\): must be a whole number, got "free"/);
  });
});

describe("engine health settings (engineHealthEveryMs, engineTimeoutsBeforeDown)", () => {
  it("default to the runtime's own (30 s, 3 timeouts); the file, the environment and flags set them, each over the one before", () => {
    // Prepare
    const none = join(dir(), "none.json");
    const file = fileWith({ engineHealthEveryMs: 10_000, engineTimeoutsBeforeDown: 5 });
    // Act
    const byDefault = resolveConfig({ file: none, env: {} }).config;
    const fromFile = resolveConfig({ file, env: {} }).config;
    const fromEnv = resolveConfig({
      file,
      env: { COCOON_ENGINE_HEALTH_EVERY_MS: "5000", COCOON_ENGINE_TIMEOUTS_BEFORE_DOWN: "2" },
    }).config;
    const fromFlag = resolveConfig({
      file,
      env: { COCOON_ENGINE_HEALTH_EVERY_MS: "5000" },
      flags: { engineHealthEveryMs: 2_000, engineTimeoutsBeforeDown: 1 },
    }).config;
    // Assess
    expect([byDefault.engineHealthEveryMs, byDefault.engineTimeoutsBeforeDown]).toEqual([30_000, 3]);
    expect([fromFile.engineHealthEveryMs, fromFile.engineTimeoutsBeforeDown]).toEqual([10_000, 5]);
    expect([fromEnv.engineHealthEveryMs, fromEnv.engineTimeoutsBeforeDown]).toEqual([5_000, 2]);
    expect([fromFlag.engineHealthEveryMs, fromFlag.engineTimeoutsBeforeDown]).toEqual([2_000, 1]);
  });

  it("a value out of bounds or not a whole number is refused, naming the setting and where it came from", () => {
    // Prepare
    const none = join(dir(), "none.json");
    // Act
    const tooOften = messageOf(() => resolveConfig({ file: fileWith({ engineHealthEveryMs: 999 }), env: {} }));
    const tooRare = messageOf(() => resolveConfig({ file: none, env: { COCOON_ENGINE_HEALTH_EVERY_MS: "3600001" } }));
    const fraction = messageOf(() => resolveConfig({ file: fileWith({ engineHealthEveryMs: 1500.5 }), env: {} }));
    const noTimeouts = messageOf(() => resolveConfig({ file: none, env: {}, flags: { engineTimeoutsBeforeDown: 0 } }));
    const wordy = messageOf(() => resolveConfig({ file: none, env: { COCOON_ENGINE_TIMEOUTS_BEFORE_DOWN: "three" } }));
    const tooMany = messageOf(() => resolveConfig({ file: fileWith({ engineTimeoutsBeforeDown: 101 }), env: {} }));
    // Assess
    expect(tooOften).toMatch(/agent\.json: engineHealthEveryMs: must be at least 1000 \(ms\)/);
    expect(tooRare).toMatch(/engineHealthEveryMs \(COCOON_ENGINE_HEALTH_EVERY_MS\): must be at most 3600000/);
    expect(fraction).toMatch(/agent\.json: engineHealthEveryMs: /);
    expect(noTimeouts).toMatch(/engineTimeoutsBeforeDown \(--engine-timeouts-before-down\): must be at least 1/);
    expect(wordy).toMatch(/engineTimeoutsBeforeDown \(COCOON_ENGINE_TIMEOUTS_BEFORE_DOWN\): must be a whole number, got "three"/);
    expect(tooMany).toMatch(/agent\.json: engineTimeoutsBeforeDown: must be at most 100/);
  });
});

describe("writeConfig", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("replaces the file whole and fsync'd (file, then folder), mode 0600 (it holds the engine's API key)", () => {
    // Prepare: an older config in place
    const home = dir();
    const file = join(home, "agent.json");
    writeFileSync(file, JSON.stringify({ priceBps: 9000 }), { mode: 0o644 });
    const fsyncs = vi.spyOn(durableIo, "fsyncSync");
    // Act
    writeConfig(file, { apiUrl: "https://api.cocoon.example", priceBps: 11_000 });
    // Assess
    expect(fsyncs).toHaveBeenCalledTimes(2);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ apiUrl: "https://api.cocoon.example", priceBps: 11_000 });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(home)).toEqual(["agent.json"]);
  });
});
