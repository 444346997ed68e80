/**
 * Session 41 (helper sdk41), the SDK's hot path: a kept quote whose candidates all lack the
 * capability a job needs is given up for one fresh quote before the job is refused
 * (model_unsupported only when the fresh candidates lack it too), and a request is serialised
 * once, by the size check before a quote, and those bytes sealed (also when the job is
 * prepared again). The coordinator is stubbed at ApiClient.request: nothing leaves the process.
 */
import { describe, expect, it } from "vitest";
import { API, ApiError } from "../api-client/api";
import type { ApiRoute } from "../api-client/routes";
import { generateSigningKey } from "../core/crypto/keys";
import type { Candidate, ModelCapabilities, SubmitRequest } from "../events/api";
import { caps } from "../test/fixtures/serve-proxy";
import { prepared } from "./sdk-cancel-testing";
import { devCandidate, MODEL, T0 } from "./sdk-stub-testing";
import { CocoonClient, MAX_SEALED_TEXT_BYTES, sealableRequestOf, type ChatMessage } from "./sdk";

/** An offer of chat (and streaming) only; one of everything. */
const CHAT_ONLY = caps();
const ALL = caps({ completions: true, embeddings: true });

/** Factory: a dev candidate offering `offer`. */
const candidate = (offer: ModelCapabilities): Candidate => ({ ...devCandidate(), capabilities: offer });

/**
 * Factory: a client whose coordinator answers its n-th prepare with `prepares[n]` (the last one
 * again after that) and each submit with `submits[n]`'s refusal (the last one again after that:
 * 402 by default, nothing held). `sent` lists the routes asked, `submitted` each submit's body.
 */
function rig(prepares: Candidate[][], submits: ApiError[] = []) {
  const key = generateSigningKey();
  const c = new CocoonClient({ apiUrl: "http://127.0.0.1:9", key, allowDev: true, now: () => T0 });
  const sent: ApiRoute[] = [];
  const submitted: SubmitRequest[] = [];
  let prepare = 0;
  c.api.request = (async (route: ApiRoute, o: { body?: unknown } = {}) => {
    sent.push(route);
    if (route === API.relaySession) throw new ApiError(404, "not_found", "no relay");
    if (route === API.prepareJob) return prepared(key.id, prepares[Math.min(prepare++, prepares.length - 1)]!);
    if (route === API.submitJob) {
      submitted.push(o.body as SubmitRequest);
      throw submits[Math.min(submitted.length - 1, submits.length - 1)] ?? new ApiError(402, "insufficient_funds", "no");
    }
    throw new Error(`stub: no answer for ${route.path}`);
  }) as typeof c.api.request;
  return { c, sent, submitted };
}

const ask = { model: MODEL, tiers: ["dev" as const], maxTokens: 16 };
const chat = { ...ask, messages: [{ role: "user" as const, content: "hi" }] };

describe("session 41: a kept quote whose candidates lack the job's capability", () => {
  it("is given up for one fresh quote: the plain completion is sealed to the fresh quote's capable candidate and submitted", async () => {
    // Prepare: a chat keeps a quote of one chat-only candidate; the next prepare picks a capable one
    const chatOnly = candidate(CHAT_ONLY);
    const able = candidate(ALL);
    const { c, sent, submitted } = rig([[chatOnly], [able]]);
    await expect(c.ask(chat)).rejects.toMatchObject({ code: "insufficient_funds" });
    // Act
    const completion = c.ask({ ...ask, prompt: "Once upon a time" });
    // Assess: one fresh prepare, and the completion went out sealed to the capable candidate only
    await expect(completion).rejects.toMatchObject({ code: "insufficient_funds" });
    expect(sent.filter((r) => r === API.prepareJob)).toHaveLength(2);
    expect(submitted).toHaveLength(2);
    expect(submitted[1]!.envelope.keys.map((k) => k.workerId)).toEqual([able.workerId]);
    expect(submitted[1]!.quote.candidates.map((x) => x.workerId)).toEqual([able.workerId]);
  });

  it("the fresh quote's candidates lack it too: model_unsupported after that one prepare, nothing submitted", async () => {
    // Prepare: every prepare picks chat-only candidates
    const { c, sent, submitted } = rig([[candidate(CHAT_ONLY)], [candidate(CHAT_ONLY), candidate(CHAT_ONLY)]]);
    await expect(c.ask(chat)).rejects.toMatchObject({ code: "insufficient_funds" });
    // Act
    const completion = c.ask({ ...ask, prompt: "Once upon a time" });
    // Assess: refused after exactly one fresh prepare (no loop), and only the chat was submitted
    await expect(completion).rejects.toMatchObject({ code: "model_unsupported", param: "prompt" });
    expect(sent.filter((r) => r === API.prepareJob)).toHaveLength(2);
    expect(submitted).toHaveLength(1);
  });

  it("the fresh quote is kept: the chat after the completion uses it, no third prepare", async () => {
    // Prepare
    const able = candidate(ALL);
    const { c, sent, submitted } = rig([[candidate(CHAT_ONLY)], [able]]);
    await expect(c.ask(chat)).rejects.toMatchObject({ code: "insufficient_funds" });
    await expect(c.ask({ ...ask, prompt: "Once upon a time" })).rejects.toMatchObject({ code: "insufficient_funds" });
    // Act
    await expect(c.ask(chat)).rejects.toMatchObject({ code: "insufficient_funds" });
    // Assess
    expect(sent.filter((r) => r === API.prepareJob)).toHaveLength(2);
    expect(submitted[2]!.envelope.keys.map((k) => k.workerId)).toEqual([able.workerId]);
  });
});

describe("session 41: a request is serialised once", () => {
  /** A chat message that counts how often it is serialised (JSON.stringify calls toJSON; zod and the token bound do not). */
  function counted(content: string): { message: ChatMessage; times: () => number } {
    let n = 0;
    const message: ChatMessage = { role: "user", content };
    Object.defineProperty(message, "toJSON", {
      enumerable: false,
      value: () => {
        n++;
        return { role: "user", content };
      },
    });
    return { message, times: () => n };
  }

  it("ask(): the size check's JSON is the JSON sealed, not serialised again for the seal", async () => {
    // Prepare
    const { message, times } = counted("a prompt measured once");
    const { c, submitted } = rig([[candidate(ALL)]]);
    // Act
    await expect(c.ask({ ...ask, messages: [message] })).rejects.toMatchObject({ code: "insufficient_funds" });
    // Assess
    expect(submitted).toHaveLength(1);
    expect(times()).toBe(1);
  });

  it("a job prepared again (its kept quote refused at submit) seals the same bytes without serialising them again", async () => {
    // Prepare: the first submit's quote is refused (nothing held): the job is prepared again under a fresh quote
    const { message, times } = counted("a prompt sealed twice, serialised once");
    const { c, sent, submitted } = rig(
      [[candidate(ALL)]],
      [new ApiError(409, "quote_expired", "expired"), new ApiError(402, "insufficient_funds", "no")],
    );
    // Act
    await expect(c.ask({ ...ask, messages: [message] })).rejects.toMatchObject({ code: "insufficient_funds" });
    // Assess
    expect(sent.filter((r) => r === API.prepareJob)).toHaveLength(2);
    expect(submitted).toHaveLength(2);
    expect(times()).toBe(1);
  });

  it("the bytes handed to the seal are the plaintext's JSON; with relayWhole set or not, a stream's prompt at the edge is taken alike, one byte more refused alike", () => {
    // Prepare: the largest stream prompt the bound takes (measured with the relayWhole flag, set or not)
    const head = Buffer.byteLength(JSON.stringify({ kind: "completion", prompt: "", stream: true, relayWhole: true }));
    const fits = "x".repeat(MAX_SEALED_TEXT_BYTES - head);
    const sealable = (prompt: string, whole: boolean) => () => sealableRequestOf({ model: MODEL, prompt }, true, whole);
    // Act
    const streamed = sealable(fits, false)();
    const whole = sealable(fits, true)();
    // Assess
    expect(new TextDecoder().decode(streamed.json)).toBe(JSON.stringify(streamed.plaintext));
    expect(new TextDecoder().decode(whole.json)).toBe(JSON.stringify({ ...streamed.plaintext, relayWhole: true }));
    expect(whole.json.length).toBe(MAX_SEALED_TEXT_BYTES);
    expect(sealable(fits + "x", false)).toThrow(expect.objectContaining({ code: "prompt_too_large" }));
    expect(sealable(fits + "x", true)).toThrow(expect.objectContaining({ code: "prompt_too_large" }));
  });
});
