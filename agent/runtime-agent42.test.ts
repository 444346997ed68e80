/**
 * Helper agent42 (session 42), the runtime's side: engine timeouts a requester can provoke no
 * longer take a worker off the lists. `timeoutsBeforeDown` jobs in a row that the engine left
 * unanswered took it down whatever its probe said, so three jobs with huge prompts on a slow card
 * (a long prefill), or long generations ahead of a job that then waited at the engine, did. Now a
 * timeout counts toward that run only when a canary confirms it (runtime.ts checkHung: canary42;
 * agent/runtime-canary42.test.ts has the rest).
 * Stand-in engines on 127.0.0.1 answer as llama-server does: GET /health from its HTTP thread.
 * And a first start whose evidence the coordinator refuses (403 attestation_*) waits it out, as a
 * later refusal does, where it exited; any other 403 still ends the start.
 */
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import type { ResultRequest } from "../events/api";
import { b64u } from "../core/crypto/encoding";
import { API, ApiClient, ApiError } from "../api-client/api";
import { startNetwork } from "../local/network";
import { agentLogTo, MODEL, pollUntil } from "../test/helpers";
import { makeAttester } from "./attest";
import { EngineWork } from "./engine-work";
import { createOpenAiEngine } from "./engines/openai-http";
import { chatAnswer, json, modelList, type StandIn, standIn } from "./engines/stand-in-testing";
import { openableJob, slowEngine } from "./job-testing";
import { PROMPT_RECOUNT_MS } from "./execute";
import { openAnswer } from "../client/reply";
import { startAgent, type AgentOptions, type RunningAgent } from "./runtime";
import type { JobSource, WorkBatch } from "./sources/job-source";
import type { AgentJob } from "../events/api";
import { EngineError, type Engine } from "./engines/engine";
import { createAgentMetrics } from "./metrics";

/** The rest of a long prefill: `ms`, or engine_aborted as soon as `signal` fires (as engines honour it). */
const prefillRest = (ms: number, signal: AbortSignal | undefined) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), reject(new EngineError("engine_aborted", "aborted", { engine: "slow" }))), {
      once: true,
    });
  });

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
  vi.restoreAllMocks();
});

/** A requester's huge prompt (17 KiB). */
const HUGE = "x".repeat(17 * 1024);
const isHuge = (body: unknown) => JSON.stringify(body ?? "").includes(HUGE);

async function server(handler: Parameters<typeof standIn>[0]): Promise<StandIn> {
  const s = await standIn(handler);
  cleanup.push(() => s.close());
  return s;
}

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

/**
 * Factory: a dev agent on the OpenAI-compatible adapter pointed at `engineUrl` (jobs time out after
 * 300 ms, probes after 200 ms); its result posts and heartbeats recorded, not sent. `job(huge)`
 * hands it a chat job, its prompt HUGE when `huge`.
 */
async function agentOn(engineUrl: string, o: Partial<AgentOptions> = {}) {
  const net = await startNetwork({ chain: false });
  cleanup.push(() => net.stop());
  const k = { signingKey: generateSigningKey(), kemKey: generateKemKey() };
  const lines: string[] = [];
  const source = pushedSource();
  const a: RunningAgent = await startAgent({
    apiUrl: net.url,
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
  const posts = intercept(a.api, API.postResult.path, { status: "completed", cost: "777", duplicate: false }) as ResultRequest[];
  const beats = intercept(a.api, API.heartbeat.path, { attestationExpiresAt: Date.now() + 3_600_000 }) as Array<{ offline: boolean }>;
  const job = (huge = false) =>
    source.push([
      openableJob(
        k.signingKey.id,
        k.kemKey,
        30_000,
        { messages: [{ role: "user", content: huge ? HUGE : "x" }] },
        { maxPromptTokens: 40_000 },
      ).job,
    ]);
  const codes = () => posts.map((p) => (p.kind === "failed" ? p.code : p.kind));
  const reports = (n: number) => pollUntil(`${n} reports`, () => (codes().length >= n ? true : undefined), 5_000);
  return { a, beats, job, codes, reports, lines };
}

const offline = (beats: Array<{ offline: boolean }>) => beats.some((b) => b.offline);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("agent runtime: engine timeouts a requester can provoke do not take the worker off the lists", () => {
  it("three jobs with huge prompts on a slow card (prefill past the job timeout), /health ok: still serving, the next job completes", async () => {
    // Prepare: llama-server on a slow card: a huge prompt's prefill outlasts the job timeout; /health answers
    const llama = await server((req, res, s, body) => {
      if (req.url === "/health") return json(res, 200, { status: "ok" });
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      if (isHuge(body)) return void s.held.push(res);
      json(res, 200, chatAnswer);
    });
    const { a, beats, job, codes, reports } = await agentOn(llama.url); // timeoutsBeforeDown: 3, the default

    // Act: three huge prompts in a row, then an ordinary job
    for (let n = 1; n <= 3; n++) {
      job(true);
      await reports(n);
    }
    await sleep(100);
    const afterThree = a.metrics.status.state;
    job();
    await reports(4);

    // Assess: the old agent went offline at the third timeout
    expect(codes()).toEqual(["engine_unavailable", "engine_unavailable", "engine_unavailable", "completed"]);
    expect(afterThree).toBe("serving");
    expect(offline(beats)).toBe(false);
  });

  it("a job that waited at the engine behind another's long generation times out: the engine was streaming, so no sign of a hung one", async () => {
    // Prepare: llama-server with one free slot: the first chat waits for it (past the job
    // timeout) while the second streams a token every 50 ms
    let chats = 0;
    const llama = await server((req, res, s) => {
      if (req.url === "/health") return json(res, 200, { status: "ok" });
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      if (++chats === 1) return void s.held.push(res);
      res.writeHead(200, { "content-type": "text/event-stream" });
      let sent = 0;
      const tick = setInterval(() => {
        if (res.destroyed) return clearInterval(tick);
        const chunk = (o: Record<string, unknown>) =>
          `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 0, model: MODEL, ...o })}\n\n`;
        if (sent++ < 12) return void res.write(chunk({ choices: [{ index: 0, delta: { content: "o" }, finish_reason: null }] }));
        clearInterval(tick);
        res.write(chunk({ choices: [{ index: 0, delta: {}, finish_reason: "length" }] }));
        res.end(chunk({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 12, total_tokens: 15 } }) + "data: [DONE]\n\n");
      }, 50);
    });
    const { a, beats, job, codes, reports } = await agentOn(llama.url, {
      capacity: 2,
      engineHealth: { everyMs: 60_000, timeoutsBeforeDown: 1 },
    });

    // Act
    job();
    await pollUntil("the first chat", () => (chats === 1 ? true : undefined), 3_000);
    job();
    await reports(2);

    // Assess: with timeoutsBeforeDown 1 the old agent went offline at once
    expect([...codes()].sort()).toEqual(["completed", "engine_unavailable"]);
    expect(offline(beats)).toBe(false);
    expect(a.metrics.status.state).toBe("serving");
  });

  it("a hung engine is still taken down by light jobs, a requester's huge one between them breaking no run", async () => {
    // Prepare: llama-server with its slots stuck: /health ok, no chat answered
    const llama = await server((req, res, s) => {
      if (req.url === "/health") return json(res, 200, { status: "ok" });
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      s.held.push(res);
    });
    const { beats, job, reports, lines } = await agentOn(llama.url, { engineHealth: { everyMs: 60_000, timeoutsBeforeDown: 2 } });

    // Act: light, huge, light
    job();
    await reports(1);
    job(true);
    await reports(2);
    await sleep(100);
    const afterHuge = offline(beats);
    job();
    await pollUntil("the offline heartbeat", () => (offline(beats) ? true : undefined), 5_000);

    // Assess
    expect(afterHuge).toBe(false);
    expect(lines.some((l) => l.includes("engine down: leaving the candidate lists"))).toBe(true);
  });
});

describe("EngineWork: the engine calls the canary waits out", () => {
  it("idle() answers at once with no call under way, when the last ends, or false at its bound; began counts every call", async () => {
    const w = new EngineWork();
    expect(await w.idle(10)).toBe(true);
    const a = w.begin();
    const b = w.begin();
    expect(w.began).toBe(2);
    const waited = w.idle(5_000);
    a();
    a(); // a second end of the same call changes nothing
    expect(w.running).toBe(1);
    b();
    expect(await waited).toBe(true);
    const c = w.begin();
    expect(await w.idle(20)).toBe(false); // still under way at the bound
    c();
    expect(w.running).toBe(0);
    expect(w.began).toBe(3);
  });
});

describe("a first start whose evidence the coordinator refuses (agent42)", () => {
  /**
   * A dev agent whose coordinator refuses each registration with `refuse` (undefined: accepts),
   * answered by the agent's own client (ApiClient.requestJson) as runtime-agent41.test.ts does.
   */
  function world() {
    const k = { signingKey: generateSigningKey(), kemKey: generateKemKey() };
    const coordinator = { refuse: undefined as ApiError | undefined, refused: 0, registrations: 0 };
    vi.spyOn(ApiClient.prototype, "requestJson").mockImplementation(async (_method, p) => {
      if (p === API.workerNonce.path) return { nonce: b64u.encode(randomBytes(32)), expiresAt: Date.now() + 300_000 };
      if (p === API.registerWorker.path) {
        if (coordinator.refuse) {
          coordinator.refused++;
          throw coordinator.refuse;
        }
        coordinator.registrations++;
        return {
          workerId: k.signingKey.id,
          tier: "dev",
          measurement: "dev",
          attestationExpiresAt: Date.now() + 3_600_000,
          models: [MODEL],
          heartbeatSeconds: 5,
        };
      }
      if (p === API.heartbeat.path) return { ok: true, attestationExpiresAt: Date.now() + 3_600_000, heartbeatSeconds: 5 };
      throw new Error(`the test answers no ${p}`);
    });
    const idle: Engine = { name: "idle", models: async () => [MODEL], generate: () => Promise.reject(new Error("no job here")) };
    const lines: string[] = [];
    const metrics = createAgentMetrics();
    const collateral = { coordinatorBounds: () => {}, refetch: vi.fn() };
    const start = () => {
      const starting = startAgent({
        apiUrl: "http://127.0.0.1:9",
        ...k,
        engine: idle,
        models: [{ model: MODEL, priceBps: 10_000 }],
        attest: makeAttester({ tier: "dev", ...k }),
        collateral,
        log: agentLogTo(lines),
        metrics,
        jobSource: pushedSource(),
        pollWaitSeconds: 1,
        heartbeatMs: 100,
        tickMs: 20,
        backoff: { baseMs: 20, capMs: 60 },
        registerRetryMs: Infinity,
      });
      starting.then((a) => cleanup.push(() => a.stop())).catch(() => {});
      return starting;
    };
    const logged = (msg: string) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);
    return { coordinator, metrics, collateral, start, logged };
  }

  it("403 attestation_*: waits in cannot_attest (said once, collateral fetched afresh), and registers once accepted", async () => {
    // Prepare: the coordinator refuses the cached collateral (expired)
    const w = world();
    w.coordinator.refuse = new ApiError(
      403,
      "attestation_collateral_expired",
      "attestation refused: collateral expired; fetch fresh collateral",
    );
    // Act: start; three refusals; then accepted
    const starting = w.start();
    await pollUntil("three refusals", () => (w.coordinator.refused >= 3 ? true : undefined), 5_000, 10);
    const waiting = w.metrics.doc();
    w.coordinator.refuse = undefined;
    const a = await starting;
    // Assess: the old agent threw at the first refusal (its start failed)
    expect(waiting.state).toBe("cannot_attest");
    expect(waiting.attestError).toMatchObject({ code: "attestation_collateral_expired", refused: true });
    expect(w.logged("register failed")).toEqual([expect.objectContaining({ code: "attestation_collateral_expired" })]);
    expect(w.collateral.refetch).toHaveBeenCalled();
    expect(w.coordinator.registrations).toBe(1);
    expect(a.metrics.doc().state).toBe("serving");
  });

  it("any other 403 (not_a_worker) still ends the start at once", async () => {
    // Prepare
    const w = world();
    const refusal = new ApiError(403, "not_a_worker", "forbidden");
    w.coordinator.refuse = refusal;
    // Act
    const e = await w.start().then(
      () => undefined,
      (x: unknown) => x,
    );
    // Assess
    expect(e).toBe(refusal);
    expect(w.coordinator.refused).toBe(1);
  });
});

describe("agent runtime: a cancel during a long prefill (agent42)", () => {
  it("the prompt's re-count may take what is left of the lease, not 5 s: the prompt is billed", async () => {
    // Prepare: an engine whose first token would come after a minute (a huge prompt's prefill),
    // and whose re-count of the prompt takes 6 s (the rest of that prefill); a 30 s lease
    const net = await startNetwork({ chain: false });
    cleanup.push(() => net.stop());
    const k = { signingKey: generateSigningKey(), kemKey: generateKemKey() };
    const engine = slowEngine({ everyMs: 60_000, promptTokens: 7 });
    engine.generate = async (req) => {
      engine.asks.push(req);
      await prefillRest(PROMPT_RECOUNT_MS + 1_000, req.signal);
      return { text: "t", usage: { promptTokens: 7, completionTokens: 1 }, finishReason: "length", engine: "slow" };
    };
    const batches: WorkBatch[] = [];
    const a = await startAgent({
      apiUrl: net.url,
      ...k,
      engine,
      models: [{ model: MODEL, priceBps: 10_000 }],
      attest: makeAttester({ tier: "dev", ...k }),
      jobSource: {
        next: async () => batches.shift() ?? (await sleep(20), { jobs: [], challenges: [] }),
      },
      pollWaitSeconds: 1,
      heartbeatMs: 60_000,
      tickMs: 50,
    });
    cleanup.push(() => a.stop());
    const posts = intercept(a.api, API.postResult.path, { status: "completed", cost: "1", duplicate: false }) as ResultRequest[];
    const { job, header, replyKey, binding } = openableJob(
      k.signingKey.id,
      k.kemKey,
      30_000,
      { messages: [{ role: "user", content: "x" }] },
      { maxTokens: 400 },
    );

    // Act: cancelled once the engine was asked
    batches.push({ jobs: [job], challenges: [] });
    await pollUntil("the engine asked", () => (engine.streams.length === 1 ? true : undefined), 5_000);
    batches.push({ jobs: [], challenges: [], cancels: [{ kind: "cancel", jobId: job.jobId, attempt: job.attempt }] });
    await pollUntil("the result", () => (posts.length === 1 ? true : undefined), 15_000);

    // Assess: the old agent gave the re-count 5 s and billed the prompt 0
    const r = posts[0]!;
    if (r.kind !== "completed") throw new Error(`not completed: ${JSON.stringify(r)}`);
    expect(openAnswer(r.reply, header, k.signingKey.id, replyKey, binding).usage).toEqual({ promptTokens: 7, completionTokens: 0 });
  }, 20_000);
});
