/**
 * Lease extension (docs/architecture.md §3, step 4): the candidate working on a job may ask
 * for more time before its lease runs out, so a long generation is not failed over while it
 * is still running. Nothing is queued: the lease check already on the matching queue finds
 * the later `leaseUntil` and re-queues itself (handleMatchingMessage: "rescheduled").
 *
 * A cancelled job's lease is never extended (409 job_cancelled): its worker is to stop.
 *
 * Bounded so a worker cannot sit on a requester's held money: an extension gives at most one
 * ordinary lease from now, and never past MAX_JOB_MS after submit.
 */
import type { LeaseRequest } from "../../events/api";
import type { CoreDeps } from "../deps";
import { ConflictError, ForbiddenError, NotFoundError } from "../errors";
import { ConditionFailedError } from "../ports";
import { requireWorkerSummary } from "../workers";
import { jobKey, readJob, leaseMs, stillAt } from "./items";

/** No lease is extended past this long after submit (1 h): the job then fails over or refunds. */
export const MAX_JOB_MS = 3_600_000;
/** Writes an extension tries while the job keeps changing under it (another extension, a cancel) before it answers 409. */
const EXTEND_TRIES = 4;

export async function extendLease(deps: CoreDeps, workerId: string, r: LeaseRequest): Promise<{ leaseUntil: number; extended: boolean }> {
  await requireWorkerSummary(deps, workerId);
  let job = await readJob(deps.store, r.jobId);
  if (!job) throw new NotFoundError("unknown_job", `no job ${r.jobId}`);
  if (job.candidates[r.attempt]?.workerId !== workerId)
    throw new ForbiddenError("not_your_job", "this job was not dispatched to you at that attempt");
  for (let tries = 0; ; tries++) {
    if (job.status !== "assigned" || job.attempt !== r.attempt) {
      throw new ConflictError(
        "stale_attempt",
        `job ${r.jobId} is no longer assigned to you (status ${job.status}, attempt ${job.attempt}); stop working on it`,
      );
    }
    // The requester cancelled it (./cancel.ts): a worker that missed the AgentCancel hears it here,
    // and the lease is not extended, so a job nobody wants holds its money no longer than it must.
    if (job.cancelledAt !== undefined)
      throw new ConflictError("job_cancelled", `job ${r.jobId} was cancelled by its requester; stop and post what was generated`);
    const now = deps.clock.now();
    const until = Math.min(now + leaseMs(deps, job.header.maxTokens), job.createdAt + MAX_JOB_MS);
    if (until <= job.leaseUntil) return { leaseUntil: job.leaseUntil, extended: false };
    try {
      // Conditioned on the job as read (its updatedAt too, which every cancel moves), as a cancel's
      // write is: a cancel that lands after this read makes it fail, and the re-read refuses it.
      await deps.store.transact([
        {
          op: "update",
          table: "jobs",
          key: jobKey(job.jobId),
          set: { leaseUntil: until, updatedAt: now },
          when: { kind: "and", all: [stillAt(r.attempt), { kind: "cmp", attr: "updatedAt", op: "=", value: job.updatedAt }] },
        },
      ]);
      return { leaseUntil: until, extended: true };
    } catch (e) {
      if (!(e instanceof ConditionFailedError)) throw e;
      // moved on (a failover, a result, a refund): stale; still there (cancelled, or extended by
      // another request meanwhile): decided again on what is there now
      const after = await readJob(deps.store, r.jobId);
      if (!after || after.status !== "assigned" || after.attempt !== r.attempt || tries === EXTEND_TRIES)
        throw new ConflictError("stale_attempt", `job ${r.jobId} moved on while its lease was being extended`);
      job = after;
    }
  }
}
