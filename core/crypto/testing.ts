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
