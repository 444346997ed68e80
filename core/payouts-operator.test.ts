/**
 * The operator is paid its fees (the shards `opr:fees:<k>`, all swept at once) through the worker voucher path (core/payouts.ts
 * issueOperatorVoucher): the money moves to `opr:vouchers` once per new cumulative, the payout
 * address is the operator's alone, only the configured operator key may ask, and the chain
 * ledger books the operator's redemptions against `opr:vouchers` (never ext:unmatched).
 */
import { payeeHex } from "./chain/payee";
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../local/memory-store";
import { createChainLedger, UNMATCHED_ACCOUNT } from "./chain/store-ledger";
import { generateSigningKey } from "./crypto/keys";
import type { CoreDeps } from "./deps";
import { CocoonError } from "./errors";
import { applyMovement, getBalance, OPERATOR_FEE_ACCOUNTS, operatorFeeAccount, operatorFeesEarned, workerAccount } from "./ledger";
import {
  issueOperatorVoucher,
  issueVoucher,
  OPERATOR_PAYEE_ID,
  OPERATOR_VOUCHER_ACCOUNT,
  operatorKeyId,
  voucherAccount,
  type PayoutDeps,
} from "./payouts";
import type { Store } from "./ports";
import { creditSettlement, recordingVoucherSigner } from "./payouts-testing";

const ADDR_OP = "0:" + "c".repeat(64);
const ADDR_W = "0:" + "d".repeat(64);
const NOW = 1_760_000_000_000;
const OPERATOR_HEX = "ab".repeat(32);
const OPERATOR = operatorKeyId(OPERATOR_HEX);

/** Factory: deps over a memory store with a signer that records what it signed; the operator key configured unless told otherwise. */
function makeDeps(o: { operator?: boolean; signer?: boolean } = {}) {
  const store = createMemoryStore();
  const { signer, signed } = recordingVoucherSigner();
  const deps = {
    store,
    clock: { now: () => NOW },
    log: { info() {}, warn() {}, error() {} },
    ...(o.signer === false ? {} : { voucherSigner: signer }),
    ...(o.operator === false ? {} : { operatorKeyId: OPERATOR }),
  } as unknown as CoreDeps & PayoutDeps;
  return { store, deps, signed };
}

/** A settlement's operator fee of a job `worker` ran, as core/ledger.ts books it: in the worker's fee shard (here from an external account). */
async function fee(store: Store, amount: bigint, job: string, worker = "w1") {
  await creditSettlement(store, operatorFeeAccount(worker), amount, job, NOW);
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
  const ids = [...OPERATOR_FEE_ACCOUNTS, OPERATOR_VOUCHER_ACCOUNT, workerAccount(OPERATOR), voucherAccount(OPERATOR)];
  return Promise.all(ids.map(async (a) => [a, await getBalance(store, a)] as const));
}

describe("operator payouts (vouchers for the opr:fees shards)", () => {
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
    expect(await operatorFeesEarned(store)).toBe(0n);
    expect((await getBalance(store, OPERATOR_VOUCHER_ACCOUNT)).available).toBe(50n);
    expect(await store.get("ledger", { pk: `voucher:${OPERATOR_PAYEE_ID}:40`, sk: "tx" })).toMatchObject({
      kind: "voucher",
      postings: [
        { account: operatorFeeAccount("w1"), field: "available", delta: "-40" },
        { account: OPERATOR_VOUCHER_ACCOUNT, field: "available", delta: "40" },
      ],
    });
    expect(v1.payee).toBe(payeeHex(OPERATOR_PAYEE_ID));
    expect(await createChainLedger(store).findIssuedVoucher(payeeHex(OPERATOR_PAYEE_ID))).toMatchObject({
      workerId: OPERATOR_PAYEE_ID,
      worker: ADDR_OP,
      cumulative: 50n,
    });
    // nothing of a worker's account was touched, not even one named by the operator's key
    expect(await store.get("accounts", { pk: workerAccount(OPERATOR), sk: "balance" })).toBeUndefined();
    expect(await store.get("accounts", { pk: voucherAccount(OPERATOR), sk: "balance" })).toBeUndefined();
  });

  it("fees in several shards: one movement sweeps every shard with fees into opr:vouchers, exactly, and a replay moves nothing", async () => {
    // Prepare: w1 and b pay into shard 5, w2 into 12, w3 into 15; the other shards are empty
    const { store, deps, signed } = makeDeps();
    await fee(store, 40n, "j1", "w1");
    await fee(store, 2n, "j2", "b");
    await fee(store, 7n, "j3", "w2");
    await fee(store, 11n, "j4", "w3");

    // Act
    const v = await issueOperatorVoucher(deps, OPERATOR, ADDR_OP);
    const replay = await issueOperatorVoucher(deps, OPERATOR, ADDR_OP);

    // Assess
    expect(v.cumulative).toBe("60");
    expect(replay.cumulative).toBe("60");
    expect(signed.map((s) => s.cumulative)).toEqual([60n, 60n]);
    expect(await store.get("ledger", { pk: `voucher:${OPERATOR_PAYEE_ID}:60`, sk: "tx" })).toMatchObject({
      kind: "voucher",
      postings: [
        { account: "opr:fees:5", field: "available", delta: "-42" },
        { account: "opr:fees:12", field: "available", delta: "-7" },
        { account: "opr:fees:15", field: "available", delta: "-11" },
        { account: OPERATOR_VOUCHER_ACCOUNT, field: "available", delta: "60" },
      ],
    });
    for (const a of OPERATOR_FEE_ACCOUNTS) expect((await getBalance(store, a)).available).toBe(0n);
    expect((await getBalance(store, OPERATOR_VOUCHER_ACCOUNT)).available).toBe(60n);
  });

  it("a fee landing between the voucher's reads and its write is neither lost nor counted twice", async () => {
    // Prepare: fees in shards 5 and 12; a settlement of w1 (shard 5, already read) and one of w3 (shard 15, read empty)
    // land while the voucher is still reading the shards
    const { store, deps } = makeDeps();
    await fee(store, 40n, "j1", "w1");
    await fee(store, 7n, "j2", "w2");
    const get = store.get.bind(store);
    let landed = false;
    store.get = (async (t: Parameters<Store["get"]>[0], k: Parameters<Store["get"]>[1], opts?: Parameters<Store["get"]>[2]) => {
      const it = await get(t, k, opts);
      if (!landed && t === "accounts" && k.pk === OPERATOR_FEE_ACCOUNTS.at(-1)) {
        landed = true;
        await fee(store, 3n, "j3", "w1");
        await fee(store, 5n, "j4", "w3");
      }
      return it;
    }) as Store["get"];

    // Act
    const v1 = await issueOperatorVoucher(deps, OPERATOR, ADDR_OP);
    const v2 = await issueOperatorVoucher(deps, OPERATOR, ADDR_OP);

    // Assess: the first voucher paid what it read, the late fees stayed in their shards for the next one
    expect(landed).toBe(true);
    expect(v1.cumulative).toBe("47");
    expect(v2.cumulative).toBe("55");
    expect(await operatorFeesEarned(store)).toBe(0n);
    expect((await getBalance(store, OPERATOR_VOUCHER_ACCOUNT)).available).toBe(55n);
    expect(await store.get("ledger", { pk: `voucher:${OPERATOR_PAYEE_ID}:55`, sk: "tx" })).toMatchObject({
      postings: [
        { account: "opr:fees:5", field: "available", delta: "-3" },
        { account: "opr:fees:15", field: "available", delta: "-5" },
        { account: OPERATOR_VOUCHER_ACCOUNT, field: "available", delta: "8" },
      ],
    });
  });

  it("three vouchers asked at once over several shards: the fees move once, and all three name the same cumulative", async () => {
    // Prepare
    const { store, deps } = makeDeps();
    await fee(store, 40n, "j1", "w1");
    await fee(store, 7n, "j2", "w2");
    await fee(store, 11n, "j3", "w3");

    // Act
    const vs = await Promise.all([1, 2, 3].map(() => issueOperatorVoucher(deps, OPERATOR, ADDR_OP)));

    // Assess
    expect(vs.map((v) => v.cumulative)).toEqual(["58", "58", "58"]);
    expect(await operatorFeesEarned(store)).toBe(0n);
    expect((await getBalance(store, OPERATOR_VOUCHER_ACCOUNT)).available).toBe(58n);
  });

  it("the chain ledger books the operator's redemption against opr:vouchers, once per transaction", async () => {
    // Prepare
    const { store, deps } = makeDeps();
    await fee(store, 40n, "j1");
    await issueOperatorVoucher(deps, OPERATOR, ADDR_OP);
    const ledger = createChainLedger(store);

    // Act
    const first = await ledger.recordRedemption(
      "aa".repeat(32),
      { payee: payeeHex(OPERATOR_PAYEE_ID), worker: ADDR_OP, cumulative: 40n, due: 40n },
      NOW,
    );
    const replay = await ledger.recordRedemption(
      "aa".repeat(32),
      { payee: payeeHex(OPERATOR_PAYEE_ID), worker: ADDR_OP, cumulative: 40n, due: 40n },
      NOW + 1,
    );

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
    expect(await createChainLedger(store).findIssuedVoucher(payeeHex(OPERATOR_PAYEE_ID))).toBeUndefined();
  });

  it("no operator key configured: 503 payouts_unavailable, even for the would-be operator", async () => {
    const { store, deps } = makeDeps({ operator: false });
    await fee(store, 40n, "j1");
    expect(await refusal(issueOperatorVoucher(deps, OPERATOR, ADDR_OP))).toMatchObject({ status: 503, code: "payouts_unavailable" });
    expect(await operatorFeesEarned(store)).toBe(40n);
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

  it("a payee bound to one address cannot switch to the other's, nor the operator move its own", async () => {
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
    expect(await operatorFeesEarned(store)).toBe(5n);
    expect((await getBalance(store, voucherAccount("w1"))).available).toBe(70n);
  });

  it("vault v2: a fresh worker may be paid to the operator's payout address too; each keeps its own cumulative", async () => {
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
    const v = await issueVoucher(deps, "w2", ADDR_OP);
    expect(v).toMatchObject({ payee: payeeHex("w2"), worker: ADDR_OP, cumulative: "30" });
    expect((await getBalance(store, workerAccount("w2"))).available).toBe(0n);
    expect((await getBalance(store, OPERATOR_VOUCHER_ACCOUNT)).available).toBe(40n);
    expect(await createChainLedger(store).findIssuedVoucher(payeeHex(OPERATOR_PAYEE_ID))).toMatchObject({ cumulative: 40n });
  });

  it("the operator key id is the signing key's id (base64url of the public key) from its hex form", () => {
    const k = generateSigningKey();
    expect(operatorKeyId(Buffer.from(k.publicKey).toString("hex"))).toBe(k.id);
    expect(() => operatorKeyId("xyz")).toThrow(/64 chars/);
  });

  it("the operator key id: exactly 64 hex chars, either case; one more or less, or anything around them, is refused", () => {
    const hex = "ab".repeat(32);
    expect(operatorKeyId(hex.toUpperCase())).toBe(operatorKeyId(hex));
    for (const bad of [hex.slice(1), hex + "a", " " + hex, hex + "\n", "0x" + hex, "g" + hex.slice(1)])
      expect(() => operatorKeyId(bad)).toThrow("the operator key must be a 32-byte Ed25519 public key in hex (64 chars)");
  });

  it("each refusal of the operator's voucher says what to do", async () => {
    // Prepare: fees earned, vouchered once to ADDR_OP
    const { store, deps } = makeDeps();
    const { deps: unconfigured } = makeDeps({ operator: false });
    const { deps: empty } = makeDeps();
    await fee(store, 40n, "j1");
    await issueOperatorVoucher(deps, OPERATOR, ADDR_OP);

    // Act + Assess
    expect(await refusal(issueOperatorVoucher(unconfigured, OPERATOR, ADDR_OP))).toMatchObject({
      status: 503,
      code: "payouts_unavailable",
      message: "this coordinator has no operator key configured (COCOON_OPERATOR_KEY); operator payouts are off",
    });
    expect(await refusal(issueOperatorVoucher(deps, generateSigningKey().id, ADDR_OP))).toMatchObject({
      status: 403,
      code: "not_the_operator",
      message: "only the operator's key (COCOON_OPERATOR_KEY) may be paid the operator's fees",
    });
    expect(await refusal(issueOperatorVoucher(deps, OPERATOR, ADDR_W))).toMatchObject({
      status: 409,
      code: "payout_address_mismatch",
      message: `the operator's vouchers are paid to ${ADDR_OP}; ask with that payoutAddress (it is bound by the first voucher)`,
      details: { payoutAddress: ADDR_OP },
    });
    expect(await refusal(issueOperatorVoucher(empty, OPERATOR, ADDR_OP))).toMatchObject({
      status: 409,
      code: "nothing_earned",
      message: "the operator has earned no fees yet: ask again once jobs have settled",
    });
  });
});
