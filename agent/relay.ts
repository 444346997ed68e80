/**
 * The agent's side of the relay (docs/architecture.md §3, "Streaming"): publishes a job's
 * sealed chunks, in order, without ever holding up generation. Chunks queue while a post is
 * in flight and go out together in the next one. A failure stops streaming for that job
 * (never a gap the requester would have to reject): the result still carries every chunk.
 */
import type { RelayChunk, RelaySession } from "../events/relay";
import { sessionOnLocalClock } from "../events/relay-session";
import { API, ApiError, type ApiClient } from "../api-client/api";
import type { AgentLog } from "./execute";
import { createIotRelayPublisher } from "./relay-iot";
import { createSqsRelayPublisher } from "./relay-sqs";

/** A pub/sub relay's session: anything but the coordinator's own HTTP relay. */
export type PubSubSession = Exclude<RelaySession, { transport: "http" }>;

/**
 * Publishes to a pub/sub relay with job-scoped credentials (default: by the session's transport,
 * Amazon SQS (agent/relay-sqs.ts) or AWS IoT Core over HTTPS (agent/relay-iot.ts)).
 */
export type ExternalRelayPublisher = (session: PubSubSession, chunks: RelayChunk[]) => Promise<void>;

export interface RelayPublisher {
  /** Queues a chunk; returns at once. */
  publish(chunk: RelayChunk): void;
  /** Resolves when every queued chunk was posted (or streaming stopped). */
  flush(): Promise<void>;
  /** chunks that reached the relay */
  readonly published: number;
  /** relay messages (posts) sent */
  readonly messages: number;
  /** streaming stopped for this job (a relay error); the result still carries the whole reply */
  readonly stopped: boolean;
  /** Whether this job's relay is a pub/sub one (SQS, AWS IoT Core), which keeps nothing for the coordinator to serve. */
  pubsub(): Promise<boolean>;
}

/** IoT Core's publisher per coordinator client: its signatures dated by AWS's time, which the coordinator's follows (as the client learnt it). */
const iotPublishers = new WeakMap<ApiClient, ExternalRelayPublisher>();
let defaultSqs: ExternalRelayPublisher | undefined;
/** The built-in publisher for a session's transport, made on first use (the AWS SDK's SQS client corrects its own clock). */
const builtinPublisher = (s: PubSubSession, api: ApiClient): ExternalRelayPublisher => {
  if (s.transport === "sqs") return (defaultSqs ??= createSqsRelayPublisher());
  let iot = iotPublishers.get(api);
  if (!iot) iotPublishers.set(api, (iot = createIotRelayPublisher({ now: () => new Date(api.serverTime()) })));
  return iot;
};

/** Transports already learned per coordinator client: "http" never changes for a coordinator, so it is asked once. */
const knownHttp = new WeakSet<ApiClient>();

const MAX_PER_POST = 64;

/** A dispatched session is used only while its credentials have this long left (a post may take a while to land). */
export const DISPATCHED_SESSION_MARGIN_MS = 60_000;

/**
 * The relay refused the credentials (expired, revoked, not allowed): worth asking the coordinator
 * for fresh ones, unlike a refusal of the chunks themselves. AWS SDK errors by name or HTTP status,
 * the built-in publishers' own expiry check and HTTP status (agent/relay-sqs.ts, relay-iot.ts).
 */
export function isAuthRefusal(e: unknown): boolean {
  if (!e || typeof e !== "object") return false;
  const x = e as { name?: unknown; Code?: unknown; message?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const status = x.$metadata?.httpStatusCode;
  if (status === 401 || status === 403) return true;
  const name = `${typeof x.name === "string" ? x.name : ""} ${typeof x.Code === "string" ? x.Code : ""}`;
  if (
    /AccessDenied|ExpiredToken|InvalidClientTokenId|InvalidSecurity|SignatureDoesNotMatch|UnrecognizedClient|InvalidToken|Unauthori[sz]ed|Forbidden/i.test(
      name,
    )
  )
    return true;
  return typeof x.message === "string" && /credentials expired|HTTP 40[13]\b/.test(x.message);
}

export function createRelayPublisher(o: {
  api: ApiClient;
  jobId: string;
  attempt: number;
  log: AgentLog;
  external?: ExternalRelayPublisher;
  /**
   * The session that came with the job (AgentJob.relay, issue 12): used while its credentials have
   * DISPATCHED_SESSION_MARGIN_MS left, so the agent asks the coordinator nothing for this job.
   * Absent, expiring, or refused by the relay: POST /v1/agent/jobs/{id}/relay, as before.
   */
  dispatched?: RelaySession;
  now?: () => number;
}): RelayPublisher {
  const now = o.now ?? Date.now;
  const queue: RelayChunk[] = [];
  let published = 0;
  let messages = 0;
  let stopped = false;
  let running: Promise<void> | undefined;
  let session: Promise<RelaySession | undefined> | undefined;
  // the credentials' expiry on our clock: STS stamps it by AWS's, which the coordinator's follows
  const onOurClock = (s: RelaySession) => sessionOnLocalClock(s, (t) => o.api.localTime(t));
  let dispatched = o.dispatched && onOurClock(o.dispatched);

  /** The dispatched session while it may still be used; forgotten (for good) once it may not. */
  const usableDispatched = (): RelaySession | undefined => {
    if (dispatched?.transport === "http") return dispatched;
    if (dispatched && dispatched.credentials.expiration - now() > DISPATCHED_SESSION_MARGIN_MS) return dispatched;
    dispatched = undefined;
    return undefined;
  };

  const resolveSession = (): Promise<RelaySession | undefined> => {
    const d = usableDispatched();
    if (d) return Promise.resolve(d);
    if (knownHttp.has(o.api)) return Promise.resolve({ transport: "http" });
    session ??= o.api
      .request(API.agentRelaySession, { params: { id: o.jobId }, body: { attempt: o.attempt } })
      .then((s) => {
        if (s.transport === "http") knownHttp.add(o.api);
        return onOurClock(s);
      })
      .catch((e: unknown) => {
        o.log.warn("relay unavailable; answering without streaming", { jobId: o.jobId, code: e instanceof ApiError ? e.code : "error" });
        return undefined;
      });
    return session;
  };
  // Ask at once (unless the job brought a session), while the engine starts: the first token should not wait for it.
  void resolveSession();

  const post = async (s: RelaySession, batch: RelayChunk[]) => {
    if (s.transport === "http") await o.api.request(API.publishChunks, { params: { id: o.jobId }, body: { chunks: batch } });
    else await (o.external ?? builtinPublisher(s, o.api))(s, batch);
  };

  const drain = async () => {
    while (queue.length > 0 && !stopped) {
      const s = await resolveSession();
      if (!s) return stop();
      const batch = queue.splice(0, MAX_PER_POST);
      try {
        try {
          await post(s, batch);
        } catch (e) {
          // The dispatched credentials were refused: the coordinator's own, asked now, get one more go
          // at the same batch (a repeat of a chunk that did land is dropped by the SDK).
          // (An HTTP session carries no credentials: the coordinator's own refusal is no relay's.)
          if (s !== dispatched || s.transport === "http" || !isAuthRefusal(e)) throw e;
          dispatched = undefined;
          o.log.warn("relay refused the dispatched session; asking the coordinator for one", { jobId: o.jobId });
          const again = await resolveSession();
          if (!again) return stop();
          await post(again, batch);
        }
        published += batch.length;
        messages++;
      } catch (e) {
        // Stop rather than skip: a later chunk after a lost one would be a gap the SDK must refuse.
        o.log.warn("relay publish failed; streaming stops for this job", {
          jobId: o.jobId,
          code: e instanceof ApiError ? e.code : "error",
        });
        return stop();
      }
    }
  };
  const stop = () => {
    stopped = true;
    queue.length = 0;
  };

  const kick = () => {
    running ??= drain().finally(() => {
      running = undefined;
      // A chunk queued between the loop's last check and now starts the next round.
      if (queue.length > 0 && !stopped) kick();
    });
  };

  return {
    publish(chunk) {
      if (stopped) return;
      queue.push(chunk);
      kick();
    },
    async flush() {
      while (running) await running;
    },
    get published() {
      return published;
    },
    get messages() {
      return messages;
    },
    get stopped() {
      return stopped;
    },
    async pubsub() {
      const t = (await resolveSession())?.transport;
      return t !== undefined && t !== "http";
    },
  };
}
