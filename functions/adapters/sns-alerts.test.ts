import { describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { dedupAlerts } from "../../core/chain/dedup";
import type { Alert } from "../../core/ports";
import { SnsAlerts, snsSubject } from "./sns-alerts";

const TOPIC = "arn:aws:sns:eu-west-1:123456789012:cocoon-alerts";
const alert: Alert = {
  key: "chain.undercollateral",
  severity: "critical",
  title: "vault balance is below liabilities",
  details: { vaultBalance: 4_000_000_000n, liabilities: "5000000000" },
};

describe("SnsAlerts", () => {
  it("publishes exactly one PublishCommand with the alert as JSON", async () => {
    const sns = mockClient(SNSClient);
    sns.on(PublishCommand).resolves({ MessageId: "m-1" });

    await new SnsAlerts(new SNSClient({ region: "eu-west-1" }), TOPIC).raise(alert);

    const calls = sns.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      TopicArn: TOPIC,
      Subject: "[cocoon critical] vault balance is below liabilities",
      Message:
        '{"key":"chain.undercollateral","severity":"critical","title":"vault balance is below liabilities","details":{"vaultBalance":"4000000000","liabilities":"5000000000"}}',
      MessageAttributes: {
        severity: { DataType: "String", StringValue: "critical" },
        key: { DataType: "String", StringValue: "chain.undercollateral" },
      },
    });
    sns.restore();
  });

  it("deduplicated by key within the window", async () => {
    const sns = mockClient(SNSClient);
    sns.on(PublishCommand).resolves({});
    const d = dedupAlerts(new SnsAlerts(new SNSClient({ region: "eu-west-1" }), TOPIC), 60_000, { now: () => 0 });
    await d.raise(alert);
    await d.raise(alert);
    await d.raise({ ...alert, key: "chain.lag" });
    expect(sns.commandCalls(PublishCommand).map((c) => c.args[0].input.MessageAttributes?.key?.StringValue)).toEqual([
      "chain.undercollateral",
      "chain.lag",
    ]);
    sns.restore();
  });

  it("propagates a publish failure (so dedup retries next time)", async () => {
    const sns = mockClient(SNSClient);
    sns.on(PublishCommand).rejects(Object.assign(new Error("Topic does not exist"), { name: "NotFoundException" }));
    await expect(new SnsAlerts(new SNSClient({ region: "eu-west-1" }), TOPIC).raise(alert)).rejects.toMatchObject({
      name: "NotFoundException",
    });
    sns.restore();
  });

  it("subjects are ASCII, single line, at most 100 characters", () => {
    const s = snsSubject({ ...alert, title: "é\n" + "x".repeat(200) });
    expect(s).toHaveLength(100);
    expect(s).toMatch(/^[\x20-\x7e]+$/);
  });
});
