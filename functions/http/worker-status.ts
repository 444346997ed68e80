import { WorkerStatusView } from "../../events/api";
import { workerStatus } from "../../core/workers";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "GET",
    path: "/v1/agents/me",
    summary: "The calling worker's jobs, tokens, earned and redeemed nanoTON",
    auth: "signed",
    response: WorkerStatusView,
  },
  ({ deps, caller }) => workerStatus(deps, caller),
);
export const handler = lambdaHandler(route);
