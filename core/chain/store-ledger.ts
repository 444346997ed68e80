/**
 * ChainLedger over the Store port, with the conventions of core/ledger.ts:
 *   - one item per money movement in table "ledger", pk=`chain:<txHash>` sk="tx", written with
 *     `notExists` in the same transaction as the balance updates: a chain transaction moves
 *     money exactly once however often the watcher re-reads it;
 *   - balances in table "accounts", pk=`req:<accountId>` / `vch:<workerId>` / `opr:vouchers` / `ext:chain`,
 *     sk="balance", bigint attributes `available` (and `held`, written by job code);
 *   - the postings of every movement sum to zero (double entry): ext:chain mirrors the vault.
 *
 * Chain-driven debits carry no overdraft guard: the chain already moved the money, the ledger
 * must follow (a negative balance is then visible, and the watcher raises an alert).
 *
 * Liabilities: the Store has no scan, so the sum of internal accounts (req:* available+held,
 * wrk:*, vch:* and opr:* available) is read as minus the sum of the external accounts, which equals it by the
 * double-entry invariant. Configure every ext: account that job/faucet code uses.
 *
 * Table "chain" holds: pk="cursor" (watcher position), pk=`wd:<account>:<seqno>` (withdrawals
 * the coordinator signed; those reserved by core/withdrawals.ts carry status pending/landed/released), pk=`voucher:<address>` (highest voucher signed for a payout address),
 * pk=`redeemed:<address>` (what the vault paid that address in all: its payout wallet's mark), pk="walk" / `walk:<id>`
 * (the AWS reader's walk down toncenter's history, core/chain/vault-walk.ts), and pk="vault" (the vault all of it
 * belongs to, core/chain/vault-binding.ts).
 */
import { ConditionFailedError, type Condition, type Item, type Store, type WriteOp } from "../ports";
import { RETRY, retryOptimistic } from "../retry";
import type { ChainLedger } from "./ports";
import type { ApplyResult, Cursor, IssuedVoucher, IssuedWithdrawal, WithdrawalLanding, WithdrawalMatch } from "./types";
import { bindVault } from "./vault-binding";

export const CHAIN_ACCOUNT = "ext:chain";
export const UNMATCHED_ACCOUNT = "ext:unmatched";
export const DEFAULT_EXTERNAL_ACCOUNTS = [CHAIN_ACCOUNT, "ext:faucet", UNMATCHED_ACCOUNT] as const;

export const chainMovementId = (txHash: string) => `chain:${txHash}`;
/** Where core/withdrawals.ts reserves a requester's signed, not yet landed withdrawals. */
export const pendingWithdrawalAccount = (accountId: string) => `wdr:${accountId}`;
export const issuedWithdrawalKey = (account: string, seqno: number) => ({ pk: `wd:${account}:${seqno}`, sk: "issued" });
/**
 * The issued-voucher record of a payee (its on-chain id, 64 hex: core/chain/payee.ts): the
 * watcher routes redemptions by it to the payee's id. Per payee, not per payout address (vault
 * v2): many payees may share an address, so nothing claims an address.
 */
export const issuedVoucherKey = (payee: string) => ({ pk: `voucher:${payee}`, sk: "issued" });
/** What the vault has paid a payee (64 hex) as booked so far: its payout wallet's mark. */
const redeemedKey = (payee: string) => ({ pk: `redeemed:${payee}`, sk: "w" });
/** The movement that reserved issue `gen` of a withdrawal seqno (core/withdrawals.ts); its meta keeps amount, to and expiry. */
export const withdrawalMovementId = (account: string, seqno: number, gen: number) => `withdrawal:${account}:${seqno}:${gen}`;

/**
 * The write that records a signed withdrawal. `reservation` marks one whose amount
 * core/withdrawals.ts moved into `wdr:<account>` (status "pending" until it lands or is
 * released; `gen` tells apart re-issues of the same seqno after an expiry). `when` guards it.
 */
export function issuedWithdrawalOp(w: IssuedWithdrawal, at: number, reservation?: { gen: number; when?: Condition }): WriteOp {
  return {
    op: "put",
    table: "chain",
    item: {
      ...issuedWithdrawalKey(w.account, w.seqno),
      account: w.account,
      seqno: w.seqno,
      amount: w.amount,
      to: w.to,
      expiry: w.expiry,
      at,
      ...(reservation ? { reserved: true, status: "pending", gen: reservation.gen } : {}),
    },
    ...(reservation?.when ? { when: reservation.when } : {}),
  };
}
const req = (id: string) => `req:${id}`;

/** The item of an issued voucher (core/payouts.ts writes it in the voucher's own transaction). */
export const issuedVoucherItem = (v: IssuedVoucher, at: number) => ({
  ...issuedVoucherKey(v.payee),
  workerId: v.workerId,
  payee: v.payee,
  worker: v.worker,
  cumulative: v.cumulative,
  expiry: v.expiry,
  at,
});
/** Dead seqnos one landing releases at most (a DynamoDB transaction holds 100 writes); lower ones would stay reserved for the operator. */
const MAX_DEAD_SEQNOS = 64;

/**
 * A worker's issued-vouchers account: core/payouts.ts moves earnings from `wrk:<id>` into it
 * when it signs a voucher, and a redemption on chain pays out of it. The one definition the
 * ledger and the payouts share.
 */
export const voucherAccount = (workerId: string) => `vch:${workerId}`;

/**
 * The operator as a voucher payee: the identity core/payouts.ts records on the operator's
 * `voucher:<address>` and `payout:` items. A worker id is a key id (43 base64url characters, no
 * ':'), so it can never be this one, and `vch:<workerId>` never the operator's voucher account.
 */
export const OPERATOR_PAYEE_ID = "opr:operator";
/** The operator's issued-vouchers account: its fees (the shards `opr:fees:<k>`) move here when it is vouchered, a redemption pays out of it. */
export const OPERATOR_VOUCHER_ACCOUNT = "opr:vouchers";
/** The issued-vouchers account of a payee (a worker id, or OPERATOR_PAYEE_ID): the watcher books redemptions against it. */
export const payeeVoucherAccount = (payeeId: string) =>
  payeeId === OPERATOR_PAYEE_ID ? OPERATOR_VOUCHER_ACCOUNT : voucherAccount(payeeId);

interface Posting {
  account: string;
  field: "available" | "held";
  delta: bigint;
}

/** A chain movement kept losing to concurrent writers; nothing was recorded, the next watcher pass tries again. */
export class ChainLedgerContentionError extends Error {
  override readonly name = "ChainLedgerContentionError";
  readonly code = "ledger_contention";
}

export class UnbalancedChainMovementError extends Error {
  override readonly name = "UnbalancedChainMovementError";
  readonly code = "unbalanced_movement";
}

const big = (v: unknown): bigint => (v === undefined || v === null ? 0n : BigInt(v as bigint | number | string));

function movementOps(id: string, kind: string, at: number, postings: Posting[], meta: Record<string, string>): WriteOp[] {
  const sum = postings.reduce((s, p) => s + p.delta, 0n);
  if (sum !== 0n) throw new UnbalancedChainMovementError(`movement ${id} does not balance: sum of postings = ${sum}`);
  const ops: WriteOp[] = [
    {
      op: "put",
      table: "ledger",
      item: { pk: id, sk: "tx", kind, at, postings: postings.map((p) => ({ ...p, delta: p.delta.toString() })), meta },
      when: { kind: "notExists" },
    },
  ];
  const byAccount = new Map<string, Record<string, bigint>>();
  for (const p of postings) {
    if (p.delta === 0n) continue;
    const d = byAccount.get(p.account) ?? {};
    d[p.field] = (d[p.field] ?? 0n) + p.delta;
    byAccount.set(p.account, d);
  }
  for (const [account, add] of byAccount) ops.push({ op: "update", table: "accounts", key: { pk: account, sk: "balance" }, add });
  return ops;
}

export interface StoreChainLedgerOptions {
  /** external accounts whose negated sum is the liabilities (default ext:chain, ext:faucet, ext:unmatched) */
  externalAccounts?: readonly string[];
}

/**
 * The chain ledger of the coordinator: the ONE construction the chain watcher uses, in the
 * Lambda (functions/schedule/chain-watcher.ts) and in the local default (local/network.ts).
 */
export function createChainLedger(store: Store): StoreChainLedger {
  return new StoreChainLedger(store);
}

export class StoreChainLedger implements ChainLedger {
  private readonly externals: readonly string[];
  constructor(
    private readonly store: Store,
    opts: StoreChainLedgerOptions = {},
  ) {
    this.externals = opts.externalAccounts ?? DEFAULT_EXTERNAL_ACCOUNTS;
  }

  // ------------------------------------------------------------ vault
  bindVault(vault: string, at: number): Promise<void> {
    return bindVault(this.store, vault, at);
  }

  // ------------------------------------------------------------ cursor
  async getCursor(): Promise<Cursor | null> {
    const it = await this.store.get("chain", { pk: "cursor", sk: "cursor" });
    return it && typeof it.lt === "string" && typeof it.hash === "string" ? { lt: it.lt, hash: it.hash } : null;
  }

  async setCursor(cursor: Cursor, at: number): Promise<void> {
    await this.store.transact([
      { op: "put", table: "chain", item: { pk: "cursor", sk: "cursor", lt: cursor.lt, hash: cursor.hash, updatedAt: at } },
    ]);
  }

  async lastPassAt(): Promise<number | null> {
    const it = await this.store.get("chain", { pk: "pass", sk: "pass" });
    return typeof it?.at === "number" ? it.at : null;
  }

  async markPass(at: number, o: { caughtUpAsOf: number | null }): Promise<void> {
    // an update, so a pass that stopped at its page limit keeps the last caught-up time
    await this.store.transact([
      {
        op: "update",
        table: "chain",
        key: { pk: "pass", sk: "pass" },
        set: { at, ...(o.caughtUpAsOf !== null ? { caughtUpAt: o.caughtUpAsOf } : {}) },
      },
    ]);
  }

  async lastCaughtUpAt(): Promise<number | null> {
    const it = await this.store.get("chain", { pk: "pass", sk: "pass" });
    return typeof it?.caughtUpAt === "number" ? it.caughtUpAt : null;
  }

  // ------------------------------------------------------------ movements
  private async apply(ops: WriteOp[]): Promise<ApplyResult> {
    try {
      await this.store.transact(ops);
      return "applied";
    } catch (e) {
      if (
        e instanceof ConditionFailedError &&
        (e.index === 0 || (await this.store.get("ledger", { pk: (ops[0] as { item: Item }).item.pk, sk: "tx" })))
      ) {
        return "duplicate";
      }
      throw e;
    }
  }

  creditDeposit(txHash: string, account: string, amount: bigint, at: number): Promise<ApplyResult> {
    return this.apply(
      movementOps(
        chainMovementId(txHash),
        "deposit",
        at,
        [
          { account: CHAIN_ACCOUNT, field: "available", delta: -amount },
          { account: req(account), field: "available", delta: amount },
        ],
        { txHash, account },
      ),
    );
  }

  /**
   * A withdrawal landed on chain (the vault consumed `seqno` of `account`). Which issue of that
   * seqno it was is told by amount, destination and expiry (re-issues after a release differ
   * at least in expiry):
   *   - the pending issue (reserved by core/withdrawals.ts): the amount leaves `wdr:<account>`
   *     where it was reserved, and the record turns `landed` in the same transaction (so an
   *     expiry release can never also return it);
   *   - an issue whose reservation was already released as expired (it landed before its
   *     expiry, but the release did not see it): the amount is reserved again, i.e. debited
   *     from `req:<account>.available` with no overdraft guard. Money is conserved (the release
   *     gave it back, this takes it again); a negative available is the requester's recorded
   *     debt, which blocks new holds and withdrawals until deposits cover it. The record turns
   *     `landed` (afterRelease) and the watcher raises a critical alert. A later issue of the
   *     same seqno still pending can never land now: its reservation goes back to available
   *     and it turns `released` (supersededBy this transaction);
   *   - anything else debits `req:<account>.available` the same way (the chain already paid).
   * Whatever it matched, a landing of seqno k proves the account's wallet consumed every seqno
   * below k, for good (its seqno only goes back by one, on the bounce of the latest approval the
   * vault refused), and any payment of a lower seqno reached the vault, hence this watcher, before
   * this one (one wallet's messages to the vault keep their order). So a lower seqno still
   * pending here died unpaid (the vault refused its payment, the wallet rolled its debit back but
   * a later seqno had been used: two withdrawals in flight on an under-collateralised vault). Its
   * reservation goes back to `available` and it turns `released` (supersededBy this transaction),
   * in the same transaction: releaseExpiredWithdrawals never could (it rewinds a suffix of the
   * pending seqnos only, never below the vault's counter).
   */
  async recordWithdrawal(
    txHash: string,
    w: { account: string; amount: bigint; seqno?: number; to?: string; expiry?: number },
    at: number,
  ): Promise<WithdrawalLanding> {
    const meta: Record<string, string> = { txHash, account: w.account };
    if (w.seqno !== undefined) meta.seqno = String(w.seqno);
    if (w.to !== undefined) meta.to = w.to;
    if (w.expiry !== undefined) meta.expiry = String(w.expiry);
    const same = (x: Record<string, unknown>) =>
      big(x.amount) === w.amount && (w.to === undefined || x.to === w.to) && (w.expiry === undefined || Number(x.expiry) === w.expiry);
    const contention = () =>
      new ChainLedgerContentionError(`could not record withdrawal ${txHash}: concurrent updates kept conflicting; run the watcher again`);
    return retryOptimistic<WithdrawalLanding>({ attempts: 5, exhausted: contention }, async () => {
      const done = await this.store.get("ledger", { pk: chainMovementId(txHash), sk: "tx" });
      if (done)
        return {
          result: "duplicate",
          match: ((done.meta as Record<string, string> | undefined)?.match as WithdrawalMatch | undefined) ?? "unmatched",
        };
      const key = w.seqno === undefined ? undefined : issuedWithdrawalKey(w.account, w.seqno);
      const it = key ? await this.store.get("chain", key) : undefined;
      const reserved = !!it && it.reserved === true;
      const gen = reserved ? Number(it!.gen) : 0;
      const postings: Posting[] = [];
      const extra: WriteOp[] = [];
      const genGuard = (status: string): Condition => ({
        kind: "and",
        all: [
          { kind: "cmp", attr: "status", op: "=", value: status },
          { kind: "cmp", attr: "gen", op: "=", value: gen },
        ],
      });
      let match: WithdrawalMatch;
      if (reserved && it!.status === "pending" && same(it!)) {
        match = "reserved";
        postings.push({ account: pendingWithdrawalAccount(w.account), field: "available", delta: -w.amount });
        extra.push({
          op: "update",
          table: "chain",
          key: key!,
          set: { status: "landed", landedTx: txHash, landedAt: at },
          when: genGuard("pending"),
        });
      } else {
        postings.push({ account: req(w.account), field: "available", delta: -w.amount });
        if (reserved && it!.status === "released" && same(it!)) {
          match = "after-release";
          extra.push({
            op: "update",
            table: "chain",
            key: key!,
            set: { status: "landed", landedTx: txHash, landedAt: at, afterRelease: true },
            when: genGuard("released"),
          });
        } else if (key && reserved && (await this.earlierIssueMatches(w.account, w.seqno!, gen, same))) {
          match = "after-release";
        } else if (it && !reserved && same(it)) {
          match = "issued";
        } else {
          match = "unmatched";
        }
        if (reserved && it!.status === "pending") {
          // this seqno is spent on chain: the pending issue can never land, its reservation comes back
          const back = big(it!.amount);
          postings.push(
            { account: pendingWithdrawalAccount(w.account), field: "available", delta: -back },
            { account: req(w.account), field: "available", delta: back },
          );
          extra.push({
            op: "update",
            table: "chain",
            key: key!,
            set: { status: "released", releasedAt: at, supersededBy: txHash },
            when: genGuard("pending"),
          });
        }
      }
      const dead = w.seqno === undefined ? [] : await this.deadBelow(w.account, w.seqno);
      for (const d of dead) {
        postings.push(
          { account: pendingWithdrawalAccount(w.account), field: "available", delta: -d.amount },
          { account: req(w.account), field: "available", delta: d.amount },
        );
        extra.push({
          op: "update",
          table: "chain",
          key: issuedWithdrawalKey(w.account, d.seqno),
          set: { status: "released", releasedAt: at, supersededBy: txHash },
          when: {
            kind: "and",
            all: [
              { kind: "cmp", attr: "status", op: "=", value: "pending" },
              { kind: "cmp", attr: "gen", op: "=", value: d.gen },
            ],
          },
        });
      }
      postings.push({ account: CHAIN_ACCOUNT, field: "available", delta: w.amount });
      const from = match === "reserved" ? pendingWithdrawalAccount(w.account) : req(w.account);
      const ops = [
        ...movementOps(chainMovementId(txHash), "withdrawal", at, postings, {
          ...meta,
          from,
          match,
          ...(reserved ? { gen: String(gen) } : {}),
          ...(dead.length > 0 ? { deadSeqnos: dead.map((d) => d.seqno).join(",") } : {}),
        }),
        ...extra,
      ];
      try {
        await this.store.transact(ops);
        return { result: "applied", match };
      } catch (e) {
        if (!(e instanceof ConditionFailedError)) throw e;
        return RETRY; // a duplicate, or the issued record changed under us (released or re-issued concurrently): decide again
      }
    });
  }

  /**
   * The reserved issues still pending right below `seqno` (nearest first, up to the first that is
   * not): they can never land once `seqno` has (see recordWithdrawal).
   */
  private async deadBelow(account: string, seqno: number): Promise<{ seqno: number; gen: number; amount: bigint }[]> {
    const dead: { seqno: number; gen: number; amount: bigint }[] = [];
    for (let s = seqno - 1; s >= 0 && dead.length < MAX_DEAD_SEQNOS; s--) {
      const it = await this.store.get("chain", issuedWithdrawalKey(account, s));
      if (!it || it.reserved !== true || it.status !== "pending") break;
      dead.push({ seqno: s, gen: Number(it.gen), amount: big(it.amount) });
    }
    return dead;
  }

  /** Whether an earlier issue (gen < `gen`) of this seqno was exactly this withdrawal (from its reservation movement). */
  private async earlierIssueMatches(
    account: string,
    seqno: number,
    gen: number,
    same: (x: Record<string, unknown>) => boolean,
  ): Promise<boolean> {
    for (let g = gen - 1; g >= 0 && g >= gen - 32; g--) {
      const m = await this.store.get("ledger", { pk: withdrawalMovementId(account, seqno, g), sk: "tx" });
      const meta = m?.meta as Record<string, string> | undefined;
      if (meta && same(meta)) return true;
    }
    return false;
  }

  /**
   * A redemption the vault paid, once per txHash. It paid `due`, the payout wallet's
   * `cumulative − mark`: booked as is, and the progress `redeemed:<address>` follows the wallet's
   * mark. (`cumulative − progress` is not what was paid once the vault refused a claim at payment:
   * the wallet then lowers its mark by that claim's due, so a later claim pays more than the
   * difference of the cumulatives. It is the fallback for a reader that gives no due.)
   */
  async recordRedemption(
    txHash: string,
    r: { payee: string; worker?: string; cumulative: bigint; due?: bigint },
    at: number,
  ): Promise<{ result: ApplyResult; paid: bigint; workerId: string | null }> {
    const contention = () =>
      new ChainLedgerContentionError(`could not record redemption ${txHash}: concurrent updates kept conflicting; run the watcher again`);
    return retryOptimistic<{ result: ApplyResult; paid: bigint; workerId: string | null }>(
      { attempts: 5, exhausted: contention },
      async () => {
        const done = await this.store.get("ledger", { pk: chainMovementId(txHash), sk: "tx" });
        if (done) {
          const meta = done.meta as Record<string, string> | undefined;
          // meta keeps "" for a redemption no voucher of ours names: answered null, as the first time
          return { result: "duplicate", paid: big(meta?.paid), workerId: meta?.workerId || null };
        }
        const progress = await this.store.get("chain", redeemedKey(r.payee));
        const prev = big(progress?.cumulative);
        const paid = r.due !== undefined ? r.due : r.cumulative > prev ? r.cumulative - prev : 0n;
        const mark = r.due !== undefined ? prev + r.due : paid > 0n ? r.cumulative : prev;
        const issued = await this.findIssuedVoucher(r.payee);
        const workerId = issued?.workerId ?? null;
        // Paid out of `vch:` (the operator's `opr:vouchers`), where core/payouts moved the earnings when it
        // signed the voucher (never a choice: a `wrk:` default once left `vch:` undrained on AWS, issue 9 #2).
        const from = workerId ? payeeVoucherAccount(workerId) : UNMATCHED_ACCOUNT;
        const ops = movementOps(
          chainMovementId(txHash),
          "redemption",
          at,
          [
            { account: from, field: "available", delta: -paid },
            { account: CHAIN_ACCOUNT, field: "available", delta: paid },
          ],
          {
            txHash,
            payee: r.payee,
            worker: r.worker ?? "",
            workerId: workerId ?? "",
            cumulative: r.cumulative.toString(),
            paid: paid.toString(),
          },
        );
        const guard: Condition = progress ? { kind: "cmp", attr: "cumulative", op: "=", value: prev } : { kind: "notExists" };
        ops.push({
          op: "put",
          table: "chain",
          item: { ...redeemedKey(r.payee), cumulative: mark, at },
          when: guard,
        });
        try {
          await this.store.transact(ops);
          return { result: "applied", paid, workerId };
        } catch (e) {
          if (!(e instanceof ConditionFailedError)) throw e;
          return RETRY; // a concurrent pass got there first: re-read and decide again
        }
      },
    );
  }

  // ------------------------------------------------------------ what the coordinator signed
  /** Call when the coordinator signs a withdrawal (so the watcher can match the outflow). */
  async recordIssuedWithdrawal(w: IssuedWithdrawal, at: number): Promise<void> {
    await this.store.transact([issuedWithdrawalOp(w, at)]);
  }

  /** Call when the coordinator signs a voucher; keeps the highest cumulative per payee. */
  async recordIssuedVoucher(v: IssuedVoucher, at: number): Promise<void> {
    const prev = await this.findIssuedVoucher(v.payee);
    if (prev && prev.cumulative >= v.cumulative) return;
    await this.store.transact([
      {
        op: "put",
        table: "chain",
        item: issuedVoucherItem(v, at),
        when: prev ? { kind: "cmp", attr: "cumulative", op: "=", value: prev.cumulative } : { kind: "notExists" },
      },
    ]);
  }

  async findIssuedWithdrawal(account: string, seqno: number): Promise<IssuedWithdrawal | undefined> {
    const it = await this.store.get("chain", issuedWithdrawalKey(account, seqno));
    if (!it) return undefined;
    return { account, seqno, amount: big(it.amount), to: String(it.to), expiry: Number(it.expiry) };
  }

  async findIssuedVoucher(payee: string): Promise<IssuedVoucher | undefined> {
    const it = await this.store.get("chain", issuedVoucherKey(payee));
    if (!it) return undefined;
    return { workerId: String(it.workerId), payee, worker: String(it.worker), cumulative: big(it.cumulative), expiry: Number(it.expiry) };
  }

  /** What the vault has paid this payee in all, as booked so far (ChainLedger.redeemed). */
  async redeemed(payee: string): Promise<bigint> {
    return big((await this.store.get("chain", redeemedKey(payee)))?.cumulative);
  }

  async balance(account: string): Promise<{ available: bigint; held: bigint }> {
    const it = await this.store.get("accounts", { pk: account, sk: "balance" });
    return { available: big(it?.available), held: big(it?.held) };
  }

  async liabilities(): Promise<bigint> {
    let sum = 0n;
    for (const a of this.externals) {
      const b = await this.balance(a);
      sum += b.available + b.held;
    }
    return -sum;
  }
}
