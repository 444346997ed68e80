/**
 * Request sessions (core/crypto/session-auth.ts) at their edges: the exact shapes the parser
 * takes (anchored token and MAC, decimal safe-integer ts, 16–128 char nonce, 512 characters),
 * the exact lifetime, which whitespace is tolerated, what each refusal says, and that freshness
 * (core/auth.ts) is not the session's check. Headers here carry a MAC that is valid for what
 * they say (the key is derived from the test's own secret, independently of the code), so the
 * only thing that can refuse a bad shape is the shape check itself.
 */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../local/memory-store";
import { AUTH_FUTURE_SKEW_MS, authenticateRequest } from "../auth";
import { UnauthenticatedError } from "../errors";
import { b64u } from "./encoding";
import { AuthError, CryptoInputError, HpkeOpenError } from "./errors";
import { hpkeOpen, hpkeSeal } from "./hpke";
import { generateKemKey, generateSigningKey } from "./keys";
import { requestSigningString, type SignableRequest } from "./request-auth";
import {
  isSessionAuth,
  openSealedSession,
  openSession,
  sealSession,
  SESSION_RENEW_MS,
  SESSION_SCHEME,
  SESSION_TTL_MS,
  sessionAuthHeader,
  verifySessionAuth,
} from "./session-auth";

const SECRET = "a7".repeat(32);
const T0 = 1_699_999_990_000;
const HOUR_MS = 3_600_000;
const REQ: SignableRequest = {
  method: "POST",
  path: "/v1/jobs?wait=20",
  body: '{"a":1}',
  host: "api.cocoon.example",
  idempotencyKey: "idem-1",
};
const KEY_DOMAIN = "cocoon/v1/session-key\n";

/** The session key of `token` as the coordinator derives it: HMAC-SHA256(secret, domain ‖ token), computed here. */
const keyFor = (token: string, o: { secret?: string; domain?: string } = {}): string =>
  b64u.encode(
    createHmac("sha256", Buffer.from(o.secret ?? SECRET, "hex"))
      .update(o.domain ?? KEY_DOMAIN)
      .update(token)
      .digest(),
  );

/** A well-formed token for `keyId` ending at `expiresAt` (the coordinator's shape, built by hand). */
const tokenOf = (keyId: string, expiresAt = T0 + HOUR_MS): string => `${keyId}.${expiresAt}.${"r".repeat(22)}`;

/** Factory: a header for `token` whose MAC is valid for it under SECRET (whatever the token's shape). */
function headerFor(token: string, o: { now?: number; nonce?: string; key?: string } = {}): string {
  return sessionAuthHeader({ token, key: o.key ?? keyFor(token) }, { ...REQ, now: o.now ?? T0, nonce: o.nonce ?? "n".repeat(22) });
}

/** Factory: a session opened by the code for a fresh key, and a header authenticated with it. */
function prepared(o: { now?: number; nonce?: string } = {}) {
  const signer = generateSigningKey();
  const session = openSession(SECRET, signer.id, T0);
  const header = sessionAuthHeader(session, { ...REQ, now: o.now ?? T0, nonce: o.nonce ?? "n".repeat(22) });
  return { signer, session, header };
}

/** The AuthError `f` throws (anything else, or nothing, fails the test). */
const refusal = (f: () => unknown): { code: string; message: string } => {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(AuthError);
  return { code: (thrown as AuthError).code, message: (thrown as AuthError).message };
};

const verify = (header: string, now = T0) => verifySessionAuth(header, REQ, SECRET, now);

describe("session-auth edges: the token is exactly a session token", () => {
  it("a token with anything before it is malformed_auth naming the token, even with a MAC valid for that exact string", () => {
    // Prepare
    const victim = generateSigningKey().id;
    const token = `A${tokenOf(victim)}`;
    // Act
    const r = refusal(() => verify(headerFor(token)));
    // Assess
    expect(r.code).toBe("malformed_auth");
    expect(r.message).toMatch(/malformed: token /);
  });

  it("a token with anything after it is malformed_auth, even with a MAC valid for that exact string", () => {
    // Prepare
    const token = `${tokenOf(generateSigningKey().id)}.extra`;
    // Act
    const r = refusal(() => verify(headerFor(token)));
    // Assess
    expect(r.code).toBe("malformed_auth");
    expect(r.message).toMatch(/malformed: token /);
  });

  it("the same hand-built token without prefix or suffix verifies as its key (the refusals above are the shape's)", () => {
    // Prepare
    const keyId = generateSigningKey().id;
    const token = tokenOf(keyId);
    // Act
    const claims = verify(headerFor(token));
    // Assess
    expect(claims).toEqual({ keyId, ts: T0, nonce: "n".repeat(22), expiresAt: T0 + HOUR_MS });
  });

  it("a key derived under another domain line, another secret or for another key id's token is bad_session", () => {
    // Prepare
    const token = tokenOf(generateSigningKey().id);
    const otherToken = tokenOf(generateSigningKey().id);
    // Act
    const domain = refusal(() => verify(headerFor(token, { key: keyFor(token, { domain: "cocoon/v1/session-request\n" }) })));
    const noDomain = refusal(() => verify(headerFor(token, { key: keyFor(token, { domain: "" }) })));
    const secret = refusal(() => verify(headerFor(token, { key: keyFor(token, { secret: "b8".repeat(32) }) })));
    const otherKeyId = refusal(() => verify(headerFor(token, { key: keyFor(otherToken) })));
    // Assess
    expect([domain.code, noDomain.code, secret.code, otherKeyId.code]).toEqual([
      "bad_session",
      "bad_session",
      "bad_session",
      "bad_session",
    ]);
  });

  it("a MAC over the request without the session-request domain line is bad_session", () => {
    // Prepare
    const token = tokenOf(generateSigningKey().id);
    const bare = createHmac("sha256", b64u.decode(keyFor(token)))
      .update(requestSigningString(REQ, T0, "n".repeat(22)))
      .digest();
    const header = `s1 token=${token},ts=${T0},nonce=${"n".repeat(22)},mac=${b64u.encode(bare)}`;
    // Act
    const r = refusal(() => verify(header));
    // Assess
    expect(r.code).toBe("bad_session");
  });

  it("bad_session says to use a token from POST /v1/sessions over the exact host it was checked for", () => {
    // Prepare
    const { header } = prepared();
    // Act
    const r = refusal(() => verifySessionAuth(header, REQ, "b8".repeat(32), T0));
    // Assess
    expect(r.code).toBe("bad_session");
    expect(r.message).toContain("POST /v1/sessions");
    expect(r.message).toContain("(api.cocoon.example)");
  });
});

describe("session-auth edges: opening a session for a key id the token cannot carry", () => {
  it.each([
    ["one character too long (a prefix would hide the real key id)", (id: string) => `A${id}`],
    ["one character too short", (id: string) => id.slice(1)],
    ["carrying its own expiry and random part", (id: string) => tokenOf(id)],
    ["with a character outside base64url", (id: string) => `${id.slice(1)}.`],
    ["empty", () => ""],
  ])("a key id %s is CryptoInputError unsupported_value naming the key id", (_what, edit) => {
    // Prepare
    const keyId = edit(generateSigningKey().id);
    // Act
    let thrown: unknown;
    try {
      openSession(SECRET, keyId, T0);
    } catch (e) {
      thrown = e;
    }
    // Assess
    expect(thrown).toBeInstanceOf(CryptoInputError);
    expect((thrown as CryptoInputError).code).toBe("unsupported_value");
    expect((thrown as CryptoInputError).message).toContain(JSON.stringify(keyId));
  });
});

describe("session-auth edges: the MAC is exactly 43 base64url characters", () => {
  it.each([
    ["with a character before it", (mac: string) => `A${mac}`],
    ["with a character after it", (mac: string) => `${mac}A`],
    ["one character short", (mac: string) => mac.slice(1)],
    ["twice as long (a signature's length)", (mac: string) => `${mac}${mac}`],
    ["empty", () => ""],
  ])("a mac %s is AuthError malformed_auth naming the mac (no other error escapes)", (_what, edit) => {
    // Prepare
    const { header } = prepared();
    const mac = header.slice(header.indexOf(",mac=") + 5);
    // Act
    const r = refusal(() => verify(`${header.slice(0, header.indexOf(",mac="))},mac=${edit(mac)}`));
    // Assess
    expect(r.code).toBe("malformed_auth");
    expect(r.message).toMatch(/malformed: mac /);
  });

  it("a 43-character mac that is not canonical base64url is malformed_auth saying why it does not decode", () => {
    // Prepare
    const { header } = prepared();
    // Act
    const r = refusal(() => verify(header.replace(/.$/, "B")));
    // Assess
    expect(r.code).toBe("malformed_auth");
    expect(r.message).toMatch(/malformed: mac: base64url has non-zero trailing bits/);
  });

  it("a malformed refusal states the header format it expects", () => {
    // Prepare
    const { header } = prepared();
    // Act
    const r = refusal(() => verify(header.replace(/mac=.*$/, "mac=AAAA")));
    // Assess
    expect(r.message).toContain("x-cocoon-auth session header is malformed: mac must be");
    expect(r.message).toContain('expected "s1 token=<session token>,ts=<unix ms>,nonce=<16-128 base64url chars>,mac=<b64u HMAC-SHA256>"');
  });
});

describe("session-auth edges: ts is a decimal safe integer", () => {
  it.each(["1699999990000.0", "1.69999999e12", "01699999990000", "+1699999990000", `0x${T0.toString(16)}`])(
    "ts spelled %s (the same number, so the MAC would match) is malformed_auth naming ts",
    (spelling) => {
      // Prepare
      const { header } = prepared();
      expect(Number(spelling)).toBe(T0);
      // Act
      const r = refusal(() => verify(header.replace(`ts=${T0}`, `ts=${spelling}`)));
      // Assess
      expect(r.code).toBe("malformed_auth");
      expect(r.message).toMatch(/malformed: ts must be unix time in milliseconds/);
    },
  );

  it("a negative ts is malformed_auth even with a MAC over it", () => {
    // Prepare
    const token = tokenOf(generateSigningKey().id);
    // Act
    const r = refusal(() => verify(headerFor(token, { now: -1 })));
    // Assess
    expect(r.code).toBe("malformed_auth");
    expect(r.message).toMatch(/malformed: ts /);
  });

  it("the largest safe integer is accepted as ts; 2^53 (decimal, within 16 digits) is malformed_auth", () => {
    // Prepare
    const { header } = prepared({ now: Number.MAX_SAFE_INTEGER });
    // Act
    const ok = verify(header);
    const r = refusal(() => verify(header.replace("ts=9007199254740991", "ts=9007199254740992")));
    // Assess
    expect(ok.ts).toBe(Number.MAX_SAFE_INTEGER);
    expect(r.code).toBe("malformed_auth");
    expect(r.message).toMatch(/malformed: ts /);
  });
});

describe("session-auth edges: the nonce is 16 to 128 base64url characters", () => {
  it.each([16, 128])("a nonce of %i characters is accepted", (n) => {
    // Prepare
    const nonce = "x".repeat(n);
    const { header } = prepared({ nonce });
    // Act
    const claims = verify(header);
    // Assess
    expect(claims.nonce).toBe(nonce);
  });

  it.each([
    ["15 characters", "x".repeat(15)],
    ["129 characters", "x".repeat(129)],
    ["a character outside base64url", `${"x".repeat(21)}.`],
    ["standard base64 characters", `${"x".repeat(20)}+/`],
  ])("a nonce of %s is malformed_auth naming the nonce, even with a MAC over it", (_what, nonce) => {
    // Prepare
    const { header } = prepared({ nonce });
    // Act
    const r = refusal(() => verify(header));
    // Assess
    expect(r.code).toBe("malformed_auth");
    expect(r.message).toMatch(/malformed: nonce must be 16 to 128 base64url characters/);
  });
});

describe("session-auth edges: the scheme", () => {
  it("a header with a valid session MAC under another scheme is malformed_auth, whatever the caller checked before", () => {
    // Prepare: the same fields and MAC, the scheme replaced by one of the same length
    const { header } = prepared();
    const other = `xx${header.slice(SESSION_SCHEME.length)}`;
    // Act
    const r = refusal(() => verify(other));
    // Assess
    expect(verify(header).nonce).toBe("n".repeat(22));
    expect(r.code).toBe("malformed_auth");
    expect(r.message).toMatch(/the scheme must be "s1"/);
  });
});

describe("session-auth edges: length and whitespace", () => {
  it("a header of exactly 512 characters is accepted; 513 is malformed_auth saying how long it is", () => {
    // Prepare
    const { header } = prepared({ nonce: "x".repeat(128) });
    const at512 = header.padEnd(512, " ");
    const at513 = header.padEnd(513, " ");
    // Act
    const ok = verify(at512);
    const r = refusal(() => verify(at513));
    // Assess
    expect(at512).toHaveLength(512);
    expect(ok.nonce).toBe("x".repeat(128));
    expect(r.code).toBe("malformed_auth");
    expect(r.message).toMatch(/malformed: 513 characters is too long/);
  });

  it("the 512 limit counts leading whitespace too: 512 with it padded in front is accepted", () => {
    // Prepare
    const { header } = prepared({ nonce: "x".repeat(128) });
    // Act
    const ok = verify(header.padStart(512, " "));
    const r = refusal(() => verify(header.padStart(513, " ")));
    // Assess
    expect(ok.nonce).toBe("x".repeat(128));
    expect(r.code).toBe("malformed_auth");
  });

  it("whitespace before the scheme and after the header is tolerated: recognised as a session and verified", () => {
    // Prepare
    const { signer, header } = prepared();
    const padded = ` \t ${header} \t `;
    // Act
    const recognised = [isSessionAuth(padded), isSessionAuth(` \t${header}`), isSessionAuth(`${header}\t `)];
    const claims = verify(padded);
    // Assess
    expect(recognised).toEqual([true, true, true]);
    expect(claims.keyId).toBe(signer.id);
  });

  it("a header is a session only when s1 and a space open it", () => {
    // Prepare
    const { header } = prepared();
    const rest = header.slice(3);
    // Act
    const verdicts = [`S1 ${rest}`, `s1${rest}`, `v2 ${rest}`, `x s1 ${rest}`, undefined].map(isSessionAuth);
    // Assess
    expect(verdicts).toEqual([false, false, false, false, false]);
  });
});

describe("session-auth edges: lifetime", () => {
  it("a session lasts exactly one hour: valid 1 ms before, session_expired at and 1 ms after its end", () => {
    // Prepare
    const { session, header } = prepared();
    // Act
    const before = verify(header, T0 + HOUR_MS - 1);
    const at = refusal(() => verify(header, T0 + HOUR_MS));
    const after = refusal(() => verify(header, T0 + HOUR_MS + 1));
    // Assess
    expect(SESSION_TTL_MS).toBe(HOUR_MS);
    expect(session.expiresAt).toBe(T0 + HOUR_MS);
    expect(session.token.split(".")[1]).toBe(String(T0 + HOUR_MS));
    expect(before.expiresAt).toBe(T0 + HOUR_MS);
    expect([at.code, after.code]).toEqual(["session_expired", "session_expired"]);
  });

  it("session_expired says how many seconds ago the session ended", () => {
    // Prepare
    const { session, header } = prepared();
    // Act
    const r = refusal(() => verify(header, session.expiresAt + 90_000));
    // Assess
    expect(r.code).toBe("session_expired");
    expect(r.message).toContain("the session ended 90 s ago");
  });

  it("the client renews a session 5 minutes (300 000 ms) before its end, inside its lifetime", () => {
    // Prepare
    const renewMs = SESSION_RENEW_MS;
    // Act
    const share = renewMs / SESSION_TTL_MS;
    // Assess
    expect(renewMs).toBe(300_000);
    expect(share).toBeLessThan(1);
  });
});

describe("session-auth edges: freshness is core/auth.ts's check, not the session's", () => {
  const WINDOW = 60_000;
  const authDeps = () => {
    const clock = { now: () => T0 };
    return { store: createMemoryStore({ clock }), clock, config: { authWindowMs: WINDOW, sessionKey: SECRET } };
  };
  const asTransport = (ts: number) => ({ ...REQ, body: REQ.body as string, authHeader: prepared({ now: ts }).header });
  const refusedBy = async (p: Promise<unknown>): Promise<string> => {
    const e = await p.then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(UnauthenticatedError);
    return (e as UnauthenticatedError).code;
  };

  it("verifySessionAuth takes any ts within the session's life: an hour behind or ahead of now", () => {
    // Prepare
    const behind = prepared({ now: T0 - HOUR_MS }).header;
    const ahead = prepared({ now: T0 + HOUR_MS }).header;
    // Act
    const claims = [verify(behind), verify(ahead)].map((c) => c.ts);
    // Assess
    expect(claims).toEqual([T0 - HOUR_MS, T0 + HOUR_MS]);
  });

  it(`a session request exactly authWindowMs old or ${AUTH_FUTURE_SKEW_MS} ms ahead is accepted; 1 ms more either way is refused`, async () => {
    // Prepare
    const deps = authDeps();
    // Act
    const oldest = await authenticateRequest(deps, asTransport(T0 - WINDOW), "idempotent", "session");
    const newest = await authenticateRequest(deps, asTransport(T0 + AUTH_FUTURE_SKEW_MS), "idempotent", "session");
    const stale = await refusedBy(authenticateRequest(deps, asTransport(T0 - WINDOW - 1), "idempotent", "session"));
    const future = await refusedBy(authenticateRequest(deps, asTransport(T0 + AUTH_FUTURE_SKEW_MS + 1), "idempotent", "session"));
    // Assess
    expect([oldest.ts, newest.ts]).toEqual([T0 - WINDOW, T0 + AUTH_FUTURE_SKEW_MS]);
    expect([stale, future]).toEqual(["stale_request", "future_request"]);
  });
});

describe("session-auth edges: a request that cannot be signed", () => {
  it("an Idempotency-Key with a line break is malformed_auth naming it, not a CryptoInputError or a crash", () => {
    // Prepare
    const { header } = prepared();
    // Act
    const r = refusal(() => verifySessionAuth(header, { ...REQ, idempotencyKey: "idem\n1" }, SECRET, T0));
    // Assess
    expect(r.code).toBe("malformed_auth");
    expect(r.message).toContain("Idempotency-Key");
  });

  it("a programming error while computing the MAC (a request without a method) surfaces as itself, not as the client's malformed_auth", () => {
    // Prepare
    const { header } = prepared();
    const broken = { ...REQ, method: undefined } as unknown as SignableRequest;
    // Act
    let thrown: unknown;
    try {
      verifySessionAuth(header, broken, SECRET, T0);
    } catch (e) {
      thrown = e;
    }
    // Assess
    expect(thrown).toBeInstanceOf(TypeError);
    expect(thrown).not.toBeInstanceOf(AuthError);
  });
});

describe("session-auth edges: the sealed key's HPKE info", () => {
  it('a session sealed by hand under info "cocoon/v1/session" opens; under another info it does not', () => {
    // Prepare
    const keyId = generateSigningKey().id;
    const session = openSession(SECRET, keyId, T0);
    const kem = generateKemKey();
    const sealedAs = (info: string) => {
      const { enc, ct } = hpkeSeal(kem.publicKey, info, session.token, b64u.decode(session.key));
      return { token: session.token, expiresAt: session.expiresAt, enc: b64u.encode(enc), sealedKey: b64u.encode(ct) };
    };
    // Act
    const opened = openSealedSession(sealedAs("cocoon/v1/session"), kem, keyId);
    // Assess
    expect(opened).toEqual(session);
    expect(() => openSealedSession(sealedAs(""), kem, keyId)).toThrow(HpkeOpenError);
    expect(() => openSealedSession(sealedAs("cocoon/v1/session-key"), kem, keyId)).toThrow(HpkeOpenError);
  });

  it('sealSession seals under info "cocoon/v1/session" with the token as AAD', () => {
    // Prepare
    const session = openSession(SECRET, generateSigningKey().id, T0);
    const kem = generateKemKey();
    // Act
    const sealed = sealSession(session, kem.publicKey);
    const key = hpkeOpen(kem, b64u.decode(sealed.enc), "cocoon/v1/session", session.token, b64u.decode(sealed.sealedKey));
    // Assess
    expect(b64u.encode(key)).toBe(session.key);
  });

  it("the client takes a session's expiry from its token (authenticated as the seal's AAD), not from the answer's expiresAt beside it", () => {
    // Prepare: a proxy moved the answer's expiresAt a day on
    const keyId = generateSigningKey().id;
    const session = openSession(SECRET, keyId, T0);
    const kem = generateKemKey();
    const sealed = { ...sealSession(session, kem.publicKey), expiresAt: session.expiresAt + 86_400_000 };
    // Act
    const opened = openSealedSession(sealed, kem, keyId);
    // Assess: the client renews when the coordinator will stop taking the token
    expect(opened.expiresAt).toBe(session.expiresAt);
    expect(opened.expiresAt).toBe(T0 + SESSION_TTL_MS);
  });
});

describe("session-auth edges: a session's key, kept once a request of it verified, changes no verdict", () => {
  it("a session that verified is bad_session under a rotated secret (its key is derived again, not taken from the kept ones)", () => {
    // Prepare
    const { header } = prepared();
    expect(verify(header).keyId).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Act
    const r = refusal(() => verifySessionAuth(header, REQ, "b8".repeat(32), T0));
    // Assess
    expect(r.code).toBe("bad_session");
  });

  it("a session that verified is session_expired once it ends, and an altered request under it is bad_session", () => {
    // Prepare
    const { header, session } = prepared();
    expect(verify(header).expiresAt).toBe(session.expiresAt);
    // Act
    const expired = refusal(() => verify(header, session.expiresAt));
    const altered = refusal(() => verifySessionAuth(header, { ...REQ, body: `${REQ.body ?? ""} ` }, SECRET, T0));
    // Assess
    expect([expired.code, altered.code]).toEqual(["session_expired", "bad_session"]);
  });

  it("a verified session verifies again under the same secret, with the same claims", () => {
    // Prepare
    const { header } = prepared();
    const first = verify(header);
    // Act
    const again = verify(header);
    // Assess
    expect(again).toEqual(first);
  });
});
