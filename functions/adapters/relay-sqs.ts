/**
 * The relay on AWS over Amazon SQS (issue 12; the default since it costs about a third of IoT
 * Core per streamed job, bench/cost.ts): one standard queue per requester channel (an SDK
 * instance, events/common.ts RelayChannel). The worker sends each sealed chunk as one message
 * to the queue of the channel its job was submitted with (agent/relay-sqs.ts); the SDK
 * long-polls its own queue. As with IoT Core (relay-iot.ts) no compute of ours runs per chunk:
 * the coordinator only creates the queue and vends short-lived credentials here (STS, free).
 *
 * The queue (made by the requester's session, never by a worker's; only for an account that
 * holds funds, RELAY_CHANNELS_PER_HOUR new channels an hour, core/relay-access.ts):
 * - MessageRetentionPeriod 120 s: chunks nobody read for 2 minutes are dropped (the SDK then
 *   reads the stored reply, GET /v1/jobs/{id}), so an abandoned channel empties itself;
 * - VisibilityTimeout 12 h, longer than the retention: a received message never becomes
 *   visible again, so the SDK deletes nothing (no DeleteMessage request per chunk);
 * - ReceiveMessageWaitTimeSeconds 20: long polls by default, the fewest empty receives;
 * - SQS-managed encryption at rest (the chunks are sealed anyway).
 *
 * Least privilege: the RelayRole (stacks/Cocoon.ts) trusts only the two session functions and the
 * two that dispatch jobs (submit, matching: the worker's session rides in the dispatch), and
 * allows the four SQS actions below on `<prefix>-r-*` queues; only the requester-session
 * function may CreateQueue there. Each AssumeRole adds a session policy naming ONE queue ARN:
 * - the worker at a job's attempt may sqs:SendMessage to the job's channel queue (which also
 *   authorises SendMessageBatch) and nothing else, under the role session name
 *   relaySenderName(jobId, attempt) EXACTLY: SQS stamps it on each message (SenderId
 *   `<role id>:<session name>`) and the SDK takes a job's chunks only from that sender, since
 *   the credentials reach the whole channel queue, not just this job's messages;
 * - the requester may receive from, read the attributes of, and delete its own channel queue
 *   (the SDK removes it when closed) and nothing else. The account is in the queue name, so a
 *   channel name picked by someone else never reaches another account's queue.
 *
 * What is built and tested here: the queue naming, the queue attributes, the vending and the
 * policies (aws-sdk-client-mock for SQS and STS).
 */
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { STSClient } from "@aws-sdk/client-sts";
import { createHash } from "node:crypto";
import { AccountId, RelayChannel } from "../../events/common";
import { relaySenderName, type RelaySession } from "../../events/relay";
import { CocoonError, ConflictError, UnavailableError, ValidationError } from "../../core/errors";
import type { RelaySessionVendor } from "../../core/relay-access";
import { assumeRelayRole, checkRelayDuration, exactSessionName, relaySessionName, WORKER_RELAY_SESSION_SECONDS } from "./relay-sts";

export const SQS_RELAY_WORKER_ACTIONS = ["sqs:SendMessage"] as const;
export const SQS_RELAY_REQUESTER_ACTIONS = ["sqs:ReceiveMessage", "sqs:GetQueueAttributes", "sqs:DeleteQueue"] as const;
/** What the RelayRole itself allows on `<prefix>-r-*` (the session policies narrow it to one queue). */
export const SQS_RELAY_ROLE_ACTIONS = [...SQS_RELAY_WORKER_ACTIONS, ...SQS_RELAY_REQUESTER_ACTIONS] as const;
/**
 * What the requester-session function itself does on `<prefix>-r-*` (no worker may make a queue
 * exist): create a channel's queue, with its attributes and its account's tag in the CreateQueue
 * itself. Nothing else:
 * with sqs:SetQueueAttributes a compromised function could give any channel queue a policy
 * (open it to anyone), and only a queue of an older deploy's attributes needed it (session 23).
 */
export const SQS_RELAY_CREATE_ACTIONS = ["sqs:CreateQueue", "sqs:TagQueue"] as const;

/**
 * The tag naming a channel queue's account, given at its creation (CreateQueue's tags need
 * sqs:TagQueue): an operator looking at a hashed queue name in the console or the bill sees whose
 * it is. The relay sweep does not read it (a queue its requester deleted has no tags to read,
 * review42 F1): it knows each queue's account from the claim's SweptChannel item (core/relay-sweep.ts).
 */
export const RELAY_QUEUE_TAG_ACCOUNT = "cocoon:account";

/**
 * Every channel queue's attributes. CreateQueue is idempotent only while these stay equal: a
 * queue made before they changed is a 409 relay_channel_conflict (ensureQueue), so a deploy that
 * changes them makes a client that outlives it answer whole until it opens a new channel.
 */
export const RELAY_QUEUE_ATTRIBUTES = {
  MessageRetentionPeriod: "120",
  VisibilityTimeout: "43200",
  ReceiveMessageWaitTimeSeconds: "20",
  SqsManagedSseEnabled: "true",
  // The largest chunk a worker sends is ~136 KiB (events/relay.ts: 132 KiB of sealed data, the
  // receipt and the bill on the last). SQS would take 1 MiB, billed per 64 KiB: a worker's
  // credentials reach the whole channel queue for their 15 minutes, so no message may be bigger
  // than a real chunk.
  MaximumMessageSize: String(144 * 1024),
} as const;

const SQS_NAME = /^[A-Za-z0-9_-]{1,80}$/;
const HASHED_CHARS = 40;

export interface SqsRelayOptions {
  sqs: SQSClient;
  sts: STSClient;
  roleArn: string;
  region: string;
  /** the AWS account that holds the queues (12 digits), for their ARNs and URLs */
  accountId: string;
  /** `<app>-<stage>`: queues are `<prefix>-r-...` */
  prefix: string;
  /** 900 (the least STS gives) … 3600 (role chaining's most) */
  durationSeconds: number;
}

/**
 * The queue of one account's channel: `<prefix>-r-<account>-<channel>` where that is a valid
 * SQS name (≤ 80 of [A-Za-z0-9_-]), else `<prefix>-r-<sha256(account/channel), 40 hex>`.
 * Never the same for two (account, channel) pairs: the readable form is taken only for an
 * account id of its fixed 43 characters (channels may hold `-` too: with accounts of any length
 * "a-b"+"c" and "a"+"b-c" would meet), `/` is in neither alphabet, and the two forms differ in
 * length after the prefix (≥ 52 characters against 40).
 */
export function relayQueueName(prefix: string, account: string, channel: string): string {
  const readable = `${prefix}-r-${account}-${channel}`;
  if (SQS_NAME.test(readable) && AccountId.safeParse(account).success) return readable;
  return `${prefix}-r-${createHash("sha256").update(`${account}/${channel}`).digest("hex").slice(0, HASHED_CHARS)}`;
}

const policy = (sid: string, actions: readonly string[], queueArn: string) =>
  JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: sid, Effect: "Allow", Action: [...actions], Resource: queueArn }] });
/** The worker's session policy: send to this one queue, nothing else. */
export const sqsWorkerRelayPolicy = (queueArn: string) => policy("SendToThisChannel", SQS_RELAY_WORKER_ACTIONS, queueArn);
/** The requester's session policy: read and remove its own channel queue, nothing else. */
export const sqsRequesterRelayPolicy = (queueArn: string) => policy("ReadOwnChannel", SQS_RELAY_REQUESTER_ACTIONS, queueArn);

const errName = (e: unknown) => (e && typeof e === "object" && "name" in e ? String((e as { name: unknown }).name) : "");

export class SqsRelaySessionVendor implements RelaySessionVendor {
  /** each channel is a queue in the operator's account: the core caps them (core/relay-access.ts RELAY_CHANNELS_PER_HOUR) */
  readonly channelQueues = true;
  /** queue name → URL: a warm Lambda creates (or confirms) each channel's queue once */
  private readonly urls = new Map<string, string>();

  constructor(private readonly o: SqsRelayOptions) {
    checkRelayDuration(o.durationSeconds);
    if (!/^\d{12}$/.test(o.accountId))
      throw new CocoonError(500, "relay_misconfigured", `"${o.accountId}" is not an AWS account id (12 digits)`);
    // the hashed name must fit too: `<prefix>-r-<40 hex>` ≤ 80
    if (!SQS_NAME.test(`${o.prefix}-r-${"0".repeat(HASHED_CHARS)}`))
      throw new CocoonError(
        500,
        "relay_misconfigured",
        `relay prefix "${o.prefix}" leaves no room for SQS queue names (≤ 80 of [A-Za-z0-9_-])`,
      );
  }

  /** The AWS partition the role lives in (aws, aws-cn, aws-us-gov): the queues are in it too. */
  private get partition() {
    return this.o.roleArn.split(":")[1] || "aws";
  }

  private queueArn(name: string) {
    return `arn:${this.partition}:sqs:${this.o.region}:${this.o.accountId}:${name}`;
  }

  /** The queue's URL without asking SQS (what CreateQueue answers), for a worker's session. */
  private queueUrl(name: string) {
    const suffix = this.partition === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
    return `https://sqs.${this.o.region}.${suffix}/${this.o.accountId}/${name}`;
  }

  private assume(name: string, sessionPolicy: string, durationSeconds = this.o.durationSeconds) {
    return assumeRelayRole({ client: this.o.sts, roleArn: this.o.roleArn, durationSeconds }, name, sessionPolicy);
  }

  private async ensureQueue(name: string, account: string): Promise<string> {
    const cached = this.urls.get(name);
    if (cached) return cached;
    const { CreateQueueCommand } = await import("@aws-sdk/client-sqs");
    let url: string | undefined;
    try {
      ({ QueueUrl: url } = await this.o.sqs.send(
        new CreateQueueCommand({
          QueueName: name,
          Attributes: { ...RELAY_QUEUE_ATTRIBUTES },
          tags: { [RELAY_QUEUE_TAG_ACCOUNT]: account },
        }),
      ));
    } catch (e) {
      const n = errName(e);
      if (/QueueDeletedRecently/.test(n))
        throw new ConflictError(
          "relay_channel_deleted",
          "this channel's queue was deleted less than 60 s ago: open a new channel (a new SDK client)",
        );
      if (!/Queue(NameExists|AlreadyExists)/.test(n)) throw e;
      // Made with other attributes (by an older deploy, or by hand). Not set to today's: the
      // route holds no sqs:SetQueueAttributes (session 23), which would also let a compromised
      // function give any channel queue a policy open to anyone. The SDK answers that job whole.
      throw new ConflictError(
        "relay_channel_conflict",
        "this channel's queue exists with other settings: open a new channel (a new SDK client), or read the answer with GET /v1/jobs/{id}",
      );
    }
    if (!url)
      throw new UnavailableError(
        "relay_session_unavailable",
        "SQS returned no queue URL; retry, or read the answer with GET /v1/jobs/{id}",
        1,
      );
    this.urls.set(name, url);
    return url;
  }

  async forWorker(job: { jobId: string; attempt: number; requester: string; relayChannel?: string }): Promise<RelaySession> {
    if (!job.relayChannel)
      throw new ConflictError(
        "relay_channel_unknown",
        "the requester submitted this job without a relay channel: answer without streaming (post the result only)",
      );
    // (the channel was checked at submit; whatever it is, the name stays one `<prefix>-r-` queue)
    const name = relayQueueName(this.o.prefix, job.requester, job.relayChannel);
    // No CreateQueue here: a worker must not be able to make queues exist. The requester made
    // this one when it opened the channel; if it is gone, the worker's sends fail and it answers whole.
    const credentials = await this.assume(
      exactSessionName(relaySenderName(job.jobId, job.attempt)),
      sqsWorkerRelayPolicy(this.queueArn(name)),
      WORKER_RELAY_SESSION_SECONDS,
    );
    return { transport: "sqs", region: this.o.region, queueUrl: this.queueUrl(name), credentials };
  }

  forRequester(): Promise<RelaySession> {
    return Promise.reject(
      new CocoonError(
        400,
        "relay_scope_unsupported",
        'the SQS relay has no per-job streams: ask POST /v1/jobs/{id}/relay with {"scope":"account","channel":"<your channel>"}',
      ),
    );
  }

  async forAccount(account: string, channel?: string): Promise<RelaySession> {
    if (channel === undefined)
      throw new CocoonError(
        400,
        "relay_channel_required",
        'the SQS relay reads through channels: ask with {"scope":"account","channel":"<8–24 of A-Z a-z 0-9 _ ->"} and submit your jobs with relay.channel',
      );
    if (!RelayChannel.safeParse(channel).success) throw new ValidationError("relay channel must be 8–24 characters of A-Z a-z 0-9 _ -");
    const name = relayQueueName(this.o.prefix, account, channel);
    const queueUrl = await this.ensureQueue(name, account);
    const credentials = await this.assume(relaySessionName("r", `${account}-${channel}`), sqsRequesterRelayPolicy(this.queueArn(name)));
    return { transport: "sqs", region: this.o.region, queueUrl, credentials };
  }
}
