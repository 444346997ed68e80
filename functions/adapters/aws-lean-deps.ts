/**
 * The AWS adapters every handler needs, built lazily: the DynamoDB store at cold start; SQS,
 * SNS and STS only on first use, through dynamic imports. With the stack's code splitting
 * (stacks/bundling.ts), a handler that never sends to a queue never loads the SQS client.
 * Nothing here reaches TON code, not even through a dynamic import (with code splitting that
 * would still put the chunk into every function's bundle): the routes that need TON add it
 * through their own providers, the payout and withdrawal routes their signers
 * (functions/deps-ton.ts), the routes that register and match workers the policy registry
 * (functions/deps-registry.ts, adapters/aws-core-deps.ts).
 *
 * assembleAwsDeps is the one place the CoreDeps of the AWS runtime are put together; the
 * synchronous createAwsDeps (aws-deps.ts: tests, and every adapter at once) uses it too.
 */
import type { CoreDeps } from "../../core/deps";
import { DEFAULT_CORE_CONFIG } from "../../core/config";
import { loadPolicy } from "../../core/attestation/policy";
import type { Alerts, QueueMessage, QueueName, Queues, Store } from "../../core/ports";
import { storeDedupAlerts } from "../../core/chain/dedup";
import { withMovementLog } from "../../core/receipts/log";
import type { AgentSessionResponse } from "../../events/api";
import { awsConfig, required, type AwsConfig } from "../config";
import { LambdaNotifier } from "./aws-notifier";
import { createJsonLog } from "./log";
import type { SqsQueues } from "./sqs-queues";

/** Every async operation of the SQS adapter (what the core and the AWS-only routes call). */
export type AwsQueues = Queues & Pick<SqsQueues, "send" | "sendBatch" | "receive" | "delete" | "extendVisibility" | "ensure">;

export interface AwsCoreDeps extends CoreDeps {
  aws: AwsConfig;
  queues: AwsQueues;
  /** SNS, each key once per 30 minutes; throws ConfigError on first use when COCOON_ALERT_TOPIC_ARN is not bound to this function. */
  alerts: Alerts;
  /** Throws ConfigError on first use when COCOON_AGENT_ROLE_ARN is not bound to this function. */
  sessions: { vend(workerId: string): Promise<AgentSessionResponse> };
}

/** The adapters that need an SDK client, each made on first use (or handed in, already made). */
export interface AwsAdapterMakers {
  queues: () => Promise<AwsQueues>;
  alertChannel: () => Promise<Alerts>;
  sessions: () => Promise<AwsCoreDeps["sessions"]>;
}

/** Memoises an async factory (a failed attempt is retried on the next call). */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= make().catch((e) => ((p = undefined), Promise.reject(e))));
}

/** Queues whose adapter is made on the first call. */
function lazyQueues(load: () => Promise<AwsQueues>): AwsQueues {
  return {
    send: async (q: QueueName, body: unknown, opts?: { delaySeconds?: number }) => (await load()).send(q, body, opts),
    sendBatch: async (q: QueueName, bodies: unknown[], opts?: { delaySeconds?: number }) => (await load()).sendBatch(q, bodies, opts),
    receive: async (q: QueueName, opts: { max: number; waitSeconds: number; visibilitySeconds: number }): Promise<QueueMessage[]> =>
      (await load()).receive(q, opts),
    delete: async (q: QueueName, handle: string) => (await load()).delete(q, handle),
    extendVisibility: async (q: QueueName, handle: string, seconds: number) => (await load()).extendVisibility(q, handle, seconds),
    ensure: async (q: QueueName) => (await load()).ensure(q),
  };
}

export function assembleAwsDeps(config: AwsConfig, store: Store, make: AwsAdapterMakers): AwsCoreDeps {
  const queues = once(make.queues);
  const channel = once(make.alertChannel);
  const sessions = once(make.sessions);
  let alerts: Alerts | undefined;
  return {
    aws: config,
    // issue 15: every ledger movement also joins the movement log's inbox, in its own transaction
    store: withMovementLog(store),
    queues: lazyQueues(queues),
    notifier: new LambdaNotifier(),
    clock: { now: () => Date.now() },
    log: createJsonLog(), // JSON lines on stdout/stderr: CloudWatch Logs
    // names the deployment in quote and tab MACs (another stage's, account's or region's are refused, even under a
    // shared quote key): the worker queues' ARN prefix (partition, region, account, app, stage) and the table's name
    config: { ...DEFAULT_CORE_CONFIG, ...config.core, deployment: `${config.queues.arnPrefix} ${config.table}` },
    policy: loadPolicy(config.policy),
    alerts: {
      raise: async (a) => (alerts ??= storeDedupAlerts(await channel(), store, 30 * 60_000, { now: () => Date.now() })).raise(a),
    },
    sessions: { vend: async (workerId) => (await sessions()).vend(workerId) },
  };
}

/** What a handler's cold start builds: the store now, every other client when first used; no policy registry. */
export async function createAwsLeanDeps(config: AwsConfig = awsConfig()): Promise<AwsCoreDeps> {
  const region = config.region;
  const [{ DynamoDBClient }, { DynamoStore }] = await Promise.all([import("@aws-sdk/client-dynamodb"), import("./dynamo-store")]);
  const store = new DynamoStore({ table: config.table, client: new DynamoDBClient({ region, maxAttempts: 4 }) });
  return assembleAwsDeps(config, store, {
    queues: async () => {
      const [{ SQSClient }, { SqsQueues }] = await Promise.all([import("@aws-sdk/client-sqs"), import("./sqs-queues")]);
      return new SqsQueues({
        client: new SQSClient({ region, maxAttempts: 4 }),
        ...config.queues, // the matching queue (and, for the redrive alone, its DLQ), the worker queues' names and redrive
      });
    },
    alertChannel: async () => {
      const topic = required(config.alertTopicArn, "COCOON_ALERT_TOPIC_ARN");
      const [{ SNSClient }, { SnsAlerts }] = await Promise.all([import("@aws-sdk/client-sns"), import("./sns-alerts")]);
      return new SnsAlerts(new SNSClient({ region }), topic, { subjectPrefix: `cocoon ${config.stage}` });
    },
    sessions: async () => {
      const roleArn = required(config.agentRoleArn, "COCOON_AGENT_ROLE_ARN");
      const [{ STSClient }, { StsSessionVendor }] = await Promise.all([import("@aws-sdk/client-sts"), import("./sts-session")]);
      return new StsSessionVendor({
        client: new STSClient({ region }),
        roleArn,
        region,
        durationSeconds: config.agentSessionSeconds,
        queueArnPrefix: config.queues.arnPrefix,
        queueUrlPrefix: config.queues.urlPrefix,
      });
    },
  });
}
