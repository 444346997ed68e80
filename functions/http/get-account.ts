import { BalanceView } from "../../events/api";
import { getAccount } from "../../core/jobs";
import { defineRoute, lambdaHandler } from "./middleware";

export const route = defineRoute(
  { method: "GET", path: "/v1/account", summary: "The caller's balance: available and held nanoTON", auth: "signed", response: BalanceView },
  ({ deps, caller }) => getAccount(deps, caller),
);
export const handler = lambdaHandler(route);
