/**
 * core/jobs/prepare.ts edges (issue 14, mutation-checked): the requester's price cap reaches
 * the matcher, each 409 no_workers names why, an offer whose worker registration is gone is no
 * candidate, and the quote lives no longer than the EARLIEST evidence among its candidates.
 */
import { describe, expect, it } from "vitest";
import type { PrepareRequest } from "../../events/api";
import { CocoonError } from "../errors";
import { heartbeat, type WorkerItem } from "../workers";
import { prepareJob, renewQuote } from "./prepare";
import { makeJobWorld, MODEL, refusal, type JobWorld } from "./testing";

const ask = (o: Partial<PrepareRequest> = {}): PrepareRequest => ({
  model: MODEL,
  maxTokens: 10,
  maxPromptTokens: 10,
  tiers: ["dev"],
  candidates: 2,
  ...o,
});

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

  it("a cap below every price is 409 no_workers naming the cap", async () => {
    const w = makeJobWorld();
    await w.worker(10_000);
    const r = await w.requester();
    const price = BigInt((await prepareJob(w.deps, r.id, ask({ candidates: 1 }))).candidates[0]!.pricePerToken);
    expect(await refusal(prepareJob(w.deps, r.id, ask({ maxPricePerToken: price - 1n })))).toEqual({
      status: 409,
      code: "no_workers",
      message: `no worker can take this job now: no live worker at or below ${price - 1n} nanoTON per token; see GET /v1/models`,
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
      message: "no worker can take this job now: no live worker in tiers [tdx]; see GET /v1/models",
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
      message: "no worker can take this job now: its registration is gone; see GET /v1/models",
    });
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
