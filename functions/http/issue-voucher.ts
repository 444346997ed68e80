import { z } from "zod";
import type { CoreDeps } from "../../core/deps";
import { issueVoucher, type PayoutDeps } from "../../core/payouts";
import { defineRoute, lambdaHandler } from "./middleware";

export const VoucherRequest = z.object({
  /** the worker's TON wallet (raw "0:<hex>" or user-friendly); bound by the first voucher */
  payoutAddress: z.string().min(3).max(100),
});
const nano = z.string().regex(/^\d+$/);
export const VoucherView = z.object({ vault: z.string(), worker: z.string(), cumulative: nano, expiry: z.number().int(), signature: z.string() });

/**
 * A coordinator-signed voucher for everything the calling worker has earned (cumulative):
 * send it to the vault in a Redeem message to be paid the difference to what it already paid.
 */
export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/agents/voucher",
    summary: "A signed payout voucher for the calling worker's cumulative earnings (redeem it at the vault)",
    auth: "signed",
    body: VoucherRequest,
    response: VoucherView,
  },
  ({ deps, caller, body }) => issueVoucher(deps as CoreDeps & PayoutDeps, caller, body.payoutAddress),
);
export const handler = lambdaHandler(route);
