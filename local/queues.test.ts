import type { Context } from "aws-lambda";
import { describe, expect, it } from "vitest";
import type { QueueName } from "../core/ports";
import { describeConsumerContract, describeQueuesContract, dispatchBody, type QueuesUnderTest } from "../test/contracts/queues-contract";
import { createLocalQueues, MAX_MESSAGE_BYTES, QueueError, startConsumer, toSqsRecord, type QueueErrorCode } from "./queues";

const fakeClock = (start = Date.UTC(2025, 0, 1)) => {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
};

/** Local queues on a fake clock: advancing it and waking the queues makes time pass at once. */
const makeLocal = async (): Promise<QueuesUnderTest> => {
  const clock = fakeClock();
  const queues = createLocalQueues({ clock });
  return {
    queues,
    advance: async (ms) => {
      clock.advance(ms);
      queues.wake();
    },
  };
};

describeQueuesContract("local", makeLocal);
describeConsumerContract("local", makeLocal);

/** Local queues on the real clock: the wake timers alone must deliver delayed messages. */
describeQueuesContract("local, real clock", async () => ({
  queues: createLocalQueues(),
  advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms + 50)),
}));

const Q: QueueName = "matching";

async function queueError(p: Promise<unknown>, code: QueueErrorCode) {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(QueueError);
  expect((error as QueueError).code).toBe(code);
}

describe("local queues", () => {
  it("wakes a waiting long-poll when a delayed message becomes visible on the fake clock", async () => {
    // Prepare
    const clock = fakeClock();
    const queues = createLocalQueues({ clock });
    await queues.send(Q, dispatchBody("later"), { delaySeconds: 900 });
    const polling = queues.receive(Q, { max: 1, waitSeconds: 20, visibilitySeconds: 30 });
    // Act
    clock.advance(900_000);
    queues.wake();
    // Assess
    expect((await polling).map((m) => JSON.parse(m.body).jobId)).toEqual(["later"]);
  });

  it("wakes a waiting long-poll on the real clock when a delayed message becomes visible", async () => {
    const queues = createLocalQueues();
    await queues.send(Q, dispatchBody("soon"), { delaySeconds: 1 });
    const got = await queues.receive(Q, { max: 1, waitSeconds: 10, visibilitySeconds: 30 });
    expect(got.map((m) => JSON.parse(m.body).jobId)).toEqual(["soon"]);
  });

  it("serves long-polls first come first served", async () => {
    const queues = createLocalQueues();
    const first = queues.receive(Q, { max: 1, waitSeconds: 20, visibilitySeconds: 30 });
    const second = queues.receive(Q, { max: 1, waitSeconds: 20, visibilitySeconds: 30 });
    await queues.send(Q, dispatchBody("one"));
    await queues.send(Q, dispatchBody("two"));
    expect(JSON.parse((await first)[0]!.body).jobId).toBe("one");
    expect(JSON.parse((await second)[0]!.body).jobId).toBe("two");
  });

  it("reports visible, in-flight, delayed and waiting counts", async () => {
    const queues = createLocalQueues({ clock: fakeClock() });
    await queues.send(Q, dispatchBody());
    await queues.send(Q, dispatchBody());
    await queues.send(Q, dispatchBody(), { delaySeconds: 10 });
    await queues.receive(Q, { max: 1, waitSeconds: 0, visibilitySeconds: 30 });
    expect(queues.stats(Q)).toEqual({ visible: 1, inFlight: 1, delayed: 1, waiting: 0 });
    queues.purge(Q);
    expect(queues.stats(Q)).toEqual({ visible: 0, inFlight: 0, delayed: 0, waiting: 0 });
  });

  it("ends a long-poll early with [] when its signal aborts, and on close", async () => {
    const queues = createLocalQueues();
    const abort = new AbortController();
    const aborted = queues.receive(Q, { max: 1, waitSeconds: 20, visibilitySeconds: 30, signal: abort.signal });
    const closing = queues.receive("worker-x", { max: 1, waitSeconds: 20, visibilitySeconds: 30 });
    abort.abort();
    expect(await aborted).toEqual([]);
    expect(queues.stats(Q).waiting).toBe(0);
    queues.close();
    expect(await closing).toEqual([]);
    await queueError(queues.send(Q, dispatchBody()), "QUEUE_CLOSED");
  });

  it.each([
    ["delaySeconds 901", () => createLocalQueues().send(Q, {}, { delaySeconds: 901 })],
    ["delaySeconds 1.5", () => createLocalQueues().send(Q, {}, { delaySeconds: 1.5 })],
    ["max 11", () => createLocalQueues().receive(Q, { max: 11, waitSeconds: 0, visibilitySeconds: 1 })],
    ["max 0", () => createLocalQueues().receive(Q, { max: 0, waitSeconds: 0, visibilitySeconds: 1 })],
    ["waitSeconds 21", () => createLocalQueues().receive(Q, { max: 1, waitSeconds: 21, visibilitySeconds: 1 })],
    ["visibilitySeconds -1", () => createLocalQueues().receive(Q, { max: 1, waitSeconds: 0, visibilitySeconds: -1 })],
    ["empty receipt handle", () => createLocalQueues().delete(Q, "")],
  ])("rejects %s with QUEUE_BAD_ARGUMENT", (_name, call) => queueError(call(), "QUEUE_BAD_ARGUMENT"));

  it("rejects a body over 256 KiB with QUEUE_MESSAGE_TOO_LARGE", () =>
    queueError(createLocalQueues().send(Q, { data: "x".repeat(MAX_MESSAGE_BYTES) }), "QUEUE_MESSAGE_TOO_LARGE"));

  it("rejects a bigint body with QUEUE_BAD_BODY", () => queueError(createLocalQueues().send(Q, { amount: 1n }), "QUEUE_BAD_BODY"));

  it("rejects an undefined body with QUEUE_BAD_BODY", () => queueError(createLocalQueues().send(Q, undefined), "QUEUE_BAD_BODY"));

  it("ignores a delete with a receipt handle it never issued", async () => {
    const queues = createLocalQueues();
    await queues.send(Q, dispatchBody());
    await queues.delete(Q, "matching:not-a-message:1:x");
    expect(queues.stats(Q).visible).toBe(1);
  });

  it("refuses a consumer with batchSize 11 with QUEUE_BAD_ARGUMENT", () => {
    expect(() => startConsumer(createLocalQueues(), Q, async () => {}, { batchSize: 11, visibilitySeconds: 30 })).toThrow(
      expect.objectContaining({ code: "QUEUE_BAD_ARGUMENT" }),
    );
  });

  it("passes a Lambda context with the remaining time of the invocation", async () => {
    const queues = createLocalQueues();
    await queues.send(Q, dispatchBody());
    const context = await new Promise<Context>((resolve) => {
      const consumer = startConsumer(
        queues,
        Q,
        async (_event, ctx) => {
          resolve(ctx);
          void consumer.stop();
        },
        { batchSize: 1, visibilitySeconds: 60, functionName: "matching" },
      );
    });
    expect(context.functionName).toBe("matching");
    expect(context.invokedFunctionArn).toBe("arn:aws:lambda:local:000000000000:function:matching");
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
    expect(context.getRemainingTimeInMillis()).toBeLessThanOrEqual(60_000);
  });

  it("builds the md5 of the body like SQS", () => {
    const record = toSqsRecord("matching", { id: "m1", body: "hello", receiptHandle: "h", receiveCount: 1 });
    expect(record.md5OfBody).toBe("5d41402abc4b2a76b9719d911017c592");
    expect(record.eventSourceARN).toBe("arn:aws:sqs:local:000000000000:matching");
  });

  it("stops promptly while long-polling an empty queue", async () => {
    const queues = createLocalQueues();
    const consumer = startConsumer(queues, Q, async () => {}, { batchSize: 10, visibilitySeconds: 30, waitSeconds: 20, concurrency: 4 });
    await new Promise((r) => setImmediate(r));
    expect(queues.stats(Q).waiting).toBe(4);
    await consumer.stop();
    expect(queues.stats(Q).waiting).toBe(0);
  });

  it("handles batches concurrently and processes every message once", async () => {
    // Prepare
    const queues = createLocalQueues();
    const seen: string[] = [];
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    const consumer = startConsumer(
      queues,
      Q,
      async (event) => {
        await new Promise((r) => setImmediate(r));
        for (const r of event.Records) seen.push(JSON.parse(r.body).jobId);
        if (seen.length === 200) done();
      },
      { batchSize: 10, visibilitySeconds: 30, concurrency: 8 },
    );
    // Act
    for (let i = 0; i < 200; i++) await queues.send(Q, dispatchBody(`j${i}`));
    await all;
    await consumer.stop();
    // Assess
    expect(new Set(seen).size).toBe(200);
    expect(queues.stats(Q)).toEqual({ visible: 0, inFlight: 0, delayed: 0, waiting: 0 });
  });
});
