/**
 * Issue 16: the receipt and movement inboxes are spread over INBOX_SHARDS partition keys (every
 * settlement of the network appends to both; bench/sim measured one key at ~3,700 WCU/s for
 * the movement inbox at 1,000 jobs/s), and the anchorer still takes every entry, oldest first.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../local/memory-store";
import { makeWorker } from "../crypto/testing";
import { newJobId } from "../ids";
import { applyMovement, faucetMovement, holdMovement } from "../ledger";
import { appendReceiptOp, INBOX_SHARDS, StoreAnchorLog, WINDOW_PK, withMovementLog } from "./log";
import { indexed, pending, signedReceipt } from "./testing";

const T0 = Date.parse("2026-03-02T00:00:00Z");

describe("issue 16: sharded inboxes", () => {
  it("issue 16: 200 settlements spread their receipts and movements over the inbox partitions, and one batch takes them all in time order", async () => {
    // Prepare: a funded requester, then 200 holds each with a receipt appended (what a settlement writes)
    const inner = createMemoryStore();
    const store = withMovementLog(inner);
    const worker = makeWorker();
    await applyMovement(store, faucetMovement("f", "a", 1_000_000n, T0));
    const jobIds: string[] = [];
    for (let i = 0; i < 200; i++) {
      const jobId = newJobId(T0 + i);
      jobIds.push(jobId);
      await applyMovement(store, holdMovement(jobId, "a", 1n, T0 + i), [appendReceiptOp(jobId, signedReceipt(worker, jobId), T0 + i)]);
    }
    const perPk = (prefix: string) => {
      const n = new Map<string, number>();
      for (const e of inner.scan("chain")) if (e.pk.startsWith(prefix)) n.set(e.pk, (n.get(e.pk) ?? 0) + 1);
      return n;
    };
    // the receipts' entries sit in their minute's partitions of the time-windowed log (all 200 in one minute here)
    const receipts = perPk(WINDOW_PK);
    const movements = perPk("mlog:pending");
    // Act
    const log = new StoreAnchorLog(store);
    const batch = await log.prepareNext(T0 + 1000);
    // Assess: spread (the old layout put all 200 under one key), then all taken, in time order
    expect(receipts.size).toBe(INBOX_SHARDS);
    expect(movements.size).toBe(INBOX_SHARDS);
    // (the ids are random: 16 shards of ~12.5 each; 28 in one was seen once. A key with a quarter
    // of them would still say the spread is broken, and chance never gets near it)
    expect(Math.max(...receipts.values())).toBeLessThan(200 / 4);
    expect(batch).toMatchObject({ count: 200 });
    const order = await Promise.all(jobIds.map(async (jobId) => (await indexed(log, jobId))?.seq));
    expect(order).toEqual(jobIds.map((_, i) => batch!.firstSeq + i)); // sequence numbers in time order
    expect((await log.movementIds(batch!.seqno)).length).toBe(201);
    expect(perPk("rlog:pending").size + perPk("mlog:pending").size).toBe(0);
    // the receipt entries stay for good (no delete per job): the same partitions, all 200
    expect(perPk(WINDOW_PK)).toEqual(receipts);
    for (const jobId of jobIds.slice(0, 5)) expect(await pending(log, jobId)).toBe(false);
  });
});
