/**
 * Session 42: without --receipt, `cocoon receipts verify` compares the anchored receipt with the
 * one the SDK kept in the key's job journal when it checked the answer (client/journal.ts), not
 * with the receipt the coordinator answers today: a coordinator that anchored, and answers, a
 * receipt other than the one the answer came with is caught. With none kept (a journal from
 * before session 42), it compares with the coordinator's, and says so.
 */
import { join } from "node:path";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import type { ApiClient } from "../../api-client/api";
import { API } from "../../api-client/routes";
import { runProgram } from "../../api-client/program";
import { makeWorker } from "../../core/crypto/testing";
import { applyAnchor, GENESIS_HEAD } from "../../core/receipts/anchor";
import { signedReceipt, soleReceiptProof } from "../../core/receipts/testing";
import { tempDir } from "../../test/temp-dir";
import { JobJournal } from "../journal";
import { defineReceiptsCommands } from "./receipts";

const JOB = `job_${"e".repeat(26)}`;
const API_URL = "http://127.0.0.1:8787";

/**
 * `receipts verify JOB [--json]` by the job's requester on the local default, whose coordinator
 * anchored, and answers GET /v1/jobs/{id} with, `answered`; the journal holds `journalLines`.
 */
async function verify(answered: "the kept receipt" | "another receipt", journalLines: "job and receipt" | "job only", json = false) {
  const worker = makeWorker();
  const requester = makeWorker().signing;
  const keptReceipt = signedReceipt(worker, JOB, 1_764_000_000_000);
  // the same worker's signature, on the same job, with another time and bill: a genuine receipt, not the one the answer came with
  const other = signedReceipt(worker, JOB, 1_764_000_009_000);
  const receipt = answered === "the kept receipt" ? keptReceipt : other;
  const { batch, bundle: proof } = soleReceiptProof(receipt, JOB);
  const head = applyAnchor(GENESIS_HEAD, batch.anchor);
  const api = {
    baseUrl: API_URL,
    key: requester,
    request: async (route: unknown) => {
      if (route === API.receiptProof) return proof;
      if (route === API.devAnchor)
        return { ...batch.anchor, lastSeq: head.lastSeq, history: head.history, postedAt: 1_764_000_000, address: "EQ-sandbox" };
      return { jobId: JOB, status: "completed", workerId: worker.workerId, receipt, cost: "1" };
    },
  } as unknown as ApiClient;
  const path = join(tempDir("cocoon-kept-"), "requester.key.jobs.jsonl");
  const journal = new JobJournal(path);
  await journal.record({ account: requester.id, api: API_URL, jobId: JOB, model: "qwen/qwen2-7b", createdAt: 1, maxCost: "1000" });
  if (journalLines === "job and receipt")
    await journal.keepReceipt({ account: requester.id, api: API_URL, jobId: JOB, receipt: keptReceipt });
  const out: string[] = [];
  let code = -1;
  const program = new Command().exitOverride();
  defineReceiptsCommands(program, {
    io: { out: { write: (s: string) => out.push(s) }, err: { write: (s: string) => out.push(s) } },
    setCode: (c) => (code = c),
    connection: (cmd) => cmd.option("--api <url>").option("--key <k>").option("--json"),
    api: () => api,
    journal: () => journal,
  });
  await runProgram(program, ["receipts", "verify", JOB, ...(json ? ["--json"] : [])], () => code);
  return { out: out.join(""), code, path };
}

describe("session 42: receipts verify compares with the receipt kept in the journal by default", () => {
  it("the anchored receipt is the kept one: VERIFIED, compared with the journal's receipt (kept)", async () => {
    // Act
    const text = await verify("the kept receipt", "job and receipt");
    const json = await verify("the kept receipt", "job and receipt", true);

    // Assess
    expect(text.code, text.out).toBe(0);
    expect(text.out).toContain(`compared with the receipt kept in ${text.path} when your answer was checked`);
    expect(JSON.parse(json.out)).toMatchObject({ verified: true, comparedWith: "kept" });
  });

  it("a coordinator that anchored, and answers, another genuine receipt than the one the answer came with is caught: receipt_differs, exit 1", async () => {
    // Act
    const text = await verify("another receipt", "job and receipt");
    const json = await verify("another receipt", "job and receipt", true);

    // Assess
    expect(text.code).toBe(1);
    expect(text.out).toMatch(
      /^NOT VERIFIED \[receipt_differs\]: the anchored receipt .* is not the receipt this job was answered and billed with/,
    );
    expect(JSON.parse(json.out)).toMatchObject({ verified: false, code: "receipt_differs" });
  });

  it("a journal with no receipt kept (written before session 42): compared with the coordinator's receipt, saying none is kept", async () => {
    // Act
    const text = await verify("another receipt", "job only");
    const json = await verify("another receipt", "job only", true);

    // Assess
    expect(text.code, text.out).toBe(0);
    expect(text.out).toContain(
      `compared with the job's receipt as the coordinator answers it today (GET /v1/jobs/{id}): no receipt of this job is kept in ${text.path}`,
    );
    expect(JSON.parse(json.out)).toMatchObject({ verified: true, comparedWith: "coordinator" });
  });
});
