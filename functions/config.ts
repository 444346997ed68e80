import { z } from "zod";
import { MAX_JOB_RETENTION_DAYS, MIN_JOB_RETENTION_DAYS } from "../core/config";
import { isProductionStage } from "../core/stages";
import { TonEndpoint } from "../events/common";
import { paramVariable, SECRET_FIELDS, SECRET_VARIABLES, tonAddressField } from "./env-fields";

/**
 * Stage-aware configuration of the AWS runtime, read from the Lambda environment that
 * stacks/Cocoon.ts sets, validated once at cold start. A missing or malformed variable
 * fails the cold start with a ConfigError that names the variable and says what to set.
 *
 * | variable                          | example                                                            |
 * |-----------------------------------|--------------------------------------------------------------------|
 * | COCOON_STAGE                      | `prod` (falls back to SST_STAGE)                                   |
 * | AWS_REGION                        | `us-east-1` (set by Lambda itself)                                 |
 * | COCOON_TABLE                      | the single DynamoDB table (pk = `<logical table>#<pk>`, sk)       |
 * | COCOON_MATCHING_QUEUE_URL         | `https://sqs.us-east-1.amazonaws.com/123456789012/…-Matching…`     |
 * | COCOON_WORKER_QUEUE_NAME_PREFIX   | `cocoon-prod-` (the queue of worker W is `cocoon-prod-worker-W`)   |
 * | COCOON_WORKER_QUEUE_URL_PREFIX    | `https://sqs.us-east-1.amazonaws.com/123456789012/cocoon-prod-`    |
 * | COCOON_WORKER_QUEUE_ARN_PREFIX    | `arn:aws:sqs:us-east-1:123456789012:cocoon-prod-`                  |
 * | COCOON_WORKER_DLQ_ARN             | dead-letter queue every worker queue redrives to                  |
 * | COCOON_MATCHING_DLQ_URL           | the matching queue's DLQ; only the redrive function has it (optional) |
 * | COCOON_ALERT_TOPIC_ARN            | SNS topic for operator alerts (optional for functions that never alert) |
 * | COCOON_AGENT_ROLE_ARN             | role agents assume through POST /v1/agents/session (optional elsewhere) |
 * | COCOON_AGENT_SESSION_SECONDS      | 900–3600, default 3600                                             |
 * | COCOON_WORKER_QUEUE_MAX_RECEIVES  | receives before a worker-queue message goes to the DLQ, default 5 |
 * | COCOON_JOB_RETENTION_DAYS         | days a job's records are kept after it ends, 8–3650, default 30 (core/jobs/retention.ts) |
 * | COCOON_ALLOW_DEV_ATTESTATION      | `true` accepts simulated TEEs: refused on the prod stage           |
 * | COCOON_ALLOW_TEST_IMAGES          | `true` accepts policy entries marked testOnly: refused on the prod stage |
 * | COCOON_FAUCET                     | `true` turns the play-money faucet on: refused on the prod stage   |
 * | COCOON_POLICY_JSON                | optional attestation policy (JSON) replacing core/attestation/policy.json |
 * | COCOON_VAULT_ADDRESS              | the deployed vault contract (payout vouchers name it)              |
 * | COCOON_COORDINATOR_SEED           | 64 hex chars: Ed25519 seed of the vault's coordinator key (a secret) |
 * | COCOON_TON_ENDPOINT, _API_KEY     | toncenter: withdrawals read the vault's seqno getter (see core/withdrawals.ts); the key is a secret |
 * | COCOON_QUOTE_KEY                  | 64 hex chars: HMAC key of the stateless price quotes and of the settlement tokens (a secret; prepare, submit and the result post must share it) |
 * | COCOON_SESSION_KEY                | 64 hex chars: secret of request sessions (every function that takes them shares it); unset: no sessions, clients sign every request |
 * | COCOON_REGISTRY_ADDRESS           | issue 15: the PolicyRegistry contract; registration and matching then follow its allow-lists and fees, read from the snapshot the chain watcher keeps in the store (core/policy-registry.ts StorePolicySource) |
 * | COCOON_POLICY_REFRESH_SECONDS, _MAX_AGE_SECONDS | how often the snapshot is re-read (60) and the oldest chain reading acted on (600; older: 503 policy_stale) |
 * | COCOON_COORDINATOR_SEED_PARAM, COCOON_QUOTE_KEY_PARAM, COCOON_SESSION_KEY_PARAM, COCOON_TON_API_KEY_PARAM (and, outside this config, COCOON_ANCHOR_SEED_PARAM, COCOON_TELEGRAM_BOT_TOKEN_PARAM) | instead of the secret itself: the name of the SSM SecureString parameter that holds it (`/cocoon/prod/coordinator-seed`), read once per container (functions/secrets.ts) |
 *
 * The three worker-queue prefixes are computed by CloudFormation (Aws.ACCOUNT_ID, Aws.REGION,
 * Aws.PARTITION, Aws.URL_SUFFIX), so no adapter has to guess the account or partition.
 */
export class ConfigError extends Error {
  override readonly name: string = "ConfigError";
  readonly code: string = "config_invalid";
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
  }
}

/** SQS queue names: alphanumerics, hyphen and underscore, at most 80 characters. */
export const WORKER_ID_MAX = 43;
const SQS_NAME_MAX = 80;
const nonEmpty = z.string().trim().min(1, "is empty");

const Env = z.object({
  COCOON_STAGE: z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/, "must start with a letter and hold only letters, digits and '-'"),
  AWS_REGION: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "must be an AWS region such as us-east-1"),
  COCOON_TABLE: nonEmpty,
  COCOON_MATCHING_QUEUE_URL: z.url({ protocol: /^https$/, error: "must be an https SQS queue URL" }),
  COCOON_MATCHING_DLQ_URL: z.url({ protocol: /^https$/, error: "must be an https SQS queue URL" }).optional(),
  COCOON_WORKER_QUEUE_NAME_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, "may hold only letters, digits, '-' and '_' (SQS queue name rules)")
    .refine(
      (p) => p.length + "worker-".length + WORKER_ID_MAX <= SQS_NAME_MAX,
      `is too long: prefix + "worker-" + a 43-character worker id must fit SQS's 80-character queue name limit (shorten the app or stage name)`,
    ),
  COCOON_WORKER_QUEUE_URL_PREFIX: z
    .string()
    .regex(/^https:\/\/\S+\/\d{12}\/[A-Za-z0-9_-]+$/, "must look like https://sqs.<region>.amazonaws.com/<account>/<name prefix>"),
  COCOON_WORKER_QUEUE_ARN_PREFIX: z
    .string()
    .regex(/^arn:[a-z-]+:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$/, "must look like arn:aws:sqs:<region>:<account>:<name prefix>"),
  COCOON_WORKER_DLQ_ARN: z.string().regex(/^arn:[a-z-]+:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+$/, "must be an SQS queue ARN"),
  COCOON_ALERT_TOPIC_ARN: z
    .string()
    .regex(/^arn:[a-z-]+:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+$/, "must be an SNS topic ARN")
    .optional(),
  COCOON_AGENT_ROLE_ARN: z
    .string()
    .regex(/^arn:[a-z-]+:iam::\d{12}:role\/[\w+=,.@/-]+$/, "must be an IAM role ARN")
    .optional(),
  COCOON_AGENT_SESSION_SECONDS: z.coerce
    .number()
    .int()
    .min(900, "must be at least 900 (STS minimum)")
    .max(3600, "must be at most 3600 (role chaining caps sessions at 1 hour)")
    .default(3600),
  COCOON_WORKER_QUEUE_MAX_RECEIVES: z.coerce.number().int().min(1).max(1000).default(5),
  COCOON_JOB_RETENTION_DAYS: z.coerce
    .number()
    .int("must be whole days")
    .min(MIN_JOB_RETENTION_DAYS, `must be at least ${MIN_JOB_RETENTION_DAYS} days (core/config.ts MIN_JOB_RETENTION_DAYS says why)`)
    .max(MAX_JOB_RETENTION_DAYS, `must be at most ${MAX_JOB_RETENTION_DAYS} days`)
    .optional(),
  COCOON_ALLOW_DEV_ATTESTATION: z.enum(["true", "false"], { error: 'must be "true" or "false"' }).default("false"),
  COCOON_ALLOW_TEST_IMAGES: z.enum(["true", "false"], { error: 'must be "true" or "false"' }).default("false"),
  COCOON_FAUCET: z.enum(["true", "false"], { error: 'must be "true" or "false"' }).default("false"),
  COCOON_VAULT_ADDRESS: tonAddressField("the vault's").optional(),
  COCOON_COORDINATOR_SEED: SECRET_FIELDS.COCOON_COORDINATOR_SEED.optional(),
  COCOON_TON_ENDPOINT: TonEndpoint.optional(),
  COCOON_TON_API_KEY: SECRET_FIELDS.COCOON_TON_API_KEY.optional(),
  COCOON_QUOTE_KEY: SECRET_FIELDS.COCOON_QUOTE_KEY.optional(),
  COCOON_SESSION_KEY: SECRET_FIELDS.COCOON_SESSION_KEY.optional(),
  COCOON_REGISTRY_ADDRESS: tonAddressField("the PolicyRegistry contract's").optional(),
  COCOON_POLICY_REFRESH_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  COCOON_POLICY_MAX_AGE_SECONDS: z.coerce.number().int().min(10).max(86_400).default(600),
  COCOON_POLICY_JSON: z
    .string()
    .refine((v) => {
      try {
        JSON.parse(v);
        return true;
      } catch {
        return false;
      }
    }, "is not valid JSON")
    .optional(),
});

export interface AwsConfig {
  stage: string;
  region: string;
  /** The single DynamoDB table that holds every logical table of the Store port. */
  table: string;
  queues: {
    matchingUrl: string;
    /** The matching queue's DLQ: only the redrive function (functions/schedule/redrive.ts) is given it. */
    matchingDlqUrl?: string;
    /** Prefix of every worker queue name; queue "worker-<id>" is `${namePrefix}worker-<id>`. */
    namePrefix: string;
    urlPrefix: string;
    arnPrefix: string;
    workerDlqArn: string;
    maxReceives: number;
  };
  alertTopicArn: string | undefined;
  agentRoleArn: string | undefined;
  agentSessionSeconds: number;
  /** Overrides of the core's DEFAULT_CORE_CONFIG for this stage. */
  core: {
    allowDevAttestation: boolean;
    faucet: boolean;
    allowTestImages?: true;
    quoteKey?: string;
    sessionKey: string | undefined;
    jobRetentionDays?: number;
  };
  /** Parsed COCOON_POLICY_JSON (validated by core's loadPolicy), or undefined for the repository policy. */
  policy: unknown;
  /** Voucher signing for worker payouts; absent → POST /v1/agents/voucher answers 503. */
  payouts: { vaultAddress: string; coordinatorSeedHex: string; ton?: { endpoint: string; apiKey?: string } } | undefined;
  /**
   * issue 15: the on-chain policy registry, read from the snapshot the chain watcher keeps in the
   * store (it reads the chain; the routes never do); absent → the static policy only.
   */
  registry?: { address: string; refreshSeconds: number; maxAgeSeconds: number };
}

/** Parse and validate; throws ConfigError naming the first bad variable. */
export function loadAwsConfig(env: Record<string, string | undefined> = process.env): AwsConfig {
  const input: Record<string, string | undefined> = { ...env, COCOON_STAGE: env.COCOON_STAGE ?? env.SST_STAGE };
  for (const k of Object.keys(input)) if (input[k] === "") input[k] = undefined;
  // A secret named by its parameter but not read (secrets.ts resolves it and drops the name): without
  // this the function would run as if the secret were unset (payouts off, no sessions) instead of failing.
  for (const v of SECRET_VARIABLES) {
    const p = paramVariable(v);
    if (v in Env.shape && input[p] !== undefined)
      throw new ConfigError(p, `environment variable ${p} names an SSM parameter that was not read (functions/secrets.ts reads it)`);
  }
  const parsed = Env.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? "?");
    const what = input[variable] === undefined ? "is not set" : issue.message;
    throw new ConfigError(
      variable,
      `environment variable ${variable} ${what}; the stacks (stacks/Cocoon.ts) set it on every function: redeploy, or set it by hand when running a handler outside Lambda`,
    );
  }
  const e = parsed.data;
  // One secret per purpose (session 31's crypto review): every use is domain-separated, so a shared
  // value breaks no MAC by itself, but a custody seed that is also a MAC key sits in two places'
  // configuration and logs of mistakes, and a quote key shared with the session secret makes a
  // leak of either both.
  const secrets = (["COCOON_COORDINATOR_SEED", "COCOON_QUOTE_KEY", "COCOON_SESSION_KEY"] as const).filter((v) => e[v] !== undefined);
  for (const [i, a] of secrets.entries())
    for (const b of secrets.slice(i + 1))
      if (e[a] === e[b])
        throw new ConfigError(b, `environment variable ${b} has the same value as ${a}: give each secret its own (openssl rand -hex 32)`);
  const prod = isProductionStage(e.COCOON_STAGE);
  for (const v of ["COCOON_ALLOW_DEV_ATTESTATION", "COCOON_ALLOW_TEST_IMAGES", "COCOON_FAUCET"] as const) {
    if (prod && e[v] === "true")
      throw new ConfigError(v, `environment variable ${v} is "true" on the ${e.COCOON_STAGE} stage; it may only be on for dev stages`);
  }
  return {
    stage: e.COCOON_STAGE,
    region: e.AWS_REGION,
    table: e.COCOON_TABLE,
    queues: {
      matchingUrl: e.COCOON_MATCHING_QUEUE_URL,
      ...(e.COCOON_MATCHING_DLQ_URL ? { matchingDlqUrl: e.COCOON_MATCHING_DLQ_URL } : {}),
      namePrefix: e.COCOON_WORKER_QUEUE_NAME_PREFIX,
      urlPrefix: e.COCOON_WORKER_QUEUE_URL_PREFIX,
      arnPrefix: e.COCOON_WORKER_QUEUE_ARN_PREFIX,
      workerDlqArn: e.COCOON_WORKER_DLQ_ARN,
      maxReceives: e.COCOON_WORKER_QUEUE_MAX_RECEIVES,
    },
    alertTopicArn: e.COCOON_ALERT_TOPIC_ARN,
    agentRoleArn: e.COCOON_AGENT_ROLE_ARN,
    agentSessionSeconds: e.COCOON_AGENT_SESSION_SECONDS,
    core: {
      allowDevAttestation: e.COCOON_ALLOW_DEV_ATTESTATION === "true",
      faucet: e.COCOON_FAUCET === "true",
      // Present only when on (test images in a dev stage's own COCOON_POLICY_JSON); off by default.
      ...(e.COCOON_ALLOW_TEST_IMAGES === "true" ? { allowTestImages: true as const } : {}),
      // Without it each container MACs quotes under its own random key, and a submit served by
      // another container than its prepare is refused (403 bad_quote): set it on every stage.
      ...(e.COCOON_QUOTE_KEY ? { quoteKey: e.COCOON_QUOTE_KEY } : {}),
      // Not the per-container random default: a session opened at one container must verify at
      // every other, so without the shared secret there are none (clients sign every request).
      sessionKey: e.COCOON_SESSION_KEY,
      // unset: the core's DEFAULT_JOB_RETENTION_DAYS
      ...(e.COCOON_JOB_RETENTION_DAYS !== undefined ? { jobRetentionDays: e.COCOON_JOB_RETENTION_DAYS } : {}),
    },
    policy: e.COCOON_POLICY_JSON === undefined ? undefined : JSON.parse(e.COCOON_POLICY_JSON),
    payouts:
      e.COCOON_VAULT_ADDRESS && e.COCOON_COORDINATOR_SEED
        ? {
            vaultAddress: e.COCOON_VAULT_ADDRESS,
            coordinatorSeedHex: e.COCOON_COORDINATOR_SEED,
            // the vault's seqno getter for withdrawals (issue 9 #3)
            ...(e.COCOON_TON_ENDPOINT
              ? { ton: { endpoint: e.COCOON_TON_ENDPOINT, ...(e.COCOON_TON_API_KEY ? { apiKey: e.COCOON_TON_API_KEY } : {}) } }
              : {}),
          }
        : undefined,
    ...(e.COCOON_REGISTRY_ADDRESS
      ? {
          registry: {
            address: e.COCOON_REGISTRY_ADDRESS,
            refreshSeconds: e.COCOON_POLICY_REFRESH_SECONDS,
            maxAgeSeconds: e.COCOON_POLICY_MAX_AGE_SECONDS,
          },
        }
      : {}),
  };
}

let cached: AwsConfig | undefined;
/**
 * The config of this Lambda container: parsed on first use (cold start), then reused. From the
 * environment alone: where the stack names SSM parameters, loadAwsConfig refuses it (secrets.ts lambdaConfig reads them).
 */
export function awsConfig(): AwsConfig {
  return (cached ??= loadAwsConfig());
}

/** A value that must be present for this function (e.g. the alert topic for the chain watcher). */
export function required<T>(value: T | undefined, variable: string): T {
  if (value === undefined) {
    throw new ConfigError(variable, `environment variable ${variable} is not set, but this function needs it: bind it in stacks/Cocoon.ts`);
  }
  return value;
}
