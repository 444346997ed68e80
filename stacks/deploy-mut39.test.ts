/**
 * stacks/deploy.ts's drain check (mutation pass mut39): a deploy of a production stage asks no
 * queue, and the SQS client asks once and is let go of whatever its answer. Each test fails with
 * the mutant named beside it applied.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient } from "@aws-sdk/client-sqs";
import { deployCommand, sqsQueueDepths, type DeployDeps } from "./deploy";

const IDENTITY = { account: "210987654321", arn: "arn:aws:iam::210987654321:user/ops" };
const sqs = mockClient(SQSClient);
beforeEach(() => sqs.reset());
afterEach(() => vi.restoreAllMocks());

describe("npm run deploy of a production stage", () => {
  it("asks no queue: only a remove deletes them", async () => {
    // Prepare: queues that would refuse a remove
    const calls: string[] = [];
    const deps: DeployDeps = {
      preflight: async () => undefined,
      region: async () => "eu-west-1",
      whoAmI: async () => IDENTITY,
      queueDepths: async () => (calls.push("queues"), [{ queue: "prod-cocoon-Matching", visible: 5, inFlight: 0, delayed: 0 }]),
      sst: async (action, stage) => (calls.push(`sst ${action} ${stage}`), 0),
      out: () => undefined,
      err: () => undefined,
    };
    // Act
    const code = await deployCommand("deploy", ["--stage", "prod"], deps);
    // Assess (killed: the drain check run on deploy too)
    expect(code).toBe(0);
    expect(calls).toEqual(["sst deploy prod"]);
  });
});

describe("sqsQueueDepths", () => {
  it("lets go of its SQS client (its sockets) whether SQS answered or failed", async () => {
    // Prepare
    const destroy = vi.spyOn(SQSClient.prototype, "destroy");
    const url = "https://sqs.eu-west-1.amazonaws.com/210987654321/prod-cocoon-Matching";
    sqs.on(GetQueueUrlCommand).resolves({ QueueUrl: url });
    sqs.on(GetQueueAttributesCommand).resolves({
      Attributes: { ApproximateNumberOfMessages: "0", ApproximateNumberOfMessagesNotVisible: "0", ApproximateNumberOfMessagesDelayed: "0" },
    });
    // Act
    await sqsQueueDepths("eu-west-1", "prod-cocoon-Matching", new AbortController().signal);
    sqs.on(GetQueueAttributesCommand).rejects(Object.assign(new Error("denied"), { name: "AccessDenied" }));
    const failed = await sqsQueueDepths("eu-west-1", "prod-cocoon-Matching", new AbortController().signal).catch((e: Error) => e);
    // Assess (killed: no destroy)
    expect(failed).toMatchObject({ name: "AccessDenied" });
    expect(destroy).toHaveBeenCalledTimes(2);
  });

  it("asks each queue once, no retries: the check's whole time is bounded by its timeout, and a remove says at once why it could not ask", async () => {
    // Prepare
    sqs.on(GetQueueUrlCommand).rejects(Object.assign(new Error("denied"), { name: "AccessDenied" }));
    // Act
    await sqsQueueDepths("eu-west-1", "prod-cocoon-Matching", new AbortController().signal).catch(() => undefined);
    // Assess (killed: the SDK's default of 3 attempts)
    const client = sqs.send.thisValues[0] as SQSClient;
    expect(await client.config.maxAttempts()).toBe(1);
  });
});
