/**
 * Chain-side types of the money flow: what the watcher reads from the vault and what it
 * hands to the ledger. Pure data, no TON imports (the adapter in functions/adapters/ton-chain.ts
 * turns @ton/core transactions into VaultTx).
 */

/** Position in the vault's transaction history: the last transaction processed. */
export interface Cursor {
  lt: string;
  /** transaction hash, lowercase hex */
  hash: string;
}

/**
 * The vault keeps per-account and per-worker state in child wallets (contracts/README.md), so a
 * deposit, a withdrawal and a redemption each take two of the vault's transactions: the first
 * checks and routes ("-routed": nothing moves yet), the second acts on the wallet's answer
 * (the credit, or the payment), or on its bounce when the wallet refused ("-refused",
 * "deposit-refund").
 */
export type VaultTxKind =
  | "deposit" // a deposit the vault credited (read from its DepositCredited log, never from the inbound body)
  | "deposit-routed" // a deposit the vault accepted and sent to the account's wallet to record: not credited yet
  | "deposit-refund" // the account's wallet could not record it: the vault returned the deposit to its sender
  | "withdraw" // a coordinator-signed withdrawal the account's wallet approved: the vault paid it
  | "withdraw-routed" // Withdraw checked by the vault (signature, expiry, destination, solvency), sent to the wallet
  | "withdraw-refused" // the wallet refused it (seqno, balance, no wallet): the reservation rolled back, nothing paid
  | "redeem" // a voucher the worker's payout wallet approved: the vault paid what was due
  | "redeem-routed" // Redeem checked by the vault (signature, expiry, destination), sent to the payout wallet
  | "redeem-refused" // the payout wallet refused it (nothing to pay): nothing paid
  | "bounce" // inbound message was a bounce, or an unattributable transfer sent back/bounced
  | "topup" // owner's plain transfer
  | "admin" // owner's SetCoordinatorKey
  | "unknown";

export interface VaultTx {
  hash: string;
  lt: string;
  /** unix seconds */
  utime: number;
  kind: VaultTxKind;
  /** requester account id (base64url of the Ed25519 public key) for deposit/withdraw */
  account?: string;
  /** redeem(-routed): the payout address the vault paid (raw form "0:<hex>"), the voucher's `to` */
  worker?: string;
  /**
   * redeem(-routed): the voucher's payee (64 lowercase hex, core/chain/payee.ts): the vault keeps
   * its high-water mark per payee, and the watcher books the redemption against it
   */
  payee?: string;
  /**
   * deposit: value credited; deposit-routed / deposit-refund: the value deposited (refund: sent
   * back); withdraw(-routed/-refused): amount requested; redeem(-routed/-refused): the voucher's
   * cumulative amount
   */
  amount: bigint;
  /** value of the inbound message */
  inValue: bigint;
  /** total value of outbound internal messages */
  outValue: bigint;
  /** compute or action phase failed: no state change, inbound value bounced (minus fees) */
  aborted: boolean;
  /** the inbound message was itself a bounce */
  bounced: boolean;
  exitCode?: number;
  /**
   * redeem: what the vault paid, the payout wallet's `due` (cumulative − its mark). Not always
   * cumulative − the last cumulative paid: a claim the vault refused at payment lowered the mark.
   */
  due?: bigint;
  /** withdraw: the account's seqno it consumed; destination */
  seqno?: number;
  /** withdraw: the expiry it was signed with (tells apart re-issues of one seqno) */
  expiry?: number;
  to?: string;
  /** sender address (raw form) */
  from?: string;
}

/** What the coordinator signed, recorded when it signed it (so outflows can be matched). */
export interface IssuedWithdrawal {
  account: string;
  seqno: number;
  amount: bigint;
  to: string;
  expiry: number;
}

export interface IssuedVoucher {
  /** the payee's id (a worker's key id, or OPERATOR_PAYEE_ID) */
  workerId: string;
  /** its on-chain payee, 64 lowercase hex (payeeHex(workerId)): what the issued record is keyed by */
  payee: string;
  /** payout address the voucher names, raw form "0:<hex>" */
  worker: string;
  cumulative: bigint;
  expiry: number;
}

export type ApplyResult = "applied" | "duplicate";

/**
 * How a landed withdrawal matched what the coordinator signed:
 *   reserved       the pending reservation it was issued with (core/withdrawals.ts)
 *   after-release  an issue whose reservation had already been released as expired: the
 *                  amount is debited from the requester again (available may go negative:
 *                  a debt) and the watcher raises chain.withdrawal-after-release
 *   issued         a signed withdrawal recorded without a reservation (recordIssuedWithdrawal)
 *   unmatched      nothing the coordinator signed: debited from available, critical alert
 */
export type WithdrawalMatch = "reserved" | "after-release" | "issued" | "unmatched";

export interface WithdrawalLanding {
  result: ApplyResult;
  match: WithdrawalMatch;
}
