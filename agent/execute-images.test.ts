/**
 * Images inside the sealed request, on the agent's side (agent/execute.ts): the SDK seals a user
 * message's content parts, the agent opens them and hands the OpenAI-compatible engine the exact
 * parts (a fake OpenAI server on 127.0.0.1 records what it got); an engine that does not say it
 * reads images gets no image job (it fails, refunded, without the engine being asked); a hold
 * below the images' allowance is refused before the engine runs; and an engine that counts more
 * prompt tokens for the images than were held is billed at the hold, never above it, and says so
 * in the worker's log.
 */
import { afterEach, describe, expect, it } from "vitest";
import { sealRequestBound } from "../core/crypto/envelope";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import type { AgentJob, ResultRequest } from "../events/api";
import type { EnvelopeHeader } from "../events/envelope";
import { IMAGE_PROMPT_TOKENS } from "../events/images";
import { promptTokenBound, requestPlaintextOf, type ChatMessage } from "../client/sdk";
import { openAnswer } from "../client/reply";
import { bindingOf } from "../client/reply-testing";
import { startFakeOpenAiServer, FAKE_IMAGE_TOKENS, type FakeOpenAiServer } from "../test/fixtures/openai-server";
import { createOpenAiEngine } from "./engines/openai-http";
import type { Engine } from "./engines/engine";
import { executeJob, promptFloor } from "./execute";
import { executeContext, freshStats, recordingApi } from "./job-testing";

const MODEL = "fake-model";
const PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
const JPEG = `data:image/jpeg;base64,${Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]).toString("base64")}`;

/** A conversation with two images in its last user message, between text parts. */
const WITH_IMAGES: ChatMessage[] = [
  { role: "system", content: "Compare." },
  {
    role: "user",
    content: [
      { type: "text", text: "this" },
      { type: "image_url", image_url: { url: PNG, detail: "low" } },
      { type: "text", text: "with that" },
      { type: "image_url", image_url: { url: JPEG } },
    ],
  },
];

let server: FakeOpenAiServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Runs one job of `messages`, sealed by the SDK with the hold the SDK would take (or `maxPromptTokens`), on `engine`. */
async function runJob(
  engine: Engine,
  messages: ChatMessage[],
  maxPromptTokens = promptTokenBound(messages),
  plaintext: unknown = requestPlaintextOf({ model: MODEL, messages }, false),
) {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const { api, results } = recordingApi();
  const warnings: Array<{ msg: string; fields: unknown }> = [];
  const stats = freshStats();
  const replyKey = generateKemKey();
  const header: EnvelopeHeader = {
    v: 1,
    jobId: "job_01m8imagesssssssssssssss0",
    requester: generateSigningKey().id,
    model: MODEL,
    maxTokens: 16,
    maxPromptTokens,
    maxCost: "1000000",
    replyKey: b64u.encode(replyKey.publicKey),
  };
  const sealed = sealRequestBound({
    header,
    plaintext: new TextEncoder().encode(JSON.stringify(plaintext)),
    recipients: [{ workerId: signingKey.id, hpkePublicKey: kemKey.publicKey }],
  });
  const job: AgentJob = { jobId: header.jobId, attempt: 0, envelope: sealed.envelope, deadline: Date.now() + 60_000 };
  await executeJob(
    executeContext({ signingKey, kemKey }, api, engine, {
      log: { info() {}, warn: (msg: string, fields?: unknown) => void warnings.push({ msg, fields }) },
      stats,
    }),
    job,
  );
  const answer = (r: ResultRequest) =>
    r.kind === "completed" ? openAnswer(r.reply, header, signingKey.id, replyKey, bindingOf(sealed)) : undefined;
  return { results, stats, warnings, answer };
}

describe("executeJob: a chat with images, on an OpenAI-compatible engine that reads them", () => {
  it("hands the engine the exact content parts the SDK sealed, and bills the engine's count", async () => {
    // Prepare
    server = await startFakeOpenAiServer({ models: [MODEL], vision: true });
    const engine = createOpenAiEngine({ baseUrl: server.url, capabilities: { vision: true } });
    // Act
    const { results, answer } = await runJob(engine, WITH_IMAGES);
    // Assess
    const chat = server.requests.find((r) => r.path === "/v1/chat/completions")!;
    expect((chat.body as { messages: unknown }).messages).toStrictEqual([
      { role: "system", content: "Compare." },
      {
        role: "user",
        content: [
          { type: "text", text: "this" },
          { type: "image_url", image_url: { url: PNG, detail: "low" } },
          { type: "text", text: "with that" },
          { type: "image_url", image_url: { url: JPEG } },
        ],
      },
    ]);
    expect(results[0]).toMatchObject({ kind: "completed" });
    // the fake's count: each message's words ("Compare."; "thiswith that") and one a turn, and FAKE_IMAGE_TOKENS an image
    expect(answer(results[0]!)!.usage.promptTokens).toBe(1 + 1 + (2 + 1) + 2 * FAKE_IMAGE_TOKENS);
  });

  it("hands a message of text parts only to the engine as its text", async () => {
    // Prepare
    server = await startFakeOpenAiServer({ models: [MODEL] });
    const engine = createOpenAiEngine({ baseUrl: server.url });
    // Act
    const { results } = await runJob(engine, [
      {
        role: "user",
        content: [
          { type: "text", text: "a " },
          { type: "text", text: "b" },
        ],
      },
    ]);
    // Assess
    expect(results[0]).toMatchObject({ kind: "completed" });
    const chat = server.requests.find((r) => r.path === "/v1/chat/completions")!;
    expect((chat.body as { messages: unknown }).messages).toStrictEqual([{ role: "user", content: "a b" }]);
  });
});

describe("executeJob: a chat with images, refused by the agent", () => {
  it("fails the job (engine_rejected, refunded) without asking an engine that does not say it reads images", async () => {
    // Prepare: an engine whose owner did not say vision (the server would answer 500)
    server = await startFakeOpenAiServer({ models: [MODEL] });
    const engine = createOpenAiEngine({ baseUrl: server.url });
    // Act
    const { results, stats } = await runJob(engine, WITH_IMAGES);
    // Assess
    expect(results).toEqual([expect.objectContaining({ kind: "failed", code: "engine_rejected" })]);
    expect(server.requests.filter((r) => r.path === "/v1/chat/completions")).toHaveLength(0);
    expect(stats).toMatchObject({ jobs: 0, failed: 1 });
  });

  it("fails a job whose image is not what its data URL says (sealed without the SDK's check) as bad_request, the engine never asked", async () => {
    // Prepare: PNG bytes labelled JPEG (the sealed schema checks the URL's form only)
    server = await startFakeOpenAiServer({ models: [MODEL], vision: true });
    const engine = createOpenAiEngine({ baseUrl: server.url, capabilities: { vision: true } });
    const mislabelled = PNG.replace("image/png", "image/jpeg");
    const messages: ChatMessage[] = [{ role: "user", content: [{ type: "image_url", image_url: { url: mislabelled } }] }];
    // Act
    const { results } = await runJob(engine, messages, 10_000, { kind: "chat", messages });
    // Assess
    expect(results).toEqual([expect.objectContaining({ kind: "failed", code: "bad_request" })]);
    expect(server.requests.filter((r) => r.path === "/v1/chat/completions")).toHaveLength(0);
  });

  it("fails a job whose hold is below the images' allowance (limits_exceeded) before the engine runs", async () => {
    // Prepare
    server = await startFakeOpenAiServer({ models: [MODEL], vision: true });
    const engine = createOpenAiEngine({ baseUrl: server.url, capabilities: { vision: true } });
    // Act: a hold for the text alone
    const { results } = await runJob(engine, WITH_IMAGES, 2 * IMAGE_PROMPT_TOKENS - 1);
    // Assess
    expect(results).toEqual([expect.objectContaining({ kind: "failed", code: "limits_exceeded" })]);
    expect(server.requests.filter((r) => r.path === "/v1/chat/completions")).toHaveLength(0);
  });
});

describe("executeJob: an engine that counts the images past the hold", () => {
  /** An engine that reads images and counts `promptTokens` for any prompt. */
  const counting = (promptTokens: number): Engine => ({
    name: "counting",
    models: async () => [MODEL],
    capabilities: async () => ({
      chat: true,
      completions: false,
      embeddings: false,
      streaming: false,
      tools: false,
      jsonSchema: false,
      vision: true,
    }),
    generate: async () => ({ text: "a cat", usage: { promptTokens, completionTokens: 2 }, finishReason: "stop", engine: "counting" }),
  });

  it("is billed at the hold's prompt tokens (never above), the answer delivered, and the worker's log names the job and no count (the host reads it)", async () => {
    // Prepare
    const held = promptTokenBound(WITH_IMAGES);
    // Act
    const { results, warnings, answer } = await runJob(counting(held + 5000), WITH_IMAGES);
    // Assess
    const r = results[0]!;
    if (r.kind !== "completed") throw new Error(`the job failed: ${r.code}`);
    expect(r.receipt.body.usage).toEqual({ promptTokens: held, completionTokens: 2 });
    expect(answer(r)!.usage).toMatchObject({ promptTokens: held, completionTokens: 2 });
    expect(answer(r)!.choices[0]!.text).toBe("a cat");
    expect(warnings).toEqual([expect.objectContaining({ fields: { jobId: expect.any(String) as unknown as string } })]);
  });

  it("a text-only job past its hold is billed at the hold too (review41: its bytes do not bound the template's framing)", async () => {
    // Prepare
    const messages: ChatMessage[] = [{ role: "user", content: "hi" }];
    // Act
    const { results } = await runJob(counting(10_000), messages);
    // Assess: before review41 it failed limits_exceeded, an answer already made refunded and run again by the next worker
    const r = results[0]!;
    if (r.kind !== "completed") throw new Error(`the job failed: ${r.code}`);
    expect(r.receipt.body.usage).toEqual({ promptTokens: promptTokenBound(messages), completionTokens: 2 });
  });
});

describe("promptFloor: images", () => {
  it("asks IMAGE_PROMPT_TOKENS of the hold for each image, not its base64, and stays within the SDK's bound", () => {
    // Prepare
    const p = requestPlaintextOf({ model: MODEL, messages: WITH_IMAGES }, false);
    // Act
    const floor = promptFloor({ ...p, kind: "chat" } as Parameters<typeof promptFloor>[0]);
    // Assess
    expect(floor).toBe(Buffer.byteLength("Compare.thiswith that") + 2 * IMAGE_PROMPT_TOKENS);
    expect(floor).toBeLessThanOrEqual(promptTokenBound(WITH_IMAGES));
  });
});
