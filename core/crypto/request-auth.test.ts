import { describe, expect, it } from "vitest";
import { AuthError } from "./errors";
import { b64u } from "./encoding";
import { generateSigningKey } from "./keys";
import { AUTH_HEADER, apiHostOf, parseAuthHeader, signRequest, verifyRequestAuth } from "./request-auth";

function authError(f: () => unknown): AuthError {
  try {
    f();
  } catch (e) {
    if (e instanceof AuthError) return e;
    throw e;
  }
  throw new Error("expected AuthError, nothing was thrown");
}

describe("signed requests", () => {
  const key = generateSigningKey();
  const req = {
    method: "post",
    path: "/v1/jobs?dry=1",
    body: '{"model":"qwen/qwen2-7b"}',
    host: "api.cocoon.example",
    idempotencyKey: "submit-0001",
  };
  const now = 1_764_000_000_123;
  const header = signRequest(key, { ...req, now, nonce: "abcdefghijklmnop" });

  it("round trips and reports key id, ts and nonce", () => {
    // Act
    const claims = verifyRequestAuth(header, { ...req, method: "POST" });
    // Assess
    expect(AUTH_HEADER).toBe("x-cocoon-auth");
    expect(header).toMatch(/^v2 key=[A-Za-z0-9_-]{43},ts=1764000000123,nonce=abcdefghijklmnop,sig=[A-Za-z0-9_-]{86}$/);
    expect(claims).toEqual({ keyId: key.id, ts: now, nonce: "abcdefghijklmnop" });
  });

  it("signs bytes and strings of the same body alike, and an absent body as empty", () => {
    // Prepare
    const h1 = signRequest(key, { method: "GET", path: "/v1/account", host: req.host });
    // Act / Assess
    expect(verifyRequestAuth(h1, { method: "GET", path: "/v1/account", body: "", host: req.host, idempotencyKey: "" }).keyId).toBe(key.id);
    expect(verifyRequestAuth(header, { ...req, body: new TextEncoder().encode(req.body) }).keyId).toBe(key.id);
  });

  it("makes a fresh random nonce and uses the clock by default", () => {
    // Act
    const a = parseAuthHeader(signRequest(key, req));
    const b = parseAuthHeader(signRequest(key, req));
    // Assess
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Math.abs(a.ts - Date.now())).toBeLessThan(60_000);
  });

  const resign = (over: { now?: number; nonce?: string }) => signRequest(key, { ...req, now, nonce: "abcdefghijklmnop", ...over });
  const swap = (field: "ts" | "nonce", value: string) => header.replace(new RegExp(`${field}=[^,]+`), `${field}=${value}`);
  it.each([
    ["method", () => verifyRequestAuth(header, { ...req, method: "PUT" })],
    ["path", () => verifyRequestAuth(header, { ...req, path: "/v1/jobs?dry=2" })],
    ["body", () => verifyRequestAuth(header, { ...req, body: req.body + " " })],
    ["host", () => verifyRequestAuth(header, { ...req, host: "api.other.example" })],
    ["Idempotency-Key", () => verifyRequestAuth(header, { ...req, idempotencyKey: "submit-0002" })],
    ["absent Idempotency-Key", () => verifyRequestAuth(header, { ...req, idempotencyKey: undefined })],
    ["ts", () => verifyRequestAuth(swap("ts", String(now + 1)), req)],
    ["nonce", () => verifyRequestAuth(swap("nonce", "abcdefghijklmnoq"), req)],
    ["key", () => verifyRequestAuth(header.replace(key.id, generateSigningKey().id), req)],
    [
      "signature from another request",
      () => verifyRequestAuth(header.replace(/sig=.*/, resign({ now: now + 1 }).match(/sig=.*/)![0]), req),
    ],
  ])("a changed %s gives bad_signature", (_what, f) => {
    // Act
    const err = authError(f);
    // Assess
    expect(err.code).toBe("bad_signature");
    expect(err.message).toContain("sign");
  });

  it.each([undefined, "", "   "])("a missing header (%j) gives missing_auth", (value) => {
    // Act
    const err = authError(() => verifyRequestAuth(value, req));
    // Assess
    expect(err.code).toBe("missing_auth");
  });

  it.each([
    ["another scheme", header.replace(/^v2 /, "v3 ")],
    ["a bearer token", "Bearer abc.def.ghi"],
    ["a missing sig", header.replace(/,sig=.*/, "")],
    ["a duplicated field", `${header},ts=${now}`],
    ["an unknown field", `${header},alg=none`],
    ["a non-numeric ts", swap("ts", "yesterday")],
    ["a fractional ts", swap("ts", "1764000000123.5")],
    ["a short nonce", swap("nonce", "abc")],
    ["a nonce with bad characters", swap("nonce", "abcdefghijklmno+")],
    ["a short key", header.replace(key.id, key.id.slice(1))],
    ["a truncated sig", header.slice(0, -2)],
    ["garbage", "v2 ,,,,"],
    ["an overlong value", `v2 key=${"A".repeat(600)}`],
  ])("%s gives malformed_auth with the expected format", (_what, value) => {
    // Act
    const err = authError(() => verifyRequestAuth(value, req));
    // Assess
    expect(err.code).toBe("malformed_auth");
    expect(err.message).toContain('expected "v2 key=');
  });

  it("accepts the fields in any order", () => {
    // Prepare
    const [, rest] = header.split(" ");
    const reordered = `v2 ${rest!.split(",").reverse().join(",")}`;
    // Act / Assess
    expect(verifyRequestAuth(reordered, req).keyId).toBe(key.id);
  });

  it("refuses to sign with a bad nonce or timestamp", () => {
    // Act / Assess
    expect(() => resign({ nonce: "short" })).toThrow(expect.objectContaining({ code: "unsupported_value" }));
    expect(() => resign({ now: 1.5 })).toThrow(expect.objectContaining({ code: "unsupported_value" }));
  });

  it("refuses to sign for a host or an Idempotency-Key that would not be one line", () => {
    // Act / Assess
    expect(() => signRequest(key, { ...req, host: "api.example\nGET" })).toThrow(expect.objectContaining({ code: "unsupported_value" }));
    expect(() => signRequest(key, { ...req, host: "" })).toThrow(expect.objectContaining({ code: "unsupported_value" }));
    expect(() => signRequest(key, { ...req, idempotencyKey: "a\nb" })).toThrow(expect.objectContaining({ code: "unsupported_value" }));
  });

  it("apiHostOf is the URL's authority, lower case, without a default port", () => {
    // Act / Assess
    expect(apiHostOf("https://API.Cocoon.example:443/base")).toBe("api.cocoon.example");
    expect(apiHostOf("http://127.0.0.1:8787")).toBe("127.0.0.1:8787");
    expect(apiHostOf("http://[::1]:8787/")).toBe("[::1]:8787");
  });
});

describe("issue 9 #12: the signature covers the deployment and the Idempotency-Key", () => {
  const key = generateSigningKey();
  const req = { method: "POST", path: "/v1/account/faucet", body: '{"amount":"1"}', idempotencyKey: "faucet-key-0001" };

  it("issue 9 #12: a request signed for deployment A is refused by deployment B", () => {
    // Prepare
    const forA = signRequest(key, { ...req, host: apiHostOf("https://a.cocoon.example") });
    // Act
    const atA = verifyRequestAuth(forA, { ...req, host: "a.cocoon.example" });
    const err = authError(() => verifyRequestAuth(forA, { ...req, host: "b.cocoon.example" }));
    // Assess
    expect(atA.keyId).toBe(key.id);
    expect(err.code).toBe("bad_signature");
    expect(err.message).toContain("b.cocoon.example");
  });

  it("issue 9 #12: swapping the Idempotency-Key on a signed request is refused", () => {
    // Prepare
    const header = signRequest(key, { ...req, host: "a.cocoon.example" });
    // Act
    const swapped = authError(() => verifyRequestAuth(header, { ...req, host: "a.cocoon.example", idempotencyKey: "faucet-key-0002" }));
    const dropped = authError(() => verifyRequestAuth(header, { ...req, host: "a.cocoon.example", idempotencyKey: undefined }));
    // Assess
    expect([swapped.code, dropped.code]).toEqual(["bad_signature", "bad_signature"]);
  });

  it("issue 9 #12: a v1 header (covering neither) is refused with unsupported_auth_version", () => {
    // Prepare: a well-formed v1 header as the old clients sent it
    const v1 = signRequest(key, { ...req, host: "a.cocoon.example" }).replace(/^v2 /, "v1 ");
    // Act
    const err = authError(() => verifyRequestAuth(v1, { ...req, host: "a.cocoon.example" }));
    // Assess
    expect(err.code).toBe("unsupported_auth_version");
    expect(err.message).toContain("v2 key=");
  });
});

describe("issue 9 #9: forged requests under small-order keys", () => {
  it("issue 9 #9: GET /v1/account signed by the identity key (R = identity, S = 0) is refused", () => {
    // Prepare: the header from the issue: key AQAA…, a "signature" that OpenSSL accepts for any message
    const identity = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const sig = b64u.encode(Buffer.concat([b64u.decode(identity), Buffer.alloc(32)]));
    const header = `v2 key=${identity},ts=${Date.now()},nonce=abcdefghijklmnop,sig=${sig}`;
    // Act
    const err = authError(() => verifyRequestAuth(header, { method: "GET", path: "/v1/account", host: "127.0.0.1:8787" }));
    // Assess
    expect(err.code).toBe("bad_signature");
  });
});
