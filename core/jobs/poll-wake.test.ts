/**
 * A draining worker's long-poll is woken (core/workers.ts heartbeat `draining`, events/api.ts
 * AgentWake): the agent's drain waited for its poll in flight to answer, up to 20 s even when
 * idle, since aborting it could lose the jobs of an answer nobody read. The wake ends the poll
 * with nothing aborted; the poll drops it silently and still hands out what was queued before.
 */
import { describe, expect, it } from "vitest";
import { heartbeat } from "../workers";
import { pollJobs } from "./poll";
import { makeJobWorld } from "./testing";

/** `p`'s value if it settles within `ms`, else "pending". */
const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<"pending">((r) => setTimeout(() => r("pending"), ms))]);

describe("a draining worker's poll is woken", () => {
  it("a draining heartbeat ends the worker's long-poll at once, with nothing in it and no warning", async () => {
    // Prepare: an idle worker's 20 s long-poll in flight
    const w = makeJobWorld();
    const worker = await w.worker();
    const polling = pollJobs(w.deps, worker.id, 20);
    await new Promise((r) => setTimeout(r, 20));
    // Act
    await heartbeat(w.deps, worker.id, 0, true, true);
    const polled = await within(polling, 2_000);
    // Assess
    expect(polled).toEqual({ jobs: [], challenges: [] });
    expect(w.logs.filter((l) => l.level !== "info")).toEqual([]);
  });

  it("a job dispatched before the drain is still handed out, ahead of the wake; a plain offline heartbeat wakes nothing", async () => {
    // Prepare: a job on the worker's queue
    const w = makeJobWorld();
    const { header, workers } = await w.submitted(1);
    const worker = workers[0]!;
    // Act
    await heartbeat(w.deps, worker.id, 0, true); // offline only (an engine down): no wake
    const quiet = await within(pollJobs(w.deps, worker.id, 0, 10), 2_000);
    const submitted = await w.submitted(1);
    await heartbeat(w.deps, submitted.workers[0]!.id, 0, true, true);
    const drained = await within(pollJobs(w.deps, submitted.workers[0]!.id, 20, 10), 2_000);
    // Assess
    expect(quiet).toMatchObject({ jobs: [{ jobId: header.jobId }] });
    expect(drained).toMatchObject({ jobs: [{ jobId: submitted.header.jobId }], challenges: [] });
    expect(await w.queues.receive(`worker-${submitted.workers[0]!.id}`, { max: 10, waitSeconds: 0, visibilitySeconds: 0 })).toEqual([]);
    expect(w.logs.filter((l) => l.level === "warn")).toEqual([]);
  });

  it("a wake that cannot be sent (a function without the queue permission) fails nothing: the heartbeat is answered, and the failure logged", async () => {
    // Prepare: the worker queue refuses sends
    const w = makeJobWorld();
    const worker = await w.worker();
    w.deps.queues.send = () => Promise.reject(new Error("AccessDenied"));
    // Act
    const answer = await heartbeat(w.deps, worker.id, 0, true, true);
    // Assess
    expect(answer.ok).toBe(true);
    expect(w.logs).toContainEqual({
      level: "warn",
      msg: "could not wake a draining worker's poll; it ends at its wait",
      data: { workerId: worker.id, error: "Error: AccessDenied" },
    });
  });
});
