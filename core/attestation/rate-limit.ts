/**
 * Per-key token buckets for the calls that make the coordinator do work for anyone holding a
 * key: registration nonces, registrations (TDX verification is milliseconds of CPU) and
 * requester challenges (a store write and a message on the worker's queue). Issue 9 #5.
 *
 * Pure: the time comes in as an argument (the caller passes deps.clock.now()).
 *
 * State is kept in memory, per process, per store: on the local default that is the one
 * coordinator, so the limit is exact. On Lambda each warm container has its own buckets, so
 * the effective limit is (limit × concurrent containers), and a cold start begins with full
 * buckets: it bounds what one key can make ONE container do (memory, event-loop time), which
 * is what the memory exhaustion of issue 9 #5 needed; a fleet-wide quota belongs in API
 * Gateway's usage plans / WAF rate rules in front of the function. Keys are free to make
 * (an Ed25519 key pair), so per-key limits do not stop a determined attacker from spreading
 * the load over many keys: the size caps on evidence and the bounded caches are what keep
 * each request cheap; the bucket table itself is an LRU, so key churn cannot grow it either.
 * What many keys could still do is aim at ONE worker (each challenge costs it a TDX quote), so
 * challenges are also limited per challenged worker (`worker_challenge`, keyed by worker id), and
 * keys without funds share a smaller bucket of their own per worker (`worker_challenge_unfunded`),
 * so a flood of fresh keys cannot use up what paying requesters get.
 */
import { RateLimitedError } from "../errors";
import { Lru } from "./lru";

export interface RateLimit {
  /** Calls a fresh key may make at once. */
  burst: number;
  /** Tokens added back per minute (continuous refill), up to `burst`. */
  perMinute: number;
}

/**
 * `worker_challenge` is keyed by the CHALLENGED worker, not the caller: keys are free, so the
 * per-requester `challenge` bucket alone lets many keys make one worker answer without end
 * (each answer is a TDX quote: CPU and queue time on the GPU owner's machine).
 * `worker_challenge` is drawn only by requesters holding at least CoreConfig.minChallengeBalance;
 * `worker_challenge_unfunded` (also keyed by worker) by all the others together: fresh keys cost
 * nothing, a funded one a deposit, so only the unfunded bucket can be emptied for free.
 */
export type RateAction =
  | "registration_nonce"
  | "registration"
  | "challenge"
  | "worker_challenge"
  | "worker_challenge_unfunded"
  | "tab_open"
  | "cancel_resend"
  | "void_new"
  | "heartbeat"
  | "agent_session"
  | "worker_status";

/**
 * Defaults, per key: a worker registers a few times a day; a requester challenges up to k
 * candidates per job; a worker is asked for at most a quote every half second on average (each
 * honest job with fresh evidence asks each of its k candidates once).
 */
export const DEFAULT_RATE_LIMITS: Record<RateAction, RateLimit> = {
  registration_nonce: { burst: 10, perMinute: 10 },
  registration: { burst: 10, perMinute: 10 },
  challenge: { burst: 30, perMinute: 60 },
  worker_challenge: { burst: 60, perMinute: 120 },
  // Keys with no funds yet (someone checking a worker before depositing, the tests' fresh keys):
  // enough to look at a worker now and then, small next to what funded requesters get.
  worker_challenge_unfunded: { burst: 10, perMinute: 20 },
  // Per requester, new tabs only (a replayed open is answered before the limit and is free).
  // An honest SDK (client/tab-keeper.ts) opens a tab when its last one is spent or expires: at
  // 32 slots and 1,000 jobs/s that is ~31 opens/s (~1,900/min); 3,000/min (50/s) never refuses
  // it, and a burst of 60 covers a client starting many tab keepers at once. It bounds what one
  // key can make the store write (~12 WRU per open+close) to ~600 WRU/s instead of unbounded.
  tab_open: { burst: 60, perMinute: 3000 },
  // Per job and attempt: a cancel asked again re-sends its message to the worker's queue (one may
  // be lost), costing the asker nothing; unbounded, one requester's cancels of one cheap job would
  // bury every other requester's jobs on that worker's queue. The first cancel always sends.
  cancel_resend: { burst: 3, perMinute: 6 },
  // Per requester, new voids only (core/jobs/void.ts: an id already taken, the caller's void asked
  // again included, is answered before the limit and writes nothing). Each writes an item kept 7
  // days. An honest SDK (client/sdk.ts submitting) voids an id only after that job's submit lost
  // its answer and the resend was refused: at most once per such job, so voids are a small share
  // of its submits, and they come together only after an outage (every job then in flight, its
  // quote expired meanwhile): a burst of 1,000 covers a client at 1,000 jobs/s with a second of
  // them in flight; 600/min (10/s) is a coordinator losing and refusing ten submits a second for
  // minutes. A refused void costs that SDK a clean answer (it reads the job until it gives up:
  // JobOutcomeUnknownError). It bounds what one key can make the store keep to 10 items/s.
  void_new: { burst: 1_000, perMinute: 600 },
  // Per worker (attest39): one heartbeat writes each of its offers, up to MAX_WORKER_MODELS (32)
  // writes for one request, and any key can register a tier-none worker. An honest agent beats
  // every heartbeatSeconds (1,800 s in the cloud, 5 s locally; tests go down to 300 ms, 200 a
  // minute), plus one when its engine goes down or comes back and one when it stops: 240 a minute
  // and a burst of 30 never refuse it. It bounds one key's heartbeats to ~7,700 offer writes a
  // minute per process instead of unbounded.
  heartbeat: { burst: 30, perMinute: 240 },
  // Per worker (attest39): each session is an STS AssumeRole (and a queue check), and STS limits
  // AssumeRole per AWS account, so one free tier-none worker asking without end would throttle
  // every agent's sessions. An honest agent asks once per session (15 to 60 minutes), again
  // shortly before it expires, and after a failed receive.
  agent_session: { burst: 10, perMinute: 10 },
  // Per worker (coord42): GET /v1/agents/me reads the worker item, its counters, its payout
  // totals and each offer (up to MAX_WORKER_MODELS + 4 reads), for anyone who registered a key.
  // The busiest honest caller is a redeem waiting for the chain watcher (api-client/money.ts
  // redeemEarnings): a read every 200 ms for up to 60 s, 5 a second; the agent's own redeem and
  // its owner's `cocoon-agent redeem` may poll at once, 10 a second. 600 a minute refills that
  // as fast as it drains, and a burst of 120 covers the calls around it (the voucher's status,
  // the payout check, `cocoon-agent status`). It bounds one key to ~10 status reads a second per
  // process instead of unbounded.
  worker_status: { burst: 120, perMinute: 600 },
};

/** How many keys each action remembers; the least recently seen beyond that start again full. */
const MAX_KEYS = 10_000;

export type Take = { ok: true } | { ok: false; retryAfterMs: number };

export class TokenBuckets {
  private readonly buckets: Lru<string, { tokens: number; at: number }>;
  constructor(
    readonly limit: RateLimit,
    maxKeys = MAX_KEYS,
  ) {
    if (!(limit.burst >= 1) || !(limit.perMinute > 0))
      throw new RangeError(`a rate limit needs burst >= 1 and perMinute > 0, got ${JSON.stringify(limit)}`);
    this.buckets = new Lru(maxKeys);
  }
  get keys() {
    return this.buckets.size;
  }
  /** Takes one token for `key` at time `now` (ms), or says how long until one is back. */
  take(key: string, now: number): Take {
    const perMs = this.limit.perMinute / 60_000;
    const b = this.buckets.get(key);
    // A clock that went backwards refills nothing (never more than burst either way).
    const tokens = b ? Math.min(this.limit.burst, b.tokens + Math.max(0, now - b.at) * perMs) : this.limit.burst;
    if (tokens < 1) return { ok: false, retryAfterMs: Math.ceil((1 - tokens) / perMs) };
    this.buckets.set(key, { tokens: tokens - 1, at: b && now < b.at ? b.at : now });
    return { ok: true };
  }
}

/** One set of buckets per store (= per coordinator), created on first use. */
const perStore = new WeakMap<object, Map<RateAction, TokenBuckets>>();

/**
 * Takes a token for `key` doing `action`, or says how long until one is back. `owner` scopes the
 * state (the deps' store), `limits` overrides the defaults (CoreConfig.rateLimits).
 */
export function takeRateToken(
  owner: object,
  limits: Partial<Record<RateAction, RateLimit>> | undefined,
  action: RateAction,
  key: string,
  now: number,
): Take & { limit: RateLimit } {
  let byAction = perStore.get(owner);
  if (!byAction) perStore.set(owner, (byAction = new Map()));
  const limit = limits?.[action] ?? DEFAULT_RATE_LIMITS[action];
  let buckets = byAction.get(action);
  if (!buckets || buckets.limit.burst !== limit.burst || buckets.limit.perMinute !== limit.perMinute) {
    byAction.set(action, (buckets = new TokenBuckets(limit)));
  }
  return { ...buckets.take(key, now), limit };
}

/**
 * Takes a token for `key` doing `action` (takeRateToken), or throws RateLimitedError (429, code
 * "rate_limited", details.retryAfterSeconds), or what `refuse` makes of the wait and the limit.
 */
export function enforceRateLimit(
  owner: object,
  limits: Partial<Record<RateAction, RateLimit>> | undefined,
  action: RateAction,
  key: string,
  now: number,
  refuse: (retryAfterSeconds: number, limit: RateLimit) => Error = (s, l) => new RateLimitedError(action, s, l),
): void {
  const r = takeRateToken(owner, limits, action, key, now);
  if (!r.ok) throw refuse(Math.ceil(r.retryAfterMs / 1000), r.limit);
}
