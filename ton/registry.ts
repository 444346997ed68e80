/**
 * TON adapters of the policy registry (issue 15): the contract's `policyState` getter as a
 * PolicySource (core/policy-registry.ts), over any provider factory (TonClient on AWS, the
 * sandbox locally), with the chain time of the state it read; and the conversions between the
 * contract wrapper's Policy (Buffer key) and the core's RegistryPolicy (hex key); and the checks
 * that what the coordinator signs for the vault (withdrawals, vouchers) is signed by the key on
 * the registry.
 */
import { Address } from "@ton/core";
import { RegistryContract, type Policy as ContractPolicy } from "../contracts/registry";
import { voucherHash, withdrawalHash } from "../contracts/vault";
import { accountIdToUint } from "../core/chain/account";
import { verifySignature } from "../core/crypto/keys";
import type { Voucher } from "../events/money";
import type { SignedWithdrawalView } from "../events/withdrawals";
import type { PolicyReading, PolicySource, RegistryPolicy } from "../core/policy-registry";
import type { ProviderFactory } from "./anchor";

export const toContractPolicy = (p: RegistryPolicy): ContractPolicy => ({
  coordinatorKey: Buffer.from(p.coordinatorKey, "hex"),
  fees: { ...p.fees },
  images: [...p.images],
  models: { ...p.models },
});
export const fromContractPolicy = (p: ContractPolicy): RegistryPolicy => ({
  coordinatorKey: p.coordinatorKey.toString("hex"),
  fees: { ...p.fees },
  images: [...p.images],
  models: { ...p.models },
});

/** Chain time (unix s) of the state a read sees: toncenter's sync time, or the sandbox clock. */
export type ChainClock = () => Promise<number>;

export class ChainPolicySource implements PolicySource {
  constructor(
    private readonly chain: ProviderFactory,
    readonly registry: Address,
    private readonly chainTime: ChainClock,
  ) {}

  async read(): Promise<PolicyReading> {
    // The time first: the getter then runs on a state at least this new, so the age is never understated.
    const readAt = await this.chainTime();
    const s = await RegistryContract.createFromAddress(this.registry).getPolicyState(this.chain.provider(this.registry));
    return { version: s.version, updatedAt: s.updatedAt, policy: fromContractPolicy(s.policy), readAt };
  }
}

/** toncenter: the time of the masterchain state getContractState answered from (its `timestampt`, sic). */
export const toncenterClock =
  (client: { getContractState(a: Address): Promise<{ timestampt: number }> }, address: Address): ChainClock =>
  async () =>
    (await client.getContractState(address)).timestampt;

/** The registry at `address` through toncenter (the AWS coordinator's reader). */
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
      worker: Address.parse(v.worker),
      cumulative: BigInt(v.cumulative),
      expiry: v.expiry,
    });
    return verifySignature(Buffer.from(coordinatorKey, "hex"), hash, Buffer.from(v.signature, "base64"));
  } catch {
    return false;
  }
}
