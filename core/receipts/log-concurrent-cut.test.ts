/**
 * Review, session 22 (fixed): "a second writer fails the head's condition" (log.ts; functions/schedule/anchor.ts:
 * "a second would be refused by the head's condition anyway") holds for the record and the head,
 * but not for the chunks: they are plain puts written BEFORE the condition. A second anchorer
 * that cut the same seqno from a newer view of the inbox overwrites the winner's chunks, then
 * loses at the head; the winner then indexes and deletes the loser's job ids: a receipt that
 * arrived in between is deleted from the inbox without ever being anchored, and every proof of
 * the batch breaks (leaves stored != count).
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../local/memory-store";
import { makeWorker } from "../crypto/testing";
import { newJobId } from "../ids";
import type { Store, WriteOp } from "../ports";
import { AnchorConcurrencyError, appendReceiptOp, StoreAnchorLog, withMovementLog } from "./log";
import { indexed, signedReceipt } from "./testing";

const T0 = Date.parse("2026-02-01T00:00:00Z");
const worker = makeWorker();
const isRecordPut = (ops: WriteOp[]) => ops.some((op) => op.op === "put" && op.item.pk === "anchor:list");

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** The store as one anchorer sees it: `beforeRecord` runs before its record + head transaction. */
function view(inner: Store, beforeRecord: () => Promise<void>): Store {
  return withMovementLog({
    get: (t, k) => inner.get(t, k),
    query: (t, pk, q) => inner.query(t, pk, q),
    async transact(ops) {
      if (isRecordPut(ops)) await beforeRecord();
      return inner.transact(ops);
    },
  });
}

describe("two anchorers cutting the same seqno", () => {
  it("the loser's chunks do not replace the winner's: no receipt leaves the inbox unanchored, proofs of the batch still build", async () => {
    const inner = createMemoryStore();
    const jobs = [newJobId(T0), newJobId(T0 + 1), newJobId(T0 + 2)];
    for (const [i, j] of jobs.entries()) await inner.transact([appendReceiptOp(j, signedReceipt(worker, j), T0 + i)]);
    const late = newJobId(T0 + 3);

    const aAtRecord = deferred();
    const releaseA = deferred();
    const aDone = deferred();
    const a = new StoreAnchorLog(
      view(inner, async () => {
        aAtRecord.resolve();
        await releaseA.promise;
      }),
    );
    const b = new StoreAnchorLog(
      view(inner, async () => {
        // B has written its chunks; A commits its record first, then B tries (and loses)
        releaseA.resolve();
        await aDone.promise;
      }),
    );

    const runA = a.prepareNext(T0 + 10).finally(() => aDone.resolve());
    await aAtRecord.promise; // A has read the inbox and written its chunks
    await inner.transact([appendReceiptOp(late, signedReceipt(worker, late), T0 + 3)]); // a settlement lands
    const runB = b.prepareNext(T0 + 11);
    const [cutA, errB] = await Promise.all([runA, runB.catch((e: unknown) => e)]);
    expect(cutA?.count).toBe(3);
    expect(errB).toBeInstanceOf(AnchorConcurrencyError);

    // The next run anchors whatever still waits.
    await new StoreAnchorLog(withMovementLog(inner)).prepareNext(T0 + 20);
    const log = new StoreAnchorLog(inner);

    // every settled receipt is anchored (indexed) somewhere
    expect(await indexed(log, late)).toBeDefined();
    // and the first batch still answers proofs
    const idx = (await indexed(log, jobs[0]!))!;
    await expect(log.proof(idx)).resolves.toMatchObject({ anchorSeqno: 1, treeSize: 3 });
  });
});
