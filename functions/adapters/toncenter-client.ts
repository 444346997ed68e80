/**
 * The part of @ton/ton's TonClient the scheduled functions use (the chain watcher, the
 * anchorer), over toncenter-rpc.ts's fetch instead of axios (issue 12: TonClient's module
 * brings axios, form-data and mime-db, about 400 KB minified, into their bundles). The same
 * JSON-RPC calls and the same decoding as TonClient 15.x (its HttpApi and createProvider),
 * with @ton/core parsing what toncenter returns; toncenter-client.test.ts runs both clients
 * against one toncenter double over the TON sandbox and compares what they read and send.
 *
 *   getTransactions   the vault's history (TonClientChainReader), as BOC-parsed Transactions
 *   getContractState  state, balance and toncenter's sync time (`timestampt`, sic: ton/registry.ts)
 *   runMethod         get-methods (exit code ≠ 0 throws)
 *   provider, open    ContractProviders for the contract wrappers (registry, anchor, wallet v5r1):
 *                     getState, get, external; `internal` and `getTransactions` are not used by
 *                     any of them and throw
 */
import {
  Address,
  beginCell,
  Cell,
  external,
  loadTransaction,
  openContract,
  storeMessage,
  TupleReader,
  type Contract,
  type ContractProvider,
  type ContractState,
  type OpenedContract,
  type StateInit,
  type Transaction,
  type TupleItem,
} from "@ton/core";
import * as z from "zod";
import { toncenterCall, ToncenterError, type ToncenterEndpoint } from "./toncenter-rpc";

const AddressInformation = z.object({
  balance: z.union([z.number(), z.string()]),
  state: z.enum(["active", "uninitialized", "frozen"]),
  data: z.string(),
  code: z.string(),
  last_transaction_id: z.object({ lt: z.string(), hash: z.string() }),
  sync_utime: z.number(),
});
const Transactions = z.array(z.object({ data: z.string() }));
const GetMethod = z.object({ gas_used: z.number(), exit_code: z.number(), stack: z.array(z.unknown()) });
const Sent = z.object({ "@type": z.literal("ok") });

export interface ToncenterContractState {
  balance: bigint;
  state: "active" | "uninitialized" | "frozen";
  code: Buffer | null;
  data: Buffer | null;
  lastTransaction: { lt: string; hash: string } | null;
  /** toncenter's sync time of the answer (unix s); TonClient's spelling */
  timestampt: number;
}

export class ToncenterClient {
  constructor(private readonly ton: ToncenterEndpoint) {}

  /** TonClient.getTransactions: newest first from (lt, hash), `inclusive: false` leaving that one out. */
  async getTransactions(
    address: Address,
    opts: { limit: number; lt?: string; hash?: string; to_lt?: string; inclusive?: boolean; archival?: boolean },
  ): Promise<Transaction[]> {
    const { inclusive, ...rest } = opts;
    const skipFirst = Boolean(opts.hash && opts.lt && inclusive !== true);
    const limit = opts.limit + (skipFirst ? 1 : 0);
    const hash = opts.hash ? Buffer.from(opts.hash, "base64").toString("hex") : undefined;
    let txs = await toncenterCall(this.ton, "getTransactions", { address: address.toString(), ...rest, limit, hash }, Transactions);
    if (txs.length > limit) txs = txs.slice(0, limit);
    if (skipFirst) txs = txs.slice(1);
    return txs.map((t) => loadTransaction(Cell.fromBoc(Buffer.from(t.data, "base64"))[0]!.beginParse()));
  }

  async getContractState(address: Address): Promise<ToncenterContractState> {
    const info = await toncenterCall(this.ton, "getAddressInformation", { address: address.toString() }, AddressInformation);
    return {
      balance: BigInt(info.balance),
      state: info.state,
      code: info.code !== "" ? Buffer.from(info.code, "base64") : null,
      data: info.data !== "" ? Buffer.from(info.data, "base64") : null,
      lastTransaction: info.last_transaction_id.lt !== "0" ? info.last_transaction_id : null,
      timestampt: info.sync_utime,
    };
  }

  async getBalance(address: Address): Promise<bigint> {
    return (await this.getContractState(address)).balance;
  }

  /** toncenter runGetMethod; throws when the get-method exits non-zero (as TonClient.runMethod). */
  async runMethod(address: Address, name: string, stack: TupleItem[] = []): Promise<{ gas_used: number; stack: TupleReader }> {
    const r = await toncenterCall(
      this.ton,
      "runGetMethod",
      { address: address.toString(), method: name, stack: serializeStack(stack) },
      GetMethod,
    );
    if (r.exit_code !== 0) throw new ToncenterError(`Unable to execute get method. Got exit_code: ${r.exit_code}`);
    return { gas_used: r.gas_used, stack: new TupleReader(r.stack.map(parseStackItem)) };
  }

  async sendFile(boc: Buffer): Promise<void> {
    await toncenterCall(this.ton, "sendBoc", { boc: boc.toString("base64") }, Sent);
  }

  provider(address: Address, init?: StateInit | null): ContractProvider {
    return createProvider(this, address, init ?? null);
  }

  open<T extends Contract>(contract: T): OpenedContract<T> {
    return openContract(contract, (a) => createProvider(this, a.address, a.init ?? null));
  }
}

function createProvider(client: ToncenterClient, address: Address, init: StateInit | null): ContractProvider {
  const unsupported = (what: string) => () => Promise.reject(new ToncenterError(`${what} is not supported by the toncenter client`));
  return {
    async getState(): Promise<ContractState> {
      const s = await client.getContractState(address);
      const last = s.lastTransaction ? { lt: BigInt(s.lastTransaction.lt), hash: Buffer.from(s.lastTransaction.hash, "base64") } : null;
      const state: ContractState["state"] =
        s.state === "active"
          ? { type: "active", code: s.code, data: s.data }
          : s.state === "uninitialized"
            ? { type: "uninit" }
            : { type: "frozen", stateHash: Buffer.alloc(0) };
      return { balance: s.balance, extracurrency: null, last, state };
    },
    async get(name, args) {
      if (typeof name !== "string") throw new ToncenterError("a get-method is called by name over toncenter");
      return { stack: (await client.runMethod(address, name, args)).stack };
    },
    async external(message) {
      // An undeployed contract's first message carries its init (a wallet's first transfer).
      const deployed = init ? (await client.getContractState(address)).state === "active" : true;
      const ext = external({ to: address, init: deployed ? null : init, body: message });
      await client.sendFile(beginCell().store(storeMessage(ext)).endCell().toBoc());
    },
    internal: unsupported("sending an internal message"),
    open: (contract) => client.open(contract),
    getTransactions: unsupported("ContractProvider.getTransactions"),
  };
}

// ---------------------------------------------------------------- toncenter's stack encoding (TonClient's)

function serializeStack(items: TupleItem[]): unknown[] {
  return items.map((s) => {
    switch (s.type) {
      case "int":
        return ["num", s.value.toString()];
      case "cell":
        return ["tvm.Cell", s.cell.toBoc().toString("base64")];
      case "slice":
        return ["tvm.Slice", s.cell.toBoc().toString("base64")];
      case "builder":
        return ["tvm.Builder", s.cell.toBoc().toString("base64")];
      default:
        throw new ToncenterError(`a ${s.type} cannot be passed to a get-method over toncenter`);
    }
  });
}

const cellOf = (b64: string): Cell => Cell.fromBoc(Buffer.from(b64, "base64"))[0]!;
const bigOf = (v: string): bigint => (v.startsWith("-") ? -BigInt(v.slice(1)) : BigInt(v));

type Entry = { "@type": string; [k: string]: unknown };

/** A nested entry of a tuple or list ("tvm.*" objects): what TonClient's parseStackEntry returns. */
function parseStackEntry(x: Entry): unknown {
  switch (x["@type"]) {
    case "tvm.list":
    case "tvm.tuple":
      return (x.elements as Entry[]).map(parseStackEntry);
    case "tvm.cell":
    case "tvm.slice":
      return cellOf(x.bytes as string);
    case "tvm.stackEntryCell":
      return parseStackEntry(x.cell as Entry);
    case "tvm.stackEntrySlice":
      return parseStackEntry(x.slice as Entry);
    case "tvm.stackEntryTuple":
      return parseStackEntry(x.tuple as Entry);
    case "tvm.stackEntryList":
      return parseStackEntry(x.list as Entry);
    case "tvm.stackEntryNumber":
      return parseStackEntry(x.number as Entry);
    case "tvm.numberDecimal":
      return BigInt(x.number as string);
    default:
      throw new ToncenterError(`unsupported stack entry ${String(x["@type"])}`);
  }
}

/** A top-level stack item (["num", "0x…"], ["cell", { bytes }], …) as TonClient's parseStackItem reads it. */
function parseStackItem(raw: unknown): TupleItem {
  const [kind, v] = raw as [string, unknown];
  switch (kind) {
    case "num":
      return { type: "int", value: bigOf(v as string) };
    case "null":
      return { type: "null" };
    case "cell":
    case "slice":
    case "builder":
      return { type: kind, cell: cellOf((v as { bytes: string }).bytes) };
    case "tuple":
    case "list": {
      const elements = (v as { elements: Entry[] }).elements;
      // TonClient's own reading, typed as it returns it (nested entries as values, not TupleItems)
      return elements.length === 0 ? { type: "null" } : ({ type: "tuple", items: elements.map(parseStackEntry) } as unknown as TupleItem);
    }
    default:
      throw new ToncenterError(`unsupported stack item type ${String(kind)}`);
  }
}
