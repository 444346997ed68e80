/**
 * The matcher alone, for fairness (issue 16): `npx tsx bench/sim/fairness.ts [workers] [jobs per
 * equal worker] [seed] [lag]`. One model's offers written straight into a SimStore (bench/sim's
 * prices and capacities, all live and idle), then the REAL matchCandidates picks the worker of
 * each job and the job's pay lands on that worker's counters `lag` decisions later (0: at once;
 * 2000 is about the ~8 s from pick to settlement at the simulation's 260 jobs/s on its popular
 * model; no engine, no load reports, no churn). Prints the earnings Gini among the workers at 10,000 bps with capacity 4 next to
 * the same jobs dealt round-robin, at random and least-earned-first. A quick way to see what
 * sampleOffers and the candidate choice do at 100k-agent density (40k offers of one model)
 * without the whole simulation.
 */
import { DEFAULT_CORE_CONFIG } from "../../core/config";
import type { CoreDeps } from "../../core/deps";
import { workerAccount } from "../../core/ledger";
import { pricePerToken } from "../../core/pricing";
import { matchCandidates, offerKey, type OfferItem } from "../../core/workers";
import { Prng } from "../../test/sim/prng";
import { gini, giniFloors } from "./stats";
import { SimStore } from "./store";

export async function matcherFairness(o: { workers: number; jobsPerEqual: number; seed: number; model?: string; lag?: number }) {
  const model = o.model ?? "llama-3.1-70b";
  const rnd = new Prng(o.seed);
  const core = new Prng((o.seed ^ 0x5eed5eed) >>> 0);
  let now = Date.parse("2026-03-02T00:00:00Z");
  const store = new SimStore({ now: () => now });
  const config = { ...DEFAULT_CORE_CONFIG, livenessMs: 86_400_000 };
  const deps = {
    store,
    clock: { now: () => now },
    config,
    random: { bytes: (n: number) => core.bytes(n) },
  } as unknown as CoreDeps;
  const prices: Array<[number, number]> = [
    [8_000, 0.15],
    [9_000, 0.2],
    [10_000, 0.4],
    [11_000, 0.15],
    [12_000, 0.1],
  ];
  const caps: Array<[number, number]> = [
    [1, 0.2],
    [2, 0.3],
    [4, 0.4],
    [8, 0.1],
  ];
  const equal: string[] = [];
  for (let i = 0; i < o.workers; i++) {
    const id = Buffer.from(core.bytes(32)).toString("base64url");
    const priceBps = rnd.weighted(prices);
    const capacity = rnd.weighted(caps);
    if (priceBps === 10_000 && capacity === 4) equal.push(id);
    const offer: OfferItem = {
      ...offerKey(model, id),
      workerId: id,
      model,
      priceBps,
      pricePerToken: pricePerToken(config.pricing, model, priceBps),
      tier: "dev",
      hpkePublicKey: "k",
      capacity,
      load: 0,
      lastHeartbeat: now,
      attestationExpiresAt: now + 86_400_000,
      since: now,
    };
    await store.transact([{ op: "put", table: "offers", item: offer }]);
  }
  // jobs of the simulation's sizes (world.ts): prompt 50..3049, completion maxTokens × U(0.2, 1)
  const jobPay = () => {
    const prompt = 50 + rnd.int(3000);
    const maxTokens = rnd.weighted([
      [256, 0.3],
      [512, 0.4],
      [1024, 0.3],
    ]);
    const completion = Math.ceil(maxTokens * (0.2 + 0.8 * rnd.float()));
    return { prompt, completion, weighted: prompt * config.pricing.promptBps + completion * config.pricing.completionBps };
  };
  const earned = new Map<string, number>();
  const equalSet = new Set(equal);
  const paid: number[] = [];
  // About as many jobs as give each equal worker `jobsPerEqual` (they hold ~4/3.4 of the mean capacity share, ~36% of price-eligible picks).
  const total = Math.round(o.jobsPerEqual * o.workers * 0.9);
  const pending: Array<{ workerId: string; job: { prompt: number; completion: number } }> = [];
  const t0 = performance.now();
  for (let j = 0; j < total; j++) {
    now += 1;
    store.ctx = "match";
    const r = await matchCandidates(deps, { model, tiers: ["dev"], k: 3 });
    const offers = r.offers;
    const w = offers[0];
    if (!w) throw new Error(`no candidate at job ${j}: ${JSON.stringify(r.why)}`);
    const job = jobPay();
    store.ctx = "pay";
    // The settlement lands `lag` decisions later (the engine's time and the result's trip: ~8 s at the sim's pace)
    pending.push({ workerId: w.workerId, job });
    if (pending.length > (o.lag ?? 0)) {
      const due = pending.shift()!;
      const key = { pk: workerAccount(due.workerId), sk: "balance" };
      await store.transact([
        { op: "update", table: "accounts", key, add: { promptTokens: due.job.prompt, completionTokens: due.job.completion, jobs: 1 } },
      ]);
    }
    if (equalSet.has(w.workerId)) {
      earned.set(w.workerId, (earned.get(w.workerId) ?? 0) + job.weighted);
      paid.push(job.weighted);
    }
  }
  const ms = performance.now() - t0;
  const xs = equal.map((id) => earned.get(id) ?? 0);
  const counts = store.routes.get("match");
  return {
    workers: o.workers,
    equal: equal.length,
    decisions: total,
    jobsPerEqual: paid.length / Math.max(1, equal.length),
    gini: gini(xs),
    floors: giniFloors(paid, equal.length, () => rnd.float()),
    msPerDecision: ms / total,
    readsPerDecision: counts ? { gets: counts.gets / total, queries: counts.queries / total, rru: counts.rru / total } : undefined,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [workers = "40000", per = "4.5", seed = "1", lag = "0"] = process.argv.slice(2);
  const r = await matcherFairness({ workers: Number(workers), jobsPerEqual: Number(per), seed: Number(seed), lag: Number(lag) });
  console.log(JSON.stringify(r, null, 2));
}
