import { z } from "zod";
import { B64u, JobId, NanoTonString, RelayChannel, WorkerId } from "./common";
import { JobView } from "./api";
import { MAX_REPLY_CHUNKS, Receipt } from "./envelope";

// Module-level schemas are built in /* @__PURE__ */ IIFEs so that bundles drop unused ones (see events/api.ts).

/**
 * The relay's wire shapes (docs/architecture.md §3, "Streaming"). A relay carries sealed
 * reply chunks from the worker to the requester while the engine generates; it can read
 * none of them, and the SDK notices any it drops, repeats, reorders, swaps or cuts short.
 */

/** A sealed chunk is at most 96 KiB of plaintext + the tag, in base64url. */
const MAX_CHUNK_B64 = 132 * 1024;

/** One sealed chunk of a reply (core/crypto/reply-stream.ts), as published on the relay. */
export const RelayChunk = /* @__PURE__ */ (() =>
  z.object({
    jobId: JobId,
    /** the job attempt (worker) whose stream this is: a failover starts a new stream */
    attempt: z.number().int().nonnegative(),
    /** position in the stream (in the chunk's AAD) */
    seq: z
      .number()
      .int()
      .nonnegative()
      .max(MAX_REPLY_CHUNKS - 1),
    /** the stream's last chunk (in the chunk's AAD) */
    final: z.boolean(),
    /** the sealed chunk, ChaCha20-Poly1305 ct || tag */
    data: B64u.max(MAX_CHUNK_B64),
    /**
     * On seq 0: the worker (its id is its Ed25519 key), its HPKE encapsulation, and its signature
     * binding that encapsulation to the job. The SDK accepts it only from a worker it encrypted to.
     */
    opener: z.object({ workerId: WorkerId, enc: B64u.max(64), sig: B64u.max(128) }).optional(),
    /** on the final chunk: the worker's signed receipt over the whole chunk sequence */
    receipt: Receipt.optional(),
    /**
     * On the final chunk over a pub/sub relay (issue 12): the bill the coordinator answered the
     * worker's result with. The agent publishes that chunk only once the coordinator took the
     * result; the SDK checks this bill against the receipt and, since session 40, against the
     * coordinator's `settlement` token, and then reads nothing more. Absent (an agent from before,
     * or the HTTP relay), not the receipt's cost, or without a valid token, the SDK reads the job.
     * Not sealed: a relay that changes it only makes the SDK read the job.
     */
    billed: NanoTonString.optional(),
    /**
     * Session 40, with `billed`: the settlement token the coordinator answered the worker's result
     * with (ResultResponse.settlement), which only the coordinator can make and only the requester
     * can check (under its SubmitResponse.settleKey). The SDK takes `billed` as the job's end only
     * when this token covers the job, the attempt of this stream, its reply and `billed`;
     * otherwise (an agent from before, a worker the job moved away from, one that never posted
     * its result) it reads the job, and reports what the ledger says.
     */
    settlement: B64u.max(64).optional(),
  }))();
export type RelayChunk = z.infer<typeof RelayChunk>;

/** POST /v1/agent/jobs/{id}/chunks: chunks of one attempt, in order (those that queued while the last post was in flight). */
export const RelayPublishRequest = /* @__PURE__ */ (() => z.object({ chunks: z.array(RelayChunk).min(1).max(64) }))();
export type RelayPublishRequest = z.infer<typeof RelayPublishRequest>;
export const RelayPublishResponse = /* @__PURE__ */ (() => z.object({ ok: z.literal(true), buffered: z.number().int().nonnegative() }))();

/** GET /v1/jobs/{id}/chunks?from=N&wait=S */
export const RelayReadQuery = /* @__PURE__ */ (() =>
  z.object({
    from: z.coerce.number().int().min(0).max(1_000_000).default(0),
    wait: z.coerce.number().int().min(0).max(60).default(0),
  }))();

/**
 * Chunks from position `from` of the job's relay log (every attempt's chunks, in arrival
 * order), `next` to ask for next, and once the job is finished (completed or refunded) its
 * view: the stored reply and receipt the SDK checks the stream against.
 */
export const RelayReadResponse = /* @__PURE__ */ (() =>
  z.object({
    chunks: z.array(RelayChunk),
    next: z.number().int().nonnegative(),
    job: JobView.optional(),
  }))();
export type RelayReadResponse = z.infer<typeof RelayReadResponse>;

/** POST /v1/agent/jobs/{id}/relay: which attempt asks (the worker must be the job's candidate at it). */
export const AgentRelaySessionRequest = /* @__PURE__ */ (() => z.object({ attempt: z.number().int().nonnegative() }))();

/**
 * POST /v1/jobs/{id}/relay (optional body): "job" (the default) asks for credentials that read
 * this job's stream only; "account" for credentials that read the streams of all the caller's
 * jobs (`<prefix>/r/<account>/+/+`), so that the SDK keeps ONE connection and subscription per
 * account across jobs instead of one per job (issue 12). The HTTP relay answers the same to both.
 */
export const RelaySessionRequest = /* @__PURE__ */ (() =>
  z
    .object({
      scope: z.enum(["job", "account"]).optional(),
      /**
       * On an account session over a relay with channels (SQS): the caller's own reader, which its
       * jobs then name at submit (SubmitRequest.relay). Made up by the SDK (random, per instance).
       */
      channel: RelayChannel.optional(),
    })
    .strict()
    .optional())();
export type RelaySessionRequest = z.infer<typeof RelaySessionRequest>;

/**
 * The session shapes (RelaySession, relaySenderName) live in ./relay-session.ts, which
 * events/api.ts imports too (AgentJob.relay) without this module, which imports api.ts.
 */
export { RelaySession, relaySenderName, sessionOnLocalClock, credentialsOnLocalClock } from "./relay-session";
