/**
 * TON adapters of the policy registry (issue 15): the contract's `policyState` getter as a
 * PolicySource (core/policy-registry.ts), over any provider factory (TonClient on AWS, the
 * sandbox locally), with the chain time of the state it read; and the conversions between the
 * contract wrapper's Policy (Buffer key) and the core's RegistryPolicy (hex key); and the checks
 * that what the coordinator signs for the vault (withdrawals, vouchers) is signed by the key on
 * the registry.
 */
import { Address } from "@ton/core";
import { voucherHash, withdrawalHash } from "../contracts/vault";
import { accountIdToUint } from "../core/chain/account";
import { payeeHexToUint } from "../core/chain/payee";
import { verifySignature } from "../core/crypto/keys";
import type { Voucher } from "../events/money";
import type { SignedWithdrawalView } from "../events/withdrawals";
import type { PolicySource } from "../core/policy-registry";
import { ChainPolicySource, toncenterClock } from "./registry-source";

export { ChainPolicySource, fromContractPolicy, toContractPolicy, toncenterClock, type ChainClock } from "./registry-source";

/** The registry at `address` through toncenter (the SDK's and the CLI's reader; the AWS routes read the chain watcher's snapshot). */
export async function toncenterPolicySource(o: { address: string; endpoint: string; apiKey?: string }): Promise<PolicySource> {
  const [{ TonClient }, { Address }] = await Promise.all([import("@ton/ton"), import("@ton/core")]);
  const client = new TonClient({ endpoint: o.endpoint, apiKey: o.apiKey });
  const address = Address.parse(o.address);
  return new ChainPolicySource(client, address, toncenterClock(client, address));
}

// ---------------------------------------------------------------- what the coordinator signs, checked against the on-chain key

/**
 * Whether a coordinator-signed withdrawal (POST /v1/account/withdraw) verifies under
 * `coordinatorKey` (64 hex: the registry's). The vault checks the same signature over the same
 * cell (contracts/vault.ts withdrawalHash), so a withdrawal this refuses would bounce there too;
 * checking it first tells the requester that the coordinator signs with a key the registry's
 * owners did not put on chain, before anything is sent.
 */
export function withdrawalSignedBy(w: SignedWithdrawalView, coordinatorKey: string): boolean {
  try {
    const hash = withdrawalHash(Address.parse(w.vault), {
      account: accountIdToUint(w.account),
      to: Address.parse(w.to),
      amount: BigInt(w.amount),
      seqno: w.seqno,
      expiry: w.expiry,
    });
    return verifySignature(Buffer.from(coordinatorKey, "hex"), hash, Buffer.from(w.signature, "base64"));
  } catch {
    return false; // a malformed address or amount verifies nothing
  }
}

/** The same for a payout voucher (POST /v1/agents/voucher), which the vault checks over voucherHash. */
export function voucherSignedBy(v: Voucher, coordinatorKey: string): boolean {
  try {
    const hash = voucherHash(Address.parse(v.vault), {
      payee: payeeHexToUint(v.payee),
      to: Address.parse(v.worker),
      cumulative: BigInt(v.cumulative),
      expiry: v.expiry,
    });
    return verifySignature(Buffer.from(coordinatorKey, "hex"), hash, Buffer.from(v.signature, "base64"));
  } catch {
    return false;
  }
}
