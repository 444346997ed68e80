import { ResultRequest } from "../../events/api";
import { postResult } from "../../core/jobs";
import { defineRoute, lambdaHandler } from "./middleware";

export const route = defineRoute(
  { method: "POST", path: "/v1/agent/results", summary: "A worker's sealed answer and signed receipt, or its failure report", auth: "signed", body: ResultRequest },
  ({ deps, caller, body }) => postResult(deps, caller, body),
);
export const handler = lambdaHandler(route);
