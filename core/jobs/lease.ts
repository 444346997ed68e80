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
 *
 * And so a worker cannot make the coordinator write without end: an extension that would move the
 * lease on by less than minStepMs writes nothing and answers the lease as it is, `extended: true`
 * (ask again later). Unbounded, a worker asking in a loop wrote the job at every millisecond, and
 * each write fails the requester's cancel (conditioned on the job's updatedAt) until it gives up
 * (503 store_busy). `extended: false` is kept for the job's longest life: the agent stops asking.
 */
import type { LeaseRequest } from "../../events/api";
import type { CoreDeps } from "../deps";
import { ConflictError, ForbiddenError, NotFoundError } from "../errors";
import { ConditionFailedError } from "../ports";
import { requireWorkerSummary } from "../workers";
import { jobKey, readJob, leaseMs, stillAt } from "./items";

/** No lease is extended past this long after submit (1 h): the job then fails over or refunds. */
export const MAX_JOB_MS = 3_600_000;
/**
 * The least an extension must move a lease on to be written: a quarter of the job's lease, at
 * least 100 ms (a lease configured near nothing still writes a job at most 10 times a second).
 * An honest agent (agent/runtime.ts keepLease) asks when half its lease is left, so each ask gains
 * half a lease or more: twice this step. At most 4 writes per lease length are left to a worker.
 */
const minStepMs = (lease: number) => Math.max(100, Math.ceil(lease / 4));
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
    const lease = leaseMs(deps, job.header.maxTokens);
    const longest = job.createdAt + MAX_JOB_MS;
    if (job.leaseUntil >= longest) return { leaseUntil: job.leaseUntil, extended: false };
    const until = Math.min(now + lease, longest);
    // too small a step (asked early, or the lease already later): nothing written, the lease as it
    // is; the last step, up to the job's longest life, is written however small (once: then false)
    if (until < longest && until - job.leaseUntil < minStepMs(lease)) return { leaseUntil: job.leaseUntil, extended: true };
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
