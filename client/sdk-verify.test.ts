/**
 * The SDK's check of a completed job (checkCompletedJob), each check with a response tampered in
 * that one respect only (issue 14, mutation-checked): a job missing its receipt, reply or cost,
 * or answered by a worker we did not encrypt to; a receipt signed by another key, or covering
 * another job, request or reply, or naming another model; usage that differs in either count; the bill against the hold
 * (a cost above the hold is billed at the hold); and what each refusal says.
 * client/sdk.test.ts covers measurement, overcharge and cost mismatch.
 */
import { describe, expect, it } from "vitest";
import type { JobView } from "../events/api";
import { generateSigningKey } from "../core/crypto/keys";
import { makeJobId } from "../core/crypto/testing";
import { completedJob, refusal, USAGE } from "./sdk-testing";

const BAD_JOB = {
  code: "bad_job",
  message: "completed job lacks a receipt, a reply or a cost, or came from a worker we did not encrypt to",
};
const NOT_COVERED = { code: "bad_receipt", message: "receipt does not cover this request and reply" };

describe("checkCompletedJob: a job that is not whole", () => {
  it.each([
    ["no receipt", (j: JobView) => ({ ...j, receipt: undefined })],
    ["no reply", (j: JobView) => ({ ...j, reply: undefined })],
    ["no cost", (j: JobView) => ({ ...j, cost: undefined })],
    ["a worker we did not encrypt to", (j: JobView) => ({ ...j, workerId: generateSigningKey().id })],
  ] as const)("%s: bad_job", (_what, job) => {
    expect(refusal(completedJob({ job: job as (j: JobView) => JobView }).check)).toEqual(BAD_JOB);
  });
});

describe("checkCompletedJob: the receipt", () => {
  it("signed by another key than the worker's: bad_receipt, saying so", () => {
    expect(refusal(completedJob({ signer: "stranger" }).check)).toEqual({
      code: "bad_receipt",
      message: "receipt signature does not verify with the worker's attested key",
    });
  });

  it.each([
    ["another job", { jobId: makeJobId() }],
    ["another request", { requestHash: "c".repeat(64) }],
    ["another reply", { replyHash: "d".repeat(64) }],
  ])("covering %s (signed by the worker all the same): bad_receipt", (_what, receipt) => {
    expect(refusal(completedJob({ receipt }).check)).toEqual(NOT_COVERED);
  });

  it("naming another model than the header asked for (signed by the worker all the same): model_mismatch, naming both", () => {
    // Prepare: a worker that served a cheaper model in place of the one asked for, and said so in its receipt
    const { check, header } = completedJob({ receipt: { model: "cheap/model-0.5b" } });
    // Act
    const refused = refusal(check);
    // Assess
    expect(refused).toEqual({
      code: "model_mismatch",
      message: `the receipt names model cheap/model-0.5b, not the ${header.model} we asked for: the answer may come from another model`,
    });
  });

  it("naming another measurement: the message shows both (16 chars each) and the worker (8 chars)", () => {
    const { check, worker } = completedJob({ receipt: { measurement: "cd".repeat(48) } });
    expect(refusal(check)).toEqual({
      code: "measurement_mismatch",
      message: `the receipt names measurement ${"cd".repeat(8)}…, not the ${"ab".repeat(8)}… worker ${worker.workerId.slice(0, 8)} attested to us: the answer may come from another image`,
    });
  });
});

describe("checkCompletedJob: usage and bill", () => {
  it.each([
    ["prompt tokens", { promptTokens: 13, completionTokens: 34 }],
    ["completion tokens", { promptTokens: 12, completionTokens: 35 }],
  ])("the sealed reply reports other %s than the receipt bills: usage_mismatch", (_what, usageInReply) => {
    expect(refusal(completedJob({ usageInReply }).check)).toEqual({
      code: "usage_mismatch",
      message: "the usage billed differs from the usage inside the sealed reply",
    });
  });

  it("a usage whose cost is above the hold is billed at the hold, and exactly the hold passes", () => {
    // the honest cost is 3,700 (see sdk.test.ts); a hold of 3,000 caps it
    const capped = completedJob({ maxCost: "3000", cost: () => 3000n });
    expect(capped.honest).toBe(3_700n);
    expect(capped.check()).toMatchObject({ text: "hello" });
    expect(refusal(completedJob({ maxCost: "3000", cost: () => 2999n }).check)).toEqual({
      code: "cost_mismatch",
      message:
        "charged 2999 nanoTON, but the receipt's usage at the quoted price costs 3000: the coordinator's bill does not follow the receipt",
    });
  });

  it("a hold exactly the honest cost: the honest cost passes", () => {
    expect(completedJob({ maxCost: "3700" }).check()).toMatchObject({ usage: USAGE });
  });

  it("an overcharge names the bill, the tokens, the quoted price, the cost and the hold", () => {
    expect(refusal(completedJob({ cost: (h) => h + 5n }).check)).toEqual({
      code: "overcharged",
      message: "charged 3705 nanoTON, but 12+34 tokens at the quoted 100 nanoTON/token cost 3700 (held 100000)",
    });
  });
});
