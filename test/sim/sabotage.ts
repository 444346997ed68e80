/**
 * Deliberate breakage for the simulation's positive controls: each hook makes the system
 * wrong in one way a real bug would (at the store or queue boundary, never in core), so a
 * test can prove the invariant meant to catch it does. See sim.test.ts.
 */
import { isOperatorFeeAccount, operatorFeeAccount } from "../../core/ledger";
import { OPERATOR_PAYEE_ID, OPERATOR_VOUCHER_ACCOUNT } from "../../core/payouts";
import type { WriteOp } from "../../core/ports";
import { settleRecords } from "../../core/jobs/testing";
import { RECEIPT_INBOX_PK, WINDOW_PK } from "../../core/receipts/log";
import { DEFAULT_PRICING, jobCost, type PricingConfig } from "../../core/pricing";
import type { Usage } from "../../events/common";
import type { ReceiptBody } from "../../events/envelope";
import { SIM_DEPOSIT_RULES } from "./chain";
import type { Sabotage } from "./sim";

type Put = Extract<WriteOp, { op: "put" }>;
/** A job's move to completed: a settlement (issue 12: recorded on the job) or a tab job's recorded cost. */
const isCompletion = (o: WriteOp): o is Update =>
  o.op === "update" && o.table === "jobs" && o.set?.status === "completed" && typeof o.set.cost === "string";
type Posting = { account: string; field: string; delta: string };
const isOperatorAccount = (account: string) => account === OPERATOR_VOUCHER_ACCOUNT || isOperatorFeeAccount(account);
/** The ledger item of an operator voucher's movement (core/payouts.ts voucherMovementId(OPERATOR_PAYEE_ID, …)). */
const operatorVoucherPut = (ops: WriteOp[]) => ledgerPut(ops, `voucher:${OPERATOR_PAYEE_ID}:`);
type Update = Extract<WriteOp, { op: "update" }>;
const ledgerPut = (ops: WriteOp[], prefix: string) =>
  ops[0]?.op === "put" && ops[0].table === "ledger" && ops[0].item.pk.startsWith(prefix) ? (ops[0] as Put) : undefined;

export const SABOTAGE: Record<string, Sabotage> = {
  /**
   * A settlement splits the cost by the operator fee in force when it settles, not by the one fixed on
   * the job at its submit (a coordinator re-reading the registry's fee): the job is rewritten to that
   * fee and the worker and the operator's fee shard credited by it, so the books still agree with
   * themselves. With a fee fixed for the run it changes nothing.
   */
  "settlement billed by the current fee, not the job's": {
    transact: (ops, { operatorFeeBps: now, item }) => {
      const records = settleRecords(ops);
      if (!records.length) return ops;
      let out = ops;
      for (const record of records) {
        const job = item("jobs", record.key);
        const worker = (job?.candidates as Array<{ workerId: string }> | undefined)?.[Number(job?.attempt)]?.workerId;
        const then = Number(job?.operatorFeeBps ?? 0);
        if (!job || !worker || then === now) continue;
        const cost = BigInt(record.set!.cost as string);
        // what the operator gets more (the worker less) at today's fee
        const d = (cost * BigInt(now)) / 10_000n - (cost * BigInt(then)) / 10_000n;
        const shard = operatorFeeAccount(worker);
        const credit = (o: WriteOp, account: string, delta: bigint): WriteOp =>
          o.op === "update" && o.table === "accounts" && o.key.pk === account
            ? ({ ...o, add: { ...o.add, available: BigInt(o.add?.available ?? 0n) + delta } } as Update)
            : o;
        out = out.map((o) => {
          if (o === record) return { ...record, set: { ...record.set, operatorFeeBps: now } } as Update;
          return credit(credit(o, `wrk:${worker}`, -d), shard, d);
        });
        if (d !== 0n && !out.some((o) => o.op === "update" && o.table === "accounts" && o.key.pk === shard))
          out = [...out, { op: "update", table: "accounts", key: { pk: shard, sk: "balance" }, add: { available: d } }];
      }
      return out;
    },
  },
  /**
   * A job is billed at the price its worker is asked at now (a coordinator re-reading the offer or
   * the registry at settlement), not at the one it was quoted: the job's candidate price, its cost
   * and the money rewritten to match, so the books agree with themselves and the receipt's usage
   * at the job's (rewritten) price is its charge. Under a tab the job's recorded cost, which its
   * close pays. A price unchanged since the quote changes nothing.
   */
  "job billed at the worker's current price, not the quoted one": {
    transact: (ops, { item, priceNow }) => {
      let out = ops;
      for (const record of ops.filter(isCompletion)) {
        const job = item("jobs", record.key);
        const candidates = job?.candidates as Array<{ workerId: string; pricePerToken: string }> | undefined;
        const attempt = Number(job?.attempt);
        const c = candidates?.[attempt];
        const now = c ? priceNow(c.workerId) : undefined;
        if (!job || !c || now === undefined || now === BigInt(c.pricePerToken)) continue;
        const inbox = ops.find(
          (o): o is Put =>
            o.op === "put" &&
            o.table === "chain" &&
            (o.item.pk.startsWith(`${RECEIPT_INBOX_PK}#`) || o.item.pk.startsWith(WINDOW_PK)) &&
            o.item.sk === job.jobId,
        );
        const usage = (record.set!.usage ?? (inbox?.item.receipt as { body: ReceiptBody } | undefined)?.body.usage) as Usage | undefined;
        if (!usage) continue;
        // as core/jobs/results.ts prices a job, with the price of the moment
        const weights = job.weights as Partial<PricingConfig> | undefined;
        const raw = jobCost({ ...DEFAULT_PRICING, ...weights }, now, usage);
        const held = BigInt(job.maxCost as string);
        const cost = raw > held ? held : raw;
        const was = BigInt(record.set!.cost as string);
        const bps = Number(job.operatorFeeBps ?? 0);
        const fee = (x: bigint) => (x * BigInt(bps)) / 10_000n;
        const repriced = candidates!.map((x, i) => (i === attempt ? { ...x, pricePerToken: now.toString() } : x));
        const worker = c.workerId;
        const shard = operatorFeeAccount(worker);
        // a settlement's money (a tab's job moves none: its close pays its recorded cost)
        const delta = new Map<string, bigint>(
          record.set!.settledInJob === true
            ? [
                [`req:${String(job.requester)}`, was - cost],
                [`wrk:${worker}`, cost - fee(cost) - (was - fee(was))],
                [shard, fee(cost) - fee(was)],
              ]
            : [],
        );
        out = out.map((o) => {
          if (o === record) return { ...record, set: { ...record.set, cost: cost.toString(), candidates: repriced } } as Update;
          if (o === inbox && Array.isArray(inbox.item.ms)) {
            const ms = [...(inbox.item.ms as unknown[])];
            ms[2] = cost.toString();
            return { ...inbox, item: { ...inbox.item, ms } };
          }
          const d = o.op === "update" && o.table === "accounts" ? delta.get(o.key.pk) : undefined;
          if (d === undefined || o.op !== "update") return o;
          delta.delete(o.key.pk);
          return { ...o, add: { ...o.add, available: BigInt(o.add?.available ?? 0n) + d } } as Update;
        });
        for (const [account, d] of delta)
          if (d !== 0n) out = [...out, { op: "update", table: "accounts", key: { pk: account, sk: "balance" }, add: { available: d } }];
      }
      return out;
    },
  },
  /**
   * A worker's registration at another coefficient records it on its offer but keeps the offer's
   * old price per token (what a prepare without a registry quotes): quotes name a price the worker
   * no longer asks.
   */
  "registration keeps the offer's old price": {
    transact: (ops, { item }) =>
      ops.map((o) => {
        if (o.op !== "put" || o.table !== "offers" || o.item.priceBps === undefined) return o;
        const before = item("offers", { pk: o.item.pk, sk: o.item.sk });
        return before && before.priceBps !== o.item.priceBps ? { ...o, item: { ...o.item, pricePerToken: before.pricePerToken } } : o;
      }),
  },
  /** A refund that puts the money back in `available` but never takes it out of `held`. */
  "refund keeps the hold": {
    transact: (ops) => {
      if (!ledgerPut(ops, "refund:")) return ops;
      return ops.map((o) =>
        o.op === "update" && o.table === "accounts" && o.add?.held !== undefined ? ({ ...o, add: { ...o.add, held: 0n } } as Update) : o,
      );
    },
  },
  /** The coordinator keeps a debug copy of the prompt, base64url, next to the sealed envelope. */
  "envelope stored with its plaintext": {
    transact: (ops, { canary }) =>
      ops.map((o) =>
        o.op === "put" && o.table === "jobs" && o.item.sk === "envelope"
          ? { ...o, item: { ...o.item, debug: Buffer.from(`{"content":"say ${canary}"}`).toString("base64url") } }
          : o,
      ),
  },
  /** Settlement charges one nanoTON more than the receipt's usage costs (balanced, so the books still add up). */
  "overcharge by one nanoTON": {
    transact: (ops) => {
      // one settlement's cost, as its job item records it (issue 12), and the balances to match
      const [record] = settleRecords(ops);
      if (!record || settleRecords(ops).length > 1) return ops;
      const wrk = ops.find((o) => o.op === "update" && o.table === "accounts" && o.key.pk.startsWith("wrk:"));
      const req = ops.find((o) => o.op === "update" && o.table === "accounts" && o.key.pk.startsWith("req:"));
      if (!wrk || !req) return ops;
      return ops.map((o) => {
        if (o === record) return { ...record, set: { ...record.set, cost: String(BigInt(record.set!.cost as string) + 1n) } };
        if (o === wrk && o.op === "update") return { ...o, add: { ...o.add, available: BigInt(o.add!.available!) + 1n } };
        if (o === req && o.op === "update") return { ...o, add: { ...o.add, available: BigInt(o.add!.available!) - 1n } };
        return o;
      });
    },
  },
  /** A chain deposit's movement id is no longer the transaction hash: a re-read credits it again. */
  "deposit credited per read, not per transaction": {
    transact: (() => {
      let n = 0;
      return (ops: WriteOp[]) => {
        const put = ledgerPut(ops, "chain:");
        if (!put || put.item.kind !== "deposit") return ops;
        return ops.map((o) => (o === put ? { ...put, item: { ...put.item, pk: `${put.item.pk}#read${++n}` } } : o));
      };
    })(),
  },
  /** A chain deposit credits what was paid in (the routed value) instead of the vault's logged net amount: the deposit fee is credited too (balanced). */
  "deposit credited gross, not net of the vault's fee": {
    transact: (ops) => {
      const put = ledgerPut(ops, "chain:");
      if (!put || put.item.kind !== "deposit") return ops;
      const fee = SIM_DEPOSIT_RULES.fee;
      const postings = put.item.postings as Array<{ account: string; field: string; delta: string }>;
      const gross = (p: { account: string; delta: string }) => ({
        ...p,
        delta: String(BigInt(p.delta) + (p.account.startsWith("req:") ? fee : -fee)),
      });
      return ops.map((o) => {
        if (o === put) return { ...put, item: { ...put.item, postings: postings.map(gross) } };
        if (o.op === "update" && o.table === "accounts" && o.add?.available !== undefined && postings.some((p) => p.account === o.key.pk)) {
          return { ...o, add: { ...o.add, available: BigInt(o.add.available) + (o.key.pk.startsWith("req:") ? fee : -fee) } };
        }
        return o;
      });
    },
  },
  /** Lease checks never reach the matching queue: a job whose worker goes silent is never moved on. */
  "lease checks lost": {
    dropSend: (queue, body) => queue === "matching" && body.includes('"type":"lease"'),
  },
  /** Lease checks arrive 10 minutes after the lease ran out (session 13's bug left a job 15 minutes late): the job stays with a silent worker. */
  "lease checks 10 minutes late": {
    delaySend: (queue, body, delaySeconds) =>
      queue === "matching" && body.includes('"type":"lease"') ? Math.min(900, delaySeconds + 600) : delaySeconds,
  },
  /** issue 12: a tab's close credits a worker one nanoTON more than its jobs cost, taken from what goes back to the requester (balanced). */
  "tab close overpays a worker by one nanoTON": {
    transact: (ops) => {
      const put = ledgerPut(ops, "tabclose:");
      if (!put) return ops;
      const postings = put.item.postings as Array<{ account: string; field: string; delta: string }>;
      const wrk = postings.find((p) => p.account.startsWith("wrk:"));
      const back = postings.find((p) => p.account.startsWith("req:") && p.field === "available");
      if (!wrk || !back) return ops;
      const shift = (p: { account: string; field: string; delta: string }) =>
        p === wrk ? { ...p, delta: String(BigInt(p.delta) + 1n) } : p === back ? { ...p, delta: String(BigInt(p.delta) - 1n) } : p;
      return ops.map((o) => {
        if (o === put) return { ...put, item: { ...put.item, postings: postings.map(shift) } };
        if (o.op !== "update" || o.table !== "accounts" || o.add?.available === undefined) return o;
        if (o.key.pk === wrk.account) return { ...o, add: { ...o.add, available: BigInt(o.add.available) + 1n } };
        if (o.key.pk === back.account) return { ...o, add: { ...o.add, available: BigInt(o.add.available) - 1n } };
        return o;
      });
    },
  },
  /** issue 12: a job under a tab records a hold of its own too (as a job outside a tab does), though no balance moved for it. */
  "tab job records a hold of its own": {
    transact: (ops) =>
      ops.map((o) =>
        o.op === "put" && o.table === "jobs" && o.item.sk === "job" && o.item.tab !== undefined && o.item.holdInJob === undefined
          ? { ...o, item: { ...o.item, holdInJob: true } }
          : o,
      ),
  },
  /** issue 12: tabs' close checks never reach the matching queue: a tab is never closed, its hold never comes back. */
  "tab close checks lost": {
    dropSend: (queue, body) => queue === "matching" && body.includes('"type":"tab"'),
  },
  /** issue 12: tabs' close checks arrive 10 minutes late: a tab's hold comes back long after it could. */
  "tab close checks 10 minutes late": {
    delaySend: (queue, body, delaySeconds) =>
      queue === "matching" && body.includes('"type":"tab"') ? Math.min(900, delaySeconds + 600) : delaySeconds,
  },
  /** The operator's voucher route records and signs the cumulative but forgets to move the fees: they stay in the shards, to be vouchered again. */
  "operator voucher moves no fees": {
    transact: (ops) => {
      const put = operatorVoucherPut(ops);
      if (!put) return ops;
      return ops.flatMap((o) =>
        o === put
          ? [{ ...put, item: { ...put.item, postings: [] } }]
          : o.op === "update" && o.table === "accounts" && isOperatorAccount(o.key.pk)
            ? []
            : [o],
      );
    },
  },
  /** The operator's voucher counts one shard twice in the cumulative it records (its payout record and the watcher's issued-voucher record), though the movement moves it once: the next voucher builds on it. */
  "operator voucher counts a shard twice": {
    transact: (ops) => {
      const put = operatorVoucherPut(ops);
      if (!put) return ops;
      const shard = (put.item.postings as Posting[]).find((p) => isOperatorFeeAccount(p.account));
      if (!shard) return ops;
      const extra = -BigInt(shard.delta);
      return ops.map((o) =>
        o.op === "put" && o.table === "chain" && (o.item.pk === `payout:${OPERATOR_PAYEE_ID}` || o.item.workerId === OPERATOR_PAYEE_ID)
          ? { ...o, item: { ...o.item, cumulative: BigInt(o.item.cumulative as bigint) + extra } }
          : o,
      );
    },
  },
  /** The watcher books the operator's redemption against a fee shard (its earnings) instead of `opr:vouchers` (what was vouchered): fees are paid twice over in the books. */
  "operator redemption booked against a fee shard": {
    transact: (ops) => {
      const put = ledgerPut(ops, "chain:");
      const postings = put?.item.postings as Posting[] | undefined;
      const from = postings?.find((p) => p.account === OPERATOR_VOUCHER_ACCOUNT);
      if (!put || put.item.kind !== "redemption" || !from) return ops;
      const shard = "opr:fees:0";
      const swap = (p: Posting) => (p === from ? { ...p, account: shard } : p);
      return ops.map((o) =>
        o === put
          ? { ...put, item: { ...put.item, postings: postings!.map(swap) } }
          : o.op === "update" && o.table === "accounts" && o.key.pk === OPERATOR_VOUCHER_ACCOUNT
            ? { ...o, key: { ...o.key, pk: shard } }
            : o,
      );
    },
  },
  /**
   * A worker's voucher records (its payout record and the issued-voucher record the watcher matches)
   * one nanoTON more than its movement moves out of `wrk:`: the next voucher builds on it, and the
   * vault pays the worker a nanoTON it never earned.
   */
  "worker voucher records one nanoTON more than it moves": {
    transact: (ops) => {
      const put = ops[0]?.op === "put" && ops[0].table === "ledger" && ops[0].item.kind === "voucher" ? (ops[0] as Put) : undefined;
      const workerId = (put?.item.meta as Record<string, string> | undefined)?.workerId;
      if (!put || workerId === undefined || workerId === OPERATOR_PAYEE_ID) return ops;
      return ops.map((o) =>
        o.op === "put" && o.table === "chain" && (o.item.pk === `payout:${workerId}` || o.item.workerId === workerId)
          ? { ...o, item: { ...o.item, cumulative: BigInt(o.item.cumulative as bigint) + 1n } }
          : o,
      );
    },
  },
  /**
   * A withdrawal reserves (and records) one nanoTON less than the coordinator signs: balanced in
   * the books, so only the signed withdrawal held against its committed record shows it.
   */
  "withdrawal reserves one nanoTON less than it signs": {
    transact: (ops) => {
      const put = ledgerPut(ops, "withdrawal:");
      const meta = put?.item.meta as Record<string, string> | undefined;
      if (!put || meta?.stage !== "reserve") return ops;
      const postings = put.item.postings as Posting[];
      const less = (p: Posting) => ({ ...p, delta: String(BigInt(p.delta) + (BigInt(p.delta) < 0n ? 1n : -1n)) });
      return ops.map((o) => {
        if (o === put)
          return {
            ...put,
            item: { ...put.item, postings: postings.map(less), meta: { ...meta, amount: String(BigInt(meta.amount!) - 1n) } },
          };
        if (o.op === "put" && o.table === "chain" && o.item.pk.startsWith("wd:") && o.item.reserved === true)
          return { ...o, item: { ...o.item, amount: BigInt(o.item.amount as bigint) - 1n } };
        if (o.op === "update" && o.table === "accounts" && o.add?.available !== undefined && postings.some((p) => p.account === o.key.pk)) {
          const d = BigInt(o.add.available);
          return { ...o, add: { ...o.add, available: d + (d < 0n ? 1n : -1n) } };
        }
        return o;
      });
    },
  },
  /**
   * The coordinator's PolicyCache keeps acting on its last reading however old it grows (its age
   * bound lost, as a cache configured with none would): through a long outage of the registry it
   * matches and prices by a policy the owners may have changed since.
   */
  "policy cache without an age bound": {
    policyCache: (o) => ({ ...o, maxAgeSeconds: Number.MAX_SAFE_INTEGER }),
  },
  /**
   * The coordinator's PolicyCache reads the registry once and never again (a refresh interval in
   * minutes where seconds were meant): once its reading passes the bound it refuses every request
   * (503 policy_stale) though the registry answers.
   */
  "policy cache never reads the registry again": {
    policyCache: (o) => ({ ...o, refreshSeconds: 365 * 86_400 }),
  },
  /**
   * A prepare's price cap reaches matching as half of what the requester asked (an edge that
   * reads it in the wrong unit): workers within the cap are refused (409 price_above_cap).
   */
  "price cap halved on its way to matching": {
    prepare: (req) => (req.maxPricePerToken === undefined ? req : { ...req, maxPricePerToken: req.maxPricePerToken / 2n }),
  },
  /** issue 12: checks the redrive sends back from the matching DLQ never arrive: a dead-lettered check's job or tab stays held. */
  "redriven checks lost": {
    dropSend: (queue, body) => queue === "matching" && body.includes('"redrives":'),
  },
};
