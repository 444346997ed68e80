/**
 * Session 23 review (resource exhaustion): the in-process relay's memory across all jobs. Each
 * job's buffer is capped (4 MiB) and so is the number of jobs (10,000), but not their product
 * (40 GiB): a requester that is also a worker fills its own jobs' buffers.
 */
import { describe, expect, it } from "vitest";
import type { RelayChunk } from "../events/relay";
import { RelayFullError } from "../core/relay";
import { createMemoryRelay } from "../core/relay-memory";

const jobId = (n: number) => `job_01jdqv6x7s9k2m4n8p0r3t5w${String(n).padStart(2, "0")}`;
/** Factory: one chunk of `bytes` base64url characters for job `n`. */
const chunkOf = (n: number, seq: number, bytes: number): RelayChunk => ({
  jobId: jobId(n),
  attempt: 0,
  seq,
  final: false,
  data: "A".repeat(bytes),
});

/** What the relay holds now, in base64url characters (through dump(), which every version has). */
const held = (relay: { dump(): RelayChunk[] }) => relay.dump().reduce((n, c) => n + c.data.length, 0);

describe("session 23: the relay's bytes across all jobs", () => {
  it("past maxTotalBytes the least recently used other jobs are dropped, and the total never passes the cap", async () => {
    // Prepare: 4 jobs of 100 bytes each fill a 400-byte relay; job 0 is read (touched) last
    const relay = createMemoryRelay({ maxTotalBytes: 400, maxBytesPerJob: 1000 });
    for (let n = 0; n < 4; n++) await relay.publish(jobId(n), [chunkOf(n, 0, 100)]);
    await relay.read(jobId(0), 0, 0);
    // Act: a fifth job's 150 bytes need room
    await relay.publish(jobId(4), [chunkOf(4, 0, 150)]);
    // Assess: jobs 1 and 2 (least recently used) went; 0, 3 and 4 stay; the total is under the cap
    expect(held(relay)).toBe(350);
    expect(relay.bytes()).toBe(350);
    expect((await relay.read(jobId(1), 0, 0)).chunks).toEqual([]);
    expect((await relay.read(jobId(2), 0, 0)).chunks).toEqual([]);
    expect((await relay.read(jobId(0), 0, 0)).chunks).toHaveLength(1);
    expect((await relay.read(jobId(3), 0, 0)).chunks).toHaveLength(1);
    expect((await relay.read(jobId(4), 0, 0)).chunks).toHaveLength(1);
  });

  it("many jobs each filled to their own cap stay within maxTotalBytes; one job alone past it is relay_full", async () => {
    // Prepare
    const relay = createMemoryRelay({ maxTotalBytes: 1000, maxBytesPerJob: 800 });
    // Act: 20 jobs of 300 bytes (6000 in all), then one job asking for more than the whole relay holds
    for (let n = 0; n < 20; n++) await relay.publish(jobId(n), [chunkOf(n, 0, 300)]);
    const filled = held(relay);
    await relay.publish(jobId(50), [chunkOf(50, 0, 600)]);
    const alone = relay.publish(jobId(50), [chunkOf(50, 1, 500)]);
    // Assess
    expect(filled).toBeLessThanOrEqual(1000);
    await expect(alone).rejects.toBeInstanceOf(RelayFullError);
    expect(held(relay)).toBeLessThanOrEqual(1000);
  });

  it("a dropped job's bytes are given back: after its job ended and was swept, the whole relay is free again", async () => {
    // Prepare: a 200-byte relay, half of it held by a job that then ends and is swept
    let t = 0;
    const relay = createMemoryRelay({ maxTotalBytes: 200, endedGraceMs: 10, clock: { now: () => t } });
    await relay.publish(jobId(0), [chunkOf(0, 0, 100)]);
    relay.end(jobId(0));
    t = 100;
    relay.sweep();
    // Act: another job takes the whole relay
    await relay.publish(jobId(1), [chunkOf(1, 0, 200)]);
    // Assess
    expect(held(relay)).toBe(200);
    expect(relay.bytes()).toBe(200);
  });
});
