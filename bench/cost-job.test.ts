import { describe, expect, it } from "vitest";
import { collectStream, EngineError } from "../agent/engines/engine";
import { filler, measuredMessages, promptBytesOf, sizedEngine } from "./cost-job";

const ask = (maxTokens: number, model = "m") => ({ model, maxTokens, messages: measuredMessages(1000) });

describe("issue 12, cost honesty: the measured job's request and engine", () => {
  it("a prompt of n bytes: a system message, an earlier exchange and the new question, their texts n bytes together", () => {
    // Act
    const messages = measuredMessages(2500);
    // Assess
    expect(messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "user"]);
    expect(promptBytesOf(messages)).toBe(2500);
    expect(() => measuredMessages(900)).toThrow(/smaller than its system message/);
    expect(Buffer.byteLength(filler(777))).toBe(777);
  });

  it("the sized engine answers its size, streamed a chunk's worth at a time, the deltas making the answer; generate answers the same", async () => {
    // Prepare
    const engine = sizedEngine({ answerBytes: 1000, chunkBytes: 300, models: ["m"] });
    // Act
    const { result, deltas } = await collectStream(engine.stream!(ask(1024)));
    const whole = await engine.generate(ask(1024));
    // Assess
    expect(deltas.map((d) => d.length)).toEqual([300, 300, 300, 100]);
    expect(deltas.join("")).toBe(result.text);
    expect(Buffer.byteLength(result.text)).toBe(1000);
    expect(result).toMatchObject({ finishReason: "stop", usage: { completionTokens: 250, promptTokens: 250 } });
    expect(whole).toEqual(result);
  });

  it("never answers past the request's maxTokens (then finishes for length), nor a model it does not serve", async () => {
    // Prepare
    const engine = sizedEngine({ answerBytes: 1000, chunkBytes: 300, models: ["m"] });
    // Act
    const cut = await engine.generate(ask(100));
    // Assess
    expect(Buffer.byteLength(cut.text)).toBe(400);
    expect(cut).toMatchObject({ finishReason: "length", usage: { completionTokens: 100 } });
    await expect(engine.generate(ask(100, "other"))).rejects.toBeInstanceOf(EngineError);
  });
});
