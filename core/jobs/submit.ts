/** Step 3 of a job (docs/architecture.md §3): the hold, the job item and the first dispatch. */
import type { JobStatus } from "../../events/api";
import type { EnvelopeHeader, RequestEnvelope } from "../../events/envelope";
import { requestHash } from "../crypto/envelope";
import { canonicalJson, sha256Hex } from "../crypto/encoding";
import type { CoreDeps } from "../deps";
import { CocoonError, ConflictError, ForbiddenError, GoneError, InsufficientFundsError, NotFoundError, ValidationError } from "../errors";
import { applyMovement, getBalance, holdMovement, OverdraftError, requesterAccount } from "../ledger";
import { ConditionFailedError, type Item, type Key } from "../ports";
import { dispatch, sendLeaseCheck } from "./dispatch";
import { envelopeKey, jobKey, leaseMs, quoteKey, RETAIN_SECONDS, type EnvelopeItem, type JobItem, type QuoteItem } from "./items";

/** Envelopes ride inside SQS messages (256 KiB): leave room for the rest of the message. */
export const MAX_ENVELOPE_BYTES = 200 * 1024;

export async function submitJob(
  deps: CoreDeps,
  requester: string,
  envelope: RequestEnvelope,
  idempotencyKey: string,
): Promise<{ jobId: string; status: JobStatus; replayed: boolean }> {
  const h = envelope.header;
  const bodyHash = sha256Hex(canonicalJson(envelope));
  const idemKey = { pk: `${requester}#${idempotencyKey}`, sk: "submit" };

  const prior = await deps.store.get("idempotency", idemKey);
  if (prior) return replayIdempotent(deps, prior, bodyHash);

  if (h.requester !== requester) throw new ForbiddenError("requester_mismatch", "envelope.header.requester must be the key that signs this request");
  if (canonicalJson(envelope).length > MAX_ENVELOPE_BYTES) {
    throw new CocoonError(413, "envelope_too_large", `the envelope exceeds ${MAX_ENVELOPE_BYTES} bytes; shorten the prompt`);
  }
  const quote = await deps.store.get<QuoteItem>("quotes", quoteKey(h.jobId));
  if (!quote) throw new NotFoundError("unknown_quote", `no prepared job ${h.jobId}: call POST /v1/jobs/prepare first and use its jobId`);
  if (quote.requester !== requester) throw new ForbiddenError("not_your_quote", "this jobId was prepared by another account");
  const now = deps.clock.now();
  if (quote.expiresAt < now) throw new GoneError("quote_expired", "the price quote for this job expired: prepare the job again");
  assertHeaderMatchesQuote(h, quote);
  const wrapped = new Set(envelope.keys.map((k) => k.workerId));
  const candidates = quote.candidates.filter((c) => wrapped.has(c.workerId));
  if (candidates.length === 0 || wrapped.size !== envelope.keys.length || candidates.length !== wrapped.size) {
    throw new ValidationError("envelope.keys must wrap the data key for distinct candidates of the prepared job only", {
      candidates: quote.candidates.map((c) => c.workerId),
    });
  }

  const maxCost = BigInt(quote.maxCost);
  const reqHash = requestHash(envelope);
  const job: JobItem = {
    ...jobKey(h.jobId),
    jobId: h.jobId,
    requester,
    model: h.model,
    status: "assigned",
    attempt: 0,
    candidates,
    header: h,
    requestHash: reqHash,
    maxCost: quote.maxCost,
    leaseUntil: now + leaseMs(deps, h.maxTokens),
    createdAt: now,
    updatedAt: now,
  };
  // The sealed request goes in its own item, outside the transaction (cheaper on DynamoDB),
  // written while the transaction runs (one commit locally). The job item pins its hash.
  const envelopeItem: EnvelopeItem = { ...envelopeKey(h.jobId), envelope, requestHash: reqHash, ttl: Math.ceil(now / 1000) + RETAIN_SECONDS };
  const envelopeWrite = deps.store
    .transact([{ op: "put", table: "jobs", item: envelopeItem, when: { kind: "notExists" } }])
    .then(
      () => "written" as const,
      (e) => (e instanceof ConditionFailedError ? ("exists" as const) : Promise.reject(e)),
    );
  envelopeWrite.catch(() => {}); // awaited below; never an unhandled rejection if we leave early
  // The lease check goes out before the job exists: if we crash after the commit, it
  // still fires and moves the job on; if the commit fails, it finds nothing and drops.
  await sendLeaseCheck(deps, job);
  try {
    const r = await applyMovement(deps.store, holdMovement(h.jobId, requester, maxCost, now), [
      { op: "put", table: "jobs", item: job, when: { kind: "notExists" } },
      { op: "put", table: "idempotency", item: { ...idemKey, jobId: h.jobId, bodyHash, ttl: Math.ceil(now / 1000) + 86_400 }, when: { kind: "notExists" } },
    ]);
    // The hold is already there: a concurrent retry with this key won the race, or an
    // earlier attempt of this very request committed without us hearing back (an ambiguous
    // store commit). Either way the idempotency record committed with that hold says
    // whose job it is: answer from it exactly as the winner did (issue 9 #6).
    if (r === "duplicate") return answerDuplicate(deps, h.jobId, idemKey, bodyHash);
  } catch (e) {
    if (e instanceof OverdraftError) {
      const bal = await getBalance(deps.store, requesterAccount(requester));
      throw new InsufficientFundsError(maxCost, bal.available);
    }
    if (e instanceof ConditionFailedError) return answerDuplicate(deps, h.jobId, idemKey, bodyHash);
    throw e;
  }
  // The job is ours: an envelope left under this id by an earlier submit that never committed is replaced.
  if ((await envelopeWrite) === "exists") await deps.store.transact([{ op: "put", table: "jobs", item: envelopeItem }]);
  await dispatch(deps, job, envelope);
  deps.log.info("job submitted", { jobId: job.jobId, model: job.model, candidates: candidates.length, maxCost: job.maxCost });
  return { jobId: h.jobId, status: "assigned", replayed: false };
}

/**
 * The job was submitted already: the same 202 when this Idempotency-Key recorded it with this
 * body; 422 idempotency_key_reused for another body; 409 job_exists when another key holds it.
 */
async function answerDuplicate(deps: CoreDeps, jobId: string, idemKey: Key, bodyHash: string) {
  const prior = await deps.store.get("idempotency", idemKey);
  if (prior) return replayIdempotent(deps, prior, bodyHash); // the body hash pins the job id too
  throw new ConflictError("job_exists", `job ${jobId} was already submitted with another Idempotency-Key; retry with the key you first used`);
}

async function replayIdempotent(deps: CoreDeps, prior: Item, bodyHash: string) {
  if (prior.bodyHash !== bodyHash) {
    throw new CocoonError(422, "idempotency_key_reused", "this Idempotency-Key was used for a different request body: use a new key for a new job");
  }
  const job = await deps.store.get<JobItem>("jobs", jobKey(String(prior.jobId)));
  return { jobId: String(prior.jobId), status: job?.status ?? "submitted", replayed: true };
}

function assertHeaderMatchesQuote(h: EnvelopeHeader, q: QuoteItem) {
  const diffs: string[] = [];
  if (h.model !== q.model) diffs.push("model");
  if (h.maxTokens !== q.maxTokens) diffs.push("maxTokens");
  if (h.maxPromptTokens !== q.maxPromptTokens) diffs.push("maxPromptTokens");
  if (h.maxCost !== q.maxCost) diffs.push("maxCost");
  if (diffs.length) throw new ValidationError(`envelope.header must match the prepared job; differs in: ${diffs.join(", ")}`, { fields: diffs });
}
