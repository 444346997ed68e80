/**
 * The time-windowed receipt log as core/receipts/log.ts wires it, over a day and more: receipts
 * whose settling functions commit promptly, minutes late, half an hour late or hours late (a
 * stalled process, a clock far behind), an anchorer whose clock is skewed and sometimes goes
 * back, killed at a random write of some runs, with a batch limit below the backlog. Every
 * receipt committed less than a day after its time is anchored exactly once: by a range when it
 * committed within WINDOW_LAG_MS, else by the first straggler pass (WINDOW_PASSES_MS) that reads
 * its position after it committed; a late one has its index item, and every one is found by
 * indexOf from its time alone.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../local/memory-store";
import { KilledError, killAtWrite } from "../../test/fixtures/kill-store";
import { Prng } from "../../test/sim/prng";
import { makeWorker } from "../crypto/testing";
import { newJobId } from "../ids";
import { anchorChunkPk, appendReceiptOp, receiptIndexKey, StoreAnchorLog, WINDOW_LAG_MS, WINDOW_PASSES_MS, withMovementLog } from "./log";
import { signedReceipt } from "./testing";

const T0 = Date.parse("2026-04-01T00:00:00Z");
const MIN = 60_000;
const HOUR = 60 * MIN;
const worker = makeWorker();

interface Settled {
  jobId: string;
  /** the settling function's clock reading: the entry's time */
  at: number;
  /** when its transaction commits */
  committed: number;
  kind: "prompt" | "minutes" | "half-hour" | "hours";
}

/** `n` settlements over two hours; commit delays by kind (the late ones past WINDOW_LAG_MS). */
function settlements(rng: Prng, n: number): Settled[] {
  const kinds: Array<[Settled["kind"], number, number]> = [
    ["prompt", 0, WINDOW_LAG_MS - 5_000],
    ["minutes", WINDOW_LAG_MS + 10_000, 10 * MIN],
    ["half-hour", 15 * MIN, 29 * MIN],
    ["hours", 2 * HOUR, 20 * HOUR],
  ];
  return Array.from({ length: n }, (_, i) => {
    const at = T0 + rng.range(0, 2 * HOUR);
    const [kind, lo, hi] = i < n * 0.7 ? kinds[0]! : rng.pick(kinds.slice(1));
    return { jobId: newJobId(at), at, committed: at + rng.range(lo, hi), kind };
  });
}

/** Every job id in every batch's receipt chunks, with the batch. */
async function anchored(log: StoreAnchorLog): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (let s = 1; s <= (await log.latestSeqno()); s++) {
    const r = (await log.record(s))!;
    for (let c = 0; c < r.receiptChunks; c++) {
      const chunk = await log.store.get("chain", { pk: anchorChunkPk(r), sk: `r#${String(c).padStart(6, "0")}` });
      for (const id of chunk!.jobIds as string[]) out.set(id, [...(out.get(id) ?? []), s]);
    }
  }
  return out;
}

describe("the time-windowed receipt log's straggler passes, wired", () => {
  it("over 27 hours of runs (skewed clock, a clock gone back, kills, small batches) every receipt committed within a day of its time is anchored once, and found from its time", async () => {
    for (let seed = 1; seed <= 4; seed++) {
      // Prepare
      const rng = new Prng(seed);
      const inner = createMemoryStore();
      const store = withMovementLog(inner);
      const log = new StoreAnchorLog(store, { chunk: 5, concurrency: 2 });
      const world = settlements(rng, 60).sort((a, b) => a.committed - b.committed);
      let next = 0;

      // Act: a run every 4 to 6 minutes until a day and three hours after the last settlement
      for (let t = T0; t < T0 + 27 * HOUR; t += rng.range(4 * MIN, 6 * MIN)) {
        for (; next < world.length && world[next]!.committed <= t; next++) {
          const e = world[next]!;
          await store.transact([appendReceiptOp(e.jobId, signedReceipt(worker, e.jobId), e.at)]);
        }
        const clock = t + rng.range(-2_000, 2_000) - (rng.chance(0.03) ? rng.range(0, 20 * MIN) : 0);
        const kill = rng.chance(0.1) ? killAtWrite(inner, rng.range(1, 6)) : undefined;
        await log
          .prepareNext(clock, { maxReceipts: 7, maxMovements: 100 })
          .catch((e: unknown) => expect(e, `seed ${seed}`).toBeInstanceOf(KilledError));
        kill?.restart();
      }

      // Assess
      const got = await anchored(log);
      expect(
        world.filter((e) => got.get(e.jobId)?.length !== 1).map((e) => [e.kind, got.get(e.jobId)]),
        `seed ${seed}`,
      ).toEqual([]);
      expect(got.size, `seed ${seed}`).toBe(world.length);
      for (const e of world) {
        const index = await log.indexOf(e.jobId, e.at);
        expect(index, `seed ${seed} ${e.kind}`).toMatchObject({ anchorSeqno: got.get(e.jobId)![0] });
        expect(index!.receipt.body.jobId).toBe(e.jobId);
        // only a straggler has an index item: the prompt ones cost the anchorer no write
        if (e.kind === "prompt") expect(await inner.get("chain", receiptIndexKey(e.jobId)), `seed ${seed}`).toBeUndefined();
      }
      expect(world.filter((e) => e.kind === "hours").length, `seed ${seed}`).toBeGreaterThan(0);
    }
  });

  it("a straggler committed after the deep pass read its minute is in no batch (the bound the passes give: a day)", async () => {
    // Prepare: runs every 5 minutes for 25 hours, nothing settled; then an entry dated T0 + 10 min commits
    const inner = createMemoryStore();
    const log = new StoreAnchorLog(withMovementLog(inner));
    let t = T0;
    for (; t < T0 + 25 * HOUR + 30 * MIN; t += 5 * MIN) await log.prepareNext(t);
    const jobId = newJobId(T0 + 10 * MIN);
    await inner.transact([appendReceiptOp(jobId, signedReceipt(worker, jobId), T0 + 10 * MIN)]);

    // Act
    for (let i = 0; i < 24; i++, t += 5 * MIN) await log.prepareNext(t);

    // Assess
    expect(WINDOW_PASSES_MS.at(-1)).toBe(24 * HOUR);
    expect(await log.latestSeqno()).toBe(0);
    expect(await log.indexOf(jobId, T0 + 10 * MIN)).toBeUndefined();
  });

  it("stragglers beyond the batch limit: the pass reads the same minutes again next cut, so none is skipped", async () => {
    // Prepare: a first cut; then five entries dated inside its range commit late
    const inner = createMemoryStore();
    const log = new StoreAnchorLog(withMovementLog(inner), { chunk: 10 });
    const first = newJobId(T0);
    await inner.transact([appendReceiptOp(first, signedReceipt(worker, first), T0)]);
    await log.prepareNext(T0 + 3 * MIN);
    const late = Array.from({ length: 5 }, (_, i) => newJobId(T0 + i));
    for (const [i, j] of late.entries()) await inner.transact([appendReceiptOp(j, signedReceipt(worker, j), T0 + i)]);

    // Act: cuts of at most two receipts, five minutes apart
    for (let i = 1; i <= 8; i++) await log.prepareNext(T0 + 3 * MIN + i * 5 * MIN, { maxReceipts: 2, maxMovements: 10 });

    // Assess: all five taken late, once each, in batches of two
    const got = await anchored(log);
    expect(late.map((j) => got.get(j)?.length)).toEqual([1, 1, 1, 1, 1]);
    const counts = [];
    for (let s = 2; s <= (await log.latestSeqno()); s++) counts.push((await log.record(s))!.late);
    expect(counts).toEqual([2, 2, 1]);
  });
});
