/**
 * The local default's issue-15 contracts in its TON sandbox (local/chain.ts), beside the vault:
 *   - ReceiptAnchor, posted to by the coordinator's anchoring wallet (a wallet v5r1 whose seed
 *     derives from the coordinator seed, so it survives restarts with chain.json);
 *   - PolicyRegistry, owned by a 2-of-3 multisig of sandbox test wallets ("policy-owner-0..2"),
 *     with a short time lock, seeded with the policy the coordinator starts from.
 * Their addresses are kept in `stateFile` (contracts.json next to chain.json): a later start
 * reuses them even when the seed policy (hence the registry's init address) changed.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { Address, toNano, type Transaction } from "@ton/core";
import type { SandboxContract, SendMessageResult, TreasuryContract } from "@ton/sandbox";
import { AnchorContract } from "../contracts/anchor";
import { registryExitName, RegistryContract, type MultisigState, type ProposalState } from "../contracts/registry";
import { CocoonError } from "../core/errors";
import { policyToBody, type PolicyCache, type RegistryPolicy } from "../core/policy-registry";
import type { DevContracts } from "../functions/http/dev-contracts";
import { anchorWallet, ChainAnchorReader, derivedAnchorSeed, WalletAnchorPoster } from "../ton/anchor";
import { ChainPolicySource, fromContractPolicy, toContractPolicy } from "../ton/registry";
import type { LocalChain } from "./chain";

export const LOCAL_REGISTRY_THRESHOLD = 2;
export const LOCAL_REGISTRY_OWNERS = 3;
/** Local default: a change executes 30 s after its m-th approval (tests move the sandbox clock instead). */
export const LOCAL_REGISTRY_TIMELOCK_SECONDS = 30;

export interface OwnerOpResult {
  success: boolean;
  /** exit code by name (ERR_...) when the registry refused */
  error?: string;
  exitCode?: number;
}

export interface LocalContracts {
  anchorAddress: Address;
  registryAddress: Address;
  anchorReader: ChainAnchorReader;
  anchorPoster: WalletAnchorPoster;
  policySource: ChainPolicySource;
  registry: SandboxContract<RegistryContract>;
  /** owner i's wallet */
  owners: SandboxContract<TreasuryContract>[];
  propose(owner: number, policy: RegistryPolicy): Promise<OwnerOpResult & { id: number }>;
  approve(owner: number, id: number): Promise<OwnerOpResult>;
  execute(owner: number, id: number): Promise<OwnerOpResult>;
  proposal(id: number): Promise<(Omit<ProposalState, "policy"> & { policy: RegistryPolicy }) | null>;
  multisig(): Promise<MultisigState>;
}

interface StateFile {
  v: 1;
  anchor: string;
  registry: string;
}

export async function startLocalContracts(
  chain: LocalChain,
  o: { seed: RegistryPolicy; stateFile?: string; timelockSeconds?: number },
): Promise<LocalContracts> {
  const b = chain.blockchain;
  const saved: StateFile | undefined =
    o.stateFile && existsSync(o.stateFile) ? (JSON.parse(readFileSync(o.stateFile, "utf8")) as StateFile) : undefined;
  const active = async (a: Address) => (await b.getContract(a)).accountState?.type === "active";
  const funder = await chain.wallet("contracts-funder");

  // ---- anchor: the coordinator's anchoring wallet, funded with sandbox TON, and the contract
  const w = anchorWallet(derivedAnchorSeed(chain.coordinator.secretKey.subarray(0, 32)));
  if ((await b.getContract(w.wallet.address)).balance < toNano("10"))
    await funder.send({ to: w.wallet.address, value: toNano("100"), bounce: false });
  const fresh = b.openContract(await AnchorContract.createFromConfig({ coordinator: w.wallet.address }));
  const anchorAddress = saved ? Address.parse(saved.anchor) : fresh.address;
  if (!(await active(anchorAddress))) {
    if (!anchorAddress.equals(fresh.address))
      throw new Error(`${o.stateFile} names anchor ${saved!.anchor}, which is not on this chain: delete the file to deploy a fresh one`);
    await fresh.sendDeploy(funder.getSender(), toNano("1"));
  }

  // ---- registry: 2-of-3 test owners, seeded policy
  const owners: SandboxContract<TreasuryContract>[] = [];
  for (let i = 0; i < LOCAL_REGISTRY_OWNERS; i++) owners.push(await chain.wallet(`policy-owner-${i}`));
  const created = await RegistryContract.createFromConfig({
    owners: owners.map((x) => x.address),
    threshold: LOCAL_REGISTRY_THRESHOLD,
    timelock: o.timelockSeconds ?? LOCAL_REGISTRY_TIMELOCK_SECONDS,
    policy: toContractPolicy(o.seed),
  });
  let registryAddress = saved ? Address.parse(saved.registry) : created.address;
  if (!(await active(registryAddress))) {
    registryAddress = created.address;
    await b.openContract(created).sendDeploy(owners[0]!.getSender(), toNano("1"));
  }
  if (o.stateFile)
    writeFileSync(
      o.stateFile,
      JSON.stringify({ v: 1, anchor: anchorAddress.toRawString(), registry: registryAddress.toRawString() } satisfies StateFile, null, 2),
    );
  const registry = b.openContract(RegistryContract.createFromAddress(registryAddress));

  const outcome = (res: SendMessageResult): OwnerOpResult => {
    const tx = res.transactions.find(
      (t: Transaction) =>
        t.inMessage?.info.dest &&
        typeof t.inMessage.info.dest !== "string" &&
        "equals" in t.inMessage.info.dest &&
        t.inMessage.info.dest.equals(registryAddress),
    );
    const d = tx?.description;
    if (!d || d.type !== "generic") return { success: false, error: "ERR_NO_REGISTRY" };
    if (!d.aborted) return { success: true };
    const exitCode = d.computePhase.type === "vm" ? d.computePhase.exitCode : undefined;
    return { success: false, exitCode, error: (exitCode !== undefined ? registryExitName(exitCode) : undefined) ?? `exit_${exitCode}` };
  };
  const owner = (i: number) => {
    const wallet = owners[i];
    // the route's schema allows 0..15 (a multisig's size); this sandbox has fewer: the caller's mistake, a 400
    if (!wallet) throw new CocoonError(400, "unknown_owner", `owner index ${i} is outside 0..${owners.length - 1}`);
    return wallet.getSender();
  };
  /** A registry owner's message, sent alone (LocalChain.exclusiveSend). */
  const sendResult = (f: () => Promise<unknown>) => chain.exclusiveSend(f) as Promise<SendMessageResult>;
  /** `x` with the methods that send (`isSend` by name) made alone (LocalChain.exclusiveSend); reads as they are. */
  const sendingAlone = <T extends object>(x: T, isSend: (name: string) => boolean): T =>
    new Proxy(x, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== "function") return v;
        const f = v as (...args: unknown[]) => Promise<unknown>;
        return typeof prop === "string" && isSend(prop)
          ? (...args: unknown[]) => chain.exclusiveSend(() => f.apply(target, args))
          : f.bind(target);
      },
    });

  return {
    anchorAddress,
    registryAddress,
    anchorReader: new ChainAnchorReader(b, anchorAddress),
    anchorPoster: new WalletAnchorPoster(
      {
        provider: (a, i) => sendingAlone(b.provider(a, i), (m) => m === "external" || m === "internal"),
        open: (x) => sendingAlone(b.openContract(x), (m) => m.startsWith("send")),
      },
      w,
      anchorAddress,
    ),
    // The sandbox runs in this process: a read always sees its newest state, so the read is as
    // old as the wall clock says (a test may pin the sandbox's own clock far in the past).
    policySource: new ChainPolicySource(b, registryAddress, async () => Date.now() / 1000),
    registry,
    owners,
    async propose(i, policy) {
      const id = (await registry.getMultisig()).nextProposalId;
      return { ...outcome(await sendResult(() => registry.sendPropose(owner(i), toContractPolicy(policy)))), id };
    },
    approve: async (i, id) => outcome(await sendResult(() => registry.sendApprove(owner(i), id))),
    execute: async (i, id) => outcome(await sendResult(() => registry.sendExecute(owner(i), id))),
    async proposal(id) {
      const p = await registry.getProposal(id);
      return p ? { ...p, policy: fromContractPolicy(p.policy) } : null;
    },
    multisig: () => registry.getMultisig(),
  };
}

/** The dev routes' view of these contracts (functions/http/dev-contracts.ts); `policy` is refreshed after an executed change. */
export function devContractsFor(c: LocalContracts, o: { policy?: PolicyCache } = {}): DevContracts {
  const op = (r: OwnerOpResult) => ({ success: r.success, ...(r.error ? { error: r.error } : {}) });
  return {
    async anchor() {
      return { ...(await c.anchorReader.latest()), address: c.anchorAddress.toRawString() };
    },
    async policy() {
      const [reading, multisig] = await Promise.all([c.policySource.read(), c.multisig()]);
      const proposals = [];
      for (let id = 1; id < multisig.nextProposalId; id++) {
        const p = await c.proposal(id);
        if (p)
          proposals.push({
            id,
            proposer: p.proposer,
            baseVersion: p.baseVersion,
            approvals: p.approvals,
            readyAt: p.readyAt,
            policy: policyToBody(p.policy),
          });
      }
      return {
        address: c.registryAddress.toRawString(),
        version: reading.version,
        updatedAt: reading.updatedAt,
        readAt: Math.floor(reading.readAt),
        policy: policyToBody(reading.policy),
        multisig,
        proposals,
      };
    },
    async propose(owner, policy) {
      const r = await c.propose(owner, policy);
      return { ...op(r), ...(r.success ? { id: r.id } : {}) };
    },
    approve: async (owner, id) => op(await c.approve(owner, id)),
    async execute(owner, id) {
      const r = await c.execute(owner, id);
      if (r.success) await o.policy?.refresh().catch(() => undefined);
      return op(r);
    },
  };
}
