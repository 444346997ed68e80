/**
 * Issue 14: the handler fuzz (test/fuzz/handlers.ts) in its CI size. Bodies derived from the
 * events/ schemas pass validation and reach every route's handler, varied in ids, amounts,
 * attempts, signatures and orderings: no 5xx, no crash or hang, every 4xx names its problem
 * with a code, every 2xx matches its response schema, and the ledger's invariants hold after
 * every scenario. `npm run fuzz -- --cases 100000` runs the manual size.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { devChainRoutes, httpRelayRoutes, routes } from "../functions/http/routes";
import { arbitraryFor, unsupported } from "./fuzz/arbitrary";
import { formatReport, fuzzHandlers } from "./fuzz/handlers";
import { bodyText, hostileBody, RawJson } from "./fuzz/hostile";
import { DevWithdrawRequest } from "../events/withdrawals";
import type { WriteOp } from "../core/ports";
import { isHoldCommit } from "../core/jobs/testing";

const CASES = Number(process.env.FUZZ_CASES ?? 1200);

describe("handler fuzz (issue 14)", () => {
  it("what the schema arbitraries draw passes the schemas: for every route's body, query and headers", () => {
    for (const r of [...routes, ...devChainRoutes, ...httpRelayRoutes]) {
      for (const part of ["body", "query", "headers"] as const) {
        const schema = r.spec[part];
        if (!schema) continue;
        const drawn = fc.sample(arbitraryFor(schema), { numRuns: 50, seed: 14 });
        const bad = drawn.filter((v) => !schema.safeParse(v).success);
        expect(bad, `${r.spec.method} ${r.spec.path} ${part}`).toEqual([]);
      }
    }
    expect([...unsupported]).toEqual([]);
  });

  it(`~${CASES} requests over every route: no 5xx, every 4xx with a code, 2xx match their schemas, the ledger holds; every route's handler is reached`, async () => {
    // Act
    // 20_152: the draws changed with the hostile values (test/fuzz/hostile.ts). Results go mostly to jobs assigned to
    // their worker (test/fuzz/handlers.ts), so they reach a 200 a few dozen times in 1,200 requests on any seed
    // (20_141..20_160 all pass), not once by luck
    const report = await fuzzHandlers({ cases: CASES, seed: Number(process.env.FUZZ_SEED ?? 20_152) });
    // Assess (the per-request and per-scenario checks throw inside)
    const all = [...routes, ...devChainRoutes, ...httpRelayRoutes];
    const unreached = all.map((r) => `${r.spec.method} ${r.spec.path}`).filter((k) => !((report.routes[k]?.reached ?? 0) > 0));
    expect(unreached, formatReport(report)).toEqual([]);
    // the money routes got past validation to their handlers many times, not once by luck
    for (const k of [
      "POST /v1/jobs",
      "POST /v1/agent/results",
      "POST /v1/account/withdraw",
      "POST /v1/agents/voucher",
      "POST /v1/jobs/prepare",
    ]) {
      expect(report.routes[k]?.reached ?? 0, `${k}\n${formatReport(report)}`).toBeGreaterThanOrEqual(20);
    }
    // and the valid paths succeed, not only refusals
    for (const [k, status] of [
      ["POST /v1/jobs", "202"],
      ["POST /v1/agent/results", "200"],
      ["POST /v1/account/withdraw", "200"],
      ["POST /v1/agents/voucher", "200"],
      ["POST /v1/dev/wallet/deposit", "202"],
    ] as const) {
      expect(report.routes[k]?.statuses[status] ?? 0, `${k} ${status}\n${formatReport(report)}`).toBeGreaterThan(0);
    }
    // a worker's results are accepted many times (the settlement and a failure's stored reply are reached), not once by luck
    expect(report.routes["POST /v1/agent/results"]?.statuses["200"] ?? 0, formatReport(report)).toBeGreaterThanOrEqual(5);
  }, 60_000);

  it("the hostile draws (test/fuzz/hostile.ts) are fixed by their seed, bounded, and reach past the schema's shallow values", () => {
    // Prepare: a valid dev withdrawal
    const valid = DevWithdrawRequest.parse({
      withdrawal: {
        vault: "0:" + "f".repeat(64),
        account: "A".repeat(43),
        to: "0:" + "a".repeat(64),
        amount: "1",
        seqno: 0,
        expiry: 1,
        signature: "A".repeat(86) + "==",
      },
    });
    // Act
    const bodies = Array.from({ length: 400 }, (_, i) => bodyText(hostileBody(DevWithdrawRequest, valid, i)));
    const again = Array.from({ length: 400 }, (_, i) => bodyText(hostileBody(DevWithdrawRequest, valid, i)));
    // Assess
    expect(again).toEqual(bodies);
    expect(Math.max(...bodies.map((b) => b.length))).toBeLessThan(1_300_000);
    expect(bodies.some((b) => /"seqno":(4294967296|9007199254740993|18446744073709551616)/.test(b))).toBe(true);
    expect(bodies.some((b) => /"to":"(999|-129|128):/.test(b))).toBe(true);
    expect(bodies.some((b) => b.includes("[".repeat(1000)) || b.includes('{"a":'.repeat(1000)))).toBe(true);
    expect(bodies.some((b) => b.length > 200_000)).toBe(true);
    expect(bodies.some((b) => b.includes('"__proto__"'))).toBe(true);
    expect(bodyText({ deep: new RawJson("[[]]"), n: 1n })).toBe('{"deep":[[]],"n":"1"}');
  });

  describe("positive controls: the fuzz fails when the coordinator is broken on purpose", () => {
    it("a store that fails now and then (a 500) is caught", async () => {
      const run = fuzzHandlers({
        cases: 300,
        seed: 1,
        sabotage: (w) => {
          let n = 0;
          const get = w.store.get.bind(w.store);
          w.store.get = (async (...args: Parameters<typeof get>) => {
            if (args[0] === "jobs" && ++n % 5 === 0) throw new Error("disk on fire");
            return get(...args);
          }) as typeof get;
        },
      });
      await expect(run).rejects.toThrow(/→ 500: a 5xx/);
    });

    it("a faucet credit that takes nothing from ext:faucet (money from nowhere) is caught: the ledger does not sum to zero", async () => {
      const run = fuzzHandlers({
        cases: 300,
        seed: 2,
        sabotage: (w) => {
          const transact = w.store.transact.bind(w.store);
          w.store.transact = (ops: WriteOp[]) =>
            transact(ops.filter((op) => !(op.op === "update" && op.table === "accounts" && op.key.pk === "ext:faucet")));
        },
      });
      await expect(run).rejects.toThrow(/does not sum to zero/);
    });

    it("a hold of one nanoTON more than the job's maximum (still balanced) is caught: held differs from the open jobs' maximum cost", async () => {
      const run = fuzzHandlers({
        cases: 300,
        seed: 4,
        sabotage: (w) => {
          const transact = w.store.transact.bind(w.store);
          w.store.transact = (ops: WriteOp[]) => {
            const isHold = isHoldCommit(ops);
            return transact(
              isHold
                ? ops.map((op) =>
                    op.op === "update" && op.table === "accounts" && op.add?.held !== undefined
                      ? { ...op, add: { available: BigInt(op.add.available as bigint) - 1n, held: BigInt(op.add.held as bigint) + 1n } }
                      : op,
                  )
                : ops,
            );
          };
        },
      });
      await expect(run).rejects.toThrow(/holds \d+, its open jobs' maximum cost is/);
    });

    it("a 2xx body that is not what the route promises is caught", async () => {
      const run = fuzzHandlers({
        cases: 300,
        seed: 3,
        sabotage: (w) => {
          const signer = w.deps.withdrawalSigner!;
          const sign = signer.sign.bind(signer);
          signer.sign = async (x) => ({ signature: (await sign(x)).signature.slice(1) });
        },
      });
      await expect(run).rejects.toThrow(/does not match the route's response schema/);
    });
  });
});
