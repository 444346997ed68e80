/**
 * fast-check arbitraries derived from the zod schemas in events/ (issue 14): a value drawn from
 * `arbitraryFor(S)` passes `S.safeParse` (checked for every route body in
 * test/handler-fuzz.test.ts), so a fuzz built on them gets past validation and into the
 * handlers. Covers what events/ uses: objects, strings with length and regex checks (through
 * fc.stringMatching), safe integers with bounds, bigints, enums, literals, arrays with bounds,
 * unions (discriminated too), records, optional / nullable / default, pipes and transforms
 * (drawn on their input side), lazy. Anything else draws from fc.anything() and says so in
 * `unsupported`, so a new schema kind shows up instead of silently producing junk.
 *
 * `leaves(S, v)` lists the leaves of a valid value with the sub-schema of each, so a fuzz can
 * replace one field with another valid value of the same field (another id, amount, attempt,
 * signature) and keep the body valid as a whole.
 */
import fc from "fast-check";
import type { z } from "zod";

type Def = { type?: string; [k: string]: any };
const defOf = (s: z.ZodType): Def => (s as any)._zod.def as Def;
const checksOf = (d: Def): Def[] => ((d.checks ?? []) as any[]).map((c) => c._zod.def as Def);

/** Schema kinds met that have no generator (drawn from fc.anything()). */
export const unsupported = new Set<string>();

const cache = new WeakMap<z.ZodType, fc.Arbitrary<unknown>>();

/** Bounded sizes: bodies stay small enough for 100k cases a run. */
const MAX_ARRAY = 4;
const MAX_STRING = 40;

export function arbitraryFor(schema: z.ZodType): fc.Arbitrary<unknown> {
  const hit = cache.get(schema);
  if (hit) return hit;
  // Recursive schemas (z.lazy) resolve through fc.constant(null).chain at draw time.
  const arb = build(schema);
  cache.set(schema, arb);
  return arb;
}

function build(schema: z.ZodType): fc.Arbitrary<unknown> {
  const d = defOf(schema);
  switch (d.type) {
    case "object": {
      const shape = d.shape as Record<string, z.ZodType>;
      const required: string[] = [];
      const entries: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, v] of Object.entries(shape)) {
        entries[k] = arbitraryFor(v);
        const t = defOf(v).type;
        if (t !== "optional" && t !== "default") required.push(k);
      }
      return fc.record(entries, { requiredKeys: required });
    }
    case "string":
      return stringArb(checksOf(d));
    case "number":
      return numberArb(checksOf(d));
    case "int":
      return numberArb([...checksOf(d), { type: "number", check: "number_format", format: "safeint" }]);
    case "bigint": {
      let min = -(1n << 64n);
      let max = 1n << 64n;
      for (const c of checksOf(d)) {
        if (c.check === "greater_than") min = BigInt(c.value) + (c.inclusive ? 0n : 1n);
        if (c.check === "less_than") max = BigInt(c.value) - (c.inclusive ? 0n : 1n);
      }
      return fc.bigInt({ min, max });
    }
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "undefined":
      return fc.constant(undefined);
    case "unknown":
    case "any":
      return fc.jsonValue({ maxDepth: 2 });
    case "literal":
      return fc.constantFrom(...(d.values as unknown[]));
    case "enum":
      return fc.constantFrom(...Object.values(d.entries as Record<string, unknown>));
    case "array": {
      let minLength = 0;
      let maxLength = MAX_ARRAY;
      for (const c of checksOf(d)) {
        if (c.check === "min_length") minLength = c.minimum;
        if (c.check === "max_length") maxLength = Math.min(maxLength, c.maximum);
        if (c.check === "length_equals") minLength = maxLength = c.length;
      }
      return fc.array(arbitraryFor(d.element), { minLength, maxLength: Math.max(minLength, maxLength) });
    }
    case "tuple":
      return fc.tuple(...(d.items as z.ZodType[]).map(arbitraryFor));
    case "union":
      return fc.oneof(...(d.options as z.ZodType[]).map(arbitraryFor));
    case "record":
      return fc.dictionary(
        (d.keyType
          ? arbitraryFor(d.keyType)
          : stringArb([
              { check: "max_length", maximum: 12 },
              { check: "min_length", minimum: 1 },
            ])) as fc.Arbitrary<string>,
        arbitraryFor(d.valueType),
        { maxKeys: 3 },
      );
    case "optional":
      return fc.option(arbitraryFor(d.innerType), { nil: undefined, freq: 4 });
    case "nullable":
      return fc.option(arbitraryFor(d.innerType), { nil: null, freq: 4 });
    case "default":
    case "prefault":
      return fc.option(arbitraryFor(d.innerType), { nil: undefined, freq: 3 });
    case "readonly":
    case "catch":
    case "nonoptional":
      return arbitraryFor(d.innerType);
    case "pipe":
      // A transform's input is what travels on the wire (e.g. NanoTon: a decimal string in, a bigint out).
      return arbitraryFor(defOf(d.in).type === "transform" ? d.out : d.in);
    case "lazy":
      return fc.constant(null).chain(() => arbitraryFor(d.getter()));
    default:
      unsupported.add(String(d.type));
      return fc.anything();
  }
}

function stringArb(checks: Def[]): fc.Arbitrary<string> {
  let minLength = 0;
  let maxLength = MAX_STRING;
  let declaredMax = Infinity;
  const patterns: RegExp[] = [];
  for (const c of checks) {
    if (c.check === "min_length") minLength = c.minimum;
    if (c.check === "max_length") declaredMax = Math.min(declaredMax, c.maximum);
    if (c.check === "length_equals") minLength = declaredMax = c.length;
    if (c.check === "string_format" && c.pattern instanceof RegExp) patterns.push(c.pattern);
  }
  maxLength = Math.min(Math.max(maxLength, minLength), declaredMax);
  const fits = (s: string) => s.length >= minLength && s.length <= declaredMax && patterns.every((p) => p.test(s));
  if (patterns.length > 0) {
    // The regex decides the shape; the length checks filter (patterns here bound their own lengths).
    return fc.stringMatching(patterns[0]!, { size: "small" }).filter(fits);
  }
  return fc.string({ minLength, maxLength, unit: "grapheme-ascii" }).filter(fits);
}

function numberArb(checks: Def[]): fc.Arbitrary<number> {
  let min = -1e6;
  let max = 1e6;
  let int = false;
  let lowOpen = false;
  let highOpen = false;
  for (const c of checks) {
    if (c.check === "number_format") int ||= c.format === "safeint" || c.format === "int32" || c.format === "uint32";
    if (c.check === "greater_than") [min, lowOpen] = [c.value, !c.inclusive];
    if (c.check === "less_than") [max, highOpen] = [c.value, !c.inclusive];
  }
  if (int) {
    const lo = Math.max(Number.MIN_SAFE_INTEGER, Math.ceil(lowOpen ? min + 1 : min));
    const hi = Math.min(Number.MAX_SAFE_INTEGER, Math.floor(highOpen ? max - 1 : max));
    // Edges are where checks go wrong: draw them often.
    return fc.oneof(
      { arbitrary: fc.integer({ min: lo, max: hi }), weight: 3 },
      { arbitrary: fc.constantFrom(lo, hi, Math.min(hi, Math.max(lo, 0))), weight: 1 },
    );
  }
  return fc.double({ min, max, minExcluded: lowOpen, maxExcluded: highOpen, noNaN: true, noDefaultInfinity: true });
}

// ---------------------------------------------------------------- leaves of a valid value

export interface Leaf {
  path: Array<string | number>;
  schema: z.ZodType;
}

/** Every leaf (string, number, bigint, boolean, enum, literal) of `value` with its schema. */
export function leaves(schema: z.ZodType, value: unknown, path: Array<string | number> = []): Leaf[] {
  const d = defOf(schema);
  switch (d.type) {
    case "object": {
      if (typeof value !== "object" || value === null) return [];
      const shape = d.shape as Record<string, z.ZodType>;
      return Object.entries(shape).flatMap(([k, s]) =>
        (value as Record<string, unknown>)[k] === undefined ? [] : leaves(s, (value as Record<string, unknown>)[k], [...path, k]),
      );
    }
    case "array":
      return Array.isArray(value) ? value.flatMap((v, i) => leaves(d.element, v, [...path, i])) : [];
    case "union": {
      const option = (d.options as z.ZodType[]).find((o) => o.safeParse(value).success);
      return option ? leaves(option, value, path) : [];
    }
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "readonly":
    case "catch":
    case "nonoptional":
      return value === undefined || value === null ? [] : leaves(d.innerType, value, path);
    case "pipe":
      return leaves(defOf(d.in).type === "transform" ? d.out : d.in, value, path);
    case "lazy":
      return leaves(d.getter(), value, path);
    case "record":
    case "unknown":
    case "any":
      return [];
    default:
      return [{ path, schema }];
  }
}

/** A deep copy of `value` with the leaf at `path` replaced. */
export function setAt<T>(value: T, path: Array<string | number>, leaf: unknown): T {
  if (path.length === 0) return leaf as T;
  const copy: any = Array.isArray(value) ? [...value] : { ...(value as object) };
  const [head, ...rest] = path;
  copy[head!] = setAt(copy[head!], rest, leaf);
  return copy;
}
