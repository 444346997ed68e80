/** The registry's PolicySource with the chain mocked by @ton/sandbox behind the provider factory toncenter's TonClient fills on AWS. */
import { describe, expect, it } from "vitest";
import { registryFixture, testPolicy, TIMELOCK } from "../../contracts/registry-fixtures";
import { PolicyCache } from "../../core/policy-registry";
import { ChainPolicySource, fromContractPolicy, toContractPolicy, toncenterClock } from "./ton-registry";

describe("ChainPolicySource (issue 15)", () => {
  it("reads the registry's policy and version, with the chain time of the state it read", async () => {
    // Prepare: a toncenter-shaped client over the sandbox
    const f = await registryFixture();
    const client = { provider: f.blockchain.provider.bind(f.blockchain), getContractState: async () => ({ timestampt: f.blockchain.now! }) };
    const source = new ChainPolicySource(client, f.registry.address, toncenterClock(client, f.registry.address));

    // Act
    const r = await source.read();

    // Assess
    expect(r).toEqual({ version: 1, updatedAt: f.blockchain.now, readAt: f.blockchain.now, policy: fromContractPolicy(testPolicy()) });
    expect(toContractPolicy(r.policy)).toEqual(testPolicy());
  });

  it("a change executed by m owners after the time lock shows at the next refresh, not before", async () => {
    // Prepare
    const f = await registryFixture();
    const client = { provider: f.blockchain.provider.bind(f.blockchain), getContractState: async () => ({ timestampt: f.blockchain.now! }) };
    let now = f.blockchain.now! * 1000;
    const cache = new PolicyCache(new ChainPolicySource(client, f.registry.address, toncenterClock(client, f.registry.address)), { refreshSeconds: 60, maxAgeSeconds: 7200, now: () => now });
    const before = await cache.current();
    const next = testPolicy({ images: [before.policy.images[1]!] });
    await f.registry.sendPropose(f.owners[0]!.getSender(), next);
    await f.registry.sendApprove(f.owners[1]!.getSender(), 1);
    f.blockchain.now! += TIMELOCK;
    await f.registry.sendExecute(f.owners[2]!.getSender(), 1);

    // Act
    now += 59_000; // inside the refresh interval
    const cached = await cache.current();
    now += 2_000;
    const refreshed = await cache.current();

    // Assess
    expect(cached.version).toBe(1);
    expect(refreshed).toMatchObject({ version: 2, policy: { images: next.images } });
  });
});
