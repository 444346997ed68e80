/** Test factories shared by the agent's suites. */
import { sealRequest } from "../core/crypto/envelope";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import type { AgentJob } from "../events/api";
import { MODEL } from "../test/helpers";

let seq = 0;
/**
 * A fresh job sealed to `kem` for worker `workerId`, attempt 0, its lease ending `leaseMs` from now:
 * a one-message chat unless `plaintext` gives another request (a completion, embeddings, tools).
 */
export function sealedJob(
  workerId: string,
  kem: { publicKey: Uint8Array },
  leaseMs = 30_000,
  plaintext: Record<string, unknown> = { messages: [{ role: "user", content: "x" }] },
): AgentJob {
  const jobId = `job_${String(++seq).padStart(26, "0")}`;
  const envelope = sealRequest({
    header: {
      v: 1,
      jobId,
      requester: generateSigningKey().id,
      model: MODEL,
      maxTokens: 16,
      maxPromptTokens: 100,
      maxCost: "1000",
      replyKey: b64u.encode(generateKemKey().publicKey),
    },
    plaintext: new TextEncoder().encode(JSON.stringify(plaintext)),
    recipients: [{ workerId, hpkePublicKey: kem.publicKey }],
  });
  return { jobId, attempt: 0, envelope, deadline: Date.now() + leaseMs };
}
