/**
 * AWS cost of a simulated phase, from the counts the simulation made through the real code:
 * DynamoDB read and write units, SQS requests, Lambda invocations with their measured handler
 * CPU, and log bytes; requests reach their functions through Lambda function URLs (no charge
 * per request: stacks/Cocoon.ts, issue 12) and answers come over the IoT Core relay, priced per
 * job by bench/cost.ts's relay pricer over its workload. Prices and the Lambda assumptions come from
 * bench/cost.ts (PRICES, ASSUME) when it exports them, else from the copy below (same
 * sources: docs/aws-prices.md).
 *
 * Costs are split into what each job causes (prepare, submit, dispatch, the agent's SQS
 * receive, the result, the lease check, the reads during relay silence, the relay delivery of
 * the answer) and what the fleet costs
 * whether or not jobs come (heartbeats, registrations, idle long-polls): per 1M jobs and per
 * agent-day. "Linear in jobs" means the per-job part is the same at two arrival rates.
 */
import * as costModel from "../cost";
import type { RouteCounts } from "./store";
import type { PhaseResult, RouteMeter } from "./world";

const FALLBACK_PRICES = {
  dynamoWriteUnit: 0.625 / 1e6,
  dynamoReadUnit: 0.125 / 1e6,
  sqsRequest: 0.4 / 1e6,
  lambdaRequest: 0.2 / 1e6,
  lambdaArmGbSecond: 0.0000133334,
  logsIngestGb: 0.5,
};
const FALLBACK_ASSUME = {
  lambdaMemoryMb: 256,
  lambdaFullCpuMb: 1769,
  awsCallMs: 6,
  lambdaMinMs: 1,
  platformLogBytesPerInvocation: 330,
  matchingBatchSteady: 4,
};

/** bench/cost.ts's prices are numbers or { usd, per, source, asOf } records, depending on its version. */
const exported = costModel as unknown as { PRICES?: Record<string, unknown>; ASSUME?: Record<string, unknown> };
const usdOf = (v: unknown): number | undefined =>
  typeof v === "number"
    ? v
    : typeof v === "object" && v !== null && typeof (v as { usd?: unknown }).usd === "number"
      ? (v as { usd: number }).usd
      : undefined;
function pick<T extends Record<string, number>>(
  fallback: T,
  from: Record<string, unknown> | undefined,
): { values: T; fromBench: string[] } {
  const values = { ...fallback };
  const fromBench: string[] = [];
  for (const k of Object.keys(fallback) as Array<keyof T & string>) {
    const v = usdOf(from?.[k]);
    if (v !== undefined && Number.isFinite(v)) {
      (values as Record<string, number>)[k] = v;
      fromBench.push(k);
    }
  }
  return { values, fromBench };
}
const prices = pick(FALLBACK_PRICES, exported.PRICES);
const assume = pick(FALLBACK_ASSUME, exported.ASSUME);
export const PRICES = prices.values;
export const ASSUME = assume.values;
export const PRICE_SOURCE =
  prices.fromBench.length === Object.keys(FALLBACK_PRICES).length
    ? "bench/cost.ts PRICES and ASSUME (us-east-1, docs/aws-prices.md)"
    : `bench/sim/cost.ts copy of docs/aws-prices.md (us-east-1) for ${Object.keys(FALLBACK_PRICES)
        .filter((k) => !prices.fromBench.includes(k))
        .join(", ")}`;

/** Routes a job causes; everything else is the fleet's fixed cost. */
export const JOB_ROUTES = ["prepare", "submit", "quiet read (modelled)", "read", "result", "lease", "agent SQS"];

/** The answer's delivery over the relay, $ per job: bench/cost.ts's pricer averaged over its workload (function URLs). */
const RELAY_PER_JOB = (() => {
  const w = costModel.sampleWorkload();
  return w.reduce((a, j) => a + costModel.defaultRelayPricer(j, "function-urls"), 0) / w.length;
})();

export interface Dollars {
  dynamo: number;
  sqs: number;
  relay: number;
  lambda: number;
  logs: number;
  total: number;
}
const zero = (): Dollars => ({ dynamo: 0, sqs: 0, relay: 0, lambda: 0, logs: 0, total: 0 });
const add = (a: Dollars, b: Dollars): Dollars => ({
  dynamo: a.dynamo + b.dynamo,
  sqs: a.sqs + b.sqs,
  relay: a.relay + b.relay,
  lambda: a.lambda + b.lambda,
  logs: a.logs + b.logs,
  total: a.total + b.total,
});
export const scale = (a: Dollars, k: number): Dollars => ({
  dynamo: a.dynamo * k,
  sqs: a.sqs * k,
  relay: a.relay * k,
  lambda: a.lambda * k,
  logs: a.logs * k,
  total: a.total * k,
});

function routeDollars(name: string, store: RouteCounts | undefined, r: RouteMeter | undefined): Dollars {
  const s = store ?? { gets: 0, queries: 0, queryItems: 0, transacts: 0, writeItems: 0, rru: 0, wru: 0, storeMs: 0 };
  const m = r ?? { invocations: 0, cpuMs: 0, sqs: 0, waitMs: 0, logBytes: 0 };
  const dynamo = s.rru * PRICES.dynamoReadUnit + s.wru * PRICES.dynamoWriteUnit;
  // The matching consumer takes messages in batches (bench/cost.ts ASSUME.matchingBatchSteady):
  // one invocation, one receive and one delete per batch. The simulation counted 2 per message.
  const batch = name === "lease" ? ASSUME.matchingBatchSteady : 1;
  const sqs = (name === "lease" ? m.sqs / batch : m.sqs) * PRICES.sqsRequest;
  // The agent's own SQS calls run in no Lambda.
  const lambdaInvocations = name === "agent SQS" ? 0 : m.invocations / batch;
  const awsCalls = s.gets + s.queries + s.transacts + (name === "agent SQS" ? 0 : name === "lease" ? m.sqs / batch : m.sqs);
  const cpuScale = ASSUME.lambdaFullCpuMb / ASSUME.lambdaMemoryMb;
  const handlerMs = name === "agent SQS" ? 0 : m.cpuMs * cpuScale + awsCalls * ASSUME.awsCallMs;
  const ms = Math.max(lambdaInvocations * ASSUME.lambdaMinMs, handlerMs) + m.waitMs;
  const lambda = lambdaInvocations * PRICES.lambdaRequest + (ms / 1000) * (ASSUME.lambdaMemoryMb / 1024) * PRICES.lambdaArmGbSecond;
  const logBytes = m.logBytes + lambdaInvocations * ASSUME.platformLogBytesPerInvocation;
  const logs = (logBytes / 1e9) * PRICES.logsIngestGb;
  return { dynamo, sqs, relay: 0, lambda, logs, total: dynamo + sqs + lambda + logs };
}

export interface PhaseCost {
  jobs: number;
  perMillionJobs: Dollars;
  byRoutePerMillionJobs: Record<string, Dollars>;
  fixedPerAgentDay: Dollars;
  /** idle SQS long-polls per agent-day (computed, not simulated: one ReceiveMessage per 20 s) */
  idlePollsPerAgentDay: number;
  /** what the phase cost in all, $ */
  phaseTotal: number;
  phaseJobCost: number;
  phaseFixedCost: number;
}

export function phaseCost(p: PhaseResult, agents: number): PhaseCost {
  const jobs = Math.max(1, p.jobsCompleted + p.jobsRefunded);
  let job = zero();
  let fixed = zero();
  const byRoute: Record<string, Dollars> = {};
  const names = new Set([...Object.keys(p.routes), ...Object.keys(p.store.routes)]);
  for (const name of names) {
    if (name === "sim" || name === "setup") continue;
    const d = routeDollars(name, p.store.routes[name], p.routes[name]);
    byRoute[name] = scale(d, 1e6 / jobs);
    if (JOB_ROUTES.includes(name)) job = add(job, d);
    else fixed = add(fixed, d);
  }
  const relay = RELAY_PER_JOB * jobs;
  job = add(job, { ...zero(), relay, total: relay });
  const agentDays = (agents * p.simSeconds) / 86_400;
  return {
    jobs,
    perMillionJobs: scale(job, 1e6 / jobs),
    byRoutePerMillionJobs: byRoute,
    fixedPerAgentDay: scale(fixed, 1 / Math.max(agentDays, 1e-9)),
    idlePollsPerAgentDay: (86_400 / 20) * PRICES.sqsRequest,
    phaseTotal: job.total + fixed.total,
    phaseJobCost: job.total,
    phaseFixedCost: fixed.total,
  };
}
