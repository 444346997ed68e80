import { VoidJobResponse } from "../../events/api";
import { voidJob } from "../../core/jobs/void";
import { jobIdOf } from "./job-id";
import { lambdaHandler } from "./lambda";
import { lambdaSecretDeps } from "../deps-secrets";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/jobs/{id}/void",
    summary:
      "Void a job id of the caller that holds no job: no submit of it can commit any more (409 job_void), so a requester whose submit was lost, and whose resend was refused, may prepare the request again under a new id and pay once. voided: true (asking again is harmless: never rate-limited, unlike new voids, 429 rate_limited); the caller's job under it: voided: false with its status, nothing changed; another account's id: 409 job_exists",
    auth: "session",
    response: VoidJobResponse,
  },
  ({ deps, caller, params }) => {
    return voidJob(deps, caller, jobIdOf(params));
  },
);
// the session key (and the quote key) from SSM where the stack names their parameters
export const handler = lambdaHandler(route, lambdaSecretDeps);
