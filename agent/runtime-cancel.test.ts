/**
 * A requester's cancel as the agent's loop (agent/runtime.ts) handles it: an AgentCancel from the
 * job source, or a lease extension answered job_cancelled. The API is the local network (real
 * handlers, LMDB); the job source and the engine are in-process fakes the test drives.
 */
import { afterEach, describe, expect, it } from "vitest";
import { generateKemKey, generateSigningKey, type KemKeyPair, type SigningKeyPair } from "../core/crypto/keys";
import type { AgentCancel, AgentJob, ResultRequest } from "../events/api";
import type { EnvelopeHeader } from "../events/envelope";
import { API, ApiError, type RequestOptions } from "../api-client/api";
import { openAnswer } from "../client/reply";
import { startNetwork } from "../local/network";
import { startAgent, type AgentOptions, type RunningAgent } from "./runtime";
import { makeAttester } from "./attest";
import type { JobSource, WorkBatch } from "./sources/job-source";
import { MODEL, pollUntil } from "../test/helpers";
import { openableJob, slowEngine } from "./job-testing";

// ------------------------------------------------------------------------- factories

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function network(): Promise<string> {
  const net = await startNetwork({ chain: false });
  cleanup.push(() => net.stop());
  return net.url;
}

/** A job source that hands out what the test pushes, one batch a poll, short empty polls in between; `polls` counts them. */
function pushedSource(): JobSource & { polls: number; push(b: Partial<WorkBatch>): void } {
  const batches: WorkBatch[] = [];
  const s = {
    polls: 0,
    push: (b: Partial<WorkBatch>) => void batches.push({ jobs: [], challenges: [], ...b }),
    async next(): Promise<WorkBatch> {
      s.polls++;
      const b = batches.shift();
      if (b) return b;
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

type Agent = RunningAgent & { results: ResultRequest[]; lines: string[] };

/** A dev agent at capacity 1 with short polls; `results` holds every result it posted, `lines` its log's messages. */
async function agent(apiUrl: string, k: Keys, o: Partial<AgentOptions>): Promise<Agent> {
  const lines: string[] = [];
  const a = await startAgent({
    apiUrl,
    ...k,
    engine: slowEngine(),
    models: [{ model: MODEL, priceBps: 10_000 }],
    capacity: 1,
    attest: makeAttester({ tier: "dev", ...k }),
    log: { info: (m) => void lines.push(m), warn: (m) => void lines.push(m) },
    pollWaitSeconds: 1,
    heartbeatMs: 500,
    tickMs: 100,
    backoff: { baseMs: 50, capMs: 400 },
    resultRetryMs: 1_000,
    ...o,
  });
  cleanup.push(() => a.stop());
  // Results are taken here, below the agent's own accounting (the local network never dispatched these jobs).
  const results: ResultRequest[] = [];
  const requestJson = a.api.requestJson.bind(a.api);
  a.api.requestJson = async (method, path, body, headers, signal) => {
    if (path !== API.postResult.path) return requestJson(method, path, body, headers, signal);
    results.push(body as ResultRequest);
    return { status: (body as ResultRequest).kind, cost: "1", duplicate: false };
  };
  return Object.assign(a, { results, lines });
}

/** Answers the agent's lease extensions with `answer` instead of asking the API; returns the job ids asked about. */
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

/** A job of `maxTokens` (a token every 10 ms on slowEngine: 400 is 4 s of generation), its reply openable. */
const longJob = (k: Keys, maxTokens = 400, leaseMs = 30_000) =>
  openableJob(k.signingKey.id, k.kemKey, leaseMs, { messages: [{ role: "user", content: "x" }] }, { maxTokens } as Partial<EnvelopeHeader>);

const cancelOf = (job: AgentJob): AgentCancel => ({ kind: "cancel", jobId: job.jobId, attempt: job.attempt });
const resultOf = (a: Agent, job: AgentJob) => a.results.find((r) => r.jobId === job.jobId);
const cancelledByCoordinator = () => new ApiError(409, "job_cancelled", "the requester cancelled this job");

// ------------------------------------------------------------------------- tests

describe("agent runtime: a requester's cancel on the job source", () => {
  // The loop polled no more while every slot was busy: at capacity 1 a cancel came only once the
  // job it was for had ended, the whole generation billed.
  it("reaches the job running at capacity 1: the engine stops, and a completed answer ending cancelled is posted", async () => {
    // Prepare: capacity 1, one long job on the engine
    const url = await network();
    const k = keys();
    const engine = slowEngine({ everyMs: 10, promptTokens: 7 });
    const source = pushedSource();
    const a = await agent(url, k, { engine, jobSource: source });
    const { job, header, replyKey, binding } = longJob(k);
    source.push({ jobs: [job] });
    await pollUntil("the job generating", () => (engine.generated >= 3 ? true : undefined), 5_000);
    // Act
    source.push({ cancels: [cancelOf(job)] });
    const result = await pollUntil("the job's result", () => resultOf(a, job), 3_000);
    // Assess
    if (result.kind !== "completed") throw new Error(`the job failed: ${result.code}`);
    const answer = openAnswer(result.reply, header, k.signingKey.id, replyKey, binding);
    expect(answer.choices[0]!.finishReason).toBe("cancelled");
    expect(answer.usage.promptTokens).toBe(7);
    expect(answer.usage.completionTokens).toBe(answer.choices[0]!.text.split(" ").filter(Boolean).length);
    expect(engine.streams[0]!.signal?.aborted).toBe(true);
    expect(engine.generated).toBeLessThan(400);
    expect(a.lines).toContain("job cancelled by its requester: stopping it");
  });

  it("drops a job still waiting for a slot: posted failed with code cancelled, never on the engine", async () => {
    // Prepare: capacity 2, three long jobs; the third waits
    const url = await network();
    const k = keys();
    const engine = slowEngine({ everyMs: 10 });
    const source = pushedSource();
    const a = await agent(url, k, { engine, jobSource: source, capacity: 2 });
    const [first, second, third] = [longJob(k).job, longJob(k).job, longJob(k).job];
    source.push({ jobs: [first!, second!, third!] });
    await pollUntil("two jobs generating", () => (engine.streams.length === 2 && engine.generated >= 2 ? true : undefined), 5_000);
    // Act: the waiting one is cancelled, then the running ones (so that the test ends)
    source.push({ cancels: [cancelOf(third!)] });
    const dropped = await pollUntil("the waiting job's result", () => resultOf(a, third!), 3_000);
    source.push({ cancels: [cancelOf(first!), cancelOf(second!)] });
    await pollUntil("all three ended", () => (a.results.length === 3 && a.metrics.status.inFlight === 0 ? true : undefined), 3_000);
    await sleep(100);
    // Assess
    expect(dropped).toMatchObject({ kind: "failed", code: "cancelled", envelope: third!.envelope });
    expect(engine.streams).toHaveLength(2);
    expect(a.metrics.render()).toMatch(/cocoon_agent_jobs_total\{outcome="cancelled"\} 1/);
    expect(a.metrics.status.total.failed).toBe(0);
  });

  it("a cancel for a job it does not have is ignored (logged): nothing posted, the next job runs as usual", async () => {
    // Prepare
    const url = await network();
    const k = keys();
    const engine = slowEngine({ everyMs: 1 });
    const source = pushedSource();
    const a = await agent(url, k, { engine, jobSource: source });
    const stranger = longJob(k).job;
    const { job, header, replyKey, binding } = longJob(k, 4);
    // Act
    source.push({ cancels: [cancelOf(stranger), { ...cancelOf(job), attempt: 1 }] });
    source.push({ jobs: [job] });
    const result = await pollUntil("the job's result", () => resultOf(a, job), 3_000);
    // Assess
    expect(a.results.map((r) => r.jobId)).toEqual([job.jobId]);
    if (result.kind !== "completed") throw new Error(`the job failed: ${result.code}`);
    expect(openAnswer(result.reply, header, k.signingKey.id, replyKey, binding).choices[0]!.finishReason).toBe("length");
    expect(a.lines.filter((l) => l.startsWith("cancel ignored"))).toHaveLength(2);
  });

  // SQS does not keep order: the cancel, sent after the job, can be received before it.
  it("a cancel that came before its job is kept: the job, when it comes, is not run (failed, code cancelled)", async () => {
    // Prepare
    const url = await network();
    const k = keys();
    const engine = slowEngine({ everyMs: 1 });
    const source = pushedSource();
    const a = await agent(url, k, { engine, jobSource: source });
    const { job } = longJob(k, 4);
    // Act
    source.push({ cancels: [cancelOf(job)] });
    source.push({ jobs: [job] });
    const result = await pollUntil("the job's result", () => resultOf(a, job), 3_000);
    // Assess
    expect(result).toMatchObject({ kind: "failed", code: "cancelled" });
    expect(engine.streams).toHaveLength(0);
  });
});

describe("agent runtime: polling while busy", () => {
  it("polls on while jobs run, but not while `capacity` jobs wait for a slot: at most twice the capacity in memory", async () => {
    // Prepare: capacity 1; each of four polls brings a job of 0.4 s
    const url = await network();
    const k = keys();
    const engine = slowEngine({ everyMs: 10 });
    const source = pushedSource();
    const jobs = [1, 2, 3, 4].map(() => longJob(k, 40).job);
    for (const job of jobs) source.push({ jobs: [job] });
    const a = await agent(url, k, { engine, jobSource: source });
    // Act
    await pollUntil("the first job generating", () => (engine.generated >= 1 ? true : undefined), 5_000);
    await sleep(150);
    const held = { polls: source.polls, streams: engine.streams.length };
    await pollUntil("all four run", () => (a.results.length === 4 ? true : undefined), 5_000);
    // Assess: one running and one waiting, no third poll meanwhile; then each in turn
    expect(held).toEqual({ polls: 2, streams: 1 });
    expect(a.results.map((r) => [r.jobId, r.kind])).toEqual(jobs.map((j) => [j.jobId, "completed"]));
  });

  it("drain() still runs the job waiting for a slot, then stops; stop() gives it back", async () => {
    // Prepare: capacity 1, two agents each running one job of 0.4 s with another waiting
    const url = await network();
    const [k, l] = [keys(), keys()];
    const started = async (keys: Keys) => {
      const engine = slowEngine({ everyMs: 10 });
      const source = pushedSource();
      const jobs = [longJob(keys, 40).job, longJob(keys, 40).job];
      source.push({ jobs });
      const a = await agent(url, keys, { engine, jobSource: source });
      await pollUntil("the first job generating", () => (engine.generated >= 1 ? true : undefined), 5_000);
      await sleep(50);
      return { a, engine, jobs };
    };
    const drained = await started(k);
    const stopped = await started(l);
    // Act
    await Promise.all([drained.a.drain(), stopped.a.stop()]);
    // Assess
    expect(drained.a.results.map((r) => [r.jobId, r.kind])).toEqual(drained.jobs.map((j) => [j.jobId, "completed"]));
    expect(drained.engine.streams).toHaveLength(2);
    expect(drained.a.metrics.status.state).toBe("stopped");
    expect(stopped.engine.streams).toHaveLength(1);
    await pollUntil("the waiting job given back", () => resultOf(stopped.a, stopped.jobs[1]!), 2_000);
    expect(resultOf(stopped.a, stopped.jobs[1]!)).toMatchObject({
      kind: "failed",
      code: "engine_unavailable",
      envelope: stopped.jobs[1]!.envelope,
    });
  });
});

describe("agent runtime: a lease extension answered job_cancelled", () => {
  // The agent logged it as a lease error and generated on to the end, billing all of it.
  it("stops the running job as the cancel message does", async () => {
    // Prepare: a lease of 1.2 s (its extension is asked at about 0.6 s); the coordinator says cancelled
    const url = await network();
    const k = keys();
    const engine = slowEngine({ everyMs: 10 });
    const source = pushedSource();
    const a = await agent(url, k, { engine, jobSource: source });
    const asked = leaseAnswers(a, () => cancelledByCoordinator());
    const { job, header, replyKey, binding } = longJob(k, 400, 1_200);
    // Act
    source.push({ jobs: [job] });
    const result = await pollUntil("the job's result", () => resultOf(a, job), 3_000);
    // Assess
    expect(asked).toEqual([job.jobId]);
    if (result.kind !== "completed") throw new Error(`the job failed: ${result.code}`);
    expect(openAnswer(result.reply, header, k.signingKey.id, replyKey, binding).choices[0]!.finishReason).toBe("cancelled");
    expect(engine.streams[0]!.signal?.aborted).toBe(true);
  });

  // Within its lease: at capacity 1 with a job waiting the loop pauses, so the cancel stayed
  // queued; the job started once the slot freed, was stopped only by the next poll, and was billed.
  // Past its lease (lease41): a job still waiting for a slot near its lease's end is given back
  // (runtime-lease41), so what is left to ask about is a job that came past it to a free slot.
  it.each([
    ["came past its lease (delivered late)", -1, false],
    ["waited within its lease, while the loop did not poll (capacity jobs waiting)", 30_000, true],
  ])(
    "a job that %s is asked about before it starts and, found cancelled, is not run: failed with code cancelled",
    async (_, leaseMs, behindFirst) => {
      // Prepare: capacity 1; a short job, then one that waits for the slot
      const url = await network();
      const k = keys();
      const engine = slowEngine({ everyMs: 10 });
      const source = pushedSource();
      const a = await agent(url, k, { engine, jobSource: source });
      const first = longJob(k, 30).job;
      const waited = longJob(k, 400, leaseMs).job;
      const asked = leaseAnswers(a, (jobId) =>
        jobId === waited.jobId ? cancelledByCoordinator() : { leaseUntil: Date.now() + 30_000, extended: true },
      );
      // Act
      source.push({ jobs: behindFirst ? [first, waited] : [waited] });
      const result = await pollUntil("the waiting job's result", () => resultOf(a, waited), 3_000);
      // Assess
      expect(result).toMatchObject({ kind: "failed", code: "cancelled" });
      expect(engine.streams).toHaveLength(behindFirst ? 1 : 0);
      expect(asked).toEqual([waited.jobId]);
    },
  );
});
