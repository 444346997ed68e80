/**
 * Who may use a job's relay (core/relay-access.ts), pinned edge by edge over the in-memory world
 * (core/jobs/testing.ts) and the in-process relay (core/relay-memory.ts): only the job's
 * candidate at the current attempt publishes; only the job's requester reads or is vended
 * credentials; a coordinator without an HTTP relay says so (404 relay_unavailable). Every
 * refusal is checked by status and code, and for publishes, that nothing reached the relay.
 */
import { describe, expect, it } from "vitest";
import type { LocalNotifier } from "../local/notifier";
import type { RelayChunk, RelaySession } from "../events/relay";
import type { MatchingMessage } from "../events/queue";
import { handleMatchingMessage } from "./jobs/dispatch";
import { jobTopic } from "./jobs/items";
import { postResult } from "./jobs/results";
import { makeJobWorld, refusal } from "./jobs/testing";
import type { Notifier } from "./ports";
import type { RelayPort } from "./relay";
import { publishChunks, readChunks, requesterRelaySession, workerRelaySession, type RelaySessionVendor } from "./relay-access";
import { createMemoryRelay } from "./relay-memory";

/** Keeps every real wait short: no test here may take more than about a second. */
const FAST = { timeout: 1_500 };

/** One sealed chunk of `jobId`'s stream at `attempt` (the relay reads none of it). */
const chunk = (jobId: string, attempt: number, seq: number, final = false): RelayChunk => ({
  jobId,
  attempt,
  seq,
  final,
  data: `AAAA${seq}`,
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Factory: a world with `n` workers and one job submitted to them, and an in-memory relay in its deps. */
async function relayWorld(n = 1) {
  const w = makeJobWorld();
  const job = await w.submitted(n);
  const relay = createMemoryRelay();
  const deps = { ...w.deps, relay };
  return { w, ...job, jobId: job.header.jobId, relay, deps };
}

/** Factory: a vendor recording what it was asked, answering `session` to every question. */
function recordingVendor(session: RelaySession = { transport: "http" }) {
  const asked: Array<{ kind: string; args: unknown[] }> = [];
  const vendor: RelaySessionVendor = {
    forWorker: (...args) => (asked.push({ kind: "worker", args }), Promise.resolve(session)),
    forRequester: (...args) => (asked.push({ kind: "requester", args }), Promise.resolve(session)),
    forAccount: (...args) => (asked.push({ kind: "account", args }), Promise.resolve(session)),
  };
  return { vendor, asked };
}

/** Factory: a relay over `inner` that notes each read's wait and abort signal. */
function spyingRelay(inner: RelayPort) {
  const reads: Array<{ from: number; waitMs: number; signal?: AbortSignal }> = [];
  const relay: RelayPort = {
    publish: (jobId, chunks) => inner.publish(jobId, chunks),
    read: (jobId, from, waitMs, signal) => {
      reads.push({ from, waitMs, ...(signal ? { signal } : {}) });
      return inner.read(jobId, from, waitMs, signal);
    },
    subscribe: (jobId, o) => inner.subscribe(jobId, o),
    end: (jobId) => inner.end(jobId),
  };
  return { relay, reads };
}

/** The job's last candidate reports a failure: nobody is left to try, so the job is refunded. */
const failed = (jobId: string, attempt: number) => ({ kind: "failed" as const, jobId, attempt, code: "engine_error" as const });

describe("no HTTP relay in deps", () => {
  it("publishChunks and readChunks answer 404 relay_unavailable, pointing to the relay session route", async () => {
    // Prepare
    const { w, jobId, workers, r } = await relayWorld();
    // Act
    const published = await refusal(publishChunks(w.deps, workers[0]!.id, jobId, [chunk(jobId, 0, 0)]));
    const read = await refusal(readChunks(w.deps, r.id, jobId, 0, 0));
    // Assess
    for (const answer of [published, read]) {
      expect(answer).toMatchObject({ status: 404, code: "relay_unavailable" });
      expect(answer!.message).toMatch(/no HTTP relay.*the job.s relay access/); // its route is the edge's (functions/http/route-hints.ts)
    }
  });

  it("without a vendor either, the worker's and the requester's relay sessions are 404 relay_unavailable (never transport http)", async () => {
    // Prepare
    const { w, jobId, workers, r } = await relayWorld();
    // Act
    const worker = await refusal(workerRelaySession(w.deps, workers[0]!.id, jobId, 0));
    const requester = await refusal(requesterRelaySession(w.deps, r.id, jobId));
    // Assess
    expect(worker).toMatchObject({ status: 404, code: "relay_unavailable" });
    expect(requester).toMatchObject({ status: 404, code: "relay_unavailable" });
  });
});

describe("relay sessions", () => {
  it("with an HTTP relay and no vendor, both sessions are exactly { transport: 'http' }", async () => {
    // Prepare
    const { deps, jobId, workers, r } = await relayWorld();
    // Act
    const worker = await workerRelaySession(deps, workers[0]!.id, jobId, 0);
    const requester = await requesterRelaySession(deps, r.id, jobId);
    const account = await requesterRelaySession(deps, r.id, jobId, "account", "chan-0001");
    // Assess
    expect(worker).toEqual({ transport: "http" });
    expect(requester).toEqual({ transport: "http" });
    expect(account).toEqual({ transport: "http" });
  });

  it("with a vendor, the requester's job scope asks forRequester(jobId, account), the account scope forAccount(account, channel), and its answer is returned", async () => {
    // Prepare
    const { w, jobId, r } = await relayWorld();
    const sqs: RelaySession = {
      transport: "sqs",
      region: "us-east-1",
      queueUrl: "https://sqs.us-east-1.amazonaws.com/123456789012/q",
      credentials: { accessKeyId: "AKIA", secretAccessKey: "s", sessionToken: "t", expiration: 1 },
    };
    const { vendor, asked } = recordingVendor(sqs);
    const deps = { ...w.deps, relaySessions: vendor };
    // Act
    const byDefault = await requesterRelaySession(deps, r.id, jobId);
    const account = await requesterRelaySession(deps, r.id, jobId, "account", "chan-0001");
    // Assess
    expect(byDefault).toBe(sqs);
    expect(account).toBe(sqs);
    expect(asked).toEqual([
      { kind: "requester", args: [jobId, r.id] },
      { kind: "account", args: [r.id, "chan-0001"] },
    ]);
  });

  it("a requester may ask for a job id that does not exist yet (quotes are stateless), even with no vendor", async () => {
    // Prepare
    const { deps, r } = await relayWorld();
    // Act
    const session = await requesterRelaySession(deps, r.id, "job-not-yet-submitted");
    // Assess
    expect(session).toEqual({ transport: "http" });
  });

  it("another account's job: the requester's session is 403 not_your_job, whatever the scope, and the vendor is not asked", async () => {
    // Prepare
    const { w, jobId } = await relayWorld();
    const stranger = await w.requester();
    const { vendor, asked } = recordingVendor();
    const deps = { ...w.deps, relaySessions: vendor };
    // Act
    const job = await refusal(requesterRelaySession(deps, stranger.id, jobId));
    const account = await refusal(requesterRelaySession(deps, stranger.id, jobId, "account"));
    // Assess
    for (const answer of [job, account]) {
      expect(answer).toMatchObject({ status: 403, code: "not_your_job" });
      expect(answer!.message).toMatch(/belongs to another account/);
    }
    expect(asked).toEqual([]);
  });

  it("the worker's session is refused like a publish: not the candidate 403 not_your_job, a stale attempt 409 stale_attempt", async () => {
    // Prepare
    const { w, deps, jobId, workers, envelope } = await relayWorld();
    const other = await w.worker();
    // Act
    const notYours = await refusal(workerRelaySession(deps, other.id, jobId, 0));
    await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope));
    const stale = await refusal(workerRelaySession(deps, workers[0]!.id, jobId, 0));
    // Assess
    expect(notYours).toMatchObject({ status: 403, code: "not_your_job" });
    expect(stale).toMatchObject({ status: 409, code: "stale_attempt" });
  });
});

describe("publishChunks", () => {
  it("the candidate at the current attempt: its chunks are published in order and `buffered` is their count", async () => {
    // Prepare
    const { deps, relay, jobId, workers } = await relayWorld();
    const chunks = [chunk(jobId, 0, 0), chunk(jobId, 0, 1), chunk(jobId, 0, 2, true)];
    // Act
    const answer = await publishChunks(deps, workers[0]!.id, jobId, chunks);
    // Assess
    expect(answer).toEqual({ ok: true, buffered: 3 });
    expect(relay.dump()).toEqual(chunks);
  });

  it("a chunk naming another job: 400 chunk_job_mismatch naming that job, nothing published", async () => {
    // Prepare
    const { deps, relay, jobId, workers } = await relayWorld();
    // Act
    const answer = await refusal(publishChunks(deps, workers[0]!.id, jobId, [chunk(jobId, 0, 0), chunk("job-someone-elses", 0, 1)]));
    // Assess
    expect(answer).toMatchObject({ status: 400, code: "chunk_job_mismatch" });
    expect(answer!.message).toBe(`a chunk names job job-someone-elses, the path ${jobId}`);
    expect(relay.published).toBe(0);
  });

  it("chunks of two attempts in one post: 400 chunk_attempt_mismatch, nothing published", async () => {
    // Prepare
    const { deps, relay, jobId, workers } = await relayWorld();
    // Act
    const answer = await refusal(publishChunks(deps, workers[0]!.id, jobId, [chunk(jobId, 0, 0), chunk(jobId, 1, 1)]));
    // Assess
    expect(answer).toMatchObject({ status: 400, code: "chunk_attempt_mismatch" });
    expect(answer!.message).toMatch(/one attempt/);
    expect(relay.published).toBe(0);
  });

  it("an unknown job: 404 unknown_job naming it, nothing published", async () => {
    // Prepare
    const { deps, relay, workers } = await relayWorld();
    // Act
    const answer = await refusal(publishChunks(deps, workers[0]!.id, "job-nobody-has", [chunk("job-nobody-has", 0, 0)]));
    // Assess
    expect(answer).toEqual({ status: 404, code: "unknown_job", message: "no job job-nobody-has" });
    expect(relay.published).toBe(0);
  });

  it("a worker that is not the job's candidate at that attempt: 403 not_your_job, nothing published", async () => {
    // Prepare
    const { w, deps, relay, jobId } = await relayWorld();
    const other = await w.worker();
    // Act
    const answer = await refusal(publishChunks(deps, other.id, jobId, [chunk(jobId, 0, 0)]));
    // Assess
    expect(answer).toMatchObject({ status: 403, code: "not_your_job" });
    expect(answer!.message).toMatch(/not dispatched to you at that attempt/);
    expect(relay.published).toBe(0);
  });

  it("an attempt the job never had (no candidate there): 403 not_your_job, not a crash", async () => {
    // Prepare
    const { deps, relay, jobId, workers } = await relayWorld();
    // Act
    const answer = await refusal(publishChunks(deps, workers[0]!.id, jobId, [chunk(jobId, 5, 0)]));
    // Assess
    expect(answer).toMatchObject({ status: 403, code: "not_your_job" });
    expect(relay.published).toBe(0);
  });

  it("the job moved on to another attempt (a failover): the old worker gets 409 stale_attempt, nothing published", async () => {
    // Prepare
    const { w, deps, relay, jobId, workers, job } = await relayWorld(2);
    w.advance(job.leaseUntil - w.clock.now());
    const lease: MatchingMessage = { type: "lease", jobId, attempt: 0 };
    expect(await handleMatchingMessage(w.deps, lease)).toBe("advanced");
    // Act
    const answer = await refusal(publishChunks(deps, workers[0]!.id, jobId, [chunk(jobId, 0, 0)]));
    // Assess
    expect(answer).toEqual({
      status: 409,
      code: "stale_attempt",
      message: `job ${jobId} is no longer assigned to you (status assigned, attempt 1); stop streaming it`,
    });
    expect(relay.published).toBe(0);
  });

  it("the job is completed at the worker's own attempt: 409 stale_attempt, nothing published", async () => {
    // Prepare
    const { w, deps, relay, jobId, workers, envelope } = await relayWorld();
    await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope));
    // Act
    const answer = await refusal(publishChunks(deps, workers[0]!.id, jobId, [chunk(jobId, 0, 0)]));
    // Assess
    expect(answer).toEqual({
      status: 409,
      code: "stale_attempt",
      message: `job ${jobId} is no longer assigned to you (status completed, attempt 0); stop streaming it`,
    });
    expect(relay.published).toBe(0);
  });

  it("the job is refunded at the worker's own attempt: 409 stale_attempt, nothing published", async () => {
    // Prepare
    const { w, deps, relay, jobId, workers } = await relayWorld();
    await postResult(w.deps, workers[0]!.id, failed(jobId, 0));
    // Act
    const answer = await refusal(publishChunks(deps, workers[0]!.id, jobId, [chunk(jobId, 0, 0)]));
    // Assess
    expect(answer).toMatchObject({ status: 409, code: "stale_attempt" });
    expect(answer!.message).toMatch(/status refunded, attempt 0/);
    expect(relay.published).toBe(0);
  });
});

describe("readChunks: who may read", () => {
  it("an unknown job: 404 unknown_job naming it", async () => {
    // Prepare
    const { deps, r } = await relayWorld();
    // Act
    const answer = await refusal(readChunks(deps, r.id, "job-nobody-has", 0, 0));
    // Assess
    expect(answer).toEqual({ status: 404, code: "unknown_job", message: "no job job-nobody-has" });
  });

  it("another account's job: 403 not_your_job, and its chunks are not handed out", async () => {
    // Prepare
    const { w, deps, jobId, workers } = await relayWorld();
    await publishChunks(deps, workers[0]!.id, jobId, [chunk(jobId, 0, 0)]);
    const stranger = await w.requester();
    // Act
    const answer = await refusal(readChunks(deps, stranger.id, jobId, 0, 0));
    // Assess
    expect(answer).toMatchObject({ status: 403, code: "not_your_job" });
    expect(answer!.message).toMatch(/belongs to another account/);
  });
});

describe("readChunks: a running job", () => {
  it("chunks past `from` are returned at once with `next`, and no job view while the job runs", async () => {
    // Prepare
    const { deps, jobId, workers, r } = await relayWorld();
    const chunks = [chunk(jobId, 0, 0), chunk(jobId, 0, 1), chunk(jobId, 0, 2)];
    await publishChunks(deps, workers[0]!.id, jobId, chunks);
    // Act
    const answer = await readChunks(deps, r.id, jobId, 1, 0);
    // Assess
    expect(answer).toEqual({ chunks: chunks.slice(1), next: 3 });
  });

  it("a wait ends on the first chunk published during it, with that chunk, and the relay read is cancelled", FAST, async () => {
    // Prepare
    const { deps, jobId, workers, r } = await relayWorld();
    const spy = spyingRelay(deps.relay);
    const spied = { ...deps, relay: spy.relay };
    const started = Date.now();
    // Act
    const reading = readChunks(spied, r.id, jobId, 0, 1);
    await sleep(30);
    await publishChunks(deps, workers[0]!.id, jobId, [chunk(jobId, 0, 0)]);
    const answer = await reading;
    // Assess
    expect(answer).toEqual({ chunks: [chunk(jobId, 0, 0)], next: 1 });
    expect(Date.now() - started).toBeLessThan(500);
    expect(spy.reads[0]).toMatchObject({ from: 0, waitMs: 1_000 });
    expect(spy.reads[0]!.signal!.aborted).toBe(true);
    // and the wait on the job's topic is let go at once, not left to its time (one per poll of a stream)
    expect((deps.notifier as LocalNotifier).pending(jobTopic(jobId))).toBe(0);
  });

  it("a wait ends on the job's change (a failover): no chunks, no job view, and the relay read is cancelled", FAST, async () => {
    // Prepare
    const { w, deps, jobId, job, r } = await relayWorld(2);
    const spy = spyingRelay(deps.relay);
    const spied = { ...deps, relay: spy.relay };
    const started = Date.now();
    // Act
    const reading = readChunks(spied, r.id, jobId, 0, 1);
    await sleep(30);
    w.advance(job.leaseUntil - w.clock.now());
    expect(await handleMatchingMessage(w.deps, { type: "lease", jobId, attempt: 0 })).toBe("advanced");
    const answer = await reading;
    // Assess
    expect(answer).toEqual({ chunks: [], next: 0 });
    expect(Date.now() - started).toBeLessThan(500);
    expect(spy.reads[0]!.signal!.aborted).toBe(true);
  });

  it("a wait ends on the job's completion: the job view, and the relay buffer is ended when nothing remains", FAST, async () => {
    // Prepare
    const { w, deps, relay, jobId, workers, envelope, r } = await relayWorld();
    await publishChunks(deps, workers[0]!.id, jobId, [chunk(jobId, 0, 0)]);
    const started = Date.now();
    // Act
    const reading = readChunks(deps, r.id, jobId, 1, 1);
    await sleep(30);
    await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope));
    const answer = await reading;
    // Assess
    expect(Date.now() - started).toBeLessThan(500);
    expect(answer.chunks).toEqual([]);
    expect(answer.next).toBe(1);
    expect(answer.job).toMatchObject({ jobId, status: "completed", attempt: 0 });
    expect(answer.job!.reply).toBeDefined();
    expect((await relay.read(jobId, 1, 0)).ended).toBe(true);
  });

  it("a wait that runs out: exactly { chunks: [], next }, no job view, the buffer left open", FAST, async () => {
    // Prepare
    const { deps, relay, jobId, workers, r } = await relayWorld();
    await publishChunks(deps, workers[0]!.id, jobId, [chunk(jobId, 0, 0)]);
    const started = Date.now();
    // Act
    const answer = await readChunks(deps, r.id, jobId, 1, 0.05);
    // Assess
    expect(answer).toEqual({ chunks: [], next: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
    expect((await relay.read(jobId, 1, 0)).ended).toBe(false);
  });

  it("the wait is capped at config.maxWaitSeconds, in milliseconds, for both the relay read and the job's topic", async () => {
    // Prepare: a relay and a notifier that answer at once and note the wait they were given
    const { deps, jobId, r } = await relayWorld();
    const waits: Array<{ topic: string; ms: number }> = [];
    const notifier: Notifier = {
      notify: () => {},
      wait: (topic, ms) => (waits.push({ topic, ms }), new Promise<unknown>(() => {})),
    };
    const reads: number[] = [];
    const relay: RelayPort = {
      ...deps.relay,
      read: (_jobId, from, waitMs) => (reads.push(waitMs), Promise.resolve({ chunks: [], next: from, ended: false })),
    };
    const capped = { ...deps, relay, notifier, config: { ...deps.config, maxWaitSeconds: 2 } };
    // Act
    const answer = await readChunks(capped, r.id, jobId, 0, 30);
    // Assess
    expect(answer).toEqual({ chunks: [], next: 0 });
    expect(reads[0]).toBe(2_000);
    expect(waits).toEqual([{ topic: `job:${jobId}`, ms: 2_000 }]);
  });
});

describe("readChunks: a finished job", () => {
  it("completed with chunks remaining: those chunks, `next` and the job view; the buffer stays open for them", async () => {
    // Prepare
    const { w, deps, relay, jobId, workers, envelope, r } = await relayWorld();
    const chunks = [chunk(jobId, 0, 0), chunk(jobId, 0, 1, true)];
    await publishChunks(deps, workers[0]!.id, jobId, chunks);
    await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope));
    // Act
    const answer = await readChunks(deps, r.id, jobId, 0, 0);
    // Assess
    expect(answer.chunks).toEqual(chunks);
    expect(answer.next).toBe(2);
    expect(answer.job).toMatchObject({ jobId, status: "completed" });
    expect(answer.job!.receipt).toBeDefined();
    expect((await relay.read(jobId, 2, 0)).ended).toBe(false);
  });

  it("completed with nothing remaining: no chunks, the job view, and the relay's buffer for it is ended", async () => {
    // Prepare
    const { w, deps, relay, jobId, workers, envelope, r } = await relayWorld();
    await publishChunks(deps, workers[0]!.id, jobId, [chunk(jobId, 0, 0, true)]);
    await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope));
    // Act
    const answer = await readChunks(deps, r.id, jobId, 1, 0);
    // Assess
    expect(answer).toMatchObject({ chunks: [], next: 1, job: { jobId, status: "completed" } });
    expect((await relay.read(jobId, 1, 0)).ended).toBe(true);
  });

  it("refunded with chunks remaining: they come with the job view at once, even when asked to wait", FAST, async () => {
    // Prepare
    const { w, deps, relay, jobId, workers, r } = await relayWorld();
    await publishChunks(deps, workers[0]!.id, jobId, [chunk(jobId, 0, 0)]);
    await postResult(w.deps, workers[0]!.id, failed(jobId, 0));
    const started = Date.now();
    // Act
    const answer = await readChunks(deps, r.id, jobId, 0, 1);
    // Assess
    expect(Date.now() - started).toBeLessThan(500);
    expect(answer.chunks).toEqual([chunk(jobId, 0, 0)]);
    expect(answer.next).toBe(1);
    expect(answer.job).toMatchObject({ jobId, status: "refunded" });
    expect((await relay.read(jobId, 1, 0)).ended).toBe(false);
  });

  it("refunded with nothing remaining: at once, no chunks, the job view, and the buffer is ended", FAST, async () => {
    // Prepare
    const { w, deps, relay, jobId, workers, r } = await relayWorld();
    await publishChunks(deps, workers[0]!.id, jobId, [chunk(jobId, 0, 0)]);
    await postResult(w.deps, workers[0]!.id, failed(jobId, 0));
    const started = Date.now();
    // Act
    const answer = await readChunks(deps, r.id, jobId, 1, 1);
    // Assess
    expect(Date.now() - started).toBeLessThan(500);
    expect(answer).toMatchObject({ chunks: [], next: 1, job: { jobId, status: "refunded" } });
    expect((await relay.read(jobId, 1, 0)).ended).toBe(true);
  });
});
