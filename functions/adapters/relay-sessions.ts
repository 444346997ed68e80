/**
 * Which relay a deployed stage vends sessions for, from the environment the stack gives the two
 * relay session functions and the two that dispatch jobs (stacks/Cocoon.ts), used by all four:
 *
 * | COCOON_RELAY_TRANSPORT | vendor                                     | also needs                                        |
 * |------------------------|--------------------------------------------|---------------------------------------------------|
 * | `sqs` (the stack's default) | SqsRelaySessionVendor (relay-sqs.ts)  | COCOON_RELAY_ROLE_ARN, COCOON_RELAY_PREFIX; the account from COCOON_AWS_ACCOUNT_ID or the role ARN |
 * | `iot-mqtt`             | IotRelaySessionVendor (relay-iot.ts)       | the same and COCOON_IOT_ENDPOINT, COCOON_IOT_ARN  |
 * | unset                  | none: the coordinator's own HTTP relay (the local default) |                                   |
 *
 * COCOON_RELAY_SESSION_SECONDS: 900–3600, default 900. A transport that is set with its other
 * variables missing or malformed is a ConfigError naming the variable, not a silent fallback
 * (a deployment has no HTTP relay to fall back to). The vendor and its AWS SDK clients are
 * imported only when chosen (bench/bundles.ts weighs each handler's bundle).
 */
import { z } from "zod";
import type { RelaySessionVendor } from "../../core/relay-access";
import { ConfigError } from "../config";

const Common = {
  COCOON_RELAY_ROLE_ARN: z.string().regex(/^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, "must be an IAM role ARN"),
  COCOON_RELAY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,37}$/, "must be 1–37 of A-Z a-z 0-9 _ - (queue names are <prefix>-r-<≤ 40 chars>)"),
  COCOON_RELAY_SESSION_SECONDS: z.coerce.number().int().min(900).max(3600).default(900),
  AWS_REGION: z
    .string()
    .regex(/^[a-z0-9-]{1,32}$/)
    .default("us-east-1"),
};
const RelayEnv = z.discriminatedUnion("COCOON_RELAY_TRANSPORT", [
  z.object({
    COCOON_RELAY_TRANSPORT: z.literal("sqs"),
    ...Common,
    COCOON_AWS_ACCOUNT_ID: z
      .string()
      .regex(/^\d{12}$/)
      .optional(),
  }),
  z.object({
    COCOON_RELAY_TRANSPORT: z.literal("iot-mqtt"),
    ...Common,
    COCOON_IOT_ENDPOINT: z
      .string()
      .regex(/^[\w.-]{1,256}$/, "must be the IoT data endpoint (aws iot describe-endpoint --endpoint-type iot:Data-ATS)"),
    COCOON_IOT_ARN: z.string().regex(/^arn:aws[\w-]*:iot:[a-z0-9-]+:\d{12}$/, "must be arn:aws:iot:<region>:<account>"),
  }),
]);
type RelayEnv = z.infer<typeof RelayEnv>;

async function build(e: RelayEnv): Promise<RelaySessionVendor> {
  const region = e.AWS_REGION;
  if (e.COCOON_RELAY_TRANSPORT === "sqs") {
    const [{ SQSClient }, { STSClient }, { SqsRelaySessionVendor }] = await Promise.all([
      import("@aws-sdk/client-sqs"),
      import("@aws-sdk/client-sts"),
      import("./relay-sqs"),
    ]);
    return new SqsRelaySessionVendor({
      sqs: new SQSClient({ region }),
      sts: new STSClient({ region }),
      roleArn: e.COCOON_RELAY_ROLE_ARN,
      region,
      // arn:<partition>:iam::<account>:role/<name>: the queues live in the role's account
      accountId: e.COCOON_AWS_ACCOUNT_ID ?? e.COCOON_RELAY_ROLE_ARN.split(":")[4]!,
      prefix: e.COCOON_RELAY_PREFIX,
      durationSeconds: e.COCOON_RELAY_SESSION_SECONDS,
    });
  }
  const [{ STSClient }, { IotRelaySessionVendor }] = await Promise.all([import("@aws-sdk/client-sts"), import("./relay-iot")]);
  return new IotRelaySessionVendor({
    client: new STSClient({ region }),
    roleArn: e.COCOON_RELAY_ROLE_ARN,
    region,
    endpoint: e.COCOON_IOT_ENDPOINT,
    iotArn: e.COCOON_IOT_ARN,
    prefix: e.COCOON_RELAY_PREFIX,
    durationSeconds: e.COCOON_RELAY_SESSION_SECONDS,
  });
}

/** One vendor per environment for the life of the container (it caches queue URLs). */
const vendors = new Map<string, Promise<RelaySessionVendor>>();

export function relaySessionsFromEnv(env: Record<string, string | undefined> = process.env): Promise<RelaySessionVendor | undefined> {
  const input = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === "" ? undefined : v]));
  if (input.COCOON_RELAY_TRANSPORT === undefined) return Promise.resolve(undefined);
  const parsed = RelayEnv.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? "COCOON_RELAY_TRANSPORT");
    const what =
      variable === "COCOON_RELAY_TRANSPORT"
        ? `is "${input.COCOON_RELAY_TRANSPORT}": must be "sqs" or "iot-mqtt" (or unset for the HTTP relay)`
        : input[variable] === undefined
          ? `is not set (COCOON_RELAY_TRANSPORT is "${input.COCOON_RELAY_TRANSPORT}")`
          : issue.message;
    return Promise.reject(
      new ConfigError(
        variable,
        `environment variable ${variable} ${what}; the stacks (stacks/Cocoon.ts) set it on the relay session functions`,
      ),
    );
  }
  const key = JSON.stringify(parsed.data);
  let vendor = vendors.get(key);
  if (!vendor) {
    vendor = build(parsed.data);
    vendors.set(key, vendor);
    vendor.catch(() => vendors.delete(key)); // a failed build is tried again on the next request
  }
  return vendor;
}

/**
 * relaySessionsFromEnv for the functions that vend relay sessions (functions/deps-relay.ts: the
 * two session routes, and POST /v1/jobs and the matching consumer, which put the worker's session
 * into a dispatch, core/jobs/dispatch.ts): undefined where no
 * relay transport is set (the HTTP relay); else a vendor that builds the real one, and imports its
 * AWS SDK clients, on its first call rather than at cold start. A misconfigured environment
 * rejects that call with the ConfigError (dispatch logs it and sends the job without a session:
 * the agent asks the worker-session route, which refuses it the same way).
 */
export function lazyRelaySessionsFromEnv(env: Record<string, string | undefined> = process.env): RelaySessionVendor | undefined {
  if (!env.COCOON_RELAY_TRANSPORT) return undefined;
  // the vendor once built (a failed build is asked for again on the next call), not the
  // environment parsed again on every dispatch
  let built: Promise<RelaySessionVendor> | undefined;
  const vendor = () =>
    (built ??= relaySessionsFromEnv(env).then(
      (v) => v!,
      (e: unknown) => {
        built = undefined;
        throw e;
      },
    ));
  return {
    forWorker: async (job, workerId) => (await vendor()).forWorker(job, workerId),
    forRequester: async (jobId, account) => (await vendor()).forRequester(jobId, account),
    forAccount: async (account, channel) => (await vendor()).forAccount(account, channel),
    // known before the vendor is built: the core caps channels before it asks (SqsRelaySessionVendor's)
    channelQueues: env.COCOON_RELAY_TRANSPORT === "sqs",
  };
}
