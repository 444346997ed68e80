/**
 * A kill -9 at each write of a tab's money steps not named in ../crash-points.test.ts (review
 * tabs39): a tab job's answer (its reply, then its completion; alone and in a batch with a job
 * holding for itself) and the tab's close. Each runs once cleanly to count its writes, then once
 * per crash point (right before its k-th write, or after its last); the process restarts on the
 * same store, the worker posts again as its agent does, every check is delivered, and the books
 * must come out as after the clean run: each job paid once, the tab closed once, nothing held.
 */
import { describe, expect, it } from "vitest";
import type { Tab } from "../../events/api";
import type { MatchingMessage } from "../../events/queue";
import { killAtWrite } from "../../test/fixtures/kill-store";
import { tabSlotJobId } from "../ids";
import type { Store } from "../ports";
import { WINDOW_PK } from "../receipts/log";
import { recoverAssignedJobs } from "../recovery";
import { handleMatchingMessage } from "./dispatch";
import { jobKey, type JobItem } from "./items";
import { postResult, postResults } from "./results";
import { jobIdempotencyKey, submitJob } from "./submit";
import { openTab, tabKey, type TabItem } from "./tabs";
import { FUNDS, ledgerDiscrepancies, makeJobWorld, seal, type JobWorld } from "./testing";

/** Runs `op` with a kill at write `k` (Infinity: after its last); how many writes it made. */
async function runKilledAt(store: Store, k: number, op: () => Promise<unknown>) {
  const kill = killAtWrite(store, k);
  const ok = await op().then(
    () => true,
    () => false,
  );
  if (k === Infinity) kill.kill(); // the answer lost: the caller does not know it committed
  kill.restart();
  return { writes: kill.state.writes, ok };
}
const crashPoints = (writes: number) => [...Array.from({ length: writes }, (_, i) => i + 1), Infinity];

/** The restart: LMDB's in-process queues are gone (recovery re-sends the checks); SQS's stay. */
async function restart(w: JobWorld) {
  if (w.store.billedWrites) return;
  w.queues.purge("matching");
  await recoverAssignedJobs(w.deps, w.store.scan("jobs"));
}

/** Every matching message as it comes due, until none is left. */
async function drainMatching(w: JobWorld) {
  for (let round = 0; round < 50; round++) {
    const { visible, delayed, inFlight } = w.queues.stats("matching");
    if (visible + delayed + inFlight === 0) return;
    w.advance(901_000);
    for (const m of await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 30 })) {
      await handleMatchingMessage(w.deps, JSON.parse(m.body) as MatchingMessage);
      await w.queues.delete("matching", m.receiptHandle);
    }
  }
  throw new Error("matching queue never drained");
}

for (const layout of ["DynamoDB layout", "LMDB layout"] as const) {
  const o = layout === "LMDB layout" ? { cheapTransactions: true } : { billedWrites: true };

  /** A worker, a requester with a tab of 2 slots (slot 0's job submitted) and a job holding for itself, all assigned to the worker. */
  async function tabbed() {
    const w = makeJobWorld(o);
    w.deps.config = { ...w.deps.config, operatorFeeBps: 2_500 };
    const worker = await w.worker();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, { slots: 2, slotCost: "1000000", ttlSeconds: 300 }, "tab-key-1");
    const slotted = async (tab: Tab, slot: number) => {
      const { header, quote, prepared } = await w.sealedJob(r);
      const h = { ...header, jobId: tabSlotJobId(tab.tabId, slot) };
      const envelope = seal(
        h,
        prepared.candidates.map((c) => ({ workerId: c.workerId, hpkePublicKey: c.hpkePublicKey })),
      );
      await submitJob(w.deps, r.id, envelope, jobIdempotencyKey(h.jobId), quote, { tab: { tab, slot } });
      return envelope;
    };
    const inTab = await slotted(view.tab, 0);
    const own = await w.sealedJob(r);
    await submitJob(w.deps, r.id, own.envelope, jobIdempotencyKey(own.header.jobId), own.quote);
    const answers = [w.completed(worker, inTab), w.completed(worker, own.envelope, { usage: { promptTokens: 9, completionTokens: 4 } })];
    return { w, r, worker, view, answers };
  }

  /** The books after it all: each job completed and paid once (its cost less a quarter to its worker), the tab closed once. */
  async function expectPaidOnce(s: Awaited<ReturnType<typeof tabbed>>, at: number | string) {
    const { w, r, worker, view, answers } = s;
    const jobs = await Promise.all(answers.map((a) => w.store.get<JobItem>("jobs", jobKey(a.jobId))));
    expect(
      jobs.map((j) => j?.status),
      `crash point ${at}`,
    ).toEqual(["completed", "completed"]);
    // each ended and with its retention (./retention.ts): the own job's from its settlement, the tab's from the close
    expect(
      jobs.map((j) => typeof j?.ttl),
      `crash point ${at}`,
    ).toEqual(["number", "number"]);
    const costs = jobs.map((j) => BigInt(j!.cost!));
    const total = costs[0]! + costs[1]!;
    const fees = costs.reduce((a, c) => a + (c * 2_500n) / 10_000n, 0n);
    expect(await w.store.get<TabItem>("jobs", tabKey(view.tab.tabId)), `crash point ${at}`).toMatchObject({
      status: "closed",
      completed: 1,
      cost: costs[0]!.toString(),
    });
    expect(await w.balance(r.id), `crash point ${at}`).toEqual({ available: FUNDS - total, held: 0n });
    expect(await w.earned(worker.id), `crash point ${at}`).toBe(total - fees);
    const logged = w.store.scan("chain").filter((i) => String(i.pk).startsWith(WINDOW_PK));
    expect(logged.map((i) => String(i.sk)).sort(), `crash point ${at}`).toEqual(answers.map((a) => a.jobId).sort());
    expect(ledgerDiscrepancies(w.store), `crash point ${at}`).toEqual([]);
  }

  describe(`a tab's money steps killed at each write (${layout})`, () => {
    it("a tab job's answer, alone: the agent's repost completes it once, and the close pays it once with its receipt", async () => {
      const clean = await tabbed();
      const counted = await runKilledAt(clean.w.store, Number.MAX_SAFE_INTEGER, () =>
        postResult(clean.w.deps, clean.worker.id, clean.answers[0]!),
      );
      expect(counted.ok).toBe(true);
      for (const k of crashPoints(counted.writes)) {
        // Prepare
        const s = await tabbed();
        await postResult(s.w.deps, s.worker.id, s.answers[1]!);
        // Act: killed at k; restart; the agent posts again; every check delivered
        const first = await runKilledAt(s.w.store, k, () => postResult(s.w.deps, s.worker.id, s.answers[0]!));
        expect(first.ok, `crash point ${k}`).toBe(k === Infinity);
        await restart(s.w);
        expect(await postResult(s.w.deps, s.worker.id, s.answers[0]!), `crash point ${k}`).toMatchObject({
          status: "completed",
          duplicate: k === Infinity,
        });
        await drainMatching(s.w);
        // Assess
        await expectPaidOnce(s, k);
      }
    });

    it("a batch of a tab job's answer and a held job's: the agent's repost completes both once, each paid once", async () => {
      const clean = await tabbed();
      const counted = await runKilledAt(clean.w.store, Number.MAX_SAFE_INTEGER, () =>
        postResults(clean.w.deps, clean.worker.id, clean.answers),
      );
      expect(counted.ok).toBe(true);
      for (const k of crashPoints(counted.writes)) {
        // Prepare
        const s = await tabbed();
        // Act
        await runKilledAt(s.w.store, k, () => postResults(s.w.deps, s.worker.id, s.answers));
        await restart(s.w);
        const again = await postResults(s.w.deps, s.worker.id, s.answers);
        await drainMatching(s.w);
        // Assess
        expect(
          again.map((a) => a.status),
          `crash point ${k}`,
        ).toEqual(["fulfilled", "fulfilled"]);
        await expectPaidOnce(s, k);
      }
    });

    it("the tab's close: the next check closes it once, or finds it closed", async () => {
      const prepared = async () => {
        const s = await tabbed();
        await postResults(s.w.deps, s.worker.id, s.answers);
        s.w.advance(s.view.closesAfter - s.w.clock.now() + 1);
        return s;
      };
      const clean = await prepared();
      const close = (s: Awaited<ReturnType<typeof tabbed>>) => () =>
        handleMatchingMessage(s.w.deps, { type: "tab", tabId: s.view.tab.tabId });
      const counted = await runKilledAt(clean.w.store, Number.MAX_SAFE_INTEGER, close(clean));
      expect(counted.writes).toBe(2); // the close, then its one completed job's retention
      for (const k of crashPoints(counted.writes)) {
        // Prepare
        const s = await prepared();
        // Act: the check killed at k; restart; the check again (SQS redelivers it), then the rest
        await runKilledAt(s.w.store, k, close(s));
        await restart(s.w);
        // killed after the close committed: the check again finds it closed, and gives the job its retention
        expect(await close(s)(), `crash point ${k}`).toBe(k === 1 ? "closed" : "stale");
        await drainMatching(s.w);
        // Assess
        await expectPaidOnce(s, k);
      }
    });
  });
}
