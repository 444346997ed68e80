/**
 * The job journal's edges (client/journal.ts) that session 37's mutation run found untested: the
 * words of its refusal, the file handles it opens, the exact bytes it appends, a rotation that
 * finds the file already renamed by another process, and a journal that cannot be read.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { tempDir } from "../test/temp-dir";
import { generateSigningKey } from "../core/crypto/keys";
import { newJobId } from "../core/ids";
import { JobJournal, JobJournalError, journalIo, type JournalEntry } from "./journal";
import { MODEL, T0 } from "./sdk-stub-testing";

const dir = tempDir("cocoon-journal-edges-");
let files = 0;
const freshPath = () => join(dir, `requester-${files++}.key.jobs.jsonl`);
const API_URL = "http://127.0.0.1:9";
const ACCOUNT = generateSigningKey().id;

const made = new Map<number, Omit<JournalEntry, "v">>();
/** Factory: the journal line of ACCOUNT created at T0 + `i` ms (one job id per `i`, so that its bytes can be compared). */
function entry(i: number): Omit<JournalEntry, "v"> {
  if (!made.has(i))
    made.set(i, { account: ACCOUNT, api: API_URL, jobId: newJobId(T0 + i), model: MODEL, createdAt: T0 + i, maxCost: "1000000" });
  return made.get(i)!;
}
const lineOf = (i: number) => JSON.stringify({ v: 1, ...entry(i) }) + "\n";
const seen = async (path: string) => (await new JobJournal(path).entries(ACCOUNT, API_URL)).map((e) => e.createdAt - T0);

afterEach(() => {
  vi.restoreAllMocks();
});

describe("JobJournal's refusal", () => {
  it("names the journal and the file system's code, says nothing was submitted, and keeps the error as its cause", async () => {
    // Prepare: the journal's folder is a file (its mkdir fails: EEXIST)
    const blocker = join(dir, `not-a-folder-${files++}`);
    writeFileSync(blocker, "");
    const path = join(blocker, "jobs.jsonl");
    // Act
    const failed = new JobJournal(path).record(entry(1));
    // Assess
    await expect(failed).rejects.toBeInstanceOf(JobJournalError);
    const e = (await failed.catch((x: unknown) => x)) as JobJournalError;
    expect(e.message).toBe(`cannot record the job in the journal ${path} (EEXIST): nothing was submitted`);
    expect(e.cause).toMatchObject({ code: "EEXIST" });
  });

  it("names an error with no code by its message", () => {
    expect(new JobJournalError("/j", new Error("odd")).message).toBe(
      "cannot record the job in the journal /j (odd): nothing was submitted",
    );
  });
});

describe("JobJournal's file handles and bytes", () => {
  it("closes every file handle it opens: the counts, each append, a rotation", async () => {
    // Prepare: every handle journalIo opens, and whether it was closed
    const path = freshPath();
    const { open } = journalIo;
    const handles: Array<{ closed: boolean }> = [];
    vi.spyOn(journalIo, "open").mockImplementation((async (...args: Parameters<typeof open>) => {
      const fh: FileHandle = await open(...args);
      const h = { closed: false };
      handles.push(h);
      const close = fh.close.bind(fh);
      fh.close = () => ((h.closed = true), close());
      return fh;
    }) as typeof open);
    const j = new JobJournal(path, { maxLines: 4 });
    // Act: 5 jobs, so one rotation (at the third) and a count before it
    for (let i = 1; i <= 5; i++) await j.record(entry(i));
    // Assess
    expect(handles.length).toBeGreaterThanOrEqual(7);
    expect(handles.filter((h) => !h.closed)).toEqual([]);
  });

  it("appends exactly one line per job: no blank line before it, in a new file or after whole lines", async () => {
    // Prepare
    const path = freshPath();
    const j = new JobJournal(path);
    // Act
    await j.record(entry(1));
    const first = readFileSync(path, "utf8");
    await j.record(entry(2));
    await new JobJournal(path).record(entry(3));
    // Assess
    expect(first).toBe(lineOf(1));
    expect(readFileSync(path, "utf8")).toBe(lineOf(1) + lineOf(2) + lineOf(3));
  });

  it("closes a torn line with one newline in the next job's write", async () => {
    // Prepare
    const path = freshPath();
    const torn = lineOf(1).slice(0, 40);
    writeFileSync(path, torn);
    // Act
    await new JobJournal(path).record(entry(2));
    // Assess
    expect(readFileSync(path, "utf8")).toBe(`${torn}\n${lineOf(2)}`);
  });
});

describe("a rotation racing another process's", () => {
  it("the file renamed away by another process after this one counted it (ENOENT): the job is recorded in a new file", async () => {
    // Prepare: the file full; as this journal looks at it before its rename, another process renames it to .1 (not yet appended)
    const path = freshPath();
    writeFileSync(path, [1, 2, 3, 4, 5].map(lineOf).join(""));
    const { stat } = journalIo;
    let armed = true;
    vi.spyOn(journalIo, "stat").mockImplementation((async (...args: Parameters<typeof stat>) => {
      if (armed) {
        armed = false;
        renameSync(path, `${path}.1`);
      }
      return stat(...args);
    }) as typeof stat);
    // Act
    await new JobJournal(path, { maxLines: 10 }).record(entry(6));
    // Assess
    expect(armed).toBe(false);
    expect(readFileSync(path, "utf8")).toBe(lineOf(6));
    expect(await seen(path)).toEqual([6, 5, 4, 3, 2, 1]);
  });
});

describe("a rotation the file system refuses", () => {
  it("fails the record (journal_unwritable: nothing is submitted) rather than let the journal grow past its bound unnoticed", async () => {
    // Prepare: the file full, and its rename refused (a folder this user may no longer write)
    const path = freshPath();
    writeFileSync(path, [1, 2, 3, 4, 5].map(lineOf).join(""));
    vi.spyOn(journalIo, "rename").mockRejectedValue(Object.assign(new Error("EACCES: played"), { code: "EACCES" }));
    // Act
    const failed = new JobJournal(path, { maxLines: 10 }).record(entry(6));
    // Assess
    await expect(failed).rejects.toMatchObject({ code: "journal_unwritable", message: expect.stringContaining("(EACCES)") });
    expect(readFileSync(path, "utf8")).toBe([1, 2, 3, 4, 5].map(lineOf).join(""));
  });
});

describe("a journal that cannot be read", () => {
  it("is an error, not an empty list (`cocoon jobs` must not say there are none)", async () => {
    // Prepare: the journal's name is a folder
    const path = freshPath();
    mkdirSync(path);
    // Act
    const read = new JobJournal(path).entries(ACCOUNT, API_URL);
    // Assess
    await expect(read).rejects.toMatchObject({ code: "EISDIR" });
  });
});
