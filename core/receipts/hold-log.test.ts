/**
 * issue 12: a job's hold is recorded by its job item (no ledger item) and logged by the
 * transaction that ends the job (its settlement's receipt entry, or its refund), not by the
 * submit's: two transactional items fewer a job. What must still hold: the hold applies once,
 * every hold is in the anchored movement log exactly once, just before its job's end, and the
 * ledger (ledger items and the holds job items record) replays against the anchors. Real core handlers over the in-memory store
 * wrapped the way the coordinator wraps it (withMovementLog).
 */
import { describe, expect, it } from "vitest";
import type { MatchingMessage } from "../../events/queue";
import { handleMatchingMessage } from "../jobs/dispatch";
import { jobKey, jobMovementRecords, type JobItem } from "../jobs/items";
import { postResult } from "../jobs/results";
import { makeJobWorld } from "../jobs/testing";
import { holdMovement, movementOps, type Movement } from "../ledger";
import type { WriteOp } from "../ports";
import { checkLedgerAgainstAnchors, type Anchor } from "./anchor";
import { inboxPks, MOVEMENT_INBOX_PK, RECEIPT_INBOX_PK, StoreAnchorLog, withMovementLog } from "./log";
import { windowEntries } from "./testing";

/** A job world whose store logs movements as the coordinator's does, and its anchor log. */
function loggedWorld(o: { rewrite?: (ops: WriteOp[]) => WriteOp[] } = {}) {
  const w = makeJobWorld({ billedWrites: true }); // DynamoDB's layout: the submit's commit holds no envelope
  const raw = w.store;
  const logged = withMovementLog(raw);
  // a rewrite acts above the movement log, as if the caller had written the rewritten transaction
  w.deps.store = o.rewrite
    ? new Proxy(logged, {
        get: (t, p, r) => (p === "transact" ? (ops: WriteOp[]) => logged.transact(o.rewrite!(ops)) : (Reflect.get(t, p, r) as unknown)),
      })
    : logged;
  const log = new StoreAnchorLog(w.deps.store, { chunk: 2, concurrency: 2 });
  const inbox = async (pk: typeof MOVEMENT_INBOX_PK | typeof RECEIPT_INBOX_PK) =>
    (await Promise.all(inboxPks(pk).map((p) => raw.query("chain", p)))).flat();
  /** The anchored movements as the store records them (a ledger item, or the job item of a hold), as checkLedgerAgainstAnchors reads them. */
  const ledgerEntries = (ids: string[]) =>
    Promise.all(
      ids.map(async (id, i) => {
        const item = await raw.get("ledger", { pk: id, sk: "tx" });
        if (item) {
          const { pk, sk: _sk, ...m } = item;
          return { seq: i + 1, movement: { id: pk, ...m } as unknown as Movement };
        }
        const job = (await raw.get<JobItem>("jobs", jobKey(id.replace(/^(hold|settle):/, ""))))!;
        const { pk, sk: _sk, ...m } = jobMovementRecords(job).find((r) => r.pk === id)!;
        return { seq: i + 1, movement: { id: pk, ...m } as unknown as Movement };
      }),
    );
  return { w, raw, log, inbox, ledgerEntries };
}

const lease = (jobId: string, attempt: number): MatchingMessage => ({ type: "lease", jobId, attempt });

describe("issue 12: a job's hold is logged with the job's end", () => {
  it("a submit writes no movement inbox entry; its settlement's receipt entry carries the hold, anchored once just before the settlement", async () => {
    // Prepare
    const { w, raw, log, inbox, ledgerEntries } = loggedWorld();
    const { header, envelope, workers } = await w.submitted();
    const submitTx = w.transacts.at(-1)!;
    const afterSubmit = await inbox(MOVEMENT_INBOX_PK);

    // Act
    await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope));
    const receiptEntries = windowEntries(raw);
    const batch = (await log.prepareNext(w.clock.now()))!;
    const ids = await log.movementIds(1);

    // Assess
    expect(submitTx.map((op) => op.table)).toEqual(["jobs", "accounts", "idempotency"]); // no ledger item, no inbox entry
    expect(afterSubmit).toEqual([]);
    expect(await w.store.get("ledger", { pk: `hold:${header.jobId}`, sk: "tx" })).toBeUndefined();
    expect((await w.store.get<JobItem>("jobs", jobKey(header.jobId)))?.holdInJob).toBe(true);
    expect(await w.store.get("ledger", { pk: `settle:${header.jobId}`, sk: "tx" })).toBeUndefined(); // the job item records it
    expect((await w.store.get<JobItem>("jobs", jobKey(header.jobId)))?.settledInJob).toBe(true);
    expect(receiptEntries).toHaveLength(1);
    expect(receiptEntries[0]).toMatchObject({ mid: `settle:${header.jobId}`, ha: expect.any(Number) });
    expect(receiptEntries[0]).not.toHaveProperty("hold"); // the short settlement names its requester and amount
    // the entry's time is the job item's updatedAt, written in the same transaction: a proof finds the entry from it
    expect(receiptEntries[0]!.at).toBe((await w.store.get<JobItem>("jobs", jobKey(header.jobId)))?.updatedAt);
    expect(ids).toEqual([`hold:${header.jobId}`, `settle:${header.jobId}`]);
    expect(batch).toMatchObject({ count: 1, ledgerSeqno: 2 });
    expect(checkLedgerAgainstAnchors([batch] as Anchor[], await ledgerEntries(ids))).toEqual({ ok: true, checked: 1 });
    expect([...(await inbox(MOVEMENT_INBOX_PK)), ...(await inbox(RECEIPT_INBOX_PK))]).toEqual([]);
    // the receipt's entry stays for good in the time-windowed log (its record, in place of an index item)
    expect(windowEntries(raw).map((e) => e.sk)).toEqual([header.jobId]);
    expect(await raw.get("chain", { pk: `rlog:${header.jobId}`, sk: "r" })).toBeUndefined();
  });

  it("a refunded job's hold is logged by the refund, beside the refund's own entry", async () => {
    // Prepare: the only candidate stays silent until its lease runs out
    const { w, log, inbox, ledgerEntries } = loggedWorld();
    const { header, job } = await w.submitted();
    w.advance(job.leaseUntil - w.clock.now());

    // Act
    await handleMatchingMessage(w.deps, lease(header.jobId, 0));
    const job2 = await w.store.get<JobItem>("jobs", jobKey(header.jobId));
    const entries = (await inbox(MOVEMENT_INBOX_PK)).map((e) => e.sk).sort();
    const batch = (await log.prepareNext(w.clock.now()))!;
    const ids = await log.movementIds(1);

    // Assess
    expect(job2).toMatchObject({ status: "refunded", outcome: "expired" });
    expect(entries).toEqual([`hold:${header.jobId}`, `refund:${header.jobId}`]);
    expect(ids).toEqual([`hold:${header.jobId}`, `refund:${header.jobId}`]);
    expect(checkLedgerAgainstAnchors([batch] as Anchor[], await ledgerEntries(ids))).toEqual({ ok: true, checked: 1 });
    expect(await inbox(MOVEMENT_INBOX_PK)).toEqual([]);
  });

  it("a job submitted before the change (no mark) had its hold logged at submit: its settlement does not log it again", async () => {
    // Prepare: the submit as an older coordinator wrote it: the hold's own ledger item, a job item without the mark
    const asBefore = (ops: WriteOp[]): WriteOp[] => {
      const i = ops.findIndex((op) => op.op === "put" && op.table === "jobs" && op.item.holdInJob === true);
      if (i < 0) return ops;
      const { holdInJob: _mark, ...job } = (ops[i] as Extract<WriteOp, { op: "put" }>).item as JobItem;
      const ledgerPut = movementOps(holdMovement(job.jobId, job.requester, BigInt(job.maxCost), job.createdAt))[0]!;
      return [ledgerPut, ...ops.map((op, k) => (k === i ? { ...op, item: job } : op))] as WriteOp[];
    };
    const { w, log, inbox } = loggedWorld({ rewrite: asBefore });
    const { header, envelope, workers } = await w.submitted();
    const afterSubmit = (await inbox(MOVEMENT_INBOX_PK)).map((e) => e.sk);

    // Act
    await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope));
    await log.prepareNext(w.clock.now());
    const ids = await log.movementIds(1);

    // Assess
    expect(afterSubmit).toEqual([`hold:${header.jobId}`]);
    expect(ids).toEqual([`hold:${header.jobId}`, `settle:${header.jobId}`]);
  });

  it("a receipt entry carrying a hold and a settlement takes two movement slots: with one left, it waits for the next batch whole", async () => {
    // Prepare: two jobs settled; room for three movements a batch
    const { w, log } = loggedWorld();
    const a = await w.submitted();
    const b = await w.submitted();
    await postResult(w.deps, a.workers[0]!.id, w.completed(a.workers[0]!, a.envelope));
    w.advance(1);
    // b's job may have gone to a's worker (both are live): take whichever is its candidate
    const bWorker = [...a.workers, ...b.workers].find((x) => x.id === b.job.candidates[0]!.workerId)!;
    await postResult(w.deps, bWorker.id, w.completed(bWorker, b.envelope));
    const limits = { maxReceipts: 100, maxMovements: 3 };

    // Act
    const b1 = (await log.prepareNext(w.clock.now(), limits))!;
    const b2 = (await log.prepareNext(w.clock.now(), limits))!;

    // Assess
    expect([b1.count, b1.ledgerSeqno, b2.count, b2.ledgerSeqno]).toEqual([1, 2, 1, 4]);
    expect(await log.movementIds(1)).toEqual([`hold:${a.header.jobId}`, `settle:${a.header.jobId}`]);
    expect(await log.movementIds(2)).toEqual([`hold:${b.header.jobId}`, `settle:${b.header.jobId}`]);
  });
});
