/**
 * The rules every Store adapter enforces the same way, with the same errors: DynamoDB's
 * (at most 100 ops per transaction, each item touched once, key attributes not updated, `add`
 * only numbers) and the port's TTL (an item whose `ttl` has passed is absent, at once). The
 * DynamoDB adapter (functions/adapters/dynamo-store.ts) and the local ones (local/store-semantics.ts
 * for memory and LMDB) call these before they write, so a transaction the local default accepts
 * is one DynamoDB accepts too, and a refusal names the same code everywhere.
 */
import type { Item, Key, WriteOp } from "./ports";

/** DynamoDB's TransactWriteItems limit. */
export const MAX_TRANSACT_OPS = 100;
/** pk + sk in UTF-8 bytes: inside LMDB's 1978-byte key (with the table name) and DynamoDB's pk 2048 + sk 1024. */
export const MAX_KEY_BYTES = 1800;

export type StoreValidationCode =
  "STORE_TOO_MANY_OPS" | "STORE_DUPLICATE_ITEM" | "STORE_BAD_KEY" | "STORE_BAD_UPDATE" | "STORE_NOT_A_NUMBER";

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
  if (Buffer.byteLength(key.pk) + Buffer.byteLength(key.sk) > MAX_KEY_BYTES) {
    throw new StoreValidationError("STORE_BAD_KEY", `pk + sk must be at most ${MAX_KEY_BYTES} UTF-8 bytes`, index);
  }
}

/**
 * Checks everything about a transaction that does not depend on stored data, so that an
 * adapter can reject it before it opens a write transaction or sends a request.
 */
export function validateOps(ops: readonly WriteOp[]): void {
  if (ops.length > MAX_TRANSACT_OPS) {
    throw new StoreValidationError("STORE_TOO_MANY_OPS", `a transaction has at most ${MAX_TRANSACT_OPS} ops, got ${ops.length}; split it`);
  }
  const seen = new Map<string, number>();
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
      }
    }
  });
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
