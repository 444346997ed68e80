/**
 * core/jobs/results.ts, read.ts and items.ts: a reply larger than one store item (DynamoDB's
 * 400 KB; an embeddings reply easily is) is stored as a head and parts, written before the
 * settlement, and read back whole. Before, its one item was refused by DynamoDB: every post of
 * it a 500, the job failed over and refunded, the worker never paid.
 */
import { describe, expect, it } from "vitest";
import type { ResultRequest } from "../../events/api";
import type { RequestEnvelope } from "../../events/envelope";
import { canonicalJson } from "../crypto/encoding";
import { replyHash } from "../crypto/envelope";
import { MAX_CHUNK_PLAINTEXT, ReplyStreamSealer } from "../crypto/reply-stream";
import type { Item, WriteOp } from "../ports";
import { itemBytes, MAX_ITEM_BYTES } from "../store-rules";
import { handleMatchingMessage } from "./dispatch";
import { jobKey, replyKey, resultDigest, type JobItem } from "./items";
import { getJob } from "./read";
import { postResult } from "./results";
import { submitJob } from "./submit";
import { FUNDS, isSettleCommit, makeJobWorld, settleRecords, type JobWorld, type TestWorker } from "./testing";

type Completed = Extract<ResultRequest, { kind: "completed" }>;

/**
 * Factory: what `w` posts for the job with a reply of about `bytes` (sealed chunks of up to
 * 96 KiB, as an agent seals an embeddings answer), its receipt signed.
 */
function largeResult(
  world: JobWorld,
  w: TestWorker,
  envelope: RequestEnvelope,
  bytes: number,
  o: { attempt?: number; seed?: number } = {},
) {
  const h = envelope.header;
  const sealer = new ReplyStreamSealer(h, w.id, w.signing);
  const n = Math.ceil(bytes / MAX_CHUNK_PLAINTEXT);
  for (let i = 0; i < n; i++) {
    const plain = new Uint8Array(Math.min(MAX_CHUNK_PLAINTEXT, bytes - i * MAX_CHUNK_PLAINTEXT)).fill((i + (o.seed ?? 0)) % 251);
    sealer.seal(plain, i === n - 1);
  }
  return world.completed(w, envelope, {
    reply: sealer.reply(),
    usage: { promptTokens: 5, completionTokens: 0 },
    attempt: o.attempt,
  }) satisfies Completed;
}

const replyItemsOf = (w: JobWorld, jobId: string) => w.store.query("jobs", jobId, { skPrefix: "reply#" });
const isReplyPut = (jobId: string) => (op: WriteOp) =>
  op.op === "put" && op.table === "jobs" && op.item.pk === jobId && String(op.item.sk).startsWith("reply#");
const MB = 1024 * 1024;

/** Runs `meanwhile` once, just before the first store transaction that `matches` is tried. */
function before(w: JobWorld, matches: (ops: WriteOp[]) => boolean, meanwhile: () => Promise<void>) {
  const transact = w.store.transact;
  w.store.transact = async (ops: WriteOp[]) => {
    if (matches(ops)) {
      w.store.transact = transact;
      await meanwhile();
    }
    return transact(ops);
  };
}

describe("postResult and getJob: a reply of about 1 MB", () => {
  it("settles, is stored in items each under 400 KB written before the settlement, and reads back byte-identical", async () => {
    // Prepare
    const w = makeJobWorld();
    const { r, envelope, header, workers } = await w.submitted(1);
    const post = largeResult(w, workers[0]!, envelope, MB);
    expect(canonicalJson(post.reply).length).toBeGreaterThan(MB);
    w.transacts.length = 0;
    // Act
    const out = await postResult(w.deps, workers[0]!.id, post);
    const view = await getJob(w.deps, r.id, header.jobId);
    // Assess
    expect(out).toMatchObject({ status: "completed", duplicate: false });
    expect(canonicalJson(view.reply)).toBe(canonicalJson(post.reply));
    expect(view.receipt).toEqual(post.receipt);
    expect(replyHash(view.reply!)).toBe(post.receipt.body.replyHash);
    const stored = await replyItemsOf(w, header.jobId);
    expect(stored.length).toBeGreaterThan(2);
    for (const item of stored) expect(itemBytes(item)).toBeLessThanOrEqual(MAX_ITEM_BYTES);
    // every reply item alone, before the settlement; the settlement carries none
    const settlement = w.transacts.findIndex((ops) => isSettleCommit(ops, header.jobId));
    const replyWrites = w.transacts.flatMap((ops, i) => (ops.some(isReplyPut(header.jobId)) ? [{ i, n: ops.length }] : []));
    expect(replyWrites).toHaveLength(stored.length);
    expect(replyWrites.every((x) => x.n === 1 && x.i < settlement)).toBe(true);
    expect(w.transacts[settlement]!.some(isReplyPut(header.jobId))).toBe(false);
    const job = (await w.store.get<JobItem>("jobs", jobKey(header.jobId)))!;
    expect(await w.earned(workers[0]!.id)).toBe(BigInt(job.cost!));
  });

  it("with cheap transactions (LMDB) too: the head commits with the settlement, the parts before it, and it reads back byte-identical", async () => {
    // Prepare
    const w = makeJobWorld({ cheapTransactions: true });
    const { r, envelope, header, workers } = await w.submitted(1);
    const post = largeResult(w, workers[0]!, envelope, MB);
    w.transacts.length = 0;
    // Act
    const out = await postResult(w.deps, workers[0]!.id, post);
    const view = await getJob(w.deps, r.id, header.jobId);
    // Assess
    expect(out.duplicate).toBe(false);
    expect(canonicalJson(view.reply)).toBe(canonicalJson(post.reply));
    const settlement = w.transacts.find((ops) => isSettleCommit(ops, header.jobId))!;
    const head = replyKey(header.jobId, 0, resultDigest(post.reply, post.receipt));
    expect(settlement.filter(isReplyPut(header.jobId)).map((op) => (op as { item: Item }).item.sk)).toEqual([head.sk]);
    for (const item of await replyItemsOf(w, header.jobId)) expect(itemBytes(item)).toBeLessThanOrEqual(MAX_ITEM_BYTES);
  });

  it("posted twice at once: one settles, the other is a duplicate, and the reply stays whole", async () => {
    // Prepare
    const w = makeJobWorld();
    const { r, envelope, header, workers } = await w.submitted(1);
    const post = largeResult(w, workers[0]!, envelope, MB);
    // Act
    const outs = await Promise.all([postResult(w.deps, workers[0]!.id, post), postResult(w.deps, workers[0]!.id, post)]);
    const view = await getJob(w.deps, r.id, header.jobId);
    // Assess
    expect(outs.map((o) => o.duplicate).sort()).toEqual([false, true]);
    expect(canonicalJson(view.reply)).toBe(canonicalJson(post.reply));
    const stored = await replyItemsOf(w, header.jobId);
    expect(stored.length).toBeGreaterThan(2);
    for (const item of stored) expect(itemBytes(item)).toBeLessThanOrEqual(MAX_ITEM_BYTES);
  });
});

describe("postResult: a large reply that loses its race deletes all of its items", () => {
  it("the job was refunded while the reply was stored: 409 stale_attempt, and neither its head nor any part is left", async () => {
    // Prepare: the lease runs out and the job (one candidate) is refunded just before the settlement commits
    const w = makeJobWorld();
    const { r, envelope, header, workers, job } = await w.submitted(1);
    const post = largeResult(w, workers[0]!, envelope, MB);
    let written: Item[] = [];
    before(
      w,
      (ops) => isSettleCommit(ops, header.jobId),
      async () => {
        written = await replyItemsOf(w, header.jobId);
        w.advance(job.leaseUntil - w.clock.now());
        await handleMatchingMessage(w.deps, { type: "lease", jobId: header.jobId, attempt: 0 });
      },
    );
    // Act
    const e = await postResult(w.deps, workers[0]!.id, post).catch((x: unknown) => x);
    // Assess
    expect(e).toMatchObject({ status: 409, code: "stale_attempt" });
    expect(written.length).toBeGreaterThan(2); // head and parts were there before the settlement
    for (const item of written) expect(itemBytes(item)).toBeLessThanOrEqual(MAX_ITEM_BYTES);
    expect(await replyItemsOf(w, header.jobId)).toEqual([]);
    expect(w.store.scan("jobs").filter((i) => i.pk === header.jobId && i.sk.startsWith("reply#"))).toEqual([]);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
  });

  it("another result settled first: 409 result_differs, its parts are removed and the accepted answer is served", async () => {
    // Prepare
    const w = makeJobWorld();
    const { r, envelope, header, workers } = await w.submitted(1);
    const a = workers[0]!;
    const winner = w.completed(a, envelope, { text: "first" });
    const loser = largeResult(w, a, envelope, MB);
    const loserHead = replyKey(header.jobId, 0, resultDigest(loser.reply, loser.receipt));
    let parts: Item[] = [];
    // just before the loser's head is written (its parts are; a post of the same worker cannot run inside its settlement)
    before(
      w,
      (ops) => ops.some((op) => op.op === "put" && op.item.pk === loserHead.pk && op.item.sk === loserHead.sk),
      async () => {
        parts = await replyItemsOf(w, header.jobId);
        await postResult(w.deps, a.id, winner);
      },
    );
    // Act
    const e = await postResult(w.deps, a.id, loser).catch((x: unknown) => x);
    // Assess
    expect(e).toMatchObject({ status: 409, code: "result_differs" });
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.every((p) => p.sk.startsWith(`${loserHead.sk}#`))).toBe(true);
    const left = await replyItemsOf(w, header.jobId);
    expect(left.map((i) => i.sk)).toEqual([replyKey(header.jobId, 0, resultDigest(winner.reply, winner.receipt)).sk]);
    expect((await getJob(w.deps, r.id, header.jobId)).reply).toEqual(winner.reply);
  });

  it("a part lost after the settlement (a crash, a sweep): the read has no reply until an identical retry writes it again", async () => {
    // Prepare
    const w = makeJobWorld();
    const { r, envelope, header, workers } = await w.submitted(1);
    const post = largeResult(w, workers[0]!, envelope, MB);
    await postResult(w.deps, workers[0]!.id, post);
    const head = replyKey(header.jobId, 0, resultDigest(post.reply, post.receipt));
    await w.store.transact([{ op: "delete", table: "jobs", key: { pk: head.pk, sk: `${head.sk}#1` } }]);
    const broken = await getJob(w.deps, r.id, header.jobId);
    // Act
    const retry = await postResult(w.deps, workers[0]!.id, post);
    const view = await getJob(w.deps, r.id, header.jobId);
    // Assess
    expect(broken.reply).toBeUndefined();
    expect(retry).toMatchObject({ status: "completed", duplicate: true });
    expect(canonicalJson(view.reply)).toBe(canonicalJson(post.reply));
  });
});

describe("postResult with cheap transactions (LMDB): replies that join their settlements", () => {
  it("a batch whose replies pass a transaction's 4 MB together commits in halves, each still one transaction, not each settlement alone", async () => {
    // Prepare: 12 jobs of one worker, each answered with ~390 KB stored (one packed item each, so each joins its settlement)
    const w = makeJobWorld({ cheapTransactions: true });
    const a = await w.worker();
    const r = await w.requester();
    const posts: Completed[] = [];
    for (let i = 0; i < 12; i++) {
      const { envelope, quote } = await w.sealedJob(r);
      await submitJob(w.deps, r.id, envelope, `batch-key-${i}`, quote);
      posts.push(largeResult(w, a, envelope, 385 * 1024, { seed: i }));
    }
    const committed: WriteOp[][] = [];
    const refused: string[] = [];
    const transact = w.store.transact;
    w.store.transact = async (ops: WriteOp[]) => {
      await transact(ops).catch((e: unknown) => {
        refused.push((e as { code?: string }).code ?? String(e));
        throw e;
      });
      committed.push(ops);
    };
    // Act
    const outs = await Promise.all(posts.map((p) => postResult(w.deps, a.id, p)));
    // Assess
    expect(outs.every((o) => o.status === "completed" && !o.duplicate)).toBe(true);
    expect(refused).toEqual(["STORE_TRANSACTION_TOO_LARGE"]); // the 11 that queued behind the first, 4.4 MB
    const batches = committed.map((ops) => settleRecords(ops).length).filter((n) => n > 1);
    expect(batches.length).toBeGreaterThan(0); // the refused batch was split, not settled job by job
    expect(batches.reduce((x, y) => x + y, 0) + committed.filter((ops) => settleRecords(ops).length === 1).length).toBe(12);
    for (const p of posts) expect(canonicalJson((await getJob(w.deps, r.id, p.jobId)).reply)).toBe(canonicalJson(p.reply));
  });
});
