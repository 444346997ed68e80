/**
 * core/workers.ts on the in-memory store (issue 14): registration binds the worker's keys to a
 * fresh single-use nonce and writes the worker, its offers and the model list; heartbeats and
 * liveness; matching (live, tier, price cap, capacity, order, k); the models listing; a
 * worker's own status. Abuse limits are in core/registration.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { ModelCapabilities } from "../events/api";
import { b64u } from "./crypto/encoding";
import { generateKemKey, generateSigningKey } from "./crypto/keys";
import { CocoonError } from "./errors";
import { MODEL, makeJobWorld, offerAt, registered, registration, setOffer, type JobWorld } from "./jobs/testing";
import { applyMovement, workerAccount } from "./ledger";
import type { Store } from "./ports";
import { pricePerToken } from "./pricing";
import {
  candidatesFor,
  heartbeat,
  isLive,
  issueRegistrationNonce,
  listModels,
  markSuspect,
  matchCandidates,
  registerWorker,
  requireWorker,
  workerStatus,
  type WorkerItem,
} from "./workers";

const OTHER = "test/model-2";
const CAPS: ModelCapabilities = {
  chat: true,
  completions: true,
  embeddings: false,
  streaming: true,
  tools: true,
  jsonSchema: false,
  contextLength: 4096,
};

async function codeOf(p: Promise<unknown>) {
  const e = await p.then(
    () => undefined,
    (x) => x,
  );
  expect(e).toBeInstanceOf(CocoonError);
  return [e.status, e.code];
}

describe("registration", () => {
  it("a nonce lives 5 minutes in the store, one per worker", async () => {
    const w = makeJobWorld();
    const key = generateSigningKey();
    const n = await issueRegistrationNonce(w.deps, key.id);
    expect(n.expiresAt).toBe(w.clock.now() + 5 * 60_000);
    expect(b64u.decode(n.nonce)).toHaveLength(32);
    expect(await w.store.get("nonces", { pk: `reg#${key.id}`, sk: "n" })).toMatchObject({
      nonce: n.nonce,
      ttl: Math.ceil(n.expiresAt / 1000),
    });
    const again = await issueRegistrationNonce(w.deps, key.id);
    expect(again.nonce).not.toBe(n.nonce);
  });

  it("writes the worker, one offer per model (price per token from its bps) and the model list; the nonce is used up", async () => {
    // Prepare
    const w = makeJobWorld();
    const key = generateSigningKey();
    const { nonce } = await issueRegistrationNonce(w.deps, key.id);
    const req = registration(w, key, nonce, {
      models: [
        { model: MODEL, priceBps: 12_000, capabilities: CAPS },
        { model: OTHER, priceBps: 8_000 },
      ],
      capacity: 3,
    });
    // Act
    const out = await registerWorker(w.deps, key.id, req);
    // Assess
    expect(out).toMatchObject({ workerId: key.id, tier: "dev", models: [MODEL, OTHER], heartbeatSeconds: w.deps.config.heartbeatSeconds });
    expect(await w.store.get<WorkerItem>("workers", { pk: key.id, sk: "worker" })).toMatchObject({
      workerId: key.id,
      tier: "dev",
      models: [MODEL, OTHER],
      capacity: 3,
      hpkePublicKey: req.attestation.hpkePublicKey,
      lastHeartbeat: w.clock.now(),
      registeredAt: w.clock.now(),
    });
    const o = await offerAt(w, MODEL, key.id);
    expect(o).toMatchObject({
      workerId: key.id,
      model: MODEL,
      priceBps: 12_000,
      tier: "dev",
      capacity: 3,
      load: 0,
      capabilities: CAPS,
      lastHeartbeat: w.clock.now(),
    });
    expect(BigInt(o!.pricePerToken)).toBe(pricePerToken(w.deps.config.pricing, MODEL, 12_000));
    expect(await offerAt(w, OTHER, key.id)).not.toHaveProperty("capabilities");
    expect((await w.store.query("offers", "*")).map((i) => i.sk).sort()).toEqual([MODEL, OTHER].sort());
    expect(await w.store.get("nonces", { pk: `reg#${key.id}`, sk: "n" })).toBeUndefined();
    // the nonce was single use
    expect(await codeOf(registerWorker(w.deps, key.id, req))).toEqual([401, "bad_registration_nonce"]);
  });

  it("re-registration keeps the first registration time and withdraws the offers of models no longer listed", async () => {
    const w = makeJobWorld();
    const { key } = await registered(w, {
      models: [
        { model: MODEL, priceBps: 10_000 },
        { model: OTHER, priceBps: 10_000 },
      ],
    });
    const first = w.clock.now();
    w.advance(60_000);
    const { nonce } = await issueRegistrationNonce(w.deps, key.id);
    await registerWorker(w.deps, key.id, registration(w, key, nonce, { models: [{ model: OTHER, priceBps: 9_000 }] }));
    expect(await w.store.get<WorkerItem>("workers", { pk: key.id, sk: "worker" })).toMatchObject({
      registeredAt: first,
      lastHeartbeat: first + 60_000,
      models: [OTHER],
    });
    expect(await offerAt(w, MODEL, key.id)).toBeUndefined();
    expect(await offerAt(w, OTHER, key.id)).toMatchObject({ priceBps: 9_000 });
  });

  it("refuses evidence for another key (403 key_mismatch), a nonce never issued or of another worker (401), and evidence that does not verify (403 attestation_*)", async () => {
    const w = makeJobWorld();
    const key = generateSigningKey();
    const other = generateSigningKey();
    const { nonce } = await issueRegistrationNonce(w.deps, key.id);
    const { nonce: othersNonce } = await issueRegistrationNonce(w.deps, other.id);
    expect(await codeOf(registerWorker(w.deps, key.id, registration(w, other, nonce)))).toEqual([403, "key_mismatch"]);
    expect(await codeOf(registerWorker(w.deps, key.id, registration(w, key, othersNonce)))).toEqual([401, "bad_registration_nonce"]);
    expect(await codeOf(registerWorker(w.deps, generateSigningKey().id, registration(w, key, nonce)))).toEqual([403, "key_mismatch"]);
    const stale = registration(w, key, nonce);
    stale.attestation = { ...stale.attestation, hpkePublicKey: b64u.encode(generateKemKey().publicKey) }; // not what the evidence binds
    const [status, code] = await codeOf(registerWorker(w.deps, key.id, stale));
    expect(status).toBe(403);
    expect(code).toMatch(/^attestation_/);
    expect(await w.store.get("workers", { pk: key.id, sk: "worker" })).toBeUndefined();
  });

  it("dev evidence is refused where the config does not allow it", async () => {
    const w = makeJobWorld();
    w.deps.config = { ...w.deps.config, allowDevAttestation: false };
    const key = generateSigningKey();
    const { nonce } = await issueRegistrationNonce(w.deps, key.id);
    const [status, code] = await codeOf(registerWorker(w.deps, key.id, registration(w, key, nonce)));
    expect([status, String(code).startsWith("attestation_")]).toEqual([403, true]);
  });

  it("requireWorker: the registered worker, or 403 not_a_worker", async () => {
    const w = makeJobWorld();
    const { key } = await registered(w);
    expect((await requireWorker(w.deps, key.id)).workerId).toBe(key.id);
    expect(await codeOf(requireWorker(w.deps, generateSigningKey().id))).toEqual([403, "not_a_worker"]);
  });
});

describe("heartbeats and liveness", () => {
  it("a heartbeat stamps every offer with the time and the load; offline takes the worker off the lists at once", async () => {
    const w = makeJobWorld();
    const { key } = await registered(w, {
      models: [
        { model: MODEL, priceBps: 10_000 },
        { model: OTHER, priceBps: 10_000 },
      ],
    });
    w.advance(5_000);
    const r = await heartbeat(w.deps, key.id, 3);
    expect(r).toMatchObject({ ok: true, heartbeatSeconds: w.deps.config.heartbeatSeconds });
    for (const m of [MODEL, OTHER]) expect(await offerAt(w, m, key.id)).toMatchObject({ lastHeartbeat: w.clock.now(), load: 3 });
    await heartbeat(w.deps, key.id, 0, true);
    for (const m of [MODEL, OTHER]) expect((await offerAt(w, m, key.id))!.lastHeartbeat).toBe(0);
    expect(await codeOf(heartbeat(w.deps, generateSigningKey().id, 0))).toEqual([403, "not_a_worker"]);
  });

  it("markSuspect of an offer that is gone is a no-op", async () => {
    const w = makeJobWorld();
    await expect(markSuspect(w.deps, MODEL, "nobody")).resolves.toBeUndefined();
    expect(await offerAt(w, MODEL, "nobody")).toBeUndefined();
  });

  it("isLive: a heartbeat exactly livenessMs old counts, one ms older does not; evidence must not have expired", () => {
    const now = 1_000_000;
    expect(isLive({ lastHeartbeat: now - 500, attestationExpiresAt: now + 1 }, now, 500)).toBe(true);
    expect(isLive({ lastHeartbeat: now - 501, attestationExpiresAt: now + 1 }, now, 500)).toBe(false);
    expect(isLive({ lastHeartbeat: now, attestationExpiresAt: now }, now, 500)).toBe(false);
  });
});

describe("matching", () => {
  async function three(w: JobWorld) {
    const a = await registered(w, { models: [{ model: MODEL, priceBps: 10_000 }] });
    const b = await registered(w, { models: [{ model: MODEL, priceBps: 20_000 }] });
    const c = await registered(w, { models: [{ model: MODEL, priceBps: 15_000 }] });
    return [a.key.id, b.key.id, c.key.id] as const;
  }

  it("least loaded first, then cheapest; at most k", async () => {
    const w = makeJobWorld();
    const [a, b, c] = await three(w);
    await setOffer(w, MODEL, a, { load: 2 }); // 2/4 loaded
    const m = await matchCandidates(w.deps, { model: MODEL, tiers: ["dev"], k: 3 });
    expect(m.offers.map((o) => o.workerId)).toEqual([c, b, a]);
    // k = 1 is a power-of-two choice between two sampled offers: never the loaded one
    const one = (await matchCandidates(w.deps, { model: MODEL, tiers: ["dev"], k: 1 })).offers.map((o) => o.workerId);
    expect(one).toHaveLength(1);
    expect([b, c]).toContain(one[0]);
  });

  it("issue 12: matching reads offers and fair shares eventually consistent (half the read units on DynamoDB), nothing else", async () => {
    // Prepare: five workers of equal load and price (a fair-share contest), every read recorded with its options
    const w = makeJobWorld();
    for (let i = 0; i < 5; i++) await registered(w);
    const reads: string[] = [];
    const store = w.deps.store;
    const recording: Store = {
      ...store,
      get: (t, k, o) => {
        reads.push(`get ${t} ${o?.eventual ? "eventual" : "consistent"}`);
        return store.get(t, k, o);
      },
      query: (t, pk, o) => {
        reads.push(`query ${t} ${o?.eventual ? "eventual" : "consistent"}`);
        return store.query(t, pk, o);
      },
    };
    const deps = { ...w.deps, store: recording };
    // Act
    await matchCandidates(deps, { model: MODEL, tiers: ["dev"], k: 3 });
    // Assess
    expect(reads.length).toBeGreaterThan(0);
    expect(new Set(reads)).toEqual(new Set(["query offers eventual", "get accounts eventual"]));
  });

  it("equal load and price: ordered by worker id, so matching is deterministic", async () => {
    const w = makeJobWorld();
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await registered(w)).key.id);
    const m = await matchCandidates(w.deps, { model: MODEL, tiers: ["dev"], k: 3 });
    expect(m.offers.map((o) => o.workerId)).toEqual([...ids].sort());
  });

  it("full workers are used only when nobody has spare capacity", async () => {
    const w = makeJobWorld();
    const [a, b, c] = await three(w);
    await setOffer(w, MODEL, a, { load: 4 });
    await setOffer(w, MODEL, c, { load: 4 });
    expect((await matchCandidates(w.deps, { model: MODEL, tiers: ["dev"], k: 3 })).offers.map((o) => o.workerId)).toEqual([b]);
    await setOffer(w, MODEL, b, { load: 5 });
    expect((await matchCandidates(w.deps, { model: MODEL, tiers: ["dev"], k: 3 })).offers.map((o) => o.workerId)).toEqual([a, c, b]);
  });

  it("the price cap is inclusive", async () => {
    const w = makeJobWorld();
    const [a, , c] = await three(w);
    const cap = pricePerToken(w.deps.config.pricing, MODEL, 15_000);
    const m = await matchCandidates(w.deps, { model: MODEL, tiers: ["dev"], k: 3, maxPricePerToken: cap });
    expect(m.offers.map((o) => o.workerId).sort()).toEqual([a, c].sort());
    const none = await matchCandidates(w.deps, {
      model: MODEL,
      tiers: ["dev"],
      k: 3,
      maxPricePerToken: pricePerToken(w.deps.config.pricing, MODEL, 10_000) - 1n,
    });
    expect(none).toEqual({
      offers: [],
      why: `no live worker at or below ${pricePerToken(w.deps.config.pricing, MODEL, 10_000) - 1n} nanoTON per token`,
      cheapestAboveCap: pricePerToken(w.deps.config.pricing, MODEL, 10_000),
    });
  });

  it("says why nothing matched: unknown model, nobody live, nobody in the tiers", async () => {
    const w = makeJobWorld();
    expect(await matchCandidates(w.deps, { model: MODEL, tiers: ["dev"], k: 3 })).toEqual({ offers: [], why: "unknown_model" });
    const { key } = await registered(w);
    expect(await matchCandidates(w.deps, { model: MODEL, tiers: ["tdx"], k: 3 })).toEqual({
      offers: [],
      why: "no live worker in tiers [tdx]",
    });
    await setOffer(w, MODEL, key.id, { lastHeartbeat: 0 });
    expect(await matchCandidates(w.deps, { model: MODEL, tiers: ["dev"], k: 3 })).toEqual({
      offers: [],
      why: "no live worker (all missed heartbeats or attestation expired)",
    });
  });

  it("candidatesFor gives what a requester seals to, and skips an offer whose worker is gone", async () => {
    const w = makeJobWorld();
    const [a] = await three(w);
    const offers = (await matchCandidates(w.deps, { model: MODEL, tiers: ["dev"], k: 3 })).offers;
    await w.store.transact([{ op: "delete", table: "workers", key: { pk: a, sk: "worker" } }]);
    const cands = await candidatesFor(w.deps, offers);
    expect(cands).toHaveLength(2);
    expect(cands.map((c) => c.workerId)).not.toContain(a);
    const wi = (await w.store.get<WorkerItem>("workers", { pk: cands[0]!.workerId, sk: "worker" }))!;
    expect(cands[0]).toEqual({
      workerId: wi.workerId,
      hpkePublicKey: wi.hpkePublicKey,
      attestation: wi.attestation,
      pricePerToken: String(offers.find((o) => o.workerId === wi.workerId)!.pricePerToken),
      tier: "dev",
      capacity: offers.find((o) => o.workerId === wi.workerId)!.capacity,
    });
  });
});

describe("listing models and a worker's status", () => {
  it("live workers per model and tier, min / median / max price (median of an even count is the mean of the middle two), common capabilities", async () => {
    const w = makeJobWorld();
    const prices = [10_000, 20_000, 15_000, 30_000];
    const ids = [];
    for (const p of prices) ids.push((await registered(w, { models: [{ model: MODEL, priceBps: p, capabilities: CAPS }] })).key.id);
    await setOffer(w, MODEL, ids[3]!, { lastHeartbeat: 0 }); // not live: left out
    const per = (bps: number) => pricePerToken(w.deps.config.pricing, MODEL, bps);
    let { models } = await listModels(w.deps);
    expect(models).toEqual([
      {
        model: MODEL,
        workers: 3,
        tiers: { dev: 3 },
        price: { min: String(per(10_000)), median: String(per(15_000)), max: String(per(20_000)) },
        capabilities: CAPS,
      },
    ]);
    await setOffer(w, MODEL, ids[3]!, { lastHeartbeat: w.clock.now() });
    ({ models } = await listModels(w.deps));
    expect(models[0]!.price.median).toBe(String((per(15_000) + per(20_000)) / 2n));
  });

  it("a model nobody serves any more is listed with no workers and zero prices", async () => {
    const w = makeJobWorld();
    const { key } = await registered(w);
    await setOffer(w, MODEL, key.id, { lastHeartbeat: 0 });
    expect((await listModels(w.deps)).models).toEqual([
      { model: MODEL, workers: 0, tiers: {}, price: { min: "0", median: "0", max: "0" } },
    ]);
  });

  it("workerStatus: jobs and tokens from the stats item, earnings from the ledger, the latest heartbeat from the offers", async () => {
    const w = makeJobWorld();
    const { key } = await registered(w, {
      models: [
        { model: MODEL, priceBps: 10_000 },
        { model: OTHER, priceBps: 10_000 },
      ],
    });
    await w.store.transact([
      { op: "put", table: "workers", item: { pk: key.id, sk: "stats", jobs: 2, promptTokens: 30, completionTokens: 40 } },
    ]);
    await applyMovement(w.store, {
      id: "t-earn",
      kind: "settle",
      at: 0,
      postings: [
        { account: "ext:t", field: "available", delta: -77n },
        { account: workerAccount(key.id), field: "available", delta: 77n },
      ],
    });
    await setOffer(w, OTHER, key.id, { lastHeartbeat: w.clock.now() + 9_000 });
    const s = await workerStatus(w.deps, key.id);
    expect(s).toMatchObject({
      workerId: key.id,
      tier: "dev",
      models: [MODEL, OTHER],
      jobs: 2,
      promptTokens: 30,
      completionTokens: 40,
      earned: "77",
      redeemed: "0",
      lastHeartbeat: w.clock.now() + 9_000,
    });
    expect(await codeOf(workerStatus(w.deps, generateSigningKey().id))).toEqual([403, "not_a_worker"]);
  });

  it("workerStatus of a worker with no jobs yet: zeros", async () => {
    const w = makeJobWorld();
    const { key } = await registered(w);
    expect(await workerStatus(w.deps, key.id)).toMatchObject({ jobs: 0, promptTokens: 0, completionTokens: 0, earned: "0", redeemed: "0" });
  });
});
