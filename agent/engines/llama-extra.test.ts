/**
 * OpenAI's sampling fields that reach the embedded llama.cpp engine in `extra` (the proxy checks
 * and passes on logit_bias, frequency_penalty, presence_penalty and reasoning_effort as sent:
 * client/serve/schemas.ts). They were ignored: a greedy request with `logit_bias: {"7": 100}`
 * got the text of a request without it, a silently wrong answer. Now the engine applies each as
 * OpenAI does, or refuses it (engine_rejected: a 400 through the proxy). The tiny model's weights
 * are random and its logits near 0, so a bias of 100 dominates them and the penalties' arithmetic
 * shows in the counts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectStream, EngineError, type EngineCompletionRequest, type EngineRequest } from "./engine";
import { TINY_LLAMA, tinyLlama } from "./engine-testing";
import type { LlamaEngine } from "./llama";
import { tinyVocabulary } from "./tiny-gguf";

const MODEL = TINY_LLAMA;
let engine: LlamaEngine;

beforeAll(async () => {
  engine = await tinyLlama();
}, 60_000);

afterAll(async () => {
  await engine?.close();
});

const aCompletion = (over: Partial<EngineCompletionRequest> = {}): EngineCompletionRequest => ({
  model: MODEL,
  prompt: "hello world",
  maxTokens: 12,
  temperature: 0,
  ...over,
});

const aChat = (over: Partial<EngineRequest> = {}): EngineRequest => ({
  model: MODEL,
  messages: [{ role: "user", content: "hello world" }],
  maxTokens: 12,
  temperature: 0,
  ...over,
});

/** A piece's token id in the tiny vocabulary, as OpenAI's logit_bias keys it. */
const id = (piece: string) => {
  const i = tinyVocabulary().tokens.indexOf(piece);
  expect(i).toBeGreaterThan(2);
  return String(i);
};
const COCOON = () => id("▁cocoon");
const count = (text: string, word: string) => text.split(word).length - 1;

async function engineError(p: Promise<unknown>): Promise<EngineError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(EngineError);
  return e as EngineError;
}

describe("llama engine: logit_bias", () => {
  it("a bias of +100 on one token makes it every greedy token, in completions, streams and chat", async () => {
    // Arrange
    const force = { logit_bias: { [COCOON()]: 100 } };
    // Act
    const plain = await engine.complete(aCompletion());
    const byte = await engine.complete(aCompletion({ extra: { logit_bias: { "7": 100 } } }));
    const forced = await engine.complete(aCompletion({ extra: force }));
    const streamed = await collectStream(engine.streamCompletion(aCompletion({ extra: force })));
    const chat = await engine.generate(aChat({ extra: force }));
    // Assess
    expect(plain.text).not.toContain("\u0004");
    expect(byte.text).toBe("\u0004".repeat(12)); // token 7 is the byte piece <0x04>
    expect(forced.text.trim().split(" ")).toEqual(Array<string>(12).fill("cocoon"));
    expect(forced.usage.completionTokens).toBe(12);
    expect(streamed.deltas.join("")).toBe(forced.text);
    expect(streamed.result.text).toBe(forced.text);
    expect(chat.text.trim()).toMatch(/^cocoon( cocoon)*$/);
  });

  it("a bias of -100 bans a token: the greedy choice goes to the next likeliest", async () => {
    // Arrange: the plain greedy first token, as a piece of the vocabulary
    const first = (await engine.complete(aCompletion({ maxTokens: 1 }))).text;
    const banned = id(`▁${first.trim()}`);
    // Act
    const r = await engine.complete(aCompletion({ maxTokens: 1, extra: { logit_bias: { [banned]: -100 } } }));
    const small = await engine.complete(aCompletion({ maxTokens: 1, extra: { logit_bias: { [banned]: -1e-9 } } }));
    // Assess
    expect(r.text).not.toBe(first);
    expect(r.text.length).toBeGreaterThan(0);
    expect(small.text).toBe(first); // a bias is added to the logit, not a ban whatever its size
  });

  it("refuses a token id outside the vocabulary, an end-of-generation token and out-of-range values, naming logit_bias", async () => {
    // Arrange
    const vocab = tinyVocabulary().tokens.length;
    const imEnd = id("<|im_end|>");
    // Act
    const outside = await engineError(engine.complete(aCompletion({ extra: { logit_bias: { [String(vocab)]: 5 } } })));
    const huge = await engineError(engine.complete(aCompletion({ extra: { logit_bias: { "99999999999999999999999": 5 } } })));
    // as a 32-bit integer (how node-llama-cpp hands ids to llama.cpp) it would be token 7
    const wraps = await engineError(engine.complete(aCompletion({ extra: { logit_bias: { [String(2 ** 32 + 7)]: 100 } } })));
    const eos = await engineError(engine.complete(aCompletion({ extra: { logit_bias: { "2": -100 } } })));
    const eot = await engineError(engine.generate(aChat({ extra: { logit_bias: { [imEnd]: 100 } } })));
    const tooBig = await engineError(engine.complete(aCompletion({ extra: { logit_bias: { "7": 101 } } })));
    const word = await engineError(engine.generate(aChat({ extra: { logit_bias: { hello: 1 } } })));
    const notANumber = await engineError(engine.complete(aCompletion({ extra: { logit_bias: { "7": "100" } } })));
    const notAMap = await engineError(engine.complete(aCompletion({ extra: { logit_bias: [7] } })));
    // Assess
    for (const e of [outside, huge, wraps, tooBig, word, notANumber, notAMap]) {
      expect(e.code).toBe("invalid_request");
      expect(e.details?.param).toBe("logit_bias");
    }
    expect(outside.message).toContain(`outside this model's vocabulary (${vocab})`);
    for (const e of [eos, eot]) {
      expect(e.code).toBe("engine_rejected");
      expect(e.details?.param).toBe("logit_bias");
      expect(e.message).toMatch(/end-of-generation/);
    }
    // the engine still answers after the refusals
    expect((await engine.complete(aCompletion())).usage.completionTokens).toBe(12);
  });
});

describe("llama engine: frequency_penalty and presence_penalty", () => {
  it("frequency_penalty lowers a token by its count in the whole completion so far, presence_penalty once", async () => {
    // Arrange: cocoon's logit is 100 + (near 0); each earlier cocoon takes 2 off it with frequency_penalty 2
    const force = { logit_bias: { [COCOON()]: 100 } };
    // Act
    const frequency = await engine.complete(aCompletion({ maxTokens: 120, extra: { ...force, frequency_penalty: 2 } }));
    const presence = await engine.complete(aCompletion({ maxTokens: 60, extra: { ...force, presence_penalty: 2 } }));
    const negative = await engine.complete(aCompletion({ maxTokens: 60, extra: { ...force, frequency_penalty: -2 } }));
    // newlines count like any token (OpenAI makes no exception; node-llama-cpp does by default)
    const newlines = await engine.complete(
      aCompletion({ maxTokens: 120, extra: { logit_bias: { [id("<0x0A>")]: 100 }, frequency_penalty: 2 } }),
    );
    // Assess: it wins until 2k reaches 100, after 50, and never again: the count covers every
    // earlier token (a window of the last 64, node-llama-cpp's default, would let it back in)
    const n = count(frequency.text, "cocoon");
    expect(n).toBeGreaterThanOrEqual(49);
    expect(n).toBeLessThanOrEqual(51);
    expect(frequency.text.startsWith(Array<string>(n).fill("cocoon").join(" "))).toBe(true);
    expect(frequency.usage.completionTokens).toBe(120);
    expect(count(presence.text, "cocoon")).toBe(60);
    expect(count(negative.text, "cocoon")).toBe(60);
    expect(count(newlines.text, "\n")).toBeGreaterThanOrEqual(49);
    expect(count(newlines.text, "\n")).toBeLessThanOrEqual(51);
  });

  it("the penalties change the greedy text of chat, completions and streams; zero and null change nothing", async () => {
    // Act
    const plain = await engine.complete(aCompletion({ maxTokens: 24 }));
    const presence = await engine.complete(aCompletion({ maxTokens: 24, extra: { presence_penalty: 2 } }));
    const streamed = await collectStream(engine.streamCompletion(aCompletion({ maxTokens: 24, extra: { presence_penalty: 2 } })));
    const zero = await engine.complete(aCompletion({ maxTokens: 24, extra: { presence_penalty: 0, frequency_penalty: 0 } }));
    const nulls = await engine.complete(
      aCompletion({ maxTokens: 24, extra: { presence_penalty: null, frequency_penalty: null, logit_bias: null, reasoning_effort: null } }),
    );
    const chatForced = await engine.generate(aChat({ maxTokens: 80, extra: { logit_bias: { [COCOON()]: 100 }, frequency_penalty: 2 } }));
    // Assess
    expect(presence.text).not.toBe(plain.text);
    expect(streamed.result.text).toBe(presence.text);
    expect(zero.text).toBe(plain.text);
    expect(nulls.text).toBe(plain.text);
    expect(count(chatForced.text, "cocoon")).toBeLessThanOrEqual(51);
    expect(count(chatForced.text, "cocoon")).toBeGreaterThan(0);
  });

  it("refuses a penalty outside OpenAI's -2..2, naming it", async () => {
    // Act
    const frequency = await engineError(engine.complete(aCompletion({ extra: { frequency_penalty: 2.5 } })));
    const presence = await engineError(engine.generate(aChat({ extra: { presence_penalty: "1" } })));
    // Assess
    expect([frequency.code, frequency.details?.param]).toEqual(["invalid_request", "frequency_penalty"]);
    expect([presence.code, presence.details?.param]).toEqual(["invalid_request", "presence_penalty"]);
  });
});

describe("llama engine: reasoning_effort", () => {
  it("is refused (engine_rejected): llama.cpp has no effort setting to honour", async () => {
    // Act
    const chat = await engineError(engine.generate(aChat({ extra: { reasoning_effort: "low" } })));
    // stream() refuses as it is called, as it does any request it cannot run
    const stream = await engineError((async () => collectStream(engine.stream(aChat({ extra: { reasoning_effort: "high" } }))))());
    const completion = await engineError(engine.complete(aCompletion({ extra: { reasoning_effort: "none" } })));
    // Assess
    for (const e of [chat, stream, completion]) {
      expect(e.code).toBe("engine_rejected");
      expect(e.details?.param).toBe("reasoning_effort");
    }
  });
});
