/**
 * Tabs and batched results under random interleavings (review tabs39): jobs under two tabs and
 * jobs holding for themselves, answered by their workers in batches (postResults) that mix them,
 * repeat an answer, race a different answer to the same job, answer a stale attempt or someone
 * else's job; failure reports, lease extensions, cancels, lease checks and early close checks,
 * two steps at a time so their awaits interleave, with an operator fee that changes mid-run.
 * After the drain every tab is closed and the books say exactly what the job items say: the
 * requester paid each completed job's cost once, each worker got the costs of the jobs it
 * finished less each job's own fee, the operator the fees, nothing stays held. money-interleavings
 * covers lone results with store faults; this covers the batch path it does not.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ResultRequest, Tab } from "../../events/api";
import type { RequestEnvelope } from "../../events/envelope";
import { tabSlotJobId } from "../ids";
import { operatorFee, operatorFeesEarned } from "../ledger";
import { WINDOW_PK } from "../receipts/log";
import { heartbeat } from "../workers";
import { cancelJob } from "./cancel";
import { handleMatchingMessage } from "./dispatch";
import { jobKey, type JobItem } from "./items";
import { extendLease } from "./lease";
import { postResults } from "./results";
import { jobIdempotencyKey, submitJob } from "./submit";
import { openTab, type TabItem } from "./tabs";
import { drainLeasesAndTabs, FUNDS, ledgerDiscrepancies, makeJobWorld, seal } from "./testing";

type Answer = { job: number; attempt: number; variant: number; fail: boolean };
type Cmd =
  | { k: "batch"; worker: number; items: Answer[] }
  | { k: "extend"; job: number }
  | { k: "cancel"; job: number }
  | { k: "lease"; job: number }
  | { k: "close"; tab: number }
  | { k: "fee"; bps: number }
  | { k: "tick"; ms: number };

const answer: fc.Arbitrary<Answer> = fc.record({
  job: fc.nat(11),
  attempt: fc.oneof({ weight: 5, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat(1) }), // -1: the job's current attempt
  variant: fc.nat(1), // two different answers (usages) to race
  fail: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});
// the poster: -1 the worker of the first answer's job at its attempt, else a given one (its other answers may not be its own)
const poster = fc.oneof({ weight: 4, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat(1) });
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ k: fc.constant("batch" as const), worker: poster, items: fc.array(answer, { minLength: 1, maxLength: 5 }) }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("extend" as const), job: fc.nat(11) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("cancel" as const), job: fc.nat(11) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("lease" as const), job: fc.nat(11) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("close" as const), tab: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("fee" as const), bps: fc.constantFrom(0, 1, 2_500, 10_000) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("tick" as const), ms: fc.integer({ min: 1, max: 200_000 }) }) },
);

async function world(feeBps: number) {
  const w = makeJobWorld();
  w.deps.config = { ...w.deps.config, operatorFeeBps: feeBps };
  const workers = [await w.worker(10_000), await w.worker(15_000)];
  const r = await w.requester();
  const tabs: Tab[] = [];
  for (const key of ["tab-one-1", "tab-two-2"])
    tabs.push((await openTab(w.deps, r.id, { slots: 4, slotCost: "1000000", ttlSeconds: 60 }, key)).view.tab);
  // 12 jobs: slots 0–3 of each tab, and 4 holding for themselves; each sealed to both workers
  const envelopes: RequestEnvelope[] = [];
  for (let i = 0; i < 12; i++) {
    if (i % 3 === 2) w.deps.config = { ...w.deps.config, operatorFeeBps: (feeBps + 1_000 * i) % 10_001 }; // fees fixed per job at submit
    const { header, quote, prepared } = await w.sealedJob(r, { candidates: 2 });
    const tab = i < 8 ? { tab: tabs[i % 2]!, slot: Math.floor(i / 2) } : undefined;
    const h = tab ? { ...header, jobId: tabSlotJobId(tab.tab.tabId, tab.slot) } : header;
    const envelope = seal(
      h,
      prepared.candidates.map((c) => ({ workerId: c.workerId, hpkePublicKey: c.hpkePublicKey })),
    );
    await submitJob(w.deps, r.id, envelope, jobIdempotencyKey(h.jobId), quote, tab ? { tab } : {});
    envelopes.push(envelope);
  }
  const job = async (i: number) => (await w.store.get<JobItem>("jobs", jobKey(envelopes[i]!.header.jobId)))!;
  const quietly = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      () => undefined,
    ); // refusals are part of the game

  async function step(c: Cmd): Promise<void> {
    switch (c.k) {
      case "batch": {
        const first = await job(c.items[0]!.job);
        const wk = c.worker === -1 ? workers.find((k) => k.id === first.candidates[first.attempt]!.workerId)! : workers[c.worker]!;
        const results: ResultRequest[] = [];
        for (const x of c.items) {
          const j = await job(x.job);
          const attempt = x.attempt === -1 ? j.attempt : x.attempt;
          results.push(
            x.fail
              ? { kind: "failed", jobId: j.jobId, attempt, code: "engine_error" }
              : w.completed(wk, envelopes[x.job]!, {
                  attempt,
                  usage: { promptTokens: 4 + 40 * x.variant, completionTokens: 2 + 9 * x.variant },
                }),
          );
        }
        return quietly(postResults(w.deps, wk.id, results));
      }
      case "extend": {
        const j = await job(c.job);
        return quietly(extendLease(w.deps, j.candidates[j.attempt]!.workerId, { jobId: j.jobId, attempt: j.attempt }));
      }
      case "cancel":
        return quietly(cancelJob(w.deps, r.id, envelopes[c.job]!.header.jobId));
      case "lease": {
        const j = await job(c.job);
        if (j.status !== "assigned") return;
        if (w.clock.t <= j.leaseUntil) w.clock.t = j.leaseUntil + 1;
        await quietly(handleMatchingMessage(w.deps, { type: "lease", jobId: j.jobId, attempt: j.attempt }));
        for (const x of workers) await quietly(heartbeat(w.deps, x.id, 0)); // the other candidate stays live
        return;
      }
      case "close":
        return quietly(handleMatchingMessage(w.deps, { type: "tab", tabId: tabs[c.tab]!.tabId }));
      case "fee":
        w.deps.config = { ...w.deps.config, operatorFeeBps: c.bps };
        return;
      case "tick":
        w.clock.t += c.ms;
        for (const x of workers) await quietly(heartbeat(w.deps, x.id, 0));
        return;
    }
  }
  return { w, workers, r, tabs, envelopes, job, step };
}

/** After every step: a closed tab has no job still running (one finishing later would go unpaid), and the books agree. */
async function closedOnlyWhenDone(s: Awaited<ReturnType<typeof world>>) {
  const jobs = await Promise.all(s.envelopes.map((_, i) => s.job(i)));
  for (const t of s.w.store.scan("jobs").filter((i) => i.sk === "tab" && i.status === "closed") as unknown as TabItem[])
    expect(
      jobs.filter((j) => j.tab === t.tabId && j.status === "assigned"),
      `tab ${t.tabId} closed`,
    ).toEqual([]);
  expect(ledgerDiscrepancies(s.w.store)).toEqual([]);
}

describe("tabs and batched results under random interleavings (property)", () => {
  it("after the drain every tab is closed and each party has exactly what the completed jobs say, each paid once", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(0, 1, 2_500, 10_000), fc.array(cmd, { minLength: 4, maxLength: 24 }), async (fee, cmds) => {
        // Prepare
        const s = await world(fee);
        // Act: two steps at a time, so their awaits interleave; then every lease and close runs out
        for (let i = 0; i < cmds.length; i += 2) {
          await Promise.all(cmds.slice(i, i + 2).map((c) => s.step(c)));
          await closedOnlyWhenDone(s);
        }
        await drainLeasesAndTabs(s.w, () => expect(ledgerDiscrepancies(s.w.store)).toEqual([]), 20);

        // Assess
        const jobs = await Promise.all(s.envelopes.map((_, i) => s.job(i)));
        expect(jobs.filter((j) => j.status === "assigned")).toEqual([]);
        const done = jobs.filter((j) => j.status === "completed");
        let paid = 0n;
        let fees = 0n;
        const earned = new Map<string, bigint>();
        for (const j of done) {
          const cost = BigInt(j.cost!);
          const f = operatorFee(cost, j.operatorFeeBps ?? 0);
          const wk = j.candidates[j.attempt]!.workerId;
          paid += cost;
          fees += f;
          earned.set(wk, (earned.get(wk) ?? 0n) + cost - f);
        }
        expect(await s.w.balance(s.r.id)).toEqual({ available: FUNDS - paid, held: 0n });
        for (const wk of s.workers) expect(await s.w.earned(wk.id), `worker ${wk.id}`).toBe(earned.get(wk.id) ?? 0n);
        expect(await operatorFeesEarned(s.w.store)).toBe(fees);
        for (const t of s.tabs) {
          const item = s.w.store.scan("jobs").find((i) => i.pk === t.tabId && i.sk === "tab") as unknown as TabItem;
          const mine = done.filter((j) => j.tab === t.tabId);
          expect(item).toMatchObject({
            status: "closed",
            completed: mine.length,
            cost: mine.reduce((a, j) => a + BigInt(j.cost!), 0n).toString(),
          });
        }
        const logged = s.w.store
          .scan("chain")
          .filter((i) => String(i.pk).startsWith(WINDOW_PK))
          .map((i) => String(i.sk));
        expect(logged.sort()).toEqual(done.map((j) => j.jobId).sort());
        expect(ledgerDiscrepancies(s.w.store)).toEqual([]);
      }),
      { numRuns: 12 },
    );
  }, 60_000);
});
