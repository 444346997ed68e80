/**
 * stacks/Cocoon.ts (mutation pass mut39): retainHelperLogs, on a small stack of its own (a function
 * that has a retention already, lambda.Function's `logRetention` as SST sets it, gets no second
 * one, and a helper's retention retries as SST's do: CloudWatch Logs throttles many at once), and
 * checkDeployerEnv's COCOON_ALERT_EMAIL (set but empty is no address: the stack subscribes none).
 * Each test fails with the mutant named beside it applied.
 */
import { App, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { CfnFunction, Code, Function as LambdaFunction, Runtime } from "aws-cdk-lib/aws-lambda";
import { RetentionDays } from "aws-cdk-lib/aws-logs";
import { beforeAll, describe, expect, it } from "vitest";
import { checkDeployerEnv, retainHelperLogs } from "./Cocoon";

type Json = Record<string, any>;

/** A stack with one function that has a retention of its own and one (a helper's) that has none. */
function stack() {
  // SST's functions use `logRetention` too: its deprecation notice is not this test's
  const deprecated = process.env.JSII_DEPRECATED;
  process.env.JSII_DEPRECATED = "quiet";
  const s = new Stack(new App(), "Mut39");
  new LambdaFunction(s, "Ours", {
    runtime: Runtime.NODEJS_20_X,
    handler: "i.h",
    code: Code.fromInline("0"),
    logRetention: RetentionDays.ONE_MONTH,
  });
  new CfnFunction(s, "Helper", { code: { zipFile: "0" }, role: "arn:aws:iam::123456789012:role/r", runtime: "nodejs20.x", handler: "i.h" });
  retainHelperLogs(s, RetentionDays.ONE_MONTH);
  if (deprecated === undefined) delete process.env.JSII_DEPRECATED;
  else process.env.JSII_DEPRECATED = deprecated;
  const t = Template.fromStack(s).toJSON() as { Resources: Record<string, Json> };
  const retentions = Object.values(t.Resources).filter((r) => r.Type === "Custom::LogRetention");
  const of = (id: string) => retentions.filter((r) => JSON.stringify(r.Properties.LogGroupName).includes(`{"Ref":"${id}`));
  return { of };
}

describe("retainHelperLogs", () => {
  let of: ReturnType<typeof stack>["of"];
  beforeAll(() => {
    ({ of } = stack());
  });

  it("gives a function with a retention of its own no second one, and one to a function with none", () => {
    // Assess (killed: the own-retention skip dropped: two custom resources set one group)
    expect(of("Ours")).toHaveLength(1);
    expect(of("Helper")).toHaveLength(1);
    expect(of("Helper")[0]!.Properties.RetentionInDays).toBe(30);
  });

  it("retries a helper's retention as SST's own do", () => {
    // Assess (killed: logRetentionRetryOptions dropped)
    expect(of("Helper")[0]!.Properties.SdkRetry).toEqual({ maxRetries: 100 });
  });
});

describe("COCOON_ALERT_EMAIL", () => {
  it("set but empty is no address (the stack subscribes none), not refused", () => {
    // Act / Assess (killed: an empty value checked as an address)
    expect(() => checkDeployerEnv("dev", { COCOON_ALERT_EMAIL: "" })).not.toThrow();
    expect(() => checkDeployerEnv("dev", { COCOON_ALERT_EMAIL: "ops@example" })).toThrow(/COCOON_ALERT_EMAIL/);
  });
});
