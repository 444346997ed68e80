/**
 * Chain bench:
 * - watcher throughput: vault transactions per second read from the sandbox, normalised and
 *   moved through the chain ledger over LMDB (the local default's store, durable writes);
 * - the vault's gas per operation, measured here in @ton/sandbox (a deployed vault, each
 *   operation sent for real, compute gas of every transaction it causes but the sender's
 *   wallet and the payee's), the way contracts/vault.test.ts measures its table; a row says
 *   whether contracts/gas.json still agrees.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { keyPairFromSeed } from "@ton/crypto";
import { toNano, type Address, type Transaction } from "@ton/core";
import type { SendMessageResult } from "@ton/sandbox";
import { collectingAlerts } from "../core/chain/dedup";
import { createChainLedger } from "../core/chain/store-ledger";
import { runWatcher } from "../core/chain/watcher";
import { openLmdbStore } from "../local/store-lmdb";
import { startLocalChain } from "../local/chain";
import type { BenchResult } from "./types";

const here = dirname(fileURLToPath(import.meta.url));
const WATCHER_TARGET_TPS = 200;

function gasOf(tx: Transaction): number {
  const d = tx.description;
  if (d.type !== "generic" || d.computePhase.type !== "vm") return 0;
  return Number(d.computePhase.gasUsed);
}

/** Compute gas and fees of each vault operation, sent for real in the sandbox. */
export async function measureVaultGas(): Promise<Record<string, { total: number; fees: bigint }>> {
  const { vaultFixture, seededKeyPair } = await import("../contracts/fixtures");
  const { keyToUint } = await import("../contracts/vault");
  const f = await vaultFixture();
  const GAS = toNano("0.05");
  const DEPOSIT = toNano("5");
  const hashOf = (a: Address) => BigInt("0x" + a.hash.toString("hex"));
  const payees = new Set([f.requester.address, f.worker.address, f.owner.address, f.stranger.address].map(hashOf));
  const op = (txs: Transaction[]) => {
    const mine = txs.filter((t) => !payees.has(t.address));
    return { total: mine.map(gasOf).reduce((a, b) => a + b, 0), fees: mine.reduce((s, t) => s + t.totalFees.coins, 0n) };
  };
  const run = async (act: () => Promise<SendMessageResult>) => op((await act()).transactions);
  const out: Record<string, { total: number; fees: bigint }> = {};
  out.deploy = op(f.deployTx);
  out.topUp = await run(() => f.vault.sendTopUp(f.owner.getSender(), toNano("1")));
  out.depositFirst = await run(() => f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account));
  out.depositNext = await run(() => f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account));
  out.depositComment = await run(() => f.vault.sendDepositComment(f.requester.getSender(), DEPOSIT, f.account));
  out.depositCommentFirst = await run(() =>
    f.vault.sendDepositComment(f.requester.getSender(), DEPOSIT, keyToUint(seededKeyPair("comment-first").publicKey)),
  );
  out.withdraw = await run(() => f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("1"))));
  out.withdrawReplayRejected = await run(() => f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("1"))));
  out.redeemFirst = await run(() => f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1"))));
  out.redeemNext = await run(() => f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("2"))));
  out.redeemReplayRejected = await run(() => f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("2"))));
  out.unattributedBounce = await run(() => f.vault.sendTopUp(f.stranger.getSender(), DEPOSIT));
  out.setCoordinatorKey = await run(() => f.vault.sendSetCoordinatorKey(f.owner.getSender(), GAS, seededKeyPair("k2").publicKey));
  return out;
}

export async function benchChain(opts: { deposits?: number } = {}): Promise<BenchResult[]> {
  const n = opts.deposits ?? 400;
  const now = 1_750_000_000;
  const chain = await startLocalChain({ now });
  const accounts = Array.from({ length: 20 }, (_, i) => keyPairFromSeed(Buffer.alloc(32, i + 1)).publicKey.toString("base64url"));

  const sendStart = performance.now();
  for (let i = 0; i < n; i++) await chain.depositNano(accounts[i % accounts.length]!, 1_000_000_000n + BigInt(i), { comment: i % 2 === 1 });
  const sendMs = performance.now() - sendStart;

  // The watcher over LMDB, as the local default runs it (every credit a durable transaction).
  const dir = mkdtempSync(join(tmpdir(), "cocoon-bench-chain-"));
  const store = await openLmdbStore(dir);
  let tps: number;
  let processed: number;
  try {
    const ledger = createChainLedger(store);
    const t0 = performance.now();
    const r = await runWatcher({
      reader: chain.reader,
      ledger,
      alerts: collectingAlerts(),
      now: () => now * 1000,
      lagThresholdSeconds: 600,
      pageSize: 100,
      maxPages: 1000,
      vault: chain.vaultAddress.toRawString(),
    });
    const watchMs = performance.now() - t0;
    processed = r.processed;
    tps = (r.processed / watchMs) * 1000;
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const gas = await measureVaultGas();
  const recorded = JSON.parse(readFileSync(join(here, "../contracts/gas.json"), "utf8")) as {
    ops: Record<string, { total: number } | number>;
  };
  const recordedTotal = (k: string) => {
    const v = recorded.ops[k];
    return typeof v === "number" ? v : v?.total;
  };
  const differing = Object.entries(gas).filter(([k, v]) => recordedTotal(k) !== v.total);
  return [
    {
      name: `chain watcher throughput (sandbox → ledger over LMDB, ${processed} transactions)`,
      value: Math.round(tps),
      unit: "tx/s",
      target: `>= ${WATCHER_TARGET_TPS} tx/s`,
      ok: tps >= WATCHER_TARGET_TPS,
    },
    {
      name: "sandbox deposit send rate (wallet tx + vault tx)",
      value: Math.round((n / sendMs) * 1000),
      unit: "deposits/s",
      target: null,
      ok: null,
    },
    ...Object.entries(gas).map(([op, v]): BenchResult => ({
      name: `vault gas: ${op} (measured in the sandbox; fees ${v.fees} nanoTON)`,
      value: v.total,
      unit: "gas",
      target: null,
      ok: null,
    })),
    {
      name: `vault gas: contracts/gas.json agrees with this measurement${differing.length ? ` (differs: ${differing.map(([k]) => k).join(", ")})` : ""}`,
      value: Object.keys(gas).length - differing.length,
      unit: `of ${Object.keys(gas).length} ops`,
      target: null,
      ok: null,
    },
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  benchChain().then((rs) => console.table(rs));
}
