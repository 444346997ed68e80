import { z } from "zod";
import { NanoTonString, SignatureBase64, TonAddress } from "./common";

/** POST /v1/agents/voucher */
export const VoucherRequest = z.object({
  /** the worker's TON wallet (raw "0:<hex>" or user-friendly); bound by the first voucher */
  payoutAddress: z.string().min(3).max(100),
});

/**
 * A coordinator-signed payout voucher: redeem it at the vault for cumulative − already paid.
 * The one voucher shape: the coordinator answers it, the agent parses it, the dev redeem route
 * takes it, and functions/adapters/ton-chain.ts turns it into the vault's Redeem message.
 */
export const Voucher = z.object({
  /** the vault that pays it */
  vault: TonAddress,
  /** the worker's payout address (the vault pays this wallet) */
  worker: TonAddress,
  /** everything vouchered to this address so far, nanoTON */
  cumulative: NanoTonString,
  /** unix seconds (the vault stores 32 bits) */
  expiry: z.number().int().nonnegative().max(0xffff_ffff),
  signature: SignatureBase64,
});
export type Voucher = z.infer<typeof Voucher>;

// DEV ONLY (local default's sandbox chain)
export const DevWalletView = z.object({ address: TonAddress, balance: NanoTonString, vault: TonAddress });
/** amount: what was paid into the vault; credited: what the vault credits the account (amount less its deposit fee) */
export const DevDepositView = z.object({
  txHash: z.string(),
  vault: TonAddress,
  amount: NanoTonString,
  credited: NanoTonString,
  account: z.string(),
});
export const DevRedeemRequest = z.object({ voucher: Voucher });
export const DevRedeemView = z.object({ txHash: z.string(), paid: NanoTonString, worker: TonAddress, cumulative: NanoTonString });
