import { SubmitJobResponse, SubmitRequest } from "../../events/api";
import { getJob, renewQuote, submitJobWithItem } from "../../core/jobs";
import { lambdaRegistryDeps } from "../deps-registry";
import { withRelaySessions } from "../deps-relay";
import { lambdaHandler } from "./lambda";
import { defineRoute, IdempotencyHeaders, WaitQuery } from "./middleware";

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/jobs",
    summary:
      "Submit an encrypted job (Idempotency-Key header required); ?wait=N answers with the job's view as soon as it finishes, up to N s",
    auth: "signed",
    // Keyed by its Idempotency-Key and job id: a replay answers as the first did and holds nothing more.
    replay: "idempotent",
    body: SubmitRequest,
    query: WaitQuery,
    headers: IdempotencyHeaders,
    response: SubmitJobResponse,
    status: 202,
  },
  async ({ deps, caller, body, headers, query }) => {
    // The kept quote's renewal (core/jobs/prepare.ts renewQuote) is picked alongside the submit: it
    // reads and writes nothing the submit does, and never rejects, so a refused submit leaves none behind.
    const renewal = body.renew ? renewQuote(deps, caller, body.renew) : undefined;
    const r = await submitJobWithItem(deps, caller, body.envelope, headers["idempotency-key"], body.quote, {
      ...(body.relay ? { relayChannel: body.relay.channel } : {}),
    });
    const next = await renewal;
    const renewed = next ? { next } : {};
    // Waiting here saves the requester a round trip: the answer comes back on the submit itself.
    // A new job is waited on as just written (no read back); a replay reads what is stored.
    if (query.wait > 0) return { ...(await getJob(deps, caller, r.jobId, query.wait, r.job)), ...renewed };
    return { jobId: r.jobId, status: r.status, ...renewed };
  },
);
// issue 15: the hold is checked against the policy registry's price weights where one is configured (functions/deps-registry.ts).
// issue 12: the job's first dispatch carries the worker's relay session, vended alongside the hold (functions/deps-relay.ts).
export const handler = lambdaHandler(route, withRelaySessions(lambdaRegistryDeps));
