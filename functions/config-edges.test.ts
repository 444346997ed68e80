/**
 * Edges of the AWS functions' configuration (functions/config.ts): every default's exact value,
 * every bound just inside and just outside, each refusal's exact message naming the variable,
 * the optional blocks (payouts, registry, policy, keys) and what awsConfig() caches.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { ConfigError, loadAwsConfig, required, WORKER_ID_MAX } from "./config";
import { ACCOUNT, prodStageEnv } from "./adapters/aws-testing";
import { friendlyAddress, parseTonAddress } from "./adapters/ton-cells";

type Env = Record<string, string | undefined>;

/** Factory: the prod stage's environment, then `over`. */
const prodEnv = (over: Env = {}): Env => prodStageEnv(over);

/** Factory: a dev stage's environment, then `over` (dev switches are allowed there). */
const devEnv = (over: Env = {}): Env => prodStageEnv({ COCOON_STAGE: "dev", ...over });

/** The exact message of a refused variable, as loadAwsConfig words it. */
const refusal = (variable: string, what: string): string =>
  `environment variable ${variable} ${what}; the stacks (stacks/Cocoon.ts) set it on every function: redeploy, or set it by hand when running a handler outside Lambda`;

/** Runs loadAwsConfig and returns the ConfigError it throws (fails the test if none). */
function configError(env: Env): ConfigError {
  try {
    loadAwsConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

const hex64 = "0123456789abcdef".repeat(4);
const tonAddress = "0:" + "ab".repeat(32);
const friendlyVault = friendlyAddress(parseTonAddress(tonAddress));
/** The address with its 10th character changed (still 48 base64url characters). */
const mistyped = (a: string) => a.slice(0, 10) + (a[10] === "A" ? "B" : "A") + a.slice(11);
const addressForms = "TON address (raw 0:<64 hex>, or user-friendly with a valid checksum)";
const httpsMsg = "must be an https:// URL (http:// only on 127.0.0.1 or localhost)";
const sqsUrl = (name: string) => `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/${name}`;

describe("ConfigError", () => {
  it("carries its name, code and variable", () => {
    // Prepare
    const env = prodEnv({ COCOON_TABLE: undefined });

    // Act
    const e = configError(env);

    // Assess
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("ConfigError");
    expect(e.code).toBe("config_invalid");
    expect(e.variable).toBe("COCOON_TABLE");
    expect(e.message).toBe(refusal("COCOON_TABLE", "is not set"));
  });
});

describe("loadAwsConfig defaults", () => {
  it("gives every optional variable its exact default", () => {
    // Prepare
    const env = prodEnv();

    // Act
    const c = loadAwsConfig(env);

    // Assess
    expect(c).toEqual({
      stage: "prod",
      region: "us-east-1",
      table: "prod-cocoon-Cocoon-DataTable-1X2Y3Z",
      queues: {
        matchingUrl: env.COCOON_MATCHING_QUEUE_URL,
        namePrefix: "cocoon-prod-",
        urlPrefix: env.COCOON_WORKER_QUEUE_URL_PREFIX,
        arnPrefix: env.COCOON_WORKER_QUEUE_ARN_PREFIX,
        workerDlqArn: env.COCOON_WORKER_DLQ_ARN,
        maxReceives: 5,
      },
      alertTopicArn: undefined,
      agentRoleArn: undefined,
      agentSessionSeconds: 3600,
      core: { allowDevAttestation: false, faucet: false, sessionKey: undefined },
      policy: undefined,
      payouts: undefined,
    });
  });

  it("uses the registry's refresh (60 s) and max-age (600 s) defaults when a registry is set", () => {
    // Act
    const c = loadAwsConfig(prodEnv({ COCOON_REGISTRY_ADDRESS: tonAddress }));

    // Assess
    expect(c.registry).toEqual({ address: tonAddress, refreshSeconds: 60, maxAgeSeconds: 600 });
  });

  it("trims the table name and refuses one of blanks only", () => {
    // Act
    const trimmed = loadAwsConfig(prodEnv({ COCOON_TABLE: "  t  " }));
    const blank = configError(prodEnv({ COCOON_TABLE: "   " }));

    // Assess
    expect(trimmed.table).toBe("t");
    expect(blank.variable).toBe("COCOON_TABLE");
    expect(blank.message).toBe(refusal("COCOON_TABLE", "is empty"));
  });
});

describe("loadAwsConfig patterns: anchored at both ends, refused with the exact message", () => {
  const stage = "must start with a letter and hold only letters, digits and '-'";
  const region = "must be an AWS region such as us-east-1";
  const https = "must be an https SQS queue URL";
  const namePrefix = "may hold only letters, digits, '-' and '_' (SQS queue name rules)";
  const urlPrefix = "must look like https://sqs.<region>.amazonaws.com/<account>/<name prefix>";
  const arnPrefix = "must look like arn:aws:sqs:<region>:<account>:<name prefix>";
  const seedMsg = "must be 64 lower-case hex chars (a 32-byte Ed25519 seed)";
  const hmacMsg = "must be 64 lower-case hex chars (a 32-byte HMAC key: openssl rand -hex 32)";
  const okUrlPrefix = sqsUrl("cocoon-prod-");
  const okArnPrefix = `arn:aws:sqs:us-east-1:${ACCOUNT}:cocoon-prod-`;
  const okDlqArn = `arn:aws:sqs:us-east-1:${ACCOUNT}:prod-cocoon-Cocoon-WorkerDlq-XyZ789`;
  const okTopic = `arn:aws:sns:us-east-1:${ACCOUNT}:prod-cocoon-Cocoon-Alerts-9F8E7D`;
  const okRole = `arn:aws:iam::${ACCOUNT}:role/prod-cocoon-Cocoon-AgentRole-1A2B3C`;

  it.each([
    ["COCOON_STAGE", "1prod", stage],
    ["COCOON_STAGE", "prod!", stage],
    ["AWS_REGION", "xus-east-1", region],
    ["AWS_REGION", "us-east-12", region],
    ["COCOON_MATCHING_QUEUE_URL", "xhttps://sqs.us-east-1.amazonaws.com/1/q", https],
    ["COCOON_MATCHING_QUEUE_URL", "httpsx://sqs.us-east-1.amazonaws.com/1/q", https],
    ["COCOON_MATCHING_DLQ_URL", "http://sqs.us-east-1.amazonaws.com/1/q", https],
    ["COCOON_MATCHING_DLQ_URL", "xhttps://sqs.us-east-1.amazonaws.com/1/q", https],
    ["COCOON_MATCHING_DLQ_URL", "httpsx://sqs.us-east-1.amazonaws.com/1/q", https],
    ["COCOON_WORKER_QUEUE_NAME_PREFIX", "!cocoon-", namePrefix],
    ["COCOON_WORKER_QUEUE_NAME_PREFIX", "cocoon-!", namePrefix],
    ["COCOON_WORKER_QUEUE_URL_PREFIX", "x" + okUrlPrefix, urlPrefix],
    ["COCOON_WORKER_QUEUE_URL_PREFIX", okUrlPrefix + "!", urlPrefix],
    ["COCOON_WORKER_QUEUE_ARN_PREFIX", "x" + okArnPrefix, arnPrefix],
    ["COCOON_WORKER_QUEUE_ARN_PREFIX", okArnPrefix + "!", arnPrefix],
    ["COCOON_WORKER_DLQ_ARN", "x" + okDlqArn, "must be an SQS queue ARN"],
    ["COCOON_WORKER_DLQ_ARN", okDlqArn + "!", "must be an SQS queue ARN"],
    ["COCOON_ALERT_TOPIC_ARN", "x" + okTopic, "must be an SNS topic ARN"],
    ["COCOON_ALERT_TOPIC_ARN", okTopic + "!", "must be an SNS topic ARN"],
    ["COCOON_AGENT_ROLE_ARN", "x" + okRole, "must be an IAM role ARN"],
    ["COCOON_AGENT_ROLE_ARN", okRole + "!", "must be an IAM role ARN"],
    ["COCOON_COORDINATOR_SEED", "x" + hex64, seedMsg],
    ["COCOON_COORDINATOR_SEED", hex64 + "a", seedMsg],
    ["COCOON_QUOTE_KEY", "x" + hex64, hmacMsg],
    ["COCOON_QUOTE_KEY", hex64 + "a", hmacMsg],
    ["COCOON_QUOTE_KEY", hex64.toUpperCase(), hmacMsg],
    ["COCOON_SESSION_KEY", "x" + hex64, hmacMsg],
    ["COCOON_SESSION_KEY", hex64 + "a", hmacMsg],
    ["COCOON_SESSION_KEY", hex64.toUpperCase(), hmacMsg],
    ["COCOON_VAULT_ADDRESS", tonAddress.slice(0, 47), `must be the vault's ${addressForms}`],
    ["COCOON_REGISTRY_ADDRESS", tonAddress.slice(0, 47), `must be the PolicyRegistry contract's ${addressForms}`],
    // 48 characters but a mistyped one: the checksum fails (the length alone was checked before)
    ["COCOON_VAULT_ADDRESS", mistyped(friendlyVault), `must be the vault's ${addressForms}`],
    ["COCOON_REGISTRY_ADDRESS", mistyped(friendlyVault), `must be the PolicyRegistry contract's ${addressForms}`],
    ["COCOON_TON_ENDPOINT", "toncenter", "must be the toncenter JSON-RPC URL"],
    // plain http beyond loopback: whoever is on the path could forge the deposits the watcher credits
    ["COCOON_TON_ENDPOINT", "http://toncenter.com/api/v2/jsonRPC", httpsMsg],
    ["COCOON_TON_ENDPOINT", "ftp://127.0.0.1/jsonRPC", httpsMsg],
  ])("%s = %j is refused", (variable, value, what) => {
    // Act
    const e = configError(prodEnv({ [variable]: value }));

    // Assess
    expect(e.variable).toBe(variable);
    expect(e.message).toBe(refusal(variable, what));
  });

  it("accepts the well-formed values, including a region of several words", () => {
    // Prepare
    const env = prodEnv({
      AWS_REGION: "us-gov-west-1",
      COCOON_ALERT_TOPIC_ARN: okTopic,
      COCOON_AGENT_ROLE_ARN: okRole,
      COCOON_MATCHING_DLQ_URL: sqsUrl("dlq"),
      COCOON_QUOTE_KEY: hex64,
      COCOON_SESSION_KEY: "f".repeat(64),
    });

    // Act
    const c = loadAwsConfig(env);

    // Assess
    expect(c.region).toBe("us-gov-west-1");
    expect(c.alertTopicArn).toBe(okTopic);
    expect(c.agentRoleArn).toBe(okRole);
    expect(c.queues.matchingDlqUrl).toBe(sqsUrl("dlq"));
    expect(c.core).toEqual({ allowDevAttestation: false, faucet: false, quoteKey: hex64, sessionKey: "f".repeat(64) });
  });

  it(`fits the worker-queue name prefix to SQS's 80 characters with "worker-" and a ${WORKER_ID_MAX}-character id`, () => {
    // Prepare
    const longest = "p".repeat(80 - "worker-".length - WORKER_ID_MAX);

    // Act
    const fits = loadAwsConfig(prodEnv({ COCOON_WORKER_QUEUE_NAME_PREFIX: longest }));
    const e = configError(prodEnv({ COCOON_WORKER_QUEUE_NAME_PREFIX: longest + "p" }));

    // Assess
    expect(longest).toHaveLength(30);
    expect(fits.queues.namePrefix).toBe(longest);
    expect(e.variable).toBe("COCOON_WORKER_QUEUE_NAME_PREFIX");
    expect(e.message).toBe(
      refusal(
        "COCOON_WORKER_QUEUE_NAME_PREFIX",
        `is too long: prefix + "worker-" + a 43-character worker id must fit SQS's 80-character queue name limit (shorten the app or stage name)`,
      ),
    );
  });
});

describe("loadAwsConfig numbers: parsed from text, bounds just inside and just outside", () => {
  it.each([
    ["COCOON_AGENT_SESSION_SECONDS", "900", "agentSessionSeconds", 900],
    ["COCOON_AGENT_SESSION_SECONDS", "3600", "agentSessionSeconds", 3600],
    ["COCOON_WORKER_QUEUE_MAX_RECEIVES", "1", "maxReceives", 1],
    ["COCOON_WORKER_QUEUE_MAX_RECEIVES", "7", "maxReceives", 7],
    ["COCOON_WORKER_QUEUE_MAX_RECEIVES", "1000", "maxReceives", 1000],
    ["COCOON_POLICY_REFRESH_SECONDS", "1", "refreshSeconds", 1],
    ["COCOON_POLICY_REFRESH_SECONDS", "7", "refreshSeconds", 7],
    ["COCOON_POLICY_REFRESH_SECONDS", "3600", "refreshSeconds", 3600],
    ["COCOON_POLICY_MAX_AGE_SECONDS", "10", "maxAgeSeconds", 10],
    ["COCOON_POLICY_MAX_AGE_SECONDS", "86400", "maxAgeSeconds", 86_400],
  ])("%s = %s is accepted", (variable, value, field, expected) => {
    // Act
    const c = loadAwsConfig(prodEnv({ COCOON_REGISTRY_ADDRESS: tonAddress, [variable]: value }));

    // Assess
    const got = { agentSessionSeconds: c.agentSessionSeconds, maxReceives: c.queues.maxReceives, ...c.registry }[field];
    expect(got).toBe(expected);
  });

  it.each([
    ["COCOON_AGENT_SESSION_SECONDS", "899", "must be at least 900 (STS minimum)"],
    ["COCOON_AGENT_SESSION_SECONDS", "3601", "must be at most 3600 (role chaining caps sessions at 1 hour)"],
    ["COCOON_AGENT_SESSION_SECONDS", "900.5", undefined],
    ["COCOON_WORKER_QUEUE_MAX_RECEIVES", "0", undefined],
    ["COCOON_WORKER_QUEUE_MAX_RECEIVES", "1001", undefined],
    ["COCOON_WORKER_QUEUE_MAX_RECEIVES", "five", undefined],
    ["COCOON_POLICY_REFRESH_SECONDS", "0", undefined],
    ["COCOON_POLICY_REFRESH_SECONDS", "3601", undefined],
    ["COCOON_POLICY_MAX_AGE_SECONDS", "9", undefined],
    ["COCOON_POLICY_MAX_AGE_SECONDS", "86401", undefined],
  ])("%s = %s is refused", (variable, value, what) => {
    // Act
    const e = configError(prodEnv({ [variable]: value }));

    // Assess
    expect(e.variable).toBe(variable);
    if (what !== undefined) expect(e.message).toBe(refusal(variable, what));
  });
});

describe("loadAwsConfig switches", () => {
  const switches = ["COCOON_ALLOW_DEV_ATTESTATION", "COCOON_ALLOW_TEST_IMAGES", "COCOON_FAUCET"] as const;

  it.each(switches)('%s = "false" is accepted and off, on the prod stage too', (variable) => {
    // Act
    const c = loadAwsConfig(prodEnv({ [variable]: "false" }));

    // Assess
    expect(c.core).toEqual({ allowDevAttestation: false, faucet: false, sessionKey: undefined });
  });

  it.each(switches)('%s = "yes" is refused: must be "true" or "false"', (variable) => {
    // Act
    const e = configError(devEnv({ [variable]: "yes" }));

    // Assess
    expect(e.variable).toBe(variable);
    expect(e.message).toBe(refusal(variable, 'must be "true" or "false"'));
  });

  it.each(switches)('%s = "true" is refused on the prod stage with the exact message', (variable) => {
    // Act
    const e = configError(prodEnv({ [variable]: "true" }));

    // Assess
    expect(e.variable).toBe(variable);
    expect(e.message).toBe(`environment variable ${variable} is "true" on the prod stage; it may only be on for dev stages`);
  });

  it.each(["production", "Prod", "PROD", "prod-eu"])(
    'the faucet is refused on the %s stage too (a production stage by its "prod" prefix)',
    (stage) => {
      // Act
      const e = configError(prodEnv({ COCOON_STAGE: stage, COCOON_FAUCET: "true" }));

      // Assess
      expect(e.message).toBe(`environment variable COCOON_FAUCET is "true" on the ${stage} stage; it may only be on for dev stages`);
    },
  );

  it("turns each switch on for a dev stage; test images appear only when on", () => {
    // Act
    const on = loadAwsConfig(devEnv({ COCOON_ALLOW_DEV_ATTESTATION: "true", COCOON_ALLOW_TEST_IMAGES: "true", COCOON_FAUCET: "true" }));
    const imagesOnly = loadAwsConfig(devEnv({ COCOON_ALLOW_TEST_IMAGES: "true" }));

    // Assess
    expect(on.core).toEqual({ allowDevAttestation: true, faucet: true, allowTestImages: true, sessionKey: undefined });
    expect(imagesOnly.core).toEqual({ allowDevAttestation: false, faucet: false, allowTestImages: true, sessionKey: undefined });
  });
});

describe("loadAwsConfig optional blocks", () => {
  it("parses COCOON_POLICY_JSON and refuses text that is not JSON", () => {
    // Prepare
    const policy = { version: 1, images: [{ id: "a" }] };

    // Act
    const c = loadAwsConfig(prodEnv({ COCOON_POLICY_JSON: JSON.stringify(policy) }));
    const e = configError(prodEnv({ COCOON_POLICY_JSON: "{not json" }));

    // Assess
    expect(c.policy).toEqual(policy);
    expect(e.variable).toBe("COCOON_POLICY_JSON");
    expect(e.message).toBe(refusal("COCOON_POLICY_JSON", "is not valid JSON"));
  });

  it.each([
    ["a user-friendly vault address", { COCOON_VAULT_ADDRESS: friendlyVault }],
    ["an http endpoint on loopback (a local stand-in)", { COCOON_TON_ENDPOINT: "http://127.0.0.1:8081/jsonRPC" }],
    ["an http endpoint on localhost", { COCOON_TON_ENDPOINT: "http://localhost:8081/jsonRPC" }],
    ["an https endpoint", { COCOON_TON_ENDPOINT: "https://toncenter.com/api/v2/jsonRPC" }],
  ])("accepts %s", (_, vars) => {
    // Act + Assess
    expect(() => loadAwsConfig(prodEnv(vars))).not.toThrow();
  });

  it("configures payouts only with both the vault and the coordinator seed", () => {
    // Act
    const vaultOnly = loadAwsConfig(prodEnv({ COCOON_VAULT_ADDRESS: tonAddress }));
    const seedOnly = loadAwsConfig(prodEnv({ COCOON_COORDINATOR_SEED: hex64 }));
    const both = loadAwsConfig(prodEnv({ COCOON_VAULT_ADDRESS: tonAddress, COCOON_COORDINATOR_SEED: hex64 }));

    // Assess
    expect(vaultOnly.payouts).toBeUndefined();
    expect(seedOnly.payouts).toBeUndefined();
    expect(both.payouts).toEqual({ vaultAddress: tonAddress, coordinatorSeedHex: hex64 });
  });

  it.each([
    ["COCOON_COORDINATOR_SEED", "COCOON_QUOTE_KEY"],
    ["COCOON_COORDINATOR_SEED", "COCOON_SESSION_KEY"],
    ["COCOON_QUOTE_KEY", "COCOON_SESSION_KEY"],
  ])("refuses %s and %s with one value (one secret per purpose), naming the second", (a, b) => {
    // Prepare
    const same = "ab".repeat(32);

    // Act
    const e = configError(prodEnv({ [a]: same, [b]: same }));

    // Assess
    expect([e.variable, e.message]).toEqual([
      b,
      `environment variable ${b} has the same value as ${a}: give each secret its own (openssl rand -hex 32)`,
    ]);
    expect(() => loadAwsConfig(prodEnv({ [a]: same, [b]: "cd".repeat(32) }))).not.toThrow();
  });

  it("adds the toncenter endpoint, and its API key only when given, to the payouts", () => {
    // Prepare
    const payouts = { COCOON_VAULT_ADDRESS: tonAddress, COCOON_COORDINATOR_SEED: hex64 };
    const endpoint = "https://toncenter.com/api/v2/jsonRPC";

    // Act
    const keyed = loadAwsConfig(prodEnv({ ...payouts, COCOON_TON_ENDPOINT: endpoint, COCOON_TON_API_KEY: "k-1" }));
    const keyless = loadAwsConfig(prodEnv({ ...payouts, COCOON_TON_ENDPOINT: endpoint }));

    // Assess
    expect(keyed.payouts).toEqual({ vaultAddress: tonAddress, coordinatorSeedHex: hex64, ton: { endpoint, apiKey: "k-1" } });
    expect(keyless.payouts).toEqual({ vaultAddress: tonAddress, coordinatorSeedHex: hex64, ton: { endpoint } });
  });

  it("has no registry without COCOON_REGISTRY_ADDRESS, even with its timings set", () => {
    // Act
    const c = loadAwsConfig(prodEnv({ COCOON_POLICY_REFRESH_SECONDS: "30", COCOON_POLICY_MAX_AGE_SECONDS: "300" }));

    // Assess
    expect(c).not.toHaveProperty("registry");
  });
});

describe("awsConfig", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it("parses process.env on first use, then returns the same config even after the environment changes", async () => {
    // Prepare
    vi.resetModules();
    const env = devEnv({ COCOON_FAUCET: "true" });
    for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
    const { awsConfig } = await import("./config");

    // Act
    const first = awsConfig();
    vi.stubEnv("COCOON_TABLE", "another-table");
    const second = awsConfig();

    // Assess
    expect(first).toMatchObject({ stage: "dev", table: "prod-cocoon-Cocoon-DataTable-1X2Y3Z", core: { faucet: true } });
    expect(second).toBe(first);
  });
});

describe("required", () => {
  it("returns a present value and names the missing variable exactly", () => {
    // Act
    const present = required("arn", "COCOON_ALERT_TOPIC_ARN");
    const falsy = required(0, "COCOON_X");
    let error: unknown;
    try {
      required(undefined, "COCOON_ALERT_TOPIC_ARN");
    } catch (e) {
      error = e;
    }

    // Assess
    expect(present).toBe("arn");
    expect(falsy).toBe(0);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({
      variable: "COCOON_ALERT_TOPIC_ARN",
      message: "environment variable COCOON_ALERT_TOPIC_ARN is not set, but this function needs it: bind it in stacks/Cocoon.ts",
    });
  });
});
