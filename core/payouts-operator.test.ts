/**
 * The operator is paid its fees (`opr:fees`) through the worker voucher path (core/payouts.ts
 * issueOperatorVoucher): the money moves to `opr:vouchers` once per new cumulative, the payout
 * address is the operator's alone, only the configured operator key may ask, and the chain
 * ledger books the operator's redemptions against `opr:vouchers` (never ext:unmatched).
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../local/memory-store";
import { createChainLedger, UNMATCHED_ACCOUNT } from "./chain/store-ledger";
import { generateSigningKey } from "./crypto/keys";
import type { CoreDeps } from "./deps";
import { CocoonError } from "./errors";
import { applyMovement, getBalance, OPERATOR_ACCOUNT, workerAccount } from "./ledger";
import {
  InvalidPayoutAddressError,
  issueOperatorVoucher,
  issueVoucher,
  OPERATOR_PAYEE_ID,
  OPERATOR_VOUCHER_ACCOUNT,
  operatorKeyId,
  voucherAccount,
  type PayoutDeps,
  type VoucherSigner,
} from "./payouts";
import type { Store } from "./ports";

const ADDR_OP = "0:" + "c".repeat(64);
const ADDR_W = "0:" + "d".repeat(64);
const NOW = 1_760_000_000_000;
const OPERATOR_HEX = "ab".repeat(32);
const OPERATOR = operatorKeyId(OPERATOR_HEX);

/** Factory: deps over a memory store with a signer that records what it signed; the operator key configured unless told otherwise. */
function makeDeps(o: { operator?: boolean; signer?: boolean } = {}) {
  const store = createMemoryStore();
  const signed: Array<Parameters<VoucherSigner["sign"]>[0]> = [];
  const signer: VoucherSigner = {
    vault: "0:" + "f".repeat(64),
    payoutAddress(a) {
      if (!/^0:[0-9a-f]{64}$/.test(a)) throw new InvalidPayoutAddressError(`bad address ${a}`);
      return a;
    },
    async sign(v) {
      signed.push(v);
      return { signature: `sig:${v.worker}:${v.cumulative}:${v.expiry}` };
    },
  };
  const deps = {
    store,
    clock: { now: () => NOW },
    log: { info() {}, warn() {}, error() {} },
    ...(o.signer === false ? {} : { voucherSigner: signer }),
    ...(o.operator === false ? {} : { operatorKeyId: OPERATOR }),
  } as unknown as CoreDeps & PayoutDeps;
  return { store, deps, signed };
}

/** A settlement's operator fee, as core/ledger.ts books it (here from an external account). */
async function fee(store: Store, amount: bigint, job: string) {
  await applyMovement(store, {
    id: `settle:${job}`,
    kind: "settle",
    at: NOW,
    postings: [
      { account: "ext:jobs", field: "available", delta: -amount },
      { account: OPERATOR_ACCOUNT, field: "available", delta: amount },
    ],
  });
}

async function refusal(p: Promise<unknown>): Promise<CocoonError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(CocoonError);
  return e as CocoonError;
}

/** Every balance the payouts touch, to show a refusal moved nothing. */
async function balances(store: Store) {
  const ids = [OPERATOR_ACCOUNT, OPERATOR_VOUCHER_ACCOUNT, workerAccount(OPERATOR), voucherAccount(OPERATOR)];
  return Promise.all(ids.map(async (a) => [a, await getBalance(store, a)] as const));
}

describe("operator payouts (vouchers for opr:fees)", () => {
  it("the operator's fees move to opr:vouchers once per new cumulative, and the voucher names the operator for the watcher", async () => {
    // Prepare
    const { store, deps, signed } = makeDeps();
    await fee(store, 40n, "j1");

    // Act
    const v1 = await issueOperatorVoucher(deps, OPERATOR, ADDR_OP);
    const again = await issueOperatorVoucher(deps, OPERATOR, ADDR_OP);
    await fee(store, 10n, "j2");
    const v2 = await issueOperatorVoucher(deps, OPERATOR, ADDR_OP);

    // Assess
    expect(v1).toMatchObject({ worker: ADDR_OP, cumulative: "40" });
    expect(again.cumulative).toBe("40");
    expect(v2.cumulative).toBe("50");
    expect(signed.map((s) => s.cumulative)).toEqual([40n, 40n, 50n]);
    expect((await getBalance(store, OPERATOR_ACCOUNT)).available).toBe(0n);
    expect((await getBalance(store, OPERATOR_VOUCHER_ACCOUNT)).available).toBe(50n);
    expect(await store.get("ledger", { pk: `voucher:${OPERATOR_PAYEE_ID}:40`, sk: "tx" })).toMatchObject({
      kind: "voucher",
      postings: [
        { account: OPERATOR_ACCOUNT, field: "available", delta: "-40" },
        { account: OPERATOR_VOUCHER_ACCOUNT, field: "available", delta: "40" },
      ],
    });
    expect(await createChainLedger(store).findIssuedVoucher(ADDR_OP)).toMatchObject({ workerId: OPERATOR_PAYEE_ID, cumulative: 50n });
    // nothing of a worker's account was touched, not even one named by the operator's key
    expect(await store.get("accounts", { pk: workerAccount(OPERATOR), sk: "balance" })).toBeUndefined();
    expect(await store.get("accounts", { pk: voucherAccount(OPERATOR), sk: "balance" })).toBeUndefined();
  });

  it("the chain ledger books the operator's redemption against opr:vouchers, once per transaction", async () => {
    // Prepare
    const { store, deps } = makeDeps();
    await fee(store, 40n, "j1");
    await issueOperatorVoucher(deps, OPERATOR, ADDR_OP);
    const ledger = createChainLedger(store);

    // Act
    const first = await ledger.recordRedemption("aa".repeat(32), { worker: ADDR_OP, cumulative: 40n, due: 40n }, NOW);
    const replay = await ledger.recordRedemption("aa".repeat(32), { worker: ADDR_OP, cumulative: 40n, due: 40n }, NOW + 1);

    // Assess
    expect(first).toEqual({ result: "applied", paid: 40n, workerId: OPERATOR_PAYEE_ID });
    expect(replay).toEqual({ result: "duplicate", paid: 40n, workerId: OPERATOR_PAYEE_ID });
    expect(await ledger.balance(OPERATOR_VOUCHER_ACCOUNT)).toEqual({ available: 0n, held: 0n });
    expect(await ledger.balance(UNMATCHED_ACCOUNT)).toEqual({ available: 0n, held: 0n });
    expect(await ledger.balance("ext:chain")).toEqual({ available: 40n, held: 0n });
    expect(await store.get("accounts", { pk: voucherAccount(OPERATOR_PAYEE_ID), sk: "balance" })).toBeUndefined();
  });

  it("any other key is refused with 403 not_the_operator, a worker's too, and nothing moves", async () => {
    // Prepare
    const { store, deps, signed } = makeDeps();
    await fee(store, 40n, "j1");
    const other = generateSigningKey().id;
    await store.transact([{ op: "put", table: "workers", item: { pk: other, sk: "worker", workerId: other } }]);
    const before = await balances(store);

    // Act
    const e = await refusal(issueOperatorVoucher(deps, other, ADDR_OP));

    // Assess
    expect(e).toMatchObject({ status: 403, code: "not_the_operator" });
    expect(await balances(store)).toEqual(before);
    expect(signed).toEqual([]);
    expect(await createChainLedger(store).findIssuedVoucher(ADDR_OP)).toBeUndefined();
  });

  it("no operator key configured: 503 payouts_unavailable, even for the would-be operator", async () => {
    const { store, deps } = makeDeps({ operator: false });
    await fee(store, 40n, "j1");
    expect(await refusal(issueOperatorVoucher(deps, OPERATOR, ADDR_OP))).toMatchObject({ status: 503, code: "payouts_unavailable" });
    expect((await getBalance(store, OPERATOR_ACCOUNT)).available).toBe(40n);
  });

  it("no voucher signing key: 503 payouts_unavailable, as for workers", async () => {
    const { store, deps } = makeDeps({ signer: false });
    await fee(store, 40n, "j1");
    expect(await refusal(issueOperatorVoucher(deps, OPERATOR, ADDR_OP))).toMatchObject({ status: 503, code: "payouts_unavailable" });
  });

  it("no fees earned yet: 409 nothing_earned", async () => {
    const { deps } = makeDeps();
    expect(await refusal(issueOperatorVoucher(deps, OPERATOR, ADDR_OP))).toMatchObject({ status: 409, code: "nothing_earned" });
  });

  it("the operator's payout address is its own: a worker cannot take it, nor the operator a worker's, and it cannot move", async () => {
    // Prepare: the operator vouchered to ADDR_OP, a worker to ADDR_W
    const { store, deps } = makeDeps();
    await fee(store, 40n, "j1");
    await store.transact([{ op: "put", table: "workers", item: { pk: "w1", sk: "worker", workerId: "w1" } }]);
    await applyMovement(store, {
      id: "settle:w1",
      kind: "settle",
      at: NOW,
      postings: [
        { account: "ext:jobs", field: "available", delta: -70n },
        { account: workerAccount("w1"), field: "available", delta: 70n },
      ],
    });
    await issueOperatorVoucher(deps, OPERATOR, ADDR_OP);
    await issueVoucher(deps, "w1", ADDR_W);
    await fee(store, 5n, "j2");

    // Act
    const workerTakes = await refusal(issueVoucher(deps, "w1", ADDR_OP));
    const operatorTakes = await refusal(issueOperatorVoucher(deps, OPERATOR, ADDR_W));
    const operatorMoves = await refusal(issueOperatorVoucher(deps, OPERATOR, "0:" + "e".repeat(64)));

    // Assess
    expect(workerTakes.code).toBe("payout_address_mismatch");
    expect(operatorTakes.code).toBe("payout_address_mismatch");
    expect(operatorMoves).toMatchObject({ code: "payout_address_mismatch", details: { payoutAddress: ADDR_OP } });
    expect((await getBalance(store, OPERATOR_ACCOUNT)).available).toBe(5n);
    expect((await getBalance(store, voucherAccount("w1"))).available).toBe(70n);
  });

  it("a fresh worker cannot take the operator's payout address (payout_address_taken), and its earnings stay put", async () => {
    const { store, deps } = makeDeps();
    await fee(store, 40n, "j1");
    await issueOperatorVoucher(deps, OPERATOR, ADDR_OP);
    await store.transact([{ op: "put", table: "workers", item: { pk: "w2", sk: "worker", workerId: "w2" } }]);
    await applyMovement(store, {
      id: "settle:w2",
      kind: "settle",
      at: NOW,
      postings: [
        { account: "ext:jobs", field: "available", delta: -30n },
        { account: workerAccount("w2"), field: "available", delta: 30n },
      ],
    });
    expect((await refusal(issueVoucher(deps, "w2", ADDR_OP))).code).toBe("payout_address_taken");
    expect((await getBalance(store, workerAccount("w2"))).available).toBe(30n);
  });

  it("the operator key id is the signing key's id (base64url of the public key) from its hex form", () => {
    const k = generateSigningKey();
    expect(operatorKeyId(Buffer.from(k.publicKey).toString("hex"))).toBe(k.id);
    expect(() => operatorKeyId("xyz")).toThrow(/64 chars/);
  });
});
