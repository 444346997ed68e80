/**
 * GET /v1/receipts/{jobId}/proof (issue 15): a settled job's receipt with its inclusion proof.
 * Only the job's requester and the worker that completed it may ask (the receipt names the
 * model, usage and timing of someone's job). A job that is unknown, not settled, or settled
 * but not yet in an anchor is an error with its own code, never an empty proof. A job item is
 * kept only the retention after its job ends (../jobs/retention.ts): after it, 410
 * job_records_expired, and the proof with it (the entry is found by the job item's time).
 */
import type { CoreDeps } from "../deps";
import { ConflictError, ForbiddenError, NotFoundError } from "../errors";
import { readJob } from "../jobs/items";
import { missingJob } from "../jobs/retention";
import { tabKey, type TabItem } from "../jobs/tabs";
import { StoreAnchorLog } from "./log";
import type { ReceiptProofBundle } from "./proof";

export async function receiptProof(deps: CoreDeps, caller: string, jobId: string): Promise<ReceiptProofBundle> {
  const job = await readJob(deps.store, jobId);
  if (!job) throw missingJob(deps, jobId);
  const worker = job.candidates[job.attempt]?.workerId;
  if (caller !== job.requester && !(job.status === "completed" && caller === worker)) {
    throw new ForbiddenError("not_your_job", "only the job's requester and the worker that completed it can fetch its receipt proof");
  }
  if (job.status !== "completed")
    throw new ConflictError("job_not_settled", `job ${jobId} is ${job.status}: only a completed job has a receipt`);
  const log = new StoreAnchorLog(deps.store);
  // where its receipt entry is: the settlement's time, which the job item (updatedAt) or, under a
  // tab, the tab's close (closedAt) wrote in the same transaction as the entry
  const at = job.tab !== undefined ? (await deps.store.get<TabItem>("jobs", tabKey(job.tab)))?.closedAt : job.updatedAt;
  const index = await log.indexOf(jobId, at);
  if (!index) {
    // a job under a tab: its close logs the receipt (core/jobs/tabs.ts), so it waits like an inbox entry
    if (job.tab !== undefined || (await log.isPending(jobId, at)))
      throw new ConflictError("receipt_not_anchored_yet", `job ${jobId}'s receipt waits for the next anchor batch; ask again shortly`);
    throw new NotFoundError("receipt_not_logged", `job ${jobId} was settled before the receipt log existed: its receipt is in no anchor`);
  }
  return { jobId, ...(await log.proof(index)) };
}
