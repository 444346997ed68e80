/**
 * What encoding.ts tells a caller when it refuses (the error messages name the place and the
 * fix), and the canonical-JSON rules its main suite leaves implicit: a value repeated without a
 * cycle, the path to a bad value, a string's UTF-8 bytes.
 */
import { describe, expect, it } from "vitest";
import { b64u, canonicalJson, sha256, toBytes } from "./encoding";
import { CryptoInputError } from "./errors";

/** The CryptoInputError `act` throws (fails the test if it throws nothing or something else). */
function refusal(act: () => unknown): { code: string; message: string } {
  try {
    act();
  } catch (e) {
    expect(e).toBeInstanceOf(CryptoInputError);
    const { code, message } = e as CryptoInputError;
    return { code, message };
  }
  throw new Error("expected a CryptoInputError, got none");
}

describe("b64u.decode: a refusal says what is wrong and where", () => {
  it.each([
    ["a character of the standard alphabet", "ab+c", `invalid base64url character "+" at position 2`],
    ["padding", "YQ==", `invalid base64url character "=" at position 2`],
    ["a space first", " YWJj", `invalid base64url character " " at position 0`],
    ["a non-ASCII letter read by its low byte", "YWJ\u0141", `invalid base64url character "Ł" at position 3`],
    ["U+0080, the first code unit past ASCII", "YW\u0080j", `invalid base64url character "\u0080" at position 2`],
    ["DEL (0x7f, ASCII but outside the alphabet)", "YW\u007fj", `invalid base64url character "\u007f" at position 2`],
  ])("%s", (_what, s, start) => {
    // Act
    const r = refusal(() => b64u.decode(s));
    // Assess
    expect(r.code).toBe("invalid_base64url");
    expect(r.message).toBe(`${start}; use A-Z a-z 0-9 - _ and no '=' padding`);
  });

  it("a value that is not a string is refused with the same code, naming its type", () => {
    expect(refusal(() => b64u.decode(42 as unknown as string))).toEqual({
      code: "invalid_base64url",
      message: "expected a base64url string, got number",
    });
  });

  it("a length of 1 mod 4 is named as truncated", () => {
    expect(refusal(() => b64u.decode("YWJjZ"))).toEqual({
      code: "invalid_base64url",
      message: "base64url length 5 is impossible (length mod 4 must not be 1); the value is truncated",
    });
  });

  it("non-zero trailing bits are named as not canonical", () => {
    expect(refusal(() => b64u.decode("YR"))).toEqual({
      code: "invalid_base64url",
      message: "base64url has non-zero trailing bits (not canonical); re-encode the bytes",
    });
  });

  it("every character of the alphabet decodes, and the last of each kind is not mistaken for a bad one", () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    expect(b64u.encode(b64u.decode(alphabet))).toBe(alphabet);
  });
});

describe("toBytes: a string's UTF-8 bytes, bytes as they are", () => {
  it("encodes a string as UTF-8 and returns a Buffer over the same memory for bytes", () => {
    // Prepare
    const bytes = new Uint8Array([1, 2, 3]);
    // Act
    const view = toBytes(bytes);
    view[0] = 9;
    // Assess
    expect([...toBytes("é€")]).toEqual([0xc3, 0xa9, 0xe2, 0x82, 0xac]);
    expect(bytes[0]).toBe(9);
  });

  it("sha256 of a string hashes its UTF-8 bytes", () => {
    expect(Buffer.from(sha256("é")).toString("hex")).toBe(Buffer.from(sha256(Buffer.from("é", "utf8"))).toString("hex"));
  });
});

describe("canonicalJson: one meaning per value", () => {
  it("an object repeated without a cycle is written each time, not taken for a cycle", () => {
    // Prepare
    const shared = { b: 1 };
    // Act / Assess
    expect(canonicalJson({ x: shared, y: [shared, shared] })).toBe('{"x":{"b":1},"y":[{"b":1},{"b":1}]}');
  });

  it("names the path to a non-finite number inside arrays and objects", () => {
    expect(refusal(() => canonicalJson({ a: [1, { b: [0, Number.NaN] }] }))).toEqual({
      code: "unsupported_value",
      message: "$.a[1].b[1] is NaN; canonical JSON only holds finite numbers",
    });
  });

  it("the path of a later key does not keep an earlier sibling's", () => {
    expect(refusal(() => canonicalJson({ a: { ok: 1 }, b: [1, 2], c: { d: Infinity } })).message).toBe(
      "$.c.d is Infinity; canonical JSON only holds finite numbers",
    );
  });

  it("names the type of bytes, maps and sets and how to convert them", () => {
    expect(refusal(() => canonicalJson({ k: [new Uint8Array(1)] })).message).toBe(
      "$.k[0] is a Uint8Array; convert it first (bytes → b64u string, Map → plain object)",
    );
    expect(refusal(() => canonicalJson(new Map())).message).toBe("$ is a Map; convert it first (bytes → b64u string, Map → plain object)");
  });

  it("names a function or symbol and where it is", () => {
    expect(refusal(() => canonicalJson({ f: () => 1 })).message).toBe("$.f is a function; canonical JSON cannot hold it");
    expect(refusal(() => canonicalJson([Symbol("s")])).message).toBe("$[0] is a symbol; canonical JSON cannot hold it");
  });

  it("a cycle is named where it closes", () => {
    const a: Record<string, unknown> = { n: 1 };
    a.self = { back: a };
    expect(refusal(() => canonicalJson(a)).message).toBe("$.self.back is a circular reference");
  });
});
