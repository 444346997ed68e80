/**
 * coord42: the relay sweep's view of the SQS channel queues on AWS (relay-channel-watch.ts): the
 * queue of a channel (the vendor's name), one GetMetricData (CloudWatch's Query protocol, signed
 * for `monitoring`) per 500 queues and its XML answer, and the removal. SQS is mocked (aws-sdk-client-mock), CloudWatch answered
 * in its documented shape; not tried against AWS.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { DeleteQueueCommand, GetQueueUrlCommand, QueueDoesNotExist, SQSClient } from "@aws-sdk/client-sqs";
import { getMetricDataForm, parseGetMetricData, RelayChannelWatch } from "./relay-channel-watch";
import { relayQueueName } from "./relay-sqs";

const REGION = "eu-central-1";
const PREFIX = "cocoon-prod";
const ACCOUNT = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc";
const urlOf = (name: string) => `https://sqs.${REGION}.amazonaws.com/123456789012/${name}`;
const sqs = mockClient(SQSClient);

/** A GetMetricData answer (Query protocol) with each query's values. */
function answer(values: Record<string, number[]>, nextToken?: string) {
  const results = Object.entries(values)
    .map(
      ([id, vs]) =>
        `<member><Id>${id}</Id><Label>NumberOfEmptyReceives</Label><Timestamps>${vs.map(() => "<member>2026-12-08T00:00:00Z</member>").join("")}</Timestamps><Values>${vs.map((v) => `<member>${v.toFixed(1)}</member>`).join("")}</Values><StatusCode>Complete</StatusCode></member>`,
    )
    .join("");
  return `<GetMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><GetMetricDataResult><MetricDataResults>${results}</MetricDataResults>${nextToken ? `<NextToken>${nextToken}</NextToken>` : ""}<Messages/></GetMetricDataResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetMetricDataResponse>`;
}

function watchWith(reply: (form: URLSearchParams) => string) {
  const posts: Array<{ url: string; headers: Record<string, string>; form: URLSearchParams }> = [];
  const watch = new RelayChannelWatch({
    sqs: new SQSClient({ region: REGION, credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" } }),
    region: REGION,
    prefix: PREFIX,
    post: (url, init) => {
      const form = new URLSearchParams(init.body);
      posts.push({ url, headers: init.headers, form });
      return Promise.resolve({ status: 200, text: reply(form) });
    },
  });
  return { watch, posts };
}

beforeEach(() => sqs.reset());

describe("the relay sweep's watch on AWS (coord42)", () => {
  it("reads each named queue's NumberOfEmptyReceives in one signed GetMetricData, asking SQS nothing (a deleted queue's metrics are CloudWatch's)", async () => {
    // Prepare: three queues the core names; CloudWatch reports values for two (a queue with no data has none)
    const names = [
      `${PREFIX}-r-${ACCOUNT}-chan_one`,
      `${PREFIX}-r-${ACCOUNT}-chan_two`,
      `${PREFIX}-r-0123456789abcdef0123456789abcdef01234567`,
    ];
    const { watch, posts } = watchWith(() => answer({ q0: [12, 3], q1: [], q2: [700] }));
    // Act
    const use = await watch.emptyReceives(names, Date.UTC(2026, 11, 8, 0, 0), Date.UTC(2026, 11, 8, 0, 5));
    // Assess
    expect(sqs.calls()).toHaveLength(0);
    expect(use).toEqual(
      new Map([
        [names[0], 15],
        [names[1], 0],
        [names[2], 700],
      ]),
    );
    expect(posts).toHaveLength(1);
    const { url, headers, form } = posts[0]!;
    expect(url).toBe(`https://monitoring.${REGION}.amazonaws.com/`);
    expect(headers.authorization).toMatch(
      new RegExp(`^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\\d{8}/${REGION}/monitoring/aws4_request, `),
    );
    expect(
      Object.fromEntries(
        [...form].filter(([k]) => !k.startsWith("MetricDataQueries.member.2") && !k.startsWith("MetricDataQueries.member.3")),
      ),
    ).toEqual({
      Action: "GetMetricData",
      Version: "2010-08-01",
      StartTime: "2026-12-08T00:00:00.000Z",
      EndTime: "2026-12-08T00:05:00.000Z",
      "MetricDataQueries.member.1.Id": "q0",
      "MetricDataQueries.member.1.MetricStat.Metric.Namespace": "AWS/SQS",
      "MetricDataQueries.member.1.MetricStat.Metric.MetricName": "NumberOfEmptyReceives",
      "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name": "QueueName",
      "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value": names[0],
      "MetricDataQueries.member.1.MetricStat.Period": "300",
      "MetricDataQueries.member.1.MetricStat.Stat": "Sum",
      "MetricDataQueries.member.1.ReturnData": "true",
    });
  });

  it("at most 500 queries a call, and an answer's NextToken is followed", async () => {
    // Prepare: 501 queues; the first call's answer comes in two pages
    const names = Array.from({ length: 501 }, (_, i) => `${PREFIX}-r-${String(i).padStart(40, "0")}`);
    const { watch, posts } = watchWith((form) =>
      form.get("NextToken") === "t&1"
        ? answer({ q499: [5] })
        : form.has("MetricDataQueries.member.2.Id")
          ? answer({ q0: [1] }, "t&amp;1")
          : answer({ q0: [7] }),
    );
    // Act
    const use = await watch.emptyReceives(names, 0, 300_000);
    // Assess
    expect(
      posts.map((p) => [
        p.form.has("MetricDataQueries.member.500.Id"),
        p.form.has("MetricDataQueries.member.501.Id"),
        p.form.get("NextToken"),
      ]),
    ).toEqual([
      [true, false, null],
      [true, false, "t&1"],
      [false, false, null],
    ]);
    expect([use.get(names[0]!), use.get(names[499]!), use.get(names[500]!)]).toEqual([1, 5, 7]);
  });

  it("a channel's queue is the one the vendor made for it: readable, or hashed where the name would not fit", () => {
    // Prepare
    const { watch } = watchWith(() => answer({}));
    const long = "c".repeat(24);
    // Act
    const queues = [watch.queueOf(ACCOUNT, "chan_one"), watch.queueOf(ACCOUNT, long)];
    // Assess
    expect(queues).toEqual([`${PREFIX}-r-${ACCOUNT}-chan_one`, relayQueueName(PREFIX, ACCOUNT, long)]);
    expect(queues[1]).toMatch(new RegExp(`^${PREFIX}-r-[0-9a-f]{40}$`));
  });

  it("removes a queue by the URL SQS gives its name; one gone already (before or after the lookup) is no error, any other failure is", async () => {
    // Prepare
    const deleted = `${PREFIX}-r-${ACCOUNT}-chan_deleted`;
    const gone = `${PREFIX}-r-${ACCOUNT}-chan_gone`;
    const here = `${PREFIX}-r-${ACCOUNT}-chan_here`;
    const broken = `${PREFIX}-r-${ACCOUNT}-chan_fail`;
    sqs.on(GetQueueUrlCommand).callsFake((input: { QueueName: string }) => ({ QueueUrl: urlOf(input.QueueName) }));
    sqs.on(GetQueueUrlCommand, { QueueName: deleted }).rejects(new QueueDoesNotExist({ message: "gone", $metadata: {} }));
    sqs.on(DeleteQueueCommand, { QueueUrl: urlOf(gone) }).rejects(new QueueDoesNotExist({ message: "gone", $metadata: {} }));
    sqs.on(DeleteQueueCommand, { QueueUrl: urlOf(here) }).resolves({});
    sqs.on(DeleteQueueCommand, { QueueUrl: urlOf(broken) }).rejects(new Error("throttled"));
    const { watch } = watchWith(() => answer({}));
    // Act
    await watch.remove(deleted);
    await watch.remove(gone);
    await watch.remove(here);
    const failed = await watch.remove(broken).catch((e: unknown) => e);
    // Assess
    expect(sqs.commandCalls(DeleteQueueCommand).map((c) => c.args[0].input.QueueUrl)).toEqual([urlOf(gone), urlOf(here), urlOf(broken)]);
    expect(failed).toBeInstanceOf(Error);
  });

  it("a CloudWatch refusal fails the sweep (Lambda's Errors count it), naming the status", async () => {
    // Prepare
    const watch = new RelayChannelWatch({
      sqs: new SQSClient({ region: REGION, credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" } }),
      region: REGION,
      prefix: PREFIX,
      post: () => Promise.resolve({ status: 403, text: "<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>" }),
    });
    // Act
    const e = await watch.emptyReceives([`${PREFIX}-r-${ACCOUNT}-chan_one`], 0, 300_000).catch((x: unknown) => x);
    // Assess
    expect(String(e)).toMatch(/GetMetricData answered 403.*AccessDenied/);
  });

  it("the form's period covers the window in whole minutes; the parser sums each result's values and reads no Id from elsewhere", () => {
    expect(new URLSearchParams(getMetricDataForm(["a"], 0, 90_000)).get("MetricDataQueries.member.1.MetricStat.Period")).toBe("120");
    expect(parseGetMetricData(answer({ q0: [1, 2.5], q7: [] }))).toEqual({
      sums: new Map([
        ["q0", 3.5],
        ["q7", 0],
      ]),
    });
  });

  it("review42 F5: each result is read on its own, its elements in any order (Values before Id) and nested members not taken for results", () => {
    // Prepare: q0's Values come before its Id; q1's in the usual order; q2 has no values at all
    const xml =
      "<GetMetricDataResponse><GetMetricDataResult><MetricDataResults>" +
      "<member><Values><member>4.0</member><member>6.0</member></Values><Timestamps><member>t</member><member>t</member></Timestamps><Id>q0</Id></member>" +
      "<member><Id>q1</Id><Values><member>2.0</member></Values></member>" +
      "<member><StatusCode>Complete</StatusCode><Id>q2</Id></member>" +
      "</MetricDataResults><Messages/></GetMetricDataResult></GetMetricDataResponse>";
    // Act
    const { sums } = parseGetMetricData(xml);
    // Assess
    expect(sums).toEqual(
      new Map([
        ["q0", 10],
        ["q1", 2],
        ["q2", 0],
      ]),
    );
  });
});
