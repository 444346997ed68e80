/**
 * issue 12: the edges of ton-wallet-v5.ts that the random vectors of ton-wallet-v5.test.ts rarely
 * hit, each against @ton/core / @ton/ton / ton/anchor.ts: where an external message puts the
 * wallet's init and the body (inline or by reference) at the exact bit and reference boundaries,
 * an internal message's body at its boundary, seeds of the wrong length, the 255-message limits,
 * and the anchorer's post() (no anchors, 255, 256; bounceable PostAnchor messages) over a
 * toncenter double.
 */
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
import { keyPairFromSeed } from "@ton/crypto";
import { ANCHOR_VALUE as CORE_ANCHOR_VALUE, postAnchorBody as corePostAnchorBody } from "../../contracts/anchor";
import type { Anchor } from "../../core/receipts/anchor";
import { anchorWallet } from "../../ton/anchor";
import { type Cell, parseBoc } from "./ton-boc";
import { anchor, rng } from "./ton-testing";
import { type ToncenterContractState, TupleReader } from "./toncenter-client";
import { AnchorPostUncertainError } from "../../core/receipts/anchor-post";
import { anchorWalletFromSeed, externalMessage, internalMessage, keyFromSeed, ToncenterAnchorPoster } from "./ton-wallet-v5";

// ---------------------------------------------------------------- factories

const SEED = rng(1711).bytes(32);
const CORE = anchorWallet(SEED); // ton/anchor.ts: @ton/ton's WalletContractV5R1 and @ton/crypto's key
const OURS = anchorWalletFromSeed(SEED);
const ANCHOR = new Address(0, rng(1712).bytes(32));
const NOW = 1_760_000_000_000;

const lean = (c: CoreCell): Cell => parseBoc(c.toBoc())[0]!;

/** A body of exactly `bits` bits and `refs` leaf references, as @ton/core builds it. */
function coreBody(bits: number, refs = 0): CoreCell {
  const r = rng(bits * 8 + refs);
  const b = beginCell();
  for (let k = 0; k < bits; k += 32) b.storeUint(r.big(Math.min(32, bits - k)), Math.min(32, bits - k));
  for (let k = 0; k < refs; k++) b.storeRef(beginCell().storeUint(k, 8).endCell());
  return b.endCell();
}

/** storeMessage(external({ to: the wallet, init?, body })) by both. */
function externalBoth(body: CoreCell, withInit: boolean) {
  const core = beginCell()
    .store(storeMessage(external({ to: CORE.wallet.address, init: withInit ? CORE.wallet.init : null, body })))
    .endCell();
  const ours = externalMessage({ to: OURS.wallet.address, init: withInit ? OURS.wallet.init : null, body: lean(body) });
  return { ours, core };
}

/** storeMessageRelaxed(internal({ to: ANCHOR, value, bounce: true, body })) by both. */
function internalBoth(body: CoreCell, value: bigint) {
  const core = beginCell()
    .store(storeMessageRelaxed(internal({ to: ANCHOR, value, bounce: true, body })))
    .endCell();
  const ours = internalMessage({ to: { workchain: 0, hash: ANCHOR.hash }, value, bounce: true, body: lean(body) });
  return { ours, core };
}

const hexBoc = (c: { toBoc(): Buffer }) => c.toBoc().toString("hex");

/** Where the wallet's init went in an external message: inline (its code and data are the root's first refs), by reference, or absent. */
function initPlace(root: Cell): "inline" | "ref" | "none" {
  if (root.refs[0]?.hash().equals(OURS.wallet.init.code.hash())) return "inline";
  if (root.refs[0]?.hash().equals(OURS.wallet.address.hash)) return "ref"; // the StateInit cell's hash is the address
  return "none";
}

const anchors = (n: number, seed = n) => {
  const r = rng(seed);
  return Array.from({ length: n }, () => anchor(r));
};

/** A toncenter double: the wallet's state and seqno, and a log of every call made. */
function toncenterDouble(o: { active: boolean; seqno?: number; fails?: "getContractState" | "sendFile" }) {
  const calls: string[] = [];
  const sent: Buffer[] = [];
  const client = {
    async getContractState(): Promise<ToncenterContractState> {
      calls.push("getContractState");
      if (o.fails === "getContractState") throw new Error("toncenter: 503 Service Unavailable");
      return {
        balance: 10n ** 9n,
        state: o.active ? "active" : "uninitialized",
        code: null,
        data: null,
        lastTransaction: null,
        timestampt: NOW / 1e3,
      };
    },
    async runMethod(_address: unknown, name: string) {
      calls.push(`runMethod ${name}`);
      return { gas_used: 0, stack: new TupleReader([{ type: "int", value: BigInt(o.seqno ?? 0) }]) };
    },
    async sendFile(boc: Buffer) {
      calls.push("sendFile");
      sent.push(boc);
      if (o.fails === "sendFile") throw new Error("toncenter: 504 Gateway Timeout");
    },
  };
  return { client, calls, sent };
}

/** What ton/anchor.ts's WalletAnchorPoster sends for `list`: @ton/ton's signed transfer of bounceable PostAnchors in an external message. */
function coreAnchorPost(list: Anchor[], seqno: number, active: boolean): string {
  const body = CORE.wallet.createTransfer({
    seqno,
    secretKey: CORE.key.secretKey,
    sendMode: CoreSendMode.PAY_GAS_SEPARATELY | CoreSendMode.IGNORE_ERRORS,
    messages: list.map((a) => internal({ to: ANCHOR, value: CORE_ANCHOR_VALUE, bounce: true, body: corePostAnchorBody(a) })),
  });
  return hexBoc(
    beginCell()
      .store(storeMessage(external({ to: CORE.wallet.address, init: active ? null : CORE.wallet.init, body })))
      .endCell(),
  );
}

const poster = (d: ReturnType<typeof toncenterDouble>) => new ToncenterAnchorPoster(d.client, OURS, { workchain: 0, hash: ANCHOR.hash });

afterEach(() => vi.useRealTimers());

// An external message to the wallet: ext_in_msg_info$10, src addr_none (2), dest addr_std (267),
// import_fee 0 (4) = 275 bits, then the init flag (1): 747 bits left. The init (StateInit: 5 bits,
// refs code and data) goes inline when both it and the body fit with 2 flag bits (5 + body <= 745),
// the body when it fits with 1 flag bit and its refs fit beside the root's.

// ---------------------------------------------------------------- external messages

describe("issue 12 edges: where an external message puts the init and the body", () => {
  it("without an init: a body of 746 bits (the root then holds exactly 1023) goes inline, 747 bits by reference, as storeMessage puts them", () => {
    for (const [bits, inline] of [
      [745, true],
      [746, true],
      [747, false],
      [748, false],
    ] as const) {
      // Act
      const { ours, core } = externalBoth(coreBody(bits), false);
      // Assess
      expect(hexBoc(ours), `${bits} bits`).toBe(hexBoc(core));
      expect(ours.bitLength).toBe(inline ? 276 + 1 + bits : 277);
      expect(ours.refs).toHaveLength(inline ? 0 : 1);
    }
  });

  it("with the init: init and body both inline up to a 740-bit body (the root then holds exactly 1023); from 741 bits the init goes by reference and the body stays inline up to 745, as storeMessage puts them", () => {
    for (const [bits, init, bodyInline] of [
      [0, "inline", true],
      [739, "inline", true],
      [740, "inline", true],
      [741, "ref", true],
      [742, "ref", true],
      [744, "ref", true],
      [745, "ref", true],
      [746, "ref", false],
      [1023, "ref", false],
    ] as const) {
      // Act
      const { ours, core } = externalBoth(coreBody(bits), true);
      // Assess
      expect(hexBoc(ours), `${bits} bits`).toBe(hexBoc(core));
      expect(initPlace(ours), `${bits} bits`).toBe(init);
      const flags = 276 + (init === "inline" ? 1 + 5 : 1) + 1;
      expect(ours.bitLength, `${bits} bits`).toBe(bodyInline ? flags + bits : flags);
    }
  });

  it("the body's references must fit beside the root's: with the init inline (code, data) 2 go inline and 3 by reference; with the init by reference 3 inline and 4 by reference; without an init 4 inline", () => {
    for (const [bits, refs, withInit, rootRefs] of [
      [8, 2, true, 4], // code, data, 2 body refs
      [8, 3, true, 3], // code, data, the body
      [8, 4, true, 3],
      [741, 3, true, 4], // the init, 3 body refs
      [741, 4, true, 2], // the init, the body
      [8, 4, false, 4],
      [747, 4, false, 1],
    ] as const) {
      // Act
      const { ours, core } = externalBoth(coreBody(bits, refs), withInit);
      // Assess
      expect(hexBoc(ours), `${bits} bits, ${refs} refs`).toBe(hexBoc(core));
      expect(ours.refs, `${bits} bits, ${refs} refs`).toHaveLength(rootRefs);
    }
  });
});

// ---------------------------------------------------------------- internal messages

describe("issue 12 edges: where an internal message puts its body", () => {
  it("a body goes inline while it fits beside the 383-bit header (value 0: 639 bits; ANCHOR_VALUE's 3 bytes: 615) and by reference one bit later; 4 references go inline, as storeMessageRelaxed puts it", () => {
    for (const [value, fits] of [
      [0n, 639],
      [CORE_ANCHOR_VALUE, 615],
    ] as const)
      for (const [bits, refs, inline] of [
        [fits, 0, true],
        [fits, 4, true],
        [fits + 1, 0, false],
        [fits + 1, 4, false],
      ] as const) {
        // Act
        const { ours, core } = internalBoth(coreBody(bits, refs), value);
        // Assess
        expect(hexBoc(ours), `${value}: ${bits} bits, ${refs} refs`).toBe(hexBoc(core));
        expect(ours.bitLength).toBe(inline ? 1023 : 1023 - fits);
        expect(ours.refs).toHaveLength(inline ? refs : 1);
      }
  });
});

// ---------------------------------------------------------------- seeds and limits

describe("issue 12 edges: seeds and the 255-message limits", () => {
  it("a seed is 32 bytes: keyFromSeed and anchorWalletFromSeed refuse 0, 31 and 33 bytes with their own message, as @ton/crypto and ton/anchor.ts refuse them", () => {
    for (const n of [0, 31, 33]) {
      // Prepare
      const seed = Buffer.alloc(n, 7);
      // Act / Assess
      expect(() => keyPairFromSeed(seed), `${n} bytes`).toThrow("bad seed size");
      expect(() => keyFromSeed(seed), `${n} bytes`).toThrow(new Error("an Ed25519 seed is 32 bytes"));
      expect(() => anchorWallet(seed)).toThrow(new Error("the anchor wallet seed is 32 bytes"));
      expect(() => anchorWalletFromSeed(seed), `${n} bytes`).toThrow(new Error("the anchor wallet seed is 32 bytes"));
    }
    expect(keyFromSeed(SEED).publicKey.equals(CORE.key.publicKey)).toBe(true);
  });

  it("a signed transfer carries at most 255 messages: 255 sign as @ton/ton signs them, 256 are refused with @ton/ton's message", () => {
    // Prepare
    const message = internal({ to: ANCHOR, value: 1n, bounce: true, body: coreBody(8) });
    const coreMessage = beginCell().store(storeMessageRelaxed(message)).endCell();
    const transfer = (n: number) => ({
      core: () =>
        CORE.wallet.createTransfer({
          seqno: 3,
          secretKey: CORE.key.secretKey,
          sendMode: CoreSendMode.PAY_GAS_SEPARATELY,
          timeout: 1_800_000_000,
          messages: Array.from({ length: n }, () => message),
        }),
      ours: () =>
        OURS.wallet.createTransfer({
          seqno: 3,
          key: OURS.key.privateKey,
          sendMode: CoreSendMode.PAY_GAS_SEPARATELY,
          timeout: 1_800_000_000,
          messages: Array.from({ length: n }, () => lean(coreMessage)),
        }),
    });
    // Act / Assess
    expect(hexBoc(transfer(255).ours())).toBe(hexBoc(transfer(255).core()));
    expect(transfer(256).core).toThrow(new Error("Maximum number of OutActions in a single request is 255"));
    expect(transfer(256).ours).toThrow(new Error("Maximum number of OutActions in a single request is 255"));
  });
});

// ---------------------------------------------------------------- the anchorer

describe("issue 12 edges: ToncenterAnchorPoster.post", () => {
  it("a failed sendBoc may have gone out: AnchorPostUncertainError (the anchorer counts it); a failure before it is the plain error (nothing sent)", async () => {
    // Prepare
    const handOver = toncenterDouble({ active: true, seqno: 4, fails: "sendFile" });
    const before = toncenterDouble({ active: true, seqno: 4, fails: "getContractState" });
    // Act
    const uncertain = await poster(handOver)
      .post(anchors(1))
      .catch((e: unknown) => e);
    const plain = await poster(before)
      .post(anchors(1))
      .catch((e: unknown) => e);
    // Assess
    expect(uncertain).toBeInstanceOf(AnchorPostUncertainError);
    expect((uncertain as Error).message).toContain("toncenter: 504 Gateway Timeout");
    expect(plain).not.toBeInstanceOf(AnchorPostUncertainError);
    expect(plain).toEqual(new Error("toncenter: 503 Service Unavailable"));
    expect(before.calls).toEqual(["getContractState"]);
  });

  it("no anchors: nothing is asked of toncenter and nothing is sent (as WalletAnchorPoster)", async () => {
    // Prepare
    const d = toncenterDouble({ active: true, seqno: 4 });
    // Act
    await poster(d).post([]);
    // Assess
    expect(d.calls).toEqual([]);
  });

  it("256 anchors are refused before toncenter is asked anything, with WalletAnchorPoster's message", async () => {
    // Prepare
    const d = toncenterDouble({ active: true, seqno: 4 });
    // Act / Assess
    await expect(poster(d).post(anchors(256))).rejects.toThrow(
      new Error("a wallet v5r1 transfer carries at most 255 messages; post the rest in the next run"),
    );
    expect(d.calls).toEqual([]);
  });

  it("255 anchors to an active wallet: one external message, byte-identical to @ton/ton's transfer of 255 bounceable PostAnchors at the wallet's seqno, without the init", async () => {
    // Prepare
    vi.useFakeTimers({ now: NOW, toFake: ["Date"] });
    const d = toncenterDouble({ active: true, seqno: 41 });
    const list = anchors(255);
    // Act
    await poster(d).post(list);
    // Assess
    expect(d.calls).toEqual(["getContractState", "runMethod seqno", "sendFile"]);
    expect(d.sent[0]!.toString("hex")).toBe(coreAnchorPost(list, 41, true));
  });

  it("one anchor from an undeployed wallet: seqno 0 and the init, byte-identical to @ton/ton's bounceable PostAnchor transfer", async () => {
    // Prepare
    vi.useFakeTimers({ now: NOW, toFake: ["Date"] });
    const d = toncenterDouble({ active: false });
    const list = anchors(1);
    // Act
    await poster(d).post(list);
    // Assess
    expect(d.calls).toEqual(["getContractState", "sendFile"]);
    expect(d.sent[0]!.toString("hex")).toBe(coreAnchorPost(list, 0, false));
    expect(d.sent[0]!.toString("hex")).not.toBe(coreAnchorPost(list, 0, true));
  });
});
