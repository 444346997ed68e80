/**
 * The agent's SQS job source: long-polls the worker's own queue directly with short-lived
 * credentials from POST /v1/agents/session (scoped by a session policy to that one queue).
 * An idle agent costs one SQS request per 20 s wait: 4,320 requests a day.
 *
 * Each message body is a DispatchMessage (= AgentJob), an AgentChallenge (`kind: "challenge"`:
 * a requester asks for fresh evidence) or an AgentCancel (`kind: "cancel"`: a requester stops a
 * job it gave this worker), validated with zod. From receipt
 * on, the coordinator's lease check, not SQS redelivery, decides what happens when the agent
 * dies mid-job, so a received message must never come back. Worker queues are made so that it
 * cannot (issue 12: functions/adapters/sqs-queues.ts, a visibility timeout longer than the
 * retention: a received message stays invisible until SQS drops it), and then the agent deletes
 * nothing: one SQS request a job fewer. It reads the queue's two attributes once to know; a
 * queue made otherwise (an older deploy), or attributes it cannot read, get one
 * DeleteMessageBatch right after each receipt as before. So do messages past an in-flight budget
 * (received, not deleted, not yet dropped: SQS stops a queue's receives at 120,000), and
 * malformed messages are reported to onInvalid either way.
 */
import type { z } from "zod";
import type { AgentSessionResponse } from "../../events/api";
import {
  SQSClient,
  ReceiveMessageCommand,
  DeleteMessageBatchCommand,
  ChangeMessageVisibilityCommand,
  GetQueueAttributesCommand,
  type Message,
} from "@aws-sdk/client-sqs";
import { DispatchMessage } from "../../events/queue";
import { AgentCancel, AgentChallenge, AgentWake, type AgentJob } from "../../events/api";

const IsChallenge = AgentChallenge.pick({ kind: true });
const IsCancel = AgentCancel.pick({ kind: true });
const IsWake = AgentWake.pick({ kind: true });
import { POLL_GRACE_MS, type JobSource, type WorkBatch } from "./job-source";
import { API, ApiError, type ApiClient } from "../../api-client/api";
import { credentialsOnLocalClock } from "../../events/relay-session";

export interface AgentCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  /** When they stop working: ms since epoch or a Date. */
  expiration: number | Date;
}

export interface SqsJobSourceOptions {
  queueUrl: string;
  region: string;
  /** Fetches fresh credentials (POST /v1/agents/session); called again shortly before expiry. */
  credentials: () => Promise<AgentCredentials>;
  /** Most jobs taken per receive (1–10): the agent's free capacity. */
  maxJobs?: number;
  /** Refresh this long before the credentials expire (default 5 minutes). */
  refreshBeforeMs?: number;
  now?: () => number;
  /** Called with each message that is not a valid DispatchMessage, AgentChallenge or AgentCancel (it was deleted). */
  onInvalid?: (info: { messageId: string | undefined; reason: string }) => void;
  /** Ends a long-poll early (agent shutdown). */
  signal?: AbortSignal;
  /** Injected for tests; built from region + credentials otherwise. */
  client?: SQSClient;
  /** Most messages left undeleted within one retention period before deleting again (default 60,000: half SQS's in-flight cap). */
  inFlightBudget?: number;
  /** How long past its wait a receive may go unanswered (default POLL_GRACE_MS); shorter in tests, which would wait the 10 s otherwise. */
  pollGraceMs?: number;
}

export class SqsSourceError extends Error {
  override readonly name = "SqsSourceError";
  constructor(
    readonly code: "SQS_CREDENTIALS_REJECTED",
    message: string,
  ) {
    super(message);
  }
}

const AUTH_ERRORS = new Set([
  "ExpiredToken",
  "ExpiredTokenException",
  "InvalidClientTokenId",
  "UnrecognizedClientException",
  "InvalidSecurity",
  "AccessDenied",
  "AccessDeniedException",
]);
const errName = (e: unknown) => (e && typeof e === "object" && "name" in e ? String((e as { name: unknown }).name) : "");

/**
 * Caches the credentials and fetches new ones `refreshBeforeMs` before they expire, so a
 * receive never starts with credentials that could die during its 20 s wait.
 */
export function refreshingCredentials(fetch: () => Promise<AgentCredentials>, opts: { refreshBeforeMs?: number; now?: () => number } = {}) {
  const early = opts.refreshBeforeMs ?? 5 * 60_000;
  const now = opts.now ?? Date.now;
  let current: { creds: AgentCredentials; expiresAt: number } | undefined;
  let pending: Promise<AgentCredentials> | undefined;
  const provider = async () => {
    if (current && now() < current.expiresAt - early) return current.creds;
    pending ??= fetch()
      .then((creds) => {
        current = { creds, expiresAt: creds.expiration instanceof Date ? creds.expiration.getTime() : creds.expiration };
        return creds;
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };
  return {
    /** An AWS SDK credential provider. */
    provider: async () => {
      const c = await provider();
      return {
        accessKeyId: c.accessKeyId,
        secretAccessKey: c.secretAccessKey,
        sessionToken: c.sessionToken,
        expiration: new Date(current!.expiresAt),
      };
    },
    /** Forget the cached credentials (after the service rejected them). */
    invalidate: () => {
      current = undefined;
    },
  };
}

export interface SqsJobSource extends JobSource {
  next(waitSeconds: number): Promise<WorkBatch>;
  /** For jobs that outlive the queue's visibility timeout before they are deleted (not needed with delete-on-receipt). */
  extendVisibility(receiptHandle: string, seconds: number): Promise<void>;
}

/** How long after a failed read of the queue's attributes the source asks again. */
export const ATTRIBUTES_RETRY_MS = 5 * 60_000;

export function createSqsJobSource(o: SqsJobSourceOptions): SqsJobSource {
  const creds = refreshingCredentials(o.credentials, { refreshBeforeMs: o.refreshBeforeMs, now: o.now });
  // The SDK caches the provider's identity until shortly before `expiration`; after a rejection
  // a new client is built so that it asks the provider again.
  const make = () => o.client ?? new SQSClient({ region: o.region, credentials: creds.provider, maxAttempts: 3 });
  let client = make();
  // NaN (a setting that did not parse) is 1, as unset is: SQS refuses a NaN count.
  const max = Math.min(10, Math.max(1, Math.floor(o.maxJobs ?? 1) || 1));
  const send = <T>(fn: () => Promise<T>): Promise<T> =>
    fn().catch(async (e) => {
      if (!AUTH_ERRORS.has(errName(e))) throw e;
      // Credentials revoked or expired early: fetch new ones once, then give up loudly.
      creds.invalidate();
      await creds.provider();
      client = make();
      return fn().catch((e2) => {
        if (AUTH_ERRORS.has(errName(e2))) {
          throw new SqsSourceError(
            "SQS_CREDENTIALS_REJECTED",
            `SQS refused the agent session credentials (${errName(e2)}); fall back to the HTTP job source and check the worker's registration`,
          );
        }
        throw e2;
      });
    });

  const now = o.now ?? Date.now;
  // Whether a received message can never come back (visibility ≥ retention), read once; and
  // how many went undeleted when, so their count within a retention period stays in budget.
  // A failed read (throttled at start, say) means delete-on-receipt until it is read again, at
  // most once per ATTRIBUTES_RETRY_MS: not for the agent's whole life.
  let retention: Promise<number | undefined> | undefined;
  let unreadUntil = -Infinity;
  const undeletable = (): Promise<number | undefined> => {
    if (retention === undefined && now() >= unreadUntil) {
      retention = send(async () =>
        client.send(
          new GetQueueAttributesCommand({ QueueUrl: o.queueUrl, AttributeNames: ["VisibilityTimeout", "MessageRetentionPeriod"] }),
        ),
      ).then(
        (r) => {
          const vis = Number(r?.Attributes?.VisibilityTimeout);
          const keep = Number(r?.Attributes?.MessageRetentionPeriod);
          return Number.isFinite(vis) && Number.isFinite(keep) && keep > 0 && vis >= keep ? keep : undefined;
        },
        () => {
          retention = undefined;
          unreadUntil = now() + ATTRIBUTES_RETRY_MS;
          return undefined;
        },
      );
    }
    return retention ?? Promise.resolve(undefined);
  };
  const kept: Array<{ at: number; n: number }> = [];
  const budget = o.inFlightBudget ?? 60_000;
  /** Leave `n` messages undeleted? Only on a queue that never redelivers, within the in-flight budget. */
  const mayKeep = async (n: number) => {
    const keepSeconds = await undeletable();
    if (keepSeconds === undefined) return false;
    const t = now();
    while (kept.length > 0 && kept[0]!.at <= t - keepSeconds * 1000) kept.shift();
    if (kept.reduce((a, k) => a + k.n, 0) + n > budget) return false;
    kept.push({ at: t, n });
    return true;
  };

  return {
    async next(waitSeconds: number): Promise<WorkBatch> {
      const wait = Math.min(20, Math.max(0, Math.floor(waitSeconds)));
      // The SDK's HTTP handler has no time limit of its own: a receive that went unanswered would hold the agent for ever.
      const limit = AbortSignal.timeout(wait * 1000 + (o.pollGraceMs ?? POLL_GRACE_MS));
      const out = await send(() =>
        client.send(
          new ReceiveMessageCommand({
            QueueUrl: o.queueUrl,
            MaxNumberOfMessages: max,
            WaitTimeSeconds: wait,
            MessageSystemAttributeNames: ["ApproximateReceiveCount"],
          }),
          { abortSignal: o.signal ? AbortSignal.any([o.signal, limit]) : limit },
        ),
      );
      const messages: Message[] = out.Messages ?? [];
      if (messages.length === 0) return { jobs: [], challenges: [], cancels: [] };
      const jobs: AgentJob[] = [];
      const challenges: AgentChallenge[] = [];
      const cancels: AgentCancel[] = [];
      // A throwing onInvalid must not cost the batch's valid jobs (they are deleted with it below).
      const report = (info: { messageId: string | undefined; reason: string }) => {
        try {
          o.onInvalid?.(info);
        } catch {
          // the report is lost; the message is dropped as it would have been
        }
      };
      for (const m of messages) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(m.Body ?? "");
        } catch {
          report({ messageId: m.MessageId, reason: "body is not JSON" });
          continue;
        }
        const invalid = (e: z.ZodError) =>
          report({ messageId: m.MessageId, reason: e.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") });
        // A challenge or a cancel says so (`kind`); anything else must be a job.
        if (IsChallenge.safeParse(parsed).success) {
          const r = AgentChallenge.safeParse(parsed);
          if (r.success) challenges.push(r.data);
          else invalid(r.error);
        } else if (IsCancel.safeParse(parsed).success) {
          const r = AgentCancel.safeParse(parsed);
          if (r.success) cancels.push(r.data);
          else invalid(r.error);
        } else if (IsWake.safeParse(parsed).success) {
          // our drain's wake (events/api.ts AgentWake): it ended the long-poll; nothing to do
        } else {
          const r = DispatchMessage.safeParse(parsed);
          if (r.success) jobs.push(r.data);
          else invalid(r.error);
        }
      }
      const entries = messages.filter((m) => m.ReceiptHandle).map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! }));
      if (entries.length > 0 && !(await mayKeep(entries.length))) {
        // A failed delete only means SQS may deliver the job again; the coordinator drops stale attempts.
        await send(() => client.send(new DeleteMessageBatchCommand({ QueueUrl: o.queueUrl, Entries: entries }))).catch(() => undefined);
      }
      return { jobs, challenges, cancels };
    },

    async extendVisibility(receiptHandle: string, seconds: number) {
      await send(() =>
        client.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: o.queueUrl,
            ReceiptHandle: receiptHandle,
            VisibilityTimeout: Math.min(43_200, Math.max(0, Math.floor(seconds))),
          }),
        ),
      );
    },
  };
}

/** What POST /v1/agents/session answers (schema in events/api.ts). */
export type AgentSessionView = AgentSessionResponse;

/**
 * The cloud job source from the coordinator's API: asks POST /v1/agents/session for
 * credentials (again before each expiry) and long-polls the queue it names. Resolves to
 * undefined when the network has no SQS transport (404 sessions_unavailable, e.g. the local
 * default), so the agent keeps the HTTP long-poll.
 */
export async function sqsJobSourceFromApi(
  api: Pick<ApiClient, "request" | "localTime">,
  o: Pick<SqsJobSourceOptions, "maxJobs" | "onInvalid" | "signal" | "now"> = {},
): Promise<SqsJobSource | undefined> {
  let first: AgentSessionView;
  try {
    first = await api.request(API.agentSession);
  } catch (e) {
    if (e instanceof ApiError && e.code === "sessions_unavailable") return undefined;
    throw e;
  }
  let pending: AgentSessionView | undefined = first;
  return createSqsJobSource({
    ...o,
    queueUrl: first.queueUrl,
    region: first.region,
    credentials: async () => {
      const s = pending ?? (await api.request(API.agentSession));
      pending = undefined;
      // their expiry on our clock: STS stamps it by AWS's, which the coordinator's follows
      return credentialsOnLocalClock(s.credentials, (t) => api.localTime(t));
    },
  });
}
