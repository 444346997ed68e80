/**
 * Session 23 review (resource exhaustion), a lead: the local coordinator's in-memory replay guard
 * held every guarded request's nonce for two minutes with no limit (request rate × 120 s). It is
 * capped: full, it refuses new requests 503 server_busy (reason replay_guard_full, retry-after)
 * and never forgets a nonce before it expires (that would let the request be replayed).
 */
import type { Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { ReplayGuardFullError } from "../core/auth";
import { generateSigningKey } from "../core/crypto/keys";
import { signRequest } from "../core/crypto/request-auth";
import { makeJobWorld } from "../core/jobs/testing";
import { defineRoute, type Route } from "../functions/http/middleware";
import { startHttpServer } from "../local/http-server";
import { createMemoryReplayGuard, MAX_REPLAY_ENTRIES } from "../local/replay-guard";

const T0 = Date.UTC(2026, 0, 1);
/** What core/auth.ts asks the guard to keep a nonce for: ts + 2 × authWindowMs (60 s). */
const KEEP_MS = 120_000;

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

/** Factory: a guard of `maxEntries` on a clock the test moves, started at T0 - 10 s (so T0's requests postdate its start). */
function guardOf(maxEntries: number) {
  const clock = { t: T0 - 10_000, now: () => clock.t };
  const guard = createMemoryReplayGuard({ now: clock.now, maxEntries });
  clock.t = T0;
  const claim = (id: string, at = clock.t) => guard.claim(id, at, at + KEEP_MS);
  return { guard, clock, claim };
}

/** The error a claim fails with, or what it resolved to. */
const outcome = (p: Promise<boolean>) => p.then(String, (e: unknown) => e);

describe("session 23 leads: the in-memory replay guard is bounded", () => {
  it("full, a new nonce is refused ReplayGuardFullError (retry when the soonest entry expires); a held one is still a replay", async () => {
    // Prepare: a guard of 3, filled a second apart
    const { guard, clock, claim } = guardOf(3);
    for (const id of ["a", "b", "c"]) {
      expect(await claim(id)).toBe(true);
      clock.t += 1_000;
    }
    // Act
    const full = await outcome(claim("d"));
    const replay = await claim("a");
    // Assess: a's entry (the soonest) goes 120 s after it was made, 117 s from now
    expect(full).toBeInstanceOf(ReplayGuardFullError);
    expect(full).toMatchObject({ status: 503, code: "server_busy", details: { reason: "replay_guard_full", limit: 3 } });
    expect((full as ReplayGuardFullError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(replay).toBe(false);
    expect(guard.size()).toBe(3);
  });

  it("nothing is forgotten early: room comes back only as entries expire", async () => {
    // Prepare: a full guard of 2
    const { clock, claim } = guardOf(2);
    await claim("a");
    clock.t += 1_000;
    await claim("b");
    // Act: just before a expires, then just after
    clock.t = T0 + KEEP_MS;
    const beforeExpiry = await outcome(claim("c"));
    const aStillHeld = await claim("a", T0);
    clock.t = T0 + KEEP_MS + 1_000; // (a full guard looks for expired entries at most once a second)
    const afterExpiry = await outcome(claim("c"));
    // Assess
    expect(beforeExpiry).toBeInstanceOf(ReplayGuardFullError);
    expect((beforeExpiry as ReplayGuardFullError).retryAfterSeconds).toBe(1);
    expect(aStillHeld).toBe(false);
    expect(afterExpiry).toBe("true");
  });

  it("a flood of 10,000 fresh nonces leaves a guard of 1,000 holding 1,000 (the old one held 10,000)", async () => {
    // Prepare
    const { guard, claim } = guardOf(1_000);
    // Act
    let refused = 0;
    for (let i = 0; i < 10_000; i++) if ((await outcome(claim(`k#${i}`))) instanceof ReplayGuardFullError) refused++;
    // Assess
    expect(guard.size()).toBe(1_000);
    expect(refused).toBe(9_000);
    expect(MAX_REPLAY_ENTRIES).toBe(500_000);
  });

  it("over 127.0.0.1: a guarded route answers 503 server_busy with retry-after once the guard is full; a replay is still 401", async () => {
    // Prepare: the coordinator's edge over a guard of 2 and one replay-guarded signed route
    const w = makeJobWorld();
    w.clock.now = () => Date.now();
    // (started 10 s ago: requests signed now postdate its start, so memory vouches for them)
    let behind = 10_000;
    const replay = createMemoryReplayGuard({ maxEntries: 2, now: () => Date.now() - behind });
    behind = 0;
    const route = defineRoute({ method: "POST", path: "/v1/guarded", summary: "guarded", auth: "signed" }, async () => ({ ok: true }));
    const { server, url } = await startHttpServer({ routes: [route as Route], deps: { ...w.deps, replay }, port: 0 });
    servers.push(server);
    const key = generateSigningKey();
    const send = (auth = signRequest(key, { method: "POST", path: "/v1/guarded", body: "", host: new URL(url).host })) =>
      fetch(`${url}/v1/guarded`, { method: "POST", headers: { "x-cocoon-auth": auth } }).then(async (r) => ({
        status: r.status,
        retryAfter: r.headers.get("retry-after"),
        body: (await r.json()) as { error?: { code: string; details?: { reason?: string } } },
        auth,
      }));
    // Act
    const first = await send();
    const second = await send();
    const third = await send();
    const replayed = await send(first.auth);
    // Assess
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(third.status).toBe(503);
    expect(third.body.error).toMatchObject({ code: "server_busy", details: { reason: "replay_guard_full" } });
    expect(Number(third.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(replayed.status).toBe(401);
    expect(replayed.body.error?.code).toBe("replayed_request");
  });
});
