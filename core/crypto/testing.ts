/** Test factories for core/crypto tests (real-shaped values that pass the events/ schemas). */
import type { EnvelopeHeader, ReceiptBody } from "../../events/envelope";
import { b64u, randomBytes } from "./encoding";
import { generateKemKey, generateSigningKey, type KemKeyPair, type SigningKeyPair } from "./keys";

const B32 = "0123456789abcdefghjkmnpqrstvwxyz";

export function makeJobId(): string {
  const r = randomBytes(26);
  let s = "job_";
  for (const b of r) s += B32[b % 32];
  return s;
}

export function makeHeader(over: Partial<EnvelopeHeader> = {}): EnvelopeHeader {
  return {
    v: 1,
    jobId: makeJobId(),
    requester: generateSigningKey().id,
    model: "qwen/qwen2-7b",
    maxTokens: 256,
    maxPromptTokens: 1024,
    maxCost: "1500000",
    replyKey: b64u.encode(generateKemKey().publicKey),
    ...over,
  };
}

export interface TestWorker {
  workerId: string;
  signing: SigningKeyPair;
  kem: KemKeyPair;
}

export function makeWorker(): TestWorker {
  const signing = generateSigningKey();
  return { workerId: signing.id, signing, kem: generateKemKey() };
}

export function makeReceiptBody(worker: TestWorker, over: Partial<ReceiptBody> = {}): ReceiptBody {
  return {
    v: 1,
    jobId: makeJobId(),
    workerId: worker.workerId,
    model: "qwen/qwen2-7b",
    requestHash: "a".repeat(64),
    replyHash: "b".repeat(64),
    usage: { promptTokens: 12, completionTokens: 34 },
    measurement: "dev",
    finishedAt: 1_764_000_000_000,
    ...over,
  };
}

/** What `f` threw, for the tests that look at the error's class and fields; a call that returns fails the test. */
export function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error, nothing was thrown");
}

/** X25519 u-coordinates of small order (RFC 7748 §5: the top bit is masked, so each with it set too). */
export const SMALL_ORDER_X25519 = [
  "0000000000000000000000000000000000000000000000000000000000000000", // 0
  "0100000000000000000000000000000000000000000000000000000000000000", // 1
  "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", // order 8
  "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", // order 8
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p - 1 (order 2)
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p (= 0)
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p + 1 (= 1)
].flatMap((h) => {
  const high = Buffer.from(h, "hex");
  high[31]! |= 0x80;
  return [h, high.toString("hex")];
});
