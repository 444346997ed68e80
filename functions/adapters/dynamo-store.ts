/**
 * Store port over ONE DynamoDB table (single-table design, the cheapest: one table, one
 * set of capacity, one PITR bill).
 *
 * Layout: every logical table of the port lives in the same physical table:
 *   pk = `<logical table>#<pk>` (string), sk = sk (string)
 * so `query(table, pk)` is one Query on the primary key. No GSI is needed by the port.
 *
 * Reserved attributes (never returned to callers):
 *   _exp          DynamoDB TTL attribute (epoch SECONDS), copied from the port's `ttl`
 *                 (which is epoch seconds too; a value above 1e11 is taken for milliseconds).
 *                 TTL deletion is lazy on AWS (up to days), so get/query drop expired items,
 *                 every condition treats an expired item as absent, and an update that may
 *                 apply to an absent item never merges into an expired one (sweepable below).
 *   _bi:<attr>    marker (BOOL true) saying top-level attribute <attr> holds a bigint.
 *
 * Numbers and bigints: bigints are written as DynamoDB numbers (N, 38 significant digits,
 * enough for any nanoTON amount), so conditions (`available >= :v`) and ADD work on them.
 * Reads use wrapNumbers and return a bigint exactly where the marker says the value was
 * written as a bigint (by put, set or add), a JS number everywhere else. Bigints nested
 * inside maps or lists are stored as the map {"$bigint": "<decimal>"} and come back as bigint.
 *
 * Writes: one op → PutItem / UpdateItem / DeleteItem with a ConditionExpression (a lone
 * `check` becomes a one-item TransactWriteItems); several ops → TransactWriteItems with
 * ConditionCheck for `check`. ConditionalCheckFailedException and TransactionCanceled with a
 * ConditionalCheckFailed reason become ConditionFailedError(index of the failing op); the
 * core reads that as "already done" for idempotent writes. DynamoDB's refusal of an item
 * grown past 400 KB or of a transaction over 4 MB becomes the StoreValidationError the local
 * stores throw (STORE_ITEM_TOO_LARGE, STORE_TRANSACTION_TOO_LARGE). Reads are strongly consistent.
 * Every TransactWriteItems carries a ClientRequestToken naming the transact() call: re-sent
 * unchanged after an ambiguous failure (a timeout, a 5xx, TransactionInProgress), renewed
 * after a cancellation (nothing committed).
 */
import {
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  PutCommand,
  UpdateCommand,
  DeleteCommand,
  TransactWriteCommand,
  NumberValue,
  type TransactWriteCommandInput,
} from "@aws-sdk/lib-dynamodb";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { randomUUID } from "node:crypto";
import {
  ConditionFailedError,
  type Condition,
  type Item,
  type Key,
  type ReadOptions,
  type Store,
  type TableName,
  type WriteOp,
} from "../../core/ports";
import { CocoonError } from "../../core/errors";
import { RETRY, retryOptimistic } from "../../core/retry";
import { MAX_ITEM_BYTES, MAX_TRANSACT_BYTES, StoreValidationError, ttlPassed, ttlSeconds, validateOps } from "../../core/store-rules";

export { StoreValidationError, ttlSeconds } from "../../core/store-rules";

export const TTL_ATTR = "_exp";
export const BIGINT_MARKER = "_bi:";

/**
 * What only this adapter refuses: an attribute name it reserves (a transaction that kept
 * conflicting is a StoreBusyError). Everything every store refuses (too many ops, an item twice,
 * bad keys and updates) is a StoreValidationError from core/store-rules.ts, as locally.
 */
export class StoreError extends Error {
  override readonly name = "StoreError";
  constructor(
    readonly code: "STORE_RESERVED_ATTRIBUTE",
    message: string,
  ) {
    super(message);
  }
}

/**
 * A transaction that kept conflicting: DynamoDB cancels one that touches an item another is
 * writing (a busy requester's balance: every hold and settlement of its jobs). The request is
 * answered 503 `store_busy`, which says "nothing was written, send it again" (every mutating
 * route is idempotent by its own identity), not an anonymous 500.
 */
export class StoreBusyError extends CocoonError {
  readonly storeCode = "STORE_CONFLICT";
  constructor(message: string) {
    super(503, "store_busy", message);
  }
}

export interface DynamoStoreOptions {
  /** Physical table name (COCOON_TABLE). */
  table: string;
  /** A DynamoDBClient (wrapped here) or an already built DocumentClient. */
  client: DynamoDBClient | DynamoDBDocumentClient;
  /** ms since epoch; used to hide items whose TTL has passed. */
  now?: () => number;
  /** Retries of a transaction cancelled only by conflicts with concurrent transactions. */
  conflictRetries?: number;
  /** Sleep between conflict retries (tests pass a no-op). */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Retries of a transaction cancelled only by conflicts: about 1.5 s of jittered waits in all, so
 * a requester whose jobs settle tens of times a second still gets through (3 retries over
 * ~150 ms turned such bursts into 500s), and a Lambda's request still ends well within its time.
 */
const CONFLICT_RETRIES = 6;
const CONFLICT_BACKOFF_CAP_MS = 640;

export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false },
    unmarshallOptions: { wrapNumbers: true },
  });
}

// ---------------------------------------------------------------- encoding

const physicalPk = (table: TableName, pk: string) => `${table}#${pk}`;
const physicalKey = (table: TableName, key: Key) => ({ pk: physicalPk(table, key.pk), sk: key.sk });

function checkAttrName(attr: string) {
  if (attr === TTL_ATTR || attr.startsWith(BIGINT_MARKER)) {
    throw new StoreError("STORE_RESERVED_ATTRIBUTE", `attribute name "${attr}" is reserved by the DynamoDB store adapter; rename it`);
  }
}

/**
 * A map of the caller's whose only key is one of these would read back as a tag: it is stored
 * wrapped in {"$obj": …} instead. Stored data comes from outside (a worker's attestation
 * document): `{"$bigint": "x"}` in it made every read of that worker item throw, and
 * `{"$bigint": "12"}` read back as 12n, a document other than the one verified.
 */
const TAGS = new Set(["$bigint", "$obj"]);
/** Counted as stored: the DocumentClient drops undefined entries, so {$bigint, x: undefined} is stored as a lone tag. */
const looksTagged = (o: object) => {
  const keys = Object.entries(o)
    .filter(([, x]) => x !== undefined)
    .map(([k]) => k);
  return keys.length === 1 && TAGS.has(keys[0]!);
};

/** Nested values: bigint → {"$bigint": "…"}; a map that looks like a tag → {"$obj": map}; everything else unchanged. */
function encodeNested(v: unknown): unknown {
  if (typeof v === "bigint") return { $bigint: v.toString() };
  if (Array.isArray(v)) return v.map(encodeNested);
  if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = encodeNested(x);
    return looksTagged(v) ? { $obj: out } : out;
  }
  return v;
}

/** A top-level attribute value: bigints stay bigints (marshalled to N by the DocumentClient). */
const encodeTop = (v: unknown) => (typeof v === "bigint" ? v : encodeNested(v));

function decodeNested(v: unknown): unknown {
  if (v instanceof NumberValue) return Number(v.value);
  if (Array.isArray(v)) return v.map(decodeNested);
  if (v instanceof Set) return new Set([...v].map((x) => (x instanceof NumberValue ? Number(x.value) : x)));
  if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    let o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === "$bigint" && typeof o.$bigint === "string") return BigInt(o.$bigint);
    // a map of the caller's that looked like a tag, as encodeNested wrapped it: its own keys, never a tag
    const wrapped = keys.length === 1 && keys[0] === "$obj" && o.$obj && typeof o.$obj === "object" && !Array.isArray(o.$obj);
    if (wrapped) o = o.$obj as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) out[k] = decodeNested(x);
    return out;
  }
  return v;
}

export function encodeItem(table: TableName, item: Item): Record<string, unknown> {
  const out: Record<string, unknown> = { pk: physicalPk(table, item.pk), sk: item.sk };
  for (const [k, v] of Object.entries(item)) {
    if (k === "pk" || k === "sk" || v === undefined) continue;
    checkAttrName(k);
    out[k] = encodeTop(v);
    if (typeof v === "bigint") out[BIGINT_MARKER + k] = true;
  }
  if (typeof item.ttl === "number") out[TTL_ATTR] = ttlSeconds(item.ttl);
  return out;
}

export function decodeItem<T extends Item>(table: TableName, raw: Record<string, unknown>): T {
  const prefix = `${table}#`;
  const pk = String(raw.pk);
  const out: Record<string, unknown> = { pk: pk.startsWith(prefix) ? pk.slice(prefix.length) : pk, sk: raw.sk };
  for (const [k, v] of Object.entries(raw)) {
    if (k === "pk" || k === "sk" || k === TTL_ATTR || k.startsWith(BIGINT_MARKER)) continue;
    if (v instanceof NumberValue) out[k] = raw[BIGINT_MARKER + k] === true ? BigInt(v.value) : Number(v.value);
    else out[k] = decodeNested(v);
  }
  return out as T;
}

function isExpired(raw: Record<string, unknown>, nowMs: number): boolean {
  const exp = raw[TTL_ATTR];
  if (exp === undefined || exp === null) return false;
  // read through the DocumentClient (NumberValue), or raw as an error carries it ({N: "…"})
  const n = exp instanceof NumberValue ? exp.value : typeof exp === "object" && "N" in exp ? (exp as { N: unknown }).N : exp;
  return ttlPassed(Number(n), nowMs);
}

// ---------------------------------------------------------------- expressions

/** Collects #n / :v placeholders for one expression set (one command or one transaction item). */
export class ExpressionBuilder {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  private byName = new Map<string, string>();
  private nv = 0;

  constructor(private readonly nowSeconds: number) {}

  name(attr: string): string {
    let p = this.byName.get(attr);
    if (!p) {
      p = `#n${this.byName.size}`;
      this.byName.set(attr, p);
      this.names[p] = attr;
    }
    return p;
  }

  value(v: unknown): string {
    const p = `:v${this.nv++}`;
    this.values[p] = v;
    return p;
  }

  private nowPlaceholder: string | undefined;
  /** The time TTLs are judged against: one placeholder however many conditions use it. */
  private now(): string {
    return (this.nowPlaceholder ??= this.value(this.nowSeconds));
  }

  /** The item is not past its TTL (DynamoDB may not have swept it yet). */
  private live(): string {
    return `(attribute_not_exists(${this.name(TTL_ATTR)}) OR ${this.name(TTL_ATTR)} > ${this.now()})`;
  }

  /** There is no item, or a live one: an item past its TTL that DynamoDB has not swept yet fails it. */
  absentOrLive(): string {
    return `attribute_not_exists(${this.name("pk")}) OR ${this.name(TTL_ATTR)} > ${this.now()}`;
  }

  condition(c: Condition): string {
    switch (c.kind) {
      case "exists":
        // An item past its TTL but not yet swept by DynamoDB counts as absent.
        return `attribute_exists(${this.name("pk")}) AND ${this.live()}`;
      case "notExists":
        return `attribute_not_exists(${this.name("pk")}) OR ${this.name(TTL_ATTR)} <= ${this.now()}`;
      // As the local stores judge (local/store-semantics.ts evalCondition): a comparison holds only
      // on a live item that has the attribute. DynamoDB's `<>` alone holds on a missing attribute,
      // and any comparison alone reads an item past its TTL that is not swept yet.
      case "cmp":
        checkAttrName(c.attr);
        return `attribute_exists(${this.name(c.attr)}) AND ${this.name(c.attr)} ${c.op} ${this.value(c.value)} AND ${this.live()}`;
      case "in":
        checkAttrName(c.attr);
        if (c.values.length === 0) return `attribute_exists(${this.name("pk")}) AND attribute_not_exists(${this.name("pk")})`; // IN () is false
        return `${this.name(c.attr)} IN (${c.values.map((v) => this.value(v)).join(", ")}) AND ${this.live()}`;
      case "and":
        if (c.all.length === 0) return `attribute_exists(${this.name("sk")}) OR attribute_not_exists(${this.name("sk")})`; // empty AND is true
        if (c.all.length === 1) return this.condition(c.all[0]!);
        return c.all.map((x) => `(${this.condition(x)})`).join(" AND ");
    }
  }

  /** The ExpressionAttributeNames / Values fields, omitted when empty (DynamoDB refuses empty maps). */
  fields(): { ExpressionAttributeNames?: Record<string, string>; ExpressionAttributeValues?: Record<string, unknown> } {
    return {
      ...(Object.keys(this.names).length ? { ExpressionAttributeNames: this.names } : {}),
      ...(Object.keys(this.values).length ? { ExpressionAttributeValues: this.values } : {}),
    };
  }
}

type UpdateOp = Extract<WriteOp, { op: "update" }>;

/**
 * Whether `c` holds where there is no item. Translated here, every condition judges an item
 * past its TTL as it judges no item (see ExpressionBuilder.condition); this says which
 * conditions let a write through to such an item.
 */
function holdsWithoutItem(c: Condition): boolean {
  switch (c.kind) {
    case "notExists":
      return true;
    case "and":
      return c.all.every(holdsWithoutItem);
    default:
      return false;
  }
}

/**
 * An update that may apply where no live item is (no condition, or one that holds without an
 * item): on DynamoDB it would merge into an item past its TTL that is not swept yet (up to
 * days), keeping its old attributes and its past `_exp` (so the result would read as absent).
 * The port, like the local stores, makes a fresh item of only the update's values there. So
 * such an update also requires the item to be absent or live, and asks for the item when that
 * fails: an expired one is deleted and the write sent again (DynamoStore.transact).
 */
const sweepable = (op: WriteOp): op is UpdateOp => op.op === "update" && (op.when === undefined || holdsWithoutItem(op.when));

function updateExpression(op: UpdateOp, b: ExpressionBuilder): string | undefined {
  const sets: string[] = [];
  const removes: string[] = [];
  const adds: string[] = [];
  for (const [k, v] of Object.entries(op.set ?? {})) {
    if (k === "pk" || k === "sk") continue;
    checkAttrName(k);
    const name = b.name(k);
    const marker = b.name(BIGINT_MARKER + k);
    if (v === undefined) {
      removes.push(name, marker);
      if (k === "ttl") removes.push(b.name(TTL_ATTR));
      continue;
    }
    sets.push(`${name} = ${b.value(encodeTop(v))}`);
    if (typeof v === "bigint") sets.push(`${marker} = ${b.value(true)}`);
    else removes.push(marker);
    if (k === "ttl" && typeof v === "number") sets.push(`${b.name(TTL_ATTR)} = ${b.value(ttlSeconds(v))}`);
  }
  for (const [k, v] of Object.entries(op.add ?? {})) {
    checkAttrName(k);
    adds.push(`${b.name(k)} ${b.value(v)}`);
    if (typeof v === "bigint") sets.push(`${b.name(BIGINT_MARKER + k)} = ${b.value(true)}`);
  }
  const parts: string[] = [];
  if (sets.length) parts.push(`SET ${sets.join(", ")}`);
  if (removes.length) parts.push(`REMOVE ${removes.join(", ")}`);
  if (adds.length) parts.push(`ADD ${adds.join(", ")}`);
  return parts.length ? parts.join(" ") : undefined;
}

type TransactItem = NonNullable<TransactWriteCommandInput["TransactItems"]>[number];

/** One port op → one TransactWriteItems entry (also the shape of the single-op commands). */
export function toTransactItem(tableName: string, op: WriteOp, nowSeconds: number): TransactItem | undefined {
  const b = new ExpressionBuilder(nowSeconds);
  switch (op.op) {
    case "put": {
      const cond = op.when ? b.condition(op.when) : undefined;
      return {
        Put: { TableName: tableName, Item: encodeItem(op.table, op.item), ...(cond ? { ConditionExpression: cond } : {}), ...b.fields() },
      };
    }
    case "update": {
      const upd = updateExpression(op, b);
      if (!upd) {
        // Nothing to write: only the condition matters.
        if (!op.when) return undefined;
        return toTransactItem(tableName, { op: "check", table: op.table, key: op.key, when: op.when }, nowSeconds);
      }
      const fresh = sweepable(op);
      let cond: string | undefined;
      // notExists (absent or expired) and absentOrLive together: no item at all
      if (op.when?.kind === "notExists") cond = `attribute_not_exists(${b.name("pk")})`;
      else if (op.when && fresh) cond = `(${b.condition(op.when)}) AND (${b.absentOrLive()})`;
      else cond = op.when ? b.condition(op.when) : fresh ? b.absentOrLive() : undefined;
      return {
        Update: {
          TableName: tableName,
          Key: physicalKey(op.table, op.key),
          UpdateExpression: upd,
          ...(cond ? { ConditionExpression: cond } : {}),
          // free: the item comes back only when the condition fails, to tell an expired one from a live one
          ...(fresh ? { ReturnValuesOnConditionCheckFailure: "ALL_OLD" as const } : {}),
          ...b.fields(),
        },
      };
    }
    case "delete": {
      const cond = op.when ? b.condition(op.when) : undefined;
      return {
        Delete: { TableName: tableName, Key: physicalKey(op.table, op.key), ...(cond ? { ConditionExpression: cond } : {}), ...b.fields() },
      };
    }
    case "check":
      return {
        ConditionCheck: {
          TableName: tableName,
          Key: physicalKey(op.table, op.key),
          ConditionExpression: b.condition(op.when),
          ...b.fields(),
        },
      };
  }
}

// ---------------------------------------------------------------- the store

const errName = (e: unknown) => (e && typeof e === "object" && "name" in e ? String((e as { name: unknown }).name) : "");

/** Failures after which a transaction may have committed or may still be running: re-sent with the same token. */
const AMBIGUOUS_ERRORS = new Set([
  "TransactionInProgressException",
  "InternalServerError",
  "ServiceUnavailable",
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException",
]);
const AMBIGUOUS_CODES = new Set(["ECONNRESET", "ETIMEDOUT", "EPIPE", "ECONNABORTED"]);
function isAmbiguous(e: unknown): boolean {
  if (!e || typeof e !== "object") return false;
  const o = e as { code?: unknown; $metadata?: { httpStatusCode?: number } };
  return AMBIGUOUS_ERRORS.has(errName(e)) || AMBIGUOUS_CODES.has(String(o.code)) || (o.$metadata?.httpStatusCode ?? 0) >= 500;
}

export class DynamoStore implements Store {
  /** each write is billed per started KB (twice in a transaction), each item stored by the month */
  readonly billedWrites = true;
  private readonly doc: DynamoDBDocumentClient;
  private readonly now: () => number;
  private readonly retries: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: DynamoStoreOptions) {
    this.doc = opts.client instanceof DynamoDBDocumentClient ? opts.client : documentClient(opts.client);
    this.now = opts.now ?? Date.now;
    this.retries = opts.conflictRetries ?? CONFLICT_RETRIES;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async get<T extends Item = Item>(table: TableName, key: Key, opts: ReadOptions = {}): Promise<T | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.opts.table, Key: physicalKey(table, key), ConsistentRead: opts.eventual !== true }),
    );
    if (!out.Item || isExpired(out.Item, this.now())) return undefined;
    return decodeItem<T>(table, out.Item);
  }

  async query<T extends Item = Item>(
    table: TableName,
    pk: string,
    opts: { skPrefix?: string; limit?: number } & ReadOptions = {},
  ): Promise<T[]> {
    const items: T[] = [];
    let start: Record<string, unknown> | undefined;
    const now = this.now();
    do {
      const want = opts.limit === undefined ? undefined : opts.limit - items.length;
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.opts.table,
          KeyConditionExpression: opts.skPrefix !== undefined ? "#pk = :pk AND begins_with(#sk, :sk)" : "#pk = :pk",
          ExpressionAttributeNames: opts.skPrefix !== undefined ? { "#pk": "pk", "#sk": "sk" } : { "#pk": "pk" },
          ExpressionAttributeValues:
            opts.skPrefix !== undefined ? { ":pk": physicalPk(table, pk), ":sk": opts.skPrefix } : { ":pk": physicalPk(table, pk) },
          ConsistentRead: opts.eventual !== true,
          ...(want !== undefined ? { Limit: want } : {}),
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const raw of out.Items ?? []) {
        if (isExpired(raw, now)) continue; // TTL sweeps lazily; expired items may still be there
        items.push(decodeItem<T>(table, raw));
        if (opts.limit !== undefined && items.length >= opts.limit) return items;
      }
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async transact(ops: WriteOp[]): Promise<void> {
    validateOps(ops);
    // An update that met an item past its TTL not yet swept (see sweepable) wrote nothing: the
    // item is deleted, if still expired, and the whole write sent again, now onto no item. A few
    // rounds at most: only a writer that keeps writing expired items could need more.
    for (let sweeps = 0; ; sweeps++) {
      const expired = await this.write(ops);
      if (expired.length === 0) return;
      if (sweeps >= MAX_SWEEPS)
        throw new StoreBusyError(`items past their TTL kept meeting the write after ${MAX_SWEEPS} sweeps; retry the request`);
      await Promise.all(expired.map((op) => this.sweep(op)));
    }
  }

  /** Deletes the item `op` addresses only while it is past its TTL (another write may have replaced it). */
  private async sweep(op: UpdateOp): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.opts.table,
          Key: physicalKey(op.table, op.key),
          ConditionExpression: "#exp <= :now",
          ExpressionAttributeNames: { "#exp": TTL_ATTR },
          ExpressionAttributeValues: { ":now": Math.floor(this.now() / 1000) },
        }),
      );
    } catch (e) {
      if (errName(e) !== "ConditionalCheckFailedException") throw e; // gone already, or live again: nothing to sweep
    }
  }

  /** One write of `ops`: [] when it committed; the sweepable updates an expired item stopped (nothing written). */
  private async write(ops: WriteOp[]): Promise<UpdateOp[]> {
    const now = this.now();
    const nowS = Math.floor(now / 1000);
    // Keep the port index of each DynamoDB item (an update with nothing to write and no condition is dropped).
    const items: TransactItem[] = [];
    const portIndex: number[] = [];
    ops.forEach((op, i) => {
      const item = toTransactItem(this.opts.table, op, nowS);
      if (item) {
        items.push(item);
        portIndex.push(i);
      }
    });
    if (items.length === 0) return [];
    /** The sweepable update at DynamoDB item `k` when `old` (the item its failed condition returned) is past its TTL. */
    const expiredAt = (k: number, old: Record<string, unknown> | undefined): UpdateOp | undefined => {
      const op = ops[portIndex[k]!]!;
      return sweepable(op) && old !== undefined && isExpired(old, now) ? op : undefined;
    };

    if (items.length === 1 && !items[0]!.ConditionCheck) {
      const it = items[0]!;
      try {
        if (it.Put) await this.doc.send(new PutCommand(it.Put));
        else if (it.Update) await this.doc.send(new UpdateCommand(it.Update));
        else if (it.Delete) await this.doc.send(new DeleteCommand(it.Delete));
      } catch (e) {
        if (errName(e) === "ConditionalCheckFailedException") {
          const expired = expiredAt(0, (e as { Item?: Record<string, unknown> }).Item);
          if (expired) return [expired];
          throw new ConditionFailedError(portIndex[0], `condition of ${describe(ops[portIndex[0]!]!)} failed`);
        }
        throw sizeRefusal(e, portIndex[0]) ?? e;
      }
      return [];
    }

    // The token names this call (issue 9 #6): a re-send after an answer we never got is
    // applied at most once by DynamoDB (within 10 minutes), and answers success if the first
    // send committed, instead of tripping over its own writes (a ConditionFailed that the
    // core would read as "someone else did it"). Not derived from the items' content: two
    // concurrent calls with equal content (two identical result posts in the same ms) would
    // then both be told "applied", where the port promises exactly one winner.
    let resends = 0; // ambiguous re-sends, over the whole call
    const conflicting = () =>
      new StoreBusyError(`transaction kept conflicting with concurrent writes after ${this.retries + 1} attempts; retry the request`);
    return retryOptimistic(
      {
        attempts: this.retries + 1,
        exhausted: conflicting,
        // full jitter, so transactions that met on an item part rather than meet again
        backoffMs: (n) => Math.floor(Math.random() * Math.min(CONFLICT_BACKOFF_CAP_MS, 20 * 2 ** (n + 1))),
        sleep: this.sleep,
      },
      async () => {
        const token = randomUUID(); // a cancelled attempt committed nothing: each attempt is a fresh call
        try {
          await retryOptimistic({ attempts: Infinity, exhausted: conflicting }, async () => {
            try {
              await this.doc.send(new TransactWriteCommand({ TransactItems: items, ClientRequestToken: token }));
              return undefined;
            } catch (e) {
              if (!isAmbiguous(e) || resends >= this.retries) throw e;
              resends++;
              await this.sleep(50 * 2 ** resends + Math.floor(Math.random() * 50));
              return RETRY; // re-sent with the same token: applied at most once
            }
          });
          return [];
        } catch (e) {
          if (errName(e) !== "TransactionCanceledException") throw sizeRefusal(e) ?? e;
          const given = (e as { CancellationReasons?: Array<{ Code?: string; Message?: string; Item?: Record<string, unknown> }> })
            .CancellationReasons;
          const reasons = (given ?? []).map((r) => ({ code: r?.Code ?? "None", message: r?.Message ?? "", item: r?.Item }));
          const failed = reasons.flatMap((r, k) => (r.code === "ConditionalCheckFailed" ? [k] : []));
          // A condition that failed on a live item (or any item but a sweepable update's expired one) decides.
          const real = failed.find((k) => expiredAt(k, reasons[k]!.item) === undefined);
          if (real !== undefined) {
            const i = portIndex[real];
            throw new ConditionFailedError(i, `condition of ${i === undefined ? "a transaction item" : describe(ops[i]!)} failed`);
          }
          if (failed.length > 0) return failed.map((k) => expiredAt(k, reasons[k]!.item)!);
          const invalid = reasons.findIndex((r) => r.code === "ValidationError");
          if (invalid >= 0) throw sizeRefusal(reasons[invalid]!.message, portIndex[invalid]) ?? e;
          // No reasons: nothing says a condition failed, and the core would read a ConditionFailedError as "done already".
          if (reasons.length === 0) throw e;
          const onlyConflicts = reasons.every((r) => r.code === "None" || r.code === "TransactionConflict");
          if (!onlyConflicts) throw e;
          return RETRY;
        }
      },
    );
  }
}

/** Rounds of deleting expired items in an update's way before a write gives up (DynamoStore.transact). */
const MAX_SWEEPS = 3;

const ITEM_TOO_LARGE = /item size (to update )?has exceeded the maximum allowed size/i;
const TRANSACTION_TOO_LARGE = /transaction request cannot be larger than 4 ?MB/i;

/**
 * DynamoDB's refusal of an item over 400 KB (an update that grows a stored item past it, which
 * validateOps cannot see without the item) or of a transaction over 4 MB, as the
 * StoreValidationError the local stores throw for it; undefined for anything else. `e`: a
 * ValidationException, or the message of a transaction's ValidationError cancellation reason.
 */
function sizeRefusal(e: unknown, index?: number): StoreValidationError | undefined {
  if (typeof e !== "string" && errName(e) !== "ValidationException") return undefined;
  const message = typeof e === "string" ? e : String((e as { message?: unknown }).message ?? "");
  const op = index === undefined ? "an" : `op ${index}'s`;
  if (ITEM_TOO_LARGE.test(message)) {
    return new StoreValidationError(
      "STORE_ITEM_TOO_LARGE",
      `${op} item would be over ${MAX_ITEM_BYTES} bytes (400 KB), which DynamoDB refused (${message}); nothing was written: split it`,
      index,
    );
  }
  if (TRANSACTION_TOO_LARGE.test(message)) {
    return new StoreValidationError(
      "STORE_TRANSACTION_TOO_LARGE",
      `the transaction's items are over ${MAX_TRANSACT_BYTES} bytes (4 MB) together, which DynamoDB refused (${message}); nothing was written: split it`,
    );
  }
  return undefined;
}

function describe(op: WriteOp): string {
  const key = op.op === "put" ? op.item : op.key;
  return `${op.op} ${op.table} ${key.pk}/${key.sk}`;
}
