/**
 * Test factories for the SDK's check of a completed job (checkCompletedJob in client/sdk.ts), shared by
 * sdk.test.ts and sdk-verify.test.ts: one honest completed job, tampered in the one respect a test names.
 * Imported by tests only.
 */
import type { JobView } from "../events/api";
import type { ChunkedReply, EnvelopeHeader, ReceiptBody } from "../events/envelope";
import { ReplyStreamSealer } from "../core/crypto/reply-stream";
import { b64u } from "../core/crypto/encoding";
import { replyProof, replyHash, requestHash, requestTag, sealReply, sealRequestBound } from "../core/crypto/envelope";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { signReceipt } from "../core/crypto/receipt";
import { makeHeader, makeReceiptBody, makeWorker } from "../core/crypto/testing";
import { DEFAULT_PRICING, jobCost } from "../core/pricing";
import { checkCompletedJob, VerificationError, type VerifiedCandidate } from "./sdk";

/** the measurement the worker attested to (in its offer) and that an honest receipt names */
export const MEASUREMENT = "ab".repeat(48);
/** the worker's quoted price a token */
export const PRICE = 100n;
/** the usage an honest receipt bills and the sealed reply reports */
export const USAGE = { promptTokens: 12, completionTokens: 34 };

/** What a test changes of the honest job; anything left out is as an honest worker and coordinator send it. */
export interface Tamper {
  /** the usage inside the sealed reply (what the worker's engine reported, with its thinking's count when it counted) */
  usageInReply?: { promptTokens: number; completionTokens: number; reasoningTokens?: number };
  /** the reply as today's agents seal it (one final chunk of a ChunkedReply), not as an older agent's SealedReply */
  chunked?: boolean;
  /**
   * the worker's attested tier: by default tdx for a chunked reply, and dev for an older agent's
   * SealedReply, which carries no reply proof (the SDK requires one of tdx workers)
   */
  tier?: "tdx" | "dev";
  /** chunk 0's reply proof, from the honest one (undefined: none) */
  proof?: (honest: string) => string | undefined;
  /** receipt fields, still signed by the worker (or by `signer`) */
  receipt?: Partial<ReceiptBody>;
  signer?: "worker" | "stranger";
  /** the bill, from the honest one (undefined: no cost at all) */
  cost?: (honest: bigint) => bigint | undefined;
  maxCost?: string;
  /** the job view as the coordinator returns it */
  job?: (j: JobView) => JobView;
}

/** Factory: a completed job as an honest coordinator returns it, what the SDK kept at submit, and the check. */
export function completedJob(t: Tamper = {}) {
  const worker = makeWorker();
  const replyKey = generateKemKey();
  const header = makeHeader({ replyKey: b64u.encode(replyKey.publicKey), maxCost: t.maxCost ?? "100000" });
  const { envelope, proofKeys } = sealRequestBound({
    header,
    plaintext: new TextEncoder().encode(JSON.stringify({ messages: [{ role: "user", content: "hi" }] })),
    recipients: [{ workerId: worker.workerId, hpkePublicKey: worker.kem.publicKey }],
  });
  const answer = { text: "hello", usage: t.usageInReply ?? USAGE, engine: "test", finishReason: "stop" as const };
  const honestProof = replyProof(proofKeys.get(worker.workerId)!, requestHash(envelope));
  const proof = t.proof ? t.proof(honestProof) : honestProof;
  const reply = t.chunked
    ? chunkedReply(header, worker, answer, { req: requestTag(requestHash(envelope)), ...(proof === undefined ? {} : { proof }) })
    : sealReply(header, worker.workerId, new TextEncoder().encode(JSON.stringify(answer)));
  const body = makeReceiptBody(worker, {
    jobId: header.jobId,
    model: header.model,
    requestHash: requestHash(envelope),
    replyHash: replyHash(reply),
    usage: USAGE,
    measurement: MEASUREMENT,
    ...t.receipt,
  });
  const receipt = signReceipt(body, t.signer === "stranger" ? generateSigningKey() : worker.signing);
  const honest = jobCost(DEFAULT_PRICING, PRICE, body.usage);
  const cost = t.cost ? t.cost(honest) : honest;
  const tier = t.tier ?? (t.chunked ? "tdx" : "dev");
  const base = {
    jobId: header.jobId,
    status: "completed",
    model: header.model,
    workerId: worker.workerId,
    tier,
    attempt: 0,
    maxCost: header.maxCost,
    ...(cost === undefined ? {} : { cost: String(cost) }),
    reply,
    receipt,
    createdAt: 1,
    updatedAt: 2,
  } as JobView;
  const job = t.job ? t.job(base) : base;
  const candidate = {
    workerId: worker.workerId,
    hpkePublicKey: b64u.encode(worker.kem.publicKey),
    pricePerToken: String(PRICE),
    tier,
    measurement: MEASUREMENT,
  } as VerifiedCandidate;
  const check = () =>
    checkCompletedJob({
      job,
      jobId: header.jobId,
      envelope,
      header,
      replyKey,
      encryptedTo: [candidate],
      proofKeys,
      maxCost: header.maxCost,
    });
  return { check, honest, worker, header };
}

/** An answer as one final chunk of a ChunkedReply, sealed as an agent's ChunkWriter does. */
function chunkedReply(
  header: EnvelopeHeader,
  worker: ReturnType<typeof makeWorker>,
  a: { text: string; usage: Record<string, number>; engine: string; finishReason: "stop" },
  binding: { req: string; proof?: string },
): ChunkedReply {
  const sealer = new ReplyStreamSealer(header, worker.workerId, worker.signing);
  const end = { usage: a.usage, engine: a.engine, choices: [{ finishReason: a.finishReason }] };
  sealer.seal(new TextEncoder().encode(JSON.stringify({ ...binding, text: a.text, end })), true);
  return sealer.reply();
}

/** The VerificationError `f` throws, as its code and message, or code "accepted"; any other error propagates. */
export function refusal(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    if (e instanceof VerificationError) return { code: e.code, message: e.message };
    throw e;
  }
  return { code: "accepted", message: "" };
}
