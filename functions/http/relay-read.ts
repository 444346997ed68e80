/**
 * GET /v1/jobs/{id}/chunks — the HTTP relay (the local default): the requester long-polls its
 * job's sealed reply chunks; once the job finished the answer carries the job's view.
 */
import { RelayReadQuery, RelayReadResponse } from "../../events/relay";
import { readChunks, type RelayDeps } from "../../core/relay-access";
import { jobIdOf } from "./job-id";
import { lambdaHandler } from "./lambda";
import { lambdaSecretDeps } from "../deps-secrets";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "GET",
    path: "/v1/jobs/{id}/chunks",
    summary: "The requester long-polls its job's sealed reply chunks from position ?from; once the job finished, with its view",
    auth: "session",
    query: RelayReadQuery,
    response: RelayReadResponse,
  },
  ({ deps, caller, query, params, signal }) => readChunks(deps as RelayDeps, caller, jobIdOf(params), query.from, query.wait, signal),
);
// a session route: the session key from SSM where the stack names its parameter (not deployed on AWS today)
export const handler = lambdaHandler(route, lambdaSecretDeps);
