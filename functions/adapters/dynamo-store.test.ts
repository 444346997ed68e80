import { beforeEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { ConditionalCheckFailedException, InternalServerError, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import {
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  PutCommand,
  UpdateCommand,
  DeleteCommand,
  TransactWriteCommand,
  NumberValue,
} from "@aws-sdk/lib-dynamodb";
import { ConditionFailedError, type WriteOp } from "../../core/ports";
import { applyMovement, holdMovement, movementOps } from "../../core/ledger";
import { createMemoryStore } from "../../local/memory-store";
import type { StoreValidationCode } from "../../core/store-rules";
import { decodeItem, DynamoStore, encodeItem, StoreBusyError, StoreValidationError } from "./dynamo-store";
import { failureResponse } from "../http/middleware";
import { awsClient, makeStore, NOW, NOW_S, TABLE } from "./dynamo-testing";

const ACCOUNT = "req:8Jk3n6vB0cQ1yZ2xW4tR5sP7oN9mL0kJ3hG5fD1sA2q";
const JOB = "job_01jdqv6x7s9k2m4n8p0r3t5w7y";

const ddb = mockClient(DynamoDBDocumentClient);

const conditionFailed = () => new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} });
const cancelled = (codes: string[]) =>
  new TransactionCanceledException({
    message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(", ")}]`,
    $metadata: {},
    CancellationReasons: codes.map((Code) => ({
      Code,
      ...(Code === "ConditionalCheckFailed" ? { Message: "The conditional request failed" } : {}),
    })),
  });

beforeEach(() => {
  ddb.reset();
});

describe("DynamoStore encoding of maps that come from outside", () => {
  it("a caller's map that looks like the adapter's tags ({$bigint: …}, {$obj: …}) reads back as the same map, not as a bigint or a throw", () => {
    // Prepare: what a worker may put in its attestation document, beside a real nested bigint
    const item = {
      pk: "w1",
      sk: "worker",
      attestation: {
        collateral: { $bigint: "x" },
        modelDigests: { $bigint: "12" },
        other: { $obj: { $bigint: "7" } },
        list: [{ $bigint: "nope" }, { $obj: 1 }],
      },
      fee: { nested: 42n },
    };
    // Act
    const back = decodeItem("workers", encodeItem("workers", item));
    // Assess
    expect(back).toEqual(item);
  });
});

describe("DynamoStore reads", () => {
  it("get reads the prefixed key consistently and returns bigint only where the marker says so", async () => {
    // Prepare
    ddb.on(GetCommand).resolves({
      Item: {
        pk: `accounts#${ACCOUNT}`,
        sk: "balance",
        available: new NumberValue("123456789012345678901234567"),
        "_bi:available": true,
        held: new NumberValue("0"),
        "_bi:held": true,
        version: new NumberValue("7"),
        meta: { fee: { $bigint: "42" }, count: new NumberValue("3") },
      },
    });
    const store = makeStore();

    // Act
    const item = await store.get("accounts", { pk: ACCOUNT, sk: "balance" });

    // Assess
    expect(ddb.commandCalls(GetCommand)[0]!.args[0].input).toEqual({
      TableName: TABLE,
      Key: { pk: `accounts#${ACCOUNT}`, sk: "balance" },
      ConsistentRead: true,
    });
    expect(item).toEqual({
      pk: ACCOUNT,
      sk: "balance",
      available: 123456789012345678901234567n,
      held: 0n,
      version: 7,
      meta: { fee: 42n, count: 3 },
    });
  });

  it("get hides an item whose TTL has passed but which DynamoDB has not swept yet", async () => {
    ddb.on(GetCommand).resolves({
      Item: { pk: "nonces#k#n1", sk: "n", ttl: new NumberValue(String(NOW_S - 1)), _exp: new NumberValue(String(NOW_S - 1)) },
    });
    expect(await makeStore().get("nonces", { pk: "k#n1", sk: "n" })).toBeUndefined();
  });

  it("get returns an item whose TTL is still ahead, without the reserved attributes", async () => {
    ddb.on(GetCommand).resolves({
      Item: { pk: "nonces#k#n1", sk: "n", ttl: new NumberValue(String(NOW_S + 60)), _exp: new NumberValue(String(NOW_S + 60)) },
    });
    expect(await makeStore().get("nonces", { pk: "k#n1", sk: "n" })).toEqual({ pk: "k#n1", sk: "n", ttl: NOW_S + 60 });
  });

  it("get of a missing item is undefined", async () => {
    ddb.on(GetCommand).resolves({});
    expect(await makeStore().get("jobs", { pk: JOB, sk: "job" })).toBeUndefined();
  });

  it("issue 12: a read asked as eventual is sent without ConsistentRead (half the read units); every other read stays consistent", async () => {
    // Prepare
    ddb.on(GetCommand).resolves({});
    ddb.on(QueryCommand).resolves({ Items: [] });
    const store = makeStore();
    // Act
    await store.get("offers", { pk: "m#0", sk: "w1" }, { eventual: true });
    await store.get("offers", { pk: "m#0", sk: "w1" });
    await store.query("offers", "m#0", { eventual: true, limit: 5 });
    await store.query("offers", "m#0");
    // Assess
    expect(ddb.commandCalls(GetCommand).map((c) => c.args[0].input.ConsistentRead)).toEqual([false, true]);
    expect(ddb.commandCalls(QueryCommand).map((c) => c.args[0].input.ConsistentRead)).toEqual([false, true]);
  });

  it("query pages on, skips expired items and stops at the limit", async () => {
    // Prepare
    ddb
      .on(QueryCommand)
      .resolvesOnce({
        Items: [
          { pk: "offers#llama-3.1-8b", sk: "w1", load: new NumberValue("0") },
          { pk: "offers#llama-3.1-8b", sk: "w2", _exp: new NumberValue(String(NOW_S - 5)) },
        ],
        LastEvaluatedKey: { pk: "offers#llama-3.1-8b", sk: "w2" },
      })
      .resolvesOnce({
        Items: [
          { pk: "offers#llama-3.1-8b", sk: "w3" },
          { pk: "offers#llama-3.1-8b", sk: "w4" },
        ],
      });

    // Act
    const items = await makeStore().query("offers", "llama-3.1-8b", { skPrefix: "w", limit: 2 });

    // Assess
    const calls = ddb.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(calls[0]).toEqual({
      TableName: TABLE,
      KeyConditionExpression: "#pk = :pk AND begins_with(#sk, :sk)",
      ExpressionAttributeNames: { "#pk": "pk", "#sk": "sk" },
      ExpressionAttributeValues: { ":pk": "offers#llama-3.1-8b", ":sk": "w" },
      ConsistentRead: true,
      Limit: 2,
    });
    expect(calls[1]).toMatchObject({ Limit: 1, ExclusiveStartKey: { pk: "offers#llama-3.1-8b", sk: "w2" } });
    expect(items).toEqual([
      { pk: "llama-3.1-8b", sk: "w1", load: 0 },
      { pk: "llama-3.1-8b", sk: "w3" },
    ]);
  });
});

describe("DynamoStore single writes", () => {
  it("put with notExists sends one PutItem whose condition treats an expired item as absent", async () => {
    // Prepare
    ddb.on(PutCommand).resolves({});
    const store = makeStore();

    // Act
    await store.transact([
      { op: "put", table: "nonces", item: { pk: "key1#nonce1", sk: "n", ttl: NOW_S + 120 }, when: { kind: "notExists" } },
    ]);

    // Assess
    expect(ddb.commandCalls(PutCommand)[0]!.args[0].input).toEqual({
      TableName: TABLE,
      Item: { pk: "nonces#key1#nonce1", sk: "n", ttl: NOW_S + 120, _exp: NOW_S + 120 },
      ConditionExpression: "attribute_not_exists(#n0) OR #n1 <= :v0",
      ExpressionAttributeNames: { "#n0": "pk", "#n1": "_exp" },
      ExpressionAttributeValues: { ":v0": NOW_S },
    });
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it("a duplicate put (ConditionalCheckFailed) becomes ConditionFailedError(0), which the core reads as a replay", async () => {
    // Prepare
    ddb.on(PutCommand).rejects(conditionFailed());

    // Act
    const err = await makeStore()
      .transact([{ op: "put", table: "nonces", item: { pk: "key1#nonce1", sk: "n" }, when: { kind: "notExists" } }])
      .catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(ConditionFailedError);
    expect((err as ConditionFailedError).index).toBe(0);
  });

  it("put writes a bigint as a number with its marker and a nested bigint as a tagged map", async () => {
    ddb.on(PutCommand).resolves({});
    await makeStore().transact([
      { op: "put", table: "jobs", item: { pk: JOB, sk: "job", maxCost: 5_000_000_000n, attempt: 0, quote: { price: 12n } } },
    ]);
    expect(ddb.commandCalls(PutCommand)[0]!.args[0].input).toEqual({
      TableName: TABLE,
      Item: { pk: `jobs#${JOB}`, sk: "job", maxCost: 5_000_000_000n, "_bi:maxCost": true, attempt: 0, quote: { price: { $bigint: "12" } } },
    });
  });

  it("update sends SET / REMOVE / ADD with placeholders and an exists condition", async () => {
    // Prepare
    ddb.on(UpdateCommand).resolves({});

    // Act
    await makeStore().transact([
      {
        op: "update",
        table: "jobs",
        key: { pk: JOB, sk: "job" },
        set: { status: "assigned", workerId: undefined },
        add: { attempt: 1 },
        when: { kind: "and", all: [{ kind: "exists" }, { kind: "cmp", attr: "status", op: "=", value: "submitted" }] },
      },
    ]);

    // Assess
    expect(ddb.commandCalls(UpdateCommand)[0]!.args[0].input).toEqual({
      TableName: TABLE,
      Key: { pk: `jobs#${JOB}`, sk: "job" },
      UpdateExpression: "SET #n0 = :v0 REMOVE #n1, #n2, #n3 ADD #n4 :v1",
      // a comparison holds only on a live item that has the attribute, as in the local stores
      ConditionExpression:
        "(attribute_exists(#n5) AND (attribute_not_exists(#n6) OR #n6 > :v2)) AND (attribute_exists(#n0) AND #n0 = :v3 AND (attribute_not_exists(#n6) OR #n6 > :v2))",
      ExpressionAttributeNames: {
        "#n0": "status",
        "#n1": "_bi:status",
        "#n2": "workerId",
        "#n3": "_bi:workerId",
        "#n4": "attempt",
        "#n5": "pk",
        "#n6": "_exp",
      },
      ExpressionAttributeValues: { ":v0": "assigned", ":v1": 1, ":v2": NOW_S, ":v3": "submitted" },
    });
  });

  it("delete with an `in` condition", async () => {
    ddb.on(DeleteCommand).resolves({});
    await makeStore().transact([
      { op: "delete", table: "quotes", key: { pk: JOB, sk: "quote" }, when: { kind: "in", attr: "state", values: ["open", "expired"] } },
    ]);
    expect(ddb.commandCalls(DeleteCommand)[0]!.args[0].input).toEqual({
      TableName: TABLE,
      Key: { pk: `quotes#${JOB}`, sk: "quote" },
      ConditionExpression: "#n0 IN (:v0, :v1) AND (attribute_not_exists(#n1) OR #n1 > :v2)",
      ExpressionAttributeNames: { "#n0": "state", "#n1": "_exp" },
      ExpressionAttributeValues: { ":v0": "open", ":v1": "expired", ":v2": NOW_S },
    });
  });

  it("a lone check is a one-item TransactWriteItems with a ConditionCheck", async () => {
    ddb.on(TransactWriteCommand).resolves({});
    await makeStore().transact([
      { op: "check", table: "workers", key: { pk: "w1", sk: "worker" }, when: { kind: "cmp", attr: "capacity", op: ">", value: 0 } },
    ]);
    expect(ddb.commandCalls(TransactWriteCommand)[0]!.args[0].input).toEqual({
      ClientRequestToken: expect.any(String),
      TransactItems: [
        {
          ConditionCheck: {
            TableName: TABLE,
            Key: { pk: "workers#w1", sk: "worker" },
            ConditionExpression: "attribute_exists(#n0) AND #n0 > :v0 AND (attribute_not_exists(#n1) OR #n1 > :v1)",
            ExpressionAttributeNames: { "#n0": "capacity", "#n1": "_exp" },
            ExpressionAttributeValues: { ":v0": 0, ":v1": NOW_S },
          },
        },
      ],
    });
  });

  it("other DynamoDB errors pass through unchanged", async () => {
    const throttled = Object.assign(new Error("Rate exceeded"), { name: "ProvisionedThroughputExceededException" });
    ddb.on(PutCommand).rejects(throttled);
    await expect(makeStore().transact([{ op: "put", table: "jobs", item: { pk: JOB, sk: "job" } }])).rejects.toMatchObject({
      name: "ProvisionedThroughputExceededException",
    });
  });
});

describe("DynamoStore transactions (money)", () => {
  const hold = () => holdMovement(JOB, "8Jk3n6vB0cQ1yZ2xW4tR5sP7oN9mL0kJ3hG5fD1sA2q", 1_500_000n, NOW);

  it("a ledger hold is one TransactWriteItems: movement put (notExists) + guarded balance update", async () => {
    // Prepare
    ddb.on(TransactWriteCommand).resolves({});
    const jobOp: WriteOp = {
      op: "update",
      table: "jobs",
      key: { pk: JOB, sk: "job" },
      set: { status: "submitted" },
      when: { kind: "notExists" },
    };

    // Act
    const result = await applyMovement(makeStore(), hold(), [jobOp]);

    // Assess
    expect(result).toBe("applied");
    expect(ddb.commandCalls(TransactWriteCommand)[0]!.args[0].input).toEqual({
      ClientRequestToken: expect.any(String),
      TransactItems: [
        {
          Put: {
            TableName: TABLE,
            Item: {
              pk: `ledger#hold:${JOB}`,
              sk: "tx",
              kind: "hold",
              at: NOW,
              postings: [
                { account: ACCOUNT, field: "available", delta: "-1500000" },
                { account: ACCOUNT, field: "held", delta: "1500000" },
              ],
            },
            ConditionExpression: "attribute_not_exists(#n0) OR #n1 <= :v0",
            ExpressionAttributeNames: { "#n0": "pk", "#n1": "_exp" },
            ExpressionAttributeValues: { ":v0": NOW_S },
          },
        },
        {
          Update: {
            TableName: TABLE,
            Key: { pk: `accounts#${ACCOUNT}`, sk: "balance" },
            UpdateExpression: "SET #n1 = :v1, #n3 = :v3 ADD #n0 :v0, #n2 :v2",
            ConditionExpression: "attribute_exists(#n0) AND #n0 >= :v4 AND (attribute_not_exists(#n4) OR #n4 > :v5)",
            ExpressionAttributeNames: { "#n0": "available", "#n1": "_bi:available", "#n2": "held", "#n3": "_bi:held", "#n4": "_exp" },
            ExpressionAttributeValues: { ":v0": -1_500_000n, ":v1": true, ":v2": 1_500_000n, ":v3": true, ":v4": 1_500_000n, ":v5": NOW_S },
          },
        },
        {
          Update: {
            TableName: TABLE,
            Key: { pk: `jobs#${JOB}`, sk: "job" },
            UpdateExpression: "SET #n0 = :v0 REMOVE #n1",
            // an update only if absent: no item at all, not even one past its TTL (which it would
            // merge into); such an item comes back with the failure and is swept (see below)
            ConditionExpression: "attribute_not_exists(#n2)",
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
            ExpressionAttributeNames: { "#n0": "status", "#n1": "_bi:status", "#n2": "pk" },
            ExpressionAttributeValues: { ":v0": "submitted" },
          },
        },
      ],
    });
  });

  it("a retried movement (ConditionalCheckFailed on the ledger put) is 'duplicate': already done, not an error", async () => {
    // Prepare
    ddb.on(TransactWriteCommand).rejects(cancelled(["ConditionalCheckFailed", "None"]));

    // Act
    const result = await applyMovement(makeStore(), hold());

    // Assess
    expect(result).toBe("duplicate");
  });

  it("a failing balance guard maps to ConditionFailedError with that op's index (the core turns it into an overdraft)", async () => {
    ddb.on(TransactWriteCommand).rejects(cancelled(["None", "ConditionalCheckFailed"]));
    const err = await makeStore()
      .transact(movementOps(hold()))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConditionFailedError);
    expect((err as ConditionFailedError).index).toBe(1);
    await expect(applyMovement(makeStore(), hold())).rejects.toMatchObject({ name: "OverdraftError", account: ACCOUNT });
  });

  it("a transaction cancelled only by conflicts is retried, then succeeds", async () => {
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled(["TransactionConflict", "None"]))
      .resolves({});
    await makeStore().transact(movementOps(hold()));
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(2);
  });

  it("a transaction cancelled without reasons is thrown as DynamoDB said it, not read as a failed condition (which the core takes for 'done already')", async () => {
    // Prepare
    ddb.on(TransactWriteCommand).rejects(cancelled([]));
    // Act
    const err = await makeStore()
      .transact(movementOps(hold()))
      .catch((e: unknown) => e);
    // Assess
    expect(err).not.toBeInstanceOf(ConditionFailedError);
    expect(err).toMatchObject({ name: "TransactionCanceledException" });
  });

  it("a transaction that keeps conflicting fails after the retries as a 503 store_busy (send it again), not an anonymous 500", async () => {
    ddb.on(TransactWriteCommand).rejects(cancelled(["TransactionConflict", "None"]));
    const err = await makeStore({ retries: 2 })
      .transact(movementOps(hold()))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreBusyError);
    expect(err).toMatchObject({ status: 503, code: "store_busy" });
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(3);
    // and the HTTP edge answers it so
    const answer = failureResponse(err, { error: () => undefined }, "POST /v1/jobs");
    expect(answer.status).toBe(503);
    expect(answer.headers["retry-after"]).toBe("1");
    expect(JSON.parse(answer.body as string)).toMatchObject({ error: { code: "store_busy" } });
  });

  it("by default a conflicting transaction is tried 7 times with jittered waits of about 1.3 s in all at most", async () => {
    // Prepare
    ddb.on(TransactWriteCommand).rejects(cancelled(["TransactionConflict", "None"]));
    const waits: number[] = [];
    const store = new DynamoStore({ table: TABLE, client: awsClient(), now: () => NOW, sleep: async (ms) => void waits.push(ms) });
    // Act
    const err = await store.transact(movementOps(hold())).catch((e: unknown) => e);
    // Assess
    expect(err).toBeInstanceOf(StoreBusyError);
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(7);
    expect(waits).toHaveLength(6);
    expect(Math.max(...waits)).toBeLessThanOrEqual(640);
    expect(waits.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(40 + 80 + 160 + 320 + 640 + 640);
  });

  it("issue 9 #6: a hold re-sent after an ambiguous failure carries the same ClientRequestToken, so DynamoDB applies it once and answers success", async () => {
    // Prepare: the first send's answer is lost (a 5xx after DynamoDB may have committed)
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(new InternalServerError({ message: "Internal server error", $metadata: { httpStatusCode: 500 } }))
      .resolves({});
    // Act
    const r = await applyMovement(makeStore(), hold());
    // Assess
    const tokens = ddb.commandCalls(TransactWriteCommand).map((c) => c.args[0].input.ClientRequestToken);
    expect(r).toBe("applied");
    expect(tokens).toHaveLength(2);
    expect(tokens[0]).toMatch(/^[\x21-\x7e]{1,36}$/);
    expect(tokens[1]).toBe(tokens[0]);
  });

  it("a conflict retry is a new call with a new token; two transact calls with equal items never share one", async () => {
    // Prepare
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled(["TransactionConflict", "None"]))
      .resolves({});
    const store = makeStore();
    // Act
    await store.transact(movementOps(hold()));
    await store.transact(movementOps(hold()));
    // Assess: a shared token would tell both equal calls "applied" where exactly one may win
    const tokens = ddb.commandCalls(TransactWriteCommand).map((c) => c.args[0].input.ClientRequestToken);
    expect(tokens).toHaveLength(3);
    expect(new Set(tokens).size).toBe(3);
  });

  it("two ops on one item are refused before any request with STORE_DUPLICATE_ITEM", async () => {
    const err = await makeStore()
      .transact([
        { op: "update", table: "jobs", key: { pk: JOB, sk: "job" }, set: { a: 1 } },
        { op: "check", table: "jobs", key: { pk: JOB, sk: "job" }, when: { kind: "exists" } },
      ])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreValidationError);
    expect((err as StoreValidationError).code).toBe("STORE_DUPLICATE_ITEM");
    expect(ddb.calls()).toHaveLength(0);
  });

  it("more than 100 ops are refused with STORE_TOO_MANY_OPS", async () => {
    const ops: WriteOp[] = Array.from({ length: 101 }, (_, i) => ({ op: "put", table: "chain", item: { pk: `tx${i}`, sk: "tx" } }));
    await expect(makeStore().transact(ops)).rejects.toMatchObject({ code: "STORE_TOO_MANY_OPS" });
  });

  it("the store rules are one module: every transaction the local stores refuse, this adapter refuses before any request, with the same error and code", async () => {
    // Prepare: one transaction per rule of core/store-rules.ts
    const bad: Array<[StoreValidationCode, WriteOp[]]> = [
      [
        "STORE_TOO_MANY_OPS",
        Array.from({ length: 101 }, (_, i) => ({ op: "put" as const, table: "chain" as const, item: { pk: `tx${i}`, sk: "tx" } })),
      ],
      [
        "STORE_DUPLICATE_ITEM",
        [
          { op: "put", table: "jobs", item: { pk: JOB, sk: "job" } },
          { op: "delete", table: "jobs", key: { pk: JOB, sk: "job" } },
        ],
      ],
      ["STORE_BAD_KEY", [{ op: "put", table: "jobs", item: { pk: "", sk: "job" } }]],
      ["STORE_BAD_KEY", [{ op: "put", table: "jobs", item: { pk: "p".repeat(1800), sk: "job" } }]],
      ["STORE_BAD_UPDATE", [{ op: "update", table: "jobs", key: { pk: JOB, sk: "job" }, set: { pk: "other" } }]],
      [
        "STORE_BAD_UPDATE",
        [{ op: "update", table: "accounts", key: { pk: ACCOUNT, sk: "balance" }, set: { held: 1n }, add: { held: 1n } }],
      ],
      ["STORE_NOT_A_NUMBER", [{ op: "update", table: "accounts", key: { pk: ACCOUNT, sk: "balance" }, add: { held: Number.NaN } }]],
    ];
    for (const [code, ops] of bad) {
      // Act
      const aws = await makeStore()
        .transact(ops)
        .catch((e: unknown) => e);
      const local = await createMemoryStore()
        .transact(ops)
        .catch((e: unknown) => e);
      // Assess
      expect(aws, code).toBeInstanceOf(StoreValidationError);
      expect(local, code).toBeInstanceOf(StoreValidationError);
      expect([(aws as StoreValidationError).code, (aws as StoreValidationError).index]).toEqual([
        code,
        (local as StoreValidationError).index,
      ]);
      expect((local as StoreValidationError).code).toBe(code);
    }
    expect(ddb.calls()).toHaveLength(0);
  });

  it("TTL is one rule: an item is gone from the second its ttl names, on reads here as in the local stores", async () => {
    // Prepare: ttl exactly now, and one second later
    const now = { pk: JOB, sk: "a", ttl: NOW_S };
    const later = { pk: JOB, sk: "b", ttl: NOW_S + 1 };
    ddb.on(QueryCommand).resolves({
      Items: [
        { pk: `jobs#${JOB}`, sk: "a", ttl: new NumberValue(String(NOW_S)), _exp: new NumberValue(String(NOW_S)) },
        { pk: `jobs#${JOB}`, sk: "b", ttl: new NumberValue(String(NOW_S + 1)), _exp: new NumberValue(String(NOW_S + 1)) },
      ],
    });
    const local = createMemoryStore({ clock: { now: () => NOW } });
    await local.transact([
      { op: "put", table: "jobs", item: now },
      { op: "put", table: "jobs", item: later },
    ]);
    // Act
    const aws = await makeStore().query("jobs", JOB);
    const mem = await local.query("jobs", JOB);
    // Assess
    expect(aws.map((i) => i.sk)).toEqual(["b"]);
    expect(mem.map((i) => i.sk)).toEqual(["b"]);
  });

  it("an attribute named like a reserved one is refused with STORE_RESERVED_ATTRIBUTE", async () => {
    await expect(makeStore().transact([{ op: "put", table: "jobs", item: { pk: JOB, sk: "job", _exp: 1 } }])).rejects.toMatchObject({
      code: "STORE_RESERVED_ATTRIBUTE",
    });
  });

  it("an update with neither set nor add becomes a ConditionCheck inside a transaction", async () => {
    ddb.on(TransactWriteCommand).resolves({});
    await makeStore().transact([
      { op: "update", table: "workers", key: { pk: "w1", sk: "worker" }, when: { kind: "exists" } },
      { op: "put", table: "chain", item: { pk: "cursor", sk: "c", lt: "123" } },
    ]);
    const items = ddb.commandCalls(TransactWriteCommand)[0]!.args[0].input.TransactItems!;
    expect(Object.keys(items[0]!)).toEqual(["ConditionCheck"]);
    expect(Object.keys(items[1]!)).toEqual(["Put"]);
  });
});

describe("DynamoStore: an item past its TTL that DynamoDB has not swept yet is absent for writes too, as the port says", () => {
  // What DynamoDB returns with a failed condition (ReturnValuesOnConditionCheckFailure: ALL_OLD): the item, unmarshalled by nobody
  const expiredRaw = (pk: string, sk: string) => ({
    pk: { S: pk },
    sk: { S: sk },
    stale: { S: "from before it expired" },
    jobs: { N: "41" },
    ttl: { N: String(NOW_S - 10) },
    _exp: { N: String(NOW_S - 10) },
  });
  const failedWith = (item: Record<string, unknown>) =>
    new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {}, Item: item as never });
  const cancelledWith = (reasons: Array<{ Code: string; Item?: Record<string, unknown> }>) =>
    new TransactionCanceledException({
      message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(", ")}]`,
      $metadata: {},
      CancellationReasons: reasons as never,
    });
  const sweep = (pk: string, sk: string) => ({
    TableName: TABLE,
    Key: { pk, sk },
    ConditionExpression: "#exp <= :now",
    ExpressionAttributeNames: { "#exp": "_exp" },
    ExpressionAttributeValues: { ":now": NOW_S },
  });

  it("an update without a condition is sent only onto no item or a live one; an expired one is swept (while still expired) and the update sent again, making a fresh item as the local stores do", async () => {
    // Prepare
    ddb
      .on(UpdateCommand)
      .rejectsOnce(failedWith(expiredRaw("workers#w1", "worker")))
      .resolves({});
    ddb.on(DeleteCommand).resolves({});
    const op: WriteOp = { op: "update", table: "workers", key: { pk: "w1", sk: "worker" }, set: { name: "fresh" }, add: { jobs: 1 } };
    const local = createMemoryStore({ clock: { now: () => NOW } });
    await local.transact([
      { op: "put", table: "workers", item: { pk: "w1", sk: "worker", stale: "from before it expired", jobs: 41, ttl: NOW_S - 10 } },
    ]);
    // Act
    await makeStore().transact([op]);
    await local.transact([op]);
    // Assess
    const update = {
      TableName: TABLE,
      Key: { pk: "workers#w1", sk: "worker" },
      UpdateExpression: "SET #n0 = :v0 REMOVE #n1 ADD #n2 :v1",
      ConditionExpression: "attribute_not_exists(#n3) OR #n4 > :v2",
      ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      ExpressionAttributeNames: { "#n0": "name", "#n1": "_bi:name", "#n2": "jobs", "#n3": "pk", "#n4": "_exp" },
      ExpressionAttributeValues: { ":v0": "fresh", ":v1": 1, ":v2": NOW_S },
    };
    expect(ddb.calls().map((c) => [c.args[0].constructor.name, c.args[0].input])).toEqual([
      ["UpdateCommand", update],
      ["DeleteCommand", sweep("workers#w1", "worker")],
      ["UpdateCommand", update],
    ]);
    // what the second update makes of no item, and what the port's local stores make of the expired one
    expect(await local.get("workers", { pk: "w1", sk: "worker" })).toEqual({ pk: "w1", sk: "worker", name: "fresh", jobs: 1 });
  });

  it("inside a transaction: the cancellation carries the expired item, it is swept, and the transaction is sent again with a new token", async () => {
    // Prepare: a counter update (no condition) beside a guarded balance update
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(cancelledWith([{ Code: "None" }, { Code: "ConditionalCheckFailed", Item: expiredRaw("chain#counter", "c") }]))
      .resolves({});
    ddb.on(DeleteCommand).resolves({});
    const ops: WriteOp[] = [
      {
        op: "update",
        table: "accounts",
        key: { pk: ACCOUNT, sk: "balance" },
        add: { available: -5n },
        when: { kind: "cmp", attr: "available", op: ">=", value: 5n },
      },
      { op: "update", table: "chain", key: { pk: "counter", sk: "c" }, add: { n: 1 } },
    ];
    // Act
    await makeStore().transact(ops);
    // Assess
    const sent = ddb.commandCalls(TransactWriteCommand).map((c) => c.args[0].input);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.TransactItems).toEqual(sent[0]!.TransactItems);
    expect(sent[1]!.ClientRequestToken).not.toBe(sent[0]!.ClientRequestToken);
    // only the update that may apply to no item is guarded and asks for the item; the balance's condition already needs a live one
    expect(sent[0]!.TransactItems!.map((t) => [t.Update!.ConditionExpression, t.Update!.ReturnValuesOnConditionCheckFailure])).toEqual([
      ["attribute_exists(#n0) AND #n0 >= :v2 AND (attribute_not_exists(#n2) OR #n2 > :v3)", undefined],
      ["attribute_not_exists(#n1) OR #n2 > :v1", "ALL_OLD"],
    ]);
    expect(ddb.commandCalls(DeleteCommand).map((c) => c.args[0].input)).toEqual([sweep("chain#counter", "c")]);
  });

  it("a condition that fails on a live item stays ConditionFailedError, and one that needs a live item fails on an expired one as on none: nothing is swept", async () => {
    // Prepare
    const live = { ...expiredRaw("jobs#j", "job"), _exp: { N: String(NOW_S + 60) } };
    ddb
      .on(UpdateCommand)
      .rejectsOnce(failedWith(live))
      .rejectsOnce(failedWith(expiredRaw("jobs#j", "job")));
    ddb.on(TransactWriteCommand).rejects(
      cancelledWith([
        { Code: "ConditionalCheckFailed", Item: expiredRaw("jobs#a", "job") },
        { Code: "ConditionalCheckFailed", Item: live },
      ]),
    );
    const store = makeStore();
    // Act
    const onLive = await store
      .transact([{ op: "update", table: "jobs", key: { pk: "j", sk: "job" }, set: { a: 1 }, when: { kind: "notExists" } }])
      .catch((e: unknown) => e);
    const needsLive = await store
      .transact([{ op: "update", table: "jobs", key: { pk: "j", sk: "job" }, set: { a: 1 }, when: { kind: "exists" } }])
      .catch((e: unknown) => e);
    const mixed = await store
      .transact([
        { op: "update", table: "jobs", key: { pk: "a", sk: "job" }, set: { a: 1 } },
        { op: "update", table: "jobs", key: { pk: "b", sk: "job" }, set: { a: 1 }, when: { kind: "notExists" } },
      ])
      .catch((e: unknown) => e);
    // Assess
    expect(onLive).toBeInstanceOf(ConditionFailedError);
    expect(needsLive).toBeInstanceOf(ConditionFailedError);
    expect(mixed).toBeInstanceOf(ConditionFailedError);
    expect((mixed as ConditionFailedError).index).toBe(1);
    expect(ddb.commandCalls(DeleteCommand)).toHaveLength(0);
  });

  it("an expired item that keeps coming back is swept 3 times, then the write fails as store_busy (retry)", async () => {
    // Prepare
    ddb.on(UpdateCommand).rejects(failedWith(expiredRaw("chain#counter", "c")));
    ddb.on(DeleteCommand).resolves({});
    // Act
    const err = await makeStore()
      .transact([{ op: "update", table: "chain", key: { pk: "counter", sk: "c" }, add: { n: 1 } }])
      .catch((e: unknown) => e);
    // Assess
    expect(err).toBeInstanceOf(StoreBusyError);
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(4);
    expect(ddb.commandCalls(DeleteCommand)).toHaveLength(3);
  });
});
