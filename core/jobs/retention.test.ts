/**
 * A job's records expire `jobRetentionDays` after it ends (./retention.ts): the ttl is written by
 * each write that ends a job and by none before; once the item is gone, nothing sent again for
 * the job (a submit, a result, a failure, a cancel, a lease check) has any effect, and the
 * receipt proof answers 410 job_records_expired.
 */
import { describe, expect, it } from "vitest";
import { checkJobRetentionDays, DEFAULT_JOB_RETENTION_DAYS, MIN_JOB_RETENTION_DAYS } from "../config";
import { jobIdTime, newJobId } from "../ids";
import { receiptProof } from "../receipts/read";
import { cancelJob } from "./cancel";
import { handleMatchingMessage } from "./dispatch";
import { jobKey, readJob, RETAIN_SECONDS, type JobItem, type VoidItem } from "./items";
import { getJob } from "./read";
import { postResult } from "./results";
import { checkJobIdFresh, JOB_ID_WINDOW_MS, jobRetentionSeconds } from "./retention";
import { jobIdempotencyKey, submitJob } from "./submit";
import { openTab } from "./tabs";
import { closeCheck, pastClose, submitSlot } from "./tabs-testing";
import { FUNDS, makeJobWorld, refusal, seal, type JobWorld, type TestWorker } from "./testing";
import { voidJob } from "./void";

const DAY_MS = 86_400_000;
const ttlOf = async (w: JobWorld, jobId: string) => (await w.store.get<JobItem>("jobs", jobKey(jobId)))?.ttl;
/** The ttl a job ending now gets under the default retention. */
const endedNow = (w: JobWorld) => Math.ceil(w.clock.now() / 1000) + DEFAULT_JOB_RETENTION_DAYS * 86_400;

/** A job submitted under its own key (`submit-<jobId>`, the SDK's: the job item is its idempotency record), on `n` workers. */
async function keyedJob(w: JobWorld, n = 1) {
  const workers: TestWorker[] = [];
  for (let i = 0; i < n; i++) workers.push(await w.worker());
  const r = await w.requester();
  const { envelope, header, quote } = await w.sealedJob(r, { candidates: n });
  await submitJob(w.deps, r.id, envelope, jobIdempotencyKey(header.jobId), quote);
  const job = (await readJob(w.store, header.jobId))!;
  const ordered = job.candidates.map((c) => workers.find((x) => x.id === c.workerId)!);
  return { r, envelope, header, quote, workers: ordered };
}

describe("the retention starts at each end of a job, and never before", () => {
  it("an open job has none; its completion sets it, from the settlement's time", async () => {
    // Prepare
    const w = makeJobWorld();
    const { envelope, header, workers } = await keyedJob(w);
    const open = await ttlOf(w, header.jobId);
    w.advance(5_000);
    // Act
    await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope));
    // Assess
    expect(open).toBeUndefined();
    expect(await ttlOf(w, header.jobId)).toBe(endedNow(w));
  });

  it("a failure report at its last candidate refunds it (outcome failed) with the retention", async () => {
    const w = makeJobWorld();
    const { header, workers } = await keyedJob(w);
    await postResult(w.deps, workers[0]!.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error" });
    const job = (await readJob(w.store, header.jobId))!;
    expect(job).toMatchObject({ status: "refunded", outcome: "failed", ttl: endedNow(w) });
  });

  it("a failure that moves it to its next candidate leaves it open, with none", async () => {
    const w = makeJobWorld();
    const { envelope, header, workers } = await keyedJob(w, 2);
    await postResult(w.deps, workers[0]!.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error", envelope });
    expect(await readJob(w.store, header.jobId)).toMatchObject({ status: "assigned", attempt: 1 });
    expect(await ttlOf(w, header.jobId)).toBeUndefined();
  });

  it("its lease running out at its last candidate refunds it (outcome expired) with the retention", async () => {
    const w = makeJobWorld();
    const { header } = await keyedJob(w);
    w.advance(3_600_000);
    expect(await handleMatchingMessage(w.deps, { type: "lease", jobId: header.jobId, attempt: 0 })).toBe("advanced");
    expect(await readJob(w.store, header.jobId)).toMatchObject({ status: "refunded", outcome: "expired", ttl: endedNow(w) });
  });

  it("a cancel alone sets none (the job still runs); the refund it leads to does", async () => {
    // Prepare
    const w = makeJobWorld();
    const { r, header, workers } = await keyedJob(w);
    // Act
    await cancelJob(w.deps, r.id, header.jobId);
    const cancelled = await readJob(w.store, header.jobId);
    await postResult(w.deps, workers[0]!.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "cancelled" });
    // Assess
    expect(cancelled).toMatchObject({ status: "assigned" });
    expect(cancelled!.cancelledAt).toBeDefined();
    expect(cancelled!.ttl).toBeUndefined();
    expect(await readJob(w.store, header.jobId)).toMatchObject({ status: "refunded", outcome: "cancelled", ttl: endedNow(w) });
  });

  it("a tab's completed job gets none at its completion (the close pays from it), and the close's time + retention at the close", async () => {
    // Prepare
    const w = makeJobWorld();
    const wk = await w.worker();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, { slots: 2, slotCost: "1000000", ttlSeconds: 300 }, "retention-tab");
    const j = await submitSlot(w, r, view.tab, 0);
    await postResult(w.deps, wk.id, w.completed(wk, j.envelope));
    const atCompletion = await ttlOf(w, j.jobId);
    pastClose(w, view);
    // Act
    expect(await handleMatchingMessage(w.deps, closeCheck(view.tab.tabId))).toBe("closed");
    // Assess
    expect(atCompletion).toBeUndefined();
    expect(await ttlOf(w, j.jobId)).toBe(endedNow(w));
  });

  it("a voided id's item keeps its own ttl (RETAIN_SECONDS), set when it is written", async () => {
    const w = makeJobWorld();
    const r = await w.requester();
    const jobId = newJobId(w.clock.now());
    await voidJob(w.deps, r.id, jobId);
    const item = await w.store.get<VoidItem>("jobs", jobKey(jobId));
    expect(item?.ttl).toBe(Math.ceil(w.clock.now() / 1000) + RETAIN_SECONDS);
  });

  it("follows the configured retention", async () => {
    const w = makeJobWorld();
    w.deps.config = { ...w.deps.config, jobRetentionDays: 9 };
    const { envelope, header, workers } = await keyedJob(w);
    await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope));
    expect(await ttlOf(w, header.jobId)).toBe(Math.ceil(w.clock.now() / 1000) + 9 * 86_400);
  });
});

describe("after the retention, nothing sent again for the job has an effect", () => {
  /** A completed job, the clock then moved past its retention; the store's writes from then on are counted. */
  async function expired() {
    const w = makeJobWorld();
    const done = await keyedJob(w);
    const { cost } = await postResult(w.deps, done.workers[0]!.id, w.completed(done.workers[0]!, done.envelope));
    w.advance(DEFAULT_JOB_RETENTION_DAYS * DAY_MS + 1_000);
    const writesBefore = w.transacts.length;
    return { w, ...done, cost: BigInt(cost!), writes: () => w.transacts.length - writesBefore };
  }

  it("the job item is gone", async () => {
    const { w, header } = await expired();
    expect(await readJob(w.store, header.jobId)).toBeUndefined();
  });

  it("the very submit sent again is refused (its id is stale, and its quote long expired), before anything is written", async () => {
    const { w, r, envelope, header, quote, cost, writes } = await expired();
    const again = await refusal(submitJob(w.deps, r.id, envelope, jobIdempotencyKey(header.jobId), quote));
    expect(again).toMatchObject({ status: 422, code: "stale_job_id" });
    expect(writes()).toBe(0);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - cost, held: 0n });
  });

  it("a new submit of the expired job's id, under a fresh quote, is refused 422 stale_job_id, before anything is written", async () => {
    // Prepare: a live worker and a fresh quote now, the old job's id put in the envelope
    const { w, r, header, cost } = await expired();
    await w.worker();
    const fresh = await w.sealedJob(r);
    const h = { ...fresh.header, jobId: header.jobId };
    const envelope = seal(
      h,
      fresh.prepared.candidates.map((c) => ({ workerId: c.workerId, hpkePublicKey: c.hpkePublicKey })),
    );
    const writesBefore = w.transacts.length;
    const writes = () => w.transacts.length - writesBefore;
    // Act
    const again = await refusal(submitJob(w.deps, r.id, envelope, jobIdempotencyKey(h.jobId), fresh.quote));
    // Assess
    expect(again).toMatchObject({ status: 422, code: "stale_job_id" });
    expect(writes()).toBe(0);
    expect(await readJob(w.store, header.jobId)).toBeUndefined();
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - cost, held: 0n });
  });

  it("the result posted again and a failure report are 404 unknown_job, a cancel 410 job_records_expired; lease checks are dropped; nothing is written", async () => {
    // Prepare
    const { w, r, envelope, header, workers, cost, writes } = await expired();
    const wk = workers[0]!;
    const earned = await w.earned(wk.id);
    // Act
    const result = await refusal(postResult(w.deps, wk.id, w.completed(wk, envelope)));
    const failure = await refusal(postResult(w.deps, wk.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error" }));
    const cancel = await refusal(cancelJob(w.deps, r.id, header.jobId));
    const lease0 = await handleMatchingMessage(w.deps, { type: "lease", jobId: header.jobId, attempt: 0 });
    const lease1 = await handleMatchingMessage(w.deps, { type: "lease", jobId: header.jobId, attempt: 1 });
    // Assess
    for (const refused of [result, failure]) expect(refused).toMatchObject({ status: 404, code: "unknown_job" });
    expect(cancel).toMatchObject({ status: 410, code: "job_records_expired" });
    expect(lease0).toBe("awaiting"); // waits for a commit that never comes, then is dropped: it only reads
    expect(lease1).toBe("stale");
    expect(writes()).toBe(0);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - cost, held: 0n });
    expect(await w.earned(wk.id)).toBe(earned);
  });

  it("the receipt proof is 410 job_records_expired (before it: not the 410); an unknown recent id stays 404 unknown_job", async () => {
    // Prepare
    const w = makeJobWorld();
    const { r, envelope, header, workers } = await keyedJob(w);
    await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope));
    const within = await refusal(receiptProof(w.deps, r.id, header.jobId));
    w.advance(DEFAULT_JOB_RETENTION_DAYS * DAY_MS + 1_000);
    // Act
    const after = await refusal(receiptProof(w.deps, r.id, header.jobId));
    const unknown = await refusal(receiptProof(w.deps, r.id, newJobId(w.clock.now())));
    // Assess
    expect(within).toMatchObject({ status: 409, code: "receipt_not_anchored_yet" });
    expect(after).toMatchObject({ status: 410, code: "job_records_expired" });
    expect(after!.message).toMatch(/30 days/);
    expect(unknown).toMatchObject({ status: 404, code: "unknown_job" });
  });

  it("session 42: GET /v1/jobs/{id} and a cancel of an expired job say it expired (410), not that it never was (404)", async () => {
    // Prepare
    const w = makeJobWorld();
    const { r, envelope, header, workers } = await keyedJob(w);
    await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope));
    const within = await getJob(w.deps, r.id, header.jobId);
    w.advance(DEFAULT_JOB_RETENTION_DAYS * DAY_MS + 1_000);
    // Act
    const read = await refusal(getJob(w.deps, r.id, header.jobId));
    const cancel = await refusal(cancelJob(w.deps, r.id, header.jobId));
    const unknown = await refusal(getJob(w.deps, r.id, newJobId(w.clock.now())));
    // Assess
    expect(within.status).toBe("completed");
    expect(read).toMatchObject({ status: 410, code: "job_records_expired" });
    expect(cancel).toMatchObject({ status: 410, code: "job_records_expired" });
    expect(unknown).toMatchObject({ status: 404, code: "unknown_job" });
  });
});

describe("the rules' bounds", () => {
  it("a job id must name a time within JOB_ID_WINDOW_MS of now, either side", () => {
    const clock = { now: () => 1_765_000_000_000 };
    const at = (ms: number) => newJobId(clock.now() + ms);
    expect(jobIdTime(at(0))).toBe(clock.now());
    for (const ok of [0, JOB_ID_WINDOW_MS, -JOB_ID_WINDOW_MS]) expect(() => checkJobIdFresh({ clock }, at(ok))).not.toThrow();
    for (const bad of [JOB_ID_WINDOW_MS + 1, -JOB_ID_WINDOW_MS - 1])
      expect(() => checkJobIdFresh({ clock }, at(bad))).toThrow(expect.objectContaining({ status: 422, code: "stale_job_id" }));
  });

  it("an expired job's id is never fresh again: the least retention outlasts both windows", () => {
    // a job whose id names the latest time accepted, ended at once: the earliest its item expires
    const submittedAt = 1_765_000_000_000;
    const id = newJobId(submittedAt + JOB_ID_WINDOW_MS);
    const expiresAt = submittedAt + jobRetentionSeconds({ jobRetentionDays: MIN_JOB_RETENTION_DAYS }) * 1000;
    expect(() => checkJobIdFresh({ clock: { now: () => expiresAt } }, id)).toThrow(expect.objectContaining({ code: "stale_job_id" }));
  });

  it("a retention is whole days from MIN_JOB_RETENTION_DAYS to MAX_JOB_RETENTION_DAYS, never clamped", () => {
    expect(checkJobRetentionDays(MIN_JOB_RETENTION_DAYS)).toBe(MIN_JOB_RETENTION_DAYS);
    expect(checkJobRetentionDays(3650)).toBe(3650);
    for (const bad of [MIN_JOB_RETENTION_DAYS - 1, 3651, 30.5, Number.NaN]) expect(() => checkJobRetentionDays(bad)).toThrow(/whole days/);
  });
});
