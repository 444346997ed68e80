/**
 * Who may use a job's relay, and the coordinator's side of it (docs/architecture.md §3,
 * "Streaming"): only the job's candidate at the current attempt publishes; only the job's
 * requester reads. The relay carries ciphertext, so these checks are about abuse (someone
 * else's stream filled with noise, a stale worker talking over the new one), not secrecy.
 */
import type { RelayChunk, RelayReadResponse, RelaySession } from "../events/relay";
import type { CoreDeps } from "./deps";
import { CocoonError, ConflictError, ForbiddenError, NotFoundError } from "./errors";
import { getBalance, requesterAccount } from "./ledger";
import { ConditionFailedError } from "./ports";
import { getJob } from "./jobs";
import { jobTopic, readJob, type JobItem } from "./jobs/items";
import type { RelayPort, WithRelay } from "./relay";
import { checkRelayRevocation, relayRevocationKey, sweptChannelItem, type RelayRevocation } from "./relay-sweep";

/**
 * Vends job-scoped credentials for a relay the coordinator does not carry itself (Amazon SQS:
 * functions/adapters/relay-sqs.ts; AWS IoT Core: relay-iot.ts), as CoreDeps.relaySessions.
 * Absent: the coordinator's own HTTP relay routes.
 */
export interface RelaySessionVendor {
  /** `relayChannel`: the channel the job was submitted with (a relay with channels sends there; none: it vends nothing). */
  forWorker(job: { jobId: string; attempt: number; requester: string; relayChannel?: string }, workerId: string): Promise<RelaySession>;
  forRequester(jobId: string, account: string): Promise<RelaySession>;
  /**
   * Reads every job of `account` (issue 12: one connection and subscription per account, reused
   * across its jobs); `channel`: the caller's own reader, on a relay with channels (SQS).
   */
  forAccount(account: string, channel?: string): Promise<RelaySession>;
  /**
   * True where each new channel makes a resource in the operator's AWS account (SQS: a queue):
   * the core then opens channels only for funded accounts, RELAY_CHANNELS_PER_HOUR an hour each.
   */
  readonly channelQueues?: boolean;
}

/**
 * How many channels one account may use an hour where a channel is a queue (session 23). Channel
 * names are the SDK's (96 random bits a client), so without a bound any key made any number of
 * queues in the operator's account, a CreateQueue each. A client asks for its channel's session
 * again only as its credentials run out, so 32 is 32 SDK clients (processes) an hour; past it
 * 429 too_many_channels, and the SDK answers those jobs whole (no stream). The channel's queue
 * stays until its SDK closes it, so what this bounds is the rate: 32 new queues an hour for an
 * account that holds funds (keys are free, deposits are not).
 */
export const RELAY_CHANNELS_PER_HOUR = 32;
const HOUR_MS = 3_600_000;

/** An account opened RELAY_CHANNELS_PER_HOUR channels this hour: retry after `retryAfterSeconds`. */
export class TooManyChannelsError extends CocoonError {
  constructor(retryAfterSeconds: number) {
    super(
      429,
      "too_many_channels",
      `this account opened ${RELAY_CHANNELS_PER_HOUR} relay channels this hour (one per SDK client): reuse a client, or retry in ${retryAfterSeconds} s; jobs are answered whole meanwhile`,
      { retryAfterSeconds, limit: RELAY_CHANNELS_PER_HOUR },
    );
  }
}

/**
 * Counts `channel` among the account's channels of this hour, or refuses it: one item per
 * (account, hour, channel) and a counter per (account, hour), both written in one transaction
 * whose counter condition holds the cap under concurrent requests (a query-then-put would not:
 * a burst of new channels would each see room). A channel already counted this hour is free.
 * An account the relay sweep revoked (core/relay-sweep.ts) is refused first, 403 relay_channel_revoked.
 * The same transaction lists the channel for the relay sweep under this hour (sweptChannelItem):
 * the sweep measures every channel vended credentials, its queue deleted since or not.
 */
async function claimRelayChannel(deps: CoreDeps, requester: string, channel: string): Promise<void> {
  const pk = requesterAccount(requester);
  // the revocation read beside the balance: a session asked again adds no round trip
  const [balance, revocation] = await Promise.all([
    getBalance(deps.store, pk),
    deps.store.get<RelayRevocation>("accounts", relayRevocationKey(requester)),
  ]);
  const now = deps.clock.now();
  // Before anything else, renewals of a channel counted this hour included: the credentials in
  // hand were the channel's, and a renewal would give it new ones (core/relay-sweep.ts).
  checkRelayRevocation(revocation, now);
  if (balance.available + balance.held <= 0n)
    throw new ForbiddenError("relay_needs_funds", "relay channels are for accounts that hold funds: deposit, then ask again");
  const hour = Math.floor(now / HOUR_MS);
  const ttl = Math.ceil(((hour + 1) * HOUR_MS) / 1000) + 60;
  const counter = { pk, sk: `relay-channels#${hour}` };
  const mine = { pk, sk: `relay-channel#${hour}#${channel}` };
  if (await deps.store.get("accounts", mine)) return; // a client renewing its credentials: one read, no write
  try {
    // the counter must exist for its condition (a missing attribute compares false on DynamoDB)
    await deps.store.transact([{ op: "put", table: "accounts", item: { ...counter, n: 0, ttl }, when: { kind: "notExists" } }]);
  } catch (e) {
    if (!(e instanceof ConditionFailedError)) throw e;
  }
  try {
    await deps.store.transact([
      { op: "put", table: "accounts", item: { ...mine, ttl }, when: { kind: "notExists" } },
      { op: "put", table: "accounts", item: sweptChannelItem(requester, channel, hour) },
      {
        op: "update",
        table: "accounts",
        key: counter,
        add: { n: 1 },
        when: { kind: "cmp", attr: "n", op: "<", value: RELAY_CHANNELS_PER_HOUR },
      },
    ]);
  } catch (e) {
    if (!(e instanceof ConditionFailedError)) throw e;
    if (await deps.store.get("accounts", mine)) return; // counted already this hour
    throw new TooManyChannelsError(Math.max(1, Math.ceil(((hour + 1) * HOUR_MS - now) / 1000)));
  }
}

/** What the relay routes need: the core (with its relay session vendor, CoreDeps.relaySessions, where there is one) and the HTTP relay where there is one. */
export type RelayDeps = CoreDeps & WithRelay;

function requireRelay(deps: RelayDeps): RelayPort {
  if (!deps.relay)
    throw new CocoonError(
      404,
      "relay_unavailable",
      "this network has no HTTP relay: ask the job's relay access for how to reach its relay, or read the answer from the job",
    );
  return deps.relay;
}

/** The job, if `workerId` is its candidate at `attempt` and the job is still there. */
async function currentJobOf(deps: CoreDeps, jobId: string, attempt: number, workerId: string): Promise<JobItem> {
  const job = await readJob(deps.store, jobId);
  if (!job) throw new NotFoundError("unknown_job", `no job ${jobId}`);
  if (job.candidates[attempt]?.workerId !== workerId)
    throw new ForbiddenError("not_your_job", "this job was not dispatched to you at that attempt");
  if (job.status !== "assigned" || job.attempt !== attempt) {
    throw new ConflictError(
      "stale_attempt",
      `job ${jobId} is no longer assigned to you (status ${job.status}, attempt ${job.attempt}); stop streaming it`,
    );
  }
  return job;
}

/** POST /v1/agent/jobs/{id}/chunks: the worker at the job's current attempt appends chunks of its stream. */
export async function publishChunks(
  deps: RelayDeps,
  workerId: string,
  jobId: string,
  chunks: RelayChunk[],
): Promise<{ ok: true; buffered: number }> {
  const relay = requireRelay(deps);
  const attempt = chunks[0]!.attempt;
  for (const c of chunks) {
    if (c.jobId !== jobId) throw new CocoonError(400, "chunk_job_mismatch", `a chunk names job ${c.jobId}, the path ${jobId}`);
    if (c.attempt !== attempt) throw new CocoonError(400, "chunk_attempt_mismatch", "all chunks of one post belong to one attempt");
  }
  await currentJobOf(deps, jobId, attempt, workerId);
  await relay.publish(jobId, chunks);
  return { ok: true, buffered: chunks.length };
}

const TERMINAL = new Set(["completed", "refunded"]);

/**
 * GET /v1/jobs/{id}/chunks?from=N&wait=S: the requester long-polls its job's stream. Returns
 * as soon as there is a chunk past `from`, or the job finished (then with the job's view,
 * whose stored reply and receipt the SDK checks the stream against), or the wait ran out.
 * `signal` (the client went away) ends the wait at once, with nothing read and no store read,
 * and lets go of both waits.
 */
export async function readChunks(
  deps: RelayDeps,
  requester: string,
  jobId: string,
  from: number,
  waitSeconds: number,
  signal?: AbortSignal,
): Promise<RelayReadResponse> {
  const relay = requireRelay(deps);
  const job = await readJob(deps.store, jobId);
  if (!job) throw new NotFoundError("unknown_job", `no job ${jobId}`);
  if (job.requester !== requester) throw new ForbiddenError("not_your_job", "this job belongs to another account");
  const finished = async (r: { chunks: RelayChunk[]; next: number }): Promise<RelayReadResponse> => {
    const view = await getJob(deps, requester, jobId, 0);
    // The job is over and the reader has everything buffered: the buffer can go.
    if (r.chunks.length === 0) relay.end(jobId);
    return { chunks: r.chunks, next: r.next, job: view };
  };
  if (TERMINAL.has(job.status)) return finished(await relay.read(jobId, from, 0));
  const waitMs = Math.min(waitSeconds, deps.config.maxWaitSeconds) * 1000;
  if (signal?.aborted) return { chunks: [], next: from };
  const stop = new AbortController();
  const hangUp = () => stop.abort();
  signal?.addEventListener("abort", hangUp, { once: true });
  // Whichever comes first: a chunk, or a change of the job (its result, a failover, a refund).
  const changed = deps.notifier.wait(jobTopic(jobId), waitMs, stop.signal).then(() => undefined);
  const got = await Promise.race([relay.read(jobId, from, waitMs, stop.signal), changed]);
  stop.abort(); // the loser lets go: a relay read, or the job's wait (its listener and timer)
  signal?.removeEventListener("abort", hangUp);
  // nobody to answer: what was read stays buffered for the reader's next ask (it reads from `from`)
  if (signal?.aborted) return { chunks: [], next: from };
  const r = got ?? (await relay.read(jobId, from, 0));
  if (r.chunks.length > 0) return { chunks: r.chunks, next: r.next };
  const now = await readJob(deps.store, jobId);
  if (now && TERMINAL.has(now.status)) return finished(r);
  return { chunks: [], next: r.next };
}

/** POST /v1/agent/jobs/{id}/relay: how the worker at the current attempt publishes this job's stream. */
export async function workerRelaySession(deps: RelayDeps, workerId: string, jobId: string, attempt: number): Promise<RelaySession> {
  const job = await currentJobOf(deps, jobId, attempt, workerId);
  if (deps.relaySessions)
    return deps.relaySessions.forWorker(
      { jobId, attempt, requester: job.requester, ...(job.relayChannel ? { relayChannel: job.relayChannel } : {}) },
      workerId,
    );
  requireRelay(deps);
  return { transport: "http" };
}

/**
 * POST /v1/jobs/{id}/relay: how the requester reads this job's stream. Asked right after
 * prepare, before submit (a pub/sub relay keeps nothing for late subscribers), when the job
 * may not exist yet (quotes are stateless): a job that exists must be the caller's, and the
 * credentials name the caller's own account in the topic, so nobody reads another's stream.
 * Scope "account": credentials for the streams of all the caller's jobs (the SDK's one
 * subscription per account); they still name the caller's own account and nothing wider.
 */
export async function requesterRelaySession(
  deps: RelayDeps,
  requester: string,
  jobId: string,
  scope: "job" | "account" = "job",
  channel?: string,
): Promise<RelaySession> {
  const job = await readJob(deps.store, jobId);
  if (job && job.requester !== requester) throw new ForbiddenError("not_your_job", "this job belongs to another account");
  if (deps.relaySessions) {
    if (scope !== "account") return deps.relaySessions.forRequester(jobId, requester);
    // (the route's schema has checked the channel: RelaySessionRequest, events/relay.ts)
    if (deps.relaySessions.channelQueues && channel !== undefined) await claimRelayChannel(deps, requester, channel);
    return deps.relaySessions.forAccount(requester, channel);
  }
  requireRelay(deps);
  return { transport: "http" };
}
