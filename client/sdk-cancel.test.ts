/**
 * Cancelling a job from the requester's side: CocoonClient.cancel (POST /v1/jobs/{id}/cancel,
 * its answer parsed at the edge) and the cancel an abort of a caller's signal sends once the
 * job's submit went out (once, in the background, never thrown into the caller). The
 * coordinator is stubbed at ApiClient (nothing leaves the process).
 */
import { describe, expect, it } from "vitest";
import { API, ApiError } from "../api-client/api";
import { generateSigningKey } from "../core/crypto/keys";
import { newJobId } from "../core/ids";
import { CocoonClient, finishReasonOf, type AskOptions } from "./sdk";
import type { ApiRoute } from "../api-client/routes";
import { cancelRig as rig, pending, until, type Handler } from "./sdk-cancel-testing";
import { MODEL, T0 } from "./sdk-stub-testing";

const ask = (signal: AbortSignal): AskOptions => ({ model: MODEL, messages: [{ role: "user", content: "hi" }], signal, tiers: ["dev"] });

/** How `p` settled: its value, or the error's name and code. */
const settled = (p: Promise<unknown>) =>
  p.then(
    () => "resolved",
    // (a DOMException's numeric code is not ours)
    (e: Error & { code?: unknown; jobId?: unknown }) => ({
      name: e.name,
      ...(typeof e.code === "string" ? { code: e.code } : {}),
      ...(typeof e.jobId === "string" ? { jobId: e.jobId } : {}),
    }),
  );

// ---------------------------------------------------------------- cancel()
describe("cancel: POST /v1/jobs/{id}/cancel, its answer parsed at the edge", () => {
  /** A client whose coordinator answers the cancel with `json` as it arrives off the wire (the schema check runs). */
  function wire(json: unknown) {
    const c = new CocoonClient({ apiUrl: "http://127.0.0.1:9", key: generateSigningKey(), allowDev: true, now: () => T0 });
    const asked: Array<{ method: string; path: string }> = [];
    c.api.requestJson = (async (method: string, path: string) => {
      asked.push({ method, path });
      return json;
    }) as typeof c.api.requestJson;
    return { c, asked };
  }

  it("posts to the job's cancel path and answers the coordinator's view: cancelled now, or already ended", async () => {
    // Prepare
    const jobId = newJobId(T0);
    const now = wire({ jobId, status: "assigned", cancelled: true, cancelledAt: T0 });
    const ended = wire({ jobId, status: "completed", cancelled: false });
    // Act
    const a = await now.c.cancel(jobId);
    const b = await ended.c.cancel(jobId);
    // Assess
    expect(now.asked).toEqual([{ method: "POST", path: `/v1/jobs/${jobId}/cancel` }]);
    expect(a).toEqual({ jobId, status: "assigned", cancelled: true, cancelledAt: T0 });
    expect(b).toEqual({ jobId, status: "completed", cancelled: false });
  });

  it("a malformed answer is refused (bad_response), not cast", async () => {
    // Prepare
    const jobId = newJobId(T0);
    const answers = [
      { jobId, status: "assigned" },
      { jobId, status: "stopped", cancelled: true },
      { jobId: "x", status: "completed", cancelled: false },
      "yes",
    ];
    // Act
    const results = await Promise.all(answers.map((a) => settled(wire(a).c.cancel(jobId))));
    // Assess
    expect(results).toEqual(answers.map(() => ({ name: "ApiError", code: "bad_response" })));
  });
});

// ---------------------------------------------------------------- an abort cancels a submitted job
describe("an abort of the caller's signal cancels the job it submitted", () => {
  it("ask: an abort after the submit went out rejects with the AbortError and sends one cancel, for that job", async () => {
    // Prepare
    const x = rig();
    const ac = new AbortController();
    const asked = settled(x.c.ask(ask(ac.signal)));
    await until(() => x.submittedIds.length === 1);
    // Act
    ac.abort();
    const r = await asked;
    await x.c.settleCancels();
    // Assess
    expect(r).toEqual({ name: "AbortError" });
    expect(x.cancels()).toEqual(x.submittedIds);
    expect(x.outcomes).toEqual([{ jobId: x.submittedIds[0], ok: true }]);
  });

  it("askStream and embed: the same, one cancel for the submitted job", async () => {
    // Prepare
    const stream = rig(new Map([[API.readChunks, pending]]));
    const embed = rig();
    const a1 = new AbortController();
    const a2 = new AbortController();
    const streamed = settled(
      (async () => {
        for await (const _ of stream.c.askStream(ask(a1.signal)));
      })(),
    );
    const embedded = settled(embed.c.embed({ model: MODEL, input: "hi", tiers: ["dev"], signal: a2.signal }));
    await until(() => stream.submittedIds.length === 1 && embed.submittedIds.length === 1);
    // Act
    a1.abort();
    a2.abort();
    const results = [await streamed, await embedded];
    await Promise.all([stream.c.settleCancels(), embed.c.settleCancels()]);
    // Assess
    expect(results).toEqual([{ name: "AbortError" }, { name: "AbortError" }]);
    expect(stream.cancels()).toEqual(stream.submittedIds);
    expect(embed.cancels()).toEqual(embed.submittedIds);
  });

  it("an abort before the submit was sent cancels nothing (no job went out): during the prepare, or with the job sealed and not sent", async () => {
    // Prepare: one caller aborts while the prepare is on its way, the other once its job is sealed (just before its submit)
    const early = rig(new Map([[API.prepareJob, pending]]));
    const sealed = rig();
    const a1 = new AbortController();
    const a2 = new AbortController();
    const r1 = settled(early.c.ask(ask(a1.signal)));
    await until(() => early.sent.some((s) => s.route === API.prepareJob));
    // Act
    a1.abort();
    const r2 = await settled(sealed.c.ask({ ...ask(a2.signal), onProgress: (step) => void (step.includes("sealed") && a2.abort()) }));
    await Promise.all([early.c.settleCancels(), sealed.c.settleCancels()]);
    // Assess
    expect([await r1, r2]).toEqual([{ name: "AbortError" }, { name: "AbortError" }]);
    expect([early.submittedIds, sealed.submittedIds]).toEqual([[], []]);
    expect([early.cancels(), sealed.cancels()]).toEqual([[], []]);
  });

  it("an abort after the call ended (answered, or refused) cancels nothing", async () => {
    // Prepare: the submit is refused (402: nothing held), then the caller aborts
    const x = rig(new Map([[API.submitJob, () => Promise.reject(new ApiError(402, "insufficient_funds", "no money"))]]));
    const ac = new AbortController();
    const r = await settled(x.c.ask(ask(ac.signal)));
    // Act
    ac.abort();
    await x.c.settleCancels();
    // Assess
    expect(r).toEqual({ name: "ApiError", code: "insufficient_funds" });
    expect(x.cancels()).toEqual([]);
  });

  it("a cancel that fails is told to onCancel and never thrown: the caller still gets its AbortError", async () => {
    // Prepare
    const x = rig(new Map([[API.cancelJob, () => Promise.reject(new ApiError(503, "store_busy", "busy"))]]));
    const ac = new AbortController();
    const asked = settled(x.c.ask(ask(ac.signal)));
    await until(() => x.submittedIds.length === 1);
    // Act
    ac.abort();
    const r = await asked;
    await x.c.settleCancels();
    // Assess
    expect(r).toEqual({ name: "AbortError" });
    expect(x.outcomes).toEqual([{ jobId: x.submittedIds[0], ok: false, error: expect.objectContaining({ code: "store_busy" }) }]);
  });

  it("a cancel that overtook its own submit (404 unknown_job: the abort closed the request, not the coordinator's work) is asked once more, a second later", async () => {
    // Prepare: the coordinator has not committed the job when the first cancel arrives
    let asked = 0;
    const x = rig(
      new Map([
        [
          API.cancelJob,
          ({ params }) =>
            ++asked === 1
              ? Promise.reject(new ApiError(404, "unknown_job", "no such job"))
              : Promise.resolve({ jobId: params!.id!, status: "assigned", cancelled: true, cancelledAt: 1 }),
        ],
      ]),
    );
    const ac = new AbortController();
    const r = settled(x.c.ask(ask(ac.signal)));
    await until(() => x.submittedIds.length === 1);
    // Act
    ac.abort();
    await r;
    await x.c.settleCancels();
    // Assess: two asks for the one job, and the second one's answer is what onCancel hears
    expect(x.cancels()).toEqual([x.submittedIds[0], x.submittedIds[0]]);
    expect(x.outcomes).toEqual([{ jobId: x.submittedIds[0], ok: true }]);
  });

  it("under a tab: the slot's job is cancelled once; the slot stays spent (never given back, never taken again)", async () => {
    // Prepare
    const tabId = `tab_${"a".repeat(26)}`;
    const x = rig(
      new Map([
        [
          API.openTab,
          () =>
            Promise.resolve({
              tab: { v: 1, tabId, requester: "x", slots: 4, slotCost: "1000000", expiresAt: T0 + 300_000, mac: "AAAA" },
              status: "open",
              closesAfter: T0 + 420_000,
            }),
        ],
      ]),
      { tabs: true },
    );
    const ac = new AbortController();
    const asked = settled(x.c.ask(ask(ac.signal)));
    await until(() => x.submittedIds.length === 1);
    // Act
    ac.abort();
    await asked;
    await x.c.settleCancels();
    const next = new AbortController();
    const second = settled(x.c.ask(ask(next.signal)));
    await until(() => x.submittedIds.length === 2);
    next.abort();
    await second;
    await x.c.settleCancels();
    // Assess
    expect(x.cancels()).toEqual(x.submittedIds);
    expect(new Set(x.submittedIds).size).toBe(2);
    expect(x.c.openTabs()).toEqual([expect.objectContaining({ tabId, used: 2 })]);
  });
});

// ---------------------------------------------------------------- a timeout cancels a submitted job
describe("a call that gives up at its deadline (timeoutMs) cancels the job it submitted: its answer is sealed to a key only the call held", () => {
  const timed = (timeoutMs: number): AskOptions => ({
    model: MODEL,
    messages: [{ role: "user", content: "hi" }],
    tiers: ["dev"],
    timeoutMs,
  });

  it("ask, askStream and embed: a submit still waiting at the deadline rejects with timeout and sends one cancel, for that job", async () => {
    // Prepare: the coordinator holds every submit (the default) and every chunk read
    const asked = rig();
    const streamed = rig(new Map([[API.readChunks, pending]]));
    const embedded = rig();
    // Act
    const results = await Promise.all([
      settled(asked.c.ask(timed(50))),
      settled(
        (async () => {
          for await (const _ of streamed.c.askStream(timed(50)));
        })(),
      ),
      settled(embedded.c.embed({ model: MODEL, input: "hi", tiers: ["dev"], timeoutMs: 50 })),
    ]);
    await Promise.all([asked, streamed, embedded].map((x) => x.c.settleCancels()));
    // Assess
    // a JobTimeoutError (a VerificationError) naming the job it cancelled: it had no jobId for the caller to read the job by
    expect(results).toEqual(
      [asked, streamed, embedded].map((x) => ({ name: "JobTimeoutError", code: "timeout", jobId: x.submittedIds[0] })),
    );
    for (const x of [asked, streamed, embedded]) {
      expect(x.submittedIds).toHaveLength(1);
      expect(x.cancels()).toEqual(x.submittedIds);
      expect(x.outcomes).toEqual([{ jobId: x.submittedIds[0], ok: true }]);
    }
  });

  it("ask: a job the submit left running (answered assigned), unfinished at the deadline, is cancelled once", async () => {
    // Prepare: the submit answers at once with the job still assigned; the job's reads never end
    const x = rig(
      new Map<ApiRoute, Handler>([
        [
          API.submitJob,
          ({ body }) =>
            Promise.resolve({
              jobId: (body as { envelope: { header: { jobId: string } } }).envelope.header.jobId,
              status: "assigned",
              attempt: 0,
            }),
        ],
        [API.getJob, pending],
      ]),
    );
    // Act
    const r = await settled(x.c.ask(timed(50)));
    await x.c.settleCancels();
    // Assess
    expect(r).toEqual({ name: "JobTimeoutError", code: "timeout", jobId: x.submittedIds[0] });
    expect(x.cancels()).toEqual(x.submittedIds);
  });

  it("a deadline that passes before the submit was sent cancels nothing (no job went out)", async () => {
    // Prepare: the prepare never answers
    const x = rig(new Map([[API.prepareJob, pending]]));
    // Act
    const r = await settled(x.c.ask(timed(50)));
    await x.c.settleCancels();
    // Assess
    expect(r).toEqual({ name: "VerificationError", code: "timeout" });
    expect([x.submittedIds, x.cancels()]).toEqual([[], []]);
  });

  it("a prepare held up where no request takes its signal (a tab's open that never answers) still ends at the deadline", async () => {
    // Prepare: under tabs, the coordinator never answers the tab's open (a request sent without the call's signal)
    const x = rig(new Map([[API.openTab, pending]]), { tabs: true });
    // Act
    const r = await settled(x.c.ask(timed(50)));
    // Assess
    expect(r).toEqual({ name: "VerificationError", code: "timeout" });
    expect([x.submittedIds, x.cancels()]).toEqual([[], []]);
  }, 2_000);
});

// ---------------------------------------------------------------- finish reason
describe("finishReasonOf: a cancelled choice says so", () => {
  it('"cancelled" stays "cancelled", also beside tool calls (the choice was cut where it was, like "length")', () => {
    // Prepare
    const call = [{ id: "c", type: "function", function: { name: "f", arguments: "{" } }];
    // Act
    const reasons = [finishReasonOf({ finishReason: "cancelled" }), finishReasonOf({ finishReason: "cancelled", toolCalls: call })];
    // Assess
    expect(reasons).toEqual(["cancelled", "cancelled"]);
  });
});
