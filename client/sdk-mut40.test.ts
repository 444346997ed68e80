/**
 * mut40: the hand mutants of session 40's SDK checks (candidatesForKind, promptTooLarge, the
 * size checks of requestPlaintextOf and embed) that client/sdk-walk40.test.ts let live: the
 * chat hint only on a plain completion, the kept quote's place given back on model_unsupported,
 * the fresh-attestation path filtered too, the size bound's exact edge (with the relayWhole flag
 * the sealed request carries, in UTF-8 bytes) and what the refusal names.
 * The coordinator is stubbed at ApiClient.request: nothing leaves the process.
 */
import { describe, expect, it } from "vitest";
import { API, ApiError } from "../api-client/api";
import type { ApiRoute } from "../api-client/routes";
import { attestationDigest } from "../core/attestation/digest";
import { generateSigningKey } from "../core/crypto/keys";
import type { Candidate, ModelCapabilities } from "../events/api";
import { MAX_ENVELOPE_BYTES } from "../events/envelope";
import { caps } from "../test/fixtures/serve-proxy";
import { prepared } from "./sdk-cancel-testing";
import { devCandidate, MODEL, T0 } from "./sdk-stub-testing";
import { AskInputError, CocoonClient, MAX_SEALED_TEXT_BYTES, requestPlaintextOf } from "./sdk";

/** An offer of chat (and streaming) only: no plain completions. */
const CHAT_ONLY = caps();
const ALL = caps({ completions: true, embeddings: true });

/** Factory: a dev candidate offering `offer`. */
const candidate = (offer: ModelCapabilities): Candidate => ({ ...devCandidate(), capabilities: offer });

/** Factory: a client whose coordinator prepares `cands` and refuses every submit (402: nothing held); `sent` lists the routes asked. */
function rig(cands: Candidate[]) {
  const key = generateSigningKey();
  const c = new CocoonClient({ apiUrl: "http://127.0.0.1:9", key, allowDev: true, now: () => T0 });
  const sent: ApiRoute[] = [];
  c.api.request = (async (route: ApiRoute) => {
    sent.push(route);
    if (route === API.relaySession) throw new ApiError(404, "not_found", "no relay");
    if (route === API.prepareJob) return prepared(key.id, cands);
    if (route === API.submitJob) throw new ApiError(402, "insufficient_funds", "no");
    throw new Error(`stub: no answer for ${route.path}`);
  }) as typeof c.api.request;
  return { c, sent };
}

const ask = { model: MODEL, tiers: ["dev" as const], maxTokens: 16 };

/** The error `p` rejects with (the test fails if it resolves). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
}

/** The error `act` throws. */
function thrown(act: () => unknown): unknown {
  try {
    act();
  } catch (e) {
    return e;
  }
  throw new Error("expected a throw");
}

describe("mut40: candidatesForKind in the ask paths", () => {
  it("embeddings no candidate does: model_unsupported without the chat hint (that is for a plain completion only)", async () => {
    // Prepare
    const { c } = rig([candidate(CHAT_ONLY)]);
    // Act
    const e = await rejection(c.embed({ ...ask, input: "hello" }));
    // Assess
    expect(e).toMatchObject({ code: "model_unsupported", param: "input" });
    expect((e as Error).message).toBe(`model "${MODEL}": no candidate's engine does embeddings`);
  });

  it("a refused plain completion gives its place in the kept quote back: the chat after it uses that quote, no second prepare", async () => {
    // Prepare: one chat-only candidate (capacity 1: the kept quote carries one job at a time)
    const { c, sent } = rig([candidate(CHAT_ONLY)]);
    await expect(c.ask({ ...ask, prompt: "Once upon a time" })).rejects.toMatchObject({ code: "model_unsupported" });
    // Act
    const chat = c.ask({ ...ask, messages: [{ role: "user", content: "hi" }] });
    // Assess
    await expect(chat).rejects.toMatchObject({ code: "insufficient_funds" });
    expect(sent.filter((r) => r === API.prepareJob)).toHaveLength(1);
  });

  it("with freshAttestation too: model_unsupported before any candidate is challenged, nothing submitted", async () => {
    // Prepare
    const { c, sent } = rig([candidate(CHAT_ONLY)]);
    // Act
    const e = await rejection(c.ask({ ...ask, prompt: "Once upon a time", freshAttestation: true }));
    // Assess
    expect(e).toBeInstanceOf(AskInputError);
    expect(e).toMatchObject({ code: "model_unsupported", param: "prompt" });
    expect(sent.filter((r) => r !== API.relaySession)).toEqual([API.prepareJob]);
  });
});

describe("mut40: capabilities on a renewed quote's held candidates", () => {
  it("a candidate the prepare names by digest (its document held) keeps its offer's capabilities: a plain completion is still refused", async () => {
    // Prepare: a chat kept its quote; a minute and more later the quote has run out, and the
    // renewing prepare names the chat-only candidate by digest (we hold its document)
    let now = T0;
    const key = generateSigningKey();
    const c = new CocoonClient({ apiUrl: "http://127.0.0.1:9", key, allowDev: true, now: () => now });
    const x = candidate(CHAT_ONLY);
    const sent: Array<{ route: ApiRoute; body: unknown }> = [];
    c.api.request = (async (route: ApiRoute, o: { body?: unknown } = {}) => {
      sent.push({ route, body: o.body });
      if (route === API.relaySession) throw new ApiError(404, "not_found", "no relay");
      if (route === API.submitJob) throw new ApiError(402, "insufficient_funds", "no");
      if (route !== API.prepareJob) throw new Error(`stub: no answer for ${route.path}`);
      const p = prepared(key.id, [x]);
      if (now === T0) return p;
      const { attestation, ...rest } = x;
      const quote = { ...p.quote, expiresAt: now + 60_000 };
      return { ...p, quote, quoteExpiresAt: quote.expiresAt, candidates: [{ ...rest, attestationDigest: attestationDigest(attestation) }] };
    }) as typeof c.api.request;
    await expect(c.ask({ ...ask, messages: [{ role: "user", content: "hi" }] })).rejects.toMatchObject({ code: "insufficient_funds" });
    now = T0 + 61_000;
    // Act
    const e = await rejection(c.ask({ ...ask, prompt: "Once upon a time" }));
    // Assess: the renewal named the held document, and the candidate it came back as kept its capabilities
    const prepares = sent.filter((s) => s.route === API.prepareJob);
    expect(prepares).toHaveLength(2);
    expect(prepares[1]!.body).toMatchObject({ held: [{ workerId: x.workerId }] });
    expect(e).toMatchObject({ code: "model_unsupported", param: "prompt" });
    expect(sent.filter((s) => s.route === API.submitJob)).toHaveLength(1);
  });
});

describe("mut40: the sealed size bound at its edge", () => {
  /** The bytes requestPlaintextOf measures for a prompt of `prompt`: its request JSON with the relayWhole flag sealing adds. */
  const measured = (prompt: string) =>
    Buffer.byteLength(JSON.stringify({ ...requestPlaintextOf({ model: MODEL, prompt: "x" }, false), relayWhole: true })) -
    1 +
    Buffer.byteLength(prompt);

  it(`a request of exactly MAX_SEALED_TEXT_BYTES (${MAX_SEALED_TEXT_BYTES}) is taken; one byte more is prompt_too_large, naming both limits`, () => {
    // Prepare
    const fits = "x".repeat(MAX_SEALED_TEXT_BYTES - measured(""));
    // Act
    const taken = requestPlaintextOf({ model: MODEL, prompt: fits }, false);
    const e = thrown(() => requestPlaintextOf({ model: MODEL, prompt: fits + "x" }, false));
    // Assess
    expect(measured(fits)).toBe(MAX_SEALED_TEXT_BYTES);
    expect(taken.prompt).toBe(fits);
    expect(e).toBeInstanceOf(AskInputError);
    expect(e).toMatchObject({ code: "prompt_too_large", param: "prompt" });
    // sealedSizeBound(MAX_SEALED_TEXT_BYTES + 1) = ceil((150529 + 16) × 4 / 3) + 4096: two bytes past the cap
    expect((e as Error).message).toBe(
      `the prompt would seal to up to ${MAX_ENVELOPE_BYTES + 2} bytes, past the network's cap of ${MAX_ENVELOPE_BYTES} bytes a request ` +
        `(about ${MAX_SEALED_TEXT_BYTES} bytes of request text): shorten it`,
    );
  });

  it("counted in UTF-8 bytes: 80,000 'é' (160,000 bytes) are too large for one job, in a prompt and in embedding inputs", async () => {
    // Prepare
    const { c, sent } = rig([candidate(ALL)]);
    const text = "é".repeat(80_000);
    // Act
    const asked = thrown(() => requestPlaintextOf({ model: MODEL, prompt: text }, false));
    const embedded = await rejection(c.embed({ ...ask, input: text }));
    // Assess
    expect(asked).toMatchObject({ code: "prompt_too_large", param: "prompt" });
    expect(embedded).toMatchObject({ code: "prompt_too_large", param: "input" });
    expect(sent.filter((r) => r !== API.relaySession)).toEqual([]);
  });

  it("embedding inputs at the edge: the largest taken seals to the cap exactly, the next is refused two bytes past it", async () => {
    // Prepare: the embedding request's JSON is {"kind":"embedding","input":[…]} (one string is sent as a list of one)
    const { c, sent } = rig([candidate(ALL)]);
    const overhead = Buffer.byteLength(JSON.stringify({ kind: "embedding", input: [""] }));
    const fits = "x".repeat(MAX_SEALED_TEXT_BYTES - overhead);
    // Act
    const taken = await rejection(c.embed({ ...ask, input: fits }));
    const refused = await rejection(c.embed({ ...ask, input: fits + "x" }));
    // Assess: the one that fits went on to the submit (refused there for funds)
    expect(taken).toMatchObject({ code: "insufficient_funds" });
    expect(sent).toContain(API.submitJob);
    expect(refused).toMatchObject({ code: "prompt_too_large", param: "input" });
    expect((refused as Error).message).toMatch(`would seal to up to ${MAX_ENVELOPE_BYTES + 2} bytes`);
  });
});
