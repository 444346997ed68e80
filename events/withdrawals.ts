import { z } from "zod";
import { AccountId, NanoTon, NanoTonString, SignatureBase64, TonAddress } from "./common";

// Module-level schemas are built in /* @__PURE__ */ IIFEs so that bundles drop unused ones (see events/api.ts).

/** POST /v1/account/withdraw */
export const WithdrawRequest = /* @__PURE__ */ (() =>
  z.object({
    /** nanoTON to take out of the caller's available balance (decimal string or integer) */
    amount: NanoTon,
    /** destination TON address (raw "0:<64 hex>" or user-friendly base64) */
    to: z.string().min(3).max(100),
  }))();
export type WithdrawRequest = z.infer<typeof WithdrawRequest>;

/**
 * A coordinator-signed withdrawal: send it to the vault in a Withdraw message (anyone may send it)
 * before `expiry` (unix seconds); the vault pays `amount` to `to` once, when `seqno` is the
 * account's next one. Unused, it expires and the reserved amount comes back to `available`.
 */
export const SignedWithdrawalView = /* @__PURE__ */ (() =>
  z.object({
    vault: TonAddress,
    /** the requester's account id (base64url Ed25519 public key); uint256 on chain */
    account: AccountId,
    to: TonAddress,
    amount: NanoTonString,
    /** uint32 on chain, as expiry (contracts/vault.tact Withdraw) */
    seqno: z.number().int().nonnegative().max(0xffff_ffff),
    /** unix seconds */
    expiry: z.number().int().nonnegative().max(0xffff_ffff),
    /** Ed25519 signature by the coordinator's key */
    signature: SignatureBase64,
  }))();
export type SignedWithdrawalView = z.infer<typeof SignedWithdrawalView>;

// DEV ONLY (local default's sandbox chain)
export const DevWithdrawRequest = /* @__PURE__ */ (() => z.object({ withdrawal: SignedWithdrawalView }))();
export const DevWithdrawView = /* @__PURE__ */ (() =>
  z.object({
    txHash: z.string(),
    account: AccountId,
    to: TonAddress,
    amount: NanoTonString,
    seqno: z.number().int(),
  }))();

/** GET /v1/account/withdrawals/{seqno} */
export const WithdrawalStatusView = /* @__PURE__ */ (() =>
  z.object({
    seqno: z.number().int(),
    status: z.enum(["pending", "landed", "released"]),
    amount: NanoTonString,
    to: TonAddress,
    expiry: z.number().int(),
    /** the vault transaction that paid it (landed) */
    txHash: z.string().optional(),
  }))();
