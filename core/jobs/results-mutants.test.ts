/**
 * What session 36's mutation run of postResults (./results.ts, the batch post) found untested:
 * the 5 MiB cap's exact edge when the request's own byte count is handed in (requestBytes), its
 * message naming the size, and the cap of MAX_SETTLE_BATCH items for a caller past the HTTP schema.
 */
import { describe, expect, it } from "vitest";
import { MAX_RESULT_BATCH_BYTES, type ResultRequest } from "../../events/api";
import { ValidationError } from "../errors";
import { postResults } from "./results";
import { MAX_SETTLE_BATCH } from "./settle";
import { makeJobWorld } from "./testing";

/** A failure report for a job the coordinator never had: refused alone (404 unknown_job), nothing written. */
const unknownJob = (i: number): ResultRequest => ({ kind: "failed", jobId: `no-such-job-${i}`, attempt: 0, code: "engine_error" });

describe("postResults' limits", () => {
  it("a request of exactly MAX_RESULT_BATCH_BYTES is taken; one byte more is 413 batch_too_large, naming its size", async () => {
    // Prepare
    const w = makeJobWorld();
    const a = await w.worker();
    const items = [unknownJob(0)];
    // Act
    const atCap = await postResults(w.deps, a.id, items, MAX_RESULT_BATCH_BYTES);
    const over = await postResults(w.deps, a.id, items, MAX_RESULT_BATCH_BYTES + 1).catch((e: unknown) => e);
    // Assess
    expect(atCap.map((o) => (o.status === "rejected" ? (o.reason as { code?: string }).code : o.status))).toEqual(["unknown_job"]);
    expect(over).toMatchObject({
      status: 413,
      code: "batch_too_large",
      details: { bytes: MAX_RESULT_BATCH_BYTES + 1, max: MAX_RESULT_BATCH_BYTES },
    });
    expect((over as Error).message).toContain(`the batch is ${MAX_RESULT_BATCH_BYTES + 1} bytes as JSON`);
  });

  it("more than MAX_SETTLE_BATCH items (past the HTTP schema, core called directly) is refused whole, before any is looked at", async () => {
    // Prepare
    const w = makeJobWorld();
    const a = await w.worker();
    const items = Array.from({ length: MAX_SETTLE_BATCH + 1 }, (_, i) => unknownJob(i));
    const exactly = items.slice(0, MAX_SETTLE_BATCH);
    // Act
    const tooMany = await postResults(w.deps, a.id, items).catch((e: unknown) => e);
    const atMost = await postResults(w.deps, a.id, exactly);
    // Assess
    expect(tooMany).toBeInstanceOf(ValidationError);
    expect((tooMany as Error).message).toBe(`at most ${MAX_SETTLE_BATCH} results in one batch`);
    expect(atMost).toHaveLength(MAX_SETTLE_BATCH);
  });
});
