/**
 * Mutants of core/recovery.ts (session 38, helper mut38) that core/recovery.test.ts left alive: the
 * open tabs' half of a recovery (counted, logged, sent, failing loudly), which items count as a
 * tab, and that a refused recovery sends nothing, a tab's close check included.
 */
import { describe, expect, it } from "vitest";
import type { MatchingMessage } from "../events/queue";
import type { JobItem } from "./jobs/items";
import { submitJob } from "./jobs/submit";
import { openTab } from "./jobs/tabs";
import { makeJobWorld, type JobWorld } from "./jobs/testing";
import { recoverAssignedJobs } from "./recovery";

/** Factory: an open tab of a funded requester. */
async function openedTab(w: JobWorld) {
  const r = await w.requester();
  const { view } = await openTab(w.deps, r.id, { slots: 2, slotCost: "1000000", ttlSeconds: 300 }, "tab-key-mut38");
  return view.tab.tabId;
}

/** Factory: a job assigned to its one candidate. */
async function assignedJob(w: JobWorld) {
  await w.worker();
  const r = await w.requester();
  const { envelope, header, quote } = await w.sealedJob(r);
  await submitJob(w.deps, r.id, envelope, "key-mut38-0001", quote);
  expect((await w.store.get<JobItem>("jobs", { pk: header.jobId, sk: "job" }))?.status).toBe("assigned");
  return header.jobId;
}

/** Every message on the matching queue, due or delayed (a recovery's checks are delayed). */
async function allMatching(w: JobWorld): Promise<MatchingMessage[]> {
  w.advance(901_000);
  const got = await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
  return got.map((m) => JSON.parse(m.body) as MatchingMessage);
}

describe("recoverAssignedJobs: open tabs", () => {
  it("an open tab gets its close check and counts with the assigned jobs, in the answer and the log line", async () => {
    // Prepare: one open tab, one assigned job, the queues lost
    const w = makeJobWorld();
    const tabId = await openedTab(w);
    const jobId = await assignedJob(w);
    w.queues.purge("matching");
    // Act
    const n = await recoverAssignedJobs(w.deps, w.store.scan("jobs"));
    // Assess
    expect(n).toBe(2);
    expect(w.logs).toContainEqual({ level: "info", msg: "recovered open jobs", data: { count: 2 } });
    expect(await allMatching(w)).toEqual(
      expect.arrayContaining([
        { type: "tab", tabId },
        { type: "lease", jobId, attempt: 0 },
      ]),
    );
  });

  it("only a tab item counts as a tab: another item with status open is not one", async () => {
    // Prepare
    const w = makeJobWorld();
    // Act
    const n = await recoverAssignedJobs(w.deps, [{ pk: "tab_x", sk: "envelope", status: "open", expiresAt: 0 }]);
    // Assess
    expect(n).toBe(0);
    expect(w.queues.stats("matching")).toMatchObject({ visible: 0, delayed: 0 });
  });

  it("a close check that cannot be sent fails the recovery (not dropped while the count says it was sent)", async () => {
    // Prepare: a queue that refuses every send
    const w = makeJobWorld();
    await openedTab(w);
    w.queues.purge("matching");
    w.deps.queues.send = () => Promise.reject(new Error("queue down"));
    // Act
    const run = recoverAssignedJobs(w.deps, w.store.scan("jobs"));
    // Assess
    await expect(run).rejects.toThrow("queue down");
  });

  it("a store that keeps no envelopes, with a job assigned, is refused before an open tab's close check is sent", async () => {
    // Prepare: DynamoDB's layout, an open tab and an assigned job
    const w = makeJobWorld({ billedWrites: true });
    await openedTab(w);
    await assignedJob(w);
    w.queues.purge("matching");
    // Act
    const run = recoverAssignedJobs(w.deps, w.store.scan("jobs"));
    // Assess
    await expect(run).rejects.toThrow(/keeps no envelopes/);
    expect(w.queues.stats("matching")).toMatchObject({ visible: 0, delayed: 0 });
  });
});
