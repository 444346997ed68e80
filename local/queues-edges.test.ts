/**
 * Edge cases of the in-process queues (queues.ts): the delivery order the heaps keep, the
 * receive bookkeeping, argument validation, close(), and the wake timer that serves pending
 * long-polls. Message times follow an injected fake clock; the long-poll and wake timers are
 * Vitest's fake timers (setTimeout/clearTimeout only), so no test sleeps in real time.
 */
import { getEventListeners } from "node:events";
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import type { QueueName } from "../core/ports";
import { createLocalQueues, MAX_MESSAGE_BYTES, QueueError, type LocalQueueMessage, type LocalQueues, type QueueErrorCode } from "./queues";
import { mulberry32 } from "../core/mulberry32";

const Q: QueueName = "matching";
const T0 = Date.UTC(2025, 0, 1);
/** A long-poll's own timer: distinct from every wake-timer delay used here. */
const WAIT_SECONDS = 20;
const WAIT_MS = WAIT_SECONDS * 1000;

const fakeClock = (start = T0) => {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms), set: (ms: number) => void (now = ms) };
};

const makeQueues = () => {
  const clock = fakeClock();
  return { clock, queues: createLocalQueues({ clock }) };
};

const receiveNow = (queues: LocalQueues, max = 10, visibilitySeconds = 30) => queues.receive(Q, { max, waitSeconds: 0, visibilitySeconds });

const longPoll = (queues: LocalQueues, signal?: AbortSignal) =>
  queues.receive(Q, { max: 10, waitSeconds: WAIT_SECONDS, visibilitySeconds: 30, signal });

const numbers = (messages: LocalQueueMessage[]) => messages.map((m) => (JSON.parse(m.body) as { n: number }).n);

/** Lets pending promise callbacks run (setImmediate is left real). */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Follows a promise without awaiting it: `settled` says whether it has resolved yet. */
function track<T>(p: Promise<T>) {
  const t: { settled: boolean; value: T | undefined } = { settled: false, value: undefined };
  void p.then((value) => {
    t.settled = true;
    t.value = value;
  });
  return t;
}

async function rejection(p: Promise<unknown>, code: QueueErrorCode, message: RegExp) {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(QueueError);
  expect(error).toMatchObject({ name: "QueueError", code });
  expect((error as Error).message).toMatch(message);
}

/** A small deterministic PRNG (mulberry32). */
function prng(seed: number) {
  const next = mulberry32(seed);
  return { next, pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]! };
}

describe("local queues: delivery order", () => {
  it("hands out the messages visible at a receive in send order, whatever their delays", async () => {
    // Prepare
    const { clock, queues } = makeQueues();
    const delays = [3, 0, 2, 0, 1, 3, 2, 0, 1, 1, 3, 0, 2, 3];
    for (const [n, delaySeconds] of delays.entries()) await queues.send(Q, { n }, { delaySeconds });
    clock.advance(3000);
    // Act
    const first = await receiveNow(queues);
    const rest = await receiveNow(queues);
    // Assess
    expect(numbers([...first, ...rest])).toEqual(delays.map((_d, n) => n));
  });

  it("hands out messages as they become visible: earlier visibleAt first, send order among equal ones", async () => {
    // Prepare
    const { clock, queues } = makeQueues();
    const delays = [4, 1, 3, 0, 4, 2, 1, 0, 3, 2, 4, 1, 0, 2, 3, 4, 0, 1];
    for (const [n, delaySeconds] of delays.entries()) await queues.send(Q, { n }, { delaySeconds });
    // Act
    const got: number[] = [];
    for (let second = 0; second <= 4; second++) {
      got.push(...numbers(await receiveNow(queues, 10)));
      clock.advance(1000);
    }
    // Assess
    const expected = delays.map((delay, n) => ({ delay, n })).sort((a, b) => a.delay - b.delay || a.n - b.n);
    expect(got).toEqual(expected.map((e) => e.n));
  });

  it("does not let a redelivery due later hold back a delayed message due sooner", async () => {
    // Prepare: the received message (sent first) comes back after 30 s; the second is due at 5 s
    const { clock, queues } = makeQueues();
    await queues.send(Q, { n: 0 });
    await queues.send(Q, { n: 1 }, { delaySeconds: 5 });
    await receiveNow(queues, 1, 30);
    // Act
    clock.advance(5000);
    const got = await receiveNow(queues);
    // Assess
    expect(numbers(got)).toEqual([1]);
  });

  it("matches a reference model over a long random run of sends, receives, deletes and clock steps", async () => {
    // Prepare
    const { clock, queues } = makeQueues();
    const rng = prng(17);
    type Model = {
      n: number;
      seq: number;
      sentAt: number;
      visibleAt: number;
      receiveCount: number;
      firstReceiveAt?: number;
      handle?: string;
    };
    const model = new Map<number, Model>();
    const handles: string[] = [];
    let sent = 0;
    const visibleNow = () => [...model.values()].filter((m) => m.visibleAt <= clock.now()).sort((a, b) => a.seq - b.seq);
    // Act + Assess, step by step
    for (let step = 0; step < 800; step++) {
      const op = rng.next();
      if (op < 0.35) {
        const delaySeconds = rng.pick([0, 0, 0, 1, 2, 3, 4]);
        const n = sent++;
        await queues.send(Q, { n }, { delaySeconds });
        model.set(n, { n, seq: n, sentAt: clock.now(), visibleAt: clock.now() + delaySeconds * 1000, receiveCount: 0 });
      } else if (op < 0.7) {
        const max = 1 + Math.floor(rng.next() * 10);
        const visibilitySeconds = rng.pick([0, 1, 2, 5, 10]);
        const expected = visibleNow().slice(0, max);
        const got = await receiveNow(queues, max, visibilitySeconds);
        expect(numbers(got), `step ${step}`).toEqual(expected.map((m) => m.n));
        for (const [i, m] of expected.entries()) {
          m.receiveCount++;
          m.firstReceiveAt ??= clock.now();
          m.visibleAt = clock.now() + visibilitySeconds * 1000;
          m.handle = got[i]!.receiptHandle;
          handles.push(m.handle);
          expect(got[i], `step ${step}`).toMatchObject({
            receiveCount: m.receiveCount,
            sentTimestamp: m.sentAt,
            firstReceiveTimestamp: m.firstReceiveAt,
          });
        }
      } else if (op < 0.85) {
        if (handles.length === 0) continue;
        const handle = rng.pick(handles);
        await queues.delete(Q, handle);
        for (const m of model.values()) if (m.handle === handle) model.delete(m.n);
      } else {
        clock.advance(rng.pick([0, 1, 500, 1000, 2000]));
      }
      const all = [...model.values()];
      const visible = all.filter((m) => m.visibleAt <= clock.now()).length;
      const inFlight = all.filter((m) => m.visibleAt > clock.now() && m.receiveCount > 0).length;
      expect(queues.stats(Q), `step ${step}`).toEqual({ visible, inFlight, delayed: all.length - visible - inFlight, waiting: 0 });
    }
    expect(sent).toBeGreaterThan(200);
  });
});

describe("local queues: receive bookkeeping", () => {
  it("keeps the first receive's timestamp on redelivery, counts receives and issues a new handle each time", async () => {
    // Prepare
    const { clock, queues } = makeQueues();
    await queues.send(Q, { n: 0 });
    clock.advance(1000);
    // Act
    const [first] = await receiveNow(queues, 1, 5);
    clock.advance(5000);
    const [second] = await receiveNow(queues, 1, 5);
    // Assess
    expect(first).toMatchObject({ receiveCount: 1, sentTimestamp: T0, firstReceiveTimestamp: T0 + 1000 });
    expect(second).toMatchObject({ receiveCount: 2, sentTimestamp: T0, firstReceiveTimestamp: T0 + 1000 });
    expect(second!.receiptHandle).not.toBe(first!.receiptHandle);
  });

  it("does not hand out a message deleted while it waited, visible, behind a full batch", async () => {
    // Prepare: both received with visibility 0, then a batch of one takes the first and leaves the second ready
    const { queues } = makeQueues();
    await queues.send(Q, { n: 0 });
    await queues.send(Q, { n: 1 });
    const [, second] = await receiveNow(queues, 2, 0);
    await receiveNow(queues, 1, 30);
    // Act
    await queues.delete(Q, second!.receiptHandle);
    const got = await receiveNow(queues);
    // Assess
    expect(got).toEqual([]);
    expect(queues.stats(Q)).toEqual({ visible: 0, inFlight: 1, delayed: 0, waiting: 0 });
  });

  it("hides a visible message again when the clock is set back before its visibleAt, and delivers it later", async () => {
    // Prepare: a batch of one leaves the second message ready
    const { clock, queues } = makeQueues();
    clock.set(T0 + 10_000);
    await queues.send(Q, { n: 0 });
    await queues.send(Q, { n: 1 });
    await receiveNow(queues, 1, 30);
    // Act
    clock.set(T0 + 5000);
    const early = await receiveNow(queues);
    clock.set(T0 + 10_000);
    const onTime = await receiveNow(queues);
    // Assess
    expect(early).toEqual([]);
    expect(numbers(onTime)).toEqual([1]);
  });

  it("counts delaySeconds in seconds of the clock", async () => {
    // Prepare
    const { clock, queues } = makeQueues();
    await queues.send(Q, { n: 0 }, { delaySeconds: 5 });
    // Act
    clock.advance(4999);
    const early = await receiveNow(queues);
    clock.advance(1);
    const due = await receiveNow(queues);
    // Assess
    expect(early).toEqual([]);
    expect(numbers(due)).toEqual([0]);
  });
});

describe("local queues: arguments", () => {
  it.each([
    ["delaySeconds", (queues: LocalQueues) => queues.send(Q, {}, { delaySeconds: -1 })],
    ["max", (queues: LocalQueues) => queues.receive(Q, { max: 11, waitSeconds: 0, visibilitySeconds: 1 })],
    ["waitSeconds", (queues: LocalQueues) => queues.receive(Q, { max: 1, waitSeconds: 21, visibilitySeconds: 1 })],
    ["visibilitySeconds", (queues: LocalQueues) => queues.receive(Q, { max: 1, waitSeconds: 0, visibilitySeconds: 43_201 })],
  ])("names %s in the QUEUE_BAD_ARGUMENT message", (name, call) =>
    rejection(call(makeQueues().queues), "QUEUE_BAD_ARGUMENT", new RegExp(`^${name} must be an integer from`)),
  );

  it.each([42, undefined, null])("rejects the receipt handle %s, naming receiptHandle", (handle) =>
    rejection(makeQueues().queues.delete(Q, handle as unknown as string), "QUEUE_BAD_ARGUMENT", /^receiptHandle must be/),
  );

  it("explains a body JSON cannot encode", () =>
    rejection(makeQueues().queues.send(Q, { amount: 1n }), "QUEUE_BAD_BODY", /^message body is not JSON-serialisable \(.*BigInt.*\)/));

  it("explains an undefined body", () =>
    rejection(makeQueues().queues.send(Q, undefined), "QUEUE_BAD_BODY", /^message body is undefined or a function/));

  it("accepts a body of exactly 256 KiB and refuses one byte more, saying how large it was", async () => {
    // Prepare: a JSON string body is its characters plus two quotes
    const { queues } = makeQueues();
    const exact = "x".repeat(MAX_MESSAGE_BYTES - 2);
    // Act
    await queues.send(Q, exact);
    // Assess
    expect((await receiveNow(queues))[0]!.body).toHaveLength(MAX_MESSAGE_BYTES);
    await rejection(
      queues.send(Q, `${exact}y`),
      "QUEUE_MESSAGE_TOO_LARGE",
      new RegExp(`^message body is ${MAX_MESSAGE_BYTES + 1} bytes; SQS allows ${MAX_MESSAGE_BYTES}`),
    );
  });

  it("counts UTF-8 bytes, not characters: a body of few characters over 256 KiB in bytes is refused, one at the limit taken", async () => {
    // Prepare: "€" is 3 bytes in UTF-8, one character; the JSON adds two quotes
    const { queues } = makeQueues();
    const third = (MAX_MESSAGE_BYTES - 2) / 3; // 87,381.33: the body below is 262,142 bytes, 87,380 characters
    const atLimit = "€".repeat(Math.floor(third)) + "xx";
    // Act
    await queues.send(Q, atLimit);
    // Assess
    expect(Buffer.byteLength((await receiveNow(queues))[0]!.body)).toBe(MAX_MESSAGE_BYTES);
    await rejection(
      queues.send(Q, `${atLimit}é`),
      "QUEUE_MESSAGE_TOO_LARGE",
      new RegExp(`^message body is ${MAX_MESSAGE_BYTES + 2} bytes; SQS allows ${MAX_MESSAGE_BYTES}`),
    );
  });

  it("treats a queue never used as empty: stats are zero, delete and purge do nothing", async () => {
    // Prepare
    const { queues } = makeQueues();
    // Act + Assess
    expect(queues.stats("worker-unused")).toEqual({ visible: 0, inFlight: 0, delayed: 0, waiting: 0 });
    await expect(queues.delete("worker-unused", "worker-unused:nope:1:x")).resolves.toBeUndefined();
    expect(() => queues.purge("worker-unused")).not.toThrow();
  });
});

describe("local queues: close", () => {
  it.each([
    ["send", (queues: LocalQueues) => queues.send(Q, {})],
    ["receive", (queues: LocalQueues) => receiveNow(queues)],
    ["delete", (queues: LocalQueues) => queues.delete(Q, "matching:x:1:y")],
    ["ensure", (queues: LocalQueues) => queues.ensure(Q)],
  ])("refuses %s once closed", async (_name, call) => {
    // Prepare
    const { queues } = makeQueues();
    await queues.ensure(Q);
    // Act
    queues.close();
    // Assess
    await rejection(call(queues), "QUEUE_CLOSED", /^local queues are closed; create new ones$/);
  });
});

describe("local queues: long-poll and wake timers", () => {
  let setTimeoutSpy: MockInstance<typeof setTimeout>;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    setTimeoutSpy = vi.spyOn(globalThis, "setTimeout");
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  /** The wake timers set so far (every timer but the long-polls' own), with their delays. */
  const wakeTimers = () =>
    setTimeoutSpy.mock.calls
      .map((call, i) => ({ delay: call[1], timer: setTimeoutSpy.mock.results[i]!.value as NodeJS.Timeout }))
      .filter((t) => t.delay !== WAIT_MS);

  it("arms no wake timer while no long-poll waits", async () => {
    // Prepare
    const { queues } = makeQueues();
    // Act
    await queues.send(Q, { n: 0 }, { delaySeconds: 7 });
    await receiveNow(queues);
    // Assess
    expect(vi.getTimerCount()).toBe(0);
  });

  it("arms no wake timer for a long-poll when nothing is hidden", async () => {
    // Prepare
    const { queues } = makeQueues();
    // Act
    const polling = track(longPoll(queues));
    // Assess
    expect(vi.getTimerCount()).toBe(1);
    expect(wakeTimers()).toEqual([]);
    queues.close();
    await flush();
    expect(polling.value).toEqual([]);
  });

  it("arms one unref'd wake timer for the earliest hidden message, not re-armed while unchanged, and it wakes the poll", async () => {
    // Prepare
    const { clock, queues } = makeQueues();
    await queues.send(Q, { n: 0 }, { delaySeconds: 7 });
    await queues.send(Q, { n: 1 }, { delaySeconds: 9 });
    const first = track(longPoll(queues));
    const second = track(longPoll(queues));
    // Act
    clock.advance(7000);
    vi.advanceTimersByTime(7000);
    await flush();
    // Assess
    expect(wakeTimers().map((t) => t.delay)).toEqual([7000, 2000]);
    expect(wakeTimers()[0]!.timer.hasRef()).toBe(false);
    expect(numbers(first.value!)).toEqual([0]);
    expect(second.settled).toBe(false);
    queues.close();
  });

  it("re-arms the wake timer earlier, dropping the old one, when a sooner message arrives", async () => {
    // Prepare
    const { clock, queues } = makeQueues();
    await queues.send(Q, { n: 0 }, { delaySeconds: 10 });
    const polling = track(longPoll(queues));
    // Act
    await queues.send(Q, { n: 1 }, { delaySeconds: 3 });
    const pending = vi.getTimerCount();
    clock.advance(3000);
    vi.advanceTimersByTime(3000);
    await flush();
    // Assess
    expect(wakeTimers().map((t) => t.delay)).toEqual([10_000, 3000]);
    expect(pending).toBe(2);
    expect(numbers(polling.value!)).toEqual([1]);
  });

  it("re-arms past a deleted message to the next live one", async () => {
    // Prepare: the in-flight message comes back at 5 s, the delayed one is due at 10 s
    const { queues } = makeQueues();
    await queues.send(Q, { n: 0 });
    const [inFlight] = await receiveNow(queues, 1, 5);
    await queues.send(Q, { n: 1 }, { delaySeconds: 10 });
    const polling = track(longPoll(queues));
    // Act: deleting re-arms nothing; the next scheduling (a short poll behind the long one) does
    await queues.delete(Q, inFlight!.receiptHandle);
    await receiveNow(queues);
    // Assess
    expect(wakeTimers().map((t) => t.delay)).toEqual([5000, 10_000]);
    expect(vi.getTimerCount()).toBe(2);
    queues.close();
    await flush();
    expect(polling.value).toEqual([]);
  });

  it("gives a message that became visible on the clock to the waiting long-poll, not to a later receive", async () => {
    // Prepare
    const { clock, queues } = makeQueues();
    await queues.send(Q, { n: 0 }, { delaySeconds: 900 });
    const polling = track(longPoll(queues));
    clock.advance(900_000); // no wake(): the wake timer still waits for 900 s of timer time
    // Act
    const later = await receiveNow(queues);
    vi.advanceTimersByTime(1);
    await flush();
    // Assess
    expect(later).toEqual([]);
    expect(numbers(polling.value!)).toEqual([0]);
  });

  it("answers a short poll at once, without waiting for a message sent next", async () => {
    // Prepare
    const { queues } = makeQueues();
    // Act
    const polling = receiveNow(queues);
    const waiting = queues.stats(Q).waiting;
    await queues.send(Q, { n: 0 });
    // Assess
    expect(waiting).toBe(0);
    expect(await polling).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("leaves no timer and no abort listener behind once a long-poll is answered", async () => {
    // Prepare
    const { queues } = makeQueues();
    const abort = new AbortController();
    const polling = longPoll(queues, abort.signal);
    // Act
    await queues.send(Q, { n: 0 });
    // Assess
    expect(numbers(await polling)).toEqual([0]);
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(abort.signal, "abort")).toHaveLength(0);
  });

  it("clears the wake timer when the last long-poll gives up", async () => {
    // Prepare
    const { queues } = makeQueues();
    await queues.send(Q, { n: 0 }, { delaySeconds: 7 });
    const abort = new AbortController();
    const polling = longPoll(queues, abort.signal);
    const armed = vi.getTimerCount();
    // Act
    abort.abort();
    // Assess
    expect(await polling).toEqual([]);
    expect(armed).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("clears the wake timer when a purge leaves nothing hidden for a waiting long-poll", async () => {
    // Prepare
    const { queues } = makeQueues();
    await queues.send(Q, { n: 0 }, { delaySeconds: 7 });
    const polling = track(longPoll(queues));
    // Act
    queues.purge(Q);
    // Assess
    expect(vi.getTimerCount()).toBe(1);
    queues.close();
    await flush();
    expect(polling.value).toEqual([]);
  });

  it("ends pending long-polls at once on close and leaves no timer", async () => {
    // Prepare
    const { queues } = makeQueues();
    await queues.send(Q, { n: 0 }, { delaySeconds: 7 });
    const first = track(longPoll(queues));
    const second = track(longPoll(queues));
    // Act
    queues.close();
    await flush();
    // Assess
    expect([first.value, second.value]).toEqual([[], []]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
