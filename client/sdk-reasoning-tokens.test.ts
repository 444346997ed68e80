/**
 * The thinking's token count (usage.reasoningTokens) in the SDK's check of a completed job: it
 * comes out of the sealed answer with the billed counts, is information only (the receipt bills
 * and signs the pair alone, and the check compares the pair), and an answer claiming more thinking
 * than completion is refused as malformed, like any other bad usage in a sealed chunk.
 */
import { describe, expect, it } from "vitest";
import { completedJob, refusal, USAGE } from "./sdk-testing";

describe("checkCompletedJob: usage.reasoningTokens", () => {
  it("is carried from the sealed answer into the result, beside the billed counts it does not change", () => {
    // Prepare
    const job = completedJob({ chunked: true, usageInReply: { ...USAGE, reasoningTokens: 20 } });
    // Act
    const answer = job.check();
    // Assess
    expect(answer.usage).toEqual({ promptTokens: 12, completionTokens: 34, reasoningTokens: 20 });
  });

  it("may be all of the completion", () => {
    // Act
    const answer = completedJob({ chunked: true, usageInReply: { ...USAGE, reasoningTokens: 34 } }).check();
    // Assess
    expect(answer.usage.reasoningTokens).toBe(34);
  });

  it("is absent for an answer without it (an older worker, an engine that does not count it), which verifies as before", () => {
    // Act
    const chunked = completedJob({ chunked: true }).check();
    const sealed = completedJob().check();
    // Assess
    expect(chunked.usage).toStrictEqual(USAGE);
    expect(sealed.usage).toStrictEqual(USAGE);
  });

  it("above the completion tokens, the answer is malformed: refused stream_tampered", () => {
    // Act
    const r = refusal(completedJob({ chunked: true, usageInReply: { ...USAGE, reasoningTokens: 35 } }).check);
    // Assess
    expect(r.code).toBe("stream_tampered");
  });

  it("does not enter the billed-usage check: the receipt's pair against the answer's pair", () => {
    // Act: the billed counts differ, the thinking's count is right
    const r = refusal(completedJob({ chunked: true, usageInReply: { promptTokens: 12, completionTokens: 35, reasoningTokens: 1 } }).check);
    // Assess
    expect(r.code).toBe("usage_mismatch");
  });
});
