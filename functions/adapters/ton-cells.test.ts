/**
 * issue 12: the lean TON encodings of the signing routes (ton-cells.ts) against @ton/core and
 * the vault's wrappers (contracts/vault.ts), on many seeded random vectors: addresses in every
 * form, arbitrary cells with references, the withdrawal and voucher cells, account wallet addresses.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Address, beginCell, type Builder, type Cell } from "@ton/core";
import { AccountWallet } from "../../contracts/build/Vault_AccountWallet";
import {
  accountWalletAddress as coreAccountWalletAddress,
  voucherHash as coreVoucherHash,
  withdrawalHash as coreWithdrawalHash,
} from "../../contracts/vault";
import {
  ACCOUNT_WALLET_CODE,
  accountWalletAddress,
  CellBuilder,
  crc16,
  friendlyAddress,
  parseTonAddress,
  rawAddress,
  voucherHash,
  withdrawalHash,
  type CellRef,
  type TonAddress,
} from "./ton-cells";
import { rng, type Rng } from "./ton-testing";

// ---------------------------------------------------------------- factories (seeded: a failure reproduces)

const workchains = [0, -1, 0, 0, -1];
const tonAddress = (r: Rng, wc = workchains[r.int(workchains.length)]!): TonAddress => ({ workchain: wc, hash: r.bytes(32) });
const coreAddress = (a: TonAddress) => new Address(a.workchain, a.hash);
/** Amounts across the whole coins range, zero and the byte-length edges included. */
const coins = (r: Rng): bigint => {
  const pick = r.int(5);
  if (pick === 0) return 0n;
  const bytes = 1 + r.int(15);
  return pick === 1 ? (1n << BigInt(bytes * 8)) - 1n : r.big(bytes * 8) | 1n;
};

// ---------------------------------------------------------------- addresses

describe("issue 12: TON addresses without @ton/core", () => {
  it("parses every raw and user-friendly form of 400 random addresses as Address.parse does, and writes the friendly forms it writes", () => {
    const r = rng(1);
    for (let i = 0; i < 400; i++) {
      // Prepare
      const wc = i % 3 === 0 ? r.int(128) : workchains[r.int(workchains.length)]!; // friendly forms hold -1 and 0..127
      const a = tonAddress(r, wc);
      const core = coreAddress(a);
      const forms = [core.toRawString(), core.toRawString().toUpperCase().replace("0X", "0x")];
      for (const bounceable of [true, false])
        for (const testOnly of [true, false])
          for (const urlSafe of [true, false]) {
            const f = core.toString({ bounceable, testOnly, urlSafe });
            // Assess: the same string out
            expect(friendlyAddress(a, { bounceable, testOnly, urlSafe })).toBe(f);
            forms.push(f);
          }
      // Act / Assess: the same address in
      for (const f of forms) expect(rawAddress(parseTonAddress(f)), f).toBe(Address.parse(f).toRawString());
    }
  });

  it("raw addresses of every int8 workchain", () => {
    const r = rng(2);
    for (let wc = -128; wc <= 127; wc++) {
      const raw = rawAddress(tonAddress(r, wc));
      expect(rawAddress(parseTonAddress(raw))).toBe(Address.parse(raw).toRawString());
    }
  });

  it("refuses what Address.parse refuses: 2,000 one-character corruptions of friendly addresses, wrong tags, wrong lengths, junk", () => {
    const r = rng(3);
    const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_";
    const refused = (f: () => unknown) => {
      try {
        f();
        return false;
      } catch {
        return true;
      }
    };
    let compared = 0;
    for (let i = 0; i < 2000; i++) {
      const good = coreAddress(tonAddress(r)).toString({ bounceable: r.next() < 0.5, urlSafe: r.next() < 0.5 });
      const at = r.int(48);
      const bad = good.slice(0, at) + b64[r.int(b64.length)] + good.slice(at + 1);
      expect(
        refused(() => parseTonAddress(bad)),
        bad,
      ).toBe(refused(() => Address.parse(bad)));
      compared++;
    }
    // a well-formed checksum over an unknown tag (0x22), and over a workchain byte @ton/core reads as 200
    const tagged = (tag: number, wc: number) => {
      const body = Buffer.concat([Buffer.from([tag, wc]), randomBytes(32)]);
      return Buffer.concat([body, crc16(body)]).toString("base64");
    };
    expect(() => Address.parse(tagged(0x22, 0))).toThrow();
    expect(Address.parse(tagged(0x11, 200)).workChain).toBe(200); // accepted there, unstorable as int8: refused here
    const junk = [
      "",
      "0:" + "ab".repeat(31),
      "0:" + "ab".repeat(33),
      "0:" + "zz".repeat(32),
      "EQ" + "A".repeat(46) + "=",
      "EQ" + "A".repeat(45),
      tagged(0x22, 0),
      tagged(0x11, 200),
      "not an address at all, but forty-eight chars lon",
    ];
    for (const j of junk) expect(() => parseTonAddress(j), j).toThrow();
    expect(compared).toBe(2000);
  });
});

// ---------------------------------------------------------------- cells

/** The same random cell built by both: our CellBuilder and @ton/core's Builder. */
function randomCell(r: Rng, depth: number): { ours: CellRef; core: Cell } {
  const ours = new CellBuilder();
  const core: Builder = beginCell();
  let bits = 0;
  const refs = depth > 0 ? r.int(5) : 0;
  for (let op = 0; op < 12; op++) {
    const kind = r.int(5);
    if (kind === 0) {
      const n = 1 + r.int(256);
      if (bits + n > 1023) continue;
      const v = r.big(n);
      ours.uint(v, n);
      core.storeUint(v, n);
      bits += n;
    } else if (kind === 1) {
      if (bits + 8 > 1023) continue;
      const v = r.int(256) - 128;
      ours.int(v, 8);
      core.storeInt(v, 8);
      bits += 8;
    } else if (kind === 2) {
      if (bits + 1 > 1023) continue;
      const b = r.next() < 0.5;
      ours.bit(b);
      core.storeBit(b);
      bits += 1;
    } else if (kind === 3) {
      if (bits + 267 > 1023) continue;
      const a = tonAddress(r, r.int(256) - 128);
      ours.address(a);
      core.storeAddress(coreAddress(a));
      bits += 267;
    } else {
      const c = coins(r);
      const n = 4 + (c === 0n ? 0 : Math.ceil(c.toString(2).length / 8) * 8);
      if (bits + n > 1023) continue;
      ours.coins(c);
      core.storeCoins(c);
      bits += n;
    }
  }
  for (let i = 0; i < refs; i++) {
    const child = randomCell(r, depth - 1);
    ours.ref(child.ours);
    core.storeRef(child.core);
  }
  return { ours: ours.end(), core: core.endCell() };
}

describe("issue 12: cell hashes without @ton/core", () => {
  it("1,000 random cells (uints of 1-256 bits, int8, bits, addresses, coins, up to 4 references, 3 levels deep): the same hash and depth", () => {
    const r = rng(4);
    for (let i = 0; i < 1000; i++) {
      // Prepare / Act
      const { ours, core } = randomCell(r, i % 4);
      // Assess
      expect(ours.hash.toString("hex")).toBe(core.hash().toString("hex"));
      expect(ours.depth).toBe(core.depth());
    }
  });

  it("the empty cell, a full 1023-bit cell, and the refusals @ton/core makes (overflowing values, bits, references)", () => {
    expect(new CellBuilder().end().hash.toString("hex")).toBe(beginCell().endCell().hash().toString("hex"));
    const full = new CellBuilder();
    const core = beginCell();
    for (let i = 0; i < 3; i++) {
      full.uint((1n << 255n) + BigInt(i), 256);
      core.storeUint((1n << 255n) + BigInt(i), 256);
    }
    full.uint(5, 255);
    core.storeUint(5, 255);
    expect(full.end().hash.equals(core.endCell().hash())).toBe(true);
    expect(() => new CellBuilder().uint(256, 8)).toThrow(RangeError);
    expect(() => beginCell().storeUint(256, 8)).toThrow();
    expect(() => new CellBuilder().uint(-1, 8)).toThrow(RangeError);
    expect(() => new CellBuilder().int(128, 8)).toThrow(RangeError);
    expect(() => new CellBuilder().coins(1n << 120n)).toThrow(RangeError);
    expect(() => beginCell().storeCoins(1n << 120n)).toThrow();
    expect(() => new CellBuilder().coins(-1n)).toThrow(RangeError);
    expect(() => new CellBuilder().uint(0, 1023).bit(true)).toThrow(RangeError);
    const leaf = new CellBuilder().end();
    expect(() => new CellBuilder().ref(leaf).ref(leaf).ref(leaf).ref(leaf).ref(leaf)).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------- the vault's cells

describe("issue 12: the vault's cells without @ton/core", () => {
  it("withdrawalHash and voucherHash equal contracts/vault.ts on 500 random vectors each", () => {
    const r = rng(5);
    for (let i = 0; i < 500; i++) {
      // Prepare
      const vault = tonAddress(r);
      const to = tonAddress(r);
      const w = { account: r.big(256), amount: coins(r), seqno: r.int(2 ** 32), expiry: r.int(2 ** 32) };
      const v = { payee: r.big(256), cumulative: coins(r), expiry: r.int(2 ** 32) };
      // Act
      const ours = [withdrawalHash(vault, { ...w, to }), voucherHash(vault, { ...v, to })];
      const core = [
        coreWithdrawalHash(coreAddress(vault), { ...w, to: coreAddress(to) }),
        coreVoucherHash(coreAddress(vault), { ...v, to: coreAddress(to) }),
      ];
      // Assess
      expect(ours.map((h) => h.toString("hex"))).toEqual(core.map((h) => h.toString("hex")));
    }
  });

  it("ACCOUNT_WALLET_CODE is the compiled AccountWallet's code (rebuild the contract: update it to what this prints)", async () => {
    const { code } = await AccountWallet.init(new Address(0, Buffer.alloc(32)), 0n, 0n, 0n, 0n);
    expect({ hash: ACCOUNT_WALLET_CODE.hash.toString("hex"), depth: ACCOUNT_WALLET_CODE.depth }).toEqual({
      hash: code.hash().toString("hex"),
      depth: code.depth(),
    });
  });

  it("accountWalletAddress equals contracts/vault.ts (Tact's fromInit) on 200 random vaults and accounts", async () => {
    const r = rng(6);
    for (let i = 0; i < 200; i++) {
      const vault = tonAddress(r);
      const account = i % 10 === 0 ? BigInt(i) : r.big(256);
      const core = await coreAccountWalletAddress(coreAddress(vault), account);
      expect(rawAddress(accountWalletAddress(vault, account))).toBe(core.toRawString());
    }
  });
});
