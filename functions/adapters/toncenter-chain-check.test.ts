/**
 * Session 40, Known limits: what the chain watcher reads from one toncenter is now checked to be the
 * vault's own history, one chain (toncenter-client.ts: each row the asked account's;
 * toncenter-chain-check.ts: each transaction's prev_trans_lt/hash the next row's, across pages and
 * down to the cursor). Against toncenter stand-ins on 127.0.0.1 serving histories written by
 * @ton/core; through the watcher, a refusal credits nothing of the page, vouches for nothing, and
 * raises chain.reader-error naming the cause.
 */
import { afterEach, describe, expect, it } from "vitest";
import { collectingAlerts } from "../../core/chain/dedup";
import { createChainLedger } from "../../core/chain/store-ledger";
import { runWatcher } from "../../core/chain/watcher";
import { getBalance, requesterAccount } from "../../core/ledger";
import { TestStore } from "../../test/fixtures/faulty-store";
import { closeToncenterStandins, rawTransaction, startToncenterStandin } from "../../test/fixtures/toncenter-standin";
import { parseTonAddress } from "./ton-cells";
import { VaultHistoryReader } from "./ton-vault-tx";
import { ChainCheckedHistory, ToncenterChainBreakError } from "./toncenter-chain-check";
import { ToncenterAccountError, ToncenterClient } from "./toncenter-client";
import { accountId, NOW, OTHER_ACCOUNT, toncenterEndpoint, VAULT, VAULT_RAW, VaultHistory } from "./toncenter-quorum-testing";

afterEach(closeToncenterStandins);

// ---------------------------------------------------------------- factories

const ALICE = accountId(0x11);
const MALLORY = accountId(0x66);
const vault = parseTonAddress(VAULT_RAW);

/** The Lambda's reader over one endpoint: toncenter-client.ts, checked (toncenter-chain-check.ts), paged by VaultHistoryReader. */
const readerOf = (endpoint: string, pageSize = 100) =>
  new VaultHistoryReader(new ChainCheckedHistory(new ToncenterClient({ endpoint })), vault, { pageSize });

/** One watcher pass over `reader` into a fresh ledger (or `store`'s). */
async function pass(reader: VaultHistoryReader<unknown, never> | ReturnType<typeof readerOf>, store = new TestStore()) {
  const alerts = collectingAlerts();
  const outcome = await runWatcher({
    reader,
    ledger: createChainLedger(store),
    alerts,
    now: () => NOW * 1000,
    lagThresholdSeconds: 600,
    vault: VAULT_RAW,
  }).then(
    (r) => r,
    (e: unknown) => e as Error,
  );
  const available = async (id: string) => (await getBalance(store, requesterAccount(id))).available;
  return { outcome, alerts: alerts.raised, store, available, ledger: createChainLedger(store) };
}

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as Error,
  );

// ---------------------------------------------------------------- one chain passes

describe("an honest history", () => {
  it("is read whole across toncenter pages, each deposit credited once", async () => {
    // Prepare: 7 transactions, pages of 3
    const h = new VaultHistory().deposit(ALICE, 5n).refused().refused().deposit(ALICE, 7n).refused().refused().deposit(ALICE, 11n);
    const ton = await toncenterEndpoint(h);

    // Act
    const r = await pass(readerOf(ton.endpoint, 3));

    // Assess
    expect(r.outcome).toMatchObject({ processed: 7, deposits: 3 });
    expect(await r.available(ALICE)).toBe(23n);
    expect(new Set(r.alerts.map((a) => a.key))).toEqual(new Set(["chain.bounce:unknown"])); // the refused transfers only
    expect(ton.calls.filter((c) => c.method === "getTransactions").length).toBeGreaterThan(2);
  });
});

// ---------------------------------------------------------------- another account's transaction

describe("a transaction of another account", () => {
  it("in the vault's page (its BOC another account's): refused, nothing credited, chain.reader-error names it", async () => {
    // Prepare: a deposit to Mallory in another account's transaction, linked into the vault's chain
    const h = new VaultHistory().deposit(ALICE, 5n).deposit(MALLORY, 1_000_000n, { of: OTHER_ACCOUNT });
    const ton = await toncenterEndpoint(h);

    // Act
    const r = await pass(readerOf(ton.endpoint));

    // Assess
    expect(r.outcome).toBeInstanceOf(ToncenterAccountError);
    expect(await r.available(MALLORY)).toBe(0n);
    expect(await r.available(ALICE)).toBe(0n); // the whole page refused
    expect(await r.ledger.getCursor()).toBeNull();
    expect(await r.ledger.lastCaughtUpAt()).toBeNull();
    const alert = r.alerts.find((a) => a.key === "chain.reader-error");
    expect(alert?.severity).toBe("warning");
    expect(String(alert?.details.error)).toContain(`of account 0:${"cd".repeat(32)} for ${VAULT_RAW}`);
  });

  it("named by toncenter as another workchain's account beside the vault's BOC: refused", async () => {
    // Prepare: the BOC's account id is the vault's; toncenter names the row -1:<same id>
    const h = new VaultHistory().deposit(ALICE, 5n);
    const tx = h.last!;
    const { endpoint } = await startToncenterStandin(() => [
      { ...rawTransaction(tx.cell, tx.lt, tx.utime), address: { account_address: `-1:${"ab".repeat(32)}` } },
    ]);

    // Act
    const e = await rejection(new ToncenterClient({ endpoint }).getTransactions(vault, { limit: 10 }));

    // Assess
    expect(e).toBeInstanceOf(ToncenterAccountError);
    expect(e?.message).toContain(`of account -1:${"ab".repeat(32)} for ${VAULT_RAW}`);
  });

  it("named by toncenter as the vault (user-friendly form): accepted", async () => {
    // Prepare
    const h = new VaultHistory().deposit(ALICE, 5n);
    const tx = h.last!;
    const { endpoint } = await startToncenterStandin(() => [
      { ...rawTransaction(tx.cell, tx.lt, tx.utime), address: { account_address: VAULT.toString() } },
    ]);

    // Act
    const txs = await new ToncenterClient({ endpoint }).getTransactions(vault, { limit: 10 });

    // Assess
    expect(txs.map((t) => t.lt)).toEqual([tx.lt]);
  });

  it("named otherwise, or not at all (another toncenter-compatible endpoint): the BOC's account alone decides", async () => {
    // Prepare
    const h = new VaultHistory().deposit(ALICE, 5n).refused();
    const [t1, t2] = h.txs;
    const { endpoint } = await startToncenterStandin(() => [
      { ...rawTransaction(t2!.cell, t2!.lt, t2!.utime), address: VAULT.toString() },
      rawTransaction(t1!.cell, t1!.lt, t1!.utime),
    ]);

    // Act
    const txs = await new ToncenterClient({ endpoint }).getTransactions(vault, { limit: 10 });

    // Assess
    expect(txs.map((t) => t.lt)).toEqual([t2!.lt, t1!.lt]);
  });
});

// ---------------------------------------------------------------- breaks in the chain

describe("a history that is not one chain", () => {
  it("within a page (a transaction that does not follow the one below it): refused, nothing credited", async () => {
    // Prepare: Mallory's "deposit" names no predecessor (prev hash 0): inserted, not chained
    const h = new VaultHistory().deposit(ALICE, 5n).deposit(MALLORY, 1_000_000n, { prev: undefined }).refused();
    const ton = await toncenterEndpoint(h);

    // Act
    const r = await pass(readerOf(ton.endpoint));

    // Assess
    expect(r.outcome).toBeInstanceOf(ToncenterChainBreakError);
    expect(await r.available(MALLORY)).toBe(0n);
    expect(await r.ledger.getCursor()).toBeNull();
    expect(String(r.alerts.find((a) => a.key === "chain.reader-error")?.details.error)).toContain("not one chain");
  });

  it("at a page's top (a page asked from a transaction that starts elsewhere): refused", async () => {
    // Prepare: t1..t5; the second page, asked from t4 (not inclusive), skips t3
    const h = new VaultHistory().refused().refused().refused().refused().refused();
    const [t1, t2, , t4, t5] = h.txs;
    const row = (t: (typeof h.txs)[number]) => rawTransaction(t.cell, t.lt, t.utime);
    const pages = [
      [row(t5!), row(t4!)],
      [row(t2!), row(t1!)],
    ];
    const { endpoint } = await startToncenterStandin(() => pages.shift() ?? []);
    const checked = new ChainCheckedHistory(new ToncenterClient({ endpoint }));
    await checked.getTransactions(vault, { limit: 2 });

    // Act
    const e = await rejection(
      checked.getTransactions(vault, { limit: 2, lt: t4!.lt.toString(), hash: t4!.cell.hash().toString("base64") }),
    );

    // Assess
    expect(e).toBeInstanceOf(ToncenterChainBreakError);
    expect(e?.message).toContain(`starts at ${t2!.lt}`);
  });

  it("at a page's bottom (the transaction after the cursor left out): refused, the deposit after it not credited", async () => {
    // Prepare: the watcher's cursor at t2; the endpoint leaves out t3 (a withdrawal it hides)
    const full = new VaultHistory().deposit(ALICE, 5n).refused().refused().deposit(ALICE, 7n);
    const ton = await toncenterEndpoint(full);
    const store = new TestStore();
    await createChainLedger(store).setCursor({ lt: full.txs[1]!.lt.toString(), hash: full.txs[1]!.hash }, NOW * 1000);
    const hiding = new VaultHistory();
    hiding.txs.push(full.txs[0]!, full.txs[1]!, full.txs[3]!);
    ton.history = hiding;

    // Act
    const r = await pass(readerOf(ton.endpoint), store);

    // Assess
    expect(r.outcome).toBeInstanceOf(ToncenterChainBreakError);
    expect(r.outcome).toMatchObject({
      message: expect.stringContaining(`a page down to lt ${full.txs[1]!.lt} stops at ${full.txs[3]!.lt}`),
    });
    expect(await r.available(ALICE)).toBe(0n);
    expect((await r.ledger.getCursor())?.lt).toBe(full.txs[1]!.lt.toString());
    expect(await r.ledger.lastCaughtUpAt()).toBeNull();
  });

  it("at a page's bottom (a fork: the transaction above the cursor follows another one at its lt): refused", async () => {
    // Prepare: the client saw t1, t2; a later page down to t2's lt ends in a t3 that follows a t2' of t2's lt
    const h = new VaultHistory().refused().refused();
    const [t1, t2] = h.txs;
    const forked = h
      .copy(1)
      .refused({ utime: NOW - 1 })
      .refused();
    const [, t2f, t3f] = forked.txs;
    const row = (t: (typeof h.txs)[number]) => rawTransaction(t.cell, t.lt, t.utime);
    const pages = [[row(t2!), row(t1!)], [row(t3f!)]];
    const { endpoint } = await startToncenterStandin(() => pages.shift() ?? []);
    const checked = new ChainCheckedHistory(new ToncenterClient({ endpoint }));
    await checked.getTransactions(vault, { limit: 10 });

    // Act
    const e = await rejection(checked.getTransactions(vault, { limit: 10, to_lt: t2!.lt.toString() }));

    // Assess
    expect(t2f!.lt).toBe(t2!.lt);
    expect(e).toBeInstanceOf(ToncenterChainBreakError);
    expect(e?.message).toContain(`but lt ${t2!.lt} was ${t2!.hash.slice(0, 16)}`);
  });
});
