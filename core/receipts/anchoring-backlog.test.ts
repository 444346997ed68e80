/**
 * Review, session 22 (fixed): runAnchoring hands the poster every batch the chain lacks, in one call. Both
 * real posters (ton/anchor.ts WalletAnchorPoster, functions/adapters/ton-wallet-v5.ts
 * ToncenterAnchorPoster) refuse more than 255 ("post the rest in the next run"), but the next run
 * hands them the same > 255 again: anchoring stalls for good. Reached when the contract is
 * behind the log by more than 255 batches (a fresh or restored contract / sandbox state file).
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../local/memory-store";
import { makeWorker } from "../crypto/testing";
import { newJobId } from "../ids";
import type { Anchor } from "./anchor";
import { runAnchoring } from "./anchoring";
import { appendReceiptOp, StoreAnchorLog, withMovementLog } from "./log";
import { fakeAnchorContract, signedReceipt } from "./testing";

const T0 = Date.parse("2026-03-02T00:00:00Z");
const worker = makeWorker();

describe("a chain behind the log by more than one wallet transfer", () => {
  it("catches up over several runs instead of failing every run", async () => {
    const store = withMovementLog(createMemoryStore());
    const log = new StoreAnchorLog(store);
    let now = T0;
    // 300 batches cut and anchored on a first contract
    const first = fakeAnchorContract({ time: T0 / 1000 });
    for (let i = 0; i < 300; i++) {
      const jobId = newJobId(now);
      await store.transact([appendReceiptOp(jobId, signedReceipt(worker, jobId), now)]);
      now += 301_000;
      first.time = now / 1000;
      await runAnchoring({ log, reader: first, poster: first, now: () => now, intervalSeconds: 300 });
    }
    expect(first.accepted).toHaveLength(300);
    // the contract read now is behind: at 0 (a restored sandbox state, a redeployed contract)
    const chain = fakeAnchorContract({ time: now / 1000 });
    const poster = {
      async post(anchors: Anchor[]) {
        if (anchors.length > 255) throw new Error("a wallet v5r1 transfer carries at most 255 messages; post the rest in the next run");
        await chain.post(anchors);
      },
    };
    for (let run = 0; run < 4; run++) {
      now += 121_000;
      await runAnchoring({ log, reader: chain, poster, now: () => now, intervalSeconds: 300 }).catch(() => undefined);
    }
    expect(chain.accepted).toHaveLength(300);
  });
});
