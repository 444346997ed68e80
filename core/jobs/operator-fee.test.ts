/**
 * The operator fee (the registry's `fees.operatorFeeBps`, else config.operatorFeeBps), applied
 * end to end: the requester's charge does not change; at settlement the worker is credited
 * cost − floor(cost × bps / 10 000) and the operator the fee (in the worker's fee shard), in the settlement's own
 * transaction, so the books still balance and a replayed result moves nothing. The fee is the
 * one in force at the job's submit (kept on the job item), never the one at its settlement.
 */
import { describe, expect, it } from "vitest";
import { InvalidFeeError, OPERATOR_FEE_ACCOUNTS, operatorFeeAccount, operatorFeesEarned, workerAccount } from "../ledger";
import type { PolicyReading } from "../policy-registry";
import { jobCost } from "../pricing";
import { jobKey, type JobItem } from "./items";
import { postResult } from "./results";
import { operatorFeeBpsOf, submitJob } from "./submit";
import { FUNDS, ledgerDiscrepancies, makeJobWorld, readingRegistry, type JobWorld } from "./testing";

const USAGE = { promptTokens: 11, completionTokens: 13 };

/** A job world whose coordinator runs with `bps` as its configured operator fee (no registry). */
function worldWithFee(bps: number): JobWorld {
  const w = makeJobWorld();
  w.deps.config = { ...w.deps.config, operatorFeeBps: bps };
  return w;
}

/** A job world reading a policy registry whose operator fee the test changes (`setFee`: the owners execute a new policy). */
function worldWithRegistry(bps: number) {
  const w = makeJobWorld();
  const registry = readingRegistry(w, { fees: { pricePerToken: 100n, promptBps: 2_500, completionBps: 10_000, operatorFeeBps: bps } });
  const setFee = (next: number) => registry.execute((p) => ({ ...p, fees: { ...p.fees, operatorFeeBps: next } }));
  return { w, setFee };
}

const jobOf = async (w: JobWorld, jobId: string) => (await w.store.get<JobItem>("jobs", jobKey(jobId)))!;
const operatorEarned = (w: JobWorld) => operatorFeesEarned(w.store);
const costOf = (w: JobWorld, job: JobItem, usage = USAGE) =>
  jobCost(w.deps.config.pricing, BigInt(job.candidates[0]!.pricePerToken), usage);

describe("operator fee: the worker is credited cost − fee, the operator the fee, the requester is charged the cost", () => {
  it("at 500 bps (5 %): the split is exact, in the settlement's own transaction, and the books balance", async () => {
    // Prepare
    const w = worldWithFee(500);
    const { r, envelope, workers, job } = await w.submitted();
    const a = workers[0]!;
    // Act
    const out = await postResult(w.deps, a.id, w.completed(a, envelope, { usage: USAGE }));
    // Assess
    const cost = costOf(w, job);
    const fee = (cost * 500n) / 10_000n;
    expect(fee).toBeGreaterThan(0n);
    expect(out).toEqual({
      status: "completed",
      cost: cost.toString(),
      credit: (cost - fee).toString(),
      settlement: expect.any(String),
      duplicate: false,
    });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - cost, held: 0n });
    expect(await w.earned(a.id)).toBe(cost - fee);
    expect(await operatorEarned(w)).toBe(fee);
    expect((await jobOf(w, job.jobId)).operatorFeeBps).toBe(500);
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
    // one transaction moved the requester's, the worker's and the operator's balances
    const commit = w.transacts.find((ops) =>
      ops.some((op) => op.op === "update" && op.table === "accounts" && op.key.pk === operatorFeeAccount(a.id)),
    );
    expect(commit?.some((op) => op.op === "update" && op.table === "accounts" && op.key.pk === workerAccount(a.id))).toBe(true);
    expect(commit?.some((op) => op.op === "update" && op.table === "jobs" && op.set?.status === "completed")).toBe(true);
  });

  it("at 0 bps: nothing changes: no fee on the job, no operator account, the answer names no credit", async () => {
    // Prepare
    const w = worldWithFee(0);
    const { envelope, workers, job } = await w.submitted();
    const a = workers[0]!;
    // Act
    const out = await postResult(w.deps, a.id, w.completed(a, envelope, { usage: USAGE }));
    // Assess
    const cost = costOf(w, job);
    expect(out).toEqual({ status: "completed", cost: cost.toString(), settlement: expect.any(String), duplicate: false });
    expect(await w.earned(a.id)).toBe(cost);
    for (const pk of OPERATOR_FEE_ACCOUNTS) expect(await w.store.get("accounts", { pk, sk: "balance" })).toBeUndefined();
    expect("operatorFeeBps" in (await jobOf(w, job.jobId))).toBe(false);
  });

  it("at 10 000 bps (100 %): the operator takes the whole cost, the worker 0, and its counters still ride on its balance", async () => {
    // Prepare
    const w = worldWithFee(10_000);
    const { r, envelope, workers, job } = await w.submitted();
    const a = workers[0]!;
    // Act
    const out = await postResult(w.deps, a.id, w.completed(a, envelope, { usage: USAGE }));
    // Assess
    const cost = costOf(w, job);
    expect(out.credit).toBe("0");
    expect(await w.earned(a.id)).toBe(0n);
    expect(await operatorEarned(w)).toBe(cost);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - cost, held: 0n });
    expect(await w.store.get("accounts", { pk: workerAccount(a.id), sk: "balance" })).toMatchObject({ jobs: 1, ...USAGE });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("rounding goes to the worker: a 1-nanoTON job at 1 bps pays the operator nothing", async () => {
    // Prepare: one prompt token at a quarter weight, one nanoTON a token: ceil(1 × 2500 / 10000) = 1
    const w = worldWithFee(1);
    w.deps.config = { ...w.deps.config, pricing: { ...w.deps.config.pricing, defaultBasePerToken: 1n } };
    const { envelope, workers, job } = await w.submitted();
    const a = workers[0]!;
    const usage = { promptTokens: 1, completionTokens: 0 };
    // Act
    const out = await postResult(w.deps, a.id, w.completed(a, envelope, { usage }));
    // Assess
    expect(costOf(w, job, usage)).toBe(1n);
    expect(out).toMatchObject({ cost: "1", credit: "1" });
    expect(await w.earned(a.id)).toBe(1n);
    expect(await operatorEarned(w)).toBe(0n);
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("a fee outside 0..10 000 bps (a misconfigured coordinator) refuses the submit before any money is held", async () => {
    // Prepare
    const w = worldWithFee(10_001);
    await w.worker();
    const req = await w.requester();
    const { envelope, quote } = await w.sealedJob(req);
    // Act
    const err = await submitJob(w.deps, req.id, envelope, "key-1", quote).catch((e: unknown) => e);
    // Assess
    expect((err as Error).name).toBe("InvalidFeeError");
    expect(await w.balance(req.id)).toEqual({ available: FUNDS, held: 0n });
  });
});

describe("operator fee: exactly once", () => {
  it("five concurrent identical posts, then a late repost: the fee is taken once, and every answer names the same credit", async () => {
    // Prepare
    const w = worldWithFee(2_500);
    const { envelope, workers, job } = await w.submitted();
    const a = workers[0]!;
    const result = w.completed(a, envelope, { usage: USAGE });
    // Act
    const outs = await Promise.all(Array.from({ length: 5 }, () => postResult(w.deps, a.id, result)));
    const late = await postResult(w.deps, a.id, result);
    // Assess
    const cost = costOf(w, job);
    const fee = (cost * 2_500n) / 10_000n;
    expect(outs.filter((o) => !o.duplicate)).toHaveLength(1);
    expect(late.duplicate).toBe(true);
    for (const o of [...outs, late]) expect(o).toMatchObject({ cost: cost.toString(), credit: (cost - fee).toString() });
    expect(await w.earned(a.id)).toBe(cost - fee);
    expect(await operatorEarned(w)).toBe(fee);
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });
});

describe("operator fee: the fee in force at submit, never the one at settlement", () => {
  it("the registry's fee rises from 1 % to 20 % while the job runs: it settles at 1 %; a job submitted after settles at 20 %", async () => {
    // Prepare: one worker; a job submitted under 100 bps, then the owners move the fee to 2000 bps and a second is submitted
    const { w, setFee } = worldWithRegistry(100);
    const a = await w.worker();
    const req = await w.requester();
    const submit = async (key: string) => {
      const { envelope, header, quote } = await w.sealedJob(req);
      await submitJob(w.deps, req.id, envelope, key, quote);
      return { envelope, job: await jobOf(w, header.jobId) };
    };
    const first = await submit("key-1");
    setFee(2_000);
    const second = await submit("key-2");
    // Act
    await postResult(w.deps, a.id, w.completed(a, first.envelope, { usage: USAGE }));
    const afterFirst = { worker: await w.earned(a.id), operator: await operatorEarned(w) };
    await postResult(w.deps, a.id, w.completed(a, second.envelope, { usage: USAGE }));
    // Assess
    const cost1 = costOf(w, first.job);
    const cost2 = costOf(w, second.job);
    const fee1 = (cost1 * 100n) / 10_000n;
    const fee2 = (cost2 * 2_000n) / 10_000n;
    expect(fee1).toBeGreaterThan(0n);
    expect(first.job.operatorFeeBps).toBe(100);
    expect(second.job.operatorFeeBps).toBe(2_000);
    expect(afterFirst).toEqual({ worker: cost1 - fee1, operator: fee1 });
    expect(await w.earned(a.id)).toBe(cost1 - fee1 + cost2 - fee2);
    expect(await operatorEarned(w)).toBe(fee1 + fee2);
    expect(await w.balance(req.id)).toEqual({ available: FUNDS - cost1 - cost2, held: 0n });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });
});

describe("operator fee: the bps a job is submitted under (operatorFeeBpsOf)", () => {
  const config = (operatorFeeBps?: number) => ({ config: { ...(operatorFeeBps === undefined ? {} : { operatorFeeBps }) } }) as never;
  const reading = (operatorFeeBps: number) => ({ policy: { fees: { operatorFeeBps } } }) as unknown as PolicyReading;

  it("the registry's when there is one, else the configured one, else 0; 0 and 10 000 are the edges that pass", () => {
    expect(operatorFeeBpsOf(config(), undefined)).toBe(0);
    for (const bps of [0, 1, 9_999, 10_000]) expect(operatorFeeBpsOf(config(bps), undefined)).toBe(bps);
    // the registry's fee wins over the configured one, a 0 there too
    expect(operatorFeeBpsOf(config(700), reading(25))).toBe(25);
    expect(operatorFeeBpsOf(config(700), reading(0))).toBe(0);
  });

  it("a fee outside 0..10 000 or not a whole number, configured or the registry's, is refused naming it", () => {
    for (const bps of [-1, 10_001, 2.5, Number.NaN]) {
      expect(() => operatorFeeBpsOf(config(bps), undefined)).toThrow(new InvalidFeeError(`operator fee ${bps} bps outside 0..10000`));
      expect(() => operatorFeeBpsOf(config(0), reading(bps))).toThrow(new InvalidFeeError(`operator fee ${bps} bps outside 0..10000`));
    }
  });
});
