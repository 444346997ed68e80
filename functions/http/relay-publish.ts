/**
 * POST /v1/agent/jobs/{id}/chunks — the HTTP relay (the local default, docs/architecture.md §3
 * "Streaming"): the worker at the job's current attempt appends sealed reply chunks.
 */
import { RelayPublishRequest, RelayPublishResponse } from "../../events/relay";
import { publishChunks, type RelayDeps } from "../../core/relay-access";
import { jobIdOf } from "./job-id";
import { lambdaHandler } from "./lambda";
import { lambdaSecretDeps } from "../deps-secrets";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/agent/jobs/{id}/chunks",
    summary: "The worker at the job's current attempt appends sealed reply chunks to the job's stream (the HTTP relay)",
    auth: "session",
    body: RelayPublishRequest,
    response: RelayPublishResponse,
  },
  ({ deps, caller, body, params }) => publishChunks(deps as RelayDeps, caller, jobIdOf(params), body.chunks),
);
// a session route: the session key from SSM where the stack names its parameter (not deployed on AWS today)
export const handler = lambdaHandler(route, lambdaSecretDeps);
