/**
 * Chain bench: watcher throughput (vault transactions per second, read from the sandbox,
 * normalized, and moved through the ledger over an in-memory store) and the vault's gas per
 * operation from contracts/gas.json (the table the contract tests keep exact): each operation
 * is the vault's transactions plus its account or payout wallet's, summed, next to the
 * single-contract vault's figure it replaces where there was one.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { keyPairFromSeed } from "@ton/crypto";
import { collectingAlerts } from "../core/chain/dedup";
import { createChainLedger } from "../core/chain/store-ledger";
import { createMemoryStore } from "../local/memory-store";
import { runWatcher } from "../core/chain/watcher";
import { startLocalChain } from "../local/chain";
import type { BenchResult } from "./types";

const here = dirname(fileURLToPath(import.meta.url));
const WATCHER_TARGET_TPS = 200;

export async function benchChain(opts: { deposits?: number } = {}): Promise<BenchResult[]> {
  const n = opts.deposits ?? 400;
  const now = 1_750_000_000;
  const chain = await startLocalChain({ now });
  const accounts = Array.from({ length: 20 }, (_, i) => keyPairFromSeed(Buffer.alloc(32, i + 1)).publicKey.toString("base64url"));

  const sendStart = performance.now();
  for (let i = 0; i < n; i++) await chain.depositNano(accounts[i % accounts.length]!, 1_000_000_000n + BigInt(i), { comment: i % 2 === 1 });
  const sendMs = performance.now() - sendStart;

  const ledger = createChainLedger(createMemoryStore());
  const t0 = performance.now();
  const r = await runWatcher({ reader: chain.reader, ledger, alerts: collectingAlerts(), now: () => now * 1000, lagThresholdSeconds: 600, pageSize: 100, maxPages: 1000 });
  const watchMs = performance.now() - t0;
  const tps = (r.processed / watchMs) * 1000;

  const gas = JSON.parse(readFileSync(join(here, "../contracts/gas.json"), "utf8")) as {
    ops: Record<string, { steps: number[]; total: number }>;
    reserveCost: Record<string, string>;
    singleContract: Record<string, number>;
  };
  const replaced: Record<string, string> = { depositNext: "deposit", depositComment: "depositComment", withdraw: "withdraw", redeemFirst: "redeemFirst", redeemNext: "redeemNext" };
  return [
    { name: "chain watcher throughput (sandbox → ledger)", value: Math.round(tps), unit: "tx/s", target: `>= ${WATCHER_TARGET_TPS} tx/s`, ok: tps >= WATCHER_TARGET_TPS },
    { name: "sandbox deposit send rate (wallet tx + 2 vault tx + account wallet tx)", value: Math.round((n / sendMs) * 1000), unit: "deposits/s", target: null, ok: null },
    ...Object.entries(gas.ops).map(([op, v]): BenchResult => {
      const old = replaced[op] ? gas.singleContract[replaced[op]!] : undefined;
      return { name: `vault gas: ${op} (${v.steps.join(" + ")}${old ? `; single contract ${old}` : ""})`, value: v.total, unit: "gas", target: null, ok: null };
    }),
    ...Object.entries(gas.reserveCost).map(([op, v]): BenchResult => ({ name: `vault reserve spent per ${op}`, value: Number(v) / 1e9, unit: "TON", target: null, ok: null })),
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  benchChain().then((rs) => console.table(rs));
}
