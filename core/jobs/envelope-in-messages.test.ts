/**
 * Where writes are billed (store.billedWrites: DynamoDB), a job's envelope is stored nowhere: it
 * rides in its lease checks, every re-send of them, its dispatches, and back in a worker's
 * failure report (./items.ts envelopeItemStored). A job still fails over to its next candidate
 * with the same envelope, whatever moves it on; a report or a check whose envelope is not the job's
 * (a refused submit of the same id sent one) changes nothing; a check that comes without one (sent
 * before they carried it) reads the item, and a job with no envelope anywhere is refunded rather
 * than held; a report without one needs none where the job is refunded anyway.
 */
import { describe, expect, it } from "vitest";
import { ResultRequest, type AgentJob } from "../../events/api";
import { MatchingMessage } from "../../events/queue";
import { tabSlotJobId } from "../ids";
import type { Item } from "../ports";
import { handleMatchingMessage } from "./dispatch";
import { envelopeKey, failureKey, jobKey, type EnvelopeItem, type JobItem } from "./items";
import { extendLease } from "./lease";
import { postResult } from "./results";
import { cancelJob } from "./cancel";
import { jobIdempotencyKey, submitJob } from "./submit";
import { openTab } from "./tabs";
import { FUNDS, headerOf, makeJobWorld, refusal, seal, type JobWorld } from "./testing";

/** A world whose store bills writes, with `n` workers and a job sealed to all of them, submitted. */
async function billedJob(n = 2) {
  const w = makeJobWorld({ billedWrites: true });
  const sent = leaseChecks(w);
  return { w, sent, ...(await w.submitted(n)) };
}

/** The lease checks sent from now on (their bodies). */
function leaseChecks(w: JobWorld): MatchingMessage[] {
  const sent: MatchingMessage[] = [];
  const send = w.deps.queues.send.bind(w.deps.queues);
  w.deps.queues.send = async (queue, body, opts) => {
    if (queue === "matching") sent.push(body as MatchingMessage);
    return send(queue, body, opts);
  };
  return sent;
}

/**
 * The matching messages due now, parsed and handled as the consumer does (functions/queue/matching.ts;
 * its schema must keep the envelope), and deleted: their outcomes.
 */
async function deliverDue(w: JobWorld): Promise<string[]> {
  const got = await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
  const outcomes: string[] = [];
  for (const m of got) {
    outcomes.push(await handleMatchingMessage(w.deps, MatchingMessage.parse(JSON.parse(m.body))));
    await w.queues.delete("matching", m.receiptHandle);
  }
  return outcomes;
}

/** What is on a worker's queue (taken off it). */
async function handed(w: JobWorld, workerId: string): Promise<AgentJob[]> {
  const got = await w.queues.receive(`worker-${workerId}`, { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
  return got.map((m) => JSON.parse(m.body) as AgentJob);
}

const jobOf = async (w: JobWorld, jobId: string) => (await w.store.get<JobItem>("jobs", jobKey(jobId)))!;
const jobsTable = (w: JobWorld): Item[] => w.store.scan("jobs").map((i) => ({ ...i }));

describe("a billed-write store keeps no envelope: the lease check carries it", () => {
  it("a submitted job has no envelope item; its worker dies and the next candidate is handed the same envelope", async () => {
    // Prepare
    const { w, header, envelope, job, workers } = await billedJob(2);
    expect(await w.store.get("jobs", envelopeKey(header.jobId))).toBeUndefined();
    expect((await handed(w, workers[0]!.id)).map((j) => j.envelope)).toEqual([envelope]);
    // Act: the first candidate never answers; its lease check comes due
    w.advance(job.leaseUntil - w.clock.now() + 1_000);
    const outcomes = await deliverDue(w);
    // Assess
    expect(outcomes).toEqual(["advanced"]);
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 1 });
    expect((await handed(w, workers[1]!.id)).map((j) => [j.jobId, j.attempt, j.envelope])).toEqual([[header.jobId, 1, envelope]]);
    expect(w.store.scan("jobs").filter((i) => i.sk === "envelope")).toEqual([]);
    // the envelope was there: no "envelope not found" alarm for a move that had it
    expect(w.logs.filter((l) => l.level === "error")).toEqual([]);
  });

  it("a lease check delivered before its lease ran out (an extension) is sent again with the envelope; the job then fails over with it", async () => {
    // Prepare: the worker extends its lease, then dies
    const { w, sent, header, envelope, job, workers } = await billedJob(2);
    w.advance(job.leaseUntil - w.clock.now() - 1_000);
    const ext = await extendLease(w.deps, workers[0]!.id, { jobId: header.jobId, attempt: 0 });
    expect(ext.extended).toBe(true);
    w.advance(2_000);
    sent.length = 0;
    // Act: the first check finds the lease extended; the one it sends again fires at the new end
    const early = await deliverDue(w);
    w.advance(ext.leaseUntil - w.clock.now() + 1_000);
    const late = await deliverDue(w);
    // Assess
    expect(early).toEqual(["rescheduled"]);
    expect(late).toEqual(["advanced"]);
    expect(sent.map((m) => (m.type === "lease" ? [m.attempt, m.envelope] : m.type))).toEqual([
      [0, envelope],
      [1, envelope],
    ]);
    expect((await handed(w, workers[1]!.id)).map((j) => [j.attempt, j.envelope])).toEqual([[1, envelope]]);
  });

  it("a lease check whose move lost to an extension (landed after its read) is sent again with the envelope", async () => {
    // Prepare: the lease has run out; the worker's late extension lands while the check's move is on its way
    const { w, sent, header, envelope, job, workers } = await billedJob(2);
    w.advance(job.leaseUntil - w.clock.now() + 1);
    const transact = w.store.transact;
    w.store.transact = async (ops) => {
      if (ops.some((op) => op.op === "update" && op.table === "jobs" && op.set?.attempt !== undefined)) {
        w.store.transact = transact;
        await extendLease(w.deps, workers[0]!.id, { jobId: header.jobId, attempt: 0 });
      }
      return transact(ops);
    };
    const check = sent[0]!;
    sent.length = 0;
    // Act
    const outcome = await handleMatchingMessage(w.deps, check);
    // Assess: the check for the move that did not happen, then the one for attempt 0's new end, both with the envelope
    expect(outcome).toBe("rescheduled");
    expect(sent).toEqual([
      { type: "lease", jobId: header.jobId, attempt: 1, envelope },
      { type: "lease", jobId: header.jobId, attempt: 0, envelope },
    ]);
  });

  it("a lease check that comes before its commit is sent again with the envelope, and moves the job on once it has committed", async () => {
    // Prepare: the submit's check, taken before its commit landed
    const w = makeJobWorld({ billedWrites: true });
    const sent = leaseChecks(w);
    const { header, envelope, job, workers } = await w.submitted(2);
    const check = sent[0]!;
    await w.store.transact([{ op: "delete", table: "jobs", key: jobKey(header.jobId) }]);
    sent.length = 0;
    // Act: it waits (re-sent), the commit lands, and the re-sent check fires past the lease
    const waiting = await handleMatchingMessage(w.deps, check);
    await w.store.transact([{ op: "put", table: "jobs", item: job }]);
    w.advance(job.leaseUntil - w.clock.now() + 1_000);
    const outcome = await handleMatchingMessage(w.deps, sent[0]!);
    // Assess
    expect(waiting).toBe("awaiting");
    expect(sent[0]).toMatchObject({ type: "lease", attempt: 0, envelope });
    expect(outcome).toBe("advanced");
    expect((await handed(w, workers[1]!.id)).map((j) => [j.attempt, j.envelope])).toEqual([[1, envelope]]);
  });

  it("a dispatch message carries the envelope to the job's worker", async () => {
    const { w, header, envelope, workers } = await billedJob(1);
    await handed(w, workers[0]!.id);
    const msg = MatchingMessage.parse(JSON.parse(JSON.stringify({ type: "dispatch", jobId: header.jobId, attempt: 0, envelope })));
    expect(await handleMatchingMessage(w.deps, msg)).toBe("dispatched");
    expect((await handed(w, workers[0]!.id)).map((j) => j.envelope)).toEqual([envelope]);
  });
});

describe("a worker's failure report brings the envelope back", () => {
  it("one with the job's envelope moves the job on at once, and the next candidate gets that envelope", async () => {
    const { w, header, envelope, workers } = await billedJob(2);
    // parsed as the route parses it (its schema must keep the envelope)
    const report = ResultRequest.parse(
      JSON.parse(JSON.stringify({ kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error", envelope })),
    );
    const r = await postResult(w.deps, workers[0]!.id, report);
    expect(r).toEqual({ status: "assigned", duplicate: false });
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 1 });
    expect((await handed(w, workers[1]!.id)).map((j) => [j.attempt, j.envelope])).toEqual([[1, envelope]]);
  });

  it("one with another job's envelope, or none, is refused (422, by code) and changes nothing", async () => {
    // Prepare: another job of the same requester and workers, whose envelope the worker also has
    const { w, sent, header, workers } = await billedJob(2);
    const other = await w.sealedJob(await w.requester(), { candidates: 2 });
    const before = jobsTable(w);
    const checksBefore = sent.length;
    // Act
    const forged = await refusal(
      postResult(w.deps, workers[0]!.id, {
        kind: "failed",
        jobId: header.jobId,
        attempt: 0,
        code: "engine_error",
        envelope: other.envelope,
      }),
    );
    const missing = await refusal(
      postResult(w.deps, workers[0]!.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error" }),
    );
    // Assess
    expect(forged).toMatchObject({ status: 422, code: "envelope_mismatch" });
    expect(missing).toMatchObject({ status: 422, code: "envelope_required" });
    expect(jobsTable(w)).toEqual(before);
    expect(await w.store.get("jobs", failureKey(header.jobId, 0))).toBeUndefined();
    expect(sent.length).toBe(checksBefore);
    expect(await handed(w, workers[1]!.id)).toEqual([]);
  });

  it("where the envelope is stored (the local default), a report without one (an older agent) moves the job on with the stored one", async () => {
    const w = makeJobWorld({ cheapTransactions: true });
    const { header, envelope, workers } = await w.submitted(2);
    await postResult(w.deps, workers[0]!.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error" });
    expect((await handed(w, workers[1]!.id)).map((j) => [j.attempt, j.envelope])).toEqual([[1, envelope]]);
  });
});

describe("a lease check without an envelope (sent before checks carried it)", () => {
  it("reads the job's envelope item when there is one, and hands that to the next candidate", async () => {
    // Prepare: a job submitted before (its item written), its check without the envelope
    const { w, header, envelope, job, workers } = await billedJob(2);
    await w.store.transact([{ op: "put", table: "jobs", item: { ...envelopeKey(header.jobId), envelope } }]);
    w.advance(job.leaseUntil - w.clock.now() + 1_000);
    // Act
    const outcome = await handleMatchingMessage(w.deps, { type: "lease", jobId: header.jobId, attempt: 0 });
    // Assess
    expect(outcome).toBe("advanced");
    expect((await handed(w, workers[1]!.id)).map((j) => [j.attempt, j.envelope])).toEqual([[1, envelope]]);
  });

  it("with no envelope anywhere (or an item that is not the job's request), the job is refunded, not moved to a worker that could never run it", async () => {
    for (const leftover of [false, true]) {
      // Prepare
      const { w, r, header, job, workers } = await billedJob(2);
      if (leftover) {
        const other = await w.sealedJob(r, { candidates: 2 });
        await w.store.transact([{ op: "put", table: "jobs", item: { ...envelopeKey(header.jobId), envelope: other.envelope } }]);
      }
      w.advance(job.leaseUntil - w.clock.now() + 1_000);
      // Act
      const outcome = await handleMatchingMessage(w.deps, { type: "lease", jobId: header.jobId, attempt: 0 });
      // Assess
      expect(outcome).toBe("advanced");
      expect(await jobOf(w, header.jobId)).toMatchObject({ status: "refunded", outcome: "expired", attempt: 0 });
      expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
      expect(await handed(w, workers[1]!.id)).toEqual([]);
      expect(w.logs).toContainEqual({
        level: "error",
        msg: "job's envelope not found: refunded instead of moved on",
        data: { jobId: header.jobId, attempt: 0 },
      });
    }
  });
});

describe("a lease check whose envelope is not the job's (a refused submit of the same job id)", () => {
  it("a submit of a taken job id under another key is refused (409), and its lease check never hands its envelope to the job's next candidate", async () => {
    // Prepare: a job whose first candidate stays silent; another account submits its own body under the job's id
    const { w, sent, header, envelope, job, workers } = await billedJob(2);
    const attacker = await w.requester();
    const { prepared, envelope: own } = await w.sealedJob(attacker, { candidates: 2 });
    const forged = seal({ ...headerOf(prepared, attacker.id), jobId: header.jobId }, prepared.candidates);
    sent.length = 0;
    const refused = await refusal(submitJob(w.deps, attacker.id, forged, "attacker-key-0001", prepared.quote));
    expect(refused).toMatchObject({ status: 409, code: "job_exists" });
    expect(own).toBeDefined();
    // Act: the job's lease runs out; the refused submit's check is delivered first, then whatever is due
    w.advance(job.leaseUntil - w.clock.now() + 1_000);
    const first = await Promise.all(sent.map((m) => handleMatchingMessage(w.deps, m)));
    await deliverDue(w);
    // Assess: the job moved on with its own envelope only
    expect((await handed(w, workers[1]!.id)).map((j) => [j.attempt, j.envelope])).toEqual([[1, envelope]]);
    expect(first).toEqual(["stale"]);
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 1 });
    expect(JSON.stringify(w.logs)).not.toContain(forged.payload);
  });

  it("a lease check or a dispatch message with another job's envelope is dropped; the job's own check still moves it on", async () => {
    // Prepare: the job's lease has run out
    const { w, header, envelope, job, workers } = await billedJob(2);
    const other = await w.sealedJob(await w.requester(), { candidates: 2 });
    w.advance(job.leaseUntil - w.clock.now() + 1_000);
    // Act
    const lease = await handleMatchingMessage(w.deps, { type: "lease", jobId: header.jobId, attempt: 0, envelope: other.envelope });
    const dispatched = await handleMatchingMessage(w.deps, { type: "dispatch", jobId: header.jobId, attempt: 0, envelope: other.envelope });
    // Assess
    expect([lease, dispatched]).toEqual(["stale", "stale"]);
    // each drop is logged by the job, never with the envelope it carried
    expect(w.logs.filter((l) => l.msg === "matching message dropped: its envelope is not the job's request")).toEqual(
      (["lease", "dispatch"] as const).map((type) => ({
        level: "warn",
        msg: "matching message dropped: its envelope is not the job's request",
        data: { type, jobId: header.jobId, attempt: 0 },
      })),
    );
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 0 });
    await handed(w, workers[0]!.id); // the job's own dispatch at submit
    expect(await handed(w, workers[1]!.id)).toEqual([]);
    expect(await deliverDue(w)).toEqual(["advanced"]);
    expect((await handed(w, workers[1]!.id)).map((j) => [j.attempt, j.envelope])).toEqual([[1, envelope]]);
  });
});

describe("a failure report without the envelope (an agent from before it) where none is needed", () => {
  it("a cancelled job, or one at its last candidate, is refunded at once without it", async () => {
    for (const last of [false, true]) {
      // Prepare: two candidates and the job cancelled, or one candidate
      const { w, r, header, workers } = await billedJob(last ? 1 : 2);
      if (!last) await cancelJob(w.deps, r.id, header.jobId);
      // Act
      const out = await postResult(w.deps, workers[0]!.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "cancelled" });
      // Assess
      expect(out, `last ${last}`).toEqual({ status: "refunded", duplicate: false });
      expect(await jobOf(w, header.jobId)).toMatchObject({ status: "refunded", outcome: last ? "failed" : "cancelled", attempt: 0 });
      expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
      expect(w.logs.filter((l) => l.level === "error")).toEqual([]);
    }
  });
});

describe("a job under a tab keeps its envelope where jobs do", () => {
  it("its slot's commit puts the envelope item on a store that keeps them, and none where writes are billed", async () => {
    for (const billedWrites of [false, true]) {
      // Prepare: a tab of one slot, and a job sealed for it
      const w = makeJobWorld({ billedWrites });
      await w.worker();
      const r = await w.requester();
      const { view } = await openTab(w.deps, r.id, { slots: 1, slotCost: "1000000", ttlSeconds: 300 }, "tab-key-1");
      const { header, quote, prepared } = await w.sealedJob(r);
      const jobId = tabSlotJobId(view.tab.tabId, 0);
      const envelope = seal({ ...header, jobId }, prepared.candidates);
      // Act
      await submitJob(w.deps, r.id, envelope, jobIdempotencyKey(jobId), quote, { tab: { tab: view.tab, slot: 0 } });
      // Assess
      expect(await jobOf(w, jobId), `billed ${billedWrites}`).toMatchObject({ status: "assigned", tab: view.tab.tabId });
      const item = await w.store.get<EnvelopeItem>("jobs", envelopeKey(jobId));
      expect(item?.envelope, `billed ${billedWrites}`).toEqual(billedWrites ? undefined : envelope);
    }
  });
});
