/**
 * core/jobs/results.ts, a settlement that loses its race (issue 14, mutation-checked): what
 * happened to the job in between decides the answer. Completed with another result at the
 * same attempt: 409 result_differs. Completed at a later attempt by the next candidate, or
 * refunded: 409 stale_attempt. An overdraft while the job has moved on: 409, not the 500 kept
 * for a hold gone from under a job still assigned at that attempt. No money moves twice.
 */
import { describe, expect, it } from "vitest";
import { CocoonError } from "../errors";
import { OverdraftError } from "../ledger";
import type { WriteOp } from "../ports";
import { handleMatchingMessage } from "./dispatch";
import type { JobItem } from "./items";
import { postResult } from "./results";
import { isSettleCommit, FUNDS, makeJobWorld, type JobWorld, type TestWorker } from "./testing";

/** Runs `meanwhile` once, just before the first store transaction that `matches` is tried; `fail` then replaces its outcome. */
function before(w: JobWorld, matches: (ops: WriteOp[]) => boolean, meanwhile: () => Promise<void>, fail?: () => Error) {
  const transact = w.store.transact;
  w.store.transact = async (ops: WriteOp[]) => {
    if (matches(ops)) {
      w.store.transact = transact;
      await meanwhile();
      if (fail) throw fail();
    }
    return transact(ops);
  };
}
const settlementOf = (jobId: string) => (ops: WriteOp[]) => isSettleCommit(ops, jobId);
/** The reply item a post writes before it settles (a post of the same worker cannot run inside that worker's settlement). */
const replyOf = (jobId: string) => (ops: WriteOp[]) =>
  ops.some((op) => op.op === "put" && op.table === "jobs" && op.item.pk === jobId && String(op.item.sk).startsWith("reply#"));

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => "accepted",
    (e: unknown) => {
      if (e instanceof CocoonError) return `${e.status} ${e.code}`;
      throw e;
    },
  );
const jobOf = async (w: JobWorld, jobId: string) => (await w.store.get<JobItem>("jobs", { pk: jobId, sk: "job" }))!;
const replies = (w: JobWorld, jobId: string) => w.store.query("jobs", jobId, { skPrefix: "reply#" });

describe("postResult: a settlement that loses its race", () => {
  it("another result of the same worker for the same attempt settled first: 409 result_differs; its answer stands, paid once", async () => {
    // Prepare
    const w = makeJobWorld();
    const { r, envelope, header, workers } = await w.submitted(1);
    const a = workers[0]!;
    const first = w.completed(a, envelope, { text: "first", usage: { promptTokens: 5, completionTokens: 7 } });
    const second = w.completed(a, envelope, { text: "second", usage: { promptTokens: 5, completionTokens: 9 } });
    before(w, replyOf(header.jobId), async () => {
      await postResult(w.deps, a.id, first);
    });
    // Act
    const lost = await codeOf(postResult(w.deps, a.id, second));
    // Assess
    expect(lost).toBe("409 result_differs");
    const job = await jobOf(w, header.jobId);
    expect(job).toMatchObject({ status: "completed", attempt: 0 });
    expect(await w.earned(a.id)).toBe(BigInt(job.cost!));
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - BigInt(job.cost!), held: 0n });
    expect(await replies(w, header.jobId)).toHaveLength(1);
  });

  it("the job failed over and the next candidate completed it first: 409 stale_attempt, not result_differs; only the next candidate is paid", async () => {
    // Prepare
    const w = makeJobWorld();
    const { r, envelope, header, workers, job } = await w.submitted(2);
    const [a, b] = workers as [TestWorker, TestWorker];
    w.advance(job.leaseUntil - w.clock.now());
    before(w, settlementOf(header.jobId), async () => {
      await handleMatchingMessage(w.deps, { type: "lease", jobId: header.jobId, attempt: 0 });
      await postResult(w.deps, b.id, w.completed(b, envelope, { attempt: 1 }));
    });
    // Act
    const lost = await codeOf(postResult(w.deps, a.id, w.completed(a, envelope, { attempt: 0 })));
    // Assess
    expect(lost).toBe("409 stale_attempt");
    const done = await jobOf(w, header.jobId);
    expect(done).toMatchObject({ status: "completed", attempt: 1 });
    expect(await w.earned(a.id)).toBe(0n);
    expect(await w.earned(b.id)).toBe(BigInt(done.cost!));
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - BigInt(done.cost!), held: 0n });
    expect(await replies(w, header.jobId)).toHaveLength(1);
  });

  it("the job was refunded meanwhile (its hold is gone): 409 stale_attempt, not a 500; the requester keeps the refund, the worker gets nothing", async () => {
    // Prepare: the only candidate's lease runs out while its result settles
    const w = makeJobWorld();
    const { r, envelope, header, workers, job } = await w.submitted(1);
    const a = workers[0]!;
    w.advance(job.leaseUntil - w.clock.now());
    before(w, settlementOf(header.jobId), async () => {
      await handleMatchingMessage(w.deps, { type: "lease", jobId: header.jobId, attempt: 0 });
    });
    // Act
    const lost = await codeOf(postResult(w.deps, a.id, w.completed(a, envelope)));
    // Assess
    expect(lost).toBe("409 stale_attempt");
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "refunded", outcome: "expired" });
    expect(await w.earned(a.id)).toBe(0n);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(await replies(w, header.jobId)).toEqual([]);
  });

  it("an overdraft reported while the job moved on to the next candidate is a lost race (409 stale_attempt), not an error of the books", async () => {
    // Prepare
    const w = makeJobWorld();
    const { envelope, header, workers, job } = await w.submitted(2);
    const a = workers[0]!;
    w.advance(job.leaseUntil - w.clock.now());
    before(
      w,
      settlementOf(header.jobId),
      async () => void (await handleMatchingMessage(w.deps, { type: "lease", jobId: header.jobId, attempt: 0 })),
      () => new OverdraftError("req:x"),
    );
    // Act
    const lost = await codeOf(postResult(w.deps, a.id, w.completed(a, envelope, { attempt: 0 })));
    // Assess
    expect(lost).toBe("409 stale_attempt");
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 1 });
  });
});
