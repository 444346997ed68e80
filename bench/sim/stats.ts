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

/** Min-heap of events by (time, sequence): equal times run in the order they were scheduled. */
export class EventHeap<E extends { t: number; seq: number }> {
  private readonly a: E[] = [];
  get size() {
    return this.a.length;
  }
  push(e: E) {
    const a = this.a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(a[p]!, e)) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = e;
  }
  peek(): E | undefined {
    return this.a[0];
  }
  pop(): E | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      let i = 0;
      const n = a.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && less(a[r]!, a[l]!) ? r : l;
        if (less(last, a[c]!)) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}
const less = (x: { t: number; seq: number }, y: { t: number; seq: number }) => x.t < y.t || (x.t === y.t && x.seq < y.seq);
