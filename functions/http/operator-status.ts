import { OperatorStatusView } from "../../events/money";
import type { CoreDeps } from "../../core/deps";
import { operatorStatus } from "../../core/operator-status";
import type { PayoutDeps } from "../../core/payouts";
import { lambdaRegistryDeps } from "../deps-registry";
import { withOperator } from "../operator-env";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

/**
 * The operator's fees (earned, redeemed, in the fee shards, vouchered), its payout address and
 * the fee in force, for the operator's key only (COCOON_OPERATOR_KEY), as GET /v1/agents/me is a
 * worker's. Reads only: a replay changes nothing, so it claims no request nonce (no write at all).
 */
export const route = defineRoute(
  {
    method: "GET",
    path: "/v1/operator/status",
    summary:
      "The operator's fees: earned, redeemed, per fee shard, vouchered; its payout address and the fee in force (the operator's key only)",
    auth: "signed",
    replay: "idempotent",
    response: OperatorStatusView,
  },
  ({ deps, caller }) => operatorStatus(deps as CoreDeps & PayoutDeps, caller),
);

// The registry's snapshot (where COCOON_REGISTRY_ADDRESS names one) for the fee in force; the operator's key from COCOON_OPERATOR_KEY.
export const handler = lambdaHandler(route, withOperator(lambdaRegistryDeps));
