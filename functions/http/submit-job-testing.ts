/**
 * POST /v1/jobs's handler called as the edge calls it, for the suites that check what the edge
 * refuses before core (functions/http/submit-job-*.test.ts): a job world (core/jobs/testing.ts)
 * with a quote ready, and the request built around whatever envelope the test made.
 */
import { SubmitRequest } from "../../events/api";
import type { RequestEnvelope } from "../../events/envelope";
import { jobIdempotencyKey } from "../../core/jobs";
import { prepareJob } from "../../core/jobs/prepare";
import { headerOf, makeJobWorld, prepareAsk, seal } from "../../core/jobs/testing";
import { route } from "./submit-job";

/**
 * Factory: a world with a live worker, a funded requester `who` and its quote `p` for one
 * candidate, the `envelope` sealed under it; `post(env)` submits `env` with that quote (no wait),
 * `bodyBytes` the whole request as the edge measures the request it parsed (middleware.ts).
 */
export async function quotedSubmit() {
  const w = makeJobWorld();
  await w.worker();
  const who = await w.requester();
  const p = await prepareJob(w.deps, who.id, prepareAsk({ candidates: 1 }));
  const envelope = seal(headerOf(p, who.id), p.candidates);
  const post = (env: RequestEnvelope) => {
    const body = { envelope: env, quote: p.quote, renew: prepareAsk() };
    return route.run({
      deps: w.deps,
      caller: who.id,
      body: SubmitRequest.parse(body),
      bodyBytes: Buffer.byteLength(JSON.stringify(body)),
      query: { wait: 0 },
      headers: { "idempotency-key": jobIdempotencyKey(p.jobId) },
      params: {},
    });
  };
  return { w, who, p, envelope, post };
}
