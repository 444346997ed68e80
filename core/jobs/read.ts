/** The requester's reads (docs/architecture.md §3, step 7): a job, with its answer once completed; an account's balance. */
import type { JobStatus, JobView } from "../../events/api";
import { pendingWithdrawalAccount } from "../chain/store-ledger";
import type { CoreDeps } from "../deps";
import { ForbiddenError, NotFoundError } from "../errors";
import { getBalance, requesterAccount } from "../ledger";
import { failureKey, jobKey, jobTopic, replyKey, type FailureItem, type JobItem, type ReplyItem } from "./items";

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
    ...(answer ? { reply: answer.reply, receipt: answer.receipt } : {}),
    ...(failure ? { failure: { attempt: job.attempt, workerId: failure.workerId, code: failure.code, ...(failure.reply ? { reply: failure.reply } : {}) } } : {}),
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
  };
}

/** GET /v1/jobs/{id}[?wait=s]: returns at once when finished, else waits for a change. */
export async function getJob(deps: CoreDeps, requester: string, jobId: string, waitSeconds = 0): Promise<JobView> {
  const deadline = deps.clock.now() + Math.min(waitSeconds, deps.config.maxWaitSeconds) * 1000;
  for (;;) {
    const job = await deps.store.get<JobItem>("jobs", jobKey(jobId));
    if (!job) throw new NotFoundError("unknown_job", `no job ${jobId}`);
    if (job.requester !== requester) throw new ForbiddenError("not_your_job", "this job belongs to another account");
    const left = deadline - deps.clock.now();
    if (job.status === "completed") return toView(job, await deps.store.get<ReplyItem>("jobs", replyKey(jobId, job.attempt, job.resultDigest)));
    if (job.status === "refunded" && job.outcome === "failed") return toView(job, undefined, await deps.store.get<FailureItem>("jobs", failureKey(jobId, job.attempt)));
    if (TERMINAL.includes(job.status) || left <= 0) return toView(job);
    await deps.notifier.wait(jobTopic(jobId), left);
  }
}

/** GET /v1/account: available and held, and what is reserved for signed withdrawals not yet landed. */
export async function getAccount(deps: CoreDeps, account: string) {
  const [b, reserved] = await Promise.all([getBalance(deps.store, requesterAccount(account)), getBalance(deps.store, pendingWithdrawalAccount(account))]);
  return { account, available: b.available.toString(), held: b.held.toString(), reserved: reserved.available.toString() };
}
