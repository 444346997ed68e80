/**
 * The operator's view of its fees (GET /v1/operator/status), as core/workers.ts workerStatus is a
 * worker's: earned and redeemed from the ledger (core/payouts.ts operatorPayoutTotals), plus what
 * only the operator has: its fee shards, and the fee the coordinator settles new jobs with.
 * A module of its own: the fee in force is core/jobs/submit.ts's, which core/payouts.ts must not import
 * (submit → workers → payouts).
 */
import type { OperatorStatusView } from "../events/money";
import type { CoreDeps } from "./deps";
import { operatorFeeBpsOf } from "./jobs/submit";
import { operatorPayoutTotals, requireOperator, type PayoutDeps } from "./payouts";
import { PolicyStaleError } from "./policy-registry";

/** The operator's fees; the operator's key only (403 not_the_operator before anything is read; none configured: 503). */
export async function operatorStatus(deps: CoreDeps & PayoutDeps, caller: string): Promise<OperatorStatusView> {
  requireOperator(deps, caller);
  const [t, fee] = await Promise.all([operatorPayoutTotals(deps.store), operatorFeeInForce(deps)]);
  return {
    earned: t.earned.toString(),
    redeemed: t.redeemed.toString(),
    available: t.available.toString(),
    shards: t.accounts.map((b) => b.available.toString()),
    vouchered: t.issued.toString(),
    ...(t.payoutAddress ? { payoutAddress: t.payoutAddress } : {}),
    fee,
  };
}

/**
 * The fee a job submitted now is settled with, as submit decides it (operatorFeeBpsOf): the
 * registry's of the moment where there is one, else the config's. A registry too stale to act on
 * is said (bps null), not a 503: the balances above are still worth reading.
 */
async function operatorFeeInForce(deps: CoreDeps): Promise<OperatorStatusView["fee"]> {
  if (!deps.policyRegistry) return { bps: operatorFeeBpsOf(deps, undefined), source: "config" };
  try {
    const reading = await deps.policyRegistry.current();
    return { bps: operatorFeeBpsOf(deps, reading), source: "registry", registryVersion: reading.version };
  } catch (e) {
    if (e instanceof PolicyStaleError) return { bps: null, source: "registry" };
    throw e;
  }
}
