/**
 * Edges of the agent's loop (agent/runtime.ts startAgent) that the end-to-end suites do not
 * reach: what stop() does with jobs a poll brought that did not start (a batch larger than the
 * free slots, a poll that answers after stop), an API that takes a long-poll, a heartbeat or a
 * result and never answers, and pinned behaviour: concurrency held to the capacity, challenges (expired,
 * too many open), and which API errors are waited out (transient). The API is the local network
 * (real handlers, LMDB); the job source and the engine are in-process fakes the test drives, so
 * each job starts and ends when the test says.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { generateKemKey, generateSigningKey, type KemKeyPair, type SigningKeyPair } from "../core/crypto/keys";
import { b64u } from "../core/crypto/encoding";
import type { AgentChallenge, AgentJob, ResultRequest } from "../events/api";
import { API, ApiClient, ApiError, type RequestOptions } from "../api-client/api";
import { startNetwork } from "../local/network";
import { startAgent, transient, type AgentOptions, type RunningAgent } from "./runtime";
import { makeAttester } from "./attest";
import { EngineError, type Engine, type EngineRequest } from "./engines/engine";
import { createHttpJobSource } from "./sources/http";
import type { JobSource, WorkBatch } from "./sources/job-source";
import { MODEL, pollUntil } from "../test/helpers";
import { sealedJob, gatedEngine as sharedGatedEngine } from "./job-testing";

// ------------------------------------------------------------------------- factories

type Cleanup = Array<() => Promise<unknown>>;
const shared: Cleanup = [];
afterEach(async () => {
  for (const c of shared.splice(0).reverse()) await c().catch(() => {});
});
/** A test of `itIsolated` (one run concurrently) has a cleanup list of its own; the others share one, emptied after each. */
const scope = new AsyncLocalStorage<Cleanup>();
const cleanup = { push: (c: () => Promise<unknown>) => (scope.getStore() ?? shared).push(c) };
/** `it`, with the factories' cleanup (last in, first out) of this test alone, when it ends however it ends. */
const itIsolated = (name: string, fn: () => Promise<void>, timeout: number) =>
  it(
    name,
    async () => {
      const own: Cleanup = [];
      try {
        await scope.run(own, fn);
      } finally {
        for (const c of own.splice(0).reverse()) await c().catch(() => {});
      }
    },
    timeout,
  );

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function network(): Promise<string> {
  const net = await startNetwork({ chain: false });
  cleanup.push(() => net.stop());
  return net.url;
}

/**
 * A server on 127.0.0.1 that takes every job poll, heartbeat and result and never answers (a coordinator, load
 * balancer or NAT that went silent on an open connection); `taken` counts them. It has no route
 * directory and no sessions (404), so a client goes straight to the poll.
 */
async function silentServer() {
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    req.resume();
    if (req.url?.startsWith(API.pollJobs.path) || req.url === API.heartbeat.path || req.url === API.postResult.path)
      return void held.push(res);
    res
      .writeHead(404, { "content-type": "application/json" })
      .end(JSON.stringify({ error: { code: "sessions_unavailable", message: "none here" } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  cleanup.push(async () => {
    for (const h of held) h.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get taken() {
      return held.length;
    },
  };
}

/** Sends the requests `lost` picks to `silent` (through the real transport, with their signal); the rest to the API. */
function reroute(a: RunningAgent, k: Keys, silentUrl: string, lost: (path: string) => boolean) {
  const to = new ApiClient(silentUrl, k.signingKey);
  const real = a.api.requestJson.bind(a.api);
  const seen: string[] = [];
  a.api.requestJson = (method, path, body, headers, signal) => {
    seen.push(path);
    return lost(path) ? to.requestJson(method, path, body, headers, signal) : real(method, path, body, headers, signal);
  };
  return seen;
}

/** agent/job-testing.ts gatedEngine, opened when the test ends */
function gatedEngine() {
  const engine = sharedGatedEngine();
  cleanup.push(async () => engine.open());
  return engine;
}

let chl = 0;
/** A challenge that expires `inMs` from now. */
const challenge = (inMs: number): AgentChallenge => ({
  kind: "challenge",
  challengeId: `chl_${String(++chl).padStart(26, "0")}`,
  nonce: b64u.encode(new Uint8Array(32).fill(chl)),
  expiresAt: Date.now() + inMs,
});

/** A job source that hands out the scripted batches in turn, then short empty polls. */
function scriptedSource(batches: Array<AgentJob[] | WorkBatch>): JobSource & { polls: number } {
  const s = {
    polls: 0,
    async next(): Promise<WorkBatch> {
      s.polls++;
      const b = batches.shift();
      if (b) return Array.isArray(b) ? { jobs: b, challenges: [] } : b;
      await sleep(20);
      return { jobs: [], challenges: [] };
    },
  };
  return s;
}

interface Keys {
  signingKey: SigningKeyPair;
  kemKey: KemKeyPair;
}
const keys = (): Keys => ({ signingKey: generateSigningKey(), kemKey: generateKemKey() });

/** A dev agent with quick backoff and short polls; `results` holds every result it posted. */
async function agent(apiUrl: string, k: Keys, o: Partial<AgentOptions> = {}): Promise<RunningAgent & { results: ResultRequest[] }> {
  const a = await startAgent({
    apiUrl,
    ...k,
    engine: gatedEngine(),
    models: [{ model: MODEL, priceBps: 10_000 }],
    capacity: 1,
    attest: makeAttester({ tier: "dev", ...k }),
    pollWaitSeconds: 1,
    heartbeatMs: 500,
    tickMs: 100,
    backoff: { baseMs: 50, capMs: 400 },
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
  return Object.assign(a, { results });
}

// ------------------------------------------------------------------------- tests

describe("agent runtime: stop() and jobs that wait for a slot", () => {
  // BUG: a poll brings more jobs than there are free slots (the coordinator hands out up to the
  // worker's capacity). stop() waits for the jobs running when it is called, then resolves; the
  // job still waiting for a slot is started after that, by an agent its owner was told had
  // stopped (the engine is called, a result is posted), or, if the process exits, is never
  // reported and its requester waits for the lease to run out.
  it("a job still waiting for a slot when stop() is called is not started after it, and is given back at once", async () => {
    // Prepare: capacity 1, one poll with two jobs; the first holds the engine
    const url = await network();
    const k = keys();
    const engine = gatedEngine();
    const first = sealedJob(k.signingKey.id, k.kemKey);
    const second = sealedJob(k.signingKey.id, k.kemKey);
    const a = await agent(url, k, { engine, jobSource: scriptedSource([[first, second]]) });
    await pollUntil("the first job on the engine", () => (engine.calls.length === 1 ? true : undefined), 5_000);
    // Act: stop, and let the first job end only once stop() waits for it
    const stopping = a.stop();
    await sleep(300);
    engine.open();
    await stopping;
    const callsAtStop = engine.calls.length;
    await sleep(200);
    // Assess: nothing ran after stop(); the second job was given back (failover now, not at its lease)
    expect(callsAtStop).toBe(1);
    expect(engine.calls.length).toBe(1);
    await pollUntil("the second job given back", () => (a.results.some((r) => r.jobId === second.jobId) ? true : undefined), 2_000);
    expect(a.results.filter((r) => r.jobId === second.jobId).map((r) => r.kind)).toEqual(["failed"]);
  });

  // BUG: stop() leaves the poll in flight; when that poll answers after stop() resolved, its job
  // is run anyway by the stopped agent (the CLI's second Ctrl-C during a drain is such a stop).
  it("a job that the poll in flight brings after stop() resolved is not run, and is given back", async () => {
    // Prepare: a poll that answers only when the test says
    const url = await network();
    const k = keys();
    const engine = gatedEngine();
    engine.open();
    const late = sealedJob(k.signingKey.id, k.kemKey);
    let answer: ((b: WorkBatch) => void) | undefined;
    const jobSource: JobSource = { next: () => new Promise<WorkBatch>((r) => (answer = r)) };
    const a = await agent(url, k, { engine, jobSource });
    await pollUntil("a poll in flight", () => (answer ? true : undefined), 5_000);
    // Act
    await a.stop();
    answer!({ jobs: [late], challenges: [] });
    await pollUntil("the job given back", () => (a.results.some((r) => r.jobId === late.jobId) ? true : undefined), 2_000).catch(
      () => undefined,
    );
    await sleep(100);
    // Assess
    expect(engine.calls.length).toBe(0);
    expect(a.results.filter((r) => r.jobId === late.jobId).map((r) => r.kind)).toEqual(["failed"]);
  });
});

// The three cases wait out the agent's request limits (the poll's grace; a heartbeat's, at least 5 s
// by default, 1 s here through the test-only waits.heartbeatLimitMs) and share nothing (each has its
// own network, agent and silent server): run at once.
describe.concurrent("agent runtime: an API that goes silent", () => {
  // BUG: the agent's requests have no time limit. One long-poll that the coordinator (or a proxy
  // or NAT on the way) takes and never answers freezes the poll loop for ever: the agent heartbeats
  // and looks alive, but never asks for a job again until its owner restarts it.
  itIsolated(
    "a long-poll that is never answered is given up, and the agent polls again",
    async () => {
      // Prepare: after the agent started, its next job poll goes to a server that never answers
      // (through the real transport, with whatever signal the source passes); later polls pass.
      // The source is the agent's default (the HTTP long-poll on its own client), made here with a
      // grace of 1 s past the wait instead of POLL_GRACE_MS's 10 s; empty polls until it is made.
      const url = await network();
      const k = keys();
      const made: { http?: JobSource } = {};
      const a = await agent(url, k, {
        pollWaitSeconds: 1,
        jobSource: { next: (wait) => (made.http ? made.http.next(wait) : sleep(20).then(() => ({ jobs: [], challenges: [] }))) },
      });
      made.http = createHttpJobSource(a.api, { graceMs: 1_000 });
      const silent = await silentServer(); // closed first after the test: what it holds ends, then the agent stops
      let polls = 0;
      reroute(a, k, silent.url, (path) => path.startsWith(API.pollJobs.path) && ++polls === 1);
      // Act
      await pollUntil("the poll taken by the silent server", () => (silent.taken === 1 ? true : undefined), 5_000);
      // Assess: the agent asks for jobs again within the poll's wait and a margin
      await pollUntil("another poll", () => (polls >= 2 ? true : undefined), 15_000);
    },
    25_000,
  );

  // BUG: one heartbeat that is never answered holds the housekeeping loop for ever: no heartbeat
  // again (the coordinator takes the worker off its candidate lists once its liveness runs out,
  // so it earns nothing while it looks alive), no re-attestation, no engine probe, no payout.
  itIsolated(
    "a heartbeat that is never answered is given up, and the agent heartbeats again",
    async () => {
      // Prepare: the first heartbeat after start goes to a silent server
      const url = await network();
      const k = keys();
      const a = await agent(url, k, { waits: { heartbeatLimitMs: 1_000 } });
      const silent = await silentServer(); // closed first after the test: what it holds ends, then the agent stops
      let beats = 0;
      const seen = reroute(a, k, silent.url, (path) => path === API.heartbeat.path && ++beats === 1);
      // Act
      await pollUntil("the heartbeat taken by the silent server", () => (silent.taken === 1 ? true : undefined), 5_000);
      // Assess: heartbeats go on
      await pollUntil("another heartbeat", () => (seen.filter((p) => p === API.heartbeat.path).length >= 2 ? true : undefined), 15_000);
    },
    25_000,
  );

  // BUG: stop() on an API gone silent never returns: it waits for its offline announcement and
  // for the housekeeping's heartbeat, neither of which is ever answered (the CLI's second Ctrl-C
  // does nothing; an embedder's shutdown hangs).
  itIsolated(
    "stop() returns while the API answers no heartbeat",
    async () => {
      // Prepare: every heartbeat goes to a silent server; one is already waiting there
      const url = await network();
      const k = keys();
      const a = await agent(url, k, { waits: { heartbeatLimitMs: 1_000 } });
      const silent = await silentServer(); // closed first after the test: what it holds ends, then the agent stops
      reroute(a, k, silent.url, (path) => path === API.heartbeat.path);
      await pollUntil("a heartbeat taken by the silent server", () => (silent.taken >= 1 ? true : undefined), 5_000);
      // Act
      const t0 = Date.now();
      const stopped = await Promise.race([a.stop().then(() => true), sleep(15_000).then(() => false)]);
      // Assess
      expect(stopped).toBe(true);
      expect(Date.now() - t0).toBeLessThan(15_000);
    },
    25_000,
  );
});

describe("agent runtime: a result the API never answers", () => {
  // BUG: a result post that the API takes and never answers holds its job for ever: the job's
  // slot never frees (at capacity 1 the agent never takes another job), and stop() or a drain
  // waits for it without end. The retry budget (resultRetryMs) never starts counting.
  it("a result post that is never answered is given up within the retry budget, and the slot frees", async () => {
    // Prepare: capacity 1, one job, every result post goes to a silent server
    const url = await network();
    const k = keys();
    const engine = gatedEngine();
    engine.open();
    const source = scriptedSource([[sealedJob(k.signingKey.id, k.kemKey)]]);
    const a = await agent(url, k, { engine, jobSource: source, resultRetryMs: 1_000 });
    const silent = await silentServer(); // closed first after the test: what it holds ends, then the agent stops
    reroute(a, k, silent.url, (path) => path === API.postResult.path);
    // Act
    await pollUntil("the result taken by the silent server", () => (silent.taken >= 1 ? true : undefined), 5_000);
    // Assess: the job ends (its slot frees) and the agent polls again
    await pollUntil("the slot freed", () => (a.metrics.status.inFlight === 0 ? true : undefined), 10_000);
    const polls = source.polls;
    await pollUntil("another poll", () => (source.polls > polls ? true : undefined), 5_000);
  }, 25_000);
});

describe("agent runtime: pinned behaviour", () => {
  it("runs at most `capacity` jobs at once; a job of the batch past it starts when a slot frees; polls go on meanwhile", async () => {
    // Prepare: capacity 2, one poll with three jobs, an engine that holds every call
    const url = await network();
    const k = keys();
    const engine = gatedEngine();
    const jobs = [1, 2, 3].map(() => sealedJob(k.signingKey.id, k.kemKey));
    const source = scriptedSource([jobs]);
    const a = await agent(url, k, { engine, jobSource: source, capacity: 2 });
    await pollUntil("two jobs on the engine", () => (engine.calls.length === 2 ? true : undefined), 5_000);
    // Act
    await sleep(150);
    const heldAtTwo = { calls: engine.calls.length, inFlight: a.metrics.status.inFlight };
    const pollsWhileFull = source.polls;
    engine.open();
    await pollUntil("the third job on the engine", () => (engine.calls.length === 3 ? true : undefined), 5_000);
    // Assess: two at once, then the third; polls go on while full (one waits, fewer than the capacity: a cancel can come)
    expect(heldAtTwo).toEqual({ calls: 2, inFlight: 2 });
    expect(pollsWhileFull).toBeGreaterThan(1);
    await pollUntil("all three finished", () => (a.metrics.status.inFlight === 0 ? true : undefined), 5_000);
  });

  it("answers a live challenge with evidence bound to its nonce; an expired one and those past 8 open are dropped", async () => {
    // Prepare: an attester that holds challenge answers; one expired challenge and ten live ones
    const url = await network();
    const k = keys();
    const dev = makeAttester({ tier: "dev", ...k });
    const nonces: string[] = [];
    let registered = false;
    const hold: Array<() => void> = [];
    const attest: AgentOptions["attest"] = async (nonce, at) => {
      if (registered) {
        nonces.push(b64u.encode(nonce));
        await new Promise<void>((r) => hold.push(r));
      }
      return dev(nonce, at);
    };
    const expired = challenge(-1_000);
    const live = Array.from({ length: 10 }, () => challenge(60_000));
    const script: WorkBatch[] = [];
    await agent(url, k, { attest, jobSource: scriptedSource(script) });
    cleanup.push(async () => hold.splice(0).forEach((h) => h())); // runs before the agent's stop
    registered = true;
    // Act
    script.push({ jobs: [], challenges: [expired, ...live] });
    await pollUntil("eight challenges attested", () => (nonces.length === 8 ? true : undefined), 5_000);
    await sleep(100);
    for (const h of hold.splice(0)) h();
    // Assess: the expired one never attested, the live ones in order up to 8, nothing more
    expect(nonces).toEqual(live.slice(0, 8).map((c) => c.nonce));
  });

  it("transient(): waits out unreachable, 5xx and 429; never a refusal or a bad answer", () => {
    // Prepare
    const cases: Array<[unknown, boolean]> = [
      [new ApiError(0, "unreachable", "x"), true],
      [new ApiError(500, "internal", "x"), true],
      [new ApiError(503, "store_busy", "x"), true],
      [new ApiError(429, "rate_limited", "x"), true],
      [new ApiError(0, "bad_response", "x"), false],
      [new ApiError(401, "not_a_worker", "x"), false],
      [new ApiError(404, "unknown_job", "x"), false],
      [new ApiError(409, "stale_attempt", "x"), false],
      [new Error("socket hang up"), false],
    ];
    // Act
    const got = cases.map(([e]) => transient(e));
    // Assess
    expect(got).toEqual(cases.map(([, t]) => t));
  });
});

/** An engine that generates until its request's signal fires (then fails as engines do: engine_aborted). */
function abortableEngine() {
  const calls: EngineRequest[] = [];
  const engine: Engine & { calls: EngineRequest[] } = {
    name: "abortable",
    calls,
    models: async () => [MODEL],
    async generate(req) {
      calls.push(req);
      await new Promise<void>((resolve) => {
        if (req.signal?.aborted) resolve();
        req.signal?.addEventListener("abort", () => resolve(), { once: true });
      });
      throw new EngineError("engine_aborted", "generation aborted by the caller", { engine: "abortable" });
    },
  };
  return engine;
}

/** Answers the agent's lease extensions with `answer` (the coordinator's verdict) instead of asking the API. */
function leaseAnswers(a: RunningAgent, answer: (jobId: string) => { leaseUntil: number; extended: boolean } | ApiError) {
  const asked: string[] = [];
  const request = a.api.request.bind(a.api);
  a.api.request = (async (route: typeof API.extendLease, ro?: RequestOptions<{ jobId: string; attempt: number }>) => {
    if (route !== API.extendLease) return request(route, ro);
    asked.push(ro!.body!.jobId);
    const r = answer(ro!.body!.jobId);
    if (r instanceof ApiError) throw r;
    return r;
  }) as typeof a.api.request;
  return asked;
}

const moved = () => new ApiError(409, "stale_attempt", "no longer assigned to you; stop working on it");

describe("agent runtime: work that is no longer ours", () => {
  // BUG: when the coordinator answers a lease extension with stale_attempt (the job was moved to
  // another worker: "stop working on it"), the agent ignored it and the engine generated on to
  // the end, holding the GPU and a slot for an answer nobody would take.
  it("a job whose lease extension answers stale_attempt has its generation aborted and posts nothing", async () => {
    // Prepare: a lease short enough that its extension is asked within a second; the coordinator says it moved
    const url = await network();
    const k = keys();
    const engine = abortableEngine();
    const job = sealedJob(k.signingKey.id, k.kemKey, 1_200);
    const a = await agent(url, k, { engine, jobSource: scriptedSource([[job]]) });
    const asked = leaseAnswers(a, () => moved());
    await pollUntil("the job on the engine", () => (engine.calls.length === 1 ? true : undefined), 5_000);
    // Act
    await pollUntil("the generation aborted", () => (engine.calls[0]!.signal?.aborted ? true : undefined), 5_000);
    await pollUntil("the slot freed", () => (a.metrics.status.inFlight === 0 ? true : undefined), 5_000);
    // Assess: asked once, stopped, nothing posted for a job that is not ours, counted as stale
    expect(asked).toEqual([job.jobId]);
    expect(a.results.filter((r) => r.jobId === job.jobId)).toEqual([]);
    expect(a.metrics.render()).toMatch(/cocoon_agent_jobs_total\{outcome="stale"\} 1/);
  });

  // BUG: SQS delivers a message again when its delete failed; the agent ran the same job id and
  // attempt a second time (the GPU's work thrown away: the coordinator takes one result).
  it("a job delivered twice (the same id and attempt) runs once; a new attempt of it runs", async () => {
    // Prepare
    const url = await network();
    const k = keys();
    const engine = gatedEngine();
    engine.open();
    const job = sealedJob(k.signingKey.id, k.kemKey);
    const next = { ...job, attempt: 1 };
    const source = scriptedSource([[job], [job], [next]]);
    await agent(url, k, { engine, jobSource: source });
    // Act
    await pollUntil("all three deliveries polled", () => (source.polls >= 4 ? true : undefined), 5_000);
    await sleep(100);
    // Assess
    expect(engine.calls.length).toBe(2);
  });

  // BUG: a job of a batch that waited for a slot past its lease was run although the coordinator
  // had moved it: the whole generation for a result answered stale_attempt.
  // lease41: a job still waiting for a slot near its lease's end is given back (runtime-lease41);
  // one that came past its lease (delivered late) to a free slot is what is left to ask about.
  it("a job that came past its lease is asked about first: run if still ours, dropped if moved", async () => {
    // Prepare: capacity 2, one poll with two jobs whose leases have ended
    const url = await network();
    const k = keys();
    const engine = gatedEngine();
    const gone = sealedJob(k.signingKey.id, k.kemKey, -1);
    const kept = sealedJob(k.signingKey.id, k.kemKey, -1);
    const polls: AgentJob[][] = [];
    const a = await agent(url, k, { engine, capacity: 2, jobSource: scriptedSource(polls) });
    const asked = leaseAnswers(a, (jobId) => (jobId === gone.jobId ? moved() : { leaseUntil: Date.now() + 30_000, extended: true }));
    // Act (once the lease answers are the test's)
    polls.push([gone, kept]);
    await pollUntil("the kept job run", () => (engine.calls.length === 1 ? true : undefined), 5_000);
    engine.open();
    await pollUntil("all finished", () => (a.metrics.status.inFlight === 0 ? true : undefined), 5_000);
    // Assess: both were asked about; only the one still ours reached the engine, nothing was posted for the moved one
    expect(asked).toEqual(expect.arrayContaining([gone.jobId, kept.jobId]));
    expect(engine.calls.length).toBe(1);
    expect(a.results.filter((r) => r.jobId === gone.jobId)).toEqual([]);
  });
});
