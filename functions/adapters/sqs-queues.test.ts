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
  QueueNameExists,
} from "@aws-sdk/client-sqs";
import { QueueError, SqsQueues } from "./sqs-queues";
import { redriveMatching } from "../../core/jobs/redrive";

const ACCOUNT = "123456789012";
const WORKER = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo";
const MATCHING_URL = `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/prod-cocoon-Cocoon-MatchingQueue-AbC123`;
const URL_PREFIX = `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/cocoon-prod-`;
const DLQ_ARN = `arn:aws:sqs:us-east-1:${ACCOUNT}:prod-cocoon-Cocoon-WorkerDlq-XyZ789`;

const sqs = mockClient(SQSClient);

const MATCHING_DLQ_URL = `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/prod-cocoon-Cocoon-MatchingDlq-QwE456`;

function makeQueues(o: { matchingDlqUrl?: string } = {}) {
  return new SqsQueues({
    client: new SQSClient({ region: "us-east-1" }),
    matchingUrl: MATCHING_URL,
    ...o,
    namePrefix: "cocoon-prod-",
    urlPrefix: URL_PREFIX,
    workerDlqArn: DLQ_ARN,
    maxReceives: 5,
  });
}

const intake = (n: number) => ({ type: "dispatch", jobId: `job_01jdqv6x7s9k2m4n8p0r3t5w${String(n).padStart(2, "0")}`, attempt: 0 });

beforeEach(() => {
  sqs.reset();
});

describe("SqsQueues", () => {
  it("send → SendMessage with the JSON body and DelaySeconds (a lease check)", async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: "m1" });
    await makeQueues().send("matching", { type: "lease", jobId: "job_01jdqv6x7s9k2m4n8p0r3t5w7y", attempt: 1 }, { delaySeconds: 45 });
    expect(sqs.commandCalls(SendMessageCommand)[0]!.args[0].input).toEqual({
      QueueUrl: MATCHING_URL,
      MessageBody: '{"type":"lease","jobId":"job_01jdqv6x7s9k2m4n8p0r3t5w7y","attempt":1}',
      DelaySeconds: 45,
    });
  });

  it("a delay beyond SQS's 15 minutes is clamped to 900 s", async () => {
    sqs.on(SendMessageCommand).resolves({});
    await makeQueues().send("matching", intake(1), { delaySeconds: 3600 });
    expect(sqs.commandCalls(SendMessageCommand)[0]!.args[0].input.DelaySeconds).toBe(900);
  });

  it("a worker queue resolves to the URL of `${prefix}worker-<id>`", async () => {
    sqs.on(SendMessageCommand).resolves({});
    await makeQueues().send(`worker-${WORKER}`, { jobId: "x" });
    expect(sqs.commandCalls(SendMessageCommand)[0]!.args[0].input.QueueUrl).toBe(`${URL_PREFIX}worker-${WORKER}`);
  });

  it("a queue name that is neither matching nor worker-<base64url> is refused with QUEUE_BAD_ARGUMENT", async () => {
    await expect(makeQueues().send("worker-../../x" as never, {})).rejects.toMatchObject({ code: "QUEUE_BAD_ARGUMENT" });
    expect(sqs.calls()).toHaveLength(0);
  });

  it("a body over 256 KiB is refused with QUEUE_MESSAGE_TOO_LARGE before any request", async () => {
    await expect(makeQueues().send("matching", { pad: "x".repeat(256 * 1024) })).rejects.toMatchObject({ code: "QUEUE_MESSAGE_TOO_LARGE" });
    expect(sqs.calls()).toHaveLength(0);
  });

  it("sending to a queue that does not exist fails with QUEUE_MISSING", async () => {
    sqs.on(SendMessageCommand).rejects(new QueueDoesNotExist({ message: "The specified queue does not exist.", $metadata: {} }));
    const err = await makeQueues()
      .send(`worker-${WORKER}`, {})
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueError);
    expect((err as QueueError).code).toBe("QUEUE_MISSING");
  });

  it("sendBatch sends 10 per request and retries only the entries SQS failed on its side", async () => {
    // Prepare
    sqs
      .on(SendMessageBatchCommand)
      .resolvesOnce({ Successful: [], Failed: [{ Id: "3", Code: "InternalError", SenderFault: false }] })
      .resolves({ Successful: [], Failed: [] });

    // Act
    await makeQueues().sendBatch(
      "matching",
      Array.from({ length: 12 }, (_, i) => intake(i)),
    );

    // Assess
    const calls = sqs.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => c.Entries!.map((e) => e.Id))).toEqual([
      ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
      ["3"],
      ["10", "11"],
    ]);
    expect(calls[1]!.Entries![0]).toEqual({ Id: "3", MessageBody: JSON.stringify(intake(3)) });
  });

  it("sendBatch gives up with QUEUE_BATCH_FAILED on a sender fault", async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [{ Id: "0", Code: "InvalidMessageContents", SenderFault: true }] });
    await expect(makeQueues().sendBatch("matching", [intake(0)])).rejects.toMatchObject({ code: "QUEUE_BATCH_FAILED" });
  });

  it("receive long-polls with SQS's limits and maps the messages", async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).resolves({
      Messages: [{ MessageId: "m1", Body: '{"a":1}', ReceiptHandle: "rh-1", Attributes: { ApproximateReceiveCount: "3" } }],
    });

    // Act
    const msgs = await makeQueues().receive(`worker-${WORKER}`, { max: 25, waitSeconds: 60, visibilitySeconds: 30 });

    // Assess
    expect(sqs.commandCalls(ReceiveMessageCommand)[0]!.args[0].input).toEqual({
      QueueUrl: `${URL_PREFIX}worker-${WORKER}`,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 20,
      VisibilityTimeout: 30,
      MessageSystemAttributeNames: ["ApproximateReceiveCount"],
    });
    expect(msgs).toEqual([{ id: "m1", body: '{"a":1}', receiptHandle: "rh-1", receiveCount: 3 }]);
  });

  it("delete → DeleteMessage; extendVisibility → ChangeMessageVisibility", async () => {
    sqs.on(DeleteMessageCommand).resolves({}).on(ChangeMessageVisibilityCommand).resolves({});
    const q = makeQueues();
    await q.delete("matching", "rh-1");
    await q.extendVisibility(`worker-${WORKER}`, "rh-2", 600);
    expect(sqs.commandCalls(DeleteMessageCommand)[0]!.args[0].input).toEqual({ QueueUrl: MATCHING_URL, ReceiptHandle: "rh-1" });
    expect(sqs.commandCalls(ChangeMessageVisibilityCommand)[0]!.args[0].input).toEqual({
      QueueUrl: `${URL_PREFIX}worker-${WORKER}`,
      ReceiptHandle: "rh-2",
      VisibilityTimeout: 600,
    });
  });

  it("ensure creates the worker queue once, with a redrive policy to the worker DLQ", async () => {
    // Prepare
    sqs.on(CreateQueueCommand).resolves({ QueueUrl: `${URL_PREFIX}worker-${WORKER}` });
    const q = makeQueues();

    // Act
    await q.ensure(`worker-${WORKER}`);
    await q.ensure(`worker-${WORKER}`);
    await q.ensure("matching");

    // Assess
    expect(sqs.commandCalls(CreateQueueCommand)).toHaveLength(1);
    expect(sqs.commandCalls(CreateQueueCommand)[0]!.args[0].input).toEqual({
      QueueName: `cocoon-prod-worker-${WORKER}`,
      Attributes: {
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: DLQ_ARN, maxReceiveCount: 5 }),
        VisibilityTimeout: "43200",
        MessageRetentionPeriod: "3600",
        ReceiveMessageWaitTimeSeconds: "20",
        SqsManagedSseEnabled: "true",
      },
      tags: { "cocoon:kind": "worker-queue" },
    });
  });

  it("ensure accepts a queue that exists with other attributes (QueueNameExists)", async () => {
    sqs.on(CreateQueueCommand).rejects(
      new QueueNameExists({
        message: "A queue already exists with the same name and a different value for attribute VisibilityTimeout",
        $metadata: {},
      }),
    );
    await expect(makeQueues().ensure(`worker-${WORKER}`)).resolves.toBeUndefined();
  });

  it("issue 12: the redrive reads the matching DLQ (given to it alone), sends each check back counted, then deletes it there", async () => {
    // Prepare
    const check = { type: "lease", jobId: "job_01jdqv6x7s9k2m4n8p0r3t5w7y", attempt: 1 };
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [{ MessageId: "d1", Body: JSON.stringify(check), ReceiptHandle: "rh-d1", Attributes: { ApproximateReceiveCount: "1" } }],
      })
      .resolves({});
    sqs.on(SendMessageCommand).resolves({});
    sqs.on(DeleteMessageCommand).resolves({});
    const log = { info() {}, warn() {}, error() {} };

    // Act
    const report = await redriveMatching({ queues: makeQueues({ matchingDlqUrl: MATCHING_DLQ_URL }), log });

    // Assess
    expect(report).toEqual({ redriven: 1, left: 0 });
    expect(sqs.commandCalls(ReceiveMessageCommand).map((c) => c.args[0].input.QueueUrl)).toEqual([MATCHING_DLQ_URL, MATCHING_DLQ_URL]);
    expect(sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input)).toEqual([
      { QueueUrl: MATCHING_URL, MessageBody: JSON.stringify({ ...check, redrives: 1 }) },
    ]);
    expect(sqs.commandCalls(DeleteMessageCommand).map((c) => c.args[0].input)).toEqual([
      { QueueUrl: MATCHING_DLQ_URL, ReceiptHandle: "rh-d1" },
    ]);
  });

  it("a function not given the matching DLQ's URL cannot name it (QUEUE_MISSING), and sends nothing", async () => {
    await expect(makeQueues().send("matching-dlq", { type: "tab" })).rejects.toMatchObject({ code: "QUEUE_MISSING" });
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
  });
});
