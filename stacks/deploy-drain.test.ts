/**
 * ops39: `npm run remove` of a production stage asks its queues first. Removal deletes the matching
 * queue and its DLQ, which hold the only copy of in-flight jobs' sealed requests and the lease and
 * close checks that settle or release every hold, while the table (the money) is kept: a remove
 * before the drain docs/deploy.md asks for left those holds held for good, and nothing refused it.
 * SQS is aws-sdk-client-mock's (no AWS, no network); sst and STS are injected. That the queue asked
 * for is the one the stack makes: test/stacks-ops.test.ts (it has the template at hand).
 */
import { beforeEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { GetQueueAttributesCommand, GetQueueUrlCommand, QueueDoesNotExist, SQSClient } from "@aws-sdk/client-sqs";
import {
  checkDrained,
  deployCommand,
  EX_REFUSED,
  EX_USAGE,
  sqsQueueDepths,
  USAGE,
  type DeployDeps,
  type QueueDepth,
  type StageQueueDepths,
} from "./deploy";

const ACCOUNT = "210987654321";
const REGION = "eu-west-1";
const MATCHING = "prod-cocoon-Matching";
const MATCHING_URL = `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${MATCHING}`;
const DLQ = "prod-cocoon-Cocoon-MatchingDlq9E661A40-Xb3kQ1";
const DLQ_URL = `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${DLQ}`;
const REDRIVE = JSON.stringify({ deadLetterTargetArn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${DLQ}`, maxReceiveCount: 5 });

const sqs = mockClient(SQSClient);
beforeEach(() => sqs.reset());

/** SQS's answer to GetQueueAttributes: counts as strings, as the service sends them. */
const counts = (visible: number, inFlight: number, delayed: number, extra: Record<string, string> = {}) => ({
  Attributes: {
    ApproximateNumberOfMessages: String(visible),
    ApproximateNumberOfMessagesNotVisible: String(inFlight),
    ApproximateNumberOfMessagesDelayed: String(delayed),
    ...extra,
  },
});
const missing = () => new QueueDoesNotExist({ message: "The specified queue does not exist.", $metadata: {} });

/** Both queues exist with these depths. */
function stage(matching: [number, number, number], dlq: [number, number, number]) {
  sqs.on(GetQueueUrlCommand, { QueueName: MATCHING }).resolves({ QueueUrl: MATCHING_URL });
  sqs.on(GetQueueUrlCommand, { QueueName: DLQ }).resolves({ QueueUrl: DLQ_URL });
  sqs.on(GetQueueAttributesCommand, { QueueUrl: MATCHING_URL }).resolves(counts(...matching, { RedrivePolicy: REDRIVE }));
  sqs.on(GetQueueAttributesCommand, { QueueUrl: DLQ_URL }).resolves(counts(...dlq));
}

const ask = (queue = MATCHING) => sqsQueueDepths(REGION, queue, new AbortController().signal);

describe("sqsQueueDepths: the matching queue and the DLQ its redrive policy names", () => {
  it("asks each queue's URL by name (the DLQ's in the account its ARN names) and its three counts, and answers them as numbers", async () => {
    // Prepare
    stage([3, 1, 2], [0, 0, 4]);
    // Act
    const depths = await ask();
    // Assess
    expect(depths).toEqual([
      { queue: MATCHING, visible: 3, inFlight: 1, delayed: 2 },
      { queue: DLQ, visible: 0, inFlight: 0, delayed: 4 },
    ]);
    expect(sqs.commandCalls(GetQueueUrlCommand).map((c) => c.args[0].input)).toEqual([
      { QueueName: MATCHING },
      { QueueName: DLQ, QueueOwnerAWSAccountId: ACCOUNT },
    ]);
    for (const c of sqs.commandCalls(GetQueueAttributesCommand))
      expect([...c.args[0].input.AttributeNames!].sort()).toEqual([
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
        "RedrivePolicy",
      ]);
  });

  it("no matching queue (the stage was never deployed in this region, or is removed already): nothing to drain, and nothing else asked", async () => {
    // Prepare
    sqs.on(GetQueueUrlCommand).rejects(missing());
    // Act / Assess
    expect(await ask()).toEqual([]);
    expect(sqs.commandCalls(GetQueueAttributesCommand)).toHaveLength(0);
  });

  it("a DLQ deleted by hand, or no redrive policy, leaves the matching queue's depth alone", async () => {
    // Prepare: the policy names a DLQ that is gone
    sqs.on(GetQueueUrlCommand, { QueueName: MATCHING }).resolves({ QueueUrl: MATCHING_URL });
    sqs
      .on(GetQueueUrlCommand, { QueueName: DLQ })
      .rejects(Object.assign(new Error("gone"), { name: "AWS.SimpleQueueService.NonExistentQueue" }));
    sqs.on(GetQueueAttributesCommand, { QueueUrl: MATCHING_URL }).resolves(counts(0, 0, 1, { RedrivePolicy: REDRIVE }));
    // Act / Assess
    expect(await ask()).toEqual([{ queue: MATCHING, visible: 0, inFlight: 0, delayed: 1 }]);
    // Prepare: no policy at all
    sqs.reset();
    sqs.on(GetQueueUrlCommand, { QueueName: MATCHING }).resolves({ QueueUrl: MATCHING_URL });
    sqs.on(GetQueueAttributesCommand, { QueueUrl: MATCHING_URL }).resolves(counts(0, 2, 0));
    // Act / Assess
    expect(await ask()).toEqual([{ queue: MATCHING, visible: 0, inFlight: 2, delayed: 0 }]);
    expect(sqs.commandCalls(GetQueueUrlCommand)).toHaveLength(1);
  });

  it("a count SQS leaves out, or gives as no whole number, is an error: never read as an empty queue", async () => {
    for (const attributes of [
      { ApproximateNumberOfMessages: "0", ApproximateNumberOfMessagesNotVisible: "0" },
      { ApproximateNumberOfMessages: "0", ApproximateNumberOfMessagesNotVisible: "", ApproximateNumberOfMessagesDelayed: "0" },
      { ApproximateNumberOfMessages: "-1", ApproximateNumberOfMessagesNotVisible: "0", ApproximateNumberOfMessagesDelayed: "0" },
      { ApproximateNumberOfMessages: "0", ApproximateNumberOfMessagesNotVisible: "0.5", ApproximateNumberOfMessagesDelayed: "0" },
    ]) {
      // Prepare
      sqs.reset();
      sqs.on(GetQueueUrlCommand).resolves({ QueueUrl: MATCHING_URL });
      sqs.on(GetQueueAttributesCommand).resolves({ Attributes: attributes });
      // Act / Assess
      await expect(ask(), JSON.stringify(attributes)).rejects.toThrow(/^SQS gave no ApproximateNumberOf\w+ for prod-cocoon-Matching$/);
    }
  });

  it("a refusal (AccessDenied) is thrown as SQS gave it", async () => {
    // Prepare
    sqs.on(GetQueueUrlCommand).rejects(Object.assign(new Error("not authorized to perform: sqs:getqueueurl"), { name: "AccessDenied" }));
    // Act / Assess
    await expect(ask()).rejects.toMatchObject({ name: "AccessDenied" });
  });
});

// ---------------------------------------------------------------- the command

const IDENTITY = { account: ACCOUNT, arn: `arn:aws:iam::${ACCOUNT}:user/ops` };

/** Deps that record what ran; the queues answer `depths` (or what `queueDepths` does). */
function recording(depths: QueueDepth[] | StageQueueDepths, timeoutMs?: number) {
  const calls: string[] = [];
  const out: string[] = [];
  const err: string[] = [];
  const queueDepths: StageQueueDepths = typeof depths === "function" ? depths : async () => depths;
  const deps: DeployDeps = {
    preflight: async (stage, action) => void calls.push(`preflight ${action} ${stage}`),
    region: async () => REGION,
    whoAmI: async (region) => (calls.push(`sts ${region}`), IDENTITY),
    queueDepths: async (stage, region, signal) => (calls.push(`queues ${stage} ${region}`), queueDepths(stage, region, signal)),
    sst: async (action, stage) => (calls.push(`sst ${action} ${stage}`), 0),
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    timeoutMs,
  };
  return { deps, calls, out, err };
}

const EMPTY: QueueDepth[] = [
  { queue: MATCHING, visible: 0, inFlight: 0, delayed: 0 },
  { queue: DLQ, visible: 0, inFlight: 0, delayed: 0 },
];

describe("npm run remove -- --stage <production stage>: drained first", () => {
  it("refuses while the matching queue or its DLQ holds anything (waiting, in flight or delayed): exit 2, one line saying what each holds and how to drain, and sst never runs", async () => {
    for (const [what, depths, held] of [
      ["a lease check in flight", [{ ...EMPTY[0]!, inFlight: 1 }, EMPTY[1]!], `${MATCHING} holds 1 (0 waiting, 1 in flight, 0 delayed)`],
      ["checks not yet due", [{ ...EMPTY[0]!, delayed: 7 }, EMPTY[1]!], `${MATCHING} holds 7 (0 waiting, 0 in flight, 7 delayed)`],
      ["a dead-lettered check", [EMPTY[0]!, { ...EMPTY[1]!, visible: 2 }], `${DLQ} holds 2 (2 waiting, 0 in flight, 0 delayed)`],
    ] as const) {
      // Prepare
      const r = recording([...depths]);
      // Act
      const code = await deployCommand("remove", ["--stage", "prod"], r.deps);
      // Assess
      expect(code, what).toBe(EX_REFUSED);
      expect(r.calls, what).toEqual(["preflight remove prod", `sts ${REGION}`, `queues prod ${REGION}`]);
      expect(r.out, what).toEqual([]);
      expect(r.err, what).toHaveLength(1);
      expect(r.err[0], what).toMatch(new RegExp(`^error \\[stage_not_drained\\]: the production stage prod in ${REGION} is not drained: `));
      expect(r.err[0], what).toContain(held);
      expect(r.err[0], what).toMatch(/Drain it first: .*docs\/deploy\.md, "Remove"\); or pass --skip-drain-check to remove it anyway$/);
    }
  });

  it("names every queue that holds something, and both queues' counts add up per queue", async () => {
    // Prepare
    const r = recording([
      { queue: MATCHING, visible: 1, inFlight: 2, delayed: 3 },
      { queue: DLQ, visible: 4, inFlight: 0, delayed: 0 },
    ]);
    // Act
    await deployCommand("remove", ["--stage", "Prod-eu"], r.deps);
    // Assess
    expect(r.err[0]).toContain(
      `${MATCHING} holds 6 (1 waiting, 2 in flight, 3 delayed); ${DLQ} holds 4 (4 waiting, 0 in flight, 0 delayed)`,
    );
  });

  it("drained (both empty), or no queue left to drain: removes, passing on sst's exit code", async () => {
    for (const depths of [EMPTY, []]) {
      // Prepare
      const r = recording(depths);
      // Act
      const code = await deployCommand("remove", ["--stage", "prod"], r.deps);
      // Assess
      expect(code).toBe(0);
      expect(r.calls).toEqual(["preflight remove prod", `sts ${REGION}`, `queues prod ${REGION}`, "sst remove prod"]);
      expect(r.out).toEqual([`removing stage prod: AWS account ${ACCOUNT} (${IDENTITY.arn}), region ${REGION}`]);
      expect(r.err).toEqual([]);
    }
  });

  it("--skip-drain-check removes it without asking the queues, and says so", async () => {
    // Prepare
    const r = recording([{ ...EMPTY[0]!, visible: 9 }]);
    // Act
    const code = await deployCommand("remove", ["--stage", "prod", "--skip-drain-check"], r.deps);
    // Assess
    expect(code).toBe(0);
    expect(r.calls).toEqual(["preflight remove prod", `sts ${REGION}`, "sst remove prod"]);
    expect(r.err).toEqual([
      expect.stringMatching(/^warning: --skip-drain-check: the queues of the production stage prod are not checked; /),
    ]);
  });

  it("a dev stage (its table goes with it) is removed without asking its queues", async () => {
    // Prepare
    const r = recording([{ ...EMPTY[0]!, visible: 9 }]);
    // Act
    const code = await deployCommand("remove", ["--stage", "dev"], r.deps);
    // Assess
    expect(code).toBe(0);
    expect(r.calls).toEqual(["preflight remove dev", `sts ${REGION}`, "sst remove dev"]);
  });

  it("queues that cannot be asked (no permission, an error, no answer in time) refuse the remove: drain_unknown, naming the override", async () => {
    for (const [what, depths] of [
      ["AccessDenied", async () => Promise.reject(Object.assign(new Error("not authorized"), { name: "AccessDenied" }))],
      ["no answer", () => new Promise<QueueDepth[]>(() => {})],
    ] as const) {
      // Prepare
      const r = recording(depths, 10);
      // Act
      const code = await deployCommand("remove", ["--stage", "prod"], r.deps);
      // Assess
      expect(code, what).toBe(EX_REFUSED);
      expect(r.calls.at(-1), what).toBe(`queues prod ${REGION}`);
      expect(r.err, what).toEqual([
        expect.stringMatching(
          /^error \[drain_unknown\]: could not ask the queues of the production stage prod in eu-west-1 whether they are drained \((AccessDenied: not authorized|TimeoutError: no answer within 0\.01 s)\): .*sqs:GetQueueUrl and sqs:GetQueueAttributes .*--skip-drain-check/,
        ),
      ]);
    }
  });

  it("the timeout aborts the queues' requests", async () => {
    // Prepare
    let signal: AbortSignal | undefined;
    const depths: StageQueueDepths = (_s, _r, sig) => ((signal = sig), new Promise(() => {}));
    // Act
    await expect(checkDrained(depths, "prod", REGION, 10)).rejects.toMatchObject({ code: "drain_unknown" });
    // Assess
    expect(signal?.aborted).toBe(true);
  });

  it("--skip-drain-check belongs to remove: a deploy given it is a usage error, nothing run", async () => {
    // Prepare
    const r = recording(EMPTY);
    // Act
    const code = await deployCommand("deploy", ["--stage", "prod", "--skip-drain-check"], r.deps);
    // Assess
    expect(code).toBe(EX_USAGE);
    expect(r.calls).toEqual([]);
    expect(r.err).toEqual([expect.stringMatching(/^error \[usage\]: .*skip-drain-check/), USAGE]);
    expect(USAGE).toContain("npm run remove -- --stage <stage> [--skip-drain-check]");
  });
});
