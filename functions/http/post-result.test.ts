/**
 * POST /v1/agent/results over HTTP: a batch's 5 MiB cap (MAX_RESULT_BATCH_BYTES) counts the
 * request as the worker sent it, the bytes a Lambda's 6 MB limit counts (issue 12: the parsed
 * items are not serialised again to measure them).
 */
import { describe, expect, it } from "vitest";
import { MAX_RESULT_BATCH_BYTES } from "../../events/api";
import { signRequest } from "../../core/crypto/request-auth";
import { jobKey, type JobItem } from "../../core/jobs/items";
import { makeJobWorld } from "../../core/jobs/testing";
import { bodyText, httpRequest } from "../../edge/http";
import { invokeRoute, type Route } from "./middleware";
import { route } from "./post-result";

describe("POST /v1/agent/results: a batch's size is its request's", () => {
  it("a batch padded past 5 MiB (whitespace the parse drops) is 413 batch_too_large and settles nothing; the same batch unpadded settles", async () => {
    // Prepare: one job's result, as a batch of one, once padded with spaces to one byte over the cap
    const w = makeJobWorld();
    const { header, envelope, workers } = await w.submitted(1);
    const compact = JSON.stringify({ kind: "batch", results: [w.completed(workers[0]!, envelope)] });
    const padded = compact.slice(0, -1) + " ".repeat(MAX_RESULT_BATCH_BYTES + 1 - compact.length) + "}";
    const post = async (body: string) => {
      const auth = signRequest(workers[0]!.signing, {
        method: "POST",
        path: "/v1/agent/results",
        body,
        host: "api.test",
        now: w.clock.now(),
      });
      const res = await invokeRoute(
        route as Route,
        httpRequest({
          method: "POST",
          path: "/v1/agent/results",
          rawQuery: "",
          headers: { "x-cocoon-auth": auth },
          body,
          host: "api.test",
        }),
        w.deps,
      );
      return { status: res.status, json: JSON.parse(await bodyText(res.body)) as Record<string, any> };
    };
    // Act
    const refused = await post(padded);
    const jobAfterRefusal = (await w.store.get<JobItem>("jobs", jobKey(header.jobId)))!.status;
    const accepted = await post(compact);
    // Assess
    expect(Buffer.byteLength(padded, "utf8")).toBe(MAX_RESULT_BATCH_BYTES + 1);
    expect(refused).toMatchObject({
      status: 413,
      json: { error: { code: "batch_too_large", details: { bytes: MAX_RESULT_BATCH_BYTES + 1, max: MAX_RESULT_BATCH_BYTES } } },
    });
    expect(jobAfterRefusal).toBe("assigned");
    expect(accepted).toMatchObject({ status: 200, json: { results: [{ status: "completed", duplicate: false }] } });
  });
});
