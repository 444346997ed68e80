import { RegisterWorkerRequest, RegisterWorkerResponse } from "../../events/api";
import { registerWorker } from "../../core/workers";
import { lambdaRegistryDeps } from "../deps-registry";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/agents",
    summary:
      "Register or re-attest a worker with evidence binding its keys to a fresh nonce; each model with its price and what the engine can do with it (capabilities)",
    auth: "signed",
    body: RegisterWorkerRequest,
    response: RegisterWorkerResponse,
  },
  ({ deps, caller, body }) => registerWorker(deps, caller, body),
);
// Reads the policy registry where one is configured: the registry's TON reader is bundled only here (functions/deps-registry.ts).
export const handler = lambdaHandler(route, lambdaRegistryDeps);
