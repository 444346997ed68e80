/**
 * POST /v1/jobs/{id}/cancel through the real router, middleware and core (test/route-world.ts):
 * signed for real, answers checked against the route's schema.
 */
import { describe, expect, it } from "vitest";
import { CancelJobResponse } from "../events/api";
import { makeRouteWorld } from "./route-world";
import { newJobId } from "../core/ids";

describe("POST /v1/jobs/{id}/cancel", () => {
  it("the owner's cancel of a running job answers 200 cancelled: true, and its worker's queue gets the AgentCancel", async () => {
    // Prepare
    const w = makeRouteWorld();
    const { r, header, workers } = await w.submitted(1);
    // Act
    const res = await w.call(r, "POST", `/v1/jobs/${header.jobId}/cancel`);
    // Assess
    expect(res.status).toBe(200);
    expect(CancelJobResponse.parse(res.json)).toEqual({
      jobId: header.jobId,
      status: "assigned",
      cancelled: true,
      cancelledAt: w.clock.now(),
    });
    const queued = await w.queues.receive(`worker-${workers[0]!.id}`, { max: 10, waitSeconds: 0, visibilitySeconds: 60 });
    expect(queued.map((m) => JSON.parse(m.body) as { kind?: string }).filter((b) => b.kind === "cancel")).toEqual([
      { kind: "cancel", jobId: header.jobId, attempt: 0 },
    ]);
    const view = await w.call(r, "GET", `/v1/jobs/${header.jobId}`);
    expect(view.json).toMatchObject({ status: "assigned", cancelledAt: w.clock.now() });
  });

  it("an unknown job is 404 unknown_job, another account's job 403 not_your_job (as GET answers), a malformed id 400; none is cancelled", async () => {
    // Prepare
    const w = makeRouteWorld();
    const { header } = await w.submitted(1);
    const stranger = await w.requester();
    // Act
    const unknown = await w.call(stranger, "POST", `/v1/jobs/${newJobId(w.clock.now())}/cancel`); // made now: one naming 1970 is an expired job's (410)
    const foreign = await w.call(stranger, "POST", `/v1/jobs/${header.jobId}/cancel`);
    const foreignRead = await w.call(stranger, "GET", `/v1/jobs/${header.jobId}`);
    const malformed = await w.call(stranger, "POST", "/v1/jobs/nope/cancel");
    const unsigned = await w.call(undefined, "POST", `/v1/jobs/${header.jobId}/cancel`);
    // Assess
    expect([unknown.status, unknown.json.error.code]).toEqual([404, "unknown_job"]);
    expect([foreign.status, foreign.json.error.code]).toEqual([foreignRead.status, foreignRead.json.error.code]);
    expect([foreign.status, foreign.json.error.code]).toEqual([403, "not_your_job"]);
    expect([malformed.status, malformed.json.error.code]).toEqual([400, "invalid_job_id"]);
    expect(unsigned.status).toBe(401);
    expect((await w.store.get("jobs", { pk: header.jobId, sk: "job" }))?.cancelledAt).toBeUndefined();
  });
});
