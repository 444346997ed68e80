/**
 * The AWS adapters of the core ports, built once per Lambda container (functions/deps.ts
 * caches the result, so the SDK clients and their keep-alive connections stay warm across
 * invocations). Returns CoreDeps plus the AWS-only extras (alerts, agent sessions).
 */
import { Address } from "@ton/core";
import { keyPairFromSeed } from "@ton/crypto";
import { tonVoucherSigner } from "./ton-voucher-signer";
import { tonWithdrawalSigner } from "./ton-withdrawal-signer";
import { toncenterWithdrawSeqno } from "./ton-chain";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { SNSClient } from "@aws-sdk/client-sns";
import { STSClient } from "@aws-sdk/client-sts";
import type { CoreDeps } from "../../core/deps";
import { DEFAULT_CORE_CONFIG } from "../../core/config";
import { loadPolicy } from "../../core/attestation/policy";
import type { Alerts } from "../../core/ports";
import { awsConfig, required, type AwsConfig } from "../config";
import { DynamoStore } from "./dynamo-store";
import { SqsQueues } from "./sqs-queues";
import { LambdaNotifier } from "./aws-notifier";
import { SnsAlerts } from "./sns-alerts";
import { storeDedupAlerts } from "../../core/chain/dedup";
import { StsSessionVendor } from "./sts-session";
import { createJsonLog } from "./log";

export interface AwsDeps extends CoreDeps {
  aws: AwsConfig;
  queues: SqsQueues;
  /** SNS, each key once per 30 minutes; throws ConfigError on first use when COCOON_ALERT_TOPIC_ARN is not bound to this function. */
  alerts: Alerts;
  /** Throws ConfigError on first use when COCOON_AGENT_ROLE_ARN is not bound to this function. */
  sessions: Pick<StsSessionVendor, "vend">;
}

export function createAwsDeps(config: AwsConfig = awsConfig()): AwsDeps {
  const region = config.region;
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

  let alerts: Alerts | undefined;
  let sessions: StsSessionVendor | undefined;
  const payouts = config.payouts;
  return {
    ...(payouts
      ? { voucherSigner: tonVoucherSigner(keyPairFromSeed(Buffer.from(payouts.coordinatorSeedHex, "hex")).secretKey, Address.parse(payouts.vaultAddress)) }
      : {}),
    // Requester withdrawals: the same key and vault (POST /v1/account/withdraw answers 503 without them),
    // and the vault's seqno getter through toncenter when COCOON_TON_ENDPOINT is set (issue 9 #3:
    // no seqno issued below the vault's, none released that the vault spent).
    ...(payouts
      ? {
          withdrawalSigner: tonWithdrawalSigner(
            keyPairFromSeed(Buffer.from(payouts.coordinatorSeedHex, "hex")).secretKey,
            Address.parse(payouts.vaultAddress),
            payouts.ton ? toncenterWithdrawSeqno(payouts.ton, Address.parse(payouts.vaultAddress)) : undefined,
          ),
        }
      : {}),
    aws: config,
    store,
    queues,
    notifier: new LambdaNotifier(),
    clock: { now: () => Date.now() },
    log: createJsonLog(), // JSON lines on stdout/stderr: CloudWatch Logs
    config: { ...DEFAULT_CORE_CONFIG, ...config.core },
    policy: loadPolicy(config.policy),
    alerts: {
      raise: async (a) =>
        (alerts ??= storeDedupAlerts(
          new SnsAlerts(new SNSClient({ region }), required(config.alertTopicArn, "COCOON_ALERT_TOPIC_ARN"), { subjectPrefix: `cocoon ${config.stage}` }),
          store,
          30 * 60_000,
          { now: () => Date.now() },
        )).raise(a),
    },
    sessions: {
      vend: async (workerId) =>
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
