/**
 * `npm run sim -- --agents 100000 --rate 1000 --minutes 10`: the scale simulation of issue 16
 * (bench/sim/world.ts), its table on stdout and bench/sim-results.json.
 *
 * Two phases on one network: A at the given peak rate for the given minutes, then B at a
 * quarter of the rate for a fifth of the time (at least a minute), whose per-job cost is
 * compared with A's ("cost linear in jobs"). Run through bench/sim/cli.ts (the launcher that
 * stubs signature verification for all but a sample, see crypto-stub.ts) or directly with
 * tsx (everything real, fine for small networks).
 */
import { writeFileSync } from "node:fs";
import * as workers from "../../core/workers";
import { JOB_ROUTES, PRICE_SOURCE, PRICES, phaseCost, type PhaseCost } from "./cost";
import type { SimCryptoStats } from "./crypto-stub";
import { gini, giniFloors, quantiles } from "./stats";
import { Prng } from "../../test/sim/prng";
import { DEFAULT_OPTIONS, EQUAL, Simulation, type PhaseResult, type SimOptions } from "./world";

export interface SimReport {
  options: Omit<SimOptions, "log">;
  crypto: CryptoReport;
  phases: PhaseSummary[];
  linearity: { perJobA: number; perJobB: number; ratio: number; ok: boolean };
  targets: Array<{ name: string; value: number | string; target: string; ok: boolean }>;
  whatIsReal: string[];
  wallSeconds: number;
  /** With runSim(…, { inspect: true }): every balance item at the end, for the tests' checks. */
  inspect?: { accounts: Array<{ account: string; available: bigint; held: bigint }> };
}

interface CryptoReport {
  mode: string;
  every: number;
  realSigns: number;
  pooledSigns: number;
  realVerifies: number;
  stubbedVerifies: number;
  realVerifyFailures: number;
  realVerifyMsP50: number;
  realVerifyMsP99: number;
}

export interface PhaseSummary {
  name: string;
  peakRate: number;
  simSeconds: number;
  wallSeconds: number;
  jobs: {
    arrived: number;
    completed: number;
    refunded: number;
    unplaced: number;
    underKeptQuote: number;
    keptQuoteRefused: number;
    /** submits that carried their kept quote's renewal */
    quoteRenewals: number;
    reassigned: number;
    reassignedShare: number;
    failureReports: number;
    staleResults: number;
  };
  matching: {
    decisions: number;
    /** decisions whose process CPU time was measured (1 in 4) */
    cpuSamples: number;
    cpuMsP50: number;
    cpuMsP99: number;
    cpuMsMax: number;
    wallMsP50: number;
    wallMsP99: number;
    storeMsP50: number;
    queriesPerDecision: number;
    offersReadPerDecision: number;
  };
  timeToAssignmentMs: { p50: number; p90: number; p99: number; max: number; firstDispatchP50: number; firstDispatchP99: number };
  answerMs: { p50: number; p99: number };
  fairness: {
    equalAgents: number;
    gini: number;
    meanJobsEarnedNanoTon: number;
    zeroEarners: number;
    /** jobs settled per equal agent in the phase, mean */
    jobsPerAgent: number;
    /** coefficient of variation of one job's pay among those jobs (sizes differ) */
    jobPayCv: number;
    /**
     * The same jobs dealt again three ways (stats.ts giniFloors): what chance alone leaves at
     * this many jobs per agent. Round-robin is the floor of a count-fair matcher; least-earned-first
     * the floor of any matcher.
     */
    floor: { roundRobin: number; uniformRandom: number; leastEarnedFirst: number };
  };
  dynamo: {
    readUnitsPerJob: number;
    writeUnitsPerJob: number;
    requestsPerJob: number;
    requestsPerJobByRoute: Record<string, number>;
    peakTableWcuPerSec: number;
    peakTableRcuPerSec: number;
  };
  busiestPartition: {
    byWrites: Array<{ key: string; peakWcuPerSec: number; meanWcuPerSec: number; shareOfWrites: number }>;
    byReads: Array<{ key: string; peakRcuPerSec: number; meanRcuPerSec: number; shareOfReads: number }>;
  };
  sqs: { requestsPerJob: number };
  cost: PhaseCost;
  churn: { joins: number; leaves: number; crashes: number; rejoins: number; heartbeats: number; agentsUpAtEnd: number };
  offerPartitions: { count: number; maxItems: number };
  /** per route: calls and process CPU per call (ms; sampled, see world.ts) */
  routes: Record<string, { calls: number; cpuMsPerCall: number }>;
}

function parseArgs(argv: string[]): SimOptions {
  const o: SimOptions = { ...DEFAULT_OPTIONS };
  const num = (name: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n <= 0) throw new Error(`--${name} needs a positive number, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    switch (a) {
      case "--agents":
        o.agents = Math.round(num("agents", v));
        i++;
        break;
      case "--rate":
        o.rate = num("rate", v);
        i++;
        break;
      case "--minutes":
        o.minutes = num("minutes", v);
        i++;
        break;
      case "--seed":
        o.seed = Math.round(num("seed", v));
        i++;
        break;
      case "--heartbeat":
        o.heartbeatSeconds = num("heartbeat", v);
        i++;
        break;
      case "--requesters":
        o.requesters = Math.round(num("requesters", v));
        i++;
        break;
      case "--crypto-every":
      case "--out":
      case "--phase-b":
        i++; // read by the launcher / main
        break;
      case "--":
        break;
      default:
        throw new Error(
          `unknown option ${a} (--agents N --rate JOBS_PER_S --minutes M [--seed S --heartbeat SECONDS --requesters N --crypto-every N --phase-b on|off --out FILE])`,
        );
    }
  }
  return o;
}

const argOf = (argv: string[], name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};

function summarize(p: PhaseResult, peakRate: number, agents: number, seed: number): PhaseSummary {
  const jobs = Math.max(1, p.jobsCompleted + p.jobsRefunded);
  const [c50, c99, cMax] = quantiles(p.matching.cpuMs, [0.5, 0.99, 1]);
  const [w50, w99] = quantiles(p.matching.wallMs, [0.5, 0.99]);
  const [s50] = quantiles(p.matching.storeMs, [0.5]);
  const [t50, t90, t99, tMax] = quantiles(p.ttaMs, [0.5, 0.9, 0.99, 1]);
  const [f50, f99] = quantiles(p.ttaFirstMs, [0.5, 0.99]);
  const [a50, a99] = quantiles(p.answerMs, [0.5, 0.99]);
  const routes = p.store.routes;
  let requests = 0;
  const byRoute: Record<string, number> = {};
  let rru = 0;
  let wru = 0;
  for (const name of JOB_ROUTES) {
    const r = routes[name];
    if (!r) continue;
    const n = r.gets + r.queries + r.transacts;
    requests += n;
    byRoute[name] = round(n / jobs, 2);
    rru += r.rru;
    wru += r.wru;
  }
  let sqs = 0;
  for (const name of JOB_ROUTES) sqs += p.routes[name]?.sqs ?? 0;
  const totalW = Math.max(1, p.store.wru);
  const totalR = Math.max(1, p.store.rru);
  const secs = Math.max(1, p.simSeconds);
  return {
    name: p.name,
    peakRate,
    simSeconds: round(p.simSeconds, 1),
    wallSeconds: round(p.wallSeconds, 1),
    jobs: {
      arrived: p.jobsArrived,
      completed: p.jobsCompleted,
      refunded: p.jobsRefunded,
      unplaced: p.jobsUnplaced,
      underKeptQuote: p.jobsKeptQuote,
      keptQuoteRefused: p.keptQuoteRefused,
      quoteRenewals: p.quoteRenewals,
      reassigned: p.jobsReassigned,
      reassignedShare: round(p.jobsReassigned / jobs, 5),
      failureReports: p.jobsFailedReports,
      staleResults: p.staleResults,
    },
    matching: {
      decisions: p.matching.decisions,
      cpuSamples: p.matching.cpuMs.length,
      cpuMsP50: round(c50!, 3),
      cpuMsP99: round(c99!, 3),
      cpuMsMax: round(cMax!, 3),
      wallMsP50: round(w50!, 3),
      wallMsP99: round(w99!, 3),
      storeMsP50: round(s50!, 3),
      queriesPerDecision: round(p.matching.queries / Math.max(1, p.matching.decisions), 2),
      offersReadPerDecision: round(p.matching.queryItems / Math.max(1, p.matching.decisions), 1),
    },
    timeToAssignmentMs: {
      p50: round(t50!, 0),
      p90: round(t90!, 0),
      p99: round(t99!, 0),
      max: round(tMax!, 0),
      firstDispatchP50: round(f50!, 0),
      firstDispatchP99: round(f99!, 0),
    },
    answerMs: { p50: round(a50!, 0), p99: round(a99!, 0) },
    fairness: {
      equalAgents: p.equalAgents,
      gini: round(gini(p.equalEarnings), 4),
      meanJobsEarnedNanoTon: round(p.equalEarnings.reduce((a, b) => a + b, 0) / Math.max(1, p.equalEarnings.length), 0),
      zeroEarners: p.equalEarnings.filter((x) => x === 0).length,
      jobsPerAgent: round(p.equalJobs.reduce((a, b) => a + b, 0) / Math.max(1, p.equalJobs.length), 2),
      jobPayCv: round(cv(p.equalJobEarnings), 3),
      floor: roundAll(giniFloors(p.equalJobEarnings, p.equalAgents, floorRandom(seed)), 4),
    },
    dynamo: {
      readUnitsPerJob: round(rru / jobs, 2),
      writeUnitsPerJob: round(wru / jobs, 2),
      requestsPerJob: round(requests / jobs, 2),
      requestsPerJobByRoute: byRoute,
      peakTableWcuPerSec: p.store.peakTotalWruPerSec,
      peakTableRcuPerSec: p.store.peakTotalRruPerSec,
    },
    busiestPartition: {
      byWrites: p.partitions.byWrites.map((r) => ({
        key: r.key,
        peakWcuPerSec: r.peakWriteUnitsPerSec,
        meanWcuPerSec: round(r.writeUnits / secs, 1),
        shareOfWrites: round(r.writeUnits / totalW, 4),
      })),
      byReads: p.partitions.byReads.map((r) => ({
        key: r.key,
        peakRcuPerSec: r.peakReadUnitsPerSec,
        meanRcuPerSec: round(r.readUnits / secs, 1),
        shareOfReads: round(r.readUnits / totalR, 4),
      })),
    },
    sqs: { requestsPerJob: round(sqs / jobs, 2) },
    cost: phaseCost(p, agents),
    churn: {
      joins: p.joins,
      leaves: p.leaves,
      crashes: p.crashes,
      rejoins: p.rejoins,
      heartbeats: p.heartbeats,
      agentsUpAtEnd: p.agentsUp,
    },
    offerPartitions: p.offerPartitions,
    routes: Object.fromEntries(
      Object.entries(p.routes).map(([k, v]) => [k, { calls: v.invocations, cpuMsPerCall: round(v.cpuMs / Math.max(1, v.invocations), 4) }]),
    ),
  };
}

const round = (x: number, d: number) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);
const roundAll = <T extends Record<string, number>>(o: T, d: number): T =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round(v, d)])) as T;
function cv(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
  return Math.sqrt(variance) / mean;
}
/** The floors' dealing has a generator of its own, so computing them never moves the simulation's. */
function floorRandom(seed: number): () => number {
  const g = new Prng((seed ^ 0x6a09e667) >>> 0);
  return () => g.float();
}

function cryptoReport(): CryptoReport {
  const s = (globalThis as { __cocoonSimCrypto?: SimCryptoStats }).__cocoonSimCrypto;
  if (!s)
    return {
      mode: "all real (no launcher stub)",
      every: 1,
      realSigns: NaN,
      pooledSigns: 0,
      realVerifies: NaN,
      stubbedVerifies: 0,
      realVerifyFailures: 0,
      realVerifyMsP50: NaN,
      realVerifyMsP99: NaN,
    };
  const [v50, v99] = quantiles(s.realVerifyMs, [0.5, 0.99]);
  return {
    mode: s.every <= 1 ? "all real" : `1 in ${s.every} signatures made and verified for real; the rest pooled and verification stubbed`,
    every: s.every,
    realSigns: s.realSigns,
    pooledSigns: s.pooledSigns,
    realVerifies: s.realVerifies,
    stubbedVerifies: s.stubbedVerifies,
    realVerifyFailures: s.realVerifyFailures,
    realVerifyMsP50: round(v50!, 3),
    realVerifyMsP99: round(v99!, 3),
  };
}

export async function runSim(o: SimOptions, opts: { phaseB?: boolean; inspect?: boolean } = {}): Promise<SimReport> {
  const wall0 = performance.now();
  const sim = new Simulation(o);
  await sim.setup();
  o.log(`phase A: peak ${o.rate} jobs/s for ${o.minutes} simulated minutes`);
  const a = summarize(await sim.runPhase("A", o.rate, o.minutes), o.rate, o.agents, o.seed);
  const phases = [a];
  let linearity = { perJobA: a.cost.perMillionJobs.total, perJobB: NaN, ratio: NaN, ok: false };
  if (opts.phaseB !== false) {
    const rateB = o.rate / 4;
    const minutesB = Math.max(1, o.minutes / 5);
    o.log(`phase B (linearity): peak ${rateB} jobs/s for ${minutesB} simulated minutes`);
    const b = summarize(await sim.runPhase("B", rateB, minutesB), rateB, o.agents, o.seed);
    phases.push(b);
    const ratio = a.cost.perMillionJobs.total / b.cost.perMillionJobs.total;
    linearity = {
      perJobA: round(a.cost.perMillionJobs.total, 3),
      perJobB: round(b.cost.perMillionJobs.total, 3),
      ratio: round(ratio, 3),
      ok: Math.abs(ratio - 1) <= 0.1,
    };
  }
  const hottestW = a.busiestPartition.byWrites[0];
  const hottestR = a.busiestPartition.byReads[0];
  const targets = [
    { name: "matching CPU per decision, p99", value: a.matching.cpuMsP99, target: "<= 50 ms", ok: a.matching.cpuMsP99 <= 50 },
    {
      name: `busiest partition key, peak writes/s (${hottestW?.key ?? "-"})`,
      value: hottestW?.peakWcuPerSec ?? 0,
      target: "<= 1000 WCU/s",
      ok: (hottestW?.peakWcuPerSec ?? 0) <= 1000,
    },
    {
      name: `busiest partition key, peak reads/s (${hottestR?.key ?? "-"})`,
      value: hottestR?.peakRcuPerSec ?? 0,
      target: "<= 3000 RCU/s",
      ok: (hottestR?.peakRcuPerSec ?? 0) <= 3000,
    },
    {
      name: `earnings Gini among ${a.fairness.equalAgents} equal agents (${a.fairness.jobsPerAgent} jobs each; same jobs round-robin ${a.fairness.floor.roundRobin}, at random ${a.fairness.floor.uniformRandom})`,
      value: a.fairness.gini,
      target: "<= 0.1",
      ok: a.fairness.gini <= 0.1,
    },
    { name: "cost per job, phase A / phase B", value: linearity.ratio, target: "within 10% of 1", ok: linearity.ok },
  ];
  return {
    options: { ...o, log: undefined } as unknown as Omit<SimOptions, "log">,
    crypto: cryptoReport(),
    phases,
    linearity,
    targets,
    whatIsReal: [
      "REAL: core/workers (registration with dev evidence, heartbeats, matching), core/jobs (prepare with its MAC'd quote, submit, dispatch, lease checks, failover, results, the read that learns of a refund), core/ledger (faucet, holds, settlements, refunds), core/receipts/log (the movement and receipt inboxes, via withMovementLog as the AWS deps assemble it).",
      "REAL: the Store port semantics (local/store-semantics.ts) under a metering in-memory store; DynamoDB units by item size; per-partition traffic per simulated second.",
      `CRYPTO: ${cryptoReport().mode}. Worker and requester keys are real Ed25519 keys; HPKE keys are a pool of 64 (the simulated agents never decrypt); every envelope and reply reuses one real sealed ciphertext.`,
      "MODELLED: arrivals (Poisson, bursts to the peak rate), the SDK (a kept quote reused per requester and model, as client/sdk.ts does, renewed by a submit once a second old (SubmitRequest.renew: the coordinator's fair-share pick rides the submit's answer); prepare when it runs out or is refused), agents (engine time, capacity, SQS delivery), latency by region, churn, the answer over the relay as built on AWS (issue 12: no submit held, no read after the final chunk; one read per 10 s of an answer's silence, counted; the relay priced per job by bench/cost.ts over its workload; function URLs, no API Gateway per request), the matching consumer's SQS calls, Lambda time (measured handler CPU scaled to 256 MB + 6 ms per AWS call).",
      "NOT MODELLED: DynamoDB throttling or adaptive capacity (the counts say where it would throttle), transaction conflicts, the anchorer's batch cuts and inbox deletes, idle agents' long-polls (given per agent-day), the policy registry (no image filter), lease extensions (every job fits its lease).",
    ],
    wallSeconds: round((performance.now() - wall0) / 1000, 1),
    ...(opts.inspect
      ? {
          inspect: {
            accounts: [...sim.store.scan("accounts")].map((i) => ({
              account: i.pk,
              available: BigInt((i.available as bigint | undefined) ?? 0n),
              held: BigInt((i.held as bigint | undefined) ?? 0n),
            })),
          },
        }
      : {}),
  };
}

export function printReport(r: SimReport, print: (s: string) => void) {
  const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length));
  const row = (k: string, ...vs: Array<string | number>) => print(`${pad(k, 58)} ${vs.map((v) => pad(String(v), 22)).join(" ")}`);
  const ph = r.phases;
  print("");
  print(
    `Cocoon scale simulation (issue 16): ${r.options.agents} agents, ${OFFER_SHARDS_INFO()}, heartbeats every ${r.options.heartbeatSeconds} s, seed ${r.options.seed}`,
  );
  print(
    `crypto: ${r.crypto.mode}; real verifications ${r.crypto.realVerifies} (p50 ${r.crypto.realVerifyMsP50} ms, p99 ${r.crypto.realVerifyMsP99} ms, failures ${r.crypto.realVerifyFailures})`,
  );
  print(
    `prices: ${PRICE_SOURCE}; DynamoDB on-demand $${(PRICES.dynamoWriteUnit * 1e6).toFixed(3)}/M WRU, $${(PRICES.dynamoReadUnit * 1e6).toFixed(3)}/M RRU`,
  );
  print("");
  row("", ...ph.map((p) => `phase ${p.name}: peak ${p.peakRate}/s`));
  row("simulated / wall seconds", ...ph.map((p) => `${p.simSeconds} / ${p.wallSeconds}`));
  row(
    "jobs arrived / completed / refunded / unplaced",
    ...ph.map((p) => `${p.jobs.arrived}/${p.jobs.completed}/${p.jobs.refunded}/${p.jobs.unplaced}`),
  );
  row(
    "matching CPU per decision p50 / p99 / max (ms, 1 in 4 timed)",
    ...ph.map((p) => `${p.matching.cpuMsP50} / ${p.matching.cpuMsP99} / ${p.matching.cpuMsMax}`),
  );
  row("  wall p50 / p99 (ms, loaded machine)", ...ph.map((p) => `${p.matching.wallMsP50} / ${p.matching.wallMsP99}`));
  row(
    "  store queries / offers read per decision",
    ...ph.map((p) => `${p.matching.queriesPerDecision} / ${p.matching.offersReadPerDecision}`),
  );
  row(
    "time to assignment p50 / p90 / p99 (ms)",
    ...ph.map((p) => `${p.timeToAssignmentMs.p50} / ${p.timeToAssignmentMs.p90} / ${p.timeToAssignmentMs.p99}`),
  );
  row(
    "  first dispatch p50 / p99; answer p50 / p99 (ms)",
    ...ph.map(
      (p) => `${p.timeToAssignmentMs.firstDispatchP50}/${p.timeToAssignmentMs.firstDispatchP99}; ${p.answerMs.p50}/${p.answerMs.p99}`,
    ),
  );
  row(
    `earnings Gini, equal agents (${EQUAL.model}, ${EQUAL.priceBps} bps, cap ${EQUAL.capacity})`,
    ...ph.map((p) => `${p.fairness.gini} (n=${p.fairness.equalAgents}, ${p.fairness.zeroEarners} at 0)`),
  );
  row(
    "  jobs per equal agent; one job's pay, coefficient of variation",
    ...ph.map((p) => `${p.fairness.jobsPerAgent}; ${p.fairness.jobPayCv}`),
  );
  row(
    "  same jobs dealt round-robin / at random / least-earned-first",
    ...ph.map((p) => `${p.fairness.floor.roundRobin} / ${p.fairness.floor.uniformRandom} / ${p.fairness.floor.leastEarnedFirst}`),
  );
  row(
    "jobs prepared / under a kept quote / submits renewing it",
    ...ph.map((p) => `${p.matching.decisions}/${p.jobs.underKeptQuote}/${p.jobs.quoteRenewals}`),
  );
  row("jobs reassigned (share)", ...ph.map((p) => `${p.jobs.reassigned} (${(p.jobs.reassignedShare * 100).toFixed(2)}%)`));
  row("DynamoDB requests per job", ...ph.map((p) => p.dynamo.requestsPerJob));
  row("  RRU / WRU per job", ...ph.map((p) => `${p.dynamo.readUnitsPerJob} / ${p.dynamo.writeUnitsPerJob}`));
  row("  peak table WCU/s / RCU/s", ...ph.map((p) => `${p.dynamo.peakTableWcuPerSec} / ${p.dynamo.peakTableRcuPerSec}`));
  row(
    "busiest key by writes: peak WCU/s (share)",
    ...ph.map(
      (p) =>
        `${p.busiestPartition.byWrites[0]?.peakWcuPerSec ?? 0} (${((p.busiestPartition.byWrites[0]?.shareOfWrites ?? 0) * 100).toFixed(1)}%)`,
    ),
  );
  row("  key", ...ph.map((p) => p.busiestPartition.byWrites[0]?.key ?? "-"));
  row(
    "busiest key by reads: peak RCU/s (share)",
    ...ph.map(
      (p) =>
        `${p.busiestPartition.byReads[0]?.peakRcuPerSec ?? 0} (${((p.busiestPartition.byReads[0]?.shareOfReads ?? 0) * 100).toFixed(1)}%)`,
    ),
  );
  row("  key", ...ph.map((p) => p.busiestPartition.byReads[0]?.key ?? "-"));
  row("SQS requests per job", ...ph.map((p) => p.sqs.requestsPerJob));
  row("AWS $ per 1M jobs (per-job part)", ...ph.map((p) => `$${p.cost.perMillionJobs.total.toFixed(2)}`));
  row(
    "  dynamo / lambda / relay / sqs / logs",
    ...ph.map((p) =>
      [
        p.cost.perMillionJobs.dynamo,
        p.cost.perMillionJobs.lambda,
        p.cost.perMillionJobs.relay,
        p.cost.perMillionJobs.sqs,
        p.cost.perMillionJobs.logs,
      ]
        .map((x) => x.toFixed(2))
        .join("/"),
    ),
  );
  row(
    "fleet $ per agent-day (heartbeats, churn) + idle polls",
    ...ph.map((p) => `$${p.cost.fixedPerAgentDay.total.toFixed(4)} + $${p.cost.idlePollsPerAgentDay.toFixed(4)}`),
  );
  row(
    "churn: joins / leaves / crashes / rejoins",
    ...ph.map((p) => `${p.churn.joins}/${p.churn.leaves}/${p.churn.crashes}/${p.churn.rejoins}`),
  );
  print("");
  print("busiest partition keys (phase A), by peak writes/s:");
  for (const k of ph[0]!.busiestPartition.byWrites)
    print(`  ${pad(k.key, 60)} peak ${k.peakWcuPerSec} WCU/s, mean ${k.meanWcuPerSec}, ${(k.shareOfWrites * 100).toFixed(2)}% of writes`);
  print("by peak reads/s:");
  for (const k of ph[0]!.busiestPartition.byReads)
    print(`  ${pad(k.key, 60)} peak ${k.peakRcuPerSec} RCU/s, mean ${k.meanRcuPerSec}, ${(k.shareOfReads * 100).toFixed(2)}% of reads`);
  print("");
  print("targets:");
  for (const t of r.targets) print(`  ${t.ok ? "ok  " : "MISS"} ${pad(t.name, 80)} ${t.value}  (${t.target})`);
  print("");
  for (const w of r.whatIsReal) print(`  ${w}`);
  print(`total wall time ${r.wallSeconds} s`);
}

export async function main(argv: string[]) {
  const o = parseArgs(argv);
  o.log = (s) => console.error(s);
  const report = await runSim(o, { phaseB: argOf(argv, "--phase-b") !== "off" });
  printReport(report, (s) => console.log(s));
  const out = argOf(argv, "--out") ?? "bench/sim-results.json";
  writeFileSync(out, JSON.stringify(report, null, 2) + "\n");
  console.error(`wrote ${out}`);
}

/** The offer layout of the code under test (core/workers exports OFFER_SHARDS once offers are sharded). */
function OFFER_SHARDS_INFO(): string {
  const name = "OFFER_SHARDS";
  const shards = (workers as unknown as Record<string, number | undefined>)[name];
  return shards ? `offers sharded ${shards} ways per model` : "offers under one partition key per model";
}
