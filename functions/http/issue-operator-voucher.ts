import { Voucher, VoucherRequest } from "../../events/money";
import type { CoreDeps } from "../../core/deps";
import { issueOperatorVoucher, type PayoutDeps } from "../../core/payouts";
import { lambdaTonDeps } from "../deps-ton";
import { withOperator } from "../operator-env";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

/**
 * A coordinator-signed voucher for all the operator fees earned so far (cumulative), asked by
 * the operator's key only (COCOON_OPERATOR_KEY): redeem it at the vault like a worker's.
 */
export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/operator/voucher",
    summary: "A signed payout voucher for the operator's cumulative fees (the operator's key only; redeem it at the vault)",
    auth: "signed",
    body: VoucherRequest,
    response: Voucher,
  },
  ({ deps, caller, body }) => issueOperatorVoucher(deps as CoreDeps & PayoutDeps, caller, body.payoutAddress),
);

// Signs with the vault key, like POST /v1/agents/voucher (see functions/deps-ton.ts); the operator's key from COCOON_OPERATOR_KEY.
export const handler = lambdaHandler(route, withOperator(lambdaTonDeps));
