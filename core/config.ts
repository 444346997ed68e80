import { randomBytes } from "node:crypto";
import { DEFAULT_PRICING, type PricingConfig } from "./pricing";
import type { RateAction, RateLimit } from "./attestation/rate-limit";

/** Knobs of the coordinator's domain logic; adapters read them from env and validate once. */
export interface CoreConfig {
  pricing: PricingConfig;
  /**
   * The operator's share of each job's cost, in bps (0..10 000), when no policy registry is
   * configured; with one, the registry's `fees.operatorFeeBps` applies instead. Unset: 0.
   */
  operatorFeeBps?: number;
  /** Base lease per attempt, plus a budget per requested token: a worker must answer within it. */
  leaseBaseSeconds: number;
  leaseMsPerToken: number;
  quoteTtlSeconds: number;
  /**
   * The HMAC key of stateless quotes (core/jobs/quote.ts): 64 hex chars. Every process that
   * prepares or submits jobs must share it (COCOON_QUOTE_KEY on AWS). The default is random per
   * process: unforgeable, but quotes verify only in the process that made them.
   */
  quoteKey: string;
  /**
   * Names this deployment in the MAC of its quotes and tabs (core/jobs/quote.ts tokenDomain), so a
   * quote or tab made by another deployment is refused (bad_quote, bad_tab) even where the two
   * share a quote key: a tab names no stored item its submit reads, so a dev stage's tab accepted
   * on prod would run jobs against a hold that does not exist there. On AWS the worker queues' ARN
   * prefix and the table's name (COCOON_WORKER_QUEUE_ARN_PREFIX, COCOON_TABLE: partition, region,
   * account, app and stage), which every function already has; locally "local" (its quote key is
   * per process anyway). It does not change when a stage's table is restored or recreated under
   * its old name: the quote key is rotated then (docs/deploy.md).
   */
  deployment: string;
  /**
   * The secret of request sessions (core/crypto/session-auth.ts): 64 hex chars, shared by every
   * process that opens or checks sessions (COCOON_SESSION_KEY on AWS). Unset: no sessions
   * (POST /v1/sessions answers 404 sessions_unavailable and clients sign every request). The
   * default is random per process, which serves a single-process coordinator (the local default).
   */
  sessionKey?: string | undefined;
  /** Signed requests older or newer than this are refused. */
  authWindowMs: number;
  /** How often agents heartbeat (told at registration), and when a silent one leaves the lists. */
  heartbeatSeconds: number;
  livenessMs: number;
  /** Accept simulated (dev) attestations at registration: local default only. */
  allowDevAttestation: boolean;
  /** Accept allow-list entries marked testOnly (public sample images anyone can boot): local default and tests only. */
  allowTestImages: boolean;
  /** Per-key limits on registration nonces, registrations and challenges (default: DEFAULT_RATE_LIMITS). */
  rateLimits?: Partial<Record<RateAction, RateLimit>>;
  /**
   * Least a tab may hold (slots × slotCost, nanoTON); smaller opens are refused (400
   * tab_too_small). Unset: DEFAULT_MIN_TAB_HOLD. A tab needs no quote or live worker and all
   * its money comes back at close, so without a floor an open+close (~12 write units) costs a
   * few nanoTON of locked capital; the floor bounds how many tabs one account can keep open.
   */
  minTabHold?: bigint;
  /**
   * Least a requester must hold (available + held, nanoTON) for its attestation challenges to draw
   * on a worker's `worker_challenge` bucket; below it they share the smaller
   * `worker_challenge_unfunded` one. Unset: DEFAULT_MIN_CHALLENGE_BALANCE.
   */
  minChallengeBalance?: bigint;
  /** Dev faucet endpoint enabled: local default only. */
  faucet: boolean;
  defaultCandidates: number;
  /** Longest a GET /v1/jobs/{id}?wait=… or agent poll may hold the connection. */
  maxWaitSeconds: number;
  /**
   * How many days a job's records (its job item, and a tab's jobs' items) are kept after the
   * job ends (completed, refunded, or its tab closed), then expire (TTL): the requester, worker,
   * model, usage and cost of every job would otherwise stay in the table for good. Receipt
   * proofs are served only this long. MIN_JOB_RETENTION_DAYS..MAX_JOB_RETENTION_DAYS
   * (checkJobRetentionDays); unset: DEFAULT_JOB_RETENTION_DAYS. COCOON_JOB_RETENTION_DAYS.
   */
  jobRetentionDays?: number;
}

/** How long a job's records are kept after it ends when the configuration says nothing. */
export const DEFAULT_JOB_RETENTION_DAYS = 30;
/**
 * The least retention that keeps every reader of a job item whole (core/jobs/retention.ts):
 * longer than its reply item (RETAIN_SECONDS, 7 days, which a job must outlive: GET /v1/jobs/{id}
 * and a tab's close judge a missing reply by the job), than the receipt log's last straggler pass
 * (a day), and than the two job-id windows together (JOB_ID_WINDOW_MS, 3 days each side), so
 * that an expired job's id can never be submitted again.
 */
export const MIN_JOB_RETENTION_DAYS = 8;
/** Ten years: anything longer is a typo (and past it a ttl in seconds still fits every store). */
export const MAX_JOB_RETENTION_DAYS = 3650;

export class InvalidJobRetentionError extends Error {
  override readonly name = "InvalidJobRetentionError";
}

/** A job retention must be whole days within MIN_JOB_RETENTION_DAYS..MAX_JOB_RETENTION_DAYS; anything else is refused, never clamped. */
export function checkJobRetentionDays(days: number): number {
  if (!Number.isInteger(days) || days < MIN_JOB_RETENTION_DAYS || days > MAX_JOB_RETENTION_DAYS)
    throw new InvalidJobRetentionError(
      `job retention ${days} days: must be whole days from ${MIN_JOB_RETENTION_DAYS} to ${MAX_JOB_RETENTION_DAYS}`,
    );
  return days;
}

/**
 * 1,000 nanoTON: at the default price (100 nanoTON per completion token) one job of 10 tokens,
 * under anything an honest job holds (the test world's smallest job holds ~4,000), so no honest
 * tab is refused; it ends the 1-nanoTON tab. The per-requester `tab_open` rate limit is what
 * bounds the write cost; raise this on a deployment to bound open tabs by locked capital.
 */
export const DEFAULT_MIN_TAB_HOLD = 1_000n;

/**
 * 1,000 nanoTON (one small job at the default price, like DEFAULT_MIN_TAB_HOLD): every honest
 * requester holds more once it has deposited (the vault credits at least 0.075 TON), while
 * each funded key costs an attacker a deposit and its fee.
 */
export const DEFAULT_MIN_CHALLENGE_BALANCE = 1_000n;

export const DEFAULT_CORE_CONFIG: CoreConfig = {
  pricing: DEFAULT_PRICING,
  leaseBaseSeconds: 30,
  leaseMsPerToken: 50,
  quoteTtlSeconds: 300,
  quoteKey: randomBytes(32).toString("hex"),
  deployment: "local",
  sessionKey: randomBytes(32).toString("hex"),
  authWindowMs: 60_000,
  // Cloud: dead workers are caught by their leases running out (markSuspect), so heartbeats
  // can be rare; each one is a paid write, and they dominate an idle agent's cost.
  heartbeatSeconds: 1800,
  livenessMs: 4_500_000,
  allowDevAttestation: false,
  allowTestImages: false,
  faucet: false,
  defaultCandidates: 3,
  maxWaitSeconds: 20,
};
