/**
 * The x-cocoon-auth v2 format to the byte and to the message (issue 14, mutation-checked):
 * a known-answer vector checked against node:crypto directly (so signer and verifier cannot
 * agree on a wrong string), the exact bounds of every field, and the exact message of every
 * refusal (the message is what tells a client author what to fix).
 * request-auth.test.ts covers the round trip and the tamper cases.
 */
import { createHash, createPrivateKey, sign as nodeSign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AuthError, CryptoInputError } from "./errors";
import { b64u } from "./encoding";
import { signingKeyFromSeed, signingSeed } from "./keys";
import { parseAuthHeader, requestSigningString, signRequest, verifyRequestAuth } from "./request-auth";

const key = signingKeyFromSeed(new Uint8Array(32).fill(7));
const TS = 1_700_000_000_000;
const NONCE = "nonce-0123456789abcdef";
const req = { method: "post", path: "/v1/jobs?wait=5", body: '{"a":1}', host: "API.Test:8443", idempotencyKey: "idem-key-0001" };

/** Ed25519 straight from node:crypto over the string the format documents. */
function referenceSig(message: string): string {
  const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.from(signingSeed(key))]);
  return b64u.encode(nodeSign(null, Buffer.from(message, "utf8"), createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })));
}

const documented = [
  "cocoon/v2/request",
  "api.test:8443",
  "POST",
  "/v1/jobs?wait=5",
  createHash("sha256").update('{"a":1}').digest("hex"),
  "idem-key-0001",
  String(TS),
  NONCE,
].join("\n");

const good = `v2 key=${key.id},ts=${TS},nonce=${NONCE},sig=${referenceSig(documented)}`;
const verifyReq = { ...req, method: "POST" };

function authError(f: () => unknown): AuthError {
  try {
    f();
  } catch (e) {
    if (e instanceof AuthError) return e;
    throw e;
  }
  throw new Error("expected an AuthError, nothing was thrown");
}
const parseError = (header: unknown) => authError(() => parseAuthHeader(header as string));
const FORMAT = 'expected "v2 key=<b64u public key>,ts=<unix ms>,nonce=<16-128 base64url chars>,sig=<b64u signature>"';
const malformed = (what: string) => `x-cocoon-auth header is malformed: ${what}; ${FORMAT}`;
const withField = (name: string, value: string) => good.replace(new RegExp(`${name}=[^,]*`), `${name}=${value}`);

describe("known-answer vector", () => {
  it("the signed string is prefix, lower-case host, upper-case method, path, body hash, Idempotency-Key, ts and nonce, one per line", () => {
    expect(requestSigningString(req, TS, NONCE)).toBe(documented);
    expect(requestSigningString({ ...req, body: undefined, idempotencyKey: undefined }, TS, NONCE)).toBe(
      [
        "cocoon/v2/request",
        "api.test:8443",
        "POST",
        "/v1/jobs?wait=5",
        createHash("sha256").update("").digest("hex"),
        "",
        String(TS),
        NONCE,
      ].join("\n"),
    );
  });

  it("signRequest writes exactly the header node:crypto's signature of that string gives", () => {
    expect(signRequest(key, { ...req, now: TS, nonce: NONCE })).toBe(good);
  });

  it("verifyRequestAuth accepts that header, and a header signed over anything else is bad_signature", () => {
    expect(verifyRequestAuth(good, verifyReq)).toEqual({ keyId: key.id, ts: TS, nonce: NONCE });
    const lowerMethod = `v2 key=${key.id},ts=${TS},nonce=${NONCE},sig=${referenceSig(documented.replace("\nPOST\n", "\npost\n"))}`;
    const noPrefix = `v2 key=${key.id},ts=${TS},nonce=${NONCE},sig=${referenceSig(documented.replace("cocoon/v2/request", ""))}`;
    const joined = `v2 key=${key.id},ts=${TS},nonce=${NONCE},sig=${referenceSig(documented.split("\n").join(""))}`;
    for (const h of [lowerMethod, noPrefix, joined]) expect(authError(() => verifyRequestAuth(h, verifyReq)).code).toBe("bad_signature");
  });

  it("a bad signature says how to sign, naming the host the server expects", () => {
    const err = authError(() => verifyRequestAuth(good, { ...verifyReq, path: "/v1/jobs" }));
    expect(err.message).toBe(
      'x-cocoon-auth signature does not verify: sign "cocoon/v2/request\\nhost\\nMETHOD\\npath?query\\nsha256hex(body)\\nidempotency-key\\nts\\nnonce" with the key in the header, using this API\'s host (API.Test:8443), the exact method, path with query, body bytes and Idempotency-Key that are sent (small-order or non-canonical Ed25519 keys and signatures are refused)',
    );
  });
});

describe("what can be signed", () => {
  it.each([
    ["api.test", true],
    ["api.test:8443", true],
    ["127.0.0.1:8787", true],
    ["[::1]", true],
    ["[::1]:8787", true],
    ["[2001:db8::1]:443", true],
    ["api.test/", false],
    ["api.test:", false],
    ["api.test:123456", false],
    ["x[::1]", false],
    ["[::1]x", false],
    ["[::1]:80x", false],
    ["[x]", false],
    ["[::1]:", false],
    [`[${"1".repeat(46)}]`, false],
    ["a".repeat(254), false],
  ])("host %j can be signed: %s", (host, ok) => {
    const f = () => requestSigningString({ ...req, host }, TS, NONCE);
    if (ok) expect(f()).toContain(`\n${host.toLowerCase()}\n`);
    else
      expect(f).toThrow(
        new CryptoInputError("unsupported_value", `request host must be the API URL's host[:port], got ${JSON.stringify(host)}`),
      );
  });

  it("a host that is not a string is refused as a value, not a crash", () => {
    expect(() => requestSigningString({ ...req, host: undefined as unknown as string }, TS, NONCE)).toThrow(CryptoInputError);
  });

  it("an Idempotency-Key must be a string of at most 256 printable ASCII characters", () => {
    const refused = new CryptoInputError("unsupported_value", "Idempotency-Key must be at most 256 printable ASCII characters");
    expect(requestSigningString({ ...req, idempotencyKey: "~".repeat(256) }, TS, NONCE)).toContain("~".repeat(256));
    expect(() => requestSigningString({ ...req, idempotencyKey: "~".repeat(257) }, TS, NONCE)).toThrow(refused);
    expect(() => requestSigningString({ ...req, idempotencyKey: 12345678 as unknown as string }, TS, NONCE)).toThrow(refused);
  });

  it("the timestamp may be 0 but not negative; the nonce is checked before signing", () => {
    expect(parseAuthHeader(signRequest(key, { ...req, now: 0, nonce: NONCE })).ts).toBe(0);
    expect(() => signRequest(key, { ...req, now: -1, nonce: NONCE })).toThrow(
      new CryptoInputError("unsupported_value", "request timestamp must be a non-negative integer of unix ms, got -1"),
    );
    expect(() => signRequest(key, { ...req, now: TS, nonce: `${NONCE}!` })).toThrow(
      new CryptoInputError("unsupported_value", "request nonce must be 16 to 128 base64url characters"),
    );
  });
});

describe("parsing the header: every refusal names its problem", () => {
  it("no header, null, or only spaces: missing_auth with the format", () => {
    for (const h of [undefined, null, "  "]) {
      const e = parseError(h);
      expect([e.code, e.message]).toEqual([
        "missing_auth",
        `missing x-cocoon-auth header: sign every request with your Ed25519 key ("v2 key=<b64u public key>,ts=<unix ms>,nonce=<16-128 base64url chars>,sig=<b64u signature>")`,
      ]);
    }
  });

  it("issue 14: a header that is not a string is malformed_auth, not a TypeError (the type check came after .trim())", () => {
    const e = parseError(12345);
    expect([e.code, e.message]).toEqual(["malformed_auth", malformed("not a string")]);
  });

  it("exactly 512 characters is parsed; 513 is too long", () => {
    expect(parseError(`v2 ${"x".repeat(509)}`).message).toBe(malformed('"xxxxxxxxxxxxxxxxxxxx" is not name=value'));
    expect(parseError(`v2 ${"x".repeat(510)}`).message).toBe(malformed("513 characters is too long"));
  });

  it("spaces around the header, after commas and around = are allowed", () => {
    const spaced = `  v2  ${good
      .slice(3)
      .split(",")
      .map((f) => f.replace("=", " = "))
      .join(" , ")}  `;
    expect(parseAuthHeader(spaced)).toEqual(parseAuthHeader(good));
  });

  it.each([
    ["another scheme", good.replace("v2 ", "v3 "), 'scheme must be "v2"'],
    ["a field without a name", good.replace("key=", "="), '"=' + key.id.slice(0, 19) + '" is not name=value'],
    ["a long field without =", `${good},${"y".repeat(30)}`, `"${"y".repeat(20)}" is not name=value`],
    ["a field twice", `${good},ts=${TS}`, 'field "ts" appears twice'],
    ["an unknown field", `${good},${"algorithm".repeat(3)}=none`, `unknown field "${"algorithm".repeat(3).slice(0, 20)}"`],
    ["no key", good.replace(/key=[^,]*,/, ""), "missing field(s) key"],
    ["no ts", good.replace(/ts=[^,]*,/, ""), "missing field(s) ts"],
    ["no nonce", good.replace(/nonce=[^,]*,/, ""), "missing field(s) nonce"],
    ["no sig", good.replace(/,sig=.*/, ""), "missing field(s) sig"],
    ["no ts nor sig", good.replace(/ts=[^,]*,/, "").replace(/,sig=.*/, ""), "missing field(s) ts, sig"],
    ["a key with a trailing character", withField("key", `${key.id}x`), "key must be a 32-byte Ed25519 public key in base64url (43 chars)"],
    ["a key with a leading character", withField("key", `x${key.id}`), "key must be a 32-byte Ed25519 public key in base64url (43 chars)"],
    ["a ts with a trailing letter", withField("ts", `${TS}z`), "ts must be unix time in milliseconds (decimal integer)"],
    ["a ts with a leading letter", withField("ts", `z${TS}`), "ts must be unix time in milliseconds (decimal integer)"],
    ["a ts past 2^53", withField("ts", "9999999999999999"), "ts must be unix time in milliseconds (decimal integer)"],
    ["a ts with a leading zero", withField("ts", `0${TS}`), "ts must be unix time in milliseconds (decimal integer)"],
    ["a ts in exponent form", withField("ts", "1e12"), "ts must be unix time in milliseconds (decimal integer)"],
    ["a ts with a fraction of zeros", withField("ts", `${TS}.0`), "ts must be unix time in milliseconds (decimal integer)"],
    ["a nonce with a trailing character", withField("nonce", `${NONCE}!`), "nonce must be 16 to 128 base64url characters"],
    ["a nonce with a leading character", withField("nonce", `!${NONCE}`), "nonce must be 16 to 128 base64url characters"],
    ["a sig with a trailing character", `${good}x`, "sig must be a 64-byte Ed25519 signature in base64url (86 chars)"],
    ["a sig with a leading character", good.replace("sig=", "sig=x"), "sig must be a 64-byte Ed25519 signature in base64url (86 chars)"],
  ])("%s", (_what, header, what) => {
    const e = parseError(header);
    expect([e.code, e.message]).toEqual(["malformed_auth", malformed(what)]);
  });

  it("a key or signature that is not canonical base64url is malformed (not a bad signature)", () => {
    const nonCanonicalKey = key.id.slice(0, 42) + (key.id.endsWith("B") ? "C" : "B"); // non-zero trailing bits
    const e = authError(() => verifyRequestAuth(withField("key", nonCanonicalKey), verifyReq));
    expect(e.code).toBe("malformed_auth");
    expect(e.message).toMatch(/^x-cocoon-auth header is malformed: (invalid base64url|base64url has non-zero trailing bits)/);
  });

  it("a host the server cannot sign for is reported as malformed, and a programming error is not disguised as one", () => {
    const e = authError(() => verifyRequestAuth(good, { ...verifyReq, host: "bad host" }));
    expect([e.code, e.message]).toEqual(["malformed_auth", malformed('request host must be the API URL\'s host[:port], got "bad host"')]);
    expect(() => verifyRequestAuth(good, { ...verifyReq, method: undefined as unknown as string })).toThrow(TypeError);
  });
});
