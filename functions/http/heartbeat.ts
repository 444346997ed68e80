import { HeartbeatRequest, HeartbeatResponse } from "../../events/api";
import { heartbeat } from "../../core/workers";
import { lambdaHandler } from "./lambda";
import { lambdaSecretDeps } from "../deps-secrets";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/agents/heartbeat",
    summary: "Liveness and current load of a worker",
    auth: "session",
    body: HeartbeatRequest,
    response: HeartbeatResponse,
  },
  ({ deps, caller, body }) => heartbeat(deps, caller, body.load, body.offline, body.draining === true),
);
// the session key (and the quote key) from SSM where the stack names their parameters
export const handler = lambdaHandler(route, lambdaSecretDeps);
