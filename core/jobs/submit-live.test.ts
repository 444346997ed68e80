/**
 * issue 12: the SDK keeps a quote and submits many jobs under it, so a candidate it names may
 * have stopped since. submitJob reads the candidates' offers and dispatches to the live ones
 * only, the one furthest below its fair share first (ties in the envelope's order), dropping the
 * dead; with none live it refuses with 409 no_live_candidate before anything is held.
 */
import { describe, expect, it } from "vitest";
import { workerAccount } from "../ledger";
import { heartbeat, offerKey } from "../workers";
import { submitJob } from "./submit";
import { pollJobs } from "./poll";
import { FUNDS, MODEL, makeJobWorld } from "./testing";
import type { JobItem } from "./items";

/** A world with three live workers and a job sealed to all three, in the quote's order. */
async function threeCandidateJob() {
  const w = makeJobWorld();
  await w.worker();
  await w.worker();
  await w.worker();
  const r = await w.requester();
  const sealed = await w.sealedJob(r, { candidates: 3 });
  const order = sealed.envelope.keys.map((k) => k.workerId);
  return { w, r, ...sealed, order };
}

describe("issue 12: submit dispatches a kept quote's job to live candidates only", () => {
  it("puts the live candidates first in the envelope's order, drops a stopped one, and dispatches to the first live", async () => {
    // Prepare
    const { w, r, envelope, header, quote, order } = await threeCandidateJob();
    const [first, second, third] = order as [string, string, string];
    await heartbeat(w.deps, first, 0, true); // the agent stopped after the quote was made
    // Act
    const out = await submitJob(w.deps, r.id, envelope, `submit-${header.jobId}`, quote);
    // Assess
    expect(out).toMatchObject({ jobId: header.jobId, status: "assigned", replayed: false });
    const job = await w.store.get<JobItem>("jobs", { pk: header.jobId, sk: "job" });
    expect(job!.candidates.map((c) => c.workerId)).toEqual([second, third]);
    expect(job!.attempt).toBe(0);
    expect((await pollJobs(w.deps, second, 0)).jobs.map((j) => j.jobId)).toEqual([header.jobId]);
    expect((await pollJobs(w.deps, first, 0)).jobs).toEqual([]);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - BigInt(header.maxCost), held: BigInt(header.maxCost) });
  });

  it("keeps the envelope's order when every candidate is live", async () => {
    const { w, r, envelope, header, quote, order } = await threeCandidateJob();
    await submitJob(w.deps, r.id, envelope, `submit-${header.jobId}`, quote);
    const job = await w.store.get<JobItem>("jobs", { pk: header.jobId, sk: "job" });
    expect(job!.candidates.map((c) => c.workerId)).toEqual(order);
  });

  it("among live candidates, the one furthest below its fair share goes first, whatever the envelope's order (a kept quote's jobs spread by earnings, not by the requester's rotation)", async () => {
    // Prepare: the envelope's first two candidates have already earned; the third has not
    const { w, r, envelope, header, quote, order } = await threeCandidateJob();
    const [first, second, third] = order as [string, string, string];
    const earned = (id: string, completionTokens: number) =>
      w.store.transact([{ op: "update", table: "accounts", key: { pk: workerAccount(id), sk: "balance" }, add: { completionTokens } }]);
    await earned(first, 900);
    await earned(second, 300);
    // Act
    await submitJob(w.deps, r.id, envelope, `submit-${header.jobId}`, quote);
    // Assess
    const job = await w.store.get<JobItem>("jobs", { pk: header.jobId, sk: "job" });
    expect(job!.candidates.map((c) => c.workerId)).toEqual([third, second, first]);
    expect((await pollJobs(w.deps, third, 0)).jobs.map((j) => j.jobId)).toEqual([header.jobId]);
  });

  it("a candidate whose heartbeats stopped (past the liveness window) is dropped like a stopped one", async () => {
    const { w, r, envelope, header, quote, order } = await threeCandidateJob();
    // the first two last heartbeat just past the liveness window (crashed, no goodbye)
    const stale = w.clock.now() - w.deps.config.livenessMs - 1;
    for (const id of order.slice(0, 2))
      await w.store.transact([{ op: "update", table: "offers", key: offerKey(MODEL, id), set: { lastHeartbeat: stale } }]);
    await submitJob(w.deps, r.id, envelope, `submit-${header.jobId}`, quote);
    const job = await w.store.get<JobItem>("jobs", { pk: header.jobId, sk: "job" });
    expect(job!.candidates.map((c) => c.workerId)).toEqual([order[2]]);
  });

  it("refuses with 409 no_live_candidate when none is live, holding nothing, writing nothing and queueing nothing", async () => {
    // Prepare
    const { w, r, envelope, header, quote, order } = await threeCandidateJob();
    for (const id of order) await heartbeat(w.deps, id, 0, true);
    const writes = w.transacts.length;
    const queued = w.queues.stats("matching");
    // Act
    const e = await submitJob(w.deps, r.id, envelope, `submit-${header.jobId}`, quote).catch((x: unknown) => x);
    // Assess
    expect(e).toMatchObject({ status: 409, code: "no_live_candidate", details: { candidates: order } });
    expect((e as Error).message).toMatch(/prepare a fresh quote and submit again/);
    expect(w.transacts.length).toBe(writes);
    expect(w.queues.stats("matching")).toEqual(queued);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(await w.store.get("jobs", { pk: header.jobId, sk: "job" })).toBeUndefined();
  });
});
