/**
 * Batched settlement (issue 12, ./settle.ts): results for one worker that arrive together are
 * settled in one transaction with one update of the worker's balance, and each worker is paid
 * exactly what its receipts sum to — also across a crash in the middle of a batch.
 */
import { describe, expect, it } from "vitest";
import { MAX_RESULT_BATCH_BYTES, type ResultRequest } from "../../events/api";
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
import { postResult, postResults } from "./results";
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

/** Each item's outcome of a batch post: its answer, or its error's status and code. */
const outcomes = (rs: Array<PromiseSettledResult<unknown>>) =>
  rs.map((o) =>
    o.status === "fulfilled" ? o.value : { status: (o.reason as { status?: number }).status, code: (o.reason as { code?: string }).code },
  );
/** Everything that says who owns what: every balance and ledger item. */
const books = (w: JobWorld) =>
  JSON.stringify([w.store.scan("accounts"), ledgerRecords(w.store)], (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v));

describe("a batch post (issue 12: several results of one worker in one request, postResults)", () => {
  it("its items settle in one transaction, with one update of the worker's balance, each answered in order", async () => {
    // Prepare
    const w = makeJobWorld();
    const a = await w.worker();
    const { results } = await jobsFor(w, a, 6);
    const owed = (await Promise.all(results.map((x) => costOf(w, x.result)))).reduce((s, c) => s + c, 0n);
    const from = w.transacts.length;
    const updates = wrkUpdates(w, a.id);
    // Act
    const answers = outcomes(
      await postResults(
        w.deps,
        a.id,
        results.map((x) => x.result),
      ),
    );
    // Assess
    expect(answers).toEqual(
      results.map(() => ({ status: "completed", cost: expect.any(String), settlement: expect.any(String), duplicate: false })),
    );
    const settlements = w.transacts.slice(from).filter((ops) => settleRecords(ops).length > 0);
    expect(settlements.map((ops) => settleRecords(ops).length)).toEqual([6]);
    expect(wrkUpdates(w, a.id) - updates).toBe(1);
    expect(await w.earned(a.id)).toBe(owed);
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("a replayed batch changes nothing: every item answers duplicate, the books are as they were", async () => {
    // Prepare
    const w = makeJobWorld();
    const a = await w.worker();
    const { results } = await jobsFor(w, a, 4);
    const batch = results.map((x) => x.result);
    const first = outcomes(await postResults(w.deps, a.id, batch));
    const before = books(w);
    const from = w.transacts.length;
    // Act
    const again = outcomes(await postResults(w.deps, a.id, batch));
    // Assess
    expect(first.every((x) => (x as { duplicate?: boolean }).duplicate === false)).toBe(true);
    expect(again).toEqual(first.map((x) => ({ ...(x as object), duplicate: true })));
    expect(books(w)).toBe(before);
    expect(w.transacts.slice(from).filter((ops) => settleRecords(ops).length > 0)).toEqual([]);
  });

  it("a forged receipt, a result differing from the accepted one and another worker's job (BOLA) are refused alone; the others settle", async () => {
    // Prepare: a's five jobs (one already completed), and one job of b's
    const w = makeJobWorld();
    const a = await w.worker();
    const b = await w.worker();
    const r = await w.requester();
    const { results } = await jobsFor(w, a, 5, r);
    const ofB = (await jobsFor(w, b, 1, r)).results[0]!;
    await postResult(w.deps, a.id, results[2]!.result);
    const forged = w.completed(a, results[1]!.envelope, { signer: b.signing });
    const differs = w.completed(a, results[2]!.envelope, { text: "another answer" });
    const bola = w.completed(a, ofB.envelope, { body: { workerId: b.id }, signer: b.signing });
    const batch = [results[0]!.result, forged, differs, bola, results[3]!.result, results[4]!.result];
    const paidB = await w.earned(b.id);
    // Act
    const answers = outcomes(await postResults(w.deps, a.id, batch));
    // Assess
    const taken = { status: "completed", cost: expect.any(String), settlement: expect.any(String), duplicate: false };
    expect(answers).toEqual([
      taken,
      { status: 403, code: "bad_receipt_signature" },
      { status: 409, code: "result_differs" },
      { status: 403, code: "not_your_job" },
      taken,
      taken,
    ]);
    const owed = (await Promise.all([0, 2, 3, 4].map((i) => costOf(w, results[i]!.result)))).reduce((s, c) => s + c, 0n);
    expect(await w.earned(a.id)).toBe(owed);
    expect(await w.earned(b.id)).toBe(paidB);
    expect((await w.store.get<JobItem>("jobs", { pk: results[1]!.result.jobId, sk: "job" }))!.status).toBe("assigned");
    expect((await w.store.get<JobItem>("jobs", { pk: ofB.result.jobId, sk: "job" }))!.status).toBe("assigned");
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("over MAX_RESULT_BATCH_BYTES as JSON: 413 batch_too_large, and nothing moves", async () => {
    // Prepare: two results whose replies carry 2.6 MiB each (checked before anything else: nothing read, nothing written)
    const w = makeJobWorld();
    const a = await w.worker();
    const { results } = await jobsFor(w, a, 2);
    const big = (x: Completed): Completed => ({ ...x, reply: { ...x.reply, padding: "A".repeat(2.6 * 1024 * 1024) } as never });
    const before = books(w);
    const from = w.transacts.length;
    // Act
    const e = await postResults(
      w.deps,
      a.id,
      results.map((x) => big(x.result)),
    ).catch((x: unknown) => x);
    // Assess
    expect(e).toMatchObject({ status: 413, code: "batch_too_large", details: { max: MAX_RESULT_BATCH_BYTES } });
    expect(w.transacts.length).toBe(from);
    expect(books(w)).toBe(before);
  });

  it("the store failing in the middle (the batch, then some of its items alone): those answer an error, and the identical batch again settles the rest exactly once", async () => {
    // Prepare: the batch's transaction fails, then the third and later of its settlements alone
    const w = makeJobWorld();
    const a = await w.worker();
    const { requester, results } = await jobsFor(w, a, 5);
    const owed = (await Promise.all(results.map((x) => costOf(w, x.result)))).reduce((s, c) => s + c, 0n);
    const batch = results.map((x) => x.result);
    let alone = 0;
    const failing: Store = {
      ...w.store,
      get: (t, k) => w.store.get(t, k),
      query: (t, pk, o) => w.store.query(t, pk, o),
      async transact(ops) {
        if (isSettleBatch(ops)) throw new Error("store unavailable");
        if (settleRecords(ops).length === 1 && ++alone > 2) throw new Error("store unavailable");
        return w.store.transact(ops);
      },
    };
    // Act
    const first = outcomes(await postResults({ ...w.deps, store: failing }, a.id, batch));
    const again = outcomes(await postResults(w.deps, a.id, batch));
    // Assess
    expect(first.filter((x) => (x as { status: unknown }).status === "completed")).toHaveLength(2);
    expect(first.filter((x) => (x as { status: unknown }).status === undefined)).toHaveLength(3); // a plain error: a 500 for that item
    expect(again.map((x) => (x as { status: unknown }).status)).toEqual(Array(5).fill("completed"));
    expect(again.filter((x) => (x as { duplicate: boolean }).duplicate)).toHaveLength(2);
    expect(await w.earned(a.id)).toBe(owed);
    expect(ledgerRecords(w.store).filter((m) => String(m.pk).startsWith("settle:"))).toHaveLength(5);
    expect((await getBalance(w.store, requesterAccount(requester.id))).held).toBe(0n);
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });
});
