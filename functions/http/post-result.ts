import { ResultRequest, ResultResponse } from "../../events/api";
import { postResult } from "../../core/jobs";
import { lambdaHandler } from "./lambda";
import { lambdaSecretDeps } from "../deps-secrets";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/agent/results",
    summary:
      "A worker's sealed answer and signed receipt, or its failure code (any text sealed to the requester); a repeat must be identical (else 409 result_differs)",
    auth: "session",
    // Keyed by job, attempt and result digest: a replay is a duplicate, or a 409 when the job moved on.
    replay: "idempotent",
    body: ResultRequest,
    response: ResultResponse,
  },
  ({ deps, caller, body }) => postResult(deps, caller, body),
);
// the session key (and the quote key) from SSM where the stack names their parameters
export const handler = lambdaHandler(route, lambdaSecretDeps);
