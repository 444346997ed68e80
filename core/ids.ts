import { createHash, randomBytes } from "node:crypto";
import type { Random } from "./ports";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford base32, lower case

/** The default randomness: node:crypto. */
export const systemRandom: Random = { bytes: (n) => randomBytes(n) };

/** A uniform integer in [0, n) (n ≤ 2^32; the bias of a 32-bit draw is negligible for sampling). */
export const randomInt = (random: Random, n: number): number => {
  const b = random.bytes(4);
  return Math.floor(((((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) / 2 ** 32) * n);
};

/** Time-ordered 26-char id (ULID layout): 10 chars of ms timestamp + 16 chars of randomness. */
export function ulid(now: number, random: Random = systemRandom): string {
  let t = now;
  let time = "";
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const rnd = random.bytes(16);
  let r = "";
  for (let i = 0; i < 16; i++) r += ALPHABET[rnd[i]! % 32];
  return time + r;
}

export const newJobId = (now: number, random?: Random) => `job_${ulid(now, random)}`;

/** The time (ms) a `job_<ulid>` id names: its first 10 characters, as ulid writes them. */
export function jobIdTime(jobId: string): number {
  let t = 0;
  for (const c of jobId.slice("job_".length, "job_".length + 10)) t = t * 32 + ALPHABET.indexOf(c);
  return t;
}

/** 26 Crockford base32 characters of SHA-256(domain ‖ parts joined by newlines): an id derived, not drawn. */
function derivedId(domain: string, parts: readonly string[]): string {
  const d = createHash("sha256")
    .update(`${domain}\n${parts.join("\n")}`)
    .digest();
  let out = "";
  for (let i = 0; i < 26; i++) out += ALPHABET[d[i]! % 32];
  return out;
}

/** A tab's id, from its requester and the Idempotency-Key that opened it: a retried open names the same tab. */
export const tabIdFor = (requester: string, idempotencyKey: string) => `tab_${derivedId("cocoon/v1/tab-id", [requester, idempotencyKey])}`;

/** The job id of slot `slot` of a tab (issue 12, core/jobs/tabs.ts): each slot is one job id, so it is used at most once. */
export const tabSlotJobId = (tabId: string, slot: number) => `job_${derivedId("cocoon/v1/tab-slot", [tabId, String(slot)])}`;
