/**
 * core/jobs/poll.ts and core/jobs/lease.ts edges (issue 14, mutation-checked).
 * Poll: the wait is capped by config, open attestation challenges are handed out and closed
 * ones dropped, a dispatch is handed out only while its job is assigned at that attempt to the
 * polling worker (not for a finished or unknown job), a malformed message is logged by id.
 * Lease: each refusal names the job and its state, an attempt the job never had is 403, and an
 * extension that loses a race to a failover is 409 (a store failure is thrown as is).
 */
import { describe, expect, it } from "vitest";
import { createChallenge, answerChallenge } from "../challenges";
import { createDevAttestation } from "../attestation/dev";
import { b64u } from "../crypto/encoding";
import type { WriteOp } from "../ports";
import type { JobItem } from "./items";
import { extendLease } from "./lease";
import { MAX_POLL_BATCH, pollJobs } from "./poll";
import { postResult } from "./results";
import { makeJobWorld, refusal } from "./testing";

const NONCE = b64u.encode(new Uint8Array(32).fill(7));

describe("pollJobs", () => {
  it("waits no longer than config.maxWaitSeconds, and no longer than asked", async () => {
    // Prepare: record the wait the queue is asked for (and never really wait)
    const w = makeJobWorld();
    const worker = await w.worker();
    const waits: number[] = [];
    const receive = w.deps.queues.receive.bind(w.deps.queues);
    w.deps.queues.receive = (queue, opts) => {
      waits.push(opts.waitSeconds);
      return receive(queue, { ...opts, waitSeconds: 0 });
    };
    // Act
    await pollJobs(w.deps, worker.id, 60);
    await pollJobs(w.deps, worker.id, 3);
    // Assess
    expect(waits).toEqual([w.deps.config.maxWaitSeconds, 3]);
    expect(w.deps.config.maxWaitSeconds).toBeLessThan(60);
  });

  it("asks the queue for as many messages as the worker runs at once (its registered capacity), at most SQS's 10", async () => {
    // Prepare: one worker, its capacity set in turn; record what the queue is asked for
    const w = makeJobWorld();
    const worker = await w.worker();
    const asked: number[] = [];
    const receive = w.deps.queues.receive.bind(w.deps.queues);
    w.deps.queues.receive = (queue, opts) => {
      asked.push(opts.max);
      return receive(queue, opts);
    };
    const capacities = [1, 3, 4, 10, 64];
    // Act
    for (const capacity of capacities) {
      // as a registration writes it: on the worker item and its summary
      await w.store.transact(
        ["worker", "summary"].map((sk) => ({
          op: "update" as const,
          table: "workers" as const,
          key: { pk: worker.id, sk },
          set: { capacity },
        })),
      );
      await pollJobs(w.deps, worker.id, 0);
    }
    await pollJobs(w.deps, worker.id, 0, 2); // an explicit max stands
    // Assess
    expect(asked).toEqual([1, 3, 4, 10, MAX_POLL_BATCH, 2]);
    expect(MAX_POLL_BATCH).toBe(10);
  });

  it("hands out an open attestation challenge for the worker, and drops one that was answered meanwhile", async () => {
    // Prepare: two challenges; the worker answers the second before it polls
    const w = makeJobWorld();
    const worker = await w.worker();
    const requester = await w.requester();
    const open = await createChallenge(w.deps, requester.id, { workerId: worker.id, nonce: NONCE });
    const answered = await createChallenge(w.deps, requester.id, { workerId: worker.id, nonce: NONCE });
    const attestation = createDevAttestation({
      hpkePublicKey: worker.kem.publicKey,
      signingPublicKey: worker.signing.publicKey,
      nonce: b64u.decode(NONCE),
      now: w.clock.now(),
    });
    await answerChallenge(w.deps, worker.id, { challengeId: answered.challengeId, attestation });
    // Act
    const polled = await pollJobs(w.deps, worker.id, 0);
    // Assess
    expect(polled).toEqual({
      jobs: [],
      challenges: [{ kind: "challenge", challengeId: open.challengeId, nonce: NONCE, expiresAt: open.expiresAt }],
    });
    expect(w.queues.stats(`worker-${worker.id}`)).toMatchObject({ visible: 0, inFlight: 0 });
  });

  it("a dispatch of a job that finished, or of a job it does not know, is not handed out (and does not fail the poll)", async () => {
    // Prepare: A completes the job, then finds a duplicate of its dispatch and one for an unknown job
    const w = makeJobWorld();
    const { envelope, header, workers } = await w.submitted(1);
    const a = workers[0]!;
    await pollJobs(w.deps, a.id, 0);
    await postResult(w.deps, a.id, w.completed(a, envelope));
    await w.deps.queues.send(`worker-${a.id}`, { jobId: header.jobId, attempt: 0, envelope, deadline: 0 });
    await w.deps.queues.send(`worker-${a.id}`, { jobId: "job_00000000000000000000000000", attempt: 0, envelope, deadline: 0 });
    // Act
    const polled = await pollJobs(w.deps, a.id, 0);
    // Assess
    expect(polled).toEqual({ jobs: [], challenges: [] });
  });

  it("a malformed message is dropped with a warning naming the worker and the message", async () => {
    const w = makeJobWorld();
    const worker = await w.worker();
    await w.deps.queues.send(`worker-${worker.id}`, { hello: "not a job" });
    const [peek] = await w.queues.receive(`worker-${worker.id}`, { max: 1, waitSeconds: 0, visibilitySeconds: 0 });
    const polled = await pollJobs(w.deps, worker.id, 0);
    expect(polled).toEqual({ jobs: [], challenges: [] });
    expect(w.logs).toContainEqual({
      level: "warn",
      msg: "dropped a malformed message from a worker queue",
      data: { workerId: worker.id, messageId: peek!.id },
    });
  });
});

describe("extendLease refusals", () => {
  it("an unknown job is 404 naming it; an attempt the job never had is 403 not_your_job", async () => {
    const w = makeJobWorld();
    const { header, workers } = await w.submitted(1);
    const unknown = "job_00000000000000000000000000";
    expect(await refusal(extendLease(w.deps, workers[0]!.id, { jobId: unknown, attempt: 0 }))).toEqual({
      status: 404,
      code: "unknown_job",
      message: `no job ${unknown}`,
    });
    expect(await refusal(extendLease(w.deps, workers[0]!.id, { jobId: header.jobId, attempt: 5 }))).toEqual({
      status: 403,
      code: "not_your_job",
      message: "this job was not dispatched to you at that attempt",
    });
  });

  it("a finished job is 409 stale_attempt saying its status and attempt; nothing is written", async () => {
    // Prepare
    const w = makeJobWorld();
    const { envelope, header, workers } = await w.submitted(1);
    await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope));
    const writes = w.transacts.length;
    // Act
    const r = await refusal(extendLease(w.deps, workers[0]!.id, { jobId: header.jobId, attempt: 0 }));
    // Assess
    expect(r).toEqual({
      status: 409,
      code: "stale_attempt",
      message: `job ${header.jobId} is no longer assigned to you (status completed, attempt 0); stop working on it`,
    });
    expect(w.transacts.length).toBe(writes);
  });

  it("an extension that loses the race to a failover is 409 stale_attempt; the job stays with the next candidate", async () => {
    // Prepare: the job moves on between the extension's read and its write
    const w = makeJobWorld();
    const { header, workers, job } = await w.submitted(2);
    w.advance((job.leaseUntil - w.clock.now()) / 2); // half the lease left: when an agent asks (a step it writes)
    const transact = w.store.transact;
    w.store.transact = async (ops: WriteOp[]) => {
      w.store.transact = transact;
      await postResult(w.deps, workers[0]!.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error" });
      return transact(ops);
    };
    // Act
    const r = await refusal(extendLease(w.deps, workers[0]!.id, { jobId: header.jobId, attempt: 0 }));
    // Assess
    expect(r).toEqual({ status: 409, code: "stale_attempt", message: `job ${header.jobId} moved on while its lease was being extended` });
    const now = (await w.store.get<JobItem>("jobs", { pk: header.jobId, sk: "job" }))!;
    expect(now).toMatchObject({ status: "assigned", attempt: 1 });
    expect(now.leaseUntil).not.toBe(job.leaseUntil);
  });

  it("a store failure while extending is thrown as is (not a 409)", async () => {
    const w = makeJobWorld();
    const { header, workers, job } = await w.submitted(1);
    w.advance((job.leaseUntil - w.clock.now()) / 2); // half the lease left: when an agent asks (a step it writes)
    const transact = w.store.transact;
    w.store.transact = async () => {
      w.store.transact = transact;
      throw new Error("store down");
    };
    await expect(extendLease(w.deps, workers[0]!.id, { jobId: header.jobId, attempt: 0 })).rejects.toThrow("store down");
  });
});
