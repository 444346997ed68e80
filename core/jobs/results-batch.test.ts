/**
 * issue 12, review: a batch post (postResults) pays each job at most once and never more than
 * lone posts would: an answer lost after its group committed, the same job twice in one batch
 * (past the schema), and the largest group a worker can make (16 jobs of 16 requesters, an
 * operator fee, replies in the commit) fitting one transaction.
 */
import { describe, expect, it } from "vitest";
import { ResultPost, type ResultRequest } from "../../events/api";
import { workerAccount } from "../ledger";
import type { WriteOp } from "../ports";
import { MAX_TRANSACT_OPS } from "../store-rules";
import type { JobItem } from "./items";
import { postResults } from "./results";
import { submitJob } from "./submit";
import { ledgerDiscrepancies, makeJobWorld, seal, settleRecords, type JobWorld, type TestWorker } from "./testing";

type Completed = Extract<ResultRequest, { kind: "completed" }>;

/** `n` jobs with `worker` as their only candidate, each of a requester of its own when `requesters` says so; their results ready to post. */
async function jobsFor(w: JobWorld, worker: TestWorker, n: number, requesters: "one" | "each" = "one") {
  let requester = await w.requester();
  const results: Completed[] = [];
  for (let i = 0; i < n; i++) {
    if (requesters === "each" && i > 0) requester = await w.requester();
    const { envelope, quote } = await w.sealedJob(requester, { candidates: 8 });
    const hpke = (await w.store.get("workers", { pk: worker.id, sk: "worker" }))!.hpkePublicKey as string;
    const sealed = seal(envelope.header, [{ workerId: worker.id, hpkePublicKey: hpke }]);
    await submitJob(w.deps, requester.id, sealed, `batch-key-${worker.id.slice(0, 6)}-${i}`, quote);
    results.push(w.completed(worker, sealed, { usage: { promptTokens: 3 + i, completionTokens: 5 + i } }));
  }
  return results;
}

/** What the settled jobs among `results` cost (what the worker must have been paid). */
async function owed(w: JobWorld, results: Completed[]) {
  const jobs = await Promise.all(results.map((r) => w.store.get<JobItem>("jobs", { pk: r.jobId, sk: "job" })));
  return jobs.reduce((s, j) => s + (j?.status === "completed" ? BigInt(j.cost!) : 0n), 0n);
}

const statuses = (rs: Array<PromiseSettledResult<{ status: string; duplicate: boolean }>>): unknown[] =>
  rs.map((o) =>
    o.status === "fulfilled" ? `${o.value.status}${o.value.duplicate ? " duplicate" : ""}` : (o.reason as { code?: string }).code,
  );

describe("a batch post pays each job once (issue 12, review)", () => {
  it("its group commits but the answer is lost: each settled again alone answers duplicate; the worker is paid, and counted, once per job", async () => {
    // Prepare: the store commits the group's transaction, then fails to say so
    const w = makeJobWorld();
    const a = await w.worker();
    const results = await jobsFor(w, a, 5);
    const transact = w.store.transact.bind(w.store);
    let lost = false;
    w.store.transact = async (ops: WriteOp[]) => {
      await transact(ops);
      if (!lost && settleRecords(ops).length > 1) {
        lost = true;
        throw new Error("connection reset after the commit");
      }
    };
    // Act
    const answers = statuses(await postResults(w.deps, a.id, results));
    // Assess
    expect(lost).toBe(true);
    expect(answers).toEqual(Array(5).fill("completed duplicate"));
    expect(await w.earned(a.id)).toBe(await owed(w, results));
    expect(await w.store.get("accounts", { pk: workerAccount(a.id), sk: "balance" })).toMatchObject({ jobs: 5 });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("one job twice in a batch is refused by the schema; past it (core called directly), the job is still paid once", async () => {
    // Prepare
    const w = makeJobWorld();
    const a = await w.worker();
    const [r, other] = await jobsFor(w, a, 2);
    const failed: ResultRequest = { kind: "failed", jobId: r!.jobId, attempt: r!.attempt, code: "engine_error" };
    // Act
    const schema = [
      [r, r],
      [r, { ...r, attempt: 1 }],
      [r, failed],
    ].map((results) => ResultPost.safeParse({ kind: "batch", results }).success);
    const answers = statuses(await postResults(w.deps, a.id, [r!, r!, other!]));
    // Assess
    expect(schema).toEqual([false, false, false]);
    expect(answers.filter((x) => x === "completed")).toHaveLength(2); // r once, other once
    expect(answers[0] === "completed" || answers[1] === "completed").toBe(true);
    expect(await w.earned(a.id)).toBe(await owed(w, [r!, other!]));
    expect(await w.store.get("accounts", { pk: workerAccount(a.id), sk: "balance" })).toMatchObject({ jobs: 2 });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("the largest group (16 jobs of 16 requesters, an operator fee, the replies in the commit) settles in one transaction within its op limit", async () => {
    // Prepare
    const w = makeJobWorld({ cheapTransactions: true });
    w.deps.config = { ...w.deps.config, operatorFeeBps: 500 };
    const a = await w.worker();
    const results = await jobsFor(w, a, 16, "each");
    const from = w.transacts.length;
    // Act
    const outcomes = await postResults(w.deps, a.id, results);
    // Assess
    const answers = statuses(outcomes);
    const credits = outcomes.reduce((s, o) => s + (o.status === "fulfilled" ? BigInt(o.value.credit ?? "0") : 0n), 0n);
    const settlements = w.transacts.slice(from).filter((ops) => settleRecords(ops).length > 0);
    expect(answers).toEqual(Array(16).fill("completed"));
    expect(settlements.map((ops) => settleRecords(ops).length)).toEqual([16]);
    expect(settlements[0]!.length).toBeLessThanOrEqual(MAX_TRANSACT_OPS);
    expect(credits).toBeGreaterThan(0n);
    expect(await w.earned(a.id)).toBe(credits);
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });
});
