/**
 * The registry's policyState getter as a PolicySource over any provider factory (the sandbox,
 * toncenter's TonClient, the scheduled functions' fetch client), and the conversions between the
 * contract wrapper's Policy and the core's RegistryPolicy. A module of its own, with no client
 * library (issue 12): the chain watcher's bundle takes this without ton/registry.ts's dynamic
 * import of @ton/ton (toncenterPolicySource, for the SDK and the CLI). ton/registry.ts re-exports
 * all of it.
 */
import type { Address } from "@ton/core";
import { RegistryContract, type Policy as ContractPolicy } from "../contracts/registry";
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
