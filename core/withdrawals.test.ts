import { describe, expect, it } from "vitest";
import { BalanceView } from "../events/api";
import { getAccount } from "./jobs";
import { createMemoryStore } from "../local/memory-store";
import { accountId, deposit as depositTx, ScriptedReader, withdraw as withdrawTx } from "./chain/fixtures";
import { collectingAlerts } from "./chain/dedup";
import { CHAIN_ACCOUNT, pendingWithdrawalAccount, StoreChainLedger } from "./chain/store-ledger";
import { runWatcher } from "./chain/watcher";
import type { CoreDeps } from "./deps";
import { CocoonError } from "./errors";
import { applyMovement, getBalance, holdMovement, OverdraftError, requesterAccount } from "./ledger";
import {
  DEFAULT_RELEASE_GRACE_SECONDS,
  DEFAULT_WITHDRAWAL_TTL_SECONDS,
  getWithdrawal,
  releaseExpiredWithdrawals,
  requestWithdrawal,
  type WithdrawalDeps,
} from "./withdrawals";
import { fakeSigner } from "./withdrawals-testing";

const TON = 1_000_000_000n;
const NOW = 1_760_000_000_000;
const A = accountId(1);
const TO = "0:" + "c".repeat(64);

function makeDeps(o: { signer?: boolean; chain?: boolean } = {}) {
  const store = createMemoryStore();
  const signer = fakeSigner({ chain: o.chain ?? true });
  let now = NOW;
  const deps = {
    store,
    clock: { now: () => now },
    log: { info() {}, warn() {}, error() {} },
    ...(o.signer === false ? {} : { withdrawalSigner: signer }),
  } as unknown as CoreDeps & WithdrawalDeps;
  const ledger = new StoreChainLedger(store);
  return {
    store,
    signer,
    deps,
    ledger,
    setNow: (ms: number) => (now = ms),
    /** a chain watcher pass that read everything the chain showed, started at `at` */
    caughtUp: (at: number) => ledger.markPass(at, { caughtUpAsOf: at }),
    /** a confirmed vault deposit, as the watcher credits it */
    deposit: (amount: bigint, tx = "d1") => ledger.creditDeposit(tx.padEnd(64, "0"), A, amount, NOW),
    balances: async () => ({
      available: (await getBalance(store, requesterAccount(A))).available,
      pending: (await getBalance(store, pendingWithdrawalAccount(A))).available,
      chain: (await getBalance(store, CHAIN_ACCOUNT)).available,
      liabilities: await ledger.liabilities(),
    }),
  };
}

async function codeOf(p: Promise<unknown>): Promise<[number, string]> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CocoonError) return [e.status, e.code];
    throw e;
  }
  throw new Error("expected a CocoonError");
}

const expiredAt = (expiry: number) => (expiry + DEFAULT_RELEASE_GRACE_SECONDS + 1) * 1000;

describe("requester withdrawals: reservation", () => {
  it("reserves the amount in wdr:<id>, records and signs seqno 0 with an expiry; liabilities do not move", async () => {
    // Prepare
    const t = makeDeps();
    await t.deposit(10n * TON);

    // Act
    const w = await requestWithdrawal(t.deps, A, { amount: 4n * TON, to: TO });

    // Assess
    expect(w).toMatchObject({
      vault: t.signer.vault,
      account: A,
      to: TO,
      amount: (4n * TON).toString(),
      seqno: 0,
      expiry: NOW / 1000 + DEFAULT_WITHDRAWAL_TTL_SECONDS,
    });
    expect(w.signature.length).toBeGreaterThan(0);
    expect(t.signer.signed).toEqual([{ account: A, to: TO, amount: 4n * TON, seqno: 0, expiry: w.expiry }]);
    expect(await t.balances()).toEqual({ available: 6n * TON, pending: 4n * TON, chain: -10n * TON, liabilities: 10n * TON });
    expect(await getWithdrawal(t.store, A, 0)).toMatchObject({ status: "pending", gen: 0, amount: 4n * TON, to: TO });
    expect(await t.ledger.findIssuedWithdrawal(A, 0)).toEqual({ account: A, seqno: 0, amount: 4n * TON, to: TO, expiry: w.expiry });
    expect(await t.store.get("ledger", { pk: `withdrawal:${A}:0:0`, sk: "tx" })).toBeDefined();
  });

  it("refuses more than available with 402 insufficient_funds and reserves nothing, consuming no seqno", async () => {
    // Prepare
    const t = makeDeps();
    await t.deposit(TON);
    await applyMovement(t.store, holdMovement("job-1", A, TON / 2n, NOW)); // half held for a running job

    // Act
    const refused = await codeOf(requestWithdrawal(t.deps, A, { amount: TON, to: TO }));
    const ok = await requestWithdrawal(t.deps, A, { amount: TON / 2n, to: TO });

    // Assess
    expect(refused).toEqual([402, "insufficient_funds"]);
    expect(ok.seqno).toBe(0);
    expect(await t.balances()).toMatchObject({ available: 0n, pending: TON / 2n, liabilities: TON });
  });

  it("reserved money cannot be held for a job", async () => {
    // Prepare
    const t = makeDeps();
    await t.deposit(2n * TON);
    await requestWithdrawal(t.deps, A, { amount: 2n * TON, to: TO });

    // Act
    const hold = applyMovement(t.store, holdMovement("job-2", A, 1n, NOW));

    // Assess
    await expect(hold).rejects.toBeInstanceOf(OverdraftError);
    expect(await t.balances()).toMatchObject({ available: 0n, pending: 2n * TON });
  });

  it("concurrent requests get distinct, consecutive seqnos and reserve each amount once", async () => {
    // Prepare
    const t = makeDeps();
    await t.deposit(10n * TON);

    // Act
    const ws = await Promise.all([1, 2, 3, 4, 5].map((i) => requestWithdrawal(t.deps, A, { amount: BigInt(i) * (TON / 10n), to: TO })));

    // Assess
    expect(ws.map((w) => w.seqno).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(await t.balances()).toMatchObject({ available: 10n * TON - (15n * TON) / 10n, pending: (15n * TON) / 10n });
  });

  it("refuses bad requests with their precise codes", async () => {
    // Prepare
    const t = makeDeps();
    const off = makeDeps({ signer: false });
    await t.deposit(TON);

    // Act + Assess
    expect(await codeOf(requestWithdrawal(t.deps, A, { amount: 0n, to: TO }))).toEqual([400, "invalid_amount"]);
    expect(await codeOf(requestWithdrawal(t.deps, A, { amount: 1n << 120n, to: TO }))).toEqual([400, "invalid_amount"]);
    expect(await codeOf(requestWithdrawal(t.deps, A, { amount: TON, to: "not-an-address" }))).toEqual([400, "invalid_address"]);
    expect(await codeOf(requestWithdrawal(off.deps, A, { amount: TON, to: TO }))).toEqual([503, "withdrawals_unavailable"]);
    expect(await t.balances()).toMatchObject({ available: TON, pending: 0n });
  });
});

describe("requester withdrawals: landing on chain", () => {
  it("the watcher moves the reserved amount from wdr:<id> to ext:chain exactly once, however often it reads the transaction", async () => {
    // Prepare
    const t = makeDeps();
    await t.deposit(10n * TON);
    const w = await requestWithdrawal(t.deps, A, { amount: 4n * TON, to: TO });
    const reader = new ScriptedReader([withdrawTx(A, 4n * TON, w.seqno, TO)]);
    reader.balance = 6n * TON;
    const alerts = collectingAlerts();

    // Act
    const first = await runWatcher({ reader, ledger: t.ledger, alerts, now: () => NOW, lagThresholdSeconds: 600, vault: t.signer.vault });
    await t.store.transact([{ op: "delete", table: "chain", key: { pk: "cursor", sk: "cursor" } }]);
    const again = await runWatcher({ reader, ledger: t.ledger, alerts, now: () => NOW, lagThresholdSeconds: 600, vault: t.signer.vault });

    // Assess
    expect([first.withdrawals, again.withdrawals, again.duplicates]).toEqual([1, 0, 1]);
    expect(first.alerts).toEqual([]);
    expect(await t.balances()).toEqual({ available: 6n * TON, pending: 0n, chain: -6n * TON, liabilities: 6n * TON });
    expect(await getWithdrawal(t.store, A, 0)).toMatchObject({ status: "landed" });
  });

  it("a landed withdrawal is never released, even long after its expiry", async () => {
    // Prepare
    const t = makeDeps();
    await t.deposit(TON);
    const w = await requestWithdrawal(t.deps, A, { amount: TON, to: TO });
    await t.ledger.recordWithdrawal("a".repeat(64), { account: A, amount: TON, seqno: 0, to: TO }, NOW);
    t.signer.vaultSeqno = 1;
    t.setNow(expiredAt(w.expiry));

    // Act
    const r = await releaseExpiredWithdrawals(t.deps, A);

    // Assess
    expect(r.released).toBe(0);
    expect(await t.balances()).toMatchObject({ available: 0n, pending: 0n, liabilities: 0n });
  });

  it("a withdrawal the coordinator did not reserve still debits available (no overdraft guard)", async () => {
    // Prepare
    const t = makeDeps();
    await t.deposit(TON);

    // Act
    const r = await t.ledger.recordWithdrawal("b".repeat(64), { account: A, amount: 2n * TON, seqno: 0, to: TO }, NOW);

    // Assess
    expect(r).toEqual({ result: "applied", match: "unmatched" });
    expect(await t.balances()).toMatchObject({ available: -TON, pending: 0n, liabilities: -TON });
  });
});

describe("requester withdrawals: expiry", () => {
  it("an expired, unused withdrawal is released back exactly once and its seqno is issued again", async () => {
    // Prepare
    const t = makeDeps();
    await t.deposit(5n * TON);
    const w = await requestWithdrawal(t.deps, A, { amount: 2n * TON, to: TO });

    // Act
    t.setNow((w.expiry + DEFAULT_RELEASE_GRACE_SECONDS) * 1000); // within the grace period
    const early = await releaseExpiredWithdrawals(t.deps, A);
    t.setNow(expiredAt(w.expiry));
    await t.caughtUp(expiredAt(w.expiry));
    const [r1, r2] = await Promise.all([releaseExpiredWithdrawals(t.deps, A), releaseExpiredWithdrawals(t.deps, A)]);
    const r3 = await releaseExpiredWithdrawals(t.deps, A);
    const afterRelease = await t.balances();
    const next = await requestWithdrawal(t.deps, A, { amount: TON, to: TO });

    // Assess
    expect(early.released).toBe(0);
    expect([r1.released + r2.released, r3.released]).toEqual([1, 0]);
    expect(r1.amount + r2.amount).toBe(2n * TON);
    expect(afterRelease).toMatchObject({ available: 5n * TON, pending: 0n, liabilities: 5n * TON });
    expect(next.seqno).toBe(0); // the vault still expects seqno 0
    expect(await getWithdrawal(t.store, A, 0)).toMatchObject({ status: "pending", gen: 1, amount: TON });
    expect(await t.balances()).toMatchObject({ available: 4n * TON, pending: TON });
  });

  it("releases nothing while a later seqno is still valid, nor what the vault already paid", async () => {
    // Prepare
    const t = makeDeps();
    await t.deposit(5n * TON);
    const w0 = await requestWithdrawal(t.deps, A, { amount: TON, to: TO });
    t.setNow(NOW + 1_800_000);
    const w1 = await requestWithdrawal(t.deps, A, { amount: TON, to: TO });

    // Act
    t.setNow(expiredAt(w0.expiry)); // seqno 0 expired, seqno 1 not
    const partial = await releaseExpiredWithdrawals(t.deps, A);
    t.setNow(expiredAt(w1.expiry));
    await t.caughtUp(expiredAt(w1.expiry));
    t.signer.vaultSeqno = 1; // seqno 0 landed, the watcher has not seen it yet
    const paidUnseen = await releaseExpiredWithdrawals(t.deps, A);

    // Assess
    expect(partial.released).toBe(0);
    expect(paidUnseen.seqnos).toEqual([1]);
    expect(await getWithdrawal(t.store, A, 0)).toMatchObject({ status: "pending" });
    expect(await t.balances()).toMatchObject({ available: 4n * TON, pending: TON });
  });

  it("without a chain getter, waits for a watcher pass after the grace period before releasing", async () => {
    // Prepare
    const t = makeDeps({ chain: false });
    await t.deposit(TON);
    const w = await requestWithdrawal(t.deps, A, { amount: TON, to: TO });
    t.setNow(expiredAt(w.expiry));

    // Act
    const beforePass = await releaseExpiredWithdrawals(t.deps, A);
    await t.caughtUp(expiredAt(w.expiry));
    const afterPass = await releaseExpiredWithdrawals(t.deps, A);

    // Assess
    expect([beforePass.released, afterPass.released]).toEqual([0, 1]);
    expect(await t.balances()).toMatchObject({ available: TON, pending: 0n });
  });

  it("the next withdrawal request releases expired ones first (lazy check)", async () => {
    // Prepare
    const t = makeDeps();
    await t.deposit(TON);
    const w = await requestWithdrawal(t.deps, A, { amount: TON, to: TO });
    t.setNow(expiredAt(w.expiry));
    await t.caughtUp(expiredAt(w.expiry));

    // Act
    const again = await requestWithdrawal(t.deps, A, { amount: TON, to: TO });

    // Assess
    expect(again.seqno).toBe(0);
    expect(await t.balances()).toMatchObject({ available: 0n, pending: TON, liabilities: TON });
  });
});

describe("issue 9 #3: no double spend of a withdrawal that landed", () => {
  const B = accountId(2);
  const watch = (t: ReturnType<typeof makeDeps>, reader: ScriptedReader, at: number, o: { pageSize?: number; maxPages?: number } = {}) =>
    runWatcher({
      reader,
      ledger: t.ledger,
      alerts: collectingAlerts(),
      now: () => at,
      lagThresholdSeconds: 600_000,
      ...o,
      vault: t.signer.vault,
    });

  it("issue 9 #3: a landing behind more than a page of vault transactions is not released by a pass that stopped at its page limit", async () => {
    // Prepare: AWS without a seqno getter; the withdrawal landed behind 6 other vault transactions
    const t = makeDeps({ chain: false });
    await t.deposit(5n * TON);
    const w = await requestWithdrawal(t.deps, A, { amount: 5n * TON, to: TO });
    const fillers = [1, 2, 3, 4, 5, 6].map((i) => depositTx(B, BigInt(i) * TON));
    const reader = new ScriptedReader([...fillers, withdrawTx(A, 5n * TON, w.seqno, TO, { expiry: w.expiry })]);
    reader.balance = 21n * TON;
    const later = expiredAt(w.expiry);
    t.setNow(later);

    // Act
    const limited = await watch(t, reader, later, { pageSize: 2, maxPages: 2 });
    const afterLimited = await releaseExpiredWithdrawals(t.deps, A);
    const rest = await watch(t, reader, later + 1000, { pageSize: 2, maxPages: 2 });
    const afterRest = await releaseExpiredWithdrawals(t.deps, A);

    // Assess
    expect(limited.hasMore).toBe(true);
    expect(afterLimited.released).toBe(0);
    expect([rest.hasMore, rest.withdrawals, rest.alerts]).toEqual([false, 1, []]);
    expect(afterRest.released).toBe(0);
    expect(await getWithdrawal(t.store, A, 0)).toMatchObject({ status: "landed" });
    expect(await t.balances()).toEqual({ available: 0n, pending: 0n, chain: -21n * TON, liabilities: 21n * TON });
  });

  it("issue 9 #3: a caught-up pass releases only once it started past expiry + grace", async () => {
    // Prepare
    const t = makeDeps({ chain: false });
    await t.deposit(TON);
    const w = await requestWithdrawal(t.deps, A, { amount: TON, to: TO });
    const reader = new ScriptedReader([]);
    t.setNow(expiredAt(w.expiry));

    // Act
    await watch(t, reader, (w.expiry + DEFAULT_RELEASE_GRACE_SECONDS) * 1000 - 1);
    const early = await releaseExpiredWithdrawals(t.deps, A);
    await watch(t, reader, expiredAt(w.expiry));
    const late = await releaseExpiredWithdrawals(t.deps, A);

    // Assess
    expect([early.released, late.released]).toEqual([0, 1]);
  });

  it("issue 9 #3: never issues a seqno below the vault's, nor one the ledger saw land", async () => {
    // Prepare
    const t = makeDeps();
    await t.deposit(10n * TON);
    t.signer.vaultSeqno = 3; // the vault spent seqnos 0..2 (e.g. landed after a release, not yet seen)
    const bare = makeDeps({ chain: false });
    await bare.deposit(10n * TON);
    await bare.store.transact([
      {
        op: "put",
        table: "chain",
        item: {
          pk: `wd:${A}:0`,
          sk: "issued",
          account: A,
          seqno: 0,
          amount: TON,
          to: TO,
          expiry: 1,
          reserved: true,
          status: "landed",
          gen: 0,
        },
      },
    ]);

    // Act
    const w = await requestWithdrawal(t.deps, A, { amount: TON, to: TO });
    const next = await requestWithdrawal(t.deps, A, { amount: TON, to: TO });
    const skipped = await requestWithdrawal(bare.deps, A, { amount: TON, to: TO });

    // Assess
    expect([w.seqno, next.seqno]).toEqual([3, 4]);
    expect(skipped.seqno).toBe(1);
  });

  it("issue 9 #3: a released withdrawal that lands anyway is debited again (a recorded debt), marked landed, and raises chain.withdrawal-after-release", async () => {
    // Prepare: the release rules were beaten (an indexer lagging past the grace period): the
    // watcher was caught up as far as it could see, the getter still read seqno 0
    const t = makeDeps();
    await t.deposit(5n * TON);
    const w = await requestWithdrawal(t.deps, A, { amount: 5n * TON, to: TO });
    t.setNow(expiredAt(w.expiry));
    await t.caughtUp(expiredAt(w.expiry));
    expect((await releaseExpiredWithdrawals(t.deps, A)).released).toBe(1);
    await applyMovement(t.store, holdMovement("job-1", A, 5n * TON, expiredAt(w.expiry))); // spent again on a job
    const reader = new ScriptedReader([withdrawTx(A, 5n * TON, 0, TO, { expiry: w.expiry, utime: w.expiry - 10 })]);
    const alerts = collectingAlerts();

    // Act
    const pass = await runWatcher({
      reader,
      ledger: t.ledger,
      alerts,
      now: () => expiredAt(w.expiry) + 1000,
      lagThresholdSeconds: 600_000,
      vault: t.signer.vault,
    });
    t.signer.vaultSeqno = 1;
    const refused = await codeOf(requestWithdrawal(t.deps, A, { amount: 1n, to: TO }));

    // Assess
    expect(pass.withdrawals).toBe(1);
    const landed = reader.txs[0]!;
    expect(alerts.raised).toEqual([
      {
        key: `chain.withdrawal-after-release:${landed.hash}`,
        severity: "critical",
        title:
          "a withdrawal landed after its reservation was released as expired: debited from the requester again (its available balance may now be a debt)",
        details: {
          txHash: landed.hash,
          lt: landed.lt,
          kind: "withdraw",
          account: A,
          amount: (5n * TON).toString(),
          seqno: 0,
          to: TO,
          expiry: w.expiry,
        },
      },
    ]);
    expect(await getWithdrawal(t.store, A, 0)).toMatchObject({ status: "landed", landedTx: reader.txs[0]!.hash });
    // conserved: the requester owes 5 (held 5 for the job, available −5), the ledger mirrors the vault's 0
    expect(await t.balances()).toEqual({ available: -5n * TON, pending: 0n, chain: 0n, liabilities: 0n });
    // and the account's view says so on the wire (GET /v1/account; its schema took no minus sign: `cocoon balance` failed bad_response)
    const view = BalanceView.parse(await getAccount(t.deps, A));
    expect(view.available).toBe((-5n * TON).toString());
    expect(refused).toEqual([402, "insufficient_funds"]);
  });

  it("issue 9 #3: when a re-issue of the seqno is pending, an earlier issue landing supersedes it and its reservation comes back", async () => {
    // Prepare: seqno 0 released, then issued again (gen 1) for another amount; then gen 0 lands
    const t = makeDeps();
    await t.deposit(5n * TON);
    const w0 = await requestWithdrawal(t.deps, A, { amount: 2n * TON, to: TO });
    t.setNow(expiredAt(w0.expiry));
    await t.caughtUp(expiredAt(w0.expiry));
    const w1 = await requestWithdrawal(t.deps, A, { amount: 3n * TON, to: TO });
    const reader = new ScriptedReader([withdrawTx(A, 2n * TON, 0, TO, { expiry: w0.expiry, utime: w0.expiry - 10 })]);
    reader.balance = 3n * TON;
    const alerts = collectingAlerts();

    // Act
    await runWatcher({
      reader,
      ledger: t.ledger,
      alerts,
      now: () => expiredAt(w0.expiry),
      lagThresholdSeconds: 600_000,
      vault: t.signer.vault,
    });

    // Assess
    expect(w1.seqno).toBe(0);
    expect(alerts.raised.map((a) => a.key)).toEqual([`chain.withdrawal-after-release:${reader.txs[0]!.hash}`]);
    expect(await getWithdrawal(t.store, A, 0)).toMatchObject({ status: "released", gen: 1 });
    expect(await t.balances()).toEqual({ available: 3n * TON, pending: 0n, chain: -3n * TON, liabilities: 3n * TON });
  });

  it("issue 9 #3: refuses a withdrawal to the vault's own address or outside the basechain (400 with a code), reserving nothing", async () => {
    // Prepare
    const t = makeDeps();
    await t.deposit(TON);

    // Act
    const toVault = await codeOf(requestWithdrawal(t.deps, A, { amount: TON, to: t.signer.vault }));
    const masterchain = await codeOf(requestWithdrawal(t.deps, A, { amount: TON, to: "-1:" + "c".repeat(64) }));

    // Assess
    expect([toVault, masterchain]).toEqual([
      [400, "withdrawal_to_vault"],
      [400, "unsupported_workchain"],
    ]);
    expect(t.signer.signed).toEqual([]);
    expect(await t.balances()).toMatchObject({ available: TON, pending: 0n });
  });

  it("an unreadable vault seqno: a new withdrawal answers 503 chain_unavailable and expired ones stay reserved", async () => {
    // Prepare
    const t = makeDeps();
    await t.deposit(TON);
    const w = await requestWithdrawal(t.deps, A, { amount: TON / 2n, to: TO });
    t.setNow(expiredAt(w.expiry));
    await t.caughtUp(expiredAt(w.expiry));
    t.signer.chainDown = true;

    // Act
    const refused = await codeOf(requestWithdrawal(t.deps, A, { amount: TON / 4n, to: TO }));
    const release = await releaseExpiredWithdrawals(t.deps, A);

    // Assess
    expect(refused).toEqual([503, "chain_unavailable"]);
    expect(release.released).toBe(0);
    expect(await t.balances()).toMatchObject({ available: TON / 2n, pending: TON / 2n });
  });
});
