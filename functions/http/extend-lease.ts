import { LeaseRequest, LeaseResponse } from "../../events/api";
import { extendLease } from "../../core/jobs/lease";
import { lambdaHandler } from "./lambda";
import { lambdaSecretDeps } from "../deps-secrets";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/agent/lease",
    summary:
      "The worker running a job asks for more time: at most one more lease from now, never past an hour after submit (asked before a quarter of a lease would be gained: nothing changes, the lease as it is; extended: false once the hour is reached: ask no more; 409 stale_attempt once the job moved on; 409 job_cancelled once its requester cancelled it: stop and post what was generated)",
    auth: "session",
    body: LeaseRequest,
    response: LeaseResponse,
  },
  ({ deps, caller, body }) => extendLease(deps, caller, body),
);
// the session key (and the quote key) from SSM where the stack names their parameters
export const handler = lambdaHandler(route, lambdaSecretDeps);
