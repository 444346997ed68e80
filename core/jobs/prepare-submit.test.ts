/**
 * core/jobs prepare and submit over the in-memory store: the quote, the hold, idempotency,
 * and every refusal of a submit that does not match its quote.
 */
import { describe, expect, it } from "vitest";
import { newJobId } from "../ids";
import { maxJobCost } from "../pricing";
import { requestHash } from "../crypto/envelope";
import { prepareJob } from "./prepare";
import { jobIdempotencyKey, submitJob } from "./submit";
import { handleMatchingMessage } from "./dispatch";
import { pollJobs } from "./poll";
import { isHoldCommit, FUNDS, MODEL, makeJobWorld, seal } from "./testing";
import type { JobItem } from "./items";
import type { WorkerItem } from "../workers";

describe("prepareJob", () => {
  it("quotes the maxima at the dearest candidate in a MAC'd quote, writes nothing to the store, and moves no money", async () => {
    // Prepare
    const w = makeJobWorld();
    const cheap = await w.worker(10_000);
    const dear = await w.worker(20_000);
    const r = await w.requester();
    const writes = w.transacts.length;
    // Act
    const p = await prepareJob(w.deps, r.id, { model: MODEL, maxTokens: 100, maxPromptTokens: 50, tiers: ["dev"], candidates: 2 });
    // Assess
    const prices = p.candidates.map((c) => BigInt(c.pricePerToken));
    expect(p.candidates.map((c) => c.workerId).sort()).toEqual([cheap.id, dear.id].sort());
    expect(BigInt(p.maxCost)).toBe(maxJobCost(w.deps.config.pricing, prices, 50, 100));
    expect(BigInt(p.maxCost)).toBeGreaterThan(maxJobCost(w.deps.config.pricing, [prices.reduce((a, b) => (a < b ? a : b))], 50, 100));
    expect(p.quote).toMatchObject({
      requester: r.id,
      model: MODEL,
      maxTokens: 100,
      maxPromptTokens: 50,
      maxCost: p.maxCost,
      expiresAt: w.clock.now() + w.deps.config.quoteTtlSeconds * 1000,
    });
    expect(p.quote.candidates.map((c) => [c.workerId, c.pricePerToken])).toEqual(p.candidates.map((c) => [c.workerId, c.pricePerToken]));
    expect(w.transacts.length).toBe(writes);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
  });

  it("a quote expires no later than the evidence of any of its candidates", async () => {
    const w = makeJobWorld();
    const a = await w.worker();
    const r = await w.requester();
    const attested = (await w.store.get<WorkerItem>("workers", { pk: a.id, sk: "worker" }))!.attestationExpiresAt;
    w.deps.config.quoteTtlSeconds = Math.ceil((attested - w.clock.now()) / 1000) + 3600; // a TTL past the evidence
    const p = await prepareJob(w.deps, r.id, { model: MODEL, maxTokens: 1, maxPromptTokens: 1, tiers: ["dev"], candidates: 1 });
    expect(p.quote.expiresAt).toBe(attested);
  });

  it("answers 404 unknown_model for a model nobody offers, and 409 no_workers when no offer is live in the tiers", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const unknown = await prepareJob(w.deps, r.id, {
      model: "nobody/serves-this",
      maxTokens: 1,
      maxPromptTokens: 1,
      tiers: ["dev"],
      candidates: 1,
    }).catch((e) => e);
    const wrongTier = await prepareJob(w.deps, r.id, {
      model: MODEL,
      maxTokens: 1,
      maxPromptTokens: 1,
      tiers: ["tdx"],
      candidates: 1,
    }).catch((e) => e);
    expect(unknown).toMatchObject({ status: 404, code: "unknown_model" });
    expect(wrongTier).toMatchObject({ status: 409, code: "no_workers" });
  });
});

describe("submitJob", () => {
  it("holds the quoted maximum once, stores the job at attempt 0, dispatches it to the first candidate and queues its lease check", async () => {
    // Prepare
    const w = makeJobWorld();
    const a = await w.worker();
    const r = await w.requester();
    const { envelope, header, quote } = await w.sealedJob(r);
    // Act
    const out = await submitJob(w.deps, r.id, envelope, "key-00000001", quote);
    // Assess
    expect(out).toEqual({ jobId: header.jobId, status: "assigned", replayed: false });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - BigInt(header.maxCost), held: BigInt(header.maxCost) });
    const job = await w.store.get<JobItem>("jobs", { pk: header.jobId, sk: "job" });
    expect(job).toMatchObject({ status: "assigned", attempt: 0, candidates: [expect.objectContaining({ workerId: a.id })] });
    expect(w.queues.stats("matching").delayed).toBe(1);
    const polled = await pollJobs(w.deps, a.id, 0);
    expect(polled.jobs).toEqual([{ jobId: header.jobId, attempt: 0, envelope, deadline: job!.leaseUntil }]);
  });

  it("a retry with the same Idempotency-Key and body answers the same job, replayed; the money is held once", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const { envelope, header, quote } = await w.sealedJob(r);
    const first = await submitJob(w.deps, r.id, envelope, "key-00000001", quote);
    const writes = w.transacts.length;
    const again = await submitJob(w.deps, r.id, envelope, "key-00000001", quote);
    expect(first.replayed).toBe(false);
    expect(again).toEqual({ jobId: header.jobId, status: "assigned", replayed: true });
    expect((await w.balance(r.id)).held).toBe(BigInt(header.maxCost));
    expect(w.transacts.length).toBe(writes); // a replay writes nothing
    expect(w.queues.stats("matching").delayed).toBe(1); // and queues no second lease check
  });

  it("a retry that comes after the quote expired still answers the job it submitted", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const { envelope, header, quote } = await w.sealedJob(r);
    await submitJob(w.deps, r.id, envelope, "key-00000001", quote);
    w.advance(w.deps.config.quoteTtlSeconds * 1000 + 1);
    const again = await submitJob(w.deps, r.id, envelope, "key-00000001", quote);
    expect(again).toEqual({ jobId: header.jobId, status: "assigned", replayed: true });
  });

  it("the same Idempotency-Key with another body is 422 idempotency_key_reused; the same job under another key is 409 job_exists", async () => {
    // Prepare
    const w = makeJobWorld();
    const a = await w.worker();
    const r = await w.requester();
    const { envelope, header, quote } = await w.sealedJob(r);
    await submitJob(w.deps, r.id, envelope, "key-00000001", quote);
    const other = await w.sealedJob(r);
    const resealed = seal(header, [
      { workerId: a.id, hpkePublicKey: (await w.store.get("workers", { pk: a.id, sk: "worker" }))!.hpkePublicKey as string },
    ]);
    // Act
    const reused = await submitJob(w.deps, r.id, other.envelope, "key-00000001", other.quote).catch((e) => e);
    const otherKey = await submitJob(w.deps, r.id, resealed, "key-00000002", quote).catch((e) => e);
    // Assess
    expect(reused).toMatchObject({ status: 422, code: "idempotency_key_reused" });
    expect(otherKey).toMatchObject({ status: 409, code: "job_exists" });
    expect((await w.balance(r.id)).held).toBe(BigInt(header.maxCost));
  });

  it("refuses a header that differs from the quote (400, naming the fields), keys for non-candidates (400), another's quote (403), an expired quote (410)", async () => {
    // Prepare
    const w = makeJobWorld();
    const workers = [await w.worker(), await w.worker()];
    const r = await w.requester();
    const stranger = await w.requester();
    const { envelope, header, prepared, quote } = await w.sealedJob(r);
    const quoted = prepared.candidates[0]!;
    const outsider = workers.find((x) => x.id !== quoted.workerId)!;
    const aKey = { workerId: quoted.workerId, hpkePublicKey: quoted.hpkePublicKey };
    const outsiderKey = {
      workerId: outsider.id,
      hpkePublicKey: (await w.store.get("workers", { pk: outsider.id, sk: "worker" }))!.hpkePublicKey as string,
    };
    // Act
    const changed = await submitJob(
      w.deps,
      r.id,
      seal({ ...header, maxTokens: header.maxTokens + 1, maxCost: "1" }, [aKey]),
      "key-00000001",
      quote,
    ).catch((e) => e);
    const wrongKeys = await submitJob(w.deps, r.id, seal(header, [outsiderKey]), "key-00000002", quote).catch((e) => e);
    const notYours = await submitJob(w.deps, stranger.id, seal({ ...header, requester: stranger.id }, [aKey]), "key-00000003", quote).catch(
      (e) => e,
    );
    w.advance(w.deps.config.quoteTtlSeconds * 1000 + 1);
    const expired = await submitJob(w.deps, r.id, envelope, "key-00000004", quote).catch((e) => e);
    // Assess
    expect(changed).toMatchObject({ status: 400, code: "invalid_request", details: { fields: ["maxTokens", "maxCost"] } });
    expect(wrongKeys).toMatchObject({ status: 400, code: "invalid_request" });
    expect(notYours).toMatchObject({ status: 403, code: "not_your_quote" });
    expect(expired).toMatchObject({ status: 410, code: "quote_expired" });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(await w.store.get("jobs", { pk: header.jobId, sk: "job" })).toBeUndefined();
  });

  it("an envelope whose header names another requester than the signer is 403 requester_mismatch, even on the signer's own quote", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const { header, prepared, quote } = await w.sealedJob(r);
    const forged = seal({ ...header, requester: (await w.requester()).id }, prepared.candidates);
    const err = await submitJob(w.deps, r.id, forged, "key-00000001", quote).catch((e) => e);
    expect(err).toMatchObject({ status: 403, code: "requester_mismatch" });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
  });

  it("an account that cannot cover the maximum gets 402 insufficient_funds with the numbers; nothing is held and no job exists", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester(5n);
    const { envelope, header, quote } = await w.sealedJob(r);
    const err = await submitJob(w.deps, r.id, envelope, "key-00000001", quote).catch((e) => e);
    expect(err).toMatchObject({ status: 402, code: "insufficient_funds", details: { needed: header.maxCost, available: "5" } });
    expect(await w.balance(r.id)).toEqual({ available: 5n, held: 0n });
    expect(await w.store.get("jobs", { pk: header.jobId, sk: "job" })).toBeUndefined();
  });

  it("a forged quote is refused (403 bad_quote): a cheaper price, an added candidate, a later expiry, or another coordinator's key; nothing is held", async () => {
    // Prepare
    const w = makeJobWorld();
    const both = [await w.worker(), await w.worker()];
    const r = await w.requester();
    const { envelope, quote } = await w.sealedJob(r);
    const other = both.find((x) => x.id !== quote.candidates[0]!.workerId)!;
    const otherKey = (await w.store.get<WorkerItem>("workers", { pk: other.id, sk: "worker" }))!.hpkePublicKey;
    const candidate = quote.candidates[0]!;
    const cheaper = { ...quote, candidates: [{ ...candidate, pricePerToken: "1" }] };
    const added = {
      ...quote,
      candidates: [...quote.candidates, { workerId: other.id, hpkePublicKey: otherKey, pricePerToken: "1", tier: "dev" as const }],
    };
    const later = { ...quote, expiresAt: quote.expiresAt + 3_600_000 };
    const foreign = await prepareJob({ ...w.deps, config: { ...w.deps.config, quoteKey: "ab".repeat(32) } }, r.id, {
      model: MODEL,
      maxTokens: 32,
      maxPromptTokens: 200,
      tiers: ["dev"],
      candidates: 1,
    });
    // Act
    const outcomes = [];
    for (const [i, q] of [cheaper, added, later, foreign.quote].entries())
      outcomes.push(await submitJob(w.deps, r.id, envelope, `forged-key-${i}`, q).catch((e) => e));
    // Assess
    for (const o of outcomes) expect(o).toMatchObject({ status: 403, code: "bad_quote" });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(await w.store.get("jobs", { pk: envelope.header.jobId, sk: "job" })).toBeUndefined();
  });

  it("one quote serves many jobs, each under a job id of the requester's choosing; a job id is held once", async () => {
    // Prepare
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const { header, quote, prepared } = await w.sealedJob(r);
    const jobIds = [newJobId(w.clock.now()), newJobId(w.clock.now()), newJobId(w.clock.now())];
    const envelopes = jobIds.map((jobId) => seal({ ...header, jobId }, prepared.candidates));
    // Act
    const results = [];
    for (const [i, e] of envelopes.entries()) results.push(await submitJob(w.deps, r.id, e, `many-key-${i}`, quote));
    const again = await submitJob(w.deps, r.id, envelopes[0]!, "many-key-other", quote).catch((e) => e);
    // Assess
    expect(results.map((x) => x.jobId)).toEqual(jobIds);
    expect(again).toMatchObject({ status: 409, code: "job_exists" });
    expect((await w.balance(r.id)).held).toBe(3n * BigInt(header.maxCost));
  });

  it("the hold must cover the header's maxima at the dearest wrapped candidate and stay within the quote; smaller maxima hold less", async () => {
    // Prepare
    const w = makeJobWorld();
    await w.worker(10_000);
    await w.worker(30_000);
    const r = await w.requester();
    const { header, quote, prepared } = await w.sealedJob(r, { candidates: 2, maxTokens: 100, maxPromptTokens: 100 });
    const cheap = prepared.candidates.reduce((a, b) => (BigInt(a.pricePerToken) < BigInt(b.pricePerToken) ? a : b));
    const cost = (cands: typeof prepared.candidates, prompt: number, completion: number) =>
      maxJobCost(
        w.deps.config.pricing,
        cands.map((c) => BigInt(c.pricePerToken)),
        prompt,
        completion,
      );
    const small = { ...header, jobId: newJobId(w.clock.now()), maxTokens: 10, maxPromptTokens: 10 };
    // Act
    const tooLittle = await submitJob(
      w.deps,
      r.id,
      seal({ ...small, maxCost: (cost(prepared.candidates, 10, 10) - 1n).toString() }, prepared.candidates),
      "hold-key-1",
      quote,
    ).catch((e) => e);
    const tooMuch = await submitJob(
      w.deps,
      r.id,
      seal({ ...small, maxCost: (BigInt(quote.maxCost) + 1n).toString() }, prepared.candidates),
      "hold-key-2",
      quote,
    ).catch((e) => e);
    const onlyCheap = await submitJob(
      w.deps,
      r.id,
      seal({ ...small, maxCost: cost([cheap], 10, 10).toString() }, [cheap]),
      "hold-key-3",
      quote,
    );
    // Assess
    expect(tooLittle).toMatchObject({
      status: 400,
      details: { fields: ["maxCost"], neededMaxCost: cost(prepared.candidates, 10, 10).toString() },
    });
    expect(tooMuch).toMatchObject({ status: 400, details: { fields: ["maxCost"] } });
    expect(onlyCheap.status).toBe("assigned");
    expect((await w.balance(r.id)).held).toBe(cost([cheap], 10, 10));
  });

  it("the job tries its candidates in the order the envelope wraps them", async () => {
    const w = makeJobWorld();
    await w.worker();
    await w.worker();
    const r = await w.requester();
    const { header, quote, prepared } = await w.sealedJob(r, { candidates: 2 });
    const reversed = [...prepared.candidates].reverse();
    await submitJob(w.deps, r.id, seal(header, reversed), "order-key-1", quote);
    const job = await w.store.get<JobItem>("jobs", { pk: header.jobId, sk: "job" });
    expect(job!.candidates.map((c) => c.workerId)).toEqual(reversed.map((c) => c.workerId));
  });

  it("a key that names the job (submit-<jobId>) writes no idempotency record: the job item answers retries (202), another body (422) and other keys (409)", async () => {
    // Prepare
    const w = makeJobWorld();
    const a = await w.worker();
    const r = await w.requester();
    const { envelope, header, quote } = await w.sealedJob(r);
    const key = jobIdempotencyKey(header.jobId);
    const hpke = (await w.store.get<WorkerItem>("workers", { pk: a.id, sk: "worker" }))!.hpkePublicKey;
    // Act
    const first = await submitJob(w.deps, r.id, envelope, key, quote);
    const concurrent = await Promise.all([submitJob(w.deps, r.id, envelope, key, quote), submitJob(w.deps, r.id, envelope, key, quote)]);
    const otherBody = await submitJob(w.deps, r.id, seal(header, [{ workerId: a.id, hpkePublicKey: hpke }]), key, quote).catch((e) => e);
    const otherKey = await submitJob(w.deps, r.id, envelope, "another-key-1", quote).catch((e) => e);
    // Assess
    expect(first).toEqual({ jobId: header.jobId, status: "assigned", replayed: false });
    expect(concurrent).toEqual([
      { jobId: header.jobId, status: "assigned", replayed: true },
      { jobId: header.jobId, status: "assigned", replayed: true },
    ]);
    expect(otherBody).toMatchObject({ status: 422, code: "idempotency_key_reused" });
    expect(otherKey).toMatchObject({ status: 409, code: "job_exists" });
    expect(w.store.scan("idempotency")).toHaveLength(0);
    expect((await w.balance(r.id)).held).toBe(BigInt(header.maxCost));
  });

  it("a job submitted under another key is not answered to a later submit-<jobId> key: 409 job_exists", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const { envelope, header, quote } = await w.sealedJob(r);
    await submitJob(w.deps, r.id, envelope, "first-key-01", quote);
    const named = await submitJob(w.deps, r.id, envelope, jobIdempotencyKey(header.jobId), quote).catch((e) => e);
    expect(named).toMatchObject({ status: 409, code: "job_exists" });
  });
});

describe("submitJob: a committed job always has its envelope", () => {
  /** The process dies at the write that carries the envelope item (the commit, where the store keeps one): it never lands, and the submit never answers. */
  function crashOnEnvelopeWrite(w: ReturnType<typeof makeJobWorld>) {
    const transact = w.store.transact;
    w.store.transact = async (ops) => {
      if (ops.some((op) => op.op === "put" && op.table === "jobs" && op.item.sk === "envelope")) {
        w.store.transact = transact;
        throw new Error("the process died");
      }
      return transact(ops);
    };
  }

  it("envelope lost in a crash: a crash while the envelope is written, then the retried submit, leaves a job that its candidates can be handed", async () => {
    // Prepare: two candidates; the first submit dies writing the envelope
    const w = makeJobWorld();
    await w.worker();
    await w.worker();
    const r = await w.requester();
    const { envelope, header, quote } = await w.sealedJob(r, { candidates: 2 });
    crashOnEnvelopeWrite(w);
    const first = await submitJob(w.deps, r.id, envelope, "key-crash-0001", quote).catch((e: Error) => e);
    // Act: the requester retries; later the first candidate's lease runs out
    const retried = await submitJob(w.deps, r.id, envelope, "key-crash-0001", quote);
    const job = (await w.store.get<JobItem>("jobs", { pk: header.jobId, sk: "job" }))!;
    w.advance(job.leaseUntil - w.clock.now());
    const moved = await handleMatchingMessage(w.deps, { type: "lease", jobId: header.jobId, attempt: 0 });
    // Assess: the job has its envelope, and the second candidate is handed the job with it
    expect(first).toBeInstanceOf(Error);
    expect(retried).toMatchObject({ jobId: header.jobId, status: "assigned" });
    expect(await w.store.get("jobs", { pk: header.jobId, sk: "envelope" })).toMatchObject({ envelope });
    expect(moved).toBe("advanced");
    const polled = await pollJobs(w.deps, job.candidates[1]!.workerId, 0);
    expect(polled.jobs.map((j) => [j.jobId, j.attempt, j.envelope])).toEqual([[header.jobId, 1, envelope]]);
    expect((await w.balance(r.id)).held).toBe(BigInt(header.maxCost));
  });

  it("an earlier submit of this job id that never committed (another body) leaves no envelope; the commit that makes the job ours stores ours", async () => {
    // Prepare: body A's submit stored its envelope and died before its commit
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const { envelope: a, header, quote, prepared } = await w.sealedJob(r);
    const b = seal(header, prepared.candidates);
    const transact = w.store.transact;
    w.store.transact = async (ops) => {
      if (isHoldCommit(ops)) {
        w.store.transact = transact;
        throw new Error("the process died");
      }
      return transact(ops);
    };
    await submitJob(w.deps, r.id, a, "key-a-0001", quote).catch(() => undefined);
    const leftover = await w.store.get("jobs", { pk: header.jobId, sk: "envelope" });
    // Act: body B under the same job id commits; then A is sent again (a 409: the job is B's)
    await submitJob(w.deps, r.id, b, "key-b-0001", quote);
    const again = await submitJob(w.deps, r.id, a, "key-a-0002", quote).catch((e) => e);
    // Assess
    expect(leftover).toBeUndefined();
    expect(again).toMatchObject({ status: 409, code: "job_exists" });
    const job = (await w.store.get<JobItem>("jobs", { pk: header.jobId, sk: "job" }))!;
    expect(job.requestHash).toBe(requestHash(b));
    expect(await w.store.get("jobs", { pk: header.jobId, sk: "envelope" })).toMatchObject({ envelope: b });
  });
});
