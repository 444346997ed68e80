/**
 * der.ts at its edges, rule by rule. A mutation run left 63 mutants alive here: with the
 * shortest-form length check (`buf[p] === 0`) replaced by `false`, the OID leading-0x80 check
 * removed, or the time regexes unanchored, no test failed. A lax reader can read one certificate
 * two ways; each rule below is pinned with hand-built DER bytes (hex) and the exact DerError it
 * throws (class, name and message).
 *
 * The rules come from X.690 (08/2015): §8.1.2 identifier octets, §8.1.3 length octets, §8.2
 * BOOLEAN, §8.3 INTEGER, §8.19 OBJECT IDENTIFIER, §10.1 (DER: definite length, fewest octets),
 * §11.1 (DER BOOLEAN), §11.7/§11.8 (DER times end in Z, seconds present, no fraction) and
 * RFC 5280 §4.1.2.5 (UTCTime YYMMDDHHMMSSZ with its 50-year pivot, GeneralizedTime
 * YYYYMMDDHHMMSSZ). Positive cases are cross-checked with asn1js (a lax BER reader: it accepts
 * what DER forbids, which the refusals below show) and node:crypto's X509Certificate (OpenSSL).
 *
 * Survivors left alive on purpose (equivalent mutants, no input tells them apart):
 * - bits(): `v.length === 0` → false. An empty BIT STRING still fails `v[0] !== 0` (undefined).
 * - oid(): `n > MAX_SAFE_INTEGER / 128` → `>=`. The bound is not an integer; n always is.
 * - time(): `back.getUTCDate() !== d` → false. With h, mi, se in range, a day out of range always
 *   carries into another month, which the month check sees.
 * - time(): `h > 23` → false. Hours 24–99 always carry into another day, which the day check sees.
 */
import { X509Certificate } from "node:crypto";
import * as asn1js from "asn1js";
import { describe, expect, it } from "vitest";
import { thrownBy } from "../../../test/fixtures/attestation/helpers";
import { DerError, TAG, bits, boolean, children, der, integerBytes, oid, seq, time, uint, type Der } from "./der";
import { INTEL_SGX_ROOT_CA_PEM } from "./intel-root";

// ------------------------------------------------------------------ factories

/** Bytes from hex; spaces separate tag, length and content for the reader. */
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const ascii = (s: string) => Uint8Array.from(Buffer.from(s, "latin1"));
/** `n` content bytes 00 01 02 … (never a valid nested element, never all zero). */
const filler = (n: number) => Uint8Array.from({ length: n }, (_, i) => i & 0xff);
/** Length octets in the shortest form (X.690 §10.1): short form below 0x80, else 0x8n + n bytes. */
const lengthOctets = (n: number): number[] =>
  n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
/** tag | shortest-form length | content. */
const tlv = (tag: number, content: Uint8Array) => Uint8Array.from([tag, ...lengthOctets(content.length), ...content]);
/** Raw bytes: a prefix (tag and hand-written length octets) then content. */
const cat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

const utc = (s: string) => der(tlv(TAG.UTC_TIME, ascii(s)));
const gen = (s: string) => der(tlv(TAG.GENERALIZED_TIME, ascii(s)));

/** The DerError `act` throws, as { name, message }: pins the class, its name and the message. */
const refusal = (act: () => unknown) => {
  const e = thrownBy(DerError, act);
  return { name: e.name, message: e.message };
};
const derError = (message: string) => ({ name: "DerError", message });

/** asn1js's reading of the same bytes: how many it consumed and the content it found. */
const asn1 = (buf: Uint8Array) => {
  const r = asn1js.fromBER(buf);
  const content = (r.result.valueBlock as { valueHexView?: Uint8Array }).valueHexView?.length;
  return { offset: r.offset, content, error: r.result.error };
};
const asn1Oid = (buf: Uint8Array) => (asn1js.fromBER(buf).result as asn1js.ObjectIdentifier).getValue();

// ------------------------------------------------------------------ DerError

describe("DerError", () => {
  it("is a DerError by class and by name, so callers and logs can tell it from other errors", () => {
    // Prepare: a lone tag octet, no length
    const buf = hex("04");
    // Act
    const e = thrownBy(DerError, () => der(buf));
    // Assess
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("DerError");
    expect(String(e)).toBe("DerError: truncated element");
  });
});

// ------------------------------------------------------------------ der(): identifier and length octets

describe("der: identifier and length octets (X.690 §8.1.2, §8.1.3, DER §10.1)", () => {
  it.each([
    ["no bytes at all", ""],
    ["a tag octet and no length octet", "04"],
  ])("refuses %s: every element has at least a tag and a length octet (X.690 §8.1.1)", (_what, bytes) => {
    // Act + Assess
    expect(refusal(() => der(hex(bytes)))).toEqual(derError("truncated element"));
  });

  it.each([
    ["universal, primitive", "1f 01 00"],
    ["universal, constructed", "3f 01 00"],
    ["context-specific, constructed", "bf 01 00"],
  ])("refuses the high-tag-number form 0x1f (%s; X.690 §8.1.2.4), with its length otherwise fine", (_what, bytes) => {
    // Prepare: 0x1f in the low five bits announces more tag octets (§8.1.2.4.1); 01 00 would
    // otherwise read as "length 1, content 00"
    const buf = hex(bytes);
    // Act + Assess
    expect(refusal(() => der(buf))).toEqual(derError("multi-byte tags are not used here"));
  });

  it("refuses the indefinite length 0x80 (X.690 §8.1.3.6; DER §10.1 requires the definite form)", () => {
    // Prepare: SEQUENCE, indefinite length, end-of-contents 00 00 — asn1js (BER) reads it
    const buf = hex("30 80 0000");
    expect(asn1js.fromBER(buf).offset).toBe(4);
    // Act + Assess
    expect(refusal(() => der(buf))).toEqual(derError("indefinite length is not DER"));
  });

  it.each([
    ["four length octets (a 16 MiB element)", "04 84 01000000"],
    ["the reserved initial length octet 0xff (X.690 §8.1.3.5 c)", "04 ff 01"],
  ])("refuses %s: more than three length octets is past what this reader takes", (_what, bytes) => {
    // Act + Assess: refused from the length octet alone, before the missing bytes are looked for
    expect(refusal(() => der(hex(bytes)))).toEqual(derError("element too large"));
  });

  it("reads three length octets (a 64 KiB element), as asn1js does", () => {
    // Prepare: OCTET STRING, 83 01 00 00 = 65 536 content bytes
    const content = filler(0x10000);
    const buf = cat(hex("04 83 010000"), content);
    // Act
    const el = der(buf);
    // Assess
    expect(el.value.length).toBe(0x10000);
    expect(el.raw.length).toBe(buf.length);
    expect(el.value[0x10000 - 1]).toBe(0xff);
    expect(asn1(buf)).toEqual({ offset: buf.length, content: 0x10000, error: "" });
  });

  it.each([
    ["two length octets announced, one present", "04 82 01"],
    ["one length octet announced, none present", "04 81"],
    ["three length octets announced, two present", "04 83 0100"],
  ])("refuses %s (truncated length octets)", (_what, bytes) => {
    // Act + Assess
    expect(refusal(() => der(hex(bytes)))).toEqual(derError("truncated length"));
  });

  it("refuses long-form length octets that end the buffer with a length that runs past it", () => {
    // Prepare: 81 80 says 128 content bytes; the buffer ends right after the length octets
    const buf = hex("04 81 80");
    // Act + Assess: the length octets are all there; the content is what is missing
    expect(refusal(() => der(buf))).toEqual(derError("element runs past its container"));
  });

  it("refuses a long-form length with a leading zero octet (DER §10.1: fewest octets), which asn1js reads", () => {
    // Prepare: 82 00 80 is 128 in two octets where 81 80 says it in one
    const buf = cat(hex("04 82 0080"), filler(0x80));
    expect(asn1(buf)).toEqual({ offset: buf.length, content: 0x80, error: "" });
    // Act + Assess
    expect(refusal(() => der(buf))).toEqual(derError("length not in its shortest form"));
  });

  it.each([
    ["1 in long form (81 01)", "04 81 01 aa"],
    ["127 in long form (81 7f)", cat(hex("04 81 7f"), filler(0x7f))],
  ])("refuses a length below 128 in the long form, %s (DER §10.1: short form)", (_what, bytes) => {
    // Prepare
    const buf = typeof bytes === "string" ? hex(bytes) : bytes;
    // Act + Assess
    expect(refusal(() => der(buf))).toEqual(derError("length not in its shortest form"));
  });

  it("reads 128, the first length the long form is for (81 80), as asn1js does", () => {
    // Prepare
    const buf = cat(hex("04 81 80"), filler(0x80));
    // Act
    const el = der(buf);
    // Assess
    expect(el.value.length).toBe(0x80);
    expect(toHex(el.value)).toBe(toHex(filler(0x80)));
    expect(asn1(buf)).toEqual({ offset: buf.length, content: 0x80, error: "" });
  });

  it("reads 127 in the short form and 256 in two octets (82 01 00)", () => {
    // Act
    const short = der(cat(hex("04 7f"), filler(0x7f)));
    const two = der(cat(hex("04 82 0100"), filler(0x100)));
    // Assess
    expect(short.value.length).toBe(0x7f);
    expect(two.value.length).toBe(0x100);
  });
});

// ------------------------------------------------------------------ der(): the element and its container

describe("der: exactly one element filling the buffer", () => {
  it.each([
    ["short form", "04 05 aa"],
    ["long form", cat(hex("04 81 81"), filler(0x80))],
  ])("refuses a length past the end of the buffer (%s)", (_what, bytes) => {
    // Prepare
    const buf = typeof bytes === "string" ? hex(bytes) : bytes;
    // Act + Assess
    expect(refusal(() => der(buf))).toEqual(derError("element runs past its container"));
  });

  it("refuses bytes after the outermost element", () => {
    // Prepare: OCTET STRING aa, then a stray 00
    const buf = hex("04 01 aa 00");
    // Act + Assess
    expect(refusal(() => der(buf))).toEqual(derError("bytes after the element"));
  });

  it("returns the element's raw bytes and its content as views of the input", () => {
    // Prepare
    const buf = hex("04 02 aabb");
    // Act
    const el: Der = der(buf);
    // Assess
    expect(el.tag).toBe(TAG.OCTET_STRING);
    expect(toHex(el.raw)).toBe("0402aabb");
    expect(toHex(el.value)).toBe("aabb");
  });
});

// ------------------------------------------------------------------ children() and seq()

describe("children: the elements inside a constructed element (X.690 §8.1.2.5, bit 6)", () => {
  it("refuses a primitive element (bit 6 clear), naming its tag", () => {
    // Prepare: OCTET STRING whose content would itself read as INTEGER 5
    const el = der(hex("04 03 020105"));
    // Act + Assess
    expect(refusal(() => children(el))).toEqual(derError("tag 0x4 is not constructed"));
  });

  it("refuses an empty primitive element too", () => {
    // Act + Assess
    expect(refusal(() => children(der(hex("04 00"))))).toEqual(derError("tag 0x4 is not constructed"));
  });

  it("reads the children of a context-specific constructed tag [0] (0xa0)", () => {
    // Prepare: [0] { INTEGER 2 } — a certificate's version
    const el = der(hex("a0 03 020102"));
    // Act
    const kids = children(el);
    // Assess
    expect(kids.map((k) => toHex(k.raw))).toEqual(["020102"]);
    expect(uint(kids[0], "version")).toBe(2);
  });

  it("refuses a single trailing byte inside a SEQUENCE (truncated element)", () => {
    // Prepare: SEQUENCE { INTEGER 5, then a lone 04 }
    const el = der(hex("30 04 020105 04"));
    // Act + Assess
    expect(refusal(() => children(el))).toEqual(derError("truncated element"));
  });

  it("refuses a child whose length runs past the SEQUENCE, though the buffer would hold it", () => {
    // Prepare: SEQUENCE of 3 bytes { 04 05 aa … }; the 4 bytes after it are outside the SEQUENCE
    const outer = hex("30 03 04 05 aa");
    const el = der(outer);
    // Act + Assess
    expect(refusal(() => children(el))).toEqual(derError("element runs past its container"));
  });

  it("applies the length rules inside a SEQUENCE", () => {
    // Prepare: SEQUENCE { OCTET STRING with length 81 05 (short length in long form) }
    const el = der(hex("30 08 04 81 05 0102030405"));
    // Act + Assess
    expect(refusal(() => children(el))).toEqual(derError("length not in its shortest form"));
  });

  it("seq names what it expected when the tag is not SEQUENCE", () => {
    // Act + Assess
    expect(refusal(() => seq(der(hex("31 00")), "validity"))).toEqual(derError("validity has tag 0x31, expected 0x30"));
    expect(refusal(() => seq(undefined, "validity"))).toEqual(derError("validity is missing"));
  });
});

// ------------------------------------------------------------------ oid()

describe("oid: OBJECT IDENTIFIER (X.690 §8.19)", () => {
  it.each([
    // first subidentifier X*40+Y (§8.19.4): below 40 → 0.X, below 80 → 1.(X-40), else 2.(X-80)
    ["0.9.2342.19200300.100.1.25", "domainComponent, first arc 0", "06 0a 09 9226 8993f22c 64 01 19"],
    ["0.39", "the last first subidentifier for arc 0", "06 01 27"],
    ["1.0.8802", "first subidentifier 40", "06 03 28 c462"],
    ["1.39", "first subidentifier 79", "06 01 4f"],
    ["2.0", "first subidentifier 80", "06 01 50"],
    ["2.999.3", "the X.690 §8.19.5 example, first subidentifier 1079 in two octets", "06 03 8837 03"],
    ["1.2.16384", "an arc with 0x80 after its leading octet: 81 80 00", "06 04 2a 818000"],
    ["1.2.70368744177663", "arc 2^46-1, the largest taken: 8f ff ff ff ff ff 7f", "06 08 2a 8fffffffffff7f"],
  ])("reads %s (%s), as asn1js does", (expected, _what, bytes) => {
    // Prepare
    const buf = hex(bytes);
    expect(asn1Oid(buf)).toBe(expected);
    // Act
    const got = oid(der(buf), "alg");
    // Assess
    expect(got).toBe(expected);
  });

  it("refuses an empty OID (§8.19.2: at least one subidentifier)", () => {
    // Act + Assess
    expect(refusal(() => oid(der(hex("06 00")), "alg"))).toEqual(derError("alg: empty OID"));
  });

  it.each([
    ["in the first subidentifier", "06 02 80 01"],
    ["in a later arc (2a 80 01, which asn1js reads as 1.2.1)", "06 03 2a 8001"],
  ])("refuses a leading 0x80 octet %s (§8.19.2: subidentifier in the fewest octets)", (_what, bytes) => {
    // Act + Assess
    expect(refusal(() => oid(der(hex(bytes)), "alg"))).toEqual(derError("alg: OID arc not in its shortest form"));
  });

  it("the lax asn1js reads the non-shortest 2a 80 01 as 1.2.1: two encodings, one OID", () => {
    expect(asn1Oid(hex("06 03 2a 8001"))).toBe("1.2.1");
  });

  it.each([
    ["2^46 (90 80 80 80 80 80 00), one past the largest taken", "06 08 2a 90808080808000"],
    ["2^53+1, which a float would round", "06 09 2a 9080808080808001"],
    ["2^63 in ten octets", "06 0b 2a 81808080808080808000"],
  ])("refuses arc %s: numbers past 2^46 are not read exactly", (_what, bytes) => {
    // Act + Assess
    expect(refusal(() => oid(der(hex(bytes)), "alg"))).toEqual(derError("alg: OID arc too large"));
  });

  it.each([
    ["ending in a continuation octet (2a 86)", "06 02 2a 86"],
    ["a single continuation octet (81)", "06 01 81"],
  ])("refuses an OID %s (§8.19.2: bit 8 is 0 on the last octet of each subidentifier)", (_what, bytes) => {
    // Act + Assess
    expect(refusal(() => oid(der(hex(bytes)), "alg"))).toEqual(derError("alg: truncated OID"));
  });

  it("refuses another tag where an OID is expected", () => {
    expect(refusal(() => oid(der(hex("04 01 2a")), "alg"))).toEqual(derError("alg has tag 0x4, expected 0x6"));
  });
});

// ------------------------------------------------------------------ uint() and integerBytes()

describe("uint: a non-negative INTEGER as a number (X.690 §8.3)", () => {
  it("refuses an INTEGER with no content octets (§8.3.1: one or more octets)", () => {
    expect(refusal(() => uint(der(hex("02 00")), "n"))).toEqual(derError("n: empty INTEGER"));
  });

  it.each([
    ["2^56 in eight octets", "02 08 0100000000000000"],
    ["2^63 in nine octets (00 pad)", "02 09 008000000000000000"],
  ])("refuses %s: more than seven content octets", (_what, bytes) => {
    expect(refusal(() => uint(der(hex(bytes)), "n"))).toEqual(derError("n is too large"));
  });

  it("reads 2^48-1 in seven octets (00 ff ff ff ff ff ff), the largest documented value", () => {
    // Prepare: the 00 is required, ff… alone would be negative (§8.3.3)
    const buf = hex("02 07 00ffffffffffff");
    // Act + Assess
    expect(uint(der(buf), "n")).toBe(2 ** 48 - 1);
    expect(asn1(buf)).toEqual({ offset: buf.length, content: 7, error: "" });
  });

  it("reads 0 (02 01 00) and 127 (02 01 7f)", () => {
    expect(uint(der(hex("02 01 00")), "n")).toBe(0);
    expect(uint(der(hex("02 01 7f")), "n")).toBe(127);
  });

  // Was a bug (session 17): the doc comment says uint "refuses values past 2^48", but a seven-octet
  // INTEGER whose first octet is 01..7f is in its shortest form (§8.3.2) and passed `v.length > 7`:
  // values up to 2^55-1 were returned.
  it("refuses 2^48 (02 07 01 00 00 00 00 00 00), as its contract says: nothing past 2^48", () => {
    expect(refusal(() => uint(der(hex("02 07 01000000000000")), "n"))).toEqual(derError("n is too large"));
  });

  // Was a bug: past Number.MAX_SAFE_INTEGER the value was silently rounded: 2^53+1 read as 2^53,
  // so two different INTEGERs read as one number.
  it("refuses 2^53+1 (02 07 20 00 00 00 00 00 01) rather than round it to 2^53", () => {
    const got = (() => {
      try {
        return uint(der(hex("02 07 20000000000001")), "n");
      } catch (e) {
        if (e instanceof DerError) return "refused";
        throw e;
      }
    })();
    expect(got).toBe("refused");
  });
});

describe("integerBytes: an INTEGER's content (a serial number)", () => {
  it("refuses an INTEGER with no content octets (§8.3.1)", () => {
    expect(refusal(() => integerBytes(der(hex("02 00")), "serial"))).toEqual(derError("serial: empty INTEGER"));
  });

  it("returns the content octets as carried", () => {
    expect(toHex(integerBytes(der(hex("02 02 00ff")), "serial"))).toBe("00ff");
    expect(toHex(integerBytes(der(hex("02 01 00")), "serial"))).toBe("00");
  });

  // Was a bug (found reading the code, not from a survivor): X.690 §8.3.2 — in BER as well as DER —
  // forbids a first octet 00 followed by a clear bit 8 (and ff followed by a set bit 8). integerBytes
  // took 00 05 for the serial 05, so one serial had two spellings (hex "0005" vs "05" in a CRL).
  it("refuses a serial not in its shortest form (02 02 00 05, 02 02 ff 80; X.690 §8.3.2)", () => {
    for (const padded of ["02 02 0005", "02 02 ff80", "02 03 00007f"]) {
      expect(refusal(() => integerBytes(der(hex(padded)), "serial"))).toEqual(derError("serial: INTEGER not in its shortest form"));
    }
    expect(toHex(integerBytes(der(hex("02 02 ff7f")), "serial"))).toBe("ff7f"); // -129: both octets needed
  });
});

// ------------------------------------------------------------------ bits() and boolean()

describe("bits: a BIT STRING with no unused bits", () => {
  it.each([
    ["no content at all (03 00)", "03 00"],
    ["one unused bit (03 02 01 fe)", "03 02 01fe"],
  ])("refuses %s", (_what, bytes) => {
    expect(refusal(() => bits(der(hex(bytes)), "key"))).toEqual(derError("key: BIT STRING with unused bits"));
  });

  it("returns the bits after the 00 unused-bits octet", () => {
    expect(toHex(bits(der(hex("03 03 00abcd")), "key"))).toBe("abcd");
  });
});

describe("boolean: DER BOOLEAN (X.690 §8.2.1 one octet, §11.1 TRUE is ff)", () => {
  it.each([
    ["two octets ff ff", "01 02 ffff"],
    ["two octets 00 00", "01 02 0000"],
    ["no octet", "01 00"],
    ["TRUE as 01 (BER, not DER §11.1)", "01 01 01"],
  ])("refuses %s", (_what, bytes) => {
    expect(refusal(() => boolean(der(hex(bytes)), "cA"))).toEqual(derError("cA: not a DER BOOLEAN"));
  });

  it("reads ff as true and 00 as false", () => {
    expect(boolean(der(hex("01 01 ff")), "cA")).toBe(true);
    expect(boolean(der(hex("01 01 00")), "cA")).toBe(false);
  });
});

// ------------------------------------------------------------------ time()

describe("time: UTCTime and GeneralizedTime (RFC 5280 §4.1.2.5, X.690 §11.7/§11.8)", () => {
  it.each([
    ["an OCTET STRING holding a GeneralizedTime text", () => der(tlv(TAG.OCTET_STRING, ascii("20180521104510Z")))],
    ["an OCTET STRING holding a UTCTime text", () => der(tlv(TAG.OCTET_STRING, ascii("180521104510Z")))],
    ["an INTEGER", () => der(hex("02 01 05"))],
    ["nothing", () => undefined],
  ])("refuses %s: only tags 0x17 and 0x18 are times", (_what, el) => {
    expect(refusal(() => time(el(), "t"))).toEqual(derError("t is not a time"));
  });

  it.each([
    ["a four-digit year in a UTCTime", "20180521104510Z"],
    ["a leading character", "x180521104510Z"],
    ["a byte after the Z", "180521104510Z0"],
    ["an offset instead of Z (§11.8)", "180521104510+0000"],
    ["no seconds (§11.8)", "1805211045Z"],
  ])("refuses a UTCTime with %s: exactly YYMMDDHHMMSSZ (RFC 5280 §4.1.2.5.1)", (_what, s) => {
    expect(refusal(() => time(utc(s), "t"))).toEqual(derError(`t: "${s}" is not a DER time`));
  });

  it.each([
    ["a leading digit", "020180521104510Z"],
    ["a byte after the Z", "20180521104510Z0"],
    ["fractional seconds (RFC 5280 §4.1.2.5.2)", "20180521104510.5Z"],
    ["a two-digit year", "180521104510Z"],
  ])("refuses a GeneralizedTime with %s: exactly YYYYMMDDHHMMSSZ (RFC 5280 §4.1.2.5.2)", (_what, s) => {
    expect(refusal(() => time(gen(s), "t"))).toEqual(derError(`t: "${s}" is not a DER time`));
  });

  it.each([
    ["500101000000Z", Date.UTC(1950, 0, 1)],
    ["991231235959Z", Date.UTC(1999, 11, 31, 23, 59, 59)],
    ["000101000000Z", Date.UTC(2000, 0, 1)],
    ["491231235959Z", Date.UTC(2049, 11, 31, 23, 59, 59)],
  ])("reads UTCTime %s with the 50-year pivot: YY ≥ 50 is 19YY, YY < 50 is 20YY (RFC 5280 §4.1.2.5.1)", (s, ms) => {
    expect(time(utc(s), "t")).toBe(ms);
  });

  it("reads GeneralizedTime 20500101000000Z (RFC 5280: 2050 on) and 20180521104510Z", () => {
    expect(time(gen("20500101000000Z"), "t")).toBe(Date.UTC(2050, 0, 1));
    expect(time(gen("20180521104510Z"), "t")).toBe(Date.UTC(2018, 4, 21, 10, 45, 10));
  });

  it.each([
    ["month 13", "181301000000Z"],
    ["month 00", "180015000000Z"],
    ["day 00", "180500000000Z"],
    ["May 32", "180532000000Z"],
    ["Feb 30", "180230000000Z"],
    ["Feb 29 in 2019, not a leap year", "190229000000Z"],
    ["hour 24", "180521240000Z"],
    ["minute 60", "180521106000Z"],
    ["second 60", "180521104560Z"],
  ])("refuses the impossible %s rather than roll it over", (_what, s) => {
    expect(refusal(() => time(utc(s), "t"))).toEqual(derError(`t: "${s}" is not a valid date`));
  });

  it("refuses month 13 and minute 60 in a GeneralizedTime too", () => {
    expect(refusal(() => time(gen("20181301000000Z"), "t"))).toEqual(derError('t: "20181301000000Z" is not a valid date'));
    expect(refusal(() => time(gen("20180521106000Z"), "t"))).toEqual(derError('t: "20180521106000Z" is not a valid date'));
  });

  it("reads the last instant of a day and Feb 29 in a leap year", () => {
    expect(time(utc("200229235959Z"), "t")).toBe(Date.UTC(2020, 1, 29, 23, 59, 59));
  });

  // Was a bug: Date.UTC maps years 0–99 to 1900–1999 (ECMA-262 MakeFullYear), so GeneralizedTime
  // "00500101000000Z" (year 50, as OpenSSL reads it) came back as 1 Jan 1950, and the date
  // check then ran on the wrong year ("00000229…" was refused: 1900 is not a leap year, 0000 is).
  it("does not read GeneralizedTime year 0050 as 1950 (RFC 5280 §4.1.2.5.2: YYYY is the year)", () => {
    const year50 = new Date(0);
    year50.setUTCFullYear(50, 0, 1);
    const got = (() => {
      try {
        return time(gen("00500101000000Z"), "t");
      } catch (e) {
        if (e instanceof DerError) return "refused";
        throw e;
      }
    })();
    expect(got).toBe(year50.getTime());
    const leapDay0 = new Date(0);
    leapDay0.setUTCFullYear(0, 1, 29);
    expect(time(gen("00000229000000Z"), "t")).toBe(leapDay0.getTime());
  });
});

// ------------------------------------------------------------------ a real certificate

describe("der on a real certificate: the Intel SGX Root CA, as OpenSSL reads it", () => {
  it("walks the certificate OpenSSL parsed and agrees on its serial, algorithm and validity", () => {
    // Prepare: Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature } with
    // two-octet long-form lengths (30 82 02 8f …)
    const x509 = new X509Certificate(INTEL_SGX_ROOT_CA_PEM);
    const raw = new Uint8Array(x509.raw);
    // Act
    const cert = der(raw);
    const [tbs, alg, sig] = seq(cert, "certificate");
    const f = seq(tbs, "tbsCertificate");
    const [notBefore, notAfter] = seq(f[4], "validity");
    // Assess
    expect(toHex(raw.subarray(0, 4))).toBe("3082028f");
    expect(cert.raw.length).toBe(raw.length);
    expect(toHex(integerBytes(f[1], "serial"))).toBe(x509.serialNumber.toLowerCase());
    expect(oid(seq(alg, "algorithm")[0], "algorithm")).toBe("1.2.840.10045.4.3.2");
    expect(time(notBefore, "notBefore")).toBe(Date.parse(x509.validFrom));
    expect(time(notAfter, "notAfter")).toBe(Date.parse(x509.validTo));
    expect(bits(sig, "signature").length).toBeGreaterThan(64);
    expect(uint(children(f[0]!)[0], "version")).toBe(2);
  });
});
