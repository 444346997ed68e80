/**
 * The lean AWS deps every handler builds at cold start: the store at once, SQS / SNS / STS on
 * first use (through the same adapters as createAwsDeps), no TON signers.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { loadAwsConfig } from "../config";
import { createAwsCoreDeps, withRegistry } from "./aws-core-deps";
import { createMemoryStore } from "../../local/memory-store";
import { publishPolicySnapshot, StorePolicySource } from "../../core/policy-registry";
import { lambdaTonDeps } from "../deps-ton";
import { lambdaDeps } from "../deps";
import { lambdaRegistryDeps } from "../deps-registry";
import { ACCOUNT, prodStageEnv } from "./aws-testing";

/** The prod stage's environment with the alert topic, the vault and the coordinator's seed. */
const env = (over: Record<string, string | undefined> = {}) =>
  prodStageEnv({
    COCOON_ALERT_TOPIC_ARN: `arn:aws:sns:us-east-1:${ACCOUNT}:prod-cocoon-Cocoon-Alerts-9F8E7D`,
    COCOON_VAULT_ADDRESS: "0:" + "ab".repeat(32),
    COCOON_COORDINATOR_SEED: "07".repeat(32),
    ...over,
  });

describe("createAwsCoreDeps (what lambdaDeps builds)", () => {
  it("sends to the matching queue through the SQS adapter, made on first use", async () => {
    // Prepare
    const sqs = mockClient(SQSClient);
    sqs.on(SendMessageCommand).resolves({ MessageId: "m-1" });
    const deps = await createAwsCoreDeps(loadAwsConfig(env()));
    expect(sqs.calls()).toHaveLength(0);
    // Act
    await deps.queues.send("matching", { kind: "probe" });
    await deps.queues.send("worker-w1", { kind: "probe" }, { delaySeconds: 5 });
    // Assess
    const sent = sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
    expect(sent).toEqual([
      expect.objectContaining({ QueueUrl: env().COCOON_MATCHING_QUEUE_URL, MessageBody: JSON.stringify({ kind: "probe" }) }),
      expect.objectContaining({ QueueUrl: `${env().COCOON_WORKER_QUEUE_URL_PREFIX}worker-w1`, DelaySeconds: 5 }),
    ]);
    sqs.restore();
  });

  it("has no TON signers (only lambdaTonDeps adds them), even where the vault key is configured", async () => {
    const deps = (await createAwsCoreDeps(loadAwsConfig(env()))) as unknown as Record<string, unknown>;
    expect(deps.voucherSigner).toBeUndefined();
    expect(deps.withdrawalSigner).toBeUndefined();
    expect(deps.config).toMatchObject({ faucet: false, allowDevAttestation: false });
  });

  it("alerts go to SNS once per key; without a topic the first alert fails with config_invalid", async () => {
    // Prepare
    const ddb = mockClient(DynamoDBDocumentClient);
    const sns = mockClient(SNSClient);
    ddb
      .on(PutCommand)
      .resolvesOnce({})
      .rejects(new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} }));
    sns.on(PublishCommand).resolves({ MessageId: "m-1" });
    const deps = await createAwsCoreDeps(loadAwsConfig(env()));
    const without = await createAwsCoreDeps(loadAwsConfig(env({ COCOON_ALERT_TOPIC_ARN: undefined })));
    const alert = { key: "k", severity: "info" as const, title: "t", details: {} };
    // Act
    await deps.alerts.raise(alert);
    await deps.alerts.raise(alert);
    const missing = await without.alerts.raise(alert).catch((e: unknown) => e);
    // Assess
    expect(sns.commandCalls(PublishCommand)).toHaveLength(1);
    expect(missing).toMatchObject({ code: "config_invalid", variable: "COCOON_ALERT_TOPIC_ARN" });
    ddb.restore();
    sns.restore();
  });
});

describe("lambdaTonDeps (the three signing routes)", () => {
  afterEach(() => vi.unstubAllEnvs());
  it("adds the voucher and withdrawal signers for the configured vault to the lean set", async () => {
    for (const [k, v] of Object.entries(env())) if (v !== undefined) vi.stubEnv(k, v);
    const deps = (await lambdaTonDeps()) as unknown as Record<string, { vault?: string } | undefined>;
    expect(deps.voucherSigner?.vault).toBe("0:" + "ab".repeat(32));
    expect(deps.withdrawalSigner?.vault).toBe("0:" + "ab".repeat(32));
    expect(deps.store).toBeDefined();
  });
});

describe("lambdaRegistryDeps (the routes that register and match workers)", () => {
  afterEach(() => vi.unstubAllEnvs());
  it("adds the policy registry where COCOON_REGISTRY_ADDRESS names one; the lean set every other route builds has none", async () => {
    // Prepare
    const registry = { COCOON_REGISTRY_ADDRESS: "0:" + "cd".repeat(32) };
    for (const [k, v] of Object.entries(env(registry))) if (v !== undefined) vi.stubEnv(k, v);
    // Act
    const withRegistry = await lambdaRegistryDeps();
    const lean = await lambdaDeps();
    // Assess
    expect(withRegistry.policyRegistry?.opts).toMatchObject({ refreshSeconds: 60, maxAgeSeconds: 600 });
    // issue 12: the store's snapshot of the configured registry, not a chain reader (no toncenter endpoint needed)
    expect(withRegistry.policyRegistry?.source).toBeInstanceOf(StorePolicySource);
    expect((withRegistry.policyRegistry?.source as StorePolicySource).registry).toBe(registry.COCOON_REGISTRY_ADDRESS);
    expect(lean.policyRegistry).toBeUndefined();
    expect(withRegistry.store).toBe(lean.store);
  });
});

describe("issue 12: the registry routes read the chain watcher's snapshot from their own store", () => {
  it("acts on the stored reading and refuses (503 policy_stale) one whose chain time is past COCOON_POLICY_MAX_AGE_SECONDS", async () => {
    // Prepare
    const address = "0:" + "cd".repeat(32);
    const config = loadAwsConfig(env({ COCOON_REGISTRY_ADDRESS: address, COCOON_POLICY_MAX_AGE_SECONDS: "120" }));
    const store = createMemoryStore();
    const nowS = Math.floor(Date.now() / 1000);
    const policy = {
      coordinatorKey: "11".repeat(32),
      fees: { pricePerToken: 100n, promptBps: 2500, completionBps: 10_000, operatorFeeBps: 0 },
      images: ["aa".repeat(32)],
      models: {},
    };
    const base = await createAwsCoreDeps(config);
    const fresh = withRegistry({ ...base, store }, config);
    const stale = withRegistry({ ...base, store: createMemoryStore() }, config);
    await publishPolicySnapshot(store, address, { version: 7, updatedAt: nowS - 500, readAt: nowS - 30, policy });
    await publishPolicySnapshot(stale.store, address, { version: 6, updatedAt: nowS - 500, readAt: nowS - 121, policy });

    // Act
    const reading = await fresh.policyRegistry!.current();
    const refused = stale.policyRegistry!.current();

    // Assess
    expect(reading).toMatchObject({ version: 7, policy: { images: ["aa".repeat(32)] } });
    await expect(refused).rejects.toMatchObject({ status: 503, code: "policy_stale" });
  });
});
