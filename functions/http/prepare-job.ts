import { PrepareRequest, PrepareResponse } from "../../events/api";
import { prepareJob } from "../../core/jobs";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  { method: "POST", path: "/v1/jobs/prepare", summary: "Pick candidate workers and quote a price for jobs (a stateless, MAC'd quote: send it back with each submit until it expires)", auth: "signed", replay: "idempotent", body: PrepareRequest, response: PrepareResponse },
  ({ deps, caller, body }) => prepareJob(deps, caller, body),
);
export const handler = lambdaHandler(route);
