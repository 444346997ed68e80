/**
 * core/jobs/quote.ts to the byte (issue 14, mutation-checked): the MAC is HMAC-SHA256 under the
 * quote key (64 hex chars are the key's bytes; anything else is used as text) over
 * "cocoon/v1/quote\n" + the deployment as a JSON string + "\n" + canonical JSON of the body,
 * checked against node:crypto directly; a MAC
 * of another length is refused like a wrong one (not a crash); the expiry is inclusive; each
 * refusal says what to do. prepare-submit.test.ts covers forged quotes end to end.
 */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Quote } from "../../events/api";
import { b64u, canonicalJson } from "../crypto/encoding";
import { CocoonError } from "../errors";
import { signQuote, verifyQuote, type QuoteBody } from "./quote";

const T = 1_760_000_000_000;
const HEX_KEY = "0f".repeat(32);
const body: QuoteBody = {
  v: 1,
  requester: "r".repeat(43),
  model: "test/model-1",
  maxTokens: 32,
  maxPromptTokens: 200,
  maxCost: "1234",
  candidates: [{ workerId: "w".repeat(43), hpkePublicKey: "k".repeat(43), pricePerToken: "100", tier: "dev" }],
  promptBps: 2500,
  completionBps: 10000,
  expiresAt: T,
};
const DEPLOYMENT = "prod-cocoon-Cocoon-DataTable-1X2Y3Z";
const deps = (quoteKey = HEX_KEY, now = T, deployment = DEPLOYMENT) => ({
  config: { quoteKey, deployment } as never,
  clock: { now: () => now },
});
const macOver = (key: Buffer, text: string) => b64u.encode(createHmac("sha256", key).update(text).digest());
const reference = (key: Buffer) => macOver(key, 'cocoon/v1/quote\n"prod-cocoon-Cocoon-DataTable-1X2Y3Z"\n' + canonicalJson(body));

function refusal(f: () => unknown) {
  try {
    f();
  } catch (e) {
    if (e instanceof CocoonError) return { status: e.status, code: e.code, message: e.message };
    throw e;
  }
  return undefined;
}

describe("quote MAC known answers", () => {
  it("a 64-hex-char key is used as its 32 bytes", () => {
    expect(signQuote(deps(), body).mac).toBe(reference(Buffer.from(HEX_KEY, "hex")));
  });

  it("any other key is used as its UTF-8 text", () => {
    expect(signQuote(deps("not hex, a passphrase"), body).mac).toBe(reference(Buffer.from("not hex, a passphrase", "utf8")));
    const almostHex = "0f".repeat(31) + "zz";
    expect(signQuote(deps(almostHex), body).mac).toBe(reference(Buffer.from(almostHex, "utf8")));
    const longer = "0f".repeat(33);
    expect(signQuote(deps(longer), body).mac).toBe(reference(Buffer.from(longer, "utf8")));
    expect(signQuote(deps("x" + HEX_KEY), body).mac).toBe(reference(Buffer.from("x" + HEX_KEY, "utf8")));
  });

  it("keys taken in turn: each quote verifies under its own key only (the key object kept for the last key never serves another)", () => {
    // Prepare
    const a = deps(HEX_KEY);
    const b = deps("another coordinator's key");
    const qa = signQuote(a, body);
    const qb = signQuote(b, body);
    // Act + Assess: alternate, so the key last used is always the other one
    expect(refusal(() => verifyQuote(a, body.requester, qa))).toBeUndefined();
    expect(refusal(() => verifyQuote(b, body.requester, qa))?.code).toBe("bad_quote");
    expect(refusal(() => verifyQuote(a, body.requester, qb))?.code).toBe("bad_quote");
    expect(refusal(() => verifyQuote(b, body.requester, qb))).toBeUndefined();
    expect(qa.mac).toBe(reference(Buffer.from(HEX_KEY, "hex")));
    expect(qb.mac).toBe(reference(Buffer.from("another coordinator's key", "utf8")));
  });

  it("verifyQuote accepts the reference MAC and refuses one without the domain, without the deployment, or under another deployment", () => {
    const key = Buffer.from(HEX_KEY, "hex");
    const good: Quote = { ...body, mac: reference(key) };
    expect(verifyQuote(deps(), body.requester, good)).toEqual(body);
    for (const text of [
      canonicalJson(body),
      "cocoon/v1/quote\n" + canonicalJson(body), // the MAC before quotes named their deployment
      'cocoon/v1/quote\n"dev-cocoon-Cocoon-DataTable-9Z8Y7X"\n' + canonicalJson(body),
    ])
      expect(refusal(() => verifyQuote(deps(), body.requester, { ...body, mac: macOver(key, text) }))?.code).toBe("bad_quote");
  });

  it("a quote signed by another deployment under the same key is 403 bad_quote; under its own it verifies", () => {
    const dev = deps(HEX_KEY, T, "dev-cocoon-Cocoon-DataTable-9Z8Y7X");
    const q = signQuote(dev, body);
    expect(refusal(() => verifyQuote(deps(), body.requester, q))?.code).toBe("bad_quote");
    expect(verifyQuote(dev, body.requester, q)).toEqual(body);
  });
});

describe("verifyQuote refusals", () => {
  const good = () => signQuote(deps(), body);

  it("a MAC of another length, or not base64url, is 403 bad_quote (not a crash), saying what to do", () => {
    const want = {
      status: 403,
      code: "bad_quote",
      message:
        "the quote's MAC does not verify: it was changed, or made by another coordinator (another deployment, or one whose COCOON_QUOTE_KEY differs): prepare a fresh one",
    };
    expect(refusal(() => verifyQuote(deps(), body.requester, { ...good(), mac: good().mac.slice(0, 22) }))).toEqual(want);
    expect(refusal(() => verifyQuote(deps(), body.requester, { ...good(), mac: "!!" }))).toEqual(want);
  });

  it("another account's quote: 403 not_your_quote", () => {
    expect(refusal(() => verifyQuote(deps(), "s".repeat(43), good()))).toEqual({
      status: 403,
      code: "not_your_quote",
      message: "this quote was made for another account: prepare your own",
    });
  });

  it("valid up to and including expiresAt; one ms later 410 quote_expired", () => {
    expect(verifyQuote(deps(HEX_KEY, T), body.requester, good())).toEqual(body);
    expect(refusal(() => verifyQuote(deps(HEX_KEY, T + 1), body.requester, good()))).toEqual({
      status: 410,
      code: "quote_expired",
      message: "the price quote expired: prepare a fresh one",
    });
  });
});
