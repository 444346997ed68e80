import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { b64u } from "../core/crypto/encoding";
import { CHUNK_PADDING, paddedLength, REQUEST_PADDING } from "../core/crypto/padding";
import type { ChunkedReply, RequestEnvelope } from "../events/envelope";
import { MODEL, startTestNet, type TestNet } from "./helpers";

/**
 * Session 23 privacy review: what the coordinator (and its queues, store and relay) learns of a
 * prompt's and an answer's length from what it holds, without any key. This measures the
 * leak, and (session 24) that padding leaves whoever sees only ciphertexts a bucket: the
 * request's plaintext and each reply chunk are padded (core/crypto/padding.ts). The header's
 * maxPromptTokens stays exact: it is read by the coordinator only, which bills exact token
 * counts from receipts anyway (docs/security.md "Session 23 review: privacy", item 4).
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
  it("the prompt's size, from the payload, only to its bucket (≥ 256 B, then steps of 2^(1/4)); its exact byte length from the header, which only the coordinator reads", async () => {
    // Prepare
    const client = await t.client();
    const lengths = [1, 17, 60, 300, 4321, 20_000];
    const seen: Array<{ actual: number; fromHeader: number; plaintext: number }> = [];
    // Act
    for (const n of lengths) {
      const r = await client.ask({ model: MODEL, messages: [{ role: "user", content: textOf(n) }], maxTokens: 8, tiers: ["dev"] });
      const env = queuedEnvelope(r.jobId);
      // the SDK's bound (client/sdk.ts promptTokenBound): 16 + 8 per message + the content's UTF-8 bytes
      const fromHeader = env.header.maxPromptTokens - 16 - 8;
      // ciphertext = plaintext + a 16-byte tag
      seen.push({ actual: n, fromHeader, plaintext: b64u.decode(env.payload).length - 16 });
    }
    // Assess: the header (inside TLS, read by the coordinator, which bills exact token counts
    // anyway) gives the length exactly; the payload, which a worker's host sees the size of, only
    // its bucket: the three short prompts alike, the longer ones each at a bucket a little above it
    expect(seen.map((s) => s.fromHeader)).toEqual(lengths);
    expect(new Set(seen.slice(0, 3).map((s) => s.plaintext))).toEqual(new Set([REQUEST_PADDING.floor]));
    for (const s of seen.slice(3)) {
      expect(s.plaintext).toBe(paddedLength(s.plaintext, REQUEST_PADDING));
      expect(s.plaintext).toBeGreaterThan(s.actual);
      expect(s.plaintext).toBeLessThan(s.actual * 1.25);
    }
  });

  it("a prompt near the coordinator's envelope cap, which padding would carry past it, goes unpadded rather than refused", async () => {
    // Prepare: ~140 KB of plaintext seals to ~187 KB of envelope; its bucket (~152 KiB) would be ~208 KB, past 200 KiB
    const client = await t.client();
    const n = 140_000;
    // Act
    const r = await client.ask({ model: MODEL, messages: [{ role: "user", content: textOf(n) }], maxTokens: 8, tiers: ["dev"] });
    // Assess
    const env = queuedEnvelope(r.jobId);
    const plaintext = b64u.decode(env.payload).length - 16;
    expect(paddedLength(plaintext, REQUEST_PADDING)).toBeGreaterThan(plaintext); // not padded
    expect(plaintext - n).toBeLessThan(200);
  });

  it("the answer's size, from the stored reply's chunks, only to each chunk's bucket (≥ 128 B, then steps of 2^(1/4))", async () => {
    // Prepare: the built-in engine's answer grows with the prompt
    const client = await t.client();
    const seen: Array<{ actual: number; sizes: number[] }> = [];
    // Act
    for (const n of [1, 4, 200, 3000]) {
      const r = await client.ask({ model: MODEL, messages: [{ role: "user", content: textOf(n) }], maxTokens: 1024, tiers: ["dev"] });
      const job = await t.net.store.get("jobs", { pk: r.jobId, sk: "job" });
      const reply = (job?.reply ?? (await client.job(r.jobId)).reply) as ChunkedReply;
      seen.push({ actual: Buffer.byteLength(r.text), sizes: reply.chunks.map((c) => b64u.decode(c).length - 16) });
    }
    // Assess: the answers differ in length; every chunk is exactly a bucket, and the two short
    // answers (a chunk each, in one bucket with their framing) look alike
    expect(new Set(seen.map((s) => s.actual)).size).toBe(seen.length);
    for (const size of seen.flatMap((s) => s.sizes)) {
      expect(size).toBeGreaterThanOrEqual(CHUNK_PADDING.floor);
      expect(paddedLength(size, CHUNK_PADDING)).toBe(size);
    }
    expect(seen[0]!.sizes).toHaveLength(1);
    expect(seen[1]!.sizes).toEqual(seen[0]!.sizes);
  });
});
