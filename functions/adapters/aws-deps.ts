/**
 * The AWS adapters of the core ports, built once per Lambda container (module scope keeps
 * the SDK clients and their keep-alive connections warm across invocations).
 * functions/deps.ts calls this when COCOON_RUNTIME=aws and adds clock, log and core config.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { SNSClient } from "@aws-sdk/client-sns";
import { STSClient } from "@aws-sdk/client-sts";
import type { Alerts, Notifier, Queues, Store } from "../../core/ports";
import { awsConfig, required, type AwsConfig } from "../config";
import { DynamoStore } from "./dynamo-store";
import { SqsQueues } from "./sqs-queues";
import { LambdaNotifier, SnsAlerts } from "./aws-notifier";
import { StsSessionVendor } from "./sts-session";

export interface AwsDeps {
  config: AwsConfig;
  store: Store;
  queues: Queues & Pick<SqsQueues, "sendBatch" | "extendVisibility">;
  notifier: Notifier;
  /** Throws ConfigError on first use when COCOON_ALERT_TOPIC_ARN is not bound to this function. */
  alerts: Alerts;
  /** Throws ConfigError on first use when COCOON_AGENT_ROLE_ARN is not bound to this function. */
  sessions: Pick<StsSessionVendor, "vend">;
}

export function createAwsDeps(config: AwsConfig = awsConfig()): AwsDeps {
  const region = config.region;
  // Lambda retries nothing on our behalf inside an invocation: let the SDK retry throttles.
  const dynamo = new DynamoDBClient({ region, maxAttempts: 4 });
  const sqs = new SQSClient({ region, maxAttempts: 4 });
  const store = new DynamoStore({ table: config.table, client: dynamo });
  const queues = new SqsQueues({
    client: sqs,
    matchingUrl: config.queues.matchingUrl,
    namePrefix: config.queues.namePrefix,
    urlPrefix: config.queues.urlPrefix,
    workerDlqArn: config.queues.workerDlqArn,
    maxReceives: config.queues.maxReceives,
  });

  let alerts: SnsAlerts | undefined;
  let sessions: StsSessionVendor | undefined;
  return {
    config,
    store,
    queues,
    notifier: new LambdaNotifier(),
    alerts: {
      raise: (a) =>
        (alerts ??= new SnsAlerts({
          client: new SNSClient({ region }),
          topicArn: required(config.alertTopicArn, "COCOON_ALERT_TOPIC_ARN"),
          store,
          stage: config.stage,
        })).raise(a),
    },
    sessions: {
      vend: (workerId) =>
        (sessions ??= new StsSessionVendor({
          client: new STSClient({ region }),
          roleArn: required(config.agentRoleArn, "COCOON_AGENT_ROLE_ARN"),
          region,
          durationSeconds: config.agentSessionSeconds,
          queueArnPrefix: config.queues.arnPrefix,
          queueUrlPrefix: config.queues.urlPrefix,
        })).vend(workerId),
    },
  };
}
