/** Small statistics for the simulator's report: quantiles, Gini, a binary heap of timed events. */

/** q-quantile (0..1) of a list, nearest rank; NaN for an empty list. Sorts a copy. */
export function quantile(xs: ArrayLike<number>, q: number): number {
  if (xs.length === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

export function quantiles(xs: ArrayLike<number>, qs: number[]): number[] {
  if (xs.length === 0) return qs.map(() => NaN);
  const s = Float64Array.from(xs).sort();
  return qs.map((q) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!);
}

/** Gini coefficient of non-negative amounts: 0 = all equal, → 1 = one holds everything; NaN when nobody has anything (nothing to compare). */
export function gini(xs: ArrayLike<number>): number {
  const n = xs.length;
  if (n === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  let cum = 0;
  let weighted = 0;
  for (let i = 0; i < n; i++) {
    cum += s[i]!;
    weighted += (i + 1) * s[i]!;
  }
  if (cum === 0) return NaN;
  return (2 * weighted) / (n * cum) - (n + 1) / n;
}

/**
 * The Gini a matcher would leave from chance alone, for the same jobs (their earnings, as the
 * equal agents earned them) dealt to `agents` agents in three reference ways, each averaged over
 * `trials` random orders: round-robin (every agent the same number of jobs, ±1: only the job
 * sizes differ), uniformly at random (what matching blind to earnings gives), and
 * least-earned-first (each job, in a random order, to the agent that has earned least so far:
 * the best any one-job-at-a-time matcher can do). With a few jobs per agent, sizes alone keep
 * round-robin above 0.
 */
export function giniFloors(
  jobs: number[],
  agents: number,
  rnd: () => number,
  trials = 10,
): { roundRobin: number; uniformRandom: number; leastEarnedFirst: number } {
  if (agents === 0 || jobs.length === 0) return { roundRobin: NaN, uniformRandom: NaN, leastEarnedFirst: NaN };
  const order = jobs.slice();
  const shuffle = () => {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
  };
  let rr = 0;
  let ur = 0;
  let lef = 0;
  const earned = new Float64Array(agents);
  for (let t = 0; t < trials; t++) {
    shuffle();
    earned.fill(0);
    for (let i = 0; i < order.length; i++) earned[i % agents]! += order[i]!;
    rr += gini(earned);
    earned.fill(0);
    for (const x of order) earned[Math.floor(rnd() * agents)]! += x;
    ur += gini(earned);
    // least earned first: a binary min-heap of agent indices by earnings
    earned.fill(0);
    const heap = Int32Array.from({ length: agents }, (_, i) => i);
    for (const x of order) {
      const a = heap[0]!;
      earned[a]! += x;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= agents) break;
        const r = l + 1;
        const c = r < agents && earned[heap[r]!]! < earned[heap[l]!]! ? r : l;
        if (earned[a]! <= earned[heap[c]!]!) break;
        heap[i] = heap[c]!;
        i = c;
      }
      heap[i] = a;
    }
    lef += gini(earned);
  }
  return { roundRobin: rr / trials, uniformRandom: ur / trials, leastEarnedFirst: lef / trials };
}

/** Reservoir of at most `cap` values (uniform sample of everything offered). */
export class Reservoir {
  readonly values: number[] = [];
  seen = 0;
  constructor(
    private readonly cap: number,
    private readonly rnd: () => number,
  ) {}
  add(x: number) {
    this.seen++;
    if (this.values.length < this.cap) this.values.push(x);
    else {
      const j = Math.floor(this.rnd() * this.seen);
      if (j < this.cap) this.values[j] = x;
    }
  }
}

/**
 * Min-heap of events by (time, sequence): equal times run in the order they were scheduled.
 * The order is one number per event (ms since `origin` × 2^24 + sequence mod 2^24: exact in a
 * double for runs under 2^29 ms, about 6 simulated days), kept in a typed array beside the
 * events, so comparisons never touch the event objects.
 */
export class EventHeap<E extends { t: number; seq: number }> {
  private keys = new Float64Array(1 << 16);
  private vals: E[] = [];
  constructor(private readonly origin: number) {}
  get size() {
    return this.vals.length;
  }
  private key(e: E) {
    return (e.t - this.origin) * 16_777_216 + (e.seq % 16_777_216);
  }
  push(e: E) {
    const n = this.vals.length;
    if (n >= this.keys.length) {
      const k = new Float64Array(this.keys.length * 2);
      k.set(this.keys);
      this.keys = k;
    }
    const keys = this.keys;
    const vals = this.vals;
    const key = this.key(e);
    vals.push(e);
    let i = n;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (keys[p]! <= key) break;
      keys[i] = keys[p]!;
      vals[i] = vals[p]!;
      i = p;
    }
    keys[i] = key;
    vals[i] = e;
  }
  peek(): E | undefined {
    return this.vals[0];
  }
  pop(): E | undefined {
    const vals = this.vals;
    const keys = this.keys;
    const top = vals[0];
    const last = vals.pop();
    const n = vals.length;
    if (n > 0 && last !== undefined) {
      const lk = keys[n]!;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && keys[r]! < keys[l]! ? r : l;
        if (lk <= keys[c]!) break;
        keys[i] = keys[c]!;
        vals[i] = vals[c]!;
        i = c;
      }
      keys[i] = lk;
      vals[i] = last;
    }
    return top;
  }
}
