/**
 * Review, session 22 (AWS grants; fixed: the withdrawal-status route held the vault's signing key,
 * and one relay role served both sides). Synthesizes prod offline with placeholder bundles and
 * checks what each function can reach: secrets in its environment, roles it may assume.
 * Secrets from SSM: prod is given each secret as the name of its SecureString parameter, a dev
 * stage as its value; the parameters' grants and the absence of any value are checked here.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { Template } from "aws-cdk-lib/assertions";
import { synthesize } from "../stacks/synth";

type Json = Record<string, any>;
type Tmpl = { Resources: Record<string, Json>; outdir: string };
/** The prod template: every secret given as its SSM parameter's name (what a production deploy must do for the custody key). */
let t: Tmpl;
/** A dev stage's template: every secret given as its value (still allowed off production). */
let dev: Tmpl;

/** Recognisable values: none may appear in the prod template. */
const SECRETS = {
  COCOON_COORDINATOR_SEED: "07".repeat(32),
  COCOON_ANCHOR_SEED: "08".repeat(32),
  COCOON_QUOTE_KEY: "a1".repeat(32),
  COCOON_SESSION_KEY: "b2".repeat(32),
  COCOON_TON_API_KEY: "c3".repeat(32),
  COCOON_TELEGRAM_BOT_TOKEN: "4242424242:AAtelegram-token_of_the_iam_test_0123",
};
const PARAMS = {
  COCOON_COORDINATOR_SEED_PARAM: "/cocoon/prod-iam/coordinator-seed",
  COCOON_ANCHOR_SEED_PARAM: "/cocoon/prod-iam/anchor-seed",
  COCOON_QUOTE_KEY_PARAM: "/cocoon/prod-iam/quote-key",
  COCOON_SESSION_KEY_PARAM: "/cocoon/prod-iam/session-key",
  COCOON_TON_API_KEY_PARAM: "/cocoon/prod-iam/ton-api-key",
  COCOON_TELEGRAM_BOT_TOKEN_PARAM: "/cocoon/prod-iam/telegram-bot-token",
};
const KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const unset = (names: string[]) => Object.fromEntries(names.map((k) => [k, undefined]));
const SHELL = {
  // raw addresses: the deploy checks them as the functions do (a made-up user-friendly one fails its checksum)
  COCOON_VAULT_ADDRESS: "0:" + "a".repeat(64),
  COCOON_ANCHOR_ADDRESS: "0:" + "b".repeat(64),
  COCOON_TON_ENDPOINT: "https://toncenter.example/api/v2/jsonRPC",
  COCOON_TELEGRAM_CHAT_ID: "-1001234",
  COCOON_RELAY_TRANSPORT: undefined as string | undefined,
  COCOON_IOT_ENDPOINT: undefined as string | undefined,
  COCOON_SECRETS_KMS_KEY_ARN: undefined as string | undefined,
  ...unset([...Object.keys(SECRETS), ...Object.keys(PARAMS)]),
};

/** Synthesizes `stage` (placeholder bundles) with these variables of the deploying shell (undefined: unset), then puts them back. */
async function synthWith(stage: string, vars: Record<string, string | undefined>): Promise<Tmpl> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v))
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
  };
  set(vars);
  try {
    process.env.NODE_ENV = "test";
    // placeholder bundles need SST's project initialised first (the stacks test bundles prod first)
    const { initProject } = await import("sst/project.js");
    await initProject({ stage, region: "us-east-1", root: process.cwd() });
    const r = await synthesize({ stage, bundle: false, outdir: tempDir(`cocoon-synth-${stage}-`) });
    return { ...(Template.fromStack(r.stacks[0]!).toJSON() as Tmpl), outdir: r.outdir };
  } finally {
    set(saved);
  }
}

beforeAll(async () => {
  // stages of their own names: SST keeps builds under .sst/artifacts/<construct address>, which
  // names the stage, so these placeholders never replace the bundles the stacks test builds for
  // "prod" when both files run at once (it failed "Could not read package.json" so)
  t = await synthWith("prod-iam", { ...SHELL, ...PARAMS, COCOON_SECRETS_KMS_KEY_ARN: KMS_KEY });
  dev = await synthWith("iam-dev", { ...SHELL, ...SECRETS });
}, 300_000);

const arr = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const ofType = (type: string, tm: Tmpl = t) => Object.entries(tm.Resources).filter(([, r]) => r.Type === type);
function functionOfRoute(routeKey: string, tm: Tmpl = t): { id: string; props: Json } {
  const route = ofType("AWS::ApiGatewayV2::Route", tm).find(([, r]) => r.Properties.RouteKey === routeKey)![1];
  const integrationId = route.Properties.Target["Fn::Join"][1][1].Ref;
  const id = tm.Resources[integrationId]!.Properties.IntegrationUri["Fn::GetAtt"][0];
  return { id, props: tm.Resources[id]!.Properties };
}
function matchingConsumer(): { id: string; props: Json } {
  const [, m] = ofType("AWS::Lambda::EventSourceMapping").find(
    ([, m]) => t.Resources[m.Properties.EventSourceArn["Fn::GetAtt"][0]]?.Type === "AWS::SQS::Queue",
  )!;
  const id = m.Properties.FunctionName.Ref;
  return { id, props: t.Resources[id]!.Properties };
}
const roleOf = (fn: { props: Json }) => fn.props.Role["Fn::GetAtt"][0] as string;
function statementsOfRole(roleId: string, tm: Tmpl = t): Json[] {
  const out: Json[] = [];
  for (const p of arr(tm.Resources[roleId]!.Properties?.Policies)) out.push(...(p as Json).PolicyDocument.Statement);
  for (const [, p] of ofType("AWS::IAM::Policy", tm))
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

/** Our functions (SST's own helpers have no COCOON_RUNTIME). */
const ourFunctions = (tm: Tmpl = t) =>
  ofType("AWS::Lambda::Function", tm).filter(([, f]) => f.Properties.Environment?.Variables?.COCOON_RUNTIME === "aws");
/** The functions whose environment has `variable`, by logical id (the same on every stage). */
const holdersOf = (variable: string, tm: Tmpl = t) =>
  ourFunctions(tm)
    .filter(([, f]) => f.Properties.Environment?.Variables?.[variable] !== undefined)
    .map(([id]) => id)
    .sort();
/** The intrinsics an ARN is built of, with the synth's account and region (what CloudFormation does). */
function resolve(v: unknown): string {
  if (typeof v === "string") return v;
  const o = v as Json;
  const pseudo: Record<string, string> = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com",
  };
  if (typeof o.Ref === "string" && pseudo[o.Ref]) return pseudo[o.Ref]!;
  if (Array.isArray(o["Fn::Join"])) return (o["Fn::Join"][1] as unknown[]).map(resolve).join(o["Fn::Join"][0]);
  return JSON.stringify(v);
}
/** A function's statements that allow any of `service`'s actions (ssm:, kms:). */
const statementsFor = (id: string, service: string, tm: Tmpl = t) =>
  statementsOfRole(roleOf({ props: tm.Resources[id]!.Properties }), tm).filter((s) =>
    arr(s.Action).some((a: string) => a.startsWith(`${service}:`) || a === "*"),
  );
/** Every file of a synthesized cloud assembly, as text. */
const assemblyText = (dir: string): string =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.(json|txt)$/.test(e.name))
    .map((e) => readFileSync(path.join(e.parentPath, e.name), "utf8"))
    .join("\n");

describe("review: secrets reach only the functions that use them", () => {
  it.each([
    ["prod, its SSM parameter's name", "COCOON_COORDINATOR_SEED_PARAM", () => t],
    ["dev, its value", "COCOON_COORDINATOR_SEED", () => dev],
  ])(
    "the vault's coordinator signing key (%s) is only in the functions that sign: the voucher (worker and operator) and the withdraw routes",
    (_, variable, template) => {
      const tm = template();
      const holders = holdersOf(variable, tm);
      const signers = ["POST /v1/agents/voucher", "POST /v1/operator/voucher", "POST /v1/account/withdraw"]
        .map((k) => functionOfRoute(k, tm).id)
        .sort();
      // GET /v1/account/withdrawals/{seqno} only reads the vault's seqno getter (releaseExpiredWithdrawals uses chainSeqno, never sign)
      expect(envOf(functionOfRoute("GET /v1/account/withdrawals/{seqno}", tm))[variable]).toBeUndefined();
      expect(holders).toEqual(signers);
    },
  );

  it.each([
    ["prod, its SSM parameter's name", "COCOON_ANCHOR_SEED_PARAM", () => t],
    ["dev, its value", "COCOON_ANCHOR_SEED", () => dev],
  ])("the anchoring wallet seed (%s) is only in the anchorer", (_, variable, template) => {
    const holders = holdersOf(variable, template());
    expect(holders).toHaveLength(1);
    expect(holders[0]).toMatch(/^ReceiptAnchorerJob/);
  });

  it.each([
    ["prod, its SSM parameter's name", "COCOON_TON_API_KEY_PARAM", () => t],
    ["dev, its value", "COCOON_TON_API_KEY", () => dev],
  ])(
    "the toncenter API key (%s) is only in the functions that call toncenter: the chain watcher, the anchorer and the two withdrawal routes",
    (_, variable, template) => {
      const tm = template();
      const holders = holdersOf(variable, tm);
      const routes = ["POST /v1/account/withdraw", "GET /v1/account/withdrawals/{seqno}"].map((k) => functionOfRoute(k, tm).id);
      expect(holders).toHaveLength(4);
      expect(holders).toEqual(expect.arrayContaining(routes));
      expect(holders.filter((id) => !routes.includes(id)).map((id) => id.replace(/Job.*$/, ""))).toEqual(
        ["ChainWatcher", "ReceiptAnchorer"].sort(),
      );
    },
  );

  it.each([
    ["prod, its SSM parameter's name", "COCOON_TELEGRAM_BOT_TOKEN_PARAM", () => t],
    ["dev, its value", "COCOON_TELEGRAM_BOT_TOKEN", () => dev],
  ])(
    "the alert bot's Telegram token (%s) is only in the chain watcher, the one function that sends to Telegram",
    (_, variable, template) => {
      const holders = holdersOf(variable, template());
      expect(holders).toHaveLength(1);
      expect(holders[0]).toMatch(/^ChainWatcherJob/);
    },
  );

  it("each secret's parameter name reaches exactly the functions its value reaches (the quote and session keys too)", () => {
    for (const v of Object.keys(SECRETS)) {
      expect(holdersOf(`${v}_PARAM`), v).toEqual(holdersOf(v, dev));
      expect(holdersOf(`${v}_PARAM`).length, v).toBeGreaterThan(0);
      expect(holdersOf(v), v).toEqual([]); // no value on prod
    }
  });
});

describe("secrets from SSM: grants, and no value in the template", () => {
  it("each function may read (ssm:GetParameters) exactly the parameters its environment names, nothing else in SSM; the others none", () => {
    for (const [id, f] of ourFunctions()) {
      // Prepare
      const env = (f.Properties.Environment?.Variables ?? {}) as Json;
      const named = Object.keys(PARAMS)
        .filter((p) => env[p] !== undefined)
        .map((p) => `arn:aws:ssm:us-east-1:123456789012:parameter${env[p]}`)
        .sort();
      // Act
      const ssm = statementsFor(id, "ssm");
      // Assess
      for (const s of ssm) expect(arr(s.Action), id).toEqual(["ssm:GetParameters"]);
      expect(ssm.flatMap((s) => arr(s.Resource).map(resolve)).sort(), id).toEqual(named);
    }
    // what the parameters' names reach, by secret: the signers, the anchorer, the quote and the session routes
    expect(ourFunctions().filter(([id]) => statementsFor(id, "ssm").length > 0).length).toBeGreaterThanOrEqual(12);
  });

  it.each([
    [
      "COCOON_TON_API_KEY_PARAM",
      ["ChainWatcherJob", "ReceiptAnchorerJob", "POST /v1/account/withdraw", "GET /v1/account/withdrawals/{seqno}"],
    ],
    ["COCOON_TELEGRAM_BOT_TOKEN_PARAM", ["ChainWatcherJob"]],
  ] as const)(
    "%s: only the functions that use it may read its parameter; a function lacking it (a signer, a session route) gets no grant on it",
    (param, users) => {
      // Prepare
      const arn = `arn:aws:ssm:us-east-1:123456789012:parameter${PARAMS[param]}`;
      const ids = users.map((u) => (u.includes(" ") ? functionOfRoute(u).id : ourFunctions().find(([id]) => id.startsWith(u))![0]));
      // Act
      const granted = ourFunctions()
        .filter(([id]) =>
          statementsFor(id, "ssm").some((s) => arr(s.Action).includes("ssm:GetParameters") && arr(s.Resource).map(resolve).includes(arn)),
        )
        .map(([id]) => id);
      // Assess
      expect(granted.sort()).toEqual([...ids].sort());
      // e.g. the voucher route signs and never calls toncenter, the handshake takes sessions only
      for (const k of ["POST /v1/agents/voucher", "POST /v1/sessions"]) expect(granted, k).not.toContain(functionOfRoute(k).id);
    },
  );

  it("the functions that read a parameter may decrypt with the operator's KMS key, only through SSM; no other function may use KMS", () => {
    for (const [id, f] of ourFunctions()) {
      const reads = Object.keys(PARAMS).some((p) => f.Properties.Environment?.Variables?.[p] !== undefined);
      const kms = statementsFor(id, "kms");
      if (!reads) {
        expect(kms, id).toEqual([]);
        continue;
      }
      expect(kms, id).toHaveLength(1);
      expect(arr(kms[0]!.Action)).toEqual(["kms:Decrypt"]);
      expect(arr(kms[0]!.Resource)).toEqual([KMS_KEY]);
      expect(resolve(kms[0]!.Condition.StringEquals["kms:ViaService"])).toBe("ssm.us-east-1.amazonaws.com");
    }
  });

  it("no secret's value is anywhere in the prod cloud assembly (template, manifests); the dev one, given the values, holds them where this looks", () => {
    // Act
    const prodText = assemblyText(t.outdir);
    const devText = assemblyText(dev.outdir);
    // Assess
    for (const [v, value] of Object.entries(SECRETS)) {
      expect(prodText.includes(value), v).toBe(false);
      expect(devText.includes(value), v).toBe(true); // the check would see a value that leaked
    }
    for (const name of Object.values(PARAMS)) expect(prodText).toContain(name);
  });

  it("a stage given no parameter names grants no SSM or KMS action at all", () => {
    for (const [id] of ourFunctions(dev)) {
      expect(statementsFor(id, "ssm", dev), id).toEqual([]);
      expect(statementsFor(id, "kms", dev), id).toEqual([]);
    }
  });
});

describe("review: relay roles a function can assume", () => {
  it("a worker-facing vending function (worker relay route, submit, matching) can assume no role that reads, or deletes, channel queues", () => {
    for (const fn of [functionOfRoute("POST /v1/agent/jobs/{id}/relay"), functionOfRoute("POST /v1/jobs"), matchingConsumer()]) {
      expect(assumable(fn).length, `${fn.id} vends credentials: it assumes a role`).toBeGreaterThan(0); // else the loop checks nothing
      for (const role of assumable(fn)) {
        const actions = actionsOfRole(role);
        for (const a of ["sqs:ReceiveMessage", "sqs:DeleteQueue", "sqs:GetQueueAttributes"])
          expect(actions, `${fn.id} → ${role}`).not.toContain(a);
      }
    }
  });

  it("the requester-session function can assume no role that sends to channel queues (a requester must not speak as a worker)", () => {
    const fn = functionOfRoute("POST /v1/jobs/{id}/relay");
    expect(assumable(fn).length, "the requester-session function assumes a role").toBeGreaterThan(0); // else the loop checks nothing
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
