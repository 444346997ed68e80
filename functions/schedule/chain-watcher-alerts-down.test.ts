/**
 * Review (session 27, chain): an alert channel that fails stopped the chain watcher. Its alerts
 * went out from inside the pass (core/chain/watcher.ts processTx), and a failed send (SNS
 * throttled, a revoked Telegram token: one channel of the fan-out is enough) threw out of the pass
 * at the transaction that raised it, before the cursor moved. Anyone can make the vault raise one
 * (a plain transfer it sends back is chain.bounce:bounce), so while a channel was down no deposit
 * after such a transaction was credited, pass after pass. Now the handler keeps a refused alert in
 * the store (core/chain/dedup.ts outboxAlerts) and sends it again at the start of later passes.
 */
import { describe, expect, it } from "vitest";
import { collectingAlerts, ALERT_OUTBOX_PK } from "../../core/chain/dedup";
import { SCRIPTED_VAULT } from "../../core/chain/fixtures";
import type { Cursor, VaultTx } from "../../core/chain/types";
import { getBalance, requesterAccount } from "../../core/ledger";
import type { Alert, Log } from "../../core/ports";
import { TestStore } from "../../test/fixtures/faulty-store";
import { makeChainWatcherHandler } from "./chain-watcher";

const NOW = 1_750_000_000;

/** Factory: one of the vault's transactions (a credited deposit unless told otherwise). */
const vaultTx = (n: number, p: Partial<VaultTx>): VaultTx => ({
  hash: `tx-${n}`,
  lt: String(n * 10),
  utime: NOW - 10,
  kind: "deposit",
  amount: 0n,
  inValue: 0n,
  outValue: 0n,
  aborted: false,
  bounced: false,
  ...p,
});

/** Factory: a ChainReader over `txs`, oldest first. */
const chainOf = (txs: VaultTx[]) => ({
  async getVaultTransactions(after: Cursor | null, limit: number) {
    let start = after ? txs.findIndex((t) => BigInt(t.lt) > BigInt(after.lt)) : 0;
    if (start < 0) start = txs.length;
    const page = txs.slice(start, start + limit);
    const last = page.at(-1);
    return { txs: page, cursor: last ? { lt: last.lt, hash: last.hash } : after };
  },
  getVaultBalance: async () => 1_000_000n,
});

/** Factory: an alert channel that fails while `down` is set. */
function channel() {
  const ok = collectingAlerts();
  const c = {
    down: true,
    raised: ok.raised,
    raise: async (a: Alert) => (c.down ? Promise.reject(new Error("SNS: throttled")) : ok.raise(a)),
  };
  return c;
}

const quiet: Log = { info() {}, warn() {}, error() {} };

describe("the chain watcher with an alert channel down", () => {
  it("credits the deposits after a transaction that raised an alert, keeps the alert, and sends it once the channel is back", async () => {
    // Prepare: a stranger's transfer the vault sent back, then a deposit
    let now = NOW * 1000;
    const clock = { now: () => now };
    const store = new TestStore(clock);
    const alerts = channel();
    const refunded = vaultTx(1, { kind: "bounce", inValue: 10_000_000n, outValue: 9_000_000n, from: "0:" + "ab".repeat(32) });
    const txs = [refunded, vaultTx(2, { account: "acct-a", amount: 5n, inValue: 5n })];
    const handler = makeChainWatcherHandler({ store, clock, log: quiet, reader: chainOf(txs), vault: SCRIPTED_VAULT, alerts });

    // Act: a pass while the channel is down
    const pass = await handler();

    // Assess: the deposit is credited, the alert kept
    expect(pass.deposits).toBe(1);
    expect((await getBalance(store, requesterAccount("acct-a"))).available).toBe(5n);
    expect((await store.query("chain", ALERT_OUTBOX_PK)).map((i) => i.sk)).toEqual(["chain.bounce:bounce"]);

    // Act: the channel is back; a later pass (past the retry's backoff) with nothing new on chain
    alerts.down = false;
    now += 60_000;
    await handler();

    // Assess: the kept alert went out, once, with its details; nothing is kept any more
    expect(alerts.raised.map((a) => a.key)).toEqual(["chain.bounce:bounce"]);
    expect(alerts.raised[0]!.details).toMatchObject({ txHash: refunded.hash, inValue: "10000000" });
    expect(await store.query("chain", ALERT_OUTBOX_PK)).toEqual([]);
  });
});
