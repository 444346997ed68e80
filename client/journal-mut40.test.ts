/**
 * mut40: JobJournal.entries (walk40: newest submitted first, ties in the journal's order) across
 * a rotation. Reading the rotated `.1` before the current file passed every test: two jobs of
 * one submit time, one in each file, must list the current file's (the newer line) first.
 */
import { renameSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { generateSigningKey } from "../core/crypto/keys";
import { newJobId } from "../core/ids";
import { JobJournal, type JournalEntry } from "./journal";
import { MODEL, T0 } from "./sdk-stub-testing";

const API_URL = "http://127.0.0.1:9";

/** Factory: a journal line of `account`, created at T0 + `at` ms. */
const entry = (account: string, at: number): Omit<JournalEntry, "v"> => ({
  account,
  api: API_URL,
  jobId: newJobId(T0 + at),
  model: MODEL,
  createdAt: T0 + at,
  maxCost: "1000000",
});

describe("mut40: entries across a rotation", () => {
  it("two jobs of one submit time, the older line rotated into .1: the current file's is listed first", async () => {
    // Prepare: the first job's line rotated away (as JobJournal's rotation renames the file), the second recorded after it
    const path = join(tempDir("cocoon-journal-mut40-"), "requester.key.jobs.jsonl");
    const account = generateSigningKey().id;
    const [older, newer] = [entry(account, 5), entry(account, 5)];
    await new JobJournal(path).record(older);
    renameSync(path, `${path}.1`);
    await new JobJournal(path).record(newer);
    // Act
    const listed = await new JobJournal(path).entries(account, API_URL);
    // Assess
    expect(listed.map((e) => e.jobId)).toEqual([newer.jobId, older.jobId]);
  });
});
