import { PrepareRequest, PrepareResponse } from "../../events/api";
import { prepareJob } from "../../core/jobs/prepare";
import { lambdaRegistryDeps } from "../deps-registry";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/jobs/prepare",
    summary: "Pick candidate workers and quote a price for jobs (a stateless, MAC'd quote: send it back with each submit until it expires)",
    auth: "session",
    replay: "idempotent",
    body: PrepareRequest,
    response: PrepareResponse,
  },
  ({ deps, caller, body }) => prepareJob(deps, caller, body),
);
// Reads the policy registry where one is configured: the registry's TON reader is bundled only here (functions/deps-registry.ts).
export const handler = lambdaHandler(route, lambdaRegistryDeps);
