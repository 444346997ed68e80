/**
 * issue 12: the anchorer's wallet without @ton/ton, @ton/core or @ton/crypto (ton-wallet-v5.ts)
 * against them on seeded random inputs: keys and signatures from seeds, wallet addresses,
 * internal messages with bodies inline and by reference, signed v5r1 transfers of 0 to 255
 * messages, external messages with and without the wallet's init, PostAnchor bodies.
 */
import { sign as nodeSign } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  Address,
  beginCell,
  type Cell as CoreCell,
  external,
  internal,
  SendMode as CoreSendMode,
  storeMessage,
  storeMessageRelaxed,
} from "@ton/core";
import { keyPairFromSeed, sign } from "@ton/crypto";
import { WalletContractV5R1 } from "@ton/ton";
import { ANCHOR_VALUE as CORE_ANCHOR_VALUE, postAnchorBody as corePostAnchorBody } from "../../contracts/anchor";
import { parseBoc } from "./ton-boc";
import { anchor, coins, rng, type Rng, workchain } from "./ton-testing";
import {
  ANCHOR_VALUE,
  anchorWalletFromSeed,
  externalMessage,
  internalMessage,
  keyFromSeed,
  postAnchorBody,
  SendMode,
  WalletV5R1,
} from "./ton-wallet-v5";

const lean = (c: CoreCell) => parseBoc(c.toBoc())[0]!;
const hex = (n: number) => n.toString(16);

/** A body of random size: short ones go inline, long ones and ones with many refs by reference. */
function body(r: Rng): CoreCell {
  const b = beginCell();
  const bits = r.pick([0, 1 + r.int(100), 500 + r.int(500), 1023]);
  for (let k = 0; k < bits; k += 32) b.storeUint(r.big(Math.min(32, bits - k)), Math.min(32, bits - k));
  const refs = r.int(5);
  for (let k = 0; k < refs; k++) b.storeRef(beginCell().storeUint(k, 8).endCell());
  return b.endCell();
}

afterEach(() => vi.useRealTimers());

describe("issue 12: the anchorer's wallet without @ton/*", () => {
  it("keys from 100 random seeds: the same public key and byte-identical signatures as @ton/crypto", () => {
    const r = rng(71);
    for (let i = 0; i < 100; i++) {
      const seed = r.bytes(32);
      const ours = keyFromSeed(seed);
      const theirs = keyPairFromSeed(seed);
      const msg = r.bytes(32);
      expect(ours.publicKey.toString("hex")).toBe(theirs.publicKey.toString("hex"));
      expect(nodeSign(null, msg, ours.privateKey).toString("hex")).toBe(sign(msg, theirs.secretKey).toString("hex"));
    }
    expect(() => keyFromSeed(Buffer.alloc(31))).toThrow();
  });

  it("300 random wallets: the same address, code and data as WalletContractV5R1.create (basechain and masterchain)", () => {
    const r = rng(72);
    for (let i = 0; i < 300; i++) {
      const key = keyPairFromSeed(r.bytes(32));
      const wc = i % 5 === 0 ? -1 : 0;
      const ours = new WalletV5R1(key.publicKey, wc);
      const theirs = WalletContractV5R1.create({ workchain: wc, publicKey: key.publicKey });
      expect(ours.address.toRawString()).toBe(theirs.address.toRawString());
      expect(ours.address.toString()).toBe(theirs.address.toString());
      expect(ours.init.code.hash().equals(theirs.init.code.hash())).toBe(true);
      expect(ours.init.data.toBoc().equals(theirs.init.data.toBoc())).toBe(true);
    }
  });

  it("2,000 random internal messages (values across the coins range, bounce or not, bodies inline and by reference): the same cells as storeMessageRelaxed(internal(...))", () => {
    const r = rng(73);
    for (let i = 0; i < 2000; i++) {
      const to = new Address(workchain(r), r.bytes(32));
      const value = coins(r);
      const bounce = r.bool();
      const b = body(r);
      const theirs = beginCell()
        .store(storeMessageRelaxed(internal({ to, value, bounce, body: b })))
        .endCell();
      const ours = internalMessage({ to: { workchain: to.workChain, hash: to.hash }, value, bounce, body: lean(b) });
      expect(ours.toBoc().toString("hex")).toBe(theirs.toBoc().toString("hex"));
    }
  });

  it("150 random signed transfers (0 to 255 PostAnchor messages, random seqno, timeout and send mode) in external messages with and without the init: byte-identical BOCs to @ton/ton's", () => {
    const r = rng(74);
    for (let i = 0; i < 150; i++) {
      // Prepare
      const seed = r.bytes(32);
      const theirs = WalletContractV5R1.create({ workchain: 0, publicKey: keyPairFromSeed(seed).publicKey });
      const ours = anchorWalletFromSeed(seed);
      const to = new Address(0, r.bytes(32));
      const n = r.int(50) === 0 ? 255 : r.pick([0, 1, 1, 2, 3 + r.int(10)]);
      const anchors = Array.from({ length: n }, () => anchor(r));
      const value = r.bool() ? ANCHOR_VALUE : coins(r);
      const seqno = r.int(2 ** 32);
      const timeout = r.int(4) === 0 ? 0 : 1 + r.int(2 ** 32 - 1);
      const sendMode = r.pick([CoreSendMode.PAY_GAS_SEPARATELY | CoreSendMode.IGNORE_ERRORS, CoreSendMode.PAY_GAS_SEPARATELY, 0, 128]);
      vi.useFakeTimers({ now: 1_750_000_000_000 + r.int(10 ** 9) });
      // Act
      const theirBody = theirs.createTransfer({
        seqno,
        secretKey: keyPairFromSeed(seed).secretKey,
        sendMode,
        timeout,
        messages: anchors.map((a) => internal({ to, value, bounce: true, body: corePostAnchorBody(a) })),
      });
      const ourBody = ours.wallet.createTransfer({
        seqno,
        key: ours.key.privateKey,
        sendMode,
        timeout,
        messages: anchors.map((a) =>
          internalMessage({ to: { workchain: 0, hash: to.hash }, value, bounce: true, body: postAnchorBody(a) }),
        ),
      });
      const withInit = r.bool();
      const theirExt = beginCell()
        .store(storeMessage(external({ to: theirs.address, init: withInit ? theirs.init : null, body: theirBody })))
        .endCell()
        .toBoc();
      const ourExt = externalMessage({ to: ours.wallet.address, init: withInit ? ours.wallet.init : null, body: ourBody }).toBoc();
      // Assess
      expect(ourBody.hash().toString("hex"), `seqno ${hex(seqno)} n ${n}`).toBe(theirBody.hash().toString("hex"));
      expect(ourExt.toString("hex")).toBe(theirExt.toString("hex"));
    }
  });

  it("PostAnchor bodies equal contracts/anchor.ts on 500 random anchors, and ANCHOR_VALUE is the contract wrapper's", () => {
    const r = rng(75);
    for (let i = 0; i < 500; i++) {
      const a = anchor(r);
      expect(postAnchorBody(a).toBoc().equals(corePostAnchorBody(a).toBoc())).toBe(true);
    }
    expect(ANCHOR_VALUE).toBe(CORE_ANCHOR_VALUE);
    expect(SendMode).toEqual({ PAY_GAS_SEPARATELY: CoreSendMode.PAY_GAS_SEPARATELY, IGNORE_ERRORS: CoreSendMode.IGNORE_ERRORS });
  });
});
