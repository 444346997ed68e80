/**
 * The time-windowed receipt log as core/receipts/log.ts wires it: a kill at every write of a
 * cut that takes window entries and legacy inbox entries together, then reruns, anchors the same
 * set as a clean run, each receipt once, every one provable; a straggler (an entry committed
 * behind a range already cut) is taken by a later sweep and proves through its index item.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../local/memory-store";
import { makeWorker } from "../crypto/testing";
import { newJobId } from "../ids";
import { KilledError, killAtWrite } from "../../test/fixtures/kill-store";
import {
  appendReceiptOp,
  anchorChunkPk,
  inboxPk,
  RECEIPT_INBOX_PK,
  StoreAnchorLog,
  WINDOW_LAG_MS,
  WINDOW_PASSES_MS,
  withMovementLog,
} from "./log";
import { verifyProofAgainstChain } from "./proof";
import { fakeAnchorContract, signedReceipt } from "./testing";
import { runAnchoring } from "./anchoring";

const T0 = 1_769_904_000_000;

/** Two legacy inbox entries (written by the code before the window) and three window entries. */
async function world() {
  const inner = createMemoryStore({ clock: { now: () => T0 } });
  const store = withMovementLog(inner);
  const worker = makeWorker();
  const legacy = [newJobId(T0 - 2), newJobId(T0 - 1)];
  for (const [i, jobId] of legacy.entries()) {
    const r = signedReceipt(worker, jobId);
    await inner.transact([
      {
        op: "put",
        table: "chain",
        item: { pk: inboxPk(RECEIPT_INBOX_PK, jobId), sk: jobId, receipt: { body: r.body, signature: r.signature }, at: T0 - 2 + i },
      },
    ]);
  }
  const windowed = [newJobId(T0), newJobId(T0 + 1), newJobId(T0 + 2)];
  const at = new Map<string, number>();
  for (const [i, jobId] of windowed.entries()) {
    at.set(jobId, T0 + i);
    await store.transact([appendReceiptOp(jobId, signedReceipt(worker, jobId), T0 + i)]);
  }
  return { inner, store, worker, legacy, windowed, at, log: new StoreAnchorLog(store, { chunk: 2, concurrency: 1 }) };
}

/** Every job id in every batch's receipt chunks, in log order. */
async function anchoredIds(log: StoreAnchorLog): Promise<string[]> {
  const out: string[] = [];
  for (let s = 1; s <= (await log.latestSeqno()); s++) {
    const r = (await log.record(s))!;
    for (let c = 0; c < r.receiptChunks; c++) {
      const chunk = await log.store.get("chain", { pk: anchorChunkPk(r), sk: `r#${String(c).padStart(6, "0")}` });
      out.push(...(chunk!.jobIds as string[]));
    }
  }
  return out;
}

describe("the time-windowed receipt log, wired", () => {
  it("a kill before each write of a cut (head start, each chunk put, record + head, each legacy index put and delete, the status update): reruns anchor what a clean run does, once each, all provable", async () => {
    // Prepare: a clean run, its writes counted
    const clean = await world();
    let writes = 0;
    const counting = clean.inner.transact.bind(clean.inner);
    clean.inner.transact = (ops) => (writes++, counting(ops));
    const first = await clean.log.prepareNext(T0 + 10);
    clean.inner.transact = counting;
    expect(first).toMatchObject({ seqno: 1, count: 5 });
    const expected = await anchoredIds(clean.log);
    expect([...expected].sort()).toEqual([...clean.legacy, ...clean.windowed].sort());
    // head start, 3 receipt chunks, record + head, 2 legacy index puts, 2 legacy deletes, status: nothing per window entry
    expect(writes).toBe(10);

    for (let k = 1; k <= writes; k++) {
      const t = await world();
      // Act: killed at write k, then reruns a minute apart
      const kill = killAtWrite(t.inner, k);
      await t.log.prepareNext(T0 + 10).catch((e: unknown) => expect(e, `kill ${k}`).toBeInstanceOf(KilledError));
      kill.restart();
      for (let i = 1; i <= 3; i++) await t.log.prepareNext(T0 + 10 + i * 60_000);

      // Assess: the same receipts, once each; legacy inbox drained; every receipt found and provable
      const ids = await anchoredIds(t.log);
      expect(ids.length, `kill ${k}`).toBe(expected.length);
      expect([...ids].sort(), `kill ${k}`).toEqual([...t.legacy, ...t.windowed].sort());
      expect(new Set(ids).size, `kill ${k}`).toBe(ids.length);
      for (const jobId of t.legacy) expect(await t.log.isPending(jobId), `kill ${k}`).toBe(false);
      for (const jobId of [...t.legacy, ...t.windowed]) {
        const index = await t.log.indexOf(jobId, t.at.get(jobId));
        expect(index, `kill ${k} ${jobId}`).toBeDefined();
        expect(index!.receipt.body.jobId).toBe(jobId);
      }
    }
  });

  it("proofs: a window receipt (no index item), a legacy one (its index item) and a straggler taken late by a sweep all verify against the chain", async () => {
    // Prepare
    const w = await world();
    const chain = fakeAnchorContract({ time: T0 / 1000 });
    let now = T0 + 10;
    const warned: Array<[string, unknown]> = [];
    const logger = { info: () => {}, warn: (msg: string, data?: unknown) => void warned.push([msg, data]), error: () => {} };
    const run = () => runAnchoring({ log: w.log, reader: chain, poster: chain, now: () => now, intervalSeconds: 60, logger });
    await run();
    // a settlement that took its `now` inside the range just cut commits only now (a stalled function)
    // (behind the first range's end, T0 + 10 less LAG)
    const strAt = T0 - 200_000;
    const straggler = newJobId(strAt);
    now += WINDOW_PASSES_MS[0] + WINDOW_LAG_MS;
    await w.store.transact([appendReceiptOp(straggler, signedReceipt(w.worker, straggler), strAt)]);
    expect(await w.log.isPending(straggler, strAt)).toBe(true);

    // Act: later cuts; the sweep (due once the range's start moved 5 minutes) takes it
    for (let i = 0; i < 3; i++) {
      now += WINDOW_PASSES_MS[0];
      await run();
    }

    // Assess
    const latest = await chain.latest();
    const late = (await w.log.indexOf(straggler, strAt))!;
    expect(late.anchorSeqno).toBeGreaterThan(1);
    expect((await w.log.record(late.anchorSeqno))?.late).toBe(1);
    expect(warned).toEqual([["anchor batch took receipts committed after their range was cut", { seqno: late.anchorSeqno, late: 1 }]]);
    for (const [jobId, at] of [
      [w.windowed[1]!, w.at.get(w.windowed[1]!)],
      [w.legacy[0]!, undefined],
      [straggler, strAt],
    ] as const) {
      const index = (await w.log.indexOf(jobId, at))!;
      expect(verifyProofAgainstChain({ jobId, ...(await w.log.proof(index)) }, latest), jobId).toMatchObject({ ok: true });
    }
    expect(await w.log.store.get("chain", { pk: `rlog:${w.windowed[1]}`, sk: "r" })).toBeUndefined(); // no index write per window job
    expect(await w.log.isPending(straggler, strAt)).toBe(false);
  });
});
