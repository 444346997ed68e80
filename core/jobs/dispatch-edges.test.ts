/**
 * core/jobs/dispatch.ts edges (issue 14, mutation-checked): the delays of lease checks (SQS's
 * 900 s cap, whole seconds rounded up), dispatch messages from the matching queue, a lost
 * envelope, a failed send, what is logged and notified, and every way `advance` can lose a
 * race (the job moved on, was settled, or the store failed) without moving money twice or
 * hiding a broken book.
 */
import { describe, expect, it } from "vitest";
import { OverdraftError } from "../ledger";
import { ConditionFailedError, type WriteOp } from "../ports";
import { markSuspect } from "../workers";
import { advance, COMMIT_WAIT_MS, handleMatchingMessage, sendLeaseCheck } from "./dispatch";
import { envelopeKey, jobTopic, type JobItem } from "./items";
import { MAX_JOB_MS } from "./lease";
import { pollJobs } from "./poll";
import { postResult } from "./results";
import { FUNDS, MODEL, makeJobWorld, type JobWorld } from "./testing";

const jobOf = async (w: JobWorld, jobId: string) => (await w.store.get<JobItem>("jobs", { pk: jobId, sk: "job" }))!;

/** Records every send (queue, body, delay) and every notified topic from here on. */
function spy(w: JobWorld) {
  const sent: Array<{ queue: string; body: unknown; delaySeconds: number | undefined }> = [];
  const send = w.deps.queues.send.bind(w.deps.queues);
  w.deps.queues.send = async (queue, body, opts) => {
    sent.push({ queue, body, delaySeconds: opts?.delaySeconds });
    return send(queue, body, opts);
  };
  const topics: string[] = [];
  const notify = w.deps.notifier.notify.bind(w.deps.notifier);
  w.deps.notifier.notify = (topic, data) => {
    topics.push(topic);
    notify(topic, data);
  };
  return { sent, topics };
}

/** Makes the next store transaction that `matches` fail with `error` (before it writes anything). */
function failNext(w: JobWorld, matches: (ops: WriteOp[]) => boolean, error: () => Error) {
  const transact = w.store.transact;
  w.store.transact = async (ops) => {
    if (matches(ops)) {
      w.store.transact = transact;
      throw error();
    }
    return transact(ops);
  };
}
const isRefund = (jobId: string) => (ops: WriteOp[]) =>
  ops.some((op) => op.op === "put" && op.table === "ledger" && op.item.pk === `refund:${jobId}`);
const isMove = (ops: WriteOp[]) => ops.some((op) => op.op === "update" && op.table === "jobs" && op.set?.attempt !== undefined);

describe("lease check delays", () => {
  it("a lease check waits until the lease runs out, in whole seconds rounded up, never more than SQS's 900 s, never less than 0", async () => {
    // Prepare
    const w = makeJobWorld();
    const { sent } = spy(w);
    const now = w.clock.now();
    const jobId = "job_00000000000000000000000000";
    // Act
    await sendLeaseCheck(w.deps, { jobId, attempt: 2, leaseUntil: now + 31_600 }, undefined);
    await sendLeaseCheck(w.deps, { jobId, attempt: 2, leaseUntil: now + 2_000_000 }, undefined);
    await sendLeaseCheck(w.deps, { jobId, attempt: 2, leaseUntil: now - 5_000 }, undefined);
    // Assess
    expect(sent).toEqual([
      { queue: "matching", body: { type: "lease", jobId, attempt: 2 }, delaySeconds: 32 },
      { queue: "matching", body: { type: "lease", jobId, attempt: 2 }, delaySeconds: 900 },
      { queue: "matching", body: { type: "lease", jobId, attempt: 2 }, delaySeconds: 0 },
    ]);
  });

  it("a submitted job's first lease check comes when its lease runs out, with the job's envelope", async () => {
    const w = makeJobWorld();
    const { sent } = spy(w);
    const { job, envelope } = await w.submitted(1);
    const lease = w.deps.config.leaseBaseSeconds * 1000 + 32 * w.deps.config.leaseMsPerToken;
    expect(sent.filter((s) => s.queue === "matching")).toEqual([
      { queue: "matching", body: { type: "lease", jobId: job.jobId, attempt: 0, envelope }, delaySeconds: Math.ceil(lease / 1000) },
    ]);
  });

  it("a check that waits for its commit is re-sent (with its envelope) for the time left until awaitUntil, then dropped with a log line naming the job (not its envelope)", async () => {
    // Prepare: a check for a job that never comes, first seen 600 s ago
    const w = makeJobWorld();
    const { envelope } = await w.submitted(1);
    const { sent } = spy(w);
    const jobId = "job_00000000000000000000000000";
    const awaitUntil = w.clock.now() + COMMIT_WAIT_MS - 600_000;
    // Act
    const waiting = await handleMatchingMessage(w.deps, { type: "lease", jobId, attempt: 0, awaitUntil, envelope });
    w.advance(awaitUntil - w.clock.now());
    const dropped = await handleMatchingMessage(w.deps, { type: "lease", jobId, attempt: 0, awaitUntil, envelope });
    // Assess
    expect(waiting).toBe("awaiting");
    expect(sent).toEqual([{ queue: "matching", body: { type: "lease", jobId, attempt: 0, awaitUntil, envelope }, delaySeconds: 300 }]);
    expect(dropped).toBe("stale");
    expect(w.logs).toContainEqual({ level: "info", msg: "lease check dropped: its commit never landed", data: { jobId, attempt: 0 } });
  });
});

describe("dispatch messages on the matching queue", () => {
  it("a dispatch for the job's current attempt puts it on its candidate's queue again and wakes the candidate and the job's waiters", async () => {
    // Prepare: the first dispatch was taken (and lost) by the worker
    const w = makeJobWorld();
    const { header, envelope, job, workers } = await w.submitted(1);
    await w.queues.purge(`worker-${workers[0]!.id}`);
    const { topics } = spy(w);
    // Act
    const outcome = await handleMatchingMessage(w.deps, { type: "dispatch", jobId: header.jobId, attempt: 0 });
    // Assess
    expect(outcome).toBe("dispatched");
    expect((await pollJobs(w.deps, workers[0]!.id, 0)).jobs).toEqual([
      { jobId: header.jobId, attempt: 0, envelope, deadline: job.leaseUntil },
    ]);
    expect(topics).toEqual([`worker:${workers[0]!.id}`, jobTopic(header.jobId)]);
  });

  it("a dispatch for a job that does not exist, or for an attempt it has left, is stale: nothing is sent", async () => {
    // Prepare: a job moved on to attempt 1
    const w = makeJobWorld();
    const { header, workers } = await w.submitted(2);
    await postResult(w.deps, workers[0]!.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error" });
    const { sent } = spy(w);
    // Act
    const unknown = await handleMatchingMessage(w.deps, { type: "dispatch", jobId: "job_00000000000000000000000000", attempt: 0 });
    const left = await handleMatchingMessage(w.deps, { type: "dispatch", jobId: header.jobId, attempt: 0 });
    // Assess
    expect([unknown, left]).toEqual(["stale", "stale"]);
    expect(sent).toEqual([]);
  });

  it("a job whose envelope item is gone cannot be dispatched: the error names the job", async () => {
    const w = makeJobWorld();
    const { header } = await w.submitted(1);
    await w.store.transact([{ op: "delete", table: "jobs", key: envelopeKey(header.jobId) }]);
    await expect(handleMatchingMessage(w.deps, { type: "dispatch", jobId: header.jobId, attempt: 0 })).rejects.toThrow(
      `envelope of ${header.jobId} is missing`,
    );
  });

  it("a send to the worker's queue that fails is logged with the job and attempt, and the worker is still woken (the lease check covers the job)", async () => {
    // Prepare
    const w = makeJobWorld();
    const { header, workers } = await w.submitted(1);
    const { topics } = spy(w);
    const send = w.deps.queues.send;
    w.deps.queues.send = async (queue, body, opts) => {
      if (queue.startsWith("worker-")) throw new Error("queue down");
      return send(queue, body, opts);
    };
    // Act
    const outcome = await handleMatchingMessage(w.deps, { type: "dispatch", jobId: header.jobId, attempt: 0 });
    // Assess
    expect(outcome).toBe("dispatched");
    expect(w.logs).toContainEqual({
      level: "warn",
      msg: "dispatch failed; the lease check will move the job on",
      data: { jobId: header.jobId, attempt: 0, error: "Error: queue down" },
    });
    expect(topics).toEqual([`worker:${workers[0]!.id}`, jobTopic(header.jobId)]);
  });
});

describe("advance: moves and refunds that lose a race", () => {
  it("a move logs where the job went and why", async () => {
    const w = makeJobWorld();
    const { header, job } = await w.submitted(2);
    w.advance(job.leaseUntil - w.clock.now());
    await handleMatchingMessage(w.deps, { type: "lease", jobId: header.jobId, attempt: 0 });
    expect(w.logs).toContainEqual({
      level: "info",
      msg: "job reassigned",
      data: { jobId: header.jobId, from: 0, to: 1, reason: "expired" },
    });
  });

  it("session 42: a job past its longest life is refunded when its worker fails, not handed to the next candidate", async () => {
    // Prepare: three candidates; the first fails the job an hour after submit
    const w = makeJobWorld();
    const { header, workers } = await w.submitted(3);
    w.clock.t += MAX_JOB_MS;
    const queued = [1, 2].map((i) => w.queues.stats(`worker-${workers[i]!.id}`).visible);
    // Act
    await postResult(w.deps, workers[0]!.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_unavailable" });
    // Assess: refunded at attempt 0, nothing sent to the others
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "refunded", attempt: 0, outcome: "failed" });
    expect([1, 2].map((i) => w.queues.stats(`worker-${workers[i]!.id}`).visible)).toEqual(queued);
  });

  it("a move from an attempt the job has left answers false and dispatches nothing", async () => {
    // Prepare: the job already moved from attempt 0 to 1; a stale copy of it at attempt 0
    const w = makeJobWorld();
    const { header, job, workers } = await w.submitted(3);
    await postResult(w.deps, workers[0]!.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error" });
    const queued = [1, 2].map((i) => w.queues.stats(`worker-${workers[i]!.id}`).visible);
    // Act
    const moved = await advance(w.deps, job, 0, "expired");
    // Assess
    expect(moved).toBe(false);
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 1 });
    expect([1, 2].map((i) => w.queues.stats(`worker-${workers[i]!.id}`).visible)).toEqual(queued);
    expect(w.logs.filter((l) => l.msg === "job reassigned")).toHaveLength(1);
  });

  it("a move whose write was applied but answered as a failed condition (DynamoDB's lost answer, re-sent by the AWS SDK) still dispatches to the next candidate", async () => {
    // Prepare: the move's write lands, and the store then says its condition failed
    const w = makeJobWorld();
    const { header, job, workers } = await w.submitted(2);
    const transact = w.store.transact;
    w.store.transact = async (ops) => {
      if (!isMove(ops)) return transact(ops);
      w.store.transact = transact;
      await transact(ops);
      throw new ConditionFailedError(0, "condition of op 0 failed (the re-send of a write that was applied)");
    };
    const before = w.queues.stats(`worker-${workers[1]!.id}`).visible;
    // Act
    const moved = await advance(w.deps, job, 0, "expired");
    // Assess
    expect(moved).toBe(true);
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 1 });
    expect(w.queues.stats(`worker-${workers[1]!.id}`).visible).toBe(before + 1);
  });

  it("a store failure while moving the job is thrown, not taken for a lost race", async () => {
    const w = makeJobWorld();
    const { header, job } = await w.submitted(2);
    failNext(w, isMove, () => new Error("store down"));
    await expect(advance(w.deps, job, 0, "expired")).rejects.toThrow("store down");
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 0 });
  });

  it("the last candidate's silence refunds in full, logs it and wakes the job's waiters", async () => {
    const w = makeJobWorld();
    const { r, header, job } = await w.submitted(1);
    const { topics } = spy(w);
    const refunded = await advance(w.deps, job, 0, "expired");
    expect(refunded).toBe(true);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(w.logs).toContainEqual({ level: "info", msg: "job refunded", data: { jobId: header.jobId, outcome: "expired" } });
    expect(topics).toContain(jobTopic(header.jobId));
  });

  it("a refund from an attempt the job has left (the hold still there) answers false: nothing refunded, nothing logged", async () => {
    // Prepare: the job moved to B; B then looks dead to a stale copy at attempt 0
    const w = makeJobWorld();
    const { r, header, job, workers } = await w.submitted(2);
    await postResult(w.deps, workers[0]!.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error" });
    await markSuspect(w.deps, MODEL, workers[1]!.id);
    const { topics } = spy(w);
    // Act
    const refunded = await advance(w.deps, job, 0, "expired");
    // Assess
    expect(refunded).toBe(false);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - BigInt(header.maxCost), held: BigInt(header.maxCost) });
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 1 });
    expect(w.logs.filter((l) => l.msg === "job refunded")).toEqual([]);
    expect(topics).toEqual([]);
  });

  it("a refund of a job settled meanwhile (its hold is gone) answers false: the requester keeps the settlement, nothing else moves", async () => {
    // Prepare: a stale copy at attempt 0 of a job its worker completed
    const w = makeJobWorld();
    const { r, envelope, header, job, workers } = await w.submitted(1);
    await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope));
    const settled = await w.balance(r.id);
    // Act
    const refunded = await advance(w.deps, job, 0, "expired");
    // Assess
    expect(refunded).toBe(false);
    expect(await w.balance(r.id)).toEqual(settled);
    expect(settled.held).toBe(0n);
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "completed" });
    expect(w.logs.filter((l) => l.msg === "job refunded")).toEqual([]);
  });

  it("an overdraft on the refund of a job still assigned at that attempt is thrown: the books are wrong, it is not a lost race", async () => {
    const w = makeJobWorld();
    const { r, header, job } = await w.submitted(1);
    failNext(w, isRefund(header.jobId), () => new OverdraftError(`req:${r.id}`));
    await expect(advance(w.deps, job, 0, "expired")).rejects.toBeInstanceOf(OverdraftError);
  });

  it("an overdraft on a refund from an attempt the job has since left answers false", async () => {
    // Prepare: the job moved to B (dead), and the refund from the stale attempt 0 hits an overdraft
    const w = makeJobWorld();
    const { header, job, workers } = await w.submitted(2);
    await postResult(w.deps, workers[0]!.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error" });
    await markSuspect(w.deps, MODEL, workers[1]!.id);
    failNext(w, isRefund(header.jobId), () => new OverdraftError("req:x"));
    // Act / Assess
    expect(await advance(w.deps, job, 0, "expired")).toBe(false);
  });

  it("an overdraft on a refund of a job whose item is gone (TTL) answers false, without a crash", async () => {
    const w = makeJobWorld();
    const { header, job } = await w.submitted(1);
    await w.store.transact([{ op: "delete", table: "jobs", key: { pk: header.jobId, sk: "job" } }]);
    failNext(w, isRefund(header.jobId), () => new OverdraftError("req:x"));
    expect(await advance(w.deps, job, 0, "expired")).toBe(false);
  });

  it("any other store failure on a refund is thrown, even when the job has moved on meanwhile", async () => {
    // Prepare
    const w = makeJobWorld();
    const { header, job, workers } = await w.submitted(2);
    const single = await w.submitted(1);
    await postResult(w.deps, workers[0]!.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error" });
    await markSuspect(w.deps, MODEL, workers[1]!.id);
    // Act / Assess: the job moved on (to attempt 1), and the job still where the refund found it
    failNext(w, isRefund(header.jobId), () => new Error("store down"));
    await expect(advance(w.deps, job, 0, "expired")).rejects.toThrow("store down");
    failNext(w, isRefund(single.header.jobId), () => new Error("store down"));
    await expect(advance(w.deps, single.job, 0, "expired")).rejects.toThrow("store down");
  });
});
