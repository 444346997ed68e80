/**
 * The GPU owner's job loop (agent/runtime.ts startAgent), pinned where mutation testing found
 * behaviour no other suite holds: the slots the owner and the engine allow, registration that
 * waits out an API that is down, result posts retried within their budget (and what a duplicate
 * earns), lease extensions of long jobs, an engine that goes down and comes back, a poll or a
 * heartbeat answered not_a_worker, and drain(). The API is the local network (real handlers,
 * LMDB, loopback); where a test needs the API to fail, the agent's client fails that one
 * request before it is sent (ApiClient.requestJson), so every other request is real.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { afterEach, describe, expect, it, vi } from "vitest";
import { generateKemKey, generateSigningKey, type KemKeyPair, type SigningKeyPair } from "../core/crypto/keys";
import type { AgentJob, ResultRequest } from "../events/api";
import { API, ApiClient, ApiError, type RequestOptions } from "../api-client/api";
import { startNetwork } from "../local/network";
import { agentLogTo, MODEL, pollUntil } from "../test/helpers";
import { makeAttester } from "./attest";
import { EngineError, type Engine, type EngineRequest, type EngineResult } from "./engines/engine";
import { createAgentMetrics } from "./metrics";
import { startAgent, transient, type AgentOptions, type RunningAgent } from "./runtime";
import type { JobSource, WorkBatch } from "./sources/job-source";
import { sealedJob, gatedEngine as sharedGatedEngine } from "./job-testing";

// ------------------------------------------------------------------------- factories

type Cleanup = Array<() => Promise<unknown>>;
const shared: Cleanup = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const c of shared.splice(0).reverse()) await c().catch(() => {});
});
/** A test of `itIsolated` (one run concurrently) has a cleanup list of its own; the others share one, emptied after each. */
const scope = new AsyncLocalStorage<Cleanup>();
const cleanup = { push: (c: () => Promise<unknown>) => (scope.getStore() ?? shared).push(c) };
/** `it`, with the factories' cleanup (last in, first out) of this test alone, when it ends however it ends. */
const itIsolated = (name: string, fn: () => Promise<void>) =>
  it(name, async () => {
    const own: Cleanup = [];
    try {
      await scope.run(own, fn);
    } finally {
      for (const c of own.splice(0).reverse()) await c().catch(() => {});
    }
  });

async function network(): Promise<string> {
  const net = await startNetwork({ chain: false });
  cleanup.push(() => net.stop());
  return net.url;
}

interface Keys {
  signingKey: SigningKeyPair;
  kemKey: KemKeyPair;
}
const keys = (): Keys => ({ signingKey: generateSigningKey(), kemKey: generateKemKey() });

const RESULT: EngineResult = { text: "ok", usage: { promptTokens: 3, completionTokens: 1 }, finishReason: "stop", engine: "scripted" };

/**
 * An engine that answers each call with the next of `script` (a result, or an error to throw), then
 * with RESULT; `calls` counts the calls, `up` says whether models() (the agent's probe) answers.
 */
function scriptedEngine(script: Array<EngineResult | Error> = []) {
  const calls: EngineRequest[] = [];
  const engine: Engine & { calls: EngineRequest[]; up: boolean; probes: number } = {
    name: "scripted",
    calls,
    up: true,
    probes: 0,
    async models() {
      engine.probes++;
      if (!engine.up) throw new EngineError("engine_unavailable", "still down");
      return [MODEL];
    },
    async generate(req) {
      calls.push(req);
      const next = script.shift() ?? RESULT;
      if (next instanceof Error) throw next;
      return next;
    },
  };
  return engine;
}

/** A job source that hands out the scripted batches (or throws the scripted errors) in turn, then short empty polls. */
function scriptedSource(
  batches: Array<AgentJob[] | WorkBatch | Error>,
): JobSource & { polls: number; waits: number[]; push(...b: Array<AgentJob[] | WorkBatch | Error>): void } {
  const s = {
    polls: 0,
    waits: [] as number[],
    push: (...b: Array<AgentJob[] | WorkBatch | Error>) => void batches.push(...b),
    async next(wait: number): Promise<WorkBatch> {
      s.polls++;
      s.waits.push(wait);
      const b = batches.shift();
      if (b instanceof Error) throw b;
      if (b) return Array.isArray(b) ? { jobs: b, challenges: [] } : b;
      await new Promise((r) => setTimeout(r, 20));
      return { jobs: [], challenges: [] };
    },
  };
  return s;
}

type Agent = RunningAgent & { results: ResultRequest[]; lines: string[] };

/** A dev agent with quick backoff and short polls; `results` holds every result it posted, `lines` its log. */
async function agent(apiUrl: string, k: Keys, o: Partial<AgentOptions> = {}): Promise<Agent> {
  const lines: string[] = [];
  const a = await startAgent({
    apiUrl,
    ...k,
    engine: scriptedEngine(),
    models: [{ model: MODEL, priceBps: 10_000 }],
    capacity: 1,
    attest: makeAttester({ tier: "dev", ...k }),
    log: agentLogTo(lines),
    pollWaitSeconds: 1,
    heartbeatMs: 500,
    tickMs: 50,
    backoff: { baseMs: 20, capMs: 100 },
    resultRetryMs: 1_000,
    ...o,
  });
  cleanup.push(() => a.stop());
  const results: ResultRequest[] = [];
  const request = a.api.request.bind(a.api);
  a.api.request = ((route: typeof API.postResult, ro?: RequestOptions<ResultRequest>) => {
    if (route === API.postResult && ro?.body) results.push(ro.body);
    return request(route, ro);
  }) as typeof a.api.request;
  return Object.assign(a, { results, lines });
}

/**
 * What the agent's client sends to `path`: `rule` answers it instead of the API (an error to
 * throw, or JSON to return) or lets it through (undefined). `bodies` keeps what was sent there.
 */
function intercept(client: ApiClient, path: string, rule: (body: unknown, n: number) => ApiError | { json: unknown } | undefined) {
  const real = client.requestJson.bind(client);
  const bodies: unknown[] = [];
  client.requestJson = async (method, p, body, headers, signal) => {
    if (p !== path) return real(method, p, body, headers, signal);
    bodies.push(body);
    const r = rule(body, bodies.length);
    if (r instanceof ApiError) throw r;
    if (r) return r.json;
    return real(method, p, body, headers, signal);
  };
  return bodies;
}

/** The same, for every client made from now on (the agent's registration happens inside startAgent). */
function interceptAll(path: string, rule: (body: unknown, n: number) => ApiError | { json: unknown } | undefined) {
  const real = ApiClient.prototype.requestJson;
  const bodies: unknown[] = [];
  vi.spyOn(ApiClient.prototype, "requestJson").mockImplementation(async function (this: ApiClient, method, p, body, headers, signal) {
    if (p !== path) return real.call(this, method, p, body, headers, signal);
    bodies.push(body);
    const r = rule(body, bodies.length);
    if (r instanceof ApiError) throw r;
    if (r) return r.json;
    return real.call(this, method, p, body, headers, signal);
  });
  return bodies;
}

const down = () => new ApiError(500, "internal", "the coordinator failed");
const logged = (a: { lines: string[] }, msg: string) => a.lines.filter((l) => (JSON.parse(l) as { msg: string }).msg === msg);
const sample = (a: RunningAgent, line: RegExp) => a.metrics.render().match(line)?.[1];

/** A job like sealedJob's default, of another kind of request (`plaintext`: a completion, embeddings, a chat with tools). */
const sealedRequest = (k: Keys, plaintext: Record<string, unknown>): AgentJob => sealedJob(k.signingKey.id, k.kemKey, 30_000, plaintext);

// ------------------------------------------------------------------------- tests

describe("agent runtime: slots", () => {
  it("runs as many jobs at once as the owner allows, bounded by the engine's capacity and never fewer than one", async () => {
    // Prepare
    const url = await network();
    const registered = interceptAll(API.registerWorker.path, () => undefined);
    // Act
    const bounded = await agent(url, keys(), { capacity: 3, engineCapacity: 2 });
    const owner = await agent(url, keys(), { capacity: 3 });
    const zero = await agent(url, keys(), { capacity: 0 });
    const unset = await agent(url, keys(), { capacity: undefined });
    // Assess: the status and what each registration told the coordinator
    expect([bounded, owner, zero, unset].map((a) => a.metrics.status.capacity)).toEqual([2, 3, 1, 1]);
    expect(registered.map((b) => (b as { capacity: number }).capacity)).toEqual([2, 3, 1, 1]);
    expect(bounded.metrics.status).toMatchObject({ workerId: bounded.workerId, tier: "dev", state: "serving" });
    expect(JSON.parse(logged(bounded, "registered")[0]!)).toMatchObject({
      workerId: bounded.workerId,
      tier: "dev",
      confidential: false,
      models: [MODEL],
      capacity: 2,
    });
  });
});

describe("agent runtime: the first registration", () => {
  it("waits out an API failing with 5xx within registerRetryMs: api_down meanwhile, each failure counted, then serving", async () => {
    // Prepare: the first two nonce requests fail
    const url = await network();
    const nonces = interceptAll(API.workerNonce.path, (_b, n) => (n <= 2 ? down() : undefined));
    const metrics = createAgentMetrics();
    const states: string[] = [];
    const setState = metrics.setState.bind(metrics);
    metrics.setState = (s) => (states.push(s), setState(s));
    // Act
    const a = await agent(url, keys(), { registerRetryMs: 10_000, metrics });
    // Assess
    expect(nonces.length).toBe(3);
    expect(states.slice(0, 3)).toEqual(["api_down", "api_down", "serving"]);
    expect(sample(a, /cocoon_agent_errors_total\{code="internal",where="register"\} (\d+)/)).toBe("2");
  });

  it("fails at once on a refusal, and on any failure without a retry budget", async () => {
    // Prepare
    const url = await network();
    const refused = interceptAll(API.workerNonce.path, () => new ApiError(401, "bad_signature", "refused"));
    // Act
    const withBudget = await agent(url, keys(), { registerRetryMs: 10_000 }).catch((e: unknown) => e);
    vi.restoreAllMocks();
    const failing = interceptAll(API.workerNonce.path, () => down());
    const noBudget = await agent(url, keys()).catch((e: unknown) => e);
    // Assess
    expect(withBudget).toMatchObject({ code: "bad_signature" });
    expect(refused.length).toBe(1);
    expect(noBudget).toMatchObject({ code: "internal" });
    expect(failing.length).toBe(1);
  });

  it("gives up a failing API once registerRetryMs has passed", async () => {
    // Prepare
    const url = await network();
    const failing = interceptAll(API.workerNonce.path, () => down());
    // Act
    const t0 = Date.now();
    const e = await agent(url, keys(), { registerRetryMs: 300 }).catch((x: unknown) => x);
    // Assess: retried for the budget, then the last failure
    expect(e).toMatchObject({ code: "internal" });
    expect(failing.length).toBeGreaterThan(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});

const TAKEN = { json: { status: "completed", cost: "777", duplicate: false } };

describe("agent runtime: posting a result", () => {
  /** An agent whose result posts `rule` answers (TAKEN when it passes one), then one job for it. */
  async function posting(rule: (body: unknown, n: number) => ApiError | { json: unknown } | undefined, o: Partial<AgentOptions> = {}) {
    const url = await network();
    const k = keys();
    const source = scriptedSource([]);
    const a = await agent(url, k, { jobSource: source, resultRetryMs: 10_000, ...o });
    const posts = intercept(a.api, API.postResult.path, (b, n) => rule(b, n) ?? TAKEN) as ResultRequest[];
    source.push([sealedJob(k.signingKey.id, k.kemKey)]);
    return { a, posts };
  }
  const finished = (a: RunningAgent) => (a.metrics.status.total.jobs + a.metrics.status.total.failed > 0 ? true : undefined);

  it("a post the API fails with 5xx is sent again until taken, after the owner's backoff; the job counts once, as completed", async () => {
    // Prepare: backoff of 20 ms, doubling
    const { a, posts } = await posting((_b, n) => (n <= 2 ? down() : undefined));
    const t0 = Date.now();
    // Act
    await pollUntil("the job finished", () => finished(a), 8_000);
    // Assess
    expect(posts.map((p) => p.kind)).toEqual(["completed", "completed", "completed"]);
    expect(Date.now() - t0).toBeLessThan(800);
    expect(a.metrics.status.total).toMatchObject({ jobs: 1, failed: 0, earned: "777" });
    expect(a.stats).toMatchObject({ jobs: 1, failed: 0, promptTokens: 3, completionTokens: 1 });
  });

  it("a post the API answers slowly (1.5 s) within its budget is waited for, not sent again; so is one without a budget set", async () => {
    // Prepare: every post answered after 1.5 s, unless given up
    const slow = async (_b: unknown, signal?: AbortSignal) => {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, 1_500);
        signal?.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason as Error)), { once: true });
      });
      return TAKEN;
    };
    const url = await network();
    const runs = await Promise.all(
      [10_000, undefined].map(async (resultRetryMs) => {
        const k = keys();
        const source = scriptedSource([]);
        const a = await agent(url, k, { jobSource: source, resultRetryMs });
        const posts: unknown[] = [];
        const real = a.api.requestJson.bind(a.api);
        a.api.requestJson = async (method, path, body, headers, signal) =>
          path === API.postResult.path ? (posts.push(body), (await slow(body, signal)).json) : real(method, path, body, headers, signal);
        source.push([sealedJob(k.signingKey.id, k.kemKey)]);
        return { a, posts };
      }),
    );
    // Act
    for (const { a } of runs) await pollUntil("the job finished", () => finished(a), 8_000);
    // Assess
    expect(runs.map(({ posts }) => posts.length)).toEqual([1, 1]);
    expect(runs.map(({ a }) => a.metrics.status.total.jobs)).toEqual([1, 1]);
  });

  it("a post refused by the API is not sent again; the job counts as failed with the refusal's code", async () => {
    // Prepare
    const { a, posts } = await posting(() => new ApiError(409, "conflict", "taken"));
    // Act
    await pollUntil("the job finished", () => finished(a), 8_000);
    // Assess: the completed post once, then the failure report once
    expect(posts.map((p) => p.kind)).toEqual(["completed", "failed"]);
    expect(sample(a, /cocoon_agent_errors_total\{code="conflict",where="job"\} (\d+)/)).toBe("1");
  });

  it("a failure report the API takes counts the job as failed with the report's code", async () => {
    // Prepare: the engine refuses the request; the report passes
    const engine = scriptedEngine([new EngineError("engine_rejected", "prompt too long")]);
    engine.up = false; // were it taken as down, no probe would bring it back
    const { a, posts } = await posting(() => undefined, { engine });
    // Act
    await pollUntil("the job finished", () => finished(a), 8_000);
    // Assess
    expect(posts.map((p) => [p.kind, p.kind === "failed" ? p.code : undefined])).toEqual([["failed", "engine_rejected"]]);
    expect(sample(a, /cocoon_agent_errors_total\{code="engine_rejected",where="job"\} (\d+)/)).toBe("1");
    expect(a.metrics.status.lastError).toMatchObject({ code: "engine_rejected" });
    expect(a.metrics.status.state).toBe("serving"); // one bad request: the engine is not down
  });

  it("a post answered stale_attempt counts the job as stale, not failed", async () => {
    // Prepare
    const { a, posts } = await posting(() => new ApiError(409, "stale_attempt", "moved"));
    // Act
    await pollUntil("the job counted", () => sample(a, /cocoon_agent_jobs_total\{outcome="stale"\} (\d+)/), 8_000);
    // Assess
    expect(posts.length).toBe(1);
    expect(a.metrics.render()).not.toMatch(/outcome="failed"/);
    expect(a.metrics.status.lastError).toMatchObject({ code: "stale_attempt" });
  });

  it("a post the API keeps failing is given up once resultRetryMs has passed", async () => {
    // Prepare
    const t0 = Date.now();
    const { a, posts } = await posting(() => down(), { resultRetryMs: 400 });
    // Act
    await pollUntil("the job failed", () => finished(a), 8_000);
    // Assess
    expect(posts.length).toBeGreaterThan(2);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(sample(a, /cocoon_agent_errors_total\{code="internal",where="job"\} (\d+)/)).toBe("1");
  });

  it("a post its caller gives up (an aborted signal) is not sent at all", async () => {
    // Prepare
    const url = await network();
    const k = keys();
    const a = await agent(url, k);
    const sent = intercept(a.api, API.postResult.path, () => undefined);
    const body: ResultRequest = {
      kind: "failed",
      jobId: sealedJob(k.signingKey.id, k.kemKey).jobId,
      attempt: 0,
      code: "engine_unavailable",
    };
    // Act
    const e = await a.api.request(API.postResult, { body, signal: AbortSignal.abort() }).catch((x: unknown) => x);
    // Assess: an abort, not an answer of the API
    expect(e).not.toBeInstanceOf(ApiError);
    expect((e as Error).name).toBe("AbortError");
    expect(sent.length).toBe(1); // reached the client's transport, which refused to send it
  });

  it("a completed job earns what the API says it cost; a duplicate of one already taken earns nothing", async () => {
    // Prepare
    const paid = await posting(() => undefined);
    const dup = await posting(() => ({ json: { status: "completed", cost: "777", duplicate: true } }));
    // Act
    for (const { a } of [paid, dup]) await pollUntil("the job finished", () => finished(a), 8_000);
    // Assess
    expect(paid.a.metrics.status.total).toMatchObject({ jobs: 1, earned: "777", promptTokens: 3, completionTokens: 1 });
    expect(dup.a.metrics.status.total).toMatchObject({ jobs: 1, earned: "0" });
    const receipt = (paid.posts[0] as Extract<ResultRequest, { kind: "completed" }>).receipt;
    expect(receipt.body.measurement).toBe(paid.a.measurement); // what the registration named
  });

  it("under an operator fee a completed job earns the worker's credit the API names, not the requester's cost", async () => {
    // Prepare: 777 charged, 5 % of it (38) the operator's
    const { a } = await posting(() => ({ json: { status: "completed", cost: "777", credit: "739", duplicate: false } }));
    // Act
    await pollUntil("the job finished", () => finished(a), 8_000);
    // Assess
    expect(a.metrics.status.total).toMatchObject({ jobs: 1, earned: "739" });
  });
});

/** agent/job-testing.ts gatedEngine, opened when the test ends */
function gatedEngine() {
  const engine = sharedGatedEngine(RESULT);
  cleanup.push(async () => engine.open());
  return engine;
}

/** Answers the agent's lease extensions with `answer` (n: the how-manyth ask) instead of asking the API; `asked` holds when each came. */
function leaseAnswers(a: RunningAgent, answer: (n: number) => { leaseUntil: number; extended: boolean } | ApiError) {
  const asked: number[] = [];
  const request = a.api.request.bind(a.api);
  a.api.request = (async (route: typeof API.extendLease, ro?: RequestOptions<{ jobId: string; attempt: number }>) => {
    if (route !== API.extendLease) return request(route, ro);
    asked.push(Date.now());
    const r = answer(asked.length);
    if (r instanceof ApiError) throw r;
    return r;
  }) as typeof a.api.request;
  return asked;
}

// The seven wait out the lease's real timings (half a lease; the retry, 1 s by default, shorter where
// set through the test-only waits.leaseRetryMs) and share nothing (each has its own network, agent
// and engine; no module mocks): run at once.
describe.concurrent("agent runtime: the lease of a long job", () => {
  /** An agent running one job with a 1.2 s lease on an engine that holds it; the lease asks answered by `answer`. */
  async function longJob(
    answer: (n: number) => { leaseUntil: number; extended: boolean } | ApiError,
    leaseMs = 1_200,
    waits: AgentOptions["waits"] = {},
  ) {
    const url = await network();
    const k = keys();
    const engine = gatedEngine();
    const source = scriptedSource([]);
    const a = await agent(url, k, { engine, jobSource: source, capacity: 2, waits });
    cleanup.push(async () => engine.open()); // before the agent's stop, which waits for the job
    const asked = leaseAnswers(a, answer);
    intercept(a.api, API.postResult.path, () => TAKEN);
    const t0 = Date.now();
    source.push([sealedJob(k.signingKey.id, k.kemKey, leaseMs)]);
    await pollUntil("the job on the engine", () => (engine.calls.length === 1 ? true : undefined), 5_000);
    /** Another job like it, on the second slot. */
    const another = () => source.push([sealedJob(k.signingKey.id, k.kemKey, leaseMs)]);
    return { a, asked, engine, t0, another };
  }
  const waitMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

  itIsolated("is extended once half of it is left, and again before the extended lease runs out; each extension counted", async () => {
    // Prepare / Act: each extension grants 1.2 s more
    const { a, asked, t0 } = await longJob(() => ({ leaseUntil: Date.now() + 1_200, extended: true }));
    await pollUntil("three extensions", () => (asked.length >= 3 ? true : undefined), 5_000);
    // Assess: the first at about half the lease (not at once, not at its end), each counted
    expect(asked[0]! - t0).toBeGreaterThanOrEqual(400);
    expect(asked[0]! - t0).toBeLessThan(1_100);
    expect(asked[1]! - asked[0]!).toBeGreaterThanOrEqual(400);
    expect(Number(sample(a, /cocoon_agent_lease_extensions_total (\d+)/))).toBeGreaterThanOrEqual(2);
  });

  itIsolated("a job at its longest life (extended: false) is not asked about again", async () => {
    // Prepare / Act
    const { a, asked } = await longJob(() => ({ leaseUntil: Date.now(), extended: false }));
    await pollUntil("the first ask", () => (asked.length === 1 ? true : undefined), 3_000);
    await waitMs(800); // an ask again would come 250 ms on (keepLease's shortest wait)
    // Assess
    expect(asked.length).toBe(1);
    expect(sample(a, /cocoon_agent_lease_extensions_total (\d+)/)).toBe("0");
  });

  itIsolated("a coordinator without the lease route (404) is not asked again, for this job or the next", async () => {
    // Prepare / Act
    const { a, asked, engine, another } = await longJob(() => new ApiError(404, "not_found", "no such route"));
    await pollUntil(
      "the warning",
      () => (logged(a, "the coordinator cannot extend leases; long jobs may be failed over").length ? true : undefined),
      3_000,
    );
    another();
    await pollUntil("the next job on the engine", () => (engine.calls.length === 2 ? true : undefined), 3_000);
    await waitMs(1_200);
    // Assess
    expect(asked.length).toBe(1);
  });

  itIsolated("an extension the API fails (5xx) is asked again a retry later, while the lease lasts", async () => {
    // Prepare / Act: the first ask fails, the next is granted; the retry is 500 ms here (1 s by default)
    const { asked } = await longJob((n) => (n === 1 ? down() : { leaseUntil: Date.now() + 1_200, extended: true }), 1_200, {
      leaseRetryMs: 500,
    });
    await pollUntil("the second ask", () => (asked.length >= 2 ? true : undefined), 3_000);
    // Assess: about the retry apart, not keepLease's shortest wait (250 ms: what half the lease left gives)
    expect(asked[1]! - asked[0]!).toBeGreaterThanOrEqual(450);
    expect(asked[1]! - asked[0]!).toBeLessThan(900);
  });

  itIsolated("an extension the API keeps failing is not asked again once the lease has run out", async () => {
    // Prepare / Act: asked at half the lease (0.6 s), again a retry (800 ms here) later, past its end, then no more
    const { a, asked } = await longJob(() => down(), 1_200, { leaseRetryMs: 800 });
    await pollUntil("the second ask", () => (asked.length === 2 ? true : undefined), 3_000);
    await waitMs(1_100); // a third ask would come 800 ms on
    // Assess
    expect(asked.length).toBe(2);
    expect(sample(a, /cocoon_agent_errors_total\{code="internal",where="lease"\} (\d+)/)).toBe("1");
  });

  itIsolated("a longer lease is first extended when half of it is left, not a second before its end", async () => {
    // Prepare / Act: a 4 s lease
    const { asked, t0 } = await longJob(() => ({ leaseUntil: Date.now() + 4_000, extended: true }), 4_000);
    await pollUntil("the first ask", () => (asked.length >= 1 ? true : undefined), 5_000);
    // Assess
    expect(asked[0]! - t0).toBeGreaterThanOrEqual(1_500);
    expect(asked[0]! - t0).toBeLessThan(2_800);
  });

  itIsolated("an extension refused otherwise (unknown_job) is logged as a lease error and not asked again", async () => {
    // Prepare / Act
    const { a, asked } = await longJob(() => new ApiError(404, "unknown_job", "no such job"));
    await pollUntil("the lease error", () => sample(a, /cocoon_agent_errors_total\{code="unknown_job",where="lease"\} (\d+)/), 3_000);
    await waitMs(1_200);
    // Assess
    expect(asked.length).toBe(1);
    expect(logged(a, "the coordinator cannot extend leases; long jobs may be failed over")).toEqual([]);
  });
});

describe("agent runtime: an engine that goes down", () => {
  it("leaves the candidate lists at once, fails the next job without calling the engine, and comes back when a probe answers", async () => {
    // Prepare: the first call finds the engine down; its probe fails until the test brings it back
    const url = await network();
    const k = keys();
    const engine = scriptedEngine([new EngineError("engine_unavailable", "connection refused")]);
    const source = scriptedSource([]);
    // no regular heartbeat during the test: the offline one is the agent's own announcement
    const a = await agent(url, k, { engine, jobSource: source, heartbeatMs: 60_000 });
    const beats = intercept(a.api, API.heartbeat.path, () => undefined) as Array<{ offline: boolean }>;
    const posts = intercept(a.api, API.postResult.path, () => TAKEN) as ResultRequest[];
    engine.up = false;
    // Act 1: a job finds it down
    source.push([sealedJob(k.signingKey.id, k.kemKey)]);
    await pollUntil("the offline heartbeat", () => (beats.some((b) => b.offline) ? true : undefined), 3_000);
    const downState = a.metrics.status.state;
    const probes = engine.probes;
    await pollUntil("probes while down", () => (engine.probes > probes ? true : undefined), 3_000);
    source.push([sealedJob(k.signingKey.id, k.kemKey)]);
    await pollUntil("two failure reports", () => (posts.length === 2 ? true : undefined), 3_000);
    const callsWhileDown = engine.calls.length;
    // Act 2: it comes back
    engine.up = true;
    await pollUntil("serving again", () => (a.metrics.status.state === "serving" ? true : undefined), 3_000);
    const offlineAt = beats.findIndex((b) => b.offline);
    await pollUntil("an online heartbeat", () => (beats.slice(offlineAt).some((b) => !b.offline) ? true : undefined), 3_000);
    source.push([sealedJob(k.signingKey.id, k.kemKey)]);
    await pollUntil("the third job run", () => (posts.length === 3 ? true : undefined), 3_000);
    // Assess
    expect(downState).toBe("engine_down");
    expect(callsWhileDown).toBe(1);
    expect(posts.map((p) => (p.kind === "failed" ? p.code : p.kind))).toEqual(["engine_unavailable", "engine_unavailable", "completed"]);
    expect(sample(a, /cocoon_agent_errors_total\{code="engine_unavailable",where="engine"\} (\d+)/)).toBe("1");
    expect(logged(a, "engine back: taking jobs again").length).toBe(1);
  });
});

describe("agent runtime: an engine that answers one request with an error of its own (review, session 21)", () => {
  /** vLLM's answer to a request it failed on: a 500 with its own text, which can echo the prompt */
  const fault = () =>
    new EngineError("engine_unavailable", "POST /v1/chat/completions answered HTTP 500: bad token in SECRET PROMPT", {
      engine: "scripted",
      status: 500,
      serverMessage: "bad token in SECRET PROMPT",
    });

  /** Factory: an agent whose engine answers its first call with `fault()`; its heartbeats recorded (no regular one during the test) */
  async function faultyAgent() {
    const url = await network();
    const k = keys();
    const engine = scriptedEngine([fault()]);
    const source = scriptedSource([]);
    const a = await agent(url, k, { engine, jobSource: source, heartbeatMs: 60_000 });
    const beats = intercept(a.api, API.heartbeat.path, () => undefined) as Array<{ offline: boolean }>;
    return { k, engine, source, a, beats };
  }

  it("an engine whose probe answers stays on the lists: the next job runs on it, no offline heartbeat", async () => {
    // Prepare
    const { k, engine, source, a, beats } = await faultyAgent();
    const posts = intercept(a.api, API.postResult.path, () => TAKEN) as ResultRequest[];
    // Act
    source.push([sealedJob(k.signingKey.id, k.kemKey)]);
    await pollUntil("the failure report", () => (posts.length === 1 ? true : undefined), 3_000);
    await pollUntil("the confirming probe", () => (engine.probes >= 1 ? true : undefined), 3_000);
    await new Promise((r) => setTimeout(r, 100));
    source.push([sealedJob(k.signingKey.id, k.kemKey)]);
    await pollUntil("the second report", () => (posts.length === 2 ? true : undefined), 3_000);
    // Assess: the old code went offline on the 500 and failed the second job without calling the engine
    expect(posts.map((p) => (p.kind === "failed" ? p.code : p.kind))).toEqual(["engine_unavailable", "completed"]);
    expect(engine.calls.length).toBe(2);
    expect(beats.some((b) => b.offline)).toBe(false);
    expect(a.metrics.status.state).toBe("serving");
    expect(logged(a, "engine failed one request but answers its probe: still serving").length).toBe(1);
  });

  it("an engine whose probe fails too goes down, and /status names the status, never the engine's text", async () => {
    // Prepare
    const { k, engine, source, a, beats } = await faultyAgent();
    intercept(a.api, API.postResult.path, () => TAKEN);
    const errors: string[][] = [];
    const record = a.metrics.error.bind(a.metrics);
    a.metrics.error = (where, code, msg) => (errors.push([where, code, msg]), record(where, code, msg));
    // Act
    engine.up = false;
    source.push([sealedJob(k.signingKey.id, k.kemKey)]);
    await pollUntil("the offline heartbeat", () => (beats.some((b) => b.offline) ? true : undefined), 3_000);
    // Assess
    expect(a.metrics.status.state).toBe("engine_down");
    expect(errors.filter(([where]) => where === "engine")).toEqual([
      ["engine", "engine_unavailable", "the engine answered HTTP 500 (its own text is kept inside: it can echo a prompt)"],
    ]);
    expect(JSON.stringify(a.metrics.doc())).not.toContain("SECRET");
    expect(a.lines.join("\n")).not.toContain("SECRET");
  });
});

describe("agent runtime: the engine's other ways of answering", () => {
  const unavailable = () => new EngineError("engine_unavailable", "connection refused");
  /** An engine whose only way to answer is `way`, failing as down; `calls` counts the calls that reached it. */
  function onlyWay(way: "stream" | "streamCompletion" | "complete" | "embed") {
    const engine = Object.assign(scriptedEngine(), { wayCalls: 0 });
    engine.up = false;
    engine.generate = () => Promise.reject(new Error("generate must not be called"));
    const fail = () => {
      engine.wayCalls++;
      throw unavailable();
    };
    const failing = async function* (): AsyncGenerator<never> {
      fail();
      yield* [];
    };
    if (way === "stream") engine.stream = failing;
    if (way === "streamCompletion") engine.streamCompletion = failing;
    if (way === "complete") engine.complete = async () => fail();
    if (way === "embed") engine.embed = async () => fail();
    return engine;
  }
  const requests = {
    stream: { messages: [{ role: "user", content: "x" }] },
    streamCompletion: { kind: "completion", prompt: "x" },
    complete: { kind: "completion", prompt: "x" },
    embed: { kind: "embedding", input: ["x"] },
  };

  for (const way of ["stream", "streamCompletion", "complete", "embed"] as const)
    it(`${way}: timed, an engine_unavailable from it takes the agent off the lists, and it is not called while down`, async () => {
      // Prepare
      const url = await network();
      const k = keys();
      const engine = onlyWay(way);
      const source = scriptedSource([]);
      const a = await agent(url, k, { engine, jobSource: source });
      const posts = intercept(a.api, API.postResult.path, () => TAKEN) as ResultRequest[];
      // Act
      source.push([sealedRequest(k, requests[way])]);
      await pollUntil("engine_down", () => (a.metrics.status.state === "engine_down" ? true : undefined), 3_000);
      source.push([sealedRequest(k, requests[way])]);
      await pollUntil("two reports", () => (posts.length === 2 ? true : undefined), 3_000);
      // Assess
      expect(engine.wayCalls).toBe(1);
      expect(posts.map((p) => (p.kind === "failed" ? p.code : p.kind))).toEqual(["engine_unavailable", "engine_unavailable"]);
      expect(a.metrics.totals().engine.count).toBe(1);
    });

  it("stream: an error about the request alone (engine_rejected) leaves the agent serving", async () => {
    // Prepare
    const url = await network();
    const k = keys();
    const engine = scriptedEngine();
    engine.up = false; // were it taken as down, no probe would bring it back
    engine.stream = async function* () {
      yield* [];
      throw new EngineError("engine_rejected", "prompt too long");
    };
    const source = scriptedSource([]);
    const a = await agent(url, k, { engine, jobSource: source });
    const posts = intercept(a.api, API.postResult.path, () => TAKEN) as ResultRequest[];
    // Act
    source.push([sealedRequest(k, requests.stream)]);
    await pollUntil("the report", () => (posts.length === 1 ? true : undefined), 3_000);
    // Assess
    expect(posts[0]).toMatchObject({ kind: "failed", code: "engine_rejected" });
    expect(a.metrics.status.state).toBe("serving");
  });

  it("capabilities: what the engine says it cannot do refuses a job before the engine is called", async () => {
    // Prepare: an engine that cannot call tools, and a chat job that asks for them
    const url = await network();
    const k = keys();
    const engine = scriptedEngine();
    const withCaps: Engine = {
      ...engine,
      generate: (r) => engine.generate(r),
      capabilities: async () => ({ chat: true, completions: true, embeddings: false, streaming: false, tools: false, jsonSchema: false }),
    };
    const source = scriptedSource([]);
    const a = await agent(url, k, { engine: withCaps, jobSource: source });
    const posts = intercept(a.api, API.postResult.path, () => TAKEN) as ResultRequest[];
    // Act
    source.push([sealedRequest(k, { messages: [{ role: "user", content: "x" }], tools: [{ type: "function", function: { name: "f" } }] })]);
    await pollUntil("the report", () => (posts.length === 1 ? true : undefined), 3_000);
    // Assess
    expect(posts[0]).toMatchObject({ kind: "failed", code: "engine_rejected" });
    expect(engine.calls.length).toBe(0);
  });
});

describe("agent runtime: an engine found down twice at once", () => {
  it("is announced and counted once; its first probe waits for the probe's backoff", async () => {
    // Prepare: capacity 2; both calls fail together once the test says; probes back off 2 s
    const url = await network();
    const k = keys();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const engine = scriptedEngine();
    engine.up = false;
    engine.generate = async (req) => {
      engine.calls.push(req);
      await gate;
      throw new EngineError("engine_unavailable", "connection refused");
    };
    const source = scriptedSource([]);
    const a = await agent(url, k, {
      engine,
      jobSource: source,
      capacity: 2,
      heartbeatMs: 60_000,
      backoff: { baseMs: 2_000, capMs: 2_000, random: () => 0.999 },
    });
    const beats = intercept(a.api, API.heartbeat.path, () => undefined) as Array<{ offline: boolean }>;
    const posts = intercept(a.api, API.postResult.path, () => TAKEN);
    source.push([sealedJob(k.signingKey.id, k.kemKey), sealedJob(k.signingKey.id, k.kemKey)]);
    await pollUntil("both on the engine", () => (engine.calls.length === 2 ? true : undefined), 3_000);
    // Act
    release();
    await pollUntil("both reported", () => (posts.length === 2 ? true : undefined), 3_000);
    await new Promise((r) => setTimeout(r, 300));
    // Assess
    expect(sample(a, /cocoon_agent_errors_total\{code="engine_unavailable",where="engine"\} (\d+)/)).toBe("1");
    expect(beats.filter((b) => b.offline).length).toBe(1);
    expect(engine.probes).toBe(0);
  });
});

describe("agent runtime: heartbeats and ticks by default", () => {
  it("heartbeats as often as the coordinator asks (seconds) and ticks at least that often, unless the owner sets the tick", async () => {
    // Prepare: one agent on the coordinator's interval (tens of seconds), one with 300 ms heartbeats and no tick set
    const url = await network();
    const coordinators = await agent(url, keys(), { heartbeatMs: undefined });
    const own = await agent(url, keys(), { heartbeatMs: 300, tickMs: undefined });
    const slowTick = await agent(url, keys(), { heartbeatMs: 300, tickMs: 10_000 });
    const byCoordinator = intercept(coordinators.api, API.heartbeat.path, () => undefined);
    const byOwn = intercept(own.api, API.heartbeat.path, () => undefined);
    const bySlowTick = intercept(slowTick.api, API.heartbeat.path, () => undefined);
    // Act
    await pollUntil("own heartbeats", () => (byOwn.length >= 2 ? true : undefined), 3_000);
    // Assess
    expect(byCoordinator.length).toBe(0);
    expect(bySlowTick.length).toBe(0); // the owner's tick is kept: heartbeats are checked on it
  });
});

describe("agent runtime: a slow heartbeat", () => {
  it("answered within 5 s is waited for, even with heartbeats every 500 ms", async () => {
    // Prepare: every heartbeat answered after 0.9 s (past the 500 ms interval), unless given up first
    const url = await network();
    const a = await agent(url, keys(), { heartbeatMs: 500 });
    const outcomes: string[] = [];
    const real = a.api.requestJson.bind(a.api);
    a.api.requestJson = async (method, path, body, headers, signal) => {
      if (path !== API.heartbeat.path) return real(method, path, body, headers, signal);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, 900);
        signal?.addEventListener("abort", () => (clearTimeout(t), outcomes.push("given up"), reject(signal.reason as Error)), {
          once: true,
        });
      });
      outcomes.push("answered");
      return real(method, path, body, headers, signal);
    };
    // Act
    await pollUntil("a slow heartbeat settled", () => (outcomes.length > 0 ? true : undefined), 5_000);
    // Assess
    expect(outcomes[0]).toBe("answered");
  });
});

describe("agent runtime: an engine that crashed", () => {
  it("is down too: the agent leaves the candidate lists", async () => {
    // Prepare
    const url = await network();
    const k = keys();
    const engine = scriptedEngine([new EngineError("engine_crashed", "the process died")]);
    engine.up = false;
    const source = scriptedSource([]);
    const a = await agent(url, k, { engine, jobSource: source });
    intercept(a.api, API.postResult.path, () => TAKEN);
    // Act
    source.push([sealedJob(k.signingKey.id, k.kemKey)]);
    // Assess
    await pollUntil("engine_down", () => (a.metrics.status.state === "engine_down" ? true : undefined), 3_000);
  });
});

describe("agent runtime: the engine's probe", () => {
  it("is not held back by a long housekeeping tick: an engine back is found within its probe's backoff", async () => {
    // Prepare: ticks 10 s apart; the engine goes down on the first job
    const url = await network();
    const k = keys();
    const engine = scriptedEngine([new EngineError("engine_unavailable", "connection refused")]);
    engine.up = false;
    const source = scriptedSource([]);
    const a = await agent(url, k, { engine, jobSource: source, tickMs: 10_000 });
    intercept(a.api, API.postResult.path, () => TAKEN);
    source.push([sealedJob(k.signingKey.id, k.kemKey)]);
    await pollUntil("engine_down", () => (a.metrics.status.state === "engine_down" ? true : undefined), 3_000);
    // Act
    const probes = engine.probes;
    engine.up = true;
    // Assess: probed and back well before the next tick
    await pollUntil("serving again", () => (a.metrics.status.state === "serving" ? true : undefined), 3_000);
    expect(engine.probes).toBeGreaterThan(probes);
  });
});

describe("agent runtime: the poll loop", () => {
  it("long-polls with the wait the owner set, 20 s when unset", async () => {
    // Prepare
    const url = await network();
    const set = scriptedSource([]);
    const unset = scriptedSource([]);
    // Act
    await agent(url, keys(), { jobSource: set, pollWaitSeconds: 3 });
    await agent(url, keys(), { jobSource: unset, pollWaitSeconds: undefined });
    await pollUntil("polls", () => (set.polls > 0 && unset.polls > 0 ? true : undefined), 3_000);
    // Assess
    expect([set.waits[0], unset.waits[0]]).toEqual([3, 20]);
  });

  it("a poll the API fails is waited out: api_down while it fails, each failure counted, then serving again", async () => {
    // Prepare
    const url = await network();
    const k = keys();
    const source = scriptedSource([]);
    const metrics = createAgentMetrics();
    const states: string[] = [];
    const setState = metrics.setState.bind(metrics);
    metrics.setState = (s) => (states.push(s), setState(s));
    const a = await agent(url, k, { jobSource: source, metrics });
    // Act
    source.push(down(), down());
    await pollUntil("the API reachable again", () => (logged(a, "API reachable again").length ? true : undefined), 3_000);
    // Assess
    expect(states.slice(-3)).toEqual(["api_down", "api_down", "serving"]);
    expect(JSON.parse(logged(a, "poll failed")[0]!)).toMatchObject({ code: "internal", error: "the coordinator failed" });
    expect(JSON.parse(logged(a, "poll failed")[0]!).retryInMs).toBeGreaterThanOrEqual(0);
    expect(JSON.parse(logged(a, "API reachable again")[0]!)).toMatchObject({ after: 2 });
    expect(sample(a, /cocoon_agent_errors_total\{code="internal",where="poll"\} (\d+)/)).toBe("2");
  });

  it("a poll answered not_a_worker (a coordinator that lost us) makes the agent register again", async () => {
    // Prepare
    const url = await network();
    const k = keys();
    const source = scriptedSource([]);
    const a = await agent(url, k, { jobSource: source });
    // Act
    source.push(new ApiError(401, "not_a_worker", "unknown worker"));
    // Assess
    await pollUntil("a re-registration", () => (logged(a, "re-registered with fresh evidence").length ? true : undefined), 3_000);
  });

  it("a heartbeat the API fails otherwise is counted, and does not make the agent register again", async () => {
    // Prepare
    const url = await network();
    const a = await agent(url, keys(), { heartbeatMs: 200 });
    // Act
    intercept(a.api, API.heartbeat.path, () => down());
    await pollUntil(
      "two failed heartbeats",
      () => (Number(sample(a, /cocoon_agent_errors_total\{code="internal",where="heartbeat"\} (\d+)/)) >= 2 ? true : undefined),
      3_000,
    );
    // Assess
    expect(logged(a, "re-registered with fresh evidence")).toEqual([]);
  });

  it("a heartbeat answered not_a_worker makes the agent register again", async () => {
    // Prepare
    const url = await network();
    const a = await agent(url, keys(), { heartbeatMs: 200 });
    // Act
    intercept(a.api, API.heartbeat.path, (_b, n) => (n === 1 ? new ApiError(401, "not_a_worker", "unknown worker") : undefined));
    // Assess
    await pollUntil("a re-registration", () => (logged(a, "re-registered with fresh evidence").length ? true : undefined), 3_000);
    expect(sample(a, /cocoon_agent_errors_total\{code="not_a_worker",where="heartbeat"\} (\d+)/)).toBe("1");
  });
});

describe("agent runtime: deliveries taken already", () => {
  it("the last 4096 attempts taken are remembered: an older one delivered again runs, a newer one does not", async () => {
    // Prepare: 4097 attempts of one job in one poll (sealed to another worker: each fails at once, cheaply)
    const url = await network();
    const k = keys();
    const foreign = sealedJob(generateSigningKey().id, generateKemKey());
    const attempts = Array.from({ length: 4097 }, (_, attempt) => ({ ...foreign, attempt }));
    const source = scriptedSource([]);
    const a = await agent(url, k, { jobSource: source, capacity: 1_024 });
    const posts = intercept(a.api, API.postResult.path, () => TAKEN) as ResultRequest[];
    source.push(attempts);
    // (4097 reports of one job never share a batch: they go one post after another; a bound, not a speed test)
    await pollUntil("every attempt reported", () => (posts.length === 4097 ? true : undefined), 45_000);
    // Act: the second oldest (remembered) and the oldest (forgotten) come again
    source.push([attempts[1]!, attempts[0]!]);
    await pollUntil("the second delivery seen", () => (logged(a, "job delivered again: not run twice").length ? true : undefined), 3_000);
    await pollUntil("the oldest run again", () => (posts.length === 4098 ? true : undefined), 3_000);
    // Assess
    expect(posts.slice(4097).map((p) => p.attempt)).toEqual([0]);
    expect(JSON.parse(logged(a, "job delivered again: not run twice")[0]!)).toMatchObject({ jobId: foreign.jobId, attempt: 1 });
  }, 60_000);
});

// lease41: one still waiting for a slot near its lease's end is given back (runtime-lease41); one
// that came past its lease (delivered late) to a free slot is what is left to ask about
describe("agent runtime: a job that came past its lease", () => {
  it("is dropped when the coordinator no longer knows it (unknown_job), and run when the question itself fails", async () => {
    // Prepare: capacity 2, one poll with two jobs whose leases have ended
    const url = await network();
    const k = keys();
    const engine = gatedEngine();
    const unknown = sealedJob(k.signingKey.id, k.kemKey, -1);
    const unanswered = sealedJob(k.signingKey.id, k.kemKey, -1);
    const source = scriptedSource([]);
    const a = await agent(url, k, { engine, capacity: 2, jobSource: source });
    cleanup.push(async () => engine.open());
    const posts = intercept(a.api, API.postResult.path, () => TAKEN) as ResultRequest[];
    intercept(a.api, API.extendLease.path, (b) =>
      (b as { jobId: string }).jobId === unknown.jobId ? new ApiError(404, "unknown_job", "no such job") : down(),
    );
    source.push([unknown, unanswered]);
    // Act
    await pollUntil("the unanswered job on the engine", () => (engine.calls.length === 1 ? true : undefined), 3_000);
    engine.open();
    await pollUntil("a result", () => (posts.length === 1 ? true : undefined), 3_000);
    await pollUntil("all finished", () => (a.metrics.status.inFlight === 0 ? true : undefined), 3_000);
    // Assess
    expect(posts.map((p) => p.jobId)).toEqual([unanswered.jobId]);
    expect(engine.calls.length).toBe(1);
    expect(sample(a, /cocoon_agent_jobs_total\{outcome="stale"\} (\d+)/)).toBe("1");
  });
});

describe("agent runtime: drain()", () => {
  it("runs the jobs its last poll brings, announces offline, finishes every job, and stops", async () => {
    // Prepare
    const url = await network();
    const k = keys();
    const source = scriptedSource([]);
    const a = await agent(url, k, { jobSource: source });
    const beats = intercept(a.api, API.heartbeat.path, () => undefined) as Array<{ offline: boolean }>;
    const posts = intercept(a.api, API.postResult.path, () => TAKEN) as ResultRequest[];
    // Act: a job dispatched just before the announcement arrives on the last poll
    const draining = a.drain();
    const state = a.metrics.status.state;
    source.push([sealedJob(k.signingKey.id, k.kemKey)]);
    await draining;
    // Assess
    expect(state).toBe("draining");
    expect(beats[0]).toMatchObject({ offline: true });
    expect(posts.map((p) => p.kind)).toEqual(["completed"]);
    expect(a.metrics.status.state).toBe("stopped");
    expect(logged(a, "drained: shutdown announced, every job finished").length).toBe(1);
  });

  it("a second drain while the first runs waits for the running job too (it returned at once before)", async () => {
    // Prepare: a job held in the engine
    const url = await network();
    const k = keys();
    const engine = gatedEngine();
    const source = scriptedSource([[sealedJob(k.signingKey.id, k.kemKey)]]);
    const a = await agent(url, k, { engine, jobSource: source });
    const posts = intercept(a.api, API.postResult.path, () => TAKEN) as ResultRequest[];
    await pollUntil("the job in the engine", () => (engine.calls.length === 1 ? true : undefined), 3_000);
    // Act
    void a.drain();
    let secondDone = false;
    const second = a.drain().then(() => (secondDone = true));
    await new Promise((r) => setTimeout(r, 200));
    const doneWhileRunning = secondDone;
    engine.open();
    await second;
    // Assess
    expect(doneWhileRunning).toBe(false);
    expect(posts.map((p) => p.kind)).toEqual(["completed"]);
    expect(a.metrics.status.state).toBe("stopped");
  });

  it("a second drain, or a drain after stop(), does nothing", async () => {
    // Prepare: the drain's last polls wait 0 s, not 1 s (the test-only waits.lastPollWaitSeconds)
    const url = await network();
    const a = await agent(url, keys(), { waits: { lastPollWaitSeconds: 0 } });
    const b = await agent(url, keys());
    // Act
    await Promise.all([a.drain(), a.drain()]);
    await b.stop();
    await b.drain();
    // Assess
    expect(logged(a, "draining: no new jobs; finishing the running ones").length).toBe(1);
    expect(logged(b, "draining: no new jobs; finishing the running ones")).toEqual([]);
    expect(b.metrics.status.state).toBe("stopped");
  });
});

describe("agent runtime: what registration advertises", () => {
  const caps = { chat: true, completions: false, embeddings: true, streaming: false, tools: true, jsonSchema: false };

  it("each model with its price (10000 bps by default) and what the engine says it can do; nothing where the engine cannot tell", async () => {
    // Prepare: three engines: with a context length and logprobs, without either, one whose capabilities fail
    const url = await network();
    const registered = interceptAll(API.registerWorker.path, () => undefined) as Array<{ models: unknown[] }>;
    const withCaps = (c: () => Promise<unknown>): Engine => ({ ...scriptedEngine(), capabilities: c as Engine["capabilities"] });
    // Act
    await agent(url, keys(), {
      engine: withCaps(async () => ({ ...caps, contextLength: 4096, logprobs: true })),
      models: [{ model: MODEL }, { model: "priced-model", priceBps: 25_000 }],
    });
    await agent(url, keys(), { engine: withCaps(async () => ({ ...caps, contextLength: 0, logprobs: false })) });
    await agent(url, keys(), { engine: withCaps(async () => Promise.reject(new Error("no idea"))) });
    // Assess
    expect(registered.map((r) => r.models)).toEqual([
      [
        { model: MODEL, priceBps: 10_000, capabilities: { ...caps, contextLength: 4096, logprobs: true } },
        { model: "priced-model", priceBps: 25_000, capabilities: { ...caps, contextLength: 4096, logprobs: true } },
      ],
      [{ model: MODEL, priceBps: 10_000, capabilities: caps }],
      [{ model: MODEL, priceBps: 10_000 }],
    ]);
  });
});

describe("agent runtime: what counts as an API failure worth waiting out", () => {
  it("transient(): unreachable only as the transport's (status 0); the same code from a server is a refusal", () => {
    // Prepare
    const fromServer = new ApiError(404, "unreachable", "a server that names its error so");
    // Act / Assess
    expect(transient(fromServer)).toBe(false);
    expect(transient(new ApiError(0, "unreachable", "connection refused"))).toBe(true);
  });
});

describe("agent runtime: challenges", () => {
  it('an attester that fails is logged as a challenge error with code "error"', async () => {
    // Prepare: the attester fails once registered
    const url = await network();
    const k = keys();
    const dev = makeAttester({ tier: "dev", ...k });
    let registered = false;
    const source = scriptedSource([]);
    const a = await agent(url, k, {
      jobSource: source,
      attest: async (nonce, at) => {
        if (registered) throw new Error("the quote service is busy");
        return dev(nonce, at);
      },
    });
    registered = true;
    // Act
    source.push({
      jobs: [],
      challenges: [{ kind: "challenge", challengeId: `chl_${"9".repeat(26)}`, nonce: "AAAA", expiresAt: Date.now() + 60_000 }],
    });
    // Assess
    await pollUntil("the challenge error", () => sample(a, /cocoon_agent_errors_total\{code="error",where="challenge"\} (\d+)/), 3_000);
    expect(a.stats.challenges).toBe(0);
  });

  it("a challenge answered is counted; one whose answer fails is logged as a challenge error", async () => {
    // Prepare: the first answer is taken, the second refused
    const url = await network();
    const source = scriptedSource([]);
    const a = await agent(url, keys(), { jobSource: source });
    const answers = intercept(a.api, API.answerChallenge.path, (b, n) =>
      n === 1
        ? { json: { challengeId: (b as { challengeId: string }).challengeId, status: "answered", duplicate: false } }
        : new ApiError(404, "unknown_challenge", "expired"),
    );
    const challenge = (i: number) => ({
      kind: "challenge" as const,
      challengeId: `chl_${String(i).padStart(26, "0")}`,
      nonce: "AAAA",
      expiresAt: Date.now() + 60_000,
    });
    // Act
    source.push({ jobs: [], challenges: [challenge(1)] });
    await pollUntil("the first answered", () => (a.stats.challenges === 1 ? true : undefined), 3_000);
    source.push({ jobs: [], challenges: [challenge(2)] });
    await pollUntil(
      "the second failed",
      () => sample(a, /cocoon_agent_errors_total\{code="unknown_challenge",where="challenge"\} (\d+)/),
      3_000,
    );
    // Assess
    expect(answers.length).toBe(2);
    expect(a.stats.challenges).toBe(1);
  });
});

describe("agent runtime: stop()", () => {
  it("announces offline, stops retrying a result the API keeps failing, and returns with nothing in flight", async () => {
    // Prepare: a result post that fails for as long as the budget (30 s) would allow
    const url = await network();
    const k = keys();
    const source = scriptedSource([]);
    const a = await agent(url, k, { jobSource: source, resultRetryMs: 30_000 });
    const posts = intercept(a.api, API.postResult.path, () => down());
    const beats = intercept(a.api, API.heartbeat.path, () => undefined) as Array<{ offline: boolean }>;
    source.push([sealedJob(k.signingKey.id, k.kemKey)]);
    await pollUntil("a retried post", () => (posts.length >= 2 ? true : undefined), 3_000);
    // Act
    const t0 = Date.now();
    await a.stop();
    // Assess
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(beats.some((b) => b.offline)).toBe(true);
    expect(a.metrics.status).toMatchObject({ state: "stopped", inFlight: 0 });
  });
});

describe("agent runtime: fresh evidence", () => {
  /** An agent whose clock reads `leftMs` before its evidence expires (by the coordinator's count). */
  async function expiringIn(url: string, leftMs: number, heartbeatMs: number) {
    const k = keys();
    let skew = 0;
    const a = await agent(url, k, { heartbeatMs, now: () => Date.now() + skew });
    const { attestationExpiresAt } = await a.api.request(API.workerStatus);
    skew = attestationExpiresAt - Date.now() - leftMs;
    return a;
  }

  it("is asked for two heartbeats and a minute before the evidence expires, not earlier", async () => {
    // Prepare: 20 s heartbeats: renewal due 100 s before expiry
    const url = await network();
    // Act
    const due = await expiringIn(url, 80_000, 20_000);
    const early = await expiringIn(url, 120_000, 20_000);
    await pollUntil("the due one re-registered", () => (logged(due, "re-registered with fresh evidence").length ? true : undefined), 3_000);
    await new Promise((r) => setTimeout(r, 300));
    // Assess
    expect(logged(early, "re-registered with fresh evidence")).toEqual([]);
  });
});

describe("agent runtime: automatic payout", () => {
  const ADDR = (d: string) => `0:${d.repeat(64)}`;

  /**
   * An agent whose money routes a fake coordinator answers: `earned` nanoTON earned, what a
   * voucher covers counted redeemed once the Redeem is sent (or, with `chain: false`, the network
   * has no sandbox: the owner sends it). `vouchers` counts the vouchers asked for.
   */
  async function earning(o: { earned: bigint; threshold: bigint; chain?: boolean; statusFails?: number; checkEveryMs?: number }) {
    const url = await network();
    const k = keys();
    const a = await agent(url, k, {
      redeem: { threshold: o.threshold, payoutAddress: ADDR("a"), checkEveryMs: o.checkEveryMs ?? 100 },
      // the payout check's own backoff starts at 30 s: the smallest draw waits 300 ms of it
      backoff: { baseMs: 20, capMs: 100, random: () => 0.01 },
    });
    const real = await a.api.request(API.workerStatus);
    const money = { earned: o.earned, redeemed: 0n, vouchers: 0, statusAsked: 0 };
    const status = () => ({ json: { ...real, earned: String(money.earned), redeemed: String(money.redeemed) } });
    intercept(a.api, API.workerStatus.path, () => (++money.statusAsked <= (o.statusFails ?? 0) ? down() : status()));
    intercept(a.api, API.issueVoucher.path, () => {
      money.vouchers++;
      return {
        json: {
          vault: ADDR("b"),
          payee: "c".repeat(64),
          worker: ADDR("a"),
          cumulative: String(money.earned),
          expiry: 0,
          signature: `${"A".repeat(86)}==`,
        },
      };
    });
    intercept(a.api, API.devRedeem.path, () => {
      if (o.chain === false) return new ApiError(400, "dev_chain_disabled", "no sandbox");
      const paid = money.earned - money.redeemed;
      money.redeemed = money.earned;
      return { json: { txHash: "ab".repeat(32), paid: String(paid), worker: ADDR("a"), cumulative: String(money.earned) } };
    });
    return { a, money };
  }

  it("once earnings reach the threshold, redeems them, and asks for no voucher again until more is earned", async () => {
    // Prepare / Act
    const { a, money } = await earning({ earned: 1_000n, threshold: 1_000n });
    await pollUntil("the redemption", () => a.metrics.doc().lastRedeem, 3_000);
    const asked = money.statusAsked;
    await pollUntil("two more checks", () => (money.statusAsked >= asked + 2 ? true : undefined), 3_000);
    // Assess
    expect(money.vouchers).toBe(1);
    expect(a.metrics.doc().lastRedeem).toMatchObject({ cumulative: "1000", paid: "1000", sendYourself: false, txHash: "ab".repeat(32) });
    expect(a.metrics.doc().account).toMatchObject({ earned: "1000", redeemed: "1000" });
    expect(logged(a, "payout redeemed").map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ payoutAddress: ADDR("a"), paid: "1000", cumulative: "1000" }),
    ]);
  });

  it("without a sandbox, the voucher is handed to the owner to send, once", async () => {
    // Prepare / Act
    const { a, money } = await earning({ earned: 1_000n, threshold: 500n, chain: false });
    await pollUntil("the voucher", () => a.metrics.doc().lastRedeem, 3_000);
    const asked = money.statusAsked;
    await pollUntil("two more checks", () => (money.statusAsked >= asked + 2 ? true : undefined), 3_000);
    // Assess
    expect(money.vouchers).toBe(1);
    expect(a.metrics.doc().lastRedeem).toMatchObject({ cumulative: "1000", paid: "0", sendYourself: true });
    expect(a.metrics.doc().lastRedeem).not.toHaveProperty("txHash");
    const issued = logged(
      a,
      "payout voucher issued: open `link` in a TON wallet (or send `amount` nanoTON to `to` with `body`) to have it paid",
    );
    expect(issued).toHaveLength(1);
    expect(JSON.parse(issued[0]!)).toMatchObject({ link: expect.stringMatching(/^ton:\/\/transfer\/[\w-]{48}\?amount=50000000&bin=/) });
  });

  it("below the threshold, or with a threshold of 0, nothing is redeemed; the account is still shown", async () => {
    // Prepare / Act
    const below = await earning({ earned: 999n, threshold: 1_000n });
    const zero = await earning({ earned: 999n, threshold: 0n });
    for (const { money } of [below, zero]) await pollUntil("three checks", () => (money.statusAsked >= 3 ? true : undefined), 3_000);
    // Assess
    expect([below.money.vouchers, zero.money.vouchers]).toEqual([0, 0]);
    expect(below.a.metrics.doc().account).toMatchObject({ earned: "999", redeemed: "0" });
  });

  it("the first check waits for the owner's interval (a minute at most)", async () => {
    // Prepare / Act
    const { money } = await earning({ earned: 1_000n, threshold: 1_000n, checkEveryMs: 5_000 });
    await new Promise((r) => setTimeout(r, 500));
    // Assess
    expect(money.statusAsked).toBe(0);
  });

  it("a check the API fails is logged as a redeem error and tried again later", async () => {
    // Prepare / Act
    const { a, money } = await earning({ earned: 1_000n, threshold: 1_000n, statusFails: 1 });
    await pollUntil("the redemption after the failure", () => a.metrics.doc().lastRedeem, 5_000);
    // Assess
    expect(sample(a, /cocoon_agent_errors_total\{code="internal",where="redeem"\} (\d+)/)).toBe("1");
    expect(money.vouchers).toBe(1);
  });
});

describe("agent runtime: what the owner's metrics time", () => {
  it("are kept on the agent's clock", async () => {
    // Prepare: an agent an hour ahead, with no metrics of its own
    const url = await network();
    const source = scriptedSource([]);
    const a = await agent(url, keys(), { jobSource: source, now: () => Date.now() + 3_600_000 });
    // Act: one failed poll
    source.push(down());
    const at = await pollUntil("the poll error", () => a.metrics.status.lastError?.at, 3_000);
    // Assess
    expect(at).toBeGreaterThan(Date.now() + 3_000_000);
  });

  it("a job's wait for a slot, its time in the engine and its whole run are observed in seconds", async () => {
    // Prepare: capacity 1, two jobs in one poll; the first holds the engine about 300 ms
    const url = await network();
    const k = keys();
    const engine = gatedEngine();
    const source = scriptedSource([]);
    const a = await agent(url, k, { engine, jobSource: source });
    cleanup.push(async () => engine.open());
    intercept(a.api, API.postResult.path, () => TAKEN);
    source.push([sealedJob(k.signingKey.id, k.kemKey), sealedJob(k.signingKey.id, k.kemKey)]);
    await pollUntil("the first job on the engine", () => (engine.calls.length === 1 ? true : undefined), 3_000);
    // Act
    await new Promise((r) => setTimeout(r, 300));
    engine.open();
    await pollUntil("both finished", () => (a.metrics.status.total.jobs === 2 ? true : undefined), 3_000);
    // Assess: counts, and sums in seconds (not ms, not negative)
    const t = a.metrics.totals();
    expect([t.queueWait.count, t.engine.count, t.job.count]).toEqual([2, 2, 2]);
    expect(t.queueWait.sum).toBeGreaterThanOrEqual(0.25);
    expect(t.queueWait.sum).toBeLessThan(3);
    expect(t.engine.sum).toBeGreaterThanOrEqual(0.25);
    expect(t.engine.sum).toBeLessThan(3);
    expect(t.job.sum).toBeGreaterThanOrEqual(0.25);
    expect(t.job.sum).toBeLessThan(3);
  });
});
