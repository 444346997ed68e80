/**
 * Tabs under random sequences (issue 12, ./tabs.ts), in the manner of a deterministic
 * simulation: two requesters open tabs (retrying with the same key, or reusing a key for
 * another body), submit jobs under slots (their own, out of range, another's tab, a slot too
 * small), mix in jobs with their own hold, workers answer or fail, leases run out, close checks
 * come early, late and twice, the clock jumps, and the store fails — before a transaction
 * commits, or after it committed with the answer lost — at any step. After EVERY step: the ledger
 * agrees with itself and sums to zero; each requester holds exactly its open tabs plus its open
 * per-job holds; a job under a tab has no money record of its own; a closed tab paid each worker
 * exactly the costs of that tab's completed jobs answered by it and returned the rest. At the end
 * everything drains: every job ends, every tab closes, nothing stays held. A failing run prints
 * its seed and the shortest sequence fast-check found.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Tab } from "../../events/api";
import { CocoonError } from "../errors";
import { tabSlotJobId } from "../ids";
import { requesterAccount, workerAccount } from "../ledger";
import type { WriteOp } from "../ports";
import { heartbeat } from "../workers";
import { handleMatchingMessage } from "./dispatch";
import { jobKey, type JobItem } from "./items";
import { postResult } from "./results";
import { jobIdempotencyKey, submitJob } from "./submit";
import { openTab, tabKey, type TabItem } from "./tabs";
import { drainLeasesAndTabs, ledgerDiscrepancies, makeJobWorld, seal, type JobWorld, type TestWorker } from "./testing";

class Injected extends Error {}

type Cmd =
  | { k: "open"; r: number; slots: number; big: boolean; key: number }
  | { k: "submit"; r: number; tab: number; slot: number }
  | { k: "plain"; r: number }
  | { k: "result"; job: number; fail: boolean }
  | { k: "lease"; job: number }
  | { k: "close"; tab: number }
  | { k: "tick"; ms: number }
  | { k: "fault"; after: boolean };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("open" as const),
      r: fc.nat(1),
      slots: fc.integer({ min: 1, max: 4 }),
      big: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      key: fc.nat(2),
    }),
  },
  // mostly the tab's own requester (r: -1) and a slot in range; sometimes another's tab, a slot beyond
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant("submit" as const),
      r: fc.oneof({ weight: 6, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat(1) }),
      tab: fc.nat(5),
      slot: fc.nat(4),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("plain" as const), r: fc.nat(1) }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant("result" as const), job: fc.nat(20), fail: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("lease" as const), job: fc.nat(20) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("close" as const), tab: fc.nat(5) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("tick" as const),
      ms: fc.oneof(
        { weight: 5, arbitrary: fc.integer({ min: 500, max: 30_000 }) },
        { weight: 1, arbitrary: fc.integer({ min: 300_000, max: 1_300_000 }) },
      ),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("fault" as const), after: fc.boolean() }) },
);

/** One run: a world, its parties, and what the requesters know (their tabs, their submitted jobs). */
async function runOf() {
  const w = makeJobWorld();
  const workers: TestWorker[] = [await w.worker(), await w.worker(), await w.worker()];
  const requesters = [await w.requester(), await w.requester()];
  const probe = await w.sealedJob(requesters[0]!, { candidates: 2 });
  const jobCost = BigInt(probe.header.maxCost);
  const tabs: Tab[] = [];
  const jobs: Array<{ jobId: string; envelope: ReturnType<typeof seal> }> = [];

  let fault: "before" | "after" | undefined;
  /** set by a "fault" command: armed for the next step only */
  let nextFault: typeof fault;
  const inner = w.store.transact.bind(w.store);
  w.store.transact = async (ops: WriteOp[]) => {
    const f = fault;
    fault = undefined;
    if (f === "before") throw new Injected("the process died before this commit");
    await inner(ops);
    if (f === "after") throw new Injected("the process died after this commit, its answer lost");
  };

  /** Run an operation: a refusal (4xx) is an answer; anything else only where a fault was injected. */
  const attempt = async (f: () => Promise<unknown>) => {
    const armed = fault !== undefined;
    try {
      await f();
    } catch (e) {
      if (e instanceof CocoonError && e.status < 500) return;
      if (e instanceof Injected) return;
      if (armed) return; // a retry path may rethrow differently after an injected failure
      throw e;
    } finally {
      fault = undefined; // a fault that no transaction hit is spent with the step
    }
  };

  const job = async (jobId: string) => w.store.get<JobItem>("jobs", jobKey(jobId));

  async function step(c: Cmd) {
    if (c.k !== "fault") [fault, nextFault] = [nextFault, undefined];
    try {
      await stepOf(c);
    } finally {
      fault = undefined;
    }
  }

  async function stepOf(c: Cmd) {
    switch (c.k) {
      case "open": {
        const r = requesters[c.r]!;
        const body = { slots: c.slots, slotCost: (c.big ? jobCost * 2n : 1n).toString(), ttlSeconds: 300 };
        return attempt(async () => {
          const { view } = await openTab(w.deps, r.id, body, `key-${c.r}-${c.key}`);
          if (!tabs.some((t) => t.tabId === view.tab.tabId)) tabs.push(view.tab);
        });
      }
      case "submit": {
        if (tabs.length === 0) return;
        const tab = tabs[c.tab % tabs.length]!;
        const r = c.r < 0 ? requesters.find((x) => x.id === tab.requester)! : requesters[c.r]!;
        return attempt(async () => {
          const { header, quote, prepared } = await w.sealedJob(r, { candidates: 2 }); // its prepare may refuse (no live worker)
          const envelope = seal({ ...header, jobId: tabSlotJobId(tab.tabId, c.slot) }, prepared.candidates);
          jobs.push({ jobId: envelope.header.jobId, envelope });
          await submitJob(w.deps, r.id, envelope, jobIdempotencyKey(envelope.header.jobId), quote, { tab: { tab, slot: c.slot } });
        });
      }
      case "plain": {
        const r = requesters[c.r]!;
        return attempt(async () => {
          const { envelope, quote } = await w.sealedJob(r, { candidates: 2 });
          jobs.push({ jobId: envelope.header.jobId, envelope });
          await submitJob(w.deps, r.id, envelope, jobIdempotencyKey(envelope.header.jobId), quote);
        });
      }
      case "result": {
        if (jobs.length === 0) return;
        const j = jobs[c.job % jobs.length]!;
        const item = await job(j.jobId);
        if (!item || item.status !== "assigned") return;
        const worker = workers.find((x) => x.id === item.candidates[item.attempt]!.workerId)!;
        return attempt(() =>
          postResult(
            w.deps,
            worker.id,
            c.fail
              ? { kind: "failed", jobId: j.jobId, attempt: item.attempt, code: "engine_error" }
              : w.completed(worker, j.envelope, {
                  attempt: item.attempt,
                  usage: { promptTokens: 3 + (c.job % 5), completionTokens: 1 + c.job },
                }),
          ),
        );
      }
      case "lease": {
        if (jobs.length === 0) return;
        const item = await job(jobs[c.job % jobs.length]!.jobId);
        if (!item || item.status !== "assigned") return;
        if (w.clock.t <= item.leaseUntil) w.clock.t = item.leaseUntil + 1;
        await attempt(() => handleMatchingMessage(w.deps, { type: "lease", jobId: item.jobId, attempt: item.attempt }));
        for (const x of workers) await attempt(() => heartbeat(w.deps, x.id, 0)); // the others stay live
        return;
      }
      case "close":
        if (tabs.length === 0) return;
        return attempt(() => handleMatchingMessage(w.deps, { type: "tab", tabId: tabs[c.tab % tabs.length]!.tabId }));
      case "tick":
        w.clock.t += c.ms;
        // workers stay live (their heartbeats), so jobs keep finding candidates after a jump
        for (const x of workers) await attempt(() => heartbeat(w.deps, x.id, 0));
        return;
      case "fault":
        nextFault = c.after ? "after" : "before";
        return;
    }
  }

  return { w, workers, requesters, tabs, step, jobs, job };
}

/** Every invariant over the committed state. */
function check(w: JobWorld, requesters: Array<{ id: string }>) {
  expect(ledgerDiscrepancies(w.store)).toEqual([]);
  const items = w.store.scan("jobs");
  const ledger = new Map(w.store.scan("ledger").map((m) => [String(m.pk), m]));
  const jobsOf = items.filter((i) => i.sk === "job") as JobItem[];
  const tabsOf = items.filter((i) => i.sk === "tab") as unknown as TabItem[];
  for (const r of requesters) {
    const held = BigInt(String(w.store.scan("accounts").find((a) => a.pk === requesterAccount(r.id))?.held ?? 0));
    const want =
      tabsOf.filter((t) => t.requester === r.id && t.status === "open").reduce((n, t) => n + BigInt(t.slots) * BigInt(t.slotCost), 0n) +
      jobsOf
        .filter((j) => j.requester === r.id && j.tab === undefined && j.status === "assigned")
        .reduce((n, j) => n + BigInt(j.maxCost), 0n);
    expect(held, `req:${r.id} holds ${held}, its open tabs and open per-job holds are ${want}`).toBe(want);
  }
  for (const j of jobsOf.filter((x) => x.tab !== undefined)) {
    expect(j.holdInJob).toBeUndefined();
    expect(j.settledInJob).toBeUndefined();
    for (const kind of ["hold", "settle", "refund"]) expect(ledger.has(`${kind}:${j.jobId}`)).toBe(false);
  }
  for (const t of tabsOf) {
    const close = ledger.get(`tabclose:${t.tabId}`);
    expect(close !== undefined, `tab ${t.tabId} is ${t.status}; its close movement ${close ? "exists" : "does not"}`).toBe(
      t.status === "closed",
    );
    if (!close) continue;
    const owed = new Map<string, bigint>();
    for (const j of jobsOf.filter((x) => x.tab === t.tabId && x.status === "completed")) {
      const wk = workerAccount(j.candidates[j.attempt]!.workerId);
      owed.set(wk, (owed.get(wk) ?? 0n) + BigInt(j.cost!));
    }
    // no job of the tab may still be running once it closed
    expect(jobsOf.filter((x) => x.tab === t.tabId && x.status === "assigned")).toEqual([]);
    const posted = new Map<string, bigint>();
    for (const p of close.postings as Array<{ account: string; field: string; delta: string }>)
      if (p.account.startsWith("wrk:")) posted.set(p.account, (posted.get(p.account) ?? 0n) + BigInt(p.delta));
    expect(posted).toEqual(new Map([...owed].filter(([, c]) => c > 0n)));
    const total = [...owed.values()].reduce((a, b) => a + b, 0n);
    const back = (close.postings as Array<{ account: string; field: string; delta: string }>).find(
      (p) => p.account === requesterAccount(t.requester) && p.field === "available",
    );
    expect(BigInt(back?.delta ?? "0")).toBe(BigInt(t.slots) * BigInt(t.slotCost) - total);
  }
}

describe("tabs under random sequences with crashes (property)", () => {
  it("after every step the ledger agrees, holds are exact, closed tabs paid exactly their receipts; at the end everything drains", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { minLength: 8, maxLength: 40 }), async (cmds) => {
        const run = await runOf();
        const { w, requesters } = run;
        // each requester starts with a tab of 3, so most runs have jobs under tabs from the first step
        const opening: Cmd[] = [0, 1].map((r) => ({ k: "open", r, slots: 3, big: true, key: 9 }));
        for (const c of [...opening, ...cmds]) {
          await run.step(c);
          check(w, requesters);
        }
        // drain: every job's lease runs out or it was answered; every tab may close
        await drainLeasesAndTabs(w, () => check(w, requesters), 20);
        for (const t of run.tabs) expect((await w.store.get<TabItem>("jobs", tabKey(t.tabId)))?.status).toBe("closed");
        for (const r of requesters) expect(w.store.scan("accounts").find((a) => a.pk === requesterAccount(r.id))?.held ?? 0n).toBe(0n);
      }),
      { numRuns: 120 },
    );
  }, 120_000);
});
