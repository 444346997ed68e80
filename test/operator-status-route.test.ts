/**
 * GET /v1/operator/status through the real routes on the in-memory store (test/route-world.ts):
 * the operator's fees as real settlements with a fee leave them (each in its worker's shard
 * `opr:fees:<k>`), as a voucher moves them (vouchered, the payout address bound) and as the
 * watcher books the vault's payment (redeemed); the fee in force; and any other key refused
 * before the store is read at all.
 */
import { describe, expect, it } from "vitest";
import { createChainLedger } from "../core/chain/store-ledger";
import { generateSigningKey } from "../core/crypto/keys";
import { operatorFee, operatorFeeShard } from "../core/ledger";
import { postResult } from "../core/jobs/results";
import { jobCost } from "../core/pricing";
import type { Store } from "../core/ports";
import { OperatorStatusView } from "../events/money";
import { makeRouteWorld, type RouteWorld } from "./route-world";

const PAYOUT = "0:" + "a".repeat(64);
const FEE_BPS = 500;
const USAGE = { promptTokens: 11, completionTokens: 13 };

/** Factory: the route world whose coordinator runs with FEE_BPS as its configured fee (no registry), the operator key configured unless told otherwise. */
function operatorWorld(o: { configured?: boolean } = {}) {
  const w = makeRouteWorld();
  w.deps.config = { ...w.deps.config, operatorFeeBps: FEE_BPS };
  const operator = generateSigningKey();
  if (o.configured !== false) w.deps.operatorKeyId = operator.id;
  return { w, operator };
}

/** A job submitted and settled for real (core/jobs/results.ts); its operator fee and the shard its worker pays into. */
async function settledJob(w: RouteWorld) {
  const { envelope, workers, job } = await w.submitted();
  const worker = workers[0]!;
  await postResult(w.deps, worker.id, w.completed(worker, envelope, { usage: USAGE }));
  const fee = operatorFee(jobCost(w.deps.config.pricing, BigInt(job.candidates[0]!.pricePerToken), USAGE), FEE_BPS);
  return { fee, shard: operatorFeeShard(worker.id), worker };
}

/** What the route answered, checked against the wire schema the client parses with. */
async function status(w: RouteWorld, key = generateSigningKey()) {
  const r = await w.call(key, "GET", "/v1/operator/status");
  expect(r.status, r.text).toBe(200);
  return OperatorStatusView.parse(r.json);
}

/** `n` nanoTON per shard, as strings, with `at` added where given. */
const shardsWith = (at: Array<[number, bigint]>) => {
  const s = Array.from({ length: 16 }, () => 0n);
  for (const [k, v] of at) s[k]! += v;
  return s.map(String);
};

/** Counts every store call made while `fn` runs. */
async function storeCallsDuring(store: Store, fn: () => Promise<unknown>): Promise<string[]> {
  const calls: string[] = [];
  const s = store as unknown as Record<string, unknown>;
  const saved = new Map<string, unknown>();
  for (const name of ["get", "query", "transact", "put", "scan"]) {
    const f = s[name];
    if (typeof f !== "function") continue;
    saved.set(name, f);
    s[name] = (...args: unknown[]) => (calls.push(name), (f as (...a: unknown[]) => unknown).apply(store, args));
  }
  try {
    await fn();
  } finally {
    for (const [name, f] of saved) s[name] = f;
  }
  return calls;
}

describe("GET /v1/operator/status", () => {
  it("after settlements with a fee: earned and available are the fees, each in its worker's shard; nothing vouchered; the fee in force", async () => {
    // Prepare
    const { w, operator } = operatorWorld();
    const a = await settledJob(w);
    const b = await settledJob(w);

    // Act
    const s = await status(w, operator);

    // Assess
    const total = a.fee + b.fee;
    expect(a.fee).toBeGreaterThan(0n);
    expect(s).toEqual({
      earned: total.toString(),
      redeemed: "0",
      available: total.toString(),
      shards: shardsWith([
        [a.shard, a.fee],
        [b.shard, b.fee],
      ]),
      vouchered: "0",
      fee: { bps: FEE_BPS, source: "config" },
    });
  });

  it("after a voucher: the fees are vouchered to the bound address; the vault's payment, once booked, is redeemed; a later fee is available", async () => {
    // Prepare
    const { w, operator } = operatorWorld();
    const a = await settledJob(w);
    const voucher = await w.call(operator, "POST", "/v1/operator/voucher", { payoutAddress: PAYOUT });
    expect(voucher.status, voucher.text).toBe(200);

    // Act
    const afterVoucher = await status(w, operator);
    await createChainLedger(w.store).recordRedemption(
      "bb".repeat(32),
      { payee: voucher.json.payee, worker: PAYOUT, cumulative: a.fee, due: a.fee },
      w.clock.now(),
    );
    const afterRedeem = await status(w, operator);
    const b = await settledJob(w);
    const afterMore = await status(w, operator);

    // Assess
    expect(afterVoucher).toEqual({
      earned: a.fee.toString(),
      redeemed: "0",
      available: "0",
      shards: shardsWith([]),
      vouchered: a.fee.toString(),
      payoutAddress: PAYOUT,
      fee: { bps: FEE_BPS, source: "config" },
    });
    expect(afterRedeem).toMatchObject({ earned: a.fee.toString(), redeemed: a.fee.toString(), vouchered: a.fee.toString() });
    expect(afterMore).toMatchObject({
      earned: (a.fee + b.fee).toString(),
      redeemed: a.fee.toString(),
      available: b.fee.toString(),
      shards: shardsWith([[b.shard, b.fee]]),
      vouchered: a.fee.toString(),
    });
  });

  it("any other key (a registered worker's too) is refused with 403 not_the_operator, and the store is not read", async () => {
    // Prepare
    const { w } = operatorWorld();
    const { worker } = await settledJob(w);
    let byWorker: Awaited<ReturnType<RouteWorld["call"]>> | undefined;
    let byStranger: typeof byWorker;

    // Act
    const calls = await storeCallsDuring(w.store, async () => {
      byWorker = await w.call(worker.signing, "GET", "/v1/operator/status");
      byStranger = await w.call(generateSigningKey(), "GET", "/v1/operator/status");
    });

    // Assess
    expect([byWorker!.status, byWorker!.json.error.code]).toEqual([403, "not_the_operator"]);
    expect([byStranger!.status, byStranger!.json.error.code]).toEqual([403, "not_the_operator"]);
    expect(byWorker!.text).not.toContain("earned");
    expect(calls).toEqual([]);
  });

  it("no operator key configured: 503 payouts_unavailable; unsigned: 401", async () => {
    // Prepare
    const off = operatorWorld({ configured: false });
    // Act
    const unconfigured = await off.w.call(off.operator, "GET", "/v1/operator/status");
    const unsigned = await off.w.call(undefined, "GET", "/v1/operator/status");
    // Assess
    expect([unconfigured.status, unconfigured.json.error.code]).toEqual([503, "payouts_unavailable"]);
    expect(unsigned.status).toBe(401);
  });
});
