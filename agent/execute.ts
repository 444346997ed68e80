import { RequestPlaintext, type ReplyEnvelope, type ReplyPlaintext } from "../events/envelope";
import type { AgentJob, FailureCode, FailurePlaintext, ResultRequest } from "../events/api";
import type { KemKeyPair, SigningKeyPair } from "../core/crypto/keys";
import { openRequest, replyHash, requestHash, sealReply } from "../core/crypto/envelope";
import { signReceipt } from "../core/crypto/receipt";
import { API, ApiClient, ApiError } from "../api-client/api";
import { EngineError, type Engine } from "./engines/engine";

/** What the agent's log must offer; the host can read it, so nothing sealed goes in. */
export interface AgentLog {
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
}

export interface AgentStats {
  jobs: number;
  failed: number;
  promptTokens: number;
  completionTokens: number;
  /** attestation challenges answered with fresh evidence */
  challenges: number;
}

/** A failure of our own making, with the code the coordinator gets. */
export class JobFailure extends Error {
  constructor(
    readonly code: FailureCode,
    message: string,
  ) {
    super(message);
  }
}

/** The code reported for a failed job; never its text. */
export function failureCode(e: unknown): FailureCode {
  if (e instanceof JobFailure) return e.code;
  if (e instanceof ApiError) return "result_refused";
  if (e instanceof EngineError) {
    switch (e.code) {
      case "engine_unavailable":
      case "engine_timeout":
      case "engine_aborted":
        return "engine_unavailable";
      case "engine_rejected":
      case "invalid_request":
        return "engine_rejected";
      case "model_not_served":
        return "model_not_served";
      default:
        return "engine_error";
    }
  }
  return "internal_error";
}

/** Everything one job's execution needs from the agent around it (the loop lives in runtime.ts). */
export interface ExecuteContext {
  api: ApiClient;
  workerId: string;
  signingKey: SigningKeyPair;
  kemKey: KemKeyPair;
  engine: Engine;
  /** the measurement the coordinator registered for us (it changes on re-registration) */
  measurement: () => string;
  now: () => number;
  log: AgentLog;
  stats: AgentStats;
}

/**
 * One job: open the envelope (plaintext exists only here, inside the TEE), run the engine,
 * seal the answer to the requester's one-time key and post it with a signed receipt; on any
 * failure post a code to the coordinator and the text sealed to the requester.
 */
export async function executeJob(ctx: ExecuteContext, job: AgentJob): Promise<void> {
  const { api, workerId, stats, log } = ctx;
  const header = job.envelope.header;
  try {
    let plain: RequestPlaintext;
    try {
      plain = RequestPlaintext.parse(JSON.parse(new TextDecoder().decode(openRequest(job.envelope, { workerId, kem: ctx.kemKey }))));
    } catch (e) {
      throw new JobFailure("bad_request", (e as Error).message);
    }
    const r = await ctx.engine
      .generate({ model: header.model, messages: plain.messages, maxTokens: header.maxTokens, ...(plain.temperature !== undefined ? { temperature: plain.temperature } : {}) })
      .catch((e: unknown) => Promise.reject(e instanceof EngineError ? e : new JobFailure("engine_error", e instanceof Error ? e.message : String(e))));
    if (r.usage.promptTokens > header.maxPromptTokens || r.usage.completionTokens > header.maxTokens) {
      throw new JobFailure("limits_exceeded", `engine usage ${r.usage.promptTokens}+${r.usage.completionTokens} exceeds the job's limits`);
    }
    const answer: ReplyPlaintext = { text: r.text, usage: r.usage, engine: r.engine, finishReason: r.finishReason };
    const reply = sealReply(header, workerId, new TextEncoder().encode(JSON.stringify(answer)));
    const receipt = signReceipt(
      {
        v: 1,
        jobId: job.jobId,
        workerId,
        model: header.model,
        requestHash: requestHash(job.envelope),
        replyHash: replyHash(reply),
        usage: r.usage,
        measurement: ctx.measurement(),
        finishedAt: ctx.now(),
      },
      ctx.signingKey,
    );
    await api.request(API.postResult, { body: { kind: "completed", jobId: job.jobId, attempt: job.attempt, reply, receipt } });
    stats.jobs++;
    stats.promptTokens += r.usage.promptTokens;
    stats.completionTokens += r.usage.completionTokens;
  } catch (e) {
    stats.failed++;
    if (e instanceof ApiError && e.code === "stale_attempt") {
      log.warn("job failed", { jobId: job.jobId, code: "stale_attempt" });
      return;
    }
    // The coordinator (and this log, which the host can read) get a code only: an engine's
    // error text can echo the prompt (issue 9 #12). The text goes sealed to the requester.
    const code = failureCode(e);
    log.warn("job failed", { jobId: job.jobId, code, ...(e instanceof ApiError ? { api: e.code } : {}) });
    const text: FailurePlaintext = { error: { code, message: ((e as Error)?.message ?? String(e)).slice(0, 2000) } };
    let reply: ReplyEnvelope | undefined;
    try {
      reply = sealReply(header, workerId, new TextEncoder().encode(JSON.stringify(text)));
    } catch {
      reply = undefined; // no usable reply key: the code alone goes back
    }
    const report: ResultRequest = { kind: "failed", jobId: job.jobId, attempt: job.attempt, code, ...(reply ? { reply } : {}) };
    await api.request(API.postResult, { body: report }).catch(() => {});
  }
}
