/**
 * The ports through which the pure core talks to the world. Adapters live in
 * functions/adapters (AWS), local/ (embedded) and agent/. Nothing here imports AWS, HTTP or TON.
 */

// ---------------------------------------------------------------- store
/**
 * A key-value store with DynamoDB's data model: items addressed by (pk, sk) inside a
 * table, queries by pk with an optional sk prefix, and atomic multi-item writes with
 * conditions (TransactWriteItems on AWS, one LMDB write transaction locally).
 * Values are plain JSON-able objects; bigints are allowed (DynamoDB numbers / msgpack).
 */
export type TableName =
  | "jobs" // pk=jobId sk="job"
  | "quotes" // pk=jobId sk="quote": prepared, not yet submitted
  | "workers" // pk=workerId sk="worker" (with its attestation) and sk="summary" (what its requests check: core/workers.ts WorkerSummary)
  | "offers" // pk=<model>#<shard> sk=workerId: who serves what, at what price, how loaded (core/workers.ts offerKey); pk="*" lists models
  | "accounts" // pk=accountId sk="balance"
  | "ledger" // pk=movementId sk="tx": one item per money movement (idempotency of money)
  | "idempotency" // pk=requester#key sk="submit"
  | "nonces" // pk=keyId#nonce sk="n": replay protection, with ttl
  | "chain"; // pk=cursor/tx ids for the chain watcher

export interface Key {
  pk: string;
  sk: string;
}

/**
 * `ttl`: epoch seconds after which the item is absent, at once, for every store: reads and
 * conditions do not see it, and an update makes a fresh item of its own values, as of no item
 * (DynamoDB sweeps expired items only within days; its adapter keeps this promise regardless).
 */
export type Item = Key & { [attr: string]: unknown; ttl?: number };

/** Conditions are data, not closures, so the DynamoDB adapter can translate them. */
export type Condition =
  | { kind: "exists" }
  | { kind: "notExists" }
  | { kind: "cmp"; attr: string; op: "=" | "<>" | "<" | "<=" | ">" | ">="; value: string | number | bigint | boolean }
  | { kind: "in"; attr: string; values: Array<string | number> }
  | { kind: "and"; all: Condition[] };

export type WriteOp =
  | { op: "put"; table: TableName; item: Item; when?: Condition }
  | {
      op: "update";
      table: TableName;
      key: Key;
      /** Attributes to set (undefined values are removed). */
      set?: Record<string, unknown>;
      /** Whole-number deltas (a safe integer or a bigint); a missing attribute counts as 0. Upserts like DynamoDB's ADD (core/store-rules.ts refuses fractions). */
      add?: Record<string, number | bigint>;
      when?: Condition;
    }
  | { op: "delete"; table: TableName; key: Key; when?: Condition }
  | { op: "check"; table: TableName; key: Key; when: Condition };

/** Thrown when any condition of a transaction fails; nothing was written. */
export class ConditionFailedError extends Error {
  override readonly name = "ConditionFailedError";
  constructor(
    /** index into the ops array of the first failing condition (when known) */
    readonly index: number | undefined,
    message = "condition failed",
  ) {
    super(message);
  }
}

/**
 * How a read may be served. `eventual`: it may miss a write of the last second or so, and
 * DynamoDB bills half the read units for it (issue 12). Only for reads whose staleness decides
 * no money and no authorization: matching's offers and fair shares, which change by the
 * heartbeat and the job anyway. Stores with one copy of the data ignore it.
 */
export interface ReadOptions {
  eventual?: boolean;
}

export interface Store {
  get<T extends Item = Item>(table: TableName, key: Key, opts?: ReadOptions): Promise<T | undefined>;
  /** Items with this pk, sk ascending, optionally only those whose sk starts with skPrefix. */
  query<T extends Item = Item>(table: TableName, pk: string, opts?: { skPrefix?: string; limit?: number } & ReadOptions): Promise<T[]>;
  /**
   * All-or-nothing; throws ConditionFailedError if any `when` fails. At most 100 ops and 4 MB, and
   * no item over 400 KB, also after an update (DynamoDB's limits; StoreValidationError otherwise).
   */
  transact(ops: WriteOp[]): Promise<void>;
  /**
   * True where an item written inside a transaction costs no more than one written alone and
   * each commit costs a disk flush (LMDB). DynamoDB bills a transactional write twice, so there
   * a large item that must be stored before a transaction commits (a worker's reply) is written
   * on its own first; where this is true it joins the transaction instead:
   * one commit and one flush instead of two, and atomic with what it had to precede.
   */
  readonly cheapTransactions?: boolean;
  /**
   * True where every write is billed by its size, and every item by the month (DynamoDB): what
   * need not be stored is not. A job's envelope then travels only in its messages
   * (core/jobs/items.ts envelopeItemStored). False on the local stores, whose queues do not
   * survive a restart.
   */
  readonly billedWrites?: boolean;
}

// ---------------------------------------------------------------- queues
/** "matching-dlq": where matching messages go after failing maxReceiveCount times (core/jobs/redrive.ts sends them back). */
export type QueueName = "matching" | "matching-dlq" | `worker-${string}`;

export interface QueueMessage {
  id: string;
  body: string;
  receiptHandle: string;
  receiveCount: number;
}

export interface Queues {
  send(queue: QueueName, body: unknown, opts?: { delaySeconds?: number }): Promise<void>;
  /**
   * Long-poll: waits up to waitSeconds for at least one message. `signal` (the polling client
   * went away) ends the wait with [] where the adapter can tell (locally); others may ignore it.
   */
  receive(
    queue: QueueName,
    opts: { max: number; waitSeconds: number; visibilitySeconds: number; signal?: AbortSignal },
  ): Promise<QueueMessage[]>;
  delete(queue: QueueName, receiptHandle: string): Promise<void>;
  /** Make sure a per-worker queue exists (CreateQueue on AWS, no-op locally). */
  ensure(queue: QueueName): Promise<void>;
}

// ---------------------------------------------------------------- change notification
/**
 * Lets GET /v1/jobs/{id}?wait=N return as soon as the job changes. Locally an in-process
 * emitter; on AWS the adapter resolves after a short sleep so the handler re-reads.
 *
 * `notify` may hand the waiters what changed (the finished job's view, core/jobs/results.ts),
 * so they answer without reading the store again. `wait` resolves with that (or `true` when
 * the notify carried nothing), and with undefined when nobody notified: the time ran out, or
 * a notifier that cannot push (AWS) ended a slice of its wait.
 */
export interface Notifier {
  notify(topic: string, data?: unknown): void;
  /** `signal`: the caller stopped waiting (it got what it waited for elsewhere): resolves undefined and lets go of the wait. */
  wait(topic: string, ms: number, signal?: AbortSignal): Promise<unknown>;
}

// ---------------------------------------------------------------- time, ids, logs
export interface Clock {
  now(): number; // ms since epoch
}

/** Where core draws randomness (ids, matching samples); the simulation passes a seeded one so a seed replays exactly. */
export interface Random {
  /** `n` uniformly random bytes */
  bytes(n: number): Uint8Array;
}

export interface Log {
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
  error(msg: string, data?: Record<string, unknown>): void;
}

// ---------------------------------------------------------------- replay protection
/**
 * Remembers request nonces for the signature window. `claim` returns false when the nonce
 * was seen (a replay) or cannot be vouched for. Default: a conditional write to the store
 * (DynamoDB on AWS); the local default keeps them in memory (see local/replay-guard.ts).
 */
export interface ReplayGuard {
  claim(id: string, signedAtMs: number, expiresAtMs: number): Promise<boolean>;
}

// ---------------------------------------------------------------- alerts
export interface Alert {
  /** Alerts with the same key inside the dedup window are sent once. */
  key: string;
  severity: "info" | "warning" | "critical";
  title: string;
  details: Record<string, unknown>;
}

export interface Alerts {
  raise(alert: Alert): Promise<void>;
}
