import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { b64u, bytesEqual, canonicalJson, randomBytes, sha256Hex, sha512 } from "./encoding";
import { CryptoInputError } from "./errors";

function inputError(f: () => unknown): CryptoInputError {
  try {
    f();
  } catch (e) {
    if (e instanceof CryptoInputError) return e;
    throw e;
  }
  throw new Error("expected CryptoInputError");
}

describe("b64u", () => {
  it("round trips any bytes without padding", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        // Act
        const s = b64u.encode(bytes);
        // Assess
        expect(s).toMatch(/^[A-Za-z0-9_-]*$/);
        expect(Buffer.from(b64u.decode(s)).equals(Buffer.from(bytes))).toBe(true);
      }),
    );
  });

  it("encodes the RFC 4648 examples (url alphabet, no padding)", () => {
    // Act / Assess
    expect(b64u.encode(Buffer.from("foobar"))).toBe("Zm9vYmFy");
    expect(b64u.encode(Buffer.from("fo"))).toBe("Zm8");
    expect(b64u.encode(Uint8Array.of(0xfb, 0xff))).toBe("-_8");
  });

  it.each([
    ["padding", "Zm8="],
    ["standard alphabet +", "+/8"],
    ["whitespace", "Zm9v YmFy"],
    ["impossible length", "Zm9vY"],
    ["non-canonical trailing bits", "Zm9"],
    ["non-ascii", "Zm9vé"],
  ])("decode refuses %s with invalid_base64url", (_what, s) => {
    // Act
    const err = inputError(() => b64u.decode(s));
    // Assess
    expect(err.code).toBe("invalid_base64url");
  });
});

describe("b64u.decode verdicts (the checks that replaced re-encoding)", () => {
  /** The definition decode must keep: canonical exactly when the bytes re-encode to the same string. */
  const reference = (s: string): boolean => s.length % 4 !== 1 && Buffer.from(s, "base64url").toString("base64url") === s;
  const scratch = Buffer.alloc(2 << 20);
  /** decode's verdict, which must be the same into a new buffer and into a given one. */
  const accepts = (s: string): boolean => {
    const verdicts = [undefined, scratch].map((into) => {
      try {
        b64u.decode(s, into);
        return true;
      } catch (e) {
        if (e instanceof CryptoInputError && e.code === "invalid_base64url") return false;
        throw e;
      }
    });
    if (verdicts[0] !== verdicts[1]) throw new Error(`decode(${JSON.stringify(s.slice(0, 20))}) differs with a given buffer`);
    return verdicts[0]!;
  };

  it("agrees with re-encode-and-compare for every UTF-16 code unit (every position for 0-0xFF)", () => {
    // Prepare: a code unit put in a full group and in the last character of a partial one (the
    // trailing bits); code units up to 0xFF in every place of 4-, 6- and 7-character strings
    const places = (c: number): Array<[string, number]> =>
      c > 0xff
        ? [
            ["AAAAAA", 1],
            ["AAAAAA", 5],
          ]
        : ["AAAA", "AAAAAA", "AAAAAAA"].flatMap((t) => [...t].map((_, i): [string, number] => [t, i]));
    const disagreements: string[] = [];
    // Act
    for (let c = 0; c <= 0xffff; c++) {
      const ch = String.fromCharCode(c);
      for (const [t, i] of places(c)) {
        const s = t.slice(0, i) + ch + t.slice(i + 1);
        if (accepts(s) !== reference(s)) disagreements.push(`U+${c.toString(16)} at ${i} of ${t.length}`);
      }
    }
    // Assess
    expect(disagreements).toEqual([]);
  });

  it("refuses a non-canonical character past the first 16 K (the ASCII check works in chunks)", () => {
    // Prepare: a 1 MB canonical string, then one bad character deep inside it (and a split surrogate pair)
    const good = b64u.encode(Buffer.alloc(1 << 20, 7));
    const at = (k: number, ch: string) => good.slice(0, k) + ch + good.slice(k + ch.length);
    const bad = [at(700_001, "\u0141"), at(16 * 1024 - 1, "\ud83d\ude00"), at(900_000, "+"), at(500_000, "="), at(123_457, " ")];
    // Act / Assess
    expect(accepts(good)).toBe(true);
    for (const s of bad) {
      expect(reference(s)).toBe(false);
      expect(accepts(s)).toBe(false);
    }
  });

  it("agrees with re-encode-and-compare on random strings near the alphabet", () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char = fc.oneof(
      { weight: 30, arbitrary: fc.constantFrom(...alphabet) },
      { weight: 1, arbitrary: fc.constantFrom("+", "/", "=", " ", "\n", ".", "\u0141", "\u00e9", "\u0100", "\ud83d") },
    );
    fc.assert(
      fc.property(fc.array(char, { maxLength: 40 }), (chars) => {
        // Act
        const s = chars.join("");
        // Assess
        expect(accepts(s)).toBe(reference(s));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("b64u.decode into a given buffer", () => {
  it("writes at its start and returns a view when the bytes fit, a new buffer when they do not", () => {
    // Prepare
    const bytes = randomBytes(1000);
    const s = b64u.encode(bytes);
    const big = Buffer.alloc(1000, 0xee);
    const small = Buffer.alloc(999, 0xee);
    // Act
    const intoBig = b64u.decode(s, big);
    const intoSmall = b64u.decode(s, small);
    // Assess
    expect(Buffer.from(intoBig).equals(bytes)).toBe(true);
    expect(intoBig.buffer).toBe(big.buffer);
    expect(intoBig.byteOffset).toBe(big.byteOffset);
    expect(Buffer.from(intoSmall).equals(bytes)).toBe(true);
    expect(intoSmall.buffer).not.toBe(small.buffer);
    expect(small.every((b) => b === 0xee)).toBe(true);
  });
});

describe("hashes", () => {
  it("sha256Hex hashes strings as UTF-8 and matches the FIPS 180 'abc' vector", () => {
    // Act / Assess
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(sha256Hex(new TextEncoder().encode("abc"))).toBe(sha256Hex("abc"));
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("sha512 matches the FIPS 180 'abc' vector", () => {
    // Act / Assess
    expect(Buffer.from(sha512(Buffer.from("abc"))).toString("hex")).toBe(
      "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    );
  });
});

describe("canonicalJson", () => {
  it("sorts keys at every depth, drops undefined properties, writes bigint as a string", () => {
    // Prepare
    const value = { b: 1, a: { d: [3, { z: 1, y: undefined, x: 2n }], c: "s" }, u: undefined };
    // Act
    const out = canonicalJson(value);
    // Assess
    expect(out).toBe('{"a":{"c":"s","d":[3,{"x":"2","z":1}]},"b":1}');
  });

  it("does not depend on insertion order", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
        // Prepare
        const reversed = Object.fromEntries(Object.entries(obj).reverse());
        // Act / Assess
        expect(canonicalJson(reversed)).toBe(canonicalJson(obj));
        expect(JSON.parse(canonicalJson(obj))).toEqual(JSON.parse(JSON.stringify(obj)));
      }),
    );
  });

  it("orders keys as Array.prototype.sort orders strings (UTF-16 code units), for short and long key lists alike", () => {
    const primitive = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null));
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: "binary" }), primitive, { maxKeys: 40 }), (obj) => {
        // Prepare: the expected text, keys in .sort() order
        const expected = `{${Object.keys(obj)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${JSON.stringify(obj[k])}`)
          .join(",")}}`;
        // Act / Assess
        expect(canonicalJson(obj)).toBe(expected);
      }),
    );
    // Assess: by code units, not code points: the surrogate pair of 😀 (0xd83d 0xde00) sorts before U+FFFF
    expect(canonicalJson({ "\uffff": 1, "😀": 2, a: 3, "10": 4, "9": 5 })).toBe('{"10":4,"9":5,"a":3,"😀":2,"\uffff":1}');
  });

  it("serialises Dates through toJSON and undefined array items as null", () => {
    // Act / Assess
    expect(canonicalJson({ t: new Date(0), a: [undefined] })).toBe('{"a":[null],"t":"1970-01-01T00:00:00.000Z"}');
  });

  it.each([
    ["NaN", { n: Number.NaN }],
    ["Infinity", [Number.POSITIVE_INFINITY]],
    ["a function", { f: () => 1 }],
    ["bytes", { b: new Uint8Array(2) }],
    ["a Map", new Map()],
  ])("refuses %s with unsupported_value", (_what, value) => {
    // Act
    const err = inputError(() => canonicalJson(value));
    // Assess
    expect(err.code).toBe("unsupported_value");
  });

  it("refuses cycles", () => {
    // Prepare
    const a: Record<string, unknown> = {};
    a.self = a;
    // Act
    const err = inputError(() => canonicalJson(a));
    // Assess
    expect(err.code).toBe("unsupported_value");
    expect(err.message).toContain("$.self");
  });
});

describe("bytesEqual (the one constant-time compare)", () => {
  it("is true exactly for equal bytes of equal length, for any bytes and views", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
        expect(bytesEqual(a, b)).toBe(Buffer.from(a).equals(Buffer.from(b)));
        expect(bytesEqual(a, Uint8Array.from(a))).toBe(true);
      }),
    );
    const backing = new Uint8Array([9, 1, 2, 3, 9]);
    expect(bytesEqual(backing.subarray(1, 4), new Uint8Array([1, 2, 3]))).toBe(true);
    expect(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 0]))).toBe(false);
  });
});
