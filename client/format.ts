import { formatTon } from "../api-client/format";
import type { AskResult } from "./sdk";

export function formatAnswer(r: AskResult): string {
  const tierNote =
    r.tier === "dev"
      ? "dev (SIMULATED TEE: not confidential hardware)"
      : r.tier === "none"
        ? "none (NOT confidential)"
        : "tdx (attested Intel TDX)";
  return [
    r.text,
    "",
    `  verified: attestation ✓${r.freshEvidence ? ` (fresh, challenge ${r.freshEvidence.challengeId})` : ""} receipt signature ✓ request/reply hashes ✓ usage ✓`,
    `  job ${r.jobId} · model ${r.model} · engine ${r.engine}`,
    `  worker ${r.workerId} · tier ${tierNote}${r.attempt > 0 ? ` · answered by candidate #${r.attempt + 1}` : ""}`,
    `  usage ${r.usage.promptTokens} prompt + ${r.usage.completionTokens} completion tokens · cost ${r.cost} nanoTON (${formatTon(r.cost)}), held ${r.maxCost}`,
  ].join("\n");
}
