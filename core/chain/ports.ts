import type { ApplyResult, Cursor, IssuedVoucher, IssuedWithdrawal, VaultTx, WithdrawalLanding } from "./types";

export type {
  ApplyResult,
  Cursor,
  IssuedVoucher,
  IssuedWithdrawal,
  VaultTx,
  VaultTxKind,
  WithdrawalLanding,
  WithdrawalMatch,
} from "./types";

/** What ChainReader.chainView answers. */
export interface ChainView {
  /** chain time (ms since epoch) of the state read */
  at: number;
  /** the vault's last transaction in that state (lt); null when it has none */
  lastLt: string | null;
}

/** Read side of the chain: the vault's transactions in ascending (lt) order, and its balance. */
export interface ChainReader {
  /**
   * Up to `limit` transactions strictly after `after` (from the first one when null), oldest first.
   * `cursor` is the last transaction returned, or `after` when there is nothing new.
   */
  getVaultTransactions(after: Cursor | null, limit: number): Promise<{ txs: VaultTx[]; cursor: Cursor | null }>;
  getVaultBalance(): Promise<bigint>;
  /**
   * The newest state of the chain the reader can see, where its view can lag the wall clock
   * (toncenter: its sync time, `sync_utime`, and the vault's last transaction in that state). A
   * pass vouches only for what the chain showed it: its caught-up time is the earlier of its
   * start and `at`, and only if its history reached `lastLt` (toncenter answers history from its
   * archival nodes, which may lag the node that answered the state). Withdrawals are released on
   * that time (core/withdrawals.ts). Absent: the reader sees the chain as of now (the local sandbox).
   */
  chainView?(): Promise<ChainView>;
}

/** What the watcher needs from the ledger. Every method is idempotent per transaction hash. */
export interface ChainLedger {
  /**
   * Binds the ledger to the vault `vault` (raw "wc:hex") on first use, else checks it: throws
   * VaultMismatchError (core/chain/vault-binding.ts), having written nothing, when the ledger's
   * chain state belongs to another vault.
   */
  bindVault(vault: string, at: number): Promise<void>;
  getCursor(): Promise<Cursor | null>;
  setCursor(cursor: Cursor, at: number): Promise<void>;
  /** When the last successful pass finished (ms), for the lag alert; null before the first. */
  lastPassAt(): Promise<number | null>;
  /**
   * A pass finished at `at`. `caughtUpAsOf`: when the pass read every transaction the chain
   * showed (it did not stop at its page limit), the time it started reading, else null. Only
   * such passes say that nothing older is left unread; withdrawals are released on them alone.
   */
  markPass(at: number, o: { caughtUpAsOf: number | null }): Promise<void>;
  /** Start time of the latest pass that left nothing unread (ms); null before the first. */
  lastCaughtUpAt(): Promise<number | null>;
  /** Credit `amount` to req:<account> from ext:chain, once per txHash. */
  creditDeposit(txHash: string, account: string, amount: bigint, at: number): Promise<ApplyResult>;
  /**
   * A withdrawal the vault paid, once per txHash: out of the reservation it was issued with,
   * or out of req:<account> (see WithdrawalMatch).
   */
  recordWithdrawal(
    txHash: string,
    w: { account: string; amount: bigint; seqno?: number; to?: string; expiry?: number },
    at: number,
  ): Promise<WithdrawalLanding>;
  /**
   * Record a voucher redemption: pays `due` (what the vault paid; `cumulative - already redeemed`
   * when the reader gives none) out of the payee's vouchered earnings (vch:<workerId> of the
   * issued voucher of the payee, opr:vouchers for the operator's, ext:unmatched when none).
   * `payee` (64 hex) is what the vault's mark and the booking are per; `worker` is the address paid.
   */
  recordRedemption(
    txHash: string,
    r: { payee: string; worker?: string; cumulative: bigint; due?: bigint },
    at: number,
  ): Promise<{ result: ApplyResult; paid: bigint; workerId: string | null }>;
  findIssuedWithdrawal(account: string, seqno: number): Promise<IssuedWithdrawal | undefined>;
  /**
   * What the vault has paid this payee (64 hex) in all, as booked so far (its payout wallet's
   * mark): never above the highest cumulative signed for it unless the vault paid what nobody
   * signed, or paid it again (a vault deployed afresh starts its payout wallets at 0).
   */
  redeemed(payee: string): Promise<bigint>;
  /** The highest-cumulative voucher issued for this payee (64 hex). */
  findIssuedVoucher(payee: string): Promise<IssuedVoucher | undefined>;
  /** Requester balances (available + held) plus unredeemed worker earnings, nanoTON. */
  liabilities(): Promise<bigint>;
}
