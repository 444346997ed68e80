/**
 * Lease extension: the candidate running a job can push its lease out, so the lease check
 * that comes at the old time re-queues itself instead of failing the job over; nobody else
 * can, a job that moved on cannot be extended, and no job lives past MAX_JOB_MS.
 */
import { describe, expect, it } from "vitest";
import { CocoonError } from "../errors";
import { handleMatchingMessage } from "./dispatch";
import type { JobItem } from "./items";
import { extendLease, MAX_JOB_MS } from "./lease";
import { submitJob } from "./submit";
import { makeJobWorld, type JobWorld } from "./testing";

async function submitted(w: JobWorld, n = 2) {
  for (let i = 0; i < n; i++) await w.worker();
  const r = await w.requester();
  const { envelope, header, quote } = await w.sealedJob(r, { candidates: n });
  await submitJob(w.deps, r.id, envelope, "key-00000001", quote);
  const job = (await w.store.get<JobItem>("jobs", { pk: header.jobId, sk: "job" }))!;
  return { job, first: job.candidates[0]!.workerId, second: job.candidates[1]?.workerId };
}
const jobOf = async (w: JobWorld, jobId: string) => (await w.store.get<JobItem>("jobs", { pk: jobId, sk: "job" }))!;
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => "resolved",
    (e: unknown) => (e instanceof CocoonError ? `${e.status} ${e.code}` : String(e)),
  );

describe("issue 13: lease extension (POST /v1/agent/lease)", () => {
  it("the candidate's extension keeps the job: the lease check at the old time reschedules instead of failing over", async () => {
    // Prepare: the job runs most of its lease
    const w = makeJobWorld();
    const { job, first } = await submitted(w);
    w.advance(job.leaseUntil - w.clock.now() - 2_000);
    // Act
    const r = await extendLease(w.deps, first, { jobId: job.jobId, attempt: 0 });
    w.advance(2_000);
    const outcome = await handleMatchingMessage(w.deps, { type: "lease", jobId: job.jobId, attempt: 0 });
    // Assess
    expect(r).toEqual({
      extended: true,
      leaseUntil: w.clock.now() - 2_000 + w.deps.config.leaseBaseSeconds * 1000 + 32 * w.deps.config.leaseMsPerToken,
    });
    expect(outcome).toBe("rescheduled");
    expect(await jobOf(w, job.jobId)).toMatchObject({ status: "assigned", attempt: 0, leaseUntil: r.leaseUntil });
  });

  it("another worker cannot extend it (403 not_your_job), nor can the first candidate once the job moved on (409 stale_attempt)", async () => {
    // Prepare
    const w = makeJobWorld();
    const { job, first, second } = await submitted(w);
    // Act
    const byOther = await codeOf(extendLease(w.deps, second!, { jobId: job.jobId, attempt: 0 }));
    w.advance(job.leaseUntil - w.clock.now());
    await handleMatchingMessage(w.deps, { type: "lease", jobId: job.jobId, attempt: 0 });
    const late = await codeOf(extendLease(w.deps, first, { jobId: job.jobId, attempt: 0 }));
    const unknown = await codeOf(extendLease(w.deps, first, { jobId: "job_00000000000000000000000000", attempt: 0 }));
    // Assess
    expect(byOther).toBe("403 not_your_job");
    expect(late).toBe("409 stale_attempt");
    expect(unknown).toBe("404 unknown_job");
    expect(await jobOf(w, job.jobId)).toMatchObject({ attempt: 1 });
  });

  it("an extension that lands between the lease check's read and its move keeps the job: nothing moves, and the check is sent again for the new end", async () => {
    // Prepare: the lease has run out; the check has read the job, and its move waits while the worker's late extension lands
    const w = makeJobWorld();
    const { job, first } = await submitted(w);
    w.advance(job.leaseUntil - w.clock.now() + 1);
    const transact = w.store.transact;
    let extension: Awaited<ReturnType<typeof extendLease>> | undefined;
    w.store.transact = async (ops) => {
      if (extension === undefined && ops.some((op) => op.op === "update" && op.table === "jobs" && op.set?.attempt !== undefined)) {
        w.store.transact = transact;
        extension = await extendLease(w.deps, first, { jobId: job.jobId, attempt: 0 });
      }
      return transact(ops);
    };
    const sent: unknown[] = [];
    const send = w.queues.send.bind(w.queues);
    w.queues.send = async (queue, body, opts) => {
      sent.push(body);
      return send(queue, body, opts);
    };
    // Act
    const outcome = await handleMatchingMessage(w.deps, { type: "lease", jobId: job.jobId, attempt: 0 });
    // Assess: the worker was told extended, and it still has the job until its new end, with a check for that end
    expect(extension).toMatchObject({ extended: true });
    expect(outcome).toBe("rescheduled");
    expect(sent).toContainEqual({ type: "lease", jobId: job.jobId, attempt: 0 });
    expect(await jobOf(w, job.jobId)).toMatchObject({ status: "assigned", attempt: 0, leaseUntil: extension!.leaseUntil });
    // and the check sent again moves it on once that end has passed with no result
    w.advance(extension!.leaseUntil - w.clock.now() + 1);
    expect(await handleMatchingMessage(w.deps, { type: "lease", jobId: job.jobId, attempt: 0 })).toBe("advanced");
    expect(await jobOf(w, job.jobId)).toMatchObject({ status: "assigned", attempt: 1 });
  });

  it("no extension reaches past MAX_JOB_MS after submit: the last one is capped, later ones extend nothing", async () => {
    // Prepare: a job kept alive by extensions until near its longest life
    const w = makeJobWorld();
    const { job, first } = await submitted(w, 1);
    w.advance(MAX_JOB_MS - 5_000);
    // Act
    const capped = await extendLease(w.deps, first, { jobId: job.jobId, attempt: 0 });
    const again = await extendLease(w.deps, first, { jobId: job.jobId, attempt: 0 });
    // Assess
    expect(capped).toEqual({ extended: true, leaseUntil: job.createdAt + MAX_JOB_MS });
    expect(again).toEqual({ extended: false, leaseUntil: job.createdAt + MAX_JOB_MS });
  });
});
