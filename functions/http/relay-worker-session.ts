/**
 * POST /v1/agent/jobs/{id}/relay — how the worker at the job's current attempt publishes its
 * stream: this coordinator's HTTP relay, or job-scoped AWS IoT Core credentials.
 */
import { AgentRelaySessionRequest, RelaySession } from "../../events/relay";
import { workerRelaySession, type RelayDeps } from "../../core/relay-access";
import { jobIdOf } from "./job-id";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/agent/jobs/{id}/relay",
    summary: "How the worker at the job's current attempt publishes its stream: this coordinator's HTTP relay, or job-scoped pub/sub credentials",
    auth: "signed",
    body: AgentRelaySessionRequest,
    response: RelaySession,
  },
  ({ deps, caller, body, params }) => workerRelaySession(deps as RelayDeps, caller, jobIdOf(params), body.attempt),
);
export const handler = lambdaHandler(route);
