/**
 * issue 17: the edges of ton-boc.ts's parseBoc that the random BOCs of ton-boc.test.ts never
 * reach, each BOC written here byte by byte and read by @ton/core's Cell.fromBoc too: the two
 * legacy magics (0x68ff65f3 lean, 0xacc3a728 indexed with CRC32C) and their index and CRC, the
 * stored hashes and depths of cells by level mask, the completion tag's edges, references to
 * cells not yet read, root indices, and the exact messages of the refusals (the chain watcher
 * logs them).
 *
 * Where @ton/core reads a BOC, ours must give the same cells (hashes); where it refuses, ours
 * must refuse with the message named.
 */
import { describe, expect, it } from "vitest";
import { beginCell, Cell as CoreCell } from "@ton/core";
import { crc32c, parseBoc } from "./ton-boc";

const hex = (...parts: string[]) => Buffer.from(parts.join(""), "hex");
/** the BOC with its CRC32C (little-endian, over everything before it) appended */
const withCrc = (b: Buffer) => Buffer.concat([b, crc32c(b)]);
/** the BOC with the last byte of its CRC32C flipped */
const badCrc = (b: Buffer) => {
  const out = Buffer.from(b);
  out[out.length - 1]! ^= 0xff;
  return out;
};

/** ours and @ton/core read the same roots, and they are `expected` */
function sameAsCore(boc: Buffer, expected: CoreCell[]) {
  const core = CoreCell.fromBoc(boc);
  const ours = parseBoc(boc);
  expect(core.map((c) => c.hash().toString("hex"))).toEqual(expected.map((c) => c.hash().toString("hex")));
  expect(ours.map((c) => c.hash().toString("hex"))).toEqual(expected.map((c) => c.hash().toString("hex")));
}

/** @ton/core refuses, and ours refuses with exactly `message` */
function refused(boc: Buffer, message: string) {
  expect(() => CoreCell.fromBoc(boc)).toThrow();
  expect(() => parseBoc(boc)).toThrow(new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`));
}

// Two cells: cell 0 = 8 bits 0xab and a reference to cell 1; cell 1 = the 4 bits 1010.
const leaf = beginCell().storeUint(0b1010, 4).endCell();
const tree = beginCell().storeUint(0xab, 8).storeRef(leaf).endCell();
const TWO_CELLS = [
  "0102ab01", // cell 0: d1 = 01 (one ref), d2 = 02 (8 bits, whole bytes), data ab, ref -> cell 1
  "0001a8", // cell 1: d1 = 00, d2 = 01 (4 bits, padded), data 1010_1000 (the 1 after the bits is the padding bit)
].join("");

describe("legacy magics", () => {
  // header shared by both legacy forms: offBytes 2 (not 1) so that the index is cellCount * offBytes = 4 bytes
  const legacyHeader = [
    "01", // size: cell indices take 1 byte
    "02", // offBytes: offsets take 2 bytes
    "02", // cell count: 2
    "01", // roots: 1 (the legacy forms have one root, cell 0)
    "00", // absent: 0
    "0007", // total size of the cells: 4 + 3 bytes
    "0004", // index: where cell 0 ends
    "0007", // index: where cell 1 ends
    TWO_CELLS,
  ];

  it("0x68ff65f3 (lean: index, no CRC) is read as @ton/core reads it", () => {
    sameAsCore(hex("68ff65f3", ...legacyHeader), [tree]);
  });

  it("0x68ff65f3 with one cell and offBytes 1", () => {
    // magic, size 1, offBytes 1, 1 cell, 1 root, 0 absent, total 3, index [3], cell: 00 02 ab
    sameAsCore(hex("68ff65f3", "01", "01", "01", "01", "00", "03", "03", "0002ab"), [beginCell().storeUint(0xab, 8).endCell()]);
  });

  it("0xacc3a728 (indexed, with CRC32C) is read as @ton/core reads it", () => {
    sameAsCore(withCrc(hex("acc3a728", ...legacyHeader)), [tree]);
  });

  it("0xacc3a728 with a wrong CRC32C is refused", () => {
    refused(badCrc(withCrc(hex("acc3a728", ...legacyHeader))), "Invalid CRC32C");
  });

  it("0xacc3a728 without its CRC32C is refused", () => {
    expect(() => CoreCell.fromBoc(hex("acc3a728", ...legacyHeader))).toThrow();
    expect(() => parseBoc(hex("acc3a728", ...legacyHeader))).toThrow();
  });
});

describe("0xb5ee9c72 headers", () => {
  const generic = (flags: string) => [
    "b5ee9c72", // magic
    flags, // has_idx, has_crc32c, has_cache_bits, 2 flag bits, then size (3 bits) = 1
    "01", // offBytes: 1
    "02", // cell count: 2
    "01", // roots: 1
    "00", // absent: 0
    "07", // total size of the cells
    "00", // root list: cell 0
  ];

  it("with an index (offBytes 1) and a CRC32C", () => {
    sameAsCore(withCrc(hex(...generic("c1"), "04", "07", TWO_CELLS)), [tree]);
  });

  it("a wrong CRC32C is refused with its message", () => {
    refused(badCrc(withCrc(hex(...generic("41"), TWO_CELLS))), "Invalid CRC32C");
  });

  it("an unknown magic is refused with its message", () => {
    refused(hex("b5ee9c73", "01", "01", "01", "01", "00", "03", "00", "0002ab"), "Invalid magic");
    refused(hex("00000000", "01", "01", "01", "01", "00", "03", "00", "0002ab"), "Invalid magic");
  });

  it("several roots, in the order of the root list", () => {
    // magic, flags 01 (size 1), offBytes 1, 2 cells, 2 roots, 0 absent, total 7, roots [1, 0], cells
    sameAsCore(hex("b5ee9c72", "01", "01", "02", "02", "00", "07", "01", "00", TWO_CELLS), [leaf, tree]);
  });

  it("a root index past the cells is refused (@ton/core fails on undefined)", () => {
    // magic, flags 01, offBytes 1, 1 cell, 1 root, 0 absent, total 3, root 05 (no such cell), cell 00 02 ab
    refused(hex("b5ee9c72", "01", "01", "01", "01", "00", "03", "05", "0002ab"), "Invalid BOC file: no such root");
  });

  it("a reference to a cell not yet read (itself) is refused", () => {
    // magic, flags 01, offBytes 1, 1 cell, 1 root, 0 absent, total 3, root 0, cell: d1 01 (1 ref), d2 00, ref -> 0
    refused(hex("b5ee9c72", "01", "01", "01", "01", "00", "03", "00", "010000"), "Invalid BOC file");
  });

  it("a reference backwards (cell 1 -> cell 0) is refused", () => {
    // cell 0: 01 02 ab 01 (ref -> 1); cell 1: 01 00 00 (no data, ref -> 0, read before cell 0 is built)
    refused(hex("b5ee9c72", "01", "01", "02", "01", "00", "07", "00", "0102ab01", "010000"), "Invalid BOC file");
  });
});

describe("stored hashes and depths", () => {
  /** a one-cell BOC without index or CRC whose cell is `cell` (d1, d2, hashes, data) */
  const one = (cell: string) => {
    const bytes = cell.length / 2;
    expect(bytes).toBeLessThan(256);
    return hex("b5ee9c72", "01", "01", "01", "01", "00", bytes.toString(16).padStart(2, "0"), "00", cell);
  };

  it("level mask 0: one hash and one depth (34 bytes) are skipped", () => {
    // d1 = 10 (hashes stored, mask 0, no refs), d2 = 02, 32 bytes of hash + 2 of depth (junk: recomputed), data ab
    sameAsCore(one("1002" + "11".repeat(32) + "2222" + "ab"), [beginCell().storeUint(0xab, 8).endCell()]);
  });

  it("a pruned branch of level 1: two hashes and two depths (68 bytes) are skipped", () => {
    const hash = "33".repeat(32);
    const pruned = beginCell()
      .storeUint(1, 8)
      .storeUint(1, 8)
      .storeBuffer(Buffer.from(hash, "hex"))
      .storeUint(7, 16)
      .endCell({ exotic: true });
    // d1 = 38 (mask 1 << 5, hashes stored 16, exotic 8), d2 = 48 (36 bytes), 2 x 32 hash bytes, 2 x 2 depth bytes,
    // data: type 01, mask 01, the level-1 hash, its depth 0007
    sameAsCore(one("3848" + "44".repeat(64) + "5555".repeat(2) + "0101" + hash + "0007"), [pruned]);
  });

  it("a pruned branch of level 3 (mask 7): four hashes and four depths (136 bytes) are skipped", () => {
    const hashes = "66".repeat(32) + "77".repeat(32) + "88".repeat(32);
    const depths = "0001" + "0002" + "0003";
    const pruned = beginCell()
      .storeUint(1, 8)
      .storeUint(7, 8)
      .storeBuffer(Buffer.from(hashes + depths, "hex"))
      .endCell({ exotic: true });
    // d1 = f8 (mask 7 << 5, hashes 16, exotic 8), d2 = d0 (104 bytes), 4 x 32 + 4 x 2 junk bytes, then the data
    sameAsCore(one("f8d0" + "99".repeat(128) + "aaaa".repeat(4) + "0107" + hashes + depths), [pruned]);
  });
});

describe("the completion tag", () => {
  it("a padded byte that is only the padding bit (0x80) is the empty cell", () => {
    // magic, flags 01, offBytes 1, 1 cell, 1 root, 0 absent, total 3, root 0, cell: d1 00, d2 01 (padded), data 80
    sameAsCore(hex("b5ee9c72", "01", "01", "01", "01", "00", "03", "00", "000180"), [beginCell().endCell()]);
  });

  it("the padding bit anywhere in the last byte", () => {
    for (let bits = 1; bits < 8; bits++) {
      const data = (0x80 >> bits) | ((0xff << (8 - bits)) & 0xff); // bits ones, then the padding bit
      const boc = hex("b5ee9c72", "01", "01", "01", "01", "00", "03", "00", "0001", data.toString(16).padStart(2, "0"));
      sameAsCore(boc, [
        beginCell()
          .storeUint((1 << bits) - 1, bits)
          .endCell(),
      ]);
    }
  });

  it("a padded cell without its padding bit is refused (@ton/core reads back into the descriptor and throws)", () => {
    // one cell: d1 00, d2 01 (padded, 1 byte), data 00: no padding bit anywhere
    const alone = hex("b5ee9c72", "01", "01", "01", "01", "00", "03", "00", "000100");
    expect(() => CoreCell.fromBoc(alone)).toThrow("Length -1 is out of bounds");
    expect(() => parseBoc(alone)).toThrow(/^Invalid BOC: a padded cell without its padding bit$/);
    // the same with a neighbour after it: cell 0 = 01 03 0000 01 (two zero bytes, padded, ref -> 1), cell 1 = 00 02 ab
    const neighbour = hex("b5ee9c72", "01", "01", "02", "01", "00", "08", "00", "0103000001", "0002ab");
    expect(() => CoreCell.fromBoc(neighbour)).toThrow();
    expect(() => parseBoc(neighbour)).toThrow(/^Invalid BOC: a padded cell without its padding bit$/);
  });
});
