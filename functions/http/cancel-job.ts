import { CancelJobResponse } from "../../events/api";
import { cancelJob } from "../../core/jobs/cancel";
import { jobIdOf } from "./job-id";
import { lambdaHandler } from "./lambda";
import { lambdaSecretDeps } from "../deps-secrets";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/jobs/{id}/cancel",
    summary:
      "Cancel a running job: its worker is told to stop; the job then ends billed for what was generated, or refunded (outcome cancelled) when nothing came back, and never goes to another worker. A job already ended answers cancelled: false with its status; asking again is harmless (the worker is told again)",
    auth: "session",
    response: CancelJobResponse,
  },
  ({ deps, caller, params }) => {
    return cancelJob(deps, caller, jobIdOf(params));
  },
);
// the session key (and the quote key) from SSM where the stack names their parameters
export const handler = lambdaHandler(route, lambdaSecretDeps);
