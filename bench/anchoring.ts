/**
 * Anchoring bench: what posting receipt anchors on TON costs, and how large a receipt's
 * inclusion proof is.
 *
 * measureAnchorFees() posts anchors in @ton/sandbox (its default config mirrors mainnet's
 * basechain prices) from a real wallet v5r1 with signed external messages, the way the
 * coordinator will, the clock advancing by the anchor interval between posts so storage rent
 * is charged too. The cost of one anchor is everything that leaves the wallet and the anchor
 * contract together: the external message import, the wallet's and the contract's gas, the
 * forward fee and both storage fees (the value sent is not a cost: it lands in the contract's
 * reserve, which pays the next anchors' gas).
 *
 * anchoringCost() turns that into TON per 1M receipts at an interval and a receipt rate: an
 * anchor goes out every interval (or earlier when maxReceipts wait), so at low rates the
 * per-anchor fee is spread over few receipts.
 *
 * measureLogWrites() counts the DynamoDB write units the receipt and movement logs add per job
 * (core/receipts/log.ts), with the cost model's rule (1 WRU per KB of item, at least 1, twice
 * inside a transaction; sizes as JSON): the inbox puts inside the hold and the settlement, and
 * the anchorer's share (index item, inbox deletes, chunks, the batch record amortised).
 * Runs as the `anchoring` suite of bench/run.ts.
 */
import { fileURLToPath } from "node:url";
import { Blockchain } from "@ton/sandbox";
import { internal, SendMode, toNano } from "@ton/core";
import { keyPairFromSeed } from "@ton/crypto";
import { WalletContractV5R1 } from "@ton/ton";
import { DEFAULT_ANCHOR_INTERVAL_SECONDS, DEFAULT_ANCHOR_LIMITS, GENESIS_HEAD, applyAnchor } from "../core/receipts/anchor";
import { auditPathLength } from "../core/receipts/merkle";
import { AnchorContract, ANCHOR_VALUE, postAnchorBody } from "../contracts/anchor";
import { nextAnchor } from "../contracts/anchor-fixtures";
import { makeWorker } from "../core/crypto/testing";
import { newJobId } from "../core/ids";
import { applyMovement, holdMovement, settleMovement } from "../core/ledger";
import type { Store, WriteOp } from "../core/ports";
import { appendReceiptOp, StoreAnchorLog, withMovementLog } from "../core/receipts/log";
import { signedReceipt } from "../core/receipts/testing";
import { createMemoryStore } from "../local/memory-store";
import type { BenchResult } from "./types";

export interface AnchorFeeSample {
  anchors: number;
  intervalSeconds: number;
  /** Compute-phase gas of the anchor contract per PostAnchor. */
  anchorGas: number;
  /** Mean nanoTON burnt per anchor (wallet + anchor contract, all fees). */
  feePerAnchorNano: bigint;
  /** Of which: the wallet transaction's total fees (import, gas, its share of the forward fee)... */
  walletTxFeeNano: bigint;
  /** ...and the anchor transaction's (gas, storage); the rest is the forward fee's remainder. */
  anchorTxFeeNano: bigint;
}

/** Posts `anchors` anchors (after one warm-up that deploys the wallet) and averages what each cost. */
export async function measureAnchorFees(o: { anchors?: number; intervalSeconds?: number } = {}): Promise<AnchorFeeSample> {
  const anchors = o.anchors ?? 20;
  const interval = o.intervalSeconds ?? DEFAULT_ANCHOR_INTERVAL_SECONDS;
  const blockchain = await Blockchain.create();
  blockchain.now = 1_750_000_000;
  const key = keyPairFromSeed(Buffer.alloc(32, 7));
  const wallet = blockchain.openContract(WalletContractV5R1.create({ workchain: 0, publicKey: key.publicKey }));
  const funder = await blockchain.treasury("funder");
  await funder.send({ to: wallet.address, value: toNano("10"), bounce: false });
  const anchor = blockchain.openContract(await AnchorContract.createFromConfig({ coordinator: wallet.address }));
  await anchor.sendDeploy(funder.getSender(), toNano("0.5"));

  let head = GENESIS_HEAD;
  const post = async () => {
    const a = nextAnchor(head, { count: 1000, movements: 3000 });
    const seqno = await wallet.getSeqno();
    const res = await wallet.sendTransfer({
      seqno,
      secretKey: key.secretKey,
      sendMode: SendMode.PAY_GAS_SEPARATELY,
      messages: [internal({ to: anchor.address, value: ANCHOR_VALUE, body: postAnchorBody(a) })],
    });
    head = applyAnchor(head, a);
    return res.transactions;
  };
  const total = async () => (await blockchain.getContract(wallet.address)).balance + (await blockchain.getContract(anchor.address)).balance;

  await post(); // deploys the wallet: not a steady-state anchor
  let burnt = 0n;
  let walletFees = 0n;
  let anchorFees = 0n;
  let gas = 0;
  for (let i = 0; i < anchors; i++) {
    blockchain.now += interval;
    const before = await total();
    const txs = await post();
    burnt += before - (await total());
    const onChain = (await anchor.getLatest()).seqno; // every post must land, or the fee means nothing
    if (onChain !== head.seqno) throw new Error(`anchor ${head.seqno} was not accepted (the chain holds ${onChain})`);
    for (const tx of txs) {
      const to = tx.inMessage?.info.dest;
      if (to && typeof to !== "string" && "equals" in to && to.equals(wallet.address)) walletFees += tx.totalFees.coins;
      if (to && typeof to !== "string" && "equals" in to && to.equals(anchor.address)) {
        anchorFees += tx.totalFees.coins;
        if (tx.description.type === "generic" && tx.description.computePhase.type === "vm")
          gas = Number(tx.description.computePhase.gasUsed);
      }
    }
  }
  const n = BigInt(anchors);
  return {
    anchors,
    intervalSeconds: interval,
    anchorGas: gas,
    feePerAnchorNano: burnt / n,
    walletTxFeeNano: walletFees / n,
    anchorTxFeeNano: anchorFees / n,
  };
}

export interface AnchoringCost {
  receiptsPerAnchor: number;
  anchorsPerMillionReceipts: number;
  tonPerMillionReceipts: number;
  anchorsPerDay: number;
  tonPerDay: number;
  /** Audit path of the deepest receipt in a full batch: hashes and bytes (path + seq + anchor seqno). */
  proofHashes: number;
  proofBytes: number;
}

/**
 * Cost of anchoring at `receiptsPerSecond`: an anchor every `intervalSeconds`, or earlier
 * whenever `maxReceipts` are waiting. Pure.
 */
export function anchoringCost(o: {
  feePerAnchorNano: bigint;
  receiptsPerSecond: number;
  intervalSeconds?: number;
  maxReceipts?: number;
}): AnchoringCost {
  const interval = o.intervalSeconds ?? DEFAULT_ANCHOR_INTERVAL_SECONDS;
  const max = o.maxReceipts ?? DEFAULT_ANCHOR_LIMITS.maxReceipts;
  const perInterval = o.receiptsPerSecond * interval;
  const receiptsPerAnchor = Math.max(1, Math.min(max, Math.floor(perInterval)));
  const anchorsPerMillion = Math.ceil(1_000_000 / receiptsPerAnchor);
  const anchorsPerDay = Math.max(86_400 / interval, (o.receiptsPerSecond * 86_400) / max);
  const fee = Number(o.feePerAnchorNano) / 1e9;
  const proofHashes = receiptsPerAnchor > 1 ? auditPathLength(0, receiptsPerAnchor) : 0;
  return {
    receiptsPerAnchor,
    anchorsPerMillionReceipts: anchorsPerMillion,
    tonPerMillionReceipts: anchorsPerMillion * fee,
    anchorsPerDay,
    tonPerDay: anchorsPerDay * fee,
    proofHashes,
    proofBytes: proofHashes * 32 + 12,
  };
}

export interface LogWrites {
  jobs: number;
  /** WRU per job without the logs: the hold and the settlement transactions */
  baseWru: number;
  /** extra WRU per job inside those transactions (the hold's movement inbox put, the receipt inbox put carrying the settlement's movement) */
  hotPathWru: number;
  /** WRU per job the anchorer spends later (the hold's movement inbox delete, chunks and batch record amortised; the receipt's entry stays in the time-windowed log: no index item, no delete) */
  anchorerWru: number;
}

/** A store that counts write units the way bench/cost.ts bills them (sizes as JSON: close to DynamoDB's, never below 1 KB rounding). */
function meteredWrites(inner: Store): Store & { wru: number } {
  const m = {
    wru: 0,
    get: inner.get.bind(inner),
    query: inner.query.bind(inner),
    async transact(ops: WriteOp[]) {
      await inner.transact(ops);
      let units = 0;
      for (const op of ops) {
        const bytes = op.op === "put" ? JSON.stringify(op.item, (_k, v) => (typeof v === "bigint" ? v.toString() : v)).length : 200;
        units += Math.max(1, Math.ceil(bytes / 1024));
      }
      m.wru += ops.length > 1 ? 2 * units : units;
    },
  };
  return m;
}

/** Runs `jobs` hold + settle pairs with and without the logs, then one anchor batch over them. */
export async function measureLogWrites(jobs = 500): Promise<LogWrites> {
  const worker = makeWorker();
  const run = async (withLogs: boolean) => {
    const meter = meteredWrites(createMemoryStore());
    const store = withLogs ? withMovementLog(meter) : meter;
    await meter.transact([{ op: "update", table: "accounts", key: { pk: "req:a", sk: "balance" }, add: { available: 10n ** 15n } }]);
    meter.wru = 0;
    for (let i = 0; i < jobs; i++) {
      const jobId = newJobId(1_764_000_000_000 + i);
      const receipt = signedReceipt(worker, jobId);
      await applyMovement(store, holdMovement(jobId, "a", 1_000n, i));
      await applyMovement(
        store,
        settleMovement(jobId, "a", worker.workerId, 1_000n, 600n, i),
        withLogs ? [appendReceiptOp(jobId, receipt, i)] : [],
      );
    }
    const hot = meter.wru;
    meter.wru = 0;
    if (withLogs) await new StoreAnchorLog(store).prepareNext(0);
    return { hot, anchorer: meter.wru };
  };
  const base = await run(false);
  const logs = await run(true);
  return { jobs, baseWru: base.hot / jobs, hotPathWru: (logs.hot - base.hot) / jobs, anchorerWru: logs.anchorer / jobs };
}

export const BENCH_RATES = [1, 10, 100, 1000] as const;

export async function benchAnchoring(o: { anchors?: number } = {}): Promise<BenchResult[]> {
  const m = await measureAnchorFees({ anchors: o.anchors });
  const fee = Number(m.feePerAnchorNano) / 1e9;
  const rows: BenchResult[] = [
    { name: "anchor: gas per PostAnchor (sandbox)", value: m.anchorGas, unit: "gas", target: null, ok: null },
    { name: "anchor: fee per anchor, wallet v5r1 + contract, all fees", value: round(fee, 6), unit: "TON", target: null, ok: null },
    {
      name: "anchor: of which the wallet transaction",
      value: round(Number(m.walletTxFeeNano) / 1e9, 6),
      unit: "TON",
      target: null,
      ok: null,
    },
    {
      name: "anchor: of which the anchor transaction (gas, storage)",
      value: round(Number(m.anchorTxFeeNano) / 1e9, 6),
      unit: "TON",
      target: null,
      ok: null,
    },
    {
      name: `anchor: cost per day at the default interval (${m.intervalSeconds} s)`,
      value: round(anchoringCost({ feePerAnchorNano: m.feePerAnchorNano, receiptsPerSecond: 0 }).tonPerDay, 4),
      unit: "TON/day",
      target: null,
      ok: null,
    },
  ];
  for (const r of BENCH_RATES) {
    const c = anchoringCost({ feePerAnchorNano: m.feePerAnchorNano, receiptsPerSecond: r });
    rows.push({
      name: `anchor: cost per 1M receipts at ${r} receipts/s (${c.receiptsPerAnchor} per anchor)`,
      value: round(c.tonPerMillionReceipts, 4),
      unit: "TON",
      target: null,
      ok: null,
    });
    rows.push({
      name: `anchor: inclusion proof size, batch of ${c.receiptsPerAnchor}`,
      value: c.proofBytes,
      unit: "bytes",
      target: null,
      ok: null,
    });
  }
  const w = await measureLogWrites();
  rows.push({
    name: "receipt + movement logs: DynamoDB WRU per job inside the hold and the settlement",
    value: round(w.hotPathWru, 2),
    unit: "WRU",
    target: null,
    ok: null,
  });
  rows.push({
    name: "receipt + movement logs: DynamoDB WRU per job spent by the anchorer",
    value: round(w.anchorerWru, 2),
    unit: "WRU",
    target: null,
    ok: null,
  });
  rows.push({
    name: "  (for scale: the hold and the settlement themselves, WRU per job)",
    value: round(w.baseWru, 2),
    unit: "WRU",
    target: null,
    ok: null,
  });
  return rows;
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  benchAnchoring().then((rs) => console.table(rs));
}
