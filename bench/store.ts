/**
 * LMDB store throughput, in a temp dir, durable (each transaction resolves once flushed):
 * - sequential: 3-op conditional transactions (debit if available >= amount, ledger entry
 *   if absent, job state if queued) awaited one by one: the latency-bound rate;
 * - concurrent: the same with 100 in flight: lmdb batches their callbacks into shared commits;
 * - point gets.
 * Each phase runs for a fixed time slice; about 5 s in all.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { WriteOp } from "../core/ports";
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
    { op: "put", table: "ledger", item: { pk: `mv-${i}`, sk: "tx", account: acct.pk, amount: 1_000n, kind: "reserve" }, when: { kind: "notExists" } },
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
  for (let a = 0; a < ACCOUNTS; a++) ops.push({ op: "put", table: "accounts", item: { pk: `acct-${a}`, sk: "balance", available: 10n ** 15n, reserved: 0n } });
  for (let j = 0; j < JOBS; j++) ops.push({ op: "put", table: "jobs", item: { pk: `job-${j}`, sk: "job", state: "queued", model: "llama-3.1-8b", attempts: 0 } });
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
