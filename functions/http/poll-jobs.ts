import { AgentWorkResponse } from "../../events/api";
// from its stage, not the core/jobs index (whose other stages, prepare, dispatch, tabs, would load at cold start)
import { pollJobs } from "../../core/jobs/poll";
import { lambdaHandler } from "./lambda";
import { lambdaSecretDeps } from "../deps-secrets";
import { defineRoute, WaitQuery } from "./middleware";

export const route = defineRoute(
  {
    method: "GET",
    path: "/v1/agent/jobs",
    summary: "Long-poll the jobs and attestation challenges sent to the calling worker (HTTP fallback of the SQS job source)",
    auth: "session",
    query: WaitQuery,
    response: AgentWorkResponse,
  },
  ({ deps, caller, query, signal }) => pollJobs(deps, caller, query.wait, undefined, signal),
);
// the session key (and the quote key) from SSM where the stack names their parameters
export const handler = lambdaHandler(route, lambdaSecretDeps);
