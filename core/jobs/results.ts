/**
 * A worker's answer (docs/architecture.md §3, step 6): a completed result is checked against
 * the job and the worker's key, then settled in one transaction; a failure report moves the
 * job on. Exactly one post settles a job; identical retries are told they are duplicates.
 */
import { MAX_RESULT_BATCH_BYTES, type JobStatus, type ResultRequest } from "../../events/api";
import { MAX_REPLY_BYTES, type Receipt, type ReplyEnvelope } from "../../events/envelope";
import { b64u, canonicalJson, sha256Hex } from "../crypto/encoding";
import { verifyReceipt } from "../crypto/receipt";
import type { CoreDeps } from "../deps";
import { CocoonError, ConflictError, ForbiddenError, NotFoundError, ValidationError } from "../errors";
import { OverdraftError, settleMovement, type ApplyResult } from "../ledger";
import { jobCost } from "../pricing";
import { ConditionFailedError, type Condition, type Item, type Key } from "../ports";
import { appendReceiptOp } from "../receipts/log";
import { requireWorkerSummary, type WorkerItem, type WorkerSummary } from "../workers";
import { advance, loadEnvelope, requestHashMatches } from "./dispatch";
import { toView } from "./read";
import { MAX_SETTLE_BATCH, settle, settleTogether, type Settlement } from "./settle";
import { jobTtl } from "./retention";
import { settlementOf } from "./settlement-token";
import {
  failureKey,
  jobKey,
  jobTopic,
  replyItemKeys,
  replyItems,
  replyKey,
  resultDigest,
  resultDigestOf,
  readJob,
  RETAIN_SECONDS,
  stillAt,
  jobHoldMovement,
  workerCredit,
  type FailureItem,
  type JobItem,
  type ReplyItem,
} from "./items";

type CompletedResult = Extract<ResultRequest, { kind: "completed" }>;
type FailedResult = Extract<ResultRequest, { kind: "failed" }>;

/**
 * Why a receipt cannot be billed for this job: each name is a field that does not match
 * what the coordinator recorded (the job, the worker's registration) or a usage over the
 * header's maxima. Empty when it matches. The signature is checked separately.
 */
export function receiptProblems(
  job: JobItem,
  worker: Pick<WorkerItem, "workerId" | "measurement">,
  reply: ReplyEnvelope,
  receipt: Receipt,
  /** canonicalJson(reply), when the caller has it already */
  canonicalReply: string = canonicalJson(reply),
): string[] {
  const body = receipt.body;
  const h = job.header;
  const problems: string[] = [];
  if (body.jobId !== job.jobId) problems.push("jobId");
  if (body.workerId !== worker.workerId) problems.push("workerId");
  if (body.model !== job.model) problems.push("model");
  if (body.requestHash !== job.requestHash) problems.push("requestHash");
  if (body.replyHash !== sha256Hex(canonicalReply)) problems.push("replyHash"); // replyHash(reply)
  if (body.usage.completionTokens > h.maxTokens) problems.push("usage.completionTokens exceeds maxTokens");
  if (body.usage.promptTokens > h.maxPromptTokens) problems.push("usage.promptTokens exceeds maxPromptTokens");
  if (body.measurement !== worker.measurement) problems.push("measurement");
  return problems;
}

/** `settlement`: on a completed result, the coordinator's token for its requester (./settlement-token.ts, session 40). */
export type ResultOutcome = { status: JobStatus; cost?: string; credit?: string; settlement?: string; duplicate: boolean };

/** How postResults runs each of its items through postResult: the worker read once, the settlements gathered. */
interface InBatch {
  worker: WorkerSummary;
  settle(s: Settlement): Promise<ApplyResult>;
}

export async function postResult(deps: CoreDeps, workerId: string, r: ResultRequest, batch?: InBatch): Promise<ResultOutcome> {
  const worker = batch?.worker ?? (await requireWorkerSummary(deps, workerId));
  const job = await readJob(deps.store, r.jobId);
  if (!job) throw new NotFoundError("unknown_job", `no job ${r.jobId}`);
  if (job.candidates[r.attempt]?.workerId !== workerId)
    throw new ForbiddenError("not_your_job", "this job was not dispatched to you at that attempt");

  if (job.status === "completed" && r.kind === "completed" && job.attempt === r.attempt) return repeatedResult(deps, job, r);
  if (job.status !== "assigned" || job.attempt !== r.attempt) {
    throw new ConflictError(
      "stale_attempt",
      `job ${r.jobId} is no longer assigned to you (status ${job.status}, attempt ${job.attempt}); the result is discarded`,
    );
  }
  if (r.kind === "failed") return recordFailure(deps, job, workerId, r);

  const body = r.receipt.body;
  // The reply made canonical once: its hash for the receipt check, and the result's digest.
  const canonicalReply = canonicalJson(r.reply);
  // Only what GET /v1/jobs/{id} can answer again (a Lambda's 6 MB): a worker paid for an answer
  // its requester could never read would be worse than a failed job, which is refunded.
  const replyBytes = Buffer.byteLength(canonicalReply, "utf8");
  if (replyBytes > MAX_REPLY_BYTES) {
    throw new CocoonError(
      413,
      "reply_too_large",
      `the reply is ${replyBytes} bytes as JSON; at most ${MAX_REPLY_BYTES} (4 MiB) are accepted, so that it can be read back; nothing was stored`,
      { bytes: replyBytes, max: MAX_REPLY_BYTES },
    );
  }
  const problems = receiptProblems(job, { workerId, measurement: worker.measurement }, r.reply, r.receipt, canonicalReply);
  if (problems.length) throw new ValidationError(`receipt does not match the job: ${problems.join(", ")}`, { fields: problems });
  if (!verifyReceipt(r.receipt, b64u.decode(workerId)))
    throw new ForbiddenError("bad_receipt_signature", "receipt signature does not verify with your registered key");

  const price = BigInt(job.candidates[r.attempt]!.pricePerToken);
  const held = BigInt(job.maxCost);
  // issue 15: the weights the job was held under (the registry's may have changed since)
  const raw = jobCost(job.weights ? { ...deps.config.pricing, ...job.weights } : deps.config.pricing, price, body.usage);
  const cost = raw > held ? held : raw;
  const now = deps.clock.now();
  const digest = resultDigestOf(canonicalReply, r.receipt);
  // The answer goes in its own item, keyed by attempt and digest, and is stored no later than
  // the settlement that pins it: a requester charged for an answer can always read it, whatever
  // crashes when. Where transactions are cheap (store.cheapTransactions) it commits with the
  // settlement (one flush fewer); on DynamoDB (a transaction bills each item twice, and a batch
  // of settlements would carry every reply) it is stored alone BEFORE it. Only the one the job
  // pins is ever served; one left by a post that then did not settle is removed
  // (lostSettlement) or expires (TTL).
  //
  // A reply too large for one store item (DynamoDB's 400 KB: an embeddings reply easily is) is
  // stored as a head and parts (./items.ts replyItems), the parts always alone and before the
  // head. On LMDB too: they stay out of the settlement, whose batch of 16 jobs must keep under
  // a transaction's 100 ops; lmdb commits the concurrent part puts together, so a split reply
  // costs one flush more there, and only the head joins the settlement.
  //
  // One already there is an earlier post of this very result whose settlement failed (a throttle,
  // a crash): it keeps the ttl of that post, maybe hours before this one completes the job, but
  // the reply must be kept RETAIN_SECONDS from the completion (a tab's close judges a missing
  // receipt by it: ./tabs.ts receiptOf; the requester reads it as long). So this post's ttl is
  // carried onto it (putReply's `refresh`). On LMDB too for the parts (the head in the commit
  // is put whole).
  const reply = replyItemsOf(deps, job, digest, r.reply, r.receipt, canonicalReply);
  const replyInCommit = deps.store.cheapTransactions === true;
  await putReplyParts(deps, reply.parts, "refresh");
  if (!replyInCommit) await putReply(deps, reply.head, "refresh");
  let settled: Error | undefined;
  try {
    // issue 12: the job's move to completed records the settlement (no ledger item): only one
    // transaction can make it, and the job item then states every field of the movement. Under
    // a tab it records the job's cost and usage for the tab's close, which pays the worker.
    const completed = {
      op: "update" as const,
      table: "jobs" as const,
      key: jobKey(job.jobId),
      set: {
        status: "completed",
        cost: cost.toString(),
        resultDigest: digest,
        updatedAt: now,
        // the job's end starts its retention (./retention.ts); under a tab its close does, which
        // pays the worker from this item and must find it however late it runs
        ...(job.tab
          ? { usage: { promptTokens: body.usage.promptTokens, completionTokens: body.usage.completionTokens } }
          : { settledInJob: true, ttl: jobTtl(deps, now) }),
      },
      when: stillAt(r.attempt),
    };
    // content-addressed: one already there (an earlier post of this very result) is the same item
    const replyOp = replyInCommit ? [{ op: "put" as const, table: "jobs" as const, item: reply.head }] : [];
    if (job.tab) {
      // A job under a tab (./tabs.ts): its move to completed is all; the tab's close pays the
      // worker and logs the receipt. One conditioned write (and the reply, where that is cheap).
      await deps.store.transact([completed, ...replyOp]);
    } else {
      // Batched with the worker's other results waiting to settle (./settle.ts); the worker's job
      // and token counts ride on its balance update (one item write, not two).
      // the operator fee fixed at submit (JobItem.operatorFeeBps), not the registry's of the moment
      const movement = settleMovement(job.jobId, job.requester, workerId, held, cost, now, job.operatorFeeBps ?? 0);
      const applied = await (batch ? batch.settle : (x: Settlement) => settle(deps, x))({
        workerId,
        movement,
        record: completed,
        extra: [
          // issue 15: the receipt joins the receipt log's inbox in this same transaction (last, no
          // condition), carrying the settlement and the job's hold; the anchorer numbers and
          // anchors them (core/receipts/log.ts)
          appendReceiptOp(job.jobId, r.receipt, now, jobHoldMovement(job), movement),
          ...replyOp,
        ],
        counters: { jobs: 1, promptTokens: body.usage.promptTokens, completionTokens: body.usage.completionTokens },
      });
      if (applied === "duplicate") settled = new Error("settled already");
    }
  } catch (e) {
    // Condition: the job moved on. Overdraft: its hold is gone (refunded meanwhile).
    if (!(e instanceof ConditionFailedError || e instanceof OverdraftError)) throw e;
    settled = e;
  }
  if (settled) return lostSettlement(deps, r, digest, replyItemKeys(reply), settled);
  // Wake the job's waiters with the answer itself: they return it without reading the store.
  const finished: JobItem = { ...job, status: "completed", cost: cost.toString(), resultDigest: digest, updatedAt: now };
  deps.notifier.notify(
    jobTopic(job.jobId),
    toView(finished, { ...replyKey(job.jobId, r.attempt, digest), reply: r.reply, receipt: r.receipt }),
  );
  const outcome = completedOutcome(deps, job, r.attempt, body.replyHash, cost.toString(), false);
  const { cost: charged, credit } = outcome;
  deps.log.info("job completed", { jobId: job.jobId, workerId, cost: charged, ...(credit === undefined ? {} : { credit }), ...body.usage });
  return outcome;
}

/**
 * Several results of one worker in one request (issue 12: one HTTP parse, one session check
 * for all of them). Each item is exactly a lone post (postResult: the caller must be the job's
 * candidate at that attempt, an identical repost is a duplicate) and is answered alone, in
 * order: its outcome, or the error a lone post of it would have thrown. One item refused,
 * stale or failing never fails the others. The items that reach settlement settle together,
 * in one transaction (./settle.ts settleTogether), once every other item has finished.
 */
export async function postResults(
  deps: CoreDeps,
  workerId: string,
  results: readonly ResultRequest[],
  /**
   * The batch's size as its request carried it (the HTTP handler's body bytes: what a Lambda's
   * 6 MB limit counts, frame included): the items need not be serialised again to measure them.
   * A caller without a request (core called directly) leaves it out: the items are measured as JSON.
   */
  requestBytes?: number,
): Promise<Array<PromiseSettledResult<ResultOutcome>>> {
  const bytes = requestBytes ?? Buffer.byteLength(JSON.stringify(results), "utf8");
  if (bytes > MAX_RESULT_BATCH_BYTES) {
    throw new CocoonError(
      413,
      "batch_too_large",
      `the batch is ${bytes} bytes as JSON; at most ${MAX_RESULT_BATCH_BYTES} (5 MiB) are accepted: post a large result alone; nothing was done`,
      { bytes, max: MAX_RESULT_BATCH_BYTES },
    );
  }
  if (results.length > MAX_SETTLE_BATCH) throw new ValidationError(`at most ${MAX_SETTLE_BATCH} results in one batch`);
  const worker = await requireWorkerSummary(deps, workerId);
  const waiting: Array<{ s: Settlement; resolve(a: ApplyResult): void; reject(e: unknown): void }> = [];
  let finished = 0;
  // Settle once every item has either reached settlement or finished without it.
  const settleIfAllIn = () => {
    if (waiting.length === 0 || waiting.length + finished < results.length) return;
    const answers = settleTogether(
      deps,
      waiting.map((w) => w.s),
    );
    waiting.forEach((w, i) => answers[i]!.then(w.resolve, w.reject));
  };
  return Promise.allSettled(
    results.map((r) => {
      let reached = false;
      const settle = (s: Settlement) =>
        new Promise<ApplyResult>((resolve, reject) => {
          reached = true;
          waiting.push({ s, resolve, reject });
          settleIfAllIn();
        });
      return postResult(deps, workerId, r, { worker, settle }).finally(() => {
        if (reached) return;
        finished++;
        settleIfAllIn();
      });
    }),
  );
}

/**
 * The worker's share in a result's answer, when the job carries an operator fee: its cost less
 * the fee (ResultResponse.credit). A job without one answers as before: the cost is the credit.
 */
const creditOf = (job: Pick<JobItem, "operatorFeeBps">, cost: bigint): { credit?: string } =>
  (job.operatorFeeBps ?? 0) > 0 ? { credit: workerCredit(job, cost).toString() } : {};

/**
 * The answer to a completed result, first or repeated: what the requester was charged, what the
 * worker is credited, and the requester's settlement token over this attempt, reply and cost
 * (./settlement-token.ts, session 40), which the worker relays on its final chunk.
 */
const completedOutcome = (
  deps: CoreDeps,
  job: Pick<JobItem, "jobId" | "requester" | "operatorFeeBps">,
  attempt: number,
  replyHash: string,
  cost: string,
  duplicate: boolean,
) => ({
  status: "completed" as const,
  cost,
  ...creditOf(job, BigInt(cost)),
  ...settlementOf(deps.config, job, attempt, replyHash, cost),
  duplicate,
});

/** `job`: the job at the result's attempt (the callers checked job.attempt === r.attempt). */
const replyItemsOf = (deps: CoreDeps, job: JobItem, digest: string, reply: ReplyEnvelope, receipt: Receipt, canonicalReply?: string) =>
  replyItems(job, digest, reply, receipt, canonicalReply, Math.ceil(deps.clock.now() / 1000) + RETAIN_SECONDS);

/**
 * Write a reply item (or part) if absent: its key is its content's digest, so "present" means
 * "identical". `refresh`: one present gets `item`'s later ttl (one more write, only then), and
 * only if it still exists: an update that made a head would make one without its content, and
 * one removed meanwhile (a post that lost its race, lostSettlement) stays removed. Not for a
 * result posted again after completion (repeatedResult): that would let a worker keep it for ever.
 */
async function putReply(deps: CoreDeps, item: Item, refresh?: "refresh") {
  try {
    await deps.store.transact([{ op: "put", table: "jobs", item, when: { kind: "notExists" } }]);
  } catch (e) {
    if (!(e instanceof ConditionFailedError)) throw e;
    if (refresh) await raiseTtl(deps, item);
  }
}

/** `item`'s ttl onto the stored one, if that is there still (never an upsert) and kept less long. */
async function raiseTtl(deps: CoreDeps, item: Item) {
  const ttl = item.ttl!; // replyItems sets it on every item
  const when: Condition = { kind: "and", all: [{ kind: "exists" }, { kind: "cmp", attr: "ttl", op: "<", value: ttl }] };
  try {
    await deps.store.transact([{ op: "update", table: "jobs", key: { pk: item.pk, sk: item.sk }, set: { ttl }, when }]);
  } catch (e) {
    // gone meanwhile, or kept as long already (a concurrent post of the same result)
    if (!(e instanceof ConditionFailedError)) throw e;
  }
}

/** A split reply's parts (none for one that fits an item), each its own write, concurrently. */
async function putReplyParts(deps: CoreDeps, parts: readonly Item[], refresh?: "refresh") {
  await Promise.all(parts.map((p) => putReply(deps, p, refresh)));
}

/**
 * Another post settled this job (or moved it on) while ours was in flight. Exactly one post
 * sees duplicate:false; an identical one is told it is a duplicate; anything else is a 409,
 * and the reply item(s) it wrote (not the accepted one) are removed again: the head first, so
 * that no head is left naming a part already gone.
 */
async function lostSettlement(deps: CoreDeps, r: CompletedResult, digest: string, keys: Key[], why: Error) {
  const now = await readJob(deps.store, r.jobId);
  if (now?.status === "completed" && now.attempt === r.attempt && now.resultDigest === digest) {
    return completedOutcome(deps, now, r.attempt, r.receipt.body.replyHash, now.cost!, true);
  }
  if (why instanceof OverdraftError && now?.status === "assigned" && now.attempt === r.attempt) throw why; // books are wrong: a 500 with an alert, not a 409
  const [head, ...parts] = keys;
  await deps.store.transact([{ op: "delete", table: "jobs", key: head! }]).catch(() => {});
  await Promise.all(parts.map((key) => deps.store.transact([{ op: "delete", table: "jobs", key }]).catch(() => {})));
  if (now?.status === "completed" && now.attempt === r.attempt) throw resultDiffers(r.jobId);
  throw new ConflictError(
    "stale_attempt",
    `job ${r.jobId} changed while the result was recorded (status ${now?.status}); the result is discarded`,
  );
}

const resultDiffers = (jobId: string) =>
  new ConflictError(
    "result_differs",
    `job ${jobId} was completed with another reply or receipt; the accepted result stands and nothing was changed`,
  );

/**
 * A completed result posted again for a completed job: accepted as a duplicate only when
 * reply and receipt are identical to what was accepted (issue 9 #8); that retry also
 * repairs a reply item lost to a crash (written only if absent, so never an overwrite).
 */
async function repeatedResult(deps: CoreDeps, job: JobItem, r: CompletedResult) {
  const digest = resultDigest(r.reply, r.receipt);
  let pinned = job.resultDigest;
  if (pinned === undefined) {
    const legacy = await deps.store.get<ReplyItem>("jobs", replyKey(job.jobId, job.attempt));
    pinned = legacy ? resultDigest(legacy.reply, legacy.receipt) : undefined;
  }
  if (pinned !== digest) throw resultDiffers(job.jobId);
  if (job.resultDigest) {
    const items = replyItemsOf(deps, job, digest, r.reply, r.receipt);
    await putReplyParts(deps, items.parts);
    await putReply(deps, items.head);
  }
  return completedOutcome(deps, job, r.attempt, r.receipt.body.replyHash, job.cost!, true);
}

/**
 * A worker gives the job back. Only its code reaches the coordinator and its log; the text,
 * if any, is sealed to the requester and stored with the code in the same transaction that
 * moves the job on, so a report that loses a race (the job was settled meanwhile) writes
 * nothing and moves no money: 409 stale_attempt.
 */
async function recordFailure(deps: CoreDeps, job: JobItem, workerId: string, r: FailedResult) {
  // The job's envelope, for its next candidate (./items.ts envelopeItemStored): the one the
  // worker got, if it is the job's, else the job's item; a report with neither changes nothing.
  // None is needed where the job cannot move on (./dispatch.ts advance): a cancelled job, or one
  // at its last candidate, is refunded at once, as it was before reports carried the envelope.
  if (r.envelope && !requestHashMatches(r.envelope, job)) {
    throw new CocoonError(422, "envelope_mismatch", `the envelope is not job ${job.jobId}'s request; nothing was changed`);
  }
  const mayMoveOn = job.cancelledAt === undefined && r.attempt + 1 < job.candidates.length;
  const envelope = r.envelope ?? (mayMoveOn ? await loadEnvelope(deps, job) : undefined);
  if (!envelope && mayMoveOn) {
    throw new CocoonError(
      422,
      "envelope_required",
      `report the failure with the envelope job ${job.jobId} was dispatched with; nothing was changed (the job moves on when its lease runs out)`,
    );
  }
  deps.log.warn("worker reported failure", { jobId: job.jobId, workerId, attempt: r.attempt, code: r.code });
  const item: FailureItem = {
    ...failureKey(job.jobId, r.attempt),
    workerId,
    code: r.code,
    ...(r.reply ? { reply: r.reply } : {}),
    ttl: Math.ceil(deps.clock.now() / 1000) + RETAIN_SECONDS,
  };
  const moved = await advance(deps, job, r.attempt, "failed", [{ op: "put", table: "jobs", item, when: { kind: "notExists" } }], envelope);
  if (!moved) {
    throw new ConflictError(
      "stale_attempt",
      `job ${job.jobId} changed while the failure was recorded (it was completed or moved on); nothing was changed`,
    );
  }
  const after = await readJob(deps.store, r.jobId);
  return { status: after!.status, duplicate: false };
}
