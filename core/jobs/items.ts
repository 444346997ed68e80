/**
 * The items one job leaves in the store, their keys, and the small helpers every stage of
 * the job shares. Lifecycle (docs/architecture.md §3):
 *   prepare (quote) → submit: assigned(attempt 0) → completed   (settled in one transaction)
 *                       │  └─ lease runs out / worker fails → assigned(attempt i+1)
 *                       └─ no live candidate left → refunded (outcome expired | failed)
 * "failed" and "expired" are outcomes written together with the refund, in one
 * transaction, so no job ever rests with money held and nobody working on it.
 */
import type { AttestationTier } from "../../events/attestation";
import type { FailureCode, JobStatus } from "../../events/api";
import type { EnvelopeHeader, Receipt, ReplyEnvelope, RequestEnvelope, SealedReply } from "../../events/envelope";
import { canonicalJson, sha256Hex } from "../crypto/encoding";
import type { CoreDeps } from "../deps";
import type { Item } from "../ports";
import { holdMovement, ledgerItem, settleMovement, type Movement } from "../ledger";

export interface JobCandidate {
  workerId: string;
  pricePerToken: string;
  tier: AttestationTier;
}

/** pk=jobId sk="quote" in `quotes`: a prepared job; no money moved yet. */
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
  /** Submitted under the key `submit-<jobId>`: this item is the idempotency record (no other). */
  keyedByJob?: boolean;
  /**
   * issue 15: the price weights the job was quoted and held under, when they come from the
   * policy registry (which the owners may change while the job runs): settlement bills by
   * these, not by the weights of the moment. Absent: the configured weights.
   */
  weights?: { promptBps: number; completionBps: number };
  /** issue 12: the requester's relay channel its stream goes to (SubmitRequest.relay; the SQS relay's queue). */
  relayChannel?: string;
  /**
   * issue 12: this item is the record of the job's hold movement (holdMovement of its requester,
   * maxCost and createdAt): no `ledger/hold:<jobId>` item is written, since this item's put, only
   * if absent and in the hold's own transaction, already makes the hold apply once, as a ledger
   * item would. The job's end logs the hold for the anchors (core/receipts/log.ts holdLogOps).
   * Absent on jobs submitted before it (their hold has its ledger item).
   */
  holdInJob?: true;
  /**
   * issue 12: set by the settlement, whose move of this item from assigned to completed records
   * the settlement movement (settleMovement of maxCost and cost, to the worker at `attempt`, at
   * `updatedAt`): no `ledger/settle:<jobId>` item is written. A completed job is never written
   * again (every job write is conditioned on status assigned), so those fields stay as settled.
   */
  settledInJob?: true;
  createdAt: number;
  updatedAt: number;
}

/**
 * pk=jobId sk="envelope": the sealed request, written once at submit. Nothing else: its hash is
 * on the job item, and on DynamoDB every byte counts (a write is billed per started KB).
 */
export interface EnvelopeItem extends Item {
  envelope: RequestEnvelope;
}

/**
 * pk=jobId sk="reply#<attempt>#<resultDigest>": a worker's sealed answer and signed receipt.
 * Content-addressed and written only if absent, so no post can ever overwrite an answer;
 * the job item names the one that was accepted.
 */
export interface ReplyItem extends Item {
  reply: ReplyEnvelope;
  receipt: Receipt;
}

/** pk=jobId sk="failure#<attempt>": a worker's failure report: a code, and its text sealed to the requester. */
export interface FailureItem extends Item {
  workerId: string;
  code: FailureCode;
  reply?: SealedReply;
}

/** The hold a job item records (JobItem.holdInJob), or undefined when its hold has a ledger item of its own. */
export const jobHoldMovement = (job: Pick<JobItem, "jobId" | "holdInJob" | "requester" | "maxCost" | "createdAt">): Movement | undefined =>
  job.holdInJob === true ? holdMovement(job.jobId, job.requester, BigInt(job.maxCost), job.createdAt) : undefined;

/** The settlement a completed job item records (JobItem.settledInJob), or undefined when it has a ledger item of its own. */
export function jobSettleMovement(
  job: Pick<JobItem, "jobId" | "settledInJob" | "status" | "requester" | "maxCost" | "cost" | "candidates" | "attempt" | "updatedAt">,
): Movement | undefined {
  const worker = job.candidates[job.attempt]?.workerId;
  if (job.settledInJob !== true || job.status !== "completed" || job.cost === undefined || worker === undefined) return undefined;
  return settleMovement(job.jobId, job.requester, worker, BigInt(job.maxCost), BigInt(job.cost), job.updatedAt);
}

/**
 * The movements a job item records (its hold, its settlement), in the shape of the ledger items
 * they replace (`hold:<jobId>` / "tx", `settle:<jobId>` / "tx"), for audits that read the
 * ledger's records: the ledger is its items plus the movements its job items record.
 */
export function jobMovementRecords(item: Item): Item[] {
  if (item.sk !== "job") return [];
  const job = item as JobItem;
  return [jobHoldMovement(job), jobSettleMovement(job)].flatMap((m) => (m ? [ledgerItem(m)] : []));
}

export const jobKey = (jobId: string) => ({ pk: jobId, sk: "job" });
export const envelopeKey = (jobId: string) => ({ pk: jobId, sk: "envelope" });
export const replyKey = (jobId: string, attempt: number, digest?: string) => ({
  pk: jobId,
  sk: digest ? `reply#${attempt}#${digest}` : `reply#${attempt}`,
});
export const failureKey = (jobId: string, attempt: number) => ({ pk: jobId, sk: `failure#${attempt}` });

/** What a completed job pins: sha256 over the canonical {reply, receipt} it accepted. */
export const resultDigest = (reply: ReplyEnvelope, receipt: Receipt) => resultDigestOf(canonicalJson(reply), receipt);

/**
 * resultDigest for a reply already in canonical form (canonicalJson(reply)): the very string
 * canonicalJson({ reply, receipt }) writes ("receipt" sorts before "reply"), so a result's
 * reply, which may hold thousands of chunks, is made canonical once for both its receipt's
 * replyHash and this digest (core/jobs/results.ts).
 */
export const resultDigestOf = (canonicalReply: string, receipt: Receipt) =>
  sha256Hex(`{"receipt":${canonicalJson(receipt)},"reply":${canonicalReply}}`);

/** Envelopes and replies are kept this long after submit, then expire (TTL). */
export const RETAIN_SECONDS = 7 * 86_400;

/** The notifier topic a job's waiters (GET /v1/jobs/{id}?wait=N) listen on. */
export const jobTopic = (jobId: string) => `job:${jobId}`;

/** How long a candidate has to answer one attempt: a base plus a budget per requested token. */
export function leaseMs(deps: CoreDeps, maxTokens: number) {
  return deps.config.leaseBaseSeconds * 1000 + maxTokens * deps.config.leaseMsPerToken;
}

/** A condition: the job is still assigned, at this attempt (every transition is conditioned on it). */
export const stillAt = (attempt: number) => ({
  kind: "and" as const,
  all: [
    { kind: "cmp" as const, attr: "status", op: "=" as const, value: "assigned" },
    { kind: "cmp" as const, attr: "attempt", op: "=" as const, value: attempt },
  ],
});
