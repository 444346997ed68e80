/**
 * core/jobs leases, failover and refunds over the in-memory store: a lease check moves a job
 * on only when its lease ran out at the attempt it names; the last candidate's failure or
 * silence refunds the hold in the same transaction that records the outcome.
 */
import { describe, expect, it } from "vitest";
import type { MatchingMessage } from "../../events/queue";
import { heartbeat, isLive, markSuspect, offerKey, type OfferItem } from "../workers";
import { COMMIT_RECHECK_MS, COMMIT_WAIT_MS, handleMatchingMessage } from "./dispatch";
import type { JobItem } from "./items";
import { pollJobs } from "./poll";
import { getJob } from "./read";
import { postResult } from "./results";
import { submitJob } from "./submit";
import { isHoldCommit, FUNDS, MODEL, T0, makeJobWorld, type JobWorld, type TestWorker } from "./testing";

const lease = (jobId: string, attempt: number): MatchingMessage => ({ type: "lease", jobId, attempt });
const jobOf = (w: JobWorld, jobId: string) => w.store.get<JobItem>("jobs", { pk: jobId, sk: "job" });
const offerOf = (w: JobWorld, workerId: string) => w.store.get<OfferItem>("offers", offerKey(MODEL, workerId));

describe("leases", () => {
  it("a lease check that comes before the lease ran out re-queues itself and leaves the job alone", async () => {
    // Prepare
    const w = makeJobWorld();
    const { header, job } = await w.submitted(2);
    w.advance(job.leaseUntil - w.clock.now() - 1000);
    // Act
    const outcome = await handleMatchingMessage(w.deps, lease(header.jobId, 0));
    // Assess
    expect(outcome).toBe("rescheduled");
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 0 });
    expect(w.queues.stats("matching").delayed).toBe(2); // the submit's and the re-queued one
  });

  it("a lease that ran out moves the job to the next candidate, dispatches it there, and takes the silent worker off the lists", async () => {
    // Prepare
    const w = makeJobWorld();
    const { header, job, workers } = await w.submitted(2);
    const [a, b] = workers as [TestWorker, TestWorker];
    w.advance(job.leaseUntil - w.clock.now());
    // Act
    const outcome = await handleMatchingMessage(w.deps, lease(header.jobId, 0));
    // Assess
    expect(outcome).toBe("advanced");
    const moved = await jobOf(w, header.jobId);
    expect(moved).toMatchObject({
      status: "assigned",
      attempt: 1,
      leaseUntil: w.clock.now() + w.deps.config.leaseBaseSeconds * 1000 + 32 * w.deps.config.leaseMsPerToken,
    });
    expect(isLive((await offerOf(w, a.id))!, w.clock.now(), w.deps.config.livenessMs)).toBe(false);
    expect((await pollJobs(w.deps, b.id, 0)).jobs.map((j) => [j.jobId, j.attempt])).toEqual([[header.jobId, 1]]);
  });

  it("a lease check for an attempt the job has left is stale: nothing moves and nobody is marked suspect", async () => {
    // Prepare: the job completed at attempt 0, then its lease check arrives late
    const w = makeJobWorld();
    const { r, header, envelope, job, workers } = await w.submitted(2);
    await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope));
    const before = await w.balance(r.id);
    w.advance(job.leaseUntil - w.clock.now() + 1000);
    // Act
    const late = await handleMatchingMessage(w.deps, lease(header.jobId, 0));
    const ahead = await handleMatchingMessage(w.deps, lease(header.jobId, 1));
    // Assess
    expect(late).toBe("stale");
    expect(ahead).toBe("stale"); // a completed job never moves to attempt 1
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "completed", attempt: 0 });
    expect(await w.balance(r.id)).toEqual(before);
    expect(isLive((await offerOf(w, workers[0]!.id))!, w.clock.now(), w.deps.config.livenessMs)).toBe(true);
  });

  it("the same lease check delivered twice at once moves the job on once: one dispatch, to the next candidate only", async () => {
    // Prepare
    const w = makeJobWorld();
    const { header, job, workers } = await w.submitted(3);
    w.advance(job.leaseUntil - w.clock.now());
    await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 900 }); // the submit's check, handled below by hand
    // Act
    const outcomes = await Promise.all([
      handleMatchingMessage(w.deps, lease(header.jobId, 0)),
      handleMatchingMessage(w.deps, lease(header.jobId, 0)),
    ]);
    // Assess
    expect(outcomes).toEqual(["advanced", "advanced"]);
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 1 });
    expect(w.queues.stats(`worker-${workers[1]!.id}`).visible).toBe(1);
    expect(w.queues.stats(`worker-${workers[2]!.id}`).visible).toBe(0);
  });

  it("when the last candidate's lease runs out the job is refunded with outcome expired, in full", async () => {
    const w = makeJobWorld();
    const { r, header, job } = await w.submitted(1);
    w.advance(job.leaseUntil - w.clock.now());
    await handleMatchingMessage(w.deps, lease(header.jobId, 0));
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "refunded", outcome: "expired" });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(await w.store.get("ledger", { pk: `refund:${header.jobId}`, sk: "tx" })).toBeDefined();
  });

  it("a refund for an attempt the job has left meanwhile (a failover won the race) writes nothing; the job stays with the new candidate", async () => {
    // Prepare: B looks dead to the lease check of attempt 0, which decides to refund; before
    // its refund commits, B heartbeats and A's failure report moves the job to B.
    const w = makeJobWorld();
    const { r, header, job, workers } = await w.submitted(2);
    const [a, b] = workers as [TestWorker, TestWorker];
    await markSuspect(w.deps, MODEL, b.id);
    w.advance(job.leaseUntil - w.clock.now());
    const transact = w.store.transact;
    w.store.transact = async (ops) => {
      if (ops.some((op) => op.op === "put" && op.table === "ledger" && op.item.pk === `refund:${header.jobId}`)) {
        w.store.transact = transact;
        await heartbeat(w.deps, b.id, 0);
        await postResult(w.deps, a.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error" });
      }
      return transact(ops);
    };
    // Act
    await handleMatchingMessage(w.deps, lease(header.jobId, 0));
    // Assess
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 1 });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - BigInt(header.maxCost), held: BigInt(header.maxCost) });
    expect((await pollJobs(w.deps, b.id, 0)).jobs.map((j) => j.attempt)).toEqual([1]);
  });

  it("failover skips a candidate that is no longer live", async () => {
    // Prepare: three candidates, the second stopped heartbeating
    const w = makeJobWorld();
    const { header, job, workers } = await w.submitted(3);
    await markSuspect(w.deps, MODEL, workers[1]!.id);
    w.advance(job.leaseUntil - w.clock.now());
    // Act
    await handleMatchingMessage(w.deps, lease(header.jobId, 0));
    // Assess
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 2 });
  });
});

/** Every lease check that is due, handled as the consumer does, until none is left; the clock jumps to each. */
async function drainMatching(w: JobWorld) {
  const outcomes: string[] = [];
  for (let i = 0; i < 50; i++) {
    const got = await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
    if (got.length === 0) {
      if (w.queues.stats("matching").delayed === 0) return outcomes;
      w.advance(60_000);
      continue;
    }
    for (const m of got) {
      outcomes.push(await handleMatchingMessage(w.deps, JSON.parse(m.body) as MatchingMessage));
      await w.queues.delete("matching", m.receiptHandle);
    }
  }
  throw new Error(`the matching queue never emptied: ${outcomes.join(", ")}`);
}

/**
 * A submit whose lease check is delivered (and deleted) while its commit is still in flight,
 * past the lease (a commit slower than the lease): the check's outcome then, and when it ran.
 */
async function submittedWithEarlyCheck(idempotencyKey: string) {
  const w = makeJobWorld();
  await w.worker();
  const r = await w.requester();
  const { envelope, header, quote } = await w.sealedJob(r);
  const send = w.deps.queues.send.bind(w.deps.queues);
  let early: MatchingMessage | undefined;
  w.deps.queues.send = async (queue, body, opts) => {
    if (queue === "matching" && !early) return void (early = body as MatchingMessage); // taken by the consumer at once
    return send(queue, body, opts);
  };
  let firstOutcome = "";
  let firstLook = 0;
  const transact = w.store.transact;
  w.store.transact = async (ops) => {
    if (isHoldCommit(ops, header.jobId)) {
      w.store.transact = transact;
      w.advance(w.deps.config.leaseBaseSeconds * 1000 + 32 * w.deps.config.leaseMsPerToken + 1000);
      firstLook = w.clock.now();
      firstOutcome = await handleMatchingMessage(w.deps, early!);
    }
    return transact(ops);
  };
  await submitJob(w.deps, r.id, envelope, idempotencyKey, quote);
  return { w, r, header, firstOutcome, firstLook };
}

describe("lease checks that arrive before their commit", () => {
  it("lease check dropped before the submit commits: a check that finds no job yet waits for the submit's commit, and the job is refunded when its worker never answers", async () => {
    // Prepare: the submit's lease check is delivered (and deleted) while its commit is still
    // in flight, past the lease (a commit slower than the lease); the worker never answers.
    const { w, r, header, firstOutcome } = await submittedWithEarlyCheck("key-early-0001");
    const outcomes: string[] = [firstOutcome];
    // Act: the worker stays silent; every check is handled when due
    outcomes.push(...(await drainMatching(w)));
    // Assess: the job did not stay assigned with the requester's money held
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "refunded", outcome: "expired" });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(outcomes[0]).toBe("awaiting");
    expect(outcomes).toContain("advanced");
  });

  it("a job whose commit came after its lease check is moved on about COMMIT_RECHECK_MS later, not COMMIT_WAIT_MS (sim seed 201753)", async () => {
    // Prepare: the check is delivered past the lease while the submit's commit is in flight
    const { w, r, header, firstOutcome, firstLook } = await submittedWithEarlyCheck("key-late-commit-1");
    expect(firstOutcome).toBe("awaiting");
    // Act: the worker stays silent; the check comes back COMMIT_RECHECK_MS after its first look
    w.advance(firstLook + COMMIT_RECHECK_MS - 1 - w.clock.now());
    const before = await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
    w.advance(1);
    const [next] = await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
    const outcome = await handleMatchingMessage(w.deps, JSON.parse(next!.body) as MatchingMessage);
    // Assess: moved on (refunded: one candidate) at that look, a minute after the first
    expect(before).toEqual([]);
    expect(outcome).toBe("advanced");
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "refunded", outcome: "expired" });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
  });

  it("a recheck delivered early (before its commit landed) still looks again COMMIT_RECHECK_MS after the first look, not at COMMIT_WAIT_MS (sim seed 501078)", async () => {
    // Prepare: the first look found no job and queued its recheck; the recheck is delivered a
    // second later (a skewed clock), still before the commit
    const w = makeJobWorld();
    const jobId = "job_00000000000000000000000001";
    const first = await handleMatchingMessage(w.deps, lease(jobId, 0));
    await w.queues.purge("matching"); // taken early: it is handled below
    w.advance(1_000);
    // Act
    const second = await handleMatchingMessage(w.deps, { ...lease(jobId, 0), awaitUntil: T0 + COMMIT_WAIT_MS } as MatchingMessage);
    w.advance(T0 + COMMIT_RECHECK_MS - 1 - w.clock.now());
    const before = await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
    w.advance(1);
    const due = await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
    // Assess: one message, due at the first look + COMMIT_RECHECK_MS, still bound to the same end
    expect([first, second]).toEqual(["awaiting", "awaiting"]);
    expect(before).toEqual([]);
    expect(due.map((m) => JSON.parse(m.body))).toEqual([{ ...lease(jobId, 0), awaitUntil: T0 + COMMIT_WAIT_MS }]);
  });

  it("a lease check for the next attempt that comes before the move there commits waits for it, and then moves the job on when that lease runs out", async () => {
    // Prepare: A reports a failure; the check of attempt 1 (sent before the move commits) is
    // delivered before the move lands; B then never answers.
    const w = makeJobWorld();
    const { r, header, envelope, workers } = await w.submitted(2);
    await w.queues.purge("matching"); // the submit's check of attempt 0: not what this test is about
    const send = w.deps.queues.send.bind(w.deps.queues);
    let early: MatchingMessage | undefined;
    w.deps.queues.send = async (queue, body, opts) => {
      if (queue === "matching" && !early) return void (early = body as MatchingMessage);
      return send(queue, body, opts);
    };
    const outcomes: string[] = [];
    const transact = w.store.transact;
    w.store.transact = async (ops) => {
      if (ops.some((op) => op.op === "update" && op.table === "jobs" && op.set?.attempt === 1)) {
        w.store.transact = transact;
        outcomes.push(await handleMatchingMessage(w.deps, early!));
      }
      return transact(ops);
    };
    await postResult(w.deps, workers[0]!.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error" });
    // Act
    outcomes.push(...(await drainMatching(w)));
    // Assess
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "refunded", outcome: "expired", attempt: 1 });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(early).toEqual({ ...lease(header.jobId, 1), envelope });
    expect(outcomes[0]).toBe("awaiting");
  });

  it("a lease check whose job never comes is sent again twice, COMMIT_RECHECK_MS later and at COMMIT_WAIT_MS, and then dropped", async () => {
    // Prepare
    const w = makeJobWorld();
    const jobId = "job_00000000000000000000000000";
    const receiveAt = async (t: number) => {
      w.advance(t - w.clock.now() - 1);
      const early = await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
      w.advance(1);
      const got = await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
      for (const m of got) await w.queues.delete("matching", m.receiptHandle);
      return { early, got };
    };
    // Act
    const first = await handleMatchingMessage(w.deps, lease(jobId, 0));
    const queued = w.queues.stats("matching").delayed;
    const recheck = await receiveAt(T0 + COMMIT_RECHECK_MS);
    const second = await handleMatchingMessage(w.deps, JSON.parse(recheck.got[0]!.body) as MatchingMessage);
    const last = await receiveAt(T0 + COMMIT_WAIT_MS);
    const third = await handleMatchingMessage(w.deps, JSON.parse(last.got[0]!.body) as MatchingMessage);
    const laterAttempt = await handleMatchingMessage(w.deps, lease(jobId, 1));
    // Assess
    expect(first).toBe("awaiting");
    expect(queued).toBe(1);
    expect([recheck.early, last.early]).toEqual([[], []]);
    expect(recheck.got.map((m) => JSON.parse(m.body))).toEqual([{ ...lease(jobId, 0), awaitUntil: T0 + COMMIT_WAIT_MS }]);
    expect(second).toBe("awaiting");
    expect(last.got.map((m) => JSON.parse(m.body))).toEqual([{ ...lease(jobId, 0), awaitUntil: T0 + COMMIT_WAIT_MS }]);
    expect(third).toBe("stale");
    expect(laterAttempt).toBe("stale"); // a job is only ever created at attempt 0
    expect(w.queues.stats("matching")).toMatchObject({ visible: 0, delayed: 0 });
  });
});

describe("polls hand out only jobs still assigned to the polling worker at that attempt", () => {
  it("a dispatch left on a worker's queue after the job moved on is not handed out", async () => {
    // Prepare: the job moves from A to B before A polls
    const w = makeJobWorld();
    const { header, job, workers } = await w.submitted(2);
    w.advance(job.leaseUntil - w.clock.now());
    await handleMatchingMessage(w.deps, lease(header.jobId, 0));
    // Act
    const a = await pollJobs(w.deps, workers[0]!.id, 0);
    // Assess
    expect(a.jobs).toEqual([]);
  });

  it("a message naming an attempt of another worker is not handed out, and a malformed one is dropped with a warning", async () => {
    // Prepare: A's queue holds a copy of B's attempt, and garbage
    const w = makeJobWorld();
    const { header, envelope, job, workers } = await w.submitted(2);
    const [a, b] = workers as [TestWorker, TestWorker];
    await pollJobs(w.deps, a.id, 0); // A takes its own dispatch
    w.advance(job.leaseUntil - w.clock.now());
    await handleMatchingMessage(w.deps, lease(header.jobId, 0)); // now at attempt 1, B
    await w.deps.queues.send(`worker-${a.id}`, { jobId: header.jobId, attempt: 1, envelope, deadline: 0 });
    await w.deps.queues.send(`worker-${a.id}`, { hello: "not a job" });
    // Act
    const polled = await pollJobs(w.deps, a.id, 0);
    // Assess
    expect(polled).toEqual({ jobs: [], challenges: [] });
    expect(w.logs.filter((l) => l.msg.includes("malformed"))).toHaveLength(1);
    expect((await pollJobs(w.deps, b.id, 0)).jobs).toHaveLength(1);
  });
});

describe("failure reports: failover, then refund", () => {
  it("a failure moves the job to the next candidate; the last one's failure refunds it with outcome failed, and the requester reads the code", async () => {
    // Prepare
    const w = makeJobWorld();
    const { r, header, workers } = await w.submitted(2);
    const [a, b] = workers as [TestWorker, TestWorker];
    // Act
    const first = await postResult(w.deps, a.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error" });
    const atB = await jobOf(w, header.jobId);
    const second = await postResult(w.deps, b.id, { kind: "failed", jobId: header.jobId, attempt: 1, code: "limits_exceeded" });
    // Assess
    expect(first).toEqual({ status: "assigned", duplicate: false });
    expect(atB).toMatchObject({ status: "assigned", attempt: 1 });
    expect(second).toEqual({ status: "refunded", duplicate: false });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(await getJob(w.deps, r.id, header.jobId)).toMatchObject({
      status: "refunded",
      outcome: "failed",
      failure: { attempt: 1, workerId: b.id, code: "limits_exceeded" },
    });
    expect(await w.earned(a.id)).toBe(0n);
    expect(await w.earned(b.id)).toBe(0n);
  });

  it("a failure report for an attempt the job has left is 409 stale_attempt and writes nothing", async () => {
    // Prepare
    const w = makeJobWorld();
    const { header, workers } = await w.submitted(2);
    await postResult(w.deps, workers[0]!.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error" });
    const writes = w.transacts.length;
    const matching = w.queues.stats("matching");
    // Act
    const again = await postResult(w.deps, workers[0]!.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error" }).catch(
      (e) => e,
    );
    // Assess
    expect(again).toMatchObject({ status: 409, code: "stale_attempt" });
    expect(w.transacts.length).toBe(writes);
    expect(w.queues.stats("matching")).toEqual(matching);
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 1 });
  });
});
