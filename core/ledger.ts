import { ConditionFailedError, type Condition, type Item, type Store, type WriteOp } from "./ports";

/**
 * Double-entry ledger in integer nanoTON.
 *
 * Accounts are items in table "accounts" (pk = account id, sk = "balance") with two bigint
 * fields, `available` and `held`. Internal accounts (`req:<id>` requesters, `wrk:<id>`
 * workers) can never go negative: every debit carries a condition. External accounts
 * (`ext:*`: the chain, the dev faucet) mirror the outside world and go negative by design,
 * so the sum over ALL accounts is always zero and internal balances always equal
 * deposits minus withdrawals.
 *
 * Every movement is one item in table "ledger" keyed by a deterministic id (job id,
 * transaction hash, ...) written with `notExists`, in the same transaction as the balance
 * updates: a movement applies exactly once, however often it is retried. Two exceptions: a
 * job's hold and its settlement are recorded by its job item (MovementRecord).
 */
export type BalanceField = "available" | "held";

export interface Posting {
  account: string;
  field: BalanceField;
  delta: bigint;
}

export interface Movement {
  id: string;
  kind: "hold" | "settle" | "refund" | "faucet" | "deposit" | "withdrawal" | "voucher" | "redemption" | "tab-open" | "tab-close";
  postings: Posting[];
  at: number;
  meta?: Record<string, string>;
}

export interface AccountBalance {
  account: string;
  available: bigint;
  held: bigint;
}

export class UnbalancedMovementError extends Error {
  override readonly name = "UnbalancedMovementError";
}

export const requesterAccount = (id: string) => `req:${id}`;
export const workerAccount = (id: string) => `wrk:${id}`;
/**
 * The operator's earnings: each settlement's operator fee (the policy's `operatorFeeBps` of the
 * job's cost). Internal accounts like a worker's (never negative), owed to the operator, so
 * they count among the liabilities the vault must cover until they are paid out.
 *
 * Sharded by worker, OPERATOR_FEE_SHARDS accounts `opr:fees:<k>`, k = operatorFeeShard(workerId):
 * with one account every settlement batch of every worker would update the same balance item (a
 * hot item on DynamoDB, whose write rate caps all settlements, and concurrent batches of
 * different workers cancelling each other's transactions). A worker always pays into the same
 * shard, so its batches stay one item each; two workers share a shard one time in 16. The
 * operator's voucher sweeps every shard at once (core/payouts.ts issueOperatorVoucher).
 */
export const OPERATOR_FEE_SHARDS = 16;
/** FNV-1a (32 bits) of the worker id's UTF-16 code units, mod OPERATOR_FEE_SHARDS: stable, cheap, spreads ids evenly. */
export function operatorFeeShard(workerId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < workerId.length; i++) h = Math.imul(h ^ workerId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % OPERATOR_FEE_SHARDS;
}
export const operatorFeeShardAccount = (k: number) => `opr:fees:${k}`;
/** The operator's fee account a worker's settlements credit. */
export const operatorFeeAccount = (workerId: string) => operatorFeeShardAccount(operatorFeeShard(workerId));
/** Every operator fee account, in shard order: what the operator has earned is the sum of their available. */
export const OPERATOR_FEE_ACCOUNTS: readonly string[] = Array.from({ length: OPERATOR_FEE_SHARDS }, (_, k) => operatorFeeShardAccount(k));
export const isOperatorFeeAccount = (account: string) => OPERATOR_FEE_ACCOUNTS.includes(account);
export const isExternal = (account: string) => account.startsWith("ext:");

export class InvalidFeeError extends Error {
  override readonly name = "InvalidFeeError";
}

/** An operator fee must be whole basis points, 0..10 000 (0 %..100 %); anything else is refused, never clamped. */
export function checkFeeBps(bps: number): number {
  if (!Number.isInteger(bps) || bps < 0 || bps > 10_000) throw new InvalidFeeError(`operator fee ${bps} bps outside 0..10000`);
  return bps;
}

/**
 * The operator's share of a job's cost: floor(cost × bps / 10 000), so rounding goes to the
 * worker (a job of 1 nanoTON at any fee below 100 % pays the operator nothing). bps is the
 * registry's `operatorFeeBps` in force when the job was submitted, 0..10 000.
 */
export function operatorFee(cost: bigint, bps: number): bigint {
  checkFeeBps(bps);
  if (cost < 0n) throw new UnbalancedMovementError(`negative cost ${cost}`);
  return (cost * BigInt(bps)) / 10_000n;
}

/**
 * Counters bumped on an account's balance item in the same update as its postings (a worker's
 * job and token counts at settlement): statistics, not money, so no posting carries them and
 * no guard applies. Keyed by account id; an account the movement does not touch is refused.
 */
export type AccountCounters = Record<string, Record<string, number>>;

/**
 * A write that records a movement instead of its ledger item, in the same transaction: a write
 * to the item the movement belongs to, which only one transaction can ever make (issue 12: one
 * transactional item, 2 WRU, fewer a movement). Either a put only if absent (a job's hold:
 * the job item's creation, JobItem.holdInJob) or an update under a condition the movement's
 * own transaction makes false (a job's settlement: the job's move from assigned to completed,
 * JobItem.settledInJob). It makes the movement apply once exactly as the ledger item would;
 * its condition failing is this movement's "duplicate" (index 0).
 */
export type MovementRecord =
  (Extract<WriteOp, { op: "put" }> & { when: { kind: "notExists" } }) | (Extract<WriteOp, { op: "update" }> & { when: Condition });

/** A movement's ledger item (`<id>` / "tx", bigints as strings): what movementOps writes, and the shape audits and the movement log read. */
export const ledgerItem = (m: Movement): Item => ({
  pk: m.id,
  sk: "tx",
  kind: m.kind,
  at: m.at,
  postings: m.postings.map((p) => ({ account: p.account, field: p.field, delta: p.delta.toString() })),
  ...(m.meta ? { meta: m.meta } : {}),
});

/**
 * Build the write operations of a movement: one ledger item (or the `record` the caller gives)
 * + one update per touched account.
 */
export function movementOps(m: Movement, counters: AccountCounters = {}, record?: MovementRecord): WriteOp[] {
  let sum = 0n;
  for (const p of m.postings) sum += p.delta;
  if (sum !== 0n) throw new UnbalancedMovementError(`movement ${m.id} does not balance: sum of postings = ${sum}`);

  // One update per account: DynamoDB refuses two operations on one item in a transaction.
  const byAccount = new Map<string, Record<BalanceField, bigint>>();
  for (const p of m.postings) {
    const d = byAccount.get(p.account) ?? { available: 0n, held: 0n };
    d[p.field] += p.delta;
    byAccount.set(p.account, d);
  }

  const ops: WriteOp[] = [record ?? { op: "put", table: "ledger", item: ledgerItem(m), when: { kind: "notExists" } }];
  for (const [account, d] of byAccount) {
    const add: Record<string, number | bigint> = {};
    const guards: Condition[] = [];
    for (const field of ["available", "held"] as const) {
      if (d[field] === 0n) continue;
      add[field] = d[field];
      if (d[field] < 0n && !isExternal(account)) guards.push({ kind: "cmp", attr: field, op: ">=", value: -d[field] });
    }
    // Riding on the balance update: one write per account, however many things it records.
    for (const [field, n] of Object.entries(counters[account] ?? {})) {
      if (field === "available" || field === "held")
        throw new UnbalancedMovementError(`counter ${field} on ${account} would move money outside the postings`);
      add[field] = n;
    }
    if (Object.keys(add).length === 0) continue;
    ops.push({
      op: "update",
      table: "accounts",
      key: { pk: account, sk: "balance" },
      add,
      ...(guards.length ? { when: guards.length === 1 ? guards[0]! : { kind: "and", all: guards } } : {}),
    });
  }
  for (const account of Object.keys(counters)) {
    if (!byAccount.has(account))
      throw new UnbalancedMovementError(`movement ${m.id} posts nothing to ${account}, so it cannot carry its counters`);
  }
  return ops;
}

/**
 * Several movements in one transaction (a batch of settlements): each keeps its own ledger
 * item (written only if absent, so each applies once), and each account is updated once with
 * the sum of its postings across them, guarded by that sum, as DynamoDB allows one operation
 * per item. The ledger items come first, in order; then one update per account.
 */
export function movementsOps(ms: Movement[], counters: AccountCounters = {}, records: Array<MovementRecord | undefined> = []): WriteOp[] {
  if (ms.length === 1) return movementOps(ms[0]!, counters, records[0]);
  const puts: WriteOp[] = [];
  const merged: Posting[] = [];
  for (const [i, m] of ms.entries()) {
    const [put] = movementOps(m, {}, records[i]); // checks the balance, builds the ledger item (or takes its record)
    puts.push(put!);
    merged.push(...m.postings);
  }
  const updates = movementOps({ id: "batch", kind: ms[0]!.kind, at: ms[0]!.at, postings: merged }, counters).slice(1);
  return [...puts, ...updates];
}

export type ApplyResult = "applied" | "duplicate";

/** Thrown when an internal account would go negative; nothing was written. */
export class OverdraftError extends Error {
  override readonly name = "OverdraftError";
  constructor(readonly account: string) {
    super(`account ${account} has too little balance for this movement`);
  }
}

/**
 * Apply a movement atomically together with `extra` operations (a job transition, say).
 * Returns "duplicate" when the movement id was already applied (nothing written).
 * A failing condition among `extra` is rethrown as ConditionFailedError with the index
 * shifted to `extra`'s own numbering.
 */
export async function applyMovement(
  store: Store,
  m: Movement,
  extra: WriteOp[] = [],
  counters?: AccountCounters,
  record?: MovementRecord,
): Promise<ApplyResult> {
  const ops = movementOps(m, counters, record);
  try {
    await store.transact([...ops, ...extra]);
    return "applied";
  } catch (e) {
    if (!(e instanceof ConditionFailedError)) throw e;
    const i = e.index ?? (await locateFailure(store, ops));
    if (i === 0) return "duplicate";
    if (i < ops.length) {
      const op = ops[i]!;
      throw new OverdraftError(op.op === "update" ? op.key.pk : "?");
    }
    throw new ConditionFailedError(i - ops.length, e.message);
  }
}

/** When an adapter cannot say which condition failed, find out by reading. */
async function locateFailure(store: Store, ops: WriteOp[]): Promise<number> {
  const first = ops[0]!;
  // A put record (or the ledger item) that is there: this movement applied already. An update
  // record's condition cannot be read back here: it is the one left when no balance explains the
  // failure (a repeat whose first application emptied a balance is then reported as that
  // overdraft; postResult reads the job back either way). The store adapters all name the index.
  if (first.op === "put" && (await store.get(first.table, { pk: first.item.pk, sk: first.item.sk }))) return 0;
  const movementOpCount = ops.length;
  for (let i = 1; i < ops.length; i++) {
    const op = ops[i]!;
    if (op.op !== "update" || !op.add) continue;
    const bal = await getBalance(store, op.key.pk);
    for (const [field, delta] of Object.entries(op.add)) {
      if (BigInt(delta) < 0n && bal[field as BalanceField] < -BigInt(delta) && !isExternal(op.key.pk)) return i;
    }
  }
  return first.op === "update" ? 0 : movementOpCount; // the update record's condition; else the first extra op, best guess
}

export async function getBalance(store: Store, account: string): Promise<AccountBalance> {
  const item = await store.get("accounts", { pk: account, sk: "balance" });
  return {
    account,
    available: toBig(item?.available),
    held: toBig(item?.held),
  };
}

/** What the operator has earned and not yet been vouchered: the sum of its fee shards' available. */
export async function operatorFeesEarned(store: Store): Promise<bigint> {
  const balances = await Promise.all(OPERATOR_FEE_ACCOUNTS.map((a) => getBalance(store, a)));
  return balances.reduce((s, b) => s + b.available, 0n);
}

export const toBig = (v: unknown): bigint => (v === undefined || v === null ? 0n : BigInt(v as bigint | number | string));

// ---------------------------------------------------------------- job money

export const holdMovement = (jobId: string, requester: string, amount: bigint, at: number): Movement => ({
  id: `hold:${jobId}`,
  kind: "hold",
  at,
  postings: [
    { account: requesterAccount(requester), field: "available", delta: -amount },
    { account: requesterAccount(requester), field: "held", delta: amount },
  ],
});

/**
 * Charge `cost` (≤ held) to the requester, release the rest of the hold, credit the worker
 * cost − fee and the operator the fee (operatorFee(cost, feeBps): the job's fee, fixed at its
 * submit), in the worker's operator fee shard (operatorFeeAccount). With fee 0 the movement is
 * exactly what it was before the fee existed (three postings, no meta of it), so old
 * settlements rebuild and verify unchanged; with a fee the
 * operator's posting comes last and the meta names the bps, so the ledger item alone states
 * how the split was made.
 */
export const settleMovement = (
  jobId: string,
  requester: string,
  worker: string,
  held: bigint,
  cost: bigint,
  at: number,
  feeBps = 0,
): Movement => {
  if (cost < 0n || cost > held) throw new UnbalancedMovementError(`cost ${cost} outside [0, ${held}]`);
  const fee = operatorFee(cost, feeBps);
  return {
    id: `settle:${jobId}`,
    kind: "settle",
    at,
    meta: { jobId, worker, ...(feeBps > 0 ? { operatorFeeBps: String(feeBps) } : {}) },
    postings: [
      { account: requesterAccount(requester), field: "held", delta: -held },
      { account: requesterAccount(requester), field: "available", delta: held - cost },
      { account: workerAccount(worker), field: "available", delta: cost - fee },
      ...(fee > 0n ? [{ account: operatorFeeAccount(worker), field: "available" as const, delta: fee }] : []),
    ],
  };
};

export const refundMovement = (jobId: string, requester: string, held: bigint, at: number): Movement => ({
  id: `refund:${jobId}`,
  kind: "refund",
  at,
  meta: { jobId },
  postings: [
    { account: requesterAccount(requester), field: "held", delta: -held },
    { account: requesterAccount(requester), field: "available", delta: held },
  ],
});

/** A tab's hold (core/jobs/tabs.ts): slots × slotCost moved from available to held once, for all its jobs. */
export const tabOpenMovement = (tabId: string, requester: string, amount: bigint, at: number): Movement => ({
  id: `tab:${tabId}`,
  kind: "tab-open",
  at,
  meta: { tabId },
  postings: [
    { account: requesterAccount(requester), field: "available", delta: -amount },
    { account: requesterAccount(requester), field: "held", delta: amount },
  ],
});

/**
 * A tab's close: its hold released, each worker credited the sum of its completed jobs' costs
 * less their operator fees (`feeByWorker`, each job's own fee summed: operatorFee per job, as
 * a settlement takes it), the operator the sum of the fees (one posting per operator fee shard
 * its workers pay into, each the sum of their fees: operatorFeeAccount), the rest back to the
 * requester's available balance. One movement for all the tab's jobs. A worker whose jobs cost something
 * keeps its posting even when the fees took it all (100 %), so its counters still ride on it.
 */
export const tabCloseMovement = (
  tabId: string,
  requester: string,
  held: bigint,
  costByWorker: ReadonlyMap<string, bigint>,
  at: number,
  feeByWorker: ReadonlyMap<string, bigint> = new Map(),
): Movement => {
  let total = 0n;
  let fees = 0n;
  for (const [w, c] of costByWorker) {
    const f = feeByWorker.get(w) ?? 0n;
    if (c < 0n) throw new UnbalancedMovementError(`tab ${tabId}: negative cost ${c}`);
    if (f < 0n || f > c) throw new UnbalancedMovementError(`tab ${tabId}: fee ${f} outside [0, ${c}] for ${w}`);
    total += c;
    fees += f;
  }
  for (const w of feeByWorker.keys())
    if (!costByWorker.has(w)) throw new UnbalancedMovementError(`tab ${tabId}: a fee for ${w}, who has no cost`);
  if (total > held) throw new UnbalancedMovementError(`tab ${tabId}: its jobs cost ${total}, more than its hold ${held}`);
  // one posting per operator fee shard its workers pay into, in shard order
  const feeByShard = new Map<number, bigint>();
  for (const [w, f] of feeByWorker) if (f > 0n) feeByShard.set(operatorFeeShard(w), (feeByShard.get(operatorFeeShard(w)) ?? 0n) + f);
  return {
    id: `tabclose:${tabId}`,
    kind: "tab-close",
    at,
    meta: { tabId, cost: total.toString(), ...(fees > 0n ? { operatorFee: fees.toString() } : {}) },
    postings: [
      { account: requesterAccount(requester), field: "held", delta: -held },
      ...(held - total > 0n ? [{ account: requesterAccount(requester), field: "available" as const, delta: held - total }] : []),
      ...[...costByWorker].flatMap(([w, c]) =>
        c > 0n ? [{ account: workerAccount(w), field: "available" as const, delta: c - (feeByWorker.get(w) ?? 0n) }] : [],
      ),
      ...[...feeByShard]
        .sort(([a], [b]) => a - b)
        .map(([k, f]) => ({ account: operatorFeeShardAccount(k), field: "available" as const, delta: f })),
    ],
  };
};

/** Dev faucet (local default only, until deposits come from the TON sandbox). */
export const faucetMovement = (id: string, requester: string, amount: bigint, at: number): Movement => ({
  id: `faucet:${id}`,
  kind: "faucet",
  at,
  postings: [
    { account: "ext:faucet", field: "available", delta: -amount },
    { account: requesterAccount(requester), field: "available", delta: amount },
  ],
});
