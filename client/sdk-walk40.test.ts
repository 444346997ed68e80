/**
 * walk40 (a requester's walk, session 39): two refusals the SDK now makes before any money moves.
 * (a) A plain completion (ask({prompt})) is sealed only to candidates whose engine does plain
 * completions, by the capabilities the prepare names per candidate; none: model_unsupported,
 * nothing submitted (it used to reach a worker and come back refunded engine_rejected).
 * (b) A prompt too large for one job is prompt_too_large, its limit named, before a prepare
 * (it was the generic invalid_request, or the coordinator's 413 after a quote).
 * The coordinator is stubbed at ApiClient.request: nothing leaves the process.
 */
import { describe, expect, it } from "vitest";
import { API, ApiError } from "../api-client/api";
import type { ApiRoute } from "../api-client/routes";
import { generateSigningKey } from "../core/crypto/keys";
import type { Candidate, ModelCapabilities } from "../events/api";
import { MAX_ENVELOPE_BYTES } from "../events/envelope";
import { caps } from "../test/fixtures/serve-proxy";
import { prepared } from "./sdk-cancel-testing";
import { devCandidate, MODEL, T0 } from "./sdk-stub-testing";
import { AskInputError, CocoonClient } from "./sdk";

/** An offer of chat (and streaming) only: no plain completions. */
const CHAT_ONLY = caps();
const BOTH = caps({ completions: true });

/** Factory: a dev candidate offering `offer` (none: an older agent's offer). */
const candidate = (offer?: ModelCapabilities): Candidate => ({ ...devCandidate(), ...(offer ? { capabilities: offer } : {}) });

/** Factory: a client whose coordinator prepares `cands` and refuses every submit (402: nothing held), recording the workers each envelope was sealed to. */
function rig(cands: Candidate[]) {
  const key = generateSigningKey();
  const c = new CocoonClient({ apiUrl: "http://127.0.0.1:9", key, allowDev: true, now: () => T0 });
  const sent: ApiRoute[] = [];
  const sealedTo: string[][] = [];
  c.api.request = (async (route: ApiRoute, o: { body?: unknown } = {}) => {
    sent.push(route);
    if (route === API.relaySession) throw new ApiError(404, "not_found", "no relay");
    if (route === API.prepareJob) return prepared(key.id, cands);
    if (route === API.submitJob) {
      sealedTo.push((o.body as { envelope: { keys: Array<{ workerId: string }> } }).envelope.keys.map((k) => k.workerId));
      throw new ApiError(402, "insufficient_funds", "no");
    }
    throw new Error(`stub: no answer for ${route.path}`);
  }) as typeof c.api.request;
  return { c, sent, sealedTo };
}

const ask = { model: MODEL, tiers: ["dev" as const], maxTokens: 16 };

describe("walk40 (a): a plain completion only to engines that do them", () => {
  it("every candidate chat-only: model_unsupported on `prompt`, naming the chat form, and nothing submitted", async () => {
    // Prepare
    const { c, sent } = rig([candidate(CHAT_ONLY), candidate(CHAT_ONLY)]);
    // Act
    const asked = c.ask({ ...ask, prompt: "Once upon a time" });
    // Assess
    await expect(asked).rejects.toBeInstanceOf(AskInputError);
    await expect(asked).rejects.toMatchObject({
      code: "model_unsupported",
      param: "prompt",
      message: expect.stringContaining('role: "user"'),
    });
    expect(sent).not.toContain(API.submitJob);
  });

  it("embeddings likewise: no candidate does them, model_unsupported on `input`, nothing submitted", async () => {
    // Prepare
    const { c, sent } = rig([candidate(BOTH)]);
    // Act
    const embedded = c.embed({ ...ask, input: "hello" });
    // Assess
    await expect(embedded).rejects.toMatchObject({ code: "model_unsupported", param: "input" });
    expect(sent).not.toContain(API.submitJob);
  });

  it("streamed too: the first event is the refusal, and nothing is submitted", async () => {
    // Prepare
    const { c, sent } = rig([candidate(CHAT_ONLY)]);
    // Act
    const stream = c.askStream({ ...ask, prompt: "Once upon a time" });
    // Assess
    await expect(stream.next()).rejects.toMatchObject({ code: "model_unsupported" });
    expect(sent).not.toContain(API.submitJob);
  });

  it("sealed only to the candidates that do them; an older agent's (no capabilities) is kept; a chat goes to all", async () => {
    // Prepare
    const [chatOnly, both, older] = [candidate(CHAT_ONLY), candidate(BOTH), candidate()];
    const { c, sealedTo } = rig([chatOnly, both, older]);
    // Act
    await expect(c.ask({ ...ask, prompt: "Once upon a time" })).rejects.toMatchObject({ code: "insufficient_funds" });
    await expect(c.ask({ ...ask, messages: [{ role: "user", content: "hi" }] })).rejects.toMatchObject({ code: "insufficient_funds" });
    // Assess
    expect(sealedTo[0]!.sort()).toEqual([both.workerId, older.workerId].sort());
    expect(sealedTo[1]!.sort()).toEqual([chatOnly.workerId, both.workerId, older.workerId].sort());
  });
});

describe("walk40 (b): a prompt too large for one job is prompt_too_large, before a prepare", () => {
  it.each([
    ["a 300 KB prompt (past the token cap too)", { prompt: "x".repeat(300_000) }, "prompt"],
    ["a 160 KB prompt (within the token cap, not the envelope's)", { prompt: "x".repeat(160_000) }, "prompt"],
    ["a 160 KB chat message", { messages: [{ role: "user" as const, content: "x".repeat(160_000) }] }, "messages"],
  ])("%s: the limit named, nothing sent", async (_name, body, param) => {
    // Prepare
    const { c, sent } = rig([candidate(BOTH)]);
    // Act
    const asked = c.ask({ ...ask, ...body });
    // Assess
    await expect(asked).rejects.toMatchObject({
      code: "prompt_too_large",
      param,
      message: expect.stringContaining(String(MAX_ENVELOPE_BYTES)),
    });
    expect(sent.filter((r) => r !== API.relaySession)).toEqual([]);
  });

  it("embedding inputs too: 160 KB of input is prompt_too_large on `input`, nothing sent", async () => {
    // Prepare
    const { c, sent } = rig([candidate({ ...BOTH, embeddings: true })]);
    // Act
    const embedded = c.embed({ ...ask, input: ["x".repeat(80_000), "y".repeat(80_000)] });
    // Assess
    await expect(embedded).rejects.toMatchObject({
      code: "prompt_too_large",
      param: "input",
      message: expect.stringContaining(String(MAX_ENVELOPE_BYTES)),
    });
    expect(sent.filter((r) => r !== API.relaySession)).toEqual([]);
  });

  it("a prompt past the token cap alone is prompt_too_large too (n choices multiply it)", async () => {
    // Prepare: 4 × a 70,000-byte prompt's bound is past 262,144 tokens, while one prompt seals within the envelope
    const { c, sent } = rig([candidate(BOTH)]);
    // Act
    const asked = c.ask({ ...ask, n: 4, prompt: "x".repeat(70_000) });
    // Assess
    await expect(asked).rejects.toMatchObject({ code: "prompt_too_large", param: "prompt", message: expect.stringContaining("262144") });
    expect(sent).not.toContain(API.prepareJob);
  });
});
