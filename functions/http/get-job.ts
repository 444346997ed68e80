import { JobView } from "../../events/api";
import { getJob } from "../../core/jobs";
import { jobIdOf } from "./job-id";
import { lambdaHandler } from "./lambda";
import { lambdaSecretDeps } from "../deps-secrets";
import { defineRoute, WaitQuery } from "./middleware";

export const route = defineRoute(
  {
    method: "GET",
    path: "/v1/jobs/{id}",
    summary: "Read a job; ?wait=N long-polls up to N seconds for it to finish",
    auth: "session",
    replay: "idempotent",
    query: WaitQuery,
    response: JobView,
  },
  ({ deps, caller, query, params, signal }) => {
    return getJob(deps, caller, jobIdOf(params), query.wait, undefined, signal);
  },
);
// the session key (and the quote key) from SSM where the stack names their parameters
export const handler = lambdaHandler(route, lambdaSecretDeps);
