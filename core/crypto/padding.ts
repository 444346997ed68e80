/**
 * Length padding: what anyone holding a ciphertext (the coordinator, its queues and store, the
 * network, a tdx worker's host) can read of the plaintext's length is its bucket, not its exact
 * size. Buckets start at a floor and then grow by quarter octaves (each 2^(1/4) ≈ 1.19 times the
 * last), so a padded message is at most ~19 % (on average ~9 %) longer than it was, and a
 * guess from its size is good to a factor of 1.19 only.
 *
 * The plaintexts padded here are JSON, which JSON.parse reads the same with trailing spaces:
 * older readers take padded messages as they were, and nothing new has to be signalled.
 *
 * This hides sizes only from those who see ciphertexts alone: the coordinator still bills exact
 * token counts from receipts (docs/security.md "Session 23 review: privacy", item 4).
 */

/** Quarter octaves: the ratio between one bucket and the next. */
const STEPS_PER_DOUBLING = 4;

export class PaddingInputError extends Error {
  override readonly name = "PaddingInputError";
}

/**
 * The smallest bucket ≥ `n`: `floor`, then ⌈floor · 2^(k/4)⌉ for k = 1, 2, … ; never past `cap`
 * (a message the cap refuses would be refused padded too) unless `n` itself is past it.
 */
export function paddedLength(n: number, o: { floor: number; cap: number }): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new PaddingInputError(`a length must be a non-negative integer, got ${n}`);
  if (!Number.isSafeInteger(o.floor) || o.floor < 1 || !Number.isSafeInteger(o.cap) || o.cap < o.floor)
    throw new PaddingInputError(`padding needs 1 ≤ floor ≤ cap, got floor ${o.floor}, cap ${o.cap}`);
  if (n >= o.cap) return n;
  if (n <= o.floor) return o.floor;
  // The log is only a first guess (float rounding): start a step below it, step on until the bucket holds n.
  let k = Math.max(1, Math.floor(STEPS_PER_DOUBLING * Math.log2(n / o.floor)) - 1);
  let bucket = Math.ceil(o.floor * 2 ** (k / STEPS_PER_DOUBLING));
  while (bucket < n) bucket = Math.ceil(o.floor * 2 ** (++k / STEPS_PER_DOUBLING));
  return Math.min(bucket, o.cap);
}

const SPACE = 0x20;

/**
 * `json` (UTF-8 of one JSON text) followed by spaces up to its bucket. Only for JSON: another
 * format would not read the spaces as nothing.
 */
export function padJson(json: Uint8Array, o: { floor: number; cap: number }): Uint8Array {
  const size = paddedLength(json.length, o);
  if (size === json.length) return json;
  const out = new Uint8Array(size).fill(SPACE);
  out.set(json);
  return out;
}

/**
 * A request's plaintext (the SDK): at least 256 bytes, so short prompts all look alike. Not
 * 1 KiB: a DynamoDB write unit is 1 KB, and the floor alone pushed a short prompt's envelope
 * item past it (measured in bench/cost.ts: 1 KiB and 256-byte chunks took the per-job writes
 * 14 → 17 WRU; 256 and 128, 15). A padded envelope past the coordinator's size cap is sent
 * unpadded (only prompts within ~19 % of the cap, ~150 KiB, show their size).
 */
export const REQUEST_PADDING = { floor: 256, cap: Number.MAX_SAFE_INTEGER } as const;

/**
 * Each chunk of a reply (the agent). A streamed chunk carries about a second of tokens: unpadded,
 * its size spells out the lengths of the words in it to whoever sees TLS records (published
 * attacks read answers back from token lengths), so chunks are padded, to 128 bytes at least
 * (the first chunk carries one token: its length alone would name the first word's).
 */
export const CHUNK_PADDING = { floor: 128, cap: Number.MAX_SAFE_INTEGER } as const;
