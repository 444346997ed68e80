/**
 * Edges of core/receipts/log.ts that log.test.ts, hold-log.test.ts and inbox-sharding.test.ts
 * leave open (the survivors of its mutation run). What the log holds is what the anchors commit
 * to, so the first concern is the compact forms: a settlement (and its job's hold) carried in the
 * short form must expand back to exactly the movement that was applied, and anything that does
 * not have the expected shape is kept in full and still anchors as itself. Then which write ops
 * withMovementLog recognises and rewrites (and that it leaves the others, and the caller's array,
 * alone); the batch selection under limits, the sort, the chunks and the inbox deletes; and the
 * reading side (records, head, oldestPending, isPending, movementIds, proofs).
 *
 * The expected inbox shards come from an FNV-1a written here (not the code under test); the
 * anchored movements are checked against the original Movement objects with
 * checkLedgerAgainstAnchors, whose hash is over canonical JSON: a passing check is canonical-JSON
 * equality of every anchored movement with the one applied.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore, type MemoryStore } from "../../local/memory-store";
import { makeWorker } from "../crypto/testing";
import { newJobId } from "../ids";
import { faucetMovement, holdMovement, ledgerItem, operatorFeeAccount, settleMovement, type Movement } from "../ledger";
import { ConditionFailedError, type Item, type Key, type Store, type TableName, type WriteOp } from "../ports";
import { checkLedgerAgainstAnchors, GENESIS_HEAD, type Anchor } from "./anchor";
import {
  AnchorConcurrencyError,
  appendReceiptOp,
  holdLogOps,
  inboxPk,
  inboxPks,
  MAX_PROOF_ANCHORS,
  MOVEMENT_INBOX_PK,
  RECEIPT_INBOX_PK,
  windowEntryKey,
  anchorChunkPk,
  StoreAnchorLog,
  withMovementLog,
  type AnchorRecord,
} from "./log";
import { indexed, legacyInboxOp, pending, signedReceipt } from "./testing";

// ---------------------------------------------------------------- factories
const T0 = Date.parse("2026-02-01T00:00:00Z");
const worker = makeWorker();
const otherWorker = makeWorker();

/** FNV-1a (32 bit) over the string's bytes (ASCII here), written independently of log.ts. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5n;
  for (const b of Buffer.from(s, "latin1")) h = ((h ^ BigInt(b)) * 0x01000193n) & 0xffffffffn;
  return Number(h);
}

type Put = Extract<WriteOp, { op: "put" }>;

/** withMovementLog over a store that only records what reaches it. */
function recording() {
  const calls: WriteOp[][] = [];
  const inner: Store = {
    get: async () => undefined,
    query: async () => [],
    async transact(ops) {
      calls.push(ops);
    },
  };
  return { calls, store: withMovementLog(inner) };
}

/** A memory store, optionally failing one transaction (`failOn`), with every query and delete it sees. */
function world(o: { failOn?: (ops: WriteOp[]) => boolean; chunk?: number; concurrency?: number } = {}) {
  const inner = createMemoryStore();
  const queries: Array<{ table: TableName; pk: string; q: unknown }> = [];
  const deletes: Key[] = [];
  let armed = o.failOn;
  const spied: Store & Pick<typeof inner, "scan"> = {
    get: (t, k) => inner.get(t, k),
    scan: (t) => inner.scan(t),
    query(t, pk, q) {
      queries.push({ table: t, pk, q });
      return inner.query(t, pk, q);
    },
    async transact(ops) {
      if (armed?.(ops)) {
        armed = undefined;
        throw new Error("crash (injected)");
      }
      for (const op of ops) if (op.op === "delete") deletes.push(op.key);
      return inner.transact(ops);
    },
  };
  const store = withMovementLog(spied);
  const log = new StoreAnchorLog(store, { chunk: o.chunk ?? 3, concurrency: o.concurrency ?? 2 });
  return { inner, store, log, queries, deletes };
}

const put = (inner: MemoryStore, op: WriteOp) => inner.transact([op]);

/** A movement's own inbox entry (what withMovementLog appends for it). */
function movementEntryOp(m: Movement): WriteOp {
  const { pk: _pk, sk: _sk, ...movement } = ledgerItem(m);
  return { op: "put", table: "chain", item: { pk: inboxPk(MOVEMENT_INBOX_PK, m.id), sk: m.id, movement, at: m.at } };
}

const receiptOp = (jobId: string, at: number, hold?: Movement, settlement?: Movement) =>
  appendReceiptOp(jobId, signedReceipt(worker, jobId), at, hold, settlement) as Put;

/** The same entry under the legacy inbox key (a coordinator before the time-windowed log): the drain the tests below guard. */
const legacyReceiptOp = (jobId: string, at: number, hold?: Movement, settlement?: Movement) =>
  legacyInboxOp(receiptOp(jobId, at, hold, settlement)) as Put;

/** A receipt's entry in the time-windowed log. */
const windowEntryOf = (inner: MemoryStore, jobId: string, at: number) => inner.get("chain", windowEntryKey(at, jobId));

const inboxOf = async (inner: MemoryStore, inbox: typeof RECEIPT_INBOX_PK | typeof MOVEMENT_INBOX_PK) =>
  (await Promise.all(inboxPks(inbox).map((pk) => inner.query("chain", pk)))).flat();

/** The batches' anchors replayed against the movements that were applied: ok only when each anchored movement is canonically equal. */
const replays = (records: Array<AnchorRecord | null>, applied: Movement[]) =>
  checkLedgerAgainstAnchors(
    records.map((r) => r! as Anchor),
    applied.map((movement, i) => ({ seq: i + 1, movement })),
  );

const settleOf = (
  jobId: string,
  o: { requester?: string; worker?: string; held?: bigint; cost?: bigint; at?: number; feeBps?: number } = {},
) => settleMovement(jobId, o.requester ?? "alice", o.worker ?? worker.workerId, o.held ?? 10n, o.cost ?? 7n, o.at ?? T0, o.feeBps ?? 0);

const craftRecord = (seqno: number): WriteOp => ({
  op: "put",
  table: "chain",
  item: {
    pk: "anchor:list",
    sk: String(seqno).padStart(10, "0"),
    seqno,
    root: "ab".repeat(32),
    firstSeq: seqno,
    count: 1,
    ledgerSeqno: 0,
    ledgerHash: "00".repeat(32),
    history: "cd".repeat(32),
    status: "indexed",
    receiptChunks: 0,
    movementChunks: 0,
    preparedAt: 0,
  },
});

// ---------------------------------------------------------------- inbox shards
describe("inbox partitions", () => {
  it("an entry's partition is FNV-1a of its sort key mod 16, so entries written by any version are found again", () => {
    // Prepare: published FNV-1a vectors ("" 0x811c9dc5, "a" 0xe40c292c, "foobar" 0xbf9cf968) and a job id
    const jobId = newJobId(T0);

    // Act
    const shards = ["", "a", "foobar", jobId].map((sk) => inboxPk(RECEIPT_INBOX_PK, sk));

    // Assess
    expect([fnv1a(""), fnv1a("a"), fnv1a("foobar")]).toEqual([0x811c9dc5, 0xe40c292c, 0xbf9cf968]);
    expect(shards).toEqual(["rlog:pending#5", "rlog:pending#12", "rlog:pending#8", `rlog:pending#${fnv1a(jobId) % 16}`]);
    expect(inboxPk(MOVEMENT_INBOX_PK, "settle:" + jobId)).toBe(`mlog:pending#${fnv1a("settle:" + jobId) % 16}`);
  });
});

// ---------------------------------------------------------------- appending: appendReceiptOp and holdLogOps
describe("appendReceiptOp: the receipt entry and the compact forms it carries", () => {
  it("a receipt alone is the entry's whole content: key, receipt (body and signature only) and time", () => {
    // Prepare
    const jobId = newJobId(T0);
    const receipt = signedReceipt(worker, jobId);

    // Act
    const op = appendReceiptOp(jobId, { ...receipt, extra: 1 } as typeof receipt, T0 + 3);

    // Assess
    expect(op).toStrictEqual({
      op: "put",
      table: "chain",
      item: { ...windowEntryKey(T0 + 3, jobId), receipt: { body: receipt.body, signature: receipt.signature }, at: T0 + 3 },
    });
  });

  it("a hold without a settlement rides as [requester, amount, at], and anchors as exactly the hold that was applied", async () => {
    // Prepare
    const { inner, log } = world();
    const jobId = newJobId(T0);
    const hold = holdMovement(jobId, "alice", 12_345_678_901_234_567_890n, T0 - 50);

    // Act
    const op = receiptOp(jobId, T0, hold);
    await put(inner, op);
    const b = await log.prepareNext(T0 + 1);

    // Assess
    expect(op.item).toStrictEqual({
      pk: windowEntryKey(T0, jobId).pk,
      sk: jobId,
      receipt: op.item.receipt,
      at: T0,
      hold: ["alice", "12345678901234567890", T0 - 50],
    });
    expect(await log.movementIds(1)).toEqual([`hold:${jobId}`]);
    expect(replays([b], [hold])).toEqual({ ok: true, checked: 1 });
    const pk1 = anchorChunkPk((await log.record(1))!);
    expect(await inner.get("chain", { pk: pk1, sk: "m#000000" })).toStrictEqual({
      pk: pk1,
      sk: "m#000000",
      ids: [`hold:${jobId}`],
      inReceipts: [`hold:${jobId}`],
    });
    expect(await inboxOf(inner, RECEIPT_INBOX_PK)).toEqual([]);
  });

  it("a settlement and a hold of the same requester and amount: `ms` [requester, held, cost, at] and the hold as its time `ha`; both anchor exactly, amounts past 2^53 included", async () => {
    // Prepare
    const { inner, log } = world();
    const jobId = newJobId(T0);
    const held = 2n ** 70n + 3n;
    const hold = holdMovement(jobId, "alice", held, T0 - 9);
    const settle = settleOf(jobId, { held, cost: held - 1n, at: T0 + 1 });

    // Act
    const op = receiptOp(jobId, T0 + 2, hold, settle);
    await put(inner, op);
    const b = await log.prepareNext(T0 + 3);

    // Assess
    expect(op.item).toStrictEqual({
      pk: windowEntryKey(T0 + 2, jobId).pk,
      sk: jobId,
      receipt: op.item.receipt,
      at: T0 + 2,
      mid: `settle:${jobId}`,
      ms: ["alice", held.toString(), (held - 1n).toString(), T0 + 1],
      ha: T0 - 9,
    });
    expect(await log.movementIds(1)).toEqual([`hold:${jobId}`, `settle:${jobId}`]);
    expect(replays([b], [hold, settle])).toEqual({ ok: true, checked: 1 });
  });

  it("a settlement with an operator fee: `ms` carries the bps fifth and rebuilds exactly, the fee in the worker's fee shard", async () => {
    // Prepare: 7 of 10 at 5 000 bps: the worker 4, the operator 3
    const { inner, log } = world();
    const jobId = newJobId(T0);
    const hold = holdMovement(jobId, "alice", 10n, T0 - 9);
    const settle = settleOf(jobId, { feeBps: 5_000 });

    // Act
    const op = receiptOp(jobId, T0 + 2, hold, settle);
    await put(inner, op);
    const b = await log.prepareNext(T0 + 3);

    // Assess
    expect(settle.postings.at(-1)).toEqual({ account: operatorFeeAccount(worker.workerId), field: "available", delta: 3n });
    expect(op.item).toMatchObject({ mid: `settle:${jobId}`, ms: ["alice", "10", "7", T0, 5_000], ha: T0 - 9 });
    expect(op.item).not.toHaveProperty("movement");
    expect(replays([b], [hold, settle])).toEqual({ ok: true, checked: 1 });
  });

  it.each([
    ["another requester, same amount", "bob", 10n],
    ["same requester, another amount", "alice", 11n],
  ] as const)(
    "a hold the short settlement does not name (%s) rides in full beside `ms`, and anchors as itself",
    async (_, requester, amount) => {
      // Prepare: the settlement is alice's, held 10
      const { inner, log } = world();
      const jobId = newJobId(T0);
      const hold = holdMovement(jobId, requester, amount, T0 - 5);
      const settle = settleOf(jobId);
      const expected = [requester, amount.toString(), T0 - 5];

      // Act
      const op = receiptOp(jobId, T0 + 2, hold, settle);
      await put(inner, op);
      const b = await log.prepareNext(T0 + 3);

      // Assess
      expect(op.item).toMatchObject({ mid: `settle:${jobId}`, ms: ["alice", "10", "7", T0], hold: expected });
      expect(op.item).not.toHaveProperty("ha");
      expect(await log.movementIds(1)).toEqual([`hold:${jobId}`, `settle:${jobId}`]);
      expect(replays([b], [hold, settle])).toEqual({ ok: true, checked: 1 });
    },
  );

  it("a settlement that does not rebuild from the short form (another worker than the receipt's) rides in full with its hold in full, and both anchor as themselves", async () => {
    // Prepare
    const { inner, log } = world();
    const jobId = newJobId(T0);
    const hold = holdMovement(jobId, "alice", 10n, T0 - 5);
    const settle = settleOf(jobId, { worker: otherWorker.workerId });
    const { pk: _pk, sk: _sk, ...stored } = ledgerItem(settle);

    // Act
    const op = receiptOp(jobId, T0 + 2, hold, settle);
    await put(inner, op);
    const b = await log.prepareNext(T0 + 3);

    // Assess
    expect(op.item).toStrictEqual({
      pk: windowEntryKey(T0 + 2, jobId).pk,
      sk: jobId,
      receipt: op.item.receipt,
      at: T0 + 2,
      mid: `settle:${jobId}`,
      movement: stored,
      hold: ["alice", "10", T0 - 5],
    });
    expect(await log.movementIds(1)).toEqual([`hold:${jobId}`, `settle:${jobId}`]);
    expect(replays([b], [hold, settle])).toEqual({ ok: true, checked: 1 });
  });
});

describe("holdLogOps: a refunded job's hold", () => {
  it("a job whose item records its hold logs exactly that hold, as a movement inbox entry of its own", () => {
    // Prepare
    const jobId = newJobId(T0);

    // Act
    const ops = holdLogOps({ jobId, holdInJob: true, requester: "alice", maxCost: "25", createdAt: T0 - 7 });

    // Assess
    const { pk: _pk, sk: _sk, ...movement } = ledgerItem(holdMovement(jobId, "alice", 25n, T0 - 7));
    expect(ops).toStrictEqual([
      { op: "put", table: "chain", item: { pk: inboxPk(MOVEMENT_INBOX_PK, `hold:${jobId}`), sk: `hold:${jobId}`, movement, at: T0 - 7 } },
    ]);
  });

  it("a job without the mark (its hold has a ledger item, logged at submit) logs nothing", () => {
    // Prepare
    const base = { jobId: newJobId(T0), requester: "alice", maxCost: "25", createdAt: T0 };

    // Act
    const ops = holdLogOps(base);

    // Assess
    expect(ops).toEqual([]);
  });
});

// ---------------------------------------------------------------- withMovementLog: recognition and rewriting
describe("withMovementLog: which ops are movements, and what it appends", () => {
  it("only a notExists put of ledger/<id>/tx is a movement: updates, deletes, checks, other tables, other sort keys and other conditions pass through untouched, in order, with nothing appended", async () => {
    // Prepare
    const { calls, store } = recording();
    const item = ledgerItem(faucetMovement("f1", "alice", 5n, T0));
    const ops: WriteOp[] = [
      { op: "update", table: "ledger", key: { pk: item.pk, sk: "tx" }, set: { at: 1 } },
      { op: "delete", table: "ledger", key: { pk: item.pk, sk: "tx" } },
      { op: "check", table: "ledger", key: { pk: item.pk, sk: "tx" }, when: { kind: "exists" } },
      { op: "put", table: "ledger", item },
      { op: "put", table: "ledger", item, when: { kind: "exists" } },
      { op: "put", table: "ledger", item: { ...item, sk: "meta" }, when: { kind: "notExists" } },
      { op: "put", table: "accounts", item, when: { kind: "notExists" } },
    ];
    const before = structuredClone(ops);

    // Act
    await store.transact(ops);

    // Assess
    expect(calls).toEqual([before]);
  });

  it("each movement gets its own unconditional inbox put, appended after the caller's ops in the movements' order; a movement without a number time is logged at 0", async () => {
    // Prepare
    const { calls, store } = recording();
    const a = ledgerItem(faucetMovement("a", "alice", 5n, T0));
    const { at: _at, ...b } = ledgerItem(faucetMovement("b", "alice", 6n, T0));
    const check: WriteOp = { op: "check", table: "jobs", key: { pk: "j", sk: "job" }, when: { kind: "exists" } };
    const ops: WriteOp[] = [
      { op: "put", table: "ledger", item: a, when: { kind: "notExists" } },
      check,
      { op: "put", table: "ledger", item: b, when: { kind: "notExists" } },
    ];

    // Act
    await store.transact(ops);

    // Assess
    const entry = ({ pk, sk: _sk, ...movement }: Item, at: number): WriteOp => ({
      op: "put",
      table: "chain",
      item: { pk: inboxPk(MOVEMENT_INBOX_PK, pk), sk: pk, movement, at },
    });
    expect(calls).toStrictEqual([[...ops, entry(a, T0), entry(b, 0)]]);
  });

  it("a settlement whose job's receipt the same transaction appends rides in that receipt's entry, in place, as `mid` + `ms`; the caller's array is left as it was", async () => {
    // Prepare
    const { calls, store } = recording();
    const [j1, j2] = [newJobId(T0), newJobId(T0 + 1)];
    const s1 = ledgerItem(settleOf(j1));
    const s2 = ledgerItem(settleOf(j2, { cost: 3n, at: T0 + 1 }));
    const r1 = receiptOp(j1, T0 + 5);
    const r2 = receiptOp(j2, T0 + 6);
    const ops: WriteOp[] = [
      { op: "put", table: "ledger", item: s1, when: { kind: "notExists" } },
      r1,
      { op: "put", table: "ledger", item: s2, when: { kind: "notExists" } },
      r2,
    ];
    const before = structuredClone(ops);

    // Act
    await store.transact(ops);

    // Assess
    expect(calls).toStrictEqual([
      [
        ops[0],
        { ...r1, item: { ...r1.item, mid: `settle:${j1}`, ms: ["alice", "10", "7", T0] } },
        ops[2],
        { ...r2, item: { ...r2.item, mid: `settle:${j2}`, ms: ["alice", "10", "3", T0 + 1] } },
      ],
    ]);
    expect(ops).toStrictEqual(before);
  });

  it("a put is a receipt carrier only in table chain under an rlog:pending# key: a look-alike elsewhere, under another key or with a non-string key is left alone and the movement gets its own entry", async () => {
    // Prepare
    const jobId = newJobId(T0);
    const s = ledgerItem(settleOf(jobId));
    const { pk: _pk, sk: _sk, ...movement } = s;
    const r = receiptOp(jobId, T0 + 5);
    const lookalikes: WriteOp[] = [
      { ...r, table: "jobs" },
      { ...r, item: { ...r.item, pk: "rlog:other" } },
      { ...r, item: { ...r.item, pk: 7 as unknown as string } },
    ];

    // Act
    const seen = [];
    for (const l of lookalikes) {
      const { calls, store } = recording();
      await store.transact([{ op: "put", table: "ledger", item: s, when: { kind: "notExists" } }, l]);
      seen.push(calls[0]);
    }

    // Assess
    for (const [i, l] of lookalikes.entries())
      expect(seen[i]).toStrictEqual([
        { op: "put", table: "ledger", item: s, when: { kind: "notExists" } },
        l,
        { op: "put", table: "chain", item: { pk: inboxPk(MOVEMENT_INBOX_PK, s.pk), sk: s.pk, movement, at: T0 } },
      ]);
  });

  it("a receipt entry that already carries its settlement (appendReceiptOp's `mid`) takes no other movement: a ledger settlement beside it gets its own entry", async () => {
    // Prepare
    const { calls, store } = recording();
    const jobId = newJobId(T0);
    const settle = settleOf(jobId);
    const r = receiptOp(jobId, T0 + 5, undefined, settle);
    const s = ledgerItem(settle);
    const { pk: _pk, sk: _sk, ...movement } = s;

    // Act
    await store.transact([r, { op: "put", table: "ledger", item: s, when: { kind: "notExists" } }]);

    // Assess
    expect(calls[0]).toStrictEqual([
      r,
      { op: "put", table: "ledger", item: s, when: { kind: "notExists" } },
      { op: "put", table: "chain", item: { pk: inboxPk(MOVEMENT_INBOX_PK, s.pk), sk: s.pk, movement, at: T0 } },
    ]);
  });

  it("one movement per receipt entry: a second movement of the same job gets its own entry", async () => {
    // Prepare
    const { calls, store } = recording();
    const jobId = newJobId(T0);
    const s = ledgerItem(settleOf(jobId));
    const second = { ...ledgerItem(faucetMovement("x", "alice", 1n, T0 + 1)), meta: { jobId } };
    const { pk: _pk, sk: _sk, ...secondMovement } = second;
    const r = receiptOp(jobId, T0 + 5);

    // Act
    await store.transact([
      r,
      { op: "put", table: "ledger", item: s, when: { kind: "notExists" } },
      { op: "put", table: "ledger", item: second, when: { kind: "notExists" } },
    ]);

    // Assess
    expect(calls[0]).toStrictEqual([
      { ...r, item: { ...r.item, mid: s.pk, ms: ["alice", "10", "7", T0] } },
      { op: "put", table: "ledger", item: s, when: { kind: "notExists" } },
      { op: "put", table: "ledger", item: second, when: { kind: "notExists" } },
      {
        op: "put",
        table: "chain",
        item: { pk: inboxPk(MOVEMENT_INBOX_PK, second.pk), sk: second.pk, movement: secondMovement, at: T0 + 1 },
      },
    ]);
  });

  it("a receipt put without a receipt (so no worker) still carries its job's settlement, in full, even one that would rebuild with an undefined worker", async () => {
    // Prepare: a settle-shaped movement that expandSettle(id, undefined, ...) would rebuild exactly
    const { calls, store } = recording();
    const jobId = newJobId(T0);
    const s: Item = {
      pk: `settle:${jobId}`,
      sk: "tx",
      kind: "settle",
      at: T0,
      meta: { jobId },
      postings: [
        { account: "req:alice", field: "held", delta: "-10" },
        { account: "req:alice", field: "available", delta: "3" },
        { account: "wrk:undefined", field: "available", delta: "7" },
      ],
    };
    const { pk: _pk, sk: _sk, ...movement } = s;
    const r = receiptOp(jobId, T0 + 5);
    const { receipt: _receipt, ...bare } = r.item;

    // Act
    await store.transact([
      { ...r, item: bare },
      { op: "put", table: "ledger", item: s, when: { kind: "notExists" } },
    ]);

    // Assess
    expect(calls[0]).toStrictEqual([
      { ...r, item: { ...bare, mid: s.pk, movement } },
      { op: "put", table: "ledger", item: s, when: { kind: "notExists" } },
    ]);
  });

  it("other Store members pass through the wrapper bound to the store (a class with private fields keeps working) and plain values are read through", async () => {
    // Prepare
    class Backed implements Store {
      readonly label = "backed";
      #items = new Map<string, Item>([["k/s", { pk: "k", sk: "s", v: 1 }]]);
      async get<T extends Item = Item>(_t: TableName, key: Key) {
        return this.#items.get(`${key.pk}/${key.sk}`) as T | undefined;
      }
      async query<T extends Item = Item>(_t: TableName, _pk: string) {
        return [...this.#items.values()] as T[];
      }
      async transact() {}
    }
    const store = withMovementLog(new Backed());

    // Act
    const got = await store.get("chain", { pk: "k", sk: "s" });
    const q = await store.query("chain", "k");

    // Assess
    expect(got).toEqual({ pk: "k", sk: "s", v: 1 });
    expect(q).toHaveLength(1);
    expect(store.label).toBe("backed");
  });
});

describe("withMovementLog: a settlement is compacted only when it has the expected shape, else kept in full", () => {
  const base = (jobId: string) => ledgerItem(settleOf(jobId));
  const postingsOf = (i: Item) => structuredClone(i.postings) as Array<Record<string, unknown>>;
  const withPosting = (i: Item, k: number, p: Record<string, unknown>) => {
    const ps = postingsOf(i);
    ps[k] = { ...ps[k], ...p };
    return { ...i, postings: ps };
  };
  const cases: Array<[string, (jobId: string) => Item, worker?: string]> = [
    ["an id without the settle: prefix", (j) => ({ ...base(j), pk: `xettle:${j}` })],
    ["a kind other than settle", (j) => ({ ...base(j), kind: "refund" })],
    ["a time that is not a number", (j) => ({ ...base(j), at: String(T0) })],
    ["no postings", (j) => ({ ...base(j), postings: undefined })],
    ["an empty postings list", (j) => ({ ...base(j), postings: [] })],
    ["only two postings", (j) => ({ ...base(j), postings: postingsOf(base(j)).slice(0, 2) })],
    // no second posting to read the release from: refused, not a TypeError that fails the settlement's transaction
    ["only one posting (the requester's held)", (j) => ({ ...base(j), postings: postingsOf(base(j)).slice(0, 1) })],
    ["a first posting whose account is not a string", (j) => withPosting(base(j), 0, { account: 42 })],
    ["a first posting on a worker's account", (j) => withPosting(base(j), 0, { account: "wrk:alice" })],
    ["a first delta that is not a string (a bigint)", (j) => withPosting(base(j), 0, { delta: -10n })],
    ["a second delta that is not a string (a bigint)", (j) => withPosting(base(j), 1, { delta: 3n })],
    ["a last delta that is not a string (a bigint)", (j) => withPosting(base(j), 2, { delta: 7n })],
    ["a delta that is no number", (j) => withPosting(base(j), 0, { delta: "ten" })],
    ["a meta field the short form does not rebuild", (j) => ({ ...base(j), meta: { jobId: j, worker: worker.workerId, note: "x" } })],
    ["a posting with an attribute the short form does not rebuild", (j) => withPosting(base(j), 1, { note: "x" })],
    [
      "a posting list in another order",
      (j) => ({ ...base(j), postings: [postingsOf(base(j))[0], postingsOf(base(j))[2], postingsOf(base(j))[1]] }),
    ],
    ["another worker than the receipt's", (j) => ledgerItem(settleOf(j, { worker: otherWorker.workerId }))],
    // sameJson's own refusals (the short form's check): each would rebuild a movement other than the one stored
    [
      "a fourth posting the short form does not rebuild",
      (j) => ({ ...base(j), postings: [...postingsOf(base(j)), postingsOf(base(j))[2]] }),
    ],
    ["a time that is not finite (canonical JSON holds none)", (j) => ({ ...base(j), at: Infinity })],
    [
      "a posting that is no plain object (canonical JSON writes what its toJSON says)",
      (j) => {
        const ps = postingsOf(base(j));
        ps[1] = Object.assign(Object.create({ toJSON: () => "elsewhere" }) as object, ps[1]);
        return { ...base(j), postings: ps };
      },
    ],
    [
      "its operator fee in another account than its worker's fee shard (the single opr:fees of before the shards)",
      (j) => {
        const s = ledgerItem(settleOf(j, { feeBps: 5_000 }));
        return withPosting(s, 3, { account: "opr:fees" });
      },
    ],
  ];

  it.each(cases)("a settlement with %s rides in full (`movement`, never `ms`)", async (_, make) => {
    // Prepare
    const { calls, store } = recording();
    const jobId = newJobId(T0);
    const s = make(jobId);
    const { pk, sk: _sk, ...movement } = s;
    const r = receiptOp(jobId, T0 + 5);

    // Act
    await store.transact([r, { op: "put", table: "ledger", item: s, when: { kind: "notExists" } }]);

    // Assess
    expect(calls[0]).toHaveLength(2);
    expect(calls[0]![0]).toStrictEqual({ ...r, item: { ...r.item, mid: pk, movement } });
  });

  it("the well-formed settlement next to them is compacted (the cases above differ from it in that one respect only)", async () => {
    // Prepare
    const { calls, store } = recording();
    const jobId = newJobId(T0);
    const r = receiptOp(jobId, T0 + 5);

    // Act
    await store.transact([r, { op: "put", table: "ledger", item: base(jobId), when: { kind: "notExists" } }]);

    // Assess
    expect(calls[0]![0]).toStrictEqual({ ...r, item: { ...r.item, mid: `settle:${jobId}`, ms: ["alice", "10", "7", T0] } });
  });

  it("an attribute holding undefined is absent, as canonical JSON writes it: the settlement is still compacted", async () => {
    // Prepare
    const { calls, store } = recording();
    const jobId = newJobId(T0);
    const r = receiptOp(jobId, T0 + 5);
    const item = { ...base(jobId), note: undefined };

    // Act
    await store.transact([r, { op: "put", table: "ledger", item, when: { kind: "notExists" } }]);

    // Assess
    expect(calls[0]![0]).toStrictEqual({ ...r, item: { ...r.item, mid: `settle:${jobId}`, ms: ["alice", "10", "7", T0] } });
  });

  it("a settlement kept in full is anchored as itself, in the batch that anchors its receipt", async () => {
    // Prepare: the settlement names another worker than the receipt's, so the short form cannot carry it
    const { inner, store, log } = world();
    const jobId = newJobId(T0);
    const settle = settleOf(jobId, { worker: otherWorker.workerId });

    // Act
    await store.transact([receiptOp(jobId, T0 + 5), { op: "put", table: "ledger", item: ledgerItem(settle), when: { kind: "notExists" } }]);
    const entry = await windowEntryOf(inner, jobId, T0 + 5);
    const b = await log.prepareNext(T0 + 6);

    // Assess
    expect(entry).toHaveProperty("movement");
    expect(await inboxOf(inner, MOVEMENT_INBOX_PK)).toEqual([]);
    expect(b).toMatchObject({ count: 1, ledgerSeqno: 1 });
    expect(await log.movementIds(1)).toEqual([`settle:${jobId}`]);
    expect(replays([b], [settle])).toEqual({ ok: true, checked: 1 });
  });
});

describe("a settlement that took an operator fee", () => {
  it("rides with its receipt in the short form, its bps fifth, and is anchored as itself (the split included)", async () => {
    // Prepare: 7 of a 10 hold charged at 2500 bps: 6 to the worker, 1 to the operator
    const { inner, store, log } = world();
    const jobId = newJobId(T0);
    const settle = settleMovement(jobId, "alice", worker.workerId, 10n, 7n, T0, 2_500);

    // Act
    await store.transact([receiptOp(jobId, T0 + 5, undefined, settle)]);
    const entry = await windowEntryOf(inner, jobId, T0 + 5);
    const b = await log.prepareNext(T0 + 6);

    // Assess
    expect(entry).toMatchObject({ mid: `settle:${jobId}`, ms: ["alice", "10", "7", T0, 2_500] });
    expect(entry).not.toHaveProperty("movement");
    expect(b).toMatchObject({ count: 1, ledgerSeqno: 1 });
    expect(replays([b], [settle])).toEqual({ ok: true, checked: 1 });
    // the same receipt's anchor does not replay against the settlement without the fee
    expect(replays([b], [settleMovement(jobId, "alice", worker.workerId, 10n, 7n, T0)]).ok).toBe(false);
  });

  it("whose operator posting differs from what its bps gives rides in full, never in the short form", async () => {
    // Prepare: the operator credited 2 where 2500 bps of 7 is 1 (and the worker 5)
    const { calls, store } = recording();
    const jobId = newJobId(T0);
    const item = ledgerItem(settleMovement(jobId, "alice", worker.workerId, 10n, 7n, T0, 2_500));
    const ps = structuredClone(item.postings) as Array<Record<string, unknown>>;
    ps[2] = { ...ps[2], delta: "5" };
    ps[3] = { ...ps[3], delta: "2" };
    const { pk, sk: _sk, ...movement } = { ...item, postings: ps };
    const r = receiptOp(jobId, T0 + 5);

    // Act
    await store.transact([r, { op: "put", table: "ledger", item: { ...item, postings: ps }, when: { kind: "notExists" } }]);

    // Assess
    expect(calls[0]![0]).toStrictEqual({ ...r, item: { ...r.item, mid: pk, movement } });
  });
});

// ---------------------------------------------------------------- batches: selection under limits
describe("cutting a batch: which entries go in under the limits", () => {
  const faucetAt = (name: string, at: number) => faucetMovement(name, "alice", 1n, at);

  it("maxReceipts caps the receipts; a receipt left out does not hold back younger movements", async () => {
    // Prepare
    const { inner, log } = world();
    const jobs = [newJobId(T0), newJobId(T0 + 1), newJobId(T0 + 2)];
    for (const [i, j] of jobs.entries()) await put(inner, receiptOp(j, T0 + i));
    await put(inner, movementEntryOp(faucetAt("m", T0 + 3)));

    // Act
    const b1 = await log.prepareNext(T0 + 10, { maxReceipts: 2, maxMovements: 10 });
    const b2 = await log.prepareNext(T0 + 10, { maxReceipts: 2, maxMovements: 10 });

    // Assess
    expect(b1).toMatchObject({ count: 2, ledgerSeqno: 1 });
    expect(await log.movementIds(1)).toEqual(["faucet:m"]);
    expect(await Promise.all(jobs.map(async (j) => (await indexed(log, j))?.anchorSeqno))).toEqual([1, 1, 2]);
    expect(b2).toMatchObject({ count: 1, firstSeq: 3, ledgerSeqno: 1 });
  });

  it("maxMovements caps the movements; a receipt carrying no movement needs no movement slot and still goes in", async () => {
    // Prepare
    const { inner, log } = world();
    const jobId = newJobId(T0);
    await put(inner, movementEntryOp(faucetAt("m1", T0)));
    await put(inner, movementEntryOp(faucetAt("m2", T0 + 1)));
    await put(inner, receiptOp(jobId, T0 + 2));

    // Act
    const b1 = await log.prepareNext(T0 + 10, { maxReceipts: 10, maxMovements: 1 });

    // Assess
    expect(b1).toMatchObject({ count: 1, ledgerSeqno: 1 });
    expect(await log.movementIds(1)).toEqual(["faucet:m1"]);
    expect(await indexed(log, jobId)).toMatchObject({ anchorSeqno: 1, seq: 1 });
  });

  it("a receipt whose settlement does not fit closes the receipt log too: a younger plain receipt waits behind it", async () => {
    // Prepare
    const { inner, log } = world();
    const [j1, j2] = [newJobId(T0 + 1), newJobId(T0 + 2)];
    await put(inner, movementEntryOp(faucetAt("m1", T0)));
    await put(inner, receiptOp(j1, T0 + 1, undefined, settleOf(j1, { at: T0 + 1 })));
    await put(inner, receiptOp(j2, T0 + 2));
    const limits = { maxReceipts: 10, maxMovements: 1 };

    // Act
    const b1 = await log.prepareNext(T0 + 10, limits);
    const b2 = await log.prepareNext(T0 + 10, limits);

    // Assess
    expect(b1).toMatchObject({ count: 0, ledgerSeqno: 1 });
    expect(b2).toMatchObject({ count: 2, firstSeq: 1, ledgerSeqno: 2 });
    expect(await log.movementIds(2)).toEqual([`settle:${j1}`]);
    expect([(await indexed(log, j1))?.seq, (await indexed(log, j2))?.seq]).toEqual([1, 2]);
  });

  it("an entry needing two movement slots (hold + settlement) with one left closes the movement log: a younger movement that would fit waits too", async () => {
    // Prepare
    const { inner, log } = world();
    const jobId = newJobId(T0 + 1);
    await put(inner, movementEntryOp(faucetAt("m1", T0)));
    await put(inner, receiptOp(jobId, T0 + 1, holdMovement(jobId, "alice", 10n, T0 + 1), settleOf(jobId, { at: T0 + 1 })));
    await put(inner, movementEntryOp(faucetAt("m3", T0 + 2)));
    const limits = { maxReceipts: 10, maxMovements: 2 };

    // Act
    const b1 = await log.prepareNext(T0 + 10, limits);
    const b2 = await log.prepareNext(T0 + 10, limits);
    const b3 = await log.prepareNext(T0 + 10, limits);

    // Assess
    expect(b1).toMatchObject({ count: 0, ledgerSeqno: 1 });
    expect(await log.movementIds(1)).toEqual(["faucet:m1"]);
    expect(b2).toMatchObject({ count: 1, ledgerSeqno: 3 });
    expect(await log.movementIds(2)).toEqual([`hold:${jobId}`, `settle:${jobId}`]);
    expect(b3).toMatchObject({ count: 0, ledgerSeqno: 4 });
  });

  it("a receipt entry naming a movement id but carrying neither `ms` nor `movement` is anchored as a receipt only", async () => {
    // Prepare
    const { inner, log } = world();
    const jobId = newJobId(T0);
    const r = receiptOp(jobId, T0);
    await put(inner, { ...r, item: { ...r.item, mid: `settle:${jobId}` } });

    // Act
    const b = await log.prepareNext(T0 + 1);

    // Assess
    expect(b).toMatchObject({ count: 1, ledgerSeqno: 0, movementChunks: 0 });
    expect(await log.movementIds(1)).toEqual([]);
  });

  it("each inbox partition is read up to the batch's limit, in table chain", async () => {
    // Prepare
    const { inner, log, queries } = world();
    await put(inner, receiptOp(newJobId(T0), T0));

    // Act
    await log.prepareNext(T0 + 1, { maxReceipts: 7, maxMovements: 9 });

    // Assess
    expect(queries.filter((q) => /^[rm]log:pending#/.test(q.pk))).toEqual([
      ...inboxPks(RECEIPT_INBOX_PK).map((pk) => ({ table: "chain", pk, q: { limit: 7 } })),
      ...inboxPks(MOVEMENT_INBOX_PK).map((pk) => ({ table: "chain", pk, q: { limit: 9 } })),
    ]);
  });
});

describe("cutting a batch: order and numbering", () => {
  it("entries of the same time are ordered by their key: receipts take their seqs by job id, movements their places by id, whatever partition they sit in", async () => {
    // Prepare: everything at T0; ids written in a shuffled order
    const { inner, log } = world({ chunk: 100 });
    const jobs = Array.from({ length: 8 }, (_, i) => newJobId(T0 + i)).sort();
    const names = Array.from({ length: 14 }, (_, i) => `m${String(i).padStart(2, "0")}`);
    for (const i of [5, 2, 7, 0, 3, 6, 1, 4]) await put(inner, receiptOp(jobs[i]!, T0));
    for (const i of [9, 3, 12, 0, 7, 1, 13, 5, 10, 2, 8, 11, 4, 6])
      await put(inner, movementEntryOp(faucetMovement(names[i]!, "a", 1n, T0)));

    // Act
    await log.prepareNext(T0 + 1);

    // Assess
    expect(await log.movementIds(1)).toEqual(names.map((n) => `faucet:${n}`));
    expect(await Promise.all(jobs.map(async (j) => (await indexed(log, j))?.seq))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("a receipt and a movement of the same time and the same key: the receipt comes first", async () => {
    // Prepare: one movement slot; the movement's id equals the job id
    const { inner, log } = world();
    const jobId = newJobId(T0);
    await put(inner, receiptOp(jobId, T0, undefined, settleOf(jobId)));
    const { pk: _pk, sk: _sk, ...movement } = ledgerItem(faucetMovement("x", "alice", 1n, T0));
    await put(inner, { op: "put", table: "chain", item: { pk: inboxPk(MOVEMENT_INBOX_PK, jobId), sk: jobId, movement, at: T0 } });

    // Act
    const b = await log.prepareNext(T0 + 1, { maxReceipts: 10, maxMovements: 1 });

    // Assess
    expect(b).toMatchObject({ count: 1, ledgerSeqno: 1 });
    expect(await log.movementIds(1)).toEqual([`settle:${jobId}`]);
  });

  it("a batch's movements are sorted by their own time: a carried settlement and hold by theirs, not by their receipt entry's", async () => {
    // Prepare: hold at T0, a faucet at T0+50, settlement at T0+60, its receipt entry at T0+100
    const { inner, log } = world();
    const jobId = newJobId(T0);
    await put(inner, receiptOp(jobId, T0 + 100, holdMovement(jobId, "alice", 10n, T0), settleOf(jobId, { at: T0 + 60 })));
    await put(inner, movementEntryOp(faucetMovement("f", "alice", 1n, T0 + 50)));
    await put(inner, movementEntryOp(faucetMovement("g", "alice", 1n, T0 + 70)));

    // Act
    await log.prepareNext(T0 + 200);

    // Assess
    expect(await log.movementIds(1)).toEqual([`hold:${jobId}`, "faucet:f", `settle:${jobId}`, "faucet:g"]);
  });

  it("a carried settlement whose time is not a number is placed at its receipt entry's time", async () => {
    // Prepare: the settlement's `at` is "1" (kept in full); its receipt entry is at T0+100, a faucet at T0+50
    const { inner, log } = world();
    const jobId = newJobId(T0);
    const settle = { ...settleOf(jobId), at: "1" as unknown as number };
    const op = receiptOp(jobId, T0 + 100, undefined, settle);
    await put(inner, op);
    await put(inner, movementEntryOp(faucetMovement("f", "alice", 1n, T0 + 50)));

    // Act
    await log.prepareNext(T0 + 200);

    // Assess
    expect(op.item).toHaveProperty("movement.at", "1");
    expect(op.item).not.toHaveProperty("ms");
    expect(await log.movementIds(1)).toEqual(["faucet:f", `settle:${jobId}`]);
  });

  it("chunks: exactly ceil(n / chunk) of each kind, none when a log has no entries", async () => {
    // Prepare: chunk 3, three receipts each with a hold movement (as log.test.ts's settle), then movements alone
    const { inner, store, log } = world();
    for (let i = 0; i < 3; i++) {
      const jobId = newJobId(T0 + i);
      await store.transact([
        { op: "put", table: "ledger", item: ledgerItem(holdMovement(jobId, "a", 1n, T0 + i)), when: { kind: "notExists" } },
        receiptOp(jobId, T0 + i),
      ]);
    }

    // Act
    const b1 = await log.prepareNext(T0 + 10);
    await put(inner, movementEntryOp(faucetMovement("f", "a", 1n, T0 + 20)));
    const b2 = await log.prepareNext(T0 + 30);

    // Assess
    expect(b1).toMatchObject({ count: 3, ledgerSeqno: 3, receiptChunks: 1, movementChunks: 1 });
    const pk1 = anchorChunkPk((await log.record(1))!);
    expect(await inner.get("chain", { pk: pk1, sk: "r#000000" })).toBeDefined(); // the key is right: chunk 0 is there
    expect(await inner.get("chain", { pk: pk1, sk: "r#000001" })).toBeUndefined();
    expect(await inner.get("chain", { pk: pk1, sk: "m#000001" })).toBeUndefined();
    expect(b2).toMatchObject({ count: 0, ledgerSeqno: 4, receiptChunks: 0, movementChunks: 1 });
  });

  it("a movement chunk names the ids that rode in receipt entries (none: no field), and the inbox deletes are exactly the entries that exist", async () => {
    // Prepare
    const { inner, log, deletes } = world({ chunk: 10 });
    const [j1, j2] = [newJobId(T0), newJobId(T0 + 1)];
    // legacy inbox entries: their deletes are the anchorer's (a time-windowed entry is kept for good, window-wired.test.ts)
    await put(inner, legacyReceiptOp(j1, T0 + 1, holdMovement(j1, "alice", 10n, T0), settleOf(j1, { at: T0 + 1 })));
    await put(inner, legacyReceiptOp(j2, T0 + 2));
    await put(inner, movementEntryOp(faucetMovement("f", "alice", 1n, T0 + 3)));

    // Act
    await log.prepareNext(T0 + 10);
    await put(inner, movementEntryOp(faucetMovement("g", "alice", 1n, T0 + 20)));
    await log.prepareNext(T0 + 30);

    // Assess
    const pk1 = anchorChunkPk((await log.record(1))!);
    expect(await inner.get("chain", { pk: pk1, sk: "m#000000" })).toStrictEqual({
      pk: pk1,
      sk: "m#000000",
      ids: [`hold:${j1}`, `settle:${j1}`, "faucet:f"],
      inReceipts: [`hold:${j1}`, `settle:${j1}`],
    });
    const pk2 = anchorChunkPk((await log.record(2))!);
    expect(await inner.get("chain", { pk: pk2, sk: "m#000000" })).toStrictEqual({
      pk: pk2,
      sk: "m#000000",
      ids: ["faucet:g"],
    });
    expect(deletes).toEqual([
      { pk: inboxPk(RECEIPT_INBOX_PK, j1), sk: j1 },
      { pk: inboxPk(RECEIPT_INBOX_PK, j2), sk: j2 },
      { pk: inboxPk(MOVEMENT_INBOX_PK, "faucet:f"), sk: "faucet:f" },
      { pk: inboxPk(MOVEMENT_INBOX_PK, "faucet:g"), sk: "faucet:g" },
    ]);
  });

  it("writes run at most `concurrency` at a time", async () => {
    // Prepare: a store that holds each transaction open a moment and counts how many are open
    const inner = createMemoryStore();
    let open = 0;
    let most = 0;
    const slow: Store = {
      get: (t, k) => inner.get(t, k),
      query: (t, pk, q) => inner.query(t, pk, q),
      async transact(ops) {
        most = Math.max(most, ++open);
        await new Promise((r) => setTimeout(r, 1));
        try {
          await inner.transact(ops);
        } finally {
          open--;
        }
      },
    };
    for (let i = 0; i < 6; i++) await put(inner, receiptOp(newJobId(T0 + i), T0 + i));
    const log = new StoreAnchorLog(slow, { chunk: 1, concurrency: 2 });

    // Act
    const b = await log.prepareNext(T0 + 10);

    // Assess
    expect(b).toMatchObject({ count: 6, receiptChunks: 6 });
    expect(most).toBe(2);
  });
});

describe("cutting a batch: crashes and other writers", () => {
  it("another writer fixed the batch first: AnchorConcurrencyError (code anchor_concurrent_writer), not the store's condition error", async () => {
    // Prepare: a record for seqno 1 already stands
    const { inner, log } = world();
    await put(inner, craftRecord(1));
    await put(inner, receiptOp(newJobId(T0), T0));

    // Act
    const r = log.prepareNext(T0 + 1);

    // Assess
    await expect(r).rejects.toBeInstanceOf(AnchorConcurrencyError);
    await expect(r).rejects.toMatchObject({ code: "anchor_concurrent_writer" });
  });

  it("a crash before the index items: the rerun reads each receipt back from the inbox and indexes it", async () => {
    // Prepare: the first index item's put crashes
    const { inner, store, log } = world({
      failOn: (ops) =>
        ops.length === 1 && ops[0]!.op === "put" && ops[0]!.item.sk === "r" && !String(ops[0]!.item.pk).startsWith("rlog:pending"),
    });
    // legacy inbox entries: only they get index items (a time-windowed one's crash reruns: window-wired.test.ts)
    const jobs = [newJobId(T0), newJobId(T0 + 1), newJobId(T0 + 2)];
    for (const [i, j] of jobs.entries()) await put(inner, legacyReceiptOp(j, T0 + i));
    await expect(log.prepareNext(T0 + 5)).rejects.toThrow(/crash/);

    // Act
    const next = await new StoreAnchorLog(store).prepareNext(T0 + 6);

    // Assess
    expect(next).toBeNull();
    for (const [i, j] of jobs.entries())
      expect(await indexed(log, j)).toStrictEqual({
        pk: `rlog:${j}`,
        sk: "r",
        seq: i + 1,
        anchorSeqno: 1,
        receipt: signedReceipt(worker, j),
      });
  });

  it("a crash among the inbox deletes: the rerun keeps the index items of entries already deleted as they were", async () => {
    // Prepare: deletes one at a time; the second crashes
    let n = 0;
    const { inner, store, log } = world({ concurrency: 1, failOn: (ops) => ops[0]!.op === "delete" && ++n === 2 });
    const jobs = [newJobId(T0), newJobId(T0 + 1)];
    for (const [i, j] of jobs.entries()) await put(inner, legacyReceiptOp(j, T0 + i));
    await expect(log.prepareNext(T0 + 5)).rejects.toThrow(/crash/);

    // Act
    await new StoreAnchorLog(store).prepareNext(T0 + 6);

    // Assess
    expect((await log.record(1))?.status).toBe("indexed");
    for (const [i, j] of jobs.entries())
      expect(await indexed(log, j)).toStrictEqual({
        pk: `rlog:${j}`,
        sk: "r",
        seq: i + 1,
        anchorSeqno: 1,
        receipt: signedReceipt(worker, j),
      });
  });

  it("finishIndexing on a batch already indexed is a no-op; a store error on its status update is not swallowed", async () => {
    // Prepare
    const { inner, log } = world();
    await put(inner, receiptOp(newJobId(T0), T0));
    const b = (await log.prepareNext(T0 + 1))!;
    const failing = new StoreAnchorLog({
      get: (t, k) => inner.get(t, k),
      query: (t, pk, q) => inner.query(t, pk, q),
      transact: async (ops) => {
        if (ops[0]!.op === "update") throw new Error("disk full");
        return inner.transact(ops);
      },
    });

    // Act
    const again = log.finishIndexing(b);
    const broken = failing.finishIndexing({ ...b, status: "prepared" });

    // Assess
    await expect(again).resolves.toBeUndefined();
    await expect(broken).rejects.toThrow("disk full");
    expect((await log.record(1))?.status).toBe("indexed");
  });
});

// ---------------------------------------------------------------- reading
describe("reading the log", () => {
  it("head(): GENESIS_HEAD before the first batch, then the latest batch's head", async () => {
    // Prepare
    const { inner, log } = world();
    const before = await log.head();
    await put(inner, receiptOp(newJobId(T0), T0));
    await put(inner, movementEntryOp(faucetMovement("f", "a", 1n, T0)));

    // Act
    const b = (await log.prepareNext(T0 + 1))!;
    const after = await log.head();

    // Assess
    expect(before).toStrictEqual(GENESIS_HEAD);
    expect(after).toStrictEqual({ seqno: 1, lastSeq: 1, ledgerSeqno: 1, ledgerHash: b.ledgerHash, history: b.history });
  });

  it("record(seqno) below 1 is undefined even when something is stored at seqno 0, so an empty log's head stays genesis", async () => {
    // Prepare
    const { inner, log } = world();
    await put(inner, craftRecord(0));

    // Act
    const [r0, head] = [await log.record(0), await log.head()];

    // Assess
    expect(r0).toBeUndefined();
    expect(head).toStrictEqual(GENESIS_HEAD);
  });

  it("records(from, to): exactly the records in the inclusive range, ascending, once each, across 1000-seqno buckets", async () => {
    // Prepare
    const { inner, log } = world();
    for (const n of [5, 998, 999, 1000, 1001, 2500]) await put(inner, craftRecord(n));

    // Act
    const seqnos = async (from: number, to: number) => (await log.records(from, to)).map((r) => r.seqno);
    const got = [await seqnos(999, 1001), await seqnos(5, 5), await seqnos(6, 999), await seqnos(0, 5), await seqnos(1, 3000)];

    // Assess
    expect(got).toEqual([[999, 1000, 1001], [5], [998, 999], [5], [5, 998, 999, 1000, 1001, 2500]]);
  });

  it("records(from, to) reads one query per 1000-seqno bucket it spans, by sort-key prefix", async () => {
    // Prepare
    const { inner, log, queries } = world();
    await put(inner, craftRecord(2500));

    // Act
    const got = await log.records(2500, 2600);

    // Assess
    expect(got.map((r) => r.seqno)).toEqual([2500]);
    expect(queries).toEqual([{ table: "chain", pk: "anchor:list", q: { skPrefix: "0000002" } }]);
  });

  it("oldestPending(): the oldest time across both inboxes, undefined when empty; it reads each receipt partition's first entry and up to 50 of each movement partition", async () => {
    // Prepare
    const { inner, log, queries } = world();
    // the legacy inbox (the time-windowed log's rule: anchoring-overdue.test.ts)
    const empty = await log.oldestPending();
    await put(inner, legacyReceiptOp(newJobId(T0), T0 + 30));
    const receiptsOnly = await log.oldestPending();
    queries.length = 0;
    await put(inner, movementEntryOp(faucetMovement("a", "a", 1n, T0 + 20)));
    await put(inner, movementEntryOp(faucetMovement("b", "a", 1n, T0 + 10)));

    // Act
    const both = await log.oldestPending();

    // Assess
    expect([empty, receiptsOnly, both]).toEqual([undefined, T0 + 30, T0 + 10]);
    expect(queries).toEqual([
      ...inboxPks(RECEIPT_INBOX_PK).map((pk) => ({ table: "chain", pk, q: { limit: 1 } })),
      ...inboxPks(MOVEMENT_INBOX_PK).map((pk) => ({ table: "chain", pk, q: { limit: 50 } })),
    ]);
  });

  it("oldestPending() with only movements waiting: the oldest movement's time", async () => {
    // Prepare
    const { inner, log } = world();
    await put(inner, movementEntryOp(faucetMovement("a", "a", 1n, T0 + 20)));
    await put(inner, movementEntryOp(faucetMovement("b", "a", 1n, T0 + 10)));

    // Act
    const oldest = await log.oldestPending();

    // Assess
    expect(oldest).toBe(T0 + 10);
  });

  it("isPending(jobId): true while the job's receipt waits in the inbox, false for another job and once it is anchored", async () => {
    // Prepare
    const { inner, log } = world();
    const jobId = newJobId(T0);
    await put(inner, receiptOp(jobId, T0));

    // Act
    const waiting = [await pending(log, jobId), await pending(log, newJobId(T0 + 1))];
    await log.prepareNext(T0 + 1);
    const after = await pending(log, jobId);

    // Assess
    expect(waiting).toEqual([true, false]);
    expect(after).toBe(false);
  });

  it("markPosted(seqno, chainTime) sets postedAt on the record, and refuses a batch that does not exist", async () => {
    // Prepare
    const { inner, log } = world();
    await put(inner, receiptOp(newJobId(T0), T0));
    await log.prepareNext(T0 + 1);

    // Act
    await log.markPosted(1, 1_770_000_123);
    const missing = log.markPosted(2, 1);

    // Assess
    expect(await log.record(1)).toMatchObject({ seqno: 1, postedAt: 1_770_000_123, status: "indexed" });
    await expect(missing).rejects.toBeInstanceOf(ConditionFailedError);
  });

  it("movementIds(seqno): [] for a batch that does not exist, and an error naming the chunk when one is missing from the store", async () => {
    // Prepare
    const { inner, log } = world();
    await put(inner, movementEntryOp(faucetMovement("f", "a", 1n, T0)));
    await log.prepareNext(T0 + 1);
    await inner.transact([{ op: "delete", table: "chain", key: { pk: anchorChunkPk((await log.record(1))!), sk: "m#000000" } }]);

    // Act
    const none = await log.movementIds(2);
    const broken = log.movementIds(1);

    // Assess
    expect(none).toEqual([]);
    await expect(broken).rejects.toThrow("anchor 1: chunk m#0 is missing from the store");
  });

  it("proof(): refuses an index whose batch is missing, and a batch whose stored leaves do not match its count", async () => {
    // Prepare
    const { inner, log } = world();
    const jobs = [newJobId(T0), newJobId(T0 + 1)];
    for (const [i, j] of jobs.entries()) await put(inner, receiptOp(j, T0 + i));
    await log.prepareNext(T0 + 5);
    const index = (await indexed(log, jobs[0]!))!;
    const chunk = (await inner.get("chain", { pk: anchorChunkPk((await log.record(1))!), sk: "r#000000" }))!;

    // Act
    const noBatch = log.proof({ ...index, anchorSeqno: 9 });
    await put(inner, {
      op: "put",
      table: "chain",
      item: {
        ...chunk,
        leaves: Buffer.from(chunk.leaves as string, "base64")
          .subarray(32)
          .toString("base64"),
      },
    });
    const short = log.proof(index);

    // Assess
    await expect(noBatch).rejects.toThrow("anchor 9 is missing from the store");
    await expect(short).rejects.toThrow("anchor 1: 1 leaves stored for 2 receipts");
  });

  it(`proof(): carries the anchors from its batch on, at most MAX_PROOF_ANCHORS (${MAX_PROOF_ANCHORS}) of them`, async () => {
    // Prepare: a real batch 1, then records 2..1001 standing in for later batches, the head at 1001
    const { inner, log } = world();
    // a legacy entry, found by its index item: the crafted records stand for later batches, not ranges of the time-windowed log
    const jobId = newJobId(T0);
    await put(inner, legacyReceiptOp(jobId, T0));
    await log.prepareNext(T0 + 1);
    for (let n = 2; n <= MAX_PROOF_ANCHORS + 1; n++) await put(inner, craftRecord(n));
    await put(inner, { op: "put", table: "chain", item: { pk: "anchor:head", sk: "h", seqno: MAX_PROOF_ANCHORS + 1 } });

    // Act
    const p = await log.proof((await indexed(log, jobId))!);

    // Assess
    expect(p.anchors).toHaveLength(MAX_PROOF_ANCHORS);
    expect([p.anchors[0]!.seqno, p.anchors.at(-1)!.seqno]).toEqual([1, MAX_PROOF_ANCHORS]);
    expect(p).toMatchObject({ seq: 1, anchorSeqno: 1, leafIndex: 0, treeSize: 1, path: [], prevHistory: GENESIS_HEAD.history });
  });
});
