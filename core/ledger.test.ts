import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../local/memory-store";
import {
  applyMovement,
  faucetMovement,
  getBalance,
  holdMovement,
  movementOps,
  OverdraftError,
  refundMovement,
  requesterAccount,
  settleMovement,
  UnbalancedMovementError,
  workerAccount,
} from "./ledger";

const REQUESTERS = ["alice", "bob"];
const WORKERS = ["w1", "w2"];

type Cmd =
  | { t: "faucet"; who: number; amount: bigint; id: number }
  | { t: "hold"; who: number; job: number; amount: bigint }
  | { t: "settle"; job: number; worker: number; costPermille: number }
  | { t: "refund"; job: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ t: fc.constant("faucet" as const), who: fc.nat(1), amount: fc.bigInt(1n, 10_000n), id: fc.nat(20) }),
  fc.record({ t: fc.constant("hold" as const), who: fc.nat(1), job: fc.nat(15), amount: fc.bigInt(0n, 5_000n) }),
  fc.record({ t: fc.constant("settle" as const), job: fc.nat(15), worker: fc.nat(1), costPermille: fc.nat(1000) }),
  fc.record({ t: fc.constant("refund" as const), job: fc.nat(15) }),
);

async function allAccounts(store: ReturnType<typeof createMemoryStore>) {
  const names = ["ext:faucet", ...REQUESTERS.map(requesterAccount), ...WORKERS.map(workerAccount)];
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
                const m =
                  c.t === "settle"
                    ? settleMovement(`j${c.job}`, h.who, WORKERS[c.worker]!, h.amount, (h.amount * BigInt(c.costPermille)) / 1000n, 0)
                    : refundMovement(`j${c.job}`, h.who, h.amount, 0);
                await applyMovement(store, m);
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
