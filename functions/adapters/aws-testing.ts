/**
 * Test factories for the AWS adapters' configuration, shared by aws-config.test.ts, aws-core-deps.test.ts
 * and ton/registry.test.ts. Imported by tests only.
 */

/** The AWS account the made-up resource names live in. */
export const ACCOUNT = "123456789012";

/**
 * Factory: the environment stacks/Cocoon.ts gives every function on the prod stage (table, queues,
 * DLQ), then `over`; a test adds what its own functions get (alert topic, agent role, vault).
 */
export const prodStageEnv = (over: Record<string, string | undefined> = {}): Record<string, string | undefined> => ({
  COCOON_STAGE: "prod",
  AWS_REGION: "us-east-1",
  COCOON_TABLE: "prod-cocoon-Cocoon-DataTable-1X2Y3Z",
  COCOON_MATCHING_QUEUE_URL: `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/prod-cocoon-Cocoon-MatchingQueue-AbC123`,
  COCOON_WORKER_QUEUE_NAME_PREFIX: "cocoon-prod-",
  COCOON_WORKER_QUEUE_URL_PREFIX: `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/cocoon-prod-`,
  COCOON_WORKER_QUEUE_ARN_PREFIX: `arn:aws:sqs:us-east-1:${ACCOUNT}:cocoon-prod-`,
  COCOON_WORKER_DLQ_ARN: `arn:aws:sqs:us-east-1:${ACCOUNT}:prod-cocoon-Cocoon-WorkerDlq-XyZ789`,
  ...over,
});
