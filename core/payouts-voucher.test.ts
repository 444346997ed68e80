/**
 * core/payouts.ts issueVoucher, edge by edge (issue 14, mutation-checked): what is signed and
 * recorded, that the issued-voucher record the watcher routes by is written in the same
 * transaction as the money (a crash right after it leaves the record), that another payee's use
 * of the same payout address blocks nothing (vault v2: the mark is per payee), that a store failure is not retried into a
 * contention error, that persistent contention ends in 503, that the cumulative never goes
 * down, and the message of each refusal. payouts.test.ts covers the main flows and races.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../local/memory-store";
import { payeeHex } from "./chain/payee";
import { createChainLedger } from "./chain/store-ledger";
import type { CoreDeps } from "./deps";
import { CocoonError } from "./errors";
import { applyMovement, getBalance, workerAccount } from "./ledger";
import { issueVoucher, voucherAccount, type PayoutDeps } from "./payouts";
import { ConditionFailedError, type WriteOp } from "./ports";
import { creditSettlement, recordingVoucherSigner } from "./payouts-testing";

const ADDR_A = "0:" + "a".repeat(64);
const ADDR_B = "0:" + "b".repeat(64);
const NOW = 1_760_000_000_000;

/** Factory: deps over a memory store, a signer that records what it signed, a log that keeps its lines. */
function makeDeps(o: { signer?: boolean } = {}) {
  const store = createMemoryStore();
  const { signer, signed } = recordingVoucherSigner();
  const logs: Array<{ msg: string; data?: Record<string, unknown> }> = [];
  const deps = {
    store,
    clock: { now: () => NOW },
    log: { info: (msg: string, data?: Record<string, unknown>) => logs.push({ msg, ...(data ? { data } : {}) }), warn() {}, error() {} },
    ...(o.signer === false ? {} : { voucherSigner: signer }),
  } as unknown as CoreDeps & PayoutDeps;
  return { store, deps, signed, logs };
}

async function worker(store: ReturnType<typeof createMemoryStore>, id: string, earned: bigint) {
  await store.transact([{ op: "put", table: "workers", item: { pk: id, sk: "worker", workerId: id } }]);
  if (earned > 0n) {
    await applyMovement(store, {
      id: `earn:${id}:${earned}`,
      kind: "settle",
      at: NOW,
      postings: [
        { account: "ext:jobs", field: "available", delta: -earned },
        { account: workerAccount(id), field: "available", delta: earned },
      ],
    });
  }
}

async function refusal(p: Promise<unknown>) {
  const e = await p.then(
    () => undefined,
    (x) => x,
  );
  expect(e).toBeInstanceOf(CocoonError);
  return { status: e.status, code: e.code, message: e.message, details: e.details };
}

describe("issueVoucher: what is signed, recorded and logged", () => {
  it("signs (payee, address, cumulative, expiry); the movement records worker, address and cumulative; the issue is logged", async () => {
    // Prepare
    const { store, deps, signed, logs } = makeDeps();
    await worker(store, "w1", 700n);
    // Act
    const v = await issueVoucher(deps, "w1", ADDR_A, { ttlSeconds: 60 });
    // Assess
    const expiry = NOW / 1000 + 60;
    expect(signed).toEqual([{ payee: payeeHex("w1"), worker: ADDR_A, cumulative: 700n, expiry }]);
    expect(v).toEqual({
      vault: "0:" + "f".repeat(64),
      payee: payeeHex("w1"),
      worker: ADDR_A,
      cumulative: "700",
      expiry,
      signature: `sig:${ADDR_A}:700:${expiry}`,
    });
    expect(await store.get("ledger", { pk: "voucher:w1:700", sk: "tx" })).toMatchObject({
      kind: "voucher",
      meta: { workerId: "w1", address: ADDR_A, cumulative: "700" },
    });
    expect(logs).toContainEqual({ msg: "voucher issued", data: { workerId: "w1", address: ADDR_A, cumulative: "700", expiry } });
  });

  it("the issued-voucher record is written in the same transaction as the money: a crash right after it leaves the record the watcher routes by", async () => {
    // Prepare: the store dies after the voucher's transaction commits
    const { store, deps } = makeDeps();
    await worker(store, "w1", 500n);
    const transact = store.transact.bind(store);
    const get = store.get.bind(store);
    let committed = false;
    store.transact = async (ops: WriteOp[]) => {
      if (committed) throw new Error("coordinator crashed");
      await transact(ops);
      if (ops.some((op) => op.op === "put" && op.table === "ledger" && String(op.item.pk).startsWith("voucher:"))) committed = true;
    };
    store.get = (async (...args: Parameters<typeof get>) => {
      if (committed) throw new Error("coordinator crashed");
      return get(...args);
    }) as typeof get;
    // Act
    await expect(issueVoucher(deps, "w1", ADDR_A)).rejects.toThrow("coordinator crashed");
    // Assess
    store.transact = transact;
    store.get = get;
    expect(await createChainLedger(store).findIssuedVoucher(payeeHex("w1"))).toMatchObject({
      workerId: "w1",
      worker: ADDR_A,
      cumulative: 500n,
    });
    // and the address is nobody's to take: another worker is paid to it too (vault v2)
    await worker(store, "w2", 300n);
    expect((await issueVoucher(deps, "w2", ADDR_A)).cumulative).toBe("300");
  });

  it("a store failure is passed on as it is, not retried into a contention error", async () => {
    const { store, deps } = makeDeps();
    await worker(store, "w1", 500n);
    const disk = new Error("disk on fire");
    const transact = store.transact.bind(store);
    store.transact = async (ops: WriteOp[]) => {
      if (ops.some((op) => op.op === "put" && op.table === "ledger")) throw disk;
      return transact(ops);
    };
    await expect(issueVoucher(deps, "w1", ADDR_A)).rejects.toBe(disk);
  });

  it("conflicts that never end: 503 voucher_contention after a bounded number of tries, no money moved", async () => {
    const { store, deps } = makeDeps();
    await worker(store, "w1", 500n);
    let tries = 0;
    const transact = store.transact.bind(store);
    store.transact = async (ops: WriteOp[]) => {
      if (ops.some((op) => op.op === "put" && op.table === "ledger")) {
        tries++;
        throw new ConditionFailedError(ops.length - 1); // someone else always got there first
      }
      return transact(ops);
    };
    expect(await refusal(issueVoucher(deps, "w1", ADDR_A))).toMatchObject({
      status: 503,
      code: "voucher_contention",
      message: "could not issue the voucher: concurrent updates kept conflicting; try again",
    });
    expect(tries).toBe(8);
  });

  it("a worker whose account went into debt is never signed less than its previous cumulative", async () => {
    const { store, deps, signed } = makeDeps();
    await worker(store, "w1", 700n);
    await issueVoucher(deps, "w1", ADDR_A);
    await store.transact([{ op: "update", table: "accounts", key: { pk: workerAccount("w1"), sk: "balance" }, add: { available: -50n } }]);
    expect((await issueVoucher(deps, "w1", ADDR_A)).cumulative).toBe("700");
    expect(signed.map((s) => s.cumulative)).toEqual([700n, 700n]);
  });
});

describe("issueVoucher: each refusal says what to do", () => {
  it("not a worker, no signing key, another address, nothing earned", async () => {
    const { store, deps } = makeDeps();
    const { deps: off, store: store2 } = makeDeps({ signer: false });
    await worker(store2, "w1", 100n);
    await worker(store, "w1", 100n);
    await worker(store, "w2", 100n);
    await worker(store, "idle", 0n);
    await issueVoucher(deps, "w1", ADDR_A);

    expect(await refusal(issueVoucher(deps, "stranger", ADDR_A))).toEqual({
      status: 403,
      code: "not_a_worker",
      message:
        "worker stranger is not registered (or was registered under another key): cocoon-agent start registers it; a worker registered before signs with the key it registered with (its COCOON_HOME, or --key)",
      details: undefined,
    });
    expect(await refusal(issueVoucher(off, "w1", ADDR_A))).toEqual({
      status: 503,
      code: "payouts_unavailable",
      message: "this coordinator has no voucher signing key configured; payouts are off",
      details: undefined,
    });
    expect(await refusal(issueVoucher(deps, "w1", ADDR_B))).toEqual({
      status: 409,
      code: "payout_address_mismatch",
      message: `this worker's vouchers are paid to ${ADDR_A}; ask with that payoutAddress (it is bound by the first voucher)`,
      details: { payoutAddress: ADDR_A },
    });
    expect(await refusal(issueVoucher(deps, "idle", ADDR_B))).toMatchObject({
      status: 409,
      code: "nothing_earned",
      message: "this worker has earned nothing yet: run jobs first, then ask for a voucher",
    });
  });
});

/**
 * The races between the voucher's reads and its write, made to happen at exactly that point (a
 * store wrapper runs the competitor there), so each retry branch must run and show its result;
 * and the address claim's own guard, at its exact boundary.
 */
describe("issueVoucher: a competitor between the read and the write", () => {
  const isVoucherWrite = (ops: WriteOp[]) =>
    ops.some((op) => op.op === "put" && op.table === "ledger" && String(op.item.pk).startsWith("voucher:"));

  it("a concurrent voucher moves the earnings after this one read no record: it decides again and signs that voucher's cumulative", async () => {
    // Prepare: the competitor runs to completion right when this request reads the worker's earnings
    const { store, deps, signed } = makeDeps();
    await worker(store, "w1", 700n);
    const get = store.get.bind(store);
    let raced = false;
    store.get = (async (...args: Parameters<typeof get>) => {
      if (!raced && args[0] === "accounts" && args[1].pk === workerAccount("w1")) {
        raced = true; // this request has read no payout record; the competitor's is written now
        await issueVoucher(deps, "w1", ADDR_A);
      }
      return get(...args);
    }) as typeof get;

    // Act
    const v = await issueVoucher(deps, "w1", ADDR_A);

    // Assess: not 409 nothing_earned: the earnings were vouchered, by the competitor, and this answer is that voucher
    expect(raced).toBe(true);
    expect(v.cumulative).toBe("700");
    expect(signed.map((s) => s.cumulative)).toEqual([700n, 700n]);
    expect((await getBalance(store, voucherAccount("w1"))).available).toBe(700n);
  });

  it("no record and nothing earned, without a competitor: 409 nothing_earned at once (the second read finds no record either)", async () => {
    // Prepare
    const { store, deps } = makeDeps();
    await worker(store, "w1", 0n);
    let recordReads = 0;
    const get = store.get.bind(store);
    store.get = (async (...args: Parameters<typeof get>) => {
      if (args[0] === "chain" && args[1].pk === "payout:w1") recordReads++;
      return get(...args);
    }) as typeof get;

    // Act
    const r = await refusal(issueVoucher(deps, "w1", ADDR_A));

    // Assess: one attempt (its read and the re-check), not eight
    expect(r.code).toBe("nothing_earned");
    expect(recordReads).toBe(2);
  });

  it("a concurrent voucher of this very amount commits first (duplicate): it reads again, so a settlement landed meanwhile is in the answer", async () => {
    // Prepare: at this request's write, a competitor issues the same cumulative, then a job settles
    const { store, deps, signed } = makeDeps();
    await worker(store, "w1", 700n);
    const transact = store.transact.bind(store);
    let raced = false;
    store.transact = async (ops: WriteOp[]) => {
      if (!raced && isVoucherWrite(ops)) {
        raced = true;
        expect((await issueVoucher(deps, "w1", ADDR_A)).cumulative).toBe("700");
        await creditSettlement(store, workerAccount("w1"), 200n, "j-late", NOW);
      }
      return transact(ops);
    };

    // Act
    const v = await issueVoucher(deps, "w1", ADDR_A);

    // Assess: this request's 700 was a duplicate; re-read, it issued 900 (700 + the late 200), one movement each
    expect(v.cumulative).toBe("900");
    expect(signed.map((s) => s.cumulative)).toEqual([700n, 900n]);
    expect(await store.get("ledger", { pk: "voucher:w1:700", sk: "tx" })).toBeDefined();
    expect(await store.get("ledger", { pk: "voucher:w1:900", sk: "tx" })).toBeDefined();
    expect((await getBalance(store, workerAccount("w1"))).available).toBe(0n);
    expect((await getBalance(store, voucherAccount("w1"))).available).toBe(900n);
  });

  it("vault v2, squatting is gone: another payee vouchered to this address between the read and the write costs this worker nothing", async () => {
    // Prepare: w1 holds ADDR_A (700 issued) and earns 300 more; at its write, w2 (a squatter, or
    // the owner's second agent) is vouchered to ADDR_A
    const { store, deps } = makeDeps();
    await worker(store, "w1", 700n);
    await worker(store, "w2", 5n);
    await issueVoucher(deps, "w1", ADDR_A);
    await creditSettlement(store, workerAccount("w1"), 300n, "j2", NOW);
    const transact = store.transact.bind(store);
    let raced = false;
    store.transact = async (ops: WriteOp[]) => {
      if (!raced && isVoucherWrite(ops)) {
        raced = true;
        expect((await issueVoucher(deps, "w2", ADDR_A)).cumulative).toBe("5");
      }
      return transact(ops);
    };

    // Act
    const v = await issueVoucher(deps, "w1", ADDR_A);

    // Assess: w1 is vouchered its whole 1000; each payee's record is its own
    expect(raced).toBe(true);
    expect(v).toMatchObject({ payee: payeeHex("w1"), worker: ADDR_A, cumulative: "1000" });
    expect((await getBalance(store, workerAccount("w1"))).available).toBe(0n);
    expect((await getBalance(store, voucherAccount("w1"))).available).toBe(1000n);
    const ledger = createChainLedger(store);
    expect(await ledger.findIssuedVoucher(payeeHex("w1"))).toMatchObject({ workerId: "w1", cumulative: 1000n });
    expect(await ledger.findIssuedVoucher(payeeHex("w2"))).toMatchObject({ workerId: "w2", cumulative: 5n });
  });

  it("a payee's issued record from a squatter's time (the v1 key `voucher:<address>`) is not read: it blocks nothing", async () => {
    // Prepare: what v1 wrote when another worker claimed ADDR_A
    const { store, deps } = makeDeps();
    await worker(store, "w1", 700n);
    await store.transact([
      {
        op: "put",
        table: "chain",
        item: { pk: `voucher:${ADDR_A}`, sk: "issued", workerId: "w2", worker: ADDR_A, cumulative: 5n, expiry: 0, at: NOW },
      },
    ]);

    // Act
    const v = await issueVoucher(deps, "w1", ADDR_A);

    // Assess
    expect(v.cumulative).toBe("700");
    expect((await getBalance(store, voucherAccount("w1"))).available).toBe(700n);
  });

  it("the vault's own address is refused naming the payoutAddress field", async () => {
    const { store, deps } = makeDeps();
    await worker(store, "w1", 100n);
    expect(await refusal(issueVoucher(deps, "w1", "0:" + "f".repeat(64)))).toMatchObject({
      status: 400,
      code: "payout_to_vault",
      message:
        "payoutAddress is the vault's own address: the payment would come straight back and be sent back again until fees ate it; be paid to a wallet of yours",
    });
  });
});
