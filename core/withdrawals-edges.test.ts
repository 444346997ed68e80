/**
 * core/withdrawals.ts, edge by edge (issue 14, mutation-checked): Idempotency-Key replays
 * (after the money moved on, after an expiry, without a key), the amount bound, store failures
 * and endless conflicts, the seqno skip over landed records, and the release of expired
 * withdrawals to the second: exact grace and watcher-pass bounds, several at once, a landed
 * one in between, a landing that slips in between the release's read and its write, the
 * vault's seqno read once. withdrawals.test.ts holds the main flows and issue 9 #3.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../local/memory-store";
import { accountId } from "./chain/fixtures";
import { CHAIN_ACCOUNT, issuedWithdrawalKey, pendingWithdrawalAccount, StoreChainLedger } from "./chain/store-ledger";
import type { CoreDeps } from "./deps";
import { CocoonError } from "./errors";
import { getBalance, requesterAccount } from "./ledger";
import { ConditionFailedError, type WriteOp } from "./ports";
import {
  DEFAULT_RELEASE_GRACE_SECONDS,
  getWithdrawal,
  releaseExpiredWithdrawals,
  requestWithdrawal,
  type WithdrawalDeps,
} from "./withdrawals";
import { fakeSigner } from "./withdrawals-testing";

const TON = 1_000_000_000n;
const NOW = 1_760_000_000_000;
const A = accountId(7);
const TO = "0:" + "c".repeat(64);
const GRACE = DEFAULT_RELEASE_GRACE_SECONDS;

/** Factory: deps over a memory store, a recording signer (with or without the vault's seqno getter), a log that keeps lines, a clock the test sets. */
function makeDeps(o: { chain?: boolean; signer?: boolean } = {}) {
  let now = NOW;
  // the store's clock too: idempotency records carry a TTL, judged against it
  const store = createMemoryStore({ clock: { now: () => now } });
  const signer = fakeSigner({ chain: o.chain });
  const logs: Array<{ level: string; msg: string; data?: Record<string, unknown> }> = [];
  const log = (level: string) => (msg: string, data?: Record<string, unknown>) => void logs.push({ level, msg, ...(data ? { data } : {}) });
  const deps = {
    store,
    clock: { now: () => now },
    log: { info: log("info"), warn: log("warn"), error: log("error") },
    ...(o.signer === false ? {} : { withdrawalSigner: signer }),
  } as unknown as CoreDeps & WithdrawalDeps;
  const ledger = new StoreChainLedger(store);
  return {
    store,
    signer,
    signed: signer.signed,
    deps,
    ledger,
    logs,
    chainReads: () => signer.chainReads,
    setNow: (ms: number) => (now = ms),
    caughtUp: (at: number) => ledger.markPass(at, { caughtUpAsOf: at }),
    deposit: (amount: bigint, tx = "d1") => ledger.creditDeposit(tx.padEnd(64, "0"), A, amount, NOW),
    available: async () => (await getBalance(store, requesterAccount(A))).available,
    pending: async () => (await getBalance(store, pendingWithdrawalAccount(A))).available,
  };
}

async function refusal(p: Promise<unknown>) {
  const e = await p.then(
    () => undefined,
    (x) => x,
  );
  expect(e).toBeInstanceOf(CocoonError);
  return { status: e.status, code: e.code, message: e.message, details: e.details };
}

/** Factory: the record of withdrawal `seqno` (1 nanoTON, long expired) that the chain watcher saw land. */
const landedRecord = (seqno: number): WriteOp => ({
  op: "put",
  table: "chain",
  item: { ...issuedWithdrawalKey(A, seqno), account: A, seqno, amount: 1n, to: TO, expiry: 1, reserved: true, status: "landed", gen: 0 },
});

/** The first second at which a withdrawal with this expiry may be released. */
const releasableAt = (expiry: number) => (expiry + GRACE + 1) * 1000;

describe("requestWithdrawal: Idempotency-Key", () => {
  it("a retry after the money moved on (nothing left to reserve) still gets the same withdrawal, not a 402", async () => {
    const t = makeDeps();
    await t.deposit(TON);
    const first = await requestWithdrawal(t.deps, A, { amount: TON, to: TO }, { idempotencyKey: "key-0000001" });
    expect(await t.available()).toBe(0n);
    expect(await requestWithdrawal(t.deps, A, { amount: TON, to: TO }, { idempotencyKey: "key-0000001" })).toEqual(first);
    expect(await t.pending()).toBe(TON);
  });

  it("without a key every request is a new withdrawal", async () => {
    const t = makeDeps();
    await t.deposit(TON);
    const a = await requestWithdrawal(t.deps, A, { amount: 100n, to: TO });
    const b = await requestWithdrawal(t.deps, A, { amount: 100n, to: TO });
    expect([a.seqno, b.seqno]).toEqual([0, 1]);
    expect(await t.pending()).toBe(200n);
  });

  it("the same key with another body is 422 idempotency_key_reused, saying what to do", async () => {
    const t = makeDeps();
    await t.deposit(TON);
    await requestWithdrawal(t.deps, A, { amount: 100n, to: TO }, { idempotencyKey: "key-0000002" });
    expect(await refusal(requestWithdrawal(t.deps, A, { amount: 101n, to: TO }, { idempotencyKey: "key-0000002" }))).toMatchObject({
      status: 422,
      code: "idempotency_key_reused",
      message: "this Idempotency-Key was used for a different withdrawal (amount or destination): use a new key for a new withdrawal",
    });
  });

  it("the key of a withdrawal that expired and was released answers 410 withdrawal_expired, also once its seqno was issued again", async () => {
    // Prepare
    const t = makeDeps();
    await t.deposit(TON);
    const w = await requestWithdrawal(t.deps, A, { amount: 300n, to: TO }, { idempotencyKey: "key-expired" });
    t.setNow(releasableAt(w.expiry));
    await t.caughtUp(releasableAt(w.expiry));
    expect((await releaseExpiredWithdrawals(t.deps, A)).released).toBe(1);
    const expired = {
      status: 410,
      code: "withdrawal_expired",
      message: "the withdrawal this key made expired unused and its amount is available again: request a new one with a new key",
    };
    // Act + Assess: released
    expect(await refusal(requestWithdrawal(t.deps, A, { amount: 300n, to: TO }, { idempotencyKey: "key-expired" }))).toMatchObject(expired);
    // seqno 0 issued again (gen 1) under another key: the old key still does not get it
    const again = await requestWithdrawal(t.deps, A, { amount: 500n, to: TO }, { idempotencyKey: "key-new-one" });
    expect([again.seqno, (await getWithdrawal(t.store, A, 0))!.gen]).toEqual([0, 1]);
    expect(await refusal(requestWithdrawal(t.deps, A, { amount: 300n, to: TO }, { idempotencyKey: "key-expired" }))).toMatchObject(expired);
    expect(await t.pending()).toBe(500n);
  });
});

describe("requestWithdrawal: refusals, failures, seqnos", () => {
  it("the largest amount the vault can hold (2^120 - 1) is an amount (402 here), 2^120 is not (400)", async () => {
    const t = makeDeps();
    await t.deposit(TON);
    const max = (1n << 120n) - 1n;
    expect(await refusal(requestWithdrawal(t.deps, A, { amount: max, to: TO }))).toMatchObject({
      status: 402,
      code: "insufficient_funds",
      message: `withdrawing ${max} nanoTON needs that much available, the account has ${TON} nanoTON available (money held for running jobs or reserved for other withdrawals is not)`,
      details: { needed: max.toString(), available: TON.toString() },
    });
    expect(await refusal(requestWithdrawal(t.deps, A, { amount: 1n << 120n, to: TO }))).toMatchObject({
      status: 400,
      code: "invalid_amount",
      message: `amount must be a positive whole number of nanoTON below 2^120 (the vault's coins field), got ${1n << 120n}`,
    });
  });

  it("each refusal says what to do: no signer, to the vault, another workchain, chain unreadable", async () => {
    const t = makeDeps();
    await t.deposit(TON);
    expect(await refusal(requestWithdrawal(makeDeps({ signer: false }).deps, A, { amount: 1n, to: TO }))).toMatchObject({
      status: 503,
      code: "withdrawals_unavailable",
      message: "this coordinator has no withdrawal signing key configured; withdrawals are off",
    });
    expect((await refusal(requestWithdrawal(t.deps, A, { amount: 1n, to: t.signer.vault }))).message).toBe(
      "to is the vault's own address: the payment would come straight back and be sent back again until fees ate it; withdraw to a wallet of yours",
    );
    expect((await refusal(requestWithdrawal(t.deps, A, { amount: 1n, to: "-1:" + "c".repeat(64) }))).message).toBe(
      `to -1:${"c".repeat(64)} is outside the basechain (workchain 0): the vault pays basechain addresses only`,
    );
    t.signer.chainSeqno = async () => {
      throw new Error("toncenter 503");
    };
    expect((await refusal(requestWithdrawal(t.deps, A, { amount: 1n, to: TO }))).message).toBe(
      "could not read the vault's withdraw seqno for this account (toncenter 503); try again shortly",
    );
  });

  it("what is signed, reserved and logged", async () => {
    const t = makeDeps();
    await t.deposit(TON);
    const w = await requestWithdrawal(t.deps, A, { amount: 250n, to: TO }, { ttlSeconds: 120 });
    expect(t.signed).toEqual([{ account: A, to: TO, amount: 250n, seqno: 0, expiry: NOW / 1000 + 120 }]);
    expect(await t.store.get("ledger", { pk: `withdrawal:${A}:0:0`, sk: "tx" })).toMatchObject({
      kind: "withdrawal",
      meta: { account: A, seqno: "0", gen: "0", to: TO, amount: "250", expiry: String(w.expiry), stage: "reserve" },
    });
    expect(t.logs).toContainEqual({
      level: "info",
      msg: "withdrawal issued",
      data: { account: A, seqno: 0, gen: 0, to: TO, amount: "250", expiry: w.expiry },
    });
  });

  it("a store failure is passed on as it is; endless conflicts end in 503 withdrawal_contention after a bounded number of tries", async () => {
    const t = makeDeps();
    await t.deposit(TON);
    const transact = t.store.transact.bind(t.store);
    const disk = new Error("disk on fire");
    t.store.transact = async (ops: WriteOp[]) => {
      if (ops.some((op) => op.op === "put" && op.table === "ledger")) throw disk;
      return transact(ops);
    };
    await expect(requestWithdrawal(t.deps, A, { amount: 1n, to: TO })).rejects.toBe(disk);
    let tries = 0;
    t.store.transact = async (ops: WriteOp[]) => {
      if (ops.some((op) => op.op === "put" && op.table === "ledger")) {
        tries++;
        throw new ConditionFailedError(ops.length - 1);
      }
      return transact(ops);
    };
    expect(await refusal(requestWithdrawal(t.deps, A, { amount: 1n, to: TO }))).toMatchObject({
      status: 503,
      code: "withdrawal_contention",
      message: "could not issue the withdrawal: concurrent withdrawals kept conflicting; try again",
    });
    expect(tries).toBe(8);
    expect(await t.pending()).toBe(0n);
  });

  it("keyless withdrawals racing each other each get their own seqno", async () => {
    const t = makeDeps();
    await t.deposit(TON);
    const all = await Promise.all([1n, 2n, 3n].map((amount) => requestWithdrawal(t.deps, A, { amount, to: TO })));
    expect(all.map((w) => w.seqno).sort()).toEqual([0, 1, 2]);
    expect(await t.pending()).toBe(6n);
  });

  it("the counter behind two records the ledger saw land: both are skipped, with a warning", async () => {
    const t = makeDeps({ chain: false });
    await t.deposit(TON);
    for (const seqno of [0, 1]) await t.store.transact([landedRecord(seqno)]);
    const w = await requestWithdrawal(t.deps, A, { amount: 5n, to: TO });
    expect(w.seqno).toBe(2);
    expect(t.logs).toContainEqual({
      level: "warn",
      msg: "withdrawal seqno counter behind the vault: skipping seqnos already spent on chain",
      data: { account: A, next: 0, chainSeqno: undefined, issuing: 2 },
    });
  });

  it("no warning when the counter is where the vault is", async () => {
    const t = makeDeps();
    await t.deposit(TON);
    await requestWithdrawal(t.deps, A, { amount: 5n, to: TO });
    expect(t.logs.filter((l) => l.level === "warn")).toEqual([]);
  });
});

describe("releaseExpiredWithdrawals: to the second", () => {
  it("not while now <= expiry + grace; the first second after, yes", async () => {
    const t = makeDeps();
    await t.deposit(TON);
    const w = await requestWithdrawal(t.deps, A, { amount: 10n, to: TO });
    await t.caughtUp(releasableAt(w.expiry) + 60_000); // a watcher pass (its clock ahead) already past expiry + grace
    t.setNow((w.expiry + GRACE) * 1000 + 999);
    expect((await releaseExpiredWithdrawals(t.deps, A)).released).toBe(0);
    t.setNow(w.expiry * 1000); // and long before
    expect((await releaseExpiredWithdrawals(t.deps, A)).released).toBe(0);
    t.setNow(releasableAt(w.expiry));
    expect((await releaseExpiredWithdrawals(t.deps, A)).released).toBe(1);
  });

  it("a watcher pass that started exactly at expiry + grace counts; one a millisecond earlier does not", async () => {
    const t = makeDeps({ chain: false });
    await t.deposit(TON);
    const w = await requestWithdrawal(t.deps, A, { amount: 10n, to: TO });
    t.setNow(releasableAt(w.expiry) + 5_000);
    await t.caughtUp((w.expiry + GRACE) * 1000 - 1);
    expect((await releaseExpiredWithdrawals(t.deps, A)).released).toBe(0);
    await t.caughtUp((w.expiry + GRACE) * 1000);
    expect((await releaseExpiredWithdrawals(t.deps, A)).released).toBe(1);
  });

  it("several expired at once: one movement, seqnos ascending, the counter rewound to the first, the vault's seqno read once, logged", async () => {
    // Prepare
    const t = makeDeps();
    await t.deposit(TON);
    const ws = [];
    for (const amount of [10n, 20n, 30n]) ws.push(await requestWithdrawal(t.deps, A, { amount, to: TO }));
    const at = releasableAt(ws[2]!.expiry);
    t.setNow(at);
    await t.caughtUp(at);
    const readsBefore = t.chainReads();
    // Act
    const r = await releaseExpiredWithdrawals(t.deps, A);
    // Assess
    expect(r).toEqual({ released: 3, amount: 60n, seqnos: [0, 1, 2] });
    expect(t.chainReads() - readsBefore).toBe(1);
    expect(await t.pending()).toBe(0n);
    expect(await t.available()).toBe(TON);
    expect(await t.store.get("ledger", { pk: `withdrawal-release:${A}:0:0`, sk: "tx" })).toMatchObject({
      kind: "withdrawal",
      meta: { account: A, seqnos: "2,1,0", gen: "0", stage: "release" },
    });
    expect(t.logs).toContainEqual({
      level: "info",
      msg: "expired withdrawals released",
      data: { account: A, seqnos: [2, 1, 0], amount: "60", rewoundTo: 0 },
    });
    expect((await requestWithdrawal(t.deps, A, { amount: 1n, to: TO })).seqno).toBe(0);
  });

  it("a landed withdrawal in between stops the batch: only the ones after it come back", async () => {
    const t = makeDeps({ chain: false });
    await t.deposit(TON);
    const ws = [];
    for (const amount of [10n, 20n, 30n]) ws.push(await requestWithdrawal(t.deps, A, { amount, to: TO }));
    await t.ledger.recordWithdrawal("e".repeat(64), { account: A, amount: 20n, seqno: 1, to: TO }, NOW);
    const at = releasableAt(ws[2]!.expiry);
    t.setNow(at);
    await t.caughtUp(at);
    expect(await releaseExpiredWithdrawals(t.deps, A)).toEqual({ released: 1, amount: 30n, seqnos: [2] });
    // seqno 0 was given back by seqno 1's landing already (it can never land after it: StoreChainLedger.recordWithdrawal)
    expect(await getWithdrawal(t.store, A, 0)).toMatchObject({ status: "released" });
    expect(await t.pending()).toBe(0n);
    expect(await t.available()).toBe(TON - 20n);
  });

  it("a landing that slips in between the release's reads and its write wins: nothing is released, nothing counted twice", async () => {
    // Prepare
    const t = makeDeps();
    await t.deposit(TON);
    const w = await requestWithdrawal(t.deps, A, { amount: 40n, to: TO });
    const at = releasableAt(w.expiry);
    t.setNow(at);
    await t.caughtUp(at);
    const transact = t.store.transact.bind(t.store);
    t.store.transact = async (ops: WriteOp[]) => {
      if (ops.some((op) => op.op === "put" && op.table === "ledger" && String(op.item.pk).startsWith("withdrawal-release:"))) {
        t.store.transact = transact;
        await t.ledger.recordWithdrawal("f".repeat(64), { account: A, amount: 40n, seqno: 0, to: TO }, at); // the watcher, just now
      }
      return transact(ops);
    };
    // Act
    const r = await releaseExpiredWithdrawals(t.deps, A);
    // Assess
    expect(r).toEqual({ released: 0, amount: 0n, seqnos: [] });
    expect(await getWithdrawal(t.store, A, 0)).toMatchObject({ status: "landed" });
    expect([await t.available(), await t.pending(), (await getBalance(t.store, CHAIN_ACCOUNT)).available]).toEqual([
      TON - 40n,
      0n,
      -(TON - 40n),
    ]);
  });

  it("works where withdrawals are off (no signer): what was reserved still comes back", async () => {
    const t = makeDeps();
    await t.deposit(TON);
    const w = await requestWithdrawal(t.deps, A, { amount: 40n, to: TO });
    const off = { ...t.deps, withdrawalSigner: undefined } as typeof t.deps;
    t.setNow(releasableAt(w.expiry));
    await t.caughtUp(releasableAt(w.expiry));
    expect((await releaseExpiredWithdrawals(off, A)).released).toBe(1);
  });

  it("an unreadable vault seqno keeps them reserved and says so in the log", async () => {
    const t = makeDeps();
    await t.deposit(TON);
    const w = await requestWithdrawal(t.deps, A, { amount: 40n, to: TO });
    t.setNow(releasableAt(w.expiry));
    await t.caughtUp(releasableAt(w.expiry));
    t.signer.chainSeqno = async () => {
      throw new Error("toncenter 503");
    };
    expect((await releaseExpiredWithdrawals(t.deps, A)).released).toBe(0);
    expect(t.logs).toContainEqual({
      level: "warn",
      msg: "vault seqno unreadable: expired withdrawals stay reserved for now",
      data: { account: A, error: "toncenter 503" },
    });
  });

  it("a store failure during the release is passed on, not taken for a lost race", async () => {
    const t = makeDeps();
    await t.deposit(TON);
    const w = await requestWithdrawal(t.deps, A, { amount: 40n, to: TO });
    t.setNow(releasableAt(w.expiry));
    await t.caughtUp(releasableAt(w.expiry));
    const disk = new Error("disk on fire");
    const transact = t.store.transact.bind(t.store);
    t.store.transact = async (ops: WriteOp[]) => {
      if (ops.some((op) => op.op === "put" && op.table === "ledger")) throw disk;
      return transact(ops);
    };
    await expect(releaseExpiredWithdrawals(t.deps, A)).rejects.toBe(disk);
  });

  it("issue 14: at most 90 in one release (a store transaction holds 100 operations); the next call takes the rest (it stayed reserved forever: its gen predates the first release's rewind)", async () => {
    const t = makeDeps({ chain: false });
    await t.deposit(TON);
    let last = 0;
    for (let i = 0; i < 91; i++) last = (await requestWithdrawal(t.deps, A, { amount: 1n, to: TO })).expiry;
    t.setNow(releasableAt(last));
    await t.caughtUp(releasableAt(last));
    const first = await releaseExpiredWithdrawals(t.deps, A);
    expect([first.released, first.seqnos[0], first.seqnos.at(-1)]).toEqual([90, 1, 90]);
    expect((await releaseExpiredWithdrawals(t.deps, A)).seqnos).toEqual([0]);
    expect(await t.pending()).toBe(0n);
  });
});

describe("withdrawal records", () => {
  it("a record the coordinator did not reserve (the watcher's own) is not a withdrawal of core/withdrawals", async () => {
    const t = makeDeps();
    await t.store.transact([
      { op: "put", table: "chain", item: { ...issuedWithdrawalKey(A, 0), account: A, seqno: 0, amount: 5n, to: TO, expiry: 9 } },
    ]);
    expect(await getWithdrawal(t.store, A, 0)).toBeUndefined();
  });

  it("a pending record has no landing transaction; a landed one names it", async () => {
    const t = makeDeps();
    await t.deposit(TON);
    const w = await requestWithdrawal(t.deps, A, { amount: 5n, to: TO });
    expect(await getWithdrawal(t.store, A, 0)).toStrictEqual({
      account: A,
      seqno: 0,
      gen: 0,
      amount: 5n,
      to: TO,
      expiry: w.expiry,
      status: "pending",
    });
    await t.ledger.recordWithdrawal("9".repeat(64), { account: A, amount: 5n, seqno: 0, to: TO }, NOW);
    expect(await getWithdrawal(t.store, A, 0)).toMatchObject({ status: "landed", landedTx: "9".repeat(64) });
  });

  it("a counter more than 90 seqnos behind what landed is refused (503) rather than scanned without bound", async () => {
    const t = makeDeps({ chain: false });
    await t.deposit(TON);
    const landed = Array.from({ length: 91 }, (_, seqno) => landedRecord(seqno));
    for (let i = 0; i < landed.length; i += 50) await t.store.transact(landed.slice(i, i + 50));
    expect((await refusal(requestWithdrawal(t.deps, A, { amount: 1n, to: TO }))).code).toBe("withdrawal_contention");
    expect(await t.pending()).toBe(0n);
  });
});

describe("a withdrawal racing the release of the seqnos before it", () => {
  it("the request that loses the race to a release re-reads the counter and takes the rewound seqno (the vault only accepts its next one)", async () => {
    // Prepare: seqno 0 issued and expired; the request's own release pass finds the watcher not
    // caught up yet, and another release (a caught-up watcher's) commits just before the request does
    const t = makeDeps();
    await t.deposit(5n * TON);
    const w0 = await requestWithdrawal(t.deps, A, { amount: TON, to: TO });
    t.setNow(releasableAt(w0.expiry));
    const transact = t.store.transact.bind(t.store);
    let released = 0;
    t.store.transact = async (ops: WriteOp[]) => {
      if (ops.some((op) => op.op === "put" && op.table === "chain" && op.item.next === 2)) {
        t.store.transact = transact;
        await t.caughtUp(releasableAt(w0.expiry));
        released = (await releaseExpiredWithdrawals(t.deps, A)).released;
      }
      return transact(ops);
    };
    // Act
    const w = await requestWithdrawal(t.deps, A, { amount: 2n * TON, to: TO });
    // Assess
    expect(released).toBe(1);
    expect(w.seqno).toBe(0);
    expect(t.signed.map((s) => [s.seqno, s.amount])).toEqual([
      [0, TON],
      [0, 2n * TON],
    ]);
    expect(await getWithdrawal(t.store, A, 0)).toMatchObject({ status: "pending", amount: 2n * TON, gen: 1 });
    expect(await t.pending()).toBe(2n * TON);
    expect(await t.available()).toBe(3n * TON);
  });
});
