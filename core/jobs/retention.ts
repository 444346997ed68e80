/**
 * How long a job's records stay in the store (privacy review, session 42, finding D2). Until
 * then every job item was kept for good: 60 days after its settlement the table still named its
 * requester, worker, model, usage and cost, so a breach or a subpoena gave every account's whole
 * job history. Now a job item expires (TTL) `jobRetentionDays` (30 by default) after the job
 * ends, set by the write that ends it and never before:
 *  - completed, not under a tab: the settlement's move to completed (./results.ts);
 *  - refunded (failed, expired, cancelled): the refund's move to refunded (./dispatch.ts advance),
 *    under a tab too (a refunded slot is nothing its tab's close pays for, or needs);
 *  - completed under a tab: its tab's close, after it commits (./tabs.ts): the close pays the
 *    worker from the job item, so it must still be there, however late the close runs;
 *  - a voided id's item keeps its own ttl (RETAIN_SECONDS, ./void.ts).
 * An open job has no ttl: nothing of a job that can still move money ever expires.
 *
 * Why deleting an ended job item is safe, reader by reader (each finds no item, as for an id
 * never submitted):
 *  - a result post (./results.ts), a failure report, a lease extension (./lease.ts), a cancel
 *    (./cancel.ts), a poll's reread (./poll.ts), the relay's access checks: 404 unknown_job or
 *    nothing to do; every write they could make is conditioned on the job being assigned, which
 *    a missing item never is (a missing attribute compares false), so none has an effect;
 *  - a lease check or dispatch message (a DLQ redrive, however late): stale, or (attempt 0)
 *    awaiting a commit that never comes, then dropped; both write nothing;
 *  - a resent submit: answered from the job while it is kept; after, refused before anything is
 *    written: its id is stale (below), and were it not, its quote has long expired
 *    (quoteTtlSeconds, minutes: 410 quote_expired) and so has a tab's (410 tab_expired); a
 *    replayed signed request is older than authWindowMs (60 s) anyway. A NEW submit of an old id
 *    (a fresh quote) would be a second job under the id: its refund would find the first one's
 *    `refund:<jobId>` ledger item kept and never apply, leaving its hold for good (and the
 *    anchored movement log would name `hold:`/`settle:<jobId>` twice). So a submit of a job not
 *    under a tab must name an id made within
 *    JOB_ID_WINDOW_MS of now (checkJobIdFresh), which an expired job's id never is again
 *    (MIN_JOB_RETENTION_DAYS is longer than the window on both sides); a tab's slot ids are
 *    submittable only while the tab is open, and its close comes later;
 *  - a void (./void.ts) of an expired id writes a void item at a free id: nothing held, nothing moved;
 *  - GET /v1/jobs/{id}: 404 unknown_job; the receipt proof: 410 job_records_expired (receiptProof);
 *  - recovery reads assigned jobs only. The ledger's records (jobMovementRecords: the hold and
 *    settlement a job item records instead of ledger items, issue 12) go with the item; what
 *    stays: a completed job's hold and settlement in its receipt log entry (`ms`/`ha`, kept for
 *    good: docs/receipts.md), a refunded one's refund in its `refund:<jobId>` ledger item (the
 *    hold's requester and amount; its time goes), balances, and the anchors' commitment to every
 *    movement. Ledger items and receipt log entries get no ttl: they are the money's records.
 *  - a tab's item gets none either: it is its open's idempotency record (a re-open under its key
 *    after it went would meet the kept `tab:<tabId>` ledger item), and states only the tab's terms
 *    and totals, no worker or model.
 */
import { DEFAULT_JOB_RETENTION_DAYS, type CoreConfig } from "../config";
import type { CoreDeps } from "../deps";
import { CocoonError, GoneError, NotFoundError } from "../errors";
import { jobIdTime } from "../ids";

/** The configured retention, in seconds. */
export const jobRetentionSeconds = (config: Pick<CoreConfig, "jobRetentionDays">): number =>
  (config.jobRetentionDays ?? DEFAULT_JOB_RETENTION_DAYS) * 86_400;

/** The `ttl` (epoch seconds) of a job that ends at `endedAtMs`. */
export const jobTtl = (deps: Pick<CoreDeps, "config">, endedAtMs: number): number =>
  Math.ceil(endedAtMs / 1000) + jobRetentionSeconds(deps.config);

/**
 * How far from the coordinator's clock the time a job id names may be at its submit (either
 * side): the SDK makes the id from its own clock just before (core/ids.ts newJobId), so this only
 * bounds clocks days wrong. Each side is under half of MIN_JOB_RETENTION_DAYS (see the header).
 */
export const JOB_ID_WINDOW_MS = 3 * 86_400_000;

/**
 * A new job's id must name a time within JOB_ID_WINDOW_MS of now: 422 stale_job_id otherwise,
 * before anything is written. Checked only where a submit would create a job (a replay of a kept
 * job is answered from it first).
 */
export function checkJobIdFresh(deps: Pick<CoreDeps, "clock">, jobId: string): void {
  const skew = jobIdTime(jobId) - deps.clock.now();
  if (Math.abs(skew) <= JOB_ID_WINDOW_MS) return;
  throw new CocoonError(
    422,
    "stale_job_id",
    `job id ${jobId} was made ${Math.round(Math.abs(skew) / 3_600_000)} h ${skew < 0 ? "ago" : "ahead of the coordinator's clock"}: a new job needs an id made now (newJobId), within ${JOB_ID_WINDOW_MS / 86_400_000} days of the coordinator's clock`,
  );
}

/**
 * What to answer for a job id with no item: 410 job_records_expired when the id names a time
 * older than the retention (whatever it was, nothing of it is kept now), else 404 unknown_job.
 */
export function missingJob(deps: Pick<CoreDeps, "clock" | "config">, jobId: string): CocoonError {
  const days = jobRetentionSeconds(deps.config) / 86_400;
  if (jobIdTime(jobId) < deps.clock.now() - days * 86_400_000) {
    return new GoneError(
      "job_records_expired",
      `job ${jobId} is older than this coordinator keeps jobs (${days} days after they end): its records and receipt proof are gone; a receipt you kept still verifies by its signature`,
    );
  }
  return new NotFoundError("unknown_job", `no job ${jobId} (jobs are kept ${days} days after they end)`);
}
