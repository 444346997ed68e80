import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { EngineError } from "./engine";

/**
 * A GGUF header check that runs in the agent process, before any native code sees the file.
 * llama.cpp aborts the whole process on some malformed files (a native assert, not an
 * exception), so the agent reads the header itself: magic, version, every metadata entry,
 * every tensor's shape, type and byte range, all bounded by the file's real size. A file
 * that passes can still be refused by the loader; that runs in a child process (llama.ts).
 *
 * GGUF layout (little-endian): "GGUF", u32 version, u64 tensor count, u64 metadata count,
 * metadata entries (string key, u32 type, value), tensor infos (string name, u32 n_dims,
 * u64 dims[n_dims], u32 ggml type, u64 offset), padding to `general.alignment`, tensor data.
 */

export interface GgufSummary {
  version: number;
  fileSize: number;
  tensorCount: number;
  metadataCount: number;
  alignment: number;
  /** Byte offset where the tensor data starts. */
  dataOffset: number;
  /** Scalar metadata (strings, numbers, booleans); arrays are summarised by their length. */
  metadata: Record<string, string | number | boolean | bigint | { arrayOf: number; length: number }>;
  architecture: string;
}

// Value types (gguf.h) and their fixed sizes; 8 = string, 9 = array.
const SCALAR_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const STRING = 8;
const ARRAY = 9;

/**
 * ggml tensor types: [elements per block, bytes per block], read from llama.cpp's own table
 * (node-llama-cpp 3.21.1 bindings). Ids missing here are removed or unknown types: refused.
 */
const GGML_TYPES: Record<number, [number, number]> = {
  0: [1, 4],
  1: [1, 2],
  2: [32, 18],
  3: [32, 20],
  6: [32, 22],
  7: [32, 24],
  8: [32, 34],
  9: [32, 36],
  10: [256, 84],
  11: [256, 110],
  12: [256, 144],
  13: [256, 176],
  14: [256, 210],
  15: [256, 292],
  16: [256, 66],
  17: [256, 74],
  18: [256, 98],
  19: [256, 50],
  20: [32, 18],
  21: [256, 110],
  22: [256, 82],
  23: [256, 136],
  24: [1, 1],
  25: [1, 2],
  26: [1, 4],
  27: [1, 8],
  28: [1, 8],
  29: [256, 56],
  30: [1, 2],
  34: [256, 54],
  35: [256, 66],
  39: [32, 17],
  40: [64, 36],
  41: [128, 18],
  42: [64, 18],
};

// Generous bounds: real files stay far below them; hostile counts are refused before allocation.
const MAX_COUNT = 1_000_000;
const MAX_STRING = 64 * 1024 * 1024;
const MAX_ARRAY = 16 * 1024 * 1024;
const MAX_DIMS = 4;

class Invalid extends Error {}

/** Reads a file front to back through a bounded window, without loading it whole. */
class Cursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;
  constructor(
    private readonly fh: import("node:fs/promises").FileHandle,
    readonly size: number,
  ) {}

  private async ensure(n: number): Promise<Buffer> {
    if (this.pos + n > this.size) throw new Invalid(`truncated: needs ${n} bytes at offset ${this.pos}, the file has ${this.size}`);
    const rel = this.pos - this.bufStart;
    if (rel >= 0 && rel + n <= this.buf.length) return this.buf.subarray(rel, rel + n);
    const want = Math.min(Math.max(n, 1 << 20), this.size - this.pos);
    const b = Buffer.alloc(want);
    const { bytesRead } = await this.fh.read(b, 0, want, this.pos);
    if (bytesRead < n) throw new Invalid(`short read at offset ${this.pos}`);
    this.buf = b.subarray(0, bytesRead);
    this.bufStart = this.pos;
    return this.buf.subarray(0, n);
  }
  async take(n: number): Promise<Buffer> {
    const b = await this.ensure(n);
    this.pos += n;
    return b;
  }
  async skip(n: number): Promise<void> {
    if (this.pos + n > this.size)
      throw new Invalid(`truncated: a value of ${n} bytes at offset ${this.pos} runs past the end of the file (${this.size} bytes)`);
    this.pos += n;
  }
  async u32(): Promise<number> {
    return (await this.take(4)).readUInt32LE(0);
  }
  async u64(what: string, max: number): Promise<number> {
    const v = (await this.take(8)).readBigUInt64LE(0);
    if (v > BigInt(max)) throw new Invalid(`${what} ${v} is larger than ${max}`);
    return Number(v);
  }
  async str(what: string): Promise<string> {
    const len = await this.u64(`${what} length`, MAX_STRING);
    return (await this.take(len)).toString("utf8");
  }
}

async function readValue(c: Cursor, type: number, key: string): Promise<GgufSummary["metadata"][string] | undefined> {
  if (type === STRING) return c.str(`value of ${key}`);
  if (type === ARRAY) {
    const elemType = await c.u32();
    const length = await c.u64(`array length of ${key}`, MAX_ARRAY);
    if (elemType === STRING) {
      for (let i = 0; i < length; i++) await c.skip(await c.u64(`string ${i} of ${key}`, MAX_STRING));
    } else if (SCALAR_SIZE[elemType] !== undefined) {
      await c.skip(length * SCALAR_SIZE[elemType]!);
    } else {
      throw new Invalid(`metadata ${key} is an array of unsupported type ${elemType}`);
    }
    return { arrayOf: elemType, length };
  }
  const size = SCALAR_SIZE[type];
  if (size === undefined) throw new Invalid(`metadata ${key} has unknown value type ${type}`);
  const b = await c.take(size);
  switch (type) {
    case 0:
      return b.readUInt8(0);
    case 1:
      return b.readInt8(0);
    case 2:
      return b.readUInt16LE(0);
    case 3:
      return b.readInt16LE(0);
    case 4:
      return b.readUInt32LE(0);
    case 5:
      return b.readInt32LE(0);
    case 6:
      return b.readFloatLE(0);
    case 7: {
      const v = b.readUInt8(0);
      if (v > 1) throw new Invalid(`metadata ${key} is a bool holding ${v}`);
      return v === 1;
    }
    case 10:
      return b.readBigUInt64LE(0);
    case 11:
      return b.readBigInt64LE(0);
    default:
      return b.readDoubleLE(0);
  }
}

/**
 * Validates the GGUF structure of `path` and summarises it. Throws EngineError('model_invalid')
 * naming what is wrong; never runs native code.
 */
export async function validateGguf(path: string): Promise<GgufSummary> {
  let fh: import("node:fs/promises").FileHandle;
  try {
    fh = await open(path, "r");
  } catch (err) {
    throw new EngineError("model_invalid", `cannot open the model file ${path}: ${(err as Error).message}`, undefined, { cause: err });
  }
  try {
    const size = (await fh.stat()).size;
    const c = new Cursor(fh, size);
    if (size < 24) throw new Invalid(`only ${size} bytes: too short for a GGUF header`);
    const magic = (await c.take(4)).toString("latin1");
    if (magic !== "GGUF") throw new Invalid(`bad magic ${JSON.stringify(magic)} (expected "GGUF")`);
    const version = await c.u32();
    if (version !== 2 && version !== 3) throw new Invalid(`unsupported GGUF version ${version} (2 and 3 are supported)`);
    const tensorCount = await c.u64("tensor count", MAX_COUNT);
    const metadataCount = await c.u64("metadata count", MAX_COUNT);
    const metadata: GgufSummary["metadata"] = Object.create(null); // keys come from the file: no prototype to pollute
    for (let i = 0; i < metadataCount; i++) {
      const key = await c.str(`metadata key ${i}`);
      if (key.length === 0) throw new Invalid(`metadata key ${i} is empty`);
      if (Object.hasOwn(metadata, key)) throw new Invalid(`metadata key ${key} appears twice`);
      const v = await readValue(c, await c.u32(), key);
      if (v !== undefined) metadata[key] = v;
    }
    const alignment = metadata["general.alignment"] ?? 32;
    if (typeof alignment !== "number" || alignment < 1 || (alignment & (alignment - 1)) !== 0) {
      throw new Invalid(`general.alignment ${String(alignment)} is not a power of two`);
    }
    const architecture = metadata["general.architecture"];
    if (typeof architecture !== "string" || architecture.length === 0) throw new Invalid("general.architecture is missing");

    const tensors: Array<{ name: string; offset: number; bytes: number }> = [];
    const names = new Set<string>();
    for (let i = 0; i < tensorCount; i++) {
      const name = await c.str(`tensor ${i} name`);
      if (names.has(name)) throw new Invalid(`tensor ${name} appears twice`);
      names.add(name);
      const nDims = await c.u32();
      if (nDims < 1 || nDims > MAX_DIMS) throw new Invalid(`tensor ${name} has ${nDims} dimensions (1 to ${MAX_DIMS} allowed)`);
      let elements = 1;
      const dims: number[] = [];
      for (let d = 0; d < nDims; d++) {
        const n = await c.u64(`tensor ${name} dimension ${d}`, Number.MAX_SAFE_INTEGER);
        if (n < 1) throw new Invalid(`tensor ${name} has an empty dimension ${d}`);
        dims.push(n);
        elements *= n;
        if (!Number.isSafeInteger(elements)) throw new Invalid(`tensor ${name} has too many elements`);
      }
      const type = await c.u32();
      const layout = GGML_TYPES[type];
      if (!layout) throw new Invalid(`tensor ${name} has unknown or removed ggml type ${type}`);
      const [blockSize, blockBytes] = layout;
      if (dims[0]! % blockSize !== 0)
        throw new Invalid(`tensor ${name}: row of ${dims[0]} elements is not a whole number of ${blockSize}-element blocks`);
      const offset = await c.u64(`tensor ${name} offset`, Number.MAX_SAFE_INTEGER);
      if (offset % alignment !== 0) throw new Invalid(`tensor ${name} offset ${offset} is not aligned to ${alignment}`);
      tensors.push({ name, offset, bytes: (elements / blockSize) * blockBytes });
    }
    const dataOffset = Math.ceil(c.pos / alignment) * alignment;
    const dataSize = size - dataOffset;
    const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
    let end = 0;
    for (const t of sorted) {
      if (t.offset < end) throw new Invalid(`tensor ${t.name} overlaps the tensor before it`);
      end = t.offset + t.bytes;
      if (end > dataSize) {
        throw new Invalid(`truncated: tensor ${t.name} ends at byte ${dataOffset + end}, the file has ${size}`);
      }
    }
    return { version, fileSize: size, tensorCount, metadataCount, alignment, dataOffset, metadata, architecture };
  } catch (err) {
    if (err instanceof Invalid) throw new EngineError("model_invalid", `${path} is not a valid GGUF model file: ${err.message}`);
    throw err;
  } finally {
    await fh.close();
  }
}

/** SHA-256 (hex) of a file, streamed: the model digest the agent advertises. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 22 })) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** What identifies a file's current contents cheaply (re-hash only when it changed). */
export async function fileIdentity(path: string): Promise<string> {
  const s = await stat(path, { bigint: true });
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}
