/**
 * Session 42 end to end on the local default (the real handlers, the sandbox's ReceiptAnchor,
 * dev agents, the `cocoon` CLI): a job asked with `cocoon ask` leaves the receipt its answer was
 * checked with in the key's job journal, and `cocoon receipts verify` without --receipt compares
 * the anchored receipt with that one (comparedWith: kept), not with the coordinator's word.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { loadOrCreateKey } from "../api-client/keys";
import type { RunningAgent } from "../agent/runtime";
import { main } from "../client/cli";
import { journalIo } from "../client/journal";
import { CocoonClient } from "../client/sdk";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { MODEL } from "./helpers";

const PROMPT = "a prompt of mine that no journal line may hold";

/** Runs `cocoon …` in this process; answers its exit code and what it wrote. */
async function cocoon(...argv: string[]) {
  let out = "";
  let err = "";
  const code = await main(argv, { write: (s: string) => (out += s) }, { write: (s: string) => (err += s) });
  return { code, out, err };
}

describe("session 42: receipts verify compares with the receipt kept when the answer was checked (local default)", () => {
  let net: LocalNetwork;
  let agents: RunningAgent[];
  let keyFile: string;
  let journal: string;
  let conn: string[];
  const ask = (...flags: string[]) =>
    cocoon("ask", PROMPT, "--model", MODEL, "--max-tokens", "16", "--allow-dev", "--tier", "dev", ...conn, ...flags);

  beforeAll(async () => {
    const home = tempDir("cocoon-receipts-kept-");
    net = await startNetwork({ anchoring: { tickMs: 200, intervalSeconds: 1 } });
    agents = await startLocalAgents(net.url, home, [{ name: "a", priceBps: 10_000 }]);
    keyFile = join(home, "requester.key");
    journal = `${keyFile}.jobs.jsonl`;
    await new CocoonClient({ apiUrl: net.url, key: loadOrCreateKey(keyFile), allowDev: true }).faucet(5_000_000_000n);
    conn = ["--api", net.url, "--key", keyFile];
  }, 60_000);
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await net.stop();
  });

  it("a job asked with cocoon ask (whole with --json, streamed without) verifies without --receipt against the journal's receipt: kept", async () => {
    // Prepare: one job answered whole, one streamed
    const whole = await ask("--json");
    expect(whole.code, whole.err).toBe(0);
    const wholeId = (JSON.parse(whole.out) as { jobId: string }).jobId;
    const streamed = await ask();
    expect(streamed.code, streamed.err).toBe(0);
    const lines = readFileSync(journal, "utf8").trim().split("\n");
    const streamedId = (JSON.parse(lines[lines.length - 1]!) as { jobId: string }).jobId;

    // Act
    const v = await cocoon("receipts", "verify", wholeId, ...conn, "--wait", "60", "--json");
    const text = await cocoon("receipts", "verify", streamedId, ...conn, "--wait", "60");

    // Assess
    expect(v.code, v.err).toBe(0);
    expect(JSON.parse(v.out)).toMatchObject({ jobId: wholeId, verified: true, comparedWith: "kept" });
    expect(text.code, text.err).toBe(0);
    expect(text.out).toContain(`compared with the receipt kept in ${journal} when your answer was checked`);
    // each job's line, then its receipt's; the receipt as the answer came with it
    expect(lines.map((l) => Object.keys(JSON.parse(l)).includes("receipt"))).toEqual([false, true, false, true]);
    expect(JSON.parse(lines[1]!).receipt).toEqual((JSON.parse(whole.out) as { receipt: unknown }).receipt);
    // privacy: no prompt, and a receipt's body holds hashes, usage and ids only
    expect(readFileSync(journal, "utf8")).not.toContain(PROMPT);
    expect(Object.keys(JSON.parse(lines[1]!).receipt.body).sort()).toEqual(
      ["finishedAt", "jobId", "measurement", "model", "replyHash", "requestHash", "usage", "v", "workerId"].sort(),
    );
  }, 90_000);

  it("a kept receipt that is not the anchored one fails (receipt_differs, exit 1); with none kept (a journal from before session 42) the coordinator's receipt is compared, and jobs still lists", async () => {
    // Prepare: an anchored job, then its kept receipt's bill changed, as if the answer had come with another receipt
    const r = await ask("--json");
    expect(r.code, r.err).toBe(0);
    const { jobId, receipt } = JSON.parse(r.out) as { jobId: string; receipt: { body: { usage: object } } };
    expect((await cocoon("receipts", "verify", jobId, ...conn, "--wait", "60")).code).toBe(0);
    const other = { ...receipt, body: { ...receipt.body, usage: { promptTokens: 1, completionTokens: 999 } } };
    const text = readFileSync(journal, "utf8");
    writeFileSync(journal, text.replace(JSON.stringify(receipt), JSON.stringify(other)));

    // Act
    const v = await cocoon("receipts", "verify", jobId, ...conn, "--json");
    const withFile = join(tempDir("cocoon-receipt-file-"), "ask.json");
    writeFileSync(withFile, r.out);
    const kept = await cocoon("receipts", "verify", jobId, ...conn, "--receipt", withFile, "--json");
    // the journal as written before session 42: job lines only
    writeFileSync(
      journal,
      text
        .split("\n")
        .filter((l) => !l.includes('"receipt"'))
        .join("\n"),
    );
    const old = await cocoon("receipts", "verify", jobId, ...conn);
    const oldJobs = await cocoon("jobs", ...conn, "--json");

    // Assess
    expect(text).toContain(JSON.stringify(receipt));
    expect(v.code).toBe(1);
    expect(JSON.parse(v.out)).toMatchObject({ verified: false, code: "receipt_differs" });
    expect(kept.code, kept.err).toBe(0);
    expect(JSON.parse(kept.out)).toMatchObject({ verified: true, comparedWith: "kept" });
    expect(old.code, old.err).toBe(0);
    expect(old.out).toContain(
      `compared with the job's receipt as the coordinator answers it today (GET /v1/jobs/{id}): no receipt of this job is kept in ${journal}`,
    );
    expect(oldJobs.code, oldJobs.err).toBe(0);
    expect((JSON.parse(oldJobs.out) as { jobs: unknown[] }).jobs).toHaveLength(3);
  }, 90_000);

  it("a receipt line that cannot be written costs the caller nothing of its checked answer: ask exits 0, and verify compares with the coordinator's, saying so", async () => {
    // Prepare: the journal takes each job's line (written before its submit), and refuses every other append
    const open = journalIo.open;
    let appends = 0;
    journalIo.open = ((path, flags, mode) =>
      flags === "a+" && appends++ % 2 === 1
        ? Promise.reject(Object.assign(new Error("disk full"), { code: "ENOSPC" }))
        : open(path, flags, mode)) as typeof open;
    let r: Awaited<ReturnType<typeof cocoon>>;
    try {
      // Act
      r = await ask("--json");
    } finally {
      journalIo.open = open;
    }
    const v = await cocoon("receipts", "verify", (JSON.parse(r.out) as { jobId: string }).jobId, ...conn, "--wait", "60", "--json");

    // Assess
    expect(r.code, r.err).toBe(0);
    expect(appends).toBe(2);
    expect(v.code, v.err).toBe(0);
    expect(JSON.parse(v.out)).toMatchObject({ verified: true, comparedWith: "coordinator" });
  }, 90_000);
});
