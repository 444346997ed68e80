/**
 * core/jobs/results.ts, how long a reply is kept (review ttl39): RETAIN_SECONDS from the job's
 * completion. A post whose settlement failed (a throttle, a crash) leaves its reply item(s)
 * behind with its own ttl; the same result posted again later completes the job and must carry
 * its later ttl onto them, or the requester loses the answer early and a tab's close, which
 * judges a missing receipt by the completion time (./tabs.ts receiptOf), fails on every retry.
 * Never extended by a repost after completion, and never recreating an item removed meanwhile.
 */
import { describe, expect, it } from "vitest";
import type { ResultRequest } from "../../events/api";
import type { RequestEnvelope } from "../../events/envelope";
import { MAX_CHUNK_PLAINTEXT, ReplyStreamSealer } from "../crypto/reply-stream";
import { tabSlotJobId } from "../ids";
import type { Item, Key, WriteOp } from "../ports";
import { WINDOW_PK } from "../receipts/log";
import { getJob } from "./read";
import { jobKey, replyKey, replyPartKey, resultDigest, RETAIN_SECONDS } from "./items";
import { postResult } from "./results";
import { jobIdempotencyKey, submitJob } from "./submit";
import { handleTabClose, openTab } from "./tabs";
import { makeJobWorld, seal, type JobWorld, type TestWorker } from "./testing";

type Completed = Extract<ResultRequest, { kind: "completed" }>;
type Layout = "DynamoDB layout" | "LMDB layout";

const DAY_MS = 86_400_000;
const worldOf = (layout: Layout) => makeJobWorld(layout === "LMDB layout" ? { cheapTransactions: true } : { billedWrites: true });
/** The ttl a post at the world's time gives its reply items. */
const ttlNow = (w: JobWorld) => Math.ceil(w.clock.now() / 1000) + RETAIN_SECONDS;

/** Factory: what `w` posts for the job with a reply of about 1 MB (a head and 3 parts), as an agent seals an embeddings answer. */
function largeResult(world: JobWorld, w: TestWorker, envelope: RequestEnvelope): Completed {
  const sealer = new ReplyStreamSealer(envelope.header, w.id, w.signing);
  const n = Math.ceil((1024 * 1024) / MAX_CHUNK_PLAINTEXT);
  for (let i = 0; i < n; i++) sealer.seal(new Uint8Array(MAX_CHUNK_PLAINTEXT).fill(i), i === n - 1);
  return world.completed(w, envelope, { reply: sealer.reply(), usage: { promptTokens: 5, completionTokens: 0 } });
}

/** The keys of a result's stored items: its head, then its parts (none for a whole reply). */
function keysOf(result: Completed, parts: number): Key[] {
  const head = replyKey(result.jobId, result.attempt, resultDigest(result.reply, result.receipt));
  return [head, ...Array.from({ length: parts }, (_, i) => replyPartKey(head, i))];
}

/** The ttl of each item at `keys` (undefined: absent). */
const ttlsAt = (w: JobWorld, keys: Key[]) => Promise.all(keys.map(async (k) => (await w.store.get("jobs", k))?.ttl));

/** The next transaction that completes job `jobId` (its settlement, or a tab job's lone commit) fails as a throttle does. */
function failNextCompletion(w: JobWorld, jobId: string) {
  const transact = w.store.transact;
  w.store.transact = async (ops: WriteOp[]) => {
    if (ops.some((op) => op.op === "update" && op.key.pk === jobId && op.key.sk === "job" && op.set?.status === "completed")) {
      w.store.transact = transact;
      throw new Error("ProvisionedThroughputExceededException");
    }
    return transact(ops);
  };
}

const isTtlUpdate = (op: WriteOp) => op.op === "update" && op.set !== undefined && "ttl" in op.set;

for (const layout of ["DynamoDB layout", "LMDB layout"] as const) {
  describe(`postResult: a result posted again after its settlement failed (${layout})`, () => {
    it("a split reply's parts (and a head stored alone) get the later post's ttl: the answer reads back RETAIN_SECONDS after the completion", async () => {
      // Prepare: the first post stores the reply, its settlement is throttled
      const w = worldOf(layout);
      const { r, envelope, header, workers } = await w.submitted(1);
      const result = largeResult(w, workers[0]!, envelope);
      const keys = keysOf(result, 3);
      failNextCompletion(w, header.jobId);
      await expect(postResult(w.deps, workers[0]!.id, result)).rejects.toThrow("ProvisionedThroughputExceededException");
      const firstTtl = ttlNow(w);
      expect((await ttlsAt(w, keys)).slice(1)).toEqual([firstTtl, firstTtl, firstTtl]);
      // Act: the worker posts the same result two days later
      w.advance(2 * DAY_MS);
      const out = await postResult(w.deps, workers[0]!.id, result);
      // Assess: every item kept from the completion; read back a second past the first post's ttl
      const secondTtl = ttlNow(w);
      expect(out).toMatchObject({ status: "completed", duplicate: false });
      expect(await ttlsAt(w, keys)).toEqual([secondTtl, secondTtl, secondTtl, secondTtl]);
      w.advance((firstTtl + 1) * 1000 - w.clock.now());
      expect((await getJob(w.deps, r.id, header.jobId)).reply).toEqual(result.reply);
    });

    it("a reply in one item gets the later post's ttl; the first post wrote it once, with no ttl update", async () => {
      // Prepare
      const w = worldOf(layout);
      const { r, envelope, header, workers } = await w.submitted(1);
      const result = w.completed(workers[0]!, envelope);
      const [head] = keysOf(result, 0);
      failNextCompletion(w, header.jobId);
      w.transacts.length = 0;
      await expect(postResult(w.deps, workers[0]!.id, result)).rejects.toThrow("ProvisionedThroughputExceededException");
      expect(w.transacts.flat().filter(isTtlUpdate)).toEqual([]);
      const firstTtl = ttlNow(w);
      // Act
      w.advance(2 * DAY_MS);
      await postResult(w.deps, workers[0]!.id, result);
      // Assess: on LMDB the head joined the settlement whole (never the gap); on DynamoDB it was refreshed
      expect(await ttlsAt(w, [head!])).toEqual([ttlNow(w)]);
      w.advance((firstTtl + 1) * 1000 - w.clock.now());
      expect((await getJob(w.deps, r.id, header.jobId)).reply).toEqual(result.reply);
    });

    it("a result posted again after the job completed does not extend how long its items are kept", async () => {
      // Prepare: completed by its first post
      const w = worldOf(layout);
      const { envelope, workers } = await w.submitted(1);
      const result = largeResult(w, workers[0]!, envelope);
      const keys = keysOf(result, 3);
      await postResult(w.deps, workers[0]!.id, result);
      const completedTtl = ttlNow(w);
      // Act: the worker posts it again, days later
      w.advance(3 * DAY_MS);
      const again = await postResult(w.deps, workers[0]!.id, result);
      // Assess
      expect(again).toMatchObject({ status: "completed", duplicate: true });
      expect(await ttlsAt(w, keys)).toEqual([completedTtl, completedTtl, completedTtl, completedTtl]);
    });

    it("an item kept longer already (a concurrent post on a Lambda whose clock runs ahead) keeps its ttl: the refresh never lowers it", async () => {
      // Prepare: a first post left the split reply; another post's refresh gave it a ttl an hour later than ours will be
      const w = worldOf(layout);
      const { envelope, header, workers } = await w.submitted(1);
      const result = largeResult(w, workers[0]!, envelope);
      const keys = keysOf(result, 3);
      failNextCompletion(w, header.jobId);
      await postResult(w.deps, workers[0]!.id, result).catch(() => {});
      w.advance(DAY_MS);
      const ahead = ttlNow(w) + 3600;
      await w.store.transact(keys.map((key) => ({ op: "update" as const, table: "jobs" as const, key, set: { ttl: ahead } })));
      // Act
      await postResult(w.deps, workers[0]!.id, result);
      // Assess: the parts (and on DynamoDB the head) as the other post left them; on LMDB the head was put whole with ours
      const ttls = await ttlsAt(w, keys);
      expect(ttls.slice(1)).toEqual([ahead, ahead, ahead]);
      expect(ttls[0]).toBe(layout === "LMDB layout" ? ttlNow(w) : ahead);
    });

    it("an item removed between the put finding it and the refresh (a post that lost its race) is not recreated by the refresh", async () => {
      // Prepare: a first post left the split reply; the second post's refresh of part 1 meets it removed
      const w = worldOf(layout);
      const { envelope, header, workers } = await w.submitted(1);
      const result = largeResult(w, workers[0]!, envelope);
      const part = keysOf(result, 3)[2]!;
      failNextCompletion(w, header.jobId);
      await postResult(w.deps, workers[0]!.id, result).catch(() => {});
      w.advance(DAY_MS);
      const transact = w.store.transact;
      let afterRefresh: Item | undefined | "not run" = "not run";
      w.store.transact = async (ops: WriteOp[]) => {
        const refresh = ops.find((op) => isTtlUpdate(op) && op.op === "update" && op.key.sk === part.sk);
        if (!refresh) return transact(ops);
        await transact([{ op: "delete", table: "jobs", key: part }]);
        try {
          await transact(ops);
        } finally {
          afterRefresh = await w.store.get("jobs", part);
        }
      };
      // Act
      await postResult(w.deps, workers[0]!.id, result);
      // Assess: the update found nothing and made nothing (no part of only a key and a ttl)
      expect(afterRefresh).toBeUndefined();
    });
  });
}

describe("a tab's close after a tab job's result was posted twice (DynamoDB layout)", () => {
  it("a close a second past the first post's ttl finds the receipt (kept from the completion), logs it and closes", async () => {
    // Prepare: a tab of one slot, its job's first post throttled at the completion, the second 30 min later
    const w = makeJobWorld({ billedWrites: true });
    const worker = await w.worker();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, { slots: 1, slotCost: "1000000", ttlSeconds: 300 }, "tab-key-1");
    const { header, quote, prepared } = await w.sealedJob(r);
    const h = { ...header, jobId: tabSlotJobId(view.tab.tabId, 0) };
    const envelope = seal(
      h,
      prepared.candidates.map((c) => ({ workerId: c.workerId, hpkePublicKey: c.hpkePublicKey })),
    );
    await submitJob(w.deps, r.id, envelope, jobIdempotencyKey(h.jobId), quote, { tab: { tab: view.tab, slot: 0 } });
    const result = w.completed(worker, envelope);
    failNextCompletion(w, h.jobId);
    await expect(postResult(w.deps, worker.id, result)).rejects.toThrow("ProvisionedThroughputExceededException");
    const firstTtl = ttlNow(w);
    w.advance(30 * 60_000);
    expect(await postResult(w.deps, worker.id, result)).toMatchObject({ status: "completed", duplicate: false });
    expect((await w.store.get("jobs", jobKey(h.jobId)))?.status).toBe("completed");
    // Act: the close check comes late (redriven), past the first post's ttl, before the completion's
    w.advance((firstTtl + 1) * 1000 - w.clock.now());
    const closed = await handleTabClose(w.deps, { type: "tab", tabId: view.tab.tabId });
    // Assess
    expect(closed).toBe("closed");
    const logged = w.store.scan("chain").filter((i) => String(i.pk).startsWith(WINDOW_PK));
    expect(logged.map((i) => i.sk)).toEqual([h.jobId]);
    expect(w.logs.filter((l) => l.level === "error")).toEqual([]);
  });
});
