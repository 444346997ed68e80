/**
 * The edges of ton-tx.ts that the sandbox transactions of ton-vault-tx.test.ts never reach, each
 * cell written here with @ton/core's store* functions (or bit by bit where @ton/core would not
 * write it) and read by both parsers: messages of each kind with and without a StateInit
 * (inline, by reference, with tick-tock), extra currencies (non-empty dictionaries, and one whose
 * value is cut short), every transaction description type, the compute phase skipped for each
 * reason (and the reason that does not exist), the VM state with and without exit_arg (and cut
 * short by one bit), and the transaction-level refusals (tag, trailing data in the messages
 * cell, a missing action phase reference).
 *
 * Where @ton/core reads a cell, ours must read the same fields; where it refuses, ours must
 * refuse too (with @ton/core's message where ton-tx.ts writes its own).
 */
import { describe, expect, it } from "vitest";
import {
  Address,
  beginCell,
  type Builder,
  type Cell as CoreCell,
  type CommonMessageInfo as CoreInfo,
  Dictionary,
  ExternalAddress as CoreExternalAddress,
  loadCommonMessageInfo as coreLoadCommonMessageInfo,
  loadMessage as coreLoadMessage,
  loadTransaction as coreLoadTransaction,
  loadTransactionDescription as coreLoadTransactionDescription,
  type Message as CoreMessage,
  type StateInit,
  storeAccountStatus,
  storeCommonMessageInfo,
  storeMessage,
  storeTransaction,
  storeTransactionDescription,
  type Transaction as CoreTransaction,
  type TransactionComputePhase,
  type TransactionDescription as CoreDescription,
} from "@ton/core";
import { type ExternalAddress, parseBoc, StdAddress } from "./ton-boc";
import {
  type CommonMessageInfo,
  loadCommonMessageInfo,
  loadMessage,
  loadTransaction,
  loadTransactionDescription,
  type Message,
} from "./ton-tx";

// ---------------------------------------------------------------- factories

/** a @ton/core cell as ton-boc.ts's Cell (through its BOC) */
const lean = (c: CoreCell) => parseBoc(c.toBoc())[0]!;
const addr = (n: number, wc = 0) => new Address(wc, Buffer.alloc(32, n));
const ext = (value: bigint, bits: number) => new CoreExternalAddress(value, bits);
const hex = (c: { hash(): Buffer }) => c.hash().toString("hex");

/** extra currencies: a non-empty HashmapE 32 of VarUInteger 32 */
function extra(
  entries: [number, bigint][] = [
    [7, 1_000n],
    [0xffff_fff0, 123_456_789_012_345n],
  ],
) {
  const d = Dictionary.empty(Dictionary.Keys.Uint(32), Dictionary.Values.BigVarUint(5));
  for (const [k, v] of entries) d.set(k, v);
  return d;
}

/** a CurrencyCollection whose only extra currency's VarUInteger claims 5 bytes and holds 1 */
function cutExtraCurrency(b: Builder): void {
  const d = Dictionary.empty(Dictionary.Keys.Uint(32), {
    serialize: (_v: number, vb: Builder) => void vb.storeUint(5, 5).storeUint(0xab, 8),
    parse: () => 0,
  });
  d.set(1, 0);
  b.storeCoins(10n).storeDict(d);
}

const internal = (over: Partial<Extract<CoreInfo, { type: "internal" }>> = {}): CoreInfo => ({
  type: "internal",
  ihrDisabled: true,
  bounce: true,
  bounced: false,
  src: addr(1),
  dest: addr(2, -1),
  value: { coins: 5_000_000_000n },
  ihrFee: 0n,
  forwardFee: 1_234n,
  createdLt: 77_000_001n,
  createdAt: 1_750_000_000,
  ...over,
});
const externalIn = (src: CoreExternalAddress | null): CoreInfo => ({ type: "external-in", src, dest: addr(3), importFee: 42n });
const externalOut = (dest: CoreExternalAddress | null): CoreInfo => ({
  type: "external-out",
  src: addr(4),
  dest,
  createdLt: 88_000_002n,
  createdAt: 1_750_000_001,
});

const BODY = beginCell().storeUint(0x12345678, 32).storeUint(99, 64).endCell();
const message = (info: CoreInfo, init?: StateInit, body: CoreCell = BODY): CoreMessage => ({ info, init, body });
const messageCell = (m: CoreMessage, forceRef = false) => beginCell().store(storeMessage(m, { forceRef })).endCell();

/** a StateInit with every field @ton/core writes: split depth, tick-tock, code, data (no libraries) */
const fullInit = (): StateInit => ({
  splitDepth: 3,
  special: { tick: false, tock: true },
  code: beginCell().storeUint(0xc0de, 16).endCell(),
  data: beginCell().storeUint(0xda7a, 16).endCell(),
});

const vm = (over: Partial<Extract<TransactionComputePhase, { type: "vm" }>> = {}): TransactionComputePhase => ({
  type: "vm",
  success: true,
  messageStateUsed: false,
  accountActivated: false,
  gasFees: 3_000_000n,
  gasUsed: 4_321n,
  gasLimit: 1_000_000n,
  gasCredit: undefined,
  mode: 0,
  exitCode: 0,
  exitArg: undefined,
  vmSteps: 77,
  vmInitStateHash: 1n,
  vmFinalStateHash: 2n,
  ...over,
});
const storage = { storageFeesCollected: 11n, storageFeesDue: 5n, statusChange: "frozen" as const };
const generic = (
  computePhase: TransactionComputePhase,
  over: Partial<Extract<CoreDescription, { type: "generic" }>> = {},
): CoreDescription => ({
  type: "generic",
  creditFirst: false,
  storagePhase: storage,
  creditPhase: { dueFeesColelcted: 3n, credit: { coins: 9n, other: extra() } },
  computePhase,
  actionPhase: undefined,
  bouncePhase: undefined,
  aborted: true,
  destroyed: false,
  ...over,
});
const splitInfo = { currentShardPrefixLength: 2, accountSplitDepth: 4, thisAddress: 5n, siblingAddress: 6n };

function outMessagesDict(msgs: [number, CoreMessage][]) {
  const d = Dictionary.empty(Dictionary.Keys.Uint(15), {
    serialize: (m: CoreMessage, b: Builder) => void b.storeRef(beginCell().store(storeMessage(m))),
    parse: (): CoreMessage => {
      throw new Error("unused");
    },
  });
  for (const [k, m] of msgs) d.set(k, m);
  return d;
}

/** a transaction as @ton/core's storeTransaction writes it */
function transaction(over: Partial<CoreTransaction> = {}): CoreTransaction {
  return {
    address: 0xabcdn,
    lt: 55_000_000n,
    prevTransactionHash: 0x99n,
    prevTransactionLt: 54_000_000n,
    now: 1_750_000_123,
    outMessagesCount: 0,
    oldStatus: "active",
    endStatus: "active",
    inMessage: undefined,
    outMessages: outMessagesDict([]),
    totalFees: { coins: 1_000n },
    stateUpdate: { oldHash: Buffer.alloc(32, 1), newHash: Buffer.alloc(32, 2) },
    description: generic(vm()),
    ...over,
  } as CoreTransaction;
}
const txCell = (tx: CoreTransaction) => beginCell().store(storeTransaction(tx)).endCell();

/** a transaction written field by field, where the parts may be ones @ton/core would not write */
function rawTxCell(o: { tag?: number; msgs?: CoreCell; fees?: (b: Builder) => void; description: CoreCell }): CoreCell {
  return beginCell()
    .storeUint(o.tag ?? 0x07, 4)
    .storeUint(0xabcdn, 256)
    .storeUint(55_000_000n, 64)
    .storeUint(0n, 256)
    .storeUint(0n, 64)
    .storeUint(1_750_000_123, 32)
    .storeUint(0, 15)
    .store(storeAccountStatus("active"))
    .store(storeAccountStatus("active"))
    .storeRef(o.msgs ?? beginCell().storeBit(0).storeBit(0).endCell())
    .store(o.fees ?? ((b) => void b.storeCoins(1_000n).storeBit(0)))
    .storeRef(beginCell().storeUint(0x72, 8).storeBuffer(Buffer.alloc(64)).endCell())
    .storeRef(o.description)
    .endCell();
}
const descriptionCell = (d: CoreDescription) => beginCell().store(storeTransactionDescription(d)).endCell();

/**
 * A generic description whose compute phase ran the VM, written bit by bit with `vmState` as its
 * VM state cell and `action` as the action-phase flag (with or without the reference).
 */
function genericWithVmState(vmState: CoreCell, action: "none" | "flag-only" = "none"): CoreCell {
  const b = beginCell().storeUint(0, 4).storeBit(0).storeBit(0).storeBit(0); // generic, creditFirst, no storage, no credit
  b.storeBit(1).storeBit(1).storeBit(0).storeBit(0).storeCoins(100n).storeRef(vmState); // vm: success, gas fees, state
  b.storeBit(action === "flag-only" ? 1 : 0); // action phase flag, never its reference
  return b.storeBit(0).storeBit(0).storeBit(0).endCell(); // aborted, no bounce, not destroyed
}

/** a VM state as @ton/core writes it (exit_arg present or not), less its last `cut` bits */
function vmState(exitArg: number | undefined, cut = 0): CoreCell {
  const full = beginCell()
    .storeVarUint(4_321n, 3)
    .storeVarUint(1_000_000n, 3)
    .storeBit(1)
    .storeVarUint(10_000n, 2)
    .storeUint(0, 8)
    .storeInt(-14, 32)
    .store((b) => void (exitArg === undefined ? b.storeBit(0) : b.storeBit(1).storeInt(exitArg, 32)))
    .storeUint(77, 32)
    .storeUint(1n, 256)
    .storeUint(2n, 256)
    .endCell();
  const s = full.beginParse();
  return beginCell()
    .storeBits(s.loadBits(full.bits.length - cut))
    .endCell();
}

// ---------------------------------------------------------------- views (the fields ton-tx.ts reads, in one shape)

const addrView = (a: Address | CoreExternalAddress | StdAddress | ExternalAddress | null | undefined) =>
  a == null ? null : a instanceof Address || a instanceof StdAddress ? a.toRawString() : { value: a.value, bits: a.bits };

function infoView(info: CoreInfo | CommonMessageInfo) {
  const out: Record<string, unknown> = { ...info, src: addrView(info.src), dest: addrView(info.dest) };
  if (info.type === "internal") out.value = info.value.coins;
  return out;
}
const coreMessageView = (m: CoreMessage) => ({ info: infoView(m.info), hasInit: m.init != null, body: hex(m.body) });
const messageView = (m: Message) => ({ info: infoView(m.info), hasInit: m.hasInit, body: hex(m.body) });

function coreDescriptionView(d: CoreDescription) {
  if (d.type !== "generic") return { type: d.type };
  const c = d.computePhase;
  return {
    type: d.type,
    creditFirst: d.creditFirst,
    computePhase: c.type === "skipped" ? { type: c.type } : { type: c.type, success: c.success, exitCode: c.exitCode },
    aborted: d.aborted,
  };
}

/** ours reads the transaction `cell` as @ton/core reads it */
function sameTransactionAsCore(cell: CoreCell) {
  const core = coreLoadTransaction(cell.beginParse());
  const ours = loadTransaction(lean(cell));
  expect({
    address: ours.address,
    lt: ours.lt,
    prevTransactionHash: ours.prevTransactionHash,
    prevTransactionLt: ours.prevTransactionLt,
    now: ours.now,
    outMessagesCount: ours.outMessagesCount,
    inMessage: ours.inMessage && messageView(ours.inMessage),
    outMessages: [...ours.outMessages].map(([k, m]) => [k, messageView(m)]),
    description: ours.description,
    hash: ours.hash().toString("hex"),
  }).toEqual({
    address: core.address,
    lt: core.lt,
    prevTransactionHash: core.prevTransactionHash,
    prevTransactionLt: core.prevTransactionLt,
    now: core.now,
    outMessagesCount: core.outMessagesCount,
    inMessage: core.inMessage && coreMessageView(core.inMessage),
    outMessages: [...core.outMessages].map(([k, m]) => [BigInt(k), coreMessageView(m)]),
    description: coreDescriptionView(core.description),
    hash: core.hash().toString("hex"),
  });
  return ours;
}

/** ours reads the message `cell` as @ton/core reads it */
function sameMessageAsCore(cell: CoreCell) {
  const core = coreLoadMessage(cell.beginParse());
  const ours = loadMessage(lean(cell).beginParse());
  expect(messageView(ours)).toEqual(coreMessageView(core));
  return ours;
}

/** ours reads the description `cell` as @ton/core reads it */
function sameDescriptionAsCore(cell: CoreCell) {
  const ours = loadTransactionDescription(lean(cell).beginParse());
  expect(ours).toEqual(coreDescriptionView(coreLoadTransactionDescription(cell.beginParse())));
  return ours;
}

/** @ton/core's reader refuses, and ours refuses too (both with `message` where given) */
function bothRefuse(core: () => unknown, ours: () => unknown, message?: string) {
  expect(core).toThrow(message);
  expect(ours).toThrow(message);
}
const refusedTransaction = (cell: CoreCell, message?: string) =>
  bothRefuse(
    () => coreLoadTransaction(cell.beginParse()),
    () => loadTransaction(lean(cell)),
    message,
  );
const refusedDescription = (cell: CoreCell, message?: string) =>
  bothRefuse(
    () => coreLoadTransactionDescription(cell.beginParse()),
    () => loadTransactionDescription(lean(cell).beginParse()),
    message,
  );

// ---------------------------------------------------------------- messages

describe("messages as @ton/core reads them", () => {
  it.each([
    ["internal, bounceable", internal()],
    ["internal, bounced, IHR enabled", internal({ ihrDisabled: false, bounce: false, bounced: true, ihrFee: 17n })],
    ["internal, with extra currencies", internal({ value: { coins: 1n, other: extra() } })],
    ["external-in from none", externalIn(null)],
    ["external-in from an addr_extern", externalIn(ext(0x2an, 7))],
    ["external-out to none", externalOut(null)],
    ["external-out to an addr_extern", externalOut(ext(0xbeefn, 16))],
  ])("%s, without a StateInit", (_name, info) => {
    // Prepare
    const cell = messageCell(message(info));

    // Act
    const ours = sameMessageAsCore(cell);

    // Assess
    expect(ours.hasInit).toBe(false);
    expect(ours.info.type).toBe(info.type);
  });

  it.each([
    ["inline", false],
    ["by reference", true],
  ])("with a full StateInit (split depth, tick-tock, code, data) %s: hasInit, and the body after it", (_name, forceRef) => {
    // Prepare
    const m = message(internal(), fullInit(), beginCell().storeUint(0xfeed, 16).endCell());
    const cell = messageCell(m, forceRef);

    // Act
    const ours = sameMessageAsCore(cell);

    // Assess
    expect(ours.hasInit).toBe(true);
    expect(hex(ours.body)).toBe(hex(m.body));
  });

  it("with an inline StateInit of tick-tock only (no split depth): the 2 tick-tock bits are read past", () => {
    // Prepare: special with tick = tock = 0, then code and data: were the 2 bits not read past, the flags and refs would shift
    const init: StateInit = {
      special: { tick: false, tock: false },
      code: beginCell().storeUint(1, 8).endCell(),
      data: beginCell().storeUint(2, 8).endCell(),
    };
    const body = beginCell().storeUint(0x0b0d, 16).endCell();
    const cell = messageCell(message(externalIn(null), init, body));

    // Act
    const ours = sameMessageAsCore(cell);

    // Assess
    expect(ours.hasInit).toBe(true);
    expect(hex(ours.body)).toBe(hex(body));
  });

  it("an internal message's extra currencies are read past, and the fees after them read", () => {
    // Prepare
    const cell = beginCell()
      .store(storeCommonMessageInfo(internal({ value: { coins: 2n, other: extra() }, ihrFee: 5n, forwardFee: 6n })))
      .endCell();

    // Act
    const ours = loadCommonMessageInfo(lean(cell).beginParse());

    // Assess
    expect(infoView(ours)).toEqual(infoView(coreLoadCommonMessageInfo(cell.beginParse())));
    expect(ours).toMatchObject({ value: { coins: 2n }, ihrFee: 5n, forwardFee: 6n });
  });

  it("an extra currency whose amount is cut short is refused, as @ton/core refuses it", () => {
    // Prepare: the internal header, then the value with a VarUInteger that claims 5 bytes and holds 1
    const cell = beginCell()
      .storeUint(0b0100, 4)
      .storeAddress(addr(1))
      .storeAddress(addr(2))
      .store(cutExtraCurrency)
      .storeCoins(0n)
      .storeCoins(0n)
      .storeUint(0, 96)
      .endCell();

    // Act / Assess
    bothRefuse(
      () => coreLoadCommonMessageInfo(cell.beginParse()),
      () => loadCommonMessageInfo(lean(cell).beginParse()),
    );
  });
});

// ---------------------------------------------------------------- descriptions

describe("transaction descriptions as @ton/core reads them", () => {
  it.each([
    ["no-state", "no-state"],
    ["bad-state", "bad-state"],
    ["no-gas", "no-gas"],
  ] as const)("generic, compute phase skipped (%s)", (_name, reason) => {
    // Prepare
    const cell = descriptionCell(generic({ type: "skipped", reason }, { aborted: true }));

    // Act
    const ours = sameDescriptionAsCore(cell);

    // Assess
    expect(ours).toEqual({ type: "generic", creditFirst: false, computePhase: { type: "skipped" }, aborted: true });
  });

  it("generic, compute phase skipped for reason 3 (cskip_* has no such tag) is refused with @ton/core's message", () => {
    // Prepare: generic, creditFirst 0, no storage, no credit, compute skipped $0 with reason 0b11
    const cell = beginCell().storeUint(0, 4).storeUint(0, 3).storeBit(0).storeUint(3, 2).storeUint(0, 4).endCell();

    // Act / Assess
    refusedDescription(cell, "Unknown ComputeSkipReason: 3");
  });

  it.each([
    ["without exit_arg", undefined],
    ["with exit_arg", -5],
  ])("generic, VM phase %s", (_name, exitArg) => {
    // Prepare
    const cell = descriptionCell(
      generic(vm({ success: false, exitCode: 37, exitArg, gasCredit: 10_000n }), { creditFirst: true, aborted: false }),
    );

    // Act
    const ours = sameDescriptionAsCore(cell);

    // Assess
    expect(ours).toEqual({
      type: "generic",
      creditFirst: true,
      computePhase: { type: "vm", success: false, exitCode: 37 },
      aborted: false,
    });
  });

  it.each([
    ["without exit_arg", undefined],
    ["with exit_arg", 123_456],
  ])("a whole VM state %s, written bit by bit, is read", (_name, exitArg) => {
    // Prepare
    const cell = genericWithVmState(vmState(exitArg));

    // Act
    const ours = sameDescriptionAsCore(cell);

    // Assess
    expect(ours).toMatchObject({ computePhase: { type: "vm", success: true, exitCode: -14 } });
  });

  it.each([
    ["without exit_arg", undefined],
    ["with exit_arg", 123_456],
  ])("a VM state %s one bit short (the final state hash cut) is refused, as @ton/core refuses it", (_name, exitArg) => {
    refusedDescription(genericWithVmState(vmState(exitArg, 1)));
  });

  it("a generic description flagging an action phase without its reference is refused, as @ton/core refuses it", () => {
    refusedDescription(genericWithVmState(vmState(undefined), "flag-only"));
  });

  it.each<[string, CoreDescription, string]>([
    ["storage", { type: "storage", storagePhase: storage }, "storage"],
    [
      "tick",
      {
        type: "tick-tock",
        isTock: false,
        storagePhase: storage,
        computePhase: vm(),
        actionPhase: undefined,
        aborted: false,
        destroyed: false,
      },
      "tick-tock",
    ],
    [
      "tock",
      {
        type: "tick-tock",
        isTock: true,
        storagePhase: storage,
        computePhase: { type: "skipped", reason: "no-gas" },
        aborted: true,
        destroyed: false,
      },
      "tick-tock",
    ],
    [
      "split-prepare",
      {
        type: "split-prepare",
        splitInfo,
        storagePhase: storage,
        computePhase: vm(),
        actionPhase: undefined,
        aborted: false,
        destroyed: false,
      },
      "split-prepare",
    ],
    ["split-install", { type: "split-install", splitInfo, prepareTransaction: transaction(), installed: true }, "split-install"],
  ])("%s", (_name, description, type) => {
    // Prepare
    const cell = descriptionCell(description);

    // Act
    const ours = sameDescriptionAsCore(cell);

    // Assess
    expect(ours).toEqual({ type });
  });

  it("the tock's tag is 3 (what the case is read from)", () => {
    // Prepare
    const cell = beginCell().storeUint(3, 4).endCell();

    // Act / Assess
    expect(loadTransactionDescription(lean(cell).beginParse())).toEqual({ type: "tick-tock" });
  });

  it.each([6, 7, 15])("type %i is refused with @ton/core's message", (type) => {
    refusedDescription(beginCell().storeUint(type, 4).storeUint(0, 64).endCell(), `Unsupported transaction description type ${type}`);
  });
});

// ---------------------------------------------------------------- transactions

describe("transactions as @ton/core reads them", () => {
  it("in and out messages of each kind, extra currencies in the fees and the credit", () => {
    // Prepare
    const tx = transaction({
      outMessagesCount: 3,
      inMessage: message(externalIn(ext(5n, 3)), fullInit()),
      outMessages: outMessagesDict([
        [0, message(internal({ value: { coins: 1n, other: extra([[1, 2n]]) } }))],
        [1, message(externalOut(null))],
        [0x7fff, message(internal({ bounce: false }), fullInit())],
      ]),
      totalFees: { coins: 777n, other: extra() },
    });

    // Act
    const ours = sameTransactionAsCore(txCell(tx));

    // Assess
    expect(ours.inMessage?.hasInit).toBe(true);
    expect([...ours.outMessages.keys()]).toEqual([0n, 1n, 0x7fffn]);
    expect(ours.description).toMatchObject({ type: "generic", computePhase: { type: "vm" } });
  });

  it("extra currencies in the total fees are read past before the state update and description references", () => {
    // Prepare
    const tx = transaction({
      totalFees: { coins: 1n, other: extra([[3, 4n]]) },
      description: generic({ type: "skipped", reason: "no-state" }),
    });

    // Act
    const ours = sameTransactionAsCore(txCell(tx));

    // Assess
    expect(ours.description).toEqual({ type: "generic", creditFirst: false, computePhase: { type: "skipped" }, aborted: true });
  });

  it("total fees with an extra currency cut short are refused, as @ton/core refuses them", () => {
    refusedTransaction(rawTxCell({ fees: cutExtraCurrency, description: descriptionCell(generic(vm())) }));
  });

  it("a tag other than 0b0111 is refused with @ton/core's message", () => {
    refusedTransaction(rawTxCell({ tag: 0x06, description: descriptionCell(generic(vm())) }), "Invalid data");
  });

  it.each([
    ["a trailing bit", beginCell().storeBit(0).storeBit(0).storeBit(1).endCell()],
    ["a trailing reference", beginCell().storeBit(0).storeBit(0).storeRef(beginCell().endCell()).endCell()],
  ])("a messages cell with %s is refused with @ton/core's message", (_name, msgs) => {
    refusedTransaction(rawTxCell({ msgs, description: descriptionCell(generic(vm())) }), "Slice is not empty");
  });

  it("the same transaction written bit by bit (the factory rawTxCell) is read", () => {
    // Prepare
    const cell = rawTxCell({ description: descriptionCell(generic(vm({ exitArg: 9 }))) });

    // Act / Assess
    sameTransactionAsCore(cell);
  });
});
