/**
 * The simulation's only source of randomness: xoshiro128** seeded through splitmix32. Every
 * choice the simulator makes (who acts, which store operation runs next, which fault fires,
 * every key and every amount) comes from one instance, so a seed replays exactly.
 */
export class Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  constructor(readonly seed: number) {
    let x = seed >>> 0;
    const split = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = split();
    this.s1 = split();
    this.s2 = split();
    this.s3 = split();
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    return result;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error("pick from an empty list");
    return xs[this.int(xs.length)]!;
  }

  /** One of `options`, with probability proportional to its weight (weights ≤ 0 never). */
  weighted<T>(options: ReadonlyArray<readonly [T, number]>): T {
    let total = 0;
    for (const [, w] of options) if (w > 0) total += w;
    if (total <= 0) throw new Error("weighted pick with no positive weight");
    let r = this.float() * total;
    for (const [v, w] of options) {
      if (w <= 0) continue;
      r -= w;
      if (r < 0) return v;
    }
    return options.filter(([, w]) => w > 0).at(-1)![0];
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.u32();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (v >>> (8 * j)) & 0xff;
    }
    return out;
  }

  hex(nBytes: number): string {
    return Buffer.from(this.bytes(nBytes)).toString("hex");
  }

  /** A new generator whose stream depends on this one's (for sub-streams that must not shift the main one). */
  fork(): Prng {
    return new Prng(this.u32());
  }
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;
