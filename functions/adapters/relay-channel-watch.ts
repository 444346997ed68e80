/**
 * The relay sweep's view of the SQS channel queues on AWS (core/relay-sweep.ts ChannelQueueWatch):
 *
 * - the queues: ListQueues with the channel queues' name prefix (`<prefix>-r-`), 1,000 a page;
 * - their empty receives: CloudWatch GetMetricData, `AWS/SQS` `NumberOfEmptyReceives` by
 *   `QueueName`, one query per queue (500 a call), the window's Sum. Sent over CloudWatch's Query
 *   protocol (a form POST, an XML answer) signed with the SQS client's own credentials and hash
 *   (@smithy/signature-v4, service `monitoring`): the repository holds no CloudWatch client, and
 *   one call a sweep does not need one. CloudWatch bills $0.01 per 1,000 metrics requested: a
 *   channel queue costs $0.00004 an hour of sweeps at rate(15 minutes);
 * - the owner: the queue's tags (ListQueueTags), which its creation gave it (relay-sqs.ts
 *   RELAY_QUEUE_TAG_ACCOUNT); a queue of an older deploy, untagged, by its readable name where it
 *   has one (`<prefix>-r-<43-character account>-<channel>`), else unknown;
 * - the removal: DeleteQueue (a queue gone already is no error).
 *
 * Not tried against AWS here: the adapter's requests and the answer's parsing are tested against
 * their documented shapes (relay-channel-watch.test.ts).
 */
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { ChannelQueueWatch } from "../../core/relay-sweep";
import { AccountId } from "../../events/common";
import { RELAY_QUEUE_TAG_ACCOUNT } from "./relay-sqs";

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

/**
 * A GetMetricData answer (Query protocol, XML): each result's Id with the sum of its Values, and
 * the NextToken. The results' members hold no Id but their own, so each `<Id>` starts one result.
 */
export function parseGetMetricData(xml: string): { sums: Map<string, number>; nextToken?: string } {
  const results = /<MetricDataResults>([\s\S]*)<\/MetricDataResults>/.exec(xml)?.[1] ?? "";
  const sums = new Map<string, number>();
  for (const part of results.split("<Id>").slice(1)) {
    const id = part.slice(0, part.indexOf("</Id>"));
    const values = /<Values>([\s\S]*?)<\/Values>/.exec(part)?.[1] ?? "";
    let sum = 0;
    for (const m of values.matchAll(/<member>\s*([^<]*?)\s*<\/member>/g)) sum += Number(m[1]);
    sums.set(id, (sums.get(id) ?? 0) + sum);
  }
  const token = /<NextToken>([^<]+)<\/NextToken>/.exec(xml)?.[1];
  return { sums, ...(token ? { nextToken: unescapeXml(token) } : {}) };
}

export class RelayChannelWatch implements ChannelQueueWatch {
  constructor(private readonly o: RelayChannelWatchOptions) {}

  private get namePrefix() {
    return `${this.o.prefix}-r-`;
  }

  private async queueUrls(): Promise<string[]> {
    const { ListQueuesCommand } = await import("@aws-sdk/client-sqs");
    const urls: string[] = [];
    let token: string | undefined;
    do {
      const r = await this.o.sqs.send(
        new ListQueuesCommand({ QueueNamePrefix: this.namePrefix, MaxResults: 1000, ...(token ? { NextToken: token } : {}) }),
      );
      urls.push(...(r.QueueUrls ?? []));
      token = r.NextToken;
    } while (token);
    return urls;
  }

  /** The URL of each queue seen by the last listing, by name (ownerOf and remove take names). */
  private readonly urls = new Map<string, string>();

  async emptyReceives(fromMs: number, toMs: number) {
    this.urls.clear();
    for (const url of await this.queueUrls()) this.urls.set(url.slice(url.lastIndexOf("/") + 1), url);
    const names = [...this.urls.keys()];
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
    return names.map((queue) => ({ queue, emptyReceives: sums.get(queue) ?? 0 }));
  }

  async ownerOf(queue: string): Promise<string | undefined> {
    const { ListQueueTagsCommand } = await import("@aws-sdk/client-sqs");
    const url = this.urls.get(queue);
    if (url) {
      const { Tags } = await this.o.sqs.send(new ListQueueTagsCommand({ QueueUrl: url }));
      const tagged = Tags?.[RELAY_QUEUE_TAG_ACCOUNT];
      if (tagged) return tagged;
    }
    // an older deploy's queue: its readable name (relay-sqs.ts relayQueueName) names the account
    const rest = queue.startsWith(this.namePrefix) ? queue.slice(this.namePrefix.length) : "";
    const account = rest.slice(0, 43);
    return rest.length > 44 && rest[43] === "-" && AccountId.safeParse(account).success ? account : undefined;
  }

  async remove(queue: string): Promise<void> {
    const url = this.urls.get(queue);
    if (!url) return;
    const { DeleteQueueCommand } = await import("@aws-sdk/client-sqs");
    try {
      await this.o.sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
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
