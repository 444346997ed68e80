import { z } from "zod";

const nano = z.string().regex(/^\d+$/);

/** POST /v1/agents/voucher */
export const VoucherRequest = z.object({
  /** the worker's TON wallet (raw "0:<hex>" or user-friendly); bound by the first voucher */
  payoutAddress: z.string().min(3).max(100),
});

/** A coordinator-signed payout voucher: redeem it at the vault for cumulative − already paid. */
export const Voucher = z.object({
  vault: z.string(),
  worker: z.string(),
  cumulative: nano,
  expiry: z.number().int(),
  signature: z.string().min(1).max(200),
});
export type Voucher = z.infer<typeof Voucher>;

// DEV ONLY (local default's sandbox chain)
export const DevWalletView = z.object({ address: z.string(), balance: nano, vault: z.string() });
export const DevDepositView = z.object({ txHash: z.string(), vault: z.string(), amount: nano, account: z.string() });
export const DevRedeemRequest = z.object({ voucher: Voucher });
export const DevRedeemView = z.object({ txHash: z.string(), paid: nano, worker: z.string(), cumulative: nano });
