/**
 * Session 42: `cocoon receipts verify` says what it compared the anchored receipt with. Without
 * --receipt a requester's VERIFIED compared the coordinator's receipt of today (GET /v1/jobs/{id})
 * and printed exactly what a check against the kept receipt prints, so nobody could tell a proof
 * bound to the answer received from one bound to the coordinator's word (docs/receipts.md).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { ApiError, type ApiClient } from "../../api-client/api";
import { API } from "../../api-client/routes";
import { runProgram } from "../../api-client/program";
import { makeWorker } from "../../core/crypto/testing";
import { applyAnchor, GENESIS_HEAD } from "../../core/receipts/anchor";
import { signedReceipt, soleReceiptProof } from "../../core/receipts/testing";
import { tempDir } from "../../test/temp-dir";
import { JobJournal } from "../journal";
import { defineReceiptsCommands } from "./receipts";

const JOB = `job_${"d".repeat(26)}`;

/** `receipts verify JOB …args` on the local default (its sandbox's dev chain route), as the job's requester or its worker. */
async function verify(caller: "requester" | "worker", args: string[] = []) {
  const worker = makeWorker();
  const receipt = signedReceipt(worker, JOB);
  const { batch, bundle: proof } = soleReceiptProof(receipt, JOB);
  const head = applyAnchor(GENESIS_HEAD, batch.anchor);
  const api = {
    baseUrl: "http://127.0.0.1:8787",
    key: caller === "worker" ? worker.signing : makeWorker().signing,
    request: async (route: unknown) => {
      if (route === API.receiptProof) return proof;
      if (route === API.devAnchor)
        return { ...batch.anchor, lastSeq: head.lastSeq, history: head.history, postedAt: 1_764_000_000, address: "EQ-sandbox" };
      if (caller === "worker") throw new ApiError(403, "not_your_job", "this job belongs to another account");
      return { jobId: JOB, status: "completed", workerId: worker.workerId, receipt, cost: "1" };
    },
  } as unknown as ApiClient;
  const kept = join(tempDir("cocoon-receipt-"), "ask.json");
  writeFileSync(kept, JSON.stringify({ jobId: JOB, text: "…", receipt }));
  const out: string[] = [];
  let code = -1;
  const program = new Command().exitOverride();
  defineReceiptsCommands(program, {
    io: { out: { write: (s: string) => out.push(s) }, err: { write: (s: string) => out.push(s) } },
    setCode: (c) => (code = c),
    connection: (cmd) => cmd.option("--api <url>").option("--key <k>").option("--json"),
    api: () => api,
    // an empty journal: no receipt kept
    journal: () => new JobJournal(join(tempDir("cocoon-journal-"), "requester.key.jobs.jsonl")),
  });
  await runProgram(program, ["receipts", "verify", JOB, ...args.map((a) => (a === "KEPT" ? kept : a))], () => code);
  return { out: out.join(""), code };
}

describe("session 42: receipts verify names what the anchored receipt was compared with", () => {
  it("without --receipt, a requester's VERIFIED says it is the coordinator's receipt of today, and how to bind it to the answer", async () => {
    // Act
    const text = await verify("requester");
    const json = await verify("requester", ["--json"]);
    // Assess
    expect(text.code).toBe(0);
    expect(text.out).toContain("VERIFIED: ");
    expect(text.out).toMatch(/compared with the job's receipt as the coordinator answers it today .*pass --receipt FILE/);
    expect(JSON.parse(json.out)).toMatchObject({ verified: true, comparedWith: "coordinator" });
  });

  it("with --receipt (cocoon ask --json's output), VERIFIED says the anchored receipt is the one the answer came with", async () => {
    // Act
    const text = await verify("requester", ["--receipt", "KEPT"]);
    const json = await verify("requester", ["--receipt", "KEPT", "--json"]);
    // Assess
    expect(text.code).toBe(0);
    expect(text.out).toContain("compared with the receipt you kept (--receipt)");
    expect(text.out).not.toContain("coordinator answers it today");
    expect(JSON.parse(json.out)).toMatchObject({ verified: true, comparedWith: "kept" });
  });

  it("the job's worker: compared with its own signature", async () => {
    // Act
    const text = await verify("worker");
    const json = await verify("worker", ["--json"]);
    // Assess
    expect(text.code).toBe(0);
    expect(text.out).toContain("compared with your own signature");
    expect(JSON.parse(json.out)).toMatchObject({ verified: true, comparedWith: "worker" });
  });
});
