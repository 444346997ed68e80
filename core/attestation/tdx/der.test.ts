import { describe, expect, it } from "vitest";
import { DerError, TAG, children, der, oid, time, uint } from "./der";

const bytes = (...b: number[]) => new Uint8Array(b);

describe("der: a strict reader (what OpenSSL accepted, and CRLs before their signature is checked)", () => {
  it("reads nested elements and their exact raw bytes", () => {
    // Prepare: SEQUENCE { INTEGER 5, OCTET STRING 01 02 }
    const buf = bytes(0x30, 0x07, 0x02, 0x01, 0x05, 0x04, 0x02, 0x01, 0x02);
    // Act
    const [i, o] = children(der(buf));
    // Assess
    expect(uint(i, "i")).toBe(5);
    expect([...o!.raw]).toEqual([0x04, 0x02, 0x01, 0x02]);
    expect(o!.tag).toBe(TAG.OCTET_STRING);
  });

  it.each([
    ["indefinite length", bytes(0x30, 0x80, 0x00, 0x00)],
    ["long form for a short length", bytes(0x04, 0x81, 0x01, 0xaa)],
    ["bytes after the element", bytes(0x04, 0x01, 0xaa, 0x00)],
    ["a length past the buffer", bytes(0x04, 0x05, 0xaa)],
    ["a multi-byte tag", bytes(0x1f, 0x81, 0x01, 0x00)],
  ])("refuses %s", (_what, buf) => {
    expect(() => der(buf)).toThrow(DerError);
  });

  it("refuses negative and non-minimal INTEGERs where a count is expected", () => {
    expect(() => uint(der(bytes(0x02, 0x01, 0x80)), "n")).toThrow(/negative/);
    expect(() => uint(der(bytes(0x02, 0x02, 0x00, 0x05)), "n")).toThrow(/shortest/);
    expect(uint(der(bytes(0x02, 0x02, 0x00, 0xff)), "n")).toBe(255);
  });

  it("decodes OIDs and both time forms, refusing impossible dates", () => {
    // 1.2.840.10045.4.3.2 (ecdsa-with-SHA256)
    expect(oid(der(bytes(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02)), "alg")).toBe("1.2.840.10045.4.3.2");
    const utc = (s: string) => der(new Uint8Array([0x17, s.length, ...Buffer.from(s)]));
    const gen = (s: string) => der(new Uint8Array([0x18, s.length, ...Buffer.from(s)]));
    expect(time(utc("180521104510Z"), "t")).toBe(Date.UTC(2018, 4, 21, 10, 45, 10));
    expect(time(utc("491231235959Z"), "t")).toBe(Date.UTC(2049, 11, 31, 23, 59, 59));
    expect(time(gen("20500101000000Z"), "t")).toBe(Date.UTC(2050, 0, 1));
    expect(() => time(utc("180231000000Z"), "t")).toThrow(/valid date/);
    expect(() => time(utc("1805211045Z"), "t")).toThrow(DerError);
  });
});
