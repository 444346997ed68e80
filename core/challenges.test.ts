/**
 * core/challenges.ts on the in-memory store (issue 14): a requester's attestation challenge is
 * stored and queued to a live worker; only that worker answers it, once, before it expires,
 * with evidence for its own key; only the requester who asked reads it.
 */
import { describe, expect, it } from "vitest";
import type { AgentChallenge } from "../events/api";
import { createDevAttestation } from "./attestation/dev";
import {
  answerChallenge,
  CHALLENGE_TTL_MS,
  challengeKey,
  createChallenge,
  getChallenge,
  isChallengeOpen,
  type ChallengeItem,
} from "./challenges";
import { b64u } from "./crypto/encoding";
import { generateSigningKey } from "./crypto/keys";
import { CocoonError } from "./errors";
import { MODEL, makeJobWorld, type JobWorld, type TestWorker } from "./jobs/testing";
import { offerKey } from "./workers";

const NONCE = b64u.encode(new Uint8Array(32).fill(5));

/** Factory: a world with one live worker and a requester. */
async function world() {
  const w = makeJobWorld();
  const worker = await w.worker();
  const requester = generateSigningKey();
  return { w, worker, requester };
}

/** Fresh evidence from `worker` bound to `nonce`. */
const evidence = (w: JobWorld, worker: TestWorker, nonce = NONCE) =>
  createDevAttestation({
    hpkePublicKey: worker.kem.publicKey,
    signingPublicKey: worker.signing.publicKey,
    nonce: b64u.decode(nonce),
    now: w.clock.now(),
  });

async function codeOf(p: Promise<unknown>) {
  const e = await p.then(
    () => undefined,
    (x) => x,
  );
  expect(e).toBeInstanceOf(CocoonError);
  return [e.status, e.code];
}

async function drainWorkerQueue(w: JobWorld, workerId: string) {
  const msgs = await w.queues.receive(`worker-${workerId}`, { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
  return msgs.map((m) => JSON.parse(m.body) as AgentChallenge);
}

describe("createChallenge", () => {
  it("stores a pending challenge and puts it on the worker's queue; the answer names the worker's key and tier", async () => {
    // Prepare
    const { w, worker, requester } = await world();
    // Act
    const c = await createChallenge(w.deps, requester.id, { workerId: worker.id, nonce: NONCE });
    // Assess
    const item = await w.store.get<ChallengeItem>("quotes", challengeKey(c.challengeId));
    expect(c).toEqual({
      challengeId: item!.challengeId,
      expiresAt: w.clock.now() + CHALLENGE_TTL_MS,
      workerId: worker.id,
      hpkePublicKey: b64u.encode(worker.kem.publicKey),
      tier: "dev",
    });
    expect(c.challengeId).toMatch(/^chl_[0-9a-z]{26}$/);
    expect(item).toMatchObject({ requester: requester.id, workerId: worker.id, nonce: NONCE, status: "pending", createdAt: w.clock.now() });
    expect(item!.ttl).toBeGreaterThan(Math.ceil(c.expiresAt / 1000));
    expect(await drainWorkerQueue(w, worker.id)).toEqual([
      { kind: "challenge", challengeId: c.challengeId, nonce: NONCE, expiresAt: c.expiresAt },
    ]);
  });

  it("an unknown worker is 404 unknown_worker; a worker that is not live is 409 worker_not_live; nothing is queued", async () => {
    const { w, worker, requester } = await world();
    expect(await codeOf(createChallenge(w.deps, requester.id, { workerId: generateSigningKey().id, nonce: NONCE }))).toEqual([
      404,
      "unknown_worker",
    ]);
    await w.store.transact([{ op: "update", table: "offers", key: offerKey(MODEL, worker.id), set: { lastHeartbeat: 0 } }]);
    expect(await codeOf(createChallenge(w.deps, requester.id, { workerId: worker.id, nonce: NONCE }))).toEqual([409, "worker_not_live"]);
    expect(await drainWorkerQueue(w, worker.id)).toEqual([]);
  });
});

describe("answerChallenge", () => {
  it("the challenged worker answers once; the requester reads the evidence; an identical re-post is a duplicate", async () => {
    const { w, worker, requester } = await world();
    const { challengeId } = await createChallenge(w.deps, requester.id, { workerId: worker.id, nonce: NONCE });
    const doc = evidence(w, worker);
    expect(await answerChallenge(w.deps, worker.id, { challengeId, attestation: doc })).toEqual({
      challengeId,
      status: "answered",
      duplicate: false,
    });
    expect(await answerChallenge(w.deps, worker.id, { challengeId, attestation: doc })).toEqual({
      challengeId,
      status: "answered",
      duplicate: true,
    });
    expect(await getChallenge(w.deps, requester.id, challengeId)).toEqual({
      challengeId,
      workerId: worker.id,
      status: "answered",
      expiresAt: w.clock.now() + CHALLENGE_TTL_MS,
      attestation: doc,
    });
    // other evidence after the answer: refused
    w.advance(1);
    expect(await codeOf(answerChallenge(w.deps, worker.id, { challengeId, attestation: evidence(w, worker) }))).toEqual([
      409,
      "already_answered",
    ]);
  });

  it("refuses: not a worker (403), unknown challenge (404), another worker's challenge (403), evidence for another key (403), too late (410)", async () => {
    const { w, worker, requester } = await world();
    const other = await w.worker();
    const { challengeId } = await createChallenge(w.deps, requester.id, { workerId: worker.id, nonce: NONCE });
    expect(await codeOf(answerChallenge(w.deps, generateSigningKey().id, { challengeId, attestation: evidence(w, worker) }))).toEqual([
      403,
      "not_a_worker",
    ]);
    expect(
      await codeOf(answerChallenge(w.deps, worker.id, { challengeId: "chl_" + "0".repeat(26), attestation: evidence(w, worker) })),
    ).toEqual([404, "unknown_challenge"]);
    expect(await codeOf(answerChallenge(w.deps, other.id, { challengeId, attestation: evidence(w, other) }))).toEqual([
      403,
      "not_your_challenge",
    ]);
    expect(await codeOf(answerChallenge(w.deps, worker.id, { challengeId, attestation: evidence(w, other) }))).toEqual([
      403,
      "key_mismatch",
    ]);
    w.advance(CHALLENGE_TTL_MS);
    expect(await codeOf(answerChallenge(w.deps, worker.id, { challengeId, attestation: evidence(w, worker) }))).toEqual([
      410,
      "challenge_expired",
    ]);
    expect(await getChallenge(w.deps, requester.id, challengeId)).toMatchObject({ status: "expired" });
  });

  it("two different answers at once: one is stored, the other is 409 already_answered", async () => {
    const { w, worker, requester } = await world();
    const { challengeId } = await createChallenge(w.deps, requester.id, { workerId: worker.id, nonce: NONCE });
    const a = evidence(w, worker);
    w.advance(1);
    const b = evidence(w, worker);
    const both = await Promise.allSettled([
      answerChallenge(w.deps, worker.id, { challengeId, attestation: a }),
      answerChallenge(w.deps, worker.id, { challengeId, attestation: b }),
    ]);
    expect(both.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const lost = both.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect([lost.reason.status, lost.reason.code]).toEqual([409, "already_answered"]);
  });
});

describe("isChallengeOpen and getChallenge", () => {
  it("open only for its worker and nonce, while pending and before expiry", async () => {
    const { w, worker, requester } = await world();
    const other = await w.worker();
    const { challengeId } = await createChallenge(w.deps, requester.id, { workerId: worker.id, nonce: NONCE });
    expect(await isChallengeOpen(w.deps, worker.id, { challengeId, nonce: NONCE })).toBe(true);
    expect(await isChallengeOpen(w.deps, other.id, { challengeId, nonce: NONCE })).toBe(false);
    expect(await isChallengeOpen(w.deps, worker.id, { challengeId, nonce: b64u.encode(new Uint8Array(32)) })).toBe(false);
    expect(await isChallengeOpen(w.deps, worker.id, { challengeId: "chl_" + "1".repeat(26), nonce: NONCE })).toBe(false);
    w.advance(CHALLENGE_TTL_MS - 1);
    expect(await isChallengeOpen(w.deps, worker.id, { challengeId, nonce: NONCE })).toBe(true);
    w.advance(1);
    expect(await isChallengeOpen(w.deps, worker.id, { challengeId, nonce: NONCE })).toBe(false);
  });

  it("an answered challenge is no longer open", async () => {
    const { w, worker, requester } = await world();
    const { challengeId } = await createChallenge(w.deps, requester.id, { workerId: worker.id, nonce: NONCE });
    await answerChallenge(w.deps, worker.id, { challengeId, attestation: evidence(w, worker) });
    expect(await isChallengeOpen(w.deps, worker.id, { challengeId, nonce: NONCE })).toBe(false);
  });

  it("only the requester who asked reads it (403 not_your_challenge); an unknown id is 404; pending without evidence", async () => {
    const { w, worker, requester } = await world();
    const { challengeId } = await createChallenge(w.deps, requester.id, { workerId: worker.id, nonce: NONCE });
    expect(await getChallenge(w.deps, requester.id, challengeId)).toEqual({
      challengeId,
      workerId: worker.id,
      status: "pending",
      expiresAt: w.clock.now() + CHALLENGE_TTL_MS,
    });
    expect(await codeOf(getChallenge(w.deps, generateSigningKey().id, challengeId))).toEqual([403, "not_your_challenge"]);
    expect(await codeOf(getChallenge(w.deps, requester.id, "chl_" + "2".repeat(26)))).toEqual([404, "unknown_challenge"]);
  });

  it("a waiting read returns as soon as the answer lands", async () => {
    const { w, worker, requester } = await world();
    const { challengeId } = await createChallenge(w.deps, requester.id, { workerId: worker.id, nonce: NONCE });
    const read = getChallenge(w.deps, requester.id, challengeId, 20);
    await answerChallenge(w.deps, worker.id, { challengeId, attestation: evidence(w, worker) });
    expect(await read).toMatchObject({ status: "answered" });
  });
});
