/**
 * Test/bench fixtures for the policy registry on a @ton/sandbox Blockchain: a 2-of-3 multisig
 * of test wallets with a one-hour time lock, a stranger, a fixed clock, and a policy factory.
 */
import { createHash } from "node:crypto";
import { Blockchain, type SandboxContract, type TreasuryContract } from "@ton/sandbox";
import { type Transaction, toNano } from "@ton/core";
import { keyPairFromSeed } from "@ton/crypto";
import { RegistryContract, type Policy, type RegistryConfig } from "./registry";

export const REGISTRY_NOW = 1_750_000_000;
export const REGISTRY_RESERVE = toNano("0.5");
export const TIMELOCK = 3600;

export const digest = (label: string) => createHash("sha256").update(label).digest("hex");

export function testKey(label: string): Buffer {
  const seed = Buffer.alloc(32);
  Buffer.from(label).copy(seed);
  return keyPairFromSeed(seed).publicKey;
}

export function testPolicy(over: Partial<Policy> = {}): Policy {
  return {
    coordinatorKey: testKey("coordinator"),
    fees: { pricePerToken: 100n, promptBps: 2_500, completionBps: 10_000, operatorFeeBps: 500 },
    images: [digest("image v1"), digest("image v2")].sort(),
    models: { [digest("qwen/qwen2-7b")]: 0n },
    ...over,
  };
}

export interface RegistryFixture {
  blockchain: Blockchain;
  /** owners[0..2]: the 2-of-3 multisig. */
  owners: SandboxContract<TreasuryContract>[];
  stranger: SandboxContract<TreasuryContract>;
  registry: SandboxContract<RegistryContract>;
  deployTx: Transaction[];
}

export async function registryFixture(o: Partial<Omit<RegistryConfig, "owners">> & { ownerCount?: number } = {}): Promise<RegistryFixture> {
  const blockchain = await Blockchain.create();
  blockchain.now = REGISTRY_NOW;
  const owners: SandboxContract<TreasuryContract>[] = [];
  for (const name of ["owner-a", "owner-b", "owner-c", "owner-d"].slice(0, o.ownerCount ?? 3)) owners.push(await blockchain.treasury(name));
  const stranger = await blockchain.treasury("stranger");
  const registry = blockchain.openContract(
    await RegistryContract.createFromConfig({
      owners: owners.map((w) => w.address),
      threshold: o.threshold ?? 2,
      timelock: o.timelock ?? TIMELOCK,
      policy: o.policy ?? testPolicy(),
    }),
  );
  const res = await registry.sendDeploy(owners[0]!.getSender(), REGISTRY_RESERVE);
  return { blockchain, owners, stranger, registry, deployTx: res.transactions };
}
