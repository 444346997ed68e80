/**
 * A reasoning model's thinking in the sealed reply (agent/execute.ts ChunkWriter): it travels in
 * the chunks beside the text (ChunkPlaintext.reasoning), counted against a chunk's budget and the
 * reply's caps exactly as text is, and before the text it came before.
 */
import { describe, expect, it } from "vitest";
import type { ApiClient } from "../api-client/api";
import type { ApiRoute } from "../api-client/routes";
import { openReply, sealRequest } from "../core/crypto/envelope";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { openChunkedReply } from "../core/crypto/reply-stream";
import type { AgentJob, ResultRequest } from "../events/api";
import { ChunkPlaintext, type ChunkedReply, type EnvelopeHeader, type SealedReply } from "../events/envelope";
import { verifyReceipt } from "../core/crypto/receipt";
import type { Usage } from "../events/common";
import { Receipt } from "../events/envelope";
import type { Engine, EngineStreamEvent } from "./engines/engine";
import { executeJob } from "./execute";
import { executeContext, namingRequest } from "./job-testing";

const MODEL = "think-model";
/** what a chunk holds of text: MAX_CHUNK_PLAINTEXT (96 KiB) less 8 KiB, counted at 3 bytes a UTF-16 unit */
const CHUNK_BUDGET = 96 * 1024 - 8192;
/** the longest piece of one delta */
const PIECE = Math.floor(CHUNK_BUDGET / 3);

type Delta = { text?: string; reasoning?: string };

/** Factory: an engine that streams these deltas, then a result of 1 + 1 tokens (or the `usages` in turn, one per call). */
function thinkingEngine(deltas: Delta[], usages: Usage[] = []): Engine {
  let calls = 0;
  return {
    name: "scripted",
    models: async () => [MODEL],
    generate: async () => {
      throw new Error("generate: not this engine");
    },
    async *stream(): AsyncGenerator<EngineStreamEvent> {
      for (const d of deltas) yield { type: "delta", text: d.text ?? "", ...(d.reasoning ? { reasoning: d.reasoning } : {}) };
      const text = deltas.map((d) => d.text ?? "").join("");
      const reasoning = deltas.map((d) => d.reasoning ?? "").join("");
      const usage = usages[calls++] ?? { promptTokens: 1, completionTokens: 1 };
      yield { type: "done", result: { text, reasoning, usage, finishReason: "stop", engine: "scripted" } };
    },
  };
}

/** Factory + Act: one job through executeJob without a relay; the chunks as the requester opens them. */
async function execute(engine: Engine, request: Record<string, unknown> = {}) {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const replyKey = generateKemKey();
  const header: EnvelopeHeader = {
    v: 1,
    jobId: "job_01m8reasoningeeeeeeeeeeee0",
    requester: generateSigningKey().id,
    model: MODEL,
    maxTokens: 64, // above the longest script's pieces (each at least a token)
    maxPromptTokens: 256,
    maxCost: "1000000",
    replyKey: b64u.encode(replyKey.publicKey),
  };
  const envelope = sealRequest({
    header,
    plaintext: new TextEncoder().encode(JSON.stringify({ kind: "chat", messages: [{ role: "user", content: "hi" }], ...request })),
    recipients: [{ workerId: signingKey.id, hpkePublicKey: kemKey.publicKey }],
  });
  const job: AgentJob = { jobId: header.jobId, attempt: 0, envelope, deadline: Date.now() + 60_000 };
  const results: ResultRequest[] = [];
  const api = {
    async request(_route: ApiRoute, opts: { body?: unknown } = {}) {
      results.push(opts.body as ResultRequest);
      return { status: "completed", duplicate: false, cost: "1" };
    },
    localTime: (serverMs: number) => serverMs,
  } as unknown as ApiClient;
  await executeJob(executeContext({ signingKey, kemKey }, api, engine, { now: () => 1_700_000_000_000 }), job);
  const r = results.at(-1)!;
  return {
    receipt: () => {
      if (r.kind !== "completed") throw new Error(`the job failed: ${JSON.stringify(r)}`);
      return { receipt: r.receipt, worker: signingKey.publicKey };
    },
    chunks: () => {
      if (r.kind !== "completed") throw new Error(`the job failed: ${JSON.stringify(r)}`);
      return namingRequest(
        openChunkedReply(r.reply as ChunkedReply, header, signingKey.id, replyKey).map(
          (c) => JSON.parse(new TextDecoder().decode(c)) as Record<string, unknown>,
        ),
        envelope,
        { workerId: signingKey.id, kem: kemKey },
      );
    },
    failure: () => {
      if (r.kind !== "failed" || !r.reply) throw new Error("no sealed failure");
      return JSON.parse(new TextDecoder().decode(openReply(r.reply as SealedReply, header, signingKey.id, replyKey))) as {
        error: { code: string; message: string };
      };
    },
  };
}

const end = { usage: { promptTokens: 1, completionTokens: 1 }, engine: "scripted", choices: [{ finishReason: "stop" }] };

describe("ChunkWriter: a reasoning model's thinking in the sealed chunks", () => {
  it("goes beside the text, in the chunk's `reasoning`", async () => {
    // Act
    const r = await execute(thinkingEngine([{ reasoning: "Hmm," }, { reasoning: " greet." }, { text: "Hi" }, { text: "!" }]));
    // Assess
    expect(r.chunks()).toEqual([{ reasoning: "Hmm, greet.", text: "Hi!", end }]);
  });

  it("alone (an answer cut while the model thought) still makes the reply", async () => {
    // Act
    const r = await execute(thinkingEngine([{ reasoning: "Let me see" }]));
    // Assess
    expect(r.chunks()).toEqual([{ reasoning: "Let me see", end }]);
  });

  it("counts against a chunk's budget as text does: what waits goes out before a delta that would pass it", async () => {
    // Prepare: 30 000 + 37 units (90 111 bytes counted) fit; one more does not
    const a = "a".repeat(30_000);
    const b = "b".repeat(37);
    // Act
    const r = await execute(thinkingEngine([{ reasoning: a }, { text: b }, { text: "c" }]));
    // Assess
    expect(r.chunks()).toEqual([
      { reasoning: a, text: b },
      { text: "c", end },
    ]);
  });

  it("a thought over a chunk's piece is cut at PIECE units, never inside a surrogate pair, and goes before its text", async () => {
    // Prepare
    const head = "a".repeat(PIECE - 1);
    // Act
    const r = await execute(thinkingEngine([{ reasoning: head + "😀" + "b".repeat(10), text: "ok" }]));
    // Assess
    expect(r.chunks()).toEqual([{ reasoning: head }, { reasoning: "😀" + "b".repeat(10), text: "ok", end }]);
  });

  it("thinking that follows text starts a chunk of its own (a chunk's thinking came before its text)", async () => {
    // Act
    const r = await execute(thinkingEngine([{ reasoning: "one" }, { text: "A" }, { reasoning: "two" }, { text: "B" }]));
    // Assess
    expect(r.chunks()).toEqual([
      { reasoning: "one", text: "A" },
      { reasoning: "two", text: "B", end },
    ]);
  });

  it("counts against the reply's size cap: thinking past MAX_REPLY_BYTES cuts the answer there (finish length; review41: it failed, refunded)", async () => {
    // Prepare: 48 pieces of 90 000 bytes, over 4 MiB however they are sealed
    const thoughts = Array.from({ length: 48 }, () => ({ reasoning: "t".repeat(90_000) }));
    // Act
    const r = await execute(thinkingEngine([...thoughts, { text: "done" }]));
    // Assess: fewer thoughts than were thought, and the answer's text never reached
    const chunks = r.chunks();
    const thought = chunks.map((c) => (c.reasoning as string | undefined) ?? "").join("");
    expect(thought.length).toBeLessThan(48 * 90_000);
    expect(chunks.map((c) => c.text ?? "").join("")).toBe("");
    expect(chunks.at(-1)!.end).toMatchObject({ choices: [{ finishReason: "length" }] });
  });
});

describe("ChunkPlaintext.reasoning: backwards compatible", () => {
  it("is read by this schema, and a key a schema does not know is dropped, not refused (how an older SDK reads `reasoning`)", () => {
    // Act
    const p = ChunkPlaintext.parse({ text: "Hi", reasoning: "Hmm", aFieldOfTomorrow: 1 });
    // Assess
    expect(p).toEqual({ text: "Hi", reasoning: "Hmm" });
  });
});

describe("usage.reasoningTokens: the thinking's count in the sealed answer, never in the receipt", () => {
  it("travels in the final chunk's usage as the engine reported it", async () => {
    // Act
    const r = await execute(
      thinkingEngine([{ reasoning: "Hmm" }, { text: "Hi" }], [{ promptTokens: 1, completionTokens: 5, reasoningTokens: 3 }]),
    );
    // Assess
    expect(r.chunks().at(-1)!.end).toMatchObject({ usage: { promptTokens: 1, completionTokens: 5, reasoningTokens: 3 } });
  });

  it("is left out of the receipt: its signed usage is the billed pair alone, and verifies as the coordinator parses it", async () => {
    // Act
    const r = await execute(
      thinkingEngine([{ reasoning: "Hmm" }, { text: "Hi" }], [{ promptTokens: 1, completionTokens: 5, reasoningTokens: 3 }]),
    );
    // Assess
    const { receipt, worker } = r.receipt();
    expect(receipt.body.usage).toStrictEqual({ promptTokens: 1, completionTokens: 5 });
    expect(verifyReceipt(Receipt.parse(receipt), worker)).toBe(true);
  });

  it("is absent when the engine did not count it (never estimated from the streamed thinking)", async () => {
    // Act
    const r = await execute(thinkingEngine([{ reasoning: "Hmm" }, { text: "Hi" }]));
    // Assess
    expect(r.chunks().at(-1)!.end).toMatchObject({ usage: { promptTokens: 1, completionTokens: 1 } });
    expect((r.chunks().at(-1)!.end as { usage: object }).usage).not.toHaveProperty("reasoningTokens");
  });

  it("is left out, not sealed malformed, when an engine claims more thinking than completion: the job still completes", async () => {
    // Act
    const r = await execute(thinkingEngine([{ text: "Hi" }], [{ promptTokens: 1, completionTokens: 2, reasoningTokens: 3 }]));
    // Assess
    expect((r.chunks().at(-1)!.end as { usage: object }).usage).toStrictEqual({ promptTokens: 1, completionTokens: 2 });
  });

  it("sums over n choices when each choice's engine call reported it", async () => {
    // Act
    const r = await execute(
      thinkingEngine(
        [{ reasoning: "Hmm" }, { text: "Hi" }],
        [
          { promptTokens: 1, completionTokens: 4, reasoningTokens: 2 },
          { promptTokens: 1, completionTokens: 4, reasoningTokens: 3 },
        ],
      ),
      { n: 2 },
    );
    // Assess
    expect(r.chunks().at(-1)!.end).toMatchObject({ usage: { promptTokens: 2, completionTokens: 8, reasoningTokens: 5 } });
  });

  it("is absent over n choices when one choice's count is unknown: a partial sum would pass for the whole", async () => {
    // Act
    const r = await execute(
      thinkingEngine(
        [{ reasoning: "Hmm" }, { text: "Hi" }],
        [
          { promptTokens: 1, completionTokens: 4, reasoningTokens: 2 },
          { promptTokens: 1, completionTokens: 4 },
        ],
      ),
      { n: 2 },
    );
    // Assess
    const usage = (r.chunks().at(-1)!.end as { usage: object }).usage;
    expect(usage).toEqual({ promptTokens: 2, completionTokens: 8 });
  });
});

describe("ChunkPlaintext's usage.reasoningTokens: bounded, and backwards compatible", () => {
  const endWith = (usage: Record<string, number>) => ({ end: { usage, engine: "e", choices: [{ finishReason: "stop" }] } });

  it("an end without it (an older agent's) parses as before", () => {
    // Act
    const p = ChunkPlaintext.safeParse(endWith({ promptTokens: 1, completionTokens: 2 }));
    // Assess
    expect(p.success && p.data.end!.usage).toEqual({ promptTokens: 1, completionTokens: 2 });
  });

  it("a count up to the completion tokens is kept", () => {
    // Act
    const p = ChunkPlaintext.safeParse(endWith({ promptTokens: 1, completionTokens: 2, reasoningTokens: 2 }));
    // Assess
    expect(p.success && p.data.end!.usage).toEqual({ promptTokens: 1, completionTokens: 2, reasoningTokens: 2 });
  });

  it.each([
    ["above the completion tokens", 3],
    ["negative", -1],
    ["fractional", 0.5],
  ])("a count %s is a malformed answer", (_, reasoningTokens) => {
    // Act
    const p = ChunkPlaintext.safeParse(endWith({ promptTokens: 1, completionTokens: 2, reasoningTokens }));
    // Assess
    expect(p.success).toBe(false);
  });
});
