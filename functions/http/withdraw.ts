import { SignedWithdrawalView, WithdrawRequest } from "../../events/withdrawals";
import type { CoreDeps } from "../../core/deps";
import { requestWithdrawal, type WithdrawalDeps } from "../../core/withdrawals";
import { lambdaTonDeps } from "../deps-ton";
import { lambdaHandler } from "./lambda";
import { defineRoute, IdempotencyHeaders } from "./middleware";

/**
 * A coordinator-signed withdrawal of `amount` nanoTON from the caller's available balance to
 * `to`: the amount is reserved at once (no longer available for jobs); send the withdrawal to the
 * vault before its expiry. Unused, it is released back after expiry.
 */
export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/account/withdraw",
    summary: "Reserve nanoTON of the caller's balance and get the coordinator-signed vault withdrawal for it",
    auth: "signed",
    // Keyed by its Idempotency-Key (and the seqno it took): a replay answers the same withdrawal, reserving nothing more.
    replay: "idempotent",
    body: WithdrawRequest,
    headers: IdempotencyHeaders,
    response: SignedWithdrawalView,
  },
  ({ deps, caller, body, headers }) =>
    requestWithdrawal(deps as CoreDeps & WithdrawalDeps, caller, body, { idempotencyKey: headers["idempotency-key"] }),
);
// Signs with the vault key: the only handlers that bundle TON code (see functions/deps-ton.ts).
export const handler = lambdaHandler(route, lambdaTonDeps);
