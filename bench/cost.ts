/**
 * Cost model of the AWS deployment: per-job counts measured through the REAL handlers, a
 * workload drawn from a seeded distribution, and dated AWS list prices.
 *
 * 1. Measured (this run): the local network (same handlers, same core) runs with metering
 *    Store and Queues wrappers, its jobs of the workload's prompt and answer sizes
 *    (WORKLOAD.promptBytes, answerBytes: bench/cost-job.ts); every HTTP request runs inside an AsyncLocalStorage context
 *    naming its route, so each DynamoDB read/write unit, SQS request, log byte, response byte
 *    and handler millisecond is attributed to the Lambda that would have spent it. Units follow
 *    DynamoDB's metering: strongly consistent reads 1 RRU per 4 KB (min 1), writes 1 WRU per
 *    1 KB of the larger of old/new item (min 1), transactional items twice that, a write whose
 *    condition fails billed all the same; item sizes by DynamoDB's rules for the items the
 *    adapter writes (dynamoItemBytes of bench/store.ts).
 *    Time a handler spends waiting for a job to change (Notifier.wait) is kept apart from its
 *    own work: what waiting costs depends on the delivery channel, priced in step 3.
 * 2. Workload (WORKLOAD below, seeded): engine times from a lognormal distribution with a
 *    stated median and p95; a share of jobs streamed (one sealed chunk per second of
 *    generation plus the final one), the rest answered in one message.
 * 3. Priced per choice: the front door (API Gateway HTTP API, Lambda function URLs, one router
 *    function), the delivery of the answer (as built on AWS: over the IoT Core relay, ask() and
 *    askStream() alike, the requester on one connection per account; or the submit's Lambda held
 *    while the engine works, as POST /v1/jobs?wait does on the local default), DynamoDB on-demand
 *    or provisioned at steady volume. Every price is a dated constant with its source
 *    (docs/aws-prices.md, a copy of ../shared/AWS-PRICES.md).
 *
 * What is assumed is in ASSUME, each with its reason. Not counted: free tiers, the fixed daily
 * cost of idle pollers (shown separately), support plans.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { attestationDigest } from "../core/attestation/digest";
import { b64u } from "../core/crypto/encoding";
import type { AttestationDoc } from "../events/attestation";
import type { Item, Key, Notifier, QueueName, Queues, Store, TableName, WriteOp } from "../core/ports";
import { WINDOW_PASSES_MS, WINDOW_PK } from "../core/receipts/log";
import { dynamoItemBytes } from "./store";
import { measuredMessages, sizedEngine } from "./cost-job";
import type { BenchResult } from "./types";
import { DEFAULT_CORE_CONFIG } from "../core/config";
import { RENEW_AFTER_MS } from "../client/quote-keeping";
import { mulberry32 } from "../core/mulberry32";
import {
  batchedJob,
  isolation,
  isResultRoute,
  lockstep,
  RESULT_ROUTE,
  resultItemUnits,
  resultRoute,
  resultsInAnswer,
  resultsPerPost,
  spreadResultsPerPost,
  unitsPerResult,
} from "./cost-batch";

// ---------------------------------------------------------------- prices
/** One list price: US dollars per `per`, where it was read, and the date of that source. */
export interface Price {
  usd: number;
  per: string;
  source: string;
  asOf: string;
}
const p = (usd: number, per: string, source: string, asOf: string): Price => ({ usd, per, source, asOf });
const PAGE = (svc: string) => `AWS ${svc} pricing page, us-east-1 (via docs/aws-prices.md, gathered 2026-12-02)`;

/** us-east-1 list prices (on-demand unless named). Re-check before quoting them to anyone. */
export const PRICES = {
  apiHttpRequest: p(1.0 / 1e6, "request (first 300M/month; each 512 KB a request)", PAGE("API Gateway"), "2026-09"),
  apiRestRequest: p(3.5 / 1e6, "request (first 333M/month)", PAGE("API Gateway"), "2026-09"),
  lambdaRequest: p(0.2 / 1e6, "invocation", "AWS Price List API, AWSLambda", "2025-10-28"),
  lambdaArmGbSecond: p(0.0000133334, "GB-second, arm64 (first 7.5B GB-s/month)", "AWS Price List API, AWSLambda", "2025-10-28"),
  lambdaFunctionUrl: p(0, "request (no charge beyond the function's own)", "AWS Price List API, AWSLambda", "2025-10-28"),
  dynamoWriteUnit: p(0.625 / 1e6, "write request unit, on-demand (after the 2024-11-01 cut)", PAGE("DynamoDB"), "2026-07"),
  dynamoReadUnit: p(0.125 / 1e6, "read request unit, on-demand", PAGE("DynamoDB"), "2026-07"),
  dynamoWcuHour: p(0.00065, "provisioned WCU-hour", PAGE("DynamoDB"), "2026-07"),
  dynamoRcuHour: p(0.00013, "provisioned RCU-hour", PAGE("DynamoDB"), "2026-07"),
  dynamoStorageGbMonth: p(0.25, "GB-month (first 25 GB free, not counted)", PAGE("DynamoDB"), "2026-10"),
  dynamoPitrGbMonth: p(
    0.2,
    "GB-month of continuous backups (the stack turns PITR on)",
    "AWS DynamoDB pricing page (not in docs/aws-prices.md)",
    "2025-06-01",
  ),
  sqsRequest: p(0.4 / 1e6, "request, standard queue (each 64 KB a request)", PAGE("SQS"), "2026-03"),
  logsIngestGb: p(0.5, "GB ingested, CloudWatch Logs standard", PAGE("CloudWatch"), "2026-06"),
  iotMessage: p(
    1.0 / 1e6,
    "message (5 KB steps; a publish and each delivery both count)",
    "AWS IoT Core pricing details (via docs/aws-prices.md)",
    "2026-09",
  ),
  iotConnectionMinute: p(0.08 / 1e6, "connection-minute", "AWS IoT Core pricing details (via docs/aws-prices.md)", "2026-09"),
  dataTransferOutGb: p(0.09, "GB to the internet (first 10 TB/month)", PAGE("API Gateway"), "2026-09"),
  cloudWatchMetricRequested: p(
    0.01 / 1000,
    "metric requested, GetMetricData",
    "AWS CloudWatch pricing page, API requests (not in docs/aws-prices.md)",
    "2026-12",
  ),
} satisfies Record<string, Price>;

// ---------------------------------------------------------------- workload and assumptions
/** The workload the model prices (seeded: the same seed gives the same figures). */
export const WORKLOAD = {
  seed: 12,
  samples: 200_000,
  /** Engine time (first token to last): lognormal. A chat answer of a few hundred tokens at 50–100 tokens/s. */
  engineMedianSeconds: 4,
  engineP95Seconds: 20,
  /** Share of jobs whose answer streams as sealed chunks (the rest: one sealed answer). */
  streamedShare: 0.5,
  /** Adaptive chunking: about one relay message per second of generation, plus the final one (agent/execute.ts defaultChunking). */
  chunkSeconds: 1,
  /** Text per second of generation: ~60 tokens/s of ~4 bytes plus the JSON of the deltas. */
  textBytesPerSecond: 300,
  /**
   * Bytes of text in a job's prompt (the measured job's messages, bench/cost-job.ts; assumed
   * 2026-12-07, issue 12): a chat request with a short system message (~400 B), one earlier
   * exchange whose answer is about this workload's own answer size (~2 KB) and the new question
   * (~300 B each question). Chat clients resend the history every turn, so a second turn's
   * prompt is already larger than an answer; longer histories and RAG context make it larger
   * still: a low figure for chat. No figure in docs/ or ../shared/ to take instead.
   */
  promptBytes: 3_000,
  /**
   * Bytes of text in a job's answer (assumed 2026-12-07, issue 12): textBytesPerSecond × the
   * workload's mean engine time (6.44 s), so the answer the measured job stores is the one the
   * relay rows send. One size, one chunk (an ask() answer, as measured) for every job: DynamoDB
   * bills per started KB, so this prices the mean answer's units, not the mean of each answer's,
   * nor a streamed reply's framing and padding per chunk: a few tenths of a WRU a job low.
   */
  answerBytes: 1_932,
  /** Steady volume for provisioned capacity: the cost per job does not depend on it, as long as it is steady. */
  steadyJobsPerSecond: 50,
};

export const ASSUME = {
  lambdaMemoryMb: 256, // stacks/Cocoon.ts default
  /** Lambda gives 1 vCPU at 1,769 MB: CPU-bound time scales with the inverse share. */
  lambdaFullCpuMb: 1769,
  awsCallMs: 6, // one DynamoDB/SQS round trip from Lambda, same region
  lambdaMinMs: 1, // Lambda bills per 1 ms
  /**
   * Lambda's START + END + REPORT lines (~330 bytes an invocation): dropped since issue 12
   * (stacks/Cocoon.ts: JSON log format, system log level WARN), so 0.
   */
  platformLogBytesPerInvocation: 0,
  accessLogBytesPerRequest: 280, // API Gateway access log line (stacks/Cocoon.ts turns it on)
  /** A waiting Lambda (?wait) on AWS re-reads the job every 250 ms (functions/adapters/aws-notifier.ts). */
  waitSliceSeconds: 0.25,
  /** The SDK's long-poll: a wait longer than this takes another GET /v1/jobs/{id}?wait=20. */
  maxWaitSeconds: 20,
  /** Target utilisation of provisioned capacity under auto scaling (AWS's default target is 70 %). */
  provisionedUtilization: 0.7,
  /** Messages per invocation of the matching consumer at steady volume (batch size 10, no batching window). */
  matchingBatchSteady: 4,
  /**
   * Items without a TTL (ledger movements, receipt log entries, tab items) are priced for one
   * month in the table, as if older ones were exported to S3 and deleted (not built: they are the
   * money's records). Job records carry a TTL since session 42 (COCOON_JOB_RETENTION_DAYS, 30 days
   * after the job ends by default) and are priced by it. The bench also shows a year in the table.
   */
  permanentItemMonths: 1,
  /** Cold starts: share of invocations, and the INIT time billed for each (billed like duration since 2025-08-01). */
  coldStartShare: { perRoute: 0.005, router: 0.001 },
  initSeconds: 0.5,
  /**
   * How long a receipt or movement inbox entry stays in the table: until the anchorer's next
   * cut (DEFAULT_ANCHOR_INTERVAL_SECONDS of core/receipts/anchor.ts; the cron runs every minute).
   */
  inboxSeconds: 300,
  agentLongPollSeconds: 20,
  /**
   * A worker's result post from sending to answer on AWS: the HTTPS exchange with the function
   * URL on a kept-alive connection (~20 ms), the handler's 4 DynamoDB round trips (awsCallMs
   * each) and its work at 256 MB (~15 ms). How long results that finish meanwhile wait to batch.
   */
  resultPostSeconds: 0.06,
  sessionSeconds: 3600,
  /** The relay's STS sessions last this long (stacks/Cocoon.ts COCOON_RELAY_SESSION_SECONDS). */
  relaySessionSeconds: 900,
  /**
   * The SDK starts a job on an account connection only while its credentials outlive the job's
   * deadline (default timeout 120 s) by 60 s (client/relay-mqtt.ts): a connection takes new jobs
   * for 900 − 180 = 720 s, then the next job makes a new one (a session call, CONNECT, SUBSCRIBE).
   */
  sdkJobTimeoutSeconds: 120,
  relayRenewMarginSeconds: 60,
  /**
   * Jobs per hour of an account that is asking (its connection, session calls, CONNECTs and
   * SUBSCRIBEs shared among them). One a minute: a quiet app; a busier one shares them wider.
   */
  jobsPerAccountHour: 60,
  /**
   * The relay sweep's period (stacks/Cocoon.ts RelayChannelSweep, core/relay-sweep.ts): each run
   * asks CloudWatch for every channel queue's empty receives, one metric requested per queue.
   */
  relaySweepSeconds: 900,
  matchingPollers: 5, // Lambda's SQS event source long-polls with ~5 pollers when idle
  /**
   * The SDK reads the job when the relay was silent this long (client/sdk.ts RELAY_QUIET_MS): a
   * refund or failover says nothing on the relay. A streamed job publishes a chunk a second, but
   * an ask() answer published whole (relayWhole) is silent until its end: one read per 10 s of
   * generation.
   */
  relayQuietSeconds: 10,
};

/** The SDK's reads of a job during relay silence (ASSUME.relayQuietSeconds), per job of the workload. */
export const quietReadsPerJob = (workload: Array<{ engineSeconds: number; streamed: boolean }>) =>
  workload.reduce((a, j) => a + (j.streamed ? 0 : Math.floor(j.engineSeconds / ASSUME.relayQuietSeconds)), 0) / workload.length;

/** The figure the previous model gave (fixed 1 s engine, API Gateway, DynamoDB on-demand, submit held): issue 12. */
export const PREVIOUS_MODEL_PER_MILLION = {
  usd: 27.81,
  dynamo: 16.26,
  lambda: 4.83,
  api: 3.0,
  sqs: 2.4,
  logs: 1.32,
  recorded: "issue 12 (bench/results.json before it)",
};

// ---------------------------------------------------------------- seeded sampling
/** Engine times (seconds) and streamed flags of WORKLOAD.samples jobs. */
export function sampleWorkload(w = WORKLOAD): Array<{ engineSeconds: number; streamed: boolean }> {
  const rnd = mulberry32(w.seed);
  const mu = Math.log(w.engineMedianSeconds);
  const sigma = Math.log(w.engineP95Seconds / w.engineMedianSeconds) / 1.6448536;
  const out: Array<{ engineSeconds: number; streamed: boolean }> = [];
  for (let i = 0; i < w.samples; i++) {
    const u1 = Math.max(rnd(), 1e-12);
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * rnd());
    out.push({ engineSeconds: Math.exp(mu + sigma * z), streamed: rnd() < w.streamedShare });
  }
  return out;
}

// ---------------------------------------------------------------- meters
interface RouteMeter {
  invocations: number;
  rru: number;
  wru: number;
  sqs: number;
  /** AWS round trips (calls made together count once: CostMeter.begin) */
  awsCalls: number;
  logBytes: number;
  /** Wall time inside the handler, less the time spent waiting for a job to change. */
  ownMs: number[];
  waitMs: number;
  responseBytes: number;
  /** GB-months of storage the puts of this route leave behind: items with a TTL, and GB of items without one (priced per month kept). */
  storedGbMonths: number;
  permanentGb: number;
}
const zero = (): RouteMeter => ({
  invocations: 0,
  rru: 0,
  wru: 0,
  sqs: 0,
  awsCalls: 0,
  logBytes: 0,
  ownMs: [],
  waitMs: 0,
  responseBytes: 0,
  storedGbMonths: 0,
  permanentGb: 0,
});

export class CostMeter {
  readonly routes = new Map<string, RouteMeter>();
  readonly als = new AsyncLocalStorage<{ route: string; waitMs: number; inflight?: number }>();
  private readonly backgroundCtx = { inflight: 0 };
  /**
   * An AWS call starts: a round trip is counted only when none of the same request is in flight,
   * so calls made together (Promise.all: the 16 offer shards, the candidates' worker items) cost
   * one round trip of the handler's billed time, as they do on Lambda.
   */
  begin(): () => void {
    const ctx = this.als.getStore() ?? this.backgroundCtx;
    if (!ctx.inflight) this.m().awsCalls++;
    ctx.inflight = (ctx.inflight ?? 0) + 1;
    let done = false;
    return () => {
      if (!done) ctx.inflight = (ctx.inflight ?? 1) - 1;
      done = true;
    };
  }
  matchingMessages = 0;
  /** RRU of each read of a job item (what a waiting Lambda re-reads). */
  readonly jobReads: number[] = [];
  /** Units by route, operation, table and item kind ("jobs job", "ledger posting#…"): where each unit goes. */
  readonly items = new Map<string, { wru: number; rru: number; ops: number; bytes: number }>();
  private itemRow(what: string) {
    const k = `${this.als.getStore()?.route ?? this.background} | ${what}`;
    let r = this.items.get(k);
    if (!r) this.items.set(k, (r = { wru: 0, rru: 0, ops: 0, bytes: 0 }));
    return r;
  }
  item(what: string, wru: number, rru: number, bytes: number) {
    const r = this.itemRow(what);
    r.wru += wru;
    r.rru += rru;
    r.ops++;
    r.bytes += bytes;
  }
  /** Requests that arrive outside an HTTP request: the matching consumer. */
  constructor(readonly background = "SQS matching") {}
  private m(): RouteMeter {
    const k = this.als.getStore()?.route ?? this.background;
    let r = this.routes.get(k);
    if (!r) this.routes.set(k, (r = zero()));
    return r;
  }
  read(units: number) {
    this.m().rru += units;
  }
  write(units: number) {
    this.m().wru += units;
  }
  /**
   * What the anchorer will do for the entries the jobs wrote: for each inbox entry (the movement
   * inbox; the legacy receipt inbox) delete it, index it if a receipt, read it; for each receipt
   * entry of the time-windowed log only read it (windowedReadUnits), never write.
   */
  readonly anchorer = { deleteWru: 0, indexWru: 0, indexGb: 0, readBytes: 0, entries: 0, windowBytes: 0, windowEntries: 0 };
  windowEntry(bytes: number) {
    this.anchorer.windowEntries++;
    this.anchorer.windowBytes += bytes;
  }
  inboxEntry(bytes: number, indexBytes: number) {
    this.anchorer.entries++;
    this.anchorer.deleteWru += writeUnits(bytes);
    this.anchorer.readBytes += bytes;
    if (indexBytes > 0) {
      this.anchorer.indexWru += writeUnits(indexBytes);
      this.anchorer.indexGb += (indexBytes + ITEM_OVERHEAD_BYTES) / 1e9;
    }
  }
  stored(gbMonths: number, permanentGb: number) {
    const r = this.m();
    r.storedGbMonths += gbMonths;
    r.permanentGb += permanentGb;
  }
  sqs(requests = 1) {
    this.m().sqs += requests;
  }
  log(bytes: number) {
    this.m().logBytes += bytes;
  }
  invocation(route: string, ms: number, waitMs: number, responseBytes: number) {
    const r = this.routes.get(route) ?? zero();
    r.invocations++;
    r.ownMs.push(Math.max(0, ms - waitMs));
    r.waitMs += waitMs;
    r.responseBytes += responseBytes;
    this.routes.set(route, r);
  }
  /** Moves what was booked to route `from` (its counts and its items) onto route `to`. */
  rebook(from: string, to: string) {
    const r = this.routes.get(from);
    if (r) {
      const t = this.routes.get(to) ?? zero();
      this.routes.set(to, {
        invocations: t.invocations + r.invocations,
        rru: t.rru + r.rru,
        wru: t.wru + r.wru,
        sqs: t.sqs + r.sqs,
        awsCalls: t.awsCalls + r.awsCalls,
        logBytes: t.logBytes + r.logBytes,
        ownMs: [...t.ownMs, ...r.ownMs],
        waitMs: t.waitMs + r.waitMs,
        responseBytes: t.responseBytes + r.responseBytes,
        storedGbMonths: t.storedGbMonths + r.storedGbMonths,
        permanentGb: t.permanentGb + r.permanentGb,
      });
      this.routes.delete(from);
    }
    for (const [k, v] of [...this.items]) {
      if (!k.startsWith(`${from} | `)) continue;
      const key = `${to} | ${k.slice(from.length + 3)}`;
      const t = this.items.get(key) ?? { wru: 0, rru: 0, ops: 0, bytes: 0 };
      this.items.set(key, { wru: t.wru + v.wru, rru: t.rru + v.rru, ops: t.ops + v.ops, bytes: t.bytes + v.bytes });
      this.items.delete(k);
    }
  }
  reset() {
    this.routes.clear();
    this.matchingMessages = 0;
    this.jobReads.length = 0;
    this.items.clear();
    Object.assign(this.anchorer, { deleteWru: 0, indexWru: 0, indexGb: 0, readBytes: 0, entries: 0, windowBytes: 0, windowEntries: 0 });
  }
}

/** An item's kind for the breakdown: its table and its key with ids blanked out. */
export function itemKind(table: TableName, key: Key): string {
  const blank = (x: string) =>
    x
      .replace(/^[A-Za-z0-9_-]{43}#[A-Za-z0-9_-]{16,128}$/, "<id>#<nonce>") // a replay guard's claimed request nonce
      .replace(/\b(job|tab|mv|wd|w|acct)_[0-9a-z]{10,}/gi, "$1_<id>")
      .replace(/[0-9a-f]{8}-[0-9a-f-]{27,}/gi, "<id>")
      .replace(/#\d+\b/g, "#<n>")
      .replace(/[A-Za-z0-9_-]{32,}/g, "<id>")
      .replace(/[0-9a-f]{16,}/gi, "<hex>")
      .replace(/\d{6,}/g, "<n>");
  return `${table} ${blank(String(key.pk))} / ${blank(String(key.sk))}`;
}

/** Item sizes by DynamoDB's rules (bench/store.ts dynamoItemBytes). */
const sizeOf = (table: TableName, item: Item | undefined) => dynamoItemBytes(table, item);
const readUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / 4096));
const writeUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));
/** DynamoDB bills 100 bytes of overhead per item stored. */
const ITEM_OVERHEAD_BYTES = 100;

/** A Store that meters what the DynamoDB adapter would consume. */
export function meteredStore(inner: Store, meter: CostMeter, now: () => number = Date.now): Store {
  const keyOf = (op: WriteOp): Key => (op.op === "put" ? op.item : op.key);
  return {
    // it bills as DynamoDB does, and the code under it must store what it would store there
    billedWrites: true,
    async get(table, key, o) {
      const done = meter.begin();
      const item = await inner.get(table, key, o).finally(done);
      const units = readUnits(sizeOf(table, item)) * (o?.eventual ? 0.5 : 1);
      meter.read(units);
      meter.item(`get ${itemKind(table, key)}`, 0, units, sizeOf(table, item));
      if (table === "jobs" && item) meter.jobReads.push(units);
      return item as never;
    },
    async query(table, pk, opts) {
      const done = meter.begin();
      const items = await inner.query(table, pk, opts).finally(done);
      const bytes = items.reduce((n, i) => n + sizeOf(table, i), 0);
      const units = readUnits(bytes) * (opts?.eventual ? 0.5 : 1); // an eventually consistent read bills half
      meter.read(units);
      meter.item(`query ${itemKind(table, { pk, sk: "*" })} (${items.length} items)`, 0, units, bytes);
      return items as never;
    },
    async transact(ops) {
      // Sizes before the write (uncounted reads of the inner store) decide the units.
      const before = await Promise.all(ops.map((op) => inner.get(op.table, keyOf(op))));
      const transactional = ops.length > 1 || ops[0]?.op === "check";
      let units = 0;
      let checkReads = 0;
      let gbMonths = 0;
      let permanentGb = 0;
      const inboxes: Array<{ bytes: number; indexBytes: number }> = [];
      const windowed: number[] = [];
      const perOp: Array<[string, number, number, number]> = [];
      const tx = transactional ? 2 : 1;
      ops.forEach((op, i) => {
        const old = sizeOf(op.table, before[i]);
        const u0 = units;
        const kind = `${transactional ? "tx " : ""}${op.op} ${itemKind(op.table, keyOf(op))}`;
        if (op.op === "check") {
          checkReads += 2 * readUnits(old); // ConditionCheck: transactional read units
          perOp.push([kind, 0, 2 * readUnits(old), old]);
          return;
        } else if (op.op === "put") {
          const size = sizeOf(op.table, op.item);
          units += writeUnits(Math.max(old, size));
          // What this put leaves stored: its size (less what it replaced), for its TTL or for good.
          const ttl = typeof op.item.ttl === "number" ? (op.item.ttl > 1e11 ? op.item.ttl : op.item.ttl * 1000) : undefined;
          const gb = Math.max(0, size - old + (old ? 0 : ITEM_OVERHEAD_BYTES)) / 1e9;
          const inbox = op.table === "chain" && /^(rlog|mlog):pending#/.test(String(op.item.pk));
          if (inbox) {
            // An inbox entry lives until the anchorer's next cut, which deletes it (and, for a
            // receipt, writes its permanent index item): work the anchorer does per job, later.
            gbMonths += gb * (ASSUME.inboxSeconds / (30 * 86_400));
            const index =
              op.item.receipt !== undefined
                ? sizeOf("chain", {
                    pk: `rlog:${String(op.item.sk)}`,
                    sk: "r",
                    seq: 1e9,
                    anchorSeqno: 1e6,
                    receipt: op.item.receipt,
                  } as Item)
                : 0;
            inboxes.push({ bytes: size, indexBytes: index });
          } else if (op.table === "chain" && String(op.item.pk).startsWith(WINDOW_PK)) {
            // a receipt entry of the time-windowed log: kept for good (the receipt's record), read by the anchorer, never written again
            permanentGb += gb;
            windowed.push(size);
          } else if (ttl !== undefined) gbMonths += gb * (Math.max(0, ttl - now()) / (30 * 86_400_000));
          else permanentGb += gb;
        } else if (op.op === "delete") units += writeUnits(old);
        else {
          const after = { ...(before[i] ?? { pk: op.key.pk, sk: op.key.sk }), ...(op.set ?? {}), ...(op.add ?? {}) } as Item;
          units += writeUnits(Math.max(old, sizeOf(op.table, after)));
        }
        const size =
          op.op === "put"
            ? sizeOf(op.table, op.item)
            : op.op === "delete"
              ? old
              : sizeOf(op.table, { ...(before[i] ?? {}), ...(op.set ?? {}), ...(op.add ?? {}) } as Item);
        perOp.push([kind, tx * (units - u0), 0, Math.max(old, size)]);
      });
      for (const [k, w, r, b] of perOp) meter.item(k, w, r, b);
      const done = meter.begin();
      try {
        await inner.transact(ops);
        meter.stored(gbMonths, permanentGb);
        for (const e of inboxes) meter.inboxEntry(e.bytes, e.indexBytes);
        for (const b of windowed) meter.windowEntry(b);
      } finally {
        done();
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
      if (queue === "matching") meter.matchingMessages++;
      return inner.send(queue, body, opts).finally(meter.begin());
    },
    async receive(queue, opts) {
      meter.sqs();
      return inner.receive(queue, opts).finally(meter.begin());
    },
    async delete(queue, handle) {
      meter.sqs();
      return inner.delete(queue, handle).finally(meter.begin());
    },
    async ensure(queue) {
      meter.sqs();
      return inner.ensure(queue).finally(meter.begin());
    },
  };
}

/** A Notifier that books the time a handler waits for a change on the request's context. */
function timedNotifier(inner: Notifier, meter: CostMeter): Notifier {
  return {
    notify: (topic, data) => inner.notify(topic, data),
    async wait(topic, ms, signal) {
      const t0 = performance.now();
      try {
        return await inner.wait(topic, ms, signal);
      } finally {
        const ctx = meter.als.getStore();
        if (ctx) ctx.waitMs += performance.now() - t0;
      }
    },
  };
}

// ---------------------------------------------------------------- the measured job
/** What one job costs in counts, per route, measured through the real handlers (a job = one SDK ask). */
export interface MeasuredJob {
  jobs: number;
  routes: Map<string, RouteMeter>;
  matchingMessages: number;
  /** Mean RRU of one read of a job item. */
  jobReadUnits: number;
  heartbeat?: RouteMeter;
  /** The anchorer's later work for the jobs' inbox entries (CostMeter.anchorer). */
  anchorer?: CostMeter["anchorer"];
  /** DynamoDB units by route, operation, table and item kind (CostMeter.items). */
  items: Map<string, { wru: number; rru: number; ops: number; bytes: number }>;
}

const ROUTES_NOT_PER_JOB = ["GET /v1/agent/jobs", "POST /v1/agents/heartbeat"];
/** The route whose Lambda waits for the answer where the answer is held (POST /v1/jobs?wait=20). */
const WAITING_ROUTE = "POST /v1/jobs";
/**
 * The SDK's read of the job after the relay's final chunk, before issue 12's last step (the agent
 * now publishes its final chunk, with the receipt, only once the coordinator took the result, and
 * the SDK ends the job on it): measured as one GET of the completed job per ask, priced only for
 * the "relay-read" comparison. A job whose relay is silent for 10 s is still read (refunds,
 * failovers): not counted, the first chunk flushes at once and then one a second.
 */
const READ_AFTER_RELAY = "GET /v1/jobs/{id}";

/**
 * The measured job's engine (issue 12, cost honesty): WORKLOAD.answerBytes of text through the
 * real agent path, streamed a chunk's worth (textBytesPerSecond × chunkSeconds) at a time,
 * under the null engine's model name (the offers' keys, and so their sizes, as before).
 */
export const measuredEngine = (model: string) =>
  sizedEngine({ answerBytes: WORKLOAD.answerBytes, chunkBytes: WORKLOAD.textBytesPerSecond * WORKLOAD.chunkSeconds, models: [model] });
/** The measured ask (issue 12, cost honesty): WORKLOAD.promptBytes of chat, maxTokens a power of two above the answer's tokens. */
export const measuredAsk = (model: string) => ({
  model,
  messages: measuredMessages(WORKLOAD.promptBytes),
  maxTokens: 1024,
  tiers: ["dev" as const],
});
/** The sizes the measured job prices, for the rows' text. */
const SIZES = () => `a ${WORKLOAD.promptBytes.toLocaleString("en")} B prompt and a ${WORKLOAD.answerBytes.toLocaleString("en")} B answer`;

/** The measured network's agents (measureJob says why four). */
const AGENTS = ["a1", "a2", "a3", "a4"];

/**
 * `tabs`: the SDK draws on tabs of that many slots (issue 12, CocoonClient({ tabs })): the warm-up
 * fills one tab, which is closed before the count starts; the measured jobs fill whole tabs, and
 * their close checks then run through the real matching handler (with the clock moved: a tab
 * closes 2 min after its expiry; one that closes more than 15 min after its open has its check
 * sent once more, as SQS delays at most 900 s), so each job carries its share of its tab's open and close.
 *
 * `inFlight` (issue 12, the batched variant: bench/cost-batch.ts): each worker has that many jobs
 * in flight, which finish together (lockstep), so the real agents' AgentApi posts their results
 * in batches; the jobs come in rounds, one from each of 4 × inFlight requesters (each its own
 * account, as at steady volume: a batch's jobs are not one requester's). Each result post runs
 * alone (isolation) and is booked to resultRoute(its results), so its handler time is its own.
 */
export async function measureJob(o: { jobs?: number; warmup?: number; tabs?: number; inFlight?: number } = {}): Promise<MeasuredJob> {
  const [
    { startNetwork },
    { startLocalAgents },
    { NULL_DEFAULT_MODEL },
    { CocoonClient },
    { generateSigningKey },
    { createMemoryStore },
    { routes },
    { API },
    { handleMatchingMessage },
    { tabClosesAfter },
  ] = await Promise.all([
    import("../local/network"),
    import("../local/agents"),
    import("../agent/engines/builtin"),
    import("../client/sdk"),
    import("../core/crypto/keys"),
    import("../local/memory-store"),
    import("../functions/http/routes"),
    import("../api-client/api"),
    import("../core/jobs"),
    import("../core/jobs/tabs"),
  ]);
  const meter = new CostMeter();
  const patterns: Array<[RegExp, string]> = routes.map((r) => [
    new RegExp("^" + r.spec.path.replace(/\{[^}]+\}/g, "[^/]+") + "$"),
    `${r.spec.method} ${r.spec.path}`,
  ]);
  const routeOf = (method: string, url: string) => {
    const path = new URL(url, "http://x").pathname;
    return patterns.find(([re, k]) => k.startsWith(method + " ") && re.test(path))?.[1] ?? `${method} ${path}`;
  };

  let posts = 0;
  const leaseSeconds = o.inFlight ? 5 : 1;
  const raw = createMemoryStore();
  const net = await startNetwork({
    store: meteredStore(raw, meter),
    logSink: (line) => meter.log(Buffer.byteLength(line) + 1),
    // No TON sandbox or chain watcher: on AWS they are not on the request path (another function, TON itself).
    chain: false,
    // Short leases so every job's lease check is consumed (and metered) within the run; batched,
    // long enough for a job held in its lockstep group not to have its lease extended (POST
    // /v1/agent/lease, which no job of the sequential run makes either).
    config: { leaseBaseSeconds: leaseSeconds, leaseMsPerToken: 1 },
  });
  net.deps.queues = meteredQueues(net.deps.queues, meter);
  net.deps.notifier = timedNotifier(net.deps.notifier, meter);
  const alone = o.inFlight ? isolation() : undefined;
  if (alone) {
    // a settlement's notifications wake the held submits: their work waits until the post has ended
    const inner = net.deps.notifier;
    net.deps.notifier = { ...inner, notify: (topic, data) => alone.after(() => inner.notify(topic, data)) };
  }
  // On AWS a route that still claims request nonces uses the store (one conditional put per signed request), as in createAwsDeps.
  delete (net.deps as { replay?: unknown }).replay;
  // Every request runs in a context naming its route; its duration is its Lambda's (local) time.
  const listeners = net.server.listeners("request") as Array<(...a: unknown[]) => void>;
  net.server.removeAllListeners("request");
  net.server.on(
    "request",
    (
      req: { method?: string; url?: string },
      res: { on(e: string, f: () => void): void; write: (...a: unknown[]) => boolean; end: (...a: unknown[]) => unknown },
    ) => {
      const route = routeOf(req.method ?? "GET", req.url ?? "/");
      // the batched run: a result post is booked apart until its answer says how many results it carried
      const isolated = alone !== undefined && route === RESULT_ROUTE;
      const ctx = { route: isolated ? `${route} #${++posts}` : route, waitMs: 0, inflight: 0 };
      let bytes = 0;
      const answer: string[] = [];
      const count = (c: unknown) => {
        if (isolated && (typeof c === "string" || c instanceof Uint8Array)) answer.push(Buffer.from(c).toString("utf8"));
        bytes += typeof c === "string" ? Buffer.byteLength(c) : c instanceof Uint8Array ? c.byteLength : 0;
      };
      const write = res.write.bind(res);
      const end = res.end.bind(res);
      res.write = (...a: unknown[]) => (count(a[0]), write(...a));
      res.end = (...a: unknown[]) => (typeof a[0] !== "function" && count(a[0]), end(...a));
      const run = () =>
        new Promise<void>((ended) => {
          const t0 = performance.now();
          res.on("close", ended);
          res.on("finish", () => {
            meter.invocation(ctx.route, performance.now() - t0, ctx.waitMs, bytes);
            if (isolated) meter.rebook(ctx.route, resultRoute(resultsInAnswer(answer.join(""))));
            ended();
          });
          meter.als.run(ctx, () => listeners.forEach((l) => l.call(net.server, req, res)));
        });
      if (!alone) void run();
      else if (isolated) alone.alone(run);
      else alone.after(() => void run());
    },
  );

  const home = mkdtempSync(join(tmpdir(), "cocoon-cost-"));
  // Four agents: a job's candidates are the default k = 3 (core/config.ts), so the envelope wraps
  // three keys and the job item lists three candidates, as on a live network (one agent made the
  // job item and the envelope, which rides the lease check's message, smaller than they are); and one more than a quote
  // names, so a quote is not every live worker (PrepareResponse.allLive) and is renewed (below).
  const agents = await startLocalAgents(
    net.url,
    home,
    AGENTS.map((name) => ({
      name,
      priceBps: 10_000,
      // batched: room for more than the group, as matching spreads a round's jobs unevenly
      engine: o.inFlight ? lockstep(measuredEngine(NULL_DEFAULT_MODEL), o.inFlight) : measuredEngine(NULL_DEFAULT_MODEL),
      models: [NULL_DEFAULT_MODEL],
      capacity: o.inFlight ? Math.max(8, 2 * o.inFlight) : 8,
    })),
  );
  // The client's clock moves RENEW_AFTER_MS a job (its requests are still signed with the real
  // one): every submit renews its kept quote (client/quote-keeping.ts), as for a requester asking
  // at most once a second (the scale simulation's 5,000 requesters at 1,000 jobs/s ask once in 5 s),
  // so each job is priced with a renewal's matching reads and CPU on its submit: the upper bound.
  const clients = Array.from({ length: o.inFlight ? AGENTS.length * o.inFlight : 1 }, () => {
    let shift = 0;
    const client = new CocoonClient({
      apiUrl: net.url,
      key: generateSigningKey(),
      allowDev: true,
      now: () => Date.now() + shift,
      ...(o.tabs ? { tabs: { slots: o.tabs } } : {}),
    });
    return { client, renew: () => (shift += RENEW_AFTER_MS) };
  });
  // Every open tab's close check, as the matching consumer runs it: first when its delayed
  // message (at most 900 s) arrives before the tab may close (it sends itself again), then at
  // the close. Outside a request: booked to the matching consumer, as on AWS.
  const closeTabs = async () => {
    for (const t of raw.scan("jobs").filter((i) => i.sk === "tab" && i.status === "open")) {
      const at = (ms: number) => ({ ...net.deps, clock: { now: () => ms } });
      const closesAfter = tabClosesAfter({ expiresAt: Number(t.expiresAt) });
      const msg = { type: "tab" as const, tabId: String(t.pk) };
      if (closesAfter - Date.now() > 900_000) await handleMatchingMessage(at(Date.now() + 900_000), msg);
      const r = await handleMatchingMessage(at(closesAfter + 1), msg);
      if (r !== "closed") throw new Error(`tab ${String(t.pk)} did not close: ${r}`);
    }
  };
  await Promise.all(clients.map((c) => c.client.faucet(1_000_000_000_000n)));
  // The local default answers on the submit (HTTP relay); the read the SDK made after the relay's
  // final chunk on AWS before issue 12's last step (READ_AFTER_RELAY) is measured beside it, on the completed job.
  const ask = async ({ client, renew } = clients[0]!) => {
    renew();
    const r = await client.ask(measuredAsk(NULL_DEFAULT_MODEL));
    await client.api.request(API.getJob, { params: { id: r.jobId }, query: { wait: 0 } });
  };
  // batched: a job from each requester at once, in whole rounds
  const round = () => Promise.all(clients.map((c) => ask(c)));
  const rounds = Math.max(1, Math.round((o.jobs ?? 100) / clients.length));
  // under tabs: whole tabs, so each job carries exactly its share of an open and a close
  const jobs = o.tabs ? Math.max(1, Math.round((o.jobs ?? 100) / o.tabs)) * o.tabs : o.inFlight ? rounds * clients.length : (o.jobs ?? 100);
  try {
    if (o.inFlight) await round();
    else for (let i = 0; i < (o.tabs ?? o.warmup ?? 10); i++) await ask();
    if (o.tabs) {
      await new Promise((r) => setTimeout(r, 2_500)); // the warm-up's lease checks, then its tab's close, before the count
      await closeTabs();
    }
    meter.reset();
    if (o.inFlight) for (let i = 0; i < rounds; i++) await round();
    else for (let i = 0; i < jobs; i++) await ask();
    // Let the (delayed) lease checks of the last jobs arrive and be consumed.
    await new Promise((r) => setTimeout(r, leaseSeconds * 1000 + 1_500));
    if (o.tabs) await closeTabs();
    const measured: MeasuredJob = {
      jobs,
      routes: new Map([...meter.routes].map(([k, v]) => [k, { ...v, ownMs: [...v.ownMs] }])),
      matchingMessages: meter.matchingMessages,
      items: new Map([...meter.items].map(([k, v]) => [k, { ...v }])),
      anchorer: { ...meter.anchorer },
      jobReadUnits: meter.jobReads.length ? meter.jobReads.reduce((a, b) => a + b, 0) / meter.jobReads.length : 1,
    };
    if (o.inFlight) return measured; // its heartbeat is the sequential run's
    // One heartbeat, measured: wait for the agent's next one.
    const before = meter.routes.get("POST /v1/agents/heartbeat")?.invocations ?? 0;
    const deadline = Date.now() + 12_000;
    while ((meter.routes.get("POST /v1/agents/heartbeat")?.invocations ?? 0) === before && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    measured.heartbeat = meter.routes.get("POST /v1/agents/heartbeat");
    return measured;
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await net.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- pricing
export interface Dollars {
  dynamo: number;
  storage: number;
  lambda: number;
  frontDoor: number;
  sqs: number;
  logs: number;
  delivery: number;
  transfer: number;
}
const NONE: Dollars = { dynamo: 0, storage: 0, lambda: 0, frontDoor: 0, sqs: 0, logs: 0, delivery: 0, transfer: 0 };
export const total = (d: Dollars) => Object.values(d).reduce((a, b) => a + b, 0);
const add = (a: Dollars, b: Partial<Dollars>): Dollars =>
  Object.fromEntries(Object.keys(NONE).map((k) => [k, a[k as keyof Dollars] + (b[k as keyof Dollars] ?? 0)])) as unknown as Dollars;

export type FrontDoor = "api-gateway" | "function-urls" | "router";
/**
 * relay (as built on AWS, issue 12): every answer over the relay, ask() as askStream() collected,
 * nothing held while the engine works: the submit returns at once and the final chunk (with the
 * receipt, published after the coordinator took the result) ends the job: two requests; the
 * relay priced by the RelayPricer.
 * relay-read: the same, with the SDK reading the job once after the final chunk (READ_AFTER_RELAY,
 * measured), as it did before issue 12's last step.
 * hold: the submit's Lambda waits while the engine works (POST /v1/jobs?wait, then GET ?wait), as
 * on the local default's HTTP relay.
 * ask-held: the SDK before its own MQTT subscriber: ask() waited on the submit (held),
 * askStream() read the relay while its GET ?wait was held until the job was done.
 */
export type Delivery = "hold" | "relay" | "relay-read" | "ask-held";
export type Capacity = "on-demand" | "provisioned";

export interface PricingChoice {
  frontDoor: FrontDoor;
  delivery: Delivery;
  capacity: Capacity;
}

/**
 * AWS IoT Core's metering, as its "additional metering details" page states it (stored copy,
 * read 2026-12-02): every message in 5 KB steps; MQTT CONNECT and SUBSCRIBE are metered (each
 * well under 5 KB: one message); a PUBLISH received from a device and each PUBLISH the service
 * sends (a delivery) are metered on payload + topic; a PUBACK received from a device (QoS 1,
 * MQTT 3.1.1) is metered as one 5 KB message; PINGREQ/PINGRESP, DISCONNECT, CONNACK, SUBACK,
 * UNSUBSCRIBE and the service's own PUBACKs are not. An HTTPS publish is metered on its body
 * (the Publish API answers 200 with an empty body). Connection time: per connection-minute.
 */
export const IOT_METERING = {
  stepBytes: 5 * 1024,
  source: "AWS IoT Core pricing, additional metering details (aws.amazon.com/iot-core/pricing/additional-details, stored copy)",
  asOf: "2026-12-02",
};

/**
 * How the relay is used per job (what decides its messages). As built (issue 12): the SDK keeps
 * one account-scoped session, connection and subscription per account (client/relay-mqtt.ts),
 * renewed when a job would outlive its credentials (ASSUME.relaySessionSeconds), their cost
 * shared by the account's jobs (ASSUME.jobsPerAccountHour); the worker asks its own job-scoped
 * session and publishes each sealed chunk over HTTPS at QoS 0 (agent/relay-iot.ts; at QoS 1 the
 * requester's PUBACK of each delivery would be metered too). ask() is askStream() collected with
 * RequestPlaintext.relayWhole: the agent publishes a whole answer as its final chunk (split only
 * at the chunk cap), one message where a stream of it would be one a second.
 */
export interface RelayPlan {
  /**
   * "sqs" (as built since this change: functions/adapters/relay-sqs.ts, a queue per requester
   * channel; the worker sends each chunk, the SDK long-polls it) or "iot-mqtt" (AWS IoT Core,
   * the relay before it, still deployable: a publish and a delivery per chunk, connection minutes).
   */
  transport: "sqs" | "iot-mqtt";
  /** a job-scoped session per job for the requester (before issue 12's subscriber) or one per account, reused (false: as built) */
  requesterSessionPerJob: boolean;
  /** the requester connects and subscribes per job, connected for the generation (before) or keeps one per account (false: as built) */
  connectPerJob: boolean;
  /**
   * An answer the requester did not ask to stream: published as one message (as built: ask() asks
   * the agent for relayWhole) or chunked like a stream (before relayWhole, see the rows).
   */
  wholeAnswer: "streamed" | "one-message";
  publishQos: 0 | 1;
  encoding: "json-base64" | "binary";
  /** seconds of generation per streamed chunk (default WORKLOAD.chunkSeconds: agent/execute.ts's one a second) */
  chunkSeconds?: number;
  /**
   * How the worker gets its job-scoped relay credentials: "dispatched" (as built: the submit's
   * Lambda asks STS alongside the hold and puts them in the job it dispatches, core/jobs/dispatch.ts;
   * STS is free, the call runs beside the transaction) or "asked" (before: the agent's own
   * POST /v1/agent/jobs/{id}/relay, one more request a job: a Lambda, STS and a job read).
   */
  workerSession: "dispatched" | "asked";
}
export const RELAY_AS_BUILT: RelayPlan = {
  transport: "sqs",
  workerSession: "dispatched",
  requesterSessionPerJob: false,
  connectPerJob: false,
  publishQos: 0,
  encoding: "json-base64",
  wholeAnswer: "one-message",
};
/**
 * AWS IoT Core with the SDK's one connection per account: the relay as built before the SQS
 * relay (still deployable). Its jobs name no relay channel, so its workers still ask for their
 * session per job.
 */
export const RELAY_IOT: RelayPlan = { ...RELAY_AS_BUILT, transport: "iot-mqtt", workerSession: "asked" };
/** The IoT Core relay before the SDK's own subscriber: a job-scoped requester session, connection and subscription per job, the worker asking its own. */
export const RELAY_PER_JOB: RelayPlan = { ...RELAY_IOT, requesterSessionPerJob: true, connectPerJob: true, workerSession: "asked" };

/**
 * Amazon SQS's metering (docs/aws-prices.md, SQS, 2026-03): every API action is a request, each 64 KiB
 * of payload a request; a long-poll receive is one request, empty or not, and returns as soon as a
 * message is there (up to 10 at once). The relay's queues keep a received message invisible past
 * its retention (functions/adapters/relay-sqs.ts), so the SDK deletes nothing.
 */
export const SQS_METERING = { stepBytes: 64 * 1024, longPollSeconds: 20 };

/** Connections (and so session calls, CONNECTs, SUBSCRIBEs) an asking account makes per job (RelayPlan, ASSUME). */
export const accountConnectionsPerJob = () =>
  3600 / (ASSUME.relaySessionSeconds - ASSUME.sdkJobTimeoutSeconds - ASSUME.relayRenewMarginSeconds) / ASSUME.jobsPerAccountHour;

/** Relay messages and calls of one job, item by item (IOT_METERING). */
export function relayUse(job: { engineSeconds: number; streamed: boolean }, plan: RelayPlan = RELAY_AS_BUILT) {
  const topicBytes = 80; // cocoon/relay/<account>/<jobId>
  const steps = (bytes: number) => Math.ceil((bytes + topicBytes) / IOT_METERING.stepBytes);
  // Streamed: the first delta at once, then one chunk per second of generation (agent/execute.ts
  // defaultChunking), the last with the receipt. Whole: one chunk with the whole answer.
  const every = plan.chunkSeconds ?? WORKLOAD.chunkSeconds;
  const chunkBytes =
    job.streamed || plan.wholeAnswer === "streamed"
      ? Array.from({ length: Math.ceil(job.engineSeconds / every) + 1 }, () => WORKLOAD.textBytesPerSecond * every)
      : [WORKLOAD.textBytesPerSecond * job.engineSeconds];
  const wire = chunkBytes.map(
    (b, i) => relayChunkWireBytes(b, plan.encoding) + (i === 0 ? 200 : 0) + (i === chunkBytes.length - 1 ? 450 : 0),
  );
  const shared = accountConnectionsPerJob();
  if (plan.transport === "sqs") {
    // The worker sends each chunk (chunks that queue behind a send in flight share a batch: not
    // counted, so this errs high). The SDK's long poll returns with each chunk (one job on the
    // channel at a time: with more, one receive takes several), plus one empty receive per 20 s
    // of silence (an answer published whole is silent while it is generated). Each account
    // session creates its channel's queue (idempotent) and the SDK deletes it when it closes.
    const sends = wire.reduce((a, b) => a + Math.ceil(b / SQS_METERING.stepBytes), 0);
    const silentSeconds = job.streamed || plan.wholeAnswer === "streamed" ? 0 : job.engineSeconds;
    return {
      sessionCalls: (plan.workerSession === "asked" ? 1 : 0) + (plan.requesterSessionPerJob ? 1 : shared),
      connect: 0,
      subscribe: 0,
      publish: 0,
      delivery: 0,
      puback: 0,
      connectionMinutes: 0,
      // each receive of a chunk bills its 64 KiB steps too
      sqsRequests: 2 * sends + Math.floor(silentSeconds / SQS_METERING.longPollSeconds) + 2 * shared,
      // the relay sweep reads the channel queue's NumberOfEmptyReceives each run while it exists:
      // one channel per asking account-hour, shared by its jobs
      sweepMetrics: 3600 / ASSUME.relaySweepSeconds / ASSUME.jobsPerAccountHour,
      // every chunk leaves AWS once, to the requester's long poll: SQS bills data transfer out at the
      // internet rate (the payloads only: each receive's JSON around them is not counted, so this errs low)
      outBytes: wire.reduce((a, b) => a + b, 0),
    };
  }
  const publish = wire.reduce((a, b) => a + steps(b), 0);
  return {
    // the worker's job-scoped session when it asks for it, and the requester's (per job, or its share of the account's)
    sessionCalls: (plan.workerSession === "asked" ? 1 : 0) + (plan.requesterSessionPerJob ? 1 : shared),
    connect: plan.connectPerJob ? 1 : shared,
    subscribe: plan.connectPerJob ? 1 : shared,
    publish,
    delivery: publish,
    puback: plan.publishQos === 1 ? wire.length : 0,
    // per job: connected for the generation, billed per started minute; per account: its hour shared by its jobs
    connectionMinutes: plan.connectPerJob ? Math.max(1, Math.ceil(job.engineSeconds / 60)) : 60 / ASSUME.jobsPerAccountHour,
    sqsRequests: 0,
    sweepMetrics: 0, // no channel queues to sweep
    // IoT Core's message price is all this model bills for a delivery
    outBytes: 0,
  };
}

/**
 * How a streamed or one-message answer reaches the requester over the relay, in dollars per
 * job, under a front door: relayUse's messages at the IoT Core price, its session calls (each
 * one Lambda invocation with an STS AssumeRole and a read of the job, through the front door),
 * and the connection minutes; on SQS its requests, the chunks' bytes out to the requester
 * (SQS bills data transfer out at the internet rate, PRICES.dataTransferOutGb) and its share of
 * the relay sweep's CloudWatch metrics (coord42).
 */
export type RelayPricer = (job: { engineSeconds: number; streamed: boolean }, frontDoor: FrontDoor) => number;
export const relayPricer =
  (plan: RelayPlan): RelayPricer =>
  (job, frontDoor) => {
    const u = relayUse(job, plan);
    const sessionCall =
      lambdaDollars(1, (2 * ASSUME.awsCallMs + 10) / 1000) +
      PRICES.dynamoReadUnit.usd +
      (frontDoor === "api-gateway" ? PRICES.apiHttpRequest.usd : 0);
    const messages = u.connect + u.subscribe + u.publish + u.delivery + u.puback;
    // a dispatched worker session: one STS round trip of the submit's Lambda (free itself; billed as
    // duration, though it runs beside the hold's transaction)
    const dispatched = plan.workerSession === "dispatched" ? (ASSUME.awsCallMs / 1000) * GB * PRICES.lambdaArmGbSecond.usd : 0;
    return (
      dispatched +
      u.sessionCalls * sessionCall +
      messages * PRICES.iotMessage.usd +
      u.connectionMinutes * PRICES.iotConnectionMinute.usd +
      u.sqsRequests * PRICES.sqsRequest.usd +
      u.sweepMetrics * PRICES.cloudWatchMetricRequested.usd +
      (u.outBytes / 1e9) * PRICES.dataTransferOutGb.usd
    );
  };
export const defaultRelayPricer: RelayPricer = relayPricer(RELAY_AS_BUILT);

const GB = ASSUME.lambdaMemoryMb / 1024;
/** $ of n invocations of `seconds` each at the stack's memory size. */
const lambdaDollars = (n: number, seconds: number) =>
  n * (PRICES.lambdaRequest.usd + Math.max(ASSUME.lambdaMinMs / 1000, seconds) * GB * PRICES.lambdaArmGbSecond.usd);
const median = (xs: number[]) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
};

/** Seconds one invocation of a route bills: its own work scaled to the Lambda's CPU share, plus its AWS round trips. */
function ownSeconds(r: RouteMeter, invocations: number): number {
  const cpuScale = ASSUME.lambdaFullCpuMb / ASSUME.lambdaMemoryMb;
  const perCall = r.invocations > 0 ? median(r.ownMs) : 0;
  // The matching consumer's work runs outside a request: its handler time is not measured; its AWS calls are.
  return (perCall * cpuScale + (r.awsCalls / Math.max(1, invocations)) * ASSUME.awsCallMs) / 1000;
}

/** Dollars per job of the measured routes under one choice, averaged over the sampled workload. */
export function priceJob(
  m: MeasuredJob,
  choice: PricingChoice,
  relay: RelayPricer = defaultRelayPricer,
  workload = sampleWorkload(),
  permanentMonths = ASSUME.permanentItemMonths,
): { perJob: Dollars; byRoute: Array<[string, Dollars]> } {
  const byRoute: Array<[string, Dollars]> = [];
  const provisioned = choice.capacity === "provisioned";
  // Provisioned at steady volume: units per second / utilisation, for the hours the jobs take: per unit
  // that is price-per-hour / 3600 / utilisation, whatever the rate.
  const wruUsd = provisioned ? PRICES.dynamoWcuHour.usd / 3600 / ASSUME.provisionedUtilization : PRICES.dynamoWriteUnit.usd;
  const rruUsd = provisioned ? PRICES.dynamoRcuHour.usd / 3600 / ASSUME.provisionedUtilization : PRICES.dynamoReadUnit.usd;
  const coldShare = choice.frontDoor === "router" ? ASSUME.coldStartShare.router : ASSUME.coldStartShare.perRoute;
  const meanEngine = workload.reduce((a, j) => a + j.engineSeconds, 0) / workload.length;
  const meanHeldGets =
    workload.reduce((a, j) => a + Math.max(0, Math.ceil(j.engineSeconds / ASSUME.maxWaitSeconds) - 1), 0) / workload.length;

  const overRelay = choice.delivery === "relay" || choice.delivery === "relay-read";
  const readAfter = m.routes.get(READ_AFTER_RELAY);
  const quietReads = quietReadsPerJob(workload);
  for (const [route, r] of m.routes) {
    if (ROUTES_NOT_PER_JOB.includes(route)) continue;
    // held: the answer came with the submit. Over the relay the job is read during relay silence
    // (an ask() answer longer than 10 s: ASSUME.relayQuietSeconds), and once more after the final chunk for relay-read.
    const reads = route !== READ_AFTER_RELAY ? 1 : overRelay ? quietReads + (choice.delivery === "relay-read" ? 1 : 0) : 0;
    if (reads === 0) continue;
    const http = route !== "SQS matching";
    // The matching consumer: one invocation per batch of messages at steady volume.
    const invocations = http ? r.invocations : m.matchingMessages / ASSUME.matchingBatchSteady;
    const n = invocations / m.jobs;
    let seconds = ownSeconds(r, invocations);
    let extraCalls = 0;
    let extraRru = 0;
    if (route === WAITING_ROUTE && !overRelay) {
      // The submit's Lambda stays up while the engine works, re-reading the job every slice, and
      // a wait past 20 s takes another GET ?wait=20 (another invocation).
      seconds += meanEngine / Math.max(1e-9, n);
      extraCalls = meanHeldGets;
      extraRru = (meanEngine / ASSUME.waitSliceSeconds) * m.jobReadUnits;
    }
    const requests = n + extraCalls;
    const d: Dollars = {
      ...NONE,
      dynamo: (r.wru / m.jobs) * wruUsd + (r.rru / m.jobs + extraRru) * rruUsd,
      storage: storageGbMonthsPerJob(r, m.jobs, permanentMonths) * (PRICES.dynamoStorageGbMonth.usd + PRICES.dynamoPitrGbMonth.usd),
      lambda:
        lambdaDollars(n, seconds) +
        lambdaDollars(extraCalls, ownSeconds(r, invocations)) +
        requests * coldShare * ASSUME.initSeconds * GB * PRICES.lambdaArmGbSecond.usd,
      frontDoor: http && choice.frontDoor === "api-gateway" ? requests * PRICES.apiHttpRequest.usd : 0,
      // the matching event source: one receive and one delete batch per invocation
      sqs: (r.sqs / m.jobs + (http ? 0 : 2 * n)) * PRICES.sqsRequest.usd,
      logs:
        ((r.logBytes / m.jobs +
          requests * ASSUME.platformLogBytesPerInvocation +
          (http && choice.frontDoor === "api-gateway" ? requests * ASSUME.accessLogBytesPerRequest : 0)) /
          1e9) *
        PRICES.logsIngestGb.usd,
      // Over the relay the submit returns before the answer: the job's view goes out with the read after the relay, if any.
      transfer:
        (Math.max(0, r.responseBytes - (overRelay && route === WAITING_ROUTE ? (readAfter?.responseBytes ?? 0) : 0)) / m.jobs / 1e9) *
        PRICES.dataTransferOutGb.usd,
    };
    // a read during silence priced as the measured read of the completed job (an upper bound: a running job's view is smaller)
    byRoute.push([route, reads === 1 ? d : (Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v * reads])) as unknown as Dollars)]);
  }
  // The anchorer's deferred per-job work: the inbox deletes, the receipt index puts (plain
  // writes, outside transactions), the inbox reads (queries: 4 KB a unit), the index items kept;
  // for the time-windowed log's receipt entries, its reads only (windowedReadUnits).
  if (m.anchorer && (m.anchorer.entries > 0 || m.anchorer.windowEntries > 0)) {
    const a = m.anchorer;
    byRoute.push([
      "anchorer (per job, later)",
      {
        ...NONE,
        dynamo: ((a.deleteWru + a.indexWru) / m.jobs) * wruUsd + ((a.readBytes / 4096 + windowedReadUnits(a)) / m.jobs) * rruUsd,
        storage: ((a.indexGb * permanentMonths) / m.jobs) * (PRICES.dynamoStorageGbMonth.usd + PRICES.dynamoPitrGbMonth.usd),
      },
    ]);
  }
  // The agent on the SQS path: the receive that returns the job; no delete (issue 12: a worker
  // queue's visibility timeout outlasts its retention, so a received job never comes back:
  // agent/sources/sqs.ts, functions/adapters/sqs-queues.ts). Errs high: one receive per job.
  byRoute.push(["agent SQS receive", { ...NONE, sqs: PRICES.sqsRequest.usd }]);
  if (choice.delivery !== "hold")
    byRoute.push([
      "relay delivery",
      {
        ...NONE,
        delivery: workload.reduce((a, j) => a + (overRelay || j.streamed ? relay(j, choice.frontDoor) : 0), 0) / workload.length,
      },
    ]);
  const perJob = byRoute.reduce<Dollars>((a, [, d]) => add(a, d), NONE);
  return { perJob, byRoute };
}

// ---------------------------------------------------------------- the bench
const r2 = (x: number) => Math.round(x * 100) / 100;
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const r6 = (x: number) => Math.round(x * 1e6) / 1e6;

const DOORS: Record<FrontDoor, string> = {
  "api-gateway": "API Gateway HTTP API",
  "function-urls": "Lambda function URLs",
  router: "one router function (function URL)",
};

/** GB-months of storage per job under a retention for the items without a TTL. */
const storageGbMonthsPerJob = (r: RouteMeter, jobs: number, permanentMonths: number) =>
  (r.storedGbMonths + r.permanentGb * permanentMonths) / jobs;

export async function benchCost(o: { jobs?: number; warmup?: number; print?: boolean; relay?: RelayPricer } = {}): Promise<BenchResult[]> {
  const m = await measureJob(o);
  const workload = sampleWorkload();
  const relay = o.relay ?? defaultRelayPricer;
  const cost = (c: PricingChoice) => priceJob(m, c, relay, workload);
  const perM = (d: Dollars) => r2(total(d) * 1e6);

  const target: PricingChoice = { frontDoor: "function-urls", delivery: "relay", capacity: "provisioned" };
  const onDemand: PricingChoice = { ...target, capacity: "on-demand" };
  const today: PricingChoice = { frontDoor: "api-gateway", delivery: "hold", capacity: "on-demand" };
  const prov = cost(target);
  const od = cost(onDemand);
  const now = cost(today);

  const quietReads = quietReadsPerJob(workload);
  const { requests, wru, rru, sqs } = countsPerJob(m, quietReads);
  // issue 12: the same jobs with the SDK drawing on tabs of TAB_SLOTS (built, opt-in), measured the same way
  const mt = await measureJob({ ...o, tabs: TAB_SLOTS });
  const tabbed = countsPerJob(mt, quietReads);
  const tabProv = priceJob(mt, target, relay, workload);
  const tabOd = priceJob(mt, onDemand, relay, workload);
  // issue 12: results posted in batches (bench/cost-batch.ts), the same workload with IN_FLIGHT jobs in flight a worker
  const mb = batchedJob(m, await measureJob({ ...o, jobs: 3 * IN_FLIGHT * 4, inFlight: IN_FLIGHT }));
  const batchProv = priceJob(mb, target, relay, workload);
  const batchOd = priceJob(mb, onDemand, relay, workload);

  const meanEngine = workload.reduce((a, j) => a + j.engineSeconds, 0) / workload.length;
  const breakdown = (label: string, d: Dollars): BenchResult[] =>
    (
      [
        ["DynamoDB requests", d.dynamo],
        ["DynamoDB storage + PITR", d.storage],
        ["Lambda", d.lambda],
        ["front door", d.frontDoor],
        ["SQS", d.sqs],
        ["CloudWatch Logs", d.logs],
        ["answer delivery (relay)", d.delivery],
        ["data transfer out", d.transfer],
      ] as const
    ).map(([what, v]): BenchResult => ({ name: `  ${label}: ${what}`, value: r3(v * 1e6), unit: "$ / 1M jobs", target: null, ok: null }));

  const rows: BenchResult[] = [
    {
      name: `AWS cost per 1M jobs, steady volume: DynamoDB provisioned, ${DOORS[target.frontDoor]}, answer over the SQS relay (as built: ask() and askStream(), one channel queue per SDK instance, a send and a receive per chunk, its bytes out at the data-transfer price; job records kept by their TTL (30 days after the job ends), ledger items and receipt log entries priced for ${ASSUME.permanentItemMonths} month in the table: their archival is NOT built, see the year row; the measured job: ${SIZES()}, WORKLOAD)`,
      value: perM(prov.perJob),
      unit: "$",
      target: "≤ $3",
      ok: total(prov.perJob) * 1e6 <= 3,
    },
    ...breakdown("provisioned", prov.perJob),
    {
      name: `AWS cost per 1M jobs, fully on-demand: DynamoDB on-demand, ${DOORS[onDemand.frontDoor]}, answer over the SQS relay (as built; ${SIZES()})`,
      value: perM(od.perJob),
      unit: "$",
      target: "≤ $6",
      ok: total(od.perJob) * 1e6 <= 6,
    },
    ...breakdown("on-demand", od.perJob),
    ...batchedRows(mb, batchProv.perJob, batchOd.perJob, quietReads, meanEngine),
    ...breakdown("results in batches, provisioned", batchProv.perJob),
    ...(["api-gateway", "function-urls", "router"] as const).map((door): BenchResult => ({
      name: `  front door compared (on-demand, relay): ${DOORS[door]}`,
      value: perM(cost({ ...onDemand, frontDoor: door }).perJob),
      unit: "$ / 1M jobs",
      target: null,
      ok: null,
    })),
    {
      name: `  delivery compared (on-demand, function URLs): the submit's Lambda held while the engine works (mean ${r2(meanEngine)} s)`,
      value: perM(cost({ ...onDemand, delivery: "hold" }).perJob),
      unit: "$ / 1M jobs",
      target: null,
      ok: null,
    },
    {
      name: "  delivery compared (on-demand, function URLs): before the SDK's own subscriber (ask() held on the submit; askStream() over the relay with its GET ?wait held, a session and connection per job)",
      value: perM(priceJob(m, { ...onDemand, delivery: "ask-held" }, relayPricer(RELAY_PER_JOB), workload).perJob),
      unit: "$ / 1M jobs",
      target: null,
      ok: null,
    },
    {
      name: "  delivery compared (on-demand, function URLs): the SDK reading the job once after the final chunk (before issue 12's last step: three requests a job)",
      value: perM(priceJob(m, { ...onDemand, delivery: "relay-read" }, relay, workload).perJob),
      unit: "$ / 1M jobs",
      target: null,
      ok: null,
    },
    {
      name: "  relay compared (on-demand): AWS IoT Core, one connection and subscription per account (the relay as built before the SQS relay: a publish and a delivery per chunk, connection minutes)",
      value: perM(priceJob(m, onDemand, relayPricer(RELAY_IOT), workload).perJob),
      unit: "$ / 1M jobs",
      target: null,
      ok: null,
    },
    {
      name: "  relay compared (on-demand): the worker asking the coordinator for its relay session per job (POST /v1/agent/jobs/{id}/relay: a third request a job) instead of receiving it in the dispatch",
      value: perM(priceJob(m, onDemand, relayPricer({ ...RELAY_AS_BUILT, workerSession: "asked" }), workload).perJob),
      unit: "$ / 1M jobs",
      target: null,
      ok: null,
    },
    {
      name: "  relay compared (on-demand): IoT Core with a requester session, connection and subscription per job instead of per account",
      value: perM(priceJob(m, onDemand, relayPricer(RELAY_PER_JOB), workload).perJob),
      unit: "$ / 1M jobs",
      target: null,
      ok: null,
    },
    {
      name: "  relay compared (on-demand): an answer not asked as a stream chunked like one, about a message a second (before relayWhole)",
      value: perM(priceJob(m, onDemand, relayPricer({ ...RELAY_AS_BUILT, wholeAnswer: "streamed" }), workload).perJob),
      unit: "$ / 1M jobs",
      target: null,
      ok: null,
    },
    {
      name: `  relay compared (on-demand): accounts that ask ${ASSUME.jobsPerAccountHour / 6} jobs an hour instead of ${ASSUME.jobsPerAccountHour} (their connection shared by fewer jobs)`,
      value: perM(withAssume({ jobsPerAccountHour: ASSUME.jobsPerAccountHour / 6 }, () => priceJob(m, onDemand, relay, workload).perJob)),
      unit: "$ / 1M jobs",
      target: null,
      ok: null,
    },
    // issue 11: what a streamed job costs, every job streamed (the same engine times)
    ...(["provisioned", "on-demand"] as const).map((capacity) => ({
      name: `  every job streamed (${capacity}): AWS cost per 1M streamed jobs, as built`,
      value: perM(priceJob(m, { ...target, capacity }, relay, sampleWorkload({ ...WORKLOAD, streamedShare: 1 })).perJob),
      unit: "$ / 1M jobs",
      target: null,
      ok: null,
    })),
    {
      name: "  relay compared (on-demand): streamed chunks every 2 s instead of every second (COCOON_STREAM_INTERVAL_MS=2000)",
      value: perM(priceJob(m, onDemand, relayPricer({ ...RELAY_AS_BUILT, chunkSeconds: 2 }), workload).perJob),
      unit: "$ / 1M jobs",
      target: null,
      ok: null,
    },
    {
      name: "  relay compared (on-demand): IoT Core with the agent publishing at QoS 1 (before issue 12: each delivery's PUBACK metered)",
      value: perM(priceJob(m, onDemand, relayPricer({ ...RELAY_IOT, publishQos: 1 }), workload).perJob),
      unit: "$ / 1M jobs",
      target: null,
      ok: null,
    },
    ...relayRows(workload),
    {
      name: "  storage compared (on-demand): ledger items and receipt log entries kept a year in the table instead of a month",
      value: perM(priceJob(m, onDemand, relay, workload, 12).perJob),
      unit: "$ / 1M jobs",
      target: null,
      ok: null,
    },
    {
      name: `AWS cost per 1M jobs under tabs of ${TAB_SLOTS} (built, opt-in: CocoonClient({ tabs }); measured the same way: real handlers, each job its share of its tab's open and close; provisioned, function URLs, SQS relay; ${SIZES()})`,
      value: perM(tabProv.perJob),
      unit: "$",
      target: "≤ $3",
      ok: total(tabProv.perJob) * 1e6 <= 3,
    },
    ...breakdown(`tabs of ${TAB_SLOTS}, provisioned`, tabProv.perJob),
    {
      name: `AWS cost per 1M jobs under tabs of ${TAB_SLOTS}, fully on-demand (built, opt-in; measured; ${SIZES()})`,
      value: perM(tabOd.perJob),
      unit: "$",
      target: "≤ $6",
      ok: total(tabOd.perJob) * 1e6 <= 6,
    },
    ...breakdown(`tabs of ${TAB_SLOTS}, on-demand`, tabOd.perJob),
    {
      name: `DynamoDB write units per job under tabs of ${TAB_SLOTS} (measured; the tab's open and close shared by its jobs)`,
      value: r2(tabbed.wru),
      unit: "WRU",
      target: null,
      ok: null,
    },
    {
      name: "  + the anchorer's later writes per job under tabs (inbox deletes, receipt index items)",
      value: r2(tabbed.anchorerWru),
      unit: "WRU",
      target: null,
      ok: null,
    },
    {
      name: `DynamoDB read units per job under tabs of ${TAB_SLOTS} (measured; the close reads each slot's job and reply)`,
      value: r2(tabbed.rru),
      unit: "RRU",
      target: null,
      ok: null,
    },
    {
      name: `SQS requests per job under tabs of ${TAB_SLOTS} (measured, as the row above counts them)`,
      value: r2(tabbed.sqs),
      unit: "requests",
      target: null,
      ok: null,
    },
    ...floorRows(mt, workload),
    {
      name: "AWS cost per 1M jobs, the path before issue 12 priced the same way (API Gateway, submit held, on-demand)",
      value: perM(now.perJob),
      unit: "$",
      target: null,
      ok: null,
    },
    {
      name: `AWS cost per 1M jobs, previous model (fixed 1 s engine; recorded in ${PREVIOUS_MODEL_PER_MILLION.recorded})`,
      value: PREVIOUS_MODEL_PER_MILLION.usd,
      unit: "$",
      target: null,
      ok: null,
    },
    {
      name: `  requests per job the cost model priced over the relay (the submit and the worker's result: the final chunk, published once the coordinator took the result, ends the job; plus ${r2(quietReads)} reads of the job during relay silence, one per ${ASSUME.relayQuietSeconds} s of an ask() answer published whole; real handlers; agent on SQS; the relay's session calls priced with it)`,
      value: r2(requests),
      unit: "requests",
      target: null,
      ok: null,
    },
    {
      name: `DynamoDB write units per job (measured, real handlers over the metering store; ${SIZES()})`,
      value: r2(wru),
      unit: "WRU",
      target: null,
      ok: null,
    },
    {
      name: "  + the anchorer's later writes per job (inbox deletes, receipt index items; from the inbox entries the handlers wrote)",
      value: r2(m.anchorer ? (m.anchorer.deleteWru + m.anchorer.indexWru) / m.jobs : 0),
      unit: "WRU",
      target: null,
      ok: null,
    },
    {
      name: `DynamoDB read units per job (measured; a held submit's re-reads not included; ${SIZES()})`,
      value: r2(rru),
      unit: "RRU",
      target: null,
      ok: null,
    },
    ...[...m.routes]
      .filter(([route]) => !ROUTES_NOT_PER_JOB.includes(route))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([route, r]) => ({
        name: `  DynamoDB units per job: ${route} (write / read)`,
        value: r2(r.wru / m.jobs),
        unit: `WRU (${r2(r.rru / m.jobs)} RRU)`,
        target: null,
        ok: null,
      })),
    {
      name: "SQS requests per job (measured sends, the event source's receive and delete in batches of 4 at steady volume, the agent's receive (it deletes nothing))",
      value: r2(sqs),
      unit: "requests",
      target: null,
      ok: null,
    },
    ...heldTdxRows(),
    ...windowedInboxRows(m),
    ...windowedInboxRows(mt, `tabs of ${TAB_SLOTS}`),
    ...idleAgentRows(m),
  ];

  if (o.print) {
    console.error(
      `\ncost model: ${m.jobs} jobs through the real handlers, each ${SIZES()}; workload seed ${WORKLOAD.seed}, engine lognormal median ${WORKLOAD.engineMedianSeconds} s, p95 ${WORKLOAD.engineP95Seconds} s (mean ${r2(meanEngine)} s), ${WORKLOAD.streamedShare * 100} % streamed`,
    );
    for (const [label, c] of [
      ["target (provisioned)", prov],
      ["on-demand", od],
      ["before issue 12", now],
    ] as const) {
      console.error(`${label}: per 1M jobs by route (dynamo / storage / lambda / door / sqs / logs / delivery / transfer, $)`);
      for (const [route, d] of c.byRoute)
        console.error(
          `  ${route.padEnd(30)} ${Object.values(d)
            .map((x) => (x * 1e6).toFixed(3).padStart(7))
            .join(" ")}  = ${(total(d) * 1e6).toFixed(3)}`,
        );
    }
    printCounts("", m);
    printCounts(`under tabs of ${TAB_SLOTS} (${mt.jobs} jobs, ${mt.jobs / TAB_SLOTS} tabs opened and closed): `, mt);
    printCounts(`${IN_FLIGHT} in flight a worker, results in batches (${mb.jobs} jobs): `, mb);
    console.error(`result posts' DynamoDB units by item (${IN_FLIGHT} in flight a worker): kind, per, WRU, RRU an operation`);
    for (const i of resultItemUnits(mb)) console.error(`  ${i.kind.padEnd(60)} ${i.per.padEnd(7)} ${i.wru} ${i.rru}`);
  }
  return rows;
}

/** A measured path's counts by route and its DynamoDB units per job by item (stderr): what its rows are priced from. */
function printCounts(label: string, m: MeasuredJob) {
  for (const [route, r] of m.routes)
    console.error(`  ${label}counts ${route}: ${JSON.stringify({ ...r, ownMs: r2(median(r.ownMs)), waitMs: Math.round(r.waitMs) })}`);
  console.error(`${label}DynamoDB units per job by route | operation table item (WRU / RRU / operations / mean bytes):`);
  for (const [k, r] of [...m.items].sort((a, b) => b[1].wru - a[1].wru || b[1].rru - a[1].rru))
    console.error(
      `  ${k.padEnd(90)} ${(r.wru / m.jobs).toFixed(2).padStart(6)} ${(r.rru / m.jobs).toFixed(2).padStart(6)} ${(r.ops / m.jobs).toFixed(2).padStart(6)} ${Math.round(
        r.bytes / Math.max(1, r.ops),
      )
        .toString()
        .padStart(6)}`,
    );
  console.error(`  ${label}matching-queue messages per job: ${r2(m.matchingMessages / m.jobs)}`);
}

/** Jobs in flight per worker in the batched variant: enough that its batches reach MAX_SETTLE_BATCH (16). */
const IN_FLIGHT = 16;

/**
 * The batched variant's rows (issue 12): priced beside the headline, never instead of it. Its
 * counts are measured with IN_FLIGHT jobs in flight a worker finishing together (the real
 * agents' AgentApi posting them), its result posts' Lambda time measured with each post run
 * alone, the other routes' from the sequential run (bench/cost-batch.ts).
 */
function batchedRows(mb: MeasuredJob, prov: Dollars, od: Dollars, quietReads: number, meanEngine: number): BenchResult[] {
  const perPost = resultsPerPost(mb);
  const how = `measured: ${IN_FLIGHT} jobs in flight a worker finishing together, the real agents' AgentApi posting them (${r2(perPost)} results a post), each result post's Lambda time measured with it run alone, the other routes' from the sequential run; ${SIZES()}`;
  const items = resultItemUnits(mb);
  const posts = [...mb.routes].filter(([route]) => isResultRoute(route));
  return [
    {
      name: `AWS cost per 1M jobs with results posted in batches: provisioned, function URLs, SQS relay (${how}; NOT the headline: batching's best case for that load)`,
      value: r2(total(prov) * 1e6),
      unit: "$",
      target: null,
      ok: null,
    },
    {
      name: "  the same, fully on-demand",
      value: r2(total(od) * 1e6),
      unit: "$",
      target: null,
      ok: null,
    },
    {
      name: "  results per result post (measured, the batched variant)",
      value: r2(perPost),
      unit: "results",
      target: null,
      ok: null,
    },
    {
      name: `  results per result post when a worker's results finish spread out instead of together (computed: the AgentApi's rule played out at ${IN_FLIGHT} in flight ÷ the mean engine time ${r2(meanEngine)} s = ${r2(IN_FLIGHT / meanEngine)} results a second a worker, each post answered in ${ASSUME.resultPostSeconds * 1000} ms): what batching likely gives this workload`,
      value: r3(spreadResultsPerPost({ perSecond: IN_FLIGHT / meanEngine, postSeconds: ASSUME.resultPostSeconds })),
      unit: "results",
      target: null,
      ok: null,
    },
    {
      name: "  DynamoDB write units per job, results in batches (measured)",
      value: r2(countsPerJob(mb, quietReads).wru),
      unit: "WRU",
      target: null,
      ok: null,
    },
    ...[1, 4, 8, 16].map((n) => {
      const u = unitsPerResult(items, n);
      return {
        name: `  DynamoDB units per result of a post of ${n} (from the batched run's items: each result's own, and 1/${n} of the post's: ${items
          .filter((i) => i.per === "post")
          .map((i) => i.kind)
          .join(", ")})`,
        value: r2(u.wru),
        unit: `WRU (${r2(u.rru)} RRU)`,
        target: null,
        ok: null,
      };
    }),
    {
      name: "  result posts' Lambda handler time per result, each post run alone (its size's median time × its posts ÷ results; ms before the CPU share; a lone post's in the unit)",
      value: r2(posts.reduce((a, [, r]) => a + median(r.ownMs) * r.invocations, 0) / mb.jobs),
      unit: `ms (lone ${r2(median(mb.routes.get(resultRoute(1))?.ownMs ?? []))} ms)`,
      target: null,
      ok: null,
    },
  ];
}

/** Jobs per tab in the measured tab path (the SDK's default is 16). */
const TAB_SLOTS = 16;

/** Counts per job (measured): requests on the hot path, DynamoDB units, SQS requests. */
function countsPerJob(m: MeasuredJob, quietReads: number) {
  let requests = 0;
  let wru = 0;
  let rru = 0;
  let sqs = 1; // the agent's receive (no delete: agent/sources/sqs.ts)
  for (const [route, r] of m.routes) {
    if (ROUTES_NOT_PER_JOB.includes(route)) continue;
    // as built over the relay: the job is read only during relay silence (quietReads a job)
    const times = route === READ_AFTER_RELAY ? quietReads : 1;
    if (route !== "SQS matching") requests += (times * r.invocations) / m.jobs;
    wru += r.wru / m.jobs;
    rru += (times * r.rru) / m.jobs;
    sqs += r.sqs / m.jobs + (route === "SQS matching" ? (2 * m.matchingMessages) / ASSUME.matchingBatchSteady / m.jobs : 0);
  }
  return { requests, wru, rru, sqs, anchorerWru: m.anchorer ? (m.anchorer.deleteWru + m.anchorer.indexWru) / m.jobs : 0 };
}

/** Runs `f` with some ASSUME values changed (a comparison row), then puts them back. */
function withAssume<T>(changes: Partial<typeof ASSUME>, f: () => T): T {
  const saved = { ...ASSUME };
  Object.assign(ASSUME, changes);
  try {
    return f();
  } finally {
    Object.assign(ASSUME, saved);
  }
}

/**
 * The floor of this architecture, computed from the measured tab path with the relay priced at
 * nothing (what SQS dispatch and leases, Lambda, storage and the reads cost on their own): how
 * far tabs leave the rest of the design from the targets.
 */
function floorRows(mt: MeasuredJob, workload: Array<{ engineSeconds: number; streamed: boolean }>): BenchResult[] {
  const free: RelayPricer = () => 0;
  const both = (cap: Capacity) =>
    r2(total(priceJob(mt, { frontDoor: "function-urls", delivery: "relay", capacity: cap }, free, workload).perJob) * 1e6);
  return [
    {
      name: `  the floor (computed from the measured tab path, NOT a design: tabs of ${TAB_SLOTS} and the relay free; SQS, Lambda, storage, reads): provisioned / on-demand`,
      value: both("provisioned"),
      unit: `$ / 1M jobs (on-demand ${both("on-demand")})`,
      target: null,
      ok: null,
    },
  ];
}

/** Relay requests (SQS, as built) and IoT Core messages (the relay before) per job (relayUse), streamed and whole, averaged over the workload. */
function relayRows(workload: Array<{ engineSeconds: number; streamed: boolean }>): BenchResult[] {
  const sqs = (streamed: boolean) => {
    const us = workload.filter((j) => j.streamed === streamed).map((j) => relayUse(j, RELAY_AS_BUILT));
    return {
      requests: us.reduce((a, u) => a + u.sqsRequests, 0) / Math.max(1, us.length),
      sessions: us.reduce((a, u) => a + u.sessionCalls, 0) / Math.max(1, us.length),
    };
  };
  const sqsStreamed = sqs(true);
  const sqsWhole = sqs(false);
  const mean = (streamed: boolean) => {
    const js = workload.filter((j) => j.streamed === streamed);
    const us = js.map((j) => relayUse(j, RELAY_IOT));
    const avg = (f: (u: ReturnType<typeof relayUse>) => number) => us.reduce((a, u) => a + f(u), 0) / Math.max(1, us.length);
    return {
      messages: avg((u) => u.connect + u.subscribe + u.publish + u.delivery + u.puback),
      detail: `connect ${r2(avg((u) => u.connect))}, subscribe ${r2(avg((u) => u.subscribe))}, publish ${r2(avg((u) => u.publish))}, delivery ${r2(avg((u) => u.delivery))}, PUBACK ${r2(avg((u) => u.puback))}; ${r2(avg((u) => u.connectionMinutes))} connection-minutes; ${r2(avg((u) => u.sessionCalls))} session calls`,
    };
  };
  const st = mean(true);
  const whole = mean(false);
  return [
    {
      name: `  SQS requests per streamed job on the relay as built (each chunk sent and received, its channel queue's create and delete shared by the account's jobs; ${r2(sqsStreamed.sessions)} session calls)`,
      value: r2(sqsStreamed.requests),
      unit: "requests",
      target: null,
      ok: null,
    },
    {
      name: `  SQS requests per answer not asked as a stream (ask()), one message (relayWhole), plus an empty long poll per 20 s of silence (${r2(sqsWhole.sessions)} session calls)`,
      value: r2(sqsWhole.requests),
      unit: "requests",
      target: null,
      ok: null,
    },
    {
      name: `  IoT Core (the relay before): messages per streamed job (${st.detail})`,
      value: r2(st.messages),
      unit: "messages",
      target: null,
      ok: null,
    },
    {
      name: `  IoT Core (the relay before): messages per answer not asked as a stream (ask()), one message (relayWhole) (${whole.detail})`,
      value: r2(whole.messages),
      unit: "messages",
      target: null,
      ok: null,
    },
  ];
}

/**
 * What a renewal saves for each candidate whose attestation document the requester holds
 * (PrepareRequest.held: the SDK names those of the quote it renews), for a TDX worker: the
 * worker item no longer read (its document: the fixture quote and collateral of
 * test/fixtures/attestation) against the summary item read instead, both eventual, and the
 * document no longer sent. The bench's agents are dev workers, whose ~1 KB worker item costs
 * the same half unit as their summary: for them the measured saving is only the bytes sent.
 */
export function heldTdxSaving() {
  const fixtures = fileURLToPath(new URL("../test/fixtures/attestation/", import.meta.url));
  const key = b64u.encode(new Uint8Array(32).fill(7));
  const doc: AttestationDoc = {
    tier: "tdx",
    hpkePublicKey: key,
    signingPublicKey: key,
    nonce: key,
    quote: b64u.encode(readFileSync(fixtures + "tdx_quote.bin")),
    collateral: JSON.parse(readFileSync(fixtures + "tdx_quote_collateral.json", "utf8")) as unknown,
    modelDigests: { "meta-llama/Llama-3.1-70B-Instruct": "ab".repeat(32) },
    reportDataVersion: 2,
    issuedAt: 1_765_000_000_000,
  };
  const common = {
    pk: key,
    workerId: key,
    tier: "tdx",
    measurement: "ab".repeat(48),
    models: ["meta-llama/Llama-3.1-70B-Instruct"],
    capacity: 8,
    hpkePublicKey: key,
    attestationExpiresAt: 1_765_086_400_000,
  };
  // as registration writes them (core/workers.ts registerWorker)
  const worker = { ...common, sk: "worker", attestation: doc, lastHeartbeat: doc.issuedAt, registeredAt: doc.issuedAt };
  const summary = { ...common, sk: "summary", attestationDigest: attestationDigest(doc) };
  const eventual = (bytes: number) => Math.max(1, Math.ceil(bytes / 4096)) / 2;
  const workerBytes = dynamoItemBytes("workers", worker);
  const summaryBytes = dynamoItemBytes("workers", summary);
  return {
    workerBytes,
    summaryBytes,
    rruPerCandidate: eventual(workerBytes) - eventual(summaryBytes),
    /** the document's JSON in the answer, less the digest that names it instead */
    responseBytesPerCandidate:
      Buffer.byteLength(JSON.stringify(doc)) - Buffer.byteLength(JSON.stringify({ attestationDigest: summary.attestationDigest })),
  };
}

/** heldTdxSaving per 1M jobs, each renewing a quote of `held` TDX candidates it holds (the bench's upper bound: every job renews). */
function heldTdxRows(held = DEFAULT_CORE_CONFIG.defaultCandidates): BenchResult[] {
  const t = heldTdxSaving();
  const rru = held * t.rruPerCandidate;
  const gb = (held * t.responseBytesPerCandidate) / 1e9;
  const provisioned = (rru * PRICES.dynamoRcuHour.usd) / 3600 / ASSUME.provisionedUtilization + gb * PRICES.dataTransferOutGb.usd;
  const onDemand = rru * PRICES.dynamoReadUnit.usd + gb * PRICES.dataTransferOutGb.usd;
  return [
    {
      name: `  renewal with ${held} TDX candidates whose documents the requester holds (computed from the test fixtures: worker item ${t.workerBytes} B read as its ${t.summaryBytes} B summary, the document not sent): read units saved per job`,
      value: r2(rru),
      unit: `RRU (${Math.round((held * t.responseBytesPerCandidate) / 1024)} KiB less answer)`,
      target: null,
      ok: null,
    },
    {
      name: "  the same in $ per 1M jobs (DynamoDB reads + data transfer out): provisioned / on-demand",
      value: r2(provisioned * 1e6),
      unit: `$ / 1M jobs (on-demand ${r2(onDemand * 1e6)})`,
      target: null,
      ok: null,
    },
  ];
}

/** Bytes of a receipt chunk item per receipt: its leaf hash in base64 and its job id (core/receipts/log.ts ReceiptChunk). */
export const CHUNK_BYTES_PER_RECEIPT = 44 + 31;
/**
 * How often the anchorer reads each receipt entry of the time-windowed log (core/receipts/log.ts
 * prepareNext): the cuts, strongly consistent, read each minute from the range's start to their
 * clock, so an entry less than WINDOW_LAG_MS + a minute old at a cut is read again by the next
 * (at the 300 s interval about 1.4 reads; 1.5 errs high); each straggler pass (WINDOW_PASSES_MS:
 * three) reads it once more, eventually consistent (half a unit). The chunk items (the job ids
 * taken) are read by gets, strongly consistent: the previous batch's by each cut (what it took
 * past its range's end), the batches covering a pass's slice by each of the three passes.
 */
export const WINDOW_READS = { cut: 1.5, passes: WINDOW_PASSES_MS.length, chunkReads: 1 + WINDOW_PASSES_MS.length } as const;

/** Read units the anchorer spends on the time-windowed log's entries the jobs wrote (queries bill 4 KB a unit). */
export function windowedReadUnits(a: NonNullable<MeasuredJob["anchorer"]>): number {
  const bytes = a.windowBytes;
  const entries = a.windowEntries;
  return (
    (bytes / 4096) * (WINDOW_READS.cut + 0.5 * WINDOW_READS.passes) + (WINDOW_READS.chunkReads * entries * CHUNK_BYTES_PER_RECEIPT) / 4096
  );
}

/**
 * The anchorer's queries of the time-windowed log that cost the same whatever the traffic (a
 * query bills at least one unit, half of one eventually consistent): each cut queries the 16
 * partitions of every minute from its range's start (its clock less LAG at the cut before) to
 * its clock, each pass every minute once. Per month, at one cut per interval.
 */
export function windowQueryFloor(intervalSeconds = 300, lagSeconds = 120) {
  const minutesPerCut = Math.ceil((intervalSeconds + lagSeconds) / 60) + 1;
  const cutQueriesPerMinute = (16 * minutesPerCut * 60) / intervalSeconds;
  const passQueriesPerMinute = 16 * WINDOW_READS.passes;
  const rruPerMonth = (cutQueriesPerMinute + 0.5 * passQueriesPerMinute) * 60 * 24 * 30;
  return {
    queriesPerMinute: cutQueriesPerMinute + passQueriesPerMinute,
    rruPerMonth,
    usdPerMonth: rruPerMonth * PRICES.dynamoReadUnit.usd,
  };
}

/** The anchorer's reads of the time-windowed log (per job, priced in the anchorer's route) and their floor per month. */
function windowedInboxRows(m: MeasuredJob, under?: string): BenchResult[] {
  const a = m.anchorer;
  if (!a || !a.windowEntries) return [];
  const floor = windowQueryFloor();
  return [
    {
      name: `  the anchorer's reads per job${under ? ` under ${under}` : ""} of the time-windowed receipt log (each entry ${WINDOW_READS.cut} times by the cuts, once by each of ${WINDOW_READS.passes} straggler passes, chunk items ${WINDOW_READS.chunkReads} times; priced in its route above; it writes nothing per job)`,
      value: r2(windowedReadUnits(a) / m.jobs),
      unit: "RRU",
      target: null,
      ok: null,
    },
    ...(under
      ? []
      : [
          {
            name: `  the anchorer's queries of the time-windowed log whatever the traffic (${r2(floor.queriesPerMinute)} a minute: 16 partitions a minute, by the cuts at 300 s and by each pass; on-demand)`,
            value: r2(floor.usdPerMonth),
            unit: "$ / month",
            target: null,
            ok: null,
          },
        ]),
  ];
}

/** The idle agent: arithmetic on the prices and one measured heartbeat, named as such. */
function idleAgentRows(m: MeasuredJob): BenchResult[] {
  const day = 86_400;
  const receives = day / ASSUME.agentLongPollSeconds;
  const sqsIdle = receives * PRICES.sqsRequest.usd;
  // Hourly POST /v1/agents/session: front door + Lambda (~auth write, worker read, CreateQueue, AssumeRole) + logs.
  const sessionCall =
    PRICES.apiHttpRequest.usd +
    lambdaDollars(1, (4 * ASSUME.awsCallMs + 15) / 1000) +
    PRICES.dynamoWriteUnit.usd +
    3 * PRICES.dynamoReadUnit.usd +
    PRICES.sqsRequest.usd +
    ((ASSUME.platformLogBytesPerInvocation + ASSUME.accessLogBytesPerRequest) / 1e9) * PRICES.logsIngestGb.usd;
  const idleSqs = sqsIdle + (day / ASSUME.sessionSeconds) * sessionCall;
  const hb = m.heartbeat && m.heartbeat.invocations > 0 ? m.heartbeat : undefined;
  const hbDollars = hb
    ? PRICES.apiHttpRequest.usd +
      lambdaDollars(1, ownSeconds(hb, hb.invocations)) +
      (hb.wru / hb.invocations) * PRICES.dynamoWriteUnit.usd +
      (hb.rru / hb.invocations) * PRICES.dynamoReadUnit.usd +
      ((hb.logBytes / hb.invocations + ASSUME.platformLogBytesPerInvocation + ASSUME.accessLogBytesPerRequest) / 1e9) *
        PRICES.logsIngestGb.usd
    : NaN;
  const cloudHeartbeat = DEFAULT_CORE_CONFIG.heartbeatSeconds;
  const withHb = idleSqs + (day / cloudHeartbeat) * hbDollars;
  const httpPollIdle =
    receives *
    (PRICES.apiHttpRequest.usd +
      lambdaDollars(1, ASSUME.agentLongPollSeconds + 0.03) +
      PRICES.dynamoWriteUnit.usd +
      3 * PRICES.dynamoReadUnit.usd +
      PRICES.sqsRequest.usd);
  return [
    {
      name: "idle agent-day (computed): SQS long-poll every 20 s + hourly session",
      value: r6(idleSqs),
      unit: "$",
      target: "≤ $0.002",
      ok: idleSqs <= 0.002,
    },
    {
      name: `idle agent-day (computed, heartbeat measured): with heartbeats every ${cloudHeartbeat} s (cloud default)`,
      value: r6(withHb),
      unit: "$",
      target: "≤ $0.002",
      ok: withHb <= 0.002,
    },
    {
      name: "idle agent-day (computed): HTTP long-poll fallback through Lambda",
      value: r6(httpPollIdle),
      unit: "$",
      target: null,
      ok: null,
    },
    {
      name: "matching consumer's idle pollers per day (computed, fixed, whatever the volume)",
      value: r6(ASSUME.matchingPollers * receives * PRICES.sqsRequest.usd),
      unit: "$",
      target: null,
      ok: null,
    },
  ];
}

if (process.argv[1]?.endsWith("cost.ts")) {
  benchCost({ print: true })
    .then((rs) => {
      for (const r of rs)
        console.log(
          `${r.name.padEnd(100)} ${String(r.value).padStart(10)} ${r.unit}  ${r.target ?? ""} ${r.ok === null ? "" : r.ok ? "ok" : "MISS"}`,
        );
      process.exit(0);
    })
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}

// ================================================================ issue 11: the stream relay's own cost
// (kept apart from the rest of the model, which issue 12 reworks; `streamedRelayPricer` plugs in as its `relay`)

export type RelayTransport = "iot-mqtt" | "apigw-websocket";

export interface StreamedRelayCostInput {
  /** sealed chunks per job (the agent's adaptive chunking: about one per second of generation, plus the final one) */
  chunks: number;
  /** plaintext bytes per chunk (the JSON of a text delta) */
  chunkBytes: number;
  /** how long the requester stays connected: the generation (default chunks − 1 seconds) */
  generationSeconds?: number;
  /** "iot-mqtt" (as built: functions/adapters/relay-iot.ts) or "apigw-websocket" (the alternative considered) */
  transport?: RelayTransport;
  /** how chunks travel: JSON with base64url data (as built) or raw binary */
  encoding?: "json-base64" | "binary";
  frontDoor?: FrontDoor;
}

export interface StreamedRelayCost {
  usdPerMillion: number;
  /** $ per 1M jobs by part */
  parts: Record<string, number>;
  /** relay messages per job as the pub/sub bills them (size steps included) */
  billedMessagesPerJob: number;
}

/** Bytes of one relayed chunk on the wire: ChaCha20-Poly1305 adds a 16-byte tag; JSON adds the job id, attempt, seq, flags. */
export function relayChunkWireBytes(chunkBytes: number, encoding: "json-base64" | "binary" = "json-base64"): number {
  const sealed = chunkBytes + 16;
  return encoding === "binary" ? sealed + 48 : Math.ceil((sealed * 4) / 3) + 110;
}

/**
 * Dollars per 1M streamed jobs for the relay alone: what streaming adds to a job (issue 11's
 * estimate, a requester session and connection per job; as built since issue 12 the requester's
 * share is per account: relayUse and RELAY_AS_BUILT). IoT Core: the two job-scoped session calls (a Lambda with an STS AssumeRole and a job read,
 * through the front door), the requester's connect and subscribe, each chunk published and
 * delivered (5 KB steps: a chunk past 5 KB counts twice, each way; the opener rides on chunk
 * 0 and the receipt on the last, about 400 bytes more each), and connection minutes (billed
 * per started minute). API Gateway WebSocket: each chunk sent to a Lambda that posts it on
 * (two messages of 32 KB steps and one invocation per chunk), connection minutes at $0.25/M.
 */
export function streamedRelayCost(o: StreamedRelayCostInput): StreamedRelayCost {
  const transport = o.transport ?? "iot-mqtt";
  const frontDoor = o.frontDoor ?? "api-gateway";
  const minutes = Math.max(1, Math.ceil((o.generationSeconds ?? Math.max(0, o.chunks - 1)) / 60));
  const wire = relayChunkWireBytes(o.chunkBytes, o.encoding);
  const M = 1e6;
  if (transport === "iot-mqtt") {
    const steps = (bytes: number) => Math.ceil(bytes / 5120);
    // chunk 0 carries the opener, the last the receipt
    const chunkSteps = Array.from({ length: o.chunks }, (_, i) => steps(wire + (i === 0 || i === o.chunks - 1 ? 400 : 0))).reduce(
      (a, b) => a + b,
      0,
    );
    const billed = 2 * chunkSteps + 2; // publish + delivery of each, connect + subscribe
    const session =
      lambdaDollars(1, (2 * ASSUME.awsCallMs + 10) / 1000) +
      PRICES.dynamoReadUnit.usd +
      (frontDoor === "api-gateway" ? PRICES.apiHttpRequest.usd : 0);
    const parts = {
      sessions: 2 * session * M,
      messages: billed * PRICES.iotMessage.usd * M,
      connection: minutes * PRICES.iotConnectionMinute.usd * M,
    };
    return { usdPerMillion: Object.values(parts).reduce((a, b) => a + b, 0), parts, billedMessagesPerJob: billed };
  }
  const wsMessage = 1.0 / 1e6; // API Gateway WebSocket messages, 32 KB steps (docs/aws-prices.md, 2026-09)
  const wsMinute = 0.25 / 1e6; // connection-minutes (same)
  const steps = Math.ceil((wire + 200) / 32_768);
  const billed = 2 * o.chunks * steps;
  const parts = { messages: billed * wsMessage * M, forwarding: lambdaDollars(o.chunks, 0.015) * M, connection: minutes * wsMinute * M };
  return { usdPerMillion: Object.values(parts).reduce((a, b) => a + b, 0), parts, billedMessagesPerJob: billed };
}

/**
 * The relay as priced by the block above, in the shape the rest of the model takes
 * (`RelayPricer`): a streamed job sends one chunk per WORKLOAD.chunkSeconds of generation plus
 * the final one, each about 1 KB of text; an answer delivered whole is one chunk.
 */
export const streamedRelayPricer: RelayPricer = (job, frontDoor) => {
  const chunks = job.streamed ? Math.ceil(job.engineSeconds / WORKLOAD.chunkSeconds) + 1 : 1;
  return streamedRelayCost({ chunks, chunkBytes: 1024, generationSeconds: job.engineSeconds, frontDoor }).usdPerMillion / 1e6;
};
