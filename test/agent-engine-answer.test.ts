/**
 * An engine URL that reaches a server, but not an OpenAI-compatible one (another service on that
 * port, the coordinator's own URL given as the engine's): its "model list" is no model list.
 * Without models named, `start` exited 1, which the unit restarted every 15 s until its start
 * limit, each time with the same answer: a setting, now exit 78 naming engineUrl.
 */
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { engineModels } from "../agent/cli";
import { ConfigError } from "../agent/config";
import { runAgentCli } from "../agent/cli-testing";
import { createOpenAiEngine } from "../agent/engines/openai-http";
import { json, type StandIn, standIn } from "../agent/engines/stand-in-testing";

const open: StandIn[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

/** Factory: an HTTP service that is no engine: no /health, and JSON of its own under /v1/models. */
async function notAnEngine() {
  const s = await standIn((req, res) => {
    if (req.url === "/v1/models") return json(res, 200, { service: "something else", version: 3 });
    json(res, 404, { error: { code: "no_such_route", message: `no route ${req.url}` } });
  });
  open.push(s);
  return s;
}

const noLog = { info() {}, warn() {} };

describe("an engine URL whose server answers no model list", () => {
  it("without models named: a ConfigError naming engineUrl, not an engine error that exits 1", async () => {
    // Prepare
    const s = await notAnEngine();
    // Act
    const r = await engineModels(createOpenAiEngine({ baseUrl: s.url }), [], noLog).catch((e: unknown) => e);
    // Assess
    expect(r).toBeInstanceOf(ConfigError);
    expect((r as Error).message).toContain("engineUrl (--engine-url, COCOON_ENGINE_URL or agent.json): ");
    expect((r as Error).message).toContain("is not an OpenAI model list");
    expect((r as Error).message).toContain("name its models with --model");
  });

  it("with models named: those are served, as before (some servers have no usable model list)", async () => {
    // Prepare
    const s = await notAnEngine();
    // Act
    const models = await engineModels(createOpenAiEngine({ baseUrl: s.url }), ["m"], noLog);
    // Assess
    expect(models).toEqual(["m"]);
  });

  it("cocoon-agent start exits 78 (bad_config)", async () => {
    // Prepare
    const s = await notAnEngine();
    const argv = [
      "start",
      "--api",
      "http://127.0.0.1:1",
      "--tier",
      "dev",
      "--metrics-port",
      "0",
      "--engine",
      "openai",
      "--engine-url",
      s.url,
    ];
    // Act
    const r = await runAgentCli(argv, { COCOON_HOME: tempDir("cocoon-agent-not-an-engine-") });
    // Assess
    expect(r.code).toBe(78);
    expect(r.err).toContain("error [bad_config]: engineUrl (--engine-url, COCOON_ENGINE_URL or agent.json): ");
  });
});
