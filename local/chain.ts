/**
 * The local default's TON: a @ton/sandbox Blockchain in this process with the vault deployed
 * (owner + coordinator key), a funded test requester wallet, and helpers for deposits, vouchers,
 * redemptions and withdrawals. The chain watcher reads it through `reader`.
 *
 * Time: the sandbox follows the wall clock unless `now` is given (tests pin it).
 */
import { Blockchain, type SandboxContract, type SendMessageResult, type TreasuryContract } from "@ton/sandbox";
import { type Address, type Transaction, toNano } from "@ton/core";
import { keyPairFromSeed, type KeyPair } from "@ton/crypto";
import { getSecureRandomBytes } from "@ton/crypto";
import { signVoucher as sign, signWithdrawal as signW, Vault, vaultExitName, type SignedVoucher, type SignedWithdrawal } from "../contracts/vault";
import { accountIdToUint } from "../core/chain/account";
import type { ChainReader } from "../core/chain/ports";
import { REDEEM_GAS, SandboxChainReader, WITHDRAW_GAS } from "../functions/adapters/ton-chain";

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
}

export interface LocalChainOptions {
  /** pin the sandbox clock (unix seconds); default: wall clock */
  now?: number;
  /** coordinator key seed (32 bytes); default random */
  coordinatorSeed?: Buffer;
  /** the owner's initial top-up (gas/storage reserve), default 10 TON */
  reserve?: bigint;
}

export async function startLocalChain(opts: LocalChainOptions = {}): Promise<LocalChain> {
  const blockchain = await Blockchain.create();
  if (opts.now !== undefined) blockchain.now = opts.now;
  const owner = await blockchain.treasury("owner");
  const requesterWallet = await blockchain.treasury("requester");
  const coordinator = keyPairFromSeed(opts.coordinatorSeed ?? (await getSecureRandomBytes(32)));
  const vault = blockchain.openContract(await Vault.createFromConfig({ owner: owner.address, coordinatorKey: coordinator.publicKey }));
  await vault.sendDeploy(owner.getSender(), opts.reserve ?? toNano("10"));
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
  };
  return chain;
}
