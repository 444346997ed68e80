/**
 * core/store-rules.ts: DynamoDB refuses an item over 400 KB (attribute names and values
 * together), also one that an update grows past it, and a transaction over 4 MB. Every store
 * refuses them the same way, with STORE_ITEM_TOO_LARGE / STORE_TRANSACTION_TOO_LARGE and nothing
 * written, so a local test sees what DynamoDB would do.
 */
import { join } from "node:path";
import fc from "fast-check";
import { mockClient } from "aws-sdk-client-mock";
import { DynamoDBClient, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, TransactWriteCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { open } from "lmdb";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { DynamoStore } from "../functions/adapters/dynamo-store";
import { LMDB_ENCODER, msgpackItemBytesBound } from "../local/store-lmdb";
import { localStoreBackends } from "../local/store-backends-testing";
import type { Item, WriteOp } from "./ports";
import { itemBytes, MAX_ITEM_BYTES, MAX_TRANSACT_BYTES, StoreValidationError } from "./store-rules";

const { stores, tempDir } = localStoreBackends("size");

const KB = 1024;

/** Factory: an item of `bytes` as itemBytes counts it, padded in one string attribute of `char`s (1, 2 or 3 UTF-8 bytes each). */
function itemOf(bytes: number, o: { pk?: string; char?: string } = {}): Item {
  const base: Item = { pk: o.pk ?? "big", sk: "item", data: "" };
  const char = o.char ?? "x";
  const per = Buffer.byteLength(char, "utf8");
  const pad = bytes - itemBytes(base);
  const item = { ...base, data: char.repeat(Math.floor(pad / per)) + "x".repeat(pad % per) };
  expect(itemBytes(item)).toBe(bytes);
  return item;
}

/** The refusal of `p` (a StoreValidationError) as { code, message, index }, or "accepted". */
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => "accepted" as const,
    (e: unknown) => {
      if (!(e instanceof StoreValidationError)) throw e;
      return { code: e.code, message: e.message, index: e.index };
    },
  );

describe.each(stores)("the %s store refuses an item over DynamoDB's 400 KB", (_name, make) => {
  it("a put of a 401 KiB item is STORE_ITEM_TOO_LARGE naming the limit, and nothing of its transaction is written", async () => {
    // Prepare
    const store = await make();
    const ops: WriteOp[] = [
      { op: "put", table: "jobs", item: { pk: "small", sk: "item", n: 1 } },
      { op: "put", table: "jobs", item: itemOf(401 * KB) },
    ];
    // Act
    const out = await refusal(store.transact(ops));
    // Assess
    expect(out).toMatchObject({ code: "STORE_ITEM_TOO_LARGE", index: 1, message: expect.stringContaining(`${MAX_ITEM_BYTES}`) });
    expect(await store.get("jobs", { pk: "big", sk: "item" })).toBeUndefined();
    expect(await store.get("jobs", { pk: "small", sk: "item" })).toBeUndefined();
  });

  it("an item of exactly 400 KiB is stored; one byte more is refused", async () => {
    // Prepare
    const store = await make();
    const fits = itemOf(MAX_ITEM_BYTES, { pk: "fits" });
    const over = itemOf(MAX_ITEM_BYTES + 1, { pk: "over" });
    // Act
    const a = await refusal(store.transact([{ op: "put", table: "jobs", item: fits }]));
    const b = await refusal(store.transact([{ op: "put", table: "jobs", item: over }]));
    // Assess
    expect(a).toBe("accepted");
    expect(b).toMatchObject({ code: "STORE_ITEM_TOO_LARGE" });
    expect((await store.get("jobs", { pk: "fits", sk: "item" }))?.data).toBe(fits.data);
  });

  it("the size is UTF-8 bytes: 140,000 three-byte characters (420 KB) are refused, 140,000 one-byte ones stored", async () => {
    // Prepare
    const store = await make();
    const euros: Item = { pk: "euro", sk: "item", data: "€".repeat(140_000) };
    const ascii: Item = { pk: "ascii", sk: "item", data: "e".repeat(140_000) };
    // Act
    const a = await refusal(store.transact([{ op: "put", table: "jobs", item: euros }]));
    const b = await refusal(store.transact([{ op: "put", table: "jobs", item: ascii }]));
    // Assess
    expect(a).toMatchObject({ code: "STORE_ITEM_TOO_LARGE" });
    expect(b).toBe("accepted");
  });

  it("an update that sets a 401 KiB value is refused (the item it makes is at least that), and the item is unchanged", async () => {
    // Prepare
    const store = await make();
    await store.transact([{ op: "put", table: "workers", item: { pk: "w", sk: "worker", v: 1 } }]);
    const { data } = itemOf(401 * KB);
    // Act
    const out = await refusal(store.transact([{ op: "update", table: "workers", key: { pk: "w", sk: "worker" }, set: { data } }]));
    // Assess
    expect(out).toMatchObject({ code: "STORE_ITEM_TOO_LARGE", index: 0 });
    expect(await store.get("workers", { pk: "w", sk: "worker" })).toEqual({ pk: "w", sk: "worker", v: 1 });
  });
});

describe.each(stores)("the %s store refuses an update that grows an item past 400 KB, however small the update", (_name, make) => {
  it("the update that would cross it is STORE_ITEM_TOO_LARGE, nothing of its transaction is written, and the item stays as it was", async () => {
    // Prepare: an item 3 KiB under the limit, then updates adding 1 KB each (each small on its own)
    const store = await make();
    await store.transact([{ op: "put", table: "jobs", item: itemOf(MAX_ITEM_BYTES - 3 * KB) }]);
    const grow = (n: number): WriteOp[] => [
      { op: "put", table: "jobs", item: { pk: `side-${n}`, sk: "item", n } },
      { op: "update", table: "jobs", key: { pk: "big", sk: "item" }, set: { [`a${n}`]: "y".repeat(1000) }, add: { n: 1 } },
    ];
    const outs: Array<Awaited<ReturnType<typeof refusal>>> = [];
    // Act
    for (let n = 0; n < 4; n++) outs.push(await refusal(store.transact(grow(n))));
    // Assess
    expect(outs.slice(0, 3)).toEqual(["accepted", "accepted", "accepted"]);
    expect(outs[3]).toMatchObject({ code: "STORE_ITEM_TOO_LARGE", index: 1, message: expect.stringContaining("after the update") });
    const big = (await store.get("jobs", { pk: "big", sk: "item" }))!;
    expect(big).toMatchObject({ a2: "y".repeat(1000), n: 3 });
    expect(big.a3).toBeUndefined();
    expect(itemBytes(big)).toBeLessThanOrEqual(MAX_ITEM_BYTES);
    expect(await store.get("jobs", { pk: "side-3", sk: "item" })).toBeUndefined();
    expect(await store.get("jobs", { pk: "side-2", sk: "item" })).toMatchObject({ n: 2 });
  });

  it("updates that rewrite the same attributes of a large item are never refused, however many (the size is measured again near the limit)", async () => {
    // Prepare: 300 KiB, then 120 updates of 1 KB each that replace, not add: the item stays ~301 KiB
    const store = await make();
    await store.transact([{ op: "put", table: "jobs", item: itemOf(300 * KB) }]);
    // Act
    for (let n = 0; n < 120; n++) {
      await store.transact([
        { op: "update", table: "jobs", key: { pk: "big", sk: "item" }, set: { note: String(n % 10).repeat(1000) }, add: { n: 1 } },
      ]);
    }
    // Assess
    const big = (await store.get("jobs", { pk: "big", sk: "item" }))!;
    expect(big).toMatchObject({ note: "9".repeat(1000), n: 120 });
  });

  it("an update of an item past its TTL makes a fresh item of the update's values, sized as such", async () => {
    // Prepare: a 399 KiB item that expired; an update adding 2 KB to it would be over the limit if it merged
    const store = await make();
    await store.transact([{ op: "put", table: "jobs", item: { ...itemOf(MAX_ITEM_BYTES - KB), ttl: 1 } }]);
    // Act
    const out = await refusal(
      store.transact([{ op: "update", table: "jobs", key: { pk: "big", sk: "item" }, set: { b: "z".repeat(2000) } }]),
    );
    // Assess
    expect(out).toBe("accepted");
    expect(await store.get("jobs", { pk: "big", sk: "item" })).toEqual({ pk: "big", sk: "item", b: "z".repeat(2000) });
  });
});

describe.each(stores)("the %s store refuses a transaction over DynamoDB's 4 MB", (_name, make) => {
  it("eleven 390 KiB items together (4.2 MiB) are STORE_TRANSACTION_TOO_LARGE and none is written; ten (3.8 MiB) are stored", async () => {
    // Prepare
    const store = await make();
    const items = (n: number, prefix: string) =>
      Array.from({ length: n }, (_, i): WriteOp => ({ op: "put", table: "jobs", item: itemOf(390 * KB, { pk: `${prefix}${i}` }) }));
    // Act
    const over = await refusal(store.transact(items(11, "over")));
    const fits = await refusal(store.transact(items(10, "fits")));
    // Assess
    expect(over).toMatchObject({ code: "STORE_TRANSACTION_TOO_LARGE", message: expect.stringContaining(`${MAX_TRANSACT_BYTES}`) });
    expect(await store.get("jobs", { pk: "over0", sk: "item" })).toBeUndefined();
    expect(fits).toBe("accepted");
    expect(await store.get("jobs", { pk: "fits9", sk: "item" })).toBeDefined();
  });

  it("an update's written values count too; 100 ops is still the other limit", async () => {
    // Prepare
    const store = await make();
    const ops: WriteOp[] = Array.from({ length: 11 }, (_, i) => ({
      op: "update",
      table: "jobs",
      key: { pk: `u${i}`, sk: "item" },
      set: { data: itemOf(390 * KB).data },
    }));
    const many: WriteOp[] = Array.from({ length: 101 }, (_, i) => ({ op: "put", table: "chain", item: { pk: `tx${i}`, sk: "tx" } }));
    // Act
    const out = await refusal(store.transact(ops));
    const count = await refusal(store.transact(many));
    // Assess
    expect(out).toMatchObject({ code: "STORE_TRANSACTION_TOO_LARGE" });
    expect(count).toMatchObject({ code: "STORE_TOO_MANY_OPS" });
  });
});

describe("the LMDB store measures an updated item only when its encoding's length does not bound it under 400 KB", () => {
  const dir = tempDir();
  const db = open<unknown, string>({ path: join(dir, "bound.mdb"), compression: false, encoder: LMDB_ENCODER });
  const encoder = (db as unknown as { encoder: { encode(v: unknown): Uint8Array } }).encoder;
  afterAll(() => db.close());
  const holds = (item: Item) => expect(itemBytes(item)).toBeLessThanOrEqual(msgpackItemBytesBound(encoder.encode(item).length));

  it("itemBytes ≤ 4 × msgpack length + 32 for the shapes that count most per encoded byte", () => {
    // the worst ratios itemBytes has against msgpack: tiny numbers, empty lists and maps, bigints, tag-like maps, in lists
    const worst: Item[] = [
      { pk: "p", sk: "s" },
      { pk: "", sk: "", a: 100, b: 127, c: -32, d: [] },
      { pk: "p", sk: "s", l: Array.from({ length: 5000 }, () => 127) },
      { pk: "p", sk: "s", l: Array.from({ length: 5000 }, () => []) },
      { pk: "p", sk: "s", l: Array.from({ length: 5000 }, () => ({})) },
      { pk: "p", sk: "s", l: Array.from({ length: 5000 }, () => -(2n ** 63n)) },
      { pk: "p", sk: "s", l: Array.from({ length: 5000 }, () => ({ $obj: 0 })) },
      { pk: "p", sk: "s", l: Array.from({ length: 5000 }, () => ({ $bigint: [] })) },
      { pk: "p", sk: "s", l: Array.from({ length: 2000 }, () => [[[[[]]]]]) },
      { pk: "p", sk: "s", m: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [String(i), []])) },
      { pk: "p", sk: "s", ...Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`b${i}`, 18_446_744_073_709_551_615n])) },
      { pk: "p", sk: "s", l: [10n ** 100n, -(10n ** 60n), 0.30000000000000004, 1e-7, 1.234567890123456e-300] },
    ];
    for (const item of worst) holds(item);
  });

  it("and for any item of plain values (property)", () => {
    const value = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: "small" },
        fc.string({ unit: "binary" }),
        fc.integer(),
        fc.double(),
        fc.bigInt(),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie("v"), { maxLength: 8 }),
        fc.dictionary(fc.string(), tie("v"), { maxKeys: 8 }),
        tie("v").map((x) => ({ $bigint: x })),
        tie("v").map((x) => ({ $obj: x })),
      ),
    })).v;
    fc.assert(
      fc.property(fc.dictionary(fc.string(), value, { maxKeys: 10 }), (attrs) => {
        holds({ ...attrs, pk: "p", sk: "s" });
      }),
      { numRuns: 200 },
    );
  });
});

describe("the DynamoDB adapter refuses it the same way", () => {
  const ddb = mockClient(DynamoDBDocumentClient);
  beforeEach(() => ddb.reset());
  const dynamo = () =>
    new DynamoStore({
      table: "cocoon-test-Data",
      client: new DynamoDBClient({ region: "us-east-1", credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" } }),
      now: () => Date.UTC(2026, 10, 25),
      sleep: async () => {},
    });
  const grow: WriteOp = {
    op: "update",
    table: "jobs",
    key: { pk: "big", sk: "item" },
    set: { a: "y".repeat(1000) },
    when: { kind: "exists" },
  };

  it("a put of a 401 KiB item is STORE_ITEM_TOO_LARGE and nothing is sent", async () => {
    // Act
    const out = await refusal(dynamo().transact([{ op: "put", table: "jobs", item: itemOf(401 * KB) }]));
    // Assess
    expect(out).toMatchObject({ code: "STORE_ITEM_TOO_LARGE" });
    expect(ddb.calls()).toHaveLength(0);
  });

  it("a transaction over 4 MB is STORE_TRANSACTION_TOO_LARGE and nothing is sent", async () => {
    // Prepare
    const ops = Array.from({ length: 11 }, (_, i): WriteOp => ({ op: "put", table: "jobs", item: itemOf(390 * KB, { pk: `p${i}` }) }));
    // Act
    const out = await refusal(dynamo().transact(ops));
    // Assess
    expect(out).toMatchObject({ code: "STORE_TRANSACTION_TOO_LARGE" });
    expect(ddb.calls()).toHaveLength(0);
  });

  it("DynamoDB's refusal of an update that grows the stored item past 400 KB is STORE_ITEM_TOO_LARGE, alone or in a transaction, and not retried", async () => {
    // Prepare: what DynamoDB answers, which the adapter cannot foresee without the stored item
    const refused = Object.assign(new Error("Item size to update has exceeded the maximum allowed size"), {
      name: "ValidationException",
      $metadata: { httpStatusCode: 400 },
    });
    ddb.on(UpdateCommand).rejects(refused);
    ddb.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ValidationError]",
        $metadata: {},
        CancellationReasons: [
          { Code: "None" },
          { Code: "ValidationError", Message: "Item size to update has exceeded the maximum allowed size" },
        ],
      }),
    );
    // Act
    const alone = await refusal(dynamo().transact([grow]));
    const inTransaction = await refusal(dynamo().transact([{ op: "put", table: "jobs", item: { pk: "side", sk: "item" } }, grow]));
    // Assess
    expect(alone).toMatchObject({ code: "STORE_ITEM_TOO_LARGE", index: 0 });
    expect(inTransaction).toMatchObject({ code: "STORE_ITEM_TOO_LARGE", index: 1 });
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(1);
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(1);
  });

  it("a ValidationException for the transaction's size or an item's is the same error; any other passes through", async () => {
    // Prepare
    const validation = (message: string) => Object.assign(new Error(message), { name: "ValidationException", $metadata: {} });
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(validation("Transaction request cannot be larger than 4 MB"))
      .rejectsOnce(validation("Item size to update has exceeded the maximum allowed size"))
      .rejectsOnce(validation("One or more parameter values were invalid"));
    const ops: WriteOp[] = [{ op: "put", table: "jobs", item: { pk: "side", sk: "item" } }, grow];
    // Act
    const outs = [await refusal(dynamo().transact(ops)), await refusal(dynamo().transact(ops))];
    const other = await dynamo()
      .transact(ops)
      .catch((e: unknown) => e);
    // Assess
    expect(outs).toMatchObject([{ code: "STORE_TRANSACTION_TOO_LARGE" }, { code: "STORE_ITEM_TOO_LARGE" }]);
    expect(other).toMatchObject({ name: "ValidationException", message: "One or more parameter values were invalid" });
  });
});

describe("itemBytes: DynamoDB's count, never less", () => {
  it("counts attribute names and values, maps and lists with their overhead, and what the DynamoDB adapter adds", () => {
    // Prepare
    const bare = itemBytes({ pk: "p", sk: "s" }); // the adapter's allowance and the two keys
    // Act
    const sizes = {
      string: itemBytes({ pk: "p", sk: "s", name: "abc" }) - bare, // "name" 4 + "abc" 3
      multibyte: itemBytes({ pk: "p", sk: "s", a: "é€" }) - bare, // "a" 1 + 2 + 3
      number: itemBytes({ pk: "p", sk: "s", n: 12345 }) - bare, // "n" 1 + 1 + ceil(5/2)
      list: itemBytes({ pk: "p", sk: "s", l: ["ab", true, null] }) - bare, // "l" 1 + 3 + (1+2) + (1+1) + (1+1)
      map: itemBytes({ pk: "p", sk: "s", m: { k: "v", gone: undefined } }) - bare, // "m" 1 + 3 + 1 + "k" 1 + "v" 1
      bigint: itemBytes({ pk: "p", sk: "s", b: 12n }) - bare, // "b" 1 + 2, and its marker "_bi:b" 5 + 1
    };
    // Assess
    expect(bare).toBeGreaterThanOrEqual(2 + 2 + "idempotency#".length + "_exp".length);
    expect(sizes).toEqual({ string: 7, multibyte: 6, number: 5, list: 11, map: 7, bigint: 9 });
  });

  it("a number counts 1 byte and 1 per two digits of its decimal form, the sign not a digit, whole or not", () => {
    // Prepare: the count as the rule states it, on the decimal text (digits before any exponent)
    const bare = itemBytes({ pk: "p", sk: "s" });
    const byRule = (v: number | bigint) => 1 + 1 + Math.ceil(Math.max(String(v).split("e")[0]!.replace(/\D/g, "").length, 1) / 2);
    const numbers = fc.oneof(fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }), fc.double({ noNaN: true }), fc.bigInt());
    // Act + Assess: "n" 1 + the value (a bigint also its marker: "_bi:" 4 + "n" 1 + 1)
    fc.assert(
      fc.property(numbers, (v) => {
        const marker = typeof v === "bigint" ? 6 : 0;
        expect(itemBytes({ pk: "p", sk: "s", n: v }) - bare - marker).toBe(byRule(v));
      }),
    );
    expect([-12, -123456, -(2 ** 53) + 1, -5n].map((v) => itemBytes({ pk: "p", sk: "s", n: v }) - bare)).toEqual([3, 5, 10, 9]);
  });

  it("a map's size is the same whatever its entries' order, and an undefined entry counts nothing, also beside a $bigint or $obj name", () => {
    // Prepare
    const bare = itemBytes({ pk: "p", sk: "s" });
    const size = (m: Record<string, unknown>) => itemBytes({ pk: "p", sk: "s", m }) - bare;
    // Act
    const sizes = [
      size({ a: "x", b: 1 }),
      size({ b: 1, a: "x" }),
      size({ $bigint: "12" }), // a map whose only key is a tag is wrapped: 3 + 1 + "$obj" 4 more
      size({ $bigint: "12", gone: undefined }),
      size({ $obj: "12", other: "y" }),
      size({ other: "y", $bigint: "12" }), // not a tag alone: not wrapped
    ];
    // Assess: "m" 1 + 3 + per entry 1 + name + value (a number 1 + 1 per two digits)
    expect(sizes).toEqual([1 + 3 + 3 + 4, 1 + 3 + 3 + 4, 1 + 3 + 10 + 8, 1 + 3 + 10 + 8, 1 + 3 + 7 + 7, 1 + 3 + 7 + 10]);
  });
});
