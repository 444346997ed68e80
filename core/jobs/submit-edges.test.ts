/**
 * core/jobs/submit.ts, edge by edge (issue 14, mutation-checked): a retry after the money moved
 * on is still answered (never a 402), under either kind of key; the SDK's key spelled out;
 * racing submits of two jobs under one key; the envelope size limit; changed price weights;
 * keys for unquoted or repeated candidates; header fields outside the quote named; store
 * failures passed on; what is stored and logged. prepare-submit.test.ts covers the main flows.
 */
import { describe, expect, it } from "vitest";
import type { WorkerItem } from "../workers";
import { CocoonError } from "../errors";
import type { WriteOp } from "../ports";
import { envelopeKey, jobKey, RETAIN_SECONDS, type JobItem } from "./items";
import { MAX_ENVELOPE_BYTES, submitJob } from "./submit";
import { isHoldCommit, makeJobWorld, seal, type JobWorld } from "./testing";

async function refusal(p: Promise<unknown>) {
  const e = await p.then(
    () => undefined,
    (x) => x,
  );
  expect(e).toBeInstanceOf(CocoonError);
  return { status: e.status, code: e.code, message: e.message, details: e.details };
}

const hpkeOf = async (w: JobWorld, workerId: string) =>
  (await w.store.get<WorkerItem>("workers", { pk: workerId, sk: "worker" }))!.hpkePublicKey;

describe("submitJob: retries", () => {
  it.each([
    ["the SDK's key (submit-<jobId>)", (jobId: string) => `submit-${jobId}`],
    ["a key of the caller's own", () => "my-own-key-0001"],
  ])("with %s, a retry after the account's money moved on is answered as the submit was (not 402)", async (_what, keyOf) => {
    // Prepare: an account with exactly one job's maximum
    const w = makeJobWorld();
    await w.worker();
    const probe = await w.sealedJob(await w.requester());
    const r = await w.requester(BigInt(probe.header.maxCost));
    const { envelope, header, quote } = await w.sealedJob(r);
    const first = await submitJob(w.deps, r.id, envelope, keyOf(header.jobId), quote);
    expect((await w.balance(r.id)).available).toBe(0n);
    // Act
    const again = await submitJob(w.deps, r.id, envelope, keyOf(header.jobId), quote);
    // Assess
    expect(first).toEqual({ jobId: header.jobId, status: "assigned", replayed: false });
    expect(again).toEqual({ jobId: header.jobId, status: "assigned", replayed: true });
  });

  it("the SDK's key, spelled out, writes no idempotency record; another key writes one", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const a = await w.sealedJob(r);
    await submitJob(w.deps, r.id, a.envelope, `submit-${a.header.jobId}`, a.quote);
    expect(w.store.scan("idempotency")).toHaveLength(0);
    expect(await w.store.get<JobItem>("jobs", jobKey(a.header.jobId))).toMatchObject({ keyedByJob: true });
    const b = await w.sealedJob(r);
    await submitJob(w.deps, r.id, b.envelope, "my-own-key-0002", b.quote);
    expect(w.store.scan("idempotency")).toEqual([expect.objectContaining({ pk: `${r.id}#my-own-key-0002`, jobId: b.header.jobId })]);
  });

  it("another account naming my job id under the SDK's key is 409 job_exists (or by another account), and holds nothing", async () => {
    const w = makeJobWorld();
    const worker = await w.worker();
    const mine = await w.requester();
    const { envelope, header, quote } = await w.sealedJob(mine);
    await submitJob(w.deps, mine.id, envelope, `submit-${header.jobId}`, quote);
    const thief = await w.requester();
    const theirs = await w.sealedJob(thief);
    const copy = seal({ ...theirs.header, jobId: header.jobId }, [{ workerId: worker.id, hpkePublicKey: await hpkeOf(w, worker.id) }]);
    expect(await refusal(submitJob(w.deps, thief.id, copy, `submit-${header.jobId}`, theirs.quote))).toMatchObject({
      status: 409,
      code: "job_exists",
      message: `job ${header.jobId} was already submitted with another Idempotency-Key (or by another account); pick a new job id`,
    });
    expect((await w.balance(thief.id)).held).toBe(0n);
  });

  it("two different jobs racing under one key of the caller's own: one is submitted, the other is 422, one hold", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const a = await w.sealedJob(r);
    const b = await w.sealedJob(r);
    const both = await Promise.allSettled([
      submitJob(w.deps, r.id, a.envelope, "shared-key-0001", a.quote),
      submitJob(w.deps, r.id, b.envelope, "shared-key-0001", b.quote),
    ]);
    expect(both.filter((x) => x.status === "fulfilled")).toHaveLength(1);
    const lost = both.find((x) => x.status === "rejected") as PromiseRejectedResult;
    expect([lost.reason.status, lost.reason.code, lost.reason.message]).toEqual([
      422,
      "idempotency_key_reused",
      "this Idempotency-Key was used for a different request body: use a new key for a new job",
    ]);
    expect((await w.balance(r.id)).held).toBe(BigInt(a.header.maxCost));
  });

  it("a job id already held under another key: 409 job_exists saying so", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const { envelope, header, quote } = await w.sealedJob(r);
    await submitJob(w.deps, r.id, envelope, "first-key-0001", quote);
    expect((await refusal(submitJob(w.deps, r.id, envelope, "second-key-0001", quote))).message).toBe(
      `job ${header.jobId} was already submitted with another Idempotency-Key; retry with the key you first used`,
    );
  });
});

describe("submitJob: refusals", () => {
  it("another requester in the header is 403, saying whose key it must be", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const other = await w.requester();
    const { envelope, quote } = await w.sealedJob(r);
    expect(await refusal(submitJob(w.deps, other.id, envelope, "k-requester-1", quote))).toMatchObject({
      status: 403,
      code: "requester_mismatch",
      message: "envelope.header.requester must be the key that signs this request",
    });
  });

  it(`an envelope over ${MAX_ENVELOPE_BYTES} bytes is 413 envelope_too_large; nothing held`, async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const { envelope, quote } = await w.sealedJob(r);
    const big = { ...envelope, payload: "A".repeat(MAX_ENVELOPE_BYTES) };
    expect(await refusal(submitJob(w.deps, r.id, big, "k-too-big-01", quote))).toMatchObject({
      status: 413,
      code: "envelope_too_large",
      message: `the envelope exceeds ${MAX_ENVELOPE_BYTES} bytes; shorten the prompt`,
    });
    expect((await w.balance(r.id)).held).toBe(0n);
  });

  it.each(["promptBps", "completionBps"] as const)(
    "a quote made under other price weights (%s changed) is 410 quote_expired",
    async (field) => {
      const w = makeJobWorld();
      await w.worker();
      const r = await w.requester();
      const { envelope, quote } = await w.sealedJob(r);
      w.deps.config = { ...w.deps.config, pricing: { ...w.deps.config.pricing, [field]: w.deps.config.pricing[field] + 1 } };
      expect(await refusal(submitJob(w.deps, r.id, envelope, "k-weights-01", quote))).toMatchObject({
        status: 410,
        code: "quote_expired",
        message: "the coordinator's price weights changed since this quote: prepare a fresh one",
      });
    },
  );

  it("keys for no quoted candidate, for one unquoted besides, or twice for one: 400 naming the quoted candidates", async () => {
    const w = makeJobWorld();
    const a = await w.worker();
    const stranger = await w.worker();
    const r = await w.requester();
    const { header, quote, prepared } = await w.sealedJob(r, { candidates: 1 });
    expect(prepared.candidates.map((c) => c.workerId)).toEqual([quote.candidates[0]!.workerId]);
    const quotedId = quote.candidates[0]!.workerId;
    const outsider = [a, stranger].find((x) => x.id !== quotedId)!;
    const to = async (ids: string[]) =>
      seal(header, await Promise.all(ids.map(async (id) => ({ workerId: id, hpkePublicKey: await hpkeOf(w, id) }))));
    const want = {
      status: 400,
      message: "envelope.keys must wrap the data key for distinct candidates of the quote only",
      details: { candidates: [quotedId] },
    };
    expect(await refusal(submitJob(w.deps, r.id, await to([outsider.id]), "k-keys-0001", quote))).toMatchObject(want);
    expect(await refusal(submitJob(w.deps, r.id, await to([quotedId, outsider.id]), "k-keys-0002", quote))).toMatchObject(want);
    const once = await to([quotedId]);
    const twice = { ...once, keys: [once.keys[0]!, once.keys[0]!] }; // sealing refuses a repeated worker: copied by hand
    expect(await refusal(submitJob(w.deps, r.id, twice, "k-keys-0003", quote))).toMatchObject(want);
  });

  it("a header outside the quote names every field, comma-separated", async () => {
    const w = makeJobWorld();
    const a = await w.worker();
    const r = await w.requester();
    const { header, quote } = await w.sealedJob(r, { maxPromptTokens: 100 });
    const wide = seal({ ...header, model: "test/other-model", maxPromptTokens: 101 }, [
      { workerId: a.id, hpkePublicKey: await hpkeOf(w, a.id) },
    ]);
    expect(await refusal(submitJob(w.deps, r.id, wide, "k-header-01", quote))).toMatchObject({
      status: 400,
      message: "envelope.header must stay within the quote; differs in: model, maxPromptTokens, maxCost", // more prompt tokens need a larger hold too
    });
  });
});

describe("submitJob: store and log", () => {
  it("the envelope item is kept RETAIN_SECONDS; the submit is logged with the job, model, candidates and maximum", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const { envelope, header, quote } = await w.sealedJob(r);
    await submitJob(w.deps, r.id, envelope, "k-stored-01", quote);
    expect(await w.store.get("jobs", envelopeKey(header.jobId))).toMatchObject({ ttl: Math.ceil(w.clock.now() / 1000) + RETAIN_SECONDS });
    expect(w.logs).toContainEqual({
      level: "info",
      msg: "job submitted",
      data: { jobId: header.jobId, model: header.model, candidates: 1, maxCost: header.maxCost },
    });
  });

  it("a store failure on the hold is passed on as it is (not a 402, not a duplicate)", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const { envelope, quote } = await w.sealedJob(r);
    const disk = new Error("disk on fire");
    const transact = w.store.transact;
    w.store.transact = async (ops: WriteOp[]) => {
      if (isHoldCommit(ops)) throw disk;
      return transact(ops);
    };
    await expect(submitJob(w.deps, r.id, envelope, "k-disk-0001", quote)).rejects.toBe(disk);
  });

  it("the lease check and the envelope both failing: the submit fails with the first, and nothing is left unhandled", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const { envelope, quote } = await w.sealedJob(r);
    const transact = w.store.transact;
    w.store.transact = async (ops: WriteOp[]) => {
      if (ops.some((op) => op.op === "put" && op.table === "jobs" && op.item.sk === "envelope")) {
        await new Promise((resolve) => setImmediate(resolve));
        throw new Error("envelope write failed");
      }
      return transact(ops);
    };
    w.queues.send = async () => {
      throw new Error("queue down");
    };
    await expect(submitJob(w.deps, r.id, envelope, "k-both-0001", quote)).rejects.toThrow("queue down");
    await new Promise((resolve) => setTimeout(resolve, 20)); // an unhandled rejection would surface here and fail the run
    expect((await w.balance(r.id)).held).toBe(0n);
  });
});

describe("submitJob: more edges", () => {
  it("three first submits at once with the SDK's key: one job, one hold, two replays", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const { envelope, header, quote } = await w.sealedJob(r);
    const all = await Promise.all([1, 2, 3].map(() => submitJob(w.deps, r.id, envelope, `submit-${header.jobId}`, quote)));
    expect(all.map((x) => x.jobId)).toEqual([header.jobId, header.jobId, header.jobId]);
    expect(all.filter((x) => !x.replayed)).toHaveLength(1);
    expect((await w.balance(r.id)).held).toBe(BigInt(header.maxCost));
  });

  it("another body under the SDK's key: 422, saying to use a new key", async () => {
    const w = makeJobWorld();
    const a = await w.worker();
    const r = await w.requester();
    const { envelope, header, quote } = await w.sealedJob(r);
    await submitJob(w.deps, r.id, envelope, `submit-${header.jobId}`, quote);
    const other = seal(header, [{ workerId: a.id, hpkePublicKey: await hpkeOf(w, a.id) }]);
    expect(await refusal(submitJob(w.deps, r.id, other, `submit-${header.jobId}`, quote))).toMatchObject({
      status: 422,
      code: "idempotency_key_reused",
      message: "this Idempotency-Key was used for a different request body: use a new key for a new job",
    });
  });

  it("another job under the key that names a submitted job: 422, and neither holds nor writes anything (found by the simulation)", async () => {
    // Prepare: a job submitted under the SDK's key, which writes no idempotency record
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const first = await w.sealedJob(r);
    await submitJob(w.deps, r.id, first.envelope, `submit-${first.header.jobId}`, first.quote);
    const second = await w.sealedJob(r);
    const held = (await w.balance(r.id)).held;
    const n = w.transacts.length;
    // Act: a different job (its own id) under the first job's key
    const refused = await refusal(submitJob(w.deps, r.id, second.envelope, `submit-${first.header.jobId}`, second.quote));
    // Assess
    expect(refused).toMatchObject({ status: 422, code: "idempotency_key_reused" });
    expect(refused!.message).toContain(`submit-${second.header.jobId}`);
    expect(w.transacts.length).toBe(n);
    expect((await w.balance(r.id)).held).toBe(held);
    expect(await w.store.get("jobs", { pk: second.header.jobId, sk: "job" })).toBeUndefined();
  });

  it("an idempotency record lives a day past the submit", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const { envelope, quote } = await w.sealedJob(r);
    await submitJob(w.deps, r.id, envelope, "k-ttl-00001", quote);
    expect(w.store.scan("idempotency")).toEqual([expect.objectContaining({ ttl: Math.ceil(w.clock.now() / 1000) + 86_400 })]);
  });

  it(`an envelope of exactly ${MAX_ENVELOPE_BYTES} bytes (canonical) is accepted`, async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const { envelope, quote } = await w.sealedJob(r);
    const { canonicalJson } = await import("../crypto/encoding");
    const base = canonicalJson({ ...envelope, payload: "" }).length;
    const exact = { ...envelope, payload: "A".repeat(MAX_ENVELOPE_BYTES - base) };
    expect(canonicalJson(exact).length).toBe(MAX_ENVELOPE_BYTES);
    expect(await submitJob(w.deps, r.id, exact, "k-exact-0001", quote)).toMatchObject({ status: "assigned" });
  });
});
