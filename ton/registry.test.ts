/** The registry's PolicySource with the chain mocked by @ton/sandbox behind the provider factory toncenter's TonClient fills on AWS. */
import { describe, expect, it } from "vitest";
import { registryFixture, testPolicy, TIMELOCK } from "../contracts/registry-fixtures";
import { PolicyCache, StorePolicySource } from "../core/policy-registry";
import { loadAwsConfig } from "../functions/config";
import { createAwsCoreDeps } from "../functions/adapters/aws-core-deps";
import { prodStageEnv } from "../functions/adapters/aws-testing";
import { ChainPolicySource, fromContractPolicy, toContractPolicy, toncenterClock } from "./registry";

describe("ChainPolicySource (issue 15)", () => {
  it("reads the registry's policy and version, with the chain time of the state it read", async () => {
    // Prepare: a toncenter-shaped client over the sandbox
    const f = await registryFixture();
    const client = {
      provider: f.blockchain.provider.bind(f.blockchain),
      getContractState: async () => ({ timestampt: f.blockchain.now! }),
    };
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
    const client = {
      provider: f.blockchain.provider.bind(f.blockchain),
      getContractState: async () => ({ timestampt: f.blockchain.now! }),
    };
    let now = f.blockchain.now! * 1000;
    const cache = new PolicyCache(new ChainPolicySource(client, f.registry.address, toncenterClock(client, f.registry.address)), {
      refreshSeconds: 60,
      maxAgeSeconds: 7200,
      now: () => now,
    });
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

describe("the AWS coordinator's registry settings (issue 15)", () => {
  it("COCOON_REGISTRY_ADDRESS gives the handlers a policy cache over the chain watcher's snapshot in the store (issue 12: no toncenter endpoint needed); unset, no registry", async () => {
    // Prepare
    const registry = { COCOON_REGISTRY_ADDRESS: "0:" + "cd".repeat(32) };

    // Act
    const on = loadAwsConfig(prodStageEnv(registry));
    const deps = await createAwsCoreDeps(on);
    const off = await createAwsCoreDeps(loadAwsConfig(prodStageEnv()));

    // Assess
    expect(on.registry).toEqual({ address: registry.COCOON_REGISTRY_ADDRESS, refreshSeconds: 60, maxAgeSeconds: 600 });
    expect(deps.policyRegistry?.opts).toMatchObject({ refreshSeconds: 60, maxAgeSeconds: 600 });
    expect(deps.policyRegistry?.source).toBeInstanceOf(StorePolicySource);
    expect(off.policyRegistry).toBeUndefined();
  });
});
