/**
 * An engine URL without its /v1 (`--engine-url http://host:8000` for vLLM's http://host:8000/v1):
 * every route the agent asks for answers 404. `start` used to take that for an engine not up yet
 * and wait forever; it is the setting's fault, so start now exits 78 (EX_CONFIG, which the unit
 * does not restart) suggesting the URL with /v1, and init warns of such a URL before any start.
 */
import { readdirSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { engineModels } from "./cli";
import { runAgentCli } from "./cli-testing";
import { createOpenAiEngine } from "./engines/openai-http";
import { jsonLog } from "./log";
import { json, modelList, type StandIn, standIn as startStandIn } from "./engines/stand-in-testing";

const open: StandIn[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

/** Factory: a stand-in engine serving /health and the OpenAI API under `prefix` (vLLM's layout: /health beside /v1). */
async function vllmAt(prefix = "") {
  const s = await startStandIn((req, res) => {
    if (req.url === `${prefix}/health`) return void res.writeHead(200).end();
    if (req.url === `${prefix}/v1/models`) return json(res, 200, modelList(["m"]));
    json(res, 404, { detail: "Not Found" });
  });
  open.push(s);
  return { ...s, origin: s.url.replace(/\/v1$/, "") };
}

/** Factory: Ollama's layout: no /health ("404 page not found"), the API under /v1. */
async function ollama() {
  const s = await startStandIn((req, res) => {
    if (req.url === "/v1/models") return json(res, 200, modelList(["llama3:8b"]));
    res.writeHead(404, { "content-type": "text/plain" }).end("404 page not found");
  });
  open.push(s);
  return { ...s, origin: s.url.replace(/\/v1$/, "") };
}

/** `cocoon-agent start` (dev tier, a closed API port) with `engineUrl`, given 5 s before it counts as waiting forever. */
async function startWithEngineUrl(engineUrl: string, extra: string[] = []) {
  const home = tempDir("cocoon-agent-engine-url-");
  const argv = ["start", "--api", "http://127.0.0.1:1", "--tier", "dev", "--metrics-port", "0", "--engine", "openai"];
  const r = await Promise.race([
    runAgentCli([...argv, "--engine-url", engineUrl, ...extra], { COCOON_HOME: home }),
    new Promise<{ code: number; out: string; err: string }>((r) => setTimeout(() => r({ code: -1, out: "", err: "still waiting" }), 5_000)),
  ]);
  return { ...r, home };
}

describe("cocoon-agent start with an engine URL that lacks /v1", () => {
  it.each([
    ["vLLM (its /health answers at the origin)", vllmAt],
    ["Ollama (no /health: the model list is the probe)", ollama],
  ])("%s: exit 78 bad_config naming the setting and the URL with /v1, not a wait forever", async (_name, server) => {
    // Prepare
    const engine = await server();
    // Act
    const r = await startWithEngineUrl(engine.origin);
    const asJson = await startWithEngineUrl(engine.origin, ["--json"]);
    // Assess
    expect(r.code).toBe(78);
    expect(r.err).toContain("error [bad_config]: engineUrl (--engine-url, COCOON_ENGINE_URL or agent.json): ");
    expect(r.err).toContain(`try --engine-url ${engine.origin}/v1`);
    // refused before it registered: no worker key left in place (the one it made is set aside: cli-key-undo.test.ts)
    expect(readdirSync(r.home).filter((n) => !n.startsWith("worker.key.unused-"))).toEqual([]);
    expect(asJson.code).toBe(78);
    expect(JSON.parse(asJson.err.trim().split("\n").at(-1)!)).toMatchObject({ error: { code: "bad_config" } });
  });
});

describe("an engine behind a prefix that ends in /v1 (http://host/llm/v1) is not taken for a missing /v1", () => {
  it("a 404 from its model list is still waited on (the server behind the proxy may be starting)", async () => {
    // Prepare: the proxy's route answers 404 twice, then the server behind it lists its model
    const state = { missing: 2 };
    const s = await startStandIn((req, res) => {
      if (req.url === "/llm/health") return void res.writeHead(200).end();
      if (req.url === "/llm/v1/models" && state.missing <= 0) return json(res, 200, modelList(["m"]));
      json(res, 404, { detail: "Not Found" });
    });
    open.push(s);
    const engine = createOpenAiEngine({ baseUrl: s.url.replace(/\/v1$/, "/llm/v1") });
    // Act
    const models = await engineModels(engine, [], { info() {}, warn() {} }, { sleep: async () => void state.missing-- });
    // Assess
    expect(models).toEqual(["m"]);
    expect(state.missing).toBe(0);
  });
});

describe("the wait for an engine URL with /v1 whose server has no model list there", () => {
  it("logs the hint to check the URL whole, though the server's 404 is a long HTML page (the log cuts a field at 300)", async () => {
    // Prepare: another web server on the engine's port (found walking the README, session 38:
    // python's http.server), its 404 a page of HTML; it lists a model after the first wait
    const state = { missing: 1 };
    const page = `<!DOCTYPE HTML><html><head><title>Error response</title></head><body><h1>Error response</h1>${"<p>File not found.</p>".repeat(20)}</body></html>`;
    const s = await startStandIn((req, res) => {
      if (req.url === "/v1/models" && state.missing <= 0) return json(res, 200, modelList(["m"]));
      res.writeHead(404, { "content-type": "text/html" }).end(page);
    });
    open.push(s);
    let written = "";
    const log = jsonLog({ write: (line) => void (written += line) });
    // Act
    await engineModels(createOpenAiEngine({ baseUrl: s.url }), [], log, { sleep: async () => void state.missing-- });
    // Assess
    const waits = written
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { msg: string; error?: string })
      .filter((l) => l.msg === "engine not answering yet: waiting before registering");
    expect(waits).toHaveLength(1);
    expect(waits[0]!.error).toContain(
      `the server has no /models under ${s.url}: is it an OpenAI-compatible server (vLLM, llama-server, Ollama), and is the engine URL (--engine-url, engineUrl) its API root?`,
    );
  });
});

describe("cocoon-agent init with an engine URL that lacks /v1", () => {
  it("writes the config and warns, suggesting the URL with /v1; a URL with /v1 gets no such warning", async () => {
    // Prepare
    const home = tempDir("cocoon-agent-init-engine-url-");
    const base = ["init", "--api", "http://127.0.0.1:1", "--tier", "none", "--engine", "openai"];
    // Act
    const r = await runAgentCli([...base, "--engine-url", "http://127.0.0.1:8000"], { COCOON_HOME: home });
    const ok = await runAgentCli([...base, "--force", "--engine-url", "http://127.0.0.1:8000/v1"], { COCOON_HOME: home });
    // Assess
    expect(r.code).toBe(0);
    expect(r.out).toContain("WARNING: the engine URL http://127.0.0.1:8000 has no /v1 segment");
    expect(r.out).toContain("--engine-url http://127.0.0.1:8000/v1");
    expect(ok.code).toBe(0);
    expect(ok.out).not.toContain("no /v1 segment");
  });
});
