/**
 * LMDB store throughput, in a temp dir, durable (each transaction resolves once flushed):
 * - sequential: 3-op conditional transactions (debit if available >= amount, ledger entry
 *   if absent, job state if queued) awaited one by one: the latency-bound rate;
 * - concurrent: the same with 100 in flight: lmdb batches their callbacks into shared commits;
 * - point gets.
 * Each phase runs for a fixed time slice; about 5 s in all.
 * The DynamoDB units and HTTP requests one job costs are measured through the real handlers
 * by the cost suite (bench/cost.ts measureJob, over its metering store), item sizes by
 * dynamoItemBytes below.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Item, TableName, WriteOp } from "../core/ports";
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
    ];
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- DynamoDB item sizes

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

if (process.argv[1]?.endsWith("store.ts")) {
  const rs = await benchStore();
  for (const r of rs) console.log(`${r.name.padEnd(100)} ${String(r.value).padStart(8)} ${r.unit} ${r.target ?? ""}`);
  process.exit(0);
}
