/**
 * Where a store's transactions cost nothing extra (store.cheapTransactions: LMDB), the large
 * items that must be stored no later than a commit join it: the job's envelope commits with
 * its hold, a worker's reply with its settlement. One commit (one disk flush) instead of two on
 * the way to the worker's first token and to the answer, and nothing is left behind by a
 * commit that does not land.
 */
import { describe, expect, it } from "vitest";
import type { WriteOp } from "../ports";
import { envelopeKey, jobKey, readReply, resultDigest, type JobItem } from "./items";
import { postResult } from "./results";
import { submitJob } from "./submit";
import { isHoldCommit, isSettleCommit, makeJobWorld } from "./testing";

const puts = (ops: WriteOp[], sk: (s: string) => boolean) =>
  ops.filter((o) => o.op === "put" && o.table === "jobs" && sk(String(o.item.sk))).length;

describe("a store with cheap transactions", () => {
  it("commits the envelope with the job and its hold: one transaction, no write of the envelope alone", async () => {
    // Prepare
    const w = makeJobWorld({ cheapTransactions: true });
    await w.worker();
    const r = await w.requester();
    const { envelope, header, quote } = await w.sealedJob(r);
    w.transacts.length = 0;
    // Act
    await submitJob(w.deps, r.id, envelope, `submit-${header.jobId}`, quote);
    // Assess
    const withEnvelope = w.transacts.filter((ops) => puts(ops, (sk) => sk === "envelope") > 0);
    expect(withEnvelope).toHaveLength(1);
    expect(puts(withEnvelope[0]!, (sk) => sk === "job")).toBe(1);
    expect(isHoldCommit(withEnvelope[0]!, header.jobId)).toBe(true);
    expect((await w.store.get("jobs", envelopeKey(header.jobId)))?.envelope).toEqual(envelope);
  });

  it("a hold that is refused (not enough funds) leaves no envelope behind", async () => {
    // Prepare
    const w = makeJobWorld({ cheapTransactions: true });
    await w.worker();
    const r = await w.requester(1n);
    const { envelope, header, quote } = await w.sealedJob(r);
    // Act
    const e = await submitJob(w.deps, r.id, envelope, `submit-${header.jobId}`, quote).catch((x: unknown) => x);
    // Assess
    expect(e).toMatchObject({ status: 402 });
    expect(await w.store.get("jobs", envelopeKey(header.jobId))).toBeUndefined();
    expect(await w.store.get("jobs", jobKey(header.jobId))).toBeUndefined();
  });

  it("commits the reply with the settlement that pins it, and serves it", async () => {
    // Prepare
    const w = makeJobWorld({ cheapTransactions: true });
    const { envelope, workers, header } = await w.submitted(1);
    const post = w.completed(workers[0]!, envelope);
    w.transacts.length = 0;
    // Act
    const out = await postResult(w.deps, workers[0]!.id, post);
    // Assess
    expect(out.duplicate).toBe(false);
    const withReply = w.transacts.filter((ops) => puts(ops, (sk) => sk.startsWith("reply#")) > 0);
    expect(withReply).toHaveLength(1);
    expect(isSettleCommit(withReply[0]!, header.jobId)).toBe(true);
    const job = (await w.store.get<JobItem>("jobs", jobKey(header.jobId)))!;
    const digest = resultDigest(post.reply, post.receipt);
    expect(job.resultDigest).toBe(digest);
    expect((await readReply(w.store, job))?.reply).toEqual(post.reply);
    // the same result posted again is a duplicate, and changes nothing
    expect(await postResult(w.deps, workers[0]!.id, post)).toMatchObject({ duplicate: true });
  });

  it("a settlement that does not land (the job was refunded meanwhile) leaves no reply behind", async () => {
    // Prepare: the lease runs out and the job (one candidate) is refunded before the post lands
    const w = makeJobWorld({ cheapTransactions: true });
    const { envelope, workers, header } = await w.submitted(1);
    const post = w.completed(workers[0]!, envelope);
    const transact = w.store.transact.bind(w.store);
    w.store.transact = async (ops: WriteOp[]) => {
      if (isSettleCommit(ops)) await transact([{ op: "update", table: "jobs", key: jobKey(header.jobId), set: { status: "expired" } }]);
      return transact(ops);
    };
    // Act
    const e = await postResult(w.deps, workers[0]!.id, post).catch((x: unknown) => x);
    // Assess
    expect(e).toMatchObject({ status: 409, code: "stale_attempt" });
    expect(await w.store.query("jobs", header.jobId, { skPrefix: "reply#" })).toEqual([]);
  });
});
