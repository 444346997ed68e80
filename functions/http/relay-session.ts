/**
 * POST /v1/jobs/{id}/relay — how the requester reads its job's stream (asked after prepare,
 * before submit): this coordinator's HTTP relay; or on AWS, with `{"scope":"account","channel":…}`,
 * the SQS queue of the caller's channel (created here, for an account that holds funds, at most
 * RELAY_CHANNELS_PER_HOUR new channels an hour: 403 relay_needs_funds, 429 too_many_channels,
 * core/relay-access.ts; none for a day to an account whose queue the relay sweep caught read in a
 * loop: 403 relay_channel_revoked, core/relay-sweep.ts) and credentials that read that queue only
 * (the default relay, adapters/relay-sqs.ts); or AWS IoT Core credentials scoped to this job or,
 * with `{"scope":"account"}`, to all the caller's jobs (the SDK's one subscription per account).
 */
import { RelaySession, RelaySessionRequest } from "../../events/relay";
import { requesterRelaySession, type RelayDeps } from "../../core/relay-access";
import { lambdaDeps } from "../deps";
import { withRelaySessions } from "../deps-relay";
import { jobIdOf } from "./job-id";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/jobs/{id}/relay",
    summary:
      "How the requester reads its job's stream (ask after prepare, before submit): this coordinator's HTTP relay, or pub/sub credentials scoped to this job or (scope: account) to all the caller's jobs",
    auth: "signed",
    body: RelaySessionRequest,
    response: RelaySession,
  },
  async ({ deps, caller, params, body }) =>
    requesterRelaySession(deps as RelayDeps, caller, jobIdOf(params), body?.scope ?? "job", body?.channel),
);
// On a deployed stage the vendor of the relay's credentials, SQS or IoT Core, from the stack's
// environment (functions/deps-relay.ts, as for the functions that dispatch jobs); locally none.
export const handler = lambdaHandler(route, withRelaySessions(lambdaDeps));
