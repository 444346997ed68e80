/**
 * core/chain/store-ledger.ts, edge by edge (mutation-checked): the double-entry check of a
 * chain movement, the duplicate path (which failed condition means "already recorded"),
 * contention when retries run out, how a landed withdrawal is matched to what the
 * coordinator signed (seqno, amount, destination, expiry, generations back), redemptions by
 * cumulative amount, the issued-voucher record, cursor and pass bookkeeping, and liabilities.
 * The flows through the watcher live in watcher*.test.ts and core/withdrawals*.test.ts.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore, type MemoryStore } from "../../local/memory-store";
import { applyMovement, requesterAccount } from "../ledger";
import { ConditionFailedError, type Store, type WriteOp } from "../ports";
import { accountId, workerAddress } from "./fixtures";
import {
  CHAIN_ACCOUNT,
  chainMovementId,
  ChainLedgerContentionError,
  issuedVoucherKey,
  issuedWithdrawalKey,
  issuedWithdrawalOp,
  pendingWithdrawalAccount,
  StoreChainLedger,
  UnbalancedChainMovementError,
  UNMATCHED_ACCOUNT,
  voucherAccount,
  withdrawalMovementId,
} from "./store-ledger";

const TON = 1_000_000_000n;
const NOW = 1_760_000_000_000;
const EXPIRY = 1_760_000_600;
const A = accountId(21);
const W = workerAddress(21);
const TO = "0:" + "c".repeat(64);
const OTHER_TO = "0:" + "d".repeat(64);
const REQ = requesterAccount(A);
const WDR = pendingWithdrawalAccount(A);

/** A 64-hex transaction hash from a small number. */
const tx = (n: number) => n.toString(16).padStart(64, "0");

/**
 * Factory: a ledger over a memory store. `before` runs ahead of every transaction the ledger
 * writes (call counts from 0): it may write concurrently into `store`, or throw instead of the store.
 * The ledger's reads are bounded (1000 per test).
 */
function setup(before?: (ops: WriteOp[], call: number) => Promise<void> | void) {
  const store = createMemoryStore();
  let calls = 0;
  let reads = 0;
  const seen: Store = {
    // a bound on reads, so a loop that never ends (over generations, say) fails instead of hanging
    get: ((table, key, opts) => {
      if (++reads > 1_000) throw new Error("runaway reads: over 1000 store reads in one test");
      return store.get(table, key, opts);
    }) as Store["get"],
    query: store.query.bind(store),
    transact: async (ops) => {
      await before?.(ops, calls++);
      return store.transact(ops);
    },
  };
  const ledger = new StoreChainLedger(seen);
  return {
    store,
    ledger,
    calls: () => calls,
    bal: async (account: string) => (await ledger.balance(account)).available,
    movement: (txHash: string) => store.get("ledger", { pk: chainMovementId(txHash), sk: "tx" }),
    record: (seqno: number) => store.get("chain", issuedWithdrawalKey(A, seqno)),
    /** Everything the ledger could have written, to assert that a refusal wrote nothing. */
    snapshot: () => ({ accounts: store.scan("accounts"), ledger: store.scan("ledger"), chain: store.scan("chain") }),
  };
}

/** Deposit into req:A straight on the store (so a `before` hook does not see it). */
async function fund(store: MemoryStore, amount: bigint) {
  await new StoreChainLedger(store).creditDeposit(tx(0xdead), A, amount, NOW);
}

/** A withdrawal reserved as core/withdrawals.ts does: movement withdrawal:A:seqno:gen, req -> wdr, record pending. */
async function reserve(store: Store, o: { seqno: number; gen: number; amount: bigint; to?: string; expiry?: number }) {
  const to = o.to ?? TO;
  const expiry = o.expiry ?? EXPIRY;
  const r = await applyMovement(
    store,
    {
      id: withdrawalMovementId(A, o.seqno, o.gen),
      kind: "withdrawal",
      at: NOW,
      meta: {
        account: A,
        seqno: String(o.seqno),
        gen: String(o.gen),
        to,
        amount: o.amount.toString(),
        expiry: String(expiry),
        stage: "reserve",
      },
      postings: [
        { account: REQ, field: "available", delta: -o.amount },
        { account: WDR, field: "available", delta: o.amount },
      ],
    },
    [issuedWithdrawalOp({ account: A, seqno: o.seqno, amount: o.amount, to, expiry }, NOW, { gen: o.gen })],
  );
  expect(r).toBe("applied");
}

/** The expiry release of core/withdrawals.ts: wdr -> req, record released. */
async function release(store: Store, seqno: number, amount: bigint) {
  await applyMovement(
    store,
    {
      id: `withdrawal-release:${A}:${seqno}:${amount}`,
      kind: "withdrawal",
      at: NOW,
      meta: { account: A, seqnos: String(seqno), stage: "release" },
      postings: [
        { account: WDR, field: "available", delta: -amount },
        { account: REQ, field: "available", delta: amount },
      ],
    },
    [{ op: "update", table: "chain", key: issuedWithdrawalKey(A, seqno), set: { status: "released", releasedAt: NOW } }],
  );
}

/** Earnings of worker w1 moved into vch:w1 when its voucher was signed (balanced against ext:chain). */
async function voucherFunds(store: Store, amount: bigint) {
  await store.transact([
    { op: "update", table: "accounts", key: { pk: voucherAccount("w1"), sk: "balance" }, add: { available: amount } },
    { op: "update", table: "accounts", key: { pk: CHAIN_ACCOUNT, sk: "balance" }, add: { available: -amount } },
  ]);
}

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(Error);
  return e as Error & { code?: string };
}

describe("a movement must balance", () => {
  it("a withdrawal whose amount reads differently for its two postings is refused as unbalanced; nothing is written", async () => {
    // Prepare: a caller whose amount changes between reads (5 for the debit, 6 for ext:chain)
    const t = setup();
    await fund(t.store, 10n * TON);
    const before = t.snapshot();
    const amounts = [5n, 6n];
    const w = {
      account: A,
      get amount() {
        return amounts.shift()!;
      },
    };

    // Act
    const e = await rejection(t.ledger.recordWithdrawal(tx(1), w, NOW));

    // Assess: refused with the class, code and the imbalance named; the store is as before
    expect(e).toBeInstanceOf(UnbalancedChainMovementError);
    expect(e.name).toBe("UnbalancedChainMovementError");
    expect(e.code).toBe("unbalanced_movement");
    expect(e.message).toBe(`movement ${chainMovementId(tx(1))} does not balance: sum of postings = 1`);
    expect(t.snapshot()).toEqual(before);
    expect(t.calls()).toBe(0);
  });
});

describe("deposits and the duplicate path", () => {
  it("records a deposit once: postings with string deltas, meta, balances; a replay answers duplicate and moves nothing", async () => {
    // Prepare
    const t = setup();

    // Act
    const first = await t.ledger.creditDeposit(tx(1), A, 3n * TON, NOW);
    const after = t.snapshot();
    const replay = await t.ledger.creditDeposit(tx(1), A, 3n * TON, NOW + 1);

    // Assess
    expect([first, replay]).toEqual(["applied", "duplicate"]);
    expect(await t.movement(tx(1))).toEqual({
      pk: chainMovementId(tx(1)),
      sk: "tx",
      kind: "deposit",
      at: NOW,
      postings: [
        { account: CHAIN_ACCOUNT, field: "available", delta: String(-3n * TON) },
        { account: REQ, field: "available", delta: String(3n * TON) },
      ],
      meta: { txHash: tx(1), account: A },
    });
    expect(await t.bal(REQ)).toBe(3n * TON);
    expect(await t.bal(CHAIN_ACCOUNT)).toBe(-3n * TON);
    expect(t.snapshot()).toEqual(after);
  });

  it("a zero-amount movement writes its ledger item but no balance item (zero postings are skipped)", async () => {
    // Prepare
    const t = setup();

    // Act
    const r = await t.ledger.creditDeposit(tx(1), A, 0n, NOW);

    // Assess
    expect(r).toBe("applied");
    expect((await t.movement(tx(1)))?.postings).toEqual([
      { account: CHAIN_ACCOUNT, field: "available", delta: "0" },
      { account: REQ, field: "available", delta: "0" },
    ]);
    expect(t.store.scan("accounts")).toEqual([]);
  });

  it("a failed condition at index 0 (the ledger item's notExists) is a duplicate", async () => {
    // Prepare: a store that reports the ledger put as already there
    const t = setup(() => {
      throw new ConditionFailedError(0);
    });
    const before = t.snapshot();

    // Act
    const r = await t.ledger.creditDeposit(tx(1), A, TON, NOW);

    // Assess
    expect(r).toBe("duplicate");
    expect(t.snapshot()).toEqual(before);
  });

  it("a failed condition at another index, with no ledger item, is rethrown: not a duplicate", async () => {
    // Prepare
    const t = setup(() => {
      throw new ConditionFailedError(1);
    });
    const before = t.snapshot();

    // Act
    const e = await rejection(t.ledger.creditDeposit(tx(1), A, TON, NOW));

    // Assess
    expect(e).toBeInstanceOf(ConditionFailedError);
    expect((e as ConditionFailedError).index).toBe(1);
    expect(t.snapshot()).toEqual(before);
  });

  it("a failed condition at another index when chain:<txHash>/tx is already in the ledger is a duplicate; money moved once", async () => {
    // Prepare: the deposit recorded by a concurrent pass; this pass's write then fails at index 2
    const t = setup(() => {
      throw new ConditionFailedError(2);
    });
    await new StoreChainLedger(t.store).creditDeposit(tx(1), A, TON, NOW);
    const before = t.snapshot();

    // Act
    const r = await t.ledger.creditDeposit(tx(1), A, TON, NOW);

    // Assess
    expect(r).toBe("duplicate");
    expect(await t.bal(REQ)).toBe(TON);
    expect(t.snapshot()).toEqual(before);
  });

  it("a store error other than a failed condition is rethrown as is", async () => {
    // Prepare
    const t = setup(() => {
      throw new Error("disk full");
    });
    const before = t.snapshot();

    // Act
    const e = await rejection(t.ledger.creditDeposit(tx(1), A, TON, NOW));

    // Assess
    expect(e.message).toBe("disk full");
    expect(t.snapshot()).toEqual(before);
  });
});

describe("cursor and passes", () => {
  it("a cursor whose lt or hash is not a string reads as none", async () => {
    // Prepare
    const t = setup();
    const put = (lt: unknown, hash: unknown) =>
      t.store.transact([{ op: "put", table: "chain", item: { pk: "cursor", sk: "cursor", lt, hash } }]);

    // Act
    await put(123, "ab");
    const numericLt = await t.ledger.getCursor();
    await put("123", 7);
    const numericHash = await t.ledger.getCursor();
    await put("123", "ab");
    const good = await t.ledger.getCursor();

    // Assess
    expect(numericLt).toBeNull();
    expect(numericHash).toBeNull();
    expect(good).toEqual({ lt: "123", hash: "ab" });
  });

  it("a pass that did not catch up keeps the last caught-up time", async () => {
    // Prepare
    const t = setup();
    await t.ledger.markPass(NOW, { caughtUpAsOf: NOW - 5 });

    // Act
    await t.ledger.markPass(NOW + 60_000, { caughtUpAsOf: null });

    // Assess
    expect(await t.ledger.lastPassAt()).toBe(NOW + 60_000);
    expect(await t.ledger.lastCaughtUpAt()).toBe(NOW - 5);
  });
});

describe("issuedWithdrawalOp", () => {
  it("a reservation's `when` guards the record: a second issue over a pending one fails and changes nothing", async () => {
    // Prepare
    const t = setup();
    const w = { account: A, seqno: 0, amount: TON, to: TO, expiry: EXPIRY };
    await t.store.transact([issuedWithdrawalOp(w, NOW, { gen: 0, when: { kind: "notExists" } })]);
    const before = t.snapshot();

    // Act
    const e = await rejection(
      t.store.transact([issuedWithdrawalOp({ ...w, amount: 2n * TON }, NOW + 1, { gen: 1, when: { kind: "notExists" } })]),
    );

    // Assess
    expect(e).toBeInstanceOf(ConditionFailedError);
    expect(t.snapshot()).toEqual(before);
  });
});

describe("recordWithdrawal: matching what the coordinator signed", () => {
  it("the pending reservation: paid out of wdr:<id>, record landed, meta with seqno, to, expiry, from, match and gen", async () => {
    // Prepare
    const t = setup();
    await fund(t.store, 10n * TON);
    await reserve(t.store, { seqno: 3, gen: 2, amount: 4n * TON });

    // Act
    const r = await t.ledger.recordWithdrawal(tx(1), { account: A, amount: 4n * TON, seqno: 3, to: TO, expiry: EXPIRY }, NOW);

    // Assess
    expect(r).toEqual({ result: "applied", match: "reserved" });
    const m = await t.movement(tx(1));
    expect(m?.kind).toBe("withdrawal");
    expect(m?.meta).toStrictEqual({
      txHash: tx(1),
      account: A,
      seqno: "3",
      to: TO,
      expiry: String(EXPIRY),
      from: WDR,
      match: "reserved",
      gen: "2",
    });
    expect(await t.record(3)).toMatchObject({ status: "landed", landedTx: tx(1), landedAt: NOW, gen: 2 });
    expect([await t.bal(REQ), await t.bal(WDR), await t.bal(CHAIN_ACCOUNT)]).toEqual([6n * TON, 0n, -6n * TON]);
  });

  it("a landing with no seqno, to or expiry: its meta has none of them; debited from available, unmatched", async () => {
    // Prepare
    const t = setup();
    await fund(t.store, 10n * TON);

    // Act
    const r = await t.ledger.recordWithdrawal(tx(1), { account: A, amount: TON }, NOW);

    // Assess
    expect(r).toEqual({ result: "applied", match: "unmatched" });
    const meta = (await t.movement(tx(1)))?.meta;
    expect(meta).toStrictEqual({ txHash: tx(1), account: A, from: REQ, match: "unmatched" });
    expect(Object.keys(meta as object).sort()).toEqual(["account", "from", "match", "txHash"]);
    expect([await t.bal(REQ), await t.bal(CHAIN_ACCOUNT)]).toEqual([9n * TON, -9n * TON]);
  });

  it("issued: matches a signed, unreserved withdrawal by amount, to and expiry; a replay answers duplicate/issued and moves nothing", async () => {
    // Prepare
    const t = setup();
    await fund(t.store, 10n * TON);
    await t.ledger.recordIssuedWithdrawal({ account: A, seqno: 0, amount: 2n * TON, to: TO, expiry: EXPIRY }, NOW);
    const w = { account: A, amount: 2n * TON, seqno: 0, to: TO, expiry: EXPIRY };

    // Act
    const first = await t.ledger.recordWithdrawal(tx(1), w, NOW);
    const after = t.snapshot();
    const replay = await t.ledger.recordWithdrawal(tx(1), w, NOW + 1);

    // Assess
    expect(first).toEqual({ result: "applied", match: "issued" });
    expect(replay).toEqual({ result: "duplicate", match: "issued" });
    expect((await t.movement(tx(1)))?.meta).toMatchObject({ from: REQ, match: "issued" });
    expect(await t.bal(REQ)).toBe(8n * TON);
    expect(t.snapshot()).toEqual(after);
  });

  it.each([
    ["amount", { amount: 3n * TON }],
    ["destination", { to: OTHER_TO }],
    ["expiry", { expiry: EXPIRY + 1 }],
  ])("a landing that differs from the signed withdrawal in its %s is unmatched", async (_what, diff) => {
    // Prepare
    const t = setup();
    await fund(t.store, 10n * TON);
    await t.ledger.recordIssuedWithdrawal({ account: A, seqno: 0, amount: 2n * TON, to: TO, expiry: EXPIRY }, NOW);
    const w = { account: A, amount: 2n * TON, seqno: 0, to: TO, expiry: EXPIRY, ...diff };

    // Act
    const r = await t.ledger.recordWithdrawal(tx(1), w, NOW);

    // Assess: the chain paid it, so it is debited from available all the same
    expect(r).toEqual({ result: "applied", match: "unmatched" });
    expect(await t.bal(REQ)).toBe(10n * TON - w.amount);
  });

  it("a landing that names neither to nor expiry matches the signed withdrawal on its amount", async () => {
    // Prepare
    const t = setup();
    await fund(t.store, 10n * TON);
    await t.ledger.recordIssuedWithdrawal({ account: A, seqno: 0, amount: 2n * TON, to: TO, expiry: EXPIRY }, NOW);

    // Act
    const r = await t.ledger.recordWithdrawal(tx(1), { account: A, amount: 2n * TON, seqno: 0 }, NOW);

    // Assess
    expect(r).toEqual({ result: "applied", match: "issued" });
    expect(await t.bal(REQ)).toBe(8n * TON);
  });

  it("a landing without seqno is never matched, even to a record stored under a seqno-less key", async () => {
    // Prepare
    const t = setup();
    await fund(t.store, 10n * TON);
    await t.ledger.recordIssuedWithdrawal({ account: A, seqno: undefined as unknown as number, amount: TON, to: TO, expiry: EXPIRY }, NOW);

    // Act
    const r = await t.ledger.recordWithdrawal(tx(1), { account: A, amount: TON, to: TO, expiry: EXPIRY }, NOW);

    // Assess
    expect(r).toEqual({ result: "applied", match: "unmatched" });
  });

  it("a tx hash already in the ledger as a movement without a match answers duplicate/unmatched and moves nothing", async () => {
    // Prepare
    const t = setup();
    await t.ledger.creditDeposit(tx(1), A, 10n * TON, NOW);
    const before = t.snapshot();

    // Act
    const r = await t.ledger.recordWithdrawal(tx(1), { account: A, amount: TON, seqno: 0 }, NOW);

    // Assess
    expect(r).toEqual({ result: "duplicate", match: "unmatched" });
    expect(t.snapshot()).toEqual(before);
  });

  it("a second landing for a seqno that already landed is unmatched (debited from available); the landed record stays", async () => {
    // Prepare: seqno 0 reserved at gen 0 and landed
    const t = setup();
    await fund(t.store, 10n * TON);
    await reserve(t.store, { seqno: 0, gen: 0, amount: 2n * TON });
    await t.ledger.recordWithdrawal(tx(1), { account: A, amount: 2n * TON, seqno: 0, to: TO, expiry: EXPIRY }, NOW);
    const landed = await t.record(0);

    // Act
    const r = await t.ledger.recordWithdrawal(tx(2), { account: A, amount: 2n * TON, seqno: 0, to: TO, expiry: EXPIRY }, NOW + 1);

    // Assess
    expect(r).toEqual({ result: "applied", match: "unmatched" });
    expect(await t.record(0)).toEqual(landed);
    expect([await t.bal(REQ), await t.bal(WDR), await t.bal(CHAIN_ACCOUNT)]).toEqual([6n * TON, 0n, -6n * TON]);
  });

  it("after-release: an issue released as expired that lands is debited from available again; the record turns landed afterRelease", async () => {
    // Prepare
    const t = setup();
    await fund(t.store, 10n * TON);
    await reserve(t.store, { seqno: 0, gen: 0, amount: 4n * TON });
    await release(t.store, 0, 4n * TON);

    // Act
    const r = await t.ledger.recordWithdrawal(tx(1), { account: A, amount: 4n * TON, seqno: 0, to: TO, expiry: EXPIRY }, NOW);

    // Assess
    expect(r).toEqual({ result: "applied", match: "after-release" });
    expect(await t.record(0)).toMatchObject({ status: "landed", landedTx: tx(1), afterRelease: true });
    expect([await t.bal(REQ), await t.bal(WDR), await t.bal(CHAIN_ACCOUNT)]).toEqual([6n * TON, 0n, -6n * TON]);
  });

  it("a release that slips in between the read and the write makes it decide again: after-release, not out of the emptied wdr", async () => {
    // Prepare: the release lands right before the ledger's first write
    const t = setup(async (_ops, call) => {
      if (call === 0) await release(t.store, 0, 4n * TON);
    });
    await fund(t.store, 10n * TON);
    await reserve(t.store, { seqno: 0, gen: 0, amount: 4n * TON });

    // Act
    const r = await t.ledger.recordWithdrawal(tx(1), { account: A, amount: 4n * TON, seqno: 0, to: TO, expiry: EXPIRY }, NOW);

    // Assess
    expect(r).toEqual({ result: "applied", match: "after-release" });
    expect(t.calls()).toBe(2);
    expect([await t.bal(REQ), await t.bal(WDR), await t.bal(CHAIN_ACCOUNT)]).toEqual([6n * TON, 0n, -6n * TON]);
    expect(await t.record(0)).toMatchObject({ status: "landed", afterRelease: true });
  });

  it("a store error other than a failed condition is rethrown at once, not retried", async () => {
    // Prepare
    const t = setup(() => {
      throw new Error("disk full");
    });
    await fund(t.store, 10n * TON);
    const before = t.snapshot();

    // Act
    const e = await rejection(t.ledger.recordWithdrawal(tx(1), { account: A, amount: TON }, NOW));

    // Assess
    expect(e.message).toBe("disk full");
    expect(t.calls()).toBe(1);
    expect(t.snapshot()).toEqual(before);
  });

  it("conditions failing on every attempt: ChainLedgerContentionError / ledger_contention after 5 attempts, nothing written", async () => {
    // Prepare
    const t = setup(() => {
      throw new ConditionFailedError(1);
    });
    await fund(t.store, 10n * TON);
    const before = t.snapshot();

    // Act
    const e = await rejection(t.ledger.recordWithdrawal(tx(1), { account: A, amount: TON }, NOW));

    // Assess
    expect(e).toBeInstanceOf(ChainLedgerContentionError);
    expect(e.name).toBe("ChainLedgerContentionError");
    expect(e.code).toBe("ledger_contention");
    expect(e.message).toContain(`could not record withdrawal ${tx(1)}`);
    expect(t.calls()).toBe(5);
    expect(t.snapshot()).toEqual(before);
  });
});

describe("recordWithdrawal: lower seqnos still pending died unpaid", () => {
  it("a landing of seqno 3 gives back the pending 2 and 1 (nearest first) and stops at the landed 0; meta names them", async () => {
    // Prepare: 0 landed; 1, 2, 3 reserved (1 and 2 refused at payment on chain, their seqnos used by 3)
    const t = setup();
    await fund(t.store, 10n * TON);
    for (const [seqno, amount] of [
      [0, 1n],
      [1, 2n],
      [2, 3n],
      [3, 1n],
    ] as const)
      await reserve(t.store, { seqno, gen: 0, amount: amount * TON });
    await t.ledger.recordWithdrawal(tx(1), { account: A, amount: TON, seqno: 0, to: TO, expiry: EXPIRY }, NOW);

    // Act
    const r = await t.ledger.recordWithdrawal(tx(2), { account: A, amount: TON, seqno: 3, to: TO, expiry: EXPIRY }, NOW + 1);

    // Assess: 3 paid out of its reservation, 1 and 2 back in available, 0 untouched
    expect(r).toEqual({ result: "applied", match: "reserved" });
    expect((await t.movement(tx(2)))?.meta).toMatchObject({ match: "reserved", deadSeqnos: "2,1" });
    expect(await t.record(2)).toMatchObject({ status: "released", supersededBy: tx(2), releasedAt: NOW + 1 });
    expect(await t.record(1)).toMatchObject({ status: "released", supersededBy: tx(2) });
    expect(await t.record(0)).toMatchObject({ status: "landed", landedTx: tx(1) });
    expect([await t.bal(REQ), await t.bal(WDR), await t.bal(CHAIN_ACCOUNT)]).toEqual([8n * TON, 0n, -8n * TON]);
  });

  it("a lower seqno released meanwhile (the expiry release) is decided again: returned once, never twice", async () => {
    // Prepare: 0 and 1 reserved; the expiry release of 0 lands between the ledger's reads and its write
    const t = setup(async (ops, call) => {
      if (call === 0 && ops.some((o) => o.op === "update" && o.table === "chain")) await release(t.store, 0, 2n * TON);
    });
    await fund(t.store, 10n * TON);
    await reserve(t.store, { seqno: 0, gen: 0, amount: 2n * TON });
    await reserve(t.store, { seqno: 1, gen: 0, amount: TON });

    // Act
    const r = await t.ledger.recordWithdrawal(tx(1), { account: A, amount: TON, seqno: 1, to: TO, expiry: EXPIRY }, NOW);

    // Assess: 0 came back by its release only; 1 paid
    expect(r).toEqual({ result: "applied", match: "reserved" });
    expect((await t.movement(tx(1)))?.meta).not.toHaveProperty("deadSeqnos");
    expect(await t.record(0)).toMatchObject({ status: "released" });
    expect([await t.bal(REQ), await t.bal(WDR), await t.bal(CHAIN_ACCOUNT)]).toEqual([9n * TON, 0n, -9n * TON]);
  });
});

describe("recordWithdrawal: how far down a landing releases dead seqnos", () => {
  it("seqno 0 still pending when 1 lands died unpaid too: its reservation comes back (the walk reaches 0)", async () => {
    // Prepare: 0 and 1 reserved; 0 was refused at payment and 1 used its seqno
    const t = setup();
    await fund(t.store, 10n * TON);
    await reserve(t.store, { seqno: 0, gen: 0, amount: 2n * TON });
    await reserve(t.store, { seqno: 1, gen: 0, amount: TON });

    // Act
    const r = await t.ledger.recordWithdrawal(tx(1), { account: A, amount: TON, seqno: 1, to: TO, expiry: EXPIRY }, NOW);

    // Assess: 1 paid out of its reservation, 0's 2 TON back in available
    expect(r).toEqual({ result: "applied", match: "reserved" });
    expect((await t.movement(tx(1)))?.meta).toMatchObject({ deadSeqnos: "0" });
    expect(await t.record(0)).toMatchObject({ status: "released", supersededBy: tx(1) });
    expect([await t.bal(REQ), await t.bal(WDR), await t.bal(CHAIN_ACCOUNT)]).toEqual([9n * TON, 0n, -9n * TON]);
  });

  it("at most 64 dead seqnos in one landing (one DynamoDB transaction): the nearest 64; the lower ones stay reserved", async () => {
    // Prepare: seqnos 0..66 reserved, 1 nanoTON each; 66 lands
    const t = setup();
    await fund(t.store, TON);
    for (let seqno = 0; seqno <= 66; seqno++) await reserve(t.store, { seqno, gen: 0, amount: 1n });

    // Act
    await t.ledger.recordWithdrawal(tx(1), { account: A, amount: 1n, seqno: 66, to: TO, expiry: EXPIRY }, NOW);

    // Assess: 65 down to 2 released; 1 and 0 still pending, their 2 nanoTON still in wdr
    const dead = (await t.movement(tx(1)))?.meta as { deadSeqnos: string };
    expect(dead.deadSeqnos.split(",").map(Number)).toEqual(Array.from({ length: 64 }, (_, i) => 65 - i));
    expect(await t.record(2)).toMatchObject({ status: "released" });
    expect(await t.record(1)).toMatchObject({ status: "pending" });
    expect(await t.record(0)).toMatchObject({ status: "pending" });
    expect([await t.bal(REQ), await t.bal(WDR), await t.bal(CHAIN_ACCOUNT)]).toEqual([TON - 3n, 2n, -(TON - 1n)]);
  });
});

describe("recordWithdrawal: what a landing reads below its seqno", () => {
  it("it stops at the first issued seqno below that is not pending: an account's 100 landed withdrawals cost a landing one read, not 100", async () => {
    // Prepare: seqnos 0..99 landed long ago; 100 reserved and pending
    const store = createMemoryStore();
    await fund(store, TON);
    for (let seqno = 0; seqno < 100; seqno++) {
      const issued = issuedWithdrawalOp({ account: A, seqno, amount: 1n, to: TO, expiry: EXPIRY }, NOW, { gen: 0 }) as Extract<
        WriteOp,
        { op: "put" }
      >;
      await store.transact([{ ...issued, item: { ...issued.item, status: "landed" } }]);
    }
    await reserve(store, { seqno: 100, gen: 0, amount: 1n });
    const below: number[] = [];
    const counted: Store = {
      get: ((table, key, opts) => {
        const m = /^wd:[^:]+:(\d+)$/.exec(String(key.pk));
        if (table === "chain" && m && Number(m[1]) < 100) below.push(Number(m[1]));
        return store.get(table, key, opts);
      }) as Store["get"],
      query: store.query.bind(store),
      transact: store.transact.bind(store),
    };

    // Act
    const r = await new StoreChainLedger(counted).recordWithdrawal(
      tx(1),
      { account: A, amount: 1n, seqno: 100, to: TO, expiry: EXPIRY },
      NOW,
    );

    // Assess
    expect(r).toEqual({ result: "applied", match: "reserved" });
    expect(below).toEqual([99]);
  });
});

describe("recordWithdrawal: earlier generations of a seqno", () => {
  /** Seqno 0 issued at gen 0 (4 TON, EXPIRY), released, re-issued at `gen` (3 TON, a later expiry) and pending. */
  async function reissued(gen: number) {
    const t = setup();
    await fund(t.store, 10n * TON);
    await reserve(t.store, { seqno: 0, gen: 0, amount: 4n * TON });
    await release(t.store, 0, 4n * TON);
    await reserve(t.store, { seqno: 0, gen, amount: 3n * TON, expiry: EXPIRY + 3600 });
    return t;
  }
  const firstIssue = { account: A, amount: 4n * TON, seqno: 0, to: TO, expiry: EXPIRY };

  it("the issue 32 generations back still matches: after-release, and the pending re-issue is released back", async () => {
    // Prepare
    const t = await reissued(32);

    // Act
    const r = await t.ledger.recordWithdrawal(tx(1), firstIssue, NOW);

    // Assess: 4 debited from available again, the 3 reserved for the re-issue come back
    expect(r).toEqual({ result: "applied", match: "after-release" });
    expect((await t.movement(tx(1)))?.meta).toMatchObject({ match: "after-release", from: REQ, gen: "32" });
    expect(await t.record(0)).toMatchObject({ status: "released", supersededBy: tx(1), gen: 32 });
    expect([await t.bal(REQ), await t.bal(WDR), await t.bal(CHAIN_ACCOUNT)]).toEqual([6n * TON, 0n, -6n * TON]);
  });

  it("the issue 33 generations back is out of reach: unmatched (the pending re-issue is released all the same)", async () => {
    // Prepare
    const t = await reissued(33);

    // Act
    const r = await t.ledger.recordWithdrawal(tx(1), firstIssue, NOW);

    // Assess
    expect(r).toEqual({ result: "applied", match: "unmatched" });
    expect(await t.record(0)).toMatchObject({ status: "released", supersededBy: tx(1) });
    expect([await t.bal(REQ), await t.bal(WDR), await t.bal(CHAIN_ACCOUNT)]).toEqual([6n * TON, 0n, -6n * TON]);
  });
});

describe("recordRedemption", () => {
  it("pays the cumulative beyond what was redeemed out of vch:<workerId>; meta; a replay answers duplicate with the same paid and workerId", async () => {
    // Prepare
    const t = setup();
    await voucherFunds(t.store, 1000n);
    await t.ledger.recordIssuedVoucher({ workerId: "w1", payee: W, worker: W, cumulative: 1000n, expiry: EXPIRY }, NOW);

    // Act
    const first = await t.ledger.recordRedemption(tx(1), { payee: W, cumulative: 600n }, NOW);
    const after = t.snapshot();
    const replay = await t.ledger.recordRedemption(tx(1), { payee: W, cumulative: 600n }, NOW + 1);
    const replaySnapshot = t.snapshot();
    const second = await t.ledger.recordRedemption(tx(2), { payee: W, cumulative: 900n }, NOW + 2);

    // Assess
    expect(first).toEqual({ result: "applied", paid: 600n, workerId: "w1" });
    expect(replay).toEqual({ result: "duplicate", paid: 600n, workerId: "w1" });
    expect(replaySnapshot).toEqual(after);
    expect(second).toEqual({ result: "applied", paid: 300n, workerId: "w1" });
    const m = await t.movement(tx(1));
    expect(m?.kind).toBe("redemption");
    expect(m?.meta).toStrictEqual({ txHash: tx(1), payee: W, worker: "", workerId: "w1", cumulative: "600", paid: "600" });
    expect([await t.bal(voucherAccount("w1")), await t.bal(CHAIN_ACCOUNT)]).toEqual([100n, -100n]);
    expect(await t.ledger.redeemed(W)).toBe(900n);
  });

  it("books the due the vault paid, not cumulative − progress: a claim refused at payment lowered the wallet's mark", async () => {
    // Prepare: vouchers 600 then 700 in flight; the vault refused the first (600 due) and paid the second (100 due)
    const t = setup();
    await voucherFunds(t.store, 700n);
    await t.ledger.recordIssuedVoucher({ workerId: "w1", payee: W, worker: W, cumulative: 700n, expiry: EXPIRY }, NOW);

    // Act: the paid claim, then the same voucher redeemed again (the mark was 100: 600 due)
    const first = await t.ledger.recordRedemption(tx(1), { payee: W, cumulative: 700n, due: 100n }, NOW);
    const progress = await t.ledger.redeemed(W);
    const again = await t.ledger.recordRedemption(tx(2), { payee: W, cumulative: 700n, due: 600n }, NOW + 1);

    // Assess: each booked what the vault paid; the progress follows the wallet's mark
    expect(first).toEqual({ result: "applied", paid: 100n, workerId: "w1" });
    expect(progress).toBe(100n);
    expect(again).toEqual({ result: "applied", paid: 600n, workerId: "w1" });
    expect((await t.movement(tx(2)))?.meta).toMatchObject({ cumulative: "700", paid: "600" });
    expect(await t.ledger.redeemed(W)).toBe(700n);
    expect([await t.bal(voucherAccount("w1")), await t.bal(CHAIN_ACCOUNT)]).toEqual([0n, 0n]);
  });

  it("a redemption at or below what was already redeemed pays nothing and never lowers the progress", async () => {
    // Prepare
    const t = setup();
    await voucherFunds(t.store, 1000n);
    await t.ledger.recordIssuedVoucher({ workerId: "w1", payee: W, worker: W, cumulative: 1000n, expiry: EXPIRY }, NOW);
    await t.ledger.recordRedemption(tx(1), { payee: W, cumulative: 600n }, NOW);

    // Act
    const lower = await t.ledger.recordRedemption(tx(2), { payee: W, cumulative: 400n }, NOW);
    const equal = await t.ledger.recordRedemption(tx(3), { payee: W, cumulative: 600n }, NOW);
    const progress = await t.ledger.redeemed(W);
    const vch = await t.bal(voucherAccount("w1"));
    const next = await t.ledger.recordRedemption(tx(4), { payee: W, cumulative: 700n }, NOW);

    // Assess
    expect(lower).toEqual({ result: "applied", paid: 0n, workerId: "w1" });
    expect(equal).toEqual({ result: "applied", paid: 0n, workerId: "w1" });
    expect(progress).toBe(600n);
    expect(vch).toBe(400n);
    expect(next).toEqual({ result: "applied", paid: 100n, workerId: "w1" });
    expect([await t.bal(voucherAccount("w1")), await t.bal(CHAIN_ACCOUNT)]).toEqual([300n, -300n]);
  });

  it("with no issued voucher: paid out of ext:unmatched, workerId null, recorded as workerId ''", async () => {
    // Prepare
    const t = setup();

    // Act
    const r = await t.ledger.recordRedemption(tx(1), { payee: W, cumulative: 500n }, NOW);

    // Assess
    expect(r).toEqual({ result: "applied", paid: 500n, workerId: null });
    expect((await t.movement(tx(1)))?.meta).toStrictEqual({
      txHash: tx(1),
      payee: W,
      worker: "",
      workerId: "",
      cumulative: "500",
      paid: "500",
    });
    expect([await t.bal(UNMATCHED_ACCOUNT), await t.bal(CHAIN_ACCOUNT)]).toEqual([-500n, 500n]);
  });

  // FAILS against the current source: the replay answers workerId "" (read back from the meta), the first answer null.
  it("a replay of a redemption with no issued voucher answers workerId null, as the first answer did", async () => {
    // Prepare
    const t = setup();
    const first = await t.ledger.recordRedemption(tx(1), { payee: W, cumulative: 500n }, NOW);

    // Act
    const replay = await t.ledger.recordRedemption(tx(1), { payee: W, cumulative: 500n }, NOW + 1);

    // Assess
    expect(replay).toEqual({ result: "duplicate", paid: first.paid, workerId: first.workerId });
  });

  it("a tx hash already in the ledger without meta answers duplicate, paid 0, workerId null, and moves nothing", async () => {
    // Prepare
    const t = setup();
    await t.store.transact([{ op: "put", table: "ledger", item: { pk: chainMovementId(tx(1)), sk: "tx", kind: "redemption", at: NOW } }]);
    const before = t.snapshot();

    // Act
    const r = await t.ledger.recordRedemption(tx(1), { payee: W, cumulative: 500n }, NOW);

    // Assess
    expect(r).toEqual({ result: "duplicate", paid: 0n, workerId: null });
    expect(t.snapshot()).toEqual(before);
  });

  it("redeemed() of an address never redeemed is 0", async () => {
    // Prepare
    const t = setup();

    // Act
    const r = await t.ledger.redeemed(W);

    // Assess
    expect(r).toBe(0n);
  });

  it("a concurrent redemption between the read and the write: decide again, pay only the difference", async () => {
    // Prepare: another pass records a redemption of 300 right before this one's first write
    const t = setup(async (_ops, call) => {
      if (call === 0) await new StoreChainLedger(t.store).recordRedemption(tx(9), { payee: W, cumulative: 300n }, NOW);
    });
    await voucherFunds(t.store, 1000n);
    await t.store.transact([
      {
        op: "put",
        table: "chain",
        item: { ...issuedVoucherKey(W), workerId: "w1", payee: W, worker: W, cumulative: 1000n, expiry: EXPIRY, at: NOW },
      },
    ]);

    // Act
    const r = await t.ledger.recordRedemption(tx(1), { payee: W, cumulative: 500n }, NOW);

    // Assess
    expect(r).toEqual({ result: "applied", paid: 200n, workerId: "w1" });
    expect(t.calls()).toBe(2);
    expect(await t.ledger.redeemed(W)).toBe(500n);
    expect([await t.bal(voucherAccount("w1")), await t.bal(CHAIN_ACCOUNT)]).toEqual([500n, -500n]);
  });

  it("a store error other than a failed condition is rethrown at once, not retried", async () => {
    // Prepare
    const t = setup(() => {
      throw new Error("disk full");
    });
    const before = t.snapshot();

    // Act
    const e = await rejection(t.ledger.recordRedemption(tx(1), { payee: W, cumulative: 500n }, NOW));

    // Assess
    expect(e.message).toBe("disk full");
    expect(t.calls()).toBe(1);
    expect(t.snapshot()).toEqual(before);
  });

  it("conditions failing on every attempt: ChainLedgerContentionError / ledger_contention after 5 attempts, nothing written", async () => {
    // Prepare
    const t = setup(() => {
      throw new ConditionFailedError(2);
    });
    const before = t.snapshot();

    // Act
    const e = await rejection(t.ledger.recordRedemption(tx(1), { payee: W, cumulative: 500n }, NOW));

    // Assess
    expect(e).toBeInstanceOf(ChainLedgerContentionError);
    expect(e.code).toBe("ledger_contention");
    expect(e.message).toContain(`could not record redemption ${tx(1)}`);
    expect(t.calls()).toBe(5);
    expect(t.snapshot()).toEqual(before);
  });
});

describe("recordIssuedVoucher keeps the highest cumulative per address", () => {
  it("a lower cumulative does not replace it", async () => {
    // Prepare
    const t = setup();
    await t.ledger.recordIssuedVoucher({ workerId: "w1", payee: W, worker: W, cumulative: 500n, expiry: EXPIRY }, NOW);
    const before = t.snapshot();

    // Act
    await t.ledger.recordIssuedVoucher({ workerId: "w1", payee: W, worker: W, cumulative: 300n, expiry: EXPIRY + 60 }, NOW + 1);

    // Assess
    expect(await t.ledger.findIssuedVoucher(W)).toEqual({ workerId: "w1", payee: W, worker: W, cumulative: 500n, expiry: EXPIRY });
    expect(t.snapshot()).toEqual(before);
  });

  it("an equal cumulative does not replace it either (workerId and expiry kept)", async () => {
    // Prepare
    const t = setup();
    await t.ledger.recordIssuedVoucher({ workerId: "w1", payee: W, worker: W, cumulative: 500n, expiry: EXPIRY }, NOW);
    const before = t.snapshot();

    // Act
    await t.ledger.recordIssuedVoucher({ workerId: "w2", payee: W, worker: W, cumulative: 500n, expiry: EXPIRY + 60 }, NOW + 1);

    // Assess
    expect(await t.ledger.findIssuedVoucher(W)).toEqual({ workerId: "w1", payee: W, worker: W, cumulative: 500n, expiry: EXPIRY });
    expect(t.snapshot()).toEqual(before);
  });
});

describe("liabilities and balances", () => {
  it("counts available and held of every external account", async () => {
    // Prepare: ext:chain -10 available, ext:escrow -3 available and -2 held (job code writes held)
    const t = setup();
    const ledger = new StoreChainLedger(t.store, { externalAccounts: [CHAIN_ACCOUNT, "ext:escrow"] });
    await t.ledger.creditDeposit(tx(1), A, 10n * TON, NOW);
    await t.store.transact([
      { op: "update", table: "accounts", key: { pk: "ext:escrow", sk: "balance" }, add: { available: -3n * TON, held: -2n * TON } },
    ]);

    // Act
    const l = await ledger.liabilities();

    // Assess
    expect(l).toBe(15n * TON);
  });

  it("a balance attribute stored as null reads as 0", async () => {
    // Prepare
    const t = setup();
    await t.store.transact([{ op: "put", table: "accounts", item: { pk: CHAIN_ACCOUNT, sk: "balance", available: -5n, held: null } }]);

    // Act
    const b = await t.ledger.balance(CHAIN_ACCOUNT);
    const l = await t.ledger.liabilities();

    // Assess
    expect(b).toEqual({ available: -5n, held: 0n });
    expect(l).toBe(5n);
  });
});
