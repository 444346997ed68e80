/**
 * issue 12: the edges of ton-cells.ts that the random vectors of ton-cells.test.ts rarely hit,
 * each against @ton/core where @ton/core has an answer: addresses with junk around them, of the
 * wrong length, with a bad checksum or tag, with a workchain just outside int8; ints at
 * -2^(n-1), -1, 0 and 2^(n-1)-1 and one past; coins of 15 and 16 bytes; a cell's last bit and
 * last reference; cells of every bit length up to 17 (the completion tag).
 *
 * Where @ton/core refuses, ours must refuse too, with its own error class and message (callers
 * log them; the coordinator's payout routes name the refused address).
 */
import { describe, expect, it } from "vitest";
import { Address, beginCell, type Builder } from "@ton/core";
import { CellBuilder, crc16, parseTonAddress, rawAddress, TonAddressError, type TonAddress } from "./ton-cells";
import { rng } from "./ton-testing";

// ---------------------------------------------------------------- factories

const HASH = rng(1701).bytes(32);
const HEX = HASH.toString("hex");
const raw = (wc: string | number) => `${wc}:${HEX}`;

/** tag | workchain byte | HASH | CRC16, in standard base64 (48 characters). */
function friendlyBytes(tag: number, wcByte: number): Buffer {
  const body = Buffer.concat([Buffer.from([tag, wcByte]), HASH]);
  return Buffer.concat([body, crc16(body)]);
}
const friendly = (tag = 0x11, wcByte = 0) => friendlyBytes(tag, wcByte).toString("base64");
const urlSafe = (s: string) => s.replace(/\+/g, "-").replace(/\//g, "_");

/** What `f` threw (a test failure when it returns). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("expected a throw");
}

/** Ours refuses `src` with a TonAddressError (class, name and message). */
function expectRefused(src: string, message: string): void {
  const e = thrown(() => parseTonAddress(src));
  expect(e, src).toBeInstanceOf(TonAddressError);
  expect((e as Error).name).toBe("TonAddressError");
  expect((e as Error).message).toBe(message);
}

/** The hash of a cell built by ours and by @ton/core from the same steps. */
function bothHashes(ours: (b: CellBuilder) => CellBuilder, core: (b: Builder) => unknown) {
  const c = beginCell();
  core(c);
  return { ours: ours(new CellBuilder()).end().hash.toString("hex"), core: c.endCell().hash().toString("hex") };
}

/** What RangeError `f` throws: its class and message. */
function rangeError(f: () => unknown): string {
  const e = thrown(f);
  expect(e).toBeInstanceOf(RangeError);
  return (e as Error).message;
}

// ---------------------------------------------------------------- raw addresses

describe("issue 12 edges: raw addresses", () => {
  it("a raw address is the whole string: junk before the workchain or after the hash is refused, as Address.parse refuses it", () => {
    for (const src of ["x0:" + HEX, "EQ0:" + HEX, "a-1:" + HEX, raw(0) + "x", raw(-1) + "0"]) {
      // Act / Assess
      expect(() => Address.parse(src), src).toThrow(`Unknown address type: ${src}`);
      expectRefused(src, `unknown address type: ${src}`);
    }
  });

  it("a raw workchain is an int8: -128 and 127 parse, -129, 128 and 999 are refused (Address.parse takes them, then cannot store them)", () => {
    // Prepare
    const stored = (wc: number) => () => beginCell().storeAddress(Address.parse(raw(wc)));
    // Act / Assess
    for (const wc of [-128, 127]) {
      expect(rawAddress(parseTonAddress(raw(wc)))).toBe(Address.parse(raw(wc)).toRawString());
      expect(stored(wc)).not.toThrow();
    }
    for (const wc of [-129, 128, 999]) {
      expect(stored(wc), String(wc)).toThrow();
      expectRefused(raw(wc), `workchain ${wc} is outside int8`);
    }
  });
});

// ---------------------------------------------------------------- user-friendly addresses

describe("issue 12 edges: user-friendly addresses", () => {
  it("a friendly address is exactly 48 characters: one base64 character more (which Buffer.from would silently drop) or less is refused, as Address.parse refuses it", () => {
    // Prepare
    const good = friendly();
    // the danger: Buffer decodes the 49-character string to the very same 36 bytes, checksum included
    expect(Buffer.from(good + "A", "base64").equals(friendlyBytes(0x11, 0))).toBe(true);
    const bad = [good + "A", urlSafe(good) + "_", "A" + good, good + "=", good + " ", good.slice(0, 47), good.slice(1)];
    // Act / Assess
    for (const src of bad) {
      expect(() => Address.parse(src), src).toThrow(`Unknown address type: ${src}`);
      expectRefused(src, `unknown address type: ${src}`);
    }
  });

  it("a friendly address is base64 from its first character to its last: a non-base64 character at the start, the end or inside is refused, as Address.parse refuses it", () => {
    // Prepare
    const good = friendly();
    const bad = ["!" + good.slice(1), good.slice(0, 47) + "!", good.slice(0, 20) + "." + good.slice(21), " " + good.slice(1)];
    // Act / Assess
    for (const src of bad) {
      expect(src).toHaveLength(48);
      expect(() => Address.parse(src), src).toThrow(`Unknown address type: ${src}`);
      expectRefused(src, `unknown address type: ${src}`);
    }
  });

  it("the 36-byte check is a guard only: every 48 characters over either base64 alphabet decode to 36 bytes", () => {
    // Prepare
    const r = rng(1702);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_";
    for (let i = 0; i < 500; i++) {
      const src = Array.from({ length: 48 }, () => alphabet[r.int(alphabet.length)]).join("");
      // Act / Assess
      expect(Buffer.from(src.replace(/-/g, "+").replace(/_/g, "/"), "base64")).toHaveLength(36);
    }
  });

  it("a friendly address whose CRC16 does not match is refused with 'invalid checksum', as Address.parse refuses it", () => {
    // Prepare
    const bytes = friendlyBytes(0x11, 0);
    bytes[35]! ^= 0x01;
    const src = bytes.toString("base64");
    // Act / Assess
    expect(() => Address.parse(src)).toThrow(`Invalid checksum: ${src}`);
    expectRefused(src, `invalid checksum: ${src}`);
  });

  it("a friendly address with a checksummed tag other than bounceable / non-bounceable (test-only or not) is refused, as Address.parse refuses it", () => {
    for (const tag of [0x00, 0x22, 0x10, 0x50, 0xa2]) {
      // Prepare
      const src = friendly(tag);
      // Act / Assess
      expect(thrown(() => Address.parse(src))).toBe("Unknown address tag"); // @ton/core throws a bare string
      expectRefused(src, "unknown address tag");
    }
    for (const tag of [0x11, 0x51, 0x91, 0xd1])
      expect(rawAddress(parseTonAddress(friendly(tag)))).toBe(Address.parse(friendly(tag)).toRawString());
  });

  it("a friendly workchain byte @ton/core reads as 128..254 is refused (unstorable as int8); 0x7f and 0xff read 127 and -1", () => {
    for (const wcByte of [0x80, 0xc8, 0xfe]) {
      // Prepare
      const src = friendly(0x11, wcByte);
      // Act / Assess
      expect(Address.parse(src).workChain).toBe(wcByte);
      expectRefused(src, `workchain ${wcByte} is outside int8`);
    }
    expect(parseTonAddress(friendly(0x11, 0x7f)).workchain).toBe(127);
    expect(parseTonAddress(friendly(0x11, 0xff)).workchain).toBe(-1);
  });
});

// ---------------------------------------------------------------- builders

const WIDTHS = [1, 2, 7, 8, 9, 31, 32, 33, 64, 255, 256, 257];

describe("issue 12 edges: cell builders", () => {
  it("int stores -2^(n-1), -2^(n-1)+1, -1, 0, 1 and 2^(n-1)-1 as storeInt does (two's complement), for widths 1 to 257", () => {
    for (const n of WIDTHS) {
      const half = 1n << BigInt(n - 1);
      for (const v of [-half, -half + 1n, -1n, 0n, 1n, half - 1n].filter((x) => x >= -half && x < half)) {
        // Act
        const h = bothHashes(
          (b) => b.int(v, n).uint(1, 1),
          (c) => c.storeInt(v, n).storeUint(1, 1),
        );
        // Assess
        expect(h.ours, `int${n} ${v}`).toBe(h.core);
      }
    }
  });

  it("int refuses -2^(n-1)-1 and 2^(n-1) with a RangeError naming the value and width, as storeInt refuses them", () => {
    for (const n of WIDTHS) {
      const half = 1n << BigInt(n - 1);
      for (const v of [-half - 1n, half]) {
        expect(() => beginCell().storeInt(v, n), `int${n} ${v}`).toThrow();
        expect(rangeError(() => new CellBuilder().int(v, n))).toBe(`value ${v} is out of range for int${n}`);
      }
    }
  });

  it("uint refuses -1 and 2^n with a RangeError naming the value and width, as storeUint refuses them", () => {
    for (const n of WIDTHS)
      for (const v of [-1n, 1n << BigInt(n)]) {
        expect(() => beginCell().storeUint(v, n), `uint${n} ${v}`).toThrow();
        expect(rangeError(() => new CellBuilder().uint(v, n))).toBe(`value ${v} is out of range for uint${n}`);
      }
  });

  it("coins of 1 to 15 bytes (2^(8k)-1 and 2^(8k)) are stored as storeCoins does; 16 bytes (2^120) and negatives are refused with their own RangeError", () => {
    // Prepare
    const amounts = [0n, 1n];
    for (let k = 1; k <= 15; k++) amounts.push((1n << BigInt(8 * k)) - 1n, ...(k < 15 ? [1n << BigInt(8 * k)] : []));
    // Act / Assess
    for (const a of amounts) {
      const h = bothHashes(
        (b) => b.coins(a),
        (c) => c.storeCoins(a),
      );
      expect(h.ours, String(a)).toBe(h.core);
    }
    for (const a of [1n << 120n, (1n << 128n) - 1n]) {
      expect(() => beginCell().storeCoins(a)).toThrow();
      expect(rangeError(() => new CellBuilder().coins(a))).toBe(`coins ${a} do not fit in 15 bytes`);
    }
    expect(() => beginCell().storeCoins(-1n)).toThrow();
    expect(rangeError(() => new CellBuilder().coins(-1n))).toBe("coins -1 is negative");
  });

  it("a cell holds 4 references and 1023 bits: the 5th reference and the 1024th bit are refused with a RangeError, as @ton/core refuses them", () => {
    // Prepare
    const leaf = new CellBuilder().end();
    const four = () => new CellBuilder().ref(leaf).ref(leaf).ref(leaf).ref(leaf);
    const coreLeaf = beginCell().endCell();
    // Act / Assess
    expect(four().end().depth).toBe(1);
    expect(() => beginCell().storeRef(coreLeaf).storeRef(coreLeaf).storeRef(coreLeaf).storeRef(coreLeaf).storeRef(coreLeaf)).toThrow();
    expect(rangeError(() => four().ref(leaf))).toBe("a cell holds at most 4 references");
    expect(() => beginCell().storeUint(0, 1023).storeBit(1).endCell()).toThrow();
    expect(rangeError(() => new CellBuilder().uint(0, 1023).bit(true))).toBe("a cell holds at most 1023 bits");
    expect(rangeError(() => new CellBuilder().uint(0, 1000).uint(0, 24))).toBe("a cell holds at most 1023 bits");
  });

  it("cells of 0 to 17 bits (all ones, all zeros) hash as @ton/core's: the completion tag pads the last partial byte only", () => {
    for (let n = 0; n <= 17; n++)
      for (const ones of [true, false]) {
        // Act
        const h = bothHashes(
          (b) => (n ? b.uint(ones ? (1n << BigInt(n)) - 1n : 0n, n) : b),
          (c) => c.storeUint(ones ? (1n << BigInt(n)) - 1n : 0n, n),
        );
        // Assess
        expect(h.ours, `${n} bits of ${ones ? 1 : 0}`).toBe(h.core);
      }
  });

  it("an address with workchain -128 / 127 is stored as storeAddress does", () => {
    for (const workchain of [-128, -1, 127]) {
      const a: TonAddress = { workchain, hash: HASH };
      const h = bothHashes(
        (b) => b.address(a),
        (c) => c.storeAddress(new Address(workchain, HASH)),
      );
      expect(h.ours).toBe(h.core);
    }
  });
});
