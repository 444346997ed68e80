import { SubmitRequest, SubmitResponse } from "../../events/api";
import { submitJob } from "../../core/jobs";
import { CocoonError } from "../../core/errors";
import { defineRoute, IdempotencyKey, lambdaHandler } from "./middleware";


export const route = defineRoute(
  { method: "POST", path: "/v1/jobs", summary: "Submit an encrypted job (Idempotency-Key header required)", auth: "signed", body: SubmitRequest, response: SubmitResponse, status: 202 },
  async ({ deps, caller, body, headers }) => {
    const key = IdempotencyKey.safeParse(headers["idempotency-key"]);
    if (!key.success) {
      throw new CocoonError(400, "missing_idempotency_key", "send an Idempotency-Key header (8-128 chars of A-Z a-z 0-9 _ . : -), the same one on every retry of this job");
    }
    const r = await submitJob(deps, caller, body.envelope, key.data);
    return { jobId: r.jobId, status: r.status };
  },
);
export const handler = lambdaHandler(route);
