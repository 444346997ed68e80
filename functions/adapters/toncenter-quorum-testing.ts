/**
 * Test factories for toncenter-chain-check.ts and toncenter-quorum.ts: a vault history that is one
 * chain (each transaction's prev_trans_lt/hash the one before it), written by @ton/core's
 * storeTransaction, with credited deposits (the vault's DepositCredited log: what the watcher
 * credits) among refused transfers; and a toncenter v2 stand-in on 127.0.0.1 serving it
 * (getTransactions paged as toncenter pages: newest first from (lt, hash), down to `to_lt`;
 * getAddressInformation with the last transaction, a balance and a sync time).
 */
import { Address, beginCell, Cell, Dictionary, storeMessage, storeTransaction, type Message, type Transaction } from "@ton/core";
import { storeDepositCredited } from "../../contracts/build/Vault_Vault";
import { rawTransaction, refusedTxCell, startToncenterStandin, type ToncenterCall } from "../../test/fixtures/toncenter-standin";

export const VAULT = new Address(0, Buffer.alloc(32, 0xab));
export const VAULT_RAW = VAULT.toRawString();
export const OTHER_ACCOUNT = new Address(0, Buffer.alloc(32, 0xcd));
const WALLET = new Address(0, Buffer.alloc(32, 0xbb));
export const NOW = 1_750_000_000;

/** A requester account id (base64url of its 32-byte key) and the uint256 the vault logs. */
export const accountId = (byte: number) => Buffer.alloc(32, byte).toString("base64url");
const accountUint = (id: string) => BigInt("0x" + Buffer.from(id, "base64url").toString("hex"));

export interface HistoryTx {
  cell: Cell;
  lt: bigint;
  utime: number;
  /** hex */
  hash: string;
}

type Link = { lt: bigint; hash: Buffer } | undefined;

/** A deposit the vault credited: the account wallet's confirmation in, the DepositCredited log out. */
function depositCell(address: bigint, lt: bigint, now: number, prev: Link, account: string, amount: bigint): Cell {
  const outMessages = Dictionary.empty(Dictionary.Keys.Uint(15), {
    serialize: (m: Message, b) => void b.storeRef(beginCell().store(storeMessage(m))),
    parse: () => {
      throw new Error("unused");
    },
  });
  outMessages.set(0, {
    info: { type: "external-out", src: VAULT, dest: null, createdLt: lt + 1n, createdAt: now },
    init: null,
    body: beginCell()
      .store(storeDepositCredited({ $$type: "DepositCredited", account: accountUint(account), amount }))
      .endCell(),
  });
  const tx = {
    address,
    lt,
    prevTransactionHash: prev ? BigInt("0x" + prev.hash.toString("hex")) : 0n,
    prevTransactionLt: prev ? prev.lt : 0n,
    now,
    outMessagesCount: 1,
    oldStatus: "active",
    endStatus: "active",
    inMessage: {
      info: {
        type: "internal",
        ihrDisabled: true,
        bounce: true,
        bounced: false,
        src: WALLET,
        dest: VAULT,
        value: { coins: 10_000_000n },
        ihrFee: 0n,
        forwardFee: 0n,
        createdLt: lt - 1n,
        createdAt: now,
      },
      init: null,
      body: beginCell().storeUint(0x6b1f0c12, 32).endCell(),
    },
    outMessages,
    totalFees: { coins: 1_000n },
    stateUpdate: { oldHash: Buffer.alloc(32, 1), newHash: Buffer.alloc(32, 2) },
    description: {
      type: "generic",
      creditFirst: true,
      storagePhase: undefined,
      creditPhase: undefined,
      computePhase: {
        type: "vm",
        success: true,
        messageStateUsed: false,
        accountActivated: false,
        gasFees: 1_000n,
        gasUsed: 500n,
        gasLimit: 10_000n,
        gasCredit: undefined,
        mode: 0,
        exitCode: 0,
        exitArg: undefined,
        vmSteps: 42,
        vmInitStateHash: 0n,
        vmFinalStateHash: 0n,
      },
      actionPhase: undefined,
      aborted: false,
      bouncePhase: undefined,
      destroyed: false,
    },
  } as unknown as Transaction;
  return beginCell().store(storeTransaction(tx)).endCell();
}

const idOf = (a: Address) => BigInt("0x" + a.hash.toString("hex"));

/** The vault's history, oldest first, each transaction linked to the one before it (unless told otherwise). */
export class VaultHistory {
  readonly txs: HistoryTx[] = [];

  /** A copy of the first `n` transactions (all by default): another endpoint's view of the same chain. */
  copy(n = this.txs.length): VaultHistory {
    const h = new VaultHistory();
    h.txs.push(...this.txs.slice(0, n));
    return h;
  }

  get last(): HistoryTx | undefined {
    return this.txs[this.txs.length - 1];
  }

  /** A credited deposit of `amount` to `account`. */
  deposit(account: string, amount: bigint, o: { utime?: number; of?: Address; prev?: Link } = {}): this {
    return this.push((lt, now, prev) => depositCell(idOf(o.of ?? VAULT), lt, now, prev, account, amount), o);
  }

  /** A transfer the vault refused (nothing credited). */
  refused(o: { utime?: number; of?: Address; prev?: Link } = {}): this {
    return this.push((lt, now, prev) => refusedTxCell(idOf(o.of ?? VAULT), lt, now, prev), o);
  }

  private push(make: (lt: bigint, now: number, prev: Link) => Cell, o: { utime?: number; prev?: Link }): this {
    const before = this.last;
    const lt = (before?.lt ?? 1_000n) + 10n;
    const utime = o.utime ?? (before?.utime ?? NOW - 3600) + 5;
    const prev = "prev" in o ? o.prev : before ? { lt: before.lt, hash: before.cell.hash() } : undefined;
    const cell = make(lt, utime, prev);
    this.txs.push({ cell, lt, utime, hash: cell.hash().toString("hex") });
    return this;
  }
}

export interface Endpoint {
  endpoint: string;
  calls: ToncenterCall[];
  /** what it serves; replace to move it on */
  history: VaultHistory;
  balance: bigint;
  /** its sync time (unix s) */
  syncUtime: number;
  /** set: every call answers this (a malformed result), as an endpoint down would fail */
  down: boolean;
}

/** toncenter v2 on 127.0.0.1 serving `history` of the vault. */
export async function toncenterEndpoint(history: VaultHistory, o: { balance?: bigint; syncUtime?: number } = {}): Promise<Endpoint> {
  const e: Endpoint = {
    endpoint: "",
    calls: [],
    history,
    balance: o.balance ?? 1_000_000_000n,
    syncUtime: o.syncUtime ?? NOW,
    down: false,
  };
  const { endpoint, calls } = await startToncenterStandin(({ method, params }) => {
    if (e.down) return "502 Bad Gateway";
    const txs = e.history.txs;
    if (method === "getAddressInformation") {
      const last = e.history.last;
      return {
        balance: e.balance.toString(),
        state: "active",
        data: "",
        code: "",
        last_transaction_id: last ? { lt: last.lt.toString(), hash: last.cell.hash().toString("base64") } : { lt: "0", hash: "" },
        sync_utime: e.syncUtime,
      };
    }
    if (method !== "getTransactions") return null;
    const p = params as { limit: number; lt?: string; hash?: string; to_lt?: string };
    const newest = [...txs].reverse();
    const start = p.lt ? newest.findIndex((t) => t.lt === BigInt(p.lt!) && t.hash === p.hash) : 0;
    if (start < 0) return [];
    return newest
      .slice(start, start + p.limit)
      .filter((t) => !p.to_lt || t.lt > BigInt(p.to_lt))
      .map((t) => rawTransaction(t.cell, t.lt, t.utime));
  });
  e.endpoint = endpoint;
  e.calls = calls;
  return e;
}
