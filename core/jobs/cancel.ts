/**
 * Cancel (POST /v1/jobs/{id}/cancel): the requester stops a job it no longer wants. The job
 * item records when (`cancelledAt`, one conditioned write) and its current worker is told
 * (AgentCancel on its queue). Nothing else moves here: the job still ends the way every job
 * does, by its worker's answer or its lease running out, so its money is settled or refunded
 * by the code that already does that, exactly once:
 *  - the worker stops and posts a completed result: settled at the receipt's usage (what was
 *    generated; never above the hold), the rest of the hold back;
 *  - the worker posts a failure (code "cancelled" if it had not started), or its lease runs out:
 *    refunded at once with outcome "cancelled", never moved on to another candidate
 *    (./dispatch.ts advance).
 * Asking again is harmless: it writes nothing more and re-sends the message (one may be lost), a
 * bounded number of times (mayResend).
 */
import type { AgentCancel, CancelJobResponse } from "../../events/api";
import type { CoreDeps } from "../deps";
import { takeRateToken } from "../attestation/rate-limit";
import { UnavailableError } from "../errors";
import { ConditionFailedError } from "../ports";
import { jobKey, readJob, jobTopic, stillAt, type JobItem } from "./items";
import { ownJob } from "./read";

/** Writes a cancel tries before it gives up (503 store_busy: nothing was written, ask again); see cancelJob. */
export const CANCEL_TRIES = 8;

export async function cancelJob(deps: CoreDeps, accountId: string, jobId: string): Promise<CancelJobResponse> {
  let job = ownJob(deps, await readJob(deps.store, jobId), accountId, jobId);
  let wrote = false;
  for (let tries = 0; job.cancelledAt === undefined; tries++) {
    if (job.status !== "assigned") return answer(job, false);
    if (tries === CANCEL_TRIES) throw new UnavailableError("store_busy", `job ${jobId} kept changing while it was cancelled; ask again`, 1);
    // Written once: the store's conditions cannot say "cancelledAt is absent", so the write is
    // conditioned on the job being exactly as read (its attempt, and its updatedAt), and moves
    // updatedAt past the value read even within one millisecond: of two cancels that read the job
    // alike, the second fails its condition and finds the first's cancelledAt. A failed condition
    // means the job was written meanwhile (moved on, ended, its lease extended, cancelled).
    const now = deps.clock.now();
    const updatedAt = Math.max(now, job.updatedAt + 1);
    try {
      await deps.store.transact([
        {
          op: "update",
          table: "jobs",
          key: jobKey(jobId),
          set: { cancelledAt: now, updatedAt },
          when: { kind: "and", all: [stillAt(job.attempt), { kind: "cmp", attr: "updatedAt", op: "=", value: job.updatedAt }] },
        },
      ]);
      job = { ...job, cancelledAt: now, updatedAt };
      wrote = true;
      deps.log.info("job cancelled", { jobId, attempt: job.attempt });
    } catch (e) {
      if (!(e instanceof ConditionFailedError)) throw e;
      // answer from (or cancel) the job as it is now
      job = ownJob(deps, await readJob(deps.store, jobId), accountId, jobId);
    }
  }
  if (job.status !== "assigned") return answer(job, false);
  if (wrote || mayResend(deps, job)) await tellWorker(deps, job);
  return answer(job, true);
}

/**
 * Whether a cancel asked again may re-send its message: a few times per job and attempt, then one
 * every 10 s (the `cancel_resend` rate limit, per process). Each re-send is a message the worker's
 * poll must take before its next job, and asking costs the requester nothing: unbounded, one cheap
 * job cancelled in a loop would keep its worker from everyone else's jobs (their leases run out,
 * the worker is marked suspect). Past the limit the ask is answered alike and sends nothing; the
 * worker still hears of the cancel from its next lease extension (409 job_cancelled).
 */
function mayResend(deps: CoreDeps, job: JobItem): boolean {
  return takeRateToken(deps.store, deps.config.rateLimits, "cancel_resend", `${job.jobId}#${job.attempt}`, deps.clock.now()).ok;
}

function answer(job: JobItem, cancelled: boolean): CancelJobResponse {
  return {
    jobId: job.jobId,
    status: job.status,
    cancelled,
    ...(job.cancelledAt !== undefined ? { cancelledAt: job.cancelledAt } : {}),
  };
}

/**
 * AgentCancel to the worker at the job's attempt, when the cancel is recorded and when asked again
 * within mayResend's limit (a lost message is re-sent by asking again; a worker that no longer has
 * the job ignores it). A failed send is logged, not fatal: the cancel is recorded, and the worker
 * also hears it from its next lease extension (409 job_cancelled, ./lease.ts) or from the job's
 * refund when its lease runs out.
 */
async function tellWorker(deps: CoreDeps, job: JobItem) {
  const workerId = job.candidates[job.attempt]!.workerId;
  const msg: AgentCancel = { kind: "cancel", jobId: job.jobId, attempt: job.attempt };
  try {
    await deps.queues.send(`worker-${workerId}`, msg);
  } catch (e) {
    deps.log.warn("cancel not sent to the worker; asking again re-sends it", { jobId: job.jobId, attempt: job.attempt, error: String(e) });
  }
  deps.notifier.notify(`worker:${workerId}`); // a local HTTP long-poll wakes
  deps.notifier.notify(jobTopic(job.jobId)); // and the job's waiters re-read it (they see cancelledAt)
}
