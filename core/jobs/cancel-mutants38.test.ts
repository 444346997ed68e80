/**
 * Mutants of cancelJob's re-send limit (mayResend, session 38, helper mut38) that
 * core/jobs/cancel.test.ts left alive: the limit is per job (one job's re-asks spent leave
 * another's alone), and a limit that cannot be applied is an error, not "limit reached".
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_RATE_LIMITS } from "../attestation/rate-limit";
import { cancelJob } from "./cancel";
import { makeJobWorld, type JobWorld } from "./testing";

/** Every message on the queues of `workerIds`, taken off them. */
async function drained(w: JobWorld, workerIds: string[]): Promise<Array<{ kind?: string; jobId?: string }>> {
  const all: Array<{ kind?: string; jobId?: string }> = [];
  for (const id of workerIds)
    for (let got = await w.queues.receive(`worker-${id}`, { max: 10, waitSeconds: 0, visibilitySeconds: 900 }); got.length > 0;) {
      for (const m of got) {
        all.push(JSON.parse(m.body) as { kind?: string; jobId?: string });
        await w.queues.delete(`worker-${id}`, m.receiptHandle);
      }
      got = await w.queues.receive(`worker-${id}`, { max: 10, waitSeconds: 0, visibilitySeconds: 900 });
    }
  return all;
}

describe("cancel re-sends: limited per job", () => {
  it("one job's re-asks spent, another job's first re-ask is still sent", async () => {
    // Prepare: two running jobs (attempt 0 each); the first's re-sends used up
    const w = makeJobWorld();
    const a = await w.submitted(1);
    const b = await w.submitted(1);
    // by the jobs' candidates: b's may be a worker made for a (sealedJob picks among all live ones)
    const workerIds = [...new Set([...a.job.candidates, ...b.job.candidates].map((c) => c.workerId))];
    await drained(w, workerIds);
    await cancelJob(w.deps, a.r.id, a.header.jobId);
    for (let i = 0; i <= DEFAULT_RATE_LIMITS.cancel_resend.burst; i++) await cancelJob(w.deps, a.r.id, a.header.jobId);
    await drained(w, workerIds);
    // Act
    await cancelJob(w.deps, b.r.id, b.header.jobId);
    await cancelJob(w.deps, b.r.id, b.header.jobId);
    const sent = await drained(w, workerIds);
    // Assess: the recording cancel and one re-send, both for b
    expect(sent).toEqual([
      { kind: "cancel", jobId: b.header.jobId, attempt: 0 },
      { kind: "cancel", jobId: b.header.jobId, attempt: 0 },
    ]);
  });

  it("a re-send limit that cannot be applied (a misconfigured cancel_resend) fails the ask instead of silently sending nothing", async () => {
    // Prepare: a recorded cancel, then a configuration whose limit the buckets refuse
    const w = makeJobWorld();
    const s = await w.submitted(1);
    await cancelJob(w.deps, s.r.id, s.header.jobId);
    w.deps.config = { ...w.deps.config, rateLimits: { cancel_resend: { burst: 0, perMinute: 6 } } };
    // Act
    const again = cancelJob(w.deps, s.r.id, s.header.jobId);
    // Assess
    await expect(again).rejects.toBeInstanceOf(RangeError);
  });
});
