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
 * on two networks) lists each one's jobs apart, never mixed. A torn last line (a crash mid-write)
 * is skipped on read, and closed with a newline before the next append so that it never swallows
 * the next job's line. Bounded: once it holds `maxLines` lines, the next open (a client's first
 * record, or the first past the bound) rewrites it with its newest lines, a tenth of the bound
 * left free so that it is rewritten once per that many jobs, not at each.
 */
import { mkdir, open, readFile, rename } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";
import { ApiError } from "../api-client/api";
import { sameApiUrl } from "../api-client/settings";
import { TabId, type JobView } from "../events/api";
import { AccountId, JobId, ModelName, NanoTonString } from "../events/common";

/** How many lines a journal keeps by default: the newest 10,000 jobs (about 2.5 MB). */
export const JOURNAL_MAX_LINES = 10_000;

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

const errnoOf = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** A line's journal entry; undefined for a torn line (a crash mid-write) or one cocoon did not write. */
function parseLine(line: string): JournalEntry | undefined {
  if (line.trim() === "") return undefined;
  try {
    return JournalEntry.safeParse(JSON.parse(line)).data;
  } catch {
    return undefined;
  }
}

export class JobJournal {
  private readonly maxLines: number;
  /** lines in the file as this journal last counted them (undefined: not opened yet) */
  private lines: number | undefined;
  private opening: Promise<void> | undefined;

  constructor(
    readonly path: string,
    o: { maxLines?: number } = {},
  ) {
    this.maxLines = Math.max(2, o.maxLines ?? JOURNAL_MAX_LINES);
  }

  /** Appends `entry` (one write, fsync'd): when this resolves, the line is on disk. Throws JobJournalError. */
  async record(entry: Omit<JournalEntry, "v">): Promise<void> {
    const line = JSON.stringify(JournalEntry.parse({ v: 1, ...entry })) + "\n";
    try {
      if (this.lines === undefined || this.lines >= this.maxLines)
        await (this.opening ??= this.open().finally(() => (this.opening = undefined)));
      await this.append(line);
    } catch (e) {
      throw new JobJournalError(this.path, e);
    }
    this.lines = (this.lines ?? 0) + 1;
  }

  /** `account`'s jobs on `api`, newest first, at most `limit`. No file yet: none. */
  async entries(account: string, api: string, limit = Infinity): Promise<JournalEntry[]> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (e) {
      if (errnoOf(e) === "ENOENT") return [];
      throw e;
    }
    // from the end: only the newest `limit` are parsed, not the whole file (up to maxLines)
    const lines = text.split("\n");
    const found: JournalEntry[] = [];
    for (let i = lines.length - 1; i >= 0 && found.length < limit; i--) {
      const e = parseLine(lines[i]!);
      if (e && e.account === account && sameApiUrl(e.api, api)) found.push(e);
    }
    return found;
  }

  /**
   * Counts the file's lines; at the bound, rewrites it with its newest entries (to a temporary
   * file, renamed over: a crash leaves the old journal or the new one); a torn last line is
   * closed with a newline. A job another process appends between this read and the rename is
   * lost from the journal (a race once per maxLines / 10 jobs, between two clients of one key).
   */
  private async open(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    let text = "";
    try {
      text = await readFile(this.path, "utf8");
    } catch (e) {
      if (errnoOf(e) !== "ENOENT") throw e;
    }
    const count = text.split("\n").filter((l) => l.trim() !== "").length;
    if (count < this.maxLines) {
      if (text !== "" && !text.endsWith("\n")) await this.append("\n");
      this.lines = count;
      return;
    }
    const kept = text
      .split("\n")
      .flatMap((l) => parseLine(l) ?? [])
      .slice(-(this.maxLines - Math.ceil(this.maxLines / 10)));
    const tmp = `${this.path}.${process.pid}.tmp`;
    const fh = await open(tmp, "w", 0o600);
    try {
      await fh.writeFile(kept.map((e) => JSON.stringify(e) + "\n").join(""));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
    this.lines = kept.length;
  }

  private async append(text: string): Promise<void> {
    const fh = await open(this.path, "a", 0o600);
    try {
      await fh.appendFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

/** A journal's job as `cocoon jobs` shows it: what the coordinator says of it, or that its submit never landed. */
export interface JournaledJob {
  entry: JournalEntry;
  /** undefined: the coordinator has no such job (unknown_job): its submit never landed, nothing was held */
  job?: JobView;
}

/**
 * Each entry's job read with `read` (GET /v1/jobs/{id}), `concurrency` at a time, in the entries'
 * order. unknown_job is an answer (not submitted); any other failure is thrown.
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
        if (!(e instanceof ApiError && e.code === "unknown_job")) throw e;
        out[i] = { entry };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, entries.length) }, worker));
  return out;
}
