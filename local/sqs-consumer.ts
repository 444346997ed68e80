/**
 * A consumer that drives a Lambda-style SQS handler (the same handler code the AWS
 * deployment runs) from the in-process queues of queues.ts, the way Lambda's SQS event
 * source mapping does: batches, partial batch failures, visibility timeouts, redrive.
 */
import { createHash, randomUUID } from "node:crypto";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { QueueMessage, QueueName, Queues } from "../core/ports";
import {
  checkInt,
  QueueError,
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  MAX_BATCH,
  MAX_VISIBILITY_SECONDS,
  MAX_WAIT_SECONDS,
  type LocalQueueMessage,
  type ReceiveOptions,
} from "./queues";

export interface ConsumerOptions {
  /** Records per handler call, 1..10 (the event source mapping's BatchSize). */
  batchSize: number;
  /** How long a batch stays invisible; failed records come back after it. */
  visibilitySeconds: number;
  /** A message received more often than this goes to `deadLetter` instead of the handler (SQS redrive). */
  maxReceiveCount?: number;
  deadLetter?: (msg: QueueMessage) => void | Promise<void>;
  /** Long-poll length per receive, default 20. */
  waitSeconds?: number;
  /** Batches handled at the same time, default 1. */
  concurrency?: number;
  /**
   * The Lambda timeout: the handler sees it in context.getRemainingTimeInMillis(), and a call
   * still running after it counts as failed (ConsumerTimeoutError); default visibilitySeconds (30 when 0).
   */
  timeoutSeconds?: number;
  /** context.functionName, default `local-<queue>`. */
  functionName?: string;
  /** Called when the handler throws or returns a malformed response (the whole batch is retried). */
  onError?: (error: unknown, event: SQSEvent) => void;
}

export interface Consumer {
  /** Stops polling, waits for the batches in the handler to finish (at most their timeout). */
  stop(): Promise<void>;
}

export class ConsumerResponseError extends Error {
  override readonly name = "ConsumerResponseError";
  readonly code = "CONSUMER_BAD_RESPONSE";
}

/** A handler call outlived its timeout: Lambda would have ended it; its batch comes back after the visibility timeout. */
export class ConsumerTimeoutError extends Error {
  override readonly name = "ConsumerTimeoutError";
  readonly code = "CONSUMER_TIMEOUT";
}

export function queueArn(queue: string): string {
  return `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${queue}`;
}

/** The record Lambda's SQS event source would build for this message. */
export function toSqsRecord(queue: string, msg: QueueMessage & Partial<LocalQueueMessage>, now = Date.now()): SQSRecord {
  return {
    messageId: msg.id,
    receiptHandle: msg.receiptHandle,
    body: msg.body,
    attributes: {
      ApproximateReceiveCount: String(msg.receiveCount),
      SentTimestamp: String(msg.sentTimestamp ?? now),
      SenderId: LOCAL_ACCOUNT,
      ApproximateFirstReceiveTimestamp: String(msg.firstReceiveTimestamp ?? now),
    },
    messageAttributes: {},
    // made when read (no handler here reads it): an MD5 of every body was hashed per message
    get md5OfBody() {
      return createHash("md5").update(msg.body).digest("hex");
    },
    eventSource: "aws:sqs",
    eventSourceARN: queueArn(queue),
    awsRegion: LOCAL_REGION,
  };
}

/** A Lambda context for one local invocation. */
export function localLambdaContext(functionName: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  const unsupported = () => {
    throw new Error("context.done/fail/succeed are not supported locally; return or throw from the async handler");
  };
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: "1024",
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/${process.pid}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

/**
 * Polls `queue` and calls `handler` like Lambda's SQS event source mapping with
 * ReportBatchItemFailures: records reported in `batchItemFailures` (and every record when
 * the handler throws or names a record that is not in the batch) stay for redelivery after
 * `visibilitySeconds`; the others are deleted.
 */
export function startConsumer(
  queues: Queues,
  queue: QueueName,
  handler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>,
  opts: ConsumerOptions,
): Consumer {
  checkInt("batchSize", opts.batchSize, 1, MAX_BATCH);
  checkInt("visibilitySeconds", opts.visibilitySeconds, 0, MAX_VISIBILITY_SECONDS);
  const waitSeconds = checkInt("waitSeconds", opts.waitSeconds ?? MAX_WAIT_SECONDS, 0, MAX_WAIT_SECONDS);
  const concurrency = checkInt("concurrency", opts.concurrency ?? 1, 1, 1000);
  if (opts.maxReceiveCount !== undefined) {
    checkInt("maxReceiveCount", opts.maxReceiveCount, 1, 1000);
    // SQS has a receive limit only with a dead-letter queue: without one a message would be deleted unseen
    if (!opts.deadLetter) throw new QueueError("QUEUE_BAD_ARGUMENT", "maxReceiveCount needs a deadLetter to hand messages past it to");
  }
  const timeoutMs = checkInt("timeoutSeconds", opts.timeoutSeconds ?? (Math.min(opts.visibilitySeconds, 900) || 30), 1, 900) * 1000;
  const functionName = opts.functionName ?? `local-${queue}`;
  const abort = new AbortController();
  const report = (error: unknown, event: SQSEvent) => {
    if (opts.onError) opts.onError(error, event);
    else console.error(`consumer ${queue}:`, error);
  };
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      abort.signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
    });

  async function handleBatch(messages: QueueMessage[]): Promise<void> {
    let live = messages;
    if (opts.maxReceiveCount !== undefined) {
      const max = opts.maxReceiveCount;
      const dead = messages.filter((m) => m.receiveCount > max);
      live = messages.filter((m) => m.receiveCount <= max);
      for (const m of dead) {
        try {
          await opts.deadLetter?.(m);
          await queues.delete(queue, m.receiptHandle);
        } catch (error) {
          report(error, { Records: [toSqsRecord(queue, m)] });
        }
      }
    }
    if (live.length === 0) return;
    const now = Date.now();
    const event: SQSEvent = { Records: live.map((m) => toSqsRecord(queue, m, now)) };
    let failed: Set<string>;
    let timer: NodeJS.Timeout | undefined;
    try {
      // Lambda ends a call at its timeout; here the call cannot be ended, but it no longer holds
      // this loop (nor stop()): its batch is left undeleted and comes back, as on AWS
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new ConsumerTimeoutError(`the handler ran past its ${timeoutMs / 1000} s timeout; the batch is retried`)),
          timeoutMs,
        );
      });
      const response = await Promise.race([handler(event, localLambdaContext(functionName, timeoutMs)), timedOut]);
      failed = new Set((response?.batchItemFailures ?? []).map((f) => f?.itemIdentifier));
      const ids = new Set(live.map((m) => m.id));
      for (const id of failed) {
        if (typeof id !== "string" || !ids.has(id)) {
          throw new ConsumerResponseError(
            `batchItemFailures names ${String(id)}, which is not a messageId of the batch; the whole batch is retried`,
          );
        }
      }
    } catch (error) {
      report(error, event);
      return; // nothing deleted: the whole batch comes back
    } finally {
      clearTimeout(timer);
    }
    await Promise.all(live.filter((m) => !failed.has(m.id)).map((m) => queues.delete(queue, m.receiptHandle)));
  }

  async function loop(): Promise<void> {
    while (!abort.signal.aborted) {
      let messages: QueueMessage[];
      try {
        messages = await queues.receive(queue, {
          max: opts.batchSize,
          waitSeconds,
          visibilitySeconds: opts.visibilitySeconds,
          signal: abort.signal,
        } as ReceiveOptions);
      } catch (error) {
        if (abort.signal.aborted) break;
        report(error, { Records: [] });
        await sleep(1000);
        continue;
      }
      if (messages.length > 0) await handleBatch(messages);
      // a receive that does not wait (waitSeconds 0 on an empty queue, a batch failed with
      // visibility 0) resolves at once: without a turn of the event loop here, timers, I/O and
      // stop() would never run
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  const loops = Array.from({ length: concurrency }, () => loop());
  return {
    async stop() {
      abort.abort();
      await Promise.all(loops);
    },
  };
}
