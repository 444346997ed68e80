/**
 * Edges of the SQS job source that sqs.test.ts leaves open: option defaults and bounds, the
 * receive parameters sent, each error path, malformed bodies, batching and order, and an abort
 * during a long poll.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import {
  SQSClient,
  ReceiveMessageCommand,
  DeleteMessageBatchCommand,
  ChangeMessageVisibilityCommand,
  GetQueueAttributesCommand,
  type Message,
} from "@aws-sdk/client-sqs";
import type { AgentChallenge } from "../../events/api";
import {
  ATTRIBUTES_RETRY_MS,
  createSqsJobSource,
  refreshingCredentials,
  SqsSourceError,
  type AgentCredentials,
  type SqsJobSourceOptions,
} from "./sqs";
import { NOW, QUEUE_URL, agentJob } from "./sqs-testing";

const HOUR = 3_600_000;

const sqs = mockClient(SQSClient);

beforeEach(() => {
  sqs.reset();
});

// ---------------------------------------------------------------- factories

const challenge = (n: number): AgentChallenge => ({
  kind: "challenge",
  challengeId: `chl_01jdqv6x7s9k2m4n8p0r3t5w${String(n).padStart(2, "0")}`,
  nonce: "n0nce-32-bytes-n0nce-32-bytes-n0nce-32-byte",
  expiresAt: NOW + 120_000,
});

/** A received message m<n> with receipt handle rh-<n>; a non-string body is JSON-encoded. */
const msg = (n: number, body: unknown, extra: Partial<Message> = {}): Message => ({
  MessageId: `m${n}`,
  ReceiptHandle: `rh-${n}`,
  Body: typeof body === "string" ? body : JSON.stringify(body),
  ...extra,
});

/** An error as the AWS SDK throws it: what matters is its name. */
const awsError = (name: string, message = name) => Object.assign(new Error(message), { name });

function credsFactory(expiration: number | Date = NOW + HOUR) {
  const issued: AgentCredentials[] = [];
  const fetch = async () => {
    const n = issued.length + 1;
    const c = { accessKeyId: `ASIAEXAMPLE0000000${n}`, secretAccessKey: `secret-${n}`, sessionToken: `token-${n}`, expiration };
    issued.push(c);
    return c;
  };
  return { fetch, issued };
}

const KEEPING_QUEUE = { Attributes: { VisibilityTimeout: "43200", MessageRetentionPeriod: "3600" } };

/** A source on QUEUE_URL with the mocked client; `o` overrides. */
const newSource = (o: Partial<SqsJobSourceOptions> = {}) =>
  createSqsJobSource({
    queueUrl: QUEUE_URL,
    region: "us-east-1",
    credentials: credsFactory().fetch,
    client: new SQSClient({ region: "us-east-1" }),
    ...o,
  });

const receiveInput = (i = 0) => sqs.commandCalls(ReceiveMessageCommand)[i]!.args[0].input;
const deleted = () => sqs.commandCalls(DeleteMessageBatchCommand).map((c) => c.args[0].input.Entries);
const invalidLog = () => {
  const seen: Array<{ messageId: string | undefined; reason: string }> = [];
  return { seen, onInvalid: (i: { messageId: string | undefined; reason: string }) => seen.push(i) };
};

// ---------------------------------------------------------------- receive parameters

describe("SQS source: what each receive asks for", () => {
  it.each([
    [undefined, 1],
    [0, 1],
    [-3, 1],
    [1, 1],
    [2.9, 2],
    [10, 10],
    [11, 10],
    [1000, 10],
    [Number.NaN, 1],
    [Number.POSITIVE_INFINITY, 10],
  ])("maxJobs %s → MaxNumberOfMessages %i (1–10, floored)", async (maxJobs, expected) => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({});
    const source = newSource({ maxJobs });
    // Act
    await source.next(20);
    // Assess
    expect(receiveInput().MaxNumberOfMessages).toBe(expected);
  });

  it.each([
    [-5, 0],
    [0, 0],
    [0.9, 0],
    [1, 1],
    [19.99, 19],
    [20, 20],
    [21, 20],
    [3600, 20],
  ])("next(%s) → WaitTimeSeconds %i (0–20, floored)", async (wait, expected) => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({});
    const source = newSource();
    // Act
    await source.next(wait);
    // Assess
    expect(receiveInput().WaitTimeSeconds).toBe(expected);
  });

  it("asks only for ApproximateReceiveCount, no message attributes and no VisibilityTimeout override", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({});
    const source = newSource({ maxJobs: 3 });
    // Act
    await source.next(7);
    // Assess
    expect(receiveInput()).toStrictEqual({
      QueueUrl: QUEUE_URL,
      MaxNumberOfMessages: 3,
      WaitTimeSeconds: 7,
      MessageSystemAttributeNames: ["ApproximateReceiveCount"],
    });
  });

  it("every receive of one source sends the same bounded parameters", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({});
    const source = newSource({ maxJobs: 4 });
    // Act
    await source.next(20);
    await source.next(0);
    await source.next(99);
    // Assess
    expect(
      sqs.commandCalls(ReceiveMessageCommand).map((c) => [c.args[0].input.MaxNumberOfMessages, c.args[0].input.WaitTimeSeconds]),
    ).toEqual([
      [4, 20],
      [4, 0],
      [4, 20],
    ]);
  });

  it("message and system attributes on a received message do not change what is returned", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({
      Messages: [
        msg(1, agentJob(1), {
          Attributes: { ApproximateReceiveCount: "3" },
          MessageAttributes: { kind: { DataType: "String", StringValue: "challenge" } },
          MD5OfBody: "ignored",
        }),
      ],
    });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const source = newSource();
    // Act
    const batch = await source.next(20);
    // Assess: a redelivered job (receive count 3) is still a job; the attribute does not make it a challenge
    expect(batch).toEqual({ jobs: [agentJob(1)], challenges: [], cancels: [] });
  });
});

// ---------------------------------------------------------------- stop / abort

describe("SQS source: stop during a long poll", () => {
  it("hands the signal to the SDK, and an abort mid-poll rejects next() without a delete", async () => {
    // Prepare: the receive hangs until the signal fires, as the SDK's does
    const stop = new AbortController();
    sqs.on(ReceiveMessageCommand).callsFake(
      () =>
        new Promise((_, reject) => {
          stop.signal.addEventListener("abort", () => reject(awsError("AbortError", "Request aborted")));
        }),
    );
    const source = newSource({ signal: stop.signal });
    // Act
    const polling = source.next(20);
    const outcome = expect(polling).rejects.toMatchObject({ name: "AbortError" });
    stop.abort();
    // Assess
    await outcome;
    // the SDK gets the agent's signal joined with the receive's own time limit
    const passed = (sqs.commandCalls(ReceiveMessageCommand)[0]!.args as Array<{ abortSignal?: AbortSignal } | undefined>)[1];
    expect(passed?.abortSignal?.aborted).toBe(true);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)).toHaveLength(0);
    expect(sqs.commandCalls(GetQueueAttributesCommand)).toHaveLength(0);
  });

  it("an abort is not mistaken for a credential failure: no refetch, no retry", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).rejects(awsError("AbortError"));
    const creds = credsFactory();
    const source = newSource({ credentials: creds.fetch, signal: AbortSignal.abort() });
    // Act
    const outcome = source.next(20);
    // Assess
    await expect(outcome).rejects.toMatchObject({ name: "AbortError" });
    expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(1);
    expect(creds.issued).toHaveLength(0);
  });

  it("without a signal the receive still gets one: its own time limit, not yet passed", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({});
    const source = newSource();
    // Act
    await source.next(20);
    // Assess
    const passed = (sqs.commandCalls(ReceiveMessageCommand)[0]!.args as Array<{ abortSignal?: AbortSignal } | undefined>)[1];
    expect(passed?.abortSignal).toBeInstanceOf(AbortSignal);
    expect(passed?.abortSignal?.aborted).toBe(false);
  });
});

// ---------------------------------------------------------------- errors

describe("SQS source: error paths", () => {
  it.each([
    "ThrottlingException",
    "RequestThrottled",
    "OverLimit",
    "ServiceUnavailable",
    "TimeoutError",
    "ECONNRESET",
    "QueueDoesNotExist",
  ])("%s on receive is thrown as is: no credential refetch, no second receive (the runtime backs off)", async (name) => {
    // Prepare
    sqs.on(ReceiveMessageCommand).rejects(awsError(name));
    const creds = credsFactory();
    const source = newSource({ credentials: creds.fetch });
    // Act
    const outcome = source.next(20);
    // Assess
    await expect(outcome).rejects.toMatchObject({ name });
    await expect(outcome).rejects.not.toBeInstanceOf(SqsSourceError);
    expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(1);
    expect(creds.issued).toHaveLength(0);
  });

  it("a thrown non-object (no name) is rethrown untouched", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).callsFake(() => Promise.reject("socket hang up"));
    const source = newSource();
    // Act + Assess
    await expect(source.next(20)).rejects.toBe("socket hang up");
    expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(1);
  });

  it.each([
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidSecurity",
    "AccessDenied",
    "AccessDeniedException",
  ])("%s: fresh credentials are fetched once and the receive retried", async (name) => {
    // Prepare: the first credentials are cached before the rejection
    sqs
      .on(ReceiveMessageCommand)
      .rejectsOnce(awsError(name))
      .resolves({ Messages: [msg(1, agentJob(1))] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const creds = credsFactory();
    const source = newSource({ credentials: creds.fetch, now: () => NOW });
    // Act
    const batch = await source.next(20);
    // Assess
    expect(batch.jobs).toEqual([agentJob(1)]);
    expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(2);
    expect(creds.issued).toHaveLength(1);
  });

  it("the refetch really replaces cached credentials: the client built after a rejection signs with the second set", async () => {
    // Prepare: no injected client, so the source builds its own and rebuilds it after the rejection
    sqs.on(ReceiveMessageCommand).resolves({});
    const creds = credsFactory();
    const source = createSqsJobSource({ queueUrl: QUEUE_URL, region: "us-east-1", credentials: creds.fetch, now: () => NOW });
    await source.next(1);
    const first = sqs.commandCalls(ReceiveMessageCommand)[0]!.thisValue as SQSClient;
    expect((await first.config.credentials()).accessKeyId).toBe("ASIAEXAMPLE00000001");
    sqs.reset();
    sqs.on(ReceiveMessageCommand).rejectsOnce(awsError("ExpiredToken")).resolves({});
    // Act
    await source.next(1);
    // Assess
    const calls = sqs.commandCalls(ReceiveMessageCommand);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.thisValue).toBe(first);
    const rebuilt = calls[1]!.thisValue as SQSClient;
    expect(rebuilt).not.toBe(first);
    expect(rebuilt.config.region).toBeDefined();
    expect(await rebuilt.config.region()).toBe("us-east-1");
    expect(await rebuilt.config.maxAttempts()).toBe(3);
    expect((await rebuilt.config.credentials()).accessKeyId).toBe("ASIAEXAMPLE00000002");
    expect(creds.issued).toHaveLength(2);
  });

  it("rejected twice: SqsSourceError SQS_CREDENTIALS_REJECTED naming the AWS error and the fallback", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).rejectsOnce(awsError("ExpiredToken")).rejects(awsError("AccessDeniedException"));
    const source = newSource();
    // Act
    const outcome = source.next(20);
    // Assess
    await expect(outcome).rejects.toBeInstanceOf(SqsSourceError);
    await expect(outcome).rejects.toMatchObject({ name: "SqsSourceError", code: "SQS_CREDENTIALS_REJECTED" });
    await expect(outcome).rejects.toThrow(/\(AccessDeniedException\).*HTTP job source/);
    expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(2);
  });

  it("an auth error, then another failure on the retry: that failure is thrown as is", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).rejectsOnce(awsError("ExpiredToken")).rejects(awsError("ThrottlingException"));
    const source = newSource();
    // Act + Assess
    await expect(source.next(20)).rejects.toMatchObject({ name: "ThrottlingException" });
    expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(2);
  });

  it("an auth error whose credential refetch fails throws the fetch's error, without a second receive", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).rejects(awsError("ExpiredToken"));
    const source = newSource({ credentials: () => Promise.reject(new Error("session endpoint down")) });
    // Act + Assess
    await expect(source.next(20)).rejects.toThrow("session endpoint down");
    expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(1);
  });

  it("a failed batch delete (any error) is swallowed: the jobs are still returned", async () => {
    for (const failure of [awsError("ThrottlingException"), awsError("AccessDenied")]) {
      // Prepare
      sqs.reset();
      sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, agentJob(1))] });
      sqs.on(DeleteMessageBatchCommand).rejects(failure);
      const source = newSource();
      // Act
      const batch = await source.next(20);
      // Assess
      expect(batch.jobs).toEqual([agentJob(1)]);
      expect(sqs.commandCalls(DeleteMessageBatchCommand).length).toBeGreaterThanOrEqual(1);
    }
  });

  it("a delete refused for credentials is retried once with fresh ones", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, agentJob(1))] });
    sqs.on(DeleteMessageBatchCommand).rejectsOnce(awsError("ExpiredToken")).resolves({});
    const creds = credsFactory();
    const source = newSource({ credentials: creds.fetch });
    // Act
    await source.next(20);
    // Assess
    expect(deleted()).toEqual([[{ Id: "0", ReceiptHandle: "rh-1" }], [{ Id: "0", ReceiptHandle: "rh-1" }]]);
    expect(creds.issued).toHaveLength(1);
  });

  it("unreadable queue attributes (throttled) mean delete-on-receipt, and are not asked again within the retry interval", async () => {
    // Prepare
    sqs.on(GetQueueAttributesCommand).rejects(awsError("ThrottlingException"));
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, agentJob(1))] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    let t = NOW;
    const source = newSource({ now: () => t });
    // Act
    await source.next(20);
    t += ATTRIBUTES_RETRY_MS - 1;
    await source.next(20);
    // Assess
    expect(sqs.commandCalls(GetQueueAttributesCommand)).toHaveLength(1);
    expect(deleted()).toHaveLength(2);
  });

  // It used to be read once for the agent's life: one throttle at start cost a delete per batch for ever.
  it("reads the queue attributes again once the retry interval has passed after a failure, then keeps", async () => {
    // Prepare
    sqs.on(GetQueueAttributesCommand).rejectsOnce(awsError("ThrottlingException")).resolves(KEEPING_QUEUE);
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, agentJob(1))] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    let t = NOW;
    const source = newSource({ now: () => t });
    // Act
    await source.next(20);
    t += ATTRIBUTES_RETRY_MS;
    await source.next(20);
    await source.next(20);
    // Assess
    expect(sqs.commandCalls(GetQueueAttributesCommand)).toHaveLength(2);
    expect(deleted()).toHaveLength(1);
  });

  it("returns the batch's valid jobs when onInvalid throws", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, "not json"), msg(2, agentJob(2))] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const source = newSource({
      maxJobs: 10,
      onInvalid: () => {
        throw new Error("logger down");
      },
    });
    // Act
    const batch = await source.next(20);
    // Assess
    expect(batch.jobs).toEqual([agentJob(2)]);
    expect(deleted()).toHaveLength(1);
  });

  it("extendVisibility rethrows a throttle, and clamps its timeout to 0–43,200 s, floored", async () => {
    // Prepare
    sqs.on(ChangeMessageVisibilityCommand).rejectsOnce(awsError("ThrottlingException")).resolves({});
    const source = newSource();
    // Act + Assess
    await expect(source.extendVisibility("rh-1", 60)).rejects.toMatchObject({ name: "ThrottlingException" });
    await source.extendVisibility("rh-1", -1);
    await source.extendVisibility("rh-1", 12.7);
    await source.extendVisibility("rh-1", 43_200);
    await source.extendVisibility("rh-1", 43_201);
    expect(sqs.commandCalls(ChangeMessageVisibilityCommand).map((c) => c.args[0].input.VisibilityTimeout)).toEqual([
      60, 0, 12, 43_200, 43_200,
    ]);
  });

  it("extendVisibility retries once with fresh credentials after an auth error", async () => {
    // Prepare
    sqs.on(ChangeMessageVisibilityCommand).rejectsOnce(awsError("ExpiredToken")).resolves({});
    const creds = credsFactory();
    const source = newSource({ credentials: creds.fetch });
    // Act
    await source.extendVisibility("rh-1", 60);
    // Assess
    expect(sqs.commandCalls(ChangeMessageVisibilityCommand)).toHaveLength(2);
    expect(creds.issued).toHaveLength(1);
  });
});

// ---------------------------------------------------------------- malformed bodies

describe("SQS source: malformed bodies never kill the poll and are never lost silently", () => {
  it.each([
    ["an empty body", "", "body is not JSON"],
    ["plain text", "hello", "body is not JSON"],
    ["truncated JSON", '{"jobId":', "body is not JSON"],
    ["JSON null", "null", ""],
    ["a JSON number", "42", ""],
    ["a JSON array", "[]", ""],
    ["an empty object", "{}", "jobId"],
    [
      "a challenge missing its nonce",
      JSON.stringify({ kind: "challenge", challengeId: "chl_01jdqv6x7s9k2m4n8p0r3t5w01", expiresAt: 1 }),
      "nonce",
    ],
  ])("%s is reported with its message id, deleted with the batch, and the good job beside it returned", async (_, body, reason) => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, body), msg(2, agentJob(2))] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const log = invalidLog();
    const source = newSource({ maxJobs: 10, onInvalid: log.onInvalid });
    // Act
    const batch = await source.next(20);
    // Assess
    expect(batch).toEqual({ jobs: [agentJob(2)], challenges: [], cancels: [] });
    expect(log.seen).toHaveLength(1);
    expect(log.seen[0]!.messageId).toBe("m1");
    expect(log.seen[0]!.reason).toContain(reason);
    expect(log.seen[0]!.reason.length).toBeGreaterThan(0);
    expect(deleted()).toEqual([
      [
        { Id: "0", ReceiptHandle: "rh-1" },
        { Id: "1", ReceiptHandle: "rh-2" },
      ],
    ]);
  });

  it("a message without a Body is reported as not JSON", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [{ MessageId: "m1", ReceiptHandle: "rh-1" }] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const log = invalidLog();
    const source = newSource({ onInvalid: log.onInvalid });
    // Act
    const batch = await source.next(20);
    // Assess
    expect(batch).toEqual({ jobs: [], challenges: [], cancels: [] });
    expect(log.seen).toEqual([{ messageId: "m1", reason: "body is not JSON" }]);
    expect(deleted()).toHaveLength(1);
  });

  it("the zod reason lists each issue as path: message, joined by '; '", async () => {
    // Prepare
    const bad = { ...agentJob(1), jobId: "nope", attempt: "zero" };
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, bad)] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const log = invalidLog();
    const source = newSource({ onInvalid: log.onInvalid });
    // Act
    await source.next(20);
    // Assess
    expect(log.seen[0]!.reason).toMatch(/^(jobId|attempt): .+; (jobId|attempt): .+$/);
  });

  it("a nested issue is named by its dotted path", async () => {
    // Prepare
    const job = agentJob(1);
    const bad = { ...job, envelope: { ...job.envelope, header: { ...job.envelope.header, maxTokens: "many" } } };
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, bad)] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const log = invalidLog();
    const source = newSource({ onInvalid: log.onInvalid });
    // Act
    await source.next(20);
    // Assess
    expect(log.seen[0]!.reason).toMatch(/^envelope\.header\.maxTokens: /);
  });

  it("a message with kind 'challenge' but a job's other fields is a bad challenge, not a job", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, { ...agentJob(1), kind: "challenge" })] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const log = invalidLog();
    const source = newSource({ onInvalid: log.onInvalid });
    // Act
    const batch = await source.next(20);
    // Assess
    expect(batch).toEqual({ jobs: [], challenges: [], cancels: [] });
    expect(log.seen[0]!.reason).toMatch(/challengeId/);
  });

  it("a body with another kind is validated as a job", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, { ...challenge(1), kind: "other" })] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const log = invalidLog();
    const source = newSource({ onInvalid: log.onInvalid });
    // Act
    await source.next(20);
    // Assess
    expect(log.seen[0]!.reason).toContain("jobId");
  });

  it("without onInvalid a malformed message is still deleted and the poll goes on", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, "{"), msg(2, { kind: "challenge" }), msg(3, agentJob(3))] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const source = newSource({ maxJobs: 3 });
    // Act
    const batch = await source.next(20);
    // Assess
    expect(batch.jobs).toEqual([agentJob(3)]);
    expect(deleted()[0]).toHaveLength(3);
  });

  it("on a keeping queue a malformed message is reported but not deleted (it cannot come back)", async () => {
    // Prepare
    sqs.on(GetQueueAttributesCommand).resolves(KEEPING_QUEUE);
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, "garbage")] });
    const log = invalidLog();
    const source = newSource({ onInvalid: log.onInvalid });
    // Act
    await source.next(20);
    // Assess
    expect(log.seen).toEqual([{ messageId: "m1", reason: "body is not JSON" }]);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)).toHaveLength(0);
  });
});

// ---------------------------------------------------------------- batching and order

describe("SQS source: batching and order", () => {
  it("keeps SQS's order within jobs and within challenges, mixed in one batch", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({
      Messages: [msg(1, agentJob(3)), msg(2, challenge(2)), msg(3, agentJob(1)), msg(4, challenge(1)), msg(5, agentJob(2))],
    });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const source = newSource({ maxJobs: 10 });
    // Act
    const batch = await source.next(20);
    // Assess
    expect(batch.jobs.map((j) => j.jobId)).toEqual([agentJob(3).jobId, agentJob(1).jobId, agentJob(2).jobId]);
    expect(batch.challenges).toEqual([challenge(2), challenge(1)]);
  });

  it("one delete per receive; ids count only messages with a receipt handle, in order", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({
      Messages: [
        msg(1, agentJob(1)),
        msg(2, agentJob(2), { ReceiptHandle: undefined }),
        msg(3, agentJob(3)),
        msg(4, agentJob(4), { ReceiptHandle: "" }),
      ],
    });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const source = newSource({ maxJobs: 10 });
    // Act
    const batch = await source.next(20);
    // Assess
    expect(batch.jobs).toHaveLength(4);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)).toHaveLength(1);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)[0]!.args[0].input).toEqual({
      QueueUrl: QUEUE_URL,
      Entries: [
        { Id: "0", ReceiptHandle: "rh-1" },
        { Id: "1", ReceiptHandle: "rh-3" },
      ],
    });
  });

  it("messages with no receipt handle at all: no delete and no attribute read", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, agentJob(1), { ReceiptHandle: undefined })] });
    const source = newSource();
    // Act
    const batch = await source.next(20);
    // Assess
    expect(batch.jobs).toEqual([agentJob(1)]);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)).toHaveLength(0);
    expect(sqs.commandCalls(GetQueueAttributesCommand)).toHaveLength(0);
  });

  it("an empty Messages array is an empty batch: one request, no attribute read", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [] });
    const source = newSource();
    // Act
    const batch = await source.next(20);
    // Assess
    expect(batch).toEqual({ jobs: [], challenges: [], cancels: [] });
    expect(sqs.calls()).toHaveLength(1);
  });

  it("the delete is sent before next() resolves: the attribute read, the receive and the delete run in that order", async () => {
    // Prepare
    const order: string[] = [];
    sqs.on(GetQueueAttributesCommand).callsFake(async () => {
      order.push("attributes");
      return { Attributes: { VisibilityTimeout: "30", MessageRetentionPeriod: "3600" } };
    });
    sqs.on(ReceiveMessageCommand).callsFake(async () => {
      order.push("receive");
      return { Messages: [msg(1, agentJob(1))] };
    });
    sqs.on(DeleteMessageBatchCommand).callsFake(async () => {
      order.push("delete");
      return {};
    });
    const source = newSource();
    // Act
    await source.next(20);
    order.push("returned");
    // Assess
    expect(order).toEqual(["receive", "attributes", "delete", "returned"]);
  });
});

// ---------------------------------------------------------------- keeping (issue 12) bounds

describe("SQS source: the keep/delete decision and its bounds", () => {
  it.each([
    ["visibility = retention", "3600", "3600", 0],
    ["visibility one second short", "3599", "3600", 1],
    ["retention 0", "0", "0", 1],
    ["retention negative", "10", "-1", 1],
    ["visibility not a number", "abc", "3600", 1],
    ["visibility Infinity", "Infinity", "3600", 1],
    ["retention not a number", "43200", "abc", 1],
    ["visibility missing", undefined, "3600", 1],
    ["retention missing", "43200", undefined, 1],
  ])("%s (visibility %s, retention %s) → %i deletes", async (_, vis, keep, deletes) => {
    // Prepare
    const Attributes: Record<string, string> = {};
    if (vis !== undefined) Attributes.VisibilityTimeout = vis;
    if (keep !== undefined) Attributes.MessageRetentionPeriod = keep;
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes });
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, agentJob(1))] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const source = newSource({ now: () => NOW });
    // Act
    await source.next(20);
    // Assess
    expect(deleted()).toHaveLength(deletes);
  });

  it("an answer with no Attributes at all means delete", async () => {
    // Prepare
    sqs.on(GetQueueAttributesCommand).resolves({});
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, agentJob(1))] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const source = newSource();
    // Act
    await source.next(20);
    // Assess
    expect(deleted()).toHaveLength(1);
  });

  it("attributes refused for credentials are retried once with fresh ones", async () => {
    // Prepare
    sqs.on(GetQueueAttributesCommand).rejectsOnce(awsError("ExpiredToken")).resolves(KEEPING_QUEUE);
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, agentJob(1))] });
    const creds = credsFactory();
    const source = newSource({ credentials: creds.fetch });
    // Act
    await source.next(20);
    // Assess
    expect(sqs.commandCalls(GetQueueAttributesCommand)).toHaveLength(2);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)).toHaveLength(0);
    expect(sqs.commandCalls(GetQueueAttributesCommand).map((c) => c.args[0].input)).toEqual([
      { QueueUrl: QUEUE_URL, AttributeNames: ["VisibilityTimeout", "MessageRetentionPeriod"] },
      { QueueUrl: QUEUE_URL, AttributeNames: ["VisibilityTimeout", "MessageRetentionPeriod"] },
    ]);
  });

  it("the budget is inclusive: exactly the budget is kept, one more is deleted", async () => {
    // Prepare
    sqs.on(GetQueueAttributesCommand).resolves(KEEPING_QUEUE);
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, agentJob(1)), msg(2, agentJob(2))] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const source = newSource({ maxJobs: 2, inFlightBudget: 4, now: () => NOW });
    // Act + Assess
    await source.next(20);
    await source.next(20);
    expect(deleted()).toHaveLength(0);
    await source.next(20);
    expect(deleted()).toHaveLength(1);
  });

  it("a deleted batch does not count against the budget", async () => {
    // Prepare: budget 3, batches of 2: kept (2), deleted (4 > 3), then a batch of 1 is kept (3 ≤ 3)
    sqs.on(GetQueueAttributesCommand).resolves(KEEPING_QUEUE);
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [msg(1, agentJob(1)), msg(2, agentJob(2))] })
      .resolvesOnce({ Messages: [msg(3, agentJob(3)), msg(4, agentJob(4))] })
      .resolves({ Messages: [msg(5, agentJob(5))] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const source = newSource({ inFlightBudget: 3, now: () => NOW });
    // Act
    await source.next(20);
    await source.next(20);
    await source.next(20);
    // Assess
    expect(deleted()).toEqual([
      [
        { Id: "0", ReceiptHandle: "rh-3" },
        { Id: "1", ReceiptHandle: "rh-4" },
      ],
    ]);
  });

  it("kept messages leave the budget exactly one retention period after their receipt, not before", async () => {
    // Prepare
    let now = NOW;
    sqs.on(GetQueueAttributesCommand).resolves(KEEPING_QUEUE);
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, agentJob(1))] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const source = newSource({ inFlightBudget: 1, now: () => now });
    await source.next(20);
    // Act + Assess: 1 ms short of an hour: still counted, deleted
    now = NOW + HOUR - 1;
    await source.next(20);
    expect(deleted()).toHaveLength(1);
    // exactly an hour: dropped by SQS, kept again
    now = NOW + HOUR;
    await source.next(20);
    expect(deleted()).toHaveLength(1);
  });

  it("only the expired receipts leave the budget; later ones still count", async () => {
    // Prepare
    let now = NOW;
    sqs.on(GetQueueAttributesCommand).resolves(KEEPING_QUEUE);
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, agentJob(1))] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const source = newSource({ inFlightBudget: 2, now: () => now });
    await source.next(20); // kept at NOW
    now = NOW + 30 * 60_000;
    await source.next(20); // kept at +30 min
    // Act: at +60 min the first is gone, the second still counts: 1 + 1 ≤ 2 kept; then 3 > 2 deleted
    now = NOW + HOUR;
    await source.next(20);
    expect(deleted()).toHaveLength(0);
    await source.next(20);
    // Assess
    expect(deleted()).toHaveLength(1);
  });

  it("defaults: the in-flight budget is 60,000 (6,000 batches of 10 kept, the next deleted)", async () => {
    // Prepare
    sqs.on(GetQueueAttributesCommand).resolves(KEEPING_QUEUE);
    const ten = { Messages: Array.from({ length: 10 }, (_, i) => msg(i, agentJob(i))) };
    sqs.on(ReceiveMessageCommand).resolves(ten);
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const source = newSource({ maxJobs: 10, now: () => NOW });
    // Act + Assess
    for (let i = 0; i < 6_000; i++) await source.next(0);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)).toHaveLength(0);
    await source.next(0);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)).toHaveLength(1);
  }, 60_000);

  it("defaults: without `now` the clock is Date.now (receipts from now are within the retention)", async () => {
    // Prepare
    sqs.on(GetQueueAttributesCommand).resolves(KEEPING_QUEUE);
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg(1, agentJob(1))] });
    sqs.on(DeleteMessageBatchCommand).resolves({});
    const source = newSource({ inFlightBudget: 1 });
    // Act
    await source.next(20);
    await source.next(20);
    // Assess
    expect(deleted()).toHaveLength(1);
  });
});

// ---------------------------------------------------------------- refreshingCredentials bounds

describe("refreshingCredentials: defaults and bounds", () => {
  it("the default margin is exactly 5 minutes: fetches again at expiry − 5 min, not 1 ms before", async () => {
    // Prepare
    let now = NOW;
    const creds = credsFactory();
    const r = refreshingCredentials(creds.fetch, { now: () => now });
    await r.provider();
    // Act + Assess
    now = NOW + HOUR - 5 * 60_000 - 1;
    expect((await r.provider()).accessKeyId).toBe("ASIAEXAMPLE00000001");
    now = NOW + HOUR - 5 * 60_000;
    expect((await r.provider()).accessKeyId).toBe("ASIAEXAMPLE00000002");
  });

  it("a custom refreshBeforeMs replaces the default, 0 meaning at expiry", async () => {
    // Prepare
    let now = NOW;
    const creds = credsFactory();
    const r = refreshingCredentials(creds.fetch, { refreshBeforeMs: 0, now: () => now });
    await r.provider();
    // Act + Assess
    now = NOW + HOUR - 1;
    await r.provider();
    expect(creds.issued).toHaveLength(1);
    now = NOW + HOUR;
    await r.provider();
    expect(creds.issued).toHaveLength(2);
  });

  it("createSqsJobSource passes refreshBeforeMs and now through to its credentials", async () => {
    // Prepare
    let now = NOW;
    sqs.on(ReceiveMessageCommand).resolves({});
    const creds = credsFactory();
    const source = createSqsJobSource({
      queueUrl: QUEUE_URL,
      region: "us-east-1",
      credentials: creds.fetch,
      refreshBeforeMs: 10 * 60_000,
      now: () => now,
    });
    await source.next(0);
    const client = sqs.commandCalls(ReceiveMessageCommand)[0]!.thisValue as SQSClient;
    await client.config.credentials();
    // Act + Assess
    now = NOW + 49 * 60_000;
    await client.config.credentials();
    expect(creds.issued).toHaveLength(1);
    now = NOW + 51 * 60_000;
    expect((await client.config.credentials()).accessKeyId).toBe("ASIAEXAMPLE00000002");
  });

  it("a Date expiration is read as its time", async () => {
    // Prepare
    let now = NOW;
    const creds = credsFactory(new Date(NOW + HOUR));
    const r = refreshingCredentials(creds.fetch, { now: () => now });
    // Act
    const first = await r.provider();
    now = NOW + 54 * 60_000;
    await r.provider();
    // Assess
    expect(first.expiration).toEqual(new Date(NOW + HOUR));
    expect(first).toEqual({
      accessKeyId: "ASIAEXAMPLE00000001",
      secretAccessKey: "secret-1",
      sessionToken: "token-1",
      expiration: new Date(NOW + HOUR),
    });
    expect(creds.issued).toHaveLength(1);
  });

  it("without `now` it uses Date.now", async () => {
    // Prepare: credentials that expired long ago are always refetched
    const creds = credsFactory(0);
    const r = refreshingCredentials(creds.fetch);
    // Act
    await r.provider();
    await r.provider();
    // Assess
    expect(creds.issued).toHaveLength(2);
  });

  it("a failed fetch is not cached: the next call fetches again", async () => {
    // Prepare
    let fail = true;
    const creds = credsFactory();
    const r = refreshingCredentials(() => (fail ? Promise.reject(new Error("down")) : creds.fetch()), { now: () => NOW });
    // Act + Assess
    await expect(r.provider()).rejects.toThrow("down");
    fail = false;
    expect((await r.provider()).accessKeyId).toBe("ASIAEXAMPLE00000001");
  });

  it("invalidate forces one fresh fetch, shared by concurrent callers", async () => {
    // Prepare
    const creds = credsFactory();
    const r = refreshingCredentials(creds.fetch, { now: () => NOW });
    await r.provider();
    // Act
    r.invalidate();
    const [a, b] = await Promise.all([r.provider(), r.provider()]);
    // Assess
    expect([a.accessKeyId, b.accessKeyId]).toEqual(["ASIAEXAMPLE00000002", "ASIAEXAMPLE00000002"]);
    expect(creds.issued).toHaveLength(2);
  });
});
