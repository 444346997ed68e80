/**
 * LMDB store throughput, in a temp dir, durable (each transaction resolves once flushed):
 * - sequential: 3-op conditional transactions (debit if available >= amount, ledger entry
 *   if absent, job state if queued) awaited one by one: the latency-bound rate;
 * - concurrent: the same with 100 in flight: lmdb batches their callbacks into shared commits;
 * - point gets.
 * Each phase runs for a fixed time slice; about 5 s in all.
 * Then benchJobUnits: the DynamoDB write and read units and HTTP requests one job costs,
 * counted through the real handlers (npm run bench store).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Item, Key, Store, TableName, WriteOp } from "../core/ports";
import { encodeItem } from "../functions/adapters/dynamo-store";
import { openLmdbStore, type LmdbStore } from "../local/store-lmdb";
import type { BenchResult } from "./types";

const ACCOUNTS = 100;
const JOBS = 1000;

function debitOps(i: number, account: number): WriteOp[] {
  const acct = { pk: `acct-${account}`, sk: "balance" };
  return [
    {
      op: "update",
      table: "accounts",
      key: acct,
      add: { available: -1_000n, reserved: 1_000n },
      when: { kind: "cmp", attr: "available", op: ">=", value: 1_000n },
    },
    {
      op: "put",
      table: "ledger",
      item: { pk: `mv-${i}`, sk: "tx", account: acct.pk, amount: 1_000n, kind: "reserve" },
      when: { kind: "notExists" },
    },
    {
      op: "update",
      table: "jobs",
      key: { pk: `job-${i % JOBS}`, sk: "job" },
      set: { state: "queued", lastMovement: `mv-${i}` },
      add: { attempts: 1 },
      when: { kind: "exists" },
    },
  ];
}

async function seed(store: LmdbStore): Promise<void> {
  const ops: WriteOp[] = [];
  for (let a = 0; a < ACCOUNTS; a++)
    ops.push({ op: "put", table: "accounts", item: { pk: `acct-${a}`, sk: "balance", available: 10n ** 15n, reserved: 0n } });
  for (let j = 0; j < JOBS; j++)
    ops.push({ op: "put", table: "jobs", item: { pk: `job-${j}`, sk: "job", state: "queued", model: "llama-3.1-8b", attempts: 0 } });
  for (let k = 0; k < ops.length; k += 100) await store.transact(ops.slice(k, k + 100));
}

export async function benchStore(opts: { sliceMs?: number } = {}): Promise<BenchResult[]> {
  const sliceMs = opts.sliceMs ?? 1500;
  const dir = mkdtempSync(join(tmpdir(), "cocoon-bench-store-"));
  const store = await openLmdbStore(dir);
  let movement = 0;
  try {
    await seed(store);

    // sequential, awaited one by one
    let seq = 0;
    let start = performance.now();
    while (performance.now() - start < sliceMs) {
      await store.transact(debitOps(movement++, seq % ACCOUNTS));
      seq++;
    }
    const seqRate = seq / ((performance.now() - start) / 1000);

    // concurrent, 100 in flight
    let conc = 0;
    start = performance.now();
    const deadline = start + sliceMs;
    await Promise.all(
      Array.from({ length: 100 }, async (_, lane) => {
        while (performance.now() < deadline) {
          await store.transact(debitOps(movement++, lane));
          conc++;
        }
      }),
    );
    const concRate = conc / ((performance.now() - start) / 1000);

    // point gets
    let gets = 0;
    start = performance.now();
    while (performance.now() - start < sliceMs / 2) {
      for (let k = 0; k < 1000; k++) {
        const item = await store.get("jobs", { pk: `job-${(gets + k) % JOBS}`, sk: "job" });
        if (!item) throw new Error("bench: seeded job missing");
      }
      gets += 1000;
    }
    const getRate = gets / ((performance.now() - start) / 1000);

    const result = (name: string, value: number, unit: string, target: number): BenchResult => ({
      name,
      value: Math.round(value),
      unit,
      target: `>= ${target}`,
      ok: value >= target,
    });
    return [
      result("store.lmdb.transact.sequential", seqRate, "tx/s", 300),
      result("store.lmdb.transact.concurrent100", concRate, "tx/s", 3000),
      result("store.lmdb.get", getRate, "gets/s", 100_000),
      ...(await benchJobUnits()),
    ];
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- DynamoDB units per job

/**
 * DynamoDB's item size (its documented rules): attribute names plus values, strings in UTF-8
 * bytes, numbers about one byte per two digits plus one, lists and maps 3 bytes plus one per
 * element. Items as the DynamoDB adapter writes them (encodeItem: pk prefixed with the table).
 */
export function dynamoItemBytes(table: TableName, item: Item | undefined): number {
  if (!item) return 0;
  let n = 0;
  for (const [k, v] of Object.entries(encodeItem(table, item))) n += Buffer.byteLength(k) + valueBytes(v);
  return n;
}

function valueBytes(v: unknown): number {
  if (v === null || v === undefined || typeof v === "boolean") return 1;
  if (typeof v === "string") return Buffer.byteLength(v);
  if (typeof v === "number" || typeof v === "bigint") return Math.ceil(String(v).replace(/^-/, "").length / 2) + 1;
  if (v instanceof Uint8Array) return v.byteLength;
  if (Array.isArray(v)) return 3 + v.reduce((s: number, x) => s + 1 + valueBytes(x), 0);
  if (typeof v === "object")
    return 3 + Object.entries(v as Record<string, unknown>).reduce((s, [k, x]) => s + 1 + Buffer.byteLength(k) + valueBytes(x), 0);
  return Buffer.byteLength(String(v));
}

export interface UnitMeter {
  /** write request units, read request units, items written, per route (or "background") */
  byRoute: Map<string, { wru: number; rru: number; items: number; transactions: number }>;
  route: AsyncLocalStorage<string>;
  reset(): void;
}

export function unitMeter(): UnitMeter {
  const byRoute = new Map<string, { wru: number; rru: number; items: number; transactions: number }>();
  return { byRoute, route: new AsyncLocalStorage<string>(), reset: () => byRoute.clear() };
}

/**
 * A Store that counts what DynamoDB would bill for each call (on-demand metering): a write is
 * 1 WRU per started KB of the larger of the old and new item, twice inside a transaction of
 * more than one item; a strongly consistent read 1 RRU per started 4 KB (a query: of the
 * items it returns). Sizes before a write come from uncounted reads of the inner store.
 */
export function countingStore(inner: Store, meter: UnitMeter): Store {
  const row = () => {
    const k = meter.route.getStore() ?? "background";
    let r = meter.byRoute.get(k);
    if (!r) meter.byRoute.set(k, (r = { wru: 0, rru: 0, items: 0, transactions: 0 }));
    return r;
  };
  const keyOf = (op: WriteOp): Key => (op.op === "put" ? op.item : op.key);
  return {
    async get(table, key) {
      const item = await inner.get(table, key);
      row().rru += Math.max(1, Math.ceil(dynamoItemBytes(table, item) / 4096));
      return item as never;
    },
    async query(table, pk, opts) {
      const items = await inner.query(table, pk, opts);
      row().rru += Math.max(1, Math.ceil(items.reduce((s, i) => s + dynamoItemBytes(table, i), 0) / 4096));
      return items as never;
    },
    async transact(ops) {
      const before = await Promise.all(ops.map((op) => inner.get(op.table, keyOf(op))));
      const transactional = ops.length > 1;
      let wru = 0;
      let rru = 0;
      let items = 0;
      ops.forEach((op, i) => {
        const old = dynamoItemBytes(op.table, before[i]);
        let bytes: number;
        if (op.op === "check") {
          rru += 2 * Math.max(1, Math.ceil(old / 4096));
          return;
        }
        if (op.op === "put") bytes = Math.max(old, dynamoItemBytes(op.table, op.item));
        else if (op.op === "delete") bytes = old;
        else
          bytes = Math.max(
            old,
            dynamoItemBytes(op.table, { ...(before[i] ?? { pk: op.key.pk, sk: op.key.sk }), ...(op.set ?? {}), ...(op.add ?? {}) } as Item),
          );
        items++;
        wru += (transactional ? 2 : 1) * Math.max(1, Math.ceil(bytes / 1024));
      });
      await inner.transact(ops); // a failed condition writes nothing, but DynamoDB bills it all the same
      const r = row();
      r.wru += wru;
      r.rru += rru;
      r.items += items;
      r.transactions++;
    },
  };
}

/**
 * DynamoDB units and HTTP requests per job through the real handlers: the local network over a
 * counting memory store, without the TON sandbox, with the replay guard as on AWS (the store's
 * conditional put: routes that keep it pay a write per request). One agent with a null engine;
 * jobs asked one after another by the SDK (which keeps its quote). The agent's HTTP poll and
 * heartbeats are left out of the per-job totals: on AWS the agent reads its own SQS queue.
 */
export async function benchJobUnits(o: { jobs?: number } = {}): Promise<BenchResult[]> {
  const [
    { startNetwork },
    { startLocalAgents },
    { createNullEngine, NULL_DEFAULT_MODEL },
    { CocoonClient },
    { generateSigningKey },
    { createMemoryStore },
    { routes },
  ] = await Promise.all([
    import("../local/network"),
    import("../local/agents"),
    import("../agent/engines/builtin"),
    import("../client/sdk"),
    import("../core/crypto/keys"),
    import("../local/memory-store"),
    import("../functions/http/routes"),
  ]);
  const meter = unitMeter();
  const requests = new Map<string, number>();
  const patterns = routes.map(
    (r) => [new RegExp("^" + r.spec.path.replace(/\{[^}]+\}/g, "[^/]+") + "$"), `${r.spec.method} ${r.spec.path}`] as const,
  );
  const routeOf = (method: string, url: string) => {
    const p = new URL(url, "http://x").pathname;
    return patterns.find(([re, k]) => k.startsWith(method + " ") && re.test(p))?.[1] ?? `${method} ${p}`;
  };
  const net = await startNetwork({ store: countingStore(createMemoryStore(), meter), chain: false, config: { livenessMs: 60_000 } });
  delete (net.deps as { replay?: unknown }).replay; // the store guard, as createAwsDeps has it
  const listeners = net.server.listeners("request") as Array<(...a: unknown[]) => void>;
  net.server.removeAllListeners("request");
  net.server.on("request", (req: { method?: string; url?: string }, res: unknown) => {
    const route = routeOf(req.method ?? "GET", req.url ?? "/");
    requests.set(route, (requests.get(route) ?? 0) + 1);
    meter.route.run(route, () => listeners.forEach((l) => l.call(net.server, req, res)));
  });
  const home = mkdtempSync(join(tmpdir(), "cocoon-units-"));
  const agents = await startLocalAgents(net.url, home, [
    { name: "u1", priceBps: 10_000, engine: createNullEngine(), models: [NULL_DEFAULT_MODEL], capacity: 8 },
  ]);
  const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
  await client.faucet(1_000_000_000_000n);
  const ask = () =>
    client.ask({
      model: NULL_DEFAULT_MODEL,
      messages: [{ role: "user", content: "Summarise the plot of Hamlet in two sentences." }],
      maxTokens: 256,
      tiers: ["dev"],
    });
  const jobs = o.jobs ?? 200;
  try {
    for (let i = 0; i < 5; i++) await ask();
    meter.reset();
    requests.clear();
    for (let i = 0; i < jobs; i++) await ask();
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await net.stop();
    rmSync(home, { recursive: true, force: true });
  }
  const agentTransport = new Set(["GET /v1/agent/jobs", "POST /v1/agents/heartbeat"]);
  let wru = 0;
  let rru = 0;
  let http = 0;
  const rows: BenchResult[] = [];
  for (const [route, r] of [...meter.byRoute].sort()) {
    if (agentTransport.has(route)) continue;
    wru += r.wru;
    rru += r.rru;
    rows.push({
      name: `  DynamoDB units per job: ${route} (write / read)`,
      value: round2(r.wru / jobs),
      unit: `WRU (${round2(r.rru / jobs)} RRU)`,
      target: null,
      ok: null,
    });
  }
  for (const [route, n] of requests) if (!agentTransport.has(route)) http += n;
  const perRoute = [...requests]
    .filter(([r]) => !agentTransport.has(r))
    .map(([r, n]) => `${r} ${round2(n / jobs)}`)
    .join(", ");
  return [
    {
      name: "DynamoDB write units per job (real handlers over the counting store; AWS replay guard; agent on SQS)",
      value: round2(wru / jobs),
      unit: "WRU",
      target: null,
      ok: null,
    },
    { name: "DynamoDB read units per job (same run)", value: round2(rru / jobs), unit: "RRU", target: null, ok: null },
    { name: `HTTP requests per job (${perRoute})`, value: round2(http / jobs), unit: "requests", target: "≤ 2", ok: http / jobs <= 2 },
    ...rows,
  ];
}

const round2 = (x: number) => Math.round(x * 100) / 100;

if (process.argv[1]?.endsWith("store.ts")) {
  const rs = process.argv.includes("--units") ? await benchJobUnits() : await benchStore();
  for (const r of rs) console.log(`${r.name.padEnd(100)} ${String(r.value).padStart(8)} ${r.unit} ${r.target ?? ""}`);
  process.exit(0);
}
