/**
 * Void (./void.ts): a requester settles whether a submit of a job id it may have lost can still
 * commit. The void is a tombstone at the job's key, put only if absent: a submit's put of the job
 * (only if absent) fails after it, 409 job_void, nothing held; a job already there is answered to
 * its owner (voided: false) and to nobody else (409 job_exists), and nothing changes. A voided id
 * is no job to any reader.
 */
import { describe, expect, it } from "vitest";
import { recoverAssignedJobs } from "../recovery";
import { receiptProof } from "../receipts/read";
import { cancelJob } from "./cancel";
import { handleMatchingMessage } from "./dispatch";
import { jobKey, type JobItem } from "./items";
import { extendLease } from "./lease";
import { getJob } from "./read";
import { postResult } from "./results";
import { jobIdempotencyKey, submitJob } from "./submit";
import { voidJob } from "./void";
import { FUNDS, holdCommit, ledgerDiscrepancies, makeJobWorld, refusal, type JobWorld } from "./testing";

/** A requester's job sealed to one live worker, not submitted. */
async function sealed(w: JobWorld) {
  const worker = await w.worker();
  const r = await w.requester();
  return { worker, r, ...(await w.sealedJob(r)) };
}
const submit = (w: JobWorld, s: Awaited<ReturnType<typeof sealed>>) =>
  submitJob(w.deps, s.r.id, s.envelope, jobIdempotencyKey(s.header.jobId), s.quote);
const itemOf = (w: JobWorld, jobId: string) => w.store.get("jobs", jobKey(jobId));

describe.each([
  ["DynamoDB's layout", false],
  ["cheap transactions (LMDB)", true],
])("void (%s)", (_, cheapTransactions) => {
  it("an id with no job: voided (again: the same), and its submit then is 409 job_void with nothing held", async () => {
    // Prepare
    const w = makeJobWorld({ cheapTransactions });
    const s = await sealed(w);
    // Act
    const first = await voidJob(w.deps, s.r.id, s.header.jobId);
    const again = await voidJob(w.deps, s.r.id, s.header.jobId);
    const submitted = await refusal(submit(w, s));
    // Assess
    expect([first, again]).toEqual([
      { jobId: s.header.jobId, voided: true },
      { jobId: s.header.jobId, voided: true },
    ]);
    expect(submitted).toMatchObject({ status: 409, code: "job_void" });
    expect(await w.balance(s.r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("the race, the void first: the submit's delayed commit is refused (job_void) and holds nothing", async () => {
    // Prepare
    const w = makeJobWorld({ cheapTransactions });
    const s = await sealed(w);
    const commit = holdCommit(w);
    const submitting = refusal(submit(w, s));
    await commit.parked;
    // Act
    const v = await voidJob(w.deps, s.r.id, s.header.jobId);
    commit.release();
    // Assess
    expect(v).toEqual({ jobId: s.header.jobId, voided: true });
    expect(await submitting).toMatchObject({ status: 409, code: "job_void" });
    expect(await w.balance(s.r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(await refusal(getJob(w.deps, s.r.id, s.header.jobId))).toMatchObject({ status: 404, code: "unknown_job" });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("the race, the commit first: the void is refused, voided: false with the job's status, and nothing changes", async () => {
    // Prepare
    const w = makeJobWorld({ cheapTransactions });
    const s = await sealed(w);
    await submit(w, s);
    const before = await itemOf(w, s.header.jobId);
    const balance = await w.balance(s.r.id);
    // Act
    const v = await voidJob(w.deps, s.r.id, s.header.jobId);
    // Assess
    expect(v).toEqual({ jobId: s.header.jobId, voided: false, status: "assigned" });
    expect(await itemOf(w, s.header.jobId)).toEqual(before);
    expect(await w.balance(s.r.id)).toEqual(balance);
    expect(balance.held).toBeGreaterThan(0n);
  });
});

describe("whose void", () => {
  it("another account's job: 409 job_exists naming neither its status nor its owner, and nothing changes", async () => {
    // Prepare
    const w = makeJobWorld();
    const s = await sealed(w);
    await submit(w, s);
    const stranger = await w.requester();
    const before = await itemOf(w, s.header.jobId);
    // Act
    const r = await refusal(voidJob(w.deps, stranger.id, s.header.jobId));
    // Assess
    expect(r).toMatchObject({ status: 409, code: "job_exists" });
    expect(r!.message).not.toContain("assigned");
    expect(r!.message).not.toContain(s.r.id);
    expect(await itemOf(w, s.header.jobId)).toEqual(before);
  });

  it("an id another account voided: its void is 409 job_exists, its submit too (not job_void), and the void stays the first's", async () => {
    // Prepare
    const w = makeJobWorld();
    const s = await sealed(w);
    const stranger = await w.requester();
    await voidJob(w.deps, stranger.id, s.header.jobId);
    const before = await itemOf(w, s.header.jobId);
    // Act
    const v = await refusal(voidJob(w.deps, s.r.id, s.header.jobId));
    const submitted = await refusal(submit(w, s));
    // Assess
    expect(v).toMatchObject({ status: 409, code: "job_exists" });
    expect(submitted).toMatchObject({ status: 409, code: "job_exists" });
    expect(await itemOf(w, s.header.jobId)).toEqual(before);
    expect(await w.balance(s.r.id)).toEqual({ available: FUNDS, held: 0n });
  });

  it("a submit under another Idempotency-Key of a voided id: 409 job_void, nothing held", async () => {
    // Prepare
    const w = makeJobWorld();
    const s = await sealed(w);
    await voidJob(w.deps, s.r.id, s.header.jobId);
    // Act
    const r = await refusal(submitJob(w.deps, s.r.id, s.envelope, "key-00000001", s.quote));
    // Assess
    expect(r).toMatchObject({ status: 409, code: "job_void" });
    expect(await w.balance(s.r.id)).toEqual({ available: FUNDS, held: 0n });
  });
});

describe("a voided id is no job to any reader", () => {
  it("GET, cancel, the receipt proof: 404 unknown_job to its requester; a worker's lease and result: 404; recovery skips it, its lease check is dropped at once", async () => {
    // Prepare
    const w = makeJobWorld();
    const s = await sealed(w);
    await voidJob(w.deps, s.r.id, s.header.jobId);
    const id = s.header.jobId;
    const writes = w.transacts.length;
    // Act
    const answers = await Promise.all([
      refusal(getJob(w.deps, s.r.id, id)),
      refusal(cancelJob(w.deps, s.r.id, id)),
      refusal(receiptProof(w.deps, s.r.id, id)),
      refusal(extendLease(w.deps, s.worker.id, { jobId: id, attempt: 0 })),
      refusal(postResult(w.deps, s.worker.id, w.completed(s.worker, s.envelope))),
    ]);
    const recovered = await recoverAssignedJobs(w.deps, w.store.scan("jobs"));
    const lease = await handleMatchingMessage(w.deps, { type: "lease", jobId: id, attempt: 0 });
    // Assess
    for (const a of answers) expect(a).toMatchObject({ status: 404, code: "unknown_job" });
    expect(recovered).toBe(0);
    expect(lease).toBe("stale");
    expect(w.transacts.length).toBe(writes); // nothing written by any of them
    expect((await itemOf(w, id)) as Partial<JobItem>).toMatchObject({ state: "void", requester: s.r.id });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });
});
