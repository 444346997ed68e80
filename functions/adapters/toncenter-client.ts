/**
 * The part of @ton/ton's TonClient the scheduled functions use (the chain watcher, the
 * anchorer), over toncenter-rpc.ts's fetch instead of axios, and with no TON library (issue 12:
 * TonClient's module brings axios, form-data and mime-db, about 400 KB minified, and @ton/core
 * with @ton/crypto another 270 KB, into their bundles). The same JSON-RPC calls and the same
 * decoding as TonClient 15.x (its HttpApi and parseStack), with ton-boc.ts and ton-tx.ts
 * parsing what toncenter returns; toncenter-client.test.ts runs this client and TonClient
 * against one toncenter double over the TON sandbox and compares what they read and send.
 *
 *   getTransactions   the vault's history (ton-vault-tx.ts VaultHistoryReader), as ton-tx.ts Transactions
 *   getContractState  state, balance and toncenter's sync time (`timestampt`, sic: ton-getters.ts)
 *   runMethod         get-methods (exit code ≠ 0 throws), the stack as a TupleReader
 *   sendFile          a BOC (the anchorer's external message, ton-wallet-v5.ts)
 *
 * Addresses are ton-cells.ts TonAddresses, sent as TonClient sends @ton/core's (url-safe, bounceable).
 *
 * getTransactions refuses (ToncenterAccountError) a row that is not the asked account's: its BOC's
 * account id, and the account toncenter names beside it when it names one, compared in raw form
 * (session 40: a broken or hostile endpoint must not hand the watcher another account's deposit).
 */
import * as z from "zod";
import { type Cell, parseBoc } from "./ton-boc";
import { friendlyAddress, parseTonAddress, rawAddress, type TonAddress } from "./ton-cells";
import { loadTransaction, type Transaction } from "./ton-tx";
import { toncenterCall, ToncenterError, type ToncenterEndpoint } from "./toncenter-rpc";

const AddressInformation = z.object({
  balance: z.union([z.number(), z.string()]),
  state: z.enum(["active", "uninitialized", "frozen"]),
  data: z.string(),
  code: z.string(),
  last_transaction_id: z.object({ lt: z.string(), hash: z.string() }),
  sync_utime: z.number(),
});
/**
 * toncenter v2 writes the account beside each row (`address.account_address`, user-friendly);
 * other toncenter-compatible endpoints may not, or otherwise: read when it is there, never required.
 */
const Transactions = z.array(z.object({ data: z.string(), address: z.unknown().optional() }));
const NamedAccount = z.object({ account_address: z.string().min(1) });
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

/** A transaction toncenter returned for an account is another account's: nothing of the answer is used. */
export class ToncenterAccountError extends ToncenterError {
  override readonly name = "ToncenterAccountError";
  readonly code = "wrong_account";
}

export class ToncenterClient {
  constructor(private readonly ton: ToncenterEndpoint) {}

  /** TonClient.getTransactions: newest first from (lt, hash), `inclusive: false` leaving that one out. */
  async getTransactions(
    address: TonAddress,
    opts: { limit: number; lt?: string; hash?: string; to_lt?: string; inclusive?: boolean; archival?: boolean },
  ): Promise<Transaction[]> {
    const { inclusive, ...rest } = opts;
    const skipFirst = Boolean(opts.hash && opts.lt && inclusive !== true);
    const limit = opts.limit + (skipFirst ? 1 : 0);
    const hash = opts.hash ? Buffer.from(opts.hash, "base64").toString("hex") : undefined;
    const rows = await toncenterCall(
      this.ton,
      "getTransactions",
      { address: friendlyAddress(address), ...rest, limit, hash },
      Transactions,
    );
    let txs = rows.slice(0, limit).map((t) => ownTransaction(address, t));
    // The cursor's own transaction is left out only if it is the first row: a page that starts
    // elsewhere (a node that no longer has it) would otherwise lose a real transaction, and a
    // deposit in it would never be credited. Such a page is trimmed to `limit` instead.
    if (skipFirst) {
      const first = txs[0];
      const isCursor = first !== undefined && first.lt === BigInt(opts.lt!) && first.hash().equals(Buffer.from(opts.hash!, "base64"));
      txs = isCursor ? txs.slice(1) : txs.slice(0, opts.limit);
    }
    return txs;
  }

  async getContractState(address: TonAddress): Promise<ToncenterContractState> {
    const info = await toncenterCall(this.ton, "getAddressInformation", { address: friendlyAddress(address) }, AddressInformation);
    return {
      balance: BigInt(info.balance),
      state: info.state,
      code: info.code !== "" ? Buffer.from(info.code, "base64") : null,
      data: info.data !== "" ? Buffer.from(info.data, "base64") : null,
      lastTransaction: info.last_transaction_id.lt !== "0" ? info.last_transaction_id : null,
      timestampt: info.sync_utime,
    };
  }

  async getBalance(address: TonAddress): Promise<bigint> {
    return (await this.getContractState(address)).balance;
  }

  /** toncenter runGetMethod; throws when the get-method exits non-zero (as TonClient.runMethod). */
  async runMethod(address: TonAddress, name: string, stack: TupleItem[] = []): Promise<{ gas_used: number; stack: TupleReader }> {
    const r = await toncenterCall(
      this.ton,
      "runGetMethod",
      { address: friendlyAddress(address), method: name, stack: serializeStack(stack) },
      GetMethod,
    );
    if (r.exit_code !== 0) throw new ToncenterError(`Unable to execute get method. Got exit_code: ${r.exit_code}`);
    return { gas_used: r.gas_used, stack: new TupleReader(r.stack.map(parseStackItem)) };
  }

  async sendFile(boc: Buffer): Promise<void> {
    await toncenterCall(this.ton, "sendBoc", { boc: boc.toString("base64") }, Sent);
  }
}

/**
 * One row of `address`'s history, refused unless it is that account's: the transaction's own
 * account id (the BOC: what its hash covers) and, when toncenter names the account beside it,
 * that name's raw form (workchain included, which the BOC does not carry).
 */
function ownTransaction(address: TonAddress, row: { data: string; address?: unknown }): Transaction {
  const tx = loadTransaction(parseBoc(Buffer.from(row.data, "base64"))[0]!);
  const asked = rawAddress(address);
  const own = `${address.workchain}:${tx.address.toString(16).padStart(64, "0")}`;
  if (own !== asked) throw new ToncenterAccountError(`toncenter answered transaction ${tx.lt} of account ${own} for ${asked}`);
  const named = NamedAccount.safeParse(row.address).data?.account_address;
  if (named !== undefined) {
    let raw: string;
    try {
      raw = rawAddress(parseTonAddress(named));
    } catch {
      throw new ToncenterAccountError(`toncenter named transaction ${tx.lt}'s account "${named}": not an address`);
    }
    if (raw !== asked) throw new ToncenterAccountError(`toncenter answered transaction ${tx.lt} of account ${raw} for ${asked}`);
  }
  return tx;
}

// ---------------------------------------------------------------- get-method stacks (@ton/core's TupleItem, TupleReader)

export type TupleItem =
  | { type: "int"; value: bigint }
  | { type: "null" }
  | { type: "cell" | "slice" | "builder"; cell: Cell }
  /** TonClient's reading of a tuple or list: nested entries as values (bigints, cells, arrays), not TupleItems */
  | { type: "tuple"; items: unknown[] };

/** The reads @ton/core's TupleReader makes, with its refusals ("EOF", "Not a number", "Not a cell"). */
export class TupleReader {
  private readonly items: TupleItem[];

  constructor(items: TupleItem[]) {
    this.items = [...items];
  }

  get remaining(): number {
    return this.items.length;
  }

  pop(): TupleItem {
    const item = this.items.shift();
    if (!item) throw new ToncenterError("EOF");
    return item;
  }

  readBigNumber(): bigint {
    const p = this.pop();
    if (p.type !== "int") throw new ToncenterError("Not a number");
    return p.value;
  }

  readNumber(): number {
    return Number(this.readBigNumber());
  }

  readCell(): Cell {
    const p = this.pop();
    if (p.type !== "cell" && p.type !== "slice" && p.type !== "builder") throw new ToncenterError("Not a cell: " + p.type);
    return p.cell;
  }

  readCellOpt(): Cell | null {
    if (this.items[0]?.type === "null") {
      this.pop();
      return null;
    }
    return this.readCell();
  }
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

const cellOf = (b64: string): Cell => parseBoc(Buffer.from(b64, "base64"))[0]!;
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
      return elements.length === 0 ? { type: "null" } : { type: "tuple", items: elements.map(parseStackEntry) };
    }
    default:
      throw new ToncenterError(`unsupported stack item type ${String(kind)}`);
  }
}
