/**
 * Session 35's mutation run of core/jobs/dispatch.ts (the lease check's move conditioned on the
 * lease it read, and the check sent again when a late extension wins) left these untested: that
 * only a lease check's move is conditioned on the lease (a worker's own failure report moves the
 * job whatever its lease became), and that a check is sent again only for a job still assigned.
 */
import { describe, expect, it } from "vitest";
import type { WriteOp } from "../ports";
import { handleMatchingMessage } from "./dispatch";
import { jobKey, type JobItem } from "./items";
import { extendLease } from "./lease";
import { postResult } from "./results";
import { makeJobWorld, type JobWorld } from "./testing";

const jobOf = async (w: JobWorld, jobId: string) => (await w.store.get<JobItem>("jobs", jobKey(jobId)))!;
/** A move of a job to another attempt (advance's write). */
const isMove = (ops: WriteOp[]) => ops.some((op) => op.op === "update" && op.table === "jobs" && op.set?.attempt !== undefined);

/** Runs `before` once, just before the first move; then the move as it came. */
function beforeMove(w: JobWorld, before: () => Promise<void>) {
  const transact = w.store.transact;
  w.store.transact = async (ops) => {
    if (isMove(ops)) {
      w.store.transact = transact;
      await before();
    }
    return transact(ops);
  };
}

/** Records the lease checks sent from now on (the send still happens). */
function leaseChecks(w: JobWorld) {
  const sent: unknown[] = [];
  const send = w.queues.send.bind(w.queues);
  w.queues.send = async (queue, body, o) => {
    if ((body as { type?: string }).type === "lease") sent.push(body);
    return send(queue, body, o);
  };
  return sent;
}

describe("advance: what conditions a move on the lease it read", () => {
  it("a worker's failure report moves the job on even when its own extension landed between the report's read and its move", async () => {
    // Prepare: the worker extends its lease (a timer) while its failure report is in flight
    const w = makeJobWorld();
    const { header, workers } = await w.submitted(2);
    w.advance(5_000);
    let extended: Awaited<ReturnType<typeof extendLease>> | undefined;
    beforeMove(w, async () => {
      extended = await extendLease(w.deps, workers[0]!.id, { jobId: header.jobId, attempt: 0 });
    });
    // Act
    const answer = await postResult(w.deps, workers[0]!.id, { kind: "failed", jobId: header.jobId, attempt: 0, code: "engine_error" });
    // Assess: the extension landed, and the report still moved the job to the next candidate
    expect(extended).toMatchObject({ extended: true });
    expect(answer).toMatchObject({ status: "assigned", duplicate: false });
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "assigned", attempt: 1 });
  });

  it("a lease check whose move lost to an extension and then a result: the job is done, so no check is sent again ('advanced')", async () => {
    // Prepare: the lease ran out; between the check's read and its move the worker extends, then posts its result
    const w = makeJobWorld();
    const { header, envelope, workers, job } = await w.submitted(2);
    w.advance(job.leaseUntil - w.clock.now() + 1);
    beforeMove(w, async () => {
      await extendLease(w.deps, workers[0]!.id, { jobId: header.jobId, attempt: 0 });
      await postResult(w.deps, workers[0]!.id, w.completed(workers[0]!, envelope));
    });
    const sent = leaseChecks(w);
    // Act
    const outcome = await handleMatchingMessage(w.deps, { type: "lease", jobId: header.jobId, attempt: 0 });
    // Assess: the only check sent is the one the move sends ahead for the next attempt, none for attempt 0's new end
    expect(outcome).toBe("advanced");
    expect(sent).toEqual([{ type: "lease", jobId: header.jobId, attempt: 1, envelope }]);
    expect(await jobOf(w, header.jobId)).toMatchObject({ status: "completed", attempt: 0 });
  });
});
