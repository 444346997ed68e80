/**
 * A kill -9 between any two durable steps of a money operation (docs/security.md "Crash safety"):
 * each operation below runs once cleanly to count its store writes, then once per crash point,
 * killed right before its k-th write commits (test/fixtures/kill-store.ts: that write and every
 * call after it fail, what committed before stays, as on LMDB) or right after its last write
 * (before the signature or the answer). The process then "restarts" on the same store, does
 * what a restarted coordinator and a retrying client do, and the books must come out as after a
 * clean run: no money lost or created, nothing moved twice, nothing left held or reserved.
 * The kill -9 of a real process under load is test/crash.test.ts; this file names each point.
 */
import { payeeHex } from "./chain/payee";
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../local/memory-store";
import { KilledError, killAtWrite } from "../test/fixtures/kill-store";
import {
  accountId,
  deposit as depositTx,
  redeem as redeemTx,
  SCRIPTED_VAULT,
  ScriptedReader,
  withdraw as withdrawTx,
} from "./chain/fixtures";
import { collectingAlerts } from "./chain/dedup";
import { CHAIN_ACCOUNT, createChainLedger, pendingWithdrawalAccount, StoreChainLedger } from "./chain/store-ledger";
import { runWatcher } from "./chain/watcher";
import type { CoreDeps } from "./deps";
import { OPERATOR_FEE_ACCOUNTS, requesterAccount, workerAccount } from "./ledger";
import { issueOperatorVoucher, issueVoucher, operatorPayoutTotals, payoutTotals, voucherAccount, type PayoutDeps } from "./payouts";
import { creditSettlement, recordingVoucherSigner } from "./payouts-testing";
import type { Item, Store } from "./ports";
import {
  DEFAULT_RELEASE_GRACE_SECONDS,
  getWithdrawal,
  releaseExpiredWithdrawals,
  requestWithdrawal,
  type WithdrawalDeps,
} from "./withdrawals";
import { fakeSigner } from "./withdrawals-testing";
import type { AgentJob } from "../events/api";
import type { MatchingMessage } from "../events/queue";
import { makeWorker } from "./crypto/testing";
import { newJobId, tabSlotJobId } from "./ids";
import { handleMatchingMessage } from "./jobs/dispatch";
import { jobKey, type JobItem } from "./jobs/items";
import { postResult } from "./jobs/results";
import { jobIdempotencyKey, submitJob } from "./jobs/submit";
import { openTab, tabKey, type TabItem } from "./jobs/tabs";
import { FUNDS, ledgerDiscrepancies, makeJobWorld, seal, type JobWorld } from "./jobs/testing";
import { sameAnchor } from "./receipts/anchor";
import { checkAnchors, runAnchoring, type AnchorPoster } from "./receipts/anchoring";
import { appendReceiptOp, StoreAnchorLog, withMovementLog } from "./receipts/log";
import { fakeAnchorContract, signedReceipt } from "./receipts/testing";
import { recoverAssignedJobs } from "./recovery";

const TON = 1_000_000_000n;
const NOW = 1_760_000_000_000;
const A = accountId(1);
const TO = "0:" + "c".repeat(64);
const PAYOUT = "0:" + "a".repeat(64);
const SLOT_COST = 1_000_000n;

/** Every balance of the store, by account (zero ones left out), and their sum (double entry: always 0). */
function books(store: { scan(table: "accounts"): Item[] }) {
  const out: Record<string, string> = {};
  let sum = 0n;
  for (const b of store.scan("accounts")) {
    const available = BigInt(String(b.available ?? 0));
    const held = BigInt(String(b.held ?? 0));
    sum += available + held;
    if (available !== 0n || held !== 0n) out[String(b.pk)] = `${available}/${held}`;
  }
  return { balances: out, sum };
}

/** Runs `op` against `store` with a kill at write `k` (Infinity: none); how many writes it made, and whether it was killed. */
async function runKilledAt<T>(store: Store, k: number, op: () => Promise<T>) {
  const kill = killAtWrite(store, k);
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await op() };
  } catch (error) {
    outcome = { ok: false, error };
  }
  kill.restart();
  return { writes: kill.state.writes, killed: kill.state.killed, outcome, kill };
}

/** The crash points of an operation that makes `writes` writes: before each of them, and after the last (k = writes + 1). */
const crashPoints = (writes: number) => Array.from({ length: writes + 1 }, (_, i) => i + 1);

// ---------------------------------------------------------------- withdrawals

function withdrawalWorld() {
  let now = NOW;
  const clock = { now: () => now };
  const store = createMemoryStore({ clock }); // its TTLs by the test's clock
  const signer = fakeSigner();
  const deps = {
    store,
    clock,
    log: { info() {}, warn() {}, error() {} },
    withdrawalSigner: signer,
  } as unknown as CoreDeps & WithdrawalDeps;
  const ledger = new StoreChainLedger(store);
  return { store, signer, deps, ledger, setNow: (ms: number) => (now = ms) };
}

describe("withdrawal: a kill between the reservation, the seqno, the record and the signature", () => {
  it("at every crash point, the client's retry under its Idempotency-Key gets the one withdrawal (seqno 0), reserved once; its landing books it once", async () => {
    // Prepare: how many writes a clean request makes
    const clean = withdrawalWorld();
    await clean.ledger.creditDeposit("d".repeat(64), A, 5n * TON, NOW);
    const counted = await runKilledAt(clean.store, Infinity, () =>
      requestWithdrawal(clean.deps, A, { amount: 2n * TON, to: TO }, { idempotencyKey: "wd-0001" }),
    );
    expect(counted.outcome.ok).toBe(true);
    const writes = counted.writes;
    expect(writes).toBeGreaterThanOrEqual(2); // the vault binding, the reservation

    for (const k of crashPoints(writes)) {
      const t = withdrawalWorld();
      await t.ledger.creditDeposit("d".repeat(64), A, 5n * TON, NOW);
      // Act: killed at k; then the restarted coordinator answers the client's retry
      const sign = t.signer.sign;
      const kill = killAtWrite(t.store, k > writes ? Infinity : k);
      if (k > writes)
        t.signer.sign = async () => {
          kill.kill();
          throw new KilledError("killed at the signature");
        };
      const first = await requestWithdrawal(t.deps, A, { amount: 2n * TON, to: TO }, { idempotencyKey: "wd-0001" }).catch(
        (e: unknown) => e,
      );
      kill.restart();
      t.signer.sign = sign;
      expect(first, `crash point ${k}`).toBeInstanceOf(KilledError);
      const retried = await requestWithdrawal(t.deps, A, { amount: 2n * TON, to: TO }, { idempotencyKey: "wd-0001" });
      // Assess: one withdrawal, seqno 0, reserved once
      expect(retried, `crash point ${k}`).toMatchObject({ seqno: 0, amount: (2n * TON).toString(), to: TO });
      expect(await getWithdrawal(t.store, A, 0), `crash point ${k}`).toMatchObject({ status: "pending", gen: 0, expiry: retried.expiry });
      expect(await getWithdrawal(t.store, A, 1), `crash point ${k}`).toBeUndefined();
      expect(books(t.store).balances, `crash point ${k}`).toEqual({
        [requesterAccount(A)]: `${3n * TON}/0`,
        [pendingWithdrawalAccount(A)]: `${2n * TON}/0`,
        [CHAIN_ACCOUNT]: `${-5n * TON}/0`,
      });
      // ...and it lands once: the reservation pays it
      const landed = await t.ledger.recordWithdrawal(
        "e".repeat(64),
        { account: A, amount: 2n * TON, seqno: 0, to: TO, expiry: retried.expiry },
        NOW,
      );
      expect(landed, `crash point ${k}`).toEqual({ result: "applied", match: "reserved" });
      expect(books(t.store), `crash point ${k}`).toEqual({
        balances: { [requesterAccount(A)]: `${3n * TON}/0`, [CHAIN_ACCOUNT]: `${-3n * TON}/0` },
        sum: 0n,
      });
    }
  });

  it("at every crash point, a withdrawal the client never asks for again comes back once after expiry + grace, and seqno 0 is issued again", async () => {
    const clean = withdrawalWorld();
    await clean.ledger.creditDeposit("d".repeat(64), A, 5n * TON, NOW);
    const { writes } = await runKilledAt(clean.store, Infinity, () =>
      requestWithdrawal(clean.deps, A, { amount: 2n * TON, to: TO }, { idempotencyKey: "wd-0001" }),
    );

    for (const k of crashPoints(writes)) {
      // Prepare: killed at k
      const t = withdrawalWorld();
      await t.ledger.creditDeposit("d".repeat(64), A, 5n * TON, NOW);
      const sign = t.signer.sign;
      const kill = killAtWrite(t.store, k > writes ? Infinity : k);
      if (k > writes)
        t.signer.sign = async () => {
          kill.kill();
          throw new KilledError("killed at the signature");
        };
      await requestWithdrawal(t.deps, A, { amount: 2n * TON, to: TO }, { idempotencyKey: "wd-0001" }).catch(() => undefined);
      kill.restart();
      t.signer.sign = sign;
      const reserved = await getWithdrawal(t.store, A, 0);
      // Act: past expiry + grace, after a watcher pass that read everything (the vault's seqno still 0)
      const after = ((reserved?.expiry ?? NOW / 1000) + DEFAULT_RELEASE_GRACE_SECONDS + 1) * 1000;
      t.setNow(after);
      await t.ledger.markPass(after, { caughtUpAsOf: after });
      const released = await releaseExpiredWithdrawals(t.deps, A);
      const again = await releaseExpiredWithdrawals(t.deps, A);
      // Assess: back exactly once, nothing reserved, and the next withdrawal takes seqno 0 again
      expect(released.amount, `crash point ${k}`).toBe(reserved ? 2n * TON : 0n);
      expect(again.amount, `crash point ${k}`).toBe(0n);
      expect(books(t.store).balances, `crash point ${k}`).toEqual({
        [requesterAccount(A)]: `${5n * TON}/0`,
        [CHAIN_ACCOUNT]: `${-5n * TON}/0`,
      });
      const next = await requestWithdrawal(t.deps, A, { amount: 1n * TON, to: TO }, { idempotencyKey: "wd-0002" });
      expect(next.seqno, `crash point ${k}`).toBe(0);
      if (reserved) {
        const stale = await requestWithdrawal(t.deps, A, { amount: 2n * TON, to: TO }, { idempotencyKey: "wd-0001" }).catch(
          (e: unknown) => e,
        );
        expect(stale, `crash point ${k}`).toMatchObject({ status: 410, code: "withdrawal_expired" });
      }
    }
  });
});

describe("withdrawal: a kill between releasing an expired one and issuing the next (two transactions of one request)", () => {
  it("at every crash point, the retry releases the old reservation once and issues seqno 0 again (a new gen), reserved once", async () => {
    /** seqno 0 (2 TON) reserved, never sent, past expiry + grace and a caught-up watcher pass */
    const expiredWorld = async () => {
      const t = withdrawalWorld();
      await t.ledger.creditDeposit("d".repeat(64), A, 5n * TON, NOW);
      const old = await requestWithdrawal(t.deps, A, { amount: 2n * TON, to: TO }, { idempotencyKey: "wd-0001" });
      const after = (old.expiry + DEFAULT_RELEASE_GRACE_SECONDS + 1) * 1000;
      t.setNow(after);
      await t.ledger.markPass(after, { caughtUpAsOf: after });
      return t;
    };
    const next = (t: ReturnType<typeof withdrawalWorld>) =>
      requestWithdrawal(t.deps, A, { amount: 3n * TON, to: TO }, { idempotencyKey: "wd-0002" });
    const clean = await expiredWorld();
    const counted = await runKilledAt(clean.store, Infinity, () => next(clean));
    expect(counted.outcome).toMatchObject({ ok: true, value: { seqno: 0 } });
    expect(counted.writes).toBeGreaterThanOrEqual(2); // the release, the reservation

    for (const k of crashPoints(counted.writes - 1)) {
      const t = await expiredWorld();
      const first = await runKilledAt(t.store, k, () => next(t));
      expect(first.killed, `crash point ${k}`).toBe(true);
      const retried = await next(t);
      expect(retried, `crash point ${k}`).toMatchObject({ seqno: 0, amount: (3n * TON).toString() });
      expect(await getWithdrawal(t.store, A, 0), `crash point ${k}`).toMatchObject({ status: "pending", gen: 1, amount: 3n * TON });
      expect(books(t.store), `crash point ${k}`).toEqual({
        balances: {
          [requesterAccount(A)]: `${2n * TON}/0`,
          [pendingWithdrawalAccount(A)]: `${3n * TON}/0`,
          [CHAIN_ACCOUNT]: `${-5n * TON}/0`,
        },
        sum: 0n,
      });
      expect(
        await requestWithdrawal(t.deps, A, { amount: 2n * TON, to: TO }, { idempotencyKey: "wd-0001" }).catch((e: unknown) => e),
        `crash point ${k}`,
      ).toMatchObject({
        status: 410,
        code: "withdrawal_expired",
      });
    }
  });
});

// ---------------------------------------------------------------- the chain watcher

const W_ID = "w1";

/**
 * A ledger bound to the scripted vault with: 5 TON deposited by A and credited, 2 TON of it
 * reserved for withdrawal seqno 0, and worker w1's 3 TON earnings vouchered to PAYOUT. The chain
 * then shows the withdrawal landing, the voucher redeemed and a new deposit of 1 TON.
 */
async function watcherWorld() {
  const store = createMemoryStore({ clock: { now: () => NOW } });
  const ledger = createChainLedger(store);
  const reader = new ScriptedReader([depositTx(A, 5n * TON)]);
  reader.balance = 1_000n * TON;
  const alerts = collectingAlerts();
  const pass = () => runWatcher({ reader, ledger, alerts, vault: SCRIPTED_VAULT, now: () => NOW, lagThresholdSeconds: 600, pageSize: 2 });
  await pass();
  const withdrawalSigner = Object.assign(fakeSigner(), { vault: SCRIPTED_VAULT });
  const { signer: voucherSigner } = recordingVoucherSigner();
  const deps = {
    store,
    clock: { now: () => NOW },
    log: { info() {}, warn() {}, error() {} },
    withdrawalSigner,
    voucherSigner: { ...voucherSigner, vault: SCRIPTED_VAULT },
  } as unknown as CoreDeps & WithdrawalDeps & PayoutDeps;
  const w = await requestWithdrawal(deps, A, { amount: 2n * TON, to: TO }, { idempotencyKey: "wd-0001" });
  await store.transact([{ op: "put", table: "workers", item: { pk: W_ID, sk: "worker", workerId: W_ID } }]);
  await creditSettlement(store, workerAccount(W_ID), 3n * TON, "job-1", NOW);
  await issueVoucher(deps, W_ID, PAYOUT);
  reader.txs.push(
    withdrawTx(A, 2n * TON, 0, TO, { expiry: w.expiry }),
    redeemTx(payeeHex(W_ID), 3n * TON, 3n * TON, { due: 3n * TON, worker: PAYOUT }),
    depositTx(A, 1n * TON),
  );
  return { store, ledger, reader, alerts, pass };
}

/** What the watcher's books say after the passes: balances, the withdrawal's record, the payout address's mark, the cursor. */
async function watcherState(t: Awaited<ReturnType<typeof watcherWorld>>) {
  return {
    books: books(t.store),
    withdrawal: (await getWithdrawal(t.store, A, 0))?.status,
    redeemed: await t.ledger.redeemed(payeeHex(W_ID)),
    // the cursor on the last transaction (each world's transactions have hashes of their own)
    cursorOnLast: (await t.ledger.getCursor())?.hash === t.reader.txs[t.reader.txs.length - 1]!.hash,
  };
}

describe("chain watcher: a kill between a page's movements and its cursor", () => {
  it("at every crash point of a pass (a landing, a redemption, a deposit, the cursors, the pass mark), the next pass leaves the books as one clean pass does, with no alert", async () => {
    // Prepare: the clean pass, and how many writes it makes
    const clean = await watcherWorld();
    const counted = await runKilledAt(clean.store, Infinity, clean.pass);
    expect(counted.outcome.ok).toBe(true);
    const want = await watcherState(clean);
    expect(want).toMatchObject({ withdrawal: "landed", redeemed: 3n * TON, cursorOnLast: true });
    expect(want.books.balances).toMatchObject({
      [requesterAccount(A)]: `${4n * TON}/0`,
      [CHAIN_ACCOUNT]: `${-1n * TON}/0`, // 6 in, 2 withdrawn, 3 redeemed
    });
    expect(want.books.balances[voucherAccount(W_ID)]).toBeUndefined();
    expect(clean.alerts.raised).toEqual([]);

    for (const k of crashPoints(counted.writes - 1)) {
      const t = await watcherWorld();
      // Act: the pass killed before its k-th write; the restarted watcher's next pass
      const killed = await runKilledAt(t.store, k, t.pass);
      expect(killed.killed, `crash point ${k}`).toBe(true);
      const before = t.alerts.raised.length;
      const next = await t.pass();
      // Assess: the same books, each movement once, and nothing looks unmatched or released
      expect(await watcherState(t), `crash point ${k}`).toEqual(want);
      expect(t.alerts.raised.slice(before), `crash point ${k}`).toEqual([]);
      expect(next.alerts, `crash point ${k}`).toEqual([]);
    }
  });
});

// ---------------------------------------------------------------- payouts

function payoutWorld() {
  const store = createMemoryStore({ clock: { now: () => NOW } });
  const { signer, signed } = recordingVoucherSigner();
  const operator = "op-key";
  const deps = {
    store,
    clock: { now: () => NOW },
    log: { info() {}, warn() {}, error() {} },
    voucherSigner: signer,
    operatorKeyId: operator,
  } as unknown as CoreDeps & PayoutDeps;
  return { store, signer, signed, deps, operator };
}

const payees = [
  {
    who: "a worker (issueVoucher)",
    earn: async (t: ReturnType<typeof payoutWorld>) => {
      await t.store.transact([{ op: "put", table: "workers", item: { pk: W_ID, sk: "worker", workerId: W_ID } }]);
      await creditSettlement(t.store, workerAccount(W_ID), 3n * TON, "job-1", NOW);
    },
    issue: (t: ReturnType<typeof payoutWorld>) => issueVoucher(t.deps, W_ID, PAYOUT),
    totals: (t: ReturnType<typeof payoutWorld>) => payoutTotals(t.store, W_ID),
  },
  {
    who: "the operator (issueOperatorVoucher)",
    earn: async (t: ReturnType<typeof payoutWorld>) => {
      await creditSettlement(t.store, OPERATOR_FEE_ACCOUNTS[0]!, 2n * TON, "job-1", NOW);
      await creditSettlement(t.store, OPERATOR_FEE_ACCOUNTS[1]!, 1n * TON, "job-2", NOW);
    },
    issue: (t: ReturnType<typeof payoutWorld>) => issueOperatorVoucher(t.deps, t.operator, PAYOUT),
    totals: async (t: ReturnType<typeof payoutWorld>) => {
      const { accounts: _accounts, ...rest } = await operatorPayoutTotals(t.store);
      return rest;
    },
  },
];

describe("vouchers: a kill between the movement, the claim and the signature", () => {
  for (const p of payees) {
    it(`${p.who}: at every crash point the payee's retry is signed for its whole earnings (3 TON), moved once`, async () => {
      // Prepare: a clean issue, counted
      const clean = payoutWorld();
      await p.earn(clean);
      const counted = await runKilledAt(clean.store, Infinity, () => p.issue(clean));
      expect(counted.outcome.ok).toBe(true);
      const want = books(clean.store);

      for (const k of crashPoints(counted.writes)) {
        const t = payoutWorld();
        await p.earn(t);
        // Act: killed before write k (past the last write: at the signature), then the payee asks again
        const sign = t.signer.sign;
        const kill = killAtWrite(t.store, k > counted.writes ? Infinity : k);
        if (k > counted.writes)
          t.signer.sign = async () => {
            kill.kill();
            throw new KilledError("killed at the signature");
          };
        const first = await p.issue(t).catch((e: unknown) => e);
        kill.restart();
        t.signer.sign = sign;
        expect(first, `crash point ${k}`).toBeInstanceOf(KilledError);
        const v = await p.issue(t);
        const again = await p.issue(t);
        // Assess: the voucher for 3 TON, once; the books as after a clean issue
        expect(v, `crash point ${k}`).toMatchObject({ worker: PAYOUT, cumulative: (3n * TON).toString() });
        expect(again.cumulative, `crash point ${k}`).toBe(v.cumulative);
        expect(books(t.store), `crash point ${k}`).toEqual(want);
        expect(await p.totals(t), `crash point ${k}`).toMatchObject({
          available: 0n,
          issued: 3n * TON,
          unredeemed: 3n * TON,
          redeemed: 0n,
        });
        expect(
          t.signed.map((s) => s.cumulative),
          `crash point ${k}`,
        ).toEqual([3n * TON, 3n * TON]);
      }
    });
  }
});

// ---------------------------------------------------------------- holds: jobs and tabs

/**
 * A restart. Of the local default (LMDB): the store stays, the in-process queues are gone, and
 * recovery re-sends the checks (without envelopes: the store keeps them). Of DynamoDB and SQS:
 * both stay; a message whose handler was killed comes back when its visibility runs out.
 */
async function restart(w: JobWorld) {
  if (w.store.billedWrites) return;
  w.queues.purge("matching");
  await recoverAssignedJobs(w.deps, w.store.scan("jobs"));
}

/** Delivers every matching message as it comes due (lease and close checks), until none is left. */
async function drainMatching(w: JobWorld) {
  for (let round = 0; round < 50; round++) {
    const { visible, delayed, inFlight } = w.queues.stats("matching");
    if (visible + delayed + inFlight === 0) return; // in flight: taken by a handler that was killed, back after its visibility
    w.advance(901_000); // past any SQS delay
    const got = await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
    for (const m of got) {
      await handleMatchingMessage(w.deps, JSON.parse(m.body) as MatchingMessage);
      await w.queues.delete("matching", m.receiptHandle);
    }
  }
  throw new Error("matching queue never drained");
}

for (const layout of ["DynamoDB layout", "LMDB layout"]) {
  // DynamoDB: writes billed (no envelope item: it rides the lease checks), durable queues
  const store = layout === "LMDB layout" ? { cheapTransactions: true } : { billedWrites: true };
  describe(`holds after a kill (${layout})`, () => {
    it("a submit killed at each of its writes: the retry under its key holds once, and the restarted coordinator refunds the job its worker never got", async () => {
      // Prepare: how many writes a clean submit makes
      const clean = makeJobWorld(store);
      await clean.worker();
      const cr = await clean.requester();
      const cj = await clean.sealedJob(cr);
      const counted = await runKilledAt(clean.store, Infinity, () => submitJob(clean.deps, cr.id, cj.envelope, "key-crash-0001", cj.quote));
      expect(counted.outcome.ok).toBe(true);

      for (const k of [...crashPoints(counted.writes - 1), Infinity]) {
        const w = makeJobWorld(store);
        await w.worker();
        const r = await w.requester();
        const { envelope, header, quote } = await w.sealedJob(r);
        // Act: killed before write k (Infinity: after the commit, its answer lost), restart, the SDK's retry
        const first = await runKilledAt(w.store, k, () => submitJob(w.deps, r.id, envelope, "key-crash-0001", quote));
        expect(first.outcome.ok, `crash point ${k}`).toBe(k === Infinity);
        await restart(w);
        const retried = await submitJob(w.deps, r.id, envelope, "key-crash-0001", quote);
        // Assess: held once while open; refunded in full once its lease ran out
        expect(retried.jobId, `crash point ${k}`).toBe(header.jobId);
        expect(await w.balance(r.id), `crash point ${k}`).toEqual({
          available: FUNDS - BigInt(header.maxCost),
          held: BigInt(header.maxCost),
        });
        await drainMatching(w);
        expect(await w.store.get<JobItem>("jobs", jobKey(header.jobId)), `crash point ${k}`).toMatchObject({ status: "refunded" });
        expect(await w.balance(r.id), `crash point ${k}`).toEqual({ available: FUNDS, held: 0n });
        expect(ledgerDiscrepancies(w.store), `crash point ${k}`).toEqual([]);
      }
    });

    it("a lease expiry killed at each write of its failover (suspect mark, move, refund): the restarted coordinator ends the job once, refunded in full", async () => {
      /** a job with two silent candidates, its first lease run out, its lease check due */
      const expiring = async () => {
        const w = makeJobWorld(store);
        const { r, header, job, envelope, workers } = await w.submitted(2);
        w.advance(job.leaseUntil - w.clock.now() + 1_000);
        const check = async () => {
          const got = await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
          for (const m of got) await handleMatchingMessage(w.deps, JSON.parse(m.body) as MatchingMessage);
        };
        return { w, r, header, envelope, next: workers[1]!, check };
      };
      const clean = await expiring();
      const counted = await runKilledAt(clean.w.store, Infinity, clean.check);
      expect(counted.outcome.ok).toBe(true);
      expect(await clean.w.store.get<JobItem>("jobs", jobKey(clean.header.jobId))).toMatchObject({ status: "assigned", attempt: 1 });

      for (const k of crashPoints(counted.writes - 1)) {
        const { w, r, header, envelope, next, check } = await expiring();
        const first = await runKilledAt(w.store, k, check);
        expect(first.killed, `crash point ${k}`).toBe(true);
        await restart(w);
        await drainMatching(w);
        // the next candidate was handed the job with its envelope (on DynamoDB, from the lease check)
        const handed = await w.queues.receive(`worker-${next.id}`, { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
        expect(
          handed.map((m) => JSON.parse(m.body) as AgentJob).map((j) => [j.attempt, j.envelope]),
          `crash point ${k}`,
        ).toEqual([[1, envelope]]);
        expect(await w.store.get<JobItem>("jobs", jobKey(header.jobId)), `crash point ${k}`).toMatchObject({
          status: "refunded",
          attempt: 1,
        });
        expect(await w.balance(r.id), `crash point ${k}`).toEqual({ available: FUNDS, held: 0n });
        expect(ledgerDiscrepancies(w.store), `crash point ${k}`).toEqual([]);
      }
    });

    it("a job under a tab killed at each of its writes (the other slot's job answered): the retry takes its slot once, and the restarted coordinator closes the tab paying only the answered job", async () => {
      /** a world with a worker, a requester and an open tab of 2 slots; slot 0's job submitted and answered */
      const tabbed = async () => {
        const w = makeJobWorld(store);
        const worker = await w.worker();
        const r = await w.requester();
        const { view } = await openTab(w.deps, r.id, { slots: 2, slotCost: SLOT_COST.toString(), ttlSeconds: 300 }, "tab-key-1");
        const slot = async (i: number) => {
          const { header, quote, prepared } = await w.sealedJob(r);
          const h = { ...header, jobId: tabSlotJobId(view.tab.tabId, i) };
          const envelope = seal(
            h,
            prepared.candidates.map((c) => ({ workerId: c.workerId, hpkePublicKey: c.hpkePublicKey })),
          );
          const submit = () => submitJob(w.deps, r.id, envelope, jobIdempotencyKey(h.jobId), quote, { tab: { tab: view.tab, slot: i } });
          return { envelope, jobId: h.jobId, submit };
        };
        const s0 = await slot(0);
        await s0.submit();
        const answered = await postResult(w.deps, worker.id, w.completed(worker, s0.envelope));
        return { w, r, worker, view, s1: await slot(1), cost: BigInt(answered.cost!) };
      };
      const clean = await tabbed();
      const counted = await runKilledAt(clean.w.store, Infinity, clean.s1.submit);
      expect(counted.outcome.ok).toBe(true);

      for (const k of [...crashPoints(counted.writes - 1), Infinity]) {
        const { w, r, worker, view, s1, cost } = await tabbed();
        // Act: slot 1's submit killed at k; restart; the SDK's retry; every check delivered
        const first = await runKilledAt(w.store, k, s1.submit);
        expect(first.outcome.ok, `crash point ${k}`).toBe(k === Infinity);
        await restart(w);
        expect((await s1.submit()).jobId, `crash point ${k}`).toBe(s1.jobId);
        await drainMatching(w);
        // Assess: slot 1 refunded (its worker never got it), the tab closed paying slot 0 only
        expect(await w.store.get<JobItem>("jobs", jobKey(s1.jobId)), `crash point ${k}`).toMatchObject({ status: "refunded" });
        expect(await w.store.get<TabItem>("jobs", tabKey(view.tab.tabId)), `crash point ${k}`).toMatchObject({
          status: "closed",
          completed: 1,
          cost: cost.toString(),
        });
        expect(await w.balance(r.id), `crash point ${k}`).toEqual({ available: FUNDS - cost, held: 0n });
        expect(await w.earned(worker.id), `crash point ${k}`).toBe(cost);
        expect(ledgerDiscrepancies(w.store), `crash point ${k}`).toEqual([]);
      }
    });

    it("a tab open killed before or after its commit: the retry answers one tab, and the restarted coordinator still closes it and returns the hold once", async () => {
      for (const k of [1, Infinity]) {
        const w = makeJobWorld(store);
        const r = await w.requester();
        const req = { slots: 4, slotCost: "1000000", ttlSeconds: 300 };
        // Act: killed at the open's commit (1) or after it (its answer lost); restart; the client retries
        const first = await runKilledAt(w.store, k, () => openTab(w.deps, r.id, req, "tab-key-1"));
        expect(first.writes, `crash point ${k}`).toBe(1);
        await restart(w);
        const { view } = await openTab(w.deps, r.id, req, "tab-key-1");
        expect(await w.balance(r.id), `crash point ${k}`).toEqual({ available: FUNDS - 4_000_000n, held: 4_000_000n });
        // ...and a restart after the open too: its close check is re-sent by recovery
        await restart(w);
        await drainMatching(w);
        // Assess
        expect(await w.store.get<TabItem>("jobs", tabKey(view.tab.tabId)), `crash point ${k}`).toMatchObject({
          status: "closed",
          cost: "0",
        });
        expect(await w.balance(r.id), `crash point ${k}`).toEqual({ available: FUNDS, held: 0n });
        expect(ledgerDiscrepancies(w.store), `crash point ${k}`).toEqual([]);
      }
    });
  });
}

// ---------------------------------------------------------------- anchors

/** Three settled receipts and a deposit movement waiting in the inboxes, an anchor contract, and a clock the test moves. */
async function anchorWorld() {
  const inner = createMemoryStore({ clock: { now: () => NOW } });
  const store = withMovementLog(inner);
  const log = new StoreAnchorLog(store);
  const chain = fakeAnchorContract({ time: NOW / 1000 });
  const worker = makeWorker();
  const jobIds: string[] = [];
  for (let i = 0; i < 3; i++) {
    const jobId = newJobId(NOW + i);
    jobIds.push(jobId);
    await store.transact([appendReceiptOp(jobId, signedReceipt(worker, jobId), NOW)]);
  }
  await createChainLedger(store).creditDeposit("d".repeat(64), A, 5n * TON, NOW);
  let now = NOW + 1_000;
  const poster: AnchorPoster = { post: (anchors) => chain.post(anchors) };
  const run = () => runAnchoring({ log, reader: chain, poster, now: () => now, intervalSeconds: 300, resendAfterSeconds: 120 });
  return { inner, store, log, chain, poster, jobIds, run, later: (ms: number) => (now += ms), now: () => now };
}

describe("anchors: a kill between the cut's writes, the sent mark and the post", () => {
  it("at every crash point of a run (chunks, record + head, index items, inbox deletes, indexed, sent, the post), later runs anchor the batch once, with every receipt provable", async () => {
    // Prepare: a clean run, counted
    const clean = await anchorWorld();
    const counted = await runKilledAt(clean.inner, Infinity, clean.run);
    expect(counted.outcome).toMatchObject({ ok: true, value: { prepared: 1, sent: [1] } });
    type Point = { k: number; post?: "lost" | "sent" };
    // past the last write, the post: killed before its hand-over (lost) or after it (sent)
    const points: Point[] = [
      ...crashPoints(counted.writes - 1).map((k) => ({ k })),
      { k: Infinity, post: "lost" },
      { k: Infinity, post: "sent" },
    ];

    for (const p of points) {
      const t = await anchorWorld();
      const at = `crash point ${p.k}${p.post ? ` (post ${p.post})` : ""}`;
      // Act: killed at the point; then the restarted anchorer's runs, two minutes apart
      const kill = killAtWrite(t.inner, p.k);
      if (p.post)
        t.poster.post = async (anchors) => {
          if (p.post === "sent") await t.chain.post(anchors);
          kill.kill();
          throw new KilledError("killed at the post");
        };
      await t.run().catch((e: unknown) => expect(e, at).toBeInstanceOf(KilledError));
      kill.restart();
      t.poster.post = (anchors) => t.chain.post(anchors);
      for (let i = 0; i < 4 && (t.chain.accepted.length === 0 || (await t.log.oldestPending(t.now())) !== undefined); i++) {
        t.later(130_000);
        await t.run();
      }
      // Assess: batch 1 on chain once, as the log has it; every receipt indexed under it; nothing waits
      expect(
        t.chain.accepted.map((a) => a.seqno),
        at,
      ).toEqual([1]);
      expect(t.chain.refused, at).toEqual([]);
      const record = (await t.log.record(1))!;
      expect(sameAnchor(record, await t.chain.latest()), at).toBe(true);
      expect(record.count, at).toBe(3);
      for (const jobId of t.jobIds) expect(await t.log.indexOf(jobId, NOW), at).toMatchObject({ anchorSeqno: 1 });
      expect(await t.log.movementIds(1), at).toEqual([`chain:${"d".repeat(64)}`]);
      expect(await t.log.oldestPending(t.now()), at).toBeUndefined();
      const alerts = collectingAlerts();
      const check = await checkAnchors({ log: t.log, reader: t.chain, alerts, now: t.now, overdueSeconds: 3_600 });
      expect(check, at).toMatchObject({ mismatch: false, overdue: false });
    }
  });
});
