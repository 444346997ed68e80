/**
 * core/jobs prepare and submit over the in-memory store: the quote, the hold, idempotency,
 * and every refusal of a submit that does not match its quote.
 */
import { describe, expect, it } from "vitest";
import { maxJobCost } from "../pricing";
import { prepareJob } from "./prepare";
import { submitJob } from "./submit";
import { pollJobs } from "./poll";
import { FUNDS, MODEL, makeJobWorld, seal } from "./testing";
import type { JobItem, QuoteItem } from "./items";

describe("prepareJob", () => {
  it("quotes the maxima at the dearest candidate, stores the quote, and moves no money", async () => {
    // Prepare
    const w = makeJobWorld();
    const cheap = await w.worker(10_000);
    const dear = await w.worker(20_000);
    const r = await w.requester();
    // Act
    const p = await prepareJob(w.deps, r.id, { model: MODEL, maxTokens: 100, maxPromptTokens: 50, tiers: ["dev"], candidates: 2 });
    // Assess
    const prices = p.candidates.map((c) => BigInt(c.pricePerToken));
    expect(p.candidates.map((c) => c.workerId).sort()).toEqual([cheap.id, dear.id].sort());
    expect(BigInt(p.maxCost)).toBe(maxJobCost(w.deps.config.pricing, prices, 50, 100));
    expect(BigInt(p.maxCost)).toBeGreaterThan(maxJobCost(w.deps.config.pricing, [prices.reduce((a, b) => (a < b ? a : b))], 50, 100));
    const quote = await w.store.get<QuoteItem>("quotes", { pk: p.jobId, sk: "quote" });
    expect(quote).toMatchObject({ requester: r.id, model: MODEL, maxCost: p.maxCost, expiresAt: w.clock.now() + w.deps.config.quoteTtlSeconds * 1000 });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
  });

  it("answers 404 unknown_model for a model nobody offers, and 409 no_workers when no offer is live in the tiers", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const unknown = await prepareJob(w.deps, r.id, { model: "nobody/serves-this", maxTokens: 1, maxPromptTokens: 1, tiers: ["dev"], candidates: 1 }).catch((e) => e);
    const wrongTier = await prepareJob(w.deps, r.id, { model: MODEL, maxTokens: 1, maxPromptTokens: 1, tiers: ["tdx"], candidates: 1 }).catch((e) => e);
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
    const { envelope, header } = await w.sealedJob(r);
    // Act
    const out = await submitJob(w.deps, r.id, envelope, "key-00000001");
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
    const { envelope, header } = await w.sealedJob(r);
    const first = await submitJob(w.deps, r.id, envelope, "key-00000001");
    const writes = w.transacts.length;
    const again = await submitJob(w.deps, r.id, envelope, "key-00000001");
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
    const { envelope, header } = await w.sealedJob(r);
    await submitJob(w.deps, r.id, envelope, "key-00000001");
    w.advance(w.deps.config.quoteTtlSeconds * 1000 + 1);
    const again = await submitJob(w.deps, r.id, envelope, "key-00000001");
    expect(again).toEqual({ jobId: header.jobId, status: "assigned", replayed: true });
  });

  it("the same Idempotency-Key with another body is 422 idempotency_key_reused; the same job under another key is 409 job_exists", async () => {
    // Prepare
    const w = makeJobWorld();
    const a = await w.worker();
    const r = await w.requester();
    const { envelope, header } = await w.sealedJob(r);
    await submitJob(w.deps, r.id, envelope, "key-00000001");
    const other = await w.sealedJob(r);
    const resealed = seal(header, [{ workerId: a.id, hpkePublicKey: (await w.store.get("workers", { pk: a.id, sk: "worker" }))!.hpkePublicKey as string }]);
    // Act
    const reused = await submitJob(w.deps, r.id, other.envelope, "key-00000001").catch((e) => e);
    const otherKey = await submitJob(w.deps, r.id, resealed, "key-00000002").catch((e) => e);
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
    const { envelope, header, prepared } = await w.sealedJob(r);
    const quoted = prepared.candidates[0]!;
    const outsider = workers.find((x) => x.id !== quoted.workerId)!;
    const aKey = { workerId: quoted.workerId, hpkePublicKey: quoted.hpkePublicKey };
    const outsiderKey = { workerId: outsider.id, hpkePublicKey: (await w.store.get("workers", { pk: outsider.id, sk: "worker" }))!.hpkePublicKey as string };
    // Act
    const changed = await submitJob(w.deps, r.id, seal({ ...header, maxTokens: header.maxTokens + 1, maxCost: "1" }, [aKey]), "key-00000001").catch((e) => e);
    const wrongKeys = await submitJob(w.deps, r.id, seal(header, [outsiderKey]), "key-00000002").catch((e) => e);
    const notYours = await submitJob(w.deps, stranger.id, seal({ ...header, requester: stranger.id }, [aKey]), "key-00000003").catch((e) => e);
    w.advance(w.deps.config.quoteTtlSeconds * 1000 + 1);
    const expired = await submitJob(w.deps, r.id, envelope, "key-00000004").catch((e) => e);
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
    const { header, prepared } = await w.sealedJob(r);
    const forged = seal({ ...header, requester: (await w.requester()).id }, prepared.candidates);
    const err = await submitJob(w.deps, r.id, forged, "key-00000001").catch((e) => e);
    expect(err).toMatchObject({ status: 403, code: "requester_mismatch" });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
  });

  it("an account that cannot cover the maximum gets 402 insufficient_funds with the numbers; nothing is held and no job exists", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester(5n);
    const { envelope, header } = await w.sealedJob(r);
    const err = await submitJob(w.deps, r.id, envelope, "key-00000001").catch((e) => e);
    expect(err).toMatchObject({ status: 402, code: "insufficient_funds", details: { needed: header.maxCost, available: "5" } });
    expect(await w.balance(r.id)).toEqual({ available: 5n, held: 0n });
    expect(await w.store.get("jobs", { pk: header.jobId, sk: "job" })).toBeUndefined();
  });
});
