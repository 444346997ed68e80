/** Test factories shared by the ton-chain suites: one clock, seeds by label, the vault's history and a flood of it. */
import { toNano, type Transaction } from "@ton/core";
import { keyPairFromSeed } from "@ton/crypto";
import { internal } from "@ton/sandbox";
import type { CoreDeps } from "../../core/deps";
import type { Store } from "../../core/ports";
import type { WithdrawalDeps } from "../../core/withdrawals";
import type { LocalChain } from "../../local/chain";
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
