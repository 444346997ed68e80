/**
 * The local default's TON: a @ton/sandbox Blockchain in this process with the vault deployed
 * (owner + coordinator key), a funded test requester wallet, and helpers for deposits, vouchers,
 * redemptions and withdrawals. The chain watcher reads it through `reader`.
 *
 * Time: the sandbox follows the wall clock unless `now` is given (tests pin it).
 *
 * Persistence: with `stateFile`, the whole sandbox (accounts, lt, the vault's unprocessed
 * transactions) and the coordinator seed are written there by `save()` and loaded back by the
 * next start, so a restarted `npm start` keeps the same vault, balances and wallets.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { Blockchain, snapshotFromSerializable, snapshotToSerializable, type SandboxContract, type SendMessageResult, type TreasuryContract } from "@ton/sandbox";
import { type Address, type Transaction, toNano } from "@ton/core";
import { keyPairFromSeed, type KeyPair } from "@ton/crypto";
import { getSecureRandomBytes } from "@ton/crypto";
import { signVoucher as sign, signWithdrawal as signW, Vault, vaultExitName, type SignedVoucher, type SignedWithdrawal } from "../contracts/vault";
import { accountIdToUint } from "../core/chain/account";
import type { ChainReader } from "../core/chain/ports";
import type { VoucherSigner } from "../core/payouts";
import { REDEEM_GAS, SandboxChainReader, WITHDRAW_GAS } from "../functions/adapters/ton-chain";
import { tonVoucherSigner } from "../functions/adapters/ton-voucher-signer";

export interface ChainSendResult {
  /** the vault's transaction hash (hex) */
  txHash: string;
  success: boolean;
  exitCode: number | undefined;
  /** exit code by name (ERR_...) when the vault rejected it */
  error: string | undefined;
  transactions: Transaction[];
}

export interface LocalChain {
  blockchain: Blockchain;
  vault: SandboxContract<Vault>;
  vaultAddress: Address;
  owner: SandboxContract<TreasuryContract>;
  /** the funded wallet `cocoon deposit` pays from */
  requesterWallet: SandboxContract<TreasuryContract>;
  coordinator: KeyPair;
  reader: ChainReader;
  /** Pay `tons` whole TON from the requester wallet to the vault, tagged with the account. */
  deposit(accountId: string, tons: bigint, opts?: { comment?: boolean }): Promise<ChainSendResult>;
  /** Same, in nanoTON. */
  depositNano(accountId: string, nano: bigint, opts?: { comment?: boolean; from?: SandboxContract<TreasuryContract> }): Promise<ChainSendResult>;
  /** A sandbox wallet by name (created and funded with 1M TON on first use). */
  wallet(name: string): Promise<SandboxContract<TreasuryContract>>;
  /** Coordinator-signed voucher for a worker payout address (expires in `ttlSeconds`, default 1 day). */
  signVoucher(worker: Address, cumulative: bigint, ttlSeconds?: number): SignedVoucher;
  /** Coordinator-signed withdrawal at the account's current on-chain seqno. */
  signWithdrawal(accountId: string, to: Address, amount: bigint, ttlSeconds?: number): Promise<SignedWithdrawal>;
  redeem(workerWallet: SandboxContract<TreasuryContract>, voucher: SignedVoucher): Promise<ChainSendResult>;
  withdraw(via: SandboxContract<TreasuryContract>, w: SignedWithdrawal): Promise<ChainSendResult>;
  vaultBalance(): Promise<bigint>;
  walletBalance(address: Address): Promise<bigint>;
  /** what the vault recorded for this account (deposited - withdrawn) */
  accountBalance(accountId: string): Promise<bigint>;
  paid(worker: Address): Promise<bigint>;
  /** unix seconds as the sandbox sees it */
  nowSeconds(): number;
  /** the coordinator's voucher signer for this vault (core/payouts port) */
  voucherSigner: VoucherSigner;
  /** the dev faucet's wallet, refilled with sandbox TON whenever it runs below `needed` */
  faucetWallet(needed: bigint): Promise<SandboxContract<TreasuryContract>>;
  /** mint sandbox TON into a wallet that holds less than `needed` + 10 TON (play money only) */
  ensureFunds(address: Address, needed: bigint): Promise<void>;
  /** transactions executed so far (cheap change detection for the watcher timer) */
  txCount(): number;
  /** true when this chain was loaded from `stateFile` */
  restored: boolean;
  /**
   * Write the sandbox to `stateFile` (no-op without one), keeping only the vault's
   * transactions after `keepVaultTxsAfterLt` (those the watcher has not processed yet).
   */
  save(keepVaultTxsAfterLt?: bigint): void;
}

export interface LocalChainOptions {
  /** pin the sandbox clock (unix seconds); default: wall clock */
  now?: number;
  /** coordinator key seed (32 bytes); default random */
  coordinatorSeed?: Buffer;
  /** the owner's initial top-up (gas/storage reserve), default 10 TON */
  reserve?: bigint;
  /** where `save()` writes the sandbox, and where a start loads it from when present */
  stateFile?: string;
}

interface StateFile {
  v: 1;
  coordinatorSeed: string;
  vault: string;
  snapshot: ReturnType<typeof snapshotToSerializable>;
}

export async function startLocalChain(opts: LocalChainOptions = {}): Promise<LocalChain> {
  const blockchain = await Blockchain.create();
  const saved: StateFile | undefined = opts.stateFile && existsSync(opts.stateFile) ? (JSON.parse(readFileSync(opts.stateFile, "utf8")) as StateFile) : undefined;
  if (saved) await blockchain.loadFrom(snapshotFromSerializable(saved.snapshot));
  if (opts.now !== undefined) blockchain.now = opts.now;
  const owner = await blockchain.treasury("owner");
  const requesterWallet = await blockchain.treasury("requester");
  const coordinatorSeed = saved ? Buffer.from(saved.coordinatorSeed, "hex") : (opts.coordinatorSeed ?? (await getSecureRandomBytes(32)));
  const coordinator = keyPairFromSeed(coordinatorSeed);
  const vault = blockchain.openContract(await Vault.createFromConfig({ owner: owner.address, coordinatorKey: coordinator.publicKey }));
  if (saved && saved.vault !== vault.address.toRawString()) throw new Error(`${opts.stateFile} holds vault ${saved.vault} but its key derives ${vault.address.toRawString()}: delete the file to start a fresh chain`);
  if (!saved) await vault.sendDeploy(owner.getSender(), opts.reserve ?? toNano("10"));
  const reader = new SandboxChainReader(blockchain, vault.address);
  const nowSeconds = () => blockchain.now ?? Math.floor(Date.now() / 1000);

  const outcome = (res: SendMessageResult): ChainSendResult => {
    const tx = res.transactions.find((t) => t.address === BigInt("0x" + vault.address.hash.toString("hex")));
    if (!tx) throw new Error("the message never reached the vault");
    const d = tx.description;
    const exitCode = d.type === "generic" && d.computePhase.type === "vm" ? d.computePhase.exitCode : undefined;
    const success = d.type === "generic" && !d.aborted;
    return {
      txHash: tx.hash().toString("hex"),
      success,
      exitCode,
      error: success ? undefined : ((exitCode !== undefined ? vaultExitName(exitCode) : undefined) ?? `exit_${exitCode}`),
      transactions: res.transactions,
    };
  };

  const chain: LocalChain = {
    blockchain,
    vault,
    vaultAddress: vault.address,
    owner,
    requesterWallet,
    coordinator,
    reader,
    deposit: (accountId, tons, o) => chain.depositNano(accountId, tons * 1_000_000_000n, o),
    async depositNano(accountId, nano, o = {}) {
      const from = o.from ?? requesterWallet;
      const account = accountIdToUint(accountId);
      const res = o.comment ? await vault.sendDepositComment(from.getSender(), nano, account) : await vault.sendDeposit(from.getSender(), nano, account);
      return outcome(res);
    },
    wallet: (name) => blockchain.treasury(name),
    signVoucher: (worker, cumulative, ttl = 86_400) => sign(coordinator.secretKey, vault.address, { worker, cumulative, expiry: nowSeconds() + ttl }),
    async signWithdrawal(accountId, to, amount, ttl = 3_600) {
      const account = accountIdToUint(accountId);
      const seqno = await vault.getWithdrawSeqno(account);
      return signW(coordinator.secretKey, vault.address, { account, to, amount, seqno, expiry: nowSeconds() + ttl });
    },
    redeem: async (w, voucher) => outcome(await vault.sendRedeem(w.getSender(), REDEEM_GAS, voucher)),
    withdraw: async (via, w) => outcome(await vault.sendWithdraw(via.getSender(), WITHDRAW_GAS, w)),
    vaultBalance: () => vault.getBalance(),
    walletBalance: async (a) => (await blockchain.getContract(a)).balance,
    accountBalance: (accountId) => vault.getAccountBalance(accountIdToUint(accountId)),
    paid: (w) => vault.getPaid(w),
    nowSeconds,
    voucherSigner: tonVoucherSigner(coordinator.secretKey, vault.address),
    async faucetWallet(needed) {
      const w = await blockchain.treasury("faucet");
      await chain.ensureFunds(w.address, needed);
      return w;
    },
    async ensureFunds(address, needed) {
      const c = await blockchain.getContract(address);
      if (c.balance < needed + toNano("10")) c.balance = needed + toNano("1000000"); // sandbox play TON, minted on demand
    },
    txCount: () => sandboxTransactions(blockchain).length,
    restored: saved !== undefined,
    save(keepAfter) {
      if (!opts.stateFile) return;
      const snap = blockchain.snapshot();
      const vaultHash = BigInt("0x" + vault.address.hash.toString("hex"));
      // only what the watcher still has to read, cut loose from the wallets' transactions
      snap.transactions = snap.transactions
        .filter((t) => t.address === vaultHash && (keepAfter === undefined || t.lt > keepAfter))
        .map((t) => ({ ...t, parent: undefined, children: [] }));
      const file: StateFile = { v: 1, coordinatorSeed: coordinatorSeed.toString("hex"), vault: vault.address.toRawString(), snapshot: snapshotToSerializable(snap) };
      const tmp = `${opts.stateFile}.tmp`;
      writeFileSync(tmp, JSON.stringify(file));
      renameSync(tmp, opts.stateFile);
    },
  };
  return chain;
}

/** The sandbox's executed transactions (the array SandboxChainReader reads). */
function sandboxTransactions(b: Blockchain): Transaction[] {
  return (b as unknown as { transactions?: Transaction[] }).transactions ?? [];
}
