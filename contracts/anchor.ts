/**
 * Blueprint-style wrapper over the Tact-generated ReceiptAnchor binding
 * (contracts/build/ReceiptAnchor_ReceiptAnchor.ts). Converts between the contract's integers
 * and core/receipts/anchor.ts's Anchor (hex hashes, JS numbers), so the watcher and the CLI
 * compare the chain with the coordinator's batches in one shape.
 */
import { type Address, beginCell, Cell, type Contract, type ContractProvider, type Sender, SendMode, toNano } from "@ton/core";
import type { Anchor, AnchorHead } from "../core/receipts/anchor";
import { ReceiptAnchor as TactAnchor, storePostAnchor } from "./build/ReceiptAnchor_ReceiptAnchor";

export { AnchorExit, anchorExitName, type AnchorExitName } from "./errors-anchor";

export const ANCHOR_OPCODES = { postAnchor: 0x6b1f0d01 } as const;

/**
 * Value sent with each PostAnchor: about its compute fee (~5.9k gas at the basechain's 400
 * nanoTON per gas, contracts/anchor.gas.json). The contract accepts the message after checking
 * the sender, so its reserve covers any shortfall (a rise in gas prices) and the value does
 * not pile up in the contract; top the reserve up with a plain transfer when it runs low.
 */
export const ANCHOR_VALUE = toNano("0.0025");
/** Below this the message runs out of gas before the sender check (~2.5k gas) and nothing is anchored. */
export const ANCHOR_MIN_VALUE = toNano("0.00125");

export interface AnchorConfig {
  /** The coordinator's wallet: the only address allowed to post anchors. */
  coordinator: Address;
  /** Lets one coordinator deploy several anchor contracts (default 0). */
  nonce?: bigint;
}

/** The anchor as the contract holds it: the last Anchor plus what only the chain knows. */
export interface AnchorOnChain extends Anchor {
  lastSeq: number;
  history: string;
  /** Chain time (unix seconds) of the latest anchor; 0 before the first. */
  postedAt: number;
}

const hex32 = (n: bigint) => n.toString(16).padStart(64, "0");
const uint = (h: string) => BigInt("0x" + h);

export function postAnchorBody(a: Anchor): Cell {
  return beginCell()
    .store(
      storePostAnchor({
        $$type: "PostAnchor",
        seqno: BigInt(a.seqno),
        root: uint(a.root),
        firstSeq: BigInt(a.firstSeq),
        count: BigInt(a.count),
        ledgerSeqno: BigInt(a.ledgerSeqno),
        ledgerHash: uint(a.ledgerHash),
      }),
    )
    .endCell();
}

/** The head the next anchor must continue from, as read from the chain. */
export function headFromChain(s: AnchorOnChain): AnchorHead {
  return { seqno: s.seqno, lastSeq: s.lastSeq, ledgerSeqno: s.ledgerSeqno, ledgerHash: s.ledgerHash, history: s.history };
}

export class AnchorContract implements Contract {
  constructor(
    readonly address: Address,
    readonly init?: { code: Cell; data: Cell },
  ) {}

  static createFromAddress(address: Address): AnchorContract {
    return new AnchorContract(address);
  }

  static async createFromConfig(config: AnchorConfig): Promise<AnchorContract> {
    const t = await TactAnchor.fromInit(config.coordinator, config.nonce ?? 0n);
    return new AnchorContract(t.address, t.init);
  }

  /** Deploys with a first top-up (the storage reserve). */
  async sendDeploy(provider: ContractProvider, via: Sender, value: bigint): Promise<void> {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: new Cell() });
  }

  async sendTopUp(provider: ContractProvider, via: Sender, value: bigint): Promise<void> {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: new Cell() });
  }

  async sendAnchor(provider: ContractProvider, via: Sender, anchor: Anchor, value: bigint = ANCHOR_VALUE): Promise<void> {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: postAnchorBody(anchor) });
  }

  async getLatest(provider: ContractProvider): Promise<AnchorOnChain> {
    const s = await TactAnchor.fromAddress(this.address).getLatest(provider);
    return {
      seqno: Number(s.seqno),
      root: hex32(s.root),
      firstSeq: Number(s.firstSeq),
      count: Number(s.count),
      lastSeq: Number(s.lastSeq),
      ledgerSeqno: Number(s.ledgerSeqno),
      ledgerHash: hex32(s.ledgerHash),
      history: hex32(s.history),
      postedAt: Number(s.postedAt),
    };
  }

  async getCoordinator(provider: ContractProvider): Promise<Address> {
    return TactAnchor.fromAddress(this.address).getCoordinator(provider);
  }

  async getBalance(provider: ContractProvider): Promise<bigint> {
    return (await provider.getState()).balance;
  }
}
