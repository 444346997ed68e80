import { beforeEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { SNSClient, PublishCommand } from "@aws-sdk/client-sns";
import { ConditionFailedError, type Store, type WriteOp } from "../../core/ports";
import { LambdaNotifier, SnsAlerts } from "./aws-notifier";

const TOPIC = "arn:aws:sns:us-east-1:123456789012:prod-cocoon-Cocoon-Alerts-9F8E7D";
const NOW = Date.UTC(2026, 10, 25, 12, 7, 0);
const sns = mockClient(SNSClient);

/** A store that records writes and refuses a second put of the same key, like a notExists condition does. */
function dedupStore() {
  const seen = new Set<string>();
  const writes: WriteOp[] = [];
  const store: Store = {
    get: async () => undefined,
    query: async () => [],
    transact: async (ops) => {
      for (const op of ops) {
        writes.push(op);
        if (op.op === "put") {
          if (seen.has(op.item.pk)) throw new ConditionFailedError(0);
          seen.add(op.item.pk);
        }
      }
    },
  };
  return { store, writes };
}

const lag = { key: "watcher-lag", severity: "warning" as const, title: "chain watcher is 12 minutes behind", details: { lagSeconds: 720, cursorLt: 48_000_000_000_000n } };

beforeEach(() => {
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: "sns-1" });
});

describe("LambdaNotifier", () => {
  it("wait sleeps at most 250 ms so the handler re-reads the store; notify does nothing", async () => {
    const slept: number[] = [];
    const n = new LambdaNotifier(async (ms) => {
      slept.push(ms);
    });
    n.notify("job:1");
    await n.wait("job:1", 20_000);
    await n.wait("job:1", 100);
    await n.wait("job:1", 0);
    expect(slept).toEqual([250, 100]);
  });
});

describe("SnsAlerts", () => {
  it("publishes once per key and window: the second raise inside the window is dropped", async () => {
    // Prepare
    const { store, writes } = dedupStore();
    const alerts = new SnsAlerts({ client: new SNSClient({ region: "us-east-1" }), topicArn: TOPIC, store, now: () => NOW, dedupWindowMs: 15 * 60_000, stage: "prod" });

    // Act
    await alerts.raise(lag);
    await alerts.raise(lag);

    // Assess
    const bucket = Math.floor(NOW / (15 * 60_000));
    expect(writes).toEqual([
      { op: "put", table: "nonces", item: { pk: `alert#watcher-lag#${bucket}`, sk: "n", ttl: ((bucket + 1) * 15 * 60_000) / 1000 + 60 }, when: { kind: "notExists" } },
      { op: "put", table: "nonces", item: { pk: `alert#watcher-lag#${bucket}`, sk: "n", ttl: ((bucket + 1) * 15 * 60_000) / 1000 + 60 }, when: { kind: "notExists" } },
    ]);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(1);
    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input).toMatchObject({
      TopicArn: TOPIC,
      Subject: "[cocoon prod] WARNING: chain watcher is 12 minutes behind",
      MessageAttributes: { severity: { DataType: "String", StringValue: "warning" }, key: { DataType: "String", StringValue: "watcher-lag" } },
    });
    expect(JSON.parse(input.Message!)).toEqual({ ...lag, details: { lagSeconds: 720, cursorLt: "48000000000000" }, at: new Date(NOW).toISOString() });
  });

  it("subjects are cut to SNS's 100 ASCII characters", async () => {
    const alerts = new SnsAlerts({ client: new SNSClient({ region: "us-east-1" }), topicArn: TOPIC, now: () => NOW });
    await alerts.raise({ ...lag, key: "k", title: `vault balance below liabilities — ${"x".repeat(200)}` });
    const subject = sns.commandCalls(PublishCommand)[0]!.args[0].input.Subject!;
    expect(subject).toHaveLength(100);
    expect(subject).toMatch(/^[\x20-\x7e]+$/);
  });

  it("an SNS failure is not swallowed", async () => {
    sns.on(PublishCommand).rejects(Object.assign(new Error("Topic does not exist"), { name: "NotFoundException" }));
    const alerts = new SnsAlerts({ client: new SNSClient({ region: "us-east-1" }), topicArn: TOPIC, now: () => NOW });
    await expect(alerts.raise(lag)).rejects.toMatchObject({ name: "NotFoundException" });
  });
});
