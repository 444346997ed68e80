/**
 * The rules every Store adapter enforces the same way, with the same errors: DynamoDB's
 * (at most 100 ops and 4 MB per transaction, 400 KB per item, each item touched once, key
 * attributes not updated, `add` only numbers) and the port's TTL (an item whose `ttl` has
 * passed is absent, at once: for reads, conditions and writes alike). The
 * DynamoDB adapter (functions/adapters/dynamo-store.ts) and the local ones (local/store-semantics.ts
 * for memory and LMDB) call these before they write, so a transaction the local default accepts
 * is one DynamoDB accepts too, and a refusal names the same code everywhere.
 */
import type { Condition, Item, Key, WriteOp } from "./ports";

/** DynamoDB's TransactWriteItems limit. */
export const MAX_TRANSACT_OPS = 100;
/** pk + sk in UTF-8 bytes: inside LMDB's 1978-byte key (with the table name) and DynamoDB's pk 2048 + sk 1024. */
export const MAX_KEY_BYTES = 1800;
/** DynamoDB's own limit on the sort key alone (the partition key's, 2048, is above MAX_KEY_BYTES). */
export const MAX_SORT_KEY_BYTES = 1024;

/**
 * DynamoDB's item size limit, 400 KB (409,600 bytes): attribute names and values together, as
 * itemBytes measures them. Anything larger is refused (ValidationException on AWS); a large
 * value is stored split over several items (a worker's reply: core/jobs/items.ts replyItems).
 */
export const MAX_ITEM_BYTES = 400 * 1024;

/**
 * DynamoDB's TransactWriteItems limit on the items of one transaction together, 4 MB
 * (ValidationException "Transaction request cannot be larger than 4 MB" on AWS). Counted as
 * validateOps measures a transaction: each put's item and each update's key and written values
 * (itemBytes), which is what the request carries. A hundred small ops never come near it; ten
 * large items (a batch of settlements carrying their replies) do.
 */
export const MAX_TRANSACT_BYTES = 4 * 1024 * 1024;

export type StoreValidationCode =
  | "STORE_TOO_MANY_OPS"
  | "STORE_TRANSACTION_TOO_LARGE"
  | "STORE_DUPLICATE_ITEM"
  | "STORE_BAD_KEY"
  | "STORE_BAD_UPDATE"
  | "STORE_BAD_CONDITION"
  | "STORE_NOT_A_NUMBER"
  | "STORE_ITEM_TOO_LARGE";

/** A transaction or key that no store would accept; nothing was written. */
export class StoreValidationError extends Error {
  override readonly name = "StoreValidationError";
  constructor(
    readonly code: StoreValidationCode,
    message: string,
    /** index into the ops array of the offending op, when there is one */
    readonly index?: number,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------- keys

export function keyOf(op: WriteOp): Key {
  return op.op === "put" ? { pk: op.item.pk, sk: op.item.sk } : op.key;
}

export function validateKey(key: Key, index?: number): void {
  if (typeof key?.pk !== "string" || key.pk.length === 0 || typeof key.sk !== "string" || key.sk.length === 0) {
    throw new StoreValidationError("STORE_BAD_KEY", "pk and sk must be non-empty strings", index);
  }
  const skBytes = Buffer.byteLength(key.sk);
  if (Buffer.byteLength(key.pk) + skBytes > MAX_KEY_BYTES) {
    throw new StoreValidationError("STORE_BAD_KEY", `pk + sk must be at most ${MAX_KEY_BYTES} UTF-8 bytes`, index);
  }
  // else the local stores would keep a key DynamoDB refuses (a raw ValidationException there)
  if (skBytes > MAX_SORT_KEY_BYTES) {
    throw new StoreValidationError(
      "STORE_BAD_KEY",
      `sk must be at most ${MAX_SORT_KEY_BYTES} UTF-8 bytes (DynamoDB's sort key limit)`,
      index,
    );
  }
}

/**
 * A condition DynamoDB would refuse as malformed before reading anything: an ordering comparison
 * (<, <=, >, >=) with a boolean ("Incorrect operand type"). A store that judged it false instead
 * would throw ConditionFailedError, which a caller may read as "already done".
 */
function validateCondition(cond: Condition, index: number): void {
  if (cond.kind === "and") for (const c of cond.all) validateCondition(c, index);
  if (cond.kind === "cmp" && typeof cond.value === "boolean" && cond.op !== "=" && cond.op !== "<>") {
    throw new StoreValidationError(
      "STORE_BAD_CONDITION",
      `op ${index} compares ${cond.attr} ${cond.op} a boolean; booleans compare only with = and <>`,
      index,
    );
  }
}

/**
 * Checks everything about a transaction that does not depend on stored data, so that an
 * adapter can reject it before it opens a write transaction or sends a request. Item size: a
 * put's item whole; an update's key and written values (see below); the transaction's total
 * (MAX_TRANSACT_BYTES).
 *
 * Returns what it measured, per op (itemBytes of a put's item, of an update's key and written
 * values; 0 for a delete or check), so that a local store can bound the item an update makes
 * without measuring these again (local/store-semantics.ts planTransaction).
 */
export function validateOps(ops: readonly WriteOp[]): number[] {
  if (ops.length > MAX_TRANSACT_OPS) {
    throw new StoreValidationError("STORE_TOO_MANY_OPS", `a transaction has at most ${MAX_TRANSACT_OPS} ops, got ${ops.length}; split it`);
  }
  const seen = new Map<string, number>();
  const measured: number[] = [];
  let total = 0;
  ops.forEach((op, i) => {
    const key = keyOf(op);
    validateKey(key, i);
    const id = `${op.table}\u0000${key.pk}\u0000${key.sk}`;
    const first = seen.get(id);
    if (first !== undefined) {
      throw new StoreValidationError(
        "STORE_DUPLICATE_ITEM",
        `ops ${first} and ${i} touch ${op.table}/${key.pk}/${key.sk}; a transaction may touch each item once (merge the ops)`,
        i,
      );
    }
    seen.set(id, i);
    if (op.when) validateCondition(op.when, i);
    let bytes = 0;
    if (op.op === "put") bytes = validateItemSize(op.item, i);
    if (op.op === "update") {
      const set = op.set ?? {};
      const add = op.add ?? {};
      for (const attr of [...Object.keys(set), ...Object.keys(add)]) {
        if (attr === "pk" || attr === "sk") {
          throw new StoreValidationError("STORE_BAD_UPDATE", `op ${i} updates key attribute ${attr}; delete and put instead`, i);
        }
        if (attr in set && attr in add) {
          throw new StoreValidationError("STORE_BAD_UPDATE", `op ${i} both sets and adds ${attr}; use one of them`, i);
        }
      }
      for (const [attr, delta] of Object.entries(add)) {
        if (typeof delta !== "bigint" && !(typeof delta === "number" && Number.isFinite(delta))) {
          throw new StoreValidationError("STORE_NOT_A_NUMBER", `op ${i} adds a non-number to ${attr}`, i);
        }
        // Integers only: DynamoDB adds exact decimals where a local store adds doubles (0.1 + 0.2),
        // and a fraction added to a bigint makes an item DynamoDB stores but the adapter cannot
        // read back (its bigint marker over 10.5). Every count and amount here is whole.
        if (typeof delta === "number" && !Number.isSafeInteger(delta)) {
          throw new StoreValidationError("STORE_NOT_A_NUMBER", `op ${i} adds ${delta} to ${attr}: add takes whole numbers only`, i);
        }
      }
      // Without the stored item (not read here): the key and what the update writes, which the
      // resulting item holds at least. That refuses an update whose own values are too large
      // before anything is read or sent. An update that grows a stored item past the limit by
      // small steps is refused where the stored item is known: by the local stores when they plan
      // it (local/store-semantics.ts planTransaction), by DynamoDB itself on AWS (the adapter maps
      // its refusal to the same error).
      bytes = refuseOver(key as unknown as Record<string, unknown>, updateBytes(key, set, add), i, false);
    }
    measured.push(bytes);
    total += bytes;
  });
  if (total > MAX_TRANSACT_BYTES) {
    throw new StoreValidationError(
      "STORE_TRANSACTION_TOO_LARGE",
      `a transaction's items are ${total} bytes together; DynamoDB takes at most ${MAX_TRANSACT_BYTES} (4 MB) in one transaction: split it`,
    );
  }
  return measured;
}

// ---------------------------------------------------------------- item size

/**
 * What the DynamoDB adapter (functions/adapters/dynamo-store.ts) adds to every item: the table
 * name before the pk (at most "idempotency#", 12 bytes) and the TTL attribute `_exp` with its
 * number (at most 10 bytes): 32 bytes covers both.
 */
const ADAPTER_ITEM_BYTES = 32;

/**
 * The size of a value as DynamoDB counts it (docs: "Item sizes and formats"), never less:
 * a string its UTF-8 bytes; binary its bytes; a number 1 byte plus 1 per two digits (every
 * digit of its decimal form counts, also the leading and trailing zeros DynamoDB trims: an
 * over-estimate); a boolean or null 1 byte; a list or map 3 bytes plus, per element, 1 byte
 * and its size (a map's entries also their names' UTF-8 bytes). Undefined is dropped (the
 * adapters remove undefined attributes). As the DynamoDB adapter stores them: a bigint inside a
 * list or map is the map {"$bigint": "<digits>"}, a map whose only key is "$bigint" or "$obj" is
 * wrapped in {"$obj": …}. Anything else (this code stores none) counts as its JSON text.
 */
export function valueBytes(v: unknown, nested = true): number {
  switch (typeof v) {
    case "string":
      return Buffer.byteLength(v, "utf8");
    case "bigint":
      if (nested) return 3 + 1 + "$bigint".length + v.toString().length;
    // falls through: a top-level bigint is a DynamoDB number
    case "number": {
      // a whole number's digits are its decimal form less the sign (most numbers stored: times,
      // counts), without the split and the regex the general form costs
      const text = String(v);
      const digits =
        typeof v === "bigint" || Number.isSafeInteger(v)
          ? text.length - (text.charCodeAt(0) === 45 ? 1 : 0)
          : text.split("e")[0]!.replace(/\D/g, "").length;
      return 1 + Math.ceil(Math.max(digits, 1) / 2);
    }
    case "boolean":
      return 1;
    case "undefined":
      return 0;
    case "object": {
      if (v === null) return 1;
      if (v instanceof Uint8Array) return v.byteLength;
      let n = 3;
      if (Array.isArray(v) || v instanceof Set) {
        for (const x of v) n += 1 + valueBytes(x);
        return n;
      }
      // (keys, not entries: no pair and no filtered copy per map, on every write's validation)
      const map = v as Record<string, unknown>;
      let count = 0;
      let last = "";
      for (const k of Object.keys(map)) {
        const x = map[k];
        if (x === undefined) continue;
        count++;
        last = k;
        n += 1 + Buffer.byteLength(k, "utf8") + valueBytes(x);
      }
      const tagLike = count === 1 && (last === "$bigint" || last === "$obj");
      return tagLike ? n + 3 + 1 + "$obj".length : n;
    }
    default:
      return Buffer.byteLength(JSON.stringify(v) ?? "", "utf8");
  }
}

/**
 * An item's size as DynamoDB counts it against MAX_ITEM_BYTES, never less: top-level attribute
 * names and values (valueBytes), what the DynamoDB adapter adds to every item, and its marker
 * attribute (`_bi:<name>`, a boolean) beside each top-level bigint.
 */
export function itemBytes(attrs: Record<string, unknown>): number {
  return ADAPTER_ITEM_BYTES + attributesBytes(attrs);
}

/** itemBytes without the adapter's allowance: the top-level attributes' names and values. */
function attributesBytes(attrs: Record<string, unknown>): number {
  let n = 0;
  for (const k of Object.keys(attrs)) {
    const v = attrs[k];
    if (v === undefined) continue;
    const name = Buffer.byteLength(k, "utf8");
    n += name + valueBytes(v, false);
    if (typeof v === "bigint") n += "_bi:".length + name + 1;
  }
  return n;
}

/**
 * itemBytes of the item `{ ...key, ...set, ...add }` (an update's key and written values; the
 * three share no attribute, as validateOps checked), without building it: V8 makes a spread's
 * result an object that is slow to walk, about 4 µs of a job update's validation.
 */
function updateBytes(key: Key, set: Record<string, unknown>, add: Record<string, unknown>): number {
  return ADAPTER_ITEM_BYTES + attributesBytes(key as unknown as Record<string, unknown>) + attributesBytes(set) + attributesBytes(add);
}

/**
 * Refuses an item over MAX_ITEM_BYTES, as DynamoDB does; `index`: the op that writes it;
 * `updated`: the item is what an update makes of the stored one. Returns its size.
 */
export function validateItemSize(item: Record<string, unknown>, index?: number, updated = false): number {
  return refuseOver(item, itemBytes(item), index, updated);
}

function refuseOver(item: Record<string, unknown>, bytes: number, index: number | undefined, updated: boolean): number {
  if (bytes > MAX_ITEM_BYTES) {
    const key = `${String(item.pk)}/${String(item.sk)}`;
    throw new StoreValidationError(
      "STORE_ITEM_TOO_LARGE",
      `${index === undefined ? "an" : `op ${index}'s`} item ${key} ${updated ? "would be" : "is"} ${bytes} bytes${updated ? " after the update" : ""}; DynamoDB stores at most ${MAX_ITEM_BYTES} (400 KB) per item: split it`,
      index,
    );
  }
  return bytes;
}

// ---------------------------------------------------------------- ttl

/** The port's `ttl` (epoch seconds) as whole seconds; a value above 1e11 is taken for milliseconds. */
export const ttlSeconds = (ttl: number) => (ttl > 1e11 ? Math.ceil(ttl / 1000) : Math.ceil(ttl));

/** True when a TTL of `seconds` (epoch) is at or before `nowMs`: the item is gone for reads and conditions. */
export const ttlPassed = (seconds: number, nowMs: number) => seconds * 1000 <= nowMs;

/** True when the item has a ttl at or before `nowMs`. */
export function isExpired(item: Item, nowMs: number): boolean {
  return typeof item.ttl === "number" && ttlPassed(ttlSeconds(item.ttl), nowMs);
}
