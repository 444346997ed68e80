import { describe, expect, it } from "vitest";
import type { RelayChunk } from "../events/relay";
import { createMemoryRelay } from "./relay-memory";
import { RelayFullError } from "./relay";

const JOB = "job_01jdqv6x7s9k2m4n8p0r3t5w00";
const chunk = (seq: number, data = "AAAA"): RelayChunk => ({ jobId: JOB, attempt: 0, seq, final: false, data });

describe("the in-process relay", () => {
  it("a reader that comes late gets the stream from its start; a waiting reader wakes on the next publish", async () => {
    // Prepare
    const relay = createMemoryRelay();
    await relay.publish(JOB, [chunk(0), chunk(1)]);
    // Act
    const late = await relay.read(JOB, 0, 0);
    const waiting = relay.read(JOB, 2, 5_000);
    await relay.publish(JOB, [chunk(2)]);
    const woke = await waiting;
    // Assess
    expect(late.chunks.map((c) => c.seq)).toEqual([0, 1]);
    expect(late.next).toBe(2);
    expect(woke.chunks.map((c) => c.seq)).toEqual([2]);
  });

  it("a read with nothing new returns empty at the end of its wait; after end() readers drain and stop", async () => {
    const relay = createMemoryRelay();
    await relay.publish(JOB, [chunk(0)]);
    const empty = await relay.read(JOB, 1, 10);
    relay.end(JOB);
    const seen: number[] = [];
    for await (const c of relay.subscribe(JOB)) seen.push(c.seq);
    expect(empty).toEqual({ chunks: [], next: 1, ended: false });
    expect(seen).toEqual([0]);
    await expect(relay.publish(JOB, [chunk(1)])).rejects.toBeInstanceOf(RelayFullError);
  });

  it("the buffer is bounded: too many chunks or bytes for one job is relay_full (429); too many jobs drops the least recently used", async () => {
    // Prepare
    const relay = createMemoryRelay({ maxChunksPerJob: 2, maxBytesPerJob: 10, maxJobs: 2 });
    // Act / Assess
    await relay.publish(JOB, [chunk(0), chunk(1)]);
    await expect(relay.publish(JOB, [chunk(2)])).rejects.toMatchObject({ status: 429, code: "relay_full" });
    const other = "job_01jdqv6x7s9k2m4n8p0r3t5w01";
    await expect(relay.publish(other, [chunk(0, "A".repeat(11))])).rejects.toMatchObject({ code: "relay_full" });
    await relay.publish("job_01jdqv6x7s9k2m4n8p0r3t5w02", [chunk(0)]);
    await relay.publish("job_01jdqv6x7s9k2m4n8p0r3t5w03", [chunk(0)]);
    expect(relay.size()).toBe(2);
    expect((await relay.read(JOB, 0, 0)).chunks).toEqual([]); // the oldest went
  });

  it("an ended buffer is dropped after the grace, an idle one after idleMs; a live one stays", async () => {
    // Prepare
    let now = 0;
    const relay = createMemoryRelay({ idleMs: 1000, endedGraceMs: 100, clock: { now: () => now } });
    const idle = "job_01jdqv6x7s9k2m4n8p0r3t5w09";
    await relay.publish(JOB, [chunk(0)]);
    await relay.publish(idle, [chunk(0)]);
    relay.end(JOB);
    // Act / Assess
    now = 150;
    relay.sweep();
    expect((await relay.read(JOB, 0, 0)).chunks).toEqual([]);
    expect((await relay.read(idle, 0, 0)).chunks).toHaveLength(1);
    now = 1100; // the idle job was last touched (read) at 150
    relay.sweep();
    expect(relay.size()).toBe(1);
    now = 1200;
    relay.sweep();
    expect(relay.size()).toBe(0);
  });
});
