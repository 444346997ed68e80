import { JobId, JobView } from "../../events/api";
import { getJob } from "../../core/jobs";
import { CocoonError } from "../../core/errors";
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
    const id = JobId.safeParse(params.id);
    if (!id.success) throw new CocoonError(400, "invalid_job_id", "path parameter id must look like job_<26 lowercase base32 chars>");
    return getJob(deps, caller, id.data, query.wait, undefined, signal);
  },
);
// the session key (and the quote key) from SSM where the stack names their parameters
export const handler = lambdaHandler(route, lambdaSecretDeps);
