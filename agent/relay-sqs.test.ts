import { describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { RelayChunk, type RelaySession } from "../events/relay";
import { batchBodies, createSqsRelayPublisher } from "./relay-sqs";

type SqsSession = Extract<RelaySession, { transport: "sqs" }>;

const QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/cocoon-prod-r-acct-chan";
const session = (o: Partial<SqsSession> = {}): SqsSession => ({
  transport: "sqs",
  region: "us-east-1",
  queueUrl: QUEUE,
  credentials: { accessKeyId: "ASIAEXAMPLE", secretAccessKey: "secret", sessionToken: "token", expiration: Date.now() + 900_000 },
  ...o,
});
const chunk = (seq: number, bytes = 10): RelayChunk => ({
  jobId: "job_01jdqv6x7s9k2m4n8p0r3t5w00",
  attempt: 0,
  seq,
  final: false,
  data: "A".repeat(bytes),
});

describe("the agent's SQS relay publisher", () => {
  it("sends one chunk as one SendMessage to the session's queue, its body the chunk as JSON", async () => {
    // Prepare
    const sqs = mockClient(SQSClient);
    sqs.on(SendMessageCommand).resolves({ MessageId: "m1" });
    const publish = createSqsRelayPublisher({ client: () => Promise.resolve(new SQSClient({ region: "us-east-1" })) });
    // Act
    await publish(session(), [chunk(0)]);
    // Assess
    const calls = sqs.commandCalls(SendMessageCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input.QueueUrl).toBe(QUEUE);
    expect(RelayChunk.parse(JSON.parse(calls[0]!.args[0].input.MessageBody!))).toEqual(chunk(0));
    expect(sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
    sqs.restore();
  });

  it("sends chunks that queued together as one SendMessageBatch, in order; a partial failure fails the publish (a gap would follow)", async () => {
    // Prepare
    const sqs = mockClient(SQSClient);
    sqs
      .on(SendMessageBatchCommand)
      .resolvesOnce({ Successful: [] })
      .resolves({ Failed: [{ Id: "1", Code: "InternalError", SenderFault: false }] });
    const publish = createSqsRelayPublisher({ client: () => Promise.resolve(new SQSClient({ region: "us-east-1" })) });
    // Act
    await publish(session(), [chunk(0), chunk(1), chunk(2)]);
    const failed = publish(session(), [chunk(3), chunk(4)]);
    // Assess
    const first = sqs.commandCalls(SendMessageBatchCommand)[0]!.args[0].input;
    expect(first.Entries!.map((e) => (JSON.parse(e.MessageBody!) as RelayChunk).seq)).toEqual([0, 1, 2]);
    expect(new Set(first.Entries!.map((e) => e.Id)).size).toBe(3);
    await expect(failed).rejects.toThrow(/refused 1 of 2/);
    sqs.restore();
  });

  it("refuses expired credentials and another transport's session without sending", async () => {
    // Prepare
    const sqs = mockClient(SQSClient);
    const publish = createSqsRelayPublisher({ client: () => Promise.resolve(new SQSClient({ region: "us-east-1" })) });
    const expired = session({ credentials: { ...session().credentials, expiration: Date.now() - 1 } });
    const iot = {
      transport: "iot-mqtt",
      endpoint: "x",
      region: "us-east-1",
      topic: "t",
      clientId: "c",
      credentials: session().credentials,
    } as const;
    // Act + Assess
    await expect(publish(expired, [chunk(0)])).rejects.toThrow(/expired/);
    await expect(publish(iot, [chunk(0)])).rejects.toThrow(/not an SQS relay session/);
    expect(sqs.calls()).toHaveLength(0);
    sqs.restore();
  });

  it("batches within SendMessageBatch's limits: at most 10 entries and 256 KiB of bodies, order kept", () => {
    // Prepare
    const small = Array.from({ length: 23 }, (_, i) => `b${i}`);
    const big = ["x".repeat(100 * 1024), "y".repeat(100 * 1024), "z".repeat(100 * 1024), "w"];
    // Act
    const a = batchBodies(small);
    const b = batchBodies(big);
    // Assess
    expect(a.map((g) => g.length)).toEqual([10, 10, 3]);
    expect(a.flat()).toEqual(small);
    expect(b.map((g) => g.length)).toEqual([2, 2]);
    expect(b.flat()).toEqual(big);
    expect(batchBodies([])).toEqual([]);
  });
});
