import { z } from "zod";
import { WithdrawalStatusView } from "../../events/withdrawals";
import type { CoreDeps } from "../../core/deps";
import { NotFoundError, ValidationError } from "../../core/errors";
import { getWithdrawal, releaseExpiredWithdrawals, type WithdrawalDeps } from "../../core/withdrawals";
import { lambdaTonSeqnoDeps } from "../deps-ton";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

/** Where one of the caller's withdrawals stands: pending (reserved), landed (paid on chain) or released. */
export const route = defineRoute(
  {
    method: "GET",
    path: "/v1/account/withdrawals/{seqno}",
    summary: "Status of one of the caller's withdrawals (pending, landed on chain, or released after expiry)",
    auth: "signed",
    response: WithdrawalStatusView,
  },
  async ({ deps, caller, params }) => {
    const seqno = z.coerce.number().int().nonnegative().safeParse(params.seqno);
    if (!seqno.success) throw new ValidationError(`seqno must be a non-negative integer, got "${params.seqno}"`);
    await releaseExpiredWithdrawals(deps as CoreDeps & WithdrawalDeps, caller);
    const w = await getWithdrawal(deps.store, caller, seqno.data);
    if (!w)
      throw new NotFoundError(
        "withdrawal_not_found",
        `no withdrawal with seqno ${seqno.data} was issued for this account; see POST /v1/account/withdraw`,
      );
    return {
      seqno: w.seqno,
      status: w.status,
      amount: w.amount.toString(),
      to: w.to,
      expiry: w.expiry,
      ...(w.landedTx ? { txHash: w.landedTx } : {}),
    };
  },
);
// Reads the vault's seqno getter; holds no vault key (functions/deps-ton.ts lambdaTonSeqnoDeps).
export const handler = lambdaHandler(route, lambdaTonSeqnoDeps);
