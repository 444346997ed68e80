/**
 * core/recovery.ts on the in-memory store (issue 14): after a restart that lost the queues,
 * every job still assigned gets exactly one fresh lease check (due when its lease runs out),
 * and the check, when delivered, moves the job on. Finished jobs get none. The kill -9 test
 * over a real process is test/recovery.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { MatchingMessage } from "../events/queue";
import { handleMatchingMessage } from "./jobs/dispatch";
import type { JobItem } from "./jobs/items";
import { postResult } from "./jobs/results";
import { submitJob } from "./jobs/submit";
import { makeJobWorld, type JobWorld } from "./jobs/testing";
import { recoverAssignedJobs } from "./recovery";

/** Factory: a submitted job (assigned to its one candidate) and the worker it went to. */
async function submitted(w: JobWorld, key: string) {
  const worker = await w.worker();
  const r = await w.requester();
  const { envelope, header, quote } = await w.sealedJob(r);
  await submitJob(w.deps, r.id, envelope, key, quote);
  const job = (await w.store.get<JobItem>("jobs", { pk: header.jobId, sk: "job" }))!;
  return { r, worker, assignedTo: job.candidates[0]!.workerId, envelope, header };
}

/** Lease checks are delayed by whole seconds: past the lease by a second, the check is due. */
const pastLease = async (w: JobWorld, jobId: string) => {
  const job = (await w.store.get<JobItem>("jobs", { pk: jobId, sk: "job" }))!;
  w.advance(job.leaseUntil - w.clock.now() + 1000);
};

/** What a restart leaves: the store, but no queued messages. */
function loseQueues(w: JobWorld) {
  w.queues.purge("matching");
}

async function matchingMessages(w: JobWorld): Promise<MatchingMessage[]> {
  const got = await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
  for (const m of got) await w.queues.delete("matching", m.receiptHandle);
  return got.map((m) => JSON.parse(m.body) as MatchingMessage);
}

describe("recoverAssignedJobs", () => {
  it("one lease check per assigned job, none for finished ones; it says how many", async () => {
    // Prepare
    const w = makeJobWorld();
    const open = await submitted(w, "key-open-0001");
    const done = await submitted(w, "key-done-0001");
    const by = [open.worker, done.worker].find((x) => x.id === done.assignedTo)!;
    await postResult(w.deps, by.id, w.completed(by, done.envelope));
    loseQueues(w);
    // Act
    const n = await recoverAssignedJobs(w.deps, w.store.scan("jobs"));
    // Assess
    expect(n).toBe(1);
    expect(w.logs).toContainEqual({ level: "info", msg: "recovered open jobs", data: { count: 1 } });
    expect(w.queues.stats("matching")).toMatchObject({ visible: 0, delayed: 1 });
    await pastLease(w, open.header.jobId);
    expect(await matchingMessages(w)).toEqual([{ type: "lease", jobId: open.header.jobId, attempt: 0 }]);
  });

  it("the re-issued check refunds a job whose only worker died with the coordinator", async () => {
    const w = makeJobWorld();
    const { r, header } = await submitted(w, "key-dead-0001");
    loseQueues(w);
    await recoverAssignedJobs(w.deps, w.store.scan("jobs"));
    await pastLease(w, header.jobId);
    for (const m of await matchingMessages(w)) await handleMatchingMessage(w.deps, m);
    expect(await w.store.get<JobItem>("jobs", { pk: header.jobId, sk: "job" })).toMatchObject({ status: "refunded", outcome: "expired" });
    expect(await w.balance(r.id)).toEqual({ available: 10_000_000_000n, held: 0n });
  });

  it("is refused on a store that keeps no envelopes (its checks would refund jobs that could move on), sending nothing", async () => {
    // Prepare: DynamoDB's layout, where the lease checks carry the envelope and the queues are durable
    const w = makeJobWorld({ billedWrites: true });
    await submitted(w, "key-billed-001");
    const before = w.queues.stats("matching");
    // Act
    const run = recoverAssignedJobs(w.deps, w.store.scan("jobs"));
    // Assess
    await expect(run).rejects.toThrow(/keeps no envelopes/);
    expect(w.queues.stats("matching")).toEqual(before);
  });

  it("a store that keeps no envelopes but has no job assigned passes, sending nothing (the cost bench starts its network on such a store)", async () => {
    // Prepare: DynamoDB's layout, with one finished job and nothing assigned
    const w = makeJobWorld({ billedWrites: true });
    const done = await submitted(w, "key-billed-002");
    const by = (await w.store.get<JobItem>("jobs", { pk: done.header.jobId, sk: "job" }))!.candidates[0]!.workerId;
    expect(by).toBe(done.worker.id);
    await postResult(w.deps, by, w.completed(done.worker, done.envelope));
    loseQueues(w);
    // Act
    const n = await recoverAssignedJobs(w.deps, [...w.store.scan("jobs"), { pk: "tab_x", sk: "tab", status: "closed" }]);
    // Assess
    expect(n).toBe(0);
    expect(await recoverAssignedJobs(w.deps, [])).toBe(0);
    expect(w.queues.stats("matching")).toMatchObject({ visible: 0, delayed: 0 });
  });

  it("nothing open: no check, no log line", async () => {
    const w = makeJobWorld();
    expect(await recoverAssignedJobs(w.deps, [])).toBe(0);
    expect(await recoverAssignedJobs(w.deps, [{ pk: "job_x", sk: "envelope", status: "assigned" }])).toBe(0);
    expect(w.logs.filter((l) => l.msg === "recovered open jobs")).toEqual([]);
    expect(w.queues.stats("matching")).toMatchObject({ visible: 0, delayed: 0 });
  });
});
