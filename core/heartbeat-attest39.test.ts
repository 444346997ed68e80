/**
 * attest39: a heartbeat writes each offer of the worker (up to MAX_WORKER_MODELS), and any key
 * can register a tier-none worker, so unlimited heartbeats were unbounded free writes (32 for one
 * request). They now draw on a per-worker bucket (`heartbeat`), taken before anything is read.
 */
import { describe, expect, it } from "vitest";
import { MAX_WORKER_MODELS } from "../events/api";
import { DEFAULT_RATE_LIMITS } from "./attestation/rate-limit";
import { CocoonError } from "./errors";
import { makeJobWorld, registered } from "./jobs/testing";
import { heartbeat } from "./workers";

/** What `act` rejects with (the test fails if it resolves). */
async function rejection(act: Promise<unknown>): Promise<unknown> {
  return act.then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
}

const models = Array.from({ length: MAX_WORKER_MODELS }, (_, i) => ({ model: `test/hb-${i}`, priceBps: 10_000 }));

describe("heartbeat limit (attest39)", () => {
  it("a worker's heartbeats past its bucket get 429 rate_limited and write nothing; one passes again after the refill", async () => {
    // Prepare: a worker offering the most models a registration may list
    const w = makeJobWorld();
    const { key } = await registered(w, { models });
    const { burst, perMinute } = DEFAULT_RATE_LIMITS.heartbeat;
    // Act: the whole burst at one instant, then one more
    for (let i = 0; i < burst; i++) await heartbeat(w.deps, key.id, 1);
    const writesBefore = w.transacts.length;
    const refused = await rejection(heartbeat(w.deps, key.id, 1));
    const writesAfter = w.transacts.length;
    w.clock.t += Math.ceil(60_000 / perMinute);
    const again = await heartbeat(w.deps, key.id, 1);
    // Assess
    expect(refused).toBeInstanceOf(CocoonError);
    expect(refused).toMatchObject({ status: 429, code: "rate_limited", details: { action: "heartbeat", retryAfterSeconds: 1 } });
    expect(writesAfter).toBe(writesBefore);
    expect(again).toMatchObject({ ok: true });
    expect(w.transacts.length).toBe(writesAfter + MAX_WORKER_MODELS);
  });

  it("per worker: one worker's empty bucket leaves another's heartbeats alone", async () => {
    // Prepare
    const w = makeJobWorld();
    w.deps.config = { ...w.deps.config, rateLimits: { heartbeat: { burst: 1, perMinute: 1 } } };
    const a = (await registered(w)).key.id;
    const b = (await registered(w)).key.id;
    // Act
    await heartbeat(w.deps, a, 0);
    const refused = await rejection(heartbeat(w.deps, a, 0));
    const other = await heartbeat(w.deps, b, 0);
    // Assess
    expect(refused).toMatchObject({ code: "rate_limited" });
    expect(other).toMatchObject({ ok: true });
  });

  it("never refuses an honest agent: a beat every 300 ms (the tests' fastest) for 10 minutes, with an offline and a back-on beat each minute", async () => {
    // Prepare
    const w = makeJobWorld();
    const { key } = await registered(w);
    // Act, Assess: every call resolves
    for (let t = 0; t < 600_000; t += 300) {
      w.clock.t += 300;
      await heartbeat(w.deps, key.id, 0);
      if (t % 60_000 === 0) {
        await heartbeat(w.deps, key.id, 0, true);
        await heartbeat(w.deps, key.id, 0);
      }
    }
  });
});
