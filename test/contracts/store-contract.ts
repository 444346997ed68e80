/**
 * The behaviour every Store adapter must show. `describeStoreContract` needs only
 * single-op transactions (the AWS adapter runs it against dynalite, which lacks
 * TransactWriteItems); `describeStoreTransactions` covers multi-op atomicity and isolation.
 * Each test gets a fresh store from `make` and closes it afterwards.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConditionFailedError, type Condition, type Item, type Store, type WriteOp } from "../../core/ports";

export type ClosableStore = Store & { close?(): Promise<void> };

// ---------------------------------------------------------------- factories
let seq = 0;
/** A unique pk per call, so adapters that share state between tests still see fresh items. */
export const uniquePk = (prefix: string) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${seq++}`;

export const jobItem = (overrides: Partial<Item> = {}): Item => ({
  pk: uniquePk("job"),
  sk: "job",
  state: "queued",
  model: "llama-3.1-8b",
  priceNano: 1_500_000_000n,
  attempts: 0,
  ...overrides,
});

export const accountItem = (pk: string, available: bigint): Item => ({ pk, sk: "balance", available, reserved: 0n });

export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Awaits a promise expected to reject with ConditionFailedError and returns the error. */
export async function conditionFailure(p: Promise<unknown>): Promise<ConditionFailedError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConditionFailedError);
  return error as ConditionFailedError;
}

function useStore(make: () => Promise<ClosableStore>): () => ClosableStore {
  let store: ClosableStore | undefined;
  beforeEach(async () => {
    store = await make();
  });
  afterEach(async () => {
    await store?.close?.();
    store = undefined;
  });
  return () => store!;
}

// ---------------------------------------------------------------- single-item contract
export function describeStoreContract(name: string, make: () => Promise<ClosableStore>): void {
  describe(`Store contract: ${name}`, () => {
    const store = useStore(make);

    describe("put and get", () => {
      it("returns what was put, bigints as bigints and numbers as numbers", async () => {
        // Prepare
        const item = jobItem({ huge: 2n ** 80n, negative: -7n, ratio: 0.25, tags: ["a", "b"], nested: { x: 1n } });
        // Act
        await store().transact([{ op: "put", table: "jobs", item }]);
        const got = await store().get("jobs", { pk: item.pk, sk: "job" });
        // Assess
        expect(got).toEqual(item);
        expect(typeof got?.priceNano).toBe("bigint");
        expect(typeof got?.attempts).toBe("number");
        expect(got?.huge).toBe(2n ** 80n);
      });

      it("returns undefined for a missing item", async () => {
        expect(await store().get("jobs", { pk: uniquePk("missing"), sk: "job" })).toBeUndefined();
      });

      it("keeps tables apart", async () => {
        const item = jobItem();
        await store().transact([{ op: "put", table: "jobs", item }]);
        expect(await store().get("quotes", { pk: item.pk, sk: "job" })).toBeUndefined();
      });

      it("drops undefined attributes on put", async () => {
        const item = jobItem({ gone: undefined });
        await store().transact([{ op: "put", table: "jobs", item }]);
        const got = await store().get("jobs", item);
        expect(got).not.toHaveProperty("gone");
      });

      it("put replaces the whole item", async () => {
        const item = jobItem({ extra: "x" });
        await store().transact([{ op: "put", table: "jobs", item }]);
        await store().transact([{ op: "put", table: "jobs", item: { pk: item.pk, sk: "job", state: "done" } }]);
        expect(await store().get("jobs", item)).toEqual({ pk: item.pk, sk: "job", state: "done" });
      });

      it("delete removes the item", async () => {
        const item = jobItem();
        await store().transact([{ op: "put", table: "jobs", item }]);
        await store().transact([{ op: "delete", table: "jobs", key: item }]);
        expect(await store().get("jobs", item)).toBeUndefined();
      });
    });

    describe("conditions", () => {
      it("rejects a duplicate put under notExists with ConditionFailedError index 0 and keeps the first", async () => {
        // Prepare
        const item = jobItem();
        await store().transact([{ op: "put", table: "jobs", item, when: { kind: "notExists" } }]);
        // Act
        const error = await conditionFailure(
          store().transact([{ op: "put", table: "jobs", item: { ...item, state: "other" }, when: { kind: "notExists" } }]),
        );
        // Assess
        expect(error.index).toBe(0);
        expect((await store().get("jobs", item))?.state).toBe("queued");
      });

      it("exists fails on a missing item", async () => {
        const key = { pk: uniquePk("job"), sk: "job" };
        const error = await conditionFailure(
          store().transact([{ op: "update", table: "jobs", key, set: { a: 1 }, when: { kind: "exists" } }]),
        );
        expect(error.index).toBe(0);
        expect(await store().get("jobs", key)).toBeUndefined();
      });

      it("compares bigints with >= at the boundary", async () => {
        // Prepare
        const pk = uniquePk("acct");
        await store().transact([{ op: "put", table: "accounts", item: accountItem(pk, 10n) }]);
        const debit = (amount: bigint): WriteOp[] => [
          {
            op: "update",
            table: "accounts",
            key: { pk, sk: "balance" },
            add: { available: -amount },
            when: { kind: "cmp", attr: "available", op: ">=", value: amount },
          },
        ];
        // Act
        const tooMuch = await conditionFailure(store().transact(debit(11n)));
        await store().transact(debit(10n));
        // Assess
        expect(tooMuch.index).toBe(0);
        expect((await store().get("accounts", { pk, sk: "balance" }))?.available).toBe(0n);
      });

      it("compares a bigint attribute with a number value numerically", async () => {
        const pk = uniquePk("acct");
        await store().transact([{ op: "put", table: "accounts", item: accountItem(pk, 5n) }]);
        await store().transact([
          { op: "check", table: "accounts", key: { pk, sk: "balance" }, when: { kind: "cmp", attr: "available", op: "=", value: 5 } },
        ]);
        await conditionFailure(
          store().transact([
            { op: "check", table: "accounts", key: { pk, sk: "balance" }, when: { kind: "cmp", attr: "available", op: ">", value: 5 } },
          ]),
        );
      });

      it.each([
        ["=", "queued", true],
        ["=", "running", false],
        ["<>", "running", true],
        ["<>", "queued", false],
        ["<", "r", true],
        ["<=", "queued", true],
        [">", "queued", false],
        [">=", "a", true],
      ] as const)("cmp state %s %s is %s", async (op, value, holds) => {
        const item = jobItem();
        await store().transact([{ op: "put", table: "jobs", item }]);
        const tx = store().transact([{ op: "check", table: "jobs", key: item, when: { kind: "cmp", attr: "state", op, value } }]);
        if (holds) await tx;
        else expect((await conditionFailure(tx)).index).toBe(0);
      });

      it("cmp on a missing attribute is false, even for <>", async () => {
        const item = jobItem();
        await store().transact([{ op: "put", table: "jobs", item }]);
        await conditionFailure(
          store().transact([{ op: "check", table: "jobs", key: item, when: { kind: "cmp", attr: "nope", op: "<>", value: "x" } }]),
        );
      });

      it("cmp on a boolean supports = and <>", async () => {
        const item = jobItem({ paid: true });
        await store().transact([{ op: "put", table: "jobs", item }]);
        await store().transact([{ op: "check", table: "jobs", key: item, when: { kind: "cmp", attr: "paid", op: "=", value: true } }]);
        await conditionFailure(
          store().transact([{ op: "check", table: "jobs", key: item, when: { kind: "cmp", attr: "paid", op: "<>", value: true } }]),
        );
      });

      it("in and and combine", async () => {
        const item = jobItem({ attempts: 2 });
        await store().transact([{ op: "put", table: "jobs", item }]);
        const when = (states: string[]): Condition => ({
          kind: "and",
          all: [{ kind: "exists" }, { kind: "in", attr: "state", values: states }, { kind: "cmp", attr: "attempts", op: "<", value: 3 }],
        });
        await store().transact([{ op: "update", table: "jobs", key: item, set: { state: "running" }, when: when(["queued", "retry"]) }]);
        const error = await conditionFailure(
          store().transact([{ op: "update", table: "jobs", key: item, set: { state: "x" }, when: when(["queued"]) }]),
        );
        expect(error.index).toBe(0);
        expect((await store().get("jobs", item))?.state).toBe("running");
      });

      it("a failed condition on delete keeps the item", async () => {
        const item = jobItem();
        await store().transact([{ op: "put", table: "jobs", item }]);
        await conditionFailure(
          store().transact([{ op: "delete", table: "jobs", key: item, when: { kind: "cmp", attr: "state", op: "=", value: "done" } }]),
        );
        expect(await store().get("jobs", item)).toEqual(item);
      });
    });

    describe("update", () => {
      it("add on a missing attribute starts from 0 and keeps bigint as bigint", async () => {
        const key = { pk: uniquePk("acct"), sk: "balance" };
        await store().transact([{ op: "update", table: "accounts", key, add: { available: 25n, count: 1 } }]);
        await store().transact([{ op: "update", table: "accounts", key, add: { available: 5n, count: 2 } }]);
        expect(await store().get("accounts", key)).toEqual({ ...key, available: 30n, count: 3 });
      });

      it("set with undefined removes the attribute and keeps the others", async () => {
        const item = jobItem({ lease: "worker-1" });
        await store().transact([{ op: "put", table: "jobs", item }]);
        await store().transact([{ op: "update", table: "jobs", key: item, set: { lease: undefined, state: "queued-again" } }]);
        const got = await store().get("jobs", item);
        expect(got).not.toHaveProperty("lease");
        expect(got).toMatchObject({ state: "queued-again", model: "llama-3.1-8b", priceNano: 1_500_000_000n });
      });
    });

    describe("query", () => {
      it("returns the pk's items in sk order, filtered by skPrefix and cut by limit", async () => {
        // Prepare
        const pk = uniquePk("model");
        const sks = ["w#3", "w#1", "x#1", "w#2", "v#9", "w#10"];
        for (const sk of sks) await store().transact([{ op: "put", table: "offers", item: { pk, sk, n: sk } }]);
        await store().transact([{ op: "put", table: "offers", item: { pk: `${pk}x`, sk: "w#0" } }]);
        // Act
        const all = await store().query("offers", pk);
        const w = await store().query("offers", pk, { skPrefix: "w#" });
        const w2 = await store().query("offers", pk, { skPrefix: "w#", limit: 2 });
        // Assess
        expect(all.map((i) => i.sk)).toEqual(["v#9", "w#1", "w#10", "w#2", "w#3", "x#1"]);
        expect(w.map((i) => i.sk)).toEqual(["w#1", "w#10", "w#2", "w#3"]);
        expect(w2.map((i) => i.sk)).toEqual(["w#1", "w#10"]);
        expect(w2[0]).toEqual({ pk, sk: "w#1", n: "w#1" });
      });

      it("returns [] for an unknown pk", async () => {
        expect(await store().query("offers", uniquePk("none"))).toEqual([]);
      });
    });

    describe("ttl", () => {
      it("treats an item whose ttl has passed as absent for get, query and conditions", async () => {
        // Prepare
        const pk = uniquePk("nonce");
        await store().transact([{ op: "put", table: "nonces", item: { pk, sk: "old", ttl: nowSeconds() - 5 } }]);
        await store().transact([{ op: "put", table: "nonces", item: { pk, sk: "new", ttl: nowSeconds() + 3600 } }]);
        // Act
        const old = await store().get("nonces", { pk, sk: "old" });
        const listed = await store().query("nonces", pk);
        await store().transact([
          { op: "put", table: "nonces", item: { pk, sk: "old", ttl: nowSeconds() + 3600, again: true }, when: { kind: "notExists" } },
        ]);
        const dup = await conditionFailure(
          store().transact([{ op: "put", table: "nonces", item: { pk, sk: "new" }, when: { kind: "notExists" } }]),
        );
        // Assess
        expect(old).toBeUndefined();
        expect(listed.map((i) => i.sk)).toEqual(["new"]);
        expect((await store().get("nonces", { pk, sk: "old" }))?.again).toBe(true);
        expect(dup.index).toBe(0);
      });

      it("an update of an expired item starts from an empty item", async () => {
        const key = { pk: uniquePk("nonce"), sk: "n" };
        await store().transact([{ op: "put", table: "nonces", item: { ...key, stale: 1, ttl: nowSeconds() - 1 } }]);
        await store().transact([{ op: "update", table: "nonces", key, add: { count: 1 } }]);
        expect(await store().get("nonces", key)).toEqual({ ...key, count: 1 });
      });
    });
  });
}

// ---------------------------------------------------------------- multi-op transactions
export function describeStoreTransactions(name: string, make: () => Promise<ClosableStore>): void {
  describe(`Store transactions: ${name}`, () => {
    const store = useStore(make);

    it("applies all ops of a transaction together", async () => {
      const jobPk = uniquePk("job");
      const acct = uniquePk("acct");
      await store().transact([{ op: "put", table: "accounts", item: accountItem(acct, 100n) }]);
      await store().transact([
        { op: "put", table: "jobs", item: { pk: jobPk, sk: "job", state: "queued" }, when: { kind: "notExists" } },
        {
          op: "update",
          table: "accounts",
          key: { pk: acct, sk: "balance" },
          add: { available: -40n, reserved: 40n },
          when: { kind: "cmp", attr: "available", op: ">=", value: 40n },
        },
        { op: "put", table: "ledger", item: { pk: `${jobPk}#reserve`, sk: "tx", amount: 40n }, when: { kind: "notExists" } },
      ]);
      expect(await store().get("accounts", { pk: acct, sk: "balance" })).toMatchObject({ available: 60n, reserved: 40n });
      expect(await store().get("jobs", { pk: jobPk, sk: "job" })).toBeDefined();
      expect(await store().get("ledger", { pk: `${jobPk}#reserve`, sk: "tx" })).toEqual({ pk: `${jobPk}#reserve`, sk: "tx", amount: 40n });
    });

    it("is all-or-nothing: a failing 3rd condition leaves ops 1 and 2 unapplied", async () => {
      // Prepare
      const jobPk = uniquePk("job");
      const acct = uniquePk("acct");
      const ledgerPk = `${jobPk}#reserve`;
      await store().transact([{ op: "put", table: "accounts", item: accountItem(acct, 100n) }]);
      await store().transact([{ op: "put", table: "ledger", item: { pk: ledgerPk, sk: "tx", amount: 1n } }]);
      // Act
      const error = await conditionFailure(
        store().transact([
          { op: "put", table: "jobs", item: { pk: jobPk, sk: "job", state: "queued" }, when: { kind: "notExists" } },
          { op: "update", table: "accounts", key: { pk: acct, sk: "balance" }, add: { available: -40n, reserved: 40n } },
          { op: "put", table: "ledger", item: { pk: ledgerPk, sk: "tx", amount: 40n }, when: { kind: "notExists" } },
        ]),
      );
      // Assess
      expect(error.index).toBe(2);
      expect(await store().get("jobs", { pk: jobPk, sk: "job" })).toBeUndefined();
      expect(await store().get("accounts", { pk: acct, sk: "balance" })).toEqual(accountItem(acct, 100n));
      expect(await store().get("ledger", { pk: ledgerPk, sk: "tx" })).toEqual({ pk: ledgerPk, sk: "tx", amount: 1n });
    });

    it("a check op gates the writes without writing", async () => {
      const worker = uniquePk("worker");
      const jobPk = uniquePk("job");
      await store().transact([{ op: "put", table: "workers", item: { pk: worker, sk: "worker", status: "draining" } }]);
      const error = await conditionFailure(
        store().transact([
          { op: "put", table: "jobs", item: { pk: jobPk, sk: "job", worker } },
          {
            op: "check",
            table: "workers",
            key: { pk: worker, sk: "worker" },
            when: { kind: "cmp", attr: "status", op: "=", value: "active" },
          },
        ]),
      );
      expect(error.index).toBe(1);
      expect(await store().get("jobs", { pk: jobPk, sk: "job" })).toBeUndefined();
    });

    it("isolates concurrent read-check-write: 50 debits of 10 against 200 → exactly 20 succeed, balance 0", async () => {
      // Prepare
      const acct = uniquePk("acct");
      const key = { pk: acct, sk: "balance" };
      await store().transact([{ op: "put", table: "accounts", item: accountItem(acct, 200n) }]);
      const debit = (i: number): WriteOp[] => [
        { op: "update", table: "accounts", key, add: { available: -10n }, when: { kind: "cmp", attr: "available", op: ">=", value: 10n } },
        { op: "put", table: "ledger", item: { pk: `${acct}#debit-${i}`, sk: "tx", amount: 10n }, when: { kind: "notExists" } },
      ];
      // Act
      const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => store().transact(debit(i))));
      // Assess
      const ok = results.filter((r) => r.status === "fulfilled");
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(ok).toHaveLength(20);
      expect(failed).toHaveLength(30);
      for (const f of failed) {
        expect(f.reason).toBeInstanceOf(ConditionFailedError);
        expect((f.reason as ConditionFailedError).index).toBe(0);
      }
      expect((await store().get("accounts", key))?.available).toBe(0n);
      const ledger = await Promise.all(Array.from({ length: 50 }, (_, i) => store().get("ledger", { pk: `${acct}#debit-${i}`, sk: "tx" })));
      expect(ledger.filter(Boolean)).toHaveLength(20);
    });

    it("an empty transaction is a no-op", async () => {
      await expect(store().transact([])).resolves.toBeUndefined();
    });
  });
}
