/**
 * Every AWS adapter at once, synchronously (tests; anything that wants the whole set). The
 * Lambda handlers do not come through here: functions/deps.ts builds the lean set of
 * aws-lean-deps.ts (SQS/SNS/STS on first use, no TON), and only the routes that need them add
 * the TON signers (deps-ton.ts) or the policy registry (deps-registry.ts). All assemble
 * CoreDeps through assembleAwsDeps.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { SNSClient } from "@aws-sdk/client-sns";
import { STSClient } from "@aws-sdk/client-sts";
import { awsConfig, required, type AwsConfig } from "../config";
import { assembleAwsDeps, withRegistry, type AwsCoreDeps } from "./aws-core-deps";
import { tonSigners } from "./aws-ton-deps";
import { DynamoStore } from "./dynamo-store";
import { SqsQueues } from "./sqs-queues";
import { SnsAlerts } from "./sns-alerts";
import { StsSessionVendor } from "./sts-session";

export type { AwsCoreDeps } from "./aws-core-deps";

export interface AwsDeps extends AwsCoreDeps {
  queues: SqsQueues;
}

export function createAwsDeps(config: AwsConfig = awsConfig()): AwsDeps {
  const region = config.region;
  const store = new DynamoStore({ table: config.table, client: new DynamoDBClient({ region, maxAttempts: 4 }) });
  const queues = new SqsQueues({
    client: new SQSClient({ region, maxAttempts: 4 }),
    ...config.queues, // the matching queue (and, for the redrive alone, its DLQ), the worker queues' names and redrive
  });
  const core = assembleAwsDeps(config, store, {
    queues: async () => queues,
    alertChannel: async () =>
      new SnsAlerts(new SNSClient({ region }), required(config.alertTopicArn, "COCOON_ALERT_TOPIC_ARN"), {
        subjectPrefix: `cocoon ${config.stage}`,
      }),
    sessions: async () =>
      new StsSessionVendor({
        client: new STSClient({ region }),
        roleArn: required(config.agentRoleArn, "COCOON_AGENT_ROLE_ARN"),
        region,
        durationSeconds: config.agentSessionSeconds,
        queueArnPrefix: config.queues.arnPrefix,
        queueUrlPrefix: config.queues.urlPrefix,
      }),
  });
  return { ...withRegistry(core, config), queues, ...tonSigners(config) };
}
