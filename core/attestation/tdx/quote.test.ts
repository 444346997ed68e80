import { describe, expect, it } from "vitest";
import { SAMPLE_QUOTE } from "../../../test/fixtures/attestation/helpers";
import { QuoteParseError, parseTdxQuote } from "./quote";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("parseTdxQuote", () => {
  it("parses the sample v4 quote: header, body, signature data, PCK chain", () => {
    // Act
    const q = parseTdxQuote(SAMPLE_QUOTE);
    // Assess
    expect(q.header).toMatchObject({ version: 4, attestationKeyType: 2, teeType: 0x81, qeSvn: 0, pceSvn: 0 });
    expect(hex(q.header.qeVendorId)).toBe("939a7233f79c4ca9940a0db3957f0607");
    expect(q.body.kind).toBe("td10");
    expect(hex(q.body.mrTd)).toBe("91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7");
    expect(q.signedBytes.length).toBe(48 + 584);
    expect(q.quoteSignature.length).toBe(64);
    expect(q.attestationKey.length).toBe(64);
    expect(q.qeAuthData.length).toBe(32);
    expect(q.pckChainDer).toHaveLength(3);
    expect(q.pckChainPem).toContain("-----BEGIN CERTIFICATE-----");
    expect(q.trailingBytes).toBe(70);
  });

  it("parses a v5 quote (TD report 1.0 body descriptor) to the same body", () => {
    // Prepare: rebuild the sample as v5 (only the body framing differs).
    const v5 = new Uint8Array(SAMPLE_QUOTE.length + 6);
    v5.set(SAMPLE_QUOTE.subarray(0, 48));
    v5[0] = 5;
    v5.set([2, 0, 0x48, 0x02, 0, 0], 48); // body type 2, size 584
    v5.set(SAMPLE_QUOTE.subarray(48), 54);
    // Act
    const q = parseTdxQuote(v5);
    // Assess
    expect(q.header.version).toBe(5);
    expect(q.signedBytes.length).toBe(48 + 6 + 584);
    expect(hex(q.body.rtmr0)).toBe(hex(parseTdxQuote(SAMPLE_QUOTE).body.rtmr0));
  });

  it("rejects a v5 body type that is not a TD report", () => {
    const v5 = new Uint8Array(SAMPLE_QUOTE.length + 6);
    v5.set(SAMPLE_QUOTE.subarray(0, 48));
    v5[0] = 5;
    v5.set([1, 0, 0x80, 0x01, 0, 0], 48);
    v5.set(SAMPLE_QUOTE.subarray(48), 54);
    expect(() => parseTdxQuote(v5)).toThrow(expect.objectContaining({ code: "quote_unsupported_body_type" }));
  });

  it.each([
    ["version 3", 0, 3, "quote_unsupported_version"],
    ["SGX tee type", 4, 0, "quote_unsupported_tee_type"],
    ["P-384 key type", 2, 3, "quote_unsupported_att_key_type"],
  ] as const)("rejects %s with %s", (_w, pos, value, code) => {
    const t = SAMPLE_QUOTE.slice();
    t[pos] = value;
    expect(() => parseTdxQuote(t)).toThrow(expect.objectContaining({ code }));
  });

  it("every truncation fails with a QuoteParseError, never a crash", () => {
    const cut = SAMPLE_QUOTE.length - 70; // without the zero padding
    for (let len = 0; len < cut; len++) {
      let err: unknown;
      try {
        parseTdxQuote(SAMPLE_QUOTE.subarray(0, len));
      } catch (e) {
        err = e;
      }
      expect(err, `length ${len}`).toBeInstanceOf(QuoteParseError);
    }
  });

  it("a quote without PEM certificates fails with quote_pck_chain_missing", () => {
    const t = SAMPLE_QUOTE.slice();
    t.fill(0x41, 1258, 1258 + 30); // destroy "-----BEGIN CERTIFICATE-----" of every block? only the first
    for (const off of [3031, 3987]) t.fill(0x41, off, off + 27);
    expect(() => parseTdxQuote(t)).toThrow(expect.objectContaining({ code: "quote_pck_chain_missing" }));
  });

  it("random byte corruption of every framing field never escapes as a non-parse error", () => {
    for (let pos = 0; pos < 1260; pos++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const t = SAMPLE_QUOTE.slice();
        t[pos] = t[pos]! ^ mask;
        try {
          parseTdxQuote(t);
        } catch (e) {
          expect(e).toBeInstanceOf(QuoteParseError);
        }
      }
    }
  });
});
