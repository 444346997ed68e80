/**
 * Issue 13: the agent as a product a GPU owner installs. The bundle (scripts/build-agent.ts)
 * is reproducible, carries only the agent, starts, prints its help, joins the local network,
 * answers a job, serves its metrics, and drains on SIGTERM without losing the job it runs.
 * The single executable (scripts/build-agent-sea.ts) does the same (help, --version with its
 * bundle's digest, join, answer, stop) when COCOON_TEST_SEA=1: it copies and patches a ~100 MB
 * binary (~20 s), not in every run.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { generateSigningKey } from "../core/crypto/keys";
import { startNetwork, type LocalNetwork } from "../local/network";
import { CocoonClient } from "../client/sdk";
import { writeTinyGguf } from "../agent/engines/tiny-gguf";
import { COCOON_VERSION } from "../api-client/program";
import { AGENT_BUNDLE, type AgentBuild, buildAgent, forbiddenInputs, LLAMA_WORKER, REPO_ROOT } from "../scripts/build-agent";
import { spawnAgent, startFakeEngine } from "./agent-fixtures";
import { MODEL } from "./helpers";

const tmp = (what: string) => tempDir(`cocoon-${what}-`);

let build: AgentBuild;
let bundle: string;
beforeAll(async () => {
  build = await buildAgent({ outDir: tmp("agent-dist") });
  bundle = join(build.outDir, AGENT_BUNDLE);
}, 60_000);

describe("issue 13: the agent bundle", () => {
  it("is reproducible: a second build of the same sources has the same SHA-256, which the manifest names", async () => {
    // Act
    const again = await buildAgent({ outDir: tmp("agent-dist-2") });
    // Assess
    expect(again.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(again.digest).toBe(build.digest);
    expect(again.files.map((f) => [f.name, f.sha256])).toEqual(build.files.map((f) => [f.name, f.sha256]));
    const manifest = JSON.parse(readFileSync(join(build.outDir, "manifest.json"), "utf8")) as { digest: string };
    expect(manifest.digest).toBe(`sha256:${build.digest}`);
    expect(readFileSync(join(build.outDir, "manifest.json"), "utf8")).toBe(readFileSync(join(again.outDir, "manifest.json"), "utf8"));
  });

  it("carries only the agent: nothing from functions/, local/, client/, stacks/ or the AWS CDK; node-llama-cpp stays outside", () => {
    // Assess: the check itself catches each kind (so an empty answer below means something)
    expect(
      forbiddenInputs([
        "functions/http/routes.ts",
        "local/network.ts",
        "client/sdk.ts",
        "stacks/Cocoon.ts",
        "node_modules/aws-cdk-lib/index.js",
      ]),
    ).toHaveLength(5);
    expect(build.inputs).toContain("agent/runtime.ts");
    expect(build.inputs).toContain("agent/engines/llama-worker.ts");
    expect(forbiddenInputs(build.inputs)).toEqual([]);
    expect(build.inputs.filter((i) => i.includes("node-llama-cpp"))).toEqual([]);
    const main = readFileSync(bundle, "utf8");
    expect(main).toContain(LLAMA_WORKER);
    expect(main).not.toContain("llama-worker.ts");
    expect(readFileSync(join(build.outDir, LLAMA_WORKER), "utf8")).toMatch(/from\s*"node-llama-cpp"/);
  });

  it("is built by the Dockerfile from what it copies: every source the bundle reads lies under a COPY of the build stage", () => {
    // Prepare: the build stage's COPY sources (a file, or a folder ending in /)
    const dockerfile = readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8");
    const stage = dockerfile.slice(dockerfile.indexOf(" AS build"), dockerfile.indexOf("RUN npm run build:agent"));
    const copied = [...stage.matchAll(/^COPY (\S+(?: \S+)*) \S+$/gm)].flatMap((m) => m[1]!.split(" "));
    const isCopied = (input: string) => copied.some((c) => (c.endsWith("/") ? input.startsWith(c) : input === c));
    // Act
    const missing = build.inputs.filter((i) => !i.startsWith("node_modules/") && !isCopied(i));
    // Assess
    expect(copied).toContain("agent/");
    expect(isCopied("functions/http/routes.ts")).toBe(false);
    expect(missing).toEqual([]);
  });

  it("--version names the bundle's own SHA-256, the digest the build printed (what an owner quotes)", () => {
    // Act
    const r = spawnSync(process.execPath, [bundle, "--version"], { encoding: "utf8" });
    // Assess
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^cocoon-agent \\d+\\.\\d+\\.\\d+ \\(bundle sha256:${build.digest}\\)\\n$`));
  });

  it("starts and prints --help with every command (exit 0)", () => {
    // Act
    const r = spawnSync(process.execPath, [bundle, "--help"], { encoding: "utf8" });
    // Assess
    expect(r.status).toBe(0);
    for (const cmd of ["init", "start", "status", "redeem"]) expect(r.stdout).toMatch(new RegExp(`^  ${cmd}\\b`, "m"));
  });

  it("with --model-file and no node-llama-cpp beside it (README step 2 skipped), says to install it, not that the model is malformed; exit 78, not restarted", () => {
    // Prepare: the bundle where it was built (a temporary folder: no node_modules above it), and a valid model file
    const model = writeTinyGguf(join(tmp("agent-model"), "tiny.gguf")).path;
    // Act
    const r = spawnSync(
      process.execPath,
      [bundle, "start", "--tier", "dev", "--api", "http://127.0.0.1:1", "--metrics-port", "0", "--model-file", model, "--threads", "1"],
      { encoding: "utf8", env: { ...process.env, COCOON_HOME: tmp("agent-home") }, timeout: 60_000 },
    );
    // Assess: EX_CONFIG, which the unit does not restart (exit 1 was restarted until its start limit): an install step, not a transient
    expect(r.status).toBe(78);
    expect(r.stderr).toContain(
      `error [engine_unavailable]: node-llama-cpp is not installed where the engine process (${join(build.outDir, LLAMA_WORKER)}) can import it`,
    );
    expect(r.stderr).toContain(`cd ${build.outDir} && npm install node-llama-cpp@3.21.1`);
    expect(r.stderr).not.toContain("malformed");
    expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace
  });

  describe("on the local network", () => {
    let net: LocalNetwork;
    beforeAll(async () => {
      net = await startNetwork({ chain: false });
    });
    afterAll(async () => {
      await net?.stop();
    });

    it("joins, answers a job, counts it in /metrics, and on SIGTERM drains: the job it is running completes, shutdown is announced, exit 0", async () => {
      // Prepare: the bundle in front of an engine the test controls
      const engine = await startFakeEngine(MODEL).start();
      const home = tmp("agent-home");
      const agent = spawnAgent(
        [
          process.execPath,
          bundle,
          "start",
          "--api",
          net.url,
          "--tier",
          "dev",
          "--engine",
          "openai",
          "--engine-url",
          engine.url,
          "--model",
          MODEL,
          "--capacity",
          "2",
          "--metrics-port",
          "0",
        ],
        { COCOON_HOME: home, COCOON_POLL_WAIT_SECONDS: "1" },
      );
      try {
        const serving = await agent.waitFor("serving");
        const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
        await client.faucet(10_000_000_000n);
        const ask = (content: string) =>
          client.ask({
            model: MODEL,
            messages: [{ role: "user", content }],
            maxTokens: 16,
            tiers: ["dev"],
            candidates: 1,
            timeoutMs: 20_000,
          });
        // Act 1: a job
        const first = await ask("hello");
        const metrics = await (await fetch(String(serving.metrics))).text();
        // Act 2: a second job is in the engine when SIGTERM comes
        engine.hold = true;
        const pending = ask("are you leaving?");
        await (async () => {
          for (let i = 0; i < 400 && engine.received < 2; i++) await new Promise((r) => setTimeout(r, 25));
        })();
        agent.child.kill("SIGTERM");
        await agent.waitFor("draining");
        engine.release();
        const second = await pending;
        const code = await agent.exited;
        const models = (await (await fetch(`${net.url}/v1/models`)).json()) as { models: Array<{ model: string; workers: number }> };
        // Assess
        expect(first.workerId).toBe(serving.workerId);
        expect(first.text).toBe("fake answer");
        expect(serving).toMatchObject({ tier: "dev", confidential: false });
        expect(metrics).toMatch(/cocoon_agent_jobs_total\{outcome="completed"\} 1/);
        expect(engine.received).toBe(2);
        expect(second.workerId).toBe(serving.workerId);
        expect(second.attempt).toBe(0);
        expect(code).toBe(0);
        expect(agent.lines.some((l) => l.msg === "drained: shutdown announced, every job finished")).toBe(true);
        expect(models.models.find((m) => m.model === MODEL)?.workers ?? 0).toBe(0);
      } finally {
        if (agent.child.exitCode === null) agent.child.kill("SIGKILL");
        await engine.kill();
      }
    });

    it.skipIf(!process.env.COCOON_TEST_SEA)(
      "the single executable (Node SEA) prints --help, joins, answers a job and stops on SIGTERM",
      async () => {
        // Prepare
        const { buildAgentSea } = await import("../scripts/build-agent-sea");
        const sea = await buildAgentSea({ outDir: tmp("agent-sea") });
        // Act
        const help = spawnSync(sea.binary, ["--help"], { encoding: "utf8" });
        // it printed no digest: the bundle it embeds is no file to hash (the build embeds its digest now)
        const version = spawnSync(sea.binary, ["--version"], { encoding: "utf8" });
        const agent = spawnAgent([sea.binary, "start", "--api", net.url, "--tier", "dev", "--metrics-port", "0"], {
          COCOON_HOME: tmp("agent-sea-home"),
          COCOON_POLL_WAIT_SECONDS: "1",
        });
        try {
          const serving = await agent.waitFor("serving");
          const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
          await client.faucet(10_000_000_000n);
          const r = await client.ask({
            model: String((serving.models as string[])[0]),
            messages: [{ role: "user", content: "hello, binary" }],
            maxTokens: 16,
            tiers: ["dev"],
            candidates: 1,
            timeoutMs: 20_000,
          });
          agent.child.kill("SIGTERM");
          const code = await agent.exited;
          // Assess
          expect(sea.bundleDigest).toBe(build.digest);
          expect(help.status).toBe(0);
          expect(help.stdout).toMatch(/^ {2}start\b/m);
          expect(version.status).toBe(0);
          expect(version.stdout).toBe(`cocoon-agent ${COCOON_VERSION} (bundle sha256:${build.digest}, single executable)\n`);
          expect(r.workerId).toBe(serving.workerId);
          expect(code).toBe(0);
        } finally {
          if (agent.child.exitCode === null) agent.child.kill("SIGKILL");
        }
      },
      120_000,
    );
  });
});
