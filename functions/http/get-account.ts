import { BalanceView } from "../../events/api";
import type { CoreDeps } from "../../core/deps";
import { getAccount } from "../../core/jobs/read";
import { releaseExpiredWithdrawals, type WithdrawalDeps } from "../../core/withdrawals";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "GET",
    path: "/v1/account",
    summary: "The caller's balance: available, held (jobs in flight) and reserved (withdrawals not landed yet) nanoTON",
    auth: "signed",
    response: BalanceView,
  },
  async ({ deps, caller }) => {
    // withdrawals that expired unused come back to `available` before we report it
    await releaseExpiredWithdrawals(deps as CoreDeps & WithdrawalDeps, caller);
    return getAccount(deps, caller);
  },
);
export const handler = lambdaHandler(route);
