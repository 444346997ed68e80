/**
 * issue 12: the agent's result posts coalesce, Nagle-like (agent/runtime.ts AgentApi): a result
 * is posted at once when no post is in flight; those that finish meanwhile go together in the
 * next post, as one batch, each answered and retried alone. The API is the local network; its
 * answers to POST /v1/agent/results are the test's (ApiClient.requestJson), so the posts can
 * be held in flight and every request and answer seen.
 */
import { afterEach, describe, expect, it } from "vitest";
import { MAX_RESULT_BATCH_BYTES, type ResultRequest } from "../events/api";
import { API, ApiError } from "../api-client/api";
import { pollUntil } from "../test/helpers";
import { agent, batchOfTwo, cleanup, heldPosts, itemsOf, TAKEN } from "./result-posts-testing";
import { POST_STALL_MS } from "./runtime";

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

describe("agent: result posts coalesce (issue 12)", () => {
  it("a lone result is posted at once, alone, in today's shape", async () => {
    // Prepare
    const { a, failed } = await agent();
    const posts = heldPosts(a.api);
    const r = failed();
    // Act
    const answer = a.api.request(API.postResult, { body: r });
    await pollUntil("the post", () => posts[0], 2_000);
    posts[0]!.answer({ json: TAKEN });
    // Assess: sent before anything answered, as the single body
    expect(posts.map((p) => p.body)).toEqual([r]);
    expect(await answer).toEqual(TAKEN);
  });

  it("results finishing while a post is in flight wait, then go together in one request, each answered its own outcome", async () => {
    // Prepare: one post held in flight
    const { a, failed } = await agent();
    const posts = heldPosts(a.api);
    const first = a.api.request(API.postResult, { body: failed() });
    await pollUntil("the first post", () => posts[0], 2_000);
    // Act: three more finish meanwhile; then the first is answered
    const rs = [failed(), failed(), failed()];
    const later = rs.map((r) => a.api.request(API.postResult, { body: r }).catch((e: unknown) => e));
    await new Promise((r) => setTimeout(r, 50));
    const whileInFlight = posts.length;
    posts[0]!.answer({ json: TAKEN });
    await pollUntil("the batch", () => posts[1], 2_000);
    posts[1]!.answer({
      json: { results: [TAKEN, { error: { status: 409, code: "stale_attempt", message: "moved on" } }, { ...TAKEN, duplicate: true }] },
    });
    // Assess
    expect(whileInFlight).toBe(1);
    expect(await first).toEqual(TAKEN);
    expect(posts[1]!.body).toEqual({ kind: "batch", results: rs });
    const [x, y, z] = await Promise.all(later);
    expect(x).toEqual(TAKEN);
    expect(y).toMatchObject({ name: "ApiError", status: 409, code: "stale_attempt" });
    expect(z).toEqual({ ...TAKEN, duplicate: true });
    expect(posts).toHaveLength(2);
  });

  it("a post unanswered for POST_STALL_MS holds the others no longer: the next result goes out beside it", async () => {
    // Prepare: a post held in flight, never answered (a lost connection)
    const { a, failed } = await agent();
    const posts = heldPosts(a.api);
    void a.api.request(API.postResult, { body: failed() }).catch(() => {});
    await pollUntil("the first post", () => posts[0], 2_000);
    // Act
    const r = failed();
    const answer = a.api.request(API.postResult, { body: r });
    await pollUntil("the second post, beside the stalled one", () => posts[1], POST_STALL_MS + 5_000);
    posts[1]!.answer({ json: TAKEN });
    // Assess
    expect(posts[1]!.body).toEqual(r);
    expect(await answer).toEqual(TAKEN);
  });

  it("an item refused for a transient reason, or a whole batch unanswered, is posted again identically; the others are not", async () => {
    // Prepare: two results in one batch behind a held post
    const { posts, rs, answers } = await batchOfTwo();
    const [, r2] = rs;
    // Act: the batch answers r2 with a 503; then r2's retry fails whole (the API is down); then it is taken
    posts[1]!.answer({ json: { results: [TAKEN, { error: { status: 503, code: "store_busy", message: "busy" } }] } });
    await pollUntil("r2 again", () => posts[2], 2_000);
    posts[2]!.answer(new ApiError(0, "unreachable", "down"));
    await pollUntil("r2 once more", () => posts[3], 2_000);
    posts[3]!.answer({ json: TAKEN });
    // Assess
    expect(await Promise.all(answers)).toEqual([TAKEN, TAKEN]);
    expect(posts.slice(2).map((p) => p.body)).toEqual([r2, r2]);
  });

  it("a batch refused whole (a coordinator that takes none: 400) is posted again item by item", async () => {
    // Prepare
    const { a, failed, posts, rs, answers } = await batchOfTwo();
    // Act: the batch refused; then, with both alone still in flight, one more result
    posts[1]!.answer(new ApiError(400, "invalid_request", "body.kind: Invalid input"));
    // (well within POST_STALL_MS: not held behind one another, as the stall bound would hold them)
    await pollUntil("both alone, at once", () => posts[3], POST_STALL_MS / 2);
    const later = failed();
    const laterAnswer = a.api.request(API.postResult, { body: later });
    await pollUntil("the later one, alone and at once", () => posts[4], POST_STALL_MS / 2);
    for (const p of posts.slice(2)) p.answer({ json: TAKEN });
    // Assess: as before batches: each alone, none waiting for another's answer
    expect(await Promise.all([...answers, laterAnswer])).toEqual([TAKEN, TAKEN, TAKEN]);
    expect(posts.slice(2).map((p) => p.body)).toEqual([...rs, later]);
  });

  it("a batch answered with the wrong number of outcomes is as if unanswered: each item posted again identically", async () => {
    // Prepare
    const { posts, rs, answers } = await batchOfTwo();
    // Act: one outcome for two items; then the repost answered in full
    posts[1]!.answer({ json: { results: [TAKEN] } });
    await pollUntil("the repost", () => posts[2], 5_000);
    const again = posts[2]!;
    again.answer({ json: again.body.kind === "batch" ? { results: again.body.results.map(() => TAKEN) } : TAKEN });
    if (again.body.kind !== "batch") {
      await pollUntil("the other repost", () => posts[3], 5_000);
      posts[3]!.answer({ json: TAKEN });
    }
    // Assess
    expect(await Promise.all(answers)).toEqual([TAKEN, TAKEN]);
    // (each after its own backoff: in either order)
    const byJob = (xs: ResultRequest[]) => [...xs].sort((x, y) => (x.jobId < y.jobId ? -1 : 1));
    expect(byJob(posts.slice(2).flatMap((p) => itemsOf(p.body)))).toEqual(byJob(rs));
  });

  it("a batch never passes 16 items nor the byte cap: two large results never go together", async () => {
    // Prepare: two results of 3 MiB (a sealed error text, padded) and 17 small ones, behind a held post
    const { a, failed } = await agent();
    const posts = heldPosts(a.api);
    void a.api.request(API.postResult, { body: failed() });
    await pollUntil("the first post", () => posts[0], 2_000);
    const large = (): ResultRequest => ({ ...failed(), reply: { v: 1, padding: "A".repeat(3 * 1024 * 1024) } as never });
    const bodies = [large(), ...Array.from({ length: 8 }, failed), large(), ...Array.from({ length: 9 }, failed)];
    const answers = bodies.map((body) => a.api.request(API.postResult, { body }));
    // Act: each post answered as it comes, until every result is
    posts[0]!.answer({ json: TAKEN });
    for (let i = 1; posts.slice(1).flatMap((p) => itemsOf(p.body)).length < bodies.length; i++) {
      await pollUntil(`post ${i}`, () => posts[i], 2_000);
      const body = posts[i]!.body;
      posts[i]!.answer({ json: body.kind === "batch" ? { results: body.results.map(() => TAKEN) } : TAKEN });
    }
    // Assess: each result posted once; no post over 16 items or the cap; the two large ones apart
    expect(await Promise.all(answers)).toEqual(bodies.map(() => TAKEN));
    const sent = posts.slice(1).map((p) => itemsOf(p.body));
    const ids = (rs: ResultRequest[]) => rs.map((r) => r.jobId).sort();
    expect(ids(sent.flat())).toEqual(ids(bodies));
    expect(Math.max(...sent.map((b) => b.length))).toBe(16);
    for (const p of posts) expect(Buffer.byteLength(JSON.stringify(p.body))).toBeLessThanOrEqual(MAX_RESULT_BATCH_BYTES);
    expect(sent.filter((b) => b.includes(bodies[0]!) && b.includes(bodies[9]!))).toEqual([]);
  });
});

describe("POST /v1/agent/results on the coordinator: one result or a batch (issue 12)", () => {
  it("a batch is answered one outcome per item, in order, each with the status and code a lone post would get; a lone body as before", async () => {
    // Prepare: reports for jobs the coordinator never had (each refused alone: 404 unknown_job)
    const { a, failed } = await agent();
    const [r1, r2] = [failed(), failed()];
    // Act
    const batch = await a.api.request(API.postResults, { body: { kind: "batch", results: [r1, r2] } });
    const lone = await a.api.request(API.postResults, { body: r1 as never }).catch((e: unknown) => e);
    const twice = await a.api.request(API.postResults, { body: { kind: "batch", results: [r1, r1] } }).catch((e: unknown) => e);
    // Assess
    expect(batch.results).toEqual([r1, r2].map((r) => ({ error: { status: 404, code: "unknown_job", message: `no job ${r.jobId}` } })));
    expect(lone).toMatchObject({ name: "ApiError", status: 404, code: "unknown_job" });
    expect(twice).toMatchObject({ name: "ApiError", status: 400, code: "invalid_request" });
  });
});
