/**
 * core/store-rules.ts: DynamoDB refuses an item over 400 KB (attribute names and values
 * together). Every store refuses it the same way, with STORE_ITEM_TOO_LARGE and nothing
 * written, so a local test sees what DynamoDB would do.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mockClient } from "aws-sdk-client-mock";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { DynamoStore } from "../functions/adapters/dynamo-store";
import { createMemoryStore } from "../local/memory-store";
import { openLmdbStore } from "../local/store-lmdb";
import type { Item, Store, WriteOp } from "./ports";
import { itemBytes, MAX_ITEM_BYTES, StoreValidationError } from "./store-rules";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "cocoon-size-"));
  dirs.push(dir);
  return dir;
};

const stores = [
  ["memory", async (): Promise<Store> => createMemoryStore()],
  ["lmdb", async (): Promise<Store> => openLmdbStore(tempDir(), { durable: false })],
] as const;

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

describe("the DynamoDB adapter refuses it the same way, before any request", () => {
  const ddb = mockClient(DynamoDBDocumentClient);
  beforeEach(() => ddb.reset());

  it("a put of a 401 KiB item is STORE_ITEM_TOO_LARGE and nothing is sent", async () => {
    // Prepare
    const store = new DynamoStore({
      table: "cocoon-test-Data",
      client: new DynamoDBClient({ region: "us-east-1", credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" } }),
      now: () => Date.UTC(2026, 10, 25),
    });
    // Act
    const out = await refusal(store.transact([{ op: "put", table: "jobs", item: itemOf(401 * KB) }]));
    // Assess
    expect(out).toMatchObject({ code: "STORE_ITEM_TOO_LARGE" });
    expect(ddb.calls()).toHaveLength(0);
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
});
