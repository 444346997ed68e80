/**
 * The invariants the simulation checks after every step (over the committed store state) and
 * at quiescence. Each violation is a sentence naming what broke. The oracle is the
 * simulator's own record of what happened outside the coordinator: which results honest
 * agent code produced (and which were forged), the workers' keys, the prices.
 *
 * After every step (they hold at every commit, so also right after a crash):
 *   - every movement balances, each balance equals the sum of its postings, the ledger sums to 0;
 *   - no internal account is negative;
 *   - held = the maximum cost of the requester's open ("assigned") jobs that hold for
 *     themselves, plus slots × slotCost of each of its open tabs;
 *   - reserved (`wdr:<a>`) = the requester's pending withdrawals;
 *   - each job has its hold, and completed ⇔ settled, refunded ⇔ refunded, never both;
 *   - tabs (issue 12): a job under a tab has no hold, settlement or refund of its own (no
 *     ledger item, no holdInJob / settledInJob), takes a slot of its own requester's tab (the
 *     slot's job id, at most slotCost, before the expiry), and its cost is its verified
 *     receipt's, as a settlement's is; a tab's open holds exactly slots × slotCost; it closes
 *     at most once (a closed tab is never written again), never with a job of it running, and
 *     its close credits each worker exactly the costs of the tab's completed jobs it answered
 *     (the candidate at the completing attempt), returns exactly the rest, releases the whole
 *     hold and logs each completed job's receipt;
 *   - each vault transaction moved money at most once, and no requester was credited more
 *     deposits, or debited more withdrawals, than the vault itself records for it;
 *   - the operator's money (its payout: core/payouts.ts issueOperatorVoucher): only settlements
 *     and tab closes credit the fee shards `opr:fees:<k>`, only the operator's vouchers move them
 *     to `opr:vouchers`, and only redemptions the watcher booked pay out of that; so the shards +
 *     opr:vouchers + booked redemptions = every fee settled, and opr:vouchers + booked = the
 *     cumulative its payout record says was vouchered (its issued-voucher record, what the watcher
 *     matches, never above it); the vault never paid its address more than that nor more than the
 *     fees settled, and the watcher never booked more than the vault paid. A payout record's and an
 *     issued-voucher record's cumulative (any payee's) never decreases, nor does its address change;
 *   - each worker's money (its payout: core/payouts.ts issueVoucher), as the operator's: only
 *     settlements and tab closes credit `wrk:<id>`, only its own vouchers move that to `vch:<id>`,
 *     only booked redemptions pay out of `vch:<id>`; so wrk + vch + booked = its settled credits,
 *     and vch + booked = the cumulative its payout record says was vouchered (a voucher's amount
 *     is exactly the credits it moved); the vault never paid its address more than that, nor more
 *     than it was credited, and the watcher never booked more than the vault paid;
 *   - no charge without a verified receipt: a settled job's result is one an honest agent
 *     produced for that job, attempt and worker, its receipt verifies with the worker's key
 *     (real Ed25519), covers the job's request hash, and the charge is the price of its usage
 *     (an independent computation), capped at the hold.
 */
import { verifyReceipt } from "../../core/crypto/receipt";
import { tabSlotJobId } from "../../core/ids";
import { jobMovementRecords } from "../../core/jobs/items";
import { isOperatorFeeAccount, operatorFeeAccount } from "../../core/ledger";
import { inboxPk, RECEIPT_INBOX_PK, windowEntryKey } from "../../core/receipts/log";
import { payeeHex } from "../../core/chain/payee";
import { issuedVoucherKey } from "../../core/chain/store-ledger";
import { OPERATOR_PAYEE_ID, OPERATOR_VOUCHER_ACCOUNT } from "../../core/payouts";
import type { Item } from "../../core/ports";
import type { PricingConfig } from "../../core/pricing";
import type { PolicyReading } from "../../core/policy-registry";
import type { Receipt, ReplyEnvelope } from "../../events/envelope";
import type { OfferState } from "./prices";
import type { SimStore } from "./store";

export interface HonestResult {
  jobId: string;
  attempt: number;
  workerId: string;
  receipt: Receipt;
  reply: ReplyEnvelope;
}

/** What the chain itself records (the simulated vault), to hold the ledger against. */
export interface ChainTruth {
  deposited(account: string): bigint;
  withdrawn(account: string): bigint;
  /** what the vault paid a payee (64 hex: payeeHex of its id) in all, to whichever address (its redemptions) */
  paid?(payee: string): bigint;
}

export interface Oracle {
  /** resultDigest → the result honest agent code produced */
  honest: Map<string, HonestResult>;
  /** resultDigest of results the simulator forged (must never be billed) */
  forged: Set<string>;
  /** workerId → raw Ed25519 public key */
  workerKeys: Map<string, Uint8Array>;
  pricing: PricingConfig;
  /** the operator fee the coordinator runs with now (bps; the owners may change it during a run) */
  operatorFeeBps?: number;
  /**
   * jobId → the operator fees in force as each submit of that job started (the simulator's own log;
   * more than one when a retried submit straddles a change): the job must carry one of them, and its
   * settlement is split by the job's own fee, never by the fee of the moment. A job not in it (an
   * oracle built without the log) must carry `operatorFeeBps`.
   */
  submitFeeBps?: Map<string, Set<number>>;
  /**
   * jobId → the quotes each submit of that job was sent under (the simulator's own log: the quote
   * the requester holds, as the coordinator answered its prepare): the job must carry a quote's
   * candidate prices and weights, and is billed by them, never by the prices of the moment. A job
   * not in it (an oracle built without the log) is billed at its candidates' prices and `pricing`.
   */
  submitQuotes?: Map<string, SubmittedQuote[]>;
  /** jobs whose settlement was checked already (the check costs a signature verification) */
  verifiedSettles: Set<string>;
  chain?: ChainTruth;
  /** the address the operator asks its vouchers for (what the vault pays it) */
  operatorPayout?: string;
}

const big = (v: unknown): bigint => (v === undefined || v === null ? 0n : BigInt(v as bigint | number | string));
const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

/** The operator's share of a cost, computed here again (not by core/ledger): floor(cost × bps / 10 000), the rest the worker's. */
export const oracleFee = (cost: bigint, bps: number | undefined) => (cost * BigInt(bps ?? 0)) / 10_000n;

/** The operator fee a job carries (fixed at its submit), bps. */
const jobFeeBps = (job: Item): number => Number(job.operatorFeeBps ?? 0);

/** Why a job does not carry the operator fee in force at its submit (empty: it does). */
function feeProblems(job: Item, oracle: Oracle): string[] {
  const carried = jobFeeBps(job);
  const atSubmit = oracle.submitFeeBps?.get(String(job.jobId));
  if (atSubmit) {
    if (atSubmit.has(carried)) return [];
    const fees = [...atSubmit].join(" or ");
    return [
      `the job carries an operator fee of ${carried} bps, the fee in force at its submit was ${fees} (now ${oracle.operatorFeeBps ?? 0})`,
    ];
  }
  return carried === (oracle.operatorFeeBps ?? 0)
    ? []
    : [`the job carries an operator fee of ${carried} bps, the coordinator's is ${oracle.operatorFeeBps ?? 0}`];
}

/** What a submit was sent under: its requester, the quote's candidates' prices and its weights. */
export interface SubmittedQuote {
  requester: string;
  /** workerId → nanoTON per token, as quoted */
  prices: Record<string, string>;
  promptBps: number;
  completionBps: number;
  /** when the quote expires (ms): a bearer of its prices until then, never after */
  expiresAt: number;
}

/**
 * The quote a job was submitted under, found by the job's own prices (a retried submit may have
 * been sent under one of several): every candidate priced as that quote priced it, and the weights
 * the job records (with a registry) its weights. A problem when no logged quote fits.
 */
function quoteOf(job: Item, oracle: Oracle): { quote?: SubmittedQuote; problems: string[] } {
  const sent = oracle.submitQuotes?.get(String(job.jobId));
  if (!sent) return { problems: [] };
  const candidates = (job.candidates ?? []) as Array<{ workerId: string; pricePerToken: string }>;
  const weights = job.weights as { promptBps: number; completionBps: number } | undefined;
  const fits = (q: SubmittedQuote) =>
    q.requester === job.requester &&
    candidates.every((c) => q.prices[c.workerId] === String(c.pricePerToken)) &&
    (!weights || (weights.promptBps === q.promptBps && weights.completionBps === q.completionBps));
  const quote = sent.find(fits);
  // submit checks the quote's expiry at the instant it fixes the job's createdAt
  if (quote && Number(job.createdAt) > quote.expiresAt)
    return { quote, problems: [`the job was submitted at ${String(job.createdAt)} under a quote that expired at ${quote.expiresAt}`] };
  if (quote) return { quote, problems: [] };
  const priced = candidates.map((c) => `${c.workerId} at ${String(c.pricePerToken)}`).join(", ");
  const quoted = sent
    .filter((q) => q.requester === job.requester)
    .map(
      (q) =>
        `{${Object.entries(q.prices)
          .map(([w, p]) => `${w} at ${p}`)
          .join(", ")}; weights ${q.promptBps}/${q.completionBps}}`,
    )
    .join(" or ");
  return {
    problems: [
      `the job prices ${priced}${weights ? ` (weights ${weights.promptBps}/${weights.completionBps})` : ""}, not as it was quoted: ${quoted || "no quote of its requester"}`,
    ],
  };
}

/** The weights a job is billed by: its quote's (the simulator's log), else the oracle's pricing. */
const quotedPricing = (oracle: Oracle, quote: SubmittedQuote | undefined): PricingConfig =>
  quote ? { ...oracle.pricing, promptBps: quote.promptBps, completionBps: quote.completionBps } : oracle.pricing;

/** The price of a usage, computed here again (not by core/pricing): ceil(price × (p × promptBps + c × completionBps) / 10 000). */
export const oracleCost = (pricing: PricingConfig, pricePerToken: bigint, usage: { promptTokens: number; completionTokens: number }) =>
  ceilDiv(
    pricePerToken *
      (BigInt(usage.promptTokens) * BigInt(pricing.promptBps) + BigInt(usage.completionTokens) * BigInt(pricing.completionBps)),
    10_000n,
  );

interface Posting {
  account: string;
  field: "available" | "held";
  delta: string;
}

// ---------------------------------------------------------------- the operator's money

/** The operator's payout record (core/payouts.ts payoutKey) and the prefix of its voucher movements' ids. */
const OPERATOR_PAYOUT_KEY = { pk: `payout:${OPERATOR_PAYEE_ID}`, sk: "w" };
const OPERATOR_VOUCHER_MOVEMENT = `voucher:${OPERATOR_PAYEE_ID}:`;
const isOperatorAccount = (account: string) => account === OPERATOR_VOUCHER_ACCOUNT || isOperatorFeeAccount(account);

/** The operator's books, as sums over the ledger's movements and the balances (kept incrementally, or recomputed at quiescence). */
export interface OperatorBooks {
  /** fees credited to the shards by settlements and tab closes */
  settled: bigint;
  /** moved into opr:vouchers by the operator's vouchers */
  vouchered: bigint;
  /** paid out of opr:vouchers by redemptions the watcher booked */
  booked: bigint;
  /** the shards' available, summed (from the balances, not the movements) */
  shards: bigint;
  /** opr:vouchers' available */
  vouchers: bigint;
  /** the cumulative the operator's payout record says was vouchered */
  issued: bigint;
  /** the cumulative of the issued-voucher record of the operator's address (what the watcher matches its redemptions with) */
  claimed: bigint;
}

export const emptyOperatorBooks = (): OperatorBooks => ({
  settled: 0n,
  vouchered: 0n,
  booked: 0n,
  shards: 0n,
  vouchers: 0n,
  issued: 0n,
  claimed: 0n,
});

/**
 * One movement's part in the operator's books (added to `b`), and a sentence when it posts to the
 * operator's accounts although no movement of its kind may: fees come in by settlements and tab
 * closes (to the shards only), move by the operator's vouchers (shards to opr:vouchers), go out by
 * redemptions (out of opr:vouchers only).
 */
function bookOperator(b: OperatorBooks, pk: string, postings: Posting[]): string | undefined {
  const mine = postings.filter((p) => isOperatorAccount(p.account));
  if (!mine.length) return undefined;
  const kind = pk.slice(0, pk.indexOf(":"));
  const stray = (p: Posting) => `movement ${pk} posts ${p.delta} to the operator's ${p.account}, which no ${kind} movement may`;
  for (const p of mine) {
    const d = BigInt(p.delta);
    if (p.field !== "available") return stray(p);
    if (kind === "settle" || kind === "tabclose") {
      if (p.account === OPERATOR_VOUCHER_ACCOUNT || d < 0n) return stray(p);
      b.settled += d;
    } else if (pk.startsWith(OPERATOR_VOUCHER_MOVEMENT)) {
      if (p.account === OPERATOR_VOUCHER_ACCOUNT) b.vouchered += d;
    } else if (kind === "chain" && p.account === OPERATOR_VOUCHER_ACCOUNT && d <= 0n) b.booked -= d;
    else return stray(p);
  }
  return undefined;
}

/**
 * The operator's books recomputed from the whole store (at quiescence), and the movements that post
 * to its accounts though none of their kind may. `movements`: the ledger's items and the job items'
 * movement records (default: read from the store).
 */
export function operatorBooksOf(store: SimStore, movements?: Iterable<Item>): OperatorBooks & { stray: string[] } {
  const b = { ...emptyOperatorBooks(), stray: [] as string[] };
  const all = movements ?? [...store.items("ledger"), ...[...store.items("jobs")].flatMap((j) => jobMovementRecords(j))];
  for (const m of all) {
    const stray = bookOperator(b, m.pk, (m.postings ?? []) as Posting[]);
    if (stray) b.stray.push(stray);
  }
  for (const a of store.items("accounts")) {
    if (a.pk === OPERATOR_VOUCHER_ACCOUNT) b.vouchers += big(a.available);
    else if (isOperatorFeeAccount(a.pk)) b.shards += big(a.available);
  }
  const payout = store.item("chain", OPERATOR_PAYOUT_KEY);
  b.issued = big(payout?.cumulative);
  // vault v2: the issued-voucher record is the payee's (payeeHex of its id), not the address's
  if (payout) b.claimed = big(store.item("chain", issuedVoucherKey(payeeHex(OPERATOR_PAYEE_ID)))?.cumulative);
  return b;
}

/** The operator's books against each other, and the vault's payments to its address against them. */
export function operatorProblems(b: OperatorBooks, oracle: Oracle): string[] {
  const v: string[] = [];
  if (b.shards + b.vouchers + b.booked !== b.settled)
    v.push(
      `the operator's fees do not add up: ${b.shards} in the shards + ${b.vouchers} in ${OPERATOR_VOUCHER_ACCOUNT} + ${b.booked} paid out = ${b.shards + b.vouchers + b.booked}, the fees settled are ${b.settled}`,
    );
  if (b.vouchers + b.booked !== b.issued)
    v.push(
      `the operator was vouchered a cumulative ${b.issued}, but ${OPERATOR_VOUCHER_ACCOUNT} holds ${b.vouchers} and ${b.booked} was paid out of it (${b.vouchers + b.booked} moved)`,
    );
  if (b.claimed > b.issued) v.push(`the operator's issued-voucher record says ${b.claimed} was signed, its payout record ${b.issued}`);
  const paid = oracle.operatorPayout !== undefined ? oracle.chain?.paid?.(payeeHex(OPERATOR_PAYEE_ID)) : undefined;
  if (paid !== undefined) v.push(...operatorPaidProblems(b, paid));
  return v;
}

/** The vault's payments to the operator's address against its books (also checked right after each redemption). */
export function operatorPaidProblems(b: OperatorBooks, paid: bigint): string[] {
  const v: string[] = [];
  if (paid > b.settled) v.push(`the vault paid the operator ${paid}, more than the fees settled (${b.settled})`);
  else if (paid > b.issued) v.push(`the vault paid the operator ${paid}, more than it was vouchered (${b.issued})`);
  if (b.booked > paid) v.push(`the watcher booked ${b.booked} paid to the operator, the vault paid it ${paid}`);
  return v;
}

// ---------------------------------------------------------------- the workers' money

/** The worker whose earnings (`wrk:<id>`) or issued vouchers (`vch:<id>`) an account is, if either. */
export const payeeWorkerOf = (account: string) => /^(?:wrk|vch):(.+)$/.exec(account)?.[1];

/** A worker's books, as the operator's (OperatorBooks): `shards` is `wrk:<id>`'s available, `vouchers` `vch:<id>`'s. */
export interface WorkerBooks extends OperatorBooks {
  /** the address its payout record binds (what the vault pays it at) */
  address?: string;
}

/**
 * One movement's part in the workers' books (added to `books`), and a sentence when it posts to a
 * worker's payout accounts although no movement of its kind may: credits come in by settlements
 * and tab closes (to `wrk:` only), move by the worker's own vouchers (its `wrk:` to its `vch:`),
 * go out by redemptions (out of `vch:` only). Returns the workers it touched.
 */
function bookWorkers(books: Map<string, WorkerBooks>, pk: string, postings: Posting[], stray: string[]): string[] {
  const touched: string[] = [];
  const kind = pk.slice(0, pk.indexOf(":"));
  for (const p of postings) {
    const id = payeeWorkerOf(p.account);
    if (id === undefined) continue;
    const b = books.get(id) ?? { ...emptyOperatorBooks() };
    books.set(id, b);
    touched.push(id);
    const d = BigInt(p.delta);
    const earnings = p.account.startsWith("wrk:");
    const bad = () => stray.push(`movement ${pk} posts ${p.delta} to ${p.account}'s ${p.field}, which no ${kind} movement may`);
    if (p.field !== "available") bad();
    else if (kind === "settle" || kind === "tabclose") {
      if (!earnings || d < 0n) bad();
      else b.settled += d;
    } else if (kind === "voucher") {
      // the worker's own voucher only (voucher:<workerId>:<cumulative>): its wrk: out, its vch: in
      if (!pk.startsWith(`voucher:${id}:`) || (earnings ? d > 0n : d < 0n)) bad();
      else if (!earnings) b.vouchered += d;
    } else if (kind === "chain" && !earnings && d <= 0n) b.booked -= d;
    else bad();
  }
  return touched;
}

/**
 * The workers' books recomputed from the whole store (at quiescence), and the movements that post
 * to their payout accounts though none of their kind may.
 */
export function workerBooksOf(store: SimStore, movements: Iterable<Item>): { books: Map<string, WorkerBooks>; stray: string[] } {
  const books = new Map<string, WorkerBooks>();
  const stray: string[] = [];
  const of = (id: string) => books.get(id) ?? (books.set(id, { ...emptyOperatorBooks() }), books.get(id)!);
  for (const m of movements) bookWorkers(books, m.pk, (m.postings ?? []) as Posting[], stray);
  for (const a of store.items("accounts")) {
    const id = payeeWorkerOf(a.pk);
    if (id !== undefined) of(id)[a.pk.startsWith("wrk:") ? "shards" : "vouchers"] += big(a.available);
  }
  for (const r of store.items("chain")) {
    if (r.sk !== "w" || !r.pk.startsWith("payout:") || r.pk === OPERATOR_PAYOUT_KEY.pk) continue;
    const b = of(r.pk.slice("payout:".length));
    b.issued = big(r.cumulative);
    b.address = String(r.address);
    b.claimed = big(store.item("chain", issuedVoucherKey(payeeHex(r.pk.slice("payout:".length))))?.cumulative);
  }
  return { books, stray };
}

/** One worker's books against each other, and the vault's payments to its address against them. */
export function workerProblems(id: string, b: WorkerBooks, oracle: Oracle): string[] {
  const v: string[] = [];
  if (b.shards + b.vouchers + b.booked !== b.settled)
    v.push(
      `worker ${id}'s credits do not add up: ${b.shards} in wrk: + ${b.vouchers} in vch: + ${b.booked} paid out = ${b.shards + b.vouchers + b.booked}, its settled credits are ${b.settled}`,
    );
  if (b.vouchers + b.booked !== b.issued)
    v.push(
      `worker ${id} was vouchered a cumulative ${b.issued}, but vch:${id} holds ${b.vouchers} and ${b.booked} was paid out of it (${b.vouchers + b.booked} moved)`,
    );
  if (b.claimed > b.issued) v.push(`worker ${id}'s issued-voucher record says ${b.claimed} was signed, its payout record ${b.issued}`);
  const paid = b.address !== undefined ? oracle.chain?.paid?.(payeeHex(id)) : undefined;
  if (paid !== undefined) v.push(...workerPaidProblems(id, b, paid));
  return v;
}

/** The vault's payments to a worker's payout address against its books (also checked right after each of its redemptions). */
export function workerPaidProblems(id: string, b: WorkerBooks, paid: bigint): string[] {
  const v: string[] = [];
  if (paid > b.settled) v.push(`the vault paid worker ${id} ${paid}, more than its settled credits (${b.settled})`);
  else if (paid > b.issued) v.push(`the vault paid worker ${id} ${paid}, more than it was vouchered (${b.issued})`);
  if (b.booked > paid) v.push(`the watcher booked ${b.booked} paid to worker ${id}, the vault paid it ${paid}`);
  return v;
}

/** A payout record's or issued-voucher record's cumulative may only grow, and its address never changes (empty: it did not). */
function voucherRecordProblems(pk: string, before: Item | undefined, after: Item | undefined): string[] {
  if (!before) return [];
  if (!after) return [`${pk} (cumulative ${String(before.cumulative)}) was deleted`];
  const v: string[] = [];
  if (big(after.cumulative) < big(before.cumulative))
    v.push(`${pk}'s cumulative went down from ${String(before.cumulative)} to ${String(after.cumulative)}`);
  if (after.address !== before.address || after.workerId !== before.workerId)
    v.push(
      `${pk} was bound to ${String(before.workerId)} at ${String(before.address)}, now ${String(after.workerId)} at ${String(after.address)}`,
    );
  return v;
}
const isVoucherRecord = (pk: string) => pk.startsWith("payout:") || pk.startsWith("voucher:");

export function checkStore(store: SimStore, oracle: Oracle): string[] {
  const v: string[] = [];
  const ledger = new Map<string, Item>();
  for (const m of store.items("ledger")) ledger.set(m.pk, m);
  // a job's hold and settlement are recorded by its job item (issue 12)
  for (const j of store.items("jobs")) for (const m of jobMovementRecords(j)) ledger.set(m.pk, m);

  // ---- the ledger
  const replayed = new Map<string, { available: bigint; held: bigint }>();
  for (const m of ledger.values()) {
    const postings = (m.postings ?? []) as Posting[];
    let sum = 0n;
    for (const p of postings) {
      const d = BigInt(p.delta);
      sum += d;
      const r = replayed.get(p.account) ?? { available: 0n, held: 0n };
      r[p.field] += d;
      replayed.set(p.account, r);
    }
    if (sum !== 0n) v.push(`movement ${m.pk} does not balance (its postings sum to ${sum})`);
  }
  const accounts = new Map<string, { available: bigint; held: bigint }>();
  let total = 0n;
  for (const a of store.items("accounts")) {
    const b = { available: big(a.available), held: big(a.held) };
    accounts.set(a.pk, b);
    total += b.available + b.held;
    const r = replayed.get(a.pk) ?? { available: 0n, held: 0n };
    if (r.available !== b.available || r.held !== b.held)
      v.push(`${a.pk} is ${b.available}/${b.held} (available/held) but its movements add up to ${r.available}/${r.held}`);
    if (!a.pk.startsWith("ext:") && (b.available < 0n || b.held < 0n))
      v.push(`internal account ${a.pk} is negative: ${b.available}/${b.held}`);
  }
  for (const [id, r] of replayed)
    if (!accounts.has(id) && (r.available !== 0n || r.held !== 0n))
      v.push(`movements post ${r.available}/${r.held} to ${id}, which has no balance`);
  if (total !== 0n) v.push(`the ledger sums to ${total}, not 0`);

  // ---- the operator's money: fees settled = shards + opr:vouchers + paid out; vouchered = opr:vouchers + paid out
  const opr = operatorBooksOf(store, ledger.values());
  v.push(...opr.stray, ...operatorProblems(opr, oracle));
  // ---- each worker's money: settled credits = wrk + vch + paid out; vouchered = vch + paid out
  const wrk = workerBooksOf(store, ledger.values());
  v.push(...wrk.stray);
  for (const [id, b] of wrk.books) v.push(...workerProblems(id, b, oracle));

  // ---- the chain: once per transaction, never more than the vault records
  const byTx = new Map<string, string>();
  const credited = new Map<string, bigint>();
  const debited = new Map<string, bigint>();
  for (const m of ledger.values()) {
    const postings = (m.postings ?? []) as Posting[];
    const chainLeg = postings.find((p) => p.account === "ext:chain");
    if (!chainLeg) continue;
    const tx = (m.meta as Record<string, string> | undefined)?.txHash;
    if (tx !== undefined) {
      const prior = byTx.get(tx);
      if (prior !== undefined) v.push(`vault transaction ${tx} moved money twice: movements ${prior} and ${m.pk}`);
      byTx.set(tx, m.pk);
    }
    for (const p of postings) {
      const owner = /^(?:req|wdr):(.+)$/.exec(p.account)?.[1];
      if (!owner) continue;
      const d = BigInt(p.delta);
      if (m.kind === "deposit") credited.set(owner, (credited.get(owner) ?? 0n) + d);
      else if (m.kind === "withdrawal") debited.set(owner, (debited.get(owner) ?? 0n) - d);
    }
  }
  if (oracle.chain) {
    for (const [owner, c] of credited)
      if (c > oracle.chain.deposited(owner))
        v.push(`req:${owner} was credited ${c} in deposits, the vault records ${oracle.chain.deposited(owner)} deposited`);
    for (const [owner, d] of debited)
      if (d > oracle.chain.withdrawn(owner))
        v.push(`req:${owner} was debited ${d} in landed withdrawals, the vault records ${oracle.chain.withdrawn(owner)} withdrawn`);
  }

  // ---- jobs: held = open per-job jobs' maximum cost + open tabs' slots × slotCost; each job's and tab's money matches its state
  const openCost = new Map<string, bigint>();
  for (const j of store.items("jobs")) {
    // issue 12: an open tab holds its slots; a job under a tab holds nothing of its own
    if (j.sk === "tab") {
      if (j.status === "open") openCost.set(String(j.requester), (openCost.get(String(j.requester)) ?? 0n) + tabAmount(j));
      v.push(...tabProblems(store, oracle, String(j.pk)));
      continue;
    }
    if (j.sk !== "job") continue;
    if (j.status === "assigned" && j.tab === undefined)
      openCost.set(String(j.requester), (openCost.get(String(j.requester)) ?? 0n) + big(j.maxCost));
    v.push(...jobProblems(store, oracle, String(j.jobId)));
  }
  for (const m of ledger.values()) {
    const [kind, id] = [m.pk.slice(0, m.pk.indexOf(":")), m.pk.slice(m.pk.indexOf(":") + 1)];
    if ((kind === "hold" || kind === "settle" || kind === "refund") && !store.item("jobs", { pk: id, sk: "job" }))
      v.push(`movement ${m.pk} has no job`);
  }
  for (const [id, b] of accounts) {
    const requester = id.startsWith("req:") ? id.slice(4) : undefined;
    const want = requester ? (openCost.get(requester) ?? 0n) : 0n;
    if (b.held !== want) v.push(`${id} holds ${b.held}, its open jobs' maximum cost and open tabs' slots sum to ${want}`);
  }
  for (const [r, cost] of openCost)
    if (!accounts.has(`req:${r}`)) v.push(`open jobs or tabs of ${r} (holding ${cost}) but no account holds it`);

  // ---- reserved = pending withdrawals
  const pending = new Map<string, bigint>();
  for (const w of store.items("chain")) {
    if (!w.pk.startsWith("wd:") || w.reserved !== true) continue;
    if (w.status === "pending") pending.set(String(w.account), (pending.get(String(w.account)) ?? 0n) + big(w.amount));
  }
  const owners = new Set([...pending.keys(), ...[...accounts.keys()].filter((a) => a.startsWith("wdr:")).map((a) => a.slice(4))]);
  for (const owner of owners) {
    const reserved = accounts.get(`wdr:${owner}`) ?? { available: 0n, held: 0n };
    const want = pending.get(owner) ?? 0n;
    if (reserved.available !== want || reserved.held !== 0n)
      v.push(`wdr:${owner} reserves ${reserved.available} (held ${reserved.held}), its pending withdrawals sum to ${want}`);
  }
  return v;
}

/** Why a settlement is not backed by a verified receipt for that job (empty: it is). */
function settlementProblems(job: Item, settle: Item, oracle: Oracle): string[] {
  const p: string[] = [];
  const digest = job.resultDigest as string | undefined;
  if (!digest) return ["the job pins no result"];
  if (oracle.forged.has(digest)) return ["the billed result is one the simulator FORGED"];
  const honest = oracle.honest.get(digest);
  if (!honest) return ["the billed result is none an agent produced"];
  const attempt = Number(job.attempt);
  const candidate = (job.candidates as Array<{ workerId: string; pricePerToken: string }>)[attempt];
  if (honest.jobId !== job.jobId) p.push(`the result was produced for job ${honest.jobId}`);
  if (honest.attempt !== attempt) p.push(`the result was produced for attempt ${honest.attempt}, the job completed at ${attempt}`);
  if (!candidate || honest.workerId !== candidate.workerId) p.push("the result's worker is not the candidate at that attempt");
  const key = oracle.workerKeys.get(honest.workerId);
  if (!key || !verifyReceipt(honest.receipt, key)) p.push("the receipt's signature does not verify with the worker's key");
  if (honest.receipt.body.requestHash !== job.requestHash) p.push("the receipt covers another request");
  const meta = (settle.meta ?? {}) as Record<string, string>;
  if (meta.worker !== honest.workerId) p.push(`the settlement credits ${meta.worker}, the receipt is ${honest.workerId}'s`);
  // billed at the price and weights it was quoted, whatever the worker or the registry asks now
  const quoted = quoteOf(job, oracle);
  p.push(...quoted.problems);
  if (candidate) {
    const held = big(job.maxCost);
    const raw = oracleCost(quotedPricing(oracle, quoted.quote), BigInt(candidate.pricePerToken), honest.receipt.body.usage);
    const want = raw > held ? held : raw;
    const postings = (settle.postings ?? []) as Posting[];
    const credited = postings.filter((x) => x.account === `wrk:${honest.workerId}`).reduce((s, x) => s + BigInt(x.delta), 0n);
    const released = postings
      .filter((x) => x.account === `req:${job.requester}` && x.field === "held")
      .reduce((s, x) => s + BigInt(x.delta), 0n);
    // split by the job's own fee (feeProblems holds it to the one in force at its submit), not the fee of the moment
    const fee = oracleFee(want, jobFeeBps(job));
    // the operator's fee goes to the worker's own fee shard; a posting to any other shard is one of the "others"
    const shard = operatorFeeAccount(honest.workerId);
    const toOperator = postings.filter((x) => x.account === shard).reduce((s, x) => s + BigInt(x.delta), 0n);
    const others = postings.filter(
      (x) => x.account !== `wrk:${honest.workerId}` && x.account !== `req:${job.requester}` && x.account !== shard,
    );
    // the charge, whoever it went to; then its split: the operator exactly its fee, the worker the rest
    if (credited + toOperator !== want)
      p.push(`charged ${credited + toOperator}, the receipt's usage at the candidate's price costs ${want}`);
    else if (toOperator !== fee)
      p.push(`credited the worker ${credited} and the operator ${toOperator} of ${want}, the operator's fee on it is ${fee}`);
    if (others.length) p.push(`the settlement posts to ${others.map((x) => x.account).join(", ")}`);
    p.push(...feeProblems(job, oracle));
    if (big(job.cost) !== want) p.push(`the job says it cost ${job.cost}, the receipt's usage costs ${want}`);
    if (released !== -held) p.push(`the settlement released ${-released} of a ${held} hold`);
  }
  return p;
}

// ---------------------------------------------------------------- incremental

type Balance = { available: bigint; held: bigint };
const ZERO: Balance = { available: 0n, held: 0n };

/**
 * The same invariants as checkStore, kept up to date from each committed item (`observe`) and
 * evaluated for what changed since the last `check`: the simulation checks after every step
 * at O(changes) instead of O(store). checkStore (a full recomputation) runs at quiescence, so
 * a slip in this bookkeeping cannot hide a violation for good. Also: a ledger movement, once
 * written, never changes.
 */
export class IncrementalChecker {
  private readonly replay = new Map<string, Balance>();
  private readonly balances = new Map<string, Balance>();
  private total = 0n;
  private readonly movements = new Map<string, string>(); // pk → canonical postings (immutable)
  private readonly byTx = new Map<string, string>();
  private readonly credited = new Map<string, bigint>();
  private readonly debited = new Map<string, bigint>();
  private readonly jobs = new Map<string, { requester: string; open: bigint }>();
  private readonly openCost = new Map<string, bigint>();
  private readonly pending = new Map<string, { owner: string; amount: bigint }>();
  private readonly pendingByOwner = new Map<string, bigint>();
  private readonly dirtyAccounts = new Set<string>();
  private readonly dirtyJobs = new Set<string>();
  /** jobId → when it was cancelled and the attempt it was at then (JobItem.cancelledAt) */
  private readonly cancels = new Map<string, { at: unknown; attempt: number }>();
  private readonly dirtyTabs = new Set<string>();
  /** tabId → the closed tab's terms and totals, which no later write may change */
  private readonly closedTabs = new Map<string, string>();
  private readonly dirtyRequesters = new Set<string>();
  private readonly dirtyOwners = new Set<string>();
  private readonly dirtyChainOwners = new Set<string>();
  /** the operator's books (see OperatorBooks), and whether they changed since the last check */
  private readonly opr = emptyOperatorBooks();
  private oprDirty = false;
  /** payout and issued-voucher records (chain table), as last written: their cumulative only grows */
  private readonly voucherRecords = new Map<string, Item>();
  /** each worker's books (see WorkerBooks), and the workers whose books changed since the last check */
  private readonly wrk = new Map<string, WorkerBooks>();
  private readonly dirtyWorkers = new Set<string>();
  /** jobs now assigned (in flight), tabs' included: what an operator ask interleaves with (the sim's ask histogram) */
  private readonly inFlight = new Set<string>();
  private found: string[] = [];

  observe(table: string, key: { pk: string; sk: string }, item: Item | undefined) {
    if (table === "ledger") this.observeMovement(key.pk, item);
    else if (table === "accounts") {
      const old = this.balances.get(key.pk) ?? ZERO;
      const now = item ? { available: big(item.available), held: big(item.held) } : ZERO;
      this.total += now.available + now.held - old.available - old.held;
      this.balances.set(key.pk, now);
      this.dirtyAccounts.add(key.pk);
      const payee = payeeWorkerOf(key.pk);
      if (payee !== undefined) {
        this.workerBooks(payee)[key.pk.startsWith("wrk:") ? "shards" : "vouchers"] += now.available - old.available;
        this.dirtyWorkers.add(payee);
      }
      if (key.pk === OPERATOR_VOUCHER_ACCOUNT || isOperatorFeeAccount(key.pk)) {
        this.opr[key.pk === OPERATOR_VOUCHER_ACCOUNT ? "vouchers" : "shards"] += now.available - old.available;
        this.oprDirty = true;
      }
      if (key.pk.startsWith("req:")) this.dirtyRequesters.add(key.pk.slice(4));
      if (key.pk.startsWith("wdr:")) this.dirtyOwners.add(key.pk.slice(4));
    } else if (table === "jobs" && key.sk === "job") {
      // the job item records its hold and its settlement (issue 12)
      for (const m of item ? jobMovementRecords(item) : []) this.observeMovement(m.pk, m);
      const old = this.jobs.get(key.pk);
      if (old) this.openCost.set(old.requester, (this.openCost.get(old.requester) ?? 0n) - old.open);
      const requester = String(item?.requester);
      const open = item?.status === "assigned" && item.tab === undefined ? big(item.maxCost) : 0n;
      if (item) {
        this.jobs.set(key.pk, { requester, open });
        this.openCost.set(requester, (this.openCost.get(requester) ?? 0n) + open);
        this.dirtyRequesters.add(requester);
      } else this.jobs.delete(key.pk);
      if (old) this.dirtyRequesters.add(old.requester);
      this.dirtyJobs.add(key.pk);
      if (item?.status === "assigned") this.inFlight.add(key.pk);
      else this.inFlight.delete(key.pk);
      this.observeCancel(key.pk, item);
      // a job under a tab: its tab's close must still account for it (a job that appears or ends after the close)
      if (item?.tab !== undefined) this.dirtyTabs.add(String(item.tab));
    } else if (table === "jobs" && key.sk === "tab") {
      // issue 12: an open tab holds slots × slotCost for its requester
      const old = this.jobs.get(key.pk);
      if (old) this.openCost.set(old.requester, (this.openCost.get(old.requester) ?? 0n) - old.open);
      if (item) {
        const requester = String(item.requester);
        const open = item.status === "open" ? tabAmount(item) : 0n;
        this.jobs.set(key.pk, { requester, open });
        this.openCost.set(requester, (this.openCost.get(requester) ?? 0n) + open);
        this.dirtyRequesters.add(requester);
      }
      this.dirtyTabs.add(key.pk);
      // at most one close: a closed tab never changes again (nor opens again)
      const closed = this.closedTabs.get(key.pk);
      const now =
        item?.status === "closed" ? JSON.stringify([item.cost, item.completed, item.closedAt, item.slots, item.slotCost]) : undefined;
      if (closed !== undefined && closed !== now)
        this.found.push(`tab ${key.pk} was closed, then written again: ${closed} → ${now ?? JSON.stringify(item?.status ?? "deleted")}`);
      else if (now !== undefined) this.closedTabs.set(key.pk, now);
    } else if (table === "chain" && isVoucherRecord(key.pk)) {
      this.found.push(...voucherRecordProblems(key.pk, this.voucherRecords.get(key.pk), item));
      if (item) this.voucherRecords.set(key.pk, item);
      if (key.pk === OPERATOR_PAYOUT_KEY.pk) this.opr.issued = big(item?.cumulative);
      else if (item?.workerId === OPERATOR_PAYEE_ID) this.opr.claimed = big(item.cumulative);
      else {
        // a worker's payout record (payout:<id>) or the issued-voucher record of its address (voucher:<address>)
        const id = key.pk.startsWith("payout:") ? key.pk.slice("payout:".length) : item?.workerId;
        if (typeof id !== "string") return;
        const b = this.workerBooks(id);
        if (key.pk.startsWith("payout:")) {
          b.issued = big(item?.cumulative);
          b.address = item ? String(item.address) : undefined;
        } else b.claimed = big(item?.cumulative);
        this.dirtyWorkers.add(id);
        return;
      }
      this.oprDirty = true;
    } else if (table === "chain" && key.pk.startsWith("wd:")) {
      const old = this.pending.get(key.pk);
      if (old) this.pendingByOwner.set(old.owner, (this.pendingByOwner.get(old.owner) ?? 0n) - old.amount);
      this.pending.delete(key.pk);
      if (item && item.reserved === true && item.status === "pending") {
        const owner = String(item.account);
        this.pending.set(key.pk, { owner, amount: big(item.amount) });
        this.pendingByOwner.set(owner, (this.pendingByOwner.get(owner) ?? 0n) + big(item.amount));
      }
      if (old) this.dirtyOwners.add(old.owner);
      if (item) this.dirtyOwners.add(String(item.account));
    }
  }

  private observeMovement(pk: string, m: Item | undefined) {
    const canonical = JSON.stringify(m?.postings ?? null);
    const prior = this.movements.get(pk);
    if (prior !== undefined) {
      if (prior !== canonical) this.found.push(`ledger movement ${pk} was rewritten (postings ${prior} → ${canonical})`);
      return;
    }
    if (!m) return;
    this.movements.set(pk, canonical);
    const postings = (m.postings ?? []) as Posting[];
    let sum = 0n;
    for (const p of postings) {
      const d = BigInt(p.delta);
      sum += d;
      const r = this.replay.get(p.account) ?? { ...ZERO };
      r[p.field] += d;
      this.replay.set(p.account, r);
      this.dirtyAccounts.add(p.account);
    }
    if (sum !== 0n) this.found.push(`movement ${pk} does not balance (its postings sum to ${sum})`);
    if (postings.some((p) => payeeWorkerOf(p.account) !== undefined))
      for (const id of bookWorkers(this.wrk, pk, postings, this.found)) this.dirtyWorkers.add(id);
    if (postings.some((p) => isOperatorAccount(p.account))) {
      const stray = bookOperator(this.opr, pk, postings);
      if (stray) this.found.push(stray);
      this.oprDirty = true;
    }
    const kind = pk.slice(0, pk.indexOf(":"));
    if (kind === "hold" || kind === "settle" || kind === "refund") this.dirtyJobs.add(pk.slice(kind.length + 1));
    if (kind === "tab" || kind === "tabclose") this.dirtyTabs.add(pk.slice(kind.length + 1));
    if (!postings.some((p) => p.account === "ext:chain")) return;
    const tx = (m.meta as Record<string, string> | undefined)?.txHash;
    if (tx !== undefined) {
      const first = this.byTx.get(tx);
      if (first !== undefined) this.found.push(`vault transaction ${tx} moved money twice: movements ${first} and ${pk}`);
      else this.byTx.set(tx, pk);
    }
    for (const p of postings) {
      const owner = /^(?:req|wdr):(.+)$/.exec(p.account)?.[1];
      if (!owner) continue;
      if (m.kind === "deposit") this.credited.set(owner, (this.credited.get(owner) ?? 0n) + BigInt(p.delta));
      else if (m.kind === "withdrawal") this.debited.set(owner, (this.debited.get(owner) ?? 0n) - BigInt(p.delta));
      this.dirtyChainOwners.add(owner);
    }
  }

  /**
   * A job's cancel (core/jobs/cancel.ts): once written its time never changes or goes, and it is
   * written only while the job is assigned; outcome "cancelled" only on a cancelled job.
   */
  private observeCancel(jobId: string, item: Item | undefined) {
    const first = this.cancels.get(jobId);
    const at = item?.cancelledAt;
    if (first !== undefined && item !== undefined && at !== first.at)
      this.found.push(`job ${jobId}'s cancelledAt was ${String(first.at)}, then written as ${String(at)}`);
    if (first === undefined && at !== undefined) {
      if (item!.status !== "assigned")
        this.found.push(`job ${jobId} was cancelled in the same write that ended it (${String(item!.status)})`);
      this.cancels.set(jobId, { at, attempt: Number(item!.attempt) });
    }
    if (item?.outcome === "cancelled" && at === undefined) this.found.push(`job ${jobId} was refunded as cancelled, but never cancelled`);
  }

  /** The operator's books as of the last commit (the simulator holds the vault's payments against them when it redeems). */
  operatorBooks(): OperatorBooks {
    return { ...this.opr };
  }

  private workerBooks(id: string): WorkerBooks {
    let b = this.wrk.get(id);
    if (!b) this.wrk.set(id, (b = { ...emptyOperatorBooks() }));
    return b;
  }

  /** A worker's books as of the last commit (the simulator holds the vault's payments and its vouchers against them). */
  workerBooksOf(id: string): WorkerBooks {
    return { ...this.workerBooks(id) };
  }

  /** An account's available balance as of the last commit (what a payee watching its balance sees). */
  available(account: string): bigint {
    return this.balances.get(account)?.available ?? 0n;
  }

  /** How many jobs are assigned (in flight) as of the last commit. */
  jobsInFlight(): number {
    return this.inFlight.size;
  }

  /** The attempt job `jobId` was at when its cancel committed, or undefined while it is not cancelled. */
  cancelledAttempt(jobId: string): number | undefined {
    return this.cancels.get(jobId)?.attempt;
  }

  /** The violations among what changed since the last call. */
  check(store: SimStore, oracle: Oracle): string[] {
    const v = this.found;
    this.found = [];
    if (this.total !== 0n) v.push(`the ledger sums to ${this.total}, not 0`);
    for (const id of this.dirtyAccounts) {
      const b = this.balances.get(id);
      const r = this.replay.get(id) ?? ZERO;
      if (!b) {
        if (r.available !== 0n || r.held !== 0n) v.push(`movements post ${r.available}/${r.held} to ${id}, which has no balance`);
        continue;
      }
      if (r.available !== b.available || r.held !== b.held)
        v.push(`${id} is ${b.available}/${b.held} (available/held) but its movements add up to ${r.available}/${r.held}`);
      if (!id.startsWith("ext:") && (b.available < 0n || b.held < 0n))
        v.push(`internal account ${id} is negative: ${b.available}/${b.held}`);
      if (!id.startsWith("req:") && b.held !== 0n) v.push(`${id} holds ${b.held}, its open jobs' maximum cost is 0`);
    }
    for (const r of this.dirtyRequesters) {
      const held = this.balances.get(`req:${r}`)?.held ?? 0n;
      const want = this.openCost.get(r) ?? 0n;
      if (held !== want) v.push(`req:${r} holds ${held}, its open jobs' maximum cost and open tabs' slots sum to ${want}`);
    }
    for (const id of this.dirtyJobs) v.push(...jobProblems(store, oracle, id));
    for (const id of this.dirtyTabs) v.push(...tabProblems(store, oracle, id));
    for (const owner of this.dirtyOwners) {
      const reserved = this.balances.get(`wdr:${owner}`) ?? ZERO;
      const want = this.pendingByOwner.get(owner) ?? 0n;
      if (reserved.available !== want || reserved.held !== 0n)
        v.push(`wdr:${owner} reserves ${reserved.available} (held ${reserved.held}), its pending withdrawals sum to ${want}`);
    }
    if (oracle.chain) {
      for (const owner of this.dirtyChainOwners) {
        const c = this.credited.get(owner) ?? 0n;
        const d = this.debited.get(owner) ?? 0n;
        if (c > oracle.chain.deposited(owner))
          v.push(`req:${owner} was credited ${c} in deposits, the vault records ${oracle.chain.deposited(owner)} deposited`);
        if (d > oracle.chain.withdrawn(owner))
          v.push(`req:${owner} was debited ${d} in landed withdrawals, the vault records ${oracle.chain.withdrawn(owner)} withdrawn`);
      }
    }
    if (this.oprDirty) v.push(...operatorProblems(this.opr, oracle));
    this.oprDirty = false;
    for (const id of this.dirtyWorkers) v.push(...workerProblems(id, this.workerBooks(id), oracle));
    this.dirtyWorkers.clear();
    this.dirtyAccounts.clear();
    this.dirtyJobs.clear();
    this.dirtyTabs.clear();
    this.dirtyRequesters.clear();
    this.dirtyOwners.clear();
    this.dirtyChainOwners.clear();
    return v;
  }
}

/** One job's money against its status (the per-job part of checkStore). */
function jobProblems(store: SimStore, oracle: Oracle, id: string): string[] {
  const v: string[] = [];
  const j = store.item("jobs", { pk: id, sk: "job" });
  const recorded = j ? jobMovementRecords(j) : [];
  const hold = store.item("ledger", { pk: `hold:${id}`, sk: "tx" }) ?? recorded.find((m) => m.pk === `hold:${id}`);
  const settle = store.item("ledger", { pk: `settle:${id}`, sk: "tx" }) ?? recorded.find((m) => m.pk === `settle:${id}`);
  const refund = store.item("ledger", { pk: `refund:${id}`, sk: "tx" });
  if (!j) {
    for (const [m, name] of [
      [hold, "hold"],
      [settle, "settle"],
      [refund, "refund"],
    ] as const)
      if (m) v.push(`movement ${name}:${id} has no job`);
    return v;
  }
  const status = String(j.status);
  // a job carries the fee in force at its submit from the start (a completed one is held to it with its settlement)
  if (status !== "completed") v.push(...feeProblems(j, oracle).map((p) => `job ${id}: ${p}`));
  // and the prices and weights of the quote it was submitted under (a completed one: with its settlement)
  if (status !== "completed") v.push(...quoteOf(j, oracle).problems.map((p) => `job ${id}: ${p}`));
  if (j.tab !== undefined) return [...v, ...tabJobProblems(store, j, oracle, { hold, settle, refund })];
  if (!hold) v.push(`job ${id} exists without its hold`);
  if (status === "assigned") {
    if (settle || refund) v.push(`job ${id} is still assigned but was ${settle ? "settled" : "refunded"}`);
    const n = (j.candidates as unknown[]).length;
    if (!(Number(j.attempt) >= 0 && Number(j.attempt) < n)) v.push(`job ${id} is at attempt ${j.attempt} of ${n} candidates`);
  } else if (status === "completed") {
    if (!settle) v.push(`job ${id} is completed without a settlement`);
    if (refund) v.push(`job ${id} was settled AND refunded`);
    if (settle && !oracle.verifiedSettles.has(id)) {
      const problems = settlementProblems(j, settle, oracle);
      // its receipt where a proof looks for it (core/receipts/read.ts): the time-windowed log at the
      // job item's updatedAt, which the settlement wrote in the same transaction
      if (j.settledInJob === true && !store.item("chain", windowEntryKey(Number(j.updatedAt), id)))
        problems.push(`its receipt is not logged at its updatedAt (${String(j.updatedAt)})`);
      if (problems.length) v.push(`job ${id} was charged without a verified receipt: ${problems.join("; ")}`);
      else oracle.verifiedSettles.add(id);
    }
  } else if (status === "refunded") {
    if (!refund) v.push(`job ${id} is refunded without a refund movement`);
    if (settle) v.push(`job ${id} was refunded AND settled`);
  } else v.push(`job ${id} has status ${status}`);
  return v;
}

// ---------------------------------------------------------------- tabs (issue 12)

const tabAmount = (t: Item) => big(t.slots) * big(t.slotCost);
const tabKeyOf = (tabId: string) => ({ pk: tabId, sk: "tab" });

/**
 * A job under a tab: no money record of its own (no ledger hold, settlement or refund, no
 * holdInJob / settledInJob), taken at one of its own tab's slots (its id the slot's, its
 * maximum within a slot's worth, submitted before the tab expired), and a completed one billed
 * exactly its honest receipt.
 */
function tabJobProblems(store: SimStore, j: Item, oracle: Oracle, own: { hold?: Item; settle?: Item; refund?: Item }): string[] {
  const v: string[] = [];
  const id = String(j.jobId);
  const tabId = String(j.tab);
  for (const [m, name] of [
    [own.hold, "hold"],
    [own.settle, "settle"],
    [own.refund, "refund"],
  ] as const)
    if (m) v.push(`job ${id} under tab ${tabId} has a ${name} movement of its own`);
  if (j.holdInJob !== undefined || j.settledInJob !== undefined)
    v.push(`job ${id} under tab ${tabId} records a ${j.holdInJob !== undefined ? "hold" : "settlement"} of its own`);
  const t = store.item("jobs", tabKeyOf(tabId));
  if (!t) v.push(`job ${id} is under tab ${tabId}, which does not exist`);
  else {
    if (t.requester !== j.requester) v.push(`job ${id} of ${String(j.requester)} is under tab ${tabId} of ${String(t.requester)}`);
    const slot = Number(j.slot);
    if (!(Number.isInteger(slot) && slot >= 0 && slot < Number(t.slots)))
      v.push(`job ${id} takes slot ${String(j.slot)} of tab ${tabId}'s ${String(t.slots)}`);
    else if (tabSlotJobId(tabId, slot) !== id) v.push(`job ${id} takes slot ${slot} of tab ${tabId}, whose job id is another`);
    if (big(j.maxCost) > big(t.slotCost))
      v.push(`job ${id} may cost ${String(j.maxCost)}, above tab ${tabId}'s slot of ${String(t.slotCost)}`);
    if (Number(j.createdAt) > Number(t.expiresAt)) v.push(`job ${id} was taken under tab ${tabId} after the tab expired`);
  }
  const status = String(j.status);
  if (!["assigned", "completed", "refunded"].includes(status)) v.push(`job ${id} has status ${status}`);
  if (status === "completed" && !oracle.verifiedSettles.has(id)) {
    const problems = tabResultProblems(j, oracle);
    if (problems.length) v.push(`job ${id} under a tab was charged without a verified receipt: ${problems.join("; ")}`);
    else oracle.verifiedSettles.add(id);
  }
  return v;
}

/** Why a tab job's cost is not its honest receipt's usage at its candidate's price, capped at its maximum (as for a settlement). */
function tabResultProblems(j: Item, oracle: Oracle): string[] {
  const digest = j.resultDigest as string | undefined;
  if (!digest) return ["the job pins no result"];
  if (oracle.forged.has(digest)) return ["the billed result is one the simulator FORGED"];
  const honest = oracle.honest.get(digest);
  if (!honest) return ["the billed result is none an agent produced"];
  const p: string[] = [];
  const attempt = Number(j.attempt);
  const candidate = (j.candidates as Array<{ workerId: string; pricePerToken: string }>)[attempt];
  if (honest.jobId !== j.jobId) p.push(`the result was produced for job ${honest.jobId}`);
  if (honest.attempt !== attempt) p.push(`the result was produced for attempt ${honest.attempt}, the job completed at ${attempt}`);
  if (!candidate || honest.workerId !== candidate.workerId) p.push("the result's worker is not the candidate at that attempt");
  const key = oracle.workerKeys.get(honest.workerId);
  if (!key || !verifyReceipt(honest.receipt, key)) p.push("the receipt's signature does not verify with the worker's key");
  if (honest.receipt.body.requestHash !== j.requestHash) p.push("the receipt covers another request");
  const quoted = quoteOf(j, oracle);
  p.push(...quoted.problems);
  if (candidate) {
    const raw = oracleCost(quotedPricing(oracle, quoted.quote), BigInt(candidate.pricePerToken), honest.receipt.body.usage);
    const want = raw > big(j.maxCost) ? big(j.maxCost) : raw;
    if (big(j.cost) !== want) p.push(`the job says it cost ${String(j.cost)}, the receipt's usage at the candidate's price costs ${want}`);
  }
  p.push(...feeProblems(j, oracle));
  return p;
}

/**
 * A tab's money against its state: its open moved exactly slots × slotCost from available to
 * held; open ⇔ no close movement; once closed, no job of it still running (or appearing
 * later), each worker credited exactly the costs of the tab's completed jobs whose candidate
 * at the completing attempt it is, the rest of the hold back to the requester, the whole hold
 * released, the tab item's cost and count those of its completed jobs, and each completed
 * job's receipt in the receipt log's inbox. The tab's jobs are found as the checker's own
 * reading: the job items at its slots' ids that name this tab (a job with its own hold that
 * took a slot's id is not the tab's to pay).
 */
function tabProblems(store: SimStore, oracle: Oracle, tabId: string): string[] {
  const t = store.item("jobs", tabKeyOf(tabId));
  const close = store.item("ledger", { pk: `tabclose:${tabId}`, sk: "tx" });
  const open = store.item("ledger", { pk: `tab:${tabId}`, sk: "tx" });
  if (!t) return close || open ? [`tab ${tabId} has movements but no tab item`] : [];
  const v: string[] = [];
  const amount = tabAmount(t);
  const req = `req:${String(t.requester)}`;
  const sum = (m: Item, account: string, field: string) =>
    ((m.postings ?? []) as Posting[]).filter((x) => x.account === account && x.field === field).reduce((a, x) => a + BigInt(x.delta), 0n);
  if (!open) v.push(`tab ${tabId} exists without its hold`);
  else if (sum(open, req, "held") !== amount || sum(open, req, "available") !== -amount || (open.postings as Posting[]).length !== 2)
    v.push(`tab ${tabId}'s open moved ${JSON.stringify(open.postings)}, not its ${amount} (slots × slotCost) from available to held`);
  if (t.status !== "open" && t.status !== "closed") v.push(`tab ${tabId} has status ${String(t.status)}`);
  if ((t.status === "closed") !== (close !== undefined))
    v.push(`tab ${tabId} is ${String(t.status)} but its close movement ${close ? "exists" : "does not"}`);
  if (!close) return v;
  const jobs = Array.from({ length: Number(t.slots) }, (_, i) => store.item("jobs", { pk: tabSlotJobId(tabId, i), sk: "job" })).filter(
    (j): j is Item => j !== undefined && j.tab === tabId,
  );
  if (jobs.some((j) => j.status === "assigned")) v.push(`tab ${tabId} is closed while a job of it is still running`);
  const completed = jobs.filter((x) => x.status === "completed");
  // each worker is owed its jobs' costs less each job's operator fee (floored per job), the operator the fees
  // (each fee in its worker's operator fee shard, so per shard the fees of the workers in it)
  const owed = new Map<string, bigint>();
  const feesByShard = new Map<string, bigint>();
  let total = 0n;
  let fees = 0n;
  for (const j of completed) {
    const workerId = (j.candidates as Array<{ workerId: string }>)[Number(j.attempt)]!.workerId;
    const w = `wrk:${workerId}`;
    const fee = oracleFee(big(j.cost), jobFeeBps(j));
    owed.set(w, (owed.get(w) ?? 0n) + big(j.cost) - fee);
    if (fee > 0n) feesByShard.set(operatorFeeAccount(workerId), (feesByShard.get(operatorFeeAccount(workerId)) ?? 0n) + fee);
    total += big(j.cost);
    fees += fee;
  }
  const postings = (close.postings ?? []) as Posting[];
  const posted = new Map<string, bigint>();
  const toShards = new Map<string, bigint>();
  let toOperator = 0n;
  for (const x of postings) {
    if (x.account.startsWith("wrk:")) posted.set(x.account, (posted.get(x.account) ?? 0n) + BigInt(x.delta));
    else if (isOperatorFeeAccount(x.account)) {
      toOperator += BigInt(x.delta);
      toShards.set(x.account, (toShards.get(x.account) ?? 0n) + BigInt(x.delta));
    } else if (x.account !== req) v.push(`tab ${tabId}'s close posts ${x.delta} to ${x.account}`);
  }
  for (const s of new Set([...feesByShard.keys(), ...toShards.keys()]))
    if ((toShards.get(s) ?? 0n) !== (feesByShard.get(s) ?? 0n))
      v.push(`tab ${tabId}'s close paid ${s} ${toShards.get(s) ?? 0n}, the fees of its workers there are ${feesByShard.get(s) ?? 0n}`);
  for (const [w, c] of owed)
    if ((posted.get(w) ?? 0n) !== c)
      v.push(`tab ${tabId}'s close paid ${w} ${posted.get(w) ?? 0n}, its completed jobs there cost ${c} after the operator fee`);
  for (const [w, c] of posted) if (!owed.has(w)) v.push(`tab ${tabId}'s close paid ${w} ${c} for no completed job of it`);
  if (toOperator !== fees) v.push(`tab ${tabId}'s close paid the operator ${toOperator}, its jobs' fees are ${fees}`);
  const released = sum(close, req, "held");
  const back = sum(close, req, "available");
  if (released !== -amount) v.push(`tab ${tabId}'s close released ${-released} of its ${amount} hold`);
  if (back !== amount - total) v.push(`tab ${tabId}'s close returned ${back}, its hold less its jobs' costs is ${amount - total}`);
  if (big(t.cost) !== total || Number(t.completed) !== completed.length)
    v.push(
      `tab ${tabId} says ${String(t.completed)} jobs cost ${String(t.cost)}, its completed jobs are ${completed.length} costing ${total}`,
    );
  for (const j of completed) {
    const id = String(j.jobId);
    // the close's time-windowed entry (closedAt: the close wrote both in one transaction); a legacy inbox entry before it
    const entry =
      (typeof t.closedAt === "number" ? store.item("chain", windowEntryKey(t.closedAt, id)) : undefined) ??
      store.item("chain", { pk: inboxPk(RECEIPT_INBOX_PK, id), sk: id });
    const honest = oracle.honest.get(String(j.resultDigest));
    const receipt = entry?.receipt as { body?: { jobId?: string }; signature?: string } | undefined;
    if (!receipt) v.push(`tab ${tabId} closed without logging the receipt of its job ${id}`);
    else if (receipt.body?.jobId !== id || (honest && receipt.signature !== honest.receipt.signature))
      v.push(`tab ${tabId} logged another receipt for its job ${id}`);
  }
  return v;
}

// ---------------------------------------------------------------- the policy registry, and refusals

/**
 * The registry's age bound (core/policy-registry.ts PolicyCache), checked each time the
 * coordinator's cache hands a request a reading to act on: the state it holds is no older than
 * the bound, by the simulated chain's own clock (`dataAt`: when the registry held it, whatever
 * the reading's readAt says), and it is one the registry answered. A reading within the bound
 * when the request called (`began`) and past it when handed over waited on a slow refresh.
 */
export function policyActedProblems(o: {
  at: number;
  began: number;
  reading: PolicyReading;
  dataAt: number | undefined;
  maxAgeSeconds: number;
}): string[] {
  const v = o.reading.version;
  if (o.dataAt === undefined) return [`registry-acted: the coordinator acted on a policy reading (v${v}) the registry never answered`];
  const age = o.at - o.dataAt;
  if (age <= o.maxAgeSeconds * 1000) return [];
  const late =
    o.began - o.dataAt <= o.maxAgeSeconds * 1000
      ? ` (${((o.at - o.began) / 1000).toFixed(3)} s after the request called, a refresh waited on meanwhile: ${CACHE_AGE_AT_CALL})`
      : "";
  return [
    `registry-acted: the coordinator acted on policy v${v}, the registry's state of ${(age / 1000).toFixed(3)} s before, beyond its ${o.maxAgeSeconds} s bound${late}`,
  ];
}

/** The known finding (sim.ts KNOWN_FINDINGS) a reading handed past the bound after a slow refresh carries. */
export const CACHE_AGE_AT_CALL = "the cache measured its age when the call began";

/**
 * A refusal for a stale policy (503 policy_stale) is right only when no young enough reading could
 * be had: the newest state the cache was answered (`newest`, ms; none: never answered) is past the
 * bound as the cache counts it (whole seconds of readAt), and the read it awaited went wrong (at
 * `at`), or one answered a frozen state within the refresh interval (the cache reads again no
 * sooner). Otherwise the cache kept an old reading over a newer one, or did not read the registry
 * again once it answered: it does not recover.
 */
export function policyRefusalProblems(o: {
  at: number;
  newest: number | undefined;
  lastWrong: number;
  refreshMs: number;
  maxAgeSeconds: number;
}): string[] {
  if (o.newest !== undefined && o.at / 1000 - Math.floor(o.newest / 1000) <= o.maxAgeSeconds)
    return [
      `registry-refused: a request was refused 503 policy_stale though the cache had been answered the registry's state of ${((o.at - o.newest) / 1000).toFixed(3)} s before, within its ${o.maxAgeSeconds} s bound`,
    ];
  if (o.lastWrong < o.at - o.refreshMs)
    return [
      `registry-refused: a request was refused 503 policy_stale though no read of the registry went wrong in the last ${((o.at - o.lastWrong) / 1000).toFixed(3)} s (newest state the cache holds: ${o.newest === undefined ? "none" : `${((o.at - o.newest) / 1000).toFixed(3)} s old`})`,
    ];
  return [];
}

/**
 * A price cap never refuses wrongly (liveness, not only safety): a prepare refused `no_workers`,
 * `price_above_cap` or `unknown_model` is a bug when some worker was eligible all through it (from `from` to its
 * refusal `at`): registered, its offer committed all along and live at the refusal (a heartbeat
 * within the liveness window, its evidence unexpired: so at every read before it too), and every
 * price the prepare could have priced it at (each coefficient its offer held meanwhile × each
 * policy the coordinator acted on meanwhile) within the requester's cap.
 */
export function refusalProblems(o: {
  who: string;
  code: string;
  from: number;
  at: number;
  cap?: bigint;
  livenessMs: number;
  workers: Array<{ id: string; registered: boolean; states: Array<OfferState | undefined>; prices: bigint[] }>;
}): string[] {
  const live = (s: OfferState | undefined) => s !== undefined && o.at - s.lastHeartbeat <= o.livenessMs && s.attestationExpiresAt > o.at;
  const fits = (p: bigint) => o.cap === undefined || p <= o.cap;
  const w = o.workers.find((x) => x.registered && x.states.every(live) && x.prices.length > 0 && x.prices.every(fits));
  if (!w) return [];
  const s = w.states.at(-1)!;
  return [
    `cap-refused: ${o.who}'s prepare (${((o.at - o.from) / 1000).toFixed(3)} s) was refused ${o.code}${o.cap === undefined ? "" : ` under a cap of ${o.cap} nanoTON per token`}, though ${w.id} was eligible all through it: live (heartbeat ${((o.at - s.lastHeartbeat) / 1000).toFixed(3)} s before), at ${w.prices.join(" or ")} nanoTON per token`,
  ];
}
