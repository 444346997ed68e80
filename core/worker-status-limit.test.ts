/**
 * coord42: GET /v1/agents/me (core/workers.ts workerStatus) reads the worker item, its counters,
 * its payout totals and each of its offers, for anyone who registered a key, and had no limit.
 * It now draws on a per-worker bucket (`worker_status`), taken before anything is read, sized so
 * that an honest agent's polling (a redeem waiting for the chain watcher, api-client/money.ts)
 * is never refused.
 */
import { describe, expect, it } from "vitest";
import { MAX_WORKER_MODELS } from "../events/api";
import { DEFAULT_RATE_LIMITS } from "./attestation/rate-limit";
import { CocoonError } from "./errors";
import { makeJobWorld, registered, type JobWorld } from "./jobs/testing";
import { workerStatus } from "./workers";

/** What `act` rejects with (the test fails if it resolves). */
async function rejection(act: Promise<unknown>): Promise<unknown> {
  return act.then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
}

/** w with its store's gets and queries counted. */
function countReads(w: JobWorld) {
  const n = { reads: 0 };
  const inner = w.deps.store;
  w.deps.store = {
    ...inner,
    get: (table, key, o) => {
      n.reads++;
      return inner.get(table, key, o);
    },
    query: (table, pk, o) => {
      n.reads++;
      return inner.query(table, pk, o);
    },
    transact: (ops) => inner.transact(ops),
  };
  return n;
}

const models = Array.from({ length: MAX_WORKER_MODELS }, (_, i) => ({ model: `test/st-${i}`, priceBps: 10_000 }));

describe("GET /v1/agents/me limit (coord42)", () => {
  it("past its bucket a worker's status gets 429 rate_limited and reads nothing; one passes again after the refill", async () => {
    // Prepare: a worker offering the most models a registration may list (a read per offer)
    const w = makeJobWorld();
    const { key } = await registered(w, { models });
    const n = countReads(w);
    const { burst, perMinute } = DEFAULT_RATE_LIMITS.worker_status;
    // Act: the whole burst at one instant, then one more
    for (let i = 0; i < burst; i++) await workerStatus(w.deps, key.id);
    const readsBefore = n.reads;
    const refused = await rejection(workerStatus(w.deps, key.id));
    const readsAfter = n.reads;
    w.clock.t += Math.ceil(60_000 / perMinute);
    const again = await workerStatus(w.deps, key.id);
    // Assess
    expect(readsBefore).toBeGreaterThanOrEqual(burst * MAX_WORKER_MODELS);
    expect(refused).toBeInstanceOf(CocoonError);
    expect(refused).toMatchObject({ status: 429, code: "rate_limited", details: { action: "worker_status", retryAfterSeconds: 1 } });
    expect(readsAfter).toBe(readsBefore);
    expect(again).toMatchObject({ workerId: key.id });
  });

  it("an unregistered key is limited too, before its lookup", async () => {
    // Prepare
    const w = makeJobWorld();
    w.deps.config = { ...w.deps.config, rateLimits: { worker_status: { burst: 1, perMinute: 1 } } };
    const n = countReads(w);
    // Act
    const first = await rejection(workerStatus(w.deps, "not-a-worker"));
    const readsBefore = n.reads;
    const second = await rejection(workerStatus(w.deps, "not-a-worker"));
    // Assess
    expect(first).toMatchObject({ status: 403, code: "not_a_worker" });
    expect(second).toMatchObject({ status: 429, code: "rate_limited" });
    expect(n.reads).toBe(readsBefore);
  });

  it("per worker: one worker's empty bucket leaves another's status alone", async () => {
    // Prepare
    const w = makeJobWorld();
    w.deps.config = { ...w.deps.config, rateLimits: { worker_status: { burst: 1, perMinute: 1 } } };
    const a = (await registered(w)).key.id;
    const b = (await registered(w)).key.id;
    // Act
    await workerStatus(w.deps, a);
    const refused = await rejection(workerStatus(w.deps, a));
    const other = await workerStatus(w.deps, b);
    // Assess
    expect(refused).toMatchObject({ code: "rate_limited" });
    expect(other).toMatchObject({ workerId: b });
  });

  it("never refuses an honest agent: two redeems waiting at once (a read every 200 ms each) for 10 minutes, plus a status and a payout check each minute", async () => {
    // Prepare
    const w = makeJobWorld();
    const { key } = await registered(w);
    // Act, Assess: every call resolves
    for (let t = 0; t < 600_000; t += 200) {
      w.clock.t += 200;
      await workerStatus(w.deps, key.id); // the agent's own redeem (agent/runtime.ts checkPayout)
      await workerStatus(w.deps, key.id); // its owner's `cocoon-agent redeem`
      if (t % 60_000 === 0) {
        await workerStatus(w.deps, key.id); // `cocoon-agent status`
        await workerStatus(w.deps, key.id); // the next payout check
      }
    }
  });
});
