import { createHash, randomBytes as nodeRandomBytes, timingSafeEqual } from "node:crypto";
import { CryptoInputError } from "./errors";

/** A Buffer view over the same memory (no copy). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** UTF-8 bytes of a string, or the bytes themselves (no copy). */
export function toBytes(data: Uint8Array | string): Buffer {
  return typeof data === "string" ? Buffer.from(data, "utf8") : asBuffer(data);
}

// Only for error messages: finds the first character outside the base64url alphabet.
const B64U_OK = new Uint8Array(128);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") B64U_OK[ch.charCodeAt(0)] = 1;

function firstInvalidB64uChar(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || B64U_OK[c] === 0) return i;
  }
  return -1;
}

/** base64url without padding: how every binary value travels in JSON. */
export const b64u = {
  encode(bytes: Uint8Array): string {
    return asBuffer(bytes).toString("base64url");
  },
  /**
   * Throws CryptoInputError('invalid_base64url') on anything but canonical unpadded base64url.
   * With `into`, the bytes are written at its start and a view of it is returned when they fit
   * (a new buffer otherwise): for a caller that reuses one buffer for large transient values.
   */
  decode(s: string, into?: Buffer): Uint8Array {
    if (typeof s !== "string") {
      throw new CryptoInputError("invalid_base64url", `expected a base64url string, got ${typeof s}`);
    }
    // byteLength is arithmetic on the length: an upper bound of what the decoder writes.
    const out =
      into && into.length >= Buffer.byteLength(s, "base64url")
        ? into.subarray(0, into.write(s, 0, "base64url"))
        : Buffer.from(s, "base64url");
    if (!isCanonicalB64u(s, out)) throw new CryptoInputError("invalid_base64url", describeBadB64u(s));
    return out;
  },
};

/*
 * Node's decoder is lenient, and each way it is lenient has its own check here, all native
 * or O(1) in JS. Re-encoding `out` and comparing strings gives the same verdict but costs
 * several times the decode itself (a 1.4 MB string compare alone is ~0.4 ms), and the
 * request payload is decoded on every open. What Node's decoder does with a character:
 *  - outside its table (whitespace, '.', '=' ...): skipped, or decoding stops at '=': fewer
 *    bytes come out than the length implies, so the length check refuses it;
 *  - '+' and '/' (the standard alphabet): decoded like '-' and '_': refused by indexOf;
 *  - a UTF-16 code unit above 0xFF: read by its low byte ('Ł', U+0141, decodes as 'A'):
 *    refused by the ASCII check;
 *  - the unused low bits of the last character (2 or 4 bits): dropped, refused by
 *    re-encoding the last partial group (a lone last character, length 1 mod 4, likewise).
 * Once every character is in the base64url alphabet the decode is the standard one, and the
 * encoding is canonical exactly when the last group re-encodes to itself. encoding.test.ts
 * checks this against the re-encode-and-compare verdict for every UTF-16 code unit.
 */
function isCanonicalB64u(s: string, out: Buffer): boolean {
  const n = s.length;
  const tail = n % 4; // 1 is impossible: its one character re-encodes to nothing below
  if (out.length !== Math.floor(n / 4) * 3 + (tail === 0 ? 0 : tail - 1)) return false;
  if (s.indexOf("+") !== -1 || s.indexOf("/") !== -1) return false;
  if (!isAscii(s)) return false;
  if (tail === 0) return true;
  const full = n - tail;
  return out.toString("base64url", (full / 4) * 3) === s.slice(full);
}

// Reused by isAscii: ASCII is copied 1:1 by encodeInto, anything else takes 2+ bytes (or stops it).
const ASCII_CHUNK = 16 * 1024;
const asciiScratch = new Uint8Array(ASCII_CHUNK);
const utf8 = new TextEncoder();

/** Every UTF-16 code unit of s is below 0x80 (native: ~60 µs for 1.4 M characters). */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i += ASCII_CHUNK) {
    const part = s.length <= ASCII_CHUNK ? s : s.slice(i, i + ASCII_CHUNK);
    const { read, written } = utf8.encodeInto(part, asciiScratch);
    if (read !== part.length || written !== part.length) return false;
  }
  return true;
}

function describeBadB64u(s: string): string {
  const bad = firstInvalidB64uChar(s);
  if (bad >= 0) {
    return `invalid base64url character ${JSON.stringify(s[bad])} at position ${bad}; use A-Z a-z 0-9 - _ and no '=' padding`;
  }
  if (s.length % 4 === 1) return `base64url length ${s.length} is impossible (length mod 4 must not be 1); the value is truncated`;
  return "base64url has non-zero trailing bits (not canonical); re-encode the bytes";
}

export function sha256(data: Uint8Array | string): Uint8Array {
  return createHash("sha256").update(toBytes(data)).digest();
}

/** SHA-256 as lower-case hex; strings are hashed as UTF-8. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(toBytes(data)).digest("hex");
}

export function sha512(data: Uint8Array): Uint8Array {
  return createHash("sha512").update(asBuffer(data)).digest();
}

export function randomBytes(n: number): Uint8Array {
  return nodeRandomBytes(n);
}

/**
 * Deterministic JSON: object keys sorted (by UTF-16 code units) at every depth, no
 * whitespace, bigint as a decimal string, undefined object properties dropped (undefined
 * array items become null, as in JSON). Objects with toJSON (e.g. Date) are serialised via
 * it. Throws CryptoInputError for non-finite numbers, functions, symbols and cycles: a
 * value that is signed or used as AAD must have exactly one meaning.
 */
export function canonicalJson(value: unknown): string {
  return write(value, new Set<object>(), []);
}

/**
 * `path` holds the keys and indices from the root to `value`; it is written as "$.a[0]" only
 * for an error message, so a value that serialises builds no path strings.
 */
function write(value: unknown, stack: Set<object>, path: Array<string | number>): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) {
        throw new CryptoInputError("unsupported_value", `${pathOf(path)} is ${value}; canonical JSON only holds finite numbers`);
      }
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return `"${value.toString()}"`;
    case "undefined":
      return "null";
    case "object": {
      if (value === null) return "null";
      if (stack.has(value)) throw new CryptoInputError("unsupported_value", `${pathOf(path)} is a circular reference`);
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === "function") return write(toJSON.call(value), stack, path);
      if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Map || value instanceof Set) {
        throw new CryptoInputError(
          "unsupported_value",
          `${pathOf(path)} is a ${value.constructor.name}; convert it first (bytes → b64u string, Map → plain object)`,
        );
      }
      stack.add(value);
      let out: string;
      if (Array.isArray(value)) {
        out = "[";
        for (let i = 0; i < value.length; i++) {
          path.push(i);
          out += (i === 0 ? "" : ",") + write(value[i], stack, path);
          path.pop();
        }
        out += "]";
      } else {
        const obj = value as Record<string, unknown>;
        const keys = sortedKeys(obj);
        out = "{";
        let first = true;
        for (const k of keys) {
          const v = obj[k];
          if (v === undefined) continue;
          path.push(k);
          out += (first ? "" : ",") + JSON.stringify(k) + ":" + write(v, stack, path);
          path.pop();
          first = false;
        }
        out += "}";
      }
      stack.delete(value);
      return out;
    }
    default:
      throw new CryptoInputError("unsupported_value", `${pathOf(path)} is a ${typeof value}; canonical JSON cannot hold it`);
  }
}

/**
 * Object.keys(obj) in code-unit order, as `.sort()` orders strings. A short list (every object
 * signed or hashed here has a few keys) is sorted in place by insertion: Array.prototype.sort
 * copies it into a work buffer first, a sixth of what a job's canonical forms allocated.
 */
function sortedKeys(obj: Record<string, unknown>): string[] {
  const keys = Object.keys(obj);
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > k) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = k;
  }
  return keys;
}

const pathOf = (path: Array<string | number>) => "$" + path.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("");

/**
 * Byte equality in constant time for equal lengths (node's timingSafeEqual): the one compare
 * for nonces, digests and keys, so a timing difference never tells how much of a guess matched.
 * Lengths are public.
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(asBuffer(a), asBuffer(b));
}
