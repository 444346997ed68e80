import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { AUTH_FUTURE_SKEW_MS, authenticate, storeReplayGuard, type SignedRequest } from "../core/auth";
import { generateSigningKey, type SigningKeyPair } from "../core/crypto/keys";
import { apiHostOf, signRequest } from "../core/crypto/request-auth";
import { UnauthenticatedError } from "../core/errors";
import type { ReplayGuard, Store } from "../core/ports";
import { createMemoryStore } from "./memory-store";
import { startNetwork } from "./network";
import { createMemoryReplayGuard } from "./replay-guard";

const WINDOW = 60_000;
const HOST = "127.0.0.1:8787";
const T0 = Date.UTC(2026, 0, 1);

/** A settable clock shared by "both processes" (one machine, one wall clock). */
const clockAt = (ms: number) => {
  let now = ms;
  return { now: () => now, set: (t: number) => void (now = t) };
};

/** A signed GET /v1/account as a client would send it. */
function signedRequest(key: SigningKeyPair, ts: number, host = HOST): SignedRequest {
  return {
    method: "GET",
    path: "/v1/account",
    body: "",
    host,
    authHeader: signRequest(key, { method: "GET", path: "/v1/account", host, now: ts }),
  };
}

async function outcome(p: Promise<string>): Promise<string> {
  try {
    await p;
    return "accepted";
  } catch (e) {
    if (e instanceof UnauthenticatedError) return e.code;
    throw e;
  }
}

/** One coordinator "process": its own in-memory guard over the shared store and clock. */
function processOf(store: Store, clock: { now(): number }, o: { durable?: false } = {}) {
  const durable: ReplayGuard | undefined = o.durable === false ? undefined : storeReplayGuard(store);
  const replay = createMemoryReplayGuard({ now: clock.now, ...(durable ? { durable } : {}) });
  return (req: SignedRequest) => outcome(authenticate({ store, clock, config: { authWindowMs: WINDOW }, replay }, req));
}

describe("issue 9 #10: replay across a local restart", () => {
  it("issue 9 #10: a request timestamped 55 s ahead (inside the old ±60 s) is refused as future_request", async () => {
    // Prepare
    const clock = clockAt(T0);
    const store = createMemoryStore({ clock });
    const serve = processOf(store, clock);
    const key = generateSigningKey();
    // Act
    const ahead55 = await serve(signedRequest(key, T0 + 55_000));
    const ahead4 = await serve(signedRequest(key, T0 + 4_000));
    // Assess
    expect(ahead55).toBe("future_request");
    expect(ahead4).toBe("accepted");
    expect(AUTH_FUTURE_SKEW_MS).toBeLessThanOrEqual(5_000);
  });

  it("issue 9 #10: a request signed ahead of the clock, accepted just before a restart, is refused after it", async () => {
    // Prepare: process 1 accepts a request signed 4 s ahead, then the coordinator restarts 1 s later
    const clock = clockAt(T0);
    const store = createMemoryStore({ clock });
    const before = processOf(store, clock);
    const req = signedRequest(generateSigningKey(), T0 + 4_000);
    const first = await before(req);
    clock.set(T0 + 1_000);
    const after = processOf(store, clock);
    // Act: the same request, replayed before and after its timestamp has passed
    clock.set(T0 + 2_000);
    const replaySoon = await after(req);
    clock.set(T0 + 30_000);
    const replayLater = await after(req);
    // Assess
    expect(first).toBe("accepted");
    expect(replaySoon).toBe("replayed_request");
    expect(replayLater).toBe("replayed_request");
  });

  it("issue 9 #10: requests signed before the restart are refused, fresh ones right after it are not", async () => {
    // Prepare
    const clock = clockAt(T0);
    const store = createMemoryStore({ clock });
    const before = processOf(store, clock);
    const key = generateSigningKey();
    const old = signedRequest(key, T0 - 1_000);
    await before(old);
    clock.set(T0 + 10_000);
    const after = processOf(store, clock);
    // Act
    clock.set(T0 + 10_100);
    const replayed = await after(old);
    const fresh = await after(signedRequest(key, T0 + 10_100));
    const freshTwice = await after(signedRequest(key, T0 + 10_100));
    // Assess
    expect(replayed).toBe("replayed_request");
    expect([fresh, freshTwice]).toEqual(["accepted", "accepted"]);
  });

  it("without a durable store the memory guard refuses what it cannot vouch for: the first seconds after start and future timestamps", async () => {
    // Prepare
    const clock = clockAt(T0);
    const store = createMemoryStore({ clock });
    const serve = processOf(store, clock, { durable: false });
    const key = generateSigningKey();
    // Act
    const atStart = await serve(signedRequest(key, T0 + 100));
    clock.set(T0 + AUTH_FUTURE_SKEW_MS + 1_000);
    const later = await serve(signedRequest(key, clock.now()));
    const ahead = await serve(signedRequest(key, clock.now() + 2_000));
    // Assess
    expect([atStart, later, ahead]).toEqual(["replayed_request", "accepted", "replayed_request"]);
  });

  it("a replay inside one process is refused whatever the timestamp, and two racing copies do not both pass", async () => {
    // Prepare
    const clock = clockAt(T0 + 60_000);
    const store = createMemoryStore({ clock });
    const serve = processOf(store, clock);
    const key = generateSigningKey();
    const now = signedRequest(key, clock.now());
    const ahead = signedRequest(key, clock.now() + 3_000);
    // Act
    const results = await Promise.all([serve(now), serve(now), serve(ahead), serve(ahead)]);
    // Assess
    expect(results.sort()).toEqual(["accepted", "accepted", "replayed_request", "replayed_request"]);
  });
});

describe("issue 9 #10: a real local restart (LMDB, HTTP)", () => {
  it("issue 9 #10: a guarded request signed 4 s ahead is refused when replayed after the coordinator restarts", async () => {
    // Prepare: a route that keeps the guard (GET /v1/account), signed 4 s ahead. (The faucet is
    // idempotent by its signed nonce now, so it needs no guard: test/replay.test.ts.)
    const dataDir = tempDir("cocoon-replay-");
    const key = generateSigningKey();
    let net = await startNetwork({ dataDir, chain: false });
    const port = Number(new URL(net.url).port);
    const auth = signRequest(key, { method: "GET", path: "/v1/account", host: apiHostOf(net.url), now: Date.now() + 4_000 });
    // connection: close: a kept-alive socket of the stopped coordinator is not reused for the
    // replay (whether the client has seen it close by then is a race of the event loop)
    const send = () => fetch(`${net.url}/v1/account`, { headers: { "x-cocoon-auth": auth, connection: "close" } });
    const first = await send();
    await net.stop();
    net = await startNetwork({ dataDir, chain: false, port });
    try {
      // Act
      const replay = await send();
      // Assess
      expect(first.status).toBe(200);
      expect([replay.status, ((await replay.json()) as { error: { code: string } }).error.code]).toEqual([401, "replayed_request"]);
    } finally {
      await net.stop();
    }
  });
});
