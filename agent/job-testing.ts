/** Test factories shared by the agent's suites. */
import { openRequestBound, replyProof, requestHash, requestTag, sealRequestBound } from "../core/crypto/envelope";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey, type KemKeyPair, type SigningKeyPair } from "../core/crypto/keys";
import { API, type ApiClient } from "../api-client/api";
import type { ApiRoute } from "../api-client/routes";
import type { AgentJob, ResultRequest } from "../events/api";
import type { EnvelopeHeader, RequestEnvelope } from "../events/envelope";
import { MODEL } from "../test/helpers";
import type { ReplyBinding } from "../client/reply";
import { bindingOf } from "../client/reply-testing";
import { EngineError, type Engine, type EngineRequest, type EngineResult, type EngineStreamEvent } from "./engines/engine";
import { executeJob, type AgentStats, type ExecuteContext } from "./execute";

let seq = 0;
/**
 * A fresh job sealed to `kem` for worker `workerId`, attempt 0, its lease ending `leaseMs` from now:
 * a one-message chat unless `plaintext` gives another request (a completion, embeddings, tools).
 */
export function sealedJob(
  workerId: string,
  kem: { publicKey: Uint8Array },
  leaseMs = 30_000,
  plaintext: Record<string, unknown> = { messages: [{ role: "user", content: "x" }] },
): AgentJob {
  return openableJob(workerId, kem, leaseMs, plaintext).job;
}

/** sealedJob's job with what its requester needs to open the answer: the header, the reply key and the reply's binding (its proof required). */
export function openableJob(
  workerId: string,
  kem: { publicKey: Uint8Array },
  leaseMs = 30_000,
  plaintext: Record<string, unknown> = { messages: [{ role: "user", content: "x" }] },
  header: Partial<EnvelopeHeader> = {},
): { job: AgentJob; header: EnvelopeHeader; replyKey: KemKeyPair; binding: ReplyBinding } {
  const jobId = `job_${String(++seq).padStart(26, "0")}`;
  const replyKey = generateKemKey();
  const h: EnvelopeHeader = {
    v: 1,
    jobId,
    requester: generateSigningKey().id,
    model: MODEL,
    maxTokens: 16,
    maxPromptTokens: 100,
    maxCost: "1000",
    replyKey: b64u.encode(replyKey.publicKey),
    ...header,
  };
  const sealed = sealRequestBound({
    header: h,
    plaintext: new TextEncoder().encode(JSON.stringify(plaintext)),
    recipients: [{ workerId, hpkePublicKey: kem.publicKey }],
  });
  const job = { jobId, attempt: 0, envelope: sealed.envelope, deadline: Date.now() + leaseMs };
  return { job, header: h, replyKey, binding: bindingOf(sealed) };
}

/**
 * An engine that streams one token ("t0 ", "t1 ", …) every `everyMs` until `maxTokens` or the
 * request's signal (then it fails as engines do: engine_aborted), a job kept generating while a
 * test cancels it. Its generate (what the agent asks to count a prompt) answers `promptTokens`,
 * or fails with `askFails`. It records its streams' requests, the tokens it generated, whether
 * each stream was left (`closed`), and its generate calls (`asks`).
 */
export function slowEngine(o: { everyMs?: number; promptTokens?: number; askFails?: boolean } = {}) {
  const everyMs = o.everyMs ?? 10;
  const promptTokens = o.promptTokens ?? 7;
  const engine: Engine & { streams: EngineRequest[]; asks: EngineRequest[]; generated: number; closed: number } = {
    name: "slow",
    streams: [],
    asks: [],
    generated: 0,
    closed: 0,
    models: async () => [MODEL],
    async generate(req) {
      engine.asks.push(req);
      if (o.askFails) throw new EngineError("engine_unavailable", "the engine is busy", { engine: "slow" });
      return { text: "t", usage: { promptTokens, completionTokens: 1 }, finishReason: "length", engine: "slow" };
    },
    async *stream(req): AsyncGenerator<EngineStreamEvent> {
      engine.streams.push(req);
      let text = "";
      try {
        for (let k = 0; k < req.maxTokens; k++) {
          await sleepOrAbort(everyMs, req.signal);
          const t = `t${k} `;
          engine.generated++;
          text += t;
          yield { type: "delta", text: t };
        }
        yield {
          type: "done",
          result: { text, usage: { promptTokens, completionTokens: req.maxTokens }, finishReason: "length", engine: "slow" },
        };
      } finally {
        engine.closed++;
      }
    },
  };
  return engine;
}

/** Waits `ms`, or fails with engine_aborted as soon as `signal` fires. */
function sleepOrAbort(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = () => new EngineError("engine_aborted", "generation aborted by the caller", { engine: "slow" });
    if (signal?.aborted) return reject(aborted());
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(aborted());
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * An engine that holds every generation until `open()` (a job kept running while a test acts),
 * then answers `result`; `calls` records the requests. A suite opens it in its cleanup, so no
 * job is left waiting.
 */
export function gatedEngine(
  result: EngineResult = { text: "ok", usage: { promptTokens: 3, completionTokens: 1 }, finishReason: "stop", engine: "gated" },
) {
  let open = false;
  const waiting: Array<() => void> = [];
  const calls: EngineRequest[] = [];
  const engine: Engine & { calls: EngineRequest[]; open(): void } = {
    name: "gated",
    calls,
    models: async () => [MODEL],
    async generate(req) {
      calls.push(req);
      if (!open) await new Promise<void>((r) => waiting.push(r));
      return result;
    },
    open() {
      open = true;
      for (const w of waiting.splice(0)) w();
    },
  };
  return engine;
}

/** Factory: the coordinator as the agent sees it, recording every result it is sent. */
export function recordingApi() {
  const results: ResultRequest[] = [];
  const api = {
    async request(route: ApiRoute, opts: { body?: unknown } = {}) {
      if (route !== API.postResult) throw new Error(`unexpected route ${route.path}`);
      results.push(opts.body as ResultRequest);
      return { status: "completed", duplicate: false, cost: "1" };
    },
    /** the coordinator's clock is this process's */
    localTime: (serverMs: number) => serverMs,
  };
  return { api: api as unknown as ApiClient, results };
}

/**
 * A reply's chunk plaintexts as the tests compare them: chunk 0 must name the envelope the worker
 * opened (ChunkPlaintext.req, session 31) and carry the worker's reply proof for it
 * (ChunkPlaintext.proof, session 39), and no later chunk may carry either; returned without them.
 */
export function namingRequest<C extends Record<string, unknown>>(
  chunks: C[],
  envelope: RequestEnvelope,
  worker: { workerId: string; kem: KemKeyPair },
): Array<Omit<C, "req" | "proof">> {
  const hash = requestHash(envelope);
  const want = { req: requestTag(hash), proof: replyProof(openRequestBound(envelope, worker).proofKey, hash) };
  return chunks.map((c, i) => {
    const { req, proof, ...rest } = c;
    if (i === 0 ? req !== want.req || proof !== want.proof : req !== undefined || proof !== undefined)
      throw new Error(
        `chunk ${i} names request ${String(req)} with proof ${String(proof)}; ${i === 0 ? `expected ${want.req} with ${want.proof}` : "only chunk 0 carries them"}`,
      );
    return rest;
  });
}

/** An agent's counters before its first job. */
export const freshStats = (): AgentStats => ({ jobs: 0, failed: 0, promptTokens: 0, completionTokens: 0, challenges: 0 });

/**
 * executeJob's context as the tests give it: `worker`'s keys (its id the signing key's), a fixed
 * measurement, the real clock, a silent log and fresh counters; `o` replaces any of them.
 */
export function executeContext(
  worker: { signingKey: SigningKeyPair; kemKey: KemKeyPair },
  api: ApiClient,
  engine: Engine,
  o: Partial<ExecuteContext> = {},
): ExecuteContext {
  return {
    api,
    workerId: worker.signingKey.id,
    signingKey: worker.signingKey,
    kemKey: worker.kemKey,
    engine,
    measurement: () => "m".repeat(64),
    now: Date.now,
    log: { info() {}, warn() {} },
    stats: freshStats(),
    ...o,
  };
}

/**
 * One job through executeJob on a real `engine`, as the agent runs it: `plaintext` sealed under a
 * header for `model` and `maxTokens`, its result posted to a recording API. What it posted
 * ("completed", or "failed: <code>") and the agent's stats after it.
 */
export async function runJobOn(engine: Engine, model: string, maxTokens: number, plaintext: Record<string, unknown>) {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const { job } = openableJob(signingKey.id, kemKey, 60_000, plaintext, { model, maxTokens, maxPromptTokens: 256, maxCost: "1000000" });
  const { api, results } = recordingApi();
  const stats = freshStats();
  await executeJob(executeContext({ signingKey, kemKey }, api, engine, { now: () => Date.now(), stats }), job);
  return { posted: results.map((r) => (r.kind === "failed" ? `failed: ${r.code}` : r.kind)), stats };
}
