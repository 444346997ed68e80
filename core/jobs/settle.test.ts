/**
 * Batched settlement (issue 12, ./settle.ts): results for one worker that arrive together are
 * settled in one transaction with one update of the worker's balance, and each worker is paid
 * exactly what its receipts sum to — also across a crash in the middle of a batch.
 */
import { describe, expect, it } from "vitest";
import type { ResultRequest } from "../../events/api";
import type { RequestEnvelope } from "../../events/envelope";
import {
  getBalance,
  isOperatorFeeAccount,
  operatorFeeAccount,
  operatorFeeShard,
  operatorFeesEarned,
  requesterAccount,
  workerAccount,
} from "../ledger";
import { jobCost } from "../pricing";
import type { Store, WriteOp } from "../ports";
import type { JobItem } from "./items";
import { postResult } from "./results";
import { submitJob } from "./submit";
import { ledgerDiscrepancies, ledgerRecords, makeJobWorld, settleRecords, type JobWorld, type TestWorker } from "./testing";

type Completed = Extract<ResultRequest, { kind: "completed" }>;

/** `n` jobs of one requester, each with `worker` as its only candidate, submitted; their results ready to post. */
async function jobsFor(w: JobWorld, worker: TestWorker, n: number, r?: Awaited<ReturnType<JobWorld["requester"]>>) {
  const requester = r ?? (await w.requester());
  const results: Array<{ envelope: RequestEnvelope; result: Completed }> = [];
  for (let i = 0; i < n; i++) {
    const { envelope, quote, prepared } = await w.sealedJob(requester, { candidates: 8 });
    expect(prepared.candidates.map((c) => c.workerId)).toContain(worker.id);
    const only = await submitOnlyTo(w, requester.id, envelope, quote, worker, i);
    results.push({ envelope: only, result: w.completed(worker, only, { usage: { promptTokens: 3 + i, completionTokens: 5 + 2 * i } }) });
  }
  return { requester, results };
}

/** Submit the job sealed to `worker` only (prepare may quote several). */
async function submitOnlyTo(
  w: JobWorld,
  requester: string,
  envelope: RequestEnvelope,
  quote: Parameters<typeof submitJob>[4],
  worker: TestWorker,
  i: number,
) {
  const { seal } = await import("./testing");
  const hpke = (await w.store.get("workers", { pk: worker.id, sk: "worker" }))!.hpkePublicKey as string;
  const sealed = seal(envelope.header, [{ workerId: worker.id, hpkePublicKey: hpke }]);
  await submitJob(w.deps, requester, sealed, `settle-key-${worker.id.slice(0, 6)}-${i}`, quote);
  return sealed;
}

/** What a receipt costs at the job's quoted price (what the worker must be paid for it). */
async function costOf(w: JobWorld, result: Completed) {
  const job = (await w.store.get<JobItem>("jobs", { pk: result.jobId, sk: "job" }))!;
  return jobCost(w.deps.config.pricing, BigInt(job.candidates[result.attempt]!.pricePerToken), result.receipt.body.usage);
}

const isSettleBatch = (ops: WriteOp[]) => settleRecords(ops).length > 1;
const wrkUpdates = (w: JobWorld, workerId: string) =>
  w.transacts.filter((ops) => ops.some((o) => o.op === "update" && o.key.pk === workerAccount(workerId))).length;

class Crash extends Error {}

/** The world's store as one process sees it: it dies (every call throws) at the first settlement batch, before or after committing it. */
function dyingStore(inner: Store, when: "before" | "after") {
  let dead = false;
  const store: Store = {
    get: (t, k) => (dead ? Promise.reject(new Crash("dead")) : inner.get(t, k)),
    query: (t, pk, o) => (dead ? Promise.reject(new Crash("dead")) : inner.query(t, pk, o)),
    async transact(ops) {
      if (dead) throw new Crash("dead");
      if (isSettleBatch(ops)) {
        dead = true;
        if (when === "after") await inner.transact(ops);
        throw new Crash(`killed ${when} the batch committed`);
      }
      return inner.transact(ops);
    },
  };
  return store;
}

describe("batched settlement", () => {
  it("ten results for one worker posted at once settle in fewer transactions, one worker-balance update each, paying exactly the receipts' sum", async () => {
    // Prepare
    const w = makeJobWorld();
    const a = await w.worker();
    const { results } = await jobsFor(w, a, 10);
    const owed = (await Promise.all(results.map((x) => costOf(w, x.result)))).reduce((s, c) => s + c, 0n);
    const before = wrkUpdates(w, a.id);
    // Act
    const answers = await Promise.all(results.map((x) => postResult(w.deps, a.id, x.result)));
    // Assess
    expect(answers.every((x) => x.status === "completed" && !x.duplicate)).toBe(true);
    expect(await w.earned(a.id)).toBe(owed);
    expect(wrkUpdates(w, a.id) - before).toBeLessThan(10);
    expect(w.transacts.some(isSettleBatch)).toBe(true);
    expect(await w.store.get("accounts", { pk: workerAccount(a.id), sk: "balance" })).toMatchObject({ jobs: 10 });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("a job of a batch refunded while the batch commits: the batch falls back, the others settle, that one answers 409 and is not paid", async () => {
    // Prepare: the lease of one job in the first batch runs out just before the batch commits
    const w = makeJobWorld();
    const a = await w.worker();
    const { requester, results } = await jobsFor(w, a, 6);
    const transact = w.store.transact;
    let gone: string | undefined;
    w.store.transact = async (ops: WriteOp[]) => {
      if (gone === undefined && isSettleBatch(ops)) {
        gone = settleRecords(ops)[0]!.key.pk;
        await transact([{ op: "update", table: "jobs", key: { pk: gone, sk: "job" }, set: { status: "refunded", outcome: "expired" } }]);
      }
      return transact(ops);
    };
    // Act
    const answers = await Promise.all(results.map((x) => postResult(w.deps, a.id, x.result).catch((e) => e)));
    // Assess
    const i = results.findIndex((x) => x.result.jobId === gone);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(answers[i]).toMatchObject({ status: 409, code: "stale_attempt" });
    expect(answers.filter((x) => x.status === "completed")).toHaveLength(5);
    const owed = (await Promise.all(results.filter((_, k) => k !== i).map((x) => costOf(w, x.result)))).reduce((s, c) => s + c, 0n);
    expect(await w.earned(a.id)).toBe(owed);
    // (the refund itself is the lease check's; here only its status was set, so the hold stays)
    expect((await getBalance(w.store, requesterAccount(requester.id))).held).toBe(BigInt(results[i]!.envelope.header.maxCost));
  });

  it("with an operator fee, two workers in different fee shards settle at once without touching a common item: each credits its own shard", async () => {
    // Prepare: a 5 % fee; two workers whose ids hash to different operator fee shards, a requester each, three jobs each
    const w = makeJobWorld();
    w.deps.config = { ...w.deps.config, operatorFeeBps: 500 };
    const a = await w.worker();
    let b = await w.worker();
    while (operatorFeeShard(b.id) === operatorFeeShard(a.id)) b = await w.worker(); // 1 in 16 share a's shard
    const ja = await jobsFor(w, a, 3);
    const jb = await jobsFor(w, b, 3);
    const from = w.transacts.length;
    // Act
    const posts = [...ja.results.map((x) => [a.id, x.result] as const), ...jb.results.map((x) => [b.id, x.result] as const)];
    const answers = await Promise.all(posts.map(([worker, result]) => postResult(w.deps, worker, result)));
    // Assess: every settlement transaction credits exactly its worker's shard, and a's never share an item with b's
    expect(answers.every((x) => x.status === "completed" && !x.duplicate)).toBe(true);
    const settlements = w.transacts.slice(from).filter((ops) => settleRecords(ops).length > 0);
    const itemsOf = (ops: WriteOp[]) =>
      ops.filter((o) => o.op === "update" && o.table === "accounts").map((o) => (o as { key: { pk: string } }).key.pk);
    const ofA = settlements.filter((ops) => itemsOf(ops).includes(workerAccount(a.id)));
    const ofB = settlements.filter((ops) => itemsOf(ops).includes(workerAccount(b.id)));
    expect(ofA.length + ofB.length).toBe(settlements.length);
    for (const ops of ofA) expect(itemsOf(ops).filter(isOperatorFeeAccount)).toEqual([operatorFeeAccount(a.id)]);
    for (const ops of ofB) expect(itemsOf(ops).filter(isOperatorFeeAccount)).toEqual([operatorFeeAccount(b.id)]);
    const touchedByA = new Set(ofA.flatMap(itemsOf));
    expect(ofB.flatMap(itemsOf).filter((pk) => touchedByA.has(pk))).toEqual([]);
    // and the fees are exact: each shard holds its worker's floored fees, the sum is the operator's
    const feeOf = async (xs: typeof ja.results) =>
      (await Promise.all(xs.map((x) => costOf(w, x.result)))).reduce((s, c) => s + (c * 500n) / 10_000n, 0n);
    const [fa, fb] = [await feeOf(ja.results), await feeOf(jb.results)];
    expect(fa > 0n && fb > 0n).toBe(true);
    expect((await getBalance(w.store, operatorFeeAccount(a.id))).available).toBe(fa);
    expect((await getBalance(w.store, operatorFeeAccount(b.id))).available).toBe(fb);
    expect(await operatorFeesEarned(w.store)).toBe(fa + fb);
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  for (const when of ["before", "after"] as const) {
    it(`a crash in the middle of a batch (${when} it commits), then a restart and every result posted again: each worker is paid exactly what its receipts sum to, each job settled once`, async () => {
      // Prepare: two workers, six jobs each, one requester
      const w = makeJobWorld();
      const a = await w.worker();
      const b = await w.worker();
      const r = await w.requester();
      const forA = await jobsFor(w, a, 6, r);
      const forB = await jobsFor(w, b, 6, r);
      const owedA = (await Promise.all(forA.results.map((x) => costOf(w, x.result)))).reduce((s, c) => s + c, 0n);
      const owedB = (await Promise.all(forB.results.map((x) => costOf(w, x.result)))).reduce((s, c) => s + c, 0n);
      const dying = { ...w.deps, store: dyingStore(w.store, when) };
      // Act: all twelve results at once; the process dies at the first batch
      const first = await Promise.all(
        [...forA.results.map((x) => postResult(dying, a.id, x.result)), ...forB.results.map((x) => postResult(dying, b.id, x.result))].map(
          (p) => p.catch((e) => e),
        ),
      );
      // the restart: the same store, a fresh process; the agents post every result again
      const again = await Promise.all([
        ...forA.results.map((x) => postResult(w.deps, a.id, x.result)),
        ...forB.results.map((x) => postResult(w.deps, b.id, x.result)),
      ]);
      // Assess
      expect(first.some((x) => x instanceof Crash)).toBe(true);
      expect(again.every((x) => x.status === "completed")).toBe(true);
      expect(await w.earned(a.id)).toBe(owedA);
      expect(await w.earned(b.id)).toBe(owedB);
      const settles = ledgerRecords(w.store).filter((m) => String(m.pk).startsWith("settle:"));
      expect(settles).toHaveLength(12);
      expect((await getBalance(w.store, requesterAccount(r.id))).held).toBe(0n);
      expect(ledgerDiscrepancies(w.store)).toEqual([]);
    });
  }
});
