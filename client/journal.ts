/**
 * The requester's own list of the jobs it submitted (`cocoon jobs`), kept on its machine: the
 * coordinator keeps no index of an account's jobs (one more write per job, issue 12), and which
 * jobs a requester asked is its own business. With `CocoonClient({ journal })` the SDK records each
 * job here BEFORE its submit leaves, so a process killed mid-ask (kill -9, a closed terminal) still
 * leaves the id of a job that may run and be billed; a submit that never landed reads back as
 * unknown_job (`cocoon jobs` says "not submitted").
 *
 * One JSON line per job, appended with one write and fsync'd: ids and amounts only, never a prompt
 * or a key. Each line names its account and API: a journal shared by two keys (or one key used
 * on two networks) lists each one's jobs apart, never mixed.
 *
 * Once a job's answer is checked, a second line keeps the receipt the SDK checked it with
 * (JournalReceipt, session 42): `cocoon receipts verify` compares the anchored receipt with it,
 * which binds the proof to the answer the requester received, not to the receipt the coordinator
 * answers today. A receipt holds hashes, usage, ids and a signature, never a prompt or an answer.
 * That line is not fsync'd: a crash that loses it only leaves verify comparing with the
 * coordinator's receipt, and saying so. Readers of the job lines (this file's before session 42
 * too) skip it: it lacks a job line's model, createdAt and maxCost, so it does not parse as one. A torn last line (a crash mid-write)
 * is skipped on read, and each append that finds the file not ending in a newline closes it in
 * the same write, so that it never swallows the job's line, whoever tore it and whenever.
 *
 * Bounded by rotation, with no lock: once the file holds half of `maxLines`, it is renamed to
 * `<file>.1` (replacing the older one) and the next append starts a new file. Readers read both,
 * so the journal keeps between half and all of the bound, the newest always. A rename loses no
 * line: a process that opened the file before it appends into the renamed file, still read as
 * `.1`. (Rewriting the file with its newest lines, as it once did, lost a line another process
 * of the same key appended between the read and the rename over it.)
 *
 * What two processes of one key can still do to each other, with no lock:
 * - two rotations at once: A counted the file full and finds it still under its name, and in the
 *   moment before A's rename B renames it to `.1` and an append starts a new file; A's rename then
 *   puts that new file (a few lines) over B's `.1`, and the older half leaves early. The newest
 *   lines stay; the history, bounded anyway, is shorter once. Only a lock would close that moment
 *   (a rename that refuses to replace is not in node), and the older half is not worth one.
 * - in that same moment, an append that opened the file before B's rename and writes after A's
 *   writes into a file no longer named: its line is lost. Both renames would have to fall between
 *   one append's open and its write, microseconds apart.
 * - each process counts the file at its first record and at each rotation, and adds its own
 *   appends: with several writers the file can pass half the bound (by up to half of it per other
 *   writer) before one of them counts it again. Each recounts before it rotates, so none rotates a
 *   file that is not full, and none leaves a short `.1` for stale counts.
 * - a line torn by another process (a short write on a full disk) between an append's look at the
 *   last byte and its write is glued to the appended line, which is then skipped on read. A look
 *   racing another's whole append only adds an empty line, skipped.
 */
import { mkdir, open, readFile, rename, stat, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";
import { ApiError } from "../api-client/api";
import { sameApiUrl } from "../api-client/settings";
import { TabId, type JobView } from "../events/api";
import { AccountId, JobId, ModelName, NanoTonString } from "../events/common";
import { Receipt } from "../events/envelope";

/** How many jobs a journal keeps at least (JOURNAL_MAX_LINES's bound, before session 42 one line each). */
export const JOURNAL_MAX_JOBS = 10_000;

/**
 * How many lines a journal keeps by default: two per job (its line and its answer's receipt), so
 * that it keeps as many jobs as it did with one line each: the newest 10,000 (about 10 MB: a job's
 * line is about 250 bytes, its receipt's about 750).
 */
export const JOURNAL_MAX_LINES = 2 * JOURNAL_MAX_JOBS;

/** How many jobs `cocoon jobs` reads from the coordinator at once. */
export const JOURNAL_READ_CONCURRENCY = 4;

export const JournalEntry = z.object({
  v: z.literal(1),
  account: AccountId,
  /** the coordinator's API the job was submitted to */
  api: z.string(),
  jobId: JobId,
  model: ModelName,
  /** ms, this client's clock, when its submit was about to be sent */
  createdAt: z.number().int(),
  /** nanoTON the job may cost: held for it (or, under a tab, by the tab) until it ends */
  maxCost: NanoTonString,
  /** issue 12: the tab slot it drew on (its job id is the slot's) */
  tab: z.object({ tabId: TabId, slot: z.number().int().nonnegative() }).optional(),
});
export type JournalEntry = z.infer<typeof JournalEntry>;

/** The receipt the SDK checked a job's answer with: the one its anchored receipt must be. */
export const JournalReceipt = z.object({
  v: z.literal(1),
  account: AccountId,
  api: z.string(),
  jobId: JobId,
  receipt: Receipt,
});
export type JournalReceipt = z.infer<typeof JournalReceipt>;

/** The journal could not be written: the job was not submitted (no id of it would be left if it ran). */
export class JobJournalError extends Error {
  override readonly name = "JobJournalError";
  readonly code = "journal_unwritable";
  constructor(path: string, cause: unknown) {
    super(
      `cannot record the job in the journal ${path} (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}): nothing was submitted`,
      { cause },
    );
  }
}

/**
 * The file system calls that races between processes of one key fall between, in one object so
 * that a test can run another journal's record at one of them (api-client/durable-file.ts's
 * durableIo does the same).
 */
export const journalIo = { open, stat, rename };

const errnoOf = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** A line as `schema`; undefined for a torn line (a crash mid-write), one of the other kind, or one cocoon did not write. */
function parseLine<T>(schema: z.ZodType<T>, line: string): T | undefined {
  if (line.trim() === "") return undefined;
  try {
    return schema.safeParse(JSON.parse(line)).data;
  } catch {
    return undefined;
  }
}

export class JobJournal {
  /** lines at which the file is rotated to `.1`: the two files hold at most maxLines */
  private readonly rotateAt: number;
  /** lines in the file as this journal last counted them, plus its appends since (undefined: not counted yet) */
  private lines: number | undefined;
  private counting: Promise<void> | undefined;

  constructor(
    readonly path: string,
    o: { maxLines?: number } = {},
  ) {
    this.rotateAt = Math.max(1, Math.floor((o.maxLines ?? JOURNAL_MAX_LINES) / 2));
  }

  /** Appends `entry` (one write, fsync'd): when this resolves, the line is on disk. Throws JobJournalError. */
  async record(entry: Omit<JournalEntry, "v">): Promise<void> {
    try {
      await this.add(JSON.stringify(JournalEntry.parse({ v: 1, ...entry })) + "\n", true);
    } catch (e) {
      throw new JobJournalError(this.path, e);
    }
  }

  /**
   * Appends the receipt a job's answer was checked with (one write, not fsync'd: the answer is
   * the caller's whether or not this line survives a crash). Throws the file system's error.
   */
  async keepReceipt(kept: Omit<JournalReceipt, "v">): Promise<void> {
    await this.add(JSON.stringify(JournalReceipt.parse({ v: 1, ...kept })) + "\n", false);
  }

  /**
   * The receipt kept for `account`'s job `jobId` on `api` (keepReceipt), the newest if there are
   * several; undefined when none is (a journal from before session 42, a job whose answer was
   * never checked, or one rotated out).
   */
  async receiptOf(account: string, api: string, jobId: string): Promise<Receipt | undefined> {
    // the current file first, each from its end: the newest line wins
    for (const file of [this.path, `${this.path}.1`]) {
      const lines = (await readIfAny(file)).split("\n");
      for (let i = lines.length - 1; i >= 0; i--) {
        // only the lines that name the job are parsed
        if (!lines[i]!.includes(jobId)) continue;
        const k = parseLine(JournalReceipt, lines[i]!);
        if (k && k.jobId === jobId && k.account === account && sameApiUrl(k.api, api)) return k.receipt;
      }
    }
    return undefined;
  }

  /** Appends one line, counting it toward rotation; `durable`: fsync'd before this resolves. */
  private async add(line: string, durable: boolean): Promise<void> {
    // concurrent appends of one journal share one count (and rotation)
    if (this.lines === undefined || this.lines >= this.rotateAt)
      await (this.counting ??= this.countOrRotate().finally(() => (this.counting = undefined)));
    await this.append(line, durable);
    this.lines = (this.lines ?? 0) + 1;
  }

  /**
   * `account`'s jobs on `api`, newest first by when each was submitted (createdAt, this machine's
   * clock), at most `limit`. Not by the journal's order: processes of one key (cocoon serve and a
   * cocoon ask, two asks) append as their records land, not as their jobs were submitted, and a
   * rotation between the two reads below would put `.1`'s jobs after the current file's. Ties
   * keep the journal's order, newest line first. No file yet: none.
   */
  async entries(account: string, api: string, limit = Infinity): Promise<JournalEntry[]> {
    const found: Array<JournalEntry & { line: number }> = [];
    // the current file first, each from its end: a job rotated into `.1` between the two reads is
    // listed once, from its newer line (read the other way round, it would be missed)
    const seen = new Set<string>();
    let line = 0;
    for (const file of [this.path, `${this.path}.1`]) {
      // each file's lines apart, so that a line torn at the end of `.1` is not glued to the first
      // of the next; every line is parsed (at most JOURNAL_MAX_LINES): the newest by time may be
      // anywhere near the end
      const lines = (await readIfAny(file)).split("\n");
      for (let i = lines.length - 1; i >= 0; i--) {
        const e = parseLine(JournalEntry, lines[i]!);
        if (!e || e.account !== account || !sameApiUrl(e.api, api) || seen.has(e.jobId)) continue;
        seen.add(e.jobId);
        found.push({ ...e, line: line++ });
      }
    }
    found.sort((a, b) => b.createdAt - a.createdAt || a.line - b.line);
    return found.slice(0, limit).map(({ line: _line, ...e }) => e);
  }

  /**
   * Counts the file's lines; once they reach rotateAt, renames it to `.1`, if it is still the file
   * counted: another process may have rotated it since, and renaming the new one would drop the
   * `.1` it just made.
   */
  private async countOrRotate(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    let fh: FileHandle;
    try {
      fh = await journalIo.open(this.path, "r");
    } catch (e) {
      if (errnoOf(e) !== "ENOENT") throw e;
      this.lines = 0;
      return;
    }
    let counted: { lines: number; ino: number };
    try {
      const text = await fh.readFile("utf8");
      counted = { lines: text.split("\n").filter((l) => l.trim() !== "").length, ino: (await fh.stat()).ino };
    } finally {
      await fh.close();
    }
    this.lines = counted.lines < this.rotateAt ? counted.lines : 0;
    if (counted.lines < this.rotateAt) return;
    try {
      if ((await journalIo.stat(this.path)).ino === counted.ino) await journalIo.rename(this.path, `${this.path}.1`);
    } catch (e) {
      if (errnoOf(e) !== "ENOENT") throw e; // rotated by another process meanwhile
    }
  }

  private async append(line: string, durable: boolean): Promise<void> {
    const fh = await journalIo.open(this.path, "a+", 0o600);
    try {
      // a line torn by a crash (no newline at the file's end) is closed in this line's own write;
      // the end byte is looked at each time, as another process may have torn it since this one counted
      const { size } = await fh.stat();
      const last = Buffer.alloc(1);
      const torn = size > 0 && (await fh.read(last, 0, 1, size - 1)).bytesRead === 1 && last[0] !== NEWLINE;
      await fh.appendFile(torn ? "\n" + line : line);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

const NEWLINE = 0x0a;

/** `file`'s text; none ("") where there is no such file. */
async function readIfAny(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return "";
    throw e;
  }
}

/** A journal's job as `cocoon jobs` shows it: what the coordinator says of it, or that its submit never landed. */
export interface JournaledJob {
  entry: JournalEntry;
  /** undefined: the coordinator has no such job (unknown_job): its submit never landed, nothing was held */
  job?: JobView;
  /** the coordinator no longer keeps the job's records (410 job_records_expired: it ended longer ago than it keeps jobs) */
  expired?: true;
}

/**
 * Each entry's job read with `read` (GET /v1/jobs/{id}), `concurrency` at a time, in the entries'
 * order. unknown_job is an answer (not submitted), and so is job_records_expired (expired); any
 * other failure is thrown.
 */
export async function readJournaled(
  entries: JournalEntry[],
  read: (jobId: string) => Promise<JobView>,
  concurrency = JOURNAL_READ_CONCURRENCY,
): Promise<JournaledJob[]> {
  const out: JournaledJob[] = new Array(entries.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < entries.length; i = next++) {
      const entry = entries[i]!;
      try {
        out[i] = { entry, job: await read(entry.jobId) };
      } catch (e) {
        if (e instanceof ApiError && e.code === "job_records_expired") out[i] = { entry, expired: true };
        else if (e instanceof ApiError && e.code === "unknown_job") out[i] = { entry };
        else throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, entries.length) }, worker));
  return out;
}
