import type { CoreDeps } from "./deps";
import { sendLeaseCheck, type JobItem } from "./jobs";
import { envelopeItemStored } from "./jobs/items";
import { sendTabCloseCheck, type TabItem } from "./jobs/tabs";
import type { Item } from "./ports";

/**
 * After a restart of an environment whose queues do not survive (the local default), give
 * every job still assigned a fresh lease check (and every open tab its close check): it then completes, moves to the next
 * candidate, or is refunded. Only for such an environment: where queues are durable the checks
 * are still there, and on a store that keeps no envelopes (core/jobs/items.ts envelopeItemStored)
 * a check sent here, without one, that comes due first refunds a job its own check would move on.
 * `jobsTable` is every item of the jobs table (the local store can scan it).
 */
export async function recoverAssignedJobs(deps: CoreDeps, jobsTable: Iterable<Item>): Promise<number> {
  // only the open items are kept: the table may hold every job ever run
  const tabs: TabItem[] = [];
  const jobs: JobItem[] = [];
  for (const item of jobsTable) {
    if (item.sk === "tab" && (item as TabItem).status === "open") tabs.push(item as TabItem);
    if (item.sk === "job" && (item as JobItem).status === "assigned") jobs.push(item as JobItem);
  }
  // refused outright, before anything is sent, rather than refund jobs that could have moved on
  // (see above); a table with no job assigned has nothing to refund, so it passes
  if (jobs.length > 0 && !envelopeItemStored(deps.store)) {
    throw new Error(
      "recoverAssignedJobs: this store keeps no envelopes (billedWrites), so its queues must be durable and need no recovery",
    );
  }
  for (const tab of tabs) await sendTabCloseCheck(deps, tab); // an open tab gets its close check again (issue 12)
  // without its envelope (the queues that carried it are gone): the job's item has it where
  // queues do not survive, since those stores keep it (core/jobs/items.ts envelopeItemStored)
  for (const job of jobs) await sendLeaseCheck(deps, job, undefined);
  const n = tabs.length + jobs.length;
  if (n) deps.log.info("recovered open jobs", { count: n });
  return n;
}
