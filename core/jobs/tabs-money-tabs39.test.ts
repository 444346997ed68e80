/**
 * Tabs' money path since session 24 (review tabs39): batched results, operator fee shards in the
 * close's one transaction, failover to a dearer candidate, a cancel, a kill between a tab job's
 * reply and its completion, and a worker racing two answers. Each checks that the close pays each
 * job once, to the worker that finished it, and returns exactly the rest.
 */
import { describe, expect, it } from "vitest";
import { OPERATOR_FEE_SHARDS, operatorFee, operatorFeesEarned, operatorFeeShard } from "../ledger";
import { withMovementLog, WINDOW_PK } from "../receipts/log";
import { MAX_TRANSACT_OPS } from "../store-rules";
import type { WriteOp } from "../ports";
import { cancelJob } from "./cancel";
import { handleMatchingMessage } from "./dispatch";
import { jobKey, replyKey } from "./items";
import { postResult, postResults } from "./results";
import { jobIdempotencyKey, submitJob } from "./submit";
import { openTab } from "./tabs";
import { FUNDS, ledgerDiscrepancies, makeJobWorld, MODEL, refusal, setOffer, type JobWorld, type TestWorker } from "./testing";
import { closeCheck, isTabCloseCommit, jobItem as job, pastClose, submitSlot, tabItem } from "./tabs-testing";

const SLOT_COST = 1_000_000n;
const openBody = (slots: number) => ({ slots, slotCost: SLOT_COST.toString(), ttlSeconds: 300 });

const receiptEntries = (w: JobWorld) => w.store.scan("chain").filter((i) => String(i.pk).startsWith(WINDOW_PK));

describe("a batch of one worker's results, a tab job among jobs holding for themselves", () => {
  it("the own-hold jobs settle together, the tab job only completes; the close pays it once, fee split, books exact", async () => {
    // Prepare: one worker, operator fee 2,500 bps; a tab job and two jobs with their own holds
    const w = makeJobWorld();
    w.deps.config = { ...w.deps.config, operatorFeeBps: 2_500 };
    const wk = await w.worker();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, openBody(2), "batch-tab");
    const t = await submitSlot(w, r, view.tab, 0);
    const own = [];
    for (let i = 0; i < 2; i++) {
      const { envelope, header, quote } = await w.sealedJob(r);
      await submitJob(w.deps, r.id, envelope, jobIdempotencyKey(header.jobId), quote);
      own.push(envelope);
    }
    const results = [t.envelope, ...own].map((e, i) => w.completed(wk, e, { usage: { promptTokens: 10 + i, completionTokens: 20 + i } }));

    // Act: the batch, then the close
    const answers = await postResults(w.deps, wk.id, results);
    pastClose(w, view);
    const closed = await handleMatchingMessage(w.deps, closeCheck(view.tab.tabId));

    // Assess
    expect(answers.map((a) => a.status)).toEqual(["fulfilled", "fulfilled", "fulfilled"]);
    expect(closed).toBe("closed");
    const costs = await Promise.all(results.map(async (x) => BigInt((await job(w, x.jobId)).cost!)));
    const fees = costs.map((c) => operatorFee(c, 2_500));
    const total = costs.reduce((a, b) => a + b, 0n);
    const totalFees = fees.reduce((a, b) => a + b, 0n);
    expect(totalFees).toBeGreaterThan(0n);
    expect(await w.earned(wk.id)).toBe(total - totalFees);
    expect(await operatorFeesEarned(w.store)).toBe(totalFees);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - total, held: 0n });
    expect(await tabItem(w, view.tab.tabId)).toMatchObject({ status: "closed", cost: costs[0]!.toString(), completed: 1 });
    expect(
      receiptEntries(w)
        .map((i) => i.sk)
        .sort(),
    ).toEqual(results.map((x) => x.jobId).sort());
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("the same tab job twice in one batch (two answers): one completes, the other is refused; the close pays the one that stands", async () => {
    // Prepare
    const w = makeJobWorld();
    const wk = await w.worker();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, openBody(1), "batch-twice");
    const t = await submitSlot(w, r, view.tab, 0);
    const a = w.completed(wk, t.envelope, { usage: { promptTokens: 1, completionTokens: 1 } });
    const b = w.completed(wk, t.envelope, { usage: { promptTokens: 100, completionTokens: 30 } });

    // Act
    const answers = await postResults(w.deps, wk.id, [a, b]);
    pastClose(w, view);
    expect(await handleMatchingMessage(w.deps, closeCheck(view.tab.tabId))).toBe("closed");

    // Assess: exactly one fulfilled; the close pays the cost the job item states, once
    expect(answers.filter((x) => x.status === "fulfilled")).toHaveLength(1);
    const done = await job(w, t.jobId);
    expect(await w.earned(wk.id)).toBe(BigInt(done.cost!));
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - BigInt(done.cost!), held: 0n });
    expect(receiptEntries(w)).toHaveLength(1);
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });
});

describe("a full tab with an operator fee, its workers in every fee shard", () => {
  it("closes in one transaction of 84 ops with the movement log's own (within the store's 100): each worker its cost less its fee, each shard its fees", async () => {
    // Prepare: 32 slots, each run by its own worker; the first 16 cover the 16 fee shards
    const w = makeJobWorld();
    w.deps.config = { ...w.deps.config, operatorFeeBps: 1_000 };
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, openBody(32), "full-fee-tab");
    const shards = new Set<number>();
    const paid: Array<{ worker: TestWorker; cost: bigint }> = [];
    for (let i = 0; i < 32; i++) {
      let wk = await w.worker();
      // a worker of a shard not yet covered, while some are not (the spares are taken off the lists)
      while (shards.size < OPERATOR_FEE_SHARDS && shards.has(operatorFeeShard(wk.id))) {
        await setOffer(w, MODEL, wk.id, { lastHeartbeat: 0 });
        wk = await w.worker();
      }
      shards.add(operatorFeeShard(wk.id));
      const j = await submitSlot(w, r, view.tab, i);
      expect((await job(w, j.jobId)).candidates[0]!.workerId).toBe(wk.id);
      const { cost } = await postResult(w.deps, wk.id, w.completed(wk, j.envelope));
      paid.push({ worker: wk, cost: BigInt(cost!) });
      await setOffer(w, MODEL, wk.id, { lastHeartbeat: 0 });
    }
    expect(shards.size).toBe(OPERATOR_FEE_SHARDS);
    pastClose(w, view);
    w.deps.store = withMovementLog(w.store); // as on AWS: the close's movement is logged in its transaction
    w.transacts.length = 0;

    // Act
    const outcome = await handleMatchingMessage(w.deps, closeCheck(view.tab.tabId));

    // Assess
    expect(outcome).toBe("closed");
    const close = w.transacts.filter(isTabCloseCommit);
    expect(close).toHaveLength(1);
    // movement, requester, workers, fee shards, tab, receipts, the movement log's inbox entry
    expect(close[0]!.length).toBe(1 + 1 + 32 + OPERATOR_FEE_SHARDS + 1 + 32 + 1);
    expect(close[0]!.length).toBeLessThanOrEqual(MAX_TRANSACT_OPS);
    let fees = 0n;
    for (const p of paid) {
      const fee = operatorFee(p.cost, 1_000);
      fees += fee;
      expect(await w.earned(p.worker.id)).toBe(p.cost - fee);
    }
    expect(fees).toBeGreaterThan(0n);
    expect(await operatorFeesEarned(w.store)).toBe(fees);
    const total = paid.reduce((a, p) => a + p.cost, 0n);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - total, held: 0n });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });
});

describe("a tab job that fails over", () => {
  it("is paid to the worker that finished it, at that worker's price; the first worker's late answer is stale and paid nothing", async () => {
    // Prepare: two workers at 1x and 2x the price; the job's first candidate goes silent
    const w = makeJobWorld();
    const cheap = await w.worker(10_000);
    const dear = await w.worker(20_000);
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, openBody(1), "failover-tab");
    const t = await submitSlot(w, r, view.tab, 0, { candidates: 2 });
    const assigned = await job(w, t.jobId);
    const [first, second] = assigned.candidates.map((c) => [cheap, dear].find((x) => x.id === c.workerId)!);
    w.advance(assigned.leaseUntil - w.clock.now() + 1);
    expect(await handleMatchingMessage(w.deps, { type: "lease", jobId: t.jobId, attempt: 0 })).toBe("advanced");

    // Act: the second answers; the first answers late
    const usage = { promptTokens: 40, completionTokens: 30 };
    const { cost } = await postResult(w.deps, second!.id, w.completed(second!, t.envelope, { attempt: 1, usage }));
    const late = await refusal(postResult(w.deps, first!.id, w.completed(first!, t.envelope, { attempt: 0, usage })));
    pastClose(w, view);
    expect(await handleMatchingMessage(w.deps, closeCheck(view.tab.tabId))).toBe("closed");

    // Assess
    expect(late).toMatchObject({ status: 409, code: "stale_attempt" });
    expect(BigInt(cost!)).toBeLessThanOrEqual(BigInt(assigned.maxCost));
    expect(await w.earned(second!.id)).toBe(BigInt(cost!));
    expect(await w.earned(first!.id)).toBe(0n);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - BigInt(cost!), held: 0n });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });
});

describe("a cancelled tab job", () => {
  it("whose worker posts what it generated is paid for that only; the rest of the tab's hold goes back", async () => {
    // Prepare
    const w = makeJobWorld();
    const wk = await w.worker();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, openBody(2), "cancel-tab");
    const t = await submitSlot(w, r, view.tab, 0);
    expect(await cancelJob(w.deps, r.id, t.jobId)).toMatchObject({ cancelled: true });

    // Act
    const { cost } = await postResult(w.deps, wk.id, w.completed(wk, t.envelope, { usage: { promptTokens: 3, completionTokens: 1 } }));
    pastClose(w, view);
    expect(await handleMatchingMessage(w.deps, closeCheck(view.tab.tabId))).toBe("closed");

    // Assess
    expect(await w.earned(wk.id)).toBe(BigInt(cost!));
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - BigInt(cost!), held: 0n });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("still running when the tab may close keeps it open; its worker's answer after that is paid at the close", async () => {
    // Prepare: cancelled, its worker still generating past the tab's closesAfter (an extended lease)
    const w = makeJobWorld();
    const wk = await w.worker();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, openBody(1), "cancel-late-tab");
    const t = await submitSlot(w, r, view.tab, 0);
    await cancelJob(w.deps, r.id, t.jobId);
    pastClose(w, view);
    await w.store.transact([{ op: "update", table: "jobs", key: jobKey(t.jobId), set: { leaseUntil: w.clock.now() + 60_000 } }]);

    // Act
    const early = await handleMatchingMessage(w.deps, closeCheck(view.tab.tabId));
    const { cost } = await postResult(w.deps, wk.id, w.completed(wk, t.envelope, { usage: { promptTokens: 3, completionTokens: 2 } }));
    const late = await handleMatchingMessage(w.deps, closeCheck(view.tab.tabId));

    // Assess
    expect(early).toBe("waiting");
    expect(late).toBe("closed");
    expect(await w.earned(wk.id)).toBe(BigInt(cost!));
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - BigInt(cost!), held: 0n });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("whose lease then runs out is refunded at once (never moved on) and costs nothing at the close", async () => {
    // Prepare
    const w = makeJobWorld();
    await w.worker();
    await w.worker();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, openBody(1), "cancel-expire-tab");
    const t = await submitSlot(w, r, view.tab, 0, { candidates: 2 });
    await cancelJob(w.deps, r.id, t.jobId);

    // Act
    pastClose(w, view);
    expect(await handleMatchingMessage(w.deps, { type: "lease", jobId: t.jobId, attempt: 0 })).toBe("advanced");
    expect(await handleMatchingMessage(w.deps, closeCheck(view.tab.tabId))).toBe("closed");

    // Assess
    expect(await job(w, t.jobId)).toMatchObject({ status: "refunded", outcome: "cancelled", attempt: 0 });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });
});

describe("a tab job's answer killed between its reply and its completion (DynamoDB layout: the reply is written first)", () => {
  it("the worker's retry completes it; the close pays it once and logs its receipt", async () => {
    // Prepare: the completion's write fails once, as a kill after the reply's put would leave it
    const w = makeJobWorld({ billedWrites: true });
    const wk = await w.worker();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, openBody(1), "killed-result");
    const t = await submitSlot(w, r, view.tab, 0);
    const result = w.completed(wk, t.envelope);
    const transact = w.store.transact;
    let killed = false;
    w.store.transact = (ops: WriteOp[]) => {
      const completes = ops.some((op) => op.op === "update" && op.table === "jobs" && op.set?.status === "completed");
      if (completes && !killed) {
        killed = true;
        return Promise.reject(new Error("killed"));
      }
      return transact(ops);
    };
    await expect(postResult(w.deps, wk.id, result)).rejects.toThrow("killed");
    expect(await job(w, t.jobId)).toMatchObject({ status: "assigned" });

    // Act
    const again = await postResult(w.deps, wk.id, result);
    pastClose(w, view);
    expect(await handleMatchingMessage(w.deps, closeCheck(view.tab.tabId))).toBe("closed");

    // Assess
    expect(again).toMatchObject({ status: "completed", duplicate: false });
    expect(await w.earned(wk.id)).toBe(BigInt(again.cost!));
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - BigInt(again.cost!), held: 0n });
    expect(receiptEntries(w).map((i) => i.sk)).toEqual([t.jobId]);
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });
});

describe("a worker racing two different answers to one tab job", () => {
  for (const layout of ["DynamoDB layout", "LMDB layout"] as const) {
    it(`${layout}: one stands, the loser's reply is removed and the winner's kept, so the close pays the winner's cost once and logs its receipt`, async () => {
      // Prepare
      const w = makeJobWorld(layout === "LMDB layout" ? { cheapTransactions: true } : { billedWrites: true });
      const wk = await w.worker();
      const r = await w.requester();
      const { view } = await openTab(w.deps, r.id, openBody(1), "race-answers");
      const t = await submitSlot(w, r, view.tab, 0);
      const a = w.completed(wk, t.envelope, { usage: { promptTokens: 2, completionTokens: 2 } });
      const b = w.completed(wk, t.envelope, { usage: { promptTokens: 90, completionTokens: 30 } });

      // Act
      const outcomes = await Promise.allSettled([postResult(w.deps, wk.id, a), postResult(w.deps, wk.id, b), postResult(w.deps, wk.id, a)]);
      pastClose(w, view);
      const closed = await handleMatchingMessage(w.deps, closeCheck(view.tab.tabId));

      // Assess
      expect(closed).toBe("closed");
      const done = await job(w, t.jobId);
      expect(outcomes.filter((o) => o.status === "fulfilled" && !o.value.duplicate)).toHaveLength(1);
      expect(await w.store.get("jobs", replyKey(t.jobId, 0, done.resultDigest))).toBeDefined();
      const replies = w.store.scan("jobs").filter((i) => i.pk === t.jobId && String(i.sk).startsWith("reply#"));
      expect(replies).toHaveLength(1);
      expect(await w.earned(wk.id)).toBe(BigInt(done.cost!));
      expect(await w.balance(r.id)).toEqual({ available: FUNDS - BigInt(done.cost!), held: 0n });
      expect(receiptEntries(w)).toHaveLength(1);
      expect(ledgerDiscrepancies(w.store)).toEqual([]);
    });
  }
});
