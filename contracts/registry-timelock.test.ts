/**
 * Review, session 29: the registry accepted any time lock below 2^32 s at deploy, but the m-th approval
 * stores readyAt = now + timelock as a uint32: with a time lock above ≈ 2.5e9 s (today) that store fails
 * (Tact's range check, exit code 5) on every approval that reaches the threshold (and, at threshold 1,
 * on every proposal), so the policy could never change again, and the owners are fixed: a registry
 * bricked by one deploy parameter. Now a time lock above MAX_TIMELOCK (365 days) is refused at deploy.
 */
import { describe, expect, it } from "vitest";
import { findTransaction, flattenTransaction } from "@ton/test-utils";
import { RegistryExit } from "./registry";
import { REGISTRY_NOW, registryFixture, testPolicy } from "./registry-fixtures";

const YEAR = 365 * 86400;

describe("registry time lock bounds", () => {
  it("refuses to deploy with a time lock that would overflow readyAt (2^32 - 1 s): ERR_BAD_MULTISIG, no state", async () => {
    const f = await registryFixture({ timelock: 2 ** 32 - 1 });

    const tx = findTransaction(f.deployTx, { to: f.registry.address });
    expect(flattenTransaction(tx!).exitCode).toBe(RegistryExit.ERR_BAD_MULTISIG);
    await expect(f.registry.getVersion(), "init() never completed: no state").rejects.toThrow();
  });

  it("refuses to deploy with a time lock one second above 365 days: ERR_BAD_MULTISIG", async () => {
    const f = await registryFixture({ timelock: YEAR + 1 });
    expect(flattenTransaction(findTransaction(f.deployTx, { to: f.registry.address })!).exitCode).toBe(RegistryExit.ERR_BAD_MULTISIG);
  });

  it("the longest time lock allowed (365 days) still lets a change through: propose, approve, execute after it", async () => {
    const f = await registryFixture({ timelock: YEAR });
    const next = testPolicy({ fees: { ...testPolicy().fees, operatorFeeBps: 700 } });
    await f.registry.sendPropose(f.owners[0]!.getSender(), next);
    await f.registry.sendApprove(f.owners[1]!.getSender(), 1);
    expect((await f.registry.getProposal(1))?.readyAt).toBe(REGISTRY_NOW + YEAR);

    f.blockchain.now = REGISTRY_NOW + YEAR;
    await f.registry.sendExecute(f.owners[2]!.getSender(), 1);

    expect(await f.registry.getPolicyState()).toMatchObject({ version: 2, policy: next });
  });
});
