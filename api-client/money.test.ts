import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { generateSigningKey } from "../core/crypto/keys";
import { API, ApiClient, ApiError, type RequestOptions } from "./api";
import { WITHDRAW_GAS } from "../functions/adapters/ton-chain";
import { depositAndWait, redeemEarnings, withdrawAndWait, WithdrawalUnconfirmedError } from "./money";
import { VAULT_MESSAGE_VALUE } from "./vault-messages";

/** What one call to the fake API was: the route's name in API and the options it was given. */
interface Call {
  route: keyof typeof API | "onWait";
  opts?: RequestOptions<unknown>;
  what?: string;
}

/** Answers a route's n-th call (0-based): a value (parsed with the route's schema, so always a valid answer) or a throw. */
type Answers = Partial<Record<keyof typeof API, (n: number) => unknown>>;

/**
 * A stand-in ApiClient: `request(route, opts)` answers by the route's name in API, records every
 * call in `calls` (with the onWait messages, so their order shows), and refuses a route it has no answer for.
 */
function fakeApi(answers: Answers) {
  const calls: Call[] = [];
  const counts = new Map<string, number>();
  const request = (route: unknown, opts?: RequestOptions<unknown>) => {
    const name = (Object.keys(API) as (keyof typeof API)[]).find((k) => API[k] === route);
    if (!name) throw new Error("not a route of API");
    calls.push({ route: name, opts });
    const n = counts.get(name) ?? 0;
    counts.set(name, n + 1);
    const answer = answers[name];
    if (!answer) return Promise.reject(new Error(`no answer for ${name}`));
    try {
      return Promise.resolve(API[name].response.parse(answer(n)));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  };
  const onWait = (what: string) => calls.push({ route: "onWait", what });
  const routes = () => calls.map((c) => c.route);
  const call = (i: number): Call => calls[i] ?? { route: "onWait", what: `no call ${i}` };
  return { api: { request } as unknown as ApiClient, calls, call, onWait, routes };
}

const ACCOUNT = generateSigningKey().id;
const WORKER = generateSigningKey().id;
const VAULT = "0:" + "a".repeat(64);
const WALLET = "0:" + "b".repeat(64);
const ELSEWHERE = "0:" + "c".repeat(64);
const SIGNATURE = "A".repeat(86) + "==";
const TX = "0123456789abcdefghij" + "f".repeat(44);

const balance = (available: bigint, held: bigint, reserved = 0n) => ({
  account: ACCOUNT,
  available: String(available),
  held: String(held),
  reserved: String(reserved),
});
const wallet = () => ({ address: WALLET, balance: "1000", vault: VAULT });
const deposited = (amount: bigint, credited: bigint) => ({
  txHash: TX,
  vault: VAULT,
  amount: String(amount),
  credited: String(credited),
  account: ACCOUNT,
});
const signedWithdrawal = (amount: bigint, to = WALLET) => ({
  vault: VAULT,
  account: ACCOUNT,
  to,
  amount: String(amount),
  seqno: 7,
  expiry: 1_900_000_000,
  signature: SIGNATURE,
});
const withdrawn = () => ({ txHash: TX, account: ACCOUNT, to: WALLET, amount: "40", seqno: 7 });
const withdrawalStatus = (status: "pending" | "landed" | "released") => ({
  seqno: 7,
  status,
  amount: "40",
  to: WALLET,
  expiry: 1_900_000_000,
});
const voucher = (cumulative: bigint) => ({
  vault: VAULT,
  payee: "5e".repeat(32),
  worker: WALLET,
  cumulative: String(cumulative),
  expiry: 1_900_000_000,
  signature: SIGNATURE,
});
const worker = (redeemed: bigint) => ({
  workerId: WORKER,
  tier: "dev",
  models: ["m"],
  jobs: 3,
  promptTokens: 10,
  completionTokens: 20,
  earned: "100",
  redeemed: String(redeemed),
  lastHeartbeat: 1,
  attestationExpiresAt: 2,
});
const redeemed = (paid: bigint) => ({ txHash: TX, paid: String(paid), worker: WALLET, cumulative: "100" });
const devChainDisabled = () => new ApiError(404, "dev_chain_disabled", "no local chain");
/** Not an ApiError, though it carries the code: must not be taken for "no sandbox". */
const lookalike = () => Object.assign(new Error("look-alike"), { code: "dev_chain_disabled" });
const throws = (e: () => Error) => () => {
  throw e();
};

/** Follows a promise under fake timers: `done` once settled, with its value or error. */
function track<T>(p: Promise<T>) {
  const s: { done: boolean; value?: T; error?: unknown } = { done: false };
  p.then(
    (v) => Object.assign(s, { done: true, value: v }),
    (e: unknown) => Object.assign(s, { done: true, error: e }),
  );
  return s;
}

/** Runs a flow to its end under fake timers (advancing the clock `ms`) and returns how it settled. */
async function settle<T>(p: Promise<T>, ms = 60_000) {
  const s = track(p);
  await vi.advanceTimersByTimeAsync(ms);
  expect(s.done).toBe(true);
  return s;
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("waiting for the chain watcher (waitFor, through depositAndWait)", () => {
  const neverCredited = () => fakeApi({ account: () => balance(10n, 0n), devDeposit: () => deposited(5n, 4n) });

  it("polls every 200 ms by default", async () => {
    // Prepare
    const f = neverCredited();
    // Act
    const s = track(depositAndWait(f.api, 5n, { timeoutMs: 1_000 }));
    await vi.advanceTimersByTimeAsync(199);
    const before = f.routes().filter((r) => r === "account").length;
    await vi.advanceTimersByTimeAsync(1);
    const after = f.routes().filter((r) => r === "account").length;
    await vi.advanceTimersByTimeAsync(10_000);
    // Assess: the balance before, the first poll, then one poll 200 ms later
    expect(before).toBe(2);
    expect(after).toBe(3);
    expect(s.error).toMatchObject({ code: "deposit_not_credited" });
  });

  it("polls every pollMs when given", async () => {
    // Prepare
    const f = neverCredited();
    // Act
    const s = track(depositAndWait(f.api, 5n, { timeoutMs: 1_000, pollMs: 50 }));
    await vi.advanceTimersByTimeAsync(49);
    const before = f.routes().filter((r) => r === "account").length;
    await vi.advanceTimersByTimeAsync(1);
    const after = f.routes().filter((r) => r === "account").length;
    await vi.advanceTimersByTimeAsync(10_000);
    // Assess
    expect(before).toBe(2);
    expect(after).toBe(3);
    expect(s.done).toBe(true);
  });

  it("gives up only once past the deadline: a read exactly at it still counts", async () => {
    // Prepare
    const f = neverCredited();
    // Act
    const s = track(depositAndWait(f.api, 5n, { timeoutMs: 1_000, pollMs: 500 }));
    await vi.advanceTimersByTimeAsync(1_499);
    const pending = s.done;
    await vi.advanceTimersByTimeAsync(1);
    // Assess: reads at 0, 500, 1000 (the deadline) and 1500 (past it), then the error
    expect(pending).toBe(false);
    expect(s.done).toBe(true);
    expect(s.error).toBeInstanceOf(ApiError);
    expect(f.routes().filter((r) => r === "account")).toHaveLength(1 + 4);
  });

  it("waits 30 s by default, and says so", async () => {
    // Prepare
    const f = neverCredited();
    // Act
    const s = track(depositAndWait(f.api, 5n, { pollMs: 10_000 }));
    await vi.advanceTimersByTimeAsync(39_999);
    const pending = s.done;
    await vi.advanceTimersByTimeAsync(1);
    // Assess: reads at 0, 10, 20, 30 (the deadline) and 40 s
    expect(pending).toBe(false);
    expect(s.error).toMatchObject({ code: "deposit_not_credited", message: expect.stringContaining(" within 30 s;") });
  });

  it.each([
    [1_400, "1"],
    [1_500, "2"],
    [400, "0"],
  ])("timeoutMs %i is told as %s s (rounded)", async (timeoutMs, seconds) => {
    // Prepare
    const f = neverCredited();
    // Act
    const s = await settle(depositAndWait(f.api, 5n, { timeoutMs, pollMs: 100 }));
    // Assess
    expect((s.error as Error).message).toContain(` within ${seconds} s;`);
  });

  it("session 42: a read refused 429 (a rate limit) is not yet, not the end of the wait; other errors still end it", async () => {
    // Prepare: the first poll refused 429, the second credited; another flow's poll refused 500
    const limited = () => new ApiError(429, "rate_limited", "slow down");
    const f = fakeApi({
      account: (n) => (n === 1 ? throws(limited)() : balance(n < 2 ? 10n : 14n, 0n)),
      devDeposit: () => deposited(5n, 4n),
    });
    const g = fakeApi({
      account: (n) => (n === 1 ? throws(() => new ApiError(500, "internal", "x"))() : balance(10n, 0n)),
      devDeposit: () => deposited(5n, 4n),
    });
    // Act
    const s = await settle(depositAndWait(f.api, 5n, { pollMs: 100 }));
    const t = await settle(depositAndWait(g.api, 5n, { pollMs: 100 }));
    // Assess
    expect(s.value).toMatchObject({ available: "14" });
    expect(t.error).toMatchObject({ code: "internal" });
  });

  it("returns the first value a read finds, without waiting further", async () => {
    // Prepare: credited at the second poll
    const f = fakeApi({ account: (n) => balance(n < 2 ? 10n : 14n, 0n), devDeposit: () => deposited(5n, 4n) });
    // Act
    const s = track(depositAndWait(f.api, 5n, { pollMs: 100 }));
    await vi.advanceTimersByTimeAsync(100);
    const done = s.done;
    await vi.advanceTimersByTimeAsync(1_000);
    // Assess
    expect(done).toBe(true);
    expect(s.value).toMatchObject({ available: "14" });
    expect(f.routes().filter((r) => r === "account")).toHaveLength(3);
  });
});

describe("depositAndWait", () => {
  it("pays into the vault, then polls the balance until it grew by exactly `credited` (available + held)", async () => {
    // Prepare: 10 + 5 before; the polls see it unchanged, one short, then credited exactly (part of it held)
    const f = fakeApi({
      account: (n) => [balance(10n, 5n), balance(10n, 5n), balance(13n, 5n), balance(12n, 7n)][n],
      devDeposit: () => deposited(5n, 4n),
    });
    // Act
    const s = await settle(depositAndWait(f.api, 5n, { pollMs: 10, onWait: f.onWait }));
    // Assess
    expect(s.error).toBeUndefined();
    expect(s.value).toEqual({
      txHash: TX,
      vault: VAULT,
      amount: "5",
      credited: "4",
      account: ACCOUNT,
      before: "15",
      available: "12",
      held: "7",
    });
    expect(f.routes()).toEqual(["account", "devDeposit", "onWait", "account", "account", "account"]);
    expect(f.call(1).opts).toEqual({ body: { amount: 5n } });
    expect(f.call(2).what).toBe("deposit 0123456789ab… sent; waiting for the chain watcher to credit it");
  });

  it("counts what a withdrawal signed during the wait reserved: credited, not a false deposit_not_credited", async () => {
    // Prepare: 10 + 5 before; the watcher credits 4, and a withdrawal of 4 moves available to reserved
    const f = fakeApi({ account: (n) => balance(10n, 5n, n === 0 ? 0n : 4n), devDeposit: () => deposited(5n, 4n) });
    // Act
    const s = await settle(depositAndWait(f.api, 5n, { timeoutMs: 1_000, pollMs: 100 }));
    // Assess
    expect(s.error).toBeUndefined();
    expect(s.value).toMatchObject({ before: "15", available: "10", held: "5" });
  });

  it("takes more than credited (another deposit landed too) as credited", async () => {
    // Prepare
    const f = fakeApi({ account: (n) => balance(n === 0 ? 0n : 100n, 0n), devDeposit: () => deposited(5n, 4n) });
    // Act
    const s = await settle(depositAndWait(f.api, 5n));
    // Assess
    expect(s.value).toMatchObject({ before: "0", available: "100", held: "0" });
  });

  it("one nanoTON short of credited is not credited: deposit_not_credited past the deadline, naming the whole txHash", async () => {
    // Prepare
    const f = fakeApi({ account: (n) => balance(n === 0 ? 10n : 13n, 1n), devDeposit: () => deposited(5n, 4n) });
    // Act
    const s = await settle(depositAndWait(f.api, 5n, { timeoutMs: 2_000, pollMs: 100 }));
    // Assess
    expect(s.error).toBeInstanceOf(ApiError);
    expect(s.error).toMatchObject({
      status: 0,
      code: "deposit_not_credited",
      message: `deposit ${TX} is on chain but the chain watcher has not credited it within 2 s; check the coordinator's log (COCOON_LOG=1)`,
    });
  });

  it("an error of the API propagates, dev_chain_disabled included", async () => {
    // Prepare
    const f = fakeApi({ account: () => balance(10n, 0n), devDeposit: throws(devChainDisabled) });
    // Act
    const s = await settle(depositAndWait(f.api, 5n, { onWait: f.onWait }));
    // Assess
    expect(s.error).toMatchObject({ code: "dev_chain_disabled" });
    expect(f.routes()).toEqual(["account", "devDeposit"]);
  });
});

describe("withdrawAndWait", () => {
  const landedAtThirdRead = (extra: Answers = {}) =>
    fakeApi({
      devWallet: wallet,
      withdraw: () => signedWithdrawal(40n),
      account: () => balance(60n, 0n),
      devWithdraw: withdrawn,
      withdrawalStatus: (n) => withdrawalStatus(n < 2 ? "pending" : "landed"),
      ...extra,
    });

  it("with the sandbox: a signed withdrawal to the caller's wallet, sent from it, then polled until no longer pending", async () => {
    // Prepare
    const f = landedAtThirdRead();
    // Act
    const s = await settle(withdrawAndWait(f.api, 40n, { pollMs: 10, onWait: f.onWait }));
    // Assess
    expect(s.error).toBeUndefined();
    expect(s.value).toEqual({ withdrawal: signedWithdrawal(40n), sent: true, txHash: TX, status: "landed", available: "60" });
    expect(f.routes()).toEqual([
      "devWallet",
      "withdraw",
      "devWithdraw",
      "onWait",
      "withdrawalStatus",
      "withdrawalStatus",
      "withdrawalStatus",
      "account",
    ]);
    const withdraw = f.call(1).opts!;
    expect(withdraw.body).toEqual({ amount: 40n, to: WALLET });
    expect(Object.keys(withdraw.headers!)).toEqual(["idempotency-key"]);
    expect(withdraw.headers!["idempotency-key"]).toMatch(/^withdraw-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(f.call(2).opts).toEqual({ body: { withdrawal: signedWithdrawal(40n) } });
    expect(f.call(3).what).toBe("withdrawal 0123456789ab… sent; waiting for the chain watcher to record it");
    expect(f.call(4).opts).toEqual({ params: { seqno: 7 } });
  });

  it("each withdrawal gets an idempotency key of its own", async () => {
    // Prepare
    const f = landedAtThirdRead({ withdrawalStatus: () => withdrawalStatus("landed") });
    // Act
    await settle(withdrawAndWait(f.api, 40n));
    await settle(withdrawAndWait(f.api, 40n));
    // Assess
    const keys = f.calls.filter((c) => c.route === "withdraw").map((c) => c.opts!.headers!["idempotency-key"]);
    expect(keys).toHaveLength(2);
    expect(keys[0]).not.toBe(keys[1]);
  });

  it("an answer lost (no answer) is withdrawal_unconfirmed naming its key; the retry with that key sends the same Idempotency-Key", async () => {
    // Prepare: the first request's answer is lost; the coordinator answers the replay of the same key
    const f = landedAtThirdRead({
      withdraw: (n) => {
        if (n === 0) throw new ApiError(0, "unreachable", "socket hang up");
        return signedWithdrawal(40n);
      },
      withdrawalStatus: () => withdrawalStatus("landed"),
    });
    // Act
    const lost = await settle(withdrawAndWait(f.api, 40n));
    const idempotencyKey = (lost.error as WithdrawalUnconfirmedError).idempotencyKey;
    const retried = await settle(withdrawAndWait(f.api, 40n, { idempotencyKey }));
    // Assess
    expect(lost.error).toBeInstanceOf(WithdrawalUnconfirmedError);
    expect(lost.error).toMatchObject({ status: 0, code: "withdrawal_unconfirmed", details: { idempotencyKey } });
    expect(retried.value).toMatchObject({ sent: true, status: "landed" });
    const keys = f.calls.filter((c) => c.route === "withdraw").map((c) => c.opts!.headers!["idempotency-key"]);
    expect(keys).toEqual([idempotencyKey, idempotencyKey]);
  });

  it.each([
    ["a server error (it may have reserved before failing)", () => new ApiError(500, "internal", "boom")],
    ["an answer that does not parse", () => new ApiError(0, "bad_response", "not the schema")],
  ])("%s is withdrawal_unconfirmed too", async (_what, error) => {
    // Prepare
    const f = landedAtThirdRead({ withdraw: throws(error) });
    // Act
    const s = await settle(withdrawAndWait(f.api, 40n, { idempotencyKey: "withdraw-kept" }));
    // Assess
    expect(s.error).toMatchObject({ code: "withdrawal_unconfirmed", idempotencyKey: "withdraw-kept" });
  });

  it("a refusal (4xx: nothing reserved) propagates as it is", async () => {
    // Prepare
    const refusal = new ApiError(402, "insufficient_funds", "not enough");
    const f = landedAtThirdRead({ withdraw: throws(() => refusal) });
    // Act
    const s = await settle(withdrawAndWait(f.api, 40n));
    // Assess
    expect(s.error).toBe(refusal);
  });

  it("a withdrawal released (expired unused) ends the wait too, as released", async () => {
    // Prepare
    const f = landedAtThirdRead({ withdrawalStatus: () => withdrawalStatus("released") });
    // Act
    const s = await settle(withdrawAndWait(f.api, 40n));
    // Assess
    expect(s.value).toMatchObject({ sent: true, status: "released" });
    expect(f.routes().filter((r) => r === "withdrawalStatus")).toHaveLength(1);
  });

  it("`to` wins over the sandbox wallet", async () => {
    // Prepare
    const f = landedAtThirdRead();
    // Act
    await settle(withdrawAndWait(f.api, 40n, { to: ELSEWHERE, pollMs: 10 }));
    // Assess
    expect(f.call(1).opts!.body).toEqual({ amount: 40n, to: ELSEWHERE });
  });

  it("without the sandbox (dev_chain_disabled): only the signed withdrawal to `to`, not sent, pending", async () => {
    // Prepare
    const f = landedAtThirdRead({ devWallet: throws(devChainDisabled), withdraw: () => signedWithdrawal(40n, ELSEWHERE) });
    // Act
    const s = await settle(withdrawAndWait(f.api, 40n, { to: ELSEWHERE, onWait: f.onWait }));
    // Assess
    expect(s.error).toBeUndefined();
    expect(s.value).toEqual({ withdrawal: signedWithdrawal(40n, ELSEWHERE), sent: false, status: "pending", available: "60" });
    expect(f.routes()).toEqual(["devWallet", "withdraw", "account"]);
    expect(f.call(1).opts!.body).toEqual({ amount: 40n, to: ELSEWHERE });
  });

  it("without the sandbox and without `to`: missing_address, before anything is asked for", async () => {
    // Prepare
    const f = landedAtThirdRead({ devWallet: throws(devChainDisabled) });
    // Act
    const s = await settle(withdrawAndWait(f.api, 40n));
    // Assess
    expect(s.error).toBeInstanceOf(ApiError);
    expect(s.error).toMatchObject({
      status: 0,
      code: "missing_address",
      message: "this network has no local TON sandbox wallet: say where to send the TON with --to ADDRESS",
    });
    expect(f.routes()).toEqual(["devWallet"]);
  });

  it.each([
    ["another ApiError", () => new ApiError(0, "unreachable", "down")],
    ["an Error that only carries the code", lookalike],
  ])("%s from GET /v1/dev/wallet propagates", async (_what, error) => {
    // Prepare
    const e = error();
    const f = landedAtThirdRead({ devWallet: throws(() => e) });
    // Act
    const s = await settle(withdrawAndWait(f.api, 40n, { to: ELSEWHERE }));
    // Assess
    expect(s.error).toBe(e);
    expect(f.routes()).toEqual(["devWallet"]);
  });

  it("still pending past the deadline: withdrawal_not_recorded, naming the whole txHash", async () => {
    // Prepare
    const f = landedAtThirdRead({ withdrawalStatus: () => withdrawalStatus("pending") });
    // Act
    const s = await settle(withdrawAndWait(f.api, 40n, { timeoutMs: 3_000, pollMs: 100 }));
    // Assess
    expect(s.error).toBeInstanceOf(ApiError);
    expect(s.error).toMatchObject({
      status: 0,
      code: "withdrawal_not_recorded",
      message: `withdrawal ${TX} is on chain but the chain watcher has not recorded it within 3 s; check the coordinator's log (COCOON_LOG=1)`,
    });
    expect(f.routes()).not.toContain("account");
  });
});

describe("redeemEarnings", () => {
  /** cumulative 100 vouchered; redeemed 30 until the poll after the Redeem, which sees `after` */
  const redeemable = (extra: Answers = {}, after = [99n, 100n]) =>
    fakeApi({
      devWallet: wallet,
      issueVoucher: () => voucher(100n),
      workerStatus: (n) => worker(n === 0 ? 30n : (after[Math.min(n - 1, after.length - 1)] ?? 0n)),
      devRedeem: () => redeemed(70n),
      ...extra,
    });

  it("vouchers everything to the sandbox wallet, redeems it from there, and polls until redeemed reaches cumulative exactly", async () => {
    // Prepare
    const f = redeemable();
    // Act
    const s = await settle(redeemEarnings(f.api, { pollMs: 10, onWait: f.onWait }));
    // Assess
    expect(s.error).toBeUndefined();
    expect(s.value).toEqual({ voucher: voucher(100n), txHash: TX, paid: "70", status: worker(100n) });
    expect(f.routes()).toEqual(["devWallet", "issueVoucher", "workerStatus", "devRedeem", "onWait", "workerStatus", "workerStatus"]);
    expect(f.call(1).opts).toEqual({ body: { payoutAddress: WALLET } });
    expect(f.call(3).opts).toEqual({ body: { voucher: voucher(100n) } });
    expect(f.call(4).what).toBe("redeem 0123456789ab… paid 70 nanoTON; waiting for the chain watcher to record it");
  });

  it("a payout address given: no sandbox wallet asked for", async () => {
    // Prepare
    const f = redeemable({ devWallet: throws(devChainDisabled) }, [100n]);
    // Act
    const s = await settle(redeemEarnings(f.api, { payoutAddress: ELSEWHERE, send: true }));
    // Assess
    expect(s.value).toMatchObject({ paid: "70", txHash: TX });
    expect(f.routes()).toEqual(["issueVoucher", "workerStatus", "devRedeem", "workerStatus"]);
    expect(f.call(0).opts).toEqual({ body: { payoutAddress: ELSEWHERE } });
  });

  it("no payout address and no sandbox: payout_address_required (400)", async () => {
    // Prepare
    const f = redeemable({ devWallet: throws(devChainDisabled) });
    // Act
    const s = await settle(redeemEarnings(f.api));
    // Assess
    expect(s.error).toBeInstanceOf(ApiError);
    expect(s.error).toMatchObject({
      status: 400,
      code: "payout_address_required",
      message: "this network has no local sandbox wallet for you: pass --payout-address with your TON wallet address",
    });
    expect(f.routes()).toEqual(["devWallet"]);
  });

  it.each([
    ["another ApiError", () => new ApiError(0, "unreachable", "down")],
    ["an Error that only carries the code", lookalike],
  ])("%s from GET /v1/dev/wallet propagates", async (_what, error) => {
    // Prepare
    const e = error();
    const f = redeemable({ devWallet: throws(() => e) });
    // Act
    const s = await settle(redeemEarnings(f.api));
    // Assess
    expect(s.error).toBe(e);
    expect(f.routes()).toEqual(["devWallet"]);
  });

  it("checkVoucher is given the voucher, and its throw stops everything before anything is sent", async () => {
    // Prepare
    const f = redeemable();
    const seen: unknown[] = [];
    const checkVoucher = (v: unknown) => {
      seen.push(v);
      return Promise.reject(new Error("not signed by the registry's key"));
    };
    // Act
    const s = await settle(redeemEarnings(f.api, { checkVoucher }));
    // Assess
    expect(s.error).toMatchObject({ message: "not signed by the registry's key" });
    expect(seen).toEqual([voucher(100n)]);
    expect(f.routes()).toEqual(["devWallet", "issueVoucher"]);
  });

  it("a checkVoucher that passes lets the redeem go on", async () => {
    // Prepare
    const f = redeemable({}, [100n]);
    // Act
    const s = await settle(redeemEarnings(f.api, { checkVoucher: () => Promise.resolve() }));
    // Assess
    expect(s.value).toMatchObject({ paid: "70" });
  });

  it("send: false only fetches the voucher", async () => {
    // Prepare
    const f = redeemable();
    // Act
    const s = await settle(redeemEarnings(f.api, { send: false, onWait: f.onWait }));
    // Assess
    expect(s.value).toEqual({ voucher: voucher(100n), paid: "0", status: worker(30n) });
    expect(f.routes()).toEqual(["devWallet", "issueVoucher", "workerStatus"]);
  });

  it.each([
    [100n, false],
    [101n, false],
    [99n, true],
  ])("redeemed %s of cumulative 100: sent %s", async (already, sends) => {
    // Prepare
    const f = redeemable({ workerStatus: (n) => worker(n === 0 ? already : 100n) });
    // Act
    const s = await settle(redeemEarnings(f.api, { onWait: f.onWait }));
    // Assess
    expect(f.routes().includes("devRedeem")).toBe(sends);
    if (!sends) {
      expect(s.value).toEqual({ voucher: voucher(100n), paid: "0", status: worker(already) });
      expect(f.routes()).toEqual(["devWallet", "issueVoucher", "workerStatus"]);
    } else expect(s.value).toMatchObject({ paid: "70", txHash: TX });
  });

  it("no sandbox to send from (dev_chain_disabled at the redeem): the voucher, to send yourself", async () => {
    // Prepare
    const f = redeemable({ devRedeem: throws(devChainDisabled) });
    // Act
    const s = await settle(redeemEarnings(f.api, { payoutAddress: ELSEWHERE, onWait: f.onWait }));
    // Assess
    expect(s.value).toEqual({ voucher: voucher(100n), paid: "0", status: worker(30n), sendYourself: true });
    expect(f.routes()).toEqual(["issueVoucher", "workerStatus", "devRedeem"]);
  });

  it.each([
    ["another ApiError", () => new ApiError(409, "voucher_spent", "spent")],
    ["an Error that only carries the code", lookalike],
  ])("%s from the redeem propagates", async (_what, error) => {
    // Prepare
    const e = error();
    const f = redeemable({ devRedeem: throws(() => e) });
    // Act
    const s = await settle(redeemEarnings(f.api, { onWait: f.onWait }));
    // Assess
    expect(s.error).toBe(e);
    expect(f.routes()).toEqual(["devWallet", "issueVoucher", "workerStatus", "devRedeem"]);
  });

  it("one short of cumulative past the deadline: redeem_not_recorded, naming the whole txHash and what was paid", async () => {
    // Prepare
    const f = redeemable({}, [99n]);
    // Act
    const s = await settle(redeemEarnings(f.api, { timeoutMs: 2_500, pollMs: 100 }));
    // Assess
    expect(s.error).toBeInstanceOf(ApiError);
    expect(s.error).toMatchObject({
      status: 0,
      code: "redeem_not_recorded",
      message: `redeem ${TX} paid 70 nanoTON on chain but the chain watcher has not recorded it within 3 s`,
    });
  });
});

it("VAULT_MESSAGE_VALUE, what the CLI says to attach to a withdrawal, is what the coordinator's own sends attach (WITHDRAW_GAS, which the e2e suites see the vault accept)", () => {
  // Assess
  expect(VAULT_MESSAGE_VALUE).toBe(WITHDRAW_GAS);
});
