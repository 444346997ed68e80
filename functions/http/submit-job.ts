import { SubmitJobResponse, SubmitRequest, type JobView, type PrepareResponse } from "../../events/api";
import { MAX_ENVELOPE_BYTES, MAX_REPLY_BYTES } from "../../events/envelope";
import { canonicalJson } from "../../core/crypto/encoding";
import { EnvelopeTooLargeError } from "../../core/errors";
import { getJob } from "../../core/jobs/read";
import { renewQuote } from "../../core/jobs/prepare";
import { submitJobWithItem } from "../../core/jobs/submit";
import { settleKeyOf } from "../../core/jobs/settlement-token";
import type { EarningsReads } from "../../core/workers";
import { lambdaRegistryDeps } from "../deps-registry";
import { withRelaySessions } from "../deps-relay";
import { lambdaHandler } from "./lambda";
import { defineRoute, IdempotencyHeaders, MAX_PAYLOAD_BYTES, WaitQuery } from "./middleware";

/**
 * Room for a renewed quote beside an answer that carries a reply, in Lambda's 6 MB response: what
 * is left after the largest reply (MAX_REPLY_BYTES; escaped once more in Lambda's result, at most
 * 2 quotes a chunk: under 16 KiB) and the view and receipt around it (under 16 KiB), about 2 MiB.
 * A quote is a few KB per candidate; its attestation documents may be up to 192 KiB each.
 */
export const RENEWAL_ROOM = MAX_PAYLOAD_BYTES - MAX_REPLY_BYTES - 32 * 1024;

/**
 * The renewed quote, unless the waited answer carries a reply and the quote would not fit beside
 * it (measured as Lambda's result holds it: JSON escaped as a string). Leaving it out costs
 * nothing but a renewal: the SDK asks again with its next submit.
 */
export function renewalBeside(view: JobView, next: PrepareResponse | undefined): { next?: PrepareResponse } {
  if (!next) return {};
  if (!view.reply) return { next }; // a view without a reply is small
  const text = JSON.stringify(next, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
  return Buffer.byteLength(JSON.stringify(text), "utf8") > RENEWAL_ROOM ? {} : { next };
}

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/jobs",
    summary: `Submit an encrypted job (Idempotency-Key header required); ?wait=N answers with the job's view as soon as it finishes, up to N s; an envelope over ${MAX_ENVELOPE_BYTES} bytes (canonical JSON) is 413 envelope_too_large, details {bytes, limitBytes}, before anything is read`,
    auth: "session",
    // Keyed by its Idempotency-Key and job id: a replay answers as the first did and holds nothing more.
    replay: "idempotent",
    body: SubmitRequest,
    query: WaitQuery,
    headers: IdempotencyHeaders,
    response: SubmitJobResponse,
    status: 202,
  },
  async ({ deps, caller, body, bodyBytes, headers, query, signal }) => {
    // The sealed body's size first, as core measures it: a request past the cap is refused before
    // the renewal below reads any worker, or the submit its idempotency record. Serialised again
    // only when the request itself is past the cap (the envelope is part of it): an honest
    // submit pays one byte count here, not a second canonical form (core makes the one it needs).
    if (bodyBytes !== undefined && bodyBytes > MAX_ENVELOPE_BYTES) {
      const bytes = canonicalJson(body.envelope).length;
      if (bytes > MAX_ENVELOPE_BYTES) throw new EnvelopeTooLargeError(bytes, MAX_ENVELOPE_BYTES);
    }
    // The kept quote's renewal (core/jobs/prepare.ts renewQuote) is picked alongside the submit: it
    // writes nothing the submit does, and never rejects, so a refused submit leaves none behind.
    // Its fair-share contest and the submit's candidate order read the same workers' earnings:
    // read once for this request, never kept past it (core/workers.ts EarningsReads).
    const earnings: EarningsReads = new Map();
    const renewal = body.renew ? renewQuote(deps, caller, body.renew, earnings) : undefined;
    const r = await submitJobWithItem(deps, caller, body.envelope, headers["idempotency-key"], body.quote, {
      ...(body.relay ? { relayChannel: body.relay.channel } : {}),
      ...(body.tab ? { tab: body.tab } : {}),
      earnings,
    });
    const next = await renewal;
    const renewed = next ? { next } : {};
    // Waiting here saves the requester a round trip: the answer comes back on the submit itself.
    // A new job is waited on as just written (no read back); a replay reads what is stored.
    if (query.wait > 0) {
      const view = await getJob(deps, caller, r.jobId, query.wait, r.job, signal);
      return { ...view, ...renewalBeside(view, next) };
    }
    // Session 40: the key the job's settlement tokens verify under, for the caller only (derived, never stored).
    return { jobId: r.jobId, status: r.status, ...renewed, settleKey: settleKeyOf(deps.config, { jobId: r.jobId, requester: caller }) };
  },
);
// issue 15: the hold is checked against the policy registry's price weights where one is configured (functions/deps-registry.ts).
// issue 12: the job's first dispatch carries the worker's relay session, vended alongside the hold (functions/deps-relay.ts).
export const handler = lambdaHandler(route, withRelaySessions(lambdaRegistryDeps));
