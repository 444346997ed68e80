/**
 * Helper canary42 (session 42): a job's engine timeout counts toward the run that takes the engine
 * down (`timeoutsBeforeDown`) only when a canary confirms it: a one-token call sent once no other
 * engine call runs (new jobs wait for it), left unanswered (runtime.ts checkHung). review42 showed
 * agent42's reading of the work under way fooled both ways: a hung engine under ordinary load (or
 * with every job over 16 KiB) was never taken down, and light-looking jobs that still kept an
 * honest engine past the timeout (a whole call's long generation, a huge json_schema, images) took
 * it down. Stand-in engines on 127.0.0.1 answer as llama-server does: GET /health from its HTTP thread.
 */
import { afterEach, describe, expect, it } from "vitest";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import type { AgentJob, ResultRequest } from "../events/api";
import { API, ApiClient } from "../api-client/api";
import { startNetwork } from "../local/network";
import { agentLogTo, MODEL, pollUntil } from "../test/helpers";
import { makeAttester } from "./attest";
import { createOpenAiEngine } from "./engines/openai-http";
import { chatAnswer, json, modelList, type StandIn, standIn } from "./engines/stand-in-testing";
import { openableJob } from "./job-testing";
import { startAgent, type AgentOptions, type RunningAgent } from "./runtime";
import type { JobSource, WorkBatch } from "./sources/job-source";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

/** The agent's canary: its two-byte prompt. */
const isCanary = (body: unknown) => JSON.stringify(body ?? "").includes('"content":"ok"');
const PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

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

/** What the agent's client sends to `path`, answered by `answer` instead of the API (`seen` told of each). */
function intercept(client: ApiClient, path: string, answer: unknown, seen: (body: unknown) => void = () => {}) {
  const real = client.requestJson.bind(client);
  const bodies: unknown[] = [];
  client.requestJson = async (method, p, body, headers, signal) => {
    if (p !== path) return real(method, p, body, headers, signal);
    bodies.push(body);
    seen(body);
    return answer;
  };
  return bodies;
}

/**
 * Factory: a dev agent on the OpenAI-compatible adapter pointed at `engineUrl` (engine calls time
 * out after 300 ms, probes after 200 ms; images read); its result posts and heartbeats recorded,
 * not sent. `job(plaintext, header)` hands it a job (a one-message chat "x" by default).
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
    engine: createOpenAiEngine({ baseUrl: engineUrl, timeoutMs: 300, healthTimeoutMs: 200, capabilities: { vision: true } }),
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
  /** How many jobs had been reported when the first offline heartbeat went out (the engine comes back on its probe, and jobs run on). */
  let reportedAtDown: number | undefined;
  const beats = intercept(a.api, API.heartbeat.path, { attestationExpiresAt: Date.now() + 3_600_000 }, (b) => {
    if ((b as { offline: boolean }).offline) reportedAtDown ??= posts.length;
  }) as Array<{ offline: boolean }>;
  const job = (plaintext: Record<string, unknown> = { messages: [{ role: "user", content: "x" }] }, header: Record<string, unknown> = {}) =>
    source.push([openableJob(k.signingKey.id, k.kemKey, 30_000, plaintext, { maxPromptTokens: 40_000, ...header }).job]);
  const codes = () => posts.map((p) => (p.kind === "failed" ? p.code : p.kind));
  const reports = (n: number) => pollUntil(`${n} reports`, () => (codes().length >= n ? true : undefined), 8_000);
  const offline = () => beats.some((b) => b.offline);
  return { a, job, codes, reports, offline, lines, reportedAtDown: () => reportedAtDown };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const chat = (content: string) => ({ messages: [{ role: "user", content }] });

describe("agent runtime: a hung engine is taken down under any load and prompt size (review42 F2)", () => {
  it("llama-server with its slots stuck (/health ok) under steady 9 KiB chats at capacity 2: down within timeoutsBeforeDown canaries", async () => {
    // Prepare: every chat held, canaries too; /health answered by the HTTP thread
    const llama = await server((req, res, s) => {
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      if (req.url === "/health") return json(res, 200, { status: "ok" });
      s.held.push(res);
    });
    const { job, offline, lines, reportedAtDown } = await agentOn(llama.url, { capacity: 2 });

    // Act: two slots kept busy, offset by half a timeout, as steady traffic does
    const nine = "y".repeat(9 * 1024);
    job(chat(nine));
    await sleep(150);
    for (let i = 0; i < 11; i++) job(chat(nine));
    await pollUntil("the offline heartbeat", () => (offline() ? true : undefined), 10_000);

    // Assess: three canaries, each after a round of at most `capacity` job timeouts (agent42: never, after twelve)
    expect(reportedAtDown()).toBeLessThanOrEqual(3 * 2);
    const unanswered = lines.filter((l) => l.includes("engine left the canary unanswered with nothing else running"));
    expect(unanswered.length).toBeGreaterThanOrEqual(3); // (the engine back on its probe, jobs run and canaries go on)
    expect(unanswered.slice(0, 3).map((l) => (JSON.parse(l) as { timeouts: number }).timeouts)).toEqual([1, 2, 3]);
    expect(lines.some((l) => l.includes("engine down: leaving the candidate lists") && l.includes("engine_timeout"))).toBe(true);
  });

  it("capacity 1, every job a 17 KiB prompt (a coding agent's tools, RAG): down at the third timeout", async () => {
    const llama = await server((req, res, s) => {
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      if (req.url === "/health") return json(res, 200, { status: "ok" });
      s.held.push(res);
    });
    const { job, offline, reportedAtDown } = await agentOn(llama.url);
    const big = "z".repeat(17 * 1024);
    for (let i = 0; i < 5; i++) job(chat(big));
    await pollUntil("the offline heartbeat", () => (offline() ? true : undefined), 10_000);
    expect(reportedAtDown()).toBeLessThanOrEqual(3);
  });
});

describe("agent runtime: a requester's heavy jobs on an honest slow engine do not take it down (review42 F3)", () => {
  it("huge prompts, a huge json_schema, many images, long generations asked whole: each times out, the canary is answered, still serving", async () => {
    // Prepare: an engine too slow for any of these jobs within the 300 ms timeout (held; an
    // aborted call ends at once, as engines cancel a closed request), prompt answered to a canary;
    // it streams no usage, so the adapter asks chats whole after the first (TGI, older Ollama, llamafile)
    const slow = await server((req, res, s, body) => {
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      if (req.url === "/health") return json(res, 200, { status: "ok" });
      if (isCanary(body)) return json(res, 200, chatAnswer);
      if ((body as { stream?: boolean }).stream) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        const chunk = { id: "c", object: "chat.completion.chunk", created: 0, model: MODEL };
        res.end(
          `data: ${JSON.stringify({ ...chunk, choices: [{ index: 0, delta: { content: "o" }, finish_reason: "stop" }] })}\n\ndata: [DONE]\n\n`,
        );
        return;
      }
      s.held.push(res);
    });
    // timeoutsBeforeDown 1: any counted timeout would take it down
    const { a, job, codes, reports, offline } = await agentOn(slow.url, { engineHealth: { everyMs: 60_000, timeoutsBeforeDown: 1 } });
    job(); // learns the server streams no usage (the job fails unbilled)
    await reports(1);

    // Act
    const schema = {
      type: "object",
      properties: Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`field_${i}`, { enum: ["a", "b", "c", "d"] }])),
    };
    job(chat("w".repeat(17 * 1024)));
    job({ ...chat("x"), response_format: { type: "json_schema", json_schema: { name: "s", schema } } });
    job({ messages: [{ role: "user", content: Array.from({ length: 4 }, () => ({ type: "image_url", image_url: { url: PNG } })) }] });
    job(chat("write a long story"), { maxTokens: 32_000 });
    await reports(5);
    await sleep(300); // the last canary's verdict

    // Assess: four timeouts, four canaries answered, never offline
    expect(codes().slice(1)).toEqual(["engine_unavailable", "engine_unavailable", "engine_unavailable", "engine_unavailable"]);
    expect(slow.bodies.filter(isCanary)).toHaveLength(4);
    expect(offline()).toBe(false);
    expect(a.metrics.status.state).toBe("serving");
  });
});

describe("agent runtime: the canary goes out alone", () => {
  it("new jobs wait while a canary is wanted; it is sent once the call under way has ended, and they start after it", async () => {
    // Prepare: chat "hang" is held; chat "slow" streams for ~1 s; anything else answered at once
    const events: string[] = [];
    const llama = await server((req, res, s, body) => {
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      if (req.url === "/health") return json(res, 200, { status: "ok" });
      const text = JSON.stringify(body);
      if (isCanary(body)) {
        events.push("canary");
        return json(res, 200, chatAnswer);
      }
      if (text.includes("hang")) return void s.held.push(res);
      if (text.includes("later")) events.push("later");
      res.writeHead(200, { "content-type": "text/event-stream" });
      const chunk = (o: Record<string, unknown>) =>
        `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 0, model: MODEL, ...o })}\n\n`;
      let sent = 0;
      const tick = setInterval(() => {
        if (res.destroyed) return clearInterval(tick);
        if (sent++ < (text.includes("slow") ? 10 : 1))
          return void res.write(chunk({ choices: [{ index: 0, delta: { content: "o" }, finish_reason: null }] }));
        clearInterval(tick);
        res.write(chunk({ choices: [{ index: 0, delta: {}, finish_reason: "length" }] }));
        res.end(chunk({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } }) + "data: [DONE]\n\n");
        if (text.includes("slow")) events.push("slow ended");
      }, 100);
    });
    const { job, codes, reports, offline } = await agentOn(llama.url, {
      capacity: 2,
      engineHealth: { everyMs: 60_000, timeoutsBeforeDown: 1 },
    });

    // Act: the held job times out at 300 ms while the slow one streams; a job comes meanwhile
    job(chat("slow"));
    job(chat("hang"));
    await pollUntil("the timeout", () => (codes().includes("engine_unavailable") ? true : undefined), 3_000);
    job(chat("later"));
    await reports(3);

    // Assess
    expect(events).toEqual(["slow ended", "canary", "later"]);
    expect([...codes()].sort()).toEqual(["completed", "completed", "engine_unavailable"]);
    expect(offline()).toBe(false);
  });

  it("a canary the engine refuses as a request (HTTP 400) was answered all the same: still serving", async () => {
    // Prepare: jobs held; the canary refused as a request the engine would not take (its HTTP layer and model answer)
    const llama = await server((req, res, s, body) => {
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      if (req.url === "/health") return json(res, 200, { status: "ok" });
      if (isCanary(body)) return json(res, 400, { error: { message: "max_tokens too small for this model" } });
      s.held.push(res);
    });
    const { job, reports, offline, lines } = await agentOn(llama.url, { engineHealth: { everyMs: 60_000, timeoutsBeforeDown: 1 } });

    // Act
    job();
    await reports(1);
    await pollUntil("the canary's verdict", () => (lines.some((l) => l.includes("engine answered the canary")) ? true : undefined), 3_000);

    // Assess
    expect(offline()).toBe(false);
  });

  it("a drain while a canary is out waits for it, then runs the job that waited (not given back)", async () => {
    // Prepare: the first job held (it times out), the canary answered after 200 ms, the rest at once
    const llama = await server((req, res, s, body) => {
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      if (req.url === "/health") return json(res, 200, { status: "ok" });
      if (isCanary(body)) return void setTimeout(() => json(res, 200, chatAnswer), 200);
      if (JSON.stringify(body).includes("hang")) return void s.held.push(res);
      json(res, 200, chatAnswer);
    });
    const { a, job, codes, lines } = await agentOn(llama.url);

    // Act: the second job waits for the slot, then for the canary; the drain comes meanwhile
    job(chat("hang"));
    job(chat("after"));
    await pollUntil("the canary asked", () => (llama.bodies.some(isCanary) ? true : undefined), 3_000);
    await a.drain();

    // Assess
    expect(codes()).toEqual(["engine_unavailable", "completed"]);
    expect(lines.some((l) => l.includes("engine answered the canary"))).toBe(true);
  });

  it("canaryTimeoutMs: a canary answered later than it is unanswered (the job's own timeout notwithstanding)", async () => {
    // Prepare: the engine answers a canary after 150 ms and holds jobs
    const llama = await server((req, res, s, body) => {
      if (req.url === "/v1/models") return json(res, 200, modelList([MODEL]));
      if (req.url === "/health") return json(res, 200, { status: "ok" });
      if (isCanary(body)) return void setTimeout(() => json(res, 200, chatAnswer), 150);
      s.held.push(res);
    });
    const patient = await agentOn(llama.url, { engineHealth: { everyMs: 60_000, timeoutsBeforeDown: 1 } });
    const strict = await agentOn(llama.url, { engineHealth: { everyMs: 60_000, timeoutsBeforeDown: 1, canaryTimeoutMs: 50 } });

    // Act
    patient.job();
    strict.job();
    await pollUntil("the strict one offline", () => (strict.offline() ? true : undefined), 5_000);
    await patient.reports(1);
    await sleep(400); // the patient one's canary answered

    // Assess
    expect(patient.offline()).toBe(false);
    expect(patient.lines.some((l) => l.includes("engine answered the canary: busy, not hung"))).toBe(true);
  });
});
