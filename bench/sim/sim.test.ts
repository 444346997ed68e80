/**
 * bench/sim at a small scale, everything real (no crypto stub: that needs the launcher):
 * DynamoDB metering of the SimStore, the AWS wait-read model, and a whole two-phase run whose
 * books must balance and whose every job must end.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../test/temp-dir";
import type { Item } from "../../core/ports";
import { runSim } from "./run";
import { Prng } from "../../test/sim/prng";
import { gini, giniFloors } from "./stats";
import { SimStore } from "./store";
import { DEFAULT_OPTIONS, quietReads } from "./world";

const item = (pk: string, sk: string, bytes: number): Item => ({ pk, sk, blob: "x".repeat(bytes) });

describe("bench/sim: the metering store", () => {
  it("meters writes per started KB, doubled inside a multi-item transaction, and reads per started 4 KB", async () => {
    // Prepare
    const clock = { t: 1_000_000, now: () => clock.t };
    const s = new SimStore(clock);
    s.ctx = "t";
    // Act
    await s.transact([{ op: "put", table: "jobs", item: item("a", "1", 2500) }]); // ~2.5 KB: 3 WRU
    await s.transact([
      { op: "put", table: "jobs", item: item("b", "1", 100) }, // 1 WRU, x2
      { op: "put", table: "jobs", item: item("b", "2", 1500) }, // 2 WRU, x2
    ]);
    await s.get("jobs", { pk: "a", sk: "1" }); // 1 RRU
    await s.query("jobs", "b"); // ~1.7 KB: 1 RRU
    await s.get("jobs", { pk: "nothing", sk: "x" }); // a miss still costs 1 RRU
    // Assess
    const c = s.routes.get("t")!;
    expect(c.wru).toBe(3 + 2 * (1 + 2));
    expect(c.rru).toBe(3);
    expect(c).toMatchObject({ gets: 2, queries: 1, transacts: 2, writeItems: 3, queryItems: 2 });
  });

  it("finds the busiest partition key and its peak units per simulated second", async () => {
    const clock = { t: 5_000_000, now: () => clock.t };
    const s = new SimStore(clock);
    // 30 small writes to one key in one second, 25 the next second; 1 to another key
    for (let i = 0; i < 30; i++) await s.transact([{ op: "put", table: "chain", item: item("hot", `s${i}`, 10) }]);
    clock.t += 1000;
    for (let i = 0; i < 25; i++) await s.transact([{ op: "put", table: "chain", item: item("hot", `t${i}`, 10) }]);
    await s.transact([{ op: "put", table: "chain", item: item("cold", "1", 10) }]);
    clock.t += 1000;
    const b = s.busiest(3);
    expect(b.byWrites[0]).toMatchObject({ key: "chain#hot", peakWriteUnitsPerSec: 30, writeUnits: 55 });
    expect(b.byWrites.some((r) => r.key === "chain#cold")).toBe(false); // never near a limit: not followed
  });

  it("hands out frozen items: a core function that mutated what it read would throw, not corrupt the store", async () => {
    const s = new SimStore({ now: () => 0 });
    const mine = item("p", "s", 5);
    await s.transact([{ op: "put", table: "jobs", item: mine }]);
    mine.blob = "changed by the caller after the write";
    const read = (await s.get("jobs", { pk: "p", sk: "s" }))!;
    expect(read.blob).toBe("xxxxx");
    expect(() => {
      (read as unknown as { blob: string }).blob = "y";
    }).toThrow(TypeError);
  });
});

describe("bench/sim: the fairness floors (what chance alone leaves at a few jobs per agent)", () => {
  it("round-robin of equal jobs is perfectly fair; with unequal jobs least-earned-first < round-robin < at random", () => {
    // Prepare: a fixed generator; 100 agents, 4 jobs each
    const g = new Prng(3);
    const rnd = () => g.float();
    const equalJobs = Array.from({ length: 400 }, () => 1000);
    const mixedJobs = Array.from({ length: 400 }, () => 200 + g.int(1600));
    // Act
    const same = giniFloors(equalJobs, 100, rnd, 3);
    const mixed = giniFloors(mixedJobs, 100, rnd, 3);
    // Assess
    expect(same.roundRobin).toBe(0);
    expect(same.leastEarnedFirst).toBe(0);
    expect(same.uniformRandom).toBeGreaterThan(0.2); // Poisson(4) counts: ~0.28
    expect(mixed.leastEarnedFirst).toBeLessThan(mixed.roundRobin);
    expect(mixed.roundRobin).toBeGreaterThan(0.05);
    expect(mixed.roundRobin).toBeLessThan(mixed.uniformRandom);
    expect(gini([1, 1, 1, 1])).toBe(0);
  });
});

describe("bench/sim: the requester's reads on AWS (issue 12: the answer over the relay, read only in its silence)", () => {
  it("one read per whole 10 s of a generation published whole, none below", () => {
    expect(quietReads(9_999)).toBe(0);
    expect(quietReads(10_000)).toBe(1);
    expect(quietReads(25_000)).toBe(2);
  });
});

describe("bench/sim: a small network, all real", () => {
  it("every job ends (completed, refunded or never placed), the books balance, and the report has its rows", async () => {
    // Act: 300 agents, a 30 s phase A and a 60 s phase B
    const r = await runSim(
      { ...DEFAULT_OPTIONS, agents: 300, rate: 20, minutes: 0.5, requesters: 40, seed: 7, crashPerMinute: 0.02 },
      { phaseB: true, inspect: true },
    );
    // Assess
    for (const p of r.phases) {
      expect(p.jobs.completed + p.jobs.refunded + p.jobs.unplaced).toBe(p.jobs.arrived);
      expect(p.jobs.completed).toBeGreaterThan(0.9 * p.jobs.arrived);
      // a matching decision per prepare: every job not submitted under a kept quote, and every kept quote refused (prepared afresh)
      expect(p.matching.decisions + p.jobs.underKeptQuote - p.jobs.keptQuoteRefused).toBe(p.jobs.arrived);
      expect(p.jobs.underKeptQuote).toBeGreaterThan(0.05 * p.jobs.arrived); // some jobs reuse a kept quote
      expect(p.jobs.quoteRenewals).toBeGreaterThan(0); // and some of their submits renew it (SubmitRequest.renew)
      expect(p.jobs.quoteRenewals).toBeLessThanOrEqual(p.jobs.underKeptQuote);
      expect(Number.isFinite(p.matching.cpuMsP99)).toBe(true);
      expect(p.dynamo.writeUnitsPerJob).toBeGreaterThan(5);
      expect(p.cost.perMillionJobs.total).toBeGreaterThan(0);
    }
    // Double entry: every balance (external accounts included) sums to zero, and no hold is left.
    const balances = r.inspect!.accounts;
    expect(balances.reduce((a, b) => a + b.available + b.held, 0n)).toBe(0n);
    expect(balances.filter((b) => b.held !== 0n)).toEqual([]);
    expect(r.targets.map((t) => t.name.split(" ")[0])).toEqual(["matching", "busiest", "busiest", "earnings", "cost"]);
  }, 120_000);

  it("npm run sim starts from its bundle (external packages resolved by Node's ESM loader) and writes its results: a tiny run", () => {
    // Act
    const out = join(tempDir("cocoon-sim-smoke-"), "sim.json");
    const args = ["--agents", "40", "--rate", "5", "--minutes", "0.1", "--requesters", "5", "--phase-b", "off", "--out", out];
    const r = spawnSync(process.execPath, ["--import", "tsx", "bench/sim/cli.ts", ...args], { encoding: "utf8", timeout: 90_000 });
    // Assess
    expect(r.stderr.match(/ERR_\w+|Error: .*/)?.[0] ?? "").toBe("");
    expect(r.status).toBe(0);
    const written = JSON.parse(readFileSync(out, "utf8")) as { phases: Array<{ jobs: { arrived: number } }> };
    expect(written.phases[0]!.jobs.arrived).toBeGreaterThan(0);
  }, 120_000);
});
