/**
 * Limits on voiding job ids (./void.ts): each new void writes an item kept 7 days, for any id
 * nobody used, so new voids are rate-limited per requester (`void_new`), as new tabs are. An
 * answer about an id already taken (the caller's void asked again, the caller's job, another
 * account's id) writes nothing, and is given before the limit: never counted, never refused.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_RATE_LIMITS } from "../attestation/rate-limit";
import { jobKey } from "./items";
import { jobIdempotencyKey, submitJob } from "./submit";
import { voidJob } from "./void";
import { makeJobWorld, refusal, type JobWorld } from "./testing";

/** A world whose void_new bucket holds `burst` tokens and refills one per second. */
function limitedWorld(burst: number) {
  const w = makeJobWorld();
  w.deps.config = { ...w.deps.config, rateLimits: { void_new: { burst, perMinute: 60 } } };
  return w;
}
/** A job id of `r`'s, sealed to a live worker and not submitted. */
async function sealed(w: JobWorld, r: Awaited<ReturnType<JobWorld["requester"]>>) {
  const { header, envelope, quote } = await w.sealedJob(r);
  return { jobId: header.jobId, submit: () => submitJob(w.deps, r.id, envelope, jobIdempotencyKey(header.jobId), quote) };
}

describe("voiding job ids is rate-limited per requester", () => {
  it("refuses a new void past the burst with 429 rate_limited and a Retry-After, writing nothing: the id stays free", async () => {
    // Prepare: the bucket's 2 tokens spent on 2 voids
    const w = limitedWorld(2);
    await w.worker();
    const r = await w.requester();
    const [a, b, c] = [await sealed(w, r), await sealed(w, r), await sealed(w, r)];
    await voidJob(w.deps, r.id, a.jobId);
    await voidJob(w.deps, r.id, b.jobId);
    const writes = w.transacts.length;
    // Act
    const refused = await refusal(voidJob(w.deps, r.id, c.jobId));
    // Assess: nothing written for c, whose submit still commits
    expect(refused).toMatchObject({ status: 429, code: "rate_limited" });
    expect(w.transacts.length).toBe(writes);
    expect(await w.store.get("jobs", jobKey(c.jobId))).toBeUndefined();
    await c.submit();
    expect(await w.store.get("jobs", jobKey(c.jobId))).toMatchObject({ status: "assigned" });
  });

  it("says which limit and when to come back, and lets a new void through once a token is back", async () => {
    // Prepare
    const w = limitedWorld(1);
    await w.worker();
    const r = await w.requester();
    const [a, b] = [await sealed(w, r), await sealed(w, r)];
    await voidJob(w.deps, r.id, a.jobId);
    const details = await voidJob(w.deps, r.id, b.jobId).then(
      () => undefined,
      (e: { details?: unknown }) => e.details,
    );
    // Act
    w.advance(1_000);
    const later = await voidJob(w.deps, r.id, b.jobId);
    // Assess
    expect(details).toEqual({ action: "void_new", retryAfterSeconds: 1 });
    expect(later).toEqual({ jobId: b.jobId, voided: true });
  });

  it("never counts or refuses an answer about a taken id: the caller's void asked again, its job, another account's id", async () => {
    // Prepare: r's only token spent on voiding `a`; r's job `b` submitted; `c` another account's job
    const w = limitedWorld(1);
    await w.worker();
    const [r, other] = [await w.requester(), await w.requester()];
    const [a, b, c] = [await sealed(w, r), await sealed(w, r), await sealed(w, other)];
    await voidJob(w.deps, r.id, a.jobId);
    await b.submit();
    await c.submit();
    const writes = w.transacts.length;
    // Act: far more asks than the burst
    const answers = [];
    for (let i = 0; i < 5; i++) {
      answers.push(await voidJob(w.deps, r.id, a.jobId));
      answers.push(await voidJob(w.deps, r.id, b.jobId));
      answers.push(await refusal(voidJob(w.deps, r.id, c.jobId)));
    }
    // Assess: each answered as it is, none refused for the limit, nothing written
    for (let i = 0; i < 5; i++) {
      expect(answers.slice(3 * i, 3 * i + 3)).toEqual([
        { jobId: a.jobId, voided: true },
        { jobId: b.jobId, voided: false, status: "assigned" },
        expect.objectContaining({ status: 409, code: "job_exists" }),
      ]);
    }
    expect(w.transacts.length).toBe(writes);
  });

  it("defaults never refuse an honest client: one void per job whose submit answer was lost and resend refused", () => {
    // every job in flight at 1,000 jobs/s losing its answer at once (an outage), and then a
    // coordinator failing that way 10 times a second for a minute, are still let through
    expect(DEFAULT_RATE_LIMITS.void_new.burst).toBeGreaterThanOrEqual(1_000);
    expect(DEFAULT_RATE_LIMITS.void_new.perMinute).toBeGreaterThanOrEqual(600);
  });
});
