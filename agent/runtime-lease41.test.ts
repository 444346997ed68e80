/**
 * lease41 (review41's two findings on the GPU owner's side, agent/runtime.ts keepLease and the
 * waiting queue). First, a job at its longest life. The coordinator extends a lease
 * never past an hour after submit (core/jobs/lease.ts MAX_JOB_MS) and then answers
 * `extended: false`; the agent stopped asking and generated on. When the lease ran out the job was
 * failed over (or refunded), the worker marked suspect, and its result, posted later, refused as
 * stale: the GPU's work unpaid, and what a streamed requester had read of it free. A worker that
 * cannot have more time must stop before its last lease ends and post what it generated, billed,
 * as it does for a cancel. The API is the local network (real handlers, LMDB) under the agent; its
 * lease answers and result posts are taken over by the test, as in agent/runtime-cancel.test.ts.
 */
import { afterEach, describe, expect, it } from "vitest";
import { generateKemKey, generateSigningKey, type KemKeyPair, type SigningKeyPair } from "../core/crypto/keys";
import type { ResultRequest } from "../events/api";
import type { EnvelopeHeader } from "../events/envelope";
import { API, ApiClient, type RequestOptions } from "../api-client/api";
import { startNetwork } from "../local/network";
import { CocoonClient } from "../client/sdk";
import { MAX_JOB_MS } from "../core/jobs/lease";
import { jobKey, readJob } from "../core/jobs/items";
import { startAgent, type RunningAgent } from "./runtime";
import { makeAttester } from "./attest";
import type { JobSource, WorkBatch } from "./sources/job-source";
import { MODEL, pollUntil } from "../test/helpers";
import { openableJob, slowEngine } from "./job-testing";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Factory: a job source handing out what the test pushes, one batch a poll. */
function pushedSource(): JobSource & { push(b: Partial<WorkBatch>): void } {
  const batches: WorkBatch[] = [];
  return {
    push: (b) => void batches.push({ jobs: [], challenges: [], ...b }),
    async next() {
      const b = batches.shift();
      if (b) return b;
      await sleep(20);
      return { jobs: [], challenges: [] };
    },
  };
}

interface Keys {
  signingKey: SigningKeyPair;
  kemKey: KemKeyPair;
}

/** Factory: a dev agent at capacity 1 on the local network; its result posts recorded with when they left (ms, our clock). */
async function agent(k: Keys, engine: ReturnType<typeof slowEngine>, source: JobSource) {
  const net = await startNetwork({ chain: false });
  cleanup.push(() => net.stop());
  const a = await startAgent({
    apiUrl: net.url,
    ...k,
    engine,
    models: [{ model: MODEL, priceBps: 10_000 }],
    capacity: 1,
    attest: makeAttester({ tier: "dev", ...k }),
    log: { info() {}, warn() {} },
    jobSource: source,
    pollWaitSeconds: 1,
    heartbeatMs: 500,
    tickMs: 100,
    backoff: { baseMs: 50, capMs: 400 },
    resultRetryMs: 1_000,
  });
  cleanup.push(() => a.stop());
  const posted: Array<{ at: number; body: ResultRequest }> = [];
  const requestJson = a.api.requestJson.bind(a.api);
  a.api.requestJson = async (method, path, body, headers, signal) => {
    if (path !== API.postResult.path) return requestJson(method, path, body, headers, signal);
    posted.push({ at: Date.now(), body: body as ResultRequest });
    return { status: (body as ResultRequest).kind, cost: "1", duplicate: false };
  };
  return Object.assign(a, { posted });
}

/** The coordinator's answer to every lease extension: the job is at its longest life, its lease ending `leaseUntil`. */
function atLongestLife(a: RunningAgent, leaseUntil: number) {
  const asked: number[] = [];
  const request = a.api.request.bind(a.api);
  a.api.request = (async (route: typeof API.extendLease, ro?: RequestOptions<{ jobId: string; attempt: number }>) => {
    if (route !== API.extendLease) return request(route, ro);
    asked.push(Date.now());
    return { leaseUntil, extended: false };
  }) as typeof a.api.request;
  return asked;
}

describe("review41: a job at its longest life (no more lease to be had)", () => {
  it("is stopped before its last lease ends and what it generated is posted, billed, while the job is still its own", async () => {
    // Prepare: 400 tokens at one per 10 ms (4 s of generation) under a lease ending in 1.5 s,
    // which the coordinator will not extend (the job's hour is up)
    const k = { signingKey: generateSigningKey(), kemKey: generateKemKey() };
    const engine = slowEngine({ everyMs: 10, promptTokens: 7 });
    const source = pushedSource();
    const a = await agent(k, engine, source);
    const { job } = openableJob(k.signingKey.id, k.kemKey, 1_500, { messages: [{ role: "user", content: "x" }] }, {
      maxTokens: 400,
    } as Partial<EnvelopeHeader>);
    const asked = atLongestLife(a, job.deadline);

    // Act
    source.push({ jobs: [job] });
    const post = await pollUntil("the job's result", () => a.posted.find((p) => p.body.jobId === job.jobId), 8_000);

    // Assess: the agent asked, heard "no more", and posted its completed result before the lease
    // ran out (after it, the coordinator has moved the job on and refuses the post: stale_attempt)
    expect(asked.length).toBeGreaterThan(0);
    expect(post.body.kind).toBe("completed");
    expect(post.at).toBeLessThanOrEqual(job.deadline);
    expect(engine.generated).toBeLessThan(400);
  });
});

/**
 * review41: a job waiting for a slot on a busy worker. Its lease runs while it waits (keepLease
 * starts with the engine), so when the running jobs outlast it the coordinator's lease check marks
 * the worker suspect (off every candidate list until its next heartbeat: 30 min in the cloud) and
 * moves the job on. A requester makes that happen for the price of `capacity` paid jobs longer
 * than a lease (30 s of tokens at the default price: a few hundred thousand nanoTON) and one more
 * job, refunded: a cheap way to take a worker off the lists, again every half hour.
 */
describe("review41: a job waiting for a slot while the running one outlasts its lease", () => {
  it("is given back (a failure report: the next candidate takes it, no suspect mark) before its lease runs out", async () => {
    // Prepare: capacity 1, a 2.5 s job running (past the other's lease), a second job whose lease ends in 1.5 s
    const k = { signingKey: generateSigningKey(), kemKey: generateKemKey() };
    const engine = slowEngine({ everyMs: 10, promptTokens: 7 });
    const source = pushedSource();
    const a = await agent(k, engine, source);
    const running = openableJob(k.signingKey.id, k.kemKey, 30_000, { messages: [{ role: "user", content: "x" }] }, {
      maxTokens: 250,
    } as Partial<EnvelopeHeader>).job;
    const waiting = openableJob(k.signingKey.id, k.kemKey, 1_500).job;
    // every lease extension of the running job is granted (it is not what this test is about)
    const request = a.api.request.bind(a.api);
    a.api.request = (async (route: typeof API.extendLease, ro?: RequestOptions<{ jobId: string; attempt: number }>) => {
      if (route !== API.extendLease) return request(route, ro);
      return { leaseUntil: Date.now() + 30_000, extended: true };
    }) as typeof a.api.request;

    // Act
    source.push({ jobs: [running] });
    await pollUntil("the first job generating", () => (engine.generated >= 3 ? true : undefined), 5_000);
    source.push({ jobs: [waiting] });
    // (its report, whenever it comes: not given back, the job would be run once the first ends and posted completed)
    const post = await pollUntil("the waiting job's report", () => a.posted.find((p) => p.body.jobId === waiting.jobId), 5_000);

    // Assess: given back while its lease held, so the coordinator moved it on at the worker's word
    expect(engine.generated).toBeLessThan(250); // the first job still running: the slot never came in time
    expect(post.body.kind).toBe("failed");
    expect(post.at).toBeLessThanOrEqual(waiting.deadline);
  });

  it("is run, not given back, when its slot comes in time (its give-back is called off when it leaves the queue)", async () => {
    // Prepare: capacity 1, a job of 30 tokens (0.3 s) running, a second job whose lease ends in 2 s
    const k = { signingKey: generateSigningKey(), kemKey: generateKemKey() };
    const engine = slowEngine({ everyMs: 10, promptTokens: 7 });
    const source = pushedSource();
    const a = await agent(k, engine, source);
    const running = openableJob(k.signingKey.id, k.kemKey, 30_000, { messages: [{ role: "user", content: "x" }] }, {
      maxTokens: 30,
    } as Partial<EnvelopeHeader>).job;
    const waiting = openableJob(k.signingKey.id, k.kemKey, 2_000).job;

    // Act
    source.push({ jobs: [running, waiting] });
    await sleep(2_500); // past the waiting job's lease: a give-back left armed would have fired

    // Assess: both ran and were posted completed, once each; nothing given back
    const posts = a.posted.map((p) => `${p.body.jobId}:${p.body.kind}`);
    expect(posts).toEqual([`${running.jobId}:completed`, `${waiting.jobId}:completed`]);
  });
});

/**
 * The same job on the real coordinator (lease extension, result, settlement, lease check: nothing
 * taken over but the job's age): the worker's stopped result lands while the job is still its own,
 * and it is paid. Posting in time is not enough if the coordinator then refused or refunded it.
 */
describe("lease41: a job at its longest life on the real coordinator", () => {
  it("is completed and paid: the requester is billed what was generated, the worker credited", async () => {
    // Prepare: leases of 4 s; a job of 800 tokens at one per 10 ms (8 s); at its first lease
    // extension the job is made 3 s short of its hour (its createdAt moved back), so that
    // extension is its last and the next is answered `extended: false`
    const net = await startNetwork({ chain: false, config: { leaseBaseSeconds: 4, leaseMsPerToken: 0 } });
    cleanup.push(() => net.stop());
    const k = { signingKey: generateSigningKey(), kemKey: generateKemKey() };
    const engine = slowEngine({ everyMs: 10, promptTokens: 7 });
    const a = await startAgent({
      apiUrl: net.url,
      ...k,
      engine,
      models: [{ model: MODEL, priceBps: 10_000 }],
      capacity: 1,
      attest: makeAttester({ tier: "dev", ...k }),
      log: { info() {}, warn() {} },
      pollWaitSeconds: 1,
      heartbeatMs: 500,
      tickMs: 100,
      backoff: { baseMs: 50, capMs: 400 },
    });
    cleanup.push(() => a.stop());
    const answers: Array<{ extended: boolean }> = [];
    const request = a.api.request.bind(a.api);
    a.api.request = (async (route: typeof API.extendLease, ro?: RequestOptions<{ jobId: string; attempt: number }>) => {
      if (route !== API.extendLease) return request(route, ro);
      if (answers.length === 0) {
        const createdAt = Date.now() + 3_000 - MAX_JOB_MS;
        await net.store.transact([{ op: "update", table: "jobs", key: jobKey(ro!.body!.jobId), set: { createdAt } }]);
      }
      const r = await request(route, ro);
      answers.push(r);
      return r;
    }) as typeof a.api.request;
    const sdk = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
    await sdk.faucet(50_000_000_000n);

    // Act
    const answer = await sdk.ask({ model: MODEL, messages: [{ role: "user", content: "x" }], maxTokens: 800, tiers: ["dev"] });

    // Assess: the last lease was given, then no more; the answer was cut there, not at 800 tokens
    expect(answers.map((r) => r.extended)).toEqual([true, false]);
    expect(answer.usage.completionTokens).toBeGreaterThan(0);
    expect(answer.usage.completionTokens).toBeLessThan(800);
    // ended as at max_tokens, not as a requester's cancel (execute.ts LongestLifeReached: the CLI
    // told a requester who never cancelled that it had)
    expect(answer.finishReason).toBe("length");
    // the coordinator took the result while the job was still the worker's: completed, not failed
    // over or refunded, and billed
    const job = await readJob(net.store, answer.jobId);
    expect(job?.status).toBe("completed");
    expect(job?.attempt).toBe(0);
    expect(BigInt(answer.cost)).toBeGreaterThan(0n);
    // and the worker credited for it
    const account = await new ApiClient(net.url, k.signingKey).request(API.workerStatus);
    expect(account.jobs).toBe(1);
    expect(BigInt(account.earned)).toBeGreaterThan(0n);
  }, 30_000);
});
