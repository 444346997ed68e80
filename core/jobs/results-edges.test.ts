/**
 * core/jobs/results.ts, edge by edge (issue 14, mutation-checked): usage exactly at the maxima,
 * an attempt past the candidate list, a failure or an old attempt posted to a completed job,
 * what each refusal says, a store failure in the settlement, a hold gone from under an
 * assigned job (a 500, not a 409), a job that vanished, jobs completed before result digests
 * existed, and what a failure report stores and logs. results.test.ts covers each receipt
 * check and the main settlement.
 */
import { describe, expect, it } from "vitest";
import { canonicalJson, sha256Hex } from "../crypto/encoding";
import { CocoonError } from "../errors";
import { OverdraftError } from "../ledger";
import { jobCost } from "../pricing";
import type { WriteOp } from "../ports";
import { failureKey, jobKey, readReply, replyKey, resultDigest, RETAIN_SECONDS, type JobItem } from "./items";
import { postResult } from "./results";
import { submitJob } from "./submit";
import { isSettleCommit, ledgerDiscrepancies, makeJobWorld, type JobWorld } from "./testing";

/** Factory: a submitted job with one candidate, the worker it went to. */
async function submitted(w: JobWorld, o: { maxTokens?: number; maxPromptTokens?: number } = {}) {
  const a = await w.worker();
  const r = await w.requester();
  const { envelope, header, quote } = await w.sealedJob(r, { maxTokens: o.maxTokens ?? 32, maxPromptTokens: o.maxPromptTokens ?? 200 });
  await submitJob(w.deps, r.id, envelope, "key-00000001", quote);
  return { a, r, envelope, header };
}

const jobOf = (w: JobWorld, jobId: string) => w.store.get<JobItem>("jobs", jobKey(jobId));

async function refusal(p: Promise<unknown>) {
  const e = await p.then(
    () => undefined,
    (x) => x,
  );
  expect(e).toBeInstanceOf(CocoonError);
  return { status: e.status, code: e.code, message: e.message };
}

describe("postResult: bounds and refusals", () => {
  it("usage exactly at maxTokens and maxPromptTokens is billed", async () => {
    const w = makeJobWorld();
    const { a, envelope } = await submitted(w, { maxTokens: 16, maxPromptTokens: 50 });
    const out = await postResult(w.deps, a.id, w.completed(a, envelope, { usage: { promptTokens: 50, completionTokens: 16 } }));
    expect(out).toMatchObject({ status: "completed", duplicate: false });
  });

  it("weights raised after the submit (no registry: a redeploy's config) do not reprice the job: it is billed at the weights it was held under", async () => {
    // Prepare: the job was quoted and held at today's weights; a redeploy triples them
    const w = makeJobWorld();
    const { a, r, envelope, header } = await submitted(w, { maxTokens: 16, maxPromptTokens: 50 });
    const before = await w.balance(r.id);
    const p = w.deps.config.pricing;
    const job = (await w.store.get<JobItem>("jobs", jobKey(header.jobId)))!;
    const usage = { promptTokens: 10, completionTokens: 4 };
    const quoted = jobCost(p, BigInt(job.candidates[0]!.pricePerToken), usage);
    w.deps.config = { ...w.deps.config, pricing: { ...p, promptBps: p.promptBps * 3, completionBps: p.completionBps * 3 } };
    // Act
    const out = await postResult(w.deps, a.id, w.completed(a, envelope, { usage }));
    // Assess
    expect(job.weights).toEqual({ promptBps: p.promptBps, completionBps: p.completionBps });
    expect(quoted).toBeGreaterThan(0n);
    expect(out).toMatchObject({ status: "completed", cost: quoted.toString(), duplicate: false });
    expect(await w.balance(r.id)).toEqual({
      available: before.available + BigInt(header.maxCost) - quoted,
      held: before.held - BigInt(header.maxCost),
    });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("a job from before its weights were kept (none on the item), settled after the configured weights rose, is never charged past its hold", async () => {
    // Prepare: the item as a submit before session 38 wrote it without a registry, then weights tripled
    const w = makeJobWorld();
    const { a, r, envelope, header } = await submitted(w, { maxTokens: 16, maxPromptTokens: 50 });
    const before = await w.balance(r.id);
    const { weights: _kept, ...legacy } = (await w.store.get<JobItem>("jobs", jobKey(header.jobId)))!;
    await w.store.transact([{ op: "put", table: "jobs", item: legacy }]);
    const p = w.deps.config.pricing;
    w.deps.config = { ...w.deps.config, pricing: { ...p, promptBps: p.promptBps * 3, completionBps: p.completionBps * 3 } };
    // Act
    const out = await postResult(w.deps, a.id, w.completed(a, envelope, { usage: { promptTokens: 50, completionTokens: 16 } }));
    // Assess
    expect(out).toMatchObject({ status: "completed", cost: header.maxCost, duplicate: false });
    expect(await w.earned(a.id)).toBe(BigInt(header.maxCost));
    expect(await w.balance(r.id)).toEqual({ available: before.available, held: before.held - BigInt(header.maxCost) });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("an unknown job is 404; an attempt past the candidate list is 403 not_your_job (not a crash)", async () => {
    const w = makeJobWorld();
    const { a, envelope } = await submitted(w);
    expect(await refusal(postResult(w.deps, a.id, { ...w.completed(a, envelope), jobId: "job_" + "0".repeat(26) }))).toEqual({
      status: 404,
      code: "unknown_job",
      message: `no job job_${"0".repeat(26)}`,
    });
    expect(await refusal(postResult(w.deps, a.id, w.completed(a, envelope, { attempt: 5 })))).toEqual({
      status: 403,
      code: "not_your_job",
      message: "this job was not dispatched to you at that attempt",
    });
  });

  it("a receipt that does not match names the fields, comma-separated; a bad signature says whose key", async () => {
    const w = makeJobWorld();
    const { a, envelope } = await submitted(w);
    const other = await w.worker();
    const wrong = w.completed(a, envelope, { body: { model: "test/other", requestHash: "0".repeat(64) } });
    expect(await refusal(postResult(w.deps, a.id, wrong))).toMatchObject({
      status: 400,
      message: "receipt does not match the job: model, requestHash",
    });
    const forged = w.completed(a, envelope, { signer: other.signing });
    expect(await refusal(postResult(w.deps, a.id, forged))).toEqual({
      status: 403,
      code: "bad_receipt_signature",
      message: "receipt signature does not verify with your registered key",
    });
  });

  it("a failure report, or a result for another attempt, posted to a completed job is 409 stale_attempt, not a duplicate", async () => {
    const w = makeJobWorld();
    const { a, envelope, header } = await submitted(w);
    await postResult(w.deps, a.id, w.completed(a, envelope));
    const failed = { kind: "failed" as const, jobId: header.jobId, attempt: 0, code: "engine_error" as const };
    expect(await refusal(postResult(w.deps, a.id, failed))).toEqual({
      status: 409,
      code: "stale_attempt",
      message: `job ${header.jobId} is no longer assigned to you (status completed, attempt 0); the result is discarded`,
    });
  });

  it("a different result for a completed job is 409 result_differs, saying the accepted one stands", async () => {
    const w = makeJobWorld();
    const { a, envelope, header } = await submitted(w);
    await postResult(w.deps, a.id, w.completed(a, envelope, { text: "first" }));
    expect(await refusal(postResult(w.deps, a.id, w.completed(a, envelope, { text: "second" })))).toEqual({
      status: 409,
      code: "result_differs",
      message: `job ${header.jobId} was completed with another reply or receipt; the accepted result stands and nothing was changed`,
    });
  });
});

describe("postResult: what is stored and logged", () => {
  it("the job pins sha256 over canonicalJson({ reply, receipt }), with the reply made canonical once", async () => {
    // Prepare
    const w = makeJobWorld();
    const { a, envelope, header } = await submitted(w);
    const result = w.completed(a, envelope);
    // Act
    await postResult(w.deps, a.id, result);
    // Assess: the definition of issue 9 #8, spelled out (not through the helper the code uses)
    const digest = sha256Hex(canonicalJson({ reply: result.reply, receipt: result.receipt }));
    expect((await jobOf(w, header.jobId))?.resultDigest).toBe(digest);
    expect(await readReply(w.store, (await jobOf(w, header.jobId))!)).toMatchObject({
      ...replyKey(header.jobId, 0, digest),
      reply: result.reply,
      receipt: result.receipt,
    });
    expect(resultDigest(result.reply, result.receipt)).toBe(digest);
  });

  it("the reply item is kept RETAIN_SECONDS; the completion is logged with the cost and usage", async () => {
    const w = makeJobWorld();
    const { a, envelope, header } = await submitted(w);
    const result = w.completed(a, envelope, { usage: { promptTokens: 3, completionTokens: 4 } });
    const out = await postResult(w.deps, a.id, result);
    const item = await w.store.get("jobs", replyKey(header.jobId, 0, resultDigest(result.reply, result.receipt)));
    expect(item).toMatchObject({ ttl: Math.ceil(w.clock.now() / 1000) + RETAIN_SECONDS });
    expect(w.logs).toContainEqual({
      level: "info",
      msg: "job completed",
      data: { jobId: header.jobId, workerId: a.id, cost: out.cost, promptTokens: 3, completionTokens: 4 },
    });
  });

  it("a failure report stores its code and sealed text for the requester, kept RETAIN_SECONDS, and is logged by code only", async () => {
    const w = makeJobWorld();
    const { a, envelope, header } = await submitted(w);
    const sealed = w.completed(a, envelope).reply as never;
    await postResult(w.deps, a.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error", reply: sealed });
    expect(await w.store.get("jobs", failureKey(header.jobId, 0))).toMatchObject({
      workerId: a.id,
      code: "engine_error",
      reply: sealed,
      ttl: Math.ceil(w.clock.now() / 1000) + RETAIN_SECONDS,
    });
    expect(w.logs).toContainEqual({
      level: "warn",
      msg: "worker reported failure",
      data: { jobId: header.jobId, workerId: a.id, attempt: 0, code: "engine_error" },
    });
  });

  it("two failure reports at once: one moves the job on, the other is 409 stale_attempt", async () => {
    const w = makeJobWorld();
    const { a, header } = await submitted(w);
    const report = { kind: "failed" as const, jobId: header.jobId, attempt: 0, code: "engine_error" as const };
    const both = await Promise.allSettled([postResult(w.deps, a.id, report), postResult(w.deps, a.id, report)]);
    expect(both.filter((x) => x.status === "fulfilled")).toHaveLength(1);
    const lost = both.find((x) => x.status === "rejected") as PromiseRejectedResult;
    expect([lost.reason.status, lost.reason.code]).toEqual([409, "stale_attempt"]);
    expect(lost.reason.message).toBe(
      `job ${header.jobId} changed while the failure was recorded (it was completed or moved on); nothing was changed`,
    );
  });
});

describe("postResult: settlements that do not go through", () => {
  it("a store failure in the settlement is passed on, not turned into a 409", async () => {
    const w = makeJobWorld();
    const { a, envelope } = await submitted(w);
    const disk = new Error("disk on fire");
    const transact = w.store.transact;
    w.store.transact = async (ops: WriteOp[]) => {
      if (isSettleCommit(ops)) throw disk;
      return transact(ops);
    };
    await expect(postResult(w.deps, a.id, w.completed(a, envelope))).rejects.toBe(disk);
  });

  it("a hold gone from under a job still assigned is an error of the books (thrown, a 500), and the answer it wrote is removed", async () => {
    const w = makeJobWorld();
    const { a, r, envelope, header } = await submitted(w);
    // the books are wrong: the requester's held money vanished while the job is still assigned
    const held = (await w.balance(r.id)).held;
    await w.store.transact([{ op: "update", table: "accounts", key: { pk: `req:${r.id}`, sk: "balance" }, add: { held: -held } }]);
    const result = w.completed(a, envelope);
    await expect(postResult(w.deps, a.id, result)).rejects.toBeInstanceOf(OverdraftError);
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned" });
  });

  it("a job that vanished while the result settled is 409 stale_attempt (not a crash); the reply item is removed", async () => {
    const w = makeJobWorld();
    const { a, envelope, header } = await submitted(w);
    const result = w.completed(a, envelope);
    const transact = w.store.transact;
    w.store.transact = async (ops: WriteOp[]) => {
      if (isSettleCommit(ops)) {
        w.store.transact = transact;
        await transact([{ op: "delete", table: "jobs", key: jobKey(header.jobId) }]);
      }
      return transact(ops);
    };
    expect(await refusal(postResult(w.deps, a.id, result))).toEqual({
      status: 409,
      code: "stale_attempt",
      message: `job ${header.jobId} changed while the result was recorded (status undefined); the result is discarded`,
    });
    expect(await w.store.get("jobs", replyKey(header.jobId, 0, resultDigest(result.reply, result.receipt)))).toBeUndefined();
  });
});

describe("postResult: jobs completed before result digests existed", () => {
  /** A completed job as the old code left it: no resultDigest, its reply at reply#<attempt>. */
  async function legacyCompleted(w: JobWorld) {
    const { a, envelope, header } = await submitted(w);
    const result = w.completed(a, envelope);
    await postResult(w.deps, a.id, result);
    const digest = resultDigest(result.reply, result.receipt);
    await w.store.transact([
      { op: "update", table: "jobs", key: jobKey(header.jobId), set: { resultDigest: undefined } }, // undefined removes it
      { op: "delete", table: "jobs", key: replyKey(header.jobId, 0, digest) },
      { op: "put", table: "jobs", item: { ...replyKey(header.jobId, 0), reply: result.reply, receipt: result.receipt } },
    ]);
    return { a, envelope, header, result, digest };
  }

  it("an identical repost is a duplicate (compared with the legacy reply item), and writes no new reply item", async () => {
    const w = makeJobWorld();
    const { a, header, result, digest } = await legacyCompleted(w);
    expect((await jobOf(w, header.jobId))!.resultDigest).toBeUndefined();
    expect(await postResult(w.deps, a.id, result)).toMatchObject({ status: "completed", duplicate: true });
    expect(await w.store.get("jobs", replyKey(header.jobId, 0, digest))).toBeUndefined();
  });

  it("another result is 409 result_differs; without the legacy item too", async () => {
    const w = makeJobWorld();
    const { a, envelope, header } = await legacyCompleted(w);
    expect((await refusal(postResult(w.deps, a.id, w.completed(a, envelope, { text: "other" })))).code).toBe("result_differs");
    await w.store.transact([{ op: "delete", table: "jobs", key: replyKey(header.jobId, 0) }]);
    expect((await refusal(postResult(w.deps, a.id, w.completed(a, envelope)))).code).toBe("result_differs");
  });
});

describe("postResult: more edges", () => {
  it("a completed result for an earlier attempt of a job completed at a later one is 409 stale_attempt (not compared as a repost)", async () => {
    // Prepare: candidate 1 fails, candidate 2 completes
    const w = makeJobWorld();
    const workers = [await w.worker(), await w.worker()];
    const r = await w.requester();
    const { envelope, header, quote } = await w.sealedJob(r, { candidates: 2 });
    await submitJob(w.deps, r.id, envelope, "key-00000002", quote);
    const job = (await jobOf(w, header.jobId))!;
    const [first, second] = job.candidates.map((c) => workers.find((x) => x.id === c.workerId)!);
    await postResult(w.deps, first!.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error" });
    await postResult(w.deps, second!.id, w.completed(second!, envelope, { attempt: 1 }));
    // Act + Assess: the first comes back late with an answer for attempt 0
    expect((await refusal(postResult(w.deps, first!.id, w.completed(first!, envelope, { attempt: 0 })))).code).toBe("stale_attempt");
  });

  it("an identical repost puts back a reply item a crash lost", async () => {
    const w = makeJobWorld();
    const { a, envelope, header } = await submitted(w);
    const result = w.completed(a, envelope);
    await postResult(w.deps, a.id, result);
    const key = replyKey(header.jobId, 0, resultDigest(result.reply, result.receipt));
    await w.store.transact([{ op: "delete", table: "jobs", key }]);
    expect(await postResult(w.deps, a.id, result)).toMatchObject({ duplicate: true });
    expect(await readReply(w.store, (await jobOf(w, header.jobId))!)).toMatchObject({
      ...key,
      reply: result.reply,
      receipt: result.receipt,
    });
  });
});
