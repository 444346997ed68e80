/**
 * Session 35's mutation run of core/jobs/lease.ts (the extension conditioned on the job's
 * updatedAt, retried while the job keeps changing under it) left these untested: how many
 * writes an extension tries before it gives up, and what it answers when the job moved on
 * between its read and its write.
 */
import { describe, expect, it } from "vitest";
import { CocoonError } from "../errors";
import { ConditionFailedError } from "../ports";
import { jobKey, type JobItem } from "./items";
import { extendLease } from "./lease";
import { submitJob } from "./submit";
import { makeJobWorld, type JobWorld } from "./testing";

async function submitted(w: JobWorld) {
  await w.worker();
  const r = await w.requester();
  const { envelope, header, quote } = await w.sealedJob(r, { candidates: 1 });
  await submitJob(w.deps, r.id, envelope, "key-00000001", quote);
  const job = (await w.store.get<JobItem>("jobs", jobKey(header.jobId)))!;
  return { job, worker: job.candidates[0]!.workerId };
}

const isExtension = (ops: Parameters<JobWorld["store"]["transact"]>[0]) =>
  ops.some((op) => op.op === "update" && op.table === "jobs" && op.set?.leaseUntil !== undefined && op.set.attempt === undefined);

const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => "resolved",
    (e: unknown) => (e instanceof CocoonError ? `${e.status} ${e.code}: ${e.message}` : String(e)),
  );

describe("extendLease against a job that changes under it", () => {
  it("a write that loses every time (the job still assigned) is tried 5 times, then answered 409 stale_attempt: never a loop", async () => {
    // Prepare: every extension write fails its condition, as if another extension landed just before each
    const w = makeJobWorld();
    const { job, worker } = await submitted(w);
    w.advance((job.leaseUntil - w.clock.now()) / 2); // half the lease left: when an agent asks (a step it writes)
    const transact = w.store.transact;
    let writes = 0;
    w.store.transact = async (ops) => {
      if (!isExtension(ops)) return transact(ops);
      writes++;
      // a runaway retry ends the test instead of hanging it
      if (writes > 20) throw new Error("extension retried without bound");
      throw new ConditionFailedError(0);
    };
    // Act
    const answer = await errorOf(extendLease(w.deps, worker, { jobId: job.jobId, attempt: 0 }));
    // Assess
    expect(answer).toBe(`409 stale_attempt: job ${job.jobId} moved on while its lease was being extended`);
    expect(writes).toBe(5);
  });

  it("a result that lands between the extension's read and its write (same attempt, no longer assigned): 409 stale_attempt, the job moved on", async () => {
    // Prepare: the job completes at its attempt just before the extension's write
    const w = makeJobWorld();
    const { job, worker } = await submitted(w);
    w.advance((job.leaseUntil - w.clock.now()) / 2); // half the lease left: when an agent asks (a step it writes)
    const transact = w.store.transact;
    w.store.transact = async (ops) => {
      if (isExtension(ops)) {
        w.store.transact = transact;
        await transact([
          { op: "update", table: "jobs", key: jobKey(job.jobId), set: { status: "completed", updatedAt: w.clock.now() + 1 } },
        ]);
      }
      return transact(ops);
    };
    // Act
    const answer = await errorOf(extendLease(w.deps, worker, { jobId: job.jobId, attempt: 0 }));
    // Assess: refused as a move seen at the write, and the job keeps its completed state and its lease
    expect(answer).toBe(`409 stale_attempt: job ${job.jobId} moved on while its lease was being extended`);
    expect(await w.store.get<JobItem>("jobs", jobKey(job.jobId))).toMatchObject({ status: "completed", leaseUntil: job.leaseUntil });
  });
});
