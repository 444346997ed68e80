/**
 * The requester's wait for an answer (issue 12): woken by the result itself, not by re-reading
 * the job item in a loop.
 */
import { describe, expect, it } from "vitest";
import type { Notifier } from "../ports";
import { getJob } from "./read";
import { postResult } from "./results";
import { submitJob, submitJobWithItem } from "./submit";
import { countReads, makeJobWorld, type JobWorld } from "./testing";

async function submitted(w: JobWorld) {
  const a = await w.worker();
  const r = await w.requester();
  const { envelope, quote } = await w.sealedJob(r);
  await submitJob(w.deps, r.id, envelope, "key-00000001", quote);
  return { a, r, envelope };
}

describe("getJob ?wait", () => {
  it("a waiting requester is answered by the result itself: one read before the wait, none after", async () => {
    // Prepare
    const w = makeJobWorld();
    const { a, r, envelope } = await submitted(w);
    const jobId = envelope.header.jobId;
    // Act
    const { value: view, reads } = await countReads(w, jobId, async () => {
      const waiting = getJob(w.deps, r.id, jobId, 20);
      await new Promise((res) => setImmediate(res)); // the waiter is now waiting
      await postResult(w.deps, a.id, w.completed(a, envelope));
      return waiting;
    });
    // Assess
    expect(view.status).toBe("completed");
    expect(view.reply).toBeDefined();
    expect(view.receipt?.body.jobId).toBe(jobId);
    const stored = await getJob(w.deps, r.id, jobId, 0);
    expect(view).toEqual(stored); // what the waiter got is what the store holds
    // the waiter's one read, plus the result's own reads of the job (postResult: 1)
    expect(reads).toBe(2);
  });

  it("a submit that waits (POST /v1/jobs?wait) takes the job item it just wrote for the first look: no read back, and the result still answers it", async () => {
    // Prepare
    const w = makeJobWorld();
    const a = await w.worker();
    const r = await w.requester();
    const { envelope, quote } = await w.sealedJob(r);
    const jobId = envelope.header.jobId;
    // Act: what the route does (functions/http/submit-job.ts)
    const { value: view, reads } = await countReads(w, jobId, async () => {
      const s = await submitJobWithItem(w.deps, r.id, envelope, `submit-${jobId}`, quote);
      const waiting = getJob(w.deps, r.id, s.jobId, 20, s.job);
      await new Promise((res) => setImmediate(res)); // the waiter is now waiting
      await postResult(w.deps, a.id, w.completed(a, envelope));
      return waiting;
    });
    // Assess
    expect(view.status).toBe("completed");
    expect(view).toEqual(await getJob(w.deps, r.id, jobId, 0));
    // submit's own check that the job is new (1) and the result's read (1); the waiter none
    expect(reads).toBe(2);
  });

  it("a replayed submit hands no job item: its wait reads what is stored (here the finished job)", async () => {
    // Prepare
    const w = makeJobWorld();
    const a = await w.worker();
    const r = await w.requester();
    const { envelope, quote } = await w.sealedJob(r);
    const jobId = envelope.header.jobId;
    await submitJob(w.deps, r.id, envelope, `submit-${jobId}`, quote);
    await postResult(w.deps, a.id, w.completed(a, envelope));
    // Act
    const again = await submitJobWithItem(w.deps, r.id, envelope, `submit-${jobId}`, quote);
    const view = await getJob(w.deps, r.id, again.jobId, 20, again.job);
    // Assess
    expect(again).toEqual({ jobId, status: "completed", replayed: true });
    expect(view.status).toBe("completed");
    expect(view.reply).toBeDefined();
  });

  it("on a notifier that cannot push (AWS), a 20 s wait reads the job item 23 times (0, 0.25, 0.75, 1.75, then every second), not every 250 ms", async () => {
    // Prepare: a notifier like functions/adapters/aws-notifier.ts, on the world's clock
    const w = makeJobWorld();
    const { r, envelope } = await submitted(w);
    const polling: Notifier = {
      notify: () => {},
      wait: async (_topic, ms) => {
        w.advance(Math.min(ms, 250));
        return undefined;
      },
    };
    const deps = { ...w.deps, notifier: polling };
    // Act
    const { value: view, reads } = await countReads(w, envelope.header.jobId, () => getJob(deps, r.id, envelope.header.jobId, 20));
    // Assess
    expect(view.status).toBe("assigned");
    expect(reads).toBe(23);
  });

  it("a notification without the answer (a failover, a refund) makes the waiter read the job again", async () => {
    const w = makeJobWorld();
    const { r, envelope } = await submitted(w);
    const jobId = envelope.header.jobId;
    const { value: view, reads } = await countReads(w, jobId, async () => {
      const waiting = getJob(w.deps, r.id, jobId, 1);
      await new Promise((res) => setImmediate(res));
      w.deps.notifier.notify(`job:${jobId}`); // a failover: read again, wait on
      await new Promise((res) => setImmediate(res));
      w.advance(2_000);
      w.deps.notifier.notify(`job:${jobId}`); // past the deadline: read again, answer
      return waiting;
    });
    expect(view.status).toBe("assigned");
    expect(reads).toBe(3);
  });
});
