/**
 * What session 36's mutation run of the agent's result coalescing (agent/runtime.ts AgentApi)
 * found untested: which waiting results a batch leaves for a later post (a second result of a job
 * already in the batch, one its caller gave up), and which refusals of a batch are not "a
 * coordinator older than batches" (429, 5xx: its items are retried, batching goes on).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_RESULT_BATCH_BYTES, type ResultRequest } from "../events/api";
import { API, ApiError } from "../api-client/api";
import { pollUntil } from "../test/helpers";
import { agent, batchOfTwo, cleanup, heldPosts, itemsOf, TAKEN, type Post } from "./result-posts-testing";
import { BATCH_FRAME_BYTES } from "./runtime";

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

describe("agent: what a batch leaves for a later post", () => {
  it("a second result of a job already in the batch waits for the next post (a batch names each job once)", async () => {
    // Prepare: a post held in flight; then r, a second result of r's job, and s
    const { a, failed } = await agent();
    const posts = heldPosts(a.api);
    void a.api.request(API.postResult, { body: failed() });
    await pollUntil("the first post", () => posts[0], 2_000);
    const r = failed();
    const again = { ...r, code: "engine_error" as const };
    const s = failed();
    const answers = [s, r, again].map((body) => a.api.request(API.postResult, { body }));
    // Act
    posts[0]!.answer({ json: TAKEN });
    await pollUntil("the batch", () => posts[1], 2_000);
    posts[1]!.answer({ json: { results: [TAKEN, TAKEN] } });
    await pollUntil("the second result of r's job", () => posts[2], 2_000);
    posts[2]!.answer({ json: TAKEN });
    // Assess
    expect(posts[1]!.body).toEqual({ kind: "batch", results: [s, r] });
    expect(posts[2]!.body).toEqual(again);
    expect(await Promise.all(answers)).toEqual([TAKEN, TAKEN, TAKEN]);
  });

  it("a waiting result its caller gave up is not put in a batch: it is refused unsent, the others go together", async () => {
    // Prepare: a post held in flight; r, given up while it waits, between two others
    const { a, failed } = await agent();
    const posts = heldPosts(a.api);
    void a.api.request(API.postResult, { body: failed() });
    await pollUntil("the first post", () => posts[0], 2_000);
    const [q, r, s] = [failed(), failed(), failed()];
    const giveUp = new AbortController();
    const qAnswer = a.api.request(API.postResult, { body: q });
    const rAnswer = a.api.request(API.postResult, { body: r, signal: giveUp.signal }).catch((e: unknown) => e);
    const sAnswer = a.api.request(API.postResult, { body: s });
    giveUp.abort(new Error("the caller gave up"));
    // Act
    posts[0]!.answer({ json: TAKEN });
    await pollUntil("the batch", () => posts[1], 2_000);
    posts[1]!.answer({ json: { results: [TAKEN, TAKEN] } });
    // Assess
    expect(posts[1]!.body).toEqual({ kind: "batch", results: [q, s] });
    expect(await Promise.all([qAnswer, sAnswer])).toEqual([TAKEN, TAKEN]);
    expect(await rAnswer).toBeInstanceOf(Error);
    expect(posts.flatMap((p) => itemsOf(p.body))).not.toContainEqual(r);
  });
  it("a given-up result first in the queue is not put in a batch either: refused unsent, the ones behind it go together", async () => {
    // Prepare: a post held in flight; r, given up while it waits, first in the queue
    const { a, failed } = await agent();
    const posts = heldPosts(a.api);
    void a.api.request(API.postResult, { body: failed() });
    await pollUntil("the first post", () => posts[0], 2_000);
    const [r, s, t] = [failed(), failed(), failed()];
    const giveUp = new AbortController();
    const rAnswer = a.api.request(API.postResult, { body: r, signal: giveUp.signal }).catch((e: unknown) => e);
    const others = [s, t].map((body) => a.api.request(API.postResult, { body }));
    giveUp.abort(new Error("the caller gave up"));
    // Act
    posts[0]!.answer({ json: TAKEN });
    await pollUntil("the batch", () => posts[1], 2_000);
    posts[1]!.answer({ json: { results: [TAKEN, TAKEN] } });
    // Assess
    expect(posts[1]!.body).toEqual({ kind: "batch", results: [s, t] });
    expect(await Promise.all(others)).toEqual([TAKEN, TAKEN]);
    expect(await rAnswer).toBeInstanceOf(Error);
    expect(posts.flatMap((p) => itemsOf(p.body))).not.toContainEqual(r);
  });
});

describe("agent: a batch refused for a reason other than its shape", () => {
  for (const [status, code] of [
    [0, "unreachable"],
    [429, "rate_limited"],
    [500, "internal"],
  ] as const) {
    it(`${status} is not a coordinator older than batches: its items are posted again, and later results still go together`, async () => {
      // Prepare: a batch of two held
      const { a, failed, posts, rs, answers } = await batchOfTwo();
      // Act: the batch answered with the status; every post after it taken
      posts[1]!.answer(new ApiError(status, code, "not now"));
      const taken = async (upTo: number) => {
        for (let i = 2; i <= upTo; i++) {
          await pollUntil(`post ${i}`, () => posts[i], 5_000);
          const body = posts[i]!.body;
          posts[i]!.answer({ json: body.kind === "batch" ? { results: body.results.map(() => TAKEN) } : TAKEN });
        }
      };
      while (posts.slice(2).flatMap((p) => itemsOf(p.body)).length < rs.length) await taken(posts.length);
      expect(await Promise.all(answers)).toEqual([TAKEN, TAKEN]);
      // then: a post held in flight, two more results behind it
      const from = posts.length;
      void a.api.request(API.postResult, { body: failed() });
      await pollUntil("a post after the retries", () => posts[from], 2_000);
      const later = [failed(), failed()];
      const laterAnswers = later.map((body) => a.api.request(API.postResult, { body }));
      posts[from]!.answer({ json: TAKEN });
      await pollUntil("the later batch", () => posts[from + 1], 2_000);
      posts[from + 1]!.answer({ json: { results: [TAKEN, TAKEN] } });
      // Assess: the refused items posted again; the later two still batched (batches were not given up)
      const ids = (xs: Array<{ jobId: string }>) => xs.map((x) => x.jobId).sort();
      expect(ids(posts.slice(2, from).flatMap((p) => itemsOf(p.body)))).toEqual(ids(rs));
      expect(posts[from + 1]!.body).toEqual({ kind: "batch", results: later });
      expect(await Promise.all(laterAnswers)).toEqual([TAKEN, TAKEN]);
    });
  }
});

/** What a batch may carry: its items' JSON within MAX_RESULT_BATCH_BYTES less the frame's room. */
const ROOM = MAX_RESULT_BATCH_BYTES - BATCH_FRAME_BYTES;

/** `failed` made exactly `bytes` long as JSON (a padded reply). */
function ofBytes(failed: () => ResultRequest, bytes: number): ResultRequest {
  const r = { ...failed(), reply: { v: 1, padding: "" } };
  const base = Buffer.byteLength(JSON.stringify(r));
  return { ...r, reply: { v: 1, padding: "A".repeat(bytes - base) } } as never;
}

/** Posts `bodies` behind one held post, then answers every post as it comes until each is taken; the posts after the first. */
async function postedBehindOne(a: Awaited<ReturnType<typeof agent>>["a"], failed: () => ResultRequest, bodies: ResultRequest[]) {
  const posts = heldPosts(a.api);
  void a.api.request(API.postResult, { body: failed() });
  await pollUntil("the first post", () => posts[0], 2_000);
  const answers = bodies.map((body) => a.api.request(API.postResult, { body }));
  posts[0]!.answer({ json: TAKEN });
  for (let i = 1; posts.slice(1).flatMap((p) => itemsOf(p.body)).length < bodies.length; i++) {
    await pollUntil(`post ${i}`, () => posts[i], 2_000);
    const body = posts[i]!.body;
    posts[i]!.answer({ json: body.kind === "batch" ? { results: body.results.map(() => TAKEN) } : TAKEN });
  }
  expect(await Promise.all(answers)).toEqual(bodies.map(() => TAKEN));
  return posts.slice(1).map((p: Post) => itemsOf(p.body));
}

describe("agent: a batch's byte room", () => {
  it("two results filling the room exactly go together; one byte more and they go apart", async () => {
    // Prepare
    const { a, failed } = await agent();
    const half = Math.floor(ROOM / 2);
    const fit = [ofBytes(failed, half), ofBytes(failed, ROOM - half)];
    const over = [ofBytes(failed, half), ofBytes(failed, ROOM - half + 1)];
    // Act
    const together = await postedBehindOne(a, failed, fit);
    const apart = await postedBehindOne(a, failed, over);
    // Assess
    expect(together).toEqual([fit]);
    expect(apart).toEqual([[over[0]], [over[1]]]);
  });

  it("counts every item it took: a third that fits beside each of the first two alone, but not beside both, waits", async () => {
    // Prepare
    const { a, failed } = await agent();
    const third = Math.floor(ROOM / 2.5);
    const bodies = [ofBytes(failed, third), ofBytes(failed, third), ofBytes(failed, third)];
    // Act
    const sent = await postedBehindOne(a, failed, bodies);
    // Assess
    expect(sent).toEqual([bodies.slice(0, 2), [bodies[2]]]);
  });

  it("a result over the room by itself is posted alone, as its single body", async () => {
    // Prepare
    const { a, failed } = await agent();
    const bodies = [ofBytes(failed, ROOM + 1), failed()];
    // Act
    const sent = await postedBehindOne(a, failed, bodies);
    // Assess
    expect(sent).toEqual([[bodies[0]], [bodies[1]]]);
  });
});

describe("agent: a post's own time limit", () => {
  it("a lone post unanswered for its limit (the retry budget, at least 1 s) is given up, not waited on for a minute", async () => {
    // Prepare: a retry budget of 1 s; the post is never answered; Date.now standing still, as it
    // reads when a timer fires a millisecond before its time (CI, session 36: the result was sent
    // again, since the budget looked unspent by the clock)
    const { a, failed } = await agent({ resultRetryMs: 1_000 });
    const posts = heldPosts(a.api);
    const now = Date.now();
    vi.spyOn(Date, "now").mockReturnValue(now);
    cleanup.push(async () => void vi.restoreAllMocks());
    // Act
    const outcome = await Promise.race([
      a.api.request(API.postResult, { body: failed() }).then(
        () => "answered",
        (e: unknown) => (e as Error).name,
      ),
      new Promise((r) => setTimeout(() => r("still waiting after 10 s"), 10_000)),
    ]);
    // Assess: the limit's abort, once (not sent again: its budget is spent)
    expect(outcome).toBe("TimeoutError");
    expect(posts).toHaveLength(1);
  });

  it("a batch answered with the wrong number of outcomes, once the agent is halting, is given up with bad_response naming both counts", async () => {
    // Prepare
    const { a, posts, answers } = await batchOfTwo();
    (a.api as unknown as { halted: boolean }).halted = true;
    // Act
    posts[1]!.answer({ json: { results: [TAKEN] } });
    const outcomes = await Promise.all(answers.map((p) => p.catch((e: unknown) => e)));
    // Assess
    for (const e of outcomes) {
      expect(e).toBeInstanceOf(ApiError);
      expect(e).toMatchObject({ status: 0, code: "bad_response", message: "a batch of 2 results was answered with 1 outcomes" });
    }
  });
});
