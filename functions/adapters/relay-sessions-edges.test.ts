/**
 * relaySessionsFromEnv's refusals, one variable at a time: each value is matched whole (a role
 * ARN, queue prefix, account or endpoint with anything before or after it is a ConfigError
 * naming the variable), and the lazy vendor routes each of its three calls.
 */
import { describe, expect, it } from "vitest";
import { AssumeRoleCommand } from "@aws-sdk/client-sts";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import { lazyRelaySessionsFromEnv, relaySessionsFromEnv } from "./relay-sessions";
import { SqsRelaySessionVendor } from "./relay-sqs";
import { mockRelayAws } from "./relay-sessions-testing";
import { ConfigError } from "../config";

const ROLE = "arn:aws:iam::210987654321:role/prod-cocoon-RelayRole";
const IOT_ARN = "arn:aws:iot:eu-west-1:210987654321";
const ENDPOINT = "abc123-ats.iot.eu-west-1.amazonaws.com";

/** Factory: a stage's environment for `transport`, then `over` on top. */
const env = (transport: "sqs" | "iot-mqtt", over: Record<string, string | undefined> = {}) => ({
  COCOON_RELAY_TRANSPORT: transport,
  COCOON_RELAY_ROLE_ARN: ROLE,
  COCOON_RELAY_PREFIX: "cocoon-prod",
  AWS_REGION: "eu-west-1",
  ...(transport === "iot-mqtt" ? { COCOON_IOT_ENDPOINT: ENDPOINT, COCOON_IOT_ARN: IOT_ARN } : {}),
  ...over,
});

/** The ConfigError a parse of `e` rejects with. */
async function configError(e: Record<string, string | undefined>): Promise<ConfigError> {
  const r = await relaySessionsFromEnv(e).then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(r).toBeInstanceOf(ConfigError);
  return r as ConfigError;
}

const { sqs, sts } = mockRelayAws();

describe("relaySessionsFromEnv: every value matched whole", () => {
  const cases: Array<[string, "sqs" | "iot-mqtt", string, string, string]> = [
    ["a role ARN with a prefix", "sqs", "COCOON_RELAY_ROLE_ARN", `x${ROLE}`, "must be an IAM role ARN"],
    ["a role ARN with a suffix", "sqs", "COCOON_RELAY_ROLE_ARN", `${ROLE} *`, "must be an IAM role ARN"],
    [
      "a role ARN in a partition of other characters",
      "sqs",
      "COCOON_RELAY_ROLE_ARN",
      "arn:aws.x:iam::210987654321:role/r",
      "must be an IAM role ARN",
    ],
    [
      "a queue prefix with a wildcard",
      "sqs",
      "COCOON_RELAY_PREFIX",
      "cocoon-*",
      "must be 1–37 of A-Z a-z 0-9 _ - (queue names are <prefix>-r-<≤ 40 chars>)",
    ],
    [
      "a queue prefix of 38 characters",
      "sqs",
      "COCOON_RELAY_PREFIX",
      "p".repeat(38),
      "must be 1–37 of A-Z a-z 0-9 _ - (queue names are <prefix>-r-<≤ 40 chars>)",
    ],
    ["a region with a prefix", "sqs", "AWS_REGION", "x/eu-west-1", "Invalid string: must match pattern /^[a-z0-9-]{1,32}$/"],
    ["a region with a suffix", "sqs", "AWS_REGION", "eu-west-1/x", "Invalid string: must match pattern /^[a-z0-9-]{1,32}$/"],
    ["an account of 13 digits", "sqs", "COCOON_AWS_ACCOUNT_ID", "2109876543210", "Invalid string: must match pattern /^\\d{12}$/"],
    ["an account with a prefix", "sqs", "COCOON_AWS_ACCOUNT_ID", "x210987654321", "Invalid string: must match pattern /^\\d{12}$/"],
    [
      "an IoT endpoint with a prefix",
      "iot-mqtt",
      "COCOON_IOT_ENDPOINT",
      `/${ENDPOINT}`,
      "must be the IoT data endpoint (aws iot describe-endpoint --endpoint-type iot:Data-ATS)",
    ],
    [
      "an IoT endpoint with a suffix",
      "iot-mqtt",
      "COCOON_IOT_ENDPOINT",
      `${ENDPOINT}/x`,
      "must be the IoT data endpoint (aws iot describe-endpoint --endpoint-type iot:Data-ATS)",
    ],
    ["an IoT ARN with a prefix", "iot-mqtt", "COCOON_IOT_ARN", `x${IOT_ARN}`, "must be arn:aws:iot:<region>:<account>"],
    ["an IoT ARN with a suffix", "iot-mqtt", "COCOON_IOT_ARN", `${IOT_ARN}:topic/*`, "must be arn:aws:iot:<region>:<account>"],
    [
      "an IoT ARN in a partition of other characters",
      "iot-mqtt",
      "COCOON_IOT_ARN",
      "arn:aws.x:iot:eu-west-1:210987654321",
      "must be arn:aws:iot:<region>:<account>",
    ],
  ];
  it.each(cases)("%s is a ConfigError naming the variable", async (_what, transport, variable, value, message) => {
    // Act
    const e = await configError(env(transport, { [variable]: value }));
    // Assess
    expect(e.variable).toBe(variable);
    expect(e.message).toBe(
      `environment variable ${variable} ${message}; the stacks (stacks/Cocoon.ts) set it on the relay session functions`,
    );
  });

  it("partitions with word characters and dashes are ARNs (aws-us-gov, aws-cn)", async () => {
    await expect(
      relaySessionsFromEnv(
        env("iot-mqtt", {
          COCOON_RELAY_ROLE_ARN: "arn:aws-us-gov:iam::210987654321:role/r",
          COCOON_IOT_ARN: "arn:aws-cn:iot:cn-north-1:210987654321",
        }),
      ),
    ).resolves.toBeDefined();
  });

  it("a missing variable is named as not set, with the transport that needs it", async () => {
    const e = await configError(env("iot-mqtt", { COCOON_IOT_ARN: undefined }));
    expect(e.message).toBe(
      'environment variable COCOON_IOT_ARN is not set (COCOON_RELAY_TRANSPORT is "iot-mqtt"); the stacks (stacks/Cocoon.ts) set it on the relay session functions',
    );
  });

  it("an empty variable counts as not set", async () => {
    const e = await configError(env("sqs", { COCOON_RELAY_PREFIX: "" }));
    expect(e.message).toContain("COCOON_RELAY_PREFIX is not set");
  });

  it("an unknown transport names the two there are", async () => {
    const e = await configError(env("sqs", { COCOON_RELAY_TRANSPORT: "kafka" }));
    expect(e.variable).toBe("COCOON_RELAY_TRANSPORT");
    expect(e.message).toContain('is "kafka": must be "sqs" or "iot-mqtt"');
  });

  it("one vendor per environment: the same environment twice is the same vendor", async () => {
    // Prepare
    const e = env("sqs", { COCOON_RELAY_PREFIX: "once-per-env" });
    // Act
    const first = await relaySessionsFromEnv({ ...e });
    const again = await relaySessionsFromEnv({ ...e });
    // Assess: a vendor at all (undefined is undefined too), and the same one
    expect(first).toBeInstanceOf(SqsRelaySessionVendor);
    expect(again).toBe(first);
  });
});

describe("lazyRelaySessionsFromEnv: each call reaches the built vendor", () => {
  it("forRequester and forAccount are the vendor's own answers", async () => {
    // Prepare
    const lazy = lazyRelaySessionsFromEnv(env("sqs"))!;
    const account = Buffer.alloc(32, 7).toString("base64url");
    sqs.on(CreateQueueCommand).resolves({ QueueUrl: "https://sqs.eu-west-1.amazonaws.com/210987654321/cocoon-prod-r-x" });
    // Act
    const forJob = await lazy.forRequester("job_01jdqv6x7s9k2m4n8p0r3t5w00", account).then(
      () => undefined,
      (e: unknown) => e,
    );
    const forAccount = await lazy.forAccount(account, "ch4nnel_A-1");
    // Assess: the SQS vendor has no per-job streams, and says so; an account's channel it vends
    expect(forJob).toMatchObject({ code: "relay_scope_unsupported" });
    expect(forAccount).toMatchObject({ transport: "sqs", region: "eu-west-1" });
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(1);
  });
});
