/**
 * The relay on AWS IoT Core, MQTT over WebSocket (docs/architecture.md §3, "Streaming"): since
 * issue 12 the alternative to the SQS relay (relay-sqs.ts, the default), chosen at deploy with
 * COCOON_RELAY_TRANSPORT=iot-mqtt (relay-sessions.ts reads it back).
 *
 * Why IoT Core (of API Gateway WebSocket, IoT Core, Lambda response streaming, long-poll —
 * docs/aws-prices.md has the prices): it is the one where no compute of ours runs per
 * chunk or is held while the GPU works. The worker publishes each sealed chunk over HTTPS
 * straight to the broker and the requester holds an MQTT subscription, both with short-lived
 * credentials the coordinator vends here (STS, free), so a streamed job costs IoT messages
 * and connection minutes only: per 1M jobs of 11 chunks ≤ 5 KB ≈ $24 (bench/cost.ts
 * `streamedRelayCost`), about the same as API Gateway WebSocket ($24.8, which also needs a
 * Lambda per chunk to forward and $0.25/M connection-minutes against $0.08), half of
 * DynamoDB + a streaming Lambda ($49, a function held for the whole generation) or
 * DynamoDB + long-poll ($53). Fewer, larger chunks are the lever (the agent's adaptive
 * chunking: about one per second of generation), and a chunk over 5 KB counts twice.
 *
 * Least privilege: the RelayRole (stacks/Cocoon.ts) trusts only the two session functions and the
 * two that dispatch jobs (submit, matching), and
 * allows the four IoT actions under this stage's topic prefix; each AssumeRole adds a session
 * policy naming ONE job's topic: the worker at the job's current attempt may publish to
 * `<prefix>/<requester>/<jobId>/<workerId>` (nothing else: HTTPS publish needs no Connect),
 * the requester may connect as `<prefix>-r-<requester>-<jobId>` and subscribe to / receive
 * `<prefix>/<requester>/<jobId>/*`. The requester's own account is in the topic, so
 * credentials asked for before a job exists (quotes are stateless) read nothing of another's.
 * An account-scoped requester session (issue 12: the SDK's one connection and subscription per
 * account, reused across its jobs, client/relay-mqtt.ts) may connect as one client id made for
 * it (`<prefix>-r-<requester>-<random>`: two processes of one account do not take each other's
 * connection over), subscribe to exactly `<prefix>/r/<requester>/+/+` and receive under
 * `<prefix>/r/<requester>/`: the streams of its own jobs and nothing else. Workers stay job-scoped.
 *
 * What is built and tested here: the vending (with aws-sdk-client-mock) and the policies.
 * The transports at the two ends are small: the agent publishes with one SigV4-signed HTTPS
 * POST (agent/relay-iot.ts); the SDK subscribes over MQTT 3.1.1 on a SigV4-presigned WebSocket
 * (client/relay-mqtt.ts), one connection per account.
 */
import type { STSClient } from "@aws-sdk/client-sts";
import { createHash, randomBytes } from "node:crypto";
import { relaySenderName, type RelaySession } from "../../events/relay";
import type { RelaySessionVendor } from "../../core/relay-access";
import { assumeRelayRole, checkRelayDuration, exactSessionName, relaySessionName, WORKER_RELAY_SESSION_SECONDS } from "./relay-sts";

export const RELAY_WORKER_ACTIONS = ["iot:Publish"] as const;
export const RELAY_REQUESTER_ACTIONS = ["iot:Connect", "iot:Subscribe", "iot:Receive"] as const;
/** What the RelayRole itself allows (the session policies narrow it per job). */
export const RELAY_ROLE_ACTIONS = ["iot:Connect", "iot:Publish", "iot:Receive", "iot:Subscribe"] as const;

export interface IotRelayOptions {
  client: STSClient;
  roleArn: string;
  region: string;
  /** the account's IoT data endpoint (aws iot describe-endpoint --endpoint-type iot:Data-ATS) */
  endpoint: string;
  /** `arn:aws:iot:<region>:<account>` */
  iotArn: string;
  /** `<app>-<stage>`: topics are `<prefix>/r/...`, client ids `<prefix>-r-...` */
  prefix: string;
  /** 900 (the least STS gives) … 3600 (role chaining's most) */
  durationSeconds: number;
}

/** The topic of one job's stream from one worker. */
export const relayTopic = (prefix: string, requester: string, jobId: string, workerId: string) =>
  `${prefix}/r/${requester}/${jobId}/${workerId}`;
/**
 * The requester's MQTT client id for one job: the account and the job. Job ids are the
 * requester's own choice (quotes are stateless, the session is asked before submit), so
 * `<prefix>-r-<jobId>` alone let another account that knew or picked the same id be vended
 * Connect on the same client id, and IoT Core disconnects a client when another connects under
 * its id: each would kick the other off (session 23). Never one of accountClientId's (a job id
 * holds `_`, their random part is hex).
 */
export const relayClientId = (prefix: string, requester: string, jobId: string) => {
  const id = `${prefix}-r-${requester}-${jobId}`;
  return id.length <= 128 ? id : `${prefix}-r-${createHash("sha256").update(requester).digest("hex").slice(0, 40)}-${jobId}`;
};

/** The filter of all of one requester's streams: `+` the job id, `+` the worker id. */
export const accountRelayFilter = (prefix: string, requester: string) => `${prefix}/r/${requester}/+/+`;
/** A client id for one account session: the account, and a random part so that two of its processes can both be connected. */
export function accountClientId(prefix: string, requester: string, random = randomBytes(6).toString("hex")): string {
  const id = `${prefix}-r-${requester}-${random}`;
  // IoT Core takes client ids up to 128 bytes; a longer account name is hashed (still one account's, still unguessable with the random part).
  return id.length <= 128 ? id : `${prefix}-r-${createHash("sha256").update(requester).digest("hex").slice(0, 40)}-${random}`;
}

export function workerRelayPolicy(
  o: Pick<IotRelayOptions, "iotArn" | "prefix">,
  requester: string,
  jobId: string,
  workerId: string,
): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "PublishThisJobsStream",
        Effect: "Allow",
        Action: [...RELAY_WORKER_ACTIONS],
        Resource: `${o.iotArn}:topic/${relayTopic(o.prefix, requester, jobId, workerId)}`,
      },
    ],
  });
}

export function requesterRelayPolicy(o: Pick<IotRelayOptions, "iotArn" | "prefix">, requester: string, jobId: string): string {
  const base = `${o.prefix}/r/${requester}/${jobId}`;
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ConnectAsThisJob",
        Effect: "Allow",
        Action: ["iot:Connect"],
        Resource: `${o.iotArn}:client/${relayClientId(o.prefix, requester, jobId)}`,
      },
      { Sid: "SubscribeThisJob", Effect: "Allow", Action: ["iot:Subscribe"], Resource: `${o.iotArn}:topicfilter/${base}/*` },
      { Sid: "ReceiveThisJob", Effect: "Allow", Action: ["iot:Receive"], Resource: `${o.iotArn}:topic/${base}/*` },
    ],
  });
}

/**
 * An account-scoped requester session: connect as the one client id made for it, subscribe to
 * exactly the account's filter (IoT policies read MQTT's `+` in a topicfilter resource as the
 * character itself), receive on any topic under the account's own prefix. The trailing `/`
 * keeps one account's prefix from matching another whose name starts with it.
 */
export function accountRelayPolicy(o: Pick<IotRelayOptions, "iotArn" | "prefix">, requester: string, clientId: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      { Sid: "ConnectAsThisSession", Effect: "Allow", Action: ["iot:Connect"], Resource: `${o.iotArn}:client/${clientId}` },
      {
        Sid: "SubscribeOwnJobs",
        Effect: "Allow",
        Action: ["iot:Subscribe"],
        Resource: `${o.iotArn}:topicfilter/${accountRelayFilter(o.prefix, requester)}`,
      },
      { Sid: "ReceiveOwnJobs", Effect: "Allow", Action: ["iot:Receive"], Resource: `${o.iotArn}:topic/${o.prefix}/r/${requester}/*` },
    ],
  });
}

export class IotRelaySessionVendor implements RelaySessionVendor {
  constructor(private readonly o: IotRelayOptions) {
    checkRelayDuration(o.durationSeconds);
  }

  private assume(name: string, policy: string, durationSeconds = this.o.durationSeconds) {
    return assumeRelayRole({ ...this.o, durationSeconds }, name, policy);
  }

  async forWorker(job: { jobId: string; attempt: number; requester: string }, workerId: string): Promise<RelaySession> {
    // the same rule as the SQS relay's (where the requester checks it in SenderId): one job attempt
    const credentials = await this.assume(
      exactSessionName(relaySenderName(job.jobId, job.attempt)),
      workerRelayPolicy(this.o, job.requester, job.jobId, workerId),
      WORKER_RELAY_SESSION_SECONDS,
    );
    return {
      transport: "iot-mqtt",
      endpoint: this.o.endpoint,
      region: this.o.region,
      topic: relayTopic(this.o.prefix, job.requester, job.jobId, workerId),
      clientId: relayClientId(this.o.prefix, job.requester, job.jobId),
      credentials,
    };
  }

  async forRequester(jobId: string, requester: string): Promise<RelaySession> {
    const credentials = await this.assume(relaySessionName("r", jobId), requesterRelayPolicy(this.o, requester, jobId));
    return {
      transport: "iot-mqtt",
      endpoint: this.o.endpoint,
      region: this.o.region,
      topic: `${this.o.prefix}/r/${requester}/${jobId}/+`,
      clientId: relayClientId(this.o.prefix, requester, jobId),
      credentials,
    };
  }

  async forAccount(requester: string): Promise<RelaySession> {
    const clientId = accountClientId(this.o.prefix, requester);
    const credentials = await this.assume(relaySessionName("r", clientId), accountRelayPolicy(this.o, requester, clientId));
    return {
      transport: "iot-mqtt",
      endpoint: this.o.endpoint,
      region: this.o.region,
      topic: accountRelayFilter(this.o.prefix, requester),
      clientId,
      credentials,
    };
  }
}
