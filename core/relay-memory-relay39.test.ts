/**
 * Session 39's review of the answer relay: the in-process relay's positions across a dropped
 * buffer. A job's buffer dropped mid-stream (the total's least recently used, or idle) is made
 * again by the worker's next publish; its readers must then read the chunks at the positions
 * they asked for, or nothing (and the stored reply at the job's end), never another position's
 * chunk: the SDK takes that for a relay that skipped chunks (stream_gap) and fails an honest job.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RelayChunk } from "../events/relay";
import { createMemoryRelay } from "./relay-memory";

const jobId = (n: number) => `job_01jdqv6x7s9k2m4n8p0r3t5w${String(n).padStart(2, "0")}`;
const A = jobId(0);
const chunk = (job: string, seq: number, bytes = 100): RelayChunk => ({
  jobId: job,
  attempt: 0,
  seq,
  final: false,
  data: "A".repeat(bytes),
});
const seqs = (r: { chunks: RelayChunk[] }) => r.chunks.map((c) => c.seq);
const IDLE_MS = 60_000;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Job A streamed seq 0 and 1, read by a reader now at position 2, then another job's bytes pushed A's buffer out. */
async function droppedMidStream(o: { idleMs?: number; endedGraceMs?: number } = {}) {
  const relay = createMemoryRelay({ maxTotalBytes: 300, ...o });
  await relay.publish(A, [chunk(A, 0), chunk(A, 1)]);
  const first = await relay.read(A, 0, 0);
  await relay.publish(jobId(1), [chunk(jobId(1), 0, 250)]); // A is the least recently used: dropped
  expect(relay.dump().filter((c) => c.jobId === A)).toEqual([]);
  return { relay, next: first.next };
}

describe("a job's buffer dropped mid-stream (relay39 #2)", () => {
  it("a reader part-way through reads the worker's next chunks at their own positions", async () => {
    const { relay, next } = await droppedMidStream();
    expect(next).toBe(2);
    await relay.publish(A, [chunk(A, 2), chunk(A, 3), chunk(A, 4)]);
    const r = await relay.read(A, next, 0);
    expect(seqs(r)).toEqual([2, 3, 4]);
    expect(r.next).toBe(5);
  });

  it("a reader behind the drop gets nothing of what came after it (the stored reply has the rest), not later chunks in their place", async () => {
    const { relay } = await droppedMidStream();
    await relay.publish(A, [chunk(A, 2), chunk(A, 3)]);
    const r = await relay.read(A, 0, 0);
    expect(r.chunks).toEqual([]);
    expect(r.next).toBe(0);
  });

  it("a reader behind the drop that waits is not answered by the worker's publishes (no busy loop), only by its wait's end", async () => {
    const { relay } = await droppedMidStream();
    let settled = false;
    const read = relay.read(A, 1, 5_000).then((r) => ((settled = true), r));
    await relay.publish(A, [chunk(A, 2)]);
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await read).toEqual({ chunks: [], next: 1, ended: false });
  });
});

describe("a job dropped mid-stream, then ended", () => {
  it("a reader behind the drop is told the stream ended, at its own position (it reads the rest from the stored reply)", async () => {
    // Prepare
    const { relay } = await droppedMidStream({ idleMs: IDLE_MS, endedGraceMs: IDLE_MS });
    await relay.publish(A, [chunk(A, 2), chunk(A, 3)]);
    relay.end(A);
    // Act / Assess (killed: the before-base branch never ending, or answering the base as next: a gap to the SDK)
    expect(await relay.read(A, 0, 0)).toEqual({ chunks: [], next: 0, ended: true });
    // and a reader that has read it all is told so at the end's position (killed: next counted from the buffer's start)
    expect(await relay.read(A, 4, 0)).toEqual({ chunks: [], next: 4, ended: true });
  });

  it("dropped a second time, its buffer goes on from the position the second reached", async () => {
    // Prepare: A dropped at 2, goes on with 2 and 3, dropped again (at 4), goes on with 4
    const { relay } = await droppedMidStream({ idleMs: IDLE_MS, endedGraceMs: IDLE_MS });
    await relay.publish(A, [chunk(A, 2), chunk(A, 3)]);
    await relay.publish(jobId(2), [chunk(jobId(2), 0, 250)]);
    expect(relay.dump().filter((c) => c.jobId === A)).toEqual([]);
    await relay.publish(A, [chunk(A, 4)]);
    // Act
    const r = await relay.read(A, 4, 0);
    // Assess (killed: a drop's position counted from the buffer's start, not the job's)
    expect(seqs(r)).toEqual([4]);
    expect(r.next).toBe(5);
  });
});

describe("how long a dropped job's position is kept", () => {
  it("idleMs: kept at exactly idleMs after the drop, forgotten after (the next buffer starts at 0)", async () => {
    for (const [after, base] of [
      [IDLE_MS, 2],
      [IDLE_MS + 1, 0],
    ] as const) {
      // Prepare
      const { relay } = await droppedMidStream({ idleMs: IDLE_MS, endedGraceMs: IDLE_MS });
      await vi.advanceTimersByTimeAsync(after);
      relay.sweep();
      // Act
      await relay.publish(A, [chunk(A, 2)]);
      // Assess (killed: never forgotten; forgotten at `>=`)
      expect(seqs(await relay.read(A, base, 0))).toEqual([2]);
    }
  });
});

describe("how many dropped jobs' positions are kept: maxJobs, the oldest forgotten first", () => {
  /** maxJobs 2: jobs 1 and 2 stream a chunk each and are pushed out by three empty buffers (publishes of nothing). */
  async function pushedOut() {
    const relay = createMemoryRelay({ maxJobs: 2 });
    for (const n of [1, 2]) await relay.publish(jobId(n), [chunk(jobId(n), 0)]);
    for (const n of [10, 11, 12]) await relay.publish(jobId(n), []);
    return relay;
  }

  it("empty buffers dropped take no place: both positions are kept", async () => {
    // Prepare
    const relay = await pushedOut();
    // Act
    await relay.publish(jobId(1), [chunk(jobId(1), 1)]);
    // Assess (killed: the position of an empty buffer (0) remembered, pushing job 1's out)
    expect(seqs(await relay.read(jobId(1), 1, 0))).toEqual([1]);
  });

  it("a third position pushes the first out, and only the first", async () => {
    // Prepare: a third streamed job dropped
    const relay = await pushedOut();
    await relay.publish(jobId(3), [chunk(jobId(3), 0)]);
    for (const n of [13, 14]) await relay.publish(jobId(n), []);
    // Act
    await relay.publish(jobId(2), [chunk(jobId(2), 1)]);
    const second = await relay.read(jobId(2), 1, 0);
    await relay.publish(jobId(1), [chunk(jobId(1), 1)]);
    const first = await relay.read(jobId(1), 0, 0);
    // Assess (killed: no bound (job 1 still at 1); the bound at `>=` (job 2 forgotten too))
    expect(seqs(second)).toEqual([1]);
    expect(seqs(first)).toEqual([1]);
  });
});
