import { createHash } from "node:crypto";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Address, beginCell, Dictionary, toNano, type Transaction } from "@ton/core";
import { findTransaction, flattenTransaction } from "@ton/test-utils";
import { Blockchain, type SendMessageResult } from "@ton/sandbox";
import * as Generated from "./build/PolicyRegistry_PolicyRegistry";
import { exitCodesOf, manifestOf, recordedGas, sha256Of } from "./artefacts-testing";
import { measurementDigest, RegistryContract, RegistryExit, toTactPolicy, type Policy, type RegistryExitName } from "./registry";
import {
  digest,
  REGISTRY_NOW,
  REGISTRY_RESERVE,
  registryFixture,
  testKey,
  testPolicy,
  TIMELOCK,
  type RegistryFixture,
} from "./registry-fixtures";

// ---------------------------------------------------------------- helpers
/** Everything observable: policy and version, multisig, every proposal id handed out so far, balance. */
async function state(f: RegistryFixture) {
  const multisig = await f.registry.getMultisig();
  const proposals = [];
  for (let id = 1; id < multisig.nextProposalId; id++) proposals.push(await f.registry.getProposal(id));
  return { policy: await f.registry.getPolicyState(), multisig, proposals, balance: await f.registry.getBalance() };
}

function registryTx(f: RegistryFixture, res: SendMessageResult): Transaction {
  const tx = findTransaction(res.transactions, { to: f.registry.address });
  if (!tx) throw new Error("no transaction on the registry");
  return tx;
}

function expectOk(f: RegistryFixture, res: SendMessageResult): SendMessageResult {
  const flat = flattenTransaction(registryTx(f, res));
  expect({ success: flat.success, exitCode: flat.exitCode }).toEqual({ success: true, exitCode: 0 });
  return res;
}

async function expectRejectedUnchanged(
  f: RegistryFixture,
  act: () => Promise<SendMessageResult>,
  from: Address,
  name: RegistryExitName,
): Promise<void> {
  // Storage rent for time the test moved the clock through is due at the next transaction,
  // failed or not: collect it first (a top-up), so the balance check below is exact.
  await f.registry.sendTopUp(f.stranger.getSender(), toNano("0.01"));
  const before = await state(f);
  const res = await act();
  const flat = flattenTransaction(registryTx(f, res));
  expect({ exitCode: flat.exitCode, aborted: flat.aborted }).toEqual({ exitCode: RegistryExit[name], aborted: true });
  expect(
    findTransaction(res.transactions, { from: f.registry.address, to: from, inMessageBounced: true }),
    "value bounced back",
  ).toBeDefined();
  expect(await state(f)).toEqual(before);
}

function gasOf(f: RegistryFixture, res: SendMessageResult): number {
  const d = registryTx(f, res).description;
  if (d.type !== "generic" || d.computePhase.type !== "vm") throw new Error("registry transaction did not run the VM");
  return Number(d.computePhase.gasUsed);
}

/** Owner `by` proposes `policy`; answers the new proposal's id. */
async function propose(f: RegistryFixture, by: number, policy: Policy): Promise<number> {
  const id = (await f.registry.getMultisig()).nextProposalId;
  expectOk(f, await f.registry.sendPropose(f.owners[by]!.getSender(), policy));
  return id;
}

const withoutImageV1 = () => testPolicy({ images: [digest("image v2")] });

// ---------------------------------------------------------------- build artefacts
describe("registry build artefacts", () => {
  it("the committed wrapper was built from the current registry.tact (run npx tsx contracts/build.ts PolicyRegistry)", () => {
    const manifest = manifestOf<{ sourceSha256: string; codeSha256: string }>("manifest-registry.json");
    expect(manifest.sourceSha256).toBe(sha256Of("registry.tact"));
    expect(manifest.codeSha256).toBe(sha256Of("build/PolicyRegistry_PolicyRegistry.code.boc"));
  });

  it("exit codes exported to TS agree with the contract constants", () => {
    expect(exitCodesOf(Generated)).toEqual(RegistryExit);
  });
});

// ---------------------------------------------------------------- deploy
describe("registry deploy", () => {
  it("deploys a 2-of-3 multisig holding policy version 1", async () => {
    const f = await registryFixture();
    expect(findTransaction(f.deployTx, { to: f.registry.address, deploy: true, success: true })).toBeDefined();
    expect(await f.registry.getPolicyState()).toEqual({ version: 1, updatedAt: REGISTRY_NOW, policy: testPolicy() });
    expect(await f.registry.getMultisig()).toEqual({ threshold: 2, ownerCount: 3, timelock: TIMELOCK, nextProposalId: 1 });
    expect((await f.registry.getOwners()).map((a) => a.toString())).toEqual(f.owners.map((o) => o.address.toString()));
    expect(await f.registry.getImageAllowed(digest("image v1"))).toBe(true);
    expect(await f.registry.getImageAllowed(digest("image v3"))).toBe(false);
    expect(await f.registry.getModelAllowed(digest("qwen/qwen2-7b"))).toBe(true);
  });

  async function deployRaw(owners: Dictionary<Address, number>, threshold: number, policy: Policy = testPolicy()) {
    const blockchain = await Blockchain.create();
    blockchain.now = REGISTRY_NOW;
    const deployer = await blockchain.treasury("owner-a");
    const t = await Generated.PolicyRegistry.fromInit(owners, BigInt(threshold), BigInt(TIMELOCK), toTactPolicy(policy));
    const reg = blockchain.openContract(new RegistryContract(t.address, t.init));
    const res = await reg.sendDeploy(deployer.getSender(), REGISTRY_RESERVE);
    const tx = findTransaction(res.transactions, { to: reg.address });
    // The code and the init arguments land on chain, but init() never completes: every getter
    // and every later message re-runs it and fails the same way.
    const getter = await reg.getVersion().then(
      () => "answers",
      () => "fails",
    );
    return { exitCode: flattenTransaction(tx!).exitCode, getter };
  }
  async function ownersDict(indices: number[]) {
    const b = await Blockchain.create();
    const d = Dictionary.empty(Dictionary.Keys.Address(), Dictionary.Values.Uint(8));
    for (let i = 0; i < indices.length; i++) d.set((await b.treasury(`o${i}`)).address, indices[i]!);
    return d;
  }

  const badMultisig: Array<[string, number[], number]> = [
    ["threshold 0", [0, 1, 2], 0],
    ["threshold above the owner count", [0, 1, 2], 4],
    ["two owners with the same index", [0, 1, 1], 2],
    ["a gap in the owner indices", [0, 1, 3], 2],
    ["no owners", [], 1],
    ["17 owners", Array.from({ length: 17 }, (_, i) => i), 2],
  ];
  it.each(badMultisig)("refuses to deploy with %s: ERR_BAD_MULTISIG, no state", async (_what, indices, threshold) => {
    expect(await deployRaw(await ownersDict(indices), threshold)).toEqual({ exitCode: RegistryExit.ERR_BAD_MULTISIG, getter: "fails" });
  });

  it("refuses to deploy with an operator fee above 100%: ERR_BAD_POLICY, no state", async () => {
    const policy = testPolicy({ fees: { ...testPolicy().fees, operatorFeeBps: 10_001 } });
    expect(await deployRaw(await ownersDict([0, 1, 2]), 2, policy)).toEqual({ exitCode: RegistryExit.ERR_BAD_POLICY, getter: "fails" });
  });
});

// ---------------------------------------------------------------- multisig with time lock
describe("policy changes: 2-of-3 multisig with a time lock", () => {
  let f: RegistryFixture;
  beforeEach(async () => {
    f = await registryFixture();
  });

  it("propose → approve → execute after the time lock: the policy changes and its version increments", async () => {
    // Prepare
    const next = withoutImageV1();
    const id = await propose(f, 0, next);
    f.blockchain.now = REGISTRY_NOW + 100;
    expectOk(f, await f.registry.sendApprove(f.owners[2]!.getSender(), id));
    expect(await f.registry.getProposal(id)).toEqual({
      proposer: 0,
      baseVersion: 1,
      approvals: [0, 2],
      readyAt: REGISTRY_NOW + 100 + TIMELOCK,
      policy: next,
    });
    // Act
    f.blockchain.now = REGISTRY_NOW + 100 + TIMELOCK;
    expectOk(f, await f.registry.sendExecute(f.owners[1]!.getSender(), id));
    // Assess
    expect(await f.registry.getPolicyState()).toEqual({ version: 2, updatedAt: REGISTRY_NOW + 100 + TIMELOCK, policy: next });
    expect(await f.registry.getImageAllowed(digest("image v1"))).toBe(false); // the removed image is off the on-chain allow-list
    expect(await f.registry.getProposal(id)).toBeNull();
  });

  it("fewer than m approvals: ERR_NOT_ENOUGH_APPROVALS, even long after the time lock", async () => {
    const id = await propose(f, 0, withoutImageV1());
    f.blockchain.now = REGISTRY_NOW + 10 * TIMELOCK;
    await expectRejectedUnchanged(
      f,
      () => f.registry.sendExecute(f.owners[0]!.getSender(), id),
      f.owners[0]!.address,
      "ERR_NOT_ENOUGH_APPROVALS",
    );
    expect((await f.registry.getPolicyState()).policy).toEqual(testPolicy());
  });

  it("before the time lock: ERR_TIMELOCKED; one second later it executes", async () => {
    const id = await propose(f, 0, withoutImageV1());
    expectOk(f, await f.registry.sendApprove(f.owners[1]!.getSender(), id));
    f.blockchain.now = REGISTRY_NOW + TIMELOCK - 1;
    await expectRejectedUnchanged(f, () => f.registry.sendExecute(f.owners[0]!.getSender(), id), f.owners[0]!.address, "ERR_TIMELOCKED");
    f.blockchain.now = REGISTRY_NOW + TIMELOCK;
    expectOk(f, await f.registry.sendExecute(f.owners[0]!.getSender(), id));
    expect(await f.registry.getVersion()).toBe(2);
  });

  it("the time lock runs from the m-th approval, not from the proposal", async () => {
    const id = await propose(f, 0, withoutImageV1());
    f.blockchain.now = REGISTRY_NOW + 2 * TIMELOCK; // the proposal sat for a while
    expectOk(f, await f.registry.sendApprove(f.owners[1]!.getSender(), id));
    f.blockchain.now = REGISTRY_NOW + 2 * TIMELOCK + 1;
    await expectRejectedUnchanged(f, () => f.registry.sendExecute(f.owners[0]!.getSender(), id), f.owners[0]!.address, "ERR_TIMELOCKED");
  });

  it("a stranger can neither propose, approve nor execute: ERR_NOT_REGISTRY_OWNER", async () => {
    const id = await propose(f, 0, withoutImageV1());
    expectOk(f, await f.registry.sendApprove(f.owners[1]!.getSender(), id));
    f.blockchain.now = REGISTRY_NOW + TIMELOCK;
    const s = f.stranger;
    await expectRejectedUnchanged(
      f,
      () => f.registry.sendPropose(s.getSender(), testPolicy({ images: [] })),
      s.address,
      "ERR_NOT_REGISTRY_OWNER",
    );
    await expectRejectedUnchanged(f, () => f.registry.sendApprove(s.getSender(), id), s.address, "ERR_NOT_REGISTRY_OWNER");
    await expectRejectedUnchanged(f, () => f.registry.sendRevoke(s.getSender(), id), s.address, "ERR_NOT_REGISTRY_OWNER");
    await expectRejectedUnchanged(f, () => f.registry.sendExecute(s.getSender(), id), s.address, "ERR_NOT_REGISTRY_OWNER");
  });

  it("one owner cannot approve twice (nor the proposer again): ERR_ALREADY_APPROVED", async () => {
    const id = await propose(f, 0, withoutImageV1());
    await expectRejectedUnchanged(
      f,
      () => f.registry.sendApprove(f.owners[0]!.getSender(), id),
      f.owners[0]!.address,
      "ERR_ALREADY_APPROVED",
    );
    expectOk(f, await f.registry.sendApprove(f.owners[1]!.getSender(), id));
    await expectRejectedUnchanged(
      f,
      () => f.registry.sendApprove(f.owners[1]!.getSender(), id),
      f.owners[1]!.address,
      "ERR_ALREADY_APPROVED",
    );
  });

  it("an unknown or already executed proposal: ERR_NO_PROPOSAL", async () => {
    await expectRejectedUnchanged(f, () => f.registry.sendApprove(f.owners[1]!.getSender(), 42), f.owners[1]!.address, "ERR_NO_PROPOSAL");
    const id = await propose(f, 0, withoutImageV1());
    expectOk(f, await f.registry.sendApprove(f.owners[1]!.getSender(), id));
    f.blockchain.now = REGISTRY_NOW + TIMELOCK;
    expectOk(f, await f.registry.sendExecute(f.owners[0]!.getSender(), id));
    await expectRejectedUnchanged(f, () => f.registry.sendExecute(f.owners[0]!.getSender(), id), f.owners[0]!.address, "ERR_NO_PROPOSAL");
  });

  it("a proposal made against an older version cannot be approved or executed: ERR_STALE_PROPOSAL", async () => {
    // Prepare: two competing proposals, both fully approved.
    const p1 = await propose(f, 0, withoutImageV1());
    const p2 = await propose(f, 2, testPolicy({ images: [] }));
    expectOk(f, await f.registry.sendApprove(f.owners[1]!.getSender(), p1));
    expectOk(f, await f.registry.sendApprove(f.owners[1]!.getSender(), p2));
    f.blockchain.now = REGISTRY_NOW + TIMELOCK;
    // Act: p1 executes first.
    expectOk(f, await f.registry.sendExecute(f.owners[0]!.getSender(), p1));
    // Assess: p2 would silently overwrite p1's change; it is refused.
    await expectRejectedUnchanged(
      f,
      () => f.registry.sendExecute(f.owners[2]!.getSender(), p2),
      f.owners[2]!.address,
      "ERR_STALE_PROPOSAL",
    );
    await expectRejectedUnchanged(
      f,
      () => f.registry.sendApprove(f.owners[0]!.getSender(), p2),
      f.owners[0]!.address,
      "ERR_STALE_PROPOSAL",
    );
    expect((await f.registry.getPolicyState()).policy).toEqual(withoutImageV1());
  });

  it("a new proposal replaces its owner's open one; approvals do not carry over", async () => {
    const old = await propose(f, 0, withoutImageV1());
    expectOk(f, await f.registry.sendApprove(f.owners[1]!.getSender(), old));
    const replacement = await propose(f, 0, testPolicy({ images: [] }));
    expect(await f.registry.getProposal(old)).toBeNull();
    expect((await f.registry.getProposal(replacement))!.approvals).toEqual([0]);
    f.blockchain.now = REGISTRY_NOW + TIMELOCK;
    await expectRejectedUnchanged(f, () => f.registry.sendExecute(f.owners[0]!.getSender(), old), f.owners[0]!.address, "ERR_NO_PROPOSAL");
    await expectRejectedUnchanged(
      f,
      () => f.registry.sendExecute(f.owners[0]!.getSender(), replacement),
      f.owners[0]!.address,
      "ERR_NOT_ENOUGH_APPROVALS",
    );
  });

  it("revoking below the threshold stops the clock: ERR_NOT_ENOUGH_APPROVALS; a revoke without approval: ERR_NOT_APPROVED", async () => {
    const id = await propose(f, 0, withoutImageV1());
    await expectRejectedUnchanged(f, () => f.registry.sendRevoke(f.owners[1]!.getSender(), id), f.owners[1]!.address, "ERR_NOT_APPROVED");
    expectOk(f, await f.registry.sendApprove(f.owners[1]!.getSender(), id));
    expectOk(f, await f.registry.sendRevoke(f.owners[1]!.getSender(), id));
    expect(await f.registry.getProposal(id)).toMatchObject({ approvals: [0], readyAt: 0 });
    f.blockchain.now = REGISTRY_NOW + TIMELOCK;
    await expectRejectedUnchanged(
      f,
      () => f.registry.sendExecute(f.owners[0]!.getSender(), id),
      f.owners[0]!.address,
      "ERR_NOT_ENOUGH_APPROVALS",
    );
  });

  it("a proposal with an operator fee above 100%, a zero multiplier or no coordinator key: ERR_BAD_POLICY", async () => {
    const fees = testPolicy().fees;
    for (const bad of [
      testPolicy({ fees: { ...fees, operatorFeeBps: 10_001 } }),
      testPolicy({ fees: { ...fees, completionBps: 0 } }),
      testPolicy({ coordinatorKey: Buffer.alloc(32) }),
    ]) {
      await expectRejectedUnchanged(f, () => f.registry.sendPropose(f.owners[0]!.getSender(), bad), f.owners[0]!.address, "ERR_BAD_POLICY");
    }
  });

  it("rotates the coordinator key and the fee parameters through the same path", async () => {
    const next = testPolicy({
      coordinatorKey: testKey("coordinator-2"),
      fees: { pricePerToken: 150n, promptBps: 3_000, completionBps: 12_000, operatorFeeBps: 250 },
      models: { [digest("m1")]: 0n, [digest("m2")]: 300n },
    });
    const id = await propose(f, 1, next);
    expectOk(f, await f.registry.sendApprove(f.owners[2]!.getSender(), id));
    f.blockchain.now = REGISTRY_NOW + TIMELOCK;
    expectOk(f, await f.registry.sendExecute(f.owners[2]!.getSender(), id));
    expect((await f.registry.getPolicyState()).policy).toEqual(next);
  });

  it("an unknown opcode bounces with Tact's invalid-message code 130, state unchanged", async () => {
    const before = await state(f);
    const res = await f.owners[0]!.send({
      to: f.registry.address,
      value: 10_000_000n,
      body: beginCell().storeUint(0xdeadbeef, 32).endCell(),
    });
    expect(flattenTransaction(registryTx(f, res)).exitCode).toBe(130);
    expect(await state(f)).toEqual(before);
  });
});

describe("measurementDigest", () => {
  it("is SHA-256 over mrtd | rtmr0 | rtmr1 | rtmr2 and refuses malformed registers", () => {
    const m = { mrtd: "11".repeat(48), rtmr0: "22".repeat(48), rtmr1: "33".repeat(48), rtmr2: "44".repeat(48) };
    expect(measurementDigest(m)).toBe(
      createHash("sha256")
        .update(Buffer.from("11".repeat(48) + "22".repeat(48) + "33".repeat(48) + "44".repeat(48), "hex"))
        .digest("hex"),
    );
    expect(() => measurementDigest({ ...m, rtmr2: "44" })).toThrow();
  });
});

// ---------------------------------------------------------------- gas table
describe("registry gas table (contracts/registry.gas.json; UPDATE_GAS=1 rewrites it)", () => {
  let measured: Record<string, number>;
  beforeAll(async () => {
    const f = await registryFixture();
    const [a, b, c] = f.owners.map((o) => o.getSender());
    measured = {};
    measured.deploy = gasOf(f, { transactions: f.deployTx } as SendMessageResult);
    measured.propose = gasOf(f, await f.registry.sendPropose(a!, withoutImageV1()));
    measured.proposeReplacingOwn = gasOf(f, await f.registry.sendPropose(a!, withoutImageV1()));
    measured.approveReachingThreshold = gasOf(f, await f.registry.sendApprove(b!, 2));
    measured.approveBeyondThreshold = gasOf(f, await f.registry.sendApprove(c!, 2));
    measured.revoke = gasOf(f, await f.registry.sendRevoke(c!, 2));
    measured.executeRejectedTimelocked = gasOf(f, await f.registry.sendExecute(a!, 2));
    f.blockchain.now = REGISTRY_NOW + TIMELOCK;
    measured.execute = gasOf(f, await f.registry.sendExecute(a!, 2));
    measured.proposeNext = gasOf(f, await f.registry.sendPropose(b!, testPolicy()));
    measured.executeRejectedNotEnough = gasOf(f, await f.registry.sendExecute(b!, 3));
    measured.rejectedStranger = gasOf(f, await f.registry.sendApprove(f.stranger.getSender(), 3));
  });

  it("measured gas per operation equals the recorded table", () => {
    const recorded = recordedGas<{ ops: Record<string, number> }>(
      "registry.gas.json",
      "gas units (compute phase of the registry transaction)",
      measured,
    );
    expect(measured).toEqual(recorded.ops);
  });
});
