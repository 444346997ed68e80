/**
 * Edges of the SQS queues adapter: the exact request of each call at its limits, the batch
 * retry rule, and every error path with its named error (Stryker survivors of sqs-queues.ts).
 */
import { beforeEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import {
  SQSClient,
  SendMessageCommand,
  SendMessageBatchCommand,
  ReceiveMessageCommand,
  DeleteMessageCommand,
  CreateQueueCommand,
  ChangeMessageVisibilityCommand,
  QueueDoesNotExist,
  QueueDeletedRecently,
  type BatchResultErrorEntry,
} from "@aws-sdk/client-sqs";
import { QueueError, SQS_MAX_MESSAGE_BYTES, SqsQueues, type SqsQueuesOptions } from "./sqs-queues";

const ACCOUNT = "123456789012";
const WORKER_ID = "d29ya2VyLWVkZ2VzLTAx";
const WORKER = `worker-${WORKER_ID}` as const;
const MATCHING_URL = `https://sqs.eu-west-1.amazonaws.com/${ACCOUNT}/edge-cocoon-MatchingQueue-Q1`;
const MATCHING_DLQ_URL = `https://sqs.eu-west-1.amazonaws.com/${ACCOUNT}/edge-cocoon-MatchingDlq-Q2`;
const URL_PREFIX = `https://sqs.eu-west-1.amazonaws.com/${ACCOUNT}/cocoon-edge-`;
const DLQ_ARN = `arn:aws:sqs:eu-west-1:${ACCOUNT}:edge-cocoon-WorkerDlq-Q3`;

const sqs = mockClient(SQSClient);

// ---- small factories ----

function makeQueues(o: Partial<Omit<SqsQueuesOptions, "client">> = {}) {
  return new SqsQueues({
    client: new SQSClient({ region: "eu-west-1" }),
    matchingUrl: MATCHING_URL,
    namePrefix: "cocoon-edge-",
    urlPrefix: URL_PREFIX,
    workerDlqArn: DLQ_ARN,
    ...o,
  });
}

const check = (n: number) => ({ type: "lease", jobId: `job_edge${String(n).padStart(4, "0")}`, attempt: 1 });

/** A body whose JSON is exactly `bytes` bytes long: `{"pad":"xxx…"}` is the pad plus 10. */
const bodyOfBytes = (bytes: number) => ({ pad: "x".repeat(bytes - 10) });

/** An error as the SDK throws it for a code it has no class for: only its name matters. */
const awsError = (name: string) => Object.assign(new Error(`${name} (edge test)`), { name });

const queueMissing = () => new QueueDoesNotExist({ message: "The specified queue does not exist.", $metadata: {} });

const failure = (Id: string, SenderFault: boolean): BatchResultErrorEntry => ({
  Id,
  Code: SenderFault ? "InvalidMessageContents" : "InternalError",
  SenderFault,
});

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

const batchIds = () => sqs.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input.Entries!.map((e) => e.Id));

beforeEach(() => {
  sqs.reset();
});

describe("SqsQueues: queue names and URLs", () => {
  it("a refused queue name fails as a QueueError named so, with the reason in its message", async () => {
    // Prepare
    const q = makeQueues();

    // Act
    const err = await caught(q.send("matching-edge" as never, check(1)));

    // Assess
    expect(err).toBeInstanceOf(QueueError);
    expect(err).toMatchObject({
      name: "QueueError",
      code: "QUEUE_BAD_ARGUMENT",
      message: 'queue "matching-edge" is neither "matching" nor "worker-<id>" with a base64url worker id',
    });
    expect(sqs.calls()).toHaveLength(0);
  });

  it.each([
    ["a path before a valid-looking tail", "worker-../worker-abc"],
    ["a path after a valid-looking head", "worker-abc/../matching"],
    ["a space inside the id", "worker-abc def"],
    ["no id at all", "worker-"],
  ])("the worker id must be base64url from start to end (%s)", async (_why, name) => {
    // Prepare
    const q = makeQueues();

    // Act
    const err = await caught(q.send(name as never, check(2)));

    // Assess
    expect(err).toMatchObject({ code: "QUEUE_BAD_ARGUMENT" });
    expect(sqs.calls()).toHaveLength(0);
  });

  it("every base64url character is accepted in a worker id", async () => {
    // Prepare
    sqs.on(SendMessageCommand).resolves({});
    const id = "worker-AZaz09_-";

    // Act
    await makeQueues().send(id as never, check(3));

    // Assess
    expect(sqs.commandCalls(SendMessageCommand)[0]!.args[0].input.QueueUrl).toBe(`${URL_PREFIX}${id}`);
  });

  it("the matching DLQ without its URL is QUEUE_MISSING and says who is given it", async () => {
    // Prepare
    const q = makeQueues();

    // Act
    const err = await caught(q.receive("matching-dlq", { max: 1, waitSeconds: 0, visibilitySeconds: 30 }));

    // Assess
    expect(err).toMatchObject({
      name: "QueueError",
      code: "QUEUE_MISSING",
      message: 'queue "matching-dlq" has no URL here: only the redrive function is given COCOON_MATCHING_DLQ_URL',
    });
    expect(sqs.calls()).toHaveLength(0);
  });

  it("nameOf checks the name as urlOf does before prefixing it", () => {
    // Prepare
    const q = makeQueues();

    // Act
    const good = q.nameOf(WORKER);
    const bad = () => q.nameOf("worker-a/b" as never);

    // Assess
    expect(good).toBe(`cocoon-edge-${WORKER}`);
    expect(bad).toThrow(expect.objectContaining({ code: "QUEUE_BAD_ARGUMENT" }) as Error);
  });
});

describe("SqsQueues: message size", () => {
  it("a body of exactly 256 KiB of JSON is sent", async () => {
    // Prepare
    sqs.on(SendMessageCommand).resolves({});
    const body = bodyOfBytes(SQS_MAX_MESSAGE_BYTES);

    // Act
    await makeQueues().send("matching", body);

    // Assess
    const sent = sqs.commandCalls(SendMessageCommand)[0]!.args[0].input.MessageBody!;
    expect(Buffer.byteLength(sent)).toBe(262_144);
  });

  it("one byte more is QUEUE_MESSAGE_TOO_LARGE, with its size and the limit in the message", async () => {
    // Prepare
    const body = bodyOfBytes(SQS_MAX_MESSAGE_BYTES + 1);

    // Act
    const err = await caught(makeQueues().send(WORKER, body));

    // Assess
    expect(err).toMatchObject({
      name: "QueueError",
      code: "QUEUE_MESSAGE_TOO_LARGE",
      message: `message to ${WORKER} is 262145 bytes; SQS takes at most 262144`,
    });
    expect(sqs.calls()).toHaveLength(0);
  });

  it("the limit counts UTF-8 bytes, not characters", async () => {
    // Prepare: 3 bytes per "€", so far fewer characters than the limit
    const body = { pad: "€".repeat(90_000) };

    // Act
    const err = await caught(makeQueues().send("matching", body));

    // Assess
    expect(err).toMatchObject({ code: "QUEUE_MESSAGE_TOO_LARGE" });
  });
});

describe("SqsQueues.send: DelaySeconds", () => {
  it.each([
    [undefined, undefined],
    [0, undefined],
    [-5, undefined],
    [0.5, undefined],
    [1.9, 1],
    [900, 900],
    [901, 900],
  ])("a delay of %s s is sent as DelaySeconds %s", async (given, sent) => {
    // Prepare
    sqs.on(SendMessageCommand).resolves({});

    // Act
    await makeQueues().send("matching", check(4), given === undefined ? {} : { delaySeconds: given });

    // Assess
    const input = sqs.commandCalls(SendMessageCommand)[0]!.args[0].input;
    expect(input).toEqual({ QueueUrl: MATCHING_URL, MessageBody: JSON.stringify(check(4)), ...(sent ? { DelaySeconds: sent } : {}) });
    expect("DelaySeconds" in input).toBe(sent !== undefined);
  });
});

describe("SqsQueues.sendBatch", () => {
  it("each entry carries the clamped delay", async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });

    // Act
    await makeQueues().sendBatch(WORKER, [check(0), check(1)], { delaySeconds: 1200 });

    // Assess
    expect(sqs.commandCalls(SendMessageBatchCommand)[0]!.args[0].input).toEqual({
      QueueUrl: `${URL_PREFIX}${WORKER}`,
      Entries: [
        { Id: "0", MessageBody: JSON.stringify(check(0)), DelaySeconds: 900 },
        { Id: "1", MessageBody: JSON.stringify(check(1)), DelaySeconds: 900 },
      ],
    });
  });

  it("a delay of 0 adds no DelaySeconds to the entries", async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).resolves({});

    // Act
    await makeQueues().sendBatch("matching", [check(0)], { delaySeconds: 0 });

    // Assess
    expect(sqs.commandCalls(SendMessageBatchCommand)[0]!.args[0].input.Entries).toEqual([
      { Id: "0", MessageBody: JSON.stringify(check(0)) },
    ]);
  });

  it("exactly 10 bodies make one request; 20 make two; none make none", async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const q = makeQueues();
    const bodies = (n: number) => Array.from({ length: n }, (_, i) => check(i));

    // Act
    await q.sendBatch("matching", bodies(10));
    const afterTen = batchIds();
    sqs.resetHistory();
    await q.sendBatch("matching", bodies(20));
    const afterTwenty = batchIds();
    sqs.resetHistory();
    await q.sendBatch("matching", []);

    // Assess
    expect(afterTen).toEqual([["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]]);
    expect(afterTwenty.map((ids) => ids.length)).toEqual([10, 10]);
    expect(afterTwenty[1]![0]).toBe("10");
    expect(sqs.calls()).toHaveLength(0);
  });

  it("a response without Failed counts as all sent", async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [{ Id: "0", MessageId: "m0", MD5OfMessageBody: "x" }] });

    // Act
    await makeQueues().sendBatch("matching", [check(0)]);

    // Assess
    expect(sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(1);
  });

  it("a retry answered without a Failed list has succeeded", async () => {
    // Prepare
    sqs
      .on(SendMessageBatchCommand)
      .resolvesOnce({ Successful: [], Failed: [failure("0", false)] })
      .resolves({ Successful: [{ Id: "0", MessageId: "m0", MD5OfMessageBody: "x" }] });

    // Act
    await makeQueues().sendBatch("matching", [check(0)]);

    // Assess
    expect(batchIds()).toEqual([["0"], ["0"]]);
  });

  it("entries SQS failed on its side twice fail the batch: one retry only", async () => {
    // Prepare: a third try would succeed, but must not be made
    sqs
      .on(SendMessageBatchCommand)
      .resolvesOnce({ Successful: [], Failed: [failure("1", false)] })
      .resolvesOnce({ Successful: [], Failed: [failure("1", false)] })
      .resolves({ Successful: [], Failed: [] });

    // Act
    const err = await caught(makeQueues().sendBatch("matching", [check(0), check(1)]));

    // Assess
    expect(err).toBeInstanceOf(QueueError);
    expect(err).toMatchObject({
      name: "QueueError",
      code: "QUEUE_BATCH_FAILED",
      message: "1 of 1 messages to matching were refused by SQS",
      details: [failure("1", false)],
    });
    expect(batchIds()).toEqual([["0", "1"], ["1"]]);
  });

  it("a sender fault among the failures fails the batch at once, without a retry", async () => {
    // Prepare: the retry would succeed, but a sender fault would fail again the same way
    sqs
      .on(SendMessageBatchCommand)
      .resolvesOnce({ Successful: [], Failed: [failure("0", true), failure("2", false)] })
      .resolves({ Successful: [], Failed: [] });

    // Act
    const err = await caught(makeQueues().sendBatch("matching", [check(0), check(1), check(2)]));

    // Assess
    expect(err).toMatchObject({
      code: "QUEUE_BATCH_FAILED",
      message: "2 of 3 messages to matching were refused by SQS",
      details: [failure("0", true), failure("2", false)],
    });
    expect(sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(1);
  });

  it("a failed chunk stops the batch: the chunks after it are not sent", async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [failure("3", true)] });

    // Act
    const err = await caught(
      makeQueues().sendBatch(
        "matching",
        Array.from({ length: 15 }, (_, i) => check(i)),
      ),
    );

    // Assess
    expect(err).toMatchObject({ code: "QUEUE_BATCH_FAILED" });
    expect(sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(1);
  });

  it("a failure naming no sent entry leaves nothing to retry: no empty batch is sent", async () => {
    // Prepare: SQS refuses an empty batch (EmptyBatchRequest)
    sqs
      .on(SendMessageBatchCommand)
      .resolvesOnce({ Successful: [], Failed: [failure("99", false)] })
      .resolves({ Successful: [], Failed: [] });

    // Act
    await makeQueues().sendBatch("matching", [check(0)]);

    // Assess
    expect(batchIds()).toEqual([["0"]]);
  });

  it("a body over the limit is refused before any request", async () => {
    // Prepare
    const bodies = [check(0), bodyOfBytes(SQS_MAX_MESSAGE_BYTES + 1)];

    // Act
    const err = await caught(makeQueues().sendBatch("matching", bodies));

    // Assess
    expect(err).toMatchObject({ code: "QUEUE_MESSAGE_TOO_LARGE" });
    expect(sqs.calls()).toHaveLength(0);
  });

  it("no request carries more than 256 KiB of bodies: SQS refuses such a batch whole (BatchRequestTooLong)", async () => {
    // Prepare: three bodies of 100 KiB and a small one
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const big = bodyOfBytes(100 * 1024);

    // Act
    await makeQueues().sendBatch("matching", [big, big, big, check(3)]);

    // Assess
    const sizes = sqs
      .commandCalls(SendMessageBatchCommand)
      .map((c) => c.args[0].input.Entries!.reduce((n, e) => n + Buffer.byteLength(e.MessageBody!), 0));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(SQS_MAX_MESSAGE_BYTES);
    expect(batchIds()).toEqual([
      ["0", "1"],
      ["2", "3"],
    ]);
  });

  it("bodies of exactly 256 KiB in all go in one request", async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const half = bodyOfBytes(SQS_MAX_MESSAGE_BYTES / 2);

    // Act
    await makeQueues().sendBatch("matching", [half, half]);

    // Assess
    expect(batchIds()).toEqual([["0", "1"]]);
  });

  it("a body over the limit in a later chunk is refused before the first chunk is sent", async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const bodies = [...Array.from({ length: 10 }, (_, i) => check(i)), bodyOfBytes(SQS_MAX_MESSAGE_BYTES + 1)];

    // Act
    const err = await caught(makeQueues().sendBatch("matching", bodies));

    // Assess
    expect(err).toMatchObject({ code: "QUEUE_MESSAGE_TOO_LARGE" });
    expect(sqs.calls()).toHaveLength(0);
  });

  it("a missing queue is QUEUE_MISSING", async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).rejects(queueMissing());

    // Act
    const err = await caught(makeQueues().sendBatch(WORKER, [check(0)]));

    // Assess
    expect(err).toMatchObject({ name: "QueueError", code: "QUEUE_MISSING" });
  });
});

describe("SqsQueues.receive", () => {
  it("fields SQS leaves out map to empty strings and one receive", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [{}, { MessageId: "m2", Attributes: {} }] });

    // Act
    const msgs = await makeQueues().receive("matching", { max: 2, waitSeconds: 1, visibilitySeconds: 5 });

    // Assess
    expect(msgs).toEqual([
      { id: "", body: "", receiptHandle: "", receiveCount: 1 },
      { id: "m2", body: "", receiptHandle: "", receiveCount: 1 },
    ]);
  });

  it("no messages is an empty list", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({});

    // Act
    const msgs = await makeQueues().receive("matching", { max: 1, waitSeconds: 20, visibilitySeconds: 30 });

    // Assess
    expect(msgs).toEqual([]);
  });

  it("limits outside SQS's ranges are clamped into them", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({});

    // Act
    await makeQueues({ matchingDlqUrl: MATCHING_DLQ_URL }).receive("matching-dlq", { max: 0, waitSeconds: -1, visibilitySeconds: 99_999 });

    // Assess
    expect(sqs.commandCalls(ReceiveMessageCommand)[0]!.args[0].input).toEqual({
      QueueUrl: MATCHING_DLQ_URL,
      MaxNumberOfMessages: 1,
      WaitTimeSeconds: 0,
      VisibilityTimeout: 43_200,
      MessageSystemAttributeNames: ["ApproximateReceiveCount"],
    });
  });

  it("a missing queue is QUEUE_MISSING", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).rejects(queueMissing());

    // Act
    const err = await caught(makeQueues().receive(WORKER, { max: 1, waitSeconds: 0, visibilitySeconds: 1 }));

    // Assess
    expect(err).toMatchObject({
      code: "QUEUE_MISSING",
      message: `SQS queue for "${WORKER}" does not exist; a worker queue is created when the worker registers`,
    });
  });
});

describe("SqsQueues.delete and extendVisibility", () => {
  it("delete on a missing queue is QUEUE_MISSING", async () => {
    // Prepare
    sqs.on(DeleteMessageCommand).rejects(queueMissing());

    // Act
    const err = await caught(makeQueues().delete(WORKER, "rh-1"));

    // Assess
    expect(err).toMatchObject({ name: "QueueError", code: "QUEUE_MISSING" });
  });

  it("extendVisibility on a missing queue is QUEUE_MISSING, and the visibility is clamped to 12 h", async () => {
    // Prepare
    sqs.on(ChangeMessageVisibilityCommand).rejects(queueMissing());

    // Act
    const err = await caught(makeQueues().extendVisibility(WORKER, "rh-2", 50_000));

    // Assess
    expect(err).toMatchObject({ name: "QueueError", code: "QUEUE_MISSING" });
    expect(sqs.commandCalls(ChangeMessageVisibilityCommand)[0]!.args[0].input.VisibilityTimeout).toBe(43_200);
  });
});

describe("SqsQueues.ensure", () => {
  const created = () => sqs.commandCalls(CreateQueueCommand).map((c) => c.args[0].input);

  it("without options: 5 receives before the DLQ, 12 h visibility, 1 h retention", async () => {
    // Prepare
    sqs.on(CreateQueueCommand).resolves({});

    // Act
    await makeQueues().ensure(WORKER);

    // Assess
    const attrs = created()[0]!.Attributes!;
    expect(JSON.parse(attrs.RedrivePolicy!)).toEqual({ deadLetterTargetArn: DLQ_ARN, maxReceiveCount: 5 });
    expect(attrs).toMatchObject({ VisibilityTimeout: "43200", MessageRetentionPeriod: "3600" });
  });

  it("the options set the redrive count, visibility and retention", async () => {
    // Prepare
    sqs.on(CreateQueueCommand).resolves({});

    // Act
    await makeQueues({ maxReceives: 3, workerVisibilitySeconds: 600, workerRetentionSeconds: 7200 }).ensure(WORKER);

    // Assess
    expect(created()).toEqual([
      {
        QueueName: `cocoon-edge-${WORKER}`,
        Attributes: {
          RedrivePolicy: `{"deadLetterTargetArn":"${DLQ_ARN}","maxReceiveCount":3}`,
          VisibilityTimeout: "600",
          MessageRetentionPeriod: "7200",
          ReceiveMessageWaitTimeSeconds: "20",
          SqsManagedSseEnabled: "true",
        },
        tags: { "cocoon:kind": "worker-queue" },
      },
    ]);
  });

  it("a bad queue name is refused before CreateQueue", async () => {
    // Prepare
    const q = makeQueues();

    // Act
    const err = await caught(q.ensure("worker-a/b" as never));

    // Assess
    expect(err).toMatchObject({ code: "QUEUE_BAD_ARGUMENT" });
    expect(sqs.calls()).toHaveLength(0);
  });

  it("QueueAlreadyExists is accepted like QueueNameExists, and the queue counts as ensured", async () => {
    // Prepare
    sqs.on(CreateQueueCommand).rejects(awsError("QueueAlreadyExists"));
    const q = makeQueues();

    // Act
    await q.ensure(WORKER);
    await q.ensure(WORKER);

    // Assess
    expect(created()).toHaveLength(1);
  });

  it("any other error fails ensure as it came, and the next ensure tries again", async () => {
    // Prepare
    const denied = awsError("AccessDenied");
    sqs.on(CreateQueueCommand).rejectsOnce(denied).resolves({});
    const q = makeQueues();

    // Act
    const err = await caught(q.ensure(WORKER));
    await q.ensure(WORKER);

    // Assess
    expect(err).toBe(denied);
    expect(created()).toHaveLength(2);
  });

  it("a queue deleted less than 60 s ago is QUEUE_DELETED_RECENTLY, and is not counted as ensured", async () => {
    // Prepare
    sqs
      .on(CreateQueueCommand)
      .rejectsOnce(new QueueDeletedRecently({ message: "You must wait 60 seconds after deleting a queue", $metadata: {} }))
      .resolves({});
    const q = makeQueues();

    // Act
    const err = await caught(q.ensure(WORKER));
    await q.ensure(WORKER);

    // Assess
    expect(err).toBeInstanceOf(QueueError);
    expect(err).toMatchObject({
      name: "QueueError",
      code: "QUEUE_DELETED_RECENTLY",
      message: `SQS queue for "${WORKER}" was deleted less than 60 s ago; retry in a minute`,
    });
    expect(created()).toHaveLength(2);
  });

  it("a queue found missing later is created again by the next ensure", async () => {
    // Prepare: ensured, then deleted behind our back
    sqs.on(CreateQueueCommand).resolves({});
    sqs.on(SendMessageCommand).rejects(queueMissing());
    const q = makeQueues();
    await q.ensure(WORKER);

    // Act
    const err = await caught(q.send(WORKER, check(5)));
    await q.ensure(WORKER);

    // Assess
    expect(err).toMatchObject({ code: "QUEUE_MISSING" });
    expect(created()).toHaveLength(2);
  });
});

describe("SqsQueues: error mapping", () => {
  it("the query-protocol name AWS.SimpleQueueService.NonExistentQueue is QUEUE_MISSING too", async () => {
    // Prepare
    sqs.on(SendMessageCommand).rejects(awsError("AWS.SimpleQueueService.NonExistentQueue"));

    // Act
    const err = await caught(makeQueues().send(WORKER, check(6)));

    // Assess
    expect(err).toMatchObject({ name: "QueueError", code: "QUEUE_MISSING" });
  });

  it("QueueDeletedRecently on a send is QUEUE_DELETED_RECENTLY", async () => {
    // Prepare
    sqs.on(SendMessageCommand).rejects(awsError("QueueDeletedRecently"));

    // Act
    const err = await caught(makeQueues().send("matching", check(7)));

    // Assess
    expect(err).toMatchObject({ code: "QUEUE_DELETED_RECENTLY" });
  });

  it("an error SQS does not name for a queue is passed on unchanged", async () => {
    // Prepare
    const throttled = awsError("RequestThrottled");
    sqs.on(SendMessageCommand).rejects(throttled);

    // Act
    const err = await caught(makeQueues().send("matching", check(8)));

    // Assess
    expect(err).toBe(throttled);
  });

  it.each([
    ["a string", "socket hang up"],
    ["undefined", undefined],
    ["null", null],
    ["a number", 503],
  ])("a thrown value that is not an object (%s) is passed on unchanged", async (_what, thrown) => {
    // Prepare
    sqs.on(SendMessageCommand).callsFake(() => Promise.reject(thrown));

    // Act
    const err = await caught(makeQueues().send("matching", check(9)));

    // Assess
    expect(err).toBe(thrown);
  });

  it("a thrown object without a name is passed on unchanged", async () => {
    // Prepare
    const odd = { code: "ECONNRESET" };
    sqs.on(SendMessageCommand).callsFake(() => Promise.reject(odd));

    // Act
    const err = await caught(makeQueues().send("matching", check(10)));

    // Assess
    expect(err).toBe(odd);
  });
});
