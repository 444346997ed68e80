/**
 * coord42: the relay sweep's scheduled function (functions/schedule/relay-sweep.ts): a thin
 * handler over core/relay-sweep.ts, its environment checked at cold start.
 */
import { describe, expect, it } from "vitest";
import { makeJobWorld } from "../../core/jobs/testing";
import {
  MAX_EMPTY_RECEIVES_PER_MINUTE,
  RELAY_SWEEP_WINDOW_MS,
  relayRevocationKey,
  sweptChannelItem,
  type ChannelQueueWatch,
} from "../../core/relay-sweep";
import { makeRelaySweepHandler, relaySweepDepsFromEnv } from "./relay-sweep";

describe("the relay sweep's function (coord42)", () => {
  it("runs one sweep with its deps (built once) and answers its report", async () => {
    // Prepare
    const w = makeJobWorld();
    const r = await w.requester();
    // a channel claimed in the hour before the sweep's window (which ends RELAY_SWEEP_LAG_MS before now)
    const hour = Math.floor(w.clock.now() / 3_600_000) - 1;
    await w.store.transact([{ op: "put", table: "accounts", item: sweptChannelItem(r.id, "chan_00000000", hour) }]);
    const removed: string[] = [];
    let listings = 0;
    const watch: ChannelQueueWatch = {
      queueOf: () => "q",
      emptyReceives: () => (
        listings++,
        Promise.resolve(new Map([["q", (MAX_EMPTY_RECEIVES_PER_MINUTE * RELAY_SWEEP_WINDOW_MS) / 60_000 + 1]]))
      ),
      remove: (q) => (removed.push(q), Promise.resolve()),
    };
    let built = 0;
    const handler = makeRelaySweepHandler(
      () => (built++, Promise.resolve({ ...w.deps, watch, alerts: { raise: () => Promise.resolve() } })),
    );
    // Act
    const first = await handler();
    const second = await handler();
    // Assess
    expect(first.revoked).toHaveLength(1);
    expect(second.revoked).toHaveLength(1);
    expect({ built, listings, removed }).toEqual({ built: 1, listings: 2, removed: ["q", "q"] });
    expect(await w.store.get("accounts", relayRevocationKey(r.id))).toBeDefined();
  });

  it("refuses a relay prefix SQS could not name queues with, naming the variable", async () => {
    // Act
    const e = await relaySweepDepsFromEnv({ COCOON_RELAY_PREFIX: "no spaces here" }).catch((x: unknown) => x);
    // Assess
    expect(e).toMatchObject({ name: "ConfigError", variable: "COCOON_RELAY_PREFIX" });
  });
});
