/** What `cocoon ask` prints under an answer: the usage line says how much of the completion was thinking, when the engine counted it. */
import { describe, expect, it } from "vitest";
import { formatAnswer } from "./format";
import type { AskResult } from "./sdk";

/** An answer as the SDK gives it once checked, with `usage` as given. */
const answer = (usage: AskResult["usage"]) =>
  ({
    text: "42",
    jobId: "job_" + "0".repeat(26),
    model: "m",
    engine: "e",
    workerId: "w",
    tier: "dev",
    attempt: 0,
    usage,
    cost: "1000",
    maxCost: "5000",
  }) as unknown as AskResult;

describe("formatAnswer: the usage line", () => {
  it("says how many completion tokens were thinking where the engine counted them, and nothing where it did not or there were none", () => {
    // Act
    const thought = formatAnswer(answer({ promptTokens: 9, completionTokens: 40, reasoningTokens: 12 }));
    const uncounted = formatAnswer(answer({ promptTokens: 9, completionTokens: 40 }));
    const none = formatAnswer(answer({ promptTokens: 9, completionTokens: 40, reasoningTokens: 0 }));
    // Assess
    expect(thought).toContain("usage 9 prompt + 40 completion tokens (12 of them thinking) · cost 1000 nanoTON");
    expect(uncounted).toContain("usage 9 prompt + 40 completion tokens · cost 1000 nanoTON");
    expect(none).toContain("usage 9 prompt + 40 completion tokens · cost 1000 nanoTON");
  });
});
