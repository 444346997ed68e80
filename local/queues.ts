/**
 * In-process queues with SQS standard-queue semantics. The consumer that drives a
 * Lambda-style SQS handler from them is in sqs-consumer.ts (re-exported here).
 *
 * Semantics kept from SQS:
 * - bodies are JSON (`JSON.stringify(body)`), at most 256 KiB;
 * - `delaySeconds` 0..900 hides a new message that long;
 * - `receive` long-polls: it resolves as soon as a message is visible (synchronously with
 *   the send that makes one visible), or with [] after `waitSeconds` (0..20); `max` 1..10;
 * - a received message is invisible for `visibilitySeconds` (0..43200); undeleted, it comes
 *   back and its receiveCount grows by one; each receive issues a new receipt handle;
 * - `delete` with a stale receipt handle (the message was redelivered since) is a no-op
 *   that leaves the message in place, as on SQS; an unknown handle is a no-op too;
 * - queues spring into existence on first use; `ensure` is a no-op.
 *
 * Not persisted: local queues live in memory. The store is the source of truth, and the
 * in-flight work (jobs to dispatch, leases to check) is re-derived from it at start by the
 * recovery code, so a restart loses nothing that matters.
 *
 * Time: message timings (delay, visibility) follow the injected clock; long-poll waits are
 * real time. After advancing a fake clock call `wake()` so pending long-polls see messages
 * that became visible.
 */
import { randomUUID } from "node:crypto";
import type { Clock, QueueMessage, QueueName, Queues } from "../core/ports";

export {
  ConsumerResponseError,
  localLambdaContext,
  queueArn,
  startConsumer,
  toSqsRecord,
  type Consumer,
  type ConsumerOptions,
} from "./sqs-consumer";

export const MAX_MESSAGE_BYTES = 256 * 1024;
export const MAX_DELAY_SECONDS = 900;
export const MAX_WAIT_SECONDS = 20;
export const MAX_VISIBILITY_SECONDS = 43_200;
export const MAX_BATCH = 10;
export const LOCAL_ACCOUNT = "000000000000";
export const LOCAL_REGION = "local";

export type QueueErrorCode = "QUEUE_BAD_BODY" | "QUEUE_MESSAGE_TOO_LARGE" | "QUEUE_BAD_ARGUMENT" | "QUEUE_CLOSED";

export class QueueError extends Error {
  override readonly name = "QueueError";
  constructor(
    readonly code: QueueErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A received message, with the timestamps an SQS record carries. */
export interface LocalQueueMessage extends QueueMessage {
  sentTimestamp: number;
  firstReceiveTimestamp: number;
}

export interface ReceiveOptions {
  max: number;
  waitSeconds: number;
  visibilitySeconds: number;
  /** Ends the long-poll early with []. */
  signal?: AbortSignal;
}

export interface QueueStats {
  /** receivable now */
  visible: number;
  /** received, not deleted, not yet visible again */
  inFlight: number;
  /** sent with a delay that has not passed */
  delayed: number;
  /** long-polls waiting */
  waiting: number;
}

export interface LocalQueues extends Queues {
  receive(queue: QueueName, opts: ReceiveOptions): Promise<LocalQueueMessage[]>;
  stats(queue: QueueName): QueueStats;
  /** Removes every message of the queue (SQS PurgeQueue). */
  purge(queue: QueueName): void;
  /** Re-checks visibility for pending long-polls (after advancing a fake clock). */
  wake(): void;
  /** Ends every pending long-poll with [] and refuses further calls. */
  close(): void;
}

interface StoredMessage {
  id: string;
  body: string;
  sentAt: number;
  visibleAt: number;
  receiveCount: number;
  firstReceiveAt: number;
  /** the receipt handle of the latest receive; only it can delete the message */
  handle: string | undefined;
  /** false until the first receive (distinguishes delayed from in flight) */
  received: boolean;
  /** order of sending: visible messages are handed out in this order */
  seq: number;
}

interface Waiter {
  max: number;
  visibilitySeconds: number;
  resolve(messages: LocalQueueMessage[]): void;
  done: boolean;
}

interface QueueState {
  name: QueueName;
  /** every message not deleted, in the order sent */
  messages: Map<string, StoredMessage>;
  /**
   * Each message is in one of two heaps: `ready` (visible when last looked at, by `seq`) or
   * `hidden` (by `visibleAt`). Then a receive or a send costs O(log n), not a walk over every
   * message: a queue holds a lease check per job in flight (10 s or more ahead), thousands
   * under load. A deleted message leaves its heap when it reaches the top.
   */
  ready: Heap<StoredMessage>;
  hidden: Heap<StoredMessage>;
  nextSeq: number;
  /**
   * Pending long-polls, oldest first (a Set keeps insertion order): one that gives up (its time
   * ran out, its client went away) leaves in O(1). An array was searched and spliced per
   * removal: thousands abandoned on one queue cost quadratic time.
   */
  waiters: Set<Waiter>;
  wakeTimer: NodeJS.Timeout | undefined;
  wakeAt: number;
}

/** A binary min-heap. */
class Heap<T> {
  private items: T[] = [];
  constructor(private readonly before: (a: T, b: T) => boolean) {}
  get size(): number {
    return this.items.length;
  }
  peek(): T | undefined {
    return this.items[0];
  }
  push(x: T): void {
    const a = this.items;
    let i = a.push(x) - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!this.before(x, a[up]!)) break;
      a[i] = a[up]!;
      i = up;
    }
    a[i] = x;
  }
  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && this.before(a[r]!, a[l]!) ? r : l;
      if (!this.before(a[c]!, last)) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
    return top;
  }
  clear(): void {
    this.items = [];
  }
}

const bySeq = (a: StoredMessage, b: StoredMessage) => a.seq < b.seq;
const byVisibleAt = (a: StoredMessage, b: StoredMessage) => a.visibleAt < b.visibleAt || (a.visibleAt === b.visibleAt && a.seq < b.seq);

export function checkInt(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new QueueError("QUEUE_BAD_ARGUMENT", `${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

export function createLocalQueues(opts: { clock?: Clock } = {}): LocalQueues {
  const clock = opts.clock ?? { now: () => Date.now() };
  const queues = new Map<QueueName, QueueState>();
  let closed = false;

  const assertOpen = () => {
    if (closed) throw new QueueError("QUEUE_CLOSED", "local queues are closed; create new ones");
  };

  const stateOf = (name: QueueName): QueueState => {
    let q = queues.get(name);
    if (!q)
      queues.set(
        name,
        (q = {
          name,
          messages: new Map(),
          ready: new Heap(bySeq),
          hidden: new Heap(byVisibleAt),
          nextSeq: 0,
          waiters: new Set(),
          wakeTimer: undefined,
          wakeAt: Infinity,
        }),
      );
    return q;
  };

  const isLive = (q: QueueState, m: StoredMessage) => q.messages.get(m.id) === m;

  /** Moves the hidden messages visible by `now` to `ready`; drops deleted ones on the way. */
  const reveal = (q: QueueState, now: number) => {
    for (let m = q.hidden.peek(); m !== undefined; m = q.hidden.peek()) {
      if (!isLive(q, m)) q.hidden.pop();
      else if (m.visibleAt <= now) q.ready.push(q.hidden.pop()!);
      else break;
    }
  };

  /** Takes up to max visible messages, making them invisible and issuing new handles. */
  const take = (q: QueueState, max: number, visibilitySeconds: number): LocalQueueMessage[] => {
    const now = clock.now();
    reveal(q, now);
    const out: LocalQueueMessage[] = [];
    const later: StoredMessage[] = [];
    while (out.length < max && q.ready.size > 0) {
      const m = q.ready.pop()!;
      if (!isLive(q, m)) continue;
      if (m.visibleAt > now) {
        later.push(m); // a clock set back: hidden again
        continue;
      }
      later.push(m);
      m.receiveCount++;
      if (!m.received) m.firstReceiveAt = now;
      m.received = true;
      m.visibleAt = now + visibilitySeconds * 1000;
      m.handle = `${q.name}:${m.id}:${m.receiveCount}:${randomUUID()}`;
      out.push({
        id: m.id,
        body: m.body,
        receiptHandle: m.handle,
        receiveCount: m.receiveCount,
        sentTimestamp: m.sentAt,
        firstReceiveTimestamp: m.firstReceiveAt,
      });
    }
    // After the loop: a message received with visibilitySeconds 0 is visible again, but not
    // twice in one receive.
    for (const m of later) q.hidden.push(m);
    return out;
  };

  /** Hands visible messages to waiting long-polls, oldest waiter first; re-arms the wake timer. */
  const drain = (q: QueueState) => {
    for (const w of q.waiters) {
      const got = take(q, w.max, w.visibilitySeconds);
      if (got.length === 0) break;
      q.waiters.delete(w);
      w.done = true;
      w.resolve(got);
    }
    schedule(q);
  };

  /** While long-polls wait, keeps one timer for the next message to become visible. */
  const schedule = (q: QueueState) => {
    if (q.waiters.size === 0) {
      if (q.wakeTimer) clearTimeout(q.wakeTimer);
      q.wakeTimer = undefined;
      q.wakeAt = Infinity;
      return;
    }
    const now = clock.now();
    // The earliest hidden message; one visible already (the clock moved on since the last
    // take) wakes the waiters at once rather than being passed over.
    let top = q.hidden.peek();
    while (top !== undefined && !isLive(q, top)) {
      q.hidden.pop();
      top = q.hidden.peek();
    }
    const next = top === undefined ? Infinity : Math.max(top.visibleAt, now + 1);
    if (next === q.wakeAt && q.wakeTimer) return;
    if (q.wakeTimer) clearTimeout(q.wakeTimer);
    q.wakeTimer = undefined;
    q.wakeAt = next;
    if (next === Infinity) return;
    q.wakeTimer = setTimeout(
      () => {
        q.wakeTimer = undefined;
        q.wakeAt = Infinity;
        drain(q);
      },
      Math.max(1, next - now),
    );
    q.wakeTimer.unref();
  };

  const queues_: LocalQueues = {
    async send(queue, body, sendOpts = {}) {
      assertOpen();
      const delay = checkInt("delaySeconds", sendOpts.delaySeconds ?? 0, 0, MAX_DELAY_SECONDS);
      let text: string | undefined;
      try {
        text = JSON.stringify(body);
      } catch (error) {
        throw new QueueError(
          "QUEUE_BAD_BODY",
          `message body is not JSON-serialisable (${(error as Error).message}); encode bigints as strings`,
        );
      }
      if (text === undefined) throw new QueueError("QUEUE_BAD_BODY", "message body is undefined or a function; send a JSON value");
      // A string of n UTF-16 units is at most 3n UTF-8 bytes: one that short is not measured
      // (a lease check carries the sealed request, kilobytes, and is sent once per job).
      if (text.length * 3 > MAX_MESSAGE_BYTES && Buffer.byteLength(text) > MAX_MESSAGE_BYTES) {
        throw new QueueError(
          "QUEUE_MESSAGE_TOO_LARGE",
          `message body is ${Buffer.byteLength(text)} bytes; SQS allows ${MAX_MESSAGE_BYTES}`,
        );
      }
      const q = stateOf(queue);
      const now = clock.now();
      const id = randomUUID();
      const m: StoredMessage = {
        id,
        body: text,
        sentAt: now,
        visibleAt: now + delay * 1000,
        receiveCount: 0,
        firstReceiveAt: 0,
        handle: undefined,
        received: false,
        seq: q.nextSeq++,
      };
      q.messages.set(id, m);
      q.hidden.push(m); // revealed by the next take
      drain(q);
    },

    receive(queue, r) {
      try {
        assertOpen();
        checkInt("max", r.max, 1, MAX_BATCH);
        checkInt("waitSeconds", r.waitSeconds, 0, MAX_WAIT_SECONDS);
        checkInt("visibilitySeconds", r.visibilitySeconds, 0, MAX_VISIBILITY_SECONDS);
      } catch (error) {
        return Promise.reject(error);
      }
      const q = stateOf(queue);
      // earlier waiters go first
      const got = q.waiters.size === 0 ? take(q, r.max, r.visibilitySeconds) : [];
      if (got.length > 0 || r.waitSeconds === 0 || r.signal?.aborted) {
        schedule(q);
        return Promise.resolve(got);
      }
      return new Promise<LocalQueueMessage[]>((resolve) => {
        const finish = (messages: LocalQueueMessage[]) => {
          clearTimeout(timer);
          r.signal?.removeEventListener("abort", onAbort);
          resolve(messages);
        };
        const waiter: Waiter = { max: r.max, visibilitySeconds: r.visibilitySeconds, resolve: finish, done: false };
        const giveUp = () => {
          if (waiter.done) return;
          waiter.done = true;
          q.waiters.delete(waiter);
          schedule(q);
          finish([]);
        };
        const onAbort = () => giveUp();
        const timer = setTimeout(giveUp, r.waitSeconds * 1000);
        r.signal?.addEventListener("abort", onAbort, { once: true });
        q.waiters.add(waiter);
        drain(q);
      });
    },

    async delete(queue, receiptHandle) {
      assertOpen();
      if (typeof receiptHandle !== "string" || receiptHandle.length === 0) {
        throw new QueueError("QUEUE_BAD_ARGUMENT", "receiptHandle must be the non-empty string a receive returned");
      }
      const q = queues.get(queue);
      const id = receiptHandle.slice(queue.length + 1).split(":")[0] ?? "";
      const m = q?.messages.get(id);
      if (m && m.handle === receiptHandle) q!.messages.delete(id);
    },

    async ensure(queue) {
      assertOpen();
      stateOf(queue);
    },

    stats(queue) {
      const q = queues.get(queue);
      const now = clock.now();
      const s: QueueStats = { visible: 0, inFlight: 0, delayed: 0, waiting: q?.waiters.size ?? 0 };
      for (const m of q?.messages.values() ?? []) {
        if (m.visibleAt <= now) s.visible++;
        else if (m.received) s.inFlight++;
        else s.delayed++;
      }
      return s;
    },

    purge(queue) {
      const q = queues.get(queue);
      q?.messages.clear();
      q?.ready.clear();
      q?.hidden.clear();
      if (q) schedule(q);
    },

    wake() {
      for (const q of queues.values()) drain(q);
    },

    close() {
      closed = true;
      for (const q of queues.values()) {
        const waiting = [...q.waiters];
        q.waiters.clear();
        for (const w of waiting) {
          w.done = true;
          w.resolve([]);
        }
        schedule(q);
      }
    },
  };
  return queues_;
}
