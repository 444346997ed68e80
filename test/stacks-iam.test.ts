/**
 * Review, session 22 (AWS grants; fixed: the withdrawal-status route held the vault's signing key,
 * and one relay role served both sides). Synthesizes prod offline with placeholder bundles and
 * checks what each function can reach: secrets in its environment, roles it may assume.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { Template } from "aws-cdk-lib/assertions";
import { synthesize } from "../stacks/synth";

type Json = Record<string, any>;
let t: { Resources: Record<string, Json> };

const SECRETS = {
  COCOON_COORDINATOR_SEED: "07".repeat(32),
  COCOON_ANCHOR_SEED: "08".repeat(32),
  // raw addresses: the deploy checks them as the functions do (a made-up user-friendly one fails its checksum)
  COCOON_VAULT_ADDRESS: "0:" + "a".repeat(64),
  COCOON_ANCHOR_ADDRESS: "0:" + "b".repeat(64),
  COCOON_TON_ENDPOINT: "https://toncenter.example/api/v2/jsonRPC",
  COCOON_TON_API_KEY: "tonkey",
  COCOON_RELAY_TRANSPORT: undefined as string | undefined,
  COCOON_IOT_ENDPOINT: undefined as string | undefined,
};

beforeAll(async () => {
  const saved = Object.fromEntries(Object.keys(SECRETS).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(SECRETS))
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  try {
    process.env.NODE_ENV = "test";
    // placeholder bundles need SST's project initialised first (the stacks test bundles prod first)
    const { initProject } = await import("sst/project.js");
    // a production stage ("prod" prefix) of its own name: SST keeps builds under .sst/artifacts/<construct
    // address>, which names the stage, so these placeholders never replace the bundles the stacks test
    // builds for "prod" when both files run at once (it failed "Could not read package.json" so)
    await initProject({ stage: "prod-iam", region: "us-east-1", root: process.cwd() });
    const r = await synthesize({ stage: "prod-iam", bundle: false, outdir: "/tmp/reviewI/.sst/review-synth" });
    t = Template.fromStack(r.stacks[0]!).toJSON() as typeof t;
  } finally {
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}, 300_000);

const arr = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const ofType = (type: string) => Object.entries(t.Resources).filter(([, r]) => r.Type === type);
function functionOfRoute(routeKey: string): { id: string; props: Json } {
  const route = ofType("AWS::ApiGatewayV2::Route").find(([, r]) => r.Properties.RouteKey === routeKey)![1];
  const integrationId = route.Properties.Target["Fn::Join"][1][1].Ref;
  const id = t.Resources[integrationId]!.Properties.IntegrationUri["Fn::GetAtt"][0];
  return { id, props: t.Resources[id]!.Properties };
}
function matchingConsumer(): { id: string; props: Json } {
  const [, m] = ofType("AWS::Lambda::EventSourceMapping").find(
    ([, m]) => t.Resources[m.Properties.EventSourceArn["Fn::GetAtt"][0]]?.Type === "AWS::SQS::Queue",
  )!;
  const id = m.Properties.FunctionName.Ref;
  return { id, props: t.Resources[id]!.Properties };
}
const roleOf = (fn: { props: Json }) => fn.props.Role["Fn::GetAtt"][0] as string;
function statementsOfRole(roleId: string): Json[] {
  const out: Json[] = [];
  for (const p of arr(t.Resources[roleId]!.Properties?.Policies)) out.push(...(p as Json).PolicyDocument.Statement);
  for (const [, p] of ofType("AWS::IAM::Policy"))
    if (arr(p.Properties.Roles).some((r: any) => r.Ref === roleId)) out.push(...p.Properties.PolicyDocument.Statement);
  return out;
}
/** The roles a function's role may assume (sts:AssumeRole on a role ARN of this stack). */
const assumable = (fn: { props: Json }) =>
  statementsOfRole(roleOf(fn))
    .filter((s) => arr(s.Action).includes("sts:AssumeRole"))
    .flatMap((s) => arr(s.Resource).map((r: any) => r["Fn::GetAtt"][0] as string));
const actionsOfRole = (roleId: string) => [...new Set(statementsOfRole(roleId).flatMap((s) => arr(s.Action)))].sort();
const envOf = (fn: { props: Json }) => (fn.props.Environment?.Variables ?? {}) as Json;

describe("review: secrets reach only the functions that use them", () => {
  it("the vault's coordinator signing key (COCOON_COORDINATOR_SEED) is only in the functions that sign: the voucher and the withdraw routes", () => {
    const holders = ofType("AWS::Lambda::Function")
      .filter(([, f]) => f.Properties.Environment?.Variables?.COCOON_COORDINATOR_SEED !== undefined)
      .map(([id]) => id)
      .sort();
    const signers = ["POST /v1/agents/voucher", "POST /v1/account/withdraw"].map((k) => functionOfRoute(k).id).sort();
    // GET /v1/account/withdrawals/{seqno} only reads the vault's seqno getter (releaseExpiredWithdrawals uses chainSeqno, never sign)
    expect(envOf(functionOfRoute("GET /v1/account/withdrawals/{seqno}")).COCOON_COORDINATOR_SEED).toBeUndefined();
    expect(holders).toEqual(signers);
  });

  it("the anchoring wallet seed (COCOON_ANCHOR_SEED) is only in the anchorer", () => {
    const holders = ofType("AWS::Lambda::Function").filter(
      ([, f]) => f.Properties.Environment?.Variables?.COCOON_ANCHOR_SEED !== undefined,
    );
    expect(holders).toHaveLength(1);
  });
});

describe("review: relay roles a function can assume", () => {
  it("a worker-facing vending function (worker relay route, submit, matching) can assume no role that reads, or deletes, channel queues", () => {
    for (const fn of [functionOfRoute("POST /v1/agent/jobs/{id}/relay"), functionOfRoute("POST /v1/jobs"), matchingConsumer()]) {
      for (const role of assumable(fn)) {
        const actions = actionsOfRole(role);
        for (const a of ["sqs:ReceiveMessage", "sqs:DeleteQueue", "sqs:GetQueueAttributes"])
          expect(actions, `${fn.id} → ${role}`).not.toContain(a);
      }
    }
  });

  it("the requester-session function can assume no role that sends to channel queues (a requester must not speak as a worker)", () => {
    const fn = functionOfRoute("POST /v1/jobs/{id}/relay");
    for (const role of assumable(fn)) expect(actionsOfRole(role), role).not.toContain("sqs:SendMessage");
  });
});

describe("review, session 23: no function can give a channel queue a policy", () => {
  it("the requester-session function creates channel queues (attributes in the CreateQueue) and holds no sqs:SetQueueAttributes or sqs:AddPermission; no role in the stack does", () => {
    // Act
    const fn = functionOfRoute("POST /v1/jobs/{id}/relay");
    const own = actionsOfRole(roleOf(fn));
    const everyRole = ofType("AWS::IAM::Role").flatMap(([id]) => actionsOfRole(id));
    // Assess
    expect(own).toContain("sqs:CreateQueue");
    for (const a of ["sqs:SetQueueAttributes", "sqs:AddPermission", "sqs:*"]) {
      expect(own).not.toContain(a);
      expect(everyRole).not.toContain(a);
    }
  });
});
