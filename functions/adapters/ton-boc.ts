/**
 * Cells, slices, builders and bags of cells without @ton/core (issue 12): what the scheduled
 * functions (the chain watcher, the anchorer) need to read toncenter's BOCs and to write the
 * anchorer's external message. @ton/core is CommonJS and does not tree-shake, so with
 * @ton/crypto under it, it weighed about 270 KB of their bundles.
 *
 * Each piece follows @ton/core 0.63 (boc/Cell.ts, boc/cell/wonderCalculator.ts,
 * boc/cell/serialization.ts, boc/BitReader.ts, dict/parseDict.ts) so that the same input gives
 * the same cells, hashes, values and bytes, and throws where it throws; ton-boc.test.ts checks
 * that on thousands of random cells, BOCs and slices. Differences, all on input @ton/core cannot
 * read either, only in the message: a padded cell without its padding bit is refused here by name
 * (@ton/core 0.63 scans back into the cell's descriptor and throws "Length -1 is out of bounds"),
 * and a root index past the cells is "no such root" (a TypeError there); ton-boc-parse-edges.test.ts.
 *
 * No cryptographic primitive is implemented here: the representation hash is node:crypto's
 * SHA-256. CRC32C, the BOC's checksum, is an encoding check, not a cryptographic one.
 */
import { createHash } from "node:crypto";
import { friendlyAddress, type TonAddress } from "./ton-cells";

// ---------------------------------------------------------------- addresses

/** A std address read from a cell: TonAddress plus the two forms @ton/core's Address writes. */
export class StdAddress implements TonAddress {
  constructor(
    readonly workchain: number,
    readonly hash: Buffer,
  ) {}

  static of(a: TonAddress): StdAddress {
    return a instanceof StdAddress ? a : new StdAddress(a.workchain, a.hash);
  }

  toRawString(): string {
    return `${this.workchain}:${this.hash.toString("hex")}`;
  }

  /** url-safe, bounceable (what @ton/core's Address.toString() writes, and TonClient sends to toncenter) */
  toString(): string {
    return friendlyAddress(this);
  }

  equals(o: TonAddress): boolean {
    return o.workchain === this.workchain && o.hash.equals(this.hash);
  }
}

/** addr_extern: kept only as what it is (the vault's logs go to none or to such an address). */
export interface ExternalAddress {
  value: bigint;
  bits: number;
}

// ---------------------------------------------------------------- level masks (@ton/core boc/cell/LevelMask.ts)

const popcount = (n: number) => {
  let c = 0;
  for (; n; n &= n - 1) c++;
  return c;
};
const maskLevel = (m: number) => 32 - Math.clz32(m);
const hashIndex = (m: number) => popcount(m);
const applyLevel = (m: number, level: number) => m & ((1 << level) - 1);
const significant = (m: number, level: number) => level === 0 || (m >> (level - 1)) % 2 !== 0;

// ---------------------------------------------------------------- bits

function bitAt(data: Buffer, i: number): number {
  return (data[i >> 3]! >> (7 - (i & 7))) & 1;
}

/** `length` bits of `data` from bit `offset`, copied to a fresh buffer starting at bit 0 (zeros after). */
function copyBits(data: Buffer, offset: number, length: number): Buffer {
  const out = Buffer.alloc((length + 7) >> 3);
  if ((offset & 7) === 0) {
    data.copy(out, 0, offset >> 3, (offset + length + 7) >> 3);
    if (length & 7) out[out.length - 1]! &= 0xff << (8 - (length & 7));
    return out;
  }
  for (let i = 0; i < length; i++) if (bitAt(data, offset + i)) out[i >> 3]! |= 0x80 >> (i & 7);
  return out;
}

/** The bits with TON's completion tag (a 1, then zeros to the byte) when not whole bytes. */
function paddedBits(data: Buffer, length: number): Buffer {
  const out = copyBits(data, 0, length);
  if (length & 7) out[length >> 3]! |= 0x80 >> (length & 7);
  return out;
}

function readUintBig(data: Buffer, length: number, offset: number, bits: number): bigint {
  if (bits < 0 || offset + bits > length) throw new Error(`Index ${offset + bits} is out of bounds`);
  let v = 0n;
  let i = 0;
  for (; i + 32 <= bits; i += 32) {
    let w = 0;
    for (let j = 0; j < 32; j++) w = w * 2 + bitAt(data, offset + i + j);
    v = (v << 32n) | BigInt(w);
  }
  let w = 0;
  for (let j = i; j < bits; j++) w = w * 2 + bitAt(data, offset + j);
  return bits - i ? (v << BigInt(bits - i)) | BigInt(w) : v;
}

const safe = (v: bigint): number => {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new TypeError(`${v} is out of safe integer range`);
  return Number(v);
};

// ---------------------------------------------------------------- cells

export enum CellType {
  Ordinary = -1,
  PrunedBranch = 1,
  Library = 2,
  MerkleProof = 3,
  MerkleUpdate = 4,
}

export class Cell {
  static readonly EMPTY = new Cell(Buffer.alloc(0), 0, []);

  readonly type: CellType;
  readonly mask: number;
  private readonly hashes: Buffer[];
  private readonly depths: number[];

  constructor(
    /** the data bits, MSB first, zero after `bitLength` */
    readonly data: Buffer,
    readonly bitLength: number,
    readonly refs: readonly Cell[],
    exotic = false,
  ) {
    if (!exotic) {
      if (refs.length > 4) throw new Error("Invalid number of references");
      if (bitLength > 1023) throw new Error(`Bits overflow: ${bitLength} > 1023`);
      this.type = CellType.Ordinary;
    } else {
      if (bitLength < 8) throw new Error(`Index 8 is out of bounds`);
      const t = data[0]!;
      if (t < 1 || t > 4) throw new Error("Invalid exotic cell type: " + t);
      this.type = t;
    }
    const w = wonders(this.type, data, bitLength, refs);
    this.mask = w.mask;
    this.hashes = w.hashes;
    this.depths = w.depths;
  }

  get isExotic(): boolean {
    return this.type !== CellType.Ordinary;
  }

  hash(level = 3): Buffer {
    return this.hashes[Math.min(this.hashes.length - 1, level)]!;
  }

  depth(level = 3): number {
    return this.depths[Math.min(this.depths.length - 1, level)]!;
  }

  level(): number {
    return maskLevel(this.mask);
  }

  beginParse(allowExotic = false): Slice {
    if (this.isExotic && !allowExotic) throw new Error("Exotic cells cannot be parsed");
    return new Slice(this);
  }

  equals(o: Cell): boolean {
    return this.hash().equals(o.hash());
  }

  toBoc(): Buffer {
    return serializeBoc(this);
  }
}

/** The level mask, hashes and depths of a cell: @ton/core's wonderCalculator (after TON's DataCell.cpp). */
function wonders(type: CellType, data: Buffer, bitLength: number, refs: readonly Cell[]) {
  let mask: number;
  let pruned: Array<{ hash: Buffer; depth: number }> | null = null;
  const word = (at: number, bits: number) => Number(readUintBig(data, bitLength, at, bits));
  switch (type) {
    case CellType.Ordinary:
      mask = refs.reduce((m, r) => m | r.mask, 0);
      break;
    case CellType.PrunedBranch: {
      if (refs.length !== 0) throw new Error(`Pruned Branch cell can't has refs, got "${refs.length}"`);
      let at = 8;
      if (bitLength === 280) {
        mask = 1; // @ton/core: config proofs generated without the mask byte
      } else {
        mask = word(8, 8);
        at = 16;
        const level = maskLevel(mask);
        if (level < 1 || level > 3) throw new Error(`Pruned Branch cell level must be >= 1 and <= 3, got "${level}/${mask}"`);
        const size = 16 + (hashIndex(applyLevel(mask, level - 1)) + 1) * (256 + 16);
        if (bitLength !== size) throw new Error(`Pruned branch cell must have exactly ${size} bits, got "${bitLength}"`);
      }
      const level = maskLevel(mask);
      // @ton/core reads `level` hashes and depths whatever the size check allowed: past the end, it throws
      if (at + level * (256 + 16) > bitLength) throw new Error(`Index ${at + level * (256 + 16)} is out of bounds`);
      pruned = [];
      for (let i = 0; i < level; i++) {
        pruned.push({ hash: copyBits(data, at + i * 256, 256), depth: word(at + level * 256 + i * 16, 16) });
      }
      break;
    }
    case CellType.MerkleProof: {
      if (bitLength !== 280) throw new Error(`Merkle Proof cell must have exactly (8 + 256 + 16) bits, got "${bitLength}"`);
      if (refs.length !== 1) throw new Error(`Merkle Proof cell must have exactly 1 ref, got "${refs.length}"`);
      if (word(264, 16) !== refs[0]!.depth(0)) throw new Error("Merkle Proof cell ref depth mismatch");
      if (!copyBits(data, 8, 256).equals(refs[0]!.hash(0))) throw new Error("Merkle Proof cell ref hash mismatch");
      mask = refs[0]!.mask >> 1;
      break;
    }
    case CellType.MerkleUpdate: {
      if (bitLength !== 552) throw new Error(`Merkle Update cell must have exactly (8 + (2 * (256 + 16))) bits, got "${bitLength}"`);
      if (refs.length !== 2) throw new Error(`Merkle Update cell must have exactly 2 refs, got "${refs.length}"`);
      for (const i of [0, 1]) {
        if (word(520 + i * 16, 16) !== refs[i]!.depth(0)) throw new Error("Merkle Update cell ref depth mismatch");
        if (!copyBits(data, 8 + i * 256, 256).equals(refs[i]!.hash(0))) throw new Error("Merkle Update cell ref hash mismatch");
      }
      mask = (refs[0]!.mask | refs[1]!.mask) >> 1;
      break;
    }
    case CellType.Library:
      if (bitLength !== 264) throw new Error(`Library cell must have exactly (8 + 256) bits, got "${bitLength}"`);
      mask = 0;
      break;
  }

  const merkle = type === CellType.MerkleProof || type === CellType.MerkleUpdate;
  const depths: number[] = [];
  const hashes: Buffer[] = [];
  const totalHashCount = hashIndex(mask) + 1;
  const hashCount = type === CellType.PrunedBranch ? 1 : totalHashCount;
  const hashIOffset = totalHashCount - hashCount;
  for (let levelI = 0, hashI = 0; levelI <= maskLevel(mask); levelI++) {
    if (!significant(mask, levelI)) continue;
    if (hashI < hashIOffset) {
      hashI++;
      continue;
    }
    let bits: Buffer;
    let bitsLength: number;
    if (hashI === hashIOffset) {
      if (!(levelI === 0 || type === CellType.PrunedBranch)) throw new Error("Invalid");
      bits = data;
      bitsLength = bitLength;
    } else {
      if (!(levelI !== 0 && type !== CellType.PrunedBranch)) throw new Error("Invalid: " + levelI + ", " + type);
      bits = hashes[hashI - hashIOffset - 1]!;
      bitsLength = 256;
    }
    const childLevel = merkle ? levelI + 1 : levelI;
    let depth = 0;
    for (const c of refs) depth = Math.max(depth, c.depth(childLevel));
    if (refs.length > 0) depth++;
    // the representation: d1 | d2 | padded bits | child depths | child hashes
    const h = createHash("sha256");
    const d1 = refs.length + (type !== CellType.Ordinary ? 8 : 0) + applyLevel(mask, levelI) * 32;
    h.update(Buffer.from([d1, Math.ceil(bitLength / 8) + Math.floor(bitLength / 8)]));
    h.update(paddedBits(bits, bitsLength));
    for (const c of refs) {
      const d = c.depth(childLevel);
      h.update(Buffer.from([Math.floor(d / 256), d % 256]));
    }
    for (const c of refs) h.update(c.hash(childLevel));
    depths[hashI - hashIOffset] = depth;
    hashes[hashI - hashIOffset] = h.digest();
    hashI++;
  }

  const resolvedHashes: Buffer[] = [];
  const resolvedDepths: number[] = [];
  for (let i = 0; i < 4; i++) {
    const idx = hashIndex(applyLevel(mask, i));
    if (pruned && idx !== hashIndex(mask)) {
      resolvedHashes.push(pruned[idx]!.hash);
      resolvedDepths.push(pruned[idx]!.depth);
    } else {
      resolvedHashes.push(hashes[pruned ? 0 : idx]!);
      resolvedDepths.push(depths[pruned ? 0 : idx]!);
    }
  }
  return { mask, hashes: resolvedHashes, depths: resolvedDepths };
}

// ---------------------------------------------------------------- slices (@ton/core boc/Slice.ts over BitReader.ts)

export class Slice {
  private offset = 0;
  private refOffset = 0;

  constructor(private readonly cell: Cell) {}

  get remainingBits(): number {
    return this.cell.bitLength - this.offset;
  }

  get remainingRefs(): number {
    return this.cell.refs.length - this.refOffset;
  }

  skip(bits: number): this {
    if (bits < 0 || this.offset + bits > this.cell.bitLength) throw new Error(`Index ${this.offset + bits} is out of bounds`);
    this.offset += bits;
    return this;
  }

  preloadBit(): boolean {
    if (this.offset >= this.cell.bitLength) throw new Error(`Index ${this.offset} is out of bounds`);
    return bitAt(this.cell.data, this.offset) === 1;
  }

  loadBit(): boolean {
    const b = this.preloadBit();
    this.offset++;
    return b;
  }

  preloadUintBig(bits: number): bigint {
    return readUintBig(this.cell.data, this.cell.bitLength, this.offset, bits);
  }

  loadUintBig(bits: number): bigint {
    const v = this.preloadUintBig(bits);
    this.offset += bits;
    return v;
  }

  preloadUint(bits: number): number {
    return safe(this.preloadUintBig(bits));
  }

  loadUint(bits: number): number {
    return safe(this.loadUintBig(bits));
  }

  loadIntBig(bits: number): bigint {
    const u = this.loadUintBig(bits);
    return bits > 0 && u >> BigInt(bits - 1) ? u - (1n << BigInt(bits)) : u;
  }

  loadInt(bits: number): number {
    return safe(this.loadIntBig(bits));
  }

  loadVarUintBig(bits: number): bigint {
    const size = this.loadUint(bits);
    return this.loadUintBig(size * 8);
  }

  /** Grams / VarUInteger 16 */
  loadCoins(): bigint {
    return this.loadVarUintBig(4);
  }

  loadBuffer(bytes: number): Buffer {
    if (this.offset + bytes * 8 > this.cell.bitLength) throw new Error(`Index ${this.offset + bytes * 8} is out of bounds`);
    const b = copyBits(this.cell.data, this.offset, bytes * 8);
    this.offset += bytes * 8;
    return b;
  }

  /** addr_std (anycast applied as @ton/core applies it); anything else throws. */
  loadAddress(): StdAddress {
    const type = this.preloadUint(2);
    if (type !== 2) throw new Error("Invalid address: " + type);
    return this.loadInternalAddress();
  }

  loadMaybeAddress(): StdAddress | null {
    const type = this.preloadUint(2);
    if (type === 0) {
      this.offset += 2;
      return null;
    }
    if (type === 2) return this.loadInternalAddress();
    throw new Error("Invalid address");
  }

  loadMaybeExternalAddress(): ExternalAddress | null {
    const type = this.preloadUint(2);
    if (type === 0) {
      this.offset += 2;
      return null;
    }
    if (type !== 1) throw new Error("Invalid address");
    const bits = safe(readUintBig(this.cell.data, this.cell.bitLength, this.offset + 2, 9));
    const value = readUintBig(this.cell.data, this.cell.bitLength, this.offset + 11, bits);
    this.offset += 11 + bits;
    return { value, bits };
  }

  private loadInternalAddress(): StdAddress {
    const { data, bitLength } = this.cell;
    let rewrite: { depth: number; pfx: bigint } | null = null;
    if (readUintBig(data, bitLength, this.offset + 2, 1) !== 0n) {
      const depth = Number(readUintBig(data, bitLength, this.offset + 3, 5));
      rewrite = { depth, pfx: readUintBig(data, bitLength, this.offset + 8, depth) };
      this.offset += 5 + depth;
    }
    const wcU = Number(readUintBig(data, bitLength, this.offset + 3, 8));
    if (this.offset + 11 + 256 > bitLength) throw new Error(`Index ${this.offset + 11 + 256} is out of bounds`);
    const hash = copyBits(data, this.offset + 11, 256);
    if (rewrite) {
      // @ton/core overwrites the first `depth` bits of the account id with the prefix
      for (let i = 0; i < rewrite.depth; i++) {
        const bit = Number((rewrite.pfx >> BigInt(rewrite.depth - 1 - i)) & 1n);
        hash[i >> 3] = (hash[i >> 3]! & ~(0x80 >> (i & 7))) | (bit ? 0x80 >> (i & 7) : 0);
      }
    }
    this.offset += 267;
    return new StdAddress(wcU >= 128 ? wcU - 256 : wcU, hash);
  }

  loadRef(): Cell {
    if (this.refOffset >= this.cell.refs.length) throw new Error("No more references");
    return this.cell.refs[this.refOffset++]!;
  }

  loadMaybeRef(): Cell | null {
    return this.loadBit() ? this.loadRef() : null;
  }

  endParse(): void {
    if (this.remainingBits > 0 || this.remainingRefs > 0) throw new Error("Slice is not empty");
  }

  /** What is left, as an ordinary cell of its own (@ton/core's asCell). */
  asCell(): Cell {
    return new Cell(copyBits(this.cell.data, this.offset, this.remainingBits), this.remainingBits, this.cell.refs.slice(this.refOffset));
  }
}

// ---------------------------------------------------------------- builders (@ton/core boc/Builder.ts)

export class Builder {
  private readonly data = Buffer.alloc(128);
  private length = 0;
  private readonly cells: Cell[] = [];

  get bits(): number {
    return this.length;
  }

  get refs(): number {
    return this.cells.length;
  }

  get availableBits(): number {
    return 1023 - this.length;
  }

  private writeBit(b: number): void {
    if (this.length >= 1023) throw new Error("BitBuilder overflow");
    if (b) this.data[this.length >> 3]! |= 0x80 >> (this.length & 7);
    this.length++;
  }

  storeBit(b: boolean | number): this {
    this.writeBit(b ? 1 : 0);
    return this;
  }

  storeUint(value: bigint | number, bits: number): this {
    const v = BigInt(value);
    if (bits < 0 || !Number.isSafeInteger(bits)) throw new Error(`invalid bit length ${bits}`);
    if (v < 0n || v >= 1n << BigInt(bits)) throw new Error(`bitLength is too small for a value ${v}. Got ${bits}`);
    if (this.length + bits > 1023) throw new Error("BitBuilder overflow");
    for (let i = bits - 1; i >= 0; i--) this.writeBit(Number((v >> BigInt(i)) & 1n));
    return this;
  }

  storeInt(value: bigint | number, bits: number): this {
    const v = BigInt(value);
    if (bits < 1) throw new Error(`invalid bit length ${bits}`);
    const half = 1n << BigInt(bits - 1);
    if (v < -half || v >= half) throw new Error(`value ${v} is out of range for int${bits}`);
    return this.storeUint(v < 0n ? v + (half << 1n) : v, bits);
  }

  storeBuffer(b: Buffer): this {
    for (const byte of b) this.storeUint(byte, 8);
    return this;
  }

  storeCoins(amount: bigint): this {
    if (amount < 0n) throw new Error(`coins ${amount} is negative`);
    const bytes = amount === 0n ? 0 : Math.ceil(amount.toString(2).length / 8);
    if (bytes > 15) throw new Error(`coins ${amount} do not fit in 15 bytes`);
    return this.storeUint(bytes, 4).storeUint(amount, bytes * 8);
  }

  /** addr_std, or addr_none for null */
  storeAddress(a: TonAddress | null): this {
    if (!a) return this.storeUint(0, 2);
    return this.storeUint(0b100, 3).storeInt(a.workchain, 8).storeBuffer(a.hash);
  }

  storeRef(c: Cell | Builder): this {
    if (this.cells.length >= 4) throw new Error("Too many references");
    this.cells.push(c instanceof Builder ? c.endCell() : c);
    return this;
  }

  storeMaybeRef(c: Cell | Builder | null | undefined): this {
    return c ? this.storeBit(1).storeRef(c) : this.storeBit(0);
  }

  /** Another cell's bits and references appended (@ton/core's storeSlice / storeBuilder). */
  storeCellContents(c: Cell): this {
    if (this.length + c.bitLength > 1023) throw new Error("BitBuilder overflow");
    for (let i = 0; i < c.bitLength; i++) this.writeBit(bitAt(c.data, i));
    for (const r of c.refs) this.storeRef(r);
    return this;
  }

  endCell(): Cell {
    return new Cell(Buffer.from(this.data.subarray(0, (this.length + 7) >> 3)), this.length, [...this.cells]);
  }
}

export const beginCell = () => new Builder();

// ---------------------------------------------------------------- bags of cells (@ton/core boc/cell/serialization.ts)

/** CRC32C (Castagnoli), the BOC checksum: little-endian, as @ton/core writes it. */
export function crc32c(src: Uint8Array): Buffer {
  let crc = 0xffffffff;
  for (const byte of src) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  const out = Buffer.alloc(4);
  out.writeUInt32LE((crc ^ 0xffffffff) >>> 0);
  return out;
}

class ByteReader {
  pos = 0;
  constructor(private readonly src: Buffer) {}
  uint(bytes: number): number {
    if (this.pos + bytes > this.src.length) throw new Error(`Index ${(this.pos + bytes) * 8} is out of bounds`);
    let v = 0;
    for (let i = 0; i < bytes; i++) v = v * 256 + this.src[this.pos++]!;
    if (!Number.isSafeInteger(v)) throw new TypeError(`${v} is out of safe integer range`);
    return v;
  }
  buffer(bytes: number): Buffer {
    if (bytes < 0 || this.pos + bytes > this.src.length) throw new Error(`Index ${(this.pos + bytes) * 8} is out of bounds`);
    const b = this.src.subarray(this.pos, this.pos + bytes);
    this.pos += bytes;
    return b;
  }
}

/** The root cells of a BOC (all three of @ton/core's formats; a CRC32C that does not match throws). */
export function parseBoc(src: Buffer): Cell[] {
  const r = new ByteReader(src);
  const magic = r.uint(4);
  let size: number;
  let offBytes: number;
  let cellCount: number;
  let roots: number[];
  let cellData: Buffer;
  const checkCrc = () => {
    const crc = r.buffer(4);
    if (!crc32c(src.subarray(0, src.length - 4)).equals(crc)) throw new Error("Invalid CRC32C");
  };
  if (magic === 0x68ff65f3 || magic === 0xacc3a728) {
    size = r.uint(1);
    offBytes = r.uint(1);
    cellCount = r.uint(size);
    r.uint(size); // roots: one
    r.uint(size); // absent
    const total = r.uint(offBytes);
    r.buffer(cellCount * offBytes); // index
    cellData = r.buffer(total);
    roots = [0];
    if (magic === 0xacc3a728) checkCrc();
  } else if (magic === 0xb5ee9c72) {
    const flags = r.uint(1);
    const hasIdx = flags >> 7;
    const hasCrc = (flags >> 6) & 1;
    size = flags & 7;
    offBytes = r.uint(1);
    cellCount = r.uint(size);
    const rootCount = r.uint(size);
    r.uint(size); // absent
    const total = r.uint(offBytes);
    roots = [];
    for (let i = 0; i < rootCount; i++) roots.push(r.uint(size));
    if (hasIdx) r.buffer(cellCount * offBytes);
    cellData = r.buffer(total);
    if (hasCrc) checkCrc();
  } else {
    throw new Error("Invalid magic");
  }

  // the cells' raw parts, then the cells from the last (references point forward)
  const d = new ByteReader(cellData);
  const raw: Array<{ data: Buffer; bits: number; refs: number[]; exotic: boolean }> = [];
  for (let i = 0; i < cellCount; i++) {
    const d1 = d.uint(1);
    const d2 = d.uint(1);
    const refCount = d1 % 8;
    const levelMask = d1 >> 5;
    if (d1 & 16) d.buffer((hashIndex(levelMask & 7) + 1) * (32 + 2)); // stored hashes and depths: recomputed
    const bytes = Math.ceil(d2 / 2);
    const data = Buffer.from(d.buffer(bytes));
    let bits = bytes * 8;
    if (bytes > 0 && d2 % 2) {
      // the completion tag: drop the last 1 and the zeros after it
      let last = bits - 1;
      while (last >= 0 && !bitAt(data, last)) last--;
      if (last < 0) throw new Error("Invalid BOC: a padded cell without its padding bit");
      bits = last;
      data[bits >> 3]! &= ~(0xff >> (bits & 7)) & 0xff;
    }
    const refs: number[] = [];
    for (let k = 0; k < refCount; k++) refs.push(d.uint(size));
    raw.push({ data, bits, refs, exotic: (d1 & 8) !== 0 });
  }
  const cells: Cell[] = new Array(cellCount);
  for (let i = cellCount - 1; i >= 0; i--) {
    const c = raw[i]!;
    const refs = c.refs.map((k) => {
      const ref = cells[k];
      if (!ref) throw new Error("Invalid BOC file");
      return ref;
    });
    cells[i] = new Cell(c.data.subarray(0, (c.bits + 7) >> 3), c.bits, refs, c.exotic);
  }
  return roots.map((i) => {
    const c = cells[i];
    if (!c) throw new Error("Invalid BOC file: no such root");
    return c;
  });
}

/** The cells in @ton/core's order (topologicalSort): the same bytes out for the same tree. */
function topologicalSort(root: Cell): Array<{ cell: Cell; refs: number[] }> {
  let pending: Cell[] = [root];
  const all = new Map<string, { cell: Cell; refs: string[] }>();
  const notPerm = new Set<string>();
  const sorted: string[] = [];
  while (pending.length > 0) {
    const cells = pending;
    pending = [];
    for (const cell of cells) {
      const hash = cell.hash().toString("hex");
      if (all.has(hash)) continue;
      notPerm.add(hash);
      all.set(hash, { cell, refs: cell.refs.map((r) => r.hash().toString("hex")) });
      pending.push(...cell.refs);
    }
  }
  const temp = new Set<string>();
  const visit = (hash: string) => {
    if (!notPerm.has(hash)) return;
    if (temp.has(hash)) throw new Error("Not a DAG");
    temp.add(hash);
    const refs = all.get(hash)!.refs;
    for (let i = refs.length - 1; i >= 0; i--) visit(refs[i]!);
    sorted.push(hash);
    temp.delete(hash);
    notPerm.delete(hash);
  };
  while (notPerm.size > 0) visit(notPerm.values().next().value as string);
  const index = new Map<string, number>();
  for (let i = 0; i < sorted.length; i++) index.set(sorted[sorted.length - i - 1]!, i);
  const out: Array<{ cell: Cell; refs: number[] }> = [];
  for (let i = sorted.length - 1; i >= 0; i--) {
    const e = all.get(sorted[i]!)!;
    out.push({ cell: e.cell, refs: e.refs.map((h) => index.get(h)!) });
  }
  return out;
}

const bytesFor = (n: number) => Math.max(Math.ceil(n.toString(2).length / 8), 1);

/** A one-root BOC as @ton/core's toBoc() writes it by default: no index, with CRC32C. */
export function serializeBoc(root: Cell, opts: { idx?: boolean; crc32?: boolean } = {}): Buffer {
  const idx = opts.idx ?? false;
  const crc = opts.crc32 ?? true;
  const cells = topologicalSort(root);
  const sizeBytes = bytesFor(cells.length);
  const parts: Buffer[] = [];
  const index: number[] = [];
  let total = 0;
  for (const { cell, refs } of cells) {
    const d1 = refs.length + (cell.isExotic ? 8 : 0) + cell.mask * 32;
    const d2 = Math.ceil(cell.bitLength / 8) + Math.floor(cell.bitLength / 8);
    const part = Buffer.alloc(2 + ((cell.bitLength + 7) >> 3) + refs.length * sizeBytes);
    part[0] = d1;
    part[1] = d2;
    paddedBits(cell.data, cell.bitLength).copy(part, 2);
    let at = 2 + ((cell.bitLength + 7) >> 3);
    for (const r of refs) {
      part.writeUIntBE(r, at, sizeBytes);
      at += sizeBytes;
    }
    parts.push(part);
    total += part.length;
    index.push(total);
  }
  const offBytes = bytesFor(total);
  const head = Buffer.alloc(6 + 4 * sizeBytes + offBytes);
  head.writeUInt32BE(0xb5ee9c72, 0);
  head[4] = (idx ? 0x80 : 0) | (crc ? 0x40 : 0) | sizeBytes;
  head[5] = offBytes;
  head.writeUIntBE(cells.length, 6, sizeBytes);
  head.writeUIntBE(1, 6 + sizeBytes, sizeBytes); // roots
  head.writeUIntBE(0, 6 + 2 * sizeBytes, sizeBytes); // absent
  head.writeUIntBE(total, 6 + 3 * sizeBytes, offBytes);
  head.writeUIntBE(0, 6 + 3 * sizeBytes + offBytes, sizeBytes); // the root's index
  const idxBuf = Buffer.alloc(idx ? cells.length * offBytes : 0);
  if (idx) index.forEach((v, i) => idxBuf.writeUIntBE(v, i * offBytes, offBytes));
  const body = Buffer.concat([head, idxBuf, ...parts]);
  return crc ? Buffer.concat([body, crc32c(body)]) : body;
}

// ---------------------------------------------------------------- dictionaries (@ton/core dict/parseDict.ts)

/** A HashmapE's root already loaded (Dictionary.loadDirect): keys as unsigned bigints, in @ton/core's order. */
export function parseDict<V>(slice: Slice | null, keyBits: number, value: (s: Slice) => V): Map<bigint, V> {
  const out = new Map<bigint, V>();
  if (slice) walk("", slice, keyBits, out, value);
  return out;
}

/** HashmapE: a Maybe ^Cell, an exotic root read as empty (Dictionary.load). */
export function loadDict<V>(slice: Slice, keyBits: number, value: (s: Slice) => V): Map<bigint, V> {
  const root = slice.loadMaybeRef();
  return root && !root.isExotic ? parseDict(root.beginParse(), keyBits, value) : new Map();
}

function walk<V>(prefix: string, s: Slice, n: number, out: Map<bigint, V>, value: (s: Slice) => V): void {
  let length: number;
  let pp = prefix;
  const lenBits = Math.ceil(Math.log2(n + 1));
  const label = s.loadBit() ? (s.loadBit() ? "same" : "long") : "short";
  if (label === "short") {
    // hml_short: unary length, then the bits
    length = 0;
    while (s.loadBit()) length++;
    for (let i = 0; i < length; i++) pp += s.loadBit() ? "1" : "0";
  } else if (label === "long") {
    // hml_long
    length = s.loadUint(lenBits);
    for (let i = 0; i < length; i++) pp += s.loadBit() ? "1" : "0";
  } else {
    // hml_same
    const bit = s.loadBit() ? "1" : "0";
    length = s.loadUint(lenBits);
    pp += bit.repeat(Math.max(0, length));
  }
  if (n - length === 0) {
    out.set(BigInt("0b" + pp), value(s));
  } else {
    const left = s.loadRef();
    const right = s.loadRef();
    if (!left.isExotic) walk(pp + "0", left.beginParse(), n - length - 1, out, value);
    if (!right.isExotic) walk(pp + "1", right.beginParse(), n - length - 1, out, value);
  }
}
