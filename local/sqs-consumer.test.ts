/**
 * The Lambda-style SQS consumer on the in-process queues. The queues run on a fake clock, so
 * visibility timeouts pass only when a test advances it (then `wake()` hands the redelivery to
 * the consumer's long-poll): redeliveries happen exactly when a test says so, and never late.
 *
 * The consumers long-poll with waitSeconds 1 (a send or wake() hands a message over at once);
 * waitSeconds 0 has its own test below (it once froze the process: a loop of resolved promises).
 */
import { pollUntil } from "../test/helpers";
import { spawnSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import type { QueueMessage, QueueName } from "../core/ports";
import { createLocalQueues, QueueError, type LocalQueues } from "./queues";
import { ConsumerResponseError, ConsumerTimeoutError, queueArn, startConsumer, type Consumer, type ConsumerOptions } from "./sqs-consumer";

type Handler = Parameters<typeof startConsumer>[2];
type SqsEvent = Parameters<Handler>[0];
type LambdaContext = Parameters<Handler>[1];
type BatchResponse = Awaited<ReturnType<Handler>>;

const Q: QueueName = "matching";

const fakeClock = (start = Date.UTC(2025, 0, 1)) => {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
};

const job = (jobId: string) => ({ type: "dispatch", jobId, attempt: 0 });
const jobOf = (r: { body: string }) => (JSON.parse(r.body) as { jobId: string }).jobId;
const receiveCount = (r: { attributes: { ApproximateReceiveCount: string } }) => r.attributes.ApproximateReceiveCount;
/** Reports every record of the event whose job is in `jobs` as failed. */
const fail = (event: SqsEvent, ...jobs: string[]): BatchResponse => ({
  batchItemFailures: event.Records.filter((r) => jobs.includes(jobOf(r))).map((r) => ({ itemIdentifier: r.messageId })),
});

/** Resolves once `check()` holds; rejects after `ms` of real time, so a broken consumer fails the test fast. */
const eventually = (what: string, check: () => boolean, ms = 2000) =>
  pollUntil(what, () => (check() ? true : undefined), ms, 5).then(() => undefined);

/** Every consumer a test starts; stopped after each test even when it fails half-way. */
const running: Consumer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.stop()));
});

interface Consume {
  queues: LocalQueues;
  consumer: Consumer;
  events: SqsEvent[];
  contexts: LambdaContext[];
  errors: Array<{ error: unknown; event: SqsEvent }>;
  deadLetters: QueueMessage[];
  /** Lets `ms` of queue time pass and wakes the consumer's long-poll. */
  advance(ms: number): void;
  /** Resolves once the handler has been called `n` times. */
  calls(n: number): Promise<void>;
  /** Takes what is receivable now (each message becomes invisible for `visibilitySeconds`), bypassing the consumer. */
  receiveNow(visibilitySeconds?: number): Promise<QueueMessage[]>;
}

/**
 * Local queues on a fake clock holding `jobs` (sent before the consumer starts, so batches are
 * predictable), and a consumer whose handler records every event and answers `handler(event, call)`.
 */
async function consume(
  jobs: string[],
  handler: (event: SqsEvent, call: number, context: LambdaContext) => BatchResponse | Promise<BatchResponse>,
  opts: Partial<ConsumerOptions> = {},
  queue: QueueName = Q,
): Promise<Consume> {
  const clock = fakeClock();
  const queues = createLocalQueues({ clock });
  for (const j of jobs) await queues.send(queue, job(j));
  const events: SqsEvent[] = [];
  const contexts: LambdaContext[] = [];
  const errors: Consume["errors"] = [];
  const deadLetters: QueueMessage[] = [];
  const consumer = startConsumer(
    queues,
    queue,
    async (event, context) => {
      events.push(event);
      contexts.push(context);
      return handler(event, events.length, context);
    },
    {
      batchSize: 10,
      visibilitySeconds: 1,
      waitSeconds: 1,
      onError: (error, event) => errors.push({ error, event }),
      ...(opts.maxReceiveCount !== undefined ? { deadLetter: (m: QueueMessage) => void deadLetters.push(m) } : {}),
      ...opts,
    },
  );
  running.push(consumer);
  return {
    queues,
    consumer,
    events,
    contexts,
    errors,
    deadLetters,
    advance: (ms) => {
      clock.advance(ms);
      queues.wake();
    },
    calls: (n) => eventually(`handler call ${n}`, () => events.length >= n),
    receiveNow: (visibilitySeconds = 30) => queues.receive(queue, { max: 10, waitSeconds: 0, visibilitySeconds }),
  };
}

describe("local SQS consumer", () => {
  it("hands the handler Lambda SQS records in batches of at most batchSize and deletes the handled ones", async () => {
    // Prepare
    const run = await consume(["a", "b", "c", "d", "e"], () => undefined, { batchSize: 2 });
    // Act
    await run.calls(3);
    await run.consumer.stop();
    run.advance(60_000);
    // Assess
    expect(run.events.map((e) => e.Records.map(jobOf))).toEqual([["a", "b"], ["c", "d"], ["e"]]);
    const records = run.events.flatMap((e) => e.Records);
    for (const r of records) {
      expect(r).toMatchObject({
        body: JSON.stringify(job(jobOf(r))),
        attributes: { ApproximateReceiveCount: "1" },
        eventSource: "aws:sqs",
        eventSourceARN: queueArn(Q),
        awsRegion: "local",
      });
      expect(r.receiptHandle.startsWith(`${Q}:${r.messageId}:1:`)).toBe(true);
    }
    expect(queueArn(Q)).toBe("arn:aws:sqs:local:000000000000:matching");
    expect(new Set(records.map((r) => r.messageId)).size).toBe(5);
    expect(run.errors).toEqual([]);
    expect(await run.receiveNow()).toEqual([]);
    expect(run.queues.stats(Q)).toEqual({ visible: 0, inFlight: 0, delayed: 0, waiting: 0 });
  });

  it("brings back only the record named in batchItemFailures, once the visibility timeout has passed", async () => {
    // Prepare
    const run = await consume(["a", "b", "c"], (event, call) => (call === 1 ? fail(event, "b") : undefined));
    await run.calls(1);
    await eventually("a and c deleted", () => run.queues.stats(Q).inFlight === 1);
    // Act
    run.advance(1000);
    await run.calls(2);
    await run.consumer.stop();
    run.advance(60_000);
    // Assess
    expect(run.events[0]!.Records.map(jobOf)).toEqual(["a", "b", "c"]);
    expect(run.events[1]!.Records.map(jobOf)).toEqual(["b"]);
    expect(run.events[1]!.Records[0]!.messageId).toBe(run.events[0]!.Records[1]!.messageId);
    expect(receiveCount(run.events[1]!.Records[0]!)).toBe("2");
    expect(run.events).toHaveLength(2);
    expect(run.errors).toEqual([]);
    expect(await run.receiveNow()).toEqual([]);
  });

  it("keeps a failed record invisible until the visibility timeout has passed", async () => {
    // Prepare
    const run = await consume(["a"], (event, call) => (call === 1 ? fail(event, "a") : undefined));
    await run.calls(1);
    // Act
    run.advance(999);
    await new Promise((r) => setTimeout(r, 50));
    const early = run.events.length;
    run.advance(1);
    await run.calls(2);
    // Assess
    expect(early).toBe(1);
    expect(receiveCount(run.events[1]!.Records[0]!)).toBe("2");
    await run.consumer.stop();
  });

  it("brings the whole batch back when the handler throws, and tells onError with the error and the event", async () => {
    // Prepare
    const boom = new Error("handler failed");
    const run = await consume(["a", "b"], (_event, call) => {
      if (call === 1) throw boom;
    });
    await run.calls(1);
    await eventually("onError", () => run.errors.length === 1);
    // Act
    run.advance(1000);
    await run.calls(2);
    await run.consumer.stop();
    run.advance(60_000);
    // Assess
    expect(run.errors).toHaveLength(1);
    expect(run.errors[0]!.error).toBe(boom);
    expect(run.errors[0]!.event).toBe(run.events[0]);
    expect(run.events[1]!.Records.map(jobOf)).toEqual(["a", "b"]);
    expect(run.events[1]!.Records.map(receiveCount)).toEqual(["2", "2"]);
    expect(await run.receiveNow()).toEqual([]);
  });

  it("brings the whole batch back with a ConsumerResponseError when batchItemFailures names an id not in the batch", async () => {
    // Prepare
    const run = await consume(["a", "b"], (_event, call) =>
      call === 1 ? { batchItemFailures: [{ itemIdentifier: "not-in-batch" }] } : undefined,
    );
    await run.calls(1);
    await eventually("onError", () => run.errors.length === 1);
    // Act
    run.advance(1000);
    await run.calls(2);
    await run.consumer.stop();
    run.advance(60_000);
    // Assess
    const { error, event } = run.errors[0]!;
    expect(error).toBeInstanceOf(ConsumerResponseError);
    expect(error).toMatchObject({ name: "ConsumerResponseError", code: "CONSUMER_BAD_RESPONSE" });
    expect((error as Error).message).toContain("not-in-batch");
    expect(event).toBe(run.events[0]);
    expect(run.errors).toHaveLength(1);
    expect(run.events[1]!.Records.map(jobOf)).toEqual(["a", "b"]);
    expect(run.events[1]!.Records.map(receiveCount)).toEqual(["2", "2"]);
    expect(await run.receiveNow()).toEqual([]);
  });

  it("hands a message at maxReceiveCount receives to the handler, and one past it to deadLetter (once) instead, deleting it", async () => {
    // Prepare: "poison" always fails; "fresh" becomes visible together with poison's third receive
    const run = await consume(["poison"], (event) => fail(event, "poison"), { maxReceiveCount: 2 });
    await run.calls(1);
    run.advance(1000);
    await run.calls(2);
    await run.queues.send(Q, job("fresh"), { delaySeconds: 1 });
    // Act
    run.advance(1000);
    await run.calls(3);
    await run.consumer.stop();
    run.advance(60_000);
    // Assess
    expect(run.events.map((e) => e.Records.map((r) => `${jobOf(r)}:${receiveCount(r)}`))).toEqual([
      ["poison:1"],
      ["poison:2"],
      ["fresh:1"],
    ]);
    expect(run.deadLetters).toHaveLength(1);
    expect(run.deadLetters[0]).toMatchObject({
      id: run.events[0]!.Records[0]!.messageId,
      body: JSON.stringify(job("poison")),
      receiveCount: 3,
    });
    expect(run.errors).toEqual([]);
    expect(await run.receiveNow()).toEqual([]);
  });

  it("with maxReceiveCount 1, dead-letters a message on its second receive and never hands that delivery to the handler", async () => {
    // Prepare
    const run = await consume(["poison"], (event) => fail(event, "poison"), { maxReceiveCount: 1 });
    await run.calls(1);
    // Act
    run.advance(1000);
    await eventually("dead letter", () => run.deadLetters.length === 1);
    await run.consumer.stop();
    run.advance(60_000);
    // Assess
    expect(run.events).toHaveLength(1);
    expect(run.deadLetters.map((m) => m.receiveCount)).toEqual([2]);
    expect(await run.receiveNow()).toEqual([]);
  });

  it("leaves a message whose deadLetter throws on the queue and tells onError; it is dead-lettered on its next receive", async () => {
    // Prepare
    const refused = new Error("dlq down");
    const tries: number[] = [];
    const run = await consume(["poison"], (event) => fail(event, "poison"), {
      maxReceiveCount: 1,
      deadLetter: (m) => {
        tries.push(m.receiveCount);
        if (tries.length === 1) throw refused;
      },
    });
    await run.calls(1);
    // Act
    run.advance(1000);
    await eventually("onError", () => run.errors.length === 1);
    const afterRefusal = run.queues.stats(Q);
    run.advance(1000);
    await eventually("second dead letter", () => tries.length === 2);
    await run.consumer.stop();
    run.advance(60_000);
    // Assess
    expect(afterRefusal).toMatchObject({ visible: 0, inFlight: 1 });
    expect(run.errors[0]!.error).toBe(refused);
    expect(run.errors[0]!.event.Records.map((r) => `${jobOf(r)}:${receiveCount(r)}`)).toEqual(["poison:2"]);
    expect(run.errors[0]!.event.Records[0]!.eventSourceARN).toBe(queueArn(Q));
    expect(tries).toEqual([2, 3]);
    expect(run.errors).toHaveLength(1);
    expect(run.events).toHaveLength(1);
    expect(await run.receiveNow()).toEqual([]);
  });

  it.each<[string, Partial<ConsumerOptions>, string]>([
    ["batchSize 0", { batchSize: 0 }, "batchSize must be an integer from 1 to 10, got 0"],
    ["batchSize 11", { batchSize: 11 }, "batchSize must be an integer from 1 to 10, got 11"],
    ["batchSize 2.5", { batchSize: 2.5 }, "batchSize must be an integer from 1 to 10, got 2.5"],
    ["visibilitySeconds -1", { visibilitySeconds: -1 }, "visibilitySeconds must be an integer from 0 to 43200, got -1"],
    ["maxReceiveCount 0", { maxReceiveCount: 0 }, "maxReceiveCount must be an integer from 1 to 1000, got 0"],
    ["waitSeconds 21", { waitSeconds: 21 }, "waitSeconds must be an integer from 0 to 20, got 21"],
    ["concurrency 0", { concurrency: 0 }, "concurrency must be an integer from 1 to 1000, got 0"],
    ["timeoutSeconds 901", { timeoutSeconds: 901 }, "timeoutSeconds must be an integer from 1 to 900, got 901"],
  ])("refuses %s with a QUEUE_BAD_ARGUMENT naming the option, and starts no polling", (_name, bad, message) => {
    // Prepare
    const queues = createLocalQueues();
    // Act
    let error: unknown;
    try {
      running.push(startConsumer(queues, Q, async () => {}, { batchSize: 10, visibilitySeconds: 30, waitSeconds: 1, ...bad }));
    } catch (e) {
      error = e;
    }
    // Assess
    expect(error).toBeInstanceOf(QueueError);
    expect(error).toMatchObject({ code: "QUEUE_BAD_ARGUMENT", message });
    expect(running).toEqual([]);
    expect(queues.stats(Q).waiting).toBe(0);
  });

  it("refuses maxReceiveCount without a deadLetter (a message past it would be deleted unseen)", () => {
    // Prepare
    const queues = createLocalQueues();
    // Act
    const start = () =>
      startConsumer(queues, Q, async () => {}, { batchSize: 10, visibilitySeconds: 30, waitSeconds: 1, maxReceiveCount: 3 });
    // Assess
    expect(start).toThrow(QueueError);
    expect(start).toThrow("maxReceiveCount needs a deadLetter");
  });

  it.each<[string, Partial<ConsumerOptions>, string[]]>([
    ["waitSeconds 0 on an empty queue", { waitSeconds: 0 }, []],
    ["a handler that always throws, visibility 0", { waitSeconds: 0, visibilitySeconds: 0 }, ["poison"]],
  ])("keeps the event loop turning with %s: timers run and stop() ends it", (_name, opts, jobs) => {
    // Prepare: in a child process, which a consumer that never yields (a loop of resolved
    // promises, before the fix) would freeze for good: its deadline kills it instead
    const script = `
      const { startConsumer } = await import(${JSON.stringify(`${import.meta.dirname}/sqs-consumer.ts`)});
      const { createLocalQueues } = await import(${JSON.stringify(`${import.meta.dirname}/queues.ts`)});
      const queues = createLocalQueues();
      for (const jobId of ${JSON.stringify(jobs)}) await queues.send("matching", { type: "dispatch", jobId, attempt: 0 });
      const options = { batchSize: 10, visibilitySeconds: 1, onError: () => {}, ...${JSON.stringify(opts)} };
      const consumer = startConsumer(queues, "matching", async () => { throw new Error("engine down"); }, options);
      await new Promise((r) => setTimeout(r, 20));
      await consumer.stop();
      console.log("timer fired, consumer stopped");`;
    // Act
    const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 15_000,
    });
    // Assess
    expect(child.signal, child.stderr).toBeNull();
    expect(child.stdout.trim()).toBe("timer fired, consumer stopped");
  });

  it("stop() resolves only after the batch in the handler has finished and been deleted", async () => {
    // Prepare
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const run = await consume(["slow"], () => gate);
    await run.calls(1);
    // Act
    let stopped = false;
    const stopping = run.consumer.stop().then(() => void (stopped = true));
    await new Promise((r) => setTimeout(r, 50));
    const stoppedBeforeRelease = stopped;
    release();
    await stopping;
    // Assess
    expect(stoppedBeforeRelease).toBe(false);
    expect(stopped).toBe(true);
    expect(run.events).toHaveLength(1);
    expect(run.queues.stats(Q)).toEqual({ visible: 0, inFlight: 0, delayed: 0, waiting: 0 });
  });

  it("counts a handler call past its timeout as failed: onError hears ConsumerTimeoutError, the batch comes back, the loop and stop() go on", async () => {
    // Prepare: the first call never returns (Lambda would end it at its timeout)
    const run = await consume(["a", "b"], (_event, call) => (call === 1 ? new Promise<BatchResponse>(() => {}) : undefined), {
      visibilitySeconds: 1,
      timeoutSeconds: 1,
    });
    await run.calls(1);
    // Act
    await eventually("the timeout's onError", () => run.errors.length === 1, 3000);
    run.advance(1000);
    await run.calls(2);
    await run.consumer.stop();
    // Assess
    const { error, event } = run.errors[0]!;
    expect(error).toBeInstanceOf(ConsumerTimeoutError);
    expect((error as ConsumerTimeoutError).code).toBe("CONSUMER_TIMEOUT");
    expect((error as Error).message).toMatch(/1 s timeout/);
    expect(event).toBe(run.events[0]);
    expect(run.events[1]!.Records.map(jobOf)).toEqual(["a", "b"]);
    expect(run.events[1]!.Records.map(receiveCount)).toEqual(["2", "2"]);
    run.advance(60_000);
    expect(await run.receiveNow()).toEqual([]);
  });

  it("does not time out a handler that answers within its timeout, and reports nothing", async () => {
    // Prepare
    const run = await consume(["a"], () => new Promise<BatchResponse>((r) => setTimeout(() => r(undefined), 200)), {
      visibilitySeconds: 1,
      timeoutSeconds: 1,
    });
    // Act
    await run.calls(1);
    await new Promise((r) => setTimeout(r, 1500));
    await run.consumer.stop();
    // Assess
    expect(run.errors).toEqual([]);
    expect(run.events).toHaveLength(1);
    run.advance(60_000);
    expect(await run.receiveNow()).toEqual([]);
  });

  it.each<[string, Partial<ConsumerOptions>, number]>([
    ["visibilitySeconds 0: 30 s", { visibilitySeconds: 0 }, 30_000],
    ["visibilitySeconds 1: 1 s", { visibilitySeconds: 1 }, 1_000],
    ["visibilitySeconds 7200: capped at 900 s", { visibilitySeconds: 7200 }, 900_000],
    ["timeoutSeconds 5", { visibilitySeconds: 1, timeoutSeconds: 5 }, 5_000],
  ])("gives the handler a context whose remaining time starts at the timeout (%s), named local-<queue>", async (_name, opts, ms) => {
    // Prepare
    const queue: QueueName = "worker-ctx";
    let remaining = -1;
    // Act
    const run = await consume(
      ["a"],
      (_event, _call, context) => {
        remaining = context.getRemainingTimeInMillis();
        return undefined;
      },
      opts,
      queue,
    );
    await run.calls(1);
    await run.consumer.stop();
    // Assess
    expect(remaining).toBeGreaterThan(ms - 1000);
    expect(remaining).toBeLessThanOrEqual(ms);
    const context = run.contexts[0]!;
    expect(context.functionName).toBe("local-worker-ctx");
    expect(context.invokedFunctionArn).toBe("arn:aws:lambda:local:000000000000:function:local-worker-ctx");
    expect(() => context.succeed("x")).toThrow(/not supported locally/);
    expect(await run.receiveNow()).toEqual([]);
  });
});
