/**
 * review41 (the GPU owner's side): a requester who holds fewer prompt tokens than the engine
 * reads. The agent refuses, before the engine runs, a prompt whose counted bytes exceed the hold
 * (promptFloor); what it does not count (a turn's framing, a speaker's name, a tool call's id and
 * function name, an empty embedding input) is found only in the engine's usage, after the answer.
 * There it failed the job limits_exceeded: a streamed requester had read the answer, was refunded
 * in full, and the job went on to the next candidate to be answered (and read) again, for nothing.
 */
import { describe, expect, it } from "vitest";
import { sealRequest } from "../core/crypto/envelope";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import type { AgentJob } from "../events/api";
import { openChunkedReply } from "../core/crypto/reply-stream";
import { MAX_REPLY_BYTES, RequestPlaintext, type ChunkedReply, type EnvelopeHeader } from "../events/envelope";
import type { RelayChunk } from "../events/relay";
import type { RelaySession } from "../events/relay-session";
import { promptTokenBound } from "../client/sdk";
import type { Engine, EngineResult } from "./engines/engine";
import { executeJob, promptFloor } from "./execute";
import { executeContext, recordingApi } from "./job-testing";

const MODEL = "test-model";

/** Factory: an engine that streams `deltas`, then ends counting `usage` (the engine's word, as a real one's). */
function countingEngine(deltas: string[], usage: { promptTokens: number; completionTokens: number }) {
  const calls = { stream: 0, embed: 0 };
  const engine: Engine = {
    name: "counting",
    models: async () => [MODEL],
    generate: async () => {
      throw new Error("generate: not asked in these tests");
    },
    async *stream() {
      calls.stream++;
      for (const text of deltas) yield { type: "delta" as const, text };
      const result: EngineResult = { text: deltas.join(""), usage, finishReason: "stop", engine: "counting" };
      yield { type: "done" as const, result };
    },
    embed: async (req) => {
      calls.embed++;
      return { vectors: req.input.map(() => [1, 0]), usage: { promptTokens: usage.promptTokens }, engine: "counting" };
    },
  };
  return { engine, calls };
}

/** Factory + Act: one job sealed to a fresh worker and run by executeJob, streamed over a pub/sub relay; what it posted and published. */
async function run(o: { engine: Engine; plain: Record<string, unknown>; header?: Partial<EnvelopeHeader> }) {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const replyKey = generateKemKey();
  const header: EnvelopeHeader = {
    v: 1,
    jobId: "job_01m8review41aaaaaaaaaaaaaa",
    requester: generateSigningKey().id,
    model: MODEL,
    maxTokens: 16,
    maxPromptTokens: 256,
    maxCost: "1000000",
    replyKey: b64u.encode(replyKey.publicKey),
    ...o.header,
  };
  const envelope = sealRequest({
    header,
    plaintext: new TextEncoder().encode(JSON.stringify(o.plain)),
    recipients: [{ workerId: signingKey.id, hpkePublicKey: kemKey.publicKey }],
  });
  const sqs: RelaySession = {
    transport: "sqs",
    region: "us-east-1",
    queueUrl: "https://sqs.us-east-1.amazonaws.com/123456789012/cocoon-test-r-chan",
    credentials: { accessKeyId: "k", secretAccessKey: "s", sessionToken: "t", expiration: Date.now() + 3_600_000 },
  };
  const job: AgentJob = { jobId: header.jobId, attempt: 0, envelope, deadline: Date.now() + 60_000, relay: sqs };
  const { api, results } = recordingApi();
  const published: RelayChunk[] = [];
  await executeJob(
    executeContext({ signingKey, kemKey }, api, o.engine, {
      relayPublisher: async (_s, chunks) => void published.push(...chunks),
    }),
    job,
  );
  const completed = results.find((r) => r.kind === "completed");
  const failed = results.find((r) => r.kind === "failed");
  /** the completed reply's chunks, as its requester opens them */
  const chunks = () => {
    if (completed?.kind !== "completed") throw new Error(`the job failed: ${JSON.stringify(failed)}`);
    return openChunkedReply(completed.reply as ChunkedReply, header, signingKey.id, replyKey).map(
      (c) => JSON.parse(new TextDecoder().decode(c)) as { text?: string; end?: { choices: Array<{ finishReason: string }> } },
    );
  };
  return { results, completed, failed, published, chunks };
}

describe("review41: a prompt the engine counts past the hold, found only after the answer", () => {
  it("a streamed chat's answer, published before the engine's count came, is billed at the hold, not refunded", async () => {
    // Prepare: a hold that passes the floor ("hi" and its turn), and an engine whose template adds
    // more (every chat template frames each turn: Llama 3's header and end markers are ~5 tokens)
    const plain = { stream: true, messages: [{ role: "user", content: "hi" }] };
    const { engine } = countingEngine(["the whole ", "answer"], { promptTokens: 12, completionTokens: 2 });

    // Act
    const r = await run({ engine, plain, header: { maxPromptTokens: 8 } });

    // Assess: the requester read the answer on the relay; the worker is paid for it, up to the hold
    expect(r.published.length).toBeGreaterThan(0);
    expect(r.failed).toBeUndefined();
    if (r.completed?.kind !== "completed") throw new Error("no completed result");
    expect(r.completed.receipt.body.usage).toEqual({ promptTokens: 8, completionTokens: 2 });
  });

  it("embeddings the engine counts past the hold are billed at the hold: not refunded and run again by every candidate", async () => {
    // Prepare: three inputs of one byte each, held at 3; the engine's model adds its special tokens
    const { engine, calls } = countingEngine([], { promptTokens: 9, completionTokens: 0 });

    // Act
    const r = await run({ engine, plain: { kind: "embedding", input: ["a", "b", "c"] }, header: { maxPromptTokens: 3 } });

    // Assess
    expect(calls.embed).toBe(1);
    if (r.completed?.kind !== "completed") throw new Error(`not completed: ${JSON.stringify(r.failed)}`);
    expect(r.completed.receipt.body.usage).toEqual({ promptTokens: 3, completionTokens: 0 });
  });

  it("the completion side is still never billed past the hold: an engine counting past maxTokens fails the job", async () => {
    // Prepare: the one over-count the requester cannot make (the agent asks the engine for at most maxTokens)
    const { engine } = countingEngine(["ok"], { promptTokens: 2, completionTokens: 17 });

    // Act
    const r = await run({ engine, plain: { messages: [{ role: "user", content: "hi" }] }, header: { maxTokens: 16 } });

    // Assess
    expect(r.completed).toBeUndefined();
    expect(r.failed).toMatchObject({ kind: "failed", code: "limits_exceeded" });
  });
});

describe("review41: promptFloor counts what the engine reads that a requester controls", () => {
  const chat = (over: Record<string, unknown>) => RequestPlaintext.parse({ messages: [{ role: "user", content: "hi" }], ...over });

  it("counts speakers' names and a token for each turn: 100 empty turns are not a 2-token prompt", () => {
    // Prepare: the engine renders every turn (its role markers) and, on many templates, its name
    const turns = (name?: string) =>
      Array.from({ length: 100 }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: "", ...(name ? { name } : {}) }));
    const last = { role: "user", content: "hi" };

    // Act
    const unnamed = promptFloor(chat({ messages: [...turns(), last] }));
    const named = promptFloor(chat({ messages: [...turns("n".repeat(64)), last] }));

    // Assess: a token at least for each empty turn; each name's bytes
    expect(unnamed).toBeGreaterThanOrEqual(2 + 100);
    expect(named).toBeGreaterThanOrEqual(2 + 100 * 64);
  });

  it("counts a tool call's id and function name, not its arguments alone", () => {
    // Prepare
    const call = { id: "c".repeat(256), type: "function", function: { name: "f".repeat(256), arguments: "{}" } };

    // Act
    const floor = promptFloor(chat({ messages: [{ role: "assistant", content: "", toolCalls: [call] }] }));

    // Assess
    expect(floor).toBeGreaterThanOrEqual(256 + 256 + 2);
  });

  it("counts a token for each embedding input: 1,000 empty strings are not a free batch", () => {
    expect(
      promptFloor(RequestPlaintext.parse({ kind: "embedding", input: Array.from({ length: 1000 }, () => "") })),
    ).toBeGreaterThanOrEqual(1000);
  });

  it("still never refuses what the SDK held for (its bound counts names, calls and 8 a turn)", () => {
    // Prepare
    const messages = [
      { role: "system" as const, content: "" },
      { role: "user" as const, content: "Zürich → 東京? 🚄", name: "ann" },
      {
        role: "assistant" as const,
        content: "",
        toolCalls: [{ id: "call_1", type: "function" as const, function: { name: "route", arguments: '{"to":"東京"}' } }],
      },
    ];
    const tools = [{ type: "function" as const, function: { name: "route", description: "d", parameters: { type: "object" } } }];

    // Act + Assess
    for (const n of [1, 3])
      expect(promptFloor(RequestPlaintext.parse({ messages, tools, n }))).toBeLessThanOrEqual(promptTokenBound(messages, tools) * n);
  });
});

/**
 * review41: a streamed answer that reaches the network's reply cap (MAX_REPLY_BYTES, 4 MiB). Since
 * session 21 the agent stops publishing at the cap, but still failed the job reply_too_large: the
 * requester, who had read everything published up to the cap (with top_logprobs 20, about 6,000
 * tokens of answer), was refunded in full, and the job went on to the next candidate to be read
 * again. The answer is cut there as at max_tokens: completed, finish "length", billed what the
 * engine generated (its own count), everything the requester read inside the billed reply.
 */
describe("review41: a streamed answer that reaches the reply cap", () => {
  /** Factory: an engine streaming one-token deltas carrying `lpBytes` of log probabilities each, `count` of them. */
  function heavyLogprobs(count: number, lpBytes: number) {
    const state = { pulled: 0, closed: false };
    const lps = (bytes: number) => {
      const chars = bytes - 4 * 26;
      return [0, 1, 2, 3].map((k) => ({ token: "x".repeat(Math.floor(chars / 4) + (k < chars % 4 ? 1 : 0)), logprob: -1 }));
    };
    const engine: Engine = {
      name: "heavy",
      models: async () => [MODEL],
      capabilities: async () => ({
        chat: true,
        completions: true,
        embeddings: false,
        streaming: true,
        tools: false,
        jsonSchema: false,
        logprobs: true,
      }),
      generate: async () => ({ text: "t", usage: { promptTokens: 5, completionTokens: 1 }, finishReason: "length", engine: "heavy" }),
      async *stream() {
        try {
          for (let k = 0; k < count; k++) {
            state.pulled++;
            yield { type: "delta" as const, text: "t", logprobs: lps(lpBytes) };
          }
          yield {
            type: "done" as const,
            result: { text: "", usage: { promptTokens: 5, completionTokens: count }, finishReason: "stop", engine: "heavy" },
          };
        } finally {
          state.closed = true;
        }
      },
    };
    return { engine, state };
  }

  it("is cut there and billed what the engine generated (completed, finish length), not refunded after the requester read it", async () => {
    // Prepare: 2,000 tokens of ~4 KB of log probabilities each (8 MB): the cap comes near the 1,000th
    const { engine, state } = heavyLogprobs(2000, 4000);

    // Act
    const r = await run({
      engine,
      plain: { stream: true, logprobs: true, topLogprobs: 20, messages: [{ role: "user", content: "hi" }] },
      header: { maxTokens: 4096 },
    });

    // Assess: the requester read more than half the cap on the relay...
    const publishedBytes = r.published.reduce((n, c) => n + c.data.length, 0);
    expect(publishedBytes).toBeGreaterThan(MAX_REPLY_BYTES / 2);
    // ...and pays for it: the job completed, everything published is in the billed reply, each piece billed
    expect(r.failed).toBeUndefined();
    if (r.completed?.kind !== "completed") throw new Error("no completed result");
    const reply = r.completed.reply as ChunkedReply;
    for (const c of r.published) expect(reply.chunks[c.seq]).toBe(c.data);
    const chunks = r.chunks();
    const delivered = chunks.map((c) => c.text ?? "").join("").length;
    expect(chunks.at(-1)!.end!.choices).toEqual([{ finishReason: "length" }]);
    expect(delivered).toBeLessThan(2000); // cut: the rest had no room
    // billed by the engine's own count of what it generated (an engine answering whole sends one piece of every token)
    expect(r.completed.receipt.body.usage).toEqual({ promptTokens: 5, completionTokens: 2000 });
    expect(state.pulled).toBe(2000);
    expect(Buffer.byteLength(JSON.stringify(reply))).toBeLessThanOrEqual(MAX_REPLY_BYTES);
  });
});
