import { pendingWithdrawalAccount } from "./chain/store-ledger";
import type { AttestationTier } from "../events/attestation";
import type { AgentChallenge, AgentJob, FailureCode, JobStatus, JobView, PrepareRequest, PrepareResponse, ResultRequest } from "../events/api";
import type { EnvelopeHeader, Receipt, ReplyEnvelope, RequestEnvelope } from "../events/envelope";
import type { MatchingMessage } from "../events/queue";
import { replyHash, requestHash } from "./crypto/envelope";
import { verifyReceipt } from "./crypto/receipt";
import { b64u, canonicalJson, sha256Hex } from "./crypto/encoding";
import type { CoreDeps } from "./deps";
import {
  CocoonError,
  ConflictError,
  ForbiddenError,
  GoneError,
  InsufficientFundsError,
  NotFoundError,
  UnknownModelError,
  ValidationError,
} from "./errors";
import { newJobId } from "./ids";
import {
  applyMovement,
  getBalance,
  holdMovement,
  OverdraftError,
  refundMovement,
  requesterAccount,
  settleMovement,
} from "./ledger";
import { jobCost, maxJobCost } from "./pricing";
import { ConditionFailedError, type Item, type Key, type WriteOp } from "./ports";
import { isChallengeOpen } from "./challenges";
import { candidatesFor, isLive, markSuspect, matchCandidates, requireWorker, type OfferItem } from "./workers";

/**
 * Job lifecycle (see DESIGN.md):
 *   submitted → assigned(attempt i) → completed            (charged + credited in the same transaction)
 *                    │  └─ lease runs out / worker fails → assigned(attempt i+1)
 *                    └─ no candidate left → refunded (outcome expired | failed | no_candidates)
 * "failed" and "expired" are outcomes written together with the refund, in one
 * transaction, so no job ever rests with money held and nobody working on it.
 */
export interface JobCandidate {
  workerId: string;
  pricePerToken: string;
  tier: AttestationTier;
}

export interface QuoteItem extends Item {
  jobId: string;
  requester: string;
  model: string;
  maxTokens: number;
  maxPromptTokens: number;
  maxCost: string;
  candidates: JobCandidate[];
  expiresAt: number;
}

/**
 * The job's state, kept small on purpose: it is rewritten at every transition, and on
 * DynamoDB each write (twice inside a transaction) is billed per KB of the whole item. The
 * envelope and the reply are written once each, in their own items.
 */
export interface JobItem extends Item {
  jobId: string;
  requester: string;
  model: string;
  status: JobStatus;
  attempt: number;
  candidates: JobCandidate[];
  header: EnvelopeHeader;
  /** requestHash(envelope): what every receipt must cover. */
  requestHash: string;
  maxCost: string;
  leaseUntil: number;
  cost?: string;
  outcome?: string;
  /**
   * resultDigest(reply, receipt) of the accepted result: a retried post must be identical to
   * it, and it names the one reply item served (issue 9 #8). Absent on jobs completed
   * before it existed (their reply item is `reply#<attempt>`).
   */
  resultDigest?: string;
  createdAt: number;
  updatedAt: number;
}

/** pk=jobId sk="envelope": the sealed request, written once at submit. */
interface EnvelopeItem extends Item {
  envelope: RequestEnvelope;
  requestHash: string;
}

/**
 * pk=jobId sk="reply#<attempt>#<resultDigest>": a worker's sealed answer and signed receipt.
 * Content-addressed and written only if absent, so no post can ever overwrite an answer;
 * the job item names the one that was accepted.
 */
interface ReplyItem extends Item {
  reply: ReplyEnvelope;
  receipt: Receipt;
}

/** pk=jobId sk="failure#<attempt>": a worker's failure report: a code, and its text sealed to the requester. */
interface FailureItem extends Item {
  workerId: string;
  code: FailureCode;
  reply?: ReplyEnvelope;
}

const TERMINAL: JobStatus[] = ["completed", "refunded"];
const jobKey = (jobId: string) => ({ pk: jobId, sk: "job" });
const envelopeKey = (jobId: string) => ({ pk: jobId, sk: "envelope" });
const replyKey = (jobId: string, attempt: number, digest?: string) => ({ pk: jobId, sk: digest ? `reply#${attempt}#${digest}` : `reply#${attempt}` });
const failureKey = (jobId: string, attempt: number) => ({ pk: jobId, sk: `failure#${attempt}` });
/** What a completed job pins: sha256 over the canonical {reply, receipt} it accepted. */
export const resultDigest = (reply: ReplyEnvelope, receipt: Receipt) => sha256Hex(canonicalJson({ reply, receipt }));
/** Envelopes and replies are kept this long after submit, then expire (TTL). */
const RETAIN_SECONDS = 7 * 86_400;
export const jobTopic = (jobId: string) => `job:${jobId}`;

// ---------------------------------------------------------------- prepare

export async function prepareJob(deps: CoreDeps, requester: string, req: PrepareRequest): Promise<PrepareResponse> {
  const k = req.candidates ?? deps.config.defaultCandidates;
  const { offers, why } = await matchCandidates(deps, {
    model: req.model,
    tiers: req.tiers,
    ...(req.maxPricePerToken !== undefined ? { maxPricePerToken: req.maxPricePerToken } : {}),
    k,
  });
  if (why === "unknown_model") throw new UnknownModelError(req.model);
  if (offers.length === 0) throw new CocoonError(409, "no_workers", `no worker can take this job now: ${why}; see GET /v1/models`);
  const candidates = await candidatesFor(deps, offers);
  const prices = candidates.map((c) => BigInt(c.pricePerToken));
  const maxCost = maxJobCost(deps.config.pricing, prices, req.maxPromptTokens, req.maxTokens);
  const now = deps.clock.now();
  const jobId = newJobId(now);
  const expiresAt = now + deps.config.quoteTtlSeconds * 1000;
  const quote: QuoteItem = {
    pk: jobId,
    sk: "quote",
    jobId,
    requester,
    model: req.model,
    maxTokens: req.maxTokens,
    maxPromptTokens: req.maxPromptTokens,
    maxCost: maxCost.toString(),
    candidates: candidates.map((c) => ({ workerId: c.workerId, pricePerToken: c.pricePerToken, tier: c.tier })),
    expiresAt,
    ttl: Math.ceil(expiresAt / 1000) + 3600,
  };
  await deps.store.transact([{ op: "put", table: "quotes", item: quote, when: { kind: "notExists" } }]);
  return { jobId, model: req.model, maxTokens: req.maxTokens, maxPromptTokens: req.maxPromptTokens, maxCost: maxCost.toString(), candidates, quoteExpiresAt: expiresAt };
}

// ---------------------------------------------------------------- submit

export function leaseMs(deps: CoreDeps, maxTokens: number) {
  return deps.config.leaseBaseSeconds * 1000 + maxTokens * deps.config.leaseMsPerToken;
}

/** Envelopes ride inside SQS messages (256 KiB): leave room for the rest of the message. */
const MAX_ENVELOPE_BYTES = 200 * 1024;

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
  const quote = await deps.store.get<QuoteItem>("quotes", { pk: h.jobId, sk: "quote" });
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

// ---------------------------------------------------------------- dispatch & leases

export async function sendLeaseCheck(deps: CoreDeps, job: Pick<JobItem, "jobId" | "attempt" | "leaseUntil">) {
  const delaySeconds = Math.min(900, Math.max(0, Math.ceil((job.leaseUntil - deps.clock.now()) / 1000)));
  const msg: MatchingMessage = { type: "lease", jobId: job.jobId, attempt: job.attempt };
  await deps.queues.send("matching", msg, { delaySeconds });
}

/** Write a reply item if absent: its key is its content's digest, so "present" means "identical". */
async function putReply(deps: CoreDeps, jobId: string, attempt: number, digest: string, reply: ReplyEnvelope, receipt: Receipt) {
  const item: ReplyItem = { ...replyKey(jobId, attempt, digest), reply, receipt, ttl: Math.ceil(deps.clock.now() / 1000) + RETAIN_SECONDS };
  try {
    await deps.store.transact([{ op: "put", table: "jobs", item, when: { kind: "notExists" } }]);
  } catch (e) {
    if (!(e instanceof ConditionFailedError)) throw e;
  }
}

async function loadEnvelope(deps: CoreDeps, jobId: string): Promise<RequestEnvelope> {
  const e = await deps.store.get<EnvelopeItem>("jobs", envelopeKey(jobId));
  if (!e) throw new Error(`envelope of ${jobId} is missing`);
  return e.envelope;
}

/** Put the job on its current candidate's queue. A failed send is covered by the lease check. */
async function dispatch(deps: CoreDeps, job: JobItem, envelope?: RequestEnvelope) {
  const c = job.candidates[job.attempt]!;
  const msg: AgentJob = { jobId: job.jobId, attempt: job.attempt, envelope: envelope ?? (await loadEnvelope(deps, job.jobId)), deadline: job.leaseUntil };
  try {
    await deps.queues.send(`worker-${c.workerId}`, msg);
  } catch (e) {
    deps.log.warn("dispatch failed; the lease check will move the job on", { jobId: job.jobId, attempt: job.attempt, error: String(e) });
  }
  deps.notifier.notify(`worker:${c.workerId}`);
  deps.notifier.notify(jobTopic(job.jobId));
}

/**
 * Move the job to the next live candidate after `fromAttempt`, or refund it when none is
 * left. Conditional on the job still being at `fromAttempt`, so duplicates are no-ops.
 * `extra` ops commit in the same transaction (a worker's failure report). Returns false when
 * someone else moved the job first (settled it, moved it on, refunded it): then nothing
 * was written and no money moved.
 */
async function advance(deps: CoreDeps, job: JobItem, fromAttempt: number, outcome: "expired" | "failed", extra: WriteOp[] = []): Promise<boolean> {
  const now = deps.clock.now();
  let next = fromAttempt + 1;
  for (; next < job.candidates.length; next++) {
    const c = job.candidates[next]!;
    const offer = await deps.store.get<OfferItem>("offers", { pk: job.model, sk: c.workerId });
    if (offer && isLive(offer, now, deps.config.livenessMs)) break;
  }
  const stillAt: WriteOp["when"] = {
    kind: "and",
    all: [
      { kind: "cmp", attr: "status", op: "=", value: "assigned" },
      { kind: "cmp", attr: "attempt", op: "=", value: fromAttempt },
    ],
  };
  if (next < job.candidates.length) {
    const moved: JobItem = { ...job, attempt: next, leaseUntil: now + leaseMs(deps, job.header.maxTokens), updatedAt: now };
    await sendLeaseCheck(deps, moved);
    try {
      await deps.store.transact([
        { op: "update", table: "jobs", key: jobKey(job.jobId), set: { attempt: next, leaseUntil: moved.leaseUntil, updatedAt: now }, when: stillAt },
        ...extra,
      ]);
    } catch (e) {
      if (e instanceof ConditionFailedError) return false; // someone else moved it
      throw e;
    }
    deps.log.info("job reassigned", { jobId: job.jobId, from: fromAttempt, to: next, reason: outcome });
    await dispatch(deps, moved);
    return true;
  }
  try {
    const r = await applyMovement(deps.store, refundMovement(job.jobId, job.requester, BigInt(job.maxCost), now), [
      { op: "update", table: "jobs", key: jobKey(job.jobId), set: { status: "refunded", outcome, updatedAt: now }, when: stillAt },
      ...extra,
    ]);
    if (r === "duplicate") return false; // refunded already
  } catch (e) {
    if (e instanceof ConditionFailedError) return false;
    // The hold is gone: the job was settled (or refunded) between our read and this write.
    // The transaction wrote nothing; only a job still open here means the books are wrong.
    if (e instanceof OverdraftError && !(await stillAssigned(deps, job.jobId, fromAttempt))) return false;
    throw e;
  }
  deps.log.info("job refunded", { jobId: job.jobId, outcome });
  deps.notifier.notify(jobTopic(job.jobId));
  return true;
}

async function stillAssigned(deps: CoreDeps, jobId: string, attempt: number) {
  const now = await deps.store.get<JobItem>("jobs", jobKey(jobId));
  return now?.status === "assigned" && now.attempt === attempt;
}

/** Matching queue consumer: dispatch requests and lease checks. Idempotent per message. */
export async function handleMatchingMessage(deps: CoreDeps, msg: MatchingMessage) {
  const job = await deps.store.get<JobItem>("jobs", jobKey(msg.jobId));
  if (!job || job.status !== "assigned" || job.attempt !== msg.attempt) return "stale";
  if (msg.type === "dispatch") {
    await dispatch(deps, job);
    return "dispatched";
  }
  const now = deps.clock.now();
  if (now < job.leaseUntil) {
    await sendLeaseCheck(deps, job); // delivered early (clock skew or a lease extension): check again later
    return "rescheduled";
  }
  await markSuspect(deps, job.model, job.candidates[job.attempt]!.workerId);
  await advance(deps, job, job.attempt, "expired");
  return "advanced";
}

// ---------------------------------------------------------------- agent side

/**
 * Long-poll this worker's queue; hand out only jobs still assigned to it at that attempt, and
 * the attestation challenges (core/challenges) still open for it. The queue carries both
 * kinds: an AgentJob (no `kind`) or an AgentChallenge (`kind: "challenge"`).
 */
export async function pollJobs(deps: CoreDeps, workerId: string, waitSeconds: number, max = 4): Promise<{ jobs: AgentJob[]; challenges: AgentChallenge[] }> {
  await requireWorker(deps, workerId);
  const queue = `worker-${workerId}` as const;
  const msgs = await deps.queues.receive(queue, { max, waitSeconds: Math.min(waitSeconds, deps.config.maxWaitSeconds), visibilitySeconds: 30 });
  const jobs: AgentJob[] = [];
  const challenges: AgentChallenge[] = [];
  for (const m of msgs) {
    await deps.queues.delete(queue, m.receiptHandle);
    const body = JSON.parse(m.body) as AgentJob | AgentChallenge;
    if ("kind" in body && body.kind === "challenge") {
      if (await isChallengeOpen(deps, workerId, body)) challenges.push(body);
      continue;
    }
    const j = body as AgentJob;
    const job = await deps.store.get<JobItem>("jobs", jobKey(j.jobId));
    if (job && job.status === "assigned" && job.attempt === j.attempt && job.candidates[j.attempt]?.workerId === workerId) jobs.push(j);
  }
  return { jobs, challenges };
}

export async function postResult(deps: CoreDeps, workerId: string, r: ResultRequest): Promise<{ status: JobStatus; cost?: string; duplicate: boolean }> {
  const worker = await requireWorker(deps, workerId);
  const job = await deps.store.get<JobItem>("jobs", jobKey(r.jobId));
  if (!job) throw new NotFoundError("unknown_job", `no job ${r.jobId}`);
  if (job.candidates[r.attempt]?.workerId !== workerId) throw new ForbiddenError("not_your_job", "this job was not dispatched to you at that attempt");

  if (job.status === "completed" && r.kind === "completed" && job.attempt === r.attempt) return repeatedResult(deps, job, r);
  if (job.status !== "assigned" || job.attempt !== r.attempt) {
    throw new ConflictError("stale_attempt", `job ${r.jobId} is no longer assigned to you (status ${job.status}, attempt ${job.attempt}); the result is discarded`);
  }
  if (r.kind === "failed") return recordFailure(deps, job, workerId, r);

  const body = r.receipt.body;
  const h = job.header;
  const problems: string[] = [];
  if (body.jobId !== job.jobId) problems.push("jobId");
  if (body.workerId !== workerId) problems.push("workerId");
  if (body.model !== job.model) problems.push("model");
  if (body.requestHash !== job.requestHash) problems.push("requestHash");
  if (body.replyHash !== replyHash(r.reply)) problems.push("replyHash");
  if (body.usage.completionTokens > h.maxTokens) problems.push("usage.completionTokens exceeds maxTokens");
  if (body.usage.promptTokens > h.maxPromptTokens) problems.push("usage.promptTokens exceeds maxPromptTokens");
  if (body.measurement !== worker.measurement) problems.push("measurement");
  if (problems.length) throw new ValidationError(`receipt does not match the job: ${problems.join(", ")}`, { fields: problems });
  if (!verifyReceipt(r.receipt, b64u.decode(workerId))) throw new ForbiddenError("bad_receipt_signature", "receipt signature does not verify with your registered key");

  const price = BigInt(job.candidates[r.attempt]!.pricePerToken);
  const held = BigInt(job.maxCost);
  const raw = jobCost(deps.config.pricing, price, body.usage);
  const cost = raw > held ? held : raw;
  const now = deps.clock.now();
  const digest = resultDigest(r.reply, r.receipt);
  // The answer goes in its own item, keyed by attempt and digest, written while the
  // settlement commits: only the one the job pins is ever served, and a retried post
  // rewrites it if a crash lost it.
  const replyWrite = putReply(deps, job.jobId, r.attempt, digest, r.reply, r.receipt);
  replyWrite.catch(() => {});
  let settled: Error | undefined;
  try {
    const applied = await applyMovement(deps.store, settleMovement(job.jobId, job.requester, workerId, held, cost, now), [
      {
        op: "update",
        table: "jobs",
        key: jobKey(job.jobId),
        set: { status: "completed", cost: cost.toString(), resultDigest: digest, updatedAt: now },
        when: {
          kind: "and",
          all: [
            { kind: "cmp", attr: "status", op: "=", value: "assigned" },
            { kind: "cmp", attr: "attempt", op: "=", value: r.attempt },
          ],
        },
      },
      {
        op: "update",
        table: "workers",
        key: { pk: workerId, sk: "stats" },
        add: { jobs: 1, promptTokens: body.usage.promptTokens, completionTokens: body.usage.completionTokens },
      },
    ]);
    if (applied === "duplicate") settled = new Error("settled already");
  } catch (e) {
    // Condition: the job moved on. Overdraft: its hold is gone (refunded meanwhile).
    if (!(e instanceof ConditionFailedError || e instanceof OverdraftError)) throw e;
    settled = e;
  }
  await replyWrite;
  if (settled) return lostSettlement(deps, r, digest, settled);
  deps.notifier.notify(jobTopic(job.jobId));
  deps.log.info("job completed", { jobId: job.jobId, workerId, cost: cost.toString(), ...body.usage });
  return { status: "completed", cost: cost.toString(), duplicate: false };
}

/**
 * Another post settled this job (or moved it on) while ours was in flight. Exactly one post
 * sees duplicate:false; an identical one is told it is a duplicate; anything else is a 409,
 * and the reply item it wrote (not the accepted one) is removed again.
 */
async function lostSettlement(deps: CoreDeps, r: Extract<ResultRequest, { kind: "completed" }>, digest: string, why: Error) {
  const now = await deps.store.get<JobItem>("jobs", jobKey(r.jobId));
  if (now?.status === "completed" && now.attempt === r.attempt && now.resultDigest === digest) {
    return { status: "completed" as const, cost: now.cost!, duplicate: true };
  }
  if (why instanceof OverdraftError && now?.status === "assigned" && now.attempt === r.attempt) throw why; // books are wrong: a 500 with an alert, not a 409
  await deps.store.transact([{ op: "delete", table: "jobs", key: replyKey(r.jobId, r.attempt, digest) }]).catch(() => {});
  if (now?.status === "completed" && now.attempt === r.attempt) throw resultDiffers(r.jobId);
  throw new ConflictError("stale_attempt", `job ${r.jobId} changed while the result was recorded (status ${now?.status}); the result is discarded`);
}

const resultDiffers = (jobId: string) =>
  new ConflictError("result_differs", `job ${jobId} was completed with another reply or receipt; the accepted result stands and nothing was changed`);

/**
 * A completed result posted again for a completed job: accepted as a duplicate only when
 * reply and receipt are identical to what was accepted (issue 9 #8); that retry also
 * repairs a reply item lost to a crash (written only if absent, so never an overwrite).
 */
async function repeatedResult(deps: CoreDeps, job: JobItem, r: Extract<ResultRequest, { kind: "completed" }>) {
  const digest = resultDigest(r.reply, r.receipt);
  let pinned = job.resultDigest;
  if (pinned === undefined) {
    const legacy = await deps.store.get<ReplyItem>("jobs", replyKey(job.jobId, job.attempt));
    pinned = legacy ? resultDigest(legacy.reply, legacy.receipt) : undefined;
  }
  if (pinned !== digest) throw resultDiffers(job.jobId);
  if (job.resultDigest) await putReply(deps, job.jobId, r.attempt, digest, r.reply, r.receipt);
  return { status: "completed" as const, cost: job.cost!, duplicate: true };
}

/**
 * A worker gives the job back. Only its code reaches the coordinator and its log; the text,
 * if any, is sealed to the requester and stored with the code in the same transaction that
 * moves the job on, so a report that loses a race (the job was settled meanwhile) writes
 * nothing and moves no money: 409 stale_attempt.
 */
async function recordFailure(deps: CoreDeps, job: JobItem, workerId: string, r: Extract<ResultRequest, { kind: "failed" }>) {
  deps.log.warn("worker reported failure", { jobId: job.jobId, workerId, attempt: r.attempt, code: r.code });
  const item: FailureItem = { ...failureKey(job.jobId, r.attempt), workerId, code: r.code, ...(r.reply ? { reply: r.reply } : {}), ttl: Math.ceil(deps.clock.now() / 1000) + RETAIN_SECONDS };
  const moved = await advance(deps, job, r.attempt, "failed", [{ op: "put", table: "jobs", item, when: { kind: "notExists" } }]);
  if (!moved) {
    throw new ConflictError("stale_attempt", `job ${job.jobId} changed while the failure was recorded (it was completed or moved on); nothing was changed`);
  }
  const after = await deps.store.get<JobItem>("jobs", jobKey(r.jobId));
  return { status: after!.status, duplicate: false };
}

// ---------------------------------------------------------------- requester reads

export function toView(job: JobItem, answer?: ReplyItem, failure?: FailureItem): JobView {
  const c = job.candidates[job.attempt];
  return {
    jobId: job.jobId,
    status: job.status,
    model: job.model,
    ...(c ? { workerId: c.workerId, tier: c.tier } : {}),
    attempt: job.attempt,
    maxCost: job.maxCost,
    ...(job.cost !== undefined ? { cost: job.cost } : {}),
    ...(job.outcome !== undefined ? { outcome: job.outcome } : {}),
    ...(answer ? { reply: answer.reply, receipt: answer.receipt } : {}),
    ...(failure ? { failure: { attempt: job.attempt, workerId: failure.workerId, code: failure.code, ...(failure.reply ? { reply: failure.reply } : {}) } } : {}),
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
  };
}

/** GET /v1/jobs/{id}[?wait=s]: returns at once when finished, else waits for a change. */
export async function getJob(deps: CoreDeps, requester: string, jobId: string, waitSeconds = 0): Promise<JobView> {
  const deadline = deps.clock.now() + Math.min(waitSeconds, deps.config.maxWaitSeconds) * 1000;
  for (;;) {
    const job = await deps.store.get<JobItem>("jobs", jobKey(jobId));
    if (!job) throw new NotFoundError("unknown_job", `no job ${jobId}`);
    if (job.requester !== requester) throw new ForbiddenError("not_your_job", "this job belongs to another account");
    const left = deadline - deps.clock.now();
    if (job.status === "completed") return toView(job, await deps.store.get<ReplyItem>("jobs", replyKey(jobId, job.attempt, job.resultDigest)));
    if (job.status === "refunded" && job.outcome === "failed") return toView(job, undefined, await deps.store.get<FailureItem>("jobs", failureKey(jobId, job.attempt)));
    if (TERMINAL.includes(job.status) || left <= 0) return toView(job);
    await deps.notifier.wait(jobTopic(jobId), left);
  }
}

export async function getAccount(deps: CoreDeps, account: string) {
  const [b, reserved] = await Promise.all([getBalance(deps.store, requesterAccount(account)), getBalance(deps.store, pendingWithdrawalAccount(account))]);
  return { account, available: b.available.toString(), held: b.held.toString(), reserved: reserved.available.toString() };
}
