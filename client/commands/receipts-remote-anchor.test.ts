/**
 * Review, session 22 (fixed): without --anchor / COCOON_ANCHOR_ADDRESS, `cocoon receipts verify` reads "the
 * chain" from the coordinator it is verifying (GET /v1/dev/chain/anchor), whatever coordinator
 * --api names. A remote (dishonest) coordinator then answers an anchor state of its own making
 * and a receipt it never anchored prints VERIFIED ... "anchored on chain", exit 0.
 */
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ApiClient } from "../../api-client/api";
import { API } from "../../api-client/routes";
import { runProgram } from "../../api-client/program";
import { makeWorker } from "../../core/crypto/testing";
import { applyAnchor, GENESIS_HEAD } from "../../core/receipts/anchor";
import { signedReceipt, soleReceiptProof } from "../../core/receipts/testing";
import { tempDir } from "../../test/temp-dir";
import { JobJournal } from "../journal";
import { defineReceiptsCommands } from "./receipts";

const JOB = `job_${"c".repeat(26)}`;

describe("receipts verify without a pinned anchor: never a remote coordinator's word, the local default's sandbox on loopback", () => {
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env.COCOON_ANCHOR_ADDRESS;
    delete process.env.COCOON_ANCHOR_ADDRESS;
  });
  afterEach(() => {
    if (saved !== undefined) process.env.COCOON_ANCHOR_ADDRESS = saved;
  });

  /** Factory: `receipts verify` (no --anchor) against a coordinator at `baseUrl` that answers a proof and its own "dev" chain route. */
  async function verifyAgainst(baseUrl: string) {
    // A batch the coordinator cut but never posted on any chain (or posted nowhere at all).
    const receipt = signedReceipt(makeWorker(), JOB);
    const { batch, bundle: proof } = soleReceiptProof(receipt, JOB);
    const head = applyAnchor(GENESIS_HEAD, batch.anchor);
    // The coordinator answers the proof, and its own "dev" chain route with the head it computed.
    const api = {
      baseUrl,
      key: makeWorker().signing,
      request: async (route: unknown) =>
        route === API.receiptProof
          ? proof
          : route === API.devAnchor
            ? { ...batch.anchor, lastSeq: head.lastSeq, history: head.history, postedAt: 1_764_000_000, address: "EQ-fake" }
            : { jobId: JOB, status: "completed", receipt },
    } as unknown as ApiClient;
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
    await runProgram(program, ["receipts", "verify", JOB, "--api", baseUrl], () => code);
    return { out: out.join(""), code };
  }

  it.each(["https://api.cocoon.example", "http://128.0.0.1:8787", "http://127.example.com:8787", "http://10.0.0.5:8787"])(
    "does not take the anchor state from the remote coordinator %s itself (never VERIFIED, exit 0)",
    async (baseUrl) => {
      // Act
      const r = await verifyAgainst(baseUrl);
      // Assess
      expect(r.out).not.toContain("VERIFIED: ");
      expect(r.out).toContain("missing_anchor");
      expect(r.code).not.toBe(0);
    },
  );

  // The local default's sandbox answers for the chain on any loopback address (one isLoopbackUrl for
  // the whole client: receipts kept a twin of its own that took 127.0.0.1 only of 127.0.0.0/8).
  it.each(["http://127.0.0.1:8787", "http://127.0.0.2:8787", "http://127.1.2.3:8787/", "http://localhost:8787", "http://[::1]:8787"])(
    "reads the local default's sandbox through the dev chain route on loopback %s (VERIFIED, exit 0)",
    async (baseUrl) => {
      // Act
      const r = await verifyAgainst(baseUrl);
      // Assess
      expect(r.out).toContain("VERIFIED: ");
      expect(r.code).toBe(0);
    },
  );
});
