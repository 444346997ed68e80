/**
 * Review, session 27 (the AWS deployment as its operator runs it): what tells the operator that
 * something is wrong, and what keeps the background functions running when the public edge is
 * busy. Synthesizes prod offline with placeholder bundles (structure only) and reads the template.
 */
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { Template } from "aws-cdk-lib/assertions";
import { synthesize } from "../stacks/synth";
import { routes } from "../functions/http/routes";
import { checkDeployerEnv, routeConcurrencyFromEnv } from "../stacks/Cocoon";
import { stageQueueDepths } from "../stacks/deploy";
import { mockClient } from "aws-sdk-client-mock";
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient } from "@aws-sdk/client-sqs";

type Json = Record<string, any>;
/**
 * A production stage (the "prod" prefix) of its own name: SST keeps each function's build under
 * .sst/artifacts/<construct address>, which names the stage, so this file's placeholder builds
 * never replace the bundles test/stacks.test.ts builds for "prod" when the two run at once.
 */
const STAGE = "prod-ops";
let t: { Resources: Record<string, Json> };

beforeAll(async () => {
  const saved = { COCOON_RELAY_TRANSPORT: process.env.COCOON_RELAY_TRANSPORT, COCOON_IOT_ENDPOINT: process.env.COCOON_IOT_ENDPOINT };
  delete process.env.COCOON_RELAY_TRANSPORT;
  delete process.env.COCOON_IOT_ENDPOINT;
  try {
    process.env.NODE_ENV = "test";
    const { initProject } = await import("sst/project.js");
    await initProject({ stage: STAGE, region: "us-east-1", root: process.cwd() });
    const r = await synthesize({ stage: STAGE, bundle: false, outdir: tempDir("cocoon-ops-synth-") });
    t = Template.fromStack(r.stacks[0]!).toJSON() as typeof t;
  } finally {
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}, 300_000);

// ---------------------------------------------------------------- helpers

const ofType = (type: string) => Object.entries(t.Resources).filter(([, r]) => r.Type === type);
/** Our functions (SST's own helpers have no COCOON_RUNTIME). */
const ourFunctions = () => ofType("AWS::Lambda::Function").filter(([, f]) => f.Properties.Environment?.Variables?.COCOON_RUNTIME === "aws");
/** A scheduled function, by the schedule rule whose target it is and the construct id in its logical id. */
function scheduled(name: string): string {
  const [id] = ofType("AWS::Lambda::Function").find(([id]) => id.startsWith(`${name}Job`))!;
  expect(
    ofType("AWS::Events::Rule").some(([, r]) => r.Properties.Targets?.[0]?.Arn?.["Fn::GetAtt"]?.[0] === id),
    name,
  ).toBe(true);
  return id;
}
const topicId = () => ofType("AWS::SNS::Topic")[0]![0];
interface MetricRef {
  namespace: string;
  name: string;
  dimensions: Json[];
}
/** Every metric an alarm reads: its own, or those of its metric-math expression. */
function metricsOf(alarm: Json): MetricRef[] {
  const p = alarm.Properties;
  if (p.MetricName) return [{ namespace: p.Namespace, name: p.MetricName, dimensions: p.Dimensions ?? [] }];
  return (p.Metrics ?? [])
    .filter((m: Json) => m.MetricStat)
    .map((m: Json) => ({
      namespace: m.MetricStat.Metric.Namespace,
      name: m.MetricStat.Metric.MetricName,
      dimensions: m.MetricStat.Metric.Dimensions ?? [],
    }));
}
/** The alarms that read `metric` of `namespace` with a dimension pointing at `resourceId`, and tell the alert topic. */
function alarmsOn(namespace: string, metric: string, resourceId: string): Json[] {
  return ofType("AWS::CloudWatch::Alarm")
    .map(([, a]) => a)
    .filter((a) =>
      metricsOf(a).some((m) => m.namespace === namespace && m.name === metric && JSON.stringify(m.dimensions).includes(`"${resourceId}"`)),
    )
    .filter((a) => JSON.stringify(a.Properties.AlarmActions ?? []).includes(topicId()));
}

const arr = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
/** The function an API route reaches (placeholder bundles share one handler name: by its integration). */
function functionOfRoute(routeKey: string): Json | undefined {
  const route = ofType("AWS::ApiGatewayV2::Route").find(([, r]) => r.Properties.RouteKey === routeKey)?.[1];
  if (!route) return undefined;
  const integrationId = route.Properties.Target["Fn::Join"][1][1].Ref;
  return t.Resources[t.Resources[integrationId]!.Properties.IntegrationUri["Fn::GetAtt"][0]]!.Properties;
}
/** The actions a function's role allows on the table. */
function tableActionsOf(fn: Json): string[] {
  const [tableId] = ofType("AWS::DynamoDB::Table")[0]!;
  const roleId = fn.Role["Fn::GetAtt"][0];
  return ofType("AWS::IAM::Policy")
    .filter(([, p]) => arr(p.Properties.Roles).some((r: Json) => r.Ref === roleId))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Json[])
    .filter((st) => JSON.stringify(st.Resource).includes(`"${tableId}"`))
    .flatMap((st) => arr(st.Action) as string[]);
}

// ---------------------------------------------------------------- tests

describe("review, session 27: a route's grants cover what its authentication writes", () => {
  it("every deployed route that claims request nonces (signed, replay guard) may put the nonce item: without it each request is AccessDenied, a 500", () => {
    // Prepare
    const guarded = routes.filter((r) => r.spec.auth !== "none" && r.spec.replay !== "idempotent");
    // Act
    const deployed = guarded.map((r) => [`${r.spec.method} ${r.spec.path}`, functionOfRoute(`${r.spec.method} ${r.spec.path}`)] as const);
    // Assess
    expect(deployed.filter(([, fn]) => fn).length).toBeGreaterThan(10);
    for (const [key, fn] of deployed) if (fn) expect(tableActionsOf(fn), key).toContain("dynamodb:PutItem");
  });
});

describe("review, session 27: the chain watcher and the anchorer are seen to run", () => {
  it("each alarms when it stops being invoked (no Invocations counts as breaching: a disabled rule, a throttled or deleted function raises no Errors)", () => {
    for (const name of ["ChainWatcher", "ReceiptAnchorer"]) {
      // Act
      const alarms = alarmsOn("AWS/Lambda", "Invocations", scheduled(name));
      // Assess
      expect(alarms, name).toHaveLength(1);
      expect(alarms[0]!.Properties, name).toMatchObject({
        ComparisonOperator: "LessThanThreshold",
        Threshold: 1,
        TreatMissingData: "breaching",
      });
      // a minute's schedule: two quiet 5-minute periods are not a blip
      expect(alarms[0]!.Properties.Period * alarms[0]!.Properties.EvaluationPeriods, name).toBeLessThanOrEqual(15 * 60);
    }
  });

  it("the chain watcher has concurrency of its own (reserved), so a flood of public requests cannot take every slot of the account and stop deposits being credited", () => {
    // Act
    const watcher = t.Resources[scheduled("ChainWatcher")]!.Properties;
    // Assess
    expect(watcher.ReservedConcurrentExecutions).toBeGreaterThanOrEqual(1);
  });

  it("a failed run of either is not retried by Lambda (the next minute's run is the retry): retries of a one-slot function queue behind the schedule, up to 6 hours", () => {
    for (const name of ["ChainWatcher", "ReceiptAnchorer"]) {
      // Prepare
      const id = scheduled(name);
      // Act
      const configs = ofType("AWS::Lambda::EventInvokeConfig").filter(([, c]) => c.Properties.FunctionName?.Ref === id);
      // Assess
      expect(configs, name).toHaveLength(1);
      expect(configs[0]![1].Properties.MaximumRetryAttempts, name).toBe(0);
    }
  });
});

describe("review, session 27: the public edge's failures reach the operator", () => {
  it("every route function's 5xx answers (function URL and API Gateway) are alarmed: the handlers answer their failures (500 internal_error), so Lambda's Errors metric stays at 0", () => {
    // Prepare
    const urlFunctions = ofType("AWS::Lambda::Url").map(([, u]) => u.Properties.TargetFunctionArn["Fn::GetAtt"][0] as string);
    const [apiId] = ofType("AWS::ApiGatewayV2::Api")[0]!;
    // Act / Assess
    expect(urlFunctions.length).toBeGreaterThan(15);
    for (const fn of urlFunctions) expect(alarmsOn("AWS/Lambda", "Url5xxCount", fn), fn).not.toHaveLength(0);
    expect(alarmsOn("AWS/ApiGateway", "5xx", apiId)).not.toHaveLength(0);
  });
});

describe("review, session 27: the table's throttling is alarmed", () => {
  it("read and write throttle events on the one table (every ledger write goes there) raise an alarm", () => {
    // Prepare
    const [tableId] = ofType("AWS::DynamoDB::Table")[0]!;
    // Act / Assess
    expect(alarmsOn("AWS/DynamoDB", "ReadThrottleEvents", tableId)).not.toHaveLength(0);
    expect(alarmsOn("AWS/DynamoDB", "WriteThrottleEvents", tableId)).not.toHaveLength(0);
  });
});

describe("review, session 27: function logs expire", () => {
  it("every function's log group has a retention (prod: 30 days, like the API's access log); Lambda's own default keeps them for ever", () => {
    // Prepare
    const retentions = ofType("Custom::LogRetention").map(([, r]) => r.Properties);
    // Act / Assess
    expect(ourFunctions().length).toBeGreaterThan(30);
    for (const [id] of ourFunctions()) {
      const r = retentions.find((p) => JSON.stringify(p.LogGroupName).includes(`"${id}"`));
      expect(r, id).toBeDefined();
      expect(r!.RetentionInDays, id).toBe(30);
    }
  });
});

describe("ops39: every log group the template makes or implies expires, the helpers' too", () => {
  it("each Lambda function (ours, SST's custom-resource handler, CDK's log-retention provider) writes to a log group given a retention, and every log group the template makes has one", () => {
    // Prepare: a function logs to its LoggingConfig's group, else to /aws/lambda/<its name>, which
    // Lambda makes at its first run with no retention unless a Custom::LogRetention sets one
    const retained = new Map<string, number>();
    for (const [, r] of ofType("Custom::LogRetention")) {
      const [prefix, name, ...rest] = (r.Properties.LogGroupName?.["Fn::Join"]?.[1] ?? []) as [unknown, Json?, ...unknown[]];
      if (prefix === "/aws/lambda/" && typeof name?.Ref === "string" && rest.length === 0)
        retained.set(name.Ref, r.Properties.RetentionInDays);
    }
    const functions = ofType("AWS::Lambda::Function");
    // Act
    const without = functions
      .filter(([id, f]) => {
        const group = f.Properties.LoggingConfig?.LogGroup?.Ref as string | undefined;
        const days = group ? t.Resources[group]?.Properties.RetentionInDays : retained.get(id);
        return !(Number.isInteger(days) && days > 0);
      })
      .map(([id]) => id);
    // Assess
    expect(functions.length).toBeGreaterThan(ourFunctions().length); // the helpers are in the template
    expect(without).toEqual([]);
    for (const [id, g] of ofType("AWS::Logs::LogGroup")) expect(g.Properties.RetentionInDays, id).toBe(30);
  });

  it("the helpers' groups are given the stage's retention (CDK's provider also sets its own to 1 day when it creates one)", () => {
    // Prepare
    const helpers = ofType("AWS::Lambda::Function").filter(([, f]) => f.Properties.Environment?.Variables?.COCOON_RUNTIME !== "aws");
    // Act
    const days = helpers.map(
      ([id]) =>
        ofType("Custom::LogRetention").find(([, r]) => JSON.stringify(r.Properties.LogGroupName).includes(`{"Ref":"${id}"}`))?.[1]
          .Properties.RetentionInDays,
    );
    // Assess
    expect(helpers.map(([id]) => id.replace(/[0-9A-F]{8}$/, ""))).toEqual([
      "CustomResourceHandler",
      "LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a",
    ]);
    expect(days).toEqual([30, 30]);
  });
});

describe("ops39: npm run remove asks SQS about the queues this template makes", () => {
  it("the name it asks for is the matching queue's (the queue the matching consumer reads), and the DLQ is the one that queue's redrive policy names", async () => {
    // Prepare: the matching queue by its consumer's event source; SQS answers from the template
    const mapping = ofType("AWS::Lambda::EventSourceMapping")[0]![1];
    const queueId = mapping.Properties.EventSourceArn["Fn::GetAtt"][0] as string;
    const queue = t.Resources[queueId]!.Properties;
    const dlqId = queue.RedrivePolicy.deadLetterTargetArn["Fn::GetAtt"][0] as string;
    const url = (name: string) => `https://sqs.us-east-1.amazonaws.com/123456789012/${name}`;
    const sqs = mockClient(SQSClient);
    sqs.on(GetQueueUrlCommand).callsFake((input: { QueueName: string }) => ({ QueueUrl: url(input.QueueName) }));
    sqs.on(GetQueueAttributesCommand, { QueueUrl: url(queue.QueueName) }).resolves({
      Attributes: {
        ...{ ApproximateNumberOfMessages: "0", ApproximateNumberOfMessagesNotVisible: "0", ApproximateNumberOfMessagesDelayed: "0" },
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: `arn:aws:sqs:us-east-1:123456789012:${dlqId}`, maxReceiveCount: 5 }),
      },
    });
    sqs.on(GetQueueAttributesCommand, { QueueUrl: url(dlqId) }).resolves({
      Attributes: { ApproximateNumberOfMessages: "0", ApproximateNumberOfMessagesNotVisible: "0", ApproximateNumberOfMessagesDelayed: "0" },
    });
    try {
      // Act
      const depths = await stageQueueDepths(STAGE, "us-east-1", new AbortController().signal);
      // Assess: asked by the name the template gives the queue (an existing stage's name: SST's own)
      expect(queue.QueueName).toBe(`${STAGE}-cocoon-Matching`);
      expect(sqs.commandCalls(GetQueueUrlCommand)[0]!.args[0].input.QueueName).toBe(queue.QueueName);
      expect(depths.map((d) => d.queue)).toEqual([queue.QueueName, dlqId]);
    } finally {
      sqs.restore();
    }
  });
});

describe("review, session 27: a fleet-wide bound on the public edge", () => {
  it("COCOON_ROUTE_CONCURRENCY at deploy: a whole number from 1 to 1000, or unset (no bound); anything else is refused before anything is built", () => {
    expect(routeConcurrencyFromEnv({})).toBeUndefined();
    expect(routeConcurrencyFromEnv({ COCOON_ROUTE_CONCURRENCY: "" })).toBeUndefined();
    expect(routeConcurrencyFromEnv({ COCOON_ROUTE_CONCURRENCY: "25" })).toBe(25);
    expect(routeConcurrencyFromEnv({ COCOON_ROUTE_CONCURRENCY: "1000" })).toBe(1000);
    for (const bad of ["0", "1001", "-5", "2.5", "ten", " 25"])
      expect(() => routeConcurrencyFromEnv({ COCOON_ROUTE_CONCURRENCY: bad }), bad).toThrow(/COCOON_ROUTE_CONCURRENCY/);
  });

  it("set, every route's function (function URL and API Gateway alike) runs at most that many at once; the background functions keep their own", async () => {
    // Prepare
    process.env.COCOON_ROUTE_CONCURRENCY = "25";
    let bounded: { Resources: Record<string, Json> };
    try {
      // Act
      const r = await synthesize({ stage: STAGE, bundle: false, outdir: tempDir("cocoon-ops-synth-bounded-") });
      bounded = Template.fromStack(r.stacks[0]!).toJSON() as typeof bounded;
    } finally {
      delete process.env.COCOON_ROUTE_CONCURRENCY;
    }
    // Assess
    const fns = Object.entries(bounded.Resources).filter(
      ([, f]) => f.Type === "AWS::Lambda::Function" && f.Properties.Environment?.Variables?.COCOON_RUNTIME === "aws",
    );
    const routeFns = fns.filter(([id]) => id.startsWith("ApiLambda"));
    expect(routeFns.length).toBeGreaterThanOrEqual(28);
    for (const [id, f] of routeFns) expect(f.Properties.ReservedConcurrentExecutions, id).toBe(25);
    for (const [id, f] of fns.filter(([id]) => !id.startsWith("ApiLambda")))
      expect(f.Properties.ReservedConcurrentExecutions, id).not.toBe(25);
    // unset (the template the other tests read): no bound, as before
    for (const [id, f] of ourFunctions().filter(([id]) => id.startsWith("ApiLambda")))
      expect(f.Properties.ReservedConcurrentExecutions, id).toBeUndefined();
  }, 120_000);
});

describe("review, session 27: the deploying shell's values are checked before anything is built", () => {
  const KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
  // prod: the custody key only as its SSM parameter's name, under the operator's KMS key
  const valid = {
    COCOON_QUOTE_KEY: "a1".repeat(32),
    COCOON_SESSION_KEY: "b2".repeat(32),
    COCOON_VAULT_ADDRESS: "0:" + "a".repeat(64),
    COCOON_COORDINATOR_SEED_PARAM: "/cocoon/prod/coordinator-seed",
    COCOON_SECRETS_KMS_KEY_ARN: KMS_KEY,
    COCOON_TON_ENDPOINT: "https://toncenter.com/api/v2/jsonRPC",
    COCOON_TON_API_KEY: "key",
    COCOON_TELEGRAM_BOT_TOKEN: "4242424242:AAtelegram-token_0123",
    COCOON_TELEGRAM_CHAT_ID: "-1001234",
    COCOON_REGISTRY_ADDRESS: "0:" + "c".repeat(64),
    COCOON_POLICY_JSON: JSON.stringify(JSON.parse(readFileSync("core/attestation/policy.json", "utf8"))),
    COCOON_ANCHOR_ADDRESS: "0:" + "b".repeat(64),
    COCOON_ANCHOR_SEED: "08".repeat(32),
    COCOON_ANCHOR_INTERVAL_SECONDS: "300",
  };

  it("the checks read the environment through its readers, never a route's handler module (functions/http/): the stack would load that handler's code", () => {
    // Prepare
    const source = readFileSync("stacks/Cocoon.ts", "utf8");
    // Act
    const imported = [...source.matchAll(/^import[^;]*?from "([^"]+)";/gms)].map((m) => m[1]);
    // Assess
    expect(imported).toContain("../functions/operator-env");
    expect(imported.filter((m) => m!.startsWith("../functions/http/"))).toEqual([]);
  });

  it("nothing set, or every value well formed: accepted", () => {
    expect(() => checkDeployerEnv("prod", {})).not.toThrow();
    expect(() => checkDeployerEnv("prod", valid)).not.toThrow();
    // a dev stage may take the custody key as a value
    const { COCOON_COORDINATOR_SEED_PARAM: _, ...plain } = valid;
    expect(checkDeployerEnv("dev", { ...plain, COCOON_COORDINATOR_SEED: "07".repeat(32) })).toEqual([]);
  });

  it.each([
    ["COCOON_QUOTE_KEY", "A1".repeat(32)],
    ["COCOON_SESSION_KEY", "b2".repeat(16)],
    ["COCOON_VAULT_ADDRESS", "EQ" + "A".repeat(46)],
    ["COCOON_COORDINATOR_SEED_PARAM", "cocoon/prod/coordinator-seed"], // not a full name (and so no ARN to grant on)
    ["COCOON_QUOTE_KEY_PARAM", "arn:aws:ssm:us-east-1:123456789012:parameter/cocoon/prod/quote-key"],
    ["COCOON_SECRETS_KMS_KEY_ARN", "alias/cocoon-secrets"],
    ["COCOON_TON_ENDPOINT", "http://toncenter.com/api/v2/jsonRPC"],
    ["COCOON_REGISTRY_ADDRESS", "0:abc"],
    ["COCOON_POLICY_MAX_AGE_SECONDS", "5"],
    ["COCOON_POLICY_JSON", "{not json"],
    ["COCOON_POLICY_JSON", JSON.stringify({ version: 2, measurements: "all" })],
    ["COCOON_POLICY_JSON", JSON.stringify({ version: 2, measurements: [], models: {}, note: "x".repeat(1100) })], // past Lambda's 4 KB
    ["COCOON_ANCHOR_ADDRESS", "EQ" + "B".repeat(46)],
    ["COCOON_ANCHOR_SEED", "08".repeat(31)],
    ["COCOON_ANCHOR_INTERVAL_SECONDS", "1"],
    ["COCOON_OPERATOR_KEY", "AB".repeat(32)], // the operator's public key: lower-case hex only
    ["COCOON_TON_API_KEY", "two words"], // an X-API-Key header fetch refuses, quoting it into the log
    ["COCOON_TON_API_KEY_PARAM", "ton-api-key"],
    ["COCOON_TELEGRAM_BOT_TOKEN", "4242424242/AAtelegram"], // the token is in the Bot API's URL path
    ["COCOON_TELEGRAM_BOT_TOKEN_PARAM", "arn:aws:ssm:us-east-1:123456789012:parameter/cocoon/prod/telegram-bot-token"],
  ])("%s = %s is refused, by name (each would fail every cold start of the functions given it)", (variable, value) => {
    expect(() => checkDeployerEnv("prod", { ...valid, [variable]: value })).toThrow(new RegExp(`^deploy refused: ${variable} `));
  });

  it("the coordinator's seed as a malformed value is refused on any stage, by name", () => {
    expect(() => checkDeployerEnv("dev", { COCOON_COORDINATOR_SEED: "xyz" })).toThrow(
      /^deploy refused: COCOON_COORDINATOR_SEED must be 64 lower-case hex chars/,
    );
  });

  it("secrets from SSM: a secret given both as a value and as a parameter's name is refused, on any stage", () => {
    for (const stage of ["dev", "prod"])
      expect(() => checkDeployerEnv(stage, { ...valid, COCOON_QUOTE_KEY_PARAM: "/cocoon/prod/quote-key" })).toThrow(
        /^deploy refused: COCOON_QUOTE_KEY and COCOON_QUOTE_KEY_PARAM are both set/,
      );
  });

  it("secrets from SSM: a production stage refuses the custody key as a value, and its parameter without a customer managed KMS key", () => {
    // Prepare
    const { COCOON_COORDINATOR_SEED_PARAM: _, ...rest } = valid;
    const plain = { ...rest, COCOON_COORDINATOR_SEED: "07".repeat(32) };
    const { COCOON_SECRETS_KMS_KEY_ARN: __, ...noKey } = valid;
    // Act, Assess
    for (const stage of ["prod", "production", "Prod-eu"])
      expect(() => checkDeployerEnv(stage, plain), stage).toThrow(
        /^deploy refused: COCOON_COORDINATOR_SEED is a plain value on the production stage .*set COCOON_COORDINATOR_SEED_PARAM/,
      );
    expect(() => checkDeployerEnv("prod", noKey)).toThrow(
      /^deploy refused: COCOON_SECRETS_KMS_KEY_ARN is not set, but COCOON_COORDINATOR_SEED_PARAM is, on the production stage prod: under the default aws\/ssm key/,
    );
    expect(() => checkDeployerEnv("dev", plain)).not.toThrow();
    expect(() => checkDeployerEnv("dev", noKey)).not.toThrow();
  });

  it("secrets from SSM: a production stage warns of the other secrets given as values (the quote and session keys, the anchor seed, the toncenter key, the alert bot's token); a dev stage does not", () => {
    // Act
    const prod = checkDeployerEnv("prod", valid);
    const dev = checkDeployerEnv("dev", valid);
    const fromSsm = checkDeployerEnv("prod", {
      ...valid,
      COCOON_QUOTE_KEY: undefined,
      COCOON_SESSION_KEY: undefined,
      COCOON_ANCHOR_SEED: undefined,
      COCOON_TON_API_KEY: undefined,
      COCOON_TELEGRAM_BOT_TOKEN: undefined,
      COCOON_QUOTE_KEY_PARAM: "/cocoon/prod/quote-key",
      COCOON_SESSION_KEY_PARAM: "/cocoon/prod/session-key",
      COCOON_ANCHOR_SEED_PARAM: "/cocoon/prod/anchor-seed",
      COCOON_TON_API_KEY_PARAM: "/cocoon/prod/ton-api-key",
      COCOON_TELEGRAM_BOT_TOKEN_PARAM: "/cocoon/prod/telegram-bot-token",
    });
    // Assess
    expect(prod.map((w) => w.split(" ")[0])).toEqual([
      "COCOON_QUOTE_KEY",
      "COCOON_SESSION_KEY",
      "COCOON_ANCHOR_SEED",
      "COCOON_TON_API_KEY",
      "COCOON_TELEGRAM_BOT_TOKEN",
    ]);
    expect(prod[0]).toMatch(/^COCOON_QUOTE_KEY is a plain value: .*set COCOON_QUOTE_KEY_PARAM instead/);
    expect(dev).toEqual([]);
    expect(fromSsm).toEqual([]);
  });

  it("secrets from SSM: a production deploy with the custody key as a value is refused at synthesis", async () => {
    // Prepare
    process.env.COCOON_COORDINATOR_SEED = "07".repeat(32);
    try {
      // Act
      const outcome = await synthesize({ stage: STAGE, bundle: false, outdir: tempDir("cocoon-ops-synth-plain-seed-") }).then(
        () => "built",
        (e: unknown) => String(e),
      );
      // Assess
      expect(outcome).toMatch(/^Error: deploy refused: COCOON_COORDINATOR_SEED is a plain value on the production stage prod-ops/);
    } finally {
      delete process.env.COCOON_COORDINATOR_SEED;
    }
  }, 120_000);

  it("a deploy with a malformed value is refused at synthesis (before CloudFormation changes anything)", async () => {
    // Prepare
    process.env.COCOON_QUOTE_KEY = "not-a-hex-key";
    try {
      // Act (the outcome as text: a built app does not print)
      const outcome = await synthesize({ stage: STAGE, bundle: false, outdir: tempDir("cocoon-ops-synth-refused-") }).then(
        () => "built",
        (e: unknown) => String(e),
      );
      // Assess
      expect(outcome).toMatch(/^Error: deploy refused: COCOON_QUOTE_KEY /);
    } finally {
      delete process.env.COCOON_QUOTE_KEY;
    }
  }, 120_000);
});

describe("review, session 27: queue visibility against its consumer's timeout (a guard: it held already)", () => {
  it("every queue a function consumes hides a received batch for at least 6 times the consumer's timeout (AWS's advice), so a slow batch is not delivered twice", () => {
    for (const [id, m] of ofType("AWS::Lambda::EventSourceMapping")) {
      // Prepare
      const queue = t.Resources[m.Properties.EventSourceArn["Fn::GetAtt"][0]]!.Properties;
      const fn = t.Resources[m.Properties.FunctionName.Ref]!.Properties;
      // Assess
      expect(fn.Timeout, id).toBeGreaterThan(0);
      expect(queue.VisibilityTimeout, id).toBeGreaterThanOrEqual(6 * fn.Timeout);
    }
  });
});

describe("review, session 27: no function may hide queue messages it never holds on to", () => {
  it("sqs:ChangeMessageVisibility only where a message is kept in flight: the matching queue's event source (Lambda's poller); the HTTP poll and the DLQ redrive receive, then delete or leave, and never extend", () => {
    // Prepare
    const [consumerId] = ofType("AWS::Lambda::EventSourceMapping").map(([, m]) => m.Properties.FunctionName.Ref as string);
    const roleOfFn = (id: string) => t.Resources[id]!.Properties.Role["Fn::GetAtt"][0] as string;
    // Act
    const holders = ourFunctions()
      .filter(([id]) =>
        ofType("AWS::IAM::Policy")
          .filter(([, p]) => arr(p.Properties.Roles).some((r: Json) => r.Ref === roleOfFn(id)))
          .some(([, p]) =>
            (p.Properties.PolicyDocument.Statement as Json[]).some((st) => arr(st.Action).includes("sqs:ChangeMessageVisibility")),
          ),
      )
      .map(([id]) => id);
    // Assess
    expect(holders).toEqual([consumerId]);
  });
});

describe("review, session 27: the matching consumer's failures reach the operator before its DLQ does", () => {
  it("its errors (a whole batch: a crash, a timeout, a cold start that fails) and its throttles (the account's concurrency taken) raise an alarm; each failed delivery otherwise waits 180 s, and the DLQ's alarm comes after five", () => {
    // Prepare
    const [consumerId] = ofType("AWS::Lambda::EventSourceMapping").map(([, m]) => m.Properties.FunctionName.Ref as string);
    // Act / Assess
    expect(alarmsOn("AWS/Lambda", "Errors", consumerId!)).not.toHaveLength(0);
    expect(alarmsOn("AWS/Lambda", "Throttles", consumerId!)).not.toHaveLength(0);
  });
});

describe("review, ops38: the public function URLs answer, and only through the URL (a guard: it held already)", () => {
  it("each URL's function allows anyone lambda:InvokeFunctionUrl (auth NONE) and lambda:InvokeFunction only via a function URL (AWS requires both of a new URL since October 2025: without the second every request is a 403); no other statement lets anyone invoke", () => {
    // Prepare
    const urlFunctions = ofType("AWS::Lambda::Url").map(([, u]) => u.Properties.TargetFunctionArn["Fn::GetAtt"][0] as string);
    const publicGrants = ofType("AWS::Lambda::Permission")
      .map(([, p]) => p.Properties)
      .filter((p) => p.Principal === "*");
    const grantsOf = (fn: string) => publicGrants.filter((p) => p.FunctionName["Fn::GetAtt"]?.[0] === fn);
    // Act / Assess
    expect(urlFunctions.length).toBeGreaterThan(15);
    for (const fn of urlFunctions)
      expect(
        grantsOf(fn).map(({ Action, FunctionUrlAuthType, InvokedViaFunctionUrl }) => ({
          Action,
          FunctionUrlAuthType,
          InvokedViaFunctionUrl,
        })),
        fn,
      ).toEqual(
        expect.arrayContaining([
          { Action: "lambda:InvokeFunctionUrl", FunctionUrlAuthType: "NONE", InvokedViaFunctionUrl: undefined },
          { Action: "lambda:InvokeFunction", FunctionUrlAuthType: undefined, InvokedViaFunctionUrl: true },
        ]),
      );
    for (const p of publicGrants) {
      expect(urlFunctions, JSON.stringify(p)).toContain(p.FunctionName["Fn::GetAtt"][0]);
      expect(p.FunctionUrlAuthType === "NONE" || p.InvokedViaFunctionUrl === true, JSON.stringify(p)).toBe(true);
    }
  });
});
