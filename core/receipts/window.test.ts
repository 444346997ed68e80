/**
 * The time-windowed inbox's rule (./window.ts; wired in ./log.ts, tested there by window-wired,
 * window-passes and window-migration) played out: settlements
 * whose clocks are skewed and whose commits land late, an anchorer whose clock is skewed too
 * (and sometimes goes back), cuts that crash before their record commits, batch limits below
 * the backlog. Every receipt must be anchored exactly once, with no write by the anchorer per
 * receipt: the ranges never overlap, the sweep takes the stragglers, and it needs only the
 * job ids of the batches whose ranges end inside its window.
 */
import { describe, expect, it } from "vitest";
import { Prng } from "../../test/sim/prng";
import { cmpPos, planCut, type Pos, type WindowEntry } from "./window";

const LAG = 120_000; // ms: longest a settling function runs after taking `now`, plus skew, with margin
const SKEW = 2_000; // ms: each clock's largest error
const SWEEP = 30 * 60_000; // ms of positions behind a range's start that a sweep re-reads
const INTERVAL = 300_000; // ms between the anchorer's runs

interface Settled extends WindowEntry {
  /** true time it committed (visible to the anchorer's reads from then on) */
  committed: number;
  /** it committed within LAG less both clocks' skew of its clock reading: a range must take it, never the sweep */
  prompt: boolean;
}
interface Batch {
  from: Pos;
  upTo: Pos;
  /** the running maximum of the positions taken by this batch and every one before (the record keeps it) */
  maxSoFar?: Pos;
  take: string[];
  late: string[];
}

/** A world of settlements: most commit within LAG of their clock reading, `straggle` of them up to 15 minutes later. */
function settlements(rng: Prng, n: number, straggle: number): Settled[] {
  const out: Settled[] = [];
  for (let i = 0; i < n; i++) {
    const t = rng.range(0, 6 * 3_600_000); // true time the settler took `now`
    const at = t + rng.range(-SKEW, SKEW);
    const prompt = !rng.chance(straggle);
    const delay = prompt ? rng.range(0, LAG - 2 * SKEW) : rng.range(LAG, 15 * 60_000);
    out.push({ at, sk: `job_${String(i).padStart(6, "0")}`, committed: t + delay, prompt });
  }
  return out;
}

/** The anchorer over `world`: its runs until every commit is long past; returns the batches it fixed. */
function anchor(rng: Prng, world: readonly Settled[], o: { max: number; sweep: boolean; crash: number; clockBack?: number }): Batch[] {
  const batches: Batch[] = [];
  const end = Math.max(...world.map((e) => e.committed)) + SWEEP + 4 * INTERVAL;
  for (let r = rng.range(0, INTERVAL); r < end; r += rng.range(INTERVAL / 2, INTERVAL)) {
    const clock = r + rng.range(-SKEW, SKEW) - (rng.chance(o.clockBack ?? 0) ? rng.range(0, 20 * 60_000) : 0);
    const visible = world.filter((e) => e.committed <= r);
    const from: Pos = batches.at(-1)?.upTo ?? [-Infinity, ""];
    // what the real cut reads besides the partitions: the job ids of the batches (back from the
    // latest) whose running maximum reaches `from`, and for a sweep of [from - SWEEP, from) those
    // whose range end or running maximum reaches its start
    const idsBack = (reaches: (b: Batch) => boolean) => {
      const ids = new Set<string>();
      for (let k = batches.length - 1; k >= 0 && reaches(batches[k]!); k--)
        for (const id of [...batches[k]!.take, ...batches[k]!.late]) ids.add(id);
      return ids;
    };
    const reachesPos = (b: Batch, p: Pos) => b.maxSoFar !== undefined && cmpPos(b.maxSoFar, p) >= 0;
    const taken = idsBack((b) => reachesPos(b, from));
    let swept: { entries: Settled[]; anchored: Set<string> } | undefined;
    if (o.sweep && batches.length) {
      const start: Pos = [from[0] - SWEEP, ""];
      swept = {
        entries: visible.filter((e) => cmpPos([e.at, e.sk], start) >= 0 && cmpPos([e.at, e.sk], from) < 0),
        anchored: idsBack((b) => cmpPos(b.upTo, start) > 0 || reachesPos(b, start)),
      };
    }
    const plan = planCut({ from, cutoff: clock - LAG, entries: visible, taken, max: o.max, swept });
    if (plan.take.length === 0 && plan.late.length === 0) continue; // nothing to cut: no batch
    if (rng.chance(o.crash)) continue; // crashed before its record + head committed: nothing fixed
    const prev = batches.at(-1)?.maxSoFar;
    const maxSoFar = prev && (!plan.maxPos || cmpPos(prev, plan.maxPos) > 0) ? prev : plan.maxPos;
    batches.push({ from, upTo: plan.upTo, maxSoFar, take: plan.take.map((e) => e.sk), late: plan.late.map((e) => e.sk) });
  }
  return batches;
}

const anchoredCounts = (batches: readonly Batch[]) => {
  const n = new Map<string, number>();
  for (const b of batches) for (const id of [...b.take, ...b.late]) n.set(id, (n.get(id) ?? 0) + 1);
  return n;
};

describe("the time-windowed receipt inbox (design core)", () => {
  it("anchors every receipt exactly once across skewed clocks, late commits, stragglers, crashes and small batches", () => {
    // Prepare / Act / Assess over 40 seeded worlds
    for (let seed = 1; seed <= 40; seed++) {
      const rng = new Prng(seed);
      const world = settlements(rng, 400, 0.05);
      const batches = anchor(rng, world, { max: rng.pick([7, 40, 1000]), sweep: true, crash: 0.2, clockBack: 0.05 });

      const counts = anchoredCounts(batches);
      expect(
        world.filter((e) => counts.get(e.sk) !== 1).map((e) => e.sk),
        `seed ${seed}`,
      ).toEqual([]);
      // the sweep is the net, not the path: what committed in time is taken by a range
      const late = new Set(batches.flatMap((b) => b.late));
      expect(
        world.filter((e) => e.prompt && late.has(e.sk)).map((e) => e.sk),
        `seed ${seed}`,
      ).toEqual([]);
      expect(late.size, `seed ${seed}`).toBeGreaterThan(0);
      // the ranges tile the log: each begins where the one before ended, and never runs back
      for (const [i, b] of batches.entries()) {
        if (i > 0) expect(b.from).toEqual(batches[i - 1]!.upTo);
        expect(cmpPos(b.upTo, b.from)).toBeGreaterThanOrEqual(0);
      }
    }
  });

  it("without the sweep a straggler is never anchored (why the sweep exists)", () => {
    const rng = new Prng(7);
    const world = settlements(rng, 400, 0.05);

    const counts = anchoredCounts(anchor(rng, world, { max: 1000, sweep: false, crash: 0 }));

    const lost = world.filter((e) => !counts.has(e.sk));
    expect(lost.length).toBeGreaterThan(0);
    expect(lost.every((e) => e.committed - e.at > LAG - SKEW)).toBe(true);
  });

  it("a batch limit below the backlog ends the range at the first entry left out; the next batch starts there", () => {
    const entries = [3, 1, 2, 2, 5].map((at, i) => ({ at, sk: `job_${i}` }));

    const first = planCut({ from: [0, ""], cutoff: 100, entries, taken: new Set(), max: 2 });
    const second = planCut({ from: first.upTo, cutoff: 100, entries, taken: new Set(), max: 10 });

    expect(first.take.map((e) => e.sk)).toEqual(["job_1", "job_2"]);
    expect(first.upTo).toEqual([2, "job_3"]);
    expect(second.take.map((e) => e.sk)).toEqual(["job_3", "job_0", "job_4"]);
    expect(second.upTo).toEqual([100, ""]);
  });

  it("takes what it sees past the cutoff at once, but ends its range at the cutoff; the next batch leaves those out by their job ids", () => {
    const entries = [10, 150, 160].map((at, i) => ({ at, sk: `job_${i}` }));

    const first = planCut({ from: [0, ""], cutoff: 100, entries, taken: new Set(), max: 10 });
    const later = [...entries, { at: 120, sk: "job_late_commit" }];
    const second = planCut({ from: first.upTo, cutoff: 200, entries: later, taken: new Set(first.take.map((e) => e.sk)), max: 10 });

    expect(first.take.map((e) => e.sk)).toEqual(["job_0", "job_1", "job_2"]);
    expect(first.upTo).toEqual([100, ""]);
    expect(first.maxPos).toEqual([160, "job_2"]);
    expect(second.take.map((e) => e.sk)).toEqual(["job_late_commit"]);
    expect(second.upTo).toEqual([200, ""]);
  });

  it("an anchorer clock that went back covers nothing new and moves no range back", () => {
    const entries = [{ at: 50, sk: "job_a" }];

    const plan = planCut({ from: [90, ""], cutoff: 40, entries, taken: new Set(), max: 10 });

    expect(plan).toEqual({ take: [], late: [], upTo: [90, ""] });
  });

  it("a sweep takes an entry behind the range's start only when no batch took it, once, late ones first", () => {
    const old = { at: 10, sk: "job_old" };
    const done = { at: 11, sk: "job_done" };
    const fresh = { at: 60, sk: "job_new" };

    const plan = planCut({
      from: [50, ""],
      cutoff: 100,
      entries: [fresh],
      taken: new Set(),
      max: 1,
      swept: { entries: [old, done, old], anchored: new Set(["job_done"]) },
    });

    expect(plan.late).toEqual([old]);
    expect(plan.take).toEqual([]);
    expect(plan.upTo).toEqual([60, "job_new"]);
  });
});
