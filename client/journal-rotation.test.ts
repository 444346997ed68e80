/**
 * The job journal's bound (client/journal.ts): at half of maxLines the file is renamed to `.1`
 * and a new one started, readers read both, and no line is lost to another process of the same
 * key appending, rotating or tearing a line meanwhile. Two processes are two JobJournal objects
 * on one path; where their steps must interleave inside one record, the other's record is run at
 * one of the journal's file system calls (journalIo).
 */
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { tempDir } from "../test/temp-dir";
import { generateSigningKey } from "../core/crypto/keys";
import { newJobId } from "../core/ids";
import { JobJournal, journalIo, type JournalEntry } from "./journal";
import { MODEL, T0 } from "./sdk-stub-testing";

const dir = tempDir("cocoon-journal-rotation-");
let files = 0;
const freshPath = () => join(dir, `requester-${files++}.key.jobs.jsonl`);
const API_URL = "http://127.0.0.1:9";
const ACCOUNT = generateSigningKey().id;

/** Factory: a journal line of `account` created at T0 + `i` ms (`i` names the job in what is read back). */
function entry(i: number, account = ACCOUNT): Omit<JournalEntry, "v"> {
  return { account, api: API_URL, jobId: newJobId(T0 + i), model: MODEL, createdAt: T0 + i, maxCost: "1000000" };
}
const lineOf = (i: number, account = ACCOUNT) => JSON.stringify({ v: 1, ...entry(i, account) }) + "\n";

/** The non-empty lines of `file` (none where there is no file). */
const lines = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : []);
/** The jobs in `file`, in its order, as the `i` each was made with. */
const names = (file: string) => lines(file).map((l) => (JSON.parse(l) as JournalEntry).createdAt - T0);
/** The jobs a reader sees, newest first, as the `i` each was made with. */
const seen = async (path: string, limit?: number) =>
  (await new JobJournal(path).entries(ACCOUNT, API_URL, limit)).map((e) => e.createdAt - T0);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => to - k); // to … from, newest first

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the journal rotates at half its bound", () => {
  it("keeps every line until its bound, then between half and all of it, newest always, over several rotations", async () => {
    // Prepare
    const path = freshPath();
    const j = new JobJournal(path, { maxLines: 10 });
    const held: Array<{ n: number; current: number; old: number; jobs: number[] }> = [];
    // Act: 23 jobs, looking at both files after each
    for (let n = 1; n <= 23; n++) {
      await j.record(entry(n));
      held.push({ n, current: lines(path).length, old: lines(`${path}.1`).length, jobs: await seen(path) });
    }
    // Assess: 5 lines and the current file is renamed to .1 at the next job: 1–5 in one file, then 6–10 in two, then 6–10 again
    for (const { n, current, old, jobs } of held) {
      const kept = n <= 5 ? n : 5 + ((n - 1) % 5) + 1;
      expect({ n, current, old, jobs }).toEqual({ n, current: n <= 5 ? n : kept - 5, old: n <= 5 ? 0 : 5, jobs: range(n - kept + 1, n) });
    }
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(`${path}.1`).mode & 0o777).toBe(0o600);
  });

  it("a reader reads .1 then the current file: newest first across both, filtered by account, `limit` spanning the two", async () => {
    // Prepare: a rotated journal as another process left it, another key's lines in both files
    const path = freshPath();
    const other = generateSigningKey().id;
    writeFileSync(`${path}.1`, [1, 2, 3].map((i) => lineOf(i)).join("") + lineOf(4, other) + lineOf(5));
    writeFileSync(path, lineOf(6) + lineOf(7, other) + lineOf(8));
    const rotatedOnly = freshPath();
    writeFileSync(`${rotatedOnly}.1`, lineOf(1) + lineOf(2));
    // Act
    const all = await seen(path);
    const three = await seen(path, 3);
    const two = await seen(path, 2);
    const ofOther = await new JobJournal(path).entries(other, API_URL);
    const noCurrent = await seen(rotatedOnly); // rotated, nothing appended since
    // Assess
    expect(all).toEqual([8, 6, 5, 3, 2, 1]);
    expect(three).toEqual([8, 6, 5]);
    expect(two).toEqual([8, 6]);
    expect(ofOther.map((e) => e.createdAt - T0)).toEqual([7, 4]);
    expect(noCurrent).toEqual([2, 1]);
  });

  it("a rotation between a reader's two reads shows the current file's jobs again in .1: each is listed once", async () => {
    // Prepare: what the reader reads when the file it read first was then renamed to .1
    const path = freshPath();
    const wasCurrent = [3, 4].map((i) => lineOf(i)).join("");
    writeFileSync(path, wasCurrent);
    writeFileSync(`${path}.1`, wasCurrent);
    // Act
    const read = await seen(path);
    // Assess
    expect(read).toEqual([4, 3]);
  });

  it("a file found full at a client's first record is rotated before its line, whoever wrote it", async () => {
    // Prepare: 30 lines another process wrote (a journal of an older, larger bound)
    const path = freshPath();
    writeFileSync(
      path,
      range(1, 30)
        .reverse()
        .map((i) => lineOf(i))
        .join(""),
    );
    // Act
    await new JobJournal(path, { maxLines: 10 }).record(entry(100));
    // Assess: the 30 stay as .1 until the next rotation replaces them
    expect(names(path)).toEqual([100]);
    expect(lines(`${path}.1`)).toHaveLength(30);
  });
});

describe("two processes of one key: no line is lost to the other's rotation", () => {
  /** A and B on one file: B records job 1, then A (whose first record counts it) jobs 2–5, filling it. */
  async function twoFull() {
    const path = freshPath();
    const [a, b] = [new JobJournal(path, { maxLines: 10 }), new JobJournal(path, { maxLines: 10 })];
    await b.record(entry(1));
    for (let i = 2; i <= 5; i++) await a.record(entry(i));
    return { path, a, b };
  }

  it("B's append between A's count of the full file and its rename (where a rewrite lost it) is kept in .1", async () => {
    // Prepare: B's job 7 runs as A's job 6 is about to rename the file it counted
    const { path, a, b } = await twoFull();
    const { rename } = journalIo;
    let armed = true;
    vi.spyOn(journalIo, "rename").mockImplementation((async (...args: Parameters<typeof rename>) => {
      if (armed) {
        armed = false;
        await b.record(entry(7));
      }
      return rename(...args);
    }) as typeof rename);
    // Act
    await a.record(entry(6));
    // Assess
    expect(armed).toBe(false);
    expect(await seen(path)).toEqual([7, 6, 5, 4, 3, 2, 1]); // by submit time, whichever file or line each landed in
    expect(lines(`${path}.1`)).toHaveLength(6);
  });

  it("B's append that opened the file before A's rotation and writes after it is kept in the renamed file", async () => {
    // Prepare: B's job 7 opens the file, then A's job 6 rotates it and is appended, then B writes
    const { path, a, b } = await twoFull();
    const { open } = journalIo;
    let armed = true;
    vi.spyOn(journalIo, "open").mockImplementation((async (...args: Parameters<typeof open>) => {
      const fh = await open(...args);
      if (armed && args[1] === "a+") {
        armed = false;
        await a.record(entry(6));
      }
      return fh;
    }) as typeof open);
    // Act
    await b.record(entry(7));
    // Assess
    expect(armed).toBe(false);
    expect(names(path)).toEqual([6]);
    expect(await seen(path)).toEqual([7, 6, 5, 4, 3, 2, 1]); // by submit time, whichever file or line each landed in
  });

  it("B's rotation between A's count and its rename is not done again: the .1 B made is not replaced by B's new file", async () => {
    // Prepare: the file full; B's first record (job 7) counts it, rotates it and starts a new one while A's job 6 is between its count and its check
    const path = freshPath();
    const [a, b] = [new JobJournal(path, { maxLines: 10 }), new JobJournal(path, { maxLines: 10 })];
    for (let i = 1; i <= 5; i++) await a.record(entry(i));
    const { stat } = journalIo;
    let armed = true;
    vi.spyOn(journalIo, "stat").mockImplementation((async (...args: Parameters<typeof stat>) => {
      if (armed) {
        armed = false;
        await b.record(entry(7));
      }
      return stat(...args);
    }) as typeof stat);
    // Act
    await a.record(entry(6));
    // Assess
    expect(armed).toBe(false);
    expect(await seen(path)).toEqual([7, 6, 5, 4, 3, 2, 1]); // by submit time, whichever file or line each landed in
    expect(lines(`${path}.1`)).toHaveLength(5);
  });
});

describe("a torn line (a crash mid-write) is skipped, in either file, and never glued to the next", () => {
  it("one torn by another process after this one counted the file is closed by this one's next append", async () => {
    // Prepare: a long-running client has counted the file; another process then tears a line
    const path = freshPath();
    const j = new JobJournal(path);
    await j.record(entry(1));
    appendFileSync(path, lineOf(2).slice(0, 40));
    // Act
    await j.record(entry(3));
    await j.record(entry(4));
    // Assess
    expect(await seen(path)).toEqual([4, 3, 1]);
  });

  it("a torn last line of .1 is not glued to the current file's first", async () => {
    // Prepare: the file was torn, then rotated (as another process's rotation leaves it)
    const path = freshPath();
    writeFileSync(`${path}.1`, lineOf(1) + lineOf(2).slice(0, 40));
    writeFileSync(path, lineOf(3) + lineOf(4));
    // Act
    const read = await seen(path);
    // Assess
    expect(read).toEqual([4, 3, 1]);
  });

  it("a file rotated with a torn last line: the next line starts the new file, whole", async () => {
    // Prepare: a full file whose last line is torn
    const path = freshPath();
    writeFileSync(path, [1, 2, 3, 4, 5].map((i) => lineOf(i)).join("") + lineOf(6).slice(0, 40));
    // Act
    await new JobJournal(path, { maxLines: 10 }).record(entry(7));
    // Assess
    expect(names(path)).toEqual([7]);
    expect(readFileSync(path, "utf8").endsWith("}\n")).toBe(true);
    expect(await seen(path)).toEqual([7, 5, 4, 3, 2, 1]);
  });
});
