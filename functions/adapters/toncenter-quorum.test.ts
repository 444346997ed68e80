/**
 * Session 40, Known limits: the chain watcher over two independent toncenter endpoints
 * (toncenter-quorum.ts), each a stand-in on 127.0.0.1 serving the vault's history as one chain
 * (toncenter-quorum-testing.ts), read as the Lambda reads them (toncenter-client.ts, checked by
 * toncenter-chain-check.ts, paged by VaultHistoryReader). The watcher proceeds only on what both
 * show: a lie is not credited and raises chain.endpoints-disagree (critical); honest lag is waited
 * out quietly; an endpoint down stops the pass (chain.endpoint-down).
 */
import { afterEach, describe, expect, it } from "vitest";
import { collectingAlerts } from "../../core/chain/dedup";
import type { ChainReader } from "../../core/chain/ports";
import { createChainLedger } from "../../core/chain/store-ledger";
import { runWatcher } from "../../core/chain/watcher";
import { getBalance, requesterAccount } from "../../core/ledger";
import type { Alert } from "../../core/ports";
import { TestStore } from "../../test/fixtures/faulty-store";
import { closeToncenterStandins } from "../../test/fixtures/toncenter-standin";
import { parseTonAddress } from "./ton-cells";
import { VaultHistoryReader } from "./ton-vault-tx";
import { ChainCheckedHistory } from "./toncenter-chain-check";
import { ToncenterClient } from "./toncenter-client";
import {
  EndpointDownError,
  EndpointsDisagreeError,
  endpointName,
  QuorumChainReader,
  toncenterMember,
  type QuorumMember,
} from "./toncenter-quorum";
import { accountId, NOW, toncenterEndpoint, VAULT_RAW, VaultHistory, type Endpoint } from "./toncenter-quorum-testing";

afterEach(closeToncenterStandins);

// ---------------------------------------------------------------- factories

const ALICE = accountId(0x11);
const BOB = accountId(0x22);
const MALLORY = accountId(0x66);
const vault = parseTonAddress(VAULT_RAW);

/** An endpoint as the Lambda builds a member of the quorum from its URL. */
function member(e: Endpoint, i: number): QuorumMember {
  const client = new ToncenterClient({ endpoint: e.endpoint });
  return toncenterMember(endpointName(e.endpoint, i), client, vault, new VaultHistoryReader(new ChainCheckedHistory(client), vault));
}

/** The watcher over these endpoints: `pass()` runs one pass as the Lambda's handler does (a quorum reader per pass). */
function watcher(endpoints: Endpoint[]) {
  const store = new TestStore();
  const members = endpoints.map(member);
  const ledger = createChainLedger(store);
  const pass = async () => {
    const alerts = collectingAlerts();
    const reader: ChainReader = new QuorumChainReader(members, { alerts });
    const outcome = await runWatcher({ reader, ledger, alerts, now: () => NOW * 1000, lagThresholdSeconds: 600, vault: VAULT_RAW }).then(
      (r) => r,
      (e: unknown) => e as Error,
    );
    return { outcome, alerts: alerts.raised };
  };
  const available = async (id: string) => (await getBalance(store, requesterAccount(id))).available;
  return { pass, available, ledger };
}

const keys = (alerts: Alert[]) => alerts.map((a) => a.key);

/** Alice's and Bob's deposits, two transactions before now; balances as the vault would hold them. */
const honest = () => new VaultHistory().deposit(ALICE, 5_000n).deposit(BOB, 7_000n);

// ---------------------------------------------------------------- a lie

describe("an endpoint that invents a deposit", () => {
  it("after the common history, older than the other's sync: not credited, chain.endpoints-disagree (critical) with both views", async () => {
    // Prepare: B shows a deposit to Mallory 10 minutes old, which A (synced now) has not
    const a = await toncenterEndpoint(honest(), { balance: 12_000n });
    const b = await toncenterEndpoint(honest().deposit(MALLORY, 10n ** 12n, { utime: NOW - 600 }), { balance: 12_000n + 10n ** 12n });
    const w = watcher([a, b]);

    // Act
    const r = await w.pass();

    // Assess
    expect(r.outcome).toBeInstanceOf(EndpointsDisagreeError);
    expect(await w.available(MALLORY)).toBe(0n);
    expect(await w.ledger.lastCaughtUpAt()).toBeNull();
    const alert = r.alerts.find((x) => x.key === "chain.endpoints-disagree");
    expect(alert?.severity).toBe("critical");
    expect(alert?.details).toMatchObject({
      what: "history",
      views: [
        { endpoint: endpointName(a.endpoint, 0), tx: null, state: { lastTx: { lt: a.history.last!.lt.toString() } } },
        { endpoint: endpointName(b.endpoint, 1), tx: { lt: b.history.last!.lt.toString(), kind: "deposit" } },
      ],
    });
    expect(keys(r.alerts)).toContain("chain.reader-error"); // the watcher's own: the pass failed
  });

  it("in place of a real transaction (another one at the same position): not credited, chain.endpoints-disagree", async () => {
    // Prepare: after Alice's deposit, A has Bob's, B a deposit to Mallory instead
    const a = await toncenterEndpoint(new VaultHistory().deposit(ALICE, 5_000n).deposit(BOB, 7_000n, { utime: NOW - 100 }));
    const b = await toncenterEndpoint(a.history.copy(1).deposit(MALLORY, 10n ** 12n, { utime: NOW - 100 }));
    const w = watcher([a, b]);

    // Act
    const r = await w.pass();

    // Assess
    expect(r.outcome).toBeInstanceOf(EndpointsDisagreeError);
    expect([await w.available(MALLORY), await w.available(BOB)]).toEqual([0n, 0n]);
    expect(r.alerts.filter((x) => x.key === "chain.endpoints-disagree").map((x) => x.details.what)).toEqual(["state", "history"]);
  });

  it("a balance at the same last transaction that differs: no collateral verdict, chain.endpoints-disagree", async () => {
    // Prepare: one history; B reports the vault 1 000 TON richer (hiding a shortfall)
    const a = await toncenterEndpoint(honest(), { balance: 1_000n });
    const b = await toncenterEndpoint(a.history.copy(), { balance: 10n ** 12n });
    const w = watcher([a, b]);

    // Act
    const r = await w.pass();

    // Assess
    expect(r.outcome).toBeInstanceOf(EndpointsDisagreeError);
    expect(r.alerts.find((x) => x.key === "chain.endpoints-disagree")?.details.what).toBe("balance");
    expect(keys(r.alerts)).not.toContain("chain.undercollateral");
    expect(await w.ledger.lastCaughtUpAt()).toBeNull();
  });
});

describe("an endpoint that hides a transaction", () => {
  it("older than its own sync (a landed withdrawal it would have released): chain.endpoints-disagree, nothing vouched for", async () => {
    // Prepare: A shows a transaction 5 minutes old; B, synced now, leaves it out
    const full = honest().refused({ utime: NOW - 300 });
    const a = await toncenterEndpoint(full, { balance: 12_000n });
    const b = await toncenterEndpoint(full.copy(2), { balance: 12_000n });
    const w = watcher([a, b]);

    // Act
    const r = await w.pass();

    // Assess
    expect(r.outcome).toBeInstanceOf(EndpointsDisagreeError);
    expect(r.alerts.find((x) => x.key === "chain.endpoints-disagree")?.title).toContain(
      `${endpointName(a.endpoint, 0)} shows a transaction that ${endpointName(b.endpoint, 1)}, synced after it, has not`,
    );
    expect(await w.ledger.lastCaughtUpAt()).toBeNull();
  });
});

// ---------------------------------------------------------------- honest lag

describe("two honest endpoints one transaction apart", () => {
  it("proceed on the common history without an alert, and credit the deposit once both have it", async () => {
    // Prepare: Bob's deposit landed 2 s ago; B, synced 3 s ago, has not got it yet
    const full = new VaultHistory().deposit(ALICE, 5_000n).deposit(BOB, 7_000n, { utime: NOW - 2 });
    const a = await toncenterEndpoint(full, { balance: 12_000n });
    const b = await toncenterEndpoint(full.copy(1), { balance: 5_000n, syncUtime: NOW - 3 });
    const w = watcher([a, b]);

    // Act: one pass while B lags, one after it caught up, one more
    const first = await w.pass();
    const bobAfterFirst = await w.available(BOB);
    [b.history, b.balance, b.syncUtime] = [full.copy(), 12_000n, NOW];
    const second = await w.pass();
    const third = await w.pass();

    // Assess
    expect(first.alerts).toEqual([]);
    expect(first.outcome).toMatchObject({ deposits: 1, vaultBalance: 5_000n, liabilities: 5_000n });
    expect(bobAfterFirst).toBe(0n);
    expect(second.alerts).toEqual([]);
    expect(second.outcome).toMatchObject({ deposits: 1, vaultBalance: 12_000n });
    expect(third.outcome).toMatchObject({ processed: 0 });
    expect([await w.available(ALICE), await w.available(BOB)]).toEqual([5_000n, 7_000n]);
    expect((await w.ledger.getCursor())?.lt).toBe(full.last!.lt.toString());
    expect(await w.ledger.lastCaughtUpAt()).toBe(NOW * 1000);
  });

  it("while apart, vouch for no later than the older sync less the margin (withdrawals released on it)", async () => {
    // Prepare
    const full = new VaultHistory().deposit(ALICE, 5_000n).deposit(BOB, 7_000n, { utime: NOW - 2 });
    const a = await toncenterEndpoint(full, { balance: 12_000n });
    const b = await toncenterEndpoint(full.copy(1), { balance: 5_000n, syncUtime: NOW - 3 });
    const w = watcher([a, b]);

    // Act
    await w.pass();

    // Assess
    expect(await w.ledger.lastCaughtUpAt()).toBe((NOW - 3) * 1000 - 60_000);
  });
});

// ---------------------------------------------------------------- an endpoint down

describe("an endpoint that does not answer", () => {
  it("stops the pass: nothing credited, nothing vouched for, chain.endpoint-down names it", async () => {
    // Prepare
    const a = await toncenterEndpoint(honest(), { balance: 12_000n });
    const b = await toncenterEndpoint(a.history.copy(), { balance: 12_000n });
    b.down = true;
    const w = watcher([a, b]);

    // Act
    const r = await w.pass();

    // Assess
    expect(r.outcome).toBeInstanceOf(EndpointDownError);
    expect([await w.available(ALICE), await w.available(BOB)]).toEqual([0n, 0n]);
    expect(await w.ledger.lastCaughtUpAt()).toBeNull();
    const down = r.alerts.find((x) => x.key === "chain.endpoint-down");
    expect(down).toMatchObject({ severity: "warning", details: { down: [{ endpoint: endpointName(b.endpoint, 1) }] } });
    expect(keys(r.alerts)).not.toContain("chain.endpoints-disagree");
  });
});
