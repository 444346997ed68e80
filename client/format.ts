import { formatTon } from "../api-client/format";
import type { CancelJobResponse, JobView } from "../events/api";
import type { AskResult } from "./sdk";
import type { JournaledJob } from "./journal";
import type { WithdrawOutcome } from "../api-client/money";
import { vaultMessageLines, type VaultMessage } from "../api-client/vault-messages";

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
    `  usage ${r.usage.promptTokens} prompt + ${r.usage.completionTokens} completion tokens${r.usage.reasoningTokens ? ` (${r.usage.reasoningTokens} of them thinking)` : ""} · cost ${r.cost} nanoTON (${formatTon(r.cost)}), held ${r.maxCost}`,
  ].join("\n");
}

/**
 * `cocoon job`: one of your jobs as the coordinator stores it (unchecked: `cocoon ask` checks an
 * answer's receipt and bill), to read before asking again after a lost connection or a timeout:
 * its status, usage and cost.
 */
export function formatJob(j: JobView): string {
  const worker = j.workerId ? ` · worker ${j.workerId}${j.tier ? ` (tier ${j.tier})` : ""}` : "";
  const lines = [`job ${j.jobId}: ${j.status}${j.outcome ? ` (${j.outcome})` : ""} · model ${j.model}${worker}`];
  const usage = j.receipt?.body.usage;
  if (usage) lines.push(`  usage ${usage.promptTokens} prompt + ${usage.completionTokens} completion tokens (its receipt)`);
  if (j.cost !== undefined) lines.push(`  cost ${j.cost} nanoTON (${formatTon(BigInt(j.cost))}), held ${j.maxCost}`);
  else if (j.status === "refunded") lines.push(`  cost nothing: the ${j.maxCost} nanoTON held went back to your balance`);
  else lines.push(`  running: holds up to ${j.maxCost} nanoTON (${formatTon(BigInt(j.maxCost))}) until it ends`);
  if (j.cancelledAt !== undefined) lines.push(`  cancelled at ${new Date(j.cancelledAt).toISOString()}`);
  if (j.failure) lines.push(`  failure: worker ${j.failure.workerId} reported ${j.failure.code} (attempt ${j.failure.attempt + 1})`);
  return lines.join("\n");
}

/**
 * `cocoon jobs --json`'s row: the journal's line and the job's state, flat (status "not_submitted":
 * its submit never landed; "expired": the coordinator no longer keeps its records).
 */
export function jobsRow({ entry: e, job, expired }: JournaledJob) {
  return {
    jobId: e.jobId,
    model: e.model,
    createdAt: e.createdAt,
    maxCost: e.maxCost,
    ...(e.tab ? { tab: e.tab } : {}),
    status: job ? job.status : expired ? ("expired" as const) : ("not_submitted" as const),
    ...(job?.outcome !== undefined ? { outcome: job.outcome } : {}),
    ...(job?.cost !== undefined ? { cost: job.cost } : {}),
    ...(job?.cancelledAt !== undefined ? { cancelledAt: job.cancelledAt } : {}),
  };
}
export type JobsRow = ReturnType<typeof jobsRow>;

/** `cocoon jobs`: one line per job, newest first: when it was asked, its model, where it stands and what it cost. */
export function formatJobs(rows: JobsRow[], journal: string): string {
  if (rows.length === 0)
    return `no jobs of this key on this API in ${journal} (cocoon ask and cocoon serve record each job there before submitting it)`;
  const lines = rows.map((r) => {
    const head = `${r.jobId}  ${new Date(r.createdAt).toISOString()}  ${r.model}${r.tab ? ` (tab slot ${r.tab.slot})` : ""}  `;
    if (r.status === "expired")
      return `${head}records expired: the coordinator no longer keeps this job (it keeps jobs a set time after they end, 30 days by default)`;
    if (r.status === "not_submitted")
      return `${head}not submitted: the coordinator has no such job (its submit never landed: nothing held, nothing billed)`;
    // a job cancelled while it ran is "completed" with what was generated: said so, not read as an answer given whole
    const note =
      r.outcome ?? (r.status === "completed" && r.cancelledAt !== undefined ? "cancelled: billed for what was generated" : undefined);
    const status = `${r.status}${note ? ` (${note})` : ""}`;
    if (r.cost !== undefined) return `${head}${status} · cost ${r.cost} nanoTON (${formatTon(BigInt(r.cost))}), held ${r.maxCost}`;
    if (r.status === "refunded") return `${head}${status} · cost nothing: the ${r.maxCost} nanoTON held went back`;
    return `${head}${status} · running: holds up to ${r.maxCost} nanoTON (${formatTon(BigInt(r.maxCost))})`;
  });
  return [...lines, "(newest submitted first; `cocoon job JOB_ID` shows one in full)"].join("\n");
}

/** `cocoon cancel`'s answer (and what `cocoon ask` says after a Ctrl-C cancelled its job). */
export function formatCancel(r: CancelJobResponse): string {
  if (!r.cancelled) return `job ${r.jobId} had already ended (${r.status}): nothing to cancel, nothing changed`;
  return `cancelled job ${r.jobId}${r.cancelledAt !== undefined ? ` at ${new Date(r.cancelledAt).toISOString()}` : ""}: its worker stops; it is billed only for what was generated, or refunded if nothing was (\`cocoon job ${r.jobId}\` shows its bill once it ended)`;
}

/**
 * `cocoon withdraw` on the local network, where the sandbox wallet sent it: what was paid, and
 * its seqno, which `cocoon withdrawal <seqno>` takes (its help says cocoon withdraw prints it).
 */
export function withdrawalSent(w: WithdrawOutcome, resumed: string): string {
  return (
    `withdrew ${formatTon(w.withdrawal.amount)} from the vault ${w.withdrawal.vault} to ${w.withdrawal.to}${resumed} (local TON sandbox, not mainnet)\n` +
    `  withdrawal seqno ${w.withdrawal.seqno} (\`cocoon withdrawal ${w.withdrawal.seqno}\` shows where it stands)\n` +
    `  tx ${w.txHash}\n  recorded by the chain watcher: ${w.status}; ${formatTon(w.available)} available`
  );
}

/**
 * `cocoon withdraw` where cocoon cannot send the withdrawal (no local sandbox): what to send, as a
 * link any TON wallet opens with the vault, the gas and the body filled in, and the raw parts.
 */
export function withdrawalToSend(w: WithdrawOutcome, resumed: string, m: VaultMessage): string {
  return [
    `signed withdrawal seqno ${w.withdrawal.seqno}${resumed} — NOT paid yet: send its Withdraw message to the vault before ${new Date(w.withdrawal.expiry * 1000).toISOString()} from any TON wallet (unused, it is released back to your balance after that; \`cocoon withdrawal ${w.withdrawal.seqno}\` shows where it stands):`,
    ...vaultMessageLines(m),
    `  the ${formatTon(m.amount)} pays its gas: less is refused (ERR_LOW_VALUE); what is left over is paid to ${w.withdrawal.to} with the withdrawal`,
    `  ${formatTon(w.withdrawal.amount)} reserved for it; ${formatTon(w.available)} still available`,
    `  the withdrawal: ${JSON.stringify(w.withdrawal)}`,
  ].join("\n");
}
