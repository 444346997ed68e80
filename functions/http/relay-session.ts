/**
 * POST /v1/jobs/{id}/relay — how the requester reads its job's stream (asked after prepare,
 * before submit): this coordinator's HTTP relay, or job-scoped AWS IoT Core credentials.
 */
import { RelaySession } from "../../events/relay";
import { requesterRelaySession, type RelayDeps } from "../../core/relay-access";
import { jobIdOf } from "./job-id";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/jobs/{id}/relay",
    summary: "How the requester reads its job's stream (ask after prepare, before submit): this coordinator's HTTP relay, or job-scoped pub/sub credentials",
    auth: "signed",
    response: RelaySession,
  },
  ({ deps, caller, params }) => requesterRelaySession(deps as RelayDeps, caller, jobIdOf(params)),
);
export const handler = lambdaHandler(route);
