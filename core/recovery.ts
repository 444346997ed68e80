import type { CoreDeps } from "./deps";
import { OPEN_JOBS_PK, sendLeaseCheck, type JobItem } from "./jobs";

/**
 * After a restart of an environment whose queues do not survive (the local default), give
 * every open job a fresh lease check: it then completes, moves to the next candidate, or is
 * refunded. Harmless where queues are durable: stale checks are dropped by attempt.
 */
export async function recoverAssignedJobs(deps: CoreDeps): Promise<number> {
  const open = await deps.store.query("jobs", OPEN_JOBS_PK);
  let n = 0;
  for (const marker of open) {
    const job = await deps.store.get<JobItem>("jobs", { pk: marker.sk, sk: "job" });
    if (job?.status !== "assigned") continue;
    await sendLeaseCheck(deps, job);
    n++;
  }
  if (n) deps.log.info("recovered open jobs", { count: n });
  return n;
}
