/** Test factories shared by the agent's SQS job source suites. */
import type { AgentJob } from "../../events/api";

export const WORKER = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo";
export const QUEUE_URL = `https://sqs.us-east-1.amazonaws.com/123456789012/cocoon-prod-worker-${WORKER}`;
export const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);

/** Job n (its id ends in n) for WORKER, due a minute after NOW. */
export function agentJob(n: number): AgentJob {
  const jobId = `job_01jdqv6x7s9k2m4n8p0r3t5w${String(n).padStart(2, "0")}`;
  return {
    jobId,
    attempt: 0,
    deadline: NOW + 60_000,
    envelope: {
      header: {
        v: 1,
        jobId,
        requester: "8Jk3n6vB0cQ1yZ2xW4tR5sP7oN9mL0kJ3hG5fD1sA2q",
        model: "llama-3.1-8b-instruct",
        maxTokens: 256,
        maxPromptTokens: 1024,
        maxCost: "1500000",
        replyKey: "q2Aw4Bs6Cd8Ef0Gh2Ij4Kl6Mn8Op0Qr2St4Uv6Wx8Yz",
      },
      nonce: "AAECAwQFBgcICQoL",
      payload: "c2VhbGVkIHBheWxvYWQ",
      keys: [{ workerId: WORKER, enc: "ZW5jYXBzdWxhdGVkLWtleQ", ct: "c2VhbGVkLWRhdGEta2V5" }],
    },
  };
}
