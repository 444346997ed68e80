/**
 * Issue 12: replay protection without a store write per request. The hot-path routes (and
 * withdrawals and the faucet) claim no request nonce any more (`replay: "idempotent"`): each is
 * keyed by its own identity (job id, Idempotency-Key, seqno, result digest, the signed nonce),
 * so the very same signed bytes sent again, later, change nothing.
 *
 * Every test here first removes the replay guard altogether (a guard that accepts every nonce),
 * then sends a request, then sends the same signed bytes again AFTER it was answered, and checks
 * that the store (every item of every table) is exactly as the first request left it. Through
 * the real routes on the in-memory store (test/route-world.ts).
 */
import { describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { generateSigningKey } from "../core/crypto/keys";
import { apiHostOf, signRequest } from "../core/crypto/request-auth";
import { getBalance, requesterAccount } from "../core/ledger";
import type { JobItem } from "../core/jobs";
import type { ReplayGuard, TableName } from "../core/ports";
import { startNetwork } from "../local/network";
import { tabSlotJobId } from "../core/ids";
import { seal } from "../core/jobs/testing";
import { makeRouteWorld, type RouteWorld } from "./route-world";

const TO = "0:" + "c".repeat(64);
const PAYOUT = "0:" + "a".repeat(64);
const TABLES: TableName[] = ["jobs", "quotes", "workers", "offers", "accounts", "ledger", "idempotency", "nonces", "chain"];

/** "The nonce guard is gone": every nonce is new to it. */
const noGuard: ReplayGuard = { claim: async () => true };

/** Factory: the route world with no replay guard at all. */
function worldWithoutGuard() {
  const w = makeRouteWorld();
  w.deps.replay = noGuard;
  return w;
}

/** Every item of every table, as JSON: equal snapshots mean nothing was written. */
const snapshot = (w: RouteWorld) =>
  JSON.stringify(
    TABLES.map((t) => w.store.scan(t)),
    (_k, v) => (typeof v === "bigint" ? `${v}n` : v),
  );

/** What the SDK asks with a submit to renew the quote it was made under (SubmitRequest.renew). */
const renewalOf = (q: { model: string; maxTokens: number; maxPromptTokens: number }) => ({
  model: q.model,
  maxTokens: q.maxTokens,
  maxPromptTokens: q.maxPromptTokens,
  tiers: ["dev"],
});

/** A submitted job and the worker it was dispatched to. */
async function submittedJob(w: RouteWorld) {
  const a = await w.worker();
  const r = await w.requester();
  const { envelope, quote } = await w.sealedJob(r);
  const submit = w.request(r, "POST", "/v1/jobs", { envelope, quote }, { idempotencyKey: "replay-submit-1" });
  const first = await w.send(submit);
  expect(first.status).toBe(202);
  return { a, r, envelope, submit, first };
}

describe("issue 12: replayed requests change nothing, with no replay guard at all", () => {
  it("a replayed submit answers the same job and holds, writes and queues nothing more", async () => {
    // Prepare
    const w = worldWithoutGuard();
    const { r, envelope, submit, first } = await submittedJob(w);
    const before = snapshot(w);
    const queued = w.queues.stats("matching").delayed;
    w.advance(30_000); // later, still inside the signature's freshness window
    // Act
    const replay = await w.send(submit);
    // Assess
    expect(replay.status).toBe(202);
    expect(replay.json).toMatchObject({ jobId: first.json.jobId, status: "assigned" });
    expect(snapshot(w)).toBe(before);
    expect(w.queues.stats("matching").delayed).toBe(queued);
    expect((await w.balance(r.id)).held).toBe(BigInt(envelope.header.maxCost));
  });

  it("a replayed submit that asks its quote's renewal answers a renewed quote again and still writes nothing more", async () => {
    // Prepare
    const w = worldWithoutGuard();
    await w.worker();
    const r = await w.requester();
    const { envelope, quote } = await w.sealedJob(r);
    const renew = renewalOf(quote);
    const submit = w.request(r, "POST", "/v1/jobs", { envelope, quote, renew }, { idempotencyKey: "replay-renew-1" });
    const first = await w.send(submit);
    const before = snapshot(w);
    w.advance(30_000);
    // Act
    const replay = await w.send(submit);
    // Assess
    expect(first.status).toBe(202);
    expect(first.json).toMatchObject({ jobId: envelope.header.jobId, next: { quote: { requester: r.id, model: quote.model } } });
    expect(replay.json).toMatchObject({ jobId: envelope.header.jobId, status: "assigned", next: { quote: { requester: r.id } } });
    expect(snapshot(w)).toBe(before);
    expect((await w.balance(r.id)).held).toBe(BigInt(envelope.header.maxCost));
  });

  it("a submit under a forged quote that asks a renewal is refused as before (403 bad_quote): no renewed quote, nothing written", async () => {
    // Prepare
    const w = worldWithoutGuard();
    await w.worker();
    const r = await w.requester();
    const { envelope, quote } = await w.sealedJob(r);
    const renew = renewalOf(quote);
    const before = snapshot(w);
    // Act
    const refused = await w.send(
      w.request(r, "POST", "/v1/jobs", { envelope, quote: { ...quote, maxCost: "1" }, renew }, { idempotencyKey: "forged-renew-1" }),
    );
    // Assess
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ error: { code: "bad_quote" } });
    expect(refused.json).not.toHaveProperty("next");
    expect(snapshot(w)).toBe(before);
  });

  it("a replayed result is a duplicate: the worker is paid once and nothing is written", async () => {
    // Prepare
    const w = worldWithoutGuard();
    const { a, envelope } = await submittedJob(w);
    const post = w.request(a.signing, "POST", "/v1/agent/results", w.completed(a, envelope));
    const first = await w.send(post);
    const earned = await w.earned(a.id);
    const before = snapshot(w);
    w.advance(30_000);
    // Act
    const replay = await w.send(post);
    // Assess
    expect(first.json).toMatchObject({ status: "completed", duplicate: false });
    expect(replay.status).toBe(200);
    expect(replay.json).toMatchObject({ status: "completed", duplicate: true, cost: first.json.cost });
    expect(await w.earned(a.id)).toBe(earned);
    expect(snapshot(w)).toBe(before);
  });

  it("a replayed failure report after the job moved on is 409 stale_attempt and moves nothing", async () => {
    // Prepare: two candidates; the first reports a failure, the job moves to the second
    const w = worldWithoutGuard();
    const workers = [await w.worker(), await w.worker()];
    const r = await w.requester();
    const { envelope, quote } = await w.sealedJob(r, { candidates: 2 });
    expect((await w.call(r, "POST", "/v1/jobs", { envelope, quote }, { idempotencyKey: "replay-fail-1" })).status).toBe(202);
    const job = await w.store.get<JobItem>("jobs", { pk: envelope.header.jobId, sk: "job" });
    const worker = workers.find((x) => x.id === job!.candidates[0]!.workerId)!;
    const fail = w.request(worker.signing, "POST", "/v1/agent/results", {
      kind: "failed",
      jobId: envelope.header.jobId,
      attempt: 0,
      code: "engine_error",
    });
    expect((await w.send(fail)).status).toBe(200);
    const before = snapshot(w);
    // Act
    const replay = await w.send(fail);
    // Assess
    expect([replay.status, replay.json.error.code]).toEqual([409, "stale_attempt"]);
    expect(snapshot(w)).toBe(before);
  });

  it("a replayed withdrawal answers the same signed withdrawal and reserves nothing more", async () => {
    // Prepare
    const w = worldWithoutGuard();
    const r = await w.requester();
    const req = w.request(r, "POST", "/v1/account/withdraw", { amount: "1000000000", to: TO }, { idempotencyKey: "replay-withdraw-1" });
    const first = await w.send(req);
    const before = snapshot(w);
    w.advance(30_000);
    // Act
    const replay = await w.send(req);
    // Assess
    expect(first.status).toBe(200);
    expect(replay.status).toBe(200);
    expect(replay.json).toEqual(first.json);
    expect(snapshot(w)).toBe(before);
  });

  it("a replayed voucher request (nothing earned since) answers the same cumulative voucher and moves nothing", async () => {
    // Prepare: a worker with one settled job
    const w = worldWithoutGuard();
    const { a, envelope } = await submittedJob(w);
    expect((await w.call(a.signing, "POST", "/v1/agent/results", w.completed(a, envelope))).status).toBe(200);
    const req = w.request(a.signing, "POST", "/v1/agents/voucher", { payoutAddress: PAYOUT });
    const first = await w.send(req);
    const before = snapshot(w);
    // Act
    const replay = await w.send(req);
    // Assess
    expect(first.status).toBe(200);
    expect(replay.status).toBe(200);
    expect(replay.json.cumulative).toBe(first.json.cumulative);
    expect(snapshot(w)).toBe(before);
  });

  it("a replayed faucet call credits nothing, with an Idempotency-Key and without one (keyed by the signed nonce)", async () => {
    // Prepare
    const w = worldWithoutGuard();
    const key = generateSigningKey();
    const keyed = w.request(key, "POST", "/v1/account/faucet", { amount: "1000" }, { idempotencyKey: "replay-faucet-1" });
    const bare = w.request(key, "POST", "/v1/account/faucet", { amount: "500" });
    await w.send(keyed);
    await w.send(bare);
    const before = snapshot(w);
    w.advance(1_000);
    // Act
    const replays = [await w.send(keyed), await w.send(bare)];
    // Assess
    expect(replays.map((x) => x.status)).toEqual([200, 200]);
    expect((await getBalance(w.store, requesterAccount(key.id))).available).toBe(1500n);
    expect(snapshot(w)).toBe(before);
  });

  it("replayed reads (prepare, GET job) write nothing", async () => {
    const w = worldWithoutGuard();
    const { r, first } = await submittedJob(w);
    const prepare = w.request(r, "POST", "/v1/jobs/prepare", { model: "test/model-1", maxTokens: 8, maxPromptTokens: 8, tiers: ["dev"] });
    const read = w.request(r, "GET", `/v1/jobs/${first.json.jobId}`);
    const before = snapshot(w);
    const answers = [await w.send(prepare), await w.send(prepare), await w.send(read), await w.send(read)];
    expect(answers.map((x) => x.status)).toEqual([200, 200, 200, 200]);
    expect(snapshot(w)).toBe(before);
  });
});

describe("issue 12: tabs, replayed over HTTP with no replay guard at all", () => {
  /** A requester with an open tab of 4 slots (POST /v1/tabs) and a live worker. */
  async function withTab(w: RouteWorld) {
    const a = await w.worker();
    const r = await w.requester();
    const open = w.request(r, "POST", "/v1/tabs", { slots: 4, slotCost: "1000000", ttlSeconds: 300 }, { idempotencyKey: "tab-replay-1" });
    const opened = await w.send(open);
    expect(opened.status).toBe(201);
    return { a, r, open, opened };
  }

  it("a replayed open answers the same tab and holds and writes nothing more", async () => {
    // Prepare
    const w = worldWithoutGuard();
    const { r, open, opened } = await withTab(w);
    const before = snapshot(w);
    w.advance(30_000);
    // Act
    const replay = await w.send(open);
    // Assess
    expect(replay.status).toBe(201);
    expect(replay.json).toEqual(opened.json);
    expect(snapshot(w)).toBe(before);
    expect((await w.balance(r.id)).held).toBe(4_000_000n);
  });

  it("a replayed submit and a replayed result under a tab write nothing more, and neither moves a balance", async () => {
    // Prepare
    const w = worldWithoutGuard();
    const { a, r, opened } = await withTab(w);
    const tab = opened.json.tab;
    const { header, quote, prepared } = await w.sealedJob(r);
    const envelope = seal({ ...header, jobId: tabSlotJobId(tab.tabId, 0) }, prepared.candidates);
    const submit = w.request(
      r,
      "POST",
      "/v1/jobs",
      { envelope, quote, tab: { tab, slot: 0 } },
      { idempotencyKey: `submit-${envelope.header.jobId}` },
    );
    const balance = await w.balance(r.id);
    expect((await w.send(submit)).status).toBe(202);
    const post = w.request(a.signing, "POST", "/v1/agent/results", w.completed(a, envelope));
    expect((await w.send(post)).json).toMatchObject({ status: "completed", duplicate: false });
    const before = snapshot(w);
    w.advance(30_000);
    // Act
    const again = await w.send(submit);
    const repost = await w.send(post);
    // Assess
    expect(again.status).toBe(202);
    expect(again.json).toMatchObject({ jobId: envelope.header.jobId, status: "completed" });
    expect(repost.json).toMatchObject({ status: "completed", duplicate: true });
    expect(snapshot(w)).toBe(before);
    expect(await w.balance(r.id)).toEqual(balance);
    expect(await w.earned(a.id)).toBe(0n); // paid when the tab closes
  });

  it("bad tab bodies are 400 invalid_request and hold nothing", async () => {
    const w = worldWithoutGuard();
    const r = await w.requester();
    const before = await w.balance(r.id);
    for (const body of [
      { slots: 0, slotCost: "1" },
      { slots: 33, slotCost: "1" },
      { slots: 2, slotCost: "0" },
      { slots: 2, slotCost: "1", extra: 1 },
    ]) {
      const res = await w.call(r, "POST", "/v1/tabs", body, { idempotencyKey: `bad-${JSON.stringify(body).length}-${body.slots}` });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.code).toBe("invalid_request");
    }
    expect((await w.call(r, "POST", "/v1/tabs", { slots: 2, slotCost: "1" })).json.error.code).toBe("missing_idempotency_key");
    expect((await w.call(r, "GET", "/v1/tabs/nope")).json.error.code).toBe("invalid_tab_id");
    expect(await w.balance(r.id)).toEqual(before);
  });
});

describe("issue 12: the hot path claims no request nonce", () => {
  it("prepare, submit, GET job and result write no nonce with the default (store) guard; a guarded route still does", async () => {
    // Prepare: the default guard (the store's conditional put, as on AWS)
    const w = makeRouteWorld();
    const { a, r, envelope, first } = await submittedJob(w);
    await w.call(r, "POST", "/v1/jobs/prepare", { model: "test/model-1", maxTokens: 8, maxPromptTokens: 8, tiers: ["dev"] });
    await w.call(r, "GET", `/v1/jobs/${first.json.jobId}`);
    await w.call(a.signing, "POST", "/v1/agent/results", w.completed(a, envelope));
    const hotPath = w.store.scan("nonces").filter((n) => !String(n.pk).startsWith("reg#")).length;
    // Act: a route that keeps the guard (a replayed heartbeat could flip a worker's state)
    await w.call(r, "GET", "/v1/account");
    // Assess
    expect(hotPath).toBe(0);
    expect(w.store.scan("nonces").filter((n) => !String(n.pk).startsWith("reg#"))).toHaveLength(1);
  });
});

describe("issue 9 #10, by idempotency: a faucet call replayed across a real restart (LMDB, HTTP)", () => {
  it("issue 9 #10: a dev faucet request (no Idempotency-Key) signed 4 s ahead credits nothing when replayed after the coordinator restarts", async () => {
    // Prepare
    const dataDir = tempDir("cocoon-replay12-");
    const key = generateSigningKey();
    let net = await startNetwork({ dataDir, chain: false });
    const port = Number(new URL(net.url).port);
    const body = JSON.stringify({ amount: "1000" });
    const auth = signRequest(key, { method: "POST", path: "/v1/account/faucet", body, host: apiHostOf(net.url), now: Date.now() + 4_000 });
    // connection: close: a kept-alive socket of the stopped coordinator is not reused for the
    // replay (whether the client has seen it close by then is a race of the event loop)
    const send = () =>
      fetch(`${net.url}/v1/account/faucet`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-cocoon-auth": auth, connection: "close" },
        body,
      });
    const first = await send();
    await net.stop();
    net = await startNetwork({ dataDir, chain: false, port });
    try {
      // Act
      const replay = await send();
      const balance = await getBalance(net.store, requesterAccount(key.id));
      // Assess
      expect(first.status).toBe(200);
      expect(replay.status).toBe(200);
      expect(balance.available).toBe(1000n);
    } finally {
      await net.stop();
    }
  });
});
