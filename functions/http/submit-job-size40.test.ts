/**
 * walk40: POST /v1/jobs refuses a sealed request past MAX_ENVELOPE_BYTES by its size alone, at
 * the edge: 413 envelope_too_large with the limit and the size in its details, before the quote
 * renewal reads any worker or the submit its idempotency record (core checks it again).
 * And (a): a prepare names each candidate's capabilities, which the SDK picks a plain completion's by.
 */
import { describe, expect, it } from "vitest";
import { MAX_ENVELOPE_BYTES } from "../../events/envelope";
import { EnvelopeTooLargeError } from "../../core/errors";
import { prepareJob } from "../../core/jobs/prepare";
import { makeJobWorld, MODEL, prepareAsk, registered } from "../../core/jobs/testing";
import { quotedSubmit } from "./submit-job-testing";

describe("walk40: the sealed body's size at the edge", () => {
  it(`an envelope over ${MAX_ENVELOPE_BYTES} bytes: 413 envelope_too_large, {bytes, limitBytes}, and nothing read`, async () => {
    // Prepare: a live worker, a funded requester, a quote; the envelope's payload past the cap
    const { w, who, envelope, post } = await quotedSubmit();
    const big = { ...envelope, payload: "A".repeat(MAX_ENVELOPE_BYTES) };
    let reads = 0;
    const inner = w.store.get.bind(w.store);
    w.store.get = ((...args: Parameters<typeof inner>) => (reads++, inner(...args))) as typeof w.store.get;
    // Act: the edge measures the whole request it parsed (middleware.ts); the check reads it first
    const run = post(big);
    // Assess
    const refused = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(EnvelopeTooLargeError);
    expect(refused).toMatchObject({
      status: 413,
      code: "envelope_too_large",
      message: `the envelope exceeds ${MAX_ENVELOPE_BYTES} bytes; shorten the prompt`,
      details: { limitBytes: MAX_ENVELOPE_BYTES, bytes: expect.any(Number) },
    });
    expect((refused as EnvelopeTooLargeError).details).toMatchObject({ bytes: expect.toSatisfy((n: number) => n > MAX_ENVELOPE_BYTES) });
    expect(reads).toBe(0);
    expect((await w.balance(who.id)).held).toBe(0n);
  });
});

describe("walk40 (a): a prepare's candidates carry their offer's capabilities", () => {
  it("as the worker registered them; an older agent's offer (none) names none", async () => {
    // Prepare
    const w = makeJobWorld();
    const caps = {
      chat: true,
      completions: false,
      embeddings: false,
      streaming: true,
      tools: true,
      jsonSchema: false,
      contextLength: 4096,
    };
    const withCaps = await registered(w, { models: [{ model: MODEL, priceBps: 10_000, capabilities: caps }] });
    const older = await registered(w);
    const who = await w.requester();
    // Act
    const p = await prepareJob(w.deps, who.id, prepareAsk({ candidates: 2 }));
    // Assess
    const byId = new Map(p.candidates.map((c) => [c.workerId, c]));
    expect(byId.get(withCaps.key.id)?.capabilities).toEqual(caps);
    expect(byId.get(older.key.id)).not.toHaveProperty("capabilities");
  });
});
