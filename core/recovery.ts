import type { CoreDeps } from "./deps";
import { sendLeaseCheck, type JobItem } from "./jobs";
import type { Item } from "./ports";

/**
 * After a restart of an environment whose queues do not survive (the local default), give
 * every job still assigned a fresh lease check: it then completes, moves to the next
 * candidate, or is refunded. Harmless where queues are durable: stale checks are dropped.
 * `jobsTable` is every item of the jobs table (the local store can scan it).
 */
export async function recoverAssignedJobs(deps: CoreDeps, jobsTable: Iterable<Item>): Promise<number> {
  let n = 0;
  for (const item of jobsTable) {
    if (item.sk !== "job" || (item as JobItem).status !== "assigned") continue;
    await sendLeaseCheck(deps, item as JobItem);
    n++;
  }
  if (n) deps.log.info("recovered open jobs", { count: n });
  return n;
}
