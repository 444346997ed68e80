/**
 * mulberry32: a small, fast, seeded PRNG, NOT for secrets. The same seed draws the same sequence
 * on every platform: the tiny test model's weights (agent/engines/tiny-gguf.ts), the cost model's
 * sampled workload (bench/cost.ts), and the tests' and the fuzz's replayable draws. Each call of
 * the returned function gives the next value in [0, 1), a multiple of 2^-32.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
