/**
 * Void (POST /v1/jobs/{id}/void): a requester whose submit of a job id may have been lost (its
 * answer never came, and a resend was refused for its quote, its tab or funds) settles at once
 * whether that submit can still commit. It writes, at the job's own key and only if absent, a
 * small VoidItem (./items.ts): every submit's put of the job is conditioned on that key being
 * absent, so no submit of the id commits after it (one in flight fails its condition: 409
 * job_void, nothing held, ./submit.ts). The SDK then prepares the request again under a new job
 * id, paid once. Written only on that rare path, never by a submit (no read or write added there).
 *  - no item: the void is written, `voided: true`;
 *  - the caller's void already there (asked again, or a lost answer re-sent): `voided: true`;
 *  - the caller's job: nothing written, `voided: false` with its status (read it);
 *  - another account's job or void: nothing written, 409 job_exists (no status, no owner: the
 *    id is taken, as a submit of it would answer).
 * Only a new void writes, and only new voids are rate-limited per requester (`void_new`, 429
 * rate_limited: an item kept 7 days for any unused id, so unbounded they would let any key make
 * the store write without end); the answers about a taken id are read first, so asking again is
 * never refused and writes nothing.
 */
import type { VoidJobResponse } from "../../events/api";
import { enforceRateLimit } from "../attestation/rate-limit";
import type { CoreDeps } from "../deps";
import { ConflictError } from "../errors";
import { ConditionFailedError } from "../ports";
import { isVoid, jobKey, RETAIN_SECONDS, type JobItem, type VoidItem } from "./items";

export async function voidJob(deps: CoreDeps, requester: string, jobId: string): Promise<VoidJobResponse> {
  // Before the limit: a void asked again (its answer lost), or asked of a job, takes no token.
  const prior = await deps.store.get<JobItem | VoidItem>("jobs", jobKey(jobId));
  if (prior) return answerTaken(prior, requester, jobId);
  const now = deps.clock.now();
  enforceRateLimit(deps.store, deps.config.rateLimits, "void_new", requester, now);
  // kept as long as an envelope: far past any submit of the id still in flight (its quote, its commit)
  const tombstone: VoidItem = {
    ...jobKey(jobId),
    jobId,
    state: "void",
    requester,
    createdAt: now,
    ttl: Math.ceil(now / 1000) + RETAIN_SECONDS,
  };
  try {
    await deps.store.transact([{ op: "put", table: "jobs", item: tombstone, when: { kind: "notExists" } }]);
    deps.log.info("job id voided", { jobId });
    return { jobId, voided: true };
  } catch (e) {
    if (!(e instanceof ConditionFailedError)) throw e;
  }
  // taken since the read: a submit's commit, or a void (ours, sent twice at once)
  return answerTaken(await deps.store.get<JobItem | VoidItem>("jobs", jobKey(jobId)), requester, jobId);
}

/** The answer about a taken id: the caller's void as it was, the caller's job's status, anyone else's 409. */
function answerTaken(item: JobItem | VoidItem | undefined, requester: string, jobId: string): VoidJobResponse {
  if (item?.requester === requester) return isVoid(item) ? { jobId, voided: true } : { jobId, voided: false, status: item.status };
  throw new ConflictError("job_exists", `job id ${jobId} is taken; pick a new job id`);
}
