/**
 * Queues port over SQS.
 *
 * - "matching" → the matching queue made by the stacks (COCOON_MATCHING_QUEUE_URL).
 * - "matching-dlq" → its dead-letter queue (COCOON_MATCHING_DLQ_URL), given only to the redrive function.
 * - "worker-<id>" → `${namePrefix}worker-<id>`, created at registration by `ensure` (CreateQueue
 *   with a redrive policy to the shared worker DLQ), so its URL is known without a lookup.
 *
 * Semantics that differ from the in-process queue of local/: SQS is at-least-once (a message
 * may come twice, so consumers must be idempotent, which the core is), delivery order is not
 * FIFO, DelaySeconds is capped at 900 (longer delays are clamped: the lease check re-delays),
 * WaitTimeSeconds at 20, MaxNumberOfMessages at 10, and a received message stays invisible for
 * `visibilitySeconds` (extend it with extendVisibility for long jobs).
 */
import {
  SQSClient,
  SendMessageCommand,
  SendMessageBatchCommand,
  ReceiveMessageCommand,
  DeleteMessageCommand,
  CreateQueueCommand,
  ChangeMessageVisibilityCommand,
  type SendMessageBatchRequestEntry,
} from "@aws-sdk/client-sqs";
import type { QueueMessage, QueueName, Queues } from "../../core/ports";

export const SQS_MAX_DELAY_SECONDS = 900;
export const SQS_MAX_WAIT_SECONDS = 20;
export const SQS_MAX_BATCH = 10;
export const SQS_MAX_VISIBILITY_SECONDS = 43_200;
export const SQS_MAX_MESSAGE_BYTES = 256 * 1024;

function serialize(queue: string, body: unknown): string {
  const s = JSON.stringify(body);
  if (Buffer.byteLength(s) > SQS_MAX_MESSAGE_BYTES) {
    throw new QueueError(
      "QUEUE_MESSAGE_TOO_LARGE",
      `message to ${queue} is ${Buffer.byteLength(s)} bytes; SQS takes at most ${SQS_MAX_MESSAGE_BYTES}`,
    );
  }
  return s;
}

export class QueueError extends Error {
  override readonly name = "QueueError";
  constructor(
    readonly code: "QUEUE_BAD_ARGUMENT" | "QUEUE_MISSING" | "QUEUE_BATCH_FAILED" | "QUEUE_DELETED_RECENTLY" | "QUEUE_MESSAGE_TOO_LARGE",
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export interface SqsQueuesOptions {
  client: SQSClient;
  matchingUrl: string;
  /** The matching queue's DLQ (core/jobs/redrive.ts); absent, "matching-dlq" is refused. */
  matchingDlqUrl?: string;
  /** Worker queue "worker-<id>" has the SQS name `${namePrefix}worker-<id>`. */
  namePrefix: string;
  /** `https://sqs.<region>.amazonaws.com/<account>/${namePrefix}` */
  urlPrefix: string;
  /** Redrive target of every worker queue. */
  workerDlqArn: string;
  /** Receives before a worker-queue message moves to the DLQ. */
  maxReceives?: number;
  /**
   * Visibility timeout of new worker queues (default 12 h, SQS's most): longer than the
   * retention, so a received message never comes back and the agent need not delete it
   * (agent/sources/sqs.ts; issue 12: one SQS request a job fewer).
   */
  workerVisibilitySeconds?: number;
  /**
   * Retention of jobs in worker queues (default 1 h): a job waiting longer has long been moved
   * on by its lease check; received ones are dropped by SQS then too.
   */
  workerRetentionSeconds?: number;
}

const errName = (e: unknown) => (e && typeof e === "object" && "name" in e ? String((e as { name: unknown }).name) : "");
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, Math.floor(v)));

export class SqsQueues implements Queues {
  private readonly ensured = new Set<string>();

  constructor(private readonly o: SqsQueuesOptions) {}

  /** Queue port name → SQS queue URL. */
  urlOf(queue: QueueName): string {
    if (queue === "matching") return this.o.matchingUrl;
    if (queue === "matching-dlq") {
      if (this.o.matchingDlqUrl) return this.o.matchingDlqUrl;
      throw new QueueError(
        "QUEUE_MISSING",
        'queue "matching-dlq" has no URL here: only the redrive function is given COCOON_MATCHING_DLQ_URL',
      );
    }
    if (queue.startsWith("worker-") && /^worker-[A-Za-z0-9_-]+$/.test(queue)) return this.o.urlPrefix + queue;
    throw new QueueError("QUEUE_BAD_ARGUMENT", `queue "${queue}" is neither "matching" nor "worker-<id>" with a base64url worker id`);
  }

  /** Queue port name → SQS queue name (for CreateQueue). */
  nameOf(queue: QueueName): string {
    this.urlOf(queue);
    return this.o.namePrefix + queue;
  }

  async send(queue: QueueName, body: unknown, opts: { delaySeconds?: number } = {}): Promise<void> {
    const delay = opts.delaySeconds === undefined ? undefined : clamp(opts.delaySeconds, 0, SQS_MAX_DELAY_SECONDS);
    try {
      await this.o.client.send(
        new SendMessageCommand({
          QueueUrl: this.urlOf(queue),
          MessageBody: serialize(queue, body),
          ...(delay ? { DelaySeconds: delay } : {}),
        }),
      );
    } catch (e) {
      throw this.mapError(queue, e);
    }
  }

  /**
   * Send many messages with as few requests as possible (at most 10 and 256 KiB of bodies per
   * SendMessageBatch: SQS refuses a longer batch whole); retries failed entries once. Every body
   * is checked before the first request, so a too-large one sends nothing.
   */
  async sendBatch(queue: QueueName, bodies: unknown[], opts: { delaySeconds?: number } = {}): Promise<void> {
    const url = this.urlOf(queue);
    const delay = opts.delaySeconds === undefined ? undefined : clamp(opts.delaySeconds, 0, SQS_MAX_DELAY_SECONDS);
    const all = bodies.map((b) => serialize(queue, b));
    for (let off = 0, end = 0; off < all.length; off = end) {
      for (let bytes = 0; end < all.length && end - off < SQS_MAX_BATCH; end++) {
        bytes += Buffer.byteLength(all[end]!);
        if (bytes > SQS_MAX_MESSAGE_BYTES) break;
      }
      let entries: SendMessageBatchRequestEntry[] = all.slice(off, end).map((s, i) => ({
        Id: String(off + i),
        MessageBody: s,
        ...(delay ? { DelaySeconds: delay } : {}),
      }));
      for (let attempt = 0; entries.length > 0; attempt++) {
        let out;
        try {
          out = await this.o.client.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries }));
        } catch (e) {
          throw this.mapError(queue, e);
        }
        const failed = out.Failed ?? [];
        if (failed.length === 0) break;
        const retryable = failed.filter((f) => !f.SenderFault).map((f) => f.Id);
        if (attempt >= 1 || retryable.length !== failed.length) {
          throw new QueueError(
            "QUEUE_BATCH_FAILED",
            `${failed.length} of ${entries.length} messages to ${queue} were refused by SQS`,
            failed,
          );
        }
        entries = entries.filter((e) => retryable.includes(e.Id));
      }
    }
  }

  async receive(queue: QueueName, opts: { max: number; waitSeconds: number; visibilitySeconds: number }): Promise<QueueMessage[]> {
    let out;
    try {
      out = await this.o.client.send(
        new ReceiveMessageCommand({
          QueueUrl: this.urlOf(queue),
          MaxNumberOfMessages: clamp(opts.max, 1, SQS_MAX_BATCH),
          WaitTimeSeconds: clamp(opts.waitSeconds, 0, SQS_MAX_WAIT_SECONDS),
          VisibilityTimeout: clamp(opts.visibilitySeconds, 0, SQS_MAX_VISIBILITY_SECONDS),
          MessageSystemAttributeNames: ["ApproximateReceiveCount"],
        }),
      );
    } catch (e) {
      throw this.mapError(queue, e);
    }
    return (out.Messages ?? []).map((m) => ({
      id: m.MessageId ?? "",
      body: m.Body ?? "",
      receiptHandle: m.ReceiptHandle ?? "",
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
    }));
  }

  async delete(queue: QueueName, receiptHandle: string): Promise<void> {
    try {
      await this.o.client.send(new DeleteMessageCommand({ QueueUrl: this.urlOf(queue), ReceiptHandle: receiptHandle }));
    } catch (e) {
      throw this.mapError(queue, e);
    }
  }

  /** Keep a message invisible while a long job runs (SQS caps the total at 12 h). */
  async extendVisibility(queue: QueueName, receiptHandle: string, seconds: number): Promise<void> {
    try {
      await this.o.client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.urlOf(queue),
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: clamp(seconds, 0, SQS_MAX_VISIBILITY_SECONDS),
        }),
      );
    } catch (e) {
      throw this.mapError(queue, e);
    }
  }

  /**
   * CreateQueue is idempotent when the attributes match, so this costs one request per
   * container and queue. The matching queue belongs to the stacks: nothing to do.
   */
  async ensure(queue: QueueName): Promise<void> {
    if (queue === "matching" || this.ensured.has(queue)) return;
    try {
      await this.o.client.send(
        new CreateQueueCommand({
          QueueName: this.nameOf(queue),
          Attributes: {
            RedrivePolicy: JSON.stringify({ deadLetterTargetArn: this.o.workerDlqArn, maxReceiveCount: this.o.maxReceives ?? 5 }),
            VisibilityTimeout: String(this.o.workerVisibilitySeconds ?? SQS_MAX_VISIBILITY_SECONDS),
            MessageRetentionPeriod: String(this.o.workerRetentionSeconds ?? 3600),
            ReceiveMessageWaitTimeSeconds: String(SQS_MAX_WAIT_SECONDS),
            SqsManagedSseEnabled: "true",
          },
          tags: { "cocoon:kind": "worker-queue" },
        }),
      );
    } catch (e) {
      // Same name, other attributes (an older deploy): the queue exists, which is what we need.
      if (errName(e) !== "QueueNameExists" && errName(e) !== "QueueAlreadyExists") throw this.mapError(queue, e);
    }
    this.ensured.add(queue);
  }

  private mapError(queue: QueueName, e: unknown): unknown {
    const n = errName(e);
    if (n === "QueueDoesNotExist" || n === "AWS.SimpleQueueService.NonExistentQueue") {
      this.ensured.delete(queue);
      return new QueueError(
        "QUEUE_MISSING",
        `SQS queue for "${queue}" does not exist; a worker queue is created when the worker registers`,
      );
    }
    if (n === "QueueDeletedRecently") {
      return new QueueError("QUEUE_DELETED_RECENTLY", `SQS queue for "${queue}" was deleted less than 60 s ago; retry in a minute`);
    }
    return e;
  }
}
