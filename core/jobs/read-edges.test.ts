/**
 * core/jobs/read.ts edges (issue 14, mutation-checked): the view holds exactly what the job
 * has (worker and tier of the current attempt; cost, outcome, answer or failure only once
 * there), an unknown or foreign job is refused by name, a finished job (refunded too) is
 * answered without waiting, a failure's sealed reply reaches the requester, only a completed
 * view with its reply is answered from a notification, and a wait lasts what was asked.
 */
import { describe, expect, it } from "vitest";
import { sealReply } from "../crypto/envelope";
import type { Notifier } from "../ports";
import { handleMatchingMessage } from "./dispatch";
import type { JobItem } from "./items";
import { getJob } from "./read";
import { postResult } from "./results";
import { submitJob } from "./submit";
import { countReads, makeJobWorld, MODEL, refusal, type JobWorld } from "./testing";
import { newJobId } from "../ids";

async function submitted(w: JobWorld) {
  const a = await w.worker();
  const r = await w.requester();
  const { envelope, quote } = await w.sealedJob(r);
  await submitJob(w.deps, r.id, envelope, "key-00000001", quote);
  const job = (await w.store.get<JobItem>("jobs", { pk: envelope.header.jobId, sk: "job" }))!;
  return { a, r, envelope, jobId: envelope.header.jobId, job };
}

/** A notifier whose waits answer `answers` in turn (then nothing), each moving the clock by `step`; it records each wait's ms. */
function scripted(w: JobWorld, answers: unknown[], step = 250) {
  const waits: number[] = [];
  const notifier: Notifier = {
    notify: () => {},
    wait: async (_topic, ms) => {
      waits.push(ms);
      w.advance(Math.min(ms, step));
      return answers.shift();
    },
  };
  return { deps: { ...w.deps, notifier }, waits };
}

describe("getJob: the view", () => {
  it("an assigned job shows its current worker and tier and nothing it does not have yet", async () => {
    const w = makeJobWorld();
    const { a, r, jobId, job } = await submitted(w);
    expect(await getJob(w.deps, r.id, jobId)).toStrictEqual({
      jobId,
      status: "assigned",
      model: MODEL,
      workerId: a.id,
      tier: "dev",
      attempt: 0,
      maxCost: job.maxCost,
      createdAt: job.createdAt,
      updatedAt: job.updatedAt,
    });
  });

  it("a failure shows the failing worker's code and its sealed reply to the requester", async () => {
    // Prepare
    const w = makeJobWorld();
    const { a, r, envelope, jobId } = await submitted(w);
    const reply = sealReply(
      envelope.header,
      a.id,
      new TextEncoder().encode(JSON.stringify({ error: { code: "engine_error", message: "out of memory" } })),
    );
    await postResult(w.deps, a.id, { kind: "failed", jobId, attempt: 0, code: "engine_error", reply });
    // Act
    const view = await getJob(w.deps, r.id, jobId);
    // Assess
    expect(view).toMatchObject({
      status: "refunded",
      outcome: "failed",
      failure: { attempt: 0, workerId: a.id, code: "engine_error", reply },
    });
  });
});

describe("getJob: refusals", () => {
  it("an unknown job is 404 naming it; another account's job is 403 not_your_job", async () => {
    const w = makeJobWorld();
    const { jobId } = await submitted(w);
    const other = await w.requester(0n);
    const unknown = newJobId(w.clock.now()); // an id naming 1970 is an expired job's (410)
    expect(await refusal(getJob(w.deps, other.id, unknown))).toEqual({
      status: 404,
      code: "unknown_job",
      message: `no job ${unknown} (jobs are kept 30 days after they end)`,
    });
    expect(await refusal(getJob(w.deps, other.id, jobId))).toEqual({
      status: 403,
      code: "not_your_job",
      message: "this job belongs to another account",
    });
  });
});

describe("getJob: waiting", () => {
  it("a job refunded because its worker never answered is answered at once, with one read and no wait", async () => {
    // Prepare: the only candidate's lease ran out
    const w = makeJobWorld();
    const { r, jobId, job } = await submitted(w);
    w.advance(job.leaseUntil - w.clock.now());
    await handleMatchingMessage(w.deps, { type: "lease", jobId, attempt: 0 });
    const { deps, waits } = scripted(w, []);
    // Act
    const { value: view, reads } = await countReads(w, jobId, () => getJob(deps, r.id, jobId, 20));
    // Assess
    expect(view).toMatchObject({ status: "refunded", outcome: "expired" });
    expect(view.failure).toBeUndefined();
    expect(waits).toEqual([]);
    expect(reads).toBe(1);
  });

  it("waits exactly what was asked (capped by config.maxWaitSeconds), then answers the job as it is", async () => {
    const w = makeJobWorld();
    const { r, jobId } = await submitted(w);
    const short = scripted(w, [], 10_000);
    const view = await getJob(short.deps, r.id, jobId, 3);
    const long = scripted(w, [], 100_000);
    await getJob(long.deps, r.id, jobId, 3600);
    expect(view.status).toBe("assigned");
    expect(short.waits).toEqual([3000]);
    expect(long.waits).toEqual([w.deps.config.maxWaitSeconds * 1000]);
  });

  it("only a completed view with its reply is answered from a notification; anything else (null, a refund view with a reply, a completed view without one) makes it read the store", async () => {
    // Prepare: a notifier delivering odd payloads on the job's topic
    const w = makeJobWorld();
    const { r, jobId } = await submitted(w);
    const odd = [null, { status: "refunded", reply: { ct: "x" } }, { status: "completed" }];
    const { deps } = scripted(w, [...odd], 1);
    // Act
    const { value: view, reads } = await countReads(w, jobId, () => getJob(deps, r.id, jobId, 1));
    // Assess: each odd wake-up was followed by a read of the job, and the answer is the stored job
    expect(view).toMatchObject({ jobId, status: "assigned" });
    expect(reads).toBeGreaterThanOrEqual(1 + odd.length);
  });
});
