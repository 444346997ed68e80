/** Test factories shared by the ton-chain suites: one clock, seeds by label, the vault's history and a flood of it. */
import { toNano, type Transaction } from "@ton/core";
import { keyPairFromSeed } from "@ton/crypto";
import { internal } from "@ton/sandbox";
import type { CoreDeps } from "../../core/deps";
import type { Store } from "../../core/ports";
import type { WithdrawalDeps } from "../../core/withdrawals";
import { collectingAlerts } from "../../core/chain/dedup";
import { StoreChainLedger } from "../../core/chain/store-ledger";
import { runWatcher } from "../../core/chain/watcher";
import { startLocalChain, type LocalChain } from "../../local/chain";
import { TestStore } from "../../test/fixtures/faulty-store";
import { tonWithdrawalSigner } from "./ton-withdrawal-signer";

export const NOW = 1_750_000_000;

/** A 32-byte seed naming its key: `label`'s bytes, zero-padded. */
export const seed = (label: string) => {
  const b = Buffer.alloc(32);
  Buffer.from(label).copy(b);
  return b;
};

/** The account id (base64url Ed25519 public key) of the key seeded by `label`. */
export const accountOf = (label: string) => keyPairFromSeed(seed(label)).publicKey.toString("base64url");

/**
 * What core/withdrawals needs against `chain`'s vault: the store, a clock the test moves, a silent
 * log, and the coordinator's withdrawal signer, with the vault's seqno getter unless `seqnoGetter`
 * is false (the AWS set-up before issue 9 #3).
 */
export const withdrawalDeps = (chain: LocalChain, store: Store, now: () => number, o: { seqnoGetter?: boolean } = {}) =>
  ({
    store,
    clock: { now },
    log: { info() {}, warn() {}, error() {} },
    withdrawalSigner: tonWithdrawalSigner(
      chain.coordinator.secretKey,
      chain.vaultAddress,
      o.seqnoGetter === false ? undefined : (a) => chain.vault.getWithdrawSeqno(a),
    ),
  }) as unknown as CoreDeps & WithdrawalDeps;

/** The vault's transactions in the sandbox so far, newest first (toncenter's order). */
export const vaultHistory = (chain: LocalChain): Transaction[] => {
  const h = BigInt("0x" + chain.vaultAddress.hash.toString("hex"));
  return ((chain.blockchain as unknown as { transactions: Transaction[] }).transactions ?? [])
    .filter((t) => t.address === h)
    .sort((a, b) => (a.lt > b.lt ? -1 : 1));
};

/** `n` non-bounceable plain transfers from a stranger: the vault sends each back (one vault transaction each). */
export async function floodVault(chain: LocalChain, n: number): Promise<void> {
  const attacker = await chain.wallet("flooder");
  for (let i = 0; i < n; i++) {
    await chain.blockchain.sendMessage(internal({ from: attacker.address, to: chain.vaultAddress, value: toNano("0.01"), bounce: false }));
  }
}

/**
 * A sandbox vault with Alice and Bob holding 10 TON each, credited by a watcher run over a fresh
 * store: what the withdrawal-at-the-vault suites start from. `at(ms)` moves the coordinator's
 * clock and the chain's together; `watch()` runs the watcher once more.
 */
export async function twoFundedRequesters() {
  const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
  const store = new TestStore();
  let now = NOW * 1000;
  const deps = withdrawalDeps(chain, store, () => now);
  const ledger = new StoreChainLedger(store);
  const alerts = collectingAlerts();
  const watch = () =>
    runWatcher({
      reader: chain.reader,
      ledger,
      alerts,
      now: () => now,
      lagThresholdSeconds: 600_000,
      vault: chain.vaultAddress.toRawString(),
    });
  const [alice, bob] = [accountOf("alice"), accountOf("bob")];
  const aliceWallet = await chain.wallet("alice");
  const bobWallet = await chain.wallet("bob");
  await chain.depositNano(alice, toNano("10"), { from: aliceWallet });
  await chain.depositNano(bob, toNano("10"), { from: bobWallet });
  await watch();
  const at = (ms: number) => {
    now = ms;
    chain.blockchain.now = Math.floor(ms / 1000);
  };
  return { chain, store, deps, ledger, alerts, watch, at, alice, bob, aliceWallet, bobWallet };
}
