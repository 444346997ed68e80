/**
 * A submit that may have reached the coordinator unanswered (its connection lost after it went
 * out, or the coordinator's own 500) may still be taken: the coordinator may be working on it
 * while the SDK sends it again. Whatever refuses the submit sent again (its quote expired since,
 * its tab, its candidates, the funds the first one holds, a busy coordinator) says only that THAT
 * send took nothing, so the SDK reads the job (GET) until it shows, or ends in
 * JobOutcomeUnknownError: it never prepares the request again under a new job id (a second job,
 * paid twice). The coordinator is stubbed at ApiClient (nothing leaves the process); the real
 * network's case is test/lost-connection.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { API, ApiError } from "../api-client/api";
import type { ApiRoute } from "../api-client/routes";
import type { JobView } from "../events/api";
import { JobOutcomeUnknownError, type AskOptions } from "./sdk";
import { cancelRig, type Handler } from "./sdk-cancel-testing";
import { MODEL, T0 } from "./sdk-stub-testing";

/** How long the SDK tries to learn a maybe-sent job's fate in these tests (its default is 30 s). */
const RECONNECT_MS = 400;

const ask: AskOptions = { model: MODEL, messages: [{ role: "user", content: "hi" }], tiers: ["dev"] };

/** A submit whose request went out and whose answer never came (api-client/api.ts). */
const lost = () => new ApiError(0, "unreachable", "the connection to the Cocoon API was lost (socket hang up)", { requestSent: true });

/** The job as the coordinator shows it: ended (refunded, its lease ran out), so ask() rejects naming its fate. */
const refunded = (jobId: string): JobView => ({
  jobId,
  status: "refunded",
  outcome: "expired",
  model: MODEL,
  attempt: 0,
  maxCost: "1000000",
  createdAt: T0,
  updatedAt: T0,
});

const unknownJob = () => new ApiError(404, "unknown_job", "no job");

/** What the stubbed coordinator answers: an error (thrown), the job's view (ended), or a submit's answer without the view ("taken"). */
type Answer = Error | "job" | "taken";

/**
 * A client whose coordinator answers its submits with `submits` in turn (an error is thrown; the
 * last one answers every later submit) and the job's reads with `reads` (likewise); its clock runs.
 */
function rig(o: { submits: Answer[]; reads?: Answer[]; tabs?: boolean; routes?: Array<[ApiRoute, Handler]>; reconnectMs?: number }) {
  const started = Date.now();
  const answer = (list: Answer[], i: number, jobId: string) => {
    const a = list[Math.min(i, list.length - 1)]!;
    if (a === "job") return Promise.resolve(refunded(jobId));
    if (a === "taken") return Promise.resolve({ jobId, status: "assigned" });
    return Promise.reject(a);
  };
  let submits = 0;
  let reads = 0;
  const jobOf = (body: unknown) => (body as { envelope: { header: { jobId: string } } }).envelope.header.jobId;
  const x = cancelRig(
    new Map<ApiRoute, Handler>([
      [API.submitJob, ({ body }) => answer(o.submits, submits++, jobOf(body))],
      [API.getJob, ({ params }) => answer(o.reads ?? [unknownJob()], reads++, params!.id!)],
      ...(o.routes ?? []),
    ]),
    { now: () => T0 + (Date.now() - started), reconnectMs: o.reconnectMs ?? RECONNECT_MS, ...(o.tabs ? { tabs: true } : {}) },
  );
  const count = (route: ApiRoute) => x.sent.filter((s) => s.route === route).length;
  return {
    ...x,
    prepares: () => count(API.prepareJob),
    reads: () => x.sent.filter((s) => s.route === API.getJob).map((s) => s.params!.id),
  };
}

// The SDK's pauses between sends (0.25 s, doubling) and its reconnectMs window pass on a fake
// clock: the same waits, in the same order, without their seconds of real time. Nothing else
// waits here (the coordinator is a stub answering at once), so moving the clock to the next
// timer whenever the SDK has nothing else to do is what real time would do, only sooner.
beforeEach(() => void vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] }));
afterEach(() => void vi.useRealTimers());

/** `p`'s end, the fake clock moved on to each next timer while it is pending (after a real turn of the event loop). */
async function onFakeClock<T>(p: Promise<T>): Promise<T> {
  let done = false;
  const watched = p.finally(() => (done = true));
  watched.catch(() => {});
  for (let i = 0; !done && i < 1_000; i++) {
    await new Promise((r) => setImmediate(r));
    if (!done) await vi.advanceTimersToNextTimerAsync();
  }
  return watched;
}

/** How the ask ended: its error's name, code and job id. */
const outcome = (p: Promise<unknown>) =>
  onFakeClock(p).then(
    () => "resolved",
    (e: Error & { code?: unknown; jobId?: unknown }) => ({
      name: e.name,
      code: e.code,
      ...(typeof e.jobId === "string" ? { jobId: e.jobId } : {}),
    }),
  );

/** The refusals of a submit sent again that say nothing about whether an earlier send was taken. */
const REFUSALS: Array<[string, () => ApiError]> = [
  ["its quote expired since (410)", () => new ApiError(410, "quote_expired", "the price quote expired")],
  ["its quote's MAC no longer verifies (403 bad_quote: the key rotated)", () => new ApiError(403, "bad_quote", "bad quote")],
  ["a quote for another account (403 not_your_quote)", () => new ApiError(403, "not_your_quote", "not yours")],
  ["no candidate live any more (409)", () => new ApiError(409, "no_live_candidate", "none live", { candidates: ["w"] })],
  ["the header outside the quote (400, fields)", () => new ApiError(400, "invalid_request", "differs", { fields: ["maxCost"] })],
  ["the funds, which the first send holds (402)", () => new ApiError(402, "insufficient_funds", "not enough")],
  ["too many long-polls, the first's among them (429)", () => new ApiError(429, "too_many_waits", "too many")],
];

describe("a submit that may have been taken, refused when sent again: the job is read, never prepared again", () => {
  it.each(REFUSALS)("refused for %s: reads the job, and goes on with that job", async (_what, refusal) => {
    // Prepare: the first submit's answer lost, the one sent again refused; the job shows when read
    const x = rig({ submits: [lost(), refusal()], reads: ["job"] });
    // Act
    const r = await outcome(x.c.ask(ask));
    // Assess
    const [jobId] = x.submittedIds;
    expect(r).toEqual({ name: "JobRefundedError", code: "job_expired", jobId: x.submittedIds.at(-1) }); // that job's own fate, as its reads showed it
    expect(x.submittedIds).toEqual([jobId, jobId]);
    expect(x.prepares()).toBe(1);
    expect(x.reads()).toEqual([jobId]);
  });

  it("the job not there yet (404: the first send still being taken): read again until it shows", async () => {
    // Prepare: the second read finds it (the pauses: 0.25 s before the submit sent again, 0.5 and 1 s before the reads)
    const x = rig({ submits: [lost(), new ApiError(410, "quote_expired", "expired")], reads: [unknownJob(), "job"], reconnectMs: 2_500 });
    // Act
    const r = await outcome(x.c.ask(ask));
    // Assess
    const [jobId] = x.submittedIds;
    expect(r).toEqual({ name: "JobRefundedError", code: "job_expired", jobId: x.submittedIds.at(-1) });
    expect(x.reads()).toEqual([jobId, jobId]);
    expect(x.submittedIds).toEqual([jobId, jobId]);
    expect(x.prepares()).toBe(1);
  });

  it.each([
    ["tab_expired", 410],
    ["bad_tab", 403],
    ["not_your_tab", 403],
  ] as const)("under a tab, refused %s: reads the job, and neither drops the tab nor takes another slot", async (code, status) => {
    // Prepare
    const tabId = `tab_${"b".repeat(26)}`;
    const x = rig({
      submits: [lost(), new ApiError(status, code, "the tab")],
      reads: ["job"],
      tabs: true,
      routes: [
        [
          API.openTab,
          () =>
            Promise.resolve({
              tab: { v: 1, tabId, requester: "x", slots: 4, slotCost: "1000000", expiresAt: T0 + 300_000, mac: "AAAA" },
              status: "open",
              closesAfter: T0 + 420_000,
            }),
        ],
      ],
    });
    // Act
    const r = await outcome(x.c.ask(ask));
    // Assess
    const [jobId] = x.submittedIds;
    expect(r).toEqual({ name: "JobRefundedError", code: "job_expired", jobId: x.submittedIds.at(-1) });
    expect(x.submittedIds).toEqual([jobId, jobId]);
    expect((x.sent.find((s) => s.route === API.submitJob)?.body as { tab?: unknown }).tab).toBeDefined(); // it was a tab's job
    expect(x.reads()).toEqual([jobId]);
    expect(x.c.openTabs()).toEqual([expect.objectContaining({ tabId, used: 1 })]);
  });

  it("the job never shows within reconnectMs: JobOutcomeUnknownError naming it, its cancel sent, and no second job", async () => {
    // Prepare
    const x = rig({ submits: [lost(), new ApiError(410, "quote_expired", "expired")] });
    const started = Date.now();
    // Act
    const r = await outcome(x.c.ask(ask));
    await onFakeClock(x.c.settleCancels());
    // Assess
    const [jobId] = x.submittedIds;
    expect(r).toEqual({ name: "JobOutcomeUnknownError", code: "job_outcome_unknown", jobId });
    expect(Date.now() - started).toBeGreaterThanOrEqual(RECONNECT_MS);
    expect(new Set(x.submittedIds)).toEqual(new Set([jobId]));
    expect(x.prepares()).toBe(1);
    expect(x.reads().length).toBeGreaterThan(0);
    expect(x.cancels()).toEqual([jobId]);
  });

  it("a refusal that names the job id as another request's (409 job_exists) is an answer: thrown, not read", async () => {
    // Prepare: ours can never be taken under an id another job holds
    const x = rig({ submits: [lost(), new ApiError(409, "job_exists", "another's")] });
    // Act
    const r = await outcome(x.c.ask(ask));
    // Assess
    expect(r).toEqual({ name: "ApiError", code: "job_exists" });
    expect(x.reads()).toEqual([]);
    expect(x.prepares()).toBe(1);
  });

  it("the connection lost again while reading: read again, the same job", async () => {
    // Prepare
    const x = rig({ submits: [lost(), new ApiError(410, "quote_expired", "expired")], reads: [lost(), "job"], reconnectMs: 2_000 });
    // Act
    const r = await outcome(x.c.ask(ask));
    // Assess
    const [jobId] = x.submittedIds;
    expect(r).toEqual({ name: "JobRefundedError", code: "job_expired", jobId: x.submittedIds.at(-1) });
    expect(x.reads()).toEqual([jobId, jobId]);
    expect(x.submittedIds).toEqual([jobId, jobId]);
  });
});

describe("the coordinator's own failure (5xx) of a submit", () => {
  it("500 (it may have failed after the job was taken): sent again under the same key, never prepared again", async () => {
    // Prepare: the first send answered 500, the one sent again answers with the job it took
    const x = rig({ submits: [new ApiError(500, "internal_error", "internal error; reference x"), "job"] });
    // Act
    const r = await outcome(x.c.ask(ask));
    // Assess
    const [jobId] = x.submittedIds;
    expect(r).toEqual({ name: "JobRefundedError", code: "job_expired", jobId: x.submittedIds.at(-1) });
    expect(x.submittedIds).toEqual([jobId, jobId]);
    expect(x.prepares()).toBe(1);
  });

  it("500 until reconnectMs ends: JobOutcomeUnknownError for that job (its cancel sent), not a 500 an app would retry", async () => {
    // Prepare
    const x = rig({ submits: [new ApiError(500, "internal_error", "internal error; reference x")] });
    // Act
    const r = await outcome(x.c.ask(ask));
    await onFakeClock(x.c.settleCancels());
    // Assess
    const [jobId] = x.submittedIds;
    expect(r).toEqual({ name: "JobOutcomeUnknownError", code: "job_outcome_unknown", jobId });
    expect(new Set(x.submittedIds)).toEqual(new Set([jobId]));
    expect(x.cancels()).toEqual([jobId]);
  });
});

describe("a submit answered 2xx whose answer does not read (bad_response): the job was taken", () => {
  it("sent again under the same key, then the job read: never a job the caller would submit again", async () => {
    // Prepare: a coordinator of another version whose submit answers do not match this SDK's schema
    const unreadable = () => new ApiError(0, "bad_response", "the API's answer to POST /v1/jobs does not match its schema");
    const x = rig({ submits: [unreadable()], reads: ["job"] });
    // Act
    const r = await outcome(x.c.ask(ask));
    // Assess
    const [jobId] = x.submittedIds;
    expect(r).toEqual({ name: "JobRefundedError", code: "job_expired", jobId: x.submittedIds.at(-1) });
    expect(x.submittedIds).toEqual([jobId, jobId]);
    expect(x.reads()).toEqual([jobId]);
    expect(x.prepares()).toBe(1);
  });
});

describe("a read of a submitted job that fails (5xx) or is turned away (429): read again, never thrown for a retry", () => {
  it("500, then 429, then the job: the same job's answer", async () => {
    // Prepare
    const x = rig({
      submits: ["taken"],
      reads: [new ApiError(500, "internal_error", "internal error; reference x"), new ApiError(429, "too_many_waits", "too many"), "job"],
      reconnectMs: 2_500,
    });
    // Act
    const r = await outcome(x.c.ask(ask));
    // Assess
    const [jobId] = x.submittedIds;
    expect(r).toEqual({ name: "JobRefundedError", code: "job_expired", jobId: x.submittedIds.at(-1) });
    expect(x.submittedIds).toEqual([jobId]);
    expect(x.reads()).toEqual([jobId, jobId, jobId]);
  });

  it("failing until reconnectMs ends: JobOutcomeUnknownError (submitted), its cancel sent", async () => {
    // Prepare
    const x = rig({ submits: ["taken"], reads: [new ApiError(500, "internal_error", "internal error; reference x")] });
    // Act
    const r = await outcome(x.c.ask(ask));
    await onFakeClock(x.c.settleCancels());
    // Assess
    const [jobId] = x.submittedIds;
    expect(r).toEqual({ name: "JobOutcomeUnknownError", code: "job_outcome_unknown", jobId });
    expect(x.cancels()).toEqual([jobId]);
  });

  it("a refusal of the read that is not a failure (404) is thrown as before", async () => {
    // Prepare
    const x = rig({ submits: ["taken"], reads: [unknownJob()] });
    // Act
    const r = await outcome(x.c.ask(ask));
    // Assess
    expect(r).toEqual({ name: "ApiError", code: "unknown_job" });
    expect(x.reads()).toHaveLength(1);
  });
});

describe("a submit refused with nothing of it possibly taken: as before", () => {
  it("its only send refused (410 quote_expired): a fresh quote and a new job id, which is safe", async () => {
    // Prepare
    const x = rig({ submits: [new ApiError(410, "quote_expired", "expired"), "job"] });
    // Act
    const r = await outcome(x.c.ask(ask));
    // Assess
    expect(r).toEqual({ name: "JobRefundedError", code: "job_expired", jobId: x.submittedIds.at(-1) });
    expect(x.prepares()).toBe(2);
    expect(new Set(x.submittedIds).size).toBe(2);
    expect(x.reads()).toEqual([]);
  });

  it("503 (the coordinator did nothing), or a submit that never left this machine: thrown at once", async () => {
    // Prepare
    const busy = rig({ submits: [new ApiError(503, "policy_stale", "stale")] });
    const refused = rig({ submits: [new ApiError(0, "unreachable", "refused", { requestSent: false })] });
    // Act
    const a = await outcome(busy.c.ask(ask));
    const b = await outcome(refused.c.ask(ask));
    // Assess
    expect(a).toEqual({ name: "ApiError", code: "policy_stale" });
    expect(b).toEqual({ name: "ApiError", code: "unreachable" });
    expect([busy.submittedIds.length, refused.submittedIds.length]).toEqual([1, 1]);
    expect([...busy.reads(), ...refused.reads()]).toEqual([]);
  });
});

it("JobOutcomeUnknownError of a submit says the job may have been submitted and names it", () => {
  // Prepare
  const e = new JobOutcomeUnknownError("job_0123456789abcdefghijklmnop", false, 30_000, lost());
  // Assess
  expect(e.message).toMatch(
    /^job job_0123456789abcdefghijklmnop may have been submitted, .* within 30 s: the job may still complete and be billed/,
  );
});

describe("a submit that may have been taken, refused when sent again: its id voided first (POST /v1/jobs/{id}/void)", () => {
  const voided = (voidAnswers: Array<Error | { voided: boolean; status?: "assigned" }>) => {
    let i = 0;
    return [
      API.voidJob,
      ({ params }) => {
        const a = voidAnswers[Math.min(i++, voidAnswers.length - 1)]!;
        return a instanceof Error ? Promise.reject(a) : Promise.resolve({ jobId: params!.id!, ...a });
      },
    ] as [ApiRoute, Handler];
  };
  const voids = (x: ReturnType<typeof rig>) => x.sent.filter((s) => s.route === API.voidJob).map((s) => s.params!.id);

  it("voided (the first send never taken, and never will be): prepared again at once under a new job id, that job's fate answered", async () => {
    // Prepare: lost, then refused for its quote; the void wins; the new job is taken and ends as read
    const x = rig({
      submits: [lost(), new ApiError(410, "quote_expired", "expired"), "taken"],
      reads: ["job"],
      routes: [voided([{ voided: true }])],
      reconnectMs: 60_000,
    });
    const started = Date.now();
    // Act
    const r = await outcome(x.c.ask(ask));
    // Assess
    const [first, , second] = x.submittedIds;
    expect(r).toEqual({ name: "JobRefundedError", code: "job_expired", jobId: x.submittedIds.at(-1) }); // the new job's fate
    expect(second).not.toBe(first);
    expect(x.submittedIds).toEqual([first, first, second]);
    expect(voids(x)).toEqual([first]);
    expect(x.prepares()).toBe(2);
    expect(x.reads()).toEqual([second]); // the voided id is never read
    expect(Date.now() - started).toBeLessThan(5_000); // not after reconnectMs
  });

  it("not voided, the job there (voided: false): the job is read, never prepared again", async () => {
    // Prepare
    const x = rig({
      submits: [lost(), new ApiError(410, "quote_expired", "expired")],
      reads: ["job"],
      routes: [voided([{ voided: false, status: "assigned" }])],
    });
    // Act
    const r = await outcome(x.c.ask(ask));
    // Assess
    const [jobId] = x.submittedIds;
    expect(r).toEqual({ name: "JobRefundedError", code: "job_expired", jobId: x.submittedIds.at(-1) });
    expect(voids(x)).toEqual([jobId]);
    expect(x.reads()).toEqual([jobId]);
    expect(x.prepares()).toBe(1);
  });

  it("the void unanswered (lost), then voided: the void is sent again (it is idempotent), then prepared again", async () => {
    // Prepare
    const x = rig({
      submits: [lost(), new ApiError(410, "quote_expired", "expired"), "taken"],
      reads: ["job"],
      routes: [voided([lost(), { voided: true }])],
      reconnectMs: 5_000,
    });
    // Act
    await outcome(x.c.ask(ask));
    // Assess
    const [first, , second] = x.submittedIds;
    expect(voids(x)).toEqual([first, first]);
    expect(x.prepares()).toBe(2);
    expect(x.reads()).toEqual([second]);
  });

  it("the id another account's (409 job_exists): ours was never taken; prepared again", async () => {
    // Prepare
    const x = rig({
      submits: [lost(), new ApiError(410, "quote_expired", "expired"), "taken"],
      reads: ["job"],
      routes: [voided([new ApiError(409, "job_exists", "taken")])],
    });
    // Act
    await outcome(x.c.ask(ask));
    // Assess
    const [first, , second] = x.submittedIds;
    expect(second).not.toBe(first);
    expect(x.prepares()).toBe(2);
    expect(x.reads()).toEqual([second]);
  });
});
