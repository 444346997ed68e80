/**
 * The edges of toncenter-client.ts that the sandbox-backed toncenter-client.test.ts never reaches,
 * against a toncenter v2 double on 127.0.0.1 that answers each JSON-RPC call with a result written
 * here in toncenter's documented shapes, and records what the client sent:
 *
 *   getAddressInformation  active, uninitialized (empty code and data, lt "0") and frozen accounts,
 *                          the last transaction id as toncenter writes it, an unknown state refused
 *   getTransactions        the paging TonClient does: (lt, hash) asks one more and drops the first
 *                          unless inclusive, the hash sent as hex, an over-long answer trimmed
 *   runGetMethod           our stack items as toncenter's ["num" | "tvm.Cell" | "tvm.Slice" |
 *                          "tvm.Builder", …], the answer's stack (num in hex, negative too, null,
 *                          cell, slice, builder, tuple and list with every nested "tvm.*" entry, an
 *                          empty one as null), the refusals, and a non-zero exit code
 *   sendBoc                the BOC as base64, only toncenter's { "@type": "ok" } accepted
 *
 * and TupleReader's reads and refusals (@ton/core's: "EOF", "Not a number", "Not a cell: …").
 */
import { afterEach, describe, expect, it } from "vitest";
import { Address, beginCell, type Cell as CoreCell } from "@ton/core";
import { type Cell, parseBoc } from "./ton-boc";
import type { TonAddress } from "./ton-cells";
import { ToncenterClient, type TupleItem, TupleReader } from "./toncenter-client";
import { ToncenterError } from "./toncenter-rpc";
import {
  closeToncenterStandins,
  rawTransaction,
  refusedTxCell,
  startToncenterStandin,
  type ToncenterCall,
} from "../../test/fixtures/toncenter-standin";

// ---------------------------------------------------------------- a toncenter double

interface Double {
  client: ToncenterClient;
  calls: ToncenterCall[];
}

afterEach(closeToncenterStandins);

/** toncenter's JSON-RPC answering every call `{ ok: true, result: answer(call) }`. */
async function toncenter(answer: (call: ToncenterCall) => unknown): Promise<Double> {
  const { endpoint, calls } = await startToncenterStandin(answer);
  return { client: new ToncenterClient({ endpoint }), calls };
}

// ---------------------------------------------------------------- factories

const ACCOUNT: TonAddress = { workchain: 0, hash: Buffer.alloc(32, 0x5a) };
/** how TonClient sends the address: @ton/core's toString() (url-safe, bounceable) */
const FRIENDLY = new Address(0, Buffer.alloc(32, 0x5a)).toString();

const b64 = (c: CoreCell) => c.toBoc().toString("base64");
const lean = (c: CoreCell): Cell => parseBoc(c.toBoc())[0]!;
const cellNo = (n: number) =>
  beginCell()
    .storeUint(n, 32)
    .storeRef(beginCell().storeUint(n + 1, 8))
    .endCell();

/** what a value read off the stack is, with cells by their hash */
function shape(v: unknown): unknown {
  if (typeof v === "bigint") return `${v}n`;
  if (Array.isArray(v)) return v.map(shape);
  if (v && typeof v === "object" && "hash" in v && typeof v.hash === "function") return `cell:${(v.hash() as Buffer).toString("hex")}`;
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)]));
  return v;
}
const readAll = (r: TupleReader) => Array.from({ length: r.remaining }, () => r.pop());

/** getAddressInformation's result as toncenter v2 writes it */
function addressInformation(over: Record<string, unknown> = {}) {
  return {
    "@type": "raw.fullAccountState",
    balance: "1500000000",
    code: b64(cellNo(1)),
    data: b64(cellNo(2)),
    last_transaction_id: { "@type": "internal.transactionId", lt: "47000000000003", hash: "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=" },
    block_id: { "@type": "ton.blockIdExt", workchain: -1, shard: "-9223372036854775808", seqno: 42, root_hash: "", file_hash: "" },
    frozen_hash: "",
    sync_utime: 1_750_000_321,
    state: "active",
    ...over,
  };
}

/** a transaction of the account at `lt`, as @ton/core's storeTransaction writes it */
const txCell = (lt: bigint): CoreCell => refusedTxCell(BigInt("0x" + ACCOUNT.hash.toString("hex")), lt, 1_750_000_000 + Number(lt % 1000n));

/** toncenter's raw.transaction entries for these lts (newest first, as toncenter pages) */
const rawTransactions = (lts: bigint[]) => lts.map((lt) => rawTransaction(txCell(lt), lt, 1_750_000_000));

/** The cursor: transaction 1003's (lt, hash), as the reader keeps it. */
const CURSOR = { lt: "1003", hash: txCell(1003n).hash().toString("base64") };
const CURSOR_HEX = txCell(1003n).hash().toString("hex");

/** runGetMethod's result */
const getMethod = (stack: unknown[], over: Record<string, unknown> = {}) => ({
  "@type": "smc.runResult",
  gas_used: 1234,
  stack,
  exit_code: 0,
  ...over,
});

// toncenter's nested ("tvm.*") stack entries
const decimal = (n: string) => ({ "@type": "tvm.stackEntryNumber", number: { "@type": "tvm.numberDecimal", number: n } });
const cellEntry = (c: CoreCell) => ({ "@type": "tvm.stackEntryCell", cell: { "@type": "tvm.cell", bytes: b64(c) } });
const sliceEntry = (c: CoreCell) => ({ "@type": "tvm.stackEntrySlice", slice: { "@type": "tvm.slice", bytes: b64(c) } });
const tupleEntry = (elements: unknown[]) => ({ "@type": "tvm.stackEntryTuple", tuple: { "@type": "tvm.tuple", elements } });
const listEntry = (elements: unknown[]) => ({ "@type": "tvm.stackEntryList", list: { "@type": "tvm.list", elements } });

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as Error,
  );

// ---------------------------------------------------------------- getAddressInformation

describe("toncenter-client getContractState: toncenter's getAddressInformation", () => {
  it("reads an active account: balance, code, data, the last transaction id (without its @type) and the sync time", async () => {
    // Prepare
    const d = await toncenter(() => addressInformation());

    // Act
    const s = await d.client.getContractState(ACCOUNT);

    // Assess
    expect(d.calls).toEqual([{ method: "getAddressInformation", params: { address: FRIENDLY } }]);
    expect(s).toEqual({
      balance: 1_500_000_000n,
      state: "active",
      code: cellNo(1).toBoc(),
      data: cellNo(2).toBoc(),
      lastTransaction: { lt: "47000000000003", hash: "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=" },
      timestampt: 1_750_000_321,
    });
  });

  it("reads an uninitialized account (empty code and data, lt 0) as nulls, and a numeric balance", async () => {
    // Prepare
    const d = await toncenter(() =>
      addressInformation({
        state: "uninitialized",
        balance: 0,
        code: "",
        data: "",
        last_transaction_id: { "@type": "internal.transactionId", lt: "0", hash: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" },
      }),
    );

    // Act
    const s = await d.client.getContractState(ACCOUNT);

    // Assess
    expect(s).toEqual({ balance: 0n, state: "uninitialized", code: null, data: null, lastTransaction: null, timestampt: 1_750_000_321 });
    expect(await d.client.getBalance(ACCOUNT)).toBe(0n);
  });

  it("reads a frozen account: no code or data, but its last transaction", async () => {
    // Prepare
    const d = await toncenter(() => addressInformation({ state: "frozen", balance: "7", code: "", data: "", frozen_hash: "abc=" }));

    // Act
    const s = await d.client.getContractState(ACCOUNT);

    // Assess
    expect(s).toEqual({
      balance: 7n,
      state: "frozen",
      code: null,
      data: null,
      lastTransaction: { lt: "47000000000003", hash: "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=" },
      timestampt: 1_750_000_321,
    });
  });

  it("refuses a state toncenter does not write, and a last transaction id without lt", async () => {
    // Prepare
    const states = await toncenter(() => addressInformation({ state: "nonexist" }));
    const ids = await toncenter(() => addressInformation({ last_transaction_id: { "@type": "internal.transactionId", hash: "" } }));

    // Act
    const e = [await rejection(states.client.getContractState(ACCOUNT)), await rejection(ids.client.getContractState(ACCOUNT))];

    // Assess
    expect(e.map((x) => x instanceof ToncenterError)).toEqual([true, true]);
    expect(e.map((x) => x?.message.startsWith("toncenter getAddressInformation: malformed result"))).toEqual([true, true]);
  });
});

// ---------------------------------------------------------------- getTransactions

describe("toncenter-client getTransactions: TonClient's paging over toncenter's", () => {
  const lts = (txs: { lt: bigint }[]) => txs.map((t) => t.lt);

  it("from the newest: asks `limit` and returns them, each parsed from its BOC", async () => {
    // Prepare
    const d = await toncenter(() => rawTransactions([1005n, 1004n, 1003n]));

    // Act
    const txs = await d.client.getTransactions(ACCOUNT, { limit: 3, archival: true });

    // Assess
    expect(d.calls).toEqual([{ method: "getTransactions", params: { address: FRIENDLY, limit: 3, archival: true } }]);
    expect(lts(txs)).toEqual([1005n, 1004n, 1003n]);
    expect(txs.map((t) => t.hash().toString("hex"))).toEqual([1005n, 1004n, 1003n].map((lt) => txCell(lt).hash().toString("hex")));
  });

  it("after a cursor (inclusive: false): asks one more from (lt, hash as hex) and drops the cursor's own transaction", async () => {
    // Prepare
    const d = await toncenter(() => rawTransactions([1003n, 1002n, 1001n]));

    // Act
    const txs = await d.client.getTransactions(ACCOUNT, { limit: 2, ...CURSOR, inclusive: false, to_lt: "900", archival: true });

    // Assess
    expect(d.calls).toEqual([
      {
        method: "getTransactions",
        params: { address: FRIENDLY, limit: 3, lt: "1003", hash: CURSOR_HEX, to_lt: "900", archival: true },
      },
    ]);
    expect(lts(txs)).toEqual([1002n, 1001n]);
  });

  // It used to drop the first row whatever it was: a page that did not start at the cursor lost
  // its newest transaction, and a deposit in it was never credited.
  it("after a cursor: keeps the first row when it is not the cursor's transaction (then cut to limit)", async () => {
    // Prepare: the node no longer has 1003 and answers from 1002
    const d = await toncenter(() => rawTransactions([1002n, 1001n, 1000n]));

    // Act
    const txs = await d.client.getTransactions(ACCOUNT, { limit: 2, ...CURSOR, inclusive: false });

    // Assess
    expect(lts(txs)).toEqual([1002n, 1001n]);
  });

  it("after a cursor: keeps a first row with the cursor's lt but another hash", async () => {
    // Prepare
    const d = await toncenter(() => rawTransactions([1003n, 1002n]));

    // Act
    const txs = await d.client.getTransactions(ACCOUNT, { limit: 2, lt: "1003", hash: Buffer.alloc(32, 0xc3).toString("base64") });

    // Assess
    expect(lts(txs)).toEqual([1003n, 1002n]);
  });

  it("after a cursor with inclusive left out: as TonClient, not inclusive", async () => {
    // Prepare
    const d = await toncenter(() => rawTransactions([1003n, 1002n]));

    // Act
    const txs = await d.client.getTransactions(ACCOUNT, { limit: 1, ...CURSOR });

    // Assess
    expect(d.calls[0]!.params).toEqual({ address: FRIENDLY, limit: 2, lt: "1003", hash: CURSOR_HEX });
    expect(lts(txs)).toEqual([1002n]);
  });

  it("from a cursor with inclusive: true: asks `limit`, keeps the cursor's transaction, and does not send `inclusive`", async () => {
    // Prepare
    const d = await toncenter(() => rawTransactions([1003n, 1002n]));

    // Act
    const txs = await d.client.getTransactions(ACCOUNT, { limit: 2, ...CURSOR, inclusive: true });

    // Assess
    expect(d.calls[0]!.params).toEqual({ address: FRIENDLY, limit: 2, lt: "1003", hash: CURSOR_HEX });
    expect(lts(txs)).toEqual([1003n, 1002n]);
  });

  it("an lt without a hash, or a hash without an lt, is no cursor: nothing asked extra, nothing dropped", async () => {
    // Prepare
    const d = await toncenter(() => rawTransactions([1003n, 1002n]));

    // Act
    const ltOnly = await d.client.getTransactions(ACCOUNT, { limit: 2, lt: "1003", inclusive: false });
    const hashOnly = await d.client.getTransactions(ACCOUNT, { limit: 2, hash: CURSOR.hash, inclusive: false });

    // Assess
    expect(d.calls.map((c) => c.params)).toEqual([
      { address: FRIENDLY, limit: 2, lt: "1003" },
      { address: FRIENDLY, limit: 2, hash: CURSOR_HEX },
    ]);
    expect([lts(ltOnly), lts(hashOnly)]).toEqual([
      [1003n, 1002n],
      [1003n, 1002n],
    ]);
  });

  it("an answer longer than asked is cut to what was asked (then the cursor's dropped)", async () => {
    // Prepare
    const d = await toncenter(() => rawTransactions([1003n, 1002n, 1001n, 1000n, 999n]));

    // Act
    const fromNewest = await d.client.getTransactions(ACCOUNT, { limit: 2 });
    const afterCursor = await d.client.getTransactions(ACCOUNT, { limit: 2, ...CURSOR, inclusive: false });
    const exact = await d.client.getTransactions(ACCOUNT, { limit: 5 });

    // Assess
    expect(lts(fromNewest)).toEqual([1003n, 1002n]);
    expect(lts(afterCursor)).toEqual([1002n, 1001n]);
    expect(lts(exact)).toEqual([1003n, 1002n, 1001n, 1000n, 999n]);
  });

  it("an empty page after a cursor is empty", async () => {
    // Prepare
    const d = await toncenter(() => []);

    // Act
    const txs = await d.client.getTransactions(ACCOUNT, { limit: 2, ...CURSOR, inclusive: false });

    // Assess
    expect(txs).toEqual([]);
  });
});

// ---------------------------------------------------------------- runGetMethod

describe("toncenter-client runMethod: toncenter's runGetMethod stacks, both ways", () => {
  it("sends ints (negative too) as decimal nums, and cells, slices and builders as tvm.* BOCs in base64", async () => {
    // Prepare
    const d = await toncenter(() => getMethod([]));
    const [c, s, b] = [cellNo(10), cellNo(20), cellNo(30)];
    const params: TupleItem[] = [
      { type: "int", value: -5n },
      { type: "int", value: 2n ** 200n },
      { type: "cell", cell: lean(c) },
      { type: "slice", cell: lean(s) },
      { type: "builder", cell: lean(b) },
    ];

    // Act
    const r = await d.client.runMethod(ACCOUNT, "get_it", params);

    // Assess
    expect(d.calls).toEqual([
      {
        method: "runGetMethod",
        params: {
          address: FRIENDLY,
          method: "get_it",
          stack: [
            ["num", "-5"],
            ["num", (2n ** 200n).toString()],
            ["tvm.Cell", b64(c)],
            ["tvm.Slice", b64(s)],
            ["tvm.Builder", b64(b)],
          ],
        },
      },
    ]);
    expect(r.gas_used).toBe(1234);
    expect(r.stack.remaining).toBe(0);
  });

  it("sends an empty stack when given none", async () => {
    // Prepare
    const d = await toncenter(() => getMethod([]));

    // Act
    await d.client.runMethod(ACCOUNT, "seqno");

    // Assess
    expect(d.calls[0]!.params).toEqual({ address: FRIENDLY, method: "seqno", stack: [] });
  });

  it("refuses a null or a tuple as a parameter, before asking toncenter", async () => {
    // Prepare
    const d = await toncenter(() => getMethod([]));

    // Act
    const e = [
      await rejection(d.client.runMethod(ACCOUNT, "m", [{ type: "null" }])),
      await rejection(
        d.client.runMethod(ACCOUNT, "m", [
          { type: "int", value: 1n },
          { type: "tuple", items: [] },
        ]),
      ),
    ];

    // Assess
    expect(e.map((x) => x instanceof ToncenterError)).toEqual([true, true]);
    expect(e.map((x) => x?.message)).toEqual([
      "a null cannot be passed to a get-method over toncenter",
      "a tuple cannot be passed to a get-method over toncenter",
    ]);
    expect(d.calls).toEqual([]);
  });

  it("reads top-level nums (hex, negative, zero, 256-bit), null, cell, slice and builder", async () => {
    // Prepare
    const [c, s, b] = [cellNo(1), cellNo(2), cellNo(3)];
    const d = await toncenter(() =>
      getMethod([
        ["num", "0x1f"],
        ["num", "-0x1f"],
        ["num", "0x0"],
        ["num", "0x" + "f".repeat(64)],
        ["num", "-0x" + "8" + "0".repeat(63)],
        ["null"],
        ["cell", { bytes: b64(c), object: { data: { b64: "", len: 0 }, refs: [] } }],
        ["slice", { bytes: b64(s) }],
        ["builder", { bytes: b64(b) }],
      ]),
    );

    // Act
    const r = await d.client.runMethod(ACCOUNT, "get_all");

    // Assess
    expect(shape(readAll(r.stack))).toEqual(
      shape([
        { type: "int", value: 31n },
        { type: "int", value: -31n },
        { type: "int", value: 0n },
        { type: "int", value: 2n ** 256n - 1n },
        { type: "int", value: -(2n ** 255n) },
        { type: "null" },
        { type: "cell", cell: c },
        { type: "slice", cell: s },
        { type: "builder", cell: b },
      ]),
    );
  });

  it("reads a tuple and a list with every nested entry toncenter writes (numbers, cells, slices, tuples, lists) as values", async () => {
    // Prepare
    const [c, s] = [cellNo(4), cellNo(5)];
    const d = await toncenter(() =>
      getMethod([
        [
          "tuple",
          {
            "@type": "tvm.tuple",
            elements: [
              decimal("-7"),
              decimal("123456789012345678901234567890"),
              cellEntry(c),
              sliceEntry(s),
              tupleEntry([decimal("1"), listEntry([])]),
              listEntry([decimal("2"), cellEntry(s)]),
            ],
          },
        ],
        ["list", { "@type": "tvm.list", elements: [decimal("0"), tupleEntry([])] }],
      ]),
    );

    // Act
    const r = await d.client.runMethod(ACCOUNT, "get_nested");

    // Assess
    expect(shape(readAll(r.stack))).toEqual(
      shape([
        { type: "tuple", items: [-7n, 123456789012345678901234567890n, c, s, [1n, []], [2n, s]] },
        { type: "tuple", items: [0n, []] },
      ]),
    );
  });

  it("reads an empty tuple or list as null, which readCellOpt takes as no cell", async () => {
    // Prepare
    const d = await toncenter(() =>
      getMethod([
        ["list", { "@type": "tvm.list", elements: [] }],
        ["tuple", { "@type": "tvm.tuple", elements: [] }],
        ["cell", { bytes: b64(cellNo(9)) }],
      ]),
    );

    // Act
    const r = await d.client.runMethod(ACCOUNT, "get_opt");
    const read = [r.stack.readCellOpt(), r.stack.readCellOpt(), r.stack.readCellOpt()];

    // Assess
    expect(shape(read)).toEqual(shape([null, null, cellNo(9)]));
    expect(r.stack.remaining).toBe(0);
  });

  it("refuses a stack item or a nested entry of a type toncenter's v2 stack does not have", async () => {
    // Prepare
    const top = await toncenter(() =>
      getMethod([
        ["num", "0x1"],
        ["vector", {}],
      ]),
    );
    const nested = await toncenter(() =>
      getMethod([["tuple", { "@type": "tvm.tuple", elements: [decimal("1"), { "@type": "tvm.stackEntryUnsupported" }] }]]),
    );

    // Act
    const e = [await rejection(top.client.runMethod(ACCOUNT, "m")), await rejection(nested.client.runMethod(ACCOUNT, "m"))];

    // Assess
    expect(e.map((x) => x instanceof ToncenterError)).toEqual([true, true]);
    expect(e.map((x) => x?.message)).toEqual(["unsupported stack item type vector", "unsupported stack entry tvm.stackEntryUnsupported"]);
  });

  it("throws on a non-zero exit code with TonClient's message, whatever the stack", async () => {
    // Prepare
    const d = await toncenter(() => getMethod([["num", "0x1"]], { exit_code: 11, gas_used: 500 }));

    // Act
    const e = await rejection(d.client.runMethod(ACCOUNT, "latest"));

    // Assess
    expect(e).toBeInstanceOf(ToncenterError);
    expect(e?.message).toBe("Unable to execute get method. Got exit_code: 11");
  });
});

// ---------------------------------------------------------------- sendBoc

describe("toncenter-client sendFile: toncenter's sendBoc", () => {
  it("sends the BOC in base64 and takes toncenter's { @type: ok }", async () => {
    // Prepare
    const d = await toncenter(() => ({ "@type": "ok", "@extra": "1750000000.1:0:0.5" }));
    const boc = cellNo(77).toBoc();

    // Act
    await d.client.sendFile(boc);

    // Assess
    expect(d.calls).toEqual([{ method: "sendBoc", params: { boc: boc.toString("base64") } }]);
  });

  it("refuses a result that is not toncenter's ok", async () => {
    // Prepare
    const other = await toncenter(() => ({ "@type": "error", code: 500 }));
    const empty = await toncenter(() => ({}));

    // Act
    const e = [await rejection(other.client.sendFile(Buffer.from("x"))), await rejection(empty.client.sendFile(Buffer.from("x")))];

    // Assess
    expect(e.map((x) => x instanceof ToncenterError)).toEqual([true, true]);
    expect(e.map((x) => x?.message.startsWith("toncenter sendBoc: malformed result"))).toEqual([true, true]);
  });
});

// ---------------------------------------------------------------- TupleReader

describe("toncenter-client TupleReader: @ton/core's reads and refusals", () => {
  const cell = lean(cellNo(3));
  const items = (): TupleItem[] => [
    { type: "int", value: -42n },
    { type: "int", value: 2n ** 70n },
    { type: "cell", cell },
    { type: "slice", cell },
    { type: "builder", cell },
    { type: "null" },
  ];

  it("reads numbers, cells (from a cell, slice or builder) and an optional cell, in order, then EOF", () => {
    // Prepare
    const r = new TupleReader(items());

    // Act
    const read = [
      r.readNumber(),
      r.readBigNumber(),
      r.readCell(),
      r.readCellOpt(),
      r.readCell(),
      r.remaining,
      r.readCellOpt(),
      r.remaining,
    ];

    // Assess
    expect(shape(read)).toEqual(shape([-42, 2n ** 70n, cell, cell, cell, 1, null, 0]));
    expect(() => r.pop()).toThrow(new ToncenterError("EOF"));
    expect(() => r.readCellOpt()).toThrow(new ToncenterError("EOF"));
  });

  it("refuses a number where a cell is and a cell (or null, or tuple) where a number is, consuming what it refused", () => {
    // Prepare
    const r = new TupleReader([
      { type: "cell", cell },
      { type: "int", value: 1n },
      { type: "null" },
      { type: "tuple", items: [1n] },
      { type: "null" },
    ]);

    // Act
    const e = [
      () => r.readBigNumber(),
      () => r.readCell(),
      () => r.readCell(),
      () => r.readCellOpt(), // a tuple is not null: read as a cell
      () => r.readNumber(),
    ].map((f) => {
      try {
        f();
        return null;
      } catch (x) {
        return x as Error;
      }
    });

    // Assess
    expect(e.map((x) => x instanceof ToncenterError)).toEqual([true, true, true, true, true]);
    expect(e.map((x) => x?.message)).toEqual(["Not a number", "Not a cell: int", "Not a cell: null", "Not a cell: tuple", "Not a number"]);
    expect(r.remaining).toBe(0);
  });

  it("reads its own copy: the caller's array is not consumed, and pop returns the item itself", () => {
    // Prepare
    const given = items();

    // Act
    const r = new TupleReader(given);
    const first = r.pop();

    // Assess
    expect(first).toBe(given[0]);
    expect(given).toHaveLength(6);
    expect(r.remaining).toBe(5);
  });
});
