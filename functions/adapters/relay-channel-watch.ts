/**
 * The relay sweep's view of the SQS channel queues on AWS (core/relay-sweep.ts ChannelQueueWatch):
 *
 * - the queues: the core names them (its SweptChannel items, one per channel the session route
 *   vended credentials for); the name is relay-sqs.ts relayQueueName, as the vendor made it. Not
 *   ListQueues: a queue its requester deleted is not listed, and was still read (review42 F1);
 * - their empty receives: CloudWatch GetMetricData, `AWS/SQS` `NumberOfEmptyReceives` by
 *   `QueueName`, one query per queue (500 a call), the window's Sum. CloudWatch keeps a deleted
 *   queue's metrics (15 days), so a deleted queue is measured as a live one. Sent over
 *   CloudWatch's Query protocol (a form POST, an XML answer) signed with the SQS client's own
 *   credentials and hash (@smithy/signature-v4, service `monitoring`): the repository holds no
 *   CloudWatch client, and one call a sweep does not need one. CloudWatch bills $0.01 per 1,000
 *   metrics requested;
 * - the removal: GetQueueUrl then DeleteQueue (a queue gone already is no error).
 *
 * Not tried against AWS here: the adapter's requests and the answer's parsing are tested against
 * their documented shapes (relay-channel-watch.test.ts).
 */
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { ChannelQueueWatch } from "../../core/relay-sweep";
import { relayQueueName } from "./relay-sqs";

/** GetMetricData takes at most 500 queries a call. */
const QUERIES_PER_CALL = 500;

export interface RelayChannelWatchOptions {
  sqs: SQSClient;
  region: string;
  /** `<app>-<stage>`: the channel queues are `<prefix>-r-...` */
  prefix: string;
  /** TEST ONLY: the HTTPS POST (default: fetch) */
  post?: (url: string, init: { headers: Record<string, string>; body: string }) => Promise<{ status: number; text: string }>;
}

const errName = (e: unknown) => (e && typeof e === "object" && "name" in e ? String((e as { name: unknown }).name) : "");

/** The form body of one GetMetricData call (Query protocol): each queue's NumberOfEmptyReceives, summed over the window. */
export function getMetricDataForm(queues: string[], fromMs: number, toMs: number, nextToken?: string): string {
  const period = Math.max(60, Math.ceil((toMs - fromMs) / 60_000) * 60);
  const f = new URLSearchParams({
    Action: "GetMetricData",
    Version: "2010-08-01",
    StartTime: new Date(fromMs).toISOString(),
    EndTime: new Date(toMs).toISOString(),
  });
  queues.forEach((queue, i) => {
    const q = `MetricDataQueries.member.${i + 1}`;
    f.set(`${q}.Id`, `q${i}`);
    f.set(`${q}.MetricStat.Metric.Namespace`, "AWS/SQS");
    f.set(`${q}.MetricStat.Metric.MetricName`, "NumberOfEmptyReceives");
    f.set(`${q}.MetricStat.Metric.Dimensions.member.1.Name`, "QueueName");
    f.set(`${q}.MetricStat.Metric.Dimensions.member.1.Value`, queue);
    f.set(`${q}.MetricStat.Period`, String(period));
    f.set(`${q}.MetricStat.Stat`, "Sum");
    f.set(`${q}.ReturnData`, "true");
  });
  if (nextToken !== undefined) f.set("NextToken", nextToken);
  return f.toString();
}

const unescapeXml = (s: string) =>
  s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");

/** The contents of each outermost `<member>` of `xml` (members nest: a result's Values are members too). */
function topMembers(xml: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (const m of xml.matchAll(/<(\/?)member>/g)) {
    if (m[1] === "") {
      if (depth++ === 0) start = m.index + m[0].length;
    } else if (--depth === 0) out.push(xml.slice(start, m.index));
  }
  return out;
}

/**
 * A GetMetricData answer (Query protocol, XML): each result's Id with the sum of its Values, and
 * the NextToken. Each result (an outermost member of MetricDataResults) is read on its own, its
 * elements in any order (review42 F5).
 */
export function parseGetMetricData(xml: string): { sums: Map<string, number>; nextToken?: string } {
  const results = /<MetricDataResults>([\s\S]*)<\/MetricDataResults>/.exec(xml)?.[1] ?? "";
  const sums = new Map<string, number>();
  for (const result of topMembers(results)) {
    const id = /<Id>([^<]*)<\/Id>/.exec(result)?.[1];
    if (id === undefined) continue;
    const values = /<Values>([\s\S]*?)<\/Values>/.exec(result)?.[1] ?? "";
    let sum = 0;
    for (const m of values.matchAll(/<member>\s*([^<]*?)\s*<\/member>/g)) sum += Number(m[1]);
    sums.set(id, (sums.get(id) ?? 0) + sum);
  }
  const token = /<NextToken>([^<]+)<\/NextToken>/.exec(xml)?.[1];
  return { sums, ...(token ? { nextToken: unescapeXml(token) } : {}) };
}

export class RelayChannelWatch implements ChannelQueueWatch {
  constructor(private readonly o: RelayChannelWatchOptions) {}

  queueOf(account: string, channel: string): string {
    return relayQueueName(this.o.prefix, account, channel);
  }

  async emptyReceives(names: string[], fromMs: number, toMs: number): Promise<Map<string, number>> {
    const sums = new Map<string, number>();
    for (let i = 0; i < names.length; i += QUERIES_PER_CALL) {
      const batch = names.slice(i, i + QUERIES_PER_CALL);
      let token: string | undefined;
      do {
        const r = parseGetMetricData(await this.cloudWatch(getMetricDataForm(batch, fromMs, toMs, token)));
        for (const [id, n] of r.sums) {
          const name = batch[Number(id.slice(1))];
          if (name !== undefined) sums.set(name, (sums.get(name) ?? 0) + n);
        }
        token = r.nextToken;
      } while (token);
    }
    return sums;
  }

  async remove(queue: string): Promise<void> {
    const { DeleteQueueCommand, GetQueueUrlCommand } = await import("@aws-sdk/client-sqs");
    try {
      const { QueueUrl } = await this.o.sqs.send(new GetQueueUrlCommand({ QueueName: queue }));
      if (QueueUrl) await this.o.sqs.send(new DeleteQueueCommand({ QueueUrl }));
    } catch (e) {
      if (!/QueueDoesNotExist|NonExistentQueue/.test(errName(e))) throw e;
    }
  }

  /** One signed Query-protocol POST to CloudWatch; its XML answer, or an error naming its status. */
  private async cloudWatch(body: string): Promise<string> {
    const { SignatureV4 } = await import("@smithy/signature-v4");
    const partition = this.o.region.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
    const hostname = `monitoring.${this.o.region}.${partition}`;
    const signer = new SignatureV4({
      service: "monitoring",
      region: this.o.region,
      credentials: this.o.sqs.config.credentials,
      sha256: this.o.sqs.config.sha256,
    });
    const signed = await signer.sign({
      method: "POST",
      protocol: "https:",
      hostname,
      path: "/",
      query: {},
      headers: { host: hostname, "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
      body,
    });
    const post =
      this.o.post ??
      (async (url: string, init: { headers: Record<string, string>; body: string }) => {
        const r = await fetch(url, { method: "POST", headers: init.headers, body: init.body, signal: AbortSignal.timeout(20_000) });
        return { status: r.status, text: await r.text() };
      });
    const r = await post(`https://${hostname}/`, { headers: signed.headers, body });
    if (r.status !== 200) throw new Error(`CloudWatch GetMetricData answered ${r.status}: ${r.text.slice(0, 300)}`);
    return r.text;
  }
}
