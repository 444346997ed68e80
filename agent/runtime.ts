import { connect as tlsConnect } from "node:tls";
import type { z } from "zod";
import type { AttestationDoc, AttestationTier } from "../events/attestation";
import {
  MAX_RESULT_BATCH,
  MAX_RESULT_BATCH_BYTES,
  type AgentCancel,
  type AgentChallenge,
  type AgentJob,
  type ModelCapabilities,
  type RegisterWorkerResponse,
  type ResultRequest,
} from "../events/api";
import { b64u } from "../core/crypto/encoding";
import type { KemKeyPair, SigningKeyPair } from "../core/crypto/keys";
import { API, ApiClient, ApiError, type RequestOptions } from "../api-client/api";
import { redeemEarnings } from "../api-client/money";
import type { ApiRoute } from "../api-client/routes";
import {
  type Engine,
  type EngineCompletionRequest,
  type EngineEmbedRequest,
  EngineError,
  type EngineRequest,
  isKeyRefusal,
} from "./engines/engine";
import { EngineWork } from "./engine-work";
import { backoff, type Backoff, type BackoffOptions, interruptibleSleep, sleepUnlessAborted, unlessAborted } from "./backoff";
import { executeJob, failureReport, LongestLifeReached, type AgentLog, type AgentStats } from "./execute";
import { type AgentMetrics, createAgentMetrics, type JobOutcome } from "./metrics";
import { asWorkBatch, type JobSource } from "./sources/job-source";
import { createHttpJobSource } from "./sources/http";
import type { PolicyCache } from "../core/policy-registry";
import { policyRefusal, voucherCheck } from "./attest";
import { redeemMessage } from "../api-client/vault-messages";
import { ConfigError } from "./config";
import { CollateralError, type CollateralSource } from "./collateral";

// The job execution lives in execute.ts; these stay importable from here.
export { failureCode, type AgentLog, type AgentStats } from "./execute";

export interface AgentOptions {
  apiUrl: string;
  signingKey: SigningKeyPair;
  kemKey: KemKeyPair;
  engine: Engine;
  models: Array<{ model: string; priceBps?: number }>;
  /** Jobs run at once at most (the owner's setting); bounded by `engineCapacity`. */
  capacity?: number;
  /** Jobs the engine itself can run at once (llama.cpp: its parallel sequences); unbounded when absent. */
  engineCapacity?: number;
  /**
   * Builds evidence binding our keys to a coordinator nonce (TDX quote, dev simulation, or none),
   * stamped `at` (the coordinator's time: a clock more than 5 min ahead of it had every
   * registration refused as evidence_from_future).
   */
  attest: (nonce: Uint8Array, at?: number) => Promise<AttestationDoc>;
  /**
   * tdx: the collateral source `attest` uses (agent/collateral.ts), told before each
   * registration's evidence is made the collateral age bound the coordinator judges it by (named
   * in the nonce's answer; an older coordinator names none, and the bundled policy's stays), and,
   * when the coordinator refuses the evidence (attestationRefusal), to fetch afresh.
   */
  collateral?: Pick<CollateralSource, "coordinatorBounds"> & Partial<Pick<CollateralSource, "refetch">>;
  jobSource?: JobSource;
  /** Override of the interval the coordinator asks for at registration. */
  heartbeatMs?: number;
  log?: AgentLog;
  now?: () => number;
  /**
   * Long-poll wait of each poll, seconds (default 20). A drain never aborts the poll in flight (the
   * jobs of an unread answer would be lost): it asks the coordinator to wake it (a coordinator that
   * cannot leaves it to end at its wait).
   */
  pollWaitSeconds?: number;
  /** Waits between retries while the API or the engine is down (exponential, full jitter). */
  backoff?: BackoffOptions;
  /**
   * How long the first registration keeps retrying while the API is unreachable or failing
   * (5xx), ms. Default 0: fail at once (embedders, tests); the CLI waits for the API.
   */
  registerRetryMs?: number;
  /** A result post that cannot reach the API is retried this long, ms (default 120 s). */
  resultRetryMs?: number;
  /** Counters and the status document (made here when absent). */
  metrics?: AgentMetrics;
  /**
   * Automatic payout: once earned − redeemed reaches `threshold` nanoTON, ask for a voucher and,
   * on the local default, send the Redeem from the worker's sandbox wallet. Elsewhere the voucher
   * is logged for the owner to send (contracts/README.md). Checked every `checkEveryMs` (15 min).
   */
  redeem?: { threshold: bigint; payoutAddress?: string; checkEveryMs?: number };
  /**
   * The housekeeping tick (heartbeat due, re-attestation due, engine probe, payout check), ms;
   * default min(heartbeat, 60 s, and engineHealth.everyMs for an engine with a health check).
   */
  tickMs?: number;
  /**
   * issue 15: the on-chain policy registry (client/policy-source.ts). When set, a job is run only
   * on a reading younger than the cache's bound that still lists `image` (this worker's image
   * digest, core/policy-registry.ts imageDigestOf; without it the image is not checked) and,
   * where the registry lists models, the job's model's digest in `modelDigests` (agent/attest.ts
   * policyRefusal). A job refused here is left to its lease, which moves it to another candidate.
   */
  policy?: { registry: PolicyCache; image?: string; modelDigests?: Record<string, string> };
  /**
   * How the engine's health is watched. `everyMs` (default 30 s): while no job runs, an engine
   * with a health check (engine.health: one GET /health of a few bytes) is probed this often, on
   * the housekeeping tick, so an engine that died between jobs leaves the candidate lists before a
   * paid job finds it. `timeoutsBeforeDown` (default 3): that many jobs in a row the engine left
   * unanswered (engine_timeout) take the worker off the lists even when its probe answers, each
   * confirmed by a canary: a one-token call sent once no other engine call runs (new jobs wait
   * meanwhile), left unanswered `canaryTimeoutMs` (default 30 s) or its adapter's timeout.
   */
  engineHealth?: { everyMs?: number; timeoutsBeforeDown?: number; canaryTimeoutMs?: number };
  /**
   * A stop asked before the agent is up (SIGTERM while it registers or waits out a down API):
   * the registration is given up at once (its requests aborted, its backoff cut short), nothing
   * is registered after the abort, and startAgent rejects with AgentStoppedError. Once startAgent
   * has resolved, stop with stop() or drain() instead.
   */
  signal?: AbortSignal;
  /**
   * TEST ONLY: the agent's fixed waits, shortened so that tests need not sit through them (defaults
   * as in production). `heartbeatLimitMs`: a heartbeat unanswered this long is given up (default
   * min(10 s, max(5 s, the heartbeat interval))). `leaseRetryMs`: a lease extension that failed
   * transiently is asked again this much later (default 1 s). `lastPollWaitSeconds`: the long-poll
   * wait of a drain's last polls (default 1: see drainOnce).
   */
  waits?: { heartbeatLimitMs?: number; leaseRetryMs?: number; lastPollWaitSeconds?: number };
}

/**
 * What startAgent rejects with when `signal` aborts before the agent is up: a stop the owner
 * asked for, not a failure (the CLI exits 0, as a drain does).
 */
export class AgentStoppedError extends Error {
  override readonly name = "AgentStoppedError";
  readonly code = "stopped_before_registering";
  constructor(message = "stopped before the agent registered: nothing to drain") {
    super(message);
  }
}

/** Challenges answered at once at most; more are dropped (each costs a quote) and the requester times out. */
const MAX_OPEN_CHALLENGES = 8;

/** A drain's last polls at most (each a long-poll of 1 s), once the poll in flight has answered. */
const LAST_POLLS = 10;

/** Jobs remembered as taken, against a second delivery of the same attempt (a few hours of work at most). */
const RECENT_JOBS = 4096;

/** A job attempt's key: the outcomes of posts and the deliveries already taken are kept by it. */
const attemptKey = (j: { jobId: string; attempt: number }) => `${j.jobId}#${j.attempt}`;

/** Engine errors that mean the engine as a whole is down, not that this one request was bad. */
const ENGINE_DOWN = new Set(["engine_unavailable", "engine_crashed"]);

/** Engine errors that prove the engine answered (it refused or garbled this request): it is not hung. */
const ENGINE_ANSWERED = new Set(["engine_rejected", "model_not_served", "engine_bad_response"]);
/**
 * The longest a canary waits for the engine calls under way to end (checkHung): they end by their
 * own timeouts (the adapters' 120 s), so this only bounds the pause of new jobs on an engine
 * adapter with none. Past it the canary is not sent and the timeout is not counted.
 */
const CANARY_IDLE_WAIT_MS = 150_000;

export interface RunningAgent {
  workerId: string;
  tier: string;
  measurement: string;
  stats: AgentStats;
  api: ApiClient;
  metrics: AgentMetrics;
  /** Quick stop (tests, embedders): announce shutdown, finish the jobs running, leave the poll in flight. */
  stop(): Promise<void>;
  /**
   * Graceful drain (SIGTERM): stop taking jobs, announce shutdown (leave the candidate lists),
   * take what the coordinator had already dispatched to us, finish every running job, stop.
   */
  drain(): Promise<void>;
}

const silent: AgentLog = { info() {}, warn() {} };

/**
 * Why `e`, an unreachable API, is the API URL's scheme and not an outage: a config error no wait
 * mends, which the first registration waited out forever as "unreachable". https:// at a server
 * that speaks plain HTTP fails the TLS handshake on its answer (OpenSSL's "wrong version number";
 * api-client keeps only the message); http:// at a TLS server is dropped ("socket hang up") as
 * an outage may be, so that one is told apart by a TLS handshake at the same address. Anything
 * else (refused, timed out, a reset where no TLS server answers) is left to the retries.
 */
export async function apiSchemeMismatch(apiUrl: string, e: unknown): Promise<string | undefined> {
  if (!(e instanceof ApiError && e.code === "unreachable")) return undefined;
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    return undefined;
  }
  const setting = "apiUrl (--api, COCOON_API_URL or agent.json)";
  const tlsFailure = /wrong version number|packet length too long/i.exec(e.message);
  if (url.protocol === "https:" && tlsFailure)
    return `${setting}: ${apiUrl} is https, but the server at ${url.host} speaks plain HTTP (the TLS handshake failed on its answer: ${tlsFailure[0]}); use http://${url.host}${url.pathname.replace(/\/$/, "")} or put TLS in front of the coordinator`;
  if (url.protocol === "http:" && /socket hang up|ECONNRESET/.test(e.message) && (await speaksTls(url)))
    return `${setting}: ${apiUrl} is http, but the server at ${url.host} speaks TLS (it dropped the plain request and answers a TLS handshake); use https://${url.host}${url.pathname.replace(/\/$/, "")}`;
  return undefined;
}

/**
 * Whether a TLS handshake at the URL's host and port completes within 3 s. Any certificate will
 * do: nothing is sent over it (it is closed at once); it only tells a TLS server from a down one.
 */
function speaksTls(url: URL): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: url.hostname.replace(/^\[|\]$/g, ""),
      port: Number(url.port || 80),
      ...(/^[\d.]+$|:/.test(url.hostname) ? {} : { servername: url.hostname }),
      rejectUnauthorized: false,
      timeout: 3_000,
    });
    const done = (tls: boolean) => {
      socket.destroy();
      resolve(tls);
    };
    socket.once("secureConnect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(false));
  });
}

/** An API failure worth waiting out: unreachable, or a server-side error; never a refusal. */
export function transient(e: unknown): boolean {
  return e instanceof ApiError && ((e.status === 0 && e.code === "unreachable") || e.status >= 500 || e.status === 429);
}

/**
 * The coordinator's refusal of this worker's evidence, by its machine-readable code: 403 with
 * `attestation_<verdict code>` (core/workers.ts registerWorker: the verifier's code, such as
 * attestation_collateral_expired or attestation_measurement_not_allowed;
 * attestation_image_not_in_registry from the policy registry) or `model_not_in_registry` (the
 * registry's model allow-list). No restart mends it; fresh collateral or a policy change may.
 */
export function attestationRefusal(e: unknown): e is ApiError {
  return e instanceof ApiError && e.status === 403 && (e.code.startsWith("attestation_") || e.code === "model_not_in_registry");
}

/**
 * Whether `e` leaves the agent unable to attest until something outside it changes, which it
 * waits out rather than exits or serves on: its attester made no evidence (CollateralError: no
 * Intel collateral that passes, a PCCS down or serving collateral not valid yet, or a quote whose
 * platform it cannot read) or the coordinator refused what it made (attestationRefusal).
 */
export const cannotAttestError = (e: unknown): e is CollateralError | ApiError => e instanceof CollateralError || attestationRefusal(e);

/** The named code of `e` for logs and metrics (collateral_stale: the agent cannot make evidence that passes). */
const codeOf = (e: unknown) => (e instanceof ApiError || e instanceof EngineError || e instanceof CollateralError ? e.code : "error");
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

type ResultAnswer = z.output<typeof API.postResult.response>;

/** One result on its way to the coordinator (AgentApi), until it is answered or given up. */
interface Posting {
  body: ResultRequest;
  signal: AbortSignal | undefined;
  started: number;
  wait: Backoff;
  /** its JSON's bytes, measured once it may join a batch */
  bytes?: number;
  resolve(r: ResultAnswer): void;
  reject(e: unknown): void;
}

/** A batch's JSON around its items: {"kind":"batch","results":[…]} and a comma per item, with room to spare. */
export const BATCH_FRAME_BYTES = 1024;
/** How long a result post in flight holds the next one back: posts are answered in milliseconds, a stalled one in up to a minute. */
export const POST_STALL_MS = 1_000;

/**
 * The client the agent uses: posts of results are retried while the API is unreachable or
 * failing (an identical repost is answered as a duplicate, so a retry never pays twice), and
 * each post's fate is reported to `observe` (the metrics: outcome, tokens, earnings).
 *
 * issue 12: results are coalesced, Nagle-like. A result is posted at once when no result post
 * is in flight (no latency added at low load); the results that finish while one is in flight
 * wait and go together in the next post (one request, one settlement for up to 16 of them,
 * within MAX_RESULT_BATCH_BYTES: a large reply goes alone). A post unanswered for
 * POST_STALL_MS holds nothing more: the next goes out beside it (a lost connection must not
 * hold every other result for its minute). Each result keeps its own retries:
 * an item refused for a transient reason, or a post that failed or went unanswered, is posted
 * again after its own backoff, identically.
 */
class AgentApi extends ApiClient {
  observe?: (body: ResultRequest, r: { cost?: string; credit?: string; duplicate: boolean } | undefined, e: unknown) => void;
  retryMs = 120_000;
  retryBackoff: BackoffOptions = {};
  halted = false;
  /** results waiting for the post in flight, in the order they came */
  private waiting: Posting[] = [];
  /** a batch was refused whole (a coordinator older than batches): each result posted alone and at once */
  private batchesRefused = false;
  /** when each post in flight was sent */
  private inFlight = new Set<{ sentAt: number }>();
  private stallCheck: ReturnType<typeof setTimeout> | undefined;

  override async request<R extends ApiRoute>(route: R, o: RequestOptions<unknown> = {}): Promise<z.output<R["response"]>> {
    if ((route as ApiRoute) !== API.postResult) return super.request(route, o as RequestOptions<never>);
    return new Promise<ResultAnswer>((resolve, reject) => {
      const p: Posting = {
        body: o.body as ResultRequest,
        signal: o.signal,
        started: Date.now(),
        wait: backoff(this.retryBackoff),
        resolve,
        reject,
      };
      this.waiting.push(p);
      this.pump();
    }) as Promise<z.output<R["response"]>>;
  }

  /** The next posts: one, unless one sent less than POST_STALL_MS ago is in flight (its end, or the stall check, pumps again); all at once once batches were refused. */
  private pump() {
    while (this.waiting.length > 0) {
      const now = Date.now();
      const youngest = Math.max(-Infinity, ...[...this.inFlight].map((f) => f.sentAt));
      if (!this.batchesRefused && now - youngest < POST_STALL_MS) {
        this.stallCheck ??= setTimeout(
          () => {
            this.stallCheck = undefined;
            this.pump();
          },
          youngest + POST_STALL_MS - now,
        );
        return;
      }
      const post = { sentAt: now };
      this.inFlight.add(post);
      const batch = this.take();
      void (batch.length === 1 ? this.postOne(batch[0]!) : this.postBatch(batch)).finally(() => {
        this.inFlight.delete(post);
        this.pump();
      });
    }
  }

  /** The first waiting result, and those after it that fit with it (16, the byte cap, each job once). */
  private take(): Posting[] {
    const first = this.waiting.shift()!;
    // one its caller gave up goes alone too, like those skipped below: a batch would send it
    if (this.batchesRefused || this.waiting.length === 0 || first.signal?.aborted) return [first];
    const room = MAX_RESULT_BATCH_BYTES - BATCH_FRAME_BYTES;
    let bytes = bytesOf(first);
    if (bytes > room) return [first];
    const batch = [first];
    const jobs = new Set([first.body.jobId]);
    for (let i = 0; i < this.waiting.length && batch.length < MAX_RESULT_BATCH;) {
      const p = this.waiting[i]!;
      // a result aborted by its caller is sent alone, where the transport refuses it (nothing sent)
      if (p.signal?.aborted || jobs.has(p.body.jobId) || bytes + bytesOf(p) > room) {
        i++;
        continue;
      }
      bytes += bytesOf(p);
      jobs.add(p.body.jobId);
      batch.push(p);
      this.waiting.splice(i, 1);
    }
    return batch;
  }

  /** Each post answered within a minute (or the retry budget) at most: one the API took and never answered held its job for ever. */
  private postLimitMs = () => Math.max(1_000, Math.min(60_000, this.retryMs));
  private postLimit = () => AbortSignal.timeout(this.postLimitMs());

  private async postOne(p: Posting) {
    const ms = this.postLimitMs();
    // A limit that reaches the end of the result's retry budget spends it: judged here, not by the
    // clock when it fires (a timer may fire a millisecond before its time as Date.now reads it,
    // which sent such a result once more)
    const lastTry = ms >= p.started + this.retryMs - Date.now();
    const limit = AbortSignal.timeout(ms);
    try {
      const signal = p.signal ? AbortSignal.any([p.signal, limit]) : limit;
      this.answered(p, await super.request(API.postResult, { body: p.body, signal }));
    } catch (e) {
      const unanswered = limit.aborted && !p.signal?.aborted;
      this.refused(p, e, unanswered, unanswered && lastTry);
    }
  }

  private async postBatch(batch: Posting[]) {
    const limit = this.postLimit();
    let answers: z.output<typeof API.postResults.response>["results"];
    try {
      const body = { kind: "batch" as const, results: batch.map((p) => p.body) };
      answers = (await super.request(API.postResults, { body, signal: limit })).results;
    } catch (e) {
      if (e instanceof ApiError && e.status >= 400 && e.status < 500 && e.status !== 429) {
        // The batch itself refused (a coordinator older than batches: 400): from now on every
        // result is posted alone and at once, as before batches, this one's items first.
        this.batchesRefused = true;
        this.waiting.unshift(...batch);
        return;
      }
      for (const p of batch) this.refused(p, e, limit.aborted);
      return;
    }
    if (answers.length !== batch.length) {
      // an answer that does not say what became of each: as if unanswered (perhaps taken), each posted again identically
      const e = new ApiError(0, "bad_response", `a batch of ${batch.length} results was answered with ${answers.length} outcomes`);
      for (const p of batch) this.refused(p, e, true);
      return;
    }
    batch.forEach((p, i) => {
      const a = answers[i]!;
      if ("error" in a) this.refused(p, new ApiError(a.error.status, a.error.code, a.error.message, a.error.details), false);
      else this.answered(p, a);
    });
  }

  private answered(p: Posting, r: ResultAnswer) {
    this.observe?.(p.body, r, undefined);
    p.resolve(r);
  }

  /**
   * A failed post of `p`: posted again after its backoff while transient (`silent`: unanswered in
   * time, perhaps taken), else given up; `budgetSpent`: unanswered by a limit that used the rest of
   * its retry budget.
   */
  private refused(p: Posting, e: unknown, silent: boolean, budgetSpent = false) {
    if (budgetSpent || !(transient(e) || silent) || this.halted || Date.now() - p.started > this.retryMs) {
      this.observe?.(p.body, undefined, e);
      p.reject(e);
      return;
    }
    setTimeout(() => {
      this.waiting.push(p);
      this.pump();
    }, p.wait.next());
  }
}

const bytesOf = (p: Posting) => (p.bytes ??= Buffer.byteLength(JSON.stringify(p.body), "utf8"));

/**
 * The worker agent: registers with fresh evidence, heartbeats, long-polls its jobs, opens
 * each envelope (plaintext exists only here, inside the TEE), runs the engine, seals the
 * answer to the requester's one-time key and posts it with a signed receipt. Attestation
 * challenges from requesters arrive on the same queue and are answered with `attest(nonce)`.
 *
 * It looks after itself: polls and registration back off with jitter while the API is down;
 * an engine that goes down takes the worker off the candidate lists (offline heartbeat) until a
 * probe finds it back; long jobs get their lease extended; evidence is renewed before it
 * expires; earnings are redeemed past a threshold; SIGTERM drains (drain()).
 */
export async function startAgent(o: AgentOptions): Promise<RunningAgent> {
  const log = o.log ?? silent;
  const now = o.now ?? Date.now;
  const api = new AgentApi(o.apiUrl, o.signingKey);
  if (o.resultRetryMs !== undefined) api.retryMs = o.resultRetryMs;
  if (o.backoff) api.retryBackoff = o.backoff;
  const workerId = o.signingKey.id;
  const capacity = Math.max(1, Math.min(o.capacity ?? 1, o.engineCapacity ?? Infinity));
  const stats: AgentStats = { jobs: 0, failed: 0, promptTokens: 0, completionTokens: 0, challenges: 0 };
  const metrics = o.metrics ?? createAgentMetrics({ now });
  metrics.status.capacity = capacity;
  const pollWait = o.pollWaitSeconds ?? 20;
  const error = (where: string, e: unknown, data: Record<string, unknown> = {}) => {
    metrics.error(where, codeOf(e), messageOf(e));
    log.warn(`${where} failed`, { code: codeOf(e), error: messageOf(e), ...data });
  };

  /**
   * Why the agent cannot attest, as last logged by where it failed (register, challenge, heartbeat):
   * a starting agent that waits for its PCCS retries every few seconds, and the same line at each
   * try buried the log. Each failure is counted (metrics) and shown in /status (attestError);
   * logged when its code or message changes. Cleared by a registration the coordinator accepts.
   */
  const attestSaid = new Map<string, string>();
  const attestFailed = (where: string, e: CollateralError | ApiError, data: Record<string, unknown> = {}) => {
    metrics.error(where, e.code, e.message);
    metrics.attestation({ code: e.code, msg: e.message, refused: attestationRefusal(e) });
    const said = `${e.code} ${e.message}`;
    if (attestSaid.get(where) === said) return;
    attestSaid.set(where, said);
    log.warn(`${where} failed`, { code: e.code, error: e.message, ...data });
  };
  const attestedAgain = () => {
    attestSaid.clear();
    metrics.attestation(undefined);
  };

  /** Set once a registration was sent while `o.signal` may abort it: it may have landed although we gave up on its answer. */
  let registrationSent = false;
  const register = async (signal?: AbortSignal) => {
    const { nonce, attestationPolicy } = await api.request(API.workerNonce, signal ? { signal } : {});
    o.collateral?.coordinatorBounds(attestationPolicy);
    const attestation = await o.attest(b64u.decode(nonce), api.serverTime());
    // ---- issue 11 (OpenAI drop-in): each model goes with what the engine can do with it, for
    // /v1/models and for cocoon serve's 400s that name the parameter a model cannot honour.
    const models = await Promise.all(
      o.models.map(async (m) => ({ model: m.model, priceBps: m.priceBps ?? 10_000, ...(await advertisedCapabilities(o.engine, m.model)) })),
    );
    // ---- end issue 11
    // An aborted signal sends nothing (api-client: "not sent at all if aborted already"): a stop
    // that came while the nonce, the evidence or the capabilities were awaited registers nothing.
    if (signal?.aborted) throw new AgentStoppedError();
    if (signal) registrationSent = true;
    return api.request(API.registerWorker, { body: { attestation, models, capacity }, ...(signal ? { signal } : {}) });
  };

  /**
   * Stopped before the agent was up. A registration given up in flight may have landed (the
   * coordinator took it, we never read its answer): then the worker is listed live and would be
   * picked for jobs until its liveness ran out. Announced offline, bounded (a stop stays prompt);
   * a coordinator that never registered us answers not_a_worker, which is fine.
   */
  const stoppedBeforeUp = async (): Promise<never> => {
    if (registrationSent) {
      // (raced as well as signalled: opening the session it goes through takes no signal)
      const limit = AbortSignal.timeout(3_000);
      await unlessAborted(
        api.request(API.heartbeat, { body: { load: 0, offline: true }, signal: limit }),
        limit,
        () => new AgentStoppedError(),
      ).catch(() => {});
    }
    metrics.setState("stopped");
    throw new AgentStoppedError();
  };

  // The first registration: with the CLI, wait for an API that is down (backoff with jitter).
  // (A SIGTERM here used to end the process with 143: the CLI listened for signals only once this returned.)
  let reg: RegisterWorkerResponse;
  {
    const started = now();
    const wait = backoff(o.backoff);
    for (;;) {
      if (o.signal?.aborted) return stoppedBeforeUp();
      try {
        reg = await register(o.signal);
        break;
      } catch (e) {
        if (o.signal?.aborted) return stoppedBeforeUp();
        // No evidence that passes yet (a PCCS down at boot with nothing cached, or serving
        // collateral not valid yet): waited out like a down API, not an exit that needs the owner
        // to restart. A quote whose platform cannot be read stays unreadable: that one throws.
        const noEvidence = e instanceof CollateralError && e.code !== "quote_unreadable";
        // agent42: the coordinator refusing the evidence (403 attestation_*) is waited out too, as
        // it is after the first start: most often collateral the coordinator judges otherwise (a
        // cached copy expired or revoked, a TCB level that a fresh fetch or a policy change mends),
        // and an exit had the owner restart an agent that would have registered minutes later. A
        // setting (the tier, an image not on the list) waits the same way, said once in the log
        // and in /status (attestError) until it changes. Any other 403 (not_a_worker, a proxy's)
        // still throws: the owner must read it.
        const refused = e instanceof ApiError && e.status === 403 && e.code.startsWith("attestation_");
        if (!transient(e) && !noEvidence && !refused) throw e;
        const mismatch = noEvidence || refused ? undefined : await apiSchemeMismatch(o.apiUrl, e);
        if (mismatch) throw new ConfigError(mismatch);
        if (now() - started >= (o.registerRetryMs ?? 0)) throw e;
        const ms = wait.next();
        if (refused) {
          o.collateral?.refetch?.(); // the copy held may be what was refused
          metrics.setState("cannot_attest");
          attestFailed("register", e, { retryInMs: ms, hint: "not registered yet: the coordinator refused its evidence; tries again" });
        } else if (noEvidence) {
          metrics.setState("cannot_attest");
          attestFailed("register", e, { retryInMs: ms, hint: "not registered yet: registers once its evidence passes" });
        } else {
          metrics.setState("api_down");
          error("register", e, { retryInMs: ms });
        }
        await sleepUnlessAborted(ms, o.signal);
      }
    }
    // answered just as the stop came: registered, so leave the lists again rather than serve
    if (o.signal?.aborted) return stoppedBeforeUp();
  }
  if (metrics.status.attestError) log.info("attesting: the evidence passes", { code: metrics.status.attestError.code });
  attestedAgain();
  metrics.setIdentity(workerId, reg.tier as AttestationTier);
  metrics.setState("serving");
  log.info("registered", { workerId, tier: reg.tier, confidential: reg.tier === "tdx", models: o.models.map((m) => m.model), capacity });

  const heartbeatMs = o.heartbeatMs ?? reg.heartbeatSeconds * 1000;
  const healthEveryMs = o.engineHealth?.everyMs ?? 30_000;
  // The idle probe is made on the tick: a tick of 60 s probed every 60 s whatever engineHealth.everyMs said.
  const tickMs = o.tickMs ?? Math.min(heartbeatMs, 60_000, o.engine.health ? healthEveryMs : Infinity);
  /** A heartbeat unanswered this long is given up: an API gone silent must hold neither the housekeeping nor stop(). */
  const beatLimit = () => AbortSignal.timeout(o.waits?.heartbeatLimitMs ?? Math.min(10_000, Math.max(5_000, heartbeatMs)));
  let stopped = false;
  let draining = false;
  let inFlight = 0;
  const running = new Set<Promise<void>>();
  const pollSleep = interruptibleSleep();
  const tickSleep = interruptibleSleep();

  // ---------------------------------------------------------------- engine health
  let engineDown = false;
  const probe = backoff(o.backoff);
  let nextProbeAt = 0;
  /**
   * The engine's probe: its health check where it has one (llama-server, vLLM, SGLang and TGI
   * answer GET /v1/models from their HTTP layer even while the engine behind it is hung or dead),
   * else its model list.
   */
  const probeEngine = async () => {
    if (o.engine.health) await o.engine.health();
    else await o.engine.models();
  };
  let nextHealthAt = now() + healthEveryMs;
  /**
   * Job timeouts in a row (engine_timeout) that a canary confirmed (checkHung: canary42). An engine
   * that takes connections but never answers failed each paid job after the full engine timeout
   * (120 s) and was never marked down; from `timeoutsBeforeDown` on it is, whatever its probe says,
   * and it stays one timeout from down (its probe backing off) until it answers a job again.
   */
  const timeoutsBeforeDown = Math.max(1, o.engineHealth?.timeoutsBeforeDown ?? 3);
  let timeouts = 0;
  /**
   * The engine last went down refusing the agent's key (isKeyRefusal). Until a job is answered
   * again its probes keep backing off when it comes back: a server whose probe routes all take no
   * key (a proxy that guards only the generation routes) passes its probe while jobs are still
   * refused, and each return would cost a requester's job.
   */
  let keyRefused = false;
  /** The engine answered a call (or refused it as a request's fault): it is not hung, and needs no idle probe for a while. */
  const engineAnswered = () => {
    if (timeouts >= timeoutsBeforeDown || keyRefused) probe.reset();
    timeouts = 0;
    keyRefused = false;
    nextHealthAt = now() + healthEveryMs;
  };
  const engineIsDown = (e: EngineError) => {
    if (engineDown) return;
    engineDown = true;
    nextProbeAt = now() + probe.next();
    metrics.setState("engine_down");
    keyRefused = isKeyRefusal(e);
    // /status is the host's to read: the engine's own text stays out of it, as it stays out of
    // the log and the coordinator (it can echo a prompt); our text (unreachable, which URL) helps.
    if (keyRefused) {
      const why =
        `the engine refuses the agent's key (HTTP ${e.details?.status}): engineKey (--engine-key, COCOON_ENGINE_KEY or agent.json) ` +
        `must be the engine's --api-key; set it and restart the agent, or start the engine with the key the agent has. ` +
        `Off the candidate lists until a probe with the key is answered`;
      metrics.error("engine", e.code, why);
      log.warn(why, { code: e.code, status: e.details?.status });
    } else {
      // The cause as /status shows it, in the log too (it showed the code alone). Our own text
      // (an unreachable URL, a timeout, a closed or crashed process) names no request: the adapters
      // put what an engine answered, which can echo a prompt, in serverMessage, never quoted here.
      const cause =
        e.details?.serverMessage === undefined
          ? e.message
          : `the engine answered ${e.details.status !== undefined ? `HTTP ${e.details.status}` : "an error mid-stream"} (its own text is kept inside: it can echo a prompt)`;
      metrics.error("engine", e.code, cause);
      log.warn("engine down: leaving the candidate lists until it answers again", { code: e.code, cause });
    }
    // Offline: requesters' jobs go to other workers instead of failing here one by one.
    void api.request(API.heartbeat, { body: { load: inFlight, offline: true }, signal: beatLimit() }).catch(() => {});
    tickSleep.wake();
  };
  /**
   * An engine_unavailable from a call. An engine that could not be reached, or that answered
   * with its load (429, 503), is down at once. One that answered with an error of its own (a
   * 500, an error mid-stream) may have failed on this one request, which a requester can
   * craft: a probe decides, so that one job cannot take a worker off the lists. So does a job
   * the engine left unanswered (engine_timeout: a hung engine, or one huge prompt), until
   * `timeoutsBeforeDown` of them in a row, which take it down whatever the probe says.
   */
  let confirming = false;
  /** Engine calls under way (jobs' generations, streams, embeddings): what a probe that waited may have waited behind. */
  const engineCalls = new EngineWork();
  /**
   * A confirming probe that got no answer in time while other calls were running on the engine:
   * a busy engine (llama-server with every slot generating, its HTTP threads each serving one)
   * answers a probe late, which is no sign of a dead one. It is left serving; a hung one is still
   * taken down by its run of job timeouts (timeoutsBeforeDown), as it is whatever the probe says.
   */
  const busyNotDead = (pe: unknown) => pe instanceof EngineError && pe.code === "engine_timeout" && engineCalls.running > 0;
  /**
   * canary42: whether a job's timeout is a step of the run that takes the engine down. A requester
   * can make any job time out on an honest engine (a huge prompt's prefill, a huge json_schema or
   * many images, a long generation asked whole: none of which the agent can weigh from outside),
   * and ordinary load hides a hung engine from any reading of the work under way (review42). So the
   * engine is asked: once no other engine call runs (new jobs wait: `canaryWanted`; the calls
   * under way end, at the latest by their own timeouts, which abort them), a one-token call with a
   * two-byte prompt. Answered: busy, not hung, and the run is over. Unanswered within
   * `canaryTimeoutMs` with nothing else on the engine: the timeout counts (a run rather than down
   * at once: a server that finishes an aborted generation before it takes the next one, as some
   * do with calls asked whole, may leave one canary waiting behind a requester's last job; three
   * in a row, none answered between them, it cannot). The timeouts met while one is pending are
   * judged by it; no other call may begin while it is out (that spoils the verdict: uncounted).
   */
  const canaryMs = Math.max(1, o.engineHealth?.canaryTimeoutMs ?? 30_000);
  /** New jobs wait while a canary is wanted: it goes out once the engine calls under way have ended. */
  let canaryWanted = false;
  /** Aborts the canary out when the agent stops (a drain lets it end: the jobs that wait for it are run). */
  const canaryStop = new AbortController();
  const checkHung = (e: EngineError, req: { model: string } | EngineEmbedRequest) => {
    if (canaryWanted) return;
    canaryWanted = true;
    log.info("engine timed out on a job: new jobs wait for a one-token canary once its other calls end", {
      running: engineCalls.running,
    });
    // tracked: a drain waits for it and then runs the jobs that waited for it (a stop aborts it)
    track(
      (async () => {
        // the calls under way end by their own timeouts (the adapters': 120 s); this bounds the wait on any other
        if (!(await engineCalls.idle(CANARY_IDLE_WAIT_MS))) {
          log.warn("engine calls still running long after a job's timeout: the canary is not sent, the timeout not counted", {
            running: engineCalls.running,
          });
          return;
        }
        if (engineDown || stopped) return;
        const began = engineCalls.began;
        const limit = AbortSignal.any([canaryStop.signal, AbortSignal.timeout(canaryMs)]);
        let answered: boolean;
        try {
          if ("input" in req && o.engine.embed) await o.engine.embed({ model: req.model, input: ["ok"], signal: limit });
          else await o.engine.generate({ model: req.model, messages: [{ role: "user", content: "ok" }], maxTokens: 1, signal: limit });
          answered = true;
        } catch (ce) {
          // refused as a request (a model that cannot chat, a 400): the engine answered all the same
          answered = ce instanceof EngineError && ENGINE_ANSWERED.has(ce.code);
        }
        if (stopped || engineDown) return;
        if (answered) {
          log.info("engine answered the canary: busy, not hung; still serving");
          return engineAnswered();
        }
        if (engineCalls.began !== began) return log.warn("an engine call began beside the canary: the timeout is not counted");
        ++timeouts;
        log.warn("engine left the canary unanswered with nothing else running", { timeouts, timeoutsBeforeDown, canaryMs });
        if (timeouts >= timeoutsBeforeDown) engineIsDown(e);
      })().finally(() => {
        canaryWanted = false;
        pump(); // the jobs that waited start
      }),
    );
  };
  const engineFailed = (e: unknown, req: { model: string } | EngineEmbedRequest) => {
    if (!(e instanceof EngineError)) return;
    if (ENGINE_ANSWERED.has(e.code)) return engineAnswered();
    if (engineDown) return;
    if (e.code === "engine_timeout") {
      // hung or only busy: the canary says (a run of its verdicts takes the engine down); a probe
      // that fails with no other call running (vLLM's /health hangs with its engine) at once
      checkHung(e, req);
    } else if (!ENGINE_DOWN.has(e.code)) return;
    const status = e.details?.status;
    // A refused key (401, 403) is no request's doing, and the probe may not use the key (vLLM's /health): down at once.
    if (isKeyRefusal(e) || (e.code !== "engine_timeout" && (e.details?.serverMessage === undefined || status === 429 || status === 503)))
      return engineIsDown(e);
    if (confirming) return;
    confirming = true;
    void probeEngine()
      .then(
        () => log.warn("engine failed one request but answers its probe: still serving", { code: e.code }),
        (pe: unknown) =>
          busyNotDead(pe)
            ? log.warn("engine failed one request and is too busy to answer its probe in time: still serving", {
                code: e.code,
                running: engineCalls.running,
              })
            : engineIsDown(e),
      )
      .finally(() => (confirming = false));
  };
  /** The engine as execute.ts sees it: timed, and failing fast while it is known to be down. */
  const engine: Engine = {
    name: o.engine.name,
    models: () => o.engine.models(),
    async generate(req: EngineRequest) {
      if (engineDown)
        throw new EngineError("engine_unavailable", "the engine is down; the agent waits for it to come back", { engine: o.engine.name });
      const t0 = performance.now();
      const end = engineCalls.begin();
      try {
        const r = await o.engine.generate(req);
        engineAnswered();
        return r;
      } catch (e) {
        engineFailed(e, req);
        throw e;
      } finally {
        end();
        metrics.engineCall((performance.now() - t0) / 1000);
      }
    },
    // ---- issue 11: the engine's streams, completions and embeddings pass through the same
    // guard (without them every job ran through generate: no token streaming, no embeddings).
    ...guardedExtras(
      o.engine,
      () => engineDown,
      engineFailed,
      (s) => metrics.engineCall(s),
      engineAnswered,
      engineCalls,
    ),
    // ---- end issue 11
  };

  // ---------------------------------------------------------------- job outcomes (metrics)
  const outcomes = new Map<
    string,
    { outcome: JobOutcome; promptTokens?: number; completionTokens?: number; earned?: bigint; code?: string }
  >();
  api.observe = (body, r, e) => {
    const key = attemptKey(body);
    if (e instanceof ApiError && e.code === "stale_attempt") outcomes.set(key, { outcome: "stale", code: "stale_attempt" });
    else if (e) outcomes.set(key, { outcome: "failed", code: codeOf(e) });
    else if (body.kind === "failed" && body.code === "cancelled") outcomes.set(key, { outcome: "cancelled", code: "cancelled" });
    else if (body.kind === "completed") {
      const u = body.receipt.body.usage;
      outcomes.set(key, {
        outcome: "completed",
        promptTokens: u.promptTokens,
        completionTokens: u.completionTokens,
        // the worker's share (cost less the operator fee); an older coordinator names only the cost
        earned: r?.duplicate ? 0n : BigInt(r?.credit ?? r?.cost ?? "0"),
      });
    } else outcomes.set(key, { outcome: "failed", code: body.code });
  };

  // ---------------------------------------------------------------- leases of long jobs
  let leaseRouteMissing = false;
  /**
   * review41: how long before a lease's end a job this worker cannot keep is let go (a job still
   * waiting for a slot is given back; one at its longest life is stopped and its result posted):
   * both must reach the coordinator before its lease check, which marks a worker whose lease ran
   * out suspect (off every candidate list until its next heartbeat) and moves the job on, refusing
   * its result after as stale. 10 s (a stopped job's prompt re-count may take 5 s, then the seal and
   * the post); a quarter of a short lease.
   */
  const leaseEndMargin = (leaseMs: number) => Math.min(10_000, leaseMs / 4);
  /**
   * Keeps a job's lease ahead of it while it runs: extends once half of the lease is left (so a
   * slow or failed call still has the other half), at most every 250 ms. A job at its longest life
   * (`extended: false`: an hour after submit) gets no more: `timeUp` is called leaseEndMargin before
   * its last lease ends, so that it stops and posts what it generated while the job is still its own.
   * Returns its release, and the time left to the lease's end less that margin (a stopped job's
   * prompt re-count may take it: ExecuteContext.recountWithinMs).
   */
  const keepLease = (job: AgentJob, lost: () => void, cancelled: () => void, timeUp: () => void) => {
    // on our clock (job.deadline and leaseUntil are on the coordinator's): minutes apart, the lease
    // was extended every 250 ms (ours ahead) or first after it ran out (ours behind: the job failed over)
    let deadline = api.localTime(job.deadline);
    const length = Math.max(1_000, deadline - now());
    /** the longest lease the coordinator gave: the margin of the stop at the job's longest life */
    let granted = length;
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const schedule = (ms?: number) => {
      if (done || leaseRouteMissing) return;
      const wait = ms ?? Math.max(250, deadline - now() - length / 2);
      timer = setTimeout(extend, wait);
      timer.unref();
    };
    const extend = async () => {
      if (done) return;
      try {
        const r = await api.request(API.extendLease, { body: { jobId: job.jobId, attempt: job.attempt } });
        if (!r.extended) {
          // The job reached its longest life: nothing more to ask. Generated on, it was failed over
          // (or refunded) at this lease's end, the worker marked suspect and its result refused as
          // stale: the GPU's work unpaid, and what a streamed requester had read of it free.
          if (done) return;
          deadline = api.localTime(r.leaseUntil);
          timer = setTimeout(timeUp, Math.max(0, deadline - now() - leaseEndMargin(granted)));
          timer.unref();
          return;
        }
        deadline = api.localTime(r.leaseUntil);
        granted = Math.max(granted, deadline - now());
        metrics.leaseExtended();
        schedule();
      } catch (e) {
        if (done) return; // the job ended while the call was out: a completed job is no longer assigned either
        if (e instanceof ApiError && e.status === 404 && e.code !== "unknown_job") {
          leaseRouteMissing = true; // an older coordinator: leases stay as they are
          log.warn("the coordinator cannot extend leases; long jobs may be failed over", { code: e.code });
        } else if (transient(e) && deadline > now()) {
          schedule(o.waits?.leaseRetryMs ?? 1_000);
        } else if (e instanceof ApiError && e.code === "stale_attempt") {
          lost(); // moved to another worker: generating on would only burn the GPU
        } else if (e instanceof ApiError && e.code === "job_cancelled") {
          cancelled(); // its requester cancelled it: as the cancel message says (which may come later, or never)
        } else {
          error("lease", e, { jobId: job.jobId });
        }
      }
    };
    schedule();
    return {
      release: () => {
        done = true;
        if (timer) clearTimeout(timer);
      },
      leftMs: () => deadline - now() - leaseEndMargin(granted),
    };
  };

  /** issue 15: may we act under the registry's current policy? (a stale reading or a delisted image: no) */
  const policyAllows = async (p: NonNullable<AgentOptions["policy"]>, tier: AttestationTier, jobId: string, model: string) => {
    try {
      const r = await p.registry.current();
      const why = policyRefusal(r, {
        tier,
        ...(p.image !== undefined ? { image: p.image } : {}),
        models: [model],
        ...(p.modelDigests ? { modelDigests: p.modelDigests } : {}),
      });
      if (why === undefined) return true;
      log.warn(`job left to its lease: ${why}`, { jobId, version: r.version });
    } catch (e) {
      log.warn("job left to its lease: no fresh reading of the policy registry", {
        jobId,
        error: e instanceof Error ? e.message : String(e),
      });
    }
    return false;
  };

  /**
   * A job that came past its lease (delivered late), or waited for a slot past it (its give-back
   * late: queue), may have been moved to another worker already, or cancelled by its requester;
   * one that waited while the loop did not poll (`unheard`: `capacity` jobs waiting) may have
   * been cancelled, its cancel still queued behind the pause. Either is asked once (a lease
   * extension) before the engine starts on it: a prompt's prefill is not free, and a cancelled job
   * started is billed.
   */
  const stillOurs = async (job: AgentJob, unheard: boolean): Promise<"ours" | "moved" | "cancelled"> => {
    const leaseLeft = api.localTime(job.deadline) > now();
    if (leaseLeft && !unheard) return "ours";
    try {
      await api.request(API.extendLease, { body: { jobId: job.jobId, attempt: job.attempt } });
      return "ours";
    } catch (e) {
      if (e instanceof ApiError && e.code === "job_cancelled") return "cancelled";
      if (e instanceof ApiError && e.code === "stale_attempt") return "moved";
      // a job unknown past its lease was moved (and its record gone); within it, nothing says it is not ours
      return e instanceof ApiError && e.code === "unknown_job" && !leaseLeft ? "moved" : "ours";
    }
  };

  /** The running jobs' cancel switches, by attempt key: a requester's cancel stops its job. */
  const cancelSwitches = new Map<string, () => void>();

  /** A job's end in the metrics: the outcome its result post left (none: "unreported"), counted once and forgotten. */
  const finishMetrics = (key: string, seconds: number) => {
    const r = outcomes.get(key) ?? { outcome: "failed" as const, code: "unreported" };
    outcomes.delete(key);
    metrics.jobFinished(r.outcome, { seconds, ...r });
    return r;
  };

  /**
   * A job cancelled before it started: not run, reported failed with code "cancelled" at once, so
   * the coordinator refunds its requester now rather than at its lease.
   */
  /** A job not run, reported failed with `code` (the coordinator ends or moves it on) and counted. */
  const reportNotRun = async (job: AgentJob, receivedAt: number, code: "cancelled" | "engine_unavailable") => {
    await api.request(API.postResult, { body: failureReport(job, code) }).catch(() => {});
    finishMetrics(attemptKey(job), Math.max(0, now() - receivedAt) / 1000);
  };
  const notRunCancelled = (job: AgentJob, receivedAt: number) => {
    log.info("job cancelled by its requester before it started: not run", { jobId: job.jobId, attempt: job.attempt });
    return reportNotRun(job, receivedAt, "cancelled");
  };

  const process1 = async (job: AgentJob, receivedAt: number, unheard = false) => {
    const key = attemptKey(job);
    const abandon = new AbortController();
    // The requester's cancel: a signal of its own, since a cancelled job, unlike a moved one, still posts its result.
    const cancel = new AbortController();
    const cancelled = () => {
      if (cancel.signal.aborted) return;
      log.info("job cancelled by its requester: stopping it", { jobId: job.jobId, attempt: job.attempt });
      cancel.abort(new EngineError("engine_aborted", "the requester cancelled the job", { engine: o.engine.name }));
    };
    cancelSwitches.set(key, cancelled);
    // review41: no more lease to be had (keepLease): stopped as a cancel stops it, so what was
    // generated is billed and posted while the job is still ours
    const timeUp = () => {
      if (cancel.signal.aborted) return;
      log.warn("job at its longest life: stopped before its last lease ends, what it generated billed", {
        jobId: job.jobId,
        attempt: job.attempt,
      });
      cancel.abort(new LongestLifeReached(o.engine.name)); // ends "length", not as a requester's cancel
    };
    const lease = keepLease(
      job,
      () => {
        outcomes.set(key, { outcome: "stale", code: "stale_attempt" });
        abandon.abort(new EngineError("engine_aborted", "the job was moved to another worker (stale_attempt)", { engine: o.engine.name }));
      },
      cancelled,
      timeUp,
    );
    const t0 = performance.now();
    metrics.queueWait((now() - receivedAt) / 1000);
    try {
      const ours = await stillOurs(job, unheard);
      if (ours === "moved") {
        outcomes.set(key, { outcome: "stale", code: "stale_attempt" });
        log.warn("job not run: its lease ran out while it waited for a slot, and it was moved", { jobId: job.jobId });
        return;
      }
      if (ours === "cancelled") cancelled(); // executeJob reports it failed "cancelled" without calling the engine
      if (o.policy && !(await policyAllows(o.policy, reg.tier as AttestationTier, job.jobId, job.envelope.header.model))) {
        outcomes.set(key, { outcome: "refused", code: "policy_refused" });
        return;
      }
      await executeJob(
        {
          api,
          workerId,
          signingKey: o.signingKey,
          kemKey: o.kemKey,
          engine,
          measurement: () => reg.measurement,
          now,
          log,
          stats,
          signal: abandon.signal,
          cancel: cancel.signal,
          recountWithinMs: lease.leftMs,
        },
        job,
      );
    } finally {
      lease.release();
      cancelSwitches.delete(key);
      const r = finishMetrics(key, (performance.now() - t0) / 1000);
      if (r.outcome !== "completed" && r.outcome !== "cancelled")
        metrics.status.lastError = { at: now(), msg: `job ${job.jobId}: ${r.code ?? r.outcome}`, code: r.code ?? r.outcome };
    }
  };

  /**
   * A requester's challenge: fresh evidence from our attester, bound to the requester's own
   * nonce (the same call as at registration, so the same keys and tier). Not counted against
   * the job capacity; the coordinator stores it for the requester, who verifies it.
   */
  const challenging = new Set<Promise<void>>();
  const answer = (c: AgentChallenge) => {
    if (api.localTime(c.expiresAt) <= now()) return; // the coordinator's clock: ours ahead dropped every challenge
    if (challenging.size >= MAX_OPEN_CHALLENGES) {
      log.warn("challenge dropped: too many open", { challengeId: c.challengeId });
      return;
    }
    const p = (async () => {
      try {
        const attestation = await o.attest(b64u.decode(c.nonce), api.serverTime());
        await api.request(API.answerChallenge, { body: { challengeId: c.challengeId, attestation } });
        stats.challenges++;
      } catch (e) {
        if (cannotAttestError(e)) attestFailed("challenge", e, { challengeId: c.challengeId });
        else error("challenge", e, { challengeId: c.challengeId });
        cannotAttestIf(e);
      }
    })().finally(() => challenging.delete(p));
    challenging.add(p);
  };

  // ---------------------------------------------------------------- housekeeping
  let lastBeat = now();
  let needRegister = false;
  const reattest = backoff(o.backoff);
  let nextRegisterTry = 0;
  /**
   * The poll loop waits here while `capacity` jobs wait, or while it cannot attest and is idle;
   * woken when one leaves the queue, when it attests again, or on stop and drain. (Made before the
   * housekeeping, which wakes it.)
   */
  let roomWaiters: Array<() => void> = [];
  const roomMade = () => {
    const w = roomWaiters;
    roomWaiters = [];
    for (const r of w) r();
  };
  /**
   * The agent cannot make evidence that passes: its attester threw a CollateralError (no Intel
   * collateral the verifier would accept, collateral_stale; or a quote it cannot read), at a
   * re-registration or a challenge, or the coordinator refused its evidence (attestationRefusal,
   * at a re-registration or a heartbeat). Until a registration with fresh evidence succeeds
   * (tried on the re-attestation backoff meanwhile, not only when the verdict is due) it
   * heartbeats offline, as for an engine that is down: off the candidate lists. Its poll loop
   * stops once no job of its own runs or waits (those dispatched before the offline beat are run,
   * as in a drain): it polled on for jobs it would not be given. A refusal has the collateral
   * fetched afresh for the next try (the copy held may be what was refused).
   *
   * Why not heartbeat on until the verdict expires: the verdict the coordinator holds may still
   * be live (bounded by the document's age, or by a collateral age bound the agent did not know),
   * but this worker answers no requester's challenge, and a requester who verifies its evidence
   * afresh finds the collateral expired; one offered it would wait out a challenge or be refused
   * rather than be given a worker that can prove itself. Where the verdict has lapsed already the
   * offline beat changes nothing. Jobs already running finish; the registration lists it again.
   */
  let cannotAttest = false;
  const cannotAttestIf = (e: unknown) => {
    if (!cannotAttestError(e) || stopped) return;
    if (attestationRefusal(e)) o.collateral?.refetch?.();
    if (cannotAttest) return;
    cannotAttest = true;
    needRegister = true;
    metrics.setState(settledState());
    log.warn("cannot attest: leaving the candidate lists until fresh evidence passes", { code: e.code });
    void api.request(API.heartbeat, { body: { load: inFlight, offline: true }, signal: beatLimit() }).catch(() => {});
  };
  /** The state once nothing transient (the API down) is the matter: what keeps the worker off the lists, if anything. */
  const settledState = () => (draining ? "draining" : engineDown ? "engine_down" : cannotAttest ? "cannot_attest" : "serving");
  const redeemEvery = o.redeem?.checkEveryMs ?? 15 * 60_000;
  let nextRedeemCheck = o.redeem ? now() + Math.min(redeemEvery, 60_000) : Infinity;
  const redeemWait = backoff({ baseMs: 30_000, capMs: 30 * 60_000, ...(o.backoff?.random ? { random: o.backoff.random } : {}) });
  let lastVoucher = -1n;
  /**
   * Renew evidence this long before it expires: two heartbeats and a minute. By the coordinator's
   * clock, which counts it out (and requesters on true time): ours behind, it was renewed minutes late.
   */
  const reattestDue = () => api.localTime(reg.attestationExpiresAt) - now() < 2 * heartbeatMs + 60_000;

  const beat = async () => {
    lastBeat = now();
    try {
      const h = await api.request(API.heartbeat, { body: { load: inFlight, offline: engineDown || cannotAttest }, signal: beatLimit() });
      reg = { ...reg, attestationExpiresAt: h.attestationExpiresAt };
    } catch (e) {
      if (e instanceof ApiError && e.code === "not_a_worker") needRegister = true; // a coordinator that lost us
      if (attestationRefusal(e)) {
        // a coordinator that refuses our verdict on a heartbeat: off the lists, re-attesting
        attestFailed("heartbeat", e);
        cannotAttestIf(e);
      } else error("heartbeat", e);
    }
  };

  const checkPayout = async () => {
    const r = o.redeem!;
    try {
      const s = await api.request(API.workerStatus);
      metrics.account(s);
      const earned = BigInt(s.earned);
      const unredeemed = earned - BigInt(s.redeemed);
      if (r.threshold > 0n && unredeemed >= r.threshold && earned > lastVoucher) {
        const out = await redeemEarnings(api, {
          ...(r.payoutAddress ? { payoutAddress: r.payoutAddress } : {}),
          timeoutMs: 60_000,
          // issue 15: with a registry, a voucher not signed by the coordinator key on chain is neither sent nor shown
          ...(o.policy ? { checkVoucher: voucherCheck(o.policy.registry) } : {}),
        });
        lastVoucher = BigInt(out.voucher.cumulative);
        metrics.account(out.status);
        metrics.redeemed({
          at: now(),
          cumulative: out.voucher.cumulative,
          paid: out.paid,
          sendYourself: out.sendYourself === true,
          ...(out.txHash ? { txHash: out.txHash } : {}),
        });
        if (out.sendYourself)
          log.info("payout voucher issued: open `link` in a TON wallet (or send `amount` nanoTON to `to` with `body`) to have it paid", {
            voucher: out.voucher,
            ...redeemMessage(out.voucher),
          });
        else
          log.info("payout redeemed", {
            // where the vault paid: the voucher's payout address (the owner's setting, or the sandbox wallet it defaulted to)
            payoutAddress: out.voucher.worker,
            paid: out.paid,
            cumulative: out.voucher.cumulative,
            ...(out.txHash ? { txHash: out.txHash } : {}),
          });
      }
      redeemWait.reset();
      nextRedeemCheck = now() + redeemEvery;
    } catch (e) {
      error("redeem", e);
      nextRedeemCheck = now() + redeemWait.next();
    }
  };

  const tick = async () => {
    if (stopped) return;
    if ((needRegister || reattestDue()) && now() >= nextRegisterTry) {
      try {
        reg = await register();
        needRegister = false;
        reattest.reset();
        lastBeat = now();
        log.info("re-registered with fresh evidence", { tier: reg.tier, attestationExpiresAt: reg.attestationExpiresAt });
        attestedAgain();
        if (cannotAttest) {
          cannotAttest = false; // the registration put the worker back on the lists
          metrics.setState(settledState());
          log.info("attesting again: back on the candidate lists");
          roomMade(); // the poll loop, parked while idle, takes jobs again
        }
      } catch (e) {
        nextRegisterTry = now() + reattest.next();
        if (cannotAttestError(e)) attestFailed("register", e);
        else error("register", e);
        cannotAttestIf(e);
      }
    }
    if (engineDown && now() >= nextProbeAt) {
      try {
        await probeEngine();
        engineDown = false;
        // back from a run of timeouts (or a refused key): its probe may answer while its jobs still
        // fail, so the next failure takes it down again at once and the probes keep backing off
        // (engineAnswered resets)
        if (timeouts < timeoutsBeforeDown && !keyRefused) probe.reset();
        nextHealthAt = now() + healthEveryMs;
        metrics.setState(settledState());
        log.info("engine back: taking jobs again");
        await beat(); // back on the candidate lists
      } catch {
        nextProbeAt = now() + probe.next();
      }
    }
    // While idle, the engine's health check (one small GET): an engine that died or hung between
    // jobs leaves the lists now, not after a paid job waited out its timeout on it.
    if (!engineDown && o.engine.health && inFlight === 0 && now() >= nextHealthAt) {
      nextHealthAt = now() + healthEveryMs;
      try {
        await o.engine.health();
      } catch (e) {
        if (inFlight === 0)
          engineIsDown(e instanceof EngineError ? e : new EngineError("engine_unavailable", messageOf(e), { engine: o.engine.name }));
      }
    }
    if (now() - lastBeat >= heartbeatMs) await beat();
    if (now() >= nextRedeemCheck) await checkPayout();
  };
  const ticking = (async () => {
    while (!stopped) {
      await tickSleep.sleep(engineDown ? Math.max(0, Math.min(tickMs, nextProbeAt - now())) : tickMs);
      if (stopped) break;
      await tick().catch((e: unknown) => error("housekeeping", e));
    }
  })();

  // ---------------------------------------------------------------- the poll loop
  const source =
    o.jobSource ??
    (await cloudJobSource(api, log, (i) =>
      metrics.error("poll", "invalid_message", `a malformed SQS message ${i.messageId ?? ""} was dropped: ${i.reason}`),
    )) ??
    createHttpJobSource(api, { onInvalid: (i) => metrics.error("poll", `invalid_${i.kind}`, "a malformed item was skipped") });
  const polls = backoff(o.backoff);
  /** A job a stopped agent will not run: given back now, so the next candidate takes it without waiting out its lease. */
  const giveBack = (job: AgentJob) =>
    api
      .request(API.postResult, { body: failureReport(job, "engine_unavailable") })
      .catch(() => {})
      .finally(() => outcomes.delete(attemptKey(job)));
  /**
   * The jobs (id#attempt) taken lately, running or done: SQS delivers a message again when its
   * delete failed, and running it twice would only burn the GPU for a result the coordinator
   * answers as a duplicate or a conflict. A move to another worker is a new attempt, so a new key.
   */
  const taken = new Set<string>();
  const remember = (key: string) => {
    taken.add(key);
    if (taken.size > RECENT_JOBS) taken.delete(taken.values().next().value!);
  };
  /**
   * Jobs taken and waiting for a slot, by attempt key, in the order they came. The loop polls on
   * while jobs run (a cancel or a challenge must reach a busy worker: at capacity 1 it came only
   * once the job had ended), but only while fewer than `capacity` wait: at most twice the
   * capacity in memory. A job that waited is asked about (stillOurs) before the engine starts it.
   */
  type Waiting = { job: AgentJob; receivedAt: number; unheard?: boolean; letGo?: NodeJS.Timeout };
  const waiting = new Map<string, Waiting>();
  /**
   * review41: a job still waiting for a slot near its lease's end (leaseEndMargin) is given back,
   * a failure report on which the coordinator moves it to its next candidate at once. Its lease
   * runs while it waits (keepLease starts with the engine), and left to run out it had the
   * coordinator's lease check mark this worker suspect: a requester paying for `capacity` jobs
   * longer than a lease and one more took a busy worker off every list. Taking fewer jobs would not
   * help: the coordinator dispatches (the lease starts then), and a job left unread on the queue
   * runs out the same way, with no chance to give it back.
   */
  const queue = (key: string, job: AgentJob, receivedAt: number) => {
    const leaseEnd = api.localTime(job.deadline);
    const w: Waiting = { job, receivedAt };
    w.letGo = setTimeout(
      () => {
        if (waiting.get(key) !== w) return;
        waiting.delete(key);
        roomMade();
        track(givenBackBusy(job, receivedAt));
      },
      Math.max(0, leaseEnd - now() - leaseEndMargin(leaseEnd - receivedAt)),
    );
    w.letGo.unref();
    waiting.set(key, w);
  };
  /** A job given back unstarted, every slot busy until its lease's end (queue): counted failed (engine_unavailable: overloaded). */
  const givenBackBusy = (job: AgentJob, receivedAt: number) => {
    log.warn("job given back: every slot stayed busy until its lease was nearly out", { jobId: job.jobId, attempt: job.attempt });
    return reportNotRun(job, receivedAt, "engine_unavailable");
  };
  /** Nothing of ours runs or waits while the worker cannot attest: no poll until it can (cannotAttest). */
  const parked = () => cannotAttest && inFlight === 0 && waiting.size === 0;
  const room = async () => {
    while ((waiting.size >= capacity || parked()) && !stopped && !draining) {
      // the loop stops polling: a cancel for a job waiting now stays queued (stillOurs asks before it starts)
      for (const w of waiting.values()) w.unheard = true;
      await new Promise<void>((r) => roomWaiters.push(r));
    }
  };
  /** Tracked until done: finish() waits for it. (A job reports its own failures; anything else is logged, never left unhandled.) */
  const track = (p: Promise<void>) => {
    const q = p.catch((e: unknown) => error("job", e)).finally(() => running.delete(q));
    running.add(q);
  };
  /** Starts waiting jobs while slots are free; a stopped agent gives them back instead. */
  const pump = () => {
    for (const [key, w] of waiting) {
      if (!stopped && (inFlight >= capacity || canaryWanted)) break;
      waiting.delete(key);
      clearTimeout(w.letGo);
      if (stopped) {
        void giveBack(w.job);
        continue;
      }
      inFlight++;
      metrics.status.inFlight = inFlight;
      track(
        process1(w.job, w.receivedAt, w.unheard).finally(() => {
          inFlight--;
          metrics.status.inFlight = inFlight;
          pump();
        }),
      );
    }
    roomMade();
  };
  /** A requester's cancel: stops the job running here, drops the one still waiting; anything else is not ours (any more). */
  const cancelJob = (c: AgentCancel) => {
    const key = attemptKey(c);
    const stop = cancelSwitches.get(key);
    if (stop) return stop();
    const w = waiting.get(key);
    if (w) {
      waiting.delete(key);
      clearTimeout(w.letGo);
      roomMade();
      return track(notRunCancelled(w.job, w.receivedAt));
    }
    if (!taken.has(key)) {
      // Not seen yet: SQS does not keep order, so a cancel can come before its job. Kept (as
      // bounded as `taken`) so that the job, if it comes, is not run.
      cancelledBefore.add(key);
      if (cancelledBefore.size > RECENT_JOBS) cancelledBefore.delete(cancelledBefore.values().next().value!);
    }
    log.info("cancel ignored: no such job here (finished, moved, never ours, or not arrived yet)", { jobId: c.jobId, attempt: c.attempt });
  };
  const cancelledBefore = new Set<string>();
  const take = async (wait: number) => {
    const { jobs, challenges, cancels } = asWorkBatch(await source.next(wait));
    const receivedAt = now();
    for (const c of challenges) answer(c);
    for (const job of jobs) {
      if (stopped) {
        void giveBack(job);
        continue;
      }
      const key = attemptKey(job);
      if (taken.has(key)) {
        log.warn("job delivered again: not run twice", { jobId: job.jobId, attempt: job.attempt });
        continue;
      }
      remember(key);
      if (cancelledBefore.delete(key)) {
        track(notRunCancelled(job, receivedAt));
        continue;
      }
      queue(key, job, receivedAt);
    }
    pump();
    // after the jobs: a cancel that came in the same batch as its job finds it
    for (const c of cancels) cancelJob(c);
    return jobs.length;
  };
  const loop = (async () => {
    while (!stopped && !draining) {
      await room();
      if (stopped || draining) break;
      try {
        await take(pollWait);
        if (polls.failures > 0) {
          log.info("API reachable again", { after: polls.failures });
          if (!engineDown) metrics.setState(settledState());
        }
        polls.reset();
      } catch (e) {
        if (stopped || draining) break;
        if (e instanceof ApiError && e.code === "not_a_worker") needRegister = true;
        metrics.setState("api_down");
        const ms = polls.next();
        error("poll", e, { retryInMs: ms });
        await pollSleep.sleep(ms);
      }
    }
  })();

  /** `draining`: the coordinator also wakes our long-poll (AgentWake), so a drain need not wait it out. */
  const announceOffline = (draining = false) =>
    api
      .request(API.heartbeat, { body: { load: inFlight, offline: true, ...(draining ? { draining: true } : {}) }, signal: beatLimit() })
      .catch(() => {});
  const finish = async () => {
    // a job that ends starts a waiting one (pump): waited for until none is left
    while (running.size + challenging.size > 0) await Promise.allSettled([...running, ...challenging]);
    stopped = true;
    tickSleep.wake();
    await ticking;
    metrics.status.inFlight = 0;
    metrics.setState("stopped");
  };

  /** The graceful drain, run once: a second drain() waits for the same end. */
  let drained: Promise<void> | undefined;
  const drainOnce = async () => {
    draining = true;
    metrics.setState("draining");
    log.info("draining: no new jobs; finishing the running ones", { inFlight });
    // Off the lists, and the poll in flight woken: it used to be waited out (up to 20 s, idle
    // included). It is never aborted: the jobs in an answer we did not read would be lost.
    await announceOffline(true);
    pollSleep.wake();
    roomMade();
    // The poll in flight may bring jobs dispatched before the announcement: run them too.
    await loop;
    // The last polls for them, long ones of 1 s (SQS answers a wait of 0 from a sample of its
    // servers only, and may say "empty" while a job waits on another), on until two in a row
    // bring no job: the wake may take a poll's only slot (one message per SQS receive), and one
    // last poll then left a job dispatched before the announcement behind, to wait out its
    // lease. Bounded: nothing new is dispatched to a worker off the lists.
    for (let polls = 0, empty = 0; polls < LAST_POLLS && empty < 2; polls++) {
      try {
        empty = (await take(o.waits?.lastPollWaitSeconds ?? 1)) > 0 ? 0 : empty + 1;
      } catch (e) {
        error("poll", e);
        empty++;
      }
    }
    await finish();
    log.info("drained: shutdown announced, every job finished", { jobs: stats.jobs, failed: stats.failed });
  };

  return {
    workerId,
    get tier() {
      return reg.tier;
    },
    get measurement() {
      return reg.measurement;
    },
    stats,
    api,
    metrics,
    async stop() {
      stopped = true;
      canaryStop.abort();
      api.halted = true;
      pollSleep.wake();
      tickSleep.wake();
      pump(); // the jobs waiting for a slot are given back, not started
      roomMade();
      // Leave the candidate lists at once; cloud heartbeats are rare, so liveness alone would take long.
      await announceOffline();
      await Promise.race([loop, new Promise((r) => setTimeout(r, 100))]);
      await finish();
    },
    drain() {
      // A second call while the first runs waits for the same end (before, it returned at once,
      // while jobs still ran); a drain after stop() has nothing left to do.
      if (stopped && !drained) return Promise.resolve();
      return (drained ??= drainOnce());
    },
  };
}

// ---- issue 11 (OpenAI drop-in)
/**
 * The optional ways an engine answers (streamed chat, text completion, embeddings), each failing
 * fast while the engine is down, marking it down on an error that says so, and timed.
 */
function guardedExtras(
  inner: Engine,
  isDown: () => boolean,
  onError: (e: unknown, req: EngineRequest | EngineCompletionRequest | EngineEmbedRequest) => void,
  timed: (seconds: number) => void,
  onAnswer: () => void,
  calls: EngineWork,
): Partial<Engine> {
  const down = () =>
    new EngineError("engine_unavailable", "the engine is down; the agent waits for it to come back", { engine: inner.name });
  const call =
    <A extends EngineCompletionRequest | EngineEmbedRequest, R>(f: (a: A) => Promise<R>) =>
    async (a: A): Promise<R> => {
      if (isDown()) throw down();
      const t0 = performance.now();
      const end = calls.begin();
      try {
        const r = await f(a);
        onAnswer();
        return r;
      } catch (e) {
        onError(e, a);
        throw e;
      } finally {
        end();
        timed((performance.now() - t0) / 1000);
      }
    };
  const stream = <A extends EngineRequest | EngineCompletionRequest, E>(f: (a: A) => AsyncIterable<E>) =>
    async function* (a: A): AsyncGenerator<E> {
      if (isDown()) throw down();
      const t0 = performance.now();
      const end = calls.begin();
      try {
        for await (const ev of f(a)) yield ev;
        onAnswer();
      } catch (e) {
        onError(e, a);
        throw e;
      } finally {
        end();
        timed((performance.now() - t0) / 1000);
      }
    };
  return {
    ...(inner.stream ? { stream: stream(inner.stream.bind(inner)) } : {}),
    ...(inner.complete ? { complete: call(inner.complete.bind(inner)) } : {}),
    ...(inner.streamCompletion ? { streamCompletion: stream(inner.streamCompletion.bind(inner)) } : {}),
    ...(inner.embed ? { embed: call(inner.embed.bind(inner)) } : {}),
    ...(inner.capabilities ? { capabilities: inner.capabilities.bind(inner) } : {}),
  };
}

/** The engine's capabilities for a model, in the registration's shape; none when the engine cannot tell (the proxy then lets the worker decide). */
async function advertisedCapabilities(engine: Engine, model: string): Promise<{ capabilities?: ModelCapabilities }> {
  if (!engine.capabilities) return {};
  try {
    const c = await engine.capabilities(model);
    return {
      capabilities: {
        chat: c.chat,
        completions: c.completions,
        embeddings: c.embeddings,
        streaming: c.streaming,
        tools: c.tools,
        jsonSchema: c.jsonSchema,
        ...(c.contextLength ? { contextLength: c.contextLength } : {}),
        ...(c.logprobs ? { logprobs: true } : {}),
        ...(c.vision ? { vision: true } : {}),
      },
    };
  } catch {
    return {};
  }
}
// ---- end issue 11

/**
 * On AWS the coordinator vends short-lived credentials for this worker's own SQS queue, and
 * the agent long-polls it directly (the cheap idle path). Networks without SQS (the local
 * default) answer sessions_unavailable: then the HTTP long-poll is the job source.
 */
async function cloudJobSource(
  api: ApiClient,
  log: AgentLog,
  onInvalid: (i: { messageId: string | undefined; reason: string }) => void,
): Promise<JobSource | undefined> {
  try {
    const { sqsJobSourceFromApi } = await import("./sources/sqs");
    // a malformed message is deleted (or never redelivered): reported, as the HTTP source reports one
    const source = await sqsJobSourceFromApi(api, { onInvalid });
    if (source) log.info("job source: SQS, long-polled directly with short-lived credentials");
    return source;
  } catch (e) {
    log.warn("SQS job source unavailable; using the HTTP long-poll", { error: (e as Error).message });
    return undefined;
  }
}
