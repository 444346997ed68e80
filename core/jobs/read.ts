/** The requester's reads (docs/architecture.md §3, step 7): a job, with its answer once completed; an account's balance. */
import type { JobStatus, JobView } from "../../events/api";
import { pendingWithdrawalAccount } from "../chain/store-ledger";
import type { CoreDeps } from "../deps";
import { ForbiddenError } from "../errors";
import { getBalance, requesterAccount } from "../ledger";
import { failureKey, readJob, jobTopic, readReply, type FailureItem, type JobItem, type ReplyItem } from "./items";
import { missingJob } from "./retention";

const TERMINAL: JobStatus[] = ["completed", "refunded"];

export function toView(job: JobItem, answer?: ReplyItem, failure?: FailureItem): JobView {
  const c = job.candidates[job.attempt];
  return {
    jobId: job.jobId,
    status: job.status,
    model: job.model,
    ...(c ? { workerId: c.workerId, tier: c.tier } : {}),
    attempt: job.attempt,
    maxCost: job.maxCost,
    ...(job.cost !== undefined ? { cost: job.cost } : {}),
    ...(job.outcome !== undefined ? { outcome: job.outcome } : {}),
    ...(job.cancelledAt !== undefined ? { cancelledAt: job.cancelledAt } : {}),
    ...(answer ? { reply: answer.reply, receipt: answer.receipt } : {}),
    ...(failure
      ? {
          failure: {
            attempt: job.attempt,
            workerId: failure.workerId,
            code: failure.code,
            ...(failure.reply ? { reply: failure.reply } : {}),
          },
        }
      : {}),
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
  };
}

/**
 * The job, if `requester` may see it: 404 unknown_job when there is none (410 job_records_expired
 * when its id is older than the store keeps jobs: ./retention.ts), 403 not_your_job when it is
 * another account's. The one ownership rule of the requester's job routes (read, cancel).
 */
export function ownJob(deps: Pick<CoreDeps, "clock" | "config">, job: JobItem | undefined, requester: string, jobId: string): JobItem {
  if (!job) throw missingJob(deps, jobId);
  if (job.requester !== requester) throw new ForbiddenError("not_your_job", "this job belongs to another account");
  return job;
}

/** What a settlement hands the job's waiters (core/jobs/results.ts): the finished view itself. */
const isFinishedView = (x: unknown): x is JobView =>
  typeof x === "object" && x !== null && (x as JobView).status === "completed" && (x as JobView).reply !== undefined;

/**
 * Without pushed wakeups (AWS, until the relay carries the answer), the store is re-read after
 * 0.25, 0.75, 1.75 s, then every second: an answer is seen at most 1 s late, with a quarter of
 * the reads of a 250 ms loop (23 in 20 s, not 81).
 */
const FIRST_RECHECK_MS = 250;
const MAX_RECHECK_MS = 1_000;

/**
 * GET /v1/jobs/{id}[?wait=s] (and POST /v1/jobs?wait=s): returns at once when finished, else
 * waits. The waiter is woken by the result itself: the settlement notifies the job's topic with
 * the finished view, which is answered as is (the requester was checked before waiting; the
 * topic is this job's). Any other notification (a failover, a refund) re-reads the store.
 *
 * `written`: the job item as the caller's own submit just created it (POST /v1/jobs?wait), taken
 * for the first look instead of reading it back (issue 12: one read fewer per job). Nothing can
 * have finished it in between: from the commit to the wait below no I/O is awaited locally, so
 * no result request runs; on AWS no push reaches this waiter anyway and the store is read at
 * the first recheck, as it is after a first read that found the job assigned.
 *
 * `signal`: the client went away (the edge's request signal): the wait ends at once with the
 * job as last read, nobody to answer, and lets go of its listener and timer rather than
 * holding them for up to maxWaitSeconds.
 */
export async function getJob(
  deps: CoreDeps,
  requester: string,
  jobId: string,
  waitSeconds = 0,
  written?: JobItem,
  signal?: AbortSignal,
): Promise<JobView> {
  const deadline = deps.clock.now() + Math.min(waitSeconds, deps.config.maxWaitSeconds) * 1000;
  let gap = FIRST_RECHECK_MS;
  let known = written?.jobId === jobId ? written : undefined;
  for (;;) {
    const job = ownJob(deps, known ?? (await readJob(deps.store, jobId)), requester, jobId);
    known = undefined;
    if (job.status === "completed")
      // whole, whether stored as one item or split over several (./items.ts readReply)
      return toView(job, await readReply(deps.store, job));
    if (job.status === "refunded" && job.outcome === "failed")
      return toView(job, undefined, await deps.store.get<FailureItem>("jobs", failureKey(jobId, job.attempt)));
    if (TERMINAL.includes(job.status) || deadline <= deps.clock.now() || signal?.aborted) return toView(job);
    const recheckAt = deps.clock.now() + gap;
    gap = Math.min(gap * 2, MAX_RECHECK_MS);
    for (;;) {
      const left = deadline - deps.clock.now();
      if (left <= 0) break;
      const woke = await deps.notifier.wait(jobTopic(jobId), left, signal);
      if (isFinishedView(woke)) return woke;
      if (signal?.aborted) return toView(job);
      if (woke !== undefined || deps.clock.now() >= recheckAt) break;
    }
  }
}

/** GET /v1/account: available and held, and what is reserved for signed withdrawals not yet landed. */
export async function getAccount(deps: CoreDeps, account: string) {
  const [b, reserved] = await Promise.all([
    getBalance(deps.store, requesterAccount(account)),
    getBalance(deps.store, pendingWithdrawalAccount(account)),
  ]);
  return { account, available: b.available.toString(), held: b.held.toString(), reserved: reserved.available.toString() };
}
