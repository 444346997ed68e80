/**
 * Cost model of the AWS deployment, counted through the REAL handlers.
 *
 * The local network (same handlers, same core) runs with instrumented Store and Queues
 * wrappers; every HTTP request runs inside an AsyncLocalStorage context naming its route,
 * so each DynamoDB read/write unit, SQS request and log byte is attributed to the Lambda
 * that would have made it. Units follow DynamoDB's metering: strongly consistent reads
 * 1 RRU per 4 KB (min 1), writes 1 WRU per 1 KB of the larger of old/new item (min 1),
 * transactional items twice that. Item sizes are those the DynamoDB adapter would write
 * (functions/adapters/dynamo-store.ts encodeItem). Then: counts × published prices.
 *
 * What is measured vs assumed:
 * - measured: the operations of one job (SDK ask → prepare, submit, get ?wait; agent result;
 *   matching messages), one heartbeat, item sizes, log lines the handlers write.
 * - assumed (constants below): Lambda durations (local handler time scaled to the CPU share
 *   of the configured memory, plus a DynamoDB/SQS round trip per call), Lambda platform log
 *   lines, API access-log bytes, the matching event source taking one message per batch
 *   (low volume, the expensive end), the agent on the SQS path (the HTTP poll the local
 *   agents use is replaced by 1 ReceiveMessage + 1 DeleteMessageBatch per job).
 * - not counted: data transfer out, storage beyond one month, free tiers.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Item, Key, QueueName, Queues, Store, TableName, WriteOp } from "../core/ports";
import { encodeItem } from "../functions/adapters/dynamo-store";
import type { BenchResult } from "./types";
import { DEFAULT_CORE_CONFIG } from "../core/config";

// ---------------------------------------------------------------- prices
/**
 * AWS us-east-1 list prices, taken from the public pricing pages (aws.amazon.com/<service>/pricing)
 * as known on 2025-06-01 (DynamoDB on-demand after its 2024-11-01 cut). Re-check before relying.
 */
export const PRICES = {
  takenOn: "2025-06-01",
  region: "us-east-1",
  dynamoWriteUnit: 0.625 / 1e6, // on-demand, per WRU
  dynamoReadUnit: 0.125 / 1e6, // on-demand, per RRU
  dynamoStorageGbMonth: 0.25,
  dynamoPitrGbMonth: 0.2,
  sqsRequest: 0.4 / 1e6, // standard queue, per request (per 64 KB chunk)
  lambdaRequest: 0.2 / 1e6,
  lambdaArmGbSecond: 0.0000133334, // arm64, first 7.5 B GB-s tier
  apiHttpRequest: 1.0 / 1e6, // HTTP API, first 300 M/month, per 512 KB
  logsIngestGb: 0.5, // CloudWatch Logs standard ingestion
  stsAssumeRole: 0, // STS has no charge
};

/** Deployment assumptions (stacks/Cocoon.ts) and model constants. */
export const ASSUME = {
  lambdaMemoryMb: 256,
  /** Lambda gives 1 vCPU at 1,769 MB; CPU-bound time scales with the inverse share. */
  lambdaFullCpuMb: 1769,
  awsCallMs: 6, // one DynamoDB/SQS round trip from Lambda, same region
  lambdaMinMs: 3,
  platformLogBytesPerInvocation: 330, // START + END + REPORT lines
  accessLogBytesPerRequest: 280, // API Gateway access log line
  /** How long the waiting call (POST /v1/jobs?wait=20, else GET /v1/jobs/{id}?wait=20) holds its Lambda: the engine's generation time. */
  engineSeconds: 1,
  agentLongPollSeconds: 20,
  sessionSeconds: 3600,
  matchingPollers: 5, // Lambda's SQS event source long-polls with ~5 pollers when idle
};

// ---------------------------------------------------------------- meters
interface RouteMeter {
  invocations: number;
  rru: number;
  wru: number;
  sqs: number;
  awsCalls: number;
  logBytes: number;
  handlerMs: number;
}
const zero = (): RouteMeter => ({ invocations: 0, rru: 0, wru: 0, sqs: 0, awsCalls: 0, logBytes: 0, handlerMs: 0 });

export class CostMeter {
  readonly routes = new Map<string, RouteMeter>();
  readonly als = new AsyncLocalStorage<string>();
  /** Requests that arrive outside an HTTP request: the matching consumer. */
  constructor(readonly background = "SQS matching") {}
  private m(): RouteMeter {
    const k = this.als.getStore() ?? this.background;
    let r = this.routes.get(k);
    if (!r) this.routes.set(k, (r = zero()));
    return r;
  }
  read(units: number) {
    const r = this.m();
    r.rru += units;
    r.awsCalls++;
  }
  write(units: number, calls = 1) {
    const r = this.m();
    r.wru += units;
    r.awsCalls += calls;
  }
  sqs(requests = 1) {
    const r = this.m();
    r.sqs += requests;
    r.awsCalls++;
  }
  log(bytes: number) {
    this.m().logBytes += bytes;
  }
  invocation(route: string, ms: number) {
    const r = this.routes.get(route) ?? zero();
    r.invocations++;
    r.handlerMs += ms;
    this.routes.set(route, r);
  }
  reset() {
    this.routes.clear();
  }
}

const sizeOf = (table: TableName, item: Item | undefined) => (item ? Buffer.byteLength(JSON.stringify(encodeItem(table, item), (_k, v) => (typeof v === "bigint" ? v.toString() : v))) : 0);
const readUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / 4096));
const writeUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));

/** A Store that meters what the DynamoDB adapter would consume. */
export function meteredStore(inner: Store, meter: CostMeter): Store {
  const keyOf = (op: WriteOp): Key => (op.op === "put" ? op.item : op.key);
  return {
    async get(table, key) {
      const item = await inner.get(table, key);
      meter.read(readUnits(sizeOf(table, item)));
      return item as never;
    },
    async query(table, pk, opts) {
      const items = await inner.query(table, pk, opts);
      meter.read(readUnits(items.reduce((n, i) => n + sizeOf(table, i), 0)));
      return items as never;
    },
    async transact(ops) {
      // Sizes before the write (uncounted reads of the inner store) decide the units.
      const before = await Promise.all(ops.map((op) => inner.get(op.table, keyOf(op))));
      const transactional = ops.length > 1 || ops[0]?.op === "check";
      let units = 0;
      let checkReads = 0;
      ops.forEach((op, i) => {
        const old = sizeOf(op.table, before[i]);
        if (op.op === "check") checkReads += 2 * readUnits(old); // ConditionCheck: transactional read units
        else if (op.op === "put") units += writeUnits(Math.max(old, sizeOf(op.table, op.item)));
        else if (op.op === "delete") units += writeUnits(old);
        else {
          const after = { ...(before[i] ?? { pk: op.key.pk, sk: op.key.sk }), ...(op.set ?? {}), ...(op.add ?? {}) } as Item;
          units += writeUnits(Math.max(old, sizeOf(op.table, after)));
        }
      });
      try {
        await inner.transact(ops);
      } finally {
        meter.write(transactional ? 2 * units : units);
        if (checkReads) meter.read(checkReads);
      }
    },
  };
}

/** Queues that count SQS requests (64 KB chunks for sends). */
export function meteredQueues(inner: Queues, meter: CostMeter): Queues {
  return {
    async send(queue: QueueName, body: unknown, opts?: { delaySeconds?: number }) {
      meter.sqs(Math.max(1, Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 65_536)));
      if (queue === "matching") matchingMessages.count++;
      return inner.send(queue, body, opts);
    },
    async receive(queue, opts) {
      meter.sqs();
      return inner.receive(queue, opts);
    },
    async delete(queue, handle) {
      meter.sqs();
      return inner.delete(queue, handle);
    },
    async ensure(queue) {
      meter.sqs();
      return inner.ensure(queue);
    },
  };
}
const matchingMessages = { count: 0 };

// ---------------------------------------------------------------- pricing of counts
interface Dollars {
  dynamo: number;
  lambda: number;
  api: number;
  sqs: number;
  logs: number;
}
const sum = (d: Dollars) => d.dynamo + d.lambda + d.api + d.sqs + d.logs;

function lambdaSeconds(r: RouteMeter, perInvocation: boolean) {
  const cpuScale = ASSUME.lambdaFullCpuMb / ASSUME.lambdaMemoryMb;
  const n = Math.max(1, r.invocations);
  const ms = (perInvocation ? r.handlerMs / n : r.handlerMs) * cpuScale + (r.awsCalls / n) * ASSUME.awsCallMs;
  return Math.max(ASSUME.lambdaMinMs, ms) / 1000;
}

/** $ of one Lambda invocation pattern: n invocations of `seconds`. */
const lambdaDollars = (n: number, seconds: number) => n * (PRICES.lambdaRequest + seconds * (ASSUME.lambdaMemoryMb / 1024) * PRICES.lambdaArmGbSecond);

function price(routes: Map<string, RouteMeter>, jobs: number, opts: { excludeRoutes: string[] }): { total: Dollars; byRoute: Array<[string, Dollars]> } {
  const byRoute: Array<[string, Dollars]> = [];
  for (const [route, r] of routes) {
    if (opts.excludeRoutes.includes(route)) continue;
    const http = route !== "SQS matching";
    const invocations = http ? r.invocations : matchingMessages.count; // one message per batch at low volume
    let seconds = lambdaSeconds({ ...r, invocations }, true);
    // whichever call waits for the answer (the submit with ?wait, or a GET long-poll) holds its Lambda while the engine works
    if (route === "GET /v1/jobs/{id}" || route === "POST /v1/jobs") seconds += ASSUME.engineSeconds / Math.max(1, r.invocations / jobs);
    const d: Dollars = {
      dynamo: r.wru * PRICES.dynamoWriteUnit + r.rru * PRICES.dynamoReadUnit,
      lambda: lambdaDollars(invocations, seconds),
      api: http ? r.invocations * PRICES.apiHttpRequest : 0,
      // matching: the event source's receive + delete per message
      sqs: (r.sqs + (http ? 0 : 2 * invocations)) * PRICES.sqsRequest,
      logs: ((r.logBytes + invocations * ASSUME.platformLogBytesPerInvocation + (http ? r.invocations * ASSUME.accessLogBytesPerRequest : 0)) / 1e9) * PRICES.logsIngestGb,
    };
    byRoute.push([route, scale(d, 1 / jobs)]);
  }
  // The agent on the SQS path: the receive that returns the job + one DeleteMessageBatch.
  byRoute.push(["agent SQS receive + delete", { dynamo: 0, lambda: 0, api: 0, sqs: 2 * PRICES.sqsRequest, logs: 0 }]);
  const total = byRoute.reduce<Dollars>((a, [, d]) => add(a, d), { dynamo: 0, lambda: 0, api: 0, sqs: 0, logs: 0 });
  return { total, byRoute };
}
const scale = (d: Dollars, k: number): Dollars => ({ dynamo: d.dynamo * k, lambda: d.lambda * k, api: d.api * k, sqs: d.sqs * k, logs: d.logs * k });
const add = (a: Dollars, b: Dollars): Dollars => ({ dynamo: a.dynamo + b.dynamo, lambda: a.lambda + b.lambda, api: a.api + b.api, sqs: a.sqs + b.sqs, logs: a.logs + b.logs });

// ---------------------------------------------------------------- the run
const ROUTE_PATTERNS: Array<[RegExp, string]> = [];

export async function benchCost(o: { jobs?: number; warmup?: number; print?: boolean } = {}): Promise<BenchResult[]> {
  const [{ startNetwork }, { startLocalAgents }, { createNullEngine, NULL_DEFAULT_MODEL }, { CocoonClient }, { generateSigningKey }, { createMemoryStore }, { routes }] =
    await Promise.all([
      import("../local/network"),
      import("../local/agents"),
      import("../agent/engines/builtin"),
      import("../client/sdk"),
      import("../core/crypto/keys"),
      import("../local/memory-store"),
      import("../functions/http/routes"),
    ]);
  const meter = new CostMeter();
  for (const r of routes) {
    const re = new RegExp("^" + r.spec.path.replace(/\{[^}]+\}/g, "[^/]+") + "$");
    ROUTE_PATTERNS.push([re, `${r.spec.method} ${r.spec.path}`]);
  }
  const routeOf = (method: string, url: string) => {
    const p = new URL(url, "http://x").pathname;
    return ROUTE_PATTERNS.find(([re, k]) => k.startsWith(method + " ") && re.test(p))?.[1] ?? `${method} ${p}`;
  };

  const net = await startNetwork({
    store: meteredStore(createMemoryStore(), meter),
    logSink: (line) => meter.log(Buffer.byteLength(line) + 1),
    // Short leases so every job's lease check is consumed (and metered) within the run.
    config: { leaseBaseSeconds: 1, leaseMsPerToken: 1 },
  });
  net.deps.queues = meteredQueues(net.deps.queues, meter);
  // On AWS the replay guard is the store (one conditional put per signed request), as in createAwsDeps.
  delete (net.deps as { replay?: unknown }).replay;
  // Every request runs in a context naming its route; its duration is its Lambda's (local) time.
  const listeners = net.server.listeners("request") as Array<(...a: unknown[]) => void>;
  net.server.removeAllListeners("request");
  net.server.on("request", (req: { method?: string; url?: string }, res: { on(e: string, f: () => void): void }) => {
    const route = routeOf(req.method ?? "GET", req.url ?? "/");
    const t0 = performance.now();
    res.on("finish", () => meter.invocation(route, performance.now() - t0));
    meter.als.run(route, () => listeners.forEach((l) => l.call(net.server, req, res)));
  });

  const home = mkdtempSync(join(tmpdir(), "cocoon-cost-"));
  const agents = await startLocalAgents(net.url, home, [{ name: "a1", priceBps: 10_000, engine: createNullEngine(), models: [NULL_DEFAULT_MODEL], capacity: 8 }]);
  const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
  await client.faucet(1_000_000_000_000n);
  const ask = () => client.ask({ model: NULL_DEFAULT_MODEL, messages: [{ role: "user", content: "Summarise the plot of Hamlet in two sentences." }], maxTokens: 256, tiers: ["dev"] });
  const jobs = o.jobs ?? 100;
  let perJob: ReturnType<typeof price>;
  let heartbeat: RouteMeter | undefined;
  try {
    for (let i = 0; i < (o.warmup ?? 10); i++) await ask();
    meter.reset();
    matchingMessages.count = 0;
    for (let i = 0; i < jobs; i++) await ask();
    // Let the (delayed) lease checks of the last jobs arrive and be consumed.
    await new Promise((r) => setTimeout(r, 2_500));
    perJob = price(meter.routes, jobs, { excludeRoutes: ["GET /v1/agent/jobs", "POST /v1/agents/heartbeat"] });
    // One heartbeat, measured: wait for the agent's next one.
    const before = meter.routes.get("POST /v1/agents/heartbeat")?.invocations ?? 0;
    const deadline = Date.now() + 12_000;
    while ((meter.routes.get("POST /v1/agents/heartbeat")?.invocations ?? 0) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    heartbeat = meter.routes.get("POST /v1/agents/heartbeat");
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await net.stop();
  }

  // ---------------- idle agent-day
  const day = 86_400;
  const receives = day / ASSUME.agentLongPollSeconds;
  const sqsIdle = receives * PRICES.sqsRequest;
  // Hourly POST /v1/agents/session: API + Lambda (~auth write, worker read, CreateQueue, AssumeRole) + logs.
  const sessionCall =
    PRICES.apiHttpRequest +
    lambdaDollars(1, (ASSUME.lambdaMinMs + 4 * ASSUME.awsCallMs + 15) / 1000) +
    PRICES.dynamoWriteUnit +
    3 * PRICES.dynamoReadUnit +
    PRICES.sqsRequest +
    ((ASSUME.platformLogBytesPerInvocation + ASSUME.accessLogBytesPerRequest) / 1e9) * PRICES.logsIngestGb;
  const sessions = day / ASSUME.sessionSeconds;
  const idleSqs = sqsIdle + sessions * sessionCall;
  const hb = heartbeat && heartbeat.invocations > 0 ? scale(price(new Map([["POST /v1/agents/heartbeat", heartbeat]]), heartbeat.invocations, { excludeRoutes: [] }).byRoute[0]![1], 1) : undefined;
  const hbDollars = hb ? sum(hb) : NaN;
  const hbPerDayAt = (seconds: number) => (day / seconds) * hbDollars;
  const httpPollIdle =
    receives * (PRICES.apiHttpRequest + lambdaDollars(1, ASSUME.agentLongPollSeconds + 0.03) + PRICES.dynamoWriteUnit + 3 * PRICES.dynamoReadUnit + PRICES.sqsRequest);
  const matchingPollersDay = ASSUME.matchingPollers * receives * PRICES.sqsRequest;

  const perMillion = sum(perJob.total) * 1e6;
  const r2 = (x: number) => Math.round(x * 100) / 100;
  const r6 = (x: number) => Math.round(x * 1e6) / 1e6;
  if (o.print) {
    console.error(`\ncost model, ${PRICES.region} prices of ${PRICES.takenOn}; Lambda ${ASSUME.lambdaMemoryMb} MB arm64; ${jobs} jobs through the real handlers`);
    console.error(`per 1M jobs by route (dynamo / lambda / api / sqs / logs, $):`);
    for (const [route, d] of perJob.byRoute)
      console.error(`  ${route.padEnd(28)} ${[d.dynamo, d.lambda, d.api, d.sqs, d.logs].map((x) => (x * 1e6).toFixed(3).padStart(7)).join(" ")}  = ${(sum(d) * 1e6).toFixed(3)}`);
    for (const [route, r] of meter.routes) console.error(`  counts ${route}: ${JSON.stringify({ ...r, handlerMs: Math.round(r.handlerMs) })}`);
    console.error(`heartbeat: $${hbDollars.toExponential(3)} each; matching pollers (fixed): $${r6(matchingPollersDay)}/day`);
  }
  const t = perJob.total;
  const cloudHeartbeat = DEFAULT_CORE_CONFIG.heartbeatSeconds;
  return [
    { name: "AWS cost per 1M jobs (on-demand, real handlers, SQS agent path)", value: r2(perMillion), unit: "$", target: "≤ $3", ok: perMillion <= 3 },
    { name: "  of which DynamoDB (per 1M jobs)", value: r2(t.dynamo * 1e6), unit: "$", target: null, ok: null },
    { name: "  of which Lambda (per 1M jobs)", value: r2(t.lambda * 1e6), unit: "$", target: null, ok: null },
    { name: "  of which API Gateway HTTP (per 1M jobs)", value: r2(t.api * 1e6), unit: "$", target: null, ok: null },
    { name: "  of which SQS (per 1M jobs)", value: r2(t.sqs * 1e6), unit: "$", target: null, ok: null },
    { name: "  of which CloudWatch Logs (per 1M jobs)", value: r2(t.logs * 1e6), unit: "$", target: null, ok: null },
    { name: "idle agent-day, SQS long-poll (20 s) + hourly session", value: r6(idleSqs), unit: "$", target: "≤ $0.002", ok: idleSqs <= 0.002 },
    {
      name: `idle agent-day incl. heartbeats every ${cloudHeartbeat} s (cloud default)`,
      value: r6(idleSqs + hbPerDayAt(cloudHeartbeat)),
      unit: "$",
      target: "≤ $0.002",
      ok: idleSqs + hbPerDayAt(cloudHeartbeat) <= 0.002,
    },
    { name: "idle agent-day incl. heartbeats every 5 s (local default's interval)", value: r6(idleSqs + hbPerDayAt(5)), unit: "$", target: null, ok: null },
    { name: "idle agent-day, HTTP long-poll fallback through Lambda", value: r6(httpPollIdle), unit: "$", target: null, ok: null },
  ];
}

if (process.argv[1]?.endsWith("cost.ts")) {
  benchCost({ print: true })
    .then((rs) => {
      for (const r of rs) console.log(`${r.name.padEnd(62)} ${String(r.value).padStart(10)} ${r.unit}  ${r.target ?? ""} ${r.ok === null ? "" : r.ok ? "ok" : "MISS"}`);
      process.exit(0);
    })
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
