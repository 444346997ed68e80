import { describe, expect, it } from "vitest";
import { AssumeRoleCommand } from "@aws-sdk/client-sts";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import { lazyRelaySessionsFromEnv, relaySessionsFromEnv } from "./relay-sessions";
import { mockRelayAws } from "./relay-sessions-testing";
import { SqsRelaySessionVendor } from "./relay-sqs";
import { IotRelaySessionVendor } from "./relay-iot";

const ROLE = "arn:aws:iam::210987654321:role/prod-cocoon-Cocoon-RelayRole-1A2B3C";
const JOB = "job_01jdqv6x7s9k2m4n8p0r3t5w00";
const REQUESTER = Buffer.alloc(32, 7).toString("base64url");
const CHANNEL = "ch4nnel_A-1";

/** The environment the stack gives the two relay session functions (stacks/Cocoon.ts). */
const sqsEnv = (o: Record<string, string | undefined> = {}) => ({
  COCOON_RELAY_TRANSPORT: "sqs",
  COCOON_RELAY_ROLE_ARN: ROLE,
  COCOON_RELAY_PREFIX: "cocoon-prod",
  COCOON_RELAY_SESSION_SECONDS: "900",
  AWS_REGION: "eu-west-1",
  ...o,
});
const iotEnv = (o: Record<string, string | undefined> = {}) => ({
  ...sqsEnv({ COCOON_RELAY_TRANSPORT: "iot-mqtt" }),
  COCOON_IOT_ENDPOINT: "abc123-ats.iot.eu-west-1.amazonaws.com",
  COCOON_IOT_ARN: "arn:aws:iot:eu-west-1:210987654321",
  ...o,
});

// every SQSClient / STSClient the chooser makes is mocked (relay-sessions-testing.ts): no AWS call is made here
const { sqs, sts } = mockRelayAws();

describe("relaySessionsFromEnv: which relay a stage vends", () => {
  it("unset (or empty) transport: no vendor, the coordinator's own HTTP relay (the local default)", async () => {
    await expect(relaySessionsFromEnv({})).resolves.toBeUndefined();
    await expect(relaySessionsFromEnv({ ...iotEnv(), COCOON_RELAY_TRANSPORT: "" })).resolves.toBeUndefined();
  });

  it("sqs: the SQS vendor, in the region Lambda runs in, with the queues' account read from the role ARN (or COCOON_AWS_ACCOUNT_ID)", async () => {
    // Act
    const v = await relaySessionsFromEnv(sqsEnv());
    const s = await v!.forWorker({ jobId: JOB, attempt: 0, requester: REQUESTER, relayChannel: CHANNEL }, "w");
    const other = await relaySessionsFromEnv(sqsEnv({ COCOON_AWS_ACCOUNT_ID: "111122223333", COCOON_RELAY_SESSION_SECONDS: "1800" }));
    const t = await other!.forWorker({ jobId: JOB, attempt: 0, requester: REQUESTER, relayChannel: CHANNEL }, "w");
    sqs.on(CreateQueueCommand).callsFake((input: { QueueName: string }) => ({ QueueUrl: `https://sqs.example/${input.QueueName}` }));
    await other!.forAccount(REQUESTER, CHANNEL);
    // Assess
    expect(v).toBeInstanceOf(SqsRelaySessionVendor);
    expect(s).toMatchObject({ transport: "sqs", region: "eu-west-1" });
    if (s.transport !== "sqs" || t.transport !== "sqs") throw new Error("not sqs");
    expect(s.queueUrl).toMatch(/^https:\/\/sqs\.eu-west-1\.amazonaws\.com\/210987654321\/cocoon-prod-r-/);
    expect(t.queueUrl).toMatch(/\/111122223333\/cocoon-prod-r-/);
    expect(sts.commandCalls(AssumeRoleCommand).map((c) => [c.args[0].input.RoleArn, c.args[0].input.DurationSeconds])).toEqual([
      [ROLE, 900],
      [ROLE, 900], // a worker's: always the least (relay-sts.ts WORKER_RELAY_SESSION_SECONDS)
      [ROLE, 1800], // the requester's: the stage's
    ]);
  });

  it("one vendor per environment for the container's life (its queue URL cache survives requests)", async () => {
    // Act
    const first = await relaySessionsFromEnv(sqsEnv());
    const again = await relaySessionsFromEnv(sqsEnv());
    // Assess: a vendor at all (undefined is undefined too), and the same one
    expect(first).toBeInstanceOf(SqsRelaySessionVendor);
    expect(again).toBe(first);
  });

  it("iot-mqtt: the IoT Core vendor", async () => {
    const v = await relaySessionsFromEnv(iotEnv());
    expect(v).toBeInstanceOf(IotRelaySessionVendor);
    await expect(v!.forWorker({ jobId: JOB, attempt: 0, requester: REQUESTER }, "w")).resolves.toMatchObject({
      transport: "iot-mqtt",
      endpoint: "abc123-ats.iot.eu-west-1.amazonaws.com",
    });
  });

  it("a transport set with its variables missing or malformed, or an unknown one, is a ConfigError naming the variable, not a silent fallback", async () => {
    await expect(relaySessionsFromEnv(iotEnv({ COCOON_IOT_ENDPOINT: undefined }))).rejects.toMatchObject({
      name: "ConfigError",
      variable: "COCOON_IOT_ENDPOINT",
    });
    await expect(relaySessionsFromEnv(sqsEnv({ COCOON_RELAY_ROLE_ARN: undefined }))).rejects.toMatchObject({
      variable: "COCOON_RELAY_ROLE_ARN",
    });
    await expect(relaySessionsFromEnv(sqsEnv({ COCOON_RELAY_PREFIX: "bad prefix" }))).rejects.toMatchObject({
      variable: "COCOON_RELAY_PREFIX",
    });
    await expect(relaySessionsFromEnv(sqsEnv({ COCOON_RELAY_SESSION_SECONDS: "60" }))).rejects.toMatchObject({
      variable: "COCOON_RELAY_SESSION_SECONDS",
    });
    const unknown = relaySessionsFromEnv(sqsEnv({ COCOON_RELAY_TRANSPORT: "kafka" }));
    await expect(unknown).rejects.toMatchObject({ variable: "COCOON_RELAY_TRANSPORT" });
    await expect(unknown).rejects.toThrow(/"sqs" or "iot-mqtt"/);
  });
});

describe("lazyRelaySessionsFromEnv: the vendor of the functions that dispatch jobs (issue 12)", () => {
  it("unset (or empty) transport: none, so nothing rides in the dispatch (the HTTP relay)", () => {
    expect(lazyRelaySessionsFromEnv({})).toBeUndefined();
    expect(lazyRelaySessionsFromEnv({ ...sqsEnv(), COCOON_RELAY_TRANSPORT: "" })).toBeUndefined();
  });

  it("sqs: nothing is asked of AWS until the first dispatch; then the worker's session of the real vendor", async () => {
    // Prepare
    const v = lazyRelaySessionsFromEnv(sqsEnv());
    const before = sts.commandCalls(AssumeRoleCommand).length;
    // Act
    const s = await v!.forWorker({ jobId: JOB, attempt: 2, requester: REQUESTER, relayChannel: CHANNEL }, "w");
    // Assess
    expect(before).toBe(0);
    expect(s).toMatchObject({ transport: "sqs", region: "eu-west-1" });
    expect(sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.RoleSessionName)).toEqual([`w-${JOB}-2`]);
  });

  it("a malformed environment: the dispatch's call is refused with the ConfigError naming the variable (dispatch logs it and goes without)", async () => {
    const v = lazyRelaySessionsFromEnv(sqsEnv({ COCOON_RELAY_ROLE_ARN: undefined }));
    await expect(v!.forWorker({ jobId: JOB, attempt: 0, requester: REQUESTER, relayChannel: CHANNEL }, "w")).rejects.toMatchObject({
      name: "ConfigError",
      variable: "COCOON_RELAY_ROLE_ARN",
    });
  });
});

describe("session 23: which vendors make a queue per channel (the core caps those, core/relay-access.ts)", () => {
  it("the SQS vendor, built or lazy, says so before it is built; IoT Core does not", async () => {
    // Act
    const sqsBuilt = await relaySessionsFromEnv(sqsEnv());
    const iotBuilt = await relaySessionsFromEnv(iotEnv());
    // Assess
    expect(sqsBuilt!.channelQueues).toBe(true);
    expect(iotBuilt!.channelQueues).toBeFalsy();
    expect(lazyRelaySessionsFromEnv(sqsEnv())!.channelQueues).toBe(true);
    expect(lazyRelaySessionsFromEnv(iotEnv())!.channelQueues).toBe(false);
    expect(sts.calls()).toHaveLength(0);
  });
});
