import { SignedWithdrawalView, WithdrawRequest } from "../../events/withdrawals";
import type { CoreDeps } from "../../core/deps";
import { requestWithdrawal, type WithdrawalDeps } from "../../core/withdrawals";
import { CocoonError } from "../../core/errors";
import { defineRoute, IdempotencyKey, lambdaHandler } from "./middleware";

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
    body: WithdrawRequest,
    response: SignedWithdrawalView,
  },
  ({ deps, caller, body, headers }) => {
    const key = IdempotencyKey.safeParse(headers["idempotency-key"]);
    if (!key.success) {
      throw new CocoonError(400, "missing_idempotency_key", "send an Idempotency-Key header (8-128 chars of A-Z a-z 0-9 _ . : -), the same one on every retry of this withdrawal");
    }
    return requestWithdrawal(deps as CoreDeps & WithdrawalDeps, caller, body, { idempotencyKey: key.data });
  },
);
export const handler = lambdaHandler(route);
