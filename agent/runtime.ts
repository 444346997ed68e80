import type { AttestationDoc } from "../events/attestation";
import type { AgentChallenge, AgentJob, ModelCapabilities } from "../events/api";
import { b64u } from "../core/crypto/encoding";
import type { KemKeyPair, SigningKeyPair } from "../core/crypto/keys";
import { API, ApiClient, ApiError } from "../api-client/api";
import type { Engine } from "./engines/engine";
import { executeJob, type AgentLog, type AgentStats } from "./execute";
import { asWorkBatch, type JobSource } from "./sources/job-source";
import { createHttpJobSource } from "./sources/http";

// The job execution lives in execute.ts; these stay importable from here.
export { failureCode, type AgentLog, type AgentStats } from "./execute";

export interface AgentOptions {
  apiUrl: string;
  signingKey: SigningKeyPair;
  kemKey: KemKeyPair;
  engine: Engine;
  models: Array<{ model: string; priceBps?: number }>;
  capacity?: number;
  /** Builds evidence binding our keys to a coordinator nonce (TDX quote, dev simulation, or none). */
  attest: (nonce: Uint8Array) => Promise<AttestationDoc>;
  jobSource?: JobSource;
  /** Override of the interval the coordinator asks for at registration. */
  heartbeatMs?: number;
  log?: AgentLog;
  now?: () => number;
}

/** Challenges answered at once at most; more are dropped (each costs a quote) and the requester times out. */
const MAX_OPEN_CHALLENGES = 8;

export interface RunningAgent {
  workerId: string;
  tier: string;
  measurement: string;
  stats: AgentStats;
  api: ApiClient;
  stop(): Promise<void>;
}

const silent: AgentLog = { info() {}, warn() {} };

/**
 * The worker agent: registers with fresh evidence, heartbeats, long-polls its jobs, opens
 * each envelope (plaintext exists only here, inside the TEE), runs the engine, seals the
 * answer to the requester's one-time key and posts it with a signed receipt. Attestation
 * challenges from requesters arrive on the same queue and are answered with `attest(nonce)`.
 */
export async function startAgent(o: AgentOptions): Promise<RunningAgent> {
  const log = o.log ?? silent;
  const now = o.now ?? Date.now;
  const api = new ApiClient(o.apiUrl, o.signingKey);
  const workerId = o.signingKey.id;
  const capacity = o.capacity ?? 1;
  const stats: AgentStats = { jobs: 0, failed: 0, promptTokens: 0, completionTokens: 0, challenges: 0 };

  const register = async () => {
    const { nonce } = await api.request(API.workerNonce);
    const attestation = await o.attest(b64u.decode(nonce));
    // ---- issue 11 (OpenAI drop-in): each model goes with what the engine can do with it, for
    // /v1/models and for cocoon serve's 400s that name the parameter a model cannot honour.
    const models = await Promise.all(o.models.map(async (m) => ({ model: m.model, priceBps: m.priceBps ?? 10_000, ...(await advertisedCapabilities(o.engine, m.model)) })));
    // ---- end issue 11
    return api.request(API.registerWorker, { body: { attestation, models, capacity } });
  };
  let reg = await register();
  log.info("registered", { workerId, tier: reg.tier, models: o.models.map((m) => m.model) });

  const heartbeatMs = o.heartbeatMs ?? reg.heartbeatSeconds * 1000;
  let stopped = false;
  let inFlight = 0;
  const running = new Set<Promise<void>>();

  const beat = async () => {
    try {
      // Re-attest before the evidence expires, so we never drop out of candidate lists.
      if (reg.attestationExpiresAt - now() < 2 * heartbeatMs + 60_000) reg = await register();
      await api.request(API.heartbeat, { body: { load: inFlight } });
    } catch (e) {
      log.warn("heartbeat failed", { error: (e as Error).message });
    }
  };
  const timer = setInterval(beat, heartbeatMs);
  timer.unref();

  const process1 = (job: AgentJob) =>
    executeJob({ api, workerId, signingKey: o.signingKey, kemKey: o.kemKey, engine: o.engine, measurement: () => reg.measurement, now, log, stats }, job);

  /**
   * A requester's challenge: fresh evidence from our attester, bound to the requester's own
   * nonce (the same call as at registration, so the same keys and tier). Not counted against
   * the job capacity; the coordinator stores it for the requester, who verifies it.
   */
  const challenging = new Set<Promise<void>>();
  const answer = (c: AgentChallenge) => {
    if (c.expiresAt <= now()) return;
    if (challenging.size >= MAX_OPEN_CHALLENGES) {
      log.warn("challenge dropped: too many open", { challengeId: c.challengeId });
      return;
    }
    const p = (async () => {
      try {
        const attestation = await o.attest(b64u.decode(c.nonce));
        await api.request(API.answerChallenge, { body: { challengeId: c.challengeId, attestation } });
        stats.challenges++;
      } catch (e) {
        const reason = e instanceof ApiError ? `${e.code}: ${e.message}` : (e as Error).message;
        log.warn("challenge not answered", { challengeId: c.challengeId, reason });
      }
    })().finally(() => challenging.delete(p));
    challenging.add(p);
  };

  const source = o.jobSource ?? (await cloudJobSource(api, log)) ?? createHttpJobSource(api);
  const loop = (async () => {
    while (!stopped) {
      try {
        const { jobs, challenges } = asWorkBatch(await source.next(stopped ? 0 : 20));
        for (const c of challenges) answer(c);
        for (const job of jobs) {
          inFlight++;
          const p = process1(job).finally(() => {
            inFlight--;
            running.delete(p);
          });
          running.add(p);
          while (inFlight >= capacity && !stopped) await Promise.race(running);
        }
      } catch (e) {
        if (stopped) break;
        log.warn("poll failed; retrying", { error: (e as Error).message });
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  })();

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
    async stop() {
      stopped = true;
      clearInterval(timer);
      // Leave the candidate lists at once; cloud heartbeats are rare, so liveness alone would take long.
      await api.request(API.heartbeat, { body: { load: 0, offline: true } }).catch(() => {});
      await Promise.race([loop, new Promise((r) => setTimeout(r, 100))]);
      await Promise.allSettled([...running, ...challenging]);
    },
  };
}

// ---- issue 11 (OpenAI drop-in)
/** The engine's capabilities for a model, in the registration's shape; none when the engine cannot tell (the proxy then lets the worker decide). */
async function advertisedCapabilities(engine: Engine, model: string): Promise<{ capabilities?: ModelCapabilities }> {
  if (!engine.capabilities) return {};
  try {
    const c = await engine.capabilities(model);
    return { capabilities: { chat: c.chat, completions: c.completions, embeddings: c.embeddings, streaming: c.streaming, tools: c.tools, jsonSchema: c.jsonSchema, ...(c.contextLength ? { contextLength: c.contextLength } : {}) } };
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
async function cloudJobSource(api: ApiClient, log: AgentLog): Promise<JobSource | undefined> {
  try {
    const { sqsJobSourceFromApi } = await import("./sources/sqs");
    const source = await sqsJobSourceFromApi(api);
    if (source) log.info("job source: SQS, long-polled directly with short-lived credentials");
    return source;
  } catch (e) {
    log.warn("SQS job source unavailable; using the HTTP long-poll", { error: (e as Error).message });
    return undefined;
  }
}
