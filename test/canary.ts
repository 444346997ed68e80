/**
 * A canary scan that an encoding cannot hide from (issue 14).
 *
 * Privacy tests put a random canary into a prompt and look for it wherever the coordinator
 * keeps or moves bytes: the store, queue messages, relay messages, log lines. Searching for
 * the raw UTF-8 text alone proves little: the envelope's payload travels as base64url, so a
 * coordinator that stored the prompt unencrypted would still pass. This scan looks for the
 * canary as
 *   - UTF-8 (also what ASCII, latin1 and JSON strings give for a canary of [A-Za-z0-9-]),
 *   - UTF-16LE and UTF-16BE, as bytes and as JSON text (where each NUL byte became `\u0000`),
 *   - base64 and base64url, at each of the 3 byte alignments the canary can have inside a
 *     longer encoded value (a prompt sits inside JSON, so it rarely starts at a multiple of 3),
 *   - hex, lower and upper case.
 * For base64 only the characters that encode whole 3-byte groups of the canary are searched:
 * they do not depend on the bytes around it, so any value that contains the canary at that
 * alignment contains them.
 *
 * `test/canary.test.ts` is the positive control: it writes the plaintext deliberately in every
 * encoding into a memory store, an LMDB store on disk, a queue message, a relay message and a
 * log line, and proves each is found.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { Item, TableName } from "../core/ports";

export type CanaryEncoding =
  "utf8" | "utf16le" | "utf16be" | "utf16le/json" | "utf16be/json" | `base64@${0 | 1 | 2}` | `base64url@${0 | 1 | 2}` | "hex" | "HEX";

export interface CanaryForm {
  encoding: CanaryEncoding;
  needle: Buffer;
}

/** Where bytes come from, named so a hit says where the plaintext leaked. */
export interface CanarySource {
  name: string;
  data: Uint8Array | string;
}

export interface CanaryHit {
  source: string;
  encoding: CanaryEncoding;
  offset: number;
}

/** Shorter canaries make base64 needles too short to mean anything. */
const MIN_CANARY_BYTES = 12;

/** A fresh canary: 18 random hex digits after a fixed prefix (25 ASCII bytes). */
export const newCanary = () => `CANARY-${randomBytes(9).toString("hex")}`;

/** The characters of base64(prefix + bytes) that encode whole 3-byte groups of `bytes` only. */
function base64Core(bytes: Buffer, alignment: 0 | 1 | 2, url: boolean): Buffer {
  const prefixed = Buffer.concat([Buffer.alloc(alignment), bytes]);
  const text = prefixed.toString(url ? "base64url" : "base64");
  const firstGroup = alignment === 0 ? 0 : 1; // group 0 mixes prefix bytes with the canary
  const groups = Math.floor(prefixed.length / 3); // a last partial group depends on what follows
  return Buffer.from(text.slice(firstGroup * 4, groups * 4), "ascii");
}

const memo = new Map<string, CanaryForm[]>();

/** Every form the scan looks for. */
export function canaryForms(canary: string): CanaryForm[] {
  const hit = memo.get(canary);
  if (hit) return hit;
  const bytes = Buffer.from(canary, "utf8");
  if (bytes.length < MIN_CANARY_BYTES)
    throw new RangeError(`a canary needs at least ${MIN_CANARY_BYTES} bytes, "${canary}" has ${bytes.length}`);
  const forms: CanaryForm[] = [
    { encoding: "utf8", needle: bytes },
    { encoding: "utf16le", needle: Buffer.from(canary, "utf16le") },
    { encoding: "utf16be", needle: Buffer.from(canary, "utf16le").swap16() },
    // UTF-16 of ASCII text put in a JSON string (a queue message, a log line): JSON escapes the NULs
    { encoding: "utf16le/json", needle: Buffer.from([...canary].map((c) => `${c}\\u0000`).join(""), "utf8") },
    { encoding: "utf16be/json", needle: Buffer.from([...canary].map((c) => `\\u0000${c}`).join(""), "utf8") },
    { encoding: "hex", needle: Buffer.from(bytes.toString("hex"), "ascii") },
    { encoding: "HEX", needle: Buffer.from(bytes.toString("hex").toUpperCase(), "ascii") },
  ];
  for (const a of [0, 1, 2] as const) {
    forms.push({ encoding: `base64@${a}`, needle: base64Core(bytes, a, false) });
    forms.push({ encoding: `base64url@${a}`, needle: base64Core(bytes, a, true) });
  }
  memo.set(canary, forms);
  return forms;
}

const asBytes = (data: Uint8Array | string): Buffer =>
  typeof data === "string"
    ? Buffer.from(data, "utf8")
    : Buffer.isBuffer(data)
      ? data
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/** Every form of the canary found in `data` (first offset of each). */
export function findCanary(data: Uint8Array | string, canary: string): Array<{ encoding: CanaryEncoding; offset: number }> {
  const hay = asBytes(data);
  const out: Array<{ encoding: CanaryEncoding; offset: number }> = [];
  for (const f of canaryForms(canary)) {
    const offset = hay.indexOf(f.needle);
    if (offset >= 0) out.push({ encoding: f.encoding, offset });
  }
  return out;
}

/** Every hit of the canary in any source. */
export function scanForCanary(canary: string, sources: Iterable<CanarySource>): CanaryHit[] {
  const hits: CanaryHit[] = [];
  for (const s of sources) for (const h of findCanary(s.data, canary)) hits.push({ source: s.name, ...h });
  return hits;
}

/** Throws, naming each source and encoding, when the canary appears anywhere. */
export function expectNoCanary(canary: string, sources: Iterable<CanarySource>): void {
  const list = [...sources];
  const hits = scanForCanary(canary, list);
  if (hits.length === 0) return;
  const lines = hits.slice(0, 20).map((h) => `  ${h.source}: ${h.encoding} at byte ${h.offset}`);
  throw new Error(`the canary ${canary} appears in ${hits.length} place(s) of ${list.length} scanned:\n${lines.join("\n")}`);
}

// ---------------------------------------------------------------- sources

/** Each file under `dir`, as raw bytes (an LMDB data directory, a chain state file). */
export function dirSources(dir: string): CanarySource[] {
  const walk = (d: string): string[] =>
    readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
  return walk(dir).map((f) => ({ name: `file ${f}`, data: readFileSync(f) }));
}

/** Every table of the Store port. */
export const STORE_TABLES: readonly TableName[] = [
  "jobs",
  "quotes",
  "workers",
  "offers",
  "accounts",
  "ledger",
  "idempotency",
  "nonces",
  "chain",
];

/**
 * The bytes of a value as a store would keep them: strings as UTF-8, binary values as their
 * own bytes (JSON.stringify would turn a Uint8Array into a list of numbers and hide what it
 * holds), numbers and bigints as decimal text. Keys are included.
 */
export function valueBytes(value: unknown): Buffer {
  const parts: Buffer[] = [];
  const walk = (v: unknown) => {
    if (v === null || v === undefined) return;
    if (typeof v === "string") parts.push(Buffer.from(v, "utf8"));
    else if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") parts.push(Buffer.from(String(v), "utf8"));
    else if (v instanceof Uint8Array) parts.push(asBytes(v));
    else if (v instanceof ArrayBuffer) parts.push(Buffer.from(v));
    else if (Array.isArray(v))
      for (const x of v) {
        walk(x);
        parts.push(SEP);
      }
    else if (v instanceof Map)
      for (const [k, x] of v) {
        walk(k);
        parts.push(SEP);
        walk(x);
        parts.push(SEP);
      }
    else if (typeof v === "object")
      for (const [k, x] of Object.entries(v)) {
        parts.push(Buffer.from(k, "utf8"), SEP);
        walk(x);
        parts.push(SEP);
      }
  };
  walk(value);
  return Buffer.concat(parts);
}
const SEP = Buffer.from([0]);

/** One source per table: every live item of a store that can list its tables (memory store, LMDB store). */
export function storeSources(store: { scan<T extends Item = Item>(table: TableName): T[] }, name = "store"): CanarySource[] {
  return STORE_TABLES.map((table) => ({
    name: `${name} table ${table}`,
    data: Buffer.concat(store.scan(table).map((item) => Buffer.concat([valueBytes(item), SEP]))),
  }));
}

/** Lines (logs, queue message bodies, relay messages) as sources named `what #i`. */
export function lineSources(what: string, lines: readonly string[]): CanarySource[] {
  return lines.map((data, i) => ({ name: `${what} #${i}`, data }));
}
