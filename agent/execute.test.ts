/**
 * executeJob's own refusals (agent/execute.ts): an answer the network could not carry back is
 * reported failed by the agent, without sending it, rather than refused by the coordinator.
 */
import { describe, expect, it } from "vitest";
import { sealRequestBound } from "../core/crypto/envelope";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import type { AgentJob } from "../events/api";
import { MAX_REPLY_BYTES, type EnvelopeHeader } from "../events/envelope";
import { requestPlaintextOf, type AskOptions } from "../client/sdk";
import { openAnswer } from "../client/reply";
import { bindingOf } from "../client/reply-testing";
import type { Engine } from "./engines/engine";
import { executeJob } from "./execute";
import { executeContext, freshStats, recordingApi } from "./job-testing";

const MODEL = "test-model";

/** Factory: an engine that answers `text` whatever it is asked, in one token (and says it cannot call tools). */
const engineAnswering = (text: string): Engine => ({
  name: "fixed",
  models: async () => [MODEL],
  capabilities: async () => ({ chat: true, completions: false, embeddings: false, streaming: false, tools: false, jsonSchema: false }),
  generate: async () => ({ text, usage: { promptTokens: 1, completionTokens: 1 }, finishReason: "stop", engine: "fixed" }),
});

function jobFor(workerId: string, hpkePublicKey: Uint8Array, extra: Partial<AskOptions> = {}) {
  const replyKey = generateKemKey();
  const header: EnvelopeHeader = {
    v: 1,
    jobId: "job_01m8rep1ysizeeeeeeeeeeeee0",
    requester: generateSigningKey().id,
    model: MODEL,
    maxTokens: 16,
    maxPromptTokens: 256,
    maxCost: "1000000",
    replyKey: b64u.encode(replyKey.publicKey),
  };
  const plaintext = requestPlaintextOf({ model: MODEL, messages: [{ role: "user", content: "a long answer" }], ...extra }, false);
  const sealed = sealRequestBound({
    header,
    plaintext: new TextEncoder().encode(JSON.stringify(plaintext)),
    recipients: [{ workerId, hpkePublicKey }],
  });
  const job: AgentJob = { jobId: header.jobId, attempt: 0, envelope: sealed.envelope, deadline: Date.now() + 60_000 };
  return { job, header, replyKey, binding: bindingOf(sealed) };
}

async function run(text: string, extra: Partial<AskOptions> = {}) {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const { api, results } = recordingApi();
  const stats = freshStats();
  const { job, header, replyKey, binding } = jobFor(signingKey.id, kemKey.publicKey, extra);
  await executeJob(executeContext({ signingKey, kemKey }, api, engineAnswering(text), { stats }), job);
  /** The answer's text as the requester reads it. */
  const answered = (reply: Parameters<typeof openAnswer>[0]) =>
    openAnswer(reply, header, signingKey.id, replyKey, binding).choices[0]!.text;
  return { results, stats, answered };
}

describe("executeJob: a long answer in one delta (an engine without streaming)", () => {
  it("is split over several chunks, a surrogate pair never cut, and reads back whole", async () => {
    // Prepare: 200 KB, more than a chunk holds (96 KiB), with emoji across every cut
    const text = "😀a".repeat(70_000);
    // Act
    const { results, stats, answered } = await run(text);
    // Assess
    const result = results[0]!;
    if (result.kind !== "completed") throw new Error(`the job failed: ${result.code}`);
    expect("chunks" in result.reply && result.reply.chunks.length).toBeGreaterThan(2);
    expect(answered(result.reply)).toBe(text);
    expect(stats).toMatchObject({ jobs: 1, failed: 0 });
  });
});

describe("executeJob: an answer over MAX_REPLY_BYTES", () => {
  it("is cut within the cap and completed, billed by the engine's count (review41: it failed reply_too_large, refunded)", async () => {
    // Prepare
    const text = "x".repeat(MAX_REPLY_BYTES);
    // Act
    const { results, stats, answered } = await run(text);
    // Assess
    expect(results).toHaveLength(1);
    const result = results[0]!;
    if (result.kind !== "completed") throw new Error(`the job failed: ${result.code}`);
    expect(Buffer.byteLength(JSON.stringify(result.reply))).toBeLessThanOrEqual(MAX_REPLY_BYTES);
    expect(text.startsWith(answered(result.reply))).toBe(true);
    expect(answered(result.reply).length).toBeLessThan(text.length);
    expect(stats).toMatchObject({ jobs: 1, failed: 0 });
  });

  it("an answer well within it is sent as the completed result", async () => {
    // Prepare
    const text = "x".repeat(64 * 1024);
    // Act
    const { results, stats } = await run(text);
    // Assess
    expect(results[0]).toMatchObject({ kind: "completed" });
    expect(stats).toMatchObject({ jobs: 1, failed: 0 });
  });
});

describe("executeJob: tools for an engine that cannot call them", () => {
  it("fails the job as engine_rejected (failed over or refunded) instead of answering plain text", async () => {
    // Prepare
    const tools: AskOptions["tools"] = [{ type: "function", function: { name: "f" } }];
    // Act
    const { results, stats } = await run("plain text", { tools, toolChoice: "required" });
    const without = await run("plain text", { tools, toolChoice: "none" });
    // Assess
    expect(results[0]).toMatchObject({ kind: "failed", code: "engine_rejected" });
    expect(stats).toMatchObject({ jobs: 0, failed: 1 });
    expect(without.results[0]).toMatchObject({ kind: "completed" });
  });
});
