/**
 * Cancel (./cancel.ts): a requester stops its running job. Only the owner may; an ended job is
 * told so and nothing is written; a running one records cancelledAt once and its current worker is
 * told on its queue (again when asked again, a bounded number of times). The job then never goes to another worker: a failure or
 * a lease running out refunds it (outcome cancelled), a completed result settles what was
 * generated. The books balance in every case, under a tab too.
 */
import { describe, expect, it } from "vitest";
import type { AgentCancel } from "../../events/api";
import { DEFAULT_RATE_LIMITS } from "../attestation/rate-limit";
import { newJobId, tabSlotJobId } from "../ids";
import { jobCost } from "../pricing";
import { ConditionFailedError } from "../ports";
import { CANCEL_TRIES, cancelJob } from "./cancel";
import { advance, handleMatchingMessage } from "./dispatch";
import { jobKey, jobTopic, type JobItem } from "./items";
import { extendLease } from "./lease";
import { pollJobs } from "./poll";
import { getJob } from "./read";
import { postResult } from "./results";
import { jobIdempotencyKey, submitJob } from "./submit";
import { openTab } from "./tabs";
import { FUNDS, ledgerDiscrepancies, makeJobWorld, refusal, seal, type JobWorld } from "./testing";

const jobOf = async (w: JobWorld, jobId: string) => (await w.store.get<JobItem>("jobs", jobKey(jobId)))!;

/** Every message waiting on a worker's queue, taken off it, as parsed bodies. */
async function taken(w: JobWorld, workerId: string): Promise<unknown[]> {
  const msgs = await w.queues.receive(`worker-${workerId}`, { max: 10, waitSeconds: 0, visibilitySeconds: 900 });
  for (const m of msgs) await w.queues.delete(`worker-${workerId}`, m.receiptHandle);
  return msgs.map((m) => JSON.parse(m.body) as unknown);
}
const cancelOf = (jobId: string, attempt: number): AgentCancel => ({ kind: "cancel", jobId, attempt });
const failed = (jobId: string, attempt: number) => ({ kind: "failed" as const, jobId, attempt, code: "cancelled" as const });

/** A job submitted to `n` live workers whose first worker has taken its dispatch off its queue (it is running it). */
async function running(n = 2) {
  const w = makeJobWorld();
  const s = await w.submitted(n);
  await taken(w, s.workers[0]!.id);
  return { w, ...s };
}

describe("who may cancel, and what an ended job answers", () => {
  it("another account's job is 403 not_your_job (as GET /v1/jobs/{id} answers it), an unknown one 404: nothing written, nobody told", async () => {
    // Prepare
    const { w, header, workers } = await running();
    const stranger = await w.requester();
    const before = await jobOf(w, header.jobId);
    const writes = w.transacts.length;
    // Act
    const foreign = await refusal(cancelJob(w.deps, stranger.id, header.jobId));
    const unknown = await refusal(cancelJob(w.deps, stranger.id, newJobId(w.clock.now()))); // an id of now: one of 1970 names an expired job (410);
    // Assess
    expect(foreign).toMatchObject({ status: 403, code: "not_your_job" });
    expect(await refusal(getJob(w.deps, stranger.id, header.jobId))).toEqual(foreign);
    expect(unknown).toMatchObject({ status: 404, code: "unknown_job" });
    expect(await jobOf(w, header.jobId)).toEqual(before);
    expect(w.transacts.length).toBe(writes);
    expect(await taken(w, workers[0]!.id)).toEqual([]);
  });

  it("a completed job, and a refunded one, answer cancelled: false with their status; nothing is written or sent", async () => {
    // Prepare: one job completed, one refunded (its only worker's lease ran out)
    const { w, r, header, envelope, workers } = await running(1);
    await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope));
    const other = await w.submitted(1);
    await taken(w, other.workers[0]!.id);
    w.advance(other.job.leaseUntil - w.clock.now());
    await handleMatchingMessage(w.deps, { type: "lease", jobId: other.header.jobId, attempt: 0 });
    const writes = w.transacts.length;
    // Act
    const done = await cancelJob(w.deps, r.id, header.jobId);
    const refunded = await cancelJob(w.deps, other.r.id, other.header.jobId);
    // Assess
    // strict: an uncancelled job's answer has no cancelledAt key at all (not one set to undefined)
    expect(done).toStrictEqual({ jobId: header.jobId, status: "completed", cancelled: false });
    expect(refunded).toStrictEqual({ jobId: other.header.jobId, status: "refunded", cancelled: false });
    expect(w.transacts.length).toBe(writes);
    expect(await taken(w, workers[0]!.id)).toEqual([]);
    expect(await taken(w, other.workers[0]!.id)).toEqual([]);
    expect((await jobOf(w, header.jobId)).cancelledAt).toBeUndefined();
  });
});

describe("cancelling a running job", () => {
  it("records cancelledAt once and tells exactly the worker at the job's attempt; asking again tells it again and writes nothing", async () => {
    // Prepare
    const { w, r, header, workers } = await running(2);
    const at = w.clock.now();
    // Act
    const first = await cancelJob(w.deps, r.id, header.jobId);
    const writes = w.transacts.length;
    w.advance(5_000);
    const again = await cancelJob(w.deps, r.id, header.jobId);
    // Assess
    expect(first).toEqual({ jobId: header.jobId, status: "assigned", cancelled: true, cancelledAt: at });
    expect(again).toEqual(first);
    expect(w.transacts.length).toBe(writes);
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 0, cancelledAt: at });
    expect(await taken(w, workers[0]!.id)).toEqual([cancelOf(header.jobId, 0), cancelOf(header.jobId, 0)]);
    expect(await taken(w, workers[1]!.id)).toEqual([]);
    expect(await getJob(w.deps, r.id, header.jobId)).toMatchObject({ status: "assigned", cancelledAt: at });
    expect(w.logs.filter((l) => l.msg === "job cancelled")).toEqual([
      { level: "info", msg: "job cancelled", data: { jobId: header.jobId, attempt: 0 } },
    ]);
  });

  it("asking again and again re-sends the cancel a bounded number of times: a requester cannot flood its worker's queue for free", async () => {
    // Prepare: every message on a worker's queue is one more its poll must take before the next job
    const { w, r, header, workers } = await running(1);
    const limit = DEFAULT_RATE_LIMITS.cancel_resend;
    const queued = async () => {
      const all: unknown[] = [];
      for (let got = await taken(w, workers[0]!.id); got.length > 0; got = await taken(w, workers[0]!.id)) all.push(...got);
      return all;
    };
    // Act
    const first = await cancelJob(w.deps, r.id, header.jobId);
    const answers = [];
    for (let i = 0; i < 100; i++) answers.push(await cancelJob(w.deps, r.id, header.jobId));
    const flooded = await queued();
    w.advance(60_000 / limit.perMinute);
    const later = await cancelJob(w.deps, r.id, header.jobId);
    const refilled = await queued();
    // Assess: the first cancel and `burst` re-sends; each ask answered alike; the refill sends one more
    expect(answers.every((a) => JSON.stringify(a) === JSON.stringify(first))).toBe(true);
    expect(later).toEqual(first);
    expect(flooded).toEqual(Array(1 + limit.burst).fill(cancelOf(header.jobId, 0)));
    expect(refilled).toEqual([cancelOf(header.jobId, 0)]);
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", cancelledAt: first.cancelledAt });
  });

  it("a job that failed over is cancelled at its current attempt, on its current worker's queue", async () => {
    // Prepare: the first worker gave the job back; the second has it
    const { w, r, header, workers } = await running(2);
    await postResult(w.deps, workers[0]!.id, { ...failed(header.jobId, 0), code: "engine_error" });
    await taken(w, workers[1]!.id);
    // Act
    const out = await cancelJob(w.deps, r.id, header.jobId);
    // Assess
    expect(out).toMatchObject({ status: "assigned", cancelled: true });
    expect(await taken(w, workers[1]!.id)).toEqual([cancelOf(header.jobId, 1)]);
    expect(await taken(w, workers[0]!.id)).toEqual([]);
  });

  it("a cancel whose write loses to a failover cancels the job at the attempt it moved to", async () => {
    // Prepare: the failover commits between the cancel's read and its write
    const { w, r, header, workers } = await running(2);
    const transact = w.store.transact.bind(w.store);
    let raced = false;
    w.store.transact = async (ops) => {
      if (!raced && ops.some((op) => op.op === "update" && op.set?.cancelledAt !== undefined)) {
        raced = true;
        await postResult(w.deps, workers[0]!.id, { ...failed(header.jobId, 0), code: "engine_error" });
      }
      return transact(ops);
    };
    // Act
    const out = await cancelJob(w.deps, r.id, header.jobId);
    // Assess
    expect(raced).toBe(true);
    expect(out).toMatchObject({ status: "assigned", cancelled: true });
    expect(await jobOf(w, header.jobId)).toMatchObject({ attempt: 1, cancelledAt: out.cancelledAt });
    expect((await taken(w, workers[1]!.id)).filter((m) => (m as { kind?: string }).kind === "cancel")).toEqual([cancelOf(header.jobId, 1)]);
  });

  it("two cancels that read the job alike write it once: the later write fails its condition and answers the first's cancelledAt", async () => {
    // Prepare: cancel A has read the job; cancel B reads it too (same millisecond) and commits first, then time passes
    const { w, r, header, workers } = await running(1);
    const transact = w.store.transact.bind(w.store);
    let b: Awaited<ReturnType<typeof cancelJob>> | undefined;
    w.store.transact = async (ops) => {
      if (!b && ops.some((op) => op.op === "update" && op.set?.cancelledAt !== undefined)) {
        w.store.transact = transact;
        b = await cancelJob(w.deps, r.id, header.jobId);
        w.advance(1_000);
      }
      return transact(ops);
    };
    // Act
    const a = await cancelJob(w.deps, r.id, header.jobId);
    // Assess
    expect(b).toMatchObject({ cancelled: true });
    expect(a).toEqual(b);
    expect((await jobOf(w, header.jobId)).cancelledAt).toBe(b!.cancelledAt);
    expect(w.logs.filter((l) => l.msg === "job cancelled")).toHaveLength(1);
    expect(await taken(w, workers[0]!.id)).toEqual([cancelOf(header.jobId, 0), cancelOf(header.jobId, 0)]);
  });

  it("a cancel whose write keeps failing its condition gives up after CANCEL_TRIES with 503 store_busy (ask again), telling nobody", async () => {
    // Prepare: every cancel write fails its condition, as if the job were written each time in between
    const { w, r, header, workers } = await running(1);
    const transact = w.store.transact.bind(w.store);
    let tries = 0;
    w.store.transact = async (ops) => {
      if (ops.some((op) => op.op === "update" && op.set?.cancelledAt !== undefined)) {
        tries++;
        throw new ConditionFailedError(0);
      }
      return transact(ops);
    };
    // Act
    const out = await refusal(cancelJob(w.deps, r.id, header.jobId));
    // Assess
    expect(out).toMatchObject({ status: 503, code: "store_busy" });
    expect(out?.message).toContain(header.jobId);
    expect(out?.message).toContain("ask again");
    expect(tries).toBe(CANCEL_TRIES);
    expect((await jobOf(w, header.jobId)).cancelledAt).toBeUndefined();
    expect(await taken(w, workers[0]!.id)).toEqual([]);
  });

  it("a send that fails is logged, not fatal: the cancel is recorded, and asking again sends it", async () => {
    // Prepare
    const { w, r, header, workers } = await running(1);
    const send = w.queues.send.bind(w.queues);
    w.queues.send = async () => {
      throw new Error("SQS is down");
    };
    // Act
    const out = await cancelJob(w.deps, r.id, header.jobId);
    w.queues.send = send;
    const again = await cancelJob(w.deps, r.id, header.jobId);
    // Assess
    expect(out).toMatchObject({ cancelled: true });
    expect(again).toEqual(out);
    expect(w.logs.filter((l) => l.level === "warn" && l.msg.startsWith("cancel not sent"))).toEqual([
      expect.objectContaining({ data: { jobId: header.jobId, attempt: 0, error: "Error: SQS is down" } }),
    ]);
    expect(await taken(w, workers[0]!.id)).toEqual([cancelOf(header.jobId, 0)]);
  });

  it("a store error on the write is not a lost race: it is thrown as it is, once, not retried; nothing recorded, nobody told", async () => {
    // Prepare: the cancel's write fails for another reason than its condition (the store is down)
    const { w, r, header, workers } = await running(1);
    const transact = w.store.transact.bind(w.store);
    const down = new Error("store is down");
    let tries = 0;
    w.store.transact = async (ops) => {
      if (ops.some((op) => op.op === "update" && op.set?.cancelledAt !== undefined)) {
        tries++;
        throw down;
      }
      return transact(ops);
    };
    // Act
    const out = await cancelJob(w.deps, r.id, header.jobId).catch((e: unknown) => e);
    // Assess
    expect(out).toBe(down);
    expect(tries).toBe(1);
    expect((await jobOf(w, header.jobId)).cancelledAt).toBeUndefined();
    expect(await taken(w, workers[0]!.id)).toEqual([]);
  });

  it("wakes the worker's local long-poll and the job's waiters (who re-read it and see cancelledAt)", async () => {
    // Prepare: a wait on the worker's topic and one on the job's, each let go once the cancel has answered
    const { w, r, header, workers } = await running(1);
    const stop = new AbortController();
    const worker = w.deps.notifier.wait(`worker:${workers[0]!.id}`, 60_000, stop.signal);
    const job = w.deps.notifier.wait(jobTopic(header.jobId), 60_000, stop.signal);
    // Act
    await cancelJob(w.deps, r.id, header.jobId);
    stop.abort();
    // Assess: woken by the cancel (true), not let go by the abort (undefined)
    expect(await worker).toBe(true);
    expect(await job).toBe(true);
  });
});

describe("a cancelled job ends where it is, and the money follows what was generated", () => {
  it("its worker's failure refunds it at once (outcome cancelled, the whole hold back); the live candidate left is not tried", async () => {
    // Prepare
    const { w, r, header, workers } = await running(3);
    await cancelJob(w.deps, r.id, header.jobId);
    // Act
    const out = await postResult(w.deps, workers[0]!.id, failed(header.jobId, 0));
    // Assess
    expect(out).toEqual({ status: "refunded", duplicate: false });
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "refunded", outcome: "cancelled", attempt: 0 });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(await taken(w, workers[1]!.id)).toEqual([]);
    expect(await taken(w, workers[2]!.id)).toEqual([]);
    expect(await getJob(w.deps, r.id, header.jobId)).toMatchObject({ status: "refunded", outcome: "cancelled" });
    expect(w.logs.filter((l) => l.msg === "job refunded")).toEqual([
      { level: "info", msg: "job refunded", data: { jobId: header.jobId, outcome: "cancelled" } },
    ]);
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("its lease running out refunds it (outcome cancelled), not moved on; it is not extended meanwhile (409 job_cancelled)", async () => {
    // Prepare
    const { w, r, header, workers, job } = await running(2);
    await cancelJob(w.deps, r.id, header.jobId);
    // Act
    const extension = await refusal(extendLease(w.deps, workers[0]!.id, { jobId: header.jobId, attempt: 0 }));
    w.advance(job.leaseUntil - w.clock.now());
    const check = await handleMatchingMessage(w.deps, { type: "lease", jobId: header.jobId, attempt: 0 });
    // Assess
    expect(extension).toMatchObject({ status: 409, code: "job_cancelled", message: expect.stringContaining("cancelled by its requester") });
    expect(check).toBe("advanced");
    expect(await jobOf(w, header.jobId)).toMatchObject({
      status: "refunded",
      outcome: "cancelled",
      attempt: 0,
      leaseUntil: job.leaseUntil,
    });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(await taken(w, workers[1]!.id)).toEqual([]);
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("an extension that read the job before its cancel landed extends nothing (409 job_cancelled): the hold comes back at the old lease", async () => {
    // Prepare: the extension's read, then the cancel, then the extension's write (its condition was status and attempt only)
    const { w, r, header, workers, job } = await running(2);
    w.advance(job.leaseUntil - w.clock.now() - 2_000);
    const transact = w.store.transact;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let parkedNow!: () => void;
    const parked = new Promise<void>((resolve) => (parkedNow = resolve));
    w.store.transact = async (ops) => {
      if (ops.some((op) => op.op === "update" && op.table === "jobs" && op.set?.leaseUntil !== undefined)) {
        parkedNow();
        await released;
      }
      return transact(ops);
    };
    const extending = refusal(extendLease(w.deps, workers[0]!.id, { jobId: header.jobId, attempt: 0 }));
    await parked;
    w.store.transact = transact;
    // Act
    await cancelJob(w.deps, r.id, header.jobId);
    release();
    const extension = await extending;
    w.advance(job.leaseUntil - w.clock.now());
    const check = await handleMatchingMessage(w.deps, { type: "lease", jobId: header.jobId, attempt: 0 });
    // Assess
    expect(extension).toMatchObject({ status: 409, code: "job_cancelled" });
    expect(check).toBe("advanced");
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "refunded", outcome: "cancelled", leaseUntil: job.leaseUntil });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("a move that read the job before the cancel landed does not dispatch it: it is refunded from the attempt it moved to", async () => {
    // Prepare: the lease check's read, then the cancel, then the check's move (conditioned on status and attempt only)
    const { w, r, header, workers, job } = await running(2);
    w.advance(job.leaseUntil - w.clock.now());
    const read = await jobOf(w, header.jobId);
    await cancelJob(w.deps, r.id, header.jobId);
    // Act
    const moved = await advance(w.deps, read, 0, "expired");
    // Assess
    expect(moved).toBe(true);
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "refunded", outcome: "cancelled", attempt: 1 });
    expect(await taken(w, workers[1]!.id)).toEqual([]); // no AgentJob for the second worker
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("its worker's completed result settles at the receipt's usage: the worker is paid that, the rest of the hold goes back", async () => {
    // Prepare: the worker stopped early on the cancel and bills what it generated
    const { w, r, header, envelope, workers, job } = await running(2);
    const at = (await cancelJob(w.deps, r.id, header.jobId)).cancelledAt;
    const usage = { promptTokens: 9, completionTokens: 3 };
    // Act
    const out = await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope, { usage }));
    // Assess
    const cost = jobCost(w.deps.config.pricing, BigInt(job.candidates[0]!.pricePerToken), usage);
    expect(cost).toBeLessThan(BigInt(job.maxCost));
    expect(out).toEqual({ status: "completed", cost: cost.toString(), settlement: expect.any(String), duplicate: false });
    expect(await w.earned(workers[0]!.id)).toBe(cost);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - cost, held: 0n });
    expect(await getJob(w.deps, r.id, header.jobId)).toMatchObject({ status: "completed", cost: cost.toString(), cancelledAt: at });
    expect(await cancelJob(w.deps, r.id, header.jobId)).toEqual({
      jobId: header.jobId,
      status: "completed",
      cancelled: false,
      cancelledAt: at,
    });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });
});

describe("a job under a tab", () => {
  it("is cancelled the same way; one refunded on its failure costs nothing, one completed costs its receipt, at the tab's close", async () => {
    // Prepare: a tab of two slots, a job in each, both running
    const w = makeJobWorld();
    const wk = await w.worker();
    const r = await w.requester();
    const slotCost = 1_000_000n;
    const { view } = await openTab(w.deps, r.id, { slots: 2, slotCost: slotCost.toString(), ttlSeconds: 300 }, "tab-key-1");
    const jobs: Array<{ jobId: string; envelope: ReturnType<typeof seal> }> = [];
    for (const slot of [0, 1]) {
      const { header, quote, prepared } = await w.sealedJob(r);
      const h = { ...header, jobId: tabSlotJobId(view.tab.tabId, slot) };
      const envelope = seal(
        h,
        prepared.candidates.map((c) => ({ workerId: c.workerId, hpkePublicKey: c.hpkePublicKey })),
      );
      await submitJob(w.deps, r.id, envelope, jobIdempotencyKey(h.jobId), quote, { tab: { tab: view.tab, slot } });
      jobs.push({ jobId: h.jobId, envelope });
    }
    await taken(w, wk.id);
    const [a, b] = jobs as [(typeof jobs)[0], (typeof jobs)[0]];
    const usage = { promptTokens: 4, completionTokens: 2 };
    // Act
    const cancels = [await cancelJob(w.deps, r.id, a.jobId), await cancelJob(w.deps, r.id, b.jobId)];
    await postResult(w.deps, wk.id, failed(a.jobId, 0));
    await postResult(w.deps, wk.id, w.completed(wk, b.envelope, { usage }));
    w.advance(view.closesAfter - w.clock.now() + 1);
    const close = await handleMatchingMessage(w.deps, { type: "tab", tabId: view.tab.tabId });
    // Assess
    const cost = jobCost(w.deps.config.pricing, BigInt((await jobOf(w, b.jobId)).candidates[0]!.pricePerToken), usage);
    expect(cancels.map((c) => c.cancelled)).toEqual([true, true]);
    expect(await taken(w, wk.id)).toEqual([cancelOf(a.jobId, 0), cancelOf(b.jobId, 0)]);
    expect(await jobOf(w, a.jobId)).toMatchObject({ status: "refunded", outcome: "cancelled" });
    expect(w.logs.filter((l) => l.msg === "job refunded")).toEqual([
      { level: "info", msg: "job refunded", data: { jobId: a.jobId, outcome: "cancelled", tabId: view.tab.tabId } },
    ]);
    expect(await jobOf(w, b.jobId)).toMatchObject({ status: "completed", cost: cost.toString() });
    expect(close).toBe("closed");
    expect(await w.earned(wk.id)).toBe(cost);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - cost, held: 0n });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });
});

describe("the worker's poll (GET /v1/agent/jobs)", () => {
  it("hands out the cancels on the worker's queue", async () => {
    // Prepare: the job's dispatch taken (running), then cancelled
    const { w, r, header, workers } = await running(1);
    await cancelJob(w.deps, r.id, header.jobId);
    // Act
    const polled = await pollJobs(w.deps, workers[0]!.id, 0);
    // Assess
    expect(polled).toEqual({ jobs: [], challenges: [], cancels: [cancelOf(header.jobId, 0)] });
    expect(await pollJobs(w.deps, workers[0]!.id, 0)).toEqual({ jobs: [], challenges: [] }); // none left
  });

  it("a job cancelled before its worker took it comes with its cancel, even when the cancel's own message was lost", async () => {
    // Prepare: the dispatch still queued; the cancel's send fails
    const w = makeJobWorld();
    const { r, header, workers } = await w.submitted(1);
    const send = w.queues.send.bind(w.queues);
    w.queues.send = async () => {
      throw new Error("SQS is down");
    };
    await cancelJob(w.deps, r.id, header.jobId);
    w.queues.send = send;
    // Act
    const polled = await pollJobs(w.deps, workers[0]!.id, 0);
    // Assess
    expect(polled.jobs.map((j) => j.jobId)).toEqual([header.jobId]);
    expect(polled.cancels).toEqual([cancelOf(header.jobId, 0)]);
  });

  it("a job that was not cancelled comes without a cancel", async () => {
    // Prepare: the dispatch still queued, nobody cancelled it
    const w = makeJobWorld();
    const { header, workers } = await w.submitted(1);
    // Act
    const polled = await pollJobs(w.deps, workers[0]!.id, 0);
    // Assess: no cancels key at all (the wire's default is none)
    expect(polled).toEqual({ jobs: [expect.objectContaining({ jobId: header.jobId, attempt: 0 })], challenges: [] });
  });

  it("one poll hands out each cancelled job's cancel once: two jobs on one worker, cancelled before they were taken", async () => {
    // Prepare: two jobs queued for one worker, both cancelled (so each has its dispatch and its cancel queued)
    const w = makeJobWorld();
    const wk = await w.worker();
    const r = await w.requester();
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { header, envelope, quote } = await w.sealedJob(r);
      await submitJob(w.deps, r.id, envelope, jobIdempotencyKey(header.jobId), quote);
      ids.push(header.jobId);
    }
    for (const id of ids) await cancelJob(w.deps, r.id, id);
    // Act
    const polled = await pollJobs(w.deps, wk.id, 0, 10);
    // Assess: one cancel per job, though each job's is both queued and implied by its dispatch
    expect(polled.jobs.map((j) => j.jobId).sort()).toEqual([...ids].sort());
    expect(polled.cancels?.map((c) => c.jobId).sort()).toEqual([...ids].sort());
    expect(polled.cancels).toEqual(expect.arrayContaining(ids.map((id) => cancelOf(id, 0))));
  });
});
