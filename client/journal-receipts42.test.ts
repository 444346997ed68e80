/**
 * Session 42: the job journal keeps the receipt the SDK checked each answer with (a second line
 * per job, client/journal.ts), for `cocoon receipts verify` to compare the anchored receipt with.
 * A journal from before it still reads, its readers skip the receipt lines, and the bound keeps
 * as many jobs as it did with one line each. The CLI over a real network: test/receipts-kept-e2e.test.ts.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { generateSigningKey } from "../core/crypto/keys";
import { makeWorker } from "../core/crypto/testing";
import { newJobId } from "../core/ids";
import { signedReceipt } from "../core/receipts/testing";
import type { Receipt } from "../events/envelope";
import { JobJournal, JOURNAL_MAX_JOBS, JournalEntry, type JournalReceipt } from "./journal";
import { MODEL, T0 } from "./sdk-stub-testing";

const dir = tempDir("cocoon-journal-receipts-");
let files = 0;
const freshPath = () => join(dir, `requester-${files++}.key.jobs.jsonl`);
const API_URL = "http://127.0.0.1:9";
const worker = makeWorker();
/** one signature for all: a kept receipt is not re-verified from the journal (verify compares it with the anchored one) */
const SIGNED = signedReceipt(worker, newJobId(T0));
const ids = new Map<number, string>();
/** job `i`'s id, the same at each call (a job id's tail is drawn) */
function idOf(i: number): string {
  if (!ids.has(i)) ids.set(i, newJobId(T0 + i));
  return ids.get(i)!;
}

/** Factory: job `i`'s journal line of `account`, as every version writes it. */
function jobLine(i: number, account: string) {
  return JSON.stringify({ v: 1, account, api: API_URL, jobId: idOf(i), model: MODEL, createdAt: T0 + i, maxCost: "1000000" });
}

/** Factory: the receipt kept for job `i` of `account`. */
function kept(i: number, account: string): Omit<JournalReceipt, "v"> {
  const jobId = idOf(i);
  const receipt: Receipt = { ...SIGNED, body: { ...SIGNED.body, jobId } };
  return { account, api: API_URL, jobId, receipt };
}

/** `n` jobs from `from` on, each with its receipt line after it, as the SDK writes them. */
function jobsWithReceipts(from: number, n: number, account: string): string {
  let text = "";
  for (let i = from; i < from + n; i++) text += jobLine(i, account) + "\n" + JSON.stringify({ v: 1, ...kept(i, account) }) + "\n";
  return text;
}

describe("session 42: the journal keeps each checked answer's receipt", () => {
  it("a journal from before session 42 (job lines only) still lists its jobs and keeps no receipt; one kept then is found, and the job lines' readers skip it", async () => {
    // Prepare: three jobs, as a journal written before session 42 holds them
    const path = freshPath();
    const account = generateSigningKey().id;
    writeFileSync(path, [0, 1, 2].map((i) => jobLine(i, account) + "\n").join(""));
    const j = new JobJournal(path);
    const before = await j.entries(account, API_URL);
    const keptBefore = await j.receiptOf(account, API_URL, idOf(1));

    // Act
    await j.keepReceipt(kept(1, account));

    // Assess
    expect(before.map((e) => e.createdAt - T0)).toEqual([2, 1, 0]);
    expect(keptBefore).toBeUndefined();
    expect(await j.receiptOf(account, API_URL, idOf(1))).toEqual(kept(1, account).receipt);
    expect(await j.receiptOf(account, API_URL, idOf(2))).toBeUndefined();
    // another key's (or another API's) journal line is not this one's
    expect(await j.receiptOf(generateSigningKey().id, API_URL, idOf(1))).toBeUndefined();
    expect(await j.receiptOf(account, "http://127.0.0.1:10", idOf(1))).toBeUndefined();
    expect(await j.entries(account, API_URL)).toEqual(before);
    // a reader of the job lines (this one's schema, as cocoon before session 42 parses them) skips the receipt line
    const lines = readFileSync(path, "utf8").trim().split("\n");
    expect(lines.map((l) => JournalEntry.safeParse(JSON.parse(l)).success)).toEqual([true, true, true, false]);
    // privacy: the line holds the receipt's hashes, usage and ids, nothing else
    expect(Object.keys(JSON.parse(lines[3]!)).sort()).toEqual(["account", "api", "jobId", "receipt", "v"]);
  });

  it("is bounded by jobs as before: two lines a job, so that the default bound still keeps the newest JOURNAL_MAX_JOBS jobs and their receipts", async () => {
    // Prepare: a full `.1` and a current file one job short of its half, every job with its receipt
    const path = freshPath();
    const account = generateSigningKey().id;
    const half = JOURNAL_MAX_JOBS / 2;
    writeFileSync(`${path}.1`, jobsWithReceipts(0, half, account));
    writeFileSync(path, jobsWithReceipts(half, half - 1, account));
    const j = new JobJournal(path);
    const last = JOURNAL_MAX_JOBS - 1;

    // Act: the last job of the bound, then one past it
    await j.record({ ...JSON.parse(jobLine(last, account)) });
    await j.keepReceipt(kept(last, account));
    const full = await j.entries(account, API_URL);
    const oldestKept = await j.receiptOf(account, API_URL, idOf(0));
    await j.record({ ...JSON.parse(jobLine(JOURNAL_MAX_JOBS, account)) });

    // Assess
    expect(full).toHaveLength(JOURNAL_MAX_JOBS);
    expect(oldestKept).toEqual(kept(0, account).receipt);
    expect(await j.receiptOf(account, API_URL, idOf(last))).toEqual(kept(last, account).receipt);
    // one job past the bound: the older half leaves, the rest stays
    const after = await j.entries(account, API_URL);
    expect(after).toHaveLength(half + 1);
    expect(await j.receiptOf(account, API_URL, idOf(0))).toBeUndefined();
  });
});
