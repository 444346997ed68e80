/**
 * Transactions and messages read from cells without @ton/core (issue 12): the part of @ton/core's
 * loadTransaction and loadMessage (types/Transaction.ts, TransactionDescription.ts,
 * CommonMessageInfo.ts, Message.ts) that the chain watcher reads from toncenter's BOCs, in the
 * same shapes (a subset of their fields, under the same names), so that
 * ton-vault-tx.ts normalizeVaultTx reads either. ton-tx.test.ts checks them against @ton/core on
 * real sandbox transactions and on many random messages.
 *
 * Read in full: the transaction's header, its messages (info, init skipped over, body) and
 * the description up to `aborted` (storage, credit and compute phases). Skipped by reference:
 * the state update and the action phase, which nothing here reads (@ton/core parses them, so a
 * malformed action phase it refuses is accepted here).
 */
import { type Cell, type ExternalAddress, loadDict, type Slice, type StdAddress } from "./ton-boc";

export interface CurrencyCollection {
  coins: bigint;
}

export type CommonMessageInfo =
  | {
      type: "internal";
      ihrDisabled: boolean;
      bounce: boolean;
      bounced: boolean;
      src: StdAddress;
      dest: StdAddress;
      value: CurrencyCollection;
      ihrFee: bigint;
      forwardFee: bigint;
      createdLt: bigint;
      createdAt: number;
    }
  | { type: "external-in"; src: ExternalAddress | null; dest: StdAddress; importFee: bigint }
  | { type: "external-out"; src: StdAddress; dest: ExternalAddress | null; createdLt: bigint; createdAt: number };

export interface Message {
  info: CommonMessageInfo;
  /** whether the message carried a StateInit (not read further) */
  hasInit: boolean;
  body: Cell;
}

export type ComputePhase = { type: "skipped" } | { type: "vm"; success: boolean; exitCode: number };

export type TransactionDescription =
  | { type: "generic"; creditFirst: boolean; computePhase: ComputePhase; aborted: boolean }
  | { type: "storage" | "tick-tock" | "split-prepare" | "split-install" };

export interface Transaction {
  /** the account id */
  address: bigint;
  lt: bigint;
  /** the account's previous transaction (the chain watcher checks toncenter's pages link up by them) */
  prevTransactionHash: bigint;
  prevTransactionLt: bigint;
  now: number;
  outMessagesCount: number;
  inMessage: Message | undefined;
  /** by their 15-bit index, in @ton/core's order */
  outMessages: Map<bigint, Message>;
  description: TransactionDescription;
  raw: Cell;
  hash(): Buffer;
}

/** CurrencyCollection: grams, then the extra currencies' HashmapE (read past, as @ton/core reads it). */
function loadCurrencyCollection(s: Slice): CurrencyCollection {
  const coins = s.loadCoins();
  loadDict(s, 32, (v) => v.loadVarUintBig(5));
  return { coins };
}

export function loadCommonMessageInfo(s: Slice): CommonMessageInfo {
  if (!s.loadBit()) {
    const ihrDisabled = s.loadBit();
    const bounce = s.loadBit();
    const bounced = s.loadBit();
    const src = s.loadAddress();
    const dest = s.loadAddress();
    const value = loadCurrencyCollection(s);
    const ihrFee = s.loadCoins();
    const forwardFee = s.loadCoins();
    const createdLt = s.loadUintBig(64);
    const createdAt = s.loadUint(32);
    return { type: "internal", ihrDisabled, bounce, bounced, src, dest, value, ihrFee, forwardFee, createdLt, createdAt };
  }
  if (!s.loadBit()) {
    const src = s.loadMaybeExternalAddress();
    const dest = s.loadAddress();
    const importFee = s.loadCoins();
    return { type: "external-in", src, dest, importFee };
  }
  const src = s.loadAddress();
  const dest = s.loadMaybeExternalAddress();
  const createdLt = s.loadUintBig(64);
  const createdAt = s.loadUint(32);
  return { type: "external-out", src, dest, createdLt, createdAt };
}

/** StateInit read past: split_depth, special, code, data, library (@ton/core loadStateInit's reads). */
function skipStateInit(s: Slice): void {
  if (s.loadBit()) s.loadUint(5);
  if (s.loadBit()) s.skip(2);
  s.loadMaybeRef();
  s.loadMaybeRef();
  s.loadMaybeRef(); // the libraries' HashmapE root
}

export function loadMessage(s: Slice): Message {
  const info = loadCommonMessageInfo(s);
  let hasInit = false;
  if (s.loadBit()) {
    hasInit = true;
    if (!s.loadBit()) skipStateInit(s);
    else skipStateInit(s.loadRef().beginParse());
  }
  const body = s.loadBit() ? s.loadRef() : s.asCell();
  return { info, hasInit, body };
}

function loadStoragePhase(s: Slice): void {
  s.loadCoins();
  if (s.loadBit()) s.loadCoins();
  // AccStatusChange: acst_unchanged$0 | acst_frozen$10 | acst_deleted$11
  if (s.loadBit()) s.loadBit();
}

function loadComputePhase(s: Slice): ComputePhase {
  if (!s.loadBit()) {
    // cskip_no_state$00 | cskip_bad_state$01 | cskip_no_gas$10 (@ton/core knows no other)
    const reason = s.loadUint(2);
    if (reason === 3) throw new Error(`Unknown ComputeSkipReason: ${reason}`);
    return { type: "skipped" };
  }
  const success = s.loadBit();
  s.loadBit(); // msg_state_used
  s.loadBit(); // account_activated
  s.loadCoins(); // gas_fees
  const vm = s.loadRef().beginParse();
  vm.loadVarUintBig(3); // gas_used
  vm.loadVarUintBig(3); // gas_limit
  if (vm.loadBit()) vm.loadVarUintBig(2); // gas_credit
  vm.loadUint(8); // mode
  const exitCode = vm.loadInt(32);
  if (vm.loadBit()) vm.loadInt(32); // exit_arg
  vm.loadUint(32); // vm_steps
  vm.skip(512); // init and final state hashes
  return { type: "vm", success, exitCode };
}

export function loadTransactionDescription(s: Slice): TransactionDescription {
  const type = s.loadUint(4);
  switch (type) {
    case 0: {
      const creditFirst = s.loadBit();
      if (s.loadBit()) loadStoragePhase(s);
      if (s.loadBit()) {
        if (s.loadBit()) s.loadCoins(); // due_fees_collected
        loadCurrencyCollection(s); // credit
      }
      const computePhase = loadComputePhase(s);
      if (s.loadBit()) s.loadRef(); // action phase
      const aborted = s.loadBit();
      return { type: "generic", creditFirst, computePhase, aborted };
    }
    case 1:
      return { type: "storage" };
    case 2:
    case 3:
      return { type: "tick-tock" };
    case 4:
      return { type: "split-prepare" };
    case 5:
      return { type: "split-install" };
  }
  throw new Error(`Unsupported transaction description type ${type}`);
}

/** A transaction's root cell as @ton/core's loadTransaction reads it (the fields above). */
export function loadTransaction(raw: Cell): Transaction {
  const s = raw.beginParse();
  if (s.loadUint(4) !== 0x07) throw new Error("Invalid data");
  const address = s.loadUintBig(256);
  const lt = s.loadUintBig(64);
  const prevTransactionHash = s.loadUintBig(256);
  const prevTransactionLt = s.loadUintBig(64);
  const now = s.loadUint(32);
  const outMessagesCount = s.loadUint(15);
  s.skip(4); // orig_status, end_status: AccountStatus is two bits each
  const msgs = s.loadRef().beginParse();
  const inMessage = msgs.loadBit() ? loadMessage(msgs.loadRef().beginParse()) : undefined;
  const outMessages = loadDict(msgs, 15, (v) => loadMessage(v.loadRef().beginParse()));
  msgs.endParse();
  loadCurrencyCollection(s); // total_fees
  s.loadRef(); // state_update
  const description = loadTransactionDescription(s.loadRef().beginParse());
  return {
    address,
    lt,
    prevTransactionHash,
    prevTransactionLt,
    now,
    outMessagesCount,
    inMessage,
    outMessages,
    description,
    raw,
    hash: () => raw.hash(),
  };
}
