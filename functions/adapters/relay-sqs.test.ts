import { createHash } from "node:crypto";
import { beforeEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { CreateQueueCommand, QueueDeletedRecently, QueueNameExists, SetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { RelaySession, relaySenderName } from "../../events/relay";
import { RELAY_QUEUE_ATTRIBUTES, relayQueueName, SqsRelaySessionVendor } from "./relay-sqs";

const AWS_ACCOUNT = "123456789012";
const REGION = "us-east-1";
const ROLE = `arn:aws:iam::${AWS_ACCOUNT}:role/prod-cocoon-Cocoon-RelayRole-1A2B3C`;
const PREFIX = "cocoon-prod";
const JOB = "job_01jdqv6x7s9k2m4n8p0r3t5w00";
const EXPIRES = new Date(Date.UTC(2026, 10, 25, 13, 0, 0));
/** An account id: an Ed25519 public key in base64url, 43 characters. */
const account = (n: number) => Buffer.alloc(32, n).toString("base64url");
const REQUESTER = account(7);
const WORKER = account(9);
const CHANNEL = "ch4nnel_A-1"; // 11 characters: `cocoon-prod-r-<43>-<11>` is 69, readable

// aws-sdk-client-mock stands in for SQS and STS: no AWS call is made here.
const sqs = mockClient(SQSClient);
const sts = mockClient(STSClient);

const vendor = (o: { durationSeconds?: number; accountId?: string; prefix?: string; roleArn?: string } = {}) =>
  new SqsRelaySessionVendor({
    sqs: new SQSClient({ region: REGION }),
    sts: new STSClient({ region: REGION }),
    roleArn: o.roleArn ?? ROLE,
    region: REGION,
    accountId: o.accountId ?? AWS_ACCOUNT,
    prefix: o.prefix ?? PREFIX,
    durationSeconds: o.durationSeconds ?? 900,
  });
const job = (o: { attempt?: number; relayChannel?: string } = {}) => ({
  jobId: JOB,
  attempt: o.attempt ?? 0,
  requester: REQUESTER,
  ...("relayChannel" in o ? (o.relayChannel === undefined ? {} : { relayChannel: o.relayChannel }) : { relayChannel: CHANNEL }),
});
const arnOf = (name: string) => `arn:aws:sqs:${REGION}:${AWS_ACCOUNT}:${name}`;
const urlOf = (name: string) => `https://sqs.${REGION}.amazonaws.com/${AWS_ACCOUNT}/${name}`;

interface Policy {
  Version: string;
  Statement: Array<{ Effect: string; Action: string[]; Resource: string }>;
}
const assumed = (i = 0) => {
  const input = sts.commandCalls(AssumeRoleCommand)[i]!.args[0].input;
  return { input, policy: JSON.parse(input.Policy!) as Policy };
};

beforeEach(() => {
  sqs.reset();
  sts.reset();
  sqs.on(CreateQueueCommand).callsFake((input: { QueueName: string }) => ({ QueueUrl: urlOf(input.QueueName) }));
  sts
    .on(AssumeRoleCommand)
    .resolves({ Credentials: { AccessKeyId: "ASIAEXAMPLE", SecretAccessKey: "secret", SessionToken: "token", Expiration: EXPIRES } });
});

describe("relay sessions over SQS: the requester's channel (SQS and STS mocked)", () => {
  it("creates the channel's queue with exactly the relay's attributes and its account's tag (the relay sweep's), then vends credentials that read and delete that queue and nothing else", async () => {
    // Prepare
    const name = `${PREFIX}-r-${REQUESTER}-${CHANNEL}`;
    // Act
    const s = await vendor().forAccount(REQUESTER, CHANNEL);
    // Assess
    expect(sqs.commandCalls(CreateQueueCommand).map((c) => c.args[0].input)).toEqual([
      {
        QueueName: name,
        Attributes: {
          MessageRetentionPeriod: "120",
          VisibilityTimeout: "43200",
          ReceiveMessageWaitTimeSeconds: "20",
          SqsManagedSseEnabled: "true",
          MaximumMessageSize: "147456",
        },
        tags: { "cocoon:account": REQUESTER },
      },
    ]);
    const { input, policy } = assumed();
    expect(input).toMatchObject({ RoleArn: ROLE, DurationSeconds: 900 });
    expect(input.RoleSessionName).toMatch(/^r-[\w+=,.@-]{1,62}$/);
    expect(policy.Version).toBe("2012-10-17");
    expect(policy.Statement).toEqual([
      {
        Sid: "ReadOwnChannel",
        Effect: "Allow",
        Action: ["sqs:ReceiveMessage", "sqs:GetQueueAttributes", "sqs:DeleteQueue"],
        Resource: arnOf(name),
      },
    ]);
    expect(RelaySession.parse(s)).toEqual({
      transport: "sqs",
      region: REGION,
      queueUrl: urlOf(name),
      credentials: { accessKeyId: "ASIAEXAMPLE", secretAccessKey: "secret", sessionToken: "token", expiration: EXPIRES.getTime() },
    });
  });

  it("a warm vendor asks SQS once per channel; another channel gets its own queue", async () => {
    // Prepare
    const v = vendor();
    // Act
    await v.forAccount(REQUESTER, CHANNEL);
    await v.forAccount(REQUESTER, CHANNEL);
    await v.forAccount(REQUESTER, "other-channel");
    // Assess
    expect(sqs.commandCalls(CreateQueueCommand).map((c) => c.args[0].input.QueueName)).toEqual([
      relayQueueName(PREFIX, REQUESTER, CHANNEL),
      relayQueueName(PREFIX, REQUESTER, "other-channel"),
    ]);
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(3); // fresh credentials each time
  });

  it("no channel is a 400 relay_channel_required that says how to ask; a malformed one a 400; neither touches SQS or STS", async () => {
    // Act
    const missing = vendor().forAccount(REQUESTER);
    const malformed = vendor().forAccount(REQUESTER, "no/slashes");
    // Assess
    await expect(missing).rejects.toMatchObject({ status: 400, code: "relay_channel_required" });
    await expect(missing).rejects.toThrow('{"scope":"account","channel":');
    await expect(malformed).rejects.toMatchObject({ status: 400, code: "invalid_request" });
    await expect(malformed).rejects.toThrow("relay channel must be 8–24 characters of A-Z a-z 0-9 _ -");
    expect(sqs.calls()).toHaveLength(0);
    expect(sts.calls()).toHaveLength(0);
  });

  it("a queue deleted less than a minute ago is a 409 telling the SDK to open a new channel (and is not cached)", async () => {
    // Prepare
    const v = vendor();
    sqs
      .on(CreateQueueCommand)
      .rejectsOnce(new QueueDeletedRecently({ message: "deleted recently", $metadata: {} }))
      .callsFake((input: { QueueName: string }) => ({ QueueUrl: urlOf(input.QueueName) }));
    // Act / Assess
    const deleted = v.forAccount(REQUESTER, CHANNEL);
    await expect(deleted).rejects.toMatchObject({ status: 409, code: "relay_channel_deleted" });
    await expect(deleted).rejects.toThrow(/deleted less than 60 s ago: open a new channel/);
    expect(sts.calls()).toHaveLength(0);
    await expect(v.forAccount(REQUESTER, CHANNEL)).resolves.toMatchObject({ transport: "sqs" });
    expect(sqs.commandCalls(CreateQueueCommand)).toHaveLength(2);
  });

  it("session 23: a channel's queue made with other attributes (an older deploy's) is a 409 relay_channel_conflict, never rewritten: no SetQueueAttributes, no credentials", async () => {
    // Prepare
    const v = vendor();
    sqs.on(CreateQueueCommand).rejects(new QueueNameExists({ message: "exists", $metadata: {} }));
    sqs.on(SetQueueAttributesCommand).resolves({});
    // Act
    const conflict = v.forAccount(REQUESTER, CHANNEL);
    // Assess
    await expect(conflict).rejects.toMatchObject({ status: 409, code: "relay_channel_conflict" });
    await expect(conflict).rejects.toThrow(/open a new channel/);
    expect(sqs.commandCalls(SetQueueAttributesCommand)).toHaveLength(0);
    expect(sts.calls()).toHaveLength(0);
    // not cached: the next ask tries CreateQueue again
    await expect(v.forAccount(REQUESTER, CHANNEL)).rejects.toMatchObject({ code: "relay_channel_conflict" });
    expect(sqs.commandCalls(CreateQueueCommand)).toHaveLength(2);
  });

  it("any other CreateQueue failure reaches the caller as SQS threw it: not a 409, not cached, no credentials vended", async () => {
    // Prepare: an SQS error of another kind, and things a client might throw that are not Errors at all
    const denied = Object.assign(new Error("not authorized to create"), { name: "AccessDenied" });
    const thrown: unknown[] = [denied, "QueueDeletedRecently", null, undefined];
    let creates = 0;
    const failing = {
      send: async () => {
        throw thrown[creates++];
      },
    } as unknown as SQSClient;
    const v = new SqsRelaySessionVendor({
      sqs: failing,
      sts: new STSClient({ region: REGION }),
      roleArn: ROLE,
      region: REGION,
      accountId: AWS_ACCOUNT,
      prefix: PREFIX,
      durationSeconds: 900,
    });
    // Act
    const got: unknown[] = [];
    for (const _ of thrown)
      got.push(
        await v.forAccount(REQUESTER, CHANNEL).then(
          () => "resolved",
          (e: unknown) => e,
        ),
      );
    // Assess: the very value thrown, each time (a string or null must not make the error check itself throw)
    expect(got).toEqual(thrown);
    expect(got[0]).toBe(denied);
    expect(creates).toBe(thrown.length);
    expect(sts.calls()).toHaveLength(0);
  });

  it("CreateQueue answering no queue URL is a 503 that says to retry, and is not cached", async () => {
    // Prepare
    const v = vendor();
    sqs
      .on(CreateQueueCommand)
      .resolvesOnce({})
      .callsFake((input: { QueueName: string }) => ({ QueueUrl: urlOf(input.QueueName) }));
    // Act
    const first = v.forAccount(REQUESTER, CHANNEL);
    // Assess
    await expect(first).rejects.toMatchObject({ status: 503, code: "relay_session_unavailable" });
    await expect(first).rejects.toThrow(/no queue URL; retry/);
    expect(sts.calls()).toHaveLength(0);
    await expect(v.forAccount(REQUESTER, CHANNEL)).resolves.toMatchObject({ queueUrl: urlOf(relayQueueName(PREFIX, REQUESTER, CHANNEL)) });
  });

  it("job-scoped requester sessions do not exist over SQS: 400 relay_scope_unsupported, pointing at scope account", async () => {
    const r = vendor().forRequester();
    await expect(r).rejects.toMatchObject({ status: 400, code: "relay_scope_unsupported" });
    await expect(r).rejects.toThrow('"scope":"account"');
  });
});

describe("relay sessions over SQS: the worker (SQS and STS mocked)", () => {
  it("the worker may only send to the job's channel queue, under the role session name the SDK checks in SenderId, and no queue is created", async () => {
    // Prepare: the requester opened its channel (another container, as in a deployment)
    const requesterSide = await vendor().forAccount(REQUESTER, CHANNEL);
    sqs.resetHistory();
    sts.resetHistory();
    // Act
    const s = await vendor().forWorker(job({ attempt: 2 }));
    // Assess
    const { input, policy } = assumed();
    expect(input.RoleSessionName).toBe(relaySenderName(JOB, 2));
    expect(input.RoleSessionName).toBe(`w-${JOB}-2`);
    expect(policy.Statement).toEqual([
      {
        Sid: "SendToThisChannel",
        Effect: "Allow",
        Action: ["sqs:SendMessage"],
        Resource: arnOf(relayQueueName(PREFIX, REQUESTER, CHANNEL)),
      },
    ]);
    expect(sqs.calls()).toHaveLength(0);
    if (requesterSide.transport !== "sqs") throw new Error("not sqs");
    expect(RelaySession.parse(s)).toMatchObject({ transport: "sqs", region: REGION, queueUrl: requesterSide.queueUrl });
  });

  it("session 23: what bounds a worker flooding its requester's channel (IAM cannot count sends): its credentials last 900 s even on a stage whose sessions last an hour, send to one queue, and the queue refuses messages over 144 KiB and drops them after 120 s", async () => {
    // Prepare: a stage that gives requesters hour-long sessions
    const v = vendor({ durationSeconds: 3600 });
    // Act
    await v.forAccount(REQUESTER, CHANNEL);
    await v.forWorker(job());
    // Assess
    expect(assumed(0).input.DurationSeconds).toBe(3600); // the requester's reader
    expect(assumed(1).input.DurationSeconds).toBe(900); // the worker's sender: the least STS gives
    expect(assumed(1).policy.Statement).toEqual([
      expect.objectContaining({ Action: ["sqs:SendMessage"], Resource: arnOf(relayQueueName(PREFIX, REQUESTER, CHANNEL)) }),
    ]);
    expect(sqs.commandCalls(CreateQueueCommand)[0]!.args[0].input.Attributes).toMatchObject({
      MaximumMessageSize: String(144 * 1024),
      MessageRetentionPeriod: "120",
    });
  });

  it("in another AWS partition (China, GovCloud) the policies name that partition's queue ARNs and the URLs its endpoints", async () => {
    // Prepare
    const cn = `arn:aws-cn:iam::${AWS_ACCOUNT}:role/prod-cocoon-Cocoon-RelayRole-1A2B3C`;
    const gov = `arn:aws-us-gov:iam::${AWS_ACCOUNT}:role/prod-cocoon-Cocoon-RelayRole-1A2B3C`;
    const name = relayQueueName(PREFIX, REQUESTER, CHANNEL);
    // Act
    const china = await vendor({ roleArn: cn }).forWorker(job());
    const chinaPolicy = assumed().policy;
    sts.resetHistory();
    const govCloud = await vendor({ roleArn: gov }).forWorker(job());
    // Assess
    expect(chinaPolicy.Statement[0]!.Resource).toBe(`arn:aws-cn:sqs:${REGION}:${AWS_ACCOUNT}:${name}`);
    expect(china).toMatchObject({ queueUrl: `https://sqs.${REGION}.amazonaws.com.cn/${AWS_ACCOUNT}/${name}` });
    expect(assumed().policy.Statement[0]!.Resource).toBe(`arn:aws-us-gov:sqs:${REGION}:${AWS_ACCOUNT}:${name}`);
    expect(govCloud).toMatchObject({ queueUrl: `https://sqs.${REGION}.amazonaws.com/${AWS_ACCOUNT}/${name}` });
  });

  it("a job submitted without a relay channel is a 409 relay_channel_unknown (answer without streaming); STS is not asked", async () => {
    const r = vendor().forWorker(job({ relayChannel: undefined }));
    await expect(r).rejects.toMatchObject({ status: 409, code: "relay_channel_unknown" });
    await expect(r).rejects.toThrow(/without streaming/);
    expect(sts.calls()).toHaveLength(0);
    expect(sqs.calls()).toHaveLength(0);
  });

  it("no credentials from STS is a 503", async () => {
    sts.on(AssumeRoleCommand).resolves({});
    await expect(vendor().forWorker(job())).rejects.toMatchObject({ status: 503, code: "relay_session_unavailable" });
  });
});

describe("channel queue names", () => {
  it("readable as <prefix>-r-<account>-<channel> while that fits SQS's 80 characters, hashed past it", () => {
    // Prepare: `cocoon-prod-r-` (14) + 43 + `-` leaves 22 characters of channel
    const fits = "c".repeat(22);
    const over = "c".repeat(23);
    // Act
    const a = relayQueueName(PREFIX, REQUESTER, fits);
    const b = relayQueueName(PREFIX, REQUESTER, over);
    // Assess
    expect(a).toBe(`${PREFIX}-r-${REQUESTER}-${fits}`);
    expect(a).toHaveLength(80);
    expect(b).toBe(`${PREFIX}-r-${createHash("sha256").update(`${REQUESTER}/${over}`).digest("hex").slice(0, 40)}`);
    for (const n of [a, b]) expect(n).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
    // a long stage hashes every channel, still within 80
    expect(relayQueueName("cocoon-a-twenty-two-char-stg", REQUESTER, "abcdefgh")).toMatch(/^cocoon-a-twenty-two-char-stg-r-[0-9a-f]{40}$/);
  });

  it("two (account, channel) pairs never share a queue, however their `-` fall or whichever form they take", () => {
    // Prepare: accounts with `-` and `_` in them, channels ending and starting with `-`, both forms
    const accounts = [
      account(7),
      account(8),
      `${"A".repeat(20)}-${"B".repeat(22)}`,
      `${"A".repeat(20)}`,
      `${"A".repeat(20)}-${"B".repeat(21)}`,
    ];
    const channels = ["abcdefgh", "-abcdefg", `${"B".repeat(22)}-abcdefgh`, "c".repeat(22), "c".repeat(23), "c".repeat(24), "abcdefg-"];
    const pairs = accounts.flatMap((a) => channels.map((c) => [a, c] as const));
    // Act
    const names = pairs.map(([a, c]) => relayQueueName(PREFIX, a, c));
    // Assess
    expect(new Set(names).size).toBe(pairs.length);
    for (const n of names) expect(n.startsWith(`${PREFIX}-r-`)).toBe(true);
    // the pair that would meet if any account length took the readable form
    expect(relayQueueName(PREFIX, "a-bcdefgh", "12345678")).not.toBe(relayQueueName(PREFIX, "a", "bcdefgh-12345678"));
    expect(relayQueueName(PREFIX, WORKER, CHANNEL)).not.toBe(relayQueueName(PREFIX, REQUESTER, CHANNEL));
  });

  it("exactly the attributes the SDK relies on (retention < visibility: received messages never come back)", () => {
    expect(Number(RELAY_QUEUE_ATTRIBUTES.VisibilityTimeout)).toBeGreaterThan(Number(RELAY_QUEUE_ATTRIBUTES.MessageRetentionPeriod));
  });

  it("a misconfigured vendor is refused at construction: duration outside 900–3600 s, an account that is not 12 digits, a prefix too long for any name", () => {
    expect(() => vendor({ durationSeconds: 60 })).toThrow(/900/);
    const misconfigured = (o: Parameters<typeof vendor>[0]) => {
      try {
        vendor(o);
      } catch (e) {
        return e;
      }
      return undefined;
    };
    for (const accountId of ["12345", `x${AWS_ACCOUNT}`, `${AWS_ACCOUNT}0`, `${AWS_ACCOUNT}\n`])
      expect(misconfigured({ accountId })).toMatchObject({
        status: 500,
        code: "relay_misconfigured",
        message: expect.stringMatching(/account/),
      });
    expect(misconfigured({ prefix: "p".repeat(38) })).toMatchObject({
      status: 500,
      code: "relay_misconfigured",
      message: expect.stringMatching(/prefix/),
    });
    expect(() => vendor({ prefix: "p".repeat(37) })).not.toThrow();
  });
});
