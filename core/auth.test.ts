/**
 * core/auth.ts on the in-memory store (issue 14): what a signed request must be to pass
 * (signature, freshness in both directions to the millisecond, a nonce used once per key)
 * and what each refusal says. The signature format itself is tested in
 * core/crypto/request-auth.test.ts; here is what the coordinator adds on top.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../local/memory-store";
import { AUTH_FUTURE_SKEW_MS, authenticate, authenticateRequest, storeReplayGuard, type SignedRequest } from "./auth";
import { generateSigningKey, type SigningKeyPair } from "./crypto/keys";
import { signRequest } from "./crypto/request-auth";
import { openSession, sessionAuthHeader } from "./crypto/session-auth";
import { UnauthenticatedError } from "./errors";
import { ConditionFailedError, type ReplayGuard, type Store } from "./ports";

const HOST = "api.test";
const T0 = 1_760_000_000_000;
const WINDOW = 60_000;

/** Factory: auth deps over a fresh memory store, with a clock the test sets. */
function makeDeps(o: { replay?: ReplayGuard; store?: Store } = {}) {
  const clock = { t: T0, now: () => clock.t };
  const store = o.store ?? createMemoryStore({ clock });
  return { store, clock, config: { authWindowMs: WINDOW }, ...(o.replay ? { replay: o.replay } : {}) };
}

/** Factory: a request as the transport hands it over, signed by `key` at `ts`. */
function signed(
  key: SigningKeyPair,
  o: { ts?: number; nonce?: string; body?: string; path?: string; idempotencyKey?: string } = {},
): SignedRequest {
  const req = {
    method: "POST",
    path: o.path ?? "/v1/account/faucet",
    body: o.body ?? '{"amount":"1"}',
    host: HOST,
    ...(o.idempotencyKey ? { idempotencyKey: o.idempotencyKey } : {}),
  };
  return { ...req, authHeader: signRequest(key, { ...req, now: o.ts ?? T0, ...(o.nonce ? { nonce: o.nonce } : {}) }) };
}

async function refusal(p: Promise<unknown>): Promise<{ status: number; code: string; message: string }> {
  const e = await p.then(
    () => undefined,
    (x) => x,
  );
  expect(e).toBeInstanceOf(UnauthenticatedError);
  return { status: e.status, code: e.code, message: e.message };
}

describe("authenticateRequest: who is asking", () => {
  it("a good request gives the signer's key id, its nonce and its timestamp", async () => {
    // Prepare
    const key = generateSigningKey();
    const deps = makeDeps();
    // Act
    const a = await authenticateRequest(deps, signed(key, { nonce: "n".repeat(22), ts: T0 - 5 }));
    // Assess
    expect(a).toEqual({ keyId: key.id, nonce: "n".repeat(22), ts: T0 - 5 });
    expect(await authenticate(deps, signed(key))).toBe(key.id);
  });

  it("a bad signature, a missing header, a malformed one: 401 with the code from the signature check", async () => {
    const key = generateSigningKey();
    const deps = makeDeps();
    const tampered = { ...signed(key), body: '{"amount":"2"}' };
    expect(await refusal(authenticateRequest(deps, tampered))).toMatchObject({ status: 401, code: "bad_signature" });
    expect(await refusal(authenticateRequest(deps, { ...signed(key), authHeader: undefined }))).toMatchObject({
      status: 401,
      code: "missing_auth",
    });
    expect(await refusal(authenticateRequest(deps, { ...signed(key), authHeader: "v2 key=x" }))).toMatchObject({
      status: 401,
      code: "malformed_auth",
    });
  });

  it("a programming error inside the signature check (no method) is not disguised as a 401", async () => {
    const key = generateSigningKey();
    await expect(authenticateRequest(makeDeps(), { ...signed(key), method: undefined as unknown as string })).rejects.toThrow(TypeError);
  });

  it("a failure that is not about the signature is not turned into a 401", async () => {
    const key = generateSigningKey();
    const boom = new Error("store down");
    const deps = makeDeps({
      replay: {
        claim: async () => {
          throw boom;
        },
      },
    });
    await expect(authenticateRequest(deps, signed(key))).rejects.toBe(boom);
  });
});

describe("authenticateRequest: freshness", () => {
  it("exactly authWindowMs old is accepted; one millisecond older is 401 stale_request saying how far behind and the limit", async () => {
    const key = generateSigningKey();
    const deps = makeDeps();
    await expect(authenticateRequest(deps, signed(key, { ts: T0 - WINDOW }))).resolves.toMatchObject({ keyId: key.id });
    const r = await refusal(authenticateRequest(deps, signed(key, { ts: T0 - WINDOW - 1 })));
    expect(r).toEqual({
      status: 401,
      code: "stale_request",
      message: "request timestamp is 60 s behind server time; sign with the current time (at most 60 s old)",
    });
  });

  it(`exactly ${AUTH_FUTURE_SKEW_MS} ms ahead is accepted; one millisecond more is 401 future_request saying how far ahead and the limit`, async () => {
    expect(AUTH_FUTURE_SKEW_MS).toBe(5_000);
    const key = generateSigningKey();
    const deps = makeDeps();
    await expect(authenticateRequest(deps, signed(key, { ts: T0 + AUTH_FUTURE_SKEW_MS }))).resolves.toMatchObject({ keyId: key.id });
    const r = await refusal(authenticateRequest(deps, signed(key, { ts: T0 + 12_000 })));
    expect(r).toEqual({
      status: 401,
      code: "future_request",
      message:
        "request timestamp is 12 s ahead of server time; at most 5 s is accepted: sync your clock (NTP) and sign with the current time",
    });
    expect((await refusal(authenticateRequest(deps, signed(key, { ts: T0 + AUTH_FUTURE_SKEW_MS + 1 })))).code).toBe("future_request");
  });

  it("the window is the configured one, not a constant", async () => {
    const key = generateSigningKey();
    const deps = { ...makeDeps(), config: { authWindowMs: 10_000 } };
    expect((await refusal(authenticateRequest(deps, signed(key, { ts: T0 - 10_001 })))).message).toContain("at most 10 s old");
    await expect(authenticateRequest(deps, signed(key, { ts: T0 - 10_000 }))).resolves.toBeDefined();
  });
});

describe("authenticateRequest: replays", () => {
  it("the same request twice: the second is 401 replayed_request; a fresh nonce passes", async () => {
    const key = generateSigningKey();
    const deps = makeDeps();
    const req = signed(key);
    await authenticateRequest(deps, req);
    const r = await refusal(authenticateRequest(deps, req));
    expect(r.code).toBe("replayed_request");
    expect(r.message).toMatch(/nonce was already used/);
    await expect(authenticateRequest(deps, signed(key))).resolves.toBeDefined();
  });

  it("a nonce is claimed per key: another key may use the same nonce", async () => {
    const deps = makeDeps();
    const nonce = "shared-nonce-0000000";
    await authenticateRequest(deps, signed(generateSigningKey(), { nonce }));
    await expect(authenticateRequest(deps, signed(generateSigningKey(), { nonce }))).resolves.toBeDefined();
  });

  it("the nonce is kept until the request is stale everywhere: key#nonce, expiring at ts + 2 windows", async () => {
    const key = generateSigningKey();
    const claims: Array<[string, number, number]> = [];
    const deps = makeDeps({ replay: { claim: async (id, signedAt, expiresAt) => (claims.push([id, signedAt, expiresAt]), true) } });
    await authenticateRequest(deps, signed(key, { nonce: "abcdefghijklmnop", ts: T0 - 1000 }));
    expect(claims).toEqual([[`${key.id}#abcdefghijklmnop`, T0 - 1000, T0 - 1000 + 2 * WINDOW]]);
  });

  it('"idempotent" routes claim no nonce: the same request passes twice and the guard is never asked', async () => {
    const key = generateSigningKey();
    let asked = 0;
    const deps = makeDeps({ replay: { claim: async () => (asked++, true) } });
    const req = signed(key);
    await authenticateRequest(deps, req, "idempotent");
    await expect(authenticateRequest(deps, req, "idempotent")).resolves.toMatchObject({ keyId: key.id });
    expect(asked).toBe(0);
    // but freshness still holds for them
    expect((await refusal(authenticateRequest(deps, signed(key, { ts: T0 - WINDOW - 1 }), "idempotent"))).code).toBe("stale_request");
  });

  it("the guard given in deps is used instead of the store", async () => {
    const key = generateSigningKey();
    const store = createMemoryStore();
    const deps = makeDeps({ store, replay: { claim: async () => false } });
    expect((await refusal(authenticateRequest(deps, signed(key)))).code).toBe("replayed_request");
    expect(store.scan("nonces")).toHaveLength(0);
  });
});

describe("storeReplayGuard: nonces as items with a TTL", () => {
  it("claims once: a conditional put of the nonce with its ttl in seconds (rounded up); the second claim is false", async () => {
    const store = createMemoryStore({ clock: { now: () => T0 } });
    const guard = storeReplayGuard(store);
    expect(await guard.claim("k#n", T0, T0 + 1500)).toBe(true);
    expect(await guard.claim("k#n", T0, T0 + 1500)).toBe(false);
    expect(store.scan("nonces")).toEqual([expect.objectContaining({ pk: "k#n", sk: "n", ttl: Math.ceil((T0 + 1500) / 1000) })]);
  });

  it("a store failure other than the condition is passed on, not taken for a replay", async () => {
    const store = createMemoryStore();
    const boom = new Error("throttled");
    store.transact = async () => {
      throw boom;
    };
    await expect(storeReplayGuard(store).claim("k#n", T0, T0 + 1)).rejects.toBe(boom);
    store.transact = async () => {
      throw new ConditionFailedError(0);
    };
    expect(await storeReplayGuard(store).claim("k#n", T0, T0 + 1)).toBe(false);
  });
});

describe("authenticateRequest with request sessions (core/crypto/session-auth.ts)", () => {
  const SESSION_SECRET = "5e".repeat(32);

  /** Factory: a request as the transport hands it over, authenticated by a session of `key` opened at T0. */
  function sessioned(key: SigningKeyPair, o: { ts?: number; nonce?: string } = {}): SignedRequest {
    const session = openSession(SESSION_SECRET, key.id, T0);
    const req = { method: "POST", path: "/v1/jobs", body: '{"x":1}', host: HOST };
    return { ...req, authHeader: sessionAuthHeader(session, { ...req, now: o.ts ?? T0, ...(o.nonce ? { nonce: o.nonce } : {}) }) };
  }
  const sessionDeps = () => {
    const deps = makeDeps();
    return { ...deps, config: { ...deps.config, sessionKey: SESSION_SECRET } };
  };

  it("a route that takes sessions authenticates the session's key", async () => {
    // Prepare
    const key = generateSigningKey();
    // Act
    const a = await authenticateRequest(sessionDeps(), sessioned(key), "guard", "session");
    // Assess
    expect(a.keyId).toBe(key.id);
  });

  it("a route that takes only signatures refuses a session with session_not_accepted", async () => {
    // Prepare
    const deps = sessionDeps();
    // Act
    const r = await refusal(authenticateRequest(deps, sessioned(generateSigningKey()), "guard", "signed"));
    // Assess
    expect(r).toMatchObject({ status: 401, code: "session_not_accepted" });
  });

  it("a deployment without a session secret answers sessions_unavailable", async () => {
    // Prepare
    const deps = makeDeps();
    // Act
    const r = await refusal(authenticateRequest(deps, sessioned(generateSigningKey()), "guard", "session"));
    // Assess
    expect(r).toMatchObject({ status: 401, code: "sessions_unavailable" });
  });

  it("freshness and replay hold for sessions as for signatures: a stale one and a replayed nonce are refused", async () => {
    // Prepare
    const deps = sessionDeps();
    const key = generateSigningKey();
    const req = sessioned(key, { nonce: "q".repeat(22) });
    await authenticateRequest(deps, req, "guard", "session");
    // Act
    const replayed = await refusal(authenticateRequest(deps, req, "guard", "session"));
    const stale = await refusal(authenticateRequest(deps, sessioned(key, { ts: T0 - WINDOW - 1 }), "guard", "session"));
    // Assess
    expect(replayed.code).toBe("replayed_request");
    expect(stale.code).toBe("stale_request");
  });
});
