/**
 * Dispatch and leases (docs/architecture.md §3, step 4): a job goes onto its current
 * candidate's queue; a delayed lease check on the matching queue moves it on to the next live
 * candidate, or refunds it, when that candidate does not answer in time.
 */
import type { AgentJob } from "../../events/api";
import type { RequestEnvelope } from "../../events/envelope";
import type { LeaseCheckMessage, MatchingMessage, TabCloseMessage } from "../../events/queue";
import type { RelaySession } from "../../events/relay";
import type { CoreDeps } from "../deps";
import { applyMovement, OverdraftError, refundMovement } from "../ledger";
import { b64u, bytesEqual } from "../crypto/encoding";
import { requestHash } from "../crypto/envelope";
import { systemRandom } from "../ids";
import { ConditionFailedError, type WriteOp } from "../ports";
import { holdLogOps } from "../receipts/log";
import { isLive, markSuspect, offerKey, type OfferItem } from "../workers";
import {
  COMMIT_RECHECK_MS,
  COMMIT_WAIT_MS,
  delaySecondsUntil,
  envelopeKey,
  isVoid,
  jobKey,
  jobTopic,
  leaseMs,
  readJob,
  stillAt,
  type EnvelopeItem,
  type JobItem,
  type VoidItem,
} from "./items";
import { handleTabClose } from "./tabs";
import { MAX_JOB_MS } from "./lease";
import { jobTtl } from "./retention";

export { COMMIT_RECHECK_MS, COMMIT_WAIT_MS } from "./items";

/**
 * Queue the check that fires when the job's current lease runs out (SQS delays at most 900 s).
 * It carries the job's envelope (./items.ts envelopeItemStored): whoever it moves the job on to
 * gets it from there. Undefined only where none is known (a check that came without one).
 */
export async function sendLeaseCheck(
  deps: CoreDeps,
  job: Pick<JobItem, "jobId" | "attempt" | "leaseUntil">,
  envelope: RequestEnvelope | undefined,
) {
  const msg: MatchingMessage = { type: "lease", jobId: job.jobId, attempt: job.attempt, ...(envelope ? { envelope } : {}) };
  await deps.queues.send("matching", msg, { delaySeconds: delaySecondsUntil(deps, job.leaseUntil) });
}

/** A matching message as logs show it: without the sealed request it may carry (kilobytes of ciphertext). */
export function loggable<M extends MatchingMessage>(msg: M): Omit<M, "envelope"> {
  if (!("envelope" in msg)) return msg;
  const { envelope: _sealed, ...rest } = msg;
  return rest;
}

/**
 * The job's envelope from its item, for a message that came without one (sent before messages
 * carried it, or by core/recovery.ts): undefined when there is none, or when the one there is
 * not this job's request (an item left by an earlier submit of the id that never committed).
 */
export async function loadEnvelope(deps: CoreDeps, job: Pick<JobItem, "jobId" | "requestHash">): Promise<RequestEnvelope | undefined> {
  const e = await deps.store.get<EnvelopeItem>("jobs", envelopeKey(job.jobId));
  return e && requestHashMatches(e.envelope, job) ? e.envelope : undefined;
}

/** Whether `envelope` is the job's sealed request: its hash is the one the job was submitted with (constant time). */
export function requestHashMatches(envelope: RequestEnvelope, job: Pick<JobItem, "requestHash">): boolean {
  return bytesEqual(Buffer.from(requestHash(envelope), "utf8"), Buffer.from(job.requestHash, "utf8"));
}

/**
 * The most a dispatch waits for the worker's relay session (an STS call, tens of ms): a vendor
 * that hangs must not hold the job; the agent then asks POST /v1/agent/jobs/{id}/relay.
 */
export const RELAY_VEND_TIMEOUT_MS = 2000;

/**
 * The relay session of the job's candidate at its attempt, to ride in the dispatch (issue 12:
 * the agent then asks the coordinator nothing per job), or undefined: no vendor (the HTTP relay,
 * which the agent learns once per coordinator), no relay channel (the requester reads no stream
 * over the relay), or the vendor failed or took longer than RELAY_VEND_TIMEOUT_MS (logged; the
 * agent asks the route as before). Never rejects. Depends only on the job id, the attempt, the
 * requester, the channel and that candidate, so submit starts it before its commit.
 */
export function workerRelayFor(
  deps: CoreDeps,
  job: Pick<JobItem, "jobId" | "attempt" | "requester" | "relayChannel" | "candidates">,
): Promise<RelaySession | undefined> {
  const vendor = deps.relaySessions;
  const relayChannel = job.relayChannel;
  const c = job.candidates[job.attempt];
  if (!vendor || !relayChannel || !c) return Promise.resolve(undefined);
  const at = { jobId: job.jobId, attempt: job.attempt };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), RELAY_VEND_TIMEOUT_MS);
    (timer as { unref?: () => void }).unref?.();
  });
  const vended = Promise.resolve()
    .then(() => vendor.forWorker({ ...at, requester: job.requester, relayChannel }, c.workerId))
    .then(
      (s) => s,
      (e: unknown) => {
        // what failed, never what was vended: a session's credentials never reach a log
        deps.log.warn("relay session not vended; the worker will ask for it", { ...at, error: String(e) });
        return undefined;
      },
    );
  return Promise.race([vended, late]).then((r) => {
    clearTimeout(timer);
    if (r !== "late") return r;
    deps.log.warn("relay session not vended in time; the worker will ask for it", { ...at, timeoutMs: RELAY_VEND_TIMEOUT_MS });
    return undefined;
  });
}

/**
 * Put the job on its current candidate's queue. A failed send is covered by the lease check.
 * `relay`: the worker's relay session, already asked for (submit starts it with its commit);
 * absent, it is asked for here (workerRelayFor). Either way it rides in the message when there
 * is one.
 */
export async function dispatch(
  deps: CoreDeps,
  job: JobItem,
  envelope: RequestEnvelope,
  relay: Promise<RelaySession | undefined> = workerRelayFor(deps, job),
) {
  const c = job.candidates[job.attempt]!;
  const session = await relay;
  const msg: AgentJob = {
    jobId: job.jobId,
    attempt: job.attempt,
    envelope,
    deadline: job.leaseUntil,
    ...(session ? { relay: session } : {}),
  };
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
 * `extra` ops commit in the same transaction (a worker's failure report). `envelope`: the job's,
 * from the message or report that moves it (else its item is read, ./items.ts envelopeItemStored);
 * with none to be found, no candidate could ever run it, and it is refunded. Returns false when
 * someone else moved the job first (settled it, moved it on, refunded it): then nothing
 * was written and no money moved.
 *
 * A cancelled job (`cancelledAt`, ./cancel.ts) is never moved on: it is refunded at once, with
 * outcome "cancelled", whether its worker failed or its lease ran out. A cancel that lands
 * between this function's read and its move (the move is conditioned on status and attempt
 * only, which the cancel does not change; the store's conditions cannot say "attribute absent")
 * is caught by reading the job again after the move: found cancelled at the new attempt, it is
 * refunded from there before anything is dispatched. Every cancel write is conditioned on the
 * attempt it read, so it lands either before the move (then that read sees it) or at the new
 * attempt (then the cancel itself tells the new worker).
 */
export async function advance(
  deps: CoreDeps,
  job: JobItem,
  fromAttempt: number,
  outcome: "expired" | "failed",
  extra: WriteOp[] = [],
  envelope?: RequestEnvelope,
): Promise<boolean> {
  const now = deps.clock.now();
  const cancelled = job.cancelledAt !== undefined;
  // A lease that ran out is the one read: an extension landing after the read (its answer
  // `extended: true`) makes the move fail, and the job stays with its worker (handleMatchingMessage).
  const still =
    outcome === "expired"
      ? {
          kind: "and" as const,
          all: [stillAt(fromAttempt), { kind: "cmp" as const, attr: "leaseUntil", op: "=" as const, value: job.leaseUntil }],
        }
      : stillAt(fromAttempt);
  // A job past its longest life (an hour after submit: no lease reaches past it) is refunded,
  // not handed to a next candidate that would generate for up to one more lease and be refused
  // every extension (session 42 review).
  let next = cancelled || now >= job.createdAt + MAX_JOB_MS ? job.candidates.length : fromAttempt + 1;
  for (; next < job.candidates.length; next++) {
    const c = job.candidates[next]!;
    const offer = await deps.store.get<OfferItem>("offers", offerKey(job.model, c.workerId));
    if (offer && isLive(offer, now, deps.config.livenessMs)) break;
  }
  const env = next < job.candidates.length ? (envelope ?? (await loadEnvelope(deps, job))) : undefined;
  if (next < job.candidates.length && !env) {
    deps.log.error("job's envelope not found: refunded instead of moved on", { jobId: job.jobId, attempt: fromAttempt });
  }
  if (env) {
    const moveId = b64u.encode((deps.random ?? systemRandom).bytes(9));
    const moved: JobItem = { ...job, attempt: next, leaseUntil: now + leaseMs(deps, job.header.maxTokens), moveId, updatedAt: now };
    await sendLeaseCheck(deps, moved, env);
    try {
      await deps.store.transact([
        {
          op: "update",
          table: "jobs",
          key: jobKey(job.jobId),
          set: { attempt: next, leaseUntil: moved.leaseUntil, moveId, updatedAt: now },
          when: still,
        },
        ...extra,
      ]);
    } catch (e) {
      if (!(e instanceof ConditionFailedError)) throw e;
      // Someone else moved it, unless this very write did: a lone write that DynamoDB applied but
      // whose answer was lost is re-sent by the AWS SDK and then fails its own condition. The job
      // at `next` with this move's tag is that (a transaction carries a token instead).
      if (extra.length > 0 || !(await movedHere(deps, moved))) return false;
    }
    deps.log.info("job reassigned", { jobId: job.jobId, from: fromAttempt, to: next, reason: outcome });
    // cancelled while it moved (see above): refunded from its new attempt, never dispatched
    const after = await readJob(deps.store, job.jobId);
    if (after?.cancelledAt !== undefined && after.status === "assigned" && after.attempt === next) {
      await advance(deps, after, next, outcome);
      return true;
    }
    await dispatch(deps, moved, env);
    return true;
  }
  const ended: WriteOp = {
    op: "update",
    table: "jobs",
    key: jobKey(job.jobId),
    // the job's end starts its retention (./retention.ts); a refunded slot is nothing its tab's close needs
    set: { status: "refunded", outcome: cancelled ? "cancelled" : outcome, updatedAt: now, ttl: jobTtl(deps, now) },
    when: still,
  };
  try {
    if (job.tab) {
      // Under a tab (./tabs.ts) the job held nothing of its own: its end moves no money (its
      // tab's close returns its slot's worth).
      await deps.store.transact([ended, ...extra]);
    } else {
      const r = await applyMovement(deps.store, refundMovement(job.jobId, job.requester, BigInt(job.maxCost), now), [
        ended,
        ...extra,
        // the job's hold, when its submit left logging it to the job's end (last, no condition)
        ...holdLogOps(job),
      ]);
      if (r === "duplicate") return false; // refunded already
    }
  } catch (e) {
    if (e instanceof ConditionFailedError) return false;
    // The hold is gone: the job was settled (or refunded) between our read and this write.
    // The transaction wrote nothing; only a job still open here means the books are wrong.
    if (e instanceof OverdraftError && !(await stillAssigned(deps, job.jobId, fromAttempt))) return false;
    throw e;
  }
  deps.log.info("job refunded", { jobId: job.jobId, outcome: cancelled ? "cancelled" : outcome, ...(job.tab ? { tabId: job.tab } : {}) });
  deps.notifier.notify(jobTopic(job.jobId));
  return true;
}

/** Whether the job is where `moved` says, tagged with its moveId: the write that put it there was this one. */
async function movedHere(deps: CoreDeps, moved: JobItem) {
  const now = await readJob(deps.store, moved.jobId);
  return now?.status === "assigned" && now.attempt === moved.attempt && now.moveId === moved.moveId;
}

async function stillAssigned(deps: CoreDeps, jobId: string, attempt: number) {
  const now = await readJob(deps.store, jobId);
  return now?.status === "assigned" && now.attempt === attempt;
}

/** Matching queue consumer: dispatch requests, lease checks and tabs' close checks. Idempotent per message. */
export async function handleMatchingMessage(deps: CoreDeps, msg: MatchingMessage) {
  if (msg.type === "tab") return handleTabClose(deps, msg);
  const item = await deps.store.get<JobItem | VoidItem>("jobs", jobKey(msg.jobId));
  // a voided id (./void.ts): its commit never lands, so its lease check is dropped at once
  if (isVoid(item)) return "stale";
  const job = item;
  if (msg.type === "lease" && beforeItsCommit(job, msg.attempt)) return awaitCommit(deps, msg);
  if (!job || job.status !== "assigned" || job.attempt !== msg.attempt) return "stale";
  // Not this job's request: the check of a submit of the same id that never committed (another
  // body, another key, maybe another account: 409 job_exists), sent before its commit failed.
  // The job's own check carries its own; handing this one on would give the next candidate a
  // request it cannot bill (and let anyone who knows a job id fail it over to garbage).
  if (msg.envelope && !requestHashMatches(msg.envelope, job)) {
    deps.log.warn("matching message dropped: its envelope is not the job's request", {
      type: msg.type,
      jobId: job.jobId,
      attempt: job.attempt,
    });
    return "stale";
  }
  if (msg.type === "dispatch") {
    const envelope = msg.envelope ?? (await loadEnvelope(deps, job));
    // none: nothing to hand the worker; the job's lease check moves it on or refunds it
    if (!envelope) throw new Error(`envelope of ${job.jobId} is missing`);
    await dispatch(deps, job, envelope);
    return "dispatched";
  }
  const now = deps.clock.now();
  if (now < job.leaseUntil) {
    await sendLeaseCheck(deps, job, msg.envelope); // delivered early (clock skew or a lease extension): check again later
    return "rescheduled";
  }
  await markSuspect(deps, job.model, job.candidates[job.attempt]!.workerId);
  if (await advance(deps, job, job.attempt, "expired", [], msg.envelope)) return "advanced";
  // Not moved: by someone else (a result, a failure report, another check), or because the worker
  // extended its lease after this read. Then the job is still its worker's, and this check was its
  // only one: it is sent again for the new end, or a worker dying later would hold the money for good.
  const after = await readJob(deps.store, job.jobId);
  if (after?.status === "assigned" && after.attempt === job.attempt && after.leaseUntil > job.leaseUntil) {
    await sendLeaseCheck(deps, after, msg.envelope);
    return "rescheduled";
  }
  return "advanced";
}

/**
 * The job is not at this attempt yet, though it may still get there: it does not exist (the
 * submit that sent the check has not committed) or it is still assigned at an earlier attempt
 * (the move to this one has not committed). Dropping the check as stale would leave the job,
 * once committed, with no lease check: money held for good if its worker never answers.
 */
function beforeItsCommit(job: JobItem | undefined, attempt: number): boolean {
  if (!job) return attempt === 0; // a job is only ever created at attempt 0
  return job.status === "assigned" && job.attempt < attempt;
}

/**
 * Check again later, until COMMIT_WAIT_MS after the check first found its item not there yet (a
 * lease check its job, a tab's close check its tab: each is sent before the commit that makes
 * it); then drop it.
 */
export async function awaitCommit(deps: CoreDeps, msg: LeaseCheckMessage | TabCloseMessage) {
  const now = deps.clock.now();
  const until = msg.awaitUntil ?? now + COMMIT_WAIT_MS;
  if (now >= until) {
    const { awaitUntil: _until, type: _type, ...what } = loggable(msg);
    deps.log.info(`${msg.type === "tab" ? "tab close check" : "lease check"} dropped: its commit never landed`, what);
    return "stale";
  }
  // a look again COMMIT_RECHECK_MS after the first, then a last one at `until`. Counted from the
  // first look, not from whether this is a re-send: a re-send delivered early (a skewed clock;
  // simulation seed 501078) must not skip the look after the commit window
  const recheckAt = until - COMMIT_WAIT_MS + COMMIT_RECHECK_MS;
  const at = now < recheckAt ? recheckAt : until;
  const again: MatchingMessage = { ...msg, awaitUntil: until };
  await deps.queues.send("matching", again, { delaySeconds: delaySecondsUntil(deps, at) });
  return "awaiting";
}
