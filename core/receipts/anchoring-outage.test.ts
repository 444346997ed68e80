/**
 * Review (session 29, of session 28 item 2): the resend backoff is there so an anchor the contract refuses costs
 * a fee an hour, not one every 2 minutes. It also grows on sends that never reached the chain:
 * `sends` is counted before the post (a crash then only delays), and a post that throws (toncenter
 * answering 5xx, the network down) is counted like a refused one. After a 35-minute outage the
 * batch waits ~27 minutes more once toncenter is back (up to an hour after longer ones), with no
 * fee saved: nothing was sent.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../local/memory-store";
import { newJobId } from "../ids";
import { makeWorker } from "../crypto/testing";
import type { Anchor } from "./anchor";
import { AnchorPostUncertainError, runAnchoring } from "./anchoring";
import { appendReceiptOp, StoreAnchorLog, withMovementLog } from "./log";
import { fakeAnchorContract, signedReceipt } from "./testing";

const T0 = Date.parse("2026-03-02T00:00:00Z");
const worker = makeWorker();

describe("runAnchoring: a post that throws is not a send the contract refused", () => {
  it("toncenter down for 35 minutes: the batch lands within resendAfterSeconds of its return, not after the backoff it grew meanwhile", async () => {
    // Prepare: one receipt waiting; the poster's endpoint fails until minute 35
    const store = withMovementLog(createMemoryStore());
    const log = new StoreAnchorLog(store);
    const chain = fakeAnchorContract({ time: T0 / 1000 });
    let now = T0;
    let down = true;
    const poster = {
      async post(anchors: Anchor[]) {
        if (down) throw new Error("toncenter: 503 Service Unavailable");
        await chain.post(anchors);
      },
    };
    const jobId = newJobId(now);
    await store.transact([appendReceiptOp(jobId, signedReceipt(worker, jobId), now)]);
    const run = () => runAnchoring({ log, reader: chain, poster, now: () => now, intervalSeconds: 300 }).catch(() => undefined);

    // Act: the scheduled anchorer every minute; toncenter back at minute 35
    let landedAt: number | undefined;
    for (let minute = 0; minute <= 120 && landedAt === undefined; minute++) {
      now = T0 + minute * 60_000;
      if (minute === 35) down = false;
      await run();
      if (chain.accepted.length > 0) landedAt = minute;
    }

    // Assess: at most the base resend delay (2 minutes) after the endpoint came back
    expect(landedAt).toBeDefined();
    expect(landedAt! - 35).toBeLessThanOrEqual(2);
  });
});

describe("runAnchoring: a post whose hand-over failed may have gone out (session 30: resent every 2 minutes)", () => {
  it("toncenter broadcasts each transfer, then fails: an anchor the contract refuses for good backs off as a refused one does (2, 4, 8… minutes, then hourly)", async () => {
    // Prepare: one receipt cut into batch 1; every transfer reaches the contract, which refuses
    // it for good (a range gap), and toncenter's sendBoc then answers 504
    const store = withMovementLog(createMemoryStore());
    const log = new StoreAnchorLog(store);
    const chain = fakeAnchorContract({ time: T0 / 1000 });
    let now = T0;
    const broadcasts: number[] = [];
    const poster = {
      async post(anchors: Anchor[]) {
        broadcasts.push((now - T0) / 60_000);
        await chain.post(anchors.map((a) => ({ ...a, firstSeq: 7 })));
        throw new AnchorPostUncertainError(new Error("toncenter: 504 Gateway Timeout"));
      },
    };
    const jobId = newJobId(now);
    await store.transact([appendReceiptOp(jobId, signedReceipt(worker, jobId), now)]);
    const errors: unknown[] = [];
    const run = () =>
      runAnchoring({ log, reader: chain, poster, now: () => now, intervalSeconds: 300 }).catch((e: unknown) => void errors.push(e));

    // Act: the scheduled anchorer every minute for three hours
    for (let minute = 0; minute <= 180; minute++) {
      now = T0 + minute * 60_000;
      await run();
    }

    // Assess: 7 broadcasts in three hours (91 when each was taken back as never sent), each refused, each reported
    expect(broadcasts).toEqual([0, 2, 6, 14, 30, 62, 122]);
    expect(chain.refused.map((x) => x.code)).toEqual(Array(7).fill("range_gap"));
    expect((await log.record(1))?.sends).toBe(7);
    expect(errors).toHaveLength(7);
    expect(errors.every((e) => e instanceof AnchorPostUncertainError)).toBe(true);
  });
});
