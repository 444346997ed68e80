/**
 * core/ledger.ts, operation by operation (issue 14, mutation-checked): the exact write
 * operations a movement becomes (one guarded update per account, no empty updates), how a
 * failed transaction is read back (duplicate, which account overdrew, which extra condition),
 * including on an adapter that cannot say which condition failed, and the job movements'
 * exact postings. ledger.test.ts holds the conservation property over random sequences.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../local/memory-store";
import {
  applyMovement,
  faucetMovement,
  getBalance,
  holdMovement,
  movementOps,
  movementsOps,
  InvalidFeeError,
  OPERATOR_FEE_ACCOUNTS,
  OPERATOR_FEE_SHARDS,
  operatorFeeAccount,
  operatorFeeShard,
  operatorFee,
  OverdraftError,
  refundMovement,
  settleMovement,
  tabCloseMovement,
  toBig,
  UnbalancedMovementError,
  type Movement,
} from "./ledger";
import { ConditionFailedError, type Store, type WriteOp } from "./ports";

/** Factory: a movement from (account, field, delta) triples. */
const movement = (id: string, postings: Array<[string, "available" | "held", bigint]>): Movement => ({
  id,
  kind: "faucet",
  at: 7,
  postings: postings.map(([account, field, delta]) => ({ account, field, delta })),
});

/** Factory: a store with `balances` (available) already in place. */
async function storeWith(balances: Record<string, bigint>) {
  const store = createMemoryStore();
  for (const [account, amount] of Object.entries(balances)) {
    await applyMovement(
      store,
      movement(`seed:${account}`, [
        ["ext:seed", "available", -amount],
        [account, "available", amount],
      ]),
    );
  }
  return store;
}

/** The same store, but its ConditionFailedError never says which condition failed (like an adapter that cannot tell). */
function withoutIndex(store: Store): Store {
  return {
    ...store,
    get: store.get.bind(store),
    query: store.query.bind(store),
    async transact(ops: WriteOp[]) {
      try {
        await store.transact(ops);
      } catch (e) {
        if (e instanceof ConditionFailedError) throw new ConditionFailedError(undefined, e.message);
        throw e;
      }
    },
  };
}

describe("movementOps: the write operations of a movement", () => {
  it("an unbalanced movement is refused, naming the movement and by how much it is off", () => {
    // Prepare
    const m = movement("m-off", [
      ["req:a", "available", 5n],
      ["ext:x", "available", -2n],
    ]);
    // Act
    const err = (() => {
      try {
        movementOps(m);
      } catch (e) {
        return e as Error;
      }
    })();
    // Assess
    expect(err).toBeInstanceOf(UnbalancedMovementError);
    expect(err!.name).toBe("UnbalancedMovementError");
    expect(err!.message).toBe("movement m-off does not balance: sum of postings = 3");
  });

  it("the ledger item records every posting (deltas as text) and is written only if absent", () => {
    const m = {
      ...movement("m1", [
        ["ext:x", "available", -5n],
        ["req:a", "available", 5n],
      ]),
      meta: { why: "test" },
    };
    const [ledger] = movementOps(m);
    expect(ledger).toEqual({
      op: "put",
      table: "ledger",
      item: {
        pk: "m1",
        sk: "tx",
        kind: "faucet",
        at: 7,
        postings: [
          { account: "ext:x", field: "available", delta: "-5" },
          { account: "req:a", field: "available", delta: "5" },
        ],
        meta: { why: "test" },
      },
      when: { kind: "notExists" },
    });
    expect(movementOps(movement("m2", [])).at(0)).not.toHaveProperty("item.meta");
  });

  it("one update per account; a field that nets to zero is left out, and an account that nets to zero gets no update at all", () => {
    const ops = movementOps(
      movement("m", [
        ["req:a", "available", -4n],
        ["req:a", "available", 4n], // nets to zero: no update for req:a
        ["req:b", "available", -3n],
        ["req:b", "held", 3n], // two fields of one account: one update
      ]),
    );
    expect(ops.slice(1)).toEqual([
      {
        op: "update",
        table: "accounts",
        key: { pk: "req:b", sk: "balance" },
        add: { available: -3n, held: 3n },
        when: { kind: "cmp", attr: "available", op: ">=", value: 3n },
      },
    ]);
  });

  it("a debit of an internal account carries its guard; a debit of two fields carries both; external accounts and credits carry none", () => {
    const ops = movementOps(
      movement("m", [
        ["req:a", "available", -3n],
        ["req:a", "held", -2n],
        ["wrk:w", "available", 4n],
        ["ext:chain", "available", 1n],
        ["ext:faucet", "available", -1n], // external: no guard
        ["req:c", "available", 1n],
      ]),
    );
    const byAccount = Object.fromEntries(ops.slice(1).map((o) => [(o as Extract<WriteOp, { op: "update" }>).key.pk, o]));
    expect(byAccount["req:a"]).toMatchObject({
      when: {
        kind: "and",
        all: [
          { kind: "cmp", attr: "available", op: ">=", value: 3n },
          { kind: "cmp", attr: "held", op: ">=", value: 2n },
        ],
      },
    });
    expect(byAccount["wrk:w"]).not.toHaveProperty("when");
    expect(byAccount["ext:faucet"]).not.toHaveProperty("when");
    expect(byAccount["req:c"]).not.toHaveProperty("when");
  });
});

describe("applyMovement: what a failed transaction means", () => {
  for (const [name, wrap] of [
    ["an adapter that names the failed condition", (s: Store) => s],
    ["an adapter that cannot say which condition failed", withoutIndex],
  ] as const) {
    describe(name, () => {
      it("the same movement twice: applied, then duplicate, and the money moved once", async () => {
        const store = wrap(await storeWith({}));
        const m = faucetMovement("f1", "alice", 50n, 1);
        expect(await applyMovement(store, m)).toBe("applied");
        expect(await applyMovement(store, m)).toBe("duplicate");
        expect((await getBalance(store, "req:alice")).available).toBe(50n);
      });

      it("a movement recorded by another item (a job's hold, issue 12): no ledger item; twice is a duplicate, the money held once; short of money is an overdraft", async () => {
        // Prepare
        const store = wrap(await storeWith({ "req:a": 10n }));
        const record = { op: "put", table: "jobs", item: { pk: "job_1", sk: "job", maxCost: "4" }, when: { kind: "notExists" } } as const;
        const hold = holdMovement("job_1", "a", 4n, 1);

        // Act
        const first = await applyMovement(store, hold, [], undefined, record);
        const again = await applyMovement(store, hold, [], undefined, record);
        const short = await applyMovement(store, holdMovement("job_2", "a", 7n, 2), [], undefined, {
          ...record,
          item: { pk: "job_2", sk: "job" },
        }).catch((e) => e);

        // Assess
        expect([first, again]).toEqual(["applied", "duplicate"]);
        expect(await getBalance(store, "req:a")).toMatchObject({ available: 6n, held: 4n });
        expect(await store.get("ledger", { pk: "hold:job_1", sk: "tx" })).toBeUndefined();
        expect(short).toBeInstanceOf(OverdraftError);
        expect(short.account).toBe("req:a");
        expect(await store.get("jobs", { pk: "job_2", sk: "job" })).toBeUndefined();
      });

      it("a movement recorded by a conditioned update (a job's settlement, issue 12): once applied, its condition fails and it is a duplicate; an overdraft is still named", async () => {
        // Prepare: a job item at "assigned", and its requester's hold
        const store = wrap(await storeWith({ "req:a": 10n }));
        await applyMovement(store, holdMovement("job_1", "a", 4n, 1));
        await store.transact([{ op: "put", table: "jobs", item: { pk: "job_1", sk: "job", status: "assigned" } }]);
        const record = {
          op: "update",
          table: "jobs",
          key: { pk: "job_1", sk: "job" },
          set: { status: "completed" },
          when: { kind: "cmp", attr: "status", op: "=", value: "assigned" },
        } as const;
        const settle = settleMovement("job_1", "a", "w", 4n, 3n, 2);

        // Act
        const first = await applyMovement(store, settle, [], undefined, record);
        const again = await applyMovement(store, settle, [], undefined, record).catch((e) => e);
        const overdrawn = await applyMovement(store, settleMovement("job_2", "a", "w", 4n, 3n, 3), [], undefined, {
          ...record,
          key: { pk: "job_1", sk: "job" },
          when: { kind: "cmp", attr: "status", op: "=", value: "completed" },
        }).catch((e) => e);

        // Assess
        expect(first).toBe("applied");
        // an update record's condition cannot be read back: an adapter that does not name it
        // reports the overdraft the repeat also causes (postResult reads the job back either way)
        if (wrap === withoutIndex) expect(again).toBeInstanceOf(OverdraftError);
        else expect(again).toBe("duplicate");
        expect(await getBalance(store, "req:a")).toMatchObject({ available: 7n, held: 0n });
        expect(await getBalance(store, "wrk:w")).toMatchObject({ available: 3n });
        expect(await store.get("ledger", { pk: "settle:job_1", sk: "tx" })).toBeUndefined();
        expect(overdrawn).toBeInstanceOf(OverdraftError); // nothing held any more: the held debit is refused
        expect(overdrawn.account).toBe("req:a");
      });

      it("a settlement recorded by a conditioned update, repeated while the requester still holds enough for its other jobs: a duplicate, the money moved once", async () => {
        // Prepare: two jobs held (4 each), job_1 at "assigned" and settled once
        const store = wrap(await storeWith({ "req:a": 10n }));
        await applyMovement(store, holdMovement("job_1", "a", 4n, 1));
        await applyMovement(store, holdMovement("job_2", "a", 4n, 1));
        await store.transact([{ op: "put", table: "jobs", item: { pk: "job_1", sk: "job", status: "assigned" } }]);
        const record = {
          op: "update",
          table: "jobs",
          key: { pk: "job_1", sk: "job" },
          set: { status: "completed" },
          when: { kind: "cmp", attr: "status", op: "=", value: "assigned" },
        } as const;
        const settle = settleMovement("job_1", "a", "w", 4n, 3n, 2);
        await applyMovement(store, settle, [], undefined, record);

        // Act: the repeat; job_2's hold covers its held debit, so no balance explains the failure
        const again = await applyMovement(store, settle, [], undefined, record).catch((e) => e);

        // Assess: the record's condition is what failed (index 0: already applied), on either adapter
        expect(again).toBe("duplicate");
        expect(await getBalance(store, "req:a")).toMatchObject({ available: 3n, held: 4n });
        expect(await getBalance(store, "wrk:w")).toMatchObject({ available: 3n });
      });

      it("an overdraft names the account that would go negative (not the first one debited) and writes nothing", async () => {
        const base = await storeWith({ "req:a": 10n, "req:b": 1n });
        const store = wrap(base);
        const m = movement("m-od", [
          ["req:a", "available", -5n],
          ["req:b", "available", -5n],
          ["ext:x", "available", 10n],
        ]);
        const err = await applyMovement(store, m).catch((e) => e);
        expect(err).toBeInstanceOf(OverdraftError);
        expect(err.name).toBe("OverdraftError");
        expect(err.account).toBe("req:b");
        expect(err.message).toBe("account req:b has too little balance for this movement");
        expect((await getBalance(store, "req:a")).available).toBe(10n);
        expect(await store.get("ledger", { pk: "m-od", sk: "tx" })).toBeUndefined();
      });

      it("the account blamed is the one short of money: not one debited exactly its balance, not one in debt that is credited", async () => {
        const base = await storeWith({ "req:exact": 5n, "req:b": 1n });
        // a recorded debt (core/withdrawals: a withdrawal landing after its release), written directly
        await base.transact([{ op: "update", table: "accounts", key: { pk: "req:debt", sk: "balance" }, add: { available: -5n } }]);
        await base.transact([{ op: "update", table: "accounts", key: { pk: "ext:debt", sk: "balance" }, add: { available: 5n } }]);
        const store = wrap(base);
        const m = movement("m-blame", [
          ["req:debt", "available", 3n],
          ["req:exact", "available", -5n],
          ["req:b", "available", -5n],
          ["ext:x", "available", 7n],
        ]);
        const err = await applyMovement(store, m).catch((e) => e);
        expect(err).toBeInstanceOf(OverdraftError);
        expect(err.account).toBe("req:b");
      });

      it("an external account may go negative: no overdraft", async () => {
        const store = wrap(await storeWith({}));
        expect(
          await applyMovement(
            store,
            movement("m-ext", [
              ["ext:x", "available", -5n],
              ["req:a", "available", 5n],
            ]),
          ),
        ).toBe("applied");
        expect((await getBalance(store, "ext:x")).available).toBe(-5n);
      });
    });
  }

  it("a failing extra condition is rethrown with its index among the extras; nothing is written", async () => {
    // Prepare
    const store = await storeWith({});
    const extra: WriteOp[] = [
      { op: "put", table: "jobs", item: { pk: "j1", sk: "job" } },
      { op: "put", table: "jobs", item: { pk: "j2", sk: "job" }, when: { kind: "exists" } }, // fails
    ];
    // Act
    const err = await applyMovement(store, faucetMovement("x1", "alice", 5n, 1), extra).catch((e) => e);
    // Assess
    expect(err).toBeInstanceOf(ConditionFailedError);
    expect(err.index).toBe(1);
    expect(await store.get("jobs", { pk: "j1", sk: "job" })).toBeUndefined();
    expect((await getBalance(store, "req:alice")).available).toBe(0n);
  });

  it("an adapter that cannot locate the failure: a failing extra is reported at the first extra (best guess), not as an overdraft or duplicate", async () => {
    const store = withoutIndex(await storeWith({ "req:a": 10n }));
    const m = movement("m-x", [
      ["req:a", "available", -5n],
      ["ext:x", "available", 5n],
    ]);
    const err = await applyMovement(store, m, [{ op: "put", table: "jobs", item: { pk: "j", sk: "job" }, when: { kind: "exists" } }]).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(ConditionFailedError);
    expect(err).not.toBeInstanceOf(OverdraftError);
    expect(err.index).toBe(0);
  });

  it("any other store failure is passed on as it is", async () => {
    const store = await storeWith({});
    const disk = new Error("disk on fire");
    store.transact = async () => {
      throw disk;
    };
    await expect(applyMovement(store, faucetMovement("y", "alice", 1n, 1))).rejects.toBe(disk);
  });
});

describe("job movements: exact postings", () => {
  it("hold moves the amount from available to held", () => {
    expect(holdMovement("j1", "alice", 30n, 9)).toEqual({
      id: "hold:j1",
      kind: "hold",
      at: 9,
      postings: [
        { account: "req:alice", field: "available", delta: -30n },
        { account: "req:alice", field: "held", delta: 30n },
      ],
    });
  });

  it("settle releases the hold, charges the cost, credits the worker; the cost may be 0 or the whole hold, never outside", () => {
    expect(settleMovement("j1", "alice", "w1", 30n, 12n, 9)).toEqual({
      id: "settle:j1",
      kind: "settle",
      at: 9,
      meta: { jobId: "j1", worker: "w1" },
      postings: [
        { account: "req:alice", field: "held", delta: -30n },
        { account: "req:alice", field: "available", delta: 18n },
        { account: "wrk:w1", field: "available", delta: 12n },
      ],
    });
    expect(settleMovement("j1", "alice", "w1", 30n, 0n, 9).postings[2]!.delta).toBe(0n);
    expect(settleMovement("j1", "alice", "w1", 30n, 30n, 9).postings[2]!.delta).toBe(30n);
    expect(() => settleMovement("j1", "alice", "w1", 30n, -1n, 9)).toThrow("cost -1 outside [0, 30]");
    expect(() => settleMovement("j1", "alice", "w1", 30n, 31n, 9)).toThrow(UnbalancedMovementError);
  });

  it("settle with an operator fee: the worker gets cost − floor(cost × bps / 10 000), the operator the rest, last; the meta names the bps", () => {
    expect(settleMovement("j1", "alice", "w1", 30n, 12n, 9, 2_500)).toEqual({
      id: "settle:j1",
      kind: "settle",
      at: 9,
      meta: { jobId: "j1", worker: "w1", operatorFeeBps: "2500" },
      postings: [
        { account: "req:alice", field: "held", delta: -30n },
        { account: "req:alice", field: "available", delta: 18n },
        { account: "wrk:w1", field: "available", delta: 9n },
        { account: "opr:fees:5", field: "available", delta: 3n }, // w1's shard (operatorFeeShard)
      ],
    });
    // fee 0 (given or not): exactly the movement of before the fee, three postings, no meta of it
    expect(settleMovement("j1", "alice", "w1", 30n, 12n, 9, 0)).toEqual(settleMovement("j1", "alice", "w1", 30n, 12n, 9));
    // 100 %: the worker keeps its (zero) posting, the operator takes the cost
    expect(
      settleMovement("j1", "alice", "w1", 30n, 12n, 9, 10_000)
        .postings.slice(2)
        .map((p) => p.delta),
    ).toEqual([0n, 12n]);
  });

  it("the operator fee rounds down, in the worker's favour: 1 nanoTON at 1 bps is no fee; 9 999 at 1 bps neither; 10 000 at 1 bps is 1", () => {
    expect(operatorFee(1n, 1)).toBe(0n);
    expect(operatorFee(9_999n, 1)).toBe(0n);
    expect(operatorFee(10_000n, 1)).toBe(1n);
    expect(operatorFee(1n, 9_999)).toBe(0n);
    expect(operatorFee(1n, 10_000)).toBe(1n);
    const tiny = settleMovement("j1", "alice", "w1", 1n, 1n, 9, 1);
    expect(tiny.postings.map((p) => [p.account, p.delta])).toEqual([
      ["req:alice", -1n],
      ["req:alice", 0n],
      ["wrk:w1", 1n],
    ]);
    expect(tiny.meta).toEqual({ jobId: "j1", worker: "w1", operatorFeeBps: "1" });
  });

  it("an operator fee outside 0..10 000 bps, or not a whole number, is refused", () => {
    for (const bps of [-1, 10_001, 2.5, Number.NaN]) {
      expect(() => operatorFee(100n, bps)).toThrow(InvalidFeeError);
      expect(() => settleMovement("j1", "alice", "w1", 30n, 12n, 9, bps)).toThrow(InvalidFeeError);
    }
    // the message names the bps and the range (a misconfigured coordinator's log says what to fix)
    expect(() => operatorFee(100n, 10_001)).toThrow("operator fee 10001 bps outside 0..10000");
  });

  it("the operator fee of a negative cost is refused, not truncated toward zero into a negative fee", () => {
    // bigint division truncates: without the guard, -10 000 at 1 bps would be a fee of -1 (the operator paying the worker)
    expect(() => operatorFee(-10_000n, 1)).toThrow(UnbalancedMovementError);
    expect(() => operatorFee(-1n, 0)).toThrow("negative cost -1");
    expect(operatorFee(0n, 10_000)).toBe(0n);
  });

  it("the operator fee at the floor's edges: the fee steps up exactly when cost × bps reaches the next multiple of 10 000", () => {
    expect([operatorFee(19_999n, 1), operatorFee(20_000n, 1)]).toEqual([1n, 2n]);
    expect([operatorFee(3n, 3_333), operatorFee(3n, 3_334)]).toEqual([0n, 1n]); // 9 999 and 10 002 over 10 000
    expect([operatorFee(12_345n, 0), operatorFee(12_345n, 10_000)]).toEqual([0n, 12_345n]);
    // no float on the way: a cost past 2^53 splits exactly
    const big = 2n ** 64n + 7n;
    expect(operatorFee(big, 2_500)).toBe(big / 4n);
    expect(operatorFee(big, 9_999)).toBe((big * 9_999n) / 10_000n);
  });

  it("the operator fee shard: FNV-1a of the worker id mod 16, stable, and spread over all shards", () => {
    // pinned: a shard that moved would split a worker's fees over two accounts (harmless to the sum, but not what is documented)
    expect([operatorFeeShard("w1"), operatorFeeShard("w2"), operatorFeeShard("b")]).toEqual([5, 12, 5]);
    expect(operatorFeeAccount("w2")).toBe("opr:fees:12");
    expect(OPERATOR_FEE_ACCOUNTS).toHaveLength(OPERATOR_FEE_SHARDS);
    expect(OPERATOR_FEE_ACCOUNTS[0]).toBe("opr:fees:0");
    const hits = new Map<number, number>();
    for (let i = 0; i < 1_600; i++) hits.set(operatorFeeShard(`worker-${i}`), (hits.get(operatorFeeShard(`worker-${i}`)) ?? 0) + 1);
    expect([...hits.keys()].sort((a, b) => a - b)).toEqual([...Array(OPERATOR_FEE_SHARDS).keys()]);
    for (const n of hits.values()) expect(n).toBeGreaterThan(50); // about 100 each
  });

  it("a tab's close with fees: each worker its costs less its fees, each operator fee shard the sum of its workers' fees; without fees, as before", () => {
    // w1 and b share shard 5, w2 is in shard 12
    const costs = new Map([
      ["w2", 50n],
      ["w1", 100n],
      ["b", 20n],
    ]);
    const m = tabCloseMovement(
      "t1",
      "alice",
      200n,
      costs,
      9,
      new Map([
        ["w1", 7n],
        ["w2", 50n],
        ["b", 3n],
      ]),
    );
    expect(m.meta).toEqual({ tabId: "t1", cost: "170", operatorFee: "60" });
    expect(m.postings.map((p) => [p.account, p.field, p.delta])).toEqual([
      ["req:alice", "held", -200n],
      ["req:alice", "available", 30n],
      ["wrk:w2", "available", 0n],
      ["wrk:w1", "available", 93n],
      ["wrk:b", "available", 17n],
      ["opr:fees:5", "available", 10n],
      ["opr:fees:12", "available", 50n],
    ]);
    expect(tabCloseMovement("t1", "alice", 200n, costs, 9, new Map())).toEqual(tabCloseMovement("t1", "alice", 200n, costs, 9));
    expect(() => tabCloseMovement("t1", "alice", 200n, costs, 9, new Map([["w1", 101n]]))).toThrow(UnbalancedMovementError);
    expect(() => tabCloseMovement("t1", "alice", 200n, costs, 9, new Map([["w3", 1n]]))).toThrow(UnbalancedMovementError);
  });

  it("a tab's close at its edges: a hold spent exactly, a worker whose jobs cost 0, fees of 0, shards posted in shard order", () => {
    // Prepare: w3 (shard 15), w2 (12), w1 (5), given in descending shard order; idle's jobs cost nothing; w4's fee floored to 0
    const costs = new Map([
      ["w3", 40n],
      ["w2", 50n],
      ["idle", 0n],
      ["w1", 100n],
      ["w4", 10n],
    ]);
    const fees = new Map([
      ["w3", 4n],
      ["w2", 5n],
      ["w1", 10n],
      ["w4", 0n],
    ]);
    // Act: the hold is exactly the cost (200)
    const m = tabCloseMovement("t1", "alice", 200n, costs, 9, fees);
    // Assess: nothing back to the requester (no posting of 0), no posting for idle nor for a shard of no fee, shards ascending
    expect(m).toEqual({
      id: "tabclose:t1",
      kind: "tab-close",
      at: 9,
      meta: { tabId: "t1", cost: "200", operatorFee: "19" },
      postings: [
        { account: "req:alice", field: "held", delta: -200n },
        { account: "wrk:w3", field: "available", delta: 36n },
        { account: "wrk:w2", field: "available", delta: 45n },
        { account: "wrk:w1", field: "available", delta: 90n },
        { account: "wrk:w4", field: "available", delta: 10n },
        { account: "opr:fees:5", field: "available", delta: 10n },
        { account: "opr:fees:12", field: "available", delta: 5n },
        { account: "opr:fees:15", field: "available", delta: 4n },
      ],
    });
    // fees all 0: no operator posting, and the meta names no fee (as a close without fees)
    const none = tabCloseMovement("t1", "alice", 200n, costs, 9, new Map([["w1", 0n]]));
    expect(none).toEqual(tabCloseMovement("t1", "alice", 200n, costs, 9));
    expect(none.meta).toEqual({ tabId: "t1", cost: "200" });
    // a hold one above the cost: its 1 goes back
    expect(tabCloseMovement("t1", "alice", 201n, costs, 9).postings[1]).toEqual({ account: "req:alice", field: "available", delta: 1n });
  });

  it("a tab's close refuses what cannot balance, naming the tab and the figures", () => {
    const costs = new Map([["w1", 100n]]);
    expect(() => tabCloseMovement("t1", "alice", 99n, costs, 9)).toThrow(
      new UnbalancedMovementError("tab t1: its jobs cost 100, more than its hold 99"),
    );
    expect(() => tabCloseMovement("t1", "alice", 100n, new Map([["w1", -1n]]), 9)).toThrow(
      new UnbalancedMovementError("tab t1: negative cost -1"),
    );
    expect(() => tabCloseMovement("t1", "alice", 100n, costs, 9, new Map([["w1", -1n]]))).toThrow(
      new UnbalancedMovementError("tab t1: fee -1 outside [0, 100] for w1"),
    );
    expect(() => tabCloseMovement("t1", "alice", 100n, costs, 9, new Map([["w1", 101n]]))).toThrow(
      new UnbalancedMovementError("tab t1: fee 101 outside [0, 100] for w1"),
    );
    expect(() => tabCloseMovement("t1", "alice", 100n, costs, 9, new Map([["w3", 0n]]))).toThrow(
      new UnbalancedMovementError("tab t1: a fee for w3, who has no cost"),
    );
    // the edges that pass: a fee of the whole cost, a hold of exactly the cost
    expect(tabCloseMovement("t1", "alice", 100n, costs, 9, new Map([["w1", 100n]])).postings.at(-1)).toEqual({
      account: "opr:fees:5",
      field: "available",
      delta: 100n,
    });
  });

  it("refund gives the whole hold back", () => {
    expect(refundMovement("j1", "alice", 30n, 9)).toEqual({
      id: "refund:j1",
      kind: "refund",
      at: 9,
      meta: { jobId: "j1" },
      postings: [
        { account: "req:alice", field: "held", delta: -30n },
        { account: "req:alice", field: "available", delta: 30n },
      ],
    });
  });

  it("faucet credits the requester from ext:faucet", () => {
    expect(faucetMovement("k", "alice", 5n, 9)).toEqual({
      id: "faucet:k",
      kind: "faucet",
      at: 9,
      postings: [
        { account: "ext:faucet", field: "available", delta: -5n },
        { account: "req:alice", field: "available", delta: 5n },
      ],
    });
  });

  it("toBig reads absent, null, number, string and bigint fields", () => {
    expect([toBig(undefined), toBig(null), toBig(3), toBig("4"), toBig(5n)]).toEqual([0n, 0n, 3n, 4n, 5n]);
  });
});

describe("counters riding on balance updates, and batches of movements", () => {
  it("counters are added to the account's one update", () => {
    const ops = movementOps(
      movement("m", [
        ["ext:x", "available", -5n],
        ["wrk:w", "available", 5n],
      ]),
      { "wrk:w": { jobs: 1, promptTokens: 7 } },
    );
    expect(ops[2]).toEqual({
      op: "update",
      table: "accounts",
      key: { pk: "wrk:w", sk: "balance" },
      add: { available: 5n, jobs: 1, promptTokens: 7 },
    });
  });

  it.each(["available", "held"])("a counter named %s would move money outside the postings: refused", (field) => {
    expect(() =>
      movementOps(
        movement("m", [
          ["ext:x", "available", -5n],
          ["wrk:w", "available", 5n],
        ]),
        { "wrk:w": { [field]: 1 } },
      ),
    ).toThrow(new UnbalancedMovementError(`counter ${field} on wrk:w would move money outside the postings`));
  });

  it("counters for an account the movement does not post to are refused, naming the movement", () => {
    const m = movement("m-c", [
      ["ext:x", "available", -5n],
      ["wrk:w", "available", 5n],
    ]);
    expect(() => movementOps(m, { "wrk:other": { jobs: 1 } })).toThrow(
      "movement m-c posts nothing to wrk:other, so it cannot carry its counters",
    );
    // a batch of one is that movement, named as such
    expect(() => movementsOps([m], { "wrk:other": { jobs: 1 } })).toThrow(
      "movement m-c posts nothing to wrk:other, so it cannot carry its counters",
    );
    expect(() => movementsOps([m, { ...m, id: "m-d" }], { "wrk:other": { jobs: 1 } })).toThrow(
      "movement batch posts nothing to wrk:other, so it cannot carry its counters",
    );
  });

  it("a batch: every movement's own ledger item first, then one update per account with the summed deltas, guarded by the sum", () => {
    const a = movement("s1", [
      ["req:r", "held", -30n],
      ["req:r", "available", 10n],
      ["wrk:w", "available", 20n],
    ]);
    const b = movement("s2", [
      ["req:r", "held", -40n],
      ["req:r", "available", 15n],
      ["wrk:w", "available", 25n],
    ]);
    const ops = movementsOps([a, b], { "wrk:w": { jobs: 2 } });
    expect(ops.map((o) => (o.op === "put" ? o.item.pk : o.op === "update" ? o.key.pk : "?"))).toEqual(["s1", "s2", "req:r", "wrk:w"]);
    expect(ops[2]).toEqual({
      op: "update",
      table: "accounts",
      key: { pk: "req:r", sk: "balance" },
      add: { available: 25n, held: -70n },
      when: { kind: "cmp", attr: "held", op: ">=", value: 70n },
    });
    expect(ops[3]).toEqual({ op: "update", table: "accounts", key: { pk: "wrk:w", sk: "balance" }, add: { available: 45n, jobs: 2 } });
    expect(movementsOps([a])).toEqual(movementOps(a));
  });
});
