/**
 * The local default's TON: a @ton/sandbox Blockchain in this process with the vault deployed
 * (owner + coordinator key), a funded test requester wallet, and helpers for deposits, vouchers,
 * redemptions and withdrawals. The chain watcher reads it through `reader`.
 *
 * Time: the sandbox follows the wall clock unless `now` is given (tests pin it).
 *
 * Persistence: with `stateFile`, the whole sandbox (accounts, lt, the vault's unprocessed
 * transactions) and the coordinator seed are written there and loaded back by the next start,
 * so a restarted `npm start` keeps the same vault, balances and wallets. The chain is durable
 * the way a real one is, also against kill -9: every message sent through this module
 * (deposit, redeem, withdraw) runs alone and is written (replaceFileSync: temp file, fsync, rename)
 * before its promise resolves, and `reader` waits for a send in progress. (Running alone also
 * keeps two sends from one sandbox wallet apart: concurrent dev deposits used to fail with
 * "the message never reached the vault".) So nothing the
 * watcher has read, hence nothing the ledger reflects, and no transaction a sender was told
 * about, can be lost by a crash: a crash can only drop a send that nobody saw finish, like a
 * message that never made it into a block. `save(keepAfter)` sets the cut below which the
 * vault's transactions are left out of the file (the watcher has processed them).
 */
import { existsSync, readFileSync } from "node:fs";
import {
  Blockchain,
  snapshotFromSerializable,
  snapshotToSerializable,
  type SandboxContract,
  type SendMessageResult,
  type TreasuryContract,
} from "@ton/sandbox";
import { type Address, type Transaction, toNano } from "@ton/core";
import { keyPairFromSeed, type KeyPair } from "@ton/crypto";
import { getSecureRandomBytes } from "@ton/crypto";
import {
  GLOBAL_ID,
  signVoucher as sign,
  signWithdrawal as signW,
  Vault,
  vaultExitName,
  type SignedVoucher,
  type SignedWithdrawal,
} from "../contracts/vault";
import { replaceFileSync } from "../api-client/durable-file";
import { accountIdToUint } from "../core/chain/account";
import type { ChainReader } from "../core/chain/ports";
import type { VoucherSigner } from "../core/payouts";
import { REDEEM_GAS, SandboxChainReader, WITHDRAW_GAS } from "../functions/adapters/ton-chain";
import { tonVoucherSigner } from "../functions/adapters/ton-voucher-signer";

/** A payee for tests that sign vouchers by hand: the address's hash (the coordinator's own are payeeUint of an id). */
export const testPayee = (to: Address): bigint => BigInt("0x" + to.hash.toString("hex"));

export interface ChainSendResult {
  /** the vault's last transaction of the operation (hex): the credit, the payment or the refusal */
  txHash: string;
  success: boolean;
  exitCode: number | undefined;
  /** exit code by name (ERR_...) when the vault or one of its wallets refused it */
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
  depositNano(
    accountId: string,
    nano: bigint,
    opts?: { comment?: boolean; from?: SandboxContract<TreasuryContract> },
  ): Promise<ChainSendResult>;
  /** A sandbox wallet by name (created and funded with 1M TON on first use). */
  wallet(name: string): Promise<SandboxContract<TreasuryContract>>;
  /**
   * Coordinator-signed voucher paying `payee` (default testPayee(to): a payee of its own per
   * address) to `to` (expires in `ttlSeconds`, default 1 day).
   */
  signVoucher(to: Address, cumulative: bigint, ttlSeconds?: number, payee?: bigint): SignedVoucher;
  /** Coordinator-signed withdrawal at the account's current on-chain seqno. */
  signWithdrawal(accountId: string, to: Address, amount: bigint, ttlSeconds?: number): Promise<SignedWithdrawal>;
  redeem(workerWallet: SandboxContract<TreasuryContract>, voucher: SignedVoucher): Promise<ChainSendResult>;
  withdraw(via: SandboxContract<TreasuryContract>, w: SignedWithdrawal): Promise<ChainSendResult>;
  vaultBalance(): Promise<bigint>;
  walletBalance(address: Address): Promise<bigint>;
  /** what the account's wallet recorded (deposited - withdrawn) */
  accountBalance(accountId: string): Promise<bigint>;
  /** what the vault paid `payee` in all (its payout wallet's mark), to whichever addresses */
  paid(payee: bigint): Promise<bigint>;
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
   * Runs `f`, a send into this sandbox, alone and writes the state before it resolves, as the
   * vault's own sends do. Every send into the sandbox must come through here: its message queue
   * is shared, so a send running beside another can have its transactions carried off by the
   * other's call (a dev withdrawal sent while the anchorer posted failed with "the message never
   * reached the vault").
   */
  exclusiveSend<T>(f: () => Promise<T>): Promise<T>;
  /**
   * Write the sandbox to `stateFile` (no-op without one), from now on keeping only the vault's
   * transactions after `keepVaultTxsAfterLt` (those the watcher has not processed yet; all of
   * them when undefined). During a send it only sets the cut: the send writes when it is done.
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
  const saved: StateFile | undefined =
    opts.stateFile && existsSync(opts.stateFile) ? (JSON.parse(readFileSync(opts.stateFile, "utf8")) as StateFile) : undefined;
  if (saved) await blockchain.loadFrom(snapshotFromSerializable(saved.snapshot));
  if (opts.now !== undefined) blockchain.now = opts.now;
  const owner = await blockchain.treasury("owner");
  const requesterWallet = await blockchain.treasury("requester");
  const coordinatorSeed = saved ? Buffer.from(saved.coordinatorSeed, "hex") : (opts.coordinatorSeed ?? (await getSecureRandomBytes(32)));
  const coordinator = keyPairFromSeed(coordinatorSeed);
  const vault = blockchain.openContract(
    await Vault.createFromConfig({
      owner: owner.address,
      coordinatorKey: coordinator.publicKey,
      network: GLOBAL_ID.mainnet, // @ton/sandbox runs mainnet's config (global id -239)
    }),
  );
  if (saved && saved.vault !== vault.address.toRawString())
    throw new Error(
      `${opts.stateFile} holds vault ${saved.vault}, but this build's vault (its code and the coordinator's key) is ${vault.address.toRawString()}: the contract changed since the file was written. Delete the folder it is in (its ledger belongs to that chain) to start afresh`,
    );
  if (!saved) await vault.sendDeploy(owner.getSender(), opts.reserve ?? toNano("10"));
  const nowSeconds = () => blockchain.now ?? Math.floor(Date.now() / 1000);

  // ---- durability (see the header): one send at a time, written before it resolves
  const vaultHash = BigInt("0x" + vault.address.hash.toString("hex"));
  let keepAfter: bigint | undefined; // vault transactions at or below this lt were processed: not written (all are kept when undefined)
  let sending = false;
  let turn: Promise<unknown> = Promise.resolve();
  /** Runs `f` after every earlier exclusive call has finished (sends, reads of the reader). */
  const exclusive = <T>(f: () => Promise<T>): Promise<T> => {
    const run = turn.then(f);
    turn = run.catch(() => undefined);
    return run;
  };
  const write = () => {
    if (!opts.stateFile) return;
    const snap = blockchain.snapshot();
    // only what the watcher still has to read, cut loose from the wallets' transactions
    snap.transactions = snap.transactions
      .filter((t) => t.address === vaultHash && (keepAfter === undefined || t.lt > keepAfter))
      .map((t) => ({ ...t, parent: undefined, children: [] }));
    const serialized = snapshotToSerializable(snap);
    // The sandbox writes a transaction by re-encoding its parsed fields, which does not always
    // give back the original cell, so a reloaded transaction could get another hash, and the
    // hash is the watcher's once-only key: one deposit read before and after a restart was
    // credited twice. Keep each transaction's original cell.
    serialized.transactions.forEach((t, i) => (t.transaction = snap.transactions[i]!.raw.toBoc().toString("base64")));
    const file: StateFile = {
      v: 1,
      coordinatorSeed: coordinatorSeed.toString("hex"),
      vault: vault.address.toRawString(),
      snapshot: serialized,
    };
    replaceFileSync(opts.stateFile, JSON.stringify(file));
  };
  /** A send: alone, and on disk before the caller (or the watcher) hears of it. Written even when it throws: it may have moved state. */
  const send = <T>(f: () => Promise<T>): Promise<T> =>
    exclusive(async () => {
      sending = true;
      try {
        return await f();
      } finally {
        sending = false;
        write();
      }
    });
  const inner = new SandboxChainReader(blockchain, vault.address);
  // Every method of the reader waits for a send in progress: the watcher sees only written state.
  const reader = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === "function"
        ? (...args: unknown[]) => exclusive(async () => (v as (...a: unknown[]) => unknown).apply(target, args))
        : v;
    },
  }) as ChainReader;
  // A fresh chain is on disk before anything uses it: a crash right after the first start keeps its vault and key.
  if (!saved) write();

  /**
   * One operation spans several transactions (vault → account or payout wallet → vault → payee).
   * It failed when any of them was aborted (the vault, or a wallet, refused): `error` names the
   * first refusal's exit code (a wallet that does not exist runs no code: ERR_NO_WALLET).
   * `txHash` is the vault's last transaction, the one the watcher books or reports: the credit
   * (with its log), the payment, or the bounce / refusal.
   */
  const outcome = (res: SendMessageResult): ChainSendResult => {
    const vaultTxs = res.transactions.filter((t) => t.address === vaultHash);
    const last = vaultTxs[vaultTxs.length - 1];
    if (!last) throw new Error("the message never reached the vault");
    // A non-bounceable message to an account with no code (the payee of a payout or withdrawal:
    // the vault pays with bounce off, and a fresh wallet is undeployed) aborts with no compute
    // phase, but the account keeps the value: that is a payment, not a refusal.
    const paidToUninit = (t: Transaction) => {
      const info = t.inMessage?.info;
      return (
        info?.type === "internal" &&
        !info.bounce &&
        t.description.type === "generic" &&
        t.description.computePhase.type === "skipped" &&
        t.description.computePhase.reason === "no-state"
      );
    };
    const refused = res.transactions.find((t) => t.description.type === "generic" && t.description.aborted && !paidToUninit(t));
    const d = refused?.description;
    const exitCode = d && d.type === "generic" ? (d.computePhase.type === "vm" ? d.computePhase.exitCode : undefined) : undefined;
    const success = refused === undefined;
    return {
      txHash: last.hash().toString("hex"),
      success,
      exitCode,
      error: success ? undefined : exitCode === undefined ? "ERR_NO_WALLET" : (vaultExitName(exitCode) ?? `exit_${exitCode}`),
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
    depositNano(accountId, nano, o = {}) {
      const from = o.from ?? requesterWallet;
      const account = accountIdToUint(accountId);
      return send(async () =>
        outcome(
          o.comment
            ? await vault.sendDepositComment(from.getSender(), nano, account)
            : await vault.sendDeposit(from.getSender(), nano, account),
        ),
      );
    },
    wallet: (name) => blockchain.treasury(name),
    signVoucher: (to, cumulative, ttl = 86_400, payee = testPayee(to)) =>
      sign(coordinator.secretKey, vault.address, { payee, to, cumulative, expiry: nowSeconds() + ttl }),
    async signWithdrawal(accountId, to, amount, ttl = 3_600) {
      const account = accountIdToUint(accountId);
      const seqno = await vault.getWithdrawSeqno(account); // read from the account's wallet
      return signW(coordinator.secretKey, vault.address, { account, to, amount, seqno, expiry: nowSeconds() + ttl });
    },
    redeem: (w, voucher) => send(async () => outcome(await vault.sendRedeem(w.getSender(), REDEEM_GAS, voucher))),
    withdraw: (via, w) => send(async () => outcome(await vault.sendWithdraw(via.getSender(), WITHDRAW_GAS, w))),
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
    exclusiveSend: send,
    save(keep) {
      keepAfter = keep;
      if (!sending) write(); // mid-send the state is half-applied; the send writes when done
    },
  };
  return chain;
}

/** The sandbox's executed transactions (the array SandboxChainReader reads). */
function sandboxTransactions(b: Blockchain): Transaction[] {
  return (b as unknown as { transactions?: Transaction[] }).transactions ?? [];
}
