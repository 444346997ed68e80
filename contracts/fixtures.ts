/**
 * Test/bench fixtures for the vault on a @ton/sandbox Blockchain: a deployed vault with a
 * deterministic owner, coordinator key, requester and worker (fixed clock, so gas and storage
 * fees are reproducible).
 */
import { Blockchain, type SandboxContract, type TreasuryContract } from "@ton/sandbox";
import { type Address, beginCell, type Cell, type ShardAccount, type Transaction, toNano } from "@ton/core";
import { keyPairFromSeed, type KeyPair } from "@ton/crypto";
import {
  depositComment,
  GLOBAL_ID,
  keyToUint,
  signVoucher,
  signWithdrawal,
  Vault,
  type SignedVoucher,
  type SignedWithdrawal,
} from "./vault";

export const FIXED_NOW = 1_750_000_000;
export const RESERVE = toNano("1");

/**
 * Freezes the account at `address` for unpaid storage (last paid at FIXED_NOW): TON runs no code there and its
 * StateInit no longer matches, so whatever reaches it bounces. For any sandbox (a vault fixture, a local chain).
 */
export async function freeze(on: { blockchain: Blockchain }, address: Address): Promise<void> {
  const frozen: ShardAccount = {
    account: {
      addr: address,
      storageStats: { used: { cells: 1n, bits: 256n }, storageExtra: null, lastPaid: FIXED_NOW, duePayment: toNano("0.2") },
      storage: { lastTransLt: 0n, balance: { coins: 0n }, state: { type: "frozen", stateHash: 0xdeadn } },
    },
    lastTransactionLt: 0n,
    lastTransactionHash: 0n,
  };
  await on.blockchain.setShardAccount(address, frozen);
}

export function seededKeyPair(label: string): KeyPair {
  const seed = Buffer.alloc(32);
  Buffer.from(label).copy(seed);
  return keyPairFromSeed(seed);
}

/** The fixture worker's payee (any uint256: the coordinator derives its own from the payee's id). */
export const WORKER_PAYEE = 0x5eed_0001n;

export interface VaultFixture {
  blockchain: Blockchain;
  owner: SandboxContract<TreasuryContract>;
  requester: SandboxContract<TreasuryContract>;
  worker: SandboxContract<TreasuryContract>;
  stranger: SandboxContract<TreasuryContract>;
  coordinator: KeyPair;
  /** requester's Ed25519 key pair; its public key is the on-chain account id */
  requesterKey: KeyPair;
  account: bigint;
  vault: SandboxContract<Vault>;
  deployTx: Transaction[];
  /** the worker's payee id on chain (WORKER_PAYEE) */
  payee: bigint;
  /** A voucher for `payee` (the worker's by default) paid to `to` (the worker's wallet by default). */
  voucher(cumulative: bigint, opts?: { payee?: bigint; to?: Address; expiry?: number; key?: KeyPair; vault?: Address }): SignedVoucher;
  withdrawal(amount: bigint, opts?: { seqno?: number; to?: Address; expiry?: number; key?: KeyPair; account?: bigint }): SignedWithdrawal;
}

export async function vaultFixture(opts: { now?: number; network?: number } = {}): Promise<VaultFixture> {
  const blockchain = await Blockchain.create();
  blockchain.now = opts.now ?? FIXED_NOW;
  const owner = await blockchain.treasury("owner");
  const requester = await blockchain.treasury("requester");
  const worker = await blockchain.treasury("worker");
  const stranger = await blockchain.treasury("stranger");
  const coordinator = seededKeyPair("coordinator");
  const requesterKey = seededKeyPair("requester");
  const vault = blockchain.openContract(
    await Vault.createFromConfig({
      owner: owner.address,
      coordinatorKey: coordinator.publicKey,
      network: opts.network ?? GLOBAL_ID.mainnet,
    }),
  );
  const res = await vault.sendDeploy(owner.getSender(), RESERVE);
  const f: VaultFixture = {
    blockchain,
    owner,
    requester,
    worker,
    stranger,
    coordinator,
    requesterKey,
    account: keyToUint(requesterKey.publicKey),
    vault,
    deployTx: res.transactions,
    payee: WORKER_PAYEE,
    voucher: (cumulative, o = {}) =>
      signVoucher((o.key ?? coordinator).secretKey, o.vault ?? vault.address, {
        payee: o.payee ?? WORKER_PAYEE,
        to: o.to ?? worker.address,
        cumulative,
        expiry: o.expiry ?? (blockchain.now ?? FIXED_NOW) + 3600,
      }),
    withdrawal: (amount, o = {}) =>
      signWithdrawal((o.key ?? coordinator).secretKey, vault.address, {
        account: o.account ?? f.account,
        to: o.to ?? requester.address,
        amount,
        seqno: o.seqno ?? 0,
        expiry: o.expiry ?? (blockchain.now ?? FIXED_NOW) + 3600,
      }),
  };
  return f;
}

/**
 * Message bodies that read as "deposit:<hex>" to a comment reader that follows refs
 * (loadStringTail), while the vault, which accepts a comment deposit only as one 576-bit cell
 * without refs, treats them as unattributed transfers (issue 9 #1).
 */
export function refDepositLookalikes(account: bigint): Record<string, Cell> {
  const text = Buffer.from(depositComment(account));
  return {
    "deposit:<hex> + an empty ref": beginCell().storeUint(0, 32).storeBuffer(text).storeRef(beginCell().endCell()).endCell(),
    "op 0 with the whole text in a ref": beginCell().storeUint(0, 32).storeRef(beginCell().storeBuffer(text).endCell()).endCell(),
  };
}
