/**
 * functions/adapters/dynamo-store.ts beyond dynamo-store.test.ts and dynamo-wire.test.ts (from its
 * mutation run). What protects money and availability first: which AWS failures are re-sent with
 * the same ClientRequestToken (the write may have committed) and which are thrown as they came,
 * how many times and how long a conflicting transaction is retried, which op a failed condition or
 * a size refusal names, the exact commands sent (expressions, names, values, `_exp`, the physical
 * key `table#pk`), reads that drop expired items, query paging, the item encoding and the sweep of
 * expired items in an update's way.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  NumberValue,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { ConditionFailedError, type WriteOp } from "../../core/ports";
import { decodeItem, DynamoStore, encodeItem, StoreBusyError, StoreError, StoreValidationError, toTransactItem } from "./dynamo-store";
import { awsClient, makeStore, NOW, NOW_S, TABLE, wireStore } from "./dynamo-testing";

const ACCOUNT = "req:8Jk3n6vB0cQ1yZ2xW4tR5sP7oN9mL0kJ3hG5fD1sA2q";

const ddb = mockClient(DynamoDBDocumentClient);

/** Factory: an AWS-shaped error (what the SDK throws: a name, an HTTP status, extra fields). */
const awsError = (name: string, o: { message?: string; status?: number; [k: string]: unknown } = {}) => {
  const { message = name, status, ...extra } = o;
  return Object.assign(new Error(message), { name, ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } }), ...extra });
};
/** Factory: a network failure as Node reports it (no name the SDK models, a `code`). */
const netError = (code: string) => Object.assign(new Error(`socket: ${code}`), { code });
/** Factory: a TransactionCanceledException with these reasons (undefined: the field is absent). */
const cancelled = (reasons?: unknown[]) =>
  awsError("TransactionCanceledException", {
    message: "Transaction cancelled, please refer cancellation reasons for specific reasons",
    status: 400,
    ...(reasons === undefined ? {} : { CancellationReasons: reasons }),
  });
const conflict = () => cancelled([{ Code: "TransactionConflict" }, { Code: "None" }]);
const conditionFailed = (Item?: Record<string, unknown>) =>
  awsError("ConditionalCheckFailedException", { message: "The conditional request failed", status: 400, ...(Item ? { Item } : {}) });
/** What DynamoDB returns with a failed condition (ALL_OLD): raw attribute values. */
const expiredRaw = (pk: string, sk: string, exp = NOW_S - 10) => ({ pk: { S: pk }, sk: { S: sk }, _exp: { N: String(exp) } });

/** Factory: two ops, so that the store sends one TransactWriteItems. */
const twoOps = (): WriteOp[] => [
  { op: "put", table: "ledger", item: { pk: "hold:j1", sk: "tx", kind: "hold" }, when: { kind: "notExists" } },
  {
    op: "update",
    table: "accounts",
    key: { pk: ACCOUNT, sk: "balance" },
    add: { available: -5n },
    when: { kind: "cmp", attr: "available", op: ">=", value: 5n },
  },
];
/** An update with nothing to write and no condition: the adapter drops it. */
const noop = (pk = "noop"): WriteOp => ({ op: "update", table: "jobs", key: { pk, sk: "job" } });

const tokens = () => ddb.commandCalls(TransactWriteCommand).map((c) => c.args[0].input.ClientRequestToken);
/**
 * Every send so far carried one and the same token, and it is a real one: comparing tokens alone
 * passes when none is sent at all (undefined is undefined), which is the bug "same token" guards.
 */
const expectOneToken = (sends: number) => {
  expect(tokens()).toHaveLength(sends);
  expect(tokens()[0]).toMatch(/^[\x21-\x7e]{1,36}$/);
  expect(new Set(tokens()).size).toBe(1);
};
const caught = (p: Promise<unknown>) =>
  p.then(
    () => "resolved",
    (e: unknown) => e,
  );

beforeEach(() => {
  ddb.reset();
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe("ambiguous failures (the transaction may have committed) are re-sent with the same token; clean refusals are thrown once", () => {
  const names = [
    "TransactionInProgressException",
    "InternalServerError",
    "ServiceUnavailable",
    "TimeoutError",
    "RequestTimeout",
    "RequestTimeoutException",
  ];
  it.each(names)("%s (even with a 4xx status) is re-sent with the same ClientRequestToken, and the write succeeds", async (name) => {
    // Prepare
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(awsError(name, { status: 400 }))
      .resolves({});
    // Act
    const r = await caught(makeStore().transact(twoOps()));
    // Assess
    expect(r).toBe("resolved");
    expectOneToken(2);
  });

  it.each(["ECONNRESET", "ETIMEDOUT", "EPIPE", "ECONNABORTED"])("a network %s is re-sent with the same token", async (code) => {
    // Prepare
    ddb.on(TransactWriteCommand).rejectsOnce(netError(code)).resolves({});
    // Act
    const r = await caught(makeStore().transact(twoOps()));
    // Assess
    expect(r).toBe("resolved");
    expectOneToken(2);
  });

  it.each([500, 503])("any error answered with HTTP %i is re-sent with the same token", async (status) => {
    // Prepare
    ddb.on(TransactWriteCommand).rejectsOnce(awsError("UnknownError", { status })).resolves({});
    // Act
    const r = await caught(makeStore().transact(twoOps()));
    // Assess
    expect(r).toBe("resolved");
    expectOneToken(2);
  });

  it.each([
    ["a throttle (4xx)", awsError("ProvisionedThroughputExceededException", { status: 400 })],
    ["a DNS failure (request never sent)", netError("ENOTFOUND")],
    ["an error without $metadata", awsError("AccessDeniedException")],
    [
      "a validation error unrelated to size",
      awsError("ValidationException", { status: 400, message: "One or more parameter values were invalid" }),
    ],
  ])("%s is thrown as it came after one send: nothing was written", async (_label, err) => {
    // Prepare
    ddb.on(TransactWriteCommand).rejects(err);
    // Act
    const e = await caught(makeStore().transact(twoOps()));
    // Assess
    expect(e).toBe(err);
    expect(tokens()).toHaveLength(1);
  });

  it("a rejection with null or with a function (not an AWS error) is thrown unchanged after one send", async () => {
    // Prepare
    const fn = Object.assign(() => undefined, { code: "ECONNRESET" });
    ddb
      .on(TransactWriteCommand)
      .callsFakeOnce(() => Promise.reject(null))
      .callsFakeOnce(() => Promise.reject(fn));
    const store = makeStore();
    // Act
    const first = await caught(store.transact(twoOps()));
    const second = await caught(store.transact(twoOps()));
    // Assess
    expect(first).toBeNull();
    expect(second).toBe(fn);
    expect(tokens()).toHaveLength(2);
    expect(tokens()[1]).not.toBe(tokens()[0]);
  });

  it("ambiguous failures are re-sent `conflictRetries` times, then the ambiguous error itself reaches the caller (not store_busy: it may have committed)", async () => {
    // Prepare: 5 failures in a row, then a success that must not be reached
    const ise = awsError("InternalServerError", { status: 500 });
    const on = ddb.on(TransactWriteCommand);
    for (let i = 0; i < 5; i++) on.rejectsOnce(ise);
    on.resolves({});
    // Act
    const e = await caught(makeStore({ retries: 2 }).transact(twoOps()));
    // Assess
    expect(e).toBe(ise);
    expect(e).not.toBeInstanceOf(StoreBusyError);
    expectOneToken(3);
  });

  it("the re-send budget is for the whole call, across conflict retries (which renew the token)", async () => {
    // Prepare
    const ise = awsError("InternalServerError", { status: 500 });
    ddb.on(TransactWriteCommand).rejectsOnce(ise).rejectsOnce(conflict()).rejectsOnce(ise).rejectsOnce(ise).resolves({});
    // Act
    const e = await caught(makeStore({ retries: 2 }).transact(twoOps()));
    // Assess
    expect(e).toBe(ise);
    const [a, b, c, d] = tokens();
    expect(tokens()).toHaveLength(4);
    expect([b, c, d]).toEqual([a, expect.not.stringMatching(a!), c]);
  });

  it("each re-send waits 50·2^n ms plus up to 50 ms of jitter", async () => {
    // Prepare
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const waits: number[] = [];
    const ise = awsError("InternalServerError", { status: 500 });
    ddb.on(TransactWriteCommand).rejectsOnce(ise).rejectsOnce(ise).resolves({});
    // Act
    await makeStore({ retries: 2, sleep: async (ms) => void waits.push(ms) }).transact(twoOps());
    // Assess
    expect(waits).toEqual([125, 225]);
  });

  it("a single-op write is not re-sent by the adapter (the SDK retries it): an ambiguous error reaches the caller as it came", async () => {
    // Prepare
    const ise = awsError("InternalServerError", { status: 500 });
    ddb.on(PutCommand).rejects(ise);
    // Act
    const e = await caught(makeStore().transact([{ op: "put", table: "jobs", item: { pk: "j", sk: "job" } }]));
    // Assess
    expect(e).toBe(ise);
    expect(ddb.commandCalls(PutCommand)).toHaveLength(1);
  });
});

describe("conflicts: retried with capped, jittered backoff, then a 503 store_busy", () => {
  it("by default 7 attempts with waits of random · min(640, 20·2^(n+1)) ms, then StoreBusyError naming the attempts", async () => {
    // Prepare
    vi.spyOn(Math, "random").mockReturnValue(0.999999);
    ddb.on(TransactWriteCommand).rejects(conflict());
    const waits: number[] = [];
    const store = new DynamoStore({ table: TABLE, client: awsClient(), now: () => NOW, sleep: async (ms) => void waits.push(ms) });
    // Act
    const e = await caught(store.transact(twoOps()));
    // Assess
    expect(waits).toEqual([39, 79, 159, 319, 639, 639]);
    expect(e).toBeInstanceOf(StoreBusyError);
    expect(e).toMatchObject({
      status: 503,
      code: "store_busy",
      storeCode: "STORE_CONFLICT",
      message: "transaction kept conflicting with concurrent writes after 7 attempts; retry the request",
    });
    expect(new Set(tokens()).size).toBe(7);
  });

  it("the message counts conflictRetries + 1 attempts", async () => {
    // Prepare
    ddb.on(TransactWriteCommand).rejects(conflict());
    // Act
    const e = await caught(makeStore({ retries: 2 }).transact(twoOps()));
    // Assess
    expect((e as Error).message).toBe("transaction kept conflicting with concurrent writes after 3 attempts; retry the request");
  });

  it("without a sleep option the store really waits the backoff (on timers) before the retry", async () => {
    // Prepare
    vi.useFakeTimers();
    vi.spyOn(Math, "random").mockReturnValue(0.5); // first backoff: floor(0.5 · 40) = 20 ms
    ddb.on(TransactWriteCommand).rejectsOnce(conflict()).resolves({});
    let done = false;
    // Act
    void makeStore({ defaults: true })
      .transact(twoOps())
      .then(() => (done = true));
    await vi.advanceTimersByTimeAsync(19);
    const before = [tokens().length, done];
    await vi.advanceTimersByTimeAsync(1);
    await vi.advanceTimersByTimeAsync(1000); // settles the retry; never awaits a wait that never ends
    // Assess
    expect(before).toEqual([1, false]);
    expect([tokens().length, done]).toEqual([2, true]);
  });

  it("a reason without a Code counts as None: a conflict beside it is still retried", async () => {
    // Prepare
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled([{}, { Code: "TransactionConflict" }]))
      .resolves({});
    // Act
    const r = await caught(makeStore().transact(twoOps()));
    // Assess
    expect(r).toBe("resolved");
    expect(tokens()).toHaveLength(2);
  });

  it("a cancellation with any reason other than None/TransactionConflict is thrown as it came, not retried", async () => {
    // Prepare
    const err = cancelled([{ Code: "TransactionConflict" }, { Code: "ThrottlingError" }]);
    ddb.on(TransactWriteCommand).rejects(err);
    // Act
    const e = await caught(makeStore().transact(twoOps()));
    // Assess
    expect(e).toBe(err);
    expect(tokens()).toHaveLength(1);
  });

  it("a cancellation without a CancellationReasons field is thrown as it came (never read as a failed condition or a conflict)", async () => {
    // Prepare
    const err = cancelled();
    ddb.on(TransactWriteCommand).rejects(err);
    // Act
    const e = await caught(makeStore().transact(twoOps()));
    // Assess
    expect(e).toBe(err);
    expect(tokens()).toHaveLength(1);
  });
});

describe("failed conditions name the port op that failed", () => {
  it("a null reason beside a ConditionalCheckFailed one: ConditionFailedError(1) with that op in the message", async () => {
    // Prepare
    ddb.on(TransactWriteCommand).rejects(cancelled([null, { Code: "ConditionalCheckFailed" }]));
    // Act
    const e = await caught(makeStore().transact(twoOps()));
    // Assess
    expect(e).toBeInstanceOf(ConditionFailedError);
    expect(e).toMatchObject({ index: 1, message: `condition of update accounts ${ACCOUNT}/balance failed` });
  });

  it("a dropped no-op update shifts the DynamoDB items: the reason's index is mapped back to the port's op index", async () => {
    // Prepare
    ddb.on(TransactWriteCommand).rejects(cancelled([{ Code: "None" }, { Code: "ConditionalCheckFailed" }]));
    // Act
    const e = await caught(makeStore().transact([noop(), ...twoOps()]));
    // Assess
    expect(ddb.commandCalls(TransactWriteCommand)[0]!.args[0].input.TransactItems!.map((t) => Object.keys(t))).toEqual([
      ["Put"],
      ["Update"],
    ]);
    expect(e).toBeInstanceOf(ConditionFailedError);
    expect(e).toMatchObject({ index: 2, message: `condition of update accounts ${ACCOUNT}/balance failed` });
  });

  it("a single op after a dropped no-op is sent as its own command, and its failure names port index 1", async () => {
    // Prepare
    ddb.on(PutCommand).rejects(conditionFailed());
    // Act
    const e = await caught(
      makeStore().transact([noop(), { op: "put", table: "nonces", item: { pk: "key1#n1", sk: "n" }, when: { kind: "notExists" } }]),
    );
    // Assess
    expect(ddb.calls().map((c) => c.args[0].constructor.name)).toEqual(["PutCommand"]);
    expect(e).toBeInstanceOf(ConditionFailedError);
    expect(e).toMatchObject({ index: 1, message: "condition of put nonces key1#n1/n failed" });
  });

  it("a transaction of no-op updates only sends nothing and succeeds", async () => {
    // Act
    const r = await caught(makeStore().transact([noop("a"), noop("b")]));
    // Assess
    expect(r).toBe("resolved");
    expect(ddb.calls()).toHaveLength(0);
  });

  it("a put whose notExists fails on an item the answer shows expired is a failed condition, never swept (only updates merge into expired items)", async () => {
    // Prepare
    ddb
      .on(PutCommand)
      .rejectsOnce(conditionFailed(expiredRaw("nonces#k", "n")))
      .resolves({});
    ddb.on(DeleteCommand).resolves({});
    // Act
    const e = await caught(makeStore().transact([{ op: "put", table: "nonces", item: { pk: "k", sk: "n" }, when: { kind: "notExists" } }]));
    // Assess
    expect(e).toBeInstanceOf(ConditionFailedError);
    expect(ddb.commandCalls(DeleteCommand)).toHaveLength(0);
  });

  it("an update that may make a fresh item, failing without the old item in the answer, is a failed condition (no sweep)", async () => {
    // Prepare
    ddb.on(UpdateCommand).rejects(conditionFailed());
    // Act
    const e = await caught(makeStore().transact([{ op: "update", table: "chain", key: { pk: "counter", sk: "c" }, add: { n: 1 } }]));
    // Assess
    expect(e).toBeInstanceOf(ConditionFailedError);
    expect(e).toMatchObject({ index: 0, message: "condition of update chain counter/c failed" });
    expect(ddb.commandCalls(DeleteCommand)).toHaveLength(0);
  });

  it("a single write rejected with null or a bare string: thrown unchanged", async () => {
    // Prepare
    ddb
      .on(PutCommand)
      .callsFakeOnce(() => Promise.reject(null))
      .callsFakeOnce(() => Promise.reject("boom"));
    const store = makeStore();
    const put: WriteOp = { op: "put", table: "jobs", item: { pk: "j", sk: "job" } };
    // Act
    const first = await caught(store.transact([put]));
    const second = await caught(store.transact([put]));
    // Assess
    expect(first).toBeNull();
    expect(second).toBe("boom");
  });
});

describe("DynamoDB's size refusals become the StoreValidationError the local stores throw", () => {
  const itemMsg = "Item size has exceeded the maximum allowed size";
  const updateMsg = "Item size to update has exceeded the maximum allowed size";
  const txMsg = "Transaction request cannot be larger than 4MB";
  const validation = (message: string) => awsError("ValidationException", { status: 400, message });

  it("a single put refused as too large: STORE_ITEM_TOO_LARGE naming op 0", async () => {
    // Prepare
    ddb.on(PutCommand).rejects(validation(itemMsg));
    // Act
    const e = await caught(makeStore().transact([{ op: "put", table: "jobs", item: { pk: "j", sk: "job" } }]));
    // Assess
    expect(e).toBeInstanceOf(StoreValidationError);
    expect(e).toMatchObject({
      code: "STORE_ITEM_TOO_LARGE",
      index: 0,
      message: `op 0's item would be over 409600 bytes (400 KB), which DynamoDB refused (${itemMsg}); nothing was written: split it`,
    });
  });

  it("a single update grown too large, after a dropped no-op: STORE_ITEM_TOO_LARGE naming port op 1", async () => {
    // Prepare
    ddb.on(UpdateCommand).rejects(validation(updateMsg));
    // Act
    const e = await caught(
      makeStore().transact([
        noop(),
        { op: "update", table: "jobs", key: { pk: "j", sk: "job" }, set: { log: "x" }, when: { kind: "exists" } },
      ]),
    );
    // Assess
    expect(e).toMatchObject({ name: "StoreValidationError", code: "STORE_ITEM_TOO_LARGE", index: 1 });
  });

  it("a transaction whose first item is refused (ValidationError reason at 0): STORE_ITEM_TOO_LARGE naming that op", async () => {
    // Prepare
    ddb.on(TransactWriteCommand).rejects(cancelled([{ Code: "ValidationError", Message: itemMsg }, { Code: "None" }]));
    // Act
    const e = await caught(makeStore().transact([noop(), ...twoOps()]));
    // Assess
    expect(e).toBeInstanceOf(StoreValidationError);
    expect(e).toMatchObject({
      code: "STORE_ITEM_TOO_LARGE",
      index: 1,
      message: `op 1's item would be over 409600 bytes (400 KB), which DynamoDB refused (${itemMsg}); nothing was written: split it`,
    });
  });

  it("a ValidationError reason about something else: the cancellation is thrown as it came", async () => {
    // Prepare
    const err = cancelled([{ Code: "ValidationError", Message: "Invalid UpdateExpression" }, { Code: "None" }]);
    ddb.on(TransactWriteCommand).rejects(err);
    // Act
    const e = await caught(makeStore().transact(twoOps()));
    // Assess
    expect(e).toBe(err);
  });

  it("a whole transaction over 4 MB ('4MB' without a space): STORE_TRANSACTION_TOO_LARGE, no op index", async () => {
    // Prepare
    ddb.on(TransactWriteCommand).rejects(validation(txMsg));
    // Act
    const e = await caught(makeStore().transact(twoOps()));
    // Assess
    expect(e).toBeInstanceOf(StoreValidationError);
    expect(e).toMatchObject({
      code: "STORE_TRANSACTION_TOO_LARGE",
      index: undefined,
      message: `the transaction's items are over 4194304 bytes (4 MB) together, which DynamoDB refused (${txMsg}); nothing was written: split it`,
    });
    expect(tokens()).toHaveLength(1);
  });

  it("a transaction refused for an item size without naming it: STORE_ITEM_TOO_LARGE for 'an' item", async () => {
    // Prepare
    ddb.on(TransactWriteCommand).rejects(validation(updateMsg));
    // Act
    const e = await caught(makeStore().transact(twoOps()));
    // Assess
    expect(e).toMatchObject({
      code: "STORE_ITEM_TOO_LARGE",
      index: undefined,
      message: `an item would be over 409600 bytes (400 KB), which DynamoDB refused (${updateMsg}); nothing was written: split it`,
    });
  });

  it("the size wording under another error name is not a size refusal: thrown as it came", async () => {
    // Prepare
    const err = awsError("SerializationException", { status: 400, message: itemMsg });
    ddb.on(PutCommand).rejects(err);
    // Act
    const e = await caught(makeStore().transact([{ op: "put", table: "jobs", item: { pk: "j", sk: "job" } }]));
    // Assess
    expect(e).toBe(err);
  });
});

describe("exact commands: conditions, update expressions and the TTL attribute", () => {
  const key = { pk: "j1", sk: "job" };

  it("`in` with no values is false: attribute_exists(pk) AND attribute_not_exists(pk), and no values are sent", async () => {
    // Prepare
    ddb.on(DeleteCommand).resolves({});
    // Act
    await makeStore().transact([{ op: "delete", table: "quotes", key, when: { kind: "in", attr: "state", values: [] } }]);
    // Assess
    expect(ddb.commandCalls(DeleteCommand)[0]!.args[0].input).toStrictEqual({
      TableName: TABLE,
      Key: { pk: "quotes#j1", sk: "job" },
      ConditionExpression: "attribute_exists(#n0) AND attribute_not_exists(#n0)",
      ExpressionAttributeNames: { "#n0": "pk" },
    });
  });

  it("`and` of nothing is true (on sk), and `and` of one condition is that condition without parentheses", () => {
    // Act
    const empty = toTransactItem(TABLE, { op: "delete", table: "jobs", key, when: { kind: "and", all: [] } }, NOW_S);
    const one = toTransactItem(TABLE, { op: "delete", table: "jobs", key, when: { kind: "and", all: [{ kind: "exists" }] } }, NOW_S);
    // Assess
    expect(empty).toStrictEqual({
      Delete: {
        TableName: TABLE,
        Key: { pk: "jobs#j1", sk: "job" },
        ConditionExpression: "attribute_exists(#n0) OR attribute_not_exists(#n0)",
        ExpressionAttributeNames: { "#n0": "sk" },
      },
    });
    expect(one!.Delete!.ConditionExpression).toBe("attribute_exists(#n0) AND (attribute_not_exists(#n1) OR #n1 > :v0)");
  });

  it("an update under `and [notExists]` may make a fresh item: its condition is also absent-or-live, and it asks for the old item", () => {
    // Act
    const item = toTransactItem(
      TABLE,
      { op: "update", table: "jobs", key, set: { a: 1 }, when: { kind: "and", all: [{ kind: "notExists" }] } },
      NOW_S,
    );
    // Assess
    expect(item).toStrictEqual({
      Update: {
        TableName: TABLE,
        Key: { pk: "jobs#j1", sk: "job" },
        UpdateExpression: "SET #n0 = :v0 REMOVE #n1",
        ConditionExpression: "(attribute_not_exists(#n2) OR #n3 <= :v1) AND (attribute_not_exists(#n2) OR #n3 > :v1)",
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        ExpressionAttributeNames: { "#n0": "a", "#n1": "_bi:a", "#n2": "pk", "#n3": "_exp" },
        ExpressionAttributeValues: { ":v0": 1, ":v1": NOW_S },
      },
    });
  });

  it("an update under `and [notExists, exists]` needs a live item: its condition alone, no old item asked for", () => {
    // Act
    const item = toTransactItem(
      TABLE,
      { op: "update", table: "jobs", key, set: { a: 1 }, when: { kind: "and", all: [{ kind: "notExists" }, { kind: "exists" }] } },
      NOW_S,
    );
    // Assess
    expect(item!.Update).not.toHaveProperty("ReturnValuesOnConditionCheckFailure");
    expect(item!.Update!.ConditionExpression).toBe(
      "(attribute_not_exists(#n2) OR #n3 <= :v1) AND (attribute_exists(#n2) AND (attribute_not_exists(#n3) OR #n3 > :v1))",
    );
  });

  it("setting ttl (ms) writes ttl and `_exp` in seconds; a number elsewhere writes no `_exp`; each clears its bigint marker", async () => {
    // Prepare
    ddb.on(UpdateCommand).resolves({});
    // Act
    await makeStore().transact([{ op: "update", table: "jobs", key, set: { ttl: NOW + 60_000, count: 3 }, when: { kind: "exists" } }]);
    // Assess
    expect(ddb.commandCalls(UpdateCommand)[0]!.args[0].input).toStrictEqual({
      TableName: TABLE,
      Key: { pk: "jobs#j1", sk: "job" },
      UpdateExpression: "SET #n0 = :v0, #n2 = :v1, #n3 = :v2 REMOVE #n1, #n4",
      ConditionExpression: "attribute_exists(#n5) AND (attribute_not_exists(#n2) OR #n2 > :v3)",
      ExpressionAttributeNames: { "#n0": "ttl", "#n1": "_bi:ttl", "#n2": "_exp", "#n3": "count", "#n4": "_bi:count", "#n5": "pk" },
      ExpressionAttributeValues: { ":v0": NOW + 60_000, ":v1": NOW_S + 60, ":v2": 3, ":v3": NOW_S },
    });
  });

  it("a ttl that is not a number writes no `_exp`", () => {
    // Act
    const item = toTransactItem(TABLE, { op: "update", table: "jobs", key, set: { ttl: "soon" }, when: { kind: "exists" } }, NOW_S);
    // Assess
    expect(item!.Update!.UpdateExpression).toBe("SET #n0 = :v0 REMOVE #n1");
    expect(item!.Update!.ExpressionAttributeNames).toStrictEqual({ "#n0": "ttl", "#n1": "_bi:ttl", "#n2": "pk", "#n3": "_exp" });
  });

  it("clearing ttl removes ttl, its marker and `_exp` (the item stops expiring)", async () => {
    // Prepare
    ddb.on(UpdateCommand).resolves({});
    // Act
    await makeStore().transact([{ op: "update", table: "jobs", key, set: { ttl: undefined }, when: { kind: "exists" } }]);
    // Assess
    const input = ddb.commandCalls(UpdateCommand)[0]!.args[0].input;
    expect(input.UpdateExpression).toBe("REMOVE #n0, #n1, #n2");
    expect(input.ExpressionAttributeNames).toStrictEqual({ "#n0": "ttl", "#n1": "_bi:ttl", "#n2": "_exp", "#n3": "pk" });
  });

  it("setting a bigint writes it as a number with its marker set to true", async () => {
    // Prepare
    ddb.on(UpdateCommand).resolves({});
    // Act
    await makeStore().transact([{ op: "update", table: "accounts", key: { pk: ACCOUNT, sk: "balance" }, set: { held: 5n } }]);
    // Assess
    expect(ddb.commandCalls(UpdateCommand)[0]!.args[0].input).toStrictEqual({
      TableName: TABLE,
      Key: { pk: `accounts#${ACCOUNT}`, sk: "balance" },
      UpdateExpression: "SET #n0 = :v0, #n1 = :v1",
      ConditionExpression: "attribute_not_exists(#n2) OR #n3 > :v2",
      ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      ExpressionAttributeNames: { "#n0": "held", "#n1": "_bi:held", "#n2": "pk", "#n3": "_exp" },
      ExpressionAttributeValues: { ":v0": 5n, ":v1": true, ":v2": NOW_S },
    });
  });

  it("an update item built directly never writes the key attributes pk / sk", () => {
    // Act
    const item = toTransactItem(TABLE, { op: "update", table: "jobs", key, set: { pk: "other", sk: "other", a: 1 } }, NOW_S);
    // Assess
    expect(item!.Update!.UpdateExpression).toBe("SET #n0 = :v0 REMOVE #n1");
    expect(item!.Update!.ExpressionAttributeNames).toStrictEqual({ "#n0": "a", "#n1": "_bi:a", "#n2": "pk", "#n3": "_exp" });
  });

  it.each<[string, WriteOp]>([
    ["a put of _bi:x", { op: "put", table: "jobs", item: { pk: "j", sk: "job", "_bi:x": 1 } }],
    ["an update setting _exp", { op: "update", table: "jobs", key, set: { _exp: 1 } }],
    ["an update adding _bi:n", { op: "update", table: "jobs", key, add: { "_bi:n": 1 } }],
    ["a comparison on _exp", { op: "check", table: "jobs", key, when: { kind: "cmp", attr: "_exp", op: ">", value: 0 } }],
    ["an `in` on _exp", { op: "check", table: "jobs", key, when: { kind: "in", attr: "_exp", values: [] } }],
  ])("%s is refused with STORE_RESERVED_ATTRIBUTE before any request", async (_label, op) => {
    // Act
    const e = await caught(makeStore().transact([op]));
    // Assess
    expect(e).toBeInstanceOf(StoreError);
    expect(e).toMatchObject({ name: "StoreError", code: "STORE_RESERVED_ATTRIBUTE", message: expect.stringMatching(/"(_exp|_bi:\w)"/) });
    expect(ddb.calls()).toHaveLength(0);
  });
});

describe("reads: expired items dropped at the exact second, consistent by default, query paging", () => {
  const getWith = (Item: Record<string, unknown>, now = NOW) => {
    ddb.on(GetCommand).resolves({ Item: { pk: "jobs#j", sk: "job", ...Item } });
    return makeStore({ now }).get("jobs", { pk: "j", sk: "job" });
  };

  it("an item expires at the exact millisecond its `_exp` second begins", async () => {
    // Act
    const before = await getWith({ _exp: new NumberValue(String(NOW_S + 1)) }, NOW + 999);
    const at = await getWith({ _exp: new NumberValue(String(NOW_S + 1)) }, NOW + 1000);
    // Assess
    expect(before).toEqual({ pk: "j", sk: "job" });
    expect(at).toBeUndefined();
  });

  it("a document client passed without wrapNumbers gives `_exp` as a plain number: still judged", async () => {
    // Act
    const expired = await getWith({ _exp: NOW_S });
    const live = await getWith({ _exp: NOW_S + 1 });
    // Assess
    expect(expired).toBeUndefined();
    expect(live).toStrictEqual({ pk: "j", sk: "job" });
  });

  it("a null `_exp` never expires the item", async () => {
    // Act
    const item = await getWith({ _exp: null, a: "x" });
    // Assess
    expect(item).toStrictEqual({ pk: "j", sk: "job", a: "x" });
  });

  it("a query without prefix or limit sends only the key condition, consistent, with no Limit", async () => {
    // Prepare
    ddb.on(QueryCommand).resolves({});
    // Act
    const items = await makeStore().query("offers", "m#0");
    // Assess
    expect(items).toEqual([]);
    const input = ddb.commandCalls(QueryCommand)[0]!.args[0].input;
    expect(input).toStrictEqual({
      TableName: TABLE,
      KeyConditionExpression: "#pk = :pk",
      ExpressionAttributeNames: { "#pk": "pk" },
      ExpressionAttributeValues: { ":pk": "offers#m#0" },
      ConsistentRead: true,
    });
  });

  it("a query without limit reads every page, from each LastEvaluatedKey", async () => {
    // Prepare
    const lek = { pk: "offers#m", sk: "w1" };
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: [{ pk: "offers#m", sk: "w1" }], LastEvaluatedKey: lek })
      .resolvesOnce({ Items: [{ pk: "offers#m", sk: "w2", _exp: new NumberValue(String(NOW_S)) }], LastEvaluatedKey: { ...lek, sk: "w2" } })
      .resolvesOnce({ Items: [{ pk: "offers#m", sk: "w3" }] });
    // Act
    const items = await makeStore().query("offers", "m");
    // Assess
    expect(items.map((i) => i.sk)).toEqual(["w1", "w3"]);
    const calls = ddb.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => c.ExclusiveStartKey)).toEqual([undefined, lek, { ...lek, sk: "w2" }]);
    expect(calls.every((c) => !("Limit" in c))).toBe(true);
  });

  it("a query whose limit fills on a page's last item stops there without reading the next page", async () => {
    // Prepare
    ddb.on(QueryCommand).resolves({ Items: [{ pk: "offers#m", sk: "w1" }], LastEvaluatedKey: { pk: "offers#m", sk: "w1" } });
    // Act
    const items = await makeStore().query("offers", "m", { limit: 1 });
    // Assess
    expect(items).toEqual([{ pk: "m", sk: "w1" }]);
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(1);
  });
});

describe("item encoding: what a caller stores is what it reads", () => {
  it("a map with $bigint among other keys is stored as it is (only a lone tag is wrapped)", () => {
    // Act
    const raw = encodeItem("jobs", { pk: "j", sk: "job", m: { $bigint: "x", y: 1 }, lone: { $bigint: "x" } });
    // Assess
    expect(raw).toStrictEqual({ pk: "jobs#j", sk: "job", m: { $bigint: "x", y: 1 }, lone: { $obj: { $bigint: "x" } } });
  });

  it("null, sets and binary nested in maps are stored as they are; undefined attributes are left out", () => {
    // Prepare
    const m = { gone: null, tags: new Set(["a"]), bin: new Uint8Array([1, 2]) };
    // Act
    const raw = encodeItem("jobs", { pk: "j", sk: "job", m, skip: undefined, _exp: undefined, "": "unnamed" });
    // Assess
    expect(raw).toStrictEqual({
      pk: "jobs#j",
      sk: "job",
      m: { gone: null, tags: new Set(["a"]), bin: new Uint8Array([1, 2]) },
      "": "unnamed",
    });
  });

  it("decoding keeps nulls, sets (numbers as numbers), binary, and maps that only resemble tags", () => {
    // Prepare: as the document client reads them (numbers wrapped)
    const raw = {
      pk: "jobs#j",
      sk: "job",
      "": "unnamed",
      top: null,
      nums: new Set([new NumberValue("1"), new NumberValue("2")]),
      m: {
        gone: null,
        strs: new Set(["a"]),
        bin: new Uint8Array([7]),
        notTag: { $bigint: "5", x: "y" },
        objFirst: { $obj: { a: "b" }, x: "y" },
        objString: { $obj: "str" },
        bigintNumber: { $bigint: new NumberValue("5") },
      },
    };
    // Act
    const item = decodeItem("jobs", raw);
    // Assess
    expect(item).toStrictEqual({
      pk: "j",
      sk: "job",
      "": "unnamed",
      top: null,
      nums: new Set([1, 2]),
      m: {
        gone: null,
        strs: new Set(["a"]),
        bin: new Uint8Array([7]),
        notTag: { $bigint: "5", x: "y" },
        objFirst: { $obj: { a: "b" }, x: "y" },
        objString: { $obj: "str" },
        bigintNumber: { $bigint: 5 },
      },
    });
  });
});

describe("the document client this adapter builds (real marshalling, recorded HTTP)", () => {
  beforeEach(() => {
    // the real document client's send (marshalling, HTTP) instead of the mock's answers
    ddb.send.callThrough();
  });

  it("undefined nested values are dropped and empty strings stay strings", async () => {
    // Prepare
    const { store, bodies } = wireStore([{}]);
    // Act
    await store.transact([{ op: "put", table: "jobs", item: { pk: "a", sk: "s", note: "", meta: { x: undefined, y: 1 } } }]);
    // Assess
    expect(bodies[0]!.Item).toStrictEqual({ pk: { S: "jobs#a" }, sk: { S: "s" }, note: { S: "" }, meta: { M: { y: { N: "1" } } } });
  });

  it("a small bigint reads back as a bigint where its marker says so, a number elsewhere", async () => {
    // Prepare
    const { store } = wireStore([
      { Item: { pk: { S: "accounts#a" }, sk: { S: "balance" }, held: { N: "5" }, "_bi:held": { BOOL: true }, version: { N: "3" } } },
    ]);
    // Act
    const item = await store.get("accounts", { pk: "a", sk: "balance" });
    // Assess
    expect(item).toStrictEqual({ pk: "a", sk: "balance", held: 5n, version: 3 });
  });
});

describe("the sweep of an expired item in an update's way", () => {
  const counter: WriteOp = { op: "update", table: "chain", key: { pk: "counter", sk: "c" }, add: { n: 1 } };

  it("a sweep that finds the item gone or live again (its condition fails) is fine: the update is sent again", async () => {
    // Prepare
    ddb
      .on(UpdateCommand)
      .rejectsOnce(conditionFailed(expiredRaw("chain#counter", "c")))
      .resolves({});
    ddb.on(DeleteCommand).rejects(conditionFailed());
    // Act
    const r = await caught(makeStore().transact([counter]));
    // Assess
    expect(r).toBe("resolved");
    expect(ddb.calls().map((c) => c.args[0].constructor.name)).toEqual(["UpdateCommand", "DeleteCommand", "UpdateCommand"]);
  });

  it("a sweep that fails otherwise fails the write with that error, and the update is not sent again", async () => {
    // Prepare
    const throttled = awsError("ProvisionedThroughputExceededException", { status: 400 });
    ddb.on(UpdateCommand).rejects(conditionFailed(expiredRaw("chain#counter", "c")));
    ddb.on(DeleteCommand).rejects(throttled);
    // Act
    const e = await caught(makeStore().transact([counter]));
    // Assess
    expect(e).toBe(throttled);
    expect(ddb.calls().map((c) => c.args[0].constructor.name)).toEqual(["UpdateCommand", "DeleteCommand"]);
  });

  it("an item that expired at the exact second of now is swept", async () => {
    // Prepare
    ddb
      .on(UpdateCommand)
      .rejectsOnce(conditionFailed(expiredRaw("chain#counter", "c", NOW_S)))
      .resolves({});
    ddb.on(DeleteCommand).resolves({});
    // Act
    await makeStore().transact([counter]);
    // Assess
    expect(ddb.commandCalls(DeleteCommand)).toHaveLength(1);
  });

  it("after 3 sweeps the write fails as store_busy, saying so", async () => {
    // Prepare
    ddb.on(UpdateCommand).rejects(conditionFailed(expiredRaw("chain#counter", "c")));
    ddb.on(DeleteCommand).resolves({});
    // Act
    const e = await caught(makeStore().transact([counter]));
    // Assess
    expect(e).toBeInstanceOf(StoreBusyError);
    expect((e as Error).message).toBe("items past their TTL kept meeting the write after 3 sweeps; retry the request");
  });
});
