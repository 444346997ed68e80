/**
 * The store semantics shared by every local Store adapter (memory and LMDB): validation
 * of a transaction, evaluation of a Condition against the current item, the result of a
 * WriteOp, and TTL expiry. The adapters only differ in where items live and how a
 * transaction is isolated; everything observable is decided here, once.
 *
 * Semantics follow DynamoDB where they are defined:
 * - a comparison on a missing item or attribute is false (for every operator, `<>` included);
 * - numbers and bigints are the same type (DynamoDB N) and compare numerically;
 * - strings compare by UTF-8 bytes (DynamoDB's order, also LMDB's key order);
 * - booleans only support `=` and `<>` (validateOps refuses an ordering comparison with one,
 *   as DynamoDB does; evalCondition would judge it false);
 * - `update` is an upsert: `set` with undefined removes the attribute, `add` (whole numbers
 *   only, validateOps) adds to a missing attribute as 0 and keeps bigint as bigint;
 * - a transaction touches each item at most once and has at most 100 ops and 4 MB
 *   (core/store-rules.ts, shared with the DynamoDB adapter);
 * - no item exceeds 400 KB, also the one an update makes of a stored item (planTransaction).
 * TTL differs on purpose: an item whose `ttl` (unix seconds) is at or before now is
 * absent for reads, conditions and updates at once, not "within 48 hours" (both adapters; the
 * DynamoDB adapter makes its updates treat an expired item not yet swept the same way).
 */
import type { Clock, Condition, Item, Key, TableName, WriteOp } from "../core/ports";
import { isExpired, keyOf, MAX_ITEM_BYTES, StoreValidationError, validateItemSize } from "../core/store-rules";

// The rules shared with the DynamoDB adapter (limits, keys, validation, TTL) live in core/store-rules.ts.
export {
  isExpired,
  keyOf,
  MAX_KEY_BYTES,
  MAX_TRANSACT_BYTES,
  MAX_TRANSACT_OPS,
  StoreValidationError,
  validateKey,
  validateOps,
  type StoreValidationCode,
} from "../core/store-rules";

export const systemClock: Clock = { now: () => Date.now() };

/** The item as readers see it: undefined when missing or expired. */
export function live<T extends Item>(item: T | undefined, nowMs: number): T | undefined {
  return item === undefined || isExpired(item, nowMs) ? undefined : item;
}

// ---------------------------------------------------------------- conditions

const utf8 = (s: string) => Buffer.from(s, "utf8");

/** -1 / 0 / 1, or undefined when the two values are not comparable (different types). */
export function compareValues(a: unknown, b: unknown): -1 | 0 | 1 | undefined {
  const an = typeof a === "number" || typeof a === "bigint";
  const bn = typeof b === "number" || typeof b === "bigint";
  if (an && bn) {
    // JS compares number and bigint exactly (no precision loss)
    return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
  }
  if (typeof a === "string" && typeof b === "string") {
    if (a === b) return 0;
    const c = Buffer.compare(utf8(a), utf8(b));
    return c < 0 ? -1 : 1;
  }
  return undefined;
}

/** Evaluates a condition against the current (live) item, undefined when absent. */
export function evalCondition(cond: Condition, item: Item | undefined): boolean {
  switch (cond.kind) {
    case "exists":
      return item !== undefined;
    case "notExists":
      return item === undefined;
    case "and":
      return cond.all.every((c) => evalCondition(c, item));
    case "in": {
      if (item === undefined || !(cond.attr in item)) return false;
      const v = item[cond.attr];
      return cond.values.some((x) => compareValues(v, x) === 0);
    }
    case "cmp": {
      if (item === undefined || !(cond.attr in item)) return false;
      const v = item[cond.attr];
      if (v === undefined) return false;
      if (typeof v === "boolean" || typeof cond.value === "boolean") {
        if (typeof v !== typeof cond.value) return false;
        if (cond.op === "=") return v === cond.value;
        if (cond.op === "<>") return v !== cond.value;
        return false;
      }
      const c = compareValues(v, cond.value);
      if (c === undefined) return false;
      switch (cond.op) {
        case "=":
          return c === 0;
        case "<>":
          return c !== 0;
        case "<":
          return c < 0;
        case "<=":
          return c <= 0;
        case ">":
          return c > 0;
        case ">=":
          return c >= 0;
      }
    }
  }
  return false;
}

// ---------------------------------------------------------------- writes

/** A copy of the item without undefined attributes (DynamoDB's removeUndefinedValues). */
export function cleanItem<T extends Item>(item: T): T {
  const out: Record<string, unknown> = {};
  // keys, not entries: no [key, value] pair per attribute (every put is cleaned)
  for (const k of Object.keys(item)) {
    const v = item[k];
    if (v !== undefined) out[k] = v;
  }
  return out as T;
}

function addNumbers(current: unknown, delta: number | bigint, attr: string, index: number): number | bigint {
  if (current === undefined) return delta;
  if (typeof current !== "number" && typeof current !== "bigint") {
    throw new StoreValidationError("STORE_NOT_A_NUMBER", `op ${index} adds to ${attr}, which holds a ${typeof current}`, index);
  }
  if (typeof current === "number" && typeof delta === "number") return current + delta;
  const toBig = (x: number | bigint) => {
    if (typeof x === "bigint") return x;
    if (!Number.isInteger(x)) {
      throw new StoreValidationError("STORE_NOT_A_NUMBER", `op ${index} mixes a fractional number with a bigint in ${attr}`, index);
    }
    return BigInt(x);
  };
  return toBig(current) + toBig(delta);
}

/**
 * The item an update produces from the current (live) item, undefined when absent: an
 * upsert. Throws StoreValidationError when `add` meets a non-number; call it before any write.
 */
export function applyUpdate(
  current: Item | undefined,
  op: { key: Key; set?: Record<string, unknown>; add?: Record<string, number | bigint> },
  index = 0,
): Item {
  const next: Record<string, unknown> = { ...(current ?? {}), pk: op.key.pk, sk: op.key.sk };
  for (const [attr, value] of Object.entries(op.set ?? {})) {
    if (value === undefined) delete next[attr];
    else next[attr] = value;
  }
  for (const [attr, delta] of Object.entries(op.add ?? {})) {
    next[attr] = addNumbers(next[attr], delta, attr, index);
  }
  return next as Item;
}

/**
 * What one op does to the item it addresses, given the current (live) item: the new item,
 * `null` for a removal, or `undefined` for no change (check). Conditions are NOT evaluated here.
 */
export function nextItem(op: WriteOp, current: Item | undefined, index: number): Item | null | undefined {
  switch (op.op) {
    case "put":
      return cleanItem(op.item);
    case "update":
      return applyUpdate(current, op, index);
    case "delete":
      return null;
    case "check":
      return undefined;
  }
}

// ---------------------------------------------------------------- size of an updated item

type UpdateOp = Extract<WriteOp, { op: "update" }>;

/**
 * Room per `add` attribute in updatedBytesBound: a sum may take more digits than its two terms
 * do together (0.1 + 0.2 is 0.30000000000000004: 2 + 2 bytes in, 10 out); a number is at most
 * 13 bytes as itemBytes counts it (24 digits).
 */
const ADD_ROOM = 16;

/**
 * An upper bound of itemBytes of the item `op` makes of a stored item of at most `stored`
 * bytes (0: absent; undefined: unknown, and so is the bound), given `written`, what validateOps
 * measured of the update (its key and values). Every attribute of the result is the stored
 * one or one the update writes, and both are counted whole (the key and the adapter's
 * allowance twice); an added number is bounded by its two terms plus ADD_ROOM.
 */
export function updatedBytesBound(op: UpdateOp, written: number, stored: number | undefined): number {
  if (stored === undefined) return Infinity;
  let adds = 0;
  for (const _ in op.add ?? {}) adds++;
  return stored + written + ADD_ROOM * adds;
}

/**
 * What a store knows about sizes, so that the item an update makes is measured (itemBytes: a
 * walk over the whole item, several µs for a job item) only when it may be over MAX_ITEM_BYTES.
 * Without it every updated item is measured: correct, only slower.
 */
export interface ItemSizes {
  /** validateOps' answer for these ops: each written item's size is then known or bounded. */
  measured?: readonly number[];
  /**
   * An upper bound of itemBytes(next), the item update `op` (at `index`) makes of `current`
   * (undefined: absent), from what the store has at hand; Infinity when it has nothing.
   */
  bound?(op: UpdateOp, index: number, current: Item | undefined, next: Item): number;
}

/**
 * The whole decision of a transaction against a snapshot read inside the adapter's isolation:
 * either the index of the first failing condition, or the list of writes to apply.
 * Throws StoreValidationError only for data-dependent invalid updates (a non-number added to,
 * an item grown past MAX_ITEM_BYTES); never after a write. Each write carries `bytes`, an upper
 * bound of its item's itemBytes, when known (a put's, an update's: see ItemSizes).
 */
export type PlannedWrite = { table: TableName; key: Key; item: Item | null; bytes: number | undefined };
export type TransactPlan = { failed: number } | { failed?: undefined; writes: PlannedWrite[] };

export function planTransaction(
  ops: readonly WriteOp[],
  read: (table: TableName, key: Key) => Item | undefined,
  sizes: ItemSizes = {},
): TransactPlan {
  // Only a condition or an update looks at the current item: a plain put or delete is not
  // read (a read decodes the item).
  const keys = ops.map(keyOf);
  const current = ops.map((op, i) => (op.when || op.op === "update" ? read(op.table, keys[i]!) : undefined));
  for (let i = 0; i < ops.length; i++) {
    const when = ops[i]!.when;
    if (when && !evalCondition(when, current[i])) return { failed: i };
  }
  const writes: PlannedWrite[] = [];
  ops.forEach((op, i) => {
    const item = nextItem(op, current[i], i);
    if (item === undefined) return;
    let bytes = op.op === "put" ? sizes.measured?.[i] : undefined;
    if (op.op === "update" && item !== null) {
      // DynamoDB refuses an update whose item would be over 400 KB, however small the update
      // (ValidationException "Item size to update has exceeded the maximum allowed size"), and
      // so does every store: here against the stored item. Measured only when the store's bound
      // does not already keep it under the limit: a job item's update stays as cheap as before.
      const bound = sizes.bound?.(op, i, current[i], item) ?? Infinity;
      bytes = bound <= MAX_ITEM_BYTES ? bound : validateItemSize(item, i, true);
    }
    writes.push({ table: op.table, key: keys[i]!, item, bytes });
  });
  return { writes };
}

export function conditionFailedMessage(ops: readonly WriteOp[], index: number): string {
  const op = ops[index]!;
  const key = keyOf(op);
  return `condition of op ${index} (${op.op} ${op.table}/${key.pk}/${key.sk}) failed; nothing was written`;
}
