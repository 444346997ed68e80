import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford base32, lower case

/** Time-ordered 26-char id (ULID layout): 10 chars of ms timestamp + 16 chars of randomness. */
export function ulid(now: number): string {
  let t = now;
  let time = "";
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const rnd = randomBytes(16);
  let r = "";
  for (let i = 0; i < 16; i++) r += ALPHABET[rnd[i]! % 32];
  return time + r;
}

export const newJobId = (now: number) => `job_${ulid(now)}`;
