import { afterEach, describe, expect, it } from "vitest";
import { engineModels } from "../cli";
import { EngineError } from "./engine";
import { createOpenAiEngine } from "./openai-http";
import { errorOf } from "./engine-testing";
import { json, modelList, type StandIn, standIn as startStandIn, text } from "./stand-in-testing";

/**
 * The engine's health as the adapter reads it, against stand-in servers on 127.0.0.1 that answer
 * as the real engines do (quoted in each test). The old adapter had no health(): the agent probed
 * GET /v1/models, which these servers answer from their HTTP layer whatever the engine's state.
 */

const open: StandIn[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});
const standIn = async (...a: Parameters<typeof startStandIn>) => {
  const s = await startStandIn(...a);
  open.push(s);
  return s;
};

const quiet = { info() {}, warn() {} };

describe("health(): the server's own health route", () => {
  it("llama-server: asks GET /health at the origin (not under /v1): 503 while loading is down, 200 once ready is up", async () => {
    // Prepare: llama-server (tools/server/server.cpp) answers GET /health 503
    // {"error":{"code":503,"message":"Loading model","type":"unavailable_error"}} while it loads,
    // then 200 {"status":"ok"}; GET /v1/models answers all along.
    const state = { ready: false };
    const server = await standIn((req, res) => {
      if (req.url === "/health")
        return state.ready
          ? json(res, 200, { status: "ok" })
          : json(res, 503, { error: { code: 503, message: "Loading model", type: "unavailable_error" } });
      if (req.url === "/v1/models") return json(res, 200, modelList(["qwen"]));
      json(res, 404, { error: { code: 404, message: "File Not Found", type: "not_found_error" } });
    });
    const engine = createOpenAiEngine({ baseUrl: server.url });

    // Act
    const loading = await errorOf(engine.health!());
    state.ready = true;
    await engine.health!();

    // Assess
    expect(loading.code).toBe("engine_unavailable");
    expect(loading.details?.status).toBe(503);
    expect(loading.message).toMatch(/\/health answered HTTP 503: Loading model/);
    expect(server.seen).toEqual(["GET /health", "GET /health"]);
  });

  it("vLLM: 200 with an empty body is up; 500 (engine dead) is down though GET /v1/models still answers", async () => {
    // Prepare: vLLM's api_server: GET /health awaits engine_client.check_health() and answers 200
    // with no body; once the engine core has died it answers 5xx, while /v1/models is still served.
    const state = { dead: false };
    const server = await standIn((req, res) => {
      if (req.url === "/health") return state.dead ? void res.writeHead(500).end() : void res.writeHead(200).end();
      json(res, 200, modelList(["meta-llama/Llama-3.1-8B-Instruct"]));
    });
    const engine = createOpenAiEngine({ baseUrl: server.url });

    // Act
    await engine.health!();
    state.dead = true;
    const dead = await errorOf(engine.health!());

    // Assess
    expect(dead.code).toBe("engine_unavailable");
    expect(dead.details?.status).toBe(500);
    expect(await engine.models()).toEqual(["meta-llama/Llama-3.1-8B-Instruct"]);
  });

  it("a hung engine: the probe gives up after its own short timeout, not the jobs' 120 s", async () => {
    // Prepare: a server that takes the connection and never answers (an engine stuck in a GPU call)
    const server = await standIn((_req, res, s) => void s.held.push(res));
    const engine = createOpenAiEngine({ baseUrl: server.url, healthTimeoutMs: 200 });

    // Act
    const t0 = Date.now();
    const hung = await errorOf(engine.health!());

    // Assess
    expect(hung.code).toBe("engine_timeout");
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(hung.message).toMatch(/\/health got no complete answer within 200 ms/);
  });

  it("a base URL behind a path prefix asks /health beside its /v1", async () => {
    // Prepare: a reverse proxy that serves the engine under /llm
    const server = await standIn((req, res) => (req.url === "/llm/health" ? json(res, 200, { status: "ok" }) : text(res, 404, "no")));
    const engine = createOpenAiEngine({ baseUrl: server.url.replace(/\/v1$/, "/llm/v1") });

    // Act
    await engine.health!();

    // Assess
    expect(server.seen).toEqual(["GET /llm/health"]);
  });
});

describe("health(): servers without a health route", () => {
  it("Ollama: /health is 404, so its model list is the probe, and /health is not asked again", async () => {
    // Prepare: Ollama answers GET /health 404 "404 page not found" (text/plain; its root GET /
    // says "Ollama is running") and GET /v1/models its pulled models.
    const state = { up: true };
    const server = await standIn((req, res) => {
      if (!state.up) return json(res, 500, { error: { message: "llama runner process has terminated" } });
      if (req.url === "/v1/models") return json(res, 200, modelList(["llama3:8b"]));
      text(res, 404, "404 page not found");
    });
    const engine = createOpenAiEngine({ baseUrl: server.url });

    // Act
    await engine.health!();
    await engine.health!();
    state.up = false;
    const down = await errorOf(engine.health!());

    // Assess
    expect(server.seen).toEqual(["GET /health", "GET /v1/models", "GET /v1/models", "GET /v1/models"]);
    expect(down.code).toBe("engine_unavailable");
  });

  it("LM Studio: a 200 that is its 'Unexpected endpoint' error is no health answer: the model list is asked", async () => {
    // Prepare: LM Studio answers unknown routes 200 {"error":"Unexpected endpoint or method. (GET /health). Returning 200 anyway"}
    const server = await standIn((req, res) => {
      if (req.url === "/v1/models") return json(res, 200, { object: "list", data: [] });
      json(res, 200, { error: `Unexpected endpoint or method. (${req.method} ${req.url}). Returning 200 anyway` });
    });
    const engine = createOpenAiEngine({ baseUrl: server.url });

    // Act
    await engine.health!();

    // Assess
    expect(server.seen).toEqual(["GET /health", "GET /v1/models"]);
  });
});

describe("Ollama with no model pulled", () => {
  /** Ollama (server/routes.go ListHandler, /v1 middleware) with nothing pulled: {"object":"list","data":null} */
  const emptyOllama = () =>
    standIn((req, res) =>
      req.url === "/v1/models" ? json(res, 200, { object: "list", data: null }) : text(res, 404, "404 page not found"),
    );

  it("lists no models (not a schema error)", async () => {
    // Prepare
    const server = await emptyOllama();

    // Act
    const models = await createOpenAiEngine({ baseUrl: server.url }).models();

    // Assess
    expect(models).toEqual([]);
  });

  it("cocoon-agent refuses to start with no models, saying to run ollama pull", async () => {
    // Prepare
    const server = await emptyOllama();
    const engine = createOpenAiEngine({ baseUrl: server.url });

    // Act
    const refused = await errorOf(engineModels(engine, [], quiet, { sleep: async () => {} }));

    // Assess
    expect(refused.code).toBe("model_not_served");
    expect(refused.message).toMatch(/lists no models: with Ollama, pull one first \(ollama pull <model>\)/);
  });

  it("with models configured, warns that they are not listed and says to run ollama pull", async () => {
    // Prepare
    const server = await emptyOllama();
    const engine = createOpenAiEngine({ baseUrl: server.url });
    const warnings: Array<[string, Record<string, unknown> | undefined]> = [];
    const log = { info() {}, warn: (msg: string, data?: Record<string, unknown>) => void warnings.push([msg, data]) };

    // Act
    const models = await engineModels(engine, ["llama3:8b"], log, { sleep: async () => {} });

    // Assess: the old code warned that the list "could not be read" and said nothing of pulling
    expect(models).toEqual(["llama3:8b"]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]![0]).toBe("the engine does not list these configured models: their jobs will fail");
    expect(String(warnings[0]![1]?.hint)).toMatch(/ollama pull/);
  });
});

describe("cocoon-agent's wait for its engine at boot", () => {
  it("waits while the engine's health says down, though its model list answers (vLLM whose engine died)", async () => {
    // Prepare: vLLM's /health 500 (engine dead) beside a /v1/models that answers; it recovers after two waits
    const state = { dead: true };
    const server = await standIn((req, res) => {
      if (req.url === "/health") return void res.writeHead(state.dead ? 500 : 200).end();
      json(res, 200, modelList(["m"]));
    });
    const engine = createOpenAiEngine({ baseUrl: server.url });
    let waits = 0;
    const sleep = async () => {
      if (++waits === 2) state.dead = false;
    };

    // Act
    const models = await engineModels(engine, [], quiet, { sleep });

    // Assess
    expect(models).toEqual(["m"]);
    expect(waits).toBe(2);
  });
});

it("an engine not running: health() says engine_unavailable (connection refused)", async () => {
  // Prepare: nothing listens on the port of a closed stand-in
  const server = await standIn((_req, res) => text(res, 404, ""));
  await server.close();
  // Act
  const refused = await errorOf(createOpenAiEngine({ baseUrl: server.url }).health!());
  // Assess
  expect(refused).toBeInstanceOf(EngineError);
  expect(refused.code).toBe("engine_unavailable");
});
