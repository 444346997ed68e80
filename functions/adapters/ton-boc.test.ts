/**
 * issue 12: ton-boc.ts against @ton/core on seeded random inputs: trees of ordinary and exotic
 * cells (pruned branches of every level, libraries, Merkle proofs and updates) through BOCs
 * both ways, builders, slice reads (well-formed and misaligned), dictionaries, and corrupted BOCs.
 */
import { describe, expect, it } from "vitest";
import {
  Address,
  beginCell,
  type Builder as CoreBuilder,
  Cell as CoreCell,
  convertToMerkleProof,
  Dictionary,
  type Slice as CoreSlice,
} from "@ton/core";
import { beginCell as leanBeginCell, type Builder, type Cell, crc32c, parseBoc, parseDict, serializeBoc, type Slice } from "./ton-boc";
import { attempt, coins, rng, type Rng, throws, workchain } from "./ton-testing";

// ---------------------------------------------------------------- factories

/** A random ordinary cell of random bits and up to four references drawn from `pool` (so subtrees are shared). */
function ordinary(r: Rng, pool: CoreCell[]): CoreCell {
  const b = beginCell();
  let bits = r.int(4) === 0 ? r.int(9) : r.int(1024);
  while (bits > 0) {
    const n = Math.min(bits, 1 + r.int(64));
    b.storeUint(r.big(n), n);
    bits -= n;
  }
  const refs = pool.length ? r.int(5) : 0;
  for (let i = 0; i < refs; i++) b.storeRef(r.pick(pool));
  return b.endCell();
}

/**
 * A pruned branch of level 1, 2 or 3 (masks 1, 3, 7: the ones @ton/core reads), its hashes and
 * depths random, as a BOC may carry one; sometimes the 280-bit form without the mask byte.
 */
function pruned(r: Rng): CoreCell {
  if (r.int(6) === 0) return beginCell().storeUint(1, 8).storeBuffer(r.bytes(32)).storeUint(r.int(1024), 16).endCell({ exotic: true });
  const mask = r.pick([1, 3, 7]);
  const level = 32 - Math.clz32(mask);
  const b = beginCell().storeUint(1, 8).storeUint(mask, 8);
  for (let i = 0; i < level; i++) b.storeBuffer(r.bytes(32));
  for (let i = 0; i < level; i++) b.storeUint(r.int(1024), 16);
  return b.endCell({ exotic: true });
}

const library = (r: Rng) => beginCell().storeUint(2, 8).storeBuffer(r.bytes(32)).endCell({ exotic: true });

function merkleUpdate(a: CoreCell, b: CoreCell): CoreCell {
  return beginCell()
    .storeUint(4, 8)
    .storeBuffer(a.hash(0))
    .storeBuffer(b.hash(0))
    .storeUint(a.depth(0), 16)
    .storeUint(b.depth(0), 16)
    .storeRef(a)
    .storeRef(b)
    .endCell({ exotic: true });
}

/** A tree of `n` cells: ordinary ones over earlier ones, with pruned branches, libraries and Merkle wrappers among them. */
function tree(r: Rng, n: number, exotic = true): CoreCell {
  const pool: CoreCell[] = [];
  for (let i = 0; i < n; i++) {
    const k = exotic ? r.int(10) : 9;
    if (k === 0) pool.push(pruned(r));
    else if (k === 1) pool.push(library(r));
    else if (k === 2 && pool.length) pool.push(convertToMerkleProof(r.pick(pool)));
    else if (k === 3 && pool.length) pool.push(merkleUpdate(r.pick(pool), r.pick(pool)));
    else pool.push(ordinary(r, pool.slice(-6)));
  }
  // an ordinary root over the last few (a BOC's root may be exotic too: sometimes it is)
  return r.int(5) === 0 ? pool[pool.length - 1]! : ordinary(r, pool.slice(-4));
}

/** Every cell of the tree, both ways, compared: type, bits, level mask, hash and depth at each level. */
function expectSameTree(lean: Cell, core: CoreCell): void {
  expect(lean.isExotic).toBe(core.isExotic);
  expect(lean.bitLength).toBe(core.bits.length);
  expect(lean.mask).toBe(core.mask.value);
  for (let l = 0; l < 4; l++) {
    expect(lean.hash(l).toString("hex")).toBe(core.hash(l).toString("hex"));
    expect(lean.depth(l)).toBe(core.depth(l));
  }
  expect(lean.refs.length).toBe(core.refs.length);
  lean.refs.forEach((c, i) => expectSameTree(c, core.refs[i]!));
}

// ---------------------------------------------------------------- BOCs

describe("issue 12: cells and BOCs without @ton/core", () => {
  it("1,000 random trees (ordinary, pruned of every level, library, Merkle proof and update cells): read from @ton/core's BOCs in its four forms, the same cells; written back, the same bytes", () => {
    const r = rng(11);
    for (let i = 0; i < 1000; i++) {
      // Prepare
      const core = tree(r, 1 + r.int(12));
      const forms = [
        core.toBoc(),
        core.toBoc({ idx: true, crc32: true }),
        core.toBoc({ idx: false, crc32: false }),
        core.toBoc({ idx: true, crc32: false }),
      ];
      for (const boc of forms) {
        // Act
        const [lean] = parseBoc(boc);
        // Assess
        expectSameTree(lean!, core);
      }
      const lean = parseBoc(forms[0]!)[0]!;
      expect(serializeBoc(lean).toString("hex")).toBe(forms[0]!.toString("hex"));
      expect(lean.toBoc().equals(forms[0]!)).toBe(true);
      expect(serializeBoc(lean, { idx: true, crc32: false }).equals(forms[3]!)).toBe(true);
    }
  });

  it("BOCs of several roots, and the cell, the empty cell and a full cell", () => {
    const r = rng(12);
    for (let i = 0; i < 50; i++) {
      const roots = [tree(r, 4, false), tree(r, 4, false)];
      // @ton/core writes one root; a BOC of two is what toncenter may answer: hand-made from two single-root BOCs is not possible, so read one root each
      for (const c of roots) expectSameTree(parseBoc(c.toBoc())[0]!, c);
    }
    expectSameTree(parseBoc(CoreCell.EMPTY.toBoc())[0]!, CoreCell.EMPTY);
    const full = beginCell().storeUint(0, 1023).endCell();
    expectSameTree(parseBoc(full.toBoc())[0]!, full);
  });

  it("refuses what @ton/core refuses: 3,000 BOCs with a flipped bit, a dropped or an extra byte (and reads the same cells from what both accept)", () => {
    const r = rng(13);
    let bothRead = 0;
    for (let i = 0; i < 3000; i++) {
      // Prepare
      const good = tree(r, 1 + r.int(6), r.bool()).toBoc({ idx: r.bool(), crc32: r.int(4) === 0 });
      const bad = Buffer.from(good);
      const how = r.int(3);
      const at = r.int(bad.length);
      const corrupted =
        how === 0
          ? ((bad[at] = bad[at]! ^ (1 << r.int(8))), bad)
          : how === 1
            ? Buffer.concat([bad.subarray(0, at), bad.subarray(at + 1)])
            : Buffer.concat([bad, Buffer.from([r.int(256)])]);
      // Act
      const core = attempt(() => CoreCell.fromBoc(corrupted));
      const lean = attempt(() => parseBoc(corrupted));
      // Assess: never read where @ton/core refuses; where both read, the same cells
      if (core === null) expect(lean, corrupted.toString("hex")).toBeNull();
      else if (lean !== null) {
        bothRead++;
        expect(lean.length).toBe(core.length);
        lean.forEach((c, k) => expectSameTree(c, core![k]!));
      }
    }
    expect(bothRead).toBeGreaterThan(300);
  });

  it("crc32c equals @ton/core's on random buffers (checked through the BOCs it writes)", () => {
    const r = rng(14);
    for (let i = 0; i < 200; i++) {
      const boc = tree(r, 3, false).toBoc({ idx: false, crc32: true });
      expect(crc32c(boc.subarray(0, boc.length - 4)).equals(boc.subarray(boc.length - 4))).toBe(true);
    }
  });
});

// ---------------------------------------------------------------- builders

interface Op {
  c: (b: CoreBuilder) => unknown;
  l: (b: Builder) => unknown;
}

function randomOps(r: Rng, pool: Array<[CoreCell, Cell]>, count = 10): Op[] {
  const ops: Op[] = [];
  for (let k = 0; k < count; k++) {
    switch (r.int(8)) {
      case 0: {
        const n = 1 + r.int(200);
        const v = r.big(n);
        ops.push({ c: (c) => c.storeUint(v, n), l: (l) => l.storeUint(v, n) });
        break;
      }
      case 1: {
        const n = 1 + r.int(64);
        const v = r.big(n) - (1n << BigInt(n - 1));
        ops.push({ c: (c) => c.storeInt(v, n), l: (l) => l.storeInt(v, n) });
        break;
      }
      case 2: {
        const b = r.bool();
        ops.push({ c: (c) => c.storeBit(b), l: (l) => l.storeBit(b) });
        break;
      }
      case 3: {
        const v = coins(r);
        ops.push({ c: (c) => c.storeCoins(v), l: (l) => l.storeCoins(v) });
        break;
      }
      case 4: {
        const a = r.int(5) === 0 ? null : { workchain: workchain(r), hash: r.bytes(32) };
        ops.push({ c: (c) => c.storeAddress(a ? new Address(a.workchain, a.hash) : null), l: (l) => l.storeAddress(a) });
        break;
      }
      case 5: {
        const buf = r.bytes(r.int(20));
        ops.push({ c: (c) => c.storeBuffer(buf), l: (l) => l.storeBuffer(buf) });
        break;
      }
      case 6: {
        if (!pool.length) break;
        const [cc, lc] = r.pick(pool);
        const maybe = r.int(3);
        ops.push({
          c: (c) => (maybe === 0 ? c.storeMaybeRef(null) : maybe === 1 ? c.storeMaybeRef(cc) : c.storeRef(cc)),
          l: (l) => (maybe === 0 ? l.storeMaybeRef(null) : maybe === 1 ? l.storeMaybeRef(lc) : l.storeRef(lc)),
        });
        break;
      }
      default: {
        if (!pool.length) break;
        const [cc, lc] = r.pick(pool);
        if (cc.isExotic) break;
        ops.push({ c: (c) => c.storeSlice(cc.beginParse()), l: (l) => l.storeCellContents(lc) });
      }
    }
  }
  return ops;
}

/** The cell the ops build, up to the first one @ton/core refuses. */
function buildable(ops: Op[]): CoreCell {
  const b = beginCell();
  for (const op of ops) {
    // (@ton/core's builder takes a 1024th bit and refuses it at endCell)
    if (
      throws(() => {
        const probe = beginCell().storeSlice(b.asCell().beginParse());
        op.c(probe);
        probe.endCell();
      })
    )
      break;
    op.c(b);
  }
  return b.endCell();
}

describe("issue 12: builders without @ton/core", () => {
  it("2,000 random builds (uints, ints, bits, coins, addresses and addr_none, buffers, refs, maybe-refs, another cell's contents): the same cell, or the same refusal", () => {
    const r = rng(21);
    const pool: Array<[CoreCell, Cell]> = [];
    let built = 0;
    for (let i = 0; i < 2000; i++) {
      // Prepare
      const ops = randomOps(r, pool, 1 + r.int(8));
      // Act: the ops on both; a refusal (at a store, or at endCell: @ton/core takes a 1024th bit and refuses it there) must be the same
      const c = attempt(() => {
        const cb = beginCell();
        for (const op of ops) op.c(cb);
        return cb.endCell();
      });
      const l = attempt(() => {
        const lb = leanBeginCell();
        for (const op of ops) op.l(lb);
        return lb.endCell();
      });
      // Assess
      expect(l === null).toBe(c === null);
      if (!c || !l) continue;
      expect(l.hash().toString("hex")).toBe(c.hash().toString("hex"));
      expect(l.toBoc().equals(c.toBoc())).toBe(true);
      pool.push([c, l]);
      if (pool.length > 30) pool.shift();
      built++;
    }
    expect(built).toBeGreaterThan(1000);
  });
});

// ---------------------------------------------------------------- slices

type Read = (s: CoreSlice | Slice) => unknown;

const reads: Array<(r: Rng) => Read> = [
  () => (s) => s.loadBit(),
  (r) => {
    const n = r.int(54);
    return (s) => s.loadUint(n);
  },
  (r) => {
    const n = r.int(300);
    return (s) => s.loadUintBig(n);
  },
  (r) => {
    const n = 1 + r.int(53);
    return (s) => s.loadInt(n);
  },
  (r) => {
    const n = 1 + r.int(257);
    return (s) => s.loadIntBig(n);
  },
  () => (s) => s.loadCoins(),
  (r) => {
    const n = r.int(40);
    return (s) => s.loadBuffer(n).toString("hex");
  },
  () => (s) => s.loadAddress().toString(),
  () => (s) => s.loadMaybeAddress()?.toRawString() ?? null,
  () => (s) => {
    const a = s.loadMaybeExternalAddress();
    return a ? `${a.bits}:${a.value}` : null;
  },
  () => (s) => s.loadRef().hash().toString("hex"),
  () => (s) => s.loadMaybeRef()?.hash().toString("hex") ?? null,
  (r) => {
    const n = r.int(100);
    return (s) => (s.skip(n), null);
  },
  (r) => {
    const n = r.int(54);
    return (s) => s.preloadUint(n);
  },
  (r) => {
    const n = 1 + r.int(4);
    return (s) => s.loadVarUintBig(n);
  },
  () => (s) => s.asCell().hash().toString("hex"),
];

describe("issue 12: slices without @ton/core", () => {
  it("3,000 random cells read by random sequences of 12 reads (bits, uints, ints, coins, buffers, std/none/external addresses, refs, skips): the same values, or the same refusal", () => {
    const r = rng(31);
    let values = 0;
    for (let i = 0; i < 3000; i++) {
      // Prepare: a cell of addresses, coins and numbers (so most reads are of something well-formed), or of noise
      const core = r.bool() ? buildable(randomOps(r, [])) : ordinary(r, []);
      const withRefs = beginCell().storeSlice(core.beginParse()).storeRef(CoreCell.EMPTY).storeRef(ordinary(r, [])).endCell();
      const lean = parseBoc(withRefs.toBoc())[0]!;
      const cs = withRefs.beginParse();
      const ls = lean.beginParse();
      for (let k = 0; k < 12; k++) {
        const read = reads[r.int(reads.length)]!(r);
        // Act
        let cv: unknown;
        let lv: unknown;
        let ce = false;
        let le = false;
        try {
          cv = read(cs);
        } catch {
          ce = true;
        }
        try {
          lv = read(ls);
        } catch {
          le = true;
        }
        // Assess
        expect(le).toBe(ce);
        if (ce) break;
        expect(lv).toEqual(cv);
        expect([ls.remainingBits, ls.remainingRefs]).toEqual([cs.remainingBits, cs.remainingRefs]);
        values++;
      }
    }
    expect(values).toBeGreaterThan(10_000);
  });

  it("exotic cells are not parsed unless asked, as in @ton/core", () => {
    const r = rng(32);
    const p = parseBoc(beginCell().storeRef(pruned(r)).endCell().toBoc())[0]!.refs[0]!;
    expect(() => p.beginParse()).toThrow();
    expect(p.beginParse(true).loadUint(8)).toBe(1);
  });
});

// ---------------------------------------------------------------- dictionaries

describe("issue 12: dictionaries without @ton/core", () => {
  it("300 random maps (256-bit keys to bools and to VarUInteger 16, 15-bit keys to uints): the same entries in the same order as Dictionary.loadDirect / load", () => {
    const r = rng(41);
    for (let i = 0; i < 300; i++) {
      // Prepare
      const n = r.int(4) === 0 ? 1 : 1 + r.int(30);
      const bools = Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.Bool());
      const prices = Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.BigVarUint(4));
      const small = Dictionary.empty(Dictionary.Keys.Uint(15), Dictionary.Values.Uint(32));
      for (let k = 0; k < n; k++) {
        // keys close to each other sometimes (long common prefixes: hml_same and hml_long labels)
        const key = r.bool() ? r.big(256) : (1n << 255n) + BigInt(r.int(64));
        bools.set(key, r.bool());
        prices.set(key, coins(r));
        small.set(r.int(1 << 15), r.int(2 ** 32));
      }
      const cells = {
        bools: beginCell().storeDictDirect(bools).endCell(),
        prices: beginCell().storeDictDirect(prices).endCell(),
        small: beginCell().storeDict(small).endCell(),
      };
      // Act
      const lean = {
        bools: parseDict(parseBoc(cells.bools.toBoc())[0]!.beginParse(), 256, (s) => s.loadBit()),
        prices: parseDict(parseBoc(cells.prices.toBoc())[0]!.beginParse(), 256, (s) => s.loadVarUintBig(4)),
      };
      const smallLean = parseBoc(cells.small.toBoc())[0]!.beginParse();
      const small2 = smallLean.loadMaybeRef();
      const smallMap = parseDict(small2?.beginParse() ?? null, 15, (s) => s.loadUint(32));
      // Assess
      const back = {
        bools: Dictionary.loadDirect(Dictionary.Keys.BigUint(256), Dictionary.Values.Bool(), cells.bools),
        prices: Dictionary.loadDirect(Dictionary.Keys.BigUint(256), Dictionary.Values.BigVarUint(4), cells.prices),
        small: Dictionary.load(Dictionary.Keys.Uint(15), Dictionary.Values.Uint(32), cells.small),
      };
      expect([...lean.bools.entries()]).toEqual(back.bools.keys().map((k) => [k, back.bools.get(k)]));
      expect([...lean.prices.entries()]).toEqual(back.prices.keys().map((k) => [k, back.prices.get(k)]));
      expect([...smallMap.entries()]).toEqual(back.small.keys().map((k) => [BigInt(k), back.small.get(k)]));
    }
  });
});
