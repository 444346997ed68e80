/**
 * Blueprint-style wrapper over the Tact-generated bindings of the vault and its wallets
 * (contracts/build/Vault_{Vault,AccountWallet,PayoutWallet}.ts), plus the signing helpers the
 * coordinator uses for withdrawals and worker vouchers.
 *
 * Per-account and per-worker state lives in child contracts whose addresses derive offline from
 * (vault, owner), like jetton wallets: `accountWalletAddress(vault, account)`,
 * `payoutWalletAddress(vault, payee)`. The Vault class's per-account getters read those children.
 *
 * Signed payloads (hash = representation hash of the cell, Ed25519 over those 32 bytes):
 *   withdrawal: uint32 "cow1" | vault address | account uint256 | to address | amount coins | seqno uint32 | expiry uint32
 *   voucher:    uint32 "cov2" | vault address | payee uint256 | to address | cumulative coins | expiry uint32
 * The vault address covers the network: the vault's init data names its global id (`network`).
 */
import { Address, beginCell, Cell, type Contract, type ContractProvider, Dictionary, type Sender, SendMode, toNano } from "@ton/core";
import { sign } from "@ton/crypto";
import {
  loadDepositCredited,
  Vault as TactVault,
  storeDeposit,
  storeRedeem,
  storeSetCoordinatorKey,
  storeWithdraw,
  type Totals,
} from "./build/Vault_Vault";
import { AccountWallet as TactAccountWallet } from "./build/Vault_AccountWallet";
import { PayoutWallet as TactPayoutWallet } from "./build/Vault_PayoutWallet";

export { VaultExit, vaultExitName, type VaultExitName } from "./errors";
export type { Totals } from "./build/Vault_Vault";

export const TAG_WITHDRAW = 0x636f7731;
export const TAG_VOUCHER = 0x636f7632;
/** Global ids (config param 19) of the TON networks; @ton/sandbox runs mainnet's config (-239). */
export const GLOBAL_ID = { mainnet: -239, testnet: -3 } as const;
/**
 * What every deposit pays the vault (DEPOSIT_FEE in the contract): kept as the owner's income
 * (totals.fees), it pays for the deposit's transactions, so deposits never drain the owner's
 * reserve. The account is credited the deposit's value minus this fee (`depositCredit`).
 */
export const DEPOSIT_FEE = toNano("0.025");
/** Smallest deposit the vault accepts (MIN_DEPOSIT in the contract); credits 0.075 TON. */
export const MIN_DEPOSIT = toNano("0.1");
/** What the vault sends its account wallet with every credit, from its own balance (CREDIT_VALUE). */
export const CREDIT_VALUE = toNano("0.01");
/** What a wallet keeps for its own storage (WALLET_STORAGE). */
export const WALLET_STORAGE = toNano("0.002");
export const OPCODES = {
  deposit: 0x6b1f0c01,
  withdraw: 0x6b1f0c02,
  redeem: 0x6b1f0c03,
  setCoordinatorKey: 0x6b1f0c04,
  /** external-out log of a credited deposit (the only thing the watcher credits from) */
  depositCredited: 0x6b1f0c81,
  // vault <-> wallets
  creditAccount: 0x6b1f0c11,
  accountCredited: 0x6b1f0c12,
  debit: 0x6b1f0c13,
  debitApproved: 0x6b1f0c14,
  claim: 0x6b1f0c15,
  claimApproved: 0x6b1f0c16,
} as const;

/**
 * What a deposit of `value` nanoTON credits its account (the DepositCredited log's amount and
 * what the account wallet adds): value − DEPOSIT_FEE; null below MIN_DEPOSIT (the vault refuses it).
 */
export function depositCredit(value: bigint): bigint | null {
  return value < MIN_DEPOSIT ? null : value - DEPOSIT_FEE;
}

export interface VaultConfig {
  owner: Address;
  /** 32-byte Ed25519 public key of the coordinator. */
  coordinatorKey: Buffer;
  /** Lets one owner/key pair deploy several vaults (default 0). */
  nonce?: bigint;
  /**
   * The global id of the network the vault is deployed on (GLOBAL_ID; @ton/sandbox: mainnet's).
   * Part of the vault's address, so a signature for one network's vault is void on the other's;
   * the vault refuses every Withdraw and Redeem on a chain of another id (ERR_WRONG_NETWORK).
   */
  network: number;
}

export interface WithdrawalRequest {
  /** Requester's Ed25519 public key as uint256. */
  account: bigint;
  to: Address;
  amount: bigint;
  /** Must equal the account wallet's seqno. */
  seqno: number;
  /** Unix seconds; the vault refuses after this instant. */
  expiry: number;
}

export interface SignedWithdrawal extends WithdrawalRequest {
  signature: Buffer;
}

export interface VoucherRequest {
  /** Who earned it (uint256; the coordinator's payeeIdToUint of a worker's or the operator's id): the high-water mark is its. */
  payee: bigint;
  /** Where the vault pays it. */
  to: Address;
  /** Everything the payee earned so far, nanoTON. */
  cumulative: bigint;
  expiry: number;
}

export interface SignedVoucher extends VoucherRequest {
  signature: Buffer;
}

export function keyToUint(key: Buffer): bigint {
  if (key.length !== 32) throw new Error(`an Ed25519 public key is 32 bytes, got ${key.length}`);
  return BigInt("0x" + key.toString("hex"));
}

export function uintToKey(n: bigint): Buffer {
  return Buffer.from(n.toString(16).padStart(64, "0"), "hex");
}

export function withdrawalHash(vault: Address, w: WithdrawalRequest): Buffer {
  return beginCell()
    .storeUint(TAG_WITHDRAW, 32)
    .storeAddress(vault)
    .storeUint(w.account, 256)
    .storeAddress(w.to)
    .storeCoins(w.amount)
    .storeUint(w.seqno, 32)
    .storeUint(w.expiry, 32)
    .endCell()
    .hash();
}

export function voucherHash(vault: Address, v: VoucherRequest): Buffer {
  return beginCell()
    .storeUint(TAG_VOUCHER, 32)
    .storeAddress(vault)
    .storeUint(v.payee, 256)
    .storeAddress(v.to)
    .storeCoins(v.cumulative)
    .storeUint(v.expiry, 32)
    .endCell()
    .hash();
}

/** secretKey: the 64-byte NaCl secret key (@ton/crypto keyPairFromSeed / mnemonicToPrivateKey). */
export function signWithdrawal(secretKey: Buffer, vault: Address, w: WithdrawalRequest): SignedWithdrawal {
  return { ...w, signature: sign(withdrawalHash(vault, w), secretKey) };
}

export function signVoucher(secretKey: Buffer, vault: Address, v: VoucherRequest): SignedVoucher {
  return { ...v, signature: sign(voucherHash(vault, v), secretKey) };
}

// ---------------------------------------------------------------- child addresses (offline)
/** The AccountWallet of `account` under `vault` (where its balance and seqno live). */
export async function accountWalletAddress(vault: Address, account: bigint): Promise<Address> {
  return (await TactAccountWallet.fromInit(vault, account, 0n, 0n, 0n)).address;
}

/** The PayoutWallet of `payee` under `vault` (where its paid high-water mark lives). */
export async function payoutWalletAddress(vault: Address, payee: bigint): Promise<Address> {
  return (await TactPayoutWallet.fromInit(vault, payee, 0n)).address;
}

// ---------------------------------------------------------------- message bodies
export function depositBody(account: bigint): Cell {
  return beginCell()
    .store(storeDeposit({ $$type: "Deposit", account }))
    .endCell();
}

export function depositComment(account: bigint): string {
  return `deposit:${account.toString(16).padStart(64, "0")}`;
}

export function withdrawBody(w: SignedWithdrawal): Cell {
  return beginCell()
    .store(
      storeWithdraw({
        $$type: "Withdraw",
        account: w.account,
        amount: w.amount,
        to: w.to,
        seqno: BigInt(w.seqno),
        expiry: BigInt(w.expiry),
        signature: w.signature,
      }),
    )
    .endCell();
}

export function redeemBody(v: SignedVoucher): Cell {
  return beginCell()
    .store(
      storeRedeem({
        $$type: "Redeem",
        payee: v.payee,
        to: v.to,
        cumulative: v.cumulative,
        expiry: BigInt(v.expiry),
        signature: v.signature,
      }),
    )
    .endCell();
}

export function setCoordinatorKeyBody(key: Buffer): Cell {
  return beginCell()
    .store(storeSetCoordinatorKey({ $$type: "SetCoordinatorKey", key: keyToUint(key) }))
    .endCell();
}

/** What the vault logged for a credited deposit. */
export interface DepositCreditedLog {
  account: bigint;
  amount: bigint;
}

/**
 * Reads the body of one of the vault's external-out messages as a DepositCredited log; null
 * for anything else (another opcode, a short or malformed cell, trailing data or refs).
 */
export function parseDepositCredited(body: Cell): DepositCreditedLog | null {
  try {
    const s = body.beginParse();
    if (s.remainingBits < 32 || s.preloadUint(32) !== OPCODES.depositCredited) return null;
    const m = loadDepositCredited(s);
    if (s.remainingBits !== 0 || s.remainingRefs !== 0) return null;
    return { account: m.account, amount: m.amount };
  } catch {
    return null;
  }
}

function commentBody(text: string): Cell {
  return beginCell().storeUint(0, 32).storeStringTail(text).endCell();
}

// ---------------------------------------------------------------- the children
/** A wallet that was never deployed (or was deleted) holds nothing: its getters read as zero. */
async function active(provider: ContractProvider): Promise<boolean> {
  return (await provider.getState()).state.type === "active";
}

export interface AccountWalletState {
  deposited: bigint;
  withdrawn: bigint;
  seqno: number;
}

export class AccountWallet implements Contract {
  constructor(readonly address: Address) {}

  static async of(vault: Address, account: bigint): Promise<AccountWallet> {
    return new AccountWallet(await accountWalletAddress(vault, account));
  }

  async getState(provider: ContractProvider): Promise<AccountWalletState> {
    if (!(await active(provider))) return { deposited: 0n, withdrawn: 0n, seqno: 0 };
    const s = await TactAccountWallet.fromAddress(this.address).getState(provider);
    return { deposited: s.deposited, withdrawn: s.withdrawn, seqno: Number(s.seqno) };
  }

  /** deposited − withdrawn */
  async getBalance(provider: ContractProvider): Promise<bigint> {
    if (!(await active(provider))) return 0n;
    return TactAccountWallet.fromAddress(this.address).getBalance(provider);
  }

  async getSeqno(provider: ContractProvider): Promise<number> {
    if (!(await active(provider))) return 0;
    return Number(await TactAccountWallet.fromAddress(this.address).getSeqno(provider));
  }

  /** TON the wallet holds (its storage reserve) */
  async getTonBalance(provider: ContractProvider): Promise<bigint> {
    return (await provider.getState()).balance;
  }
}

export class PayoutWallet implements Contract {
  constructor(readonly address: Address) {}

  static async of(vault: Address, payee: bigint): Promise<PayoutWallet> {
    return new PayoutWallet(await payoutWalletAddress(vault, payee));
  }

  async getPaid(provider: ContractProvider): Promise<bigint> {
    if (!(await active(provider))) return 0n;
    return TactPayoutWallet.fromAddress(this.address).getPaid(provider);
  }
}

// ---------------------------------------------------------------- the vault
export class Vault implements Contract {
  constructor(
    readonly address: Address,
    readonly init?: { code: Cell; data: Cell },
  ) {}

  static createFromAddress(address: Address): Vault {
    return new Vault(address);
  }

  static async createFromConfig(config: VaultConfig): Promise<Vault> {
    const t = await TactVault.fromInit(
      config.owner,
      keyToUint(config.coordinatorKey),
      config.nonce ?? 0n,
      BigInt(config.network),
      0n,
      0n,
      0n,
      0n,
      0n,
      0n,
      Dictionary.empty(Dictionary.Keys.BigUint(64), Dictionary.Values.Address()),
    );
    return new Vault(t.address, t.init);
  }

  /** Deploys with the owner's first top-up (value stays in the vault as gas/storage reserve). */
  async sendDeploy(provider: ContractProvider, via: Sender, value: bigint): Promise<void> {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: new Cell() });
  }

  /** Owner top-up (plain transfer). From anyone else it bounces with ERR_UNATTRIBUTED. */
  async sendTopUp(provider: ContractProvider, via: Sender, value: bigint, opts: { bounce?: boolean } = {}): Promise<void> {
    await provider.internal(via, { value, bounce: opts.bounce ?? true, sendMode: SendMode.PAY_GAS_SEPARATELY, body: new Cell() });
  }

  /** Credits `account` with value − DEPOSIT_FEE (value ≥ MIN_DEPOSIT, else ERR_DEPOSIT_TOO_SMALL). */
  async sendDeposit(provider: ContractProvider, via: Sender, value: bigint, account: bigint): Promise<void> {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: depositBody(account) });
  }

  /** A deposit as a wallet comment "deposit:<64 hex>" (what a human wallet app can send). */
  async sendDepositComment(provider: ContractProvider, via: Sender, value: bigint, account: bigint): Promise<void> {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: commentBody(depositComment(account)) });
  }

  async sendComment(provider: ContractProvider, via: Sender, value: bigint, text: string, opts: { bounce?: boolean } = {}): Promise<void> {
    await provider.internal(via, { value, bounce: opts.bounce ?? true, sendMode: SendMode.PAY_GAS_SEPARATELY, body: commentBody(text) });
  }

  async sendWithdraw(provider: ContractProvider, via: Sender, value: bigint, w: SignedWithdrawal): Promise<void> {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: withdrawBody(w) });
  }

  async sendRedeem(provider: ContractProvider, via: Sender, value: bigint, v: SignedVoucher): Promise<void> {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: redeemBody(v) });
  }

  async sendSetCoordinatorKey(provider: ContractProvider, via: Sender, value: bigint, key: Buffer): Promise<void> {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: setCoordinatorKeyBody(key) });
  }

  async getTotals(provider: ContractProvider): Promise<Omit<Totals, "$$type">> {
    const { $$type: _t, ...rest } = await TactVault.fromAddress(this.address).getTotals(provider);
    return rest;
  }

  async getCoordinatorKey(provider: ContractProvider): Promise<Buffer> {
    return uintToKey(await TactVault.fromAddress(this.address).getCoordinatorKey(provider));
  }

  async getOwner(provider: ContractProvider): Promise<Address> {
    return TactVault.fromAddress(this.address).getOwner(provider);
  }

  /** Deposits routed to their account wallet and not yet confirmed or bounced (0 at rest). */
  async getInflight(provider: ContractProvider): Promise<number> {
    return Number(await TactVault.fromAddress(this.address).getInflight(provider));
  }

  /** The vault's own answer to where `account`'s wallet lives (equals accountWalletAddress). */
  async getAccountWalletAddress(provider: ContractProvider, account: bigint): Promise<Address> {
    return TactVault.fromAddress(this.address).getAccountWallet(provider, account);
  }

  async getPayoutWalletAddress(provider: ContractProvider, payee: bigint): Promise<Address> {
    return TactVault.fromAddress(this.address).getPayoutWallet(provider, payee);
  }

  /** The global id the vault was deployed for (its init data). */
  async getNetwork(provider: ContractProvider): Promise<number> {
    return Number(await TactVault.fromAddress(this.address).getNetwork(provider));
  }

  /** deposited − withdrawn of `account`, read from its AccountWallet (0 when it has none). */
  async getAccountBalance(provider: ContractProvider, account: bigint): Promise<bigint> {
    return provider.open(await AccountWallet.of(this.address, account)).getBalance();
  }

  /** The seqno `account`'s next withdrawal must carry, read from its AccountWallet. */
  async getWithdrawSeqno(provider: ContractProvider, account: bigint): Promise<number> {
    return provider.open(await AccountWallet.of(this.address, account)).getSeqno();
  }

  /** What the vault has paid `payee` so far (to whichever addresses), read from its PayoutWallet. */
  async getPaid(provider: ContractProvider, payee: bigint): Promise<bigint> {
    return provider.open(await PayoutWallet.of(this.address, payee)).getPaid();
  }

  async getBalance(provider: ContractProvider): Promise<bigint> {
    return (await provider.getState()).balance;
  }
}
