/**
 * ton-boc.ts crc32c (the BOC checksum) against published CRC-32C values, not only against
 * @ton/core (which could share a mistake):
 * - the catalogue check value, CRC-32C("123456789") = 0xE3069283 (CRC RevEng catalogue,
 *   CRC-32/ISCSI; as akhilles/crc-catalog src/algorithm.rs CRC_32_ISCSI quotes it);
 * - RFC 3720 Appendix B.4 (iSCSI), as googleapis/python-crc32c tests/test___init__.py quotes it
 *   (commit 896b67fdd21be501b4cf36b8d0a34b58b72db58b, Apache-2.0).
 * The RFC prints each CRC as the bytes sent on the wire, least significant byte first ("CRC: aa
 * 36 91 8a" for 0x8A9136AA), which is the order crc32c returns and a BOC stores.
 */
import { describe, expect, it } from "vitest";
import { crc32c } from "./ton-boc";

const bytes = (n: number, f: (i: number) => number) => Buffer.from(Array.from({ length: n }, (_, i) => f(i)));
/** RFC 3720 B.4's "An iSCSI - SCSI Read (10) Command PDU", row by row as the RFC prints it. */
const ISCSI_READ_10 = Buffer.from(
  [
    "01c00000",
    "00000000",
    "00000000",
    "00000000",
    "14000000",
    "00000400",
    "00000014",
    "00000018",
    "28000000",
    "00000000",
    "02000000",
    "00000000",
  ].join(""),
  "hex",
);

describe("crc32c on published vectors", () => {
  it('check value: CRC-32C("123456789") = 0xE3069283', () => {
    // Act
    const crc = crc32c(Buffer.from("123456789", "ascii"));
    // Assess
    expect(crc.readUInt32LE(0)).toBe(0xe3069283);
  });

  it.each([
    ["32 bytes of zeroes", "aa 36 91 8a", bytes(32, () => 0x00), 0x8a9136aa],
    ["32 bytes of ones", "43 ab a8 62", bytes(32, () => 0xff), 0x62a8ab43],
    ["32 bytes of incrementing 00..1f", "4e 79 dd 46", bytes(32, (i) => i), 0x46dd794e],
    ["32 bytes of decrementing 1f..00", "5c db 3f 11", bytes(32, (i) => 31 - i), 0x113fdb5c],
    ["an iSCSI SCSI Read (10) Command PDU", "56 3a 96 d9", ISCSI_READ_10, 0xd9963a56],
  ] as const)("RFC 3720 B.4, %s: CRC bytes %s", (_name, wire, data, value) => {
    // Act
    const crc = crc32c(data);
    // Assess: the bytes the RFC prints, and the value they are the little-endian form of
    expect(crc.toString("hex")).toBe(wire.replace(/ /g, ""));
    expect(crc.readUInt32LE(0)).toBe(value);
  });

  it("the empty input: 0", () => {
    expect(crc32c(Buffer.alloc(0)).toString("hex")).toBe("00000000");
  });
});
