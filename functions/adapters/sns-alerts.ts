/**
 * Alerts over SNS (the topic fans out to e-mail/SMS/chat subscriptions). One PublishCommand
 * per alert; the JSON message carries the whole alert, the subject a one-line summary, and
 * message attributes let subscriptions filter on severity. Wrap with dedupAlerts /
 * storeDedupAlerts (core/chain/dedup.ts) to send each key once per window.
 */
import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import type { Alert, Alerts } from "../../core/ports";

export const alertJson = (a: Alert): string =>
  JSON.stringify({ key: a.key, severity: a.severity, title: a.title, details: a.details }, (_k, v: unknown) =>
    typeof v === "bigint" ? v.toString() : v,
  );

/** SNS subjects: ASCII, no line breaks, at most 100 characters. */
export function snsSubject(a: Alert, prefix = "cocoon"): string {
  const s = `[${prefix} ${a.severity}] ${a.title}`.replace(/[^\x20-\x7e]/g, "?");
  return s.length > 100 ? s.slice(0, 97) + "..." : s;
}

export class SnsAlerts implements Alerts {
  constructor(
    private readonly client: Pick<SNSClient, "send">,
    private readonly topicArn: string,
    private readonly opts: { subjectPrefix?: string } = {},
  ) {}

  async raise(a: Alert): Promise<void> {
    await this.client.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Subject: snsSubject(a, this.opts.subjectPrefix),
        Message: alertJson(a),
        MessageAttributes: {
          severity: { DataType: "String", StringValue: a.severity },
          key: { DataType: "String", StringValue: a.key },
        },
      }),
    );
  }
}
