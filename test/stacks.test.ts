/**
 * Offline synthesis of the SST v2 app (no AWS credentials, no network) and checks of the
 * CloudFormation it produces. The prod stage is bundled for real (esbuild, every function);
 * the dev stage is synthesized with placeholder bundles, to check what differs by stage.
 */
import { routes } from "../functions/http/routes";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { Template } from "aws-cdk-lib/assertions";
import { SYNTH_ACCOUNT, SYNTH_REGION, synthesize } from "../stacks/synth";
import {
  AGENT_QUEUE_ACTIONS as STACK_AGENT_ACTIONS,
  LAMBDA_RUNTIME,
  RELAY_SQS_ROLE_ACTIONS,
  RELAY_SWEEP_LIST_ACTIONS,
  RELAY_SWEEP_QUEUE_ACTIONS,
  relayTransportFromEnv,
} from "../stacks/Cocoon";
import { AGENT_QUEUE_ACTIONS } from "../functions/adapters/sts-session";
import { IotRelaySessionVendor, RELAY_REQUESTER_ACTIONS, RELAY_ROLE_ACTIONS, RELAY_WORKER_ACTIONS } from "../functions/adapters/relay-iot";
import {
  relayQueueName,
  SQS_RELAY_CREATE_ACTIONS,
  SQS_RELAY_REQUESTER_ACTIONS,
  SQS_RELAY_ROLE_ACTIONS,
  SQS_RELAY_WORKER_ACTIONS,
  SqsRelaySessionVendor,
} from "../functions/adapters/relay-sqs";
import { relaySessionsFromEnv } from "../functions/adapters/relay-sessions";
import { loadAwsConfig } from "../functions/config";
import { routeUrlsFromEnv } from "../functions/http/route-directory";

type Json = Record<string, unknown>;
interface Resource {
  Type: string;
  Properties?: Json;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}
interface Statement {
  Effect: string;
  Action?: string | string[];
  NotAction?: unknown;
  Resource?: unknown;
  Principal?: unknown;
}

/** Routes served through API Gateway only: the directory, the docs, the handshake, and the rare ones (tabs, cancel, void, the operator's voucher). */
const NO_FUNCTION_URL = [
  "GET /v1/routes",
  "GET /openapi.json",
  "POST /v1/sessions",
  "POST /v1/tabs",
  "GET /v1/tabs/{id}",
  "POST /v1/jobs/{id}/cancel",
  "POST /v1/jobs/{id}/void",
  "POST /v1/operator/voucher",
  "GET /v1/operator/status",
];

const ROUTES: Record<string, string> = {
  "POST /v1/jobs/prepare": "functions/http/prepare-job.handler",
  "POST /v1/jobs": "functions/http/submit-job.handler",
  "GET /v1/jobs/{id}": "functions/http/get-job.handler",
  "POST /v1/jobs/{id}/cancel": "functions/http/cancel-job.handler",
  "POST /v1/jobs/{id}/void": "functions/http/void-job.handler",
  "POST /v1/tabs": "functions/http/open-tab.handler",
  "GET /v1/tabs/{id}": "functions/http/get-tab.handler",
  "GET /v1/account": "functions/http/get-account.handler",
  "GET /v1/models": "functions/http/list-models.handler",
  "GET /openapi.json": "functions/http/openapi.handler",
  "POST /v1/agents/nonce": "functions/http/worker-nonce.handler",
  "POST /v1/agents": "functions/http/register-worker.handler",
  "POST /v1/agents/heartbeat": "functions/http/heartbeat.handler",
  "POST /v1/agents/session": "functions/http/agent-session.handler",
  "POST /v1/sessions": "functions/http/open-session.handler",
  "GET /v1/agents/me": "functions/http/worker-status.handler",
  "POST /v1/agents/voucher": "functions/http/issue-voucher.handler",
  "POST /v1/operator/voucher": "functions/http/issue-operator-voucher.handler",
  "GET /v1/operator/status": "functions/http/operator-status.handler",
  "POST /v1/account/withdraw": "functions/http/withdraw.handler",
  "GET /v1/account/withdrawals/{seqno}": "functions/http/withdrawal-status.handler",
  "POST /v1/attestations": "functions/http/attestation-challenge.handler",
  "GET /v1/attestations/{id}": "functions/http/attestation-get.handler",
  "POST /v1/agent/attestations": "functions/http/attestation-answer.handler",
  "GET /v1/agent/jobs": "functions/http/poll-jobs.handler",
  "POST /v1/agent/results": "functions/http/post-result.handler",
  "POST /v1/agent/lease": "functions/http/extend-lease.handler",
  "GET /v1/receipts/{jobId}/proof": "functions/http/receipt-proof.handler",
  "POST /v1/jobs/{id}/relay": "functions/http/relay-session.handler",
  "POST /v1/agent/jobs/{id}/relay": "functions/http/relay-worker-session.handler",
  "GET /v1/routes": "functions/http/route-directory.handler",
};

/**
 * AWS Lambda's Node.js runtimes and the day each is deprecated
 * (docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html). From then on AWS blocks creating
 * functions with it (a few months later, updating them), so a stack naming one cannot be deployed
 * to a new account. A runtime missing here is refused too: add it with its date.
 */
const LAMBDA_RUNTIME_DEPRECATION: Record<string, string> = {
  "nodejs16.x": "2024-06-12",
  "nodejs18.x": "2025-09-01",
  "nodejs20.x": "2026-04-30",
  "nodejs22.x": "2027-04-30",
  "nodejs24.x": "2028-04-30",
};

const TABLE_RW = [
  "dynamodb:ConditionCheckItem",
  "dynamodb:DeleteItem",
  "dynamodb:GetItem",
  "dynamodb:PutItem",
  "dynamodb:Query",
  "dynamodb:UpdateItem",
];
const CREATE_QUEUE = ["sqs:CreateQueue", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:TagQueue"];
/** Least privilege, per function: exactly these actions and no others. */
const ACTIONS: Record<string, string[]> = {
  // Stateless quote, replay-safe reads (no nonce written): read-only.
  "functions/http/prepare-job.handler": ["dynamodb:GetItem", "dynamodb:Query"],
  // issue 12: it vends the worker's relay session into the job's first dispatch (through the RelayRole)
  "functions/http/submit-job.handler": [...TABLE_RW, "sqs:SendMessage", "sts:AssumeRole"],
  "functions/http/get-job.handler": ["dynamodb:GetItem", "dynamodb:Query"],
  // writes the job's cancelledAt and sends the AgentCancel to its worker's queue
  "functions/http/cancel-job.handler": [...TABLE_RW, "sqs:SendMessage"],
  // writes a voided job id's tombstone at the job's key, only if absent (core/jobs/void.ts)
  "functions/http/void-job.handler": TABLE_RW,
  "functions/http/open-tab.handler": [...TABLE_RW, "sqs:SendMessage"],
  "functions/http/get-tab.handler": ["dynamodb:GetItem", "dynamodb:Query"],
  "functions/http/get-account.handler": TABLE_RW,
  "functions/http/list-models.handler": ["dynamodb:GetItem", "dynamodb:Query"],
  "functions/http/openapi.handler": [],
  "functions/http/route-directory.handler": [],
  "functions/http/worker-nonce.handler": TABLE_RW,
  "functions/http/register-worker.handler": [...TABLE_RW, ...CREATE_QUEUE],
  // a draining worker's heartbeat wakes its own long-poll (an AgentWake on its queue)
  "functions/http/heartbeat.handler": [...TABLE_RW, "sqs:SendMessage"],
  "functions/http/agent-session.handler": [...TABLE_RW, ...CREATE_QUEUE, "sts:AssumeRole"],
  // the handshake's nonce is claimed (a conditional put); nothing else is stored per session
  "functions/http/open-session.handler": TABLE_RW,
  "functions/http/worker-status.handler": TABLE_RW,
  "functions/http/issue-voucher.handler": TABLE_RW,
  "functions/http/issue-operator-voucher.handler": TABLE_RW,
  // reads only (replay "idempotent": no nonce claimed)
  "functions/http/operator-status.handler": ["dynamodb:GetItem", "dynamodb:Query"],
  "functions/http/withdraw.handler": TABLE_RW,
  "functions/http/withdrawal-status.handler": TABLE_RW,
  "functions/http/attestation-challenge.handler": [...TABLE_RW, "sqs:SendMessage"],
  "functions/http/attestation-get.handler": TABLE_RW,
  "functions/http/attestation-answer.handler": TABLE_RW,
  "functions/http/poll-jobs.handler": [...TABLE_RW, "sqs:DeleteMessage", "sqs:ReceiveMessage"],
  // a failure report moves the job to its next worker: a lease check and a dispatch (without them
  // every failover from a worker's report was a 500 on AWS, and waited for the lease instead)
  "functions/http/post-result.handler": [...TABLE_RW, "sqs:SendMessage"],
  "functions/http/extend-lease.handler": TABLE_RW,
  "functions/queue/matching.handler": [
    ...TABLE_RW,
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ReceiveMessage",
    "sqs:SendMessage",
    "sts:AssumeRole", // issue 12: a dispatch (a failover's too) carries the worker's relay session
  ],
  "functions/schedule/chain-watcher.handler": [...TABLE_RW, "sns:Publish"],
  // issue 12: sends dead-lettered checks back (receive and delete on the DLQ only, send to matching)
  "functions/schedule/redrive.handler": ["sqs:DeleteMessage", "sqs:ReceiveMessage", "sqs:SendMessage"],
  // coord42: the relay sweep (its channel list and revocation items, its alert, the channel queues' metrics and removal)
  "functions/schedule/relay-sweep.handler": [...TABLE_RW, "sns:Publish", ...RELAY_SWEEP_LIST_ACTIONS, ...RELAY_SWEEP_QUEUE_ACTIONS],
  // issue 15
  "functions/http/receipt-proof.handler": ["dynamodb:GetItem", "dynamodb:Query"],
  "functions/schedule/anchor.handler": [
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
  ],
  // issue 11/12: the relay session routes vend credentials through the RelayRole; with the SQS
  // relay (the default) the requester's also creates its channel queue (tagged with its account
  // for the relay sweep, coord42), the worker's never
  "functions/http/relay-session.handler": [...TABLE_RW, "sqs:CreateQueue", "sqs:TagQueue", "sts:AssumeRole"],
  "functions/http/relay-worker-session.handler": [...TABLE_RW, "sts:AssumeRole"],
};

let prod: Template;
let dev: Template;
let prodJson: { Resources: Record<string, Resource>; Outputs?: Json };
let devJson: { Resources: Record<string, Resource> };
/** issue 12: a stage deployed with COCOON_RELAY_TRANSPORT=iot-mqtt (placeholder bundles) */
let iotJson: { Resources: Record<string, Resource> };

const IOT_ENDPOINT = "abc123-ats.iot.us-east-1.amazonaws.com";
const SECRETS = { COCOON_QUOTE_KEY: "a1".repeat(32), COCOON_SESSION_KEY: "b2".repeat(32) };
/** Runs `fn` with these variables of the deploying shell (undefined: unset), then puts them back. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
    }
  };
  set(vars);
  try {
    return await fn();
  } finally {
    set(saved);
  }
}

beforeAll(async () => {
  // prod and dev as a deployer gets them without choosing a relay (SQS), whatever this shell has set
  const shell = { COCOON_RELAY_TRANSPORT: undefined, COCOON_IOT_ENDPOINT: undefined };
  // prod with the two secrets set, to see which functions they reach
  const p = await withEnv({ ...shell, ...SECRETS }, () => synthesize({ stage: "prod" }));
  prod = Template.fromStack(p.stacks[0]!);
  const d = await withEnv(shell, () => synthesize({ stage: "dev", bundle: false }));
  dev = Template.fromStack(d.stacks[0]!);
  const i = await withEnv({ COCOON_RELAY_TRANSPORT: "iot-mqtt", COCOON_IOT_ENDPOINT: IOT_ENDPOINT }, () =>
    synthesize({ stage: "iot", bundle: false }),
  );
  prodJson = prod.toJSON() as typeof prodJson;
  devJson = dev.toJSON() as typeof devJson;
  iotJson = Template.fromStack(i.stacks[0]!).toJSON() as typeof iotJson;
}, 300_000);

// ---------------------------------------------------------------- helpers

const arr = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const ofType = (t: { Resources: Record<string, Resource> }, type: string) => Object.entries(t.Resources).filter(([, r]) => r.Type === type);

/** Evaluates the intrinsics our templates use, with the synth account and region (what CloudFormation would do). */
function resolve(v: unknown, resources: Record<string, Resource>): string {
  if (typeof v === "string") return v;
  const o = v as Json;
  if (typeof o.Ref === "string") {
    const pseudo: Record<string, string> = {
      "AWS::Region": SYNTH_REGION,
      "AWS::AccountId": SYNTH_ACCOUNT,
      "AWS::Partition": "aws",
      "AWS::URLSuffix": "amazonaws.com",
    };
    if (pseudo[o.Ref]) return pseudo[o.Ref]!;
    const r = resources[o.Ref];
    if (r?.Type === "AWS::SQS::Queue") return `https://sqs.${SYNTH_REGION}.amazonaws.com/${SYNTH_ACCOUNT}/${o.Ref}`;
    if (r?.Type === "AWS::SNS::Topic") return `arn:aws:sns:${SYNTH_REGION}:${SYNTH_ACCOUNT}:${o.Ref}`;
    if (r) return o.Ref;
  }
  if (Array.isArray(o["Fn::GetAtt"])) {
    const [id, attr] = o["Fn::GetAtt"] as [string, string];
    const type = resources[id]?.Type;
    if (type === "AWS::SQS::Queue" && attr === "Arn") return `arn:aws:sqs:${SYNTH_REGION}:${SYNTH_ACCOUNT}:${id}`;
    if (type === "AWS::SQS::Queue" && attr === "QueueUrl") return `https://sqs.${SYNTH_REGION}.amazonaws.com/${SYNTH_ACCOUNT}/${id}`;
    if (type === "AWS::IAM::Role" && attr === "Arn") return `arn:aws:iam::${SYNTH_ACCOUNT}:role/${id}`;
    if (type === "AWS::DynamoDB::Table" && attr === "Arn") return `arn:aws:dynamodb:${SYNTH_REGION}:${SYNTH_ACCOUNT}:table/${id}`;
    if (type === "AWS::SNS::Topic" && attr === "TopicArn") return `arn:aws:sns:${SYNTH_REGION}:${SYNTH_ACCOUNT}:${id}`;
    if (type === "AWS::Lambda::Url" && attr === "FunctionUrl") return `https://${id.toLowerCase()}.lambda-url.${SYNTH_REGION}.on.aws/`;
  }
  if (Array.isArray(o["Fn::Join"])) {
    const [sep, parts] = o["Fn::Join"] as [string, unknown[]];
    return parts.map((p) => resolve(p, resources)).join(sep);
  }
  throw new Error(`cannot resolve ${JSON.stringify(v)}`);
}

/** Our functions (SST's own custom-resource helper has no COCOON_RUNTIME) by handler. */
function functionsByHandler(t: { Resources: Record<string, Resource> }) {
  const out = new Map<string, { id: string; props: Json }>();
  for (const [id, r] of ofType(t, "AWS::Lambda::Function")) {
    const env = ((r.Properties!.Environment as Json | undefined)?.Variables ?? {}) as Json;
    if (env.COCOON_RUNTIME !== "aws") continue;
    out.set(String(r.Properties!.Handler), { id, props: r.Properties! });
  }
  return out;
}

/** Every Allow statement attached to a role: inline policies, AWS::IAM::Policy resources. */
function statementsOfRole(t: { Resources: Record<string, Resource> }, roleId: string): Statement[] {
  const out: Statement[] = [];
  const role = t.Resources[roleId]!;
  for (const p of arr(role.Properties?.Policies as Array<{ PolicyDocument: { Statement: Statement[] } }>))
    out.push(...p.PolicyDocument.Statement);
  for (const [, p] of ofType(t, "AWS::IAM::Policy")) {
    const roles = arr(p.Properties!.Roles as Array<{ Ref?: string }>);
    if (roles.some((r) => r.Ref === roleId)) out.push(...(p.Properties!.PolicyDocument as { Statement: Statement[] }).Statement);
  }
  return out;
}

/** The esbuild output SST made for a handler (newest artifact holding that file). */
function bundleOf(handler: string): string {
  const rel = handler.replace(/\.handler$/, ".mjs");
  const artifacts = path.resolve(".sst", "artifacts");
  const found = readdirSync(artifacts)
    .map((d) => path.join(artifacts, d, rel))
    .filter((f) => existsSync(f));
  expect(found.length, rel).toBeGreaterThan(0);
  return found[0]!;
}

const roleOf = (fn: { props: Json }) => ((fn.props.Role as Json)["Fn::GetAtt"] as [string, string])[0];

/** The function's environment as CloudFormation would resolve it. */
const resolvedEnv = (t: { Resources: Record<string, Resource> }, fn: { props: Json }): Record<string, string> =>
  Object.fromEntries(Object.entries((fn.props.Environment as { Variables: Json }).Variables).map(([k, v]) => [k, resolve(v, t.Resources)]));

/** The function an API route reaches (by its integration: a stage synthesized with placeholder bundles has one handler name for all). */
function functionOfRoute(t: { Resources: Record<string, Resource> }, routeKey: string): { id: string; props: Json } {
  const route = ofType(t, "AWS::ApiGatewayV2::Route").find(([, r]) => r.Properties!.RouteKey === routeKey)![1];
  const integrationId = (((route.Properties!.Target as Json)["Fn::Join"] as [string, unknown[]])[1][1] as { Ref: string }).Ref;
  const id = ((t.Resources[integrationId]!.Properties!.IntegrationUri as Json)["Fn::GetAtt"] as string[])[0]!;
  return { id, props: t.Resources[id]!.Properties! };
}

/** The matching queue's consumer (by its event source mapping: placeholder bundles share one handler name). */
function matchingConsumerOf(t: { Resources: Record<string, Resource> }): { id: string; props: Json } {
  const [, mapping] = ofType(t, "AWS::Lambda::EventSourceMapping").find(([, m]) => {
    const queueId = ((m.Properties!.EventSourceArn as Json)["Fn::GetAtt"] as string[])[0]!;
    return t.Resources[queueId]?.Type === "AWS::SQS::Queue";
  })!;
  const id = (mapping.Properties!.FunctionName as { Ref: string }).Ref;
  return { id, props: t.Resources[id]!.Properties! };
}

/** The stream relay's roles (issue 11/12): the worker side's (send/publish) and the requester side's (read). */
function relayRoleOf(t: { Resources: Record<string, Resource> }, side: "worker side" | "requester side" = "worker side") {
  const [id, role] = ofType(t, "AWS::IAM::Role").find(([, r]) => {
    const d = String(r.Properties!.Description ?? "");
    return d.includes("relay session routes") && d.includes(`(${side})`);
  })!;
  return { id, role };
}

/** Each action a role allows → the resources (resolved) it allows it on. */
const actionsToResources = (t: { Resources: Record<string, Resource> }, roleId: string): Record<string, string[]> => {
  const out: Record<string, string[]> = {};
  for (const st of statementsOfRole(t, roleId))
    for (const a of arr(st.Action)) (out[a] ??= []).push(...arr(st.Resource).map((r) => resolve(r, t.Resources)));
  return out;
};

// ---------------------------------------------------------------- tests

describe("offline synthesis (sst 2.49.8, NODE_ENV=test, no credentials)", () => {
  it("HTTP API routes: every route exists and reaches its handler", () => {
    const fns = ofType(prodJson, "AWS::Lambda::Function");
    const integrations = Object.fromEntries(ofType(prodJson, "AWS::ApiGatewayV2::Integration"));
    const routes = ofType(prodJson, "AWS::ApiGatewayV2::Route").map(([, r]) => r.Properties!);
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(Object.keys(ROUTES).sort());
    for (const r of routes) {
      const integrationId = (((r.Target as Json)["Fn::Join"] as [string, unknown[]])[1][1] as { Ref: string }).Ref;
      const fnId = ((integrations[integrationId]!.Properties!.IntegrationUri as Json)["Fn::GetAtt"] as string[])[0]!;
      const fn = fns.find(([id]) => id === fnId)![1];
      expect(fn.Properties!.Handler, String(r.RouteKey)).toBe(ROUTES[String(r.RouteKey)]);
    }
    prod.hasResourceProperties("AWS::ApiGatewayV2::Api", { ProtocolType: "HTTP" });
  });

  it("the deployed routes are exactly the routes the handlers define (functions/http/routes.ts), less the local-only dev ones", async () => {
    const { routes } = await import("../functions/http/routes");
    const { route: openapi } = await import("../functions/http/openapi");
    const { route: directory } = await import("../functions/http/route-directory");
    const defined = [...routes, openapi, directory]
      .map((r) => `${r.spec.method} ${r.spec.path}`)
      .filter((k) => !k.includes("/v1/dev/") && k !== "POST /v1/account/faucet");
    expect(defined.sort()).toEqual(Object.keys(ROUTES).sort());
    // and each deployed handler serves exactly the route it is deployed for, through the Lambda mapper
    for (const [key, handler] of Object.entries(ROUTES)) {
      const mod = (await import(`../${handler.replace(/\.handler$/, "")}`)) as {
        route?: { spec: { method: string; path: string } };
        handler?: unknown;
      };
      expect(`${mod.route?.spec.method} ${mod.route?.spec.path}`, handler).toBe(key);
      expect(typeof mod.handler, handler).toBe("function");
    }
  });

  it("issue 12: every route's function has a public function URL (its own signed-request auth), and GET /v1/routes names each of them", () => {
    // Prepare
    const fns = ofType(prodJson, "AWS::Lambda::Function");
    const handlerOf = (id: string) => String(fns.find(([fid]) => fid === id)![1].Properties!.Handler);
    const urls = ofType(prodJson, "AWS::Lambda::Url");
    // Assess: one URL per route function, auth NONE, invocable through the URL only
    const withUrl = urls.map(([, u]) => handlerOf(((u.Properties!.TargetFunctionArn as Json)["Fn::GetAtt"] as string[])[0]!));
    const expected = Object.entries(ROUTES)
      .filter(([k]) => !NO_FUNCTION_URL.includes(k))
      .map(([, h]) => h);
    expect(withUrl.sort()).toEqual(expected.sort());
    for (const [, u] of urls) expect(u.Properties!.AuthType).toBe("NONE");
    // the directory's environment, with each URL resolved to a stand-in naming its resource, is
    // what the handler's own parser accepts, and maps every route key to its function's URL
    const directory = fns.find(([, f]) => f.Properties!.Handler === ROUTES["GET /v1/routes"])![1];
    const variables = (directory.Properties!.Environment as Json).Variables as Json;
    const map = routeUrlsFromEnv(resolve(variables.COCOON_ROUTE_URLS, prodJson.Resources));
    // Lambda allows 4 KB of environment (keys and values): the directory's leaves 1 KB for what a
    // deployer adds to every function (COCOON_POLICY_JSON, ...)
    const envBytes = Object.entries(variables).reduce((n, [k, v]) => n + k.length + resolve(v, prodJson.Resources).length, 0);
    expect(envBytes).toBeLessThanOrEqual(3 * 1024);
    expect(Object.keys(map).sort()).toEqual(
      Object.keys(ROUTES)
        .filter((k) => !NO_FUNCTION_URL.includes(k))
        .sort(),
    );
    for (const [key, url] of Object.entries(map)) {
      const urlId = urls.find(
        ([, u]) => handlerOf(((u.Properties!.TargetFunctionArn as Json)["Fn::GetAtt"] as string[])[0]!) === ROUTES[key],
      )![0];
      expect(url, key).toBe(`https://${urlId.toLowerCase()}.lambda-url.${SYNTH_REGION}.on.aws`); // the trailing slash dropped
    }
  });

  it("issue 9 #13: no function (ours or SST's own) runs on a Lambda runtime past its deprecation date", () => {
    // Prepare
    const today = new Date();
    const all = [prodJson, devJson].flatMap((t) => ofType(t, "AWS::Lambda::Function"));
    expect(all.length).toBeGreaterThan(Object.keys(ACTIONS).length);

    // Assess: every runtime is known to the table and still before its date.
    for (const [id, fn] of all) {
      const runtime = String(fn.Properties!.Runtime);
      const deprecated = LAMBDA_RUNTIME_DEPRECATION[runtime];
      expect(deprecated, `${id}: ${runtime} is not in the dated runtime table`).toBeDefined();
      expect(today < new Date(`${deprecated}T00:00:00Z`), `${id}: ${runtime} was deprecated on ${deprecated}`).toBe(true);
    }
  });

  it("functions: one current runtime on arm64, esbuild ESM bundles, no X-Ray, and an environment that passes the cold-start config check", () => {
    const fns = functionsByHandler(prodJson);
    expect([...fns.keys()].sort()).toEqual(Object.keys(ACTIONS).sort());
    for (const [handler, fn] of fns) {
      expect(fn.props.Runtime, handler).toBe(LAMBDA_RUNTIME);
      expect(fn.props.Architectures, handler).toEqual(["arm64"]);
      expect(fn.props.TracingConfig, handler).toBeUndefined();
      expect((fn.props.Code as Json).S3Key, handler).toMatch(/\.zip$/);
      const env = Object.fromEntries(
        Object.entries((fn.props.Environment as { Variables: Json }).Variables).map(([k, v]) => [k, resolve(v, prodJson.Resources)]),
      );
      const config = loadAwsConfig({ ...env, AWS_REGION: SYNTH_REGION });
      expect(config.stage).toBe("prod");
      expect(config.queues.namePrefix).toBe("cocoon-prod-");
      expect(config.queues.arnPrefix).toBe(`arn:aws:sqs:${SYNTH_REGION}:${SYNTH_ACCOUNT}:cocoon-prod-`);
      // the secrets as the deploying shell had them, where they are passed (the last test below says where)
      const { quoteKey, sessionKey, ...flags } = config.core;
      expect(flags).toEqual({ allowDevAttestation: false, faucet: false });
      expect([undefined, SECRETS.COCOON_QUOTE_KEY]).toContain(quoteKey);
      expect([undefined, SECRETS.COCOON_SESSION_KEY]).toContain(sessionKey);
      if (handler.includes("agent-session")) expect(config.agentRoleArn).toMatch(/^arn:aws:iam::123456789012:role\/AgentRole/);
      if (handler.includes("chain-watcher")) expect(config.alertTopicArn).toMatch(/^arn:aws:sns:/);
    }
    // The bundle really is ESM with SST's createRequire banner (CommonJS deps inside ESM).
    expect(readFileSync(bundleOf("functions/http/agent-session.handler"), "utf8").slice(0, 400)).toContain("createRequire");
  });

  it("the built bundles load and answer: cold start with the template's environment, no AWS call needed", async () => {
    // Prepare: the environment CloudFormation would give the agent-session function.
    const fn = functionsByHandler(prodJson).get("functions/http/agent-session.handler")!;
    const env = Object.fromEntries(
      Object.entries((fn.props.Environment as { Variables: Json }).Variables).map(([k, v]) => [k, resolve(v, prodJson.Resources)]),
    );
    const vars = { ...env, AWS_REGION: SYNTH_REGION, AWS_ACCESS_KEY_ID: "AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY: "unused" };
    const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
    Object.assign(process.env, vars);
    const event = (method: string, p: string) => ({
      version: "2.0",
      routeKey: `${method} ${p}`,
      rawPath: p,
      rawQueryString: "",
      headers: {},
      isBase64Encoded: false,
      requestContext: {
        http: { method, path: p, protocol: "HTTP/1.1", sourceIp: "203.0.113.7", userAgent: "test" },
        requestId: "r1",
        routeKey: `${method} ${p}`,
        stage: "$default",
      },
    });
    try {
      // Act
      const openapi = await import(pathToFileURL(bundleOf("functions/http/openapi.handler")).href);
      const session = await import(pathToFileURL(bundleOf("functions/http/agent-session.handler")).href);
      const doc = await openapi.handler(event("GET", "/openapi.json"), {});
      const unsigned = await session.handler(event("POST", "/v1/agents/session"), {});

      // Assess: async handlers without a callback argument (the only kind Lambda's Node 24 runs)...
      expect(openapi.handler.length).toBeLessThan(3);
      expect(session.handler.length).toBeLessThan(3);
      // ...that answer.
      expect(doc.statusCode).toBe(200);
      expect(JSON.parse(doc.body).paths).toBeDefined();
      expect(unsigned.statusCode).toBe(401);
      expect(JSON.parse(unsigned.body).error.code).toBe("missing_auth");
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it("matching queue: DLQ after 5 receives, Lambda consumer with partial batch failures", () => {
    const queues = ofType(prodJson, "AWS::SQS::Queue");
    const withRedrive = queues.filter(([, q]) => q.Properties?.RedrivePolicy);
    expect(withRedrive).toHaveLength(1);
    const [matchingId, matching] = withRedrive[0]!;
    const redrive = matching.Properties!.RedrivePolicy as { deadLetterTargetArn: Json; maxReceiveCount: number };
    expect(redrive.maxReceiveCount).toBe(5);
    const dlqId = (redrive.deadLetterTargetArn["Fn::GetAtt"] as string[])[0]!;
    expect(prodJson.Resources[dlqId]!.Type).toBe("AWS::SQS::Queue");
    expect(matching.Properties!.VisibilityTimeout).toBeGreaterThanOrEqual(6 * 30);
    prod.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: { "Fn::GetAtt": [matchingId, "Arn"] },
      BatchSize: 10,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
    });
  });

  it("every queue either redrives to a DLQ or is a DLQ (worker queues redrive to WorkerDlq at CreateQueue), and every DLQ alarms to the topic", () => {
    const queues = ofType(prodJson, "AWS::SQS::Queue");
    const dlqs = new Set<string>();
    for (const [, q] of queues) {
      const r = q.Properties?.RedrivePolicy as { deadLetterTargetArn: Json } | undefined;
      if (r) dlqs.add((r.deadLetterTargetArn["Fn::GetAtt"] as string[])[0]!);
    }
    const anyFn = [...functionsByHandler(prodJson).values()][0]!;
    const workerDlq = (
      ((anyFn.props.Environment as { Variables: Json }).Variables.COCOON_WORKER_DLQ_ARN as Json)["Fn::GetAtt"] as string[]
    )[0]!;
    dlqs.add(workerDlq);
    for (const [id, q] of queues) expect(Boolean(q.Properties?.RedrivePolicy) || dlqs.has(id), id).toBe(true);
    expect(dlqs.size).toBe(2);

    const topicId = ofType(prodJson, "AWS::SNS::Topic")[0]![0];
    const alarms = ofType(prodJson, "AWS::CloudWatch::Alarm").map(([, a]) => a.Properties!);
    for (const dlq of dlqs) {
      const alarm = alarms.find((a) => JSON.stringify(a.Dimensions ?? []).includes(dlq));
      expect(alarm, `alarm on ${dlq}`).toMatchObject({
        MetricName: "ApproximateNumberOfMessagesVisible",
        Threshold: 0,
        ComparisonOperator: "GreaterThanThreshold",
        AlarmActions: [{ Ref: topicId }],
      });
    }
  });

  it("table: pk/sk, on-demand, point-in-time recovery and TTL on _exp; retained on prod, destroyed on dev", () => {
    const expected = {
      KeySchema: [
        { AttributeName: "pk", KeyType: "HASH" },
        { AttributeName: "sk", KeyType: "RANGE" },
      ],
      BillingMode: "PAY_PER_REQUEST",
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: "_exp", Enabled: true },
    };
    prod.hasResourceProperties("AWS::DynamoDB::Table", { ...expected, DeletionProtectionEnabled: true });
    prod.hasResource("AWS::DynamoDB::Table", { DeletionPolicy: "Retain", UpdateReplacePolicy: "Retain" });
    dev.hasResourceProperties("AWS::DynamoDB::Table", { ...expected, DeletionProtectionEnabled: false });
    dev.hasResource("AWS::DynamoDB::Table", { DeletionPolicy: "Delete" });
  });

  it("chain watcher runs every minute and alarms on repeated failures", () => {
    const watcher = functionsByHandler(prodJson).get("functions/schedule/chain-watcher.handler")!;
    prod.hasResourceProperties("AWS::Events::Rule", {
      ScheduleExpression: "rate(1 minute)",
      State: "ENABLED",
      Targets: [{ Arn: { "Fn::GetAtt": [watcher.id, "Arn"] } }],
    });
    prod.hasResourceProperties("AWS::CloudWatch::Alarm", {
      MetricName: "Errors",
      Dimensions: [{ Name: "FunctionName", Value: { Ref: watcher.id } }],
    });
  });

  it("issue 15: the receipt anchorer runs every minute as one writer (reserved concurrency 1), alarms on repeated failures, and gets the anchor settings", () => {
    const anchorer = functionsByHandler(prodJson).get("functions/schedule/anchor.handler")!;
    prod.hasResourceProperties("AWS::Events::Rule", {
      ScheduleExpression: "rate(1 minute)",
      State: "ENABLED",
      Targets: [{ Arn: { "Fn::GetAtt": [anchorer.id, "Arn"] } }],
    });
    expect(anchorer.props.ReservedConcurrentExecutions).toBe(1);
    prod.hasResourceProperties("AWS::CloudWatch::Alarm", {
      MetricName: "Errors",
      Dimensions: [{ Name: "FunctionName", Value: { Ref: anchorer.id } }],
    });
  });

  it("issue 12: the matching DLQ is redriven every 15 minutes by one function that reads and deletes only there and sends only to the matching queue", () => {
    const redrive = functionsByHandler(prodJson).get("functions/schedule/redrive.handler")!;
    prod.hasResourceProperties("AWS::Events::Rule", {
      ScheduleExpression: "rate(15 minutes)",
      State: "ENABLED",
      Targets: [{ Arn: { "Fn::GetAtt": [redrive.id, "Arn"] } }],
    });
    expect(redrive.props.ReservedConcurrentExecutions).toBe(1);
    const [dlqId] = ofType(prodJson, "AWS::SQS::Queue").find(([id]) => id.includes("MatchingDlq"))!;
    const [matchingId] = ofType(prodJson, "AWS::SQS::Queue").find(([id]) => id.includes("MatchingQueue"))!;
    const env = (redrive.props.Environment as Json).Variables as Json;
    expect(env.COCOON_MATCHING_DLQ_URL).toEqual({ Ref: dlqId });
    const sqsStatements = statementsOfRole(prodJson, roleOf(redrive)).filter((st) => arr(st.Action).some((a) => a.startsWith("sqs:")));
    const resourcesOf = (action: string) => sqsStatements.filter((st) => arr(st.Action).includes(action)).flatMap((st) => arr(st.Resource));
    expect(resourcesOf("sqs:ReceiveMessage")).toEqual([{ "Fn::GetAtt": [dlqId, "Arn"] }]);
    expect(resourcesOf("sqs:DeleteMessage")).toEqual([{ "Fn::GetAtt": [dlqId, "Arn"] }]);
    expect(resourcesOf("sqs:SendMessage")).toEqual([{ "Fn::GetAtt": [matchingId, "Arn"] }]);
  });

  it("alert topic and the outputs agents and requesters need", () => {
    prod.resourceCountIs("AWS::SNS::Topic", 1);
    expect(Object.keys(prodJson.Outputs ?? {})).toEqual(
      expect.arrayContaining(["ApiUrl", "Region", "AlertTopicArn", "TableName", "MatchingQueueUrl", "WorkerQueuePrefix", "AgentRoleArn"]),
    );
  });

  it("IAM: no statement anywhere allows '*' actions, or 'service:*' on '*' resources", () => {
    for (const t of [prodJson, devJson]) {
      const docs: Array<[string, Statement[]]> = [];
      for (const [id, r] of Object.entries(t.Resources)) {
        if (r.Type === "AWS::IAM::Policy" || r.Type === "AWS::IAM::ManagedPolicy")
          docs.push([id, (r.Properties!.PolicyDocument as { Statement: Statement[] }).Statement]);
        if (r.Type === "AWS::IAM::Role") {
          for (const p of arr(r.Properties!.Policies as Array<{ PolicyDocument: { Statement: Statement[] } }>))
            docs.push([id, p.PolicyDocument.Statement]);
          expect(JSON.stringify(r.Properties!.ManagedPolicyArns ?? []), id).not.toMatch(/AdministratorAccess|PowerUser|FullAccess/);
        }
      }
      expect(docs.length).toBeGreaterThan(10);
      for (const [id, statements] of docs) {
        for (const s of statements) {
          expect(s.NotAction, id).toBeUndefined();
          const actions = arr(s.Action);
          const resources = arr(s.Resource);
          expect(actions, id).not.toContain("*");
          if (resources.includes("*")) for (const a of actions) expect(a, `${id}: ${a} on *`).not.toMatch(/:\*$/);
        }
      }
    }
  });

  it("IAM: each function has exactly the actions it uses, none on '*'", () => {
    for (const [handler, fn] of functionsByHandler(prodJson)) {
      const statements = statementsOfRole(prodJson, roleOf(fn));
      const actions = [...new Set(statements.flatMap((s) => arr(s.Action)))].sort();
      expect(actions, handler).toEqual([...new Set(ACTIONS[handler])].sort());
      for (const s of statements) {
        // the one exception: GetMetricData takes no narrower resource (coord42, the relay sweep)
        const listing =
          handler === "functions/schedule/relay-sweep.handler" && arr(s.Action).every((a) => RELAY_SWEEP_LIST_ACTIONS.includes(a));
        if (!listing) expect(arr(s.Resource), handler).not.toContain("*");
      }
    }
  });

  it("coord42: the relay's channel queues are swept every 15 minutes by one function that finds and deletes those queues only (and lists none: review42 F1), and none is made with the IoT relay", () => {
    const sweep = functionsByHandler(prodJson).get("functions/schedule/relay-sweep.handler")!;
    prod.hasResourceProperties("AWS::Events::Rule", {
      ScheduleExpression: "rate(15 minutes)",
      State: "ENABLED",
      Targets: [{ Arn: { "Fn::GetAtt": [sweep.id, "Arn"] } }],
    });
    expect(sweep.props.ReservedConcurrentExecutions).toBe(1);
    const env = (sweep.props.Environment as Json).Variables as Json;
    expect(env.COCOON_RELAY_PREFIX).toBe("cocoon-prod");
    const statements = statementsOfRole(prodJson, roleOf(sweep));
    const resourcesOf = (action: string) =>
      statements
        .filter((st) => arr(st.Action).includes(action))
        .flatMap((st) => arr(st.Resource).map((r) => resolve(r, prodJson.Resources)));
    for (const a of RELAY_SWEEP_QUEUE_ACTIONS)
      expect(resourcesOf(a), a).toEqual([`arn:aws:sqs:${SYNTH_REGION}:${SYNTH_ACCOUNT}:cocoon-prod-r-*`]);
    for (const a of RELAY_SWEEP_LIST_ACTIONS) expect(resourcesOf(a), a).toEqual(["*"]);
    expect(RELAY_SWEEP_LIST_ACTIONS).toEqual(["cloudwatch:GetMetricData"]);
    expect(resourcesOf("sqs:ListQueues")).toEqual([]);
    expect(functionsByHandler(iotJson).has("functions/schedule/relay-sweep.handler")).toBe(false);
  });

  it("IAM: worker queues are created only under the stage prefix; agents assume a role narrowed to worker queues", () => {
    const fns = functionsByHandler(prodJson);
    const session = fns.get("functions/http/agent-session.handler")!;
    const sessionStatements = statementsOfRole(prodJson, roleOf(session));
    const createQueue = sessionStatements.find((s) => arr(s.Action).includes("sqs:CreateQueue"))!;
    expect(arr(createQueue.Resource).map((r) => resolve(r, prodJson.Resources))).toEqual([
      `arn:aws:sqs:${SYNTH_REGION}:${SYNTH_ACCOUNT}:cocoon-prod-worker-*`,
    ]);

    const [agentRoleId, agentRole] = ofType(prodJson, "AWS::IAM::Role").find(([, r]) =>
      JSON.stringify(r.Properties!.AssumeRolePolicyDocument).includes(roleOf(session)),
    )!;
    expect((agentRole.Properties!.AssumeRolePolicyDocument as { Statement: Statement[] }).Statement).toEqual([
      { Action: "sts:AssumeRole", Effect: "Allow", Principal: { AWS: { "Fn::GetAtt": [roleOf(session), "Arn"] } } },
    ]);
    expect(agentRole.Properties!.MaxSessionDuration).toBe(3600);
    const assume = sessionStatements.find((s) => arr(s.Action).includes("sts:AssumeRole"))!;
    expect(assume.Resource).toEqual({ "Fn::GetAtt": [agentRoleId, "Arn"] });

    const agentStatements = statementsOfRole(prodJson, agentRoleId);
    expect(agentStatements).toHaveLength(1);
    expect(arr(agentStatements[0]!.Action)).toEqual([...AGENT_QUEUE_ACTIONS]);
    expect(STACK_AGENT_ACTIONS).toEqual([...AGENT_QUEUE_ACTIONS]);
    expect(resolve(agentStatements[0]!.Resource, prodJson.Resources)).toBe(
      `arn:aws:sqs:${SYNTH_REGION}:${SYNTH_ACCOUNT}:cocoon-prod-worker-*`,
    );
  });

  it("issue 12: the relay is SQS by default: the RelayRole, assumed only by the two session functions and the two that dispatch jobs, allows the four SQS actions on the stage's `-r-` queues only; only the requester-session function may create them", async () => {
    // Prepare
    const fns = functionsByHandler(prodJson);
    const requesterFn = fns.get("functions/http/relay-session.handler")!;
    const workerFn = fns.get("functions/http/relay-worker-session.handler")!;
    // they put the worker's session into each job they send (core/jobs/dispatch.ts)
    const dispatchFns = ["functions/http/submit-job.handler", "functions/queue/matching.handler"].map((h) => fns.get(h)!);
    const vendingFns = [requesterFn, workerFn, ...dispatchFns];
    const writer = relayRoleOf(prodJson, "worker side");
    const reader = relayRoleOf(prodJson, "requester side");
    const relayQueues = `arn:aws:sqs:${SYNTH_REGION}:${SYNTH_ACCOUNT}:cocoon-prod-r-*`;
    const covers = (pattern: string, arn: string) => arn.startsWith(pattern.slice(0, -1));
    // Act
    const trustOf = (role: Resource) => (role.Properties!.AssumeRolePolicyDocument as { Statement: Statement[] }).Statement;
    const creates = (fn: { props: Json }) =>
      statementsOfRole(prodJson, roleOf(fn))
        .filter((st) => arr(st.Action).some((a) => a === "sqs:CreateQueue"))
        .map((st) => [arr(st.Action), arr(st.Resource).map((r) => resolve(r, prodJson.Resources))]);
    // Assess: trust and duration: each side's functions assume only their side's role
    for (const [{ role }, fns] of [
      [writer, [workerFn, ...dispatchFns]],
      [reader, [requesterFn]],
    ] as const) {
      const trust = trustOf(role);
      expect(trust.every((st) => st.Effect === "Allow" && st.Action === "sts:AssumeRole")).toBe(true);
      expect(trust.flatMap((st) => arr((st.Principal as { AWS: unknown }).AWS))).toEqual(
        fns.map((f) => ({ "Fn::GetAtt": [roleOf(f), "Arn"] })),
      );
      expect(role.Properties!.MaxSessionDuration).toBe(3600);
    }
    // the roles: exactly the actions the session policies hand out, each side its own, all on the stage's relay queues
    const writerActions = actionsToResources(prodJson, writer.id);
    const readerActions = actionsToResources(prodJson, reader.id);
    expect(Object.keys(writerActions).sort()).toEqual([...SQS_RELAY_WORKER_ACTIONS].sort());
    expect(Object.keys(readerActions).sort()).toEqual([...SQS_RELAY_REQUESTER_ACTIONS].sort());
    expect([...SQS_RELAY_ROLE_ACTIONS].sort()).toEqual([...RELAY_SQS_ROLE_ACTIONS].sort());
    expect([...SQS_RELAY_WORKER_ACTIONS, ...SQS_RELAY_REQUESTER_ACTIONS].sort()).toEqual([...RELAY_SQS_ROLE_ACTIONS].sort());
    for (const a of Object.values({ ...writerActions, ...readerActions })) expect(a).toEqual([relayQueues]);
    // CreateQueue: the requester's function only, on the same pattern
    expect(creates(requesterFn)).toEqual([[[...SQS_RELAY_CREATE_ACTIONS], [relayQueues]]]);
    for (const f of [workerFn, ...dispatchFns]) expect(creates(f)).toEqual([]);
    for (const [f, id] of [
      [requesterFn, reader.id],
      [workerFn, writer.id],
      [dispatchFns[0]!, writer.id],
      [dispatchFns[1]!, writer.id],
    ] as const) {
      const assume = statementsOfRole(prodJson, roleOf(f)).filter((st) => arr(st.Action).includes("sts:AssumeRole"));
      expect(assume.map((st) => st.Resource)).toEqual([{ "Fn::GetAtt": [id, "Arn"] }]);
    }
    // the pattern covers every channel queue the vendor names and none of the stage's other queues
    const account = Buffer.alloc(32, 7).toString("base64url");
    for (const ch of ["abcdefgh", "c".repeat(24)])
      expect(covers(relayQueues, `arn:aws:sqs:${SYNTH_REGION}:${SYNTH_ACCOUNT}:${relayQueueName("cocoon-prod", account, ch)}`)).toBe(true);
    const otherQueues = ofType(prodJson, "AWS::SQS::Queue").map(([id]) => `arn:aws:sqs:${SYNTH_REGION}:${SYNTH_ACCOUNT}:${id}`);
    for (const q of [...otherQueues, `arn:aws:sqs:${SYNTH_REGION}:${SYNTH_ACCOUNT}:cocoon-prod-worker-${account}`])
      expect(covers(relayQueues, q), q).toBe(false);
    // all four get an environment the chooser turns into the SQS vendor
    for (const f of vendingFns) {
      const env = resolvedEnv(prodJson, f);
      expect(env).toMatchObject({ COCOON_RELAY_TRANSPORT: "sqs", COCOON_RELAY_PREFIX: "cocoon-prod" });
      expect(env.COCOON_IOT_ENDPOINT).toBeUndefined();
      expect(await relaySessionsFromEnv({ ...env, AWS_REGION: SYNTH_REGION })).toBeInstanceOf(SqsRelaySessionVendor);
    }
  });

  it("issue 11/12: deployed with COCOON_RELAY_TRANSPORT=iot-mqtt, the RelayRole (assumed by the session functions and the two that dispatch jobs) allows only the IoT actions the session policies use, under the stage's topic prefix and client ids, and nobody creates queues", async () => {
    // Prepare
    const relayFns = ["POST /v1/jobs/{id}/relay", "POST /v1/agent/jobs/{id}/relay", "POST /v1/jobs"].map((k) =>
      functionOfRoute(iotJson, k),
    );
    relayFns.push(matchingConsumerOf(iotJson));
    const writer = relayRoleOf(iotJson, "worker side");
    const reader = relayRoleOf(iotJson, "requester side");
    // Act
    const trustOf = (role: Resource) =>
      (role.Properties!.AssumeRolePolicyDocument as { Statement: Statement[] }).Statement.flatMap((st) =>
        arr((st.Principal as { AWS: unknown }).AWS),
      );
    const w = actionsToResources(iotJson, writer.id);
    const r = actionsToResources(iotJson, reader.id);
    // Assess
    expect(trustOf(reader.role)).toEqual([{ "Fn::GetAtt": [roleOf(relayFns[0]!), "Arn"] }]);
    expect(trustOf(writer.role)).toEqual(relayFns.slice(1).map((f) => ({ "Fn::GetAtt": [roleOf(f), "Arn"] })));
    for (const { role } of [writer, reader]) expect(role.Properties!.MaxSessionDuration).toBe(3600);
    expect(Object.keys(w).sort()).toEqual([...RELAY_WORKER_ACTIONS].sort());
    expect(Object.keys(r).sort()).toEqual([...RELAY_REQUESTER_ACTIONS].sort());
    expect([...RELAY_WORKER_ACTIONS, ...RELAY_REQUESTER_ACTIONS].sort()).toEqual([...RELAY_ROLE_ACTIONS].sort());
    const iot = `arn:aws:iot:${SYNTH_REGION}:${SYNTH_ACCOUNT}`;
    expect(w["iot:Publish"]).toEqual([`${iot}:topic/cocoon-iot/r/*`]);
    expect(r["iot:Receive"]).toEqual([`${iot}:topic/cocoon-iot/r/*`]);
    expect(r["iot:Subscribe"]).toEqual([`${iot}:topicfilter/cocoon-iot/r/*`]);
    expect(r["iot:Connect"]).toEqual([`${iot}:client/cocoon-iot-r-*`]);
    for (const f of relayFns) {
      const actions = statementsOfRole(iotJson, roleOf(f)).flatMap((st) => arr(st.Action));
      expect(actions).not.toContain("sqs:CreateQueue");
      expect(actions).toContain("sts:AssumeRole");
      const env = resolvedEnv(iotJson, f);
      expect(env).toMatchObject({ COCOON_RELAY_TRANSPORT: "iot-mqtt", COCOON_IOT_ENDPOINT: IOT_ENDPOINT, COCOON_IOT_ARN: iot });
      expect(await relaySessionsFromEnv({ ...env, AWS_REGION: SYNTH_REGION })).toBeInstanceOf(IotRelaySessionVendor);
    }
  });

  it("issue 12: a deploy asking for an unknown relay, or for IoT Core without its endpoint, is refused before anything is built", () => {
    expect(relayTransportFromEnv({})).toBe("sqs");
    expect(relayTransportFromEnv({ COCOON_RELAY_TRANSPORT: "iot-mqtt", COCOON_IOT_ENDPOINT: IOT_ENDPOINT })).toBe("iot-mqtt");
    expect(() => relayTransportFromEnv({ COCOON_RELAY_TRANSPORT: "iot-mqtt" })).toThrow(/COCOON_IOT_ENDPOINT/);
    expect(() => relayTransportFromEnv({ COCOON_RELAY_TRANSPORT: "kafka" })).toThrow(/"sqs"/);
  });

  it("dev stage: the play-money faucet route exists, every other route too; prod has no faucet", () => {
    const devRoutes = ofType(devJson, "AWS::ApiGatewayV2::Route").map(([, r]) => String(r.Properties!.RouteKey));
    expect(devRoutes.sort()).toEqual([...Object.keys(ROUTES), "POST /v1/account/faucet"].sort());
  });
});

describe("issue 12: the deploying shell's secrets reach exactly the functions that use them", () => {
  it("COCOON_SESSION_KEY: every function of a route that takes sessions and the handshake, no other; COCOON_QUOTE_KEY: prepare, submit, the tab routes and the result post (session 40: settlement tokens)", () => {
    // Prepare
    const fns = functionsByHandler(prodJson);
    const envOf = (handler: string) => ((fns.get(handler)!.props.Environment as Json).Variables ?? {}) as Json;
    const deployed = routes.filter((r) => fns.has(ROUTES[`${r.spec.method} ${r.spec.path}`] ?? ""));
    // Assess
    for (const r of deployed) {
      const key = `${r.spec.method} ${r.spec.path}`;
      const env = envOf(ROUTES[key]!);
      const wantsSession = r.spec.auth === "session" || key === "POST /v1/sessions";
      expect(env.COCOON_SESSION_KEY, key).toBe(wantsSession ? SECRETS.COCOON_SESSION_KEY : undefined);
      expect(env.COCOON_QUOTE_KEY, key).toBe(
        ["POST /v1/jobs/prepare", "POST /v1/jobs", "POST /v1/tabs", "GET /v1/tabs/{id}", "POST /v1/agent/results"].includes(key)
          ? SECRETS.COCOON_QUOTE_KEY
          : undefined,
      );
    }
    expect(deployed.filter((r) => r.spec.auth === "session").length).toBeGreaterThanOrEqual(7);
  });
});
