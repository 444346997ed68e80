/**
 * Worker payouts: a worker's earnings (`wrk:<id>.available`, credited by job settlement) become
 * a coordinator-signed voucher the worker cashes at the vault.
 *
 *   issueVoucher: moves everything the worker has earned since its last voucher into its
 *   "issued vouchers" account `vch:<id>` (one idempotent ledger movement per new cumulative
 *   amount, `voucher:<id>:<cumulative>`), records the voucher for the chain watcher
 *   (StoreChainLedger.recordIssuedVoucher) and signs it through the VoucherSigner port.
 *
 *   Redemption: the chain watcher sees the vault pay `cumulative - already paid` and moves
 *   that much from `vch:<id>` to `ext:chain` (the one chain ledger, createChainLedger).
 *
 * So, per worker: earned = wrk.available + issued cumulative; redeemed = issued − vch.available.
 *
 * The vault (v2) keeps what it paid per PAYEE (`PayoutWallet(vault, payee)`, payee =
 * payeeHex(id), core/chain/payee.ts) and pays `cumulative − paid[payee]` to the address the
 * voucher names. So many payees may share one payout address (a GPU owner's agents, a data
 * centre's), and nobody can take an address from anyone: there is no address claim.
 *
 * One payout address per payee all the same: the first voucher binds it (table "chain",
 * pk=`payout:<workerId>`) and another is refused (409 payout_address_mismatch). The vault would
 * pay a later voucher to a new address correctly (the mark is the payee's); the binding is kept
 * so that a worker key that leaks cannot redirect the earnings it has not yet redeemed, and an
 * owner who must move them re-registers (the minimal choice; see docs/security.md).
 *
 * One vault: the first voucher binds the store to the signer's vault and any other is refused
 * (503 vault_mismatch; core/chain/vault-binding.ts): a vault deployed afresh starts its payout
 * wallets at 0 and would pay every cumulative here again.
 *
 * The issued-voucher record the watcher routes redemptions by (`voucher:<payee>`) is written in
 * the same transaction as the movement and the payout record; two issues racing for one payee
 * are serialised by the payout record's guard, so the loser's money never moves.
 *
 * The operator is paid its fees the same way (issueOperatorVoucher): one more payee, whose
 * earnings are the fee shards `opr:fees:<k>` (each settlement's operator fee, in its worker's
 * shard: core/ledger.ts operatorFeeAccount), all swept at once, whose vouchers account is
 * `opr:vouchers` and whose identity is OPERATOR_PAYEE_ID, under the same rules (one address,
 * one vault, one movement per new cumulative). Only the configured operator key may ask.
 */
import type { Voucher } from "../events/money";
import { payeeHex } from "./chain/payee";
import { createChainLedger, issuedVoucherItem, OPERATOR_PAYEE_ID, OPERATOR_VOUCHER_ACCOUNT, voucherAccount } from "./chain/store-ledger";
import { bindVault } from "./chain/vault-binding";
import type { CoreDeps } from "./deps";
import { CocoonError, ConflictError, ForbiddenError, NotAWorkerError, UnavailableError } from "./errors";
import { applyMovement, getBalance, OPERATOR_FEE_ACCOUNTS, OverdraftError, toBig, workerAccount, type Movement } from "./ledger";
import { ConditionFailedError, type Store } from "./ports";
import { RETRY, retryOptimistic } from "./retry";
import { refuseUnpayable } from "./withdrawals";

export { OPERATOR_PAYEE_ID, OPERATOR_VOUCHER_ACCOUNT, voucherAccount };

/** The coordinator's voucher signer: the local sandbox's key, or a key from config on AWS. */
export interface VoucherSigner {
  /** the vault the vouchers are for (raw form "0:<hex>") */
  readonly vault: string;
  /** Canonical raw form ("0:<hex>") of a payout address; throws InvalidPayoutAddressError. */
  payoutAddress(address: string): string;
  /** `payee`: the on-chain payee (64 hex, payeeHex); `worker`: the payout address the vault pays. */
  sign(v: { payee: string; worker: string; cumulative: bigint; expiry: number }): Promise<{ signature: string }>;
}

/** What the payout routes need beyond CoreDeps (optional: absent where payouts are off). */
export interface PayoutDeps {
  voucherSigner?: VoucherSigner;
  /**
   * The operator's key id (base64url of its Ed25519 public key: operatorKeyId): the one caller
   * paid the operator's fees (issueOperatorVoucher). Absent: the operator is paid nothing
   * (POST /v1/operator/voucher answers 503 payouts_unavailable).
   */
  operatorKeyId?: string;
}

/**
 * Who a voucher pays: its identity (on `payout:<id>`, in the movement id, and hashed into the
 * on-chain payee the vault's mark and `voucher:<payee>` are keyed by), the account its earnings accrue in and its
 * issued-vouchers account (core/chain/store-ledger.ts payeeVoucherAccount must name the same).
 */
interface Payee {
  id: string;
  /**
   * The accounts its earnings accrue in: a worker's one `wrk:`, the operator's fee shards. A
   * voucher moves every one with a positive available into `vouchers`, in one movement.
   */
  earnings: readonly string[];
  vouchers: string;
  /** how the refusals name it ("this worker", "the operator") */
  who: string;
  /** the message of its 409 nothing_earned */
  nothingEarned: string;
}

const workerPayee = (workerId: string): Payee => ({
  id: workerId,
  earnings: [workerAccount(workerId)],
  vouchers: voucherAccount(workerId),
  who: "this worker",
  nothingEarned: "this worker has earned nothing yet: run jobs first, then ask for a voucher",
});

/** The operator: its fees accrue in the shards `opr:fees:<k>` (each settlement's operator fee) and are vouchered into `opr:vouchers`. */
const OPERATOR_PAYEE: Payee = {
  id: OPERATOR_PAYEE_ID,
  earnings: OPERATOR_FEE_ACCOUNTS,
  vouchers: OPERATOR_VOUCHER_ACCOUNT,
  who: "the operator",
  nothingEarned: "the operator has earned no fees yet: ask again once jobs have settled",
};

/** A signed voucher as the worker receives it (schema: events/money.ts). */
export type VoucherView = Voucher;

export class InvalidPayoutAddressError extends CocoonError {
  constructor(message: string) {
    super(400, "invalid_payout_address", message);
  }
}

export const voucherMovementId = (workerId: string, cumulative: bigint) => `voucher:${workerId}:${cumulative}`;
const payoutKey = (workerId: string) => ({ pk: `payout:${workerId}`, sk: "w" });

export interface PayoutRecord {
  address: string;
  cumulative: bigint;
}

export async function getPayoutRecord(store: Store, workerId: string): Promise<PayoutRecord | undefined> {
  const it = await store.get("chain", payoutKey(workerId));
  return it ? { address: String(it.address), cumulative: toBig(it.cumulative) } : undefined;
}

export const DEFAULT_VOUCHER_TTL_SECONDS = 86_400;

/**
 * Issue (or re-issue, with a fresh expiry) the worker's voucher for everything it has earned.
 * Safe to retry and to call concurrently: the cumulative amount only grows, and each growth
 * is one ledger movement keyed by the new cumulative.
 */
export async function issueVoucher(
  deps: CoreDeps & PayoutDeps,
  workerId: string,
  payoutAddress: string,
  o: { ttlSeconds?: number } = {},
): Promise<VoucherView> {
  if (!(await deps.store.get("workers", { pk: workerId, sk: "worker" }))) {
    throw new NotAWorkerError(workerId);
  }
  return issuePayeeVoucher(deps, workerPayee(workerId), payoutAddress, o);
}

/** The operator's key id (what a signed request's caller is) from its Ed25519 public key in hex (64 chars). */
export function operatorKeyId(publicKeyHex: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(publicKeyHex)) throw new Error("the operator key must be a 32-byte Ed25519 public key in hex (64 chars)");
  return Buffer.from(publicKeyHex, "hex").toString("base64url");
}

/**
 * The operator's voucher for all the fees it has earned (every shard `opr:fees:<k>`), issued exactly as a
 * worker's (issuePayeeVoucher): one payout address, one vault, one movement per new cumulative.
 * Only the configured operator key may ask (403 not_the_operator); none configured: 503.
 */
export async function issueOperatorVoucher(
  deps: CoreDeps & PayoutDeps,
  caller: string,
  payoutAddress: string,
  o: { ttlSeconds?: number } = {},
): Promise<VoucherView> {
  requireOperator(deps, caller);
  return issuePayeeVoucher(deps, OPERATOR_PAYEE, payoutAddress, o);
}

/**
 * The gate of every operator route, before anything is read: none configured, 503
 * payouts_unavailable; any key but the configured one, 403 not_the_operator.
 */
export function requireOperator(deps: PayoutDeps, caller: string): void {
  if (!deps.operatorKeyId) {
    throw new UnavailableError(
      "payouts_unavailable",
      "this coordinator has no operator key configured (COCOON_OPERATOR_KEY); operator payouts are off",
    );
  }
  if (caller !== deps.operatorKeyId) {
    throw new ForbiddenError("not_the_operator", "only the operator's key (COCOON_OPERATOR_KEY) may be paid the operator's fees");
  }
}

async function issuePayeeVoucher(
  deps: CoreDeps & PayoutDeps,
  payee: Payee,
  payoutAddress: string,
  o: { ttlSeconds?: number },
): Promise<VoucherView> {
  const workerId = payee.id;
  const onChain = payeeHex(workerId);
  const signer = deps.voucherSigner;
  if (!signer) throw new UnavailableError("payouts_unavailable", "this coordinator has no voucher signing key configured; payouts are off");
  // the cumulatives and payout marks here are the bound vault's: another vault would pay them again
  await bindVault(deps.store, signer.vault, deps.clock.now());
  const address = signer.payoutAddress(payoutAddress);
  // before the earnings move to the voucher account and the address is bound to this payee for good
  refuseUnpayable(address, signer.vault, "payoutAddress");
  const chainLedger = createChainLedger(deps.store);
  const contention = () =>
    new UnavailableError("voucher_contention", "could not issue the voucher: concurrent updates kept conflicting; try again", 1);

  return retryOptimistic({ attempts: 8, exhausted: contention }, async () => {
    const rec = await getPayoutRecord(deps.store, workerId);
    if (rec && rec.address !== address) {
      throw new ConflictError(
        "payout_address_mismatch",
        `${payee.who}'s vouchers are paid to ${rec.address}; ask with that payoutAddress (it is bound by the first voucher)`,
        {
          payoutAddress: rec.address,
        },
      );
    }
    // Each account's debit is what was read, guarded by the balance (applyMovement): a settlement
    // landing after the read stays where it is, for the next voucher; one racing voucher loses on the record.
    const balances = (await Promise.all(payee.earnings.map((a) => getBalance(deps.store, a)))).filter((b) => b.available > 0n);
    const earned = balances.reduce((s, b) => s + b.available, 0n);
    const prev = rec?.cumulative ?? 0n;
    const cumulative = prev + earned;
    if (cumulative === 0n) {
      // No record read, and no earnings: a concurrent issue may have moved them between the two
      // reads (its record written after ours was read). Decide again on fresh reads.
      if (!rec && (await getPayoutRecord(deps.store, workerId))) return RETRY;
      throw new ConflictError("nothing_earned", payee.nothingEarned);
    }

    const now = deps.clock.now();
    const expiry = Math.floor(now / 1000) + (o.ttlSeconds ?? DEFAULT_VOUCHER_TTL_SECONDS);
    if (cumulative > prev) {
      const m: Movement = {
        id: voucherMovementId(workerId, cumulative),
        kind: "voucher",
        at: now,
        meta: { workerId, address, cumulative: cumulative.toString() },
        postings: [
          ...balances.map((b) => ({ account: b.account, field: "available" as const, delta: -b.available })),
          { account: payee.vouchers, field: "available", delta: earned },
        ],
      };
      const record = {
        op: "put" as const,
        table: "chain" as const,
        item: { ...payoutKey(workerId), workerId, address, cumulative, at: now },
        when: rec ? { kind: "cmp" as const, attr: "cumulative", op: "=" as const, value: prev } : { kind: "notExists" as const },
      };
      // Unguarded: the payout record's guard above already serialises this payee's issues, and
      // only the one that moved the cumulative from `prev` commits (so the record only grows).
      const issued = {
        op: "put" as const,
        table: "chain" as const,
        item: issuedVoucherItem({ workerId, payee: onChain, worker: address, cumulative, expiry }, now),
      };
      try {
        const r = await applyMovement(deps.store, m, [record, issued]);
        if (r === "duplicate") return RETRY; // someone else issued this very amount: re-read and sign it
      } catch (e) {
        if (e instanceof ConditionFailedError || e instanceof OverdraftError) return RETRY; // raced: re-read
        throw e;
      }
    }

    // Recorded before handing it out, so the watcher can always match the redemption (a no-op
    // when the movement above wrote it: a re-issue of the same cumulative).
    await chainLedger.recordIssuedVoucher({ workerId, payee: onChain, worker: address, cumulative, expiry }, now);
    const { signature } = await signer.sign({ payee: onChain, worker: address, cumulative, expiry });
    deps.log.info("voucher issued", { workerId, address, cumulative: cumulative.toString(), expiry });
    return { vault: signer.vault, payee: onChain, worker: address, cumulative: cumulative.toString(), expiry, signature };
  });
}

/** Earned and redeemed nanoTON of a worker, from the ledger (see the header). */
export async function payoutTotals(store: Store, workerId: string) {
  const { accounts: _accounts, ...t } = await payeeTotals(store, workerPayee(workerId));
  return t;
}

/**
 * The operator's as payoutTotals has a worker's, and what each fee shard holds (`accounts`,
 * in shard order: OPERATOR_FEE_ACCOUNTS).
 */
export const operatorPayoutTotals = (store: Store) => payeeTotals(store, OPERATOR_PAYEE);

/** A payee's earned and redeemed nanoTON, from the ledger: earned = not yet vouchered + issued; redeemed = issued − still in `vouchers`. */
async function payeeTotals(store: Store, payee: Payee) {
  const [accounts, vch, rec] = await Promise.all([
    Promise.all(payee.earnings.map((a) => getBalance(store, a))),
    getBalance(store, payee.vouchers),
    getPayoutRecord(store, payee.id),
  ]);
  const available = accounts.reduce((s, b) => s + b.available, 0n);
  const issued = rec?.cumulative ?? 0n;
  return {
    /** not yet vouchered */
    available,
    /** vouchered, not yet redeemed on chain */
    unredeemed: vch.available,
    issued,
    earned: available + issued,
    redeemed: issued - vch.available,
    payoutAddress: rec?.address,
    /** each earnings account's balance, in `payee.earnings` order */
    accounts,
  };
}
