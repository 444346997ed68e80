/** Step 3 of a job (docs/architecture.md §3): the hold, the job item and the first dispatch. */
import type { JobStatus, Quote, Tab } from "../../events/api";
import { MAX_ENVELOPE_BYTES, type EnvelopeHeader, type RequestEnvelope } from "../../events/envelope";
import { canonicalJson, sha256Hex } from "../crypto/encoding";
import type { CoreDeps } from "../deps";
import {
  CocoonError,
  ConflictError,
  EnvelopeTooLargeError,
  ForbiddenError,
  GoneError,
  InsufficientFundsError,
  NoLiveCandidateError,
  ValidationError,
} from "../errors";
import { applyMovement, checkFeeBps, getBalance, holdMovement, OverdraftError, requesterAccount } from "../ledger";
import { b64u } from "../crypto/encoding";
import { systemRandom } from "../ids";
import { ConditionFailedError, type Item, type Key } from "../ports";
import { dispatch, sendLeaseCheck, workerRelayFor } from "./dispatch";
import { offerAllowed, registryPricing, type PolicyReading } from "../policy-registry";
import { maxJobCost, type PricingConfig } from "../pricing";
import {
  envelopeItemStored,
  envelopeKey,
  isVoid,
  jobKey,
  leaseMs,
  RETAIN_SECONDS,
  type EnvelopeItem,
  type JobCandidate,
  type JobItem,
  type VoidItem,
} from "./items";
import { verifyQuote, type QuoteBody } from "./quote";
import { checkJobIdFresh } from "./retention";
import { checkTabDeadline, checkTabSlot } from "./tabs";
import { byFairShare, isLive, offerKey, type EarningsReads, type OfferItem } from "../workers";

/**
 * The operator fee (bps) a job submitted now is settled with: the registry's of the moment when
 * there is one (the reading the weights were checked against), else the configured one, else 0.
 * Checked here, not at settlement: a bad value refuses the submit before any money is held.
 */
export function operatorFeeBpsOf(deps: Pick<CoreDeps, "config">, reading: PolicyReading | undefined): number {
  return checkFeeBps(reading ? reading.policy.fees.operatorFeeBps : (deps.config.operatorFeeBps ?? 0));
}

/**
 * The Idempotency-Key that names its job (what the SDK sends). Such a submit writes no
 * idempotency record: the job item, written only if absent in the same transaction as the
 * hold, answers every retry (one DynamoDB item fewer per job).
 */
export const jobIdempotencyKey = (jobId: string) => `submit-${jobId}`;
const JOB_KEY = /^submit-job_[0-9a-z]{26}$/;

export { MAX_ENVELOPE_BYTES };

export async function submitJob(
  deps: CoreDeps,
  requester: string,
  envelope: RequestEnvelope,
  idempotencyKey: string,
  quote: Quote,
  o: SubmitOptions = {},
): Promise<{ jobId: string; status: JobStatus; replayed: boolean }> {
  const { job: _created, ...r } = await submitJobWithItem(deps, requester, envelope, idempotencyKey, quote, o);
  return r;
}

export interface SubmitOptions {
  /** the requester's relay channel for this job's stream (SubmitRequest.relay.channel) */
  relayChannel?: string;
  /** draw on this tab's slot instead of holding for the job (SubmitRequest.tab, ./tabs.ts) */
  tab?: { tab: Tab; slot: number };
  /** this request's reads of workers' earnings, shared with its quote's renewal (core/workers.ts EarningsReads) */
  earnings?: EarningsReads;
}

/**
 * submitJob, with the job item as this call created it (absent on a replay): POST /v1/jobs?wait
 * waits on it without reading it back (core/jobs/read.ts getJob).
 */
export async function submitJobWithItem(
  deps: CoreDeps,
  requester: string,
  envelope: RequestEnvelope,
  idempotencyKey: string,
  quote: Quote,
  o: SubmitOptions = {},
): Promise<{ jobId: string; status: JobStatus; replayed: boolean; job?: JobItem }> {
  const h = envelope.header;
  // One canonical form serves the size check, the idempotency body hash and the request hash
  // every receipt must cover (requestHash(envelope) is this same hash).
  const canonical = canonicalJson(envelope);
  const bodyHash = sha256Hex(canonical);
  const idemKey = { pk: `${requester}#${idempotencyKey}`, sk: "submit" };
  // A key that names the job (the SDK's) needs no record of its own: the job item is it.
  const keyedByJob = idempotencyKey === jobIdempotencyKey(h.jobId);
  // A key that names ANOTHER job is that job's key: this body under it is a reused key (422), not
  // a new job under a key with no record (found by the simulation: such a key writes none).
  if (!keyedByJob && JOB_KEY.test(idempotencyKey)) {
    throw new CocoonError(
      422,
      "idempotency_key_reused",
      `this Idempotency-Key names job ${idempotencyKey.slice("submit-".length)}, not this job: a job's key is ${jobIdempotencyKey(h.jobId)}`,
    );
  }

  if (keyedByJob) {
    // the read a keyed submit always made: a voided id (./void.ts) is answered from it, at no cost
    const prior = await deps.store.get<JobItem | VoidItem>("jobs", jobKey(h.jobId));
    if (prior) return replayFromJob(prior, requester, bodyHash);
  } else {
    const prior = await deps.store.get("idempotency", idemKey);
    if (prior) return replayIdempotent(deps, prior, bodyHash);
  }

  if (h.requester !== requester)
    throw new ForbiddenError("requester_mismatch", "envelope.header.requester must be the key that signs this request");
  if (canonical.length > MAX_ENVELOPE_BYTES) {
    throw new EnvelopeTooLargeError(canonical.length, MAX_ENVELOPE_BYTES);
  }
  // A new job's id names a time near now, so that no id of a job whose records expired can be
  // submitted again (./retention.ts); a tab's slot ids are bounded by the tab's expiry instead.
  if (!o.tab) checkJobIdFresh(deps, h.jobId);
  // The quote is checked by its MAC, not read from the store (./quote.ts).
  const q = verifyQuote(deps, requester, quote);
  const now = deps.clock.now();
  // issue 15: with a registry, its weights of the moment (a stale reading refuses: 503 policy_stale)
  const reading = deps.policyRegistry ? await deps.policyRegistry.current() : undefined;
  const pricing = reading ? registryPricing(reading) : deps.config.pricing;
  if (q.promptBps !== pricing.promptBps || q.completionBps !== pricing.completionBps) {
    throw new GoneError("quote_expired", "the coordinator's price weights changed since this quote: prepare a fresh one");
  }
  // The job's candidates: the quoted ones the envelope wraps a key for, in the envelope's order
  // (the requester's choice of whom to try first, so a cached quote can spread its jobs).
  const quoted = new Map(q.candidates.map((c) => [c.workerId, c]));
  const candidates = envelope.keys.flatMap((k) => {
    const c = quoted.get(k.workerId);
    return c ? [{ workerId: c.workerId, pricePerToken: c.pricePerToken, tier: c.tier }] : [];
  });
  if (
    candidates.length === 0 ||
    candidates.length !== envelope.keys.length ||
    new Set(candidates.map((c) => c.workerId)).size !== candidates.length
  ) {
    throw new ValidationError("envelope.keys must wrap the data key for distinct candidates of the quote only", {
      candidates: q.candidates.map((c) => c.workerId),
    });
  }
  assertHeaderWithinQuote(pricing, h, q, candidates);
  // A job under a tab holds nothing of its own: the tab's slot holds for it (./tabs.ts).
  if (o.tab && !keyedByJob) {
    throw new ValidationError(`a job under a tab is submitted with the Idempotency-Key ${jobIdempotencyKey(h.jobId)}`, {
      fields: ["Idempotency-Key"],
    });
  }
  const tabId = o.tab ? checkTabSlot(deps, requester, o.tab, h) : undefined;
  const order = await liveFirst(deps, h.model, candidates, now, reading, o.earnings);

  const maxCost = BigInt(h.maxCost);
  const feeBps = operatorFeeBpsOf(deps, reading);
  const reqHash = bodyHash;
  const job: JobItem = {
    ...jobKey(h.jobId),
    jobId: h.jobId,
    requester,
    model: h.model,
    status: "assigned",
    attempt: 0,
    candidates: order,
    header: h,
    requestHash: reqHash,
    maxCost: h.maxCost,
    leaseUntil: now + leaseMs(deps, h.maxTokens),
    createdAt: now,
    updatedAt: now,
    ...(keyedByJob ? { keyedByJob: true } : {}),
    // the weights it was quoted and held under, registry or configuration: a redeploy that changes
    // the configured ones must not reprice jobs in flight (46 bytes; the item stays under 1 KB)
    weights: { promptBps: pricing.promptBps, completionBps: pricing.completionBps },
    // the operator fee in force now, kept like the weights: settlement splits by the job's own
    ...(feeBps > 0 ? { operatorFeeBps: feeBps } : {}),
    ...(o.relayChannel ? { relayChannel: o.relayChannel } : {}),
    // this item records the hold (no ledger item), and the job's end logs it; under a tab, the tab's hold covers it.
    // Under a tab the put is a lone write (no transaction token on DynamoDB): its tag tells this
    // submit its own write, re-sent after a lost answer, from a concurrent retry's (as advance's moveId)
    ...(tabId
      ? { tab: tabId, slot: o.tab!.slot, moveId: b64u.encode((deps.random ?? systemRandom).bytes(9)) }
      : { holdInJob: true as const }),
  };
  // issue 12: the worker's relay session rides in the dispatch (no session request per job). It
  // needs only what is known now (the job id, attempt 0, the requester, the channel, the first
  // candidate), so the vendor's STS call runs alongside the writes below instead of after them.
  // It never rejects (a failure or a slow vendor: the job goes without it); unused when the
  // submit ends early (a duplicate, no funds).
  const relay = workerRelayFor(deps, job);
  // The sealed request (./items.ts envelopeItemStored): in the lease check, and, where it is
  // stored as an item, in the commit with the job, so a committed job always has it there.
  const envelopeInCommit = envelopeItemStored(deps.store)
    ? [
        {
          op: "put" as const,
          table: "jobs" as const,
          item: { ...envelopeKey(h.jobId), envelope, ttl: Math.ceil(now / 1000) + RETAIN_SECONDS } satisfies EnvelopeItem,
        },
      ]
    : [];
  // The lease check goes out before the job exists, carrying the envelope: if we crash after
  // the commit, it still fires and moves the job on (to a candidate it hands the envelope); if it
  // comes before the commit, it waits for it (./dispatch.ts); if the commit never lands, it is dropped.
  await sendLeaseCheck(deps, job, envelope);
  // The job item is the hold's record (JobItem.holdInJob): put only if absent, it makes the hold apply once.
  const jobPut = { op: "put", table: "jobs", item: job, when: { kind: "notExists" } } as const;
  try {
    if (tabId) {
      // Under a tab: the job's put is all (its slot's id, only if absent), no balance and no transaction on DynamoDB.
      checkTabDeadline(deps, o.tab!.tab); // the close's grace counts on no job of the tab written later than this
      try {
        await deps.store.transact([jobPut, ...envelopeInCommit]);
      } catch (e) {
        // a put DynamoDB applied whose answer was lost fails its own condition when the AWS SDK
        // re-sends it: the job is ours and still needs its dispatch (else it waits out its lease,
        // and its worker is marked suspect for a job it never got)
        if (!(e instanceof ConditionFailedError && (await deps.store.get<JobItem>("jobs", jobKey(h.jobId)))?.moveId === job.moveId))
          throw e;
      }
    } else {
      const r = await applyMovement(
        deps.store,
        holdMovement(h.jobId, requester, maxCost, now),
        [
          ...(keyedByJob
            ? []
            : [
                {
                  op: "put" as const,
                  table: "idempotency" as const,
                  item: { ...idemKey, jobId: h.jobId, bodyHash, ttl: Math.ceil(now / 1000) + 86_400 },
                  when: { kind: "notExists" as const },
                },
              ]),
          // last, unconditioned: it commits only with the job, so it never replaces another job's envelope
          ...envelopeInCommit,
        ],
        undefined,
        jobPut,
      );
      // The hold is already there: a concurrent retry with this key won the race, or an
      // earlier attempt of this very request committed without us hearing back (an ambiguous
      // store commit). Either way the idempotency record committed with that hold says
      // whose job it is: answer from it exactly as the winner did (issue 9 #6).
      if (r === "duplicate") return answerDuplicate(deps, h.jobId, keyedByJob ? requester : idemKey, bodyHash, requester);
    }
  } catch (e) {
    if (e instanceof OverdraftError) {
      const bal = await getBalance(deps.store, requesterAccount(requester));
      throw new InsufficientFundsError(maxCost, bal.available);
    }
    if (e instanceof ConditionFailedError) return answerDuplicate(deps, h.jobId, keyedByJob ? requester : idemKey, bodyHash, requester);
    throw e;
  }
  await dispatch(deps, job, envelope, relay);
  deps.log.info("job submitted", {
    jobId: job.jobId,
    model: job.model,
    candidates: order.length,
    maxCost: job.maxCost,
    ...(tabId ? { tabId } : {}),
  });
  return { jobId: h.jobId, status: "assigned", replayed: false, job };
}

/**
 * The job's dispatch order (issue 12): a quote is kept and reused by the SDK for a minute, so
 * a candidate it names may have stopped since (missed heartbeats, attestation expired, left the
 * registry's allow-lists). Its offers are read now (one item each, in parallel) and only the
 * live ones stay, the one furthest below its fair share first (one small read each: what it
 * earned); dead ones are dropped, so the job never waits out a lease on a worker already known
 * to be gone. None live: 409 no_live_candidate before anything is held (the SDK prepares
 * again). The envelope keeps every key: each worker finds its own.
 */
async function liveFirst(
  deps: CoreDeps,
  model: string,
  candidates: JobCandidate[],
  now: number,
  reading: PolicyReading | undefined,
  earnings: EarningsReads | undefined,
): Promise<JobCandidate[]> {
  // eventual (half the read units): they only order the candidates, live first
  const offers = await Promise.all(
    candidates.map((c) => deps.store.get<OfferItem>("offers", offerKey(model, c.workerId), { eventual: true })),
  );
  const live = candidates.flatMap((candidate, i) => {
    const offer = offers[i];
    const ok = offer !== undefined && isLive(offer, now, deps.config.livenessMs) && (!reading || offerAllowed(reading, offer));
    return ok ? [{ candidate, offer }] : [];
  });
  if (live.length === 0) throw new NoLiveCandidateError(candidates.map((c) => c.workerId));
  // The requester's kept quote sends its jobs to the same few workers: among them the one
  // furthest below its fair share goes first (matching's rule for a first candidate), so a
  // busy requester's flow does not pile onto whichever the rotation names (bench/sim).
  return (await byFairShare(deps, live, (x) => x.offer, earnings)).map((x) => x.candidate);
}

/**
 * The job was submitted already: the same 202 when this Idempotency-Key recorded it with this
 * body; 422 idempotency_key_reused for another body; 409 job_exists when another key holds it.
 */
async function answerDuplicate(deps: CoreDeps, jobId: string, by: Key | string, bodyHash: string, requester: string) {
  if (typeof by === "string") {
    const job = await deps.store.get<JobItem | VoidItem>("jobs", jobKey(jobId));
    if (job) return replayFromJob(job, by, bodyHash);
    throw new ConflictError("job_exists", `job ${jobId} was already submitted; retry with the key you first used`);
  }
  const prior = await deps.store.get("idempotency", by);
  if (prior) return replayIdempotent(deps, prior, bodyHash); // the body hash pins the job id too
  // no record under this key: the id is another key's job, or voided (read only on this refusal)
  const item = await deps.store.get<JobItem | VoidItem>("jobs", jobKey(jobId));
  if (isVoid(item)) voided(item, requester);
  throw new ConflictError(
    "job_exists",
    `job ${jobId} was already submitted with another Idempotency-Key; retry with the key you first used`,
  );
}

/**
 * A submit whose key names the job (`submit-<jobId>`) found the job: the same 202 when that
 * requester submitted this very body under this key; 422 for another body; 409 job_exists when
 * the job is someone else's or was submitted under another key.
 */
function replayFromJob(job: JobItem | VoidItem, requester: string, bodyHash: string) {
  if (isVoid(job)) voided(job, requester);
  if (job.requester !== requester || job.keyedByJob !== true) {
    throw new ConflictError(
      "job_exists",
      `job ${job.jobId} was already submitted with another Idempotency-Key (or by another account); pick a new job id`,
    );
  }
  if (job.requestHash !== bodyHash) {
    throw new CocoonError(
      422,
      "idempotency_key_reused",
      "this Idempotency-Key was used for a different request body: use a new key for a new job",
    );
  }
  return { jobId: job.jobId, status: job.status, replayed: true };
}

/**
 * The id was voided (./void.ts): no job under it, ever; nothing was held. Its requester hears
 * job_void (its void won: prepare again under a new id); anyone else job_exists (the id is taken).
 */
function voided(item: VoidItem, requester: string): never {
  if (item.requester !== requester) throw new ConflictError("job_exists", `job id ${item.jobId} is taken; pick a new job id`);
  throw new ConflictError("job_void", `job id ${item.jobId} was voided by its requester: nothing was submitted or held; use a new job id`);
}

async function replayIdempotent(deps: CoreDeps, prior: Item, bodyHash: string) {
  if (prior.bodyHash !== bodyHash) {
    throw new CocoonError(
      422,
      "idempotency_key_reused",
      "this Idempotency-Key was used for a different request body: use a new key for a new job",
    );
  }
  const job = await deps.store.get<JobItem>("jobs", jobKey(String(prior.jobId)));
  return { jobId: String(prior.jobId), status: job?.status ?? "submitted", replayed: true };
}

/**
 * The header must stay inside what the quote priced: the same model, maxima no larger, and a
 * hold (maxCost) that covers the maxima at the dearest candidate the job may fail over to
 * (so settlement never needs more) and is no larger than the quote's.
 */
function assertHeaderWithinQuote(pricing: PricingConfig, h: EnvelopeHeader, q: QuoteBody, candidates: JobCandidate[]) {
  const diffs: string[] = [];
  if (h.model !== q.model) diffs.push("model");
  if (h.maxTokens > q.maxTokens) diffs.push("maxTokens");
  if (h.maxPromptTokens > q.maxPromptTokens) diffs.push("maxPromptTokens");
  const needed = maxJobCost(
    pricing,
    candidates.map((c) => BigInt(c.pricePerToken)),
    h.maxPromptTokens,
    h.maxTokens,
  );
  const held = BigInt(h.maxCost);
  if (held < needed || held > BigInt(q.maxCost)) diffs.push("maxCost");
  if (diffs.length) {
    throw new ValidationError(`envelope.header must stay within the quote; differs in: ${diffs.join(", ")}`, {
      fields: diffs,
      ...(diffs.includes("maxCost") ? { neededMaxCost: needed.toString() } : {}),
    });
  }
}
