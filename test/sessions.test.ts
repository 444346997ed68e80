/**
 * Request sessions over real HTTP on 127.0.0.1 (issue 12: an HMAC per request on the hot path
 * instead of an Ed25519 verification): the SDK and the agent use them; the handshake is signed
 * and cannot be replayed; a session is refused where only a signature is taken, for another
 * key and after the secret rotates; a client falls back to signing whenever a session is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API, ApiClient } from "../api-client/api";
import { b64u } from "../core/crypto/encoding";
import { HpkeOpenError } from "../core/crypto/errors";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { apiHostOf, signRequest } from "../core/crypto/request-auth";
import { openSealedSession, SESSION_RENEW_MS, SESSION_TTL_MS, sessionAuthHeader, type Session } from "../core/crypto/session-auth";
import { startNetwork, type LocalNetwork } from "../local/network";
import { newJobId } from "../core/ids";
import { MODEL, startTestNet, type TestNet } from "./helpers";

// made now: an id naming 1970 is an expired job's (410 job_records_expired)
const UNKNOWN_JOB = newJobId(Date.now());

/** GET /v1/jobs/{id} (a route that takes sessions) or GET /v1/account (signatures only) with a ready-made header. */
const get = async (url: string, path: string, auth: string) => {
  const res = await fetch(url + path, { headers: { "x-cocoon-auth": auth } });
  return [res.status, ((await res.json()) as { error?: { code: string } }).error?.code] as const;
};
/** Factory: a session opened over HTTP by `api`'s key, and what the handshake answered. */
async function handshake(api: ApiClient) {
  const kem = generateKemKey();
  const sealed = await api.request(API.openSession, { body: { kem: b64u.encode(kem.publicKey) } });
  return { sealed, session: openSealedSession(sealed, kem, api.key.id) };
}
const withSession = (net: LocalNetwork, session: Pick<Session, "token" | "key">, path: string) =>
  sessionAuthHeader(session, { method: "GET", path, host: apiHostOf(net.url) });

describe("request sessions on the local network", () => {
  let t: TestNet;
  beforeAll(async () => {
    t = await startTestNet();
  });
  afterAll(async () => t?.stop());

  it("a requester's jobs ride on one session: one signed handshake, then every prepare, submit and read by MAC", async () => {
    // Prepare
    const client = await t.client();
    await client.ask({ model: MODEL, messages: [{ role: "user", content: "first" }], tiers: ["dev"] });
    const signedBefore = client.api.sent.signed;
    const sessionBefore = client.api.sent.session;
    // Act
    const r = await client.ask({ model: MODEL, messages: [{ role: "user", content: "second" }], tiers: ["dev"] });
    // Assess
    expect(r.text).toContain("second");
    expect(client.api.sent.signed).toBe(signedBefore); // no signature on the hot path
    expect(client.api.sent.session).toBeGreaterThan(sessionBefore);
  });

  it("a session authenticates its own key on a route that takes sessions, and nowhere else", async () => {
    // Prepare
    const api = new ApiClient(t.net.url, generateSigningKey());
    const { session } = await handshake(api);
    const forged = { ...session, token: session.token.replace(api.key.id, generateSigningKey().id) };
    // Act
    const onSessionRoute = await get(t.net.url, `/v1/jobs/${UNKNOWN_JOB}`, withSession(t.net, session, `/v1/jobs/${UNKNOWN_JOB}`));
    const onSignedRoute = await get(t.net.url, "/v1/account", withSession(t.net, session, "/v1/account"));
    const asAnotherKey = await get(t.net.url, `/v1/jobs/${UNKNOWN_JOB}`, withSession(t.net, forged, `/v1/jobs/${UNKNOWN_JOB}`));
    // Assess
    expect(onSessionRoute).toEqual([404, "unknown_job"]); // authenticated: the job is simply unknown
    expect(onSignedRoute).toEqual([401, "session_not_accepted"]);
    expect(asAnotherKey).toEqual([401, "bad_session"]);
  });

  it("a route the coordinator takes no session on (its function of another version) is signed from then on; the client's other routes keep their session", async () => {
    // Prepare: this client's route table says GET /v1/account takes sessions; the coordinator's does not
    const account = API.account as { session?: true };
    account.session = true;
    try {
      const api = new ApiClient(t.net.url, generateSigningKey());
      const read = () => api.request(API.getJob, { params: { id: UNKNOWN_JOB } }).catch((e: { code: string }) => e.code);
      await read(); // the handshake (signed), then the read on the session
      // Act
      const first = await api.request(API.account);
      const afterRefusal = { ...api.sent };
      const second = await api.request(API.account);
      const other = await read();
      // Assess
      expect([first.available, second.available]).toEqual(["0", "0"]);
      expect(other).toBe("unknown_job");
      expect(afterRefusal).toEqual({ signed: 2, session: 2 }); // the handshake and the refused one signed again; the read and the refused try on the session
      expect(api.sent).toEqual({ signed: 3, session: 3 }); // the account signed at once, the read still on its session
    } finally {
      delete account.session;
    }
  });

  it("the handshake answers the key sealed to the client's handshake key only, and a replayed handshake hands out nothing", async () => {
    // Prepare
    const key = generateSigningKey();
    const kem = generateKemKey();
    const body = JSON.stringify({ kem: b64u.encode(kem.publicKey) });
    const auth = signRequest(key, { method: "POST", path: "/v1/sessions", body, host: apiHostOf(t.net.url) });
    const send = () =>
      fetch(`${t.net.url}/v1/sessions`, { method: "POST", headers: { "x-cocoon-auth": auth, "content-type": "application/json" }, body });
    // Act
    const first = await send();
    const replayed = await send();
    // Assess
    expect(first.status).toBe(200);
    const sealed = (await first.json()) as Parameters<typeof openSealedSession>[0] & { key?: string };
    expect(sealed.token.startsWith(`${key.id}.`)).toBe(true);
    expect(sealed.key).toBeUndefined(); // nothing on the wire can authenticate a request
    expect(openSealedSession(sealed, kem, key.id).key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(() => openSealedSession(sealed, generateKemKey(), key.id)).toThrow(HpkeOpenError);
    expect(() =>
      openSealedSession({ ...sealed, token: sealed.token.replace(/\.\d{13}\./, `.${sealed.expiresAt + 1}.`) }, kem, key.id),
    ).toThrow(HpkeOpenError);
    expect(replayed.status).toBe(401);
    expect(((await replayed.json()) as { error: { code: string } }).error.code).toBe("replayed_request");
  });
});

describe("a client's sessions over time (the coordinator's and the client's clocks moved together)", () => {
  let net: LocalNetwork;
  let shift = 0;
  beforeAll(async () => {
    net = await startNetwork({ chain: false });
    net.deps.clock.now = () => Date.now() + shift;
  });
  afterAll(async () => net?.stop());

  /** Factory: a client on the shifted clock, and one hot-path request (a read of an unknown job: authenticated, then 404). */
  const client = () => {
    shift = 0;
    const api = new ApiClient(net.url, generateSigningKey(), () => Date.now() + shift);
    const read = () => api.request(API.getJob, { params: { id: UNKNOWN_JOB } }).catch((e: { code: string }) => e.code);
    return { api, read };
  };

  it("a session is renewed once SESSION_RENEW_MS before its end, not before", async () => {
    // Prepare
    const { api, read } = client();
    await read();
    // Act
    shift = SESSION_TTL_MS - SESSION_RENEW_MS - 60_000;
    await read();
    const handshakesBefore = api.sent.signed;
    shift = SESSION_TTL_MS - SESSION_RENEW_MS + 1_000;
    const answers = await Promise.all([read(), read(), read()]);
    // Assess
    expect(handshakesBefore).toBe(1);
    expect(api.sent.signed).toBe(2); // one renewal for the three requests that needed it
    expect(answers).toEqual(["unknown_job", "unknown_job", "unknown_job"]);
    expect(api.sent.session).toBe(5);
  });

  it("after the secret rotates, the refused request goes through signed, the client signs for a minute, then opens a new session", async () => {
    // Prepare
    const { api, read } = client();
    await read();
    const secret = net.deps.config.sessionKey;
    net.deps.config.sessionKey = "0b".repeat(32);
    try {
      // Act
      const refused = await read();
      const during = await read();
      const afterRefusal = { ...api.sent };
      shift = 61_000;
      const later = await read();
      // Assess
      expect([refused, during, later]).toEqual(["unknown_job", "unknown_job", "unknown_job"]);
      expect(afterRefusal).toEqual({ signed: 3, session: 2 }); // handshake, the refused one signed again, one signed
      expect(api.sent).toEqual({ signed: 4, session: 3 }); // a new handshake, and the request on it
    } finally {
      net.deps.config.sessionKey = secret;
    }
  });
});

describe("a deployment without sessions (no COCOON_SESSION_KEY)", () => {
  let net: LocalNetwork;
  beforeAll(async () => {
    net = await startNetwork({ chain: false, config: { sessionKey: undefined } });
  });
  afterAll(async () => net?.stop());

  it("answers the handshake 404 sessions_unavailable and a session header 401 sessions_unavailable; clients sign instead", async () => {
    // Prepare
    const api = new ApiClient(net.url, generateSigningKey());
    const made = { token: `${api.key.id}.9999999999999.${"A".repeat(22)}`, key: "A".repeat(43) };
    // Act
    const refused = await handshake(api).catch((e: { status: number; code: string }) => [e.status, e.code]);
    const header = await get(net.url, `/v1/jobs/${UNKNOWN_JOB}`, withSession(net, made, `/v1/jobs/${UNKNOWN_JOB}`));
    const read = await api
      .request(API.getJob, { params: { id: UNKNOWN_JOB } })
      .catch((e: { status: number; code: string }) => [e.status, e.code]);
    // Assess
    expect(refused).toEqual([404, "sessions_unavailable"]);
    expect(header).toEqual([401, "sessions_unavailable"]);
    expect(read).toEqual([404, "unknown_job"]); // signed, after its handshake was refused
    expect(api.sent.session).toBe(0);
  });
});

describe("the handshake's X25519 key (found by the handler fuzz: a 500)", () => {
  let net: LocalNetwork;
  beforeAll(async () => {
    net = await startNetwork({ chain: false });
  });
  afterAll(async () => net?.stop());

  it.each([
    ["not canonical base64url (trailing bits set)", "_E0V-9c3bf-cXEkD--bW7Er6US5X_2_A_A--nu_y--_"],
    ["a point of small order (all zeros)", "A".repeat(43)],
  ])("a kem %s is a 400 invalid_request, not a 500", async (_what, kem) => {
    // Prepare
    const api = new ApiClient(net.url, generateSigningKey());
    // Act
    const r = await api.request(API.openSession, { body: { kem } }).catch((e: { status: number; code: string }) => [e.status, e.code]);
    // Assess
    expect(r).toEqual([400, "invalid_request"]);
  });
});
