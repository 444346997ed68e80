/**
 * The coordinator's word on a job's settlement, for its requester (session 40, relay review A).
 *
 * Over a pub/sub relay (SQS, AWS IoT Core) the SDK ends a job from the worker's relayed final
 * chunk, which carries the worker's receipt and the bill the coordinator answered its result
 * with. The receipt is the worker's own signature and the bill is a plain field: alone they are
 * the worker's word, and a worker the job already moved away from (or one that never posted its
 * result) could end the requester's call with a genuine answer at the right price while the
 * ledger refunds the job. So the coordinator answers each completed result with a settlement
 * token, and the worker relays it:
 *
 *   token = base64url(HMAC-SHA256(settleKey, "cocoon/v1/settlement\n" + canonicalJson({ attempt, cost, jobId, replyHash })))
 *
 * settleKey is a per-job key the coordinator gave the requester with its submit
 * (SubmitResponse.settleKey, core/jobs/settlement-token.ts derives it from the quote key): the
 * worker never sees it, so it cannot make a token, and a token of another job, attempt, reply or
 * cost does not verify. node:crypto's HMAC only; compared in constant time.
 */
import { createHmac } from "node:crypto";
import { b64u, bytesEqual, canonicalJson } from "./encoding";

export const SETTLEMENT_DOMAIN = "cocoon/v1/settlement\n";

/** What a settlement token covers: the job completed at `attempt` with the reply of `replyHash` (the receipt's), charged `cost`. */
export interface SettlementBody {
  jobId: string;
  attempt: number;
  /** replyHash(reply), as the receipt names it */
  replyHash: string;
  /** nanoTON, as the ledger charged the requester */
  cost: string;
}

/** A settle key's length: HMAC-SHA256's own output, as the coordinator derives it. */
export const SETTLE_KEY_BYTES = 32;

function mac(settleKey: string, s: SettlementBody): Buffer {
  const key = b64u.decode(settleKey);
  if (key.length !== SETTLE_KEY_BYTES) throw new RangeError(`a settle key is ${SETTLE_KEY_BYTES} bytes, got ${key.length}`);
  const body = { jobId: s.jobId, attempt: s.attempt, replyHash: s.replyHash, cost: s.cost };
  return createHmac("sha256", key).update(SETTLEMENT_DOMAIN).update(canonicalJson(body)).digest();
}

/** The token of `s` under the job's settle key (base64url, 43 characters). */
export function settlementMac(settleKey: string, s: SettlementBody): string {
  return b64u.encode(mac(settleKey, s));
}

/** Whether `token` is the settlement token of `s` under `settleKey`; false for a missing or undecodable one (or key). */
export function settlementMatches(settleKey: string | undefined, s: SettlementBody, token: string | undefined): boolean {
  if (settleKey === undefined || token === undefined) return false;
  try {
    return bytesEqual(b64u.decode(token), mac(settleKey, s));
  } catch {
    return false;
  }
}
