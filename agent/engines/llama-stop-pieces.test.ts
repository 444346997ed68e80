/**
 * Review (session 29 of session 28's item 5): the agent stopped a streamed choice at the first piece past its share
 * of maxTokens, on the premise that "every piece is at least one token". The embedded engine's
 * stop-string handling (llama-worker.ts TextSink) breaks it: a tail that could still begin a stop
 * string is held back, and when the generation then ends at max_tokens, finish() streams the held
 * tail as one more delta. N tokens, N + 1 pieces: an honest worker's job, within its hold, is failed
 * limits_exceeded after the requester has read the text (refunded: free inference), and a requester
 * can make it likely with stop strings such as "e\u0007" (any answer whose last token ends in "e").
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJobOn } from "../job-testing";
import { collectStream, type EngineCompletionRequest } from "./engine";
import { TINY_LLAMA, tinyLlama } from "./engine-testing";
import type { LlamaEngine } from "./llama";

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
  maxTokens: 8,
  temperature: 0,
  ...over,
});

/** A greedy answer cut by max_tokens whose last token streams as a piece of 2+ characters, and a stop string for it. */
async function stopSplittingTheLastToken() {
  let found: { prompt: string; maxTokens: number; last: string } | undefined;
  for (const prompt of ["hello world", "the answer is", "once upon a time", "a b c"])
    for (const maxTokens of [6, 8, 10, 12]) {
      const s = await collectStream(engine.streamCompletion!(aCompletion({ prompt, maxTokens })));
      const last = s.deltas.at(-1) ?? "";
      if (!found && s.result.finishReason === "length" && last.length >= 2) found = { prompt, maxTokens, last };
    }
  expect(found, "a greedy answer ending in a token of 2+ characters").toBeDefined();
  const { prompt, maxTokens, last } = found!;
  // a stop string the text never holds, whose beginning is the end of that last token
  return { prompt, maxTokens, stop: last.slice(1) + "\u0007" };
}

describe("the embedded engine's stream under a stop string, ended at max_tokens", () => {
  it("streams at most one text piece more than the tokens it generated: the held tail, at the end", async () => {
    // Prepare
    const { prompt, maxTokens, stop } = await stopSplittingTheLastToken();

    // Act
    const s = await collectStream(engine.streamCompletion!(aCompletion({ prompt, maxTokens, stop: [stop] })));

    // Assess: N tokens, N + 1 pieces (the agent keeps the first piece past a share back until the end's count)
    const pieces = s.deltas.filter((d) => d !== "").length;
    expect(s.result.finishReason).toBe("length");
    expect(s.result.usage.completionTokens).toBe(maxTokens);
    expect(pieces, `deltas ${JSON.stringify(s.deltas)}`).toBeLessThanOrEqual(s.result.usage.completionTokens + 1);
    expect(s.deltas.join("")).not.toContain(stop);
  });

  it("an honest worker's streamed job within its hold completes and is billed (the agent does not call it ignoring max_tokens)", async () => {
    // Prepare: a streamed completion held for exactly the tokens the engine will generate
    const { prompt, maxTokens, stop } = await stopSplittingTheLastToken();

    // Act
    const { posted, stats } = await runJobOn(engine, MODEL, maxTokens, {
      kind: "completion",
      prompt,
      maxTokens,
      temperature: 0,
      stop: [stop],
      stream: true,
    });

    // Assess
    expect(posted).toEqual(["completed"]);
    expect(stats).toMatchObject({ jobs: 1, failed: 0, completionTokens: maxTokens });
  });
});
