/**
 * TON adapter for the chain watcher and the coordinator's payouts.
 *   - normalizeVaultTx (ton-vault-tx.ts, re-exported): a transaction -> VaultTx (decodes the
 *     vault's message bodies and logs; the vault's per-account and per-worker state lives in child
 *     wallets, whose answers reach the vault as messages the watcher reads on the vault's own history)
 *   - TonClientChainReader: ChainReader over @ton/ton's TonClient (toncenter), paging the
 *     vault's history newest-first with (lt, hash) and returning it oldest-first after a cursor
 *     (ton-vault-tx.ts VaultHistoryReader, which the chain-watcher Lambda runs over its own client)
 *   - SandboxChainReader: ChainReader over a @ton/sandbox Blockchain (local default, tests, bench)
 *   - sendWithdrawal / sendVoucher, voucher JSON (the agent receives vouchers over HTTP)
 */
import { Address, type Sender, type Transaction, type TupleItem, type TupleReader, toNano } from "@ton/core";
import { accountWalletAddress, signVoucher, signWithdrawal, type SignedVoucher, type SignedWithdrawal } from "../../contracts/vault";
import { payeeHexToUint, payeeUintToHex } from "../../core/chain/payee";
import type { ChainReader } from "../../core/chain/ports";
import type { Cursor } from "../../core/chain/types";
import { Voucher } from "../../events/money";
import { ascendingAfter, VaultHistoryReader, type VaultHistoryReaderOptions } from "./ton-vault-tx";

export const WITHDRAW_GAS = toNano("0.05");
export const REDEEM_GAS = toNano("0.05");

// ---------------------------------------------------------------- decoding
// normalizeVaultTx lives in ton-vault-tx.ts, written against the members of a transaction it
// reads, so the chain-watcher Lambda runs it over ton-tx.ts's lean transactions (issue 12) and
// the sandbox readers below over @ton/core's.
export { normalizeVaultTx } from "./ton-vault-tx";

// ---------------------------------------------------------------- TonClient (toncenter)
/** The part of @ton/ton's TonClient the reader uses (so tests can fake it). */
export interface TonClientLike {
  getTransactions(
    address: Address,
    opts: { limit: number; lt?: string; hash?: string; to_lt?: string; inclusive?: boolean; archival?: boolean },
  ): Promise<Transaction[]>;
  getBalance(address: Address): Promise<bigint>;
  /** toncenter runGetMethod; throws when the get-method exits non-zero */
  runMethod(address: Address, name: string, stack?: TupleItem[]): Promise<{ stack: TupleReader }>;
  /** toncenter getAddressInformation: whether a contract (an account wallet) is deployed */
  getContractState(address: Address): Promise<{ state: "active" | "uninitialized" | "frozen" }>;
}

/**
 * The seqno of `account`'s next withdrawal through toncenter: the `seqno` get-method of the
 * account's wallet, whose address derives offline from (vault, account) (contracts/vault.ts).
 * An account that never deposited has no wallet (uninitialized): 0. Anything else that cannot be
 * read (frozen wallet, network error) throws: the caller releases nothing on an unreadable seqno.
 * The AWS coordinator's WithdrawalSigner.chainSeqno (core/withdrawals.ts): a seqno below it is
 * never issued, and one below it is never released as expired. The local default reads the same
 * getter from the sandbox.
 */
export function tonClientWithdrawSeqno(
  client: Pick<TonClientLike, "runMethod" | "getContractState">,
  vault: Address,
): (account: bigint) => Promise<number> {
  return async (account) => {
    const wallet = await accountWalletAddress(vault, account);
    const { state } = await client.getContractState(wallet);
    if (state === "uninitialized") return 0;
    if (state !== "active") throw new Error(`the account wallet ${wallet.toRawString()} is ${state}: its seqno cannot be read`);
    const { stack } = await client.runMethod(wallet, "seqno");
    return stack.readNumber();
  };
}

/** The vault's history through TonClient (ton-vault-tx.ts VaultHistoryReader), plus an account's withdrawal seqno. */
export class TonClientChainReader extends VaultHistoryReader<Address, Transaction> {
  constructor(
    protected override readonly client: TonClientLike,
    vault: Address,
    opts: VaultHistoryReaderOptions = {},
  ) {
    super(client, vault, opts);
  }

  /** The account wallet's seqno (see tonClientWithdrawSeqno). */
  getWithdrawSeqno(account: bigint): Promise<number> {
    return tonClientWithdrawSeqno(this.client, this.vault)(account);
  }
}

// ---------------------------------------------------------------- sandbox
/** The part of @ton/sandbox's Blockchain the reader uses. */
export interface SandboxLike {
  getContract(address: Address): Promise<{ balance: bigint }>;
}

/**
 * ChainReader over a sandbox Blockchain. The sandbox keeps every transaction it executed in
 * an internal array (its own getTransactions reverses that array in place and compares hashes
 * by identity, so it is not used); transactions are read from there, or from `record()` when
 * a caller prefers to feed them explicitly.
 */
export class SandboxChainReader implements ChainReader {
  private readonly recorded: Transaction[] = [];
  private readonly vaultHash: bigint;

  constructor(
    private readonly blockchain: SandboxLike,
    private readonly vault: Address,
    private readonly opts: { source?: "sandbox" | "recorded" } = {},
  ) {
    this.vaultHash = BigInt("0x" + vault.hash.toString("hex"));
  }

  /** Feed transactions (e.g. SendMessageResult.transactions) when source is "recorded". */
  record(txs: Transaction[]): void {
    for (const t of txs) if (t.address === this.vaultHash) this.recorded.push(t);
  }

  private history(): Transaction[] {
    const all =
      this.opts.source === "recorded"
        ? this.recorded
        : ((this.blockchain as unknown as { transactions?: Transaction[] }).transactions ?? []);
    return all.filter((t) => t.address === this.vaultHash).sort((a, b) => (a.lt < b.lt ? -1 : a.lt > b.lt ? 1 : 0));
  }

  async getVaultTransactions(after: Cursor | null, limit: number) {
    const h = this.history();
    let start = 0;
    if (after) {
      const lt = BigInt(after.lt);
      start = h.findIndex((t) => t.lt > lt);
      if (start < 0) start = h.length;
    }
    return ascendingAfter(h.slice(start, start + limit), after, limit);
  }

  async getVaultBalance(): Promise<bigint> {
    return (await this.blockchain.getContract(this.vault)).balance;
  }
}

// ---------------------------------------------------------------- payouts
/** Anything with the wrapper's send methods: client.open(vault) or blockchain.openContract(vault). */
export interface VaultSender {
  sendWithdraw(via: Sender, value: bigint, w: SignedWithdrawal): Promise<unknown>;
  sendRedeem(via: Sender, value: bigint, v: SignedVoucher): Promise<unknown>;
}

export function sendWithdrawal<V extends Pick<VaultSender, "sendWithdraw">>(
  vault: V,
  via: Sender,
  w: SignedWithdrawal,
  value = WITHDRAW_GAS,
): ReturnType<V["sendWithdraw"]> {
  return vault.sendWithdraw(via, value, w) as ReturnType<V["sendWithdraw"]>;
}

export function sendVoucher<V extends Pick<VaultSender, "sendRedeem">>(
  vault: V,
  via: Sender,
  v: SignedVoucher,
  value = REDEEM_GAS,
): ReturnType<V["sendRedeem"]> {
  return vault.sendRedeem(via, value, v) as ReturnType<V["sendRedeem"]>;
}

export { signVoucher, signWithdrawal };

/** A voucher as JSON (events/money.ts `Voucher`, what the coordinator hands to the agent). */
export function voucherToJson(vault: Address, v: SignedVoucher): Voucher {
  return {
    vault: vault.toRawString(),
    payee: payeeUintToHex(v.payee),
    worker: v.to.toRawString(),
    cumulative: v.cumulative.toString(),
    expiry: v.expiry,
    signature: v.signature.toString("base64"),
  };
}

export class InvalidVoucherError extends Error {
  override readonly name = "InvalidVoucherError";
  readonly code = "invalid_voucher";
}

/** Voucher JSON → what Vault.sendRedeem takes: the shape by its events/ schema, the addresses by @ton/core. */
export function voucherFromJson(j: unknown): { vault: Address; voucher: SignedVoucher } {
  const r = Voucher.safeParse(j);
  if (!r.success)
    throw new InvalidVoucherError(
      `voucher JSON is malformed: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  const v = r.data;
  try {
    return {
      vault: Address.parse(v.vault),
      voucher: {
        payee: payeeHexToUint(v.payee),
        to: Address.parse(v.worker),
        cumulative: BigInt(v.cumulative),
        expiry: v.expiry,
        signature: Buffer.from(v.signature, "base64"),
      },
    };
  } catch (e) {
    throw new InvalidVoucherError(`voucher JSON is malformed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
