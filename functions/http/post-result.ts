import { ResultPost, ResultPostResponse, type ResultItemError } from "../../events/api";
import { postResult, postResults } from "../../core/jobs/results";
import type { CoreDeps } from "../../core/deps";
import { bodyText } from "../../edge/http";
import { lambdaHandler } from "./lambda";
import { lambdaSecretDeps } from "../deps-secrets";
import { defineRoute, failureResponse } from "./middleware";

const PATH = "/v1/agent/results";

/** A batch item's failure as a lone post of it would have answered it (a 5xx's detail in the log only, under a reference). */
async function itemError(e: unknown, log: CoreDeps["log"]): Promise<ResultItemError> {
  const res = failureResponse(e, log, `POST ${PATH} (batch item)`);
  const { error } = JSON.parse(await bodyText(res.body)) as { error: Omit<ResultItemError["error"], "status"> };
  return { error: { ...error, status: res.status } };
}

export const route = defineRoute(
  {
    method: "POST",
    path: PATH,
    summary:
      "A worker's sealed answer and signed receipt, or its failure code (any text sealed to the requester); a repeat must be identical (else 409 result_differs). Or a batch of up to 16 of them (kind batch, at most 5 MiB as JSON, else 413 batch_too_large), answered one outcome per item in order",
    auth: "session",
    // Keyed by job, attempt and result digest: a replay is a duplicate, or a 409 when the job moved on (each item of a batch alike).
    replay: "idempotent",
    body: ResultPost,
    response: ResultPostResponse,
  },
  async ({ deps, caller, body, bodyBytes }) => {
    if (body.kind !== "batch") return postResult(deps, caller, body);
    const outcomes = await postResults(deps, caller, body.results, bodyBytes);
    return { results: await Promise.all(outcomes.map((o) => (o.status === "fulfilled" ? o.value : itemError(o.reason, deps.log)))) };
  },
);
// the session key (and the quote key) from SSM where the stack names their parameters
export const handler = lambdaHandler(route, lambdaSecretDeps);
