/**
 * The rules of normalizeVaultTx (ton-vault-tx.ts), one test each, on synthetic transactions.
 *
 * ton-vault-tx.test.ts is differential (ton-tx.ts's transactions against @ton/core's, both
 * through the same normalizeVaultTx), so a wrong rule reads the same on both sides and passes
 * there. Here each transaction is written by @ton/core (storeTransaction), read by BOTH
 * loadTransaction (@ton/core's and ton-tx.ts's), and the VaultTx is asserted field by field:
 * a wrong reading of the vault's transactions credits (or misses) a requester's deposit.
 */
import { describe, expect, it } from "vitest";
import {
  Address,
  beginCell,
  Cell as CoreCell,
  Dictionary,
  loadTransaction as coreLoadTransaction,
  type Message as CoreMessage,
  storeMessage,
  storeTransaction,
  type Transaction as CoreTransaction,
  type TransactionComputePhase,
  type TransactionDescription,
} from "@ton/core";
import { storeDeposit, storeDepositCredited, storeWithdraw } from "../../contracts/build/Vault_Vault";
import type { VaultTx } from "../../core/chain/types";
import { parseBoc } from "./ton-boc";
import { loadTransaction } from "./ton-tx";
import { normalizeVaultTx, VAULT_OPCODES } from "./ton-vault-tx";

// ---------------------------------------------------------------- factories

const VAULT = new Address(0, Buffer.alloc(32, 0xaa));
const WALLET = new Address(0, Buffer.alloc(32, 0xbb)); // the account's wallet (AccountCredited comes from it)
const STRANGER = new Address(0, Buffer.alloc(32, 0xcc));
const ACCOUNT_HEX = "5e".repeat(16) + "07".repeat(16);
const ACCOUNT = BigInt("0x" + ACCOUNT_HEX);
/** The requester account id the watcher must report: base64url of the key's 32 bytes (core/chain/account.ts). */
const ACCOUNT_ID = Buffer.from(ACCOUNT_HEX, "hex").toString("base64url");
const IN_VALUE = 1_234_567_890n;
const CREDITED = 987_654_321n;

const vm = (exitCode: number): TransactionComputePhase => ({
  type: "vm",
  success: exitCode === 0,
  messageStateUsed: false,
  accountActivated: false,
  gasFees: 1_000n,
  gasUsed: 500n,
  gasLimit: 10_000n,
  gasCredit: undefined,
  mode: 0,
  exitCode,
  exitArg: undefined,
  vmSteps: 42,
  vmInitStateHash: 0n,
  vmFinalStateHash: 0n,
});
const skipped: TransactionComputePhase = { type: "skipped", reason: "no-gas" };

/** An ordinary transaction description: `aborted` and the compute phase as the case needs. */
const generic = (aborted: boolean, computePhase: TransactionComputePhase = vm(aborted ? 37 : 0)): TransactionDescription => ({
  type: "generic",
  creditFirst: true,
  storagePhase: undefined,
  creditPhase: undefined,
  computePhase,
  actionPhase: undefined,
  aborted,
  bouncePhase: undefined,
  destroyed: false,
});

/** An internal message to the vault (inbound) or from it (outbound, when `from` is the vault). */
function internal(opts: { from?: Address; to?: Address; value: bigint; body?: CoreCell; bounced?: boolean }): CoreMessage {
  return {
    info: {
      type: "internal",
      ihrDisabled: true,
      bounce: true,
      bounced: opts.bounced ?? false,
      src: opts.from ?? STRANGER,
      dest: opts.to ?? VAULT,
      value: { coins: opts.value },
      ihrFee: 0n,
      forwardFee: 0n,
      createdLt: 1_000n,
      createdAt: 1_750_000_000,
    },
    init: null,
    body: opts.body ?? CoreCell.EMPTY,
  };
}

const externalIn = (body: CoreCell): CoreMessage => ({
  info: { type: "external-in", src: null, dest: VAULT, importFee: 0n },
  init: null,
  body,
});

/**
 * A DepositCredited log as the vault emits it: Tact's emit() sends an external-out with no
 * destination (addr_none), its source filled in with the vault's address, the body by reference.
 */
function depositCreditedLog(account = ACCOUNT, amount = CREDITED): CoreMessage {
  return {
    info: { type: "external-out", src: VAULT, dest: null, createdLt: 1_001n, createdAt: 1_750_000_000 },
    init: null,
    body: beginCell()
      .store(storeDepositCredited({ $$type: "DepositCredited", account, amount }))
      .endCell(),
  };
}

/** The vault routing a deposit to the account's wallet (the first half of a deposit). */
const creditAccount = (value: bigint) =>
  internal({
    from: VAULT,
    to: WALLET,
    value,
    body: beginCell().storeUint(VAULT_OPCODES.creditAccount, 32).storeUint(7, 64).storeCoins(IN_VALUE).endCell(),
  });

/** One of the vault's transactions as @ton/core writes it. */
function vaultTransaction(opts: { description: TransactionDescription; inMessage?: CoreMessage; outMessages?: CoreMessage[] }): CoreCell {
  const outMessages = Dictionary.empty(Dictionary.Keys.Uint(15), {
    serialize: (m: CoreMessage, b) => void b.storeRef(beginCell().store(storeMessage(m))),
    parse: () => {
      throw new Error("unused");
    },
  });
  (opts.outMessages ?? []).forEach((m, i) => outMessages.set(i, m));
  const tx = {
    address: BigInt("0x" + VAULT.hash.toString("hex")),
    lt: 55_000_000n,
    prevTransactionHash: 0n,
    prevTransactionLt: 0n,
    now: 1_750_000_123,
    outMessagesCount: opts.outMessages?.length ?? 0,
    oldStatus: "active",
    endStatus: "active",
    inMessage: opts.inMessage,
    outMessages,
    totalFees: { coins: 1_000n },
    stateUpdate: { oldHash: Buffer.alloc(32, 1), newHash: Buffer.alloc(32, 2) },
    description: opts.description,
  } as unknown as CoreTransaction;
  return beginCell().store(storeTransaction(tx)).endCell();
}

/** The transaction read by @ton/core's loadTransaction and by ton-tx.ts's, each through normalizeVaultTx. */
function readBoth(cell: CoreCell): VaultTx[] {
  const core = coreLoadTransaction(cell.beginParse());
  const lean = loadTransaction(parseBoc(cell.toBoc())[0]!);
  return [normalizeVaultTx(core), normalizeVaultTx(lean)];
}

/** What every VaultTx of `cell` carries whatever its kind (hash, lt, time), plus the case's own fields. */
const expected = (cell: CoreCell, fields: Omit<VaultTx, "hash" | "lt" | "utime">): VaultTx => ({
  hash: cell.hash().toString("hex"),
  lt: "55000000",
  utime: 1_750_000_123,
  ...fields,
});

/** The fields of a non-bounced internal inbound message from `from` of IN_VALUE (common to most cases). */
const inbound = (from = STRANGER) => ({ inValue: IN_VALUE, from: from.toRawString(), bounced: false });

// ---------------------------------------------------------------- the rules

describe("normalizeVaultTx: the description (aborted, exit code)", () => {
  it("a non-generic (storage) transaction is not aborted and has no exit code", () => {
    // Prepare
    const cell = vaultTransaction({
      description: { type: "storage", storagePhase: { storageFeesCollected: 10n, storageFeesDue: undefined, statusChange: "unchanged" } },
    });
    // Act
    const txs = readBoth(cell);
    // Assess
    for (const tx of txs) {
      expect(tx).toEqual(expected(cell, { kind: "unknown", amount: 0n, inValue: 0n, outValue: 0n, aborted: false, bounced: false }));
      expect(tx.exitCode).toBeUndefined();
    }
  });

  it("a generic transaction carries its aborted flag and, for a vm compute phase, its exit code; a skipped compute phase has none", () => {
    for (const [aborted, phase, exitCode] of [
      [true, vm(37), 37],
      [false, vm(0), 0],
      [false, skipped, undefined],
      [true, skipped, undefined],
    ] as const) {
      // Prepare
      const cell = vaultTransaction({
        description: generic(aborted, phase),
        inMessage: internal({ value: IN_VALUE, body: beginCell().storeUint(0x0badc0de, 32).endCell() }),
      });
      // Act
      const txs = readBoth(cell);
      // Assess
      for (const tx of txs) {
        expect(tx).toEqual(expected(cell, { kind: "unknown", amount: IN_VALUE, outValue: 0n, aborted, exitCode, ...inbound() }));
        expect(tx.exitCode).toBe(exitCode);
      }
    }
  });
});

describe("normalizeVaultTx: only an internal inbound message is read", () => {
  it("an external-in inbound message is unknown with no amount, no inbound value and not bounced, even next to a DepositCredited log", () => {
    // Prepare: a log in the same transaction must not make an external message a credit
    const cell = vaultTransaction({
      description: generic(false),
      inMessage: externalIn(
        beginCell()
          .store(storeDeposit({ $$type: "Deposit", account: ACCOUNT }))
          .endCell(),
      ),
      outMessages: [depositCreditedLog()],
    });
    // Act
    const txs = readBoth(cell);
    // Assess
    for (const tx of txs)
      expect(tx).toEqual(
        expected(cell, { kind: "unknown", amount: 0n, inValue: 0n, outValue: 0n, aborted: false, exitCode: 0, bounced: false }),
      );
  });

  it("a transaction with no inbound message is unknown with no amount, no inbound value and not bounced", () => {
    // Prepare
    const cell = vaultTransaction({ description: generic(false), outMessages: [depositCreditedLog()] });
    // Act
    const txs = readBoth(cell);
    // Assess
    for (const tx of txs)
      expect(tx).toEqual(
        expected(cell, { kind: "unknown", amount: 0n, inValue: 0n, outValue: 0n, aborted: false, exitCode: 0, bounced: false }),
      );
  });
});

describe("issue 9 #1: a deposit is credited only from exactly one DepositCredited log in a transaction that succeeded and paid nothing out", () => {
  /** The wallet's confirmation (AccountCredited) arriving at the vault: the transaction that logs the credit. */
  const confirmation = () =>
    internal({
      from: WALLET,
      value: IN_VALUE,
      body: beginCell().storeUint(0x6b1f0c12, 32).storeUint(7, 64).storeUint(ACCOUNT, 256).storeCoins(CREDITED).endCell(),
    });

  it("issue 9 #1: one DepositCredited log in a transaction that succeeded and sent no value out is a deposit of the logged account and amount", () => {
    // Prepare: an internal out message of no value does not count as value sent out
    const cell = vaultTransaction({
      description: generic(false),
      inMessage: confirmation(),
      outMessages: [depositCreditedLog(), internal({ from: VAULT, to: STRANGER, value: 0n })],
    });
    // Act
    const txs = readBoth(cell);
    // Assess
    for (const tx of txs) {
      expect(tx).toEqual(
        expected(cell, {
          kind: "deposit",
          account: ACCOUNT_ID,
          amount: CREDITED,
          outValue: 0n,
          aborted: false,
          exitCode: 0,
          ...inbound(WALLET),
        }),
      );
    }
  });

  it("issue 9 #1: a DepositCredited log in an aborted transaction is not a deposit", () => {
    // Prepare
    const cell = vaultTransaction({ description: generic(true), inMessage: confirmation(), outMessages: [depositCreditedLog()] });
    // Act
    const txs = readBoth(cell);
    // Assess
    for (const tx of txs)
      expect(tx).toEqual(
        expected(cell, { kind: "unknown", amount: IN_VALUE, outValue: 0n, aborted: true, exitCode: 37, ...inbound(WALLET) }),
      );
  });

  it("issue 9 #1: a DepositCredited log in a transaction that sent value out is not a deposit", () => {
    // Prepare: one nanoTON out is enough
    const cell = vaultTransaction({
      description: generic(false),
      inMessage: confirmation(),
      outMessages: [depositCreditedLog(), internal({ from: VAULT, to: STRANGER, value: 1n })],
    });
    // Act
    const txs = readBoth(cell);
    // Assess
    for (const tx of txs)
      expect(tx).toEqual(
        expected(cell, { kind: "unknown", amount: IN_VALUE, outValue: 1n, aborted: false, exitCode: 0, ...inbound(WALLET) }),
      );
  });

  it("issue 9 #1: two DepositCredited logs in one transaction are not a deposit (the vault logs one credit per transaction)", () => {
    // Prepare
    const cell = vaultTransaction({
      description: generic(false),
      inMessage: confirmation(),
      outMessages: [depositCreditedLog(), depositCreditedLog(ACCOUNT, 1n)],
    });
    // Act
    const txs = readBoth(cell);
    // Assess
    for (const tx of txs)
      expect(tx).toEqual(
        expected(cell, { kind: "unknown", amount: IN_VALUE, outValue: 0n, aborted: false, exitCode: 0, ...inbound(WALLET) }),
      );
  });
});

describe("normalizeVaultTx: bodies that are not one of the vault's messages", () => {
  it("an empty body (no bits, no refs) accepted with nothing sent out is a top-up", () => {
    // Prepare
    const cell = vaultTransaction({ description: generic(false), inMessage: internal({ value: IN_VALUE }) });
    // Act
    const txs = readBoth(cell);
    // Assess
    for (const tx of txs)
      expect(tx).toEqual(expected(cell, { kind: "topup", amount: IN_VALUE, outValue: 0n, aborted: false, exitCode: 0, ...inbound() }));
  });

  it("a body with a reference but no bits is not empty: unknown, not a top-up", () => {
    // Prepare
    const body = beginCell().storeRef(beginCell().storeUint(0, 32).storeStringTail("hello").endCell()).endCell();
    const cell = vaultTransaction({ description: generic(false), inMessage: internal({ value: IN_VALUE, body }) });
    // Act
    const txs = readBoth(cell);
    // Assess
    for (const tx of txs)
      expect(tx).toEqual(expected(cell, { kind: "unknown", amount: IN_VALUE, outValue: 0n, aborted: false, exitCode: 0, ...inbound() }));
  });

  it("a body shorter than an opcode (31 bits, all zero: a cut comment prefix) is unknown, not a top-up", () => {
    // Prepare
    const cell = vaultTransaction({
      description: generic(false),
      inMessage: internal({ value: IN_VALUE, body: beginCell().storeUint(0, 31).endCell() }),
    });
    // Act
    const txs = readBoth(cell);
    // Assess
    for (const tx of txs)
      expect(tx).toEqual(expected(cell, { kind: "unknown", amount: IN_VALUE, outValue: 0n, aborted: false, exitCode: 0, ...inbound() }));
  });

  it("an unknown opcode is unknown, its amount the inbound value", () => {
    // Prepare
    const cell = vaultTransaction({
      description: generic(false),
      inMessage: internal({ value: IN_VALUE, body: beginCell().storeUint(0x12345678, 32).storeUint(ACCOUNT, 256).endCell() }),
    });
    // Act
    const txs = readBoth(cell);
    // Assess
    for (const tx of txs)
      expect(tx).toEqual(expected(cell, { kind: "unknown", amount: IN_VALUE, outValue: 0n, aborted: false, exitCode: 0, ...inbound() }));
  });

  it("a known opcode with a malformed body (a Withdraw cut short) is unknown, its amount the inbound value", () => {
    // Prepare
    const full = beginCell()
      .store(
        storeWithdraw({
          $$type: "Withdraw",
          account: ACCOUNT,
          amount: CREDITED,
          to: STRANGER,
          seqno: 1n,
          expiry: 2n,
          signature: Buffer.alloc(64, 9),
        }),
      )
      .endCell();
    const body = beginCell().storeBits(full.beginParse().loadBits(300)).endCell();
    const cell = vaultTransaction({ description: generic(false), inMessage: internal({ value: IN_VALUE, body }) });
    // Act
    const txs = readBoth(cell);
    // Assess
    for (const tx of txs)
      expect(tx).toEqual(expected(cell, { kind: "unknown", amount: IN_VALUE, outValue: 0n, aborted: false, exitCode: 0, ...inbound() }));
  });
});

describe("normalizeVaultTx: a Deposit the vault did not route", () => {
  const deposit = () =>
    internal({
      value: IN_VALUE,
      body: beginCell()
        .store(storeDeposit({ $$type: "Deposit", account: ACCOUNT }))
        .endCell(),
    });

  it("a Deposit routed to the account's wallet (CreditAccount sent, not aborted) is deposit-routed of the inbound value, not a deposit", () => {
    // Prepare
    const cell = vaultTransaction({ description: generic(false), inMessage: deposit(), outMessages: [creditAccount(50_000_000n)] });
    // Act
    const txs = readBoth(cell);
    // Assess
    for (const tx of txs)
      expect(tx).toEqual(
        expected(cell, { kind: "deposit-routed", amount: IN_VALUE, outValue: 50_000_000n, aborted: false, exitCode: 0, ...inbound() }),
      );
  });

  it("a Deposit in an aborted transaction (refused: too small) is a bounce of the inbound value, even with a CreditAccount among its out messages", () => {
    for (const outMessages of [[], [creditAccount(50_000_000n)]]) {
      // Prepare
      const cell = vaultTransaction({ description: generic(true), inMessage: deposit(), outMessages });
      // Act
      const txs = readBoth(cell);
      // Assess
      const outValue = outMessages.length ? 50_000_000n : 0n;
      for (const tx of txs)
        expect(tx).toEqual(expected(cell, { kind: "bounce", amount: IN_VALUE, outValue, aborted: true, exitCode: 37, ...inbound() }));
    }
  });

  it("a Deposit accepted but not routed (no CreditAccount sent) is unknown, its amount the inbound value", () => {
    // Prepare
    const cell = vaultTransaction({ description: generic(false), inMessage: deposit() });
    // Act
    const txs = readBoth(cell);
    // Assess
    for (const tx of txs)
      expect(tx).toEqual(expected(cell, { kind: "unknown", amount: IN_VALUE, outValue: 0n, aborted: false, exitCode: 0, ...inbound() }));
  });
});
