/**
 * POST /v1/agent/jobs/{id}/relay — how the worker at the job's current attempt publishes its
 * stream: this coordinator's HTTP relay, or on AWS credentials for this job attempt only: send to
 * the requester's channel queue (SQS, the default), or publish to the job's topic (IoT Core).
 */
import { AgentRelaySessionRequest, RelaySession } from "../../events/relay";
import { workerRelaySession, type RelayDeps } from "../../core/relay-access";
import { lambdaDeps } from "../deps";
import { withRelaySessions } from "../deps-relay";
import { jobIdOf } from "./job-id";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/agent/jobs/{id}/relay",
    summary:
      "How the worker at the job's current attempt publishes its stream: this coordinator's HTTP relay, or job-scoped pub/sub credentials",
    auth: "signed",
    body: AgentRelaySessionRequest,
    response: RelaySession,
  },
  async ({ deps, caller, body, params }) => workerRelaySession(deps as RelayDeps, caller, jobIdOf(params), body.attempt),
);
// On a deployed stage the vendor of the relay's credentials, SQS or IoT Core, from the stack's
// environment (functions/deps-relay.ts, as for the functions that dispatch jobs); locally none.
export const handler = lambdaHandler(route, withRelaySessions(lambdaDeps));
