/**
 * Request sessions over real HTTP on 127.0.0.1 (issue 12: an HMAC per request on the hot path
 * instead of an Ed25519 verification): the SDK and the agent use them; the handshake is signed
 * and cannot be replayed; a session is refused where only a signature is taken, for another
 * key and after the secret rotates; a client falls back to signing whenever a session is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API, ApiClient } from "../api-client/api";
import { generateSigningKey } from "../core/crypto/keys";
import { apiHostOf, signRequest } from "../core/crypto/request-auth";
import { sessionAuthHeader, type Session } from "../core/crypto/session-auth";
import { startNetwork, type LocalNetwork } from "../local/network";
import { MODEL, startTestNet, type TestNet } from "./helpers";

const UNKNOWN_JOB = "job_0000000000000000000000000a";

/** GET /v1/jobs/{id} (a route that takes sessions) or GET /v1/account (signatures only) with a ready-made header. */
const get = async (url: string, path: string, auth: string) => {
  const res = await fetch(url + path, { headers: { "x-cocoon-auth": auth } });
  return [res.status, ((await res.json()) as { error?: { code: string } }).error?.code] as const;
};
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
    const session = await api.request(API.openSession);
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

  it("the handshake is signed, never by a session, and a replayed handshake hands out nothing", async () => {
    // Prepare
    const key = generateSigningKey();
    const auth = signRequest(key, { method: "POST", path: "/v1/sessions", body: "{}", host: apiHostOf(t.net.url) });
    const handshake = () =>
      fetch(`${t.net.url}/v1/sessions`, {
        method: "POST",
        headers: { "x-cocoon-auth": auth, "content-type": "application/json" },
        body: "{}",
      });
    // Act
    const first = await handshake();
    const replayed = await handshake();
    // Assess
    expect(first.status).toBe(200);
    expect(((await first.json()) as Session).token.startsWith(`${key.id}.`)).toBe(true);
    expect(replayed.status).toBe(401);
    expect(((await replayed.json()) as { error: { code: string } }).error.code).toBe("replayed_request");
  });

  it("after the secret rotates, a client's request is refused as bad_session once and goes through signed, then on a new session", async () => {
    // Prepare
    const client = await t.client();
    await client.ask({ model: MODEL, messages: [{ role: "user", content: "before" }], tiers: ["dev"] });
    const signedBefore = client.api.sent.signed;
    const secret = t.net.deps.config.sessionKey;
    t.net.deps.config.sessionKey = "0b".repeat(32);
    try {
      // Act
      const r = await client.ask({ model: MODEL, messages: [{ role: "user", content: "after" }], tiers: ["dev"] });
      const refusedThenSigned = client.api.sent.signed - signedBefore;
      const sessionBefore = client.api.sent.session;
      const again = await client.ask({ model: MODEL, messages: [{ role: "user", content: "again" }], tiers: ["dev"] });
      // Assess: the refused request went through signed; the next job opened a new session (signed) and rode on it
      expect([r.text, again.text].join(" ")).toMatch(/after.*again/);
      expect(refusedThenSigned).toBe(1);
      expect(client.api.sent.signed - signedBefore).toBe(2);
      expect(client.api.sent.session).toBeGreaterThan(sessionBefore);
    } finally {
      t.net.deps.config.sessionKey = secret;
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
    const handshake = await api.request(API.openSession).catch((e: { status: number; code: string }) => [e.status, e.code]);
    const header = await get(net.url, `/v1/jobs/${UNKNOWN_JOB}`, withSession(net, made, `/v1/jobs/${UNKNOWN_JOB}`));
    const read = await api
      .request(API.getJob, { params: { id: UNKNOWN_JOB } })
      .catch((e: { status: number; code: string }) => [e.status, e.code]);
    // Assess
    expect(handshake).toEqual([404, "sessions_unavailable"]);
    expect(header).toEqual([401, "sessions_unavailable"]);
    expect(read).toEqual([404, "unknown_job"]); // signed, after its handshake was refused
    expect(api.sent.session).toBe(0);
  });
});
