/**
 * Issue 14: every idempotent operation, sent CONCURRENTLY (not one after another), has one
 * effect and gives every sender the same answer. Through the real routes (signature, schemas,
 * Idempotency-Key header, handler) on the in-memory store (test/route-world.ts). Two shapes of
 * "the same request": the very same signed bytes sent N times at once (a client retrying over
 * several connections, a proxy duplicating), and N separately signed requests carrying one
 * Idempotency-Key (a client retrying after a timeout).
 *
 * Submit and result races on the core functions are in test/job-integrity.test.ts; here they go
 * through the routes. Withdrawal, voucher and faucet had none.
 */
import { describe, expect, it } from "vitest";
import { getBalance, requesterAccount, workerAccount } from "../core/ledger";
import { voucherAccount } from "../core/payouts";
import { pendingWithdrawalAccount } from "../core/chain/store-ledger";
import { generateSigningKey } from "../core/crypto/keys";
import type { SigningKeyPair } from "../core/crypto/keys";
import { makeRouteWorld, type Answer, type RouteWorld } from "./route-world";
import { ledgerRecords } from "../core/jobs/testing";

const N = 6;
const TO = "0:" + "c".repeat(64);
const PAYOUT = "0:" + "a".repeat(64);

/** The ledger movements of one kind (each is one effect). */
const movements = (w: RouteWorld, kind: string) => ledgerRecords(w.store).filter((m) => m.kind === kind);

/** The same signed request, N times at once. */
const copies = (w: RouteWorld, req: ReturnType<RouteWorld["request"]>, n = N) => Promise.all(Array.from({ length: n }, () => w.send(req)));

/** N separately signed requests (each its own nonce) with one body and Idempotency-Key, at once. */
const retries = (w: RouteWorld, key: SigningKeyPair, path: string, body: unknown, idempotencyKey?: string, n = N) =>
  Promise.all(Array.from({ length: n }, () => w.call(key, "POST", path, body, idempotencyKey ? { idempotencyKey } : {})));

const statuses = (as: Answer[]) => as.map((a) => a.status);

/** A worker with `amount` earned through a settled job (so a voucher has something to cover). */
async function workerWithEarnings(w: RouteWorld) {
  const a = await w.worker();
  const r = await w.requester();
  const { envelope, quote } = await w.sealedJob(r);
  expect((await w.call(r, "POST", "/v1/jobs", { envelope, quote }, { idempotencyKey: "submit-key-1" })).status).toBe(202);
  const posted = await w.call(a.signing, "POST", "/v1/agent/results", w.completed(a, envelope));
  expect(posted.status).toBe(200);
  return { a, earned: await w.earned(a.id) };
}

describe("submit: the same job, sent concurrently", () => {
  it("the same signed submit sent 6 times at once: six identical 202s, one job, the maximum held once", async () => {
    // Prepare
    const w = makeRouteWorld();
    await w.worker();
    const r = await w.requester();
    const { envelope, quote } = await w.sealedJob(r);
    const req = w.request(r, "POST", "/v1/jobs", { envelope, quote }, { idempotencyKey: "submit-same-bytes" });
    // Act
    const answers = await copies(w, req);
    // Assess
    expect(statuses(answers)).toEqual(Array(N).fill(202));
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    expect(answers[0]!.json).toMatchObject({ jobId: envelope.header.jobId });
    expect(movements(w, "hold")).toHaveLength(1);
    expect(await w.balance(r.id)).toEqual({
      available: 10_000_000_000n - BigInt(envelope.header.maxCost),
      held: BigInt(envelope.header.maxCost),
    });
  });

  it("6 separately signed submits with one Idempotency-Key at once: identical 202s, one hold", async () => {
    const w = makeRouteWorld();
    await w.worker();
    const r = await w.requester();
    const { envelope, quote } = await w.sealedJob(r);
    const answers = await retries(w, r, "/v1/jobs", { envelope, quote }, "submit-retried-key");
    expect(statuses(answers)).toEqual(Array(N).fill(202));
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    expect(movements(w, "hold")).toHaveLength(1);
    expect((await w.balance(r.id)).held).toBe(BigInt(envelope.header.maxCost));
  });
});

describe("result: the same answer posted concurrently", () => {
  it("the same signed result sent 6 times at once: all 200 with one cost, exactly one is the settling one, charged and credited once", async () => {
    // Prepare
    const w = makeRouteWorld();
    const a = await w.worker();
    const r = await w.requester();
    const { envelope, quote } = await w.sealedJob(r);
    expect((await w.call(r, "POST", "/v1/jobs", { envelope, quote }, { idempotencyKey: "submit-key-1" })).status).toBe(202);
    const req = w.request(a.signing, "POST", "/v1/agent/results", w.completed(a, envelope));
    // Act
    const answers = await copies(w, req);
    // Assess: the answers differ only in who settled
    expect(statuses(answers)).toEqual(Array(N).fill(200));
    expect(answers.filter((x) => x.json.duplicate === false)).toHaveLength(1);
    expect(new Set(answers.map((x) => JSON.stringify({ ...x.json, duplicate: undefined }))).size).toBe(1);
    const cost = BigInt(answers[0]!.json.cost);
    expect(cost).toBeGreaterThan(0n);
    expect(movements(w, "settle")).toHaveLength(1);
    expect(await w.earned(a.id)).toBe(cost);
    expect(await w.balance(r.id)).toEqual({ available: 10_000_000_000n - cost, held: 0n });
  });
});

describe("withdrawal: the same withdrawal requested concurrently", () => {
  async function funded() {
    const w = makeRouteWorld();
    const r = await w.requester(5_000_000_000n);
    return { w, r };
  }

  it("the same signed withdrawal sent 6 times at once: six identical answers (one seqno, one signature), reserved once", async () => {
    // Prepare
    const { w, r } = await funded();
    const req = w.request(r, "POST", "/v1/account/withdraw", { amount: "1000000000", to: TO }, { idempotencyKey: "withdraw-same-bytes" });
    // Act
    const answers = await copies(w, req);
    // Assess
    expect(statuses(answers)).toEqual(Array(N).fill(200));
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    expect(answers[0]!.json).toMatchObject({ seqno: 0, amount: "1000000000", to: TO });
    expect(movements(w, "withdrawal")).toHaveLength(1);
    expect((await getBalance(w.store, requesterAccount(r.id))).available).toBe(4_000_000_000n);
    expect((await getBalance(w.store, pendingWithdrawalAccount(r.id))).available).toBe(1_000_000_000n);
    // the seqno was taken once: the next new withdrawal gets 1
    const next = await w.call(r, "POST", "/v1/account/withdraw", { amount: "1", to: TO }, { idempotencyKey: "withdraw-next-one" });
    expect(next.json.seqno).toBe(1);
  });

  it("6 separately signed withdrawals with one Idempotency-Key at once: identical answers, reserved once", async () => {
    const { w, r } = await funded();
    const answers = await retries(w, r, "/v1/account/withdraw", { amount: "700", to: TO }, "withdraw-retried-key");
    expect(statuses(answers)).toEqual(Array(N).fill(200));
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    expect(movements(w, "withdrawal")).toHaveLength(1);
    expect((await getBalance(w.store, pendingWithdrawalAccount(r.id))).available).toBe(700n);
  });

  it("one Idempotency-Key, different amounts at once: one withdrawal is issued, every other answer is 422 idempotency_key_reused", async () => {
    const { w, r } = await funded();
    const answers = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((i) =>
        w.call(r, "POST", "/v1/account/withdraw", { amount: String(i * 100), to: TO }, { idempotencyKey: "withdraw-contested" }),
      ),
    );
    const ok = answers.filter((a) => a.status === 200);
    expect(ok).toHaveLength(1);
    expect(answers.filter((a) => a.status !== 200).map((a) => [a.status, a.json.error.code])).toEqual(
      Array(N - 1).fill([422, "idempotency_key_reused"]),
    );
    expect(movements(w, "withdrawal")).toHaveLength(1);
    expect((await getBalance(w.store, pendingWithdrawalAccount(r.id))).available).toBe(BigInt(ok[0]!.json.amount));
  });
});

describe("voucher: the same voucher asked for concurrently", () => {
  it("6 separately signed voucher requests at once: identical vouchers (one cumulative, one signature), earnings moved once", async () => {
    // Prepare
    const w = makeRouteWorld();
    const { a, earned } = await workerWithEarnings(w);
    expect(earned).toBeGreaterThan(0n);
    // Act
    const answers = await retries(w, a.signing, "/v1/agents/voucher", { payoutAddress: PAYOUT });
    // Assess
    expect(statuses(answers)).toEqual(Array(N).fill(200));
    expect(new Set(answers.map((x) => x.text)).size).toBe(1);
    expect(answers[0]!.json).toMatchObject({ worker: PAYOUT, cumulative: earned.toString() });
    expect(movements(w, "voucher")).toHaveLength(1);
    expect((await getBalance(w.store, workerAccount(a.id))).available).toBe(0n);
    expect((await getBalance(w.store, voucherAccount(a.id))).available).toBe(earned);
  });

  it("the same signed voucher request sent 6 times at once moves the earnings once; every answer is that voucher or a refused replay", async () => {
    const w = makeRouteWorld();
    const { a, earned } = await workerWithEarnings(w);
    const answers = await copies(w, w.request(a.signing, "POST", "/v1/agents/voucher", { payoutAddress: PAYOUT }));
    const ok = answers.filter((x) => x.status === 200);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(new Set(ok.map((x) => x.text)).size).toBe(1);
    for (const x of answers.filter((y) => y.status !== 200)) expect([x.status, x.json.error.code]).toEqual([401, "replayed_request"]);
    expect(movements(w, "voucher")).toHaveLength(1);
    expect((await getBalance(w.store, voucherAccount(a.id))).available).toBe(earned);
  });
});

describe("faucet (dev): the same credit asked for concurrently", () => {
  it("6 separately signed faucet calls with one Idempotency-Key at once: credited once, six identical balances", async () => {
    const w = makeRouteWorld();
    const r = generateSigningKey();
    const answers = await retries(w, r, "/v1/account/faucet", { amount: "5000" }, "faucet-retried-key");
    expect(statuses(answers)).toEqual(Array(N).fill(200));
    expect(new Set(answers.map((x) => x.text)).size).toBe(1);
    expect(answers[0]!.json).toMatchObject({ available: "5000" });
    expect(movements(w, "faucet")).toHaveLength(1);
  });

  it("the same signed faucet call without an Idempotency-Key sent 6 times at once: keyed by its nonce, credited once", async () => {
    const w = makeRouteWorld();
    const r = generateSigningKey();
    const answers = await copies(w, w.request(r, "POST", "/v1/account/faucet", { amount: "5000" }));
    expect(movements(w, "faucet")).toHaveLength(1);
    expect((await getBalance(w.store, requesterAccount(r.id))).available).toBe(5000n);
    // each answer is the one credit, or the copy refused as a replay (where the route guards nonces)
    for (const x of answers) {
      if (x.status === 200) expect(x.json).toMatchObject({ available: "5000" });
      else expect([x.status, x.json.error.code]).toEqual([401, "replayed_request"]);
    }
  });
});
