import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createMemoryStore, type MemoryStore } from "../local/memory-store";
import {
  applyMovement,
  faucetMovement,
  getBalance,
  holdMovement,
  movementOps,
  OPERATOR_FEE_ACCOUNTS,
  operatorFeeAccount,
  OverdraftError,
  refundMovement,
  requesterAccount,
  settleMovement,
  UnbalancedMovementError,
  workerAccount,
  type Movement,
  type MovementRecord,
} from "./ledger";

const REQUESTERS = ["alice", "bob"];
const WORKERS = ["w1", "w2"];

type Cmd =
  | { t: "faucet"; who: number; amount: bigint; id: number }
  | { t: "hold"; who: number; job: number; amount: bigint }
  | { t: "settle"; job: number; worker: number; costPermille: number; feeBps: number }
  | { t: "refund"; job: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ t: fc.constant("faucet" as const), who: fc.nat(1), amount: fc.bigInt(1n, 10_000n), id: fc.nat(20) }),
  fc.record({ t: fc.constant("hold" as const), who: fc.nat(1), job: fc.nat(15), amount: fc.bigInt(0n, 5_000n) }),
  fc.record({
    t: fc.constant("settle" as const),
    job: fc.nat(15),
    worker: fc.nat(1),
    costPermille: fc.nat(1000),
    // the operator fee: the edges (none, the least, all) and anything between
    feeBps: fc.oneof(fc.constantFrom(0, 1, 9_999, 10_000), fc.integer({ min: 0, max: 10_000 })),
  }),
  fc.record({ t: fc.constant("refund" as const), job: fc.nat(15) }),
);

async function allAccounts(store: ReturnType<typeof createMemoryStore>) {
  const names = ["ext:faucet", ...REQUESTERS.map(requesterAccount), ...WORKERS.map(workerAccount), ...OPERATOR_FEE_ACCOUNTS];
  return Promise.all(names.map((n) => getBalance(store, n)));
}

describe("ledger", () => {
  it("conserves value and never overdraws, for any sequence of movements, retried or not (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { maxLength: 60 }), fc.array(fc.boolean(), { maxLength: 60 }), async (cmds, retries) => {
        // Prepare
        const store = createMemoryStore();
        const holds = new Map<number, { who: string; amount: bigint; closed: boolean }>();
        let faucetTotal = 0n;
        let charged = 0n;
        let fees = 0n;
        const feesByShard = new Map<string, bigint>();
        const seenFaucet = new Set<number>();
        // Act
        for (const [i, c] of cmds.entries()) {
          const times = retries[i] ? 2 : 1; // a retried delivery of the same movement
          for (let k = 0; k < times; k++) {
            try {
              if (c.t === "faucet") {
                const r = await applyMovement(store, faucetMovement(String(c.id), REQUESTERS[c.who]!, c.amount, 0));
                if (r === "applied") {
                  expect(seenFaucet.has(c.id)).toBe(false);
                  seenFaucet.add(c.id);
                  faucetTotal += c.amount;
                }
              } else if (c.t === "hold") {
                if (holds.has(c.job)) continue;
                const r = await applyMovement(store, holdMovement(`j${c.job}`, REQUESTERS[c.who]!, c.amount, 0));
                if (r === "applied") holds.set(c.job, { who: REQUESTERS[c.who]!, amount: c.amount, closed: false });
              } else {
                const h = holds.get(c.job);
                if (!h || h.closed) continue;
                const cost = c.t === "settle" ? (h.amount * BigInt(c.costPermille)) / 1000n : 0n;
                const m =
                  c.t === "settle"
                    ? settleMovement(`j${c.job}`, h.who, WORKERS[c.worker]!, h.amount, cost, 0, c.feeBps)
                    : refundMovement(`j${c.job}`, h.who, h.amount, 0);
                if ((await applyMovement(store, m)) === "applied" && c.t === "settle") {
                  charged += cost;
                  const fee = (cost * BigInt(c.feeBps)) / 10_000n;
                  fees += fee;
                  const shard = operatorFeeAccount(WORKERS[c.worker]!);
                  feesByShard.set(shard, (feesByShard.get(shard) ?? 0n) + fee);
                }
                h.closed = true;
              }
            } catch (e) {
              if (!(e instanceof OverdraftError)) throw e;
            }
          }
        }
        // Assess: double entry sums to zero; internal accounts equal what came in; none negative
        const accounts = await allAccounts(store);
        const total = accounts.reduce((s, a) => s + a.available + a.held, 0n);
        expect(total).toBe(0n);
        const internal = accounts.filter((a) => !a.account.startsWith("ext:")).reduce((s, a) => s + a.available + a.held, 0n);
        expect(internal).toBe(faucetTotal);
        for (const a of accounts.filter((x) => !x.account.startsWith("ext:"))) {
          expect(a.available >= 0n && a.held >= 0n).toBe(true);
        }
        // every charge went to a worker and the operator, the operator exactly the floored fees, once each
        const operator = accounts.filter((a) => OPERATOR_FEE_ACCOUNTS.includes(a.account)).reduce((s, a) => s + a.available, 0n);
        expect(operator).toBe(fees);
        // each worker's fees in its own shard, and only there
        for (const a of accounts.filter((x) => OPERATOR_FEE_ACCOUNTS.includes(x.account)))
          expect(a.available).toBe(feesByShard.get(a.account) ?? 0n);
        const workers = accounts.filter((a) => a.account.startsWith("wrk:")).reduce((s, a) => s + a.available, 0n);
        expect(workers + operator).toBe(charged);
        const openHeld = [...holds.values()].filter((h) => !h.closed).reduce((s, h) => s + h.amount, 0n);
        expect(accounts.filter((a) => a.account.startsWith("req:")).reduce((s, a) => s + a.held, 0n)).toBe(openHeld);
      }),
      { numRuns: 150 },
    );
  });

  it("refuses a hold above the available balance and writes nothing", async () => {
    const store = createMemoryStore();
    await applyMovement(store, faucetMovement("f", "alice", 100n, 0));
    await expect(applyMovement(store, holdMovement("j", "alice", 101n, 0))).rejects.toBeInstanceOf(OverdraftError);
    expect(await getBalance(store, requesterAccount("alice"))).toEqual({ account: "req:alice", available: 100n, held: 0n });
    expect(await store.get("ledger", { pk: "hold:j", sk: "tx" })).toBeUndefined();
  });

  it("refuses an unbalanced movement and a charge above the hold", () => {
    expect(() => movementOps({ id: "x", kind: "faucet", at: 0, postings: [{ account: "req:a", field: "available", delta: 1n }] })).toThrow(
      UnbalancedMovementError,
    );
    expect(() => settleMovement("j", "a", "w", 10n, 11n, 0)).toThrow(UnbalancedMovementError);
  });

  it("merges postings on one account into one update (DynamoDB allows one op per item per transaction)", () => {
    const ops = movementOps(holdMovement("j", "alice", 5n, 0));
    expect(ops).toHaveLength(2);
    expect(ops[1]).toMatchObject({ op: "update", key: { pk: "req:alice" }, add: { available: -5n, held: 5n } });
  });
});

/**
 * issue 14: retried deliveries of a job's money. A queue redelivers, a Lambda is retried, a
 * worker posts its result again: the same hold, settlement or refund arrives twice, at once or
 * much later (after the job closed, after the balance was spent). Each must be a "duplicate"
 * that changes nothing (no balance, no ledger item, no job item), whether the movement is
 * recorded by its ledger item or, as jobs do since issue 12, by the job item (MovementRecord).
 */
describe("ledger: retried hold, settle and refund", () => {
  type Step =
    | { t: "faucet"; who: number; amount: bigint; id: number }
    | { t: "hold"; who: number; job: number; amount: bigint }
    | { t: "settle"; job: number; worker: number; costPermille: number }
    | { t: "refund"; job: number }
    /** deliver again a movement that applied earlier (index modulo how many did) */
    | { t: "redeliver"; pick: number };

  // Few jobs and small holds against funded requesters, so that most holds apply and most
  // settlements and refunds find a hold to close (and then are delivered again).
  const step: fc.Arbitrary<{ s: Step; again: boolean }> = fc.record({
    s: fc.oneof(
      fc.record({ t: fc.constant("faucet" as const), who: fc.nat(1), amount: fc.bigInt(1n, 3_000n), id: fc.nat(5) }),
      fc.record({ t: fc.constant("hold" as const), who: fc.nat(1), job: fc.nat(7), amount: fc.bigInt(0n, 2_000n) }),
      fc.record({ t: fc.constant("settle" as const), job: fc.nat(7), worker: fc.nat(1), costPermille: fc.nat(1000) }),
      fc.record({ t: fc.constant("refund" as const), job: fc.nat(7) }),
      fc.record({ t: fc.constant("redeliver" as const), pick: fc.nat(1000) }),
    ),
    again: fc.boolean(), // delivered twice in a row
  });
  /** What each requester starts with (a faucet movement of its own, delivered once). */
  const START = 5_000n;

  /** A movement as its caller builds it: a retry builds it again from the same inputs. */
  interface Delivery {
    m: Movement;
    record?: MovementRecord;
  }

  /** Even jobs record their movements in the job item (issue 12), odd ones in ledger items. */
  const inJob = (job: number) => job % 2 === 0;
  const jobItemKey = (job: number) => ({ pk: `j${job}`, sk: "job" });
  const closeRecord = (job: number, status: "completed" | "refunded"): MovementRecord => ({
    op: "update",
    table: "jobs",
    key: jobItemKey(job),
    set: { status },
    when: { kind: "cmp", attr: "status", op: "=", value: "assigned" },
  });

  /** Everything a delivery could change. */
  const snapshot = (store: MemoryStore) =>
    JSON.stringify(
      (["accounts", "ledger", "jobs"] as const).map((t) => store.scan(t)),
      (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v),
    );

  const deliver = (store: MemoryStore, d: Delivery) =>
    applyMovement(store, d.m, [], undefined, d.record).catch((e: unknown) => {
      if (e instanceof OverdraftError) return "overdraft" as const;
      throw e;
    });

  it("a movement delivered again, at once or after any other movements, is a duplicate and changes nothing; balances match a model (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 10, maxLength: 60 }), async (steps) => {
        // Prepare
        const store = createMemoryStore();
        const model = new Map<string, { available: bigint; held: bigint }>();
        const modelOf = (account: string) => model.get(account) ?? { available: 0n, held: 0n };
        for (const who of REQUESTERS) await applyMovement(store, faucetMovement(`start-${who}`, who, START, 0));
        model.set("ext:faucet", { available: -START * BigInt(REQUESTERS.length), held: 0n });
        for (const who of REQUESTERS) model.set(requesterAccount(who), { available: START, held: 0n });
        const holds = new Map<number, { who: string; amount: bigint; closed: boolean }>();
        const applied: Array<() => Delivery> = [];
        const faucets = new Set<number>();
        const again = async (build: () => Delivery) => {
          const d = build();
          const before = snapshot(store);
          expect(await deliver(store, d), `${d.m.id} delivered again`).toBe("duplicate");
          expect(snapshot(store), `${d.m.id} delivered again changed the store`).toBe(before);
        };

        // Act and Assess, step by step
        for (const { s, again: twice } of steps) {
          if (s.t === "redeliver") {
            if (applied.length) await again(applied[s.pick % applied.length]!);
            continue;
          }
          let build: () => Delivery;
          let expected: "applied" | "duplicate" | "overdraft";
          if (s.t === "faucet") {
            build = () => ({ m: faucetMovement(String(s.id), REQUESTERS[s.who]!, s.amount, 0) });
            expected = faucets.has(s.id) ? "duplicate" : "applied";
          } else if (s.t === "hold") {
            if (holds.has(s.job)) continue; // a job is held once; its redelivery is a "redeliver" step
            const who = REQUESTERS[s.who]!;
            build = () => ({
              m: holdMovement(`j${s.job}`, who, s.amount, 0),
              ...(inJob(s.job)
                ? { record: { op: "put", table: "jobs", item: { ...jobItemKey(s.job), status: "assigned" }, when: { kind: "notExists" } } }
                : {}),
            });
            expected = modelOf(requesterAccount(who)).available < s.amount ? "overdraft" : "applied";
          } else {
            const h = holds.get(s.job);
            // a job recorded in its item can be closed only once, whichever way (settle after
            // refund, or refund after settle, is its record's condition failing: a duplicate);
            // for a ledger-item job that is the job item's business, not the ledger's
            if (!h || (h.closed && !inJob(s.job))) continue;
            const { who, amount } = h;
            const close = s.t;
            const worker = WORKERS[s.t === "settle" ? s.worker : 0]!;
            const cost = s.t === "settle" ? (amount * BigInt(s.costPermille)) / 1000n : 0n;
            build = () => ({
              m:
                close === "settle"
                  ? settleMovement(`j${s.job}`, who, worker, amount, cost, 0)
                  : refundMovement(`j${s.job}`, who, amount, 0),
              ...(inJob(s.job) ? { record: closeRecord(s.job, close === "settle" ? "completed" : "refunded") } : {}),
            });
            expected = h.closed ? "duplicate" : "applied";
          }
          const d = build();
          const before = snapshot(store);
          const got = await deliver(store, d);
          expect(got, d.m.id).toBe(expected);
          if (got !== "applied") {
            expect(snapshot(store), `${d.m.id} (${got}) changed the store`).toBe(before);
            continue;
          }
          for (const p of d.m.postings) model.set(p.account, { ...modelOf(p.account), [p.field]: modelOf(p.account)[p.field] + p.delta });
          if (s.t === "hold") holds.set(s.job, { who: REQUESTERS[s.who]!, amount: s.amount, closed: false });
          if (s.t === "settle" || s.t === "refund") holds.get(s.job)!.closed = true;
          if (s.t === "faucet") faucets.add(s.id);
          applied.push(build);
          if (twice) await again(build);
        }

        // Assess: the store holds exactly the model's balances: each movement applied once
        for (const account of ["ext:faucet", ...REQUESTERS.map(requesterAccount), ...WORKERS.map(workerAccount)]) {
          expect(await getBalance(store, account), account).toEqual({ account, ...modelOf(account) });
        }
      }),
      { numRuns: 150 },
    );
  });
});
