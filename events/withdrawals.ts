import { z } from "zod";
import { NanoTon } from "./common";

const nano = z.string().regex(/^\d+$/, "a decimal amount of nanoTON");

/** POST /v1/account/withdraw */
export const WithdrawRequest = z.object({
  /** nanoTON to take out of the caller's available balance (decimal string or integer) */
  amount: NanoTon,
  /** destination TON address (raw "0:<64 hex>" or user-friendly base64) */
  to: z.string().min(3).max(100),
});
export type WithdrawRequest = z.infer<typeof WithdrawRequest>;

/**
 * A coordinator-signed withdrawal: send it to the vault in a Withdraw message (anyone may send it)
 * before `expiry` (unix seconds); the vault pays `amount` to `to` once, when `seqno` is the
 * account's next one. Unused, it expires and the reserved amount comes back to `available`.
 */
export const SignedWithdrawalView = z.object({
  vault: z.string(),
  /** the requester's account id (base64url Ed25519 public key); uint256 on chain */
  account: z.string(),
  to: z.string(),
  amount: nano,
  seqno: z.number().int().nonnegative(),
  expiry: z.number().int(),
  /** Ed25519 signature, base64 */
  signature: z.string().min(1).max(200),
});
export type SignedWithdrawalView = z.infer<typeof SignedWithdrawalView>;

// DEV ONLY (local default's sandbox chain)
export const DevWithdrawRequest = z.object({ withdrawal: SignedWithdrawalView });
export const DevWithdrawView = z.object({ txHash: z.string(), account: z.string(), to: z.string(), amount: nano, seqno: z.number().int() });

/** GET /v1/account/withdrawals/{seqno} */
export const WithdrawalStatusView = z.object({
  seqno: z.number().int(),
  status: z.enum(["pending", "landed", "released"]),
  amount: nano,
  to: z.string(),
  expiry: z.number().int(),
  /** the vault transaction that paid it (landed) */
  txHash: z.string().optional(),
});
