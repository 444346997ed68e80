import { describe, expect, it } from "vitest";
import {
  BUILTIN_ENGINE_NAME,
  builtinAnswer,
  builtinCountTokens,
  builtinTokenize,
  createBuiltinEngine,
  createNullEngine,
  NULL_ENGINE_NAME,
  tokenDeltas,
  truncateToTokens,
} from "./builtin";
import { collectStream, EngineError, type EngineRequest, streamOf } from "./engine";

const aRequest = (over: Partial<EngineRequest> = {}): EngineRequest => ({
  model: "cocoon-builtin-echo",
  messages: [
    { role: "system", content: "You are terse." },
    { role: "user", content: "What is the capital of France?" },
  ],
  maxTokens: 256,
  ...over,
});

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(EngineError);
    return (err as EngineError).code;
  }
  return undefined;
}

describe("builtin tokenizer", () => {
  it("splits words and single punctuation characters", () => {
    // Act
    const tokens = builtinTokenize("Hello, world! It's 42.");
    // Assess
    expect(tokens).toEqual(["Hello", ",", "world", "!", "It", "'", "s", "42", "."]);
  });

  it("counts nothing in blank text", () => {
    expect(builtinCountTokens(" \n\t ")).toBe(0);
  });

  it("truncates after N tokens keeping the original spacing", () => {
    // Act
    const cut = truncateToTokens("one two, three four", 3);
    // Assess
    expect(cut).toEqual({ text: "one two,", tokens: 3, truncated: true });
    expect(truncateToTokens("one two", 2)).toEqual({ text: "one two", tokens: 2, truncated: false });
  });
});

describe("createBuiltinEngine", () => {
  it("names itself as not a real model and answers so", async () => {
    // Prepare
    const engine = createBuiltinEngine();
    // Act
    const result = await engine.generate(aRequest());
    // Assess
    expect(engine.name).toBe("builtin-deterministic (not a real model)");
    expect(result.engine).toBe(BUILTIN_ENGINE_NAME);
    expect(result.text).toMatch(
      /^\[builtin engine — not a real model\] You said: What is the capital of France\?\. Word count: 6\. SHA-256: [0-9a-f]{12}\.$/,
    );
    expect(result.finishReason).toBe("stop");
  });

  it("is deterministic: same prompt, same answer and usage; other prompt, other digest", async () => {
    // Prepare
    const engine = createBuiltinEngine();
    // Act
    const a = await engine.generate(aRequest());
    const b = await createBuiltinEngine().generate(aRequest());
    const c = await engine.generate(aRequest({ messages: [{ role: "user", content: "What is the capital of Spain?" }] }));
    // Assess
    expect(b).toEqual(a);
    expect(c.text.slice(-15)).not.toBe(a.text.slice(-15));
  });

  it("counts usage with its own tokenizer for prompt and completion", async () => {
    // Prepare
    const engine = createBuiltinEngine();
    const req = aRequest();
    // Act
    const result = await engine.generate(req);
    // Assess: "You are terse." = 4, "What is the capital of France?" = 7
    expect(result.usage.promptTokens).toBe(11);
    expect(result.usage.completionTokens).toBe(builtinCountTokens(result.text));
    expect(result.text).toBe(builtinAnswer(req.messages));
  });

  it("truncates to maxTokens and reports finishReason length", async () => {
    // Prepare
    const engine = createBuiltinEngine();
    // Act
    const result = await engine.generate(aRequest({ maxTokens: 5 }));
    // Assess: "[" "builtin" "engine" "—" "not"
    expect(result.text).toBe("[builtin engine — not");
    expect(result.usage.completionTokens).toBe(5);
    expect(result.finishReason).toBe("length");
  });

  it("ends before the first stop string, as OpenAI does, and bills only the text it returned", async () => {
    // Prepare: the answer is "[builtin engine — not a real model] You said: What is … Word count: 6. …"
    const engine = createBuiltinEngine();
    // Act
    const earliest = await engine.generate(aRequest({ stop: ["Word", "You"] }));
    const inWord = await engine.generate(aRequest({ stop: ["ilt"] }));
    const absent = await engine.generate(aRequest({ stop: ["Paris"] }));
    // Assess: the earliest stop string wins, whatever its place in the list; the stop text is left out
    expect(earliest).toMatchObject({ text: "[builtin engine — not a real model] ", finishReason: "stop" });
    expect(earliest.usage.completionTokens).toBe(9); // "[" "builtin" "engine" "—" "not" "a" "real" "model" "]"
    // a stop string inside a token cuts that token: what is left of it is the last one billed
    expect(inWord).toMatchObject({ text: "[bu", usage: { completionTokens: 2 }, finishReason: "stop" });
    expect(absent).toEqual(await engine.generate(aRequest()));
  });

  it("a stop string past max_tokens was never generated: the answer ends for length", async () => {
    // Prepare
    const engine = createBuiltinEngine();
    // Act: "You" is the 10th token; "real" the 7th
    const cut = await engine.generate(aRequest({ maxTokens: 5, stop: ["You"] }));
    const stopped = await engine.generate(aRequest({ maxTokens: 10, stop: ["real"] }));
    // Assess
    expect(cut).toMatchObject({ text: "[builtin engine — not", usage: { completionTokens: 5 }, finishReason: "length" });
    expect(stopped).toMatchObject({ text: "[builtin engine — not a ", usage: { completionTokens: 6 }, finishReason: "stop" });
  });

  it("quotes at most 200 characters of a long message", async () => {
    // Prepare
    const long = "word ".repeat(100).trim();
    // Act
    const result = await createBuiltinEngine().generate(aRequest({ messages: [{ role: "user", content: long }], maxTokens: 10_000 }));
    // Assess
    expect(result.text).toContain(`You said: ${long.slice(0, 200)}…. Word count: 100.`);
  });

  it("lists and enforces its configured models", async () => {
    // Prepare
    const engine = createBuiltinEngine({ models: ["a", "b"] });
    // Act + Assess
    expect(await engine.models()).toEqual(["a", "b"]);
    expect(await codeOf(engine.generate(aRequest({ model: "cocoon-builtin-echo" })))).toBe("model_not_served");
  });

  it("refuses a non-positive maxTokens", async () => {
    expect(await codeOf(createBuiltinEngine().generate(aRequest({ maxTokens: 0 })))).toBe("invalid_request");
    expect(await codeOf(createBuiltinEngine().generate(aRequest({ maxTokens: 1.5 })))).toBe("invalid_request");
  });

  it("stops a slow generation when the signal fires", async () => {
    // Prepare
    const engine = createBuiltinEngine({ delayMsPerToken: 60_000 });
    const ctl = new AbortController();
    // Act
    const pending = codeOf(engine.generate(aRequest({ signal: ctl.signal })));
    ctl.abort();
    // Assess
    expect(await pending).toBe("engine_aborted");
  });

  it("refuses an already aborted signal", async () => {
    expect(await codeOf(createBuiltinEngine().generate(aRequest({ signal: AbortSignal.abort() })))).toBe("engine_aborted");
  });
});

describe("builtin engine streaming", () => {
  it("streams one delta per token; the deltas make up exactly the generated answer and usage", async () => {
    // Prepare
    const engine = createBuiltinEngine();
    // Act
    const whole = await engine.generate(aRequest({ maxTokens: 9 }));
    const streamed = await collectStream(engine.stream!(aRequest({ maxTokens: 9 })));
    // Assess
    expect(streamed.deltas).toHaveLength(9);
    expect(streamed.deltas.join("")).toBe(whole.text);
    expect(streamed.result).toEqual(whole);
  });

  it("streams the answer up to the stop string, as generate gives it", async () => {
    // Prepare
    const engine = createBuiltinEngine();
    const req = () => aRequest({ stop: ["You"] });
    // Act
    const whole = await engine.generate(req());
    const streamed = await collectStream(engine.stream!(req()));
    // Assess
    expect(streamed.deltas.join("")).toBe("[builtin engine — not a real model] ");
    expect(streamed.deltas).toHaveLength(9);
    expect(streamed.result).toEqual(whole);
    expect(whole.finishReason).toBe("stop");
  });

  it("cuts text into deltas that keep every space", () => {
    expect(tokenDeltas("one  two, three ")).toEqual(["one", "  two", ",", " three "]);
    expect(tokenDeltas("  ")).toEqual(["  "]);
    expect(tokenDeltas("")).toEqual([]);
  });

  it("paces deltas by delayMsPerToken: aborting after the first delta stops the rest", async () => {
    // Prepare
    const engine = createBuiltinEngine({ delayMsPerToken: 5 });
    const ctl = new AbortController();
    const seen: string[] = [];
    // Act
    const code = await codeOf(
      (async () => {
        for await (const ev of engine.stream!(aRequest({ signal: ctl.signal }))) {
          if (ev.type === "delta") {
            seen.push(ev.text);
            ctl.abort();
          }
        }
      })(),
    );
    // Assess
    expect(code).toBe("engine_aborted");
    expect(seen).toEqual(["["]);
  });

  it("streamOf gives engines without stream() one delta and the result", async () => {
    // Prepare
    const engine = createNullEngine();
    const oneShot = {
      name: "one-shot",
      models: engine.models,
      generate: async () => ({
        text: "hi there",
        usage: { promptTokens: 1, completionTokens: 2 },
        finishReason: "stop" as const,
        engine: "one-shot",
      }),
    };
    // Act
    const s = await collectStream(streamOf(oneShot, aRequest()));
    // Assess
    expect(s.deltas).toEqual(["hi there"]);
    expect(s.result.usage).toEqual({ promptTokens: 1, completionTokens: 2 });
  });
});

describe("createNullEngine", () => {
  it("answers empty text with usage {1,1} and a simulated name", async () => {
    // Prepare
    const engine = createNullEngine();
    // Act
    const result = await engine.generate(aRequest({ model: "cocoon-null" }));
    // Assess
    expect(engine.name).toBe(NULL_ENGINE_NAME);
    expect(engine.name).toMatch(/simulated/);
    expect(result).toEqual({ text: "", usage: { promptTokens: 1, completionTokens: 1 }, finishReason: "stop", engine: NULL_ENGINE_NAME });
  });

  it("refuses models it does not serve", async () => {
    expect(await codeOf(createNullEngine().generate(aRequest()))).toBe("model_not_served");
  });
});
