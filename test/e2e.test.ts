import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { b64u } from "../core/crypto/encoding";
import { sealRequest } from "../core/crypto/envelope";
import { getBalance, requesterAccount, workerAccount } from "../core/ledger";
import { handleMatchingMessage } from "../core/jobs";
import { jobMovementRecords } from "../core/jobs/items";
import { agentLogTo, MODEL, randomCanary, signedFetch, startAnsweringAgent, startSilentAgent, startTestNet, type TestNet } from "./helpers";
import { dirSources, expectNoCanary, lineSources, scanForCanary, storeSources } from "./canary";
import type { RunningAgent } from "../agent/runtime";
import { API } from "../api-client/api";
import type { LmdbStore } from "../local/store-lmdb";
import type { PrepareResponse } from "../events/api";
import type { EnvelopeHeader } from "../events/envelope";
import { MAX_PAYLOAD_BYTES } from "../functions/http/middleware";

/** Prepare + seal by hand, so tests control every byte that is submitted. */
async function prepareAndSeal(t: TestNet, key: ReturnType<typeof generateSigningKey>, prompt = "hi", extra: Record<string, unknown> = {}) {
  const prep = await signedFetch(t.net.url, key, "POST", "/v1/jobs/prepare", {
    model: MODEL,
    maxTokens: 32,
    maxPromptTokens: 200,
    tiers: ["dev"],
    ...extra,
  });
  expect(prep.status).toBe(200);
  const p = prep.json as PrepareResponse;
  const replyKey = generateKemKey();
  const header: EnvelopeHeader = {
    v: 1,
    jobId: p.jobId,
    requester: key.id,
    model: p.model,
    maxTokens: p.maxTokens,
    maxPromptTokens: p.maxPromptTokens,
    maxCost: p.maxCost,
    replyKey: b64u.encode(replyKey.publicKey),
  };
  const envelope = sealRequest({
    header,
    plaintext: new TextEncoder().encode(JSON.stringify({ messages: [{ role: "user", content: prompt }] })),
    recipients: p.candidates.map((c) => ({ workerId: c.workerId, hpkePublicKey: b64u.decode(c.hpkePublicKey) })),
  });
  return { p, envelope, replyKey, header, quote: p.quote };
}

describe("local network end to end (real HTTP on 127.0.0.1)", () => {
  let t: TestNet;
  beforeAll(async () => {
    t = await startTestNet();
  });
  afterAll(async () => t?.stop());

  it("answers a job: encrypted in, verified and decrypted out, requester charged and worker credited exactly", async () => {
    // Prepare
    const client = await t.client();
    const before = await getBalance(t.net.store, requesterAccount(client.account));
    // Act
    const r = await client.ask({
      model: MODEL,
      messages: [{ role: "user", content: "What is private inference?" }],
      maxTokens: 64,
      tiers: ["dev"],
    });
    // Assess
    expect(r.text).toContain("not a real model");
    expect(r.text).toContain("What is private inference?");
    expect(r.engine).toContain("builtin-deterministic");
    expect(r.tier).toBe("dev");
    expect(r.usage.completionTokens).toBeGreaterThan(0);
    const after = await getBalance(t.net.store, requesterAccount(client.account));
    const worker = await getBalance(t.net.store, workerAccount(r.workerId));
    expect(before.available - after.available).toBe(BigInt(r.cost));
    expect(after.held).toBe(0n);
    expect(worker.available).toBeGreaterThanOrEqual(BigInt(r.cost));
    expect(BigInt(r.cost)).toBeGreaterThan(0n);
    expect(BigInt(r.cost)).toBeLessThanOrEqual(BigInt(r.maxCost));
  });

  it("the same Idempotency-Key submits and charges once; another key for the same job is a 409", async () => {
    const client = await t.client();
    const key = (client as any).opts.key;
    const { envelope, p, quote } = await prepareAndSeal(t, key);
    const a = await signedFetch(
      t.net.url,
      key,
      "POST",
      "/v1/jobs",
      { envelope, quote },
      { headers: { "idempotency-key": "same-key-123" } },
    );
    const b = await signedFetch(
      t.net.url,
      key,
      "POST",
      "/v1/jobs",
      { envelope, quote },
      { headers: { "idempotency-key": "same-key-123" } },
    );
    const c = await signedFetch(
      t.net.url,
      key,
      "POST",
      "/v1/jobs",
      { envelope, quote },
      { headers: { "idempotency-key": "other-key-456" } },
    );
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.json.jobId).toBe(a.json.jobId);
    expect(c.status).toBe(409);
    expect(c.json.error.code).toBe("job_exists");
    const done = await signedFetch(t.net.url, key, "GET", `/v1/jobs/${p.jobId}?wait=10`);
    expect(done.json.status).toBe("completed");
    // one hold and one settlement, recorded by the job item (issue 12: no ledger items of their own)
    const job = await t.net.store.get("jobs", { pk: p.jobId, sk: "job" });
    expect(job && jobMovementRecords(job)).toMatchObject([
      { pk: `hold:${p.jobId}`, kind: "hold" },
      { pk: `settle:${p.jobId}`, kind: "settle" },
    ]);
    expect(await t.net.store.get("ledger", { pk: `hold:${p.jobId}`, sk: "tx" })).toBeUndefined();
    expect(await t.net.store.get("ledger", { pk: `settle:${p.jobId}`, sk: "tx" })).toBeUndefined();
    const bal = await getBalance(t.net.store, requesterAccount(key.id));
    expect(bal.available).toBe(10_000_000_000n - BigInt(done.json.cost));
  });

  it("POST /v1/jobs?wait=N answers with the finished job (sealed reply and receipt) on the submit itself", async () => {
    const client = await t.client();
    const key = (client as any).opts.key;
    const { envelope, quote } = await prepareAndSeal(t, key);
    const r = await signedFetch(
      t.net.url,
      key,
      "POST",
      "/v1/jobs?wait=10",
      { envelope, quote },
      { headers: { "idempotency-key": "submit-wait-1" } },
    );
    expect(r.status).toBe(202);
    expect(r.json.status).toBe("completed");
    expect(r.json.reply).toBeDefined();
    expect(r.json.receipt.body.jobId).toBe(envelope.header.jobId);
  });

  it("a reused Idempotency-Key with a different body is refused with 422", async () => {
    const client = await t.client();
    const key = (client as any).opts.key;
    const one = await prepareAndSeal(t, key);
    const two = await prepareAndSeal(t, key);
    await signedFetch(
      t.net.url,
      key,
      "POST",
      "/v1/jobs",
      { envelope: one.envelope, quote: one.quote },
      { headers: { "idempotency-key": "reused-key-1" } },
    );
    const r = await signedFetch(
      t.net.url,
      key,
      "POST",
      "/v1/jobs",
      { envelope: two.envelope, quote: two.quote },
      { headers: { "idempotency-key": "reused-key-1" } },
    );
    expect(r.status).toBe(422);
    expect(r.json.error.code).toBe("idempotency_key_reused");
  });

  it("a duplicated result post and a duplicated lease message charge once", async () => {
    const client = await t.client();
    const key = (client as any).opts.key;
    const { envelope, p, quote } = await prepareAndSeal(t, key);
    await signedFetch(t.net.url, key, "POST", "/v1/jobs", { envelope, quote }, { headers: { "idempotency-key": "dup-delivery-1" } });
    const done = await signedFetch(t.net.url, key, "GET", `/v1/jobs/${p.jobId}?wait=10`);
    expect(done.json.status).toBe("completed");
    const worker = t.agents.find((a) => a.workerId === done.json.workerId)!;
    const earned = (await getBalance(t.net.store, workerAccount(worker.workerId))).available;
    // the same result again, through the worker's own signed client
    const again = await worker.api.request(API.postResult, {
      body: { kind: "completed", jobId: p.jobId, attempt: done.json.attempt, reply: done.json.reply, receipt: done.json.receipt },
    });
    expect(again.duplicate).toBe(true);
    // the same queue message delivered twice
    expect(await handleMatchingMessage(t.net.deps, { type: "lease", jobId: p.jobId, attempt: 0 })).toBe("stale");
    expect(await handleMatchingMessage(t.net.deps, { type: "dispatch", jobId: p.jobId, attempt: 0 })).toBe("stale");
    expect((await getBalance(t.net.store, workerAccount(worker.workerId))).available).toBe(earned);
    expect((await getBalance(t.net.store, requesterAccount(key.id))).available).toBe(10_000_000_000n - BigInt(done.json.cost));
  });

  it("issue 9 #11: a path that does not percent-decode is a 400 with a code, only an oversize body is a 413", async () => {
    // Act
    const malformed = await fetch(`${t.net.url}/v1/jobs/%E0%A4%A`);
    const oversize = await fetch(`${t.net.url}/v1/jobs/prepare`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "x".repeat(MAX_PAYLOAD_BYTES + 1), // past what a Lambda takes, which the local server takes too
    });
    // Assess
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as any).error.code).toBe("malformed_path");
    expect(oversize.status).toBe(413);
    expect(((await oversize.json()) as any).error.code).toBe("body_too_large");
  });

  it("invalid bodies get 400 with a code and a message naming the field", async () => {
    const key = generateSigningKey();
    const r = await signedFetch(t.net.url, key, "POST", "/v1/jobs/prepare", { model: MODEL, maxTokens: "ten", maxPromptTokens: 10 });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("invalid_request");
    expect(r.json.error.message).toContain("body.maxTokens");
    const bad = await signedFetch(t.net.url, key, "POST", "/v1/jobs/prepare", undefined, { rawBody: "{not json" });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe("invalid_json");
    const noKey = await signedFetch(t.net.url, key, "POST", "/v1/jobs", { envelope: {} });
    expect(noKey.status).toBe(400);
  });

  it("refuses unsigned, forged, stale, replayed and foreign requests with 401/403 and a reason", async () => {
    const client = await t.client();
    const key = (client as any).opts.key;
    const unsigned = await signedFetch(t.net.url, undefined, "GET", "/v1/account");
    expect([unsigned.status, unsigned.json.error.code]).toEqual([401, "missing_auth"]);
    const stale = await signedFetch(t.net.url, key, "GET", "/v1/account", undefined, { now: Date.now() - 10 * 60_000 });
    expect([stale.status, stale.json.error.code]).toEqual([401, "stale_request"]);
    const nonce = b64u.encode(Buffer.from("0123456789abcdef"));
    const first = await signedFetch(t.net.url, key, "GET", "/v1/account", undefined, { nonce });
    expect(first.status).toBe(200);
    const replay = await signedFetch(t.net.url, key, "GET", "/v1/account", undefined, { nonce });
    expect([replay.status, replay.json.error.code]).toEqual([401, "replayed_request"]);
    // a signature made for one path does not open another
    const { apiHostOf, signRequest } = await import("../core/crypto/request-auth");
    const forged = await signedFetch(t.net.url, key, "GET", "/v1/account", undefined, {
      auth: signRequest(key, { method: "GET", path: "/v1/models", host: apiHostOf(t.net.url) }),
    });
    expect([forged.status, forged.json.error.code]).toEqual([401, "bad_signature"]);
    // someone else's job
    const r = await client.ask({ model: MODEL, messages: [{ role: "user", content: "mine" }], tiers: ["dev"] });
    const stranger = generateSigningKey();
    const foreign = await signedFetch(t.net.url, stranger, "GET", `/v1/jobs/${r.jobId}`);
    expect([foreign.status, foreign.json.error.code]).toEqual([403, "not_your_job"]);
    // a requester is not a worker
    const poll = await signedFetch(t.net.url, stranger, "GET", "/v1/agent/jobs");
    expect([poll.status, poll.json.error.code]).toEqual([403, "not_a_worker"]);
  });

  it("unknown model and insufficient funds get their own errors and hold nothing", async () => {
    const key = generateSigningKey();
    const unknown = await signedFetch(t.net.url, key, "POST", "/v1/jobs/prepare", {
      model: "no-such-model",
      maxTokens: 8,
      maxPromptTokens: 8,
      tiers: ["dev"],
    });
    expect([unknown.status, unknown.json.error.code]).toEqual([404, "unknown_model"]);
    const { envelope, quote } = await prepareAndSeal(t, key); // never funded
    const poor = await signedFetch(
      t.net.url,
      key,
      "POST",
      "/v1/jobs",
      { envelope, quote },
      { headers: { "idempotency-key": "poor-key-01" } },
    );
    expect([poor.status, poor.json.error.code]).toEqual([402, "insufficient_funds"]);
    expect(poor.json.error.message).toMatch(/deposit/);
    const bal = await getBalance(t.net.store, requesterAccount(key.id));
    expect([bal.available, bal.held]).toEqual([0n, 0n]);
  });

  it("rejects a header that differs from the prepared job (AAD cannot be swapped either)", async () => {
    const client = await t.client();
    const key = (client as any).opts.key;
    const { envelope, quote } = await prepareAndSeal(t, key);
    const tampered = { ...envelope, header: { ...envelope.header, maxTokens: envelope.header.maxTokens + 1 } };
    const r = await signedFetch(
      t.net.url,
      key,
      "POST",
      "/v1/jobs",
      { envelope: tampered, quote },
      { headers: { "idempotency-key": "tamper-key-1" } },
    );
    expect([r.status, r.json.error.code]).toEqual([400, "invalid_request"]);
    expect(r.json.error.message).toContain("maxTokens");
  });

  it("serves GET /openapi.json generated from the schemas, and GET /v1/models with live counts and prices", async () => {
    const doc = (await (await fetch(`${t.net.url}/openapi.json`)).json()) as any;
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/v1/jobs/prepare", "/v1/jobs", "/v1/jobs/{id}", "/v1/agents", "/v1/agent/results", "/v1/models"]),
    );
    const models = (await (await fetch(`${t.net.url}/v1/models`)).json()) as any;
    const m = models.models.find((x: { model: string }) => x.model === MODEL);
    expect(m.workers).toBe(2);
    expect(m.tiers).toEqual({ dev: 2 });
    expect(BigInt(m.price.min)).toBeLessThan(BigInt(m.price.max));
  });
});

describe("failover and privacy", () => {
  let t: TestNet;
  let answering: RunningAgent;
  const agentLogs: string[] = [];
  beforeAll(async () => {
    t = await startTestNet({ agents: [], config: { leaseBaseSeconds: 1, leaseMsPerToken: 0 } });
    answering = await startAnsweringAgent(t.net.url, 12_000, agentLogTo(agentLogs));
  });
  afterAll(async () => {
    await answering?.stop();
    await t?.stop();
  });

  it("a job whose first candidate never answers is finished by the second; no coordinator item, message or log holds the prompt or answer", async () => {
    // Prepare: a cheaper worker that never answers is the first candidate
    const silent = await startSilentAgent(t.net.url, 5_000, agentLogTo(agentLogs));
    try {
      const client = await t.client();
      const canary = randomCanary();
      // Act
      const r = await client.ask({ model: MODEL, messages: [{ role: "user", content: `say ${canary}` }], maxTokens: 32, tiers: ["dev"] });
      // Assess: second candidate answered, and the answer echoes the canary (so plaintext existed at the ends)
      expect(r.attempt).toBe(1);
      expect(r.workerId).toBe(answering.workerId);
      expect(r.text).toContain(canary);
      const jobItem = await t.net.store.get("jobs", { pk: r.jobId, sk: "job" });
      expect(jobItem?.candidates).toHaveLength(2);
      expect(t.sent.length).toBeGreaterThan(0);
      expect(t.logs.length).toBeGreaterThan(0);
      expect(agentLogs.length).toBeGreaterThan(0);
      // ... in any encoding (UTF-8, UTF-16, base64, base64url, hex: test/canary.ts), in every
      // stored item and byte on disk, queue message and log line of the coordinator and the agents
      const sources = () => [
        ...lineSources("queue message", t.sent),
        ...lineSources("coordinator log", t.logs),
        ...lineSources("agent log", agentLogs),
        ...storeSources(t.net.store as LmdbStore),
        ...dirSources(t.net.dataDir),
      ];
      expectNoCanary(canary, sources());
      // positive control, same store and scan: the prompt written in deliberately, as an unencrypted payload would be
      const planted = { pk: "canary-control", sk: "quote", payload: b64u.encode(new TextEncoder().encode(`say ${canary}`)) };
      await t.net.store.transact([{ op: "put", table: "quotes", item: planted }]);
      const found = scanForCanary(canary, sources());
      await t.net.store.transact([{ op: "delete", table: "quotes", key: { pk: planted.pk, sk: planted.sk } }]);
      expect(found.map((h) => h.source)).toEqual(
        expect.arrayContaining(["store table quotes", expect.stringMatching(/^file .*data\.mdb$/)]),
      );
    } finally {
      await silent.stop();
    }
  });

  it("when no candidate answers the job is refunded with outcome expired", async () => {
    const silent = await startSilentAgent(t.net.url, 1_000);
    try {
      const client = await t.client();
      const key = (client as any).opts.key;
      const before = await getBalance(t.net.store, requesterAccount(key.id));
      const { envelope, p, quote } = await prepareAndSeal(t, key, "nobody home", { candidates: 1 });
      expect(p.candidates[0]!.workerId).toBe(silent.workerId);
      const sub = await signedFetch(
        t.net.url,
        key,
        "POST",
        "/v1/jobs",
        { envelope, quote },
        { headers: { "idempotency-key": "expire-key-1" } },
      );
      expect(sub.status).toBe(202);
      const held = await getBalance(t.net.store, requesterAccount(key.id));
      expect(held.held).toBe(BigInt(p.maxCost));
      const view = await signedFetch(t.net.url, key, "GET", `/v1/jobs/${p.jobId}?wait=15`);
      expect(view.json.status).toBe("refunded");
      expect(view.json.outcome).toBe("expired");
      const after = await getBalance(t.net.store, requesterAccount(key.id));
      expect(after).toEqual(before);
    } finally {
      await silent.stop();
    }
  });
});

describe("liveness", () => {
  it("an agent that shuts down leaves the candidate lists at once, not when its liveness runs out", async () => {
    // Prepare
    const t = await startTestNet({ agents: [{ priceBps: 10_000 }] });
    try {
      const extra = await startSilentAgent(t.net.url, 9_000);
      const count = async () =>
        ((await (await fetch(`${t.net.url}/v1/models`)).json()) as any).models.find((m: { model: string }) => m.model === MODEL).workers;
      expect(await count()).toBe(2);
      // Act
      await extra.stop();
      // Assess
      expect(await count()).toBe(1);
    } finally {
      await t.stop();
    }
  });
});
