/**
 * The agent's watch on its engine's health, through the runtime, against stand-in engine servers
 * on 127.0.0.1 that answer as the real ones do (quoted in each test). Before: the agent probed
 * GET /v1/models, which llama-server and vLLM answer from their HTTP layer even while the engine
 * behind it is hung or dead, never probed while up, and read a job's timeout as no sign at all.
 */
import { afterEach, describe, expect, it } from "vitest";
import { generateKemKey, generateSigningKey, type KemKeyPair, type SigningKeyPair } from "../core/crypto/keys";
import type { AgentJob, ResultRequest } from "../events/api";
import { API, type ApiClient } from "../api-client/api";
import { startNetwork } from "../local/network";
import { agentLogTo, MODEL, pollUntil, randomCanary } from "../test/helpers";
import { makeAttester } from "./attest";
import { createOpenAiEngine } from "./engines/openai-http";
import { chatAnswer, json, modelList, type StandIn, standIn, text } from "./engines/stand-in-testing";
import { startAgent, type AgentOptions, type RunningAgent } from "./runtime";
import type { JobSource, WorkBatch } from "./sources/job-source";
import { sealedJob } from "./job-testing";

// ------------------------------------------------------------------------- factories

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

async function network(): Promise<string> {
  const net = await startNetwork({ chain: false });
  cleanup.push(() => net.stop());
  return net.url;
}

async function server(handler: Parameters<typeof standIn>[0]): Promise<StandIn> {
  const s = await standIn(handler);
  cleanup.push(() => s.close());
  return s;
}

interface Keys {
  signingKey: SigningKeyPair;
  kemKey: KemKeyPair;
}
const keys = (): Keys => ({ signingKey: generateSigningKey(), kemKey: generateKemKey() });

/** A job source fed by push(), short empty polls in between. */
function pushedSource(): JobSource & { push(jobs: AgentJob[]): void } {
  const batches: AgentJob[][] = [];
  return {
    push: (jobs) => void batches.push(jobs),
    async next(): Promise<WorkBatch> {
      const b = batches.shift();
      if (b) return { jobs: b, challenges: [] };
      await new Promise((r) => setTimeout(r, 20));
      return { jobs: [], challenges: [] };
    },
  };
}

/** What the agent's client sends to `path`, answered by `answer` instead of the API. */
function intercept(client: ApiClient, path: string, answer: unknown) {
  const real = client.requestJson.bind(client);
  const bodies: unknown[] = [];
  client.requestJson = async (method, p, body, headers, signal) => {
    if (p !== path) return real(method, p, body, headers, signal);
    bodies.push(body);
    return answer;
  };
  return bodies;
}

const TAKEN = { status: "completed", cost: "777", duplicate: false };

/**
 * A dev agent on the OpenAI-compatible adapter pointed at `engineUrl` (jobs time out after 300 ms,
 * probes after 200 ms), quick backoff; its result posts and heartbeats are recorded, not sent.
 */
async function agentOn(engineUrl: string, o: Partial<AgentOptions> = {}) {
  const k = keys();
  const lines: string[] = [];
  const source = pushedSource();
  const a: RunningAgent = await startAgent({
    apiUrl: await network(),
    ...k,
    engine: createOpenAiEngine({ baseUrl: engineUrl, timeoutMs: 300, healthTimeoutMs: 200 }),
    models: [{ model: MODEL, priceBps: 10_000 }],
    capacity: 1,
    attest: makeAttester({ tier: "dev", ...k }),
    log: agentLogTo(lines),
    jobSource: source,
    pollWaitSeconds: 1,
    heartbeatMs: 60_000,
    tickMs: 50,
    backoff: { baseMs: 20, capMs: 100 },
    resultRetryMs: 1_000,
    engineHealth: { everyMs: 60_000 },
    ...o,
  });
  cleanup.push(() => a.stop());
  const posts = intercept(a.api, API.postResult.path, TAKEN) as ResultRequest[];
  const beats = intercept(a.api, API.heartbeat.path, { attestationExpiresAt: Date.now() + 3_600_000 }) as Array<{ offline: boolean }>;
  const job = () => source.push([sealedJob(k.signingKey.id, k.kemKey)]);
  const codes = () => posts.map((p) => (p.kind === "failed" ? p.code : p.kind));
  return { a, posts, beats, job, codes, lines };
}

const state = (a: RunningAgent) => a.metrics.status.state;
/** The agent's one-token canary after a job's timeout (runtime.ts checkHung): its two-byte prompt. */
const isCanary = (body: unknown) => JSON.stringify(body ?? "").includes('"content":"ok"');
/** Jobs' chats the engine was sent (canaries left out). */
const chats = (s: StandIn) => s.seen.filter((l, i) => l === "POST /v1/chat/completions" && !isCanary(s.bodies[i])).length;
const canaries = (s: StandIn) => s.bodies.filter(isCanary).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------- tests

describe("agent runtime: an engine that takes connections but never answers", () => {
  it("vLLM hung: its job times out, the probe of /health times out too, and the worker leaves the lists until /health answers", async () => {
    // Prepare: vLLM's HTTP layer answers GET /v1/models from its own process while the engine
    // core is stuck; GET /health awaits the engine (check_health) and so hangs with it, as do jobs.
    const eng = { hung: false };
    const vllm = await server((req, res, s) => {
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      if (eng.hung) return void s.held.push(res);
      if (req.url === "/health") return void res.writeHead(200).end();
      json(res, 200, chatAnswer);
    });
    const { a, beats, job, codes } = await agentOn(vllm.url);
    eng.hung = true;

    // Act 1: a job finds it hung
    job();
    await pollUntil("the offline heartbeat", () => (beats.some((b) => b.offline) ? true : undefined), 5_000);
    const downState = state(a);
    await sleep(400); // several probes: each times out on /health (the old probe, /v1/models, answered)
    const stillDown = state(a);
    job();
    await pollUntil("two reports", () => (codes().length === 2 ? true : undefined), 3_000);
    const chatsWhileDown = chats(vllm);

    // Act 2: the engine recovers
    eng.hung = false;
    await pollUntil("serving again", () => (state(a) === "serving" ? true : undefined), 5_000);
    job();
    await pollUntil("the third report", () => (codes().length === 3 ? true : undefined), 3_000);

    // Assess
    expect(downState).toBe("engine_down");
    expect(stillDown).toBe("engine_down");
    expect(chatsWhileDown).toBe(1); // the second job was not sent to a hung engine
    // on the wire a timeout is engine_unavailable too (execute.ts failureCode)
    expect(codes()).toEqual(["engine_unavailable", "engine_unavailable", "completed"]);
  });

  it("llama-server with its slots stuck: /health still says ok, but a run of job timeouts takes the worker off the lists", async () => {
    // Prepare: llama-server's GET /health is answered by its HTTP thread ({"status":"ok"} once the
    // model is loaded) without the slots' task queue, so a generation stuck on the GPU leaves it ok.
    const eng = { stuck: true };
    const llama = await server((req, res, s) => {
      if (req.url === "/health") return json(res, 200, { status: "ok" });
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      if (eng.stuck) return void s.held.push(res);
      json(res, 200, chatAnswer);
    });
    const { a, beats, job, codes, lines } = await agentOn(llama.url, { engineHealth: { everyMs: 60_000, timeoutsBeforeDown: 2 } });

    // Act 1: two jobs in a row time out
    job();
    await pollUntil("the first report", () => (codes().length === 1 ? true : undefined), 3_000);
    await sleep(100);
    const afterOne = state(a);
    job();
    await pollUntil("the offline heartbeat", () => (beats.some((b) => b.offline) ? true : undefined), 3_000);
    const afterTwo = beats.some((b) => b.offline);
    // Its probe answers, so it comes back; the streak stands: one more timeout takes it down again at once
    await pollUntil("serving again", () => (state(a) === "serving" ? true : undefined), 3_000);
    const offlineBefore = beats.filter((b) => b.offline).length;
    job();
    await pollUntil("offline again", () => (beats.filter((b) => b.offline).length > offlineBefore ? true : undefined), 3_000);

    // Act 2: generation works again: a job completes and the streak is over
    eng.stuck = false;
    await pollUntil("serving again", () => (state(a) === "serving" ? true : undefined), 3_000);
    job();
    await pollUntil("the fourth report", () => (codes().length === 4 ? true : undefined), 3_000);

    // Assess
    expect(afterOne).toBe("serving"); // one slow job (a requester can craft one) does not take it off
    expect(afterTwo).toBe(true);
    expect(codes()).toEqual(["engine_unavailable", "engine_unavailable", "engine_unavailable", "completed"]);
    expect(chats(llama)).toBe(4); // every job reached the engine: none was failed unasked
    expect(lines.some((l) => l.includes("engine down: leaving the candidate lists"))).toBe(true);
  });
});

describe("agent runtime: an engine whose HTTP layer outlives it", () => {
  it("vLLM with a dead engine: a job's 500 is confirmed by /health (500), not by /v1/models (200), and the worker goes down", async () => {
    // Prepare: vLLM after its engine core died: POST /v1/chat/completions 500 {"error":{"message":
    // "EngineCore encountered an issue…"}}, GET /health 500, GET /v1/models still 200.
    const vllm = await server((req, res) => {
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      if (req.url === "/health") return void res.writeHead(500).end();
      json(res, 500, {
        error: { message: "EngineCore encountered an issue. See stack trace for the root cause.", type: "InternalServerError", code: 500 },
      });
    });
    const { a, beats, job, codes } = await agentOn(vllm.url);

    // Act
    job();
    await pollUntil("the failure report", () => (codes().length === 1 ? true : undefined), 3_000);
    await pollUntil("engine_down", () => (state(a) === "engine_down" ? true : undefined), 3_000);
    await sleep(300); // probes while down: /health still 500

    // Assess: the old code's probe (/v1/models) answered: "still serving", and it kept taking jobs
    expect(state(a)).toBe("engine_down");
    expect(beats.some((b) => b.offline)).toBe(true);
    expect(vllm.seen).toContain("GET /health");
  });

  it("an idle worker probes /health (every engineHealth.everyMs) and leaves the lists before a paid job finds the engine dead", async () => {
    // Prepare: vLLM whose engine dies while no job runs; it comes back later
    const eng = { dead: false };
    const vllm = await server((req, res) => {
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      if (req.url === "/health") return void res.writeHead(eng.dead ? 500 : 200).end();
      json(res, 200, chatAnswer);
    });
    const { a, beats } = await agentOn(vllm.url, { engineHealth: { everyMs: 100 } });
    await sleep(250);
    const healthyState = state(a);

    // Act
    eng.dead = true;
    await pollUntil("engine_down", () => (state(a) === "engine_down" ? true : undefined), 3_000);
    const offline = beats.some((b) => b.offline);
    eng.dead = false;
    await pollUntil("serving again", () => (state(a) === "serving" ? true : undefined), 3_000);

    // Assess
    expect(healthyState).toBe("serving");
    expect(offline).toBe(true);
    expect(chats(vllm)).toBe(0);
  });

  it("with no tick set, the idle probe keeps to engineHealth.everyMs even when it is shorter than the default tick (60 s)", async () => {
    // Prepare: a healthy engine; heartbeats every 60 s, the tick left to its default (it was
    // min(heartbeat, 60 s): a probe every 60 s whatever everyMs said)
    const vllm = await server((req, res) => {
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      if (req.url === "/health") return void res.writeHead(200).end();
      json(res, 200, chatAnswer);
    });
    await agentOn(vllm.url, { engineHealth: { everyMs: 100 }, tickMs: undefined });
    const probes = () => vllm.seen.filter((l) => l === "GET /health").length;

    // Act
    await sleep(600);

    // Assess: about five probes in 0.6 s (none with a 60 s tick)
    expect(probes()).toBeGreaterThanOrEqual(3);
  });

  it("Ollama (no /health: 404) is probed by its model list and stays serving", async () => {
    // Prepare: Ollama answers GET /health 404 "404 page not found" and GET /v1/models its models
    const ollama = await server((req, res) => {
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      if (req.url === "/v1/chat/completions") return json(res, 200, chatAnswer);
      text(res, 404, "404 page not found");
    });
    const { a, job, codes } = await agentOn(ollama.url, { engineHealth: { everyMs: 50 } });

    // Act
    await sleep(300);
    job();
    await pollUntil("the report", () => (codes().length === 1 ? true : undefined), 3_000);

    // Assess: /health asked once, then the model list; never marked down
    expect(state(a)).toBe("serving");
    expect(codes()).toEqual(["completed"]);
    expect(ollama.seen.filter((l) => l === "GET /health")).toHaveLength(1);
    expect(ollama.seen.filter((l) => l === "GET /v1/models").length).toBeGreaterThan(2);
  });
});

/** One SSE chat chunk of the OpenAI stream (`delta`), or its last with usage. */
const sseChunk = (o: Record<string, unknown>) =>
  `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 0, model: MODEL, ...o })}\n\n`;

describe("agent runtime: a busy engine at capacity > 1 is not a dead one", () => {
  /**
   * llama-server with every slot busy: each HTTP thread serves one generation, so a GET /health
   * waits for a thread and is answered only once the generations end (here: once no chat is open).
   * Chat `hang(n)` is left unanswered (a requester's huge prompt, past the job timeout); any other
   * streams a token every 100 ms for ~1.2 s (alive, just busy).
   */
  async function busyLlama(hang: (n: number) => boolean) {
    const eng = { open: 0, chats: 0 };
    const waiting: Array<() => void> = [];
    const closed = () => {
      eng.open--;
      if (eng.open === 0) for (const answer of waiting.splice(0)) answer();
    };
    const llama = await server((req, res, s) => {
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      if (req.url === "/health") {
        const ok = () => json(res, 200, { status: "ok" });
        return eng.open > 0 ? void waiting.push(ok) : ok();
      }
      eng.open++;
      res.on("close", closed);
      if (hang(++eng.chats)) return void s.held.push(res);
      res.writeHead(200, { "content-type": "text/event-stream" });
      let sent = 0;
      const tick = setInterval(() => {
        if (res.destroyed) return clearInterval(tick);
        if (sent++ < 12) return void res.write(sseChunk({ choices: [{ index: 0, delta: { content: "o" }, finish_reason: null }] }));
        clearInterval(tick);
        res.write(sseChunk({ choices: [{ index: 0, delta: {}, finish_reason: "length" }] }));
        res.end(sseChunk({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 12, total_tokens: 15 } }) + "data: [DONE]\n\n");
      }, 100);
    });
    return llama;
  }

  it("one job times out while another streams: the probe that waits behind it is read as busy, and the worker stays on the lists", async () => {
    // Prepare: the first chat hangs, the second streams on
    const llama = await busyLlama((n) => n === 1);
    const { a, beats, job, codes, lines } = await agentOn(llama.url, { capacity: 2 });

    // Act
    job();
    await pollUntil("the first chat", () => (chats(llama) === 1 ? true : undefined), 3_000);
    job();
    await pollUntil("two reports", () => (codes().length === 2 ? true : undefined), 5_000);

    // Assess: the old agent read the probe's timeout (200 ms, behind the stream) as a dead engine and went offline
    expect([...codes()].sort()).toEqual(["completed", "engine_unavailable"]);
    expect(llama.seen).toContain("GET /health");
    expect(beats.some((b) => b.offline)).toBe(false);
    expect(state(a)).toBe("serving");
    expect(lines.some((l) => l.includes("too busy to answer its probe in time: still serving"))).toBe(true);
  });

  it("every job hangs: the probe is read as busy, but the run of job timeouts still takes the worker off the lists", async () => {
    // Prepare
    const llama = await busyLlama(() => true);
    const { a, beats, job } = await agentOn(llama.url, { capacity: 2, engineHealth: { everyMs: 60_000, timeoutsBeforeDown: 2 } });

    // Act: two rounds of two jobs; each round's timeouts are judged by one canary, left unanswered
    for (let i = 0; i < 4; i++) job();
    // room for a loaded host: two rounds of job timeouts, each waited out before its canary
    await pollUntil("the offline heartbeat", () => (beats.some((b) => b.offline) ? true : undefined), 15_000);

    // Assess
    expect(chats(llama)).toBe(4);
    expect(canaries(llama)).toBe(2);
    expect(["engine_down", "serving"]).toContain(state(a)); // down, or back once the probe (now answered) found it
  });
});

describe("agent runtime: an engine that refuses the agent's key", () => {
  /** Answers 401 as the server does when the Bearer token is not `key.accepted`. */
  const refused = (req: { headers: { authorization?: string } }, key: { accepted: string }) =>
    req.headers.authorization !== `Bearer ${key.accepted}`;

  it("vLLM's --api-key changed: the job that met the 401 fails over, the worker leaves the lists, and comes back once the key is taken again", async () => {
    // Prepare: vLLM with --api-key guards its /v1 routes ({"error":"Unauthorized"}, 401) and leaves /health open
    const key = { accepted: "k1" };
    const vllm = await server((req, res) => {
      if (req.url === "/health") return void res.writeHead(200).end();
      if (!req.url?.startsWith("/v1/")) return text(res, 404, "Not Found");
      if (refused(req, key)) return json(res, 401, { error: "Unauthorized" });
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      json(res, 200, chatAnswer);
    });
    const engine = createOpenAiEngine({ baseUrl: vllm.url, apiKey: "k1", timeoutMs: 300, healthTimeoutMs: 200 });
    const { a, beats, job, codes, lines } = await agentOn(vllm.url, { engine });
    job();
    await pollUntil("the first report", () => (codes().length === 1 ? true : undefined), 3_000);

    // Act 1: the owner restarts vLLM with another key; the next job meets a 401
    key.accepted = "k2";
    job();
    await pollUntil("the offline heartbeat", () => (beats.some((b) => b.offline) ? true : undefined), 3_000);
    await sleep(300); // several probes: /health answers 200 without a key, /v1/models 401 with ours
    const stillDown = state(a);
    job();
    await pollUntil("three reports", () => (codes().length === 3 ? true : undefined), 3_000);
    const chatsWhileRefused = chats(vllm);

    // Act 2: the engine takes the agent's key again
    key.accepted = "k1";
    await pollUntil("serving again", () => (state(a) === "serving" ? true : undefined), 3_000);
    job();
    await pollUntil("the fourth report", () => (codes().length === 4 ? true : undefined), 3_000);

    // Assess: the old agent's probe (/health, no key) said "still serving" and every job failed on the 401
    expect(stillDown).toBe("engine_down");
    expect(chatsWhileRefused).toBe(2); // the third job was not sent to an engine that refuses the key
    expect(codes()).toEqual(["completed", "engine_unavailable", "engine_unavailable", "completed"]);
    expect(lines.filter((l) => l.includes("the engine refuses the agent's key (HTTP 401)") && l.includes("engineKey"))).toHaveLength(1);
  });

  it("llama-server's --api-key changed while idle: the probe, which sends the key, finds it before a job does", async () => {
    // Prepare: llama-server with --api-key leaves /health and /v1/models open and guards the rest,
    // /props included ({"error":{"code":401,"message":"Invalid API Key","type":"authentication_error"}})
    const key = { accepted: "k1" };
    const llama = await server((req, res) => {
      if (req.url === "/health") return json(res, 200, { status: "ok" });
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      if (refused(req, key)) return json(res, 401, { error: { code: 401, message: "Invalid API Key", type: "authentication_error" } });
      if (req.url === "/props") return json(res, 200, { total_slots: 1 });
      json(res, 200, chatAnswer);
    });
    const engine = createOpenAiEngine({ baseUrl: llama.url, apiKey: "k1", timeoutMs: 300, healthTimeoutMs: 200 });
    const { a, beats } = await agentOn(llama.url, { engine, engineHealth: { everyMs: 100 } });
    await sleep(250);
    const before = state(a);

    // Act
    key.accepted = "k2";
    await pollUntil("engine_down", () => (state(a) === "engine_down" ? true : undefined), 3_000);
    const offline = beats.some((b) => b.offline);
    const lastError = a.metrics.status.lastError?.msg ?? "";
    key.accepted = "k1";
    await pollUntil("serving again", () => (state(a) === "serving" ? true : undefined), 3_000);

    // Assess
    expect(before).toBe("serving");
    expect(offline).toBe(true);
    expect(lastError).toContain("engineKey (--engine-key");
    expect(chats(llama)).toBe(0);
  });
});

describe("agent runtime: the engine-down log line gives its cause, as /status does", () => {
  /** The one "engine down" line's fields. */
  const downLine = (lines: string[]) => {
    const down = lines
      .map((l) => JSON.parse(l) as { msg: string; code?: string; cause?: string })
      .filter((l) => l.msg.startsWith("engine down:"));
    expect(down).toHaveLength(1);
    return down[0]!;
  };

  it("an engine that cannot be reached: the line names what the agent found (the URL, the timeout), the cause /status holds", async () => {
    // Prepare: vLLM hung: jobs and GET /health are taken and never answered
    const vllm = await server((req, res, s) => {
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      s.held.push(res);
    });
    const { a, job, lines } = await agentOn(vllm.url);

    // Act
    job();
    await pollUntil("engine_down", () => (state(a) === "engine_down" ? true : undefined), 5_000);

    // Assess
    const line = downLine(lines);
    expect(line.code).toBe("engine_timeout");
    expect(line.cause).toBe(a.metrics.status.engineError?.msg);
    expect(line.cause).toBe(`POST ${vllm.url}/chat/completions sent nothing for 300 ms`); // the job's timeout (the probe's too timed out)
  });

  it("an engine that answered with its own error: the line says so and keeps the engine's text out (it can echo a prompt), as /status does", async () => {
    // Prepare: vLLM's engine died; its 500 quotes text a requester controls (here a canary)
    const canary = randomCanary();
    const vllm = await server((req, res) => {
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      if (req.url === "/health") return void res.writeHead(500).end();
      json(res, 500, { error: { message: `failed on: ${canary}`, type: "InternalServerError", code: 500 } });
    });
    const { a, job, lines } = await agentOn(vllm.url);

    // Act
    job();
    await pollUntil("engine_down", () => (state(a) === "engine_down" ? true : undefined), 5_000);

    // Assess
    const line = downLine(lines);
    expect(line.code).toBe("engine_unavailable");
    expect(line.cause).toBe(a.metrics.status.engineError?.msg);
    expect(line.cause).toContain("the engine answered HTTP 500");
    expect(lines.join("\n")).not.toContain(canary);
  });
});
