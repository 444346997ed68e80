/**
 * TON adapters of the receipt anchor (issue 15), over any `ProviderFactory`: @ton/ton's
 * TonClient (toncenter) on AWS and for CLIs, a @ton/sandbox Blockchain locally and in tests.
 *
 *   ChainAnchorReader  the contract's `latest` getter (core/receipts/proof.ts AnchorReader):
 *                      what verifiers and the watcher trust, never the coordinator's database
 *   WalletAnchorPoster PostAnchor messages from the coordinator's wallet v5r1, several anchors
 *                      in one signed transfer (a wallet's messages to one address arrive in
 *                      order), each with ANCHOR_VALUE (core/receipts/anchoring.ts AnchorPoster)
 */
import { createHash } from "node:crypto";
import { type Address, type ContractProvider, internal, type MessageRelaxed, SendMode, type StateInit } from "@ton/core";
import { keyPairFromSeed, type KeyPair } from "@ton/crypto";
// the wallet module alone: @ton/ton's index also loads TonClient and axios (issue 12: the anchorer's bundle)
import { WalletContractV5R1 } from "@ton/ton/dist/wallets/v5r1/WalletContractV5R1.js";
import { AnchorContract, ANCHOR_VALUE, postAnchorBody } from "../contracts/anchor";
import type { Anchor } from "../core/receipts/anchor";
import { AnchorPostUncertainError } from "../core/receipts/anchor-post";
import type { AnchorPoster } from "../core/receipts/anchoring";
import type { AnchorReader, ChainAnchor } from "../core/receipts/proof";

/** TonClient and Blockchain both hand out providers for an address. */
export interface ProviderFactory {
  provider(address: Address, init?: StateInit | null): ContractProvider;
}

export class ChainAnchorReader implements AnchorReader {
  constructor(
    private readonly chain: ProviderFactory,
    readonly anchor: Address,
  ) {}

  latest(): Promise<ChainAnchor> {
    return AnchorContract.createFromAddress(this.anchor).getLatest(this.chain.provider(this.anchor));
  }
}

/** The coordinator's anchoring wallet: v5r1 on the basechain, from a 32-byte seed. */
export function anchorWallet(seed: Buffer): { wallet: WalletContractV5R1; key: KeyPair } {
  if (seed.length !== 32) throw new Error("the anchor wallet seed is 32 bytes");
  const key = keyPairFromSeed(seed);
  return { wallet: WalletContractV5R1.create({ workchain: 0, publicKey: key.publicKey }), key };
}

/** A seed for the anchor wallet derived from another secret seed (the local default derives it from its coordinator seed). */
export const derivedAnchorSeed = (secret: Uint8Array) => createHash("sha256").update("cocoon/v1/anchor-wallet\n").update(secret).digest();

/** The wallet opened on a chain: TonClient.open(wallet), or a sandbox's openContract(wallet) (which also runs the messages it queues). */
export interface OpenedWallet {
  getSeqno(): Promise<number>;
  sendTransfer(args: { seqno: number; secretKey: Buffer; sendMode: SendMode; messages: MessageRelaxed[] }): Promise<unknown>;
}

export class WalletAnchorPoster implements AnchorPoster {
  constructor(
    private readonly chain: ProviderFactory & { open(w: WalletContractV5R1): OpenedWallet },
    private readonly w: { wallet: WalletContractV5R1; key: KeyPair },
    readonly anchor: Address,
    private readonly value: bigint = ANCHOR_VALUE,
  ) {}

  get address(): Address {
    return this.w.wallet.address;
  }

  async post(anchors: Anchor[]): Promise<void> {
    if (anchors.length === 0) return;
    if (anchors.length > 255) throw new Error("a wallet v5r1 transfer carries at most 255 messages; post the rest in the next run");
    // An undeployed wallet has no seqno getter: its first transfer (seqno 0) carries its init.
    const active = (await this.chain.provider(this.w.wallet.address).getState()).state.type === "active";
    const opened = this.chain.open(this.w.wallet);
    const seqno = active ? await opened.getSeqno() : 0;
    const messages = anchors.map((a) => internal({ to: this.anchor, value: this.value, bounce: true, body: postAnchorBody(a) }));
    try {
      await opened.sendTransfer({
        seqno,
        secretKey: this.w.key.secretKey,
        sendMode: SendMode.PAY_GAS_SEPARATELY | SendMode.IGNORE_ERRORS,
        messages,
      });
    } catch (e) {
      throw new AnchorPostUncertainError(e); // the endpoint may have passed it on before it failed
    }
  }
}
