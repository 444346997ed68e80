/** Test factories shared by the ton-chain suites: one clock and seeds by label. */
import { keyPairFromSeed } from "@ton/crypto";
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
