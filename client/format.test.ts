/** What `cocoon ask` prints under an answer: the usage line says how much of the completion was thinking, when the engine counted it. */
import { describe, expect, it } from "vitest";
import type { WithdrawOutcome } from "../api-client/money";
import { formatAnswer, formatJobs, withdrawalSent, type JobsRow } from "./format";
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

describe("withdrawalSent: cocoon withdraw on the local network", () => {
  it("names the withdrawal's seqno, which cocoon withdrawal takes, beside the amount, the tx and the balance", () => {
    // Prepare
    const w = {
      withdrawal: { vault: "0:" + "aa".repeat(32), to: "0:" + "bb".repeat(32), amount: "500000000", seqno: 3, expiry: 1, signature: "s" },
      sent: true,
      txHash: "ab".repeat(32),
      status: "landed",
      available: "1000000000",
    } as unknown as WithdrawOutcome;
    // Act
    const text = withdrawalSent(w, "");
    // Assess
    expect(text).toContain("withdrew 0.5 TON from the vault");
    expect(text).toContain("withdrawal seqno 3 (`cocoon withdrawal 3` shows where it stands)");
    expect(text).toContain(`tx ${"ab".repeat(32)}`);
    expect(text).toContain("recorded by the chain watcher: landed; 1 TON available");
  });
});

describe("formatJobs: cocoon jobs", () => {
  const row = (more: Partial<JobsRow>): JobsRow => ({
    jobId: "job_" + "0".repeat(26),
    model: "m",
    createdAt: Date.UTC(2026, 11, 7),
    maxCost: "10925",
    status: "completed",
    cost: "1725",
    ...more,
  });

  it("marks a job cancelled while it ran (Ctrl-C, cocoon cancel): it read 'completed', like an answer given whole (walk39)", () => {
    // Act
    const text = formatJobs([row({ cancelledAt: Date.UTC(2026, 11, 7, 0, 0, 4) }), row({})], "j.jsonl");
    // Assess
    const [cancelled, whole] = text.split("\n");
    expect(cancelled).toContain("completed (cancelled: billed for what was generated) · cost 1725 nanoTON");
    expect(whole).toContain("  completed · cost 1725 nanoTON");
  });

  it("a cancelled job refunded whole keeps its outcome, once", () => {
    // Act
    const text = formatJobs([row({ status: "refunded", outcome: "cancelled", cost: undefined, cancelledAt: 1 })], "j.jsonl");
    // Assess
    expect(text).toContain("refunded (cancelled) · cost nothing");
  });
});
