/**
 * Void (./void.ts) on the tab path (./tabs.ts): a tab slot's job holds nothing of its own, and its
 * submit's put is a lone write (only if absent) whose ConditionFailedError is re-read by its moveId
 * (./submit.ts). A void at the slot's id before that put lands must end the submit in 409 job_void,
 * and the tab's close must pay nothing for the slot; a job there first is answered voided: false and
 * paid once by the close; either way the tab's next slot runs and is paid as any other.
 */
import { describe, expect, it } from "vitest";
import { handleMatchingMessage } from "./dispatch";
import { jobKey, type JobItem } from "./items";
import { postResult } from "./results";
import { jobIdempotencyKey, submitJob } from "./submit";
import { openTab } from "./tabs";
import { voidJob } from "./void";
import { FUNDS, holdCommit, ledgerDiscrepancies, makeJobWorld, refusal, type JobWorld, type TestWorker } from "./testing";
import { closeCheck, pastClose, slotJob, tabItem } from "./tabs-testing";

const SLOT_COST = 1_000_000n;
type Requester = Awaited<ReturnType<JobWorld["requester"]>>;

/** A world with one live worker and a requester who opened a tab of `slots` slots. */
async function tabWorld(cheapTransactions: boolean, slots = 2) {
  const w = makeJobWorld({ cheapTransactions });
  const worker: TestWorker = await w.worker();
  const r = await w.requester();
  const { view } = await openTab(w.deps, r.id, { slots, slotCost: SLOT_COST.toString(), ttlSeconds: 300 }, "tab-key-1");
  return { w, worker, r, tab: view.tab, view };
}

/** A job sealed for slot `slot` of `tab` (its id the slot's). */
const submitSlot = (w: JobWorld, r: Requester, j: Awaited<ReturnType<typeof slotJob>>) =>
  submitJob(w.deps, r.id, j.envelope, jobIdempotencyKey(j.jobId), j.quote, { tab: { tab: j.tab, slot: j.slot } });

const itemOf = (w: JobWorld, jobId: string) => w.store.get("jobs", jobKey(jobId));

describe.each([
  ["DynamoDB's layout", false],
  ["cheap transactions (LMDB)", true],
])("void of a tab slot's job id (%s)", (_, cheapTransactions) => {
  it("the race, the void first: the slot's delayed commit is refused (job_void), and the close charges nothing for it", async () => {
    // Prepare
    const { w, r, tab, view } = await tabWorld(cheapTransactions);
    const j = await slotJob(w, r, tab, 0);
    const commit = holdCommit(w, j.jobId);
    const submitting = refusal(submitSlot(w, r, j));
    await commit.parked;
    // Act
    const v = await voidJob(w.deps, r.id, j.jobId);
    commit.release();
    const submitted = await submitting;
    pastClose(w, view);
    const closed = await handleMatchingMessage(w.deps, closeCheck(tab.tabId));
    // Assess
    expect(v).toEqual({ jobId: j.jobId, voided: true });
    expect(submitted).toMatchObject({ status: 409, code: "job_void" });
    expect(await itemOf(w, j.jobId)).toMatchObject({ state: "void", requester: r.id });
    // the lease check sent before the commit finds no job there: dropped
    expect(await handleMatchingMessage(w.deps, { type: "lease", jobId: j.jobId, attempt: 0 })).toBe("stale");
    expect(closed).toBe("closed");
    expect(await tabItem(w, tab.tabId)).toMatchObject({ status: "closed", cost: "0", completed: 0 });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("the race, the commit first: the void is refused, voided: false with its status; the job runs and the close pays it once", async () => {
    // Prepare
    const { w, r, worker, tab, view } = await tabWorld(cheapTransactions);
    const j = await slotJob(w, r, tab, 0);
    await submitSlot(w, r, j);
    const before = await itemOf(w, j.jobId);
    // Act
    const v = await voidJob(w.deps, r.id, j.jobId);
    const after = await itemOf(w, j.jobId);
    const { cost } = await postResult(w.deps, worker.id, w.completed(worker, j.envelope));
    pastClose(w, view);
    const closes = [await handleMatchingMessage(w.deps, closeCheck(tab.tabId)), await handleMatchingMessage(w.deps, closeCheck(tab.tabId))];
    // Assess
    expect(v).toEqual({ jobId: j.jobId, voided: false, status: "assigned" });
    expect(after).toEqual(before);
    expect((after as JobItem).tab).toBe(tab.tabId);
    expect(closes).toEqual(["closed", "stale"]);
    expect(BigInt(cost!)).toBeGreaterThan(0n);
    expect(await tabItem(w, tab.tabId)).toMatchObject({ status: "closed", cost: cost!, completed: 1 });
    expect(await w.earned(worker.id)).toBe(BigInt(cost!));
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - BigInt(cost!), held: 0n });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("whatever became of slot 0 (voided mid-submit, or its job there first), slot 1 runs and the close pays exactly it", async () => {
    for (const voidFirst of [true, false]) {
      // Prepare
      const { w, r, worker, tab, view } = await tabWorld(cheapTransactions);
      const j0 = await slotJob(w, r, tab, 0);
      if (voidFirst) {
        const commit = holdCommit(w, j0.jobId);
        const submitting = refusal(submitSlot(w, r, j0));
        await commit.parked;
        await voidJob(w.deps, r.id, j0.jobId);
        commit.release();
        expect(await submitting).toMatchObject({ status: 409, code: "job_void" });
      } else {
        await submitSlot(w, r, j0);
        expect(await voidJob(w.deps, r.id, j0.jobId)).toMatchObject({ voided: false });
      }
      const j1 = await slotJob(w, r, tab, 1);
      // Act
      const submitted = await submitSlot(w, r, j1);
      const costs = [(await postResult(w.deps, worker.id, w.completed(worker, j1.envelope))).cost!];
      if (!voidFirst) costs.push((await postResult(w.deps, worker.id, w.completed(worker, j0.envelope))).cost!);
      pastClose(w, view);
      const closed = await handleMatchingMessage(w.deps, closeCheck(tab.tabId));
      // Assess
      const paid = costs.reduce((a, c) => a + BigInt(c), 0n);
      expect(submitted).toMatchObject({ jobId: j1.jobId, status: "assigned", replayed: false });
      expect((await itemOf(w, j1.jobId)) as Partial<JobItem>).toMatchObject({ tab: tab.tabId, slot: 1, status: "completed" });
      expect(closed).toBe("closed");
      expect(await tabItem(w, tab.tabId)).toMatchObject({ status: "closed", cost: paid.toString(), completed: costs.length });
      expect(await w.earned(worker.id)).toBe(paid);
      expect(await w.balance(r.id)).toEqual({ available: FUNDS - paid, held: 0n });
      expect(ledgerDiscrepancies(w.store)).toEqual([]);
    }
  });
});
