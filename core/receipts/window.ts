/**
 * Issue 12 (wired in core/receipts/log.ts prepareNext): how the anchorer picks a batch from a
 * receipt inbox whose entries it neither deletes nor indexes, so that a settled job costs the
 * anchorer no write at all (before it: one inbox delete and one rlog:<jobId>/r index put, 2
 * WRU a job). The entries stay where the settlement wrote them, in partitions by time
 * (rlog:w<minute>#<shard> / <jobId>, keyed by the settlement's own clock reading `at`, which
 * the job item already states: updatedAt, or its tab's closedAt), and each batch covers a
 * range of (at, jobId) positions that begins where the previous batch's ended.
 *
 * A batch takes every entry it sees from its range's start on (as today: nothing waits), but
 * its range ends no later than `cutoff` = the anchorer's clock less LAG, where LAG exceeds the
 * longest a settling function runs after taking `now` plus the clocks' skew: positions before
 * the cutoff are all committed, so the range is complete. Entries it took beyond its range's
 * end are in the next range too: the next batch leaves out the job ids of the batches that may
 * hold them (those whose largest position so far, a running maximum each record keeps, reaches
 * its range's start; the last one or two). No clock decides what is anchored twice.
 *
 * An entry that commits after a range covering it ended (LAG was wrong: a stalled function, a
 * clock far behind) is a straggler: a sweep re-reads the positions behind the range's start
 * and takes any entry no batch took, as a "late" receipt of the next batch (listed apart so a
 * proof finds it). Nothing is skipped as long as some sweep reads the entry's position after it
 * committed: the wired log runs three passes (log.ts WINDOW_PASSES_MS: 5 minutes, 30 minutes
 * and a day behind the range's start), so an entry committed up to a day late is anchored once.
 *
 * Pure: the caller reads the entries and the job ids of the batches named above, and writes
 * the batch; core/receipts/window.test.ts plays the argument out under clock skew, commit
 * delays, batch limits and crashes.
 */

/** A position in the receipt log's order: the settlement's time, then the job id. */
export type Pos = readonly [at: number, sk: string];

export interface WindowEntry {
  at: number;
  sk: string;
}

export const posOf = (e: WindowEntry): Pos => [e.at, e.sk];

export function cmpPos(a: Pos, b: Pos): number {
  return a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
}

export interface CutPlan<E extends WindowEntry> {
  /** entries from the range's start on that no batch took, oldest first (some may lie beyond upTo) */
  take: E[];
  /** stragglers behind the range's start that no batch took, oldest first */
  late: E[];
  /** where this batch's range ends (exclusive) and the next one's begins: stored with the batch */
  upTo: Pos;
  /** the largest position it took, for the records' running maximum (undefined: none) */
  maxPos?: Pos;
}

/**
 * The next batch. `from`: where the previous batch's range ended (upTo). `cutoff`: the anchorer's
 * clock less LAG. `entries`: what the read of the time partitions from `from` on found.
 * `taken`: the job ids of the batches whose running maximum position reaches `from` (they may
 * have taken entries at or after it). `swept`: a sweep's read of positions before `from`, with
 * the job ids the batches that may hold them took (those whose range end or running maximum
 * reaches the sweep's start). `max`: the batch's receipt limit (late ones first: they are older).
 */
export function planCut<E extends WindowEntry>(p: {
  from: Pos;
  cutoff: number;
  entries: readonly E[];
  taken: ReadonlySet<string>;
  max: number;
  swept?: { entries: readonly E[]; anchored: ReadonlySet<string> };
}): CutPlan<E> {
  const byPos = (a: E, b: E) => cmpPos(posOf(a), posOf(b));
  const once = <T extends E>(xs: readonly T[], keep: (e: T) => boolean, seen: Set<string>) =>
    xs.filter((e) => keep(e) && !seen.has(e.sk) && (seen.add(e.sk), true)).sort(byPos);
  const seen = new Set<string>();
  const late = once(p.swept?.entries ?? [], (e) => cmpPos(posOf(e), p.from) < 0 && !p.swept!.anchored.has(e.sk), seen).slice(0, p.max);
  const fresh = once(p.entries, (e) => cmpPos(posOf(e), p.from) >= 0 && !p.taken.has(e.sk), seen);
  const take = fresh.slice(0, Math.max(0, p.max - late.length));
  // the range ends at the first entry left for the next batch, and never past the cutoff (what
  // lies beyond may not be committed yet); never before its start (an anchorer clock that went
  // back covers nothing new, and skips nothing)
  const cut: Pos = [p.cutoff, ""];
  const left = fresh[take.length];
  const end = left && cmpPos(posOf(left), cut) < 0 ? posOf(left) : cut;
  const upTo = cmpPos(end, p.from) > 0 ? end : p.from;
  return { take, late, upTo, ...(take.length ? { maxPos: posOf(take[take.length - 1]!) } : {}) };
}
