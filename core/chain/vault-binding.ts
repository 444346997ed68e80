/**
 * The vault a coordinator store belongs to. Everything the store keeps about the chain is the
 * state of ONE vault: the watcher's cursor and walk, the withdrawal seqno counters (`wdseq:`),
 * the issued vouchers and the payout wallets' marks (`voucher:`, `redeemed:`), and above all the
 * requesters' balances, which are backed by that vault's deposits. Under another vault all of it
 * is wrong: its payout wallets start at 0, so the first vouchers would pay old cumulatives again;
 * its account wallets start at seqno 0, so withdrawals would be issued seqnos they refuse; and
 * the ledger's liabilities would be backed by nothing. Keying that state by vault would only
 * hide the last point, so a vault change is refused instead (fail-fast), never followed.
 *
 * The store records, once, the vault it is bound to (table "chain", pk="vault" sk="binding": the
 * raw address "wc:hex" and when), written with `notExists` by the first chain operation: the
 * watcher's pass, a withdrawal or a voucher. Every later operation compares its configured vault
 * with it and, when they differ, throws VaultMismatchError before it writes anything (503
 * `vault_mismatch` on the HTTP routes; the watcher raises `chain.vault-changed`). A store from
 * before the binding existed has none and is bound by its first operation to the vault then
 * configured. The binding never changes once written, so a check that read it needs no
 * condition in the operation's own transaction. A new vault needs a new store.
 */
import { CocoonError } from "../errors";
import { ConditionFailedError, type Store } from "../ports";

export const VAULT_BINDING_KEY = { pk: "vault", sk: "binding" } as const;

/** The configured vault is not the one this store's chain state (and its requesters' balances) belongs to. */
export class VaultMismatchError extends CocoonError {
  constructor(
    readonly bound: string,
    readonly configured: string,
  ) {
    super(
      503,
      "vault_mismatch",
      `this coordinator's store belongs to vault ${bound}, but the configured vault is ${configured}: its balances, seqnos and voucher marks are the bound vault's. Configure ${bound} again, or start the new vault with a fresh store (its requesters' balances are not backed by the new vault)`,
      { bound, configured },
    );
  }
}

/** The vault this store is bound to (raw "wc:hex"), or null before the first chain operation. */
export async function boundVault(store: Store): Promise<string | null> {
  const it = await store.get("chain", VAULT_BINDING_KEY);
  return typeof it?.address === "string" ? it.address : null;
}

/**
 * Binds the store to `vault` (raw "wc:hex", as the signers and readers name it) when it is bound
 * to none yet, and checks it otherwise: throws VaultMismatchError, having written nothing, when
 * the store belongs to another vault. Idempotent and safe to race: two first operations under
 * the same vault both pass; under two vaults, the one that loses the write is refused.
 */
export async function bindVault(store: Store, vault: string, at: number): Promise<void> {
  const bound = await boundVault(store);
  if (bound !== null) {
    if (bound !== vault) throw new VaultMismatchError(bound, vault);
    return;
  }
  try {
    await store.transact([
      { op: "put", table: "chain", item: { ...VAULT_BINDING_KEY, address: vault, boundAt: at }, when: { kind: "notExists" } },
    ]);
  } catch (e) {
    if (!(e instanceof ConditionFailedError)) throw e;
    // another first operation bound it meanwhile: to ours, or to another vault
    const won = await boundVault(store);
    if (won !== vault) throw new VaultMismatchError(won ?? "(unreadable)", vault);
  }
}
