/**
 * core/jobs/prepare.ts edges (issue 14, mutation-checked): the requester's price cap reaches
 * the matcher, each 409 no_workers names why, an offer whose worker registration is gone is no
 * candidate, and the quote lives no longer than the EARLIEST evidence among its candidates.
 */
import { describe, expect, it } from "vitest";
import { MAX_HELD_ATTESTATIONS, PrepareRequest as PrepareRequestSchema } from "../../events/api";
import { attestationDigest } from "../attestation/digest";
import { CocoonError } from "../errors";
import { heartbeat, issueRegistrationNonce, registerWorker, type WorkerItem } from "../workers";
import { prepareJob, renewQuote } from "./prepare";
import { makeJobWorld, MODEL, refusal, registration, type JobWorld, prepareAsk } from "./testing";

const ask = prepareAsk;

const attestedUntil = async (w: JobWorld, workerId: string) =>
  (await w.store.get<WorkerItem>("workers", { pk: workerId, sk: "worker" }))!.attestationExpiresAt;

describe("prepareJob: the price cap", () => {
  it("a cap at the cheaper worker's price leaves only that worker; no cap offers both", async () => {
    // Prepare
    const w = makeJobWorld();
    const cheap = await w.worker(10_000);
    const dear = await w.worker(20_000);
    const r = await w.requester();
    const both = await prepareJob(w.deps, r.id, ask());
    const cheapPrice = BigInt(both.candidates.find((c) => c.workerId === cheap.id)!.pricePerToken);
    // Act
    const capped = await prepareJob(w.deps, r.id, ask({ maxPricePerToken: cheapPrice }));
    // Assess
    expect(both.candidates.map((c) => c.workerId).sort()).toEqual([cheap.id, dear.id].sort());
    expect(capped.candidates.map((c) => c.workerId)).toEqual([cheap.id]);
    expect(capped.quote.candidates.map((c) => c.workerId)).toEqual([cheap.id]);
    expect(BigInt(capped.maxCost)).toBeLessThan(BigInt(both.maxCost));
  });

  it("a cap below every price is 409 price_above_cap naming the cap and the cheapest price", async () => {
    const w = makeJobWorld();
    await w.worker(10_000);
    const r = await w.requester();
    const price = BigInt((await prepareJob(w.deps, r.id, ask({ candidates: 1 }))).candidates[0]!.pricePerToken);
    expect(await refusal(prepareJob(w.deps, r.id, ask({ maxPricePerToken: price - 1n })))).toEqual({
      status: 409,
      code: "price_above_cap",
      message: `no worker can take this job now: no live worker at or below ${price - 1n} nanoTON per token; the cheapest live one asks ${price}: raise maxPricePerToken to at least that, or wait for a cheaper worker`,
    });
  });
});

describe("prepareJob: no candidates", () => {
  it("no live offer in the asked tiers: 409 no_workers saying which tiers", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    expect(await refusal(prepareJob(w.deps, r.id, ask({ tiers: ["tdx"] })))).toEqual({
      status: 409,
      code: "no_workers",
      message: "no worker can take this job now: no live worker in tiers [tdx]",
    });
  });

  it("an offer whose worker registration is gone is no candidate; when it was the only one, 409 no_workers says so", async () => {
    // Prepare: two offers, then one worker's registration item disappears (its offer is still listed)
    const w = makeJobWorld();
    const kept = await w.worker();
    const gone = await w.worker();
    const r = await w.requester();
    await w.store.transact([{ op: "delete", table: "workers", key: { pk: gone.id, sk: "worker" } }]);
    // Act
    const one = await prepareJob(w.deps, r.id, ask());
    await w.store.transact([{ op: "delete", table: "workers", key: { pk: kept.id, sk: "worker" } }]);
    const none = await refusal(prepareJob(w.deps, r.id, ask()));
    // Assess
    expect(one.candidates.map((c) => c.workerId)).toEqual([kept.id]);
    expect(none).toEqual({
      status: 409,
      code: "no_workers",
      message: "no worker can take this job now: its registration is gone",
    });
  });
});

describe("prepareJob: documents the requester holds (PrepareRequest.held)", () => {
  /** w's store, counting the worker items and summaries read. */
  function counting(w: JobWorld) {
    const reads: string[] = [];
    const get = w.store.get.bind(w.store);
    w.deps.store = { ...w.store, get: (t, k, o) => (t === "workers" && reads.push(String(k.sk)), get(t, k, o)) } as typeof w.store;
    return reads;
  }
  const documentOf = async (w: JobWorld, workerId: string) =>
    (await w.store.get<WorkerItem>("workers", { pk: workerId, sk: "worker" }))!.attestation;

  it("a candidate whose current document is the one named comes back by its digest alone, read from its summary; the others with their documents", async () => {
    // Prepare: two workers; the requester holds the first one's document
    const w = makeJobWorld();
    const a = await w.worker();
    const b = await w.worker();
    const r = await w.requester();
    const heldDoc = await documentOf(w, a.id);
    const reads = counting(w);
    // Act
    const p = await prepareJob(w.deps, r.id, ask({ held: [{ workerId: a.id, attestationDigest: attestationDigest(heldDoc) }] }));
    // Assess: a named by digest with its keys and tier, b whole; one summary and one worker item read
    const byId = new Map(p.candidates.map((c) => [c.workerId, c]));
    expect(byId.get(a.id)).toEqual({
      workerId: a.id,
      hpkePublicKey: heldDoc.hpkePublicKey,
      attestationDigest: attestationDigest(heldDoc),
      pricePerToken: p.quote.candidates.find((c) => c.workerId === a.id)!.pricePerToken,
      tier: "dev",
      capacity: 4,
    });
    expect(byId.get(b.id)).toMatchObject({ workerId: b.id, attestation: await documentOf(w, b.id) });
    expect(reads.sort()).toEqual(["summary", "worker"]);
    expect(p.quote.candidates.find((c) => c.workerId === a.id)!.hpkePublicKey).toBe(heldDoc.hpkePublicKey);
  });

  it("a document named that is no longer the worker's (it registered again), or named for another worker: the current document, whole", async () => {
    // Prepare: the requester holds a's first document; a registers again (a new nonce: a new document)
    const w = makeJobWorld();
    const a = await w.worker();
    const b = await w.worker();
    const r = await w.requester();
    const old = attestationDigest(await documentOf(w, a.id));
    const { nonce } = await issueRegistrationNonce(w.deps, a.id);
    await registerWorker(w.deps, a.id, registration(w, a.signing, nonce));
    const current = await documentOf(w, a.id);
    // Act: a's old document, and b named with a's current one
    const p = await prepareJob(
      w.deps,
      r.id,
      ask({
        held: [
          { workerId: a.id, attestationDigest: old },
          { workerId: b.id, attestationDigest: attestationDigest(current) },
        ],
      }),
    );
    // Assess
    expect(attestationDigest(current)).not.toBe(old);
    const byId = new Map(p.candidates.map((c) => [c.workerId, c]));
    expect(byId.get(a.id)).toMatchObject({ attestation: current });
    expect(byId.get(b.id)).toMatchObject({ attestation: await documentOf(w, b.id) });
    expect(p.candidates.some((c) => "attestationDigest" in c)).toBe(false);
  });

  it("a worker whose summary predates digests (registered before them): its document, whole, from the worker item", async () => {
    // Prepare: the summary as registration wrote it before (no key, no digest)
    const w = makeJobWorld();
    const a = await w.worker();
    const r = await w.requester();
    const doc = await documentOf(w, a.id);
    const summary = (await w.store.get("workers", { pk: a.id, sk: "summary" }))!;
    const { hpkePublicKey: _k, attestationDigest: _d, ...older } = summary;
    await w.store.transact([{ op: "put", table: "workers", item: older }]);
    // Act
    const p = await prepareJob(w.deps, r.id, ask({ held: [{ workerId: a.id, attestationDigest: attestationDigest(doc) }] }));
    // Assess
    expect(p.candidates).toEqual([expect.objectContaining({ workerId: a.id, attestation: doc })]);
  });

  it("a worker with no summary at all (registered before summaries): its document, whole, from the worker item; both reads eventual (half the read units)", async () => {
    // Prepare: the summary item gone; every read of the workers table recorded with its consistency
    const w = makeJobWorld();
    const a = await w.worker();
    const r = await w.requester();
    const doc = await documentOf(w, a.id);
    await w.store.transact([{ op: "delete", table: "workers", key: { pk: a.id, sk: "summary" } }]);
    const reads: Array<{ sk: string; eventual: boolean }> = [];
    const get = w.store.get.bind(w.store);
    w.deps.store = {
      ...w.store,
      get: (t, k, o) => (t === "workers" && reads.push({ sk: String(k.sk), eventual: o?.eventual === true }), get(t, k, o)),
    } as typeof w.store;
    // Act
    const p = await prepareJob(w.deps, r.id, ask({ held: [{ workerId: a.id, attestationDigest: attestationDigest(doc) }] }));
    // Assess
    expect(p.candidates).toEqual([expect.objectContaining({ workerId: a.id, attestation: doc })]);
    expect(reads).toEqual([
      { sk: "summary", eventual: true },
      { sk: "worker", eventual: true },
    ]);
  });

  it("the request schema takes at most MAX_HELD_ATTESTATIONS (8) well-formed digests; older asks without held still parse", () => {
    const h = { workerId: "A".repeat(43), attestationDigest: "ab".repeat(32) };
    const base = { model: MODEL, maxTokens: 10, maxPromptTokens: 10 };
    expect(PrepareRequestSchema.safeParse({ ...base, held: Array.from({ length: MAX_HELD_ATTESTATIONS }, () => h) }).success).toBe(true);
    expect(PrepareRequestSchema.safeParse({ ...base, held: Array.from({ length: MAX_HELD_ATTESTATIONS + 1 }, () => h) }).success).toBe(
      false,
    );
    expect(PrepareRequestSchema.safeParse({ ...base, held: [{ ...h, attestationDigest: "AB".repeat(32) }] }).success).toBe(false);
    expect(PrepareRequestSchema.safeParse(base).success).toBe(true);
  });
});

describe("prepareJob: quote expiry", () => {
  it("the quote expires with the earliest evidence among its candidates, not the latest", async () => {
    // Prepare: A attested first, B ten minutes later; a quote TTL past both
    const w = makeJobWorld();
    const a = await w.worker();
    w.advance(600_000);
    const b = await w.worker();
    const r = await w.requester();
    const [untilA, untilB] = [await attestedUntil(w, a.id), await attestedUntil(w, b.id)];
    w.deps.config.quoteTtlSeconds = Math.ceil((untilB - w.clock.now()) / 1000) + 3600;
    // Act
    const p = await prepareJob(w.deps, r.id, ask());
    // Assess
    expect(untilA).toBeLessThan(untilB);
    expect(p.candidates).toHaveLength(2);
    expect(p.quote.expiresAt).toBe(untilA);
    expect(p.quoteExpiresAt).toBe(untilA);
  });

  it("with evidence that outlives it, the quote lives quoteTtlSeconds", async () => {
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const p = await prepareJob(w.deps, r.id, ask({ candidates: 1 }));
    expect(p.quoteExpiresAt).toBe(w.clock.now() + w.deps.config.quoteTtlSeconds * 1000);
  });
});

describe("renewQuote: the next quote a submit answers with (SubmitRequest.renew)", () => {
  it("answers the quote a prepare would, for the requester, and writes nothing", async () => {
    // Prepare
    const w = makeJobWorld();
    await w.worker(10_000);
    await w.worker(20_000);
    const r = await w.requester();
    const writes = w.transacts.length;
    // Act
    const next = await renewQuote(w.deps, r.id, ask());
    // Assess
    expect(next?.quote).toMatchObject({ requester: r.id, model: MODEL, maxTokens: 10, maxPromptTokens: 10 });
    expect(next?.candidates).toHaveLength(2);
    expect(w.transacts.length).toBe(writes);
  });

  it("says allLive when its candidates are every live worker that fits (a renewal could only name them again), not when there are more", async () => {
    // Prepare
    const w = makeJobWorld();
    await w.worker(10_000);
    await w.worker(20_000);
    const r = await w.requester();
    // Act
    const both = await prepareJob(w.deps, r.id, ask({ candidates: 2 }));
    const one = await prepareJob(w.deps, r.id, ask({ candidates: 1 }));
    const capped = await prepareJob(w.deps, r.id, ask({ candidates: 2, maxPricePerToken: BigInt(both.candidates[0]!.pricePerToken) }));
    // Assess
    expect(both.allLive).toBe(true);
    expect(one.allLive).toBeUndefined();
    expect(capped.candidates).toHaveLength(1);
    expect(capped.allLive).toBe(true); // the dearer one does not fit the cap
  });

  it("not allLive when busy workers were left out (the free ones fit in k): a renewal may name them once they are free", async () => {
    // Prepare: three workers, one reporting itself full
    const w = makeJobWorld();
    const [busy] = [await w.worker(), await w.worker(), await w.worker()];
    await heartbeat(w.deps, busy!.id, 4);
    const r = await w.requester();
    // Act
    const p = await prepareJob(w.deps, r.id, ask({ candidates: 2 }));
    // Assess
    expect(p.candidates.map((c) => c.workerId)).not.toContain(busy!.id);
    expect(p.allLive).toBeUndefined();
  });

  it("no worker free now: no quote and no error (the submit it rides on stands), logged as info", async () => {
    // Prepare
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    // Act
    const next = await renewQuote(w.deps, r.id, ask({ tiers: ["tdx"] }));
    // Assess
    expect(next).toBeUndefined();
    expect(w.logs).toContainEqual({ level: "info", msg: "quote not renewed", data: { requester: r.id, model: MODEL, code: "no_workers" } });
  });

  it("a refusal of 500 or above (the policy registry unreadable: 500, the boundary), or an error that is not ours whatever its status: no quote, logged as a warning", async () => {
    // Prepare
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const failures = [
      new CocoonError(500, "policy_unreadable", "the registry reading failed"),
      Object.assign(new Error("odd"), { status: 400 }),
    ];
    // Act
    const answers = [];
    for (const f of failures) {
      w.deps.policyRegistry = { current: () => Promise.reject(f) } as unknown as NonNullable<typeof w.deps.policyRegistry>;
      answers.push(await renewQuote(w.deps, r.id, ask()));
    }
    // Assess
    expect(answers).toEqual([undefined, undefined]);
    expect(w.logs.filter((l) => l.msg.startsWith("quote"))).toEqual([
      {
        level: "warn",
        msg: "quote renewal failed",
        data: { requester: r.id, model: MODEL, error: "CocoonError: the registry reading failed" },
      },
      { level: "warn", msg: "quote renewal failed", data: { requester: r.id, model: MODEL, error: "Error: odd" } },
    ]);
  });

  it("a store that fails: no quote and no error, logged as a warning", async () => {
    // Prepare
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    w.store.query = () => Promise.reject(new Error("throttled (injected)"));
    // Act
    const next = await renewQuote(w.deps, r.id, ask());
    // Assess
    expect(next).toBeUndefined();
    expect(w.logs.filter((l) => l.level === "warn")).toEqual([
      { level: "warn", msg: "quote renewal failed", data: { requester: r.id, model: MODEL, error: "Error: throttled (injected)" } },
    ]);
  });
});
