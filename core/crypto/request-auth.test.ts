import { describe, expect, it } from "vitest";
import { AuthError } from "./errors";
import { generateSigningKey } from "./keys";
import { AUTH_HEADER, parseAuthHeader, signRequest, verifyRequestAuth } from "./request-auth";

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
  const req = { method: "post", path: "/v1/jobs?dry=1", body: '{"model":"qwen/qwen2-7b"}' };
  const now = 1_764_000_000_123;
  const header = signRequest(key, { ...req, now, nonce: "abcdefghijklmnop" });

  it("round trips and reports key id, ts and nonce", () => {
    // Act
    const claims = verifyRequestAuth(header, { ...req, method: "POST" });
    // Assess
    expect(AUTH_HEADER).toBe("x-cocoon-auth");
    expect(header).toMatch(/^v1 key=[A-Za-z0-9_-]{43},ts=1764000000123,nonce=abcdefghijklmnop,sig=[A-Za-z0-9_-]{86}$/);
    expect(claims).toEqual({ keyId: key.id, ts: now, nonce: "abcdefghijklmnop" });
  });

  it("signs bytes and strings of the same body alike, and an absent body as empty", () => {
    // Prepare
    const h1 = signRequest(key, { method: "GET", path: "/v1/account" });
    // Act / Assess
    expect(verifyRequestAuth(h1, { method: "GET", path: "/v1/account", body: "" }).keyId).toBe(key.id);
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
    ["ts", () => verifyRequestAuth(swap("ts", String(now + 1)), req)],
    ["nonce", () => verifyRequestAuth(swap("nonce", "abcdefghijklmnoq"), req)],
    ["key", () => verifyRequestAuth(header.replace(key.id, generateSigningKey().id), req)],
    ["signature from another request", () => verifyRequestAuth(header.replace(/sig=.*/, resign({ now: now + 1 }).match(/sig=.*/)![0]), req)],
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
    ["another scheme", header.replace(/^v1 /, "v2 ")],
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
    ["garbage", "v1 ,,,,"],
    ["an overlong value", `v1 key=${"A".repeat(600)}`],
  ])("%s gives malformed_auth with the expected format", (_what, value) => {
    // Act
    const err = authError(() => verifyRequestAuth(value, req));
    // Assess
    expect(err.code).toBe("malformed_auth");
    expect(err.message).toContain("expected \"v1 key=");
  });

  it("accepts the fields in any order", () => {
    // Prepare
    const [, rest] = header.split(" ");
    const reordered = `v1 ${rest!.split(",").reverse().join(",")}`;
    // Act / Assess
    expect(verifyRequestAuth(reordered, req).keyId).toBe(key.id);
  });

  it("refuses to sign with a bad nonce or timestamp", () => {
    // Act / Assess
    expect(() => resign({ nonce: "short" })).toThrow(expect.objectContaining({ code: "unsupported_value" }));
    expect(() => resign({ now: 1.5 })).toThrow(expect.objectContaining({ code: "unsupported_value" }));
  });
});
