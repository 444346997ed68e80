/**
 * core/jobs result acceptance over the in-memory store: a receipt is billed only when every
 * field matches the job and the worker's registration, its signature verifies with the
 * poster's key, and the poster is the candidate at that attempt; a job settles exactly once.
 * Each check below has a test that passes a result wrong in that one respect only (re-signed
 * by the poster), so removing the check makes that test fail.
 */
import { describe, expect, it } from "vitest";
import type { ReceiptBody } from "../../events/envelope";
import { generateSigningKey } from "../crypto/keys";
import { jobCost } from "../pricing";
import { handleMatchingMessage } from "./dispatch";
import type { JobItem } from "./items";
import { getJob } from "./read";
import { postResult } from "./results";
import { settleKeyOf } from "./settlement-token";
import { settlementMatches } from "../crypto/settlement";
import { isSettleCommit, FUNDS, makeJobWorld, type JobWorld, type TestWorker } from "./testing";

const jobOf = (w: JobWorld, jobId: string) => w.store.get<JobItem>("jobs", { pk: jobId, sk: "job" });

describe("a completed result is settled: cost from the receipt's usage, capped at the hold", () => {
  it("the worker is credited the cost, the requester keeps the rest of the hold, the requester reads the reply and receipt", async () => {
    // Prepare
    const w = makeJobWorld();
    const { r, header, envelope, workers, job } = await w.submitted();
    const a = workers[0]!;
    const result = w.completed(a, envelope, { usage: { promptTokens: 11, completionTokens: 13 } });
    // Act
    const out = await postResult(w.deps, a.id, result);
    // Assess
    const cost = jobCost(w.deps.config.pricing, BigInt(job.candidates[0]!.pricePerToken), { promptTokens: 11, completionTokens: 13 });
    // session 40: with the coordinator's settlement token, which verifies under the job's settle key (its submit's answer)
    const token = { jobId: header.jobId, attempt: 0, replyHash: result.receipt.body.replyHash, cost: cost.toString() };
    expect(out).toEqual({ status: "completed", cost: cost.toString(), settlement: expect.any(String), duplicate: false });
    expect(settlementMatches(settleKeyOf(w.deps.config, { jobId: header.jobId, requester: r.id }), token, out.settlement)).toBe(true);
    expect(await w.earned(a.id)).toBe(cost);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - cost, held: 0n });
    expect(await getJob(w.deps, r.id, header.jobId)).toMatchObject({
      status: "completed",
      cost: cost.toString(),
      reply: result.reply,
      receipt: result.receipt,
    });
    expect(await w.store.get("accounts", { pk: `wrk:${a.id}`, sk: "balance" })).toMatchObject({
      jobs: 1,
      promptTokens: 11,
      completionTokens: 13,
    });
  });
});

describe("receipt fields must match the job and the worker's registration (400, naming the field)", () => {
  /** Each case: a receipt wrong in one field only, signed by the posting worker. */
  const cases: Array<{
    field: string;
    body: (ctx: { other: TestWorker; header: { maxTokens: number; maxPromptTokens: number } }) => Partial<ReceiptBody>;
  }> = [
    { field: "jobId", body: () => ({ jobId: "job_00000000000000000000000000" }) },
    { field: "workerId", body: ({ other }) => ({ workerId: other.id }) },
    { field: "model", body: () => ({ model: "test/another-model" }) },
    { field: "requestHash", body: () => ({ requestHash: "0".repeat(64) }) },
    { field: "replyHash", body: () => ({ replyHash: "1".repeat(64) }) },
    {
      field: "usage.completionTokens exceeds maxTokens",
      body: ({ header }) => ({ usage: { promptTokens: 1, completionTokens: header.maxTokens + 1 } }),
    },
    {
      field: "usage.promptTokens exceeds maxPromptTokens",
      body: ({ header }) => ({ usage: { promptTokens: header.maxPromptTokens + 1, completionTokens: 1 } }),
    },
    { field: "measurement", body: () => ({ measurement: "a".repeat(96) }) },
  ];

  for (const c of cases) {
    it(`a receipt with another ${c.field} is refused and moves no money`, async () => {
      // Prepare
      const w = makeJobWorld();
      const { r, header, envelope, workers } = await w.submitted();
      const other = await w.worker();
      const a = workers[0]!;
      const result = w.completed(a, envelope, { body: c.body({ other, header }) });
      // Act
      const err = await postResult(w.deps, a.id, result).catch((e) => e);
      // Assess
      expect(err).toMatchObject({ status: 400, code: "invalid_request", details: { fields: [c.field] } });
      expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 0 });
      expect(await w.balance(r.id)).toEqual({ available: FUNDS - BigInt(header.maxCost), held: BigInt(header.maxCost) });
      expect(await w.earned(a.id)).toBe(0n);
    });
  }
});

describe("the receipt's signature must verify with the poster's key (403 bad_receipt_signature)", () => {
  it("a receipt signed by another key is refused and moves no money", async () => {
    const w = makeJobWorld();
    const { header, envelope, workers } = await w.submitted();
    const a = workers[0]!;
    const err = await postResult(w.deps, a.id, w.completed(a, envelope, { signer: generateSigningKey() })).catch((e) => e);
    expect(err).toMatchObject({ status: 403, code: "bad_receipt_signature" });
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned" });
    expect(await w.earned(a.id)).toBe(0n);
  });

  it("a receipt whose usage was lowered after signing is refused", async () => {
    const w = makeJobWorld();
    const { envelope, workers } = await w.submitted();
    const a = workers[0]!;
    const signed = w.completed(a, envelope, { usage: { promptTokens: 100, completionTokens: 30 } });
    const tampered = {
      ...signed,
      receipt: { ...signed.receipt, body: { ...signed.receipt.body, usage: { promptTokens: 1, completionTokens: 1 } } },
    };
    const err = await postResult(w.deps, a.id, tampered).catch((e) => e);
    expect(err).toMatchObject({ status: 403, code: "bad_receipt_signature" });
  });
});

describe("only the candidate at the job's current attempt can post for it", () => {
  it("the second candidate posting for attempt 0 (its own key, its own receipt) is 403 not_your_job; a stranger worker too", async () => {
    // Prepare
    const w = makeJobWorld();
    const { header, envelope, workers } = await w.submitted(2);
    const stranger = await w.worker();
    const b = workers[1]!;
    // Act
    const byB = await postResult(w.deps, b.id, w.completed(b, envelope, { attempt: 0 })).catch((e) => e);
    const byStranger = await postResult(w.deps, stranger.id, w.completed(stranger, envelope, { attempt: 0 })).catch((e) => e);
    // Assess
    expect(byB).toMatchObject({ status: 403, code: "not_your_job" });
    expect(byStranger).toMatchObject({ status: 403, code: "not_your_job" });
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 0 });
    expect(await w.earned(b.id)).toBe(0n);
  });

  it("the first candidate's result after its lease moved the job on is 409 stale_attempt, and it costs no store write", async () => {
    // Prepare
    const w = makeJobWorld();
    const { header, envelope, workers, job } = await w.submitted(2);
    const a = workers[0]!;
    w.advance(job.leaseUntil - w.clock.now());
    await handleMatchingMessage(w.deps, { type: "lease", jobId: header.jobId, attempt: 0 });
    const writes = w.transacts.length;
    // Act
    const late = await postResult(w.deps, a.id, w.completed(a, envelope, { attempt: 0 })).catch((e) => e);
    // Assess
    expect(late).toMatchObject({ status: 409, code: "stale_attempt" });
    expect(w.transacts.length).toBe(writes);
    expect(await w.earned(a.id)).toBe(0n);
  });

  it("a result whose job moves on while it is being settled is 409 stale_attempt; the hold stays for the next candidate", async () => {
    // Prepare: the lease check runs between the post's read of the job and its settlement
    const w = makeJobWorld();
    const { r, header, envelope, workers, job } = await w.submitted(2);
    const a = workers[0]!;
    w.advance(job.leaseUntil - w.clock.now());
    const transact = w.store.transact;
    w.store.transact = async (ops) => {
      if (isSettleCommit(ops, header.jobId)) {
        w.store.transact = transact;
        await handleMatchingMessage(w.deps, { type: "lease", jobId: header.jobId, attempt: 0 });
      }
      return transact(ops);
    };
    // Act
    const err = await postResult(w.deps, a.id, w.completed(a, envelope, { attempt: 0 })).catch((e) => e);
    // Assess
    expect(err).toMatchObject({ status: 409, code: "stale_attempt" });
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 1 });
    expect(await w.earned(a.id)).toBe(0n);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - BigInt(header.maxCost), held: BigInt(header.maxCost) });
  });

  it("a result for a refunded job is 409 stale_attempt and costs no store write", async () => {
    const w = makeJobWorld();
    const { header, envelope, workers } = await w.submitted(1);
    const a = workers[0]!;
    await postResult(w.deps, a.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error" });
    const writes = w.transacts.length;
    const late = await postResult(w.deps, a.id, w.completed(a, envelope)).catch((e) => e);
    expect(late).toMatchObject({ status: 409, code: "stale_attempt" });
    expect(w.transacts.length).toBe(writes);
  });
});

describe("a settled job always has its answer", () => {
  it("answer lost after payment: a crash while the reply is written, then the agent dies; the requester is never charged for an answer it cannot read", async () => {
    // Prepare: the process dies while it writes the reply item; the agent never posts again
    const w = makeJobWorld();
    const { r, header, envelope, workers, job } = await w.submitted();
    const a = workers[0]!;
    const transact = w.store.transact;
    w.store.transact = async (ops) => {
      if (ops.some((op) => op.op === "put" && op.table === "jobs" && op.item.sk.startsWith("reply#"))) {
        w.store.transact = transact;
        throw new Error("the process died");
      }
      return transact(ops);
    };
    const posted = await postResult(w.deps, a.id, w.completed(a, envelope)).catch((e: Error) => e);
    // Act: what the requester reads now, and after the lease ran out
    const now = await getJob(w.deps, r.id, header.jobId);
    w.advance(job.leaseUntil - w.clock.now());
    await handleMatchingMessage(w.deps, { type: "lease", jobId: header.jobId, attempt: 0 });
    const later = await getJob(w.deps, r.id, header.jobId);
    // Assess: charged only with the answer readable; here nothing was charged and the hold came back
    expect(posted).toBeInstanceOf(Error);
    for (const view of [now, later]) if (view.status === "completed") expect(view.reply).toBeDefined();
    expect(now.status).toBe("assigned");
    expect(later).toMatchObject({ status: "refunded", outcome: "expired" });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(await w.earned(a.id)).toBe(0n);
  });

  it("the same result posted again after such a crash settles it, with its answer", async () => {
    // Prepare
    const w = makeJobWorld();
    const { r, header, envelope, workers } = await w.submitted();
    const a = workers[0]!;
    const result = w.completed(a, envelope);
    const transact = w.store.transact;
    w.store.transact = async (ops) => {
      if (isSettleCommit(ops, header.jobId)) {
        w.store.transact = transact;
        throw new Error("the process died"); // the reply item is stored, the settlement never ran
      }
      return transact(ops);
    };
    await postResult(w.deps, a.id, result).catch(() => undefined);
    // Act
    const again = await postResult(w.deps, a.id, result);
    // Assess
    expect(again).toMatchObject({ status: "completed", duplicate: false });
    const view = await getJob(w.deps, r.id, header.jobId);
    expect({ reply: view.reply, receipt: view.receipt }).toEqual({ reply: result.reply, receipt: result.receipt });
    expect(await w.store.query("jobs", header.jobId, { skPrefix: "reply#" })).toHaveLength(1);
  });
});

describe("a job settles exactly once", () => {
  it("five concurrent identical posts: one settles, four are told duplicate; the money moves once", async () => {
    // Prepare
    const w = makeJobWorld();
    const { r, header, envelope, workers } = await w.submitted();
    const a = workers[0]!;
    const result = w.completed(a, envelope);
    // Act
    const outs = await Promise.all(Array.from({ length: 5 }, () => postResult(w.deps, a.id, result)));
    const later = await postResult(w.deps, a.id, result);
    // Assess
    const cost = BigInt(outs[0]!.cost!);
    expect(outs.filter((o) => !o.duplicate)).toHaveLength(1);
    expect(outs.every((o) => o.status === "completed" && o.cost === cost.toString())).toBe(true);
    expect(later).toEqual({ status: "completed", cost: cost.toString(), settlement: outs[0]!.settlement, duplicate: true });
    expect(outs.every((o) => o.settlement === later.settlement)).toBe(true); // session 40: every answer to it carries the same token
    expect(await w.earned(a.id)).toBe(cost);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - cost, held: 0n });
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "completed" });
    expect(await w.store.get("accounts", { pk: `wrk:${a.id}`, sk: "balance" })).toMatchObject({ jobs: 1 });
  });

  it("two different results posted at once: one is accepted, the other is 409; a later different post is 409 result_differs and changes nothing", async () => {
    // Prepare
    const w = makeJobWorld();
    const { r, header, envelope, workers } = await w.submitted();
    const a = workers[0]!;
    const one = w.completed(a, envelope, { text: "one", usage: { promptTokens: 5, completionTokens: 7 } });
    const two = w.completed(a, envelope, { text: "two", usage: { promptTokens: 5, completionTokens: 9 } });
    // Act
    const race = await Promise.allSettled([postResult(w.deps, a.id, one), postResult(w.deps, a.id, two)]);
    const winner = race[0]!.status === "fulfilled" ? one : two;
    const loser = winner === one ? two : one;
    const retryLoser = await postResult(w.deps, a.id, loser).catch((e) => e);
    // Assess
    expect(race.filter((x) => x.status === "fulfilled")).toHaveLength(1);
    expect(race.find((x) => x.status === "rejected")).toMatchObject({ reason: { status: 409 } });
    expect(retryLoser).toMatchObject({ status: 409, code: "result_differs" });
    const view = await getJob(w.deps, r.id, header.jobId);
    expect(view.receipt).toEqual(winner.receipt);
    const cost = BigInt(view.cost!);
    expect(await w.earned(a.id)).toBe(cost);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - cost, held: 0n });
    expect(await w.store.query("jobs", header.jobId, { skPrefix: "reply#" })).toHaveLength(1);
  });
});
