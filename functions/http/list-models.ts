import { ModelsResponse } from "../../events/api";
import { listModels } from "../../core/workers";
import { lambdaRegistryDeps } from "../deps-registry";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "GET",
    path: "/v1/models",
    summary:
      "Models with the counts per tier of the workers matching could choose now (live, and on the policy registry's allow-lists where one is configured), min/median/max price per token, and what every such worker of the model can do (capabilities)",
    auth: "none",
    response: ModelsResponse,
  },
  ({ deps }) => listModels(deps),
);
// issue 15: counts only what matching could choose, so it reads the policy registry as matching does (functions/deps-registry.ts).
export const handler = lambdaHandler(route, lambdaRegistryDeps);
