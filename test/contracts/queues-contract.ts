/**
 * The behaviour every Queues adapter must show (SQS standard-queue semantics), and the
 * behaviour of the Lambda-style consumer on top of it. `make` returns the queues and a way
 * to let time pass: a fake clock's advance for local queues, a real sleep otherwise.
 */
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { QueueMessage, QueueName, Queues } from "../../core/ports";
import { startConsumer, type Consumer, type ConsumerOptions } from "../../local/queues";

export interface QueuesUnderTest {
  queues: Queues & { close?(): void | Promise<void> };
  /** Lets `ms` of queue time pass (and wakes pending long-polls). */
  advance(ms: number): Promise<void>;
}

let seq = 0;
export const uniqueQueue = (): QueueName => `worker-${process.pid}-${Date.now().toString(36)}-${seq++}`;

export const dispatchBody = (jobId = `job-${seq++}`) => ({ type: "dispatch", jobId, attempt: 0 });

function useQueues(make: () => Promise<QueuesUnderTest>): () => QueuesUnderTest & { queue: QueueName } {
  let current: (QueuesUnderTest & { queue: QueueName }) | undefined;
  beforeEach(async () => {
    const made = await make();
    const queue = uniqueQueue();
    await made.queues.ensure(queue);
    current = { ...made, queue };
  });
  afterEach(async () => {
    await current?.queues.close?.();
    current = undefined;
  });
  return () => current!;
}

const receiveNow = (q: Queues, queue: QueueName, visibilitySeconds = 30, max = 10) =>
  q.receive(queue, { max, waitSeconds: 0, visibilitySeconds });

export function describeQueuesContract(name: string, make: () => Promise<QueuesUnderTest>): void {
  describe(`Queues contract: ${name}`, () => {
    const t = useQueues(make);

    it("delivers a JSON body once, with receiveCount 1, and delete removes it", async () => {
      // Prepare
      const { queues, queue } = t();
      const body = dispatchBody();
      await queues.send(queue, body);
      // Act
      const [msg, ...rest] = await queues.receive(queue, { max: 10, waitSeconds: 1, visibilitySeconds: 30 });
      await queues.delete(queue, msg!.receiptHandle);
      // Assess
      expect(rest).toEqual([]);
      expect(JSON.parse(msg!.body)).toEqual(body);
      expect(msg!.receiveCount).toBe(1);
      expect(typeof msg!.id).toBe("string");
      expect(await receiveNow(queues, queue, 0)).toEqual([]);
    });

    it("returns at most max messages", async () => {
      const { queues, queue } = t();
      for (let i = 0; i < 5; i++) await queues.send(queue, dispatchBody());
      const first = await receiveNow(queues, queue, 30, 3);
      const second = await receiveNow(queues, queue, 30, 3);
      expect(first).toHaveLength(3);
      expect(second).toHaveLength(2);
      expect(new Set([...first, ...second].map((m) => m.id)).size).toBe(5);
    });

    it("hides a delayed message until its delay has passed", async () => {
      // Prepare
      const { queues, queue, advance } = t();
      await queues.send(queue, dispatchBody("delayed"), { delaySeconds: 2 });
      // Act
      const early = await receiveNow(queues, queue);
      await advance(2000);
      const late = await receiveNow(queues, queue);
      // Assess
      expect(early).toEqual([]);
      expect(late.map((m) => JSON.parse(m.body).jobId)).toEqual(["delayed"]);
    });

    it("redelivers an undeleted message after its visibility timeout with receiveCount 2 and a new handle", async () => {
      // Prepare
      const { queues, queue, advance } = t();
      await queues.send(queue, dispatchBody());
      const [first] = await receiveNow(queues, queue, 1);
      // Act
      const hidden = await receiveNow(queues, queue);
      await advance(1000);
      const [second] = await receiveNow(queues, queue, 0);
      // Assess
      expect(hidden).toEqual([]);
      expect(second!.id).toBe(first!.id);
      expect(second!.receiveCount).toBe(2);
      expect(second!.receiptHandle).not.toBe(first!.receiptHandle);
    });

    it("ignores a delete with a stale receipt handle", async () => {
      // Prepare: receive twice (visibility 0 makes it visible again at once)
      const { queues, queue } = t();
      await queues.send(queue, dispatchBody());
      const [first] = await receiveNow(queues, queue, 0);
      const [second] = await receiveNow(queues, queue, 0);
      // Act
      await queues.delete(queue, first!.receiptHandle);
      const [third] = await receiveNow(queues, queue, 0);
      // Assess
      expect(second!.receiveCount).toBe(2);
      expect(third!.id).toBe(first!.id);
      expect(third!.receiveCount).toBe(3);
    });

    it("wakes a long-poll with a send", async () => {
      // Prepare
      const { queues, queue } = t();
      const polling = queues.receive(queue, { max: 10, waitSeconds: 20, visibilitySeconds: 30 });
      // Act
      await queues.send(queue, dispatchBody("wakes"));
      const got = await polling;
      // Assess
      expect(got.map((m) => JSON.parse(m.body).jobId)).toEqual(["wakes"]);
    });

    it("ends an empty long-poll with []", async () => {
      const { queues, queue } = t();
      expect(await queues.receive(queue, { max: 1, waitSeconds: 1, visibilitySeconds: 30 })).toEqual([]);
    });
  });
}

// ---------------------------------------------------------------- consumer
export function describeConsumerContract(name: string, make: () => Promise<QueuesUnderTest>): void {
  describe(`Consumer contract: ${name}`, () => {
    const t = useQueues(make);
    let consumer: Consumer | undefined;
    afterEach(async () => {
      await consumer?.stop();
      consumer = undefined;
    });

    /** Starts a consumer whose handler results are scripted; resolves calls as they happen. */
    const consume = (
      handler: (event: SQSEvent, call: number) => SQSBatchResponse | void | Promise<SQSBatchResponse | void>,
      opts: Partial<ConsumerOptions> = {},
    ) => {
      const { queues, queue } = t();
      const events: SQSEvent[] = [];
      const waiting: Array<{ n: number; resolve(): void }> = [];
      const calls = (n: number) =>
        new Promise<void>((resolve) => {
          if (events.length >= n) resolve();
          else waiting.push({ n, resolve });
        });
      let deletes = 0;
      const deleteWaiters: Array<{ n: number; resolve(): void }> = [];
      const deleted = (n: number) =>
        new Promise<void>((resolve) => {
          if (deletes >= n) resolve();
          else deleteWaiters.push({ n, resolve });
        });
      // counts the consumer's deletes, so a test can wait for them before letting time pass
      const spied: Queues = {
        send: (...a) => queues.send(...a),
        receive: (...a) => queues.receive(...a),
        ensure: (...a) => queues.ensure(...a),
        delete: async (q, handle) => {
          await queues.delete(q, handle);
          deletes++;
          for (const w of deleteWaiters.filter((w) => deletes >= w.n)) w.resolve();
        },
      };
      consumer = startConsumer(
        spied,
        queue,
        async (event) => {
          events.push(event);
          try {
            return await handler(event, events.length);
          } finally {
            for (const w of waiting.filter((w) => events.length >= w.n)) w.resolve();
          }
        },
        { batchSize: 10, visibilitySeconds: 30, waitSeconds: 1, onError: () => {}, ...opts },
      );
      return { events, calls, deleted };
    };

    it("hands real-shaped SQS records to the handler and deletes them on success", async () => {
      // Prepare
      const { queues, queue } = t();
      const body = dispatchBody("shape");
      await queues.send(queue, body);
      // Act
      const { events, calls } = consume(() => undefined);
      await calls(1);
      await consumer!.stop();
      // Assess
      const [record] = events[0]!.Records;
      expect(record).toMatchObject({
        body: JSON.stringify(body),
        eventSource: "aws:sqs",
        eventSourceARN: expect.stringMatching(new RegExp(`^arn:aws:sqs:[^:]+:\\d{12}:${queue}$`)),
        attributes: { ApproximateReceiveCount: "1" },
        messageAttributes: {},
      });
      expect(record!.md5OfBody).toMatch(/^[0-9a-f]{32}$/);
      expect(Number(record!.attributes.SentTimestamp)).toBeGreaterThan(0);
      expect(typeof record!.awsRegion).toBe("string");
      expect(await receiveNow(queues, queue, 0)).toEqual([]);
    });

    it("redelivers only the records named in batchItemFailures", async () => {
      // Prepare
      const { queues, queue, advance } = t();
      for (const id of ["a", "b", "c"]) await queues.send(queue, dispatchBody(id));
      const jobId = (r: { body: string }) => JSON.parse(r.body).jobId as string;
      // Act
      const { events, calls, deleted } = consume(
        (event, call) =>
          call === 1
            ? { batchItemFailures: event.Records.filter((r) => jobId(r) === "b").map((r) => ({ itemIdentifier: r.messageId })) }
            : undefined,
        { visibilitySeconds: 1 },
      );
      await calls(1);
      await deleted(2);
      await advance(1000);
      await calls(2);
      await consumer!.stop();
      // Assess
      expect(events[0]!.Records.map(jobId).sort()).toEqual(["a", "b", "c"]);
      expect(events[1]!.Records.map(jobId)).toEqual(["b"]);
      expect(events[1]!.Records[0]!.attributes.ApproximateReceiveCount).toBe("2");
      expect(await receiveNow(queues, queue, 0)).toEqual([]);
    });

    it("retries the whole batch when the handler throws", async () => {
      const { queues, queue } = t();
      for (const id of ["a", "b"]) await queues.send(queue, dispatchBody(id));
      const { events, calls } = consume(
        (_e, call) => {
          if (call === 1) throw new Error("handler failed");
        },
        { visibilitySeconds: 0 },
      );
      await calls(2);
      await consumer!.stop();
      expect(events[1]!.Records).toHaveLength(2);
      expect(events[1]!.Records.every((r) => r.attributes.ApproximateReceiveCount === "2")).toBe(true);
      expect(await receiveNow(queues, queue, 0)).toEqual([]);
    });

    it("retries the whole batch when batchItemFailures names an unknown id", async () => {
      const { queues, queue } = t();
      await queues.send(queue, dispatchBody("x"));
      const errors: unknown[] = [];
      const { events, calls } = consume(
        (_e, call) => (call === 1 ? { batchItemFailures: [{ itemIdentifier: "not-in-batch" }] } : undefined),
        {
          visibilitySeconds: 0,
          onError: (e) => errors.push(e),
        },
      );
      await calls(2);
      await consumer!.stop();
      expect(events[1]!.Records[0]!.attributes.ApproximateReceiveCount).toBe("2");
      expect((errors[0] as { code?: string }).code).toBe("CONSUMER_BAD_RESPONSE");
    });

    it("moves a message past maxReceiveCount to the dead-letter callback", async () => {
      // Prepare
      const { queues, queue } = t();
      await queues.send(queue, dispatchBody("poison"));
      let dead!: (m: QueueMessage) => void;
      const deadLettered = new Promise<QueueMessage>((resolve) => (dead = resolve));
      // Act
      const { events } = consume((event) => ({ batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) }), {
        visibilitySeconds: 0,
        maxReceiveCount: 2,
        deadLetter: (m) => dead(m),
      });
      const msg = await deadLettered;
      await consumer!.stop();
      // Assess
      expect(events).toHaveLength(2);
      expect(JSON.parse(msg.body).jobId).toBe("poison");
      expect(msg.receiveCount).toBe(3);
      expect(await receiveNow(queues, queue, 0)).toEqual([]);
    });
  });
}
