/** Test factories shared by the agent's suites. */
import { sealRequest } from "../core/crypto/envelope";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import type { AgentJob } from "../events/api";
import { MODEL } from "../test/helpers";
import type { Engine, EngineRequest, EngineResult } from "./engines/engine";

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

/**
 * An engine that holds every generation until `open()` (a job kept running while a test acts),
 * then answers `result`; `calls` records the requests. A suite opens it in its cleanup, so no
 * job is left waiting.
 */
export function gatedEngine(
  result: EngineResult = { text: "ok", usage: { promptTokens: 3, completionTokens: 1 }, finishReason: "stop", engine: "gated" },
) {
  let open = false;
  const waiting: Array<() => void> = [];
  const calls: EngineRequest[] = [];
  const engine: Engine & { calls: EngineRequest[]; open(): void } = {
    name: "gated",
    calls,
    models: async () => [MODEL],
    async generate(req) {
      calls.push(req);
      if (!open) await new Promise<void>((r) => waiting.push(r));
      return result;
    },
    open() {
      open = true;
      for (const w of waiting.splice(0)) w();
    },
  };
  return engine;
}
