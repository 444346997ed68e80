import { describe, expect, it } from "vitest";
import { completedJob, refusal, USAGE } from "./sdk-testing";

/** The code of the VerificationError `f` throws, or "accepted". */
const verificationCode = (f: () => unknown): string => refusal(f).code;

describe("issue 9 #12: the SDK checks the receipt's measurement and recomputes the bill", () => {
  it("an honest completed job passes and yields the sealed answer", () => {
    // Prepare
    const { check, honest } = completedJob();
    // Act
    const answer = check();
    // Assess
    expect(answer).toMatchObject({ text: "hello", usage: USAGE });
    expect(honest).toBe(3_700n); // ceil(100 × (12 × 2500 + 34 × 10000) / 10000)
  });

  it("issue 9 #12: a receipt naming another measurement than the one the worker attested is refused", () => {
    // Prepare: the worker signs a receipt for another image; the coordinator passes it on
    const { check } = completedJob({ receipt: { measurement: "00".repeat(48) } });
    // Act / Assess
    expect(verificationCode(check)).toBe("measurement_mismatch");
  });

  it("issue 9 #12: a bill above the cost of the receipt's usage at the quoted price is refused, even inside the hold", () => {
    // Prepare
    const { check } = completedJob({ cost: (honest) => honest + 1n });
    // Act / Assess
    expect(verificationCode(check)).toBe("overcharged");
  });

  it("a bill above the hold is refused (as before)", () => {
    // Prepare
    const { check } = completedJob({ cost: () => 100_001n });
    // Act / Assess
    expect(verificationCode(check)).toBe("overcharged");
  });

  it("issue 9 #12: a bill that does not follow the receipt (usage/cost mismatch) is refused", () => {
    // Prepare
    const { check } = completedJob({ cost: (honest) => honest - 1n });
    // Act / Assess
    expect(verificationCode(check)).toBe("cost_mismatch");
  });

  it("a receipt billing other usage than the sealed reply reports is refused", () => {
    // Prepare
    const { check } = completedJob({ usageInReply: { promptTokens: 12, completionTokens: 3 } });
    // Act / Assess
    expect(verificationCode(check)).toBe("usage_mismatch");
  });
});
