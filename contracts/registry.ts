/**
 * Blueprint-style wrapper over the Tact-generated PolicyRegistry binding
 * (contracts/build/PolicyRegistry_PolicyRegistry.ts): a plain-TS Policy (hex digests, Buffer
 * key, numbers) in and out, so readers (coordinator, agent, SDK) never handle dictionaries.
 */
import { createHash } from "node:crypto";
import { type Address, beginCell, Cell, type Contract, type ContractProvider, Dictionary, type Sender, SendMode, toNano } from "@ton/core";
import {
  loadProposal,
  PolicyRegistry as TactRegistry,
  storeApprove,
  storeExecute,
  storePropose,
  storeRevoke,
  type Policy as TactPolicy,
} from "./build/PolicyRegistry_PolicyRegistry";

export { RegistryExit, registryExitName, type RegistryExitName } from "./errors-registry";

export const REGISTRY_OPCODES = { propose: 0x6b1f0e01, approve: 0x6b1f0e02, revoke: 0x6b1f0e03, execute: 0x6b1f0e04 } as const;

/** Value sent with each owner operation; what gas does not use stays as the storage reserve. */
export const REGISTRY_OP_VALUE = toNano("0.05");

export interface Fees {
  /** Default base price per token, nanoTON. */
  pricePerToken: bigint;
  /** Prompt-token multiplier, 10_000 = ×1. */
  promptBps: number;
  /** Completion-token multiplier, 10_000 = ×1. */
  completionBps: number;
  /** Share of each job's cost kept by the operator, 0..10_000. */
  operatorFeeBps: number;
}

export interface Policy {
  /** 32-byte Ed25519 public key of the coordinator. */
  coordinatorKey: Buffer;
  fees: Fees;
  /** Allowed image measurement digests (measurementDigest()), 64 lower-case hex each. */
  images: string[];
  /** Allowed model digests (64 lower-case hex) → base price per token in nanoTON (0n = fees.pricePerToken). */
  models: Record<string, bigint>;
}

export interface PolicyState {
  version: number;
  /** Chain time (unix seconds) of the last executed change (or of the deploy). */
  updatedAt: number;
  policy: Policy;
}

export interface ProposalState {
  proposer: number;
  baseVersion: number;
  /** Indices of the owners who approved, ascending. */
  approvals: number[];
  /** 0 until approvals reach the threshold; then the earliest chain time it can execute. */
  readyAt: number;
  policy: Policy;
}

export interface MultisigState {
  threshold: number;
  ownerCount: number;
  timelock: number;
  nextProposalId: number;
}

export interface RegistryConfig {
  /** Owner wallets; owner i is owners[i]. */
  owners: Address[];
  /** m: approvals needed to execute. */
  threshold: number;
  /** Seconds between the m-th approval and the earliest execution. */
  timelock: number;
  policy: Policy;
}

/** Digest of a TDX image measurement: SHA-256 over mrtd | rtmr0 | rtmr1 | rtmr2 (48 bytes each). */
export function measurementDigest(m: { mrtd: string; rtmr0: string; rtmr1: string; rtmr2: string }): string {
  const parts = [m.mrtd, m.rtmr0, m.rtmr1, m.rtmr2].map((h) => {
    if (!/^[0-9a-f]{96}$/.test(h)) throw new Error("each TDX measurement register is 48 bytes of lower-case hex");
    return Buffer.from(h, "hex");
  });
  return createHash("sha256").update(Buffer.concat(parts)).digest("hex");
}

const HEX32 = /^[0-9a-f]{64}$/;
const uint = (h: string, what: string) => {
  if (!HEX32.test(h)) throw new Error(`${what} must be 32 bytes of lower-case hex, got ${JSON.stringify(h)}`);
  return BigInt("0x" + h);
};
const hex32 = (n: bigint) => n.toString(16).padStart(64, "0");

export function toTactPolicy(p: Policy): TactPolicy {
  if (p.coordinatorKey.length !== 32) throw new Error("coordinatorKey is a 32-byte Ed25519 public key");
  const images = Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.Bool());
  for (const h of p.images) images.set(uint(h, "image digest"), true);
  const models = Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.BigVarUint(4));
  for (const [h, price] of Object.entries(p.models)) models.set(uint(h, "model digest"), price);
  return {
    $$type: "Policy",
    coordinatorKey: BigInt("0x" + p.coordinatorKey.toString("hex")),
    fees: {
      $$type: "Fees",
      pricePerToken: p.fees.pricePerToken,
      promptBps: BigInt(p.fees.promptBps),
      completionBps: BigInt(p.fees.completionBps),
      operatorFeeBps: BigInt(p.fees.operatorFeeBps),
    },
    images,
    models,
  };
}

export function fromTactPolicy(t: TactPolicy): Policy {
  return {
    coordinatorKey: Buffer.from(hex32(t.coordinatorKey), "hex"),
    fees: {
      pricePerToken: t.fees.pricePerToken,
      promptBps: Number(t.fees.promptBps),
      completionBps: Number(t.fees.completionBps),
      operatorFeeBps: Number(t.fees.operatorFeeBps),
    },
    images: t.images.keys().map(hex32).sort(),
    models: Object.fromEntries(
      t.models
        .keys()
        .map((k) => [hex32(k), t.models.get(k)!] as const)
        .sort(([a], [b]) => (a < b ? -1 : 1)),
    ),
  };
}

function bits(mask: bigint): number[] {
  const out: number[] = [];
  for (let i = 0; i < 16; i++) if ((mask >> BigInt(i)) & 1n) out.push(i);
  return out;
}

export function proposeBody(policy: Policy): Cell {
  return beginCell()
    .store(storePropose({ $$type: "Propose", policy: toTactPolicy(policy) }))
    .endCell();
}
export function approveBody(id: number): Cell {
  return beginCell()
    .store(storeApprove({ $$type: "Approve", id: BigInt(id) }))
    .endCell();
}
export function revokeBody(id: number): Cell {
  return beginCell()
    .store(storeRevoke({ $$type: "Revoke", id: BigInt(id) }))
    .endCell();
}
export function executeBody(id: number): Cell {
  return beginCell()
    .store(storeExecute({ $$type: "Execute", id: BigInt(id) }))
    .endCell();
}

export class RegistryContract implements Contract {
  constructor(
    readonly address: Address,
    readonly init?: { code: Cell; data: Cell },
  ) {}

  static createFromAddress(address: Address): RegistryContract {
    return new RegistryContract(address);
  }

  static async createFromConfig(c: RegistryConfig): Promise<RegistryContract> {
    const owners = Dictionary.empty(Dictionary.Keys.Address(), Dictionary.Values.Uint(8));
    c.owners.forEach((a, i) => owners.set(a, i));
    const t = await TactRegistry.fromInit(owners, BigInt(c.threshold), BigInt(c.timelock), toTactPolicy(c.policy));
    return new RegistryContract(t.address, t.init);
  }

  /** Deploys with a first top-up (the storage reserve); init checks the multisig and the policy. */
  async sendDeploy(provider: ContractProvider, via: Sender, value: bigint): Promise<void> {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: new Cell() });
  }

  async sendTopUp(provider: ContractProvider, via: Sender, value: bigint): Promise<void> {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: new Cell() });
  }

  /** An owner proposes the whole next policy (counts as its approval; replaces its previous open proposal). */
  async sendPropose(provider: ContractProvider, via: Sender, policy: Policy, value: bigint = REGISTRY_OP_VALUE): Promise<void> {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: proposeBody(policy) });
  }

  async sendApprove(provider: ContractProvider, via: Sender, id: number, value: bigint = REGISTRY_OP_VALUE): Promise<void> {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: approveBody(id) });
  }

  async sendRevoke(provider: ContractProvider, via: Sender, id: number, value: bigint = REGISTRY_OP_VALUE): Promise<void> {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: revokeBody(id) });
  }

  async sendExecute(provider: ContractProvider, via: Sender, id: number, value: bigint = REGISTRY_OP_VALUE): Promise<void> {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: executeBody(id) });
  }

  async getPolicyState(provider: ContractProvider): Promise<PolicyState> {
    const s = await TactRegistry.fromAddress(this.address).getPolicyState(provider);
    return { version: Number(s.version), updatedAt: Number(s.updatedAt), policy: fromTactPolicy(s.policy) };
  }

  async getVersion(provider: ContractProvider): Promise<number> {
    return Number(await TactRegistry.fromAddress(this.address).getVersion(provider));
  }

  async getImageAllowed(provider: ContractProvider, digest: string): Promise<boolean> {
    return TactRegistry.fromAddress(this.address).getImageAllowed(provider, uint(digest, "image digest"));
  }

  async getModelAllowed(provider: ContractProvider, digest: string): Promise<boolean> {
    return TactRegistry.fromAddress(this.address).getModelAllowed(provider, uint(digest, "model digest"));
  }

  async getProposal(provider: ContractProvider, id: number): Promise<ProposalState | null> {
    const cell = await TactRegistry.fromAddress(this.address).getProposal(provider, BigInt(id));
    if (!cell) return null;
    const p = loadProposal(cell.beginParse());
    return {
      proposer: Number(p.proposer),
      baseVersion: Number(p.baseVersion),
      approvals: bits(p.approvals),
      readyAt: Number(p.readyAt),
      policy: fromTactPolicy(p.policy),
    };
  }

  async getMultisig(provider: ContractProvider): Promise<MultisigState> {
    const m = await TactRegistry.fromAddress(this.address).getMultisig(provider);
    return {
      threshold: Number(m.threshold),
      ownerCount: Number(m.ownerCount),
      timelock: Number(m.timelock),
      nextProposalId: Number(m.nextProposalId),
    };
  }

  /** Owner wallets by index. */
  async getOwners(provider: ContractProvider): Promise<Address[]> {
    const d = await TactRegistry.fromAddress(this.address).getOwners(provider);
    const out: Address[] = [];
    for (const a of d.keys()) out[d.get(a)!] = a;
    return out;
  }

  async getBalance(provider: ContractProvider): Promise<bigint> {
    return (await provider.getState()).balance;
  }
}
