/**
 * Edge cases of the anchorer (runAnchoring) and of the watcher's anchor check (checkAnchors):
 * what a run does when there is nothing to cut, after a crash between cutting a batch and
 * sending it, when the chain is behind, level with or ahead of the coordinator's log, or holds
 * other fields; the exact time bounds of the resend delay, the interval and anchor.overdue; and
 * the alerts and reports an operator reads.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../local/memory-store";
import { collectingAlerts } from "../chain/dedup";
import { makeWorker } from "../crypto/testing";
import { newJobId } from "../ids";
import type { Log, Store, WriteOp } from "../ports";
import type { Anchor } from "./anchor";
import { checkAnchors, resendDelayMs, runAnchoring, type AnchoringOptions } from "./anchoring";
import { anchorOf, appendReceiptOp, StoreAnchorLog, withMovementLog, type AnchorRecord } from "./log";
import type { AnchorReader } from "./proof";
import { fakeAnchorContract, pending, signedReceipt } from "./testing";

// ---------------------------------------------------------------- factories
const T0 = Date.parse("2026-03-02T00:00:00Z");
const worker = makeWorker();
const recordKey = (seqno: number) => ({ pk: "anchor:list", sk: String(seqno).padStart(10, "0") });

/** A logger that keeps its info lines. */
function recordingLogger() {
  const lines: Array<[string, Record<string, unknown> | undefined]> = [];
  const logger: Log = { info: (m, d) => void lines.push([m, d]), warn: () => undefined, error: () => undefined };
  return { logger, lines };
}

/**
 * A memory store behind a spy (every transaction it writes; an optional one-shot hook or failure
 * before a transaction), the anchor log over it, a fake anchor contract whose posts are recorded,
 * and a clock in ms that the test moves. The chain's clock (s) stays at T0 unless a test moves it.
 */
function world() {
  const inner = createMemoryStore();
  const writes: WriteOp[][] = [];
  let before: ((ops: WriteOp[]) => Promise<void> | undefined) | undefined;
  const spied: Store & Pick<typeof inner, "scan"> = {
    get: (t, k) => inner.get(t, k),
    scan: (t) => inner.scan(t),
    query: (t, pk, q) => inner.query(t, pk, q),
    async transact(ops) {
      await before?.(ops);
      writes.push(ops);
      return inner.transact(ops);
    },
  };
  const store = withMovementLog(spied);
  const log = new StoreAnchorLog(store);
  const chain = fakeAnchorContract({ time: T0 / 1000 });
  const posts: Anchor[][] = [];
  const poster = {
    async post(anchors: Anchor[]) {
      posts.push(anchors);
      await chain.post(anchors);
    },
  };
  const { logger, lines } = recordingLogger();
  const alerts = collectingAlerts();
  let now = T0;
  const w = {
    inner,
    store,
    log,
    chain,
    posts,
    writes,
    lines,
    alerts,
    now: () => now,
    at: (ms: number) => (now = ms),
    /** run `f` once, before the next transaction `when` matches (the transaction goes ahead after it) */
    beforeTransaction(when: (ops: WriteOp[]) => boolean, f: () => Promise<void>) {
      before = async (ops) => {
        if (!when(ops)) return;
        before = undefined;
        await f();
      };
    },
    /** a settled job's receipt, appended to the inbox at the current time */
    async settle() {
      const jobId = newJobId(now);
      await store.transact([appendReceiptOp(jobId, signedReceipt(worker, jobId), now)]);
      return jobId;
    },
    run: (o: Partial<AnchoringOptions> = {}) =>
      runAnchoring({ log, reader: chain, poster, now: () => now, intervalSeconds: 300, logger, ...o }),
    check: (o: { overdueSeconds?: number; reader?: AnchorReader } = {}) =>
      checkAnchors({ log, reader: o.reader ?? chain, alerts, now: () => now, overdueSeconds: o.overdueSeconds ?? 60 }),
    record: (seqno: number) => inner.get<AnchorRecord>("chain", recordKey(seqno)),
    /** edit the coordinator's copy of batch `seqno` behind the log's back */
    edit: (seqno: number, set: Record<string, unknown>) => inner.transact([{ op: "update", table: "chain", key: recordKey(seqno), set }]),
    dropRecord: (seqno: number) => inner.transact([{ op: "delete", table: "chain", key: recordKey(seqno) }]),
    /** the log's head item put back to `seqno` (restored from an older state) */
    setHead: (seqno: number) => inner.transact([{ op: "put", table: "chain", item: { pk: "anchor:head", sk: "h", seqno } }]),
  };
  return w;
}

/** A world whose batch 1 (one receipt, cut at T0) is on chain and seen there, and the clock at T0 + 1 s. */
async function anchoredWorld() {
  const w = world();
  await w.settle();
  await w.run();
  w.at(T0 + 1_000);
  await w.run(); // sees batch 1 on chain: marks it posted
  return w;
}

const headWrites = (ops: WriteOp[]) => ops.some((op) => op.op === "put" && op.item.pk === "anchor:head");

// ---------------------------------------------------------------- runAnchoring
describe("runAnchoring: cutting and sending", () => {
  it("nothing waiting: reports nothing_to_anchor, and cuts and sends nothing; its only writes are the head's (where the next range starts)", async () => {
    // Prepare
    const w = world();

    // Act
    const report = await w.run();
    w.at(T0 + 60_000);
    const again = await w.run();

    // Assess: no record, chunk or index item; the head moves its range start only (an empty cut of
    // the time-windowed log: the next cut reads from there, not from the first run's start)
    expect(report).toEqual({ chainSeqno: 0, coordinatorSeqno: 0, sent: [], idle: "nothing_to_anchor" });
    expect(again).toEqual(report);
    expect(w.posts).toEqual([]);
    expect(w.writes.flat().every((op) => op.op === "put" && op.item.pk === "anchor:head" && op.item.seqno === 0)).toBe(true);
    expect(w.inner.scan("chain").map((i) => i.pk)).toEqual(["anchor:head"]);
    expect(await w.log.latestSeqno()).toBe(0);
  });

  it("a due run cuts the next batch, marks it sent, posts it, reports it and logs the cut and the send", async () => {
    // Prepare
    const w = world();
    await w.settle();
    await w.settle();

    // Act
    const report = await w.run();

    // Assess
    expect(report).toEqual({ chainSeqno: 0, coordinatorSeqno: 1, prepared: 1, sent: [1] });
    expect(w.posts.map((p) => p.map((a) => a.seqno))).toEqual([[1]]);
    expect(w.chain.accepted).toMatchObject([{ seqno: 1, firstSeq: 1, count: 2 }]);
    expect((await w.record(1))?.sentAt).toBe(T0);
    expect(w.lines).toEqual([
      ["anchor batch cut", { seqno: 1, receipts: 2, firstSeq: 1, ledgerSeqno: 0 }],
      ["anchors sent", { seqnos: [1] }],
    ]);
  });

  it("the limits it is given bound the batch: receipts past maxReceipts wait for the next one", async () => {
    // Prepare
    const w = world();
    const jobs: string[] = [];
    for (let i = 0; i < 3; i++) {
      w.at(T0 + i);
      jobs.push(await w.settle());
    }

    // Act
    const report = await w.run({ limits: { maxReceipts: 2, maxMovements: 10 } });

    // Assess
    expect(report).toMatchObject({ prepared: 1, sent: [1] });
    expect(w.chain.accepted).toMatchObject([{ seqno: 1, firstSeq: 1, count: 2 }]);
    expect(await pending(w.log, jobs[2]!)).toBe(true);
  });

  it("the next batch is due exactly intervalSeconds after the chain's last anchor, not a millisecond before", async () => {
    // Prepare: batch 1 posted at chain time T0 / 1000; another receipt waits
    const w = await anchoredWorld();
    await w.settle();

    // Act
    w.at(T0 + 300_000 - 1);
    const early = await w.run();
    w.at(T0 + 300_000);
    const due = await w.run();

    // Assess
    expect(early).toEqual({ chainSeqno: 1, coordinatorSeqno: 1, sent: [], idle: "not_due" });
    expect(due).toEqual({ chainSeqno: 1, coordinatorSeqno: 2, prepared: 2, sent: [2] });
  });

  // Found by this file (fixed): runAnchoring looked only at the interval.
  it("a full batch on chain makes the next one due at once: above maxReceipts per interval the backlog does not grow", async () => {
    // anchor.ts promises "one anchor every 5 minutes or every 100k receipts, whichever comes
    // first" (bench/anchoring.ts's cost model counts on it); looking only at the interval, at more
    // than maxReceipts / intervalSeconds receipts a second (333/s with the defaults, against a
    // 1,000 jobs/s target) receipts waited longer and longer for an anchor.
    // Prepare: batch 1 (2 receipts, the limit) is on chain; 2 more (a full batch) wait
    const w = world();
    const limits = { maxReceipts: 2, maxMovements: 10 };
    for (let i = 0; i < 4; i++) await w.settle();
    await w.run({ limits });
    w.at(T0 + 1_000);

    // Act
    const next = await w.run({ limits });

    // Assess
    expect(next).toMatchObject({ prepared: 2, sent: [2] });
  });
});

describe("runAnchoring: the chain's latest anchor", () => {
  it("the first run that sees a batch on chain records the chain's time on it; later runs that find it recorded write nothing", async () => {
    // Prepare
    const w = world();
    await w.settle();
    await w.run();
    const beforeSeen = (await w.record(1))?.postedAt;

    // Act
    w.at(T0 + 1_000);
    const seen = await w.run();
    const afterSeen = (await w.record(1))?.postedAt;
    const writesBefore = w.writes.length;
    w.at(T0 + 2_000);
    const again = await w.run();

    // Assess
    expect(beforeSeen).toBeUndefined();
    expect(seen).toEqual({ chainSeqno: 1, coordinatorSeqno: 1, sent: [], idle: "not_due" });
    expect(afterSeen).toBe(T0 / 1000);
    expect(again.idle).toBe("not_due");
    expect(w.writes.length).toBe(writesBefore);
  });

  it("the chain's anchor 1 with other fields than the log's batch 1 (count edited): chain_disagrees; nothing is marked, cut or sent", async () => {
    // Prepare: the log's batch 1 edited, a receipt waiting, the interval passed
    const w = world();
    await w.settle();
    await w.run();
    await w.edit(1, { count: 9 });
    await w.settle();
    w.at(T0 + 600_000);

    // Act
    const report = await w.run();

    // Assess
    expect(report).toEqual({ chainSeqno: 1, coordinatorSeqno: 1, sent: [], idle: "chain_disagrees" });
    expect(w.posts).toHaveLength(1);
    expect(await w.log.latestSeqno()).toBe(1);
    expect((await w.record(1))?.postedAt).toBeUndefined();
  });

  it("the same fields but another history than the chain's: chain_disagrees, nothing cut or sent", async () => {
    // Prepare
    const w = world();
    await w.settle();
    await w.run();
    await w.edit(1, { history: "ee".repeat(32) });
    await w.settle();
    w.at(T0 + 600_000);

    // Act
    const report = await w.run();

    // Assess
    expect(report).toEqual({ chainSeqno: 1, coordinatorSeqno: 1, sent: [], idle: "chain_disagrees" });
    expect(w.posts).toHaveLength(1);
    expect(await w.log.latestSeqno()).toBe(1);
  });

  it("the log lost the batch the chain holds (head still at it): chain_disagrees, and the run does not throw", async () => {
    // Prepare
    const w = world();
    await w.settle();
    await w.run();
    await w.dropRecord(1);
    await w.settle();
    w.at(T0 + 600_000);

    // Act
    const report = await w.run();

    // Assess
    expect(report).toEqual({ chainSeqno: 1, coordinatorSeqno: 1, sent: [], idle: "chain_disagrees" });
    expect(w.posts).toHaveLength(1);
  });

  it("the chain ahead of the log's head: chain_disagrees before any record is looked at, even one above the head that matches the chain", async () => {
    // Prepare: batches 1 and 2 on chain, then the head item restored to 1 (record 2 survives)
    const w = await anchoredWorld();
    await w.settle();
    w.at(T0 + 300_000);
    await w.run();
    await w.setHead(1);
    const writesBefore = w.writes.length;
    w.at(T0 + 301_000);

    // Act
    const report = await w.run();

    // Assess
    expect(report).toEqual({ chainSeqno: 2, coordinatorSeqno: 1, sent: [], idle: "chain_disagrees" });
    expect((await w.record(2))?.postedAt).toBeUndefined();
    expect(w.writes.length).toBe(writesBefore);
  });
});

describe("runAnchoring: batches the chain does not hold yet", () => {
  it("a crash between cutting batch 2 and sending it: the next run sends batch 2 as it was cut, alone, and cuts nothing new", async () => {
    // Prepare: batch 1 sent at T0 and on chain; batch 2 cut (the run crashed before its send); a newer receipt waits
    const w = await anchoredWorld();
    await w.settle();
    w.at(T0 + 300_000);
    const cut = (await w.log.prepareNext(w.now()))!;
    const newer = await w.settle();
    w.at(T0 + 310_000);

    // Act
    const report = await w.run();

    // Assess
    expect(report).toEqual({ chainSeqno: 1, coordinatorSeqno: 2, sent: [2] });
    expect(w.posts.at(-1)).toEqual([anchorOf(cut)]);
    expect(w.chain.accepted.map((a) => a.seqno)).toEqual([1, 2]);
    expect((await w.record(2))?.sentAt).toBe(T0 + 310_000);
    expect(await w.log.latestSeqno()).toBe(2);
    expect(await pending(w.log, newer)).toBe(true);
  });

  it("a sent anchor the chain does not show is in flight until resendAfterSeconds have passed, and sent again exactly then", async () => {
    // Prepare: batch 1 sent at T0, the send lost
    const w = world();
    await w.settle();
    w.chain.dropSends = true;
    await w.run({ resendAfterSeconds: 30 });
    w.chain.dropSends = false;

    // Act
    w.at(T0 + 29_999);
    const early = await w.run({ resendAfterSeconds: 30 });
    w.at(T0 + 30_000);
    const resent = await w.run({ resendAfterSeconds: 30 });

    // Assess
    expect(early).toEqual({ chainSeqno: 0, coordinatorSeqno: 1, sent: [], idle: "in_flight" });
    expect(resent).toEqual({ chainSeqno: 0, coordinatorSeqno: 1, sent: [1] });
    expect(w.chain.accepted.map((a) => a.seqno)).toEqual([1]);
    expect((await w.record(1))?.sentAt).toBe(T0 + 30_000);
  });

  it("the log's head above the chain with the batch records missing: nothing is sent (no empty transfer) and the run does not throw", async () => {
    // Prepare: batch 1 on chain; batch 2 cut, then its record lost
    const w = await anchoredWorld();
    await w.settle();
    w.at(T0 + 300_000);
    await w.log.prepareNext(w.now());
    await w.dropRecord(2);
    const lines = w.lines.length;

    // Act
    const report = await w.run();

    // Assess
    expect(report).toMatchObject({ chainSeqno: 1, coordinatorSeqno: 2, sent: [] });
    expect(w.posts).toHaveLength(1);
    expect(w.lines.slice(lines)).toEqual([]);
  });
});

describe("runAnchoring: an anchor the chain refuses for good (session 27: resent every 2 minutes, a fee each)", () => {
  it("is sent again after 2, 4, 8, 16, 32 minutes, then hourly; anchor.overdue keeps being raised; the next batch starts at 2 minutes again", async () => {
    // Prepare: batch 1 cut and sent at T0 with fields the contract refuses (range_gap), for good
    const w = world();
    await w.settle();
    await w.log.prepareNext(w.now());
    await w.edit(1, { firstSeq: 7 });
    await w.run();

    // Act: the scheduled anchorer every minute for three hours, the watcher's check beside it
    const sends: number[] = [];
    let overdue = 0;
    for (let minute = 1; minute <= 180; minute++) {
      w.at(T0 + minute * 60_000);
      const r = await w.run();
      if (r.sent.length > 0) sends.push(minute);
      if ((await w.check({ overdueSeconds: 900 })).overdue) overdue++;
    }

    // Assess: 7 sends in 3 hours (the old anchorer sent 91), each refused; the alert never stopped
    expect(sends).toEqual([2, 6, 14, 30, 62, 122]);
    expect(w.chain.refused.map((x) => x.code)).toEqual(Array(7).fill("range_gap"));
    expect((await w.record(1))?.sends).toBe(7);
    expect(overdue, "every check past the 15 minutes overdueSeconds").toBe(180 - 15);
    expect(w.alerts.raised.every((a) => a.key === "anchor.overdue")).toBe(true);

    // Act: the batch fixed (an operator repaired the record): it lands at the next resend; batch 2 is lost once
    await w.edit(1, { firstSeq: 1 });
    w.at(T0 + 182 * 60_000);
    const landed = await w.run();
    await w.settle();
    w.at(T0 + 190 * 60_000);
    w.chain.dropSends = true;
    const cut2 = await w.run();
    w.chain.dropSends = false;
    w.at(T0 + 190 * 60_000 + 119_999);
    const early = await w.run();
    w.at(T0 + 190 * 60_000 + 120_000);
    const resent = await w.run();

    // Assess: the backoff was batch 1's; batch 2 is resent after 120 s, the base delay
    expect(landed.sent).toEqual([1]);
    expect(cut2).toMatchObject({ prepared: 2, sent: [2] });
    expect(early).toMatchObject({ sent: [], idle: "in_flight" });
    expect(resent).toMatchObject({ chainSeqno: 1, sent: [2] });
    expect(w.chain.accepted.map((a) => a.seqno)).toEqual([1, 2]);
  });

  it("the delay doubles from resendAfterSeconds and stops at maxResendAfterSeconds (never below the base)", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 40].map((n) => resendDelayMs({}, n) / 1000)).toEqual([120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    expect([1, 2, 3].map((n) => resendDelayMs({ resendAfterSeconds: 10, maxResendAfterSeconds: 30 }, n) / 1000)).toEqual([10, 20, 30]);
    expect(resendDelayMs({ resendAfterSeconds: 600, maxResendAfterSeconds: 60 }, 3)).toBe(600_000);
  });
});

describe("runAnchoring: another writer", () => {
  it("another anchorer fixed the batch first: concurrent_writer, and this run sends nothing", async () => {
    // Prepare: just before this run fixes batch 1, a second anchorer cuts it
    const w = world();
    await w.settle();
    const other = new StoreAnchorLog(withMovementLog(w.inner));
    w.beforeTransaction(headWrites, async () => void (await other.prepareNext(w.now())));

    // Act
    const report = await w.run();

    // Assess
    expect(report).toEqual({ chainSeqno: 0, coordinatorSeqno: 0, sent: [], idle: "concurrent_writer" });
    expect(w.posts).toEqual([]);
    expect(await w.log.latestSeqno()).toBe(1);
  });

  it("any other failure while cutting propagates: neither concurrent_writer nor nothing_to_anchor hides it", async () => {
    // Prepare
    const w = world();
    await w.settle();
    w.beforeTransaction(headWrites, async () => {
      throw new Error("store unavailable");
    });

    // Act
    const run = w.run();

    // Assess
    await expect(run).rejects.toThrow("store unavailable");
    expect(w.posts).toEqual([]);
  });
});

// ---------------------------------------------------------------- checkAnchors
describe("checkAnchors: the chain against the log", () => {
  it("the contract cannot be read: one anchor.reader-error warning with the reader's message, and a report with no chain seqno", async () => {
    // Prepare: receipts have waited long, so only the early return keeps anchor.overdue quiet
    const w = world();
    await w.settle();
    w.at(T0 + 3_600_000);
    const broken: AnchorReader = {
      latest: async () => {
        throw new Error("toncenter: 502 Bad Gateway");
      },
    };

    // Act
    const report = await w.check({ reader: broken });

    // Assess
    expect(report).toEqual({ chainSeqno: null, coordinatorSeqno: 0, mismatch: false, overdue: false });
    expect(w.alerts.raised).toEqual([
      {
        key: "anchor.reader-error",
        severity: "warning",
        title: "the anchor contract could not be read",
        details: { error: "toncenter: 502 Bad Gateway" },
      },
    ]);
  });

  it("the chain ahead of the log: anchor.mismatch (critical) naming a restore or another poster, with both seqnos", async () => {
    // Prepare: batch 1 on chain, the head restored to before it
    const w = await anchoredWorld();
    await w.setHead(0);

    // Act
    const report = await w.check();

    // Assess
    expect(report).toEqual({ chainSeqno: 1, coordinatorSeqno: 0, mismatch: true, overdue: false });
    expect(w.alerts.raised).toEqual([
      {
        key: "anchor.mismatch",
        severity: "critical",
        title:
          "the anchor on chain does not match the coordinator's log: the chain holds anchors the log does not (database restored from an older state, or another poster)",
        details: { chainSeqno: 1, coordinatorSeqno: 0 },
      },
    ]);
  });

  it("the log lost the batch the chain holds: anchor.mismatch 'the log has no batch N'", async () => {
    // Prepare
    const w = await anchoredWorld();
    await w.dropRecord(1);

    // Act
    const report = await w.check();

    // Assess
    expect(report).toEqual({ chainSeqno: 1, coordinatorSeqno: 1, mismatch: true, overdue: false });
    expect(w.alerts.raised).toEqual([
      {
        key: "anchor.mismatch",
        severity: "critical",
        title: "the anchor on chain does not match the coordinator's log: the log has no batch 1",
        details: { chainSeqno: 1, coordinatorSeqno: 1 },
      },
    ]);
  });

  it("the log's batch has the chain's fields but another history: anchor.mismatch 'differs' with both anchors in the details", async () => {
    // Prepare
    const w = await anchoredWorld();
    await w.edit(1, { history: "ee".repeat(32) });
    const onChain = await w.chain.latest();
    const inLog = (await w.record(1))!;

    // Act
    const report = await w.check();

    // Assess
    expect(report).toEqual({ chainSeqno: 1, coordinatorSeqno: 1, mismatch: true, overdue: false });
    expect(w.alerts.raised).toEqual([
      {
        key: "anchor.mismatch",
        severity: "critical",
        title: "the anchor on chain does not match the coordinator's log: batch 1 differs from what was anchored (database edited?)",
        details: { chainSeqno: 1, coordinatorSeqno: 1, chain: anchorOf(onChain), log: anchorOf(inLog) },
      },
    ]);
  });

  // Found by this file (fixed): the check read the log before the chain.
  it("an anchor that lands while the check reads the chain raises no false anchor.mismatch", async () => {
    // Reading the log's head first and the chain second, the anchorer (its own scheduled
    // function) could cut and land a batch in between, and the chain then looked ahead of the
    // log: a critical "database restored" alert about a healthy system.
    // Prepare: a receipt waits; the anchorer runs while the check reads the contract
    const w = world();
    await w.settle();
    const racing: AnchorReader = {
      latest: async () => {
        await w.run();
        return w.chain.latest();
      },
    };

    // Act
    const report = await w.check({ reader: racing });

    // Assess
    expect(report.mismatch).toBe(false);
  });
});

describe("checkAnchors: anchor.overdue", () => {
  it("receipts waiting exactly overdueSeconds are not overdue; a millisecond more raises one warning with when they started waiting", async () => {
    // Prepare: a receipt appended at T0
    const w = world();
    await w.settle();

    // Act
    w.at(T0 + 60_000);
    const atBound = await w.check();
    w.at(T0 + 60_001);
    const over = await w.check();

    // Assess
    expect(atBound).toEqual({ chainSeqno: 0, coordinatorSeqno: 0, mismatch: false, overdue: false });
    expect(over).toEqual({ chainSeqno: 0, coordinatorSeqno: 0, mismatch: false, overdue: true });
    expect(w.alerts.raised).toEqual([
      {
        key: "anchor.overdue",
        severity: "warning",
        title: "receipts or ledger movements have waited over 60 s for an anchor",
        details: { waitingSinceMs: T0, chainSeqno: 0, coordinatorSeqno: 0 },
      },
    ]);
  });

  it("a cut batch not on chain: quiet while recent and at exactly overdueSeconds; a millisecond more raises one warning with its cut and send times", async () => {
    // Prepare: batch 1 cut at T0, sent at T0 + 5 s, the send lost; the inbox is empty again
    const w = world();
    await w.settle();
    await w.log.prepareNext(T0);
    w.chain.dropSends = true;
    w.at(T0 + 5_000);
    await w.run();

    // Act
    w.at(T0 + 6_000);
    const recent = await w.check();
    w.at(T0 + 60_000);
    const atBound = await w.check();
    w.at(T0 + 60_001);
    const over = await w.check();

    // Assess
    expect(recent).toEqual({ chainSeqno: 0, coordinatorSeqno: 1, mismatch: false, overdue: false });
    expect(atBound.overdue).toBe(false);
    expect(over).toEqual({ chainSeqno: 0, coordinatorSeqno: 1, mismatch: false, overdue: true });
    expect(w.alerts.raised).toStrictEqual([
      {
        key: "anchor.overdue",
        severity: "warning",
        title: "anchor 1 was cut over 60 s ago and is not on chain (wallet out of funds? endpoint down?)",
        details: { preparedAtMs: T0, sentAtMs: T0 + 5_000, chainSeqno: 0, coordinatorSeqno: 1 },
      },
    ]);
  });

  it("the batch after the chain's latest is the one checked: batch 2 cut long ago and never sent is overdue with sentAtMs null", async () => {
    // Prepare: batch 1 on chain; batch 2 cut at T0 + 300 s and never sent
    const w = await anchoredWorld();
    await w.settle();
    await w.log.prepareNext(T0 + 300_000);

    // Act
    w.at(T0 + 360_001);
    const report = await w.check();

    // Assess
    expect(report).toEqual({ chainSeqno: 1, coordinatorSeqno: 2, mismatch: false, overdue: true });
    expect(w.alerts.raised).toStrictEqual([
      {
        key: "anchor.overdue",
        severity: "warning",
        title: "anchor 2 was cut over 60 s ago and is not on chain (wallet out of funds? endpoint down?)",
        details: { preparedAtMs: T0 + 300_000, sentAtMs: null, chainSeqno: 1, coordinatorSeqno: 2 },
      },
    ]);
  });

  it("the log's head above the chain but that batch's record lost: no overdue alert, and the check does not throw", async () => {
    // Prepare
    const w = await anchoredWorld();
    await w.settle();
    await w.log.prepareNext(T0 + 300_000);
    await w.dropRecord(2);

    // Act
    w.at(T0 + 3_600_000);
    const report = await w.check();

    // Assess
    expect(report).toEqual({ chainSeqno: 1, coordinatorSeqno: 2, mismatch: false, overdue: false });
    expect(w.alerts.raised).toEqual([]);
  });

  it("the chain level with the log's head: a stray old record above the head (head restored) is not reported as a batch waiting for the chain", async () => {
    // Prepare: batches 1 and 2 cut, only 1 on chain, the head put back to 1
    const w = await anchoredWorld();
    await w.settle();
    await w.log.prepareNext(T0 + 300_000);
    await w.setHead(1);

    // Act
    w.at(T0 + 3_600_000);
    const report = await w.check();

    // Assess
    expect(report).toEqual({ chainSeqno: 1, coordinatorSeqno: 1, mismatch: false, overdue: false });
    expect(w.alerts.raised).toEqual([]);
  });
});
