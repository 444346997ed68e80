/**
 * Requester-issued attestation challenges: "show me fresh evidence bound to MY nonce".
 *
 *   requester ──POST /v1/attestations {workerId, nonce}──▶ coordinator ──queue worker-<id>──▶ agent
 *   agent ──attest(nonce)──▶ POST /v1/agent/attestations {challengeId, attestation} ──▶ coordinator
 *   requester ◀──GET /v1/attestations/{id}?wait=N── coordinator (only the requester who asked)
 *
 * The coordinator only carries the evidence: it does not verify it. The requester SDK
 * verifies it with its own nonce and compares the keys with the worker's registered ones,
 * so a coordinator (or a worker) replaying old evidence is caught there.
 *
 * Storage: table "quotes", pk `chal:<id>`, sk "challenge", kept a while after expiry (TTL).
 */
import type { AttestationDoc } from "../events/attestation";
import type { AgentChallenge, ChallengeResponse, ChallengeView } from "../events/api";
import { canonicalJson } from "./crypto/encoding";
import { enforceRateLimit, type RateLimit } from "./attestation/rate-limit";
import { DEFAULT_MIN_CHALLENGE_BALANCE } from "./config";
import type { CoreDeps } from "./deps";
import { CocoonError, ConflictError, ForbiddenError, GoneError, NotFoundError } from "./errors";
import { ulid } from "./ids";
import { getBalance, requesterAccount } from "./ledger";
import { ConditionFailedError, type Item, type Random } from "./ports";
import { isLive, offerKey, requireWorkerSummary, workerSummaryKey, type OfferItem, type WorkerItem, type WorkerSummary } from "./workers";

/** How long a worker has to answer. */
export const CHALLENGE_TTL_MS = 2 * 60_000;
/** Items stay this long past expiry so late readers get "expired", not "unknown". */
const KEEP_AFTER_EXPIRY_SECONDS = 15 * 60;

export interface ChallengeItem extends Item {
  challengeId: string;
  requester: string;
  workerId: string;
  nonce: string;
  status: "pending" | "answered";
  attestation?: AttestationDoc;
  expiresAt: number;
  createdAt: number;
  answeredAt?: number;
}

/**
 * 429 worker_challenge_limit: this worker was asked for fresh evidence too often lately. Each
 * challenge makes the worker produce a TDX quote, and keys are free, so the per-requester limit
 * alone would let many keys keep one GPU owner's machine busy quoting. Requesters holding at
 * least `minBalance` share one bucket per worker (`pool: "funded"`), all others a smaller one
 * (`pool: "unfunded"`), so fresh keys cannot use up what paying requesters get.
 */
export class WorkerChallengeLimitError extends CocoonError {
  constructor(workerId: string, retryAfterSeconds: number, limit: RateLimit, funded: boolean, minBalance: bigint) {
    const who = funded ? "requesters with funds" : `requesters holding under ${minBalance} nanoTON`;
    const hint = funded ? "" : `, or deposit (requesters holding at least ${minBalance} nanoTON have a share of their own)`;
    super(
      429,
      "worker_challenge_limit",
      `worker ${workerId} was challenged too often lately by ${who} (at most ${limit.burst} at once, ${limit.perMinute} per minute, from all of them): retry in ${retryAfterSeconds} s or challenge another candidate${hint}`,
      {
        action: "worker_challenge",
        pool: funded ? "funded" : "unfunded",
        workerId,
        retryAfterSeconds,
        minBalance: minBalance.toString(),
      },
    );
  }
}

export const newChallengeId = (now: number, random?: Random) => `chl_${ulid(now, random)}`;
export const challengeKey = (challengeId: string) => ({ pk: `chal:${challengeId}`, sk: "challenge" });
export const challengeTopic = (challengeId: string) => `chal:${challengeId}`;

/**
 * What a challenge needs of the worker (its models, tier and HPKE key): its summary, a few
 * hundred bytes, not the worker item with its attestation document (a TDX quote with its
 * collateral: several read units). The worker item only for a summary from before HPKE keys were
 * in it, or a worker registered before summaries; undefined: no such worker.
 */
async function challengedWorker(
  deps: CoreDeps,
  workerId: string,
): Promise<Required<Pick<WorkerSummary, "models" | "tier" | "hpkePublicKey">> | undefined> {
  const s = await deps.store.get<WorkerSummary>("workers", workerSummaryKey(workerId));
  if (s?.hpkePublicKey !== undefined) return { models: s.models, tier: s.tier, hpkePublicKey: s.hpkePublicKey };
  return deps.store.get<WorkerItem>("workers", { pk: workerId, sk: "worker" });
}

/** POST /v1/attestations: store the challenge and put it on the worker's queue. */
export async function createChallenge(
  deps: CoreDeps,
  requester: string,
  req: { workerId: string; nonce: string },
): Promise<ChallengeResponse> {
  // Each challenge is a store write and a message on a worker's queue, for anyone with a key (issue 9 #5).
  enforceRateLimit(deps.store, deps.config.rateLimits, "challenge", requester, deps.clock.now());
  const w = await challengedWorker(deps, req.workerId);
  if (!w) throw new NotFoundError("unknown_worker", `no registered worker ${req.workerId}: challenge one of a prepare's candidates`);
  const now = deps.clock.now();
  // The balance picks the worker's bucket below; read with the offers (one more get, per
  // challenge only: jobs never come here, and an honest job challenges each candidate once).
  const [balance, ...offers] = await Promise.all([
    getBalance(deps.store, requesterAccount(requester)),
    ...w.models.map((model) => deps.store.get<OfferItem>("offers", offerKey(model, req.workerId))),
  ]);
  if (!offers.some((o) => o && isLive(o, now, deps.config.livenessMs))) {
    throw new ConflictError(
      "worker_not_live",
      `worker ${req.workerId} missed its heartbeats or its evidence expired: it cannot answer now; pick another candidate`,
    );
  }
  // Per challenged worker as well, from all requesters together: bounds the quotes one worker
  // is made to produce however many keys ask. Taken last, so unknown or dead workers use none.
  // Keys cost nothing and funds a deposit, so requesters without funds draw on a bucket of their
  // own: a flood of fresh keys empties only that one, never the paying requesters'.
  const minBalance = deps.config.minChallengeBalance ?? DEFAULT_MIN_CHALLENGE_BALANCE;
  const funded = balance.available + balance.held >= minBalance;
  enforceRateLimit(
    deps.store,
    deps.config.rateLimits,
    funded ? "worker_challenge" : "worker_challenge_unfunded",
    req.workerId,
    now,
    (s, limit) => new WorkerChallengeLimitError(req.workerId, s, limit, funded, minBalance),
  );
  const challengeId = newChallengeId(now, deps.random);
  const expiresAt = now + CHALLENGE_TTL_MS;
  const item: ChallengeItem = {
    ...challengeKey(challengeId),
    challengeId,
    requester,
    workerId: req.workerId,
    nonce: req.nonce,
    status: "pending",
    expiresAt,
    createdAt: now,
    ttl: Math.ceil(expiresAt / 1000) + KEEP_AFTER_EXPIRY_SECONDS,
  };
  await deps.store.transact([{ op: "put", table: "quotes", item, when: { kind: "notExists" } }]);
  const msg: AgentChallenge = { kind: "challenge", challengeId, nonce: req.nonce, expiresAt };
  await deps.queues.send(`worker-${req.workerId}`, msg);
  deps.notifier.notify(`worker:${req.workerId}`);
  deps.log.info("attestation challenge sent", { challengeId, workerId: req.workerId });
  return { challengeId, expiresAt, workerId: req.workerId, hpkePublicKey: w.hpkePublicKey, tier: w.tier };
}

/**
 * Whether a challenge taken off a worker's queue is still worth answering (pending, for this
 * worker, not expired). Used by pollJobs to drop stale messages before the agent sees them.
 */
export async function isChallengeOpen(
  deps: CoreDeps,
  workerId: string,
  c: Pick<AgentChallenge, "challengeId" | "nonce">,
): Promise<boolean> {
  const item = await deps.store.get<ChallengeItem>("quotes", challengeKey(c.challengeId));
  return !!item && item.workerId === workerId && item.nonce === c.nonce && item.status === "pending" && item.expiresAt > deps.clock.now();
}

/** POST /v1/agent/attestations: the challenged worker's evidence, stored as sent. */
export async function answerChallenge(
  deps: CoreDeps,
  workerId: string,
  req: { challengeId: string; attestation: AttestationDoc },
): Promise<{ challengeId: string; status: "answered"; duplicate: boolean }> {
  await requireWorkerSummary(deps, workerId);
  const key = challengeKey(req.challengeId);
  const item = await deps.store.get<ChallengeItem>("quotes", key);
  if (!item) throw new NotFoundError("unknown_challenge", `no challenge ${req.challengeId} (never issued, or expired long ago)`);
  if (item.workerId !== workerId)
    throw new ForbiddenError("not_your_challenge", "this challenge was sent to another worker; answer only challenges from your own queue");
  if (req.attestation.signingPublicKey !== workerId) {
    throw new ForbiddenError("key_mismatch", "attestation.signingPublicKey must be the key that signs this request");
  }
  if (item.status === "answered") {
    if (item.attestation && canonicalJson(item.attestation) === canonicalJson(req.attestation)) {
      return { challengeId: item.challengeId, status: "answered", duplicate: true };
    }
    throw new ConflictError("already_answered", "this challenge already has evidence; a challenge is answered once");
  }
  const now = deps.clock.now();
  if (item.expiresAt <= now) {
    throw new GoneError(
      "challenge_expired",
      `challenge ${req.challengeId} expired at ${new Date(item.expiresAt).toISOString()}; the requester must issue a new one`,
    );
  }
  try {
    await deps.store.transact([
      {
        op: "update",
        table: "quotes",
        key,
        set: { status: "answered", attestation: req.attestation, answeredAt: now },
        when: { kind: "cmp", attr: "status", op: "=", value: "pending" },
      },
    ]);
  } catch (e) {
    if (e instanceof ConditionFailedError)
      throw new ConflictError("already_answered", "this challenge already has evidence; a challenge is answered once");
    throw e;
  }
  deps.notifier.notify(challengeTopic(req.challengeId));
  deps.log.info("attestation challenge answered", { challengeId: req.challengeId, workerId, tier: req.attestation.tier });
  return { challengeId: item.challengeId, status: "answered", duplicate: false };
}

function toView(item: ChallengeItem, now: number): ChallengeView {
  const status = item.status === "answered" ? "answered" : item.expiresAt <= now ? "expired" : "pending";
  return {
    challengeId: item.challengeId,
    workerId: item.workerId,
    status,
    expiresAt: item.expiresAt,
    ...(item.status === "answered" && item.attestation ? { attestation: item.attestation } : {}),
  };
}

/**
 * GET /v1/attestations/{id}[?wait=s]: answers at once when answered or expired, else waits for a
 * change. `signal` (the client went away) ends the wait at once with the view as last read.
 */
export async function getChallenge(
  deps: CoreDeps,
  requester: string,
  challengeId: string,
  waitSeconds = 0,
  signal?: AbortSignal,
): Promise<ChallengeView> {
  const deadline = deps.clock.now() + Math.min(waitSeconds, deps.config.maxWaitSeconds) * 1000;
  for (;;) {
    const item = await deps.store.get<ChallengeItem>("quotes", challengeKey(challengeId));
    if (!item) throw new NotFoundError("unknown_challenge", `no challenge ${challengeId} (never issued, or expired long ago)`);
    if (item.requester !== requester) throw new ForbiddenError("not_your_challenge", "this challenge was issued by another account");
    const now = deps.clock.now();
    const view = toView(item, now);
    const left = Math.min(deadline, item.expiresAt) - now;
    if (view.status !== "pending" || left <= 0 || signal?.aborted) return view;
    await deps.notifier.wait(challengeTopic(challengeId), left, signal);
    if (signal?.aborted) return view;
  }
}
