import { JobView } from "../../events/api";
// from its stage, not the core/jobs index: the index brings prepare (attestation checks) and
// dispatch (the receipt log) into this bundle, and their module-level schemas run at cold start
import { getJob } from "../../core/jobs/read";
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
