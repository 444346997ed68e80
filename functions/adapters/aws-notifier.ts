/**
 * Notifier and Alerts on Lambda.
 *
 * Notifier: Lambda containers share no memory, so there is nobody to wake. `wait` sleeps a
 * short slice (≤ 250 ms) and the long-polling handler re-reads the store; `notify` is a no-op.
 *
 * Alerts: SNS Publish to the alert topic. "Same key inside the dedup window is sent once" is
 * made cross-container with one conditional put into the `nonces` table keyed by
 * (alert key, window bucket), with a TTL: the first container to claim the bucket publishes.
 * Windows are fixed buckets (floor(now / window)), so two alerts straddling a bucket edge
 * may both go out; that is the price of one write instead of a read-modify-write.
 */
import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import { ConditionFailedError, type Alert, type Alerts, type Notifier, type Store } from "../../core/ports";

export const LAMBDA_WAIT_SLICE_MS = 250;

export class LambdaNotifier implements Notifier {
  constructor(private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))) {}

  notify(_topic: string): void {
    // Nobody listens across Lambda containers; waiters re-read the store.
  }

  async wait(_topic: string, ms: number): Promise<void> {
    if (ms <= 0) return;
    await this.sleep(Math.min(ms, LAMBDA_WAIT_SLICE_MS));
  }
}

export interface SnsAlertsOptions {
  client: SNSClient;
  topicArn: string;
  /** Claims the dedup slot; without it every alert is published. */
  store?: Store;
  dedupWindowMs?: number;
  now?: () => number;
  stage?: string;
}

const SUBJECT_MAX = 100;

export class SnsAlerts implements Alerts {
  constructor(private readonly o: SnsAlertsOptions) {}

  async raise(alert: Alert): Promise<void> {
    const now = (this.o.now ?? Date.now)();
    const window = this.o.dedupWindowMs ?? 15 * 60_000;
    if (this.o.store) {
      const bucket = Math.floor(now / window);
      try {
        await this.o.store.transact([
          {
            op: "put",
            table: "nonces",
            item: { pk: `alert#${alert.key}#${bucket}`, sk: "n", ttl: Math.ceil(((bucket + 1) * window) / 1000) + 60 },
            when: { kind: "notExists" },
          },
        ]);
      } catch (e) {
        if (e instanceof ConditionFailedError) return; // already sent in this window
        throw e;
      }
    }
    const prefix = `[cocoon${this.o.stage ? ` ${this.o.stage}` : ""}] ${alert.severity.toUpperCase()}: `;
    // SNS subjects: ASCII, no newlines, at most 100 characters.
    const subject = (prefix + alert.title).replace(/[^\x20-\x7e]/g, "?").slice(0, SUBJECT_MAX);
    await this.o.client.send(
      new PublishCommand({
        TopicArn: this.o.topicArn,
        Subject: subject,
        Message: JSON.stringify({ ...alert, at: new Date(now).toISOString() }, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2),
        MessageAttributes: {
          severity: { DataType: "String", StringValue: alert.severity },
          key: { DataType: "String", StringValue: alert.key },
        },
      }),
    );
  }
}
