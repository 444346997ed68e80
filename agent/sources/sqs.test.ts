import { beforeEach, describe, expect, it } from "vitest";
import type { z } from "zod";
import { mockClient } from "aws-sdk-client-mock";
import {
  SQSClient,
  ReceiveMessageCommand,
  DeleteMessageBatchCommand,
  ChangeMessageVisibilityCommand,
  GetQueueAttributesCommand,
} from "@aws-sdk/client-sqs";
import type { AgentCancel, AgentChallenge } from "../../events/api";
import { ApiError, type ApiClient } from "../../api-client/api";
import type { ApiRoute } from "../../api-client/routes";
import { createSqsJobSource, refreshingCredentials, sqsJobSourceFromApi, type AgentCredentials, type SqsJobSourceOptions } from "./sqs";
import { NOW, QUEUE_URL, WORKER, agentJob } from "./sqs-testing";

const sqs = mockClient(SQSClient);

function credsFactory(start = NOW) {
  const issued: AgentCredentials[] = [];
  let n = 0;
  const fetch = async () => {
    n++;
    const c = {
      accessKeyId: `ASIAEXAMPLE0000000${n}`,
      secretAccessKey: `secret-${n}`,
      sessionToken: `token-${n}`,
      expiration: start + 3_600_000,
    };
    issued.push(c);
    return c;
  };
  return { fetch, issued };
}

beforeEach(() => {
  sqs.reset();
});

/** Factory: a source on QUEUE_URL with fresh credentials and the mocked client; `o` overrides. */
const newSource = (o: Partial<SqsJobSourceOptions> = {}) =>
  createSqsJobSource({
    queueUrl: QUEUE_URL,
    region: "us-east-1",
    credentials: credsFactory().fetch,
    client: new SQSClient({ region: "us-east-1" }),
    ...o,
  });

describe("SQS job source", () => {
  it("long-polls its queue, validates each job and deletes the batch right after receipt", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({
      Messages: [
        { MessageId: "m1", ReceiptHandle: "rh-1", Body: JSON.stringify(agentJob(1)) },
        { MessageId: "m2", ReceiptHandle: "rh-2", Body: JSON.stringify(agentJob(2)) },
      ],
    });
    sqs.on(DeleteMessageBatchCommand).resolves({ Successful: [{ Id: "0" }, { Id: "1" }], Failed: [] });
    const source = newSource({ maxJobs: 4 });

    // Act
    const { jobs, challenges } = await source.next(30);

    // Assess
    expect(sqs.commandCalls(ReceiveMessageCommand)[0]!.args[0].input).toEqual({
      QueueUrl: QUEUE_URL,
      MaxNumberOfMessages: 4,
      WaitTimeSeconds: 20,
      MessageSystemAttributeNames: ["ApproximateReceiveCount"],
    });
    expect(jobs).toEqual([agentJob(1), agentJob(2)]);
    expect(challenges).toEqual([]);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)[0]!.args[0].input).toEqual({
      QueueUrl: QUEUE_URL,
      Entries: [
        { Id: "0", ReceiptHandle: "rh-1" },
        { Id: "1", ReceiptHandle: "rh-2" },
      ],
    });
  });

  it("issue 12: on a queue whose messages never come back (visibility ≥ retention) it deletes nothing; the attributes are read once", async () => {
    // Prepare
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { VisibilityTimeout: "43200", MessageRetentionPeriod: "3600" } });
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [{ MessageId: "m1", ReceiptHandle: "rh-1", Body: JSON.stringify(agentJob(1)) }] });
    const source = newSource();
    // Act
    const first = await source.next(20);
    const second = await source.next(20);
    // Assess
    expect([...first.jobs, ...second.jobs]).toEqual([agentJob(1), agentJob(1)]);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)).toHaveLength(0);
    expect(sqs.commandCalls(GetQueueAttributesCommand)).toHaveLength(1);
    expect(sqs.commandCalls(GetQueueAttributesCommand)[0]!.args[0].input).toEqual({
      QueueUrl: QUEUE_URL,
      AttributeNames: ["VisibilityTimeout", "MessageRetentionPeriod"],
    });
  });

  it("issue 12: a queue that would redeliver (visibility < retention: an older deploy's) or unreadable attributes: it deletes each batch as before", async () => {
    for (const attrs of [{ Attributes: { VisibilityTimeout: "300", MessageRetentionPeriod: "86400" } }, undefined]) {
      // Prepare
      sqs.reset();
      if (attrs) sqs.on(GetQueueAttributesCommand).resolves(attrs);
      else sqs.on(GetQueueAttributesCommand).rejects(Object.assign(new Error("denied"), { name: "AccessDenied" }));
      sqs.on(ReceiveMessageCommand).resolves({ Messages: [{ MessageId: "m1", ReceiptHandle: "rh-1", Body: JSON.stringify(agentJob(1)) }] });
      sqs.on(DeleteMessageBatchCommand).resolves({ Successful: [{ Id: "0" }], Failed: [] });
      const source = newSource();
      // Act
      await source.next(20);
      // Assess
      expect(sqs.commandCalls(DeleteMessageBatchCommand)).toHaveLength(1);
    }
  });

  it("issue 12: past its in-flight budget within one retention period it deletes again; once those are dropped it stops", async () => {
    // Prepare
    let now = NOW;
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { VisibilityTimeout: "43200", MessageRetentionPeriod: "3600" } });
    sqs.on(ReceiveMessageCommand).resolves({
      Messages: [
        { MessageId: "m1", ReceiptHandle: "rh-1", Body: JSON.stringify(agentJob(1)) },
        { MessageId: "m2", ReceiptHandle: "rh-2", Body: JSON.stringify(agentJob(2)) },
      ],
    });
    sqs.on(DeleteMessageBatchCommand).resolves({ Successful: [{ Id: "0" }, { Id: "1" }], Failed: [] });
    const source = newSource({ inFlightBudget: 3, now: () => now });
    // Act + Assess: 2 kept; 2 more would be 4 > 3: deleted; an hour on, the first 2 are gone: kept again
    await source.next(20);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)).toHaveLength(0);
    await source.next(20);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)).toHaveLength(1);
    now += 3_600_000;
    await source.next(20);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)).toHaveLength(1);
  });

  it("an empty long-poll costs exactly one request: no delete", async () => {
    sqs.on(ReceiveMessageCommand).resolves({});
    const source = newSource();
    expect(await source.next(20)).toEqual({ jobs: [], challenges: [], cancels: [] });
    expect(sqs.calls()).toHaveLength(1);
  });

  it("malformed messages are deleted, reported and not returned", async () => {
    // Prepare
    const bad = { ...agentJob(3), jobId: "not-a-job-id" };
    sqs.on(ReceiveMessageCommand).resolves({
      Messages: [
        { MessageId: "m1", ReceiptHandle: "rh-1", Body: "{truncated" },
        { MessageId: "m2", ReceiptHandle: "rh-2", Body: JSON.stringify(bad) },
        { MessageId: "m3", ReceiptHandle: "rh-3", Body: JSON.stringify(agentJob(4)) },
      ],
    });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const invalid: Array<{ messageId: string | undefined; reason: string }> = [];
    const source = createSqsJobSource({
      queueUrl: QUEUE_URL,
      region: "us-east-1",
      credentials: credsFactory().fetch,
      maxJobs: 10,
      onInvalid: (i) => invalid.push(i),
      client: new SQSClient({ region: "us-east-1" }),
    });

    // Act
    const { jobs } = await source.next(20);

    // Assess
    expect(jobs).toEqual([agentJob(4)]);
    expect(invalid.map((i) => i.messageId)).toEqual(["m1", "m2"]);
    expect(invalid[0]!.reason).toBe("body is not JSON");
    expect(invalid[1]!.reason).toContain("jobId");
    expect(sqs.commandCalls(DeleteMessageBatchCommand)[0]!.args[0].input.Entries).toHaveLength(3);
  });

  it("attestation challenges travel on the same queue: validated and returned apart from the jobs", async () => {
    // Prepare
    const challenge: AgentChallenge = {
      kind: "challenge",
      challengeId: "chl_01jdqv6x7s9k2m4n8p0r3t5w9z",
      nonce: "n0nce-32-bytes-n0nce-32-bytes-n0nce-32-byte",
      expiresAt: NOW + 120_000,
    };
    const shortNonce = { ...challenge, challengeId: "chl_01jdqv6x7s9k2m4n8p0r3t5wa0", nonce: "dG9vLXNob3J0" };
    sqs.on(ReceiveMessageCommand).resolves({
      Messages: [
        { MessageId: "m1", ReceiptHandle: "rh-1", Body: JSON.stringify(challenge) },
        { MessageId: "m2", ReceiptHandle: "rh-2", Body: JSON.stringify(agentJob(5)) },
        { MessageId: "m3", ReceiptHandle: "rh-3", Body: JSON.stringify(shortNonce) },
      ],
    });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const invalid: Array<{ messageId: string | undefined; reason: string }> = [];
    const source = createSqsJobSource({
      queueUrl: QUEUE_URL,
      region: "us-east-1",
      credentials: credsFactory().fetch,
      maxJobs: 10,
      onInvalid: (i) => invalid.push(i),
      client: new SQSClient({ region: "us-east-1" }),
    });

    // Act
    const batch = await source.next(20);

    // Assess
    expect(batch).toEqual({ jobs: [agentJob(5)], challenges: [challenge], cancels: [] });
    expect(invalid).toHaveLength(1);
    expect(invalid[0]!.messageId).toBe("m3");
    expect(invalid[0]!.reason).toContain("nonce");
    expect(sqs.commandCalls(DeleteMessageBatchCommand)[0]!.args[0].input.Entries).toHaveLength(3);
  });

  it("takes cancels (kind: cancel) beside jobs, drops a malformed cancel, and deletes every message it took", async () => {
    // Prepare: a cancel, a job, a cancel with a negative attempt
    const cancel: AgentCancel = { kind: "cancel", jobId: agentJob(6).jobId, attempt: 2 };
    sqs.on(ReceiveMessageCommand).resolves({
      Messages: [
        { MessageId: "m1", ReceiptHandle: "rh-1", Body: JSON.stringify(cancel) },
        { MessageId: "m2", ReceiptHandle: "rh-2", Body: JSON.stringify(agentJob(6)) },
        { MessageId: "m3", ReceiptHandle: "rh-3", Body: JSON.stringify({ ...cancel, attempt: -1 }) },
      ],
    });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const invalid: Array<{ messageId: string | undefined; reason: string }> = [];
    const source = newSource({ maxJobs: 10, onInvalid: (i) => invalid.push(i) });

    // Act
    const batch = await source.next(20);

    // Assess: the malformed cancel is reported as such, never taken for a job
    expect(batch).toEqual({ jobs: [agentJob(6)], challenges: [], cancels: [cancel] });
    expect(invalid).toEqual([{ messageId: "m3", reason: expect.stringContaining("attempt") as unknown as string }]);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)[0]!.args[0].input.Entries).toHaveLength(3);
  });

  // A draining agent's poll is woken by a message of its own kind (events/api.ts AgentWake): it
  // was reported as a malformed job (a metrics error and a log line on every drain).
  it("skips a drain's wake (kind: wake) without reporting it, and deletes it with the batch", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({
      Messages: [
        { MessageId: "m1", ReceiptHandle: "rh-1", Body: JSON.stringify({ kind: "wake" }) },
        { MessageId: "m2", ReceiptHandle: "rh-2", Body: JSON.stringify(agentJob(7)) },
      ],
    });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const invalid: Array<{ messageId: string | undefined; reason: string }> = [];
    const source = newSource({ maxJobs: 10, onInvalid: (i) => invalid.push(i) });

    // Act
    const batch = await source.next(20);

    // Assess
    expect(batch).toEqual({ jobs: [agentJob(7)], challenges: [], cancels: [] });
    expect(invalid).toEqual([]);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)[0]!.args[0].input.Entries).toHaveLength(2);
  });

  it("expired credentials are refetched once and the receive retried", async () => {
    // Prepare
    sqs
      .on(ReceiveMessageCommand)
      .rejectsOnce(Object.assign(new Error("The security token included in the request is expired"), { name: "ExpiredToken" }))
      .resolves({});
    const creds = credsFactory();
    const source = createSqsJobSource({
      queueUrl: QUEUE_URL,
      region: "us-east-1",
      credentials: creds.fetch,
      client: new SQSClient({ region: "us-east-1" }),
    });

    // Act
    await source.next(20);

    // Assess
    expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(2);
    expect(creds.issued).toHaveLength(1);
  });

  it("credentials rejected twice fail with SQS_CREDENTIALS_REJECTED", async () => {
    sqs.on(ReceiveMessageCommand).rejects(Object.assign(new Error("Access to the resource is denied"), { name: "AccessDenied" }));
    const source = newSource();
    await expect(source.next(20)).rejects.toMatchObject({ code: "SQS_CREDENTIALS_REJECTED" });
  });

  it("extendVisibility → ChangeMessageVisibility on its own queue", async () => {
    sqs.on(ChangeMessageVisibilityCommand).resolves({});
    const source = newSource();
    await source.extendVisibility("rh-9", 900);
    expect(sqs.commandCalls(ChangeMessageVisibilityCommand)[0]!.args[0].input).toEqual({
      QueueUrl: QUEUE_URL,
      ReceiptHandle: "rh-9",
      VisibilityTimeout: 900,
    });
  });

  it("the default client signs with the session credentials it fetched", async () => {
    sqs.on(ReceiveMessageCommand).resolves({});
    const creds = credsFactory();
    const source = createSqsJobSource({ queueUrl: QUEUE_URL, region: "us-east-1", credentials: creds.fetch, now: () => NOW });
    await source.next(1);
    const client = sqs.commandCalls(ReceiveMessageCommand)[0]!.thisValue as SQSClient;
    const identity = await client.config.credentials();
    expect(identity.accessKeyId).toBe("ASIAEXAMPLE00000001");
    expect(identity.sessionToken).toBe("token-1");
  });
});

describe("refreshingCredentials", () => {
  it("reuses credentials until 5 minutes before expiry, then fetches new ones (one fetch for concurrent callers)", async () => {
    // Prepare
    let now = NOW;
    const creds = credsFactory();
    const r = refreshingCredentials(creds.fetch, { now: () => now });

    // Act + Assess
    expect((await r.provider()).accessKeyId).toBe("ASIAEXAMPLE00000001");
    now = NOW + 54 * 60_000;
    expect((await r.provider()).accessKeyId).toBe("ASIAEXAMPLE00000001");
    now = NOW + 56 * 60_000;
    const [a, b] = await Promise.all([r.provider(), r.provider()]);
    expect(a.accessKeyId).toBe("ASIAEXAMPLE00000002");
    expect(b.accessKeyId).toBe("ASIAEXAMPLE00000002");
    expect(creds.issued).toHaveLength(2);
    expect(a.expiration).toEqual(new Date(NOW + 3_600_000));
  });
});

describe("sqsJobSourceFromApi", () => {
  const session = (n: number) => ({
    workerId: WORKER,
    region: "us-east-1",
    queueUrl: QUEUE_URL,
    credentials: { accessKeyId: `ASIAEXAMPLE0000000${n}`, secretAccessKey: `s${n}`, sessionToken: `t${n}`, expiration: NOW + 3_600_000 },
  });
  /** An API whose answers are parsed with the route's own schema, as ApiClient.request does. */
  const fakeApi = (answer: (n: number) => unknown, calls: string[] = [], clockOffsetMs = 0): Pick<ApiClient, "request" | "localTime"> => ({
    async request<R extends ApiRoute>(route: R): Promise<z.output<R["response"]>> {
      calls.push(`${route.method} ${route.path}`);
      return route.response.parse(answer(calls.length)) as z.output<R["response"]>;
    },
    // as ApiClient.localTime: the coordinator's time on ours, by the offset it learnt
    localTime: (serverMs) => serverMs - clockOffsetMs,
  });
  const failing = (status: number, code: string, message: string) =>
    fakeApi(() => {
      throw new ApiError(status, code, message);
    });

  it("asks the API for a session once up front and uses its queue", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({});
    const calls: string[] = [];
    const api = fakeApi(session, calls);

    // Act
    const source = await sqsJobSourceFromApi(api, { now: () => NOW });
    await source!.next(20);

    // Assess
    expect(calls).toEqual(["POST /v1/agents/session"]);
    expect(sqs.commandCalls(ReceiveMessageCommand)[0]!.args[0].input.QueueUrl).toBe(QUEUE_URL);
  });

  it.each([
    ["behind", 10 * 60_000],
    ["ahead", -10 * 60_000],
  ])("an agent whose clock is 10 min %s renews the credentials 5 min before they expire by AWS's clock, not its own", async (_, offset) => {
    // Prepare: the credentials expire an hour from NOW by the coordinator's (AWS's) clock; ours reads NOW − offset then
    sqs.on(ReceiveMessageCommand).resolves({});
    const calls: string[] = [];
    let now = NOW - offset;
    const source = await sqsJobSourceFromApi(fakeApi(session, calls, offset), { now: () => now });
    await source!.next(1);
    const client = sqs.commandCalls(ReceiveMessageCommand)[0]!.thisValue as SQSClient;
    // Act + Assess: the AWS SDK is told when they expire on our clock
    expect((await client.config.credentials()).expiration).toEqual(new Date(NOW - offset + 3_600_000));
    now = NOW - offset + 54 * 60_000;
    await client.config.credentials();
    expect(calls).toHaveLength(1);
    now = NOW - offset + 56 * 60_000;
    expect((await client.config.credentials()).accessKeyId).toBe("ASIAEXAMPLE00000002");
    expect(calls).toHaveLength(2);
  });

  it("is undefined on a network without SQS (404 sessions_unavailable): the agent keeps HTTP", async () => {
    expect(await sqsJobSourceFromApi(failing(404, "sessions_unavailable", "this network has no SQS transport"))).toBeUndefined();
  });

  it("other API failures are not hidden", async () => {
    await expect(sqsJobSourceFromApi(failing(403, "not_a_worker", "this key is not a registered worker"))).rejects.toMatchObject({
      code: "not_a_worker",
    });
  });

  it("a session answer that does not match AgentSessionResponse is refused, not used", async () => {
    await expect(sqsJobSourceFromApi(fakeApi(() => ({ ...session(1), queueUrl: "not a url" })))).rejects.toThrow();
  });
});
