/**
 * Tabs (issue 12, ./tabs.ts): one hold for many jobs. A tab holds slots × slotCost once; a job
 * under it writes no balance at submit or at its result; the close pays each worker exactly what
 * its receipts sum to, returns the rest, logs the receipts, and happens once — also across a
 * crash in its middle.
 */
import { describe, expect, it } from "vitest";
import type { Tab } from "../../events/api";
import { jobIdTime, tabIdFor, tabSlotJobId } from "../ids";
import { operatorFeesEarned, workerAccount } from "../ledger";
import { jobCost } from "../pricing";
import { WINDOW_PK } from "../receipts/log";
import type { WriteOp } from "../ports";
import { handleMatchingMessage } from "./dispatch";
import { jobKey, type JobItem } from "./items";
import { postResult } from "./results";
import { submitJob } from "./submit";
import { extendLease } from "./lease";
import { getTab, openTab, TAB_CLOSE_GRACE_MS, TAB_RECHECK_MS, TAB_SUBMIT_DEADLINE_MS } from "./tabs";
import { jobIdempotencyKey } from "./submit";
import { ledgerDiscrepancies, makeJobWorld, refusal, seal, type JobWorld, type TestWorker } from "./testing";
import { closeCheck, jobItem as job, pastClose, tabItem } from "./tabs-testing";

const SLOT_COST = 1_000_000n;
type Requester = Awaited<ReturnType<JobWorld["requester"]>>;

/** A world with `workers` live workers and a requester who opened a tab of `slots` slots. */
async function tabWorld(o: { workers?: number; slots?: number; cheapTransactions?: boolean } = {}) {
  const w = makeJobWorld(o.cheapTransactions ? { cheapTransactions: true } : {});
  const workers: TestWorker[] = [];
  for (let i = 0; i < (o.workers ?? 1); i++) workers.push(await w.worker());
  const r = await w.requester();
  const { view } = await openTab(w.deps, r.id, { slots: o.slots ?? 4, slotCost: SLOT_COST.toString(), ttlSeconds: 300 }, "tab-key-1");
  return { w, workers, r, tab: view.tab, view };
}

/** A job sealed for slot `slot` of `tab` (its id the slot's, its maxCost within the slot), to the quote's candidates. */
async function slotJob(w: JobWorld, r: Requester, tab: Tab, slot: number, o: { candidates?: number; jobId?: string } = {}) {
  const { header, quote, prepared } = await w.sealedJob(r, { candidates: o.candidates ?? 1 });
  expect(BigInt(header.maxCost)).toBeLessThanOrEqual(BigInt(tab.slotCost));
  const h = { ...header, jobId: o.jobId ?? tabSlotJobId(tab.tabId, slot) };
  const envelope = seal(
    h,
    prepared.candidates.map((c) => ({ workerId: c.workerId, hpkePublicKey: c.hpkePublicKey })),
  );
  return { envelope, quote, jobId: h.jobId };
}

async function submitSlot(w: JobWorld, r: Requester, tab: Tab, slot: number, o: { candidates?: number } = {}) {
  const j = await slotJob(w, r, tab, slot, o);
  await submitJob(w.deps, r.id, j.envelope, jobIdempotencyKey(j.jobId), j.quote, { tab: { tab, slot } });
  return j;
}

const balanceWrites = (ops: WriteOp[][]) => ops.flat().filter((op) => op.op === "update" && op.table === "accounts");

describe("opening a tab", () => {
  it("holds slots × slotCost once and answers a tab MAC'd for this requester", async () => {
    // Prepare / Act
    const { w, r, view } = await tabWorld({ slots: 4 });
    // Assess
    expect(await w.balance(r.id)).toEqual({ available: 10_000_000_000n - 4n * SLOT_COST, held: 4n * SLOT_COST });
    expect(view).toMatchObject({ status: "open", tab: { requester: r.id, slots: 4, slotCost: SLOT_COST.toString() } });
    expect(view.closesAfter).toBe(view.tab.expiresAt + TAB_CLOSE_GRACE_MS);
    expect(await getTab(w.deps, r.id, view.tab.tabId)).toEqual(view);
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("a retry with the same key and body answers the same tab and holds nothing more; another body is 422", async () => {
    const { w, r, view } = await tabWorld({ slots: 4 });
    const again = await openTab(w.deps, r.id, { slots: 4, slotCost: SLOT_COST.toString(), ttlSeconds: 300 }, "tab-key-1");
    expect(again).toEqual({ view, replayed: true });
    expect((await w.balance(r.id)).held).toBe(4n * SLOT_COST);
    expect(await refusal(openTab(w.deps, r.id, { slots: 5, slotCost: SLOT_COST.toString(), ttlSeconds: 300 }, "tab-key-1"))).toMatchObject({
      status: 422,
      code: "idempotency_key_reused",
    });
    expect((await w.balance(r.id)).held).toBe(4n * SLOT_COST);
  });

  it("too little balance is 402 and holds nothing, stores no tab", async () => {
    const w = makeJobWorld();
    const r = await w.requester(3n * SLOT_COST);
    const refused = await refusal(openTab(w.deps, r.id, { slots: 4, slotCost: SLOT_COST.toString(), ttlSeconds: 300 }, "k-1"));
    expect(refused).toMatchObject({ status: 402, code: "insufficient_funds" });
    expect(await w.balance(r.id)).toEqual({ available: 3n * SLOT_COST, held: 0n });
    expect(w.store.scan("jobs").filter((i) => i.sk === "tab")).toEqual([]);
  });

  it("another requester's tab reads as unknown (404), as a tab that does not exist", async () => {
    const { w, view } = await tabWorld();
    const other = await w.requester();
    expect(await refusal(getTab(w.deps, other.id, view.tab.tabId))).toMatchObject({ status: 404, code: "unknown_tab" });
  });
});

describe("a job under a tab", () => {
  it("writes no balance at submit or at its result: the job item names the tab and records no hold", async () => {
    // Prepare
    const { w, r, tab, workers } = await tabWorld();
    const before = await w.balance(r.id);
    w.transacts.length = 0;
    // Act
    const j = await submitSlot(w, r, tab, 0);
    const result = w.completed(workers[0]!, j.envelope);
    const answer = await postResult(w.deps, workers[0]!.id, result);
    // Assess
    expect(balanceWrites(w.transacts)).toEqual([]);
    expect(await w.balance(r.id)).toEqual(before);
    expect(await w.earned(workers[0]!.id)).toBe(0n);
    const done = await job(w, j.jobId);
    expect(done).toMatchObject({ status: "completed", tab: tab.tabId, slot: 0, usage: result.receipt.body.usage });
    expect(done.holdInJob).toBeUndefined();
    expect(done.settledInJob).toBeUndefined();
    expect(answer.cost).toBe(done.cost);
    // no receipt entry yet: the tab's close logs it
    expect(w.store.scan("chain").filter((i) => String(i.pk).startsWith(WINDOW_PK))).toEqual([]);
  });

  it("a replayed submit changes nothing; the same slot with another body is 422", async () => {
    const { w, r, tab } = await tabWorld();
    const j = await slotJob(w, r, tab, 1);
    const first = await submitJob(w.deps, r.id, j.envelope, jobIdempotencyKey(j.jobId), j.quote, { tab: { tab, slot: 1 } });
    const n = w.transacts.length;
    const again = await submitJob(w.deps, r.id, j.envelope, jobIdempotencyKey(j.jobId), j.quote, { tab: { tab, slot: 1 } });
    expect(first.replayed).toBe(false);
    expect(again).toEqual({ jobId: j.jobId, status: "assigned", replayed: true });
    expect(w.transacts.length).toBe(n);
    const other = await slotJob(w, r, tab, 1);
    expect(
      await refusal(submitJob(w.deps, r.id, other.envelope, jobIdempotencyKey(other.jobId), other.quote, { tab: { tab, slot: 1 } })),
    ).toMatchObject({ status: 422, code: "idempotency_key_reused" });
  });

  it.each([
    [
      "a slot beyond the tab's",
      async (w: JobWorld, r: Requester, tab: Tab) => ({ ...(await slotJob(w, r, tab, 4)), tab, slot: 4 }),
      400,
      "invalid_request",
    ],
    [
      "a job id that is not the slot's",
      async (w: JobWorld, r: Requester, tab: Tab) => ({
        ...(await slotJob(w, r, tab, 0, { jobId: tabSlotJobId(tab.tabId, 1) })),
        tab,
        slot: 0,
      }),
      400,
      "invalid_request",
    ],
    [
      "a forged tab (more slots)",
      async (w: JobWorld, r: Requester, tab: Tab) => ({ ...(await slotJob(w, r, tab, 9)), tab: { ...tab, slots: 32 }, slot: 9 }),
      403,
      "bad_tab",
    ],
    [
      "a forged tab (a larger slot)",
      async (w: JobWorld, r: Requester, tab: Tab) => ({
        ...(await slotJob(w, r, tab, 0)),
        tab: { ...tab, slotCost: "99999999999" },
        slot: 0,
      }),
      403,
      "bad_tab",
    ],
  ])("%s is refused and nothing is written", async (_name, make, status, code) => {
    const { w, r, tab } = await tabWorld();
    const j = await make(w, r, tab);
    const n = w.transacts.length;
    expect(
      await refusal(submitJob(w.deps, r.id, j.envelope, jobIdempotencyKey(j.jobId), j.quote, { tab: { tab: j.tab, slot: j.slot } })),
    ).toMatchObject({
      status,
      code,
    });
    expect(w.transacts.length).toBe(n);
    expect(await w.store.get("jobs", jobKey(j.jobId))).toBeUndefined();
  });

  it("another requester's tab is 403 not_your_tab; an expired tab is 410 tab_expired", async () => {
    const { w, r, tab } = await tabWorld();
    const other = await w.requester();
    const theirs = await slotJob(w, other, tab, 0);
    expect(
      await refusal(submitJob(w.deps, other.id, theirs.envelope, jobIdempotencyKey(theirs.jobId), theirs.quote, { tab: { tab, slot: 0 } })),
    ).toMatchObject({ status: 403, code: "not_your_tab" });
    const mine = await slotJob(w, r, tab, 0);
    w.advance(tab.expiresAt - w.clock.now() + 1);
    expect(
      await refusal(submitJob(w.deps, r.id, mine.envelope, jobIdempotencyKey(mine.jobId), mine.quote, { tab: { tab, slot: 0 } })),
    ).toMatchObject({
      // the quote expired too: whichever is checked first refuses with 410
      status: 410,
    });
    expect(await w.store.get("jobs", jobKey(mine.jobId))).toBeUndefined();
  });

  it("a submit that reaches its write more than TAB_SUBMIT_DEADLINE_MS past the tab's expiry is 410 tab_expired and writes no job (the close's grace counts on it); sooner, it is taken", async () => {
    // Prepare: a submit that checks the tab 2 s before its expiry, then stalls while it sends its lease check
    const stallingSubmit = async (stallMs: number) => {
      const { w, r, tab } = await tabWorld();
      w.advance(tab.expiresAt - 2_000 - w.clock.now());
      const j = await slotJob(w, r, tab, 0);
      const send = w.deps.queues.send.bind(w.deps.queues);
      w.deps.queues.send = async (q, body, o) => {
        w.advance(stallMs); // the store or the queue slow, a pause: the clock runs on between the check and the write
        return send(q, body, o);
      };
      const refused = await refusal(submitJob(w.deps, r.id, j.envelope, jobIdempotencyKey(j.jobId), j.quote, { tab: { tab, slot: 0 } }));
      return { refused, written: await w.store.get<JobItem>("jobs", jobKey(j.jobId)), tab };
    };
    // Act
    const late = await stallingSubmit(TAB_SUBMIT_DEADLINE_MS + 5_000);
    const inTime = await stallingSubmit(TAB_SUBMIT_DEADLINE_MS - 5_000);
    // Assess
    expect(late.refused).toMatchObject({ status: 410, code: "tab_expired" });
    expect(late.written).toBeUndefined();
    expect(inTime.refused).toBeUndefined();
    expect(inTime.written).toMatchObject({ status: "assigned", tab: inTime.tab.tabId });
    expect(TAB_CLOSE_GRACE_MS).toBeGreaterThan(TAB_SUBMIT_DEADLINE_MS + 60_000); // room for clocks that disagree
  });

  it("a job holding more than a slot is refused (400, field maxCost)", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, { slots: 2, slotCost: "1000", ttlSeconds: 300 }, "tiny"); // at the floor, under a job
    const j = await slotJobUnchecked(w, r, view.tab, 0);
    const refused = await refusal(
      submitJob(w.deps, r.id, j.envelope, jobIdempotencyKey(j.jobId), j.quote, { tab: { tab: view.tab, slot: 0 } }),
    );
    expect(refused).toMatchObject({ status: 400, code: "invalid_request" });
    expect(refused!.message).toContain("slotCost");
  });

  it("must be submitted under its job's own key (the job item is its idempotency record)", async () => {
    const { w, r, tab } = await tabWorld();
    const j = await slotJob(w, r, tab, 0);
    expect(await refusal(submitJob(w.deps, r.id, j.envelope, "some-other-key-1", j.quote, { tab: { tab, slot: 0 } }))).toMatchObject({
      status: 400,
    });
  });
});

/** slotJob without its maxCost check (for a job that holds more than its slot). */
async function slotJobUnchecked(w: JobWorld, r: Requester, tab: Tab, slot: number) {
  const { header, quote, prepared } = await w.sealedJob(r);
  const h = { ...header, jobId: tabSlotJobId(tab.tabId, slot) };
  return { envelope: seal(h, prepared.candidates), quote, jobId: h.jobId };
}

describe("closing a tab", () => {
  it("waits until the tab expired and the grace passed, then pays each worker exactly its receipts' sum and returns the rest", async () => {
    // Prepare: three jobs on two workers, one slot unused
    const { w, r, tab, view, workers } = await tabWorld({ workers: 2, slots: 4 });
    const costs = new Map<string, bigint>();
    for (let slot = 0; slot < 3; slot++) {
      const j = await submitSlot(w, r, tab, slot);
      const assigned = (await job(w, j.jobId)).candidates[0]!.workerId;
      const wk = workers.find((x) => x.id === assigned)!;
      const res = w.completed(wk, j.envelope, { usage: { promptTokens: 10 + slot, completionTokens: 20 + slot } });
      await postResult(w.deps, wk.id, res);
      const price = BigInt((await job(w, j.jobId)).candidates[0]!.pricePerToken);
      costs.set(wk.id, (costs.get(wk.id) ?? 0n) + jobCost(w.deps.config.pricing, price, res.receipt.body.usage));
    }
    const total = [...costs.values()].reduce((a, b) => a + b, 0n);
    // Act: too early, then on time
    expect(await handleMatchingMessage(w.deps, closeCheck(tab.tabId))).toBe("rescheduled");
    pastClose(w, view);
    expect(await handleMatchingMessage(w.deps, closeCheck(tab.tabId))).toBe("closed");
    // Assess
    for (const wk of workers) expect(await w.earned(wk.id)).toBe(costs.get(wk.id) ?? 0n);
    expect(await w.balance(r.id)).toEqual({ available: 10_000_000_000n - total, held: 0n });
    expect(await tabItem(w, tab.tabId)).toMatchObject({ status: "closed", cost: total.toString(), completed: 3 });
    expect(await getTab(w.deps, r.id, tab.tabId)).toMatchObject({ status: "closed", cost: total.toString(), completed: 3 });
    const inbox = w.store.scan("chain").filter((i) => String(i.pk).startsWith(WINDOW_PK));
    expect(inbox.map((i) => i.sk).sort()).toEqual([0, 1, 2].map((s) => tabSlotJobId(tab.tabId, s)).sort());
    // (matching may give all three to one worker: the other then has no balance item at all)
    const counted = async (id: string) => Number((await w.store.get("accounts", { pk: workerAccount(id), sk: "balance" }))?.jobs ?? 0);
    expect((await counted(workers[0]!.id)) + (await counted(workers[1]!.id))).toBe(3);
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
    // a second check (a duplicate message) finds it closed and moves nothing
    expect(await handleMatchingMessage(w.deps, closeCheck(tab.tabId))).toBe("stale");
    expect(await w.balance(r.id)).toEqual({ available: 10_000_000_000n - total, held: 0n });
  });

  it("with an operator fee: each job's fee (its own, fixed at its submit, floored per job) goes to the operator, the rest to its worker", async () => {
    // Prepare: two jobs under 333 bps, then the fee moves to 5000 bps and a third is submitted
    const { w, r, tab, view, workers } = await tabWorld({ workers: 1, slots: 3 });
    const wk = workers[0]!;
    w.deps.config = { ...w.deps.config, operatorFeeBps: 333 };
    let cost = 0n;
    let fees = 0n;
    for (let slot = 0; slot < 3; slot++) {
      if (slot === 2) w.deps.config = { ...w.deps.config, operatorFeeBps: 5_000 };
      const j = await submitSlot(w, r, tab, slot);
      const res = w.completed(wk, j.envelope, { usage: { promptTokens: 7 + slot, completionTokens: 19 + slot } });
      await postResult(w.deps, wk.id, res);
      const price = BigInt((await job(w, j.jobId)).candidates[0]!.pricePerToken);
      const c = jobCost(w.deps.config.pricing, price, res.receipt.body.usage);
      cost += c;
      fees += (c * (slot === 2 ? 5_000n : 333n)) / 10_000n;
    }
    w.deps.config = { ...w.deps.config, operatorFeeBps: 0 }; // the close splits by each job's fee, not the one of the moment
    pastClose(w, view);
    // Act
    expect(await handleMatchingMessage(w.deps, closeCheck(tab.tabId))).toBe("closed");
    // Assess
    expect(fees).toBeGreaterThan(0n);
    expect(await w.earned(wk.id)).toBe(cost - fees);
    expect(await operatorFeesEarned(w.store)).toBe(fees);
    expect(await w.balance(r.id)).toEqual({ available: 10_000_000_000n - cost, held: 0n });
    expect(await tabItem(w, tab.tabId)).toMatchObject({ status: "closed", cost: cost.toString(), completed: 3 });
    expect(await w.store.get("accounts", { pk: workerAccount(wk.id), sk: "balance" })).toMatchObject({ jobs: 3 });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
    // the close is logged with what it paid out (the operator reading the logs sees the tab's figures)
    expect(w.logs).toContainEqual({
      level: "info",
      msg: "tab closed",
      data: { tabId: tab.tabId, completed: 3, cost: cost.toString(), workers: 1 },
    });
  });

  it("waits for a job still running, and a job that ended without an answer costs nothing", async () => {
    const { w, r, tab, view } = await tabWorld({ slots: 2 });
    const j = await submitSlot(w, r, tab, 0);
    pastClose(w, view);
    // the lease of that job ran out long ago, but its check has not moved it yet: the close waits
    expect(await handleMatchingMessage(w.deps, closeCheck(tab.tabId))).toBe("waiting");
    expect((await tabItem(w, tab.tabId)).status).toBe("open");
    expect(await handleMatchingMessage(w.deps, { type: "lease", jobId: j.jobId, attempt: 0 })).toBe("advanced");
    expect(await job(w, j.jobId)).toMatchObject({ status: "refunded", outcome: "expired" });
    expect(await handleMatchingMessage(w.deps, closeCheck(tab.tabId))).toBe("closed");
    expect(await w.balance(r.id)).toEqual({ available: 10_000_000_000n, held: 0n });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("a close that waits on a job looks again at that job's lease end, and no sooner than TAB_RECHECK_MS when its lease check is late", async () => {
    // Prepare: one slot's job running at the close, its lease ending later than the close's look
    const { w, r, tab, view, workers } = await tabWorld({ slots: 2 });
    const j = await submitSlot(w, r, tab, 0);
    const leaseUntil = (await job(w, j.jobId)).leaseUntil;
    w.advance(view.closesAfter - w.clock.now() + 1);
    const extended = await extendLease(w.deps, workers[0]!.id, { jobId: j.jobId, attempt: 0 });
    const nextLook = async () => {
      await w.queues.purge("matching");
      expect(await handleMatchingMessage(w.deps, closeCheck(tab.tabId))).toBe("waiting");
      const [m] = await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
      expect(m).toBeUndefined(); // not visible yet
      for (let waited = 0; ; waited += 1000) {
        w.advance(1000);
        const got = await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
        if (got.length) return { waited: waited + 1000, body: JSON.parse(got[0]!.body) as unknown };
      }
    };
    // Act + Assess: an extended lease is awaited in full; one that ran out (its check late) 5 s
    expect(leaseUntil).toBeLessThan(w.clock.now());
    const leaseLeft = Math.ceil((extended.leaseUntil - w.clock.now()) / 1000) * 1000;
    expect(leaseLeft).toBeGreaterThan(TAB_RECHECK_MS);
    expect(await nextLook()).toEqual({ waited: leaseLeft, body: closeCheck(tab.tabId) });
    expect(await nextLook()).toEqual({ waited: TAB_RECHECK_MS, body: closeCheck(tab.tabId) });
  });

  it("a worker's failure report ends a tab's job with no money moving; the close returns its slot", async () => {
    const { w, r, tab, view, workers } = await tabWorld({ slots: 1 });
    const j = await submitSlot(w, r, tab, 0);
    w.transacts.length = 0;
    await postResult(w.deps, workers[0]!.id, { kind: "failed", jobId: j.jobId, attempt: 0, code: "engine_error" });
    expect(balanceWrites(w.transacts)).toEqual([]);
    expect(await job(w, j.jobId)).toMatchObject({ status: "refunded", outcome: "failed" });
    pastClose(w, view);
    expect(await handleMatchingMessage(w.deps, closeCheck(tab.tabId))).toBe("closed");
    expect(await w.balance(r.id)).toEqual({ available: 10_000_000_000n, held: 0n });
  });

  it("a crash in the middle of the close (its transaction fails) moves nothing; the next check pays exactly once", async () => {
    const { w, r, tab, view, workers } = await tabWorld({ slots: 2 });
    const j = await submitSlot(w, r, tab, 0);
    const res = w.completed(workers[0]!, j.envelope);
    const { cost } = await postResult(w.deps, workers[0]!.id, res);
    pastClose(w, view);
    const transact = w.store.transact.bind(w.store);
    let failed = false;
    w.store.transact = (ops: WriteOp[]) => {
      if (!failed && ops.some((op) => op.op === "update" && op.table === "jobs" && op.key.sk === "tab")) {
        failed = true;
        return Promise.reject(new Error("the process died here"));
      }
      return transact(ops);
    };
    await expect(handleMatchingMessage(w.deps, closeCheck(tab.tabId))).rejects.toThrow("died");
    expect(await w.earned(workers[0]!.id)).toBe(0n);
    expect((await tabItem(w, tab.tabId)).status).toBe("open");
    // the message comes again (it was not deleted): the close runs whole
    expect(await handleMatchingMessage(w.deps, closeCheck(tab.tabId))).toBe("closed");
    expect(await handleMatchingMessage(w.deps, closeCheck(tab.tabId))).toBe("stale");
    expect(await w.earned(workers[0]!.id)).toBe(BigInt(cost!));
    expect((await w.balance(r.id)).available).toBe(10_000_000_000n - BigInt(cost!));
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("two closes racing pay once", async () => {
    const { w, tab, view, workers, r } = await tabWorld({ slots: 1 });
    const j = await submitSlot(w, r, tab, 0);
    const { cost } = await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, j.envelope));
    pastClose(w, view);
    const outcomes = await Promise.all([
      handleMatchingMessage(w.deps, closeCheck(tab.tabId)),
      handleMatchingMessage(w.deps, closeCheck(tab.tabId)),
    ]);
    expect(outcomes.sort()).toEqual(["closed", "stale"]);
    expect(await w.earned(workers[0]!.id)).toBe(BigInt(cost!));
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("a close whose tab's hold is gone (books wrong) fails loudly instead of being dropped as closed", async () => {
    const { w, r, tab, view } = await tabWorld({ slots: 2 });
    await w.store.transact([
      { op: "update", table: "accounts", key: { pk: `req:${r.id}`, sk: "balance" }, add: { held: -1n, available: 1n } },
    ]);
    pastClose(w, view);
    await expect(handleMatchingMessage(w.deps, closeCheck(tab.tabId))).rejects.toThrow(/too little balance/);
    expect((await tabItem(w, tab.tabId)).status).toBe("open");
  });

  it("a job with its own hold at a slot's id is not the tab's to pay", async () => {
    // a job's own id must name a time near now (./retention.ts): the run is moved to the time a
    // slot id names (of a tab key whose slot 0 names one the store's ttls take for seconds, below 1e11 s)
    const w = makeJobWorld();
    const r = await w.requester();
    const key = Array.from({ length: 200 }, (_, i) => `tab-key-${i}`).find((k) => {
      const t = jobIdTime(tabSlotJobId(tabIdFor(r.id, k), 0));
      return t > w.clock.now() && t < 9e13;
    })!;
    w.clock.t = jobIdTime(tabSlotJobId(tabIdFor(r.id, key), 0));
    const workers = [await w.worker()];
    const { view } = await openTab(w.deps, r.id, { slots: 1, slotCost: SLOT_COST.toString(), ttlSeconds: 300 }, key);
    const tab = view.tab;
    const j = await slotJob(w, r, tab, 0);
    await submitJob(w.deps, r.id, j.envelope, jobIdempotencyKey(j.jobId), j.quote); // no tab: it holds for itself
    const { cost } = await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, j.envelope));
    expect(await w.earned(workers[0]!.id)).toBe(BigInt(cost!)); // settled per job, as any job
    pastClose(w, view);
    expect(await handleMatchingMessage(w.deps, closeCheck(tab.tabId))).toBe("closed");
    expect(await w.earned(workers[0]!.id)).toBe(BigInt(cost!)); // not paid twice
    expect(await w.balance(r.id)).toEqual({ available: 10_000_000_000n - BigInt(cost!), held: 0n });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("a close check sent for a tab whose open never committed waits, then is dropped", async () => {
    const w = makeJobWorld();
    const msg = closeCheck("tab_0000000000000000000000000a");
    expect(await handleMatchingMessage(w.deps, msg)).toBe("awaiting");
    w.advance(TAB_CLOSE_GRACE_MS + 1);
    expect(await handleMatchingMessage(w.deps, { ...msg, awaitUntil: w.clock.now() - 1 })).toBe("stale");
  });

  it("with cheap transactions (LMDB's layout) too", async () => {
    const { w, r, tab, view, workers } = await tabWorld({ slots: 2, cheapTransactions: true });
    const j = await submitSlot(w, r, tab, 0);
    const { cost } = await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, j.envelope));
    pastClose(w, view);
    expect(await handleMatchingMessage(w.deps, closeCheck(tab.tabId))).toBe("closed");
    expect(await w.earned(workers[0]!.id)).toBe(BigInt(cost!));
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });
});
