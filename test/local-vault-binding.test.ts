/**
 * Review (session 28, item 1): the local default's watcher binds its store to the sandbox vault
 * (local/network.ts passes `vault` to runWatcher). A store that belongs to another vault is refused
 * by the watcher itself, before it credits anything: without `vault:` in the local pass no test
 * failed (only withdrawals and vouchers checked, the watcher would credit the sandbox vault's
 * deposits on top of the other vault's balances).
 */
import { afterEach, describe, expect, it } from "vitest";
import { bindVault, boundVault } from "../core/chain/vault-binding";
import { createMemoryStore } from "../local/memory-store";
import { startNetwork, type LocalNetwork } from "../local/network";

let net: LocalNetwork | undefined;
afterEach(async () => {
  await net?.stop();
  net = undefined;
});

describe("the local network's watcher and the vault its store belongs to", () => {
  it("a store bound to another vault: the pass fails vault_mismatch, chain.vault-changed is raised, nothing is read", async () => {
    // Prepare: a store that belongs to another vault
    const store = createMemoryStore();
    const other = "0:" + "cd".repeat(32);
    await bindVault(store, other, Date.now());

    // Act
    net = await startNetwork({ store, watcherIntervalMs: 0, anchoring: false, policyRegistry: false });
    const e = await net.runWatcherOnce().then(
      () => undefined,
      (err: unknown) => err,
    );

    // Assess
    expect(e).toMatchObject({ status: 503, code: "vault_mismatch", details: { bound: other } });
    expect(net.chainAlerts.map((a) => a.key)).toContain("chain.vault-changed");
    expect(await net.chainLedger.getCursor()).toBeNull();
    expect(await boundVault(store)).toBe(other);
  }, 60_000);
});
