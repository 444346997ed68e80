/**
 * The time-windowed receipt log (core/receipts/log.ts) beside what came before it, and as its
 * readers see it: a log anchored by the code before it (legacy inbox entries, index items,
 * records without a range) goes on, with legacy entries still arriving and an older anchorer
 * rewriting the head mid-deploy; the proof route (core/receipts/read.ts, what `cocoon receipts
 * verify` asks) answers for a windowed job, a tab's job and a straggler taken late; and the
 * overdue alarm's rule over the windowed log.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../local/memory-store";
import { collectingAlerts } from "../chain/dedup";
import { makeWorker } from "../crypto/testing";
import { newJobId, tabSlotJobId } from "../ids";
import { jobIdempotencyKey, submitJob } from "../jobs/submit";
import { postResult } from "../jobs/results";
import { handleTabClose, openTab } from "../jobs/tabs";
import { makeJobWorld, seal, type JobWorld } from "../jobs/testing";
import type { Store, TableName, WriteOp } from "../ports";
import { checkAnchors } from "./anchoring";
import {
  anchorChunkPk,
  anchorOf,
  appendReceiptOp,
  inboxPks,
  LEGACY_STEPS,
  RECEIPT_INBOX_PK,
  StoreAnchorLog,
  WINDOW_PK,
  withMovementLog,
  type AnchorRecord,
  type ReceiptIndexItem,
} from "./log";
import { verifyProofAgainstChain } from "./proof";
import { receiptProof } from "./read";
import { fakeAnchorContract, legacyInboxOp, signedReceipt } from "./testing";

const T0 = Date.parse("2026-05-04T00:00:00Z");
const MIN = 60_000;
const worker = makeWorker();

/** Every job id in every batch's receipt chunks, in log order. */
async function anchoredIds(log: StoreAnchorLog): Promise<string[]> {
  const out: string[] = [];
  for (let s = 1; s <= (await log.latestSeqno()); s++) {
    const r = (await log.record(s))!;
    for (let c = 0; c < r.receiptChunks; c++)
      out.push(...((await log.store.get("chain", { pk: anchorChunkPk(r), sk: `r#${String(c).padStart(6, "0")}` }))!.jobIds as string[]));
  }
  return out;
}

describe("a log anchored before the time-windowed log, mid-migration", () => {
  it("legacy entries keep draining (one written after the switch too), old index items still prove, an older anchorer's head write loses nothing; each receipt once", async () => {
    // Prepare: batch 1 as the code before cut it (legacy entries; its record and head without a range)
    const inner = createMemoryStore();
    const store = withMovementLog(inner);
    const log = new StoreAnchorLog(store, { chunk: 2 });
    const chain = fakeAnchorContract({ time: T0 / 1000 });
    const legacyOp = (jobId: string, at: number) => legacyInboxOp(appendReceiptOp(jobId, signedReceipt(worker, jobId), at));
    const windowOp = (jobId: string, at: number) => appendReceiptOp(jobId, signedReceipt(worker, jobId), at);
    const cut = async (now: number) => {
      const r = await log.prepareNext(now);
      if (r) await chain.post([anchorOf(r)]);
      return r;
    };
    const old = [newJobId(T0), newJobId(T0 + 1)];
    for (const [i, j] of old.entries()) await inner.transact([legacyOp(j, T0 + i)]);
    await cut(T0 + MIN);
    const r1 = (await log.record(1))!;
    const { wFrom: _f, upTo: _u, maxSoFar: _m, passes: _p, ...oldRecord } = r1;
    await inner.transact([
      { op: "put", table: "chain", item: oldRecord as AnchorRecord },
      { op: "put", table: "chain", item: { pk: "anchor:head", sk: "h", seqno: 1 } },
    ]);

    // Act: the switch. A settling function of the old code still writes a legacy entry; new ones write windowed entries
    const straggler = newJobId(T0 + 2 * MIN);
    await inner.transact([legacyOp(straggler, T0 + 2 * MIN)]);
    const fresh = [newJobId(T0 + 3 * MIN), newJobId(T0 + 3 * MIN + 1)];
    for (const [i, j] of fresh.entries()) await store.transact([windowOp(j, T0 + 3 * MIN + i)]);
    await cut(T0 + 4 * MIN); // takes the legacy entry and both windowed ones (beyond its range's end: they are recent)
    // an older anchorer, still deployed, writes the head as it knew it (no range start)
    await inner.transact([{ op: "put", table: "chain", item: { pk: "anchor:head", sk: "h", seqno: 2 } }]);
    const last = newJobId(T0 + 5 * MIN);
    await store.transact([windowOp(last, T0 + 5 * MIN)]);
    // the next cut comes 40 minutes later: its range must start where batch 2's ended, not half an hour before its clock
    for (let i = 45; i <= 52; i++) await cut(T0 + i * MIN);

    // Assess: each once; the legacy inbox drained; every receipt proves against the chain
    const all = [...old, straggler, ...fresh, last];
    const ids = await anchoredIds(log);
    expect([...ids].sort()).toEqual([...all].sort());
    expect((await Promise.all(inboxPks(RECEIPT_INBOX_PK).map((pk) => inner.query("chain", pk)))).flat()).toEqual([]);
    const at = new Map<string, number | undefined>([...fresh.map((j, i) => [j, T0 + 3 * MIN + i] as const), [last, T0 + 5 * MIN]]);
    for (const jobId of all) {
      const index = await log.indexOf(jobId, at.get(jobId));
      expect(index, jobId).toBeDefined();
      expect(verifyProofAgainstChain({ jobId, ...(await log.proof(index!)) }, await chain.latest()), jobId).toMatchObject({ ok: true });
    }
    // the legacy ones by their index items, the windowed ones by their entries alone
    for (const jobId of [...old, straggler]) expect(await inner.get("chain", { pk: `rlog:${jobId}`, sk: "r" }), jobId).toBeDefined();
    for (const jobId of [...fresh, last]) expect(await inner.get("chain", { pk: `rlog:${jobId}`, sk: "r" }), jobId).toBeUndefined();
  });
});

describe("a walk back over the batches, across a deploy's records cut without a range", () => {
  it.each([
    [LEGACY_STEPS, 1],
    [LEGACY_STEPS + 1, undefined],
  ])("%i such records after the batch that took a receipt: indexOf finds it in batch %s", async (n, anchorSeqno) => {
    // Prepare: batch 1 takes job 0 from the time-windowed log, batches 2..n+1 one job each, then an
    // older anchorer's copies of batches 2..n+1 (no range) written over them
    const inner = createMemoryStore();
    const log = new StoreAnchorLog(withMovementLog(inner));
    const jobs = Array.from({ length: n + 1 }, (_, i) => newJobId(T0 + i * MIN));
    for (const [i, j] of jobs.entries()) {
      await inner.transact([appendReceiptOp(j, signedReceipt(worker, j), T0 + i * MIN)]);
      expect((await log.prepareNext(T0 + (i + 3) * MIN))?.seqno).toBe(i + 1);
    }
    for (let s = 2; s <= n + 1; s++) {
      const { wFrom: _f, upTo: _u, maxSoFar: _m, passes: _p, ...old } = (await log.record(s))!;
      await inner.transact([{ op: "put", table: "chain", item: old as AnchorRecord }]);
    }

    // Act
    const index = await log.indexOf(jobs[0]!, T0);

    // Assess: the walk back steps over at most LEGACY_STEPS of them
    expect(index?.anchorSeqno).toBe(anchorSeqno);
  });
});

/** A job world whose anchorer posts to a fake chain; the route's answer verified against it. */
function provenWorld(w: JobWorld) {
  const log = new StoreAnchorLog(w.deps.store);
  const chain = fakeAnchorContract({ time: T0 / 1000 });
  return {
    log,
    chain,
    async cut(now: number) {
      const r = await log.prepareNext(now);
      if (r) await chain.post([anchorOf(r)]);
      return r;
    },
    async verify(caller: string, jobId: string) {
      return verifyProofAgainstChain(await receiptProof(w.deps, caller, jobId), await chain.latest());
    },
  };
}

describe("the proof route over the time-windowed log", () => {
  it("a settled job's proof: 'not anchored yet' until a cut takes it, then verified from its entry (no index item written)", async () => {
    // Prepare
    const w = makeJobWorld();
    const p = provenWorld(w);
    const { r, envelope, header, workers } = await w.submitted();
    await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope));
    const waiting = await receiptProof(w.deps, r.id, header.jobId).catch((e: { code?: string }) => e.code);

    // Act
    await p.cut(w.clock.now() + 1_000);

    // Assess
    expect(waiting).toBe("receipt_not_anchored_yet");
    expect(await p.verify(r.id, header.jobId)).toMatchObject({ ok: true });
    expect(await p.verify(workers[0]!.id, header.jobId)).toMatchObject({ ok: true });
    expect(await w.store.get("chain", { pk: `rlog:${header.jobId}`, sk: "r" })).toBeUndefined();
  });

  it("a tab's job: its entry is found from the tab's closedAt, and verifies", async () => {
    // Prepare: a tab of one slot, its job completed, the tab closed a while later
    const w = makeJobWorld();
    const p = provenWorld(w);
    const wk = await w.worker();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, { slots: 1, slotCost: "1000000", ttlSeconds: 300 }, "tab-key-1");
    const { header, quote, prepared } = await w.sealedJob(r, { candidates: 1 });
    const h = { ...header, jobId: tabSlotJobId(view.tab.tabId, 0) };
    const envelope = seal(
      h,
      prepared.candidates.map((c) => ({ workerId: c.workerId, hpkePublicKey: c.hpkePublicKey })),
    );
    await submitJob(w.deps, r.id, envelope, jobIdempotencyKey(h.jobId), quote, { tab: { tab: view.tab, slot: 0 } });
    await postResult(w.deps, wk.id, w.completed(wk, envelope));
    let closed = "";
    for (let i = 0; i < 30 && closed !== "closed"; i++) {
      w.advance(60_000);
      closed = await handleTabClose(w.deps, { type: "tab", tabId: view.tab.tabId });
    }
    expect(closed).toBe("closed");

    // Act
    await p.cut(w.clock.now() + 1_000);

    // Assess: the entry's minute is the close's, not the job's completion's
    const entry = w.store.scan("chain").find((i) => String(i.pk).startsWith(WINDOW_PK) && i.sk === h.jobId)!;
    expect(entry.at).toBe(w.clock.now());
    expect(await p.verify(r.id, h.jobId)).toMatchObject({ ok: true });
  });

  it("a straggler (its settlement committed after a cut covering its time) is 'not anchored yet', then taken late by a pass, then verified", async () => {
    // Prepare: the settlement's transaction is held until a cut has covered its time
    const w = makeJobWorld();
    const p = provenWorld(w);
    const { r, envelope, header, workers } = await w.submitted();
    const settledAt = w.clock.now();
    const other = newJobId(settledAt - 1); // another job's receipt, so the covering cut is a batch
    await w.store.transact([appendReceiptOp(other, signedReceipt(worker, other), settledAt - 1)]);
    const transact = w.store.transact.bind(w.store);
    w.store.transact = async (ops: WriteOp[]) => {
      if (ops.some((op) => op.op === "put" && String(op.item.pk).startsWith(WINDOW_PK))) {
        w.store.transact = transact;
        await p.cut(settledAt + 3 * MIN); // its range ends at settledAt + 1 min: past the entry's time
      }
      return transact(ops);
    };
    await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope));
    const covered = (await p.log.latest())!;
    const waiting = await receiptProof(w.deps, r.id, header.jobId).catch((e: { code?: string }) => e.code);

    // Act: cuts every five minutes
    for (let i = 1; i <= 3; i++) await p.cut(settledAt + 3 * MIN + i * 5 * MIN);

    // Assess
    expect(covered.upTo![0]).toBeGreaterThan(settledAt);
    expect(waiting).toBe("receipt_not_anchored_yet");
    const late = (await w.store.get<ReceiptIndexItem>("chain", { pk: `rlog:${header.jobId}`, sk: "r" }))!;
    expect(late.anchorSeqno).toBeGreaterThan(covered.seqno);
    expect((await p.log.record(late.anchorSeqno))?.late).toBe(1);
    expect(await p.verify(r.id, header.jobId)).toMatchObject({ ok: true });
  });
});

describe("anchor.overdue over the time-windowed log", () => {
  /** A log over a store that counts its queries of the windowed log's partitions. */
  function overdueWorld() {
    const inner = createMemoryStore();
    let windowQueries = 0;
    const spied: Store = {
      get: (t, k) => inner.get(t, k),
      query(t: TableName, pk, q) {
        if (pk.startsWith(WINDOW_PK)) windowQueries++;
        return inner.query(t, pk, q);
      },
      transact: (ops) => inner.transact(ops),
    };
    const log = new StoreAnchorLog(withMovementLog(spied));
    const chain = fakeAnchorContract({ time: T0 / 1000 });
    const alerts = collectingAlerts();
    return {
      inner,
      log,
      /** a cut, posted (a batch on chain raises no alarm of its own) */
      async cut(now: number, limits?: { maxReceipts: number; maxMovements: number }) {
        const r = await log.prepareNext(now, limits);
        if (r) await chain.post([anchorOf(r)]);
      },
      alerts,
      queries: () => windowQueries,
      settle: (jobId: string, at: number) => inner.transact([appendReceiptOp(jobId, signedReceipt(worker, jobId), at)]),
      check: (now: number, overdueSeconds: number) => checkAnchors({ log, reader: chain, alerts, now: () => now, overdueSeconds }),
    };
  }

  it("entries a cut took beyond its range's end are not waiting, though the range's start is older than the bound", async () => {
    // Prepare: a cut at T0 + 3 min takes an entry of T0 + 2.5 min (past its cutoff, T0 + 1 min)
    const w = overdueWorld();
    await w.settle(newJobId(T0 + 150_000), T0 + 150_000);
    await w.cut(T0 + 3 * MIN);

    // Act: checked with a 60 s bound two minutes later: the range starts at T0 + 1 min, before the bound
    const report = await w.check(T0 + 5 * MIN, 60);

    // Assess
    expect(report).toMatchObject({ overdue: false });
    expect(w.alerts.raised).toEqual([]);
    expect(w.queries()).toBeGreaterThan(0);
  });

  it("an entry a full batch left waits: overdue once older than the bound, with its time", async () => {
    // Prepare: two entries, a batch of one
    const w = overdueWorld();
    await w.settle(newJobId(T0), T0);
    await w.settle(newJobId(T0 + 1), T0 + 1);
    await w.cut(T0 + 3 * MIN, { maxReceipts: 1, maxMovements: 10 });

    // Act
    const atBound = await w.check(T0 + 1 + 60_000, 60);
    const over = await w.check(T0 + 1 + 60_001, 60);

    // Assess
    expect([atBound.overdue, over.overdue]).toEqual([false, true]);
    expect(w.alerts.raised).toMatchObject([{ key: "anchor.overdue", details: { waitingSinceMs: T0 + 1 } }]);
  });

  it("a check while every run is on time reads nothing of the windowed log (its range starts after the bound)", async () => {
    // Prepare: a cut at T0 + 10 min; its range ends at T0 + 8 min
    const w = overdueWorld();
    await w.settle(newJobId(T0 + 9 * MIN), T0 + 9 * MIN);
    await w.cut(T0 + 10 * MIN);
    const before = w.queries();

    // Act: the watcher's bound of 900 s
    const report = await w.check(T0 + 11 * MIN, 900);

    // Assess
    expect(report).toMatchObject({ overdue: false });
    expect(w.queries()).toBe(before);
  });
});
