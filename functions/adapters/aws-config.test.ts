import { describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { SNSClient, PublishCommand } from "@aws-sdk/client-sns";
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { defaultPolicy } from "../../core/attestation/policy";
import { ConfigError, loadAwsConfig, required } from "../config";
import { signQuote, verifyQuote, type QuoteBody } from "../../core/jobs/quote";
import { createAwsDeps } from "./aws-deps";
import { ACCOUNT, prodStageEnv } from "./aws-testing";

/** The environment stacks/Cocoon.ts gives a function on the prod stage, with the alert topic and the agents' role. */
const prodEnv = (over: Record<string, string | undefined> = {}) =>
  prodStageEnv({
    COCOON_ALERT_TOPIC_ARN: `arn:aws:sns:us-east-1:${ACCOUNT}:prod-cocoon-Cocoon-Alerts-9F8E7D`,
    COCOON_AGENT_ROLE_ARN: `arn:aws:iam::${ACCOUNT}:role/prod-cocoon-Cocoon-AgentRole-1A2B3C`,
    ...over,
  });

/** A quote's fields (core/jobs/quote.ts), for the MAC only. */
const quoteBody: QuoteBody = {
  v: 1,
  requester: "r".repeat(43),
  model: "test/model-1",
  maxTokens: 32,
  maxPromptTokens: 200,
  maxCost: "1234",
  candidates: [{ workerId: "w".repeat(43), hpkePublicKey: "k".repeat(43), pricePerToken: "100", tier: "dev" }],
  promptBps: 2500,
  completionBps: 10000,
  expiresAt: 0,
};

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadAwsConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("loadAwsConfig", () => {
  it("parses the environment the stacks set, with defaults", () => {
    const c = loadAwsConfig(prodEnv());
    expect(c).toMatchObject({
      stage: "prod",
      region: "us-east-1",
      table: "prod-cocoon-Cocoon-DataTable-1X2Y3Z",
      queues: { namePrefix: "cocoon-prod-", maxReceives: 5 },
      agentSessionSeconds: 3600,
      core: { allowDevAttestation: false, faucet: false },
      policy: undefined,
    });
  });

  it("falls back to SST_STAGE for the stage", () => {
    expect(loadAwsConfig(prodEnv({ COCOON_STAGE: undefined, SST_STAGE: "dev" })).stage).toBe("dev");
  });

  it.each([
    ["COCOON_TABLE", undefined, "is not set"],
    ["COCOON_TABLE", "", "is not set"],
    ["AWS_REGION", "Virginia", "must be an AWS region"],
    ["COCOON_MATCHING_QUEUE_URL", "sqs://queue", "https SQS queue URL"],
    ["COCOON_WORKER_QUEUE_ARN_PREFIX", "arn:aws:sns:us-east-1:123456789012:x", "arn:aws:sqs"],
    ["COCOON_AGENT_SESSION_SECONDS", "7200", "at most 3600"],
    ["COCOON_FAUCET", "yes", '"true" or "false"'],
    ["COCOON_POLICY_JSON", "{not json", "not valid JSON"],
    ["COCOON_WORKER_QUEUE_NAME_PREFIX", `cocoon-${"a".repeat(30)}-`, "80-character"],
  ])("a bad %s (%s) fails fast naming the variable", (variable, value, fragment) => {
    const e = configError(prodEnv({ [variable]: value }));
    expect(e.code).toBe("config_invalid");
    expect(e.variable).toBe(variable);
    expect(e.message).toContain(variable);
    expect(e.message).toContain(fragment);
  });

  it("refuses the faucet and dev attestation on the prod stage, allows them on dev", () => {
    expect(configError(prodEnv({ COCOON_FAUCET: "true" })).variable).toBe("COCOON_FAUCET");
    expect(configError(prodEnv({ COCOON_ALLOW_DEV_ATTESTATION: "true" })).variable).toBe("COCOON_ALLOW_DEV_ATTESTATION");
    const dev = loadAwsConfig(prodEnv({ COCOON_STAGE: "dev", COCOON_FAUCET: "true", COCOON_ALLOW_DEV_ATTESTATION: "true" }));
    expect(dev.core).toEqual({ allowDevAttestation: true, faucet: true });
  });

  it("required() names a variable a function needs but was not given", () => {
    expect(() => required(undefined, "COCOON_ALERT_TOPIC_ARN")).toThrow(
      expect.objectContaining({ code: "config_invalid", variable: "COCOON_ALERT_TOPIC_ARN" }),
    );
  });
});

describe("createAwsDeps", () => {
  it("builds CoreDeps over the AWS adapters with the stage's core overrides", () => {
    const deps = createAwsDeps(loadAwsConfig(prodEnv({ COCOON_STAGE: "dev", COCOON_FAUCET: "true" })));
    expect(deps.config.faucet).toBe(true);
    expect(deps.config.allowDevAttestation).toBe(false);
    expect(deps.queues.urlOf("matching")).toBe(prodEnv().COCOON_MATCHING_QUEUE_URL);
    expect(typeof deps.store.transact).toBe("function");
    // the repository's policy (no COCOON_POLICY_JSON): its type makes toBeDefined() pass whatever policy this is
    expect(deps.policy).toBe(defaultPolicy);
  });

  it("names the deployment by where it lives (partition, region, account, stage) and its table: a quote (and so a tab, under the same domain rule) MAC'd by another deployment under the same quote key is refused", () => {
    const key = { COCOON_QUOTE_KEY: "5a".repeat(32) };
    const prod = createAwsDeps(loadAwsConfig(prodEnv(key)));
    const dev = createAwsDeps(loadAwsConfig(prodEnv({ ...key, COCOON_STAGE: "dev", COCOON_TABLE: "dev-cocoon-Data" })));
    const otherAccount = `arn:aws:sqs:us-east-1:210987654321:cocoon-prod-`;
    const elsewhere = createAwsDeps(loadAwsConfig(prodEnv({ ...key, COCOON_WORKER_QUEUE_ARN_PREFIX: otherAccount })));
    expect(prod.config.deployment).toBe(`${prodEnv().COCOON_WORKER_QUEUE_ARN_PREFIX} ${prodEnv().COCOON_TABLE}`);
    expect(dev.config.deployment).toBe(`${prodEnv().COCOON_WORKER_QUEUE_ARN_PREFIX} dev-cocoon-Data`);
    expect(elsewhere.config.deployment).toBe(`${otherAccount} ${prodEnv().COCOON_TABLE}`);
    // the MAC both share (tokenDomain): dev's quote is refused by prod's functions, verifies at dev's
    const body = { ...quoteBody, expiresAt: Date.now() + 60_000 };
    const quote = signQuote(dev, body);
    expect(() => verifyQuote(prod, body.requester, quote)).toThrow(expect.objectContaining({ code: "bad_quote" }));
    expect(verifyQuote(dev, body.requester, quote)).toEqual(body);
    expect(() => verifyQuote(prod, body.requester, signQuote(elsewhere, body))).toThrow(expect.objectContaining({ code: "bad_quote" }));
  });

  it("issue 12: only a function given COCOON_MATCHING_DLQ_URL (the redrive) can reach the matching DLQ", () => {
    const dlq = `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/prod-cocoon-Cocoon-MatchingDlq-QwE456`;
    expect(createAwsDeps(loadAwsConfig(prodEnv({ COCOON_MATCHING_DLQ_URL: dlq }))).queues.urlOf("matching-dlq")).toBe(dlq);
    expect(() => createAwsDeps(loadAwsConfig(prodEnv())).queues.urlOf("matching-dlq")).toThrow(
      expect.objectContaining({ code: "QUEUE_MISSING" }),
    );
  });

  it("a function without an alert topic fails on first alert with config_invalid", async () => {
    const deps = createAwsDeps(loadAwsConfig(prodEnv({ COCOON_ALERT_TOPIC_ARN: undefined })));
    await expect(deps.alerts.raise({ key: "k", severity: "info", title: "t", details: {} })).rejects.toMatchObject({
      code: "config_invalid",
      variable: "COCOON_ALERT_TOPIC_ARN",
    });
  });

  it("alerts go to SNS once per key: the second raise loses the conditional claim in the table and publishes nothing", async () => {
    // Prepare
    const ddb = mockClient(DynamoDBDocumentClient);
    const sns = mockClient(SNSClient);
    const claimed = new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} });
    ddb.on(PutCommand).resolvesOnce({}).rejects(claimed);
    sns.on(PublishCommand).resolves({ MessageId: "m-1" });
    const deps = createAwsDeps(loadAwsConfig(prodEnv()));
    const alert = {
      key: "vault-below-liabilities",
      severity: "critical" as const,
      title: "vault balance below liabilities",
      details: { shortfall: 5n },
    };

    // Act
    await deps.alerts.raise(alert);
    await deps.alerts.raise(alert);

    // Assess
    expect(sns.commandCalls(PublishCommand)).toHaveLength(1);
    expect(sns.commandCalls(PublishCommand)[0]!.args[0].input).toMatchObject({
      TopicArn: prodEnv().COCOON_ALERT_TOPIC_ARN,
      Subject: "[cocoon prod critical] vault balance below liabilities",
    });
    expect(ddb.commandCalls(PutCommand)[0]!.args[0].input).toMatchObject({
      Item: { pk: "chain#alert:vault-below-liabilities", sk: "sent" },
      ConditionExpression: "attribute_not_exists(#n0) OR #n1 <= :v0",
    });
    ddb.restore();
    sns.restore();
  });
});
