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

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Job A streamed seq 0 and 1, read by a reader now at position 2, then another job's bytes pushed A's buffer out. */
async function droppedMidStream() {
  const relay = createMemoryRelay({ maxTotalBytes: 300 });
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
