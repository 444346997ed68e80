/**
 * issue 12: the chain watcher's reading of the vault without @ton/core. Three differential checks:
 *
 * - the vault body loaders (ton-vault-tx.ts) against the Tact-generated ones on random bodies,
 *   well-formed, truncated and noise, over @ton/core's slices and over ton-boc.ts's;
 * - ton-tx.ts loadTransaction against @ton/core's on every transaction of a sandbox run of the
 *   vault (deposits, withdrawals, redemptions, replays, bounces, refunds, junk), and on thousands
 *   of random transactions written by @ton/core's storeTransaction;
 * - normalizeVaultTx over ton-tx.ts's transactions against normalizeVaultTx over @ton/core's.
 */
import { describe, expect, it } from "vitest";
import {
  Address,
  beginCell,
  Cell as CoreCell,
  Dictionary,
  ExternalAddress,
  loadTransaction as coreLoadTransaction,
  type Message as CoreMessage,
  storeMessage,
  storeTransaction,
  toNano,
  type Transaction as CoreTransaction,
  type TransactionDescriptionGeneric,
} from "@ton/core";
import { keyPairFromSeed } from "@ton/crypto";
import {
  loadClaimApproved as tactClaimApproved,
  loadDebitApproved as tactDebitApproved,
  loadRedeem as tactRedeem,
  loadWithdraw as tactWithdraw,
  storeClaimApproved,
  storeDebitApproved,
  storeDepositCredited,
  storeRedeem,
  storeWithdraw,
} from "../../contracts/build/Vault_Vault";
import { OPCODES, parseDepositCredited as coreParseDepositCredited } from "../../contracts/vault";
import { startLocalChain } from "../../local/chain";
import { parseBoc } from "./ton-boc";
import { attempt, coins, rng, type Rng, throws, workchain } from "./ton-testing";
import { loadTransaction } from "./ton-tx";
import {
  loadClaimApproved,
  loadDebitApproved,
  loadRedeem,
  loadWithdraw,
  normalizeVaultTx,
  parseDepositCredited,
  VAULT_OPCODES,
  type SliceLike,
} from "./ton-vault-tx";

const lean = (c: CoreCell) => parseBoc(c.toBoc())[0]!;
const addr = (r: Rng) => new Address(workchain(r), r.bytes(32));
const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x));

// ---------------------------------------------------------------- random vault bodies

/** A body the vault may receive or send: each of its messages (well-formed, truncated, with extra), bounces, comments, noise. */
function vaultBody(r: Rng): CoreCell {
  const u32 = () => BigInt(r.int(2 ** 32));
  const sig = () => r.bytes(64);
  let c: CoreCell;
  switch (r.int(12)) {
    case 0:
      return CoreCell.EMPTY;
    case 1:
      return beginCell()
        .storeUint(0, 32)
        .storeStringTail("acct:" + r.bytes(8).toString("hex"))
        .endCell();
    case 2:
      c = beginCell()
        .store(
          storeWithdraw({
            $$type: "Withdraw",
            account: r.big(256),
            amount: coins(r),
            to: addr(r),
            seqno: u32(),
            expiry: u32(),
            signature: sig(),
          }),
        )
        .endCell();
      break;
    case 3:
      c = beginCell()
        .store(
          storeDebitApproved({ $$type: "DebitApproved", account: r.big(256), amount: coins(r), to: addr(r), seqno: u32(), expiry: u32() }),
        )
        .endCell();
      break;
    case 4:
      c = beginCell()
        .store(storeRedeem({ $$type: "Redeem", payee: r.big(256), to: addr(r), cumulative: coins(r), expiry: u32(), signature: sig() }))
        .endCell();
      break;
    case 5:
      c = beginCell()
        .store(storeClaimApproved({ $$type: "ClaimApproved", due: coins(r), cumulative: coins(r), payee: r.big(256), to: addr(r) }))
        .endCell();
      break;
    case 6:
      c = beginCell()
        .store(storeDepositCredited({ $$type: "DepositCredited", account: r.big(256), amount: coins(r) }))
        .endCell();
      break;
    case 7: {
      // a bounce of one of the vault's own messages: 0xffffffff, then its first 256 bits
      const op = r.pick([OPCODES.creditAccount, OPCODES.debit, OPCODES.claim, OPCODES.deposit]);
      const b = beginCell().storeUint(0xffffffff, 32).storeUint(op, 32);
      if (op === OPCODES.creditAccount) b.storeUint(r.big(64), 64);
      b.storeCoins(coins(r));
      c = b.storeUint(r.big(32), 32).endCell();
      break;
    }
    case 8:
      c = beginCell()
        .storeUint(r.pick(Object.values(VAULT_OPCODES)), 32)
        .storeUint(r.big(256), 256)
        .endCell();
      break;
    default: {
      const b = beginCell();
      const n = r.int(700);
      for (let k = 0; k < n; k += 50) b.storeUint(r.big(Math.min(50, n - k)), Math.min(50, n - k));
      if (r.bool())
        b.storeRef(
          beginCell()
            .storeBuffer(r.bytes(r.int(70)))
            .endCell(),
        );
      return b.endCell();
    }
  }
  // sometimes cut short or lengthened: the loaders must refuse or read as Tact's do
  const k = r.int(4);
  if (k === 0) {
    const s = c.beginParse();
    return beginCell()
      .storeBits(s.loadBits(r.int(c.bits.length + 1)))
      .endCell();
  }
  if (k === 1) return beginCell().storeSlice(c.beginParse()).storeBit(r.bool()).endCell();
  return c;
}

// ---------------------------------------------------------------- the loaders

describe("issue 12: the vault's message loaders against the Tact-generated ones", () => {
  it("5,000 random bodies: each loader reads what Tact's reads (or refuses what it refuses), over @ton/core's slices and over ton-boc.ts's", () => {
    const r = rng(51);
    const pairs: Array<[(s: SliceLike) => unknown, (c: CoreCell) => unknown]> = [
      [loadWithdraw, (c) => tactWithdraw(c.beginParse())],
      [loadDebitApproved, (c) => tactDebitApproved(c.beginParse())],
      // ours name the payee in hex and the address paid `worker` (the watcher's VaultTx fields)
      [
        loadRedeem,
        (c) => {
          const { payee, to, ...rest } = tactRedeem(c.beginParse());
          return { payee: payee.toString(16).padStart(64, "0"), worker: to, ...rest };
        },
      ],
      [
        loadClaimApproved,
        (c) => {
          const { $$type, due, cumulative, payee, to } = tactClaimApproved(c.beginParse());
          return { $$type, due, cumulative, payee: payee.toString(16).padStart(64, "0"), worker: to };
        },
      ],
    ];
    let read = 0;
    for (let i = 0; i < 5000; i++) {
      // Prepare
      const body = vaultBody(r);
      const l = lean(body);
      for (const [ours, tact] of pairs) {
        // Act
        const expected = attempt(() => {
          const { $$type: _t, signature: _s, ...fields } = tact(body) as Record<string, unknown>;
          return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v instanceof Address ? v.toRawString() : v]));
        });
        const overCore = throws(() => ours(body.beginParse())) ? null : ours(body.beginParse());
        const overLean = throws(() => ours(l.beginParse())) ? null : ours(l.beginParse());
        // Assess
        expect(json(overCore), body.toBoc().toString("hex")).toBe(json(expected));
        expect(json(overLean)).toBe(json(expected));
        if (expected) read++;
      }
      expect(json(parseDepositCredited(l))).toBe(json(coreParseDepositCredited(body)));
      expect(json(parseDepositCredited(body))).toBe(json(coreParseDepositCredited(body)));
    }
    expect(read).toBeGreaterThan(1000);
  });
});

// ---------------------------------------------------------------- transactions

/** The fields of a transaction the watcher's code reads, from either library's object. */
function view(t: CoreTransaction | ReturnType<typeof loadTransaction>) {
  const d = t.description;
  const msg = (m: CoreMessage | ReturnType<typeof loadTransaction>["inMessage"] | null) => {
    if (!m) return null;
    const i = m.info;
    const a = (x: { toRawString(): string } | null | undefined) => x?.toRawString() ?? null;
    const ext = (x: { bits: number; value: bigint } | null | undefined) => (x ? `${x.bits}:${x.value}` : null);
    const info =
      i.type === "internal"
        ? [i.type, i.ihrDisabled, i.bounce, i.bounced, a(i.src), a(i.dest), i.value.coins, i.ihrFee, i.forwardFee, i.createdLt, i.createdAt]
        : i.type === "external-in"
          ? [i.type, ext(i.src), a(i.dest), i.importFee]
          : [i.type, a(i.src), ext(i.dest), i.createdLt, i.createdAt];
    return { info, body: m.body.hash().toString("hex") };
  };
  return {
    address: t.address,
    lt: t.lt,
    prevTransactionHash: t.prevTransactionHash,
    prevTransactionLt: t.prevTransactionLt,
    now: t.now,
    hash: t.hash().toString("hex"),
    outMessagesCount: t.outMessagesCount,
    description:
      d.type === "generic"
        ? {
            type: d.type,
            aborted: d.aborted,
            compute: d.computePhase.type === "vm" ? [d.computePhase.success, d.computePhase.exitCode] : "skipped",
          }
        : { type: d.type },
    inMessage: msg(t.inMessage),
    outMessages: [...t.outMessages.values()].map(msg),
  };
}

function expectSameTransaction(core: CoreTransaction): string {
  const l = loadTransaction(lean(core.raw));
  expect(json(view(l))).toBe(json(view(core)));
  const vtx = normalizeVaultTx(core);
  expect(json(normalizeVaultTx(l))).toBe(json(vtx));
  return vtx.kind;
}

/** A random message of each kind, with or without a StateInit (inline or by reference), its body a vault body. */
function message(r: Rng): CoreMessage {
  const body = vaultBody(r);
  const init =
    r.int(6) === 0
      ? {
          code: beginCell().storeUint(r.big(30), 30).endCell(),
          data: r.bool() ? beginCell().storeBit(1).endCell() : null,
          splitDepth: r.bool() ? r.int(32) : undefined,
        }
      : null;
  const ext = () => (r.int(3) === 0 ? null : new ExternalAddress(r.big(64), 64));
  const k = r.int(5);
  const info: CoreMessage["info"] =
    k < 3
      ? {
          type: "internal",
          ihrDisabled: r.bool(),
          bounce: r.bool(),
          bounced: k === 0,
          src: addr(r),
          dest: addr(r),
          value: { coins: coins(r) },
          ihrFee: r.int(3) === 0 ? coins(r) : 0n,
          forwardFee: coins(r),
          createdLt: r.big(64),
          createdAt: r.int(2 ** 32),
        }
      : k === 3
        ? { type: "external-in", src: ext(), dest: addr(r), importFee: coins(r) }
        : { type: "external-out", src: addr(r), dest: ext(), createdLt: r.big(64), createdAt: r.int(2 ** 32) };
  return { info, init, body };
}

/** A random transaction as @ton/core writes one: a generic description with random phases, or another kind. */
function transaction(r: Rng): CoreCell {
  const outMessages = Dictionary.empty(Dictionary.Keys.Uint(15), {
    serialize: (m: CoreMessage, b) => void b.storeRef(beginCell().store(storeMessage(m))),
    parse: () => {
      throw new Error("unused");
    },
  });
  const n = r.int(4);
  for (let i = 0; i < n; i++) outMessages.set(i, message(r));
  const vm = () =>
    ({
      type: "vm",
      success: r.bool(),
      messageStateUsed: r.bool(),
      accountActivated: r.bool(),
      gasFees: coins(r),
      gasUsed: r.big(20),
      gasLimit: r.big(20),
      gasCredit: r.bool() ? r.big(10) : undefined,
      mode: r.int(256),
      exitCode: r.int(2 ** 32) - 2 ** 31,
      exitArg: r.bool() ? r.int(2 ** 32) - 2 ** 31 : undefined,
      vmSteps: r.int(2 ** 32),
      vmInitStateHash: r.big(256),
      vmFinalStateHash: r.big(256),
    }) as const;
  const generic: TransactionDescriptionGeneric = {
    type: "generic",
    creditFirst: r.bool(),
    storagePhase: r.bool()
      ? {
          storageFeesCollected: coins(r),
          storageFeesDue: r.bool() ? coins(r) : undefined,
          statusChange: r.pick(["unchanged", "frozen", "deleted"] as const),
        }
      : undefined,
    creditPhase: r.bool() ? { dueFeesColelcted: r.bool() ? coins(r) : undefined, credit: { coins: coins(r) } } : undefined,
    computePhase: r.bool() ? vm() : { type: "skipped", reason: r.pick(["no-state", "bad-state", "no-gas"] as const) },
    actionPhase: undefined,
    aborted: r.bool(),
    bouncePhase: undefined,
    destroyed: r.bool(),
  };
  const description: CoreTransaction["description"] =
    r.int(8) > 0
      ? generic
      : { type: "storage", storagePhase: { storageFeesCollected: coins(r), storageFeesDue: undefined, statusChange: "unchanged" } };
  const tx = {
    address: r.big(256),
    lt: r.big(64),
    prevTransactionHash: r.big(256),
    prevTransactionLt: r.big(64),
    now: r.int(2 ** 32),
    outMessagesCount: n,
    oldStatus: r.pick(["uninitialized", "frozen", "active", "non-existing"] as const),
    endStatus: r.pick(["uninitialized", "frozen", "active", "non-existing"] as const),
    inMessage: r.int(8) === 0 ? undefined : message(r),
    outMessages,
    totalFees: { coins: coins(r) },
    stateUpdate: { oldHash: r.bytes(32), newHash: r.bytes(32) },
    description,
  } as unknown as CoreTransaction;
  return beginCell().store(storeTransaction(tx)).endCell();
}

describe("issue 12: transactions without @ton/core", () => {
  it("3,000 random transactions (every message kind, inits inline and by reference, vault bodies, generic descriptions with random phases, storage ones): the same fields and the same VaultTx as from @ton/core's", () => {
    const r = rng(61);
    const kinds = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      // Prepare
      const cell = transaction(r);
      // Act
      const core = coreLoadTransaction(cell.beginParse());
      // Assess
      kinds.add(expectSameTransaction(core));
    }
    // every reading of the vault's was reached (admin, topup, deposit, withdraw, redeem, their routed/refused/refund forms, bounce, unknown)
    expect(kinds.size).toBeGreaterThanOrEqual(12);
  });

  it("an inbound message whose body is an exotic cell (a library cell) is not a credit on either path, instead of throwing and stalling the watcher", () => {
    // Prepare: anyone can send the vault such a body, and no slice reads an exotic cell
    const r = rng(63);
    const library = beginCell().storeUint(2, 8).storeBuffer(Buffer.alloc(32, 7)).endCell({ exotic: true });
    const cell = transaction(r);
    for (const bounced of [false, true]) {
      const info = { type: "internal" as const, src: addr(r), value: { coins: 1_000_000n }, bounced };
      const core = { ...coreLoadTransaction(cell.beginParse()), inMessage: { info, body: library } } as unknown as CoreTransaction;
      const leanTx = { ...loadTransaction(lean(cell)), inMessage: { info, body: lean(library) } };
      // Act
      const kinds = [normalizeVaultTx(core), normalizeVaultTx(leanTx as unknown as typeof core)].map((t) => t.kind);
      // Assess
      expect(kinds).toEqual(bounced ? ["bounce", "bounce"] : ["unknown", "unknown"]);
    }
  });

  it("every transaction of a sandbox run of the vault (deposits, withdrawals, redemptions and their replays, top-ups, bounces, refunds, junk): the same fields and VaultTx", async () => {
    // Prepare
    const r = rng(62);
    const chain = await startLocalChain({ now: 1_750_000_000 });
    const requester = keyPairFromSeed(Buffer.alloc(32, 3)).publicKey.toString("base64url");
    const worker = await chain.wallet("worker");
    const stranger = await chain.wallet("stranger");
    await chain.deposit(requester, 5n);
    await chain.depositNano(requester, toNano("1"), { comment: true });
    await chain.depositNano(requester, toNano("0.01")); // too small: refused
    const wd = await chain.signWithdrawal(requester, chain.requesterWallet.address, toNano("2"));
    await chain.withdraw(chain.requesterWallet, wd);
    await chain.withdraw(chain.requesterWallet, wd);
    const v = chain.signVoucher(worker.address, toNano("1"));
    await chain.redeem(worker, v);
    await chain.redeem(worker, v);
    await chain.vault.sendTopUp(chain.owner.getSender(), toNano("1"));
    await chain.vault.sendTopUp(stranger.getSender(), toNano("1"));
    await chain.vault.sendTopUp(stranger.getSender(), toNano("1"), { bounce: false });
    for (let i = 0; i < 30; i++) {
      await stranger.send({ to: chain.vaultAddress, value: toNano("0.2"), bounce: r.bool(), body: vaultBody(r) });
    }
    const all = (chain.blockchain as unknown as { transactions: CoreTransaction[] }).transactions;

    // Act / Assess
    expect(all.length).toBeGreaterThan(60);
    const kinds = new Set(all.map((t) => expectSameTransaction(coreLoadTransaction(t.raw.beginParse()))));
    expect(kinds.size).toBeGreaterThanOrEqual(8);
  });
});
