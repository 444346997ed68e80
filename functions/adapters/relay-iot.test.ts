import { beforeEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { RelaySession, relaySenderName } from "../../events/relay";
import { accountClientId, IotRelaySessionVendor, relayTopic, requesterRelayPolicy, workerRelayPolicy } from "./relay-iot";

const ACCOUNT = "123456789012";
const IOT_ARN = `arn:aws:iot:us-east-1:${ACCOUNT}`;
const ROLE = `arn:aws:iam::${ACCOUNT}:role/prod-cocoon-Cocoon-RelayRole-1A2B3C`;
const PREFIX = "cocoon-prod";
const JOB = "job_01jdqv6x7s9k2m4n8p0r3t5w00";
const REQUESTER = "UmVxdWVzdGVyS2V5Rm9yVGhlVGVzdHNPZlRoZVJlbGF5";
const WORKER = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo";
const EXPIRES = new Date(Date.UTC(2026, 10, 25, 13, 0, 0));

// aws-sdk-client-mock stands in for STS: no AWS call is made here.
const sts = mockClient(STSClient);
const vendor = (durationSeconds = 900) =>
  new IotRelaySessionVendor({
    client: new STSClient({ region: "us-east-1" }),
    roleArn: ROLE,
    region: "us-east-1",
    endpoint: "abc123-ats.iot.us-east-1.amazonaws.com",
    iotArn: IOT_ARN,
    prefix: PREFIX,
    durationSeconds,
  });

beforeEach(() => {
  sts.reset();
  sts
    .on(AssumeRoleCommand)
    .resolves({ Credentials: { AccessKeyId: "ASIAEXAMPLE", SecretAccessKey: "secret", SessionToken: "token", Expiration: EXPIRES } });
});

describe("relay sessions on AWS IoT Core (STS mocked)", () => {
  it("the worker may publish to this job's topic under its own id, and do nothing else", async () => {
    // Act
    const s = await vendor().forWorker({ jobId: JOB, attempt: 1, requester: REQUESTER }, WORKER);
    // Assess
    const input = sts.commandCalls(AssumeRoleCommand)[0]!.args[0].input;
    expect(input).toMatchObject({ RoleArn: ROLE, RoleSessionName: `w-${JOB}-1`, DurationSeconds: 900 });
    expect(input.RoleSessionName).toBe(relaySenderName(JOB, 1)); // one rule for both relays
    expect(JSON.parse(input.Policy!)).toEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "PublishThisJobsStream",
          Effect: "Allow",
          Action: ["iot:Publish"],
          Resource: `${IOT_ARN}:topic/${PREFIX}/r/${REQUESTER}/${JOB}/${WORKER}`,
        },
      ],
    });
    expect(RelaySession.parse(s)).toEqual({
      transport: "iot-mqtt",
      endpoint: "abc123-ats.iot.us-east-1.amazonaws.com",
      region: "us-east-1",
      topic: `${PREFIX}/r/${REQUESTER}/${JOB}/${WORKER}`,
      clientId: `${PREFIX}-r-${REQUESTER}-${JOB}`,
      credentials: { accessKeyId: "ASIAEXAMPLE", secretAccessKey: "secret", sessionToken: "token", expiration: EXPIRES.getTime() },
    });
  });

  it("the requester may connect as this job's client and subscribe to / receive this job's topics under its own account only", async () => {
    // Act
    const s = await vendor().forRequester(JOB, REQUESTER);
    // Assess
    const policy = JSON.parse(sts.commandCalls(AssumeRoleCommand)[0]!.args[0].input.Policy!) as {
      Statement: Array<{ Action: string[]; Resource: string }>;
    };
    expect(policy.Statement.map((x) => [x.Action, x.Resource])).toEqual([
      [["iot:Connect"], `${IOT_ARN}:client/${PREFIX}-r-${REQUESTER}-${JOB}`],
      [["iot:Subscribe"], `${IOT_ARN}:topicfilter/${PREFIX}/r/${REQUESTER}/${JOB}/*`],
      [["iot:Receive"], `${IOT_ARN}:topic/${PREFIX}/r/${REQUESTER}/${JOB}/*`],
    ]);
    expect(s).toMatchObject({ transport: "iot-mqtt", topic: `${PREFIX}/r/${REQUESTER}/${JOB}/+` });
    // no statement reaches another job or another account
    expect(requesterRelayPolicy({ iotArn: IOT_ARN, prefix: PREFIX }, REQUESTER, JOB)).not.toMatch(/\/r\/\*|topic\/\*|\*\/\*/);
    expect(workerRelayPolicy({ iotArn: IOT_ARN, prefix: PREFIX }, REQUESTER, JOB, WORKER)).not.toContain("*");
  });

  it("session 23: two accounts asking for one job id (the requester picks it) get different client ids, so neither can connect as, and kick off, the other", async () => {
    // Prepare
    const OTHER = "T3RoZXJSZXF1ZXN0ZXJLZXlGb3JUaGVUZXN0c09mUmVs";
    // Act
    const mine = await vendor().forRequester(JOB, REQUESTER);
    const theirs = await vendor().forRequester(JOB, OTHER);
    // Assess
    const [, second] = sts
      .commandCalls(AssumeRoleCommand)
      .map((c) => JSON.parse(c.args[0].input.Policy!) as { Statement: Array<{ Resource: string }> });
    expect(theirs.transport === "iot-mqtt" && theirs.clientId).not.toBe(mine.transport === "iot-mqtt" && mine.clientId);
    expect(second!.Statement[0]!.Resource).toBe(`${IOT_ARN}:client/${PREFIX}-r-${OTHER}-${JOB}`);
    expect(second!.Statement[0]!.Resource).not.toContain("*"); // exactly its own client id
  });

  it("issue 12: an account session may connect as its own client id, subscribe to exactly its account's filter and receive its own jobs' topics, no other account's", async () => {
    // Prepare: IoT policy resources match with `*` as the only wildcard (MQTT's `+` is a plain character there)
    const allows = (resource: string, arn: string) =>
      new RegExp(`^${resource.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`).test(arn);
    const other = `${REQUESTER}x`; // an account whose name starts with this one's
    // Act
    const a = await vendor().forAccount(REQUESTER);
    const b = await vendor().forAccount(REQUESTER);
    // Assess
    const input = sts.commandCalls(AssumeRoleCommand)[0]!.args[0].input;
    const policy = JSON.parse(input.Policy!) as { Statement: Array<{ Action: string[]; Resource: string }> };
    if (a.transport !== "iot-mqtt" || b.transport !== "iot-mqtt") throw new Error("not iot-mqtt");
    expect(a.topic).toBe(`${PREFIX}/r/${REQUESTER}/+/+`);
    expect(a.clientId).toMatch(new RegExp(`^${PREFIX}-r-${REQUESTER}-[0-9a-f]{12}$`));
    expect(b.clientId).not.toBe(a.clientId); // two processes of one account each connect
    expect(policy.Statement.map((x) => [x.Action, x.Resource])).toEqual([
      [["iot:Connect"], `${IOT_ARN}:client/${a.clientId}`],
      [["iot:Subscribe"], `${IOT_ARN}:topicfilter/${PREFIX}/r/${REQUESTER}/+/+`],
      [["iot:Receive"], `${IOT_ARN}:topic/${PREFIX}/r/${REQUESTER}/*`],
    ]);
    const receive = policy.Statement[2]!.Resource;
    expect(allows(receive, `${IOT_ARN}:topic/${relayTopic(PREFIX, REQUESTER, JOB, WORKER)}`)).toBe(true);
    expect(allows(receive, `${IOT_ARN}:topic/${relayTopic(PREFIX, other, JOB, WORKER)}`)).toBe(false);
    expect(allows(policy.Statement[1]!.Resource, `${IOT_ARN}:topicfilter/${PREFIX}/r/${other}/+/+`)).toBe(false);
    expect(allows(policy.Statement[1]!.Resource, `${IOT_ARN}:topicfilter/${PREFIX}/r/+/+/+`)).toBe(false);
    expect(allows(policy.Statement[1]!.Resource, `${IOT_ARN}:topicfilter/${PREFIX}/r/${REQUESTER}/#`)).toBe(false);
    expect(allows(policy.Statement[0]!.Resource, `${IOT_ARN}:client/${b.clientId}`)).toBe(false);
    expect(input.RoleSessionName).toMatch(/^[\w+=,.@-]{2,64}$/);
  });

  it("a client id past IoT Core's 128 bytes is hashed, keeping its random part", () => {
    expect(accountClientId(PREFIX, "a".repeat(200), "0123456789ab")).toMatch(new RegExp(`^${PREFIX}-r-[0-9a-f]{40}-0123456789ab$`));
    expect(accountClientId(PREFIX, REQUESTER, "0123456789ab")).toBe(`${PREFIX}-r-${REQUESTER}-0123456789ab`);
  });

  it("session 23: a worker's publish credentials last 900 s even on a stage whose sessions last an hour (IAM cannot count publishes)", async () => {
    // Act
    await vendor(3600).forRequester(JOB, REQUESTER);
    await vendor(3600).forWorker({ jobId: JOB, attempt: 1, requester: REQUESTER }, WORKER);
    // Assess
    expect(sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.DurationSeconds)).toEqual([3600, 900]);
  });

  it("no credentials from STS is a 503; a duration outside 900-3600 s is refused at construction", async () => {
    sts.on(AssumeRoleCommand).resolves({});
    await expect(vendor().forRequester(JOB, REQUESTER)).rejects.toMatchObject({ status: 503, code: "relay_session_unavailable" });
    expect(() => vendor(60)).toThrow(/900/);
  });
});
