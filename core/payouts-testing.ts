/**
 * Test factories for the payout suites: a voucher signer that records what it signed, and a
 * settlement credit from outside the books (as core/jobs would book a job's, here from an
 * external account so a suite needs no requester or job).
 */
import { applyMovement } from "./ledger";
import { InvalidPayoutAddressError, type VoucherSigner } from "./payouts";
import type { Store } from "./ports";

/** A signer over the vault 0:ff…f that takes raw basechain addresses only and records each voucher it signs. */
export function recordingVoucherSigner(): { signer: VoucherSigner; signed: Array<Parameters<VoucherSigner["sign"]>[0]> } {
  const signed: Array<Parameters<VoucherSigner["sign"]>[0]> = [];
  const signer: VoucherSigner = {
    vault: "0:" + "f".repeat(64),
    payoutAddress(a) {
      if (!/^0:[0-9a-f]{64}$/.test(a)) throw new InvalidPayoutAddressError(`bad address ${a}`);
      return a;
    },
    async sign(v) {
      signed.push(v);
      return { signature: `sig:${v.worker}:${v.cumulative}:${v.expiry}` };
    },
  };
  return { signer, signed };
}

/** `amount` credited to `account` by the settlement of `job` (id `settle:<job>`), from the external account ext:jobs. */
export async function creditSettlement(store: Store, account: string, amount: bigint, job: string, at: number): Promise<void> {
  await applyMovement(store, {
    id: `settle:${job}`,
    kind: "settle",
    at,
    postings: [
      { account: "ext:jobs", field: "available", delta: -amount },
      { account, field: "available", delta: amount },
    ],
  });
}
