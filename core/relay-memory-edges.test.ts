import { getEventListeners } from "node:events";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RelayChunk } from "../events/relay";
import type { RelayRead } from "./relay";
import { RelayFullError } from "./relay";
import { createMemoryRelay, type MemoryRelayOptions } from "./relay-memory";

// The edges of the in-process relay: exact bounds, who wakes a waiting reader and how fast, what a reader
// leaves behind, the job bound's eviction order, and the expiry timer. Time is fake throughout (Date too),
// so "at once" below means within 1 ms of fake time, against waits of seconds.

const JOB = "job_01jdqv6x7s9k2m4n8p0r3t5w00";
const jobId = (n: number) => `job_01jdqv6x7s9k2m4n8p0r3t5w${String(n).padStart(2, "0")}`;
const chunk = (seq: number, data = "AAAA", job = JOB): RelayChunk => ({ jobId: job, attempt: 0, seq, final: false, data });
const chunks = (from: number, count: number, data = "AAAA"): RelayChunk[] => Array.from({ length: count }, (_, i) => chunk(from + i, data));
const seqs = (r: RelayRead) => r.chunks.map((c) => c.seq);

/** A relay whose clock the test sets (the sweep timer still runs on fake timers, so it only fires when advanced). */
const clockedRelay = (o: MemoryRelayOptions = {}) => {
  let t = 0;
  const relay = createMemoryRelay({ ...o, clock: { now: () => t } });
  return { relay, at: (ms: number) => void (t = ms) };
};

/** Tracks a promise without awaiting it, to tell whether it settled yet. */
const watch = <T>(p: Promise<T>) => {
  const w: { settled: boolean; value?: T } = { settled: false };
  void p.then((value) => {
    w.settled = true;
    w.value = value;
  });
  return w;
};
/** Lets 1 ms of fake time pass (and every promise callback run): far below any wait used here. */
const aMoment = () => vi.advanceTimersByTimeAsync(1);

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.restoreAllMocks(); // first: a spy on setInterval wraps the fake one
  vi.useRealTimers();
});

describe("the relay's per-stream bounds", () => {
  it("a publish reaching exactly maxChunksPerJob is accepted; one more chunk is relay_full (429) naming the bounds", async () => {
    // Prepare
    const relay = createMemoryRelay({ maxChunksPerJob: 3, maxBytesPerJob: 1000 });
    await relay.publish(JOB, chunks(0, 2));
    // Act
    await relay.publish(JOB, chunks(2, 1));
    const refused = relay.publish(JOB, chunks(3, 1));
    // Assess
    await expect(refused).rejects.toBeInstanceOf(RelayFullError);
    await expect(refused).rejects.toMatchObject({
      status: 429,
      code: "relay_full",
      message: `job ${JOB}'s relay buffer is full (3 chunks / 1000 bytes); the result carries the whole reply`,
    });
    expect(seqs(await relay.read(JOB, 0, 0))).toEqual([0, 1, 2]);
  });

  it("a single publish of more chunks than maxChunksPerJob is refused whole, even far below maxBytesPerJob", async () => {
    // Prepare
    const relay = createMemoryRelay({ maxChunksPerJob: 2, maxBytesPerJob: 1_000_000 });
    // Act
    const refused = relay.publish(JOB, chunks(0, 3, "A"));
    // Assess
    await expect(refused).rejects.toMatchObject({ status: 429, code: "relay_full" });
    expect(relay.dump()).toEqual([]);
  });

  it("a final chunk's receipt counts against maxBytesPerJob: a worker cannot buffer megabytes in its strings", async () => {
    // Prepare: a receipt whose measurement (a string the schema does not cap) is 2 MiB
    const relay = createMemoryRelay({ maxChunksPerJob: 100, maxBytesPerJob: 1024 * 1024 });
    const receipt = {
      body: {
        v: 1 as const,
        jobId: JOB,
        workerId: "A".repeat(43),
        model: "m",
        requestHash: "0".repeat(64),
        replyHash: "0".repeat(64),
        usage: { promptTokens: 0, completionTokens: 0 },
        measurement: "x".repeat(2 * 1024 * 1024),
        finishedAt: 0,
      },
      signature: "A",
    };
    // Act
    const fat = relay.publish(JOB, [{ ...chunk(0), final: true, receipt }]);
    // Assess: refused, and nothing was buffered
    await expect(fat).rejects.toBeInstanceOf(RelayFullError);
    expect((await relay.read(JOB, 0, 0)).chunks).toEqual([]);
  });

  it("bytes add up across publishes: reaching exactly maxBytesPerJob is accepted, one more byte is relay_full", async () => {
    // Prepare
    const relay = createMemoryRelay({ maxChunksPerJob: 100, maxBytesPerJob: 10 });
    await relay.publish(JOB, [chunk(0, "AAAA")]);
    // Act
    await relay.publish(JOB, [chunk(1, "AAAAAA")]);
    const refused = relay.publish(JOB, [chunk(2, "A")]);
    // Assess
    await expect(refused).rejects.toMatchObject({
      status: 429,
      code: "relay_full",
      message: `job ${JOB}'s relay buffer is full (100 chunks / 10 bytes); the result carries the whole reply`,
    });
    expect(seqs(await relay.read(JOB, 0, 0))).toEqual([0, 1]);
  });

  it("by default a stream takes 4096 chunks and refuses the 4097th, naming 4096 chunks / 4 MiB", async () => {
    // Prepare
    const relay = createMemoryRelay();
    // Act
    await relay.publish(JOB, chunks(0, 4096, "A"));
    const refused = relay.publish(JOB, chunks(4096, 1, "A"));
    // Assess
    await expect(refused).rejects.toMatchObject({
      code: "relay_full",
      message: `job ${JOB}'s relay buffer is full (4096 chunks / 4194304 bytes); the result carries the whole reply`,
    });
    expect(relay.published).toBe(4096);
  });

  it("`published` counts the accepted chunks of every job, not the refused ones", async () => {
    // Prepare
    const relay = createMemoryRelay({ maxChunksPerJob: 2 });
    // Act
    await relay.publish(JOB, chunks(0, 2));
    await relay.publish(jobId(1), [chunk(0, "AAAA", jobId(1))]);
    await relay.publish(JOB, chunks(2, 1)).catch(() => undefined);
    // Assess
    expect(relay.published).toBe(3);
  });

  it("publishing to an ended stream is relay_full, saying the stream of that job has ended", async () => {
    // Prepare
    const relay = createMemoryRelay();
    await relay.publish(JOB, [chunk(0)]);
    relay.end(JOB);
    // Act
    const refused = relay.publish(JOB, [chunk(1)]);
    // Assess
    await expect(refused).rejects.toBeInstanceOf(RelayFullError);
    await expect(refused).rejects.toMatchObject({ status: 429, message: `the stream of job ${JOB} has ended` });
  });

  it("with maxJobs 0 nothing is buffered: a publish is refused (its buffer is dropped as soon as it is made)", async () => {
    // Prepare
    const relay = createMemoryRelay({ maxJobs: 0 });
    // Act
    const refused = relay.publish(JOB, [chunk(0)]);
    // Assess
    await expect(refused).rejects.toMatchObject({ code: "relay_full", message: `the stream of job ${JOB} has ended` });
    expect(relay.size()).toBe(0);
    expect(relay.published).toBe(0);
  });
});

describe("reading the relay", () => {
  it("a read with chunks past `from` on a live stream returns them with ended: false", async () => {
    // Prepare
    const relay = createMemoryRelay();
    await relay.publish(JOB, chunks(0, 3));
    // Act
    const r = await relay.read(JOB, 1, 0);
    // Assess
    expect(r).toEqual({ chunks: chunks(1, 2), next: 3, ended: false });
  });

  it("an ended stream hands out its remaining chunks first (ended: false), then ended: true at its end, at once", async () => {
    // Prepare
    const relay = createMemoryRelay();
    await relay.publish(JOB, chunks(0, 2));
    relay.end(JOB);
    // Act
    const rest = await relay.read(JOB, 0, 10_000);
    const last = await relay.read(JOB, 2, 10_000);
    // Assess
    expect(rest).toEqual({ chunks: chunks(0, 2), next: 2, ended: false });
    expect(last).toEqual({ chunks: [], next: 2, ended: true });
  });

  it("a waiting reader is woken by publish at once, long before its wait ends, with the new chunk", async () => {
    // Prepare
    const relay = createMemoryRelay();
    await relay.publish(JOB, [chunk(0)]);
    const reader = watch(relay.read(JOB, 1, 10_000));
    await aMoment();
    // Act
    await relay.publish(JOB, [chunk(1)]);
    await aMoment();
    // Assess
    expect(reader.settled).toBe(true);
    expect(reader.value).toEqual({ chunks: [chunk(1)], next: 2, ended: false });
  });

  it("a waiting reader is woken by end() at once, long before its wait ends, with ended: true", async () => {
    // Prepare
    const relay = createMemoryRelay();
    await relay.publish(JOB, [chunk(0)]);
    const reader = watch(relay.read(JOB, 1, 10_000));
    await aMoment();
    expect(reader.settled).toBe(false);
    // Act
    relay.end(JOB);
    await aMoment();
    // Assess
    expect(reader.settled).toBe(true);
    expect(reader.value).toEqual({ chunks: [], next: 1, ended: true });
  });

  it("a reader woken by publish leaves no timer and no abort listener behind", async () => {
    // Prepare
    const relay = createMemoryRelay();
    const signal = new AbortController().signal;
    const timersBefore = vi.getTimerCount();
    const reader = watch(relay.read(JOB, 0, 10_000, signal));
    await aMoment();
    expect(vi.getTimerCount()).toBe(timersBefore + 1);
    expect(getEventListeners(signal, "abort")).toHaveLength(1);
    // Act
    await relay.publish(JOB, [chunk(0)]);
    await aMoment();
    // Assess
    expect(reader.settled).toBe(true);
    expect(vi.getTimerCount()).toBe(timersBefore);
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
  });

  it("a reader that timed out leaves no abort listener and is not called back by a later publish", async () => {
    // Prepare
    const relay = createMemoryRelay();
    const signal = new AbortController().signal;
    const removeListener = vi.spyOn(signal, "removeEventListener");
    const reader = watch(relay.read(JOB, 0, 1_000, signal));
    // Act
    await vi.advanceTimersByTimeAsync(1_000);
    const afterTimeout = removeListener.mock.calls.length;
    await relay.publish(JOB, [chunk(0)]);
    await aMoment();
    // Assess
    expect(reader.value).toEqual({ chunks: [], next: 0, ended: false });
    expect(afterTimeout).toBe(1);
    expect(removeListener).toHaveBeenCalledTimes(1);
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
  });

  it("an abort wakes a waiting reader at once with an empty read at `from`, and its listener is gone", async () => {
    // Prepare
    const relay = createMemoryRelay();
    await relay.publish(JOB, chunks(0, 2));
    const ac = new AbortController();
    const removeListener = vi.spyOn(ac.signal, "removeEventListener");
    const reader = watch(relay.read(JOB, 2, 10_000, ac.signal));
    await aMoment();
    // Act
    ac.abort();
    await aMoment();
    // Assess
    expect(reader.settled).toBe(true);
    expect(reader.value).toEqual({ chunks: [], next: 2, ended: false });
    expect(getEventListeners(ac.signal, "abort")).toHaveLength(0);
    await relay.publish(JOB, chunks(2, 1));
    expect(removeListener).toHaveBeenCalledTimes(1); // an aborted reader is not called back by a later publish
  });

  it("a read with an already-aborted signal does not wait: the buffered chunks, or an empty read at once", async () => {
    // Prepare
    const relay = createMemoryRelay();
    await relay.publish(JOB, [chunk(0)]);
    const signal = AbortSignal.abort();
    // Act
    const buffered = await relay.read(JOB, 0, 10_000, signal);
    const nothing = await relay.read(JOB, 1, 10_000, signal);
    // Assess
    expect(buffered).toEqual({ chunks: [chunk(0)], next: 1, ended: false });
    expect(nothing).toEqual({ chunks: [], next: 1, ended: false });
  });

  it("subscribe with an already-aborted signal yields nothing, even with chunks buffered", async () => {
    // Prepare
    const relay = createMemoryRelay();
    await relay.publish(JOB, chunks(0, 2));
    const it = relay.subscribe(JOB, { signal: AbortSignal.abort() })[Symbol.asyncIterator]();
    // Act
    const first = await it.next();
    await it.return?.();
    // Assess
    expect(first).toEqual({ done: true, value: undefined });
  });

  it("subscribe follows a stream across several reads, from `from`, and stops at once on end()", async () => {
    // Prepare
    const relay = createMemoryRelay();
    await relay.publish(JOB, chunks(0, 2));
    const seen: number[] = [];
    const following = watch(
      (async () => {
        for await (const c of relay.subscribe(JOB, { from: 1 })) seen.push(c.seq);
      })(),
    );
    await aMoment();
    // Act
    await relay.publish(JOB, chunks(2, 1));
    await aMoment();
    await relay.publish(JOB, chunks(3, 1));
    relay.end(JOB);
    await aMoment();
    // Assess
    expect(following.settled).toBe(true);
    expect(seen).toEqual([1, 2, 3]);
  });
});

describe("end()", () => {
  it("ending a job that has no buffer does nothing: no throw, nothing created", () => {
    // Prepare
    const relay = createMemoryRelay();
    // Act
    const act = () => relay.end(JOB);
    // Assess
    expect(act).not.toThrow();
    expect(relay.size()).toBe(0);
  });

  it("ending an already-ended stream again does not restart its grace", async () => {
    // Prepare
    const { relay, at } = clockedRelay({ endedGraceMs: 100, idleMs: 10_000 });
    await relay.publish(JOB, [chunk(0)]);
    relay.end(JOB);
    // Act
    at(90);
    relay.end(JOB);
    at(150);
    relay.sweep();
    // Assess
    expect(relay.size()).toBe(0);
  });
});

describe("the job bound and expiry", () => {
  it("exactly maxJobs buffers are all kept: a sweep evicts none", async () => {
    // Prepare
    const relay = createMemoryRelay({ maxJobs: 2 });
    await relay.publish(jobId(1), [chunk(0, "AAAA", jobId(1))]);
    await relay.publish(jobId(2), [chunk(0, "AAAA", jobId(2))]);
    // Act
    relay.sweep();
    // Assess
    expect(relay.size()).toBe(2);
  });

  it("one job over maxJobs evicts exactly the oldest one", async () => {
    // Prepare
    const relay = createMemoryRelay({ maxJobs: 2 });
    for (const n of [1, 2]) await relay.publish(jobId(n), [chunk(0, "AAAA", jobId(n))]);
    // Act
    await relay.publish(jobId(3), [chunk(0, "AAAA", jobId(3))]);
    // Assess
    expect(relay.size()).toBe(2);
    expect(relay.dump().map((c) => c.jobId)).toEqual([jobId(2), jobId(3)]);
  });

  it("a read refreshes a job: the least recently used goes first, not the first created", async () => {
    // Prepare
    const relay = createMemoryRelay({ maxJobs: 2 });
    for (const n of [1, 2]) await relay.publish(jobId(n), [chunk(0, "AAAA", jobId(n))]);
    await relay.read(jobId(1), 0, 0);
    // Act
    await relay.publish(jobId(3), [chunk(0, "AAAA", jobId(3))]);
    // Assess
    expect(relay.dump().map((c) => c.jobId)).toEqual([jobId(1), jobId(3)]);
  });

  it("a new job within maxJobs drops nothing, not even a buffer past idleMs (that is the sweep's work)", async () => {
    // Prepare
    const { relay, at } = clockedRelay({ idleMs: 1_000, maxJobs: 2 });
    await relay.publish(jobId(1), [chunk(0, "AAAA", jobId(1))]);
    at(5_000);
    // Act
    await relay.publish(jobId(2), [chunk(0, "AAAA", jobId(2))]);
    // Assess
    expect(relay.size()).toBe(2);
  });

  it("an idle buffer is kept at exactly idleMs and dropped 1 ms later; an ended one likewise at endedGraceMs", async () => {
    // Prepare
    const { relay, at } = clockedRelay({ idleMs: 1_000, endedGraceMs: 100 });
    await relay.publish(jobId(1), [chunk(0, "AAAA", jobId(1))]);
    await relay.publish(jobId(2), [chunk(0, "AAAA", jobId(2))]);
    relay.end(jobId(2));
    // Act / Assess
    at(100);
    relay.sweep();
    expect(relay.size()).toBe(2);
    at(101);
    relay.sweep();
    expect(relay.dump().map((c) => c.jobId)).toEqual([jobId(1)]);
    at(1_000);
    relay.sweep();
    expect(relay.size()).toBe(1);
    at(1_001);
    relay.sweep();
    expect(relay.size()).toBe(0);
  });

  it("the timer sweeps every min(idleMs, endedGraceMs, 1 min): an ended stream goes within two grace periods", async () => {
    // Prepare
    const relay = createMemoryRelay({ idleMs: 1_000, endedGraceMs: 100 });
    await relay.publish(JOB, [chunk(0)]);
    relay.end(JOB);
    // Act
    await vi.advanceTimersByTimeAsync(150);
    const atFirstTick = relay.size();
    await vi.advanceTimersByTimeAsync(100);
    // Assess
    expect(atFirstTick).toBe(1);
    expect(relay.size()).toBe(0);
  });

  it("with the defaults the timer sweeps every 30 s: an ended stream is gone a minute after end()", async () => {
    // Prepare
    const relay = createMemoryRelay();
    await relay.publish(JOB, [chunk(0)]);
    relay.end(JOB);
    // Act
    await vi.advanceTimersByTimeAsync(60_001);
    // Assess
    expect(relay.size()).toBe(0);
  });

  it("the sweep timer runs every min(idleMs, endedGraceMs, 1 min) and does not keep the process alive (unref'd)", () => {
    // Prepare
    const setIntervalSpy = vi.spyOn(globalThis, "setInterval");
    // Act
    createMemoryRelay({ idleMs: 1_000, endedGraceMs: 500 });
    // Assess
    expect(setIntervalSpy).toHaveBeenCalledTimes(1);
    expect(setIntervalSpy).toHaveBeenCalledWith(expect.any(Function), 500);
    const timer = setIntervalSpy.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
  });

  it("a reader waiting on a buffer that gets dropped is woken and waits on a fresh one, so the next publish reaches it at once", async () => {
    // Prepare
    const relay = createMemoryRelay({ idleMs: 1_000, endedGraceMs: 1_000 });
    const reader = watch(relay.read(JOB, 0, 5_000));
    await vi.advanceTimersByTimeAsync(2_000); // the idle sweep drops the buffer the reader made
    // Act
    await relay.publish(JOB, [chunk(0)]);
    await aMoment();
    // Assess
    expect(reader.settled).toBe(true);
    expect(reader.value).toEqual({ chunks: [chunk(0)], next: 1, ended: false });
  });
});
