/**
 * POST /v1/jobs/{id}/void through the real router, middleware and core (test/route-world.ts):
 * signed for real, answers checked against the route's schema. Only the caller's own id is
 * voided; a job there (anyone's) is left as it was, and shown only to its owner.
 */
import { describe, expect, it } from "vitest";
import { VoidJobResponse } from "../events/api";
import { newJobId } from "../core/ids";
import { T0 } from "../core/jobs/testing";
import { makeRouteWorld } from "./route-world";

// made at the route world's time (T0): an id naming 1970 is an expired job's (GET: 410 job_records_expired)
const ID = newJobId(T0);

describe("POST /v1/jobs/{id}/void", () => {
  it("an id with no job: 200 voided (again: the same), then GET is 404 unknown_job to its requester", async () => {
    // Prepare
    const w = makeRouteWorld();
    const r = await w.requester();
    // Act
    const first = await w.call(r, "POST", `/v1/jobs/${ID}/void`);
    const again = await w.call(r, "POST", `/v1/jobs/${ID}/void`);
    const read = await w.call(r, "GET", `/v1/jobs/${ID}`);
    // Assess
    expect([first.status, VoidJobResponse.parse(first.json)]).toEqual([200, { jobId: ID, voided: true }]);
    expect([again.status, VoidJobResponse.parse(again.json)]).toEqual([200, { jobId: ID, voided: true }]);
    expect([read.status, read.json.error.code]).toEqual([404, "unknown_job"]);
  });

  it("a job there: its owner hears voided: false and its status; another account 409 job_exists with no status; unsigned 401, a malformed id 400; the job unchanged", async () => {
    // Prepare
    const w = makeRouteWorld();
    const { r, header } = await w.submitted(1);
    const stranger = await w.requester();
    const before = await w.store.get("jobs", { pk: header.jobId, sk: "job" });
    // Act
    const own = await w.call(r, "POST", `/v1/jobs/${header.jobId}/void`);
    const foreign = await w.call(stranger, "POST", `/v1/jobs/${header.jobId}/void`);
    const unsigned = await w.call(undefined, "POST", `/v1/jobs/${header.jobId}/void`);
    const malformed = await w.call(stranger, "POST", "/v1/jobs/nope/void");
    // Assess
    expect([own.status, VoidJobResponse.parse(own.json)]).toEqual([200, { jobId: header.jobId, voided: false, status: "assigned" }]);
    expect([foreign.status, foreign.json.error.code]).toEqual([409, "job_exists"]);
    expect(JSON.stringify(foreign.json)).not.toContain("assigned");
    expect(JSON.stringify(foreign.json)).not.toContain(r.id);
    expect(unsigned.status).toBe(401);
    expect([malformed.status, malformed.json.error.code]).toEqual([400, "invalid_job_id"]);
    expect(await w.store.get("jobs", { pk: header.jobId, sk: "job" })).toEqual(before);
  });
});
