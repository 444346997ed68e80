/**
 * The least step of a lease extension (./lease.ts): an extension that would move the lease on by
 * less than a quarter of the job's lease writes nothing and answers the lease as it is, so a
 * worker asking in a loop cannot make the coordinator write the job at every millisecond, nor
 * make its requester's cancel fail its condition again and again (503 store_busy). The answer
 * stays `extended: true` (the agent stops asking on false: the job reached its longest life),
 * and an honest agent, which asks with half its lease left, gains half a lease each time.
 */
import { describe, expect, it } from "vitest";
import { cancelJob } from "./cancel";
import { leaseMs, type JobItem } from "./items";
import { extendLease, MAX_JOB_MS } from "./lease";
import { makeJobWorld, refusal, type JobWorld } from "./testing";

async function running(w: JobWorld) {
  const { header, workers } = await w.submitted(1);
  const job = (await w.store.get<JobItem>("jobs", { pk: header.jobId, sk: "job" }))!;
  const lease = leaseMs(w.deps, job.header.maxTokens);
  const extend = () => extendLease(w.deps, workers[0]!.id, { jobId: job.jobId, attempt: 0 });
  return { r: job.requester, job, lease, extend };
}
const isExtension = (ops: Parameters<JobWorld["store"]["transact"]>[0]) =>
  ops.some((op) => op.op === "update" && op.table === "jobs" && op.set?.leaseUntil !== undefined && op.set.attempt === undefined);
const isCancel = (ops: Parameters<JobWorld["store"]["transact"]>[0]) =>
  ops.some((op) => op.op === "update" && op.table === "jobs" && op.set?.cancelledAt !== undefined);

describe("a lease extension moves the lease on by at least a quarter of a lease, or writes nothing", () => {
  it("a worker asking in a loop, a millisecond apart, writes the job once: the others answer the lease as it is, extended: true", async () => {
    // Prepare: an honest extension, with half the lease left
    const w = makeJobWorld();
    const { lease, extend } = await running(w);
    w.advance(lease / 2);
    const first = await extend();
    const writes = w.transacts.filter(isExtension).length;
    // Act
    const again = [];
    for (let i = 0; i < 50; i++) {
      w.advance(1);
      again.push(await extend());
    }
    // Assess
    expect(first).toEqual({ extended: true, leaseUntil: w.clock.now() - 50 + lease });
    expect(writes).toBe(1);
    expect(new Set(again.map((a) => JSON.stringify(a)))).toEqual(new Set([JSON.stringify(first)]));
    expect(w.transacts.filter(isExtension).length).toBe(writes);
  });

  it("the next write comes once a quarter of a lease has passed (an honest agent gains half a lease at each ask)", async () => {
    // Prepare
    const w = makeJobWorld();
    const { lease, extend } = await running(w);
    w.advance(lease / 2);
    const first = await extend();
    // Act
    w.advance(Math.ceil(lease / 4) - 1);
    const early = await extend();
    w.advance(1);
    const step = await extend();
    w.advance(lease / 2 - Math.ceil(lease / 4));
    const honest = await extend();
    // Assess
    expect(early).toEqual(first);
    expect(step).toEqual({ extended: true, leaseUntil: first.leaseUntil + Math.ceil(lease / 4) });
    expect(honest).toEqual({ extended: true, leaseUntil: first.leaseUntil + lease / 2 });
    expect(w.transacts.filter(isExtension).length).toBe(3);
  });

  it("a requester's cancel is not starved by a worker extending before each of its writes", async () => {
    // Prepare: the worker extended honestly; then, before each write the cancel tries, it extends again a millisecond later
    const w = makeJobWorld();
    const { r, job, lease, extend } = await running(w);
    w.advance(lease / 2);
    await extend();
    const transact = w.store.transact;
    w.store.transact = async (ops) => {
      if (isCancel(ops)) {
        w.advance(1);
        await extend();
      }
      return transact(ops);
    };
    // Act
    const cancelled = await cancelJob(w.deps, r, job.jobId);
    // Assess
    expect(cancelled).toMatchObject({ cancelled: true, status: "assigned" });
    expect(await refusal(extend())).toMatchObject({ status: 409, code: "job_cancelled" });
  });

  it("the last extension, to the job's longest life, lands however small; then extended: false", async () => {
    // Prepare: the lease ends a second before the cap
    const w = makeJobWorld();
    const { job, lease, extend } = await running(w);
    w.advance(MAX_JOB_MS - lease - 1_000);
    expect(await extend()).toEqual({ extended: true, leaseUntil: job.createdAt + MAX_JOB_MS - 1_000 });
    // Act
    w.advance(2_000);
    const capped = await extend();
    const again = await extend();
    // Assess
    expect(capped).toEqual({ extended: true, leaseUntil: job.createdAt + MAX_JOB_MS });
    expect(again).toEqual({ extended: false, leaseUntil: job.createdAt + MAX_JOB_MS });
  });

  it("a lease already later than an extension would make it (the lease length lowered since): extended: true, the lease as it is", async () => {
    // Prepare: the deployment shortened its leases after the job was dispatched
    const w = makeJobWorld();
    const { job, extend } = await running(w);
    w.deps.config = { ...w.deps.config, leaseBaseSeconds: 1 };
    const writes = w.transacts.length;
    // Act: the agent would stop asking on `extended: false`, and its job fail over while it runs
    const r = await extend();
    // Assess
    expect(r).toEqual({ extended: true, leaseUntil: job.leaseUntil });
    expect(w.transacts.length).toBe(writes);
  });
});
