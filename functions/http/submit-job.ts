import { z } from "zod";
import { JobView, SubmitRequest, SubmitResponse } from "../../events/api";
import { getJob, submitJob } from "../../core/jobs";
import { CocoonError } from "../../core/errors";
import { defineRoute, IdempotencyKey, lambdaHandler, WaitQuery } from "./middleware";

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/jobs",
    summary: "Submit an encrypted job (Idempotency-Key header required); ?wait=N answers with the job's view as soon as it finishes, up to N s",
    auth: "signed",
    body: SubmitRequest,
    query: WaitQuery,
    response: z.union([JobView, SubmitResponse]),
    status: 202,
  },
  async ({ deps, caller, body, headers, query }) => {
    const key = IdempotencyKey.safeParse(headers["idempotency-key"]);
    if (!key.success) {
      throw new CocoonError(400, "missing_idempotency_key", "send an Idempotency-Key header (8-128 chars of A-Z a-z 0-9 _ . : -), the same one on every retry of this job");
    }
    const r = await submitJob(deps, caller, body.envelope, key.data);
    // Waiting here saves the requester a round trip: the answer comes back on the submit itself.
    if (query.wait > 0) return getJob(deps, caller, r.jobId, query.wait);
    return { jobId: r.jobId, status: r.status };
  },
);
export const handler = lambdaHandler(route);
