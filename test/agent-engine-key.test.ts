/**
 * An OpenAI-compatible engine started with an API key (vLLM and llama-server `--api-key`) that
 * refuses the agent's (none set, or a wrong one): `start` took its 401 for an engine not up yet
 * and waited for ever ("engine not answering yet"), the unit active and the worker never
 * registered. A key no wait mends is a setting: exit 78 (EX_CONFIG, not restarted), naming it.
 */
import { readdirSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { engineModels } from "../agent/cli";
import { ConfigError } from "../agent/config";
import { runAgentCli } from "../agent/cli-testing";
import { createOpenAiEngine } from "../agent/engines/openai-http";
import { json, modelList, type StandIn, standIn } from "../agent/engines/stand-in-testing";

const open: StandIn[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

/** Factory: vLLM started with --api-key `key`: /health is open, /v1/* answers 401 (or `status`) without the key. */
async function keyedVllm(key: string, status = 401) {
  const s = await standIn((req, res) => {
    if (req.url === "/health") return void res.writeHead(200).end();
    if (req.headers.authorization !== `Bearer ${key}`) return json(res, status, { error: "Unauthorized" });
    if (req.url === "/v1/models") return json(res, 200, modelList(["m"]));
    json(res, 404, { detail: "Not Found" });
  });
  open.push(s);
  return s;
}

const noLog = { info() {}, warn() {} };

describe("the engine refuses the agent's key at start", () => {
  it.each([
    [401, undefined, []],
    [401, "wrong", ["m"]],
    [403, "wrong", []],
  ])("HTTP %s (engine key %s, models %j): a ConfigError naming engineKey, not a wait", async (status, apiKey, configured) => {
    // Prepare: a wait would sleep; the first sleep ends the test's engine for good
    const s = await keyedVllm("secret", status);
    const engine = createOpenAiEngine({ baseUrl: s.url, ...(apiKey ? { apiKey } : {}) });
    let waits = 0;
    // Act
    const r = await engineModels(engine, configured, noLog, {
      sleep: async () => {
        waits++;
        throw new Error("waited");
      },
    }).catch((e: unknown) => e);
    // Assess
    expect(waits).toBe(0);
    expect(r).toBeInstanceOf(ConfigError);
    expect((r as Error).message).toContain("engineKey (--engine-key, COCOON_ENGINE_KEY or agent.json): ");
    expect((r as Error).message).toContain(`answered HTTP ${status}`);
  });

  it("the right key lists the engine's models", async () => {
    // Prepare
    const s = await keyedVllm("secret");
    // Act
    const models = await engineModels(createOpenAiEngine({ baseUrl: s.url, apiKey: "secret" }), [], noLog);
    // Assess
    expect(models).toEqual(["m"]);
  });

  it("cocoon-agent start exits 78 (bad_config) and leaves no worker key in place", async () => {
    // Prepare
    const s = await keyedVllm("secret");
    const home = tempDir("cocoon-agent-engine-key-");
    const argv = ["start", "--api", "http://127.0.0.1:1", "--tier", "dev", "--metrics-port", "0", "--engine", "openai"];
    // Act: given 5 s before it counts as waiting for ever (it used to)
    const r = await Promise.race([
      runAgentCli([...argv, "--engine-url", s.url, "--engine-key", "wrong"], { COCOON_HOME: home }),
      new Promise<{ code: number; out: string; err: string }>((r) =>
        setTimeout(() => r({ code: -1, out: "", err: "still waiting" }), 5_000),
      ),
    ]);
    // Assess
    expect(r.code).toBe(78);
    expect(r.err).toContain("error [bad_config]: engineKey (--engine-key, COCOON_ENGINE_KEY or agent.json): ");
    expect(r.err).toContain("check the engine's API key");
    expect(readdirSync(home).filter((n) => !n.startsWith("worker.key.unused-"))).toEqual([]);
  });
});
