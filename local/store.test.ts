import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import type { Clock, Item, WriteOp } from "../core/ports";
import { describeStoreContract, describeStoreTransactions, uniquePk } from "../test/contracts/store-contract";
import { createMemoryStore } from "./memory-store";
import { open } from "lmdb";
import { LMDB_FILE, openLmdbStore } from "./store-lmdb";
import { StoreValidationError, type StoreValidationCode } from "./store-semantics";

const storeDir = () => tempDir("cocoon-store-");

const fakeClock = (startMs = Date.UTC(2025, 0, 1)) => {
  let now = startMs;
  return { now: () => now, advance: (ms: number) => void (now += ms) } satisfies Clock & { advance(ms: number): void };
};

describeStoreContract("memory", async () => createMemoryStore());
describeStoreTransactions("memory", async () => createMemoryStore());
describeStoreContract("lmdb", () => openLmdbStore(storeDir()));
describeStoreTransactions("lmdb", () => openLmdbStore(storeDir()));

const stores = [
  ["memory", (clock?: Clock) => Promise.resolve(createMemoryStore({ clock }))],
  ["lmdb", (clock?: Clock) => openLmdbStore(storeDir(), { clock })],
] as const;

describe.each(stores)("local store validation: %s", (_name, make) => {
  const rejects = async (ops: WriteOp[], code: StoreValidationCode, index?: number) => {
    const store = await make();
    try {
      const error = await store.transact(ops).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StoreValidationError);
      expect((error as StoreValidationError).code).toBe(code);
      if (index !== undefined) expect((error as StoreValidationError).index).toBe(index);
    } finally {
      await store.close();
    }
  };
  const put = (pk: string, extra: Partial<Item> = {}): WriteOp => ({ op: "put", table: "jobs", item: { pk, sk: "job", ...extra } });

  it("rejects more than 100 ops with STORE_TOO_MANY_OPS", () =>
    rejects(
      Array.from({ length: 101 }, (_, i) => put(`j${i}`)),
      "STORE_TOO_MANY_OPS",
    ));

  it("rejects two ops on one item with STORE_DUPLICATE_ITEM", () =>
    rejects([put("a"), put("b"), { op: "update", table: "jobs", key: { pk: "a", sk: "job" }, set: { x: 1 } }], "STORE_DUPLICATE_ITEM", 2));

  it("rejects an empty pk or sk with STORE_BAD_KEY", async () => {
    await rejects([put("")], "STORE_BAD_KEY", 0);
    await rejects([{ op: "put", table: "jobs", item: { pk: "a", sk: "" } }], "STORE_BAD_KEY", 0);
  });

  it("rejects an oversized key with STORE_BAD_KEY", () => rejects([put("k".repeat(2000))], "STORE_BAD_KEY", 0));

  it("rejects updating pk with STORE_BAD_UPDATE", () =>
    rejects([{ op: "update", table: "jobs", key: { pk: "a", sk: "job" }, set: { pk: "b" } }], "STORE_BAD_UPDATE", 0));

  it("rejects set and add of one attribute with STORE_BAD_UPDATE", () =>
    rejects([{ op: "update", table: "jobs", key: { pk: "a", sk: "job" }, set: { n: 1 }, add: { n: 1 } }], "STORE_BAD_UPDATE", 0));

  it("rejects adding a non-number with STORE_NOT_A_NUMBER", () =>
    rejects([{ op: "update", table: "jobs", key: { pk: "a", sk: "job" }, add: { n: "1" as unknown as number } }], "STORE_NOT_A_NUMBER", 0));

  it("rejects adding to a string attribute with STORE_NOT_A_NUMBER and writes none of the transaction", async () => {
    // Prepare
    const store = await make();
    await store.transact([put("a", { state: "queued" })]);
    // Act
    const error = await store.transact([put("b"), { op: "update", table: "jobs", key: { pk: "a", sk: "job" }, add: { state: 1 } }]).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Assess
    expect((error as StoreValidationError).code).toBe("STORE_NOT_A_NUMBER");
    expect((error as StoreValidationError).index).toBe(1);
    expect(await store.get("jobs", { pk: "b", sk: "job" })).toBeUndefined();
    await store.close();
  });

  it("adds a number delta to a bigint attribute as a bigint", async () => {
    const store = await make();
    const key = { pk: "acct", sk: "balance" };
    await store.transact([{ op: "put", table: "accounts", item: { ...key, available: 10n } }]);
    await store.transact([{ op: "update", table: "accounts", key, add: { available: 5 } }]);
    expect((await store.get("accounts", key))?.available).toBe(15n);
    await store.close();
  });

  it("expires items exactly at ttl on the injected clock and purges them", async () => {
    // Prepare
    const clock = fakeClock();
    const store = await make(clock);
    const ttl = clock.now() / 1000 + 60;
    await store.transact([{ op: "put", table: "nonces", item: { pk: "k#1", sk: "n", ttl } }]);
    // Act
    clock.advance(59_999);
    const before = await store.get("nonces", { pk: "k#1", sk: "n" });
    clock.advance(1);
    const at = await store.get("nonces", { pk: "k#1", sk: "n" });
    const purged = await store.purgeExpired();
    // Assess
    expect(before?.ttl).toBe(ttl);
    expect(at).toBeUndefined();
    expect(purged).toBe(1);
    expect(await store.purgeExpired()).toBe(0);
    await store.close();
  });

  it("refuses calls after close", async () => {
    const store = await make();
    await store.close();
    await expect(store.get("jobs", { pk: "a", sk: "job" })).rejects.toThrow(/closed/);
  });
});

describe("memory store", () => {
  it("copies values in and out so callers cannot mutate stored items", async () => {
    const store = createMemoryStore();
    const item = { pk: "a", sk: "job", tags: ["x"] };
    await store.transact([{ op: "put", table: "jobs", item }]);
    item.tags.push("mutated");
    const got = await store.get<typeof item>("jobs", { pk: "a", sk: "job" });
    got!.tags.push("again");
    expect((await store.get("jobs", { pk: "a", sk: "job" }))?.tags).toEqual(["x"]);
  });
});

describe("lmdb store durability", () => {
  it("keeps committed data across close and reopen in the same directory", async () => {
    // Prepare
    const dir = storeDir();
    const first = await openLmdbStore(dir);
    const pk = uniquePk("acct");
    await first.transact([{ op: "put", table: "accounts", item: { pk, sk: "balance", available: 2n ** 70n, note: "é😀" } }]);
    await first.close();
    // Act
    const second = await openLmdbStore(dir);
    const got = await second.get("accounts", { pk, sk: "balance" });
    await second.close();
    // Assess
    expect(got).toEqual({ pk, sk: "balance", available: 2n ** 70n, note: "é😀" });
  });

  it("reads and updates items an earlier version wrote as msgpackr records, and writes plain msgpack maps", async () => {
    // Prepare: the database as openLmdbStore wrote it before issue 12 (lmdb's default records)
    const dir = storeDir();
    const item = {
      pk: "old",
      sk: "job",
      attempt: 100, // a positive fixint in the range records reserve (0x40-0x7f)
      candidates: [
        { workerId: "w1", tier: "dev" },
        { workerId: "w2", tier: "dev" },
      ],
      header: { maxTokens: 64, nested: { deep: [1, 65, 127, "x"] } },
      available: 2n ** 70n,
    };
    const old = open({ path: join(dir, LMDB_FILE), compression: false, encoder: { useBigIntExtension: true } });
    await old.put(["jobs", "old", "job"], item);
    expect(old.getBinary(["jobs", "old", "job"])![0]).toBe(0xd4); // a record definition (msgpack fixext 1, type "r")
    await old.close();
    // Act
    const store = await openLmdbStore(dir);
    const read = await store.get("jobs", { pk: "old", sk: "job" });
    await store.transact([{ op: "update", table: "jobs", key: { pk: "old", sk: "job" }, add: { attempt: 1 }, set: { status: "x" } }]);
    const updated = await store.get("jobs", { pk: "old", sk: "job" });
    await store.close();
    const raw = open({ path: join(dir, LMDB_FILE), compression: false });
    const first = raw.getBinary(["jobs", "old", "job"])![0]!;
    await raw.close();
    // Assess
    expect(read).toEqual(item);
    expect(updated).toEqual({ ...item, attempt: 101, status: "x" });
    expect((first >= 0x80 && first <= 0x8f) || first === 0xde || first === 0xdf).toBe(true); // a msgpack map: no record definition
  });

  it("shares data with a second process that opens the same directory", async () => {
    // Prepare: this process keeps the store open while a child process reads and writes
    const dir = storeDir();
    const store = await openLmdbStore(dir);
    await store.transact([{ op: "put", table: "accounts", item: { pk: "parent", sk: "balance", available: 100n } }]);
    const script = join(dir, "child.mts");
    const storeModule = fileURLToPath(new URL("./store-lmdb.ts", import.meta.url));
    writeFileSync(
      script,
      `import { openLmdbStore } from ${JSON.stringify(storeModule)};
const store = await openLmdbStore(process.argv[2]);
const seen = await store.get("accounts", { pk: "parent", sk: "balance" });
await store.transact([
  { op: "update", table: "accounts", key: { pk: "parent", sk: "balance" }, add: { available: -30n }, when: { kind: "cmp", attr: "available", op: ">=", value: 30n } },
  { op: "put", table: "ledger", item: { pk: "child-debit", sk: "tx", amount: 30n }, when: { kind: "notExists" } },
]);
await store.close();
console.log(JSON.stringify({ available: String(seen?.available) }));
`,
    );
    // Act
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", script, dir], { cwd: process.cwd() });
    // Assess
    expect(JSON.parse(stdout.trim())).toEqual({ available: "100" });
    expect(await store.get("accounts", { pk: "parent", sk: "balance" })).toEqual({ pk: "parent", sk: "balance", available: 70n });
    expect(await store.get("ledger", { pk: "child-debit", sk: "tx" })).toEqual({ pk: "child-debit", sk: "tx", amount: 30n });
    await store.close();
  });
});
