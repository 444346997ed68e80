/**
 * Boundary and hostile values for the handler fuzz (test/fuzz/handlers.ts). The schema-shaped
 * draws of ./arbitrary.ts pass validation and reach the handlers, but stay shallow: small
 * integers, short strings, flat objects. Session 21's review found seven 500s behind values the
 * schemas let through and something behind them could not take (numbers one past uint32, raw
 * workchains past int8, an owner index the sandbox lacks, a 500 KB string in a stored field, a
 * collateral nested 300,000 deep). This file draws that class, into a valid body:
 *
 *  - integers at and around 0, -1, 2^31, 2^32 - 1, 2^32, 2^53 ± 1, 2^63, 2^64 and the field's own
 *    bounds ± 1, as JSON numbers, as raw number literals past 2^53 and as decimal strings;
 *  - strings at, one past and twice the field's max length, and long ones (64 KB to 600 KB, built
 *    from the field's own characters so a pattern still matches), unicode edge cases (lone
 *    surrogates, NUL, RTL and zero-width marks, a BOM, U+2028, non-BMP) inserted or alone;
 *  - TON addresses: raw workchains at and past int8 (-129, -128, 127, 128, 255, 999, ...) and
 *    user-friendly forms with a wrong checksum, odd flags or workchain byte, a length off by one,
 *    padding or mixed base64 alphabets;
 *  - JSON nested 1,000 to 100,000 deep (arrays, objects, both), as raw text spliced into the body
 *    (JSON.stringify itself would overflow on such a value);
 *  - arrays at, one past and far past their max length (copies of a valid element);
 *  - prototype-looking keys (__proto__, constructor, prototype, toString) added to objects and
 *    records (JSON.parse makes them own properties);
 *  - plain type confusion (null, true, "", [], {}).
 *
 * Every draw is a function of its seed (a small PRNG, no Math.random), so a failing case replays.
 * A body stays under about 1.3 MB (the HTTP edge takes 6 MB): time and memory stay bounded.
 */
import fc from "fast-check";
import type { z } from "zod";
import { arbitraryFor, setAt } from "./arbitrary";
import { mulberry32 } from "../../core/mulberry32";

type Def = { type?: string; [k: string]: any };
const defOf = (s: z.ZodType): Def => (s as any)._zod.def as Def;
const checksOf = (d: Def): Def[] => ((d.checks ?? []) as any[]).map((c) => c._zod.def as Def);

/** JSON text spliced into a body where it is serialised: a value too deep for JSON.stringify, a number literal past 2^53. */
export class RawJson {
  constructor(readonly text: string) {}
}

/** A body as text: bigints as decimal strings (as the route world sends them), RawJson spliced in. */
export function bodyText(body: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(body, (_k, v: unknown) => {
    if (typeof v === "bigint") return v.toString();
    if (v instanceof RawJson) {
      raws.push(v.text);
      return `\u0000\u0001raw${raws.length - 1}\u0001\u0000`;
    }
    return v;
  });
  if (raws.length === 0) return text;
  // JSON.stringify writes U+0000 and U+0001 escaped: a marker is a whole string of its own
  return text.replace(/"\\u0000\\u0001raw(\d+)\\u0001\\u0000"/g, (_m, i: string) => raws[Number(i)]!);
}

/** mulberry32 (core/mulberry32.ts): a small deterministic PRNG, [0, 1). */
export const rng = mulberry32;
type Rng = () => number;
const pickOf = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

// ---------------------------------------------------------------- the values

const P = (n: number) => 2 ** n;
/** Integers (and a few non-integers) where checks go wrong. */
export const NUMBER_EDGES: readonly number[] = [
  0,
  -0,
  -1,
  1,
  P(31) - 1,
  P(31),
  -P(31),
  -P(31) - 1,
  P(32) - 1,
  P(32),
  P(32) + 1,
  P(53) - 1,
  P(53),
  -(P(53) - 1),
  -P(53),
  P(63),
  -P(63),
  P(64),
  1e21,
  1.5,
  -0.5,
  5e-324,
  1.7976931348623157e308,
];
/** Number literals JSON.stringify cannot write (past 2^53 exactly, past a double). */
export const NUMBER_LITERALS: readonly string[] = [
  "9007199254740993",
  "-9007199254740993",
  "9223372036854775807",
  "9223372036854775808",
  "18446744073709551615",
  "18446744073709551616",
  "1e400",
  "-1e400",
  "4294967296.0",
  "4.294967296e9",
  "-0",
];
/** Decimal strings (nanoTON amounts, ids, numbers sent as text). */
export const DECIMAL_STRINGS: readonly string[] = [
  "0",
  "-1",
  "2147483647",
  "2147483648",
  "4294967295",
  "4294967296",
  "9007199254740991",
  "9007199254740992",
  "9007199254740993",
  "9223372036854775807",
  "9223372036854775808",
  "18446744073709551615",
  "18446744073709551616",
  "340282366920938463463374607431768211456",
  "1" + "0".repeat(80),
  "00",
  "01",
  "+1",
  " 1",
  "1 ",
  "1e3",
  "0x10",
  "1.5",
  "",
  "-0",
  "\uff11",
];
/** Unicode edge cases: lone surrogates, NUL, bidi and zero-width marks, BOM, separators, non-BMP. */
export const UNICODE_EDGES: readonly string[] = [
  "\ud800",
  "\udfff",
  "a\udc00b",
  "\u0000",
  "a\u0000b",
  "\u202e",
  "\u200f",
  "\u202egnp.exe",
  "\u2066\u2069",
  "\ufeff",
  "\u200b",
  "\u2028\u2029",
  "e\u0301\u0301\u0301",
  "\u{1f600}",
  "\uffff",
  "\u{10ffff}",
  "\r\n",
  '"\\',
  "%00",
  "../../",
];
const PROTO_KEYS = ["__proto__", "constructor", "prototype", "toString", "valueOf", "hasOwnProperty"] as const;
const PROTO_VALUES: readonly unknown[] = [{ polluted: true }, { prototype: { polluted: true } }, null, "x", 1, []];
const CONFUSION: readonly unknown[] = [null, true, false, "", [], {}, "null", 0, [null]];

/** Hex of 32 bytes, for raw addresses. */
const HEX64 = "a".repeat(64);
/** Raw workchains at and past int8. */
const WORKCHAINS = ["-129", "-128", "-1", "0", "1", "127", "128", "255", "256", "999", "-999", "00", "+0", "-0", "2147483648"];

/** CRC16-XMODEM, the checksum of a user-friendly TON address. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

function friendly(flags: number, wc: number, goodCrc: boolean, urlSafe: boolean): string {
  const b = new Uint8Array(36);
  b[0] = flags & 0xff;
  b[1] = wc & 0xff;
  b.fill(0xab, 2, 34);
  const crc = crc16(b.subarray(0, 34)) ^ (goodCrc ? 0 : 1);
  b[34] = crc >> 8;
  b[35] = crc & 0xff;
  const s = Buffer.from(b).toString("base64");
  return urlSafe ? s.replace(/\+/g, "-").replace(/\//g, "_") : s;
}

/** TON addresses at and past what a workchain (int8) and the user-friendly form hold. */
export function hostileAddress(r: Rng): string {
  switch (Math.floor(r() * 3)) {
    case 0: {
      const hex = pickOf(r, [HEX64, HEX64.toUpperCase(), "a".repeat(63), "a".repeat(65), "g".repeat(64), "0".repeat(64)]);
      return `${pickOf(r, WORKCHAINS)}:${hex}`;
    }
    case 1:
      // a well-formed checksum over odd flags (0x00, 0xff, test-only 0x91) or an edge workchain byte (0x7f, 0x80 = -128)
      return friendly(pickOf(r, [0x11, 0x51, 0x91, 0xd1, 0x00, 0xff]), pickOf(r, [0, -1, 127, -128, 1]), true, r() < 0.5);
    default: {
      const good = friendly(0x11, 0, r() < 0.5, r() < 0.5);
      return pickOf(r, [
        good,
        good.slice(1),
        good + "A",
        good.slice(0, 46) + "==",
        good.slice(0, 20) + "+" + good.slice(21, 30) + "-" + good.slice(31),
        "=".repeat(48),
        "A".repeat(48),
        "_".repeat(48),
      ]);
    }
  }
}

/** Deeply nested JSON text: arrays, objects or both, `depth` levels (at most 100,000: about 600 KB). */
export function deepJson(r: Rng, depth: number): RawJson {
  switch (Math.floor(r() * 3)) {
    case 0:
      return new RawJson("[".repeat(depth) + "]".repeat(depth));
    case 1:
      return new RawJson('{"a":'.repeat(depth) + "1" + "}".repeat(depth));
    default:
      return new RawJson('[{"a":'.repeat(depth >> 1) + "null" + "}]".repeat(depth >> 1));
  }
}
const depthOf = (r: Rng) => pickOf(r, [1_000, 10_000, 50_000, 100_000]);

/** A long string from `like`'s own characters (a pattern such as base64url still matches), or of one filler. */
function longString(r: Rng, like: string, n: number): string {
  const n2 = Math.max(0, Math.min(n, 600_000));
  const source = like.length > 0 && r() < 0.6 ? like : pickOf(r, ["A", "a", "0", "x"]);
  return source.repeat(Math.ceil(n2 / source.length) + 1).slice(0, n2);
}
const LONG = [65_537, 200_000, 409_601, 600_000] as const;

// ---------------------------------------------------------------- slots of a body

/** One position in a body: its path, the schema there (unwrapped) and its value. */
export interface Slot {
  path: Array<string | number>;
  schema: z.ZodType | undefined;
  value: unknown;
}

const WRAPPERS = new Set(["optional", "nullable", "default", "prefault", "readonly", "catch", "nonoptional"]);

/** The schema with optional / nullable / default / pipe / lazy wrappers taken off (a pipe: its wire side). */
function unwrap(schema: z.ZodType | undefined): z.ZodType | undefined {
  for (let i = 0; schema && i < 20; i++) {
    const d = defOf(schema);
    if (WRAPPERS.has(String(d.type))) schema = d.innerType as z.ZodType;
    else if (d.type === "pipe") schema = (defOf(d.in).type === "transform" ? d.out : d.in) as z.ZodType;
    else if (d.type === "lazy") schema = d.getter() as z.ZodType;
    else break;
  }
  return schema;
}

/** Every position of `value` (objects, arrays, records, unknown-typed fields, leaves), each with its schema where known. */
export function slots(schema: z.ZodType | undefined, value: unknown, path: Array<string | number> = [], out: Slot[] = []): Slot[] {
  if (out.length > 400 || path.length > 12) return out;
  const s = unwrap(schema);
  const d = s ? defOf(s) : undefined;
  out.push({ path, schema: s, value });
  if (value === null || typeof value !== "object" || value instanceof RawJson) return out;
  if (Array.isArray(value)) {
    const element = (i: number) =>
      d?.type === "array" ? (d.element as z.ZodType) : d?.type === "tuple" ? (d.items as z.ZodType[])[i] : undefined;
    value.slice(0, 4).forEach((v, i) => slots(element(i), v, [...path, i], out));
    return out;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (d?.type === "object") {
    const shape = d.shape as Record<string, z.ZodType>;
    for (const [k, v] of entries) slots(shape[k], v, [...path, k], out);
    // a missing optional field is a slot too: it can be given a hostile value
    for (const k of Object.keys(shape))
      if (!(k in (value as object))) out.push({ path: [...path, k], schema: unwrap(shape[k]), value: undefined });
  } else if (d?.type === "union") {
    const option = (d.options as z.ZodType[]).find((o) => o.safeParse(value).success);
    out.pop();
    slots(option, value, path, out);
  } else {
    const valueType = d?.type === "record" ? (d.valueType as z.ZodType) : undefined;
    for (const [k, v] of entries.slice(0, 8)) slots(valueType, v, [...path, k], out);
  }
  return out;
}

// ---------------------------------------------------------------- hostile values per slot

interface Bounds {
  min?: number | bigint;
  max?: number | bigint;
  maxLength?: number;
  pattern?: RegExp;
}

function boundsOf(schema: z.ZodType | undefined): Bounds {
  const b: Bounds = {};
  if (!schema) return b;
  for (const c of checksOf(defOf(schema))) {
    if (c.check === "greater_than") b.min = c.value as number | bigint;
    if (c.check === "less_than") b.max = c.value as number | bigint;
    if (c.check === "max_length") b.maxLength = Math.min(b.maxLength ?? Infinity, c.maximum as number);
    if (c.check === "length_equals") b.maxLength = c.length as number;
    if (c.check === "string_format" && c.pattern instanceof RegExp) b.pattern ??= c.pattern;
  }
  return b;
}

const ADDRESS_LIKE = /^-?\d+:[0-9a-fA-F]{64}$|^[A-Za-z0-9_+/-]{48}$/;

/** Non-negative safe integers at and past the widths a contract or a store keeps (int32, uint32, 40 bits, 2^53 - 1): a schema that says only "int, nonnegative" takes them. */
export const WIDTH_EDGES: readonly number[] = [P(31) - 1, P(31), P(32) - 1, P(32), P(32) + 1, P(40), P(53) - 1];

function hostileNumber(r: Rng, b: Bounds): unknown {
  const around: number[] = [];
  for (const x of [b.min, b.max]) if (typeof x === "number" && Number.isFinite(x)) around.push(x - 1, x, x + 1);
  switch (Math.floor(r() * 10)) {
    case 0:
    case 1:
    case 2:
    case 3:
      return pickOf(r, WIDTH_EDGES);
    case 4:
      if (around.length) return pickOf(r, around);
      return pickOf(r, NUMBER_EDGES);
    case 5:
    case 6:
      return pickOf(r, NUMBER_EDGES);
    case 7:
      return new RawJson(pickOf(r, NUMBER_LITERALS));
    case 8:
      return pickOf(r, DECIMAL_STRINGS);
    default:
      return pickOf(r, CONFUSION);
  }
}

function hostileString(r: Rng, b: Bounds, like: string): unknown {
  const max = b.maxLength;
  // a field with no max length is where a store's item limit or a buffer gives way: long, half the time
  if (max === undefined && r() < 0.3) return longString(r, like, pickOf(r, [409_601, 600_000]));
  switch (Math.floor(r() * 10)) {
    case 0:
    case 1:
      // at, one past and twice the field's max length; an unbounded field: long
      if (max !== undefined && max < 300_000) return longString(r, like, pickOf(r, [max, max + 1, max * 2 + 1]));
      return longString(r, like, pickOf(r, LONG));
    case 2:
      return longString(r, like, pickOf(r, LONG));
    case 3: {
      const u = pickOf(r, UNICODE_EDGES);
      const at = Math.floor(r() * (like.length + 1));
      return r() < 0.5 ? u : like.slice(0, at) + u + like.slice(at);
    }
    case 4:
      if (b.pattern?.source.includes("{64}") || ADDRESS_LIKE.test(like)) return hostileAddress(r);
      return pickOf(r, DECIMAL_STRINGS);
    case 5:
      return pickOf(r, DECIMAL_STRINGS);
    case 6:
      return hostileAddress(r);
    case 7:
      return hostileNumber(r, {});
    default:
      return pickOf(r, CONFUSION);
  }
}

function withProtoKey(r: Rng, value: object): unknown {
  // JSON.parse (what the coordinator reads) makes __proto__ an own key; so does defineProperty here
  const copy: Record<string, unknown> = Array.isArray(value) ? {} : { ...(value as Record<string, unknown>) };
  Object.defineProperty(copy, pickOf(r, PROTO_KEYS), {
    value: pickOf(r, PROTO_VALUES),
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return copy;
}

/** A hostile value for one slot, by what the schema there is. */
export function hostileValue(r: Rng, slot: Slot): unknown {
  const s = slot.schema;
  const d = s ? defOf(s) : undefined;
  const b = boundsOf(s);
  const type = d?.type;
  // now and then anything, wherever: deep nesting, a prototype key, a long string
  if (r() < 0.12) {
    const x = r();
    if (x < 0.4) return deepJson(r, depthOf(r));
    if (x < 0.7) return withProtoKey(r, typeof slot.value === "object" && slot.value !== null ? slot.value : {});
    return longString(r, "", pickOf(r, LONG));
  }
  switch (type) {
    case "number":
    case "int":
      return hostileNumber(r, b);
    case "bigint":
      return r() < 0.7 ? pickOf(r, DECIMAL_STRINGS) : new RawJson(pickOf(r, NUMBER_LITERALS));
    case "string":
      return hostileString(r, b, typeof slot.value === "string" ? slot.value : "");
    case "literal":
    case "enum":
    case "boolean":
      return r() < 0.5 ? pickOf(r, UNICODE_EDGES) : pickOf(r, CONFUSION);
    case "array": {
      const maxLength = b.maxLength ?? (checksOf(d!).find((c) => c.check === "max_length")?.maximum as number | undefined);
      const arr = Array.isArray(slot.value) ? slot.value : [];
      const el = arr.length ? arr[Math.floor(r() * arr.length)] : pickOf(r, [null, 0, "", {}]);
      // bounded: at most about 1 MB of copies
      const size = Math.max(2, bodyText(el).length);
      const cap = Math.max(1, Math.floor(1_000_000 / size));
      const n = Math.min(
        cap,
        pickOf(r, maxLength !== undefined ? [maxLength, maxLength + 1, maxLength * 4 + 1, 10_000] : [1_000, 10_000, 100_000]),
      );
      return Array.from({ length: n }, () => el);
    }
    case "object":
    case "record":
      return r() < 0.6 ? withProtoKey(r, typeof slot.value === "object" && slot.value !== null ? slot.value : {}) : deepJson(r, depthOf(r));
    case "unknown":
    case "any":
    case undefined:
      return r() < 0.6 ? deepJson(r, depthOf(r)) : r() < 0.5 ? withProtoKey(r, {}) : hostileNumber(r, {});
    default:
      return pickOf(r, CONFUSION);
  }
}

/**
 * `value` (a valid body of `schema`) with one to three positions replaced by hostile values,
 * fixed by `seed`. Now and then the whole body is hostile (nested deep, a prototype key on top).
 */
export function hostileBody<T>(schema: z.ZodType | undefined, value: T, seed: number): T {
  const r = rng(seed ^ 0x5eed);
  if (r() < 0.03) return (r() < 0.5 ? deepJson(r, depthOf(r)) : withProtoKey(r, (value ?? {}) as object)) as T;
  // an optional field the valid body leaves out is filled in now and then (a failure report's
  // sealed reply, say), so its own fields can be hostile too
  if (r() < 0.3) {
    for (const slot of slots(schema, value)) {
      if (slot.value !== undefined || slot.path.length === 0 || !slot.schema || r() < 0.5) continue;
      const filled = fc.sample(arbitraryFor(slot.schema), { seed: seed ^ slot.path.length, numRuns: 1 })[0];
      if (filled !== undefined) value = setAt(value, slot.path, filled);
    }
  }
  const all = slots(schema, value);
  // the leaves most (that is where a number or a string meets a contract), every position sometimes
  const leaves = all.filter((x) => x.path.length > 0 && (x.value === undefined || typeof x.value !== "object" || x.value === null));
  // numbers twice (a width is where a contract or a store gives way)
  const numbers = leaves.filter(
    (x) => typeof x.value === "number" || (x.schema && ["number", "int"].includes(String(defOf(x.schema).type))),
  );
  const pool = leaves.length && r() < 0.7 ? [...leaves, ...numbers] : all;
  const n = r() < 0.65 ? 1 : r() < 0.8 ? 2 : 3;
  let out: T = value;
  let big = 0;
  for (let k = 0; k < n; k++) {
    const slot = pool[Math.floor(r() * pool.length)];
    if (!slot) break;
    const v = hostileValue(r, slot);
    // one large value a body at most (the total stays about 1.3 MB)
    const large = (typeof v === "string" && v.length > 10_000) || v instanceof RawJson || (Array.isArray(v) && v.length > 100);
    if (large && big++ > 0) continue;
    out = slot.path.length === 0 ? (v as T) : setAt(out, slot.path, v);
  }
  return out;
}

/** Hostile path parameters: numbers past uint32 and 2^53, malformed percent-encoding, long and unicode ids. */
export function hostilePathParam(seed: number, like: string): string {
  const r = rng(seed ^ 0x9a7);
  return pickOf(r, [
    "4294967296",
    "4294967295",
    "9007199254740993",
    "18446744073709551616",
    "-1",
    "1e3",
    "0x1",
    "%E0%A4%A",
    "%ZZ",
    "%00",
    "%ED%A0%80",
    "%F0%9F%98%80",
    encodeURIComponent("\u202e"),
    like + "%00",
    like.repeat(400).slice(0, 10_000),
    "__proto__",
    "constructor",
  ]);
}

/** Hostile query strings: numbers past the bounds, repeated and prototype keys, malformed encoding. */
export function hostileQuery(seed: number, keys: string[]): string {
  const r = rng(seed ^ 0x71e);
  const k = keys.length ? pickOf(r, keys) : "wait";
  const v = () =>
    pickOf(r, [...DECIMAL_STRINGS.map(encodeURIComponent), "%ZZ", "%E0%A4%A", "1%00", "x".repeat(r() < 0.5 ? 5_000 : 100_000)]);
  switch (Math.floor(r() * 4)) {
    case 0:
      return `${k}=${v()}`;
    case 1:
      return `${k}=${v()}&${k}=${v()}`;
    case 2:
      return `${pickOf(r, PROTO_KEYS)}=${v()}&${k}=1`;
    default:
      return `${k}[]=${v()}&${k}[a]=1`;
  }
}
