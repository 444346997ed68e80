/**
 * The in-process engine and reasoning models: node-llama-cpp hands a chat wrapper's thought
 * segments only to onResponseChunk (its onToken and onTextChunk see the answer alone), so
 * before, a reasoning GGUF's thinking was neither delivered nor billed nor bounded by the job's
 * budget: a one-token job could make the worker think for thousands of tokens unpaid. SegmentTally
 * is what the engine process does with each response chunk. Synthetic chunks, in the shapes
 * node-llama-cpp 3.21 documents (LlamaChatResponseChunk); no reasoning GGUF is at hand here.
 */
import { describe, expect, it } from "vitest";
import { beforeCall, FromWorker, heldText, SegmentTally } from "./llama-protocol";

/** A response chunk as onResponseChunk receives it: the answer's (no type) or a segment's. */
type Chunk = { type?: string; segmentType?: string; text: string; tokens: number[]; segmentEndTime?: Date };
const answer = (text: string, tokens: number): Chunk => ({ text, tokens: Array<number>(tokens).fill(1) });
const thought = (text: string, tokens: number): Chunk => ({
  type: "segment",
  segmentType: "thought",
  text,
  tokens: Array<number>(tokens).fill(1),
});
const comment = (text: string, tokens: number): Chunk => ({
  type: "segment",
  segmentType: "comment",
  text,
  tokens: Array<number>(tokens).fill(1),
});

/** Factory: a tally for a job of `maxTokens`, the answer's tokens counted as onToken does. */
function tally(maxTokens: number) {
  let answerTokens = 0;
  const streamed: string[] = [];
  let stops = 0;
  const t = new SegmentTally(
    maxTokens,
    () => answerTokens,
    (s) => streamed.push(s),
    () => stops++,
  );
  return {
    t,
    streamed,
    stops: () => stops,
    feed(c: Chunk) {
      if (c.type === undefined) answerTokens += c.tokens.length; // onToken, which comes with the answer's chunks
      t.chunk(c);
    },
  };
}

describe("SegmentTally: a reasoning model's thoughts in the in-process engine", () => {
  it("thought text is delivered as reasoning (streamed as it comes) and its tokens counted", () => {
    // Prepare
    const x = tally(100);
    // Act
    x.feed(thought("Let me ", 2));
    x.feed(thought("think.", 2));
    x.feed(answer("Yes.", 1));
    // Assess
    expect(x.t.reasoning).toBe("Let me think.");
    expect(x.streamed).toEqual(["Let me ", "think."]);
    expect(x.t.segmentTokens).toBe(4);
    expect(x.stops()).toBe(0);
    expect(x.t.exhausted).toBe(false);
  });

  it("other segments are counted (they were generated) but not delivered as reasoning", () => {
    const x = tally(100);
    x.feed(comment("note", 3));
    expect(x.t.segmentTokens).toBe(3);
    expect(x.t.reasoning).toBe("");
    expect(x.streamed).toEqual([]);
  });

  it("the generation is stopped once, when thoughts and answer together reach the budget", () => {
    // Prepare: a job of 5 tokens
    const x = tally(5);
    // Act
    x.feed(thought("a", 3));
    x.feed(answer("b", 1));
    const before = x.stops();
    x.feed(thought("c", 1));
    x.feed(thought("d", 1));
    // Assess
    expect(before).toBe(0);
    expect(x.stops()).toBe(1);
    expect(x.t.exhausted).toBe(true);
  });

  it("a model that never thinks: nothing counted, nothing streamed, the answer's own budget rules", () => {
    const x = tally(3);
    x.feed(answer("a", 1));
    x.feed(answer("b", 1));
    expect(x.t.segmentTokens).toBe(0);
    expect(x.t.reasoning).toBe("");
    expect(x.stops()).toBe(0);
  });
});

describe("SegmentTally: the thinking's own token count (usage.reasoningTokens)", () => {
  it("counts the thought segments' tokens alone: not the answer's, not other segments'", () => {
    // Prepare
    const x = tally(100);
    // Act
    x.feed(thought("Let me ", 2));
    x.feed(comment("note", 3));
    x.feed(thought("think.", 4));
    x.feed(answer("Yes.", 1));
    // Assess
    expect(x.t.thoughtTokens).toBe(6);
    expect(x.t.segmentTokens).toBe(9);
  });

  it("is 0 for a model that never thinks (an exact count, not an unknown one)", () => {
    // Prepare
    const x = tally(10);
    // Act
    x.feed(answer("a", 2));
    // Assess
    expect(x.t.thoughtTokens).toBe(0);
  });
});

describe("the engine process's result: reasoningTokens within the completion", () => {
  /** A "done" message of the worker protocol with this usage. */
  const done = (usage: Record<string, number>) => ({ t: "done", id: 1, result: { text: "a", usage, finishReason: "stop" } });

  it("takes a count up to the completion tokens, and a result without one (as before)", () => {
    // Act + Assess
    expect(FromWorker.safeParse(done({ promptTokens: 1, completionTokens: 5, reasoningTokens: 5 })).success).toBe(true);
    expect(FromWorker.safeParse(done({ promptTokens: 1, completionTokens: 5 })).success).toBe(true);
  });

  it("refuses a count above the completion tokens (a confused child: the agent stops trusting it)", () => {
    // Act
    const r = FromWorker.safeParse(done({ promptTokens: 1, completionTokens: 5, reasoningTokens: 6 }));
    // Assess
    expect(r.success).toBe(false);
  });
});

describe("heldText: what node-llama-cpp held back at the budget's end, from the sampled tokens' text", () => {
  it("is the sampled text past what was delivered, all of it where nothing was", () => {
    // Act + Assess
    expect(heldText("cocoon <", "cocoon ")).toBe("<");
    expect(heldText("<tool_call>", "")).toBe("<tool_call>");
    expect(heldText("{\n  ", "{\n  ")).toBe("");
  });

  it("skips the leading spaces and tabs a chat answer drops (up to 4), and only those", () => {
    // Act + Assess
    expect(heldText(" cocoon<", "cocoon")).toBe("<");
    expect(heldText("  \t<", "")).toBe("<");
    expect(heldText("     <", "")).toBe(" <");
    expect(heldText(" <", " ")).toBe("<");
  });

  it("guesses nothing where the delivered text is not how the sampled text begins", () => {
    // Act + Assess
    expect(heldText("<think>a</think>b<", "b")).toBeUndefined();
    expect(heldText("\nb<", "b")).toBeUndefined();
  });
});

describe("SegmentTally: the thought open at the budget's end, and what was held back in it", () => {
  /** A tally fed as the engine process feeds it: every chunk's tokens already sampled when it comes. */
  function sampledTally(maxTokens: number) {
    let sampled = 0;
    const streamed: string[] = [];
    const t: SegmentTally = new SegmentTally(
      maxTokens,
      (): number => sampled - t.segmentTokens,
      (s) => streamed.push(s),
      () => {},
    );
    return {
      t,
      streamed,
      feed(c: Chunk, newlySampled = c.tokens.length) {
        sampled += newlySampled;
        t.chunk(c);
      },
    };
  }
  const opened = (): Chunk => ({ type: "segment", segmentType: "thought", text: "", tokens: [] });
  const closed = (): Chunk => ({ ...opened(), segmentEndTime: new Date(0) });

  it("knows where the open thought's tokens begin (after the answer's and the opening's), and its text", () => {
    // Prepare
    const x = sampledTally(100);
    // Act: 2 answer tokens, 3 tokens of the model's own thought opening, then 2 thought tokens
    x.feed(answer("a ", 2));
    x.feed(opened(), 3);
    x.feed(thought("Let", 1));
    x.feed(thought(" me", 1));
    // Assess
    expect(x.t.openThought).toEqual({ from: 5, text: "Let me", tokens: 2 });
  });

  it("has none once the thought closed, and a new one when another opens", () => {
    // Prepare
    const x = sampledTally(100);
    // Act
    x.feed(opened());
    x.feed(thought("a", 1));
    x.feed(closed(), 2);
    const after = x.t.openThought;
    x.feed(answer("b", 1));
    x.feed(thought("c", 1)); // opened without a chunk of its own
    // Assess
    expect(after).toBeUndefined();
    expect(x.t.openThought).toEqual({ from: 4, text: "c", tokens: 1 });
  });

  it("delivers released text as the thought's last piece, its tokens counted as thinking", () => {
    // Prepare
    const x = sampledTally(100);
    x.feed(opened());
    x.feed(thought("a", 1));
    // Act
    x.t.release("\uFFFD\uFFFD", 2);
    // Assess
    expect([x.t.reasoning, x.streamed, x.t.thoughtTokens]).toEqual(["a\uFFFD\uFFFD", ["a", "\uFFFD\uFFFD"], 3]);
  });
});

describe("beforeCall: held text up to a call the budget cut before its name was whole", () => {
  const openings = ["<tool_call>", "[TOOL_CALLS]"];

  it("is the text before the first opening: none of the call", () => {
    // Act + Assess
    expect(beforeCall("\uFFFD<tool_call> get_w", openings)).toBe("\uFFFD");
    expect(beforeCall("<tool_call>", openings)).toBe("");
    expect(beforeCall("a [TOOL_CALLS]x<tool_call>", openings)).toBe("a ");
  });

  it("is all of it where no opening is whole in it (text that only could have begun one)", () => {
    // Act + Assess
    expect(beforeCall("<tool_", openings)).toBe("<tool_");
    expect(beforeCall("cocoon", openings)).toBe("cocoon");
    expect(beforeCall("<tool_call>", [])).toBe("<tool_call>");
  });
});
