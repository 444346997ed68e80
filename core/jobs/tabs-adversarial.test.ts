/**
 * Tabs (./tabs.ts) under attack, as a requester trying not to pay, a worker trying to be paid
 * twice, another account, and a requester who wants its money back in time: a close of a full tab
 * of 32 slots with 32 workers stays one transaction within the store's limits and pays each
 * exactly; a result after the close moves nothing; an open replayed after its close holds nothing
 * and its tab takes no job; money held by an open tab cannot be withdrawn until the close returns
 * it. The happy paths are in ./tabs.test.ts, the edges in ./tabs-edges.test.ts.
 */
import { describe, expect, it } from "vitest";
import { jobIdTime, tabIdFor, tabSlotJobId } from "../ids";
import { MAX_TRANSACT_OPS } from "../store-rules";
import { ConditionFailedError, type WriteOp } from "../ports";
import { requestWithdrawal, type WithdrawalDeps } from "../withdrawals";
import { fakeSigner } from "../withdrawals-testing";
import type { CoreDeps } from "../deps";
import { handleMatchingMessage } from "./dispatch";
import { jobKey } from "./items";
import { postResult } from "./results";
import { jobIdempotencyKey, submitJob } from "./submit";
import { openTab } from "./tabs";
import { FUNDS, ledgerDiscrepancies, MODEL, makeJobWorld, refusal, seal, setOffer, type TestWorker } from "./testing";
import { closeCheck, isTabCloseCommit, jobItem as job, pastClose, submitSlot, tabItem } from "./tabs-testing";

const SLOT_COST = 1_000_000n;
const openBody = (slots: number) => ({ slots, slotCost: SLOT_COST.toString(), ttlSeconds: 300 });

describe("a full tab: 32 slots, each run by its own worker", () => {
  it("closes in one transaction of 67 ops (within the store's 100), paying each of the 32 workers exactly its job's cost", async () => {
    // Prepare: slot i runs on worker i (the workers before it no longer live, so the quote names it)
    const w = makeJobWorld();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, openBody(32), "full-tab");
    const paid: Array<{ worker: TestWorker; cost: bigint }> = [];
    for (let i = 0; i < 32; i++) {
      const wk = await w.worker();
      const j = await submitSlot(w, r, view.tab, i);
      expect((await job(w, j.jobId)).candidates[0]!.workerId).toBe(wk.id);
      const { cost } = await postResult(w.deps, wk.id, w.completed(wk, j.envelope));
      paid.push({ worker: wk, cost: BigInt(cost!) });
      await setOffer(w, MODEL, wk.id, { lastHeartbeat: 0 });
    }
    pastClose(w, view);
    w.transacts.length = 0;

    // Act
    const outcome = await handleMatchingMessage(w.deps, closeCheck(view.tab.tabId));

    // Assess
    expect(outcome).toBe("closed");
    const close = w.transacts.filter(isTabCloseCommit);
    expect(close).toHaveLength(1);
    expect(close[0]!.length).toBe(1 + 1 + 32 + 1 + 32); // movement, requester, workers, tab, receipts
    expect(close[0]!.length).toBeLessThanOrEqual(MAX_TRANSACT_OPS);
    for (const p of paid) expect(await w.earned(p.worker.id)).toBe(p.cost);
    const total = paid.reduce((a, p) => a + p.cost, 0n);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - total, held: 0n });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });
});

describe("a result after the close", () => {
  it("a worker whose job was refunded (lease ended) and whose tab then closed posts its result: 409 stale_attempt, nothing moves", async () => {
    // Prepare: the job's only worker goes silent; its lease check refunds it; the tab closes
    const w = makeJobWorld();
    const wk = await w.worker();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, openBody(2), "late-result");
    const j = await submitSlot(w, r, view.tab, 0);
    pastClose(w, view);
    for (let i = 0; i < 10 && (await tabItem(w, view.tab.tabId)).status === "open"; i++) {
      await w.advance(60_000);
      await handleMatchingMessage(w.deps, { type: "lease", jobId: j.jobId, attempt: 0 });
      await handleMatchingMessage(w.deps, closeCheck(view.tab.tabId));
    }
    expect(await job(w, j.jobId)).toMatchObject({ status: "refunded" });
    expect(await tabItem(w, view.tab.tabId)).toMatchObject({ status: "closed", cost: "0", completed: 0 });
    const before = { requester: await w.balance(r.id), worker: await w.earned(wk.id) };

    // Act
    const late = await refusal(postResult(w.deps, wk.id, w.completed(wk, j.envelope)));

    // Assess
    expect(late).toMatchObject({ status: 409, code: "stale_attempt" });
    expect(await w.balance(r.id)).toEqual(before.requester);
    expect(before.requester).toEqual({ available: FUNDS, held: 0n });
    expect(await w.earned(wk.id)).toBe(before.worker);
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("a completed job's result posted again after the close is a duplicate and pays nothing more", async () => {
    // Prepare
    const w = makeJobWorld();
    const wk = await w.worker();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, openBody(2), "repeat-result");
    const j = await submitSlot(w, r, view.tab, 0);
    const result = w.completed(wk, j.envelope);
    const { cost } = await postResult(w.deps, wk.id, result);
    pastClose(w, view);
    expect(await handleMatchingMessage(w.deps, closeCheck(view.tab.tabId))).toBe("closed");

    // Act
    const again = await postResult(w.deps, wk.id, result);
    const closeAgain = await handleMatchingMessage(w.deps, closeCheck(view.tab.tabId));

    // Assess
    expect(again).toEqual({ status: "completed", cost, settlement: expect.any(String), duplicate: true });
    expect(closeAgain).toBe("stale");
    expect(await w.earned(wk.id)).toBe(BigInt(cost!));
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - BigInt(cost!), held: 0n });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });
});

describe("an open replayed after its tab closed", () => {
  it("answers the closed tab and holds nothing; the tab it answers takes no new job (410 tab_expired)", async () => {
    // Prepare
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, openBody(4), "reopen");
    pastClose(w, view);
    expect(await handleMatchingMessage(w.deps, closeCheck(view.tab.tabId))).toBe("closed");

    // Act
    const replayed = await openTab(w.deps, r.id, openBody(4), "reopen");
    const submit = await refusal(submitSlot(w, r, replayed.view.tab, 1));

    // Assess
    expect(replayed).toMatchObject({ replayed: true, view: { status: "closed", cost: "0", completed: 0 } });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(submit).toMatchObject({ status: 410, code: "tab_expired" });
    expect(await w.store.get("jobs", jobKey(tabSlotJobId(view.tab.tabId, 1)))).toBeUndefined();
  });
});

describe("withdrawals and an open tab", () => {
  it("the tab's hold cannot be withdrawn while it is open (402); once closed, its unused part can", async () => {
    // Prepare
    const w = makeJobWorld();
    const r = await w.requester();
    const deps = { ...w.deps, withdrawalSigner: fakeSigner() } as CoreDeps & WithdrawalDeps;
    const { view } = await openTab(w.deps, r.id, openBody(4), "wd-tab");
    const to = "0:" + "a".repeat(64);

    // Act
    const whileOpen = await refusal(requestWithdrawal(deps, r.id, { amount: FUNDS - 4n * SLOT_COST + 1n, to }));
    pastClose(w, view);
    await handleMatchingMessage(w.deps, closeCheck(view.tab.tabId));
    const afterClose = await requestWithdrawal(deps, r.id, { amount: FUNDS, to });

    // Assess
    expect(whileOpen).toMatchObject({ status: 402, code: "insufficient_funds" });
    expect(afterClose.amount).toBe(FUNDS.toString());
    expect(await w.balance(r.id)).toEqual({ available: 0n, held: 0n });
  });
});

describe("a tab job's put applied but its answer lost (DynamoDB: a lone PutItem, re-sent by the AWS SDK)", () => {
  it("the submit that wrote it still dispatches the job, instead of answering it as someone else's and leaving it undelivered", async () => {
    // Prepare: the job's put commits, then its re-send fails its own condition (no transaction token
    // on a lone write), as the DynamoDB adapter reports it
    const w = makeJobWorld();
    const wk = await w.worker();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, openBody(2), "lost-put");
    const transact = w.store.transact.bind(w.store);
    w.store.transact = async (ops: WriteOp[]) => {
      await transact(ops);
      const first = ops[0]!;
      if (first.op === "put" && first.item.sk === "job" && first.item.tab)
        throw new ConditionFailedError(0, "re-sent put: condition failed");
    };

    // Act
    const j = await submitSlot(w, r, view.tab, 0);

    // Assess: the worker has the job now, not after its lease ran out
    const delivered = await w.queues.receive(`worker-${wk.id}`, { max: 1, waitSeconds: 0, visibilitySeconds: 0 });
    expect(delivered).toHaveLength(1);
    expect(await job(w, j.jobId)).toMatchObject({ status: "assigned", attempt: 0 });
  });

  it("a concurrent identical submit that lost the race to the put does not dispatch the job a second time", async () => {
    // Prepare: the same submit twice at once; only the first put lands
    const w = makeJobWorld();
    const wk = await w.worker();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, openBody(2), "race-put");
    const { header, quote, prepared } = await w.sealedJob(r);
    const h = { ...header, jobId: tabSlotJobId(view.tab.tabId, 0) };
    const envelope = seal(
      h,
      prepared.candidates.map((c) => ({ workerId: c.workerId, hpkePublicKey: c.hpkePublicKey })),
    );
    const submit = () => submitJob(w.deps, r.id, envelope, jobIdempotencyKey(h.jobId), quote, { tab: { tab: view.tab, slot: 0 } });

    // Act
    const answers = await Promise.all([submit(), submit()]);

    // Assess
    expect(answers.map((a) => a.replayed).sort()).toEqual([false, true]);
    const delivered = await w.queues.receive(`worker-${wk.id}`, { max: 10, waitSeconds: 0, visibilitySeconds: 0 });
    expect(delivered).toHaveLength(1);
  });
});

describe("another account and a tab's slots (BOLA)", () => {
  it("B cannot draw on A's tab (403 not_your_tab); B's own job squatting A's slot id is B's to pay, A's submit there is 409 job_exists, A's close pays nothing for it", async () => {
    // Prepare: B learned A's tab (its id and MAC), at the time A's slot id names: a new job's id
    // must name a time near now (./retention.ts), so B's squat needs an id that happens to; the
    // run is moved to that time (a tab key whose slot 0 names one the store's ttls still take for
    // seconds, below 1e11 s: one key in about 13)
    const w = makeJobWorld();
    const a = await w.requester();
    const b = await w.requester();
    const key = Array.from({ length: 200 }, (_, i) => `victim-tab-${i}`).find((k) => {
      const t = jobIdTime(tabSlotJobId(tabIdFor(a.id, k), 0));
      return t > w.clock.now() && t < 9e13;
    })!;
    const slot0 = tabSlotJobId(tabIdFor(a.id, key), 0);
    w.clock.t = jobIdTime(slot0);
    const wk = await w.worker();
    const { view } = await openTab(w.deps, a.id, openBody(2), key);
    const bJob = await w.sealedJob(b);
    const bh = { ...bJob.header, jobId: slot0 };
    const bEnvelope = seal(
      bh,
      bJob.prepared.candidates.map((c) => ({ workerId: c.workerId, hpkePublicKey: c.hpkePublicKey })),
    );

    // Act
    const underA = await refusal(
      submitJob(w.deps, b.id, bEnvelope, jobIdempotencyKey(slot0), bJob.quote, { tab: { tab: view.tab, slot: 0 } }),
    );
    await submitJob(w.deps, b.id, bEnvelope, jobIdempotencyKey(slot0), bJob.quote); // B's own hold, at A's slot id
    const { cost } = await postResult(w.deps, wk.id, w.completed(wk, bEnvelope));
    const aAtSlot0 = await refusal(submitSlot(w, a, view.tab, 0));
    pastClose(w, view);
    const closed = await handleMatchingMessage(w.deps, closeCheck(view.tab.tabId));

    // Assess
    expect(underA).toMatchObject({ status: 403, code: "not_your_tab" });
    expect(aAtSlot0).toMatchObject({ status: 409, code: "job_exists" });
    expect(closed).toBe("closed");
    expect(await w.balance(a.id)).toEqual({ available: FUNDS, held: 0n });
    expect(await w.balance(b.id)).toEqual({ available: FUNDS - BigInt(cost!), held: 0n });
    expect(await w.earned(wk.id)).toBe(BigInt(cost!));
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });
});
