import { Api, Cron, Queue, Table, Topic, type Function as SstFunction, type FunctionProps, type StackContext } from "sst/constructs";
import { Aws, CfnResource, Duration, RemovalPolicy, type Stack } from "aws-cdk-lib";
import { LogRetention, RetentionDays } from "aws-cdk-lib/aws-logs";
import { ArnPrincipal, CompositePrincipal, Effect, PolicyStatement, Role } from "aws-cdk-lib/aws-iam";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { ApplicationLogLevel, FunctionUrlAuthType, LoggingFormat, SystemLogLevel } from "aws-cdk-lib/aws-lambda";
import { Alarm, ComparisonOperator, MathExpression, TreatMissingData, type IMetric } from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import type { ZodError } from "zod";
import { HANDLER_NODEJS } from "./bundling";
import { isProductionStage } from "../core/stages";
import { loadPolicy } from "../core/attestation/policy";
import { ConfigError, loadAwsConfig } from "../functions/config";
import { AnchorEnv } from "../functions/schedule/anchor";
import { ChainEnv, quorumHostClash } from "../functions/schedule/chain-watcher";
import { operatorFromEnv } from "../functions/operator-env";
import { paramVariable, SECRET_FIELDS, SECRET_VARIABLES, type SecretVariable } from "../functions/env-fields";
import { ssmParameterName } from "../functions/secrets";

/**
 * The Lambda runtime of every function. nodejs20.x was deprecated on 2026-04-30 (creation
 * blocked since 2026-08-31); nodejs24.x is supported until 2028-04-30 (test/stacks.test.ts
 * keeps a dated table and refuses a runtime past its date). Node 24 runs async handlers only
 * (no callback argument), which is all we export; the bundles still target Node 20 (below),
 * the floor this code runs on locally.
 */
export const LAMBDA_RUNTIME = "nodejs24.x";

/** What an agent may do with its own queue; the session policy names one queue ARN. */
export const AGENT_QUEUE_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"];

/** Read from the deploying shell and handed to the chain watcher (see functions/schedule/chain-watcher.ts). */
export const CHAIN_WATCHER_ENV = [
  "COCOON_TON_ENDPOINT",
  "COCOON_TON_API_KEY",
  "COCOON_TON_QUORUM_ENDPOINTS", // session 40: the other endpoints the watcher's reads must agree with
  "COCOON_VAULT_ADDRESS",
  "COCOON_TELEGRAM_BOT_TOKEN",
  "COCOON_TELEGRAM_CHAT_ID",
  "COCOON_CHAIN_LAG_SECONDS",
  "COCOON_ANCHOR_ADDRESS", // issue 15: the watcher also checks the anchors
  "COCOON_ANCHOR_OVERDUE_SECONDS",
  "COCOON_REGISTRY_ADDRESS", // issue 15: the watcher reads the policy registry and keeps it in the table for the routes
];
/**
 * issue 15: the policy registry of the routes that register and match workers. They read the
 * snapshot the chain watcher keeps in the table, never the chain (issue 12: no TON client in a
 * request handler), so they get no toncenter endpoint or key (functions/config.ts).
 */
export const REGISTRY_ENV = ["COCOON_REGISTRY_ADDRESS", "COCOON_POLICY_REFRESH_SECONDS", "COCOON_POLICY_MAX_AGE_SECONDS"];
/** issue 15: read from the deploying shell and handed to the anchorer (functions/schedule/anchor.ts); COCOON_ANCHOR_SEED is a secret. */
export const ANCHORER_ENV = [
  "COCOON_TON_ENDPOINT",
  "COCOON_TON_API_KEY",
  "COCOON_ANCHOR_ADDRESS",
  "COCOON_ANCHOR_SEED",
  "COCOON_ANCHOR_INTERVAL_SECONDS",
];
/** issue 15: the anchorer's table actions (gets, inbox queries, puts, the status updates, inbox deletes). */
export const ANCHORER_TABLE_ACTIONS = [
  "dynamodb:GetItem",
  "dynamodb:Query",
  "dynamodb:PutItem",
  "dynamodb:UpdateItem",
  "dynamodb:DeleteItem",
];
/**
 * issue 12: the relays a stage can stream answers over (COCOON_RELAY_TRANSPORT at deploy):
 * "sqs" (the default: one queue per requester channel, functions/adapters/relay-sqs.ts) or
 * "iot-mqtt" (AWS IoT Core, functions/adapters/relay-iot.ts; needs COCOON_IOT_ENDPOINT).
 */
export const RELAY_TRANSPORTS = ["sqs", "iot-mqtt"] as const;
export type RelayTransport = (typeof RELAY_TRANSPORTS)[number];
/**
 * What the relay roles allow on the stage's `<prefix>-r-*` queues with the SQS relay (each session
 * policy narrows it to one queue): the worker side's RelayRole sends, the requester side's
 * RelayReaderRole receives and removes; no function can assume the other side's.
 */
export const RELAY_SQS_WRITER_ACTIONS = ["sqs:SendMessage"];
export const RELAY_SQS_READER_ACTIONS = ["sqs:ReceiveMessage", "sqs:GetQueueAttributes", "sqs:DeleteQueue"];
export const RELAY_SQS_ROLE_ACTIONS = [...RELAY_SQS_WRITER_ACTIONS, ...RELAY_SQS_READER_ACTIONS];
/** The requester-session function's own: create a channel's queue, its attributes and its account's tag (for the operator: relay-sqs.ts RELAY_QUEUE_TAG_ACCOUNT) in the CreateQueue (no SetQueueAttributes: it would let a compromised function give a queue a policy open to anyone). */
export const RELAY_SQS_CREATE_ACTIONS = ["sqs:CreateQueue", "sqs:TagQueue"];
/** The relay sweep (functions/schedule/relay-sweep.ts): read the channel queues' empty receives (the queues it reads are the table's, not a listing: review42 F1)… */
export const RELAY_SWEEP_LIST_ACTIONS = ["cloudwatch:GetMetricData"];
/** …and, on the channel queues only, find a queue's URL and delete it. */
export const RELAY_SWEEP_QUEUE_ACTIONS = ["sqs:GetQueueUrl", "sqs:DeleteQueue"];

/**
 * The IoT data endpoint as the functions that vend relay sessions take it
 * (functions/adapters/relay-sessions.ts; stacks/deploy.test.ts holds the two to the same answers):
 * one they refuse left every answer unstreamed.
 */
const IOT_ENDPOINT = /^[\w.-]{1,256}$/;

/** The relay of this deploy, from the deploying shell; refused when it cannot work. */
export function relayTransportFromEnv(env: NodeJS.ProcessEnv = process.env): RelayTransport {
  const t = env.COCOON_RELAY_TRANSPORT || "sqs";
  if (!(RELAY_TRANSPORTS as readonly string[]).includes(t))
    throw new Error(`COCOON_RELAY_TRANSPORT is "${t}": must be "sqs" (the default) or "iot-mqtt"`);
  if (t === "iot-mqtt" && !env.COCOON_IOT_ENDPOINT)
    throw new Error(
      "COCOON_RELAY_TRANSPORT is iot-mqtt but COCOON_IOT_ENDPOINT is not set (aws iot describe-endpoint --endpoint-type iot:Data-ATS): set it, or leave the transport unset for SQS",
    );
  if (t === "iot-mqtt" && !IOT_ENDPOINT.test(env.COCOON_IOT_ENDPOINT!))
    throw new Error(
      `COCOON_IOT_ENDPOINT is "${env.COCOON_IOT_ENDPOINT}": must be the IoT data endpoint's host name alone, no scheme, port or path (aws iot describe-endpoint --endpoint-type iot:Data-ATS --query endpointAddress --output text)`,
    );
  return t as RelayTransport;
}

/**
 * The most concurrent executions of each route's function (COCOON_ROUTE_CONCURRENCY at deploy;
 * unset: none). The only bound the whole fleet keeps: the SDK and the agent call the function
 * URLs, which no API Gateway throttle or WAF rule sees, and the routes' rate limits are per
 * container. Reserved, so it also takes that many from the account's pool for each route.
 */
export const ROUTE_CONCURRENCY_MAX = 1000;
export function routeConcurrencyFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env.COCOON_ROUTE_CONCURRENCY;
  if (v === undefined || v === "") return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= ROUTE_CONCURRENCY_MAX))
    throw new Error(
      `COCOON_ROUTE_CONCURRENCY is "${v}": must be a whole number from 1 to ${ROUTE_CONCURRENCY_MAX} (each route's function then runs at most that many at once), or unset`,
    );
  return n;
}

/** What the deploying shell hands the functions that functions/config.ts checks at their cold start. */
const CONFIG_CHECKED_ENV = [
  "COCOON_QUOTE_KEY",
  "COCOON_SESSION_KEY",
  "COCOON_VAULT_ADDRESS",
  "COCOON_COORDINATOR_SEED",
  "COCOON_TON_ENDPOINT",
  "COCOON_TON_API_KEY",
  ...REGISTRY_ENV,
  "COCOON_POLICY_JSON",
  "COCOON_JOB_RETENTION_DAYS",
];
/**
 * Lambda allows 4 KB of environment per function; the route directory's takes up to 3 KB
 * (test/stacks.test.ts), and COCOON_POLICY_JSON goes to every function.
 */
export const POLICY_JSON_MAX_BYTES = 1000;

/**
 * What a function given a secret's SSM parameter may do with it: GetParameters (the one call
 * functions/adapters/ssm-secrets.ts makes), on that parameter's ARN alone.
 */
export const SSM_READ_ACTIONS = ["ssm:GetParameters"];
/**
 * Secrets a production stage takes only from SSM: the vault's coordinator key signs the vouchers
 * and withdrawals that pay deposits out. As an environment variable anyone with
 * lambda:GetFunctionConfiguration or cloudformation:GetTemplate (AWS's ReadOnlyAccess) reads it.
 */
export const PRODUCTION_SSM_ONLY: readonly SecretVariable[] = ["COCOON_COORDINATOR_SEED"];
/**
 * The customer managed KMS key the SecureStrings are encrypted with (COCOON_SECRETS_KMS_KEY_ARN):
 * the functions that read a parameter get kms:Decrypt on it through SSM. Under the account's
 * default aws/ssm key every principal of the account that may call ssm:GetParameter* (ReadOnlyAccess,
 * AmazonSSMReadOnlyAccess: ssm:Get*) can decrypt too, because that key's policy grants Decrypt to
 * the whole account; under a customer managed key with the default key policy, only principals
 * whose IAM policies allow kms:Decrypt on it can.
 */
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;

/**
 * COCOON_ALERT_EMAIL: one address, as the HTML standard defines a valid one (zod's html5Email), with
 * a dotted domain. SNS checks the endpoint only when CloudFormation creates the subscription, so a
 * malformed one (a list, a `mailto:`, a display name, a stray space) failed mid-deploy and rolled
 * the whole update back.
 */
const ALERT_EMAIL =
  /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+$/;
const ALERT_EMAIL_MAX = 254; // RFC 5321's path limit less its angle brackets

/**
 * The deploying shell's values, checked with the schemas the functions apply at cold start
 * (functions/config.ts, the anchorer's AnchorEnv) before anything is built: a malformed one
 * would otherwise deploy, then fail every cold start of the functions given it (as 500s on the
 * routes). Presence is not required here: `npm run synth` runs without any. Returns warnings
 * (the stack prints them); refuses by throwing.
 *
 * Secrets: each is given as its value (`COCOON_QUOTE_KEY`) or as the name of the SSM SecureString
 * parameter holding it (`COCOON_QUOTE_KEY_PARAM=/cocoon/prod/quote-key`), never both. A production
 * stage refuses the coordinator's seed as a value (PRODUCTION_SSM_ONLY), and its parameter without
 * a customer managed key (COCOON_SECRETS_KMS_KEY_ARN); it warns of the other secrets given so.
 */
export function checkDeployerEnv(stage: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const given = (names: readonly string[]) => Object.fromEntries(names.filter((n) => env[n]).map((n) => [n, env[n]!]));
  const refuse = (variable: string, why: string): never => {
    throw new Error(`deploy refused: ${variable} ${why}; fix it in the deploying shell and deploy again`);
  };
  const warnings: string[] = [];
  const production = isProductionStage(stage);
  // the stack passes these on only when exactly "true" (the functions take "true" or "false"):
  // anything else deployed a stage without its faucet or its simulated TEEs, without a word
  for (const v of ["COCOON_FAUCET", "COCOON_ALLOW_DEV_ATTESTATION"])
    if (env[v] && env[v] !== "true" && env[v] !== "false") refuse(v, `is "${env[v]}": must be "true" or "false"`);
  const email = env.COCOON_ALERT_EMAIL;
  if (email && !(email.length <= ALERT_EMAIL_MAX && ALERT_EMAIL.test(email)))
    refuse(
      "COCOON_ALERT_EMAIL",
      `is "${email}": must be one e-mail address alone (ops@example.com: no list, "mailto:", display name or spaces; add more addresses as subscriptions of the AlertTopicArn output); SNS refuses it only when CloudFormation creates the subscription, mid-deploy`,
    );
  const kmsKey = env.COCOON_SECRETS_KMS_KEY_ARN;
  if (kmsKey && !KMS_KEY_ARN.test(kmsKey))
    refuse(
      "COCOON_SECRETS_KMS_KEY_ARN",
      "must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>; not an alias): aws kms describe-key --key-id alias/<name> --query KeyMetadata.Arn",
    );
  for (const v of SECRET_VARIABLES) {
    const p = paramVariable(v);
    if (env[p]) {
      const name = ssmParameterName.safeParse(env[p]);
      if (!name.success) refuse(p, name.error.issues[0]!.message);
    }
    if (env[v] && env[p]) refuse(v, `and ${p} are both set: give the secret one way (its SSM parameter's name in ${p})`);
    // each by the schema its function checks at cold start (the alert bot's token is in no config checked below)
    const value = env[v] ? SECRET_FIELDS[v].safeParse(env[v]) : undefined;
    if (value?.error) refuse(v, value.error.issues[0]!.message);
  }
  // stand-ins for what the stack itself sets (the queues, the table), valid by construction
  const account = "123456789012";
  const infra = {
    COCOON_STAGE: stage,
    AWS_REGION: "us-east-1",
    COCOON_TABLE: "t",
    COCOON_MATCHING_QUEUE_URL: `https://sqs.us-east-1.amazonaws.com/${account}/m`,
    COCOON_WORKER_QUEUE_NAME_PREFIX: "c-",
    COCOON_WORKER_QUEUE_URL_PREFIX: `https://sqs.us-east-1.amazonaws.com/${account}/c-`,
    COCOON_WORKER_QUEUE_ARN_PREFIX: `arn:aws:sqs:us-east-1:${account}:c-`,
    COCOON_WORKER_DLQ_ARN: `arn:aws:sqs:us-east-1:${account}:d`,
  };
  const policyBytes = Buffer.byteLength(env.COCOON_POLICY_JSON ?? "");
  if (policyBytes > POLICY_JSON_MAX_BYTES)
    refuse(
      "COCOON_POLICY_JSON",
      `is ${policyBytes} bytes: every function gets it in its environment and Lambda allows 4 KB per function (the route directory leaves ${POLICY_JSON_MAX_BYTES}); put the policy in core/attestation/policy.json, which is bundled, instead`,
    );
  try {
    const config = loadAwsConfig({ ...infra, ...given(CONFIG_CHECKED_ENV) });
    loadPolicy(config.policy);
  } catch (e) {
    if (e instanceof ConfigError) refuse(e.variable, e.message.replace(/^environment variable \S+ /, "").replace(/; the stacks .*$/, ""));
    refuse("COCOON_POLICY_JSON", `is not a valid attestation policy (${e instanceof Error ? e.message : String(e)})`);
  }
  // the two scheduled functions' own schemas (a malformed threshold of the chain watcher's failed
  // every cold start of the function that credits deposits)
  const refuseFirst = (e: ZodError): never => refuse(String(e.issues[0]!.path[0]), e.issues[0]!.message);
  const anchorEnv = AnchorEnv.partial().safeParse(given(ANCHORER_ENV));
  if (!anchorEnv.success) refuseFirst(anchorEnv.error);
  const watcherEnv = ChainEnv.partial().safeParse(given(CHAIN_WATCHER_ENV));
  if (!watcherEnv.success) refuseFirst(watcherEnv.error);
  // session 41: the chain watcher's quorum of toncenter endpoints, each another operator's (its
  // environment parsed above: refuseFirst threw otherwise)
  const clash = quorumHostClash(watcherEnv.data!);
  if (clash) refuse("COCOON_TON_QUORUM_ENDPOINTS", clash);
  // the watcher sends to the alert bot only with both (functions/schedule/chain-watcher.ts): one alone
  // deployed, and no Telegram alert was ever sent, without a word
  const botToken = ["COCOON_TELEGRAM_BOT_TOKEN", paramVariable("COCOON_TELEGRAM_BOT_TOKEN")].find((n) => env[n]);
  if (botToken && !env.COCOON_TELEGRAM_CHAT_ID)
    refuse("COCOON_TELEGRAM_CHAT_ID", `is not set, but ${botToken} is: the chain watcher sends to the alert bot only with both`);
  if (!botToken && env.COCOON_TELEGRAM_CHAT_ID)
    refuse(
      "COCOON_TELEGRAM_BOT_TOKEN",
      `is not set, but COCOON_TELEGRAM_CHAT_ID is: the chain watcher sends to the alert bot only with both (the token as ${paramVariable("COCOON_TELEGRAM_BOT_TOKEN")} on a production stage)`,
    );
  try {
    operatorFromEnv(given(["COCOON_OPERATOR_KEY"]));
  } catch (e) {
    if (e instanceof ConfigError) refuse(e.variable, e.message.replace(/^environment variable \S+ /, "").replace(/; set it in .*$/, ""));
    throw e;
  }
  if (!production) return warnings;
  for (const v of SECRET_VARIABLES) {
    const p = paramVariable(v);
    const ssmOnly = PRODUCTION_SSM_ONLY.includes(v);
    if (env[v] && ssmOnly)
      refuse(
        v,
        `is a plain value on the production stage ${stage}: it would be a Lambda environment variable (readable with lambda:GetFunctionConfiguration and cloudformation:GetTemplate, both in ReadOnlyAccess). Store it as an SSM SecureString under a customer managed KMS key, unset ${v} and set ${p} to the parameter's name and COCOON_SECRETS_KMS_KEY_ARN to the key's ARN (docs/deploy.md)`,
      );
    if (env[p] && ssmOnly && !kmsKey)
      refuse(
        "COCOON_SECRETS_KMS_KEY_ARN",
        `is not set, but ${p} is, on the production stage ${stage}: under the default aws/ssm key anyone in the account allowed ssm:GetParameter* (ReadOnlyAccess) can decrypt the parameter. Encrypt it with a customer managed key (aws ssm put-parameter --key-id …) and set COCOON_SECRETS_KMS_KEY_ARN to that key's ARN`,
      );
    if (env[v])
      warnings.push(
        `${v} is a plain value: it becomes a Lambda environment variable, readable with ReadOnlyAccess; store it as an SSM SecureString and set ${p} instead (docs/deploy.md)`,
      );
    else if (env[p] && !kmsKey)
      warnings.push(
        `${p} is set without COCOON_SECRETS_KMS_KEY_ARN: under the default aws/ssm key anyone in the account allowed ssm:GetParameter* (ReadOnlyAccess) can decrypt it; use a customer managed key`,
      );
  }
  return warnings;
}

/** A setting docs/deploy.md calls required, left out: its variables as the stage takes them, and what goes wrong without it. */
export interface MissingSetting {
  variables: string[];
  warning: string;
}

/**
 * What the deploying shell leaves out that docs/deploy.md calls required: the stack warns of each
 * (missingSettingWarnings), and `npm run deploy` refuses a production stage without them
 * (stacks/deploy.ts): a deploy sets every function's environment from the shell alone, so one
 * from a shell without the exports takes them off the running functions. A secret is named in
 * the form its stage takes: its value on a dev stage, its SSM parameter's name (`<secret>_PARAM`)
 * on a production one.
 */
export function missingRequiredSettings(stage: string, env: NodeJS.ProcessEnv = process.env): MissingSetting[] {
  const production = isProductionStage(stage);
  const has = (v: string) => Boolean(env[v] || (isSecret(v) && env[paramVariable(v)]));
  const inForm = (v: string) => (production && isSecret(v) ? paramVariable(v) : v);
  const absent = (...vs: string[]) => vs.filter((v) => !has(v)).map(inForm);
  const setKey = (v: SecretVariable) =>
    production
      ? `store it (openssl rand -hex 32) as an SSM SecureString, set ${paramVariable(v)} to the parameter's name`
      : "set it (openssl rand -hex 32)";
  const missing: MissingSetting[] = [];
  const check = (variables: string[], warning: string) => {
    if (variables.length > 0) missing.push({ variables, warning });
  };
  check(
    absent("COCOON_QUOTE_KEY"),
    `COCOON_QUOTE_KEY is not set: each container will sign quotes with its own key and most submits will be refused (bad_quote); ${setKey("COCOON_QUOTE_KEY")} and redeploy`,
  );
  check(
    absent("COCOON_SESSION_KEY"),
    `COCOON_SESSION_KEY is not set: no request sessions, so clients sign every request (an Ed25519 verification per request on the hot path); ${setKey("COCOON_SESSION_KEY")} and redeploy`,
  );
  check(
    absent("COCOON_TON_ENDPOINT", "COCOON_VAULT_ADDRESS"),
    "COCOON_TON_ENDPOINT / COCOON_VAULT_ADDRESS are not set: the chain watcher will fail (and alarm) until you redeploy with them",
  );
  check(
    absent("COCOON_COORDINATOR_SEED"),
    `${inForm("COCOON_COORDINATOR_SEED")} is not set: the coordinator has no vault key, so payouts and withdrawals are off (503 payouts_unavailable, withdrawals_unavailable) until you redeploy with it`,
  );
  check(
    absent("COCOON_ANCHOR_ADDRESS", "COCOON_ANCHOR_SEED"),
    `COCOON_ANCHOR_ADDRESS / ${inForm("COCOON_ANCHOR_SEED")} are not set: the receipt anchorer will fail (and alarm) until you redeploy with them (docs/receipts.md)`,
  );
  return missing;
}

/**
 * What the deploying shell leaves out that the README calls required (or recommends), and what a
 * production stage drops, as warnings the stack prints: `npm run synth` with nothing set
 * warned of some (the keys, the chain) and said nothing of the anchor or the coordinator's seed,
 * and COCOON_FAUCET / COCOON_ALLOW_DEV_ATTESTATION on a production stage were dropped in silence.
 */
export function missingSettingWarnings(stage: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const production = isProductionStage(stage);
  const warnings: string[] = [];
  if (production && !routeConcurrencyFromEnv(env))
    warnings.push(
      "COCOON_ROUTE_CONCURRENCY is not set: nothing bounds the public edge across containers (the function URLs bypass API Gateway), and a flood can take the account's whole concurrency; set it (e.g. 20) and redeploy",
    );
  warnings.push(...missingRequiredSettings(stage, env).map((m) => m.warning));
  for (const v of ["COCOON_FAUCET", "COCOON_ALLOW_DEV_ATTESTATION"])
    if (production && env[v] === "true")
      warnings.push(`${v}=true is ignored on the production stage ${stage}: no faucet, no SIMULATED (dev) attestations there; unset it`);
  return warnings;
}

/** The secret of request sessions: given to the session handshake and to every route that takes sessions (auth "session"). */
const SESSION_ENV = ["COCOON_SESSION_KEY"];
const isSecret = (n: string): n is SecretVariable => (SECRET_VARIABLES as readonly string[]).includes(n);
/**
 * The deploying shell's values of `names` for a function's environment; a secret goes as the
 * name of its SSM parameter where the shell gives one (`<secret>_PARAM`, read at cold start by
 * functions/config.ts), otherwise as its value (dev stages; checkDeployerEnv refused what a
 * production stage may not take so).
 */
const passThrough = (names: string[]) =>
  Object.fromEntries(
    names
      .flatMap((n) => (isSecret(n) ? [n, paramVariable(n)] : [n]))
      .filter((n) => process.env[n])
      .map((n) => [n, process.env[n]!]),
  );

const WORKER_ID_CHARS = 43;
const SQS_NAME_MAX = 80;

/** Table actions of the Store adapter (TransactWriteItems needs the per-item actions, nothing else). */
const TABLE_READ = ["dynamodb:GetItem", "dynamodb:Query"];
const TABLE_WRITE = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"];

/**
 * The whole coordinator in one stack: one DynamoDB table (single-table design, see
 * functions/adapters/dynamo-store.ts), the matching queue and its DLQ, a shared DLQ for the
 * per-worker queues (created at registration, outside CloudFormation), the HTTP API, the
 * chain watcher on a one-minute schedule, the alert topic with DLQ-depth alarms, and the
 * role agents assume to long-poll their own queue.
 */
/**
 * Worker "W" gets the SQS queue `${queuePrefix}worker-W` (IAM for CreateQueue is limited to that
 * prefix): a stage name too long for SQS's queue names is refused before anything is built
 * (stacks/deploy.ts runs this alone, before sst).
 */
export function workerQueuePrefix(appName: string, stage: string): string {
  const queuePrefix = `${appName}-${stage}-`;
  if (queuePrefix.length + "worker-".length + WORKER_ID_CHARS > SQS_NAME_MAX) {
    throw new Error(
      `stage name "${stage}" is too long: "${queuePrefix}worker-<43-char id>" must fit SQS's ${SQS_NAME_MAX}-character queue names`,
    );
  }
  return queuePrefix;
}

/**
 * The matching queue's name: SST's own for a Queue of id "Matching" (App.logicalPrefixedName), set
 * explicitly so that `npm run remove` (stacks/deploy.ts) finds the queue it asks for the same name.
 */
export function matchingQueueName(appName: string, stage: string): string {
  return `${stage}-${appName}-Matching`;
}

/**
 * Gives every Lambda function in `stack` that has no log retention of its own one: the helpers SST
 * and CDK add. SST's custom-resource handler (every SST stack has one; nothing here calls it today)
 * had none, so the group Lambda makes at its first run would keep every line for ever; CDK's
 * log-retention provider had none in the template (its code sets its own group to 1 day whenever it
 * creates a retention, which this does not change). The same custom resource (Custom::LogRetention)
 * our functions get from `logRetention`: it sets a group that exists already, or makes it.
 */
export function retainHelperLogs(stack: Stack, retention: RetentionDays): void {
  const functions = stack.node
    .findAll()
    .filter((c): c is CfnResource => c instanceof CfnResource && c.cfnResourceType === "AWS::Lambda::Function");
  for (const fn of functions) {
    const owner = fn.node.scope!;
    // lambda.Function names the LogRetention it makes for its `logRetention` so
    if (owner.node.tryFindChild("LogRetention") instanceof LogRetention) continue;
    new LogRetention(stack, `${owner.node.id}LogRetention`, {
      logGroupName: `/aws/lambda/${fn.ref}`,
      retention,
      logRetentionRetryOptions: { maxRetries: 100 }, // as SST's: CloudWatch Logs throttles many at once
    });
  }
}

export function Cocoon({ stack, app }: StackContext) {
  // production stages keep their data, and dev conveniences are refused there at cold start too
  const retained = isProductionStage(app.stage);
  // how long every log group keeps its lines (the functions', SST's and CDK's helpers', the API's access log)
  const logRetention = retained ? "one_month" : "one_week";
  const queuePrefix = workerQueuePrefix(app.name, app.stage);
  const workerQueueArnPrefix = `arn:${Aws.PARTITION}:sqs:${Aws.REGION}:${Aws.ACCOUNT_ID}:${queuePrefix}`;
  const workerQueueUrlPrefix = `https://sqs.${Aws.REGION}.${Aws.URL_SUFFIX}/${Aws.ACCOUNT_ID}/${queuePrefix}`;
  const workerQueues = `${workerQueueArnPrefix}worker-*`;
  // the deploying shell's values, refused now if a function would refuse them at its cold start
  for (const w of checkDeployerEnv(app.stage)) console.warn(`[cocoon ${app.stage}] ${w}`);
  const routeConcurrency = routeConcurrencyFromEnv();
  // issue 12: the relay's channel queues, `<app>-<stage>-r-<account>-<channel>` (or a hash), created by the requester-session route
  const relayTransport = relayTransportFromEnv();
  const relayPrefix = `${app.name}-${app.stage}`;
  const relayQueues = `${workerQueueArnPrefix}r-*`;

  // ------------------------------------------------------------------ data
  const table = new Table(stack, "Data", {
    fields: { pk: "string", sk: "string" },
    primaryIndex: { partitionKey: "pk", sortKey: "sk" },
    timeToLiveAttribute: "_exp",
    cdk: {
      table: {
        pointInTimeRecovery: true, // SST's default too; the synth test checks it
        removalPolicy: retained ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
        deletionProtection: retained,
      },
    },
  });

  // ------------------------------------------------------------------ alerts
  const alerts = new Topic(stack, "Alerts");
  const alertEmail = process.env.COCOON_ALERT_EMAIL;
  if (alertEmail) alerts.cdk.topic.addSubscription(new EmailSubscription(alertEmail));
  const alarmAction = new SnsAction(alerts.cdk.topic);

  // ------------------------------------------------------------------ queues
  const matchingDlq = new sqs.Queue(stack, "MatchingDlq", { retentionPeriod: Duration.days(14), enforceSSL: true });
  const workerDlq = new sqs.Queue(stack, "WorkerDlq", { retentionPeriod: Duration.days(14), enforceSSL: true });
  const matching = new Queue(stack, "Matching", {
    cdk: {
      queue: {
        queueName: matchingQueueName(app.name, app.stage),
        // AWS's advice for Lambda consumers: visibility ≥ 6 × the function timeout.
        visibilityTimeout: Duration.seconds(180),
        retentionPeriod: Duration.days(4),
        enforceSSL: true,
        deadLetterQueue: { queue: matchingDlq, maxReceiveCount: 5 },
      },
    },
  });
  for (const [id, q, what] of [
    ["MatchingDlqAlarm", matchingDlq, "matching"],
    ["WorkerDlqAlarm", workerDlq, "worker"],
  ] as const) {
    new Alarm(stack, id, {
      alarmDescription: `Messages in the ${what} dead-letter queue: jobs that could not be dispatched or checked (the matching one is redriven every 15 minutes, 16 times at most); inspect`,
      metric: q.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: "Maximum" }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(alarmAction);
  }

  // ------------------------------------------------------------------ functions
  const statement = (actions: string[], resources: string[]) => new PolicyStatement({ effect: Effect.ALLOW, actions, resources });
  const can = {
    readTable: statement(TABLE_READ, [table.tableArn]),
    writeTable: statement([...TABLE_READ, ...TABLE_WRITE], [table.tableArn]),
    sendMatching: statement(["sqs:SendMessage"], [matching.queueArn]),
    sendWorker: statement(["sqs:SendMessage"], [workerQueues]),
    // the HTTP long-poll (core/jobs/poll.ts) receives and deletes; only the agent extends a message's visibility
    pollWorker: statement(["sqs:ReceiveMessage", "sqs:DeleteMessage"], [workerQueues]),
    createWorkerQueue: statement(["sqs:CreateQueue", "sqs:TagQueue", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"], [workerQueues]),
    // the requester-session route only: a worker's session route must not be able to make queues exist
    createRelayQueue: statement(RELAY_SQS_CREATE_ACTIONS, [relayQueues]),
    publishAlerts: statement(["sns:Publish"], [alerts.topicArn]),
  };
  /**
   * What a function given `environment` needs to read its secrets' SSM parameters: GetParameters on
   * exactly the parameters it names, and Decrypt on the operator's KMS key, only through SSM.
   */
  const secretsKmsKey = process.env.COCOON_SECRETS_KMS_KEY_ARN;
  const readSecrets = (environment: Record<string, string> = {}): PolicyStatement[] => {
    const names = SECRET_VARIABLES.map((v) => environment[paramVariable(v)]).filter((n): n is string => !!n);
    if (names.length === 0) return [];
    const arns = [...new Set(names)].map((n) => `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter${n}`);
    return [
      statement(SSM_READ_ACTIONS, arns),
      ...(secretsKmsKey
        ? [
            new PolicyStatement({
              effect: Effect.ALLOW,
              actions: ["kms:Decrypt"],
              resources: [secretsKmsKey],
              conditions: { StringEquals: { "kms:ViaService": `ssm.${Aws.REGION}.${Aws.URL_SUFFIX}` } },
            }),
          ]
        : []),
    ];
  };

  stack.setDefaultFunctionProps({
    runtime: LAMBDA_RUNTIME,
    architecture: "arm_64",
    memorySize: "256 MB",
    timeout: "29 seconds", // API Gateway's integration limit is 30 s; long-polls wait ≤ 20 s
    tracing: "disabled", // X-Ray would cost more per job than the rest of the request (and needs xray:* on "*")
    // issue 12: Lambda's own START/END/REPORT lines are ~330 bytes per invocation, about a third
    // of the log bytes of a job; at WARN only the platform's warnings and errors (timeouts, init
    // failures) are kept, and duration and errors stay in CloudWatch's Lambda metrics. Our own
    // lines are Powertools JSON already, which this format keeps as they are.
    loggingFormat: LoggingFormat.JSON,
    systemLogLevelV2: SystemLogLevel.WARN,
    applicationLogLevelV2: ApplicationLogLevel.INFO,
    // Lambda keeps a function's log group for ever unless told otherwise; the same retention as
    // the API's access log (SST sets it through CDK's LogRetention helper, which also works on
    // log groups an earlier deploy's functions already created).
    logRetention,
    // ESM, minified, split, @aws-sdk/* from the runtime, zod imports tree-shaken: see stacks/bundling.ts
    // (bench/bundles.ts measures each handler built this way: size and cold start).
    nodejs: HANDLER_NODEJS,
    environment: {
      COCOON_RUNTIME: "aws",
      COCOON_STAGE: app.stage,
      COCOON_TABLE: table.tableName,
      COCOON_MATCHING_QUEUE_URL: matching.queueUrl,
      COCOON_WORKER_QUEUE_NAME_PREFIX: queuePrefix,
      COCOON_WORKER_QUEUE_URL_PREFIX: workerQueueUrlPrefix,
      COCOON_WORKER_QUEUE_ARN_PREFIX: workerQueueArnPrefix,
      COCOON_WORKER_DLQ_ARN: workerDlq.queueArn,
      ...(!retained && process.env.COCOON_FAUCET === "true" ? { COCOON_FAUCET: "true" } : {}),
      ...(!retained && process.env.COCOON_ALLOW_DEV_ATTESTATION === "true" ? { COCOON_ALLOW_DEV_ATTESTATION: "true" } : {}),
      ...(process.env.COCOON_POLICY_JSON ? { COCOON_POLICY_JSON: process.env.COCOON_POLICY_JSON } : {}),
      // every function that ends a job (results, the matching consumer) or answers for one (proofs) reads it
      ...(process.env.COCOON_JOB_RETENTION_DAYS ? { COCOON_JOB_RETENTION_DAYS: process.env.COCOON_JOB_RETENTION_DAYS } : {}),
    },
  });

  const ROUTE_DIRECTORY = "GET /v1/routes";
  const SESSION_HANDSHAKE = "POST /v1/sessions";
  const TAB_ROUTES = ["POST /v1/tabs", "GET /v1/tabs/{id}"];
  const CANCEL_ROUTE = "POST /v1/jobs/{id}/cancel";
  const VOID_ROUTE = "POST /v1/jobs/{id}/void";
  const OPERATOR_VOUCHER = "POST /v1/operator/voucher";
  const OPERATOR_STATUS = "GET /v1/operator/status";
  const OPERATOR_ROUTES = [OPERATOR_VOUCHER, OPERATOR_STATUS];
  const route = (handler: string, permissions: PolicyStatement[], extra: Partial<FunctionProps> = {}) => ({
    function: {
      handler: `functions/${handler}.handler`,
      permissions: [...permissions, ...readSecrets(extra.environment)],
      ...(routeConcurrency ? { reservedConcurrentExecutions: routeConcurrency } : {}),
      ...extra,
    },
  });
  const sessions = { environment: passThrough(SESSION_ENV) };
  const routes: Record<string, ReturnType<typeof route>> = {
    // requesters
    // Stateless quotes: prepare MACs them and submit checks them with one key (a secret from the deploying shell).
    "POST /v1/jobs/prepare": route("http/prepare-job", [can.readTable], {
      environment: passThrough(["COCOON_QUOTE_KEY", ...SESSION_ENV, ...REGISTRY_ENV]),
    }),
    "POST /v1/jobs": route("http/submit-job", [can.writeTable, can.sendMatching, can.sendWorker], {
      environment: passThrough(["COCOON_QUOTE_KEY", ...SESSION_ENV, ...REGISTRY_ENV]),
    }),
    // Reads only: its replays are harmless, so it claims no request nonce (no write at all).
    "GET /v1/jobs/{id}": route("http/get-job", [can.readTable], sessions),
    // Writes the job's cancelledAt and tells its worker on the worker's queue (core/jobs/cancel.ts).
    [CANCEL_ROUTE]: route("http/cancel-job", [can.writeTable, can.sendWorker], sessions),
    // Writes a voided job id's tombstone at the job's key, only if absent (core/jobs/void.ts): rare, after a lost submit.
    [VOID_ROUTE]: route("http/void-job", [can.writeTable], sessions),
    // issue 12: tabs, one hold for many jobs (core/jobs/tabs.ts); MAC'd with the quote key; the matching queue carries their close checks.
    "POST /v1/tabs": route("http/open-tab", [can.writeTable, can.sendMatching], {
      environment: passThrough(["COCOON_QUOTE_KEY", ...SESSION_ENV]),
    }),
    "GET /v1/tabs/{id}": route("http/get-tab", [can.readTable], { environment: passThrough(["COCOON_QUOTE_KEY", ...SESSION_ENV]) }),
    // Request sessions (core/crypto/session-auth.ts): a signed handshake (its nonce claimed: a write), then an HMAC per request on the routes given SESSION_ENV.
    [SESSION_HANDSHAKE]: route("http/open-session", [can.writeTable], sessions),
    "GET /v1/account": route("http/get-account", [can.writeTable]),
    "GET /v1/models": route("http/list-models", [can.readTable], { environment: passThrough(REGISTRY_ENV) }),
    "GET /openapi.json": route("http/openapi", [], { memorySize: "128 MB", timeout: "10 seconds" }),
    // workers
    "POST /v1/agents/nonce": route("http/worker-nonce", [can.writeTable]),
    "POST /v1/agents": route("http/register-worker", [can.writeTable, can.createWorkerQueue], { environment: passThrough(REGISTRY_ENV) }),
    "POST /v1/agents/heartbeat": route("http/heartbeat", [can.writeTable, can.sendWorker], sessions), // sendWorker: a draining worker's wake (core/workers.ts heartbeat)
    "POST /v1/agents/session": route("http/agent-session", [can.writeTable, can.createWorkerQueue]),
    "GET /v1/agents/me": route("http/worker-status", [can.writeTable]),
    // Signs payout vouchers with the vault's coordinator key (a secret, passed from the deploying shell).
    "POST /v1/agents/voucher": route("http/issue-voucher", [can.writeTable], {
      environment: passThrough(["COCOON_VAULT_ADDRESS", "COCOON_COORDINATOR_SEED"]),
    }),
    // The operator's fees, vouchered the same way; COCOON_OPERATOR_KEY (a public key) names the one key that may ask.
    [OPERATOR_VOUCHER]: route("http/issue-operator-voucher", [can.writeTable], {
      environment: passThrough(["COCOON_VAULT_ADDRESS", "COCOON_COORDINATOR_SEED", "COCOON_OPERATOR_KEY"]),
    }),
    // Reads only (no nonce claimed): the operator's balances, and the registry's snapshot for the fee in force.
    [OPERATOR_STATUS]: route("http/operator-status", [can.readTable], {
      environment: passThrough(["COCOON_OPERATOR_KEY", ...REGISTRY_ENV]),
    }),
    // Signs requester withdrawals with the same key; the status route releases expired ones lazily.
    // toncenter too: withdrawals read the vault's seqno getter (issue 9 #3).
    "POST /v1/account/withdraw": route("http/withdraw", [can.writeTable], {
      environment: passThrough(["COCOON_VAULT_ADDRESS", "COCOON_COORDINATOR_SEED", "COCOON_TON_ENDPOINT", "COCOON_TON_API_KEY"]),
    }),
    // It never signs: it reads the vault's seqno getter only (no coordinator key here).
    "GET /v1/account/withdrawals/{seqno}": route("http/withdrawal-status", [can.writeTable], {
      environment: passThrough(["COCOON_VAULT_ADDRESS", "COCOON_TON_ENDPOINT", "COCOON_TON_API_KEY"]),
    }),
    "GET /v1/agent/jobs": route("http/poll-jobs", [can.writeTable, can.pollWorker], sessions),
    "POST /v1/attestations": route("http/attestation-challenge", [can.writeTable, can.sendWorker]),
    "GET /v1/attestations/{id}": route("http/attestation-get", [can.writeTable]),
    "POST /v1/agent/attestations": route("http/attestation-answer", [can.writeTable]),
    // a failure report moves the job on (core/jobs/dispatch.ts advance): the next attempt's lease
    // check on the matching queue, and the job on its next worker's queue
    // Session 40: its answer to a completed result carries the requester's settlement token, MAC'd under a key derived from the quote key.
    "POST /v1/agent/results": route("http/post-result", [can.writeTable, can.sendMatching, can.sendWorker], {
      environment: passThrough(["COCOON_QUOTE_KEY", ...SESSION_ENV]),
    }),
    "POST /v1/agent/lease": route("http/extend-lease", [can.writeTable], sessions),
    // issue 11/12: how a job's stream is relayed (SQS channel queues, or AWS IoT Core) and narrow credentials for it
    "POST /v1/jobs/{id}/relay": route("http/relay-session", [can.writeTable, ...(relayTransport === "sqs" ? [can.createRelayQueue] : [])]),
    "POST /v1/agent/jobs/{id}/relay": route("http/relay-worker-session", [can.writeTable]),
    // issue 15: a receipt's inclusion proof (reads only)
    "GET /v1/receipts/{jobId}/proof": route("http/receipt-proof", [can.readTable]),
  };
  // Play money exists on dev stages only (and only when COCOON_FAUCET=true at deploy).
  if (!retained) routes["POST /v1/account/faucet"] = route("http/faucet", [can.writeTable]);
  // issue 12: where each route answers besides API Gateway (its function URL, below); unsigned, reads nothing.
  routes[ROUTE_DIRECTORY] = route("http/route-directory", [], { memorySize: "128 MB", timeout: "10 seconds" });

  const api = new Api(stack, "Api", {
    cors: false,
    accessLog: { retention: logRetention },
    routes,
  });
  // issue 12: every route's function also answers at its own Lambda function URL, which costs
  // nothing per request (API Gateway's HTTP API: $1.00 per million, bench/cost.ts). The SDK and
  // the agent read them once per client from GET /v1/routes and send each request straight to its
  // function; API Gateway stays the one stable base URL (custom domains, curl, the directory).
  // Auth NONE: each route checks its own signed requests, signed for the function URL's host.
  const routeUrls: Record<string, string> = {};
  for (const key of Object.keys(routes)) {
    // The session handshake too: once an hour per client, through API Gateway (the directory's
    // environment, which names every URL, stays inside Lambda's 4 KB with room for the deployer's);
    // and the tab routes: an open serves up to 32 jobs, a read is rare; and a cancel, at most once a
    // job (its URL would take the directory's environment past the 3 KB it keeps to), and a void (rarer still); and the operator's
    // voucher and status, asked now and then by one key.
    if (
      [ROUTE_DIRECTORY, "GET /openapi.json", SESSION_HANDSHAKE, ...TAB_ROUTES, CANCEL_ROUTE, VOID_ROUTE, ...OPERATOR_ROUTES].includes(key)
    )
      continue;
    routeUrls[key] = api.getFunction(key)!.addFunctionUrl({ authType: FunctionUrlAuthType.NONE }).url;
  }
  api.getFunction(ROUTE_DIRECTORY)!.addEnvironment("COCOON_ROUTE_URLS", stack.toJsonString(routeUrls));

  matching.addConsumer(stack, {
    function: {
      handler: "functions/queue/matching.handler",
      timeout: "30 seconds",
      permissions: [can.writeTable, can.sendMatching, can.sendWorker],
    },
    cdk: { eventSource: { batchSize: 10, reportBatchItemFailures: true, maxBatchingWindow: Duration.seconds(0) } },
  });
  // A batch that fails whole (a crash, a timeout, a cold start that fails) or is throttled (the
  // account's concurrency taken) comes back only after the 180 s visibility, and the DLQ's alarm
  // only after five of those: this one tells the operator within 5 minutes.
  const consumer = matching.consumerFunction as SstFunction;
  new Alarm(stack, "MatchingConsumerFailuresAlarm", {
    alarmDescription:
      "The matching consumer failed or was throttled 3 times in 5 minutes: lease checks, failovers and tab closes are delayed (holds stay held)",
    metric: new MathExpression({
      expression: "FILL(e, 0) + FILL(t, 0)",
      usingMetrics: {
        e: consumer.metricErrors({ period: Duration.minutes(5), statistic: "Sum" }),
        t: consumer.metricThrottles({ period: Duration.minutes(5), statistic: "Sum" }),
      },
      period: Duration.minutes(5),
    }),
    threshold: 3,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  }).addAlarmAction(alarmAction);

  // A check that failed five deliveries (a store outage, a crash storm) waits in the DLQ; every
  // 15 minutes it goes back to the matching queue, at most MAX_REDRIVES times (core/jobs/redrive.ts),
  // so no job's or tab's hold stays held for good. The DLQ alarm above still tells the operator.
  new Cron(stack, "MatchingRedrive", {
    schedule: "rate(15 minutes)",
    job: {
      function: {
        handler: "functions/schedule/redrive.handler",
        timeout: "60 seconds",
        reservedConcurrentExecutions: 1,
        permissions: [
          can.sendMatching,
          // receive (its visibility in the receive) and delete; it never extends one (core/jobs/redrive.ts)
          statement(["sqs:ReceiveMessage", "sqs:DeleteMessage"], [matchingDlq.queueArn]),
        ],
        environment: { COCOON_MATCHING_DLQ_URL: matchingDlq.queueUrl },
      },
    },
  });

  for (const w of missingSettingWarnings(app.stage)) console.warn(`[cocoon ${app.stage}] ${w}`);
  const watcher = new Cron(stack, "ChainWatcher", {
    schedule: "rate(1 minute)",
    job: {
      function: {
        handler: "functions/schedule/chain-watcher.handler",
        timeout: "55 seconds",
        // A slot of its own: with none, requests on the public function URLs (which no API
        // Gateway throttle bounds) can take all of the account's concurrency, and a throttled
        // watcher credits no deposit and raises no Errors. One: passes tolerate overlapping
        // (core/chain/vault-walk.ts) but gain nothing from it.
        reservedConcurrentExecutions: 1,
        // the next minute's run is the retry; Lambda's own (2, queued for up to 6 h behind a
        // one-slot function) would only run stale passes late
        retryAttempts: 0,
        // the toncenter key's and the alert bot's SSM parameters where the shell names them
        permissions: [can.writeTable, can.publishAlerts, ...readSecrets(passThrough(CHAIN_WATCHER_ENV))],
        environment: {
          COCOON_ALERT_TOPIC_ARN: alerts.topicArn,
          ...passThrough(CHAIN_WATCHER_ENV),
        },
      },
    },
  });
  new Alarm(stack, "ChainWatcherErrorsAlarm", {
    alarmDescription: "The chain watcher failed 3 runs in 5 minutes: deposits are not being credited",
    metric: watcher.jobFunction.metricErrors({ period: Duration.minutes(5), statistic: "Sum" }),
    threshold: 3,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  }).addAlarmAction(alarmAction);

  // ------------------------------------------------------------------ issue 15: receipt anchoring
  // The anchorer (functions/schedule/anchor.ts): every minute it cuts the next batch when the
  // interval has passed and posts it to the ReceiptAnchor through toncenter. One writer
  // (reserved concurrency 1); the table's item reads and writes and nothing else (it never
  // sends a bare ConditionCheck), no SNS: the chain watcher raises the anchor alerts.
  const anchorer = new Cron(stack, "ReceiptAnchorer", {
    schedule: "rate(1 minute)",
    job: {
      function: {
        handler: "functions/schedule/anchor.handler",
        timeout: "55 seconds",
        reservedConcurrentExecutions: 1,
        retryAttempts: 0, // as the watcher's: the next minute's run is the retry
        permissions: [statement(ANCHORER_TABLE_ACTIONS, [table.tableArn]), ...readSecrets(passThrough(ANCHORER_ENV))],
        environment: passThrough(ANCHORER_ENV),
      },
    },
  });
  new Alarm(stack, "ReceiptAnchorerErrorsAlarm", {
    alarmDescription: "The receipt anchorer failed 3 runs in 5 minutes: receipts and the ledger are not being anchored on TON",
    metric: anchorer.jobFunction.metricErrors({ period: Duration.minutes(5), statistic: "Sum" }),
    threshold: 3,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  }).addAlarmAction(alarmAction);
  // ------------------------------------------------------------------ end issue 15

  // A scheduled function that is not invoked at all (its rule disabled, throttled, deleted)
  // reports no Errors, so the alarms above stay quiet: no Invocations for 10 minutes is an alarm
  // of its own (missing data breaches).
  for (const [id, fn, what] of [
    ["ChainWatcherNotRunningAlarm", watcher.jobFunction, "The chain watcher has not run for 10 minutes: deposits are not being credited"],
    [
      "ReceiptAnchorerNotRunningAlarm",
      anchorer.jobFunction,
      "The receipt anchorer has not run for 10 minutes: nothing is being anchored on TON",
    ],
  ] as const) {
    new Alarm(stack, id, {
      alarmDescription: what,
      metric: fn.metricInvocations({ period: Duration.minutes(5), statistic: "Sum" }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: TreatMissingData.BREACHING,
    }).addAlarmAction(alarmAction);
  }

  // The route handlers answer their own failures (500 internal_error, 503), so Lambda's Errors
  // metric never counts them: what tells the operator of a broken deploy, a store outage or a
  // bug is the 5xx count, at API Gateway and at each function URL (the hot path bypasses API
  // Gateway). CloudWatch takes at most 10 metrics per alarm, hence groups; FILL, because a sum
  // over a missing point is missing. Sustained: 5 or more in each of two 5-minute periods.
  const period = Duration.minutes(5);
  const serverErrors: Array<[string, IMetric]> = [
    ["the API", api.cdk.httpApi.metricServerError({ period, statistic: "Sum" })],
    ...Object.keys(routeUrls).map(
      (key) => [key, api.getFunction(key)!.metric("Url5xxCount", { period, statistic: "Sum" })] as [string, IMetric],
    ),
  ];
  for (let i = 0; i < serverErrors.length; i += 10) {
    const group = serverErrors.slice(i, i + 10);
    new Alarm(stack, `HttpServerErrorsAlarm${i / 10}`, {
      alarmDescription: `5xx answers, 5 or more in each of two 5-minute periods, from: ${group.map(([k]) => k).join(", ")}; the functions' logs say why ("unhandled error", with the reference the client got)`,
      metric: new MathExpression({
        expression: group.map((_, j) => `FILL(m${j}, 0)`).join(" + "),
        usingMetrics: Object.fromEntries(group.map(([, m], j) => [`m${j}`, m])),
        period,
      }),
      threshold: 5,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(alarmAction);
  }

  // An on-demand table throttles on a hot key or a jump past twice its previous peak; the SDK's
  // retries hide the first few, then writes (the ledger's among them) fail as 5xx or failed passes.
  new Alarm(stack, "TableThrottlesAlarm", {
    alarmDescription: "The table throttled reads or writes: a hot key, or traffic past twice its previous peak (on-demand)",
    metric: new MathExpression({
      expression: "FILL(r, 0) + FILL(w, 0)",
      usingMetrics: {
        r: table.cdk.table.metric("ReadThrottleEvents", { period, statistic: "Sum" }),
        w: table.cdk.table.metric("WriteThrottleEvents", { period, statistic: "Sum" }),
      },
      period,
    }),
    threshold: 1,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  }).addAlarmAction(alarmAction);

  // ------------------------------------------------------------------ agent role
  const sessionFn = api.getFunction("POST /v1/agents/session")!;
  const agentRole = new Role(stack, "AgentRole", {
    description: "Assumed through POST /v1/agents/session; each session policy narrows it to one worker queue",
    assumedBy: new ArnPrincipal(sessionFn.role!.roleArn),
    maxSessionDuration: Duration.hours(1),
  });
  agentRole.addToPolicy(statement(AGENT_QUEUE_ACTIONS, [workerQueues]));
  sessionFn.attachPermissions([statement(["sts:AssumeRole"], [agentRole.roleArn])]);
  sessionFn.addEnvironment("COCOON_AGENT_ROLE_ARN", agentRole.roleArn);
  sessionFn.addEnvironment("COCOON_AGENT_SESSION_SECONDS", "3600");

  // ------------------------------------------------------------------ issue 11/12: stream relay (SQS or AWS IoT Core)
  // The worker's agent sends sealed chunks straight to the relay and the requester's SDK reads
  // them there, both with credentials vended by assuming this role with a session policy that
  // names one queue (SQS: send for the worker's job attempt, read and delete for the requester's
  // own channel; functions/adapters/relay-sqs.ts) or one job's topics (IoT Core,
  // functions/adapters/relay-iot.ts). The role allows only the chosen relay's actions. The two
  // session routes vend them on request; the functions that dispatch jobs (POST /v1/jobs and the
  // matching consumer) vend the worker's into each job they send (issue 12: the agent then asks
  // nothing per job; core/jobs/dispatch.ts), so they assume the role too. Only the
  // requester-session route creates queues (its own route permissions, above).
  const requesterFn = api.getFunction("POST /v1/jobs/{id}/relay")!;
  const workerFns = [
    api.getFunction("POST /v1/agent/jobs/{id}/relay")!,
    api.getFunction("POST /v1/jobs")!,
    matching.consumerFunction as SstFunction,
  ];
  const vendingFns = [requesterFn, ...workerFns];
  // Two roles, so that no function can assume more than the side it vends: the worker-facing ones
  // (worker session route, dispatch) only send/publish, the requester's only reads/removes.
  const relayRoleFor = (id: string, side: string, fns: SstFunction[]) =>
    new Role(stack, id, {
      description:
        relayTransport === "sqs"
          ? `Assumed through the relay session routes and the dispatching functions (${side}); each session policy narrows it to one channel's SQS queue`
          : `Assumed through the relay session routes and the dispatching functions (${side}); each session policy narrows it to one job's IoT topic`,
      assumedBy: new CompositePrincipal(...fns.map((f) => new ArnPrincipal(f.role!.roleArn))),
      maxSessionDuration: Duration.hours(1),
    });
  const relayWriterRole = relayRoleFor("RelayRole", "worker side", workerFns);
  const relayReaderRole = relayRoleFor("RelayReaderRole", "requester side", [requesterFn]);
  if (relayTransport === "sqs") {
    relayWriterRole.addToPolicy(statement(RELAY_SQS_WRITER_ACTIONS, [relayQueues]));
    relayReaderRole.addToPolicy(statement(RELAY_SQS_READER_ACTIONS, [relayQueues]));
    // coord42: a requester's own receives on its channel queue are billed to this account and no
    // IAM policy limits their rate. Every 15 minutes the sweep (core/relay-sweep.ts) reads each
    // channel queue's NumberOfEmptyReceives from CloudWatch, deletes a queue read in a loop,
    // revokes its account's channels for a day and alerts. One slot; the next run is the retry.
    new Cron(stack, "RelayChannelSweep", {
      schedule: "rate(15 minutes)",
      job: {
        function: {
          handler: "functions/schedule/relay-sweep.handler",
          timeout: "120 seconds",
          reservedConcurrentExecutions: 1,
          retryAttempts: 0,
          permissions: [
            can.writeTable,
            can.publishAlerts,
            // GetMetricData takes no resource narrower than "*" (metrics have no ARN)
            statement(RELAY_SWEEP_LIST_ACTIONS, ["*"]),
            statement(RELAY_SWEEP_QUEUE_ACTIONS, [relayQueues]),
          ],
          environment: { COCOON_RELAY_PREFIX: relayPrefix, COCOON_ALERT_TOPIC_ARN: alerts.topicArn },
        },
      },
    });
  } else {
    const iotArn = `arn:${Aws.PARTITION}:iot:${Aws.REGION}:${Aws.ACCOUNT_ID}`;
    relayWriterRole.addToPolicy(statement(["iot:Publish"], [`${iotArn}:topic/${relayPrefix}/r/*`]));
    relayReaderRole.addToPolicy(statement(["iot:Receive"], [`${iotArn}:topic/${relayPrefix}/r/*`]));
    relayReaderRole.addToPolicy(statement(["iot:Subscribe"], [`${iotArn}:topicfilter/${relayPrefix}/r/*`]));
    relayReaderRole.addToPolicy(statement(["iot:Connect"], [`${iotArn}:client/${relayPrefix}-r-*`]));
    for (const f of vendingFns) {
      f.addEnvironment("COCOON_IOT_ARN", iotArn);
      f.addEnvironment("COCOON_IOT_ENDPOINT", process.env.COCOON_IOT_ENDPOINT!);
    }
  }
  for (const [role, fns] of [
    [relayWriterRole, workerFns],
    [relayReaderRole, [requesterFn]],
  ] as const) {
    for (const f of fns) {
      f.attachPermissions([statement(["sts:AssumeRole"], [role.roleArn])]);
      f.addEnvironment("COCOON_RELAY_TRANSPORT", relayTransport);
      f.addEnvironment("COCOON_RELAY_ROLE_ARN", role.roleArn); // its account is the queues' (relay-sessions.ts)
      f.addEnvironment("COCOON_RELAY_PREFIX", relayPrefix);
      f.addEnvironment("COCOON_RELAY_SESSION_SECONDS", "900");
    }
  }
  // ------------------------------------------------------------------ end issue 11/12

  stack.addOutputs({
    ApiUrl: api.url,
    Region: Aws.REGION,
    AlertTopicArn: alerts.topicArn,
    TableName: table.tableName,
    MatchingQueueUrl: matching.queueUrl,
    WorkerQueuePrefix: `${queuePrefix}worker-`,
    AgentRoleArn: agentRole.roleArn,
    RelayRoleArn: relayWriterRole.roleArn,
    RelayReaderRoleArn: relayReaderRole.roleArn,
    RelayTransport: relayTransport,
    ...(relayTransport === "sqs" ? { RelayQueuePrefix: `${relayPrefix}-r-` } : {}),
  });
  // last, so that it sees every function the stack holds
  retainHelperLogs(stack, retained ? RetentionDays.ONE_MONTH : RetentionDays.ONE_WEEK);
  return { api, table, matching, alerts, agentRole };
}
