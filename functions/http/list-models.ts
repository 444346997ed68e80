import { ModelsResponse } from "../../events/api";
import { listModels } from "../../core/workers";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "GET",
    path: "/v1/models",
    summary:
      "Models with live worker counts per tier, min/median/max price per token, and what every live worker of the model can do (capabilities)",
    auth: "none",
    response: ModelsResponse,
  },
  ({ deps }) => listModels(deps),
);
export const handler = lambdaHandler(route);
