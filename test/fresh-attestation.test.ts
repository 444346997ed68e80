import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AttestationDoc } from "../events/attestation";
import type { ChallengeView } from "../events/api";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { b64u } from "../core/crypto/encoding";
import { verifyAttestation } from "../core/attestation/verify";
import { loadPolicy } from "../core/attestation/policy";
import { createChallenge } from "../core/challenges";
import type { WorkerItem } from "../core/workers";
import type { JobItem } from "../core/jobs";
import { startAgent, type RunningAgent } from "../agent/runtime";
import { makeAttester } from "../agent/attest";
import { createBuiltinEngine } from "../agent/engines/builtin";
import type { JobSource } from "../agent/sources/job-source";
import { VerificationError } from "../client/sdk";
import { MODEL, signedFetch, startTestNet, type TestNet } from "./helpers";

const FORGER_MODEL = "forger-model-1";
const SILENT_MODEL = "silent-model-1";

/**
 * A dev agent whose challenge answers misbehave:
 * - "replay": answers every challenge with its registration-time evidence (another nonce);
 * - "other-keys": answers with evidence that binds the requester's nonce but a different HPKE key;
 * - "silent": never takes anything off its queue (tests answer for it by hand).
 */
async function startOddAgent(
  apiUrl: string,
  mode: "replay" | "other-keys" | "silent",
  model: string,
  priceBps: number,
): Promise<RunningAgent> {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const honest = makeAttester({ tier: "dev", signingKey, kemKey });
  const otherKeys = makeAttester({ tier: "dev", signingKey, kemKey: generateKemKey() });
  let first: AttestationDoc | undefined;
  const attest = async (nonce: Uint8Array) => {
    if (!first) return (first = await honest(nonce)); // registration
    return mode === "other-keys" ? otherKeys(nonce) : first;
  };
  const never: JobSource = { next: (s) => new Promise((r) => setTimeout(() => r({ jobs: [], challenges: [] }), Math.min(s, 1) * 1000)) };
  return startAgent({
    apiUrl,
    signingKey,
    kemKey,
    engine: createBuiltinEngine({ models: [model] }),
    models: [{ model, priceBps }],
    attest,
    heartbeatMs: 1000,
    ...(mode === "silent" ? { jobSource: never } : {}),
  });
}

const newNonce = () => b64u.encode(randomBytes(32));

describe("requester-issued attestation challenges (real HTTP on 127.0.0.1)", () => {
  let t: TestNet;
  let replayer: RunningAgent;
  let keySwapper: RunningAgent;
  let silent: RunningAgent;
  beforeAll(async () => {
    t = await startTestNet();
    [replayer, keySwapper, silent] = await Promise.all([
      startOddAgent(t.net.url, "replay", MODEL, 11_000),
      startOddAgent(t.net.url, "other-keys", FORGER_MODEL, 10_000),
      startOddAgent(t.net.url, "silent", SILENT_MODEL, 10_000),
    ]);
  });
  afterAll(async () => {
    await Promise.all([replayer, keySwapper, silent].filter(Boolean).map((a) => a.stop()));
    await t?.stop();
  });

  it("a dev agent answers a fresh challenge with evidence that verifies with the requester's own nonce", async () => {
    // Prepare
    const requester = generateSigningKey();
    const worker = t.agents[0]!;
    const nonce = randomBytes(32);
    const registered = await t.net.store.get<WorkerItem>("workers", { pk: worker.workerId, sk: "worker" });

    // Act
    const asked = await signedFetch(t.net.url, requester, "POST", "/v1/attestations", {
      workerId: worker.workerId,
      nonce: b64u.encode(nonce),
    });
    const got = await signedFetch(t.net.url, requester, "GET", `/v1/attestations/${asked.json.challengeId}?wait=10`);

    // Assess
    expect(asked.status).toBe(202);
    expect(asked.json).toMatchObject({ workerId: worker.workerId, hpkePublicKey: registered!.hpkePublicKey, tier: "dev" });
    expect(asked.json.challengeId).toMatch(/^chl_[0-9a-z]{26}$/);
    expect(got.status).toBe(200);
    const view = got.json as ChallengeView;
    expect(view.status).toBe("answered");
    expect(view.attestation!.nonce).toBe(b64u.encode(nonce));
    expect(view.attestation!.nonce).not.toBe(registered!.attestation.nonce);
    expect(view.attestation!.hpkePublicKey).toBe(registered!.hpkePublicKey);
    const verdict = await verifyAttestation(view.attestation!, {
      policy: loadPolicy(),
      now: Date.now(),
      expectedNonce: nonce,
      allowDev: true,
      allowNone: false,
    });
    expect(verdict).toMatchObject({ ok: true, tier: "dev" });
  });

  it("the SDK's freshAttestation makes its own nonce, waits and verifies the answer", async () => {
    // Prepare
    const client = await t.client({ fund: 0n });
    const worker = t.agents[1]!;

    // Act
    const fresh = await client.freshAttestation(worker.workerId, { tiers: ["dev"], timeoutMs: 20_000 });

    // Assess
    expect(fresh).toMatchObject({ ok: true, tier: "dev", measurement: "dev-simulated", workerId: worker.workerId });
    expect(fresh.attestation.signingPublicKey).toBe(worker.workerId);
    const sentNonces = t.sent.map((s) => JSON.parse(s)).filter((m) => m.kind === "challenge" && m.challengeId === fresh.challengeId);
    expect(sentNonces).toHaveLength(1);
    expect(fresh.attestation.nonce).toBe(sentNonces[0].nonce);
  });

  it("a replayed old attestation (another nonce) is refused by the SDK: stale_or_forged_evidence", async () => {
    // Prepare
    const client = await t.client({ fund: 0n });

    // Act
    const err = await client.freshAttestation(replayer.workerId, { tiers: ["dev"], timeoutMs: 20_000 }).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as VerificationError).code).toBe("stale_or_forged_evidence");
    expect((err as VerificationError).message).toContain("nonce_mismatch");
  });

  it("fresh evidence for keys other than the registered ones is refused: stale_or_forged_evidence", async () => {
    const client = await t.client({ fund: 0n });
    const err = await client.freshAttestation(keySwapper.workerId, { tiers: ["dev"], timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as VerificationError).code).toBe("stale_or_forged_evidence");
    expect((err as VerificationError).message).toContain("registered");
  });

  it("a worker cannot answer another worker's challenge (403 not_your_challenge); a non-worker gets 403 not_a_worker", async () => {
    // Prepare
    const requester = generateSigningKey();
    const asked = await signedFetch(t.net.url, requester, "POST", "/v1/attestations", { workerId: silent.workerId, nonce: newNonce() });
    const intruder = t.agents[0]!;
    const intruderDoc = await makeAttester({ tier: "dev", signingKey: intruder.api.key, kemKey: generateKemKey() })(randomBytes(32));
    const stranger = generateSigningKey();

    // Act
    const byOtherWorker = await signedFetch(t.net.url, intruder.api.key, "POST", "/v1/agent/attestations", {
      challengeId: asked.json.challengeId,
      attestation: intruderDoc,
    });
    const byStranger = await signedFetch(t.net.url, stranger, "POST", "/v1/agent/attestations", {
      challengeId: asked.json.challengeId,
      attestation: intruderDoc,
    });
    const view = await signedFetch(t.net.url, requester, "GET", `/v1/attestations/${asked.json.challengeId}`);

    // Assess
    expect(asked.status).toBe(202);
    expect(byOtherWorker.status).toBe(403);
    expect(byOtherWorker.json.error.code).toBe("not_your_challenge");
    expect(byStranger.status).toBe(403);
    expect(byStranger.json.error.code).toBe("not_a_worker");
    expect(view.json.status).toBe("pending");
    expect(view.json.attestation).toBeUndefined();
  });

  it("the challenged worker answers once: a retry of the same evidence is a duplicate, other evidence is 409, evidence for another key 403", async () => {
    // Prepare
    const requester = generateSigningKey();
    const nonce = randomBytes(32);
    const asked = await signedFetch(t.net.url, requester, "POST", "/v1/attestations", {
      workerId: silent.workerId,
      nonce: b64u.encode(nonce),
    });
    const silentKey = silent.api.key;
    const doc = await makeAttester({ tier: "dev", signingKey: silentKey, kemKey: generateKemKey() })(nonce);
    const foreignDoc = await makeAttester({ tier: "dev", signingKey: generateSigningKey(), kemKey: generateKemKey() })(nonce);

    // Act
    const wrongKey = await signedFetch(t.net.url, silentKey, "POST", "/v1/agent/attestations", {
      challengeId: asked.json.challengeId,
      attestation: foreignDoc,
    });
    const first = await signedFetch(t.net.url, silentKey, "POST", "/v1/agent/attestations", {
      challengeId: asked.json.challengeId,
      attestation: doc,
    });
    const retry = await signedFetch(t.net.url, silentKey, "POST", "/v1/agent/attestations", {
      challengeId: asked.json.challengeId,
      attestation: doc,
    });
    const other = await signedFetch(t.net.url, silentKey, "POST", "/v1/agent/attestations", {
      challengeId: asked.json.challengeId,
      attestation: { ...doc, issuedAt: doc.issuedAt + 1 },
    });
    const view = await signedFetch(t.net.url, requester, "GET", `/v1/attestations/${asked.json.challengeId}`);

    // Assess
    expect(wrongKey.status).toBe(403);
    expect(wrongKey.json.error.code).toBe("key_mismatch");
    expect(first.status).toBe(200);
    expect(first.json).toEqual({ challengeId: asked.json.challengeId, status: "answered", duplicate: false });
    expect(retry.json.duplicate).toBe(true);
    expect(other.status).toBe(409);
    expect(other.json.error.code).toBe("already_answered");
    expect(view.json.status).toBe("answered");
    expect(view.json.attestation).toEqual(doc);
  });

  it("a stranger cannot read someone's challenge (403 not_your_challenge); unknown and malformed ids are 404 / 400", async () => {
    // Prepare
    const requester = generateSigningKey();
    const stranger = generateSigningKey();
    const asked = await signedFetch(t.net.url, requester, "POST", "/v1/attestations", {
      workerId: t.agents[0]!.workerId,
      nonce: newNonce(),
    });

    // Act
    const byStranger = await signedFetch(t.net.url, stranger, "GET", `/v1/attestations/${asked.json.challengeId}`);
    const unknown = await signedFetch(t.net.url, requester, "GET", "/v1/attestations/chl_00000000000000000000000000");
    const malformed = await signedFetch(t.net.url, requester, "GET", "/v1/attestations/job_00000000000000000000000000");

    // Assess
    expect(byStranger.status).toBe(403);
    expect(byStranger.json.error.code).toBe("not_your_challenge");
    expect(byStranger.json.attestation).toBeUndefined();
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe("unknown_challenge");
    expect(malformed.status).toBe(400);
    expect(malformed.json.error.code).toBe("invalid_challenge_id");
  });

  it("challenges for unknown workers are 404 unknown_worker; a nonce that is not 32 bytes is 400 naming body.nonce", async () => {
    const requester = generateSigningKey();
    const unknown = await signedFetch(t.net.url, requester, "POST", "/v1/attestations", {
      workerId: generateSigningKey().id,
      nonce: newNonce(),
    });
    const short = await signedFetch(t.net.url, requester, "POST", "/v1/attestations", {
      workerId: t.agents[0]!.workerId,
      nonce: b64u.encode(randomBytes(16)),
    });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe("unknown_worker");
    expect(short.status).toBe(400);
    expect(short.json.error.code).toBe("invalid_request");
    expect(short.json.error.message).toContain("body.nonce");
  });

  it("an expired challenge reads as expired and cannot be answered any more (410 challenge_expired)", async () => {
    // Prepare: a challenge issued three minutes ago (the answer window is two)
    const requester = generateSigningKey();
    const nonce = randomBytes(32);
    const past = { ...t.net.deps, clock: { now: () => Date.now() - 3 * 60_000 } };
    const { challengeId } = await createChallenge(past, requester.id, { workerId: silent.workerId, nonce: b64u.encode(nonce) });
    const silentKey = silent.api.key;
    const doc = await makeAttester({ tier: "dev", signingKey: silentKey, kemKey: generateKemKey() })(nonce);

    // Act
    const late = await signedFetch(t.net.url, silentKey, "POST", "/v1/agent/attestations", { challengeId, attestation: doc });
    const view = await signedFetch(t.net.url, requester, "GET", `/v1/attestations/${challengeId}?wait=5`);

    // Assess
    expect(late.status).toBe(410);
    expect(late.json.error.code).toBe("challenge_expired");
    expect(view.status).toBe(200);
    expect(view.json.status).toBe("expired");
  });

  it("ask({ freshAttestation: true }) challenges every candidate, drops the one replaying old evidence, and answers", async () => {
    // Prepare: candidates for MODEL are the two honest local agents and the replayer
    const client = await t.client();

    // Act
    const r = await client.ask({
      model: MODEL,
      messages: [{ role: "user", content: "fresh please" }],
      maxTokens: 32,
      tiers: ["dev"],
      candidates: 3,
      freshAttestation: true,
      freshAttestationTimeoutMs: 20_000,
    });

    // Assess
    expect(r.text).toContain("fresh please");
    expect(r.freshEvidence?.challengeId).toMatch(/^chl_/);
    expect(t.agents.map((a) => a.workerId)).toContain(r.workerId);
    const job = await t.net.store.get<JobItem>("jobs", { pk: r.jobId, sk: "job" });
    const encryptedTo = job!.candidates.map((c) => c.workerId);
    expect(encryptedTo).not.toContain(replayer.workerId);
    expect(encryptedTo.sort()).toEqual(t.agents.map((a) => a.workerId).sort());
  });

  it("session 32: a coordinator that edits the model digests it relays with a candidate is caught by the SDK (report data v2)", async () => {
    // Prepare: worker 0 as the coordinator stores and relays it, then the same candidate claiming
    // a model digest the worker never attested (before v2 the SDK took the document's word for it)
    const client = await t.client({ fund: 0n });
    const worker = t.agents[0]!;
    const stored = (await t.net.store.get<WorkerItem>("workers", { pk: worker.workerId, sk: "worker" }))!;
    const candidate = {
      workerId: worker.workerId,
      hpkePublicKey: stored.hpkePublicKey,
      attestation: stored.attestation,
      pricePerToken: "1000",
      tier: stored.tier,
    };
    const edited = { ...candidate, attestation: { ...stored.attestation, modelDigests: { [MODEL]: "ab".repeat(32) } } };

    // Act
    const honest = await client.verifyCandidates([candidate], ["dev"], MODEL);
    const err = await client.verifyCandidates([edited], ["dev"], MODEL).catch((e: unknown) => e);

    // Assess
    expect(honest.map((c) => c.workerId)).toEqual([worker.workerId]);
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as VerificationError).code).toBe("no_verified_candidates");
    expect((err as VerificationError).message).toContain("report data is not report data v2 of this document");
    expect(stored.attestation.reportDataVersion).toBe(2); // the agent sent v2 and registration kept it
  });

  it("ask({ freshAttestation: true }) refuses when no candidate passes, before any money is held", async () => {
    // Prepare: the only worker for FORGER_MODEL answers with evidence for other keys
    const client = await t.client();
    const before = await client.balance();

    // Act
    const err = await client
      .ask({
        model: FORGER_MODEL,
        messages: [{ role: "user", content: "hi" }],
        maxTokens: 16,
        tiers: ["dev"],
        freshAttestation: true,
        freshAttestationTimeoutMs: 20_000,
      })
      .catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as VerificationError).code).toBe("no_verified_candidates");
    expect((err as VerificationError).message).toContain("stale_or_forged_evidence");
    expect(await client.balance()).toEqual(before);
  });
});
