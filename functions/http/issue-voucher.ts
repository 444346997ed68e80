import { Voucher, VoucherRequest } from "../../events/money";
import type { CoreDeps } from "../../core/deps";
import { issueVoucher, type PayoutDeps } from "../../core/payouts";
import { lambdaTonDeps } from "../deps-ton";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

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
    response: Voucher,
  },
  ({ deps, caller, body }) => issueVoucher(deps as CoreDeps & PayoutDeps, caller, body.payoutAddress),
);
// Signs with the vault key: the only handlers that bundle TON code (see functions/deps-ton.ts).
export const handler = lambdaHandler(route, lambdaTonDeps);
