/**
 * The anchorer's wallet v5r1 and the PostAnchor transfer it signs, with no TON library (issue
 * 12): @ton/ton's WalletContractV5R1 (create, createTransfer with a secret key, external
 * authentication) and @ton/core's internal(), external(), storeMessage(Relaxed) and
 * contractAddress, rewritten over ton-boc.ts so the anchorer's bundle carries neither @ton/core
 * nor @ton/crypto (tweetnacl, jssha). ton-wallet-v5.test.ts checks the addresses, the signed
 * transfers and the external messages' BOCs byte for byte against @ton/ton on random inputs,
 * and toncenter-client.test.ts sends them to the sandbox through a toncenter double.
 *
 * The key: Ed25519 from the 32-byte seed through node:crypto (a PKCS#8 envelope around the
 * seed); Ed25519 is deterministic, so the signature is the one @ton/crypto's sign() makes. Nothing
 * cryptographic is implemented here.
 */
import { createPrivateKey, createPublicKey, sign, type KeyObject } from "node:crypto";
import type { Anchor } from "../../core/receipts/anchor";
import { AnchorPostUncertainError } from "../../core/receipts/anchor-post";
import type { AnchorPoster } from "../../core/receipts/anchoring";
import { beginCell, type Builder, Cell, parseBoc, StdAddress } from "./ton-boc";
import type { TonAddress } from "./ton-cells";
import type { ToncenterClient } from "./toncenter-client";

// ---------------------------------------------------------------- keys

/** PKCS#8 PrivateKeyInfo for Ed25519 (RFC 8410) up to the 32-byte seed. */
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export interface SeedKey {
  publicKey: Buffer;
  privateKey: KeyObject;
}

/** The Ed25519 key pair of a 32-byte seed (= @ton/crypto keyPairFromSeed). */
export function keyFromSeed(seed: Buffer): SeedKey {
  if (seed.length !== 32) throw new Error("an Ed25519 seed is 32 bytes");
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return { publicKey: Buffer.from(spki.subarray(spki.length - 32)), privateKey };
}

// ---------------------------------------------------------------- messages (@ton/core types/_helpers.ts, Message*.ts)

/** SendMode (@ton/core) */
export const SendMode = { PAY_GAS_SEPARATELY: 1, IGNORE_ERRORS: 2 } as const;

function storeBody(b: Builder, body: Cell, needRef: boolean): void {
  if (needRef) b.storeBit(1).storeRef(body);
  else b.storeBit(0).storeCellContents(body);
}

/** storeMessageRelaxed(internal({ to, value, bounce, body })): what a wallet sends (no src, no init, no fees). */
export function internalMessage(m: { to: TonAddress; value: bigint; bounce: boolean; body: Cell }): Cell {
  const b = beginCell()
    .storeBit(0) // int_msg_info
    .storeBit(1) // ihr_disabled
    .storeBit(m.bounce)
    .storeBit(0) // bounced
    .storeAddress(null)
    .storeAddress(m.to)
    .storeCoins(m.value)
    .storeBit(0) // no extra currencies
    .storeCoins(0n) // ihr_fee
    .storeCoins(0n) // fwd_fee
    .storeUint(0, 64) // created_lt
    .storeUint(0, 32) // created_at
    .storeBit(0); // no init
  storeBody(b, m.body, !(b.availableBits - 1 >= m.body.bitLength && b.refs + m.body.refs.length <= 4 && !m.body.isExotic));
  return b.endCell();
}

export interface StateInit {
  code: Cell;
  data: Cell;
}

/** StateInit with code and data, no split depth, no special, no libraries. */
const stateInit = (init: StateInit) => beginCell().storeBit(0).storeBit(0).storeMaybeRef(init.code).storeMaybeRef(init.data).storeBit(0);

/** storeMessage(external({ to, init, body })): an inbound external message (to a wallet). */
export function externalMessage(m: { to: TonAddress; init: StateInit | null; body: Cell }): Cell {
  const b = beginCell().storeBit(1).storeBit(0).storeAddress(null).storeAddress(m.to).storeCoins(0n);
  if (m.init) {
    const init = stateInit(m.init).endCell();
    b.storeBit(1);
    if (b.availableBits - 2 < init.bitLength + m.body.bitLength) b.storeBit(1).storeRef(init);
    else b.storeBit(0).storeCellContents(init);
  } else {
    b.storeBit(0);
  }
  storeBody(b, m.body, b.availableBits - 1 < m.body.bitLength || b.refs + m.body.refs.length > 4);
  return b.endCell();
}

/** = @ton/core contractAddress: the hash of the StateInit. */
export const contractAddress = (workchain: number, init: StateInit) => new StdAddress(workchain, stateInit(init).endCell().hash());

// ---------------------------------------------------------------- wallet v5r1 (@ton/ton wallets/v5r1)

/** https://github.com/ton-blockchain/wallet-contract-v5 build/wallet_v5.compiled.json, as @ton/ton embeds it */
const V5R1_CODE_BOC =
  "b5ee9c7241021401000281000114ff00f4a413f4bcf2c80b01020120020d020148030402dcd020d749c120915b8f6320d70b1f2082106578746ebd21821073696e74bdb0925f03e082106578746eba8eb48020d72101d074d721fa4030fa44f828fa443058bd915be0ed44d0810141d721f4058307f40e6fa1319130e18040d721707fdb3ce03120d749810280b99130e070e2100f020120050c020120060902016e07080019adce76a2684020eb90eb85ffc00019af1df6a2684010eb90eb858fc00201480a0b0017b325fb51341c75c875c2c7e00011b262fb513435c280200019be5f0f6a2684080a0eb90fa02c0102f20e011e20d70b1f82107369676ebaf2e08a7f0f01e68ef0eda2edfb218308d722028308d723208020d721d31fd31fd31fed44d0d200d31f20d31fd3ffd70a000af90140ccf9109a28945f0adb31e1f2c087df02b35007b0f2d0845125baf2e0855036baf2e086f823bbf2d0882292f800de01a47fc8ca00cb1f01cf16c9ed542092f80fde70db3cd81003f6eda2edfb02f404216e926c218e4c0221d73930709421c700b38e2d01d72820761e436c20d749c008f2e09320d74ac002f2e09320d71d06c712c2005230b0f2d089d74cd7393001a4e86c128407bbf2e093d74ac000f2e093ed55e2d20001c000915be0ebd72c08142091709601d72c081c12e25210b1e30f20d74a111213009601fa4001fa44f828fa443058baf2e091ed44d0810141d718f405049d7fc8ca0040048307f453f2e08b8e14038307f45bf2e08c22d70a00216e01b3b0f2d090e2c85003cf1612f400c9ed54007230d72c08248e2d21f2e092d200ed44d0d2005113baf2d08f54503091319c01810140d721d70a00f2e08ee2c8ca0058cf16c9ed5493f2c08de20010935bdb31e1d74cd0b4d6c35e";
let v5r1Code: Cell | undefined;
const OP_SIGNED_EXTERNAL = 0x7369676e;
const OUT_ACTION_SEND_MSG = 0x0ec3c86d;

export class WalletV5R1 {
  readonly init: StateInit;
  readonly address: StdAddress;
  /** int32: networkGlobalId XOR the client context (workchain, version 0 = v5r1, subwallet) */
  readonly walletId: number;

  /** = WalletContractV5R1.create({ workchain, publicKey }) (mainnet's network id, subwallet 0) */
  constructor(
    readonly publicKey: Buffer,
    readonly workchain = 0,
    networkGlobalId = -239,
  ) {
    v5r1Code ??= parseBoc(Buffer.from(V5R1_CODE_BOC, "hex"))[0]!;
    // the context @ton/ton writes by default: workchain 0 whatever the address's workchain
    const context = beginCell().storeUint(1, 1).storeInt(0, 8).storeUint(0, 8).storeUint(0, 15).endCell().beginParse().loadInt(32);
    this.walletId = Number(BigInt.asIntN(32, BigInt(networkGlobalId) ^ BigInt(context)));
    const data = beginCell()
      .storeUint(1, 1) // signature auth allowed
      .storeUint(0, 32) // seqno
      .storeInt(this.walletId, 32)
      .storeBuffer(publicKey)
      .storeBit(0) // no extensions
      .endCell();
    this.init = { code: v5r1Code, data };
    this.address = contractAddress(workchain, this.init);
  }

  /**
   * = createTransfer({ seqno, secretKey, sendMode, messages, timeout }) with external
   * authentication: the actions' send mode gets IGNORE_ERRORS, as @ton/ton makes it.
   */
  createTransfer(a: { seqno: number; key: KeyObject; sendMode: number; messages: Cell[]; timeout?: number }): Cell {
    if (a.messages.length > 255) throw new Error("Maximum number of OutActions in a single request is 255");
    const mode = a.sendMode | SendMode.IGNORE_ERRORS;
    const outList = a.messages.reduce(
      (prev, msg) => beginCell().storeRef(prev).storeUint(OUT_ACTION_SEND_MSG, 32).storeUint(mode, 8).storeRef(msg).endCell(),
      Cell.EMPTY,
    );
    const signing = () =>
      beginCell()
        .storeUint(OP_SIGNED_EXTERNAL, 32)
        .storeInt(this.walletId, 32)
        .storeUint(a.timeout || Math.floor(Date.now() / 1e3) + 60, 32)
        .storeUint(a.seqno, 32)
        .storeMaybeRef(a.messages.length ? outList : null)
        .storeUint(0, 1); // no extended actions
    const unsigned = signing().endCell();
    const signature = sign(null, unsigned.hash(), a.key);
    return signing().storeBuffer(signature).endCell();
  }
}

// ---------------------------------------------------------------- the anchorer

/** = contracts/anchor.ts ANCHOR_VALUE (toNano("0.0025")); ton-wallet-v5.test.ts holds them equal. */
export const ANCHOR_VALUE = 2_500_000n;
const POST_ANCHOR = 0x6b1f0d01;

/** = contracts/anchor.ts postAnchorBody (Tact storePostAnchor). */
export function postAnchorBody(a: Anchor): Cell {
  return beginCell()
    .storeUint(POST_ANCHOR, 32)
    .storeUint(BigInt(a.seqno), 32)
    .storeUint(BigInt("0x" + a.root), 256)
    .storeUint(BigInt(a.firstSeq), 64)
    .storeUint(BigInt(a.count), 32)
    .storeUint(BigInt(a.ledgerSeqno), 64)
    .storeUint(BigInt("0x" + a.ledgerHash), 256)
    .endCell();
}

/** The coordinator's anchoring wallet: v5r1 on the basechain, from a 32-byte seed (= ton/anchor.ts anchorWallet). */
export function anchorWalletFromSeed(seed: Buffer): { wallet: WalletV5R1; key: SeedKey } {
  if (seed.length !== 32) throw new Error("the anchor wallet seed is 32 bytes");
  const key = keyFromSeed(seed);
  return { wallet: new WalletV5R1(key.publicKey), key };
}

/**
 * = ton/anchor.ts WalletAnchorPoster over toncenter: PostAnchor messages from the wallet, several
 * anchors in one signed transfer, each with ANCHOR_VALUE; an undeployed wallet's first transfer
 * (seqno 0) carries its init.
 */
export class ToncenterAnchorPoster implements AnchorPoster {
  constructor(
    private readonly client: Pick<ToncenterClient, "getContractState" | "runMethod" | "sendFile">,
    private readonly w: { wallet: WalletV5R1; key: SeedKey },
    readonly anchor: TonAddress,
    private readonly value: bigint = ANCHOR_VALUE,
  ) {}

  get address(): StdAddress {
    return this.w.wallet.address;
  }

  async post(anchors: Anchor[]): Promise<void> {
    if (anchors.length === 0) return;
    if (anchors.length > 255) throw new Error("a wallet v5r1 transfer carries at most 255 messages; post the rest in the next run");
    const { wallet, key } = this.w;
    // An undeployed wallet has no seqno getter: its first transfer (seqno 0) carries its init.
    const active = (await this.client.getContractState(wallet.address)).state === "active";
    const seqno = active ? (await this.client.runMethod(wallet.address, "seqno")).stack.readNumber() : 0;
    const body = wallet.createTransfer({
      seqno,
      key: key.privateKey,
      sendMode: SendMode.PAY_GAS_SEPARATELY | SendMode.IGNORE_ERRORS,
      messages: anchors.map((a) => internalMessage({ to: this.anchor, value: this.value, bounce: true, body: postAnchorBody(a) })),
    });
    const boc = externalMessage({ to: wallet.address, init: active ? null : wallet.init, body }).toBoc();
    try {
      await this.client.sendFile(boc);
    } catch (e) {
      throw new AnchorPostUncertainError(e); // toncenter may have passed it on before it failed
    }
  }
}
