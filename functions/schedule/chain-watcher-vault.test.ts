/**
 * The chain watcher Lambda under a vault the store does not belong to (core/chain/vault-binding.ts):
 * each pass fails with vault_mismatch before it reads the chain, moves no cursor and credits
 * nothing, and `chain.vault-changed` goes out through the handler's alert path (store dedup and
 * outbox): once per dedup window, and kept when the channel is down.
 */
import { describe, expect, it } from "vitest";
import { ALERT_OUTBOX_PK, collectingAlerts } from "../../core/chain/dedup";
import { boundVault } from "../../core/chain/vault-binding";
import { accountId, deposit, ScriptedReader } from "../../core/chain/fixtures";
import { StoreChainLedger } from "../../core/chain/store-ledger";
import type { Alert, Log } from "../../core/ports";
import { TestStore } from "../../test/fixtures/faulty-store";
import { makeChainWatcherHandler } from "./chain-watcher";

const NOW = 1_750_000_100_000;
const A = "0:" + "a1".repeat(32);
const B = "0:" + "b2".repeat(32);
const quiet: Log = { info() {}, warn() {}, error() {} };

/** Factory: a store the watcher bound to vault A (one deposit credited), and a handler for `vault`. */
async function world(vault: string, o: { channelDown?: boolean } = {}) {
  let now = NOW;
  const clock = { now: () => now };
  const store = new TestStore(clock);
  const reader = new ScriptedReader([deposit(accountId(1), 5n)]);
  reader.balance = 1_000n;
  const raised = collectingAlerts();
  const alerts = { raise: (a: Alert) => (o.channelDown ? Promise.reject(new Error("SNS: throttled")) : raised.raise(a)) };
  await makeChainWatcherHandler({ store, clock, log: quiet, reader, alerts: collectingAlerts(), vault: A })();
  const handler = makeChainWatcherHandler({ store, clock, log: quiet, reader, alerts, vault });
  return { store, reader, raised, handler, advance: (ms: number) => (now += ms) };
}

describe("the chain watcher Lambda and the vault its store belongs to", () => {
  it("binds a fresh store on its first pass and goes on under the same vault", async () => {
    // Prepare
    const w = await world(A);
    w.reader.txs.push(deposit(accountId(1), 7n));

    // Act
    const pass = await w.handler();

    // Assess
    expect(await boundVault(w.store)).toBe(A);
    expect(pass).toMatchObject({ deposits: 1, alerts: [] });
  });

  it("under another vault: every pass fails with vault_mismatch, reads and writes no chain state; chain.vault-changed once per dedup window", async () => {
    // Prepare: vault B's history has a deposit the old store must never credit
    const w = await world(B);
    const cursor = await new StoreChainLedger(w.store).getCursor();
    w.reader.txs.push(deposit(accountId(2), 9n));
    const calls = w.reader.calls;

    // Act
    const first = await w.handler().catch((e: unknown) => e);
    w.advance(60_000);
    const second = await w.handler().catch((e: unknown) => e);

    // Assess
    for (const e of [first, second]) expect(e).toMatchObject({ code: "vault_mismatch", bound: A, configured: B });
    expect(w.reader.calls, "the chain was not read").toBe(calls);
    expect(await new StoreChainLedger(w.store).getCursor()).toEqual(cursor);
    expect(await new StoreChainLedger(w.store).balance(`req:${accountId(2)}`)).toEqual({ available: 0n, held: 0n });
    expect(w.raised.raised).toEqual([
      expect.objectContaining({ key: "chain.vault-changed", severity: "critical", details: { bound: A, configured: B } }),
    ]);
  });

  it("with the alert channel down, chain.vault-changed is kept in the outbox for later passes", async () => {
    // Prepare
    const w = await world(B, { channelDown: true });

    // Act
    const e = await w.handler().catch((x: unknown) => x);

    // Assess
    expect(e).toMatchObject({ code: "vault_mismatch" });
    expect((await w.store.query("chain", ALERT_OUTBOX_PK)).map((i) => i.sk)).toEqual(["chain.vault-changed"]);
  });
});
