/**
 * Edges of the local SQS consumer that sqs-consumer.test.ts leaves open (its first Stryker run,
 * session 18): the record and Lambda context it builds, its error names and codes, what it does
 * when a receive fails (reported, a pause, then on; nothing reported when stop() aborted it), a
 * malformed batchItemFailures entry, the default error report, and the timeout timer it must clear.
 */
import { pollUntil } from "../test/helpers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { QueueMessage, QueueName, Queues } from "../core/ports";
import { createLocalQueues, LOCAL_ACCOUNT, LOCAL_REGION, QueueError } from "./queues";
import {
  ConsumerResponseError,
  ConsumerTimeoutError,
  localLambdaContext,
  queueArn,
  startConsumer,
  toSqsRecord,
  type Consumer,
  type ConsumerOptions,
} from "./sqs-consumer";

const Q: QueueName = "matching";
const NOW = Date.UTC(2025, 0, 1);

/** A received message as the queues hand it over; `over` sets the local timestamps. */
const message = (over: Partial<QueueMessage & { sentTimestamp: number; firstReceiveTimestamp: number }> = {}) => ({
  id: "m-1",
  receiptHandle: "rh-1",
  body: JSON.stringify({ jobId: "j1" }),
  receiveCount: 2,
  ...over,
});

/** Resolves once `check()` holds; rejects after `ms` of real time, so a broken consumer fails the test fast. */
const eventually = (what: string, check: () => boolean, ms = 3000) =>
  pollUntil(what, () => (check() ? true : undefined), ms, 5).then(() => undefined);

const running: Consumer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.stop()));
  vi.restoreAllMocks();
});

/** A consumer on `queues` whose handler answers `answer()`; errors are recorded. */
function start(queues: Queues, answer: () => unknown, opts: Partial<ConsumerOptions> = {}) {
  const errors: Array<{ error: unknown; records: number }> = [];
  let calls = 0;
  const consumer = startConsumer(
    queues,
    Q,
    async () => {
      calls++;
      return answer() as never;
    },
    {
      batchSize: 10,
      visibilitySeconds: 1,
      waitSeconds: 0,
      onError: (error, event) => errors.push({ error, records: event.Records.length }),
      ...opts,
    },
  );
  running.push(consumer);
  return { consumer, errors, calls: () => calls };
}

describe("toSqsRecord", () => {
  it("takes the message's own sent and first-receive timestamps when it has them", () => {
    // Act
    const r = toSqsRecord(Q, message({ sentTimestamp: 1000, firstReceiveTimestamp: 2000 }), NOW);
    // Assess
    expect(r.attributes).toEqual({
      ApproximateReceiveCount: "2",
      SentTimestamp: "1000",
      SenderId: LOCAL_ACCOUNT,
      ApproximateFirstReceiveTimestamp: "2000",
    });
    expect(r).toMatchObject({ eventSource: "aws:sqs", eventSourceARN: queueArn(Q), awsRegion: LOCAL_REGION, messageAttributes: {} });
  });

  it("stamps both with `now` when the message has none", () => {
    // Act
    const r = toSqsRecord(Q, message(), NOW);
    // Assess
    expect(r.attributes.SentTimestamp).toBe(String(NOW));
    expect(r.attributes.ApproximateFirstReceiveTimestamp).toBe(String(NOW));
  });
});

describe("localLambdaContext", () => {
  it("is shaped as Lambda's context for the function, and refuses the callback-style methods", () => {
    // Act
    const c = localLambdaContext("local-matching", 30_000);
    // Assess
    expect(c).toMatchObject({
      callbackWaitsForEmptyEventLoop: false,
      functionName: "local-matching",
      functionVersion: "$LATEST",
      invokedFunctionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:local-matching`,
      memoryLimitInMB: "1024",
      logGroupName: "/aws/lambda/local-matching",
      logStreamName: `local/${process.pid}`,
    });
    expect(c.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    for (const m of [c.done, c.fail, c.succeed] as Array<() => void>) expect(m).toThrow(/not supported locally/);
  });

  it("counts the remaining time down from the timeout, never below 0", () => {
    // Prepare
    const now = vi.spyOn(Date, "now").mockReturnValue(NOW);
    const c = localLambdaContext("f", 5000);
    // Act
    now.mockReturnValue(NOW + 2000);
    const midway = c.getRemainingTimeInMillis();
    now.mockReturnValue(NOW + 9000);
    const past = c.getRemainingTimeInMillis();
    // Assess
    expect([midway, past]).toEqual([3000, 0]);
  });
});

describe("the consumer's errors", () => {
  it("names its error classes as their class names", () => {
    // Assess
    expect(new ConsumerTimeoutError("x").name).toBe("ConsumerTimeoutError");
    expect(new ConsumerResponseError("x").name).toBe("ConsumerResponseError");
  });

  it("refuses maxReceiveCount without a deadLetter with QUEUE_BAD_ARGUMENT", () => {
    // Act
    const attempt = () =>
      startConsumer(createLocalQueues(), Q, async () => undefined, { batchSize: 1, visibilitySeconds: 1, maxReceiveCount: 3 });
    // Assess
    expect(attempt).toThrow(QueueError);
    expect(attempt).toThrow(expect.objectContaining({ code: "QUEUE_BAD_ARGUMENT" }));
  });

  it("reports a null entry in batchItemFailures as a ConsumerResponseError (the batch retried), not a TypeError", async () => {
    // Prepare
    const queues = createLocalQueues();
    await queues.send(Q, { jobId: "j1" });
    // Act
    const run = start(queues, () => ({ batchItemFailures: [null] }));
    await eventually("the report", () => run.errors.length > 0);
    // Assess
    expect(run.errors[0]!.error).toBeInstanceOf(ConsumerResponseError);
    expect(String((run.errors[0]!.error as Error).message)).toMatch(/names undefined/);
  });

  it("without onError, writes the handler's failure to console.error naming the queue", async () => {
    // Prepare
    const logged: unknown[][] = [];
    vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => void logged.push(args));
    const queues = createLocalQueues();
    await queues.send(Q, { jobId: "j1" });
    const boom = new Error("handler down");
    // Act
    const consumer = startConsumer(
      queues,
      Q,
      async () => {
        throw boom;
      },
      { batchSize: 1, visibilitySeconds: 1, waitSeconds: 0 },
    );
    running.push(consumer);
    await eventually("the console report", () => logged.length > 0);
    // Assess
    expect(logged[0]).toEqual([`consumer ${Q}:`, boom]);
  });
});

describe("a receive that fails", () => {
  /** Queues whose receive fails `failures` times, then answers from real local queues. */
  function flakyQueues(failures: number, error = new Error("receive failed")) {
    const inner = createLocalQueues();
    let failed = 0;
    const queues: Queues = {
      ...inner,
      receive: async (q, o) => {
        if (failed < failures) {
          failed++;
          throw error;
        }
        return inner.receive(q, o);
      },
    };
    return { queues, inner, error };
  }

  it("is reported with an empty event, then the consumer pauses and receives again", async () => {
    // Prepare
    const { queues, inner, error } = flakyQueues(1);
    await inner.send(Q, { jobId: "j1" });
    // Act
    const run = start(queues, () => undefined);
    await eventually("the handler after the pause", () => run.calls() === 1);
    // Assess
    expect(run.errors).toEqual([{ error, records: 0 }]);
  });

  it("pauses instead of spinning: a receive failing for ever is tried about once a second", async () => {
    // Prepare
    const { queues } = flakyQueues(Number.POSITIVE_INFINITY);
    // Act
    const run = start(queues, () => undefined);
    await new Promise((r) => setTimeout(r, 300));
    await run.consumer.stop();
    // Assess
    expect(run.errors).toHaveLength(1);
  });

  it("ends its pause at stop(): stop() resolves without waiting out the second", async () => {
    // Prepare
    const { queues } = flakyQueues(Number.POSITIVE_INFINITY);
    const run = start(queues, () => undefined);
    await eventually("the first report", () => run.errors.length === 1);
    // Act
    const t0 = Date.now();
    await run.consumer.stop();
    // Assess
    expect(Date.now() - t0).toBeLessThan(900);
  });

  it("is not reported when stop() aborted it", async () => {
    // Prepare: a receive that waits until aborted, then rejects as an aborted long-poll does
    const queues: Queues = {
      ...createLocalQueues(),
      receive: (_q, o) =>
        new Promise((_, reject) => {
          const signal = (o as { signal?: AbortSignal }).signal!;
          signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true });
        }),
    };
    const run = start(queues, () => undefined);
    await new Promise((r) => setTimeout(r, 20));
    // Act
    await run.consumer.stop();
    // Assess
    expect(run.errors).toEqual([]);
  });
});

describe("the handler's timeout timer", () => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

  it("is cleared when the handler answers in time: none is left holding the process after stop()", async () => {
    // Prepare
    const queues = createLocalQueues();
    await queues.send(Q, { jobId: "j1" });
    const before = timers();
    // Act
    const run = start(queues, () => undefined, { timeoutSeconds: 900 });
    await eventually("the handler", () => run.calls() === 1);
    await run.consumer.stop();
    // Assess
    expect(timers()).toBe(before);
  });
});

describe("dead letters", () => {
  it("hands the message past maxReceiveCount to deadLetter with its receive count, and deletes it", async () => {
    // Prepare
    const queues = createLocalQueues();
    await queues.send(Q, { jobId: "j1" });
    await queues.receive(Q, { max: 1, waitSeconds: 0, visibilitySeconds: 0 });
    const dead: QueueMessage[] = [];
    // Act
    const run = start(queues, () => undefined, { maxReceiveCount: 1, deadLetter: (m) => void dead.push(m) });
    await eventually("the dead letter", () => dead.length === 1);
    await run.consumer.stop();
    // Assess
    expect(dead[0]!.receiveCount).toBe(2);
    expect(run.calls()).toBe(0);
    expect(await queues.receive(Q, { max: 10, waitSeconds: 0, visibilitySeconds: 0 })).toEqual([]);
  });
});
