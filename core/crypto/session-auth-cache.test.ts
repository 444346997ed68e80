/**
 * The session verifier's cache of derived keys (core/crypto/session-auth.ts): which tokens it
 * keeps and for how many. A cache changes no answer, so what these tests read is how many HMACs
 * a verification computes (node:crypto's createHmac counted): two when the key is derived
 * (the key, then the request's MAC), one when it was kept.
 */
import { createHmac } from "node:crypto";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { generateSigningKey } from "./keys";
import type { SignableRequest } from "./request-auth";
import { openSession, sessionAuthHeader, verifySessionAuth } from "./session-auth";

vi.mock("node:crypto", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:crypto")>();
  return { ...real, createHmac: vi.fn(real.createHmac) };
});

const SECRET = "a7".repeat(32);
const T0 = 1_699_999_990_000;
const REQ: SignableRequest = { method: "POST", path: "/v1/jobs", body: "{}", host: "api.cocoon.example", idempotencyKey: "idem-1" };
/** the verifier's bound (SESSION_KEY_CACHE), written out: the test pins the number */
const CACHE = 4096;
const signer = generateSigningKey();

/** Factory: a fresh session and a header of its for each nonce asked. */
function session(nonces = ["n".repeat(22)]) {
  const s = openSession(SECRET, signer.id, T0);
  return { token: s.token, headers: nonces.map((nonce) => sessionAuthHeader(s, { ...REQ, now: T0, nonce })) };
}

/** How many HMACs verifying `header` computes. */
function hmacsToVerify(header: string, secret = SECRET): number {
  vi.mocked(createHmac).mockClear();
  try {
    verifySessionAuth(header, REQ, secret, T0);
  } catch {
    // a refusal still counts what it computed
  }
  return vi.mocked(createHmac).mock.calls.length;
}

describe("verifySessionAuth: the derived keys it keeps", () => {
  beforeEach(() => {
    vi.mocked(createHmac).mockClear();
  });

  it("a token whose request verified is kept: its next request derives no key; a refused one is not kept", async () => {
    // Prepare
    const s = session(["a".repeat(22), "b".repeat(22)]);
    const forged = s.headers[0]!.replace(/mac=[^,]+$/, `mac=${"A".repeat(43)}`);

    // Act
    const refused = hmacsToVerify(forged);
    const first = hmacsToVerify(s.headers[0]!);
    const second = hmacsToVerify(s.headers[1]!);

    // Assess
    expect(refused).toBe(2);
    expect(first).toBe(2); // derived again: the refused request kept nothing
    expect(second).toBe(1);
  });

  it(`holds at most ${CACHE} keys: past that the oldest goes, and only the oldest`, () => {
    // Prepare: CACHE + 1 sessions, each verified once (kept in the order verified)
    const sessions = Array.from({ length: CACHE + 1 }, () => session());
    for (const s of sessions) expect(hmacsToVerify(s.headers[0]!)).toBe(2);

    // Act (the oldest last: a miss keeps it again, which evicts the next)
    const next = hmacsToVerify(sessions[1]!.headers[0]!);
    const newest = hmacsToVerify(sessions[CACHE]!.headers[0]!);
    const oldest = hmacsToVerify(sessions[0]!.headers[0]!);

    // Assess
    expect(oldest).toBe(2);
    expect(next).toBe(1);
    expect(newest).toBe(1);
  });
});
