/**
 * The requester's local job journal (client/journal.ts): each job recorded before its submit
 * leaves, a torn last line skipped (and never gluing the next one onto it), accounts and APIs
 * kept apart, the file bounded to its newest lines (the rotation and the races between processes
 * sharing the file: journal-rotation.test.ts). The SDK's coordinator is stubbed at
 * ApiClient.request (nothing leaves the process); the CLI over a real network is cli-jobs.test.ts.
 */
import { appendFileSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { API, ApiError } from "../api-client/api";
import type { ApiRoute } from "../api-client/routes";
import { generateSigningKey } from "../core/crypto/keys";
import { newJobId } from "../core/ids";
import type { JobView } from "../events/api";
import { formatJobs, jobsRow } from "./format";
import { JobJournal, JobJournalError, readJournaled, type JournalEntry } from "./journal";
import { prepared } from "./sdk-cancel-testing";
import { devCandidate, MODEL, T0 } from "./sdk-stub-testing";
import { CocoonClient } from "./sdk";

const dir = tempDir("cocoon-journal-");
let files = 0;
const freshPath = () => join(dir, `requester-${files++}.key.jobs.jsonl`);
const API_URL = "http://127.0.0.1:9";
const PROMPT = "a prompt that must never reach the journal";
const TAB_ID = `tab_${"a".repeat(26)}`;

/** Factory: a journal line of `account` (a new one by default) on `api`, created at T0 + `i` ms. */
function entry(i: number, account = generateSigningKey().id, api = API_URL): Omit<JournalEntry, "v"> {
  return { account, api, jobId: newJobId(T0 + i), model: MODEL, createdAt: T0 + i, maxCost: "1000000" };
}

/**
 * Factory: a client journaling to `path` (drawing on tabs of 4 slots with `tabs`) whose coordinator prepares at once, opens tabs, and answers each
 * submit with `onSubmit` (called with its envelope's header as the submit is sent); every route asked is in `sent`.
 */
function stubbed(path: string, onSubmit: (header: { jobId: string; maxCost: string }) => Promise<unknown>, o: { tabs?: boolean } = {}) {
  const key = generateSigningKey();
  const c = new CocoonClient({
    apiUrl: API_URL,
    key,
    allowDev: true,
    now: () => T0,
    journal: new JobJournal(path),
    ...(o.tabs ? { tabs: { slots: 4 } } : {}),
  });
  const sent: ApiRoute[] = [];
  const routes = new Map<ApiRoute, (o: { body?: unknown }) => Promise<unknown>>([
    [API.relaySession, () => Promise.reject(new ApiError(404, "not_found", "no relay"))],
    [API.prepareJob, () => Promise.resolve(prepared(key.id, [devCandidate()]))],
    [
      API.openTab,
      () =>
        Promise.resolve({
          tab: { v: 1, tabId: TAB_ID, requester: key.id, slots: 4, slotCost: "1000000", expiresAt: T0 + 300_000, mac: "AAAA" },
          status: "open",
          closesAfter: T0 + 420_000,
        }),
    ],
    [API.submitJob, ({ body }) => onSubmit((body as { envelope: { header: { jobId: string; maxCost: string } } }).envelope.header)],
  ]);
  c.api.request = (async (route: ApiRoute, ro: { body?: unknown } = {}) => {
    sent.push(route);
    const h = routes.get(route);
    if (!h) throw new Error(`stub: no answer for ${route.path}`);
    return h(ro);
  }) as typeof c.api.request;
  return { c, sent, account: key.id };
}

const lines = (path: string) => readFileSync(path, "utf8").split("\n").filter(Boolean);

describe("the SDK records each job in its journal before the submit leaves", () => {
  it("the job's line is on disk when its submit is sent (a process killed then still has the id); a refused submit leaves it too", async () => {
    // Prepare: a coordinator that reads the journal as the submit arrives, then refuses it (402: nothing held)
    const path = freshPath();
    let atSubmit: { jobId: string; maxCost: string; onDisk: string[] } | undefined;
    const { c, account } = stubbed(path, ({ jobId, maxCost }) => {
      atSubmit = { jobId, maxCost, onDisk: lines(path) };
      return Promise.reject(new ApiError(402, "insufficient_funds", "deposit more"));
    });
    // Act
    const asked = c.ask({ model: MODEL, messages: [{ role: "user", content: PROMPT }], tiers: ["dev"] });
    // Assess
    await expect(asked).rejects.toMatchObject({ code: "insufficient_funds" });
    expect(atSubmit?.onDisk.map((l) => JSON.parse(l))).toEqual([
      { v: 1, account, api: API_URL, jobId: atSubmit!.jobId, model: MODEL, createdAt: T0, maxCost: atSubmit!.maxCost },
    ]);
    expect(readFileSync(path, "utf8")).not.toContain(PROMPT);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect((await new JobJournal(path).entries(account, API_URL)).map((e) => e.jobId)).toEqual([atSubmit!.jobId]);
  });

  it("under a tab, each job's line names its tab and slot", async () => {
    // Prepare
    const path = freshPath();
    const submitted: string[] = [];
    const { c, account } = stubbed(
      path,
      ({ jobId }) => (submitted.push(jobId), Promise.reject(new ApiError(402, "insufficient_funds", "no"))),
      {
        tabs: true,
      },
    );
    // Act
    for (let i = 0; i < 2; i++)
      await expect(c.ask({ model: MODEL, messages: [{ role: "user", content: PROMPT }], tiers: ["dev"] })).rejects.toMatchObject({
        code: "insufficient_funds",
      });
    // Assess
    const entries = await new JobJournal(path).entries(account, API_URL);
    expect(entries.map((e) => [e.jobId, e.tab])).toEqual([
      [submitted[1], { tabId: TAB_ID, slot: 1 }],
      [submitted[0], { tabId: TAB_ID, slot: 0 }],
    ]);
  });

  it("a journal that cannot be written fails the ask with journal_unwritable, and nothing is submitted", async () => {
    // Prepare: the journal's folder is a file
    const blocker = join(dir, `not-a-folder-${files++}`);
    writeFileSync(blocker, "");
    const { c, sent } = stubbed(join(blocker, "jobs.jsonl"), () => Promise.resolve({ jobId: "never", status: "assigned" }));
    // Act
    const asked = c.ask({ model: MODEL, messages: [{ role: "user", content: PROMPT }], tiers: ["dev"] });
    // Assess
    await expect(asked).rejects.toBeInstanceOf(JobJournalError);
    await expect(asked).rejects.toMatchObject({ code: "journal_unwritable" });
    expect(sent).not.toContain(API.submitJob);
  });
});

describe("JobJournal", () => {
  it("a torn last line (a crash mid-write) is skipped on read, and the next job's line is not glued onto it", async () => {
    // Prepare
    const path = freshPath();
    const account = generateSigningKey().id;
    const j = new JobJournal(path);
    await j.record(entry(1, account));
    await j.record(entry(2, account));
    appendFileSync(path, JSON.stringify({ v: 1, ...entry(3, account) }).slice(0, 40));
    // Act
    const torn = await new JobJournal(path).entries(account, API_URL);
    const next = entry(4, account);
    await new JobJournal(path).record(next);
    const after = await new JobJournal(path).entries(account, API_URL);
    // Assess
    expect(torn.map((e) => e.createdAt)).toEqual([T0 + 2, T0 + 1]);
    expect(after.map((e) => e.createdAt)).toEqual([T0 + 4, T0 + 2, T0 + 1]);
    expect(after[0]).toEqual({ v: 1, ...next });
  });

  it("lists only the asking account's jobs on its API, newest first: two keys (or two networks) sharing a file never mix", async () => {
    // Prepare
    const path = freshPath();
    const [a, b] = [generateSigningKey().id, generateSigningKey().id];
    const j = new JobJournal(path);
    for (const e of [entry(1, a), entry(2, b), entry(3, a), entry(4, a, "https://api.cocoon.example"), entry(5, b)]) await j.record(e);
    // Act
    const ofA = await j.entries(a, "http://localhost:9/");
    const ofB = await j.entries(b, API_URL);
    const ofAElsewhere = await j.entries(a, "https://api.cocoon.example");
    const newestOfA = await j.entries(a, API_URL, 1);
    // Assess: loopback spellings of one API are one API (sameApiUrl)
    expect(ofA.map((e) => e.createdAt)).toEqual([T0 + 3, T0 + 1]);
    expect(ofB.map((e) => e.createdAt)).toEqual([T0 + 5, T0 + 2]);
    expect(ofAElsewhere.map((e) => e.createdAt)).toEqual([T0 + 4]);
    expect(newestOfA.map((e) => e.createdAt)).toEqual([T0 + 3]);
    expect(await new JobJournal(join(dir, "none.jsonl")).entries(a, API_URL)).toEqual([]);
  });

  it("walk40: lists by submit time, not by the journal's order: records landing out of order (two processes), and --limit the newest by time", async () => {
    // Prepare: cocoon serve's job at T0+2 lands after an ask's at T0+3, and one at T0+4 before both (its record was quicker)
    const path = freshPath();
    const account = generateSigningKey().id;
    const j = new JobJournal(path);
    for (const i of [1, 4, 3, 2, 5]) await j.record(entry(i, account));
    // Act
    const all = await j.entries(account, API_URL);
    const newestTwo = await j.entries(account, API_URL, 2);
    const tied = freshPath();
    const t = new JobJournal(tied);
    const [first, second] = [entry(7, account), { ...entry(8, account), createdAt: T0 + 7 }];
    for (const e of [first, second]) await t.record(e);
    // Assess: newest first by createdAt; equal times keep the journal's newest line first
    expect(all.map((e) => e.createdAt - T0)).toEqual([5, 4, 3, 2, 1]);
    expect(newestTwo.map((e) => e.createdAt - T0)).toEqual([5, 4]);
    expect((await t.entries(account, API_URL)).map((e) => e.jobId)).toEqual([second.jobId, first.jobId]);
  });

  it("is bounded: past maxLines it keeps its newest lines (in two files, rotated at half), in order, whoever wrote the rest", async () => {
    // Prepare: 30 lines written by another process, then a client of maxLines 10 records 25 jobs
    const path = freshPath();
    const account = generateSigningKey().id;
    writeFileSync(path, Array.from({ length: 30 }, (_, i) => JSON.stringify({ v: 1, ...entry(i, account) }) + "\n").join(""));
    const j = new JobJournal(path, { maxLines: 10 });
    // Act
    for (let i = 100; i < 125; i++) await j.record(entry(i, account));
    // Assess: the last rotation came at job 120, with 115–119 in the file
    const kept = await j.entries(account, API_URL);
    expect(lines(path).length + lines(`${path}.1`).length).toBeLessThanOrEqual(10);
    expect(kept.map((e) => e.createdAt - T0)).toEqual(Array.from({ length: 10 }, (_, i) => 124 - i));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(`${path}.1`).mode & 0o777).toBe(0o600);
  });
});

describe("readJournaled", () => {
  const view = (jobId: string): JobView => ({
    jobId,
    status: "completed",
    model: MODEL,
    attempt: 0,
    maxCost: "1000000",
    cost: "1234",
    createdAt: T0,
    updatedAt: T0,
  });

  it("reads each job a few at a time, in the journal's order; unknown_job is a submit that never landed, any other failure is thrown", async () => {
    // Prepare
    const account = generateSigningKey().id;
    const entries = Array.from({ length: 10 }, (_, i) => ({ v: 1 as const, ...entry(i, account) }));
    const lost = entries[3]!.jobId;
    let inFlight = 0;
    let most = 0;
    const read = async (jobId: string) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      if (jobId === lost) throw new ApiError(404, "unknown_job", `no job ${jobId}`);
      return view(jobId);
    };
    // Act
    const rows = await readJournaled(entries, read, 4);
    const failed = readJournaled(entries, () => Promise.reject(new ApiError(0, "unreachable", "no coordinator")));
    // Assess
    expect(rows.map((r) => r.entry.jobId)).toEqual(entries.map((e) => e.jobId));
    expect(rows.map((r) => r.job?.status)).toEqual(entries.map((e) => (e.jobId === lost ? undefined : "completed")));
    expect(most).toBe(4);
    await expect(failed).rejects.toMatchObject({ code: "unreachable" });
  });

  it("session 42: a job whose records the coordinator no longer keeps (410 job_records_expired) is listed as expired, not as never submitted", async () => {
    // Prepare
    const account = generateSigningKey().id;
    const entries = Array.from({ length: 3 }, (_, i) => ({ v: 1 as const, ...entry(i, account) }));
    const [old, lost] = [entries[0]!.jobId, entries[1]!.jobId];
    const read = async (jobId: string) => {
      if (jobId === old) throw new ApiError(410, "job_records_expired", "older than the coordinator keeps jobs");
      if (jobId === lost) throw new ApiError(404, "unknown_job", `no job ${jobId}`);
      return view(jobId);
    };
    // Act
    const rows = (await readJournaled(entries, read)).map(jobsRow);
    // Assess
    expect(rows.map((r) => r.status)).toEqual(["expired", "not_submitted", "completed"]);
    expect(formatJobs(rows, "j.jsonl")).toContain(`${old}  ${new Date(entries[0]!.createdAt).toISOString()}  ${MODEL}  records expired`);
  });
});
