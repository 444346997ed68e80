import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { b64u } from "../core/crypto/encoding";
import type { ChunkedReply, RequestEnvelope } from "../events/envelope";
import { MODEL, startTestNet, type TestNet } from "./helpers";

/**
 * Session 23 privacy review: what the coordinator (and its queues, store and relay) learns of a
 * prompt's and an answer's length from what it holds, without any key. This measures the
 * leak; it does not close it (no padding yet: docs/security.md "Session 23 review: privacy").
 * When padding comes, these expectations change on purpose: an observer's guess is then only a
 * bucket.
 */

let t: TestNet;
beforeAll(async () => {
  t = await startTestNet({ agents: [{ priceBps: 10_000 }] });
});
afterAll(async () => {
  await t?.stop();
});

/** Printable text of exactly `n` UTF-8 bytes that JSON writes without escapes. */
const textOf = (n: number) => randomBytes(n).toString("base64url").slice(0, n);

/** The envelope the coordinator queued for the job's worker, as any reader of the queue sees it. */
function queuedEnvelope(jobId: string): RequestEnvelope {
  for (const line of t.sent) {
    const m = JSON.parse(line) as { envelope?: RequestEnvelope };
    const env = m.envelope ?? (JSON.parse(line) as { job?: { envelope?: RequestEnvelope } }).job?.envelope;
    if (env?.header.jobId === jobId) return env;
  }
  throw new Error(`no queued envelope for ${jobId}`);
}

describe("privacy: lengths an observer without keys reads off a job", () => {
  it("the prompt's exact byte length, from the header's maxPromptTokens and from the payload's size", async () => {
    // Prepare
    const client = await t.client();
    const lengths = [1, 17, 300, 4321];
    const seen: Array<{ actual: number; fromHeader: number; fromPayload: number }> = [];
    // Act
    for (const n of lengths) {
      const r = await client.ask({ model: MODEL, messages: [{ role: "user", content: textOf(n) }], maxTokens: 8, tiers: ["dev"] });
      const env = queuedEnvelope(r.jobId);
      // the SDK's bound (client/sdk.ts promptTokenBound): 16 + 8 per message + the content's UTF-8 bytes
      const fromHeader = env.header.maxPromptTokens - 16 - 8;
      // ciphertext = plaintext + a 16-byte tag; the plaintext's JSON around one message's content is fixed
      const ciphertext = b64u.decode(env.payload).length;
      seen.push({ actual: n, fromHeader, fromPayload: ciphertext - 16 });
    }
    // Assess: the header gives the length exactly; the payload gives it up to a constant
    expect(seen.map((s) => s.fromHeader)).toEqual(lengths);
    const framing = seen.map((s) => s.fromPayload - s.actual);
    expect(new Set(framing).size).toBe(1);
  });

  it("the answer's byte length, from the stored reply's chunk sizes, up to a constant", async () => {
    // Prepare: the built-in engine's answer grows with the prompt
    const client = await t.client();
    const seen: Array<{ actual: number; chunkBytes: number; chunks: number }> = [];
    // Act
    for (const n of [5, 50, 200]) {
      const r = await client.ask({ model: MODEL, messages: [{ role: "user", content: textOf(n) }], maxTokens: 256, tiers: ["dev"] });
      const job = await t.net.store.get("jobs", { pk: r.jobId, sk: "job" });
      const reply = (job?.reply ?? (await client.job(r.jobId)).reply) as ChunkedReply;
      const sizes = reply.chunks.map((c) => b64u.decode(c).length - 16);
      seen.push({ actual: Buffer.byteLength(r.text), chunkBytes: sizes.reduce((a, b) => a + b, 0), chunks: sizes.length });
    }
    // Assess: chunk bytes minus the answer's bytes is the same framing for every answer of one
    // chunk (a JSON string of text, then the final `end`: usage, engine, finish reason)
    const oneChunk = seen.filter((s) => s.chunks === seen[0]!.chunks);
    expect(oneChunk.length).toBeGreaterThan(1);
    const overhead = oneChunk.map((s) => s.chunkBytes - s.actual);
    expect(Math.max(...overhead) - Math.min(...overhead)).toBeLessThanOrEqual(4); // usage digits
    expect(new Set(seen.map((s) => s.actual)).size).toBe(seen.length); // the answers differ in length
  });
});
