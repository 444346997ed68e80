/**
 * core/challenges.ts beyond challenges.test.ts (session 14, from its mutation run): how long a
 * challenge item is kept, a worker live for one of its models, the long-poll's length, and a
 * store failure while answering.
 */
import { describe, expect, it } from "vitest";
import { createDevAttestation } from "./attestation/dev";
import { answerChallenge, CHALLENGE_TTL_MS, challengeKey, createChallenge, getChallenge, type ChallengeItem } from "./challenges";
import { b64u } from "./crypto/encoding";
import { generateSigningKey } from "./crypto/keys";
import { MODEL, makeJobWorld, type JobWorld, type TestWorker } from "./jobs/testing";
import { requesterAccount } from "./ledger";
import { offerKey } from "./workers";

const NONCE = b64u.encode(new Uint8Array(32).fill(7));

/** Factory: a world with one live worker (offering MODEL) and a requester. */
async function world() {
  const w = makeJobWorld();
  const worker = await w.worker();
  const requester = generateSigningKey();
  return { w, worker, requester };
}

const evidence = (w: JobWorld, worker: TestWorker) =>
  createDevAttestation({
    hpkePublicKey: worker.kem.publicKey,
    signingPublicKey: worker.signing.publicKey,
    nonce: b64u.decode(NONCE),
    now: w.clock.now(),
  });

describe("challenge edges", () => {
  it("keeps the challenge item 15 minutes past its expiry (its TTL, in seconds), so a late reader gets expired, not unknown", async () => {
    // Prepare
    const { w, worker, requester } = await world();
    // Act
    const { challengeId, expiresAt } = await createChallenge(w.deps, requester.id, { workerId: worker.id, nonce: NONCE });
    // Assess
    const item = await w.store.get<ChallengeItem>("quotes", challengeKey(challengeId));
    expect(expiresAt).toBe(w.clock.now() + CHALLENGE_TTL_MS);
    expect(item!.ttl).toBe(Math.ceil(expiresAt / 1000) + 15 * 60);
  });

  it("a worker live for one of its models and stale for another can be challenged", async () => {
    // Prepare: the worker also lists a second model whose offer missed its heartbeats
    const { w, worker, requester } = await world();
    const other = "test/other-model";
    const live = await w.store.get("offers", offerKey(MODEL, worker.id));
    await w.store.transact([
      { op: "put", table: "offers", item: { ...live!, ...offerKey(other, worker.id), model: other, lastHeartbeat: 0 } },
      { op: "update", table: "workers", key: { pk: worker.id, sk: "worker" }, set: { models: [other, MODEL] } },
    ]);
    // Act
    const c = await createChallenge(w.deps, requester.id, { workerId: worker.id, nonce: NONCE });
    // Assess
    expect(c.workerId).toBe(worker.id);
  });

  it("GET ?wait=s waits at most s seconds (capped at maxWaitSeconds) for an answer, then answers pending", async () => {
    // Prepare: a notifier wait that records how long it was asked to wait and lets that time pass
    const { w, worker, requester } = await world();
    const { challengeId } = await createChallenge(w.deps, requester.id, { workerId: worker.id, nonce: NONCE });
    const waits: number[] = [];
    w.deps.notifier.wait = async (_topic, ms) => {
      waits.push(ms);
      w.advance(ms);
      return false;
    };
    // Act
    const view = await getChallenge(w.deps, requester.id, challengeId, 3);
    const left = view.expiresAt - w.clock.now();
    const capped = await getChallenge(w.deps, requester.id, challengeId, 10_000);
    // Assess: 3 s, then the cap (or what is left of the challenge, if less)
    expect(view.status).toBe("pending");
    expect(capped.status).toBe("pending");
    expect(waits).toEqual([3_000, Math.min(w.deps.config.maxWaitSeconds * 1000, left)]);
    expect(w.deps.config.maxWaitSeconds * 1000).toBeLessThan(left); // so the cap is what the second wait shows
  });

  it("a store failure while storing the answer is not taken for already_answered: it propagates, and the challenge stays pending", async () => {
    // Prepare: the answer's conditional update fails for another reason than its condition
    const { w, worker, requester } = await world();
    const { challengeId } = await createChallenge(w.deps, requester.id, { workerId: worker.id, nonce: NONCE });
    const transact = w.store.transact.bind(w.store);
    w.store.transact = async (ops) => {
      if (ops.some((o) => o.op === "update" && o.table === "quotes")) throw new Error("store unavailable");
      return transact(ops);
    };
    // Act
    const outcome = await answerChallenge(w.deps, worker.id, { challengeId, attestation: evidence(w, worker) }).catch((e: Error) => e);
    // Assess
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toBe("store unavailable");
    expect(await w.store.get<ChallengeItem>("quotes", challengeKey(challengeId))).toMatchObject({ status: "pending" });
  });
});

describe("challenges per worker (many free keys aimed at one worker)", () => {
  /** Factory: a world whose per-worker bounds (funded and unfunded) are `burst` challenges, one more every 10 s; per key generous. */
  async function boundedWorld(burst = 3) {
    const { w, worker } = await world();
    w.deps.config = {
      ...w.deps.config,
      rateLimits: {
        challenge: { burst: 100, perMinute: 100 },
        worker_challenge: { burst, perMinute: 6 },
        worker_challenge_unfunded: { burst, perMinute: 6 },
      },
    };
    return { w, worker };
  }
  const fromNewKey = (w: JobWorld, workerId: string) =>
    createChallenge(w.deps, generateSigningKey().id, { workerId, nonce: NONCE }).catch((e: unknown) => e);

  it("the N+1-th challenge to one worker, each from a fresh key under its own limit, is 429 worker_challenge_limit; nothing is queued", async () => {
    // Prepare
    const { w, worker } = await boundedWorld(3);
    for (let i = 0; i < 3; i++) await createChallenge(w.deps, generateSigningKey().id, { workerId: worker.id, nonce: NONCE });
    const queued = await w.queues.receive(`worker-${worker.id}`, { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
    // Act
    const refused = await fromNewKey(w, worker.id);
    // Assess
    expect(refused).toMatchObject({
      status: 429,
      code: "worker_challenge_limit",
      details: { action: "worker_challenge", workerId: worker.id, retryAfterSeconds: 10 },
    });
    expect(queued).toHaveLength(3);
    expect(await w.queues.receive(`worker-${worker.id}`, { max: 10, waitSeconds: 0, visibilitySeconds: 30 })).toEqual([]);
  });

  it("another worker can still be challenged, and the bounded one again after the refill", async () => {
    // Prepare
    const { w, worker } = await boundedWorld(1);
    const other = await w.worker();
    await createChallenge(w.deps, generateSigningKey().id, { workerId: worker.id, nonce: NONCE });
    // Act
    const toOther = await fromNewKey(w, other.id);
    w.advance(10_000);
    const afterRefill = await fromNewKey(w, worker.id);
    // Assess
    expect(toOther).toMatchObject({ workerId: other.id });
    expect(afterRefill).toMatchObject({ workerId: worker.id });
  });

  it("a challenge refused because the worker is not live takes nothing from the worker's bound", async () => {
    // Prepare: the worker's offer misses its heartbeats, then it heartbeats again
    const { w, worker } = await boundedWorld(1);
    const key = offerKey(MODEL, worker.id);
    const live = await w.store.get("offers", key);
    await w.store.transact([{ op: "put", table: "offers", item: { ...live!, lastHeartbeat: 0 } }]);
    const dead = await fromNewKey(w, worker.id);
    await w.store.transact([{ op: "put", table: "offers", item: live! }]);
    // Act
    const c = await fromNewKey(w, worker.id);
    // Assess
    expect(dead).toMatchObject({ code: "worker_not_live" });
    expect(c).toMatchObject({ workerId: worker.id });
  });

  it("the default bound lets a popular worker be challenged 60 times at once by funded requesters, then refuses", async () => {
    // Prepare
    const { w, worker } = await world();
    w.deps.config = { ...w.deps.config, rateLimits: { challenge: { burst: 1000, perMinute: 1000 } } };
    const payer = await w.requester();
    for (let i = 0; i < 60; i++) await createChallenge(w.deps, payer.id, { workerId: worker.id, nonce: NONCE });
    // Act
    const refused = await createChallenge(w.deps, payer.id, { workerId: worker.id, nonce: NONCE }).catch((e: unknown) => e);
    // Assess
    expect(refused).toMatchObject({ status: 429, code: "worker_challenge_limit", details: { pool: "funded" } });
  });

  it("the default bound lets keys without funds challenge a worker 10 times at once, then refuses", async () => {
    // Prepare
    const { w, worker } = await world();
    w.deps.config = { ...w.deps.config, rateLimits: { challenge: { burst: 1000, perMinute: 1000 } } };
    for (let i = 0; i < 10; i++) await createChallenge(w.deps, generateSigningKey().id, { workerId: worker.id, nonce: NONCE });
    // Act
    const refused = await fromNewKey(w, worker.id);
    // Assess
    expect(refused).toMatchObject({ status: 429, code: "worker_challenge_limit", details: { pool: "unfunded" } });
  });
});

describe("challenges per worker: a flood of fresh keys cannot crowd out requesters with funds", () => {
  /** Factory: a world with default per-worker bounds, per key generous (the flood is many keys anyway). */
  async function floodWorld() {
    const { w, worker } = await world();
    w.deps.config = { ...w.deps.config, rateLimits: { challenge: { burst: 1000, perMinute: 1000 } } };
    return { w, worker };
  }
  const flood = async (w: JobWorld, workerId: string, n: number) => {
    const out: unknown[] = [];
    for (let i = 0; i < n; i++)
      out.push(await createChallenge(w.deps, generateSigningKey().id, { workerId, nonce: NONCE }).catch((e: unknown) => e));
    return out;
  };
  const drain = (w: JobWorld, workerId: string) =>
    w.queues.receive(`worker-${workerId}`, { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
  const queuedCount = async (w: JobWorld, workerId: string) => {
    let n = 0;
    for (let got = await drain(w, workerId); got.length > 0; got = await drain(w, workerId)) n += got.length;
    return n;
  };

  it("after 200 challenges from fresh unfunded keys, a funded requester's challenge to that worker still goes through", async () => {
    // Prepare: the flood empties what keys without funds may ask of the worker
    const { w, worker } = await floodWorld();
    const payer = await w.requester();
    const flooded = await flood(w, worker.id, 200);
    // Act
    const honest = await createChallenge(w.deps, payer.id, { workerId: worker.id, nonce: NONCE }).catch((e: unknown) => e);
    // Assess
    expect(flooded.filter((r) => (r as { code?: string }).code === "worker_challenge_limit").length).toBeGreaterThan(0);
    expect(honest).toMatchObject({ workerId: worker.id });
  });

  it("the refused flood stores and queues nothing: only the accepted challenges are on the worker's queue", async () => {
    // Prepare
    const { w, worker } = await floodWorld();
    const written = w.transacts.length;
    // Act
    const flooded = await flood(w, worker.id, 30);
    // Assess: 10 accepted (the unfunded burst), 20 refused; one write and one message per accepted one
    const accepted = flooded.filter((r) => (r as { workerId?: string }).workerId === worker.id);
    expect(accepted).toHaveLength(10);
    expect(flooded.slice(10).every((r) => (r as { code?: string }).code === "worker_challenge_limit")).toBe(true);
    expect(w.transacts.length - written).toBe(10);
    expect(await queuedCount(w, worker.id)).toBe(10);
  });

  it("an unfunded refusal says which share ran out, how to get the other, and when to retry", async () => {
    // Prepare
    const { w, worker } = await floodWorld();
    await flood(w, worker.id, 10);
    // Act
    const [refused] = await flood(w, worker.id, 1);
    // Assess
    expect(refused).toMatchObject({
      status: 429,
      code: "worker_challenge_limit",
      details: { action: "worker_challenge", pool: "unfunded", workerId: worker.id, retryAfterSeconds: 3, minBalance: "1000" },
    });
    expect((refused as Error).message).toBe(
      `worker ${worker.id} was challenged too often lately by requesters holding under 1000 nanoTON (at most 10 at once, 20 per minute, from all of them): retry in 3 s or challenge another candidate, or deposit (requesters holding at least 1000 nanoTON have a share of their own)`,
    );
  });

  it("funded requesters together are still bounded per worker (their own bucket), and the refusal names their share", async () => {
    // Prepare: funded keys take the whole funded burst
    const { w, worker } = await floodWorld();
    w.deps.config = {
      ...w.deps.config,
      rateLimits: { challenge: { burst: 1000, perMinute: 1000 }, worker_challenge: { burst: 3, perMinute: 6 } },
    };
    for (let i = 0; i < 3; i++) await createChallenge(w.deps, (await w.requester()).id, { workerId: worker.id, nonce: NONCE });
    const late = await w.requester();
    const written = w.transacts.length;
    // Act
    const refused = await createChallenge(w.deps, late.id, { workerId: worker.id, nonce: NONCE }).catch((e: unknown) => e);
    const unfunded = await flood(w, worker.id, 1);
    // Assess: the funded flood is refused; keys without funds still have their own share
    expect(refused).toMatchObject({
      status: 429,
      code: "worker_challenge_limit",
      details: { action: "worker_challenge", pool: "funded", workerId: worker.id, retryAfterSeconds: 10 },
    });
    expect((refused as Error).message).toBe(
      `worker ${worker.id} was challenged too often lately by requesters with funds (at most 3 at once, 6 per minute, from all of them): retry in 10 s or challenge another candidate`,
    );
    expect(unfunded[0]).toMatchObject({ workerId: worker.id });
    expect(w.transacts.length - written).toBe(1); // the unfunded one's put only
  });

  it("the floor is CoreConfig.minChallengeBalance, counting held funds: below it a requester is unfunded", async () => {
    // Prepare: unfunded bucket of 1, already used; a requester with 500 nanoTON, one with all of it held
    const { w, worker } = await floodWorld();
    w.deps.config = {
      ...w.deps.config,
      minChallengeBalance: 1_000n,
      rateLimits: { challenge: { burst: 1000, perMinute: 1000 }, worker_challenge_unfunded: { burst: 1, perMinute: 1 } },
    };
    await flood(w, worker.id, 1);
    const poor = await w.requester(500n);
    const holder = await w.requester(2_000n);
    await w.store.transact([
      {
        op: "update",
        table: "accounts",
        key: { pk: requesterAccount(holder.id), sk: "balance" },
        add: { available: -2_000n, held: 2_000n },
      },
    ]);
    // Act
    const poorly = await createChallenge(w.deps, poor.id, { workerId: worker.id, nonce: NONCE }).catch((e: unknown) => e);
    const held = await createChallenge(w.deps, holder.id, { workerId: worker.id, nonce: NONCE }).catch((e: unknown) => e);
    // Assess
    expect(poorly).toMatchObject({ code: "worker_challenge_limit", details: { pool: "unfunded", minBalance: "1000" } });
    expect(held).toMatchObject({ workerId: worker.id });
  });
});
