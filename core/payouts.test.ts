import { payeeHex } from "./chain/payee";
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../local/memory-store";
import type { CoreDeps } from "./deps";
import { getBalance, workerAccount } from "./ledger";
import { createChainLedger } from "./chain/store-ledger";
import { InvalidPayoutAddressError, issueVoucher, payoutTotals, voucherAccount, type PayoutDeps, type VoucherSigner } from "./payouts";
import type { Store } from "./ports";
import { creditSettlement } from "./payouts-testing";

const ADDR_A = "0:" + "a".repeat(64);
const ADDR_B = "0:" + "b".repeat(64);
const NOW = 1_760_000_000_000;

/** A signer that parses addresses like the TON one (raw form only here, any workchain) and records what it signed. */
function fakeSigner(): VoucherSigner & { signed: Array<{ payee: string; worker: string; cumulative: bigint; expiry: number }> } {
  const signed: Array<{ payee: string; worker: string; cumulative: bigint; expiry: number }> = [];
  return {
    vault: "0:" + "f".repeat(64),
    signed,
    payoutAddress(a) {
      if (!/^-?\d{1,3}:[0-9a-f]{64}$/.test(a)) throw new InvalidPayoutAddressError(`bad address ${a}`);
      return a;
    },
    async sign(v) {
      signed.push(v);
      return { signature: Buffer.from(`${v.worker}|${v.cumulative}|${v.expiry}`).toString("base64") };
    },
  };
}

async function makeDeps(o: { signer?: boolean } = {}) {
  const store = createMemoryStore();
  const signer = fakeSigner();
  const deps = {
    store,
    clock: { now: () => NOW },
    log: { info() {}, warn() {}, error() {} },
    ...(o.signer === false ? {} : { voucherSigner: signer }),
  } as unknown as CoreDeps & PayoutDeps;
  return { store, signer, deps };
}

async function registerWorker(store: Store, id: string) {
  await store.transact([{ op: "put", table: "workers", item: { pk: id, sk: "worker", workerId: id } }]);
}

/** A job's settlement credit, as core/jobs does it (here from an external account). */
async function earn(store: Store, id: string, amount: bigint, job: string) {
  await creditSettlement(store, workerAccount(id), amount, job, NOW);
}

describe("worker payouts (vouchers)", () => {
  it("a voucher covers everything earned: earnings move to the issued-vouchers account once, and the cumulative only grows", async () => {
    // Prepare
    const { store, deps, signer } = await makeDeps();
    await registerWorker(store, "w1");
    await earn(store, "w1", 700n, "j1");

    // Act
    const v1 = await issueVoucher(deps, "w1", ADDR_A);
    const again = await issueVoucher(deps, "w1", ADDR_A);
    await earn(store, "w1", 300n, "j2");
    const v2 = await issueVoucher(deps, "w1", ADDR_A);

    // Assess
    expect(v1).toMatchObject({ vault: signer.vault, worker: ADDR_A, cumulative: "700", expiry: NOW / 1000 + 86_400 });
    expect(again.cumulative).toBe("700");
    expect(v2.cumulative).toBe("1000");
    expect((await getBalance(store, workerAccount("w1"))).available).toBe(0n);
    expect((await getBalance(store, voucherAccount("w1"))).available).toBe(1000n);
    expect(await store.get("ledger", { pk: "voucher:w1:700", sk: "tx" })).toBeDefined();
    expect(await store.get("ledger", { pk: "voucher:w1:1000", sk: "tx" })).toBeDefined();
    expect(await payoutTotals(store, "w1")).toMatchObject({ earned: 1000n, redeemed: 0n, unredeemed: 1000n, payoutAddress: ADDR_A });
    expect((await createChainLedger(store).findIssuedVoucher(payeeHex("w1")))?.cumulative).toBe(1000n);
  });

  it("concurrent requests issue one movement and all sign the same cumulative amount", async () => {
    // Prepare
    const { store, deps } = await makeDeps();
    await registerWorker(store, "w1");
    await earn(store, "w1", 5_000n, "j1");

    // Act
    const all = await Promise.all(Array.from({ length: 8 }, () => issueVoucher(deps, "w1", ADDR_A)));

    // Assess
    expect(new Set(all.map((v) => v.cumulative))).toEqual(new Set(["5000"]));
    expect((await getBalance(store, workerAccount("w1"))).available).toBe(0n);
    expect((await getBalance(store, voucherAccount("w1"))).available).toBe(5_000n);
  });

  it("the watcher's redemption pays out of the issued-vouchers account; a replay pays nothing", async () => {
    // Prepare
    const { store, deps } = await makeDeps();
    await registerWorker(store, "w1");
    await earn(store, "w1", 900n, "j1");
    await issueVoucher(deps, "w1", ADDR_A);
    const ledger = createChainLedger(store);

    // Act
    const first = await ledger.recordRedemption("aa".repeat(32), { payee: payeeHex("w1"), worker: ADDR_A, cumulative: 900n }, NOW);
    const replay = await ledger.recordRedemption("bb".repeat(32), { payee: payeeHex("w1"), worker: ADDR_A, cumulative: 900n }, NOW);

    // Assess
    expect(first).toEqual({ result: "applied", paid: 900n, workerId: "w1" });
    expect(replay.paid).toBe(0n);
    expect((await getBalance(store, voucherAccount("w1"))).available).toBe(0n);
    expect((await getBalance(store, workerAccount("w1"))).available).toBe(0n);
    expect(await payoutTotals(store, "w1")).toMatchObject({ earned: 900n, redeemed: 900n, unredeemed: 0n });
  });

  it("vault v2: two workers asking at once for one payout address are both vouchered, each its own cumulative under its own payee; the ledger conserves", async () => {
    // Prepare
    const { store, deps, signer } = await makeDeps();
    for (const id of ["w1", "w2"]) await registerWorker(store, id);
    await earn(store, "w1", 400n, "j1");
    await earn(store, "w2", 700n, "j2");

    // Act: both ask for a voucher to the same address at once (a GPU owner's two agents)
    const [v1, v2] = await Promise.all([issueVoucher(deps, "w1", ADDR_A), issueVoucher(deps, "w2", ADDR_A)]);

    // Assess: each signed for its own payee, to the shared address, for its own earnings
    expect([v1, v2]).toMatchObject([
      { payee: payeeHex("w1"), worker: ADDR_A, cumulative: "400" },
      { payee: payeeHex("w2"), worker: ADDR_A, cumulative: "700" },
    ]);
    expect(signer.signed.map((s) => [s.payee, s.worker, s.cumulative])).toEqual(
      expect.arrayContaining([
        [payeeHex("w1"), ADDR_A, 400n],
        [payeeHex("w2"), ADDR_A, 700n],
      ]),
    );
    const ledger = createChainLedger(store);
    expect(await ledger.findIssuedVoucher(payeeHex("w1"))).toMatchObject({ workerId: "w1", worker: ADDR_A, cumulative: 400n });
    expect(await ledger.findIssuedVoucher(payeeHex("w2"))).toMatchObject({ workerId: "w2", worker: ADDR_A, cumulative: 700n });
    for (const [id, amount] of [["w1", 400n] as const, ["w2", 700n] as const]) {
      expect((await getBalance(store, workerAccount(id))).available).toBe(0n);
      expect((await getBalance(store, voucherAccount(id))).available).toBe(amount);
      expect(await payoutTotals(store, id)).toMatchObject({ issued: amount, payoutAddress: ADDR_A });
    }
    const total = store
      .scan("accounts")
      .reduce((sum, a) => sum + BigInt((a.available as bigint) ?? 0n) + BigInt((a.held as bigint) ?? 0n), 0n);
    expect(total).toBe(0n);
  });

  it("vault v2: a redemption on a shared address is booked against the payee the vault paid, never the other one", async () => {
    // Prepare: w1 and w2 vouchered to one address
    const { store, deps } = await makeDeps();
    for (const id of ["w1", "w2"]) await registerWorker(store, id);
    await earn(store, "w1", 400n, "j1");
    await earn(store, "w2", 700n, "j2");
    await issueVoucher(deps, "w1", ADDR_A);
    await issueVoucher(deps, "w2", ADDR_A);
    const ledger = createChainLedger(store);

    // Act: the vault paid w2's voucher (its payee, to the shared address)
    const r = await ledger.recordRedemption("cc".repeat(32), { payee: payeeHex("w2"), worker: ADDR_A, cumulative: 700n, due: 700n }, NOW);

    // Assess: booked against w2 alone; w1's vouchered earnings untouched
    expect(r).toEqual({ result: "applied", paid: 700n, workerId: "w2" });
    expect(await payoutTotals(store, "w2")).toMatchObject({ redeemed: 700n, unredeemed: 0n });
    expect(await payoutTotals(store, "w1")).toMatchObject({ redeemed: 0n, unredeemed: 400n });
    expect(await ledger.redeemed(payeeHex("w1"))).toBe(0n);
  });

  it("refuses what it cannot honour, with precise codes, and moves no money", async () => {
    // Prepare
    const { store, deps } = await makeDeps();
    const { deps: unsigned, store: store2 } = await makeDeps({ signer: false });
    await registerWorker(store, "w1");
    await registerWorker(store, "w2");
    await registerWorker(store, "idle");
    await registerWorker(store2, "w1");
    await earn(store, "w1", 100n, "j1");
    await earn(store, "w2", 100n, "j2");
    await issueVoucher(deps, "w1", ADDR_A);
    await earn(store, "w1", 50n, "j3");
    const code = (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (e: { status: number; code: string }) => `${e.status} ${e.code}`,
      );

    // Act + Assess
    expect(await code(issueVoucher(unsigned, "w1", ADDR_A))).toBe("503 payouts_unavailable");
    expect(await code(issueVoucher(deps, "stranger", ADDR_A))).toBe("403 not_a_worker");
    expect(await code(issueVoucher(deps, "w1", "nope"))).toBe("400 invalid_payout_address");
    expect(await code(issueVoucher(deps, "w1", ADDR_B))).toBe("409 payout_address_mismatch");
    expect(await code(issueVoucher(deps, "idle", ADDR_B))).toBe("409 nothing_earned");
    expect((await getBalance(store, workerAccount("w1"))).available).toBe(50n);
    expect((await getBalance(store, workerAccount("w2"))).available).toBe(100n);
    // another worker's address is no refusal any more (vault v2: the mark is per payee)
    expect(await code(issueVoucher(deps, "w2", ADDR_A))).toBe("ok");
    expect((await getBalance(store, voucherAccount("w1"))).available).toBe(100n);
  });

  it("refuses an address the vault never pays before the earnings move or the address is bound", async () => {
    // Prepare: a worker with earnings and no voucher yet
    const { store, deps, signer } = await makeDeps();
    await registerWorker(store, "w1");
    await earn(store, "w1", 100n, "j1");
    const code = (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (e: { status: number; code: string }) => `${e.status} ${e.code}`,
      );

    // Act: the masterchain, then the vault's own address (the vault's checkDestination refuses both on Redeem)
    const masterchain = await code(issueVoucher(deps, "w1", "-1:" + "a".repeat(64)));
    const vault = await code(issueVoucher(deps, "w1", signer.vault));

    // Assess: refused, nothing moved, nothing signed, and a basechain address still works
    expect([masterchain, vault]).toEqual(["400 unsupported_workchain", "400 payout_to_vault"]);
    expect((await getBalance(store, workerAccount("w1"))).available).toBe(100n);
    expect((await getBalance(store, voucherAccount("w1"))).available).toBe(0n);
    expect(signer.signed).toEqual([]);
    expect(await code(issueVoucher(deps, "w1", ADDR_A))).toBe("ok");
  });
});
